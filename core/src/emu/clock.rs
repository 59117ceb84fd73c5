//! The device's free-running 90 kHz clock as seen from host time (reference §6.1, §6.2).
//!
//! The emulator never reads a clock: the caller drives it with [`DeviceClock::advance_to`]
//! and every conversion is a pure function of host nanoseconds. The oscillator runs fast or
//! slow by `drift_ppb` parts per billion (a real unit was measured ~390 ppm slow, #1384), and
//! the clock can be zeroed at a host instant, which is what a colour start on a master or
//! standalone device and the first sync pulse on a subordinate do.

use crate::time::Ticks90k;

const NS_PER_SECOND: u128 = 1_000_000_000;
const PPB_SCALE: u128 = 1_000_000_000;
const TICKS_PER_SECOND: u128 = crate::time::TICKS_PER_SECOND as u128;

/// Host time → device ticks with an oscillator error, zeroable at any host instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceClock {
    drift_ppb: i64,
    host_now_ns: u64,
    epoch_host_ns: u64,
    epoch_ticks: u64,
}

impl DeviceClock {
    /// A clock reading `start_ticks` at host time 0. `drift_ppb` is clamped to ±10 %.
    pub const fn new(drift_ppb: i64, start_ticks: u64) -> Self {
        let drift_ppb = if drift_ppb > 100_000_000 {
            100_000_000
        } else if drift_ppb < -100_000_000 {
            -100_000_000
        } else {
            drift_ppb
        };
        DeviceClock {
            drift_ppb,
            host_now_ns: 0,
            epoch_host_ns: 0,
            epoch_ticks: start_ticks,
        }
    }

    pub const fn drift_ppb(&self) -> i64 {
        self.drift_ppb
    }

    /// Moves host time forward; earlier instants are ignored (host time is monotonic).
    pub fn advance_to(&mut self, host_ns: u64) {
        if host_ns > self.host_now_ns {
            self.host_now_ns = host_ns;
        }
    }

    /// The latest host time given to [`advance_to`](Self::advance_to).
    pub const fn host_now_ns(&self) -> u64 {
        self.host_now_ns
    }

    fn rate(&self) -> u128 {
        (PPB_SCALE as i128 + self.drift_ppb as i128).unsigned_abs()
    }

    /// The device tick count at a host instant (before the last zeroing it reads as the
    /// zeroing instant).
    pub fn ticks_at(&self, host_ns: u64) -> Ticks90k {
        let elapsed = u128::from(host_ns.saturating_sub(self.epoch_host_ns));
        let ticks = elapsed * TICKS_PER_SECOND * self.rate() / (NS_PER_SECOND * PPB_SCALE);
        Ticks90k(
            self.epoch_ticks
                .saturating_add(u64::try_from(ticks).unwrap_or(u64::MAX)),
        )
    }

    /// The device tick count now.
    pub fn now_ticks(&self) -> Ticks90k {
        self.ticks_at(self.host_now_ns)
    }

    /// The earliest host instant at which the clock reads at least `ticks`.
    pub fn host_ns_at(&self, ticks: Ticks90k) -> u64 {
        let Some(delta) = ticks.0.checked_sub(self.epoch_ticks) else {
            return self.epoch_host_ns;
        };
        let num = u128::from(delta) * NS_PER_SECOND * PPB_SCALE;
        let den = TICKS_PER_SECOND * self.rate();
        let elapsed = num.div_ceil(den);
        self.epoch_host_ns
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// Zeroes the clock at a host instant.
    pub fn zero_at(&mut self, host_ns: u64) {
        self.epoch_host_ns = host_ns;
        self.epoch_ticks = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_oscillator_counts_90000_ticks_per_second() {
        let clock = DeviceClock::new(0, 0);
        assert_eq!(clock.ticks_at(1_000_000_000), Ticks90k(90_000));
        assert_eq!(clock.ticks_at(33_333_333), Ticks90k(2_999));
        assert_eq!(clock.host_ns_at(Ticks90k(3_000)), 33_333_334);
    }

    #[test]
    fn a_slow_oscillator_loses_ticks_in_proportion() {
        let clock = DeviceClock::new(-390_000, 0);
        assert_eq!(
            clock.ticks_at(1_000_000_000_000),
            Ticks90k(89_964_900_000 / 1000)
        );
    }

    #[test]
    fn host_ns_at_is_the_earliest_instant_reaching_the_tick() {
        let mut clock = DeviceClock::new(123_456, 77);
        clock.zero_at(5_000_000);
        for ticks in [0u64, 1, 2, 999, 90_000, 123_457] {
            let at = clock.host_ns_at(Ticks90k(ticks));
            assert!(clock.ticks_at(at).0 >= ticks);
            assert!(at == 5_000_000 || clock.ticks_at(at - 1).0 < ticks);
        }
    }

    #[test]
    fn zeroing_restarts_the_count_and_time_never_goes_back() {
        let mut clock = DeviceClock::new(0, 1_000);
        clock.advance_to(2_000_000_000);
        clock.advance_to(1_000_000_000);
        assert_eq!(clock.host_now_ns(), 2_000_000_000);
        assert_eq!(clock.now_ticks(), Ticks90k(181_000));
        clock.zero_at(1_500_000_000);
        assert_eq!(clock.now_ticks(), Ticks90k(45_000));
        assert_eq!(clock.ticks_at(0), Ticks90k(0));
    }
}
