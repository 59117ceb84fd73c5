//! `k4sync rig init|status|check|plan`: the coordinator's commands ([`k4sync_rig`]).
//!
//! `init` writes a rig directory; the others read it (`--dir`, default `.`), connect as the
//! rig's coordinator and ask the agents. `check` and `plan` take the take's camera settings
//! with `k4sync record`'s option names.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::plan::Interleave;
use k4sync_core::types::Fps;
use k4sync_host::Exposure;
use k4sync_rig::coordinator::{self, Coordinator, RigSettings};
use k4sync_rig::init::{self, AgentSpec};
use k4sync_rig::RigError;

use crate::record::{colour_mode, depth_mode, mode_args, parse_exposure, rate_arg};
use crate::values;

/// What `k4sync rig` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RigArgs {
    Init {
        dir: PathBuf,
        name: Option<String>,
        agents: Vec<String>,
    },
    Status {
        dir: PathBuf,
        wait: Duration,
        json: bool,
    },
    Check {
        dir: PathBuf,
        wait: Duration,
        json: bool,
        settings: RigSettings,
        /// `plan`: print the plan (the check runs either way).
        plan: bool,
    },
}

fn value(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::Set).help(help)
}

fn connect_args(cmd: Command) -> Command {
    cmd.arg(
        value("dir", "the rig directory written by `rig init`")
            .value_parser(clap::value_parser!(PathBuf))
            .default_value("."),
    )
    .arg(
        value("wait", "seconds to wait for every agent to connect")
            .value_name("SECONDS")
            .value_parser(values::seconds_or_zero)
            .allow_negative_numbers(true)
            .default_value("3"),
    )
    .arg(
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("print JSON instead of text"),
    )
}

fn settings_args(cmd: Command) -> Command {
    cmd.args(mode_args())
        .arg(rate_arg())
        .arg(
            value(
                "exposure-control",
                "manual colour exposure exponent -11..1, or auto",
            )
            .short('e')
            .allow_negative_numbers(true)
            .value_parser(parse_exposure)
            .default_value("auto"),
        )
        .arg(
            value("interleave", "how depth lasers are kept 160 µs apart")
                .value_parser(["depth-delay", "subordinate-delay", "as-configured"])
                .default_value("depth-delay"),
        )
}

/// The `rig` subcommand's clap definition.
pub fn command() -> Command {
    Command::new("rig")
        .about("run a multi-host rig: certificates, agents' status, preflight, plan")
        .subcommand_required(true)
        .subcommand(
            Command::new("init")
                .about("create the rig's CA, one certificate and zenoh config per node")
                .arg(
                    Arg::new("DIR")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("directory to create the rig in (must not hold one)"),
                )
                .arg(value(
                    "name",
                    "the rig's name (default: DIR's last component)",
                ))
                .arg(
                    value(
                        "agents",
                        "agents in chain order, master first: NAME[=HOST[:PORT]],...",
                    )
                    .required(true)
                    .value_delimiter(','),
                ),
        )
        .subcommand(connect_args(
            Command::new("status").about("show every agent: serial, role, jacks, disk, link"),
        ))
        .subcommand(settings_args(connect_args(
            Command::new("check").about("preflight the whole rig for a take with these settings"),
        )))
        .subcommand(settings_args(connect_args(
            Command::new("plan").about("effective (tick-truncated) delays and the start order"),
        )))
}

fn settings(sub: &ArgMatches) -> RigSettings {
    let text = |name: &str| sub.get_one::<String>(name).cloned().unwrap_or_default();
    let (color_resolution, color_format) = colour_mode(&text("color-mode"));
    let fps = match text("rate").as_str() {
        "5" => Fps::Fps5,
        "15" => Fps::Fps15,
        _ => Fps::Fps30,
    };
    let exposure = match sub.get_one::<Exposure>("exposure-control") {
        Some(Exposure::Manual(v)) => Some(*v),
        _ => None,
    };
    RigSettings {
        config: DeviceConfig {
            color_resolution,
            color_format,
            depth_mode: depth_mode(&text("depth-mode")),
            fps,
            ..DeviceConfig::default()
        },
        exposure,
        interleave: match text("interleave").as_str() {
            "subordinate-delay" => Interleave::SubordinateDelay,
            "as-configured" => Interleave::AsConfigured,
            _ => Interleave::DepthDelay,
        },
    }
}

/// Reads the `rig` subcommand's matches.
pub fn from_matches(sub: &ArgMatches) -> RigArgs {
    let dir = |m: &ArgMatches| m.get_one::<PathBuf>("dir").cloned().unwrap_or_default();
    let wait = |m: &ArgMatches| {
        m.get_one::<Duration>("wait")
            .copied()
            .unwrap_or(Duration::from_secs(3))
    };
    match sub.subcommand() {
        Some(("init", m)) => RigArgs::Init {
            dir: m.get_one::<PathBuf>("DIR").cloned().unwrap_or_default(),
            name: m.get_one::<String>("name").cloned(),
            agents: m
                .get_many::<String>("agents")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        },
        Some(("status", m)) => RigArgs::Status {
            dir: dir(m),
            wait: wait(m),
            json: m.get_flag("json"),
        },
        Some((name, m)) => RigArgs::Check {
            dir: dir(m),
            wait: wait(m),
            json: m.get_flag("json"),
            settings: settings(m),
            plan: name == "plan",
        },
        None => RigArgs::Status {
            dir: PathBuf::from("."),
            wait: Duration::from_secs(3),
            json: false,
        },
    }
}

pub fn run(args: RigArgs) -> ExitCode {
    let result = match args {
        RigArgs::Init { dir, name, agents } => run_init(&dir, name.as_deref(), &agents),
        RigArgs::Status { dir, wait, json } => k4sync_rig::block_on(async move {
            let c = Coordinator::connect(&dir, wait).await?;
            let agents = c.status().await?;
            c.close().await?;
            print_result(json, &agents, || coordinator::status_text(&agents));
            Ok::<bool, RigError>(true)
        }),
        RigArgs::Check {
            dir,
            wait,
            json,
            settings,
            plan,
        } => k4sync_rig::block_on(async move {
            let c = Coordinator::connect(&dir, wait).await?;
            let agents = c.status().await?;
            c.close().await?;
            let mut report = coordinator::check(&agents, &settings);
            if !plan {
                report.plan = None;
            }
            print_result(json, &report, || coordinator::check_text(&report));
            Ok::<bool, RigError>(report.passed())
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("k4sync rig: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

fn print_result<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("k4sync rig: could not write JSON: {e}"),
        }
    } else {
        print!("{}", text());
    }
}

fn run_init(dir: &Path, name: Option<&str>, agents: &[String]) -> Result<bool, RigError> {
    let name = match name {
        Some(n) => n.to_string(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| RigError::Usage("give the rig a --name".into()))?,
    };
    let specs = agents
        .iter()
        .map(|a| AgentSpec::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let done = init::init(dir, &name, &specs)?;
    println!("rig {name}: CA in {}", dir.join("ca").display());
    for node in &done.node_dirs {
        println!("  node {}", node.display());
    }
    println!("copy each agent's directory to its computer; keep ca/ca.key off the rig");
    Ok(true)
}
