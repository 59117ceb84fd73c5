//! The `k4sync` command line: argument parsing into an [`Invocation`]; each subcommand's work
//! lives in its own module.

use clap::{Arg, ArgAction, Command};

use crate::discovery::Source;

pub mod list;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `k4sync demo [--json]`: the offline codec round trip.
    Demo { json: bool },
    /// `k4sync [--emulate N] list [--json]`.
    List { json: bool, source: Source },
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
                .value_parser(clap::value_parser!(usize))
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
    let source = match matches.get_one::<usize>("emulate") {
        Some(&cameras) => Source::Emulated { cameras },
        None => Source::Usb,
    };
    match matches.subcommand() {
        Some(("list", sub)) => Ok(Invocation::List {
            json: sub.get_flag("json"),
            source,
        }),
        Some(("demo", sub)) => Ok(Invocation::Demo {
            json: sub.get_flag("json"),
        }),
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
}
