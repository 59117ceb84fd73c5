//! Property tests of the cross-device aligner against the rig simulator's ground truth
//! (reference §6.4, §10.4): whatever the oscillators, drops, extra pulses, late starts and a
//! restarted subordinate do, a frame set never mixes pulses, a fully delivered pulse yields one
//! complete set, a dropped frame is reported missing exactly once and a restart is a sync loss.
#![cfg(feature = "sim")]
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]

use std::collections::HashMap;

use k4sync_core::sim::{
    Cable, ClockMode, DeviceSim, Fault, LossCause, Oscillator, Pulse, Rig, RigConfig, SimEvent,
    Topology,
};
use k4sync_core::sync::align::{
    Aligner, AlignerConfig, AlignerOutput, DeviceTiming, FrameKind, FrameSet, HealthEvent,
    LossReason,
};
use k4sync_core::time::Usec;
use k4sync_core::types::Fps;
use proptest::prelude::*;

const MAX: usize = 9;
const WINDOW: usize = 8;
const STREAMS: [FrameKind; 2] = [FrameKind::Colour, FrameKind::Depth];

#[derive(Debug, Clone)]
struct Scenario {
    seed: u64,
    fps: Fps,
    devices: usize,
    star: bool,
    clock_mode: ClockMode,
    pulses: u32,
    sims: Vec<DeviceSim>,
    late_start: Vec<u32>,
    drop_ppm: u32,
    extra_pulses: Vec<u32>,
    restart: Option<(usize, u32)>,
    max_skew_permille: u32,
}

mod strategy {
    use super::*;

    fn device(master: bool) -> impl Strategy<Value = DeviceSim> {
        (
            -40_000i64..=40_000,
            -100_000i64..=100_000,
            0u32..=5_000,
            0u32..=2_000,
            -1_000i32..=1_000,
            any::<bool>(),
        )
            .prop_map(
                move |(offset_nsec, drift_ppb, jitter_nsec, sub_ticks, depth_ticks, colour)| {
                    DeviceSim {
                        oscillator: Oscillator {
                            offset_nsec: if master { 0 } else { offset_nsec },
                            drift_ppb,
                            jitter_nsec,
                        },
                        colour_on: master || colour,
                        depth_on: true,
                        subordinate_delay_ticks: if master { 0 } else { sub_ticks },
                        depth_delay_ticks: depth_ticks,
                    }
                },
            )
    }

    pub fn scenario() -> impl Strategy<Value = Scenario> {
        (1usize..=MAX, 40u32..=160).prop_flat_map(|(devices, pulses)| {
            (
                (
                    any::<u64>(),
                    prop::sample::select(Fps::ALL.to_vec()),
                    any::<bool>(),
                    prop_oneof![Just(ClockMode::FreeRun), Just(ClockMode::RealignEveryPulse)],
                ),
                device(true),
                prop::collection::vec(device(false), devices - 1),
                prop::collection::vec(0u32..=4, devices - 1),
                0u32..=50_000,
                prop::collection::vec(10..pulses - 5, 0..=2),
                prop::option::of((1..devices.max(2), 10..pulses - 10)),
                0u32..=900,
            )
                .prop_map(
                    move |(
                        (seed, fps, star, clock_mode),
                        master,
                        subs,
                        late,
                        drop_ppm,
                        extra,
                        restart,
                        skew,
                    )| {
                        let mut sims = vec![master];
                        sims.extend(subs);
                        let mut late_start = vec![0];
                        late_start.extend(late);
                        let mut extra_pulses = extra;
                        extra_pulses.sort_unstable();
                        extra_pulses.dedup_by(|a, b| a.abs_diff(*b) < 5);
                        Scenario {
                            seed,
                            fps,
                            devices,
                            star: star && devices <= 3,
                            clock_mode,
                            pulses,
                            sims,
                            late_start,
                            drop_ppm,
                            extra_pulses,
                            restart: restart.filter(|_| devices > 1),
                            max_skew_permille: skew,
                        }
                    },
                )
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Delivered {
    device: usize,
    stream: FrameKind,
    ts: Usec,
    pulse: Pulse,
    key: i64,
}

struct Outcome {
    frames: Vec<Delivered>,
    dropped: Vec<(usize, FrameKind, u32)>,
    sets: Vec<FrameSet<MAX>>,
    health: Vec<HealthEvent>,
}

fn run(s: &Scenario) -> Outcome {
    let mut devices = [DeviceSim::default(); MAX];
    devices[..s.devices].copy_from_slice(&s.sims);
    let mut rig: Rig<MAX, 32> = Rig::new(RigConfig {
        seed: s.seed,
        fps: s.fps,
        cable: Cable {
            topology: if s.star {
                Topology::Star
            } else {
                Topology::DaisyChain
            },
            hop_delay_nsec: 500,
        },
        clock_mode: s.clock_mode,
        pulses: s.pulses,
        devices,
    })
    .unwrap();
    // Devices beyond the scenario's rig never receive a pulse.
    for device in s.devices..MAX {
        rig.schedule(-1, Fault::DeviceUnplug { device }).unwrap();
    }
    for (device, &pulses) in s.late_start.iter().enumerate() {
        if pulses > 0 {
            rig.schedule(-1, Fault::LateStart { device, pulses })
                .unwrap();
        }
    }
    rig.schedule(
        0,
        Fault::RandomDrops {
            probability_ppm: s.drop_ppm,
        },
    )
    .unwrap();
    let period = rig.pulse_true_nsec(1);
    for &k in &s.extra_pulses {
        rig.schedule(rig.pulse_true_nsec(k) + period / 2, Fault::ExtraPulse)
            .unwrap();
    }
    if let Some((device, k)) = s.restart {
        rig.schedule(
            rig.pulse_true_nsec(k) + 1,
            Fault::SubordinateRestart { device },
        )
        .unwrap();
    }

    let mut skew_rng = k4sync_core::sim::SplitMix64::new(s.seed ^ 0x5eed);
    let max_skew = period * i64::from(s.max_skew_permille) / 1000;
    let mut last_key = [i64::MIN; MAX];
    let mut frames = Vec::new();
    let mut dropped = Vec::new();
    for event in rig.events() {
        match event {
            SimEvent::Frame(f) => {
                let skew = skew_rng.below(max_skew as u64 + 1) as i64;
                let key = (f.delivered_at_nsec + skew).max(last_key[f.device]);
                last_key[f.device] = key;
                frames.push(Delivered {
                    device: f.device,
                    stream: f.stream,
                    ts: f.device_ts_usec,
                    pulse: f.pulse,
                    key,
                });
            }
            SimEvent::FrameLost {
                device,
                stream,
                pulse: Pulse::Regular(k),
                cause: LossCause::Dropped,
                ..
            } => dropped.push((device, stream, k)),
            _ => {}
        }
    }
    frames.sort_by_key(|f| f.key);

    let mut timing = [DeviceTiming::default(); MAX];
    for (t, sim) in timing.iter_mut().zip(&s.sims) {
        *t = DeviceTiming {
            colour_on: sim.colour_on,
            depth_on: sim.depth_on,
            ..DeviceTiming::from_ticks(sim.subordinate_delay_ticks, sim.depth_delay_ticks)
        };
    }
    for t in timing.iter_mut().skip(s.devices) {
        // Absent devices run nothing, so they never hold a set back.
        t.colour_on = false;
        t.depth_on = false;
    }
    let mut aligner: Aligner<MAX, WINDOW> =
        Aligner::new(AlignerConfig::new(s.fps, 0, timing)).unwrap();
    let mut sets = Vec::new();
    let mut health = Vec::new();
    let mut sink = |o: AlignerOutput<'_, MAX>| match o {
        AlignerOutput::Set(set) => sets.push(*set),
        AlignerOutput::Health(h) => health.push(h),
    };
    for f in &frames {
        aligner.push(f.device, f.stream, f.ts, &mut sink).unwrap();
    }
    aligner.flush(&mut sink);
    Outcome {
        frames,
        dropped,
        sets,
        health,
    }
}

/// Ground truth of a reported timestamp (the first frame with it: only a restarted device's
/// re-zeroed clock can repeat one, and those frames are never paired).
fn truth(o: &Outcome) -> HashMap<(usize, FrameKind, Usec), Pulse> {
    let mut map = HashMap::new();
    for f in &o.frames {
        map.entry((f.device, f.stream, f.ts)).or_insert(f.pulse);
    }
    map
}

/// The pulse each emitted set holds, checking the set never mixes pulses.
fn set_pulses(o: &Outcome) -> Result<Vec<(i64, Option<u32>)>, TestCaseError> {
    let truth = truth(o);
    let mut out = Vec::new();
    for set in &o.sets {
        let mut pulse = None;
        for device in 0..MAX {
            for stream in STREAMS {
                if let Some(ts) = set.ts(device, stream) {
                    let p = truth[&(device, stream, ts)];
                    let Pulse::Regular(k) = p else {
                        return Err(TestCaseError::fail(format!(
                            "set {} holds extra-pulse frame",
                            set.set
                        )));
                    };
                    prop_assert!(
                        pulse.is_none_or(|q| q == k),
                        "set {} mixes pulses {pulse:?} and {k}",
                        set.set
                    );
                    pulse = Some(k);
                }
            }
        }
        out.push((set.set, pulse));
    }
    Ok(out)
}

fn restart_pulse(s: &Scenario) -> Option<(usize, u32)> {
    s.restart
}

/// Pulses from which every device of the rig has delivered something.
fn all_started(o: &Outcome, s: &Scenario) -> u32 {
    (0..s.devices)
        .map(|d| {
            o.frames
                .iter()
                .filter(|f| f.device == d)
                .filter_map(|f| match f.pulse {
                    Pulse::Regular(k) => Some(k),
                    Pulse::Extra(_) => None,
                })
                .min()
                .unwrap_or(u32::MAX)
        })
        .max()
        .unwrap_or(0)
}

/// Set index minus true pulse index (constant over the run).
fn set_offset(pulses: &[(i64, Option<u32>)]) -> Result<Option<i64>, TestCaseError> {
    let mut offset = None;
    for &(set, pulse) in pulses {
        if let Some(k) = pulse {
            let o = set - i64::from(k);
            prop_assert!(
                offset.is_none_or(|p| p == o),
                "set numbering is not one per pulse"
            );
            offset = Some(o);
        }
    }
    Ok(offset)
}

fn delivered(o: &Outcome, device: usize, stream: FrameKind, k: u32) -> bool {
    o.frames
        .iter()
        .any(|f| f.device == device && f.stream == stream && f.pulse == Pulse::Regular(k))
}

proptest! {
    #[test]
    fn every_frame_set_holds_frames_of_one_true_pulse_only(s in strategy::scenario()) {
        let o = run(&s);
        let pulses = set_pulses(&o)?;
        let mut seen = std::collections::HashSet::new();
        for (set, pulse) in pulses {
            prop_assert!(seen.insert(set), "set {set} emitted twice");
            if let Some(k) = pulse {
                prop_assert!(seen.insert(-1 - i64::from(k)), "pulse {k} split over two sets");
            }
        }
    }

    #[test]
    fn every_fully_delivered_pulse_yields_exactly_one_complete_set(s in strategy::scenario()) {
        let o = run(&s);
        let pulses = set_pulses(&o)?;
        let restart = restart_pulse(&s);
        for k in 0..s.pulses {
            let required = |d: usize| restart.is_none_or(|(r, at)| d != r || k < at);
            let full = (0..s.devices).filter(|&d| required(d)).all(|d| {
                STREAMS.iter().all(|&st| {
                    let runs = match st {
                        FrameKind::Colour => s.sims[d].colour_on,
                        FrameKind::Depth => s.sims[d].depth_on,
                    };
                    !runs || delivered(&o, d, st, k)
                })
            });
            let restarting = restart.is_some_and(|(_, at)| (at..at + 3).contains(&k));
            if !full || restarting {
                continue;
            }
            let holding: Vec<_> = pulses.iter().zip(&o.sets).filter(|((_, p), _)| *p == Some(k)).collect();
            prop_assert_eq!(holding.len(), 1, "pulse {} in {} sets", k, holding.len());
            prop_assert!(holding[0].1.complete, "pulse {k}: set {} incomplete", holding[0].1.set);
        }
    }

    #[test]
    fn every_dropped_frame_is_reported_missing_in_exactly_one_set(s in strategy::scenario()) {
        let o = run(&s);
        let pulses = set_pulses(&o)?;
        let Some(offset) = set_offset(&pulses)? else { return Ok(()); };
        let started = all_started(&o, &s);
        let last = pulses.iter().filter_map(|(_, p)| *p).max().unwrap_or(0);
        for &(d, st, k) in &o.dropped {
            if k < started || k > last || restart_pulse(&s).is_some_and(|(r, at)| d == r && k + 1 >= at) {
                continue;
            }
            let set = i64::from(k) + offset;
            let reports = o.health.iter().filter(|h| **h == HealthEvent::MissingFrame { device: d, stream: st, set }).count();
            prop_assert_eq!(reports, 1, "device {} {:?} pulse {} reported {} times", d, st, k, reports);
            let in_sets = o.sets.iter().filter(|x| x.set == set && x.is_missing(d, st)).count();
            prop_assert_eq!(in_sets, 1);
        }
        for h in &o.health {
            if let HealthEvent::MissingFrame { device, stream, set } = *h {
                if let Ok(k) = u32::try_from(set - offset) {
                    prop_assert!(!delivered(&o, device, stream, k), "delivered frame {device} {stream:?} pulse {k} reported missing");
                }
            }
        }
    }

    #[test]
    fn a_restarted_subordinate_is_reported_as_sync_loss(s in strategy::scenario()) {
        let o = run(&s);
        let lost: Vec<(usize, LossReason)> = o.health.iter().filter_map(|h| match *h {
            HealthEvent::Lost { device, reason } => Some((device, reason)),
            _ => None,
        }).collect();
        match s.restart {
            Some((r, at)) if at + 5 < s.pulses && o.frames.iter().any(|f| f.device == r && f.pulse >= Pulse::Regular(at)) => {
                prop_assert_eq!(lost, vec![(r, LossReason::ClockReset)]);
            }
            Some((r, _)) => prop_assert!(lost.iter().all(|(d, _)| *d == r)),
            None => prop_assert!(lost.is_empty(), "spurious loss {lost:?}"),
        }
    }
}
