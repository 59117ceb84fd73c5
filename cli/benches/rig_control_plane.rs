//! The rig's control plane for an emulated 1+8 rig across real network separation (issue 14;
//! the figures live in docs/performance.md, "Rig control plane"). Ten `ip netns` hosts
//! (`tests/support/netns.rs`): the release binary's `k4sync rig record` on the first, nine
//! `k4sync agent --emulate` processes a … i on the others, chained a → b → … → i by the
//! emulator's socket cable, a the master. A benchmark rather than a test: it reports what it
//! measures against issue 14's targets and fails on a miss only with `--check`.
//!
//! * **Idle**: each host's traffic with a coordinator connected and no take (`rig serve`).
//! * **Steady take**: the coordinator's CPU per device (its user + system time over a window
//!   while every device records, and over the whole take from this process's child times),
//!   each host's traffic on the wire (the byte counters of its veth peer on the bridge), the
//!   agents' CPU, and the manifest's frames and drops.
//! * **Cable pulled**: the last subordinate's cable end is moved onto a probe socket, so its
//!   pulses stop while its Sync In still reads plugged (as a real agent's does while it
//!   records); the probe's first datagram is the first pulse it missed, and the coordinator's
//!   `pulses_lost` alarm line comes some frame periods later. The cable goes back 1.5 s after
//!   the pull.
//! * **Agent killed** (SIGKILL, restarted at once) and **agent frozen** (SIGSTOP, continued at
//!   once): the time until the coordinator shows the loss, by the `agent_gone` alarm line or
//!   by a `recover` line for the agent (a state query it did not answer), whichever comes
//!   first.
//!
//! A fault's recovery time runs from the coordinator's `recover` event to the last device's
//! `first_image` in the new segment (the manifest's events); the same end measured from the
//! fault itself is reported beside it. Alarm lines are timestamped as they arrive on the
//! coordinator's stderr.
//!
//! Prints a table, or with `--json` one JSON object; `--rate 5|15|30` sets the frame rate
//! (15); `--keep` keeps the working directory (agent logs, manifests, the coordinator's
//! lines). Needs root. Run it with `scripts/bench.sh --only rig` or `cargo bench -p k4sync
//! --bench rig_control_plane [-- --json]`.

#![allow(
    clippy::expect_used,
    reason = "a benchmark: a step that cannot run ends it, saying which"
)]

#[path = "../tests/support/netns.rs"]
mod netns;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netns::{Agents, Chain, Hosts};
use serde_json::{json, Value};

/// The agents in chain order: `a` is the master, the last ([`VICTIM`]) the one faults hit.
const NAMES: [&str; 9] = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
const VICTIM: usize = 8;
/// Colour only, which a 2-core machine holds for nine real-time emulated cameras; the rate
/// is `--rate` (15 by default).
const MODES: [&str; 6] = ["-c", "720p", "-d", "OFF", "-e", "-6"];
const STEADY_LENGTH_S: u32 = 20;
const FAULT_LENGTH_S: u32 = 12;
/// Recording let run before a measurement starts.
const SETTLE: Duration = Duration::from_secs(2);
const STEADY_WINDOW: Duration = Duration::from_secs(15);
const IDLE_WINDOW: Duration = Duration::from_secs(5);
const REPLUG_AFTER: Duration = Duration::from_millis(1500);
const START_TIMEOUT: Duration = Duration::from_secs(60);
const ALARM_TIMEOUT: Duration = Duration::from_secs(10);
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(40);
/// How long past its length a take may run before it is interrupted.
const FINISH_GRACE: Duration = Duration::from_secs(60);

/// Issue 14's targets.
const TRAFFIC_TARGET_BPS: f64 = 10_000.0;
const ALARM_TARGET_PERIODS: f64 = 3.0;
const LOSS_TARGET_S: f64 = 2.0;
const RECOVERY_TARGET_S: f64 = 5.0;

/// The emulated rig the takes run on (the agents are stopped before the hosts go).
struct Rig {
    agents: Agents,
    chain: Chain,
    hosts: Hosts,
    /// Frames per second.
    rate: u32,
}

impl Rig {
    /// Ten hosts, the rig directory in `dir`, every agent up.
    fn start(dir: &Path, rate: u32) -> Rig {
        let hosts = Hosts::create(NAMES.len() + 1);
        let chain = Chain::init(dir, &NAMES);
        let rig = Rig {
            agents: chain.agents(&hosts),
            chain,
            hosts,
            rate,
        };
        await_agents(&rig);
        rig
    }

    fn period_s(&self) -> f64 {
        1.0 / f64::from(self.rate)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let rate = args
        .iter()
        .position(|a| a == "--rate")
        .and_then(|i| args.get(i + 1))
        .map_or(15, |r| r.parse().expect("--rate 5, 15 or 30"));
    require_root();
    let load_before = load_average();
    let dir = tempfile::tempdir().expect("a working directory");
    let mut rig = Rig::start(dir.path(), rate);
    let idle = idle(&rig);
    let steady = steady(&rig);
    let faults: Vec<FaultReport> = [Fault::CablePulled, Fault::Killed, Fault::Frozen]
        .into_iter()
        .map(|f| fault_take(f, &mut rig))
        .collect();
    let machine = Machine {
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        load_before,
        load_after: load_average(),
        rate,
    };
    let rows = rows(&rig, &idle, &steady, &faults);
    if flag("--json") {
        println!("{}", report_json(&machine, &idle, &steady, &faults, &rows));
    } else {
        print_table(&machine, &rows);
    }
    drop(rig);
    if flag("--keep") {
        eprintln!("kept {}", dir.keep().display());
    }
    if flag("--check") && rows.iter().any(|r| r.ok == Some(false)) {
        std::process::exit(1);
    }
}

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        eprintln!(
            "rig_control_plane: needs root: it builds its test hosts with `ip netns` (run \
             `scripts/bench.sh --only rig` as root)"
        );
        std::process::exit(2);
    }
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> Vec<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect()
}

/// Waits until the coordinator's host sees every agent (`rig status`).
fn await_agents(rig: &Rig) {
    let out = netns::in_host(&rig.hosts.hosts[0])
        .args(["rig", "status", "--json", "--wait", "30", "--dir"])
        .arg(&rig.chain.rig)
        .output()
        .expect("run k4sync rig status");
    assert!(
        out.status.success(),
        "the agents did not all come up: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        rig.chain.logs()
    );
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn secs_between(from_ns: u64, to_ns: u64) -> f64 {
    to_ns.saturating_sub(from_ns) as f64 / 1e9
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output();
        out.ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Fields `first` and `first + 1` of a `/proc/<pid>/stat` (counted from the state, 0), summed
/// as CPU seconds.
fn stat_seconds(path: &str, first: usize) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    (field(first) + field(first + 1)) as f64 / clock_ticks()
}

/// User + system CPU seconds of process `pid` so far.
fn process_cpu(pid: u32) -> f64 {
    stat_seconds(&format!("/proc/{pid}/stat"), 11)
}

/// User + system CPU seconds of this process's children that were waited for.
fn children_cpu() -> f64 {
    stat_seconds("/proc/self/stat", 13)
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A host's traffic: bytes and packets it sent and received (counts, or rates).
#[derive(Debug, Clone, Copy, Default)]
struct Wire {
    sent: f64,
    received: f64,
    sent_packets: f64,
    received_packets: f64,
}

impl Wire {
    /// The traffic from `a` to `b`, per second.
    fn rate(a: &Wire, b: &Wire, seconds: f64) -> Wire {
        let per_s = |x: f64, y: f64| (y - x).max(0.0) / seconds;
        Wire {
            sent: per_s(a.sent, b.sent),
            received: per_s(a.received, b.received),
            sent_packets: per_s(a.sent_packets, b.sent_packets),
            received_packets: per_s(a.received_packets, b.received_packets),
        }
    }

    fn bytes(&self) -> f64 {
        self.sent + self.received
    }
}

/// Each host's traffic so far, read on its veth peer in the bridge's namespace (which
/// receives what the host sends).
fn wire_counts(hosts: &Hosts) -> Vec<Wire> {
    let out = Command::new("ip")
        .args(["-n", &hosts.bridge, "-j", "-s", "link", "show"])
        .output()
        .expect("run ip -s link show");
    let links: Value = serde_json::from_slice(&out.stdout).expect("`ip -j` prints JSON");
    let links = links.as_array().cloned().unwrap_or_default();
    (0..hosts.hosts.len())
        .map(|i| {
            let port = Hosts::port(i);
            let link = links.iter().find(|l| l["ifname"] == port.as_str());
            let count = |dir: &str, what: &str| {
                link.and_then(|l| l["stats64"][dir][what].as_u64())
                    .unwrap_or(0) as f64
            };
            Wire {
                sent: count("rx", "bytes"),
                received: count("tx", "bytes"),
                sent_packets: count("rx", "packets"),
                received_packets: count("tx", "packets"),
            }
        })
        .collect()
}

/// The counters at one instant.
struct Sample {
    at: Instant,
    wire: Vec<Wire>,
    coordinator_cpu: f64,
    agents_cpu: Vec<f64>,
    /// CPU of the `ip` run that read the counters: a waited-for child, as the take is.
    own_cpu: f64,
}

impl Sample {
    fn now(rig: &Rig, coordinator: u32) -> Sample {
        let before = children_cpu();
        let wire = wire_counts(&rig.hosts);
        let own_cpu = children_cpu() - before;
        Sample {
            at: Instant::now(),
            wire,
            coordinator_cpu: process_cpu(coordinator),
            agents_cpu: rig.agents.0.iter().map(|c| process_cpu(c.id())).collect(),
            own_cpu,
        }
    }
}

/// What happened between two samples, per second.
struct Rates {
    seconds: f64,
    /// Per host, per second.
    wire: Vec<Wire>,
    /// Cores the coordinator used.
    coordinator_cpu: f64,
    agents_cpu: Vec<f64>,
}

impl Rates {
    fn between(a: &Sample, b: &Sample) -> Rates {
        let seconds = b.at.duration_since(a.at).as_secs_f64();
        Rates {
            seconds,
            wire: a
                .wire
                .iter()
                .zip(&b.wire)
                .map(|(x, y)| Wire::rate(x, y, seconds))
                .collect(),
            coordinator_cpu: (b.coordinator_cpu - a.coordinator_cpu) / seconds,
            agents_cpu: a
                .agents_cpu
                .iter()
                .zip(&b.agents_cpu)
                .map(|(x, y)| (y - x) / seconds)
                .collect(),
        }
    }

    /// `what` of each agent's traffic.
    fn agents(&self, what: impl Fn(&Wire) -> f64) -> Vec<f64> {
        self.wire.iter().skip(1).map(what).collect()
    }

    fn coordinator(&self) -> Wire {
        self.wire.first().copied().unwrap_or_default()
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(0.0, f64::max)
}

/// Traffic with a coordinator connected and no take: `rig serve` watching the agents.
fn idle(rig: &Rig) -> Rates {
    let mut serve = netns::in_host(&rig.hosts.hosts[0])
        .args(["rig", "serve", "--wait", "30", "--dir"])
        .arg(&rig.chain.rig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start k4sync rig serve");
    std::thread::sleep(SETTLE * 2);
    let a = Sample::now(rig, serve.id());
    std::thread::sleep(IDLE_WINDOW);
    let b = Sample::now(rig, serve.id());
    signal(serve.id(), "TERM");
    let _ = serve.wait();
    Rates::between(&a, &b)
}

/// One line of the coordinator's stderr and the wall clock when it arrived.
struct Line {
    wall_ns: u64,
    text: String,
}

/// The agent and event of a progress line `[  t s] agent event: detail` (`ALARM` and the agent
/// for an alarm).
fn event_of(text: &str) -> Option<(&str, &str)> {
    let (_, rest) = text.strip_prefix('[')?.split_once("] ")?;
    let mut words = rest.split_whitespace();
    let who = words.next()?;
    let event = words.next()?.trim_end_matches(':');
    Some((who, event))
}

/// A `k4sync rig record` on the coordinator's host, its progress lines read as they come.
struct Take {
    child: Child,
    stdout: PathBuf,
    lines: Receiver<Line>,
    seen: Vec<Line>,
    /// Agents with a first image in the current segment.
    recording: BTreeSet<String>,
    /// Segments begun after a recovery.
    segments: usize,
    started: Instant,
    length: Duration,
}

/// A take that ended: its `--json` result and how long it ran.
struct Finished {
    result: Value,
    seconds: f64,
}

impl Finished {
    fn manifest(&self) -> &Value {
        &self.result["manifest"]
    }

    /// The outcome, and the error when the take failed.
    fn outcome(&self) -> String {
        let outcome = self.manifest()["outcome"].as_str().unwrap_or("no manifest");
        match self.result["error"].as_str() {
            Some(e) => format!("{outcome}: {e}"),
            None => outcome.to_string(),
        }
    }
}

impl Take {
    fn start(rig: &Rig, name: &str, length_s: u32) -> Take {
        let stdout = rig.chain.dir.join(format!("{name}.json"));
        let mut command = rig.chain.record(&rig.hosts, name, &MODES);
        command
            .args(["-r", &rig.rate.to_string(), "-l", &length_s.to_string()])
            .stdout(std::fs::File::create(&stdout).expect("create the take's result file"))
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start k4sync rig record");
        let stderr = child.stderr.take().expect("the take's stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for text in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = Line {
                    wall_ns: wall_ns(),
                    text,
                };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Take {
            child,
            stdout,
            lines,
            seen: Vec::new(),
            recording: BTreeSet::new(),
            segments: 0,
            started: Instant::now(),
            length: Duration::from_secs(length_s.into()),
        }
    }

    fn note(&mut self, line: Line) {
        match event_of(&line.text) {
            Some(("rig", "segment")) => {
                self.recording.clear();
                self.segments += 1;
            }
            Some((who, "first_image")) => {
                self.recording.insert(who.to_string());
            }
            _ => {}
        }
        self.seen.push(line);
    }

    /// Reads lines until `done` holds (true), `timeout` passes or the take ends (false).
    fn wait(&mut self, timeout: Duration, done: impl Fn(&Take) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.note(line),
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads lines for `time`.
    fn pass(&mut self, time: Duration) {
        self.wait(time, |_| false);
    }

    fn all_recording(&self) -> bool {
        self.recording.len() == NAMES.len()
    }

    /// The first progress line since `since_ns` that shows `fault` detected.
    fn detection(&self, fault: Fault, since_ns: u64) -> Option<&Line> {
        self.seen
            .iter()
            .filter(|l| l.wall_ns >= since_ns)
            .find(|l| {
                l.text
                    .split_once("] ")
                    .is_some_and(|(_, rest)| fault.detected_by(rest))
            })
    }

    /// The last lines, for a report of what went wrong.
    fn tail(&self) -> String {
        let from = self.seen.len().saturating_sub(12);
        let lines: Vec<&str> = self.seen[from..].iter().map(|l| l.text.as_str()).collect();
        lines.join("\n")
    }

    /// Waits for the take to end (interrupting it when it overruns) and reads its result;
    /// its lines are kept beside the result file.
    fn finish(mut self) -> Finished {
        let limit = (self.length + FINISH_GRACE).saturating_sub(self.started.elapsed());
        self.pass(limit);
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(self.child.id(), "INT");
            self.pass(Duration::from_secs(30));
        }
        let _ = self.child.wait();
        let lines: Vec<&str> = self.seen.iter().map(|l| l.text.as_str()).collect();
        let _ = std::fs::write(self.stdout.with_extension("log"), lines.join("\n"));
        let text = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        Finished {
            result: serde_json::from_str(&text).unwrap_or(Value::Null),
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// The steady take's figures.
struct Steady {
    window: Rates,
    /// The coordinator's CPU seconds over the whole take, and the take's wall time.
    whole_cpu: f64,
    whole_seconds: f64,
    /// Per device: agent, captures, dropped.
    frames: Vec<(String, u64, u64)>,
    outcome: String,
}

fn steady(rig: &Rig) -> Result<Steady, String> {
    let before = children_cpu();
    let mut take = Take::start(rig, "steady", STEADY_LENGTH_S);
    if !take.wait(START_TIMEOUT, Take::all_recording) {
        let why = format!("not every device recorded:\n{}", take.tail());
        take.finish();
        return Err(why);
    }
    take.pass(SETTLE);
    let pid = take.child.id();
    let a = Sample::now(rig, pid);
    take.pass(STEADY_WINDOW);
    let b = Sample::now(rig, pid);
    let finished = take.finish();
    Ok(Steady {
        window: Rates::between(&a, &b),
        whole_cpu: children_cpu() - before - a.own_cpu - b.own_cpu,
        whole_seconds: finished.seconds,
        frames: frames(finished.manifest()),
        outcome: finished.outcome(),
    })
}

/// Per device of a manifest: agent, captures and drops over its segments.
fn frames(manifest: &Value) -> Vec<(String, u64, u64)> {
    let devices = manifest["devices"].as_array().cloned().unwrap_or_default();
    devices
        .iter()
        .map(|d| {
            let segments = d["segments"].as_array().cloned().unwrap_or_default();
            let sum = |k: &str| segments.iter().filter_map(|s| s[k].as_u64()).sum();
            let agent = d["agent"].as_str().unwrap_or("?").to_string();
            (agent, sum("frames"), sum("dropped"))
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    CablePulled,
    Killed,
    Frozen,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::CablePulled => "cable",
            Fault::Killed => "killed",
            Fault::Frozen => "frozen",
        }
    }

    /// Whether a progress line (after its time) shows the fault detected: the cable by the
    /// victim's `pulses_lost` alarm, a lost agent by its `agent_gone` alarm or by the take
    /// recovering it for another reason (a state query it did not answer).
    fn detected_by(self, line: &str) -> bool {
        let victim = NAMES[VICTIM];
        let alarm = line.strip_prefix(&format!("ALARM {victim}: "));
        match self {
            Fault::CablePulled => alarm.is_some_and(|a| a.starts_with("pulses lost")),
            Fault::Killed | Fault::Frozen => {
                alarm.is_some_and(|a| a.starts_with("liveliness token gone"))
                    || line.starts_with(&format!("{victim} recover"))
            }
        }
    }
}

/// A subordinate's cable moved onto a probe: the pulses meant for it reach the probe.
struct Pulled {
    cable: PathBuf,
    /// A second name of the agent's socket, to plug it back by.
    kept: PathBuf,
    probe: UnixDatagram,
}

impl Pulled {
    /// Swaps the probe in at `cable` in one rename, so no pulse falls between.
    fn pull(cable: &Path) -> std::io::Result<Pulled> {
        let kept = cable.with_extension("plugged");
        std::fs::hard_link(cable, &kept)?;
        let staged = cable.with_extension("probe");
        let probe = UnixDatagram::bind(&staged)?;
        std::fs::rename(&staged, cable)?;
        Ok(Pulled {
            cable: cable.to_owned(),
            kept,
            probe,
        })
    }

    /// The instant of the first pulse the agent missed, ns of the realtime clock.
    fn first_missed_ns(&self) -> Option<u64> {
        self.probe
            .set_read_timeout(Some(Duration::from_secs(1)))
            .ok()?;
        let mut buf = [0u8; 8];
        let n = self.probe.recv(&mut buf).ok()?;
        (n == buf.len()).then(|| u64::from_le_bytes(buf))
    }

    fn replug(self) -> std::io::Result<()> {
        std::fs::rename(&self.kept, &self.cable)
    }
}

/// What one fault take measured.
struct FaultReport {
    fault: Fault,
    /// Fault → the line that showed it detected, s, and that line.
    detected: Option<(f64, String)>,
    /// The cable's first missed pulse → alarm line, s.
    alarm_after_pulse_s: Option<f64>,
    recovered: Option<Recovered>,
    outcome: String,
    note: Option<String>,
}

/// A recovery found in a manifest's events.
struct Recovered {
    agent: String,
    reason: String,
    /// `recover` event → the last device's first image of the new segment, s.
    after_recover_s: f64,
    /// The fault itself → the same first image, s.
    after_fault_s: f64,
    /// `recover` events on the way (more than one: a recovery failed and was retried).
    recoveries: usize,
}

fn fault_take(fault: Fault, rig: &mut Rig) -> FaultReport {
    let mut report = FaultReport {
        fault,
        detected: None,
        alarm_after_pulse_s: None,
        recovered: None,
        outcome: String::new(),
        note: None,
    };
    let mut take = Take::start(rig, fault.name(), FAULT_LENGTH_S);
    let mut at_ns = wall_ns();
    if take.wait(START_TIMEOUT, Take::all_recording) {
        take.pass(SETTLE);
        at_ns = wall_ns();
        report.note = provoke(&mut take, &mut report, at_ns, rig).err();
    } else {
        report.note = Some(format!("not every device recorded:\n{}", take.tail()));
    }
    let finished = take.finish();
    report.recovered = recovery(finished.manifest(), at_ns / 1_000_000);
    report.outcome = finished.outcome();
    report
}

/// Injects the fault at `at_ns` (now), waits until the coordinator shows it, heals it and
/// waits until every device records again.
fn provoke(
    take: &mut Take,
    report: &mut FaultReport,
    at_ns: u64,
    rig: &mut Rig,
) -> Result<(), String> {
    let fault = report.fault;
    let segments = take.segments;
    let pulled = inject(fault, rig)?;
    take.wait(ALARM_TIMEOUT, |t| t.detection(fault, at_ns).is_some());
    let detected = take
        .detection(fault, at_ns)
        .map(|l| (l.wall_ns, l.text.clone()));
    report.detected = detected
        .as_ref()
        .map(|(ns, line)| (secs_between(at_ns, *ns), line.clone()));
    if let Some(pulled) = pulled {
        let first = pulled.first_missed_ns();
        report.alarm_after_pulse_s = first
            .zip(detected.as_ref())
            .map(|(p, (a, _))| secs_between(p, *a));
        take.pass(REPLUG_AFTER.saturating_sub(Duration::from_nanos(wall_ns() - at_ns)));
        pulled
            .replug()
            .map_err(|e| format!("plugging the cable back: {e}"))?;
    }
    heal(fault, rig);
    if detected.is_none() {
        return Err(format!(
            "not detected within {ALARM_TIMEOUT:?}:\n{}",
            take.tail()
        ));
    }
    if !take.wait(RECOVERY_TIMEOUT, |t| {
        t.segments > segments && t.all_recording()
    }) {
        return Err(format!(
            "not recording again within {RECOVERY_TIMEOUT:?}:\n{}",
            take.tail()
        ));
    }
    Ok(())
}

fn inject(fault: Fault, rig: &mut Rig) -> Result<Option<Pulled>, String> {
    let agent = &mut rig.agents.0[VICTIM];
    match fault {
        Fault::CablePulled => Pulled::pull(&rig.chain.cable(NAMES[VICTIM]))
            .map(Some)
            .map_err(|e| format!("pulling the cable: {e}")),
        Fault::Killed => {
            let _ = agent.kill();
            let _ = agent.wait();
            Ok(None)
        }
        Fault::Frozen => {
            signal(agent.id(), "STOP");
            Ok(None)
        }
    }
}

/// Brings a killed agent back (a new process) and a frozen one (SIGCONT).
fn heal(fault: Fault, rig: &mut Rig) {
    match fault {
        Fault::CablePulled => {}
        Fault::Killed => rig.agents.0[VICTIM] = rig.chain.agent(&rig.hosts, VICTIM),
        Fault::Frozen => signal(rig.agents.0[VICTIM].id(), "CONT"),
    }
}

/// The first recovery at or after `fault_ms` in a manifest's events, up to the first event at
/// which every device has its first image in a segment begun since.
fn recovery(manifest: &Value, fault_ms: u64) -> Option<Recovered> {
    let events = manifest["events"].as_array()?;
    let from = events.iter().position(|e| {
        e["event"] == "recover" && e["unix_ms"].as_u64().is_some_and(|ms| ms >= fault_ms)
    })?;
    let recover = &events[from];
    let mut recording = BTreeSet::new();
    let mut recoveries = 0;
    let mut in_segment = false;
    for e in &events[from..] {
        match e["event"].as_str() {
            Some("recover") => recoveries += 1,
            Some("segment") => {
                recording.clear();
                in_segment = true;
            }
            Some("first_image") if in_segment => {
                recording.insert(e["agent"].as_str().unwrap_or("?"));
            }
            _ => {}
        }
        if recording.len() == NAMES.len() {
            let t_s = |e: &Value| e["t_s"].as_f64().unwrap_or(f64::NAN);
            let ms = e["unix_ms"].as_u64().unwrap_or(0);
            return Some(Recovered {
                agent: recover["agent"].as_str().unwrap_or("rig").to_string(),
                reason: recover["detail"].as_str().unwrap_or("").to_string(),
                after_recover_s: t_s(e) - t_s(recover),
                after_fault_s: ms.saturating_sub(fault_ms) as f64 / 1e3,
                recoveries,
            });
        }
    }
    None
}

struct Machine {
    cores: usize,
    load_before: Vec<f64>,
    load_after: Vec<f64>,
    rate: u32,
}

/// One line of the report.
struct Row {
    what: String,
    figure: String,
    target: String,
    /// `None`: reported, no target.
    ok: Option<bool>,
}

fn row(what: impl Into<String>, figure: String, target: &str, ok: Option<bool>) -> Row {
    Row {
        what: what.into(),
        figure,
        target: target.into(),
        ok,
    }
}

fn rows(
    rig: &Rig,
    idle: &Rates,
    steady: &Result<Steady, String>,
    faults: &[FaultReport],
) -> Vec<Row> {
    let mut rows = vec![traffic_row("idle (coordinator connected, no take)", idle)];
    match steady {
        Ok(s) => rows.extend(steady_rows(rig, s)),
        Err(e) => rows.push(row("steady take", format!("failed: {e}"), "", Some(false))),
    }
    for f in faults {
        rows.push(detection_row(rig, f));
        rows.push(recovery_row(f));
    }
    rows
}

fn traffic_row(when: &str, rates: &Rates) -> Row {
    let per_agent = rates.agents(Wire::bytes);
    let figure = format!(
        "mean {:.0} B/s, max {:.0} B/s (sent {:.0} B/s in {:.1} packets/s, received {:.0} B/s \
         in {:.1} packets/s on average)",
        mean(&per_agent),
        max(&per_agent),
        mean(&rates.agents(|w| w.sent)),
        mean(&rates.agents(|w| w.sent_packets)),
        mean(&rates.agents(|w| w.received)),
        mean(&rates.agents(|w| w.received_packets)),
    );
    let ok = max(&per_agent) <= TRAFFIC_TARGET_BPS;
    row(
        format!("Traffic per agent on the wire, {when}"),
        figure,
        "≤ 10 kB/s",
        Some(ok),
    )
}

fn steady_rows(rig: &Rig, s: &Steady) -> Vec<Row> {
    let devices = NAMES.len() as f64;
    let w = &s.window;
    let c = w.coordinator();
    let captures: Vec<u64> = s.frames.iter().map(|f| f.1).collect();
    let dropped: u64 = s.frames.iter().map(|f| f.2).sum();
    vec![
        traffic_row("steady take (9 devices recording)", w),
        row(
            "Coordinator CPU per device, steady take",
            format!(
                "{:.2} % of a core ({:.1} % for 9 devices, {:.0} s window)",
                w.coordinator_cpu * 100.0 / devices,
                w.coordinator_cpu * 100.0,
                w.seconds
            ),
            "",
            None,
        ),
        row(
            "Coordinator CPU per device, whole take (connect, preflight, arm, record, stop)",
            format!(
                "{:.2} % of a core ({:.2} CPU s over {:.1} s)",
                s.whole_cpu * 100.0 / s.whole_seconds / devices,
                s.whole_cpu,
                s.whole_seconds
            ),
            "",
            None,
        ),
        row(
            "Coordinator host traffic, steady take",
            format!(
                "{:.0} B/s (sent {:.0}, received {:.0})",
                c.bytes(),
                c.sent,
                c.received
            ),
            "",
            None,
        ),
        row(
            "Agent CPU, steady take (each serving a real-time emulated camera)",
            format!(
                "mean {:.1} %, max {:.1} % of a core",
                mean(&w.agents_cpu) * 100.0,
                max(&w.agents_cpu) * 100.0
            ),
            "",
            None,
        ),
        row(
            format!(
                "Steady take ({STEADY_LENGTH_S} s at {} fps): captures, drops",
                rig.rate
            ),
            format!(
                "{} expected per device (min {}, max {}), {dropped} dropped; {}",
                STEADY_LENGTH_S * rig.rate,
                captures.iter().min().unwrap_or(&0),
                captures.iter().max().unwrap_or(&0),
                s.outcome
            ),
            "",
            None,
        ),
    ]
}

fn detection_row(rig: &Rig, f: &FaultReport) -> Row {
    let what = match f.fault {
        Fault::CablePulled => "Cable pulled (last subordinate) → its pulses_lost alarm line",
        Fault::Killed => "Agent killed (SIGKILL) → the coordinator shows it",
        Fault::Frozen => "Agent frozen (SIGSTOP) → the coordinator shows it",
    };
    let period = rig.period_s();
    match (f.fault, &f.detected, f.alarm_after_pulse_s) {
        (Fault::CablePulled, Some((a, _)), Some(p)) => row(
            what,
            format!(
                "{:.0} ms = {:.2} frame periods after the first missed pulse ({:.0} ms after \
                 the pull)",
                p * 1e3,
                p / period,
                a * 1e3
            ),
            "≤ 3 frame periods",
            Some(p / period <= ALARM_TARGET_PERIODS),
        ),
        (_, Some((a, line)), _) => row(
            what,
            format!("{:.0} ms: {}", a * 1e3, shorten(line)),
            "≤ 2 s",
            Some(*a <= LOSS_TARGET_S),
        ),
        _ => row(
            what,
            format!(
                "not detected ({})",
                f.note
                    .as_deref()
                    .and_then(|n| n.lines().next())
                    .unwrap_or("")
            ),
            "",
            Some(false),
        ),
    }
}

/// A progress line without its time, cut at its first clause.
fn shorten(line: &str) -> String {
    let rest = line.split_once("] ").map_or(line, |(_, r)| r);
    let cut = rest.find([';', '(']).unwrap_or(rest.len());
    rest[..cut].trim().to_string()
}

fn recovery_row(f: &FaultReport) -> Row {
    let what = format!(
        "Recovery after the {} fault: recover event → every device's first image",
        f.fault.name()
    );
    let Some(r) = &f.recovered else {
        let note = f.note.as_deref().and_then(|n| n.lines().next());
        let figure = format!("no recovery ({}); take {}", note.unwrap_or(""), f.outcome);
        return row(what, figure, "≤ 5 s", Some(false));
    };
    let retried = if r.recoveries > 1 {
        format!(", {} recoveries", r.recoveries)
    } else {
        String::new()
    };
    let figure = format!(
        "{:.2} s ({:.2} s from the fault itself{retried}; take {})",
        r.after_recover_s, r.after_fault_s, f.outcome
    );
    row(
        what,
        figure,
        "≤ 5 s",
        Some(r.after_recover_s <= RECOVERY_TARGET_S),
    )
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        None => "info",
        Some(true) => "pass",
        Some(false) => "FAIL",
    }
}

fn print_table(machine: &Machine, rows: &[Row]) {
    println!(
        "Emulated 1+8 rig on {} cores; load average {:?} before, {:?} after; modes {} -r {}",
        machine.cores,
        machine.load_before,
        machine.load_after,
        MODES.join(" "),
        machine.rate
    );
    println!();
    println!("| What | Figure | Target | Result |");
    println!("|---|---|---|---|");
    for r in rows {
        let figure = r.figure.replace('\n', " / ");
        println!(
            "| {} | {figure} | {} | {} |",
            r.what,
            r.target,
            verdict(r.ok)
        );
    }
}

fn wire_json(w: &Wire) -> Value {
    json!({
        "sent_bps": w.sent,
        "received_bps": w.received,
        "sent_packets_per_s": w.sent_packets,
        "received_packets_per_s": w.received_packets,
    })
}

fn rates_json(r: &Rates) -> Value {
    json!({
        "seconds": r.seconds,
        "coordinator": wire_json(&r.coordinator()),
        "agents": r.wire.iter().skip(1).map(wire_json).collect::<Vec<_>>(),
        "coordinator_cores": r.coordinator_cpu,
        "agents_cores": r.agents_cpu,
    })
}

fn steady_json(s: &Steady) -> Value {
    let devices: Vec<Value> = s
        .frames
        .iter()
        .map(|(a, f, d)| json!({"agent": a, "frames": f, "dropped": d}))
        .collect();
    json!({
        "window": rates_json(&s.window),
        "coordinator_cpu_per_device_pct": s.window.coordinator_cpu * 100.0 / NAMES.len() as f64,
        "whole_take_coordinator_cpu_s": s.whole_cpu,
        "whole_take_s": s.whole_seconds,
        "devices": devices,
        "outcome": s.outcome,
    })
}

fn fault_json(f: &FaultReport) -> Value {
    let recovered = f.recovered.as_ref().map(|r| {
        json!({
            "agent": r.agent,
            "reason": r.reason,
            "after_recover_s": r.after_recover_s,
            "after_fault_s": r.after_fault_s,
            "recoveries": r.recoveries,
        })
    });
    json!({
        "fault": f.fault.name(),
        "detected_s": f.detected.as_ref().map(|d| d.0),
        "detected_by": f.detected.as_ref().map(|d| d.1.clone()),
        "alarm_after_first_missed_pulse_s": f.alarm_after_pulse_s,
        "recovered": recovered,
        "outcome": f.outcome,
        "note": f.note,
    })
}

fn report_json(
    machine: &Machine,
    idle: &Rates,
    steady: &Result<Steady, String>,
    faults: &[FaultReport],
    rows: &[Row],
) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| json!({"what": r.what, "figure": r.figure, "target": r.target, "result": verdict(r.ok)}))
        .collect();
    json!({
        "cores": machine.cores,
        "load_before": machine.load_before,
        "load_after": machine.load_after,
        "modes": format!("{} -r {}", MODES.join(" "), machine.rate),
        "idle": rates_json(idle),
        "steady": steady.as_ref().map_or_else(|e| json!({"error": e}), steady_json),
        "faults": faults.iter().map(fault_json).collect::<Vec<_>>(),
        "rows": rows,
    })
}
