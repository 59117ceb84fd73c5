//! `k4sync info`: the official readout shape on clean files (the real sample equals Microsoft's
//! readout of it), a marked salvage readout on cut files, and `ok: false` with exit 1 on files
//! that cannot be read.

mod support;

use k4sync_host::core::types::ColorFormat;
use k4sync_host::mkv::{DepthStorage, MkvReader, RecordingHeader};
use serde_json::Value;
use support::{header, k4sync, record, sample, stderr, stdout};

fn info_json(path: &std::path::Path) -> (Option<i32>, Value) {
    let out = k4sync([
        std::ffi::OsStr::new("info"),
        path.as_os_str(),
        "--json".as_ref(),
    ]);
    let json = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "info --json prints JSON ({e}): {}{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code(), json)
}

#[test]
fn info_json_on_the_real_sample_equals_the_official_readout() {
    let Some((mkv, json)) = sample() else {
        println!("skipped: sample recording not found beside the repository (shared/samples)");
        return;
    };
    let (code, ours) = info_json(&mkv);
    let official: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(ours, official);
}

#[test]
fn info_json_on_a_finalized_recording_is_the_readout_without_salvage_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.mkv");
    record(&path, &header(ColorFormat::Mjpg), 20)
        .finalize()
        .unwrap();
    let (code, json) = info_json(&path);
    assert_eq!(code, Some(0));
    let expected: Value = serde_json::from_str(
        &MkvReader::open_path(&path)
            .unwrap()
            .readout()
            .unwrap()
            .to_official_json(),
    )
    .unwrap();
    assert_eq!(json, expected);
    assert!(json.get("salvaged").is_none());
    assert_eq!(json["color"]["frames"], 20);
    assert_eq!(json["captures"], 20);

    let text = k4sync([std::ffi::OsStr::new("info"), path.as_os_str()]);
    let text = stdout(&text);
    assert!(!text.contains("warning"), "{text}");
    assert!(text.contains("colour: 20 frames 1280x720"), "{text}");
    assert!(
        text.contains("K4A_DEVICE_SERIAL_NUMBER = 000123456789"),
        "{text}"
    );
}

#[test]
fn info_text_counts_the_raw_depth_track_that_the_official_readout_does_not_show() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.mkv");
    let h = RecordingHeader {
        depth_storage: DepthStorage::Raw,
        ..header(ColorFormat::Mjpg)
    };
    record(&path, &h, 12).finalize().unwrap();
    let (code, json) = info_json(&path);
    assert_eq!(code, Some(0));
    assert!(
        json.get("raw_depth").is_none() && json["depth"].is_null(),
        "{json}"
    );

    let readout = MkvReader::open_path(&path).unwrap().readout().unwrap();
    let [raw] = readout.custom.as_slice() else {
        panic!("one custom track: {:?}", readout.custom);
    };
    assert_eq!((raw.name.as_str(), raw.stats.frames), ("RAW_DEPTH", 12));
    let first = raw.stats.first_ts_usec.unwrap();
    assert_eq!(raw.stats.last_ts_usec, Some(first + 11 * 33_333));

    let text = stdout(&k4sync([std::ffi::OsStr::new("info"), path.as_os_str()]));
    let expected = format!(
        "RAW_DEPTH (custom track, V_K4SYNC/RAW_DEPTH): 12 frames 320x288, device time {first} .. {} µs",
        first + 11 * 33_333
    );
    assert!(text.contains(&expected), "{expected}\nnot in\n{text}");
}

#[test]
fn info_reads_every_complete_cluster_of_a_cut_recording_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.mkv");
    drop(record(&path, &header(ColorFormat::Mjpg), 40).abandon());
    let bytes = std::fs::read(&path).unwrap();
    let clusters = MkvReader::open_path_salvage(&path)
        .unwrap()
        .cluster_offsets()
        .to_vec();
    assert!(clusters.len() > 3);
    let last = *clusters.last().unwrap();
    let torn = dir.path().join("torn.mkv");
    std::fs::write(&torn, &bytes[..last as usize + 20]).unwrap();

    let mut salvage = MkvReader::open_path_salvage(&torn).unwrap();
    let expected: Value =
        serde_json::from_str(&salvage.readout().unwrap().to_official_json()).unwrap();
    let (code, json) = info_json(&torn);
    assert_eq!(code, Some(0));
    assert_eq!(json["salvaged"], true);
    assert_eq!(json["damage"]["offset"], last);
    let mut stripped = json.clone();
    stripped.as_object_mut().unwrap().remove("salvaged");
    stripped.as_object_mut().unwrap().remove("damage");
    assert_eq!(stripped, expected);
    assert!(json["color"]["frames"].as_u64().unwrap() > 0);

    let (_, unfinished) = info_json(&path);
    assert_eq!(unfinished["salvaged"], true);
    assert_eq!(unfinished["damage"], Value::Null);

    let text = stdout(&k4sync([std::ffi::OsStr::new("info"), torn.as_os_str()]));
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("warning: "), "{text}");
    assert!(first.contains(&format!("at byte {last}")), "{first}");
}

#[test]
fn a_finalized_recording_cut_on_a_cluster_boundary_is_reported_as_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.mkv");
    record(&path, &header(ColorFormat::Mjpg), 40)
        .finalize()
        .unwrap();
    let clusters = MkvReader::open_path(&path)
        .unwrap()
        .cluster_offsets()
        .to_vec();
    let cut_at = clusters[clusters.len() / 2];
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &std::fs::read(&path).unwrap()[..cut_at as usize]).unwrap();
    let (code, json) = info_json(&cut);
    assert_eq!(code, Some(0));
    assert_eq!(json["salvaged"], true);
    assert_eq!(json["damage"]["offset"], cut_at);
    let what = json["damage"]["what"].as_str().unwrap();
    assert!(
        what.contains("ends before the Segment's declared end"),
        "{what}"
    );
    assert!(json["color"]["frames"].as_u64().unwrap() < 40);
}

#[test]
fn unreadable_files_give_ok_false_naming_the_problem_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mkv");
    record(&good, &header(ColorFormat::Mjpg), 3)
        .finalize()
        .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases = [
        ("garbage.mkv", b"this is not matroska".to_vec(), "byte 0"),
        ("header_only.mkv", bytes[..30].to_vec(), "byte 30"),
        ("no_cluster.mkv", bytes[..2000].to_vec(), "no Cluster"),
    ];
    for (name, content, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (code, json) = info_json(&path);
        assert_eq!(code, Some(1), "{name}");
        assert_eq!(json["ok"], false, "{name}");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(needle), "{name}: {error}");
        assert!(error.contains(name), "{name}: {error}");
        let text = k4sync([std::ffi::OsStr::new("info"), path.as_os_str()]);
        assert_eq!(text.status.code(), Some(1));
        assert!(stderr(&text).contains(needle), "{}", stderr(&text));
    }
    let missing = dir.path().join("missing.mkv");
    let (code, json) = info_json(&missing);
    assert_eq!(code, Some(1));
    assert!(json["error"].as_str().unwrap().contains("missing.mkv"));
}
