//! The dashboard's model of the rig and its fan-out to the browsers watching it.
//!
//! One [`Hub`] holds what the page shows — agents, plan, the take in progress, alarms, the last
//! take's alignment — and turns every change into a server-sent event. Each SSE client gets
//! its own bounded queue ([`QUEUE_CAPACITY`] events): an event that does not fit is dropped
//! for that client and counted (`dropped_events` in `/api/state`), so a client that stops
//! reading costs at most one full queue, never unbounded memory.
//!
//! Alarms are raised once per agent and kind while their condition holds and cleared when it
//! ends; each says what to do. The offsets plotted, one point per frame set and subordinate, and
//! the `pulses_lost` and `off_grid` alarms come from the take's live aligner
//! ([`crate::live::LiveSync`], fed by the agents' per-frame timestamps) as
//! [`Progress::Offsets`] and alarm events; the cable, disk and agent-gone alarms from the
//! agents' states and liveliness.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::alarms;
use crate::coordinator::{role_for, AgentStatus, CheckReport};
use crate::msg::{AgentState, Health, Jacks, RecorderState};
use crate::take::{Event, OffsetPoint, Progress};

/// Events each SSE client may have waiting before newer ones are dropped for it.
pub const QUEUE_CAPACITY: usize = 64;
pub use crate::alarms::DISK_LOW_BYTES;
/// Offset points kept per device (two minutes of sets at 30 fps: a strip chart).
const SERIES_LIMIT: usize = 3600;
/// The alarm kinds the take raises and clears itself ([`Event::alarm`]).
const TAKE_ALARMS: [&str; 3] = ["drops", "pulses_lost", "off_grid"];
/// Alarms kept (the oldest cleared ones go first).
const ALARM_LIMIT: usize = 200;
/// Take events kept for the page's log.
const EVENT_LIMIT: usize = 500;

/// One server-sent event: its type and its JSON data.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub kind: &'static str,
    pub data: Arc<str>,
}

fn message(kind: &'static str, value: &impl Serialize) -> Message {
    let data = serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("could not encode the {kind} event: {e}") })
            .to_string()
    });
    Message {
        kind,
        data: data.into(),
    }
}

/// One agent as the page's rig table shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub name: String,
    pub role: String,
    pub host: String,
    /// Its liveliness token is visible.
    pub link: bool,
    pub serial: Option<String>,
    pub jacks: Option<Jacks>,
    pub free_disk_bytes: Option<u64>,
    pub recorder: Option<RecorderState>,
    pub problem: Option<String>,
}

/// One device's live line during a take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceLive {
    pub agent: String,
    pub state: String,
    pub frames: u64,
    pub dropped: u64,
    pub last_colour_usec: Option<u64>,
    /// Offset to the master in its newest placed set, less its expected delay, µs.
    pub offset_usec: Option<f64>,
}

impl DeviceLive {
    /// Takes the state, and the counts when it has them, from an agent's recorder state.
    fn show(&mut self, state: &RecorderState) {
        self.state = state.label().to_string();
        if let RecorderState::Recording {
            frames, dropped, ..
        }
        | RecorderState::Finished {
            frames, dropped, ..
        } = state
        {
            self.frames = *frames;
            self.dropped = *dropped;
        }
    }
}

/// The take in progress, or the last one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TakeView {
    pub name: String,
    /// `running`, then `completed`, `interrupted` or `failed`.
    pub phase: String,
    pub length_s: f64,
    pub fps: u32,
    pub tolerance_usec: u32,
    pub out_dir: String,
    pub error: Option<String>,
    pub devices: Vec<DeviceLive>,
    /// Per subordinate: `[seconds since the take began, offset µs]`, one per frame set.
    pub offsets: BTreeMap<String, Vec<[f64; 2]>>,
    pub events: Vec<Event>,
}

/// One alarm and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub id: u64,
    pub unix_ms: u64,
    pub agent: Option<String>,
    /// `cable_pulled`, `pulses_lost`, `off_grid`, `agent_gone`, `disk_low`, `drops`.
    pub kind: String,
    pub message: String,
    pub action: String,
    /// The condition still holds.
    pub active: bool,
}

/// `k4sync align` over the last take's files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub take: String,
    pub text: Option<String>,
    /// The timeline (`k4sync align --plot`).
    pub svg: Option<String>,
    pub error: Option<String>,
}

/// One SSE client's queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientStats {
    pub id: u64,
    /// Events waiting in its queue (at most `queue_capacity`).
    pub queued: usize,
    /// Events dropped because its queue was full.
    pub dropped: u64,
}

/// The settings a take started from the page uses unless the request names others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Defaults {
    pub color_resolution: String,
    pub color_format: String,
    pub depth_mode: String,
    pub fps: u32,
    /// Manual exposure exponent; `None` is automatic.
    pub exposure: Option<i8>,
}

impl Defaults {
    pub fn of(settings: &crate::coordinator::RigSettings) -> Defaults {
        let c = &settings.config;
        Defaults {
            color_resolution: c.color_resolution.sdk_name().into(),
            color_format: c.color_format.sdk_name().into(),
            depth_mode: c.depth_mode.sdk_name().into(),
            fps: c.fps.hz(),
            exposure: settings.exposure,
        }
    }
}

/// `/api/state`: everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub rig: String,
    pub defaults: Defaults,
    /// Chain order: the master first.
    pub agents: Vec<AgentView>,
    /// The last check's findings and plan (start order, effective delays).
    pub plan: Option<CheckReport>,
    pub take: Option<TakeView>,
    pub alarms: Vec<Alarm>,
    pub summary: Option<Summary>,
    pub clients: Vec<ClientStats>,
    /// Events dropped for slow clients since the dashboard started.
    pub dropped_events: u64,
    pub queue_capacity: usize,
}

/// A device's line as the `device` event carries it.
#[derive(Serialize)]
struct DeviceEvent<'a> {
    agent: &'a AgentView,
    live: Option<&'a DeviceLive>,
}

struct Client {
    id: u64,
    tx: mpsc::Sender<Message>,
    dropped: u64,
}

#[derive(Default)]
struct Clients {
    list: Vec<Client>,
    next_id: u64,
    dropped_total: u64,
}

struct Model {
    rig: String,
    defaults: Defaults,
    agents: Vec<AgentView>,
    plan: Option<CheckReport>,
    take: Option<TakeView>,
    alarms: Vec<Alarm>,
    summary: Option<Summary>,
    next_alarm: u64,
    /// The name of the take in progress or last run (health summaries of others are old).
    take_name: String,
}

/// The dashboard's shared state (see the module documentation).
pub(crate) struct Hub {
    model: Mutex<Model>,
    clients: Mutex<Clients>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Hub {
    /// The rig `rig` with its agents in chain order.
    pub fn new(rig: &str, agents: &[(String, String)], defaults: Defaults) -> Hub {
        let count = agents.len();
        let agents = agents
            .iter()
            .enumerate()
            .map(|(i, (name, host))| AgentView {
                name: name.clone(),
                role: role_for(i, count).to_string(),
                host: host.clone(),
                link: false,
                serial: None,
                jacks: None,
                free_disk_bytes: None,
                recorder: None,
                problem: Some("not heard from yet".into()),
            })
            .collect();
        Hub {
            model: Mutex::new(Model {
                rig: rig.to_string(),
                defaults,
                agents,
                plan: None,
                take: None,
                alarms: Vec::new(),
                summary: None,
                next_alarm: 1,
                take_name: String::new(),
            }),
            clients: Mutex::new(Clients::default()),
        }
    }

    /// A new SSE client's queue, holding the full snapshot as its first event.
    pub fn subscribe(&self) -> mpsc::Receiver<Message> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let first = message("state", &self.snapshot());
        let mut clients = lock(&self.clients);
        let id = clients.next_id;
        clients.next_id += 1;
        let mut client = Client { id, tx, dropped: 0 };
        if client.tx.try_send(first).is_err() {
            client.dropped += 1;
            clients.dropped_total += 1;
        }
        clients.list.push(client);
        rx
    }

    /// Queues `messages` for every client; a full queue drops them for that client.
    fn publish(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let mut clients = lock(&self.clients);
        let mut dropped = 0;
        clients.list.retain_mut(|c| {
            for m in &messages {
                match c.tx.try_send(m.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        c.dropped += 1;
                        dropped += 1;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
        clients.dropped_total += dropped;
    }

    fn update(&self, f: impl FnOnce(&mut Model) -> Vec<Message>) {
        let messages = f(&mut lock(&self.model));
        self.publish(messages);
    }

    pub fn snapshot(&self) -> Snapshot {
        let (clients, dropped_events) = {
            let c = lock(&self.clients);
            let stats = c
                .list
                .iter()
                .filter(|c| !c.tx.is_closed())
                .map(|c| ClientStats {
                    id: c.id,
                    queued: QUEUE_CAPACITY.saturating_sub(c.tx.capacity()),
                    dropped: c.dropped,
                })
                .collect();
            (stats, c.dropped_total)
        };
        let m = lock(&self.model);
        Snapshot {
            rig: m.rig.clone(),
            defaults: m.defaults.clone(),
            agents: m.agents.clone(),
            plan: m.plan.clone(),
            take: m.take.clone(),
            alarms: m.alarms.clone(),
            summary: m.summary.clone(),
            clients,
            dropped_events,
            queue_capacity: QUEUE_CAPACITY,
        }
    }

    /// Whether a take is running.
    pub fn take_running(&self) -> bool {
        lock(&self.model)
            .take
            .as_ref()
            .is_some_and(|t| t.phase == "running")
    }

    /// What `rig status` found.
    pub fn on_status(&self, agents: &[AgentStatus]) {
        self.update(|m| {
            let mut out = Vec::new();
            for a in agents {
                if let Some(v) = m.agents.iter_mut().find(|v| v.name == a.name) {
                    v.link = a.link;
                    v.problem = a.problem.clone();
                }
                if let Some(s) = &a.state {
                    out.extend(m.apply_state(s));
                }
                if !a.link {
                    out.extend(m.agent_gone(&a.name));
                }
            }
            out.push(message("rig", &m.agents));
            out
        });
    }

    pub fn on_state(&self, state: &AgentState) {
        self.update(|m| m.apply_state(state));
    }

    pub fn on_alive(&self, agent: &str, alive: bool) {
        self.update(|m| {
            let Some(v) = m.agents.iter_mut().find(|v| v.name == agent) else {
                return Vec::new();
            };
            v.link = alive;
            let mut out = if alive {
                m.clear(Some(agent), "agent_gone")
            } else {
                m.agent_gone(agent)
            };
            out.extend(m.device_event(agent));
            out
        });
    }

    pub fn on_health(&self, health: &Health) {
        self.update(|m| m.apply_health(health));
    }

    /// Every device's line, once a second.
    pub fn tick(&self) {
        self.update(|m| {
            let names: Vec<String> = m.agents.iter().map(|a| a.name.clone()).collect();
            names.iter().filter_map(|n| m.device_event(n)).collect()
        });
    }

    pub fn set_plan(&self, report: &CheckReport) {
        self.update(|m| {
            m.plan = Some(report.clone());
            vec![message("plan", report)]
        });
    }

    /// A take begins with this plan.
    pub fn take_started(
        &self,
        name: &str,
        length_s: f64,
        fps: k4sync_core::types::Fps,
        out_dir: &str,
    ) {
        self.update(|m| {
            m.take_name = name.to_string();
            let devices = m
                .agents
                .iter()
                .map(|a| DeviceLive {
                    agent: a.name.clone(),
                    state: "idle".into(),
                    frames: 0,
                    dropped: 0,
                    last_colour_usec: None,
                    offset_usec: None,
                })
                .collect();
            let take = TakeView {
                name: name.to_string(),
                phase: "running".into(),
                length_s,
                fps: fps.hz(),
                tolerance_usec: k4sync_core::sync::align::tolerance_usec(fps),
                out_dir: out_dir.to_string(),
                error: None,
                devices,
                offsets: BTreeMap::new(),
                events: Vec::new(),
            };
            m.summary = None;
            let out = vec![message("take", &take)];
            m.take = Some(take);
            out
        });
    }

    pub fn on_progress(&self, progress: &Progress) {
        self.update(|m| match progress {
            Progress::Event(e) => m.take_event(e),
            Progress::Tick { devices, .. } => {
                let mut out = Vec::new();
                for d in devices {
                    if let Some(live) = m.live_mut(&d.agent) {
                        if let Some(state) = &d.state {
                            live.show(state);
                        }
                        live.offset_usec = d.offset_usec.or(live.offset_usec);
                    }
                    out.extend(m.device_event(&d.agent));
                }
                out
            }
            Progress::Offsets(points) => m.offsets(points),
        });
    }

    /// The take ended (`outcome`: `completed`, `interrupted`, `failed`).
    pub fn take_finished(&self, outcome: &str, error: Option<String>) {
        self.update(|m| {
            let Some(take) = m.take.as_mut() else {
                return Vec::new();
            };
            take.phase = outcome.to_string();
            take.error = error;
            let out = vec![message("take", &*take)];
            let stale: Vec<(Option<String>, String)> = m
                .alarms
                .iter()
                .filter(|a| {
                    a.active && matches!(a.kind.as_str(), "pulses_lost" | "off_grid" | "drops")
                })
                .map(|a| (a.agent.clone(), a.kind.clone()))
                .collect();
            let mut out = out;
            for (agent, kind) in stale {
                out.extend(m.clear(agent.as_deref(), &kind));
            }
            out
        });
    }

    pub fn set_summary(&self, summary: Summary) {
        self.update(|m| {
            let out = vec![message("summary", &summary)];
            m.summary = Some(summary);
            out
        });
    }
}

impl Model {
    fn index_of(&self, agent: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.name == agent)
    }

    fn live_mut(&mut self, agent: &str) -> Option<&mut DeviceLive> {
        self.take
            .as_mut()?
            .devices
            .iter_mut()
            .find(|d| d.agent == agent)
    }

    fn device_event(&self, agent: &str) -> Option<Message> {
        let view = self.agents.iter().find(|a| a.name == agent)?;
        let live = self
            .take
            .as_ref()
            .and_then(|t| t.devices.iter().find(|d| d.agent == agent));
        Some(message("device", &DeviceEvent { agent: view, live }))
    }

    fn raise(
        &mut self,
        agent: Option<&str>,
        kind: &str,
        message_text: String,
        action: String,
    ) -> Option<Message> {
        let held = self
            .alarms
            .iter()
            .any(|a| a.active && a.kind == kind && a.agent.as_deref() == agent);
        if held {
            return None;
        }
        let alarm = Alarm {
            id: self.next_alarm,
            unix_ms: unix_ms(),
            agent: agent.map(str::to_string),
            kind: kind.to_string(),
            message: message_text,
            action,
            active: true,
        };
        self.next_alarm += 1;
        if self.alarms.len() >= ALARM_LIMIT {
            let oldest = self
                .alarms
                .iter()
                .position(|a| !a.active)
                .unwrap_or_default();
            self.alarms.remove(oldest);
        }
        let out = message("alarm", &alarm);
        self.alarms.push(alarm);
        Some(out)
    }

    fn clear(&mut self, agent: Option<&str>, kind: &str) -> Vec<Message> {
        self.alarms
            .iter_mut()
            .filter(|a| a.active && a.kind == kind && a.agent.as_deref() == agent)
            .map(|a| {
                a.active = false;
                message("alarm", &*a)
            })
            .collect()
    }

    fn agent_gone(&mut self, agent: &str) -> Vec<Message> {
        self.raise(
            Some(agent),
            "agent_gone",
            format!("agent {agent} is gone: its liveliness token vanished"),
            format!(
                "check that {agent}'s computer is powered and on the network, and that its agent \
                 runs (systemctl status k4sync-agent); a take in progress fails and keeps its files"
            ),
        )
        .into_iter()
        .collect()
    }

    fn apply_state(&mut self, s: &AgentState) -> Vec<Message> {
        let Some(i) = self.index_of(&s.name) else {
            return Vec::new();
        };
        let Some(view) = self.agents.get_mut(i) else {
            return Vec::new();
        };
        view.serial = Some(s.serial.clone());
        view.jacks = s.jacks;
        view.free_disk_bytes = s.free_disk_bytes;
        view.recorder = Some(s.recorder.clone());
        view.problem = None;
        view.link = true;
        let mut out = Vec::new();
        out.extend(self.clear(Some(&s.name), "agent_gone"));
        out.extend(self.state_alarms(s));
        if let Some(live) = self.live_mut(&s.name) {
            live.show(&s.recorder);
        }
        out.extend(self.device_event(&s.name));
        out
    }

    /// Raises what [`alarms::of_state`] finds in `s` and clears the state alarms that no
    /// longer hold.
    fn state_alarms(&mut self, s: &AgentState) -> Vec<Message> {
        let verdicts = {
            let chain: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
            alarms::of_state(s, &chain)
        };
        let mut out = Vec::new();
        for (kind, problem) in verdicts {
            match problem {
                Some(p) => out.extend(self.raise(Some(&s.name), kind, p.what, p.action)),
                None => out.extend(self.clear(Some(&s.name), kind)),
            }
        }
        out
    }

    /// A take event; the alarms only the take sees (drops, and the live aligner's pulses
    /// lost and off grid) are raised and cleared from it.
    fn take_event(&mut self, e: &Event) -> Vec<Message> {
        let mut out = Vec::new();
        let kind = e.alarm.as_deref().filter(|k| TAKE_ALARMS.contains(k));
        if let (Some(kind), Some(agent)) = (kind, e.agent.as_deref()) {
            if e.event == "alarm" {
                let action = e.action.clone().unwrap_or_else(|| {
                    "lower the frame rate or the resolution, or check the agent's USB link and \
                     the write speed of its disk"
                        .into()
                });
                out.extend(self.raise(
                    Some(agent),
                    kind,
                    e.detail.clone().unwrap_or_default(),
                    action,
                ));
            } else if e.event == "alarm_cleared" {
                out.extend(self.clear(Some(agent), kind));
            }
        }
        if let Some(take) = self.take.as_mut() {
            if take.events.len() >= EVENT_LIMIT {
                take.events.remove(0);
            }
            take.events.push(e.clone());
        }
        out.push(message("event", e));
        out
    }

    fn apply_health(&mut self, h: &Health) -> Vec<Message> {
        if self.take.is_none() || h.take != self.take_name {
            return Vec::new();
        }
        if let Some(live) = self.live_mut(&h.name) {
            live.state = h.recorder.clone();
            live.frames = h.frames;
            live.dropped = h.dropped;
            live.last_colour_usec = h.last_colour_usec.or(live.last_colour_usec);
        }
        self.device_event(&h.name).into_iter().collect()
    }

    /// Offsets the take's live aligner placed: kept for the chart (the newest
    /// [`SERIES_LIMIT`] per device) and sent on as one `offsets` event.
    fn offsets(&mut self, points: &[OffsetPoint]) -> Vec<Message> {
        let Some(take) = self.take.as_mut() else {
            return Vec::new();
        };
        for p in points {
            let series = take.offsets.entry(p.agent.clone()).or_default();
            if series.len() >= SERIES_LIMIT {
                series.drain(..series.len() + 1 - SERIES_LIMIT);
            }
            series.push([p.t_s, p.offset_usec]);
            if let Some(live) = take.devices.iter_mut().find(|d| d.agent == p.agent) {
                live.offset_usec = Some(p.offset_usec);
            }
        }
        vec![message("offsets", &points)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        let agents: Vec<(String, String)> = ["cam0", "cam1", "cam2"]
            .iter()
            .map(|n| (n.to_string(), "127.0.0.1".to_string()))
            .collect();
        let settings = crate::coordinator::RigSettings {
            config: k4sync_core::sync::config::DeviceConfig::default(),
            exposure: None,
            interleave: k4sync_core::sync::plan::Interleave::DepthDelay,
        };
        Hub::new("r", &agents, Defaults::of(&settings))
    }

    fn state(name: &str, sync_in: bool, sync_out: bool) -> AgentState {
        AgentState {
            name: name.into(),
            serial: "1".into(),
            firmware: crate::msg::Firmware {
                rgb: "1".into(),
                depth: "1".into(),
                audio: "1".into(),
            },
            jacks: Some(Jacks { sync_in, sync_out }),
            usb_speed: None,
            emulated: true,
            data_dir: "/d".into(),
            free_disk_bytes: Some(100 << 30),
            recorder: RecorderState::Idle,
        }
    }

    fn active(hub: &Hub, kind: &str) -> Vec<Option<String>> {
        hub.snapshot()
            .alarms
            .into_iter()
            .filter(|a| a.active && a.kind == kind)
            .map(|a| a.agent)
            .collect()
    }

    #[test]
    fn a_subordinate_without_sync_in_raises_one_cable_alarm_until_replugged() {
        let hub = hub();
        let mut rx = hub.subscribe();
        hub.on_state(&state("cam0", false, true));
        hub.on_state(&state("cam2", false, false));
        hub.on_state(&state("cam2", false, false));
        assert_eq!(active(&hub, "cable_pulled"), [Some("cam2".to_string())]);
        let alarm = hub.snapshot().alarms.remove(0);
        assert!(alarm.action.contains("cam1's Sync Out"), "{}", alarm.action);
        hub.on_state(&state("cam2", true, false));
        assert!(active(&hub, "cable_pulled").is_empty());
        let mut kinds = Vec::new();
        while let Ok(m) = rx.try_recv() {
            kinds.push(m.kind);
        }
        assert_eq!(kinds.iter().filter(|k| **k == "alarm").count(), 2);
    }

    #[test]
    fn a_client_that_never_reads_keeps_a_full_queue_and_counts_the_rest() {
        let hub = hub();
        let _slow = hub.subscribe();
        for _ in 0..QUEUE_CAPACITY * 3 {
            hub.tick();
        }
        let s = hub.snapshot();
        assert_eq!(s.clients.len(), 1);
        assert_eq!(s.clients[0].queued, QUEUE_CAPACITY);
        let sent = QUEUE_CAPACITY as u64 * 3 * 3 + 1;
        assert_eq!(s.dropped_events, sent - QUEUE_CAPACITY as u64);
        assert_eq!(s.clients[0].dropped, s.dropped_events);
    }

    #[test]
    fn a_closed_client_is_forgotten() {
        let hub = hub();
        drop(hub.subscribe());
        hub.tick();
        assert!(hub.snapshot().clients.is_empty());
    }

    fn alarm_event(agent: &str, kind: &str, raised: bool) -> Progress {
        Progress::Event(Event {
            t_s: 1.0,
            unix_ms: 1,
            agent: Some(agent.into()),
            event: if raised { "alarm" } else { "alarm_cleared" }.into(),
            detail: Some(format!("{kind} on {agent}")),
            alarm: Some(kind.into()),
            action: Some(format!("do something about {agent}")),
        })
    }

    #[test]
    fn the_takes_offsets_feed_the_chart_and_its_live_alarms_the_alarm_list() {
        let hub = hub();
        let mut rx = hub.subscribe();
        hub.take_started("t", 10.0, k4sync_core::types::Fps::Fps15, "/o");
        let point = |t_s: f64, offset_usec: f64| OffsetPoint {
            agent: "cam1".into(),
            t_s,
            offset_usec,
        };
        hub.on_progress(&Progress::Offsets(vec![
            point(0.0, -2.5),
            point(0.067, 3.0),
        ]));
        let take = hub.snapshot().take.unwrap();
        assert_eq!(take.offsets["cam1"], [[0.0, -2.5], [0.067, 3.0]]);
        assert_eq!(take.devices[1].offset_usec, Some(3.0));
        let many: Vec<OffsetPoint> = (0..SERIES_LIMIT + 10)
            .map(|i| point(i as f64, 1.0))
            .collect();
        hub.on_progress(&Progress::Offsets(many));
        let series = &hub.snapshot().take.unwrap().offsets["cam1"];
        assert_eq!(series.len(), SERIES_LIMIT);
        assert_eq!(series.last(), Some(&[(SERIES_LIMIT + 9) as f64, 1.0]));
        hub.on_progress(&alarm_event("cam2", "pulses_lost", true));
        hub.on_progress(&alarm_event("cam1", "off_grid", true));
        assert_eq!(active(&hub, "pulses_lost"), [Some("cam2".to_string())]);
        let alarm = hub.snapshot().alarms.remove(0);
        assert_eq!(alarm.action, "do something about cam2");
        hub.on_progress(&alarm_event("cam2", "pulses_lost", false));
        assert!(active(&hub, "pulses_lost").is_empty());
        hub.on_progress(&alarm_event("cam1", "cable_pulled", true));
        assert!(
            active(&hub, "cable_pulled").is_empty(),
            "cable alarms come from the agents' states"
        );
        hub.take_finished("interrupted", None);
        assert!(active(&hub, "off_grid").is_empty());
        let mut kinds = Vec::new();
        while let Ok(m) = rx.try_recv() {
            kinds.push(m.kind);
        }
        assert_eq!(kinds.iter().filter(|k| **k == "offsets").count(), 2);
    }
}
