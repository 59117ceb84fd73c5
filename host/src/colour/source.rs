//! The V4L2 colour path as a real camera's [`ColourSource`] (reference §5, §6.3).
//!
//! A camera opened through nusb claims only the two MCU interfaces; its UVC video stream
//! belongs to `uvcvideo`. [`V4l2ColourSource`] remembers which colour function the transport
//! opened (its bus path, and its USB serial = camera serial, §1.3) and, each time the device
//! layer turns colour on, finds that function's V4L2 nodes, negotiates the mode and hands back
//! a [`V4l2ColourStream`]. Nothing touches V4L2 or sysfs before that, so configurations with
//! colour off never need the video nodes. [`attach`] plugs it into a [`NusbTransport`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use k4sync_core::colour_control::ColourControls;

use crate::error::Error;
use crate::transport::nusb::{FunctionInfo, NusbTransport};
use crate::transport::{
    BufferPool, ColourFrame, ColourMode, ColourSource, ColourStream, Endpoint, TransferError,
    Transport,
};

use super::discovery::SysfsRoots;
use super::{ColourCamera, ColourProblem, ColourSelector, V4l2Frame};

/// Consecutive non-timeout failures after which a stream reports the camera gone.
pub const FAILURES_BEFORE_GONE: u32 = 3;

/// Starts one camera's colour stream through V4L2 when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2ColourSource {
    camera: ColourSelector,
    serial: Option<String>,
    roots: SysfsRoots,
}

impl V4l2ColourSource {
    /// The camera `camera` selects, named `serial` in errors, with nodes found under `roots`.
    pub fn new(camera: ColourSelector, serial: Option<String>, roots: SysfsRoots) -> Self {
        V4l2ColourSource {
            camera,
            serial,
            roots,
        }
    }

    /// The colour function nusb opened: matched by its bus path, which names the very USB
    /// device in sysfs, or by its USB serial when the bus path is unknown.
    pub fn for_function(colour: &FunctionInfo, roots: SysfsRoots) -> Self {
        let camera = if !colour.port_chain.is_empty() && !colour.bus_id.is_empty() {
            ColourSelector::UsbPath(colour.bus_path())
        } else if let Some(serial) = &colour.usb_serial {
            ColourSelector::Serial(serial.clone())
        } else {
            ColourSelector::First
        };
        Self::new(camera, colour.usb_serial.clone(), roots)
    }

    /// Which nodes `start` looks for.
    #[cfg(test)]
    pub fn selector(&self) -> &ColourSelector {
        &self.camera
    }

    fn named(&self, error: Error) -> Error {
        match error {
            Error::Colour {
                serial: None,
                node,
                problem,
            } => Error::Colour {
                serial: self.serial.clone(),
                node,
                problem,
            },
            other => other,
        }
    }
}

impl ColourSource for V4l2ColourSource {
    fn set_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        let mut camera =
            ColourCamera::open_in(&self.camera, &self.roots).map_err(|e| self.named(e))?;
        let applied = camera.set_controls(controls).map_err(|e| self.named(e))?;
        log::info!(
            "colour controls for camera {}: exposure {}, gain {:?}",
            self.serial.as_deref().unwrap_or("?"),
            applied.exposure,
            applied.gain,
        );
        Ok(applied)
    }

    fn start(
        &mut self,
        mode: ColourMode,
        buffers: &Arc<BufferPool>,
    ) -> Result<Box<dyn ColourStream>, Error> {
        let mut camera =
            ColourCamera::open_in(&self.camera, &self.roots).map_err(|e| self.named(e))?;
        camera.share_buffers(buffers);
        camera
            .start(mode.format, mode.resolution, mode.fps)
            .map_err(|e| self.named(e))?;
        log::info!(
            "colour for camera {}: {} ({:?}), metadata {:?}",
            self.serial.as_deref().unwrap_or("?"),
            camera.capture_path().display(),
            camera.mode(),
            camera.metadata_layout(),
        );
        Ok(Box::new(V4l2ColourStream::new(camera)))
    }
}

/// Plugs the V4L2 colour path of the camera `transport` opened into it (sysfs from
/// `K4SYNC_SYSFS_ROOT` or `/sys`).
pub fn attach(transport: &mut NusbTransport) {
    let mut source =
        V4l2ColourSource::for_function(transport.colour_function(), SysfsRoots::from_env());
    if source.serial.is_none() {
        source.serial = Some(transport.usb_serial().to_string());
    }
    transport.set_colour_source(Box::new(source));
}

/// [`attach`], by value: what [`Device::open`](crate::device::Device::open) does to every
/// real camera it opens.
pub fn with_v4l2_colour(mut transport: NusbTransport) -> NusbTransport {
    attach(&mut transport);
    transport
}

/// Where a [`V4l2ColourStream`] gets its frames: a started [`ColourCamera`], or a fake.
pub trait FrameSource: Send {
    fn next_frame(&mut self, timeout: Duration) -> Result<V4l2Frame, Error>;
}

impl FrameSource for ColourCamera {
    fn next_frame(&mut self, timeout: Duration) -> Result<V4l2Frame, Error> {
        ColourCamera::next_frame(self, timeout)
    }
}

/// A running V4L2 colour stream as a transport [`ColourStream`]. Dropping it stops the
/// capture (VIDIOC_STREAMOFF) and releases the nodes.
pub struct V4l2ColourStream<C: FrameSource = ColourCamera> {
    camera: C,
    last_sequence: Option<u32>,
    driver_dropped: u64,
    failures: u32,
}

impl<C: FrameSource> V4l2ColourStream<C> {
    pub fn new(camera: C) -> Self {
        V4l2ColourStream {
            camera,
            last_sequence: None,
            driver_dropped: 0,
            failures: 0,
        }
    }

    /// Frames the driver completed but this stream never saw (gaps in the V4L2 sequence).
    #[cfg(test)]
    pub fn driver_dropped(&self) -> u64 {
        self.driver_dropped
    }

    fn take(&mut self, frame: V4l2Frame) -> ColourFrame {
        if let Some(last) = self.last_sequence {
            let gap = frame.sequence.wrapping_sub(last).wrapping_sub(1);
            if gap != 0 && gap < u32::MAX / 2 {
                self.driver_dropped += u64::from(gap);
                log::debug!(
                    "colour: {gap} frame(s) dropped by the driver before sequence {}",
                    frame.sequence
                );
            }
        }
        self.last_sequence = Some(frame.sequence);
        frame.frame
    }
}

impl<C: FrameSource> Drop for V4l2ColourStream<C> {
    fn drop(&mut self) {
        if self.driver_dropped > 0 {
            log::info!(
                "colour stream stopped; the driver dropped {} frame(s) this stream never saw",
                self.driver_dropped
            );
        }
    }
}

impl<C: FrameSource> ColourStream for V4l2ColourStream<C> {
    fn next_frame(&mut self, timeout: Duration) -> Result<ColourFrame, TransferError> {
        match self.camera.next_frame(timeout) {
            Ok(frame) => {
                self.failures = 0;
                Ok(self.take(frame))
            }
            Err(e) if e.is_colour_timeout() => Err(TransferError::Timeout {
                endpoint: Endpoint::ColourVideo,
                timeout,
            }),
            Err(e) => {
                self.failures += 1;
                Err(transfer_error(&e, self.failures >= FAILURES_BEFORE_GONE))
            }
        }
    }
}

/// The transfer error for a failed V4L2 read: `Disconnected` when the node is gone (ENODEV,
/// ENXIO, ENOENT) or `gone` says failures keep coming, else `Io` with the whole message.
pub fn transfer_error(error: &Error, gone: bool) -> TransferError {
    let endpoint = Endpoint::ColourVideo;
    let unplugged = match error {
        Error::Colour {
            problem: ColourProblem::Io { source, .. } | ColourProblem::Open { source },
            ..
        } => is_unplugged(source),
        _ => false,
    };
    if unplugged || gone {
        TransferError::Disconnected { endpoint }
    } else {
        TransferError::Io {
            endpoint,
            message: error.to_string(),
        }
    }
}

fn is_unplugged(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENODEV | libc::ENXIO))
        || error.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::path::PathBuf;

    use k4sync_core::sync::config::DeviceConfig;
    use k4sync_core::time::Ticks90k;
    use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps};

    use super::*;
    use crate::colour::negotiate::FOURCC_MJPG;
    use crate::colour::{transport_frame, HostClock};
    use crate::device::{Device, Event};
    #[cfg(feature = "emulator")]
    use crate::transport::emulated::EmulatedTransport;
    use crate::transport::{StreamIn, TimestampSource};

    const SERIAL: &str = "000019484312";

    fn colour_error(problem: ColourProblem) -> Error {
        Error::Colour {
            serial: Some(SERIAL.into()),
            node: "/dev/video2".into(),
            problem,
        }
    }

    fn v4l2_frame(sequence: u32, ticks: Option<Ticks90k>) -> V4l2Frame {
        V4l2Frame {
            frame: transport_frame(
                vec![0xFF, 0xD8, sequence as u8],
                ticks,
                1_000_000 + u64::from(sequence),
                HostClock::with_offset(1_000_000),
            ),
            format: ColorFormat::Mjpg,
            fourcc: FOURCC_MJPG,
            width: 1280,
            height: 720,
            stride_bytes: 0,
            sequence,
        }
    }

    struct FakeCamera(VecDeque<Result<V4l2Frame, Error>>);

    impl FrameSource for FakeCamera {
        fn next_frame(&mut self, timeout: Duration) -> Result<V4l2Frame, Error> {
            self.0
                .pop_front()
                .unwrap_or_else(|| Err(colour_error(ColourProblem::Timeout { timeout })))
        }
    }

    fn empty_sysfs() -> (tempfile::TempDir, SysfsRoots) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("class/video4linux")).unwrap();
        let roots = SysfsRoots {
            sysfs: dir.path().to_path_buf(),
            dev: dir.path().join("dev"),
        };
        (dir, roots)
    }

    fn function(port_chain: Vec<u8>, serial: Option<&str>) -> FunctionInfo {
        FunctionInfo {
            product_id: k4sync_core::wire::usb::COLOUR_PRODUCT_ID,
            bus: 2,
            address: 7,
            bus_id: "2".into(),
            port_chain,
            usb_serial: serial.map(String::from),
            speed: None,
            container_id: None,
        }
    }

    #[test]
    fn stream_passes_the_transport_frame_through_and_counts_driver_gaps() {
        let frames = [0, 1, 4].map(|s| Ok(v4l2_frame(s, Some(Ticks90k(900 * u64::from(s))))));
        let mut stream = V4l2ColourStream::new(FakeCamera(frames.into()));
        let timeout = Duration::from_millis(5);
        let first = stream.next_frame(timeout).unwrap();
        assert_eq!(first, v4l2_frame(0, Some(Ticks90k(0))).frame);
        assert_eq!(first.host_ns, 0);
        assert_eq!(first.timestamp_source, TimestampSource::UvcMetadata);
        stream.next_frame(timeout).unwrap();
        let third = stream.next_frame(timeout).unwrap();
        assert_eq!(third.device_ticks, Some(Ticks90k(3600)));
        assert_eq!(third.host_ns, 4);
        assert_eq!(stream.driver_dropped(), 2);
    }

    #[test]
    fn v4l2_timeout_is_a_recoverable_transfer_timeout() {
        let mut stream = V4l2ColourStream::new(FakeCamera(VecDeque::new()));
        let err = stream.next_frame(Duration::from_millis(7)).unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(
            err,
            TransferError::Timeout {
                endpoint: Endpoint::ColourVideo,
                timeout: Duration::from_millis(7)
            }
        );
    }

    #[test]
    fn unplugged_node_ends_the_stream_and_other_failures_end_it_when_they_persist() {
        let io = |errno| {
            Err(colour_error(ColourProblem::Io {
                action: "VIDIOC_DQBUF",
                source: io::Error::from_raw_os_error(errno),
            }))
        };
        let mut stream = V4l2ColourStream::new(FakeCamera([io(libc::ENODEV)].into()));
        assert_eq!(
            stream.next_frame(Duration::ZERO).unwrap_err(),
            TransferError::Disconnected {
                endpoint: Endpoint::ColourVideo
            }
        );

        let failures = [io(libc::EIO), io(libc::EIO), Ok(v4l2_frame(0, None))]
            .into_iter()
            .chain([io(libc::EIO), io(libc::EIO), io(libc::EIO)]);
        let mut stream = V4l2ColourStream::new(FakeCamera(failures.collect()));
        let first = stream.next_frame(Duration::ZERO).unwrap_err();
        assert!(
            matches!(&first, TransferError::Io { message, .. } if message.contains("VIDIOC_DQBUF")),
            "{first:?}"
        );
        assert!(matches!(
            stream.next_frame(Duration::ZERO),
            Err(TransferError::Io { .. })
        ));
        let frame = stream.next_frame(Duration::ZERO).unwrap();
        assert_eq!(frame.timestamp_source, TimestampSource::Unavailable);
        assert!(matches!(
            stream.next_frame(Duration::ZERO),
            Err(TransferError::Io { .. })
        ));
        assert!(matches!(
            stream.next_frame(Duration::ZERO),
            Err(TransferError::Io { .. })
        ));
        assert!(matches!(
            stream.next_frame(Duration::ZERO),
            Err(TransferError::Disconnected { .. })
        ));
    }

    #[test]
    fn source_matches_the_colour_function_by_bus_path_else_serial() {
        let roots = SysfsRoots::from_env();
        let by_path =
            V4l2ColourSource::for_function(&function(vec![1, 3], Some(SERIAL)), roots.clone());
        assert_eq!(by_path.selector(), &ColourSelector::UsbPath("2-1.3".into()));
        let by_serial = V4l2ColourSource::for_function(&function(vec![], Some(SERIAL)), roots);
        assert_eq!(by_serial.selector(), &ColourSelector::Serial(SERIAL.into()));
    }

    fn assert_names_camera_and_fix(err: &Error) {
        let text = err.to_string();
        assert!(text.starts_with(&format!("camera {SERIAL}: ")), "{text}");
        assert!(
            text.contains("no V4L2 capture node for USB path 2-1.3"),
            "{text}"
        );
        assert!(text.contains("uvcvideo"), "{text}");
        assert!(text.contains("/dev/video*"), "{text}");
        assert!(text.contains("docs/colour.md"), "{text}");
    }

    #[test]
    fn missing_v4l2_node_fails_start_naming_the_camera_and_what_to_check() {
        let (_dir, roots) = empty_sysfs();
        let mut source = V4l2ColourSource::for_function(&function(vec![1, 3], Some(SERIAL)), roots);
        let mode = ColourMode {
            format: ColorFormat::Mjpg,
            resolution: ColorResolution::R720p,
            fps: Fps::Fps30,
        };
        let err = source.start(mode, &BufferPool::for_camera()).err().unwrap();
        assert_names_camera_and_fix(&err);

        let bare = tempfile::tempdir().unwrap();
        let mut source = V4l2ColourSource::new(
            ColourSelector::UsbPath("2-1.3".into()),
            Some(SERIAL.into()),
            SysfsRoots {
                sysfs: bare.path().to_path_buf(),
                dev: PathBuf::from("/dev"),
            },
        );
        let err = source.start(mode, &BufferPool::for_camera()).err().unwrap();
        assert_names_camera_and_fix(&err);
    }

    /// An emulated camera whose colour goes through a V4L2 source, as a real camera's does.
    #[cfg(feature = "emulator")]
    struct V4l2Backed {
        inner: EmulatedTransport,
        colour: V4l2ColourSource,
    }

    #[cfg(feature = "emulator")]
    impl Transport for V4l2Backed {
        fn usb_serial(&self) -> &str {
            self.inner.usb_serial()
        }
        fn bulk_out(&mut self, e: Endpoint, d: &[u8], t: Duration) -> Result<(), TransferError> {
            self.inner.bulk_out(e, d, t)
        }
        fn max_packet_size(&self, endpoint: Endpoint) -> usize {
            self.inner.max_packet_size(endpoint)
        }
        fn bulk_in(
            &mut self,
            e: Endpoint,
            buf: &mut [u8],
            t: Duration,
        ) -> Result<usize, TransferError> {
            self.inner.bulk_in(e, buf, t)
        }
        fn open_stream(
            &mut self,
            e: Endpoint,
            len: usize,
            in_flight: usize,
        ) -> Result<Box<dyn StreamIn>, Error> {
            self.inner.open_stream(e, len, in_flight)
        }
        fn start_colour(&mut self, mode: ColourMode) -> Result<Box<dyn ColourStream>, Error> {
            self.colour.start(mode, &self.inner.buffers())
        }
        fn host_now_ns(&self) -> u64 {
            self.inner.host_now_ns()
        }
        fn sleeper(&self) -> Box<dyn FnMut(Duration) + Send> {
            self.inner.sleeper()
        }
        fn clock(&self) -> Box<dyn Fn() -> u64 + Send> {
            self.inner.clock()
        }
        fn virtual_time(&self) -> bool {
            self.inner.virtual_time()
        }
    }

    #[cfg(feature = "emulator")]
    #[test]
    fn colour_off_streams_without_v4l2_and_colour_on_names_the_missing_node() {
        let sysfs = tempfile::tempdir().unwrap();
        let inner = EmulatedTransport::new(0);
        let serial = inner.usb_serial().to_string();
        let colour = V4l2ColourSource::new(
            ColourSelector::UsbPath("2-1.3".into()),
            Some(serial.clone()),
            SysfsRoots {
                sysfs: sysfs.path().join("no-video4linux"),
                dev: PathBuf::from("/dev"),
            },
        );
        let mut device = Device::from_transport(Box::new(V4l2Backed { inner, colour })).unwrap();

        let depth_only = DeviceConfig {
            color_resolution: ColorResolution::Off,
            depth_mode: DepthMode::NfovUnbinned,
            imu: false,
            ..DeviceConfig::default()
        };
        device.start(&depth_only).unwrap();
        let depth_seen = (0..20).any(|_| {
            matches!(
                device.next_capture(Duration::from_secs(1)),
                Ok(Some(Event::Capture(c))) if c.depth_raw.is_some() && c.colour.is_none()
            )
        });
        assert!(depth_seen);
        device.stop().unwrap();

        let with_colour = DeviceConfig {
            imu: false,
            ..DeviceConfig::default()
        };
        let err = device.start(&with_colour).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("camera {serial}: ")), "{text}");
        assert!(text.contains("no V4L2 capture node"), "{text}");
        assert!(text.contains("uvcvideo"), "{text}");

        device.start(&depth_only).unwrap();
        device.stop().unwrap();
    }
}
