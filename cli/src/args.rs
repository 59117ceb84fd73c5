//! The `k4sync` command line: argument parsing into an [`Invocation`]; each subcommand's work
//! lives in its own module of the binary.

use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use k4sync_host::Source;

use crate::{agent, align, depth, record, rig, values};

/// The most cameras `--emulate N` builds.
pub const MAX_EMULATED_CAMERAS: usize = 32;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `k4sync demo [--json]`: the offline codec round trip.
    Demo { json: bool },
    /// `k4sync [--emulate N] list [--json]`.
    List { json: bool, source: Source },
    /// `k4sync info FILE [--json]`: what a recording holds.
    Info { file: PathBuf, json: bool },
    /// `k4sync export FILE DIR [--json]`: frames, IMU samples and timestamps as plain files.
    Export {
        file: PathBuf,
        dir: PathBuf,
        json: bool,
    },
    /// `k4sync repair FILE [-o OUT]`: rewrite an unfinalized or cut recording.
    Repair {
        file: PathBuf,
        output: Option<PathBuf>,
    },
    /// `k4sync record [OPTIONS] OUTPUT.mkv`: k4arecorder's options (see [`record`]).
    Record(Box<record::RecordArgs>),
    /// `k4sync align FILE… [OPTIONS]`: frame sets of one rig's recordings (see [`align`]).
    Align(align::AlignArgs),
    /// `k4sync depth IN OUT | --rig MANIFEST OUTDIR`: raw depth to DEPTH16/IR16 (see [`depth`]).
    Depth(Box<depth::DepthArgs>),
    /// `k4sync agent ...`: serve a camera to a rig (see [`agent`]).
    Agent(Box<k4sync_rig::agent::AgentOptions>),
    /// `k4sync rig ...`: the rig's coordinator (see [`rig`]).
    Rig(Box<rig::RigArgs>),
}

/// The clap definition of the whole command line.
pub fn command() -> Command {
    let json = || {
        Arg::new("json")
            .long("json")
            .action(ArgAction::SetTrue)
            .help("print JSON instead of text")
    };
    Command::new("k4sync")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Azure Kinect DK wired multi-device sync over USB")
        .subcommand_required(true)
        .arg(
            Arg::new("emulate")
                .long("emulate")
                .value_name("N")
                .value_parser(values::whole(1usize..=MAX_EMULATED_CAMERAS, " cameras"))
                .allow_negative_numbers(true)
                .global(true)
                .help("use N emulated cameras instead of USB"),
        )
        .subcommand(
            Command::new("list")
                .about("list connected cameras: serial, firmware, USB speed, bus path, sync jacks")
                .arg(json()),
        )
        .subcommand(
            Command::new("demo")
                .about("round-trip every command through the codec (no camera needed)")
                .arg(json()),
        )
        .subcommand(
            Command::new("info")
                .about("summarize a recording: configuration, tracks, tags, counts, timestamps")
                .arg(path_arg("FILE", "the .mkv recording"))
                .arg(json()),
        )
        .subcommand(
            Command::new("export")
                .about("write a recording's frames, IMU samples and timestamps as plain files")
                .arg(path_arg("FILE", "the .mkv recording"))
                .arg(path_arg("DIR", "output directory (created if missing)"))
                .arg(json()),
        )
        .subcommand(record::command())
        .subcommand(align::command())
        .subcommand(depth::command())
        .subcommand(agent::command())
        .subcommand(rig::command())
        .subcommand(
            Command::new("repair")
                .about("rewrite a recording cut by a crash so that every reader opens it")
                .arg(path_arg("FILE", "the .mkv recording"))
                .arg(
                    Arg::new("output")
                        .short('o')
                        .long("output")
                        .value_name("OUT")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("write the repaired file here instead of replacing FILE"),
                ),
        )
}

fn path_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .required(true)
        .value_name(name)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

fn path(sub: &clap::ArgMatches, name: &str) -> PathBuf {
    sub.get_one::<PathBuf>(name).cloned().unwrap_or_default()
}

/// Parses `args` (without the program name).
pub fn parse<I, S>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(
        std::iter::once(std::ffi::OsString::from("k4sync")).chain(args.into_iter().map(Into::into)),
    )?;
    // `record --emulate` is a flag of its own (a bool), which clap propagates up here too.
    let source = match matches.try_get_one::<usize>("emulate") {
        Ok(Some(&cameras)) => Source::Emulated { cameras },
        _ => Source::Usb,
    };
    match matches.subcommand() {
        Some(("list", sub)) => Ok(Invocation::List {
            json: sub.get_flag("json"),
            source,
        }),
        Some(("demo", sub)) => Ok(Invocation::Demo {
            json: sub.get_flag("json"),
        }),
        Some(("info", sub)) => Ok(Invocation::Info {
            file: path(sub, "FILE"),
            json: sub.get_flag("json"),
        }),
        Some(("export", sub)) => Ok(Invocation::Export {
            file: path(sub, "FILE"),
            dir: path(sub, "DIR"),
            json: sub.get_flag("json"),
        }),
        Some(("repair", sub)) => Ok(Invocation::Repair {
            file: path(sub, "FILE"),
            output: sub.get_one::<PathBuf>("output").cloned(),
        }),
        Some(("record", sub)) => Ok(Invocation::Record(Box::new(record::from_matches(sub)))),
        Some(("align", sub)) => Ok(Invocation::Align(align::from_matches(sub))),
        Some(("depth", sub)) => depth::from_matches(sub)
            .map(|a| Invocation::Depth(Box::new(a)))
            .map_err(|e| command().error(clap::error::ErrorKind::ArgumentConflict, e)),
        Some(("agent", sub)) => agent::from_matches(sub)
            .map(|options| Invocation::Agent(Box::new(options)))
            .map_err(|e| command().error(clap::error::ErrorKind::MissingRequiredArgument, e)),
        Some(("rig", sub)) => Ok(Invocation::Rig(Box::new(rig::from_matches(sub)))),
        _ => Err(command().error(
            clap::error::ErrorKind::MissingSubcommand,
            "a subcommand is required",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_demo_parse_with_their_flags() {
        assert_eq!(
            parse(["list", "--json"]).ok(),
            Some(Invocation::List {
                json: true,
                source: Source::Usb
            })
        );
        assert_eq!(
            parse(["--emulate", "3", "list"]).ok(),
            Some(Invocation::List {
                json: false,
                source: Source::Emulated { cameras: 3 }
            })
        );
        assert_eq!(
            parse(["list", "--emulate", "2"]).ok(),
            Some(Invocation::List {
                json: false,
                source: Source::Emulated { cameras: 2 }
            })
        );
        assert_eq!(parse(["demo"]).ok(), Some(Invocation::Demo { json: false }));
        assert!(parse(["list", "--emulate", "x"]).is_err());
        assert!(parse(["frobnicate"]).is_err());
    }

    #[test]
    fn recording_subcommands_take_their_paths_and_flags() {
        assert_eq!(
            parse(["info", "a.mkv", "--json"]).ok(),
            Some(Invocation::Info {
                file: "a.mkv".into(),
                json: true
            })
        );
        assert_eq!(
            parse(["export", "a.mkv", "out"]).ok(),
            Some(Invocation::Export {
                file: "a.mkv".into(),
                dir: "out".into(),
                json: false
            })
        );
        assert_eq!(
            parse(["repair", "a.mkv", "-o", "b.mkv"]).ok(),
            Some(Invocation::Repair {
                file: "a.mkv".into(),
                output: Some("b.mkv".into())
            })
        );
        assert_eq!(
            parse(["repair", "a.mkv"]).ok(),
            Some(Invocation::Repair {
                file: "a.mkv".into(),
                output: None
            })
        );
        assert!(parse(["info"]).is_err());
        assert!(parse(["export", "a.mkv"]).is_err());
    }

    #[test]
    fn align_takes_files_and_its_outputs() {
        assert_eq!(
            parse(["align", "a.mkv", "b.mkv", "--json", "--index", "s.json", "--plot", "t.svg"])
                .ok(),
            Some(Invocation::Align(align::AlignArgs {
                files: vec!["a.mkv".into(), "b.mkv".into()],
                manifest: None,
                json: true,
                index: Some("s.json".into()),
                plot: Some("t.svg".into()),
            }))
        );
        assert!(parse(["align"]).is_err());
    }
}
