//! The coordinator: `k4sync rig status|check|plan` from any machine that holds the rig's
//! coordinator certificate.
//!
//! It reads the rig file (agents in chain order: the first is the master, the others its
//! subordinates in cable order), connects to every agent's endpoint, and asks. `check` runs
//! the core sync engine's rig planner ([`k4sync_core::sync::plan::plan_rig`]) over what the
//! agents report — serials, jack states — and the settings a take would use, adds the
//! rig-wide rules the planner cannot see (every agent reachable, equal firmware) and warns
//! when colour exposure is automatic. Every finding names the agent and the rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::plan::{plan_rig, Interleave, RigDevice, RigPlan, Topology};
use k4sync_core::types::WiredSyncMode;
use serde::Serialize;
use zenoh::Session;

use crate::init::{RigFile, CONFIG_FILE};
use crate::keys::{self, COORDINATOR};
use crate::msg::{self, AgentState, Command, CommandReply, Frames, Health, RecorderState};
use crate::{net, RigError};

/// How long a state query waits for answers.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait before a state query that found no route at once is asked again.
pub const REASK_AFTER: Duration = Duration::from_millis(300);
/// How long a command waits for its answer (a stop finalises a file first).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);
/// A command whose query ends without an answer this soon (well before its timeout) found no
/// route to the agent.
pub const NO_ROUTE_WITHIN: Duration = Duration::from_millis(7500);
/// A withdrawn liveliness token that a first query does not find is asked for once more after
/// this long before its agent counts as gone (a replaced link re-declares it within it).
pub const RECONFIRM_AFTER: Duration = Duration::from_millis(300);

/// Runs `ask`, and once more after [`REASK_AFTER`] when it ended without an answer within
/// `within` (no route to the agent, not a timeout).
async fn once_more_if_unrouted<T, F, Fut>(within: Duration, ask: F) -> Result<T, RigError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, RigError>>,
{
    let started = Instant::now();
    match ask().await {
        Err(RigError::NoAnswer { .. }) if started.elapsed() < within => {
            tokio::time::sleep(REASK_AFTER).await;
            ask().await
        }
        other => other,
    }
}

/// A connected coordinator.
pub struct Coordinator {
    session: Session,
    rig: RigFile,
}

/// One agent as `rig status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentStatus {
    pub name: String,
    /// Role by chain position: the first agent is the master.
    pub role: String,
    /// Whether its liveliness token is visible (the link is up and the agent runs).
    pub link: bool,
    pub state: Option<AgentState>,
    /// Why there is no state.
    pub problem: Option<String>,
}

impl Coordinator {
    /// Opens the coordinator's session from the rig directory `dir` (as written by `rig init`)
    /// and waits up to `wait` for every agent's token.
    pub async fn connect(dir: &Path, wait: Duration) -> Result<Coordinator, RigError> {
        let rig = RigFile::read(dir)?;
        let config_path = dir.join(COORDINATOR).join(CONFIG_FILE);
        let node = net::load_config(&config_path)?;
        if node.node != COORDINATOR || node.rig != rig.rig {
            return Err(RigError::Config {
                path: config_path,
                reason: format!(
                    "belongs to node {:?} of rig {:?}, not the coordinator of rig {:?}",
                    node.node, node.rig, rig.rig
                ),
            });
        }
        let session = net::open(node.zenoh).await?;
        let coordinator = Coordinator { session, rig };
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if coordinator.alive().await?.len() >= coordinator.rig.agents.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(coordinator)
    }

    pub fn rig(&self) -> &RigFile {
        &self.rig
    }

    /// Of `suspects` (agents whose liveliness token was withdrawn), those that two liveliness
    /// queries [`RECONFIRM_AFTER`] apart no longer find. Live agents' tokens were seen
    /// withdrawn in the tests (presumably zenoh replacing a duplicate link between two peers),
    /// which is no loss.
    pub async fn still_gone(&self, suspects: &[String]) -> Result<Vec<String>, RigError> {
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        let mut alive = self.alive().await?;
        if suspects.iter().any(|a| !alive.contains(a)) {
            tokio::time::sleep(RECONFIRM_AFTER).await;
            alive.extend(self.alive().await?);
        }
        Ok(suspects
            .iter()
            .filter(|a| !alive.contains(a))
            .cloned()
            .collect())
    }

    /// Names of the agents whose liveliness token is visible.
    pub async fn alive(&self) -> Result<Vec<String>, RigError> {
        let replies = self
            .session
            .liveliness()
            .get(keys::all_alive(&self.rig.rig))
            .timeout(Duration::from_millis(500))
            .await
            .map_err(RigError::zenoh)?;
        let mut names = Vec::new();
        while let Ok(reply) = replies.recv_async().await {
            if let Ok(sample) = reply.result() {
                if let Some(name) = keys::agent_of(&self.rig.rig, sample.key_expr().as_str()) {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Every agent of the rig file, in chain order, with its state. A live agent missing from
    /// the answers to the rig-wide query (its queryable not yet routed, as right after a
    /// connect) is asked on its own ([`Self::state_of`]).
    pub async fn status(&self) -> Result<Vec<AgentStatus>, RigError> {
        let alive = self.alive().await?;
        let replies = self
            .session
            .get(keys::all_states(&self.rig.rig))
            .timeout(QUERY_TIMEOUT)
            .await
            .map_err(RigError::zenoh)?;
        let mut states: BTreeMap<String, Result<AgentState, String>> = BTreeMap::new();
        while let Ok(reply) = replies.recv_async().await {
            let Ok(sample) = reply.result() else { continue };
            let key = sample.key_expr().as_str();
            let Some(name) = keys::agent_of(&self.rig.rig, key) else {
                continue;
            };
            let decoded = msg::decode::<AgentState>(key, &sample.payload().to_bytes())
                .map_err(|e| e.to_string());
            states.insert(name.to_string(), decoded);
        }
        for a in &self.rig.agents {
            if alive.contains(&a.name) && !states.contains_key(&a.name) {
                if let Ok(state) = self.state_of(&a.name).await {
                    states.insert(a.name.clone(), Ok(state));
                }
            }
        }
        let count = self.rig.agents.len();
        Ok(self
            .rig
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let link = alive.contains(&a.name);
                let (state, problem) = match states.remove(&a.name) {
                    Some(Ok(s)) => (Some(s), None),
                    Some(Err(e)) => (None, Some(e)),
                    None if link => (None, Some("no answer to the state query".into())),
                    None => (None, Some(format!("not connected ({})", a.endpoint()))),
                };
                AgentStatus {
                    name: a.name.clone(),
                    role: role_for(i, count).to_string(),
                    link,
                    state,
                    problem,
                }
            })
            .collect())
    }

    /// One agent's current state (a query on its `state` key). A query that finds no answer
    /// at once (zenoh had no route to the agent's queryable: seen for a moment while a link
    /// between two peers is replaced) is asked again once after [`REASK_AFTER`]; one that
    /// waited its whole timeout is not.
    pub async fn state_of(&self, agent: &str) -> Result<AgentState, RigError> {
        once_more_if_unrouted(QUERY_TIMEOUT / 2, || self.query_state(agent)).await
    }

    async fn query_state(&self, agent: &str) -> Result<AgentState, RigError> {
        let key = keys::state(&self.rig.rig, agent);
        let replies = self
            .session
            .get(&key)
            .timeout(QUERY_TIMEOUT)
            .await
            .map_err(RigError::zenoh)?;
        let no_answer = || RigError::NoAnswer {
            agent: agent.to_string(),
            what: "the state query".into(),
            timeout_ms: QUERY_TIMEOUT.as_millis() as u64,
        };
        let reply = replies.recv_async().await.map_err(|_| no_answer())?;
        let sample = reply.result().map_err(|_| no_answer())?;
        Ok(msg::decode::<AgentState>(
            &key,
            &sample.payload().to_bytes(),
        )?)
    }

    /// Sends `command` to agent `agent` and returns the recorder state it reports. A command
    /// whose query ends without an answer well before its timeout ([`NO_ROUTE_WITHIN`]) found
    /// no queryable (zenoh had no route to the agent while a link between two peers was
    /// replaced) or lost its link before the answer; it is sent once more after
    /// [`REASK_AFTER`] (a command carried out twice is refused or changes nothing: a second
    /// stop reports the same recording). One that waited its whole timeout is not repeated.
    pub async fn command(&self, agent: &str, command: &Command) -> Result<RecorderState, RigError> {
        once_more_if_unrouted(NO_ROUTE_WITHIN, || self.send_command(agent, command)).await
    }

    async fn send_command(
        &self,
        agent: &str,
        command: &Command,
    ) -> Result<RecorderState, RigError> {
        let key = keys::cmd(&self.rig.rig, agent);
        let replies = self
            .session
            .get(&key)
            .payload(msg::encode(command))
            .timeout(COMMAND_TIMEOUT)
            .await
            .map_err(RigError::zenoh)?;
        let reply = replies.recv_async().await.map_err(|_| RigError::NoAnswer {
            agent: agent.to_string(),
            what: "the command".into(),
            timeout_ms: COMMAND_TIMEOUT.as_millis() as u64,
        })?;
        let sample = reply.result().map_err(|e| RigError::Refused {
            agent: agent.to_string(),
            reason: String::from_utf8_lossy(&e.payload().to_bytes()).into_owned(),
        })?;
        match msg::decode::<CommandReply>(&key, &sample.payload().to_bytes())? {
            CommandReply::Done { recorder } => Ok(recorder),
            CommandReply::Refused { reason } => Err(RigError::Refused {
                agent: agent.to_string(),
                reason,
            }),
        }
    }

    /// Subscribes to every agent's health summaries, liveliness changes and published states,
    /// and with `frames` to their per-frame timestamps (only the take's live aligner reads
    /// those; a watcher without it is not sent them).
    pub async fn watch(&self, frames: bool) -> Result<Watch, RigError> {
        let health = self
            .session
            .declare_subscriber(keys::all_health(&self.rig.rig))
            .await
            .map_err(RigError::zenoh)?;
        let frames = if frames {
            let key = keys::all_frames(&self.rig.rig);
            let subscriber = self.session.declare_subscriber(key).await;
            Some(subscriber.map_err(RigError::zenoh)?)
        } else {
            None
        };
        let alive = self
            .session
            .liveliness()
            .declare_subscriber(keys::all_alive(&self.rig.rig))
            .await
            .map_err(RigError::zenoh)?;
        let states = self.subscribe_states().await?;
        Ok(Watch {
            rig: self.rig.rig.clone(),
            health,
            frames,
            alive,
            states,
        })
    }

    /// Subscribes to every agent's published state.
    async fn subscribe_states(&self) -> Result<SampleSubscriber, RigError> {
        self.session
            .declare_subscriber(keys::all_states(&self.rig.rig))
            .await
            .map_err(RigError::zenoh)
    }

    pub async fn close(self) -> Result<(), RigError> {
        self.session.close().await.map_err(RigError::zenoh)
    }
}

pub(crate) type SampleSubscriber =
    zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>;

/// A take's live view of the rig: health summaries, per-frame timestamps, published states
/// and liveliness changes as they arrive.
pub struct Watch {
    rig: String,
    health: SampleSubscriber,
    frames: Option<SampleSubscriber>,
    alive: SampleSubscriber,
    states: SampleSubscriber,
}

/// Something [`Watch::drain`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Health(Health),
    /// Device timestamps of the images an agent recorded since its previous message.
    Frames(Frames),
    /// The agent's published state (jacks, free disk, recorder).
    State(Box<AgentState>),
    /// The agent's liveliness token vanished.
    Lost(String),
    /// The agent's liveliness token appeared (again).
    Back(String),
    /// A health message that could not be read (another release, or garbage), with why.
    Unreadable(String),
}

impl Watch {
    /// Everything received since the last call, without waiting.
    pub fn drain(&self) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Ok(Some(sample)) = self.alive.try_recv() {
            let key = sample.key_expr().as_str();
            if let Some(agent) = keys::agent_of(&self.rig, key) {
                seen.push(match sample.kind() {
                    zenoh::sample::SampleKind::Delete => Seen::Lost(agent.to_string()),
                    zenoh::sample::SampleKind::Put => Seen::Back(agent.to_string()),
                });
            }
        }
        while let Ok(Some(sample)) = self.health.try_recv() {
            seen.extend(self.decoded(&sample, |h: Health| (h.name.clone(), Seen::Health(h))));
        }
        if let Some(frames) = &self.frames {
            while let Ok(Some(sample)) = frames.try_recv() {
                seen.extend(self.decoded(&sample, |f: Frames| (f.name.clone(), Seen::Frames(f))));
            }
        }
        while let Ok(Some(sample)) = self.states.try_recv() {
            seen.extend(self.decoded(&sample, |s: AgentState| {
                (s.name.clone(), Seen::State(Box::new(s)))
            }));
        }
        seen
    }

    /// A message on an agent's key, which must name that agent.
    fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        sample: &zenoh::sample::Sample,
        seen: impl FnOnce(T) -> (String, Seen),
    ) -> Option<Seen> {
        let key = sample.key_expr().as_str();
        let agent = keys::agent_of(&self.rig, key)?;
        Some(match msg::decode::<T>(key, &sample.payload().to_bytes()) {
            Ok(m) => match seen(m) {
                (name, s) if name == agent => s,
                (name, _) => Seen::Unreadable(format!("{key}: names agent {name:?}")),
            },
            Err(e) => Seen::Unreadable(e.to_string()),
        })
    }
}

/// `rig stop`: stops every agent's recording, the master first (so that the subordinates'
/// files end at the master's last pulse), and returns each agent's answer in chain order.
pub async fn stop_all(c: &Coordinator) -> Vec<(String, Result<RecorderState, RigError>)> {
    let names: Vec<String> = c.rig.agents.iter().map(|a| a.name.clone()).collect();
    let mut out = Vec::new();
    for name in names {
        let result = c.command(&name, &Command::Stop).await;
        out.push((name, result));
    }
    out
}

pub(crate) fn role_for(index: usize, count: usize) -> WiredSyncMode {
    match (index, count) {
        (_, 1) => WiredSyncMode::Standalone,
        (0, _) => WiredSyncMode::Master,
        _ => WiredSyncMode::Subordinate,
    }
}

/// The settings a take would use, apart from each device's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RigSettings {
    pub config: DeviceConfig,
    /// Manual colour exposure exponent; `None` is automatic.
    pub exposure: Option<i8>,
    pub interleave: Interleave,
}

/// One broken rule or warning, naming the agent when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub agent: Option<String>,
    pub rule: String,
    pub message: String,
}

/// One device of the plan, in start order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedDevice {
    /// The device configuration the take sends this agent (role and requested delays set).
    #[serde(skip)]
    pub config: DeviceConfig,
    pub agent: String,
    pub serial: String,
    pub role: String,
    pub requested_subordinate_delay_usec: u32,
    pub effective_subordinate_delay_nsec: i64,
    pub requested_depth_delay_usec: i32,
    pub effective_depth_delay_nsec: i64,
    /// Depth capture relative to the master's colour capture; `None` with depth off.
    pub depth_offset_nsec: Option<i64>,
}

/// What `rig check` and `rig plan` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// The start order with effective delays, when every rule passed.
    pub plan: Option<Vec<PlannedDevice>>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The core's rule name: the error's variant (`SubordinateWithoutSyncIn`, `InvalidConfig`).
fn rule_name(error: &impl std::fmt::Debug) -> String {
    format!("{error:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn finding(agent: Option<&str>, rule: &str, message: String) -> Finding {
    Finding {
        agent: agent.map(str::to_string),
        rule: rule.to_string(),
        message,
    }
}

/// Runs the preflight over the rig's agents (in chain order) for a take with `settings`.
pub fn check(agents: &[AgentStatus], settings: &RigSettings) -> CheckReport {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut reported: Vec<(&AgentStatus, &AgentState)> = Vec::new();
    for a in agents {
        match &a.state {
            Some(s) if s.jacks.is_none() => errors.push(finding(
                Some(&a.name),
                "JackStateUnavailable",
                format!(
                    "agent {}: the jack state of {} could not be read",
                    a.name, s.serial
                ),
            )),
            Some(s) => reported.push((a, s)),
            None => errors.push(finding(
                Some(&a.name),
                "AgentUnreachable",
                format!(
                    "agent {}: {}; start it or check its network and certificate",
                    a.name,
                    a.problem.as_deref().unwrap_or("no state")
                ),
            )),
        }
    }
    if settings.exposure.is_none() && settings.config.colour_enabled() {
        warnings.push(finding(
            None,
            "AutomaticExposure",
            "colour exposure is automatic: it changes each camera's exposure and with it the \
             timing, so devices drift out of sync; set one manual exposure (-e) for the whole rig"
                .into(),
        ));
    }
    if !errors.is_empty() {
        return CheckReport {
            errors,
            warnings,
            plan: None,
        };
    }
    errors.extend(recorders_running(&reported));
    if let Some((master, m)) = reported.first() {
        for (a, s) in reported.iter().skip(1) {
            if s.firmware != m.firmware {
                errors.push(finding(
                    Some(&a.name),
                    "MismatchedFirmware",
                    format!(
                        "agent {} ({}) runs firmware rgb {} depth {}, agent {} ({}) rgb {} depth {}; \
                         update every camera to the same firmware",
                        a.name, s.serial, s.firmware.rgb, s.firmware.depth, master.name, m.serial,
                        m.firmware.rgb, m.firmware.depth
                    ),
                ));
            }
        }
    }
    let count = reported.len();
    let devices: Vec<RigDevice<'_>> = reported
        .iter()
        .enumerate()
        .map(|(i, (_, s))| RigDevice {
            serial: &s.serial,
            jack: s.jacks.map(Into::into).unwrap_or_default(),
            config: DeviceConfig {
                sync_mode: role_for(i, count),
                ..settings.config
            },
        })
        .collect();
    let plan = match plan_rig(&devices, Topology::DaisyChain, settings.interleave) {
        Ok(plan) => Some(plan),
        Err(e) => {
            let message = e.to_string();
            let agent = reported
                .iter()
                .find(|(_, s)| message.contains(s.serial.as_str()))
                .map(|(a, _)| a.name.as_str());
            let message = match agent {
                Some(name) => format!("agent {name}: {message}"),
                None => message,
            };
            errors.push(finding(agent, &rule_name(&e), message));
            None
        }
    };
    let plan = plan
        .filter(|_| errors.is_empty())
        .map(|p| planned(&p, &reported));
    CheckReport {
        errors,
        warnings,
        plan,
    }
}

/// Recorders that already run (in chain order, the master first). A take starts from idle
/// devices; a master that records while a subordinate is not armed was started out of order
/// (by hand), and that subordinate has missed its first pulses.
fn recorders_running(reported: &[(&AgentStatus, &AgentState)]) -> Vec<Finding> {
    let Some(((master, m), subordinates)) = reported.split_first() else {
        return Vec::new();
    };
    if m.recorder.is_active() {
        let idle: Vec<&str> = subordinates
            .iter()
            .filter(|(_, s)| !s.recorder.is_active())
            .map(|(a, _)| a.name.as_str())
            .collect();
        if !idle.is_empty() {
            let message = format!(
                "agent {} (the master) is {} while {} {} not armed: a subordinate started \
                 after its master misses the first pulses; stop the rig (`k4sync rig stop`) \
                 and record with `k4sync rig record`, which starts the subordinates first",
                master.name,
                m.recorder.label(),
                idle.join(", "),
                if idle.len() == 1 { "is" } else { "are" }
            );
            return vec![finding(Some(&master.name), "StartedOutOfOrder", message)];
        }
    }
    reported
        .iter()
        .filter(|(_, s)| s.recorder.is_active())
        .map(|(a, s)| {
            let message = format!(
                "agent {} is already {}: stop it (`k4sync rig stop`) before a new take",
                a.name,
                s.recorder.label()
            );
            finding(Some(&a.name), "RecordingInProgress", message)
        })
        .collect()
}

fn planned(plan: &RigPlan, reported: &[(&AgentStatus, &AgentState)]) -> Vec<PlannedDevice> {
    plan.start_order()
        .map(|d| {
            let agent = reported
                .iter()
                .find(|(_, s)| s.serial == d.serial.as_str())
                .map_or_else(String::new, |(a, _)| a.name.clone());
            PlannedDevice {
                config: *d.config.config(),
                agent,
                serial: d.serial.to_string(),
                role: d.mode().to_string(),
                requested_subordinate_delay_usec: d.requested_subordinate_delay_usec(),
                effective_subordinate_delay_nsec: d.config.effective_subordinate_delay_nsec(),
                requested_depth_delay_usec: d.requested_depth_delay_usec(),
                effective_depth_delay_nsec: d.config.effective_depth_delay_nsec(),
                depth_offset_nsec: d.depth_offset_nsec(),
            }
        })
        .collect()
}

fn gib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "?".into(),
        |b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)),
    )
}

fn jack_text(state: &AgentState) -> String {
    match state.jacks {
        None => "?".into(),
        Some(j) => format!(
            "in:{} out:{}",
            if j.sync_in { "plug" } else { "-" },
            if j.sync_out { "plug" } else { "-" }
        ),
    }
}

/// `rig status` as a table.
pub fn status_text(agents: &[AgentStatus]) -> String {
    let mut rows = vec![[
        "AGENT",
        "ROLE",
        "LINK",
        "SERIAL",
        "JACKS",
        "FREE DISK",
        "USB",
        "RECORDER",
    ]
    .map(str::to_string)];
    for a in agents {
        let link = if a.link { "up" } else { "down" }.to_string();
        rows.push(match &a.state {
            Some(s) => [
                a.name.clone(),
                a.role.clone(),
                link,
                s.serial.clone(),
                jack_text(s),
                gib(s.free_disk_bytes),
                s.usb_speed.clone().unwrap_or_else(|| "?".into()),
                s.recorder.label().to_string(),
            ],
            None => [
                a.name.clone(),
                a.role.clone(),
                link,
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                a.problem.clone().unwrap_or_default(),
            ],
        });
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// `rig check` / `rig plan` as text.
pub fn check_text(report: &CheckReport) -> String {
    let mut out = String::new();
    for e in &report.errors {
        out += &format!("error [{}]: {}\n", e.rule, e.message);
    }
    for w in &report.warnings {
        out += &format!("warning [{}]: {}\n", w.rule, w.message);
    }
    if let Some(plan) = &report.plan {
        let mut rows = vec![[
            "START",
            "AGENT",
            "SERIAL",
            "ROLE",
            "SUB DELAY µs (req → eff)",
            "DEPTH DELAY µs (req → eff)",
            "DEPTH AT µs",
        ]
        .map(str::to_string)];
        for (i, d) in plan.iter().enumerate() {
            rows.push([
                (i + 1).to_string(),
                d.agent.clone(),
                d.serial.clone(),
                d.role.clone(),
                format!(
                    "{} → {:.3}",
                    d.requested_subordinate_delay_usec,
                    d.effective_subordinate_delay_nsec as f64 / 1000.0
                ),
                format!(
                    "{} → {:.3}",
                    d.requested_depth_delay_usec,
                    d.effective_depth_delay_nsec as f64 / 1000.0
                ),
                d.depth_offset_nsec
                    .map_or_else(|| "-".into(), |n| format!("{:.3}", n as f64 / 1000.0)),
            ]);
        }
        out += &table(&rows);
        out += "subordinates start first and wait for pulses; the master starts last\n";
    }
    if report.passed() {
        out += "check passed\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Firmware, Jacks};
    use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps};

    fn agent(name: &str, index: usize, recorder: RecorderState) -> AgentStatus {
        let state = AgentState {
            name: name.into(),
            serial: format!("00012345678{index}"),
            firmware: Firmware {
                rgb: "1.6.110".into(),
                depth: "1.6.80".into(),
                audio: "1.6.14".into(),
            },
            jacks: Some(Jacks {
                sync_in: index > 0,
                sync_out: index < 2,
            }),
            usb_speed: Some("super".into()),
            emulated: true,
            data_dir: "/data".into(),
            free_disk_bytes: Some(1 << 40),
            recorder,
        };
        AgentStatus {
            name: name.into(),
            role: if index == 0 { "master" } else { "subordinate" }.into(),
            link: true,
            state: Some(state),
            problem: None,
        }
    }

    fn settings() -> RigSettings {
        RigSettings {
            config: DeviceConfig {
                color_resolution: ColorResolution::R720p,
                color_format: ColorFormat::Mjpg,
                depth_mode: DepthMode::PassiveIr,
                fps: Fps::Fps15,
                ..DeviceConfig::default()
            },
            exposure: Some(-6),
            interleave: Interleave::SubordinateDelay,
        }
    }

    fn recording(take: &str) -> RecorderState {
        RecorderState::Recording {
            take: take.into(),
            file: format!("/data/{take}.mkv"),
            frames: 10,
            dropped: 0,
        }
    }

    #[test]
    fn an_idle_rig_passes_and_a_master_started_before_its_subordinates_is_named() {
        let idle = [
            agent("m", 0, RecorderState::Idle),
            agent("s1", 1, RecorderState::Idle),
            agent("s2", 2, RecorderState::Idle),
        ];
        let report = check(&idle, &settings());
        assert!(report.passed(), "{report:?}");

        let armed = RecorderState::WaitingForPulses {
            take: "t".into(),
            file: "/data/t.mkv".into(),
        };
        let by_hand = [
            agent("m", 0, recording("t")),
            agent("s1", 1, armed),
            agent("s2", 2, RecorderState::Idle),
        ];
        let report = check(&by_hand, &settings());
        assert!(!report.passed());
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        let e = &report.errors[0];
        assert_eq!(
            (e.rule.as_str(), e.agent.as_deref()),
            ("StartedOutOfOrder", Some("m"))
        );
        assert!(e.message.contains("while s2 is not armed"), "{}", e.message);
    }

    #[test]
    fn recorders_already_running_in_order_are_named_each() {
        let all_running = [
            agent("m", 0, recording("t")),
            agent("s1", 1, recording("t")),
        ];
        let report = check(&all_running, &settings());
        let named: Vec<_> = report
            .errors
            .iter()
            .map(|e| (e.rule.as_str(), e.agent.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            named,
            [("RecordingInProgress", "m"), ("RecordingInProgress", "s1")]
        );
    }
}
