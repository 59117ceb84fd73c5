//! Shared pieces of the integration tests of `k4sync-host` and of the `k4sync` command line
//! (which includes this file): the real samples, the interop interpreter with its skip rules and
//! Microsoft's readout of a file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "included by several test binaries, each using a different part (so not `expect`)"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `shared/samples` beside the repository or beside any further ancestor (worktrees nest deeper).
pub fn samples_dir() -> Option<PathBuf> {
    repo_root()
        .ancestors()
        .map(|dir| dir.join("shared/samples"))
        .find(|dir| dir.is_dir())
}

/// The interop venv interpreter, or `None` with the reason printed (docs/testing.md); fails
/// instead when `K4SYNC_INTEROP_REQUIRED=1`.
pub fn interop_python() -> Option<PathBuf> {
    let required = std::env::var("K4SYNC_INTEROP_REQUIRED").is_ok_and(|v| v == "1");
    match std::env::var_os("K4SYNC_INTEROP_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "K4SYNC_INTEROP_PYTHON={} does not exist",
                p.display()
            );
            Some(p)
        }
        None => {
            assert!(
                !required,
                "K4SYNC_INTEROP_REQUIRED=1 but K4SYNC_INTEROP_PYTHON is not set \
                 (run `bash scripts/interop-venv.sh` and export its output)"
            );
            let marker = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("k4sync/interop-venv.skipped"));
            let reason = marker
                .and_then(|m| std::fs::read_to_string(m).ok())
                .map_or_else(
                    || {
                        "K4SYNC_INTEROP_PYTHON is not set (scripts/test.sh sets it from \
                         scripts/interop-venv.sh on x86-64)"
                            .to_owned()
                    },
                    |r| r.trim().to_owned(),
                );
            println!("interop skipped: {reason}");
            None
        }
    }
}

/// Whether the shared samples are required: always, unless a developer without `../shared`
/// opts out with `K4SYNC_SAMPLES_OPTIONAL=1` (and `K4SYNC_SAMPLES_REQUIRED=1`, which
/// scripts/test.sh sets, wins over that). A test that would skip for want of them fails instead.
pub fn samples_required() -> bool {
    let on = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    on("K4SYNC_SAMPLES_REQUIRED") || !on("K4SYNC_SAMPLES_OPTIONAL")
}

/// `shared/samples/pyk4a_recording.mkv` and its official JSON, if present beside the repository;
/// fails instead of `None` when [`samples_required`].
pub fn sample() -> Option<(PathBuf, PathBuf)> {
    let found = samples_dir()
        .map(|dir| {
            (
                dir.join("pyk4a_recording.mkv"),
                dir.join("pyk4a_recording.official.json"),
            )
        })
        .filter(|(mkv, json)| mkv.exists() && json.exists());
    assert!(
        found.is_some() || !samples_required(),
        "shared/samples/pyk4a_recording.mkv and its official JSON are not beside the repository \
         ({}); they are required (K4SYNC_SAMPLES_OPTIONAL=1 skips them on a developer machine)",
        repo_root().display()
    );
    found
}

/// Whether Microsoft's library opens and reads `path` at all.
pub fn official_opens(python: &Path, path: &Path) -> bool {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/interop/official_readout.py");
    Command::new(python)
        .arg(script)
        .arg(path)
        .output()
        .unwrap()
        .status
        .success()
}

/// Microsoft's library's readout of `path` (`tests/interop/official_readout.py`), asking also for
/// every tag named in `ours` (the API cannot list tags).
pub fn official_readout(python: &Path, path: &Path, ours: &serde_json::Value) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("tests/interop/official_readout.py");
    let tags = ours["tags"].as_object().into_iter().flat_map(|t| t.keys());
    let out = Command::new(python)
        .arg(script)
        .arg(path)
        .args(tags.flat_map(|k| ["--tag", k.as_str()]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "official_readout.py {}: {}{}",
        path.display(),
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
