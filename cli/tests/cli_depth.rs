//! `k4sync depth` end to end against the test engine (`tests/engine/test_depth_engine.c`, the
//! depth engine's plugin interface with deterministic output, built here with `cc`): emulator
//! recordings of every depth mode convert into files Microsoft's playback library reads with
//! DEPTH16/IR16 images of the right geometry and content, the engine's timestamps, colour and
//! IMU unchanged and k4arecorder's tags; engine failures map to the named errors; an
//! interrupted or failed conversion leaves no output file.
//!
//! The Microsoft half needs `K4SYNC_INTEROP_PYTHON` (see `support::interop_python`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k4sync_host::core::time::ticks_to_usec;
use k4sync_host::mkv::{crc32, track_name, MkvReader, IMU_SAMPLE_LEN};
use serde_json::Value;
use support::{interop_python, official_readout, stderr, stdout};

/// The test engine's centre of exposure: the raw frame's trailer ticks plus this (its default).
const TICK_OFFSET: u64 = 90;

/// The test engine, compiled once per test process.
fn test_engine() -> &'static Path {
    static ENGINE: OnceLock<PathBuf> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let source = support::repo_root().join("tests/engine/test_depth_engine.c");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("libtestdepthengine-{}.so", std::process::id()));
        let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()))
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&source)
            .status()
            .expect("a C compiler (cc) builds the test engine");
        assert!(status.success(), "cc failed on {}", source.display());
        out
    })
}

/// `k4sync depth IN OUT --engine TEST --json EXTRA` with `env` set for the engine.
fn depth(input: &Path, output: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    depth_command(input, output, extra, env).output().unwrap()
}

fn depth_command(input: &Path, output: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_k4sync"));
    c.arg("depth")
        .arg(input)
        .arg(output)
        .arg("--engine")
        .arg(test_engine())
        .args(extra)
        .envs(env.iter().copied());
    c
}

type ImuRow = (u64, u64, [f32; 6]);

/// What a correct conversion of `input` holds, computed from the raw recording itself.
struct Expected {
    /// (stream, ts_usec, size, crc32) of every colour, depth and IR image.
    images: BTreeSet<(String, u64, u64, u32)>,
    /// (acc µs, gyro µs, acc xyz, gyro xyz) per sample.
    imu: Vec<ImuRow>,
    raw_frames: u64,
}

/// The test engine's output for one raw frame (see the C source).
fn engine_output(raw: &[u8], len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| raw[j % raw.len()].wrapping_add((j % 251) as u8))
        .collect()
}

fn expected(input: &Path, passive: bool, pixels: usize) -> Expected {
    let mut reader = MkvReader::open_path(input).unwrap();
    let track = |name: &str| {
        reader
            .tracks
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.number)
    };
    let (color, imu, raw) = (
        track(track_name::COLOR),
        track(track_name::IMU),
        track(track_name::RAW_DEPTH).unwrap(),
    );
    let offset_usec: u64 = reader
        .tag("K4A_START_OFFSET_NS")
        .unwrap()
        .value
        .parse::<u64>()
        .unwrap()
        / 1000;
    let mut e = Expected {
        images: BTreeSet::new(),
        imu: Vec::new(),
        raw_frames: 0,
    };
    for cluster in reader.clusters().collect::<Vec<_>>() {
        for block in cluster.unwrap().blocks {
            let ts = block.time_ticks as u64 + offset_usec;
            for f in &block.frames {
                if Some(block.track) == color {
                    e.images
                        .insert(("color".into(), ts, f.len() as u64, crc32(f)));
                } else if Some(block.track) == imu {
                    assert_eq!(f.len(), IMU_SAMPLE_LEN);
                    let u = |at: usize| u64::from_le_bytes(f[at..at + 8].try_into().unwrap());
                    let fl = |at: usize| f32::from_le_bytes(f[at..at + 4].try_into().unwrap());
                    e.imu.push((
                        u(0) / 1000,
                        u(20) / 1000,
                        [fl(8), fl(12), fl(16), fl(28), fl(32), fl(36)],
                    ));
                } else if block.track == raw {
                    e.raw_frames += 1;
                    let trailer = f.len() - 40;
                    let ticks =
                        u64::from_le_bytes(f[trailer + 8..trailer + 16].try_into().unwrap());
                    let ts = ticks_to_usec(ticks + TICK_OFFSET);
                    let image = pixels * 2;
                    let out = engine_output(f, if passive { image } else { 2 * image });
                    let halves: Vec<(&str, &[u8])> = if passive {
                        vec![("ir", &out[..])]
                    } else {
                        vec![("depth", &out[..image]), ("ir", &out[image..])]
                    };
                    for (stream, data) in halves {
                        e.images
                            .insert((stream.into(), ts, data.len() as u64, crc32(data)));
                    }
                }
            }
        }
    }
    e
}

/// Runs an interop helper script and parses its JSON.
fn python_json(python: &Path, script: &str, file: &Path) -> Value {
    let out = Command::new(python)
        .arg(support::repo_root().join("tests/interop").join(script))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The K4A_* tags k4arecorder writes for a colour + depth + IMU recording of a device.
fn k4arecorder_tags(passive: bool) -> BTreeSet<&'static str> {
    let mut tags: BTreeSet<&str> = [
        "K4A_COLOR_TRACK",
        "K4A_COLOR_MODE",
        "K4A_DEPTH_MODE",
        "K4A_IR_TRACK",
        "K4A_IR_MODE",
        "K4A_DEPTH_DELAY_NS",
        "K4A_WIRED_SYNC_MODE",
        "K4A_COLOR_FIRMWARE_VERSION",
        "K4A_DEPTH_FIRMWARE_VERSION",
        "K4A_DEVICE_SERIAL_NUMBER",
        "K4A_CALIBRATION_FILE",
        "K4A_IMU_TRACK",
        "K4A_IMU_MODE",
        "K4A_START_OFFSET_NS",
    ]
    .into();
    if !passive {
        tags.insert("K4A_DEPTH_TRACK");
    }
    tags
}

#[test]
fn every_depth_mode_converts_into_a_file_microsofts_playback_reads() {
    let python = interop_python();
    let dir = tempfile::tempdir().unwrap();
    let modes = [
        ("NFOV_2X2BINNED", 320, 288),
        ("NFOV_UNBINNED", 640, 576),
        ("WFOV_2X2BINNED", 512, 512),
        ("WFOV_UNBINNED", 1024, 1024),
        ("PASSIVE_IR", 1024, 1024),
    ];
    for (mode, width, height) in modes {
        let passive = mode == "PASSIVE_IR";
        let (raw, out) = (
            dir.path().join(format!("{mode}.raw.mkv")),
            dir.path().join(format!("{mode}.mkv")),
        );
        support::record_raw_depth(&raw, mode);
        let o = depth(&raw, &out, &["--json"], &[]);
        assert!(
            o.status.success(),
            "depth {mode}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let summary: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        let exp = expected(&raw, passive, width * height);
        assert!(
            exp.raw_frames >= 4,
            "{mode}: only {} raw frames",
            exp.raw_frames
        );
        assert_eq!(summary["ok"], true);
        assert_eq!(summary["files"][0]["frames"], exp.raw_frames, "{mode}");
        assert_eq!(summary["files"][0]["depth_mode"], mode);

        let Some(python) = &python else { continue };
        let got = python_json(python, "official_images.py", &out);
        let mut images = BTreeSet::new();
        for img in got["images"].as_array().unwrap() {
            let stream = img["stream"].as_str().unwrap().to_owned();
            let format = img["format"].as_str().unwrap();
            match stream.as_str() {
                "color" => assert_eq!((img["width"].as_u64(), format), (Some(1280), "MJPG")),
                s => {
                    let want = if s == "depth" { "DEPTH16" } else { "IR16" };
                    assert_eq!(format, want, "{mode}");
                    assert_eq!(
                        (img["width"].as_u64(), img["height"].as_u64()),
                        (Some(width as u64), Some(height as u64)),
                        "{mode} {s}"
                    );
                }
            }
            images.insert((
                stream,
                img["ts_usec"].as_u64().unwrap(),
                img["size"].as_u64().unwrap(),
                img["crc32"].as_u64().unwrap() as u32,
            ));
        }
        assert_eq!(
            images, exp.images,
            "{mode}: images as Microsoft's library reads them"
        );
        // Python prints each f32 widened to f64; rounding back to f32 recovers it exactly.
        let imu: Vec<ImuRow> = got["imu"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let v = s.as_array().unwrap();
                let axes: Vec<f32> = v[2..].iter().map(|x| x.as_f64().unwrap() as f32).collect();
                (
                    v[0].as_u64().unwrap(),
                    v[1].as_u64().unwrap(),
                    axes.try_into().unwrap(),
                )
            })
            .collect();
        assert_eq!(imu.len(), exp.imu.len(), "{mode}: IMU sample count");
        let first_diff = imu.iter().zip(&exp.imu).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{mode}: IMU sample differs");

        let ours: Value = serde_json::from_str(&stdout(&support::k4sync([
            "info".as_ref(),
            "--json".as_ref(),
            out.as_os_str(),
        ])))
        .unwrap();
        let official = official_readout(python, &out, &ours);
        let tags: BTreeSet<&str> = official["tags"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| k.starts_with("K4A_"))
            .collect();
        assert_eq!(tags, k4arecorder_tags(passive), "{mode}");
        assert_eq!(official["tags"]["K4A_DEPTH_MODE"], mode);
        let ir_mode = if passive { "PASSIVE" } else { "ACTIVE" };
        assert_eq!(official["tags"]["K4A_IR_MODE"], ir_mode);
        assert_eq!(official["config"]["depth_mode"], mode);
        assert_eq!(official["config"]["depth_track_enabled"], !passive);
        assert_eq!(official["config"]["ir_track_enabled"], true);
        assert_eq!(official["config"]["camera_fps"], "5");
    }
}

/// An emulated NFOV 2x2 recording, shared by the error tests.
fn small_recording(dir: &Path) -> PathBuf {
    let raw = dir.join("raw.mkv");
    support::record_raw_depth(&raw, "NFOV_2X2BINNED");
    raw
}

fn assert_fails_with(o: &Output, out: &Path, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    for n in needles {
        assert!(stderr(o).contains(n), "missing {n:?} in: {}", stderr(o));
    }
    assert!(!out.exists(), "a failed conversion left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("k4sync-depth"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Environment variables for the test engine.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn engine_codes_map_to_named_errors_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let raw = small_recording(dir.path());
    let out = dir.path().join("out.mkv");
    let cases: [(Env<'_>, &[&str]); 4] = [
        (
            &[("K4SYNC_TEST_ENGINE_CREATE_RESULT", "103")],
            &["rejected the calibration (code 103", "depth_cal.ccb"],
        ),
        (
            &[("K4SYNC_TEST_ENGINE_CREATE_RESULT", "207")],
            &["no OpenGL 4.4 context (code 207", "xvfb-run", "GPU"],
        ),
        (
            &[("K4SYNC_TEST_ENGINE_MAJOR", "3")],
            &["plugin version 3.99.0", "major version 2"],
        ),
        (
            &[
                ("K4SYNC_TEST_ENGINE_FAIL_FRAME", "2"),
                ("K4SYNC_TEST_ENGINE_FRAME_RESULT", "105"),
            ],
            &[
                "raw frame 2 (device time",
                "code 105: binning failed",
                "--keep-going",
            ],
        ),
    ];
    for (env, needles) in cases {
        assert_fails_with(&depth(&raw, &out, &[], env), &out, needles);
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["depth", "--engine", "/nonexistent/libdepthengine.so.2.0"])
        .arg(&raw)
        .arg(&out)
        .output()
        .unwrap();
    assert_fails_with(
        &missing,
        &out,
        &["not found; looked at: /nonexistent/libdepthengine.so.2.0"],
    );
}

#[test]
fn keep_going_skips_a_rejected_frame_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let raw = small_recording(dir.path());
    let out = dir.path().join("out.mkv");
    let env = [
        ("K4SYNC_TEST_ENGINE_FAIL_FRAME", "1"),
        ("K4SYNC_TEST_ENGINE_FRAME_RESULT", "106"),
    ];
    let o = depth(&raw, &out, &["--keep-going", "--json"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let file = &v["files"][0];
    assert_eq!(file["skipped"][0]["index"], 1);
    assert_eq!(file["skipped"][0]["code"], 106);
    let raw_frames = expected(&raw, false, 320 * 288).raw_frames;
    assert_eq!(file["frames"].as_u64(), Some(raw_frames - 1));
    let r = MkvReader::open_path(&out).unwrap().readout().unwrap();
    assert_eq!(r.depth.unwrap().frames, raw_frames - 1);
}

#[test]
fn a_recording_without_depth_calibration_is_named_as_older() {
    use k4sync_host::core::time::Usec;
    use k4sync_host::core::types::{DepthMode, Fps};
    use k4sync_host::mkv::{Capture, DepthStorage, Image, MkvWriter};

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("old.mkv");
    let mut h = support::header(k4sync_host::core::types::ColorFormat::Mjpg);
    h.depth_mode = DepthMode::Nfov2x2Binned;
    h.depth_storage = DepthStorage::Raw;
    h.fps = Fps::Fps5;
    let mut w = MkvWriter::create_file(&raw, h, Default::default()).unwrap();
    let frame = vec![0u8; 5_310_760];
    w.write_capture(&Capture {
        raw_depth: Some(Image {
            device_ts_usec: Usec(1_000_000),
            data: &frame,
        }),
        ..Capture::default()
    })
    .unwrap();
    w.finalize().unwrap();
    let out = dir.path().join("out.mkv");
    let o = depth(&raw, &out, &[], &[]);
    assert_fails_with(&o, &out, &["no depth_cal.ccb attachment", "older"]);
}

#[test]
fn an_interrupted_conversion_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let raw = small_recording(dir.path());
    let out = dir.path().join("out.mkv");
    let child = depth_command(&raw, &out, &[], &[("K4SYNC_TEST_ENGINE_SLEEP_MS", "400")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let temp_exists = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("k4sync-depth"))
    };
    while !temp_exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no temporary output appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_fails_with(&o, &out, &["interrupted; no output written"]);
}

#[test]
fn a_rig_manifest_converts_every_recording_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    support::record_raw_depth(&a.join("dev0-seg0.mkv"), "NFOV_2X2BINNED");
    support::record_raw_depth(&b.join("dev1-seg0.mkv"), "NFOV_2X2BINNED");
    let manifest = dir.path().join("rig.json");
    std::fs::write(
        &manifest,
        r#"{"devices": [{"serial": "0", "files": ["a/dev0-seg0.mkv"]},
                        {"serial": "1", "files": ["b/dev1-seg0.mkv"]}]}"#,
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["depth", "-j", "2", "--json", "--engine"])
        .arg(test_engine())
        .arg("--rig")
        .arg(&manifest)
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    for name in ["dev0-seg0.mkv", "dev1-seg0.mkv"] {
        let r = MkvReader::open_path(out_dir.join(name))
            .unwrap()
            .readout()
            .unwrap();
        assert!(r.depth.unwrap().frames >= 4, "{name}");
    }
}
