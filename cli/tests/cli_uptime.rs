//! Recordings that start after long device uptimes. Microsoft's SDK keeps only the low 32 bits
//! of the start offset in µs, which wrap after 2^32 µs (71.6 minutes): `info --json` follows it
//! (the official readout's shape), while `info`, `export` and `align` give the device's real
//! 64-bit time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, DepthMode, WiredSyncMode};
use k4sync_host::mkv::{Capture, Image, MkvWriter, WriterOptions};
use serde_json::Value;

mod support;
use support::{header, k4sync, stderr, stdout, JPEG};

const HOUR_USEC: u64 = 3_600_000_000;
const PERIOD_USEC: u64 = 33_333;
const CAPTURES: u64 = 6;

/// A master's colour-only recording whose first capture is at `uptime_usec` of device time.
fn recording_at(dir: &Path, uptime_usec: u64) -> PathBuf {
    let path = dir.join(format!("up{uptime_usec}.mkv"));
    let mut h = header(ColorFormat::Mjpg);
    h.depth_mode = DepthMode::Off;
    h.imu = false;
    h.wired_sync_mode = WiredSyncMode::Master;
    let mut w = MkvWriter::create_file(&path, h, WriterOptions::default()).unwrap();
    for i in 0..CAPTURES {
        let color = Image {
            device_ts_usec: Usec(uptime_usec + i * PERIOD_USEC),
            data: JPEG,
        };
        w.write_capture(&Capture {
            color: Some(color),
            depth: None,
            ir: None,
            raw_depth: None,
        })
        .unwrap();
    }
    w.finalize().unwrap();
    path
}

fn run_json(args: &[&OsStr]) -> Value {
    let out = k4sync(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn check_uptime(uptime_usec: u64) {
    let dir = tempfile::tempdir().unwrap();
    let file = recording_at(dir.path(), uptime_usec);
    let last = uptime_usec + (CAPTURES - 1) * PERIOD_USEC;
    let sdk_offset = uptime_usec % (1 << 32);
    let wrapped = uptime_usec - sdk_offset;

    let info = run_json(&["info".as_ref(), file.as_os_str(), "--json".as_ref()]);
    assert_eq!(
        info["tags"]["K4A_START_OFFSET_NS"],
        (uptime_usec * 1000).to_string()
    );
    assert_eq!(info["start_offset_usec"], sdk_offset, "{info}");
    assert_eq!(info["color"]["first_ts_usec"], sdk_offset, "{info}");
    assert_eq!(info["color"]["last_ts_usec"], last - wrapped, "{info}");

    let out = k4sync(["info".as_ref(), file.as_os_str()]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("start offset {uptime_usec} µs")),
        "{text}"
    );
    assert!(
        text.contains(&format!("device time {uptime_usec} .. {last} µs")),
        "{text}"
    );
    let note = format!("low 32 bits ({sdk_offset} µs)");
    assert_eq!(text.contains(&note), wrapped > 0, "{text}");

    let out_dir = dir.path().join("export");
    let out = k4sync(["export".as_ref(), file.as_os_str(), out_dir.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(out_dir.join("frames.csv")).unwrap();
    let exported: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|row| row.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    let expected: Vec<u64> = (0..CAPTURES)
        .map(|i| uptime_usec + i * PERIOD_USEC)
        .collect();
    assert_eq!(exported, expected);

    let align = run_json(&["align".as_ref(), file.as_os_str(), "--json".as_ref()]);
    let sets = align["sets"].as_array().unwrap();
    assert_eq!(sets.len() as u64, CAPTURES, "{align}");
    assert_eq!(sets[0]["color"][0], uptime_usec, "{align}");
    assert_eq!(sets[5]["color"][0], last, "{align}");
}

#[test]
fn one_hour_of_uptime_fits_in_32_bits_and_every_command_agrees() {
    check_uptime(HOUR_USEC);
}

#[test]
fn after_two_hours_info_json_wraps_like_the_sdk_and_the_rest_keeps_64_bits() {
    check_uptime(2 * HOUR_USEC);
}

#[test]
fn after_thirty_hours_info_json_wraps_like_the_sdk_and_the_rest_keeps_64_bits() {
    check_uptime(30 * HOUR_USEC);
}
