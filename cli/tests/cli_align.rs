//! `k4sync align` on our own recordings: files from our writer (colour + raw-depth custom track)
//! for the rig rules and their errors, and a `k4sync record --emulate` recording whose emulator
//! had frames dropped on command: align must report exactly those drops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k4sync_host::core::time::Usec;
use k4sync_host::core::types::{ColorFormat, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{Capture, DepthStorage, Image, MkvWriter, WriterOptions};
use serde_json::Value;

mod support;
use support::rig::indexed_frame;
use support::{header, k4sync, record, stderr, stdout, FIRST_CAPTURE_USEC, JPEG};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// One of our raw-depth recordings (passive IR: the smallest raw frames) of 12 captures from 1 s
/// device time, in `mode`.
fn ours(dir: &Path, name: &str, mode: WiredSyncMode, fps: Fps) -> PathBuf {
    let path = dir.join(name);
    let mut h = header(ColorFormat::Mjpg);
    h.depth_storage = DepthStorage::Raw;
    h.wired_sync_mode = mode;
    h.fps = fps;
    h.depth_mode = DepthMode::PassiveIr;
    record(&path, &h, 12).finalize().unwrap();
    path
}

fn align_json(files: &[&Path]) -> (bool, Value) {
    let mut args = vec!["align".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.push("--json".as_ref());
    let out = k4sync(args);
    let value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&out), stderr(&out)));
    (out.status.success(), value)
}

#[test]
fn our_colour_and_raw_depth_files_align_and_report_headers_only_reads() {
    let d = dir();
    let m = ours(d.path(), "m.mkv", WiredSyncMode::Master, Fps::Fps30);
    let s = ours(d.path(), "s.mkv", WiredSyncMode::Subordinate, Fps::Fps30);
    let (ok, v) = align_json(&[&m, &s]);
    assert!(ok, "{v}");
    assert_eq!(v["summary"]["sets"], 12, "{v}");
    assert_eq!(v["summary"]["complete"], 12, "{v}");
    for dev in v["devices"].as_array().unwrap() {
        assert_eq!(dev["frames"]["color"], 12);
        assert_eq!(
            dev["frames"]["depth"], 12,
            "the RAW_DEPTH track is the depth stream"
        );
        assert_eq!(dev["serial"], "000123456789");
        assert_eq!(dev["state"], "synced");
    }
    assert_eq!(v["devices"][1]["offset_usec"]["median"], 0.0);

    // The index counts the IMU BlockGroups between the frames: each position is the frame.
    let index = d.path().join("sets.json");
    let out = k4sync([
        "align".as_ref(),
        m.as_os_str(),
        s.as_os_str(),
        "--index".as_ref(),
        index.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index: Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    for (i, path) in [&m, &s].iter().enumerate() {
        let mut reader = k4sync_host::mkv::MkvReader::open_path(path).unwrap();
        for set in index["sets"].as_array().unwrap() {
            for (key, track) in [("color", "COLOR"), ("depth", "RAW_DEPTH")] {
                let at = &set["files"][i][key];
                let want = (track.to_owned(), at["device_ts_usec"].as_u64().unwrap());
                assert_eq!(indexed_frame(&mut reader, at), want, "{at}");
            }
        }
    }

    let out = k4sync(["align".as_ref(), m.as_os_str(), s.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("12 sets at 30 fps: 12 complete, 0 incomplete, 0 unsynced frames"),
        "{text}"
    );
    // Raw depth frames are megabytes each: the headers are a small fraction of the files.
    let read = text.lines().last().unwrap();
    let percent: f64 = read
        .split('(')
        .nth(1)
        .and_then(|r| r.split('%').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(percent < 2.0, "{read}");
}

/// A colour-only recording of 12 captures from 1 s device time, each `shift_usec` later, whose
/// `K4A_SUBORDINATE_DELAY_NS` is `delay_nsec` (subordinate when nonzero).
fn colour_only(dir: &Path, name: &str, delay_nsec: u64, shift_usec: u64) -> PathBuf {
    let path = dir.join(name);
    let mut h = header(ColorFormat::Mjpg);
    h.depth_mode = DepthMode::Off;
    h.imu = false;
    h.wired_sync_mode = match delay_nsec {
        0 => WiredSyncMode::Master,
        _ => WiredSyncMode::Subordinate,
    };
    h.subordinate_delay_off_master_nsec = delay_nsec;
    let mut w = MkvWriter::create_file(&path, h, WriterOptions::default()).unwrap();
    for i in 0..12 {
        let image = Image {
            device_ts_usec: Usec(FIRST_CAPTURE_USEC + i * 33_333 + shift_usec),
            data: JPEG,
        };
        let capture = Capture {
            color: Some(image),
            depth: None,
            ir: None,
            raw_depth: None,
        };
        w.write_capture(&capture).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn a_delay_tag_holding_the_effective_ns_is_taken_at_its_tick_count() {
    // Our recorder writes the delay the device applied: 15 ticks = 166,666 ns (requested 167 µs),
    // so frames come 166 µs (15 ticks, truncated to µs) after the master's. Read as 166 µs
    // truncated to ticks it would be 14 ticks, 155.6 µs, and an offset of +10.4 µs.
    let d = dir();
    let m = colour_only(d.path(), "m.mkv", 0, 0);
    let s = colour_only(d.path(), "s.mkv", 166_666, 166);
    let (ok, v) = align_json(&[&m, &s]);
    assert!(ok, "{v}");
    let sub = &v["devices"][1];
    assert_eq!(sub["subordinate_delay_usec"]["configured"], 166, "{sub}");
    assert_eq!(sub["subordinate_delay_usec"]["effective"], 166.666, "{sub}");
    for key in ["min", "median", "max"] {
        let offset = sub["offset_usec"][key].as_f64().unwrap();
        assert!((offset + 0.666).abs() < 0.001, "{key}: {sub}");
    }
    assert_eq!(sub["state"], "synced", "{sub}");
    assert_eq!(v["summary"]["complete"], 12, "{v}");

    let out = k4sync(["align".as_ref(), m.as_os_str(), s.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let row = stdout(&out).lines().nth(2).unwrap().to_owned();
    assert!(
        row.split_whitespace().any(|c| c == "166.7"),
        "expected µs: {row}"
    );
}

#[test]
fn anything_but_exactly_one_master_is_an_error_naming_the_files() {
    let d = dir();
    let m1 = ours(d.path(), "m1.mkv", WiredSyncMode::Master, Fps::Fps30);
    let m2 = ours(d.path(), "m2.mkv", WiredSyncMode::Master, Fps::Fps30);
    let s = ours(d.path(), "s.mkv", WiredSyncMode::Subordinate, Fps::Fps30);
    let (ok, v) = align_json(&[&m1, &s, &m2]);
    assert!(!ok);
    assert_eq!(v["ok"], false);
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("exactly one MASTER"), "{error}");
    assert!(
        error.contains("m1.mkv") && error.contains("m2.mkv") && !error.contains("s.mkv"),
        "{error}"
    );

    let (ok, v) = align_json(&[&s]);
    assert!(!ok);
    assert!(v["error"].as_str().unwrap().contains("found 0"), "{v}");

    let alone = ours(d.path(), "alone.mkv", WiredSyncMode::Standalone, Fps::Fps30);
    let (ok, v) = align_json(&[&m1, &alone]);
    assert!(!ok);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("alone.mkv") && error.contains("STANDALONE"),
        "{error}"
    );
}

#[test]
fn mixed_frame_rates_are_an_error_naming_each_files_rate() {
    let d = dir();
    let m = ours(d.path(), "m.mkv", WiredSyncMode::Master, Fps::Fps30);
    let s = ours(d.path(), "s15.mkv", WiredSyncMode::Subordinate, Fps::Fps15);
    let (ok, v) = align_json(&[&m, &s]);
    assert!(!ok);
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("mix frame rates"), "{error}");
    assert!(
        error.contains("m.mkv 30 fps") && error.contains("s15.mkv 15 fps"),
        "{error}"
    );
}

#[test]
fn an_unreadable_file_gives_ok_false_and_exit_status_1() {
    let d = dir();
    let m = ours(d.path(), "m.mkv", WiredSyncMode::Master, Fps::Fps30);
    let junk = d.path().join("junk.mkv");
    std::fs::write(&junk, b"not a recording at all").unwrap();
    let mut args = vec![
        "align".as_ref(),
        m.as_os_str(),
        junk.as_os_str(),
        "--json".as_ref(),
    ];
    let out = k4sync(&args);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("junk.mkv"), "{v}");
    args.pop();
    let missing = d.path().join("missing.mkv");
    args[2] = missing.as_os_str();
    let out = k4sync(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.mkv"), "{}", stderr(&out));
}

/// Sets a stream's frames fill in an emulator recording, read back from the report.
fn set_of(report: &Value, stream: &str, ts: u64) -> Option<u64> {
    report["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| (s[stream][0].as_u64() == Some(ts)).then(|| s["set"].as_u64().unwrap()))
}

#[test]
fn an_emulated_recording_reports_exactly_the_frames_the_emulator_dropped() {
    let d = dir();
    let out_path = d.path().join("master.mkv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["record", "--emulate", "--external-sync", "master"])
        // Virtual pacing: the emulator waits for the writer, so nothing but the injected
        // faults is lost; passive IR keeps the raw frames (and the file) small. An idle host
        // writes 5 s of it within the first 1 s progress line, so the take is long enough
        // for the faults to land in the middle however fast the host is.
        .args([
            "--emulate-pacing",
            "virtual",
            "-c",
            "720p",
            "-d",
            "PASSIVE_IR",
            "-l",
            "20",
        ])
        .args(["--json", "--emulate-fault-control", "-"])
        .arg(&out_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut control = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut until = |wanted: &dyn Fn(&Value) -> bool| -> Value {
        loop {
            let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            if wanted(&v) {
                return v;
            }
        }
    };
    until(&|v| v["state"] == "streaming" && v["depth_frames"].as_u64() > Some(10));
    writeln!(control, "starve colour 2").unwrap();
    control.flush().unwrap();
    let colour_fault = until(&|v| v["event"] == "fault");
    writeln!(control, "starve depth 3").unwrap();
    control.flush().unwrap();
    let depth_fault = until(&|v| v["event"] == "fault");
    let done = until(&|v| v.get("ok").is_some());
    assert_eq!(done["ok"], true, "{done}");
    assert!(child.wait().unwrap().success());

    let (ok, report) = align_json(&[&out_path]);
    assert!(ok, "{report}");
    let dev = &report["devices"][0];
    let dropped = |stream: &str| -> Vec<u64> {
        dev["dropped"][stream]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    };
    let (colour, depth) = (dropped("color"), dropped("depth"));
    assert_eq!(done["stats"]["dropped_queue_captures"], 0, "{done}");
    // `dropped_device` may count depth frames that beat the first colour frame (the pairer
    // drops them, as the SDK does): they precede the recording, outside every span.
    let after = |fault: &Value, stream: &str, key: &str| {
        let ts = fault["progress"]["delivered_ts_usec"][stream]
            .as_u64()
            .unwrap();
        set_of(&report, key, ts).unwrap()
    };
    let colour_from = after(&colour_fault, "colour", "color");
    let depth_from = after(&depth_fault, "depth", "depth");
    assert_eq!(
        colour.len(),
        2,
        "exactly the 2 starved colour frames: {colour:?}"
    );
    assert_eq!(colour[1], colour[0] + 1, "{colour:?}");
    assert!(
        colour[0] > colour_from,
        "{colour:?} after set {colour_from}"
    );
    assert_eq!(
        depth.len(),
        3,
        "exactly the 3 starved depth frames: {depth:?}"
    );
    assert_eq!(depth[2], depth[0] + 2, "{depth:?}");
    assert!(depth[0] > depth_from, "{depth:?} after set {depth_from}");
    assert_eq!(dev["sync_lost_at_set"], Value::Null);
    assert_eq!(dev["role"], "MASTER");
}

#[test]
fn a_manifest_adds_hosts_and_segments_by_serial() {
    let d = dir();
    let m = ours(d.path(), "m.mkv", WiredSyncMode::Master, Fps::Fps30);
    let manifest = d.path().join("rig.json");
    std::fs::write(
        &manifest,
        r#"{"devices": [{"serial": "000123456789", "host": "pi-3", "segment": "take-7"}]}"#,
    )
    .unwrap();
    let out = k4sync([
        "align".as_ref(),
        m.as_os_str(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["devices"][0]["host"], "pi-3");
    assert_eq!(v["devices"][0]["segment"], "take-7");
    let (_, without) = align_json(&[&m]);
    assert!(without["devices"][0].get("host").is_none(), "{without}");

    std::fs::write(&manifest, "{not json").unwrap();
    let out = k4sync([
        "align".as_ref(),
        m.as_os_str(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("rig.json"), "{}", stderr(&out));
}
