//! `k4sync align A.mkv B.mkv … [--manifest rig.json] [--json] [--index sets.json]
//! [--plot timeline.svg]`: one rig's recordings → frame sets and a sync health report
//! (docs/align.md). Reads block headers only; progress on stderr for long files.
//!
//! Exit status 0 with the report; 1 with `{"ok": false, "error": …}` (or one line on stderr)
//! when a file cannot be read or the files are not one rig.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};

use k4sync_host::align::files::{align_recordings, read_recordings, Manifest, Recording};
use k4sync_host::align::{plot, report};

/// `k4sync align`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignArgs {
    pub files: Vec<PathBuf>,
    pub manifest: Option<PathBuf>,
    pub json: bool,
    pub index: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

fn path_option(name: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

pub fn command() -> Command {
    Command::new("align")
        .about("pair one rig's recordings into frame sets by device time and report sync health")
        .arg(
            Arg::new("FILES")
                .required(true)
                .num_args(1..)
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("one recording per camera of the rig (exactly one MASTER)"),
        )
        .arg(path_option(
            "manifest",
            "RIG.json",
            "rig manifest adding hosts and segments by serial",
        ))
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("print JSON instead of text"),
        )
        .arg(path_option(
            "index",
            "SETS.json",
            "write every set's frame positions per file (cluster offset, block number)",
        ))
        .arg(path_option(
            "plot",
            "TIMELINE.svg",
            "write a timeline: one lane per device, drops, sync loss, offsets",
        ))
}

pub fn from_matches(sub: &ArgMatches) -> AlignArgs {
    AlignArgs {
        files: sub
            .get_many::<PathBuf>("FILES")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        manifest: sub.get_one::<PathBuf>("manifest").cloned(),
        json: sub.get_flag("json"),
        index: sub.get_one::<PathBuf>("index").cloned(),
        plot: sub.get_one::<PathBuf>("plot").cloned(),
    }
}

/// Progress on stderr, once a file has taken more than a second, at most twice a second.
struct Progress {
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn update(&mut self, file: &Path, done: u64, total: u64) {
        let now = Instant::now();
        if now.duration_since(self.started) < Duration::from_secs(1)
            || self
                .last
                .is_some_and(|l| now.duration_since(l) < Duration::from_millis(500))
        {
            return;
        }
        self.last = Some(now);
        let percent = (done as f64 * 100.0 / total.max(1) as f64).min(100.0);
        eprint!("\rreading {}: {percent:.0}%   ", file.display());
        if done >= total {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
}

pub fn run(args: &AlignArgs) -> ExitCode {
    match align(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if args.json {
                println!("{}", report::error_json(&e));
            } else {
                eprintln!("k4sync align: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn align(args: &AlignArgs) -> Result<(), String> {
    let manifest = args.manifest.as_deref().map(Manifest::read).transpose()?;
    let mut progress = Progress {
        started: Instant::now(),
        last: None,
    };
    let recordings = read_recordings(&args.files, &mut |file, done, total| {
        progress.update(file, done, total)
    })
    .map_err(|e| e.to_string())?;
    let alignment = align_recordings(&recordings).map_err(|e| e.to_string())?;
    if let Some(path) = &args.index {
        write(path, &report::index_json(&alignment, &recordings))?;
    }
    if let Some(path) = &args.plot {
        write(path, &plot::to_svg(&alignment, &recordings)?)?;
    }
    if args.json {
        println!(
            "{}",
            report::to_json(&alignment, &recordings, manifest.as_ref())
        );
    } else {
        print!(
            "{}",
            report::to_text(&alignment, &recordings, manifest.as_ref())
        );
        println!("{}", bytes_read(&recordings));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

fn bytes_read(recordings: &[Recording]) -> String {
    let read: u64 = recordings.iter().map(|r| r.index.bytes_read).sum();
    let size: u64 = recordings.iter().map(|r| r.index.file_len).sum();
    format!(
        "read {read} of {size} bytes ({:.3}%): block headers only",
        read as f64 * 100.0 / size.max(1) as f64
    )
}
