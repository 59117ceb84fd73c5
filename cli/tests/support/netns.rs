//! A rig across real network separation, shared by the network-namespace test
//! (`tests/cli_rig_netns.rs`) and the control-plane benchmark (`benches/rig_control_plane.rs`,
//! which includes this file alone): `ip netns` test hosts joined by veth pairs to a bridge that
//! lives in a namespace of its own (nothing of the machine's own network is touched; the
//! addresses exist only inside the namespaces), `k4sync agent --emulate` processes on hosts
//! 1.. chained by the emulator's socket cable (filesystem sockets cross network namespaces; the
//! rig's control plane does not, it goes over zenoh between the hosts' addresses with mutual
//! TLS), and `k4sync rig record` on host 0.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): without it [`ip`] panics with `ip`'s refusal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "test and benchmark plumbing; each includer uses a different part"
)]

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub const SUBNET: &str = "10.203.0";
pub const PORT: u16 = 7447;

/// Runs `ip ARGS`, panicking with what `ip` said.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {} — network namespaces need root",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `ip -n NS ARGS`.
pub fn in_ns(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all);
}

/// The test hosts; deleting the namespaces on drop takes their interfaces with them.
pub struct Hosts {
    /// The namespace of the bridge `br0`; host `i`'s veth peer there is port `p<i>`.
    pub bridge: String,
    pub hosts: Vec<String>,
}

impl Hosts {
    /// `count` hosts `k4s<pid>h<i>` with `SUBNET.<i + 1>/24` on their `eth0`, bridged.
    pub fn create(count: usize) -> Hosts {
        let prefix = format!("k4s{}", std::process::id());
        let hosts = Hosts {
            bridge: format!("{prefix}br"),
            hosts: (0..count).map(|i| format!("{prefix}h{i}")).collect(),
        };
        ip(&["netns", "add", &hosts.bridge]);
        in_ns(&hosts.bridge, &["link", "add", "br0", "type", "bridge"]);
        in_ns(&hosts.bridge, &["link", "set", "br0", "up"]);
        for i in 0..count {
            hosts.attach(i);
        }
        hosts
    }

    /// Creates host `i` and plugs it into the bridge.
    fn attach(&self, i: usize) {
        let host = &self.hosts[i];
        ip(&["netns", "add", host]);
        let port = Hosts::port(i);
        let bridge = &self.bridge;
        ip(&[
            "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name", &port, "netns",
            bridge,
        ]);
        in_ns(&self.bridge, &["link", "set", &port, "master", "br0", "up"]);
        let address = format!("{}/24", Hosts::address(i));
        in_ns(host, &["addr", "add", &address, "dev", "eth0"]);
        in_ns(host, &["link", "set", "eth0", "up"]);
        in_ns(host, &["link", "set", "lo", "up"]);
    }

    pub fn address(i: usize) -> String {
        format!("{SUBNET}.{}", i + 1)
    }

    /// Host `i`'s port on the bridge.
    pub fn port(i: usize) -> String {
        format!("p{i}")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.bridge]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The built `k4sync` run inside namespace `ns` (`ip netns exec` execs it: the child's pid is
/// k4sync's).
pub fn in_host(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(env!("CARGO_BIN_EXE_k4sync"));
    c
}

/// Agent processes, killed when dropped.
pub struct Agents(pub Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A rig of emulated cameras across the hosts: agent `i` of `names` on host `i + 1`, chained
/// in that order (the first in the master's place), the rig directory and each agent's data
/// directory, socket cable end and log under `dir`.
pub struct Chain {
    pub dir: PathBuf,
    pub rig: PathBuf,
    pub names: Vec<String>,
}

impl Chain {
    /// `k4sync rig init` for the agents at the hosts' addresses.
    pub fn init(dir: &Path, names: &[&str]) -> Chain {
        let rig = dir.join("r");
        let agents: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}={}:{PORT}", Hosts::address(i + 1)))
            .collect();
        let init = Command::new(env!("CARGO_BIN_EXE_k4sync"))
            .args(["rig", "init"])
            .arg(&rig)
            .args(["--agents", &agents.join(",")])
            .output()
            .expect("run k4sync rig init");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        Chain {
            dir: dir.to_owned(),
            rig,
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Where agent `name` listens for its upstream's pulses.
    pub fn cable(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-sync-in"))
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.join(format!("host-{name}"))
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("agent-{name}.log"))
    }

    /// Starts agent `i` on host `i + 1`; its stderr is appended to its log (a restarted agent
    /// keeps the earlier lines).
    pub fn agent(&self, hosts: &Hosts, i: usize) -> Child {
        let name = &self.names[i];
        let mut c = in_host(&hosts.hosts[i + 1]);
        c.args(["agent", "--rig", "r", "--emulate", "--emulate-index"])
            .arg(i.to_string())
            .arg("--config")
            .arg(self.rig.join(name).join("zenoh.json5"))
            .arg("--data-dir")
            .arg(self.data(name));
        if i > 0 {
            c.arg("--emulate-sync-in").arg(self.cable(name));
        }
        if let Some(next) = self.names.get(i + 1) {
            c.arg("--emulate-sync-out").arg(self.cable(next));
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(name))
            .expect("open the agent's log");
        c.stderr(log).spawn().expect("start k4sync agent")
    }

    /// Every agent, each on its host.
    pub fn agents(&self, hosts: &Hosts) -> Agents {
        Agents(
            (0..self.names.len())
                .map(|i| self.agent(hosts, i))
                .collect(),
        )
    }

    /// `k4sync rig record --json --take TAKE --out DIR/TAKE` on host 0, with `args`.
    pub fn record(&self, hosts: &Hosts, take: &str, args: &[&str]) -> Command {
        let mut c = in_host(&hosts.hosts[0]);
        c.args(["rig", "record", "--json", "--wait", "20", "--take", take])
            .args(args)
            .arg("--dir")
            .arg(&self.rig)
            .arg("--out")
            .arg(self.dir.join(take));
        c
    }

    /// Every agent's log, headed by its name.
    pub fn logs(&self) -> String {
        self.names
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(self.log(n)).unwrap_or_default();
                format!("--- agent {n}:\n{log}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
