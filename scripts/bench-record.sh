#!/usr/bin/env bash
# Recorder benchmarks (docs/performance.md, "Recorder throughput vs dd and ffmpeg" and "CPU per
# camera"), all from one run of this script on one machine:
#
#   throughput  `k4sync record --emulate --emulate-pacing virtual` of the heaviest mode (2160p
#               MJPG + NFOV_UNBINNED raw depth + IMU, 30 fps): the emulator's frames pushed
#               through the whole pipeline as fast as the host takes them, into an MKV on the
#               local disk (target/bench, the repository's filesystem) and into tmpfs
#               (/dev/shm); next to `dd conv=fdatasync` of the same bytes to the same disk (the
#               floor) and `ffmpeg -c copy` remuxing the tmpfs recording onto the disk (the
#               peer). MB/s = bytes / wall time including the final fdatasync. Every command
#               runs --reps times, interleaved; the targets use each command's best repetition
#               (noise on a shared machine only ever adds time, and hits dd as much as the
#               recorder), the median is printed beside it.
#   cpu         callgrind instruction counts of a short virtual recording to tmpfs, split into
#               the emulator's own cost (generating the frames) and the recorder's (device
#               layer, pairing, MKV writer): the recorder's share is what a real camera costs.
#               aarch64: qemu's instruction-count TCG plugin (libinsn.so) when one is installed.
#
#   scripts/bench-record.sh [--check] [--seconds N] [--reps R] [--only throughput|cpu]
#
# --check exits 1 when a row misses its target. Every threshold lives in TARGETS below. Installs
# its own prerequisites idempotently (Debian: valgrind, ffmpeg). Files are deleted afterwards;
# the disk needs about 2 x 210 MB x N free, tmpfs 210 MB x N. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
seconds=8
reps=5
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --seconds) seconds=$2; shift ;;
    --reps) reps=$2; shift ;;
    --only) only=$2; shift ;;
    -h | --help)
      sed -n '2,22p' "$0"
      exit 0
      ;;
    *)
      echo "bench-record.sh: unknown argument '$1'" >&2
      exit 2
      ;;
  esac
  shift
done

log() { printf '[bench-record] %s\n' "$*" >&2; }

# ---- the one place for targets ----------------------------------------------------------------
# row id | kind | target | label
#   min = the ratio must be >= target; max = the value must be <= target; info = no target
TARGETS='
disk_vs_dd|min|0.9|recorder → disk ÷ dd conv=fdatasync (floor)
disk_vs_ffmpeg|min|1.0|recorder → disk ÷ ffmpeg -c copy (peer)
disk_vs_heaviest|min|3.0|recorder → disk ÷ heaviest single-camera rate
tmpfs_vs_heaviest|min|3.0|recorder → tmpfs ÷ heaviest single-camera rate
recorder_per_second|max|600000000|recorder instructions per recorded second (x86-64)
'
MODE=(-c 2160p -d NFOV_UNBINNED -r 30 --imu ON)
FPS=30
CALLGRIND_SECONDS=2

# ---- prerequisites ----------------------------------------------------------------------------
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

log "cargo build --release -p k4sync"
cargo build --release --locked -p k4sync --bin k4sync
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$target_dir/release/k4sync

# aarch64: qemu's TCG plugins are shared objects loaded by a dynamically linked qemu; look for
# the instruction-count one where distributions put them, or where K4SYNC_QEMU_INSN_PLUGIN says.
insn_plugin=${K4SYNC_QEMU_INSN_PLUGIN:-}
if [ -z "$insn_plugin" ]; then
  insn_plugin=$(find /usr/lib /usr/local/lib /usr/libexec -name 'libinsn.so' 2>/dev/null | head -n1 || true)
fi
qemu_dyn=$(command -v qemu-aarch64 || true)
AARCH64_BIN=""
if [ "$only" != throughput ] && [ -n "$insn_plugin" ] && [ -n "$qemu_dyn" ]; then
  log "cargo build --release --target aarch64-unknown-linux-gnu -p k4sync"
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    cargo build --release --locked --target aarch64-unknown-linux-gnu -p k4sync --bin k4sync
  AARCH64_BIN=$target_dir/aarch64-unknown-linux-gnu/release/k4sync
fi

disk_dir=$PWD/target/bench
shm_dir=/dev/shm/k4sync-bench-$$
mkdir -p "$disk_dir" "$shm_dir"
trap 'rm -rf "$shm_dir"; rm -f "$disk_dir"/rec-*.mkv "$disk_dir"/dd-*.bin "$disk_dir"/ffmpeg-*.mkv "$disk_dir"/callgrind.*' EXIT

log "$(nproc) cores, $(uname -m), $(valgrind --version), $(ffmpeg -version | head -n1 | cut -d' ' -f1-3)"
BIN="$BIN" MODE="${MODE[*]}" FPS=$FPS SECONDS_LEN=$seconds REPS=$reps ONLY="$only" \
  DISK_DIR="$disk_dir" SHM_DIR="$shm_dir" TARGETS="$TARGETS" CHECK=$check \
  CALLGRIND_SECONDS=$CALLGRIND_SECONDS INSN_PLUGIN="$insn_plugin" QEMU_DYN="$qemu_dyn" \
  AARCH64_BIN="$AARCH64_BIN" python3 - <<'PY'
import json, os, re, resource, shutil, statistics, subprocess, sys, time

env = os.environ
BIN, MODE, FPS = env["BIN"], env["MODE"].split(), int(env["FPS"])
SECONDS, REPS, ONLY = env["SECONDS_LEN"], int(env["REPS"]), env["ONLY"]
DISK, SHM = env["DISK_DIR"], env["SHM_DIR"]
MB = 1e6


def log(msg):
    print(f"[bench-record] {msg}", file=sys.stderr, flush=True)


def fdatasync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


CPU = {}


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, out_path, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall seconds including the fdatasync of out_path, stdout text) and
    leaves the command's user + system CPU seconds in CPU[out_path]."""
    os.sync()
    c0 = cpu_seconds()
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"bench-record: {' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    fdatasync(out_path)
    CPU[out_path] = cpu_seconds() - c0
    return time.monotonic() - t0, (p.stdout or "")


def record(path, length):
    cmd = [BIN, "record", "--emulate", "--emulate-pacing", "virtual", *MODE, "-l", str(length),
           "--json", path]
    wall, out = timed(cmd, path, stdout=subprocess.PIPE)
    last = json.loads(out.strip().splitlines()[-1])
    if not last.get("ok"):
        sys.exit(f"bench-record: recording failed: {last}")
    stats = last["stats"]
    if stats["dropped_queue_captures"] or stats["dropped_queue_imu"]:
        sys.exit(f"bench-record: the blocking queue dropped: {stats}")
    return wall, os.path.getsize(path), stats


def free(path):
    return shutil.disk_usage(path).free


rows = {}      # id -> measured value (ratio or count)
table = []     # markdown rows
results = {"seconds": int(SECONDS), "reps": REPS, "mode": MODE}

if ONLY in ("", "throughput"):
    expected = 220e6 * int(SECONDS)
    for where, need in ((DISK, 2 * expected), (SHM, expected)):
        if free(where) < need:
            sys.exit(f"bench-record: {where} has {free(where) / 1e9:.1f} GB free, "
                     f"{need / 1e9:.1f} GB needed for -l {SECONDS}")
    # Streams ffmpeg can copy: it has no codec for the raw-depth and IMU tracks nor for the
    # calibration attachment, and refuses to write them.
    probe_path = os.path.join(SHM, "probe.mkv")
    record(probe_path, 1)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=index,codec_type,codec_name", "-of", "json", probe_path],
                           capture_output=True, text=True, check=True)
    streams = json.loads(probe.stdout)["streams"]
    copyable = [s for s in streams if s.get("codec_name") not in (None, "", "none")]
    refused = [s for s in streams if s not in copyable]
    os.remove(probe_path)
    maps = [a for s in copyable for a in ("-map", f"0:{s['index']}")]
    results["ffmpeg_streams"] = [f"{s['index']}:{s['codec_type']}/{s['codec_name']}" for s in copyable]
    results["ffmpeg_refused"] = [f"{s['index']}:{s.get('codec_type')}" for s in refused]

    samples = {k: [] for k in ("disk", "tmpfs", "dd", "ffmpeg")}
    for rep in range(REPS):
        log(f"rep {rep + 1}/{REPS}: record -l {SECONDS} → disk")
        disk_mkv = os.path.join(DISK, "rec-disk.mkv")
        wall, size, stats = record(disk_mkv, SECONDS)
        samples["disk"].append((wall, size, CPU[disk_mkv]))
        recorded_s = stats["colour_frames"] / FPS
        results["heaviest_bytes_per_s"] = size / recorded_s
        results["stats"] = stats
        os.remove(disk_mkv)

        log(f"rep {rep + 1}/{REPS}: record -l {SECONDS} → tmpfs")
        shm_mkv = os.path.join(SHM, "rec-tmpfs.mkv")
        wall, size, _ = record(shm_mkv, SECONDS)
        samples["tmpfs"].append((wall, size, CPU[shm_mkv]))

        log(f"rep {rep + 1}/{REPS}: dd conv=fdatasync")
        dd_out = os.path.join(DISK, "dd-floor.bin")
        count = -(-size // (1 << 20))
        wall, _ = timed(["dd", "if=/dev/zero", f"of={dd_out}", "bs=1M", f"count={count}",
                         "conv=fdatasync"], dd_out)
        samples["dd"].append((wall, os.path.getsize(dd_out), CPU[dd_out]))
        os.remove(dd_out)

        log(f"rep {rep + 1}/{REPS}: ffmpeg -c copy tmpfs → disk")
        ff_out = os.path.join(DISK, "ffmpeg-peer.mkv")
        wall, _ = timed(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", shm_mkv, *maps,
                         "-c", "copy", ff_out], ff_out)
        samples["ffmpeg"].append((wall, os.path.getsize(ff_out), CPU[ff_out]))
        os.remove(ff_out)
        os.remove(shm_mkv)

    def rate(k, pick):
        return pick(b / w for w, b, _ in samples[k])

    best = {k: rate(k, max) for k in samples}
    med = {k: rate(k, statistics.median) for k in samples}
    heaviest = results["heaviest_bytes_per_s"]
    results["mb_per_s_best"] = {k: v / MB for k, v in best.items()}
    results["mb_per_s_median"] = {k: v / MB for k, v in med.items()}
    results["samples"] = samples
    for pick, r in (("", best), ("median_", med)):
        rows[f"{pick}disk_vs_dd"] = r["disk"] / r["dd"]
        rows[f"{pick}disk_vs_ffmpeg"] = r["disk"] / r["ffmpeg"]
        rows[f"{pick}disk_vs_heaviest"] = r["disk"] / heaviest
        rows[f"{pick}tmpfs_vs_heaviest"] = r["tmpfs"] / heaviest

    def size_of(k):
        return statistics.median(b for _, b, _ in samples[k])

    def walls(k):
        return ", ".join(f"{w:.2f}" for w, _, _ in samples[k])

    def cpu(k):
        c = statistics.median(c for _, _, c in samples[k])
        return f"{c:.2f} | {size_of(k) / c / MB:.0f}" if c > 0 else f"{c:.2f} | —"

    def mbs(k):
        return f"{best[k] / MB:.1f} | {med[k] / MB:.1f}"

    print(f"Recorder throughput, -l {SECONDS} of {' '.join(MODE)}, {REPS} interleaved repetitions:\n")
    print("| Measurement | Bytes | Wall s (each rep) | MB/s (best) | MB/s (median) | CPU s (user+sys, median) | MB per CPU s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    print(f"| k4sync record → disk (target/bench) | {size_of('disk'):,.0f} | {walls('disk')} | {mbs('disk')} | {cpu('disk')} |")
    print(f"| k4sync record → tmpfs (/dev/shm) | {size_of('tmpfs'):,.0f} | {walls('tmpfs')} | {mbs('tmpfs')} | {cpu('tmpfs')} |")
    print(f"| dd bs=1M conv=fdatasync → disk (floor) | {size_of('dd'):,.0f} | {walls('dd')} | {mbs('dd')} | {cpu('dd')} |")
    print(f"| ffmpeg -c copy tmpfs → disk (peer; streams {' '.join(results['ffmpeg_streams'])}) | {size_of('ffmpeg'):,.0f} | {walls('ffmpeg')} | {mbs('ffmpeg')} | {cpu('ffmpeg')} |")
    print(f"| heaviest single-camera rate (file bytes per recorded second) | {size_of('disk') / (results['stats']['colour_frames'] / FPS):,.0f} | | {heaviest / MB:.1f} | | | |")
    if refused:
        print(f"\nffmpeg refuses to copy streams {', '.join(results['ffmpeg_refused'])} "
              "(no codec for raw depth, IMU or the calibration attachment); the peer copies the rest.")
    print()

if ONLY in ("", "cpu"):
    n = env["CALLGRIND_SECONDS"]
    out = os.path.join(DISK, "callgrind.out")
    mkv = os.path.join(SHM, "callgrind.mkv")
    log(f"callgrind: record -l {n} → tmpfs")
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", BIN,
                        "record", "--emulate", "--emulate-pacing", "virtual", *MODE, "-l", n,
                        "--json", mkv], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench-record: callgrind run failed: {p.stderr[-2000:]}")
    stats = json.loads(p.stdout.strip().splitlines()[-1])["stats"]
    os.remove(mkv)
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                         capture_output=True, text=True, check=True).stdout

    def inclusive(symbol):
        best = 0
        for line in ann.splitlines():
            m = re.match(r"\s*([\d,]+)\s.*?:(\S+)\s\[", line)
            if m and m.group(2) == symbol:
                best = max(best, int(m.group(1).replace(",", "")))
        if not best:
            sys.exit(f"bench-record: {symbol} not in the callgrind profile (inlined or renamed?)")
        return best

    total = int(re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ann).group(1).replace(",", ""))
    emulator = inclusive("k4sync_host::transport::emulated::RigState::advance_to")
    depth_gen = inclusive("k4sync_core::emu::streams::DepthFrame::render")
    writer = inclusive("k4sync_host::record::writer_thread")
    recorder = total - emulator
    seconds = stats["colour_frames"] / FPS
    per = lambda v: v / seconds
    rows["recorder_per_second"] = per(recorder)
    results["callgrind"] = {"total": total, "emulator": emulator, "depth_render": depth_gen,
                            "writer_thread": writer, "recorded_s": seconds, "stats": stats}
    print(f"CPU per camera, callgrind, -l {n} virtual → tmpfs, {stats['colour_frames']} captures "
          f"= {seconds:g} recorded s:\n")
    print("| Part | Instructions | Per recorded second |")
    print("|---|---:|---:|")
    print(f"| whole process (emulator + recorder) | {total:,} | {per(total) / 1e6:,.0f} M |")
    print(f"| emulator: `RigState::advance_to` inclusive (frame generation, transport queues) | {emulator:,} | {per(emulator) / 1e6:,.0f} M |")
    print(f"| of which raw-depth frame content (`DepthFrame::render`) | {depth_gen:,} | {per(depth_gen) / 1e6:,.0f} M |")
    print(f"| recorder = whole − emulator (device layer, pairing, MKV writer) | {recorder:,} | {per(recorder) / 1e6:,.0f} M |")
    print(f"| of which MKV writer thread (`record::writer_thread` inclusive) | {writer:,} | {per(writer) / 1e6:,.0f} M |")
    print()
    plugin, qemu, arm_bin = env["INSN_PLUGIN"], env["QEMU_DYN"], env["AARCH64_BIN"]
    if plugin and qemu and arm_bin:
        mkv = os.path.join(SHM, "qemu.mkv")
        p = subprocess.run([qemu, "-L", "/usr/aarch64-linux-gnu", "-plugin", plugin, "-d", "plugin",
                            arm_bin, "record", "--emulate", "--emulate-pacing", "virtual", *MODE,
                            "-l", n, "--json", mkv], capture_output=True, text=True)
        os.remove(mkv) if os.path.exists(mkv) else None
        m = re.search(r"insns:\s*(\d+)", p.stderr + p.stdout)
        if p.returncode != 0 or not m:
            sys.exit(f"bench-record: qemu insn plugin run failed: {p.stderr[-2000:]}")
        arm_total = int(m.group(1))
        results["aarch64_total"] = arm_total
        print(f"aarch64 (qemu {plugin}): whole process {arm_total:,} instructions, "
              f"{per(arm_total) / 1e6:,.0f} M per recorded second (emulator included; "
              f"the x86-64 split above applies).\n")
    else:
        why = "no libinsn.so found" if not plugin else "no dynamically linked qemu-aarch64"
        results["aarch64_total"] = None
        print(f"aarch64: not measured ({why}; Debian 12's qemu-user/qemu-user-static 7.2 ship no TCG "
              "plugins, and the static qemu-aarch64 cannot load any).\n")

targets = [t.split("|") for t in env["TARGETS"].strip().splitlines()]
print("| Row | Measured (best reps) | Median reps | Target | Result |")
print("|---|---:|---:|---|---|")
failed = []
for rid, kind, target, label in targets:
    if rid not in rows:
        continue
    v, t = rows[rid], float(target)
    ok = v >= t if kind == "min" else v <= t if kind == "max" else True
    shown = f"{v:.2f}×" if kind == "min" else f"{v / 1e6:,.0f} M"
    ts = f"≥ {t:g}×" if kind == "min" else f"≤ {t / 1e6:,.0f} M"
    median = rows.get(f"median_{rid}")
    beside = f"{median:.2f}×" if median is not None else "—"
    print(f"| {label} | {shown} | {beside} | {ts} | {'pass' if ok else 'FAIL'} |")
    if not ok:
        failed.append(f"{label}: {shown}, target {ts}")
with open(os.path.join(DISK, "record-results.json"), "w") as f:
    json.dump({"rows": rows, **results}, f, indent=1)
if failed:
    print("\nMissed targets:", file=sys.stderr)
    for f in failed:
        print(f"  {f}", file=sys.stderr)
    if env["CHECK"] == "1":
        sys.exit(1)
PY
