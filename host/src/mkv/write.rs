//! [`MkvWriter`]: writes a recording in the layout Microsoft's `k4arecord` produces
//! (reference §1–§12), with one deliberate difference that makes files survive a crash.
//!
//! Layout: EBML header (§2); Segment with an 8-byte size field; a 1027-byte span for the SeekHead
//! (a Void until finalize); a 259-byte span holding Info + Void (§4); Tracks (§5); Attachments
//! with `calibration.json` (§6); Tags with a CRC-32 (§7) followed by a 1027-byte Void of slack;
//! Clusters of 32 ms windows of absolute device time, each with a CRC-32, video frames as
//! SimpleBlocks and IMU runs as laced BlockGroups (§8–§10); Cues for track 1 at the end (§11).
//!
//! Crash safety (docs/recording.md): unlike k4arecord, the Segment size starts as "unknown",
//! Info is written at create time (Duration 0 until finalize), the Tags are rewritten in place
//! with `K4A_START_OFFSET_NS` as soon as the first Cluster is written, and every Cluster is
//! appended whole with its known size. A file cut at any point is therefore openable by the SDK
//! once it is cut back to its last complete Cluster (our reader's salvage mode does that).
//! Data reaches the disk with `sync_data` at most every `flush_interval`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k4sync_core::time::Usec;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};

use super::ebml::{self, id, ReservedMaster};
use super::{
    codec, color_bitmap_params, color_mode_format_name, fourcc, track_name, MkvError, Result,
    CALIBRATION_FILE_NAME, IMU_SAMPLE_LEN, TIMESTAMP_SCALE_NSEC, TRACK_TYPE_SUBTITLE,
    TRACK_TYPE_VIDEO,
};

/// Span reserved for the SeekHead at the start of the Segment (reference §1, item 3).
pub const SEEK_HEAD_SPAN: usize = 1027;
/// Span reserved for Info right after it (reference §1, item 4).
pub const INFO_SPAN: usize = 259;
/// Void written after the Tags as room for them to grow (reference §1, item 8).
pub const TAGS_SLACK: usize = 1027;
/// Cluster window length (reference §10.1).
pub const CLUSTER_WINDOW_NSEC: u64 = 32_000_000;
/// How far the newest item must be past a window's end before that window is written (§10.1).
pub const CLUSTER_WRITE_DELAY_NSEC: u64 = 2_000_000_000;
/// Minimum gap between CuePoints (reference §11).
pub const CUE_GAP_USEC: u64 = 1_000_000;
/// Most frames one lace can carry (the lace count is one byte).
pub const MAX_LACE_FRAMES: usize = 256;
/// Bytes of the raw-depth track's CodecPrivate (docs/recording.md).
pub const RAW_DEPTH_CODEC_PRIVATE_LEN: usize = 16;
/// Magic at the start of the raw-depth CodecPrivate.
pub const RAW_DEPTH_MAGIC: [u8; 4] = *b"K4RD";

const EBML_DOC_TYPE: &str = "matroska";
const TITLE: &str = "Azure Kinect";
/// Seconds from 1970-01-01 to 2001-01-01, the Matroska DateUTC epoch.
const MATROSKA_EPOCH_UNIX_SECS: u64 = 978_307_200;

/// How depth reaches the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthStorage {
    /// DEPTH and IR tracks of DEPTH16/IR16 images, as k4arecorder writes them.
    Images,
    /// One `RAW_DEPTH` custom track of undecoded sensor frames (no depth engine on the host).
    Raw,
}

/// What the device contributed to the file: firmware, serial and calibration (reference §6, §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub serial: String,
    /// `major.minor.iteration` of the RGB firmware.
    pub color_firmware: String,
    /// `major.minor.iteration` of the depth firmware.
    pub depth_firmware: String,
    /// The raw calibration blob (a trailing NUL is dropped before storing it).
    pub calibration_json: Vec<u8>,
}

/// Everything fixed before the first frame: configuration, device identity, extra tags.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingHeader {
    pub color_format: ColorFormat,
    /// `Off` records no colour track.
    pub color_resolution: ColorResolution,
    pub depth_mode: DepthMode,
    pub depth_storage: DepthStorage,
    pub fps: Fps,
    pub imu: bool,
    pub wired_sync_mode: WiredSyncMode,
    /// Effective depth-to-colour delay in ns (tick-exact, `time::effective_delay_nsec`).
    pub depth_delay_off_color_nsec: i64,
    /// Effective subordinate delay in ns; written only in SUBORDINATE mode.
    pub subordinate_delay_off_master_nsec: u64,
    /// `None` writes no firmware, serial or calibration (like the SDK with a NULL device).
    pub device: Option<DeviceInfo>,
    /// Info WritingApp and MuxingApp.
    pub writing_app: String,
    /// Global user tags appended after the built-in ones; names must be `A-Z 0-9 - _`.
    pub extra_tags: Vec<(String, String)>,
}

impl RecordingHeader {
    /// k4arecorder's defaults: MJPG 1080P, NFOV unbinned, 30 fps, IMU on, standalone.
    pub fn k4arecorder_defaults() -> Self {
        RecordingHeader {
            color_format: ColorFormat::Mjpg,
            color_resolution: ColorResolution::R1080p,
            depth_mode: DepthMode::NfovUnbinned,
            depth_storage: DepthStorage::Images,
            fps: Fps::Fps30,
            imu: true,
            wired_sync_mode: WiredSyncMode::Standalone,
            depth_delay_off_color_nsec: 0,
            subordinate_delay_off_master_nsec: 0,
            device: None,
            writing_app: concat!("k4sync-", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_tags: Vec::new(),
        }
    }
}

/// Writer tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Longest time between `sync_data` calls while clusters are being written.
    pub flush_interval: Duration,
    /// How long a window stays in memory after the newest item passed its end (reference §10.1).
    pub cluster_write_delay_nsec: u64,
    /// Seed for track/attachment UIDs; `None` draws one from the OS-seeded hasher and the clock.
    pub uid_seed: Option<u64>,
    /// Info DateUTC; `None` uses the current time.
    pub date: Option<SystemTime>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            flush_interval: Duration::from_secs(1),
            cluster_write_delay_nsec: CLUSTER_WRITE_DELAY_NSEC,
            uid_seed: None,
            date: None,
        }
    }
}

/// One image with its device timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    pub device_ts_usec: Usec,
    /// Colour: the delivered buffer; DEPTH/IR: little-endian 16-bit samples; raw depth: the
    /// whole sensor frame.
    pub data: &'a [u8],
}

/// The images of one capture; absent or empty images are skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capture<'a> {
    pub color: Option<Image<'a>>,
    pub depth: Option<Image<'a>>,
    pub ir: Option<Image<'a>>,
    pub raw_depth: Option<Image<'a>>,
}

/// One IMU sample (reference §9).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuSample {
    pub acc_ts_usec: Usec,
    pub acc_mps2: [f32; 3],
    pub gyro_ts_usec: Usec,
    pub gyro_radps: [f32; 3],
}

impl ImuSample {
    /// The 40-byte block payload: timestamps in ns, little-endian.
    pub fn to_bytes(&self) -> [u8; IMU_SAMPLE_LEN] {
        let mut out = [0u8; IMU_SAMPLE_LEN];
        let mut bytes = Vec::with_capacity(IMU_SAMPLE_LEN);
        bytes.extend_from_slice(&self.acc_ts_usec.0.wrapping_mul(1000).to_le_bytes());
        self.acc_mps2
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        bytes.extend_from_slice(&self.gyro_ts_usec.0.wrapping_mul(1000).to_le_bytes());
        self.gyro_radps
            .iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        out.copy_from_slice(&bytes);
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackKind {
    Color,
    Depth,
    Ir,
    Imu,
    RawDepth,
}

#[derive(Debug, Clone, Copy)]
struct PlannedTrack {
    kind: TrackKind,
    number: u64,
    uid: u64,
}

/// What a tag applies to (reference §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Global,
    Track(u64),
    Attachment(u64),
}

#[derive(Debug)]
struct Item {
    ts_nsec: u64,
    track: u64,
    imu: bool,
    data: Vec<u8>,
}

/// Streams captures and IMU samples into a k4arecorder-layout Matroska file.
///
/// Dropping the writer without [`MkvWriter::finalize`] leaves the state a crash leaves: every
/// cluster written so far is complete on disk, pending windows are lost.
pub struct MkvWriter<W: Write + Seek> {
    w: W,
    sync: fn(&mut W) -> std::io::Result<()>,
    header: RecordingHeader,
    options: WriterOptions,
    tracks: Vec<PlannedTrack>,
    calibration_uid: Option<u64>,
    date_unix_secs: u64,
    segment: ReservedMaster,
    tracks_offset: u64,
    attachments_offset: Option<u64>,
    tags_offset: u64,
    tags_span: usize,
    tags: Vec<(Target, String, String)>,
    pending: BTreeMap<u64, Vec<Item>>,
    start_offset_nsec: Option<u64>,
    max_ts_nsec: Option<u64>,
    written_until_nsec: u64,
    cues: Vec<(u64, u64)>,
    last_sync: Instant,
}

impl MkvWriter<File> {
    /// Creates `path` and writes the header; clusters are `sync_data`'d every flush interval.
    pub fn create_file(
        path: impl AsRef<Path>,
        header: RecordingHeader,
        options: WriterOptions,
    ) -> Result<Self> {
        let file = File::create(path)?;
        Self::create_with_sync(file, header, options, |f| f.sync_data())
    }
}

impl<W: Write + Seek> MkvWriter<W> {
    /// Writes the header to `w` (positioned at its start) with default options.
    pub fn create(w: W, header: RecordingHeader) -> Result<Self> {
        Self::create_with_sync(w, header, WriterOptions::default(), |w| w.flush())
    }

    /// Writes the header to `w` with `options`; `sync` makes written data durable.
    pub fn create_with_sync(
        mut w: W,
        header: RecordingHeader,
        options: WriterOptions,
        sync: fn(&mut W) -> std::io::Result<()>,
    ) -> Result<Self> {
        let mut uids = UidSource::new(options.uid_seed);
        let tracks = plan_tracks(&header, &mut uids);
        let calibration_uid = header.device.as_ref().map(|_| uids.next_uid());
        let date = options.date.unwrap_or_else(SystemTime::now);
        let date_unix_secs = date
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);

        let mut head = Vec::new();
        render_ebml_header(&mut head)?;
        w.write_all(&head)?;
        let segment = ReservedMaster::start(&mut w, id::SEGMENT, ebml::UNKNOWN_SIZE_8)?;

        let mut this = MkvWriter {
            w,
            sync,
            header,
            options,
            tracks,
            calibration_uid,
            date_unix_secs,
            segment,
            tracks_offset: 0,
            attachments_offset: None,
            tags_offset: 0,
            tags_span: 0,
            tags: Vec::new(),
            pending: BTreeMap::new(),
            start_offset_nsec: None,
            max_ts_nsec: None,
            written_until_nsec: 0,
            cues: Vec::new(),
            last_sync: Instant::now(),
        };
        this.tags = this.builtin_tags()?;

        let mut out = Vec::new();
        ebml::put_void(&mut out, SEEK_HEAD_SPAN)?;
        this.render_info_span(&mut out, 0.0)?;
        this.tracks_offset = (out.len()) as u64;
        this.render_tracks(&mut out)?;
        if let (Some(device), Some(uid)) = (&this.header.device, this.calibration_uid) {
            this.attachments_offset = Some(out.len() as u64);
            render_attachments(&mut out, device, uid)?;
        }
        this.tags_offset = out.len() as u64;
        let tags_len = this.render_tags(&mut out)?;
        ebml::put_void(&mut out, TAGS_SLACK)?;
        this.tags_span = tags_len as usize + TAGS_SLACK;
        this.w.write_all(&out)?;
        this.w.flush()?;
        (this.sync)(&mut this.w)?;
        Ok(this)
    }

    /// Track number of a built-in or raw-depth track, if the file has it.
    fn track_number(&self, kind: TrackKind) -> Option<u64> {
        self.tracks
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.number)
    }

    /// Queues the images of one capture; each lands in the cluster of its own timestamp.
    pub fn write_capture(&mut self, capture: &Capture<'_>) -> Result<()> {
        let h = &self.header;
        let depth_size = h.depth_mode.output_size();
        let depth_bytes = depth_size.map(|(w, h)| (w as usize) * (h as usize) * 2);
        let entries = [
            (
                TrackKind::Color,
                "COLOR",
                capture.color,
                h.color_format.frame_size(h.color_resolution),
            ),
            (TrackKind::Depth, "DEPTH", capture.depth, depth_bytes),
            (TrackKind::Ir, "IR", capture.ir, depth_bytes),
            (
                TrackKind::RawDepth,
                "RAW_DEPTH",
                capture.raw_depth,
                h.depth_mode.sensor_mode().map(|m| m.raw_frame_size()),
            ),
        ];
        let mut items = Vec::new();
        for (kind, name, image, expected) in entries {
            let Some(image) = image.filter(|i| !i.data.is_empty()) else {
                continue;
            };
            let track = self
                .track_number(kind)
                .ok_or(MkvError::NoSuchTrack { track: name })?;
            if let Some(expected) = expected.filter(|&e| e != image.data.len()) {
                return Err(MkvError::ImageSize {
                    track: name,
                    expected,
                    got: image.data.len(),
                });
            }
            let data = match kind {
                TrackKind::Depth | TrackKind::Ir => image
                    .data
                    .chunks_exact(2)
                    .flat_map(|s| {
                        [
                            s.get(1).copied().unwrap_or(0),
                            s.first().copied().unwrap_or(0),
                        ]
                    })
                    .collect(),
                _ => image.data.to_vec(),
            };
            let ts_nsec = usec_to_nsec(image.device_ts_usec)?;
            self.check_not_late(ts_nsec)?;
            items.push(Item {
                ts_nsec,
                track,
                imu: false,
                data,
            });
        }
        for item in items {
            self.queue(item)?;
        }
        Ok(())
    }

    /// Queues one IMU sample, stamped with its accelerometer time.
    pub fn write_imu_sample(&mut self, sample: &ImuSample) -> Result<()> {
        let track = self
            .track_number(TrackKind::Imu)
            .ok_or(MkvError::NoSuchTrack { track: "IMU" })?;
        let ts_nsec = usec_to_nsec(sample.acc_ts_usec)?;
        self.check_not_late(ts_nsec)?;
        self.queue(Item {
            ts_nsec,
            track,
            imu: true,
            data: sample.to_bytes().to_vec(),
        })
    }

    fn check_not_late(&self, ts_nsec: u64) -> Result<()> {
        if self.start_offset_nsec.is_some() && ts_nsec < self.written_until_nsec {
            return Err(MkvError::TooLate {
                device_ts_nsec: ts_nsec,
                written_until_nsec: self.written_until_nsec,
            });
        }
        Ok(())
    }

    fn queue(&mut self, item: Item) -> Result<()> {
        let newest = self
            .max_ts_nsec
            .map_or(item.ts_nsec, |m| m.max(item.ts_nsec));
        self.max_ts_nsec = Some(newest);
        self.pending
            .entry(item.ts_nsec / CLUSTER_WINDOW_NSEC)
            .or_default()
            .push(item);
        while let Some((&window, _)) = self.pending.first_key_value() {
            let window_end = window.saturating_add(1).saturating_mul(CLUSTER_WINDOW_NSEC);
            if newest <= window_end.saturating_add(self.options.cluster_write_delay_nsec) {
                break;
            }
            self.write_oldest_window()?;
        }
        Ok(())
    }

    fn write_oldest_window(&mut self) -> Result<()> {
        let Some((window, mut items)) = self.pending.pop_first() else {
            return Ok(());
        };
        items.sort_by_key(|i| (i.ts_nsec, i.track));
        let Some(first_ts) = items.first().map(|i| i.ts_nsec) else {
            return Ok(());
        };
        let first_cluster = self.start_offset_nsec.is_none();
        let offset = *self.start_offset_nsec.get_or_insert(first_ts);
        let cluster_usec = (first_ts - offset) / 1000;
        let segment_pos = self.w.stream_position()? - self.segment.data_offset;

        let mut cue = None;
        let mut out = Vec::new();
        ebml::put_master_with_crc(&mut out, id::CLUSTER, |c| {
            ebml::put_uint(c, id::TIMESTAMP, cluster_usec)?;
            let mut rest = items.as_slice();
            while let Some(first) = rest.first() {
                let rel_usec = (first.ts_nsec - offset) / 1000 - cluster_usec;
                let rel = i16::try_from(rel_usec).map_err(|_| MkvError::Layout {
                    what: "block time beyond the 16-bit cluster-relative range",
                })?;
                if first.imu {
                    let run = rest
                        .iter()
                        .take(MAX_LACE_FRAMES)
                        .take_while(|i| i.imu && i.track == first.track)
                        .count()
                        .max(1);
                    let (lace, tail) = rest.split_at(run);
                    render_imu_group(c, first.track, rel, lace)?;
                    rest = tail;
                } else {
                    if first.track == 1 && cue.is_none() {
                        cue = Some(cluster_usec + rel_usec);
                    }
                    let mut block = Vec::with_capacity(first.data.len() + 4);
                    ebml::put_vint(&mut block, first.track)?;
                    block.extend_from_slice(&rel.to_be_bytes());
                    block.push(0x80);
                    block.extend_from_slice(&first.data);
                    ebml::put_binary(c, id::SIMPLE_BLOCK, &block)?;
                    rest = rest.get(1..).unwrap_or(&[]);
                }
            }
            Ok(())
        })?;
        self.w.write_all(&out)?;
        self.written_until_nsec = window.saturating_add(1).saturating_mul(CLUSTER_WINDOW_NSEC);

        if let Some(cue_usec) = cue {
            if cue_due(self.cues.last().map(|c| c.0), cue_usec) {
                self.cues.push((cue_usec, segment_pos));
            }
        }
        if first_cluster {
            self.tags.push((
                Target::Global,
                "K4A_START_OFFSET_NS".to_owned(),
                offset.to_string(),
            ));
            self.rewrite_tags()?;
        }
        self.w.flush()?;
        if first_cluster || self.last_sync.elapsed() >= self.options.flush_interval {
            (self.sync)(&mut self.w)?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Writes pending clusters, Cues, final Info, Tags and SeekHead, patches the Segment size
    /// and returns the sink.
    pub fn finalize(mut self) -> Result<W> {
        while !self.pending.is_empty() {
            self.write_oldest_window()?;
        }
        let end = self.w.seek(SeekFrom::End(0))?;
        let seg = self.segment.data_offset;
        let mut cues_pos = None;
        if !self.cues.is_empty() {
            cues_pos = Some(end - seg);
            let mut out = Vec::new();
            render_cues(&mut out, &self.cues)?;
            self.w.write_all(&out)?;
        }
        let file_end = self.w.stream_position()?;

        let duration_usec = match (self.max_ts_nsec, self.start_offset_nsec) {
            (Some(max), Some(offset)) => (max - offset) / 1000,
            _ => 0,
        };
        let mut info = Vec::new();
        self.render_info_span(&mut info, duration_usec as f32)?;
        self.write_at(seg + SEEK_HEAD_SPAN as u64, &info)?;
        self.rewrite_tags()?;

        let mut entries = vec![
            (id::INFO, SEEK_HEAD_SPAN as u64),
            (id::TRACKS, self.tracks_offset),
        ];
        if let Some(pos) = self.attachments_offset {
            entries.push((id::ATTACHMENTS, pos));
        }
        entries.push((id::TAGS, self.tags_offset));
        if let Some(pos) = cues_pos {
            entries.push((id::CUES, pos));
        }
        let mut seek_head = Vec::new();
        render_seek_head_span(&mut seek_head, &entries)?;
        self.write_at(seg, &seek_head)?;

        self.w.seek(SeekFrom::Start(file_end))?;
        self.segment.patch_size(&mut self.w, file_end)?;
        self.w.flush()?;
        (self.sync)(&mut self.w)?;
        Ok(self.w)
    }

    /// Device time before which every queued item is in the sink, µs: clusters are written
    /// whole and in window order, so nothing earlier is still held. 0 before the first cluster.
    pub fn written_until_usec(&self) -> u64 {
        if self.start_offset_nsec.is_some() {
            self.written_until_nsec / 1000
        } else {
            0
        }
    }

    /// Gives up without finalizing and returns the sink as a crash would leave it: complete
    /// clusters on disk, pending windows lost (used to test crash recovery).
    pub fn abandon(self) -> W {
        self.w
    }

    fn write_at(&mut self, file_pos: u64, bytes: &[u8]) -> Result<()> {
        let back = self.w.stream_position()?;
        self.w.seek(SeekFrom::Start(file_pos))?;
        self.w.write_all(bytes)?;
        self.w.seek(SeekFrom::Start(back))?;
        Ok(())
    }

    fn rewrite_tags(&mut self) -> Result<()> {
        let mut out = Vec::new();
        let len = self.render_tags(&mut out)? as usize;
        let void = self.tags_span.checked_sub(len).ok_or(MkvError::Layout {
            what: "Tags outgrew their slack",
        })?;
        if void > 0 {
            ebml::put_void(&mut out, void)?;
        }
        let at = self.segment.data_offset + self.tags_offset;
        self.write_at(at, &out)
    }

    fn builtin_tags(&self) -> Result<Vec<(Target, String, String)>> {
        let h = &self.header;
        let mut tags = Vec::new();
        let mut push = |target: Target, name: &str, value: String| {
            tags.push((target, name.to_owned(), value));
        };
        let uid = |kind| self.tracks.iter().find(|t| t.kind == kind).map(|t| t.uid);
        if let Some(u) = uid(TrackKind::Color) {
            push(Target::Track(u), "K4A_COLOR_TRACK", u.to_string());
            let height = h.color_resolution.size().map_or(0, |(_, h)| h);
            let mode = format!("{}_{}P", color_mode_format_name(h.color_format), height);
            push(Target::Track(u), "K4A_COLOR_MODE", mode);
        }
        let depth_on = h.depth_mode != DepthMode::Off;
        if let Some(u) = uid(TrackKind::Depth) {
            push(Target::Track(u), "K4A_DEPTH_TRACK", u.to_string());
            push(
                Target::Track(u),
                "K4A_DEPTH_MODE",
                h.depth_mode.sdk_name().to_owned(),
            );
        } else if depth_on {
            push(
                Target::Global,
                "K4A_DEPTH_MODE",
                h.depth_mode.sdk_name().to_owned(),
            );
        }
        if let Some(u) = uid(TrackKind::Ir) {
            push(Target::Track(u), "K4A_IR_TRACK", u.to_string());
            let ir = if h.depth_mode == DepthMode::PassiveIr {
                "PASSIVE"
            } else {
                "ACTIVE"
            };
            push(Target::Track(u), "K4A_IR_MODE", ir.to_owned());
        }
        if uid(TrackKind::Color).is_some() && depth_on {
            push(
                Target::Global,
                "K4A_DEPTH_DELAY_NS",
                h.depth_delay_off_color_nsec.to_string(),
            );
        }
        push(
            Target::Global,
            "K4A_WIRED_SYNC_MODE",
            h.wired_sync_mode.sdk_name().to_owned(),
        );
        if h.wired_sync_mode == WiredSyncMode::Subordinate {
            push(
                Target::Global,
                "K4A_SUBORDINATE_DELAY_NS",
                h.subordinate_delay_off_master_nsec.to_string(),
            );
        }
        if let Some(device) = &h.device {
            push(
                Target::Global,
                "K4A_COLOR_FIRMWARE_VERSION",
                device.color_firmware.clone(),
            );
            push(
                Target::Global,
                "K4A_DEPTH_FIRMWARE_VERSION",
                device.depth_firmware.clone(),
            );
            if !device.serial.is_empty() {
                push(
                    Target::Global,
                    "K4A_DEVICE_SERIAL_NUMBER",
                    device.serial.clone(),
                );
            }
            if let Some(u) = self.calibration_uid {
                push(
                    Target::Attachment(u),
                    "K4A_CALIBRATION_FILE",
                    CALIBRATION_FILE_NAME.to_owned(),
                );
            }
        }
        if let Some(u) = uid(TrackKind::Imu) {
            push(Target::Track(u), "K4A_IMU_TRACK", u.to_string());
            push(Target::Track(u), "K4A_IMU_MODE", "ON".to_owned());
        }
        if let Some(u) = uid(TrackKind::RawDepth) {
            push(
                Target::Track(u),
                &format!("K4A_CUSTOM_TRACK_{}", track_name::RAW_DEPTH),
                u.to_string(),
            );
        }
        for (name, value) in &h.extra_tags {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(MkvError::BadTag {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
            push(Target::Global, name, value.clone());
        }
        Ok(tags)
    }

    fn render_tags(&self, out: &mut Vec<u8>) -> Result<u64> {
        render_tag_list(out, &self.tags)
    }

    fn render_info_span(&self, out: &mut Vec<u8>, duration_usec: f32) -> Result<()> {
        render_info_span(
            out,
            &self.header.writing_app,
            self.date_unix_secs,
            duration_usec,
        )
    }

    fn render_tracks(&self, out: &mut Vec<u8>) -> Result<()> {
        let h = &self.header;
        let default_duration = 1_000_000_000 / u64::from(h.fps.hz());
        ebml::put_master(out, id::TRACKS, |t| {
            for track in &self.tracks {
                ebml::put_master(t, id::TRACK_ENTRY, |e| {
                    ebml::put_uint(e, id::TRACK_NUMBER, track.number)?;
                    ebml::put_uint(e, id::TRACK_UID, track.uid)?;
                    let (video, codec_id, name) = match track.kind {
                        TrackKind::Color => (true, codec::VFW, track_name::COLOR),
                        TrackKind::Depth => (true, codec::VFW, track_name::DEPTH),
                        TrackKind::Ir => (true, codec::VFW, track_name::IR),
                        TrackKind::Imu => (false, codec::IMU, track_name::IMU),
                        TrackKind::RawDepth => (true, codec::RAW_DEPTH, track_name::RAW_DEPTH),
                    };
                    let track_type = if video {
                        TRACK_TYPE_VIDEO
                    } else {
                        TRACK_TYPE_SUBTITLE
                    };
                    ebml::put_uint(e, id::TRACK_TYPE, track_type)?;
                    ebml::put_string(e, id::CODEC_ID, codec_id)?;
                    ebml::put_string(e, id::NAME, name)?;
                    let (width, height) = match track.kind {
                        TrackKind::Color => h.color_resolution.size().unwrap_or((0, 0)),
                        TrackKind::Imu => return Ok(()),
                        _ => h.depth_mode.output_size().unwrap_or((0, 0)),
                    };
                    let private = match track.kind {
                        TrackKind::Color => {
                            let (cc, bits, size) =
                                color_bitmap_params(h.color_format, width, height);
                            bitmap_info_header(width, height, bits, cc, size).to_vec()
                        }
                        TrackKind::RawDepth => raw_depth_codec_private(h.depth_mode).to_vec(),
                        _ => bitmap_info_header(
                            width,
                            height,
                            16,
                            fourcc::B16G,
                            width.saturating_mul(height).saturating_mul(2),
                        )
                        .to_vec(),
                    };
                    ebml::put_binary(e, id::CODEC_PRIVATE, &private)?;
                    ebml::put_uint(e, id::DEFAULT_DURATION, default_duration)?;
                    ebml::put_master(e, id::VIDEO, |v| {
                        ebml::put_uint(v, id::PIXEL_WIDTH, u64::from(width))?;
                        ebml::put_uint(v, id::PIXEL_HEIGHT, u64::from(height))
                    })
                })?;
            }
            Ok(())
        })
    }
}

fn usec_to_nsec(ts: Usec) -> Result<u64> {
    ts.0.checked_mul(1000).ok_or(MkvError::Layout {
        what: "device timestamp overflows 64-bit nanoseconds",
    })
}

fn plan_tracks(h: &RecordingHeader, uids: &mut UidSource) -> Vec<PlannedTrack> {
    let mut kinds = Vec::new();
    if h.color_resolution != ColorResolution::Off {
        kinds.push(TrackKind::Color);
    }
    let depth_on = h.depth_mode != DepthMode::Off;
    match h.depth_storage {
        DepthStorage::Images => {
            if depth_on && h.depth_mode != DepthMode::PassiveIr {
                kinds.push(TrackKind::Depth);
            }
            if depth_on {
                kinds.push(TrackKind::Ir);
            }
        }
        DepthStorage::Raw => {}
    }
    if h.imu {
        kinds.push(TrackKind::Imu);
    }
    if h.depth_storage == DepthStorage::Raw && depth_on {
        kinds.push(TrackKind::RawDepth);
    }
    kinds
        .into_iter()
        .zip(1u64..)
        .map(|(kind, number)| PlannedTrack {
            kind,
            number,
            uid: uids.next_uid(),
        })
        .collect()
}

/// Info (TimestampScale 1000, apps, DateUTC, Title, Duration) plus the Void filling its
/// [`INFO_SPAN`] (reference §4).
pub(crate) fn render_info_span(
    out: &mut Vec<u8>,
    writing_app: &str,
    date_unix_secs: u64,
    duration_usec: f32,
) -> Result<()> {
    let start = out.len();
    let date_nsec = (date_unix_secs.saturating_sub(MATROSKA_EPOCH_UNIX_SECS) as i64)
        .saturating_mul(1_000_000_000);
    ebml::put_master(out, id::INFO, |i| {
        ebml::put_uint(i, id::TIMESTAMP_SCALE, TIMESTAMP_SCALE_NSEC)?;
        ebml::put_string(i, id::MUXING_APP, writing_app)?;
        ebml::put_string(i, id::WRITING_APP, writing_app)?;
        ebml::put_binary(i, id::DATE_UTC, &date_nsec.to_be_bytes())?;
        ebml::put_string(i, id::TITLE, TITLE)?;
        ebml::put_float32(i, id::DURATION, duration_usec)
    })?;
    let void = INFO_SPAN
        .checked_sub(out.len() - start)
        .ok_or(MkvError::Layout {
            what: "Info larger than its reserved span (writing_app too long)",
        })?;
    ebml::put_void(out, void)
}

/// Unix seconds of a Matroska DateUTC value (ns since 2001-01-01).
pub(crate) fn date_utc_to_unix_secs(date_nsec: i64) -> u64 {
    (date_nsec / 1_000_000_000)
        .saturating_add(MATROSKA_EPOCH_UNIX_SECS as i64)
        .max(0) as u64
}

/// Whether a cluster whose first track-1 block is at `cue_usec` gets a CuePoint after the last
/// one at `last_usec` (reference §11).
pub(crate) fn cue_due(last_usec: Option<u64>, cue_usec: u64) -> bool {
    match last_usec {
        None => true,
        Some(prev) => prev == 0 || cue_usec >= prev + CUE_GAP_USEC,
    }
}

/// Cues of (CueTime µs, segment-relative cluster position) pairs for track 1 (reference §11).
pub(crate) fn render_cues(out: &mut Vec<u8>, cues: &[(u64, u64)]) -> Result<()> {
    ebml::put_master(out, id::CUES, |c| {
        for &(time, pos) in cues {
            ebml::put_master(c, id::CUE_POINT, |p| {
                ebml::put_uint(p, id::CUE_TIME, time)?;
                ebml::put_master(p, id::CUE_TRACK_POSITIONS, |t| {
                    ebml::put_uint(t, id::CUE_TRACK, 1)?;
                    ebml::put_uint(t, id::CUE_CLUSTER_POSITION, pos)
                })
            })?;
        }
        Ok(())
    })
}

/// SeekHead of (element ID, segment position) entries plus the Void filling [`SEEK_HEAD_SPAN`]
/// (reference §3).
pub(crate) fn render_seek_head_span(out: &mut Vec<u8>, entries: &[(u32, u64)]) -> Result<()> {
    let start = out.len();
    ebml::put_master(out, id::SEEK_HEAD, |s| {
        for &(element, pos) in entries {
            ebml::put_master(s, id::SEEK, |e| {
                ebml::put_binary(e, id::SEEK_ID, &element.to_be_bytes())?;
                ebml::put_uint(e, id::SEEK_POSITION, pos)
            })?;
        }
        Ok(())
    })?;
    let void = SEEK_HEAD_SPAN
        .checked_sub(out.len() - start)
        .ok_or(MkvError::Layout {
            what: "SeekHead larger than its reserved span",
        })?;
    ebml::put_void(out, void)
}

pub(crate) fn render_ebml_header(out: &mut Vec<u8>) -> Result<()> {
    ebml::put_master(out, id::EBML, |e| {
        ebml::put_uint(e, id::EBML_VERSION, 1)?;
        ebml::put_uint(e, id::EBML_READ_VERSION, 1)?;
        ebml::put_uint(e, id::EBML_MAX_ID_LENGTH, 4)?;
        ebml::put_uint(e, id::EBML_MAX_SIZE_LENGTH, 8)?;
        ebml::put_string(e, id::DOC_TYPE, EBML_DOC_TYPE)?;
        ebml::put_uint(e, id::DOC_TYPE_VERSION, 2)?;
        ebml::put_uint(e, id::DOC_TYPE_READ_VERSION, 2)
    })
}

fn render_attachments(out: &mut Vec<u8>, device: &DeviceInfo, uid: u64) -> Result<()> {
    let data = device
        .calibration_json
        .strip_suffix(&[0])
        .unwrap_or(&device.calibration_json);
    ebml::put_master(out, id::ATTACHMENTS, |a| {
        ebml::put_master(a, id::ATTACHED_FILE, |f| {
            ebml::put_string(f, id::FILE_NAME, CALIBRATION_FILE_NAME)?;
            ebml::put_string(f, id::FILE_MIME_TYPE, "application/octet-stream")?;
            ebml::put_binary(f, id::FILE_DATA, data)?;
            ebml::put_uint(f, id::FILE_UID, uid)
        })
    })
}

pub(crate) fn render_tag_list(out: &mut Vec<u8>, tags: &[(Target, String, String)]) -> Result<u64> {
    let start = out.len();
    ebml::put_master_with_crc(out, id::TAGS, |t| {
        for (target, name, value) in tags {
            ebml::put_master(t, id::TAG, |tag| {
                ebml::put_master(tag, id::TARGETS, |tg| match *target {
                    Target::Global => Ok(()),
                    Target::Track(uid) => {
                        ebml::put_string(tg, id::TARGET_TYPE, "TRACK")?;
                        ebml::put_uint(tg, id::TAG_TRACK_UID, uid)
                    }
                    Target::Attachment(uid) => {
                        ebml::put_string(tg, id::TARGET_TYPE, "ATTACHMENT")?;
                        ebml::put_uint(tg, id::TAG_ATTACHMENT_UID, uid)
                    }
                })?;
                ebml::put_master(tag, id::SIMPLE_TAG, |s| {
                    ebml::put_string(s, id::TAG_NAME, name)?;
                    ebml::put_string(s, id::TAG_STRING, value)
                })
            })?;
        }
        Ok(())
    })?;
    Ok((out.len() - start) as u64)
}

fn render_imu_group(out: &mut Vec<u8>, track: u64, rel: i16, lace: &[Item]) -> Result<()> {
    let first = lace.first().map_or(0, |i| i.ts_nsec);
    let last = lace.last().map_or(0, |i| i.ts_nsec);
    let duration = (last - first + 1000) / 1000;
    ebml::put_master(out, id::BLOCK_GROUP, |g| {
        let mut block = Vec::with_capacity(lace.len() * IMU_SAMPLE_LEN + 5);
        ebml::put_vint(&mut block, track)?;
        block.extend_from_slice(&rel.to_be_bytes());
        if lace.len() > 1 {
            block.push(0x04);
            block.push((lace.len() - 1) as u8);
        } else {
            block.push(0x00);
        }
        lace.iter().for_each(|i| block.extend_from_slice(&i.data));
        ebml::put_binary(g, id::BLOCK, &block)?;
        ebml::put_uint(g, id::BLOCK_DURATION, duration)
    })
}

/// The 40-byte BITMAPINFOHEADER of a video track (reference §5.1).
pub fn bitmap_info_header(
    width: u32,
    height: u32,
    bits: u16,
    fourcc: u32,
    image_size: u32,
) -> [u8; 40] {
    let mut out = [0u8; 40];
    let fields: [(usize, &[u8]); 7] = [
        (0, &40u32.to_le_bytes()),
        (4, &width.to_le_bytes()),
        (8, &height.to_le_bytes()),
        (12, &1u16.to_le_bytes()),
        (14, &bits.to_le_bytes()),
        (16, &fourcc.to_le_bytes()),
        (20, &image_size.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = out.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    out
}

/// CodecPrivate of the raw-depth track: magic, layout version, sensor mode, raw frame size
/// (u32 little-endian each; docs/recording.md).
pub fn raw_depth_codec_private(mode: DepthMode) -> [u8; RAW_DEPTH_CODEC_PRIVATE_LEN] {
    let sensor = mode.sensor_mode();
    let mut out = [0u8; RAW_DEPTH_CODEC_PRIVATE_LEN];
    let words = [
        u32::from_le_bytes(RAW_DEPTH_MAGIC),
        1,
        sensor.map_or(0, |s| s.wire_value()),
        sensor.map_or(0, |s| s.raw_frame_size() as u32),
    ];
    for (dst, w) in out.chunks_exact_mut(4).zip(words) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Random non-zero 60-bit UIDs, unique within one writer (reference §5 TrackUID).
struct UidSource {
    state: u64,
    used: HashSet<u64>,
}

impl UidSource {
    fn new(seed: Option<u64>) -> Self {
        let state = seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            h.write_u64(now);
            h.finish()
        });
        UidSource {
            state,
            used: HashSet::new(),
        }
    }

    fn next_uid(&mut self) -> u64 {
        loop {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let uid = (z ^ (z >> 31)) >> 4;
            if uid != 0 && self.used.insert(uid) {
                return uid;
            }
        }
    }
}
