//! # k4sync-core
//!
//! The sans-IO heart of k4sync: everything about an Azure Kinect DK that can be computed from
//! bytes and time alone, with no I/O, no allocation and no `unsafe`, so the same code runs on
//! a Linux SBC, under test on a desktop and on a microcontroller.
//!
//! * [`types`] — the configuration vocabulary (depth mode, colour resolution and format, fps,
//!   wired sync mode) with SDK values, wire values and SDK spellings.
//! * [`colour_control`] — colour exposure and gain as the SDK sets them over UVC: the `-e`
//!   value rules, the exposure table, the read-back check (reference §5.5).
//! * [`time`] — the 90 kHz device clock and its exact conversions (reference §6.2).
//! * [`error`] — the wire codec's error type.
//! * [`wire`] — typed views and owned representations of every packet the device exchanges
//!   over USB: commands, responses, their payloads, IMU packets, UVC payload headers and
//!   metadata, the raw-depth trailer, the firmware package header.
//! * [`sync`] — decisions over a rig: configuration validation, the sync-jack state machine,
//!   rig planning (topology, depth interleaving, start order), colour/depth capture pairing
//!   and cross-device frame-set alignment.
//! * `sim` (feature `sim`) — a deterministic rig simulator: oscillators, the sync cable, faults.
//! * `emu` (feature `emulator`) — a byte-level model of the device answering the USB protocol.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod colour_control;
pub mod error;
pub mod sync;
pub mod time;
pub mod types;
pub mod wire;

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(feature = "emulator")]
pub mod emu;

pub use error::WireError;
