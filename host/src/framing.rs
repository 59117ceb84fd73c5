//! Transport-neutral stream framing and transfer sizing: cutting raw depth frames and IMU
//! packets out of completed bulk IN transfers (reference §3.5, §4.4), and the SDK's rule for
//! how many depth transfers to keep in flight.
//!
//! Frames are cut from the data itself, never from transfer boundaries: a device write ends
//! with a short packet, so a transfer that ends short ends the write. Every transport (nusb,
//! the emulator) hands the device layer the same [`crate::transport::Chunk`]s, so one framer
//! serves them all.

use std::sync::Arc;
use std::time::Duration;

use crate::transport::BufferPool;

/// Timeout of each stream transfer (§3.5).
pub const STREAM_TIMEOUT: Duration = Duration::from_millis(2000);
/// IMU transfers kept in flight (§4.4).
pub const IMU_TRANSFERS: usize = 8;
/// The SDK's IMU transfer size, which is also the longest packet it accepts (G = A = 8).
pub const IMU_PACKET_MAX_LEN: usize = 252;
/// Length of the IMU packet header.
pub const IMU_HEADER_LEN: usize = 28;
/// Length of one IMU sample record.
pub const IMU_SAMPLE_LEN: usize = 14;
/// Most depth transfers in flight (§3.5).
pub const MAX_DEPTH_TRANSFERS: usize = 8;
/// Bytes the depth transfers in flight may hold together on Linux (§3.5), unless the
/// `K4A_MAX_LIBUSB_POOL` environment variable says otherwise.
pub const LINUX_POOL_LIMIT: usize = 10_000_000;

/// How many depth transfers the SDK keeps in flight: the most, up to 8, whose buffers
/// together stay below `pool_limit`; 0 when one request alone does not (§3.5).
pub fn depth_transfers_in_flight(request_len: usize, pool_limit: usize) -> usize {
    (1..=MAX_DEPTH_TRANSFERS)
        .rev()
        .find(|&n| n.saturating_mul(request_len) < pool_limit)
        .unwrap_or(0)
}

/// The depth pool limit: `K4A_MAX_LIBUSB_POOL` if set to a number, else the Linux default.
pub fn pool_limit() -> usize {
    std::env::var("K4A_MAX_LIBUSB_POOL")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(LINUX_POOL_LIMIT)
}

/// Cuts raw depth frames out of the stream: bytes accumulate across transfers until the
/// device ends a write with a short packet; the write is a frame only if it is exactly the
/// mode's raw frame size (§3.3, §3.5), otherwise it is dropped and counted.
#[derive(Debug, Clone)]
pub struct DepthFramer {
    frame_len: usize,
    buf: Vec<u8>,
    /// The camera's pool: frames are assembled in its buffers, transfers go back to it.
    buffers: Arc<BufferPool>,
    overrun: bool,
    dropped: usize,
}

impl DepthFramer {
    pub fn new(frame_len: usize, buffers: Arc<BufferPool>) -> Self {
        DepthFramer {
            frame_len,
            buf: Vec::new(),
            buffers,
            overrun: false,
            dropped: 0,
        }
    }

    /// Feeds one completed transfer; `ended` when it ended on a short packet (the device's
    /// write is over). Returns the frame that ended here, if it has the right size.
    pub fn push(&mut self, bytes: &[u8], ended: bool) -> Option<Vec<u8>> {
        if !self.overrun {
            if self.buf.len() + bytes.len() > self.frame_len {
                self.overrun = true;
                self.buf.clear();
            } else {
                if self.buf.capacity() == 0 {
                    self.buf = self.buffers.with_capacity(self.frame_len);
                }
                self.buf.extend_from_slice(bytes);
            }
        }
        if !ended {
            return None;
        }
        let whole = !self.overrun && self.buf.len() == self.frame_len;
        if whole {
            return Some(std::mem::take(&mut self.buf));
        }
        if self.overrun || !self.buf.is_empty() {
            self.dropped += 1;
        }
        self.reset();
        None
    }

    /// [`Self::push`] for a transfer the caller owns: a transfer that is a whole frame on its
    /// own (the usual case when one transfer holds a frame) becomes the frame without a copy.
    pub fn push_owned(&mut self, bytes: Vec<u8>, ended: bool) -> Option<Vec<u8>> {
        if ended && !self.overrun && self.buf.is_empty() && bytes.len() == self.frame_len {
            return Some(bytes);
        }
        let frame = self.push(&bytes, ended);
        self.buffers.recycle(bytes);
        frame
    }

    /// Forgets a partial frame (after a transfer was lost).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.overrun = false;
    }

    /// Writes discarded for having the wrong size.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

/// Cuts IMU packets out of the stream by their own header: 28 bytes, then G gyro and A accel
/// records of 14 bytes (§4.4). Several packets in one write are all taken; a write that ends
/// inside a packet, or a header announcing more than 16 records, drops the rest of the write.
#[derive(Debug, Clone, Default)]
pub struct ImuFramer {
    carry: Vec<u8>,
    corrupt: bool,
    dropped: usize,
}

impl ImuFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one completed transfer (`ended` as for [`DepthFramer::push`]) and appends every
    /// whole packet to `out`.
    pub fn push(&mut self, bytes: &[u8], ended: bool, out: &mut Vec<Vec<u8>>) {
        if !self.corrupt {
            self.carry.extend_from_slice(bytes);
            while let Some(len) = Self::packet_len(&self.carry) {
                match len {
                    Some(len) if len <= self.carry.len() => {
                        out.push(self.carry.drain(..len).collect());
                    }
                    Some(_) => break,
                    None => {
                        self.corrupt = true;
                        self.carry.clear();
                        break;
                    }
                }
            }
        }
        if ended {
            if self.corrupt || !self.carry.is_empty() {
                self.dropped += 1;
            }
            self.reset();
        }
    }

    /// `None` until the header is complete; then the packet length, or `Some(None)` when
    /// the header announces more records than a 252-byte packet holds.
    fn packet_len(bytes: &[u8]) -> Option<Option<usize>> {
        let count = |at: usize| -> Option<usize> {
            let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            usize::try_from(u32::from_le_bytes(word)).ok()
        };
        if bytes.len() < IMU_HEADER_LEN {
            return None;
        }
        let len = count(14)
            .zip(count(24))
            .and_then(|(g, a)| g.checked_add(a))
            .and_then(|n| n.checked_mul(IMU_SAMPLE_LEN))
            .and_then(|n| n.checked_add(IMU_HEADER_LEN))
            .filter(|&len| len <= IMU_PACKET_MAX_LEN);
        Some(len)
    }

    pub fn reset(&mut self) {
        self.carry.clear();
        self.corrupt = false;
    }

    /// Writes that ended with bytes that did not form a whole packet.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k4sync_core::types::SensorMode;

    #[test]
    fn depth_transfers_follow_the_sdk_pool_rule() {
        let n = |mode: SensorMode| {
            depth_transfers_in_flight(mode.bulk_request_size(), LINUX_POOL_LIMIT)
        };
        assert_eq!(n(SensorMode::LongThrowNative), 1);
        assert_eq!(n(SensorMode::Megapixel), 1);
        assert_eq!(n(SensorMode::QuarterMegapixel), 2);
        assert_eq!(n(SensorMode::PseudoCommon), 5);
        assert_eq!(depth_transfers_in_flight(5_311_488, 80_000_000), 8);
        assert_eq!(depth_transfers_in_flight(10_000_000, 10_000_000), 0);
    }

    #[test]
    fn depth_frames_are_cut_at_the_short_packet_not_at_transfer_ends() {
        let mut framer = DepthFramer::new(2500, BufferPool::for_camera());
        assert_eq!(framer.push(&[1; 1024], false), None);
        assert_eq!(framer.push(&[2; 1024], false), None);
        let frame = framer.push(&[3; 452], true).unwrap();
        assert_eq!(frame.len(), 2500);
        assert_eq!((frame[0], frame[1024], frame[2499]), (1, 2, 3));
        assert_eq!(framer.dropped(), 0);
    }

    #[test]
    fn depth_writes_of_the_wrong_size_are_dropped_and_counted() {
        let mut framer = DepthFramer::new(2500, BufferPool::for_camera());
        assert_eq!(framer.push(&[0; 100], true), None);
        assert_eq!(framer.push(&[0; 2048], false), None);
        assert_eq!(framer.push(&[0; 1000], true), None);
        assert_eq!(framer.push(&[], true), None);
        assert_eq!(framer.dropped(), 2);
        assert_eq!(framer.push(&[0; 2500], true).map(|f| f.len()), Some(2500));
    }

    proptest::proptest! {
        #[test]
        fn owned_transfers_frame_exactly_as_borrowed_ones(
            transfers in proptest::collection::vec((0usize..3000, proptest::bool::ANY, 0u8..=255), 0..12)
        ) {
            let (mut borrowed, mut owned) = (DepthFramer::new(2500, BufferPool::for_camera()), DepthFramer::new(2500, BufferPool::for_camera()));
            for (len, ended, fill) in transfers {
                let bytes = vec![fill; len];
                proptest::prop_assert_eq!(
                    borrowed.push(&bytes, ended),
                    owned.push_owned(bytes, ended)
                );
                proptest::prop_assert_eq!(borrowed.dropped(), owned.dropped());
            }
        }
    }

    fn imu_packet(g: u32, a: u32, fill: u8) -> Vec<u8> {
        let mut packet = vec![fill; IMU_HEADER_LEN + IMU_SAMPLE_LEN * (g + a) as usize];
        packet[14..18].copy_from_slice(&g.to_le_bytes());
        packet[24..28].copy_from_slice(&a.to_le_bytes());
        packet
    }

    #[test]
    fn imu_packets_are_cut_by_their_sample_counts() {
        let mut framer = ImuFramer::new();
        let mut out = Vec::new();
        let mut write = imu_packet(8, 8, 1);
        write.extend(imu_packet(2, 3, 2));
        framer.push(&write[..100], false, &mut out);
        assert!(out.is_empty());
        framer.push(&write[100..], true, &mut out);
        assert_eq!(out, [imu_packet(8, 8, 1), imu_packet(2, 3, 2)]);
        assert_eq!(framer.dropped(), 0);
    }

    #[test]
    fn imu_writes_ending_inside_a_packet_or_overlong_are_dropped() {
        let mut framer = ImuFramer::new();
        let mut out = Vec::new();
        framer.push(&imu_packet(8, 8, 1)[..200], true, &mut out);
        framer.push(&imu_packet(9, 8, 1), true, &mut out);
        framer.push(&[0; 10], true, &mut out);
        assert!(out.is_empty());
        assert_eq!(framer.dropped(), 3);
        framer.push(&imu_packet(1, 1, 4), true, &mut out);
        assert_eq!(out, [imu_packet(1, 1, 4)]);
    }
}
