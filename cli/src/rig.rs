//! `k4sync rig init|status|check|plan|record|serve|stop`: the coordinator's commands
//! ([`k4sync_rig`]).
//!
//! `init` writes a rig directory; the others read it (`--dir`, default `.`), connect as the
//! rig's coordinator and ask the agents. `check`, `plan` and `record` take the take's camera
//! settings with `k4sync record`'s option names; `record` itself runs in [`crate::rig_record`], `serve` in
//! [`crate::rig_serve`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::plan::Interleave;
use k4sync_core::types::Fps;
use k4sync_rig::coordinator::{self, Coordinator, RigSettings};
use k4sync_rig::init::{self, AgentSpec};
use k4sync_rig::take::{OnFault, DEFAULT_RECOVERIES};
use k4sync_rig::RigError;

use crate::record::{colour_mode, depth_mode, mode_args, parse_exposure_exponent, rate_arg};
use crate::rig_record::{self, RecordArgs};
use crate::rig_serve::{self, ServeArgs};
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
    Record(RecordArgs),
    Serve(ServeArgs),
    Stop {
        dir: PathBuf,
        wait: Duration,
        json: bool,
    },
}

/// Colour mode, depth mode, rate and interleave `rig record` uses when none are given:
/// k4arecorder's modes for a real rig; for `--emulate`, modes three emulated cameras hold in
/// real time on a 2-core machine, and distinct subordinate delays, so the files show the
/// delays (docs/rig.md, "One machine, N cameras").
const REAL_MODES: [&str; 4] = ["1080p", "NFOV_UNBINNED", "30", "depth-delay"];
const EMULATED_MODES: [&str; 4] = ["720p", "PASSIVE_IR", "15", "subordinate-delay"];

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

/// `-c`, `-d`, `-r`, `-e` and `--interleave`; the modes, rate and interleave without their
/// defaults when `defaults` is false (`rig record` picks them by `--emulate`).
fn settings_args(cmd: Command, defaults: bool) -> Command {
    let keep = |a: Arg| {
        if defaults {
            a
        } else {
            a.default_value(None::<&'static str>)
        }
    };
    cmd.args(mode_args().map(keep))
        .arg(keep(rate_arg()))
        .arg(
            value(
                "exposure-control",
                "manual colour exposure exponent -11..1, or auto",
            )
            .short('e')
            .allow_negative_numbers(true)
            .value_parser(parse_exposure_exponent)
            .default_value("auto"),
        )
        .arg(keep(
            value("interleave", "how depth lasers are kept 160 µs apart")
                .value_parser(["depth-delay", "subordinate-delay", "as-configured"])
                .default_value("depth-delay"),
        ))
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
        .subcommand(settings_args(
            connect_args(
                Command::new("check")
                    .about("preflight the whole rig for a take with these settings"),
            ),
            true,
        ))
        .subcommand(settings_args(
            connect_args(
                Command::new("plan").about("effective (tick-truncated) delays and the start order"),
            ),
            true,
        ))
        .subcommand(record_command())
        .subcommand(serve_command())
        .subcommand(connect_args(
            Command::new("stop").about("stop every agent's recording, the master first"),
        ))
}

fn record_command() -> Command {
    let cmd = Command::new("record").about(
        "record one take: preflight, arm subordinates, start the master, stop all, manifest \
         (modes default to k4arecorder's; with --emulate to 720p, PASSIVE_IR, 15 fps and \
         subordinate-delay interleave)",
    );
    settings_args(connect_args(cmd), false)
        .arg(
            value(
                "record-length",
                "seconds of device time to record from the first image",
            )
            .short('l')
            .required(true)
            .value_parser(values::positive_seconds),
        )
        .arg(
            Arg::new("OUTDIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("where the manifest (and with --emulate the recordings) go"),
        )
        .arg(
            value("out", "same as OUTDIR (default: ./<take>)")
                .value_parser(clap::value_parser!(PathBuf))
                .conflicts_with("OUTDIR"),
        )
        .arg(value("take", "the take's name (default: take-<unix time>)"))
        .arg(
            value(
                "pulse-timeout",
                "seconds every subordinate has to show its first image after the master starts",
            )
            .value_parser(values::positive_seconds)
            .default_value("5"),
        )
        .arg(
            value(
                "on-fault",
                "a device failing after the rig recorded: recover (stop the master, re-arm, \
                 restart into a new segment) or abort",
            )
            .value_parser(["recover", "abort"])
            .default_value("recover"),
        )
        .arg(
            value("max-recoveries", "recoveries per take before it fails")
                .value_parser(values::whole(0..=u32::MAX, " recoveries"))
                .allow_negative_numbers(true)
                .default_value("3"),
        )
        .arg(
            value(
                "emulate",
                "run N emulated cameras on one simulated sync cable, each behind its own agent, \
                 in this process (no rig directory needed)",
            )
            .value_parser(clap::value_parser!(u32)),
        )
        .arg(
            value(
                "web",
                "also serve the live dashboard on ADDR (as `rig serve --listen`); it keeps \
                 serving after the take until Ctrl-C",
            )
            .value_name("ADDR")
            .value_parser(clap::value_parser!(SocketAddr)),
        )
}

fn serve_command() -> Command {
    let cmd = Command::new("serve").about(
        "serve the live rig dashboard (agents, plan, take, alarms, align) with check, record \
         and stop buttons; loopback only unless --listen names another address, which then \
         needs the printed token",
    );
    settings_args(connect_args(cmd), false)
        .arg(
            value("listen", "the dashboard's address")
                .value_name("ADDR")
                .value_parser(clap::value_parser!(SocketAddr))
                .default_value(k4sync_rig::dashboard::DEFAULT_LISTEN),
        )
        .arg(
            value("out", "where takes started from the page go: OUT/<take>/")
                .value_parser(clap::value_parser!(PathBuf))
                .default_value("."),
        )
        .arg(
            value(
                "emulate",
                "serve a rig of N emulated cameras in this process (no rig directory needed)",
            )
            .value_parser(clap::value_parser!(u32)),
        )
}

fn settings(sub: &ArgMatches, defaults: [&str; 4]) -> RigSettings {
    let text = |name: &str, default: &str| {
        sub.get_one::<String>(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let [colour, depth, rate, interleave] = defaults;
    let (color_resolution, color_format) = colour_mode(&text("color-mode", colour));
    let fps = match text("rate", rate).as_str() {
        "5" => Fps::Fps5,
        "15" => Fps::Fps15,
        _ => Fps::Fps30,
    };
    let exposure = sub
        .get_one::<Option<i8>>("exposure-control")
        .copied()
        .flatten();
    RigSettings {
        config: DeviceConfig {
            color_resolution,
            color_format,
            depth_mode: depth_mode(&text("depth-mode", depth)),
            fps,
            ..DeviceConfig::default()
        },
        exposure,
        interleave: match text("interleave", interleave).as_str() {
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
        Some(("record", m)) => RigArgs::Record(record_args(m, dir(m), wait(m))),
        Some(("serve", m)) => {
            let emulate = m.get_one::<u32>("emulate").copied();
            RigArgs::Serve(ServeArgs {
                dir: dir(m),
                wait: wait(m),
                listen: m
                    .get_one::<SocketAddr>("listen")
                    .copied()
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8740))),
                settings: settings(m, defaults_for(emulate)),
                out: m.get_one::<PathBuf>("out").cloned().unwrap_or_default(),
                emulate,
            })
        }
        Some(("stop", m)) => RigArgs::Stop {
            dir: dir(m),
            wait: wait(m),
            json: m.get_flag("json"),
        },
        Some((name, m)) => RigArgs::Check {
            dir: dir(m),
            wait: wait(m),
            json: m.get_flag("json"),
            settings: settings(m, REAL_MODES),
            plan: name == "plan",
        },
        None => RigArgs::Status {
            dir: PathBuf::from("."),
            wait: Duration::from_secs(3),
            json: false,
        },
    }
}

fn record_args(m: &ArgMatches, dir: PathBuf, wait: Duration) -> RecordArgs {
    let emulate = m.get_one::<u32>("emulate").copied();
    let defaults = defaults_for(emulate);
    RecordArgs {
        dir,
        wait,
        json: m.get_flag("json"),
        settings: settings(m, defaults),
        length: m
            .get_one::<Duration>("record-length")
            .copied()
            .unwrap_or(Duration::from_secs(1)),
        out: m
            .get_one::<PathBuf>("OUTDIR")
            .or_else(|| m.get_one::<PathBuf>("out"))
            .cloned(),
        take: m.get_one::<String>("take").cloned(),
        pulse_timeout: m
            .get_one::<Duration>("pulse-timeout")
            .copied()
            .unwrap_or(Duration::from_secs(5)),
        on_fault: match m.get_one::<String>("on-fault").map(String::as_str) {
            Some("abort") => OnFault::Abort,
            _ => OnFault::Recover {
                max: m
                    .get_one::<u32>("max-recoveries")
                    .copied()
                    .unwrap_or(DEFAULT_RECOVERIES),
            },
        },
        emulate,
        web: m.get_one::<SocketAddr>("web").copied(),
    }
}

fn defaults_for(emulate: Option<u32>) -> [&'static str; 4] {
    if emulate.is_some() {
        EMULATED_MODES
    } else {
        REAL_MODES
    }
}

impl RigArgs {
    /// Whether the command's result goes to a script (`--json`).
    fn json(&self) -> bool {
        match self {
            RigArgs::Status { json, .. }
            | RigArgs::Check { json, .. }
            | RigArgs::Stop { json, .. } => *json,
            RigArgs::Record(args) => args.json,
            RigArgs::Init { .. } | RigArgs::Serve(_) => false,
        }
    }
}

pub fn run(args: RigArgs) -> ExitCode {
    let json = args.json();
    let result = match args {
        RigArgs::Record(args) => rig_record::run(args),
        RigArgs::Serve(args) => rig_serve::run(args),
        RigArgs::Stop { dir, wait, json } => k4sync_rig::block_on(async move {
            let c = Coordinator::connect(&dir, wait).await?;
            let answers = coordinator::stop_all(&c).await;
            c.close().await?;
            Ok::<bool, RigError>(rig_record::print_stops(json, &answers))
        }),
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
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": e.to_string() })
                );
            }
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

pub(crate) fn print_result<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) {
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
