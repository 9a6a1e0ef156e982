#!/usr/bin/env bash
# Fuzzes every target (or those named as arguments) for FUZZ_SECONDS each (default 60), one after
# the other, and prints executions per target. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). The committed seeds in fuzz/corpus/<target>/ are read only; what
# the fuzzer finds goes to fuzz/work/<target>/ (kept between runs, not committed), crashes to
# fuzz/artifacts/<target>/. A crash stops the run with its input's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_json request_binary receipt proofs checkpoint detectors export)
cargo +nightly fuzz build
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t"
  log="fuzz/work/$t.log"
  rc=0
  cargo +nightly fuzz run "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 > "$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +(INITED|DONE)|==[0-9]+==|SUMMARY|Done)' "$log" || true
  [ "$rc" -eq 0 ] || { echo "FAIL: $t crashed; see $log and fuzz/artifacts/$t/" >&2; exit 1; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("| $t | $secs | $runs | $rate | ${cov:-?} |")
done
echo "| target | seconds | executions | executions/s | coverage (edges) |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${summary[@]}"
