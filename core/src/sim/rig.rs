//! The simulated rig: a master whose colour VSYNC drives the sync cable, subordinates that
//! zero their clocks on the first pulse they receive, and the frames every device stamps for
//! every pulse, with their ground truth (reference §6.1, §6.4, §10.1, §10.4).
//!
//! Time model, per pulse `k`:
//!
//! * the master's clock is zeroed when its colour camera starts (true time 0) and its VSYNC
//!   fires at master time `k × period`, so true time `T_k` follows from the master's drift;
//! * the pulse reaches device `d` at `A_k = T_k + hops(d) × hop_delay`;
//! * a subordinate's clock is zeroed at the first `A_k` it receives, then either free-runs on its
//!   own oscillator or is set to `(k − k₀) × period` at each pulse ([`ClockMode`]);
//! * colour is exposed at the pulse plus the subordinate delay, depth at colour plus the depth
//!   delay (both tick-exact effective delays, measured by the device's own clock), and each
//!   timestamp gets the device's offset and jitter, is quantised to 90 kHz ticks and converted
//!   to µs as the device reports it.
//!
//! Events come out batch by batch (a fault, or one pulse with every frame it causes), which is
//! nearly but not strictly true-time order: a consumer that needs arrival order sorts frames by
//! [`SimFrame::delivered_at_nsec`]. The iterator is a pure function of the configuration, the
//! fault script and the seed, so a device model can replay it to answer "what does device `d`
//! produce in `[t0, t1)`" ([`Rig::device_events`]).

use core::fmt;

use heapless::{Deque, Vec};

use super::cable::{Cable, MASTER};
use super::clock::{device_nsec_to_ticks, pulse_device_nsec, ClockMode, Oscillator};
use super::fault::{
    Fault, FrameDefect, ScheduledFault, RESTART_SWALLOWED_PULSES, STARVED_FRAMES_BUFFERED,
};
use super::rng::SplitMix64;
use crate::sync::align::{FrameKind, PerStream};
use crate::time::{effective_delay_nsec, Ticks90k, Usec};
use crate::types::Fps;

/// Largest rig the simulator models: one master and eight subordinates in a daisy chain (§10.2).
pub const MAX_DEVICES: usize = 9;

/// A fault, a pulse, and per device two frames and a clock zeroing, with room to spare.
const BATCH_CAPACITY: usize = 2 * (2 + 3 * MAX_DEVICES);

/// One simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceSim {
    pub oscillator: Oscillator,
    pub colour_on: bool,
    pub depth_on: bool,
    /// SET_SYS_CFG subordinate delay in ticks (ignored for the master).
    pub subordinate_delay_ticks: u32,
    /// SET_SYS_CFG depth delay off colour in ticks.
    pub depth_delay_ticks: i32,
}

impl Default for DeviceSim {
    fn default() -> Self {
        Self {
            oscillator: Oscillator::IDEAL,
            colour_on: true,
            depth_on: true,
            subordinate_delay_ticks: 0,
            depth_delay_ticks: 0,
        }
    }
}

impl DeviceSim {
    /// The effective subordinate delay in ns (what the tick count really produces).
    pub const fn subordinate_delay_nsec(&self) -> i64 {
        effective_delay_nsec(self.subordinate_delay_ticks as i32)
    }

    /// The effective depth delay off colour in ns.
    pub const fn depth_delay_nsec(&self) -> i64 {
        effective_delay_nsec(self.depth_delay_ticks)
    }
}

/// A rig scenario. Device 0 is the master; the rest are subordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RigConfig<const N: usize> {
    pub seed: u64,
    pub fps: Fps,
    pub cable: Cable,
    pub clock_mode: ClockMode,
    /// Regular master pulses to simulate.
    pub pulses: u32,
    pub devices: [DeviceSim; N],
}

/// Ground truth of which master pulse a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pulse {
    /// The `k`-th VSYNC of the master's colour stream.
    Regular(u32),
    /// The `n`-th pulse injected by [`Fault::ExtraPulse`], off the master's grid.
    Extra(u32),
}

/// A frame as a device would report it, with its ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SimFrame {
    pub device: usize,
    pub stream: FrameKind,
    pub ticks: Ticks90k,
    pub device_ts_usec: Usec,
    /// True time of the centre of exposure.
    pub exposure_true_nsec: i64,
    /// True time the frame reaches the host (later under bandwidth starvation).
    pub delivered_at_nsec: i64,
    pub pulse: Pulse,
    pub defect: Option<FrameDefect>,
}

/// Why a frame that was exposed never reached the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LossCause {
    /// [`Fault::DropFrame`] or [`Fault::RandomDrops`].
    Dropped,
    /// [`Fault::BandwidthStarvation`] beyond what the device buffers.
    Starved,
}

/// Everything the simulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SimEvent {
    /// The master's VSYNC (or an injected pulse) at true time `at_nsec`.
    Pulse { at_nsec: i64, pulse: Pulse },
    /// A frame that reaches the host.
    Frame(SimFrame),
    /// A frame that was exposed for `pulse` but lost on the way.
    FrameLost {
        device: usize,
        stream: FrameKind,
        pulse: Pulse,
        at_nsec: i64,
        cause: LossCause,
    },
    /// A scripted fault taking effect.
    Fault(ScheduledFault),
    /// `device`'s clock reads zero at true time `at_nsec`: the master's colour start (pulse 0),
    /// a subordinate's first pulse after its start or restart. A device model zeroes its own
    /// clock here so that everything it stamps besides frames (IMU samples) shares the
    /// frames' time base.
    ClockZeroed { device: usize, at_nsec: i64 },
}

impl SimEvent {
    /// True time the event happens (a frame's centre of exposure).
    pub const fn at_nsec(&self) -> i64 {
        match self {
            SimEvent::Pulse { at_nsec, .. }
            | SimEvent::FrameLost { at_nsec, .. }
            | SimEvent::ClockZeroed { at_nsec, .. } => *at_nsec,
            SimEvent::Frame(frame) => frame.exposure_true_nsec,
            SimEvent::Fault(scheduled) => scheduled.at_nsec,
        }
    }

    /// Whether the event concerns `device` (pulses and rig-wide faults concern every device).
    pub const fn concerns(&self, device: usize) -> bool {
        match self {
            SimEvent::Pulse { .. } => true,
            SimEvent::Frame(frame) => frame.device == device,
            SimEvent::FrameLost { device: d, .. } | SimEvent::ClockZeroed { device: d, .. } => {
                *d == device
            }
            SimEvent::Fault(scheduled) => match scheduled.fault.device() {
                Some(d) => d == device,
                None => true,
            },
        }
    }
}

/// A rig that cannot be simulated as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SimError {
    /// A rig needs at least its master.
    NoDevices,
    /// More devices than one master and eight subordinates.
    TooManyDevices { devices: usize, max: usize },
    /// The fault script is full.
    TooManyFaults { capacity: usize },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NoDevices => write!(f, "a simulated rig needs at least a master device"),
            SimError::TooManyDevices { devices, max } => write!(
                f,
                "a simulated rig holds at most {max} devices (1 master + 8 subordinates), got {devices}"
            ),
            SimError::TooManyFaults { capacity } => {
                write!(f, "the fault script holds at most {capacity} faults")
            }
        }
    }
}

/// A scenario: configuration plus a fault script of at most `F` faults.
#[derive(Debug, Clone)]
pub struct Rig<const N: usize, const F: usize> {
    config: RigConfig<N>,
    faults: Vec<ScheduledFault, F>,
}

impl<const N: usize, const F: usize> Rig<N, F> {
    pub fn new(config: RigConfig<N>) -> Result<Self, SimError> {
        if N == 0 {
            return Err(SimError::NoDevices);
        }
        if N > MAX_DEVICES {
            return Err(SimError::TooManyDevices {
                devices: N,
                max: MAX_DEVICES,
            });
        }
        Ok(Self {
            config,
            faults: Vec::new(),
        })
    }

    pub const fn config(&self) -> &RigConfig<N> {
        &self.config
    }

    /// Scripts `fault` at true time `at_nsec`; faults at the same instant apply in script order.
    pub fn schedule(&mut self, at_nsec: i64, fault: Fault) -> Result<(), SimError> {
        let position = self
            .faults
            .iter()
            .position(|scheduled| scheduled.at_nsec > at_nsec)
            .unwrap_or(self.faults.len());
        self.faults
            .insert(position, ScheduledFault { at_nsec, fault })
            .map_err(|_| SimError::TooManyFaults { capacity: F })
    }

    /// True time of the master's `pulse`-th regular VSYNC.
    pub fn pulse_true_nsec(&self, pulse: u32) -> i64 {
        self.master()
            .oscillator
            .true_elapsed_nsec(pulse_device_nsec(self.config.fps, u64::from(pulse)))
    }

    /// Every event of the scenario, batch by batch.
    pub fn events(&self) -> Events<'_, N, F> {
        Events {
            rig: self,
            rng: SplitMix64::new(self.config.seed),
            next_fault: 0,
            next_pulse: 0,
            extra_pulses: 0,
            random_drop_ppm: 0,
            batch: Deque::new(),
            devices: [DeviceRun::default(); N],
        }
    }

    /// The events concerning `device` that happen in `[from_nsec, until_nsec)` of true time.
    pub fn device_events(
        &self,
        device: usize,
        from_nsec: i64,
        until_nsec: i64,
    ) -> impl Iterator<Item = SimEvent> + '_ {
        let period = pulse_device_nsec(self.config.fps, 1);
        let horizon = until_nsec.saturating_add(period.saturating_mul(3));
        self.events()
            .take_while(move |event| match event {
                SimEvent::Pulse { at_nsec, .. } => *at_nsec < horizon,
                _ => true,
            })
            .filter(move |event| {
                event.concerns(device) && (from_nsec..until_nsec).contains(&event.at_nsec())
            })
    }

    fn master(&self) -> &DeviceSim {
        &self.config.devices[MASTER]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Anchor {
    true_nsec: i64,
    device_nsec: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct DeviceRun {
    sync_in_unplugged: bool,
    unplugged: bool,
    swallow: u32,
    anchor: Option<Anchor>,
    zero_pulse: u32,
    drop_next: PerStream<bool>,
    defect_next: PerStream<Option<FrameDefect>>,
    starvation_nsec: u64,
}

/// The event stream of a [`Rig`].
#[derive(Debug)]
pub struct Events<'a, const N: usize, const F: usize> {
    rig: &'a Rig<N, F>,
    rng: SplitMix64,
    next_fault: usize,
    next_pulse: u32,
    extra_pulses: u32,
    random_drop_ppm: u32,
    batch: Deque<SimEvent, BATCH_CAPACITY>,
    devices: [DeviceRun; N],
}

impl<const N: usize, const F: usize> Events<'_, N, F> {
    fn emit(&mut self, event: SimEvent) {
        // Capacity covers a fault plus the largest pulse batch of a MAX_DEVICES rig.
        let _ = self.batch.push_back(event);
    }

    fn apply(&mut self, scheduled: ScheduledFault) {
        self.emit(SimEvent::Fault(scheduled));
        let fault = scheduled.fault;
        if let Fault::RandomDrops { probability_ppm } = fault {
            self.random_drop_ppm = probability_ppm;
            return;
        }
        if let Fault::ExtraPulse = fault {
            let pulse = Pulse::Extra(self.extra_pulses);
            self.extra_pulses = self.extra_pulses.saturating_add(1);
            let master = self.rig.master().oscillator;
            self.pulse(
                scheduled.at_nsec,
                master.device_elapsed_nsec(scheduled.at_nsec),
                pulse,
            );
            return;
        }
        let Some(run) = fault.device().and_then(|d| self.devices.get_mut(d)) else {
            return;
        };
        match fault {
            Fault::CablePulled { .. } => run.sync_in_unplugged = true,
            Fault::CableReplugged { .. } => run.sync_in_unplugged = false,
            Fault::SubordinateRestart { device } if device != MASTER => {
                run.anchor = None;
                run.swallow = RESTART_SWALLOWED_PULSES;
                run.drop_next = PerStream::default();
            }
            Fault::DeviceUnplug { .. } => run.unplugged = true,
            Fault::DropFrame { stream, .. } => {
                *run.drop_next.get_mut(stream) = true;
            }
            Fault::LateStart { pulses, .. } => run.swallow = pulses,
            Fault::ShortFrame { stream, .. } | Fault::OversizedFrame { stream, .. } => {
                let defect = if matches!(fault, Fault::ShortFrame { .. }) {
                    FrameDefect::Short
                } else {
                    FrameDefect::Oversized
                };
                *run.defect_next.get_mut(stream) = Some(defect);
            }
            Fault::BandwidthStarvation { delay_nsec, .. } => run.starvation_nsec = delay_nsec,
            _ => {}
        }
    }

    /// One master pulse at true time `true_nsec` (master clock `master_nsec`) and every frame
    /// it causes.
    fn pulse(&mut self, true_nsec: i64, master_nsec: i64, pulse: Pulse) {
        self.emit(SimEvent::Pulse {
            at_nsec: true_nsec,
            pulse,
        });
        let config = self.rig.config;
        let period_nsec = pulse_device_nsec(config.fps, 1);
        let sync_in_unplugged = self.devices.map(|run| run.sync_in_unplugged);
        for (device, sim) in config.devices.iter().enumerate() {
            if !config.cable.receives(device, &sync_in_unplugged) {
                continue;
            }
            let arrival_nsec = true_nsec + config.cable.arrival_delay_nsec(device);
            let Some((device_nsec, zeroed)) =
                self.pulse_device_time(device, arrival_nsec, master_nsec, pulse)
            else {
                continue;
            };
            let Some(run) = self.devices.get_mut(device) else {
                continue;
            };
            let swallowed = matches!(pulse, Pulse::Regular(_)) && run.swallow > 0;
            if swallowed {
                run.swallow -= 1;
            }
            if zeroed {
                self.emit(SimEvent::ClockZeroed {
                    device,
                    at_nsec: arrival_nsec,
                });
            }
            if swallowed {
                continue;
            }
            let colour_delay_nsec = if device == MASTER {
                0
            } else {
                sim.subordinate_delay_nsec()
            };
            let streams = [
                (FrameKind::Colour, sim.colour_on, colour_delay_nsec),
                (
                    FrameKind::Depth,
                    sim.depth_on,
                    colour_delay_nsec + sim.depth_delay_nsec(),
                ),
            ];
            let at = PulseAt {
                pulse,
                arrival_nsec,
                device_nsec,
                period_nsec,
            };
            for (stream, on, delay_nsec) in streams {
                if on {
                    self.expose(device, sim, stream, delay_nsec, &at);
                }
            }
        }
    }

    /// The device time of a pulse reaching `device`, and whether it zeroed the device clock:
    /// the master's own clock, or a subordinate's anchor (set by its first regular pulse,
    /// realigned on every pulse in [`ClockMode::RealignEveryPulse`]). `None` when the device
    /// is unplugged or the pulse is an extra one before the subordinate has an anchor.
    fn pulse_device_time(
        &mut self,
        device: usize,
        arrival_nsec: i64,
        master_nsec: i64,
        pulse: Pulse,
    ) -> Option<(i64, bool)> {
        let config = &self.rig.config;
        let osc = config.devices.get(device)?.oscillator;
        let run = self.devices.get_mut(device)?;
        if run.unplugged {
            return None;
        }
        if device == MASTER {
            return Some((master_nsec, pulse == Pulse::Regular(0)));
        }
        Some(match (run.anchor, pulse) {
            (None, Pulse::Extra(_)) => return None,
            (None, Pulse::Regular(k)) => {
                run.anchor = Some(Anchor {
                    true_nsec: arrival_nsec,
                    device_nsec: 0,
                });
                run.zero_pulse = k;
                (0, true)
            }
            (Some(_), Pulse::Regular(k)) if config.clock_mode == ClockMode::RealignEveryPulse => {
                let realigned =
                    pulse_device_nsec(config.fps, u64::from(k.saturating_sub(run.zero_pulse)));
                run.anchor = Some(Anchor {
                    true_nsec: arrival_nsec,
                    device_nsec: realigned,
                });
                (realigned, false)
            }
            (Some(anchor), _) => (
                anchor.device_nsec + osc.device_elapsed_nsec(arrival_nsec - anchor.true_nsec),
                false,
            ),
        })
    }

    /// One stream's exposure `delay_nsec` after a pulse: a frame, or its loss (dropped by a
    /// fault or by chance, or starved).
    fn expose(
        &mut self,
        device: usize,
        sim: &DeviceSim,
        stream: FrameKind,
        delay_nsec: i64,
        at: &PulseAt,
    ) {
        let osc = sim.oscillator;
        let jitter_nsec = self.rng.symmetric(osc.jitter_nsec);
        let Some(run) = self.devices.get_mut(device) else {
            return;
        };
        let exposure_device_nsec = at.device_nsec + delay_nsec;
        let Some(ticks) =
            device_nsec_to_ticks(exposure_device_nsec + osc.offset_nsec + jitter_nsec)
        else {
            return;
        };
        let exposure_true_nsec = at.arrival_nsec + osc.true_elapsed_nsec(delay_nsec);
        let dropped = core::mem::take(run.drop_next.get_mut(stream))
            || (self.random_drop_ppm > 0 && self.rng.chance_ppm(self.random_drop_ppm));
        let Some(run) = self.devices.get_mut(device) else {
            return;
        };
        let starved = run.starvation_nsec
            > (at.period_nsec.unsigned_abs()).saturating_mul(STARVED_FRAMES_BUFFERED);
        let cause = if dropped {
            Some(LossCause::Dropped)
        } else if starved {
            Some(LossCause::Starved)
        } else {
            None
        };
        if let Some(cause) = cause {
            self.emit(SimEvent::FrameLost {
                device,
                stream,
                pulse: at.pulse,
                at_nsec: exposure_true_nsec,
                cause,
            });
            return;
        }
        let frame = SimFrame {
            device,
            stream,
            ticks,
            device_ts_usec: ticks.to_usec(),
            exposure_true_nsec,
            delivered_at_nsec: exposure_true_nsec
                .saturating_add(i64::try_from(run.starvation_nsec).unwrap_or(i64::MAX)),
            pulse: at.pulse,
            defect: run.defect_next.get_mut(stream).take(),
        };
        self.emit(SimEvent::Frame(frame));
    }
}

/// A pulse as it reached one device.
struct PulseAt {
    pulse: Pulse,
    arrival_nsec: i64,
    /// The device's clock at the pulse, ns.
    device_nsec: i64,
    period_nsec: i64,
}

impl<const N: usize, const F: usize> Iterator for Events<'_, N, F> {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            if let Some(event) = self.batch.pop_front() {
                return Some(event);
            }
            let pulses = self.rig.config.pulses;
            let next_pulse_nsec =
                (self.next_pulse < pulses).then(|| self.rig.pulse_true_nsec(self.next_pulse));
            let due = self
                .rig
                .faults
                .get(self.next_fault)
                .copied()
                .filter(|scheduled| {
                    next_pulse_nsec.is_none_or(|pulse_nsec| scheduled.at_nsec <= pulse_nsec)
                });
            if let Some(scheduled) = due {
                self.next_fault += 1;
                self.apply(scheduled);
            } else if next_pulse_nsec.is_some() {
                let k = self.next_pulse;
                self.next_pulse += 1;
                let master_nsec = pulse_device_nsec(self.rig.config.fps, u64::from(k));
                let true_nsec = self.rig.pulse_true_nsec(k);
                self.pulse(true_nsec, master_nsec, Pulse::Regular(k));
            } else {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Topology;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    use std::vec::Vec as StdVec;

    fn rig3(seed: u64, clock_mode: ClockMode) -> Rig<3, 8> {
        let noisy = Oscillator {
            offset_nsec: 3_000,
            drift_ppb: 100_000,
            jitter_nsec: 5_000,
        };
        let mut devices = [DeviceSim::default(); 3];
        devices[1].oscillator = noisy;
        devices[1].subordinate_delay_ticks = 14;
        devices[2].oscillator = Oscillator {
            drift_ppb: -100_000,
            ..noisy
        };
        devices[2].depth_delay_ticks = -7;
        Rig::new(RigConfig {
            seed,
            fps: Fps::Fps30,
            cable: Cable::default(),
            clock_mode,
            pulses: 300,
            devices,
        })
        .unwrap()
    }

    fn stream_hash(rig: &Rig<3, 8>) -> u64 {
        let mut hasher = DefaultHasher::new();
        for event in rig.events() {
            event.hash(&mut hasher);
        }
        hasher.finish()
    }

    fn frames(rig: &Rig<3, 8>) -> StdVec<SimFrame> {
        rig.events()
            .filter_map(|event| match event {
                SimEvent::Frame(frame) => Some(frame),
                _ => None,
            })
            .collect()
    }

    fn ts(frames: &[SimFrame], device: usize, stream: FrameKind, pulse: Pulse) -> i64 {
        frames
            .iter()
            .find(|f| f.device == device && f.stream == stream && f.pulse == pulse)
            .map(|f| f.device_ts_usec.0 as i64)
            .unwrap()
    }

    #[test]
    fn same_seed_gives_the_same_event_stream() {
        let mut a = rig3(42, ClockMode::FreeRun);
        let mut b = rig3(42, ClockMode::FreeRun);
        for rig in [&mut a, &mut b] {
            rig.schedule(
                1_000_000_000,
                Fault::RandomDrops {
                    probability_ppm: 100_000,
                },
            )
            .unwrap();
            rig.schedule(2_000_000_000, Fault::ExtraPulse).unwrap();
        }
        assert_eq!(stream_hash(&a), stream_hash(&b));
        let c = {
            let mut c = rig3(43, ClockMode::FreeRun);
            c.schedule(
                1_000_000_000,
                Fault::RandomDrops {
                    probability_ppm: 100_000,
                },
            )
            .unwrap();
            c.schedule(2_000_000_000, Fault::ExtraPulse).unwrap();
            c
        };
        assert_ne!(stream_hash(&a), stream_hash(&c));
    }

    #[test]
    fn every_regular_pulse_gives_each_device_a_colour_and_a_depth_frame() {
        let rig = rig3(1, ClockMode::FreeRun);
        let frames = frames(&rig);
        // Device 2's first depth frame would be exposed 7 ticks before its clock's zero.
        assert_eq!(frames.len(), 300 * 3 * 2 - 1);
        assert!(!frames.iter().any(|f| f.device == 2
            && f.stream == FrameKind::Depth
            && f.pulse == Pulse::Regular(0)));
    }

    #[test]
    fn free_running_subordinates_drift_apart_from_the_master_at_their_ppm() {
        let rig = rig3(1, ClockMode::FreeRun);
        let frames = frames(&rig);
        let last = Pulse::Regular(299);
        let elapsed_usec = ts(&frames, 0, FrameKind::Colour, last);
        let sub_delay_usec = 155;
        let fast = ts(&frames, 1, FrameKind::Colour, last) - elapsed_usec - sub_delay_usec;
        let slow = ts(&frames, 2, FrameKind::Colour, last) - elapsed_usec;
        // +100 ppm over ~9.97 s ≈ +997 µs (plus 3 µs offset, ±5 µs jitter, ±11 µs ticks).
        assert!((980..=1_020).contains(&fast), "fast subordinate {fast} µs");
        assert!(
            (-1_010..=-975).contains(&slow),
            "slow subordinate {slow} µs"
        );
    }

    #[test]
    fn realigning_subordinates_do_not_accumulate_drift() {
        let rig = rig3(1, ClockMode::RealignEveryPulse);
        let frames = frames(&rig);
        let last = Pulse::Regular(299);
        let master = ts(&frames, 0, FrameKind::Colour, last);
        let slow = ts(&frames, 2, FrameKind::Colour, last) - master;
        assert!(slow.abs() <= 20, "{slow} µs");
    }

    #[test]
    fn subordinate_and_depth_delays_are_the_tick_exact_effective_values() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.config.devices = [DeviceSim::default(); 3];
        rig.config.devices[1].subordinate_delay_ticks = 14;
        rig.config.devices[2].depth_delay_ticks = -7;
        let frames = frames(&rig);
        let p = Pulse::Regular(10);
        let master = ts(&frames, 0, FrameKind::Colour, p);
        assert_eq!(ts(&frames, 1, FrameKind::Colour, p) - master, 155);
        let sub2 = ts(&frames, 2, FrameKind::Colour, p);
        assert_eq!(sub2, master);
        // −7 ticks, ±1 tick depending on where the two instants fall between tick edges (#1261).
        let depth_off = ts(&frames, 2, FrameKind::Depth, p) - sub2;
        assert!((-90..=-66).contains(&depth_off), "{depth_off}");
    }

    #[test]
    fn pulses_reach_each_hop_later_by_the_hop_delay() {
        let mut devices = [DeviceSim::default(); 4];
        devices[3].colour_on = true;
        for topology in [Topology::DaisyChain, Topology::Star] {
            let rig: Rig<4, 1> = Rig::new(RigConfig {
                seed: 0,
                fps: Fps::Fps15,
                cable: Cable {
                    topology,
                    hop_delay_nsec: 700,
                },
                clock_mode: ClockMode::FreeRun,
                pulses: 3,
                devices,
            })
            .unwrap();
            let exposure: StdVec<i64> = rig
                .events()
                .filter_map(|e| match e {
                    SimEvent::Frame(f)
                        if f.stream == FrameKind::Colour && f.pulse == Pulse::Regular(2) =>
                    {
                        Some(f.exposure_true_nsec)
                    }
                    _ => None,
                })
                .collect();
            let base = exposure[0];
            let delays: StdVec<i64> = exposure.iter().map(|t| t - base).collect();
            match topology {
                Topology::DaisyChain => assert_eq!(delays, [0, 700, 1_400, 2_100]),
                Topology::Star => assert_eq!(delays, [0, 700, 700, 700]),
            }
        }
    }

    #[test]
    fn a_restarted_subordinate_is_rezeroed_and_its_timestamps_jump_back() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        let restart_at = rig.pulse_true_nsec(100) + 1_000;
        rig.schedule(restart_at, Fault::SubordinateRestart { device: 1 })
            .unwrap();
        let frames = frames(&rig);
        let colour_of_1: StdVec<&SimFrame> = frames
            .iter()
            .filter(|f| f.device == 1 && f.stream == FrameKind::Colour)
            .collect();
        let missing = 300 - colour_of_1.len();
        assert_eq!(missing, RESTART_SWALLOWED_PULSES as usize);
        let after = colour_of_1
            .iter()
            .find(|f| f.pulse == Pulse::Regular(101 + RESTART_SWALLOWED_PULSES))
            .unwrap();
        // Zeroed at pulse 101, so the first frame is RESTART_SWALLOWED_PULSES periods in.
        let expected_usec = 2 * 33_333 + 155;
        assert!((after.device_ts_usec.0 as i64 - expected_usec).abs() < 30);
    }

    #[test]
    fn clocks_are_zeroed_at_the_master_start_and_at_each_subordinates_first_pulse() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.schedule(
            rig.pulse_true_nsec(100) + 1_000,
            Fault::SubordinateRestart { device: 1 },
        )
        .unwrap();
        let zeroed: StdVec<(usize, i64)> = rig
            .events()
            .filter_map(|e| match e {
                SimEvent::ClockZeroed { device, at_nsec } => Some((device, at_nsec)),
                _ => None,
            })
            .collect();
        assert_eq!(
            zeroed,
            [
                (0, 0),
                (1, 500),
                (2, 1_000),
                (1, rig.pulse_true_nsec(101) + 500),
            ]
        );
    }

    #[test]
    fn late_start_swallows_frames_without_moving_the_clock_zero() {
        let mut rig = rig3(1, ClockMode::RealignEveryPulse);
        rig.schedule(
            -1,
            Fault::LateStart {
                device: 2,
                pulses: 3,
            },
        )
        .unwrap();
        let frames = frames(&rig);
        let first = frames.iter().find(|f| f.device == 2).unwrap();
        assert_eq!(first.pulse, Pulse::Regular(3));
        let master = ts(&frames, 0, FrameKind::Colour, Pulse::Regular(3));
        assert!((ts(&frames, 2, FrameKind::Colour, Pulse::Regular(3)) - master).abs() <= 20);
    }

    #[test]
    fn drops_and_starvation_are_reported_as_lost_frames() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.schedule(
            0,
            Fault::DropFrame {
                device: 1,
                stream: FrameKind::Depth,
            },
        )
        .unwrap();
        let starve_at = rig.pulse_true_nsec(50);
        rig.schedule(
            starve_at,
            Fault::BandwidthStarvation {
                device: 2,
                delay_nsec: 40_000_000,
            },
        )
        .unwrap();
        rig.schedule(
            rig.pulse_true_nsec(60),
            Fault::BandwidthStarvation {
                device: 2,
                delay_nsec: 100_000_000,
            },
        )
        .unwrap();
        let events: StdVec<SimEvent> = rig.events().collect();
        let lost: StdVec<(usize, Pulse, LossCause)> = events
            .iter()
            .filter_map(|e| match e {
                SimEvent::FrameLost {
                    device,
                    pulse,
                    cause,
                    ..
                } => Some((*device, *pulse, *cause)),
                _ => None,
            })
            .collect();
        assert_eq!(lost[0], (1, Pulse::Regular(0), LossCause::Dropped));
        assert!(lost[1..]
            .iter()
            .all(|(d, p, c)| *d == 2 && *c == LossCause::Starved && *p >= Pulse::Regular(60)));
        let late = events.iter().find_map(|e| match e {
            SimEvent::Frame(f) if f.device == 2 && f.pulse == Pulse::Regular(55) => Some(*f),
            _ => None,
        });
        let late = late.unwrap();
        assert_eq!(late.delivered_at_nsec - late.exposure_true_nsec, 40_000_000);
    }

    #[test]
    fn an_extra_pulse_makes_every_zeroed_device_expose_an_off_grid_frame() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.schedule(rig.pulse_true_nsec(20) + 15_000_000, Fault::ExtraPulse)
            .unwrap();
        let extra = frames(&rig)
            .into_iter()
            .filter(|f| f.pulse == Pulse::Extra(0))
            .count();
        assert_eq!(extra, 6);
    }

    #[test]
    fn a_pulled_cable_stops_downstream_frames_until_replugged() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.schedule(
            rig.pulse_true_nsec(10) + 1,
            Fault::CablePulled { device: 1 },
        )
        .unwrap();
        rig.schedule(
            rig.pulse_true_nsec(20) + 1,
            Fault::CableReplugged { device: 1 },
        )
        .unwrap();
        let frames = frames(&rig);
        for device in [1, 2] {
            let n = frames.iter().filter(|f| f.device == device).count();
            let before_zero = usize::from(device == 2);
            assert_eq!(n, (300 - 10) * 2 - before_zero);
            assert!(!frames.iter().any(|f| f.device == device
                && (Pulse::Regular(11)..=Pulse::Regular(20)).contains(&f.pulse)));
        }
        assert_eq!(frames.iter().filter(|f| f.device == 0).count(), 600);
    }

    #[test]
    fn usb_level_faults_surface_as_events_and_frame_defects() {
        let mut rig = rig3(1, ClockMode::FreeRun);
        rig.schedule(
            5,
            Fault::EndpointStall {
                device: 1,
                stream: FrameKind::Depth,
            },
        )
        .unwrap();
        rig.schedule(
            5,
            Fault::ShortFrame {
                device: 2,
                stream: FrameKind::Colour,
            },
        )
        .unwrap();
        rig.schedule(6, Fault::CommandTimeout { device: 0 })
            .unwrap();
        let until = rig.pulse_true_nsec(3);
        let for_two: StdVec<SimEvent> = rig.device_events(2, 0, until).collect();
        assert!(for_two
            .iter()
            .any(|e| matches!(e, SimEvent::Frame(f) if f.defect == Some(FrameDefect::Short))));
        assert!(!for_two
            .iter()
            .any(|e| matches!(e, SimEvent::Fault(s) if s.fault.device() == Some(1))));
        assert!(for_two.iter().all(|e| (0..until).contains(&e.at_nsec())));
        let for_one: StdVec<SimEvent> = rig.device_events(1, 0, until).collect();
        assert!(for_one.iter().any(
            |e| matches!(e, SimEvent::Fault(s) if matches!(s.fault, Fault::EndpointStall { .. }))
        ));
    }

    #[test]
    fn rigs_beyond_one_master_and_eight_subordinates_are_refused() {
        let config = RigConfig {
            seed: 0,
            fps: Fps::Fps30,
            cable: Cable::default(),
            clock_mode: ClockMode::FreeRun,
            pulses: 1,
            devices: [DeviceSim::default(); 10],
        };
        assert!(matches!(
            Rig::<10, 1>::new(config),
            Err(SimError::TooManyDevices {
                devices: 10,
                max: 9
            })
        ));
        let mut one: Rig<1, 1> = Rig::new(RigConfig {
            devices: [DeviceSim::default(); 1],
            ..RigConfig {
                seed: 0,
                fps: Fps::Fps30,
                cable: Cable::default(),
                clock_mode: ClockMode::FreeRun,
                pulses: 1,
                devices: [DeviceSim::default(); 1],
            }
        })
        .unwrap();
        one.schedule(0, Fault::ExtraPulse).unwrap();
        assert_eq!(
            one.schedule(0, Fault::ExtraPulse),
            Err(SimError::TooManyFaults { capacity: 1 })
        );
    }
}
