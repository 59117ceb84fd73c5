//! Interop with Microsoft's own recording library (libk4arecord 1.4.2 from the PyPI wheel
//! `pyk4a-bundle==1.5.0`, driven through `tests/interop/*.py`; docs/testing.md, "Interop with
//! Microsoft's library").
//!
//! Both directions: recordings our `MkvWriter` writes must read in the official library exactly as
//! our reader reads them, and recordings the official recorder writes (and the real samples in
//! `shared/samples`) must read in our reader exactly as in the official library. Where the two
//! disagree, the official library is right.
//!
//! The Python side needs `K4SYNC_INTEROP_PYTHON` (set by `scripts/test.sh` from
//! `scripts/interop-venv.sh`). Without it these tests print why and pass, unless
//! `K4SYNC_INTEROP_REQUIRED=1`, which makes a missing interpreter a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{
    Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvReader, MkvWriter, RecordingHeader,
    WriterOptions,
};
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `shared/samples` beside the repository or beside any further ancestor (worktrees nest deeper).
fn samples_dir() -> Option<PathBuf> {
    repo_root()
        .ancestors()
        .map(|dir| dir.join("shared/samples"))
        .find(|dir| dir.is_dir())
}

/// The venv interpreter, or `None` (with the reason printed) when interop is not configured.
fn interop_python() -> Option<PathBuf> {
    let required = std::env::var("K4SYNC_INTEROP_REQUIRED").is_ok_and(|v| v == "1");
    match std::env::var_os("K4SYNC_INTEROP_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "K4SYNC_INTEROP_PYTHON={} does not exist",
                p.display()
            );
            Some(p)
        }
        None => {
            assert!(
                !required,
                "K4SYNC_INTEROP_REQUIRED=1 but K4SYNC_INTEROP_PYTHON is not set \
                 (run `bash scripts/interop-venv.sh` and export its output)"
            );
            println!(
                "interop skipped: K4SYNC_INTEROP_PYTHON is not set (scripts/test.sh sets it from \
                 scripts/interop-venv.sh on x86-64)"
            );
            None
        }
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("k4sync-interop-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_helper(python: &Path, script: &str, args: &[&str]) -> String {
    let script = repo_root().join("tests/interop").join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The official library's readout of `path`, asking also for every tag name in `extra_tags`.
fn official_readout(python: &Path, path: &Path, extra_tags: &[String]) -> Value {
    let mut args = vec![path.to_str().unwrap()];
    for t in extra_tags {
        args.push("--tag");
        args.push(t);
    }
    let json: Value = serde_json::from_str(&run_helper(python, "official_readout.py", &args))
        .expect("official_readout.py prints JSON");
    assert_eq!(json["ok"], true, "official readout of {}", path.display());
    json
}

/// Our reader's readout of `path` in the harness shape.
fn our_readout(path: &Path) -> Value {
    let readout = MkvReader::open_path(path)
        .unwrap_or_else(|e| panic!("our reader cannot open {}: {e}", path.display()))
        .readout()
        .unwrap_or_else(|e| panic!("our readout of {} fails: {e}", path.display()));
    serde_json::from_str(&readout.to_official_json()).expect("to_official_json is JSON")
}

/// Our tag names: the official helper probes them besides the K4A_* names it knows, so a tag only
/// one side sees shows up as a difference.
fn tag_names(ours: &Value) -> Vec<String> {
    ours["tags"]
        .as_object()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every leaf where `ours` and `official` differ, as `path: ours != official`.
fn differences(path: &str, ours: &Value, official: &Value, out: &mut Vec<String>) {
    match (ours, official) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                differences(
                    &format!("{path}.{k}"),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(format!("{path}: ours {a} != official {b}")),
        _ => {}
    }
}

fn assert_same_readout(what: &str, ours: &Value, official: &Value) {
    println!("{what}: {ours}");
    let mut diffs = Vec::new();
    differences("", ours, official, &mut diffs);
    let ours_keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    let official_keys: Vec<&String> = official.as_object().unwrap().keys().collect();
    assert_eq!(ours_keys, official_keys, "{what}: top-level key order");
    assert!(
        diffs.is_empty(),
        "{what}: our reader and Microsoft's library disagree:\n  {}",
        diffs.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Recordings our writer produces.

const FIRST_CAPTURE_USEC: u64 = 1_000_000;
const FIRST_IMU_USEC: u64 = 999_500;
const IMU_PERIOD_USEC: u64 = 1250;
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF,
    0xD9,
];

struct Mode {
    name: &'static str,
    header: RecordingHeader,
    captures: u64,
}

fn base_header() -> RecordingHeader {
    RecordingHeader {
        color_format: ColorFormat::Mjpg,
        color_resolution: ColorResolution::R720p,
        depth_mode: DepthMode::NfovUnbinned,
        depth_storage: DepthStorage::Images,
        fps: Fps::Fps30,
        imu: true,
        wired_sync_mode: WiredSyncMode::Standalone,
        depth_delay_off_color_nsec: 0,
        subordinate_delay_off_master_nsec: 0,
        device: None,
        writing_app: "k4sync-interop-test".into(),
        extra_tags: Vec::new(),
    }
}

fn device() -> DeviceInfo {
    DeviceInfo {
        serial: "000123456789".into(),
        color_firmware: "1.6.110".into(),
        depth_firmware: "1.6.79".into(),
        calibration_json: br#"{"CalibrationInformation":{"Cameras":[]}}"#.to_vec(),
    }
}

fn our_modes() -> Vec<Mode> {
    let with = |name, captures, f: &dyn Fn(&mut RecordingHeader)| {
        let mut header = base_header();
        f(&mut header);
        Mode {
            name,
            header,
            captures,
        }
    };
    vec![
        with("color_only", 12, &|h| {
            h.depth_mode = DepthMode::Off;
            h.imu = false;
        }),
        with("depth_only", 12, &|h| {
            h.color_resolution = ColorResolution::Off;
            h.imu = false;
        }),
        with("full_5fps", 8, &|h| {
            h.fps = Fps::Fps5;
            h.device = Some(device());
        }),
        with("full_15fps", 10, &|h| {
            h.fps = Fps::Fps15;
            h.extra_tags = vec![("K4SYNC_RIG".into(), "bench".into())];
        }),
        with("full_30fps", 12, &|h| {
            h.device = Some(device());
            h.depth_delay_off_color_nsec = -77_777;
        }),
        with("master", 12, &|h| {
            h.wired_sync_mode = WiredSyncMode::Master;
            h.depth_mode = DepthMode::Nfov2x2Binned;
            h.depth_delay_off_color_nsec = 77_777;
        }),
        with("subordinate", 12, &|h| {
            h.wired_sync_mode = WiredSyncMode::Subordinate;
            h.depth_delay_off_color_nsec = -77_777;
            h.subordinate_delay_off_master_nsec = 155_555;
            h.device = Some(device());
        }),
        with("passive_ir_nv12", 4, &|h| {
            h.color_format = ColorFormat::Nv12;
            h.depth_mode = DepthMode::PassiveIr;
            h.fps = Fps::Fps15;
        }),
        with("raw_depth", 3, &|h| {
            h.depth_storage = DepthStorage::Raw;
            h.imu = true;
        }),
    ]
}

/// Writes `mode` with synthetic frames: capture i has colour at 1 s + i·P and depth/IR at that
/// time plus the effective depth delay; IMU every 1250 µs from 999.5 ms to the last capture.
fn write_ours(mode: &Mode, path: &Path) {
    let h = &mode.header;
    let options = WriterOptions {
        uid_seed: Some(0x1A7E_0B5E),
        date: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        ..WriterOptions::default()
    };
    let mut w = MkvWriter::create_file(path, h.clone(), options).unwrap();
    let period = u64::from(1_000_000 / h.fps.hz());
    let colour = match h.color_format.frame_size(h.color_resolution) {
        Some(n) => (0..n).map(|i| (i % 251) as u8).collect(),
        None => JPEG.to_vec(),
    };
    let depth_len = h
        .depth_mode
        .output_size()
        .map_or(0, |(w, h)| (w * h * 2) as usize);
    let raw_len = h
        .depth_mode
        .sensor_mode()
        .map_or(0, |m| m.raw_frame_size());
    let depth: Vec<u8> = (0..depth_len).map(|i| (i % 253) as u8).collect();
    let raw: Vec<u8> = (0..raw_len).map(|i| (i % 241) as u8).collect();
    let images = h.depth_storage == DepthStorage::Images;
    let delay_usec = h.depth_delay_off_color_nsec / 1000;
    let mut next_imu = FIRST_IMU_USEC;
    for i in 0..mode.captures {
        let colour_ts = FIRST_CAPTURE_USEC + i * period;
        while h.imu && next_imu <= colour_ts {
            w.write_imu_sample(&ImuSample {
                acc_ts_usec: Usec(next_imu),
                acc_mps2: [0.0, 9.81, i as f32],
                gyro_ts_usec: Usec(next_imu + 1),
                gyro_radps: [0.25, -0.5, 1.0],
            })
            .unwrap();
            next_imu += IMU_PERIOD_USEC;
        }
        let depth_ts = Usec(colour_ts.checked_add_signed(delay_usec).unwrap());
        let on = |b: bool| b.then_some(());
        w.write_capture(&Capture {
            color: on(h.color_resolution != ColorResolution::Off).map(|()| Image {
                device_ts_usec: Usec(colour_ts),
                data: &colour,
            }),
            depth: on(images && h.depth_mode != DepthMode::PassiveIr).map(|()| Image {
                device_ts_usec: depth_ts,
                data: &depth,
            }),
            ir: on(images && h.depth_mode != DepthMode::Off).map(|()| Image {
                device_ts_usec: depth_ts,
                data: &depth,
            }),
            raw_depth: on(!images).map(|()| Image {
                device_ts_usec: depth_ts,
                data: &raw,
            }),
        })
        .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn official_library_reads_our_recordings_as_our_reader_does() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("ours");
    for mode in our_modes() {
        let path = dir.0.join(format!("{}.mkv", mode.name));
        write_ours(&mode, &path);
        let ours = our_readout(&path);
        let official = official_readout(&python, &path, &tag_names(&ours));
        assert_same_readout(&format!("our writer, mode {}", mode.name), &ours, &official);
        assert!(
            ours["captures"].as_u64().unwrap() > 0,
            "{}: no capture",
            mode.name
        );
        std::fs::remove_file(&path).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Recordings Microsoft's recorder produces, and the real samples.

#[test]
fn our_reader_reads_official_recordings_as_the_official_library_does() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("official");
    let written: Value = serde_json::from_str(&run_helper(
        &python,
        "official_write.py",
        &[dir.0.to_str().unwrap()],
    ))
    .unwrap();
    let written = written.as_object().unwrap();
    assert!(written.len() >= 7, "official_write.py wrote {written:?}");
    for (mode, path) in written {
        let path = Path::new(path.as_str().unwrap());
        let ours = our_readout(path);
        let official = official_readout(&python, path, &tag_names(&ours));
        assert_same_readout(&format!("official recorder, mode {mode}"), &ours, &official);
        assert!(ours["captures"].as_u64().unwrap() > 0, "{mode}: no capture");
    }
}

/// Every `NAME.mkv` in `shared/samples` with a `NAME.official.json` beside it.
fn samples() -> Vec<(PathBuf, Value)> {
    let Some(dir) = samples_dir() else {
        println!("samples skipped: no shared/samples directory above the repository");
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let mkv = e.ok()?.path();
            (mkv.extension()? == "mkv").then_some(())?;
            let json = mkv.with_extension("official.json");
            let text = std::fs::read_to_string(json).ok()?;
            Some((mkv, serde_json::from_str(&text).unwrap()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn our_reader_reads_every_sample_as_its_official_json() {
    let samples = samples();
    for (mkv, official) in &samples {
        assert_same_readout(
            &format!("sample {}", mkv.display()),
            &our_readout(mkv),
            official,
        );
    }
}

#[test]
fn official_library_reads_every_sample_as_its_official_json() {
    let Some(python) = interop_python() else {
        return;
    };
    for (mkv, official) in samples() {
        let fresh = official_readout(&python, &mkv, &[]);
        assert_same_readout(
            &format!("official library on sample {}", mkv.display()),
            &fresh,
            &official,
        );
    }
}

#[test]
fn harness_json_escapes_tag_values() {
    let path = std::env::temp_dir().join(format!("k4sync-json-{}.mkv", std::process::id()));
    let mut header = base_header();
    header.depth_mode = DepthMode::Off;
    header.imu = false;
    header.extra_tags = vec![("K4SYNC_NOTE".into(), "a \"quoted\"\\path\n\u{1}é".into())];
    let mode = Mode {
        name: "json",
        header,
        captures: 1,
    };
    write_ours(&mode, &path);
    let ours = our_readout(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(ours["tags"]["K4SYNC_NOTE"], "a \"quoted\"\\path\n\u{1}é");
    assert_eq!(ours["calibration_bytes"], Value::Null);
    assert_eq!(ours["depth"], Value::Null);
    assert_eq!(ours["config"]["color_format"], "MJPG");
}
