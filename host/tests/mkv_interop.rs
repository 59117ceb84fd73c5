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

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

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

mod support;
use support::{interop_python, repo_root, samples_dir};

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
    let (ok, stdout, stderr) = try_helper(python, script, args);
    assert!(
        ok,
        "{script} {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// Runs a helper: (exit status success, stdout, stderr).
fn try_helper(python: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    let script = repo_root().join("tests/interop").join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    /// Device time of the first colour frame.
    start_usec: u64,
    /// How long before it the IMU samples begin.
    imu_lead_usec: u64,
    /// Which of capture i's images the device dropped: (colour, depth and IR).
    drops: fn(u64) -> (bool, bool),
}

fn no_drops(_: u64) -> (bool, bool) {
    (false, false)
}

/// Colour lost every 7th capture, depth every 5th, both every 35th.
fn some_drops(i: u64) -> (bool, bool) {
    (i % 7 == 3, i % 5 == 1)
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
        depth_calibration: None,
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
            start_usec: FIRST_CAPTURE_USEC,
            imu_lead_usec: FIRST_CAPTURE_USEC - FIRST_IMU_USEC,
            drops: no_drops,
        }
    };
    vec![
        with("color_only", 12, &|h| {
            h.depth_mode = DepthMode::Off;
            h.imu = false;
        }),
        with("imu_only", 10, &|h| {
            h.color_resolution = ColorResolution::Off;
            h.depth_mode = DepthMode::Off;
        }),
        with("depth_only", 6, &|h| {
            h.color_resolution = ColorResolution::Off;
            h.imu = false;
        }),
        with("full_5fps", 6, &|h| {
            h.fps = Fps::Fps5;
            h.device = Some(device());
        }),
        with("full_15fps", 6, &|h| {
            h.fps = Fps::Fps15;
            h.extra_tags = vec![("K4SYNC_RIG".into(), "bench".into())];
        }),
        with("full_30fps", 8, &|h| {
            h.device = Some(device());
            h.depth_delay_off_color_nsec = -77_777;
        }),
        with("master", 12, &|h| {
            h.wired_sync_mode = WiredSyncMode::Master;
            h.depth_mode = DepthMode::Nfov2x2Binned;
            h.depth_delay_off_color_nsec = 77_777;
        }),
        with("subordinate", 8, &|h| {
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
        with("bgra_720p_wfov_unbinned_15fps", 3, &|h| {
            h.color_format = ColorFormat::Bgra32;
            h.depth_mode = DepthMode::WfovUnbinned;
            h.fps = Fps::Fps15;
        }),
        with("yuy2_720p_wfov_binned", 3, &|h| {
            h.color_format = ColorFormat::Yuy2;
            h.depth_mode = DepthMode::Wfov2x2Binned;
        }),
        with("mjpg_3072p_15fps", 4, &|h| {
            h.color_resolution = ColorResolution::R3072p;
            h.depth_mode = DepthMode::Off;
            h.fps = Fps::Fps15;
        }),
        Mode {
            drops: some_drops,
            ..with("drops_2s_nfov_binned", 70, &|h| {
                h.depth_mode = DepthMode::Nfov2x2Binned;
                h.depth_delay_off_color_nsec = -155_555;
            })
        },
        Mode {
            start_usec: 4_400_000_000,
            ..with("device_time_beyond_2_32_usec", 6, &|h| {
                h.depth_mode = DepthMode::Nfov2x2Binned;
            })
        },
        Mode {
            start_usec: 2_000_000,
            imu_lead_usec: 833 * IMU_PERIOD_USEC,
            ..with("imu_lead_833_samples", 6, &|h| {
                h.depth_mode = DepthMode::Nfov2x2Binned;
            })
        },
        Mode {
            start_usec: 2 * 3_600_000_000,
            ..with("device_uptime_2h", 4, &|h| {
                h.depth_mode = DepthMode::Nfov2x2Binned;
                h.device = Some(device());
            })
        },
        Mode {
            start_usec: 30 * 3_600_000_000,
            ..with("device_uptime_30h", 4, &|h| {
                h.depth_mode = DepthMode::PassiveIr;
                h.wired_sync_mode = WiredSyncMode::Master;
            })
        },
    ]
}

/// Writes `mode` with synthetic frames: capture i has colour at start + i·P and depth/IR at that
/// time plus the effective depth delay (minus what `drops` removes); IMU every 1250 µs from 500 µs
/// before the first capture up to the last one.
fn write_ours(mode: &Mode, path: &Path) {
    write_ours_unfinished(mode, path).finalize().unwrap();
}

/// [`write_ours`] without `finalize`: the writer still holds its newest windows.
fn write_ours_unfinished(mode: &Mode, path: &Path) -> MkvWriter<std::fs::File> {
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
    let raw_len = h.depth_mode.sensor_mode().map_or(0, |m| m.raw_frame_size());
    let depth: Vec<u8> = (0..depth_len).map(|i| (i % 253) as u8).collect();
    let raw: Vec<u8> = (0..raw_len).map(|i| (i % 241) as u8).collect();
    let images = h.depth_storage == DepthStorage::Images;
    let delay_usec = h.depth_delay_off_color_nsec / 1000;
    let mut next_imu = mode.start_usec - mode.imu_lead_usec;
    for i in 0..mode.captures {
        let colour_ts = mode.start_usec + i * period;
        let (drop_colour, drop_depth) = (mode.drops)(i);
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
            color: on(h.color_resolution != ColorResolution::Off && !drop_colour).map(|()| Image {
                device_ts_usec: Usec(colour_ts),
                data: &colour,
            }),
            depth: on(images && h.depth_mode != DepthMode::PassiveIr && !drop_depth).map(|()| {
                Image {
                    device_ts_usec: depth_ts,
                    data: &depth,
                }
            }),
            ir: on(images && h.depth_mode != DepthMode::Off && !drop_depth).map(|()| Image {
                device_ts_usec: depth_ts,
                data: &depth,
            }),
            raw_depth: on(!images && !drop_depth).map(|()| Image {
                device_ts_usec: depth_ts,
                data: &raw,
            }),
        })
        .unwrap();
    }
    w
}

#[test]
fn official_library_reads_our_recordings_as_our_reader_does() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("ours");
    for mode in our_modes() {
        let path = dir.0.join(format!("{}.mkv", mode.name));
        let started = std::time::Instant::now();
        write_ours(&mode, &path);
        println!("{}: written in {:?}", mode.name, started.elapsed());
        let ours = our_readout(&path);
        let official = official_readout(&python, &path, &tag_names(&ours));
        assert_same_readout(&format!("our writer, mode {}", mode.name), &ours, &official);
        let expect_captures = mode.header.color_resolution != ColorResolution::Off
            || mode.header.depth_mode != DepthMode::Off;
        assert_eq!(
            ours["captures"].as_u64().unwrap() > 0,
            expect_captures,
            "{}: captures",
            mode.name
        );
        std::fs::remove_file(&path).unwrap();
    }
}

/// What a crash leaves (docs/recording.md, "Crash safety"): complete clusters, no Cues, SeekHead
/// still a Void. The official library must open it as is, a copy whose last cluster still has
/// the Void where its CRC-32 goes (killed between the frames and the checksum) and, once cut to
/// `complete_until()`, a copy whose last cluster was torn; every readout must equal ours.
#[test]
fn official_library_reads_our_crashed_recordings_as_our_reader_does() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("crash");
    for with_device in [false, true] {
        let mut header = base_header();
        header.depth_mode = DepthMode::Nfov2x2Binned;
        header.device = with_device.then(device);
        let mode = Mode {
            name: "crash",
            header,
            captures: 75,
            start_usec: FIRST_CAPTURE_USEC,
            imu_lead_usec: FIRST_CAPTURE_USEC - FIRST_IMU_USEC,
            drops: no_drops,
        };
        let what = format!("crashed recording (device: {with_device})");
        let path = dir.0.join(format!("crash-{with_device}.mkv"));
        drop(write_ours_unfinished(&mode, &path).abandon());
        let ours = our_readout(&path);
        assert!(ours["captures"].as_u64().unwrap() > 0, "{what}: no capture");
        let official = official_readout(&python, &path, &tag_names(&ours));
        assert_same_readout(&what, &ours, &official);

        let bytes = std::fs::read(&path).unwrap();
        let last = *MkvReader::open_path_salvage(&path)
            .unwrap()
            .cluster_offsets()
            .last()
            .unwrap();

        // Killed after a cluster's frames, before its CRC-32 replaced the Void in its place.
        let mut unsealed = bytes.clone();
        let at = last as usize;
        assert_eq!(
            unsealed[at..at + 4],
            [0x1F, 0x43, 0xB6, 0x75],
            "{what}: a Cluster"
        );
        let crc_at = at + 4 + unsealed[at + 4].leading_zeros() as usize + 1;
        assert_eq!(
            unsealed[crc_at..crc_at + 2],
            [0xBF, 0x84],
            "{what}: CRC-32 first"
        );
        unsealed[crc_at..crc_at + 6].copy_from_slice(&[0xEC, 0x84, 0, 0, 0, 0]);
        let void_path = dir.0.join(format!("unsealed-{with_device}.mkv"));
        std::fs::write(&void_path, &unsealed).unwrap();
        let ours_void = our_readout(&void_path);
        assert_eq!(
            ours_void, ours,
            "{what}: a Void instead of the last CRC-32 changes nothing"
        );
        let official = official_readout(&python, &void_path, &tag_names(&ours));
        assert_same_readout(
            &format!("{what}, last CRC-32 still a Void"),
            &ours,
            &official,
        );
        let torn = dir.0.join(format!("torn-{with_device}.mkv"));
        std::fs::write(&torn, &bytes[..bytes.len() - 100]).unwrap();
        let mut reader = MkvReader::open_path_salvage(&torn).unwrap();
        assert!(reader.damage().is_some(), "{what}: cut not detected");
        let until = reader.complete_until().unwrap();
        assert_eq!(
            until, last,
            "{what}: complete_until after a torn last cluster"
        );
        let cut = dir.0.join(format!("cut-{with_device}.mkv"));
        std::fs::write(&cut, &bytes[..until as usize]).unwrap();
        let ours = our_readout(&cut);
        let official = official_readout(&python, &cut, &tag_names(&ours));
        assert_same_readout(&format!("{what}, torn and cut"), &ours, &official);
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
        assert!(
            ours["captures"].as_u64().unwrap() > 0 || mode == "imu_only",
            "{mode}: no capture"
        );
        // Only full_30fps carries a calibration.json (29 bytes; the SDK appends a NUL). Without
        // one, k4a_playback_get_raw_calibration fails ("The device calibration is missing from
        // the recording"), which the official readout writes as null, and so do we.
        let calibration = if mode == "full_30fps" {
            Value::from(30)
        } else {
            Value::Null
        };
        assert_eq!(official["calibration_bytes"], calibration, "{mode}");
    }
}

/// The same sequence through both writers — 833 IMU samples (the SDK's IMU queue, which
/// k4arecorder drains after its first capture) before the first image — reads back the same
/// in the official library: start offset from the first IMU sample, every sample kept.
#[test]
fn imu_before_the_first_image_is_written_as_the_official_recorder_writes_it() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("imu-lead");
    let mode = our_modes()
        .into_iter()
        .find(|m| m.name == "imu_lead_833_samples")
        .unwrap();
    let ours_path = dir.0.join("ours.mkv");
    write_ours(&mode, &ours_path);
    let written: Value = serde_json::from_str(&run_helper(
        &python,
        "official_write.py",
        &[dir.0.to_str().unwrap(), mode.name],
    ))
    .unwrap();
    let official_path = Path::new(written[mode.name].as_str().unwrap());
    let ours = official_readout(&python, &ours_path, &[]);
    let official = official_readout(&python, official_path, &[]);
    let first_imu = mode.start_usec - mode.imu_lead_usec;
    for key in [
        "start_offset_usec",
        "length_usec",
        "captures",
        "imu",
        "color",
        "depth",
    ] {
        assert_eq!(ours[key], official[key], "{key}");
    }
    assert_eq!(official["start_offset_usec"], first_imu);
    assert_eq!(official["imu"]["first_acc_ts_usec"], first_imu);
    let samples = official["imu"]["samples"].as_u64().unwrap();
    assert!(samples > 833, "{samples}");
}

/// Every `NAME.mkv` in `shared/samples` with a `NAME.official.json` beside it.
fn samples() -> Vec<(PathBuf, Value)> {
    let Some(dir) = samples_dir() else {
        assert!(
            !support::samples_required(),
            "no shared/samples directory is above the repository; it is required (K4SYNC_SAMPLES_OPTIONAL=1 skips it on a developer machine)"
        );
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
        start_usec: FIRST_CAPTURE_USEC,
        imu_lead_usec: FIRST_CAPTURE_USEC - FIRST_IMU_USEC,
        drops: no_drops,
    };
    write_ours(&mode, &path);
    let ours = our_readout(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(ours["tags"]["K4SYNC_NOTE"], "a \"quoted\"\\path\n\u{1}é");
    assert_eq!(ours["calibration_bytes"], Value::Null);
    assert_eq!(ours["depth"], Value::Null);
    assert_eq!(ours["config"]["color_format"], "MJPG");
}

// ---------------------------------------------------------------------------------------------
// Damaged and unusual files: what the official library refuses our reader refuses too, and what it
// opens our reader reads the same way.

/// Replaces the `nth` (0-based) occurrence of `from` in `bytes` with `to` (same length).
fn patch_nth(bytes: &mut [u8], from: &[u8], to: &[u8], nth: usize) {
    assert_eq!(from.len(), to.len());
    let at = (0..=bytes.len() - from.len())
        .filter(|&i| bytes[i..].starts_with(from))
        .nth(nth)
        .unwrap_or_else(|| panic!("pattern {from:02x?} occurs fewer than {} times", nth + 1));
    bytes[at..at + from.len()].copy_from_slice(to);
}

/// A finalized recording of ours: 30 fps, MJPG 720p, `depth_mode`, IMU; tracks COLOR, [DEPTH], IR,
/// IMU.
fn conforming_bytes(dir: &Path, depth_mode: DepthMode, captures: u64) -> Vec<u8> {
    let mut header = base_header();
    header.depth_mode = depth_mode;
    let mode = Mode {
        name: "conforming",
        header,
        captures,
        start_usec: FIRST_CAPTURE_USEC,
        imu_lead_usec: FIRST_CAPTURE_USEC - FIRST_IMU_USEC,
        drops: no_drops,
    };
    let path = dir.join("conforming.mkv");
    write_ours(&mode, &path);
    std::fs::read(path).unwrap()
}

/// Elements as our writer renders them: PixelWidth 640 / 1024 / 1280, DefaultDuration 33 333 333
/// ns, and the same-length Void that replaces an 8-byte element.
const PIXEL_WIDTH_640: &[u8] = &[0xB0, 0x82, 0x02, 0x80];
const PIXEL_WIDTH_1024: &[u8] = &[0xB0, 0x82, 0x04, 0x00];
const PIXEL_WIDTH_1280: &[u8] = &[0xB0, 0x82, 0x05, 0x00];
const DEFAULT_DURATION_30FPS: &[u8] = &[0x23, 0xE3, 0x83, 0x84, 0x01, 0xFC, 0xA0, 0x55];
const VOID_8: &[u8] = &[0xEC, 0x86, 0, 0, 0, 0, 0, 0];

/// (what, whether the official 1.4.2 library opens it, the file).
type Case = (&'static str, bool, Vec<u8>);

fn mutation_cases(dir: &Path) -> Vec<Case> {
    let nfov = conforming_bytes(dir, DepthMode::NfovUnbinned, 3);
    let passive = conforming_bytes(dir, DepthMode::PassiveIr, 3);
    let empty = conforming_bytes(dir, DepthMode::NfovUnbinned, 0);
    let colour_only = conforming_bytes(dir, DepthMode::Off, 3);
    let with = |base: &Vec<u8>, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let width_641 = [0xB0, 0x82, 0x02, 0x81];
    let period_plus_1 = [0x23, 0xE3, 0x83, 0x84, 0x01, 0xFC, 0xA0, 0x56];
    let period_25fps = [0x23, 0xE3, 0x83, 0x84, 0x02, 0x62, 0x5A, 0x00];
    vec![
        ("conforming", true, nfov.clone()),
        ("no capture at all", false, empty),
        (
            "depth track width not the depth mode's",
            false,
            with(&nfov, &|b| patch_nth(b, PIXEL_WIDTH_640, &width_641, 0)),
        ),
        (
            "IR track width not the depth track's",
            false,
            with(&nfov, &|b| patch_nth(b, PIXEL_WIDTH_640, &width_641, 1)),
        ),
        (
            "passive IR track width not the mode's",
            false,
            with(&passive, &|b| {
                patch_nth(b, PIXEL_WIDTH_1024, &[0xB0, 0x82, 0x04, 0x01], 0)
            }),
        ),
        (
            "colour width in no resolution of the table",
            true,
            with(&nfov, &|b| {
                patch_nth(b, PIXEL_WIDTH_1280, &[0xB0, 0x82, 0x05, 0x01], 0)
            }),
        ),
        (
            "IR frame period differs from colour's",
            false,
            with(&nfov, &|b| {
                patch_nth(b, DEFAULT_DURATION_30FPS, &period_plus_1, 2)
            }),
        ),
        (
            "depth frame period differs from colour's",
            false,
            with(&nfov, &|b| {
                patch_nth(b, DEFAULT_DURATION_30FPS, &period_plus_1, 1)
            }),
        ),
        (
            "colour without a frame period",
            true,
            with(&nfov, &|b| patch_nth(b, DEFAULT_DURATION_30FPS, VOID_8, 0)),
        ),
        (
            "IR without a frame period",
            false,
            with(&nfov, &|b| patch_nth(b, DEFAULT_DURATION_30FPS, VOID_8, 2)),
        ),
        (
            "colour-only recording without a frame period",
            false,
            with(&colour_only, &|b| {
                patch_nth(b, DEFAULT_DURATION_30FPS, VOID_8, 0)
            }),
        ),
        (
            "no video track with a frame period",
            false,
            with(&nfov, &|b| {
                for _ in 0..3 {
                    patch_nth(b, DEFAULT_DURATION_30FPS, VOID_8, 0);
                }
            }),
        ),
        (
            "all frame periods 25 fps",
            false,
            with(&nfov, &|b| {
                for _ in 0..3 {
                    patch_nth(b, DEFAULT_DURATION_30FPS, &period_25fps, 0);
                }
            }),
        ),
        (
            "unknown wired sync mode",
            false,
            with(&nfov, &|b| patch_nth(b, b"STANDALONE", b"STANDALONX", 0)),
        ),
        (
            "depth tracks without K4A_DEPTH_MODE",
            false,
            with(&nfov, &|b| {
                patch_nth(b, b"K4A_DEPTH_MODE", b"K4A_DEPTH_MODX", 0)
            }),
        ),
        (
            "unknown depth mode",
            false,
            with(&nfov, &|b| {
                patch_nth(b, b"NFOV_UNBINNED", b"NFOV_UNBINNEX", 0)
            }),
        ),
        (
            "unparsable start offset",
            false,
            with(&nfov, &|b| patch_nth(b, b"999500000", b"x99500000", 0)),
        ),
        (
            "start offset with trailing garbage",
            true,
            with(&nfov, &|b| patch_nth(b, b"999500000", b"99950000x", 0)),
        ),
        (
            "DocType webm",
            false,
            with(&nfov, &|b| patch_nth(b, b"matroska", b"webm\0\0\0\0", 0)),
        ),
    ]
}

#[test]
fn damaged_files_read_as_the_official_library_reads_them_or_are_refused_like_it() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = Scratch::new("mutations");
    let mut failures = Vec::new();
    for (what, expected_ok, bytes) in mutation_cases(&dir.0) {
        let path = dir.0.join("case.mkv");
        std::fs::write(&path, &bytes).unwrap();
        let (official_ok, stdout, stderr) =
            try_helper(&python, "official_readout.py", &[path.to_str().unwrap()]);
        let ours = MkvReader::open_path(&path).and_then(|mut r| r.readout());
        let sdk_errors: Vec<&str> = stderr.lines().filter(|l| l.contains("[error]")).collect();
        println!("{what}: official {stdout}SDK log: {sdk_errors:#?}");
        if official_ok != expected_ok {
            failures.push(format!(
                "{what}: the official library {} it, the table in mutation_cases says otherwise",
                if official_ok { "opens" } else { "refuses" }
            ));
        }
        match (official_ok, ours) {
            (false, Err(_)) => {}
            (true, Ok(readout)) => {
                let ours: Value = serde_json::from_str(&readout.to_official_json()).unwrap();
                let official: Value = serde_json::from_str(&stdout).unwrap();
                let mut diffs = Vec::new();
                differences("", &ours, &official, &mut diffs);
                if !diffs.is_empty() {
                    failures.push(format!("{what}: readouts differ: {}", diffs.join("; ")));
                }
            }
            (false, Ok(_)) => failures.push(format!("{what}: official refuses, ours opens")),
            (true, Err(e)) => failures.push(format!("{what}: official opens, ours refuses: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The refusals found by the interop harness, pinned without Python (the table's official
/// outcomes are re-checked against the library by the test above): a file without clusters, a
/// DEPTH/IR size that does not fit the depth mode or each other, and frame periods that differ or
/// are missing were all opened by our reader while `k4a_playback_open` refuses them.
#[test]
fn our_reader_refuses_exactly_the_damaged_files_the_official_library_refuses() {
    let dir = Scratch::new("mutations-offline");
    for (what, official_opens, bytes) in mutation_cases(&dir.0) {
        let path = dir.0.join("case.mkv");
        std::fs::write(&path, &bytes).unwrap();
        let ours = MkvReader::open_path(&path).and_then(|mut r| r.readout());
        assert_eq!(
            ours.is_ok(),
            official_opens,
            "{what}: official library opens it: {official_opens}, ours: {ours:?}"
        );
    }
}
