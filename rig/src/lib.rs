//! # k4sync-rig
//!
//! A rig of Azure Kinect cameras, one small computer beside each, run as one system over
//! zenoh (peer to peer, no broker). This crate holds everything networked and asynchronous;
//! `k4sync-core` and `k4sync-host` stay free of both.
//!
//! * [`keys`] — the key-expression scheme, written in one place.
//! * [`msg`] — the messages (serde, JSON, with a protocol version checked on receipt).
//! * [`init`] — `rig init`: the rig's CA, node certificates and zenoh configurations with
//!   mutual TLS and access control by certificate name.
//! * [`net`] — loading a node's configuration and opening its session.
//! * [`agent`] — `k4sync agent`: one camera, its state, its commands.
//! * [`coordinator`] — `k4sync rig status|check|plan|stop`: the whole rig from any machine.
//! * [`take`] — `k4sync rig record`: arm, start, watch, stop, and the rig manifest.
//! * [`dashboard`] — `k4sync rig serve`: the live rig dashboard in the browser (axum, SSE),
//!   with buttons for check, record and stop.
//! * [`emulate`] — `k4sync rig record --emulate N`: a whole rig of emulated cameras in one
//!   process, each behind its own agent, coordinated over zenoh on loopback.
//!
//! The camera itself is reached only through `camera` (crate-private), the one module that
//! uses `k4sync-host`.

pub mod agent;
pub mod alarms;
mod camera;
pub mod coordinator;
pub mod dashboard;
pub mod emulate;
mod feed;
pub mod init;
pub mod keys;
pub mod live;
pub mod msg;
pub mod net;
pub mod take;

use std::path::{Path, PathBuf};

pub use camera::{CameraSource, EmulatedChain, Pacing};

/// What went wrong in the rig, saying what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RigError {
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A configuration or rig file could not be used.
    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error(transparent)]
    Name(#[from] keys::NameError),
    #[error(transparent)]
    Message(#[from] msg::MessageError),
    #[error("zenoh: {0}")]
    Zenoh(String),
    #[error("camera: {0}")]
    Camera(String),
    /// The process could not set itself up (signal handlers, the async runtime).
    #[error("{0}")]
    Setup(String),
    /// An agent answered a command with a refusal.
    #[error("agent {agent} refused: {reason}")]
    Refused { agent: String, reason: String },
    /// The preflight (`rig check`) failed; the text lists every finding.
    #[error("the rig check failed:\n{0}")]
    Preflight(String),
    /// An agent did not reach the state a take needs in time.
    #[error("agent {agent}: {what}")]
    Timeout { agent: String, what: String },
    /// An agent's liveliness token vanished during a take.
    #[error("agent {agent} is gone (its liveliness token vanished): its process, computer or network went away")]
    AgentLost { agent: String },
    /// The live aligner no longer follows a device (its clock was re-zeroed, its frames left
    /// the master's grid, or its pulses stayed lost with its cable plugged).
    #[error("agent {agent} lost sync: {why}")]
    SyncLost { agent: String, why: String },
    /// No answer in time: the agent is down, unreachable, or its access control dropped the
    /// request.
    #[error("agent {agent} did not answer {what} within {timeout_ms} ms; is it running and is this the rig's coordinator certificate?")]
    NoAnswer {
        agent: String,
        what: String,
        timeout_ms: u64,
    },
}

impl RigError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> RigError {
        RigError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn zenoh(e: impl std::fmt::Display) -> RigError {
        RigError::Zenoh(e.to_string())
    }

    /// Whether the user's input is at fault (CLI exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RigError::Usage(_) | RigError::Name(_) | RigError::Config { .. }
        )
    }
}

/// Runs `future` to completion on a multi-thread tokio runtime (zenoh refuses the
/// current-thread one); the command line's way into this crate.
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, RigError>>,
) -> Result<T, RigError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RigError::Setup(format!("could not start the async runtime: {e}")))?
        .block_on(future)
}

/// Returns once `flag` is set (a signal handler's stop flag), looking five times a second.
pub async fn until_set(flag: &std::sync::atomic::AtomicBool) {
    while !flag.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
