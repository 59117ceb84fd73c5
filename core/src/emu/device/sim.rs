//! The emulated device following the rig simulator (see [`follow`](super::super::follow)):
//! simulator events become frames in flight on its [`Timeline`], clock zeroing and armed
//! faults.
//!
//! [`Timeline`]: super::super::follow::Timeline

use crate::sim::{Fault as SimFault, FrameDefect, SimEvent, SimFrame};
use crate::wire::command::Mcu;

use super::super::fault::{Endpoint, Fault, Stream};
use super::super::follow::{
    host_ns, stream_of, InFlight, Timeline, NSEC_PER_TICK_DEN, NSEC_PER_TICK_NUM,
};
use super::super::streams::offset_tick;
use super::Device;

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
                    self.sched.next_index(stream);
                }
            }
            SimEvent::ClockZeroed { at_nsec, .. } => self.zero_clock(host_ns(at_nsec)),
            SimEvent::Fault(scheduled) => self.on_sim_fault(scheduled.fault),
            SimEvent::Pulse { .. } => {}
        }
    }

    fn stream_runs(&self, stream: Stream) -> bool {
        match stream {
            Stream::Depth => self.depth.streaming,
            Stream::Colour => self.colour.is_some(),
            Stream::Imu => self.sched.imu_running(),
        }
    }

    fn on_sim_frame(&mut self, frame: &SimFrame) {
        let stream = stream_of(frame.stream);
        if self.faults.is_gone() || !self.stream_runs(stream) {
            return;
        }
        let index = self.sched.next_index(stream);
        let latency_ns =
            u64::from(self.params.readout_latency_ticks) * NSEC_PER_TICK_NUM / NSEC_PER_TICK_DEN;
        let in_flight = InFlight {
            index,
            ticks: offset_tick(frame.ticks.0, self.exposure_shift()),
            ready_ns: host_ns(frame.delivered_at_nsec).saturating_add(latency_ns),
            defect: frame.defect,
        };
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.push(stream, in_flight);
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
    pub(super) fn next_followed(&mut self, stream: Stream) -> Option<(u64, u64)> {
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
