#!/usr/bin/env bash
# The main job: record 5 seconds into out.mkv and summarize it. Records from the first attached
# camera when `k4sync list` finds one (colour through uvcvideo/V4L2, see docs/colour.md),
# otherwise from the built-in emulator. Raw NFOV depth at 30 fps is ~160 MB/s, as on a camera.
# Extra arguments go to `k4sync record` (e.g. `bash scripts/run.sh -d WFOV_2X2BINNED`).
set -euo pipefail
cd "$(dirname "$0")/.."
k4sync() { cargo run --quiet --release --locked -p k4sync -- "$@"; }

out=out.mkv
listing=$(k4sync list --json 2>/dev/null || true)
if [[ $listing == *'"product_serial":"'* ]]; then
  echo "run.sh: camera found; recording 5 s from it into $out" >&2
  k4sync record --device 0 -l 5 "$@" "$out"
else
  echo "run.sh: no camera found; recording 5 s from the built-in emulator into $out" >&2
  k4sync record --emulate -l 5 "$@" "$out"
fi
k4sync info "$out"
