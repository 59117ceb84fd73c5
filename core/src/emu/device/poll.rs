//! The emulated device's stream side (see [`streams`](super::super::streams)): the camera
//! and IMU start/stop hooks, Sync In/Out, and the pollers that turn the [`Schedule`]'s
//! decisions into frame bytes and transfer failures.
//!
//! [`Schedule`]: super::super::streams::Schedule

use crate::colour_control::Exposure;
use crate::time::Ticks90k;
use crate::types::{ColorFormat, Fps, WiredSyncMode};
use crate::wire::imu::{ImuPacket, TRANSFER_LEN};

use super::super::fault::{Stream, TransferError};
use super::super::jpeg::write_mjpg_frame;
use super::super::sink::SplitMix64;
use super::super::streams::{
    exposure_centre_shift_ticks, imu_packet, offset_tick, DepthFrame, FrameInfo,
};
use super::Device;

impl Device {
    fn mode(&self) -> WiredSyncMode {
        self.sys_config.mode
    }

    fn depth_delay(&self) -> i64 {
        i64::from(self.sys_config.depth_delay_ticks)
    }

    /// How far the colour exposure moves every image's centre off its grid tick or pulse.
    pub(super) fn exposure_shift(&self) -> i64 {
        match self.colour_controls().exposure {
            Exposure::Auto => 0,
            Exposure::Manual { usec } => exposure_centre_shift_ticks(usec),
        }
    }

    /// Ticks between a stream's grid tick (or pulse) and its frames' centres of exposure.
    fn centre_offset(&self, stream: Stream) -> i64 {
        match stream {
            Stream::Depth => self.depth_delay() + self.exposure_shift(),
            _ => self.exposure_shift(),
        }
    }

    pub(super) fn zero_clock(&mut self, host_ns: u64) {
        self.clock.zero_at(host_ns);
        self.sched.clock_zeroed();
    }

    pub(super) fn on_colour_start(&mut self, now_ns: u64, fps: Fps) {
        if self
            .sched
            .on_colour_start(fps, self.mode(), self.depth.streaming)
        {
            self.zero_clock(now_ns);
        }
    }

    pub(super) fn on_colour_stop(&mut self) {
        self.sched.on_colour_stop(self.depth.streaming);
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.clear_stream(Stream::Colour);
        }
    }

    pub(super) fn on_depth_stream_start(&mut self) {
        let now = self.clock.now_ticks().0;
        let fps = self.depth.fps.unwrap_or(Fps::Fps30);
        let (mode, colour_on) = (self.mode(), self.colour.is_some());
        let delay = self.centre_offset(Stream::Depth);
        self.sched.on_depth_start(now, mode, colour_on, fps, delay);
    }

    pub(super) fn on_depth_stream_stop(&mut self) {
        self.sched.on_depth_stop(self.colour.is_some());
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.clear_stream(Stream::Depth);
        }
    }

    pub(super) fn on_imu_start(&mut self) {
        self.sched.start_imu(self.clock.now_ticks().0);
    }

    /// A pulse on Sync In at a host instant. A subordinate repeats it on Sync Out; while a
    /// subordinate's cameras run, the first pulse zeroes its clock and later pulses trigger
    /// captures.
    pub fn on_sync_in_pulse(&mut self, host_ns: u64) {
        if self.faults.is_gone() || self.mode() != WiredSyncMode::Subordinate {
            return;
        }
        self.clock.advance_to(host_ns);
        self.sched.repeat_pulse(host_ns);
        if !self.cameras_streaming() {
            return;
        }
        let (first, captures) = self.sched.count_pulse(self.params.swallowed_pulses);
        if first {
            self.zero_clock(host_ns);
        }
        if !captures {
            return;
        }
        let pulse = self.clock.ticks_at(host_ns).0;
        let delayed = pulse.saturating_add(u64::from(self.sys_config.subordinate_delay_ticks));
        let colour_centre = offset_tick(delayed, self.centre_offset(Stream::Colour));
        let depth_centre = offset_tick(delayed, self.centre_offset(Stream::Depth));
        if self.colour.is_some() {
            self.sched.capture_due(Stream::Colour, colour_centre);
        }
        if self.depth.streaming {
            self.sched.capture_due(Stream::Depth, depth_centre);
        }
    }

    /// The next Sync Out pulse at or before `now_ns`, as a host instant: a master's colour
    /// VSYNC, or a subordinate's repeat of its Sync In.
    pub fn poll_sync_out(&mut self, now_ns: u64) -> Option<u64> {
        if self.faults.is_gone() {
            return None;
        }
        self.clock.advance_to(now_ns);
        match self.mode() {
            WiredSyncMode::Subordinate => self.sched.pop_repeated_pulse(now_ns),
            WiredSyncMode::Master => {
                self.colour?;
                let tick = self.sched.next_master_pulse(self.clock.now_ticks().0)?;
                Some(self.clock.host_ns_at(Ticks90k(tick)))
            }
            WiredSyncMode::Standalone => None,
        }
    }

    /// Frames (colour, depth) or packets (IMU) of `stream` lost at the device since power-up
    /// because no transfer took them before its backlog overflowed (the host did not read).
    pub fn frames_lost(&self, stream: Stream) -> u64 {
        self.sched.lost(stream)
    }

    fn next_frame(&mut self, stream: Stream) -> Option<u64> {
        let now = self.clock.now_ticks().0;
        let latency = u64::from(self.params.readout_latency_ticks);
        let offset = self.centre_offset(stream);
        self.sched
            .next_frame(stream, now, latency, self.mode(), offset)
    }

    fn deliverable(&mut self, stream: Stream) -> Option<(u64, u64)> {
        if self.timeline.is_some() {
            return self.next_followed(stream);
        }
        loop {
            let centre = self.next_frame(stream)?;
            let index = self.sched.next_index(stream);
            if !self.faults.take_drop(stream) {
                return Some((index, centre));
            }
        }
    }

    fn frame_len(
        &mut self,
        stream: Stream,
        size: usize,
        capacity: usize,
    ) -> Result<usize, TransferError> {
        let endpoint = stream.endpoint();
        let len = if self.faults.take_short(stream) {
            size / 2
        } else if self.faults.take_oversized(stream) {
            if capacity > size {
                capacity
            } else {
                return Err(TransferError::Overflow {
                    endpoint,
                    capacity,
                    got: size.saturating_add(1024),
                });
            }
        } else {
            size
        };
        if len > capacity {
            return Err(TransferError::Overflow {
                endpoint,
                capacity,
                got: len,
            });
        }
        Ok(len)
    }

    /// The next raw depth frame if one is ready at `now_ns`: exactly
    /// `SensorMode::raw_frame_size` bytes of deterministic content ending in the 40-byte
    /// trailer with the centre-of-exposure tick and temperatures.
    pub fn poll_depth_frame(
        &mut self,
        now_ns: u64,
        out: &mut [u8],
    ) -> Result<Option<FrameInfo>, TransferError> {
        let Some(depth) = self.next_depth(now_ns, out.len())? else {
            return Ok(None);
        };
        let frame = out.get_mut(..depth.info.len).unwrap_or(&mut []);
        depth.render(0, frame);
        Ok(Some(depth.info))
    }

    /// [`poll_depth_frame`](Self::poll_depth_frame) for a host whose IN transfer holds
    /// `transfer_len` bytes, writing only the frame's last `min(info.len, out.len())` bytes
    /// into the start of `out`: the same frame, faults and bytes, without generating megabytes
    /// a test only needs the trailer of. `info.len` is the whole transfer's length.
    pub fn poll_depth_frame_tail(
        &mut self,
        now_ns: u64,
        transfer_len: usize,
        out: &mut [u8],
    ) -> Result<Option<FrameInfo>, TransferError> {
        let Some(depth) = self.next_depth(now_ns, transfer_len)? else {
            return Ok(None);
        };
        let tail = out.len().min(depth.info.len);
        let start = depth.info.len.saturating_sub(tail);
        depth.render(start, out.get_mut(..tail).unwrap_or(&mut []));
        Ok(Some(depth.info))
    }

    fn next_depth(
        &mut self,
        now_ns: u64,
        capacity: usize,
    ) -> Result<Option<DepthFrame>, TransferError> {
        self.faults.check_gone(Stream::Depth.endpoint())?;
        self.clock.advance_to(now_ns);
        let Some(mode) = self.depth.mode.filter(|_| self.depth.streaming) else {
            return Ok(None);
        };
        let Some((index, centre)) = self.deliverable(Stream::Depth) else {
            return Ok(None);
        };
        self.faults.check_stall(Stream::Depth.endpoint())?;
        let size = mode.raw_frame_size();
        let len = self.frame_len(Stream::Depth, size, capacity)?;
        Ok(Some(DepthFrame {
            info: FrameInfo {
                stream: Stream::Depth,
                index,
                device_ticks: Ticks90k(centre),
                len,
            },
            size,
            word: SplitMix64::new(self.params.seed ^ index.rotate_left(32)).next_u64(),
        }))
    }

    /// The next colour frame's image bytes if one is ready: the grey JPEG padded to a realistic
    /// size ([`mjpg_frame_len`](super::mjpg_frame_len)) for MJPG (and BGRA32, which travels as
    /// MJPG), or a mid-grey NV12/YUY2 frame of the exact size.
    /// The frame index is stamped little-endian into the first 8 bytes of NV12/YUY2 frames.
    pub fn poll_colour_frame(
        &mut self,
        now_ns: u64,
        out: &mut [u8],
    ) -> Result<Option<FrameInfo>, TransferError> {
        self.faults.check_gone(Stream::Colour.endpoint())?;
        self.clock.advance_to(now_ns);
        let Some(config) = self.colour else {
            return Ok(None);
        };
        let Some((index, centre)) = self.deliverable(Stream::Colour) else {
            return Ok(None);
        };
        self.faults.check_stall(Stream::Colour.endpoint())?;
        let format = config.wire_format();
        let len = self.frame_len(Stream::Colour, config.frame_len(), out.len())?;
        let frame = out.get_mut(..len).unwrap_or(&mut []);
        if format == ColorFormat::Mjpg {
            write_mjpg_frame(config.resolution, frame);
        } else {
            frame.fill(0x80);
            for (dst, src) in frame.iter_mut().zip(index.to_le_bytes()) {
                *dst = src;
            }
        }
        Ok(Some(FrameInfo {
            stream: Stream::Colour,
            index,
            device_ticks: Ticks90k(centre),
            len,
        }))
    }

    /// The next 252-byte IMU packet (8 gyro + 8 accelerometer samples, 54 ticks apart, about
    /// 208 packets per second) if its last sample has been taken by `now_ns`.
    /// The next 252-byte IMU packet (8 gyro + 8 accelerometer samples, 54 ticks apart, about
    /// 208 packets per second) if its last sample has been taken by `now_ns`.
    pub fn poll_imu_packet(
        &mut self,
        now_ns: u64,
        out: &mut [u8; TRANSFER_LEN],
    ) -> Result<Option<FrameInfo>, TransferError> {
        self.faults.check_gone(Stream::Imu.endpoint())?;
        self.clock.advance_to(now_ns);
        let now = self.clock.now_ticks().0;
        loop {
            let Some((first, index)) = self.sched.next_imu_packet(now) else {
                return Ok(None);
            };
            if self.faults.take_drop(Stream::Imu) {
                continue;
            }
            self.faults.check_stall(Stream::Imu.endpoint())?;
            let repr = imu_packet(self.params.seed, first);
            let mut full = [0u8; TRANSFER_LEN];
            let _ = repr.emit(&mut ImuPacket::new_unchecked(&mut full[..]));
            let len = if self.faults.take_short(Stream::Imu) {
                27
            } else if self.faults.take_oversized(Stream::Imu) {
                return Err(TransferError::Overflow {
                    endpoint: Stream::Imu.endpoint(),
                    capacity: TRANSFER_LEN,
                    got: TRANSFER_LEN + 14,
                });
            } else {
                TRANSFER_LEN
            };
            let src = full.get(..len).unwrap_or(&[]);
            if let Some(dst) = out.get_mut(..len) {
                dst.copy_from_slice(src);
            }
            return Ok(Some(FrameInfo {
                stream: Stream::Imu,
                index,
                device_ticks: Ticks90k(first),
                len,
            }));
        }
    }
}
