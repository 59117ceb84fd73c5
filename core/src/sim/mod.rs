//! A deterministic simulator of a wired-sync rig: oscillators, the sync cable, the frames each
//! device stamps and scripted faults, with the ground truth of every frame (reference §6, §10).
//!
//! It exists so the sync engine can be tested against rigs nobody has on a desk (nine devices,
//! ±100 ppm oscillators, a subordinate restarted mid-session) and so the device emulator can ask
//! what a device produces at a given time. Everything is a pure function of a [`RigConfig`], a
//! fault script and a `u64` seed: no allocation, no clock, no I/O.
//!
//! * [`rng`] — SplitMix64, the only source of randomness.
//! * [`clock`] — oscillators (offset, drift, jitter), tick quantisation, the zeroing rule choice.
//! * [`cable`] — daisy chain and star topologies with per-hop delay.
//! * [`fault`] — the scriptable faults.
//! * [`rig`] — the rig, its event stream and the per-device view.

pub mod cable;
pub mod clock;
pub mod fault;
pub mod rig;
pub mod rng;

pub use cable::{Cable, Topology, MASTER};
pub use clock::{ClockMode, Oscillator};
pub use fault::{Fault, FrameDefect, ScheduledFault};
pub use rig::{
    DeviceSim, Events, LossCause, Pulse, Rig, RigConfig, SimError, SimEvent, SimFrame, MAX_DEVICES,
};
pub use rng::SplitMix64;
