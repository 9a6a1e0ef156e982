#!/usr/bin/env bash
# Load test: audited calls (policy + ledger + receipt) against bare calls (the same server binary
# and model with policy and ledger switched off), side by side in one run, at 32 and 256
# connections. Needs wrk (`apt-get install wrk`). The bare mode exists only in a build with the
# `bench-bare` feature, which this script makes (target/release/vouch-bench-bare); the product's
# build has no such switch.
# Usage: scripts/load/run.sh [seconds per run, default 15]; VOUCH_BIN picks another binary (A/B),
# which must have been built with `--features bench-bare`.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-15}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
if [ -z "${VOUCH_BIN:-}" ]; then
  cargo build --release --quiet --features bench-bare
  cp target/release/vouch target/release/vouch-bench-bare
fi
bin="${VOUCH_BIN:-./target/release/vouch-bench-bare}"
[ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 2; }
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.ort/lib/libonnxruntime.so.1.32.0}"

run_server() { # $1 = data dir, $2.. = extra flags; prints the URL
  local data="$1"; shift
  RUST_LOG=warn "$bin" serve --demo --data "$data" --bind 127.0.0.1:0 "$@" > "$data.out" 2> "$data.err" &
  echo $! > "$data.pid"
  for _ in $(seq 100); do
    url=$(sed -n 's/^vouch serving on //p' "$data.out")
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "server did not start: $(cat "$data.err")" >&2; exit 1
}

tmp=$(mktemp -d)
trap 'kill $(cat "$tmp"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$tmp"' EXIT
results=()
for mode in audited bare; do
  flags=()
  [ "$mode" = bare ] && flags=(--bench-bare)
  url=$(run_server "$tmp/$mode" "${flags[@]}")
  export VOUCH_API_KEY=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['caller'])" "$tmp/$mode/demo-credentials.json")
  for conns in 32 256; do
    # Warm up, then measure.
    wrk -t2 -c"$conns" -d2s -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" >/dev/null
    line=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/load/infer.lua "$url/v2/models/breast-cancer/infer" | grep '^RESULT')
    echo "$mode c=$conns $line"
    results+=("$mode $conns $line")
  done
  if [ "$mode" = audited ]; then
    # What group commit did over both runs (and their warm-ups), from the server's own metrics.
    regulator=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['regulator'])" "$tmp/$mode/demo-credentials.json")
    curl -sf -H "Authorization: Bearer $regulator" "$url/metrics" | python3 -c '
import sys
m = {}
for line in sys.stdin:
    if not line.startswith("#") and " " in line:
        k, v = line.rsplit(" ", 1); m[k] = float(v)
blocks = m["vouch_ledger_block_entries_count"] or 1
entries, per_block = m["vouch_ledger_entries"], m["vouch_ledger_block_entries_sum"] / blocks
commit = m["vouch_ledger_write_seconds_sum"] / blocks * 1e3
# Builds before the sync histogram have no sync figure.
sync = m.get("vouch_ledger_sync_seconds_sum", float("nan")) / blocks * 1e3
print(f"audited ledger: {entries:.0f} entries in {blocks:.0f} blocks ({per_block:.1f} a block); "
      f"a block took {commit:.2f} ms to commit, of which {sync:.2f} ms to sync (means)")'
  fi
  kill "$(cat "$tmp/$mode.pid")"; wait "$(cat "$tmp/$mode.pid")" 2>/dev/null || true
  if [ "$mode" = audited ]; then
    "$bin" verify --data "$tmp/$mode" --key "$tmp/$mode/log.pub"
  fi
done
python3 - "${results[@]}" <<'PY'
import sys
rows = {}
for r in sys.argv[1:]:
    mode, conns, _, *kv = r.split()
    rows[(mode, int(conns))] = dict(x.split("=") for x in kv)
print("| connections | audited calls/s | p50 ms | p99 ms | bare calls/s | p50 ms | p99 ms | audited / bare |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for c in (32, 256):
    a, b = rows[("audited", c)], rows[("bare", c)]
    print(f"| {c} | {float(a['rps']):.0f} | {a['p50_ms']} | {a['p99_ms']} | {float(b['rps']):.0f} | {b['p50_ms']} | {b['p99_ms']} | {float(a['rps'])/float(b['rps']):.2f} |")
PY
