//! Sim-driven timing: an emulated device that takes its frame timeline and its scripted faults
//! from the rig simulator's [`SimEvent`]s instead of its own frame grid (reference §6, §10.1,
//! §10.4).
//!
//! The simulator stays the one source of truth for timing: which pulse reached the device,
//! when its clock was zeroed, the tick each frame was stamped with (drift, offset, jitter,
//! quantisation), when it reaches the host and which frames are lost. The device only turns
//! those facts into bytes and transfer failures. Once a device has seen its first event it
//! stops running its own grid and its pollers serve the frames it was given, each readable
//! `readout_latency_ticks` after the simulator's delivery time, in the order produced.

use heapless::Deque;

use crate::sim::{Fault as SimFault, FrameDefect, SimEvent, SimFrame};
use crate::sync::align::FrameKind;
use crate::wire::command::Mcu;

use super::device::Device;
use super::fault::{Endpoint, Fault, Stream};
use super::streams::FRAME_BACKLOG;

/// Frames in flight per stream (produced, not yet read) a sim-driven device holds; more than
/// the backlog because a starved device's frames are produced long before they are readable.
const IN_FLIGHT: usize = 8;

/// Nanoseconds per 90 kHz tick, as a fraction (10⁹ / 90,000 = 100,000 / 9).
const NSEC_PER_TICK_NUM: u64 = 100_000;
const NSEC_PER_TICK_DEN: u64 = 9;

/// The host instant of a simulator instant: the simulator's true time 0 (the master's colour
/// start) is host time 0, and earlier instants are clamped to it.
pub const fn host_ns(true_nsec: i64) -> u64 {
    if true_nsec < 0 {
        0
    } else {
        true_nsec as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) index: u64,
    pub(crate) ticks: u64,
    pub(crate) ready_ns: u64,
    pub(crate) defect: Option<FrameDefect>,
}

/// Frames a sim-driven device has produced and not yet delivered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    colour: Deque<InFlight, IN_FLIGHT>,
    depth: Deque<InFlight, IN_FLIGHT>,
}

impl Timeline {
    fn queue(&mut self, stream: Stream) -> &mut Deque<InFlight, IN_FLIGHT> {
        match stream {
            Stream::Depth => &mut self.depth,
            _ => &mut self.colour,
        }
    }

    fn clear(&mut self) {
        self.colour.clear();
        self.depth.clear();
    }

    /// Forgets `stream`'s frames in flight (the host stopped it).
    pub(crate) fn clear_stream(&mut self, stream: Stream) {
        self.queue(stream).clear();
    }

    /// The oldest frame of `stream` readable at `now_ns`, after losing readable frames beyond
    /// the device's backlog.
    pub(crate) fn take_ready(&mut self, stream: Stream, now_ns: u64) -> Option<InFlight> {
        let queue = self.queue(stream);
        let ready = queue.iter().take_while(|f| f.ready_ns <= now_ns).count() as u64;
        for _ in FRAME_BACKLOG..ready {
            queue.pop_front();
        }
        match queue.front() {
            Some(frame) if frame.ready_ns <= now_ns => queue.pop_front(),
            _ => None,
        }
    }
}

const fn stream_of(kind: FrameKind) -> Stream {
    match kind {
        FrameKind::Colour => Stream::Colour,
        FrameKind::Depth => Stream::Depth,
    }
}

impl Device {
    /// Whether the device takes its timing from the simulator ([`on_sim_event`](Self::on_sim_event)).
    pub fn follows_sim(&self) -> bool {
        self.timeline.is_some()
    }

    /// One simulator event concerning this device ([`SimEvent::concerns`]), handed over when
    /// it is produced (frames: at their pulse, before they are readable). The first call
    /// switches the device to sim-driven timing.
    ///
    /// * `Frame` — queued for its stream if that stream runs, readable at its delivery time
    ///   plus the readout latency; a frame's defect makes it short or oversized when read.
    /// * `FrameLost` — the stream's frame index advances, nothing is delivered.
    /// * `ClockZeroed` — the device clock reads 0 at that instant (IMU samples restart there).
    /// * `Fault` — cable faults change the jack bits GET_JACK_STATE reports; an unplug makes
    ///   every later call `Gone`; an endpoint stall and a command timeout arm the one-shot
    ///   [`Fault::Stall`] / [`Fault::CommandTimeout`] (both MCUs); a restart loses the frames in
    ///   flight. Faults that only move or remove frames are already in the frame events.
    pub fn on_sim_event(&mut self, event: &SimEvent) {
        self.timeline.get_or_insert_with(Timeline::default);
        match *event {
            SimEvent::Frame(frame) => self.on_sim_frame(&frame),
            SimEvent::FrameLost { stream, .. } => {
                let stream = stream_of(stream);
                if self.stream_runs(stream) {
                    self.next_index(stream);
                }
            }
            SimEvent::ClockZeroed { at_nsec, .. } => {
                self.clock.zero_at(host_ns(at_nsec));
                self.sched.imu_next_tick = 0;
            }
            SimEvent::Fault(scheduled) => self.on_sim_fault(scheduled.fault),
            SimEvent::Pulse { .. } => {}
        }
    }

    fn stream_runs(&self, stream: Stream) -> bool {
        match stream {
            Stream::Depth => self.depth.streaming,
            Stream::Colour => self.colour.is_some(),
            Stream::Imu => self.sched.imu_running,
        }
    }

    fn next_index(&mut self, stream: Stream) -> u64 {
        let counter = match stream {
            Stream::Depth => &mut self.sched.depth_index,
            _ => &mut self.sched.colour_index,
        };
        let index = *counter;
        *counter += 1;
        index
    }

    fn on_sim_frame(&mut self, frame: &SimFrame) {
        let stream = stream_of(frame.stream);
        if self.faults.gone || !self.stream_runs(stream) {
            return;
        }
        let index = self.next_index(stream);
        let latency_ns =
            u64::from(self.params.readout_latency_ticks) * NSEC_PER_TICK_NUM / NSEC_PER_TICK_DEN;
        let in_flight = InFlight {
            index,
            ticks: frame.ticks.0,
            ready_ns: host_ns(frame.delivered_at_nsec).saturating_add(latency_ns),
            defect: frame.defect,
        };
        if let Some(timeline) = self.timeline.as_mut() {
            let queue = timeline.queue(stream);
            if queue.is_full() {
                queue.pop_front();
            }
            let _ = queue.push_back(in_flight);
        }
    }

    fn on_sim_fault(&mut self, fault: SimFault) {
        match fault {
            SimFault::CablePulled { .. } => self.jack.sync_in = false,
            SimFault::CableReplugged { .. } => self.jack.sync_in = true,
            SimFault::SubordinateRestart { .. } => {
                if let Some(timeline) = self.timeline.as_mut() {
                    timeline.clear();
                }
            }
            SimFault::DeviceUnplug { .. } => self.faults.arm(Fault::Unplug),
            SimFault::EndpointStall { stream, .. } => {
                let endpoint: Endpoint = stream_of(stream).endpoint();
                self.faults.arm(Fault::Stall(endpoint));
            }
            SimFault::CommandTimeout { .. } => {
                self.faults.arm(Fault::CommandTimeout(Mcu::Depth));
                self.faults.arm(Fault::CommandTimeout(Mcu::Colour));
            }
            SimFault::DropFrame { .. }
            | SimFault::RandomDrops { .. }
            | SimFault::ExtraPulse
            | SimFault::LateStart { .. }
            | SimFault::ShortFrame { .. }
            | SimFault::OversizedFrame { .. }
            | SimFault::BandwidthStarvation { .. } => {}
        }
    }

    /// The next sim-driven frame of `stream` readable now, with its defect armed.
    pub(crate) fn next_followed(&mut self, stream: Stream) -> Option<(u64, u64)> {
        let now = self.clock.host_now_ns();
        loop {
            let frame = self.timeline.as_mut()?.take_ready(stream, now)?;
            if self.faults.take_drop(stream) {
                continue;
            }
            match frame.defect {
                Some(FrameDefect::Short) => self.faults.arm(Fault::ShortFrame(stream)),
                Some(FrameDefect::Oversized) => self.faults.arm(Fault::OversizedFrame(stream)),
                None => {}
            }
            return Some((frame.index, frame.ticks));
        }
    }
}
