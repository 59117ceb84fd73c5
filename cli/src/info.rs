//! `k4sync info FILE [--json]`: what a recording holds, as Microsoft's playback library would
//! report it (configuration, tags, calibration size, per-stream counts and timestamps, captures,
//! length; reference §13) plus the tracks as stored.
//!
//! `--json` prints [`Readout::to_official_json`], the shape of `shared/samples/*.official.json`,
//! plus `"attachments"` when the file has attachments beyond `calibration.json`
//! (`depth_cal.ccb`, docs/depth.md).
//! A file that was never finalized or was cut short is read in salvage mode (every complete
//! Cluster); the text output then starts with a warning line and the JSON gets two extra keys,
//! `"salvaged": true` and `"damage"` (`null` or `{"offset", "what"}`), which clean files never
//! carry. Exit status 1 with `{"ok": false, "error": …}` when the file cannot be read.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use k4sync_host::mkv::read::{Attachment, Damage};
use k4sync_host::mkv::CALIBRATION_FILE_NAME;
use k4sync_host::mkv::{MkvReader, Readout};

use crate::output::json_str as json_string;

/// A recording opened for the CLI.
pub struct Opened {
    pub reader: MkvReader<BufReader<File>>,
    /// `Some` when the file was not finalized or was damaged and was read in salvage mode.
    pub salvage: Option<Salvage>,
}

/// How a recording read in salvage mode was left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    /// First damaged or incomplete element (or the end of a file shorter than its Segment),
    /// `None` when every element is complete and only the finalization is missing.
    pub damage: Option<Damage>,
    /// Complete Clusters kept.
    pub clusters: usize,
}

impl Salvage {
    /// One line for people: what is wrong and what was kept.
    pub fn warning(&self, path: &Path) -> String {
        let state = match &self.damage {
            Some(d) => format!("is damaged or cut at byte {} ({})", d.offset, d.what),
            None => "was never finalized (no Segment size, SeekHead or Cues)".to_owned(),
        };
        format!(
            "warning: {} {state}; read the {} complete cluster(s) before that; \
             `k4sync repair` rewrites it whole",
            path.display(),
            self.clusters
        )
    }

    fn json_fields(&self) -> String {
        let damage = match &self.damage {
            None => "null".to_owned(),
            Some(d) => format!(
                r#"{{"offset": {}, "what": {}}}"#,
                d.offset,
                json_string(&d.what)
            ),
        };
        format!(r#", "salvaged": true, "damage": {damage}"#)
    }
}

/// Opens `path` strictly when it is finalized and intact, in salvage mode otherwise. The error
/// text names the path and, from the reader, what was wrong at which byte.
pub fn open_recording(path: &Path) -> Result<Opened, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if let Ok(reader) = MkvReader::open_path(path) {
        if finalized_and_whole(&reader) {
            return Ok(Opened {
                reader,
                salvage: None,
            });
        }
    }
    let reader = MkvReader::open_path_salvage(path).map_err(|e| fail(&e))?;
    let segment = reader.segment();
    let cut_short = segment
        .end()
        .filter(|&end| segment.size != Some(0) && end > reader.file_len());
    let damage = match (reader.damage(), cut_short) {
        (Some(d), _) => Some(Damage {
            offset: d.offset,
            what: d
                .what
                .split("; open it in salvage mode")
                .next()
                .unwrap_or_default()
                .to_owned(),
        }),
        (None, Some(end)) => Some(Damage {
            offset: reader.file_len(),
            what: format!("the file ends before the Segment's declared end at byte {end}"),
        }),
        (None, None) => None,
    };
    let salvage = Salvage {
        damage,
        clusters: reader.cluster_offsets().len(),
    };
    Ok(Opened {
        reader,
        salvage: Some(salvage),
    })
}

/// A known, non-zero Segment size that the file holds completely (a finalized file not cut
/// afterwards; the SDK tolerates a size smaller than the file).
fn finalized_and_whole<R: std::io::Read + std::io::Seek>(reader: &MkvReader<R>) -> bool {
    let segment = reader.segment();
    segment.size.is_some_and(|s| s > 0) && segment.end().is_some_and(|e| e <= reader.file_len())
}

/// The readout, with the salvage damage named when the salvaged part cannot be read.
pub fn readout(opened: &mut Opened, path: &Path) -> Result<Readout, String> {
    opened.reader.readout().map_err(|e| {
        let mut msg = format!("{}: {e}", path.display());
        if let Some(d) = opened.salvage.as_ref().and_then(|s| s.damage.as_ref()) {
            msg.push_str(&format!(
                " (the file is damaged at byte {}: {})",
                d.offset, d.what
            ));
        }
        msg
    })
}

pub fn run(path: &Path, json: bool) -> ExitCode {
    let result = open_recording(path).and_then(|mut opened| {
        let readout = readout(&mut opened, path)?;
        Ok((opened, readout))
    });
    match result {
        Ok((opened, readout)) => {
            if json {
                let attachments = &opened.reader.attachments;
                println!(
                    "{}",
                    to_json(&readout, attachments, opened.salvage.as_ref())
                );
            } else {
                print!("{}", to_text(path, &opened, &readout));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!(r#"{{"ok": false, "error": {}}}"#, json_string(&e));
            } else {
                eprintln!("k4sync info: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The official shape, plus the attachments beyond `calibration.json` (e.g. `depth_cal.ccb`)
/// when there are any, and the salvage keys for a salvaged file.
pub fn to_json(readout: &Readout, attachments: &[Attachment], salvage: Option<&Salvage>) -> String {
    let mut out = readout.to_official_json();
    let extra: Vec<String> = attachments
        .iter()
        .filter(|a| a.name != CALIBRATION_FILE_NAME)
        .map(|a| {
            format!(
                r#"{{"name": {}, "bytes": {}}}"#,
                json_string(&a.name),
                a.data.len()
            )
        })
        .collect();
    if !extra.is_empty() {
        out.pop();
        out.push_str(&format!(r#", "attachments": [{}]}}"#, extra.join(", ")));
    }
    if let Some(s) = salvage {
        out.pop();
        out.push_str(&s.json_fields());
        out.push('}');
    }
    out
}

fn to_text(path: &Path, opened: &Opened, r: &Readout) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    if let Some(s) = &opened.salvage {
        line(s.warning(path));
    }
    let reader = &opened.reader;
    let sdk_offset = u64::from(r.config.start_timestamp_offset_usec);
    let offset = reader
        .start_offset_nsec()
        .map_or(sdk_offset, |ns| ns / 1000);
    let wrapped = offset.saturating_sub(sdk_offset);
    let device = |t: Option<u64>| opt(t.map(|t| t.saturating_add(wrapped)));
    line(format!(
        "{}: {} bytes, length {} µs, start offset {offset} µs",
        path.display(),
        reader.file_len(),
        r.length_usec,
    ));
    if wrapped > 0 {
        line(format!(
            "note: Microsoft's SDK keeps the start offset's low 32 bits ({sdk_offset} µs), so its \
             image timestamps (and `info --json`, which follows it) are {wrapped} µs early"
        ));
    }
    let c = &r.config;
    line(format!(
        "config: colour {} {}, depth {}, {} fps, sync {}, depth delay {} µs, subordinate delay {} µs",
        c.color_format.map_or("CUSTOM", |f| f.sdk_name()),
        c.color_resolution.sdk_name(),
        c.depth_mode.sdk_name(),
        c.camera_fps.sdk_name(),
        c.wired_sync_mode.sdk_name(),
        c.depth_delay_off_color_usec,
        c.subordinate_delay_off_master_usec
    ));
    line("tracks:".to_owned());
    for t in &reader.tracks {
        let size = match (t.width, t.height) {
            (Some(w), Some(h)) => format!(" {w}x{h}"),
            _ => String::new(),
        };
        line(format!("  #{} {} ({}){size}", t.number, t.name, t.codec_id));
    }
    for (name, stats) in [("colour", r.color), ("depth", r.depth), ("ir", r.ir)] {
        if let Some(s) = stats {
            line(format!(
                "{name}: {} frames {}x{}, device time {} .. {} µs",
                s.frames,
                s.width,
                s.height,
                device(s.first_ts_usec),
                device(s.last_ts_usec)
            ));
        }
    }
    for c in &r.custom {
        let size = match (c.stats.width, c.stats.height) {
            (0, _) | (_, 0) => String::new(),
            (w, h) => format!(" {w}x{h}"),
        };
        line(format!(
            "{} (custom track, {}): {} frames{size}, device time {} .. {} µs",
            c.name,
            c.codec_id,
            c.stats.frames,
            device(c.stats.first_ts_usec),
            device(c.stats.last_ts_usec)
        ));
    }
    if let Some(i) = r.imu {
        line(format!(
            "imu: {} samples, accelerometer time {} .. {} µs",
            i.samples,
            opt(i.first_acc_ts_usec),
            opt(i.last_acc_ts_usec)
        ));
    }
    line(format!("captures: {}", r.captures));
    line(format!(
        "clusters: {}, cue points: {}",
        reader.cluster_offsets().len(),
        reader.cues.len()
    ));
    line(match r.sdk_calibration_len() {
        Some(n) => format!("calibration: {n} bytes"),
        None => "calibration: none".to_owned(),
    });
    line("attachments:".to_owned());
    for a in &reader.attachments {
        line(format!("  {} ({} bytes)", a.name, a.data.len()));
    }
    line("tags:".to_owned());
    for (k, v) in &r.tags {
        line(format!("  {k} = {v}"));
    }
    out
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
