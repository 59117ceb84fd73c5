#!/usr/bin/env bash
# The emulator-heavy tests under foreign CPU load: runs the test binaries that pace the emulator
# (cli_record, cli_align, cli_depth, and the k4sync-tests crate: record_emulated,
# device_emulated) RUNS times while busy loops keep every core of the machine busy, and reports
# each run's failures.
#
#   scripts/load-test.sh [RUNS]     default 10 runs
#
# The hog is one shell busy loop per core (HOGS, default `nproc`), started by this script at
# normal priority beside the tests and killed by its own process ids when the script exits, however
# it exits. The tests are built once, before the hog starts, into a nextest archive that every run
# executes: compiling is not part of a run, and editing the sources meanwhile changes nothing
# (except rebuilding the k4sync binary itself, which the cli tests run by its path).
# Every run's nextest output goes to LOAD_LOG_DIR (default a fresh directory under TMPDIR or
# /tmp); the summary lists per run its wall time, tests run and failed, and the failed tests'
# names. Exits 0 when no run had a failure, 1 otherwise, 2 on bad arguments.
#
# Environment: HOGS (busy loops; 0 runs the tests without a hog, for comparison),
# LOAD_LOG_DIR, LOAD_FILTER (a nextest filter expression replacing the default set).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10}"
hogs="${HOGS:-$(nproc)}"
for value in "$runs" "$hogs"; do
  case "$value" in
    '' | *[!0-9]*)
      echo "load-test.sh: RUNS and HOGS must be whole numbers, got '$value'" >&2
      exit 2
      ;;
  esac
done
log_dir="${LOAD_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/k4sync-load.XXXXXX")}"
mkdir -p "$log_dir"
filter="${LOAD_FILTER:-binary(cli_record) | binary(cli_align) | binary(cli_depth) | package(k4sync-tests)}"
archive="$log_dir/tests.tar.zst"

bash scripts/setup.sh >/dev/null
# What the test command sets: a missing sample or MKVToolNix fails a test instead of skipping it.
export K4SYNC_MKVTOOLNIX_REQUIRED=1 K4SYNC_SAMPLES_REQUIRED=1
cargo nextest archive --locked --all-features -p k4sync -p k4sync-tests --archive-file "$archive"
nextest=(cargo nextest run --archive-file "$archive" --workspace-remap . -E "$filter" --no-fail-fast)

hog_pids=()
stop_hogs() {
  for pid in "${hog_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${hog_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  hog_pids=()
}
trap stop_hogs EXIT
for _ in $(seq 1 "$hogs"); do
  (while :; do :; done) &
  hog_pids+=("$!")
done
echo "load-test: $runs runs beside $hogs busy loops on $(nproc) cores; logs in $log_dir"

failed_runs=0
summary="$log_dir/summary.txt"
: >"$summary"
for run in $(seq 1 "$runs"); do
  log="$log_dir/run-$run.log"
  start=$(date +%s)
  status=0
  "${nextest[@]}" >"$log" 2>&1 || status=$?
  seconds=$(($(date +%s) - start))
  line=$(grep -E '^ *Summary \[' "$log" | tail -n 1 || true)
  names=$(grep -E '^ *(FAIL|TIMEOUT|SIGSEGV|SIGABRT) \[' "$log" | awk '{print $NF}' | sort -u | tr '\n' ' ' || true)
  if [ "$status" -ne 0 ]; then
    failed_runs=$((failed_runs + 1))
  fi
  printf 'run %d: exit %d, %d s, %s%s\n' "$run" "$status" "$seconds" \
    "${line:-no nextest summary (see $log)}" "${names:+; failed: $names}" | tee -a "$summary"
done
stop_hogs
echo "load-test: $failed_runs of $runs runs had failures (summary: $summary)"
[ "$failed_runs" -eq 0 ]
