//! `k4sync agent --rig NAME --config FILE [--device SERIAL | --emulate] [--data-dir DIR]`:
//! serve one camera to the rig until Ctrl-C or SIGTERM ([`k4sync_rig::agent`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use k4sync_rig::agent::{self, AgentOptions, TakeLayout};
use k4sync_rig::msg::Jacks;
use k4sync_rig::CameraSource;

use crate::values;

/// The `agent` subcommand's clap definition.
pub fn command() -> Command {
    Command::new("agent")
        .about("serve this computer's camera to a rig (one agent per camera computer)")
        .arg(value("rig", "the rig's name (as given to `rig init`)").required(true))
        .arg(
            value("config", "this node's zenoh.json5 from `rig init`")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .arg(value("device", "the camera's serial").conflicts_with("emulate"))
        .arg(
            Arg::new("emulate")
                .long("emulate")
                .action(ArgAction::SetTrue)
                .help("serve an emulated camera (real-time)"),
        )
        .arg(
            value("emulate-index", "which emulated camera (emu:<n>)")
                .value_parser(values::whole(0..=u32::MAX, ""))
                .allow_negative_numbers(true)
                .default_value("0")
                .hide(true),
        )
        .arg(
            value(
                "emulate-jacks",
                "plugged jacks of the emulated camera: none, in, out or in,out",
            )
            .value_parser(["none", "in", "out", "in,out"])
            .default_value("none")
            .hide(true),
        )
        .arg(cable_end(
            "emulate-sync-in",
            "a sync cable from another agent's emulated camera: listen for its pulses on this \
             Unix socket (plugs Sync In)",
        ))
        .arg(cable_end(
            "emulate-sync-out",
            "a sync cable to another agent's emulated camera: send Sync Out pulses to this Unix \
             socket (plugs Sync Out)",
        ))
        .arg(
            value(
                "data-dir",
                "where takes are written (<DIR>/<take>/<agent>.mkv)",
            )
            .value_parser(clap::value_parser!(PathBuf))
            .default_value("."),
        )
}

fn value(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::Set).help(help)
}

/// One end of the emulator's socket cable between agent processes (test plumbing, hidden).
fn cable_end(name: &'static str, help: &'static str) -> Arg {
    value(name, help)
        .value_parser(clap::value_parser!(PathBuf))
        .requires("emulate")
        .hide(true)
}

/// Reads the `agent` subcommand's matches.
pub fn from_matches(sub: &ArgMatches) -> Result<AgentOptions, String> {
    let text = |name: &str| sub.get_one::<String>(name).cloned().unwrap_or_default();
    let source = if sub.get_flag("emulate") {
        let jacks = text("emulate-jacks");
        CameraSource::Emulated {
            index: sub.get_one::<u32>("emulate-index").copied().unwrap_or(0),
            jacks: Jacks {
                sync_in: jacks.contains("in"),
                sync_out: jacks.contains("out"),
            },
            pulse_in: sub.get_one::<PathBuf>("emulate-sync-in").cloned(),
            pulse_out: sub.get_one::<PathBuf>("emulate-sync-out").cloned(),
        }
    } else {
        match sub.get_one::<String>("device") {
            Some(serial) => CameraSource::Usb {
                serial: serial.clone(),
            },
            None => return Err("give --device SERIAL or --emulate".into()),
        }
    };
    Ok(AgentOptions {
        config: sub
            .get_one::<PathBuf>("config")
            .cloned()
            .unwrap_or_default(),
        rig: text("rig"),
        source,
        data_dir: sub
            .get_one::<PathBuf>("data-dir")
            .cloned()
            .unwrap_or_default(),
        layout: TakeLayout::PerTake,
    })
}

pub fn run(options: AgentOptions) -> ExitCode {
    match k4sync_rig::block_on(agent::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("k4sync agent: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
