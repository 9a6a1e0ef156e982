# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
ORT_VERSION := 1.32.0
ORT_DIR     := $(CURDIR)/.ort
ORT_LIB     := $(ORT_DIR)/lib/libonnxruntime.so.$(ORT_VERSION)
export ORT_DYLIB_PATH ?= $(ORT_LIB)

TEST_VENV   := $(CURDIR)/.venv-test

.PHONY: setup build run test bench fmt lint clean models fuzz soak

setup: $(ORT_LIB)

$(ORT_LIB):
	scripts/fetch-onnxruntime.sh $(ORT_VERSION) $(ORT_DIR)

# The v2 Python client the service is tested against.
$(TEST_VENV)/.installed: tests/python/requirements.txt
	python3 -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

build: setup
	cargo build --release

# Serves the shipped models and policies on 127.0.0.1:8080 (REST) and 127.0.0.1:8081 (gRPC) with demo callers; keys and an example
# call are printed, and written to data/demo-credentials.json and data/log.pub.
run: build
	./target/release/vouch serve --demo --data data --bind 127.0.0.1:8080 --grpc-bind 127.0.0.1:8081

# Formatting and lints (clippy with -D warnings: the panic lints of Cargo.toml are errors), every
# test, then every fuzz target for TEST_FUZZ_SECONDS (two at a time, on the stable
# toolchain; the first run installs cargo-fuzz and builds the instrumented targets, some 3 min).
TEST_FUZZ_SECONDS ?= 30
test: setup $(TEST_VENV)/.installed
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	VOUCH_TEST_PYTHON=$(TEST_VENV)/bin/python cargo test
	FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) FUZZ_BUILD=dev scripts/fuzz/run.sh

bench: setup
	cargo bench

# Fuzzes each target for FUZZ_SECONDS (default 60), two at a time. FUZZ_BUILD=dev (default) is
# the stable toolchain without a sanitizer; FUZZ_BUILD=asan needs nightly and builds far longer.
# `make fuzz FUZZ_SECONDS=3600` for a longer run.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= dev
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz/run.sh

# Ten minutes of steady load on the release server, RSS sampled every 10 s into
# target/soak/rss.csv; fails if, after a 3-minute warm-up, memory grows by more than 20 %. Not
# part of `make test`.
SOAK_SECONDS ?= 600
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) scripts/soak/run.sh

fmt:
	cargo fmt --all

lint:
	cargo clippy --all-targets -- -D warnings

clean:
	cargo clean

# Rebuilds the shipped models (ONNX files, manifests, reference outputs) from models/build.py, with
# pinned packages, fixed string hashing and one BLAS thread, so the same machine rebuilds the same bytes.
MODELS_VENV := $(CURDIR)/.venv-models
models: $(MODELS_VENV)/.installed
	PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(MODELS_VENV)/bin/python models/build.py

$(MODELS_VENV)/.installed: models/requirements.txt
	python3 -m venv $(MODELS_VENV)
	$(MODELS_VENV)/bin/pip install --quiet -r models/requirements.txt
	touch $@
