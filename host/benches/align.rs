//! CPU time of `k4sync align`'s library on a synthetic timestamp index (no files): a 9-device
//! rig at 30 fps with delays in 160 µs steps, ±100 ppm drift, tick quantisation and 0.1 % random
//! drops, for 1/4, 1/2 and 1 hour (the last ≈ 970k captures, 1.94 M frames). Prints one row per length with
//! the process CPU time, the cost per frame, and the ratio of that cost to the shortest run's
//! (linear = 1); `--check` exits 1 when the hour takes 1 s of CPU or more, or when the per-frame
//! cost grows by more than half from 1/4 h to 1 h. Run through `scripts/bench.sh --only align`.
//!
//! CPU time is read from `/proc/self/stat` (user + system, clock ticks), so other processes on
//! the machine do not count; each length is run three times and the best kept.

#![allow(clippy::expect_used)]

use std::hint::black_box;

use k4sync_host::align::{align, DeviceFrames, Role};
use k4sync_host::core::types::Fps;

const DEVICES: u64 = 9;
const HZ: u64 = 30;

/// Process CPU time so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name's closing parenthesis: state, ppid, …; utime and stime at 11, 12.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    ticks as f64 / 100.0
}

/// SplitMix64: the frames are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A rig's timestamp index: `pulses` pulses, every device's colour and depth stream.
fn rig(pulses: u64) -> Vec<DeviceFrames> {
    let mut rng = Rng(0xA11C);
    (0..DEVICES)
        .map(|d| {
            let drift_ppb = (rng.next() % 200_001) as i64 - 100_000;
            let delay_usec = 160 * d as u32;
            let delay_ticks = u64::from(delay_usec * 9 / 100);
            let mut stream = |extra_ticks: u64| -> Vec<u64> {
                (1..pulses)
                    .filter(|_| rng.next() % 1000 != 0)
                    .map(|k| {
                        let nsec = (k * 1_000_000_000 / HZ) as i128;
                        let drifted = nsec + nsec * i128::from(drift_ppb) / 1_000_000_000;
                        let ticks =
                            drifted as u64 * 90_000 / 1_000_000_000 + delay_ticks + extra_ticks;
                        ticks * 100 / 9
                    })
                    .collect()
            };
            let colour = stream(0);
            let depth = stream(0);
            DeviceFrames {
                role: if d == 0 {
                    Role::Master
                } else {
                    Role::Subordinate
                },
                subordinate_delay_nsec: if d == 0 {
                    0
                } else {
                    u64::from(delay_usec) * 1000
                },
                depth_delay_nsec: 0,
                colour: Some(colour),
                depth: Some(depth),
            }
        })
        .collect()
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    println!("| length | frames | CPU s (best of 3) | ns per frame | per-frame cost vs 1/4 h |");
    println!("|---|---|---|---|---|");
    let mut base = None;
    let mut failed = Vec::new();
    let mut last = (0.0, 0.0);
    for (label, pulses) in [("1/4 h", 27_000u64), ("1/2 h", 54_000), ("1 h", 108_000)] {
        let devices = rig(pulses);
        let frames: usize = devices
            .iter()
            .map(|d| d.colour.as_ref().map_or(0, Vec::len) + d.depth.as_ref().map_or(0, Vec::len))
            .sum();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let before = cpu_seconds();
            let a = align(Fps::Fps30, black_box(&devices)).expect("the synthetic rig aligns");
            black_box(&a);
            best = best.min(cpu_seconds() - before);
            assert_eq!(
                a.devices.iter().filter(|r| r.first_set.is_some()).count(),
                9
            );
        }
        let per_frame = best * 1e9 / frames as f64;
        let ratio = per_frame / *base.get_or_insert(per_frame);
        println!("| {label} | {frames} | {best:.2} | {per_frame:.0} | {ratio:.2} |");
        last = (best, ratio);
    }
    if last.0 >= 1.0 {
        failed.push(format!("1 h took {:.2} s of CPU (target < 1 s)", last.0));
    }
    if last.1 > 1.5 {
        failed.push(format!(
            "per-frame cost grew {:.2}x from 1/4 h to 1 h (target <= 1.5x)",
            last.1
        ));
    }
    for f in &failed {
        eprintln!("missed: {f}");
    }
    if check && !failed.is_empty() {
        std::process::exit(1);
    }
}
