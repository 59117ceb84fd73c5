//! Live sync health of a take: the agents' per-frame device timestamps ([`Frames`]) placed on
//! the master's pulse grid by the core's [`Aligner`] while the take runs — what `k4sync align`
//! does with the files afterwards.
//!
//! It reports, as [`Live`] items:
//! * every frame set the aligner completes, with each subordinate's offset to the master less
//!   its expected (effective, tick-truncated) delay — the dashboard's strip chart;
//! * `pulses_lost` when a subordinate that recorded images delivers none while the master
//!   delivers [`PULSES_LOST_AFTER`] colour frames of later pulses (by device time, through
//!   the subordinate's offset in the newest set) and nothing of it arrives for one frame
//!   period less of the coordinator's time (its cable was pulled, or a unit upstream
//!   stopped; a subordinate cannot resync while the master runs), cleared when its images
//!   return. The silence keeps an agent whose messages come late in a burst (a busy host, a
//!   slow link) from counting as a silent camera; the master's frames reach the coordinator
//!   a readout and a network hop after their pulse, so the alarm comes that long after the
//!   second missed pulse;
//! * `off_grid` when the aligner loses a device: its clock jumped back (a restarted
//!   subordinate) or its frames no longer fit the master's pulses. Such a device stays lost
//!   until the rig restarts ([`LiveSync::held`] lists what is raised when a take moves on to a
//!   new segment). A device whose timestamps merely drift from the master's is still paired
//!   pulse by pulse (the aligner tracks it); its growing offset shows in the sets, not as an
//!   alarm: device clocks are free-running oscillators (reference §6.1, ±100 ppm), and the
//!   emulated ones drift by design.
//!
//! Agents publish with different network delays; the aligner's window of [`WINDOW`] sets
//! (about 4 s at 30 fps) absorbs that, and a set is reported as soon as every device in it
//! delivered, so the chart runs a few frame periods behind the cameras.

use std::time::Duration;

use k4sync_core::sync::align::{
    tolerance_usec, Aligner, AlignerConfig, AlignerOutput, DeviceTiming, FrameKind, FrameSet,
    HealthEvent, LossReason,
};
use k4sync_core::time::Usec;
use k4sync_core::types::{ColorResolution, DepthMode, Fps};

use crate::alarms::Problem;
use crate::coordinator::PlannedDevice;
use crate::msg::Frames;

/// Devices one live view follows (a rig is one master and up to eight subordinates).
pub const MAX_DEVICES: usize = 16;

/// Sets the aligner holds open for late agents.
pub const WINDOW: usize = 128;

/// Master colour frames of later pulses than a subordinate's last image (and one frame period
/// less of silence from it) after which its pulses count as lost: the alarm comes this many
/// frame periods less one after the first missing pulse, plus the master frame's way to the
/// coordinator (its readout, the recorder, the network).
pub const PULSES_LOST_AFTER: u32 = 2;

/// One frame set as the live view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOffsets {
    pub set: i64,
    /// The master's colour timestamp of the set, µs.
    pub master_usec: u64,
    /// Per device of the plan (in plan order): the offset to the master less the expected
    /// delay, µs; `None` for the master and for a device without a frame in the set.
    pub offsets_usec: Vec<Option<f64>>,
    pub complete: bool,
}

/// What the live view found in the frames just taken in.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    Set(SetOffsets),
    /// `lost`: the aligner no longer follows the device until the rig restarts.
    Raised {
        agent: String,
        problem: Problem,
        lost: bool,
    },
    Cleared {
        agent: String,
        kind: &'static str,
    },
}

struct Device {
    agent: String,
    /// Expected offset of the device's colour (or, with colour off, depth) frame to the
    /// master's colour frame of the same pulse, µs.
    expected_usec: f64,
    stream: FrameKind,
    frames: u64,
    /// Master colour frames of later pulses than this device's last image.
    since_master: u32,
    /// The device's last image (of its `stream`) on the master's clock: its timestamp less
    /// the expected delay and its offset in the newest placed set, µs.
    last_on_master_usec: Option<f64>,
    /// Its offset to the master less the expected delay in the newest placed set, µs.
    offset_usec: f64,
    /// When this device's last image arrived (the caller's clock).
    heard_at: Duration,
    pulses_lost: bool,
    off_grid: bool,
}

/// The live view of one segment of a take.
pub struct LiveSync {
    take: String,
    segment: u32,
    devices: Vec<Device>,
    master: usize,
    period_usec: f64,
    tolerance_usec: u32,
    aligner: Box<Aligner<MAX_DEVICES, WINDOW>>,
}

fn runs(d: &PlannedDevice) -> (bool, bool) {
    (
        d.config.color_resolution != ColorResolution::Off,
        d.config.depth_mode != DepthMode::Off,
    )
}

impl LiveSync {
    /// A view of `take`'s `segment` over the devices of `plan` (start order, one master).
    pub fn new(take: &str, segment: u32, plan: &[PlannedDevice]) -> Result<LiveSync, String> {
        let master = plan
            .iter()
            .position(|d| d.role == "MASTER")
            .ok_or("the plan has no master")?;
        if plan.len() > MAX_DEVICES {
            return Err(format!(
                "the live view follows at most {MAX_DEVICES} devices, the plan has {}",
                plan.len()
            ));
        }
        let fps = plan.get(master).map_or(Fps::Fps30, |d| d.config.fps);
        let mut timing = [DeviceTiming::default(); MAX_DEVICES];
        let mut devices = Vec::with_capacity(plan.len());
        for (i, d) in plan.iter().enumerate() {
            let (colour_on, depth_on) = runs(d);
            let sub = if i == master {
                0
            } else {
                d.effective_subordinate_delay_nsec
            };
            if let Some(t) = timing.get_mut(i) {
                *t = DeviceTiming {
                    subordinate_delay_nsec: sub,
                    depth_delay_nsec: d.effective_depth_delay_nsec,
                    colour_on,
                    depth_on,
                };
            }
            let (stream, expected_nsec) = if colour_on {
                (FrameKind::Colour, sub)
            } else {
                (FrameKind::Depth, sub + d.effective_depth_delay_nsec)
            };
            devices.push(Device {
                agent: d.agent.clone(),
                expected_usec: expected_nsec as f64 / 1e3,
                stream,
                frames: 0,
                since_master: 0,
                last_on_master_usec: None,
                offset_usec: 0.0,
                heard_at: Duration::ZERO,
                pulses_lost: false,
                off_grid: false,
            });
        }
        let aligner =
            Aligner::new(AlignerConfig::new(fps, master, timing)).map_err(|e| e.to_string())?;
        Ok(LiveSync {
            take: take.to_string(),
            segment,
            devices,
            master,
            period_usec: f64::from(fps.period_usec()),
            tolerance_usec: tolerance_usec(fps),
            aligner: Box::new(aligner),
        })
    }

    /// Images of one device so far.
    pub fn frames(&self, agent: &str) -> Option<u64> {
        self.devices
            .iter()
            .find(|d| d.agent == agent)
            .map(|d| d.frames)
    }

    /// Takes in one agent's message, arrived at `at` (any monotonic clock, the same for every
    /// call); a message of another take or segment, or from an agent outside the plan, is
    /// ignored.
    pub fn push(&mut self, frames: &Frames, at: Duration) -> Vec<Live> {
        let mut out = Vec::new();
        let Some(device) = self.devices.iter().position(|d| d.agent == frames.name) else {
            return out;
        };
        if frames.take != self.take || frames.segment != self.segment {
            return out;
        }
        for (stream, list) in [
            (FrameKind::Colour, &frames.colour_usec),
            (FrameKind::Depth, &frames.depth_usec),
        ] {
            for &ts in list {
                self.feed(device, stream, ts, at, &mut out);
            }
        }
        out
    }

    fn feed(
        &mut self,
        device: usize,
        stream: FrameKind,
        ts: u64,
        at: Duration,
        out: &mut Vec<Live>,
    ) {
        let mut placed = Vec::new();
        // `device` is below MAX_DEVICES (checked in `new`), the one error `push` reports.
        let _ = self.aligner.push(device, stream, Usec(ts), &mut |o| {
            placed.push(match o {
                AlignerOutput::Set(set) => Ok(*set),
                AlignerOutput::Health(h) => Err(h),
            });
        });
        for item in placed {
            match item {
                Ok(set) => {
                    let offsets = self.offsets(&set);
                    for (d, o) in self.devices.iter_mut().zip(&offsets.offsets_usec) {
                        d.offset_usec = o.unwrap_or(d.offset_usec);
                    }
                    out.push(Live::Set(offsets));
                }
                Err(health) => self.health(health, out),
            }
        }
        self.count(device, (stream, ts), at, out);
    }

    /// The pulse watch: a master colour frame of a later pulse than another device's last
    /// image ages that image.
    fn count(&mut self, device: usize, frame: (FrameKind, u64), at: Duration, out: &mut Vec<Live>) {
        let (stream, ts) = frame;
        if let Some(d) = self.devices.get_mut(device) {
            d.frames += 1;
            d.heard_at = at;
            if stream == d.stream {
                d.since_master = 0;
                d.last_on_master_usec = Some(ts as f64 - d.expected_usec - d.offset_usec);
            }
            if d.pulses_lost {
                d.pulses_lost = false;
                out.push(Live::Cleared {
                    agent: d.agent.clone(),
                    kind: "pulses_lost",
                });
            }
        }
        if device != self.master || stream != FrameKind::Colour {
            return;
        }
        let master = self.master;
        let silence =
            Duration::from_secs_f64(f64::from(PULSES_LOST_AFTER - 1) * self.period_usec / 1e6);
        let half_period = self.period_usec / 2.0;
        for (i, d) in self.devices.iter_mut().enumerate() {
            let Some(last) = d.last_on_master_usec else {
                continue;
            };
            if i == master || d.pulses_lost || (ts as f64) < last + half_period {
                continue;
            }
            d.since_master = d.since_master.saturating_add(1);
            if d.since_master >= PULSES_LOST_AFTER && at.saturating_sub(d.heard_at) >= silence {
                d.pulses_lost = true;
                out.push(Live::Raised {
                    agent: d.agent.clone(),
                    problem: pulses_lost(&d.agent, d.since_master),
                    lost: false,
                });
            }
        }
    }

    fn offsets(&self, set: &FrameSet<MAX_DEVICES>) -> SetOffsets {
        let master = set.ts(self.master, FrameKind::Colour);
        let period = self.period_usec;
        let offsets_usec = self
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let own = set.ts(i, d.stream)?;
                let reference = master.filter(|_| i != self.master)?;
                let raw = own.0 as f64 - reference.0 as f64 - d.expected_usec;
                Some(raw - (raw / period).round() * period)
            })
            .collect();
        SetOffsets {
            set: set.set,
            master_usec: master.map_or(0, |m| m.0),
            offsets_usec,
            complete: set.complete,
        }
    }

    /// A device the aligner lost raises `off_grid`; its other health events show in the sets.
    fn health(&mut self, event: HealthEvent, out: &mut Vec<Live>) {
        let HealthEvent::Lost { device, reason } = event else {
            return;
        };
        let what = match reason {
            LossReason::ClockReset => {
                "its clock jumped back: the camera restarted and lost sync".to_string()
            }
            LossReason::OutOfTolerance => format!(
                "its frames no longer fit the master's pulses (more than ±{} µs off)",
                self.tolerance_usec
            ),
        };
        self.raise_off_grid(device, what, out);
    }

    /// The alarms raised and not cleared: (agent, kind).
    pub fn held(&self) -> Vec<(String, &'static str)> {
        let mut held = Vec::new();
        for d in &self.devices {
            if d.pulses_lost {
                held.push((d.agent.clone(), "pulses_lost"));
            }
            if d.off_grid {
                held.push((d.agent.clone(), "off_grid"));
            }
        }
        held
    }

    fn raise_off_grid(&mut self, device: usize, what: String, out: &mut Vec<Live>) {
        let Some(d) = self.devices.get_mut(device) else {
            return;
        };
        if d.off_grid {
            return;
        }
        d.off_grid = true;
        out.push(Live::Raised {
            lost: true,
            agent: d.agent.clone(),
            problem: Problem {
                kind: "off_grid",
                what: format!("off grid: {}: {what}", d.agent),
                action: "set one manual exposure for the whole rig, check the sync cables, and \
                         record again (or let the take recover it into a new segment)"
                    .to_string(),
            },
        });
    }
}

fn pulses_lost(agent: &str, missed: u32) -> Problem {
    Problem {
        kind: "pulses_lost",
        what: format!(
            "pulses lost: no image from {agent} while the master delivered {missed} frames"
        ),
        action: format!(
            "check {agent}'s Sync In cable and the unit before it; a subordinate cannot resync \
             while the master runs: the take recovers it into a new segment (or stop and \
             record again)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use k4sync_core::sync::config::DeviceConfig;
    use k4sync_core::time::{effective_delay_nsec, usec_to_ticks_u32};

    use super::*;

    const PERIOD: u64 = 33_333;

    fn planned(agent: &str, master: bool, delay_usec: u32) -> PlannedDevice {
        let ticks = usec_to_ticks_u32(delay_usec) as i32;
        PlannedDevice {
            config: DeviceConfig::default(),
            agent: agent.into(),
            serial: format!("{agent}-serial"),
            role: if master { "MASTER" } else { "SUBORDINATE" }.into(),
            requested_subordinate_delay_usec: delay_usec,
            effective_subordinate_delay_nsec: effective_delay_nsec(ticks),
            requested_depth_delay_usec: 0,
            effective_depth_delay_nsec: 0,
            depth_offset_nsec: Some(0),
        }
    }

    /// Subordinates first, the master last, as a plan lists them.
    fn rig() -> LiveSync {
        let plan = [
            planned("s1", false, 160),
            planned("s2", false, 320),
            planned("m", true, 0),
        ];
        LiveSync::new("t", 0, &plan).unwrap()
    }

    fn frames(name: &str, take: &str, colour: &[u64], depth: &[u64]) -> Frames {
        Frames {
            name: name.into(),
            take: take.into(),
            segment: 0,
            colour_usec: colour.to_vec(),
            depth_usec: depth.to_vec(),
            skipped: 0,
        }
    }

    /// Pulse `k` of every device that `with` names, each at its effective delay (plus
    /// `extra` µs for s1), in the order a network might deliver them: the master last, all
    /// arriving one frame period after the pulse.
    fn pulse(live: &mut LiveSync, k: u64, with: &[&str], extra: i64) -> Vec<Live> {
        let t = 1_000_000 + k * PERIOD;
        let mut out = Vec::new();
        for (name, delay) in [("s1", 153i64), ("s2", 311), ("m", 0)] {
            if with.contains(&name) {
                let delay = delay + if name == "s1" { extra } else { 0 };
                let ts = (t as i64 + delay) as u64;
                let at = Duration::from_micros(t + PERIOD);
                out.extend(live.push(&frames(name, "t", &[ts], &[ts]), at));
            }
        }
        out
    }

    fn raised(out: &[Live], kind: &str) -> Vec<String> {
        out.iter()
            .filter_map(|l| match l {
                Live::Raised { agent, problem, .. } if problem.kind == kind => Some(agent.clone()),
                _ => None,
            })
            .collect()
    }

    fn cleared(out: &[Live], kind: &str) -> Vec<String> {
        out.iter()
            .filter_map(|l| match l {
                Live::Cleared { agent, kind: k } if *k == kind => Some(agent.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_set_carries_each_subordinates_offset_less_its_effective_delay() {
        let mut live = rig();
        let mut sets = Vec::new();
        for k in 0..20 {
            for l in pulse(&mut live, k, &["s1", "s2", "m"], 0) {
                if let Live::Set(s) = l {
                    sets.push(s);
                }
            }
        }
        assert!(sets.len() >= 19, "{}", sets.len());
        for s in &sets {
            assert!(s.complete, "{s:?}");
            assert_eq!(s.offsets_usec.len(), 3);
            assert_eq!(
                s.offsets_usec[2], None,
                "the master has no offset to itself"
            );
            // 160 µs is 14 ticks = 155.5 µs; 320 µs is 28 ticks = 311.1 µs.
            let s1 = s.offsets_usec[0].unwrap();
            let s2 = s.offsets_usec[1].unwrap();
            assert!((s1 - (153.0 - 155.555)).abs() < 0.01, "{s1}");
            assert!((s2 - (311.0 - 311.111)).abs() < 0.01, "{s2}");
        }
        let numbers: Vec<i64> = sets.iter().map(|s| s.set).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert_eq!(live.frames("s2"), Some(40));
    }

    #[test]
    fn a_silent_subordinate_is_pulses_lost_at_the_second_missed_pulse_and_cleared_on_return() {
        let mut live = rig();
        for k in 0..10 {
            let out = pulse(&mut live, k, &["s1", "s2", "m"], 0);
            assert!(raised(&out, "pulses_lost").is_empty(), "{out:?}");
        }
        let first = pulse(&mut live, 10, &["s1", "m"], 0);
        assert!(raised(&first, "pulses_lost").is_empty(), "{first:?}");
        // The master's frame of pulse 9 came after s2's own (the master is delivered last
        // here) and does not count: it is the same pulse. Pulses 10 and 11 do.
        let second = pulse(&mut live, 11, &["s1", "m"], 0);
        assert_eq!(raised(&second, "pulses_lost"), ["s2"]);
        let problem = second
            .iter()
            .find_map(|l| match l {
                Live::Raised { problem, .. } => Some(problem.clone()),
                _ => None,
            })
            .unwrap();
        assert!(problem.what.contains("no image from s2"), "{problem:?}");
        assert!(problem.action.contains("Sync In"), "{problem:?}");
        let third = pulse(&mut live, 12, &["s1", "m"], 0);
        assert!(raised(&third, "pulses_lost").is_empty(), "raised once");
        let back = pulse(&mut live, 14, &["s1", "s2", "m"], 0);
        assert_eq!(cleared(&back, "pulses_lost"), ["s2"]);
    }

    #[test]
    fn a_subordinate_whose_images_arrive_late_is_not_pulses_lost() {
        let mut live = rig();
        let mut out = Vec::new();
        // The cameras run three times as fast as the coordinator's clock (a virtual clock, or
        // a busy host) and from pulse 10 on s2's messages come after the master's next one.
        let t = |pulse: u64| 1_000_000 + pulse * PERIOD;
        let at = |pulse: u64| Duration::from_micros(t(pulse) / 3);
        for k in 0..40u64 {
            out.extend(live.push(&frames("s1", "t", &[t(k) + 153], &[t(k) + 153]), at(k)));
            out.extend(live.push(&frames("m", "t", &[t(k)], &[t(k)]), at(k)));
            let from_s2 = if k < 10 {
                Some(k)
            } else {
                k.checked_sub(1).filter(|p| *p >= 10)
            };
            if let Some(p) = from_s2 {
                let ts = t(p) + 311;
                out.extend(live.push(&frames("s2", "t", &[ts], &[ts]), at(k)));
            }
        }
        assert!(raised(&out, "pulses_lost").is_empty(), "{out:?}");
        assert!(live.held().is_empty());
        assert_eq!(live.frames("s2"), Some(2 * 39), "colour and depth");
    }

    #[test]
    fn a_subordinate_whose_clock_jumps_back_is_off_grid() {
        let mut live = rig();
        for k in 0..10 {
            pulse(&mut live, k, &["s1", "s2", "m"], 0);
        }
        let out = live.push(
            &frames("s1", "t", &[2_000], &[2_000]),
            Duration::from_secs(2),
        );
        assert_eq!(raised(&out, "off_grid"), ["s1"], "{out:?}");
        assert!(out
            .iter()
            .any(|l| matches!(l, Live::Raised { lost: true, .. })));
        let problem = out
            .iter()
            .find_map(|l| match l {
                Live::Raised { problem, .. } => Some(problem.clone()),
                _ => None,
            })
            .unwrap();
        assert!(problem.what.contains("restarted"), "{problem:?}");
    }

    #[test]
    fn a_drifting_subordinate_stays_paired_and_raises_nothing() {
        let mut live = rig();
        let mut all = Vec::new();
        for k in 0..60 {
            all.extend(pulse(&mut live, k, &["s1", "s2", "m"], k as i64 * 10));
        }
        assert!(live.held().is_empty(), "{all:?}");
        let last = all
            .iter()
            .rev()
            .find_map(|l| match l {
                Live::Set(s) => s.offsets_usec[0],
                _ => None,
            })
            .unwrap();
        assert!(last > 500.0, "s1 drifted 10 µs a set: {last}");
    }

    #[test]
    fn a_subordinate_whose_frames_leave_the_grid_is_off_grid_and_lost() {
        let mut live = rig();
        for k in 0..10 {
            pulse(&mut live, k, &["s1", "s2", "m"], 0);
        }
        let mut out = Vec::new();
        for k in 10..20 {
            out.extend(pulse(&mut live, k, &["s1", "s2", "m"], PERIOD as i64 / 2));
        }
        assert_eq!(raised(&out, "off_grid"), ["s1"], "{out:?}");
        assert!(out
            .iter()
            .any(|l| matches!(l, Live::Raised { lost: true, problem, .. } if problem.what.contains("no longer fit"))));
        assert_eq!(live.held(), [("s1".to_string(), "off_grid")]);
    }

    #[test]
    fn messages_of_another_take_segment_or_agent_are_ignored() {
        let mut live = rig();
        assert!(live
            .push(&frames("m", "old", &[1_000], &[]), Duration::ZERO)
            .is_empty());
        assert!(live
            .push(&frames("x", "t", &[1_000], &[]), Duration::ZERO)
            .is_empty());
        let mut old_segment = frames("m", "t", &[1_000], &[]);
        old_segment.segment = 1;
        assert!(live.push(&old_segment, Duration::ZERO).is_empty());
        assert_eq!(live.frames("m"), Some(0));
        assert_eq!(live.frames("x"), None);
    }

    #[test]
    fn a_plan_without_master_is_refused() {
        let plan = [planned("s1", false, 0)];
        assert!(LiveSync::new("t", 0, &plan).is_err());
    }
}
