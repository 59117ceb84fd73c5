//! Laws of the capture pairer (reference §8) over streams from a simple simulated device:
//! colour every period P, depth at colour + delay with jitter within the SDK's functional-test
//! tolerance (§6.4), random drops on either stream, a few pre-reset depth frames, and arrival
//! at the host delayed by a bounded random latency (each stream stays in order, the two
//! interleave arbitrarily).

use std::collections::BTreeMap;

use k4sync_core::sync::pairing::{
    Capture, CapturePairer, Frame, FrameKind, PairingConfig, PairingEvent, HELD_PER_STREAM,
    SYNC_QUEUE_SIZE,
};
use k4sync_core::types::Fps;
use proptest::prelude::*;

/// Depth handles of frames sent before the clock reset start here; period frames use their
/// period index for both streams.
const PRE_RESET_ID: u32 = 1_000_000;

type Pairer = CapturePairer<u32, u32>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Colour,
    Depth,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Push {
        kind: Kind,
        device_ts_usec: u64,
        id: u32,
    },
    Pop(u8),
    Failure,
    Stop,
    Start(PairingConfig),
}

/// One simulated session, already ordered by arrival at the host.
#[derive(Debug, Clone)]
struct Session {
    config: PairingConfig,
    ops: Vec<Op>,
}

/// Where each handle came back: in a delivered capture, or in an event.
#[derive(Default, Debug)]
struct Ledger {
    returned: BTreeMap<(Kind, u32), u32>,
    pairs: Vec<(u32, u32)>,
    lone_captures: u64,
    released_alone_events: u64,
}

impl Ledger {
    fn capture(&mut self, capture: &Capture<u32, u32>) {
        if let Some(colour) = capture.colour() {
            *self
                .returned
                .entry((Kind::Colour, colour.handle))
                .or_default() += 1;
        }
        if let Some(depth) = capture.depth() {
            *self
                .returned
                .entry((Kind::Depth, depth.handle))
                .or_default() += 1;
        }
        match capture {
            Capture::Both { colour, depth } => self.pairs.push((colour.handle, depth.handle)),
            _ => self.lone_captures += 1,
        }
    }

    fn frame(&mut self, frame: &Frame<u32, u32>) {
        let key = match frame {
            Frame::Colour(image) => (Kind::Colour, image.handle),
            Frame::Depth(image) => (Kind::Depth, image.handle),
        };
        *self.returned.entry(key).or_default() += 1;
    }

    fn event(&mut self, event: &PairingEvent<u32, u32>) {
        match event {
            PairingEvent::DroppedEarlyDepth { depth } => {
                *self
                    .returned
                    .entry((Kind::Depth, depth.handle))
                    .or_default() += 1;
            }
            PairingEvent::ReleasedAlone { .. } => self.released_alone_events += 1,
            PairingEvent::PendingOverflow { .. } => {}
            PairingEvent::DiscardedUnpaired { frame }
            | PairingEvent::IgnoredNotRunning { frame }
            | PairingEvent::FlushedUnpaired { frame } => self.frame(frame),
            PairingEvent::OutputOverflow { dropped: capture }
            | PairingEvent::FlushedCapture { capture } => self.capture(capture),
        }
    }
}

/// What a run produced, with the invariants checked after every call.
struct Run {
    ledger: Ledger,
    pushed: BTreeMap<(Kind, u32), u32>,
    pairer: Pairer,
}

fn drain_events(pairer: &mut Pairer, ledger: &mut Ledger) {
    while let Some(event) = pairer.pop_event() {
        ledger.event(&event);
    }
}

fn check_bounds(pairer: &Pairer) -> Result<(), TestCaseError> {
    prop_assert!(pairer.output_len() <= SYNC_QUEUE_SIZE);
    let colour = pairer.held(FrameKind::Colour);
    let depth = pairer.held(FrameKind::Depth);
    prop_assert!(colour <= HELD_PER_STREAM && depth <= HELD_PER_STREAM);
    prop_assert!(
        colour == 0 || depth == 0,
        "both streams wait after a call: {colour} colour, {depth} depth"
    );
    Ok(())
}

/// Start, apply the ops (draining events after every call), then stop, and account for
/// every handle.
fn run(config: PairingConfig, ops: &[Op]) -> Result<Run, TestCaseError> {
    let mut pairer = Pairer::new();
    let mut ledger = Ledger::default();
    let mut pushed = BTreeMap::new();
    pairer.start(config);
    for op in ops {
        match *op {
            Op::Push {
                kind,
                device_ts_usec,
                id,
            } => {
                *pushed.entry((kind, id)).or_default() += 1;
                match kind {
                    Kind::Colour => pairer.push_colour(device_ts_usec, id),
                    Kind::Depth => pairer.push_depth(device_ts_usec, id),
                }
            }
            Op::Pop(n) => {
                for _ in 0..n {
                    if let Some(capture) = pairer.pop_capture() {
                        ledger.capture(&capture);
                    }
                }
            }
            Op::Failure => pairer.push_failure(),
            Op::Stop => pairer.stop(),
            Op::Start(config) => pairer.start(config),
        }
        drain_events(&mut pairer, &mut ledger);
        check_bounds(&pairer)?;
    }
    pairer.stop();
    drain_events(&mut pairer, &mut ledger);
    prop_assert_eq!(pairer.counters().events_lost, 0);
    Ok(Run {
        ledger,
        pushed,
        pairer,
    })
}

fn tolerance_usec(fps: Fps) -> u64 {
    match fps {
        Fps::Fps30 => 110,
        Fps::Fps15 => 220,
        Fps::Fps5 => 660,
    }
}

#[derive(Debug, Clone)]
struct Shape {
    drop_colour_pct: u32,
    drop_depth_pct: u32,
    max_pops: u8,
    synchronized_images_only: bool,
}

fn arb_fps() -> impl Strategy<Value = Fps> {
    prop::sample::select(Fps::ALL.to_vec())
}

/// A session from the simulated device.
fn arb_session(shape: Shape) -> impl Strategy<Value = Session> {
    (arb_fps(), 1usize..80, 0usize..4).prop_flat_map(move |(fps, periods, pre_reset)| {
        let period = u64::from(fps.period_usec());
        let tol = tolerance_usec(fps) as i64;
        let shape = shape.clone();
        (
            -(period as i32)..=(period as i32),
            0..(3 * period),
            prop::collection::vec(
                (
                    -tol..=tol,
                    0u32..100,
                    0u32..100,
                    0..=(2 * period),
                    0..=(2 * period),
                    0..=shape.max_pops,
                ),
                periods,
            ),
            prop::collection::vec(11 * period..u64::MAX / 2, pre_reset),
            any::<bool>(),
        )
            .prop_map(
                move |(delay, start_extra, frames, pre_reset_ts, tie_colour_first)| {
                    let c0 = period + 2 * tol as u64 + start_extra;
                    let mut arrivals: Vec<(u64, Kind, u64, u32)> = Vec::new();
                    for (i, ts) in pre_reset_ts.iter().enumerate() {
                        arrivals.push((i as u64, Kind::Depth, *ts, PRE_RESET_ID + i as u32));
                    }
                    let mut last_arrival = [0u64; 2];
                    for (k, &(jitter, drop_c, drop_d, lat_c, lat_d, _)) in frames.iter().enumerate()
                    {
                        let colour_ts = c0 + k as u64 * period;
                        let depth_ts = (colour_ts as i64 + i64::from(delay) + jitter) as u64;
                        for (kind, ts, latency, drop_roll, drop_pct) in [
                            (
                                Kind::Colour,
                                colour_ts,
                                lat_c,
                                drop_c,
                                shape.drop_colour_pct,
                            ),
                            (Kind::Depth, depth_ts, lat_d, drop_d, shape.drop_depth_pct),
                        ] {
                            if drop_roll < drop_pct {
                                continue;
                            }
                            let slot = &mut last_arrival[kind as usize];
                            *slot = (*slot).max(ts + latency + period);
                            arrivals.push((*slot, kind, ts, k as u32));
                        }
                    }
                    arrivals.sort_by_key(|&(arrival, kind, _, _)| {
                        (arrival, (kind == Kind::Colour) != tie_colour_first)
                    });
                    let mut ops = Vec::new();
                    for (i, &(_, kind, device_ts_usec, id)) in arrivals.iter().enumerate() {
                        ops.push(Op::Push {
                            kind,
                            device_ts_usec,
                            id,
                        });
                        let pops = frames.get(i % frames.len()).map_or(0, |f| f.5);
                        ops.push(Op::Pop(pops));
                    }
                    ops.push(Op::Pop(u8::MAX));
                    Session {
                        config: PairingConfig {
                            depth_delay_off_color_usec: delay,
                            synchronized_images_only: shape.synchronized_images_only,
                            ..PairingConfig::both_cameras(fps)
                        },
                        ops,
                    }
                },
            )
    })
}

fn arb_lossy_session() -> impl Strategy<Value = Session> {
    (0u32..60, 0u32..60, 0u8..3, any::<bool>()).prop_flat_map(|(c, d, pops, sync_only)| {
        arb_session(Shape {
            drop_colour_pct: c,
            drop_depth_pct: d,
            max_pops: pops,
            synchronized_images_only: sync_only,
        })
    })
}

fn arb_ts() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        0u64..2_500_000,
        any::<u64>(),
    ]
}

fn arb_config() -> impl Strategy<Value = PairingConfig> {
    (
        arb_fps(),
        prop_oneof![Just(i32::MIN), Just(i32::MAX), -200_000i32..=200_000],
        any::<[bool; 4]>(),
    )
        .prop_map(
            |(fps, delay, [colour, depth, sync_only, disable])| PairingConfig {
                fps,
                depth_delay_off_color_usec: delay,
                colour_enabled: colour,
                depth_enabled: depth,
                synchronized_images_only: sync_only,
                disable_synchronization: disable,
            },
        )
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), arb_ts(), any::<u32>()).prop_map(|(colour, device_ts_usec, id)| {
            Op::Push {
                kind: if colour { Kind::Colour } else { Kind::Depth },
                device_ts_usec,
                id,
            }
        }),
        3 => (0u8..4).prop_map(Op::Pop),
        1 => Just(Op::Failure),
        1 => Just(Op::Stop),
        1 => arb_config().prop_map(Op::Start),
    ]
}

/// Give every push a unique id so the ledger can tell frames apart.
fn with_unique_ids(mut ops: Vec<Op>) -> Vec<Op> {
    for (i, op) in ops.iter_mut().enumerate() {
        if let Op::Push { id, .. } = op {
            *id = i as u32;
        }
    }
    ops
}

fn assert_each_handle_returned_once(run: &Run) -> Result<(), TestCaseError> {
    prop_assert_eq!(&run.ledger.returned, &run.pushed);
    Ok(())
}

proptest! {
    #[test]
    fn every_capture_pairs_frames_of_the_same_period(session in arb_lossy_session()) {
        let run = run(session.config, &session.ops)?;
        for &(colour, depth) in &run.ledger.pairs {
            prop_assert_eq!(colour, depth, "colour of period {} paired with depth of {}", colour, depth);
            prop_assert!(colour < PRE_RESET_ID);
        }
    }

    #[test]
    fn no_frame_is_both_paired_and_released(session in arb_lossy_session()) {
        let run = run(session.config, &session.ops)?;
        assert_each_handle_returned_once(&run)?;
        let counters = run.pairer.counters();
        prop_assert_eq!(run.ledger.released_alone_events, counters.released_alone);
        prop_assert_eq!(run.ledger.lone_captures, counters.released_alone);
        if session.config.synchronized_images_only {
            prop_assert_eq!(counters.released_alone, 0);
        } else {
            prop_assert_eq!(counters.discarded_unpaired, 0);
        }
    }

    #[test]
    fn output_never_exceeds_capacity(
        session in arb_session(Shape {
            drop_colour_pct: 20,
            drop_depth_pct: 20,
            max_pops: 0,
            synchronized_images_only: false,
        })
    ) {
        let run = run(session.config, &session.ops)?;
        let counters = run.pairer.counters();
        let delivered = counters.paired + counters.released_alone;
        prop_assert_eq!(
            counters.output_overflows,
            delivered.saturating_sub(SYNC_QUEUE_SIZE as u64)
        );
    }

    #[test]
    fn lossless_streams_pair_every_period(
        session in arb_session(Shape {
            drop_colour_pct: 0,
            drop_depth_pct: 0,
            max_pops: u8::MAX,
            synchronized_images_only: true,
        })
    ) {
        let run = run(session.config, &session.ops)?;
        let periods = session
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Push { kind: Kind::Colour, .. }))
            .count();
        let expected: Vec<(u32, u32)> = (0..periods as u32).map(|k| (k, k)).collect();
        prop_assert_eq!(&run.ledger.pairs, &expected);
        prop_assert_eq!(run.pairer.counters().discarded_unpaired, 0);
    }

    #[test]
    fn arbitrary_event_sequences_never_panic(
        config in arb_config(),
        ops in prop::collection::vec(arb_op(), 0..200),
    ) {
        let ops = with_unique_ids(ops);
        let run = run(config, &ops)?;
        assert_each_handle_returned_once(&run)?;
    }
}
