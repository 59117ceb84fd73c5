//! A node's zenoh configuration and session.
//!
//! The files `rig init` writes name their TLS files relative to the configuration file, so a
//! node's directory can be copied anywhere; [`load_config`] resolves them. The rig and node
//! names travel in the configuration's `metadata.k4sync`, so a node cannot be started under a
//! name its certificate and access-control policy were not made for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::RigError;

const TLS_FILE_KEYS: [&str; 5] = [
    "transport/link/tls/root_ca_certificate",
    "transport/link/tls/listen_certificate",
    "transport/link/tls/listen_private_key",
    "transport/link/tls/connect_certificate",
    "transport/link/tls/connect_private_key",
];

/// A node's loaded configuration.
pub struct NodeConfig {
    pub zenoh: zenoh::Config,
    pub rig: String,
    pub node: String,
    pub path: PathBuf,
}

/// Reads a node's zenoh configuration (JSON5), making its TLS paths absolute.
pub fn load_config(path: &Path) -> Result<NodeConfig, RigError> {
    let bad = |reason: String| RigError::Config {
        path: path.to_owned(),
        reason,
    };
    if !path.is_file() {
        return Err(bad(
            "no such file; `k4sync rig init` writes one per node".into()
        ));
    }
    let mut zenoh = zenoh::Config::from_file(path).map_err(|e| bad(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for key in TLS_FILE_KEYS {
        let value: Value = zenoh
            .get_json(key)
            .ok()
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or(Value::Null);
        if let Value::String(file) = value {
            let full = base.join(&file);
            if !full.is_file() {
                return Err(bad(format!("{key}: {} does not exist", full.display())));
            }
            let text =
                serde_json::to_string(&full.to_string_lossy()).map_err(|e| bad(e.to_string()))?;
            zenoh
                .insert_json5(key, &text)
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    let meta: Value = zenoh
        .get_json("metadata")
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or(Value::Null);
    let field = |name: &str| {
        meta["k4sync"][name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                bad(format!(
                    "metadata.k4sync.{name} is missing; was it written by `k4sync rig init`?"
                ))
            })
    };
    Ok(NodeConfig {
        rig: field("rig")?,
        node: field("node")?,
        zenoh,
        path: path.to_owned(),
    })
}

/// How long a session waits for its listening port while another session of this process
/// that listened there closes: a QUIC endpoint keeps its UDP socket until its connections have
/// drained (an agent restarted in the same process, as the tests and emulated rigs do).
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Opens a zenoh session (needs a multi-thread tokio runtime).
pub async fn open(config: zenoh::Config) -> Result<zenoh::Session, RigError> {
    let deadline = Instant::now() + PORT_RELEASE_WAIT;
    loop {
        match zenoh::open(config.clone()).await {
            Err(e) if port_held(&e.to_string()) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            opened => return opened.map_err(RigError::zenoh),
        }
    }
}

fn port_held(error: &str) -> bool {
    error.contains("Address already in use")
}
