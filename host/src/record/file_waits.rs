//! How long the writer thread waits in its calls into the file, so that a capture dropped at
//! the writer queue is charged to its cause (docs/recording.md, "When captures are dropped").
//!
//! The queue fills for one of two reasons: the file system held the writer (a `write` waiting
//! for the block allocator to read a bitmap, for the page cache, for the disk) or the writer
//! fell behind on its own (CPU, a burst larger than the queue after a device fault). The
//! writer's sink times each call; the capture loop, when it drops a capture, asks whether the
//! writer is in a slow call or left one lately.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A call into the file that lasts this long counts as the file system holding the writer:
/// a buffered write of the largest frame takes a few milliseconds. Wall time: a writer
/// starved of CPU inside a call counts too.
pub const SLOW_FILE_CALL: Duration = Duration::from_millis(20);
/// How long after a slow call ended a drop is still charged to it: the queue it let fill is
/// draining meanwhile.
pub const SLOW_FILE_AFTERMATH: Duration = Duration::from_secs(1);

/// The writer's calls into the file, shared with the capture loop.
pub struct FileWaits {
    epoch: Instant,
    /// Start of the call in progress, ns since `epoch` plus one; 0 when none is.
    in_call: AtomicU64,
    /// End of the latest slow call, ns since `epoch` plus one; 0 before the first.
    slow_ended: AtomicU64,
    longest_ns: AtomicU64,
}

impl FileWaits {
    pub fn new() -> Self {
        FileWaits {
            epoch: Instant::now(),
            in_call: AtomicU64::new(0),
            slow_ended: AtomicU64::new(0),
            longest_ns: AtomicU64::new(0),
        }
    }

    /// Runs `call` (one call into the file) and keeps how long it took.
    pub fn time<T>(&self, call: impl FnOnce() -> T) -> T {
        let start = self.now_ns();
        self.in_call.store(start + 1, Ordering::Relaxed);
        let out = call();
        self.in_call.store(0, Ordering::Relaxed);
        self.record(start, self.now_ns());
        out
    }

    /// Whether the file system holds the writer now: it is in a call that has lasted
    /// [`SLOW_FILE_CALL`], or left one less than [`SLOW_FILE_AFTERMATH`] ago.
    pub fn holding_the_writer(&self) -> bool {
        self.holding_at(self.now_ns())
    }

    /// The longest single call so far.
    pub fn longest(&self) -> Duration {
        Duration::from_nanos(self.longest_ns.load(Ordering::Relaxed))
    }

    fn record(&self, start_ns: u64, end_ns: u64) {
        let took = end_ns.saturating_sub(start_ns);
        self.longest_ns.fetch_max(took, Ordering::Relaxed);
        if took >= nanos(SLOW_FILE_CALL) {
            self.slow_ended.fetch_max(end_ns + 1, Ordering::Relaxed);
        }
    }

    fn holding_at(&self, now_ns: u64) -> bool {
        let since = |stamp: u64| (stamp != 0).then(|| now_ns.saturating_sub(stamp - 1));
        let in_call = since(self.in_call.load(Ordering::Relaxed));
        let after_slow = since(self.slow_ended.load(Ordering::Relaxed));
        in_call.is_some_and(|d| d >= nanos(SLOW_FILE_CALL))
            || after_slow.is_some_and(|d| d < nanos(SLOW_FILE_AFTERMATH))
    }

    fn now_ns(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }
}

impl Default for FileWaits {
    fn default() -> Self {
        Self::new()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn fast_calls_never_hold_the_writer_and_the_longest_is_kept() {
        let w = FileWaits::new();
        w.record(0, 3 * MS);
        w.record(10 * MS, 12 * MS);
        assert!(!w.holding_at(12 * MS));
        assert_eq!(w.longest(), Duration::from_millis(3));
    }

    #[test]
    fn a_slow_call_holds_the_writer_while_it_lasts_and_for_its_aftermath() {
        let w = FileWaits::new();
        w.in_call.store(100 * MS + 1, Ordering::Relaxed);
        assert!(!w.holding_at(110 * MS), "10 ms into a call is not slow yet");
        assert!(w.holding_at(120 * MS));
        w.in_call.store(0, Ordering::Relaxed);
        w.record(100 * MS, 280 * MS);
        assert!(w.holding_at(280 * MS + nanos(SLOW_FILE_AFTERMATH) - 1));
        assert!(!w.holding_at(280 * MS + nanos(SLOW_FILE_AFTERMATH)));
        assert_eq!(w.longest(), Duration::from_millis(180));
    }

    #[test]
    fn timing_a_call_returns_its_value_and_leaves_no_call_in_progress() {
        let w = FileWaits::new();
        assert_eq!(w.time(|| 7), 7);
        assert_eq!(w.in_call.load(Ordering::Relaxed), 0);
    }
}
