//! The colour camera on Linux: frames from the Azure Kinect's UVC function through the
//! kernel's `uvcvideo` driver and V4L2 (reference §5, §6.3). UVC isochronous streaming cannot
//! go through nusb, so the colour path leaves USB to the kernel and reads its video nodes.
//!
//! * [`discovery`] finds the capture and metadata nodes of a camera in sysfs, by its colour
//!   function's USB serial (= camera serial, §1.3) or bus path.
//! * [`negotiate`] maps an SDK colour mode to a V4L2 fourcc, size and frame interval (§5.1–5.3).
//! * [`control`] sets exposure and gain (§5.5) and reads them back.
//! * [`v4l2`] streams memory-mapped buffers with their sequence numbers and timestamps.
//! * [`metadata`] reads the metadata node's `uvc_meta_buf` blocks and recovers the device
//!   timestamp (the frame align info's PTS, §5.4).
//!
//! * [`source`] plugs a camera into the nusb transport as its
//!   [`ColourSource`](crate::transport::ColourSource).
//!
//! [`ColourCamera`] ties them together. Each [`V4l2Frame`] holds a transport [`ColourFrame`]
//! with the V4L2 buffer's CLOCK_MONOTONIC timestamp moved onto the transport's host clock and,
//! when the kernel delivers the camera's metadata, its device timestamp; otherwise
//! [`TimestampSource::Unavailable`] says the frame has only the host one.

pub mod control;
pub mod discovery;
pub mod metadata;
pub mod negotiate;
mod problem;
pub mod source;
mod v4l2;

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k4sync_core::colour_control::ColourControls;
use k4sync_core::time::Ticks90k;
use k4sync_core::types::{ColorFormat, ColorResolution, Fps};
use linuxvideo::format::{FrameIntervals, FrameSizes, MetaFormat, PixFormat, PixelFormat};
use linuxvideo::{BufType, CapabilityFlags, Device, Fract, MetaCaptureDevice, VideoCaptureDevice};

use crate::error::Error;
use crate::transport::{monotonic_ns, BufferPool, ColourFrame, TimestampSource};
use discovery::{ColourNodes, NodeMatch, SysfsRoots};
use metadata::{MetaLayout, META_FMT_UVC, META_FMT_UVC_MSXU_1_5};
use negotiate::{CaptureMode, FourCc, Interval, IntervalOffer, OfferedMode};
use v4l2::{MmapStream, BUF_TYPE_META_CAPTURE, BUF_TYPE_VIDEO_CAPTURE};

pub use problem::ColourProblem;

/// Buffers requested on the capture node.
pub const VIDEO_BUFFERS: u32 = 4;
/// Buffers requested on the metadata node.
pub const META_BUFFERS: u32 = 8;
/// How long a frame waits for its metadata buffer once the frame itself is in.
pub const META_GRACE: Duration = Duration::from_millis(10);
/// Readings [`HostClock::measure`] takes.
const CLOCK_SAMPLES: usize = 8;
/// Metadata results kept while waiting for their frames.
const PENDING_META: usize = 32;

/// One colour frame from V4L2: the frame every colour transport delivers, plus what V4L2
/// says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Frame {
    /// The bytes, device and host timestamps. `frame.host_ns` is on the transport's host
    /// clock ([`monotonic_ns`]): the V4L2 buffer timestamp moved there by [`HostClock`].
    pub frame: ColourFrame,
    /// The SDK format the stream was started with.
    pub format: ColorFormat,
    /// The V4L2 fourcc of `frame.data`.
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane (0 for MJPG).
    pub stride_bytes: u32,
    /// The V4L2 sequence number (counts frames the driver completed, gaps mean drops).
    pub sequence: u32,
}

/// Moves CLOCK_MONOTONIC times (V4L2 buffer timestamps) onto the transport's host clock.
///
/// [`monotonic_ns`] counts from the process's first call on `std::time::Instant`, which on
/// Linux reads CLOCK_MONOTONIC, so the two clocks differ by a constant offset that is measured
/// once, to within one `clock_gettime` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostClock {
    /// CLOCK_MONOTONIC minus [`monotonic_ns`], ns.
    offset_ns: u64,
}

impl HostClock {
    /// Measures the offset now: of a few readings of the host clock bracketed by two of
    /// CLOCK_MONOTONIC, the one with the tightest bracket (the least likely preempted).
    pub fn measure() -> HostClock {
        monotonic_ns();
        let mut best: Option<(u64, u64)> = None;
        for _ in 0..CLOCK_SAMPLES {
            let before = v4l2::monotonic_now_ns();
            let host = monotonic_ns();
            let after = v4l2::monotonic_now_ns();
            let span = after.saturating_sub(before);
            let midpoint = before / 2 + after / 2 + (before % 2 + after % 2) / 2;
            if best.is_none_or(|(best_span, _)| span < best_span) {
                best = Some((span, midpoint.saturating_sub(host)));
            }
        }
        HostClock {
            offset_ns: best.map_or(0, |(_, offset)| offset),
        }
    }

    /// A clock with a known offset (CLOCK_MONOTONIC minus host clock, ns).
    #[cfg(test)]
    pub const fn with_offset(offset_ns: u64) -> HostClock {
        HostClock { offset_ns }
    }

    #[cfg(test)]
    const fn offset_ns(self) -> u64 {
        self.offset_ns
    }

    /// The host-clock time of a CLOCK_MONOTONIC time (0 for times before the host epoch).
    pub const fn host_ns(self, clock_monotonic_ns: u64) -> u64 {
        clock_monotonic_ns.saturating_sub(self.offset_ns)
    }
}

/// The transport frame for one captured V4L2 buffer: `device_ticks` from its metadata (if
/// any) and its CLOCK_MONOTONIC time `clock_monotonic_ns` moved onto the host clock.
pub fn transport_frame(
    data: Vec<u8>,
    device_ticks: Option<Ticks90k>,
    clock_monotonic_ns: u64,
    clock: HostClock,
) -> ColourFrame {
    ColourFrame {
        data,
        device_ticks,
        host_ns: clock.host_ns(clock_monotonic_ns),
        timestamp_source: if device_ticks.is_some() {
            TimestampSource::UvcMetadata
        } else {
            TimestampSource::Unavailable
        },
    }
}

/// Which camera's colour nodes to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColourSelector {
    /// The camera serial (equal to the colour function's USB serial, §1.3).
    Serial(String),
    /// The colour function's USB bus path, e.g. `2-1.3` (see `FunctionInfo::bus_path`).
    UsbPath(String),
    /// The first Azure Kinect colour function on the system.
    First,
    /// Explicit device nodes.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "no caller names nodes yet; the tests open missing ones"
        )
    )]
    Nodes {
        capture: PathBuf,
        metadata: Option<PathBuf>,
    },
}

impl std::fmt::Display for ColourSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColourSelector::Serial(s) => write!(f, "serial {s}"),
            ColourSelector::UsbPath(p) => write!(f, "USB path {p}"),
            ColourSelector::First => f.write_str("the first Azure Kinect colour camera"),
            ColourSelector::Nodes { capture, .. } => write!(f, "{}", capture.display()),
        }
    }
}

impl Error {
    /// Whether this is a colour frame timeout (the stream is still usable).
    pub fn is_colour_timeout(&self) -> bool {
        matches!(
            self,
            Error::Colour {
                problem: ColourProblem::Timeout { .. },
                ..
            }
        )
    }
}

struct MetaStream {
    stream: MmapStream<MetaCaptureDevice>,
    layout: MetaLayout,
    /// `(sequence, device timestamp)` of metadata buffers not yet matched to a frame.
    pending: VecDeque<(u32, Option<Ticks90k>)>,
}

struct Running {
    mode: CaptureMode,
    clock: HostClock,
    stride_bytes: u32,
    meta: Option<MetaStream>,
    video: MmapStream<VideoCaptureDevice>,
}

/// One camera's colour function, opened through V4L2.
pub struct ColourCamera {
    serial: Option<String>,
    capture_path: PathBuf,
    metadata_path: Option<PathBuf>,
    running: Option<Running>,
    error_frames: u64,
    /// The pool frames are copied into: the camera's own ([`ColourCamera::share_buffers`]).
    buffers: Arc<BufferPool>,
}

impl std::fmt::Debug for ColourCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColourCamera")
            .field("serial", &self.serial)
            .field("capture_path", &self.capture_path)
            .field("metadata_path", &self.metadata_path)
            .field("mode", &self.running.as_ref().map(|r| r.mode))
            .finish()
    }
}

impl ColourCamera {
    /// Finds and opens the selected camera's nodes (sysfs from `K4SYNC_SYSFS_ROOT` or `/sys`).
    #[cfg(test)]
    pub fn open(camera: &ColourSelector) -> Result<ColourCamera, Error> {
        Self::open_in(camera, &SysfsRoots::from_env())
    }

    /// [`open`](Self::open) with explicit sysfs and /dev roots.
    pub fn open_in(camera: &ColourSelector, roots: &SysfsRoots) -> Result<ColourCamera, Error> {
        let (serial, capture_path, metadata_path) = match camera {
            ColourSelector::Nodes { capture, metadata } => {
                (None, capture.clone(), metadata.clone())
            }
            _ => {
                let wanted = match camera {
                    ColourSelector::Serial(s) => NodeMatch::Serial(s.clone()),
                    ColourSelector::UsbPath(p) => NodeMatch::UsbPath(p.clone()),
                    _ => NodeMatch::Any,
                };
                let nodes = match discovery::video_nodes(roots) {
                    Ok(nodes) => nodes,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                    Err(source) => {
                        return Err(Error::Colour {
                            serial: selector_serial(camera),
                            node: roots.sysfs.join("class/video4linux").display().to_string(),
                            problem: ColourProblem::Sysfs { source },
                        })
                    }
                };
                let ColourNodes { capture, metadata } = discovery::colour_nodes(&nodes, &wanted)
                    .ok_or_else(|| Error::Colour {
                        serial: selector_serial(camera),
                        node: "(none)".into(),
                        problem: ColourProblem::NotFound {
                            wanted: camera.to_string(),
                        },
                    })?;
                (
                    capture
                        .usb_serial
                        .clone()
                        .or_else(|| selector_serial(camera)),
                    capture.dev_path,
                    metadata.map(|m| m.dev_path),
                )
            }
        };
        let camera = ColourCamera {
            serial,
            capture_path,
            metadata_path,
            running: None,
            error_frames: 0,
            buffers: BufferPool::for_camera(),
        };
        camera.open_capture()?;
        Ok(camera)
    }

    /// Copies frames into `buffers` (the whole camera's pool) from now on.
    pub(crate) fn share_buffers(&mut self, buffers: &Arc<BufferPool>) {
        self.buffers = buffers.clone();
    }
    /// The capture node.
    pub fn capture_path(&self) -> &Path {
        &self.capture_path
    }

    /// The running mode, if started.
    pub fn mode(&self) -> Option<CaptureMode> {
        self.running.as_ref().map(|r| r.mode)
    }

    /// How the running stream's metadata is read; `None` when frames carry host time only.
    pub fn metadata_layout(&self) -> Option<MetaLayout> {
        self.running.as_ref()?.meta.as_ref().map(|m| m.layout)
    }

    fn err(&self, node: &Path, problem: ColourProblem) -> Error {
        Error::Colour {
            serial: self.serial.clone(),
            node: node.display().to_string(),
            problem,
        }
    }

    fn io_err(&self, node: &Path, action: &'static str) -> impl FnOnce(io::Error) -> Error + '_ {
        let node = node.to_path_buf();
        move |source| self.err(&node, ColourProblem::Io { action, source })
    }

    fn open_capture(&self) -> Result<Device, Error> {
        let path = &self.capture_path;
        let device =
            Device::open(path).map_err(|source| self.err(path, ColourProblem::Open { source }))?;
        let caps = device
            .capabilities()
            .map_err(self.io_err(path, "VIDIOC_QUERYCAP"))?
            .device_capabilities();
        if !caps.contains(CapabilityFlags::VIDEO_CAPTURE | CapabilityFlags::STREAMING) {
            return Err(self.err(path, ColourProblem::NotCapture));
        }
        Ok(device)
    }

    /// The metadata node, opened, when it is a META_CAPTURE node; problems only logged.
    fn open_metadata(&self) -> Option<Device> {
        let path = self.metadata_path.as_ref()?;
        let device = match Device::open(path) {
            Ok(d) => d,
            Err(e) => {
                log::warn!(
                    "colour metadata node {}: {e}; using host timestamps",
                    path.display()
                );
                return None;
            }
        };
        let caps = device.capabilities().ok()?.device_capabilities();
        if !caps.contains(CapabilityFlags::META_CAPTURE) {
            log::info!(
                "{} is not a metadata node; using host timestamps",
                path.display()
            );
            return None;
        }
        Some(device)
    }

    /// Sets exposure and gain on the capture node (§5.5) and returns them as the camera
    /// reports them afterwards; fails naming the control the camera did not take.
    pub fn set_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        let path = self.capture_path.clone();
        let mut device = self.open_capture()?;
        control::apply(&mut device, controls).map_err(|e| self.err(&path, e.into()))
    }

    /// Negotiates `format`/`resolution`/`fps` (§5.3) and starts streaming.
    pub fn start(
        &mut self,
        format: ColorFormat,
        resolution: ColorResolution,
        fps: Fps,
    ) -> Result<(), Error> {
        if self.running.is_some() {
            return Err(self.err(&self.capture_path, ColourProblem::State { running: true }));
        }
        let path = self.capture_path.clone();
        let device = self.open_capture()?;
        let offered = offered_modes(&device).map_err(self.io_err(&path, "enumerating formats"))?;
        let mode = negotiate::negotiate(format, resolution, fps, &offered)
            .map_err(|e| self.err(&path, e.into()))?;
        let wanted = PixFormat::new(
            mode.width,
            mode.height,
            PixelFormat::from_fourcc(mode.fourcc),
        );
        let capture = device
            .video_capture(wanted)
            .map_err(self.io_err(&path, "VIDIOC_S_FMT"))?;
        let got = capture.format();
        if got.pixel_format().as_fourcc() != mode.fourcc
            || (got.width(), got.height()) != (mode.width, mode.height)
        {
            return Err(self.err(
                &path,
                ColourProblem::FormatRefused {
                    wanted: format!(
                        "{} {}x{}",
                        negotiate::fourcc_text(mode.fourcc),
                        mode.width,
                        mode.height
                    ),
                    got: format!(
                        "{} {}x{}",
                        negotiate::fourcc_text(got.pixel_format().as_fourcc()),
                        got.width(),
                        got.height()
                    ),
                },
            ));
        }
        let stride_bytes = if mode.fourcc == negotiate::FOURCC_MJPG {
            0
        } else {
            got.bytes_per_line()
        };
        let chosen = capture
            .set_frame_interval(Fract::new(
                mode.interval.numerator,
                mode.interval.denominator.max(1),
            ))
            .map_err(self.io_err(&path, "VIDIOC_S_PARM"))?;
        negotiate::check_chosen_interval(
            Interval::new(chosen.numerator(), chosen.denominator()),
            fps,
        )
        .map_err(|e| self.err(&path, e.into()))?;

        let meta = self.start_metadata();
        let mut video = MmapStream::new(capture, BUF_TYPE_VIDEO_CAPTURE, VIDEO_BUFFERS)
            .map_err(self.io_err(&path, "mapping capture buffers"))?;
        video
            .stream_on()
            .map_err(self.io_err(&path, "VIDIOC_STREAMON"))?;
        self.running = Some(Running {
            mode,
            clock: HostClock::measure(),
            stride_bytes,
            meta,
            video,
        });
        Ok(())
    }

    fn start_metadata(&self) -> Option<MetaStream> {
        let device = self.open_metadata()?;
        let path = self.metadata_path.as_ref()?;
        let offered: Vec<FourCc> = device
            .formats(BufType::META_CAPTURE)
            .filter_map(Result::ok)
            .map(|d| d.pixel_format().as_fourcc())
            .collect();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let (fourcc, layout) = [META_FMT_UVC_MSXU_1_5, META_FMT_UVC]
            .into_iter()
            .filter(|f| offered.contains(f))
            .find_map(|f| metadata::layout_for(f, release.trim()).map(|l| (f, l)))?;
        if !layout.has_device_metadata() {
            log::warn!(
                "{}: kernel {} delivers only standard UVC headers in '{}' and no '{}' format; \
                 colour frames get host timestamps only (see docs/colour.md)",
                path.display(),
                release.trim(),
                negotiate::fourcc_text(META_FMT_UVC),
                negotiate::fourcc_text(META_FMT_UVC_MSXU_1_5),
            );
            return None;
        }
        let result = device
            .meta_capture(MetaFormat::new(PixelFormat::from_fourcc(fourcc)))
            .and_then(|d| MmapStream::new(d, BUF_TYPE_META_CAPTURE, META_BUFFERS))
            .and_then(|mut s| s.stream_on().map(|()| s));
        match result {
            Ok(stream) => Some(MetaStream {
                stream,
                layout,
                pending: VecDeque::new(),
            }),
            Err(e) => {
                log::warn!(
                    "{}: cannot stream metadata ({e}); using host timestamps",
                    path.display()
                );
                None
            }
        }
    }

    /// The next frame, waiting at most `timeout`. Frames the driver marks damaged are skipped.
    pub fn next_frame(&mut self, timeout: Duration) -> Result<V4l2Frame, Error> {
        let path = self.capture_path.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let Some(running) = self.running.as_mut() else {
                return Err(self.err(&path, ColourProblem::State { running: false }));
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ready = running.video.wait(remaining);
            let buf = match ready {
                Ok(true) => running.video.dequeue(),
                Ok(false) => {
                    return Err(self.err(&path, ColourProblem::Timeout { timeout }));
                }
                Err(e) => Err(e),
            };
            let buf = match buf {
                Ok(buf) => buf,
                Err(source) => {
                    return Err(self.err(
                        &path,
                        ColourProblem::Io {
                            action: "VIDIOC_DQBUF",
                            source,
                        },
                    ))
                }
            };
            let data = (!buf.is_error()).then(|| self.buffers.copy_of(running.video.data(&buf)));
            let clock_monotonic_ns = if buf.has_monotonic_timestamp() {
                buf.timestamp_ns()
            } else {
                v4l2::monotonic_now_ns()
            };
            let sequence = buf.sequence();
            let requeued = running.video.requeue(buf);
            if let Err(source) = requeued {
                return Err(self.err(
                    &path,
                    ColourProblem::Io {
                        action: "VIDIOC_QBUF",
                        source,
                    },
                ));
            }
            let Some(data) = data else {
                self.error_frames += 1;
                continue;
            };
            let device_ticks = running
                .meta
                .as_mut()
                .and_then(|meta| meta.ticks_for(sequence));
            let mode = running.mode;
            return Ok(V4l2Frame {
                frame: transport_frame(data, device_ticks, clock_monotonic_ns, running.clock),
                format: mode.format,
                fourcc: mode.fourcc,
                width: mode.width,
                height: mode.height,
                stride_bytes: running.stride_bytes,
                sequence,
            });
        }
    }
}

impl MetaStream {
    /// Reads every metadata buffer ready now into `pending`.
    fn drain(&mut self, wait: Duration) {
        let mut wait = wait;
        while let Ok(true) = self.stream.wait(wait) {
            wait = Duration::ZERO;
            let Ok(buf) = self.stream.dequeue() else {
                return;
            };
            let ticks = metadata::device_ticks(self.stream.data(&buf), self.layout);
            let sequence = buf.sequence();
            if let Err(e) = self.stream.requeue(buf) {
                log::warn!("metadata VIDIOC_QBUF failed: {e}");
                return;
            }
            if self.pending.len() == PENDING_META {
                self.pending.pop_front();
            }
            self.pending.push_back((sequence, ticks));
        }
    }

    /// The device timestamp of frame `sequence`, pairing by V4L2 sequence number.
    fn ticks_for(&mut self, sequence: u32) -> Option<Ticks90k> {
        self.drain(Duration::ZERO);
        if !self.pending.iter().any(|(s, _)| *s == sequence) {
            self.drain(META_GRACE);
        }
        let found = take_pending(&mut self.pending, sequence);
        if found.is_none() {
            log::debug!("colour frame {sequence}: no device timestamp in its metadata");
        }
        found
    }
}

/// Removes entries up to and including `sequence` and returns that frame's timestamp.
fn take_pending(
    pending: &mut VecDeque<(u32, Option<Ticks90k>)>,
    sequence: u32,
) -> Option<Ticks90k> {
    let at = pending.iter().position(|(s, _)| *s == sequence)?;
    let (_, ticks) = pending.drain(..=at).next_back()?;
    ticks
}

fn selector_serial(camera: &ColourSelector) -> Option<String> {
    match camera {
        ColourSelector::Serial(s) => Some(s.clone()),
        _ => None,
    }
}

fn offered_modes(device: &Device) -> io::Result<Vec<OfferedMode>> {
    let mut modes = Vec::new();
    for desc in device.formats(BufType::VIDEO_CAPTURE) {
        let pixel_format = desc?.pixel_format();
        let FrameSizes::Discrete(sizes) = device.frame_sizes(pixel_format)? else {
            continue;
        };
        for size in sizes {
            let (width, height) = (size.width(), size.height());
            let intervals = match device.frame_intervals(pixel_format, width, height)? {
                FrameIntervals::Discrete(list) => IntervalOffer::Discrete(
                    list.iter()
                        .map(|i| Interval::new(i.fract().numerator(), i.fract().denominator()))
                        .collect(),
                ),
                FrameIntervals::Stepwise(s) | FrameIntervals::Continuous(s) => {
                    IntervalOffer::Stepwise {
                        min: Interval::new(s.min().numerator(), s.min().denominator()),
                        max: Interval::new(s.max().numerator(), s.max().denominator()),
                        step: Interval::new(s.step().numerator(), s.step().denominator()),
                    }
                }
            };
            modes.push(OfferedMode {
                fourcc: pixel_format.as_fourcc(),
                width,
                height,
                intervals,
            });
        }
    }
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_metadata_is_paired_by_sequence_and_older_entries_dropped() {
        let mut pending: VecDeque<_> = [
            (7, Some(Ticks90k(70))),
            (8, None),
            (9, Some(Ticks90k(90))),
            (10, Some(Ticks90k(100))),
        ]
        .into();
        assert_eq!(take_pending(&mut pending, 9), Some(Ticks90k(90)));
        assert_eq!(pending, VecDeque::from([(10, Some(Ticks90k(100)))]));
        assert_eq!(take_pending(&mut pending, 11), None);
        assert_eq!(pending.len(), 1);
        pending.push_back((11, None));
        assert_eq!(take_pending(&mut pending, 11), None);
        assert!(pending.is_empty());
    }

    #[test]
    fn missing_camera_error_names_the_selector_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("class/video4linux")).unwrap();
        let roots = SysfsRoots {
            sysfs: dir.path().to_path_buf(),
            dev: dir.path().join("dev"),
        };
        let err = ColourCamera::open_in(&ColourSelector::Serial("000019484312".into()), &roots)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "camera 000019484312: colour node (none): no V4L2 capture node \
            for serial 000019484312"
            ),
            "{text}"
        );
        assert!(text.contains("uvcvideo"), "{text}");
    }

    #[test]
    fn unopenable_node_error_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("video0");
        let err = ColourCamera::open(&ColourSelector::Nodes {
            capture: node.clone(),
            metadata: None,
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&node.display().to_string()), "{text}");
        assert!(text.contains("unplugged"), "{text}");
        assert!(!err.is_colour_timeout());
    }

    #[test]
    fn v4l2_clock_converted_lands_between_host_clock_readings() {
        let clock = HostClock::measure();
        for _ in 0..100 {
            let before = monotonic_ns();
            let converted = clock.host_ns(v4l2::monotonic_now_ns());
            let after = monotonic_ns();
            let slack_ns = 1_000_000;
            assert!(
                converted + slack_ns >= before && converted <= after + slack_ns,
                "{before} <= {converted} <= {after}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
        let later = HostClock::measure();
        assert!(later.offset_ns().abs_diff(clock.offset_ns()) < 1_000_000);
    }

    #[test]
    fn transport_frame_takes_device_time_from_metadata_and_host_time_from_the_buffer() {
        let clock = HostClock::with_offset(5_000_000_000);
        let with = transport_frame(vec![1, 2], Some(Ticks90k(900)), 5_000_000_123, clock);
        assert_eq!(
            with,
            ColourFrame {
                data: vec![1, 2],
                device_ticks: Some(Ticks90k(900)),
                host_ns: 123,
                timestamp_source: TimestampSource::UvcMetadata,
            }
        );
        let without = transport_frame(vec![], None, 4_000_000_000, clock);
        assert_eq!(without.device_ticks, None);
        assert_eq!(without.host_ns, 0);
        assert_eq!(without.timestamp_source, TimestampSource::Unavailable);
    }

    #[test]
    fn missing_video4linux_class_means_no_node_not_a_sysfs_failure() {
        let dir = tempfile::tempdir().unwrap();
        let roots = SysfsRoots {
            sysfs: dir.path().to_path_buf(),
            dev: dir.path().join("dev"),
        };
        let err = ColourCamera::open_in(&ColourSelector::First, &roots).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Colour {
                    problem: ColourProblem::NotFound { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn camera_can_move_to_a_capture_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<ColourCamera>();
        assert_send::<V4l2Frame>();
    }

    #[test]
    fn timeout_is_recognisable_and_recoverable() {
        let err = Error::Colour {
            serial: None,
            node: "/dev/video2".into(),
            problem: ColourProblem::Timeout {
                timeout: Duration::from_millis(500),
            },
        };
        assert!(err.is_colour_timeout());
        assert!(err.to_string().contains("no frame within 500 ms"));
    }
}
