//! `k4sync record [OPTIONS] OUTPUT.mkv`: k4arecorder's command line over [`k4sync_host::record`].
//!
//! Options keep k4arecorder's names, values and defaults (`--device`, `-l`, `-c`, `-d`,
//! `--depth-delay`, `-r`, `--imu`, `--external-sync`, `--sync-delay`, `-e`, `--list`), plus
//! `--emulate` (record from the built-in emulator, real-time paced; with `--external-sync sub`
//! a virtual master on the same emulated cable starts 1.5 s after the subordinate) and `--json`
//! (status lines as JSON on stdout).
//!
//! The configuration is validated before any device is opened (the jack rules right after
//! opening, before the file is created). Exit status: 0 recorded (also when stopped with
//! Ctrl-C or SIGTERM), 1 runtime error (the message names what and where), 2 usage or
//! configuration error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};
use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};

use k4sync_core::colour_control::{
    manual_exposure, ABSOLUTE_USEC_RANGE, EXPONENT_RANGE, GAIN_RANGE,
};
use k4sync_host::transport::emulated::{
    params_for, EmulatedCamera, EmulatedRig, EmulatedTransport, Pacing,
};
use k4sync_host::Error;
use k4sync_host::Source;
use k4sync_host::{
    create_output, record, record_to_file, validate_without_jack, ColourControls, DropPolicy,
    Exposure, RecordError, RecordOptions, RecordStats, Summary, SyncState, VirtualMaster,
};
use k4sync_host::{Device, Selector};

use crate::fault_control::{self, SwitchableFullSink};
use crate::values::{self, LONGEST_PERIOD_USEC};

/// How long the virtual master of `--emulate --external-sync sub` waits before it starts.
pub const VIRTUAL_MASTER_DELAY: Duration = Duration::from_millis(1500);

/// Everything `k4sync record` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordArgs {
    pub output: PathBuf,
    /// `--device`: index, serial or `emu:<n>`.
    pub device: String,
    pub config: DeviceConfig,
    pub record_length: Option<Duration>,
    /// `-e`: colour exposure, set on the camera before it starts.
    pub exposure: Exposure,
    /// `-g`: manual colour gain; `None` leaves the camera's gain alone.
    pub gain: Option<u8>,
    pub list: bool,
    pub emulate: bool,
    /// `--emulate-pacing` (hidden): the emulator's clock; virtual also makes the writer queue
    /// block instead of dropping.
    pub emulate_pacing: Pacing,
    pub json: bool,
    /// Hidden `--emulate-fault-control <PATH|->`: fault commands for the emulated camera
    /// ([`crate::fault_control`]).
    pub fault_control: Option<PathBuf>,
}

const COLOR_MODES: [&str; 9] = [
    "3072p",
    "2160p",
    "1536p",
    "1440p",
    "1080p",
    "720p",
    "720p_NV12",
    "720p_YUY2",
    "OFF",
];
const DEPTH_MODES: [&str; 6] = [
    "NFOV_2X2BINNED",
    "NFOV_UNBINNED",
    "WFOV_2X2BINNED",
    "WFOV_UNBINNED",
    "PASSIVE_IR",
    "OFF",
];

/// `-c` and `-d` with k4arecorder's names, values and defaults (`rig check` takes them too).
pub(crate) fn mode_args() -> [Arg; 2] {
    [
        Arg::new("color-mode")
            .long("color-mode")
            .action(ArgAction::Set)
            .help("colour camera mode")
            .short('c')
            .value_parser(COLOR_MODES)
            .ignore_case(true)
            .default_value("1080p"),
        Arg::new("depth-mode")
            .long("depth-mode")
            .action(ArgAction::Set)
            .help("depth camera mode")
            .short('d')
            .value_parser(DEPTH_MODES)
            .ignore_case(true)
            .default_value("NFOV_UNBINNED"),
    ]
}

/// `-r/--rate`, shared by `record` and the rig's `check` and `plan`.
pub(crate) fn rate_arg() -> Arg {
    Arg::new("rate")
        .long("rate")
        .action(ArgAction::Set)
        .help("camera frame rate, fps")
        .short('r')
        .value_parser(["30", "15", "5"])
        .default_value("30")
}

/// The `record` subcommand's clap definition.
pub fn command() -> Command {
    let value = |name: &'static str, help: &'static str| {
        Arg::new(name).long(name).action(ArgAction::Set).help(help)
    };
    Command::new("record")
        .about("record a camera (or the emulator) into a k4arecorder-compatible .mkv")
        .args_override_self(true)
        .arg(
            Arg::new("OUTPUT")
                .value_name("OUTPUT.mkv")
                .value_parser(clap::value_parser!(PathBuf))
                .required_unless_present("list")
                .help("the recording to write"),
        )
        .arg(value("device", "camera: index (default 0), serial or emu:<n>").default_value("0"))
        .arg(
            value("record-length", "seconds to record from the first frame (default: until Ctrl-C)")
                .short('l')
                .value_name("SECONDS")
                .allow_negative_numbers(true)
                .value_parser(values::positive_seconds),
        )
        .args(mode_args())
        .arg(
            value("depth-delay", "depth capture delay relative to colour, µs (within one frame period)")
                .value_name("USEC")
                .value_parser(values::whole(-LONGEST_PERIOD_USEC..=LONGEST_PERIOD_USEC, " µs"))
                .allow_negative_numbers(true)
                .default_value("0"),
        )
        .arg(rate_arg())
        .arg(
            value("imu", "record the IMU")
                .value_parser(["ON", "OFF"])
                .ignore_case(true)
                .default_value("ON"),
        )
        .arg(
            value("external-sync", "wired sync mode")
                .value_parser(["master", "subordinate", "sub", "standalone"])
                .ignore_case(true)
                .default_value("standalone"),
        )
        .arg(
            value("sync-delay", "capture delay after the master's pulse, µs (subordinate only, within one frame period)")
                .value_name("USEC")
                .value_parser(values::whole(0..=LONGEST_PERIOD_USEC.unsigned_abs(), " µs"))
                .allow_negative_numbers(true)
                .default_value("0"),
        )
        .arg(
            value("exposure-control", "colour exposure set on the camera: an exponent -11..1 (2^e s), a time 2..200000 µs (rounded up to the camera's table), or auto")
                .short('e')
                .allow_negative_numbers(true)
                .value_parser(parse_exposure)
                .default_value("auto"),
        )
        .arg(
            value("gain", "manual colour gain 0..255 set on the camera (default: the camera's)")
                .short('g')
                .allow_negative_numbers(true)
                .value_parser(parse_gain),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("list the cameras and exit"),
        )
        .arg(
            Arg::new("emulate")
                .long("emulate")
                .action(ArgAction::SetTrue)
                .help("record from the built-in emulator (real-time)"),
        )
        .arg(
            value("emulate-pacing", "emulator clock: realtime, or virtual (as fast as the host writes, nothing dropped; for benchmarks)")
                .value_parser(["realtime", "virtual"])
                .ignore_case(true)
                .default_value("realtime")
                .hide(true),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("print status lines as JSON on stdout"),
        )
        .arg(
            value("emulate-fault-control", "fault commands for the emulator, one a line (- is stdin)")
                .value_parser(clap::value_parser!(PathBuf))
                .hide(true),
        )
}

/// `-e` as k4arecorder reads it: `auto`, an exponent −11..1 or an absolute 2..200,000 µs.
pub(crate) fn parse_exposure(text: &str) -> Result<Exposure, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Exposure::Auto);
    }
    let value = text.parse::<i32>().map_err(|_| exposure_range(text))?;
    manual_exposure(value).map_err(|_| exposure_range(text))
}

fn exposure_range(text: &str) -> String {
    format!(
        "{text:?}: -e/--exposure-control takes an exponent from {} to {}, a time from {} to {} µs, \
         or auto",
        EXPONENT_RANGE.start(),
        EXPONENT_RANGE.end(),
        ABSOLUTE_USEC_RANGE.start(),
        ABSOLUTE_USEC_RANGE.end(),
    )
}

/// `-e` for the rig, whose messages carry an exponent: `auto` (`None`) or −11..1.
pub(crate) fn parse_exposure_exponent(text: &str) -> Result<Option<i8>, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match text.parse::<i8>() {
        Ok(v) if EXPONENT_RANGE.contains(&i32::from(v)) => Ok(Some(v)),
        _ => Err(format!(
            "{text:?}: -e/--exposure-control takes an exponent from {} to {}, or auto",
            EXPONENT_RANGE.start(),
            EXPONENT_RANGE.end(),
        )),
    }
}

/// `-g`: a gain 0..255.
pub(crate) fn parse_gain(text: &str) -> Result<u8, String> {
    text.parse::<i32>()
        .ok()
        .filter(|v| GAIN_RANGE.contains(v))
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| {
            format!(
                "{text:?}: -g/--gain takes a gain from {} to {}",
                GAIN_RANGE.start(),
                GAIN_RANGE.end()
            )
        })
}

pub(crate) fn colour_mode(text: &str) -> (ColorResolution, ColorFormat) {
    let upper = text.to_ascii_uppercase();
    let (resolution, format) = match upper.split_once('_') {
        Some((r, "NV12")) => (r.to_string(), ColorFormat::Nv12),
        Some((r, "YUY2")) => (r.to_string(), ColorFormat::Yuy2),
        _ => (upper, ColorFormat::Mjpg),
    };
    let resolution = match resolution.as_str() {
        "3072P" => ColorResolution::R3072p,
        "2160P" => ColorResolution::R2160p,
        "1536P" => ColorResolution::R1536p,
        "1440P" => ColorResolution::R1440p,
        "1080P" => ColorResolution::R1080p,
        "720P" => ColorResolution::R720p,
        _ => ColorResolution::Off,
    };
    (resolution, format)
}

pub(crate) fn depth_mode(text: &str) -> DepthMode {
    let upper = text.to_ascii_uppercase();
    DepthMode::ALL
        .into_iter()
        .find(|m| m.sdk_name().eq_ignore_ascii_case(&upper))
        .unwrap_or(DepthMode::Off)
}

/// Reads the `record` subcommand's matches.
pub fn from_matches(sub: &ArgMatches) -> RecordArgs {
    let text = |name: &str| sub.get_one::<String>(name).cloned().unwrap_or_default();
    let (color_resolution, color_format) = colour_mode(&text("color-mode"));
    let fps = match text("rate").as_str() {
        "5" => Fps::Fps5,
        "15" => Fps::Fps15,
        _ => Fps::Fps30,
    };
    let sync_mode = match text("external-sync").to_ascii_lowercase().as_str() {
        "master" => WiredSyncMode::Master,
        "subordinate" | "sub" => WiredSyncMode::Subordinate,
        _ => WiredSyncMode::Standalone,
    };
    let config = DeviceConfig {
        color_format,
        color_resolution,
        depth_mode: depth_mode(&text("depth-mode")),
        fps,
        sync_mode,
        subordinate_delay_off_master_usec: sub.get_one::<u32>("sync-delay").copied().unwrap_or(0),
        depth_delay_off_color_usec: sub.get_one::<i32>("depth-delay").copied().unwrap_or(0),
        imu: text("imu").eq_ignore_ascii_case("ON"),
        ..DeviceConfig::default()
    };
    RecordArgs {
        output: sub
            .get_one::<PathBuf>("OUTPUT")
            .cloned()
            .unwrap_or_default(),
        device: text("device"),
        config,
        record_length: sub.get_one::<Duration>("record-length").copied(),
        exposure: sub
            .get_one::<Exposure>("exposure-control")
            .copied()
            .unwrap_or(Exposure::Auto),
        gain: sub.get_one::<u8>("gain").copied(),
        list: sub.get_flag("list"),
        // A top-level `--emulate N` given before `record` reaches here as a number.
        emulate: sub
            .try_get_one::<bool>("emulate")
            .map_or(true, |v| v.copied().unwrap_or(false)),
        emulate_pacing: if text("emulate-pacing").eq_ignore_ascii_case("virtual") {
            Pacing::Virtual
        } else {
            Pacing::RealTime
        },
        json: sub.get_flag("json"),
        fault_control: sub.get_one::<PathBuf>("emulate-fault-control").cloned(),
    }
}

/// What the device side of a recording is made of.
struct Opened {
    device: Device,
    _master: Option<VirtualMaster>,
    camera: Option<EmulatedCamera>,
}

fn open(args: &RecordArgs) -> Result<Opened, Error> {
    let selector: Selector = args.device.parse()?;
    let emulated = match (&selector, args.emulate) {
        (Selector::Emulated(n), _) => Some(*n),
        (Selector::Index(i), true) => Some(u32::try_from(*i).unwrap_or(0)),
        (Selector::Serial(s), true) => {
            return Err(Error::NotFound {
                what: format!("emulated camera {s:?}; with --emulate, --device takes an index"),
            })
        }
        _ => None,
    };
    let Some(n) = emulated else {
        return Ok(Opened {
            device: Device::open(&selector)?,
            _master: None,
            camera: None,
        });
    };
    match args.config.sync_mode {
        WiredSyncMode::Standalone => {
            let transport = EmulatedTransport::with_pacing(n, args.emulate_pacing);
            let camera = Some(transport.camera());
            Ok(Opened {
                device: Device::from_transport(Box::new(transport))?,
                _master: None,
                camera,
            })
        }
        WiredSyncMode::Master => {
            let rig = EmulatedRig::new([params_for(n), params_for(n + 1)], args.emulate_pacing);
            rig.connect(0, 1);
            Ok(Opened {
                device: Device::from_transport(Box::new(rig.transport(0)))?,
                _master: None,
                camera: Some(rig.camera(0)),
            })
        }
        WiredSyncMode::Subordinate => {
            let rig = EmulatedRig::new([params_for(n + 1), params_for(n)], args.emulate_pacing);
            rig.connect(0, 1);
            let device = Device::from_transport(Box::new(rig.transport(1)))?;
            let master = VirtualMaster::spawn(
                rig.transport(0),
                VirtualMaster::config_for(&args.config),
                VIRTUAL_MASTER_DELAY,
            );
            Ok(Opened {
                device,
                _master: Some(master),
                camera: Some(rig.camera(1)),
            })
        }
    }
}

fn fail(args: &RecordArgs, message: impl std::fmt::Display, code: u8) -> ExitCode {
    if args.json {
        println!(
            "{{\"ok\":false,\"error\":{}}}",
            crate::output::json_str(&message.to_string())
        );
    }
    eprintln!("k4sync record: {message}");
    ExitCode::from(code)
}

/// Prints the live status: an indicatif spinner line on a terminal, a line a second otherwise,
/// a JSON object a second with `--json`.
struct StatusPrinter {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
    last: Option<Instant>,
    last_state: Option<SyncState>,
    device_events: u64,
}

impl StatusPrinter {
    fn new(json: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        StatusPrinter {
            json,
            bar,
            last: None,
            last_state: None,
            device_events: 0,
        }
    }

    fn update(&mut self, stats: &RecordStats) {
        if let (true, Some(notice)) = (
            stats.device_events > self.device_events,
            stats.last_device_event,
        ) {
            self.device_events = stats.device_events;
            match (&self.bar, self.json) {
                (_, true) => println!("{}", notice.to_json()),
                (Some(bar), false) => bar.println(notice.to_string()),
                (None, false) => eprintln!("{notice}"),
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_message(stats.to_string());
            return;
        }
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            || self.last_state != Some(stats.sync);
        if !due {
            return;
        }
        self.last = Some(Instant::now());
        self.last_state = Some(stats.sync);
        if self.json {
            println!("{}", stats.to_json());
        } else {
            eprintln!("{stats}");
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

/// Runs `k4sync record`.
pub fn run(args: &RecordArgs) -> ExitCode {
    if args.list {
        let source = if args.emulate {
            Source::Emulated { cameras: 1 }
        } else {
            Source::Usb
        };
        return crate::list::run(args.json, &source);
    }
    let (stop, mut opened, options) = match prepare(args) {
        Ok(prepared) => prepared,
        Err((message, code)) => return fail(args, message, code),
    };
    let mut printer = StatusPrinter::new(args.json);
    // The fault control reports the recorder's progress with each fault; only then is the
    // newest status kept.
    let latest = args
        .fault_control
        .as_ref()
        .map(|_| Arc::new(Mutex::new(None)));
    let mut on_status = |s: &RecordStats| {
        printer.update(s);
        if let Some(Ok(mut latest)) = latest.as_ref().map(|l| l.lock()) {
            *latest = Some(*s);
        }
    };
    let result = match (&args.fault_control, &latest) {
        (Some(source), Some(progress)) => {
            let controlled = record_under_fault_control(
                args,
                source,
                progress,
                &mut opened,
                &options,
                &stop,
                &mut on_status,
            );
            match controlled {
                Ok(result) => result,
                Err((message, code)) => return fail(args, message, code),
            }
        }
        _ => record_to_file(
            &mut opened.device,
            &args.output,
            &options,
            &stop,
            &mut on_status,
        ),
    };
    printer.finish();
    drop(opened);
    report(args, result)
}

/// What stops a command before it records: the message and the exit status.
type Refusal = (String, u8);

/// Checks the configuration, installs the stop signals, opens the camera and checks its
/// jacks; returns the stop flag, the camera and the recorder's options.
fn prepare(args: &RecordArgs) -> Result<(Arc<AtomicBool>, Opened, RecordOptions), Refusal> {
    if let Err(e) = validate_without_jack(&args.config) {
        return Err((format!("invalid configuration: {e}"), 2));
    }
    let manual = args.exposure != Exposure::Auto || args.gain.is_some();
    if manual && !args.config.colour_enabled() {
        return Err((
            "-e/--exposure-control and -g/--gain set the colour camera, which -c OFF turns off; \
             drop them or choose a colour resolution"
                .into(),
            2,
        ));
    }
    let emulated = args.emulate || args.device.starts_with("emu:");
    if args.fault_control.is_some() && !emulated {
        return Err(("--emulate-fault-control needs --emulate".into(), 2));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop));
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            return Err((format!("could not install the signal handler: {e}"), 1));
        }
    }
    let mut opened = match open(args) {
        Ok(o) => o,
        Err(e @ (Error::NotFound { .. } | Error::NoUsbSubsystem { .. })) if !args.emulate => {
            return Err((
                format!(
                    "no camera found ({e}); pass --emulate to record from the built-in emulator"
                ),
                1,
            ))
        }
        Err(e) => return Err((e.to_string(), 1)),
    };
    if args.config.needs_jack_state() {
        let checked = opened
            .device
            .jack_state()
            .map(|jack| args.config.validate(Some(jack)));
        match checked {
            Ok(Err(e)) => {
                let serial = opened.device.serial();
                return Err((format!("camera {serial}: invalid configuration: {e}"), 2));
            }
            Err(e) => return Err((e.to_string(), 1)),
            Ok(Ok(_)) => {}
        }
    }
    let mut options = RecordOptions::new(args.config);
    if emulated && args.emulate_pacing == Pacing::Virtual {
        options.drop_policy = DropPolicy::Block;
    }
    options.record_length = args.record_length;
    options.colour_controls = ColourControls {
        exposure: args.exposure,
        gain: args.gain,
    };
    Ok((stop, opened, options))
}

/// Records with the emulated camera under `--emulate-fault-control`: faults from `source`,
/// a disk that can be made full, the progress reported with each fault.
fn record_under_fault_control(
    args: &RecordArgs,
    source: &Path,
    progress: &Arc<Mutex<Option<RecordStats>>>,
    opened: &mut Opened,
    options: &RecordOptions,
    stop: &AtomicBool,
    on_status: &mut dyn FnMut(&RecordStats),
) -> Result<Result<Summary, RecordError>, Refusal> {
    let Some(camera) = opened.camera.clone() else {
        return Err(("--emulate-fault-control needs --emulate".into(), 2));
    };
    let input = fault_control::open(source).map_err(|e| (e.to_string(), 1))?;
    let disk_full = Arc::new(AtomicBool::new(false));
    let targets = fault_control::Targets {
        camera,
        disk_full: Arc::clone(&disk_full),
        progress: Arc::clone(progress),
        json: args.json,
    };
    fault_control::spawn(input, targets, source.to_owned());
    Ok(create_output(&args.output).and_then(|file| {
        let sink = SwitchableFullSink::new(file, disk_full);
        record(
            &mut opened.device,
            sink,
            &args.output,
            options,
            stop,
            on_status,
        )
    }))
}

/// Prints the result (text on stderr, or one JSON object) and gives the exit status.
fn report(args: &RecordArgs, result: Result<Summary, RecordError>) -> ExitCode {
    match result {
        Ok(summary) => {
            let s = summary.stats;
            if args.json {
                println!(
                    "{{\"ok\":true,\"output\":{},\"colour_controls\":{},\"stats\":{}}}",
                    crate::output::json_str(&args.output.display().to_string()),
                    controls_json(summary.colour_controls),
                    s.to_json()
                );
            } else {
                eprintln!("recorded {}: {s}", args.output.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = if e.is_usage() { 2 } else { 1 };
            fail(args, described(&e, &args.output), code)
        }
    }
}

/// The colour controls the camera reported, as JSON: `{"exposure": "auto"|"manual",
/// "exposure_usec": N|null, "gain": N|null}`, or `null` when colour was off.
fn controls_json(controls: Option<ColourControls>) -> String {
    let Some(c) = controls else {
        return "null".into();
    };
    let (mode, usec) = match c.exposure {
        Exposure::Auto => ("auto", "null".to_string()),
        Exposure::Manual { usec } => ("manual", usec.to_string()),
    };
    let gain = c.gain.map_or("null".to_string(), |g| g.to_string());
    format!("{{\"exposure\":\"{mode}\",\"exposure_usec\":{usec},\"gain\":{gain}}}")
}

fn described(e: &RecordError, output: &Path) -> String {
    match e {
        RecordError::Device(_) | RecordError::Config(_) => {
            format!("recording to {}: {e}", output.display())
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{parse, Invocation};

    fn args(list: &[&str]) -> RecordArgs {
        match parse(list.iter().copied()) {
            Ok(Invocation::Record(args)) => *args,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn exposure_takes_an_exponent_or_microseconds_and_gain_0_to_255() {
        let manual = |usec| Ok(Exposure::Manual { usec });
        assert_eq!(parse_exposure("AUTO"), Ok(Exposure::Auto));
        assert_eq!(parse_exposure("-5"), manual(31_250));
        assert_eq!(parse_exposure("1"), manual(2_000_000));
        assert_eq!(parse_exposure("2"), manual(2));
        assert_eq!(parse_exposure("33330"), manual(33_330));
        assert_eq!(parse_exposure("200000"), manual(200_000));
        for bad in ["-12", "200001", "1.5", "fast"] {
            let err = parse_exposure(bad).unwrap_err();
            assert!(
                err.contains("-e/--exposure-control")
                    && err.contains("-11 to 1")
                    && err.contains("2 to 200000 µs"),
                "{err}"
            );
        }
        assert_eq!(parse_gain("0"), Ok(0));
        assert_eq!(parse_gain("255"), Ok(255));
        for bad in ["-1", "256", "x"] {
            let err = parse_gain(bad).unwrap_err();
            assert!(
                err.contains("-g/--gain") && err.contains("0 to 255"),
                "{err}"
            );
        }
        assert_eq!(parse_exposure_exponent("-6"), Ok(Some(-6)));
        assert!(parse_exposure_exponent("33330").is_err());
    }

    #[test]
    fn controls_json_says_what_the_camera_took() {
        assert_eq!(controls_json(None), "null");
        let c = ColourControls {
            exposure: Exposure::Manual { usec: 33_330 },
            gain: Some(9),
        };
        assert_eq!(
            controls_json(Some(c)),
            r#"{"exposure":"manual","exposure_usec":33330,"gain":9}"#
        );
        assert_eq!(
            controls_json(Some(ColourControls::default())),
            r#"{"exposure":"auto","exposure_usec":null,"gain":null}"#
        );
    }

    #[test]
    fn defaults_are_k4arecorders() {
        let a = args(&["record", "out.mkv"]);
        assert_eq!(a.config, DeviceConfig::default());
        assert_eq!(a.device, "0");
        assert_eq!(a.record_length, None);
        assert_eq!(a.exposure, Exposure::Auto);
        assert!(!a.emulate && !a.json && !a.list);
        assert_eq!(a.output, PathBuf::from("out.mkv"));
    }

    #[test]
    fn every_option_maps_to_the_configuration() {
        let a = args(&[
            "record",
            "--device",
            "emu:2",
            "-l",
            "2.5",
            "-c",
            "720p_nv12",
            "-d",
            "wfov_2x2binned",
            "--depth-delay",
            "-100",
            "-r",
            "15",
            "--imu",
            "off",
            "--external-sync",
            "sub",
            "--sync-delay",
            "160",
            "-e",
            "-8",
            "-g",
            "64",
            "--emulate",
            "--json",
            "x.mkv",
        ]);
        assert_eq!(a.device, "emu:2");
        assert_eq!(a.record_length, Some(Duration::from_millis(2500)));
        assert_eq!(
            (a.config.color_resolution, a.config.color_format),
            (ColorResolution::R720p, ColorFormat::Nv12)
        );
        assert_eq!(a.config.depth_mode, DepthMode::Wfov2x2Binned);
        assert_eq!(a.config.depth_delay_off_color_usec, -100);
        assert_eq!(a.config.fps, Fps::Fps15);
        assert!(!a.config.imu);
        assert_eq!(a.config.sync_mode, WiredSyncMode::Subordinate);
        assert_eq!(a.config.subordinate_delay_off_master_usec, 160);
        assert_eq!(a.exposure, Exposure::Manual { usec: 3_906 });
        assert_eq!(a.gain, Some(64));
        assert!(a.emulate && a.json);
        for (text, resolution, format) in [
            ("3072p", ColorResolution::R3072p, ColorFormat::Mjpg),
            ("2160P", ColorResolution::R2160p, ColorFormat::Mjpg),
            ("1536p", ColorResolution::R1536p, ColorFormat::Mjpg),
            ("1440p", ColorResolution::R1440p, ColorFormat::Mjpg),
            ("720p_YUY2", ColorResolution::R720p, ColorFormat::Yuy2),
            ("OFF", ColorResolution::Off, ColorFormat::Mjpg),
        ] {
            let a = args(&["record", "-c", text, "o.mkv"]);
            assert_eq!(
                (a.config.color_resolution, a.config.color_format),
                (resolution, format)
            );
        }
        for mode in DepthMode::ALL {
            let a = args(&["record", "-d", mode.sdk_name(), "o.mkv"]);
            assert_eq!(a.config.depth_mode, mode);
        }
        let a = args(&["record", "--external-sync", "Master", "o.mkv"]);
        assert_eq!(a.config.sync_mode, WiredSyncMode::Master);
    }

    #[test]
    fn emulate_pacing_is_hidden_real_time_by_default_and_virtual_on_request() {
        assert_eq!(args(&["record", "o.mkv"]).emulate_pacing, Pacing::RealTime);
        let a = args(&[
            "record",
            "--emulate",
            "--emulate-pacing",
            "Virtual",
            "o.mkv",
        ]);
        assert_eq!(a.emulate_pacing, Pacing::Virtual);
        assert!(parse(["record", "--emulate-pacing", "fast", "o.mkv"]).is_err());
        let help = command().render_long_help().to_string();
        assert!(!help.contains("emulate-pacing"), "{help}");
        assert!(help.contains("--emulate"), "{help}");
    }

    #[test]
    fn a_top_level_emulate_count_still_selects_the_emulator_for_record() {
        assert!(args(&["--emulate", "2", "record", "o.mkv"]).emulate);
        assert_eq!(
            parse(["--emulate", "3", "list"]).ok(),
            Some(Invocation::List {
                json: false,
                source: Source::Emulated { cameras: 3 }
            })
        );
    }

    #[test]
    fn out_of_range_values_are_usage_errors() {
        for bad in [
            &["record", "-e", "200001", "o.mkv"][..],
            &["record", "-g", "256", "o.mkv"],
            &["record", "-e", "-12", "o.mkv"],
            &["record", "-r", "25", "o.mkv"],
            &["record", "-l", "-1", "o.mkv"],
            &["record", "-c", "720p_BGRA", "o.mkv"],
            &["record"],
        ] {
            assert!(parse(bad.iter().copied()).is_err(), "{bad:?}");
        }
        assert!(
            parse(["record", "--list"]).is_ok(),
            "--list needs no OUTPUT"
        );
    }
}
