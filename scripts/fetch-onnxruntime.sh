#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library once, from the onnxruntime wheel on PyPI, into $2/lib.
# Nothing else can be downloaded at build time here, so the ort crate loads it at run time
# (its load-dynamic feature); the vouch binary looks in ORT_DYLIB_PATH, then in this folder.
set -euo pipefail
version="$1"
dest="$2"
lib="$dest/lib/libonnxruntime.so.$version"
if [ -f "$lib" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching onnxruntime $version from PyPI (once) ..." >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "onnxruntime==$version"
wheel=$(ls "$tmp"/onnxruntime-*.whl)
python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if "/capi/libonnxruntime.so" in n:
            z.extract(n, sys.argv[2])
PY
mkdir -p "$dest/lib"
found=$(find "$tmp/x" -name "libonnxruntime.so.$version" | head -n 1)
if [ -z "$found" ]; then
  echo "the onnxruntime $version wheel holds no libonnxruntime.so.$version" >&2
  exit 1
fi
cp "$found" "$lib.part"
mv "$lib.part" "$lib"
ln -sf "libonnxruntime.so.$version" "$dest/lib/libonnxruntime.so"
echo "ONNX Runtime $version is in $dest/lib" >&2
