//! `k4sync list` where the kernel shows no USB subsystem: a clear message and a failing exit.

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

#[test]
fn list_emulate_three_prints_three_cameras_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_k4sync"))
        .args(["--emulate", "3", "list", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cameras = json.as_array().unwrap();
    assert_eq!(cameras.len(), 3);
    for camera in cameras {
        assert_eq!(camera["serial"], camera["product_serial"]);
        assert_eq!(camera["firmware"]["depth"], "1.6.80");
        assert!(camera["problem"].is_null());
    }
}
