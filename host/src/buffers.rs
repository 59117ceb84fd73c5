//! Frame buffers handed back and forth between the transports and the MKV writer.
//!
//! Every frame is copied once out of a transfer or V4L2 buffer that the transport re-arms at
//! once. A fresh megabyte-sized `Vec` per frame is a fresh mapping (the recorder pins glibc's
//! mmap threshold at 1 MiB, see `record.rs`): the kernel faults in and zeroes every page on the
//! first write and unmaps it again on the writer thread, work that costs more than the copy
//! itself (about 2.3 GB/s against 11 GB/s for a copy on the benchmark machine). The writer
//! therefore [`recycle`]s the buffers of the frames it has written, and the transports take
//! them back with [`copy_of`], so in steady state a frame's pages are never faulted in again.
//!
//! Each camera has its own pool: its transport creates it ([`Transport::buffers`]), its
//! streams and the device's framing take from it, and the recorder hands it to the writer of
//! that camera's file, so the writer gives the buffers back where they came from and one
//! camera's traffic never holds or contends for another's buffers (nusb recycles per endpoint
//! in the same spirit). A writer without a camera (`k4sync depth`) has a pool of its own.
//! Every pool is bounded: it keeps at most [`POOL_BYTES`] of idle capacity, only
//! buffers of at least [`MIN_POOLED`] bytes, which malloc serves well on its own, and none
//! that sat idle longer than [`IDLE_LIMIT`]: in steady state a buffer comes back within a few
//! frame periods, so the pool holds the frames in circulation and not what a burst (a stalled
//! writer catching up) left behind. A buffer is reused for a frame only when it is at most
//! [`MAX_SLACK`] times the frame's size, so a colour frame never pins a depth-frame-sized
//! buffer. [`BufferPool::release_idle`] frees everything idle (the recorder calls it when it
//! is done).
//!
//! [`Transport::buffers`]: crate::transport::Transport::buffers

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Idle capacity the pool keeps at most; buffers recycled beyond it are freed.
pub const POOL_BYTES: usize = 16 << 20;

/// Smaller buffers are neither kept nor handed out.
pub const MIN_POOLED: usize = 64 << 10;

/// A buffer serves a request of `len` bytes only if its capacity is at most this many times
/// `len`.
pub const MAX_SLACK: usize = 2;

/// Idle buffers older than this are freed at the pool's next use.
pub const IDLE_LIMIT: Duration = Duration::from_secs(1);

/// A bounded pool of idle frame buffers, one per camera (see the module documentation).
#[derive(Debug)]
pub struct BufferPool {
    state: Mutex<Idle>,
    bound: usize,
    idle_limit: Duration,
}

#[derive(Debug)]
struct Idle {
    bufs: Vec<(Instant, Vec<u8>)>,
    bytes: usize,
}

impl Idle {
    fn evict_older_than(&mut self, limit: Duration, now: Instant) {
        let before = self.bufs.len();
        self.bufs
            .retain(|(since, _)| now.saturating_duration_since(*since) <= limit);
        if self.bufs.len() != before {
            self.bytes = self.bufs.iter().map(|(_, b)| b.capacity()).sum();
        }
    }
}

impl BufferPool {
    /// A camera's pool, with the default bounds.
    pub fn for_camera() -> Arc<BufferPool> {
        Arc::new(BufferPool::new(POOL_BYTES, IDLE_LIMIT))
    }

    /// A pool keeping at most `bound` bytes of idle capacity, each buffer at most `idle_limit`.
    pub(crate) const fn new(bound: usize, idle_limit: Duration) -> Self {
        BufferPool {
            state: Mutex::new(Idle {
                bufs: Vec::new(),
                bytes: 0,
            }),
            bound,
            idle_limit,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An empty buffer with room for at least `len` bytes, reused when an idle one fits: the
    /// smallest that fits, of those the most recently recycled, so that a surplus left by a
    /// burst stays idle and ages out.
    pub(crate) fn with_capacity(&self, len: usize) -> Vec<u8> {
        if len >= MIN_POOLED {
            let mut idle = self.idle();
            idle.evict_older_than(self.idle_limit, Instant::now());
            let best = idle
                .bufs
                .iter()
                .enumerate()
                .filter(|(_, (_, b))| b.capacity() >= len && b.capacity() / MAX_SLACK <= len)
                .min_by_key(|(_, (since, b))| (b.capacity(), std::cmp::Reverse(*since)))
                .map(|(i, _)| i);
            if let Some(i) = best {
                let (_, mut buf) = idle.bufs.swap_remove(i);
                idle.bytes -= buf.capacity();
                buf.clear();
                return buf;
            }
        }
        Vec::with_capacity(len)
    }

    /// A copy of `bytes`, in an idle buffer when one fits.
    pub(crate) fn copy_of(&self, bytes: &[u8]) -> Vec<u8> {
        let mut buf = self.with_capacity(bytes.len());
        buf.extend_from_slice(bytes);
        buf
    }

    /// Keeps a buffer whose contents are no longer needed; frees it when it is small or the
    /// pool is full.
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap < MIN_POOLED {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle();
        idle.evict_older_than(self.idle_limit, now);
        if idle.bytes + cap <= self.bound {
            idle.bytes += cap;
            idle.bufs.push((now, buf));
        }
    }

    /// Frees every idle buffer.
    pub(crate) fn release_idle(&self) {
        let mut idle = self.idle();
        idle.bufs.clear();
        idle.bytes = 0;
    }

    /// Idle capacity held (bytes).
    #[cfg(test)]
    pub fn idle_bytes(&self) -> usize {
        self.idle().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_is_handed_out_again_with_the_new_contents() {
        let pool = BufferPool::new(POOL_BYTES, Duration::from_secs(3600));
        let first = pool.copy_of(&[7u8; 300_000]);
        let ptr = first.as_ptr();
        pool.recycle(first);
        assert!(pool.idle_bytes() >= 300_000);
        let again = pool.copy_of(&[9u8; 299_000]);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.iter().all(|&b| b == 9));
        assert_eq!(again.len(), 299_000);
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn small_buffers_and_buffers_far_too_large_are_not_used() {
        let pool = BufferPool::new(POOL_BYTES, Duration::from_secs(3600));
        pool.recycle(pool.copy_of(&[1u8; 1000]));
        assert_eq!(pool.idle_bytes(), 0);

        let big = Vec::<u8>::with_capacity(2 * 700_000 + 2);
        let ptr = big.as_ptr();
        pool.recycle(big);
        let frame = pool.copy_of(&[2u8; 700_000]);
        assert_ne!(frame.as_ptr(), ptr);
        let fits = pool.copy_of(&[3u8; 700_001]);
        assert_eq!(fits.as_ptr(), ptr);
    }

    #[test]
    fn the_best_fitting_buffer_is_taken() {
        let pool = BufferPool::new(POOL_BYTES, Duration::from_secs(3600));
        let (large, small) = (vec![0u8; 2_000_000], vec![0u8; 1_000_000]);
        let small_ptr = small.as_ptr();
        pool.recycle(large);
        pool.recycle(small);
        let taken = pool.with_capacity(900_000);
        assert_eq!(taken.as_ptr(), small_ptr);
        assert_eq!(pool.idle_bytes(), 2_000_000);
    }

    #[test]
    fn the_pool_never_holds_more_than_its_bound() {
        let bound = 5_000_000;
        let pool = BufferPool::new(bound, Duration::from_secs(3600));
        for _ in 0..8 {
            pool.recycle(Vec::with_capacity(1_000_000));
            assert!(pool.idle_bytes() <= bound);
        }
        assert_eq!(pool.idle_bytes(), 5_000_000);
        let taken: Vec<_> = (0..5).map(|_| pool.with_capacity(1_000_000)).collect();
        assert_eq!(pool.idle_bytes(), 0);
        assert!(taken
            .iter()
            .all(|b| b.capacity() == 1_000_000 && b.is_empty()));
    }

    #[test]
    fn buffers_idle_longer_than_the_limit_are_freed_and_release_idle_frees_the_rest() {
        let pool = BufferPool::new(POOL_BYTES, Duration::from_millis(20));
        pool.recycle(vec![0u8; 1_000_000]);
        std::thread::sleep(Duration::from_millis(40));
        pool.recycle(vec![0u8; 2_000_000]);
        assert_eq!(pool.idle_bytes(), 2_000_000, "the stale buffer is gone");
        let fresh = pool.with_capacity(1_000_000);
        assert_eq!(fresh.capacity(), 2_000_000, "the recent one serves");
        pool.recycle(fresh);
        pool.release_idle();
        assert_eq!(pool.idle_bytes(), 0);
    }
}
