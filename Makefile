# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
ORT_VERSION := 1.32.0
ORT_DIR     := $(CURDIR)/.ort
ORT_LIB     := $(ORT_DIR)/lib/libonnxruntime.so.$(ORT_VERSION)
export ORT_DYLIB_PATH ?= $(ORT_LIB)

.PHONY: setup build run test bench fmt lint clean

setup: $(ORT_LIB)

$(ORT_LIB):
	scripts/fetch-onnxruntime.sh $(ORT_VERSION) $(ORT_DIR)

build: setup
	cargo build --release

test: setup
	cargo test

bench: setup
	cargo bench

fmt:
	cargo fmt --all

lint:
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean
