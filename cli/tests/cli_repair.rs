//! `k4sync repair` (`mkv::repair`): a recording abandoned by a crash and cut anywhere comes back
//! as a finalized file that our reader opens strictly with every complete cluster, that
//! Microsoft's library reads with the same counts (when `K4SYNC_INTEROP_PYTHON` is set, skip rules
//! as in `mkv_interop.rs`) — also where it refused the unrepaired file — and a failed repair
//! leaves the original untouched.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod support;

use std::ffi::OsStr;
use std::path::Path;

use k4sync_host::core::types::ColorFormat;
use k4sync_host::mkv::ebml::id;
use k4sync_host::mkv::MkvReader;
use serde_json::Value;
use support::{
    header, interop_python, k4sync, official_opens, official_readout, record, stderr, stdout,
};

const SEGMENT_DATA_OFFSET: u64 = 52;

fn salvage_readout(path: &Path) -> Value {
    let readout = MkvReader::open_path_salvage(path)
        .unwrap()
        .readout()
        .unwrap();
    serde_json::from_str(&readout.to_official_json()).unwrap()
}

/// Strict open, full readout, and the finalized layout: exact Segment size, SeekHead with Cues,
/// every cue pointing at a Cluster.
fn check_finalized(path: &Path) -> Value {
    let mut reader = MkvReader::open_path(path)
        .unwrap_or_else(|e| panic!("{} does not open strictly: {e}", path.display()));
    assert_eq!(
        reader.segment().size,
        Some(reader.file_len() - SEGMENT_DATA_OFFSET)
    );
    assert!(reader.damage().is_none());
    assert!(!reader.cues.is_empty());
    for &(_, pos) in &reader.cues {
        assert!(reader
            .cluster_offsets()
            .contains(&(pos + SEGMENT_DATA_OFFSET)));
    }
    let sought: Vec<u32> = reader.seek_entries.iter().map(|e| e.0).collect();
    assert_eq!(
        sought,
        [id::INFO, id::TRACKS, id::ATTACHMENTS, id::TAGS, id::CUES]
    );
    for &(element, pos) in &reader.seek_entries {
        assert_eq!(
            reader.element_offsets.get(&element),
            Some(&(pos + SEGMENT_DATA_OFFSET))
        );
    }
    serde_json::from_str(&reader.readout().unwrap().to_official_json()).unwrap()
}

fn repair_to(input: &Path, output: &Path) {
    let out = k4sync([
        OsStr::new("repair"),
        input.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "repair {}: {}{}",
        input.display(),
        stdout(&out),
        stderr(&out)
    );
}

/// An abandoned recording and the file offsets of its clusters.
fn crashed(dir: &Path) -> (Vec<u8>, Vec<u64>) {
    let path = dir.join("crash.mkv");
    drop(record(&path, &header(ColorFormat::Mjpg), 60).abandon());
    let clusters = MkvReader::open_path_salvage(&path)
        .unwrap()
        .cluster_offsets()
        .to_vec();
    assert!(clusters.len() >= 6, "{clusters:?}");
    (std::fs::read(&path).unwrap(), clusters)
}

/// (name, cut length) of the cuts every test below repairs.
fn cuts(len: u64, c: &[u64]) -> Vec<(&'static str, u64)> {
    let mid = c.len() / 2;
    vec![
        ("uncut", len),
        ("mid_last_cluster", c[c.len() - 1] + 100),
        ("cluster_boundary", c[mid]),
        ("inside_cluster_header", c[mid] + 3),
        ("one_byte_short_of_the_second_cluster", c[2] - 1),
    ]
}

#[test]
fn repaired_cuts_open_strictly_with_every_complete_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, clusters) = crashed(dir.path());
    let mut previous_frames = u64::MAX;
    for (name, len) in cuts(bytes.len() as u64, &clusters) {
        let cut = dir.path().join(format!("{name}.mkv"));
        std::fs::write(&cut, &bytes[..len as usize]).unwrap();
        let salvaged = salvage_readout(&cut);
        let fixed = dir.path().join(format!("{name}.fixed.mkv"));
        repair_to(&cut, &fixed);
        assert_eq!(check_finalized(&fixed), salvaged, "{name}");
        let kept = MkvReader::open_path_salvage(&cut)
            .unwrap()
            .cluster_offsets()
            .len();
        let repaired = MkvReader::open_path(&fixed).unwrap();
        assert_eq!(repaired.cluster_offsets().len(), kept, "{name}: clusters");
        assert_eq!(std::fs::read(&cut).unwrap(), &bytes[..len as usize]);
        let frames = salvaged["color"]["frames"].as_u64().unwrap();
        assert!(frames > 0 && frames <= previous_frames, "{name}: {frames}");
        previous_frames = frames;
    }
}

#[test]
fn repair_without_output_replaces_the_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, clusters) = crashed(dir.path());
    std::fs::remove_file(dir.path().join("crash.mkv")).unwrap();
    let path = dir.path().join("rec.mkv");
    std::fs::write(&path, &bytes[..clusters[3] as usize + 50]).unwrap();
    let salvaged = salvage_readout(&path);
    let out = k4sync([OsStr::new("repair"), path.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kept 3 complete cluster(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(check_finalized(&path), salvaged);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [OsStr::new("rec.mkv")]);

    let once = std::fs::read(&path).unwrap();
    let out = k4sync([OsStr::new("repair"), path.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&path).unwrap(), once, "repair is idempotent");
}

#[test]
fn a_failed_repair_leaves_the_original_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, clusters) = crashed(dir.path());
    std::fs::remove_file(dir.path().join("crash.mkv")).unwrap();
    let path = dir.path().join("rec.mkv");
    let content = &bytes[..clusters[0] as usize + 10];
    std::fs::write(&path, content).unwrap();
    let out = k4sync([OsStr::new("repair"), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no complete Cluster"), "{err}");
    assert!(err.contains("was not changed"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_file_with_another_timestamp_scale_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (mut bytes, _) = crashed(dir.path());
    let scale = [0x2A, 0xD7, 0xB1, 0x82, 0x03, 0xE8];
    let at = bytes.windows(6).position(|w| w == scale).unwrap();
    bytes[at + 5] = 0xE9;
    let path = dir.path().join("crash.mkv");
    std::fs::write(&path, &bytes).unwrap();
    let out = k4sync([OsStr::new("repair"), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("TimestampScale 1001"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// A finalized recording cut on a cluster boundary (an interrupted copy): SeekHead and Segment
/// size point past the end.
fn finalized_then_cut(dir: &Path) -> (Vec<u8>, u64) {
    let path = dir.join("whole.mkv");
    record(&path, &header(ColorFormat::Mjpg), 40)
        .finalize()
        .unwrap();
    let clusters = MkvReader::open_path(&path)
        .unwrap()
        .cluster_offsets()
        .to_vec();
    (std::fs::read(&path).unwrap(), clusters[clusters.len() / 2])
}

#[test]
fn a_finalized_file_cut_on_a_cluster_boundary_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, cut_at) = finalized_then_cut(dir.path());
    let cut = dir.path().join("cut.mkv");
    std::fs::write(&cut, &bytes[..cut_at as usize]).unwrap();
    let salvaged = salvage_readout(&cut);
    let fixed = dir.path().join("fixed.mkv");
    repair_to(&cut, &fixed);
    assert_eq!(check_finalized(&fixed), salvaged);
}

/// The state k4arecorder leaves when killed (reference §1.1): Segment size 0, no Info (a Void in
/// its span), no `K4A_START_OFFSET_NS`.
fn k4arecorder_style(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[44..52].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let info = (SEGMENT_DATA_OFFSET + 1027) as usize;
    assert_eq!(&b[info..info + 4], [0x15, 0x49, 0xA9, 0x66]);
    b[info..info + 3].copy_from_slice(&[0xEC, 0x41, 0x00]);
    b[info + 3..info + 259].fill(0);
    let tag = b"K4A_START_OFFSET_NS";
    let at = b.windows(tag.len()).position(|w| w == tag).unwrap();
    b[at + 17..at + 19].copy_from_slice(b"XX");
    b
}

#[test]
fn a_k4arecorder_style_crash_is_repaired_with_the_start_offset_recovered_from_the_imu() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = crashed(dir.path());
    let original = salvage_readout(&dir.path().join("crash.mkv"));
    let killed = dir.path().join("killed.mkv");
    std::fs::write(&killed, k4arecorder_style(&bytes)).unwrap();
    assert!(MkvReader::open_path(&killed).is_err());
    let fixed = dir.path().join("fixed.mkv");
    let out = k4sync([
        OsStr::new("repair"),
        killed.as_os_str(),
        "-o".as_ref(),
        fixed.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("recovered 999500000 from the first IMU sample"),
        "{}",
        stdout(&out)
    );
    let mut repaired = check_finalized(&fixed);
    repaired["tags"]
        .as_object_mut()
        .unwrap()
        .remove("K4A_START_OFFSET_XX");
    let mut expected = original.clone();
    expected["tags"]
        .as_object_mut()
        .unwrap()
        .remove("K4A_START_OFFSET_XX");
    assert_eq!(repaired, expected);
}

#[test]
fn official_library_reads_repaired_files_with_the_salvaged_counts() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (bytes, clusters) = crashed(dir.path());
    let mut files = Vec::new();
    for (name, len) in cuts(bytes.len() as u64, &clusters) {
        let cut = dir.path().join(format!("{name}.mkv"));
        std::fs::write(&cut, &bytes[..len as usize]).unwrap();
        files.push((name, cut));
    }
    let killed = dir.path().join("k4arecorder_style.mkv");
    std::fs::write(&killed, k4arecorder_style(&bytes)).unwrap();
    files.push(("k4arecorder_style", killed));
    let (whole, cut_at) = finalized_then_cut(dir.path());
    let cut = dir.path().join("finalized_then_cut.mkv");
    std::fs::write(&cut, &whole[..cut_at as usize]).unwrap();
    files.push(("finalized_then_cut", cut));
    for (name, cut) in files {
        let opened_before = official_opens(&python, &cut);
        println!("{name}: the official library opens the unrepaired file: {opened_before}");
        let refused = [
            "mid_last_cluster",
            "one_byte_short_of_the_second_cluster",
            "k4arecorder_style",
            "finalized_then_cut",
        ];
        assert_eq!(
            opened_before,
            !refused.contains(&name),
            "{name}: the official library's verdict on the unrepaired file changed"
        );
        let fixed = dir.path().join(format!("{name}.fixed.mkv"));
        repair_to(&cut, &fixed);
        let ours = check_finalized(&fixed);
        let official = official_readout(&python, &fixed, &ours);
        println!("{name}: {official}");
        assert_eq!(official, ours, "{name}");
        if name != "k4arecorder_style" {
            let salvaged = salvage_readout(&cut);
            for stream in ["color", "depth", "ir"] {
                assert_eq!(
                    official[stream]["frames"], salvaged[stream]["frames"],
                    "{name}: {stream}"
                );
            }
            assert_eq!(official["imu"]["samples"], salvaged["imu"]["samples"]);
            assert_eq!(official["captures"], salvaged["captures"]);
        }
    }
}
