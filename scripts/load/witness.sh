#!/usr/bin/env bash
# The cost of witnessing, side by side: two audited servers on the same release build, one
# without witnesses and one asking a `vouch witness serve` on loopback (interval as given), under
# the same wrk load one after the other, twice, alternating; for each run calls/s, p50/p99 and the
# server's CPU per call (utime + stime from /proc/<pid>/stat over the run, divided by the calls).
# Then the tile serving rate: wrk on GET /tile/0/000 (a full hash tile) and
# /tile/entries/000 (a full header bundle) of the first server, served with --public-tiles.
# Needs wrk. Usage: scripts/load/witness.sh [seconds per run, default 10] [connections, default
# 32] [witness interval ms, default 1000].
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns="${2:-32}"
interval="${3:-1000}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
cargo build --release --quiet --bin vouch
bin=./target/release/vouch
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.ort/lib/libonnxruntime.so.1.32.0}"
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
tick=$(getconf CLK_TCK)

wait_for() { # file, prefix → the rest of the line
  for _ in $(seq 200); do
    v=$(sed -n "s/^$2//p" "$1")
    [ -n "$v" ] && { echo "$v"; return; }
    sleep 0.1
  done
  echo "did not start: $(cat "$1")" >&2; exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The logs' keys first: the witness must know the second one before it starts.
"$bin" keygen --name bench.vouch/plain --out "$tmp/plain" >/dev/null
"$bin" keygen --name bench.vouch/witnessed --out "$tmp/witnessed" >/dev/null
"$bin" keygen --name bench.vouch/witness --out "$tmp/w" >/dev/null
RUST_LOG=warn "$bin" witness serve --key "$tmp/w/log.key" --data "$tmp/w" --bind 127.0.0.1:0 \
  --log "$tmp/witnessed/log.pub" > "$tmp/w.out" 2>&1 &
pids+=($!)
wurl=$(wait_for "$tmp/w.out" "vouch witness serving on ")

start() { # name, extra args… → url; pid in $tmp/<name>.pid
  local name=$1; shift
  RUST_LOG=warn "$bin" serve --demo --data "$tmp/$name" --bind 127.0.0.1:0 "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err" &
  echo $! > "$tmp/$name.pid"
  wait_for "$tmp/$name.out" "vouch serving on " >/dev/null
}
start plain --public-tiles
pids+=("$(cat "$tmp/plain.pid")")
start witnessed --witness "$wurl=$tmp/w/log.pub" --witness-interval-ms "$interval"
pids+=("$(cat "$tmp/witnessed.pid")")

run() { # name → one measured run
  local name=$1 url key pid c0 c1 line total
  url=$(sed -n 's/^vouch serving on //p' "$tmp/$name.out")
  key=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['caller'])" "$tmp/$name/demo-credentials.json")
  pid=$(cat "$tmp/$name.pid")
  VOUCH_API_KEY=$key wrk -t2 -c"$conns" -d2s -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" >/dev/null
  c0=$(cpu "$pid")
  line=$(VOUCH_API_KEY=$key wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load/infer.lua \
    "$url/v2/models/breast-cancer/infer" | grep '^RESULT')
  c1=$(cpu "$pid")
  total=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' <<< "$line")
  echo "$name c=$conns $line cpu_us_per_call=$(awk -v a="$c0" -v b="$c1" -v t="$tick" -v n="$total" 'BEGIN{printf "%.1f", (b-a)/t*1e6/n}')"
}
for round in 1 2; do
  run plain
  run witnessed
done
wit_url=$(sed -n 's/^vouch serving on //p' "$tmp/witnessed.out")
wkey=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['regulator'])" "$tmp/witnessed/demo-credentials.json")
curl -s -H "Authorization: Bearer $wkey" "$wit_url/v1/checkpoint" \
  | python3 -c "import json,sys;d=json.load(sys.stdin);c=d['cosigned'];print('witnessed log: size', d['size'], 'cosigned size', c and c['size'])"

url=$(sed -n 's/^vouch serving on //p' "$tmp/plain.out")
for path in /tile/0/000 /tile/entries/000; do
  wrk -t2 -c"$conns" -d2s -s scripts/load/result.lua "$url$path" >/dev/null
  echo "tiles GET $path c=$conns $(wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load/result.lua "$url$path" | grep '^RESULT')"
done
