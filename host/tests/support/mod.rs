//! Shared pieces of the host's integration tests: the built binary, generated recordings, the
//! real samples and the interop interpreter with its skip rules.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{
    Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvWriter, RecordingHeader, WriterOptions,
};

pub const FIRST_CAPTURE_USEC: u64 = 1_000_000;
pub const IMU_PERIOD_USEC: u64 = 1250;
pub const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF,
    0xD9,
];

/// Runs the built `k4sync` with `args`.
pub fn k4sync<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small header: 720p colour (`format`), NFOV 2x2 binned depth, IMU, with device info.
pub fn header(format: ColorFormat) -> RecordingHeader {
    RecordingHeader {
        color_format: format,
        color_resolution: ColorResolution::R720p,
        depth_mode: DepthMode::Nfov2x2Binned,
        depth_storage: DepthStorage::Images,
        fps: Fps::Fps30,
        imu: true,
        wired_sync_mode: WiredSyncMode::Standalone,
        depth_delay_off_color_nsec: 0,
        subordinate_delay_off_master_nsec: 0,
        device: Some(DeviceInfo {
            serial: "000123456789".into(),
            color_firmware: "1.6.110".into(),
            depth_firmware: "1.6.79".into(),
            calibration_json: br#"{"CalibrationInformation":{"Cameras":[]}}"#.to_vec(),
            depth_calibration: None,
        }),
        writing_app: "k4sync-cli-test".into(),
        extra_tags: Vec::new(),
    }
}

/// Writes `captures` captures at 30 fps from 1 s device time (colour, depth and IR in each, depth
/// sample i = i as u16; with raw depth storage a raw frame of bytes i % 241 instead) and an IMU
/// sample every 1250 µs; windows are written 100 ms after they
/// close so that an abandoned writer leaves most clusters on disk.
pub fn record(path: &Path, h: &RecordingHeader, captures: u64) -> MkvWriter<std::fs::File> {
    let options = WriterOptions {
        uid_seed: Some(0x0C11_7E57),
        date: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        cluster_write_delay_nsec: 100_000_000,
        ..WriterOptions::default()
    };
    let mut w = MkvWriter::create_file(path, h.clone(), options).unwrap();
    let colour = match h.color_format.frame_size(h.color_resolution) {
        Some(n) => (0..n).map(|i| (i % 251) as u8).collect(),
        None => JPEG.to_vec(),
    };
    let depth: Vec<u8> = h
        .depth_mode
        .output_size()
        .map_or(0..0, |(w, h)| 0..(w * h))
        .flat_map(|i| (i as u16).to_le_bytes())
        .collect();
    let raw: Vec<u8> = (0..h.depth_mode.sensor_mode().map_or(0, |m| m.raw_frame_size()))
        .map(|i| (i % 241) as u8)
        .collect();
    let images = h.depth_storage == DepthStorage::Images;
    let mut next_imu = FIRST_CAPTURE_USEC - 500;
    for i in 0..captures {
        let ts = FIRST_CAPTURE_USEC + i * 33_333;
        while h.imu && next_imu <= ts {
            w.write_imu_sample(&ImuSample {
                acc_ts_usec: Usec(next_imu),
                acc_mps2: [0.0, 9.81, i as f32],
                gyro_ts_usec: Usec(next_imu + 1),
                gyro_radps: [0.25, -0.5, 1.0],
            })
            .unwrap();
            next_imu += IMU_PERIOD_USEC;
        }
        let device_ts_usec = Usec(ts);
        w.write_capture(&Capture {
            color: Some(Image {
                device_ts_usec,
                data: &colour,
            }),
            depth: images.then_some(Image {
                device_ts_usec,
                data: &depth,
            }),
            ir: images.then_some(Image {
                device_ts_usec,
                data: &depth,
            }),
            raw_depth: (!images).then_some(Image {
                device_ts_usec,
                data: &raw,
            }),
        })
        .unwrap();
    }
    w
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `shared/samples` beside the repository or beside any further ancestor (worktrees nest deeper).
pub fn samples_dir() -> Option<PathBuf> {
    repo_root()
        .ancestors()
        .map(|dir| dir.join("shared/samples"))
        .find(|dir| dir.is_dir())
}

/// The interop venv interpreter, or `None` with the reason printed (docs/testing.md); fails
/// instead when `K4SYNC_INTEROP_REQUIRED=1`.
pub fn interop_python() -> Option<PathBuf> {
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
            let marker = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("k4sync/interop-venv.skipped"));
            let reason = marker
                .and_then(|m| std::fs::read_to_string(m).ok())
                .map_or_else(
                    || {
                        "K4SYNC_INTEROP_PYTHON is not set (scripts/test.sh sets it from \
                         scripts/interop-venv.sh on x86-64)"
                            .to_owned()
                    },
                    |r| r.trim().to_owned(),
                );
            println!("interop skipped: {reason}");
            None
        }
    }
}

/// `shared/samples/pyk4a_recording.mkv` and its official JSON, if present beside the repository.
pub fn sample() -> Option<(PathBuf, PathBuf)> {
    let dir = samples_dir()?;
    let (mkv, json) = (
        dir.join("pyk4a_recording.mkv"),
        dir.join("pyk4a_recording.official.json"),
    );
    (mkv.exists() && json.exists()).then_some((mkv, json))
}

/// Whether Microsoft's library opens and reads `path` at all.
pub fn official_opens(python: &Path, path: &Path) -> bool {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/interop/official_readout.py");
    Command::new(python)
        .arg(script)
        .arg(path)
        .output()
        .unwrap()
        .status
        .success()
}

/// Microsoft's library's readout of `path` (`tests/interop/official_readout.py`), asking also for
/// every tag named in `ours` (the API cannot list tags).
pub fn official_readout(python: &Path, path: &Path, ours: &serde_json::Value) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/interop/official_readout.py");
    let tags = ours["tags"].as_object().into_iter().flat_map(|t| t.keys());
    let out = Command::new(python)
        .arg(script)
        .arg(path)
        .args(tags.flat_map(|k| ["--tag", k.as_str()]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "official_readout.py {}: {}{}",
        path.display(),
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `k4sync record --emulate -l 1 -r 5 -c 720p -d MODE OUT`: a raw-depth recording with the
/// emulator's synthetic `depth_cal.ccb` (docs/depth.md).
pub fn record_raw_depth(out: &Path, mode: &str) {
    let o = k4sync([
        "record".as_ref(),
        "--emulate".as_ref(),
        "-l".as_ref(),
        "1".as_ref(),
        "-r".as_ref(),
        "5".as_ref(),
        "-c".as_ref(),
        "720p".as_ref(),
        "-d".as_ref(),
        mode.as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "record {mode}: {}", stderr(&o));
}
