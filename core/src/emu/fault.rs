//! Transfer failures and the fault hooks a test scripts into an emulated device (its endpoints
//! are [`wire::usb::Endpoint`](crate::wire::usb::Endpoint)s).
//!
//! A fault is armed with [`Device::inject`](super::Device::inject) and fires on the next
//! matching call; the failure comes back as the [`TransferError`] a USB stack would report,
//! so a host transport over the emulator surfaces it exactly as it would a real one.

use core::fmt;

use crate::wire::command::Mcu;
pub use crate::wire::usb::Endpoint;

/// Slot of an endpoint in the per-endpoint fault table.
const ENDPOINT_COUNT: usize = 7;

const fn endpoint_index(endpoint: Endpoint) -> usize {
    match endpoint {
        Endpoint::DepthCommandOut => 0,
        Endpoint::DepthResponseIn => 1,
        Endpoint::DepthStreamIn => 2,
        Endpoint::ColourCommandOut => 3,
        Endpoint::ColourResponseIn => 4,
        Endpoint::ImuStreamIn => 5,
        Endpoint::ColourVideo => 6,
    }
}

/// A device stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stream {
    Depth,
    Colour,
    Imu,
}

impl Stream {
    pub(crate) const COUNT: usize = 3;

    pub(crate) const fn index(self) -> usize {
        match self {
            Stream::Depth => 0,
            Stream::Colour => 1,
            Stream::Imu => 2,
        }
    }

    pub const fn endpoint(self) -> Endpoint {
        match self {
            Stream::Depth => Endpoint::DepthStreamIn,
            Stream::Colour => Endpoint::ColourVideo,
            Stream::Imu => Endpoint::ImuStreamIn,
        }
    }
}

/// How one transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransferError {
    /// The device sent nothing; the host's transfer runs into its timeout.
    Timeout { endpoint: Endpoint },
    /// The endpoint answered with a STALL handshake.
    Stall { endpoint: Endpoint },
    /// The device is unplugged: every later call fails this way.
    Gone { endpoint: Endpoint },
    /// The device had more bytes than the host's transfer could take.
    Overflow {
        endpoint: Endpoint,
        capacity: usize,
        got: usize,
    },
}

impl TransferError {
    pub const fn endpoint(&self) -> Endpoint {
        match *self {
            TransferError::Timeout { endpoint }
            | TransferError::Stall { endpoint }
            | TransferError::Gone { endpoint }
            | TransferError::Overflow { endpoint, .. } => endpoint,
        }
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Timeout { endpoint } => write!(f, "{endpoint}: no data, timed out"),
            TransferError::Stall { endpoint } => write!(f, "{endpoint}: stalled"),
            TransferError::Gone { endpoint } => write!(f, "{endpoint}: device is gone"),
            TransferError::Overflow {
                endpoint,
                capacity,
                got,
            } => write!(
                f,
                "{endpoint}: device had {got} bytes for a {capacity}-byte transfer"
            ),
        }
    }
}

impl core::error::Error for TransferError {}

/// A scripted failure, armed with [`Device::inject`](super::Device::inject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// The next transfer on this endpoint is answered with a STALL (one shot; a stall on a
    /// response endpoint also abandons the transaction in progress, one on a stream endpoint
    /// fires with the next frame or packet, which is lost with the transfer it was in).
    Stall(Endpoint),
    /// The next well-formed command to this MCU is executed but its status is never sent.
    CommandTimeout(Mcu),
    /// The next frame or packet of the stream is cut short (half a frame; 27 bytes of IMU).
    ShortFrame(Stream),
    /// The next frame or packet is longer than it should be: it fills the host's whole
    /// transfer if that is larger, otherwise the transfer overflows.
    OversizedFrame(Stream),
    /// The device disappears from the bus for good.
    Unplug,
    /// The next `count` frames or packets of the stream are produced but never delivered.
    DropFrames { stream: Stream, count: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Faults {
    gone: bool,
    stall: [bool; ENDPOINT_COUNT],
    silent: [bool; 2],
    short: [bool; Stream::COUNT],
    oversized: [bool; Stream::COUNT],
    drop: [u32; Stream::COUNT],
}

impl Faults {
    /// Whether the device is unplugged (every later call fails).
    pub(crate) fn is_gone(&self) -> bool {
        self.gone
    }

    pub(crate) fn arm(&mut self, fault: Fault) {
        match fault {
            Fault::Stall(endpoint) => set(&mut self.stall, endpoint_index(endpoint), true),
            Fault::CommandTimeout(mcu) => set(&mut self.silent, mcu_index(mcu), true),
            Fault::ShortFrame(stream) => set(&mut self.short, stream.index(), true),
            Fault::OversizedFrame(stream) => set(&mut self.oversized, stream.index(), true),
            Fault::Unplug => self.gone = true,
            Fault::DropFrames { stream, count } => {
                if let Some(n) = self.drop.get_mut(stream.index()) {
                    *n = n.saturating_add(count);
                }
            }
        }
    }

    /// Fails the call with Gone or a one-shot stall armed on `endpoint`.
    pub(crate) fn check(&mut self, endpoint: Endpoint) -> Result<(), TransferError> {
        self.check_gone(endpoint)?;
        self.check_stall(endpoint)
    }

    /// Fails the call with Gone once the device is unplugged.
    pub(crate) fn check_gone(&self, endpoint: Endpoint) -> Result<(), TransferError> {
        if self.gone {
            return Err(TransferError::Gone { endpoint });
        }
        Ok(())
    }

    /// Fails the call with the one-shot stall armed on `endpoint`, if any.
    pub(crate) fn check_stall(&mut self, endpoint: Endpoint) -> Result<(), TransferError> {
        if take(&mut self.stall, endpoint_index(endpoint)) {
            return Err(TransferError::Stall { endpoint });
        }
        Ok(())
    }

    pub(crate) fn take_silent(&mut self, mcu: Mcu) -> bool {
        take(&mut self.silent, mcu_index(mcu))
    }

    pub(crate) fn take_short(&mut self, stream: Stream) -> bool {
        take(&mut self.short, stream.index())
    }

    pub(crate) fn take_oversized(&mut self, stream: Stream) -> bool {
        take(&mut self.oversized, stream.index())
    }

    pub(crate) fn take_drop(&mut self, stream: Stream) -> bool {
        match self.drop.get_mut(stream.index()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

pub(crate) const fn mcu_index(mcu: Mcu) -> usize {
    match mcu {
        Mcu::Depth => 0,
        Mcu::Colour => 1,
    }
}

fn set<const N: usize>(flags: &mut [bool; N], at: usize, value: bool) {
    if let Some(flag) = flags.get_mut(at) {
        *flag = value;
    }
}

fn take<const N: usize>(flags: &mut [bool; N], at: usize) -> bool {
    flags.get_mut(at).map(core::mem::take).unwrap_or(false)
}
