//! Reading the real k4arecorder sample must reproduce what Microsoft's playback library reports
//! for it (`shared/samples/pyk4a_recording.official.json`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use k4sync_host::mkv::{MkvReader, Readout, TrackStats};

mod support;

/// The sample's readout, its official JSON and the open reader. The sample is this file's
/// whole input, so a missing one fails here even where `K4SYNC_SAMPLES_OPTIONAL=1` lets other
/// tests go without it.
fn load() -> (
    Readout,
    serde_json::Value,
    MkvReader<std::io::BufReader<std::fs::File>>,
) {
    let (mkv, json) = support::sample().expect(
        "shared/samples/pyk4a_recording.mkv and its official JSON beside the repository \
         (this test reads nothing else; K4SYNC_SAMPLES_OPTIONAL does not skip it)",
    );
    let mut reader = MkvReader::open_path(&mkv).expect("sample opens");
    let readout = reader.readout().expect("sample readout");
    let official = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    (readout, official, reader)
}

fn check_track(name: &str, ours: Option<TrackStats>, official: &serde_json::Value) {
    let t = ours.unwrap_or_else(|| panic!("{name} track missing"));
    assert_eq!(
        t.frames,
        official["frames"].as_u64().unwrap(),
        "{name} frames"
    );
    assert_eq!(
        u64::from(t.width),
        official["width"].as_u64().unwrap(),
        "{name} width"
    );
    assert_eq!(
        u64::from(t.height),
        official["height"].as_u64().unwrap(),
        "{name} height"
    );
    assert_eq!(
        t.first_ts_usec,
        official["first_ts_usec"].as_u64(),
        "{name} first"
    );
    assert_eq!(
        t.last_ts_usec,
        official["last_ts_usec"].as_u64(),
        "{name} last"
    );
}

#[test]
fn sample_readout_matches_the_official_library_field_by_field() {
    let (r, o, _) = load();
    let c = &o["config"];
    assert_eq!(r.length_usec, o["length_usec"].as_u64().unwrap());
    assert_eq!(
        u64::from(r.config.start_timestamp_offset_usec),
        o["start_offset_usec"].as_u64().unwrap()
    );
    let fmt = r.config.color_format.map_or("CUSTOM", |f| f.sdk_name());
    assert_eq!(fmt, c["color_format"]);
    assert_eq!(r.config.color_resolution.sdk_name(), c["color_resolution"]);
    assert_eq!(r.config.depth_mode.sdk_name(), c["depth_mode"]);
    assert_eq!(r.config.camera_fps.sdk_name(), c["camera_fps"]);
    assert_eq!(r.config.color_track_enabled, c["color_track_enabled"]);
    assert_eq!(r.config.depth_track_enabled, c["depth_track_enabled"]);
    assert_eq!(r.config.ir_track_enabled, c["ir_track_enabled"]);
    assert_eq!(r.config.imu_track_enabled, c["imu_track_enabled"]);
    assert_eq!(
        i64::from(r.config.depth_delay_off_color_usec),
        c["depth_delay_off_color_usec"].as_i64().unwrap()
    );
    assert_eq!(r.config.wired_sync_mode.sdk_name(), c["wired_sync_mode"]);
    assert_eq!(
        u64::from(r.config.subordinate_delay_off_master_usec),
        c["subordinate_delay_off_master_usec"].as_u64().unwrap()
    );

    let tags = o["tags"].as_object().unwrap();
    assert_eq!(r.tags.len(), tags.len());
    for (name, value) in tags {
        assert_eq!(
            r.tags.get(name).map(String::as_str),
            value.as_str(),
            "{name}"
        );
    }
    assert_eq!(
        r.sdk_calibration_len().map(|n| n as u64),
        o["calibration_bytes"].as_u64()
    );
    check_track("color", r.color, &o["color"]);
    check_track("depth", r.depth, &o["depth"]);
    check_track("ir", r.ir, &o["ir"]);
    let imu = r.imu.expect("imu");
    assert_eq!(imu.samples, o["imu"]["samples"].as_u64().unwrap());
    assert_eq!(
        imu.first_acc_ts_usec,
        o["imu"]["first_acc_ts_usec"].as_u64()
    );
    assert_eq!(imu.last_acc_ts_usec, o["imu"]["last_acc_ts_usec"].as_u64());
    assert_eq!(r.captures, o["captures"].as_u64().unwrap());
}

#[test]
fn sample_layout_matches_the_reference_observations() {
    let (_, _, reader) = load();
    let seg = reader.segment();
    assert_eq!(seg.data_offset, 52);
    assert_eq!(reader.segment().end(), Some(reader.file_len()));
    assert_eq!(reader.timestamp_scale_nsec(), Some(1000));
    let names: Vec<&str> = reader.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["COLOR", "DEPTH", "IR", "IMU"]);
    assert_eq!(reader.cluster_offsets().len(), 2);
    assert_eq!(reader.cues, vec![(463_945, 7494)]);
    let positions: Vec<u64> = reader.seek_entries.iter().map(|e| e.1).collect();
    assert_eq!(positions, [1027, 1286, 1640, 5611, 1_699_191]);
    assert_eq!(reader.damage(), None);
}
