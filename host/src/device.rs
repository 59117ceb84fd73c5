//! One camera as a user sees it: open, calibration, configure, start/stop, and a blocking
//! stream of captures and IMU samples (reference §7.1–7.3, §3.4–3.5, §4.4, §5.4, §8).
//!
//! [`Device::open`] follows the SDK's open sequence (§7.1): product serial, calibration JSON
//! with the growing-buffer retry, readiness poll, versions, serial again, a quiet depth stop
//! and an IMU stop. [`Device::start`] validates the configuration (reading the jack state for
//! master and subordinate, §7.5) and walks the [`ValidatedConfig::start_sequence`] steps;
//! [`Device::stop`], [`Device::start_imu`] and [`Device::stop_imu`] walk theirs (§7.2–7.3).
//! Dropping a device stops whatever runs.
//!
//! Streaming model: every running stream (depth, colour, IMU) has one reader thread that owns
//! its transport handle, cuts and checks frames ([`crate::framing`], the depth trailer, the
//! UVC metadata timestamp, the IMU packet layout and §4.4 start-up filter) and sends them over
//! one bounded channel. [`Device::next_capture`] runs on the caller's thread: it pairs colour
//! and depth with the core's [`CapturePairer`] (§8) and hands out [`Event`]s one at a time.
//! Stream timeouts are events (§3.5: a timeout is not fatal); a transfer error that leaves a
//! stream without transfers, or an unplug, ends that stream: frames already read stay
//! delivered, frames held for pairing are delivered alone, then `next_capture` returns the
//! error naming serial and endpoint. On a virtual-time transport (the emulator) a full
//! channel (in events or in image bytes: [`outbox`]) makes the readers wait instead of
//! dropping, so simulated time never outruns the caller.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use k4sync_core::colour_control::ColourControls;
use k4sync_core::sync::config::{
    imu_start_sequence, imu_stop_sequence, DeviceConfig, Step, ValidatedConfig,
};
use k4sync_core::sync::pairing::{
    Capture as Paired, CapturePairer, Frame, PairingConfig, PairingEvent,
};
use k4sync_core::time::{Ticks90k, Usec};
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps};
use k4sync_core::wire::colour_mcu::JackState;
use k4sync_core::wire::command::{Command, DataPhase};
use k4sync_core::wire::depth_mcu::{check_nv_data_len, ComponentVersions};
use k4sync_core::wire::depth_trailer::DepthTrailer;
use k4sync_core::wire::imu::{self, ImuPacket, ImuStartupFilter};

mod outbox;

use outbox::{Inbox, Outbox};

use crate::colour::source::with_v4l2_colour;
use crate::command::CommandChannel;
use crate::error::Error;
use crate::framing::{
    depth_transfers_in_flight, pool_limit, DepthFramer, ImuFramer, IMU_PACKET_MAX_LEN,
    IMU_TRANSFERS, STREAM_TIMEOUT,
};
use crate::stall::{StallPolicy, StallWatch, Verdict};
#[cfg(feature = "emulator")]
use crate::transport::emulated::EmulatedTransport;
use crate::transport::nusb::{self, NusbTransport};
use crate::transport::{
    in_transfer_len, BufferPool, Chunk, ColourFrame, ColourMode, ColourStream, Endpoint, StreamIn,
    TransferError, Transport,
};

/// How long a reader waits on its transport before checking whether it should stop.
pub const POLL_SLICE: Duration = Duration::from_millis(100);
/// Failed transfers in a row, with no data between, after which a stream counts as ended even
/// when its transport still claims transfers (a UVC stream cannot say): without this a stream
/// that fails at once on every call would spin and flood the event queue.
pub const LOST_IN_A_ROW_MAX: u32 = 64;

/// Which camera [`Device::open`] opens. Parsed from text: `emu:<n>` is emulated camera n, up
/// to four digits is an index in enumeration order, anything else a serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Serial(String),
    Index(usize),
    /// Emulated camera n on a fresh virtual-time emulator (feature `emulator`).
    #[cfg(feature = "emulator")]
    Emulated(u32),
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        if let Some(n) = text.strip_prefix("emu:") {
            #[cfg(feature = "emulator")]
            return n
                .parse()
                .map(Selector::Emulated)
                .map_err(|_| Error::NotFound {
                    what: format!("emulated camera {text:?} (write emu:<n> with a number n)"),
                });
            #[cfg(not(feature = "emulator"))]
            return Err(Error::NotFound {
                what: format!(
                    "emulated camera {n:?} (this build has no emulator: feature `emulator`)"
                ),
            });
        }
        if !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(index) = text.parse() {
                return Ok(Selector::Index(index));
            }
        }
        Ok(Selector::Serial(text.to_string()))
    }
}

/// A colour image with its device timestamp (§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourImage {
    /// The bytes as the camera sent them.
    pub data: Vec<u8>,
    /// The format of `data`: the configured one, except BGRA32, which travels (and is
    /// delivered here, undecoded) as MJPG (§5.1).
    pub format: ColorFormat,
    pub resolution: ColorResolution,
    pub device_ticks: Ticks90k,
    pub device_ts_usec: Usec,
    /// Host monotonic time the frame arrived, ns.
    pub host_ns: u64,
}

/// A raw depth frame, exactly the mode's raw frame size, timestamped from its 40-byte
/// trailer (§3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct RawDepthFrame {
    pub data: Vec<u8>,
    pub mode: DepthMode,
    /// Centre of exposure.
    pub device_ticks: Ticks90k,
    pub device_ts_usec: Usec,
    pub sensor_temperature_celsius: f32,
    /// Host monotonic time the frame's last transfer completed, ns.
    pub host_ns: u64,
}

/// Colour and depth of one exposure, or a lone image whose partner never came (§8).
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub colour: Option<ColourImage>,
    pub depth_raw: Option<RawDepthFrame>,
}

/// One IMU sample (§4.4) with the host time its packet arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuSample {
    pub sample: imu::ImuSample,
    /// The accelerometer timestamp, which the SDK reports as the sample's.
    pub device_ts_usec: Usec,
    pub host_ns: u64,
}

/// Why a frame or packet was dropped before pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The device's write was not the exact frame size (short or oversized, §3.5, §4.4).
    WrongSize,
    /// The depth trailer or IMU packet could not be read, or an MJPG frame is not one whole
    /// JPEG (no SOI at its start or no EOI at its end: cut short or corrupted).
    Malformed,
    /// A colour frame without a frame PTS, or a depth frame with tick 0 after a valid one.
    NoTimestamp,
    /// The host fell behind and the event queue was full.
    QueueFull,
}

/// What [`Device::next_capture`] hands out.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Capture(Capture),
    Imu(ImuSample),
    /// No transfer on `endpoint` completed for `waited` (§3.5); the stream keeps going.
    StreamTimeout {
        endpoint: Endpoint,
        waited: Duration,
    },
    /// A frame or packet on `endpoint` was dropped.
    Dropped {
        endpoint: Endpoint,
        reason: DropReason,
    },
    /// One transfer failed and was retired; others remain in flight (§3.5).
    TransferLost {
        error: TransferError,
    },
    /// `endpoint` stalled; its halt was cleared and the stream re-armed ([`StallPolicy`]).
    /// Reported with the first frame after it: `frames_lost` frames (IMU: samples) are
    /// missing between that frame and the one before the stall.
    StallRecovered {
        endpoint: Endpoint,
        frames_lost: u64,
    },
}

/// Running totals of one device's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    pub depth_frames: u64,
    pub colour_frames: u64,
    pub imu_samples: u64,
    pub captures: u64,
    pub dropped_wrong_size: u64,
    pub dropped_malformed: u64,
    pub dropped_no_timestamp: u64,
    pub dropped_queue_full: u64,
    /// IMU samples the §4.4 start-up filter dropped.
    pub imu_startup_dropped: u64,
    /// Frames the pairer dropped or discarded (§8).
    pub pairing_dropped: u64,
    pub timeouts: u64,
    pub transfers_lost: u64,
    /// Stalls cleared with the stream going on, and the frames (IMU: samples) they lost.
    pub stalls_recovered: u64,
    pub frames_lost_to_stalls: u64,
}

enum RawEvent {
    Depth(RawDepthFrame),
    Colour(ColourImage),
    Imu {
        samples: Vec<ImuSample>,
        startup_dropped: u32,
    },
    Timeout {
        endpoint: Endpoint,
        waited: Duration,
    },
    Dropped {
        endpoint: Endpoint,
        reason: DropReason,
    },
    Lost(TransferError),
    Ended(TransferError),
    StallRecovered {
        endpoint: Endpoint,
        frames_lost: u64,
    },
    GaveUp {
        endpoint: Endpoint,
        count: u32,
        window: Duration,
    },
}

/// A transport stream a reader pulls from.
trait Source: Send {
    type Item;
    fn endpoint(&self) -> Endpoint;
    fn next(&mut self, timeout: Duration) -> Result<Self::Item, TransferError>;
    fn alive(&self) -> bool;
    fn clear_halt(&mut self) -> Result<(), TransferError>;
}

impl Source for Box<dyn StreamIn> {
    type Item = Chunk;

    fn endpoint(&self) -> Endpoint {
        (**self).endpoint()
    }

    fn next(&mut self, timeout: Duration) -> Result<Chunk, TransferError> {
        self.next_chunk(timeout)
    }

    fn alive(&self) -> bool {
        self.in_flight() > 0
    }

    fn clear_halt(&mut self) -> Result<(), TransferError> {
        (**self).clear_halt()
    }
}

impl Source for Box<dyn ColourStream> {
    type Item = ColourFrame;

    fn endpoint(&self) -> Endpoint {
        Endpoint::ColourVideo
    }

    fn next(&mut self, timeout: Duration) -> Result<ColourFrame, TransferError> {
        self.next_frame(timeout)
    }

    fn alive(&self) -> bool {
        true
    }

    fn clear_halt(&mut self) -> Result<(), TransferError> {
        (**self).clear_halt()
    }
}

/// What became of a stall.
enum AfterStall {
    /// The halt was cleared; the stream goes on.
    Recovered,
    /// The stream is over (the policy gave up, or the device is gone).
    Over,
    /// The halt could not be cleared: the stall counts as a lost transfer.
    Lost,
}

/// Clears a stall unless `stalls` says it is one too many, in which case the stream ends with
/// [`RawEvent::GaveUp`].
fn after_stall<S: Source>(
    source: &mut S,
    stalls: &RefCell<StallWatch>,
    out: &Outbox,
) -> AfterStall {
    let endpoint = source.endpoint();
    let verdict = stalls.borrow_mut().stall();
    if let Verdict::GiveUp { count } = verdict {
        // The halt outlives the stream: left set, the next start of this stream (in this
        // process or the next) would fail at once.
        if let Err(e) = source.clear_halt() {
            log::warn!("{endpoint}: the halt left by the last stall could not be cleared: {e}");
        }
        let window = stalls.borrow().policy().window;
        out.send(RawEvent::GaveUp {
            endpoint,
            count,
            window,
        });
        return AfterStall::Over;
    }
    match source.clear_halt() {
        Ok(()) => {
            stalls.borrow_mut().recovered();
            AfterStall::Recovered
        }
        Err(e) => {
            log::warn!("{endpoint}: the stall could not be cleared: {e}");
            AfterStall::Lost
        }
    }
}

/// Pulls from `source` until told to stop or the stream ends; `on_item` returns false when
/// the device is gone, `on_lost` forgets partial data after a lost transfer. A stall is
/// cleared as `stalls` allows ([`after_stall`]).
fn pump<S: Source>(
    mut source: S,
    out: &Outbox,
    stop: &AtomicBool,
    stalls: &RefCell<StallWatch>,
    mut on_item: impl FnMut(S::Item) -> bool,
    mut on_lost: impl FnMut(),
) {
    let endpoint = source.endpoint();
    let mut waited = Duration::ZERO;
    let mut lost_in_a_row = 0u32;
    while !stop.load(Ordering::Acquire) {
        match source.next(POLL_SLICE) {
            Ok(item) => {
                waited = Duration::ZERO;
                lost_in_a_row = 0;
                if !on_item(item) {
                    return;
                }
            }
            Err(e) if e.is_timeout() => {
                waited += POLL_SLICE;
                if waited >= STREAM_TIMEOUT {
                    on_lost();
                    if !out.send(RawEvent::Timeout { endpoint, waited }) {
                        return;
                    }
                    waited = Duration::ZERO;
                }
            }
            Err(e) => {
                on_lost();
                if matches!(e, TransferError::Stall { .. }) {
                    match after_stall(&mut source, stalls, out) {
                        AfterStall::Recovered => continue,
                        AfterStall::Over => return,
                        AfterStall::Lost => {}
                    }
                }
                lost_in_a_row = lost_in_a_row.saturating_add(1);
                if matches!(e, TransferError::Disconnected { .. })
                    || !source.alive()
                    || lost_in_a_row >= LOST_IN_A_ROW_MAX
                {
                    out.send(RawEvent::Ended(e));
                    return;
                }
                if !out.send(RawEvent::Lost(e)) {
                    return;
                }
            }
        }
    }
}

/// Sends [`RawEvent::StallRecovered`] when the item at `ts_usec` closes a stall's gap; false
/// when the device is gone.
fn close_stall_gap(
    stalls: &RefCell<StallWatch>,
    out: &Outbox,
    endpoint: Endpoint,
    ts_usec: u64,
    period_usec: u64,
) -> bool {
    let Some(frames_lost) = stalls.borrow_mut().seen(ts_usec, period_usec) else {
        return true;
    };
    out.send(RawEvent::StallRecovered {
        endpoint,
        frames_lost,
    })
}

fn depth_reader(
    stream: Box<dyn StreamIn>,
    (mode, fps): (DepthMode, Fps),
    buffers: Arc<BufferPool>,
    stalls: StallWatch,
    out: Outbox,
    stop: Arc<AtomicBool>,
) {
    let size = mode.sensor_mode().map_or(0, |m| m.raw_frame_size());
    let framer = RefCell::new(DepthFramer::new(size, buffers));
    let stalls = RefCell::new(stalls);
    let mut seen_valid = false;
    let endpoint = Endpoint::DepthStreamIn;
    pump(
        stream,
        &out,
        &stop,
        &stalls,
        |chunk| {
            let mut framer = framer.borrow_mut();
            let before = framer.dropped();
            let host_ns = chunk.host_ns;
            let frame = framer.push_owned(chunk.bytes, chunk.ended_short);
            for _ in before..framer.dropped() {
                if !out.drop_event(endpoint, DropReason::WrongSize) {
                    return false;
                }
            }
            let Some(data) = frame else { return true };
            let parsed = DepthTrailer::from_frame(&data, size)
                .map(|t| (t.timestamp_ticks(), t.sensor_temperature_celsius()));
            match parsed {
                Err(_) => out.drop_event(endpoint, DropReason::Malformed),
                Ok((ticks, _)) if ticks.0 == 0 && seen_valid => {
                    out.drop_event(endpoint, DropReason::NoTimestamp)
                }
                Ok((ticks, temperature)) => {
                    seen_valid = true;
                    let period = u64::from(fps.period_usec());
                    if !close_stall_gap(&stalls, &out, endpoint, ticks.to_usec().0, period) {
                        return false;
                    }
                    out.send(RawEvent::Depth(RawDepthFrame {
                        data,
                        mode,
                        device_ticks: ticks,
                        device_ts_usec: ticks.to_usec(),
                        sensor_temperature_celsius: temperature,
                        host_ns,
                    }))
                }
            }
        },
        || framer.borrow_mut().reset(),
    );
}

fn imu_reader(
    stream: Box<dyn StreamIn>,
    mut filter: ImuStartupFilter,
    stalls: StallWatch,
    out: Outbox,
    stop: Arc<AtomicBool>,
) {
    let framer = RefCell::new(ImuFramer::new());
    let stalls = RefCell::new(stalls);
    let endpoint = Endpoint::ImuStreamIn;
    pump(
        stream,
        &out,
        &stop,
        &stalls,
        |chunk| {
            let mut framer = framer.borrow_mut();
            let before = framer.dropped();
            let mut packets = Vec::new();
            framer.push(&chunk.bytes, chunk.ended_short, &mut packets);
            for _ in before..framer.dropped() {
                if !out.drop_event(endpoint, DropReason::WrongSize) {
                    return false;
                }
            }
            let mut samples = Vec::new();
            let mut startup_dropped = 0;
            for packet in packets {
                let Ok(packet) = ImuPacket::new_checked(&packet[..]) else {
                    if !out.drop_event(endpoint, DropReason::Malformed) {
                        return false;
                    }
                    continue;
                };
                if let Some(first) = packet.samples().next() {
                    let period = u64::from(packet.accel_period_usec());
                    let ts = first.accel_device_ts_usec().0;
                    if !close_stall_gap(&stalls, &out, endpoint, ts, period) {
                        return false;
                    }
                }
                for sample in packet.samples() {
                    if filter.accept(sample.accel_ticks) {
                        samples.push(ImuSample {
                            sample,
                            device_ts_usec: sample.accel_device_ts_usec(),
                            host_ns: chunk.host_ns,
                        });
                    } else {
                        startup_dropped += 1;
                    }
                }
            }
            samples.is_empty() && startup_dropped == 0
                || out.send(RawEvent::Imu {
                    samples,
                    startup_dropped,
                })
        },
        || framer.borrow_mut().reset(),
    );
}

/// An MJPG frame is one whole JPEG stream: it starts with SOI and ends with EOI (zero bytes a
/// camera pads the payload with may follow). A frame cut short or corrupted on the way lacks
/// one of them, and a decoder would fail on it (or show a broken image) long after recording.
fn is_whole_jpeg(data: &[u8]) -> bool {
    const SOI: [u8; 2] = [0xFF, 0xD8];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let image = data.get(..end).unwrap_or_default();
    image.len() >= SOI.len() + EOI.len() && image.starts_with(&SOI) && image.ends_with(&EOI)
}

fn colour_reader(
    stream: Box<dyn ColourStream>,
    mode: ColourMode,
    stalls: StallWatch,
    out: Outbox,
    stop: Arc<AtomicBool>,
) {
    let stalls = RefCell::new(stalls);
    let format = match mode.format {
        ColorFormat::Bgra32 => ColorFormat::Mjpg,
        other => other,
    };
    let expected = format.frame_size(mode.resolution);
    let endpoint = Endpoint::ColourVideo;
    let period = u64::from(mode.fps.period_usec());
    pump(
        stream,
        &out,
        &stop,
        &stalls,
        |frame| {
            let Some(ticks) = frame.device_ticks.filter(|t| t.0 != 0) else {
                return out.drop_event(endpoint, DropReason::NoTimestamp);
            };
            if expected.is_some_and(|len| frame.data.len() != len) {
                return out.drop_event(endpoint, DropReason::WrongSize);
            }
            if expected.is_none() && !is_whole_jpeg(&frame.data) {
                return out.drop_event(endpoint, DropReason::Malformed);
            }
            if !close_stall_gap(&stalls, &out, endpoint, ticks.to_usec().0, period) {
                return false;
            }
            out.send(RawEvent::Colour(ColourImage {
                data: frame.data,
                format,
                resolution: mode.resolution,
                device_ticks: ticks,
                device_ts_usec: ticks.to_usec(),
                host_ns: frame.host_ns,
            }))
        },
        || {},
    );
}

struct Reader {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Depth,
    Colour,
    Imu,
}

/// One opened camera.
pub struct Device {
    channel: CommandChannel<Box<dyn Transport>>,
    serial: String,
    versions: ComponentVersions,
    calibration: Vec<u8>,
    /// The IR sensor calibration blob (NV_DATA_GET tag 2), once read.
    depth_calibration: Option<Vec<u8>>,
    running: Option<ValidatedConfig>,
    depth: Option<Reader>,
    colour: Option<Reader>,
    imu: Option<Reader>,
    colour_started_ns: Option<u64>,
    outbox: Outbox,
    inbox: Inbox,
    backlog: VecDeque<RawEvent>,
    pairer: CapturePairer<u64, u64>,
    deliver_flushed: bool,
    colour_held: HashMap<u64, ColourImage>,
    depth_held: HashMap<u64, RawDepthFrame>,
    next_handle: u64,
    ready: VecDeque<Event>,
    failures: VecDeque<Error>,
    stats: StreamStats,
    stall_policy: StallPolicy,
    /// The camera's frame buffers (its transport's pool), which the recorder's writer gives
    /// back to.
    buffers: Arc<BufferPool>,
}

impl Device {
    /// Opens the camera `selector` names: a real one through nusb with its colour through
    /// V4L2, or `emu:<n>` on a fresh virtual-time emulator.
    pub fn open(selector: &Selector) -> Result<Device, Error> {
        let transport: Box<dyn Transport> = match selector {
            #[cfg(feature = "emulator")]
            Selector::Emulated(n) => Box::new(EmulatedTransport::new(*n)),
            Selector::Serial(serial) => Box::new(with_v4l2_colour(NusbTransport::open(
                &nusb::Selector::Serial(serial.clone()),
            )?)),
            Selector::Index(index) => Box::new(with_v4l2_colour(NusbTransport::open(
                &nusb::Selector::Index(*index),
            )?)),
        };
        Self::from_transport(transport)
    }

    /// Runs the open sequence (§7.1) over an already opened transport.
    pub fn from_transport(transport: Box<dyn Transport>) -> Result<Device, Error> {
        let sleeper = transport.sleeper();
        let blocking = transport.virtual_time();
        let buffers = transport.buffers();
        let mut channel = CommandChannel::new(transport).with_sleep(sleeper);
        channel.read_serial()?;
        let calibration = channel.read_calibration()?;
        let versions = channel.read_versions()?;
        let serial = channel.read_serial()?;
        log::info!("opened camera {serial}, firmware {versions:?}");
        channel.depth_stop()?;
        channel.write_with_status(Command::ImuStreamStop, &[])?;
        let (outbox, inbox) = outbox::channel(blocking);
        Ok(Device {
            channel,
            serial,
            versions,
            calibration,
            depth_calibration: None,
            running: None,
            depth: None,
            colour: None,
            imu: None,
            colour_started_ns: None,
            outbox,
            inbox,
            backlog: VecDeque::new(),
            pairer: CapturePairer::new(),
            deliver_flushed: false,
            colour_held: HashMap::new(),
            depth_held: HashMap::new(),
            next_handle: 0,
            ready: VecDeque::new(),
            failures: VecDeque::new(),
            stats: StreamStats::default(),
            stall_policy: StallPolicy::default(),
            buffers,
        })
    }

    /// The product serial (DEPTH_READ_PRODUCT_SN).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The camera's pool of frame buffers (the recorder hands it to the writer).
    pub(crate) fn buffers(&self) -> &Arc<BufferPool> {
        &self.buffers
    }

    pub fn versions(&self) -> &ComponentVersions {
        &self.versions
    }

    /// The factory calibration JSON exactly as read (§3.2.5, §9).
    pub fn calibration(&self) -> &[u8] {
        &self.calibration
    }

    /// The IR sensor calibration blob the depth engine needs (NV_DATA_GET tag 2, §3.2.6),
    /// read during the first depth start after open; `None` before that.
    pub fn depth_calibration(&self) -> Option<&[u8]> {
        self.depth_calibration.as_deref()
    }

    /// Which sync jacks hold a plug (GET_JACK_STATE, §4.3).
    pub fn jack_state(&mut self) -> Result<JackState, Error> {
        self.channel.read_jack_state()
    }

    /// The configuration the cameras run with, while they run.
    pub fn running_config(&self) -> Option<&ValidatedConfig> {
        self.running.as_ref()
    }

    pub fn imu_running(&self) -> bool {
        self.imu.is_some()
    }

    pub fn stats(&self) -> StreamStats {
        StreamStats {
            dropped_queue_full: self.stats.dropped_queue_full + self.outbox.dropped_full(),
            ..self.stats
        }
    }

    /// How many stalls per stream are cleared before the stream ends with
    /// [`Error::StreamStalled`]; applies to the streams started after the call.
    pub fn set_stall_policy(&mut self, policy: StallPolicy) {
        self.stall_policy = policy;
    }

    fn stall_watch(&self) -> StallWatch {
        StallWatch::new(self.stall_policy, self.channel.transport().clock())
    }

    /// Host time on the transport's clock, ns.
    pub fn host_now_ns(&self) -> u64 {
        self.channel.transport().host_now_ns()
    }

    fn state_error(&self, what: &str) -> Error {
        Error::State {
            serial: Some(self.serial.clone()),
            what: what.to_string(),
        }
    }

    /// Sets the colour camera's exposure and gain (`k4a_device_set_color_control`, §5.5) and
    /// returns them as the camera reports them afterwards. k4arecorder does this before it
    /// starts the cameras; a manual exposure keeps the colour timing fixed, which
    /// multi-device sync needs (automatic exposure moves it, §6.4).
    pub fn set_colour_controls(
        &mut self,
        controls: ColourControls,
    ) -> Result<ColourControls, Error> {
        let applied = self.channel.transport_mut().set_colour_controls(controls)?;
        log::info!(
            "camera {}: colour exposure {}, gain {:?}",
            self.serial,
            applied.exposure,
            applied.gain
        );
        Ok(applied)
    }

    /// Starts the cameras (`k4a_device_start_cameras`, §7.2): validation (with the jack
    /// read for master/subordinate), SET_SYS_CFG, capture-sync reset, depth start, colour
    /// start; then the IMU when `config.imu`. Any failure of the cameras stops what started.
    pub fn start(&mut self, config: &DeviceConfig) -> Result<(), Error> {
        if self.running.is_some() {
            return Err(self.state_error("the cameras are already started; stop them first"));
        }
        if self.imu.is_some() {
            return Err(self.state_error(
                "the IMU is running; stop the IMU first (a colour start resets the device clock)",
            ));
        }
        let jack = if config.needs_jack_state() {
            Some(self.channel.read_jack_state()?)
        } else {
            None
        };
        let validated = config.validate(jack).map_err(|source| Error::Config {
            serial: Some(self.serial.clone()),
            source,
        })?;
        self.forget_previous_session();
        self.running = Some(validated);
        for step in validated
            .start_sequence(self.depth_calibration.is_none())
            .iter()
        {
            let already_read =
                jack.is_some() && matches!(step, Step::Command(_, Command::GetJackState));
            if already_read {
                continue;
            }
            if let Err(e) = self.run_step(step) {
                let _ = self.stop();
                return Err(e);
            }
        }
        if config.imu {
            self.start_imu()?;
        }
        Ok(())
    }

    /// Drops what a stopped session left unread: its frames, captures, held images and errors
    /// belong to a clock the next colour start resets, and would be paired with the new
    /// session's frames (a frame of the old clock is later than every new one, so it would
    /// hold back pairing until the new clock caught up with it). No reader runs here.
    fn forget_previous_session(&mut self) {
        while let Ok(event) = self.inbox.recv_timeout(Duration::ZERO) {
            self.backlog.push_back(event);
        }
        let stale = self.backlog.len() + self.ready.len() + self.failures.len();
        if stale > 0 {
            log::debug!(
                "{}: {stale} events of the previous session were never read; dropped",
                self.serial
            );
        }
        self.backlog.clear();
        self.ready.clear();
        self.failures.clear();
        self.colour_held.clear();
        self.depth_held.clear();
    }

    /// Stops the cameras (`k4a_device_stop_cameras`, §7.3); the IMU keeps running. Every
    /// step is tried; the first failure is returned.
    pub fn stop(&mut self) -> Result<(), Error> {
        let Some(validated) = self.running else {
            return Ok(());
        };
        let mut first = None;
        for step in validated.stop_sequence().iter() {
            if let Err(e) = self.run_step(step) {
                first.get_or_insert(e);
            }
        }
        self.running = None;
        self.colour_started_ns = None;
        first.map_or(Ok(()), Err)
    }

    /// Starts the IMU (`k4a_device_start_imu`, §7.3, §4.4); the cameras must run.
    pub fn start_imu(&mut self) -> Result<(), Error> {
        if self.imu.is_some() {
            return Err(self.state_error("the IMU is already started"));
        }
        if self.running.is_none() {
            return Err(self.state_error("start the cameras before the IMU"));
        }
        for step in imu_start_sequence().iter() {
            self.run_step(step)?;
        }
        Ok(())
    }

    /// Stops the IMU (`k4a_device_stop_imu`): the reader first, then IMU_STREAM_STOP.
    pub fn stop_imu(&mut self) -> Result<(), Error> {
        if self.imu.is_none() {
            return Ok(());
        }
        for step in imu_stop_sequence().iter() {
            self.run_step(step)?;
        }
        Ok(())
    }

    fn run_step(&mut self, step: &Step) -> Result<(), Error> {
        match *step {
            Step::Command(_, command) => self.command(command),
            Step::QuietCommand(_, command) => {
                let status = self.channel.write_with_status(command, &[])?;
                if !status.is_success() {
                    log::debug!("{}: {} answered {status}", self.serial, command.code());
                }
                Ok(())
            }
            Step::PollUntilReady(..) => self.channel.wait_until_ready(),
            Step::ResetCaptureSync => {
                self.start_pairing();
                Ok(())
            }
            Step::StopCaptureSync => {
                self.deliver_flushed = false;
                self.pairer.stop();
                self.drain_pairer();
                Ok(())
            }
            Step::ArmDepthStream => self.arm_depth(),
            Step::StartColourStream => self.arm_colour(),
            Step::ArmImuStream => self.arm_imu(),
            Step::CancelDepthStream => {
                self.stop_reader(Which::Depth);
                Ok(())
            }
            Step::StopColourStream => {
                self.stop_reader(Which::Colour);
                Ok(())
            }
            Step::CancelImuStream => {
                self.stop_reader(Which::Imu);
                Ok(())
            }
            Step::OpenColourMcu | Step::OpenColourCamera | Step::StartDepthEngine => Ok(()),
        }
    }

    fn command(&mut self, command: Command) -> Result<(), Error> {
        if command.data_phase() != DataPhase::Read {
            return self.channel.write(command, &[]);
        }
        let size = command.sdk_payload_size().unwrap_or(1);
        let data = self.channel.read(command, size)?;
        if let Command::NvDataGet { .. } = command {
            check_nv_data_len(data.len()).map_err(|source| Error::Payload {
                serial: Some(self.serial.clone()),
                command: command.code(),
                endpoint: Endpoint::response_in(command.mcu()),
                source,
            })?;
            self.depth_calibration = Some(data);
        }
        Ok(())
    }

    fn start_pairing(&mut self) {
        let Some(validated) = self.running else {
            return;
        };
        let c = validated.config();
        self.deliver_flushed = false;
        self.pairer.start(PairingConfig {
            fps: c.fps,
            depth_delay_off_color_usec: c.depth_delay_off_color_usec,
            colour_enabled: c.colour_enabled(),
            depth_enabled: c.depth_enabled(),
            synchronized_images_only: c.synchronized_images_only,
            disable_synchronization: std::env::var("K4A_DISABLE_SYNCHRONIZATION")
                .is_ok_and(|v| !v.is_empty() && !v.starts_with('0')),
        });
        self.drain_pairer();
    }

    fn spawn(
        &self,
        name: &str,
        body: impl FnOnce(Outbox, Arc<AtomicBool>) + Send + 'static,
    ) -> Result<Reader, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let (out, flag) = (self.outbox.clone(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name(format!("k4sync {} {name}", self.serial))
            .spawn(move || body(out, flag))
            .map_err(|e| self.state_error(&format!("could not start the {name} reader: {e}")))?;
        Ok(Reader { stop, thread })
    }

    fn arm_depth(&mut self) -> Result<(), Error> {
        let Some(mode) = self.running.map(|v| v.config().depth_mode) else {
            return Ok(());
        };
        let Some(sensor) = mode.sensor_mode() else {
            return Ok(());
        };
        let transport = self.channel.transport_mut();
        let request_len = in_transfer_len(
            sensor.raw_frame_size(),
            transport.max_packet_size(Endpoint::DepthStreamIn),
        );
        let limit = pool_limit();
        let transfers = depth_transfers_in_flight(request_len, limit);
        if transfers == 0 {
            return Err(Error::PoolTooSmall {
                serial: Some(self.serial.clone()),
                request_len,
                pool_limit: limit,
            });
        }
        let stream = transport.open_stream(Endpoint::DepthStreamIn, request_len, transfers)?;
        let (fps, stalls) = (
            self.running.map_or(Fps::Fps30, |v| v.config().fps),
            self.stall_watch(),
        );
        let buffers = self.buffers.clone();
        self.depth = Some(self.spawn("depth", move |out, stop| {
            depth_reader(stream, (mode, fps), buffers, stalls, out, stop)
        })?);
        Ok(())
    }

    fn arm_colour(&mut self) -> Result<(), Error> {
        let Some(validated) = self.running else {
            return Ok(());
        };
        let c = validated.config();
        let mode = ColourMode {
            format: c.color_format,
            resolution: c.color_resolution,
            fps: c.fps,
        };
        let stream = self.channel.transport_mut().start_colour(mode)?;
        self.colour_started_ns = Some(self.host_now_ns());
        let stalls = self.stall_watch();
        self.colour = Some(self.spawn("colour", move |out, stop| {
            colour_reader(stream, mode, stalls, out, stop)
        })?);
        Ok(())
    }

    fn arm_imu(&mut self) -> Result<(), Error> {
        let now = self.host_now_ns();
        let lead = self
            .colour_started_ns
            .map(|started| Usec(now.saturating_sub(started) / 1_000));
        let filter = ImuStartupFilter::new(lead);
        let transport = self.channel.transport_mut();
        let request_len = in_transfer_len(
            IMU_PACKET_MAX_LEN,
            transport.max_packet_size(Endpoint::ImuStreamIn),
        );
        let stream = transport.open_stream(Endpoint::ImuStreamIn, request_len, IMU_TRANSFERS)?;
        let stalls = self.stall_watch();
        self.imu = Some(self.spawn("imu", move |out, stop| {
            imu_reader(stream, filter, stalls, out, stop)
        })?);
        Ok(())
    }

    /// Stops one reader and waits for it; events it (or the others) send meanwhile are kept
    /// for [`Self::next_capture`].
    fn stop_reader(&mut self, which: Which) {
        let reader = match which {
            Which::Depth => self.depth.take(),
            Which::Colour => self.colour.take(),
            Which::Imu => self.imu.take(),
        };
        let Some(reader) = reader else { return };
        reader.stop.store(true, Ordering::Release);
        while !reader.thread.is_finished() {
            if let Ok(event) = self.inbox.recv_timeout(Duration::from_millis(5)) {
                self.backlog.push_back(event);
            }
        }
        let _ = reader.thread.join();
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` when nothing came. A stream that
    /// ended with an error (unplug, last transfer lost) returns that error once, after
    /// everything it delivered before.
    pub fn next_capture(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if let Some(error) = self.failures.pop_front() {
                return Err(error);
            }
            let raw = match self.backlog.pop_front() {
                Some(raw) => raw,
                None => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    match self.inbox.recv_timeout(left) {
                        Ok(raw) => raw,
                        Err(RecvTimeoutError::Timeout) => return Ok(None),
                        Err(RecvTimeoutError::Disconnected) => return Ok(None),
                    }
                }
            };
            self.process(raw);
        }
    }

    fn process(&mut self, raw: RawEvent) {
        match raw {
            RawEvent::Depth(frame) => {
                self.stats.depth_frames += 1;
                let handle = self.handle();
                let ts = frame.device_ts_usec.0;
                self.depth_held.insert(handle, frame);
                self.pairer.push_depth(ts, handle);
                self.drain_pairer();
            }
            RawEvent::Colour(image) => {
                self.stats.colour_frames += 1;
                let handle = self.handle();
                let ts = image.device_ts_usec.0;
                self.colour_held.insert(handle, image);
                self.pairer.push_colour(ts, handle);
                self.drain_pairer();
            }
            RawEvent::Imu {
                samples,
                startup_dropped,
            } => {
                self.stats.imu_samples += samples.len() as u64;
                self.stats.imu_startup_dropped += u64::from(startup_dropped);
                self.ready.extend(samples.into_iter().map(Event::Imu));
            }
            RawEvent::Timeout { endpoint, waited } => {
                self.stats.timeouts += 1;
                self.ready
                    .push_back(Event::StreamTimeout { endpoint, waited });
            }
            RawEvent::Dropped { endpoint, reason } => {
                match reason {
                    DropReason::WrongSize => self.stats.dropped_wrong_size += 1,
                    DropReason::Malformed => self.stats.dropped_malformed += 1,
                    DropReason::NoTimestamp => self.stats.dropped_no_timestamp += 1,
                    DropReason::QueueFull => self.stats.dropped_queue_full += 1,
                }
                self.ready.push_back(Event::Dropped { endpoint, reason });
            }
            RawEvent::Lost(error) => {
                self.stats.transfers_lost += 1;
                self.ready.push_back(Event::TransferLost { error });
            }
            RawEvent::Ended(source) => {
                self.stream_ended(source.endpoint());
                self.failures.push_back(Error::Stream {
                    serial: Some(self.serial.clone()),
                    source,
                });
            }
            RawEvent::StallRecovered {
                endpoint,
                frames_lost,
            } => {
                self.stats.stalls_recovered += 1;
                self.stats.frames_lost_to_stalls += frames_lost;
                self.ready.push_back(Event::StallRecovered {
                    endpoint,
                    frames_lost,
                });
            }
            RawEvent::GaveUp {
                endpoint,
                count,
                window,
            } => {
                self.stream_ended(endpoint);
                self.failures.push_back(Error::StreamStalled {
                    serial: Some(self.serial.clone()),
                    endpoint,
                    count,
                    window,
                });
            }
        }
    }

    /// A stream ended: when it was an image stream, the frames held for pairing go out alone.
    fn stream_ended(&mut self, endpoint: Endpoint) {
        if matches!(endpoint, Endpoint::DepthStreamIn | Endpoint::ColourVideo) {
            self.deliver_flushed = true;
            self.pairer.stop();
            self.drain_pairer();
        }
    }

    fn handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    fn deliver(&mut self, capture: Paired<u64, u64>) {
        let colour = capture
            .colour()
            .and_then(|c| self.colour_held.remove(&c.handle));
        let depth_raw = capture
            .depth()
            .and_then(|d| self.depth_held.remove(&d.handle));
        if colour.is_some() || depth_raw.is_some() {
            self.stats.captures += 1;
            self.ready
                .push_back(Event::Capture(Capture { colour, depth_raw }));
        }
    }

    fn forget(&mut self, frame: Frame<u64, u64>) {
        self.stats.pairing_dropped += 1;
        match frame {
            Frame::Colour(image) => {
                self.colour_held.remove(&image.handle);
            }
            Frame::Depth(image) => {
                self.depth_held.remove(&image.handle);
            }
        }
    }

    fn drain_pairer(&mut self) {
        while let Some(capture) = self.pairer.pop_capture() {
            self.deliver(capture);
        }
        while let Some(event) = self.pairer.pop_event() {
            match event {
                PairingEvent::FlushedCapture { capture } if self.deliver_flushed => {
                    self.deliver(capture)
                }
                PairingEvent::FlushedUnpaired { frame } if self.deliver_flushed => {
                    self.deliver(Paired::from(frame))
                }
                PairingEvent::FlushedCapture { capture }
                | PairingEvent::OutputOverflow { dropped: capture } => {
                    for frame in [
                        capture.colour().map(|c| Frame::Colour(*c)),
                        capture.depth().map(|d| Frame::Depth(*d)),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        self.forget(frame);
                    }
                }
                PairingEvent::DroppedEarlyDepth { depth } => self.forget(Frame::Depth(depth)),
                PairingEvent::DiscardedUnpaired { frame }
                | PairingEvent::IgnoredNotRunning { frame }
                | PairingEvent::FlushedUnpaired { frame } => self.forget(frame),
                PairingEvent::ReleasedAlone { .. } | PairingEvent::PendingOverflow { .. } => {}
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Err(e) = self.stop_imu() {
            log::warn!("{}: stopping the IMU on close failed: {e}", self.serial);
        }
        if let Err(e) = self.stop() {
            log::warn!("{}: stopping the cameras on close failed: {e}", self.serial);
        }
        for which in [Which::Depth, Which::Colour, Which::Imu] {
            self.stop_reader(which);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "emulator")]
    #[test]
    fn selectors_parse_emulated_index_and_serial() {
        assert_eq!(
            "emu:3".parse::<Selector>().ok(),
            Some(Selector::Emulated(3))
        );
        assert_eq!("0".parse::<Selector>().ok(), Some(Selector::Index(0)));
        assert_eq!("12".parse::<Selector>().ok(), Some(Selector::Index(12)));
        assert_eq!(
            "000019484312".parse::<Selector>().ok(),
            Some(Selector::Serial("000019484312".into()))
        );
        assert!("emu:x".parse::<Selector>().is_err());
    }

    #[test]
    fn only_a_jpeg_with_soi_and_eoi_is_whole() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x02, 0xFF, 0xD9];
        assert!(is_whole_jpeg(&jpeg));
        assert!(
            is_whole_jpeg(&[&jpeg[..], &[0; 16]].concat()),
            "zero padding after EOI"
        );
        assert!(!is_whole_jpeg(&jpeg[..5]), "cut short: no EOI");
        assert!(!is_whole_jpeg(&jpeg[2..]), "no SOI");
        assert!(!is_whole_jpeg(&[0xFF, 0xD9]), "EOI alone");
        assert!(!is_whole_jpeg(&[0; 64]), "all zeros");
        assert!(!is_whole_jpeg(&[]));
    }

    #[cfg(feature = "emulator")]
    #[test]
    fn opening_an_emulated_camera_reads_its_identity() {
        let device = Device::open(&Selector::Emulated(4)).unwrap();
        assert_eq!(device.serial(), EmulatedTransport::new(4).usb_serial());
        assert!(device.calibration().starts_with(b"{"));
    }
}
