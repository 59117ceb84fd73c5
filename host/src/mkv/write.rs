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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k4sync_core::time::Usec;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};

use super::ebml::{self, id, ReservedMaster};
use super::{
    codec, color_bitmap_params, color_mode_format_name, fourcc, track_name, MkvError, Result,
    CALIBRATION_FILE_NAME, DEPTH_CALIBRATION_FILE_NAME, IMU_SAMPLE_LEN, TIMESTAMP_SCALE_NSEC,
    TRACK_TYPE_SUBTITLE, TRACK_TYPE_VIDEO,
};
use crate::transport::BufferPool;

/// Span reserved for the SeekHead at the start of the Segment (reference §1, item 3).
pub const SEEK_HEAD_SPAN: usize = 1027;
/// Span reserved for Info right after it (reference §1, item 4).
pub const INFO_SPAN: usize = 259;
/// Void written after the Tags as room for them to grow (reference §1, item 8).
pub const TAGS_SLACK: usize = 1027;
/// Cluster window length (reference §10.1).
pub const CLUSTER_WINDOW_NSEC: u64 = 32_000_000;
/// How far the newest item may be past a window's end before that window is written even
/// though a track has not reached the end yet (a stalled track; docs/recording.md).
///
/// Windows are normally written as soon as every track has delivered an item past their end
/// (per-track watermarks), so this bound only matters when a track stops delivering. It must
/// exceed the normal lag between tracks at the writer, or a slow track's items would arrive
/// after their window was written and be rejected as late. That lag is at most the depth delay
/// (< 1 frame period), one frame period the pairer may wait for a partner, and the delivery
/// latency of a frame: under 500 ms at 5 fps, the slowest rate. The recorder raises it to cover
/// the pairer's hold when one camera stops (`record::stalled_track_bound_nsec`).
pub const CLUSTER_WRITE_DELAY_NSEC: u64 = 500_000_000;
/// k4arecord's hold-back: a window is written once the newest item is 2 s past its end
/// (reference §10.1). Setting [`WriterOptions::cluster_write_delay_nsec`] to it writes the same
/// clusters as the watermarks do for tracks delivered in timestamp order.
pub const SDK_CLUSTER_WRITE_DELAY_NSEC: u64 = 2_000_000_000;
/// Most bytes of frame data the writer holds in unwritten windows before it writes the oldest
/// ones regardless of watermarks: a hard memory bound for a stalled track at high data rates.
/// In steady state the writer holds one to two captures (the window of the newest capture
/// waits for the next one); three captures of the heaviest single-camera mode (5.3 MB raw
/// depth + a 2160p MJPG frame) fit.
pub const MAX_PENDING_BYTES: usize = 24 << 20;
/// Frames at least this long are written from their own buffer; shorter pieces of a Cluster
/// are gathered and written together.
const DIRECT_WRITE_MIN: usize = 64 * 1024;
/// A Cluster's CRC-32 element: ID, one-byte size, four bytes of checksum.
const CRC_ELEMENT_LEN: usize = 6;
/// Frame data is checksummed and written in slices this long, which stay in the CPU's cache
/// from the CRC-32 to the write.
const CRC_SLICE: usize = 256 * 1024;
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
    /// The IR sensor calibration blob the depth engine needs (NV_DATA_GET tag 2), stored as the
    /// attachment `depth_cal.ccb` after `calibration.json` (docs/depth.md).
    pub depth_calibration: Option<Vec<u8>>,
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
    /// How far the newest item may be past a window's end before the window is written even
    /// though some track has not reached its end ([`CLUSTER_WRITE_DELAY_NSEC`]).
    pub cluster_write_delay_nsec: u64,
    /// Most frame bytes held in unwritten windows ([`MAX_PENDING_BYTES`]); past it the oldest
    /// windows are written regardless of watermarks.
    pub max_pending_bytes: usize,
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
            max_pending_bytes: MAX_PENDING_BYTES,
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

/// An image that hands its buffer to the writer ([`MkvWriter::write_capture_owned`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageBuf {
    pub device_ts_usec: Usec,
    /// As [`Image::data`].
    pub data: Vec<u8>,
}

/// The images of one capture, owned; absent or empty images are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureBuf {
    pub color: Option<ImageBuf>,
    pub depth: Option<ImageBuf>,
    pub ir: Option<ImageBuf>,
    pub raw_depth: Option<ImageBuf>,
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

/// One piece of a Cluster's children in file order: a range of rendered element bytes, or the
/// data of the window's item at that index.
enum Piece {
    Meta(std::ops::Range<usize>),
    Data(usize),
}

/// A cluster's bytes in file order, frame data left where it is: everything else (Timestamp,
/// block headers, IMU groups) in `meta`, `pieces` interleaving its ranges with the items'
/// data, and the cue time (the first colour block's, µs) if it has one.
struct ClusterLayout {
    meta: Vec<u8>,
    pieces: Vec<Piece>,
    cue: Option<u64>,
}

impl ClusterLayout {
    /// Lays out `items` (sorted) as a cluster at `cluster_usec` of file time.
    fn of(items: &[Item], offset: u64, cluster_usec: u64) -> Result<ClusterLayout> {
        let mut layout = ClusterLayout {
            meta: Vec::new(),
            pieces: Vec::new(),
            cue: None,
        };
        let mut meta_from = 0;
        ebml::put_uint(&mut layout.meta, id::TIMESTAMP, cluster_usec)?;
        let mut at = 0;
        while let Some(first) = items.get(at) {
            let rel_usec = (first.ts_nsec - offset) / 1000 - cluster_usec;
            let rel = i16::try_from(rel_usec).map_err(|_| MkvError::Layout {
                what: "block time beyond the 16-bit cluster-relative range",
            })?;
            if first.imu {
                let run = items
                    .get(at..)
                    .unwrap_or_default()
                    .iter()
                    .take(MAX_LACE_FRAMES)
                    .take_while(|i| i.imu && i.track == first.track)
                    .count()
                    .max(1);
                let lace = items.get(at..at + run).unwrap_or_default();
                render_imu_group(&mut layout.meta, first.track, rel, lace)?;
                at += run;
                continue;
            }
            if first.track == 1 && layout.cue.is_none() {
                layout.cue = Some(cluster_usec + rel_usec);
            }
            let mut block_head = Vec::with_capacity(4);
            ebml::put_vint(&mut block_head, first.track)?;
            block_head.extend_from_slice(&rel.to_be_bytes());
            block_head.push(0x80);
            let block_len = (block_head.len() + first.data.len()) as u64;
            ebml::put_header(&mut layout.meta, id::SIMPLE_BLOCK, block_len)?;
            layout.meta.extend_from_slice(&block_head);
            layout
                .pieces
                .push(Piece::Meta(meta_from..layout.meta.len()));
            meta_from = layout.meta.len();
            layout.pieces.push(Piece::Data(at));
            at += 1;
        }
        layout
            .pieces
            .push(Piece::Meta(meta_from..layout.meta.len()));
        Ok(layout)
    }
}

/// Writes `head` and then `pieces` (bytes, and their CRC-32 when already known) to `w`;
/// returns the CRC-32 of the pieces (not of `head`).
///
/// Small pieces are gathered into `head`, large frames written from their own buffer in
/// slices, each checksummed just before it is written: few write calls, no copy of frame data,
/// and the kernel's copy into the page cache reads what the CRC-32 just loaded.
fn write_checksummed<'a, W: Write>(
    w: &mut W,
    mut head: Vec<u8>,
    pieces: impl Iterator<Item = (&'a [u8], Option<&'a crc32fast::Hasher>)>,
) -> Result<u32> {
    let mut crc = super::CRC32_INIT;
    for (bytes, known) in pieces {
        if bytes.len() < DIRECT_WRITE_MIN {
            crc = super::crc32_update(crc, bytes);
            head.extend_from_slice(bytes);
            continue;
        }
        if !head.is_empty() {
            w.write_all(&head)?;
            head.clear();
        }
        if let Some(data_crc) = known {
            let mut running = crc32fast::Hasher::new_with_initial(crc);
            running.combine(data_crc);
            crc = running.finalize();
            w.write_all(bytes)?;
            continue;
        }
        for slice in bytes.chunks(CRC_SLICE) {
            crc = super::crc32_update(crc, slice);
            w.write_all(slice)?;
        }
    }
    if !head.is_empty() {
        w.write_all(&head)?;
    }
    Ok(crc)
}

#[derive(Debug)]
struct Item {
    ts_nsec: u64,
    track: u64,
    imu: bool,
    data: Vec<u8>,
    /// CRC-32 of `data` when it was computed as the data was copied in.
    crc: Option<crc32fast::Hasher>,
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
    /// Frame bytes in `pending`.
    pending_bytes: usize,
    /// Per track (index = track number − 1): the newest timestamp it delivered.
    watermarks: Vec<Option<u64>>,
    late_rejected: u64,
    start_offset_nsec: Option<u64>,
    written_until_nsec: u64,
    cues: Vec<(u64, u64)>,
    last_sync: Instant,
    /// Where frame copies come from and written frames go back to: its own pool, or the
    /// camera's ([`MkvWriter::share_buffers`]).
    buffers: Arc<BufferPool>,
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

    /// Takes frame copies from `buffers` and gives written frames back to it: the pool of the
    /// camera whose frames this writer gets.
    pub(crate) fn share_buffers(&mut self, buffers: &Arc<BufferPool>) {
        self.buffers = buffers.clone();
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
        let depth_calibration_uid = header
            .device
            .as_ref()
            .and_then(|d| d.depth_calibration.as_ref())
            .map(|_| uids.next_uid());
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
            pending_bytes: 0,
            watermarks: Vec::new(),
            late_rejected: 0,
            start_offset_nsec: None,
            written_until_nsec: 0,
            cues: Vec::new(),
            last_sync: Instant::now(),
            buffers: BufferPool::for_camera(),
        };
        this.tags = this.builtin_tags()?;
        this.watermarks = vec![None; this.tracks.len()];

        let mut out = Vec::new();
        ebml::put_void(&mut out, SEEK_HEAD_SPAN)?;
        this.render_info_span(&mut out, 0.0)?;
        this.tracks_offset = (out.len()) as u64;
        this.render_tracks(&mut out)?;
        if let (Some(device), Some(uid)) = (&this.header.device, this.calibration_uid) {
            this.attachments_offset = Some(out.len() as u64);
            render_attachments(&mut out, device, uid, depth_calibration_uid)?;
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
        self.queue_capture(
            [capture.color, capture.depth, capture.ir, capture.raw_depth]
                .map(|image| image.map(|i| (i.device_ts_usec, Cow::Borrowed(i.data)))),
        )
    }

    /// [`Self::write_capture`] taking the images' buffers, so that frame bytes are not copied
    /// (DEPTH and IR samples are byte-swapped in place; [`Self::write_capture`] swaps them
    /// while it copies).
    pub fn write_capture_owned(&mut self, capture: CaptureBuf) -> Result<()> {
        self.queue_capture(
            [capture.color, capture.depth, capture.ir, capture.raw_depth]
                .map(|image| image.map(|i| (i.device_ts_usec, Cow::<[u8]>::Owned(i.data)))),
        )
    }

    /// Colour, depth, IR and raw depth, in that order.
    fn queue_capture(&mut self, images: [Option<(Usec, Cow<'_, [u8]>)>; 4]) -> Result<()> {
        let h = &self.header;
        let depth_size = h.depth_mode.output_size();
        let depth_bytes = depth_size.map(|(w, h)| (w as usize) * (h as usize) * 2);
        let expected = [
            (
                TrackKind::Color,
                "COLOR",
                h.color_format.frame_size(h.color_resolution),
            ),
            (TrackKind::Depth, "DEPTH", depth_bytes),
            (TrackKind::Ir, "IR", depth_bytes),
            (
                TrackKind::RawDepth,
                "RAW_DEPTH",
                h.depth_mode.sensor_mode().map(|m| m.raw_frame_size()),
            ),
        ];
        let mut checked = Vec::with_capacity(4);
        for ((kind, name, expected), image) in expected.into_iter().zip(images) {
            let Some((ts, data)) = image.filter(|(_, data)| !data.is_empty()) else {
                continue;
            };
            let track = self
                .track_number(kind)
                .ok_or(MkvError::NoSuchTrack { track: name })?;
            if let Some(expected) = expected.filter(|&e| e != data.len()) {
                return Err(MkvError::ImageSize {
                    track: name,
                    expected,
                    got: data.len(),
                });
            }
            checked.push((kind, track, usec_to_nsec(ts)?, data));
        }
        if let Some(&(_, _, late, _)) = checked.iter().find(|c| self.is_late(c.2)) {
            self.late_rejected += checked.len() as u64;
            return Err(self.too_late(late));
        }
        for (kind, track, ts_nsec, data) in checked {
            let swap = matches!(kind, TrackKind::Depth | TrackKind::Ir);
            let (data, crc) = match data {
                Cow::Owned(mut data) => {
                    if swap {
                        swap_samples(&mut data);
                    }
                    (data, None)
                }
                Cow::Borrowed(bytes) if swap => {
                    let (data, crc) = swapped_copy(bytes, self.buffers.with_capacity(bytes.len()));
                    (data, Some(crc))
                }
                Cow::Borrowed(bytes) => (self.buffers.copy_of(bytes), None),
            };
            self.queue(Item {
                ts_nsec,
                track,
                imu: false,
                data,
                crc,
            })?;
        }
        Ok(())
    }

    /// Queues one IMU sample, stamped with its accelerometer time.
    pub fn write_imu_sample(&mut self, sample: &ImuSample) -> Result<()> {
        let track = self
            .track_number(TrackKind::Imu)
            .ok_or(MkvError::NoSuchTrack { track: "IMU" })?;
        let ts_nsec = usec_to_nsec(sample.acc_ts_usec)?;
        if self.is_late(ts_nsec) {
            self.late_rejected += 1;
            return Err(self.too_late(ts_nsec));
        }
        self.queue(Item {
            ts_nsec,
            track,
            imu: true,
            data: sample.to_bytes().to_vec(),
            crc: None,
        })
    }

    /// Images and IMU samples rejected so far because their window was already written
    /// ([`MkvError::TooLate`]); a rejected capture counts each of its images.
    pub fn late_rejected(&self) -> u64 {
        self.late_rejected
    }

    /// Frame bytes held in windows not written yet.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Windows held in memory, not written yet.
    pub fn pending_windows(&self) -> usize {
        self.pending.len()
    }

    /// Device time (ns) before which every window has been written; 0 before the first cluster.
    pub fn written_until_nsec(&self) -> u64 {
        self.written_until_nsec
    }

    fn is_late(&self, ts_nsec: u64) -> bool {
        self.start_offset_nsec.is_some() && ts_nsec < self.written_until_nsec
    }

    fn too_late(&self, ts_nsec: u64) -> MkvError {
        MkvError::TooLate {
            device_ts_nsec: ts_nsec,
            written_until_nsec: self.written_until_nsec,
        }
    }

    /// The newest timestamp any track delivered.
    fn newest_nsec(&self) -> Option<u64> {
        self.watermarks.iter().flatten().copied().max()
    }

    fn queue(&mut self, item: Item) -> Result<()> {
        let mark = usize::try_from(item.track)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.watermarks.get_mut(i));
        if let Some(mark) = mark {
            *mark = Some(mark.map_or(item.ts_nsec, |m| m.max(item.ts_nsec)));
        }
        let item_ts = item.ts_nsec;
        self.pending_bytes += item.data.len();
        self.pending
            .entry(item_ts / CLUSTER_WINDOW_NSEC)
            .or_default()
            .push(item);
        let newest = self.newest_nsec().unwrap_or(item_ts);
        while let Some(&window) = self.pending.keys().next() {
            if !self.window_ready(window, newest) {
                break;
            }
            self.write_oldest_window()?;
        }
        Ok(())
    }

    /// Whether `window` can be written: every track delivered an item at or past its end (items
    /// of one track come in timestamp order, so none of them can still fall into it), or the
    /// newest item is more than the stall bound past its end, or the held bytes exceed their
    /// bound.
    fn window_ready(&self, window: u64, newest: u64) -> bool {
        let end = window.saturating_add(1).saturating_mul(CLUSTER_WINDOW_NSEC);
        let all_passed = self
            .watermarks
            .iter()
            .all(|mark| mark.is_some_and(|m| m >= end));
        all_passed
            || newest > end.saturating_add(self.options.cluster_write_delay_nsec)
            || self.pending_bytes > self.options.max_pending_bytes
    }

    /// Renders the oldest window as one Cluster and appends it. Frame data is not copied: the
    /// Cluster header and a 6-byte Void go first, then the pieces (element headers, IMU groups,
    /// frame bytes) in file order while the CRC-32 runs over them, and last the Void becomes
    /// the CRC-32 element. A crash in between leaves a valid Cluster without a checksum.
    fn write_oldest_window(&mut self) -> Result<()> {
        let Some((window, mut items)) = self.pending.pop_first() else {
            return Ok(());
        };
        self.pending_bytes = self
            .pending_bytes
            .saturating_sub(items.iter().map(|i| i.data.len()).sum());
        items.sort_by_key(|i| (i.ts_nsec, i.track));
        let Some(first_ts) = items.first().map(|i| i.ts_nsec) else {
            return Ok(());
        };
        let first_cluster = self.start_offset_nsec.is_none();
        let offset = *self.start_offset_nsec.get_or_insert(first_ts);
        let cluster_usec = (first_ts - offset) / 1000;
        let segment_pos = self
            .w
            .stream_position()?
            .checked_sub(self.segment.data_offset)
            .ok_or(MkvError::Layout {
                what: "the sink's position is before the Segment's data (a sink that cannot seek)",
            })?;

        let ClusterLayout { meta, pieces, cue } = ClusterLayout::of(&items, offset, cluster_usec)?;
        let piece_bytes = |piece: &Piece| -> &[u8] {
            match piece {
                Piece::Meta(range) => meta.get(range.clone()).unwrap_or_default(),
                Piece::Data(i) => items.get(*i).map_or(&[], |item| item.data.as_slice()),
            }
        };
        let children_len: u64 = pieces.iter().map(|p| piece_bytes(p).len() as u64).sum();
        let mut head = Vec::with_capacity(32);
        ebml::put_header(
            &mut head,
            id::CLUSTER,
            CRC_ELEMENT_LEN as u64 + children_len,
        )?;
        let crc_pos = self.w.stream_position()? + head.len() as u64;
        ebml::put_void(&mut head, CRC_ELEMENT_LEN)?;
        let known_crc = |piece: &Piece| match piece {
            Piece::Data(i) => items.get(*i).and_then(|item| item.crc.as_ref()),
            Piece::Meta(_) => None,
        };
        let crc = write_checksummed(
            &mut self.w,
            head,
            pieces.iter().map(|p| (piece_bytes(p), known_crc(p))),
        )?;
        let mut crc_element = Vec::with_capacity(CRC_ELEMENT_LEN);
        ebml::put_binary(&mut crc_element, id::CRC32, &crc.to_le_bytes())?;
        if crc_element.len() != CRC_ELEMENT_LEN {
            return Err(MkvError::Layout {
                what: "a CRC-32 element that does not fill its 6-byte place",
            });
        }
        self.write_at(crc_pos, &crc_element)?;
        items
            .into_iter()
            .for_each(|item| self.buffers.recycle(item.data));
        self.written_until_nsec = window.saturating_add(1).saturating_mul(CLUSTER_WINDOW_NSEC);
        self.after_cluster(first_cluster, offset, cue.map(|c| (c, segment_pos)))
    }

    /// After a cluster is written: its cue, the start offset tag with the first cluster, a
    /// flush, and a sync every `flush_interval` (and with the first cluster).
    fn after_cluster(
        &mut self,
        first_cluster: bool,
        offset: u64,
        cue: Option<(u64, u64)>,
    ) -> Result<()> {
        if let Some((cue_usec, segment_pos)) = cue {
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

        let duration_usec = match (self.newest_nsec(), self.start_offset_nsec) {
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
        self.written_until_nsec / 1000
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

    /// The tags k4arecorder writes, in its order: image tracks, sync, device, IMU and custom
    /// tracks, then the caller's extra tags.
    fn builtin_tags(&self) -> Result<Vec<(Target, String, String)>> {
        let mut tags = Tags::default();
        self.image_track_tags(&mut tags);
        self.sync_tags(&mut tags);
        self.device_tags(&mut tags);
        if let Some(u) = self.track_uid(TrackKind::Imu) {
            tags.push(Target::Track(u), "K4A_IMU_TRACK", u.to_string());
            tags.push(Target::Track(u), "K4A_IMU_MODE", "ON".to_owned());
        }
        if let Some(u) = self.track_uid(TrackKind::RawDepth) {
            let name = format!("K4A_CUSTOM_TRACK_{}", track_name::RAW_DEPTH);
            tags.push(Target::Track(u), &name, u.to_string());
        }
        for (name, value) in &self.header.extra_tags {
            check_tag_name(name, value)?;
            tags.push(Target::Global, name, value.clone());
        }
        Ok(tags.0)
    }

    fn track_uid(&self, kind: TrackKind) -> Option<u64> {
        self.tracks.iter().find(|t| t.kind == kind).map(|t| t.uid)
    }

    fn image_track_tags(&self, tags: &mut Tags) {
        let h = &self.header;
        if let Some(u) = self.track_uid(TrackKind::Color) {
            tags.push(Target::Track(u), "K4A_COLOR_TRACK", u.to_string());
            let height = h.color_resolution.size().map_or(0, |(_, h)| h);
            let mode = format!("{}_{}P", color_mode_format_name(h.color_format), height);
            tags.push(Target::Track(u), "K4A_COLOR_MODE", mode);
        }
        let depth_on = h.depth_mode != DepthMode::Off;
        let depth_mode = h.depth_mode.sdk_name().to_owned();
        match self.track_uid(TrackKind::Depth) {
            Some(u) => {
                tags.push(Target::Track(u), "K4A_DEPTH_TRACK", u.to_string());
                tags.push(Target::Track(u), "K4A_DEPTH_MODE", depth_mode);
            }
            None if depth_on => tags.push(Target::Global, "K4A_DEPTH_MODE", depth_mode),
            None => {}
        }
        if let Some(u) = self.track_uid(TrackKind::Ir) {
            tags.push(Target::Track(u), "K4A_IR_TRACK", u.to_string());
            let ir = if h.depth_mode == DepthMode::PassiveIr {
                "PASSIVE"
            } else {
                "ACTIVE"
            };
            tags.push(Target::Track(u), "K4A_IR_MODE", ir.to_owned());
        }
        if self.track_uid(TrackKind::Color).is_some() && depth_on {
            let delay = h.depth_delay_off_color_nsec.to_string();
            tags.push(Target::Global, "K4A_DEPTH_DELAY_NS", delay);
        }
    }

    fn sync_tags(&self, tags: &mut Tags) {
        let h = &self.header;
        let mode = h.wired_sync_mode.sdk_name().to_owned();
        tags.push(Target::Global, "K4A_WIRED_SYNC_MODE", mode);
        if h.wired_sync_mode == WiredSyncMode::Subordinate {
            let delay = h.subordinate_delay_off_master_nsec.to_string();
            tags.push(Target::Global, "K4A_SUBORDINATE_DELAY_NS", delay);
        }
    }

    fn device_tags(&self, tags: &mut Tags) {
        let Some(device) = &self.header.device else {
            return;
        };
        let firmware = [
            ("K4A_COLOR_FIRMWARE_VERSION", &device.color_firmware),
            ("K4A_DEPTH_FIRMWARE_VERSION", &device.depth_firmware),
        ];
        for (name, version) in firmware {
            tags.push(Target::Global, name, version.clone());
        }
        if !device.serial.is_empty() {
            tags.push(
                Target::Global,
                "K4A_DEVICE_SERIAL_NUMBER",
                device.serial.clone(),
            );
        }
        if let Some(u) = self.calibration_uid {
            let file = CALIBRATION_FILE_NAME.to_owned();
            tags.push(Target::Attachment(u), "K4A_CALIBRATION_FILE", file);
        }
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

/// DEPTH16/IR16 samples are little-endian; b16g (what k4arecorder stores) is big-endian.
fn swap_samples(data: &mut [u8]) {
    data.chunks_exact_mut(2).for_each(|s| s.swap(0, 1));
}

/// [`swap_samples`] of a copy of `bytes` (into `out`), and its CRC-32, in one pass over memory: samples
/// are swapped in fixed-size blocks, which the compiler turns into vector code (the generic
/// swap above runs sample by sample), and checksummed while the copy is still in L1.
fn swapped_copy(bytes: &[u8], mut out: Vec<u8>) -> (Vec<u8>, crc32fast::Hasher) {
    const BLOCK: usize = 64;
    const CRC_RUN: usize = 4096;
    out.clear();
    let mut crc = crc32fast::Hasher::new();
    for run in bytes.chunks(CRC_RUN) {
        let from = out.len();
        let mut chunks = run.chunks_exact(BLOCK);
        for chunk in &mut chunks {
            let mut block = [0u8; BLOCK];
            for (to, from) in block.chunks_exact_mut(2).zip(chunk.chunks_exact(2)) {
                to[0] = from[1];
                to[1] = from[0];
            }
            out.extend_from_slice(&block);
        }
        let mut rest = chunks.remainder().to_vec();
        swap_samples(&mut rest);
        out.extend_from_slice(&rest);
        crc.update(out.get(from..).unwrap_or_default());
    }
    (out, crc)
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

fn render_attachments(
    out: &mut Vec<u8>,
    device: &DeviceInfo,
    uid: u64,
    depth_calibration_uid: Option<u64>,
) -> Result<()> {
    let data = device
        .calibration_json
        .strip_suffix(&[0])
        .unwrap_or(&device.calibration_json);
    let file = |a: &mut Vec<u8>, name: &str, data: &[u8], uid: u64| {
        ebml::put_master(a, id::ATTACHED_FILE, |f| {
            ebml::put_string(f, id::FILE_NAME, name)?;
            ebml::put_string(f, id::FILE_MIME_TYPE, "application/octet-stream")?;
            ebml::put_binary(f, id::FILE_DATA, data)?;
            ebml::put_uint(f, id::FILE_UID, uid)
        })
    };
    ebml::put_master(out, id::ATTACHMENTS, |a| {
        file(a, CALIBRATION_FILE_NAME, data, uid)?;
        match (&device.depth_calibration, depth_calibration_uid) {
            (Some(blob), Some(uid)) => file(a, DEPTH_CALIBRATION_FILE_NAME, blob, uid),
            _ => Ok(()),
        }
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

/// Tags in the order they are written: (target, name, value).
#[derive(Default)]
struct Tags(Vec<(Target, String, String)>);

impl Tags {
    fn push(&mut self, target: Target, name: &str, value: String) {
        self.0.push((target, name.to_owned(), value));
    }
}

/// An extra tag's name must look like the SDK's: upper-case letters, digits, `-` and `_`.
fn check_tag_name(name: &str, value: &str) -> Result<()> {
    let allowed = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if name.is_empty() || !name.bytes().all(allowed) {
        return Err(MkvError::BadTag {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const PERIOD_USEC: u64 = 33_333;

    /// Colour MJPG + raw NFOV depth + IMU, as `k4sync record` writes them.
    fn header() -> RecordingHeader {
        RecordingHeader {
            depth_storage: DepthStorage::Raw,
            writing_app: "k4sync-test".into(),
            ..RecordingHeader::k4arecorder_defaults()
        }
    }

    fn options(delay_nsec: u64) -> WriterOptions {
        WriterOptions {
            flush_interval: Duration::ZERO,
            cluster_write_delay_nsec: delay_nsec,
            uid_seed: Some(42),
            date: Some(UNIX_EPOCH),
            ..WriterOptions::default()
        }
    }

    fn writer(options: WriterOptions) -> MkvWriter<Cursor<Vec<u8>>> {
        MkvWriter::create_with_sync(Cursor::new(Vec::new()), header(), options, |_| Ok(())).unwrap()
    }

    fn raw_len() -> usize {
        DepthMode::NfovUnbinned
            .sensor_mode()
            .map_or(0, |m| m.raw_frame_size())
    }

    fn imu(ts_usec: u64) -> ImuSample {
        ImuSample {
            acc_ts_usec: Usec(ts_usec),
            acc_mps2: [0.0, 0.0, 9.81],
            gyro_ts_usec: Usec(ts_usec),
            gyro_radps: [0.0; 3],
        }
    }

    /// Capture `k` at 30 fps from 1 s: colour at its slot, depth 1 ms earlier, preceded (as the
    /// recorder hands them over) by the IMU samples every 1250 µs up to the colour time.
    fn feed<W: Write + Seek>(w: &mut MkvWriter<W>, k: u64, raw: &[u8], with_imu: bool) {
        let colour_usec = 1_000_000 + k * PERIOD_USEC;
        if with_imu {
            let from = (colour_usec - PERIOD_USEC).div_ceil(1250) * 1250;
            for ts in (from..colour_usec).step_by(1250) {
                w.write_imu_sample(&imu(ts)).unwrap();
            }
        }
        write_capture_k(w, k, raw).unwrap();
    }

    /// Capture `k` of [`feed`] without its IMU samples.
    fn write_capture_k<W: Write + Seek>(w: &mut MkvWriter<W>, k: u64, raw: &[u8]) -> Result<()> {
        let colour_usec = 1_000_000 + k * PERIOD_USEC;
        w.write_capture(&Capture {
            color: Some(Image {
                device_ts_usec: Usec(colour_usec),
                data: &[0xFF, 0xD8, k as u8, 0xFF, 0xD9],
            }),
            raw_depth: Some(Image {
                device_ts_usec: Usec(colour_usec - 1_000),
                data: raw,
            }),
            ..Capture::default()
        })
    }

    /// A sink whose backward seeks fail once `killed`: the file as a crash between a Cluster's
    /// frames and its checksum leaves it.
    struct KilledBeforeSeekBack {
        inner: Cursor<Vec<u8>>,
        killed: bool,
    }

    impl Write for KilledBeforeSeekBack {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.inner.write(buf)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for KilledBeforeSeekBack {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            match pos {
                SeekFrom::Start(to) if self.killed && to < self.inner.position() => {
                    Err(std::io::Error::other("killed"))
                }
                _ => self.inner.seek(pos),
            }
        }
    }

    #[test]
    fn a_cluster_cut_off_before_its_checksum_is_complete_with_a_void_in_its_place() {
        let raw = vec![7u8; raw_len()];
        let sink = KilledBeforeSeekBack {
            inner: Cursor::new(Vec::new()),
            killed: false,
        };
        let mut w = MkvWriter::create_with_sync(sink, header(), options(0), |_| Ok(())).unwrap();
        for k in 0..4 {
            feed(&mut w, k, &raw, false);
        }
        let sealed_until = w.w.inner.position();
        w.w.killed = true;
        let mut k = 4;
        while w.w.inner.position() == sealed_until {
            let _ = write_capture_k(&mut w, k, &raw);
            k += 1;
        }
        let file = w.abandon().inner.into_inner();
        let cut = file.get(sealed_until as usize..).unwrap();
        assert_eq!(
            cut.get(..4),
            Some(&[0x1F, 0x43, 0xB6, 0x75][..]),
            "a Cluster"
        );
        let size_len = cut[4].leading_zeros() as usize + 1;
        assert_eq!(cut[4 + size_len], 0xEC, "a Void where the CRC-32 goes");

        let mut r = super::super::MkvReader::open_salvage(Cursor::new(file.clone())).unwrap();
        assert_eq!(r.complete_until().unwrap(), file.len() as u64);
        let colour = r.readout().unwrap().color.unwrap();
        let mut whole = writer(options(0));
        for k in 0..k {
            feed(&mut whole, k, &raw, false);
        }
        let written = whole.w.position();
        let mut r =
            super::super::MkvReader::open_salvage(Cursor::new(whole.abandon().into_inner()))
                .unwrap();
        assert_eq!(r.complete_until().unwrap(), written);
        assert_eq!(colour.frames, r.readout().unwrap().color.unwrap().frames);
        let sealed = file.get(..sealed_until as usize).unwrap().to_vec();
        let mut r = super::super::MkvReader::open_salvage(Cursor::new(sealed)).unwrap();
        let before = r.readout().unwrap().color.map_or(0, |c| c.frames);
        assert!(colour.frames > before, "{} > {before}", colour.frames);
    }

    #[test]
    fn a_window_is_written_as_soon_as_every_track_passed_its_end() {
        let raw = vec![7u8; raw_len()];
        let mut w = writer(options(SDK_CLUSTER_WRITE_DELAY_NSEC));
        // Capture 0 (colour 1 s, depth 0.999 s) lies in the window [992, 1024) ms; the IMU
        // samples before it fill the windows up to 992 ms, which every track has passed.
        feed(&mut w, 0, &raw, true);
        assert_eq!(w.written_until_nsec(), 992_000_000);
        assert_eq!(
            w.pending_windows(),
            1,
            "colour and depth are not past 1024 ms yet"
        );
        feed(&mut w, 1, &raw, true);
        assert_eq!(
            w.written_until_nsec(),
            1_024_000_000,
            "capture 1 (≥ 1032 ms) passed it on every track: written at once, not 2 s later"
        );
        for k in 2..60 {
            feed(&mut w, k, &raw, true);
            assert!(
                w.pending_bytes() <= 2 * (raw.len() + 5) + 64 * IMU_SAMPLE_LEN,
                "capture {k}: {} bytes held",
                w.pending_bytes()
            );
        }
        assert_eq!(w.late_rejected(), 0);
    }

    #[test]
    fn a_stalled_track_holds_windows_only_until_the_stall_bound() {
        let mut header = header();
        header.depth_mode = DepthMode::Off;
        header.depth_storage = DepthStorage::Images;
        let mut w = MkvWriter::create_with_sync(
            Cursor::new(Vec::new()),
            header,
            options(CLUSTER_WRITE_DELAY_NSEC),
            |_| Ok(()),
        )
        .unwrap();
        // Colour flows; the IMU track never delivers.
        let mut last_end = 0;
        for k in 0..40u64 {
            let ts = 1_000_000 + k * PERIOD_USEC;
            let jpeg = [0xFF, 0xD8, k as u8, 0xFF, 0xD9];
            w.write_capture(&Capture {
                color: Some(Image {
                    device_ts_usec: Usec(ts),
                    data: &jpeg,
                }),
                ..Capture::default()
            })
            .unwrap();
            let newest_nsec = ts * 1000;
            let written = w.written_until_nsec();
            if written > 0 {
                assert!(
                    newest_nsec - written <= CLUSTER_WRITE_DELAY_NSEC + 2 * PERIOD_USEC * 1000,
                    "capture {k}: a window stayed longer than the stall bound"
                );
            }
            assert!(
                newest_nsec < 1_000_000_000 + CLUSTER_WRITE_DELAY_NSEC + CLUSTER_WINDOW_NSEC
                    || written > last_end,
                "capture {k}: nothing released past the stall bound"
            );
            last_end = written;
        }
        assert!(last_end > 0);
        // The stalled track's old items are now rejected, and counted.
        let err = w.write_imu_sample(&imu(1_000_000)).unwrap_err();
        assert!(matches!(err, MkvError::TooLate { .. }), "{err}");
        assert_eq!(w.late_rejected(), 1);
        w.finalize().unwrap();
    }

    #[test]
    fn held_bytes_never_exceed_the_pending_bound() {
        let raw = vec![3u8; raw_len()];
        let bound = 3 * raw.len();
        let mut w = writer(WriterOptions {
            max_pending_bytes: bound,
            ..options(SDK_CLUSTER_WRITE_DELAY_NSEC)
        });
        // Colour stops after capture 2: only the bound releases depth windows.
        for k in 0..30u64 {
            let ts = 1_000_000 + k * PERIOD_USEC;
            let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
            let colour = (k < 3).then_some(Image {
                device_ts_usec: Usec(ts),
                data: &jpeg,
            });
            w.write_capture(&Capture {
                color: colour,
                raw_depth: Some(Image {
                    device_ts_usec: Usec(ts - 1_000),
                    data: &raw,
                }),
                ..Capture::default()
            })
            .unwrap();
            w.write_imu_sample(&imu(ts)).unwrap();
            assert!(
                w.pending_bytes() <= bound,
                "capture {k}: {}",
                w.pending_bytes()
            );
        }
        w.finalize().unwrap();
    }

    #[test]
    fn watermarks_write_the_same_file_as_the_sdks_two_second_hold_back() {
        let raw: Vec<u8> = (0..raw_len()).map(|i| (i % 253) as u8).collect();
        let write = |delay: u64, owned: bool| {
            let mut w = writer(options(delay));
            for k in 0..90u64 {
                if owned && k % 2 == 0 {
                    let colour_usec = 1_000_000 + k * PERIOD_USEC;
                    let from = (colour_usec - PERIOD_USEC).div_ceil(1250) * 1250;
                    for ts in (from..colour_usec).step_by(1250) {
                        w.write_imu_sample(&imu(ts)).unwrap();
                    }
                    w.write_capture_owned(CaptureBuf {
                        color: Some(ImageBuf {
                            device_ts_usec: Usec(colour_usec),
                            data: vec![0xFF, 0xD8, k as u8, 0xFF, 0xD9],
                        }),
                        raw_depth: Some(ImageBuf {
                            device_ts_usec: Usec(colour_usec - 1_000),
                            data: raw.clone(),
                        }),
                        ..CaptureBuf::default()
                    })
                    .unwrap();
                } else {
                    feed(&mut w, k, &raw, true);
                }
            }
            w.finalize().unwrap().into_inner()
        };
        let sdk = write(SDK_CLUSTER_WRITE_DELAY_NSEC, false);
        let ours = write(CLUSTER_WRITE_DELAY_NSEC, true);
        assert!(sdk.len() > 90 * raw.len());
        assert!(sdk == ours, "the files differ");
    }

    #[test]
    fn a_swapped_copy_swaps_every_sample_of_any_length() {
        for len in (0..200).chain([4095, 4096, 4097, 10_001]) {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut expected = bytes.clone();
            swap_samples(&mut expected);
            let (copy, crc) = swapped_copy(&bytes, Vec::new());
            assert_eq!(copy, expected, "{len} bytes");
            assert_eq!(
                crc.finalize(),
                super::super::crc32(&expected),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn depth_and_ir_are_byte_swapped_the_same_borrowed_or_owned() {
        let mut h = header();
        h.depth_storage = DepthStorage::Images;
        h.color_resolution = ColorResolution::Off;
        h.imu = false;
        let (width, height) = h.depth_mode.output_size().unwrap();
        let samples: Vec<u8> = (0..width * height)
            .flat_map(|i| (i as u16).to_le_bytes())
            .collect();
        let write = |owned: bool| {
            let mut w =
                MkvWriter::create_with_sync(Cursor::new(Vec::new()), h.clone(), options(0), |_| {
                    Ok(())
                })
                .unwrap();
            let ts = Usec(1_000_000);
            if owned {
                w.write_capture_owned(CaptureBuf {
                    depth: Some(ImageBuf {
                        device_ts_usec: ts,
                        data: samples.clone(),
                    }),
                    ir: Some(ImageBuf {
                        device_ts_usec: ts,
                        data: samples.clone(),
                    }),
                    ..CaptureBuf::default()
                })
                .unwrap();
            } else {
                let image = Some(Image {
                    device_ts_usec: ts,
                    data: &samples,
                });
                w.write_capture(&Capture {
                    depth: image,
                    ir: image,
                    ..Capture::default()
                })
                .unwrap();
            }
            w.finalize().unwrap().into_inner()
        };
        let borrowed = write(false);
        assert!(borrowed == write(true));
        let big_endian: Vec<u8> = (0..width * height)
            .flat_map(|i| (i as u16).to_be_bytes())
            .collect();
        assert!(borrowed
            .windows(big_endian.len().min(4096))
            .any(|w| w == &big_endian[..4096]));
    }
}
