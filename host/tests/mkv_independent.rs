//! Our recordings read by an independent Matroska implementation: MKVToolNix's `mkvmerge -J`
//! (identification as JSON) and `mkvinfo` (a full element walk). Neither shares code or
//! assumptions with our reader, so a structural mistake that our own reader tolerates shows up
//! here. `scripts/setup.sh` installs MKVToolNix; without it the tests print why they skip,
//! unless `K4SYNC_MKVTOOLNIX_REQUIRED=1` (set by `scripts/test.sh`) makes that a failure.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{
    Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvWriter, RecordingHeader, WriterOptions,
};
use serde_json::Value;

fn tool(name: &str) -> Option<&'static str> {
    let found = Command::new(name).arg("--version").output().is_ok();
    let required = std::env::var("K4SYNC_MKVTOOLNIX_REQUIRED").is_ok_and(|v| v == "1");
    assert!(
        found || !required,
        "K4SYNC_MKVTOOLNIX_REQUIRED=1 but `{name}` is not installed (bash scripts/setup.sh)"
    );
    if !found {
        println!("independent reader skipped: `{name}` (MKVToolNix) is not installed");
    }
    found.then_some(if name == "mkvmerge" {
        "mkvmerge"
    } else {
        "mkvinfo"
    })
}

fn header(depth_storage: DepthStorage, depth_mode: DepthMode) -> RecordingHeader {
    RecordingHeader {
        color_format: ColorFormat::Mjpg,
        color_resolution: ColorResolution::R720p,
        depth_mode,
        depth_storage,
        fps: Fps::Fps15,
        imu: true,
        wired_sync_mode: WiredSyncMode::Master,
        depth_delay_off_color_nsec: -77_777,
        subordinate_delay_off_master_nsec: 0,
        device: Some(DeviceInfo {
            serial: "000123456789".into(),
            color_firmware: "1.6.110".into(),
            depth_firmware: "1.6.80".into(),
            calibration_json: br#"{"CalibrationInformation":{}}"#.to_vec(),
            depth_calibration: None,
        }),
        writing_app: "k4sync-independent-reader-test".into(),
        extra_tags: Vec::new(),
    }
}

/// `captures` captures at 15 fps plus IMU, finalised (or abandoned, as a crash leaves it).
fn recording(
    depth_storage: DepthStorage,
    depth_mode: DepthMode,
    captures: u64,
    finalise: bool,
) -> Vec<u8> {
    let options = WriterOptions {
        uid_seed: Some(7),
        ..WriterOptions::default()
    };
    let mut w = MkvWriter::create_with_sync(
        Cursor::new(Vec::new()),
        header(depth_storage, depth_mode),
        options,
        |_| Ok(()),
    )
    .unwrap();
    let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
    let (w16, h16) = depth_mode.output_size().unwrap();
    let image = vec![0x11u8; (w16 * h16 * 2) as usize];
    let raw = depth_mode
        .sensor_mode()
        .map(|m| vec![0x22u8; m.raw_frame_size()])
        .unwrap();
    let mut imu_ts = 990_000;
    for i in 0..captures {
        let ts = 1_000_000 + i * 66_666;
        while imu_ts <= ts {
            w.write_imu_sample(&ImuSample {
                acc_ts_usec: Usec(imu_ts),
                acc_mps2: [0.0, 0.0, 9.81],
                gyro_ts_usec: Usec(imu_ts),
                gyro_radps: [0.0; 3],
            })
            .unwrap();
            imu_ts += 5_000;
        }
        let at = |data| {
            Some(Image {
                device_ts_usec: Usec(ts),
                data,
            })
        };
        let capture = match depth_storage {
            DepthStorage::Images => Capture {
                color: at(&jpeg),
                depth: at(&image),
                ir: at(&image),
                raw_depth: None,
            },
            DepthStorage::Raw => Capture {
                color: at(&jpeg),
                depth: None,
                ir: None,
                raw_depth: at(&raw),
            },
        };
        w.write_capture(&capture).unwrap();
    }
    if finalise {
        w.finalize().unwrap().into_inner()
    } else {
        w.abandon().into_inner()
    }
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".mkv").tempfile().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

fn identify(mkvmerge: &str, path: &Path) -> Value {
    let out = Command::new(mkvmerge).arg("-J").arg(path).output().unwrap();
    serde_json::from_slice(&out.stdout).expect("mkvmerge -J prints JSON")
}

fn track_names_and_codecs(id: &Value) -> Vec<(String, String)> {
    id["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["properties"]["track_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                t["properties"]["codec_id"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn mkvmerge_identifies_every_track_attachment_and_tag_without_complaint() {
    let Some(mkvmerge) = tool("mkvmerge") else {
        return;
    };
    let file = write_temp(&recording(
        DepthStorage::Images,
        DepthMode::NfovUnbinned,
        10,
        true,
    ));
    let id = identify(mkvmerge, file.path());
    assert_eq!(id["container"]["recognized"], true, "{id}");
    assert_eq!(id["container"]["supported"], true, "{id}");
    assert_eq!(id["errors"].as_array().map(Vec::len), Some(0), "{id}");
    assert_eq!(id["warnings"].as_array().map(Vec::len), Some(0), "{id}");
    assert_eq!(
        track_names_and_codecs(&id),
        [
            ("COLOR", "V_MS/VFW/FOURCC"),
            ("DEPTH", "V_MS/VFW/FOURCC"),
            ("IR", "V_MS/VFW/FOURCC"),
            ("IMU", "S_K4A/IMU"),
        ]
        .map(|(n, c)| (n.to_owned(), c.to_owned()))
    );
    let attachments = id["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{id}");
    assert_eq!(attachments[0]["file_name"], "calibration.json");
    let duration_ns = id["container"]["properties"]["duration"].as_u64().unwrap();
    assert!(duration_ns > 0, "{id}");
}

#[test]
fn mkvmerge_reads_the_raw_depth_track_with_its_own_codec_id() {
    let Some(mkvmerge) = tool("mkvmerge") else {
        return;
    };
    let file = write_temp(&recording(
        DepthStorage::Raw,
        DepthMode::PassiveIr,
        10,
        true,
    ));
    let id = identify(mkvmerge, file.path());
    assert_eq!(id["errors"].as_array().map(Vec::len), Some(0), "{id}");
    let tracks = track_names_and_codecs(&id);
    assert!(
        tracks.contains(&("RAW_DEPTH".to_owned(), "V_K4SYNC/RAW_DEPTH".to_owned())),
        "{tracks:?}"
    );
}

#[test]
fn mkvinfo_walks_every_cluster_of_finalised_and_crashed_files() {
    let Some(mkvinfo) = tool("mkvinfo") else {
        return;
    };
    // The writer holds frames back for up to 2 s (as k4arecorder does) before it closes a
    // cluster, so the crashed file needs a few seconds of frames for clusters to reach disk.
    for finalise in [true, false] {
        let file = write_temp(&recording(
            DepthStorage::Images,
            DepthMode::Nfov2x2Binned,
            60,
            finalise,
        ));
        let out = Command::new(mkvinfo)
            .arg("--all")
            .arg(file.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "finalise={finalise}: {text}");
        assert!(!text.contains("Error"), "finalise={finalise}: {text}");
        assert!(text.contains("Cluster"), "finalise={finalise}: {text}");
        let blocks = text.matches("SimpleBlock").count() + text.matches("+ Block ").count();
        assert!(blocks >= 30, "finalise={finalise}: {blocks} blocks\n{text}");
        if finalise {
            assert!(text.contains("Cues"), "{text}");
        }
    }
}
