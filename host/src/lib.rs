//! # k4sync-host
//!
//! The std side of k4sync: the only crate that performs I/O. It binds `k4sync-core` to real
//! transports (USB through nusb, colour through V4L2) and to the in-process emulator, and holds
//! the recorder, the Matroska writer/reader and the `k4sync` command line.

pub use k4sync_core as core;

pub mod buffers;
pub mod cli;
pub mod colour;
pub mod command;
pub mod demo;
pub mod depth;
pub mod depth_engine;
pub mod device;
pub mod discovery;
pub mod error;
pub mod framing;
#[cfg(feature = "gadget")]
pub mod gadget;
pub mod mkv;
pub mod record;
pub mod sync_behind;
pub mod transport;
