#!/usr/bin/env bash
# The benchmarks of docs/performance.md, in these sections:
#   core    instruction counts of k4sync-core (callgrind via gungraun): instructions, per-unit
#           cost, the memcpy floor of the same bytes, the ratio and the target;
#   record  scripts/bench-record.sh: recorder throughput against dd and ffmpeg, and the
#           recorder's instructions per recorded second (its targets live in that script);
#   rss     scripts/rss.sh RSS_SECONDS (default 60): peak and growth of the recorder's RSS in
#           the heaviest mode (its limits live in that script);
#   align   host/benches/align.rs: CPU time of `k4sync align` on a synthetic 9-device index of
#           1/4 to 1 hour (target < 1 s for the hour, per-frame cost linear; in that file);
#   rig     cli/benches/rig_control_plane.rs: an emulated 1+8 rig across network namespaces
#           (needs root; a few minutes): coordinator CPU and traffic per device, alarm,
#           agent-loss and recovery times against issue 14's targets (in that file).
#
#   scripts/bench.sh [--check] [--only core|record|rss|align|rig] [-- bench-record.sh options]
#   --check exits 1 when any row of any section misses its target (every section still runs)
#
# Installs its own prerequisites idempotently: valgrind (Debian) and the gungraun-runner whose
# version matches the gungraun library in Cargo.lock. The core thresholds live in TARGETS below.
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
only=""
record_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check=1 ;;
    --only) only=$2; shift ;;
    --)
      shift
      record_args=("$@")
      break
      ;;
    -h | --help)
      sed -n '2,17p' "$0"
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$1'" >&2
      exit 2
      ;;
  esac
  shift
done
case "$only" in "" | core | record | rss | align | rig) ;; *)
  echo "bench.sh: --only takes core, record, rss, align or rig, not '$only'" >&2
  exit 2
  ;;
esac

log() { printf '[bench] %s\n' "$*" >&2; }

# ---- the one place for rows, unit counts and targets ----------------------------------------
# bench id (function.id) | units | unit | floor (memcpy id, or -) | target kind | target | label
#   target kind: ratio  = instructions / floor instructions must be <= target
#                unit   = instructions per unit must be <= target
#                info   = reported, no target
# Unit counts must match the *_COUNT constants in core/benches/instructions.rs.
TARGETS='
command_parse.depth_start_20|1|packet|command_20|ratio|3|CommandPacket::new_checked + CommandRepr::parse, DEPTH_START (20 B)
command_parse.set_sys_cfg_33|1|packet|command_33|ratio|3|CommandPacket::new_checked + CommandRepr::parse, SET_SYS_CFG (33 B)
command_parse.max_len_148_rejected|1|packet|command_148|ratio|3|CommandPacket::new_checked + CommandRepr::parse, 148 B (data too long: rejected)
response_check.success_16|1|packet|response_16|ratio|3|check_response (16 B)
response_parse.success_16|1|packet|response_16|ratio|3|ResponsePacket::new_checked + ResponseRepr::parse (16 B)
command_emit.depth_start_20|1|packet|command_20|info|-|CommandRepr::emit, DEPTH_START (20 B)
command_emit.set_sys_cfg_33|1|packet|command_33|info|-|CommandRepr::emit, SET_SYS_CFG (33 B)
response_emit.success_16|1|packet|response_16|info|-|ResponseRepr::emit (16 B)
sys_config_parse.subordinate_13|1|struct|sys_config_13|info|-|SysConfig::parse (13 B)
sys_config_emit.subordinate_13|1|struct|sys_config_13|info|-|SysConfig::emit (13 B)
component_versions_parse.result_18|1|struct|versions_18|info|-|ComponentVersions::parse (18 B)
imu_parse_samples.full_8_plus_8|8|sample|imu_252|unit|40|ImuPacket::new_checked + samples() (252 B, 8 gyro + 8 accel)
imu_repr_parse.full_8_plus_8|16|record|imu_252|info|-|ImuPacket::new_checked + ImuPacketRepr::parse (252 B)
imu_emit.full_8_plus_8|16|record|imu_252|info|-|ImuPacketRepr::emit (252 B)
uvc_header_parse.header_136|1|payload|uvc_header_136|info|-|UvcPayload::new_checked + UvcHeaderRepr::parse (136-byte header)
uvc_colour_timestamp.typical_124|124|byte|metadata_124|info|-|colour_timestamp, stats + align items (124 B)
uvc_colour_timestamp.full_4096|4096|byte|metadata_4096|info|-|colour_timestamp, full 4 KiB metadata, align item last
uvc_assembler_push.payloads_64|64|payload|uvc_header_136|info|-|UvcFrameAssembler::push, 4 frames x 16 payloads
depth_trailer_from_frame.nfov_5310760|1|frame|trailer_40|info|-|DepthTrailer::from_frame_in_mode + DepthTrailerRepr::parse (5,310,760-byte frame)
firmware_crc.bytes_4096|4096|byte|metadata_4096|info|-|crc32_no_final_xor (4096 B)
pairing_steady_state.captures_1000|2000|frame|-|unit|200|CapturePairer push colour + push depth + pop + drain events, steady state, per frame pushed
pairing_steady_state.captures_1000|1000|capture|-|info|-|the same run, per capture delivered (2 frames)
align_steady_state.sets_100_of_9_devices|1800|frame|-|unit|200|Aligner::push, 9-device rig, 100 sets x 18 frames
config_validate_start.subordinate|1|config|-|info|-|DeviceConfig::validate + start_sequence (subordinate)
'

status=0
if [ -z "$only" ] || [ "$only" = core ]; then
# ---- prerequisites ----------------------------------------------------------------------------
if ! command -v valgrind >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install valgrind"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind
fi

gungraun_version=$(awk '/^name = "gungraun"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$gungraun_version" ]; then
  echo "bench.sh: gungraun not found in Cargo.lock" >&2
  exit 1
fi
runner_version=$(gungraun-runner --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$runner_version" != "$gungraun_version" ]; then
  log "cargo install gungraun-runner $gungraun_version (found: ${runner_version:-none})"
  cargo install gungraun-runner --version "$gungraun_version" --locked
fi

# ---- run --------------------------------------------------------------------------------------
results=$(mktemp)
trap 'rm -f "$results"' EXIT
log "cargo bench -p k4sync-core --bench instructions"
cargo bench -p k4sync-core --bench instructions --locked -- --output-format=json >"$results"

log "valgrind $(valgrind --version), $(nproc) cores, $(uname -m)"
echo "## core"
echo
TARGETS="$TARGETS" CHECK="$check" python3 - "$results" <<'PY' || status=1
import json, os, sys

runs = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    ir = r["profiles"][0]["data"]["total"]["metrics"]["Ir"]["values"]["new"]
    runs[f'{r["function_name"]}.{r["id"]}'] = ir

def floor(fid):
    return runs.get(f"memcpy.{fid}")

print("| Case | Instructions | Units | Per unit | memcpy floor | Ratio to floor | Target | Result |")
print("|---|---:|---:|---:|---:|---:|---|---|")
failed = []
for row in os.environ["TARGETS"].strip().splitlines():
    bench, units, unit, floor_id, kind, target, label = row.split("|")
    units = int(units)
    ir = runs.get(bench)
    if ir is None:
        failed.append(f"{bench}: not measured")
        print(f"| {label} | missing | | | | | | FAIL |")
        continue
    per = ir / units
    f = floor(floor_id) if floor_id != "-" else None
    ratio = ir / f if f else None
    fl = f"{f} ({floor_id.rsplit('_', 1)[-1]} B)" if f else "—"
    rs = f"{ratio:.2f}×" if ratio is not None else "—"
    if kind == "ratio":
        ok = ratio is not None and ratio <= float(target)
        ts = f"≤ {target}× floor"
    elif kind == "unit":
        ok = per <= float(target)
        ts = f"≤ {target} / {unit}"
    else:
        ok = True
        ts = "—"
    res = "info" if kind == "info" else ("pass" if ok else "FAIL")
    if not ok:
        failed.append(f"{bench}: {ts}, got {per:.1f} / {unit}" + (f", {rs}" if ratio else ""))
    print(f"| {label} | {ir} | {units} {unit}{'s' if units > 1 else ''} | {per:.1f} / {unit} | {fl} | {rs} | {ts} | {res} |")

if failed:
    print("\nMissed targets:", file=sys.stderr)
    for f in failed:
        print(f"  {f}", file=sys.stderr)
    if os.environ["CHECK"] == "1":
        sys.exit(1)
PY
fi

# Whether section $1 runs (no --only, or --only $1); prints its heading when it does.
section() {
  [ -z "$only" ] || [ "$only" = "$1" ] || return 1
  echo
  echo "## $1"
  echo
}
check_arg=()
[ "$check" -eq 0 ] || check_arg=(--check)

# ---- record section ---------------------------------------------------------------------------
if section record; then
  bash scripts/bench-record.sh "${check_arg[@]}" "${record_args[@]}" || status=1
fi

# ---- rss section ------------------------------------------------------------------------------
if section rss; then
  # rss.sh exits 3 for a missed limit (a failure only with --check), otherwise non-zero when
  # the run itself failed.
  rss_status=0
  bash scripts/rss.sh "${RSS_SECONDS:-60}" || rss_status=$?
  if [ "$rss_status" -eq 3 ]; then
    [ "$check" -eq 0 ] || status=1
  elif [ "$rss_status" -ne 0 ]; then
    status=1
  fi
fi

# ---- align section ----------------------------------------------------------------------------
if section align; then
  cargo bench -p k4sync-host --locked --bench align -- "${check_arg[@]}" || status=1
fi

# ---- rig section ------------------------------------------------------------------------------
if section rig; then
  cargo bench -p k4sync --locked --bench rig_control_plane -- "${check_arg[@]}" || status=1
fi
exit "$status"
