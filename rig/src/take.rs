//! `k4sync rig record`: one take of the whole rig, and the rig manifest it leaves behind.
//!
//! The sequence (docs/rig.md, "Recording a take"):
//!
//! 1. **Preflight**: the `rig check` rules over what the agents report; a failure stops here,
//!    before any camera is touched.
//! 2. **Arm** every subordinate in chain order and wait until each reports its device running
//!    and waiting for pulses with Sync In plugged ([`TakeOptions::arm_timeout`]); a subordinate
//!    started after the master would miss the first pulses.
//! 3. **Start the master** last, then wait until every subordinate has its first image
//!    ([`TakeOptions::pulse_timeout`]): a subordinate that gets none is named with the cable to
//!    check, instead of the take waiting forever.
//! 4. **Watch** until every device has recorded the take's length of device time (each
//!    agent's recorder stops itself after the same length from its first image, so the files
//!    end at the same pulse), or Ctrl-C. Each agent's per-second [`Health`] summary feeds the
//!    live table and raises an alarm when it counts new drops; its per-frame timestamps go
//!    through the live aligner ([`LiveSync`]): each subordinate's offset to the master per set
//!    ([`Progress::Offsets`]) and the `pulses_lost` and `off_grid` alarms; an agent whose
//!    liveliness token vanishes raises an alarm and fails the segment.
//! 5. **Recover** (`--on-fault recover`, [`OnFault`]): once the rig has recorded, a device that
//!    fails — its agent gone (a crashed or restarted computer), its recorder failed, no images
//!    after a restart, its clock re-zeroed (a restarted subordinate) or its frames off the
//!    master's grid, its pulses lost for [`REPLUG_GRACE`] with its Sync In plugged (a cable
//!    pulled and plugged back: a subordinate cannot resync while the master runs) — does not
//!    end the take. The coordinator stops the master and every
//!    recorder still running (their files are finalised), waits for every agent to be back
//!    ([`TakeOptions::return_timeout`]), re-arms the subordinates in chain order, restarts the
//!    master and goes on in a new segment: a new file per device, the remaining length, and a
//!    [`Recovery`] in the manifest saying when and why. At most [`OnFault::Recover`]'s `max`
//!    times per take; `abort` stops at the first fault.
//! 6. **Stop all**, the master first, whatever happened before; then write the manifest
//!    ([`Manifest`], `manifest.json` in the output directory) with every device's delays,
//!    files and the events with their times — also when the take failed, since its files are
//!    kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k4sync_core::types::WiredSyncMode;
use serde::{Deserialize, Serialize};

use crate::alarms;
use crate::coordinator::{self, Coordinator, PlannedDevice, RigSettings, Seen, Watch};
use crate::live::{Live, LiveSync, SetOffsets};
use crate::msg::{AgentState, Command, Frames, Health, RecorderState, Settings};
use crate::RigError;

/// File name of the manifest in the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest's `format` field.
pub const MANIFEST_FORMAT: &str = "k4sync-rig-manifest";
/// The manifest's `version` field; bumped when its shape changes (2: `recoveries`).
pub const MANIFEST_VERSION: u32 = 2;
/// How many recoveries a take makes by default before it gives up.
pub const DEFAULT_RECOVERIES: u32 = 3;
/// How often the agents' states are read while waiting.
const POLL: Duration = Duration::from_millis(100);
/// How often a recording take asks every agent for its state (a query and the agent's whole
/// state per device: at [`POLL`] it was most of an agent's control traffic, 6 kB/s at 15 fps).
/// Alarms and live sync come with every [`WATCH_POLL`] from what the agents publish.
const STATE_POLL: Duration = Duration::from_millis(500);
/// How often a recording take takes in what the agents published (frame timestamps, health,
/// liveliness): the live aligner's alarms wait at most this long on top of the network.
const WATCH_POLL: Duration = Duration::from_millis(20);
/// How often progress is reported while recording.
const TICK: Duration = Duration::from_secs(1);
/// How long past the take's length the coordinator waits for the recorders to stop by
/// themselves before it stops them.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// A recovery that leaves less of the take than this ends it instead of starting a segment.
const MIN_SEGMENT: Duration = Duration::from_secs(1);
/// How long a subordinate's pulses may stay lost while its Sync In reads plugged before the
/// take recovers it (the jacks are read every 250 ms, so a cable still out is known by then).
pub const REPLUG_GRACE: Duration = Duration::from_secs(1);

/// What one take is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeOptions {
    pub settings: RigSettings,
    /// Device time to record from each device's first image.
    pub length: Duration,
    /// The take's name (a key chunk: `a-z 0-9 - _`).
    pub take: String,
    /// Where the manifest is written (created if missing).
    pub out_dir: PathBuf,
    /// How long a subordinate may take to report armed and waiting.
    pub arm_timeout: Duration,
    /// How long after the master's start every subordinate must have its first image.
    pub pulse_timeout: Duration,
    /// What a device failing mid-take leads to.
    pub on_fault: OnFault,
    /// How long a recovery waits for a lost agent to be back.
    pub return_timeout: Duration,
}

/// What the coordinator does when a device fails during a take (`--on-fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFault {
    /// Stop, wait for the device, re-arm, restart the master and go on in a new segment; at
    /// most `max` times per take.
    Recover { max: u32 },
    /// Stop every device and fail the take.
    Abort,
}

impl TakeOptions {
    pub fn new(settings: RigSettings, length: Duration, take: String, out_dir: PathBuf) -> Self {
        TakeOptions {
            settings,
            length,
            take,
            out_dir,
            arm_timeout: Duration::from_secs(15),
            pulse_timeout: Duration::from_secs(5),
            on_fault: OnFault::Recover {
                max: DEFAULT_RECOVERIES,
            },
            return_timeout: Duration::from_secs(15),
        }
    }
}

/// A default take name from the wall clock: `take-<unix seconds>`.
pub fn default_take_name() -> String {
    format!("take-{}", unix_ms() / 1000)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One thing that happened during a take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the take began (the preflight).
    pub t_s: f64,
    /// Wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
    /// The agent concerned; `None` for the whole rig.
    pub agent: Option<String>,
    /// `preflight`, `warning`, `arm`, `armed`, `start`, `first_image`, `finished`, `overrun`,
    /// `alarm`, `alarm_cleared`, `agent_back`, `recover`, `segment`, `stop`, `stopped`,
    /// `interrupted`, `failed`.
    pub event: String,
    pub detail: Option<String>,
    /// For `alarm` and `alarm_cleared`: `cable_pulled`, `disk_low`, `drops`, `agent_gone`,
    /// `pulses_lost` or `off_grid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    /// For `alarm`: what the operator should do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// One recording of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub segment: u32,
    /// As in [`ManifestDevice::files`].
    pub file: String,
    /// Captures written.
    pub frames: u64,
    /// Captures and images lost on the way (writer queue, late, device).
    pub dropped: u64,
}

/// One device of the rig as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDevice {
    pub agent: String,
    /// Where the agent runs (its endpoint's host in the rig file).
    pub host: String,
    pub serial: String,
    /// `MASTER`, `SUBORDINATE` or `STANDALONE`.
    pub role: String,
    /// 1 for the first device started; the master is last.
    pub start_order: usize,
    pub requested_subordinate_delay_usec: u32,
    pub effective_subordinate_delay_nsec: i64,
    pub requested_depth_delay_usec: i32,
    pub effective_depth_delay_nsec: i64,
    /// Every file of this device, in segment order: relative to the manifest when it lies in
    /// the output directory, else the path on the agent's host.
    pub files: Vec<String>,
    pub segments: Vec<Segment>,
}

/// The take's camera settings, by the SDK's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSettings {
    pub color_format: String,
    pub color_resolution: String,
    pub depth_mode: String,
    pub fps: u32,
    /// Manual exposure exponent; `None` is automatic.
    pub exposure: Option<i8>,
}

/// The rig manifest (`manifest.json`), written beside the recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub rig: String,
    pub take: String,
    /// `completed`, `interrupted` or `failed`.
    pub outcome: String,
    /// Why the take failed.
    pub error: Option<String>,
    pub length_s: f64,
    pub settings: ManifestSettings,
    /// Chain order: the master first.
    pub devices: Vec<ManifestDevice>,
    pub events: Vec<Event>,
    /// Every discontinuity: where a recovery started a new segment, and why.
    #[serde(default)]
    pub recoveries: Vec<Recovery>,
}

/// A discontinuity in a take: a fault, and the segment the take went on in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The segment that began after the fault.
    pub segment: u32,
    /// Seconds since the take began, when the fault was seen.
    pub t_s: f64,
    /// The device at fault.
    pub agent: Option<String>,
    pub reason: String,
}

/// What a take left behind: the manifest (written to `manifest_path`) and, if the take did not
/// complete, why.
#[derive(Debug)]
pub struct TakeResult {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    pub error: Option<RigError>,
}

/// One device's line in a progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceProgress {
    pub agent: String,
    pub state: Option<RecorderState>,
    /// The agent's latest health summary.
    pub health: Option<Health>,
    /// A subordinate's offset to the master in its newest placed set, less its expected delay,
    /// µs.
    pub offset_usec: Option<f64>,
}

/// One subordinate's offset to the master in one frame set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffsetPoint {
    pub agent: String,
    /// Seconds since the take began, by the master's clock from the segment's first set.
    pub t_s: f64,
    pub offset_usec: f64,
}

/// What [`record`] reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Event(Event),
    /// Once a second while recording: seconds since the master's start, and every device.
    Tick {
        elapsed: Duration,
        length: Duration,
        devices: Vec<DeviceProgress>,
    },
    /// The sets the live aligner placed since the previous report (a few times a second).
    Offsets(Vec<OffsetPoint>),
}

/// A take in progress: its plan, what it saw, what happened.
struct Take<'a> {
    coordinator: &'a Coordinator,
    options: &'a TakeOptions,
    /// Start order: subordinates first, the master last.
    plan: Vec<PlannedDevice>,
    begun: Instant,
    events: Vec<Event>,
    progress: &'a mut (dyn FnMut(&Progress) + Send),
    watch: Watch,
    /// The latest health summary of each agent.
    health: BTreeMap<String, Health>,
    /// Agents whose liveliness token vanished (in the current segment).
    lost: Vec<String>,
    /// Agents whose token was withdrawn, not yet confirmed gone.
    suspects: Vec<String>,
    /// Cable and disk alarms raised and not cleared: (agent, kind).
    raised: BTreeSet<(String, &'static str)>,
    /// The current segment, and the recoveries so far.
    segment: u32,
    recoveries: Vec<Recovery>,
    /// When the master of the current segment was started.
    segment_started: Option<Instant>,
    /// Time the take's finished segments covered, from each master start to its stop.
    covered: Duration,
    /// Whether every device has recorded in some segment (before that, a fault is a set-up
    /// failure that recovery would only repeat).
    has_recorded: bool,
    /// The finished segments of each agent.
    segments: BTreeMap<String, Vec<Segment>>,
    /// The live view of the current segment and what it found.
    sync: SyncWatch,
}

/// What the live aligner found in the current segment.
#[derive(Default)]
struct SyncWatch {
    live: Option<LiveSync>,
    /// Per subordinate: the offset of its newest placed set, µs.
    offsets: BTreeMap<String, f64>,
    /// Offsets placed and not yet reported.
    points: Vec<OffsetPoint>,
    /// Take seconds and master µs of the segment's first set: the chart's time origin.
    origin: Option<(f64, u64)>,
    /// Subordinates whose pulses are lost, since when.
    pulses_lost: BTreeMap<String, Instant>,
    /// A device the aligner no longer follows, and why.
    lost: Option<(String, String)>,
}

/// Runs one take (see the module documentation). `Err` only when the preflight fails or the
/// manifest cannot be written; a take that failed later still writes its manifest and reports
/// the failure in [`TakeResult::error`].
pub async fn record(
    coordinator: &Coordinator,
    options: &TakeOptions,
    stop: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<TakeResult, RigError> {
    crate::keys::check_name(&options.take, "take")?;
    let agents = coordinator.status().await?;
    let report = coordinator::check(&agents, &options.settings);
    let plan = match report.plan.clone() {
        Some(plan) if report.passed() => plan,
        _ => return Err(RigError::Preflight(coordinator::check_text(&report))),
    };
    let watch = coordinator.watch(true).await?;
    let mut take = Take {
        coordinator,
        options,
        plan,
        begun: Instant::now(),
        events: Vec::new(),
        progress,
        watch,
        health: BTreeMap::new(),
        lost: Vec::new(),
        suspects: Vec::new(),
        raised: BTreeSet::new(),
        segment: 0,
        recoveries: Vec::new(),
        segment_started: None,
        covered: Duration::ZERO,
        has_recorded: false,
        segments: BTreeMap::new(),
        sync: SyncWatch::default(),
    };
    take.event(None, "preflight", Some("check passed".into()));
    for w in &report.warnings {
        take.event(w.agent.as_deref(), "warning", Some(w.message.clone()));
    }
    let outcome = take.run(stop).await;
    let finals = take.stop_all().await;
    take.close_segment(finals);
    let (name, error) = match outcome {
        Ok(true) => ("completed", None),
        Ok(false) => ("interrupted", None),
        Err(e) => {
            take.event(None, "failed", Some(e.to_string()));
            ("failed", Some(e))
        }
    };
    let manifest = take.manifest(name, error.as_ref());
    let manifest_path = write_manifest(&options.out_dir, &manifest)?;
    Ok(TakeResult {
        manifest,
        manifest_path,
        error,
    })
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<PathBuf, RigError> {
    std::fs::create_dir_all(dir).map_err(|e| RigError::io(dir, e))?;
    let path = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| RigError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, format!("{text}\n")).map_err(|e| RigError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| RigError::io(&path, e))?;
    Ok(path)
}

fn is_master(d: &PlannedDevice) -> bool {
    d.config.sync_mode != WiredSyncMode::Subordinate
}

impl Take<'_> {
    fn event(&mut self, agent: Option<&str>, event: &str, detail: Option<String>) {
        self.push_event(Event {
            t_s: self.now_s(),
            unix_ms: unix_ms(),
            agent: agent.map(str::to_string),
            event: event.to_string(),
            detail,
            alarm: None,
            action: None,
        });
    }

    /// An `alarm` (or, with `raised` false, `alarm_cleared`) event of kind `alarm`.
    fn alarm(&mut self, agent: &str, alarm: &str, raised: bool, detail: Option<String>) {
        self.alarm_with(agent, alarm, raised, detail, None);
    }

    fn alarm_with(
        &mut self,
        agent: &str,
        alarm: &str,
        raised: bool,
        detail: Option<String>,
        action: Option<String>,
    ) {
        self.push_event(Event {
            t_s: self.now_s(),
            unix_ms: unix_ms(),
            agent: Some(agent.to_string()),
            event: if raised { "alarm" } else { "alarm_cleared" }.to_string(),
            detail,
            alarm: Some(alarm.to_string()),
            action,
        });
    }

    fn push_event(&mut self, e: Event) {
        (self.progress)(&Progress::Event(e.clone()));
        self.events.push(e);
    }

    /// Raises the cable and disk alarms [`alarms::of_state`] finds in an agent's published
    /// state, once each while they hold, and reports them cleared when they end.
    fn state_alarms(&mut self, state: &AgentState) {
        let verdicts = {
            let agents = &self.coordinator.rig().agents;
            let chain: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
            alarms::of_state(state, &chain)
        };
        for (kind, problem) in verdicts {
            let key = (state.name.clone(), kind);
            let held = self.raised.contains(&key);
            match problem {
                Some(p) if !held => {
                    self.raised.insert(key);
                    let detail = format!("{}; {}", p.what, p.action);
                    self.alarm(&state.name, kind, true, Some(detail));
                }
                None if held => {
                    self.raised.remove(&key);
                    self.alarm(&state.name, kind, false, None);
                }
                _ => {}
            }
        }
    }

    /// Takes in what the watch received (health summaries, liveliness changes); an agent of
    /// the take that is gone is an error.
    async fn look(&mut self) -> Result<(), RigError> {
        self.take_in();
        self.confirm_suspects().await?;
        if let Some(agent) = self.lost.first() {
            return Err(RigError::AgentLost {
                agent: agent.clone(),
            });
        }
        match self.sync_fault() {
            Some((agent, why)) => Err(RigError::SyncLost { agent, why }),
            None => Ok(()),
        }
    }

    /// A device the live view says must be restarted: one the aligner lost, or one whose
    /// pulses stayed lost for [`REPLUG_GRACE`] while no cable alarm holds for it.
    fn sync_fault(&mut self) -> Option<(String, String)> {
        if let Some(lost) = self.sync.lost.take() {
            return Some(lost);
        }
        let (agent, _) = self.sync.pulses_lost.iter().find(|(agent, since)| {
            since.elapsed() >= REPLUG_GRACE
                && !self.raised.contains(&((*agent).clone(), "cable_pulled"))
                && !self.suspects.contains(agent)
        })?;
        let why = format!(
            "no image for {:.1} s while the master records, with its Sync In plugged (a cable \
             plugged back, or a unit before it restarted): it cannot resync while the master runs",
            REPLUG_GRACE.as_secs_f64()
        );
        Some((agent.clone(), why))
    }

    /// Takes in one agent's per-frame timestamps: offsets to report, alarms to raise.
    fn take_frames(&mut self, frames: &Frames) {
        let found = match self.sync.live.as_mut() {
            Some(live) => live.push(frames, self.begun.elapsed()),
            None => return,
        };
        for item in found {
            match item {
                Live::Set(set) => self.placed(&set),
                Live::Raised {
                    agent,
                    problem,
                    lost,
                } => {
                    if problem.kind == "pulses_lost" {
                        self.sync.pulses_lost.insert(agent.clone(), Instant::now());
                    }
                    if lost && self.sync.lost.is_none() {
                        self.sync.lost = Some((agent.clone(), problem.what.clone()));
                    }
                    let (what, action) = (Some(problem.what), Some(problem.action));
                    self.alarm_with(&agent, problem.kind, true, what, action);
                }
                Live::Cleared { agent, kind } => {
                    self.sync
                        .pulses_lost
                        .retain(|a, _| *a != agent || kind != "pulses_lost");
                    self.alarm(&agent, kind, false, None);
                }
            }
        }
    }

    /// A set the live aligner placed: each subordinate's offset, timed by the master's clock.
    fn placed(&mut self, set: &SetOffsets) {
        let now = self.now_s();
        let (t0, m0) = *self.sync.origin.get_or_insert((now, set.master_usec));
        let t_s = t0 + set.master_usec.saturating_sub(m0) as f64 / 1e6;
        let t_s = (t_s * 1000.0).round() / 1000.0;
        for (d, offset) in self.plan.iter().zip(&set.offsets_usec) {
            let Some(offset) = *offset else { continue };
            let offset_usec = (offset * 10.0).round() / 10.0;
            self.sync.offsets.insert(d.agent.clone(), offset_usec);
            self.sync.points.push(OffsetPoint {
                agent: d.agent.clone(),
                t_s,
                offset_usec,
            });
        }
    }

    /// Reports the offsets placed since the last call.
    fn report_offsets(&mut self) {
        if !self.sync.points.is_empty() {
            let points = std::mem::take(&mut self.sync.points);
            (self.progress)(&Progress::Offsets(points));
        }
    }

    /// An agent whose token was withdrawn is lost only if [`Coordinator::still_gone`] says
    /// so. A lost agent raises an alarm and is remembered until a recovery.
    async fn confirm_suspects(&mut self) -> Result<(), RigError> {
        let suspects = std::mem::take(&mut self.suspects);
        let gone = self.coordinator.still_gone(&suspects).await?;
        for agent in suspects {
            if !gone.contains(&agent) {
                let detail = "liveliness token withdrawn and still visible (a link between \
                              peers was replaced); not lost";
                self.event(Some(&agent), "warning", Some(detail.into()));
            } else if !self.lost.contains(&agent) {
                let detail = "liveliness token gone: the agent, its computer or its network \
                              went away";
                self.alarm(&agent, "agent_gone", true, Some(detail.into()));
                self.lost.push(agent);
            }
        }
        Ok(())
    }

    /// Health summaries raise drop alarms; an agent of the take whose token is withdrawn
    /// becomes a suspect until [`Self::confirm_suspects`] asks.
    fn take_in(&mut self) {
        for seen in self.watch.drain() {
            match seen {
                Seen::Health(h) => {
                    if let Some(alarm) = drop_alarm(self.health.get(&h.name), &h) {
                        self.alarm(&h.name, "drops", true, Some(alarm));
                    }
                    self.health.insert(h.name.clone(), h);
                }
                Seen::Frames(frames) => self.take_frames(&frames),
                Seen::State(state) => self.state_alarms(&state),
                Seen::Lost(agent) if self.plan.iter().any(|d| d.agent == agent) => {
                    if !self.lost.contains(&agent) && !self.suspects.contains(&agent) {
                        self.suspects.push(agent);
                    }
                }
                Seen::Back(agent) if self.lost.contains(&agent) => {
                    self.event(Some(&agent), "agent_back", None);
                }
                Seen::Back(agent) => self.suspects.retain(|a| *a != agent),
                Seen::Unreadable(why) => self.event(None, "warning", Some(why)),
                Seen::Lost(_) => {}
            }
        }
    }

    /// An agent's state; when it does not answer, an agent lost meanwhile is the error. While
    /// the query waits (a frozen agent answers nothing for its whole timeout) what the agents
    /// publish is still taken in every [`WATCH_POLL`], so a lost agent or a sync fault found
    /// meanwhile ends the wait.
    async fn state_of(&mut self, agent: &str) -> Result<AgentState, RigError> {
        let coordinator = self.coordinator;
        let query = coordinator.state_of(agent);
        tokio::pin!(query);
        loop {
            tokio::select! {
                answer = &mut query => {
                    return match answer {
                        Ok(state) => Ok(state),
                        Err(e) => {
                            self.look().await?;
                            Err(e)
                        }
                    };
                }
                () = tokio::time::sleep(WATCH_POLL) => self.look().await?,
            }
        }
    }

    fn settings_for(&self, d: &PlannedDevice) -> Settings {
        let mut s = Settings::new(&d.config, self.options.settings.exposure);
        s.length_usec = Some(u64::try_from(self.remaining().as_micros()).unwrap_or(u64::MAX));
        s.segment = self.segment;
        s
    }

    /// What is left of the take's length after the finished segments.
    fn remaining(&self) -> Duration {
        self.options.length.saturating_sub(self.covered)
    }

    /// Segments until the take is done, recovering from faults as [`OnFault`] allows.
    /// `Ok(false)`: interrupted.
    async fn run(&mut self, stop: &AtomicBool) -> Result<bool, RigError> {
        loop {
            let fault = match self.run_segment(stop).await {
                Err(e) => e,
                done => return done,
            };
            let Some(agent) = self.recoverable(&fault) else {
                return Err(fault);
            };
            if !self.recover(agent, &fault, stop).await? {
                return self.interrupted();
            }
            if self.remaining() < MIN_SEGMENT {
                self.event(
                    None,
                    "finished",
                    Some("the take's length is covered".into()),
                );
                return Ok(true);
            }
        }
    }

    /// The device a recovery would restart for `fault`, when [`OnFault`] and the take allow
    /// one; says so when the recoveries are used up.
    fn recoverable(&mut self, fault: &RigError) -> Option<String> {
        let agent = match fault {
            RigError::AgentLost { agent }
            | RigError::SyncLost { agent, .. }
            | RigError::Timeout { agent, .. }
            | RigError::NoAnswer { agent, .. } => agent.clone(),
            _ => return None,
        };
        let OnFault::Recover { max } = self.options.on_fault else {
            return None;
        };
        if !self.has_recorded {
            return None;
        }
        if self.recoveries.len() >= max as usize {
            let detail = format!("not recovering: the take already recovered {max} times");
            self.event(Some(&agent), "warning", Some(detail));
            return None;
        }
        Some(agent)
    }

    /// Stops the segment (master first), waits for every agent to be back and opens the next
    /// segment. `Ok(false)`: interrupted while waiting.
    async fn recover(
        &mut self,
        agent: String,
        fault: &RigError,
        stop: &AtomicBool,
    ) -> Result<bool, RigError> {
        let t_s = self.now_s();
        let next = self.segment + 1;
        let detail = format!(
            "{fault}; stopping the master, re-arming the subordinates and restarting the master \
             into segment {next}"
        );
        self.event(Some(&agent), "recover", Some(detail));
        let finals = self.stop_all().await;
        self.close_segment(finals);
        if let Some(started) = self.segment_started.take() {
            self.covered += started.elapsed();
        }
        if !self.await_return(stop).await? {
            return Ok(false);
        }
        self.segment = next;
        self.recoveries.push(Recovery {
            segment: next,
            t_s,
            agent: Some(agent),
            reason: fault.to_string(),
        });
        let detail = format!("{:.1} s of the take left", self.remaining().as_secs_f64());
        self.event(None, "segment", Some(detail));
        Ok(true)
    }

    /// Waits until every agent of the plan is alive and every lost one (gone, or not
    /// answering its stop) answers a stop. `Ok(false)`: interrupted.
    async fn await_return(&mut self, stop: &AtomicBool) -> Result<bool, RigError> {
        let deadline = Instant::now() + self.options.return_timeout;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            self.take_in();
            let alive = self.coordinator.alive().await?;
            let missing = self
                .plan
                .iter()
                .find(|d| !alive.contains(&d.agent))
                .map(|d| d.agent.clone());
            if missing.is_none() {
                self.stop_returned().await;
            }
            let waiting_for = missing.or(self.lost.first().cloned());
            match waiting_for {
                None => break,
                Some(agent) if Instant::now() >= deadline => {
                    return Err(RigError::AgentLost { agent })
                }
                Some(_) => tokio::time::sleep(POLL).await,
            }
        }
        self.suspects.clear();
        Ok(true)
    }

    fn now_s(&self) -> f64 {
        (self.begun.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    /// Arm, start, watch: one segment. `Ok(false)`: interrupted.
    async fn run_segment(&mut self, stop: &AtomicBool) -> Result<bool, RigError> {
        self.end_live_view();
        let subordinates: Vec<PlannedDevice> = self
            .plan
            .iter()
            .filter(|d| !is_master(d))
            .cloned()
            .collect();
        for d in &subordinates {
            if stop.load(Ordering::Relaxed) {
                return self.interrupted();
            }
            self.arm(d).await?;
        }
        let master = self
            .plan
            .iter()
            .find(|d| is_master(d))
            .cloned()
            .ok_or_else(|| RigError::Preflight("the plan has no master".into()))?;
        self.begin_live_view();
        let command = Command::Start {
            take: self.options.take.clone(),
            settings: self.settings_for(&master),
        };
        self.event(Some(&master.agent), "start", None);
        self.coordinator.command(&master.agent, &command).await?;
        let started = Instant::now();
        self.segment_started = Some(started);
        if !self.await_first_images(stop).await? {
            return self.interrupted();
        }
        self.has_recorded = true;
        if !self.watch(started, stop).await? {
            return self.interrupted();
        }
        Ok(true)
    }

    /// Ends the live view of the last segment: its alarms are cleared, its findings dropped.
    fn end_live_view(&mut self) {
        self.take_in();
        let held = self.sync.live.as_ref().map(LiveSync::held);
        for (agent, kind) in held.unwrap_or_default() {
            self.alarm(&agent, kind, false, Some("a new segment starts".into()));
        }
        self.sync = SyncWatch::default();
    }

    /// A fresh live view for the segment whose master is about to start.
    fn begin_live_view(&mut self) {
        self.take_in();
        let live = match LiveSync::new(&self.options.take, self.segment, &self.plan) {
            Ok(live) => Some(live),
            Err(why) => {
                self.event(None, "warning", Some(format!("no live sync view: {why}")));
                None
            }
        };
        self.sync = SyncWatch {
            live,
            ..SyncWatch::default()
        };
    }

    fn interrupted(&mut self) -> Result<bool, RigError> {
        self.event(None, "interrupted", Some("stopped by the user".into()));
        Ok(false)
    }

    async fn arm(&mut self, d: &PlannedDevice) -> Result<(), RigError> {
        let command = Command::Arm {
            take: self.options.take.clone(),
            settings: self.settings_for(d),
        };
        self.event(Some(&d.agent), "arm", None);
        self.coordinator.command(&d.agent, &command).await?;
        let deadline = Instant::now() + self.options.arm_timeout;
        loop {
            self.look().await?;
            let state = self.state_of(&d.agent).await?;
            let plugged = state.jacks.is_some_and(|j| j.sync_in);
            match &state.recorder {
                RecorderState::WaitingForPulses { .. } if plugged => break,
                RecorderState::Failed { reason, .. } => {
                    return Err(timeout(&d.agent, format!("recording failed: {reason}")))
                }
                _ if Instant::now() >= deadline => {
                    return Err(timeout(
                        &d.agent,
                        not_armed(&state, self.options.arm_timeout),
                    ))
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
        self.event(Some(&d.agent), "armed", Some("waiting for pulses".into()));
        Ok(())
    }

    /// Waits until every device has its first image. `Ok(false)`: interrupted.
    async fn await_first_images(&mut self, stop: &AtomicBool) -> Result<bool, RigError> {
        let deadline = Instant::now() + self.options.pulse_timeout;
        let mut waiting: Vec<PlannedDevice> = self.plan.clone();
        while !waiting.is_empty() {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            self.look().await?;
            let mut still = Vec::new();
            for d in waiting {
                let state = self.state_of(&d.agent).await?;
                match state.recorder {
                    RecorderState::Recording { frames, .. } if frames > 0 => {
                        self.event(Some(&d.agent), "first_image", None)
                    }
                    RecorderState::Finished { .. } => {}
                    RecorderState::Failed { reason, .. } => {
                        return Err(timeout(&d.agent, format!("recording failed: {reason}")))
                    }
                    _ => still.push(d),
                }
            }
            waiting = still;
            if let Some(d) = waiting.first().filter(|_| Instant::now() >= deadline) {
                return Err(timeout(&d.agent, self.no_pulses(d)));
            }
            if !waiting.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(true)
    }

    fn no_pulses(&self, d: &PlannedDevice) -> String {
        let secs = self.options.pulse_timeout.as_secs_f64();
        if is_master(d) {
            return format!("the master recorded no image within {secs:.1} s of its start");
        }
        let upstream = self.upstream_of(&d.agent).unwrap_or("the device before it");
        format!(
            "no image within {secs:.1} s of the master's start: no sync pulses reach it; check \
             the cable from {upstream}'s Sync Out to {}'s Sync In, and that the master's colour \
             camera is on",
            d.agent
        )
    }

    /// The agent before `agent` in the chain (whose Sync Out feeds its Sync In).
    fn upstream_of(&self, agent: &str) -> Option<&str> {
        let agents = &self.coordinator.rig().agents;
        let i = agents.iter().position(|a| a.name == agent)?;
        agents.get(i.checked_sub(1)?).map(|a| a.name.as_str())
    }

    /// Waits until every recorder has finished its length. `Ok(false)`: interrupted.
    async fn watch(&mut self, started: Instant, stop: &AtomicBool) -> Result<bool, RigError> {
        let length = self.remaining();
        let limit = length + self.options.pulse_timeout + FINISH_GRACE;
        let mut next_tick = Instant::now();
        let mut next_poll = Instant::now();
        let mut finished: Vec<String> = Vec::new();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            self.look().await?;
            self.report_offsets();
            if Instant::now() < next_poll {
                tokio::time::sleep(WATCH_POLL).await;
                continue;
            }
            next_poll = Instant::now() + STATE_POLL;
            let devices = self.poll_all().await?;
            for p in &devices {
                if let Some(RecorderState::Finished { frames, .. }) = &p.state {
                    if !finished.contains(&p.agent) {
                        finished.push(p.agent.clone());
                        let detail = format!("{frames} captures");
                        self.event(Some(&p.agent), "finished", Some(detail));
                    }
                }
            }
            if finished.len() == self.plan.len() {
                return Ok(true);
            }
            if Instant::now() >= next_tick {
                next_tick += TICK;
                let tick = Progress::Tick {
                    elapsed: self.covered + started.elapsed(),
                    length: self.options.length,
                    devices,
                };
                (self.progress)(&tick);
            }
            if started.elapsed() >= limit {
                self.event(
                    None,
                    "overrun",
                    Some("stopping the devices still recording".into()),
                );
                return Ok(true);
            }
            tokio::time::sleep(WATCH_POLL).await;
        }
    }

    /// Every device's state; a recorder that failed or an agent that went away ends the take.
    async fn poll_all(&mut self) -> Result<Vec<DeviceProgress>, RigError> {
        let mut out = Vec::new();
        for d in self.plan.clone() {
            let state = self.state_of(&d.agent).await?;
            if let RecorderState::Failed { reason, .. } = &state.recorder {
                return Err(timeout(&d.agent, format!("recording failed: {reason}")));
            }
            out.push(DeviceProgress {
                agent: d.agent.clone(),
                state: Some(state.recorder),
                health: self.health.get(&d.agent).cloned(),
                offset_usec: self.sync.offsets.get(&d.agent).copied(),
            });
        }
        Ok(out)
    }

    /// Stops every device, the master first; returns each agent's final recorder state.
    async fn stop_all(&mut self) -> Vec<(String, RecorderState)> {
        let mut order: Vec<PlannedDevice> =
            self.plan.iter().filter(|d| is_master(d)).cloned().collect();
        order.extend(self.plan.iter().filter(|d| !is_master(d)).cloned());
        let mut out = Vec::new();
        for d in order {
            if self.lost.contains(&d.agent) {
                let detail = "not sent: the agent is gone (an agent that exits finalises its \
                              file; after a crash `k4sync repair` recovers it)";
                self.event(Some(&d.agent), "stop", Some(detail.into()));
                continue;
            }
            self.event(Some(&d.agent), "stop", None);
            match self.stop_one(&d.agent).await {
                Some(state) => out.push((d.agent.clone(), state)),
                None => self.lost.push(d.agent.clone()),
            }
        }
        out
    }

    /// Sends `agent` a stop; its final recorder state, or `None` (a `failed` event) when the
    /// command failed.
    async fn stop_one(&mut self, agent: &str) -> Option<RecorderState> {
        match self.coordinator.command(agent, &Command::Stop).await {
            Ok(state) => {
                let detail = match &state {
                    RecorderState::Finished {
                        frames, dropped, ..
                    } => format!("{frames} captures, {dropped} dropped"),
                    other => other.label().to_string(),
                };
                self.event(Some(agent), "stopped", Some(detail));
                Some(state)
            }
            Err(e) => {
                self.event(Some(agent), "failed", Some(e.to_string()));
                None
            }
        }
    }

    /// Stops the lost agents that answer again, and forgets them; those that do not stay
    /// lost. One that was only unreachable (frozen, or its network gone for a while) still
    /// records the segment that ended and would refuse to be armed for the next one; a
    /// restarted one is idle, and the stop changes nothing.
    async fn stop_returned(&mut self) {
        let mut finals = Vec::new();
        for agent in std::mem::take(&mut self.lost) {
            match self.coordinator.command(&agent, &Command::Stop).await {
                Ok(state) => {
                    let detail = format!("back after it was lost: {}", state.label());
                    self.event(Some(&agent), "stopped", Some(detail));
                    finals.push((agent, state));
                }
                Err(e) => {
                    log::debug!("{agent} does not answer yet: {e}");
                    self.lost.push(agent);
                }
            }
        }
        self.close_segment(finals);
    }

    /// Files the stopped recorders' finished recordings under the current segment; a file
    /// already filed (a recorder stopped twice reports its last recording again) is not.
    fn close_segment(&mut self, finals: Vec<(String, RecorderState)>) {
        for (agent, state) in finals {
            if let Some(segment) = self.segment(&state) {
                let filed = self.segments.entry(agent).or_default();
                if filed.iter().all(|s| s.file != segment.file) {
                    filed.push(segment);
                }
            }
        }
    }

    fn manifest(&self, outcome: &str, error: Option<&RigError>) -> Manifest {
        let config = self.options.settings.config;
        let devices = self
            .coordinator
            .rig()
            .agents
            .iter()
            .filter_map(|a| {
                let (i, d) = self
                    .plan
                    .iter()
                    .enumerate()
                    .find(|(_, d)| d.agent == a.name)?;
                let segments = self.segments.get(&a.name).cloned().unwrap_or_default();
                Some(ManifestDevice {
                    agent: a.name.clone(),
                    host: a.host.clone(),
                    serial: d.serial.clone(),
                    role: d.role.clone(),
                    start_order: i + 1,
                    requested_subordinate_delay_usec: d.requested_subordinate_delay_usec,
                    effective_subordinate_delay_nsec: d.effective_subordinate_delay_nsec,
                    requested_depth_delay_usec: d.requested_depth_delay_usec,
                    effective_depth_delay_nsec: d.effective_depth_delay_nsec,
                    files: segments.iter().map(|s| s.file.clone()).collect(),
                    segments,
                })
            })
            .collect();
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            rig: self.coordinator.rig().rig.clone(),
            take: self.options.take.clone(),
            outcome: outcome.into(),
            error: error.map(ToString::to_string),
            length_s: self.options.length.as_secs_f64(),
            settings: ManifestSettings {
                color_format: config.color_format.sdk_name().into(),
                color_resolution: config.color_resolution.sdk_name().into(),
                depth_mode: config.depth_mode.sdk_name().into(),
                fps: config.fps.hz(),
                exposure: self.options.settings.exposure,
            },
            devices,
            events: self.events.clone(),
            recoveries: self.recoveries.clone(),
        }
    }

    /// The segment a final recorder state describes, its file relative to the output
    /// directory when it lies there.
    fn segment(&self, state: &RecorderState) -> Option<Segment> {
        let RecorderState::Finished {
            file,
            frames,
            dropped,
            ..
        } = state
        else {
            return None;
        };
        let out = std::fs::canonicalize(&self.options.out_dir).ok();
        let path = std::fs::canonicalize(file).ok();
        let relative = match (out, path) {
            (Some(out), Some(path)) => path
                .strip_prefix(&out)
                .ok()
                .map(|p| p.display().to_string()),
            _ => None,
        };
        Some(Segment {
            segment: self.segment,
            file: relative.unwrap_or_else(|| file.clone()),
            frames: *frames,
            dropped: *dropped,
        })
    }
}

/// The alarm a health summary raises when the device dropped more since the previous one.
fn drop_alarm(previous: Option<&Health>, now: &Health) -> Option<String> {
    let before = previous
        .filter(|p| p.take == now.take)
        .map_or(0, |p| p.dropped);
    (now.dropped > before).then(|| {
        format!(
            "{} captures or images dropped in the last second ({} in this take): the computer, \
             its disk or its USB link cannot keep up",
            now.dropped - before,
            now.dropped
        )
    })
}

fn timeout(agent: &str, what: String) -> RigError {
    RigError::Timeout {
        agent: agent.to_string(),
        what,
    }
}

fn not_armed(state: &AgentState, waited: Duration) -> String {
    let plug = match state.jacks {
        Some(j) if j.sync_in => "plugged",
        Some(_) => "empty",
        None => "unreadable",
    };
    format!(
        "not armed and waiting within {:.1} s (recorder {}, Sync In {plug})",
        waited.as_secs_f64(),
        state.recorder.label()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(take: &str, dropped: u64) -> Health {
        Health {
            name: "a".into(),
            take: take.into(),
            recorder: "recording".into(),
            frames: 10,
            dropped,
            last_colour_usec: Some(1),
            last_depth_usec: None,
        }
    }

    #[test]
    fn new_drops_raise_an_alarm_with_the_counts_and_old_ones_do_not() {
        assert_eq!(drop_alarm(None, &health("t", 0)), None);
        let alarm = drop_alarm(None, &health("t", 3)).unwrap();
        assert!(alarm.starts_with("3 captures or images dropped"), "{alarm}");
        let alarm = drop_alarm(Some(&health("t", 3)), &health("t", 5)).unwrap();
        assert!(alarm.contains("2 captures") && alarm.contains("(5 in this take)"));
        assert_eq!(drop_alarm(Some(&health("t", 5)), &health("t", 5)), None);
        let alarm = drop_alarm(Some(&health("old", 9)), &health("t", 1)).unwrap();
        assert!(
            alarm.starts_with("1 captures"),
            "another take counts from 0: {alarm}"
        );
    }
}
