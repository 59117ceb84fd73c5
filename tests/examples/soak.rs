//! The soak test's driver (docs/testing.md, "Soak"; run by `scripts/soak.sh`): `k4sync record`
//! on the real-time emulator, recorder after recorder, with a random fault every few seconds,
//! then every file checked.
//!
//! Faults go to the recorder through its hidden `--emulate-fault-control -` (stdin). While a
//! recorder lives (20–60 s) it gets a fault every 2–6 s that leaves it running (`short`,
//! `starve` of a random stream, `stall imu`); then it ends by one terminal event drawn at its
//! start: SIGTERM, `unplug`, `disk-full`, SIGKILL, `stall depth` or `stall colour`. The RNG is
//! seeded (the seed is printed; `--seed` replays a run's fault schedule; timing still varies).
//!
//! Checks per recorder (any failure is a violation; the process exits 1):
//! * every fault sent is acknowledged in the recorder's JSON log (`"event":"fault"`), unless
//!   the recorder was already stopping (counted as late, not a violation);
//! * the file opens in our reader strictly — after `k4sync repair` when the recorder was
//!   killed or its disk was full — and `k4sync info --json` equals Microsoft's readout
//!   (`tests/interop/official_readout.py` with `--python`);
//! * no frame missing: for a recording that ended cleanly (SIGTERM, unplug, stream error),
//!   every frame the recorder reported *delivered* to its writer before each fault
//!   (`progress.delivered_ts_usec` and counts) is in the file, and the file's totals equal the
//!   final status's; for one killed or out of disk, every frame it reported *written to the
//!   file* (`written`) before the fault is in the repaired file — frames the writer still held
//!   in memory are lost by design.
//! * RSS (VmRSS, sampled every second): per recorder living ≥ 30 s, the median of its last
//!   third ≤ the median of its first third + tolerance; across the run, the same for the
//!   per-recorder medians of recorders started in the first and the last third. Peaks are
//!   reported.

// A test harness, like the integration tests: a broken invariant of its own is a panic.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k4sync_host::mkv::MkvReader;
use serde_json::Value;

/// Growth of the median RSS allowed between the first and the last third: 8 MB plus 10 %.
/// Medians, not peaks: RSS swings by ±25 MB with what the writer holds at the sample (its
/// 2 s hold-back, the queue, the emulator's own queues), which says nothing about a leak.
fn rss_tolerance_kb(first_kb: u64) -> u64 {
    8 * 1024 + first_kb / 10
}

/// Colour 720p MJPG, passive IR (raw frames of 1.7 MB) at 15 fps, IMU on: about 25 MB/s, which
/// this project's 2-core build machine writes without dropping at the queue. NFOV raw depth
/// (5.3 MB a frame, 160 MB/s at 30 fps) is more than its disk takes.
const DEFAULT_MODE: &str = "-c 720p -d PASSIVE_IR -r 15 --imu ON";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

struct Options {
    minutes: f64,
    seed: u64,
    k4sync: PathBuf,
    work: PathBuf,
    python: Option<PathBuf>,
    readout: PathBuf,
    /// The recorder's mode options.
    mode: Vec<String>,
}

fn options() -> Options {
    let mut o = Options {
        minutes: 30.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        k4sync: PathBuf::from("target/release/k4sync"),
        work: std::env::temp_dir().join("k4sync-soak"),
        python: None,
        readout: PathBuf::from("tests/interop/official_readout.py"),
        mode: DEFAULT_MODE.split(' ').map(str::to_owned).collect(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--minutes" => o.minutes = v().parse().expect("--minutes: a number"),
            "--seed" => o.seed = v().parse().expect("--seed: a number"),
            "--k4sync" => o.k4sync = v().into(),
            "--work" => o.work = v().into(),
            "--python" => {
                o.python = Some(v().into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "--readout" => o.readout = v().into(),
            "--mode" => o.mode = v().split_whitespace().map(str::to_owned).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

#[derive(Default)]
struct Log {
    events: Vec<Value>,
    raw: Vec<String>,
}

struct Sent {
    seq: u64,
    line: String,
    at: Instant,
}

struct Run {
    index: usize,
    path: PathBuf,
    started: Instant,
    sent: Vec<Sent>,
    killed: Option<Value>,
    rss_kb: Vec<u64>,
    ended: Instant,
    log: Arc<Mutex<Log>>,
    stderr: String,
    status: Option<i32>,
}

#[derive(Default)]
struct Totals {
    recorders: u64,
    faults: BTreeMap<String, u64>,
    late_faults: u64,
    frames: [u64; 3],
    queue_drops: u64,
    /// Of those, dropped while the file system held the writer.
    queue_drops_file_stalled: u64,
    device_events: BTreeMap<String, u64>,
    repaired: u64,
    /// Killed or out of disk before the first cluster: `info` says no frame was ever written.
    empty: u64,
    /// Per recorder: start (s into the run), peak and median RSS.
    rss_kb: Vec<(f64, u64, u64)>,
    violations: Vec<String>,
}

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn spawn(o: &Options, path: &Path) -> (Child, Arc<Mutex<Log>>) {
    let mut child = Command::new(&o.k4sync)
        .args(["record", "--emulate"])
        .args(&o.mode)
        .args(["--json", "--emulate-fault-control", "-"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", o.k4sync.display()));
    let log = Arc::new(Mutex::new(Log::default()));
    let out = child.stdout.take().expect("piped stdout");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or(Value::Null);
            let mut log = sink.lock().unwrap();
            log.events.push(value);
            log.raw.push(line);
        }
    });
    (child, log)
}

fn last_status(log: &Log) -> Option<Value> {
    log.events
        .iter()
        .rev()
        .find(|e| e.get("state").is_some())
        .cloned()
}

fn streaming(log: &Log) -> bool {
    last_status(log)
        .is_some_and(|s| s["state"] == "streaming" && s["colour_frames"].as_u64() > Some(0))
}

fn stopping(log: &Log) -> bool {
    log.events.iter().any(|e| {
        matches!(e["state"].as_str(), Some("stopping" | "stopped")) || e.get("ok").is_some()
    })
}

fn terminate(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
}

/// Runs one recorder to its end and returns what happened.
fn record_one(
    o: &Options,
    rng: &mut Rng,
    index: usize,
    deadline: Instant,
    totals: &mut Totals,
) -> Run {
    let path = o.work.join(format!("rec-{index:04}.mkv"));
    let (mut child, log) = spawn(o, &path);
    let mut stdin = child.stdin.take();
    let started = Instant::now();
    let lifetime = Duration::from_secs(rng.range(20, 60));
    let mut run = Run {
        index,
        path,
        started,
        sent: Vec::new(),
        killed: None,
        rss_kb: Vec::new(),
        ended: started,
        log: Arc::clone(&log),
        stderr: String::new(),
        status: None,
    };
    let mut next_sample = started;
    let mut seq = 0;
    // Mid-life faults leave the recorder running (short frames, starvation, a stall on one of
    // the IMU's 8 transfers); each recorder ends after its lifetime by one terminal event.
    let ender = rng.pick(&[
        "SIGTERM",
        "unplug",
        "disk-full",
        "kill",
        "stall depth",
        "stall colour",
    ]);
    // The whole schedule is drawn up front, so a seed replays it whatever the timing.
    let mut plan = std::collections::VecDeque::new();
    let mut at = Duration::ZERO;
    loop {
        at += Duration::from_millis(rng.range(2000, 6000));
        if at >= lifetime {
            break;
        }
        let stream = rng.pick(&["depth", "colour", "imu"]);
        plan.push_back(match rng.pick(&["short", "starve", "stall imu"]) {
            "short" => (at, format!("short {stream}"), format!("short {stream}")),
            "starve" => (
                at,
                format!("starve {stream} {}", rng.range(1, 60)),
                format!("starve {stream}"),
            ),
            other => (at, other.to_owned(), other.to_owned()),
        });
    }
    let mut ending: Option<Instant> = None;
    let mut termed = false;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        let now = Instant::now();
        if now >= next_sample {
            if let Some(kb) = vm_rss_kb(child.id()) {
                run.rss_kb.push(kb);
            }
            next_sample += Duration::from_secs(1);
        }
        let ready = {
            let log = log.lock().unwrap();
            streaming(&log) && !stopping(&log)
        };
        let mut fault = None;
        if let Some(since) = ending {
            // A terminal fault that did not end the recorder (a stall on a stream that had
            // transfers to spare) is followed by a clean stop.
            if !termed && now >= since + Duration::from_secs(20) {
                terminate(&mut child, "-TERM");
                termed = true;
            }
        } else if now >= started + lifetime || now >= deadline {
            ending = Some(now);
            if ender == "SIGTERM" || now >= deadline || !ready {
                terminate(&mut child, "-TERM");
                termed = true;
                *totals.faults.entry("SIGTERM (end)".to_owned()).or_default() += 1;
            } else {
                fault = Some((ender.to_owned(), ender.to_owned()));
            }
        } else if ready && plan.front().is_some_and(|p| now >= started + p.0) {
            fault = plan.pop_front().map(|p| (p.1, p.2));
        }
        if let Some((line, key)) = fault {
            *totals.faults.entry(key).or_default() += 1;
            if line == "kill" {
                run.killed = Some(last_status(&log.lock().unwrap()).unwrap_or(Value::Null));
                let _ = child.kill();
                continue;
            }
            seq += 1;
            let written = stdin
                .as_mut()
                .is_some_and(|s| writeln!(s, "{line}").and_then(|()| s.flush()).is_ok());
            if written {
                run.sent.push(Sent {
                    seq,
                    line,
                    at: Instant::now(),
                });
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    run.ended = Instant::now();
    run.status = status.code();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut run.stderr);
    }
    // Let the stdout reader take the last lines.
    std::thread::sleep(Duration::from_millis(200));
    run
}

/// Device timestamps per stream (colour, depth, IMU accelerometer) in a strictly readable file.
fn timestamps(path: &Path) -> Result<[Vec<u64>; 3], String> {
    let mut reader = MkvReader::open_path(path).map_err(|e| format!("our reader: {e}"))?;
    let offset = reader
        .tag("K4A_START_OFFSET_NS")
        .and_then(|t| t.value.parse::<u64>().ok())
        .unwrap_or(0)
        / 1000;
    let track = |name: &str| {
        reader
            .tracks
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.number)
    };
    let (colour, depth, imu) = (track("COLOR"), track("RAW_DEPTH"), track("IMU"));
    let mut out: [Vec<u64>; 3] = Default::default();
    for cluster in reader.clusters() {
        let cluster = cluster.map_err(|e| format!("our reader: {e}"))?;
        for block in cluster.blocks {
            let ts = (block.time_ticks.max(0) as u64) + offset;
            if Some(block.track) == colour {
                out[0].push(ts);
            } else if Some(block.track) == depth {
                out[1].push(ts);
            } else if Some(block.track) == imu {
                for frame in &block.frames {
                    let ns = frame
                        .get(..8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                    out[2].push(ns / 1000);
                }
            }
        }
    }
    Ok(out)
}

fn info_json(o: &Options, path: &Path) -> Result<Value, String> {
    let out = Command::new(&o.k4sync)
        .args(["info", "--json"])
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "k4sync info: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("k4sync info output: {e}"))
}

fn official(o: &Options, python: &Path, path: &Path, ours: &Value) -> Result<(), String> {
    let tags = ours["tags"].as_object().into_iter().flat_map(|t| t.keys());
    let out = Command::new(python)
        .arg(&o.readout)
        .arg(path)
        .args(tags.flat_map(|k| ["--tag", k.as_str()]))
        .output()
        .map_err(|e| e.to_string())?;
    let theirs: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "Microsoft's library: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if theirs != *ours {
        return Err(format!(
            "Microsoft's library reads {theirs} but we read {ours}"
        ));
    }
    Ok(())
}

const STREAMS: [&str; 3] = ["colour", "depth", "imu"];

/// Checks one finished recorder; returns its violations.
fn verify(o: &Options, run: &Run, totals: &mut Totals) -> Vec<String> {
    let mut bad = Vec::new();
    let log = run.log.lock().unwrap();
    let name = run.path.display().to_string();
    // Every fault in the log.
    let stopped = log.events.iter().any(|e| e["state"] == "stopping");
    for sent in &run.sent {
        let ack = log.events.iter().position(|e| {
            e["event"] == "fault"
                && e["seq"].as_u64() == Some(sent.seq)
                && e["fault"] == sent.line.as_str()
        });
        let late = stopped && run.ended.duration_since(sent.at) < Duration::from_secs(2);
        match (ack, late) {
            (Some(_), _) => {}
            (None, true) => totals.late_faults += 1,
            (None, false) => bad.push(format!(
                "{name}: fault {} {:?} is not in the recorder's log",
                sent.seq, sent.line
            )),
        }
    }
    for e in &log.events {
        if e["event"] == "fault_rejected" {
            bad.push(format!("{name}: fault rejected: {e}"));
        }
        if e["event"] == "device" {
            let what = e["what"].as_str().unwrap_or("?");
            let endpoint = e["endpoint"].as_str().unwrap_or("?");
            *totals
                .device_events
                .entry(format!("{what} on {endpoint}"))
                .or_default() += 1;
        }
    }
    let finale = log
        .events
        .iter()
        .rev()
        .find(|e| e.get("ok").is_some())
        .cloned();
    let stopped = log
        .events
        .iter()
        .rev()
        .find(|e| e["state"] == "stopped")
        .cloned();
    let unfinalized = finale.as_ref().is_some_and(|f| {
        f["error"]
            .as_str()
            .is_some_and(|e| e.contains("clusters written before stay readable"))
    });
    let needs_repair = run.killed.is_some() || unfinalized;
    if run.killed.is_none() && finale.is_none() {
        bad.push(format!(
            "{name}: the recorder exited ({:?}) without a final status; stderr: {}",
            run.status, run.stderr
        ));
    }
    if needs_repair {
        let progress = run.killed.as_ref().or_else(|| {
            log.events
                .iter()
                .rev()
                .find(|e| e["event"] == "fault" && e["fault"] == "disk-full")
                .map(|e| &e["progress"])
        });
        let nothing_written =
            progress.is_none_or(|p| p["written"]["until_usec"].as_u64() == Some(0));
        if nothing_written {
            if let Err(e) = info_json(o, &run.path) {
                if e.contains("no frame was ever written") {
                    totals.empty += 1;
                    return bad;
                }
            }
        }
    }
    let mut checked = run.path.clone();
    if needs_repair {
        totals.repaired += 1;
        checked = run.path.with_extension("repaired.mkv");
        let out = Command::new(&o.k4sync)
            .arg("repair")
            .arg(&run.path)
            .arg("-o")
            .arg(&checked)
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => bad.push(format!(
                "{name}: k4sync repair: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => bad.push(format!("{name}: k4sync repair: {e}")),
        }
    }
    let ours = match info_json(o, &checked) {
        Ok(v) if v.get("salvaged").is_some() => {
            bad.push(format!("{}: not finalized: {v}", checked.display()));
            v
        }
        Ok(v) => v,
        Err(e) => {
            bad.push(format!("{}: {e}", checked.display()));
            return bad;
        }
    };
    if let Some(python) = &o.python {
        if let Err(e) = official(o, python, &checked, &ours) {
            bad.push(format!("{}: {e}", checked.display()));
        }
    }
    let ts = match timestamps(&checked) {
        Ok(ts) => ts,
        Err(e) => {
            bad.push(format!("{}: {e}", checked.display()));
            return bad;
        }
    };
    for (i, list) in ts.iter().enumerate() {
        totals.frames[i] += list.len() as u64;
    }
    // No frame missing.
    let mut checkpoints: Vec<(String, &Value)> = log
        .events
        .iter()
        .filter(|e| e["event"] == "fault" && e["progress"].is_object())
        .map(|e| (format!("fault {}", e["fault"]), &e["progress"]))
        .collect();
    if let Some(k) = &run.killed {
        if k.is_object() {
            checkpoints.push(("SIGKILL".to_owned(), k));
        }
    }
    for (what, p) in checkpoints {
        for (i, stream) in STREAMS.iter().enumerate() {
            let (limit, want, kind) = if needs_repair {
                let until = p["written"]["until_usec"].as_u64().unwrap_or(0);
                let n = p["written"]
                    [format!("{stream}_{}", if i == 2 { "samples" } else { "frames" })]
                .as_u64()
                .unwrap_or(0);
                (until.checked_sub(1), n, "written")
            } else {
                let last = p["delivered_ts_usec"][stream].as_u64();
                let n = p[format!("{stream}_{}", if i == 2 { "samples" } else { "frames" })]
                    .as_u64()
                    .unwrap_or(0);
                (last, n, "delivered")
            };
            let Some(limit) = limit else { continue };
            let have = ts[i].iter().filter(|&&t| t <= limit).count() as u64;
            if have < want {
                bad.push(format!(
                    "{}: before {what}: {want} {stream} {kind} up to {limit} µs, the file has {have}",
                    checked.display()
                ));
            }
        }
    }
    if let (false, Some(s)) = (needs_repair, &stopped) {
        totals.queue_drops += s["dropped_queue_captures"].as_u64().unwrap_or(0);
        totals.queue_drops_file_stalled += s["dropped_queue_file_stalled"].as_u64().unwrap_or(0);
        for (i, stream) in STREAMS.iter().enumerate() {
            let want = s[format!("{stream}_{}", if i == 2 { "samples" } else { "frames" })]
                .as_u64()
                .unwrap_or(0);
            if ts[i].len() as u64 != want {
                bad.push(format!(
                    "{}: {want} {stream} delivered in all, the file has {}",
                    checked.display(),
                    ts[i].len()
                ));
            }
        }
    }
    // RSS flat per process.
    let n = run.rss_kb.len();
    if n >= 30 {
        let first = median(&run.rss_kb[..n / 3]);
        let last = median(&run.rss_kb[n - n / 3..]);
        if last > first + rss_tolerance_kb(first) {
            bad.push(format!(
                "{name}: median RSS grew from {first} kB (first third) to {last} kB (last third)"
            ));
        }
    }
    bad
}

fn main() {
    let o = options();
    std::fs::create_dir_all(&o.work).expect("work directory");
    println!(
        "soak: seed {} ({} min, `k4sync record --emulate {}`, files in {}, Microsoft's library {})",
        o.seed,
        o.minutes,
        o.mode.join(" "),
        o.work.display(),
        o.python
            .as_ref()
            .map_or("skipped".into(), |p| p.display().to_string())
    );
    let mut rng = Rng(o.seed);
    let mut totals = Totals::default();
    let run_start = Instant::now();
    let deadline = run_start + Duration::from_secs_f64(o.minutes * 60.0);
    let mut index = 0;
    while Instant::now() < deadline {
        index += 1;
        let run = record_one(&o, &mut rng, index, deadline, &mut totals);
        let bad = verify(&o, &run, &mut totals);
        if bad.is_empty() {
            let _ = std::fs::remove_file(&run.path);
            let _ = std::fs::remove_file(run.path.with_extension("repaired.mkv"));
        } else {
            let raw = run.log.lock().unwrap().raw.join("\n");
            let rss = format!("\n{{\"rss_kb\":{:?}}}\n", run.rss_kb);
            let _ = std::fs::write(run.path.with_extension("log"), raw + &rss);
        }
        totals.recorders += 1;
        let peak = run.rss_kb.iter().max().copied().unwrap_or(0);
        let start = run.started.duration_since(run_start).as_secs_f64();
        totals.rss_kb.push((start, peak, median(&run.rss_kb)));
        let end = match (&run.killed, run.status) {
            (Some(_), _) => "SIGKILL".to_owned(),
            (None, Some(0)) => "stopped".to_owned(),
            (None, code) => {
                let log = run.log.lock().unwrap();
                let error = log.events.iter().rev().find_map(|e| e["error"].as_str());
                let error: String = error.unwrap_or("-").chars().take(110).collect();
                format!("exit {code:?}: {error}")
            }
        };
        println!(
            "recorder {}: {:.0} s, {} fault(s), RSS peak {} kB median {} kB, {}; {end}",
            run.index,
            run.ended.duration_since(run.started).as_secs_f64(),
            run.sent.len(),
            peak,
            median(&run.rss_kb),
            if bad.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} violation(s)", bad.len())
            }
        );
        for b in &bad {
            println!("  VIOLATION {b}");
        }
        totals.violations.extend(bad);
    }
    let span = run_start.elapsed().as_secs_f64();
    let third = |lo: f64, hi: f64, pick: fn(&(f64, u64, u64)) -> u64| {
        totals
            .rss_kb
            .iter()
            .filter(|r| r.0 >= lo * span && r.0 < hi * span)
            .map(pick)
            .max()
    };
    let first = third(0.0, 1.0 / 3.0, |r| r.2);
    let last = third(2.0 / 3.0, 1.0, |r| r.2);
    if let (Some(first), Some(last)) = (first, last) {
        println!(
            "RSS of recorders started in the first third: median ≤ {first} kB, peak ≤ {} kB; \
             in the last third: median ≤ {last} kB, peak ≤ {} kB",
            third(0.0, 1.0 / 3.0, |r| r.1).unwrap_or(0),
            third(2.0 / 3.0, 1.0, |r| r.1).unwrap_or(0),
        );
        if last > first + rss_tolerance_kb(first) {
            totals.violations.push(format!(
                "median RSS grew over the run: {first} kB → {last} kB"
            ));
        }
    }
    println!(
        "soak: seed {}, {:.1} min, {} recorders ({} repaired after SIGKILL or disk-full, {} ended before their first cluster), faults {:?} ({} late), \
         frames colour {} depth {} imu {}, queue drops {} ({} while the file system held the writer), device events {:?}, peak RSS {} kB, violations {}",
        o.seed,
        span / 60.0,
        totals.recorders,
        totals.repaired,
        totals.empty,
        totals.faults,
        totals.late_faults,
        totals.frames[0],
        totals.frames[1],
        totals.frames[2],
        totals.queue_drops,
        totals.queue_drops_file_stalled,
        totals.device_events,
        totals.rss_kb.iter().map(|r| r.1).max().unwrap_or(0),
        totals.violations.len()
    );
    if !totals.violations.is_empty() {
        std::process::exit(1);
    }
}
