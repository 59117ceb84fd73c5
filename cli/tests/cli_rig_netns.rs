//! A rig across real network separation: four `ip netns` test hosts joined by veth pairs to a
//! bridge that lives in a fifth namespace (nothing of the machine's own network is touched;
//! the addresses exist only inside the namespaces). Three hosts run `k4sync agent` with an
//! emulated camera each, chained by the emulator's socket cable (filesystem sockets cross
//! network namespaces; the rig's control plane does not, it goes over zenoh between the
//! hosts' addresses with mutual TLS); the fourth runs `k4sync rig record` (`support/netns.rs`).
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), as `scripts/test.sh` runs in CI: without it
//! the test fails with the reason, it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod support;
use support::netns::{Chain, Hosts};
use support::{interop_python, k4sync, repo_root, stderr, stdout};

/// `-l 3` at 15 fps.
const CAPTURES: u64 = 45;

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
    let names = ["a", "b", "c"];
    let chain = Chain::init(dir.path(), &names);
    let _agents = chain.agents(&hosts);

    let run = chain
        .record(&hosts, "t1", &support::TAKE_MODES)
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&run))
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&run), stderr(&run)));
    assert!(
        run.status.success(),
        "{v}\n{}\n{}",
        stderr(&run),
        chain.logs()
    );
    let manifest = &v["manifest"];
    assert_eq!(manifest["outcome"], "completed", "{manifest}");
    assert_eq!(
        manifest["recoveries"],
        serde_json::json!([]),
        "{manifest}\n{}",
        chain.logs()
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
            file.starts_with(chain.data(name)),
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
