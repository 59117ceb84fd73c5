//! Stall recovery on one stream: when to clear a halted endpoint and go on, when to give up,
//! and how many frames a recovered stall cost.
//!
//! A stalled endpoint stays halted until the host clears it (USB 2.0 §9.4.5, §8.5.3.4), so a
//! stall used to end a stream once its last transfer was retired. The SDK never clears a halted
//! stream endpoint: a failed stream transfer is retired for good (reference §3.5). k4sync goes
//! further, because an unattended recorder loses the rest of a take otherwise: the reader
//! clears the halt and re-arms the stream ([`crate::transport::StreamIn::clear_halt`]), unless
//! the stall is the [`StallPolicy::max_stalls`]-th within [`StallPolicy::window`] on that
//! stream: an endpoint that keeps halting (a failing cable, hub or camera) ends the stream with
//! [`crate::Error::StreamStalled`] instead of flooding the file with gaps.
//!
//! Frames lost to a stall are counted from device time, the one clock that kept running: the
//! gap between the last frame (or IMU sample) before the stall and the first after it, in
//! frame periods, less one.

use std::collections::VecDeque;
use std::time::Duration;

/// How many stalls on one stream are recovered: the `max_stalls`-th stall within `window`
/// (host time) ends the stream with [`crate::Error::StreamStalled`]; the ones before it are
/// cleared and the stream goes on. `max_stalls` 1 ends a stream at its first stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallPolicy {
    pub max_stalls: u32,
    pub window: Duration,
}

impl Default for StallPolicy {
    /// 3 stalls in 10 s: a stall or two in a long take is recovered, an endpoint that halts
    /// every few seconds is reported as broken.
    fn default() -> Self {
        StallPolicy {
            max_stalls: 3,
            window: Duration::from_secs(10),
        }
    }
}

/// What a reader does about one stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Clear the halt and go on.
    Recover,
    /// The policy's limit is reached: `count` stalls within the window.
    GiveUp { count: u32 },
}

/// One stream's stall history and the frame gap a recovered stall left open.
pub(crate) struct StallWatch {
    policy: StallPolicy,
    clock: Box<dyn Fn() -> u64 + Send>,
    /// Host times (ns) of the stalls within the window.
    recent: VecDeque<u64>,
    /// Device time of the newest frame, µs.
    last_ts_usec: Option<u64>,
    /// A recovered stall waits for the next frame to count what it lost; holds the device
    /// time of the frame before it.
    open_gap: Option<Option<u64>>,
}

impl StallWatch {
    pub(crate) fn new(policy: StallPolicy, clock: Box<dyn Fn() -> u64 + Send>) -> Self {
        StallWatch {
            policy,
            clock,
            recent: VecDeque::new(),
            last_ts_usec: None,
            open_gap: None,
        }
    }

    pub(crate) fn policy(&self) -> StallPolicy {
        self.policy
    }

    /// Notes a stall now and says whether to recover from it.
    pub(crate) fn stall(&mut self) -> Verdict {
        let now = (self.clock)();
        let window = u64::try_from(self.policy.window.as_nanos()).unwrap_or(u64::MAX);
        while self
            .recent
            .front()
            .is_some_and(|&at| now.saturating_sub(at) >= window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let count = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if count >= self.policy.max_stalls {
            return Verdict::GiveUp { count };
        }
        Verdict::Recover
    }

    /// The halt was cleared: the next frame closes the gap.
    pub(crate) fn recovered(&mut self) {
        if self.open_gap.is_none() {
            self.open_gap = Some(self.last_ts_usec);
        }
    }

    /// A frame (or IMU sample) with device time `ts_usec` arrived on a stream whose frames
    /// are `period_usec` apart; returns the frames a recovered stall lost once it is closed
    /// (0 when no frame came before the stall to measure from).
    pub(crate) fn seen(&mut self, ts_usec: u64, period_usec: u64) -> Option<u64> {
        let gap_from = self.open_gap.take();
        self.last_ts_usec = Some(ts_usec);
        let before = gap_from?;
        Some(before.map_or(0, |before| frames_between(before, ts_usec, period_usec)))
    }
}

/// Frames missing between two frames `period_usec` apart in device time, rounded to whole
/// periods (device timestamps jitter by a few µs).
fn frames_between(before_usec: u64, after_usec: u64, period_usec: u64) -> u64 {
    let gap = after_usec.saturating_sub(before_usec);
    let periods = gap.saturating_add(period_usec / 2) / period_usec.max(1);
    periods.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    const SECOND_NS: u64 = 1_000_000_000;

    fn watch(policy: StallPolicy) -> (StallWatch, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&now);
        let watch = StallWatch::new(policy, Box::new(move || clock.load(Ordering::Relaxed)));
        (watch, now)
    }

    #[test]
    fn the_third_stall_within_ten_seconds_gives_up_and_older_ones_expire() {
        let (mut w, now) = watch(StallPolicy::default());
        assert_eq!(w.stall(), Verdict::Recover);
        now.store(4 * SECOND_NS, Ordering::Relaxed);
        assert_eq!(w.stall(), Verdict::Recover);
        now.store(10 * SECOND_NS, Ordering::Relaxed);
        assert_eq!(
            w.stall(),
            Verdict::Recover,
            "the first stall left the window"
        );
        now.store(12 * SECOND_NS, Ordering::Relaxed);
        assert_eq!(w.stall(), Verdict::GiveUp { count: 3 });
    }

    #[test]
    fn a_limit_of_one_gives_up_at_the_first_stall() {
        let policy = StallPolicy {
            max_stalls: 1,
            window: Duration::from_secs(1),
        };
        let (mut w, _) = watch(policy);
        assert_eq!(w.stall(), Verdict::GiveUp { count: 1 });
    }

    #[test]
    fn frames_lost_are_the_whole_periods_missing_between_the_frames_around_the_stall() {
        let (mut w, _) = watch(StallPolicy::default());
        assert_eq!(w.seen(1_000_000, 33_333), None);
        w.recovered();
        assert_eq!(w.seen(1_000_000 + 3 * 33_333 + 4, 33_333), Some(2));
        assert_eq!(w.seen(1_000_000 + 4 * 33_333, 33_333), None, "gap closed");
        w.recovered();
        assert_eq!(w.seen(1_000_000 + 5 * 33_333 - 3, 33_333), Some(0));
    }

    #[test]
    fn a_stall_before_any_frame_counts_no_frame_lost() {
        let (mut w, _) = watch(StallPolicy::default());
        w.recovered();
        assert_eq!(w.seen(500, 33_333), Some(0));
    }
}
