//! What `k4sync align` prints and writes: the `--json` report (shape fixed by issue 15 and
//! docs/align.md), the human table with its summary line, and the `--index` sidecar that lets a
//! player seek straight to every frame of every set.

use k4sync_core::sync::align::FrameKind;
use serde::Serialize;

use super::files::{Manifest, Recording};
use super::{Alignment, DeviceReport, Role};
use crate::mkv::index::FramePos;

/// A value rounded to the nanosecond for printing in µs.
fn usec3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct Json<'a> {
    ok: bool,
    fps: u32,
    period_usec: f64,
    devices: Vec<JsonDevice<'a>>,
    sets: Vec<JsonSet>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct Streams<T> {
    color: T,
    depth: T,
}

#[derive(Serialize)]
struct Delay {
    configured: u32,
    effective: f64,
}

#[derive(Serialize)]
struct Offset {
    min: f64,
    median: f64,
    max: f64,
}

#[derive(Serialize)]
struct JsonDevice<'a> {
    file: String,
    serial: Option<&'a str>,
    role: &'static str,
    subordinate_delay_usec: Delay,
    depth_delay_usec: i32,
    first_set: Option<usize>,
    last_set: Option<usize>,
    frames: Streams<usize>,
    in_sets: Streams<usize>,
    dropped: Streams<&'a [usize]>,
    sync_lost_at_set: Option<usize>,
    unsynced_frames: Streams<usize>,
    offset_usec: Option<Offset>,
    drift_ppm: Option<f64>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSet {
    set: usize,
    color: Vec<Option<u64>>,
    depth: Option<Vec<Option<u64>>>,
}

#[derive(Serialize)]
struct JsonSummary {
    sets: usize,
    complete: usize,
    incomplete: usize,
    unsynced_frames: usize,
}

fn role(r: &Recording) -> Role {
    r.role().unwrap_or(Role::Subordinate)
}

/// The device timestamp of `device`'s `stream` frame in `set`.
pub fn set_ts(
    a: &Alignment,
    recordings: &[Recording],
    set: usize,
    device: usize,
    stream: FrameKind,
) -> Option<u64> {
    let i = a.frame(set, device, stream)?;
    recordings
        .get(device)?
        .track(stream)?
        .ts_usec
        .get(i)
        .copied()
}

fn json_device<'a>(
    r: &'a Recording,
    d: &'a DeviceReport,
    manifest: Option<&'a Manifest>,
) -> JsonDevice<'a> {
    let effective_nsec = r.effective_subordinate_delay_nsec();
    let extra = manifest.and_then(|m| m.device(r.index.serial.as_deref()));
    JsonDevice {
        file: r.label(),
        serial: r.index.serial.as_deref(),
        role: role(r).sdk_name(),
        subordinate_delay_usec: Delay {
            configured: u32::try_from(r.index.subordinate_delay_nsec / 1000).unwrap_or(u32::MAX),
            effective: usec3(effective_nsec as f64 / 1000.0),
        },
        depth_delay_usec: i32::try_from(r.index.depth_delay_nsec / 1000).unwrap_or(
            if r.index.depth_delay_nsec < 0 {
                i32::MIN
            } else {
                i32::MAX
            },
        ),
        first_set: d.first_set,
        last_set: d.last_set,
        frames: Streams {
            color: d.frames.colour,
            depth: d.frames.depth,
        },
        in_sets: Streams {
            color: d.in_sets.colour,
            depth: d.in_sets.depth,
        },
        dropped: Streams {
            color: &d.dropped.colour,
            depth: &d.dropped.depth,
        },
        sync_lost_at_set: d.sync_lost_at_set,
        unsynced_frames: Streams {
            color: d.unsynced_frames.colour,
            depth: d.unsynced_frames.depth,
        },
        offset_usec: d.offset.map(|o| Offset {
            min: usec3(o.min_usec),
            median: usec3(o.median_usec),
            max: usec3(o.max_usec),
        }),
        drift_ppm: d.drift_ppm.map(|x| (x * 100.0).round() / 100.0),
        state: d.state.name(),
        host: extra.and_then(|e| e.host.as_deref()),
        segment: extra.and_then(|e| e.segment.as_deref()),
    }
}

/// The `--json` report.
pub fn to_json(a: &Alignment, recordings: &[Recording], manifest: Option<&Manifest>) -> String {
    let n = recordings.len();
    let any_depth = recordings.iter().any(|r| r.index.depth.is_some());
    let column = |set: usize, stream| {
        (0..n)
            .map(|d| set_ts(a, recordings, set, d, stream))
            .collect()
    };
    let json = Json {
        ok: true,
        fps: a.fps.hz(),
        period_usec: usec3(1e6 / f64::from(a.fps.hz())),
        devices: recordings
            .iter()
            .zip(&a.devices)
            .map(|(r, d)| json_device(r, d, manifest))
            .collect(),
        sets: (0..a.sets())
            .map(|set| JsonSet {
                set,
                color: column(set, FrameKind::Colour),
                depth: any_depth.then(|| column(set, FrameKind::Depth)),
            })
            .collect(),
        summary: JsonSummary {
            sets: a.summary.sets,
            complete: a.summary.complete,
            incomplete: a.summary.incomplete,
            unsynced_frames: a.summary.unsynced_frames,
        },
    };
    serde_json::to_string(&json).unwrap_or_else(|e| error_json(&e.to_string()))
}

/// `{"ok": false, "error": …}`.
pub fn error_json(error: &str) -> String {
    serde_json::json!({ "ok": false, "error": error }).to_string()
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn dropped(d: &DeviceReport) -> String {
    format!("{}/{}", d.dropped.colour.len(), d.dropped.depth.len())
}

/// The human table (one row per device) and the summary line.
pub fn to_text(a: &Alignment, recordings: &[Recording], manifest: Option<&Manifest>) -> String {
    let mut rows = vec![[
        "file".to_owned(),
        "role".into(),
        "serial".into(),
        "frames c/d".into(),
        "in sets c/d".into(),
        "dropped c/d".into(),
        "offset min/med/max µs".into(),
        "expected µs".into(),
        "drift ppm".into(),
        "state".into(),
    ]];
    for (r, d) in recordings.iter().zip(&a.devices) {
        let expected = r.effective_subordinate_delay_nsec();
        let mut state = d.state.name().to_owned();
        if let Some(lost) = d.sync_lost_at_set {
            state.push_str(&format!(" at set {lost}"));
        }
        if let Some(host) = manifest
            .and_then(|m| m.device(r.index.serial.as_deref()))
            .and_then(|e| e.host.as_deref())
        {
            state.push_str(&format!(" (host {host})"));
        }
        rows.push([
            r.label(),
            role(r).sdk_name().to_owned(),
            r.index.serial.clone().unwrap_or_else(|| "-".into()),
            format!("{}/{}", d.frames.colour, d.frames.depth),
            format!("{}/{}", d.in_sets.colour, d.in_sets.depth),
            dropped(d),
            d.offset.map_or_else(
                || "-".to_owned(),
                |o| format!("{:.0}/{:.0}/{:.0}", o.min_usec, o.median_usec, o.max_usec),
            ),
            format!("{:.1}", expected as f64 / 1000.0),
            opt(d.drift_ppm.map(|x| format!("{x:.1}"))),
            state,
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let s = a.summary;
    out.push_str(&format!(
        "{} sets at {} fps: {} complete, {} incomplete, {} unsynced frames\n",
        s.sets,
        a.fps.hz(),
        s.complete,
        s.incomplete,
        s.unsynced_frames
    ));
    out
}

#[derive(Serialize)]
struct Position {
    device_ts_usec: u64,
    cluster_offset: u64,
    block: u32,
    block_offset: u64,
}

#[derive(Serialize)]
struct IndexFrames {
    color: Option<Position>,
    depth: Option<Position>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ir: Option<Position>,
}

#[derive(Serialize)]
struct IndexSet {
    set: usize,
    files: Vec<IndexFrames>,
}

#[derive(Serialize)]
struct Index {
    fps: u32,
    files: Vec<String>,
    sets: Vec<IndexSet>,
}

fn position(ts: Option<u64>, pos: Option<FramePos>) -> Option<Position> {
    let (ts, pos) = (ts?, pos?);
    Some(Position {
        device_ts_usec: ts,
        cluster_offset: pos.cluster_offset,
        block: pos.block,
        block_offset: pos.block_offset,
    })
}

/// The `--index` sidecar: per set, per file, where its colour, depth (and IR) frames are.
pub fn index_json(a: &Alignment, recordings: &[Recording]) -> String {
    let frames = |set: usize, device: usize, r: &Recording| {
        let at = |stream| {
            let i = a.frame(set, device, stream)?;
            position(
                set_ts(a, recordings, set, device, stream),
                r.position(stream, i),
            )
        };
        let depth = a.frame(set, device, FrameKind::Depth);
        IndexFrames {
            color: at(FrameKind::Colour),
            depth: at(FrameKind::Depth),
            ir: depth.and_then(|i| {
                position(
                    set_ts(a, recordings, set, device, FrameKind::Depth),
                    r.ir_position(i),
                )
            }),
        }
    };
    let index = Index {
        fps: a.fps.hz(),
        files: recordings.iter().map(Recording::label).collect(),
        sets: (0..a.sets())
            .map(|set| IndexSet {
                set,
                files: recordings
                    .iter()
                    .enumerate()
                    .map(|(device, r)| frames(set, device, r))
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string(&index).unwrap_or_else(|e| error_json(&e.to_string()))
}
