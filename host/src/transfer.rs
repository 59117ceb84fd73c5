//! The camera's bulk endpoints by role and what can go wrong on one transfer (reference §1.2,
//! §3.5). A leaf module: the transports, the error type and the transcript all name endpoints
//! and transfer failures, so these two types depend on nothing else in the crate (as nusb
//! keeps its `transfer` module free of its error type), and `crate::error` can carry them
//! without an import cycle.

use std::time::Duration;

use k4sync_core::wire::command::Mcu;

/// A bulk endpoint of the camera, named after its role (reference §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// 0x02 OUT on the depth function: command packets and write data.
    DepthCommandOut,
    /// 0x81 IN on the depth function: read data and 16-byte responses.
    DepthResponseIn,
    /// 0x83 IN on the depth function: raw depth frames.
    DepthStreamIn,
    /// 0x04 OUT on the colour function: command packets and write data.
    ColourCommandOut,
    /// 0x83 IN on the colour function: read data and responses.
    ColourResponseIn,
    /// 0x82 IN on the colour function: IMU packets.
    ImuStreamIn,
    /// The UVC video stream of the colour function (V4L2 on a real camera; its endpoint
    /// address is whatever the UVC descriptors say).
    ColourVideo,
}

impl Endpoint {
    /// The endpoint address on the wire; `None` for the UVC video stream.
    pub const fn address(self) -> Option<u8> {
        match self {
            Endpoint::DepthCommandOut => Some(0x02),
            Endpoint::DepthResponseIn => Some(0x81),
            Endpoint::DepthStreamIn => Some(0x83),
            Endpoint::ColourCommandOut => Some(0x04),
            Endpoint::ColourResponseIn => Some(0x83),
            Endpoint::ImuStreamIn => Some(0x82),
            Endpoint::ColourVideo => None,
        }
    }

    /// The USB function (and so MCU) this endpoint belongs to.
    pub const fn mcu(self) -> Mcu {
        match self {
            Endpoint::DepthCommandOut | Endpoint::DepthResponseIn | Endpoint::DepthStreamIn => {
                Mcu::Depth
            }
            Endpoint::ColourCommandOut
            | Endpoint::ColourResponseIn
            | Endpoint::ImuStreamIn
            | Endpoint::ColourVideo => Mcu::Colour,
        }
    }

    /// The command OUT endpoint of an MCU.
    pub const fn command_out(mcu: Mcu) -> Endpoint {
        match mcu {
            Mcu::Depth => Endpoint::DepthCommandOut,
            Mcu::Colour => Endpoint::ColourCommandOut,
        }
    }

    /// The response IN endpoint of an MCU.
    pub const fn response_in(mcu: Mcu) -> Endpoint {
        match mcu {
            Mcu::Depth => Endpoint::DepthResponseIn,
            Mcu::Colour => Endpoint::ColourResponseIn,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let function = match self.mcu() {
            Mcu::Depth => "depth",
            Mcu::Colour => "colour",
        };
        match self.address() {
            Some(address) => write!(f, "{function} endpoint {address:#04x}"),
            None => f.write_str("colour UVC stream"),
        }
    }
}

/// What can go wrong on one transfer. Timeouts are recoverable on streams (§3.5); the others
/// end the transfer for good.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    #[error("{endpoint}: transfer timed out after {timeout:?}")]
    Timeout {
        endpoint: Endpoint,
        timeout: Duration,
    },
    #[error("{endpoint}: endpoint stalled")]
    Stall { endpoint: Endpoint },
    #[error("{endpoint}: device is gone (unplugged or reset)")]
    Disconnected { endpoint: Endpoint },
    #[error("{endpoint}: device sent {got} bytes into a {capacity}-byte transfer")]
    Overflow {
        endpoint: Endpoint,
        capacity: usize,
        got: usize,
    },
    #[error("{endpoint}: I/O error: {message}")]
    Io { endpoint: Endpoint, message: String },
}

impl TransferError {
    /// The endpoint the failed transfer was on.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            TransferError::Timeout { endpoint, .. }
            | TransferError::Stall { endpoint }
            | TransferError::Disconnected { endpoint }
            | TransferError::Overflow { endpoint, .. }
            | TransferError::Io { endpoint, .. } => *endpoint,
        }
    }

    /// The kind of failure as one word: `timeout`, `stall`, `disconnected`, `overflow`, `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransferError::Timeout { .. } => "timeout",
            TransferError::Stall { .. } => "stall",
            TransferError::Disconnected { .. } => "disconnected",
            TransferError::Overflow { .. } => "overflow",
            TransferError::Io { .. } => "io",
        }
    }

    /// Whether the transfer may simply be re-armed (§3.5: only timeouts are).
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransferError::Timeout { .. })
    }
}
