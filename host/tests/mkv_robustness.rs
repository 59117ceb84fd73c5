//! Laws of the EBML layer and the reader's behaviour on damaged input: random bytes, and
//! mutants of a valid recording (`mutate`, shared with the core's codec properties), most of
//! which the reader still opens, so the checks behind its header walk run on damaged files.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::ebml::{self, Children};
use k4sync_host::mkv::{
    Capture, DepthStorage, Image, ImuSample, MkvReader, MkvWriter, RecordingHeader, WriterOptions,
};
use proptest::prelude::*;

#[path = "../../core/tests/support/mutate.rs"]
mod mutate;

use mutate::{assert_gate_share, mutated, MIN_GATE_SHARE};

/// Files for the never-panic property: random bytes, or mutants of a small recording.
fn recording_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..2000),
        4 => mutated(Just(small_recording())),
    ]
}

/// Strict open with a readout, salvage open with a walk of every cluster; the result of each.
fn read_every_way(bytes: &[u8]) -> (bool, bool) {
    let strict = MkvReader::open(Cursor::new(bytes)).map(|mut r| r.readout().is_ok());
    let salvage = MkvReader::open_salvage(Cursor::new(bytes))
        .map(|mut r| r.clusters().take(10_000).take_while(Result::is_ok).count());
    (strict.is_ok(), salvage.is_ok())
}

#[test]
fn most_never_panic_file_inputs_open_in_the_strict_reader() {
    assert_gate_share(recording_input(), MIN_GATE_SHARE, |b| read_every_way(b).0);
}

proptest! {
    #[test]
    fn vint_encode_then_decode_is_identity(value in 0u64..=ebml::vint_max(8), extra in 0usize..8) {
        let min = ebml::vint_len(value).unwrap();
        let len = (min + extra).min(8);
        let mut buf = Vec::new();
        ebml::put_vint_len(&mut buf, value, len).unwrap();
        prop_assert_eq!(buf.len(), len);
        let v = ebml::decode_vint(&buf).unwrap();
        prop_assert_eq!(v, ebml::Vint { value: Some(value), len });
    }

    #[test]
    fn element_write_then_read_is_identity(
        u in any::<u64>(),
        i in any::<i64>(),
        f in any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        s in "[ -~]{0,40}",
        bin in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut buf = Vec::new();
        ebml::put_uint(&mut buf, 0xD7, u).unwrap();
        ebml::put_int(&mut buf, 0xFB, i).unwrap();
        ebml::put_float64(&mut buf, 0x4489, f).unwrap();
        ebml::put_string(&mut buf, 0x86, &s).unwrap();
        ebml::put_master(&mut buf, 0xAE, |m| ebml::put_binary(m, 0x63A2, &bin)).unwrap();
        let children: Vec<_> = Children::new(&buf, 0).map(Result::unwrap).collect();
        prop_assert_eq!(children.len(), 5);
        prop_assert_eq!(children[0].uint().unwrap(), u);
        prop_assert_eq!(children[1].int().unwrap(), i);
        prop_assert_eq!(children[2].float().unwrap(), f);
        prop_assert_eq!(children[3].string(), s);
        let inner: Vec<_> = children[4].children().map(Result::unwrap).collect();
        prop_assert_eq!(inner.len(), 1);
        prop_assert_eq!(inner[0].header.id, 0x63A2);
        prop_assert_eq!(inner[0].data, &bin[..]);
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Children::new(&bytes, 0).count();
        let mut with_head = small_recording()[..200].to_vec();
        with_head.extend_from_slice(&bytes);
        if let Ok(mut r) = MkvReader::open_salvage(Cursor::new(with_head)) {
            let _ = r.readout();
        }
        let _ = MkvReader::open(Cursor::new(bytes));
    }

    #[test]
    fn reading_mutated_recordings_never_panics(bytes in recording_input()) {
        let (strict, salvage) = read_every_way(&bytes);
        prop_assert!(salvage || !strict, "the strict reader opened a file salvage refused");
    }
}

/// Colour MJPG with tiny frames + IMU: a few kilobytes, several clusters.
fn small_recording() -> Vec<u8> {
    let header = RecordingHeader {
        color_format: ColorFormat::Mjpg,
        color_resolution: ColorResolution::R720p,
        depth_mode: DepthMode::Off,
        depth_storage: DepthStorage::Images,
        fps: Fps::Fps30,
        imu: true,
        wired_sync_mode: WiredSyncMode::Master,
        depth_delay_off_color_nsec: 0,
        subordinate_delay_off_master_nsec: 0,
        device: None,
        writing_app: "k4sync-test".into(),
        extra_tags: Vec::new(),
    };
    let options = WriterOptions {
        uid_seed: Some(1),
        date: Some(UNIX_EPOCH),
        cluster_write_delay_nsec: 0,
        flush_interval: Duration::ZERO,
        ..WriterOptions::default()
    };
    let mut w =
        MkvWriter::create_with_sync(Cursor::new(Vec::new()), header, options, |_| Ok(())).unwrap();
    for i in 0..6u64 {
        let ts = 10_000_000 + i * 33_333;
        let jpeg = [0xFF, 0xD8, i as u8, 0xFF, 0xD9];
        w.write_capture(&Capture {
            color: Some(Image {
                device_ts_usec: Usec(ts),
                data: &jpeg,
            }),
            ..Capture::default()
        })
        .unwrap();
        for k in 0..3 {
            w.write_imu_sample(&ImuSample {
                acc_ts_usec: Usec(ts + 1 + k * 5000),
                acc_mps2: [1.0, 2.0, 3.0],
                gyro_ts_usec: Usec(ts + 1 + k * 5000),
                gyro_radps: [0.0; 3],
            })
            .unwrap();
        }
    }
    w.finalize().unwrap().into_inner()
}

#[test]
fn truncation_at_every_byte_never_panics_and_salvages_every_complete_cluster() {
    let file = small_recording();
    let full = MkvReader::open(Cursor::new(file.clone())).unwrap();
    let clusters: Vec<(u64, u64)> = full
        .cluster_offsets()
        .iter()
        .map(|&at| {
            let h = ebml::parse_header(&file[at as usize..], at, "test").unwrap();
            (at, h.end().unwrap())
        })
        .collect();
    assert!(clusters.len() >= 6, "{} clusters", clusters.len());
    for cut in 0..file.len() {
        let part = file[..cut].to_vec();
        let strict = MkvReader::open(Cursor::new(part.clone()));
        match MkvReader::open_salvage(Cursor::new(part)) {
            Ok(mut r) => {
                let complete = clusters.iter().filter(|c| c.1 <= cut as u64).count();
                assert_eq!(r.cluster_offsets().len(), complete, "cut at {cut}");
                let read = r.clusters().filter(Result::is_ok).count();
                assert_eq!(read, complete, "cut at {cut}");
                if strict.is_err() {
                    assert!(r.damage().is_some(), "cut at {cut}");
                }
            }
            Err(e) => {
                assert!(cut < 300, "salvage failed at {cut}: {e}");
                assert!(strict.is_err());
            }
        }
    }
}

#[test]
fn truncated_file_error_names_the_byte_offset() {
    let file = small_recording();
    let cut = file.len() - 3;
    let err = MkvReader::open(Cursor::new(file[..cut].to_vec())).unwrap_err();
    assert!(err.to_string().contains(&cut.to_string()), "{err}");
}

#[test]
fn corrupt_size_byte_is_a_malformed_error_with_offset() {
    let mut file = small_recording();
    let r = MkvReader::open(Cursor::new(file.clone())).unwrap();
    let at = r.cluster_offsets()[1] as usize;
    file[at + 4] = 0x00;
    match MkvReader::open(Cursor::new(file)) {
        Err(k4sync_host::mkv::MkvError::Malformed { offset, .. }) => {
            assert_eq!(offset, at as u64 + 4)
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn raw_depth_track_carries_its_codec_private_and_whole_frames() {
    let header = RecordingHeader {
        color_resolution: ColorResolution::Off,
        depth_mode: DepthMode::PassiveIr,
        depth_storage: DepthStorage::Raw,
        imu: false,
        ..RecordingHeader::k4arecorder_defaults()
    };
    let frame_len = DepthMode::PassiveIr.sensor_mode().unwrap().raw_frame_size();
    let frame: Vec<u8> = (0..frame_len).map(|i| (i % 251) as u8).collect();
    let mut w = MkvWriter::create_with_sync(
        Cursor::new(Vec::new()),
        header,
        WriterOptions::default(),
        |_| Ok(()),
    )
    .unwrap();
    w.write_capture(&Capture {
        raw_depth: Some(Image {
            device_ts_usec: Usec(5_000_000),
            data: &frame,
        }),
        ..Capture::default()
    })
    .unwrap();
    let short = Capture {
        raw_depth: Some(Image {
            device_ts_usec: Usec(5_033_333),
            data: &frame[1..],
        }),
        ..Capture::default()
    };
    assert!(w.write_capture(&short).is_err());
    let mut r = MkvReader::open(Cursor::new(w.finalize().unwrap().into_inner())).unwrap();
    let t = r
        .tracks
        .iter()
        .find(|t| t.name == "RAW_DEPTH")
        .unwrap()
        .clone();
    assert_eq!(
        (t.track_type, t.codec_id.as_str()),
        (1, "V_K4SYNC/RAW_DEPTH")
    );
    assert_eq!(&t.codec_private[..4], b"K4RD");
    assert_eq!(
        u32::from_le_bytes(t.codec_private[8..12].try_into().unwrap()),
        3
    );
    assert_eq!(
        u32::from_le_bytes(t.codec_private[12..16].try_into().unwrap()) as usize,
        frame_len
    );
    assert_eq!((t.width, t.height), (Some(1024), Some(1024)));
    let tag = r.tag("K4A_CUSTOM_TRACK_RAW_DEPTH").unwrap();
    assert_eq!(tag.value, t.uid.to_string());
    assert_eq!(r.tag("K4A_DEPTH_MODE").unwrap().value, "PASSIVE_IR");
    let config = r.record_config().unwrap();
    assert_eq!(config.depth_mode, DepthMode::PassiveIr);
    assert!(!config.depth_track_enabled && !config.ir_track_enabled);
    let blocks: Vec<_> = r.clusters().flat_map(|c| c.unwrap().blocks).collect();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].frames[0], frame);
}
