//! `k4sync list` where the kernel shows no USB subsystem: a clear message and a failing exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn list_without_usb_subsystem_explains_and_exits_non_zero() {
    let empty_sysfs = tempfile::tempdir().unwrap();
    for args in [&["list"][..], &["list", "--json"][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_k4sync"))
            .args(args)
            .env("K4SYNC_SYSFS_ROOT", empty_sysfs.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("no USB subsystem"), "{stderr}");
        assert!(
            stderr.contains("bus/usb/devices does not exist"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn demo_still_runs_through_the_new_command_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("\"passed\":true}\n"));
}
