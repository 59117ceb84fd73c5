//! `k4sync rig record` and `k4sync rig stop`: running a take ([`k4sync_rig::take`]) and
//! telling the user how it goes.
//!
//! Progress (every event, a line a second while recording) goes to stderr; the result to
//! stdout, as text or, with `--json`, one JSON object `{"ok", "manifest_path", "error",
//! "manifest"}`. Ctrl-C or SIGTERM ends the take cleanly: every device is stopped, its file
//! finalised and the manifest written with outcome `interrupted`. With `--web ADDR` the take
//! is also shown on the live dashboard ([`crate::rig_serve`]).

use std::path::PathBuf;
use std::time::Duration;

use k4sync_rig::coordinator::{Coordinator, RigSettings};
use k4sync_rig::msg::RecorderState;
use k4sync_rig::take::{
    self, DeviceProgress, Manifest, OnFault, Progress, TakeOptions, TakeResult,
};
use k4sync_rig::{emulate, RigError};
use serde::Serialize;

/// What `k4sync rig record` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordArgs {
    pub dir: PathBuf,
    pub wait: Duration,
    pub json: bool,
    pub settings: RigSettings,
    pub length: Duration,
    pub out: Option<PathBuf>,
    pub take: Option<String>,
    pub pulse_timeout: Duration,
    pub on_fault: OnFault,
    /// `--emulate N`: N emulated cameras in this process instead of the rig's agents.
    pub emulate: Option<u32>,
    /// `--web ADDR`: also serve the live dashboard there ([`crate::rig_serve`]).
    pub web: Option<std::net::SocketAddr>,
}

/// Runs the take; `Ok(false)` when it failed after the preflight (manifest written).
pub fn run(args: RecordArgs) -> Result<bool, RigError> {
    let take = args.take.clone().unwrap_or_else(take::default_take_name);
    let out = match (&args.out, args.emulate) {
        (Some(out), _) => out.clone(),
        (None, Some(_)) => {
            return Err(RigError::Usage(
                "--emulate N: give the output directory (OUTDIR)".into(),
            ))
        }
        (None, None) => PathBuf::from(&take),
    };
    let mut options = TakeOptions::new(args.settings, args.length, take, out);
    options.pulse_timeout = args.pulse_timeout;
    options.on_fault = args.on_fault;
    let json = args.json;
    if let Some(listen) = args.web {
        let mut progress = print_progress;
        return crate::rig_serve::record(
            listen,
            &args.dir,
            args.wait,
            args.emulate,
            &options,
            &mut progress,
            &mut |result| print_take(json, result),
        );
    }
    let stop = crate::process::stop_flag_on_signals().map_err(RigError::Setup)?;
    let result = k4sync_rig::block_on(async move {
        let mut progress = print_progress;
        let result = match args.emulate {
            Some(n) => emulate::record(n, &options, &stop, &mut progress).await,
            None => {
                let c = Coordinator::connect(&args.dir, args.wait).await?;
                let result = take::record(&c, &options, &stop, &mut progress).await;
                c.close().await?;
                result
            }
        };
        result
    })?;
    print_take(json, &result);
    Ok(result.error.is_none())
}

fn print_progress(p: &Progress) {
    match p {
        Progress::Event(e) if e.event == "alarm" => {
            let who = e.agent.as_deref().unwrap_or("rig");
            let detail = e.detail.as_deref().unwrap_or_default();
            eprintln!("[{:7.3} s] ALARM {who}: {detail}", e.t_s);
        }
        Progress::Event(e) if e.event == "alarm_cleared" => {
            let who = e.agent.as_deref().unwrap_or("rig");
            let kind = e.alarm.as_deref().unwrap_or("alarm");
            eprintln!("[{:7.3} s] cleared {who}: {kind} no longer holds", e.t_s);
        }
        Progress::Event(e) => {
            let who = e.agent.as_deref().unwrap_or("rig");
            let detail = e
                .detail
                .as_deref()
                .map_or_else(String::new, |d| format!(": {d}"));
            eprintln!("[{:7.3} s] {who} {}{detail}", e.t_s, e.event);
        }
        Progress::Tick {
            elapsed,
            length,
            devices,
        } => {
            let cells: Vec<String> = devices.iter().map(device_cell).collect();
            eprintln!(
                "recording {:.0}/{:.0} s  {}",
                elapsed.as_secs_f64(),
                length.as_secs_f64(),
                cells.join(" | ")
            );
        }
        Progress::Offsets(_) => {}
    }
}

/// One device in the live line: its state, from its latest health summary the device time of
/// its newest colour (else depth) image, and a subordinate's offset to the master in its newest
/// frame set (less its expected delay).
fn device_cell(d: &DeviceProgress) -> String {
    let at = d
        .health
        .as_ref()
        .and_then(|h| h.last_colour_usec.or(h.last_depth_usec))
        .map_or_else(String::new, |t| format!(" at {:.3} s", t as f64 / 1e6));
    let offset = d
        .offset_usec
        .map_or_else(String::new, |o| format!(" offset {o:+.1} µs"));
    format!("{} {}{at}{offset}", d.agent, state_cell(d.state.as_ref()))
}

fn state_cell(state: Option<&RecorderState>) -> String {
    match state {
        Some(RecorderState::Recording {
            frames, dropped, ..
        })
        | Some(RecorderState::Finished {
            frames, dropped, ..
        }) => format!("{frames} frames {dropped} dropped"),
        Some(other) => other.label().to_string(),
        None => "?".into(),
    }
}

#[derive(Serialize)]
struct TakeJson<'a> {
    ok: bool,
    manifest_path: String,
    error: Option<String>,
    manifest: &'a Manifest,
}

fn print_take(json: bool, result: &TakeResult) {
    let value = TakeJson {
        ok: result.error.is_none(),
        manifest_path: result.manifest_path.display().to_string(),
        error: result.error.as_ref().map(ToString::to_string),
        manifest: &result.manifest,
    };
    crate::rig::print_result(json, &value, || take_text(result));
}

fn take_text(result: &TakeResult) -> String {
    let m = &result.manifest;
    let mut out = format!("take {} of rig {}: {}\n", m.take, m.rig, m.outcome);
    for d in &m.devices {
        let (frames, dropped) = d
            .segments
            .iter()
            .fold((0, 0), |(f, x), s| (f + s.frames, x + s.dropped));
        out += &format!(
            "  {} {} {} delay {:.3} µs: {} captures, {} dropped, {}\n",
            d.agent,
            d.role,
            d.serial,
            d.effective_subordinate_delay_nsec as f64 / 1000.0,
            frames,
            dropped,
            if d.files.is_empty() {
                "no file".to_string()
            } else {
                d.files.join(", ")
            }
        );
    }
    for r in &m.recoveries {
        let who = r.agent.as_deref().unwrap_or("rig");
        out += &format!(
            "  recovered at {:.3} s into segment {} ({who}): {}\n",
            r.t_s, r.segment, r.reason
        );
    }
    if let Some(e) = &result.error {
        out += &format!("error: {e}\n");
    }
    out += &format!("manifest: {}\n", result.manifest_path.display());
    out
}

#[derive(Serialize)]
struct StopJson {
    agent: String,
    recorder: Option<RecorderState>,
    error: Option<String>,
}

/// Prints `rig stop`'s answers; `true` when every agent answered.
pub fn print_stops(json: bool, answers: &[(String, Result<RecorderState, RigError>)]) -> bool {
    let rows: Vec<StopJson> = answers
        .iter()
        .map(|(agent, r)| StopJson {
            agent: agent.clone(),
            recorder: r.as_ref().ok().cloned(),
            error: r.as_ref().err().map(ToString::to_string),
        })
        .collect();
    crate::rig::print_result(json, &rows, || {
        rows.iter()
            .map(|r| match (&r.recorder, &r.error) {
                (Some(s), _) => format!("{}: {}\n", r.agent, stop_text(s)),
                (None, e) => format!("{}: {}\n", r.agent, e.as_deref().unwrap_or("?")),
            })
            .collect()
    });
    rows.iter().all(|r| r.error.is_none())
}

fn stop_text(state: &RecorderState) -> String {
    match state {
        RecorderState::Finished {
            file,
            frames,
            dropped,
            ..
        } => format!("finished {file} ({frames} captures, {dropped} dropped)"),
        other => other.label().to_string(),
    }
}
