//! `k4sync agent`: one per camera computer.
//!
//! The agent owns its camera, declares a liveliness token (its presence: the coordinator sees
//! it vanish when the agent or its link dies, after the link lease), publishes its
//! [`AgentState`] on change and every [`STATE_PERIOD`], while recording a [`Health`] summary
//! every [`HEALTH_PERIOD`] and the device timestamps of its images as they are recorded
//! ([`msg::Frames`], for the coordinator's live aligner), answers state queries, and executes
//! [`Command`]s. Commands arrive as queries on its `cmd` key; the node's access-control
//! policy (written by [`crate::init`]) lets only the certificate CN `coordinator` send them,
//! so the agent itself never has to decide who is asking.
//!
//! Each command is checked before the camera is touched: `arm` is for subordinates, `start`
//! for the master (or a standalone device), and the settings must pass the core's §7.5
//! validation with the jack state just read, so a refusal names the rule.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k4sync_core::types::WiredSyncMode;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zenoh::Session;

use crate::camera::{Camera, CameraSource};
use crate::feed::FrameFeed;
use crate::keys::{self, COORDINATOR};
use crate::msg::{self, AgentState, Command, CommandReply, Health, Jacks, RecorderState, Settings};
use crate::{net, RigError};

/// How often the state is published when nothing changes (also the heartbeat a live table
/// shows).
pub const STATE_PERIOD: Duration = Duration::from_secs(1);
/// The same while recording: the take asks each agent's state itself, so the heartbeat only
/// carries what changes slowly (free disk) to other readers, and a change still goes out at
/// once.
pub const RECORDING_STATE_PERIOD: Duration = Duration::from_secs(3);

/// How often the jacks are read between state publications: a pulled cable is published
/// within this time.
pub const JACK_POLL: Duration = Duration::from_millis(250);

/// How often a recording agent publishes its [`Health`] summary.
pub const HEALTH_PERIOD: Duration = Duration::from_secs(1);

/// What `k4sync agent` was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// The node's zenoh configuration (from `rig init`).
    pub config: PathBuf,
    /// The rig name given on the command line; must match the configuration's.
    pub rig: String,
    pub source: CameraSource,
    /// Where takes are written (see [`TakeLayout`]).
    pub data_dir: PathBuf,
    pub layout: TakeLayout,
}

/// Where an agent writes a take's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TakeLayout {
    /// `<data_dir>/<take>/<agent>.mkv`: many takes, one directory each (an SBC's agent).
    #[default]
    PerTake,
    /// `<data_dir>/<agent>.mkv`: one take, every camera's file side by side (the agents of
    /// `rig record --emulate`, which share one output directory).
    Flat,
}

impl TakeLayout {
    /// The file of a take's `segment`: `<agent>.mkv` for the first, `<agent>-seg<N>.mkv` for
    /// those after a recovery.
    fn file(self, data_dir: &Path, take: &str, agent: &str, segment: u32) -> PathBuf {
        let name = match segment {
            0 => format!("{agent}.mkv"),
            n => format!("{agent}-seg{n}.mkv"),
        };
        match self {
            TakeLayout::PerTake => data_dir.join(take).join(name),
            TakeLayout::Flat => data_dir.join(name),
        }
    }
}

struct Shared {
    name: String,
    rig: String,
    data_dir: PathBuf,
    layout: TakeLayout,
    camera: Mutex<Camera>,
    changed: Notify,
}

/// A running agent.
pub struct Agent {
    name: String,
    session: Session,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Agent {
    /// Opens the camera and the session and starts serving.
    pub async fn start(options: AgentOptions) -> Result<Agent, RigError> {
        let node = net::load_config(&options.config)?;
        if node.rig != options.rig {
            return Err(RigError::Usage(format!(
                "{}: this configuration belongs to rig {:?}, not {:?}",
                options.config.display(),
                node.rig,
                options.rig
            )));
        }
        if node.node == COORDINATOR {
            return Err(RigError::Usage(format!(
                "{}: this is the coordinator's configuration; give the agent its own node's",
                options.config.display()
            )));
        }
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| RigError::io(&options.data_dir, e))?;
        // Absolute, so the files it reports name a place on this computer, whatever the
        // coordinator's working directory.
        let data_dir = std::fs::canonicalize(&options.data_dir)
            .map_err(|e| RigError::io(&options.data_dir, e))?;
        let source = options.source.clone();
        let camera = tokio::task::spawn_blocking(move || Camera::open(&source))
            .await
            .map_err(|e| RigError::Camera(e.to_string()))??;
        let session = net::open(node.zenoh).await?;
        let feed = camera.feed();
        let shared = Arc::new(Shared {
            name: node.node.clone(),
            rig: node.rig.clone(),
            data_dir,
            layout: options.layout,
            camera: Mutex::new(camera),
            changed: Notify::new(),
        });
        let token = session
            .liveliness()
            .declare_token(keys::alive(&shared.rig, &shared.name))
            .await
            .map_err(RigError::zenoh)?;
        let state_queries = session
            .declare_queryable(keys::state(&shared.rig, &shared.name))
            .await
            .map_err(RigError::zenoh)?;
        let commands = session
            .declare_queryable(keys::cmd(&shared.rig, &shared.name))
            .await
            .map_err(RigError::zenoh)?;
        let tasks = vec![
            tokio::spawn(publish_states(session.clone(), shared.clone(), token)),
            tokio::spawn(answer_state_queries(state_queries, shared.clone())),
            tokio::spawn(answer_commands(commands, shared.clone())),
            tokio::spawn(publish_health(session.clone(), shared.clone())),
            tokio::spawn(publish_frames(session.clone(), shared.clone(), feed)),
        ];
        log::info!("agent {} of rig {} serving", shared.name, shared.rig);
        Ok(Agent {
            name: node.node,
            session,
            tasks,
            shared,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state the agent would publish now.
    pub async fn state(&self) -> AgentState {
        snapshot_blocking(self.shared.clone()).await
    }

    /// Stops any recording (finalising its file), withdraws the token and closes the session.
    pub async fn shutdown(self) -> Result<(), RigError> {
        for t in &self.tasks {
            t.abort();
        }
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&shared.camera).stop()).await;
        self.session.close().await.map_err(RigError::zenoh)
    }
}

fn lock(camera: &Mutex<Camera>) -> std::sync::MutexGuard<'_, Camera> {
    camera.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn snapshot_blocking(shared: Arc<Shared>) -> AgentState {
    let fallback = shared.clone();
    match tokio::task::spawn_blocking(move || snapshot(&shared)).await {
        Ok(state) => state,
        Err(_) => snapshot(&fallback),
    }
}

fn snapshot(shared: &Shared) -> AgentState {
    let mut camera = lock(&shared.camera);
    let recorder = camera.recorder_state();
    if !recorder.is_active() || camera.identity().emulated {
        camera.refresh_jacks();
    }
    let id = camera.identity().clone();
    AgentState {
        name: shared.name.clone(),
        serial: id.serial,
        firmware: id.firmware,
        jacks: camera.jacks(),
        usb_speed: id.usb_speed,
        emulated: id.emulated,
        data_dir: shared.data_dir.display().to_string(),
        free_disk_bytes: free_disk_bytes(&shared.data_dir),
        recorder,
    }
}

/// Bytes available to an unprivileged writer on `dir`'s file system.
fn free_disk_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

async fn publish_states(
    session: Session,
    shared: Arc<Shared>,
    _token: zenoh::liveliness::LivelinessToken,
) {
    let key = keys::state(&shared.rig, &shared.name);
    let mut last: Option<AgentState> = None;
    loop {
        let state = snapshot_blocking(shared.clone()).await;
        let changed = last.as_ref() != Some(&state);
        if let Err(e) = session.put(&key, msg::encode(&state)).await {
            log::warn!("{key}: publishing the state failed: {e}");
        }
        if changed {
            log::debug!("{key}: {}", state.recorder.label());
        }
        let jacks = state.jacks;
        let period = if state.recorder.is_active() {
            RECORDING_STATE_PERIOD
        } else {
            STATE_PERIOD
        };
        last = Some(state);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shared.changed.notified() => {}
            _ = jacks_change(&shared, jacks) => {}
        }
    }
}

/// Returns when the jacks read differently from `published` (a cable plugged or pulled), so
/// the change goes out within [`JACK_POLL`] rather than at the next period.
async fn jacks_change(shared: &Arc<Shared>, published: Option<Jacks>) {
    loop {
        tokio::time::sleep(JACK_POLL).await;
        let from = shared.clone();
        let now = tokio::task::spawn_blocking(move || {
            let mut camera = lock(&from.camera);
            if !camera.recorder_state().is_active() || camera.identity().emulated {
                camera.refresh_jacks();
            }
            camera.jacks()
        })
        .await;
        if now.is_ok_and(|j| j != published) {
            return;
        }
    }
}

/// Publishes a [`Health`] summary every [`HEALTH_PERIOD`] while a recording is active, and
/// once more after it ends (its final counts).
async fn publish_health(session: Session, shared: Arc<Shared>) {
    let key = keys::health(&shared.rig, &shared.name);
    let mut was_active = false;
    loop {
        tokio::time::sleep(HEALTH_PERIOD).await;
        let from = shared.clone();
        let Ok(health) = tokio::task::spawn_blocking(move || health_of(&from)).await else {
            continue;
        };
        let active = health.as_ref().is_some_and(|(_, active)| *active);
        if let Some((health, _)) = health.filter(|_| active || was_active) {
            if let Err(e) = session.put(&key, msg::encode(&health)).await {
                log::warn!("{key}: publishing health failed: {e}");
            }
        }
        was_active = active;
    }
}

/// Publishes the recording's per-frame timestamps as they come: one [`msg::Frames`] with
/// everything recorded since the previous one, each time the recorder hands images over.
async fn publish_frames(session: Session, shared: Arc<Shared>, feed: Arc<FrameFeed>) {
    let key = keys::frames(&shared.rig, &shared.name);
    loop {
        feed.ready().await;
        if let Some(frames) = feed.take(&shared.name) {
            if let Err(e) = session.put(&key, msg::encode(&frames)).await {
                log::warn!("{key}: publishing frame timestamps failed: {e}");
            }
        }
    }
}

/// The health summary of the take in progress or just ended, and whether it is in progress.
fn health_of(shared: &Shared) -> Option<(Health, bool)> {
    let mut camera = lock(&shared.camera);
    let recorder = camera.recorder_state();
    let (last_colour_usec, last_depth_usec) = camera.last_device_usec();
    let (take, frames, dropped) = match &recorder {
        RecorderState::Idle => return None,
        RecorderState::Starting { take, .. }
        | RecorderState::WaitingForPulses { take, .. }
        | RecorderState::Failed { take, .. } => (take.clone(), 0, 0),
        RecorderState::Recording {
            take,
            frames,
            dropped,
            ..
        }
        | RecorderState::Finished {
            take,
            frames,
            dropped,
            ..
        } => (take.clone(), *frames, *dropped),
    };
    let health = Health {
        name: shared.name.clone(),
        take,
        recorder: recorder.label().to_string(),
        frames,
        dropped,
        last_colour_usec,
        last_depth_usec,
    };
    Some((health, recorder.is_active()))
}

async fn answer_state_queries(
    queries: zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<zenoh::query::Query>>,
    shared: Arc<Shared>,
) {
    let key = keys::state(&shared.rig, &shared.name);
    while let Ok(query) = queries.recv_async().await {
        let state = snapshot_blocking(shared.clone()).await;
        if let Err(e) = query.reply(&key, msg::encode(&state)).await {
            log::warn!("{key}: answering a state query failed: {e}");
        }
    }
}

async fn answer_commands(
    queries: zenoh::query::Queryable<zenoh::handlers::FifoChannelHandler<zenoh::query::Query>>,
    shared: Arc<Shared>,
) {
    let key = keys::cmd(&shared.rig, &shared.name);
    while let Ok(query) = queries.recv_async().await {
        let payload = query
            .payload()
            .map(|p| p.to_bytes().into_owned())
            .unwrap_or_default();
        let reply = match msg::decode::<Command>(&key, &payload) {
            Err(e) => CommandReply::Refused {
                reason: e.to_string(),
            },
            Ok(command) => {
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || execute(&shared, command))
                    .await
                    .unwrap_or_else(|e| CommandReply::Refused {
                        reason: format!("the command failed inside the agent: {e}"),
                    })
            }
        };
        shared.changed.notify_one();
        if let Err(e) = query.reply(&key, msg::encode(&reply)).await {
            log::warn!("{key}: answering a command failed: {e}");
        }
    }
}

fn execute(shared: &Shared, command: Command) -> CommandReply {
    let mut camera = lock(&shared.camera);
    let outcome = match command {
        Command::Stop => Ok(camera.stop()),
        Command::Arm { take, settings } => start(
            shared,
            &mut camera,
            &take,
            &settings,
            WiredSyncMode::Subordinate,
        ),
        Command::Start { take, settings } => {
            let mode = settings
                .device_config()
                .map(|c| c.sync_mode)
                .unwrap_or(WiredSyncMode::Master);
            if mode == WiredSyncMode::Subordinate {
                Err("start is for the master or a standalone device; arm a subordinate".to_string())
            } else {
                start(shared, &mut camera, &take, &settings, mode)
            }
        }
        Command::Rearm { take, settings } => {
            camera.stop();
            start(
                shared,
                &mut camera,
                &take,
                &settings,
                WiredSyncMode::Subordinate,
            )
        }
    };
    match outcome {
        Ok(recorder) => CommandReply::Done { recorder },
        Err(reason) => CommandReply::Refused { reason },
    }
}

fn start(
    shared: &Shared,
    camera: &mut Camera,
    take: &str,
    settings: &Settings,
    mode: WiredSyncMode,
) -> Result<RecorderState, String> {
    keys::check_name(take, "take").map_err(|e| e.to_string())?;
    let config = settings.device_config()?;
    if config.sync_mode != mode {
        return Err(format!(
            "the settings say {}, but this command is for a {mode} device",
            config.sync_mode
        ));
    }
    if camera.recorder_state().is_active() {
        return Err("a recording is already in progress; stop it first".into());
    }
    camera.refresh_jacks();
    config
        .validate(camera.jacks().map(Into::into))
        .map_err(|e| format!("device {}: {e}", camera.identity().serial))?;
    let file = shared
        .layout
        .file(&shared.data_dir, take, &shared.name, settings.segment);
    if file.exists() {
        return Err(format!(
            "{} already exists; choose another take or output directory (a recording is never \
             overwritten)",
            file.display()
        ));
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let length = settings.length_usec.map(Duration::from_micros);
    camera.feed().begin(take, settings.segment);
    camera
        .start(take, &file, config, settings.exposure, length)
        .map_err(|e| e.to_string())?;
    Ok(camera.recorder_state())
}

/// Runs an agent until Ctrl-C or SIGTERM, then stops its recording cleanly.
pub async fn serve(options: AgentOptions) -> Result<(), RigError> {
    let agent = Agent::start(options).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| RigError::Zenoh(format!("could not watch SIGTERM: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    log::info!("agent {}: stopping", agent.name());
    agent.shutdown().await
}
