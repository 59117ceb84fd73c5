//! The transport trait: how the host reaches one camera's two USB functions, whatever is on the
//! other end — a real camera through nusb, or the in-process device emulator.
//!
//! The trait speaks endpoints and bytes only (reference §1.2); the command transaction rules
//! (§2.3) and stream framing (§3.5, §4.4) live above it in the command and device
//! layers, so every transport is held to the same protocol code. Calls block with a
//! timeout; a real transport runs its async USB machinery underneath.

use std::time::Duration;

use k4sync_core::wire::command::Mcu;

pub mod nusb;
pub mod transcript;

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
}

impl Endpoint {
    /// The endpoint address on the wire.
    pub const fn address(self) -> u8 {
        match self {
            Endpoint::DepthCommandOut => 0x02,
            Endpoint::DepthResponseIn => 0x81,
            Endpoint::DepthStreamIn => 0x83,
            Endpoint::ColourCommandOut => 0x04,
            Endpoint::ColourResponseIn => 0x83,
            Endpoint::ImuStreamIn => 0x82,
        }
    }

    /// The USB function (and so MCU) this endpoint belongs to.
    pub const fn mcu(self) -> Mcu {
        match self {
            Endpoint::DepthCommandOut | Endpoint::DepthResponseIn | Endpoint::DepthStreamIn => {
                Mcu::Depth
            }
            Endpoint::ColourCommandOut | Endpoint::ColourResponseIn | Endpoint::ImuStreamIn => {
                Mcu::Colour
            }
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
        write!(f, "{function} endpoint {:#04x}", self.address())
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

    /// Whether the transfer may simply be re-armed (§3.5: only timeouts are).
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransferError::Timeout { .. })
    }
}

/// One camera's pair of USB functions as bulk endpoints.
pub trait Transport: Send {
    /// The colour function's USB string serial, which equals the depth MCU's product serial
    /// on a real camera (reference §1.3).
    fn usb_serial(&self) -> &str;

    /// Sends `data` as one bulk OUT transfer.
    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), TransferError>;

    /// wMaxPacketSize of `endpoint` as its descriptor states it (1024 at SuperSpeed). IN
    /// transfers are sized in whole packets of this length (see [`in_transfer_len`]).
    fn max_packet_size(&self, endpoint: Endpoint) -> usize;

    /// Runs one bulk IN transfer of at most `buf.len()` bytes and returns how many arrived.
    /// Callers size `buf` with [`in_transfer_len`]; a transport may refuse other lengths.
    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransferError>;
}

/// Length of an IN transfer that can take `wanted` bytes: rounded up to a non-zero multiple of
/// the endpoint's max packet size, as nusb requires of every IN transfer (nusb fact 1). A
/// max packet size of 0 (a broken descriptor) is treated as 1.
pub fn in_transfer_len(wanted: usize, max_packet_size: usize) -> usize {
    let packet = max_packet_size.max(1);
    wanted.max(1).div_ceil(packet).saturating_mul(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_transfer_len_is_a_non_zero_multiple_of_the_packet_size() {
        assert_eq!(in_transfer_len(0, 1024), 1024);
        assert_eq!(in_transfer_len(1, 1024), 1024);
        assert_eq!(in_transfer_len(16, 1024), 1024);
        assert_eq!(in_transfer_len(252, 1024), 1024);
        assert_eq!(in_transfer_len(1024, 1024), 1024);
        assert_eq!(in_transfer_len(10_240, 1024), 10_240);
        assert_eq!(in_transfer_len(2_000_000, 1024), 2_000_896);
        assert_eq!(in_transfer_len(255, 512), 512);
        assert_eq!(in_transfer_len(5_310_760, 1024), 5_311_488);
        assert_eq!(in_transfer_len(7, 0), 7);
    }
}
