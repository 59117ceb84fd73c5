//! Microsoft's real depth engine (`libdepthengine.so.2.0` from the interop venv's
//! `pyk4a_bundle.libs/`, x86-64 only): it loads, registers with plugin version 2.1.4, and
//! rejects a synthetic calibration blob with the named calibration error — before any OpenGL
//! work, so no display is needed (both checks run with DISPLAY removed where a process is
//! spawned).
//!
//! Needs `K4SYNC_INTEROP_PYTHON`; with `K4SYNC_INTEROP_REQUIRED=1` a missing venv or engine
//! fails the test (see `support::interop_python`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use k4sync_host::core::types::DepthMode;
use k4sync_host::depth_engine::{Engine, EngineError, PluginVersion, LIBRARY_NAME};
use support::{interop_python, stderr, stdout};

/// The engine inside the venv's `pyk4a_bundle.libs`, which must exist once the venv does.
fn real_engine(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .arg("-c")
        .arg("import sys; sys.path.insert(0, sys.argv[1]); import k4a_ctypes; print(k4a_ctypes.libs_dir())")
        .arg(support::repo_root().join("tests/interop"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let engine = PathBuf::from(stdout(&out).trim()).join(LIBRARY_NAME);
    assert!(
        engine.is_file(),
        "the interop venv has no depth engine at {}",
        engine.display()
    );
    engine
}

fn synthetic_blob() -> Vec<u8> {
    let mut state = 0x1234_5678_9abc_def0_u64;
    (0..k4sync_host::core::emu::NV_BLOB_LEN)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 56) as u8
        })
        .collect()
}

#[test]
fn the_real_engine_registers_version_2_and_rejects_a_synthetic_blob() {
    let Some(python) = interop_python() else {
        return;
    };
    let engine = Engine::load(&real_engine(&python)).unwrap();
    assert_eq!(
        engine.version(),
        PluginVersion {
            major: 2,
            minor: 1,
            patch: 4
        }
    );
    for mode in [DepthMode::NfovUnbinned, DepthMode::PassiveIr] {
        match engine.session(&synthetic_blob(), mode) {
            Err(EngineError::CalibrationRejected { code: 103 }) => {}
            Err(other) => panic!("{mode}: expected the calibration error, got {other}"),
            Ok(_) => panic!("{mode}: the real engine accepted a synthetic blob"),
        }
    }
}

#[test]
fn k4sync_depth_names_the_calibration_error_on_an_emulator_recording_without_a_display() {
    let Some(python) = interop_python() else {
        return;
    };
    let engine = real_engine(&python);
    let dir = tempfile::tempdir().unwrap();
    let (raw, out) = (dir.path().join("raw.mkv"), dir.path().join("out.mkv"));
    support::record_raw_depth(&raw, "NFOV_2X2BINNED");
    let o = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .env_remove("DISPLAY")
        .env(k4sync_host::depth_engine::ENGINE_ENV, &engine)
        .arg("depth")
        .arg(&raw)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("rejected the calibration (code 103: calibration failed)"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}
