//! The rig over real zenoh sessions on loopback: agents with emulated cameras, the
//! coordinator, and peers that must be kept out (no certificate, another CA's certificate,
//! a rig certificate that is not the coordinator's), a take whose subordinate gets no pulses,
//! and takes that lose a subordinate's agent (aborted, or recovered into a new segment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::plan::Interleave;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_rig::agent::{Agent, AgentOptions, TakeLayout};
use k4sync_rig::coordinator::{self, AgentStatus, Coordinator, RigSettings};
use k4sync_rig::init::{self, AgentSpec, CONFIG_FILE};
use k4sync_rig::msg::{self, AgentState, Command, Health, Jacks, RecorderState, Settings};
use k4sync_rig::take::{self, OnFault, TakeOptions};
use k4sync_rig::Pacing;
use k4sync_rig::{emulate, keys, net, CameraSource, EmulatedChain, RigError};

const RIG: &str = "testrig";
const WAIT: Duration = Duration::from_secs(5);
/// How long a peer that should be kept out gets to try.
const KEPT_OUT_FOR: Duration = Duration::from_secs(3);

/// A loopback port nobody listens on right now (the kernel's pick).
fn free_port() -> u16 {
    let listener = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn jacks(sync_in: bool, sync_out: bool) -> Jacks {
    Jacks { sync_in, sync_out }
}

/// Writes a rig with agents `names` on fresh loopback ports.
fn init_rig(dir: &Path, names: &[&str]) -> Vec<AgentSpec> {
    let specs: Vec<AgentSpec> = names
        .iter()
        .map(|n| AgentSpec::parse(&format!("{n}=127.0.0.1:{}", free_port())).unwrap())
        .collect();
    init::init(dir, RIG, &specs).unwrap();
    specs
}

async fn start_agent(dir: &Path, name: &str, index: u32, jacks: Jacks, data: &Path) -> Agent {
    Agent::start(AgentOptions {
        config: dir.join(name).join(CONFIG_FILE),
        rig: RIG.into(),
        source: CameraSource::Emulated {
            index,
            jacks,
            pulse_in: None,
            pulse_out: None,
        },
        data_dir: data.to_owned(),
        layout: TakeLayout::PerTake,
    })
    .await
    .unwrap()
}

fn small_settings(exposure: Option<i8>) -> RigSettings {
    RigSettings {
        config: DeviceConfig {
            color_resolution: ColorResolution::R720p,
            color_format: ColorFormat::Mjpg,
            depth_mode: DepthMode::Nfov2x2Binned,
            fps: Fps::Fps5,
            ..DeviceConfig::default()
        },
        exposure,
        interleave: Interleave::DepthDelay,
    }
}

/// A session with `config` but `edit` applied (the peers that must be kept out).
async fn session_with(config: &Path, edit: impl FnOnce(&mut zenoh::Config)) -> zenoh::Session {
    let mut node = net::load_config(config).unwrap();
    edit(&mut node.zenoh);
    net::open(node.zenoh).await.unwrap()
}

fn set(config: &mut zenoh::Config, key: &str, json5: &str) {
    config.insert_json5(key, json5).unwrap();
}

/// Agent names whose liveliness tokens `session` can see.
async fn visible_agents(session: &zenoh::Session) -> Vec<String> {
    let replies = session
        .liveliness()
        .get(keys::all_alive(RIG))
        .timeout(Duration::from_millis(500))
        .await
        .unwrap();
    let mut names = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        if let Ok(sample) = reply.result() {
            names.extend(keys::agent_of(RIG, sample.key_expr().as_str()).map(str::to_string));
        }
    }
    names
}

/// Polls `session`'s view until `want` or `KEPT_OUT_FOR` passes; returns the last view.
async fn watch_agents(session: &zenoh::Session, want: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + KEPT_OUT_FOR;
    loop {
        let seen = visible_agents(session).await;
        if want.iter().all(|w| seen.iter().any(|s| s == w)) || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn by_name<'a>(agents: &'a [AgentStatus], name: &str) -> &'a AgentStatus {
    agents.iter().find(|a| a.name == name).expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_appear_in_status_and_the_rig_is_checked_and_planned() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    init_rig(dir.path(), &["a", "b", "c"]);
    let a = start_agent(dir.path(), "a", 0, jacks(false, true), data.path()).await;
    let b = start_agent(dir.path(), "b", 1, jacks(true, true), data.path()).await;
    let c = start_agent(dir.path(), "c", 2, jacks(false, false), data.path()).await;
    let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let agents = coordinator.status().await.unwrap();

    assert_eq!(
        agents.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    for (agent, role) in agents.iter().zip(["MASTER", "SUBORDINATE", "SUBORDINATE"]) {
        assert!(agent.link, "{agent:?}");
        assert_eq!(agent.role, role);
        let state = agent.state.as_ref().expect("state");
        assert_eq!(state.name, agent.name);
        assert_eq!(state.recorder, RecorderState::Idle);
        assert!(state.free_disk_bytes.is_some_and(|b| b > 0), "{state:?}");
    }
    let serials: Vec<&str> = agents
        .iter()
        .map(|a| a.state.as_ref().unwrap().serial.as_str())
        .collect();
    assert_eq!(serials[0], a.state().await.serial);
    assert_ne!(serials[0], serials[1]);
    assert_eq!(
        by_name(&agents, "b").state.as_ref().unwrap().jacks,
        Some(jacks(true, true))
    );
    let table = coordinator::status_text(&agents);
    for s in &serials {
        assert!(table.contains(s), "{table}");
    }

    // c has no cable in Sync In: the check names c and the core's rule.
    let report = coordinator::check(&agents, &small_settings(Some(-6)));
    assert!(!report.passed());
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].agent.as_deref(), Some("c"));
    assert_eq!(report.errors[0].rule, "SubordinateWithoutSyncIn");
    assert!(report.errors[0].message.contains(serials[2]), "{report:?}");
    assert!(report.plan.is_none());
    c.shutdown().await.unwrap();
    drop(coordinator);

    let c = start_agent(dir.path(), "c", 2, jacks(true, false), data.path()).await;
    let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let agents = coordinator.status().await.unwrap();
    let report = coordinator::check(&agents, &small_settings(Some(-6)));
    assert!(report.passed(), "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    let plan = report.plan.expect("plan");
    let order: Vec<&str> = plan.iter().map(|d| d.agent.as_str()).collect();
    assert_eq!(
        order,
        ["b", "c", "a"],
        "subordinates in chain order, master last"
    );
    // Depth delays interleaved in whole ticks, ≥ 160 µs apart after truncation.
    let mut offsets: Vec<i64> = plan.iter().map(|d| d.depth_offset_nsec.unwrap()).collect();
    offsets.sort();
    for w in offsets.windows(2) {
        assert!(w[1] - w[0] >= 160_000, "{offsets:?}");
    }
    for d in &plan {
        let ticks = (d.effective_depth_delay_nsec as f64 * 9.0 / 100_000.0).round() as i64;
        assert_eq!(ticks * 100_000 / 9, d.effective_depth_delay_nsec, "{d:?}");
    }

    let auto = coordinator::check(&agents, &small_settings(None));
    assert!(auto.passed());
    assert_eq!(auto.warnings.len(), 1);
    assert_eq!(auto.warnings[0].rule, "AutomaticExposure");

    b.shutdown().await.unwrap();
    let deadline = Instant::now() + WAIT;
    let gone = loop {
        let agents = coordinator.status().await.unwrap();
        if !by_name(&agents, "b").link || Instant::now() > deadline {
            break agents;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let b_status = by_name(&gone, "b");
    assert!(!b_status.link && b_status.state.is_none(), "{b_status:?}");
    let report = coordinator::check(&gone, &small_settings(Some(-6)));
    assert_eq!(report.errors[0].rule, "AgentUnreachable");
    assert_eq!(report.errors[0].agent.as_deref(), Some("b"));
    coordinator.close().await.unwrap();
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_certificate_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    init_rig(dir.path(), &["a"]);
    let a = start_agent(dir.path(), "a", 0, jacks(false, false), data.path()).await;
    let coordinator_config = dir.path().join("coordinator").join(CONFIG_FILE);

    let anonymous = session_with(&coordinator_config, |c| {
        for key in [
            "connect_certificate",
            "connect_private_key",
            "listen_certificate",
            "listen_private_key",
        ] {
            set(c, &format!("transport/link/tls/{key}"), "null");
        }
        set(c, "transport/link/tls/enable_mtls", "false");
        set(c, "access_control/enabled", "false");
    })
    .await;
    let seen = watch_agents(&anonymous, &["a"]).await;
    assert!(seen.is_empty(), "a peer without a certificate saw {seen:?}");
    assert_eq!(anonymous.info().peers_zid().await.count(), 0);

    // The same configuration with its certificate gets in: the refusal above is the
    // certificate's absence, not a broken set-up.
    let member = session_with(&coordinator_config, |_| {}).await;
    assert_eq!(watch_agents(&member, &["a"]).await, ["a"]);
    anonymous.close().await.unwrap();
    member.close().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_certificate_from_another_ca_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let specs = init_rig(dir.path(), &["a"]);
    // Another rig of the same name and endpoints, so only the CA differs.
    init::init(other.path(), RIG, &specs).unwrap();
    let a = start_agent(dir.path(), "a", 0, jacks(false, false), data.path()).await;

    let foreign = Coordinator::connect(other.path(), KEPT_OUT_FOR)
        .await
        .unwrap();
    let agents = foreign.status().await.unwrap();
    assert!(!agents[0].link && agents[0].state.is_none(), "{agents:?}");
    foreign.close().await.unwrap();

    let own = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let agents = own.status().await.unwrap();
    assert!(agents[0].link && agents[0].state.is_some(), "{agents:?}");
    own.close().await.unwrap();
    a.shutdown().await.unwrap();
}

/// Sends `command` to agent `agent` from `session` and returns the replies' payloads.
async fn raw_command(session: &zenoh::Session, agent: &str, command: &Command) -> Vec<Vec<u8>> {
    let replies = session
        .get(keys::cmd(RIG, agent))
        .payload(msg::encode(command))
        .timeout(KEPT_OUT_FOR)
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        match reply.result() {
            Ok(sample) => out.push(sample.payload().to_bytes().into_owned()),
            Err(e) => out.push(e.payload().to_bytes().into_owned()),
        }
    }
    out
}

async fn recorder_of(coordinator: &Coordinator, agent: &str) -> RecorderState {
    let agents = coordinator.status().await.unwrap();
    by_name(&agents, agent)
        .state
        .as_ref()
        .expect("state")
        .recorder
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_member_that_is_not_the_coordinator_reads_state_but_cannot_start_or_stop() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let specs = init_rig(dir.path(), &["a", "b"]);
    let a = start_agent(dir.path(), "a", 0, jacks(false, true), data.path()).await;
    // b's valid rig certificate (CN "b"), connecting to a like a coordinator would.
    let intruder = session_with(&dir.path().join("b").join(CONFIG_FILE), |c| {
        set(c, "listen/endpoints", "[]");
        set(
            c,
            "connect/endpoints",
            &format!("[\"{}\"]", specs[0].endpoint()),
        );
        set(c, "access_control/enabled", "false");
    })
    .await;
    assert_eq!(watch_agents(&intruder, &["a"]).await, ["a"]);

    let replies = intruder
        .get(keys::state(RIG, "a"))
        .timeout(KEPT_OUT_FOR)
        .await
        .unwrap();
    let reply = replies
        .recv_async()
        .await
        .expect("a answers the intruder's state query");
    let sample = reply.result().expect("a state, not an error");
    let state: AgentState = msg::decode("state", &sample.payload().to_bytes()).unwrap();
    assert_eq!(state.name, "a");

    let mut config = small_settings(Some(-6)).config;
    config.sync_mode = WiredSyncMode::Master;
    let start = Command::Start {
        take: "take1".into(),
        settings: Settings::new(&config, Some(-6)),
    };
    assert!(
        raw_command(&intruder, "a", &start).await.is_empty(),
        "the intruder's start was answered"
    );

    let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    assert_eq!(recorder_of(&coordinator, "a").await, RecorderState::Idle);
    assert!(coordinator.command("a", &start).await.unwrap().is_active());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(recorder_of(&coordinator, "a").await, RecorderState::Recording { frames, .. } if frames > 0)
    {
        assert!(Instant::now() < deadline, "a never recorded a frame");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert!(
        raw_command(&intruder, "a", &Command::Stop).await.is_empty(),
        "the intruder's stop was answered"
    );
    assert!(
        recorder_of(&coordinator, "a").await.is_active(),
        "the intruder stopped the recording"
    );

    let finished = coordinator.command("a", &Command::Stop).await.unwrap();
    let RecorderState::Finished { file, frames, .. } = finished else {
        panic!("{finished:?}");
    };
    assert!(frames > 0);
    let file = PathBuf::from(file);
    assert_eq!(file, data.path().join("take1").join("a.mkv"));
    assert!(std::fs::metadata(&file).unwrap().len() > 0);

    // The coordinator's own commands are checked by the agent too: arming a master is refused.
    let arm = Command::Arm {
        take: "take2".into(),
        settings: Settings::new(&config, Some(-6)),
    };
    match coordinator.command("a", &arm).await {
        Err(RigError::Refused { agent, reason }) => {
            assert_eq!(agent, "a");
            assert!(reason.contains("SUBORDINATE"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    intruder.close().await.unwrap();
    coordinator.close().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_of_another_protocol_version_is_reported_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    init_rig(dir.path(), &["a"]);
    // A stand-in for a newer agent: a's own configuration, answering with the next version.
    let newer = session_with(&dir.path().join("a").join(CONFIG_FILE), |_| {}).await;
    let _token = newer
        .liveliness()
        .declare_token(keys::alive(RIG, "a"))
        .await
        .unwrap();
    let queryable = newer
        .declare_queryable(keys::state(RIG, "a"))
        .await
        .unwrap();
    let responder = tokio::spawn(async move {
        while let Ok(query) = queryable.recv_async().await {
            let body = serde_json::json!({ "name": "a", "something": "new" });
            query
                .reply(
                    keys::state(RIG, "a"),
                    msg::encode_as(&body, msg::PROTOCOL_VERSION + 1),
                )
                .await
                .unwrap();
        }
    });

    let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let agents = coordinator.status().await.unwrap();
    let problem = agents[0].problem.as_deref().expect("a problem");
    assert!(agents[0].state.is_none());
    assert!(
        problem.contains(&format!(
            "version {}, this k4sync speaks version {}",
            msg::PROTOCOL_VERSION + 1,
            msg::PROTOCOL_VERSION
        )),
        "{problem}"
    );
    assert!(problem.contains("same k4sync release"), "{problem}");
    responder.abort();
    coordinator.close().await.unwrap();
    newer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subordinate_without_pulses_is_named_within_the_pulse_timeout_and_everything_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    init_rig(dir.path(), &["a", "b"]);
    // Both plugs are there, but b's cable leads to an idle camera: no pulse ever reaches it.
    let a = start_agent(dir.path(), "a", 0, jacks(false, true), data.path()).await;
    let b = start_agent(dir.path(), "b", 1, jacks(true, false), data.path()).await;
    let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let mut options = TakeOptions::new(
        small_settings(Some(-6)),
        Duration::from_secs(60),
        "nopulse".into(),
        out.path().to_owned(),
    );
    options.pulse_timeout = Duration::from_secs(2);

    let began = Instant::now();
    let result = take::record(&coordinator, &options, &AtomicBool::new(false), &mut |_| {})
        .await
        .unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
    match &result.error {
        Some(RigError::Timeout { agent, what }) => {
            assert_eq!(agent, "b");
            assert!(what.contains("no sync pulses"), "{what}");
            assert!(what.contains("a's Sync Out to b's Sync In"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    let m = &result.manifest;
    assert_eq!(m.outcome, "failed");
    assert!(m.error.as_deref().unwrap().contains("agent b"), "{m:?}");
    assert_eq!(result.manifest_path, out.path().join(take::MANIFEST_FILE));
    let written: take::Manifest =
        serde_json::from_str(&std::fs::read_to_string(&result.manifest_path).unwrap()).unwrap();
    assert_eq!(&written, m);
    let order: Vec<(&str, &str)> = m
        .events
        .iter()
        .filter_map(|e| Some((e.agent.as_deref()?, e.event.as_str())))
        .filter(|(_, e)| ["armed", "start", "first_image"].contains(e))
        .collect();
    assert_eq!(
        order,
        [("b", "armed"), ("a", "start"), ("a", "first_image")],
        "b armed, a started and recorded, b never got an image"
    );
    // Nothing keeps waiting, and the master's frames are kept in a finalised file.
    for name in ["a", "b"] {
        assert!(!recorder_of(&coordinator, name).await.is_active(), "{name}");
    }
    let master = &m.devices[0];
    assert_eq!(
        (master.agent.as_str(), master.role.as_str()),
        ("a", "MASTER")
    );
    assert!(master.segments[0].frames > 0, "{master:?}");
    assert!(std::fs::metadata(&master.files[0]).unwrap().len() > 0);
    // `rig stop` afterwards: every agent answers, in chain order, nothing recording.
    let answers = coordinator::stop_all(&coordinator).await;
    let names: Vec<&str> = answers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    for (name, answer) in &answers {
        let state = answer.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            matches!(state, RecorderState::Finished { .. }),
            "{name}: {state:?}"
        );
    }
    coordinator.close().await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

async fn start_chained(dir: &Path, name: &str, chain: &EmulatedChain, index: u32) -> Agent {
    Agent::start(AgentOptions {
        config: dir.join(name).join(CONFIG_FILE),
        rig: RIG.into(),
        source: CameraSource::Chained {
            chain: chain.clone(),
            index,
        },
        data_dir: dir.join("data"),
        layout: TakeLayout::PerTake,
    })
    .await
    .unwrap()
}

/// A master `a` and a subordinate `b` on one emulated chain, each behind its agent, and the
/// coordinator.
struct Pair {
    dir: tempfile::TempDir,
    out: tempfile::TempDir,
    chain: EmulatedChain,
    a: Agent,
    b: Agent,
    coordinator: Coordinator,
}

impl Pair {
    async fn start() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        init_rig(dir.path(), &["a", "b"]);
        let chain = EmulatedChain::new(2, Pacing::RealTime);
        let a = start_chained(dir.path(), "a", &chain, 0).await;
        let b = start_chained(dir.path(), "b", &chain, 1).await;
        let coordinator = Coordinator::connect(dir.path(), WAIT).await.unwrap();
        let out = tempfile::tempdir().unwrap();
        Pair {
            dir,
            out,
            chain,
            a,
            b,
            coordinator,
        }
    }

    fn options(&self, take: &str, seconds: u64) -> TakeOptions {
        TakeOptions::new(
            small_settings(Some(-6)),
            Duration::from_secs(seconds),
            take.into(),
            self.out.path().to_owned(),
        )
    }
}

/// Runs a take in which b's agent is handed to `then` once its health shows it recording;
/// returns the take and what `then` returned.
async fn take_losing_b<T, F>(
    coordinator: &Coordinator,
    options: &TakeOptions,
    b: Agent,
    then: impl FnOnce(Agent, Health) -> F + Send + 'static,
) -> (take::TakeResult, T)
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (go, gone) = oneshot::channel();
    let task = tokio::spawn(async move { then(b, gone.await.unwrap()).await });
    let mut progress = once_b_has_recorded(go);
    let stop = AtomicBool::new(false);
    let result = take::record(coordinator, options, &stop, &mut progress)
        .await
        .unwrap();
    (result, task.await.unwrap())
}

/// A progress callback that sends b's first health summary that shows it recording 2
/// captures.
fn once_b_has_recorded(go: oneshot::Sender<Health>) -> impl FnMut(&take::Progress) {
    let mut go = Some(go);
    move |p| {
        let take::Progress::Tick { devices, .. } = p else {
            return;
        };
        let health = devices
            .iter()
            .find(|d| d.agent == "b")
            .and_then(|d| d.health.clone())
            .filter(|h| h.frames >= 2 && h.recorder == "recording");
        if let Some(h) = health {
            if let Some(go) = go.take() {
                let _ = go.send(h);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_shows_live_health_and_an_agent_that_goes_away_raises_an_alarm() {
    let Pair {
        dir: _dir,
        out: _out,
        a,
        b,
        coordinator,
        ..
    } = Pair::start().await;
    let mut options = TakeOptions::new(
        small_settings(Some(-6)),
        Duration::from_secs(60),
        "lost".into(),
        _out.path().to_owned(),
    );
    options.on_fault = OnFault::Abort;
    // b's agent exits once the live view shows it recording.
    let (result, h) = take_losing_b(&coordinator, &options, b, |b, h| async move {
        b.shutdown().await.unwrap();
        h
    })
    .await;

    assert_eq!((h.name.as_str(), h.take.as_str()), ("b", "lost"));
    assert!(h.last_colour_usec.is_some_and(|t| t > 0), "{h:?}");
    match &result.error {
        Some(RigError::AgentLost { agent }) => assert_eq!(agent, "b"),
        other => panic!("{other:?}"),
    }
    let m = &result.manifest;
    assert_eq!(m.outcome, "failed");
    let alarm = m
        .events
        .iter()
        .find(|e| e.event == "alarm")
        .expect("an alarm event");
    assert_eq!(alarm.agent.as_deref(), Some("b"));
    assert!(
        alarm.detail.as_deref().unwrap().contains("liveliness"),
        "{alarm:?}"
    );
    // The master is stopped with its file kept; b, gone, is not waited for.
    let master = &m.devices[0];
    assert!(master.segments[0].frames >= 2, "{master:?}");
    assert!(!recorder_of(&coordinator, "a").await.is_active());
    coordinator.close().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_subordinate_agent_is_recovered_into_a_second_segment() {
    let pair = Pair::start().await;
    let options = pair.options("restart", 8);
    assert_eq!(options.on_fault, OnFault::Recover { max: 3 });
    let Pair {
        dir,
        out: _out,
        chain,
        a,
        b,
        coordinator,
    } = pair;
    // b's agent exits once it has recorded, and a new one starts on the same camera 1 s later
    // (the rig directory, whose certificates it reads, lives as long as it does).
    let (result, (b, _dir)) = take_losing_b(&coordinator, &options, b, |b, _| async move {
        b.shutdown().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        (start_chained(dir.path(), "b", &chain, 1).await, dir)
    })
    .await;

    assert!(
        result.error.is_none(),
        "{:?} {:#?}",
        result.error,
        result.manifest.events
    );
    let m = &result.manifest;
    assert_eq!(m.outcome, "completed", "{:?}", m.events);
    assert_eq!(m.recoveries.len(), 1, "{:?} {:#?}", m.recoveries, m.events);
    let r = &m.recoveries[0];
    assert_eq!((r.segment, r.agent.as_deref()), (1, Some("b")));
    assert!(r.reason.contains("liveliness"), "{r:?}");
    let kinds: Vec<&str> = m.events.iter().map(|e| e.event.as_str()).collect();
    let recover = kinds.iter().position(|k| *k == "recover").unwrap();
    let rearmed = kinds[recover..].iter().position(|k| *k == "armed").unwrap() + recover;
    let restarted = kinds[rearmed..].iter().position(|k| *k == "start").unwrap() + rearmed;
    assert!(kinds[restarted..].contains(&"first_image"), "{kinds:?}");
    let recording_again = m.events[restarted..]
        .iter()
        .filter(|e| e.event == "first_image")
        .map(|e| e.t_s)
        .fold(0.0, f64::max);
    eprintln!(
        "recovery: agent lost seen at {:.3} s, every device recording again at {recording_again:.3} s",
        r.t_s
    );

    // The master has both segments; b's first file was left by its agent (not finalised by the
    // coordinator), its second segment is recorded after the recovery.
    let (master, sub) = (&m.devices[0], &m.devices[1]);
    assert_eq!(master.agent, "a");
    let numbers =
        |d: &take::ManifestDevice| d.segments.iter().map(|s| s.segment).collect::<Vec<_>>();
    assert_eq!(numbers(master), [0, 1], "{master:?} {:#?}", m.events);
    assert_eq!(numbers(sub), [1], "{sub:?}");
    assert!(master.segments.iter().all(|s| s.frames >= 2), "{master:?}");
    assert!(sub.segments[0].frames >= 2, "{sub:?}");
    assert!(sub.files[0].ends_with("b-seg1.mkv"), "{sub:?}");
    assert!(master.files[1].ends_with("a-seg1.mkv"), "{master:?}");
    for file in master.files.iter().chain(&sub.files) {
        assert!(std::fs::metadata(file).unwrap().len() > 0, "{file}");
    }
    coordinator.close().await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_emulated_take_stops_every_camera_and_keeps_its_files() {
    let out = tempfile::tempdir().unwrap();
    let options = TakeOptions::new(
        small_settings(Some(-6)),
        Duration::from_secs(60),
        "interrupted".into(),
        out.path().to_owned(),
    );
    let stop = AtomicBool::new(false);
    let result = emulate::record(2, &options, &stop, &mut |p| {
        if let take::Progress::Tick { devices, .. } = p {
            let recording = |d: &take::DeviceProgress| {
                matches!(d.state, Some(RecorderState::Recording { frames, .. }) if frames >= 2)
            };
            if devices.iter().all(recording) {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    })
    .await
    .unwrap();
    assert!(result.error.is_none(), "{:?}", result.error);
    let m = &result.manifest;
    assert_eq!(m.outcome, "interrupted");
    assert!(m.events.iter().any(|e| e.event == "interrupted"));
    assert_eq!(m.devices.len(), 2);
    for d in &m.devices {
        assert!(d.segments[0].frames >= 2, "{d:?}");
        let file = out.path().join(&d.files[0]);
        assert_eq!(file, out.path().join(format!("{}.mkv", d.agent)));
        assert!(std::fs::metadata(&file).unwrap().len() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cable_pulled_during_a_take_is_an_alarm_on_the_terminal_and_in_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let rig = emulate::EmulatedRig::start(2, out.path(), TakeLayout::Flat, Pacing::RealTime)
        .await
        .unwrap();
    let c = Coordinator::connect(rig.rig_dir(), Duration::from_secs(10))
        .await
        .unwrap();
    let mut options = TakeOptions::new(
        small_settings(Some(-6)),
        Duration::from_secs(60),
        "cable".into(),
        out.path().to_owned(),
    );
    options.on_fault = OnFault::Abort;
    let stop = AtomicBool::new(false);
    let chain = rig.chain();
    let mut pulled: Option<Instant> = None;
    let mut alarms: Vec<(take::Event, Duration)> = Vec::new();
    let mut pulses_lost: Option<(take::Event, Duration)> = None;
    let mut offsets: Vec<take::OffsetPoint> = Vec::new();
    let result = take::record(&c, &options, &stop, &mut |p| match p {
        take::Progress::Offsets(points) if pulled.is_none() => offsets.extend(points.clone()),
        take::Progress::Tick { devices, .. } if pulled.is_none() => {
            let recording = |d: &take::DeviceProgress| {
                matches!(d.state, Some(RecorderState::Recording { frames, .. }) if frames >= 2)
            };
            if devices.iter().all(recording) && offsets.len() >= 5 {
                chain.unplug_sync_in(1);
                pulled = Some(Instant::now());
            }
        }
        take::Progress::Event(e) if e.event == "alarm" => {
            let after = pulled.map_or(Duration::MAX, |t| t.elapsed());
            match e.alarm.as_deref() {
                Some("cable_pulled") => alarms.push((e.clone(), after)),
                Some("pulses_lost") => pulses_lost = Some((e.clone(), after)),
                _ => {}
            }
            if alarms.len() == 2 && pulses_lost.is_some() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        _ => {}
    })
    .await
    .unwrap();
    c.close().await.unwrap();
    rig.shutdown().await;
    assert!(
        pulled.is_some(),
        "an alarm came before the pull: {alarms:?}"
    );
    // The cable joined cam0's Sync Out to cam1's Sync In: both ends are empty now.
    let of = |agent: &str| {
        alarms
            .iter()
            .find(|(e, _)| e.agent.as_deref() == Some(agent))
    };
    let master = of("cam0").and_then(|(e, _)| e.detail.clone());
    assert!(
        master
            .as_deref()
            .is_some_and(|d| d.contains("master cam0's Sync Out")),
        "{alarms:?}"
    );
    let (event, latency) = of("cam1").expect("no cable alarm for cam1").clone();
    assert_eq!(event.event, "alarm");
    let detail = event.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("cam1's Sync In") && detail.contains("cam0's Sync Out"),
        "{detail}"
    );
    assert!(
        latency <= Duration::from_secs(2),
        "the alarm took {latency:?}"
    );
    let in_manifest = |agent: &str, kind: &str| {
        let ours = |e: &&take::Event| {
            e.event == "alarm"
                && e.alarm.as_deref() == Some(kind)
                && e.agent.as_deref() == Some(agent)
        };
        result.manifest.events.iter().filter(ours).count()
    };
    assert_eq!(
        (
            in_manifest("cam0", "cable_pulled"),
            in_manifest("cam1", "cable_pulled")
        ),
        (1, 1),
        "raised once each while it holds: {:?}",
        result.manifest.events
    );
    // Before the pull the live aligner placed cam1's frames on the master's pulses, within
    // the 5 fps tolerance of the expected delay.
    assert!(offsets.iter().all(|p| p.agent == "cam1"), "{offsets:?}");
    assert!(
        offsets.iter().all(|p| p.offset_usec.abs() <= 660.0),
        "{offsets:?}"
    );
    assert!(
        offsets.windows(2).all(|w| w[0].t_s < w[1].t_s),
        "{offsets:?}"
    );
    // After it, cam1's images stop while the master's go on: pulses lost once the master
    // delivered 2 frames of later pulses (device time) and cam1 stayed silent for a frame
    // period (the coordinator's time), once, with what to do.
    let (event, latency) = pulses_lost.expect("no pulses_lost alarm");
    eprintln!("pulses_lost came {latency:?} after the pull");
    assert_eq!(event.agent.as_deref(), Some("cam1"));
    let detail = event.detail.unwrap_or_default();
    assert!(
        detail.contains("no image from cam1 while the master delivered 2 frames")
            || detail.contains("no image from cam1 while the master delivered 3 frames"),
        "{detail}"
    );
    assert!(event.action.unwrap_or_default().contains("Sync In"));
    assert!(
        latency < Duration::MAX,
        "the pulses were lost before the pull"
    );
    assert_eq!(in_manifest("cam1", "pulses_lost"), 1);
    assert_eq!(
        result.manifest.outcome, "interrupted",
        "a pulled cable is an alarm, not a fault to recover while it is out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_found_no_route_is_sent_again_and_answered() {
    let dir = tempfile::tempdir().unwrap();
    init_rig(dir.path(), &["a"]);
    // Agent a's node without its queryable yet: its liveliness token is there, the route to
    // its command key is not (as while zenoh replaces a link between two peers).
    let a = session_with(&dir.path().join("a").join(CONFIG_FILE), |_| {}).await;
    let _token = a
        .liveliness()
        .declare_token(keys::alive(RIG, "a"))
        .await
        .unwrap();
    let c = Coordinator::connect(dir.path(), WAIT).await.unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = answered.clone();
    let queryable = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let q = a.declare_queryable(keys::cmd(RIG, "a")).await.unwrap();
        while let Ok(query) = q.recv_async().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = msg::encode(&msg::CommandReply::Done {
                recorder: RecorderState::Idle,
            });
            query.reply(query.key_expr().clone(), reply).await.unwrap();
        }
    });
    let state = c.command("a", &Command::Stop).await;
    assert_eq!(state.unwrap(), RecorderState::Idle);
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 1);
    queryable.abort();
    c.close().await.unwrap();
}
