//! `k4sync depth IN.mkv OUT.mkv` and `k4sync depth --rig MANIFEST.json OUTDIR`: raw-depth
//! recordings to standard DEPTH16/IR16 recordings with Microsoft's depth engine
//! ([`k4sync_host::depth`], docs/depth.md).
//!
//! Progress (clusters, frames, frames/s) goes to stderr — a bar on a terminal, a line a second
//! otherwise; `--json` prints one summary object on stdout. Ctrl-C stops between frames and
//! leaves no output file. Exit status 0 converted, 1 a conversion failed, 2 usage error.

use std::collections::{HashSet, VecDeque};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::output::json_str;
use crate::values;

/// The most recordings `depth --rig -j N` converts at once.
const MAX_JOBS: usize = 64;
use k4sync_host::depth::{self, ConvertOptions, ConvertSummary, DepthError, Progress};
use k4sync_host::depth_engine::{self, Engine, EngineError};

/// Arguments of `k4sync depth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthArgs {
    pub job: Job,
    pub engine: Option<PathBuf>,
    pub keep_going: bool,
    pub jobs: usize,
    pub json: bool,
}

/// One file, or a rig's files listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    File { input: PathBuf, output: PathBuf },
    Rig { manifest: PathBuf, out_dir: PathBuf },
}

pub fn command() -> Command {
    Command::new("depth")
        .about("convert raw-depth recordings into standard DEPTH16/IR16 recordings with Microsoft's depth engine")
        .arg(
            Arg::new("PATHS")
                .value_name("IN.mkv OUT.mkv | OUTDIR")
                .num_args(1..=2)
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("input and output recording; with --rig, the output directory"),
        )
        .arg(
            Arg::new("rig")
                .long("rig")
                .value_name("MANIFEST")
                .value_parser(clap::value_parser!(PathBuf))
                .help("convert every recording a rig manifest lists (docs/depth.md)"),
        )
        .arg(
            Arg::new("engine")
                .long("engine")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("the depth engine (libdepthengine.so.2.0); default: $K4SYNC_DEPTH_ENGINE, then the SDK's install locations"),
        )
        .arg(
            Arg::new("keep-going")
                .long("keep-going")
                .action(ArgAction::SetTrue)
                .help("skip frames the engine rejects instead of stopping"),
        )
        .arg(
            Arg::new("jobs")
                .short('j')
                .long("jobs")
                .value_name("N")
                .default_value("1")
                .value_parser(values::whole(1usize..=MAX_JOBS, " jobs"))
                .allow_negative_numbers(true)
                .help("with --rig: convert up to N recordings at once"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("print a JSON summary instead of text"),
        )
}

/// The arguments, or a usage error.
pub fn from_matches(sub: &ArgMatches) -> Result<DepthArgs, String> {
    let paths: Vec<PathBuf> = sub
        .get_many::<PathBuf>("PATHS")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let job = match (sub.get_one::<PathBuf>("rig"), paths.as_slice()) {
        (Some(manifest), [out_dir]) => Job::Rig {
            manifest: manifest.clone(),
            out_dir: out_dir.clone(),
        },
        (Some(_), _) => return Err("--rig MANIFEST takes one OUTDIR".to_owned()),
        (None, [input, output]) => Job::File {
            input: input.clone(),
            output: output.clone(),
        },
        (None, _) => return Err("give IN.mkv OUT.mkv, or --rig MANIFEST OUTDIR".to_owned()),
    };
    Ok(DepthArgs {
        job,
        engine: sub.get_one::<PathBuf>("engine").cloned(),
        keep_going: sub.get_flag("keep-going"),
        jobs: sub.get_one::<usize>("jobs").copied().unwrap_or(1).max(1),
        json: sub.get_flag("json"),
    })
}

/// Runs `k4sync depth`.
pub fn run(args: &DepthArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop));
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let engine_path = match depth_engine::find(args.engine.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(args.json, &e.to_string()),
    };
    let engine = match Engine::load(&engine_path) {
        Ok(e) => e,
        Err(e) => return fail(args.json, &e.to_string()),
    };
    let options = ConvertOptions {
        keep_going: args.keep_going,
    };
    match &args.job {
        Job::File { input, output } => {
            let mut printer = ProgressPrinter::new(args.json, input);
            let result = depth::convert(&engine, input, output, options, &stop, &mut |p| {
                printer.update(p)
            });
            printer.finish();
            match result {
                Ok(summary) => {
                    report(args.json, &engine, input, output, &summary);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(args.json, &e.to_string()),
            }
        }
        Job::Rig { manifest, out_dir } => {
            drop(engine);
            run_rig(args, &engine_path, manifest, out_dir, options, &stop)
        }
    }
}

fn fail(json: bool, message: &str) -> ExitCode {
    if json {
        println!(r#"{{"ok": false, "error": {}}}"#, json_str(message));
    } else {
        eprintln!("k4sync depth: {message}");
    }
    ExitCode::FAILURE
}

fn summary_json(input: &Path, output: &Path, s: &ConvertSummary) -> String {
    let skipped: Vec<String> = s
        .skipped
        .iter()
        .map(|f| {
            format!(
                r#"{{"index": {}, "device_ts_usec": {}, "code": {}}}"#,
                f.index, f.device_ts_usec, f.code
            )
        })
        .collect();
    format!(
        r#"{{"input": {}, "output": {}, "depth_mode": "{}", "frames": {}, "skipped": [{}], "color_frames": {}, "imu_samples": {}, "output_bytes": {}, "elapsed_s": {:.3}, "engine_s": {:.3}, "frames_per_s": {:.2}}}"#,
        json_str(&input.display().to_string()),
        json_str(&output.display().to_string()),
        s.depth_mode.sdk_name(),
        s.frames,
        skipped.join(", "),
        s.color_frames,
        s.imu_samples,
        s.output_bytes,
        s.elapsed.as_secs_f64(),
        s.engine_time.as_secs_f64(),
        fps(s.frames, s.elapsed),
    )
}

fn fps(frames: u64, elapsed: Duration) -> f64 {
    Progress {
        frames,
        elapsed,
        ..Progress::default()
    }
    .frames_per_sec()
}

fn report(json: bool, engine: &Engine, input: &Path, output: &Path, s: &ConvertSummary) {
    if json {
        let file = summary_json(input, output, s);
        println!(
            r#"{{"ok": true, "engine": {}, "engine_version": "{}", "files": [{file}]}}"#,
            json_str(&engine.path().display().to_string()),
            engine.version()
        );
    } else {
        eprintln!("{}", text_line(output, s));
    }
}

fn text_line(output: &Path, s: &ConvertSummary) -> String {
    let skipped = match s.skipped.len() {
        0 => String::new(),
        n => format!(", {n} rejected frame(s) skipped"),
    };
    format!(
        "{}: {} {} frames, {} colour frames, {} IMU samples in {:.1} s ({:.1} frames/s){skipped}",
        output.display(),
        s.frames,
        s.depth_mode.sdk_name(),
        s.color_frames,
        s.imu_samples,
        s.elapsed.as_secs_f64(),
        fps(s.frames, s.elapsed)
    )
}

/// Progress on stderr: an indicatif bar over the clusters on a terminal, else a line a second.
struct ProgressPrinter {
    bar: Option<indicatif::ProgressBar>,
    name: String,
    last: Option<Instant>,
}

impl ProgressPrinter {
    fn new(json: bool, input: &Path) -> Self {
        let bar =
            (!json && std::io::stderr().is_terminal()).then(indicatif::ProgressBar::no_length);
        ProgressPrinter {
            bar,
            name: input.display().to_string(),
            last: None,
        }
    }

    fn update(&mut self, p: &Progress) {
        let line = format!(
            "{}: cluster {}/{}, {} frames, {:.1} frames/s",
            self.name,
            p.clusters_done,
            p.clusters,
            p.frames,
            p.frames_per_sec()
        );
        if let Some(bar) = &self.bar {
            bar.set_length(p.clusters as u64);
            bar.set_position(p.clusters_done as u64);
            bar.set_message(line);
            return;
        }
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.last = Some(Instant::now());
            eprintln!("{line}");
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// A rig manifest (docs/depth.md): recordings per device, in segment order. The fields read
/// here are those of the manifest `k4sync rig record` writes (`k4sync_rig::take::Manifest`);
/// its other fields are not needed here.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RigManifest {
    pub devices: Vec<RigDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RigDevice {
    #[serde(default)]
    pub serial: Option<String>,
    /// Recordings of this device; relative paths are relative to the manifest.
    pub files: Vec<PathBuf>,
}

/// The (input, output) pairs a manifest asks for: each output is `out_dir/<input's name>`.
pub fn rig_jobs(manifest: &Path, out_dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let parsed: RigManifest = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a rig manifest: {e}", manifest.display()))?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let mut names = HashSet::new();
    let mut jobs = Vec::new();
    for file in parsed.devices.iter().flat_map(|d| &d.files) {
        let input = base.join(file);
        let name = input
            .file_name()
            .map(ToOwned::to_owned)
            .ok_or_else(|| format!("{}: {} names no file", manifest.display(), file.display()))?;
        if !names.insert(name.clone()) {
            return Err(format!(
                "{}: two recordings are called {}; their outputs in one directory would collide",
                manifest.display(),
                name.to_string_lossy()
            ));
        }
        let output = out_dir.join(&name);
        jobs.push((input, output));
    }
    if jobs.is_empty() {
        return Err(format!("{}: lists no recordings", manifest.display()));
    }
    Ok(jobs)
}

type Outcome = (PathBuf, PathBuf, Result<ConvertSummary, String>);

fn run_rig(
    args: &DepthArgs,
    engine_path: &Path,
    manifest: &Path,
    out_dir: &Path,
    options: ConvertOptions,
    stop: &AtomicBool,
) -> ExitCode {
    let jobs = match rig_jobs(manifest, out_dir) {
        Ok(j) => j,
        Err(e) => return fail(args.json, &e),
    };
    if let Err(e) = std::fs::create_dir_all(out_dir) {
        return fail(args.json, &format!("{}: {e}", out_dir.display()));
    }
    let total = jobs.len();
    let run = RigRun {
        engine_path,
        queue: Mutex::new(jobs.into_iter().collect()),
        outcomes: Mutex::new(Vec::new()),
        version: Mutex::new(None),
        options,
        stop,
        json: args.json,
        total,
    };
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(total) {
            scope.spawn(|| run.work());
        }
    });
    let RigRun {
        outcomes, version, ..
    } = run;
    let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    let failed = outcomes.iter().filter(|o| o.2.is_err()).count();
    if args.json {
        let files: Vec<String> = outcomes
            .iter()
            .map(|(i, o, r)| match r {
                Ok(s) => summary_json(i, o, s),
                Err(e) => format!(
                    r#"{{"input": {}, "output": {}, "error": {}}}"#,
                    json_str(&i.display().to_string()),
                    json_str(&o.display().to_string()),
                    json_str(e)
                ),
            })
            .collect();
        let version = version.into_inner().ok().flatten().unwrap_or_default();
        println!(
            r#"{{"ok": {}, "engine": {}, "engine_version": "{version}", "files": [{}]}}"#,
            failed == 0,
            json_str(&engine_path.display().to_string()),
            files.join(", ")
        );
    } else if failed > 0 {
        eprintln!("k4sync depth: {failed} of {total} recording(s) failed");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What the workers of `--rig` share: the jobs left, the outcomes so far, the engine's
/// version as the first worker to load it saw it.
struct RigRun<'a> {
    engine_path: &'a Path,
    queue: Mutex<VecDeque<(PathBuf, PathBuf)>>,
    outcomes: Mutex<Vec<Outcome>>,
    version: Mutex<Option<String>>,
    options: ConvertOptions,
    stop: &'a AtomicBool,
    json: bool,
    total: usize,
}

impl RigRun<'_> {
    /// One worker: its own engine (a context belongs to the thread that made it), jobs taken
    /// from the queue until it is empty or `stop` is set.
    fn work(&self) {
        let engine = Engine::load(self.engine_path);
        while let Some((input, output)) = self.queue.lock().ok().and_then(|mut q| q.pop_front()) {
            let result = self.convert(&engine, &input, &output);
            self.finished(input, output, result);
        }
    }

    /// Converts one recording, or says why not (stopped, the engine did not load).
    fn convert(
        &self,
        engine: &Result<Engine, EngineError>,
        input: &Path,
        output: &Path,
    ) -> Result<ConvertSummary, String> {
        let engine = match engine {
            _ if self.stop.load(Ordering::Acquire) => {
                let path = output.to_owned();
                return Err(DepthError::Interrupted { path }.to_string());
            }
            Err(e) => return Err(engine_error(self.engine_path, e)),
            Ok(engine) => engine,
        };
        if let Ok(mut v) = self.version.lock() {
            v.get_or_insert_with(|| engine.version().to_string());
        }
        let mut printer = ProgressPrinter::new(true, input);
        depth::convert(engine, input, output, self.options, self.stop, &mut |p| {
            printer.update(p)
        })
        .map_err(|e| e.to_string())
    }

    /// Keeps a job's outcome and, for humans, prints it numbered.
    fn finished(&self, input: PathBuf, output: PathBuf, result: Result<ConvertSummary, String>) {
        let Ok(mut all) = self.outcomes.lock() else {
            return;
        };
        let (n, total) = (all.len() + 1, self.total);
        if !self.json {
            match &result {
                Ok(s) => eprintln!("[{n}/{total}] {}", text_line(&output, s)),
                Err(e) => eprintln!("[{n}/{total}] k4sync depth: {e}"),
            }
        }
        all.push((input, output, result));
    }
}

fn engine_error(path: &Path, e: &EngineError) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<DepthArgs, String> {
        let m = command()
            .try_get_matches_from(std::iter::once("depth").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        from_matches(&m)
    }

    #[test]
    fn one_file_takes_input_and_output() {
        let a = parse(&["in.mkv", "out.mkv", "--keep-going", "--engine", "/e.so"]).unwrap();
        assert_eq!(
            a.job,
            Job::File {
                input: "in.mkv".into(),
                output: "out.mkv".into()
            }
        );
        assert!(a.keep_going);
        assert_eq!(a.engine, Some(PathBuf::from("/e.so")));
        assert!(parse(&["in.mkv"]).is_err());
    }

    #[test]
    fn a_rig_takes_a_manifest_and_one_directory() {
        let a = parse(&["--rig", "rig.json", "out", "-j", "3"]).unwrap();
        assert_eq!(
            a.job,
            Job::Rig {
                manifest: "rig.json".into(),
                out_dir: "out".into()
            }
        );
        assert_eq!(a.jobs, 3);
        assert!(parse(&["--rig", "rig.json", "a", "b"]).is_err());
    }

    #[test]
    fn manifests_resolve_paths_beside_themselves_and_refuse_colliding_names() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("rig.json");
        std::fs::write(
            &m,
            r#"{"devices": [{"serial": "1", "files": ["a/s0.mkv", "a/s1.mkv"]},
                            {"files": ["/abs/b0.mkv"]}]}"#,
        )
        .unwrap();
        let jobs = rig_jobs(&m, Path::new("out")).unwrap();
        assert_eq!(
            jobs,
            vec![
                (dir.path().join("a/s0.mkv"), PathBuf::from("out/s0.mkv")),
                (dir.path().join("a/s1.mkv"), PathBuf::from("out/s1.mkv")),
                (PathBuf::from("/abs/b0.mkv"), PathBuf::from("out/b0.mkv")),
            ]
        );
        std::fs::write(&m, r#"{"devices": [{"files": ["x/s.mkv", "y/s.mkv"]}]}"#).unwrap();
        assert!(rig_jobs(&m, Path::new("out"))
            .unwrap_err()
            .contains("collide"));
        std::fs::write(&m, r#"{"cameras": []}"#).unwrap();
        assert!(rig_jobs(&m, Path::new("out")).is_err());
    }

    #[test]
    fn the_manifest_rig_record_writes_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join(k4sync_rig::take::MANIFEST_FILE);
        std::fs::write(
            &m,
            r#"{"format": "k4sync-rig-manifest", "version": 1, "rig": "r", "take": "t",
                "outcome": "completed", "events": [],
                "devices": [{"agent": "cam0", "host": "127.0.0.1", "serial": "1",
                             "role": "MASTER", "files": ["cam0.mkv"],
                             "segments": [{"segment": 0, "file": "cam0.mkv", "frames": 3,
                                           "dropped": 0}]}]}"#,
        )
        .unwrap();
        let jobs = rig_jobs(&m, Path::new("out")).unwrap();
        assert_eq!(
            jobs,
            vec![(dir.path().join("cam0.mkv"), PathBuf::from("out/cam0.mkv"))]
        );
    }
}
