//! `k4sync align` against simulated rigs with known truth (support/rig.rs): recordings written by
//! Microsoft's own writer (libk4arecord through `tests/interop/write_rig.py`, no device) for rigs
//! of 2 to 9 devices at 30/15/5 fps with drift, 160 µs delay steps, late first and early last
//! frames, single-stream drops, a burst of lost captures, a restarted subordinate and a unit
//! started out of order must give exactly the true sets and faults; the sidecar index must point
//! at the right blocks and the plot must be SVG with one lane per device. A proptest runs the
//! library over random simulated rigs.
//!
//! The Microsoft-writer tests need `K4SYNC_INTEROP_PYTHON` (set by scripts/test.sh); without it
//! they print why and pass, unless `K4SYNC_INTEROP_REQUIRED=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use k4sync_host::align::{align, Alignment, DeviceFrames};
use k4sync_host::core::sim::ClockMode;
use k4sync_host::core::sync::align::FrameKind;
use k4sync_host::core::types::Fps;
use k4sync_host::mkv::MkvReader;
use proptest::prelude::*;
use serde_json::{json, Value};

mod support;
use support::rig::{indexed_frame, DeviceTruth, Recorded, RestartClock, Scenario, Truth};
use support::{interop_python, k4sync, repo_root, stderr, stdout};

const STREAMS: [FrameKind; 2] = [FrameKind::Colour, FrameKind::Depth];

/// What the library reported, in the truth's shape.
fn observed(a: &Alignment, inputs: &[DeviceFrames]) -> Truth {
    let sets = (0..a.sets())
        .map(|set| {
            STREAMS.map(|stream| {
                (0..inputs.len())
                    .map(|d| Some(inputs[d].stream(stream)[a.frame(set, d, stream)?]))
                    .collect()
            })
        })
        .collect();
    let devices = a
        .devices
        .iter()
        .map(|r| DeviceTruth {
            first_set: r.first_set,
            last_set: r.last_set,
            frames: [r.frames.colour, r.frames.depth],
            in_sets: [r.in_sets.colour, r.in_sets.depth],
            dropped: [r.dropped.colour.clone(), r.dropped.depth.clone()],
            sync_lost_at_set: r.sync_lost_at_set,
            unsynced_frames: [r.unsynced_frames.colour, r.unsynced_frames.depth],
            state: r.state.name(),
        })
        .collect();
    let s = a.summary;
    Truth {
        sets,
        devices,
        summary: [s.sets, s.complete, s.incomplete, s.unsynced_frames],
        drift_ppm: a
            .devices
            .iter()
            .map(|r| r.drift_ppm.unwrap_or(0.0))
            .collect(),
    }
}

fn check_equal(got: &Truth, want: &Truth, context: &str) {
    assert_eq!(got.sets.len(), want.sets.len(), "set count, {context}");
    for (set, (g, w)) in got.sets.iter().zip(&want.sets).enumerate() {
        assert_eq!(g, w, "set {set}, {context}");
    }
    for (d, (g, w)) in got.devices.iter().zip(&want.devices).enumerate() {
        assert_eq!(g, w, "device {d}, {context}");
    }
    assert_eq!(got.summary, want.summary, "summary, {context}");
}

fn run_library(scenario: &Scenario) -> (Truth, Truth) {
    let (recorded, truth) = scenario.run();
    let inputs: Vec<DeviceFrames> = recorded.iter().map(Recorded::device_frames).collect();
    let a = align(scenario.fps, &inputs).unwrap();
    (observed(&a, &inputs), truth)
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        prop::sample::select(Fps::ALL.to_vec()),
        2usize..=9,
        prop::bool::ANY,
        0u32..30_000,
        prop::option::of((1usize..9, 0.2f64..0.8, prop::bool::ANY)),
        prop::option::of(1usize..9),
    )
        .prop_map(
            |(seed, fps, devices, realign, drop_ppm, restart, off_grid)| {
                let pulses = fps.hz() * 3;
                let mut s =
                    Scenario::plain(seed, fps, devices, pulses).with_random_drift_and_windows();
                if realign {
                    s.clock_mode = ClockMode::RealignEveryPulse;
                }
                s.random_drop_ppm = drop_ppm;
                s.depth = (0..devices)
                    .map(|d| (seed >> d) & 1 == 0 || d == 0)
                    .collect();
                let restart_device = restart.map(|(d, _, _)| 1 + d % (devices - 1));
                if let Some((_, at, free)) = restart {
                    let at = 5 + ((pulses - 12) as f64 * at) as u32;
                    let clock = if free {
                        RestartClock::Free
                    } else {
                        RestartClock::Pulse
                    };
                    let device = restart_device.unwrap_or(1);
                    // A restart before a device's first frame is just a late start.
                    s.window[device].0 = s.window[device].0.min(at - 3);
                    s.restart = Some((device, at, clock));
                }
                if let Some(d) = off_grid {
                    let d = 1 + d % (devices - 1);
                    if devices > 2 && Some(d) != restart_device {
                        let period = 1_000_000 / u64::from(fps.hz());
                        s.off_grid = Some((d, 2_000_000 + period * 45 / 100));
                    }
                }
                s
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
    ))]

    #[test]
    fn aligned_sets_and_faults_equal_the_simulators_truth(scenario in arb_scenario()) {
        let (got, want) = run_library(&scenario);
        check_equal(&got, &want, &format!("{scenario:?}"));
    }
}

/// Pairing by frame index or by equal timestamps gives other sets than the truth: the scenarios
/// below would catch an aligner that did either.
fn naive_pairings_differ(recorded: &[Recorded], truth: &Truth) {
    let colour: Vec<Vec<u64>> = recorded
        .iter()
        .map(|r| r.stream(FrameKind::Colour))
        .collect();
    let by_index: Vec<Vec<Option<u64>>> = (0..colour.iter().map(Vec::len).max().unwrap())
        .map(|i| colour.iter().map(|c| c.get(i).copied()).collect())
        .collect();
    let true_colour: Vec<Vec<Option<u64>>> = truth.sets.iter().map(|s| s[0].clone()).collect();
    assert_ne!(by_index, true_colour, "pairing by index would pass");
    let master = &colour[0];
    let equal_pairs = colour[1..]
        .iter()
        .flatten()
        .filter(|ts| master.contains(ts))
        .count();
    let true_pairs: usize = truth
        .sets
        .iter()
        .map(|s| s[0][1..].iter().filter(|t| t.is_some()).count())
        .sum();
    assert!(
        equal_pairs < true_pairs / 2,
        "pairing by equal timestamps would find {equal_pairs} of {true_pairs}"
    );
}

/// The rig of the issue: 9 devices at 30 fps, drift within ±100 ppm, subordinate delays in
/// 160 µs steps, depth delays, late first / early last frames, single-stream drops, a burst of
/// lost captures, a restarted subordinate and a unit started out of order.
fn nine_device_rig() -> Scenario {
    let mut s = Scenario::plain(0x915, Fps::Fps30, 9, 120).with_random_drift_and_windows();
    s.depth_delay_usec = vec![-80, 80, 0, 0, 0, 0, 0, 0, 0];
    s.depth[7] = false;
    s.drops = vec![
        (0, FrameKind::Depth, 40),
        (1, FrameKind::Colour, 17),
        (2, FrameKind::Depth, 63),
        (5, FrameKind::Colour, 90),
        (6, FrameKind::Colour, 30),
        (6, FrameKind::Depth, 31),
    ];
    s.burst = Some((4, 50, 6));
    s.restart = Some((3, 70, RestartClock::Free));
    s.off_grid = Some((8, 2_000_000 + 15_000));
    s
}

fn scenarios() -> Vec<(&'static str, Scenario)> {
    let mut two = Scenario::plain(2, Fps::Fps30, 2, 90);
    two.drops = vec![(1, FrameKind::Colour, 20), (0, FrameKind::Depth, 33)];
    two.window = vec![(3, 90), (1, 87)];
    let mut four = Scenario::plain(15, Fps::Fps15, 4, 45).with_random_drift_and_windows();
    four.clock_mode = ClockMode::RealignEveryPulse;
    four.depth = vec![true, false, true, true];
    four.drops = vec![(2, FrameKind::Depth, 20), (3, FrameKind::Colour, 12)];
    four.burst = Some((1, 25, 3));
    let mut three = Scenario::plain(5, Fps::Fps5, 3, 20).with_random_drift_and_windows();
    three.depth = vec![false; 3];
    three.drops = vec![(2, FrameKind::Colour, 9)];
    three.restart = Some((1, 12, RestartClock::Free));
    vec![
        ("two_30fps", two),
        ("four_15fps_depth_mixed", four),
        ("three_5fps_colour_only", three),
        ("nine_30fps_every_fault", nine_device_rig()),
    ]
}

#[test]
fn the_library_reports_exactly_the_truth_of_each_file_scenario() {
    for (name, s) in scenarios() {
        let (got, want) = run_library(&s);
        check_equal(&got, &want, name);
    }
}

/// Writes one file per device with Microsoft's writer; returns the paths.
fn write_with_microsofts_writer(python: &Path, dir: &Path, s: &Scenario) -> Vec<PathBuf> {
    let (recorded, _) = s.run();
    let fps = s.fps.hz().to_string();
    let devices: Vec<Value> = recorded
        .iter()
        .enumerate()
        .map(|(d, r)| {
            let path = dir.join(format!("cam{d}.mkv"));
            json!({
                "path": path.to_str().unwrap(),
                "fps": fps,
                "color": if r.colour_on { "720P" } else { "OFF" },
                "depth": if r.depth_on { "NFOV_2X2BINNED" } else { "OFF" },
                "sync": r.role.sdk_name(),
                "sub_delay": r.sub_delay_usec,
                "depth_delay": if r.colour_on && r.depth_on { r.depth_delay_usec } else { 0 },
                "captures": r.captures().iter().map(|(c, d)| json!([c, d])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let spec = dir.join("spec.json");
    std::fs::write(&spec, json!({ "devices": devices }).to_string()).unwrap();
    let out = Command::new(python)
        .arg(repo_root().join("tests/interop/write_rig.py"))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "write_rig.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (0..recorded.len())
        .map(|d| dir.join(format!("cam{d}.mkv")))
        .collect()
}

fn opt_usize(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize)
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The `--json` report in the truth's shape.
fn from_json(report: &Value) -> Truth {
    let pair = |v: &Value| {
        [
            v["color"].as_u64().unwrap() as usize,
            v["depth"].as_u64().unwrap() as usize,
        ]
    };
    let devices = report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| DeviceTruth {
            first_set: opt_usize(&d["first_set"]),
            last_set: opt_usize(&d["last_set"]),
            frames: pair(&d["frames"]),
            in_sets: pair(&d["in_sets"]),
            dropped: [
                usizes(&d["dropped"]["color"]),
                usizes(&d["dropped"]["depth"]),
            ],
            sync_lost_at_set: opt_usize(&d["sync_lost_at_set"]),
            unsynced_frames: pair(&d["unsynced_frames"]),
            state: match d["state"].as_str().unwrap() {
                "synced" => "synced",
                "degraded" => "degraded",
                "lost" => "lost",
                "off_grid" => "off_grid",
                other => panic!("state {other}"),
            },
        })
        .collect::<Vec<_>>();
    let n = devices.len();
    let column = |v: &Value| -> Vec<Option<u64>> {
        match v.as_array() {
            Some(a) => a.iter().map(Value::as_u64).collect(),
            None => vec![None; n],
        }
    };
    let sets = report["sets"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            assert_eq!(s["set"], i, "sets run without gaps");
            [column(&s["color"]), column(&s["depth"])]
        })
        .collect();
    let s = &report["summary"];
    let get = |k: &str| s[k].as_u64().unwrap() as usize;
    Truth {
        sets,
        devices,
        summary: [
            get("sets"),
            get("complete"),
            get("incomplete"),
            get("unsynced_frames"),
        ],
        drift_ppm: Vec::new(),
    }
}

#[test]
fn microsofts_writer_files_align_to_exactly_the_true_sets_and_faults() {
    let Some(python) = interop_python() else {
        return;
    };
    for (name, s) in scenarios() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_with_microsofts_writer(&python, dir.path(), &s);
        let (recorded, truth) = s.run();
        naive_pairings_differ(&recorded, &truth);
        let mut args: Vec<String> = vec!["align".into()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args.push("--json".into());
        let out = k4sync(&args);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["ok"], true);
        assert_eq!(report["fps"], s.fps.hz());
        check_equal(&from_json(&report), &truth, name);
        for (d, dev) in report["devices"].as_array().unwrap().iter().enumerate() {
            assert_eq!(dev["file"], files[d].display().to_string());
            let expected_role = if d == 0 { "MASTER" } else { "SUBORDINATE" };
            assert_eq!(dev["role"], expected_role);
            assert_eq!(
                dev["subordinate_delay_usec"]["configured"],
                recorded[d].sub_delay_usec
            );
            let ticks = recorded[d].sub_delay_usec * 9 / 100;
            let effective = dev["subordinate_delay_usec"]["effective"].as_f64().unwrap();
            assert!(
                (effective - f64::from(ticks) * 100.0 / 9.0).abs() < 0.001,
                "{dev}"
            );
            if s.clock_mode == ClockMode::FreeRun && truth.devices[d].state == "degraded" {
                let drift = dev["drift_ppm"].as_f64().unwrap();
                assert!(
                    (drift - truth.drift_ppm[d]).abs() < 10.0,
                    "{name} device {d}: drift {drift} ppm, true {} ppm",
                    truth.drift_ppm[d]
                );
            }
        }
    }
}

#[test]
fn the_index_points_at_each_sets_blocks_and_the_plot_has_one_lane_per_device() {
    let Some(python) = interop_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = nine_device_rig();
    let files = write_with_microsofts_writer(&python, dir.path(), &s);
    let (index, plot) = (
        dir.path().join("sets.json"),
        dir.path().join("timeline.svg"),
    );
    let mut args: Vec<String> = vec!["align".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--index".into(), index.display().to_string()]);
    args.extend(["--plot".into(), plot.display().to_string()]);
    let out = k4sync(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("sets at 30 fps"), "{text}");
    assert!(text.contains("block headers only"), "{text}");

    let (_, truth) = s.run();
    let index: Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let sets = index["sets"].as_array().unwrap();
    assert_eq!(sets.len(), truth.sets.len());
    let mut readers: Vec<_> = files
        .iter()
        .map(|f| MkvReader::open_path(f).unwrap())
        .collect();
    let mut checked = 0;
    for (set, entry) in sets.iter().enumerate() {
        for (d, frames) in entry["files"].as_array().unwrap().iter().enumerate() {
            for (i, key) in ["color", "depth"].iter().enumerate() {
                let want = truth.sets[set][i][d];
                let at = &frames[*key];
                assert_eq!(
                    at["device_ts_usec"].as_u64(),
                    want,
                    "set {set} device {d} {key}"
                );
                if want.is_none() {
                    continue;
                }
                let name = if *key == "color" { "COLOR" } else { "DEPTH" };
                let got = indexed_frame(&mut readers[d], at);
                assert_eq!(
                    got,
                    (name.to_owned(), want.unwrap()),
                    "set {set} device {d}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");

    let svg = std::fs::read_to_string(&plot).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    for d in 0..files.len() {
        let label = format!("lane {d}: cam{d}.mkv");
        let lanes = doc
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "text")
            .filter(|n| n.text().map(str::trim) == Some(label.as_str()))
            .count();
        assert_eq!(lanes, 1, "{label}");
    }
    let lanes = doc
        .descendants()
        .filter(|n| n.is_element() && n.text().is_some_and(|t| t.trim().starts_with("lane ")))
        .count();
    assert_eq!(lanes, files.len());
}
