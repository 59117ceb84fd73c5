//! Faults a scenario can script at a simulated instant (reference §10.1, §10.4, §11 item 7).
//!
//! Faults that move or remove frames act on the simulated timeline; the USB-level ones (stall,
//! command timeout, short or oversized transfer, unplug) are surfaced as [`super::SimEvent::Fault`]
//! events (and, for short/oversized, as a [`FrameDefect`] on the next frame) for a device model to
//! turn into bytes.

use crate::sync::align::FrameKind;

/// Something going wrong in a rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// The cable into `device`'s Sync In is pulled: no pulses reach it (nor, in a daisy chain,
    /// anything downstream). Its clock keeps counting.
    CablePulled { device: usize },
    /// The cable into `device`'s Sync In is plugged back.
    CableReplugged { device: usize },
    /// The subordinate is stopped and started again: its clock is re-zeroed by the next pulse it
    /// receives and it swallows [`RESTART_SWALLOWED_PULSES`] pulses first (reference §10.4:
    /// restarting a subordinate loses synchronisation).
    SubordinateRestart { device: usize },
    /// The device leaves the bus and produces nothing more.
    DeviceUnplug { device: usize },
    /// The next frame of `stream` from `device` is lost.
    DropFrame { device: usize, stream: FrameKind },
    /// From now on every frame is lost with this probability (parts per million; 0 stops it).
    RandomDrops { probability_ppm: u32 },
    /// The master emits one VSYNC pulse off its grid, at the fault's instant: every device that
    /// receives it produces a frame for it (§10.1: pulses without recorded frames; a spurious edge).
    ExtraPulse,
    /// `device` produces nothing for its next `pulses` pulses although its clock is zeroed as
    /// usual (first frames swallowed, §10.4 #1094/#1240/#1271).
    LateStart { device: usize, pulses: u32 },
    /// An IN endpoint of `device` carrying `stream` stalls (USB level; event only).
    EndpointStall { device: usize, stream: FrameKind },
    /// `device` stops answering commands (USB level; event only).
    CommandTimeout { device: usize },
    /// The next `stream` frame of `device` arrives shorter than its mode's size.
    ShortFrame { device: usize, stream: FrameKind },
    /// The next `stream` frame of `device` arrives longer than its mode's size.
    OversizedFrame { device: usize, stream: FrameKind },
    /// `device`'s frames reach the host `delay_nsec` late (0 ends it); a frame delayed by more
    /// than [`STARVED_FRAMES_BUFFERED`] periods is lost instead.
    BandwidthStarvation { device: usize, delay_nsec: u64 },
}

/// Pulses a restarted subordinate swallows before its first frame (#1094 saw 1–2 on FW 1.6.10x).
pub const RESTART_SWALLOWED_PULSES: u32 = 2;

/// Frame periods of delivery delay a starved device buffers before it loses frames.
pub const STARVED_FRAMES_BUFFERED: u64 = 2;

/// A fault and the true time (ns) it happens at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScheduledFault {
    pub at_nsec: i64,
    pub fault: Fault,
}

/// A transfer-level defect carried by a frame, for a device model to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameDefect {
    Short,
    Oversized,
}

impl Fault {
    /// The device the fault concerns, if it concerns one.
    pub const fn device(&self) -> Option<usize> {
        match *self {
            Fault::CablePulled { device }
            | Fault::CableReplugged { device }
            | Fault::SubordinateRestart { device }
            | Fault::DeviceUnplug { device }
            | Fault::DropFrame { device, .. }
            | Fault::LateStart { device, .. }
            | Fault::EndpointStall { device, .. }
            | Fault::CommandTimeout { device }
            | Fault::ShortFrame { device, .. }
            | Fault::OversizedFrame { device, .. }
            | Fault::BandwidthStarvation { device, .. } => Some(device),
            Fault::RandomDrops { .. } | Fault::ExtraPulse => None,
        }
    }
}
