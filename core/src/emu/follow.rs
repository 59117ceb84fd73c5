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

use crate::sim::FrameDefect;
use crate::sync::align::FrameKind;

use super::fault::Stream;
use super::streams::FRAME_BACKLOG;

/// Frames in flight per stream (produced, not yet read) a sim-driven device holds; more than
/// the backlog because a starved device's frames are produced long before they are readable.
const IN_FLIGHT: usize = 8;

/// Nanoseconds per 90 kHz tick, as a fraction (10⁹ / 90,000 = 100,000 / 9).
pub(crate) const NSEC_PER_TICK_NUM: u64 = 100_000;
pub(crate) const NSEC_PER_TICK_DEN: u64 = 9;

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

    /// Forgets every frame in flight (the device restarted).
    pub(crate) fn clear(&mut self) {
        self.colour.clear();
        self.depth.clear();
    }

    /// Queues a produced frame of `stream`, losing the oldest when full.
    pub(crate) fn push(&mut self, stream: Stream, frame: InFlight) {
        let queue = self.queue(stream);
        if queue.is_full() {
            queue.pop_front();
        }
        let _ = queue.push_back(frame);
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

pub(crate) const fn stream_of(kind: FrameKind) -> Stream {
    match kind {
        FrameKind::Colour => Stream::Colour,
        FrameKind::Depth => Stream::Depth,
    }
}
