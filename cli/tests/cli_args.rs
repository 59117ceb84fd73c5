//! Every option that takes a value, given a bad one: `k4sync` exits 2 with a sentence naming
//! the option and what it accepts (a range with its unit, or the list of values), never with
//! the usage alone.

use std::process::Command;

/// (arguments, the option the message must name, what it must say is accepted)
const BAD_VALUES: &[(&[&str], &str, &str)] = &[
    (
        &["--emulate", "0", "list"],
        "'--emulate <N>'",
        "from 1 to 32 cameras",
    ),
    (
        &["record", "-l", "-3", "o.mkv"],
        "'--record-length <SECONDS>'",
        "seconds greater than 0",
    ),
    (
        &["record", "-l", "soon", "o.mkv"],
        "'--record-length <SECONDS>'",
        "seconds greater than 0",
    ),
    (
        &["record", "-c", "999p", "o.mkv"],
        "'--color-mode <color-mode>'",
        "[possible values: 3072p,",
    ),
    (
        &["record", "-d", "DEEP", "o.mkv"],
        "'--depth-mode <depth-mode>'",
        "[possible values: NFOV_2X2BINNED,",
    ),
    (
        &["record", "--depth-delay", "-300000", "o.mkv"],
        "'--depth-delay <USEC>'",
        "from -200000 to 200000 µs",
    ),
    (
        &["record", "-r", "7", "o.mkv"],
        "'--rate <rate>'",
        "[possible values: 30, 15, 5]",
    ),
    (
        &["record", "--imu", "maybe", "o.mkv"],
        "'--imu <imu>'",
        "[possible values: ON, OFF]",
    ),
    (
        &["record", "--external-sync", "boss", "o.mkv"],
        "'--external-sync <external-sync>'",
        "[possible values: master,",
    ),
    (
        &["record", "--sync-delay", "-5", "o.mkv"],
        "'--sync-delay <USEC>'",
        "from 0 to 200000 µs",
    ),
    (
        &["record", "-e", "200001", "o.mkv"],
        "'--exposure-control <exposure-control>'",
        "an exponent from -11 to 1, a time from 2 to 200000 µs, or auto",
    ),
    (
        &["record", "-g", "256", "o.mkv"],
        "'--gain <gain>'",
        "a gain from 0 to 255",
    ),
    (
        &["record", "--emulate-pacing", "fast", "o.mkv"],
        "'--emulate-pacing <emulate-pacing>'",
        "[possible values: realtime, virtual]",
    ),
    (
        &["depth", "-j", "0", "--rig", "m.json", "out"],
        "'--jobs <N>'",
        "from 1 to 64 jobs",
    ),
    (
        &["rig", "check", "--wait", "-1"],
        "'--wait <SECONDS>'",
        "seconds 0 or more",
    ),
    (
        &["rig", "plan", "-r", "60"],
        "'--rate <rate>'",
        "[possible values: 30, 15, 5]",
    ),
    (
        &["rig", "plan", "--interleave", "never"],
        "'--interleave <interleave>'",
        "[possible values: depth-delay,",
    ),
    (
        &["rig", "record", "-l", "5", "--on-fault", "retry", "out"],
        "'--on-fault <on-fault>'",
        "[possible values: recover, abort]",
    ),
    (
        &["rig", "record", "-l", "5", "--max-recoveries", "-1", "out"],
        "'--max-recoveries <max-recoveries>'",
        "from 0 to 4294967295 recoveries",
    ),
    (
        &["rig", "check", "-e", "-12"],
        "'--exposure-control <exposure-control>'",
        "from -11 to 1, or auto",
    ),
    (
        &[
            "agent",
            "--rig",
            "r",
            "--config",
            "c.json5",
            "--emulate-jacks",
            "up",
        ],
        "'--emulate-jacks <emulate-jacks>'",
        "[possible values: none, in, out, in,out]",
    ),
    (
        &[
            "agent",
            "--rig",
            "r",
            "--config",
            "c.json5",
            "--emulate-index",
            "-1",
        ],
        "'--emulate-index <emulate-index>'",
        "from 0 to 4294967295",
    ),
];

#[test]
fn every_bad_value_names_its_option_and_what_it_accepts() {
    for (args, option, accepted) in BAD_VALUES {
        let output = Command::new(env!("CARGO_BIN_EXE_k4sync"))
            .args(*args)
            .output()
            .unwrap_or_else(|e| panic!("running k4sync {args:?}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains("invalid value"))
            .unwrap_or_else(|| panic!("{args:?}: no sentence about the value in {stderr:?}"));
        assert!(line.contains(option), "{args:?} names {option}: {stderr}");
        assert!(
            stderr.contains(accepted),
            "{args:?} says {accepted:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
