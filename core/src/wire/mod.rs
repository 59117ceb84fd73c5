//! Typed views and owned representations of every structure the device exchanges over USB.
//!
//! Shaped after smoltcp's `wire`: a *view* (`Packet<T: AsRef<[u8]>>`) gives zero-copy access
//! to fields at named offsets over a borrowed buffer and checks its length once in
//! `new_checked`; a *representation* (`…Repr`) is the owned, validated meaning, with
//! `parse(&view)`, `emit(&self, &mut view)` and `buffer_len()`. Both directions live together
//! so the host and the device emulator share one definition of every byte.
//!
//! Views, their field accessors, fixed-size representations and enums are generated from one
//! table each (`macros.rs`: `view!`, `fields!`, `enum_with_unknown!`, `enum_with_info!`), so a
//! packet reads like its spec table and a field's type fixes its width. [`usb`] holds the
//! camera's USB identity.
//!
//! All multi-byte integers are little-endian (reference, conventions). Parsers never panic,
//! never read out of bounds and never allocate; every failure is a [`WireError`] naming the
//! packet and field.
//!
//! [`WireError`]: crate::WireError

#[macro_use]
mod macros;
pub mod field;

pub mod colour_mcu;
pub mod command;
pub mod depth_mcu;
pub mod depth_trailer;
pub mod firmware;
pub mod imu;
pub mod response;
pub mod usb;
pub mod uvc;
