#!/usr/bin/env bash
# Depth conversion overhead (docs/performance.md, "Depth conversion overhead"): what
# `k4sync depth` costs around the engine, with the test engine in copy mode (its process call is
# one memcpy of the output bytes), so only our side is measured — reading the raw recording,
# copying colour and IMU, byte-swapping and writing DEPTH/IR, the temporary file, sync, rename.
#
# Baseline ("copy"): the memcpy-bound copy of the same bytes — read the whole input (cat) and
# write as many bytes as the converted file has (dd conv=fdatasync), on the same disk.
# Ratio = best wall time of `k4sync depth` / best wall time of the copy; target <= 1.10. Both
# run --reps times, interleaved, after one warm-up that puts the input in the page cache. The
# ratio "around the engine" leaves out the time inside the engine's process call (the copy
# engine's memcpy of the output, which is the engine's work, not ours); --check applies the
# target to the full ratio, the stricter of the two.
#
#   scripts/bench-depth.sh [--check] [--seconds N] [--reps R]
#
# Input: `k4sync record --emulate` of 720p MJPG + NFOV_UNBINNED raw depth + IMU at 30 fps for N
# seconds (about 165 MB per second). Files live in target/bench and are deleted afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
seconds=4
reps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --seconds) seconds=$2; shift ;;
    --reps) reps=$2; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
TARGET=1.10

cargo build --release --locked -p k4sync --bin k4sync >&2
bin=target/release/k4sync
dir=target/bench/depth
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
engine=$dir/libtestdepthengine.so
${CC:-cc} -shared -fPIC -O2 -Wall -Werror -o "$engine" tests/engine/test_depth_engine.c

"$bin" record --emulate -l "$seconds" -c 720p -d NFOV_UNBINNED -r 30 "$dir/raw.mkv" >/dev/null 2>&1
in_bytes=$(stat -c %s "$dir/raw.mkv")

now() { date +%s.%N; }
convert() {
  rm -f "$dir/out.mkv"
  local t0 t1
  t0=$(now)
  K4SYNC_TEST_ENGINE_COPY=1 "$bin" depth "$dir/raw.mkv" "$dir/out.mkv" --engine "$engine" --json >"$dir/summary.json"
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
copy() {
  rm -f "$dir/copy.bin"
  local t0 t1
  t0=$(now)
  cat "$dir/raw.mkv" >/dev/null
  dd if="$dir/raw.mkv" of="$dir/copy.bin" bs=1M count="$out_bytes" iflag=count_bytes conv=fdatasync status=none
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

convert >/dev/null # warm-up: page cache, output size
out_bytes=$(stat -c %s "$dir/out.mkv")
frames=$(grep -o '"frames": [0-9]*' "$dir/summary.json" | head -1 | grep -o '[0-9]*$')
conv_times=()
copy_times=()
engine_times=()
around_times=()
for _ in $(seq "$reps"); do
  conv_times+=("$(convert)")
  engine_times+=("$(grep -o '"engine_s": [0-9.]*' "$dir/summary.json" | grep -o '[0-9.]*$')")
  around_times+=("$(echo "${conv_times[-1]} - ${engine_times[-1]}" | bc -l)")
  copy_times+=("$(copy)")
done
best() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bc_conv=$(best "${conv_times[@]}")
bc_copy=$(best "${copy_times[@]}")
ratio=$(echo "$bc_conv / $bc_copy" | bc -l)
printf 'input %d bytes (%d raw frames), output %d bytes, %d repetitions\n' "$in_bytes" "$frames" "$out_bytes" "$reps"
printf '%-28s best %.3f s  median %.3f s  (%s)\n' "k4sync depth (copy engine)" "$bc_conv" "$(median "${conv_times[@]}")" "${conv_times[*]}"
printf '%-28s best %.3f s  median %.3f s\n' "  of which inside the engine" "$(best "${engine_times[@]}")" "$(median "${engine_times[@]}")"
printf '%-28s best %.3f s  median %.3f s  (%s)\n' "copy (cat + dd fdatasync)" "$bc_copy" "$(median "${copy_times[@]}")" "${copy_times[*]}"
ratio_median=$(echo "$(median "${conv_times[@]}") / $(median "${copy_times[@]}")" | bc -l)
around=$(echo "$(best "${around_times[@]}") / $bc_copy" | bc -l)
around_median=$(echo "$(median "${around_times[@]}") / $(median "${copy_times[@]}")" | bc -l)
verdict() { echo "$1 <= $TARGET" | bc -l | sed 's/1/met/;s/0/MISSED/'; }
printf 'ratio (best/best) %.3f, median/median %.3f, target <= %s: %s\n' "$ratio" "$ratio_median" "$TARGET" "$(verdict "$ratio")"
printf 'around the engine (best/best) %.3f, median/median %.3f: %s\n' "$around" "$around_median" "$(verdict "$around")"
if [ "$check" = 1 ] && [ "$(echo "$ratio <= $TARGET" | bc -l)" != 1 ]; then
  exit 1
fi
