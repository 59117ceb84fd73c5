//! # k4sync-host
//!
//! The std side of k4sync: the only crate that performs I/O. It binds `k4sync-core` to real
//! transports (USB through nusb, colour through V4L2) and to the in-process emulator, and holds
//! the recorder and the Matroska writer/reader. The `k4sync` command line is the `k4sync`
//! package (`cli/`), built on this library.

pub use k4sync_core as core;

pub mod buffers;
pub mod colour;
pub mod command;
pub mod device;
pub mod discovery;
pub mod error;
pub mod framing;
pub mod mkv;
pub mod record;
pub mod sync_behind;
pub mod transport;
