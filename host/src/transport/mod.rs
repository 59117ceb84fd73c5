//! The transport trait: how the host reaches one camera's two USB functions, whatever is on the
//! other end — a real camera through nusb, or the in-process device emulator.
//!
//! The trait speaks endpoints and bytes only (reference §1.2); the command transaction rules
//! (§2.3) and stream framing (§3.5, §4.4) live above it in the command and device
//! layers, so every transport is held to the same protocol code. Calls block with a
//! timeout; a real transport runs its async USB machinery underneath.
//!
//! Streams are handed out as owned handles ([`StreamIn`], [`ColourStream`]) rather than read
//! through the transport itself, so the device layer can move each one into its own reader
//! thread while the command channel keeps the transport. Dropping a handle stops the stream
//! (cancels its transfers, or turns the UVC stream off). Every chunk and colour frame carries
//! the host arrival time from [`Transport::host_now_ns`], which is the host monotonic clock
//! for a real camera and the emulator's virtual clock for an emulated one.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use k4sync_core::colour_control::ColourControls;
use k4sync_core::time::Ticks90k;
use k4sync_core::types::{ColorFormat, ColorResolution, Fps};

use crate::error::Error;

#[cfg(feature = "emulator")]
pub mod emulated;
pub mod nusb;
#[cfg(feature = "emulator")]
mod pulse_line;
pub mod transcript;

pub use crate::buffers::BufferPool;
pub use crate::transfer::{Endpoint, TransferError};

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

    /// Arms `in_flight` bulk IN transfers of `transfer_len` bytes on a stream endpoint
    /// (depth 0x83, IMU 0x82) and hands back the stream; dropping it cancels them.
    fn open_stream(
        &mut self,
        endpoint: Endpoint,
        transfer_len: usize,
        in_flight: usize,
    ) -> Result<Box<dyn StreamIn>, Error> {
        let _ = (transfer_len, in_flight);
        Err(Error::Unavailable {
            what: format!("streaming on {endpoint} through this transport"),
        })
    }

    /// Turns the colour camera's video stream on (reference §5.3); dropping the returned
    /// stream turns it off. On a master or standalone camera this zeroes the device clock.
    fn start_colour(&mut self, mode: ColourMode) -> Result<Box<dyn ColourStream>, Error> {
        let _ = mode;
        Err(Error::Unavailable {
            what: "the colour camera through this transport".into(),
        })
    }

    /// Sets the colour camera's exposure and gain (reference §5.5) and returns them as the
    /// camera reports them afterwards; fails naming the control the camera did not take.
    fn set_colour_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        let _ = controls;
        Err(Error::Unavailable {
            what: "colour controls through this transport".into(),
        })
    }

    /// Host monotonic time in ns, the clock every chunk's and frame's arrival is stamped with.
    fn host_now_ns(&self) -> u64 {
        monotonic_ns()
    }

    /// How to pause between readiness polls: a real sleep, or advancing a virtual clock.
    fn sleeper(&self) -> Box<dyn FnMut(Duration) + Send> {
        Box::new(std::thread::sleep)
    }

    /// [`Self::host_now_ns`] for another thread (the stream readers time stalls with it).
    fn clock(&self) -> Box<dyn Fn() -> u64 + Send> {
        Box::new(monotonic_ns)
    }

    /// Whether time only moves when the host waits (an emulator on a virtual clock). The
    /// device layer then applies back-pressure instead of dropping when its queue is full,
    /// so nothing is lost to the host running slower than simulated time.
    fn virtual_time(&self) -> bool {
        false
    }

    /// This camera's pool of frame buffers, which its streams copy into and the device layer
    /// and the recorder's writer give back to (see [`BufferPool`]). A transport that copies no
    /// frames gets a fresh one: the device asks once.
    fn buffers(&self) -> Arc<BufferPool> {
        BufferPool::for_camera()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn usb_serial(&self) -> &str {
        (**self).usb_serial()
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), TransferError> {
        (**self).bulk_out(endpoint, data, timeout)
    }

    fn max_packet_size(&self, endpoint: Endpoint) -> usize {
        (**self).max_packet_size(endpoint)
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransferError> {
        (**self).bulk_in(endpoint, buf, timeout)
    }

    fn open_stream(
        &mut self,
        endpoint: Endpoint,
        transfer_len: usize,
        in_flight: usize,
    ) -> Result<Box<dyn StreamIn>, Error> {
        (**self).open_stream(endpoint, transfer_len, in_flight)
    }

    fn start_colour(&mut self, mode: ColourMode) -> Result<Box<dyn ColourStream>, Error> {
        (**self).start_colour(mode)
    }

    fn set_colour_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        (**self).set_colour_controls(controls)
    }

    fn host_now_ns(&self) -> u64 {
        (**self).host_now_ns()
    }

    fn sleeper(&self) -> Box<dyn FnMut(Duration) + Send> {
        (**self).sleeper()
    }

    fn clock(&self) -> Box<dyn Fn() -> u64 + Send> {
        (**self).clock()
    }

    fn virtual_time(&self) -> bool {
        (**self).virtual_time()
    }

    fn buffers(&self) -> Arc<BufferPool> {
        (**self).buffers()
    }
}

/// Nanoseconds on the host monotonic clock since the first time this process asked.
pub fn monotonic_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One completed stream transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// The transfer ended on a short packet, i.e. the device's write is over (§3.5).
    pub ended_short: bool,
    /// Host monotonic time of the completion, ns.
    pub host_ns: u64,
}

/// An armed bulk IN stream. Dropping it cancels its transfers.
pub trait StreamIn: Send {
    /// The endpoint the stream reads.
    fn endpoint(&self) -> Endpoint;

    /// Waits at most `timeout` for the next completed transfer. A
    /// [`TransferError::Timeout`] leaves everything armed; any other error retired one
    /// transfer for good (§3.5), and with [`Self::in_flight`] at 0 the stream is over.
    fn next_chunk(&mut self, timeout: Duration) -> Result<Chunk, TransferError>;

    /// Transfers still armed.
    fn in_flight(&self) -> usize;

    /// Recovers from a [`TransferError::Stall`]: cancels the transfers still pending (the
    /// halted endpoint fails them too), clears the halt on both sides (CLEAR_FEATURE
    /// ENDPOINT_HALT, which also resets the data toggle) and arms the stream's full count of
    /// transfers again. Data that completed before the cancellation is still delivered. A
    /// transport that cannot clear a halt says so with an error and the stream stays as it is.
    fn clear_halt(&mut self) -> Result<(), TransferError> {
        Err(TransferError::Io {
            endpoint: self.endpoint(),
            message: "this transport cannot clear a halted stream endpoint".into(),
        })
    }
}

/// A colour camera mode as the UVC negotiation asks for it (reference §5.2–5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColourMode {
    pub format: ColorFormat,
    pub resolution: ColorResolution,
    pub fps: Fps,
}

/// Where a colour frame's device timestamp came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimestampSource {
    /// The frame-align-info item of the Microsoft UVC metadata (reference §5.4).
    UvcMetadata,
    /// No usable metadata reached the host; the frame has no device timestamp.
    Unavailable,
}

/// One whole colour frame as the video stream delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourFrame {
    /// Image bytes as received (JPEG for MJPG/BGRA32, raw planes for NV12/YUY2).
    pub data: Vec<u8>,
    /// The frame PTS of the metadata, `None` if absent or 0 (such frames are dropped, §5.4).
    pub device_ticks: Option<Ticks90k>,
    /// Host monotonic time the frame's last payload arrived, ns.
    pub host_ns: u64,
    pub timestamp_source: TimestampSource,
}

/// A running colour video stream. Dropping it turns the stream off.
pub trait ColourStream: Send {
    /// Waits at most `timeout` for the next whole frame; [`TransferError::Timeout`] is
    /// recoverable, [`TransferError::Disconnected`] ends the stream.
    fn next_frame(&mut self, timeout: Duration) -> Result<ColourFrame, TransferError>;

    /// Recovers from a [`TransferError::Stall`] as [`StreamIn::clear_halt`] does. Over V4L2
    /// the kernel's UVC driver owns the endpoint, so by default a colour stream cannot.
    fn clear_halt(&mut self) -> Result<(), TransferError> {
        Err(TransferError::Io {
            endpoint: Endpoint::ColourVideo,
            message: "the colour stream cannot clear a halt (the UVC driver owns it)".into(),
        })
    }
}

/// What a real camera's colour path provides (the V4L2 module plugs in here, see
/// [`nusb::NusbTransport::set_colour_source`]): start the video stream of this camera.
pub trait ColourSource: Send {
    /// Sets exposure and gain; see [`Transport::set_colour_controls`].
    fn set_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        let _ = controls;
        Err(Error::Unavailable {
            what: "colour controls through this colour source".into(),
        })
    }

    /// Starts the video stream; its frames are copied into `buffers`, the camera's pool.
    fn start(
        &mut self,
        mode: ColourMode,
        buffers: &Arc<BufferPool>,
    ) -> Result<Box<dyn ColourStream>, Error>;
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
