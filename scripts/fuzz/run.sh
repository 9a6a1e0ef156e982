#!/usr/bin/env bash
# Fuzzes every target (or those named as arguments) for FUZZ_SECONDS each (default 60) and prints
# a table of executions per target; a crash fails the run with its input's path.
#
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_JOBS     targets fuzzed at once (default 2, one per core here)
#   FUZZ_DEADLINE a Unix time the fuzzing must end by (CI sets it from its budget): the time per
#                 target is cut to fit, down to 10 s
#   FUZZ_BUILD    dev   (default) the stable toolchain, unoptimised with debug assertions and
#                       overflow checks, no sanitizer: builds in minutes, what `make test` runs
#                 asan  nightly, optimised, AddressSanitizer: for long runs; the build is long
#
# Needs cargo-fuzz (installed here on first use from crates.io). The committed seeds in
# fuzz/corpus/<target>/ are read only; what the fuzzer finds goes to fuzz/work/<target>/ (kept
# between runs, not committed), crashes to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-2}"
build="${FUZZ_BUILD:-dev}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request_json request_binary receipt proofs checkpoint detectors export blocks_record)

# Under a deadline, skip rather than overrun it: a cold build of the targets has taken 170–215 s
# here, and the shortest run is 10 s a target. The corpora are still replayed by
# tests/fuzz_corpus.rs in every `cargo test`.
rounds=$(( (${#targets[@]} + jobs - 1) / jobs ))
if [ -n "${FUZZ_DEADLINE:-}" ]; then
  left=$(( FUZZ_DEADLINE - $(date +%s) ))
  if [ "$left" -lt $(( 215 + rounds * 15 )) ]; then
    echo "fuzz: skipped, $left s left before the deadline is too little to build and run the targets" >&2
    exit 0
  fi
fi

command -v cargo-fuzz >/dev/null 2>&1 ||
  cargo install --locked --quiet cargo-fuzz --version 0.13.2

triple="$(rustc -vV | sed -n 's/^host: //p')"
case "$build" in
  dev)
    cargo fuzz build --dev --sanitizer none
    bin="fuzz/target/$triple/debug"
    ;;
  asan)
    cargo +nightly fuzz build --release --sanitizer address
    bin="fuzz/target/$triple/release"
    ;;
  *) echo "FUZZ_BUILD must be dev or asan, not $build" >&2; exit 2 ;;
esac

# Fit the runs into what is left before the deadline, if there is one.
if [ -n "${FUZZ_DEADLINE:-}" ]; then
  fit=$(( (FUZZ_DEADLINE - $(date +%s)) / rounds - 5 ))
  [ "$fit" -ge 10 ] || fit=10
  if [ "$fit" -lt "$secs" ]; then
    echo "fuzz: $fit s a target instead of $secs, to end by the deadline" >&2
    secs=$fit
  fi
fi

# One target: the fuzzer binary itself (what `cargo fuzz run` execs), its log in fuzz/work/.
fuzz_one() {
  local t="$1"
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  "$bin/$t" "fuzz/work/$t" "fuzz/corpus/$t" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" > "fuzz/work/$t.log" 2>&1
}

declare -A pid_of
failed=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz_one "$t" &
  pid_of[$t]=$!
done
for t in "${targets[@]}"; do
  wait "${pid_of[$t]}" || failed+=("$t")
done

echo "| target | seconds | executions | executions/s | coverage (edges) |"
echo "| --- | --- | --- | --- | --- |"
for t in "${targets[@]}"; do
  log="fuzz/work/$t.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  echo "| $t | $secs | ${runs:-?} | ${rate:-?} | ${cov:-?} |"
done
for t in "${failed[@]}"; do
  grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' \
    "fuzz/work/$t.log" >&2 || tail -20 "fuzz/work/$t.log" >&2
  echo "FAIL: fuzz target $t; see fuzz/work/$t.log and fuzz/artifacts/$t/" >&2
done
[ ${#failed[@]} -eq 0 ]
