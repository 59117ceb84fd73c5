//! A device's oscillator and how its 90 kHz clock turns true time into reported timestamps
//! (reference §6.1, §6.2, §11 item 13).
//!
//! True time is simulated nanoseconds. A device clock counts device nanoseconds from its zero
//! point at a rate off true time by `drift_ppb`; a reported timestamp is that count quantised
//! down to whole 90 kHz ticks and converted to µs with [`crate::time::ticks_to_usec`], i.e.
//! exactly what the device (and the SDK) would report for that instant.

use crate::time::{Ticks90k, Usec, TICKS_PER_SECOND};
use crate::types::Fps;

pub const NSEC_PER_SEC: i64 = 1_000_000_000;

/// One device's timing imperfections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Oscillator {
    /// Constant bias added to every timestamp the device reports (e.g. a firmware latency
    /// between pulse and zeroing; #529's ~100 µs subordinate error on old firmware).
    pub offset_nsec: i64,
    /// Rate error against true time in parts per billion (±100 ppm = ±100,000 ppb; #1384
    /// measured ~390 ppm, which the aligner treats as a fault rather than a model parameter).
    pub drift_ppb: i64,
    /// Each frame's timestamp is displaced uniformly within ±this many ns before quantisation.
    pub jitter_nsec: u32,
}

impl Oscillator {
    pub const IDEAL: Oscillator = Oscillator {
        offset_nsec: 0,
        drift_ppb: 0,
        jitter_nsec: 0,
    };

    /// Device nanoseconds counted during `true_elapsed_nsec` of true time.
    pub const fn device_elapsed_nsec(&self, true_elapsed_nsec: i64) -> i64 {
        let t = true_elapsed_nsec as i128;
        (t + t * self.drift_ppb as i128 / NSEC_PER_SEC as i128) as i64
    }

    /// True nanoseconds this oscillator needs to count `device_elapsed_nsec`.
    pub const fn true_elapsed_nsec(&self, device_elapsed_nsec: i64) -> i64 {
        let rate = NSEC_PER_SEC as i128 + self.drift_ppb as i128;
        if rate <= 0 {
            return i64::MAX;
        }
        (device_elapsed_nsec as i128 * NSEC_PER_SEC as i128 / rate) as i64
    }
}

/// How a subordinate's clock follows the sync pulses after its first one (reference §11 item 13,
/// not settled by the sources; the simulator lets a scenario pick).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClockMode {
    /// Zeroed by the first pulse, then counting on its own oscillator: offsets to the master
    /// grow with the relative drift.
    #[default]
    FreeRun,
    /// Set to the nominal time of each pulse as it arrives: no drift accumulates across pulses.
    RealignEveryPulse,
}

/// Device time of the `pulse`-th VSYNC after zero on a clock with the nominal frame period
/// (`pulse × 10⁹ / fps` ns, exact to the nanosecond).
pub const fn pulse_device_nsec(fps: Fps, pulse: u64) -> i64 {
    (pulse as i128 * NSEC_PER_SEC as i128 / fps.hz() as i128) as i64
}

/// The tick count a device clock shows at `device_nsec` (whole ticks, rounded down); `None`
/// before the clock's zero.
pub const fn device_nsec_to_ticks(device_nsec: i64) -> Option<Ticks90k> {
    if device_nsec < 0 {
        return None;
    }
    Some(Ticks90k(
        (device_nsec as u128 * TICKS_PER_SECOND as u128 / NSEC_PER_SEC as u128) as u64,
    ))
}

/// The µs timestamp a device reports for an instant at `device_nsec` on its clock.
pub const fn device_ts_usec(device_nsec: i64) -> Option<Usec> {
    match device_nsec_to_ticks(device_nsec) {
        Some(ticks) => Some(ticks.to_usec()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_of_100_ppm_gains_100_usec_per_second() {
        let fast = Oscillator {
            drift_ppb: 100_000,
            ..Oscillator::IDEAL
        };
        let slow = Oscillator {
            drift_ppb: -100_000,
            ..Oscillator::IDEAL
        };
        assert_eq!(
            fast.device_elapsed_nsec(NSEC_PER_SEC),
            NSEC_PER_SEC + 100_000
        );
        assert_eq!(
            slow.device_elapsed_nsec(NSEC_PER_SEC),
            NSEC_PER_SEC - 100_000
        );
        assert_eq!(
            fast.device_elapsed_nsec(-NSEC_PER_SEC),
            -NSEC_PER_SEC - 100_000
        );
    }

    #[test]
    fn true_elapsed_inverts_device_elapsed_to_the_nanosecond() {
        for drift_ppb in [-100_000, -1, 0, 37, 100_000] {
            let osc = Oscillator {
                drift_ppb,
                ..Oscillator::IDEAL
            };
            for t in [0, 1_000, 33_333_333, 600 * NSEC_PER_SEC] {
                let back = osc.true_elapsed_nsec(osc.device_elapsed_nsec(t));
                assert!((back - t).abs() <= 1, "{drift_ppb} ppb, {t} ns -> {back}");
            }
        }
    }

    #[test]
    fn timestamps_are_quantised_to_whole_ticks_then_converted_like_the_sdk() {
        assert_eq!(device_ts_usec(-1), None);
        assert_eq!(device_ts_usec(0), Some(Usec(0)));
        assert_eq!(device_ts_usec(11_111), Some(Usec(0)));
        assert_eq!(device_ts_usec(11_112), Some(Usec(11)));
        assert_eq!(device_ts_usec(33_333_333), Some(Usec(33_322)));
        assert_eq!(device_ts_usec(33_333_334), Some(Usec(33_333)));
    }

    #[test]
    fn pulse_times_are_exact_multiples_of_the_nominal_period() {
        assert_eq!(pulse_device_nsec(Fps::Fps30, 3), NSEC_PER_SEC / 10);
        assert_eq!(pulse_device_nsec(Fps::Fps30, 1), 33_333_333);
        assert_eq!(pulse_device_nsec(Fps::Fps5, 5), NSEC_PER_SEC);
    }
}
