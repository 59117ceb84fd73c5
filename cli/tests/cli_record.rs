//! `k4sync record` end to end with the real binary: an emulated recording reads back with
//! `info --json`; invalid flag combinations exit 2 naming the rule before any device is touched;
//! SIGTERM finalizes; SIGKILL mid-recording leaves flushed clusters that `info` salvages and
//! `repair` finalizes; a full disk (the failing sink) leaves every flushed frame readable by
//! `info`; and, with `K4SYNC_INTEROP_PYTHON` set (skip rules of `mkv_interop.rs`), one recording
//! per mode family reads the same in Microsoft's library.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use k4sync_host::core::sync::config::DeviceConfig;
use k4sync_host::core::types::{ColorFormat, ColorResolution, DepthMode, Fps};
use k4sync_host::mkv::MkvReader;
use k4sync_host::transport::emulated::EmulatedTransport;
use k4sync_host::Device;
use k4sync_host::{record, DropPolicy, RecordError, RecordOptions};
use k4sync_tests::LimitedSink;
use serde_json::Value;
use support::{interop_python, k4sync, official_readout, stderr, stdout};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn info_json(path: &Path) -> Value {
    let out = k4sync(["info".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success(), "info: {}", stderr(&out));
    json(&stdout(&out))
}

#[test]
fn record_from_the_emulator_for_one_second_reads_back_with_info() {
    let d = dir();
    let out_path = d.path().join("out.mkv");
    let out = record_emulated(
        &out_path,
        &["-l", "1", "-c", "720p", "--depth-delay", "-500", "-e", "-5"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let last = json(text.lines().last().unwrap());
    assert_eq!(last["ok"], true, "{text}");
    assert!(text.lines().any(|l| json(l)["state"] == "streaming"));
    let info = info_json(&out_path);
    assert_eq!(info["ok"], true);
    assert!(info.get("salvaged").is_none(), "finalized: {info}");
    let colour = info["color"]["frames"].as_u64().unwrap();
    assert_eq!(
        last["stats"]["colour_frames"], colour,
        "the file holds what was queued"
    );
    // A loaded machine may make the real-time pipeline drop; drops are counted, never lost.
    let stats = &last["stats"];
    let seen = colour
        + stats["dropped_queue_captures"].as_u64().unwrap()
        + stats["dropped_device"].as_u64().unwrap();
    assert!((29..=31).contains(&seen), "{seen} captures in 1 s: {stats}");
    assert_eq!(info["config"]["color_resolution"], "720P");
    assert_eq!(info["config"]["depth_mode"], "NFOV_UNBINNED");
    assert_eq!(info["config"]["camera_fps"], "30");
    // -500 µs is -45 ticks exactly.
    assert_eq!(info["tags"]["K4A_DEPTH_DELAY_NS"], "-500000");
    // -e -5 is 31,250 µs, which the camera takes as its table entry 33,330 µs.
    assert_eq!(info["tags"]["K4SYNC_COLOR_EXPOSURE"], "33330");
    assert_eq!(last["colour_controls"]["exposure_usec"], 33_330, "{text}");
    let first = info["color"]["first_ts_usec"].as_u64().unwrap();
    let last_ts = info["color"]["last_ts_usec"].as_u64().unwrap();
    assert!(
        last_ts - first < 1_000_000,
        "-l counts from the first frame"
    );
}

/// Where in the 30 fps frame grid (3,000 ticks = 33,333.3 µs) a device timestamp lies, µs.
fn grid_phase_usec(ts_usec: u64) -> f64 {
    (ts_usec as f64).rem_euclid(100_000.0 / 3.0)
}

/// Records 1 s from the emulator with `extra` and returns the final JSON line and the
/// readout of the file.
fn record_one_second(name: &str, extra: &[&str]) -> (Value, Value) {
    let d = dir();
    let out_path = d.path().join(name);
    let mut args = vec![
        "-l",
        "1",
        "-c",
        "720p",
        "-d",
        "NFOV_2X2BINNED",
        "--imu",
        "OFF",
    ];
    args.extend_from_slice(extra);
    let out = record_emulated(&out_path, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let last = json(text.lines().last().unwrap());
    assert_eq!(last["ok"], true, "{text}");
    (last, info_json(&out_path))
}

#[test]
fn a_manual_exposure_is_set_on_the_camera_read_back_tagged_and_moves_the_timestamps() {
    let (auto_last, auto) = record_one_second("auto.mkv", &[]);
    assert_eq!(auto_last["colour_controls"]["exposure"], "auto");
    assert_eq!(auto["tags"]["K4SYNC_COLOR_EXPOSURE"], "auto");
    assert!(auto["tags"].get("K4SYNC_COLOR_GAIN").is_none(), "{auto}");

    let (last, manual) = record_one_second("manual.mkv", &["-e", "33330", "-g", "77"]);
    assert_eq!(
        last["colour_controls"],
        json(r#"{"exposure":"manual","exposure_usec":33330,"gain":77}"#)
    );
    assert_eq!(manual["tags"]["K4SYNC_COLOR_EXPOSURE"], "33330");
    assert_eq!(manual["tags"]["K4SYNC_COLOR_GAIN"], "77");

    // Auto exposure (8,330 µs in the emulator) centres frames on the grid; 33,330 µs keeps
    // the exposure's end and moves the centre (8,330 - 33,330) / 2 = -12,500 µs (reference
    // §6.4, docs/colour.md). Depth moves with it (core's emu_conformance tests that; `info`
    // shows no times for the raw depth track).
    for (what, info, phase) in [
        ("auto", &auto, 0.0),
        ("manual", &manual, 100_000.0 / 3.0 - 12_500.0),
    ] {
        for end in ["first_ts_usec", "last_ts_usec"] {
            let ts = info["color"][end].as_u64().unwrap();
            let off = (grid_phase_usec(ts) - phase).abs();
            assert!(
                !(1.5..=100_000.0 / 3.0 - 1.5).contains(&off),
                "{what} colour {end} {ts}: phase {} instead of {phase}",
                grid_phase_usec(ts)
            );
        }
    }
}

#[test]
fn out_of_range_exposure_and_gain_are_refused_naming_the_option_and_range() {
    let d = dir();
    for (args, needle) in [
        (
            ["-e", "200001"],
            "-e/--exposure-control takes an exponent from -11 to 1, a time from 2 to 200000",
        ),
        (["-e", "-12"], "-e/--exposure-control"),
        (["-g", "256"], "-g/--gain takes a gain from 0 to 255"),
    ] {
        let out = record_emulated(&d.path().join("x.mkv"), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn an_emulated_subordinate_shows_waiting_for_master_then_streams() {
    let d = dir();
    let out_path = d.path().join("sub.mkv");
    let out = record_emulated(
        &out_path,
        &[
            "--external-sync",
            "sub",
            "--sync-delay",
            "500",
            "-c",
            "720p",
            "-l",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let states: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| json(l)["state"].as_str().map(str::to_owned))
        .collect();
    let waiting = states.iter().position(|s| s == "waiting for master");
    let streaming = states.iter().position(|s| s == "streaming");
    assert!(
        waiting.is_some() && streaming.is_some() && waiting < streaming,
        "{states:?}"
    );
    let info = info_json(&out_path);
    assert_eq!(info["config"]["wired_sync_mode"], "SUBORDINATE");
    assert_eq!(info["config"]["subordinate_delay_off_master_usec"], 500);
    let text = stdout(&out);
    let stats = &json(text.lines().last().unwrap())["stats"];
    let written = info["color"]["frames"].as_u64().unwrap();
    assert_eq!(stats["colour_frames"].as_u64(), Some(written), "{stats}");
    let dropped =
        stats["dropped_queue_captures"].as_u64().unwrap() + stats["dropped_late"].as_u64().unwrap();
    assert!(
        written + dropped >= 29,
        "one second at 30 fps is written or counted as dropped: {stats}"
    );
}

#[test]
fn virtual_pacing_records_every_frame_of_the_length_without_a_drop() {
    let d = dir();
    let out_path = d.path().join("virtual.mkv");
    let out = record_emulated(
        &out_path,
        &[
            "--emulate-pacing",
            "virtual",
            "-c",
            "720p",
            "-d",
            "PASSIVE_IR",
            "-l",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let last = json(text.lines().last().unwrap());
    assert_eq!(last["ok"], true, "{text}");
    let stats = &last["stats"];
    assert_eq!(stats["dropped_queue_captures"], 0, "{stats}");
    assert_eq!(stats["dropped_queue_file_stalled"], 0, "{stats}");
    assert!(
        stats["longest_file_wait_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0),
        "{stats}"
    );
    assert_eq!(stats["dropped_queue_imu"], 0, "{stats}");
    // `dropped_device` may count depth frames that reached the host before the first colour
    // frame (the pairer drops them, as the SDK does; how many depends on thread scheduling):
    // they precede the recording. Within it, every frame is there, 1/30 s apart.
    let info = info_json(&out_path);
    let colour = info["color"]["frames"].as_u64().unwrap();
    assert_eq!(colour, 60, "2 s at 30 fps from the first frame: {stats}");
    assert_eq!(stats["colour_frames"], colour, "{stats}");
    assert_eq!(stats["depth_frames"], colour, "{stats}");
    let span = info["color"]["last_ts_usec"].as_u64().unwrap()
        - info["color"]["first_ts_usec"].as_u64().unwrap();
    assert!(
        (1_966_000..=1_967_400).contains(&span),
        "59 frame periods, no gap: {span} µs"
    );
    // IMU samples from before the first image are kept, as k4arecorder keeps them.
    let imu = stats["imu_samples"].as_u64().unwrap();
    let lead_usec = info["color"]["first_ts_usec"]
        .as_u64()
        .unwrap()
        .saturating_sub(info["imu"]["first_acc_ts_usec"].as_u64().unwrap());
    let before = lead_usec * 1_600 / 1_000_000;
    assert!(
        before <= 833,
        "{lead_usec} µs of IMU before the first image"
    );
    assert!(
        (3_300..=3_350).contains(&(imu - before)),
        "{imu} IMU samples, {before} of them before the first image, in 2 s at 1.6 kHz"
    );
    let colour_bytes = 1280 * 720 * 3 / 16;
    assert!(
        std::fs::metadata(&out_path).unwrap().len() > colour * colour_bytes,
        "colour frames have their realistic MJPG size"
    );
}

#[test]
fn invalid_combinations_exit_2_with_the_rule_before_any_device_is_touched() {
    let d = dir();
    let out_path = d.path().join("never.mkv");
    let cases: [(&[&str], &str); 10] = [
        (&["-c", "OFF", "-d", "OFF"], "both cameras are off"),
        (&["-c", "OFF", "-e", "-5"], "which -c OFF turns off"),
        (&["-c", "OFF", "-g", "10"], "which -c OFF turns off"),
        (
            &["-d", "WFOV_UNBINNED", "-r", "30"],
            "does not support 30 fps",
        ),
        (&["-c", "3072p", "-r", "30"], "is not supported"),
        (&["--sync-delay", "100"], "only allowed in SUBORDINATE"),
        (
            &["--external-sync", "master", "-c", "OFF"],
            "MASTER mode needs the colour camera",
        ),
        (&["--depth-delay", "40000"], "outside ±33333"),
        (
            &["-c", "OFF", "--depth-delay", "100"],
            "needs both cameras on",
        ),
        (
            &["--external-sync", "sub", "--sync-delay", "70000"],
            "exceeds one frame period",
        ),
    ];
    for (args, rule) in cases {
        // No --emulate and (on CI) no camera: touching a device would fail with exit 1.
        let mut all: Vec<&std::ffi::OsStr> = vec!["record".as_ref()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        all.push(out_path.as_os_str());
        let out = k4sync(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(rule), "{args:?}: {}", stderr(&out));
        assert!(!out_path.exists(), "{args:?} created the output");
    }
    for bad in [
        &["-e", "200001"][..],
        &["-r", "60"],
        &["-c", "4k"],
        &["--imu", "maybe"],
        &["--external-sync", "boss"],
        &["-l", "0"],
    ] {
        let mut all: Vec<&std::ffi::OsStr> = vec!["record".as_ref()];
        all.extend(bad.iter().map(|a| std::ffi::OsStr::new(*a)));
        all.push(out_path.as_os_str());
        let out = k4sync(&all);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    let out = k4sync(["record"]);
    assert_eq!(out.status.code(), Some(2), "OUTPUT is required");
}

#[test]
fn list_flag_lists_cameras_and_exits() {
    let out = k4sync(["record", "--list", "--emulate", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("emu:0"), "{}", stdout(&out));
}

/// `k4sync record --emulate ARGS --json OUT`, run to its end.
fn record_emulated(out_path: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["record".as_ref(), "--emulate".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.extend(["--json".as_ref(), out_path.as_os_str()]);
    k4sync(all)
}

/// `k4sync repair FROM -o TO`.
fn repair(from: &Path, to: &Path) -> std::process::Output {
    k4sync([
        "repair".as_ref(),
        from.as_os_str(),
        "-o".as_ref(),
        to.as_os_str(),
    ])
}

/// `k4sync record --emulate -c 720p -d NFOV_2X2BINNED EXTRA OUT`, not yet spawned.
fn record_command(out_path: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_k4sync"));
    command
        .arg("record")
        .arg("--emulate")
        .args(["-c", "720p", "-d", "NFOV_2X2BINNED"])
        .args(extra)
        .arg(out_path);
    command
}

fn spawn_record(out_path: &Path, extra: &[&str]) -> Child {
    record_command(out_path, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` holds at least `clusters` complete clusters.
fn wait_for_clusters(child: &mut Child, path: &Path, clusters: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "record exited early");
        let have = MkvReader::open_path_salvage(path)
            .map(|r| r.cluster_offsets().len())
            .unwrap_or(0);
        if have >= clusters {
            return;
        }
        assert!(Instant::now() < deadline, "only {have} clusters after 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkill_mid_recording_leaves_flushed_frames_that_info_salvages_and_repair_finalizes() {
    let d = dir();
    let out_path = d.path().join("killed.mkv");
    let mut child = spawn_record(&out_path, &[]);
    wait_for_clusters(&mut child, &out_path, 2);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let salvaged = info_json(&out_path);
    assert_eq!(salvaged["salvaged"], true, "{salvaged}");
    let frames = salvaged["color"]["frames"].as_u64().unwrap();
    assert!(frames >= 1, "{salvaged}");
    let repaired = d.path().join("repaired.mkv");
    let out = repair(&out_path, &repaired);
    assert!(out.status.success(), "{}", stderr(&out));
    let fixed = info_json(&repaired);
    assert!(fixed.get("salvaged").is_none(), "{fixed}");
    assert_eq!(fixed["color"]["frames"], frames);
    assert_eq!(fixed["imu"]["samples"], salvaged["imu"]["samples"]);
}

#[test]
fn sigterm_stops_the_device_and_finalizes_the_file() {
    let d = dir();
    let out_path = d.path().join("term.mkv");
    let mut child = spawn_record(&out_path, &["--imu", "OFF"]);
    // Clusters are 32 ms windows written as soon as every track passed them: 20 hold about
    // 20 colour frames.
    wait_for_clusters(&mut child, &out_path, 20);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let info = info_json(&out_path);
    assert!(
        info.get("salvaged").is_none(),
        "finalized after SIGTERM: {info}"
    );
    assert!(info["color"]["frames"].as_u64().unwrap() >= 10);
    assert!(info["imu"].is_null());
}

#[test]
fn a_full_disk_stops_non_zero_and_info_reads_every_flushed_frame() {
    let d = dir();
    let path = d.path().join("full.mkv");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let transport = EmulatedTransport::new(2);
    let mut device = Device::from_transport(Box::new(transport)).unwrap();
    let config = DeviceConfig {
        color_resolution: ColorResolution::R720p,
        color_format: ColorFormat::Yuy2,
        depth_mode: DepthMode::Nfov2x2Binned,
        fps: Fps::Fps30,
        ..DeviceConfig::default()
    };
    let mut options = RecordOptions::new(config);
    options.record_length = Some(Duration::from_secs(30));
    options.drop_policy = DropPolicy::Block;
    options.writer.cluster_write_delay_nsec = 50_000_000;
    let capacity = 48 << 20;
    let err = record(
        &mut device,
        LimitedSink::new(file, capacity),
        &path,
        &options,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::Write {
                finalized: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    let info = info_json(&path);
    assert_eq!(info["salvaged"], true);
    let mut reader = MkvReader::open_path_salvage(&path).unwrap();
    let colour_track = reader
        .find_track("K4A_COLOR_TRACK", &["COLOR"])
        .unwrap()
        .number;
    let mut frames = 0u64;
    let clusters: Vec<_> = reader.clusters().collect::<Result<_, _>>().unwrap();
    for cluster in clusters {
        frames += cluster
            .blocks
            .iter()
            .filter(|b| b.track == colour_track)
            .count() as u64;
    }
    assert!(frames >= 3, "{frames}");
    assert_eq!(
        info["color"]["frames"], frames,
        "info reads every flushed frame"
    );
}

#[test]
fn official_library_reads_one_recording_per_mode_family_like_we_do() {
    let Some(python) = interop_python() else {
        return;
    };
    let d = dir();
    let families: [&[&str]; 8] = [
        &["-c", "720p", "-d", "NFOV_UNBINNED"],
        &["-c", "720p", "-d", "OFF"],
        &[
            "-c",
            "720p",
            "--external-sync",
            "master",
            "--depth-delay",
            "-80",
        ],
        &[
            "-c",
            "3072p",
            "-d",
            "WFOV_UNBINNED",
            "-r",
            "15",
            "--depth-delay",
            "-200",
        ],
        &[
            "-c",
            "1080p",
            "--external-sync",
            "sub",
            "--sync-delay",
            "160",
            "-r",
            "5",
        ],
        &["-c", "720p_NV12", "-d", "WFOV_2X2BINNED", "-r", "15"],
        &["-c", "720p_YUY2", "-d", "PASSIVE_IR"],
        &["-c", "OFF", "-d", "NFOV_2X2BINNED", "--imu", "OFF"],
    ];
    for (i, family) in families.iter().enumerate() {
        let path: PathBuf = d.path().join(format!("family{i}.mkv"));
        let mut args: Vec<&std::ffi::OsStr> = vec!["record".as_ref(), "--emulate".as_ref()];
        args.extend(family.iter().map(|a| std::ffi::OsStr::new(*a)));
        args.extend(["-l".as_ref(), "1".as_ref(), path.as_os_str()]);
        let out = k4sync(&args);
        assert!(out.status.success(), "{family:?}: {}", stderr(&out));
        let mut ours = info_json(&path);
        // Ours only: the attachments beyond calibration.json (docs/depth.md).
        let attachments = ours.as_object_mut().unwrap().remove("attachments");
        let depth_on = ours["config"]["depth_mode"] != "OFF";
        assert_eq!(
            attachments.as_ref().map(|a| a[0]["name"].clone()),
            depth_on.then(|| Value::from("depth_cal.ccb")),
            "{family:?}: the depth calibration blob is attached with raw depth only"
        );
        let official = official_readout(&python, &path, &ours);
        println!("{family:?}: {official}");
        assert_eq!(official, ours, "{family:?}");
    }
}

/// Reads JSON lines from the recorder's stdout until `want` matches one (60 s at most).
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    seen: &mut Vec<Value>,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let value = json(&line);
        seen.push(value.clone());
        if want(&value) {
            return value;
        }
    }
    panic!("not seen; got {seen:?}");
}

/// `k4sync record --emulate` (720p, NFOV binned, `--json`) reading fault commands from its
/// stdin: the child, its control pipe and its JSON lines.
fn spawn_fault_controlled(
    out_path: &Path,
    extra: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::{BufRead, BufReader};
    let extra: Vec<&str> = ["--json", "--emulate-fault-control", "-"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let mut child = record_command(out_path, &extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let control = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, control, lines)
}

#[test]
fn an_injected_fault_is_logged_with_the_progress_before_it_and_its_consequence() {
    use std::io::Write;
    let d = dir();
    let out_path = d.path().join("fault.mkv");
    let (mut child, mut control, mut lines) = spawn_fault_controlled(&out_path, &["-l", "3"]);
    let mut seen = Vec::new();
    read_until(&mut lines, &mut seen, |v| {
        v["state"] == "streaming" && v["depth_frames"].as_u64() > Some(0)
    });
    // An IMU packet: small enough that the emulator's bounded queue never drops it on a busy
    // machine, as it may a 5 MB depth frame.
    writeln!(control, "short imu").unwrap();
    control.flush().unwrap();
    let fault = read_until(&mut lines, &mut seen, |v| v["event"] == "fault");
    assert_eq!(fault["seq"], 1);
    assert_eq!(fault["fault"], "short imu");
    let progress = &fault["progress"];
    assert_eq!(progress["state"], "streaming");
    assert!(progress["depth_frames"].as_u64() > Some(0), "{fault}");
    assert!(progress["delivered_ts_usec"]["depth"].is_u64(), "{fault}");
    assert!(progress["written"]["until_usec"].is_u64(), "{fault}");
    let dropped = read_until(&mut lines, &mut seen, |v| v["event"] == "device");
    assert_eq!(dropped["what"], "frame_dropped", "{dropped}");
    assert_eq!(dropped["endpoint"], "colour endpoint 0x82");
    assert_eq!(dropped["reason"], "WrongSize");
    writeln!(control, "starve sonar 3").unwrap();
    control.flush().unwrap();
    let rejected = read_until(&mut lines, &mut seen, |v| v["event"] == "fault_rejected");
    assert!(
        rejected["error"].as_str().unwrap().contains("not a stream"),
        "{rejected}"
    );
    let done = read_until(&mut lines, &mut seen, |v| v.get("ok").is_some());
    assert_eq!(done["ok"], true, "{done}");
    assert!(child.wait().unwrap().success());
    // The file holds every frame delivered.
    assert_eq!(
        Some(raw_depth_frames(&out_path)),
        done["stats"]["depth_frames"].as_u64()
    );
}

#[test]
fn a_depth_stall_is_cleared_reported_and_the_recording_goes_on_to_its_end() {
    use std::io::Write;
    let d = dir();
    let out_path = d.path().join("stall.mkv");
    let (mut child, mut control, mut lines) = spawn_fault_controlled(&out_path, &["-l", "3"]);
    let mut seen = Vec::new();
    read_until(&mut lines, &mut seen, |v| {
        v["state"] == "streaming" && v["depth_frames"].as_u64() > Some(0)
    });
    writeln!(control, "stall depth").unwrap();
    control.flush().unwrap();
    let fault = read_until(&mut lines, &mut seen, |v| v["event"] == "fault");
    assert_eq!(fault["fault"], "stall depth");
    let before = fault["progress"]["depth_frames"].as_u64().unwrap();
    let recovered = read_until(&mut lines, &mut seen, |v| v["what"] == "stall_recovered");
    assert!(
        recovered["endpoint"].as_str().unwrap().contains("depth"),
        "{recovered}"
    );
    assert!(recovered["frames_lost"].as_u64() >= Some(1), "{recovered}");
    let done = read_until(&mut lines, &mut seen, |v| v.get("ok").is_some());
    assert_eq!(
        done["ok"], true,
        "a cleared stall does not end the recording: {done}"
    );
    assert!(child.wait().unwrap().success());
    let stats = &done["stats"];
    assert_eq!(stats["stalls_recovered"], 1, "{done}");
    assert!(stats["frames_lost_to_stalls"].as_u64() >= Some(1), "{done}");
    let after = stats["depth_frames"].as_u64().unwrap();
    assert!(
        after > before + 5,
        "depth went on after the stall: {before} then {after}"
    );
    assert_eq!(Some(raw_depth_frames(&out_path)), Some(after));
}

/// Blocks on the raw-depth track of a finalized recording.
fn raw_depth_frames(path: &Path) -> u64 {
    let readout = MkvReader::open_path(path).unwrap().readout().unwrap();
    let raw = readout.custom.iter().find(|c| c.name == "RAW_DEPTH");
    raw.unwrap().stats.frames
}

#[test]
fn injected_disk_full_stops_the_recording_and_leaves_the_written_frames_repairable() {
    use std::io::Write;
    let d = dir();
    let out_path = d.path().join("full.mkv");
    let (mut child, mut control, mut lines) = spawn_fault_controlled(&out_path, &[]);
    let mut seen = Vec::new();
    read_until(&mut lines, &mut seen, |v| {
        v["written"]["depth_frames"].as_u64() > Some(0)
    });
    writeln!(control, "disk-full").unwrap();
    control.flush().unwrap();
    let fault = read_until(&mut lines, &mut seen, |v| v["event"] == "fault");
    assert_eq!(fault["fault"], "disk-full");
    let error = read_until(&mut lines, &mut seen, |v| v.get("ok").is_some());
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{error}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let written = fault["progress"]["written"]["depth_frames"]
        .as_u64()
        .unwrap();
    assert!(written > 0, "{fault}");
    let fixed = d.path().join("fixed.mkv");
    let repaired = repair(&out_path, &fixed);
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    let in_file = raw_depth_frames(&fixed);
    assert!(
        in_file >= written,
        "{written} depth frames written before the fault, {in_file} in the file"
    );
}

#[test]
fn fault_control_needs_the_emulator() {
    let d = dir();
    let out = k4sync([
        "record".as_ref(),
        "--emulate-fault-control".as_ref(),
        "-".as_ref(),
        d.path().join("x.mkv").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs --emulate"), "{}", stderr(&out));
}
