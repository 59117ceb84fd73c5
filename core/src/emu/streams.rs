//! Stream timing and content: when the emulated device has a depth frame, a colour frame, an IMU
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
//! lost, and counted: [`Device::frames_lost`](super::Device::frames_lost)) and eight IMU
//! packets.

use heapless::Deque;

use crate::time::{Ticks90k, TICKS_PER_SECOND};
use crate::types::{Fps, WiredSyncMode};
use crate::wire::depth_trailer::{DepthTrailerRepr, TRAILER_LEN};
use crate::wire::imu::{ImuPacketRepr, ImuRecord};
use crate::wire::uvc::{
    CaptureStats, CaptureStatsRepr, FrameAlignInfo, FrameAlignInfoRepr, UvcHeaderRepr, UvcPayload,
    CAPTURE_STATS_LEN, FRAME_ALIGN_INFO_LEN, STATS_FLAG_EXPOSURE, STATS_FLAG_WHITE_BALANCE,
};
use crate::WireError;

use super::fault::Stream;
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

/// The exposure the emulator's auto exposure settles on, µs (its capture stats report it as
/// 83,300 × 100 ns); at this exposure a frame is centred on its grid tick or pulse.
pub const AUTO_EXPOSURE_USEC: u32 = 8_330;

/// How far a colour exposure of `usec` moves both images' centres of exposure off the
/// emulator's grid (or a subordinate's pulse plus delay), ticks. The pulse (the colour
/// VSYNC) anchors the end of the colour exposure and the hardware keeps depth centred on
/// colour (reference §6.4: the end anchor is the reference's unconfirmed inference from
/// Microsoft's green-screen example, centre alignment is the maintainer's statement), so the
/// centre moves by half the exposure's difference from [`AUTO_EXPOSURE_USEC`]: earlier for
/// a longer exposure. µs → ticks truncates toward zero as in §6.2.
pub const fn exposure_centre_shift_ticks(usec: u32) -> i64 {
    let half_usec = (AUTO_EXPOSURE_USEC as i64 - usec as i64) / 2;
    half_usec * 9 / 100
}

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
pub(crate) struct DepthFrame {
    pub(crate) info: FrameInfo,
    pub(crate) size: usize,
    pub(crate) word: u64,
}

impl DepthFrame {
    /// Writes bytes `start .. start + out.len()` of the frame: seeded content, and the trailer
    /// in the last 40 bytes of the mode's size when the frame is at least that long.
    pub(crate) fn render(&self, start: usize, out: &mut [u8]) {
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
    imu_running: bool,
    imu_next_tick: u64,
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
    colour_index: u64,
    depth_index: u64,
    /// Frames or packets lost per stream ([`Stream::index`]) because nothing took them
    /// before the device's backlog overflowed.
    lost: [u64; Stream::COUNT],
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
            lost: [0; Stream::COUNT],
        }
    }
}

const fn period_ticks(fps: Fps) -> u64 {
    TICKS_PER_SECOND / fps.hz() as u64
}

/// The first grid frame whose centre (`k × period + offset` ticks after the origin) lies after
/// the origin: 1, or later when a long exposure or a negative depth delay moves centres
/// earlier by more than a period. Earlier frames are not produced (nor counted lost), like
/// the pulse-0 frame.
fn first_frame_after_origin(period: u64, offset: i64) -> u64 {
    if offset >= 0 {
        return 1;
    }
    offset.unsigned_abs() / period.max(1) + 1
}

/// Appends `value`, losing the oldest entry when the queue is full; returns whether one was
/// lost.
fn push_bounded<const N: usize>(queue: &mut Deque<u64, N>, value: u64) -> bool {
    let lost = queue.is_full() && queue.pop_front().is_some();
    let _ = queue.push_back(value);
    lost
}

pub(crate) fn offset_tick(base: u64, delta: i64) -> u64 {
    base.saturating_add_signed(delta)
}

impl Schedule {
    pub(crate) fn imu_running(&self) -> bool {
        self.imu_running
    }

    /// IMU_STREAM_START: samples run from the device's current tick.
    pub(crate) fn start_imu(&mut self, now_tick: u64) {
        self.imu_running = true;
        self.imu_next_tick = now_tick;
    }

    pub(crate) fn stop_imu(&mut self) {
        self.imu_running = false;
    }

    /// The device clock was zeroed: IMU samples restart at tick 0.
    pub(crate) fn clock_zeroed(&mut self) {
        self.imu_next_tick = 0;
    }

    /// The colour camera started at `fps`. Returns whether the device zeroes its clock now
    /// (a master or standalone device; a subordinate waits for its first pulse).
    pub(crate) fn on_colour_start(
        &mut self,
        fps: Fps,
        mode: WiredSyncMode,
        depth_streaming: bool,
    ) -> bool {
        self.period = period_ticks(fps);
        self.colour_due.clear();
        if mode == WiredSyncMode::Subordinate {
            if !depth_streaming {
                self.awaiting_first_pulse = true;
                self.pulses = 0;
            }
            return false;
        }
        self.origin = Some(0);
        self.next_colour = 1;
        self.next_depth = 1;
        self.next_pulse = 0;
        true
    }

    pub(crate) fn on_colour_stop(&mut self, depth_streaming: bool) {
        self.colour_due.clear();
        if !depth_streaming {
            self.origin = None;
            self.awaiting_first_pulse = false;
        }
    }

    /// The depth stream started at tick `now`: it joins a running colour grid, or starts its
    /// own at `fps`.
    pub(crate) fn on_depth_start(
        &mut self,
        now: u64,
        mode: WiredSyncMode,
        colour_on: bool,
        fps: Fps,
        depth_delay: i64,
    ) {
        self.depth_due.clear();
        if mode == WiredSyncMode::Subordinate {
            if !colour_on {
                self.awaiting_first_pulse = true;
                self.pulses = 0;
            }
            return;
        }
        match self.origin {
            Some(origin) if colour_on => {
                let since = (now as i128) - (origin as i128) - (depth_delay as i128);
                let k = if since < 0 {
                    1
                } else {
                    (since as u128 / u128::from(self.period.max(1))) as u64 + 1
                };
                self.next_depth = k.max(1);
            }
            _ => {
                self.period = period_ticks(fps);
                self.origin = Some(now);
                self.next_depth = 1;
            }
        }
    }

    pub(crate) fn on_depth_stop(&mut self, colour_on: bool) {
        self.depth_due.clear();
        if !colour_on {
            self.origin = None;
            self.awaiting_first_pulse = false;
        }
    }

    /// A subordinate repeats its Sync In pulse at `host_ns` on Sync Out.
    pub(crate) fn repeat_pulse(&mut self, host_ns: u64) {
        push_bounded(&mut self.sync_out, host_ns);
    }

    /// Frames (colour, depth) or packets (IMU) of `stream` the device lost since power-up
    /// because no transfer took them before its backlog overflowed.
    pub(crate) fn lost(&self, stream: Stream) -> u64 {
        self.lost.get(stream.index()).copied().unwrap_or(0)
    }

    fn count_lost(&mut self, stream: Stream, frames: u64) {
        if let Some(lost) = self.lost.get_mut(stream.index()) {
            *lost = lost.saturating_add(frames);
        }
    }

    /// Counts a Sync In pulse while the cameras run. Returns whether it is the first (the
    /// device zeroes its clock) and whether it triggers captures: pulses after the first and
    /// after the `swallowed` ones the firmware ignores.
    pub(crate) fn count_pulse(&mut self, swallowed: u32) -> (bool, bool) {
        let first = self.awaiting_first_pulse;
        if first {
            self.awaiting_first_pulse = false;
            self.pulses = 0;
        }
        self.pulses = self.pulses.saturating_add(1);
        (first, self.pulses > 1 + u64::from(swallowed))
    }

    /// A subordinate capture of `stream` centred on tick `centre`.
    pub(crate) fn capture_due(&mut self, stream: Stream, centre: u64) {
        let lost = match stream {
            Stream::Depth => push_bounded(&mut self.depth_due, centre),
            _ => push_bounded(&mut self.colour_due, centre),
        };
        self.count_lost(stream, u64::from(lost));
    }

    /// A subordinate's next repeated pulse at or before `now_ns`.
    pub(crate) fn pop_repeated_pulse(&mut self, now_ns: u64) -> Option<u64> {
        if self.sync_out.front().is_some_and(|&t| t <= now_ns) {
            self.sync_out.pop_front()
        } else {
            None
        }
    }

    /// A master's next Sync Out pulse tick, if the device clock (`now`) has reached it.
    pub(crate) fn next_master_pulse(&mut self, now: u64) -> Option<u64> {
        let origin = self.origin?;
        let tick = origin.saturating_add(self.next_pulse.saturating_mul(self.period));
        if tick > now {
            return None;
        }
        self.next_pulse += 1;
        Some(tick)
    }

    /// The centre tick of the next frame of `stream` readable at tick `now` after a readout
    /// latency: a subordinate's next due capture, or the next frame of the grid (`offset`
    /// ticks off it), losing frames beyond the backlog.
    pub(crate) fn next_frame(
        &mut self,
        stream: Stream,
        now: u64,
        latency: u64,
        mode: WiredSyncMode,
        offset: i64,
    ) -> Option<u64> {
        let ready = now.saturating_sub(latency);
        if mode == WiredSyncMode::Subordinate {
            let queue = match stream {
                Stream::Depth => &mut self.depth_due,
                _ => &mut self.colour_due,
            };
            return match queue.front() {
                Some(&centre) if centre <= ready && now >= latency => queue.pop_front(),
                _ => None,
            };
        }
        let origin = self.origin?;
        let period = self.period.max(1);
        let since = (ready as i128) - (origin as i128) - (offset as i128);
        if since < 0 || now < latency {
            return None;
        }
        let latest = (since as u128 / u128::from(period)) as u64;
        let next = match stream {
            Stream::Depth => &mut self.next_depth,
            _ => &mut self.next_colour,
        };
        *next = (*next).max(first_frame_after_origin(period, offset));
        if *next > latest {
            return None;
        }
        let skipped = latest + 1 - *next;
        let lost = skipped.saturating_sub(FRAME_BACKLOG);
        *next += lost;
        let k = *next;
        *next += 1;
        self.count_lost(stream, lost);
        Some(offset_tick(
            origin.saturating_add(k.saturating_mul(period)),
            offset,
        ))
    }

    /// The next sequence number of `stream` (colour or depth).
    pub(crate) fn next_index(&mut self, stream: Stream) -> u64 {
        let counter = match stream {
            Stream::Depth => &mut self.depth_index,
            _ => &mut self.colour_index,
        };
        let index = *counter;
        *counter += 1;
        index
    }

    /// The first tick and index of the next IMU packet whose last sample is taken by tick
    /// `now`, losing packets beyond the backlog.
    pub(crate) fn next_imu_packet(&mut self, now: u64) -> Option<(u64, u64)> {
        if !self.imu_running {
            return None;
        }
        loop {
            let first = self.imu_next_tick;
            let last = first + PACKET_TICKS - IMU_SAMPLE_TICKS;
            if last > now {
                return None;
            }
            let behind = (now - last) / PACKET_TICKS;
            if behind >= IMU_BACKLOG {
                let skip = behind + 1 - IMU_BACKLOG;
                self.imu_next_tick += skip * PACKET_TICKS;
                self.imu_index += skip;
                self.count_lost(Stream::Imu, skip);
                continue;
            }
            self.imu_next_tick += PACKET_TICKS;
            let index = self.imu_index;
            self.imu_index += 1;
            return Some((first, index));
        }
    }
}

/// The IMU packet starting at `first_tick`: seeded noise around rest, 1 g on Z.
pub(crate) fn imu_packet(seed: u64, first_tick: u64) -> ImuPacketRepr {
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
        let mut rng = SplitMix64::new(seed ^ tick.wrapping_mul(0x1F3D_5B79));
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

    #[test]
    fn frames_beyond_the_backlog_are_counted_lost_and_the_rest_keep_their_grid_ticks() {
        let mut sched = Schedule::default();
        assert!(sched.on_colour_start(Fps::Fps30, WiredSyncMode::Standalone, false));
        let period = period_ticks(Fps::Fps30);
        let latency = 900;
        let now = 100 * period + latency;
        let mut ticks = [0u64; 3];
        for t in &mut ticks {
            *t = sched
                .next_frame(Stream::Colour, now, latency, WiredSyncMode::Standalone, 0)
                .unwrap_or(0);
        }
        assert_eq!(ticks, [99 * period, 100 * period, 0]);
        assert_eq!(sched.lost(Stream::Colour), 98);
        assert_eq!(sched.lost(Stream::Depth), 0);
    }

    #[test]
    fn imu_packets_beyond_the_backlog_are_counted_lost() {
        let mut sched = Schedule::default();
        sched.start_imu(0);
        let now = 100 * PACKET_TICKS;
        let mut delivered = 0;
        while sched.next_imu_packet(now).is_some() {
            delivered += 1;
        }
        assert_eq!(delivered, IMU_BACKLOG);
        assert_eq!(sched.lost(Stream::Imu) + delivered, 100);
    }

    #[test]
    fn subordinate_captures_beyond_the_queue_are_counted_lost() {
        let mut sched = Schedule::default();
        for centre in 0..20 {
            sched.capture_due(Stream::Depth, centre);
        }
        assert_eq!(sched.lost(Stream::Depth), 12);
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
