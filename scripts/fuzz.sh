#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and fails on any crash. Before
# fuzzing it writes the generated seeds (valid packets and recordings from the codec's and the
# writer's own encoders, fuzz/src/seeds.rs) into fuzz/corpus/<target>/gen-*.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# cargo-fuzz needs nightly compiler flags; use a nightly toolchain when one is installed,
# otherwise let the stable compiler accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# The longest input each harness reads: the real packet sizes, plus room to be too long.
# depth_trailer: k4sync_fuzz::depth_trailer::INPUT_LEN (trailer + frame shape); firmware:
# k4sync_fuzz::firmware::MAX_INPUT_LEN; command: 148-byte MAX_PACKET_LEN; depth_mcu_payloads:
# the 255-byte serial read; imu_packet: the 252-byte transfer; mkv_reader: twice the largest
# seed recording.
max_len() {
  case "$1" in
    colour_mcu_payloads | response) echo 32 ;;
    depth_trailer) echo 42 ;;
    command) echo 160 ;;
    depth_mcu_payloads | imu_packet) echo 512 ;;
    firmware | uvc) echo 4096 ;;
    mkv_reader) echo 32768 ;;
    *) echo 4096 ;;
  esac
}

cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && "${fuzz[@]}" list)
fi

summary=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  printf '\n==> %s for %ss\n' "$t" "$secs"
  log=$(mktemp)
  rc=0
  (cd fuzz && "${fuzz[@]}" run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len="$(max_len "$t")" -print_final_stats=1) >"$log" 2>&1 || rc=$?
  grep -E $'^#[0-9]+\tDONE|^SUMMARY|panicked at' "$log" | tail -n 3 || true
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n1 || true)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n1 | grep -Eo '[0-9]+' || true)
  ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -n1 | grep -Eo '[0-9]+' || true)
  if [ "$rc" -ne 0 ]; then
    summary+=("$t: FAILED (exit $rc; artifacts in fuzz/artifacts/$t)")
    tail -n 30 "$log"
    failed=1
  else
    summary+=("$t: ok, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}")
  fi
  printf '%s\n' "${summary[-1]}"
  rm -f "$log"
done
printf '\n==> fuzz summary (%ss per target)\n' "$secs"
printf '  %s\n' "${summary[@]}"
[ -z "${failed:-}" ]
