//! `rig init`: the rig's certificate authority, one certificate per node and one zenoh
//! configuration per node.
//!
//! Layout of the directory written (each node's directory is what gets copied to that node):
//!
//! ```text
//! DIR/rig.json                 rig name and agents in chain order (master first), endpoints
//! DIR/ca/ca.pem, ca/ca.key     the rig's CA; keep ca.key off the rig
//! DIR/<node>/ca.pem            the CA certificate (trust anchor)
//! DIR/<node>/cert.pem, key.pem the node's certificate (CN = node name) and private key
//! DIR/<node>/zenoh.json5       the node's zenoh configuration
//! ```
//!
//! Every configuration allows QUIC links only (`transport.link.protocols: ["quic"]`: TLS 1.3
//! inside, configured under `transport.link.tls`) with mutual authentication, turns multicast
//! scouting and gossip off (peers find each other only through
//! the explicit endpoints, so nobody can route around a node's access control), lowers the
//! link lease so that a lost agent is noticed within 1.5 s, and carries an access
//! control policy (deny by default):
//!
//! * an agent accepts queries on its `cmd` key only from the certificate CN `coordinator`;
//!   any rig certificate may subscribe to and query its `state`, its `health`, its `frames`
//!   and its liveliness token;
//! * the coordinator accepts states, replies and tokens only from each agent's own CN, each
//!   under that agent's own keys.
//!
//! The identity zenoh's access control sees is the common name of the peer's certificate
//! (zenoh checks the client certificate against the rig's CA on the listening side).

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::keys::{self, COORDINATOR};
use crate::RigError;

/// The port an agent listens on when `--agents` names none.
pub const DEFAULT_PORT: u16 = 7447;
/// Link lease (ms): an agent that vanishes without closing its link is declared gone after
/// this long (zenoh's default is 10 s). 1 s let a busy 2-core host (an agent recording beside
/// the coordinator) miss a lease now and then and lose a live agent; 1.5 s keeps detection
/// under the 2 s target.
pub const LINK_LEASE_MS: u64 = 1500;
/// Keep-alive messages per lease (one every 250 ms).
pub const KEEP_ALIVE_PER_LEASE: u64 = 6;
/// How long one attempt to open a link may take (ms; zenoh's default is 10 s). A QUIC link to
/// an agent that is down gets no answer at all (no TCP reset over UDP), so each attempt runs
/// to this timeout, and closing the session waits for the attempt in progress: with 10 s every
/// coordinator that outlived an agent took 9.6–10 s to close, and now and then failed with
/// zenoh's own 10 s close timeout. A handshake on a LAN takes milliseconds.
pub const OPEN_TIMEOUT_MS: u64 = 2000;
/// File name of a node's zenoh configuration inside its directory.
pub const CONFIG_FILE: &str = "zenoh.json5";
/// File name of the rig description.
pub const RIG_FILE: &str = "rig.json";

/// One agent of the rig: its node name and where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub name: String,
    /// Host name or IP address the coordinator connects to (default: the name).
    pub host: String,
    pub port: u16,
}

impl AgentSpec {
    /// Parses `NAME`, `NAME=HOST` or `NAME=HOST:PORT` (an IPv6 host in brackets).
    pub fn parse(text: &str) -> Result<AgentSpec, RigError> {
        let bad = |why: &str| RigError::Usage(format!("--agents entry {text:?}: {why}"));
        let (name, addr) = match text.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        keys::check_name(name, "agent")?;
        if name == COORDINATOR {
            return Err(bad(
                "\"coordinator\" is the coordinator's name, not an agent's",
            ));
        }
        let (host, port) = match addr {
            None => (name.to_string(), DEFAULT_PORT),
            Some(a) => {
                split_host_port(a).ok_or_else(|| bad("write NAME=HOST or NAME=HOST:PORT"))?
            }
        };
        Ok(AgentSpec {
            name: name.to_string(),
            host,
            port,
        })
    }

    /// The zenoh endpoint the coordinator connects to.
    pub fn endpoint(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("quic/[{ip}]:{}", self.port),
            _ => format!("quic/{}:{}", self.host, self.port),
        }
    }

    /// The endpoint the agent listens on: its address when one was given, else every
    /// interface.
    fn listen_endpoint(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(_) => self.endpoint(),
            Err(_) => format!("quic/0.0.0.0:{}", self.port),
        }
    }
}

fn split_host_port(text: &str) -> Option<(String, u16)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (text, DEFAULT_PORT),
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The rig description `rig init` writes and the coordinator reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RigFile {
    pub rig: String,
    /// Chain order: the first agent is the master, the others its subordinates in cable
    /// order.
    pub agents: Vec<AgentSpec>,
}

impl RigFile {
    pub fn read(dir: &Path) -> Result<RigFile, RigError> {
        let path = dir.join(RIG_FILE);
        let text = fs::read_to_string(&path).map_err(|e| RigError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| RigError::Config {
            path,
            reason: e.to_string(),
        })
    }
}

/// What `rig init` produced.
#[derive(Debug, Clone)]
pub struct Initialised {
    pub rig: RigFile,
    /// Each node's directory, coordinator first.
    pub node_dirs: Vec<PathBuf>,
}

/// Creates the rig's CA, certificates and configurations in `dir` (which must not hold a rig
/// already, so that an existing CA is never overwritten).
pub fn init(dir: &Path, rig: &str, agents: &[AgentSpec]) -> Result<Initialised, RigError> {
    keys::check_name(rig, "rig")?;
    if agents.is_empty() {
        return Err(RigError::Usage("--agents: name at least one agent".into()));
    }
    for (i, a) in agents.iter().enumerate() {
        if agents[..i].iter().any(|b| b.name == a.name) {
            return Err(RigError::Usage(format!(
                "--agents: {:?} is named twice",
                a.name
            )));
        }
    }
    if dir.join(RIG_FILE).exists() || dir.join("ca").exists() {
        return Err(RigError::Usage(format!(
            "{} already holds a rig; choose an empty directory (its CA is never overwritten)",
            dir.display()
        )));
    }
    let ca = Ca::new(rig)?;
    write_file(
        &dir.join("ca").join("ca.pem"),
        ca.cert_pem.as_bytes(),
        false,
    )?;
    write_file(
        &dir.join("ca").join("ca.key"),
        ca.key.serialize_pem().as_bytes(),
        true,
    )?;

    let rig_file = RigFile {
        rig: rig.to_string(),
        agents: agents.to_vec(),
    };
    let mut node_dirs = Vec::new();
    let coordinator_dir = dir.join(COORDINATOR);
    ca.write_node(&coordinator_dir, COORDINATOR, None)?;
    write_config(&coordinator_dir, &coordinator_config(&rig_file))?;
    node_dirs.push(coordinator_dir);
    for a in agents {
        let node_dir = dir.join(&a.name);
        ca.write_node(&node_dir, &a.name, Some(&a.host))?;
        write_config(&node_dir, &agent_config(rig, a))?;
        node_dirs.push(node_dir);
    }
    let text = serde_json::to_string_pretty(&rig_file).map_err(|e| RigError::Config {
        path: dir.join(RIG_FILE),
        reason: e.to_string(),
    })?;
    write_file(&dir.join(RIG_FILE), text.as_bytes(), false)?;
    Ok(Initialised {
        rig: rig_file,
        node_dirs,
    })
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    key: KeyPair,
    cert_pem: String,
}

impl Ca {
    fn new(rig: &str) -> Result<Ca, RigError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("k4sync rig {rig} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert_pem = params.self_signed(&key)?.pem();
        let issuer = Issuer::new(params, KeyPair::from_pem(&key.serialize_pem())?);
        Ok(Ca {
            issuer,
            key,
            cert_pem,
        })
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` for node `name` into `dir`. The certificate
    /// names the node as CN and DNS name (plus `host` when that differs), for both server and
    /// client authentication, since every node both listens and connects.
    fn write_node(&self, dir: &Path, name: &str, host: Option<&str>) -> Result<(), RigError> {
        let mut sans = vec![name.to_string()];
        if let Some(h) = host.filter(|h| *h != name) {
            sans.push(h.to_string());
        }
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        write_file(&dir.join("ca.pem"), self.cert_pem.as_bytes(), false)?;
        write_file(&dir.join("cert.pem"), cert.pem().as_bytes(), false)?;
        write_file(&dir.join("key.pem"), key.serialize_pem().as_bytes(), true)
    }
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), RigError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| RigError::io(parent, e))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|e| RigError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| RigError::io(path, e))
}

fn write_config(dir: &Path, config: &Value) -> Result<(), RigError> {
    let path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(config).map_err(|e| RigError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let header = "// Written by `k4sync rig init`. TLS paths are relative to this file.\n";
    write_file(&path, format!("{header}{text}\n").as_bytes(), false)
}

/// The parts every node shares: peer mode, no scouting, TLS only with mTLS, a short lease.
fn common_config(rig: &str, node: &str, listen: Vec<String>, connect: Vec<String>) -> Value {
    json!({
        "mode": "peer",
        "metadata": { "k4sync": { "rig": rig, "node": node } },
        "listen": { "endpoints": listen },
        "connect": { "endpoints": connect },
        "scouting": {
            "multicast": { "enabled": false },
            "gossip": { "enabled": false }
        },
        "transport": {
            "unicast": { "open_timeout": OPEN_TIMEOUT_MS },
            "link": {
                "protocols": ["quic"],
                "tx": { "lease": LINK_LEASE_MS, "keep_alive": KEEP_ALIVE_PER_LEASE },
                "tls": {
                    "root_ca_certificate": "ca.pem",
                    "listen_certificate": "cert.pem",
                    "listen_private_key": "key.pem",
                    "connect_certificate": "cert.pem",
                    "connect_private_key": "key.pem",
                    "enable_mtls": true,
                    "verify_name_on_connect": true
                }
            }
        }
    })
}

fn agent_config(rig: &str, agent: &AgentSpec) -> Value {
    let mut config = common_config(rig, &agent.name, vec![agent.listen_endpoint()], vec![]);
    config["access_control"] = json!({
        "enabled": true,
        "default_permission": "deny",
        "rules": [
            {
                "id": "publish",
                "permission": "allow",
                "flows": ["egress"],
                "messages": ["put", "delete", "reply", "declare_queryable", "liveliness_token"],
                "key_exprs": [keys::agent_all(rig, &agent.name)]
            },
            {
                "id": "read",
                "permission": "allow",
                "flows": ["ingress"],
                "messages": ["declare_subscriber", "query", "declare_liveliness_subscriber",
                             "liveliness_query"],
                "key_exprs": [keys::all_states(rig), keys::all_alive(rig), keys::all_health(rig),
                              keys::all_frames(rig)]
            },
            {
                "id": "command",
                "permission": "allow",
                "flows": ["ingress"],
                "messages": ["query"],
                "key_exprs": [keys::cmd(rig, &agent.name)]
            }
        ],
        "subjects": [
            { "id": "rig-member" },
            { "id": "coordinator", "cert_common_names": [COORDINATOR] }
        ],
        "policies": [
            { "id": "everyone-reads", "rules": ["publish", "read"], "subjects": ["rig-member"] },
            { "id": "coordinator-commands", "rules": ["command"], "subjects": ["coordinator"] }
        ]
    });
    config
}

fn coordinator_config(rig: &RigFile) -> Value {
    let connect = rig.agents.iter().map(AgentSpec::endpoint).collect();
    let mut config = common_config(&rig.rig, COORDINATOR, vec![], connect);
    let mut rules = vec![json!({
        "id": "ask",
        "permission": "allow",
        "flows": ["egress"],
        "messages": ["declare_subscriber", "query", "declare_liveliness_subscriber",
                     "liveliness_query"],
        "key_exprs": [keys::rig_all(&rig.rig)]
    })];
    let mut subjects = Vec::new();
    let mut policies = vec![];
    for a in &rig.agents {
        let rule = format!("from-{}", a.name);
        rules.push(json!({
            "id": rule,
            "permission": "allow",
            "flows": ["ingress"],
            "messages": ["put", "delete", "reply", "declare_queryable", "liveliness_token"],
            "key_exprs": [keys::agent_all(&rig.rig, &a.name)]
        }));
        subjects.push(json!({ "id": a.name, "cert_common_names": [a.name] }));
        policies.push(json!({ "rules": ["ask", rule], "subjects": [a.name] }));
    }
    config["access_control"] = json!({
        "enabled": true,
        "default_permission": "deny",
        "rules": rules,
        "subjects": subjects,
        "policies": policies
    });
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_spec_forms_are_parsed() {
        let a = AgentSpec::parse("sbc1").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("sbc1", DEFAULT_PORT));
        assert_eq!(a.endpoint(), "quic/sbc1:7447");
        assert_eq!(a.listen_endpoint(), "quic/0.0.0.0:7447");
        let b = AgentSpec::parse("b=127.0.0.1:17001").unwrap();
        assert_eq!(b.endpoint(), "quic/127.0.0.1:17001");
        assert_eq!(b.listen_endpoint(), "quic/127.0.0.1:17001");
        let c = AgentSpec::parse("c=[::1]:9").unwrap();
        assert_eq!(c.endpoint(), "quic/[::1]:9");
        for bad in ["x=h:notaport", "coordinator", "Bad", "y=[::1"] {
            assert!(AgentSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn init_refuses_a_directory_that_holds_a_rig() {
        let dir = tempfile::tempdir().unwrap();
        let agents = [AgentSpec::parse("a=127.0.0.1:1").unwrap()];
        init(dir.path(), "r", &agents).unwrap();
        let e = init(dir.path(), "r", &agents).unwrap_err();
        assert!(e.to_string().contains("already holds a rig"), "{e}");
    }

    #[test]
    fn every_node_gets_a_certificate_key_and_a_config_that_zenoh_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let agents = ["a=127.0.0.1:1", "b=10.0.0.2", "c"].map(|s| AgentSpec::parse(s).unwrap());
        let done = init(dir.path(), "r", &agents).unwrap();
        assert_eq!(done.node_dirs.len(), 4);
        for node in &done.node_dirs {
            for f in ["ca.pem", "cert.pem", "key.pem", CONFIG_FILE] {
                assert!(node.join(f).is_file(), "{}", node.join(f).display());
            }
            crate::net::load_config(&node.join(CONFIG_FILE)).unwrap();
        }
        assert_eq!(RigFile::read(dir.path()).unwrap(), done.rig);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("a/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "a private key must not be readable by others"
            );
        }
    }
}
