//! The emulated transport: [`k4sync_core::emu::Device`] cameras behind the [`Transport`]
//! trait, so the device layer, the CLI and the tests run over the emulator exactly as over a
//! real camera (reference §1.2, §2.3, §3.5, §4.4, §5.4, §10).
//!
//! * [`EmulatedRig`] — one or more emulated cameras sharing a host clock and, optionally, a
//!   daisy-chained sync cable: a camera's Sync Out pulses ([`emu::Device::poll_sync_out`]) are
//!   fed into the next camera's Sync In ([`emu::Device::on_sync_in_pulse`]), and the jacks
//!   report the plugs the cable implies. Each camera keeps its own oscillator drift.
//! * [`EmulatedTransport`] — one camera of a rig as a [`Transport`]: command transfers go
//!   straight into the device model; streams ([`Transport::open_stream`],
//!   [`Transport::start_colour`]) are polled by the rig as its clock advances and queue up
//!   like completed transfers.
//! * [`EmulatedCamera`] — the test's side of a camera: fault injection, the OUT transfers
//!   the host sent, the calibration JSON, the device state.
//! * A cable to another process ([`EmulatedRig::pulse_in`], [`EmulatedRig::pulse_out`],
//!   real-time pacing only): Sync Out pulses travel as datagrams on a Unix socket
//!   (`pulse_line`), so separate agent processes form one chain.
//!
//! Time is a virtual host clock ([`Pacing::Virtual`]) unless real-time pacing is asked for:
//! it moves only when every armed stream of the rig is waiting for data, and then jumps
//! (in [`STEP_NS`] steps) to the moment the next item is available or a waiter's timeout
//! expires. Several simulated seconds therefore take as long as producing their bytes, and
//! nothing is lost to the host being slower than the simulated camera. A stream whose reader
//! took nothing for [`AWAY_GRACE`] of real time no longer holds the clock back (its items queue
//! up). [`Pacing::RealTime`] runs the clock at wall-clock speed (the CLI's `--emulate`),
//! bringing it up to the wall clock whenever the host calls. Either way each stream holds at
//! most [`QUEUE_LIMIT_BYTES`] unread.
//!
//! Either way a stream's queue stands for its completed transfers, and the device is polled
//! for a stream only while one more item fits: a full queue means no transfer is free, and, as
//! on a real camera, frames that come meanwhile stay in the device's small backlog and the
//! older ones are lost there, counted ([`EmulatedCamera::lost_at_device`]). The emulator
//! therefore never produces a frame nobody can hold: the bytes it renders follow what the host
//! takes, not how long the host was away, so a host starved of CPU cannot make it fall
//! further behind, and every delivered frame keeps its true device timestamp (a gap reads as
//! drops, never as shifted time). Pulses keep travelling the cable at every step.
//!
//! The emulator's transfer failures map one to one: Timeout→[`TransferError::Timeout`],
//! Stall→[`TransferError::Stall`], Gone→[`TransferError::Disconnected`],
//! Overflow→[`TransferError::Overflow`]. A stall halts the stream's endpoint as on a real
//! bus: it delivers nothing more until the host clears the halt ([`StreamIn::clear_halt`],
//! [`ColourStream::clear_halt`]), which arms the stream's transfers again; frames that come
//! meanwhile wait in the device's backlog or are lost there. Every endpoint has a max packet size of 1024
//! (SuperSpeed), and IN transfers must be whole multiples of it, as on nusb.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k4sync_core::colour_control::{check_read_back, ColourControls};
use k4sync_core::emu::{self, ColourConfig, ColourStartError, DeviceParams, Fault};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{CommandPacket, CommandRepr, DataPhase, Mcu, MAX_PAYLOAD_SIZE};
use k4sync_core::wire::imu::TRANSFER_LEN as IMU_PACKET_LEN;
use k4sync_core::wire::response::PACKET_LEN;
use k4sync_core::wire::uvc::{colour_timestamp, UvcPayload};

use crate::colour::control::ControlError;
use crate::error::Error;
use crate::transport::pulse_line::{wall_now_ns, PulseReceiver, PulseSender};
use crate::transport::{
    BufferPool, Chunk, ColourFrame, ColourMode, ColourStream, Endpoint, StreamIn, TimestampSource,
    TransferError, Transport,
};

/// wMaxPacketSize of every emulated endpoint (SuperSpeed bulk).
pub const MAX_PACKET_SIZE: usize = 1024;
/// Granularity of the virtual clock: streams are polled every 1 ms of host time.
pub const STEP_NS: u64 = 1_000_000;
/// How long of real time a stream's reader may stay away (busy elsewhere, or starved of CPU)
/// and still hold a virtual clock back; one that took nothing for longer has stopped reading.
/// Counted from the reader's last item, per stream, so a reader that keeps coming back holds
/// the clock however slowly the machine runs it.
pub const AWAY_GRACE: Duration = Duration::from_secs(2);
/// How often a waiting reader looks again whether the clock may move.
const WAIT_SLICE: Duration = Duration::from_millis(20);
/// Bytes one stream may hold unread; beyond that the device finds no free transfer and loses
/// frames. It is memory of the process that carries the emulator (`k4sync record --emulate`):
/// one raw NFOV unbinned frame (5,310,760 bytes), as a real host keeps one such depth transfer
/// in flight under the 10 MB pool limit (§3.5); one item is always kept, so a larger frame
/// still gets through. Under virtual pacing a reader that keeps reading never meets it (the
/// clock waits for the reader); one away for longer than [`AWAY_GRACE`] loses frames past it.
pub const QUEUE_LIMIT_BYTES: usize = 6 << 20;
/// Seeds of `emu:<n>` cameras are this plus `n`.
pub const SEED_BASE: u64 = 0x4B34_5359_4E43_0000;

const CALIBRATION_MAX_LEN: usize = 64 * 1024;
const UVC_HEADER_MAX_LEN: usize = 255;

/// How the rig's host clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Time moves only when the host waits for the camera (tests: faster than real time).
    Virtual,
    /// Time follows the host's monotonic clock (the CLI).
    RealTime,
}

/// The deterministic parameters of camera `emu:<n>`: its own serial, container ID and
/// seed, and an oscillator error between −100 and +100 ppm.
pub fn params_for(n: u32) -> DeviceParams {
    let mut params = DeviceParams::from_seed(SEED_BASE + u64::from(n));
    params.drift_ppb = (i64::from(n) * 37_019 % 201 - 100) * 1_000;
    params
}

/// One OUT transfer the host sent to an emulated camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutTransfer {
    pub endpoint: Endpoint,
    pub bytes: Vec<u8>,
    /// Virtual host time of the transfer, ns.
    pub host_ns: u64,
}

enum Item {
    Chunk(Chunk),
    Frame(ColourFrame),
    Failed(TransferError),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Chunk(c) => c.bytes.len(),
            Item::Frame(f) => f.data.len(),
            Item::Failed(_) => 0,
        }
    }
}

struct StreamSlot {
    id: u64,
    endpoint: Endpoint,
    transfer_len: usize,
    in_flight: usize,
    /// Transfers the stream was opened with, re-armed by [`StreamIn::clear_halt`].
    armed: usize,
    /// A stall halted the endpoint: it delivers nothing until the host clears the halt.
    halted: bool,
    queue: VecDeque<Item>,
    queued_bytes: usize,
    scratch: Vec<u8>,
    /// The camera's pool, which delivered items are copied into.
    buffers: Arc<BufferPool>,
    waiting_until: Option<u64>,
    last_error: Option<TransferError>,
    /// When the reader last took an item (or the stream opened), real time.
    last_taken: Instant,
}

impl StreamSlot {
    /// Whether a transfer is free to take the next item: the queue is empty, or one more
    /// item of at most `transfer_len` bytes keeps it within [`QUEUE_LIMIT_BYTES`].
    fn has_room(&self) -> bool {
        self.queue.is_empty()
            || self.queued_bytes.saturating_add(self.transfer_len) <= QUEUE_LIMIT_BYTES
    }

    fn push(&mut self, item: Item) {
        self.queued_bytes += item.len();
        self.queue.push_back(item);
    }

    fn pop(&mut self) -> Option<Item> {
        let item = self.queue.pop_front()?;
        self.queued_bytes -= item.len();
        self.last_taken = Instant::now();
        Some(item)
    }

    /// Under virtual pacing: the reader waits, or has been away longer than [`AWAY_GRACE`];
    /// either way the clock need not wait for it.
    /// The host cleared the halt: the failed transfers are armed again and the stall's
    /// report, if the reader has not taken it yet, is gone with them.
    fn clear_halt(&mut self) {
        self.queue
            .retain(|item| !matches!(item, Item::Failed(TransferError::Stall { .. })));
        self.queued_bytes = self.queue.iter().map(Item::len).sum();
        self.halted = false;
        self.in_flight = self.armed;
        self.last_error = None;
    }

    fn lets_clock_move(&self) -> bool {
        self.waiting_until.is_some() || self.last_taken.elapsed() >= AWAY_GRACE
    }

    fn fail(&mut self, error: TransferError) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match error {
            TransferError::Disconnected { .. } => self.in_flight = 0,
            TransferError::Stall { .. } => self.halted = true,
            _ => {}
        }
        self.last_error = Some(error.clone());
        self.push(Item::Failed(error));
    }
}

struct Camera {
    device: emu::Device,
    out_log: Vec<OutTransfer>,
    /// A read data phase is due on the MCU's response endpoint before its status.
    data_due: [bool; 2],
    /// Bytes still owed to an open DOWNLOAD_FIRMWARE write phase.
    write_left: [u64; 2],
    streams: Vec<StreamSlot>,
    sync_out_to: Option<usize>,
    /// A cable to another process: where its Sync Out pulses go, where its Sync In's come from.
    pulse_out: Option<PulseSender>,
    pulse_in: Option<PulseReceiver>,
    /// The camera's pool of frame buffers ([`Transport::buffers`]).
    buffers: Arc<BufferPool>,
}

struct RigState {
    pacing: Pacing,
    started: Instant,
    /// The realtime clock at `started`, ns since the Unix epoch (maps pulses between
    /// processes).
    started_wall_ns: u64,
    now_ns: u64,
    cameras: Vec<Camera>,
    next_stream_id: u64,
}

struct Shared {
    state: Mutex<RigState>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, RigState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn mcu_slot(mcu: Mcu) -> usize {
    match mcu {
        Mcu::Depth => 0,
        Mcu::Colour => 1,
    }
}

fn check_pulse_line(st: &RigState, index: usize) -> std::io::Result<()> {
    if st.pacing != Pacing::RealTime {
        return Err(std::io::Error::other(
            "a cable to another process needs real-time pacing",
        ));
    }
    if index >= st.cameras.len() {
        return Err(std::io::Error::other(format!(
            "the rig has {} cameras, no camera {index}",
            st.cameras.len()
        )));
    }
    Ok(())
}

/// The host transfer error of an emulator failure; `timeout` is what the host waited.
pub fn map_emu_error(error: emu::TransferError, timeout: Duration) -> TransferError {
    match error {
        emu::TransferError::Timeout { endpoint } => TransferError::Timeout { endpoint, timeout },
        emu::TransferError::Stall { endpoint } => TransferError::Stall { endpoint },
        emu::TransferError::Gone { endpoint } => TransferError::Disconnected { endpoint },
        emu::TransferError::Overflow {
            endpoint,
            capacity,
            got,
        } => TransferError::Overflow {
            endpoint,
            capacity,
            got,
        },
    }
}

impl RigState {
    fn now_for_pacing(&self) -> u64 {
        match self.pacing {
            Pacing::Virtual => self.now_ns,
            Pacing::RealTime => u64::try_from(self.started.elapsed().as_nanos())
                .unwrap_or(u64::MAX)
                .max(self.now_ns),
        }
    }

    fn catch_up(&mut self) {
        if self.pacing == Pacing::RealTime {
            let now = self.now_for_pacing();
            self.advance_to(now, false);
        }
    }

    /// Moves the clock to `target` in steps; with `until_data`, stops at the first step
    /// after which some stream holds an item.
    fn advance_to(&mut self, target: u64, until_data: bool) {
        while self.now_ns < target {
            let next = target.min(self.now_ns.saturating_add(STEP_NS));
            self.now_ns = next;
            self.step(next);
            if until_data && self.waiter_has_data() {
                break;
            }
        }
    }

    /// A waiting reader has something to take: let it run before time moves again.
    fn waiter_has_data(&self) -> bool {
        self.cameras
            .iter()
            .flat_map(|c| c.streams.iter())
            .any(|s| s.waiting_until.is_some() && !s.queue.is_empty())
    }

    fn clock_may_move(&self) -> bool {
        self.cameras
            .iter()
            .flat_map(|c| c.streams.iter())
            .all(StreamSlot::lets_clock_move)
    }

    fn earliest_deadline(&self) -> Option<u64> {
        self.cameras
            .iter()
            .flat_map(|c| c.streams.iter())
            .filter_map(|s| s.waiting_until)
            .min()
    }

    fn step(&mut self, now: u64) {
        for camera in &mut self.cameras {
            camera.device.advance_to(now);
        }
        self.route_pulses(now);
        for camera in &mut self.cameras {
            camera.poll_streams(now);
        }
    }

    /// Carries Sync Out pulses along the cable; a subordinate repeats its Sync In on its own
    /// Sync Out, so a chain settles within one pass per camera. Pulses from other processes
    /// come in first, and those for other processes go out last.
    fn route_pulses(&mut self, now: u64) {
        let origin = self.started_wall_ns;
        for camera in &mut self.cameras {
            let pulses = camera.pulse_in.as_ref().map(PulseReceiver::drain);
            for wall_ns in pulses.unwrap_or_default() {
                camera
                    .device
                    .on_sync_in_pulse(wall_ns.saturating_sub(origin));
            }
        }
        self.route_in_process(now);
        for camera in &mut self.cameras {
            if camera.sync_out_to.is_some() {
                continue;
            }
            let Some(sender) = camera.pulse_out.as_ref() else {
                continue;
            };
            while let Some(pulse) = camera.device.poll_sync_out(now) {
                sender.send(origin.saturating_add(pulse));
            }
        }
    }

    fn route_in_process(&mut self, now: u64) {
        for _ in 0..self.cameras.len() {
            let mut moved = false;
            for from in 0..self.cameras.len() {
                let Some(to) = self.cameras.get(from).and_then(|c| c.sync_out_to) else {
                    continue;
                };
                while let Some(pulse) = self
                    .cameras
                    .get_mut(from)
                    .and_then(|c| c.device.poll_sync_out(now))
                {
                    if let Some(target) = self.cameras.get_mut(to) {
                        target.device.on_sync_in_pulse(pulse);
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn camera(&mut self, index: usize) -> &mut Camera {
        let last = self.cameras.len().saturating_sub(1);
        &mut self.cameras[index.min(last)]
    }

    fn slot(&mut self, camera: usize, id: u64) -> Option<&mut StreamSlot> {
        self.cameras
            .get_mut(camera)?
            .streams
            .iter_mut()
            .find(|s| s.id == id)
    }
}

impl Camera {
    fn poll_streams(&mut self, now: u64) {
        let device = &mut self.device;
        for slot in &mut self.streams {
            while !slot.halted && slot.in_flight > 0 && slot.has_room() {
                let polled = match slot.endpoint {
                    Endpoint::DepthStreamIn => poll_depth(device, slot, now),
                    Endpoint::ImuStreamIn => poll_imu(device, slot, now),
                    _ => poll_colour(device, slot, now),
                };
                match polled {
                    Ok(Some(item)) => slot.push(item),
                    Ok(None) => break,
                    Err(e) => {
                        slot.fail(map_emu_error(e, Duration::ZERO));
                        break;
                    }
                }
            }
        }
    }
}

fn poll_depth(
    device: &mut emu::Device,
    slot: &mut StreamSlot,
    now: u64,
) -> Result<Option<Item>, emu::TransferError> {
    let Some(info) = device.poll_depth_frame(now, &mut slot.scratch)? else {
        return Ok(None);
    };
    let bytes = slot
        .buffers
        .copy_of(slot.scratch.get(..info.len).unwrap_or_default());
    Ok(Some(Item::Chunk(Chunk {
        ended_short: bytes.len() < slot.transfer_len,
        bytes,
        host_ns: now,
    })))
}

fn poll_imu(
    device: &mut emu::Device,
    slot: &mut StreamSlot,
    now: u64,
) -> Result<Option<Item>, emu::TransferError> {
    let mut packet = [0u8; IMU_PACKET_LEN];
    let Some(info) = device.poll_imu_packet(now, &mut packet)? else {
        return Ok(None);
    };
    let bytes = packet.get(..info.len).unwrap_or_default().to_vec();
    Ok(Some(Item::Chunk(Chunk {
        ended_short: bytes.len() < slot.transfer_len,
        bytes,
        host_ns: now,
    })))
}

fn poll_colour(
    device: &mut emu::Device,
    slot: &mut StreamSlot,
    now: u64,
) -> Result<Option<Item>, emu::TransferError> {
    let Some(info) = device.poll_colour_frame(now, &mut slot.scratch)? else {
        return Ok(None);
    };
    let data = slot
        .buffers
        .copy_of(slot.scratch.get(..info.len).unwrap_or_default());
    let mut header = [0u8; UVC_HEADER_MAX_LEN];
    let device_ticks = emu::colour_payload_header(&info, true, true, &mut header)
        .ok()
        .and_then(|len| {
            let payload = UvcPayload::new_checked(header.get(..len)?).ok()?;
            colour_timestamp(payload.metadata())
        });
    Ok(Some(Item::Frame(ColourFrame {
        data,
        device_ticks,
        host_ns: now,
        timestamp_source: if device_ticks.is_some() {
            TimestampSource::UvcMetadata
        } else {
            TimestampSource::Unavailable
        },
    })))
}

/// Emulated cameras on one host clock, optionally joined by a sync cable.
#[derive(Clone)]
pub struct EmulatedRig {
    shared: Arc<Shared>,
}

impl EmulatedRig {
    /// Cameras with these parameters, no cable between them.
    pub fn new(cameras: impl IntoIterator<Item = DeviceParams>, pacing: Pacing) -> Self {
        let cameras = cameras
            .into_iter()
            .map(|params| Camera {
                device: emu::Device::new(params),
                out_log: Vec::new(),
                data_due: [false; 2],
                write_left: [0; 2],
                streams: Vec::new(),
                sync_out_to: None,
                pulse_out: None,
                pulse_in: None,
                buffers: BufferPool::for_camera(),
            })
            .collect();
        EmulatedRig {
            shared: Arc::new(Shared {
                state: Mutex::new(RigState {
                    pacing,
                    started: Instant::now(),
                    started_wall_ns: wall_now_ns(),
                    now_ns: 0,
                    cameras,
                    next_stream_id: 0,
                }),
                wake: Condvar::new(),
            }),
        }
    }

    /// Cameras `emu:0` … `emu:<count − 1>` ([`params_for`]), no cable.
    pub fn standalone(count: u32, pacing: Pacing) -> Self {
        Self::new((0..count).map(params_for), pacing)
    }

    /// Cameras `emu:0` … daisy-chained: camera 0's Sync Out to camera 1's Sync In, 1's Sync
    /// Out to 2's Sync In, and so on (camera 0 is the master's place).
    pub fn daisy_chain(count: u32, pacing: Pacing) -> Self {
        let rig = Self::standalone(count, pacing);
        for i in 1..count as usize {
            rig.connect(i - 1, i);
        }
        rig
    }

    /// Plugs a cable from camera `from`'s Sync Out into camera `to`'s Sync In; the jacks of
    /// both report the plug.
    pub fn connect(&self, from: usize, to: usize) {
        let mut st = self.shared.lock();
        if from >= st.cameras.len() || to >= st.cameras.len() || from == to {
            return;
        }
        let source = st.camera(from);
        source.sync_out_to = Some(to);
        let jack = source.device.jack();
        source.device.set_jack(JackState {
            sync_out: true,
            ..jack
        });
        let sink = st.camera(to);
        let jack = sink.device.jack();
        sink.device.set_jack(JackState {
            sync_in: true,
            ..jack
        });
    }

    /// Plugs camera `index`'s Sync In into a cable from another process: it listens for
    /// pulses on a Unix socket bound at `path` (where that process's [`Self::pulse_out`]
    /// sends), and its Sync In reports a plug. Real-time pacing only: the processes share the
    /// realtime clock, not a virtual one.
    pub fn pulse_in(&self, index: usize, path: &std::path::Path) -> std::io::Result<()> {
        let receiver = PulseReceiver::bind(path)?;
        self.plug_line(index, |camera, jack| {
            camera.pulse_in = Some(receiver);
            JackState {
                sync_in: true,
                ..jack
            }
        })
    }

    /// Plugs camera `index`'s Sync Out into a cable to another process: its pulses go to the
    /// Unix socket at `path` ([`Self::pulse_in`] there), and its Sync Out reports a plug.
    /// Real-time pacing only.
    pub fn pulse_out(&self, index: usize, path: &std::path::Path) -> std::io::Result<()> {
        let sender = PulseSender::new(path)?;
        self.plug_line(index, |camera, jack| {
            camera.pulse_out = Some(sender);
            JackState {
                sync_out: true,
                ..jack
            }
        })
    }

    /// Attaches one end of a cable to another process to camera `index` (`plug` stores it
    /// and returns the jack state with its plug).
    fn plug_line(
        &self,
        index: usize,
        plug: impl FnOnce(&mut Camera, JackState) -> JackState,
    ) -> std::io::Result<()> {
        let mut st = self.shared.lock();
        check_pulse_line(&st, index)?;
        let camera = st.camera(index);
        let jack = plug(camera, camera.device.jack());
        camera.device.set_jack(jack);
        Ok(())
    }

    /// Pulls the cable out of camera `to`'s Sync In: no more pulses reach it, and its Sync In
    /// and the upstream camera's Sync Out report no plug (a test's "cable pulled").
    pub fn unplug_sync_in(&self, to: usize) {
        let mut st = self.shared.lock();
        for camera in &mut st.cameras {
            if camera.sync_out_to == Some(to) {
                camera.sync_out_to = None;
                let jack = camera.device.jack();
                camera.device.set_jack(JackState {
                    sync_out: false,
                    ..jack
                });
            }
        }
        if let Some(sink) = st.cameras.get_mut(to) {
            sink.pulse_in = None;
            let jack = sink.device.jack();
            sink.device.set_jack(JackState {
                sync_in: false,
                ..jack
            });
        }
    }

    pub fn len(&self) -> usize {
        self.shared.lock().cameras.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The transport of camera `index` (panics if there is no such camera).
    pub fn transport(&self, index: usize) -> EmulatedTransport {
        let serial = self.camera(index).serial();
        EmulatedTransport {
            shared: Arc::clone(&self.shared),
            camera: index,
            serial,
        }
    }

    /// The test's handle on camera `index` (panics if there is no such camera).
    pub fn camera(&self, index: usize) -> EmulatedCamera {
        assert!(index < self.len(), "the rig has no camera {index}");
        EmulatedCamera {
            shared: Arc::clone(&self.shared),
            index,
        }
    }

    /// Host time, ns.
    pub fn now_ns(&self) -> u64 {
        self.shared.lock().now_for_pacing()
    }

    /// Moves a virtual clock forward by `by` (streams are polled on the way).
    pub fn advance(&self, by: Duration) {
        let mut st = self.shared.lock();
        let target = st
            .now_ns
            .saturating_add(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX));
        st.advance_to(target, false);
        drop(st);
        self.shared.wake.notify_all();
    }
}

/// A test's handle on one emulated camera.
#[derive(Clone)]
pub struct EmulatedCamera {
    shared: Arc<Shared>,
    index: usize,
}

impl EmulatedCamera {
    fn with<R>(&self, f: impl FnOnce(&mut Camera) -> R) -> R {
        let mut st = self.shared.lock();
        f(st.camera(self.index))
    }

    pub fn serial(&self) -> String {
        self.with(|c| c.device.serial().to_string())
    }

    pub fn params(&self) -> DeviceParams {
        self.with(|c| c.device.params().clone())
    }

    /// The calibration JSON the camera returns for DEPTH_READ_CALIBRATION_DATA.
    pub fn calibration_json(&self) -> Vec<u8> {
        self.with(|c| {
            let mut buf = vec![0; CALIBRATION_MAX_LEN];
            let len = c.device.calibration_json(&mut buf);
            buf.truncate(len);
            buf
        })
    }

    /// Arms a scripted failure (see `docs/emulator.md`).
    pub fn inject(&self, fault: Fault) {
        self.with(|c| c.device.inject(fault));
        self.shared.wake.notify_all();
    }

    /// Every OUT transfer the host sent, in order.
    pub fn out_transfers(&self) -> Vec<OutTransfer> {
        self.with(|c| c.out_log.clone())
    }

    pub fn clear_out_transfers(&self) {
        self.with(|c| c.out_log.clear());
    }

    pub fn sys_config(&self) -> SysConfig {
        self.with(|c| c.device.sys_config())
    }

    pub fn depth_state(&self) -> emu::DepthState {
        self.with(|c| c.device.depth_state())
    }

    pub fn imu_running(&self) -> bool {
        self.with(|c| c.device.imu_running())
    }

    /// The colour exposure and gain as the camera holds them.
    pub fn colour_controls(&self) -> ColourControls {
        self.with(|c| c.device.colour_controls())
    }

    pub fn colour_running(&self) -> bool {
        self.with(|c| c.device.colour_config().is_some())
    }

    pub fn jack(&self) -> JackState {
        self.with(|c| c.device.jack())
    }

    /// Frames (IMU: packets) of the stream on `endpoint` the camera lost because no transfer
    /// was free to take them: the host left its stream's queue full for longer than the
    /// device's own backlog lasts.
    pub fn lost_at_device(&self, endpoint: Endpoint) -> u64 {
        let stream = match endpoint {
            Endpoint::DepthStreamIn => emu::Stream::Depth,
            Endpoint::ImuStreamIn => emu::Stream::Imu,
            Endpoint::ColourVideo => emu::Stream::Colour,
            _ => return 0,
        };
        self.with(|c| c.device.frames_lost(stream))
    }
}

/// One emulated camera as a [`Transport`].
pub struct EmulatedTransport {
    shared: Arc<Shared>,
    camera: usize,
    serial: String,
}

impl EmulatedTransport {
    /// Camera `emu:<n>` alone on a virtual clock.
    pub fn new(n: u32) -> Self {
        Self::with_pacing(n, Pacing::Virtual)
    }

    /// Camera `emu:<n>` alone on a clock with this pacing.
    pub fn with_pacing(n: u32, pacing: Pacing) -> Self {
        EmulatedRig::new([params_for(n)], pacing).transport(0)
    }

    /// The test's handle on this transport's camera.
    pub fn camera(&self) -> EmulatedCamera {
        EmulatedCamera {
            shared: Arc::clone(&self.shared),
            index: self.camera,
        }
    }

    fn register(&self, endpoint: Endpoint, transfer_len: usize, in_flight: usize) -> u64 {
        let mut st = self.shared.lock();
        st.catch_up();
        let id = st.next_stream_id;
        st.next_stream_id += 1;
        let camera = st.camera(self.camera);
        camera.streams.retain(|s| s.endpoint != endpoint);
        let buffers = camera.buffers.clone();
        camera.streams.push(StreamSlot {
            id,
            endpoint,
            transfer_len,
            in_flight,
            armed: in_flight,
            halted: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            scratch: vec![0; transfer_len],
            buffers,
            waiting_until: None,
            last_error: None,
            last_taken: Instant::now(),
        });
        id
    }

    fn handle(&self, endpoint: Endpoint, id: u64) -> EmulatedStream {
        EmulatedStream {
            shared: Arc::clone(&self.shared),
            camera: self.camera,
            id,
            endpoint,
        }
    }
}

impl Transport for EmulatedTransport {
    fn usb_serial(&self) -> &str {
        &self.serial
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), TransferError> {
        let mcu = match endpoint {
            Endpoint::DepthCommandOut => Mcu::Depth,
            Endpoint::ColourCommandOut => Mcu::Colour,
            _ => {
                return Err(TransferError::Io {
                    endpoint,
                    message: "not an OUT endpoint".into(),
                })
            }
        };
        let mut st = self.shared.lock();
        st.catch_up();
        let host_ns = st.now_ns;
        let camera = st.camera(self.camera);
        camera.out_log.push(OutTransfer {
            endpoint,
            bytes: data.to_vec(),
            host_ns,
        });
        let slot = mcu_slot(mcu);
        let writing = camera.write_left[slot] > 0;
        camera
            .device
            .on_command_out(mcu, data)
            .map_err(|e| map_emu_error(e, timeout))?;
        if writing {
            camera.write_left[slot] = camera.write_left[slot].saturating_sub(data.len() as u64);
            return Ok(());
        }
        camera.data_due[slot] = false;
        if let Ok(packet) = CommandPacket::new_checked(data) {
            let size = packet.payload_size();
            let phase = CommandRepr::parse(&packet).map(|r| r.command.data_phase());
            if size > 0 && size <= MAX_PAYLOAD_SIZE {
                match phase {
                    Ok(DataPhase::Write) => camera.write_left[slot] = u64::from(size),
                    _ => camera.data_due[slot] = true,
                }
            }
        }
        Ok(())
    }

    fn max_packet_size(&self, _endpoint: Endpoint) -> usize {
        MAX_PACKET_SIZE
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransferError> {
        if buf.is_empty() || buf.len() % MAX_PACKET_SIZE != 0 {
            return Err(TransferError::Io {
                endpoint,
                message: format!(
                    "an IN transfer must be a non-zero multiple of {MAX_PACKET_SIZE} bytes, not {}",
                    buf.len()
                ),
            });
        }
        let mcu = match endpoint {
            Endpoint::DepthResponseIn => Mcu::Depth,
            Endpoint::ColourResponseIn => Mcu::Colour,
            _ => {
                return Err(TransferError::Io {
                    endpoint,
                    message: "stream endpoints are read through open_stream".into(),
                })
            }
        };
        let mut st = self.shared.lock();
        st.catch_up();
        let pacing = st.pacing;
        let camera = st.camera(self.camera);
        let slot = mcu_slot(mcu);
        let result = if std::mem::take(&mut camera.data_due[slot]) {
            camera.device.read_data(mcu, buf)
        } else {
            let mut status = [0u8; PACKET_LEN];
            camera.device.read_response(mcu, &mut status).map(|()| {
                if let Some(dst) = buf.get_mut(..PACKET_LEN) {
                    dst.copy_from_slice(&status);
                }
                PACKET_LEN
            })
        };
        drop(st);
        let result = result.map_err(|e| map_emu_error(e, timeout));
        if pacing == Pacing::RealTime && result.as_ref().is_err_and(TransferError::is_timeout) {
            std::thread::sleep(timeout);
        }
        result
    }

    fn open_stream(
        &mut self,
        endpoint: Endpoint,
        transfer_len: usize,
        in_flight: usize,
    ) -> Result<Box<dyn StreamIn>, Error> {
        if !matches!(endpoint, Endpoint::DepthStreamIn | Endpoint::ImuStreamIn) {
            return Err(Error::Unavailable {
                what: format!("streaming on {endpoint}"),
            });
        }
        let transfer_len = crate::transport::in_transfer_len(transfer_len, MAX_PACKET_SIZE);
        let id = self.register(endpoint, transfer_len, in_flight);
        Ok(Box::new(self.handle(endpoint, id)))
    }

    fn set_colour_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        let reported = {
            let mut st = self.shared.lock();
            st.catch_up();
            let device = &mut st.camera(self.camera).device;
            if device.is_gone() {
                return Err(Error::Stream {
                    serial: Some(self.serial.clone()),
                    source: TransferError::Disconnected {
                        endpoint: Endpoint::ColourVideo,
                    },
                });
            }
            device.set_colour_controls(controls.snapped());
            device.colour_controls()
        };
        let reported = ColourControls {
            gain: controls.gain.and(reported.gain),
            ..reported
        };
        check_read_back(controls, reported).map_err(|mismatch| Error::Colour {
            serial: Some(self.serial.clone()),
            node: "emulated colour camera".into(),
            problem: ControlError::Refused(mismatch).into(),
        })
    }

    fn start_colour(&mut self, mode: ColourMode) -> Result<Box<dyn ColourStream>, Error> {
        let config = ColourConfig {
            resolution: mode.resolution,
            format: mode.format,
            fps: mode.fps,
        };
        let capacity = config.frame_len() + MAX_PACKET_SIZE;
        {
            let mut st = self.shared.lock();
            st.catch_up();
            let now = st.now_ns;
            let started = st.camera(self.camera).device.start_colour(now, config);
            match started {
                Ok(()) => {}
                Err(ColourStartError::Gone) => {
                    return Err(Error::Stream {
                        serial: Some(self.serial.clone()),
                        source: TransferError::Disconnected {
                            endpoint: Endpoint::ColourVideo,
                        },
                    })
                }
                Err(e) => {
                    return Err(Error::Unavailable {
                        what: format!(
                            "colour {} {} at {} on emulated camera {} ({e:?})",
                            mode.format, mode.resolution, mode.fps, self.serial
                        ),
                    })
                }
            }
        }
        let id = self.register(Endpoint::ColourVideo, capacity, 1);
        Ok(Box::new(self.handle(Endpoint::ColourVideo, id)))
    }

    fn host_now_ns(&self) -> u64 {
        self.shared.lock().now_for_pacing()
    }

    fn sleeper(&self) -> Box<dyn FnMut(Duration) + Send> {
        let shared = Arc::clone(&self.shared);
        Box::new(move |pause| {
            let mut st = shared.lock();
            if st.pacing == Pacing::RealTime {
                drop(st);
                std::thread::sleep(pause);
                return;
            }
            let target = st
                .now_ns
                .saturating_add(u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX));
            st.advance_to(target, false);
            drop(st);
            shared.wake.notify_all();
        })
    }

    fn clock(&self) -> Box<dyn Fn() -> u64 + Send> {
        let shared = Arc::clone(&self.shared);
        Box::new(move || shared.lock().now_for_pacing())
    }

    fn virtual_time(&self) -> bool {
        self.shared.lock().pacing == Pacing::Virtual
    }

    fn buffers(&self) -> Arc<BufferPool> {
        self.shared.lock().camera(self.camera).buffers.clone()
    }
}

/// A stream of an emulated camera: depth, IMU or colour.
struct EmulatedStream {
    shared: Arc<Shared>,
    camera: usize,
    id: u64,
    endpoint: Endpoint,
}

impl EmulatedStream {
    fn clear(&mut self) -> Result<(), TransferError> {
        let mut st = self.shared.lock();
        if st
            .cameras
            .get(self.camera)
            .is_some_and(|c| c.device.is_gone())
        {
            return Err(TransferError::Disconnected {
                endpoint: self.endpoint,
            });
        }
        let Some(slot) = st.slot(self.camera, self.id) else {
            return Err(TransferError::Io {
                endpoint: self.endpoint,
                message: "stream stopped".into(),
            });
        };
        slot.clear_halt();
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
    }

    fn next_item(&self, timeout: Duration) -> Result<Item, TransferError> {
        let wait_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let mut st = self.shared.lock();
        st.catch_up();
        let deadline = st.now_for_pacing().saturating_add(wait_ns);
        loop {
            let now = st.now_for_pacing();
            let Some(slot) = st.slot(self.camera, self.id) else {
                return Err(TransferError::Io {
                    endpoint: self.endpoint,
                    message: "stream stopped".into(),
                });
            };
            if let Some(item) = slot.pop() {
                slot.waiting_until = None;
                drop(st);
                self.shared.wake.notify_all();
                return Ok(item);
            }
            if slot.in_flight == 0 {
                slot.waiting_until = None;
                return Err(slot.last_error.clone().unwrap_or(TransferError::Io {
                    endpoint: self.endpoint,
                    message: "no transfer left in flight".into(),
                }));
            }
            if now >= deadline {
                slot.waiting_until = None;
                return Err(TransferError::Timeout {
                    endpoint: self.endpoint,
                    timeout,
                });
            }
            slot.waiting_until = Some(deadline);
            match st.pacing {
                Pacing::RealTime => {
                    drop(st);
                    std::thread::sleep(Duration::from_millis(1));
                    st = self.shared.lock();
                    st.catch_up();
                }
                Pacing::Virtual => {
                    let target = st.earliest_deadline().unwrap_or(deadline);
                    let due = target <= st.now_ns;
                    if !due && !st.waiter_has_data() && st.clock_may_move() {
                        st.advance_to(target, true);
                        self.shared.wake.notify_all();
                    } else {
                        if due {
                            self.shared.wake.notify_all();
                        }
                        st = self
                            .shared
                            .wake
                            .wait_timeout(st, WAIT_SLICE)
                            .map(|(guard, _)| guard)
                            .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                    }
                }
            }
        }
    }
}

impl StreamIn for EmulatedStream {
    fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    fn next_chunk(&mut self, timeout: Duration) -> Result<Chunk, TransferError> {
        match self.next_item(timeout)? {
            Item::Chunk(chunk) => Ok(chunk),
            Item::Failed(e) => Err(e),
            Item::Frame(_) => Err(TransferError::Io {
                endpoint: self.endpoint,
                message: "a colour frame on a bulk stream".into(),
            }),
        }
    }

    fn in_flight(&self) -> usize {
        let mut st = self.shared.lock();
        st.slot(self.camera, self.id).map_or(0, |s| s.in_flight)
    }

    fn clear_halt(&mut self) -> Result<(), TransferError> {
        self.clear()
    }
}

impl ColourStream for EmulatedStream {
    fn next_frame(&mut self, timeout: Duration) -> Result<ColourFrame, TransferError> {
        match self.next_item(timeout)? {
            Item::Frame(frame) => Ok(frame),
            Item::Failed(e) => Err(e),
            Item::Chunk(_) => Err(TransferError::Io {
                endpoint: self.endpoint,
                message: "a bulk chunk on the colour stream".into(),
            }),
        }
    }

    fn clear_halt(&mut self) -> Result<(), TransferError> {
        self.clear()
    }
}

impl Drop for EmulatedStream {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if let Some(camera) = st.cameras.get_mut(self.camera) {
            camera.streams.retain(|s| s.id != self.id);
            if self.endpoint == Endpoint::ColourVideo {
                camera.device.stop_colour();
            }
        }
        drop(st);
        self.shared.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandChannel;
    use k4sync_core::types::WiredSyncMode;

    #[test]
    fn emu_cameras_have_distinct_deterministic_serials() {
        let a = EmulatedTransport::new(0);
        let b = EmulatedTransport::new(1);
        assert_ne!(a.usb_serial(), b.usb_serial());
        assert_eq!(a.usb_serial(), EmulatedTransport::new(0).usb_serial());
        assert_eq!(a.usb_serial().len(), 12);
    }

    #[test]
    fn every_emulator_failure_maps_to_its_host_twin() {
        let t = Duration::from_millis(5);
        let ep = emu::Endpoint::DepthStreamIn;
        assert_eq!(
            map_emu_error(emu::TransferError::Timeout { endpoint: ep }, t),
            TransferError::Timeout {
                endpoint: Endpoint::DepthStreamIn,
                timeout: t
            }
        );
        assert_eq!(
            map_emu_error(emu::TransferError::Stall { endpoint: ep }, t),
            TransferError::Stall {
                endpoint: Endpoint::DepthStreamIn
            }
        );
        assert_eq!(
            map_emu_error(
                emu::TransferError::Gone {
                    endpoint: emu::Endpoint::ColourVideo
                },
                t
            ),
            TransferError::Disconnected {
                endpoint: Endpoint::ColourVideo
            }
        );
        assert_eq!(
            map_emu_error(
                emu::TransferError::Overflow {
                    endpoint: ep,
                    capacity: 1,
                    got: 2
                },
                t
            ),
            TransferError::Overflow {
                endpoint: Endpoint::DepthStreamIn,
                capacity: 1,
                got: 2
            }
        );
    }

    #[test]
    fn command_channel_reads_serial_and_jack_through_the_emulator() {
        let rig = EmulatedRig::daisy_chain(2, Pacing::Virtual);
        let mut master = CommandChannel::new(rig.transport(0));
        let mut sub = CommandChannel::new(rig.transport(1));
        assert_eq!(master.read_serial().ok(), Some(rig.camera(0).serial()));
        assert_eq!(master.read_jack_state().ok(), Some(JackState::OUT_ONLY));
        assert_eq!(sub.read_jack_state().ok(), Some(JackState::IN_ONLY));
    }

    #[test]
    fn in_transfers_that_are_not_whole_packets_are_refused() {
        let mut t = EmulatedTransport::new(0);
        let mut buf = [0u8; 16];
        assert!(matches!(
            t.bulk_in(Endpoint::DepthResponseIn, &mut buf, Duration::ZERO),
            Err(TransferError::Io { .. })
        ));
    }

    const NV12_720P_30: ColourMode = ColourMode {
        format: k4sync_core::types::ColorFormat::Nv12,
        resolution: k4sync_core::types::ColorResolution::R720p,
        fps: k4sync_core::types::Fps::Fps30,
    };
    const PERIOD_TICKS: u64 = 3_000;

    #[test]
    fn each_camera_copies_its_frames_into_its_own_pool() {
        let rig = EmulatedRig::standalone(2, Pacing::Virtual);
        let (mut first, second) = (rig.transport(0), rig.transport(1));
        let pool = first.buffers();
        assert!(Arc::ptr_eq(&pool, &first.buffers()), "one pool per camera");
        assert!(!Arc::ptr_eq(&pool, &second.buffers()));
        let mut stream = first.start_colour(NV12_720P_30).unwrap();
        let wait = Duration::from_secs(5);
        let frame = stream.next_frame(wait).unwrap();
        let reused = frame.data.as_ptr();
        pool.recycle(frame.data);
        assert_eq!(second.buffers().idle_bytes(), 0, "the other camera's pool");
        let next = stream.next_frame(wait).unwrap();
        assert_eq!(
            next.data.as_ptr(),
            reused,
            "the next frame took the buffer back"
        );
        assert_eq!(pool.idle_bytes(), 0);
    }

    /// The wall clock of a real-time rig moves `by` at once: the host was away that long.
    fn host_away(rig: &EmulatedRig, by: Duration) {
        let mut st = rig.shared.lock();
        match st.started.checked_sub(by) {
            Some(earlier) => st.started = earlier,
            None => panic!("the monotonic clock is younger than {by:?}"),
        }
    }

    /// The next frame's device ticks and the index the emulator stamps into NV12 frames,
    /// waiting up to `timeout`; `None` on a timeout.
    fn next_reading(stream: &mut Box<dyn ColourStream>, timeout: Duration) -> Option<(u64, u64)> {
        match stream.next_frame(timeout) {
            Ok(frame) => {
                let mut index = [0u8; 8];
                index.copy_from_slice(frame.data.get(..8).unwrap_or(&[0; 8]));
                Some((
                    frame.device_ticks.map_or(0, |t| t.0),
                    u64::from_le_bytes(index),
                ))
            }
            Err(e) if e.is_timeout() => None,
            Err(e) => panic!("colour stream failed: {e}"),
        }
    }

    /// Frames between consecutive readings that never arrived, by their timestamps.
    fn missing_by_timestamp(readings: &[(u64, u64)]) -> u64 {
        readings
            .windows(2)
            .map(|p| (p[1].0 - p[0].0 + PERIOD_TICKS / 2) / PERIOD_TICKS - 1)
            .sum()
    }

    /// Reads a frame, lets the host be away `away`, then reads all there is at once; checks
    /// that the emulator rendered only what the host took (at most `rendered_max` frames,
    /// none thrown away on the host side) and that the camera counts every frame missing by
    /// timestamp as lost at the device, nearly all of the absence. Returns the readings
    /// (ticks, index).
    fn read_across_an_absence(
        camera: &EmulatedCamera,
        stream: &mut Box<dyn ColourStream>,
        away: Duration,
        rendered_max: u64,
    ) -> Vec<(u64, u64)> {
        let mut readings: Vec<(u64, u64)> = next_reading(stream, Duration::from_secs(10))
            .into_iter()
            .collect();
        assert_eq!(readings.len(), 1, "a first frame within 10 s");
        let rig = EmulatedRig {
            shared: Arc::clone(&camera.shared),
        };
        host_away(&rig, away);
        while let Some(reading) = next_reading(stream, Duration::ZERO) {
            readings.push(reading);
        }
        let (first, last) = (readings[0].1, readings[readings.len() - 1].1);
        assert_eq!(
            last - first + 1,
            readings.len() as u64,
            "every rendered frame read: {readings:?}"
        );
        assert!(
            last - first <= rendered_max,
            "{} frames rendered",
            last - first
        );
        assert!(
            readings.len() >= 2,
            "frames resume after the absence: {readings:?}"
        );
        let lost = camera.lost_at_device(Endpoint::ColourVideo);
        assert_eq!(
            lost,
            missing_by_timestamp(&readings),
            "every missing frame counted: {readings:?}"
        );
        // 30 fps: all but the few frames the host could hold were lost.
        let lost_min = away.as_secs() * 30 - 20;
        assert!(
            lost >= lost_min,
            "{lost} frames lost at the device in {away:?}"
        );
        readings
    }

    #[test]
    fn a_real_time_host_away_for_seconds_costs_bounded_work_and_reads_drops_not_shifted_time() {
        let rig = EmulatedRig::standalone(1, Pacing::RealTime);
        let mut stream = match rig.transport(0).start_colour(NV12_720P_30) {
            Ok(stream) => stream,
            Err(e) => panic!("colour start: {e}"),
        };
        let camera = rig.camera(0);
        let readings = read_across_an_absence(&camera, &mut stream, Duration::from_secs(10), 12);
        assert!(
            readings
                .windows(2)
                .all(|p| (p[1].0 - p[0].0) % PERIOD_TICKS == 0),
            "every frame on the device's grid: {readings:?}"
        );
    }

    #[test]
    fn a_subordinate_keeps_its_pulses_across_a_real_time_absence() {
        let rig = EmulatedRig::daisy_chain(3, Pacing::RealTime);
        for (camera, mode) in [
            (2, WiredSyncMode::Subordinate),
            (1, WiredSyncMode::Subordinate),
            (0, WiredSyncMode::Master),
        ] {
            let config = SysConfig::from_usec(mode, 0, 0, true);
            if let Err(e) = CommandChannel::new(rig.transport(camera)).set_sys_config(config) {
                panic!("SET_SYS_CFG on camera {camera}: {e}");
            }
        }
        let mut streams = Vec::new();
        for camera in [2, 1, 0] {
            match rig.transport(camera).start_colour(NV12_720P_30) {
                Ok(stream) => streams.push(stream),
                Err(e) => panic!("colour start on camera {camera}: {e}"),
            }
        }
        let last = rig.camera(2);
        read_across_an_absence(&last, &mut streams[0], Duration::from_secs(5), 16);
    }

    #[test]
    fn a_virtual_clock_waits_for_a_reader_until_it_has_been_away_for_the_grace() {
        let t = EmulatedTransport::new(0);
        let id = t.register(Endpoint::ImuStreamIn, MAX_PACKET_SIZE, 2);
        let mut st = t.shared.lock();
        assert!(!st.clock_may_move(), "a reader that just opened its stream");
        let Some(slot) = st.slot(0, id) else {
            panic!("the stream is registered");
        };
        slot.waiting_until = Some(0);
        assert!(st.clock_may_move(), "a waiting reader");
        let Some(slot) = st.slot(0, id) else {
            panic!("the stream is registered");
        };
        slot.waiting_until = None;
        match Instant::now().checked_sub(AWAY_GRACE) {
            Some(long_ago) => slot.last_taken = long_ago,
            None => panic!("the monotonic clock is younger than the grace"),
        }
        assert!(st.clock_may_move(), "a reader away longer than the grace");
    }

    #[test]
    fn the_virtual_sleeper_moves_host_time_without_sleeping() {
        let t = EmulatedTransport::new(0);
        let before = t.host_now_ns();
        let wall = Instant::now();
        (t.sleeper())(Duration::from_secs(10));
        assert_eq!(t.host_now_ns() - before, 10_000_000_000);
        assert!(wall.elapsed() < Duration::from_secs(5));
    }
}
