#!/usr/bin/env bash
# Soak: the release server (`serve --demo`) under steady load from wrk for SOAK_SECONDS (default
# 600), its resident memory (VmRSS from /proc) and the data folder's size sampled every
# SOAK_INTERVAL seconds (default 10) into a CSV. Prints the curve; fails (exit 1) if, over the
# samples after SOAK_WARMUP seconds (default 180: sled's page cache, 256 MiB, fills with the log
# as it is written and holds RSS rising until it is full), the average RSS of the last third
# exceeds that of the first third by more than 20 %. scripts/soak/analyse.py judges a saved CSV.
# Needs wrk and a release build (`make build`; `make soak` does both).
# Environment: SOAK_SECONDS, SOAK_INTERVAL, SOAK_WARMUP, SOAK_CONNECTIONS (default 32), SOAK_CSV
# (default target/soak/rss.csv).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${SOAK_SECONDS:-600}"
interval="${SOAK_INTERVAL:-10}"
warmup="${SOAK_WARMUP:-180}"
conns="${SOAK_CONNECTIONS:-32}"
csv="${SOAK_CSV:-target/soak/rss.csv}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
bin=./target/release/vouch
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 2; }
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.ort/lib/libonnxruntime.so.1.32.0}"

tmp=$(mktemp -d)
server=""; load=""
cleanup() {
  [ -n "$load" ] && kill "$load" 2>/dev/null || true
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

RUST_LOG=warn "$bin" serve --demo --data "$tmp/data" --bind 127.0.0.1:0 > "$tmp/out" 2> "$tmp/err" &
server=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^vouch serving on //p' "$tmp/out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "server did not start: $(cat "$tmp/err")" >&2; exit 1; }
export VOUCH_API_KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['caller'])" "$tmp/data/demo-credentials.json")

mkdir -p "$(dirname "$csv")"
echo "seconds,rss_kib,data_kib" > "$csv"
wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" > "$tmp/wrk" &
load=$!
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  data=$(du -sk "$tmp/data" | cut -f1)
  echo "$now,$rss,$data" >> "$csv"
  sleep "$interval"
done
wait "$load" || true
load=""
grep '^RESULT' "$tmp/wrk" || { cat "$tmp/wrk"; exit 1; }
kill -0 "$server" 2>/dev/null || { echo "the server died: $(tail -5 "$tmp/err")" >&2; exit 1; }
echo "samples in $csv"
scripts/soak/analyse.py "$csv" "$warmup"
