#!/usr/bin/env bash
# Peak and steady-state memory (RSS) of `k4sync record` in the heaviest single-camera mode on
# the built-in emulator: 2160p MJPG + NFOV unbinned raw depth (5,310,760-byte frames) at 30 fps,
# IMU on.
#
#   scripts/rss.sh [--virtual] [SECONDS]     record SECONDS of device time (default 60), report
#
# --virtual runs the emulator's clock as fast as the recorder takes frames
# (`--emulate-pacing virtual`: every queue on the way is full all the time and the writer blocks
# instead of dropping), the worst case for memory; samples are then taken every 0.2 s.
#
# Builds the release binary, runs
#   k4sync record --emulate -c 2160p -d NFOV_UNBINNED -r 30 -l SECONDS --json OUT
# and samples VmRSS and VmHWM from /proc/<pid>/status once a second. Reports the peak (VmHWM),
# the growth (mean VmRSS of the last third of the samples minus the mean of the first third,
# both after a warm-up of WARMUP_S seconds) and the recorder's own drop counters. Exits 3 when
# the peak exceeds PEAK_LIMIT_KB or the growth exceeds GROWTH_LIMIT_KB, 1 or 2 when the run
# itself failed (build, recorder, arguments).
#
# Output: a file in RSS_DIR (default TMPDIR or /tmp) that the sampler truncates to 0 bytes every
# second. The writer keeps writing at its own offset, so the file turns sparse and holds at most
# about a second of data: a 10-minute run at 160 MB/s (~96 GB) does not fill the disk, while
# the recorder does exactly what it does for a real recording (render, CRC-32, write, seek back
# for the Tags, fdatasync every second, finalize). RSS counts the process's own pages only,
# never the page cache, so the truncation does not change the figure. (/dev/null cannot be
# used: the writer seeks back to patch the header and fdatasync refuses a character device.)
#
# Environment: RSS_BIN (a k4sync binary to measure instead of building one, for A/B runs),
# RSS_SAMPLES (a path to keep the samples at: seconds, VmRSS kB, VmHWM kB), RSS_STATUS (a path
# to keep the recorder's JSON status lines at), RSS_TRUNCATE=0 (keep the whole file instead of
# truncating it every second: ~206 MB per second of recording, for runs the disk can hold),
# RSS_DIR, PEAK_LIMIT_KB (65536), GROWTH_LIMIT_KB (4096),
# WARMUP_S (5). The emulator runs inside the measured process. Under --virtual any drop is a
# failure too (exit 3): that clock waits for the recorder, so nothing may be lost.
set -euo pipefail
cd "$(dirname "$0")/.."

pacing=realtime
interval=1
if [[ "${1:-}" == --virtual ]]; then
  pacing=virtual
  interval=0.2
  shift
fi
seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*)
    echo "rss.sh: SECONDS must be a whole number, got '$seconds'" >&2
    exit 2
    ;;
esac
peak_limit_kb="${PEAK_LIMIT_KB:-65536}"
growth_limit_kb="${GROWTH_LIMIT_KB:-4096}"
warmup_s="${WARMUP_S:-5}"

log() { printf '[rss] %s\n' "$*" >&2; }

if [[ -n "${RSS_BIN:-}" ]]; then
  bin="$RSS_BIN"
else
  log "building release k4sync"
  cargo build --release -q -p k4sync --bin k4sync
  target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  bin="${target_dir:-target}/release/k4sync"
fi

work="$(mktemp -d "${RSS_DIR:-${TMPDIR:-/tmp}}/k4sync-rss.XXXXXX")"
trap 'rm -rf "$work"' EXIT
out="$work/rss.mkv"

cmd=("$bin" record --emulate --emulate-pacing "$pacing" -c 2160p -d NFOV_UNBINNED -r 30
  -l "$seconds" --json "$out")
log "running: ${cmd[*]}"
"${cmd[@]}" >"$work/status.jsonl" 2>"$work/stderr" &
pid=$!

samples="$work/samples.tsv"
: >"$samples"
started=$(date +%s.%N)
while kill -0 "$pid" 2>/dev/null; do
  t=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if status="$(cat "/proc/$pid/status" 2>/dev/null)"; then
    rss="$(awk '/^VmRSS:/ {print $2}' <<<"$status")"
    hwm="$(awk '/^VmHWM:/ {print $2}' <<<"$status")"
    if [[ -n "$rss" && -n "$hwm" ]]; then
      printf '%s\t%s\t%s\n' "$t" "$rss" "$hwm" >>"$samples"
    fi
  fi
  if [[ "${RSS_TRUNCATE:-1}" != 0 && -e "$out" ]]; then
    truncate -s 0 "$out"
  fi
  sleep "$interval"
done
rc=0
wait "$pid" || rc=$?
if [[ $rc -ne 0 ]]; then
  log "k4sync record failed (exit $rc):"
  cat "$work/stderr" >&2
  exit 1
fi

if [[ -n "${RSS_SAMPLES:-}" ]]; then
  cp "$samples" "$RSS_SAMPLES"
fi
if [[ -n "${RSS_STATUS:-}" ]]; then
  cp "$work/status.jsonl" "$RSS_STATUS"
fi
final="$(grep '"ok"' "$work/status.jsonl" | tail -n 1)"
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$final"; }

awk -v warm="$warmup_s" -v pacing="$pacing" -v peak_limit="$peak_limit_kb" -v growth_limit="$growth_limit_kb" \
  -v colour="$(field colour_frames)" -v depth="$(field depth_frames)" \
  -v imu="$(field imu_samples)" -v qcap="$(field dropped_queue_captures)" \
  -v qfile="$(field dropped_queue_file_stalled)" -v fwait="$(field longest_file_wait_ms)" \
  -v qimu="$(field dropped_queue_imu)" -v qlate="$(field dropped_late)" \
  -v dev="$(field dropped_device)" -v bytes="$(field bytes_written)" -v secs="$seconds" '
  { t[NR] = $1; rss[NR] = $2; if ($3 > hwm) hwm = $3; if ($2 > maxrss) maxrss = $2 }
  END {
    n = 0
    for (i = 1; i <= NR; i++) if (t[i] >= warm) { n++; s[n] = rss[i] }
    if (n < 3) { print "rss.sh: too few samples after warm-up (" n ")" > "/dev/stderr"; exit 1 }
    third = int(n / 3)
    for (i = 1; i <= third; i++) first += s[i]
    for (i = n - third + 1; i <= n; i++) last += s[i]
    first /= third; last /= third
    growth = last - first
    printf "recorded            %s s of device time (%s pacing) in %.1f s, %d samples (%d after %d s warm-up)\n", secs, pacing, t[NR], NR, n, warm
    printf "peak RSS (VmHWM)    %.1f MiB (%d kB), limit %.1f MiB\n", hwm / 1024, hwm, peak_limit / 1024
    printf "largest VmRSS seen  %.1f MiB\n", maxrss / 1024
    printf "mean RSS 1st third  %.1f MiB\n", first / 1024
    printf "mean RSS last third %.1f MiB\n", last / 1024
    printf "growth              %+.1f MiB (%+d kB), limit %.1f MiB\n", growth / 1024, growth, growth_limit / 1024
    printf "frames written      colour %s, depth %s, IMU samples %s, %.0f MB\n", colour, depth, imu, bytes / 1e6
    printf "drops               queue: %s captures, %s IMU samples; late: %s; device: %s\n", qcap, qimu, qlate == "" ? "-" : qlate, dev
    printf "file system         %s of the queue drops while it held the writer; longest call %s ms\n", qfile, fwait
    bad = 0
    if (hwm > peak_limit) { print "FAIL: peak RSS above the limit"; bad = 1 }
    if (growth > growth_limit) { print "FAIL: RSS grew beyond the tolerance"; bad = 1 }
    if (pacing == "virtual" && qcap + qimu + qlate + dev > 0) { print "FAIL: frames dropped under virtual pacing"; bad = 1 }
    if (!bad) print "pass"
    exit (bad ? 3 : 0)
  }' "$samples"
