//! `k4sync rig record --emulate N`: a whole rig on one machine.
//!
//! N emulated cameras on one simulated daisy-chain cable ([`EmulatedChain`]: camera 0 the
//! master, the others its subordinates in cable order), each behind its own in-process
//! [`Agent`] with its own zenoh session and certificate, and the coordinator's session beside
//! them — all on loopback with the same mutual TLS and access control as a real rig. The rig
//! is a throwaway one, written by `rig init`'s code into `OUTDIR/.rig`; the take is the same
//! [`take::record`] a real rig runs, and the agents write `OUTDIR/cam<i>.mkv` through the same
//! recorder as `k4sync record`. [`EmulatedRig`] is the same rig kept running, for the
//! dashboard (`rig serve --emulate N`) and the tests that pull its cable.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::agent::{Agent, AgentOptions, TakeLayout};
use crate::camera::{CameraSource, EmulatedChain, Pacing};
use crate::coordinator::Coordinator;
use crate::init::{self, AgentSpec, CONFIG_FILE, RIG_FILE};
use crate::take::{self, Progress, TakeOptions, TakeResult};
use crate::RigError;

/// The emulated rig's name.
pub const RIG_NAME: &str = "emulated";
/// The throwaway rig's directory inside the output directory.
pub const RIG_DIR: &str = ".rig";
/// A master and at most 8 subordinates (reference §10.2).
pub const MAX_CAMERAS: u32 = 9;
/// How long the coordinator waits for the in-process agents' tokens.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// The agent name of camera `index`.
pub fn agent_name(index: u32) -> String {
    format!("cam{index}")
}

/// Records one take of `cameras` emulated cameras into `options.out_dir` (see the module
/// documentation).
pub async fn record(
    cameras: u32,
    options: &TakeOptions,
    stop: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<TakeResult, RigError> {
    let rig = EmulatedRig::start(
        cameras,
        &options.out_dir,
        TakeLayout::Flat,
        Pacing::RealTime,
    )
    .await?;
    let result = match Coordinator::connect(rig.rig_dir(), CONNECT_WAIT).await {
        Ok(coordinator) => {
            let result = take::record(&coordinator, options, stop, progress).await;
            if let Err(e) = coordinator.close().await {
                log::warn!("closing the coordinator's session: {e}");
            }
            result
        }
        Err(e) => Err(e),
    };
    rig.shutdown().await;
    result
}

/// A running emulated rig: the chain of cameras, their agents, and the throwaway rig
/// directory a coordinator connects with ([`Coordinator::connect`]).
pub struct EmulatedRig {
    chain: EmulatedChain,
    rig_dir: PathBuf,
    agents: Vec<Agent>,
}

impl EmulatedRig {
    /// Starts `cameras` emulated cameras and their agents, writing takes under `out` by
    /// `layout` (with [`TakeLayout::Flat`] one take's camera files must not exist yet).
    pub async fn start(
        cameras: u32,
        out: &Path,
        layout: TakeLayout,
        pacing: Pacing,
    ) -> Result<Self, RigError> {
        if !(1..=MAX_CAMERAS).contains(&cameras) {
            return Err(RigError::Usage(format!(
                "--emulate {cameras}: a rig has 1 to {MAX_CAMERAS} cameras"
            )));
        }
        prepare_out_dir(out, cameras, layout)?;
        let rig_dir = out.join(RIG_DIR);
        let specs = (0..cameras)
            .map(|i| Ok(loopback_spec(agent_name(i), free_port()?)))
            .collect::<Result<Vec<_>, RigError>>()?;
        init::init(&rig_dir, RIG_NAME, &specs)?;
        let chain = EmulatedChain::new(cameras, pacing);
        let mut agents = Vec::new();
        for (i, spec) in (0..cameras).zip(&specs) {
            match start_agent(&rig_dir, spec, &chain, i, out, layout).await {
                Ok(agent) => agents.push(agent),
                Err(e) => {
                    shutdown(agents).await;
                    return Err(e);
                }
            }
        }
        Ok(EmulatedRig {
            chain,
            rig_dir,
            agents,
        })
    }

    /// The directory `rig init` wrote for this rig (the coordinator's configuration).
    pub fn rig_dir(&self) -> &Path {
        &self.rig_dir
    }

    /// The simulated sync cable and its cameras.
    pub fn chain(&self) -> &EmulatedChain {
        &self.chain
    }

    /// Stops every agent (finalising recordings in progress).
    pub async fn shutdown(self) {
        shutdown(self.agents).await;
    }
}

/// Creates the output directory; refuses one whose camera files exist (they are never
/// overwritten) and replaces an earlier run's throwaway rig.
fn prepare_out_dir(out: &Path, cameras: u32, layout: TakeLayout) -> Result<(), RigError> {
    std::fs::create_dir_all(out).map_err(|e| RigError::io(out, e))?;
    let flat = if layout == TakeLayout::Flat {
        cameras
    } else {
        0
    };
    for i in 0..flat {
        let file = out.join(format!("{}.mkv", agent_name(i)));
        if file.exists() {
            return Err(RigError::Usage(format!(
                "{} already exists; choose an empty output directory (recordings are never \
                 overwritten)",
                file.display()
            )));
        }
    }
    let rig_dir = out.join(RIG_DIR);
    if rig_dir.join(RIG_FILE).is_file() {
        std::fs::remove_dir_all(&rig_dir).map_err(|e| RigError::io(&rig_dir, e))?;
    } else if rig_dir.exists() {
        return Err(RigError::Usage(format!(
            "{} exists but holds no emulated rig; remove it or choose another output directory",
            rig_dir.display()
        )));
    }
    Ok(())
}

fn loopback_spec(name: String, port: u16) -> AgentSpec {
    AgentSpec {
        name,
        host: Ipv4Addr::LOCALHOST.to_string(),
        port,
    }
}

/// A loopback port free right now (the agent binds it moments later).
fn free_port() -> Result<u16, RigError> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| RigError::Zenoh(format!("no free loopback port: {e}")))
}

async fn start_agent(
    rig_dir: &Path,
    spec: &AgentSpec,
    chain: &EmulatedChain,
    index: u32,
    out: &Path,
    layout: TakeLayout,
) -> Result<Agent, RigError> {
    Agent::start(AgentOptions {
        config: rig_dir.join(&spec.name).join(CONFIG_FILE),
        rig: RIG_NAME.into(),
        source: CameraSource::Chained {
            chain: chain.clone(),
            index,
        },
        data_dir: PathBuf::from(out),
        layout,
    })
    .await
}

async fn shutdown(agents: Vec<Agent>) {
    for agent in agents {
        let name = agent.name().to_string();
        if let Err(e) = agent.shutdown().await {
            log::warn!("agent {name}: {e}");
        }
    }
}
