//! # k4sync-host
//!
//! The std side of k4sync: the only crate that performs I/O. It binds `k4sync-core` to real
//! transports (USB through nusb, colour through V4L2) and, with the `emulator` feature, to the
//! in-process device emulator, and holds the recorder and the Matroska writer/reader. The
//! `k4sync` command line is the `k4sync` package (`cli/`), built on this library.
//!
//! The surface is small on purpose:
//!
//! - [`Device`]: open one camera ([`Selector`]), read its identity and calibration, start it with
//!   a `DeviceConfig`, and take [`Event`]s ([`Capture`]s, [`ImuSample`]s, drops) until it stops.
//!   [`list`] reports the cameras on the bus ([`Source`]).
//! - [`transport`]: what a [`Device`] talks through — [`transport::nusb`] for a real camera,
//!   `transport::emulated` (feature `emulator`) for the byte-exact emulator,
//!   [`transport::transcript`] to record and replay a session.
//! - [`record()`] / [`record_to_file`] with [`RecordOptions`]: capture → bounded queue → writer,
//!   into any [`Durable`] sink.
//! - [`mkv`]: the k4arecorder-compatible Matroska writer, reader and repair.
//! - [`Error`] (device, USB and file errors, with the [`Phase`] they happened in) and
//!   [`RecordError`].
//!
//! [`CommandChannel`] is the raw command transaction layer below [`Device`], for tools and
//! tests that speak single commands.

pub use k4sync_core as core;

pub mod align;
mod budget;
mod buffers;
mod colour;
mod command;
pub mod depth;
pub mod depth_engine;
mod device;
mod discovery;
mod error;
mod framing;
pub mod mkv;
mod record;
mod stall;
mod sync_behind;
mod transfer;
pub mod transport;

pub use command::{CommandChannel, DepthStopStatus};
pub use device::{
    Capture, ColourImage, Device, DropReason, Event, ImuSample, RawDepthFrame, Selector,
    StreamStats,
};
pub use discovery::{list, CameraReport, DeviceFacts, Source};
pub use error::{Error, Phase};
pub use k4sync_core::colour_control::{ColourControls, Exposure};
#[cfg(feature = "emulator")]
pub use record::VirtualMaster;
pub use record::{
    create_output, record, record_to_file, validate_without_jack, DeviceNotice, DropPolicy,
    Durable, RecordError, RecordOptions, RecordStats, StreamTimes, Summary, SyncState,
    WriterProgress, EXPOSURE_TAG, GAIN_TAG, IMU_BEFORE_FIRST_IMAGE,
};
pub use stall::StallPolicy;
pub use sync_behind::SyncBehind;
