//! A rig across real network separation: four `ip netns` test hosts joined by veth pairs to a
//! bridge that lives in a fifth namespace (nothing of the machine's own network is touched;
//! the addresses exist only inside the namespaces). Three hosts run `k4sync agent` with an
//! emulated camera each, chained by the emulator's socket cable (filesystem sockets cross
//! network namespaces; the rig's control plane does not, it goes over zenoh between the
//! hosts' addresses with mutual TLS); the fourth runs `k4sync rig record`.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), as `scripts/test.sh` runs in CI: without it
//! the test fails with the reason, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;

mod support;
use support::{interop_python, k4sync, repo_root, stderr, stdout};

const SUBNET: &str = "10.203.0";
const PORT: u16 = 7447;
/// `-l 3` at 15 fps.
const CAPTURES: u64 = 45;

/// Runs `ip ARGS`, failing the test with what `ip` said.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {} — this test needs root to create network namespaces",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The test hosts; deleting the namespaces on drop takes their interfaces with them.
struct Hosts {
    bridge: String,
    hosts: Vec<String>,
}

impl Hosts {
    /// `count` hosts `<prefix>h<i>` with `SUBNET.<i + 1>/24` on their `eth0`, bridged.
    fn create(count: usize) -> Hosts {
        let prefix = format!("k4s{}", std::process::id());
        let hosts = Hosts {
            bridge: format!("{prefix}br"),
            hosts: (0..count).map(|i| format!("{prefix}h{i}")).collect(),
        };
        ip(&["netns", "add", &hosts.bridge]);
        in_ns(&hosts.bridge, &["link", "add", "br0", "type", "bridge"]);
        in_ns(&hosts.bridge, &["link", "set", "br0", "up"]);
        for (i, host) in hosts.hosts.iter().enumerate() {
            ip(&["netns", "add", host]);
            let port = format!("p{i}");
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                host,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &hosts.bridge,
            ]);
            in_ns(
                &hosts.bridge,
                &["link", "set", &port, "master", "br0", "up"],
            );
            let address = format!("{SUBNET}.{}/24", i + 1);
            in_ns(host, &["addr", "add", &address, "dev", "eth0"]);
            in_ns(host, &["link", "set", "eth0", "up"]);
            in_ns(host, &["link", "set", "lo", "up"]);
        }
        hosts
    }

    fn address(i: usize) -> String {
        format!("{SUBNET}.{}", i + 1)
    }
}

fn in_ns(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all);
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.bridge]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A command run inside namespace `ns`.
fn in_host(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns])
        .arg(env!("CARGO_BIN_EXE_k4sync"));
    c
}

/// Agent processes, killed when dropped.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn official_config(python: &Path, file: &Path) -> Value {
    let out = Command::new(python)
        .arg(repo_root().join("tests/interop/official_readout.py"))
        .arg(file)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["ok"], true, "{json}");
    json["config"].clone()
}

#[test]
fn a_rig_across_four_network_namespaces_records_per_host_files_that_align() {
    let hosts = Hosts::create(4);
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("r");
    let names = ["a", "b", "c"];
    let agents: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}={}:{PORT}", Hosts::address(i + 1)))
        .collect();
    let init = k4sync([
        "rig".as_ref(),
        "init".as_ref(),
        rig.as_os_str(),
        "--agents".as_ref(),
        agents.join(",").as_ref(),
    ]);
    assert!(init.status.success(), "{}", stderr(&init));

    // a (master) → b → c on the emulator's socket cable; each host has its own data directory.
    let cable = |n: &str| dir.path().join(format!("{n}-sync-in"));
    let data = |n: &str| dir.path().join(format!("host-{n}"));
    let mut children = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut c = in_host(&hosts.hosts[i + 1]);
        c.args(["agent", "--rig", "r", "--emulate", "--emulate-index"])
            .arg(i.to_string())
            .arg("--config")
            .arg(rig.join(name).join("zenoh.json5"))
            .arg("--data-dir")
            .arg(data(name));
        if i > 0 {
            c.arg("--emulate-sync-in").arg(cable(name));
        }
        if let Some(next) = names.get(i + 1) {
            c.arg("--emulate-sync-out").arg(cable(next));
        }
        let log = std::fs::File::create(dir.path().join(format!("agent-{name}.log"))).unwrap();
        children.push(c.stderr(log).spawn().unwrap());
    }
    let _agents = Agents(children);

    let out = dir.path().join("take");
    let mut coordinator = in_host(&hosts.hosts[0]);
    coordinator
        .args(["rig", "record", "--json", "--wait", "20", "--take", "t1"])
        .args(support::TAKE_MODES)
        .arg("--dir")
        .arg(&rig)
        .arg("--out")
        .arg(&out);
    let run = coordinator.output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&run))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&run), stderr(&run)));
    let logs = || {
        names
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(dir.path().join(format!("agent-{n}.log")));
                format!("--- agent {n}:\n{}", log.unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(run.status.success(), "{v}\n{}\n{}", stderr(&run), logs());
    let manifest = &v["manifest"];
    assert_eq!(manifest["outcome"], "completed", "{manifest}");
    assert_eq!(
        manifest["recoveries"],
        serde_json::json!([]),
        "{manifest}\n{}",
        logs()
    );

    let devices = manifest["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    let mut files: Vec<PathBuf> = Vec::new();
    for d in devices {
        let name = d["agent"].as_str().unwrap();
        assert_eq!(
            d["host"],
            Hosts::address(names.iter().position(|n| *n == name).unwrap() + 1)
        );
        let file = PathBuf::from(d["files"][0].as_str().unwrap());
        assert!(
            file.starts_with(data(name)),
            "{name}'s file is on its own host: {}",
            file.display()
        );
        assert_eq!(d["segments"][0]["frames"], CAPTURES, "{d}");
        files.push(file);
    }

    let python = interop_python().expect("the interop interpreter (scripts/interop-venv.sh)");
    for (d, file) in devices.iter().zip(&files) {
        let config = official_config(&python, file);
        let role = d["role"].as_str().unwrap();
        assert_eq!(config["wired_sync_mode"], role, "{config}");
        let effective_usec = d["effective_subordinate_delay_nsec"].as_u64().unwrap() / 1000;
        assert_eq!(
            config["subordinate_delay_off_master_usec"],
            effective_usec,
            "{}: {config}",
            file.display()
        );
    }

    let mut args: Vec<&std::ffi::OsStr> = vec!["align".as_ref(), "--json".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let aligned = k4sync(args);
    let a: Value = serde_json::from_str(&stdout(&aligned)).unwrap();
    assert!(aligned.status.success(), "{a}");
    assert_eq!(a["summary"]["sets"], CAPTURES, "{}", a["summary"]);
    assert_eq!(a["summary"]["complete"], CAPTURES, "{}", a["summary"]);
    assert_eq!(a["summary"]["incomplete"], 0);
    assert_eq!(a["summary"]["unsynced_frames"], 0);
}
