//! # k4sync-gadget
//!
//! The device emulator as a real USB device: the no_std model in [`k4sync_core::emu`] served
//! over the Linux USB gadget stack (configfs + FunctionFS), so the host's nusb transport can
//! be tested against a real kernel USB stack (`dummy_hcd` in a VM, `scripts/vm-usb/`,
//! `docs/testing.md`).
//!
//! [`descriptors`] builds the FunctionFS blocks (portable, unit-tested anywhere);
//! [`serve`] (Linux only) sets the gadget up and moves the bytes. The binaries are
//! `k4sync-gadget` (the server) and `k4sync-uevent-relay` (udev-format uevents inside the VM);
//! `tests/vm_usb.rs` runs the kernel-USB scenarios against them.
//!
//! A test tool, not part of the library: nothing in `k4sync-host` depends on it.

pub mod descriptors;
#[cfg(target_os = "linux")]
pub mod serve;
