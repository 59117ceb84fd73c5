//! Simulated rigs with known truth for `k4sync align`'s tests: the core's rig simulator
//! (oscillators with drift, the sync cable, tick-quantised timestamps, dropped frames, a restarted
//! subordinate) plus what a recording adds (each device starts and stops at its own pulse; a unit
//! started out of order sits seconds and a fraction of a period off the rig's time base), and the
//! frame sets and faults `align` must report for it, derived from the simulator's ground truth
//! (`SimFrame::pulse`, `SimEvent::FrameLost`), never from the aligner.

use std::collections::BTreeSet;

use k4sync_host::align::{DeviceFrames, Role};
use k4sync_host::core::sim::{
    Cable, ClockMode, DeviceSim, Fault, Oscillator, Pulse, Rig, RigConfig, SimEvent, SplitMix64,
};
use k4sync_host::core::sync::align::{tolerance_usec, FrameKind, OFF_GRID_LIMIT};
use k4sync_host::core::time::{effective_delay_nsec, usec_to_ticks_i32, usec_to_ticks_u32};
use k4sync_host::core::types::Fps;

pub const MAX: usize = 9;

/// How a restarted subordinate's clock runs after the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartClock {
    /// Re-zeroed by the next pulse (the simulator's model): on the grid, wrong set numbers,
    /// timestamps jumping back in delivery order.
    Pulse,
    /// Re-zeroed at the restart itself, off the pulse grid; the recording holds the frames
    /// sorted by device time (what Microsoft's writer makes of a jump back).
    Free,
}

/// A rig scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub fps: Fps,
    pub devices: usize,
    pub clock_mode: ClockMode,
    pub pulses: u32,
    pub drift_ppb: Vec<i64>,
    pub colour: Vec<bool>,
    pub depth: Vec<bool>,
    pub sub_delay_usec: Vec<u32>,
    pub depth_delay_usec: Vec<i32>,
    /// Each device records pulses `start..end`.
    pub window: Vec<(u32, u32)>,
    pub drops: Vec<(usize, FrameKind, u32)>,
    /// (device, first pulse, pulses): every frame of these captures is lost.
    pub burst: Option<(usize, u32, u32)>,
    pub restart: Option<(usize, u32, RestartClock)>,
    /// A device off the rig's time base: its timestamps are this many µs off.
    pub off_grid: Option<(usize, u64)>,
    pub random_drop_ppm: u32,
}

impl Scenario {
    /// A plain rig: `devices` devices, delays in 160 µs steps, no faults.
    pub fn plain(seed: u64, fps: Fps, devices: usize, pulses: u32) -> Self {
        Scenario {
            seed,
            fps,
            devices,
            clock_mode: ClockMode::FreeRun,
            pulses,
            drift_ppb: vec![0; devices],
            colour: vec![true; devices],
            depth: vec![true; devices],
            sub_delay_usec: (0..devices).map(|d| 160 * d as u32).collect(),
            depth_delay_usec: vec![0; devices],
            // Pulse 0 is the clocks' zero: a frame exposed just before it has no timestamp.
            window: vec![(1, pulses); devices],
            drops: Vec::new(),
            burst: None,
            restart: None,
            off_grid: None,
            random_drop_ppm: 0,
        }
    }

    /// Random drift within ±100 ppm, late first and early last frames (a few pulses).
    pub fn with_random_drift_and_windows(mut self) -> Self {
        let mut rng = SplitMix64::new(self.seed ^ 0x5EED);
        for d in 0..self.devices {
            self.drift_ppb[d] = rng.below(200_001) as i64 - 100_000;
            let late = 1 + rng.below(5) as u32;
            let early = rng.below(5) as u32;
            self.window[d] = (late, self.pulses - early);
        }
        self
    }

    fn rig(&self) -> Rig<MAX, 128> {
        let mut devices = [DeviceSim::default(); MAX];
        for (d, sim) in devices.iter_mut().enumerate().take(self.devices) {
            *sim = DeviceSim {
                oscillator: Oscillator {
                    offset_nsec: 0,
                    drift_ppb: self.drift_ppb[d],
                    jitter_nsec: 3_000,
                },
                colour_on: self.colour[d],
                depth_on: self.depth[d],
                subordinate_delay_ticks: usec_to_ticks_u32(self.sub_delay_usec[d]),
                depth_delay_ticks: usec_to_ticks_i32(self.depth_delay_usec[d]),
            };
        }
        let mut rig = Rig::new(RigConfig {
            seed: self.seed,
            fps: self.fps,
            cable: Cable::default(),
            clock_mode: self.clock_mode,
            pulses: self.pulses,
            devices,
        })
        .unwrap();
        let before = |rig: &Rig<MAX, 128>, k: u32| rig.pulse_true_nsec(k) - 1_000;
        let mut drops = self.drops.clone();
        if let Some((device, from, count)) = self.burst {
            for k in from..from + count {
                for stream in [FrameKind::Colour, FrameKind::Depth] {
                    drops.push((device, stream, k));
                }
            }
        }
        for (device, stream, k) in drops {
            rig.schedule(before(&rig, k), Fault::DropFrame { device, stream })
                .unwrap();
        }
        if let Some((device, k, _)) = self.restart {
            rig.schedule(before(&rig, k), Fault::SubordinateRestart { device })
                .unwrap();
        }
        if self.random_drop_ppm > 0 {
            rig.schedule(
                -1,
                Fault::RandomDrops {
                    probability_ppm: self.random_drop_ppm,
                },
            )
            .unwrap();
        }
        rig
    }

    /// Runs the simulator: each device's recording and the truth.
    pub fn run(&self) -> (Vec<Recorded>, Truth) {
        let rig = self.rig();
        let n = self.devices;
        let period_usec = 1_000_000 / u64::from(self.fps.hz());
        let mut recorded: Vec<Recorded> = (0..n)
            .map(|d| Recorded {
                role: if d == 0 {
                    Role::Master
                } else {
                    Role::Subordinate
                },
                sub_delay_usec: if d == 0 { 0 } else { self.sub_delay_usec[d] },
                depth_delay_usec: self.depth_delay_usec[d],
                colour_on: self.colour[d],
                depth_on: self.depth[d],
                frames: Vec::new(),
            })
            .collect();
        let mut lost: Vec<(usize, FrameKind, u32)> = Vec::new();
        let restarted_at = self.restart.map(|(d, k, _)| (d, k));
        for event in rig.events() {
            match event {
                SimEvent::Frame(f) if f.device < n => {
                    let Pulse::Regular(k) = f.pulse else { continue };
                    let (start, end) = self.window[f.device];
                    if k < start || k >= end {
                        continue;
                    }
                    let mut ts = f.device_ts_usec.0;
                    let after_restart = restarted_at.is_some_and(|(d, r)| d == f.device && k >= r);
                    if after_restart && matches!(self.restart, Some((_, _, RestartClock::Free))) {
                        ts += period_usec * 45 / 100;
                    }
                    let off_grid = self.off_grid.filter(|&(d, _)| d == f.device);
                    if let Some((_, shift)) = off_grid {
                        ts += shift;
                    }
                    let synced = !after_restart && off_grid.is_none();
                    recorded[f.device].frames.push(Frame {
                        stream: f.stream,
                        ts_usec: ts,
                        pulse: synced.then_some(k),
                    });
                }
                SimEvent::FrameLost {
                    device,
                    stream,
                    pulse: Pulse::Regular(k),
                    ..
                } if device < n => lost.push((device, stream, k)),
                _ => {}
            }
        }
        if matches!(self.restart, Some((_, _, RestartClock::Free))) {
            for r in &mut recorded {
                r.frames.sort_by_key(|f| f.ts_usec);
            }
        }
        let truth = Truth::of(self, &recorded, &lost);
        (recorded, truth)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub stream: FrameKind,
    pub ts_usec: u64,
    /// The master pulse it belongs to; `None` for a frame off the rig's time base.
    pub pulse: Option<u32>,
}

/// One device's recording, frames in the order the file holds them.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub role: Role,
    pub sub_delay_usec: u32,
    pub depth_delay_usec: i32,
    pub colour_on: bool,
    pub depth_on: bool,
    pub frames: Vec<Frame>,
}

impl Recorded {
    pub fn stream(&self, stream: FrameKind) -> Vec<u64> {
        self.frames
            .iter()
            .filter(|f| f.stream == stream)
            .map(|f| f.ts_usec)
            .collect()
    }

    pub fn device_frames(&self) -> DeviceFrames {
        DeviceFrames {
            role: self.role,
            subordinate_delay_nsec: u64::from(self.sub_delay_usec) * 1000,
            depth_delay_nsec: i64::from(self.depth_delay_usec) * 1000,
            colour: self.colour_on.then(|| self.stream(FrameKind::Colour)),
            depth: self.depth_on.then(|| self.stream(FrameKind::Depth)),
        }
    }

    /// Captures as a recorder writes them: (colour ts, depth ts) per pulse in delivery order,
    /// unsynced frames as captures of their own.
    pub fn captures(&self) -> Vec<(Option<u64>, Option<u64>)> {
        let mut out: Vec<(Option<u32>, Option<u64>, Option<u64>)> = Vec::new();
        for f in &self.frames {
            let joins = out.last_mut().filter(|c| {
                c.0.is_some() && c.0 == f.pulse && {
                    let slot = if f.stream == FrameKind::Colour {
                        c.1
                    } else {
                        c.2
                    };
                    slot.is_none()
                }
            });
            let target = match joins {
                Some(c) => c,
                None => {
                    out.push((f.pulse, None, None));
                    out.last_mut().unwrap()
                }
            };
            match f.stream {
                FrameKind::Colour => target.1 = Some(f.ts_usec),
                FrameKind::Depth => target.2 = Some(f.ts_usec),
            }
        }
        out.into_iter().map(|(_, c, d)| (c, d)).collect()
    }
}

/// What `align` must report for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTruth {
    pub first_set: Option<usize>,
    pub last_set: Option<usize>,
    pub frames: [usize; 2],
    pub in_sets: [usize; 2],
    pub dropped: [Vec<usize>; 2],
    pub sync_lost_at_set: Option<usize>,
    pub unsynced_frames: [usize; 2],
    pub state: &'static str,
}

/// What `align` must report for a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Per set, per stream (colour, depth), per device.
    pub sets: Vec<[Vec<Option<u64>>; 2]>,
    pub devices: Vec<DeviceTruth>,
    /// (sets, complete, incomplete, unsynced frames)
    pub summary: [usize; 4],
    /// Relative drift of each subordinate to the master, ppm (FreeRun clocks).
    pub drift_ppm: Vec<f64>,
}

fn si(stream: FrameKind) -> usize {
    match stream {
        FrameKind::Colour => 0,
        FrameKind::Depth => 1,
    }
}

impl Truth {
    fn of(s: &Scenario, recorded: &[Recorded], lost: &[(usize, FrameKind, u32)]) -> Truth {
        let n = recorded.len();
        let pulses = recorded
            .iter()
            .flat_map(|r| r.frames.iter().filter_map(|f| f.pulse));
        let (Some(k0), Some(k1)) = (pulses.clone().min(), pulses.max()) else {
            panic!("scenario without a synced frame: {s:?}");
        };
        let count = (k1 - k0 + 1) as usize;
        let mut sets = vec![[vec![None; n], vec![None; n]]; count];
        for (d, r) in recorded.iter().enumerate() {
            for f in &r.frames {
                if let Some(k) = f.pulse {
                    sets[(k - k0) as usize][si(f.stream)][d] = Some(f.ts_usec);
                }
            }
        }
        let tolerance = f64::from(tolerance_usec(s.fps));
        let devices: Vec<DeviceTruth> = recorded
            .iter()
            .enumerate()
            .map(|(d, r)| {
                let synced: Vec<usize> = r
                    .frames
                    .iter()
                    .filter_map(|f| f.pulse.map(|k| (k - k0) as usize))
                    .collect();
                let first_set = synced.iter().min().copied();
                let last_set = synced.iter().max().copied();
                let on = [r.colour_on, r.depth_on];
                let frames = [0, 1].map(|i| {
                    r.frames
                        .iter()
                        .filter(|f| si(f.stream) == i && on[i])
                        .count()
                });
                let in_sets = [0, 1].map(|i| {
                    r.frames
                        .iter()
                        .filter(|f| si(f.stream) == i && on[i] && f.pulse.is_some())
                        .count()
                });
                let dropped = [FrameKind::Colour, FrameKind::Depth].map(|stream| {
                    let (Some(first), Some(last)) = (first_set, last_set) else {
                        return Vec::new();
                    };
                    let injected: BTreeSet<usize> = lost
                        .iter()
                        .filter(|&&(dd, st, k)| dd == d && st == stream && k >= k0)
                        .map(|&(_, _, k)| (k - k0) as usize)
                        .filter(|set| (first..=last).contains(set))
                        .collect();
                    let missing: BTreeSet<usize> = (first..=last)
                        .filter(|&set| on[si(stream)] && sets[set][si(stream)][d].is_none())
                        .collect();
                    assert_eq!(
                        injected, missing,
                        "device {d} {stream:?}: the only gaps in a span are injected losses"
                    );
                    missing.into_iter().collect()
                });
                let unsynced_frames = [frames[0] - in_sets[0], frames[1] - in_sets[1]];
                // A restart shows as a clock jumping back (delivery order), or, in a time-sorted
                // file, as at least OFF_GRID_LIMIT frames off the grid; fewer are stray frames.
                let seen = match s.restart {
                    Some((rd, _, RestartClock::Pulse)) => rd == d && unsynced_frames != [0, 0],
                    Some((rd, _, RestartClock::Free)) => {
                        rd == d
                            && unsynced_frames.iter().sum::<usize>() >= usize::from(OFF_GRID_LIMIT)
                    }
                    None => false,
                };
                let sync_lost_at_set = last_set.filter(|_| seen).map(|last| last + 1);
                let state = if first_set.is_none() {
                    "off_grid"
                } else if sync_lost_at_set.is_some() {
                    "lost"
                } else if d != 0 && max_offset_usec(s, &sets, d) > tolerance {
                    "degraded"
                } else {
                    "synced"
                };
                DeviceTruth {
                    first_set,
                    last_set,
                    frames,
                    in_sets,
                    dropped,
                    sync_lost_at_set,
                    unsynced_frames,
                    state,
                }
            })
            .collect();
        let expected = |d: usize, set: usize| {
            let t: &DeviceTruth = &devices[d];
            t.state != "off_grid" && t.sync_lost_at_set.is_none_or(|l| set < l)
        };
        let complete = (0..count)
            .filter(|&set| {
                (0..n).all(|d| {
                    !expected(d, set)
                        || [0, 1].iter().all(|&i| {
                            let on = [recorded[d].colour_on, recorded[d].depth_on];
                            !on[i] || sets[set][i][d].is_some()
                        })
                })
            })
            .count();
        let unsynced: usize = devices
            .iter()
            .map(|t| t.unsynced_frames.iter().sum::<usize>())
            .sum();
        let drift_ppm = (0..n)
            .map(|d| (s.drift_ppb[d] - s.drift_ppb[0]) as f64 / 1000.0)
            .collect();
        Truth {
            sets,
            devices,
            summary: [count, complete, count - complete, unsynced],
            drift_ppm,
        }
    }
}

/// Largest |offset| of device `d` to the master over the truth's sets, after expected delays
/// (colour, else depth, on both sides).
fn max_offset_usec(s: &Scenario, sets: &[[Vec<Option<u64>>; 2]], d: usize) -> f64 {
    let expected = |dev: usize, i: usize| {
        let sub = if dev == 0 {
            0
        } else {
            effective_delay_nsec(usec_to_ticks_u32(s.sub_delay_usec[dev]) as i32)
        };
        let depth = effective_delay_nsec(usec_to_ticks_i32(s.depth_delay_usec[dev]));
        sub + if i == 1 { depth } else { 0 }
    };
    let reference = |set: &[Vec<Option<u64>>; 2], dev: usize| {
        (0..2).find_map(|i| set[i][dev].map(|ts| ts as i64 * 1000 - expected(dev, i)))
    };
    sets.iter()
        .filter_map(|set| Some((reference(set, d)? - reference(set, 0)?) as f64 / 1000.0))
        .fold(0.0, |m: f64, o| m.max(o.abs()))
}

/// The block an `--index` position names, read back: its track name and device time (µs).
pub fn indexed_frame(
    reader: &mut k4sync_host::mkv::MkvReader<std::io::BufReader<std::fs::File>>,
    at: &serde_json::Value,
) -> (String, u64) {
    let offset = i64::from(reader.start_offset_usec().unwrap());
    let cluster = reader
        .read_cluster_at(at["cluster_offset"].as_u64().unwrap())
        .unwrap();
    let block = &cluster.blocks[at["block"].as_u64().unwrap() as usize - 1];
    let track = reader
        .tracks
        .iter()
        .find(|t| t.number == block.track)
        .unwrap();
    (track.name.clone(), (block.time_ticks + offset) as u64)
}
