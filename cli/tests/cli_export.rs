//! `k4sync export`: one file per frame in the stream's format, one CSV row per frame and per IMU
//! sample, progress lines, and clear errors.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod support;

use std::ffi::OsStr;
use std::path::Path;

use k4sync_host::core::types::ColorFormat;
use k4sync_host::mkv::{DepthStorage, MkvReader};
use support::{header, k4sync, record, sample, stderr, stdout, FIRST_CAPTURE_USEC};

fn files_with(dir: &Path, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(&format!(".{ext}")))
        .collect();
    names.sort();
    names
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn export_writes_a_file_and_a_csv_row_per_frame_and_a_row_per_imu_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("rec.mkv");
    let captures = 12;
    record(&mkv, &header(ColorFormat::Mjpg), captures)
        .finalize()
        .unwrap();
    let imu_samples = MkvReader::open_path(&mkv)
        .unwrap()
        .readout()
        .unwrap()
        .imu
        .unwrap()
        .samples;
    let out_dir = dir.path().join("out");
    let out = k4sync([OsStr::new("export"), mkv.as_os_str(), out_dir.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("exported 12 colour, 12 depth, 12 IR"));

    assert_eq!(files_with(&out_dir, "jpg").len(), 12);
    assert_eq!(files_with(&out_dir, "u16").len(), 24);
    let frames = csv_rows(&out_dir.join("frames.csv"));
    assert_eq!(frames.len(), 36);
    for (i, row) in frames.iter().filter(|r| r[0] == "color").enumerate() {
        let ts = FIRST_CAPTURE_USEC + i as u64 * 33_333;
        assert_eq!(row[1], i.to_string());
        assert_eq!(row[2], ts.to_string());
        assert_eq!(row[3], format!("color_{i:06}.jpg"));
        assert_eq!(&row[4..], ["MJPG", "1280", "720"]);
    }
    assert_eq!(
        std::fs::read(out_dir.join("color_000003.jpg")).unwrap(),
        support::JPEG
    );
    let depth = std::fs::read(out_dir.join("depth_000000.u16")).unwrap();
    assert_eq!(depth.len(), 320 * 288 * 2);
    let samples: Vec<u16> = depth
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(&samples[..4], [0, 1, 2, 3]);
    assert_eq!(samples[1000], 1000);

    let imu = csv_rows(&out_dir.join("imu.csv"));
    assert_eq!(imu.len() as u64, imu_samples);
    assert_eq!(imu[0][0], (FIRST_CAPTURE_USEC - 500).to_string());
    assert_eq!(imu[0][4], (FIRST_CAPTURE_USEC - 499).to_string());
    assert_eq!(&imu[0][1..4], ["0", "9.81", "0"]);
    assert_eq!(imu[0][8], "");
}

#[test]
fn raw_colour_frames_keep_their_bytes_and_the_csv_names_their_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("nv12.mkv");
    record(&mkv, &header(ColorFormat::Nv12), 3)
        .finalize()
        .unwrap();
    let out_dir = dir.path().join("out");
    let out = k4sync([OsStr::new("export"), mkv.as_os_str(), out_dir.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = files_with(&out_dir, "nv12");
    assert_eq!(files.len(), 3);
    let frame = std::fs::read(out_dir.join(&files[0])).unwrap();
    assert_eq!(frame.len(), 1280 * 720 * 3 / 2);
    assert_eq!(frame[300], (300 % 251) as u8);
    let rows = csv_rows(&out_dir.join("frames.csv"));
    assert!(rows
        .iter()
        .filter(|r| r[0] == "color")
        .all(|r| r[4..] == ["NV12", "1280", "720"]));
}

#[test]
fn raw_depth_frames_are_exported_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("raw.mkv");
    let mut h = header(ColorFormat::Mjpg);
    h.depth_storage = DepthStorage::Raw;
    record(&mkv, &h, 2).finalize().unwrap();
    let out_dir = dir.path().join("out");
    let out = k4sync([OsStr::new("export"), mkv.as_os_str(), out_dir.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_with(&out_dir, "u16").len(), 0);
    assert_eq!(
        files_with(&out_dir, "bin"),
        ["raw_depth_000000.bin", "raw_depth_000001.bin"]
    );
    let frame = std::fs::read(out_dir.join("raw_depth_000001.bin")).unwrap();
    let expected: Vec<u8> = (0..frame.len()).map(|i| (i % 241) as u8).collect();
    assert_eq!(frame.len(), 5_310_760, "NFOV raw frame size");
    assert!(frame == expected);
    let rows = csv_rows(&out_dir.join("frames.csv"));
    let raw: Vec<_> = rows.iter().filter(|r| r[0] == "raw_depth").collect();
    assert_eq!(raw.len(), 2);
    assert_eq!(raw[1][2], (FIRST_CAPTURE_USEC + 33_333).to_string());
    assert_eq!(&raw[1][4..], ["RAW_DEPTH", "320", "288"]);
}

#[test]
fn export_json_reports_progress_lines_then_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("rec.mkv");
    record(&mkv, &header(ColorFormat::Mjpg), 90)
        .finalize()
        .unwrap();
    let out_dir = dir.path().join("out");
    let out = k4sync([
        OsStr::new("export"),
        mkv.as_os_str(),
        out_dir.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summary, progress) = lines.split_last().unwrap();
    assert!(progress.len() >= 2, "{}", stdout(&out));
    let mut last = 0;
    for p in progress {
        let frames = p["progress"]["frames"].as_u64().unwrap();
        assert!(frames >= last + 100, "{p}");
        assert!(p["progress"]["cluster"].as_u64() <= p["progress"]["clusters"].as_u64());
        last = frames;
    }
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["frames"]["color"], 90);
    assert_eq!(summary["frames"]["depth"], 90);
    assert_eq!(summary["frames"]["raw_depth"], 0);
    assert_eq!(summary["salvaged"], false);
}

#[test]
fn export_errors_name_the_path_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("rec.mkv");
    record(&mkv, &header(ColorFormat::Mjpg), 2)
        .finalize()
        .unwrap();
    let blocker = dir.path().join("a_file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = k4sync([
        OsStr::new("export"),
        mkv.as_os_str(),
        blocker.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["error"].as_str().unwrap().contains("a_file"), "{json}");

    let missing = dir.path().join("missing.mkv");
    let out = k4sync([
        OsStr::new("export"),
        missing.as_os_str(),
        dir.path().join("o").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.mkv"), "{}", stderr(&out));
}

#[test]
fn export_of_the_real_sample_gives_one_frame_per_stream() {
    let Some((mkv, _)) = sample() else {
        println!("skipped: sample recording not found beside the repository (shared/samples)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = k4sync([
        OsStr::new("export"),
        mkv.as_os_str(),
        dir.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(files_with(dir.path(), "jpg"), ["color_000000.jpg"]);
    assert_eq!(files_with(dir.path(), "u16").len(), 2);
    let jpg = std::fs::read(dir.path().join("color_000000.jpg")).unwrap();
    assert_eq!(&jpg[..2], [0xFF, 0xD8]);
    let rows = csv_rows(&dir.path().join("frames.csv"));
    assert!(rows.iter().all(|r| r[2] == "800222"), "{rows:?}");
    assert_eq!(csv_rows(&dir.path().join("imu.csv")).len(), 1);
}
