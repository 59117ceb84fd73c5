//! Errors of the wire codec: every variant names the packet, the field and the lengths or
//! values involved, so a malformed transfer can be reported precisely ("IMU packet: accel
//! samples need 252 bytes, got 180").
//!
//! The sync engine has its own error types next to the rules they name (`sync::config`,
//! `sync::plan`); this module holds only what the byte-level layer can report.

use core::fmt;

/// A byte-level decoding or encoding failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// The buffer is shorter than the structure (or the part named by `field`) needs.
    Truncated {
        packet: &'static str,
        field: &'static str,
        needed: usize,
        got: usize,
    },
    /// The buffer is longer than the structure allows.
    TooLong {
        packet: &'static str,
        max: usize,
        got: usize,
    },
    /// A constant field (magic, signature) does not hold its expected value.
    BadMagic {
        packet: &'static str,
        field: &'static str,
        expected: u32,
        found: u32,
    },
    /// A field's value is outside the range this structure allows.
    BadValue {
        packet: &'static str,
        field: &'static str,
        value: u64,
    },
    /// An emit target buffer is too small for the representation.
    BufferTooSmall {
        packet: &'static str,
        needed: usize,
        got: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated {
                packet,
                field,
                needed,
                got,
            } => write!(f, "{packet}: {field} needs {needed} bytes, got {got}"),
            WireError::TooLong { packet, max, got } => {
                write!(f, "{packet}: at most {max} bytes allowed, got {got}")
            }
            WireError::BadMagic {
                packet,
                field,
                expected,
                found,
            } => write!(
                f,
                "{packet}: {field} is {found:#010x}, expected {expected:#010x}"
            ),
            WireError::BadValue {
                packet,
                field,
                value,
            } => write!(
                f,
                "{packet}: {field} has invalid value {value} ({value:#x})"
            ),
            WireError::BufferTooSmall {
                packet,
                needed,
                got,
            } => write!(
                f,
                "{packet}: output buffer of {got} bytes is too small, {needed} needed"
            ),
        }
    }
}

impl core::error::Error for WireError {}

/// Result of a wire operation.
pub type Result<T> = core::result::Result<T, WireError>;
