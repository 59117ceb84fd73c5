//! The device's 90 kHz clock and its conversions to microseconds (reference §6.2).
//!
//! Every conversion here reproduces the SDK's integer arithmetic exactly, including its
//! truncation direction and its wrap-around on overflow, so that a value computed here equals
//! the value the SDK (and the firmware) would compute from the same input:
//!
//! * ticks → µs: `ticks × 100 / 9` in `u64`, truncating.
//! * µs → ticks (only used for the SET_SYS_CFG delays): `usec × 9 / 100` in the field's own
//!   32-bit type, truncating toward zero.
//!
//! Because µs → ticks truncates, a requested delay is quantised toward zero; the *effective*
//! delay is the tick count converted back with exact rational arithmetic
//! ([`effective_delay_nsec`]), which is what recordings and reports carry.

/// Frequency of the device timestamp clock.
pub const TICKS_PER_SECOND: u64 = 90_000;

/// A count of device clock ticks (90 kHz, 11.1 µs each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ticks90k(pub u64);

/// A device or host timestamp in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Usec(pub u64);

impl Ticks90k {
    /// This tick count in µs, as the SDK converts device timestamps.
    pub const fn to_usec(self) -> Usec {
        Usec(ticks_to_usec(self.0))
    }
}

/// ticks → µs exactly as the SDK does it: `ticks × 100 / 9` in wrapping `u64`.
///
/// Examples from the reference: 1 → 11, 9 → 100, 2999 → 33322, 18000 → 200000.
pub const fn ticks_to_usec(ticks: u64) -> u64 {
    ticks.wrapping_mul(100) / 9
}

/// µs → ticks for an unsigned 32-bit field (the subordinate delay): `usec × 9 / 100` in `u32`.
pub const fn usec_to_ticks_u32(usec: u32) -> u32 {
    usec.wrapping_mul(9) / 100
}

/// µs → ticks for a signed 32-bit field (the depth delay), truncating toward zero.
pub const fn usec_to_ticks_i32(usec: i32) -> i32 {
    usec.wrapping_mul(9) / 100
}

/// The delay a tick count really produces, in ns, rounded toward zero (`ticks × 100000 / 9`).
///
/// This is the figure reported as the *effective* delay: 14 ticks → 155,555 ns for a
/// requested 160 µs.
pub const fn effective_delay_nsec(ticks: i32) -> i64 {
    (ticks as i64) * 100_000 / 9
}

/// The tick count a delay tag in ns stands for (`K4A_SUBORDINATE_DELAY_NS`,
/// `K4A_DEPTH_DELAY_NS`).
///
/// Writers put one of two values there: the effective delay of the ticks the device applied
/// (ours: 15 ticks → 166,666 ns) or the configured µs × 1000 (Microsoft's: 160 µs → 160,000 ns,
/// which the device truncates to 14 ticks). The nearest tick count is taken when its effective
/// delay is exactly `nsec`; otherwise `nsec` is a configured value, truncated to µs and then to
/// ticks as the SDK does. The two readings never disagree: a whole number of µs is an effective
/// delay only for a tick count that truncation of those µs gives as well.
pub const fn delay_tag_ticks(nsec: i64) -> i32 {
    let half = if nsec < 0 { -50_000 } else { 50_000 };
    let nearest = saturate_i32((nsec as i128 * 9 + half) / 100_000);
    if effective_delay_nsec(nearest) == nsec {
        return nearest;
    }
    saturate_i32((nsec / 1000) as i128 * 9 / 100)
}

/// `v` clamped to the `i32` range.
pub(crate) const fn saturate_i32(v: i128) -> i32 {
    if v > i32::MAX as i128 {
        i32::MAX
    } else if v < i32::MIN as i128 {
        i32::MIN
    } else {
        v as i32
    }
}

/// The delay a tick count really produces, in whole µs, rounded toward zero.
pub const fn effective_delay_usec(ticks: i32) -> i32 {
    ((ticks as i64) * 100 / 9) as i32
}

/// A frame period in µs as the SDK computes it: `1_000_000 / fps`, integer.
pub const fn frame_period_usec(fps: u32) -> u32 {
    match 1_000_000u32.checked_div(fps) {
        Some(period) => period,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_tags_read_as_effective_ns_or_configured_usec_give_the_applied_ticks() {
        assert_eq!(delay_tag_ticks(166_666), 15);
        assert_eq!(delay_tag_ticks(160_000), 14);
        assert_eq!(delay_tag_ticks(155_555), 14);
        assert_eq!(delay_tag_ticks(-77_777), -7);
        assert_eq!(delay_tag_ticks(-80_000), -7);
        assert_eq!(delay_tag_ticks(0), 0);
        for ticks in -20_000..=20_000 {
            assert_eq!(
                delay_tag_ticks(effective_delay_nsec(ticks)),
                ticks,
                "{ticks}"
            );
        }
        for usec in -200_000..=200_000 {
            let ticks = usec_to_ticks_i32(usec);
            assert_eq!(delay_tag_ticks(i64::from(usec) * 1000), ticks, "{usec}");
        }
        assert_eq!(delay_tag_ticks(i64::MAX), i32::MAX);
        assert_eq!(delay_tag_ticks(i64::MIN), i32::MIN);
    }

    #[test]
    fn ticks_to_usec_matches_reference_examples() {
        assert_eq!(ticks_to_usec(1), 11);
        assert_eq!(ticks_to_usec(9), 100);
        assert_eq!(ticks_to_usec(2999), 33322);
        assert_eq!(ticks_to_usec(18000), 200_000);
    }

    #[test]
    fn unsigned_usec_to_ticks_truncates() {
        for (usec, ticks) in [
            (11, 0),
            (12, 1),
            (80, 7),
            (100, 9),
            (160, 14),
            (33333, 2999),
            (66666, 5999),
            (200_000, 18000),
        ] {
            assert_eq!(usec_to_ticks_u32(usec), ticks, "{usec} µs");
        }
    }

    #[test]
    fn signed_usec_to_ticks_truncates_toward_zero() {
        for (usec, ticks) in [
            (-11, 0),
            (-12, -1),
            (-80, -7),
            (-160, -14),
            (-33333, -2999),
            (80, 7),
        ] {
            assert_eq!(usec_to_ticks_i32(usec), ticks, "{usec} µs");
        }
    }

    #[test]
    fn effective_delay_is_tick_exact() {
        assert_eq!(effective_delay_nsec(14), 155_555);
        assert_eq!(effective_delay_nsec(-7), -77_777);
        assert_eq!(effective_delay_usec(14), 155);
        assert_eq!(effective_delay_usec(-7), -77);
    }

    #[test]
    fn frame_periods_are_integer_divisions() {
        assert_eq!(frame_period_usec(30), 33_333);
        assert_eq!(frame_period_usec(15), 66_666);
        assert_eq!(frame_period_usec(5), 200_000);
        assert_eq!(frame_period_usec(0), 0);
    }

    #[test]
    fn huge_tick_counts_wrap_like_the_sdk_instead_of_panicking() {
        assert_eq!(ticks_to_usec(u64::MAX), u64::MAX.wrapping_mul(100) / 9);
    }
}
