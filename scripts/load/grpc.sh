#!/usr/bin/env bash
# Load test, REST beside gRPC: one audited server (policy + ledger + receipt) listening on both,
# 32 connections each, one after the other: wrk on POST /v2/models/breast-cancer/infer (JSON),
# then the Rust gRPC client of examples/grpc_load.rs on ModelInfer (raw tensors, as
# tritonclient.grpc sends them). The same row and parameters both ways. Needs wrk
# (`apt-get install wrk`); builds the release binary and the client if missing.
# Usage: scripts/load/grpc.sh [seconds per run, default 10] [connections, default 32].
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
cargo build --release --quiet --bin vouch --example grpc_load
bin=./target/release/vouch
load=./target/release/examples/grpc_load
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.ort/lib/libonnxruntime.so.1.32.0}"

tmp=$(mktemp -d)
trap 'kill $(cat "$tmp/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
RUST_LOG=warn "$bin" serve --demo --data "$tmp/data" --bind 127.0.0.1:0 --grpc-bind 127.0.0.1:0 \
  > "$tmp/out" 2> "$tmp/err" &
echo $! > "$tmp/pid"
for _ in $(seq 100); do
  url=$(sed -n 's/^vouch serving on //p' "$tmp/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start: $(cat "$tmp/err")" >&2; exit 1; }
grpc=$(sed -n 's/^vouch serving gRPC on //p' "$tmp/out")
export VOUCH_API_KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['caller'])" "$tmp/data/demo-credentials.json")

# Warm up, then measure: REST, then gRPC.
wrk -t2 -c"$conns" -d2s -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" >/dev/null
rest=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" | grep '^RESULT')
echo "rest c=$conns $rest"
"$load" "$grpc" "$VOUCH_API_KEY" "$conns" 2 >/dev/null
grpc_line=$("$load" "$grpc" "$VOUCH_API_KEY" "$conns" "$secs" | grep '^RESULT')
echo "grpc c=$conns $grpc_line"

kill "$(cat "$tmp/pid")"; wait "$(cat "$tmp/pid")" 2>/dev/null || true
"$bin" verify --data "$tmp/data" --key "$tmp/data/log.pub"
python3 - "$conns" "$rest" "$grpc_line" <<'PY'
import sys
conns = sys.argv[1]
rows = [dict(x.split("=") for x in line.split()[1:]) for line in sys.argv[2:]]
print("| transport | connections | audited calls/s | p50 ms | p99 ms | not OK |")
print("| --- | --- | --- | --- | --- | --- |")
for name, r in zip(("REST (wrk, JSON)", "gRPC (grpc_load, raw)"), rows):
    bad = r.get("non200", r.get("non_ok"))
    print(f"| {name} | {conns} | {float(r['rps']):.0f} | {r['p50_ms']} | {r['p99_ms']} | {bad} |")
PY
