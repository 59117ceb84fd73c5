//! Repair of recordings that were never finalized or were cut short (crash, power loss, full
//! disk, interrupted copy): [`repair_file`] rewrites them into the finalized layout
//! (reference §1, §1.1; model in docs/recording.md, "Repair").
//!
//! The input is opened in salvage mode; everything from the first damaged or incomplete top-level
//! element on is dropped. The output is built afresh in one forward pass: EBML header, Segment with
//! its exact size, SeekHead, Info (TimestampScale 1000, Duration from the blocks), the input's
//! Tracks and Attachments copied byte for byte, Tags re-rendered (with `K4A_START_OFFSET_NS`
//! recovered from the first IMU block when the tag is missing, reference §1.1 item 4) plus their
//! slack, every complete Cluster copied byte for byte, and Cues for track 1 (reference §11).
//! Before the output replaces anything it must open strictly and give a full readout.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::ebml::{self, id, Children};
use super::read::{Damage, MkvReader};
use super::write::{
    cue_due, date_utc_to_unix_secs, render_cues, render_ebml_header, render_info_span,
    render_seek_head_span, render_tag_list, Target, INFO_SPAN, SEEK_HEAD_SPAN, TAGS_SLACK,
};
use super::{track_name, MkvError, Result, TIMESTAMP_SCALE_NSEC};

const START_OFFSET_TAG: &str = "K4A_START_OFFSET_NS";

/// Where the repaired file's `K4A_START_OFFSET_NS` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The input had the tag.
    Kept,
    /// Derived from the first IMU sample: accelerometer ns − block file time (reference §1.1).
    Recovered { nsec: u64 },
    /// No tag and no IMU block to derive it from: device timestamps read as file times.
    Missing,
}

/// What a repair kept and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// Complete Clusters copied.
    pub clusters: usize,
    /// Where the input was damaged or cut, `None` when it was only unfinalized.
    pub damage: Option<Damage>,
    /// Input bytes after the last complete Cluster (a torn cluster, stale Cues, …).
    pub dropped_bytes: u64,
    pub start_offset: StartOffset,
    /// Info Duration written: newest sample time in µs of file time.
    pub duration_usec: u64,
    /// Size of the repaired file.
    pub output_bytes: u64,
}

/// Repairs `input` into `output` (which may be the same path). The result is written to a
/// temporary file beside `output`, synced, checked by a strict open and full readout, and only
/// then renamed over `output`; on any failure the temporary file is removed and `input` and
/// `output` are untouched.
pub fn repair_file(input: &Path, output: &Path) -> Result<RepairReport> {
    let tmp = temp_path(output);
    let result = repair_via(input, &tmp).and_then(|report| {
        if let Ok(meta) = std::fs::metadata(output) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, output)?;
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(report)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn repair_via(input: &Path, tmp: &Path) -> Result<RepairReport> {
    let mut reader = MkvReader::open_path_salvage(input)?;
    let mut src = BufReader::new(File::open(input)?);
    let file = File::create(tmp)?;
    let mut out = BufWriter::new(file);
    let report = rebuild(&mut reader, &mut src, &mut out)?;
    let file = out.into_inner().map_err(|e| MkvError::Io(e.into_error()))?;
    file.sync_all()?;
    drop(file);
    MkvReader::open_path(tmp)?.readout()?;
    Ok(report)
}

/// `.NAME.k4sync-repair-PID.tmp` in `output`'s directory (same file system, so the rename is
/// atomic).
fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map_or_else(|| "recording".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(".{name}.k4sync-repair-{}.tmp", std::process::id()))
}

/// What one pass over the complete clusters learns.
struct ClusterScan {
    /// (file offset, total length) of each complete Cluster.
    spans: Vec<(u64, u64)>,
    /// First track-1 SimpleBlock time (µs) per cluster.
    cue_times: Vec<Option<u64>>,
    newest_usec: u64,
    recovered_offset_nsec: Option<u64>,
}

/// Writes the repaired form of the file `reader` salvaged (raw bytes read from `src`) to `w`.
pub fn rebuild<R: Read + Seek, S: Read + Seek, W: Write>(
    reader: &mut MkvReader<R>,
    src: &mut S,
    w: &mut W,
) -> Result<RepairReport> {
    check_timestamp_scale(reader)?;
    let file_len = reader.file_len();
    let kept = kept_elements(reader, src, file_len)?;
    let scan = scan_clusters(reader, src, file_len)?;
    let (tags, start_offset) = kept_tags(reader, &scan);
    let (head, mut entries) = render_head(&kept, &tags, scan.newest_usec)?;

    let clusters_pos = (SEEK_HEAD_SPAN + head.len()) as u64;
    let (cues, clusters_end) = cue_points(&scan, clusters_pos);
    let mut cues_bytes = Vec::new();
    if !cues.is_empty() {
        entries.push((id::CUES, clusters_end));
        render_cues(&mut cues_bytes, &cues)?;
    }
    let segment_size = clusters_end + cues_bytes.len() as u64;

    let mut prefix = Vec::new();
    render_ebml_header(&mut prefix)?;
    ebml::put_id(&mut prefix, id::SEGMENT);
    ebml::put_vint_len(&mut prefix, segment_size, 8)?;
    let segment_data_offset = prefix.len() as u64;
    render_seek_head_span(&mut prefix, &entries)?;
    w.write_all(&prefix)?;
    w.write_all(&head)?;
    copy_clusters(src, w, &scan.spans)?;
    w.write_all(&cues_bytes)?;
    w.flush()?;

    let kept_until = scan.spans.last().map_or(0, |&(at, len)| at + len);
    Ok(RepairReport {
        clusters: scan.spans.len(),
        damage: kept.damage,
        dropped_bytes: file_len.saturating_sub(kept_until),
        start_offset,
        duration_usec: scan.newest_usec,
        output_bytes: segment_data_offset + segment_size,
    })
}

/// Only files in k4a's time base (1 µs ticks) can be repaired: the recovered start offset and
/// the Cues are in µs.
fn check_timestamp_scale<R: Read + Seek>(reader: &MkvReader<R>) -> Result<()> {
    match reader
        .timestamp_scale_nsec()
        .filter(|&s| s != TIMESTAMP_SCALE_NSEC)
    {
        Some(scale) => Err(MkvError::NotK4a {
            what: format!("TimestampScale {scale} ns; only 1000 ns (k4a) files can be repaired"),
        }),
        None => Ok(()),
    }
}

/// SeekHead entries: (element id, offset from the Segment's data).
type SeekEntries = Vec<(u32, u64)>;

/// The elements a repair copies or re-renders from the salvaged input.
struct Kept {
    damage: Option<Damage>,
    tracks: Vec<u8>,
    attachments: Option<Vec<u8>>,
    writing_app: Option<String>,
    date_unix_secs: Option<u64>,
}

fn kept_elements<R: Read + Seek, S: Read + Seek>(
    reader: &MkvReader<R>,
    src: &mut S,
    file_len: u64,
) -> Result<Kept> {
    let damage = reader.damage().cloned();
    let nothing_left = |what: &str| MkvError::NotK4a {
        what: match &damage {
            Some(d) => format!("{what} before the damage at byte {} ({})", d.offset, d.what),
            None => what.to_owned(),
        },
    };
    let tracks_at = *reader
        .element_offsets
        .get(&id::TRACKS)
        .ok_or_else(|| nothing_left("no Tracks element"))?;
    if reader.cluster_offsets().is_empty() {
        return Err(nothing_left("no complete Cluster"));
    }
    let tracks = read_element(src, tracks_at, file_len)?;
    let attachments = match reader.element_offsets.get(&id::ATTACHMENTS) {
        Some(&at) => Some(read_element(src, at, file_len)?),
        None => None,
    };
    let (writing_app, date_unix_secs) = match reader.element_offsets.get(&id::INFO) {
        Some(&at) => info_identity(src, at, file_len)?,
        None => (None, None),
    };
    Ok(Kept {
        damage,
        tracks,
        attachments,
        writing_app,
        date_unix_secs,
    })
}

/// The input's tags, plus `K4A_START_OFFSET_NS` recovered from the clusters when it was lost.
fn kept_tags<R: Read + Seek>(
    reader: &MkvReader<R>,
    scan: &ClusterScan,
) -> (Vec<(Target, String, String)>, StartOffset) {
    let mut tags: Vec<(Target, String, String)> = reader
        .tags
        .iter()
        .map(|t| {
            let target = match t.target_type.as_str() {
                "TRACK" => Target::Track(t.track_uid),
                "ATTACHMENT" => Target::Attachment(t.attachment_uid),
                _ => Target::Global,
            };
            (target, t.name.clone(), t.value.clone())
        })
        .collect();
    let start_offset = if reader.tag(START_OFFSET_TAG).is_some() {
        StartOffset::Kept
    } else if let Some(nsec) = scan.recovered_offset_nsec {
        tags.push((
            Target::Global,
            START_OFFSET_TAG.to_owned(),
            nsec.to_string(),
        ));
        StartOffset::Recovered { nsec }
    } else {
        StartOffset::Missing
    };
    (tags, start_offset)
}

/// Info, Tracks, Attachments and Tags with their slack, as they follow the SeekHead span, and
/// the SeekHead's entries for them (offsets from the Segment's data).
fn render_head(
    kept: &Kept,
    tags: &[(Target, String, String)],
    newest_usec: u64,
) -> Result<(Vec<u8>, SeekEntries)> {
    let mut head = Vec::new();
    let date = kept.date_unix_secs.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    let ours = concat!("k4sync-", env!("CARGO_PKG_VERSION"));
    let app = kept.writing_app.as_deref().unwrap_or(ours);
    let duration = newest_usec as f32;
    if render_info_span(&mut head, app, date, duration).is_err() {
        head.clear();
        render_info_span(&mut head, ours, date, duration)?;
    }
    let mut entries = vec![
        (id::INFO, SEEK_HEAD_SPAN as u64),
        (id::TRACKS, (SEEK_HEAD_SPAN + INFO_SPAN) as u64),
    ];
    head.extend_from_slice(&kept.tracks);
    if let Some(a) = &kept.attachments {
        entries.push((id::ATTACHMENTS, (SEEK_HEAD_SPAN + head.len()) as u64));
        head.extend_from_slice(a);
    }
    entries.push((id::TAGS, (SEEK_HEAD_SPAN + head.len()) as u64));
    render_tag_list(&mut head, tags)?;
    ebml::put_void(&mut head, TAGS_SLACK)?;
    Ok((head, entries))
}

/// Cue points (time µs, cluster offset) for the clusters copied from `clusters_pos` on, and
/// where the last of them ends.
fn cue_points(scan: &ClusterScan, clusters_pos: u64) -> (Vec<(u64, u64)>, u64) {
    let mut cues: Vec<(u64, u64)> = Vec::new();
    let mut pos = clusters_pos;
    for (&(_, len), cue) in scan.spans.iter().zip(&scan.cue_times) {
        if let Some(t) = *cue {
            if cue_due(cues.last().map(|c| c.0), t) {
                cues.push((t, pos));
            }
        }
        pos += len;
    }
    (cues, pos)
}

fn copy_clusters<S: Read + Seek, W: Write>(
    src: &mut S,
    w: &mut W,
    spans: &[(u64, u64)],
) -> Result<()> {
    for &(at, len) in spans {
        src.seek(SeekFrom::Start(at))?;
        let copied = std::io::copy(&mut src.by_ref().take(len), w)?;
        if copied != len {
            return Err(MkvError::Truncated {
                offset: at + copied,
                what: "Cluster being copied (the input changed during the repair)",
            });
        }
    }
    Ok(())
}

fn scan_clusters<R: Read + Seek, S: Read + Seek>(
    reader: &mut MkvReader<R>,
    src: &mut S,
    file_len: u64,
) -> Result<ClusterScan> {
    let imu_track = reader
        .find_track("K4A_IMU_TRACK", &[track_name::IMU])
        .map(|t| t.number);
    let mut scan = ClusterScan {
        spans: Vec::new(),
        cue_times: Vec::new(),
        newest_usec: 0,
        recovered_offset_nsec: None,
    };
    for at in reader.cluster_offsets().to_vec() {
        let h = ebml::read_header(src, at, file_len, "Cluster header")?;
        let end = h.end().ok_or(MkvError::Malformed {
            offset: at,
            what: "Cluster of unknown size",
        })?;
        scan.spans.push((at, end - at));
        let cluster = reader.read_cluster_at(at)?;
        let mut cue = None;
        for block in &cluster.blocks {
            let time = u64::try_from(block.time_ticks).map_err(|_| MkvError::Malformed {
                offset: at,
                what: "block before the start of the recording (negative file time)",
            })?;
            let last = match block.duration_ticks {
                Some(d) if !block.simple => time + d.saturating_sub(1),
                _ => time,
            };
            scan.newest_usec = scan.newest_usec.max(last);
            if block.track == 1 && block.simple && cue.is_none() {
                cue = Some(time);
            }
            if scan.recovered_offset_nsec.is_none() && Some(block.track) == imu_track {
                let acc_nsec = block
                    .frames
                    .first()
                    .and_then(|f| f.get(..8))
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes);
                scan.recovered_offset_nsec =
                    acc_nsec.and_then(|a| a.checked_sub(time.checked_mul(1000)?));
            }
        }
        scan.cue_times.push(cue);
    }
    Ok(scan)
}

/// The whole element (header and data) at `at`.
fn read_element<S: Read + Seek>(src: &mut S, at: u64, file_len: u64) -> Result<Vec<u8>> {
    let h = ebml::read_header(src, at, file_len, "element header")?;
    let end = h.end().ok_or(MkvError::Malformed {
        offset: at,
        what: "element of unknown size",
    })?;
    ebml::read_span(src, at, end - at, file_len, "element")
}

/// WritingApp and DateUTC (as Unix seconds) of the Info at `at`, where present.
fn info_identity<S: Read + Seek>(
    src: &mut S,
    at: u64,
    file_len: u64,
) -> Result<(Option<String>, Option<u64>)> {
    let h = ebml::read_header(src, at, file_len, "Info header")?;
    let data = ebml::read_span(
        src,
        h.data_offset,
        h.end().unwrap_or(h.data_offset) - h.data_offset,
        file_len,
        "Info",
    )?;
    let (mut app, mut date) = (None, None);
    for c in Children::new(&data, h.data_offset) {
        let c = c?;
        match c.header.id {
            id::WRITING_APP => app = Some(c.string()),
            id::DATE_UTC => {
                date = <[u8; 8]>::try_from(c.data)
                    .ok()
                    .map(|b| date_utc_to_unix_secs(i64::from_be_bytes(b)));
            }
            _ => {}
        }
    }
    Ok((app, date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_sits_beside_the_output_so_the_rename_stays_on_one_file_system() {
        let tmp = temp_path(Path::new("/data/rec/take1.mkv"));
        assert_eq!(tmp.parent(), Some(Path::new("/data/rec")));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".take1.mkv.k4sync-repair-"), "{name}");
        assert!(name.ends_with(".tmp"), "{name}");
        assert_eq!(temp_path(Path::new("x.mkv")).parent(), Some(Path::new("")));
    }

    #[test]
    fn a_file_that_is_not_matroska_is_refused_before_anything_is_written() {
        let dir = std::env::temp_dir().join(format!("k4sync-repair-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("junk.mkv");
        std::fs::write(&input, b"junk").unwrap();
        let err = repair_file(&input, &input).unwrap_err().to_string();
        assert!(err.contains("byte 0"), "{err}");
        assert_eq!(std::fs::read(&input).unwrap(), b"junk");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
