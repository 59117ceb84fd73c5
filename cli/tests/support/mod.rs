//! Shared pieces of the command line's integration tests: the built binary and generated
//! recordings; the samples and the interop interpreter come from the host's test support.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "included by several test binaries, each using a different part (so not `expect`)"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{
    Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvWriter, RecordingHeader, WriterOptions,
};

#[path = "../../../host/tests/support/mod.rs"]
mod interop;
pub use interop::*;

pub mod netns;
pub mod rig;

/// The modes of the rig tests' takes against agent processes: three emulated cameras hold them
/// in real time on a 2-core machine in a debug build (docs/rig.md), 3 s at 15 fps.
pub const TAKE_MODES: [&str; 10] = [
    "-c",
    "720p",
    "-d",
    "PASSIVE_IR",
    "-r",
    "15",
    "-e",
    "-6",
    "-l",
    "3",
];

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
