//! `k4sync rig record --emulate 3`: a whole emulated rig in one process, coordinated over
//! zenoh on loopback, then `k4sync align` and `k4sync info` on what it wrote; and `rig record`
//! / `rig stop` against `k4sync agent` processes of a rig made by `rig init`, among them a
//! subordinate whose pulses stop for over a second (its socket cable's far end moved away and
//! back) recovered by the take into a second segment that aligns.
//!
//! Exact expectations, and why they hold: the subordinates are armed (running, waiting for
//! pulses) before the master starts, so each one's first image comes with the master's first
//! pulse; every recorder stops after the same device-time length from its first image
//! (`-l 3` at 15 fps: 45 captures). With no drop — the requirement for these modes — the
//! three files therefore hold 45 captures each and align into 45 complete sets.
//!
//! Real time: the binary is listed as threads-required in `.config/nextest.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

mod support;
use support::{k4sync, stderr, stdout, TAKE_MODES};

const CAPTURES: u64 = 45;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(out), stderr(out)))
}

/// `k4sync rig record --emulate 3 -l SECONDS [--json] OUT`.
fn rig_record(out: &Path, seconds: &str, json: bool) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = ["rig", "record", "--emulate", "3", "-l", seconds]
        .map(AsRef::as_ref)
        .to_vec();
    if json {
        args.push("--json".as_ref());
    }
    args.push(out.as_os_str());
    k4sync(args)
}

fn record_emulated(out: &Path) -> Value {
    let run = rig_record(out, "3", true);
    let v = json_of(&run);
    assert!(run.status.success(), "{v}\n{}", stderr(&run));
    v
}

fn events_of<'a>(manifest: &'a Value, agent: &str) -> Vec<&'a str> {
    manifest["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["agent"] == agent)
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// Index of the first event `event` of `agent` in the whole event list.
fn when(manifest: &Value, agent: &str, event: &str) -> usize {
    manifest["events"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| e["agent"] == agent && e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} of {agent}: {manifest}"))
}

fn check_manifest(out: &Path, result: &Value) -> Value {
    assert_eq!(result["ok"], true);
    let text = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    let m: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m, result["manifest"], "the file is what --json printed");
    assert_eq!(m["format"], "k4sync-rig-manifest");
    assert_eq!(m["outcome"], "completed");
    let devices = m["devices"].as_array().unwrap();
    let roles: Vec<&str> = devices
        .iter()
        .map(|d| d["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["MASTER", "SUBORDINATE", "SUBORDINATE"]);
    let mut delays = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d["agent"], format!("cam{i}"));
        assert_eq!(d["host"], "127.0.0.1");
        assert_eq!(d["files"], serde_json::json!([format!("cam{i}.mkv")]));
        assert_eq!(d["segments"][0]["frames"], CAPTURES, "{d}");
        assert_eq!(d["segments"][0]["dropped"], 0, "{d}");
        assert!(out.join(format!("cam{i}.mkv")).is_file());
        delays.push(d["effective_subordinate_delay_nsec"].as_i64().unwrap());
    }
    assert_eq!(delays[0], 0, "the master has no subordinate delay");
    assert!(
        delays[1] > 0 && delays[2] > delays[1],
        "distinct delays: {delays:?}"
    );
    assert_eq!(devices[2]["start_order"], 2);
    assert_eq!(devices[0]["start_order"], 3, "the master starts last");
    // Subordinates armed (in chain order) before the master's start; all stopped at the end.
    let start = when(&m, "cam0", "start");
    assert!(when(&m, "cam1", "armed") < when(&m, "cam2", "arm"));
    assert!(when(&m, "cam2", "armed") < start);
    for cam in ["cam0", "cam1", "cam2"] {
        assert!(when(&m, cam, "first_image") > start, "{cam}");
        assert!(events_of(&m, cam).contains(&"stopped"), "{cam}");
    }
    m
}

fn tags(file: &Path) -> Value {
    let out = k4sync(["info".as_ref(), "--json".as_ref(), file.as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    json_of(&out)["tags"].clone()
}

#[test]
fn an_emulated_rig_of_three_records_three_synced_files_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("take");
    let result = record_emulated(&out);
    let m = check_manifest(&out, &result);
    let devices = m["devices"].as_array().unwrap();

    for d in devices {
        let t = tags(&out.join(d["files"][0].as_str().unwrap()));
        assert_eq!(t["K4A_WIRED_SYNC_MODE"], d["role"]);
        assert_eq!(t["K4A_DEVICE_SERIAL_NUMBER"], d["serial"]);
        assert_eq!(t["K4A_COLOR_MODE"], "MJPG_720P");
        assert_eq!(t["K4A_DEPTH_MODE"], "PASSIVE_IR");
        if d["role"] == "SUBORDINATE" {
            assert_eq!(
                t["K4A_SUBORDINATE_DELAY_NS"],
                d["effective_subordinate_delay_nsec"].to_string(),
                "{d}"
            );
        } else {
            assert!(t.get("K4A_SUBORDINATE_DELAY_NS").is_none(), "{t}");
        }
    }

    let mut args = vec!["align".into(), "--json".into(), "--manifest".into()];
    args.push(out.join("manifest.json").into_os_string());
    for i in 0..3 {
        args.push(out.join(format!("cam{i}.mkv")).into_os_string());
    }
    let run = k4sync(args);
    let a = json_of(&run);
    assert!(run.status.success(), "{a}");
    let aligned = a["devices"].as_array().unwrap();
    for (dev, d) in aligned.iter().zip(devices) {
        assert_eq!(dev["role"], d["role"]);
        assert_eq!(dev["serial"], d["serial"]);
        assert_eq!(dev["host"], "127.0.0.1", "matched through the manifest");
        // Every frame on the master's grid; the offset to the master grows with the emulated
        // oscillators' drift (`params_for`: emu:0 −100 ppm, emu:1 −65 ppm, emu:2 −30 ppm), which
        // align measures exactly and which can carry a device past the offset tolerance
        // ("degraded") but never off the grid.
        assert!(
            ["synced", "degraded"].contains(&dev["state"].as_str().unwrap()),
            "{dev}"
        );
        assert_eq!(dev["frames"]["color"], CAPTURES);
        assert_eq!(dev["dropped"]["color"].as_array().unwrap().len(), 0);
        // The file carries the effective delay in ns; align reads it in whole µs.
        let ns = d["effective_subordinate_delay_nsec"].as_u64().unwrap();
        assert_eq!(dev["subordinate_delay_usec"]["configured"], ns / 1000);
    }
    let drift: Vec<f64> = aligned[1..]
        .iter()
        .map(|d| d["drift_ppm"].as_f64().unwrap())
        .collect();
    assert!((drift[0] - 35.0).abs() < 1.0, "{drift:?}");
    assert!((drift[1] - 70.0).abs() < 1.0, "{drift:?}");
    assert_eq!(a["summary"]["sets"], CAPTURES, "{}", a["summary"]);
    assert_eq!(a["summary"]["complete"], CAPTURES, "{}", a["summary"]);
    assert_eq!(a["summary"]["incomplete"], 0);
    assert_eq!(a["summary"]["unsynced_frames"], 0);
}

#[test]
fn an_emulated_rig_never_overwrites_an_earlier_take() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("take");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("cam1.mkv"), b"earlier take").unwrap();
    let run = rig_record(&out, "1", false);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("cam1.mkv already exists"),
        "{}",
        stderr(&run)
    );
    assert_eq!(
        std::fs::read(out.join("cam1.mkv")).unwrap(),
        b"earlier take"
    );
    assert!(!out.join("manifest.json").exists());
}

/// `k4sync agent` processes, killed when dropped.
struct Agents(Vec<std::process::Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts agent `name` of the rig in `rig` with an emulated camera whose jacks are `jacks`.
fn agent(rig: &Path, name: &str, index: &str, jacks: &str) -> std::process::Child {
    let config = rig.join(name).join("zenoh.json5");
    std::process::Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["agent", "--rig", "r", "--emulate", "--emulate-index", index])
        .args(["--emulate-jacks", jacks, "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(rig.join("data"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn rig_record_against_agent_processes_names_the_subordinate_without_pulses() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("r");
    init_rig(&rig, &["a", "b"]);
    // Separate agent processes share no emulated cable: b's plug gets no pulses.
    let _agents = Agents(vec![
        agent(&rig, "a", "0", "out"),
        agent(&rig, "b", "1", "in"),
    ]);
    let out = dir.path().join("take");
    let mut args: Vec<&std::ffi::OsStr> = ["rig", "record", "--json", "--wait", "10"]
        .map(AsRef::as_ref)
        .to_vec();
    args.extend(TAKE_MODES.map(AsRef::<std::ffi::OsStr>::as_ref));
    args.extend(["--pulse-timeout", "2"].map(AsRef::<std::ffi::OsStr>::as_ref));
    args.extend([
        "--take".as_ref(),
        "t1".as_ref(),
        "--dir".as_ref(),
        rig.as_os_str(),
    ]);
    args.extend(["--out".as_ref(), out.as_os_str()]);
    let run = k4sync(args);
    let v = json_of(&run);
    assert_eq!(run.status.code(), Some(1), "{v}\n{}", stderr(&run));
    assert_eq!(v["ok"], false);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.starts_with("agent b: no image within 2.0 s"),
        "{error}"
    );
    assert!(error.contains("no sync pulses"), "{error}");
    assert_eq!(v["manifest"]["outcome"], "failed");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(written, v["manifest"]);
    let master_file = written["devices"][0]["files"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no master file: {written:#}"));
    assert!(Path::new(master_file).is_absolute(), "{master_file}");
    assert!(std::fs::metadata(master_file).unwrap().len() > 0);

    let stop = k4sync([
        "rig".as_ref(),
        "stop".as_ref(),
        "--json".as_ref(),
        "--dir".as_ref(),
        rig.as_os_str(),
    ]);
    let answers = json_of(&stop);
    assert!(stop.status.success(), "{answers}");
    let agents: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["a", "b"]);
    for a in answers.as_array().unwrap() {
        assert_eq!(a["recorder"]["state"], "finished", "{a}");
    }
}

/// `k4sync rig init DIR --agents a=…,b=…` with free loopback ports.
fn init_rig(rig: &Path, names: &[&str]) {
    let agents: Vec<String> = names
        .iter()
        .map(|n| format!("{n}=127.0.0.1:{}", free_port()))
        .collect();
    let agents = agents.join(",");
    let init = k4sync([
        "rig".as_ref(),
        "init".as_ref(),
        rig.as_os_str(),
        "--agents".as_ref(),
        agents.as_ref(),
    ]);
    assert!(init.status.success(), "{}", stderr(&init));
}

/// Starts agent `name` with emulated camera `index` on the socket cable: listening for
/// pulses at `sync_in`, sending its own to `sync_out`.
fn cabled_agent(
    rig: &Path,
    name: &str,
    index: &str,
    sync_in: Option<&Path>,
    sync_out: Option<&Path>,
) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_k4sync"));
    command
        .args(["agent", "--rig", "r", "--emulate", "--emulate-index", index])
        .arg("--config")
        .arg(rig.join(name).join("zenoh.json5"))
        .arg("--data-dir")
        .arg(rig.join("data"));
    if let Some(path) = sync_in {
        command.arg("--emulate-sync-in").arg(path);
    }
    if let Some(path) = sync_out {
        command.arg("--emulate-sync-out").arg(path);
    }
    command.stderr(std::process::Stdio::null()).spawn().unwrap()
}

#[test]
fn agent_processes_on_one_socket_cable_record_a_synced_take() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("r");
    init_rig(&rig, &["a", "b", "c"]);
    let (b_in, c_in) = (dir.path().join("b-sync-in"), dir.path().join("c-sync-in"));
    // a (master) → b → c, each in its own process; the cable is a Unix socket per plug.
    let _agents = Agents(vec![
        cabled_agent(&rig, "a", "0", None, Some(&b_in)),
        cabled_agent(&rig, "b", "1", Some(&b_in), Some(&c_in)),
        cabled_agent(&rig, "c", "2", Some(&c_in), None),
    ]);
    let out = dir.path().join("take");
    let mut args: Vec<&std::ffi::OsStr> = ["rig", "record", "--json", "--wait", "10"]
        .map(AsRef::as_ref)
        .to_vec();
    args.extend(TAKE_MODES.map(AsRef::<std::ffi::OsStr>::as_ref));
    args.extend([
        "--take".as_ref(),
        "t1".as_ref(),
        "--dir".as_ref(),
        rig.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let run = k4sync(args);
    let v = json_of(&run);
    assert!(run.status.success(), "{v}\n{}", stderr(&run));
    let devices = v["manifest"]["devices"].as_array().unwrap();
    let mut files = Vec::new();
    for d in devices {
        assert_eq!(d["segments"][0]["frames"], CAPTURES, "{d}");
        files.push(d["files"][0].as_str().unwrap().to_string());
    }
    let mut args = vec!["align".to_string(), "--json".to_string()];
    args.extend(files);
    let aligned = k4sync(&args);
    let a = json_of(&aligned);
    assert!(aligned.status.success(), "{a}");
    assert_eq!(a["summary"]["sets"], CAPTURES, "{}", a["summary"]);
    assert_eq!(a["summary"]["complete"], CAPTURES, "{}", a["summary"]);
    for d in a["devices"].as_array().unwrap() {
        assert!(
            ["synced", "degraded"].contains(&d["state"].as_str().unwrap()),
            "{d}"
        );
    }
}

#[test]
fn a_failed_preflight_under_json_is_an_ok_false_object_naming_each_agent() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("r");
    init_rig(&rig, &["a", "b"]);
    let run = k4sync([
        "rig".as_ref(),
        "record".as_ref(),
        "--json".as_ref(),
        "--wait".as_ref(),
        "1".as_ref(),
        "-l".as_ref(),
        "1".as_ref(),
        "--dir".as_ref(),
        rig.as_os_str(),
        "--out".as_ref(),
        dir.path().join("take").as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let v = json_of(&run);
    assert_eq!(v["ok"], false, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("the rig check failed"), "{error}");
    assert!(
        error.contains("agent a: not connected") && error.contains("agent b"),
        "{error}"
    );
    assert!(!dir.path().join("take").join("manifest.json").exists());
}

/// `GET path` over HTTP/1.0 with optional headers: the status code and the body.
fn http_get(port: u16, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn rig_serve_off_loopback_prints_its_url_with_a_token_and_refuses_requests_without_it() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args([
            "rig",
            "serve",
            "--emulate",
            "2",
            "--listen",
            "0.0.0.0:0",
            "--out",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard: ")
        .unwrap_or_else(|| panic!("{line}"));
    let (address, token) = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split_once("/?token="))
        .unwrap_or_else(|| panic!("{url}"));
    let port: u16 = address.parse().unwrap();
    assert_eq!(token.len(), 32, "{url}");

    let (status, _) = http_get(port, "/api/state", "");
    assert_eq!(status, 401);
    let (status, body) = http_get(
        port,
        "/api/state",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["agents"].as_array().unwrap().len(), 2, "{state}");
    let (status, page) = http_get(port, &format!("/?token={token}"), "");
    assert_eq!(status, 200);
    assert!(page.contains("k4sync rig"));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Spawns `rig record` with its progress (stderr) read line by line into the channel.
fn spawn_take(
    rig: &Path,
    out: &Path,
    seconds: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["rig", "record", "--json", "--wait", "10", "--take", "t1"])
        .args(&TAKE_MODES[..8])
        .args(["-l", seconds])
        .arg("--dir")
        .arg(rig)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let progress = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(progress)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Agents a (master) → b on the socket cable under `dir`, and an 8 s take of them that has
/// recorded for a second: the agents, b's Sync In socket, the take and its progress lines.
fn master_and_subordinate_recording(
    dir: &Path,
) -> (
    Agents,
    std::path::PathBuf,
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
) {
    let rig = dir.join("r");
    init_rig(&rig, &["a", "b"]);
    let b_in = dir.join("b-sync-in");
    let agents = Agents(vec![
        cabled_agent(&rig, "a", "0", None, Some(&b_in)),
        cabled_agent(&rig, "b", "1", Some(&b_in), None),
    ]);
    let (child, lines) = spawn_take(&rig, &dir.join("take"), "8");
    await_line(&lines, "b first_image");
    std::thread::sleep(std::time::Duration::from_secs(1));
    (agents, b_in, child, lines)
}

/// Waits for a progress line containing `what`, failing with the lines seen.
fn await_line(lines: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(what) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no progress line with {what:?}; saw:\n{}", seen.join("\n"));
}

#[test]
fn a_subordinate_without_pulses_for_over_a_second_is_recovered_into_a_second_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (_agents, b_in, child, lines) = master_and_subordinate_recording(dir.path());
    // The cable's far end taken away: a's pulses go nowhere while b's jack still reads a plug,
    // as on a real agent, which cannot read its jacks while it records.
    let away = dir.path().join("b-sync-in.out");
    std::fs::rename(&b_in, &away).unwrap();
    let alarm = await_line(&lines, "ALARM b: pulses lost");
    let recover = await_line(&lines, "b recover");
    std::fs::rename(&away, &b_in).unwrap();
    let run = child.wait_with_output().unwrap();
    let v = json_of(&run);
    assert!(run.status.success(), "{v}\n{alarm}\n{recover}");

    let manifest = &v["manifest"];
    let recovery = the_one_recovery_of_b(manifest);
    assert_eq!(recovery["segment"], 1);
    let reason = recovery["reason"].as_str().unwrap();
    assert!(reason.contains("Sync In plugged"), "{reason}");
    second_segment_aligns(manifest);
}

/// The take of `manifest` completed with one recovery, of agent b; that recovery.
fn the_one_recovery_of_b(manifest: &Value) -> &Value {
    assert_eq!(manifest["outcome"], "completed", "{manifest}");
    let recoveries = manifest["recoveries"].as_array().unwrap();
    assert_eq!(recoveries.len(), 1, "{manifest}");
    assert_eq!(recoveries[0]["agent"], "b");
    &recoveries[0]
}

/// Every device of `manifest` has two files, and the second segment's align into complete
/// sets with no unsynced frame.
fn second_segment_aligns(manifest: &Value) {
    let second: Vec<String> = manifest["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["files"].as_array().unwrap().len(), 2, "{d}");
            d["files"][1].as_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["align".to_string(), "--json".to_string()];
    args.extend(second);
    let aligned = k4sync(&args);
    let a = json_of(&aligned);
    assert!(aligned.status.success(), "{a}");
    let summary = &a["summary"];
    assert!(summary["sets"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["sets"], summary["complete"], "{summary}");
    assert_eq!(summary["unsynced_frames"], 0, "{summary}");
}

#[test]
fn a_subordinate_agent_frozen_past_its_lease_is_stopped_on_return_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (agents, _, child, lines) = master_and_subordinate_recording(dir.path());
    let b = agents.0[1].id().to_string();
    let signal = |which: &str| {
        let sent = std::process::Command::new("kill")
            .args([which, &b])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {which} {b}");
    };
    // Frozen (its host stalled, its network gone for a while): its links lapse, the take
    // counts it gone; when it comes back it still records the segment that ended.
    signal("-STOP");
    let recover = await_line(&lines, "b recover");
    std::thread::sleep(std::time::Duration::from_millis(500));
    signal("-CONT");
    let run = child.wait_with_output().unwrap();
    let v = json_of(&run);
    assert!(run.status.success(), "{v}\n{recover}");
    let manifest = &v["manifest"];
    the_one_recovery_of_b(manifest);
    second_segment_aligns(manifest);
}
