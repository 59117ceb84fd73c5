//! Stream production: when the emulated device has a depth frame, a colour frame, an IMU
//! packet or a Sync Out pulse ready, and the bytes of each (reference §3.5, §4.4, §5.4,
//! §6, §10.4).
//!
//! Timing lives entirely in device ticks. A master or standalone device runs a frame grid:
//! colour start zeroes the clock and emits Sync Out pulse `k` at tick `k × period`; colour
//! frame `k ≥ 1` is centred on that tick and depth frame `k` on it plus the depth delay.
//! (Pulse 0 coincides with the zeroing and yields no frame, like the first frames real
//! devices drop.) A depth-only master or standalone device runs the same grid from its
//! stream start without zeroing. A subordinate has no grid: it is armed by its first stream
//! start, zeroes its clock at the first Sync In pulse and then captures colour at every
//! later pulse plus the subordinate delay, depth at that plus the depth delay; without
//! pulses it produces nothing. Every frame becomes readable a readout latency after its
//! centre of exposure. A device holds at most two unread frames per stream (older ones are
//! lost) and eight IMU packets.

use heapless::Deque;

use crate::time::{Ticks90k, TICKS_PER_SECOND};
use crate::types::{ColorFormat, Fps, WiredSyncMode};
use crate::wire::depth_trailer::{DepthTrailerRepr, TRAILER_LEN};
use crate::wire::imu::{ImuPacket, ImuPacketRepr, ImuRecord, TRANSFER_LEN};
use crate::wire::uvc::{
    CaptureStats, CaptureStatsRepr, FrameAlignInfo, FrameAlignInfoRepr, UvcHeaderRepr, UvcPayload,
    CAPTURE_STATS_LEN, FRAME_ALIGN_INFO_LEN, STATS_FLAG_EXPOSURE, STATS_FLAG_WHITE_BALANCE,
};
use crate::WireError;

use super::device::Device;
use super::fault::{Stream, TransferError};
use super::jpeg::write_mjpg_frame;
use super::sink::SplitMix64;

/// Unread frames a device keeps per camera stream.
pub const FRAME_BACKLOG: u64 = 2;
/// Unread IMU packets a device keeps.
pub const IMU_BACKLOG: u64 = 8;
/// Ticks between IMU samples (90,000 / 1,666 Hz, rounded).
pub const IMU_SAMPLE_TICKS: u64 = 54;
/// Gyro and accelerometer samples per IMU packet.
pub const IMU_SAMPLES_PER_PACKET: u64 = 8;
/// Gyro sensitivity the emulator reports, µ°/s per LSB.
pub const GYRO_SENSITIVITY: u16 = 35_000;
/// Accelerometer sensitivity the emulator reports, µg per LSB.
pub const ACCEL_SENSITIVITY: u16 = 244;
/// Raw accelerometer reading of 1 g at [`ACCEL_SENSITIVITY`].
pub const ONE_G_RAW: i16 = 4_098;

const PACKET_TICKS: u64 = IMU_SAMPLE_TICKS * IMU_SAMPLES_PER_PACKET;

/// What a poller delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameInfo {
    pub stream: Stream,
    /// Sequence number of the frame or packet on its stream since power-up, counting those
    /// lost or dropped.
    pub index: u64,
    /// Centre of exposure (colour, depth) or first accelerometer sample (IMU).
    pub device_ticks: Ticks90k,
    /// Bytes written to the caller's buffer.
    pub len: usize,
}

/// A depth frame chosen for delivery: its content is a pure function of `word` and the byte
/// position, so any window of it can be rendered alone.
struct DepthFrame {
    info: FrameInfo,
    size: usize,
    word: u64,
}

impl DepthFrame {
    /// Writes bytes `start .. start + out.len()` of the frame: seeded content, and the trailer
    /// in the last 40 bytes of the mode's size when the frame is at least that long.
    fn render(&self, start: usize, out: &mut [u8]) {
        let lead = ((8 - start % 8) % 8).min(out.len());
        let (head, body) = out.split_at_mut(lead);
        for (offset, dst) in head.iter_mut().enumerate() {
            let position = start + offset;
            let chunk = (self.word ^ (position / 8) as u64).to_le_bytes();
            *dst = chunk.get(position % 8).copied().unwrap_or(0);
        }
        let first_chunk = (start + lead) / 8;
        let mut words = body.chunks_exact_mut(8);
        let mut next = first_chunk;
        for dst in &mut words {
            dst.copy_from_slice(&(self.word ^ next as u64).to_le_bytes());
            next += 1;
        }
        let tail = words.into_remainder();
        let chunk = (self.word ^ next as u64).to_le_bytes();
        for (d, s) in tail.iter_mut().zip(chunk) {
            *d = s;
        }
        if self.info.len < self.size {
            return;
        }
        let jitter = (self.word % 64) as f32 / 256.0;
        let trailer = DepthTrailerRepr::k4sync(
            Ticks90k(self.info.device_ticks.0),
            35.0 + jitter,
            31.5,
            self.info.index,
        );
        let mut bytes = [0u8; TRAILER_LEN];
        if trailer.emit_into_frame(&mut bytes).is_err() {
            return;
        }
        let trailer_start = self.size.saturating_sub(TRAILER_LEN);
        for (i, byte) in bytes.iter().enumerate() {
            let Some(at) = (trailer_start + i).checked_sub(start) else {
                continue;
            };
            if let Some(dst) = out.get_mut(at) {
                *dst = *byte;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) imu_running: bool,
    pub(crate) imu_next_tick: u64,
    imu_index: u64,
    period: u64,
    origin: Option<u64>,
    next_colour: u64,
    next_depth: u64,
    next_pulse: u64,
    awaiting_first_pulse: bool,
    pulses: u64,
    colour_due: Deque<u64, 8>,
    depth_due: Deque<u64, 8>,
    sync_out: Deque<u64, 16>,
    pub(crate) colour_index: u64,
    pub(crate) depth_index: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            imu_running: false,
            imu_next_tick: 0,
            imu_index: 0,
            period: period_ticks(Fps::Fps30),
            origin: None,
            next_colour: 1,
            next_depth: 1,
            next_pulse: 0,
            awaiting_first_pulse: false,
            pulses: 0,
            colour_due: Deque::new(),
            depth_due: Deque::new(),
            sync_out: Deque::new(),
            colour_index: 0,
            depth_index: 0,
        }
    }
}

const fn period_ticks(fps: Fps) -> u64 {
    TICKS_PER_SECOND / fps.hz() as u64
}

fn push_bounded<const N: usize>(queue: &mut Deque<u64, N>, value: u64) {
    if queue.is_full() {
        queue.pop_front();
    }
    let _ = queue.push_back(value);
}

fn offset_tick(base: u64, delta: i64) -> u64 {
    base.saturating_add_signed(delta)
}

impl Device {
    fn mode(&self) -> WiredSyncMode {
        self.sys_config.mode
    }

    fn depth_delay(&self) -> i64 {
        i64::from(self.sys_config.depth_delay_ticks)
    }

    fn zero_clock(&mut self, host_ns: u64) {
        self.clock.zero_at(host_ns);
        self.sched.imu_next_tick = 0;
    }

    pub(crate) fn on_colour_start(&mut self, now_ns: u64, fps: Fps) {
        let s = &mut self.sched;
        s.period = period_ticks(fps);
        s.colour_due.clear();
        if self.sys_config.mode == WiredSyncMode::Subordinate {
            if !self.depth.streaming {
                s.awaiting_first_pulse = true;
                s.pulses = 0;
            }
            return;
        }
        s.origin = Some(0);
        s.next_colour = 1;
        s.next_depth = 1;
        s.next_pulse = 0;
        self.zero_clock(now_ns);
    }

    pub(crate) fn on_colour_stop(&mut self) {
        self.sched.colour_due.clear();
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.clear_stream(Stream::Colour);
        }
        if !self.depth.streaming {
            self.sched.origin = None;
            self.sched.awaiting_first_pulse = false;
        }
    }

    pub(crate) fn on_depth_stream_start(&mut self, _now_ns: u64) {
        let now = self.clock.now_ticks().0;
        let colour = self.colour.is_some();
        let fps = self.depth.fps.unwrap_or(Fps::Fps30);
        let delay = self.depth_delay();
        let s = &mut self.sched;
        s.depth_due.clear();
        if self.sys_config.mode == WiredSyncMode::Subordinate {
            if !colour {
                s.awaiting_first_pulse = true;
                s.pulses = 0;
            }
            return;
        }
        match s.origin {
            Some(origin) if colour => {
                let since = (now as i128) - (origin as i128) - (delay as i128);
                let k = if since < 0 {
                    1
                } else {
                    (since as u128 / u128::from(s.period.max(1))) as u64 + 1
                };
                s.next_depth = k.max(1);
            }
            _ => {
                s.period = period_ticks(fps);
                s.origin = Some(now);
                s.next_depth = 1;
            }
        }
    }

    pub(crate) fn on_depth_stream_stop(&mut self) {
        self.sched.depth_due.clear();
        if let Some(timeline) = self.timeline.as_mut() {
            timeline.clear_stream(Stream::Depth);
        }
        if self.colour.is_none() {
            self.sched.origin = None;
            self.sched.awaiting_first_pulse = false;
        }
    }

    pub(crate) fn on_imu_start(&mut self) {
        self.sched.imu_running = true;
        self.sched.imu_next_tick = self.clock.now_ticks().0;
    }

    /// A pulse on Sync In at a host instant. A subordinate repeats it on Sync Out; while a
    /// subordinate's cameras run, the first pulse zeroes its clock and later pulses trigger
    /// captures.
    pub fn on_sync_in_pulse(&mut self, host_ns: u64) {
        if self.faults.gone || self.mode() != WiredSyncMode::Subordinate {
            return;
        }
        self.clock.advance_to(host_ns);
        push_bounded(&mut self.sched.sync_out, host_ns);
        if !self.cameras_streaming() {
            return;
        }
        if self.sched.awaiting_first_pulse {
            self.zero_clock(host_ns);
            self.sched.awaiting_first_pulse = false;
            self.sched.pulses = 0;
        }
        self.sched.pulses = self.sched.pulses.saturating_add(1);
        if self.sched.pulses <= 1 + u64::from(self.params.swallowed_pulses) {
            return;
        }
        let pulse = self.clock.ticks_at(host_ns).0;
        let colour_centre =
            pulse.saturating_add(u64::from(self.sys_config.subordinate_delay_ticks));
        let depth_centre = offset_tick(colour_centre, self.depth_delay());
        if self.colour.is_some() {
            push_bounded(&mut self.sched.colour_due, colour_centre);
        }
        if self.depth.streaming {
            push_bounded(&mut self.sched.depth_due, depth_centre);
        }
    }

    /// The next Sync Out pulse at or before `now_ns`, as a host instant: a master's colour
    /// VSYNC, or a subordinate's repeat of its Sync In.
    pub fn poll_sync_out(&mut self, now_ns: u64) -> Option<u64> {
        if self.faults.gone {
            return None;
        }
        self.clock.advance_to(now_ns);
        match self.mode() {
            WiredSyncMode::Subordinate => {
                if self.sched.sync_out.front().is_some_and(|&t| t <= now_ns) {
                    self.sched.sync_out.pop_front()
                } else {
                    None
                }
            }
            WiredSyncMode::Master => {
                self.colour?;
                let origin = self.sched.origin?;
                let tick =
                    origin.saturating_add(self.sched.next_pulse.saturating_mul(self.sched.period));
                if tick > self.clock.now_ticks().0 {
                    return None;
                }
                self.sched.next_pulse += 1;
                Some(self.clock.host_ns_at(Ticks90k(tick)))
            }
            WiredSyncMode::Standalone => None,
        }
    }

    fn next_frame(&mut self, stream: Stream) -> Option<u64> {
        let now = self.clock.now_ticks().0;
        let latency = u64::from(self.params.readout_latency_ticks);
        let ready = now.saturating_sub(latency);
        if self.mode() == WiredSyncMode::Subordinate {
            let queue = match stream {
                Stream::Depth => &mut self.sched.depth_due,
                _ => &mut self.sched.colour_due,
            };
            return match queue.front() {
                Some(&centre) if centre <= ready && now >= latency => queue.pop_front(),
                _ => None,
            };
        }
        let origin = self.sched.origin?;
        let offset = match stream {
            Stream::Depth => self.depth_delay(),
            _ => 0,
        };
        let period = self.sched.period.max(1);
        let since = (ready as i128) - (origin as i128) - (offset as i128);
        if since < 0 || now < latency {
            return None;
        }
        let latest = (since as u128 / u128::from(period)) as u64;
        let next = match stream {
            Stream::Depth => &mut self.sched.next_depth,
            _ => &mut self.sched.next_colour,
        };
        if *next > latest {
            return None;
        }
        let skipped = latest + 1 - *next;
        if skipped > FRAME_BACKLOG {
            *next += skipped - FRAME_BACKLOG;
        }
        let k = *next;
        *next += 1;
        Some(offset_tick(
            origin.saturating_add(k.saturating_mul(period)),
            offset,
        ))
    }

    fn deliverable(&mut self, stream: Stream) -> Option<(u64, u64)> {
        if self.timeline.is_some() {
            return self.next_followed(stream);
        }
        loop {
            let centre = self.next_frame(stream)?;
            let counter = match stream {
                Stream::Depth => &mut self.sched.depth_index,
                _ => &mut self.sched.colour_index,
            };
            let index = *counter;
            *counter += 1;
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
        self.faults.check(Stream::Depth.endpoint())?;
        self.clock.advance_to(now_ns);
        let Some(mode) = self.depth.mode.filter(|_| self.depth.streaming) else {
            return Ok(None);
        };
        let Some((index, centre)) = self.deliverable(Stream::Depth) else {
            return Ok(None);
        };
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
        self.faults.check(Stream::Colour.endpoint())?;
        self.clock.advance_to(now_ns);
        let Some(config) = self.colour else {
            return Ok(None);
        };
        let Some((index, centre)) = self.deliverable(Stream::Colour) else {
            return Ok(None);
        };
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
    pub fn poll_imu_packet(
        &mut self,
        now_ns: u64,
        out: &mut [u8; TRANSFER_LEN],
    ) -> Result<Option<FrameInfo>, TransferError> {
        self.faults.check(Stream::Imu.endpoint())?;
        self.clock.advance_to(now_ns);
        if !self.sched.imu_running {
            return Ok(None);
        }
        let now = self.clock.now_ticks().0;
        loop {
            let first = self.sched.imu_next_tick;
            let last = first + PACKET_TICKS - IMU_SAMPLE_TICKS;
            if last > now {
                return Ok(None);
            }
            let behind = (now - last) / PACKET_TICKS;
            if behind >= IMU_BACKLOG {
                let skip = behind + 1 - IMU_BACKLOG;
                self.sched.imu_next_tick += skip * PACKET_TICKS;
                self.sched.imu_index += skip;
                continue;
            }
            self.sched.imu_next_tick += PACKET_TICKS;
            let index = self.sched.imu_index;
            self.sched.imu_index += 1;
            if self.faults.take_drop(Stream::Imu) {
                continue;
            }
            let repr = self.imu_packet(first);
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

    fn imu_packet(&self, first_tick: u64) -> ImuPacketRepr {
        let mut repr = ImuPacketRepr {
            temperature_period_usec: 1_000_000,
            temperature_sensitivity: 256,
            temperature_raw: 20 * 256,
            gyro_sensitivity: GYRO_SENSITIVITY,
            gyro_period_usec: 600,
            accel_sensitivity: ACCEL_SENSITIVITY,
            accel_period_usec: 600,
            ..ImuPacketRepr::default()
        };
        for i in 0..IMU_SAMPLES_PER_PACKET {
            let tick = first_tick + i * IMU_SAMPLE_TICKS;
            let mut rng = SplitMix64::new(self.params.seed ^ tick.wrapping_mul(0x1F3D_5B79));
            let mut noise = |scale: u64| ((rng.next_u64() % (2 * scale + 1)) as i16) - scale as i16;
            let gyro = ImuRecord {
                ticks: Ticks90k(tick),
                raw: [noise(3), noise(3), noise(3)],
            };
            let accel = ImuRecord {
                ticks: Ticks90k(tick),
                raw: [noise(8), noise(8), ONE_G_RAW + noise(8)],
            };
            let _ = repr.gyro.push(gyro);
            let _ = repr.accel.push(accel);
        }
        repr
    }
}

/// Metadata the emulator attaches to a colour frame: a frame-align-info item whose PTS is
/// the colour device timestamp, then a capture-stats item (exposure, white balance).
pub const COLOUR_METADATA_LEN: usize = FRAME_ALIGN_INFO_LEN + CAPTURE_STATS_LEN;

/// Writes the UVC payload header for one payload of a colour frame into `out` and returns
/// its length; the payload's image bytes follow it. Only the first payload of a frame
/// carries the Microsoft metadata (well within the host's 4 KiB), the last sets EOF, and
/// FID toggles with the frame index.
pub fn colour_payload_header(
    info: &FrameInfo,
    first: bool,
    last: bool,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let mut metadata = [0u8; COLOUR_METADATA_LEN];
    let (align, stats) = metadata.split_at_mut(FRAME_ALIGN_INFO_LEN);
    FrameAlignInfoRepr {
        flags: 0,
        pts_ticks: info.device_ticks,
        pts_reference: 0,
        usb_sof_seq: info.index,
        usb_sof_pts: 0,
    }
    .emit(&mut FrameAlignInfo::new_unchecked(align))?;
    CaptureStatsRepr {
        flags: STATS_FLAG_EXPOSURE | STATS_FLAG_WHITE_BALANCE,
        exposure_100ns: 83_300,
        white_balance_kelvin: 4_500,
        ..CaptureStatsRepr::default()
    }
    .emit(&mut CaptureStats::new_unchecked(stats))?;
    let header = UvcHeaderRepr {
        fid: info.index & 1 == 1,
        end_of_frame: last,
        pts: Some(info.device_ticks.0 as u32),
        metadata: if first { &metadata[..] } else { &[] },
        ..UvcHeaderRepr::default()
    };
    header.emit(&mut UvcPayload::new_unchecked(&mut *out))?;
    Ok(header.buffer_len())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frame(word: u64, size: usize) -> DepthFrame {
        DepthFrame {
            info: FrameInfo {
                stream: Stream::Depth,
                index: 0,
                device_ticks: Ticks90k(0),
                len: size - 1,
            },
            size,
            word,
        }
    }

    proptest! {
        #[test]
        fn any_window_renders_byte_p_as_byte_p_mod_8_of_word_xor_p_div_8(
            word in any::<u64>(),
            start in 0usize..64,
            len in 0usize..200,
        ) {
            let mut out = [0u8; 200];
            let out = &mut out[..len];
            frame(word, 4096).render(start, out);
            for (i, &got) in out.iter().enumerate() {
                let p = start + i;
                prop_assert_eq!(got, (word ^ (p / 8) as u64).to_le_bytes()[p % 8], "byte {}", p);
            }
        }
    }
}
