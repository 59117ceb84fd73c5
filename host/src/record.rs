//! Recording: a running [`Device`] into a k4arecorder-layout Matroska file (docs/recording.md,
//! "Recording"; reference `k4a-recording-format.md`, device protocol §7.2–7.5).
//!
//! Pipeline: the caller's thread pulls events from the device and hands captures, each with the
//! IMU samples that came before it, to a queue bounded in bytes ([`RecordOptions::queue_bytes`])
//! and in items ([`RecordOptions::queue_len`]); one writer thread feeds them to an
//! [`MkvWriter`]. When the writer (the disk) falls behind, whole captures are dropped at the
//! queue and counted ([`DropPolicy::DropWhenFull`]); nothing is ever written in part. A
//! virtual-time camera (the emulator in tests) uses [`DropPolicy::Block`] so simulated time
//! waits for the disk instead. Items older than a cluster already written (a track that lagged
//! past the writer's stall bound) are skipped and counted ([`RecordStats::dropped_late`]).
//!
//! A writer error (disk full, any I/O error) stops the recording: the device is stopped, the
//! writer tries to finalize what it holds, and [`record`] returns [`RecordError::Write`] naming
//! the path. When even finalizing fails, the file still holds every cluster written before the
//! failure, each complete, which `k4sync info` reads in salvage mode and `k4sync repair` mends.
//!
//! The status ([`RecordStats`]) says both what was handed to the writer (`delivered_ts_usec`,
//! the frame counts) and what is already in the file (`written`): the writer holds clusters
//! back to order them, so a killed process or a full disk loses what was delivered but not yet
//! written. Device events that are not data (stream timeouts, dropped frames, lost transfers)
//! are counted and the newest kept (`last_device_event`), so the caller can log each one.
//!
//! `record_length` counts device time from the first image. IMU samples are recorded from the
//! IMU's start, as k4arecorder does: those that come before the first image wait in a ring of
//! [`IMU_BEFORE_FIRST_IMAGE`] (the SDK's IMU queue, oldest dropped) and go to the file with the
//! first image, which then starts at the earliest of them; any timestamped after that image (a
//! subordinate's, from before its clock was zeroed by the first pulse) cannot be placed and is
//! dropped. A subordinate waits for its master's first pulse before any image arrives;
//! [`SyncState::WaitingForMaster`] says so meanwhile.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k4sync_core::colour_control::ColourControls;
use k4sync_core::sync::config::{ConfigError, DeviceConfig, ValidatedConfig};
use k4sync_core::sync::pairing::HELD_PER_STREAM;
#[cfg(feature = "emulator")]
use k4sync_core::types::ColorResolution;
use k4sync_core::types::{ColorFormat, DepthMode, Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::JackState;

use k4sync_core::sync::pairing::EVENT_CAPACITY;

mod file_waits;

use self::file_waits::FileWaits;
use crate::budget::ByteBudget;
use crate::device::{Capture, Device, DropReason, Event, ImuSample};
use crate::error::Error;
use crate::mkv::write::{self as mkvw, DepthStorage, DeviceInfo, RecordingHeader, WriterOptions};
use crate::mkv::{MkvError, MkvWriter};
use crate::stall::StallPolicy;
use crate::sync_behind::SyncBehind;
#[cfg(feature = "emulator")]
use crate::transport::emulated::EmulatedTransport;
use crate::transport::Endpoint;

/// Most items (captures, each with the IMU samples before it) queued for the writer thread:
/// as many as one call of the pairer can release at once (a stream that was starved lets the
/// other's held frames go together, up to [`EVENT_CAPACITY`]), so a burst is bounded by bytes
/// ([`DEFAULT_QUEUE_BYTES`]) alone and small captures are never dropped for their number.
pub const DEFAULT_QUEUE_LEN: usize = EVENT_CAPACITY;
/// Most image bytes queued for the writer thread: about 5 captures (≈ 160 ms) of the heaviest
/// single-camera mode (5.3 MB raw NFOV depth + colour), longer than the pauses an ext4 file
/// system imposes on a writer at that rate (its block allocator reading a bitmap: 74–183 ms
/// seen, docs/performance.md), within the 64 MiB peak RSS (56 MiB with the queue full). A
/// capture that would exceed it is dropped (or waited for); one capture is always admitted
/// into an empty queue. IMU samples are not counted: they are tiny, ride with the captures and
/// are bounded on their own.
pub const DEFAULT_QUEUE_BYTES: usize = 32 << 20;
/// How long one wait on the device lasts before the stop flag and the writer are checked.
pub const POLL: Duration = Duration::from_millis(100);

/// What happens when the writer queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropPolicy {
    /// Drop the whole capture (or IMU sample) and count it: a real camera does not wait.
    DropWhenFull,
    /// Wait for room: for virtual-time cameras, whose clock waits for the host.
    Block,
}

/// Name of the tag holding the colour exposure the camera reported after `-e` was applied:
/// `auto`, or the manual exposure in µs (its table entry, reference §5.5).
pub const EXPOSURE_TAG: &str = "K4SYNC_COLOR_EXPOSURE";
/// Name of the tag holding the manual colour gain the camera reported after `-g` was applied;
/// absent when no gain was set.
pub const GAIN_TAG: &str = "K4SYNC_COLOR_GAIN";

/// How often a recording asks for its data to be made durable. A recording file answers on a
/// helper thread ([`SyncBehind`]: writeback started each time, an `fdatasync` at most once a
/// second), so asking often costs the writer nothing and keeps the disk busy instead of letting
/// dirty pages pile up in the page cache.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// What to record and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOptions {
    pub config: DeviceConfig,
    /// Device time to record from the first image; `None` records until stopped.
    pub record_length: Option<Duration>,
    /// Colour exposure and gain, set before the cameras start when colour is on.
    pub colour_controls: ColourControls,
    pub queue_len: usize,
    /// Image bytes the queue may hold ([`DEFAULT_QUEUE_BYTES`]).
    pub queue_bytes: usize,
    pub drop_policy: DropPolicy,
    pub writer: WriterOptions,
    /// How many stalls per stream are cleared before the recording stops with
    /// [`Error::StreamStalled`] (default: the 3rd within 10 s stops it).
    pub stall_policy: StallPolicy,
}

impl RecordOptions {
    pub fn new(config: DeviceConfig) -> Self {
        RecordOptions {
            config,
            record_length: None,
            colour_controls: ColourControls::default(),
            queue_len: DEFAULT_QUEUE_LEN,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            drop_policy: DropPolicy::DropWhenFull,
            writer: WriterOptions {
                cluster_write_delay_nsec: stalled_track_bound_nsec(config.fps),
                flush_interval: SYNC_INTERVAL,
                ..WriterOptions::default()
            },
            stall_policy: StallPolicy::default(),
        }
    }
}

/// How long the writer waits for a track that stopped delivering before it writes the windows
/// the other tracks have passed ([`WriterOptions::cluster_write_delay_nsec`]). When one camera
/// stops, the pairer holds the other camera's frames for up to [`HELD_PER_STREAM`] frame
/// periods before it releases them alone, while the IMU keeps the writer moving; a bound
/// shorter than that would reject those frames as late. Two periods more cover the depth delay
/// and the delivery latency. Never below the writer's own default.
pub fn stalled_track_bound_nsec(fps: Fps) -> u64 {
    let period_nsec = u64::from(fps.period_usec()) * 1000;
    let held = u64::try_from(HELD_PER_STREAM).unwrap_or(u64::MAX);
    mkvw::CLUSTER_WRITE_DELAY_NSEC.max(held.saturating_add(2).saturating_mul(period_nsec))
}

/// Where a recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// The device is being started.
    Starting,
    /// A subordinate whose master has not pulsed yet: no image so far.
    WaitingForMaster,
    /// Images arrive.
    Streaming,
    /// Stopping the device and finalizing the file.
    Stopping,
    /// The device is stopped and the file closed.
    Stopped,
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncState::Starting => "starting",
            SyncState::WaitingForMaster => "waiting for master",
            SyncState::Streaming => "streaming",
            SyncState::Stopping => "stopping",
            SyncState::Stopped => "stopped",
        })
    }
}

/// Running totals of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStats {
    /// Images and samples handed to the writer, per stream.
    pub colour_frames: u64,
    pub depth_frames: u64,
    pub imu_samples: u64,
    /// Captures dropped whole at the writer queue.
    pub dropped_queue_captures: u64,
    /// Of those, the captures dropped while the file system held the writer: it was in a call
    /// into the file lasting 20 ms or more, or had left one less than a second before. The
    /// storage fell behind, not the recorder's own work.
    pub dropped_queue_file_stalled: u64,
    /// The longest single call of the writer into the file (a write, a seek, a sync request).
    pub longest_file_wait: Duration,
    /// IMU samples dropped at the writer queue.
    pub dropped_queue_imu: u64,
    /// Images and IMU samples the writer skipped because their cluster was already written
    /// (`MkvError::TooLate`: a track that lagged more than the writer's stall bound).
    pub dropped_late: u64,
    /// Frames and packets the device layer dropped while recording (wrong size, no timestamp,
    /// its own queue, pairing); frames still held for pairing when the device stops are not
    /// counted.
    pub dropped_device: u64,
    /// Length of the file so far: every byte written once, rewrites in place (the Tags, each
    /// Cluster's CRC-32) not counted again.
    pub bytes_written: u64,
    /// Wall-clock time since the device started.
    pub elapsed: Duration,
    /// Device time from the first image to the newest.
    pub recorded: Duration,
    pub sync: SyncState,
    /// Device timestamps of the newest colour image, depth image and IMU sample handed to the
    /// writer.
    pub delivered_ts_usec: StreamTimes,
    /// What the writer has put into the file so far (the rest of what was handed to it is
    /// still held in memory and lost if the process dies).
    pub written: WriterProgress,
    /// Stalls cleared with the recording going on ([`StallPolicy`]), and the frames (IMU:
    /// samples) missing around them, counted from device time.
    pub stalls_recovered: u64,
    pub frames_lost_to_stalls: u64,
    /// Stream timeouts, dropped frames, lost transfers and recovered stalls the device
    /// reported so far.
    pub device_events: u64,
    /// The newest of them.
    pub last_device_event: Option<DeviceNotice>,
}

/// One device timestamp per stream, µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamTimes {
    pub colour: Option<u64>,
    pub depth: Option<u64>,
    pub imu: Option<u64>,
}

/// How far the writer has got: every image and sample with a device timestamp before
/// `until_usec` is in the sink, and the counts say how many that is per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterProgress {
    pub until_usec: u64,
    pub colour_frames: u64,
    pub depth_frames: u64,
    pub imu_samples: u64,
}

/// A device event that is not data: the recording goes on, but the file will show a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceNotice {
    /// No transfer on `endpoint` completed for `waited`.
    StreamTimeout {
        endpoint: Endpoint,
        waited: Duration,
    },
    /// A frame or packet on `endpoint` was dropped before pairing.
    Dropped {
        endpoint: Endpoint,
        reason: DropReason,
    },
    /// One transfer on `endpoint` failed (`what`: stall, overflow, ...) and was retired.
    TransferLost {
        endpoint: Endpoint,
        what: &'static str,
    },
    /// `endpoint` stalled; the halt was cleared and the stream went on, `frames_lost` frames
    /// (IMU: samples) short.
    StallRecovered {
        endpoint: Endpoint,
        frames_lost: u64,
    },
}

impl DeviceNotice {
    fn of(event: &Event) -> Option<Self> {
        match event {
            Event::StreamTimeout { endpoint, waited } => Some(DeviceNotice::StreamTimeout {
                endpoint: *endpoint,
                waited: *waited,
            }),
            Event::Dropped { endpoint, reason } => Some(DeviceNotice::Dropped {
                endpoint: *endpoint,
                reason: *reason,
            }),
            Event::TransferLost { error } => Some(DeviceNotice::TransferLost {
                endpoint: error.endpoint(),
                what: error.kind(),
            }),
            Event::StallRecovered {
                endpoint,
                frames_lost,
            } => Some(DeviceNotice::StallRecovered {
                endpoint: *endpoint,
                frames_lost: *frames_lost,
            }),
            Event::Capture(_) | Event::Imu(_) => None,
        }
    }

    /// One JSON object (no trailing newline): `{"event":"device","what":...,"endpoint":...}`.
    pub fn to_json(&self) -> String {
        let endpoint = |e: &Endpoint| crate::mkv::read::json_str(&e.to_string());
        match self {
            DeviceNotice::StreamTimeout { endpoint: e, waited } => format!(
                "{{\"event\":\"device\",\"what\":\"stream_timeout\",\"endpoint\":{},\"waited_s\":{:.3}}}",
                endpoint(e),
                waited.as_secs_f64()
            ),
            DeviceNotice::Dropped { endpoint: e, reason } => format!(
                "{{\"event\":\"device\",\"what\":\"frame_dropped\",\"endpoint\":{},\"reason\":\"{reason:?}\"}}",
                endpoint(e)
            ),
            DeviceNotice::TransferLost { endpoint: e, what } => format!(
                "{{\"event\":\"device\",\"what\":\"transfer_lost\",\"endpoint\":{},\"error\":\"{what}\"}}",
                endpoint(e)
            ),
            DeviceNotice::StallRecovered { endpoint: e, frames_lost } => format!(
                "{{\"event\":\"device\",\"what\":\"stall_recovered\",\"endpoint\":{},\"frames_lost\":{frames_lost}}}",
                endpoint(e)
            ),
        }
    }
}

impl fmt::Display for DeviceNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceNotice::StreamTimeout { endpoint, waited } => {
                write!(f, "{endpoint}: no data for {:.1} s", waited.as_secs_f64())
            }
            DeviceNotice::Dropped { endpoint, reason } => {
                write!(f, "{endpoint}: frame dropped ({reason:?})")
            }
            DeviceNotice::TransferLost { endpoint, what } => {
                write!(f, "{endpoint}: transfer lost ({what})")
            }
            DeviceNotice::StallRecovered {
                endpoint,
                frames_lost,
            } => write!(
                f,
                "{endpoint}: stalled; halt cleared and stream re-armed, {frames_lost} frames lost"
            ),
        }
    }
}

impl RecordStats {
    /// Nothing recorded yet; `bytes_written` is the file's header.
    fn starting(bytes_written: u64) -> RecordStats {
        RecordStats {
            colour_frames: 0,
            depth_frames: 0,
            imu_samples: 0,
            dropped_queue_captures: 0,
            dropped_queue_file_stalled: 0,
            longest_file_wait: Duration::ZERO,
            dropped_queue_imu: 0,
            dropped_late: 0,
            dropped_device: 0,
            bytes_written,
            elapsed: Duration::ZERO,
            recorded: Duration::ZERO,
            sync: SyncState::Starting,
            delivered_ts_usec: StreamTimes::default(),
            written: WriterProgress::default(),
            stalls_recovered: 0,
            frames_lost_to_stalls: 0,
            device_events: 0,
            last_device_event: None,
        }
    }

    /// Average write rate since the start, bytes per second.
    pub fn write_rate_bytes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes_written as f64 / secs
        } else {
            0.0
        }
    }

    /// One JSON object (no trailing newline).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"state\":\"{}\",\"elapsed_s\":{:.3},\"recorded_s\":{:.3},\"colour_frames\":{},\
             \"depth_frames\":{},\"imu_samples\":{},\"dropped_queue_captures\":{},\
             \"dropped_queue_file_stalled\":{},\"longest_file_wait_ms\":{:.1},\
             \"dropped_queue_imu\":{},\"dropped_late\":{},\"dropped_device\":{},\
             \"bytes_written\":{},\"write_rate_bytes_per_s\":{:.0},\"delivered_ts_usec\":{{\"colour\":{},\
             \"depth\":{},\"imu\":{}}},\"written\":{{\"until_usec\":{},\"colour_frames\":{},\
             \"depth_frames\":{},\"imu_samples\":{}}},\"stalls_recovered\":{},\
             \"frames_lost_to_stalls\":{},\"device_events\":{}}}",
            self.sync,
            self.elapsed.as_secs_f64(),
            self.recorded.as_secs_f64(),
            self.colour_frames,
            self.depth_frames,
            self.imu_samples,
            self.dropped_queue_captures,
            self.dropped_queue_file_stalled,
            self.longest_file_wait.as_secs_f64() * 1e3,
            self.dropped_queue_imu,
            self.dropped_late,
            self.dropped_device,
            self.bytes_written,
            self.write_rate_bytes_per_sec(),
            json_opt(self.delivered_ts_usec.colour),
            json_opt(self.delivered_ts_usec.depth),
            json_opt(self.delivered_ts_usec.imu),
            self.written.until_usec,
            self.written.colour_frames,
            self.written.depth_frames,
            self.written.imu_samples,
            self.stalls_recovered,
            self.frames_lost_to_stalls,
            self.device_events,
        )
    }
}

fn json_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

impl fmt::Display for RecordStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7.1}s  {}  colour {}  depth {}  imu {}  drops {} (queue) {} (late) {} (device)  \
             {:.1} MB/s",
            self.elapsed.as_secs_f64(),
            self.sync,
            self.colour_frames,
            self.depth_frames,
            self.imu_samples,
            self.dropped_queue_captures + self.dropped_queue_imu,
            self.dropped_late,
            self.dropped_device,
            self.write_rate_bytes_per_sec() / 1e6,
        )?;
        if self.dropped_queue_captures > 0 {
            write!(
                f,
                "  ({} captures dropped while the file system held the writer; longest wait \
                 {} ms)",
                self.dropped_queue_file_stalled,
                self.longest_file_wait.as_millis()
            )?;
        }
        if self.stalls_recovered > 0 {
            write!(
                f,
                "  stalls {} ({} frames lost)",
                self.stalls_recovered, self.frames_lost_to_stalls
            )?;
        }
        Ok(())
    }
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The configuration breaks a §7.5 rule (checked before the device is touched; the jack
    /// rules when the device starts).
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    #[error("{}: could not create the recording: {source}", path.display())]
    Create { path: PathBuf, source: MkvError },
    /// Writing failed; the recording stopped. `finalized` tells whether the file could still be
    /// finalized; otherwise its complete clusters are readable in salvage mode.
    #[error("{}: writing failed after {bytes_written} bytes: {source}; recording stopped, {}",
        path.display(),
        if *finalized { "the file was finalized with what fit" }
        else { "the clusters written before stay readable (`k4sync info`, `k4sync repair`)" })]
    Write {
        path: PathBuf,
        bytes_written: u64,
        source: MkvError,
        finalized: bool,
    },
    #[error(transparent)]
    Device(Error),
}

impl RecordError {
    /// Whether this is the user's configuration at fault (CLI exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RecordError::Config(_) | RecordError::Device(Error::Config { .. })
        )
    }
}

impl From<Error> for RecordError {
    fn from(e: Error) -> Self {
        RecordError::Device(e)
    }
}

/// Validates `config` without a device: every §7.5 rule except the jack plugs, which need
/// GET_JACK_STATE and are checked when the device starts.
pub fn validate_without_jack(config: &DeviceConfig) -> Result<ValidatedConfig, ConfigError> {
    let assumed = config.needs_jack_state().then_some(JackState {
        sync_in: true,
        sync_out: true,
    });
    config.validate(assumed)
}

/// How a finished recording went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub stats: RecordStats,
    /// Earliest and latest device timestamp of the images recorded (or dropped at the queue), µs.
    pub first_ts_usec: Option<u64>,
    pub last_ts_usec: Option<u64>,
    /// The colour controls as the camera reported them after they were set; `None` with
    /// colour off.
    pub colour_controls: Option<ColourControls>,
}

/// A sink, positioned at its start, that publishes how long the file written through it is
/// and how long each call into it takes.
pub struct CountingSink<W> {
    inner: W,
    pos: u64,
    end: u64,
    written: Arc<AtomicU64>,
    waits: Arc<FileWaits>,
}

impl<W> CountingSink<W> {
    pub fn new(inner: W) -> Self {
        CountingSink {
            inner,
            pos: 0,
            end: 0,
            written: Arc::new(AtomicU64::new(0)),
            waits: Arc::new(FileWaits::new()),
        }
    }

    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.written)
    }

    fn file_waits(&self) -> Arc<FileWaits> {
        Arc::clone(&self.waits)
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CountingSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.waits.time(|| self.inner.write(buf))?;
        self.pos += n as u64;
        if self.pos > self.end {
            self.end = self.pos;
            self.written.store(self.end, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.waits.time(|| self.inner.flush())
    }
}

impl<W: Seek> Seek for CountingSink<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.waits.time(|| self.inner.seek(pos))?;
        Ok(self.pos)
    }
}

/// Makes written data durable: `fdatasync` for files, a flush otherwise. `sync_data` is asked
/// for every flush interval and may return before the data is on the disk (see
/// [`SyncBehind`]); `finish` is called once after the file is finalized and returns only when
/// everything written is durable.
pub trait Durable: Write + Seek + Send + 'static {
    fn sync_data(&mut self) -> io::Result<()> {
        self.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl Durable for SyncBehind {
    fn sync_data(&mut self) -> io::Result<()> {
        self.request_sync()
    }

    fn finish(&mut self) -> io::Result<()> {
        SyncBehind::finish(self)
    }
}

impl Durable for File {
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

impl Durable for io::Cursor<Vec<u8>> {}

impl<W: Durable> Durable for CountingSink<W> {
    fn sync_data(&mut self) -> io::Result<()> {
        self.waits.time(|| self.inner.sync_data())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

/// The header a recording of `device` with `validated` gets; `controls` are the colour
/// controls the camera reported after they were set (`None`: none were set, colour is off).
pub fn header_for(
    device: &Device,
    validated: &ValidatedConfig,
    controls: Option<ColourControls>,
) -> RecordingHeader {
    let c = validated.config();
    let versions = device.versions();
    let mut calibration_json = device.calibration().to_vec();
    if calibration_json.last() == Some(&0) {
        calibration_json.pop();
    }
    RecordingHeader {
        color_format: match c.color_format {
            ColorFormat::Bgra32 => ColorFormat::Mjpg,
            other => other,
        },
        color_resolution: c.color_resolution,
        depth_mode: c.depth_mode,
        depth_storage: DepthStorage::Raw,
        fps: c.fps,
        imu: c.imu,
        wired_sync_mode: c.sync_mode,
        depth_delay_off_color_nsec: validated.effective_depth_delay_nsec(),
        subordinate_delay_off_master_nsec: u64::try_from(
            validated.effective_subordinate_delay_nsec(),
        )
        .unwrap_or(0),
        device: Some(DeviceInfo {
            serial: device.serial().to_owned(),
            color_firmware: versions.rgb.to_string(),
            depth_firmware: versions.depth.to_string(),
            calibration_json,
            depth_calibration: (c.depth_mode != DepthMode::Off)
                .then(|| device.depth_calibration().map(<[u8]>::to_vec))
                .flatten(),
        }),
        writing_app: RecordingHeader::k4arecorder_defaults().writing_app,
        extra_tags: controls.map(control_tags).unwrap_or_default(),
    }
}

/// The tags saying which colour controls the camera took.
fn control_tags(controls: ColourControls) -> Vec<(String, String)> {
    let mut tags = vec![(EXPOSURE_TAG.to_owned(), controls.exposure.to_string())];
    if let Some(gain) = controls.gain {
        tags.push((GAIN_TAG.to_owned(), gain.to_string()));
    }
    tags
}

/// Records from `device` into a new file at `path` (created or truncated).
pub fn record_to_file(
    device: &mut Device,
    path: &Path,
    options: &RecordOptions,
    stop: &AtomicBool,
    on_status: &mut dyn FnMut(&RecordStats),
) -> Result<Summary, RecordError> {
    validate_without_jack(&options.config).map_err(RecordError::Config)?;
    let file = create_output(path)?;
    record(device, file, path, options, stop, on_status)
}

/// Creates (or truncates) the recording at `path`, readable and writable, synced on a helper
/// thread ([`SyncBehind`]).
pub fn create_output(path: &Path) -> Result<SyncBehind, RecordError> {
    let created = |e: io::Error| RecordError::Create {
        path: path.to_owned(),
        source: e.into(),
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(created)?;
    SyncBehind::new(file).map_err(created)
}

/// One queue item: the IMU samples since the previous item, then at most one capture.
struct Item {
    imu: Vec<ImuSample>,
    capture: Option<Capture>,
    /// Image bytes of `capture`, charged to the [`ByteBudget`] until the writer is done with it.
    bytes: usize,
}

/// IMU samples that go to the writer on their own when no capture has come to carry them
/// (about 0.16 s at the IMU's 1.6 kHz): a stream that stops must not starve the IMU track.
const IMU_BATCH: usize = 256;

/// IMU samples kept back while the queue is full before they are dropped too.
const IMU_BACKLOG_MAX: usize = 4096;

/// IMU samples kept from before the first image, the newest first: the size of the SDK's IMU
/// queue, which k4arecorder drains after its first capture (protocol reference §4.4).
pub const IMU_BEFORE_FIRST_IMAGE: usize = 833;

struct WriterOutcome {
    error: Option<(MkvError, bool)>,
}

/// Whether a writer error only rejects one late item (counted, skipped) rather than ending
/// the recording.
fn is_late(e: &MkvError) -> bool {
    matches!(e, MkvError::TooLate { .. })
}

/// Timestamps handed to the writer and not yet in the file, per stream, to publish
/// [`WriterProgress`].
#[derive(Default)]
struct Unwritten {
    colour: VecDeque<u64>,
    depth: VecDeque<u64>,
    imu: VecDeque<u64>,
    progress: WriterProgress,
}

impl Unwritten {
    fn settle(&mut self, until_usec: u64, shared: &Mutex<WriterProgress>) {
        if until_usec == self.progress.until_usec {
            return;
        }
        let p = &mut self.progress;
        p.until_usec = until_usec;
        for (queue, count) in [
            (&mut self.colour, &mut p.colour_frames),
            (&mut self.depth, &mut p.depth_frames),
            (&mut self.imu, &mut p.imu_samples),
        ] {
            while queue.front().is_some_and(|&ts| ts < until_usec) {
                queue.pop_front();
                *count += 1;
            }
        }
        if let Ok(mut shared) = shared.lock() {
            *shared = *p;
        }
    }
}

fn writer_thread<W: Durable>(
    mut writer: MkvWriter<CountingSink<W>>,
    rx: Receiver<Item>,
    failed: Arc<AtomicBool>,
    budget: Arc<ByteBudget>,
    late: Arc<AtomicU64>,
    progress: Arc<Mutex<WriterProgress>>,
) -> WriterOutcome {
    let mut error = None;
    let mut unwritten = Unwritten::default();
    'items: for item in rx.iter() {
        let bytes = item.bytes;
        let result = write_item(&mut writer, item, &mut unwritten);
        budget.give_back(bytes);
        late.store(writer.late_rejected(), Ordering::Relaxed);
        if let Err(e) = result {
            error = Some(e);
            break 'items;
        }
        unwritten.settle(writer.written_until_usec(), &progress);
    }
    budget.close();
    if error.is_some() {
        failed.store(true, Ordering::Release);
    }
    drop(rx);
    let finalized = writer
        .finalize()
        .and_then(|mut sink| sink.finish().map_err(MkvError::from));
    match (error, finalized) {
        (None, Ok(_)) => WriterOutcome { error: None },
        (None, Err(e)) => WriterOutcome {
            error: Some((e, false)),
        },
        (Some(e), finalized) => WriterOutcome {
            error: Some((e, finalized.is_ok())),
        },
    }
}

/// Hands one queue item to the writer; late items are skipped (the writer counts them), the
/// others are noted in `unwritten` until the file holds them.
fn write_item<W: Write + Seek>(
    writer: &mut MkvWriter<W>,
    item: Item,
    unwritten: &mut Unwritten,
) -> Result<(), MkvError> {
    for s in &item.imu {
        let sample = mkvw::ImuSample {
            acc_ts_usec: s.sample.accel_ticks.to_usec(),
            acc_mps2: s.sample.accel_m_per_s2,
            gyro_ts_usec: s.sample.gyro_ticks.to_usec(),
            gyro_radps: s.sample.gyro_rad_per_sec,
        };
        match writer.write_imu_sample(&sample) {
            Err(e) if !is_late(&e) => return Err(e),
            Err(_) => {}
            Ok(()) => unwritten.imu.push_back(s.device_ts_usec.0),
        }
    }
    let Some(c) = item.capture else {
        return Ok(());
    };
    let colour_ts = c.colour.as_ref().map(|i| i.device_ts_usec.0);
    let depth_ts = c.depth_raw.as_ref().map(|d| d.device_ts_usec.0);
    let result = writer.write_capture_owned(mkvw::CaptureBuf {
        color: c.colour.map(|i| mkvw::ImageBuf {
            device_ts_usec: i.device_ts_usec,
            data: i.data,
        }),
        raw_depth: c.depth_raw.map(|d| mkvw::ImageBuf {
            device_ts_usec: d.device_ts_usec,
            data: d.data,
        }),
        ..mkvw::CaptureBuf::default()
    });
    match result {
        Err(e) if !is_late(&e) => Err(e),
        Err(_) => Ok(()),
        Ok(()) => {
            unwritten.colour.extend(colour_ts);
            unwritten.depth.extend(depth_ts);
            Ok(())
        }
    }
}

/// Records from `device` into `sink` (positioned at its start); `path` names it in errors.
///
/// Validates the configuration first (jack plugs deferred to the start), starts the device,
/// writes until `options.record_length` of device time has passed since the first image,
/// `stop` turns true, or the writer fails; then stops the device and finalizes. `on_status` is
/// called after every event and state change.
pub fn record<W: Durable>(
    device: &mut Device,
    sink: W,
    path: &Path,
    options: &RecordOptions,
    stop: &AtomicBool,
    on_status: &mut dyn FnMut(&RecordStats),
) -> Result<Summary, RecordError> {
    let validated = validate_without_jack(&options.config).map_err(RecordError::Config)?;
    device.set_stall_policy(options.stall_policy);
    let controls = if options.config.colour_enabled() {
        Some(device.set_colour_controls(options.colour_controls)?)
    } else {
        None
    };
    // The depth start reads the depth calibration blob the header attaches (§3.4).
    device.start(&options.config)?;
    let header = header_for(device, &validated, controls);
    let sink = CountingSink::new(sink);
    let written = sink.counter();
    let file_waits = sink.file_waits();
    let mut writer =
        MkvWriter::create_with_sync(sink, header, options.writer.clone(), |w| w.sync_data())
            .map_err(|source| {
                let _ = device.stop_imu();
                let _ = device.stop();
                RecordError::Create {
                    path: path.to_owned(),
                    source,
                }
            })?;
    writer.share_buffers(device.buffers());

    let mut stats = RecordStats::starting(written.load(Ordering::Relaxed));
    on_status(&stats);

    let (tx, rx) = sync_channel::<Item>(options.queue_len.max(1));
    let queue = Queue {
        tx,
        budget: Arc::new(ByteBudget::new(options.queue_bytes)),
        late: Arc::new(AtomicU64::new(0)),
        file: file_waits,
    };
    let failed = Arc::new(AtomicBool::new(false));
    let writer_failed = Arc::clone(&failed);
    let (budget, late) = (Arc::clone(&queue.budget), Arc::clone(&queue.late));
    let progress = Arc::new(Mutex::new(WriterProgress::default()));
    let writer_progress = Arc::clone(&progress);
    let handle: JoinHandle<WriterOutcome> = std::thread::Builder::new()
        .name("k4sync writer".into())
        .spawn(move || writer_thread(writer, rx, writer_failed, budget, late, writer_progress))
        .map_err(|e| RecordError::Create {
            path: path.to_owned(),
            source: e.into(),
        })?;

    let started = Instant::now();
    let pump = Pump {
        device,
        options,
        queue: &queue,
        stats: &mut stats,
        writer: (&written, &progress),
        started,
        length_usec: options
            .record_length
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        first: None,
        last: None,
        imu: Vec::new(),
        before_first: VecDeque::new(),
    };
    let result = pump.run(stop, &failed, on_status);
    stats.sync = SyncState::Stopping;
    on_status(&stats);
    let _ = device.stop_imu();
    let stop_result = device.stop();
    let (late, file) = (Arc::clone(&queue.late), Arc::clone(&queue.file));
    drop(queue);
    let outcome = handle.join();
    device.buffers().release_idle();
    let outcome = outcome.unwrap_or(WriterOutcome {
        error: Some((
            MkvError::Layout {
                what: "the writer thread panicked",
            },
            false,
        )),
    });
    stats.bytes_written = written.load(Ordering::Relaxed);
    stats.longest_file_wait = file.longest();
    read_writer_progress(&mut stats, &late, &progress);
    stats.elapsed = started.elapsed();
    stats.sync = SyncState::Stopped;
    on_status(&stats);
    if let Some((source, finalized)) = outcome.error {
        return Err(RecordError::Write {
            path: path.to_owned(),
            bytes_written: stats.bytes_written,
            source,
            finalized,
        });
    }
    let (first, last) = result?;
    stop_result?;
    Ok(Summary {
        stats,
        first_ts_usec: first,
        last_ts_usec: last,
        colour_controls: controls,
    })
}

fn device_drops(device: &Device) -> u64 {
    let s = device.stats();
    s.dropped_wrong_size
        + s.dropped_malformed
        + s.dropped_no_timestamp
        + s.dropped_queue_full
        + s.pairing_dropped
}

/// Earliest and latest image timestamp of a capture, µs.
fn capture_span_usec(c: &Capture) -> Option<(u64, u64)> {
    let colour = c.colour.as_ref().map(|i| i.device_ts_usec.0);
    let depth = c.depth_raw.as_ref().map(|d| d.device_ts_usec.0);
    match (colour, depth) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        (a, b) => a.or(b).map(|t| (t, t)),
    }
}

/// The capture loop's state: where items go, what it has seen, and the status it keeps.
struct Pump<'a> {
    device: &'a mut Device,
    options: &'a RecordOptions,
    queue: &'a Queue,
    stats: &'a mut RecordStats,
    writer: (&'a AtomicU64, &'a Mutex<WriterProgress>),
    started: Instant,
    length_usec: Option<u64>,
    /// First and latest image timestamps so far.
    first: Option<u64>,
    last: Option<u64>,
    /// IMU samples waiting for the next item to the writer.
    imu: Vec<ImuSample>,
    /// IMU samples from before the first image ([`IMU_BEFORE_FIRST_IMAGE`] at most).
    before_first: VecDeque<ImuSample>,
}

/// Whether the loop goes on after an event.
enum Flow {
    Continue,
    LengthReached,
}

impl Pump<'_> {
    /// Hands the device's items to the writer until `stop`, a writer failure (`failed`) or the
    /// length ends it; returns the first and latest image timestamps.
    fn run(
        mut self,
        stop: &AtomicBool,
        failed: &AtomicBool,
        on_status: &mut dyn FnMut(&RecordStats),
    ) -> Result<(Option<u64>, Option<u64>), RecordError> {
        self.stats.sync = if self.options.config.sync_mode == WiredSyncMode::Subordinate {
            SyncState::WaitingForMaster
        } else {
            SyncState::Streaming
        };
        on_status(self.stats);
        while !stop.load(Ordering::Acquire) && !failed.load(Ordering::Acquire) {
            let event = self.device.next_capture(POLL)?;
            self.refresh();
            let flow = match event {
                Some(Event::Capture(capture)) => self.capture(capture),
                Some(Event::Imu(sample)) => self.imu_sample(sample),
                Some(other) => self.notice(&other),
                None => Flow::Continue,
            };
            if let Flow::LengthReached = flow {
                break;
            }
            on_status(self.stats);
        }
        if !self.imu.is_empty() {
            send(
                self.queue,
                &mut self.imu,
                None,
                DropPolicy::Block,
                self.stats,
            );
        }
        on_status(self.stats);
        Ok((self.first, self.last))
    }

    fn refresh(&mut self) {
        let (written, progress) = self.writer;
        self.stats.elapsed = self.started.elapsed();
        self.stats.bytes_written = written.load(Ordering::Relaxed);
        self.stats.longest_file_wait = self.queue.file.longest();
        self.stats.dropped_device = device_drops(self.device);
        let device = self.device.stats();
        self.stats.stalls_recovered = device.stalls_recovered;
        self.stats.frames_lost_to_stalls = device.frames_lost_to_stalls;
        read_writer_progress(self.stats, &self.queue.late, progress);
    }

    fn capture(&mut self, capture: Capture) -> Flow {
        let Some((ts, latest)) = capture_span_usec(&capture) else {
            return Flow::Continue;
        };
        if self.first.is_none() {
            let kept = self
                .before_first
                .drain(..)
                .filter(|s| s.device_ts_usec.0 <= ts);
            self.imu.extend(kept);
        }
        let start = *self.first.get_or_insert(ts);
        self.stats.sync = SyncState::Streaming;
        if self
            .length_usec
            .is_some_and(|len| ts.saturating_sub(start) >= len)
        {
            return Flow::LengthReached;
        }
        self.last = Some(self.last.map_or(latest, |l| l.max(latest)));
        self.stats.recorded = Duration::from_micros(ts.saturating_sub(start));
        send(
            self.queue,
            &mut self.imu,
            Some(capture),
            self.options.drop_policy,
            self.stats,
        );
        Flow::Continue
    }

    fn imu_sample(&mut self, sample: ImuSample) -> Flow {
        if !self.options.config.imu {
            return Flow::Continue;
        }
        let Some(start) = self.first else {
            if self.before_first.len() >= IMU_BEFORE_FIRST_IMAGE {
                self.before_first.pop_front();
            }
            self.before_first.push_back(sample);
            return Flow::Continue;
        };
        let ts = sample.device_ts_usec.0;
        if self
            .length_usec
            .is_some_and(|len| ts >= start.saturating_add(len))
        {
            return Flow::Continue;
        }
        if self.imu.len() >= IMU_BACKLOG_MAX {
            self.stats.dropped_queue_imu += 1;
        } else {
            self.imu.push(sample);
        }
        if self.imu.len() >= IMU_BATCH {
            send(
                self.queue,
                &mut self.imu,
                None,
                self.options.drop_policy,
                self.stats,
            );
        }
        Flow::Continue
    }

    fn notice(&mut self, event: &Event) -> Flow {
        if let Some(notice) = DeviceNotice::of(event) {
            self.stats.device_events += 1;
            self.stats.last_device_event = Some(notice);
        }
        Flow::Continue
    }
}

/// Copies what the writer thread publishes (late items skipped, what is in the file) into
/// the status.
fn read_writer_progress(
    stats: &mut RecordStats,
    late: &AtomicU64,
    progress: &Mutex<WriterProgress>,
) {
    stats.dropped_late = late.load(Ordering::Relaxed);
    if let Ok(p) = progress.lock() {
        stats.written = *p;
    }
}

/// The sending side of the writer queue.
struct Queue {
    tx: SyncSender<Item>,
    budget: Arc<ByteBudget>,
    /// The writer's count of late items skipped ([`RecordStats::dropped_late`]).
    late: Arc<AtomicU64>,
    /// How long the writer waits on the file: what a drop is charged to.
    file: Arc<FileWaits>,
}

/// Image bytes of a capture.
fn capture_bytes(c: &Capture) -> usize {
    c.colour.as_ref().map_or(0, |i| i.data.len()) + c.depth_raw.as_ref().map_or(0, |d| d.data.len())
}

/// Queues the pending IMU samples and `capture`; when the queue is full (in items or bytes)
/// the capture is dropped whole and the samples wait for the next item.
fn send(
    queue: &Queue,
    imu: &mut Vec<ImuSample>,
    capture: Option<Capture>,
    policy: DropPolicy,
    stats: &mut RecordStats,
) {
    let (colour, depth) = capture.as_ref().map_or((None, None), |c| {
        (
            c.colour.as_ref().map(|i| i.device_ts_usec.0),
            c.depth_raw.as_ref().map(|d| d.device_ts_usec.0),
        )
    });
    let bytes = capture.as_ref().map_or(0, capture_bytes);
    let samples = imu.len() as u64;
    let newest_imu = imu.last().map(|s| s.device_ts_usec.0);
    let block = policy == DropPolicy::Block;
    if !queue.budget.take(bytes, block) {
        if capture.is_some() && !block {
            count_queue_drop(queue, stats);
        }
        return;
    }
    let item = Item {
        imu: std::mem::take(imu),
        capture,
        bytes,
    };
    let sent = match policy {
        DropPolicy::Block => queue.tx.send(item).is_ok(),
        DropPolicy::DropWhenFull => match queue.tx.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(item)) => {
                queue.budget.give_back(item.bytes);
                *imu = item.imu;
                if item.capture.is_some() {
                    count_queue_drop(queue, stats);
                }
                return;
            }
            Err(TrySendError::Disconnected(_)) => false,
        },
    };
    if sent {
        stats.colour_frames += u64::from(colour.is_some());
        stats.depth_frames += u64::from(depth.is_some());
        stats.imu_samples += samples;
        let times = &mut stats.delivered_ts_usec;
        times.colour = colour.or(times.colour);
        times.depth = depth.or(times.depth);
        times.imu = newest_imu.or(times.imu);
    }
}

/// Counts a capture dropped at the full queue and charges it to the file system when that is
/// holding the writer.
fn count_queue_drop(queue: &Queue, stats: &mut RecordStats) {
    stats.dropped_queue_captures += 1;
    if queue.file.holding_the_writer() {
        stats.dropped_queue_file_stalled += 1;
    }
}

/// A master camera on an emulated rig for a subordinate to follow: started after `after` of
/// real time (so the subordinate's wait for the first pulse is visible), its events drained
/// and discarded. Dropping it stops it.
#[cfg(feature = "emulator")]
pub struct VirtualMaster {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[cfg(feature = "emulator")]
impl VirtualMaster {
    /// The master configuration for a subordinate running `sub`: same rate and depth mode,
    /// colour on (a master's Sync Out is its colour VSYNC), no delays, no IMU.
    pub fn config_for(sub: &DeviceConfig) -> DeviceConfig {
        let colour_on = sub.color_resolution != ColorResolution::Off;
        DeviceConfig {
            color_format: if colour_on {
                sub.color_format
            } else {
                ColorFormat::Mjpg
            },
            color_resolution: if colour_on {
                sub.color_resolution
            } else {
                ColorResolution::R720p
            },
            sync_mode: WiredSyncMode::Master,
            subordinate_delay_off_master_usec: 0,
            depth_delay_off_color_usec: 0,
            synchronized_images_only: false,
            imu: false,
            ..*sub
        }
    }

    pub fn spawn(transport: EmulatedTransport, config: DeviceConfig, after: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("k4sync virtual master".into())
            .spawn(move || {
                let deadline = Instant::now() + after;
                while Instant::now() < deadline {
                    if flag.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let mut master = match Device::from_transport(Box::new(transport)) {
                    Ok(m) => m,
                    Err(e) => {
                        log::warn!("virtual master: {e}");
                        return;
                    }
                };
                if let Err(e) = master.start(&config) {
                    log::warn!("virtual master: {e}");
                    return;
                }
                while !flag.load(Ordering::Acquire) {
                    if master.next_capture(POLL).is_err() {
                        return;
                    }
                }
            })
            .ok();
        VirtualMaster { stop, thread }
    }
}

#[cfg(feature = "emulator")]
impl Drop for VirtualMaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_capture(n: u64) -> Capture {
        let ts = n * 66_666;
        Capture {
            colour: Some(crate::device::ColourImage {
                data: vec![0; 200_000],
                format: ColorFormat::Mjpg,
                resolution: ColorResolution::R720p,
                device_ticks: k4sync_core::time::Ticks90k(ts * 9 / 100),
                device_ts_usec: k4sync_core::time::Usec(ts),
                host_ns: 0,
            }),
            depth_raw: None,
        }
    }

    #[test]
    fn a_burst_the_pairer_can_release_at_once_fits_the_writer_queue_whole() {
        let options = RecordOptions::new(DeviceConfig::default());
        let (tx, _rx) = sync_channel::<Item>(options.queue_len);
        let queue = Queue {
            tx,
            budget: Arc::new(ByteBudget::new(options.queue_bytes)),
            late: Arc::new(AtomicU64::new(0)),
            file: Arc::new(FileWaits::new()),
        };
        let mut stats = RecordStats::starting(0);
        for n in 0..EVENT_CAPACITY as u64 {
            send(
                &queue,
                &mut Vec::new(),
                Some(small_capture(n)),
                DropPolicy::DropWhenFull,
                &mut stats,
            );
        }
        assert_eq!(
            stats.dropped_queue_captures, 0,
            "no writer ran: all waited in the queue"
        );
        assert_eq!(stats.colour_frames, EVENT_CAPACITY as u64);
        send(
            &queue,
            &mut Vec::new(),
            Some(small_capture(99)),
            DropPolicy::DropWhenFull,
            &mut stats,
        );
        assert_eq!(
            stats.dropped_queue_captures, 1,
            "the item bound still holds"
        );
        assert_eq!(
            stats.dropped_queue_file_stalled, 0,
            "no call into the file held the writer"
        );
    }

    #[test]
    fn the_counting_sink_publishes_the_files_length_not_the_bytes_rewritten_in_place() {
        let mut sink = CountingSink::new(io::Cursor::new(Vec::new()));
        let written = sink.counter();
        sink.write_all(&[1; 10]).unwrap();
        sink.seek(SeekFrom::Start(2)).unwrap();
        sink.write_all(&[2; 3]).unwrap();
        assert_eq!(written.load(Ordering::Relaxed), 10);
        sink.seek(SeekFrom::End(0)).unwrap();
        sink.write_all(&[3; 5]).unwrap();
        sink.seek(SeekFrom::Start(8)).unwrap();
        sink.write_all(&[4; 9]).unwrap();
        assert_eq!(written.load(Ordering::Relaxed), 17);
        assert_eq!(sink.into_inner().into_inner().len(), 17);
    }
}
