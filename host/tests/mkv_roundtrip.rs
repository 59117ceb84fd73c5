//! Writer → reader round trips and the conformance checklist of the recording reference (§18)
//! on files our writer produces.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::ebml::{self, id, Children};
use k4sync_host::mkv::{
    crc32, Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvError, MkvReader, MkvWriter,
    RecordingHeader, WriterOptions,
};

const CALIBRATION: &[u8] = br#"{"CalibrationInformation":{}}"#;

fn header() -> RecordingHeader {
    RecordingHeader {
        color_format: ColorFormat::Mjpg,
        color_resolution: ColorResolution::R720p,
        depth_mode: DepthMode::Nfov2x2Binned,
        depth_storage: DepthStorage::Images,
        fps: Fps::Fps30,
        imu: true,
        wired_sync_mode: WiredSyncMode::Subordinate,
        depth_delay_off_color_nsec: -77_777,
        subordinate_delay_off_master_nsec: 155_555,
        device: Some(DeviceInfo {
            serial: "000123456789".into(),
            color_firmware: "1.6.110".into(),
            depth_firmware: "1.6.79".into(),
            calibration_json: [CALIBRATION, b"\0"].concat(),
            depth_calibration: None,
        }),
        writing_app: "k4sync-test".into(),
        extra_tags: vec![("K4SYNC_RIG".into(), "bench".into())],
    }
}

fn options() -> WriterOptions {
    WriterOptions {
        flush_interval: Duration::from_secs(1),
        uid_seed: Some(0x5EED),
        date: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        ..WriterOptions::default()
    }
}

fn jpeg(i: u8) -> Vec<u8> {
    vec![0xFF, 0xD8, i, 0xFF, 0xD9]
}

fn depth_image(i: u8) -> Vec<u8> {
    (0..320 * 288 * 2).map(|k| (k as u8) ^ i).collect()
}

fn imu(ts: u64) -> ImuSample {
    ImuSample {
        acc_ts_usec: Usec(ts),
        acc_mps2: [0.0, 9.81, ts as f32],
        gyro_ts_usec: Usec(ts + 1),
        gyro_radps: [0.25, -0.5, 1.0],
    }
}

const FIRST_CAPTURE_USEC: u64 = 1_000_000;
const PERIOD_USEC: u64 = 33_333;
const FIRST_IMU_USEC: u64 = 999_500;
const IMU_PERIOD_USEC: u64 = 1250;

/// `captures` captures at 30 fps (depth/IR 77 µs before colour) with IMU every 1250 µs from
/// before the first capture, written in device order.
fn write_recording(
    header: RecordingHeader,
    captures: u64,
    with_depth: bool,
) -> (MkvWriter<Cursor<Vec<u8>>>, u64) {
    let mut w = MkvWriter::create_with_sync(Cursor::new(Vec::new()), header, options(), |_| Ok(()))
        .unwrap();
    let mut next_imu = FIRST_IMU_USEC;
    let mut imu_count = 0;
    for i in 0..captures {
        let colour_ts = FIRST_CAPTURE_USEC + i * PERIOD_USEC;
        while next_imu <= colour_ts {
            w.write_imu_sample(&imu(next_imu)).unwrap();
            next_imu += IMU_PERIOD_USEC;
            imu_count += 1;
        }
        let colour = jpeg(i as u8);
        let depth = depth_image(i as u8);
        let ir = depth_image(!(i as u8));
        let depth_ts = Usec(colour_ts - 77);
        w.write_capture(&Capture {
            color: Some(Image {
                device_ts_usec: Usec(colour_ts),
                data: &colour,
            }),
            depth: with_depth.then_some(Image {
                device_ts_usec: depth_ts,
                data: &depth,
            }),
            ir: with_depth.then_some(Image {
                device_ts_usec: depth_ts,
                data: &ir,
            }),
            raw_depth: None,
        })
        .unwrap();
    }
    (w, imu_count)
}

fn finalized(captures: u64) -> (Vec<u8>, u64) {
    let (w, imu_count) = write_recording(header(), captures, true);
    (w.finalize().unwrap().into_inner(), imu_count)
}

/// Top-level children of the Segment: (id, offset, data bytes).
fn top_level(file: &[u8]) -> Vec<(u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 52u64;
    while (at as usize) < file.len() {
        let h = ebml::parse_header(&file[at as usize..], at, "test").unwrap();
        let end = h.end().unwrap();
        out.push((
            h.id,
            at,
            file[h.data_offset as usize..end as usize].to_vec(),
        ));
        at = end;
    }
    out
}

#[test]
fn synthetic_recording_round_trips_config_tags_frames_and_imu() {
    let (file, imu_count) = finalized(40);
    let mut r = MkvReader::open(Cursor::new(file)).unwrap();
    let out = r.readout().unwrap();
    let c = out.config;
    assert_eq!(c.color_format, Some(ColorFormat::Mjpg));
    assert_eq!(c.color_resolution, ColorResolution::R720p);
    assert_eq!(c.depth_mode, DepthMode::Nfov2x2Binned);
    assert_eq!(c.camera_fps, Fps::Fps30);
    assert!(c.color_track_enabled && c.depth_track_enabled && c.ir_track_enabled);
    assert!(c.imu_track_enabled);
    assert_eq!(c.depth_delay_off_color_usec, -77);
    assert_eq!(c.wired_sync_mode, WiredSyncMode::Subordinate);
    assert_eq!(c.subordinate_delay_off_master_usec, 155);
    assert_eq!(u64::from(c.start_timestamp_offset_usec), FIRST_IMU_USEC);

    let last_colour = FIRST_CAPTURE_USEC + 39 * PERIOD_USEC;
    for (stats, first, last) in [
        (out.color, FIRST_CAPTURE_USEC, last_colour),
        (out.depth, FIRST_CAPTURE_USEC - 77, last_colour - 77),
        (out.ir, FIRST_CAPTURE_USEC - 77, last_colour - 77),
    ] {
        let s = stats.unwrap();
        assert_eq!(
            (s.frames, s.first_ts_usec, s.last_ts_usec),
            (40, Some(first), Some(last))
        );
    }
    assert_eq!(
        (out.depth.unwrap().width, out.depth.unwrap().height),
        (320, 288)
    );
    let imu_stats = out.imu.unwrap();
    assert_eq!(imu_stats.samples, imu_count);
    assert_eq!(imu_stats.first_acc_ts_usec, Some(FIRST_IMU_USEC));
    assert_eq!(
        imu_stats.last_acc_ts_usec,
        Some(FIRST_IMU_USEC + (imu_count - 1) * IMU_PERIOD_USEC)
    );
    assert_eq!(out.captures, 40);
    assert_eq!(out.length_usec, last_colour - FIRST_IMU_USEC);
    assert_eq!(out.calibration.as_deref(), Some(CALIBRATION));

    let t = &out.tags;
    let uid = |name: &str| {
        r.tracks
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .uid
            .to_string()
    };
    let expected = [
        ("K4A_COLOR_TRACK", uid("COLOR")),
        ("K4A_COLOR_MODE", "MJPG_720P".into()),
        ("K4A_DEPTH_TRACK", uid("DEPTH")),
        ("K4A_DEPTH_MODE", "NFOV_2X2BINNED".into()),
        ("K4A_IR_TRACK", uid("IR")),
        ("K4A_IR_MODE", "ACTIVE".into()),
        ("K4A_DEPTH_DELAY_NS", "-77777".into()),
        ("K4A_WIRED_SYNC_MODE", "SUBORDINATE".into()),
        ("K4A_SUBORDINATE_DELAY_NS", "155555".into()),
        ("K4A_COLOR_FIRMWARE_VERSION", "1.6.110".into()),
        ("K4A_DEPTH_FIRMWARE_VERSION", "1.6.79".into()),
        ("K4A_DEVICE_SERIAL_NUMBER", "000123456789".into()),
        ("K4A_CALIBRATION_FILE", "calibration.json".into()),
        ("K4A_IMU_TRACK", uid("IMU")),
        ("K4A_IMU_MODE", "ON".into()),
        ("K4SYNC_RIG", "bench".into()),
        ("K4A_START_OFFSET_NS", (FIRST_IMU_USEC * 1000).to_string()),
    ];
    let order: Vec<&str> = r.tags.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(order, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (name, value) in &expected {
        assert_eq!(t.get(*name), Some(value), "{name}");
    }
}

#[test]
fn depth_samples_are_stored_big_endian_and_colour_bytes_verbatim() {
    let (file, _) = finalized(3);
    let mut r = MkvReader::open(Cursor::new(file)).unwrap();
    let depth_track = r.tracks.iter().find(|t| t.name == "DEPTH").unwrap().number;
    let colour_track = r.tracks.iter().find(|t| t.name == "COLOR").unwrap().number;
    let blocks: Vec<_> = r.clusters().flat_map(|c| c.unwrap().blocks).collect();
    let depth: Vec<_> = blocks.iter().filter(|b| b.track == depth_track).collect();
    let le = depth_image(0);
    let stored = &depth[0].frames[0];
    assert_eq!(stored.len(), le.len());
    assert!(stored
        .chunks(2)
        .zip(le.chunks(2))
        .all(|(s, l)| s[0] == l[1] && s[1] == l[0]));
    let colour: Vec<_> = blocks.iter().filter(|b| b.track == colour_track).collect();
    assert_eq!(colour[2].frames[0], jpeg(2));
}

#[test]
fn checklist_1_ebml_header_is_the_40_reference_bytes() {
    let (file, _) = finalized(2);
    let mut expected = vec![
        0x1A, 0x45, 0xDF, 0xA3, 0xA3, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7,
    ];
    expected.extend([
        0x81, 0x01, 0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08, 0x42, 0x82, 0x88,
    ]);
    expected.extend(b"matroska");
    expected.extend([0x42, 0x87, 0x81, 0x02, 0x42, 0x85, 0x81, 0x02]);
    assert_eq!(&file[..40], &expected[..]);
}

#[test]
fn checklist_2_segment_size_is_8_bytes_and_file_length_minus_52() {
    let (file, _) = finalized(2);
    assert_eq!(&file[40..44], &[0x18, 0x53, 0x80, 0x67]);
    let v = ebml::decode_vint(&file[44..]).unwrap();
    assert_eq!(v.len, 8);
    assert_eq!(v.value, Some(file.len() as u64 - 52));
}

#[test]
fn checklist_3_seek_head_is_first_and_every_entry_lands_on_its_element() {
    let (file, _) = finalized(40);
    let r = MkvReader::open(Cursor::new(file.clone())).unwrap();
    let elements = top_level(&file);
    assert_eq!(elements[0].0, id::SEEK_HEAD);
    let ids: Vec<u32> = r.seek_entries.iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        [id::INFO, id::TRACKS, id::ATTACHMENTS, id::TAGS, id::CUES]
    );
    for (element, pos) in &r.seek_entries {
        let at = 52 + pos;
        assert!(at < file.len() as u64);
        let h = ebml::parse_header(&file[at as usize..], at, "test").unwrap();
        assert_eq!(h.id, *element);
    }
}

#[test]
fn checklist_4_info_has_scale_1000_title_and_duration_of_the_last_item() {
    let (file, _) = finalized(40);
    let info = top_level(&file)
        .into_iter()
        .find(|e| e.0 == id::INFO)
        .unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for c in Children::new(&info.2, 0) {
        let c = c.unwrap();
        seen.insert(c.header.id, c);
    }
    assert_eq!(seen[&id::TIMESTAMP_SCALE].uint().unwrap(), 1000);
    assert_eq!(seen[&id::TITLE].string(), "Azure Kinect");
    let last = FIRST_CAPTURE_USEC + 39 * PERIOD_USEC - FIRST_IMU_USEC;
    assert_eq!(seen[&id::DURATION].float().unwrap(), last as f32 as f64);
}

#[test]
fn checklist_5_tracks_sit_at_segment_offset_1286() {
    let (file, _) = finalized(1);
    let tracks = top_level(&file)
        .into_iter()
        .find(|e| e.0 == id::TRACKS)
        .unwrap();
    assert_eq!(tracks.1 - 52, 1286);
    let info = top_level(&file)
        .into_iter()
        .find(|e| e.0 == id::INFO)
        .unwrap();
    assert_eq!(info.1 - 52, 1027);
}

#[test]
fn checklist_6_and_7_tracks_are_ordered_typed_and_carry_matching_bitmap_headers() {
    let (file, _) = finalized(1);
    let r = MkvReader::open(Cursor::new(file)).unwrap();
    let names: Vec<&str> = r.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["COLOR", "DEPTH", "IR", "IMU"]);
    let mut uids = std::collections::HashSet::new();
    for (i, t) in r.tracks.iter().enumerate() {
        assert_eq!(t.number, i as u64 + 1);
        assert!(t.uid != 0 && t.uid < 1 << 60 && uids.insert(t.uid));
        if t.name == "IMU" {
            assert_eq!((t.track_type, t.codec_id.as_str()), (17, "S_K4A/IMU"));
            assert!(t.codec_private.is_empty());
            continue;
        }
        assert_eq!((t.track_type, t.codec_id.as_str()), (1, "V_MS/VFW/FOURCC"));
        assert_eq!(t.default_duration_nsec, Some(33_333_333));
        let p = &t.codec_private;
        assert_eq!(p.len(), 40);
        let u32_at = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().unwrap());
        assert_eq!(Some(u32_at(4)), t.width);
        assert_eq!(Some(u32_at(8)), t.height);
    }
    let colour = &r.tracks[0].codec_private;
    assert_eq!(
        &colour[..24],
        &[
            0x28, 0, 0, 0, 0x00, 0x05, 0, 0, 0xd0, 0x02, 0, 0, 1, 0, 24, 0, b'M', b'J', b'P', b'G',
            0, 0, 0, 0
        ]
    );
    let depth = &r.tracks[1].codec_private;
    assert_eq!(
        &depth[14..24],
        &[16, 0, b'b', b'1', b'6', b'g', 0x00, 0xD0, 0x02, 0x00]
    );
}

#[test]
fn checklist_8_track_tags_target_the_uid_they_name() {
    let (file, _) = finalized(1);
    let r = MkvReader::open(Cursor::new(file)).unwrap();
    for (tag, name) in [
        ("K4A_COLOR_TRACK", "COLOR"),
        ("K4A_DEPTH_TRACK", "DEPTH"),
        ("K4A_IR_TRACK", "IR"),
        ("K4A_IMU_TRACK", "IMU"),
    ] {
        let t = r.tag(tag).unwrap();
        assert_eq!(t.target_type, "TRACK");
        assert_eq!(t.value, t.track_uid.to_string());
        let track = r.tracks.iter().find(|x| x.uid == t.track_uid).unwrap();
        assert_eq!(track.name, name);
    }
}

#[test]
fn checklist_9_delay_tags_follow_the_presence_rules() {
    let mut h = header();
    h.color_resolution = ColorResolution::Off;
    h.wired_sync_mode = WiredSyncMode::Master;
    let w = MkvWriter::create_with_sync(Cursor::new(Vec::new()), h, options(), |_| Ok(())).unwrap();
    let r = MkvReader::open(Cursor::new(w.finalize().unwrap().into_inner())).unwrap();
    assert!(r.tag("K4A_DEPTH_DELAY_NS").is_none());
    assert!(r.tag("K4A_SUBORDINATE_DELAY_NS").is_none());
    assert!(r.tag("K4A_START_OFFSET_NS").is_none());
    assert_eq!(r.tag("K4A_WIRED_SYNC_MODE").unwrap().value, "MASTER");

    let mut h = header();
    h.depth_mode = DepthMode::PassiveIr;
    let w = MkvWriter::create_with_sync(Cursor::new(Vec::new()), h, options(), |_| Ok(())).unwrap();
    let r = MkvReader::open(Cursor::new(w.finalize().unwrap().into_inner())).unwrap();
    let mode = r.tag("K4A_DEPTH_MODE").unwrap();
    assert_eq!(
        (mode.value.as_str(), mode.target_type.as_str()),
        ("PASSIVE_IR", "")
    );
    assert_eq!(r.tag("K4A_IR_MODE").unwrap().value, "PASSIVE");
    assert!(r.tag("K4A_DEPTH_DELAY_NS").is_some());
    assert!(r.tracks.iter().all(|t| t.name != "DEPTH"));
}

#[test]
fn checklist_10_global_tags_have_empty_targets_and_tags_and_clusters_carry_valid_crcs() {
    let (file, _) = finalized(40);
    let mut crc_checked = 0;
    for (element, at, data) in top_level(&file) {
        if element != id::TAGS && element != id::CLUSTER {
            continue;
        }
        let first = Children::new(&data, 0).next().unwrap().unwrap();
        assert_eq!(first.header.id, id::CRC32, "element at {at}");
        let rest = &data[first.header.end().unwrap() as usize..];
        assert_eq!(first.data, crc32(rest).to_le_bytes(), "element at {at}");
        crc_checked += 1;
    }
    assert!(crc_checked > 2);
    let r = MkvReader::open(Cursor::new(file)).unwrap();
    let wired = r.tag("K4A_WIRED_SYNC_MODE").unwrap();
    assert_eq!((wired.target_type.as_str(), wired.track_uid), ("", 0));
}

#[test]
fn checklist_11_calibration_attachment_is_stored_without_nul_and_tagged() {
    let (file, _) = finalized(1);
    let r = MkvReader::open(Cursor::new(file)).unwrap();
    let a = &r.attachments[0];
    assert_eq!(
        (a.name.as_str(), a.mime_type.as_str()),
        ("calibration.json", "application/octet-stream")
    );
    assert_eq!(a.data, CALIBRATION);
    let tag = r.tag("K4A_CALIBRATION_FILE").unwrap();
    assert_eq!(
        (tag.target_type.as_str(), tag.attachment_uid),
        ("ATTACHMENT", a.uid)
    );
}

#[test]
fn checklist_12_13_15_file_times_are_offset_device_times_within_32ms_clusters() {
    let (file, _) = finalized(40);
    let mut r = MkvReader::open(Cursor::new(file)).unwrap();
    let offset_usec = u64::from(r.start_offset_usec().unwrap());
    let imu_track = r.tracks.iter().find(|t| t.name == "IMU").unwrap().number;
    let clusters: Vec<_> = r.clusters().map(Result::unwrap).collect();
    assert_eq!(clusters[0].timestamp_ticks, 0);
    assert_eq!(clusters[0].blocks[0].time_ticks, 0);
    let mut previous = 0;
    let mut windows = std::collections::HashSet::new();
    for c in &clusters {
        assert!(windows.insert((c.timestamp_ticks + offset_usec) / 32_000));
        for b in &c.blocks {
            let rel = b.time_ticks - c.timestamp_ticks as i64;
            assert!((0..32_000).contains(&rel));
            assert!(b.time_ticks >= previous);
            previous = b.time_ticks;
            if b.track == imu_track {
                assert!(!b.simple && b.frames.len() <= 256);
                assert!(b.frames.iter().all(|f| f.len() == 40));
                let acc = |f: &Vec<u8>| u64::from_le_bytes(f[..8].try_into().unwrap());
                assert_eq!(
                    acc(&b.frames[0]),
                    (offset_usec + b.time_ticks as u64) * 1000
                );
                let span = (acc(b.frames.last().unwrap()) - acc(&b.frames[0])) / 1000;
                assert_eq!(b.duration_ticks, Some(span + 1));
            } else {
                assert!(b.simple && b.frames.len() == 1);
            }
        }
    }
}

#[test]
fn checklist_17_cues_point_at_clusters_with_the_first_track_1_block() {
    let (file, _) = finalized(90);
    let mut r = MkvReader::open(Cursor::new(file)).unwrap();
    let cues = r.cues.clone();
    assert!(cues.len() >= 3);
    for pair in cues.windows(2) {
        assert!(pair[1].0 >= pair[0].0 + 1_000_000 || pair[0].0 == 0);
    }
    for (time, pos) in cues {
        let cluster = r.read_cluster_at(52 + pos).unwrap();
        let first = cluster.blocks.iter().find(|b| b.track == 1).unwrap();
        assert_eq!(first.time_ticks as u64, time);
    }
}

#[test]
fn crashed_writer_leaves_info_and_start_offset_and_salvage_cuts_to_the_last_complete_cluster() {
    let (w, _) = write_recording(header(), 100, true);
    let mut file = w.abandon().into_inner();
    let whole = file.len();
    file.truncate(whole - 1000);
    match MkvReader::open(Cursor::new(file.clone())) {
        Err(MkvError::Truncated { offset, .. }) => assert_eq!(offset, file.len() as u64),
        other => panic!("strict open of a cut file: {:?}", other.map(|_| ())),
    }
    let mut r = MkvReader::open_salvage(Cursor::new(file.clone())).unwrap();
    assert!(r.damage().is_some());
    assert_eq!(r.segment().size, None);
    let until = r.complete_until().unwrap();
    file.truncate(until as usize);
    assert!(MkvReader::open(Cursor::new(file.clone())).is_ok());
    assert_eq!(r.timestamp_scale_nsec(), Some(1000));
    assert_eq!(r.tag("K4A_START_OFFSET_NS").unwrap().value, "999500000");
    let out = r.readout().unwrap();
    let colour = out.color.unwrap();
    assert!(
        colour.frames > 20 && colour.frames < 100,
        "{}",
        colour.frames
    );
    assert_eq!(colour.first_ts_usec, Some(FIRST_CAPTURE_USEC));
}
