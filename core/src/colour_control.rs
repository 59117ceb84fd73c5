//! Colour camera exposure and gain as the SDK sets them over UVC (reference §5.5), shared by
//! the host (which sets them through V4L2 or the emulator) and the emulator (which models them).
//!
//! The host never sends an arbitrary exposure: like the SDK's Linux path it rounds a requested
//! time **up** to the first entry of the exposure table ([`exposure_table_usec`], the 60 Hz
//! column the SDK assumes until the power-line control is set; k4sync never sets it), sends
//! that entry in the UVC unit of 100 µs, and maps a value read back (×100) up to the table the
//! same way. So the exposure a camera reports is always a table entry, and a read-back that
//! maps to another entry than the one sent means the camera did not take it.
//!
//! k4arecorder's `-e` takes either an exponent −11..1, meaning 2^exponent seconds truncated to
//! whole µs (−5 → 31,250 µs, 1 → 2,000,000 µs), or an absolute time of 2..200,000 µs; `-g` a
//! gain of 0..255 ([`GAIN_RANGE`]).

use core::fmt;
use core::ops::RangeInclusive;

/// Exponents `-e` accepts (exposure 2^e s).
pub const EXPONENT_RANGE: RangeInclusive<i32> = -11..=1;
/// Absolute exposures `-e` accepts, µs.
pub const ABSOLUTE_USEC_RANGE: RangeInclusive<i32> = 2..=200_000;
/// Gains `-g` accepts.
pub const GAIN_RANGE: RangeInclusive<i32> = 0..=255;
/// The UVC exposure unit, µs.
pub const UVC_EXPOSURE_UNIT_USEC: u32 = 100;

/// The SDK's exposure table, 60 Hz column, µs (reference §5.5).
const TABLE_60HZ_USEC: [u32; 13] = [
    500, 1_250, 2_500, 8_330, 16_670, 33_330, 41_670, 50_000, 66_670, 83_330, 100_000, 116_670,
    133_330,
];

/// The colour exposure setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Exposure {
    /// The camera chooses (UVC aperture-priority auto exposure, as the SDK sets it).
    #[default]
    Auto,
    /// A fixed exposure time, µs.
    Manual { usec: u32 },
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exposure::Auto => f.write_str("auto"),
            Exposure::Manual { usec } => write!(f, "{usec}"),
        }
    }
}

/// The colour controls a recording sets before the cameras start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ColourControls {
    pub exposure: Exposure,
    /// Manual gain; `None` leaves the camera's gain as it is (k4arecorder's default).
    pub gain: Option<u8>,
}

impl ColourControls {
    /// The controls as the camera will report them: a manual exposure rounded up to its table
    /// entry.
    pub fn snapped(self) -> ColourControls {
        ColourControls {
            exposure: match self.exposure {
                Exposure::Manual { usec } => Exposure::Manual {
                    usec: exposure_table_usec(usec),
                },
                Exposure::Auto => Exposure::Auto,
            },
            gain: self.gain,
        }
    }
}

/// Why a `-e` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExposureValueError {
    /// Neither an exponent −11..1 nor an absolute time 2..200,000 µs.
    OutOfRange { value: i32 },
}

impl fmt::Display for ExposureValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExposureValueError::OutOfRange { value } => write!(
                f,
                "exposure {value} is neither an exponent from {} to {} nor a time from {} to {} µs",
                EXPONENT_RANGE.start(),
                EXPONENT_RANGE.end(),
                ABSOLUTE_USEC_RANGE.start(),
                ABSOLUTE_USEC_RANGE.end(),
            ),
        }
    }
}

/// The manual exposure k4arecorder's `-e value` asks for: an exponent −11..1 as 2^value s
/// in whole µs, or an absolute 2..200,000 µs.
pub fn manual_exposure(value: i32) -> Result<Exposure, ExposureValueError> {
    let usec = if EXPONENT_RANGE.contains(&value) {
        exponent_usec(value)
    } else if ABSOLUTE_USEC_RANGE.contains(&value) {
        value.unsigned_abs()
    } else {
        return Err(ExposureValueError::OutOfRange { value });
    };
    Ok(Exposure::Manual { usec })
}

/// 2^exponent seconds in µs, truncated (exact: 10⁶ and the power of two are both exact).
fn exponent_usec(exponent: i32) -> u32 {
    let shift = exponent.unsigned_abs().min(31);
    if exponent >= 0 {
        1_000_000u32.saturating_mul(1 << shift)
    } else {
        1_000_000 >> shift
    }
}

/// The first table entry at or above `usec`; the longest entry for anything beyond it.
pub fn exposure_table_usec(usec: u32) -> u32 {
    TABLE_60HZ_USEC
        .iter()
        .copied()
        .find(|&entry| usec <= entry)
        .unwrap_or(TABLE_60HZ_USEC[TABLE_60HZ_USEC.len() - 1])
}

/// The UVC exposure value (100 µs units) the host sends for a manual exposure of `usec`.
pub fn exposure_to_uvc(usec: u32) -> u32 {
    exposure_table_usec(usec) / UVC_EXPOSURE_UNIT_USEC
}

/// The exposure a UVC value read back stands for, µs: mapped up to the table.
pub fn exposure_from_uvc(units: u32) -> u32 {
    exposure_table_usec(units.saturating_mul(UVC_EXPOSURE_UNIT_USEC))
}

/// What a camera reported back differs from what was set: names the control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ControlMismatch {
    Exposure {
        set: Exposure,
        reported: Exposure,
    },
    /// `reported` is `None` when the camera's value does not fit 0..255.
    Gain {
        set: u8,
        reported: Option<u8>,
    },
}

impl fmt::Display for ControlMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlMismatch::Exposure { set, reported } => write!(
                f,
                "colour control exposure was set to {} but the camera reports {}",
                ExposureText(*set),
                ExposureText(*reported)
            ),
            ControlMismatch::Gain { set, reported } => match reported {
                Some(r) => write!(
                    f,
                    "colour control gain was set to {set} but the camera reports {r}"
                ),
                None => write!(
                    f,
                    "colour control gain was set to {set} but the camera reports a gain outside 0..255"
                ),
            },
        }
    }
}

struct ExposureText(Exposure);

impl fmt::Display for ExposureText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Exposure::Auto => f.write_str("auto exposure"),
            Exposure::Manual { usec } => write!(f, "{usec} µs"),
        }
    }
}

/// Checks what a camera reported after `asked` was set: the snapped exposure and the gain
/// (when one was set) must come back unchanged. Returns the reported controls.
pub fn check_read_back(
    asked: ColourControls,
    reported: ColourControls,
) -> Result<ColourControls, ControlMismatch> {
    let wanted = asked.snapped();
    if reported.exposure != wanted.exposure {
        return Err(ControlMismatch::Exposure {
            set: wanted.exposure,
            reported: reported.exposure,
        });
    }
    if let Some(set) = wanted.gain {
        if reported.gain != Some(set) {
            return Err(ControlMismatch::Gain {
                set,
                reported: reported.gain,
            });
        }
    }
    Ok(reported)
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;

    fn manual(usec: u32) -> Exposure {
        Exposure::Manual { usec }
    }

    #[test]
    fn an_exponent_is_two_to_the_power_seconds_in_whole_microseconds() {
        assert_eq!(manual_exposure(-5), Ok(manual(31_250)));
        assert_eq!(manual_exposure(-11), Ok(manual(488)));
        assert_eq!(manual_exposure(-8), Ok(manual(3_906)));
        assert_eq!(manual_exposure(0), Ok(manual(1_000_000)));
        assert_eq!(manual_exposure(1), Ok(manual(2_000_000)));
    }

    #[test]
    fn values_outside_the_exponents_are_absolute_microseconds_up_to_200_ms() {
        assert_eq!(manual_exposure(2), Ok(manual(2)));
        assert_eq!(manual_exposure(8_330), Ok(manual(8_330)));
        assert_eq!(manual_exposure(200_000), Ok(manual(200_000)));
        for bad in [-12, 200_001, i32::MIN, i32::MAX] {
            assert_eq!(
                manual_exposure(bad),
                Err(ExposureValueError::OutOfRange { value: bad })
            );
        }
    }

    #[test]
    fn an_exposure_rounds_up_to_the_60hz_table_and_travels_in_100_us_units() {
        assert_eq!(exposure_table_usec(2), 500);
        assert_eq!(exposure_table_usec(500), 500);
        assert_eq!(exposure_table_usec(501), 1_250);
        assert_eq!(exposure_table_usec(31_250), 33_330);
        assert_eq!(exposure_table_usec(133_331), 133_330);
        assert_eq!(exposure_table_usec(2_000_000), 133_330);
        assert_eq!(exposure_to_uvc(31_250), 333);
        assert_eq!(exposure_to_uvc(8_330), 83);
        assert_eq!(exposure_to_uvc(200_000), 1_333);
    }

    #[test]
    fn every_table_entry_survives_the_trip_through_uvc_units() {
        for entry in TABLE_60HZ_USEC {
            assert_eq!(exposure_from_uvc(exposure_to_uvc(entry)), entry);
        }
        assert_eq!(exposure_from_uvc(0), 500);
        assert_eq!(exposure_from_uvc(u32::MAX), 133_330);
    }

    #[test]
    fn a_read_back_must_be_the_snapped_value_and_the_mismatch_names_the_control() {
        let asked = ColourControls {
            exposure: manual(31_250),
            gain: Some(128),
        };
        let good = asked.snapped();
        assert_eq!(good.exposure, manual(33_330));
        assert_eq!(check_read_back(asked, good), Ok(good));
        let wrong = ColourControls {
            exposure: manual(16_670),
            ..good
        };
        let err = check_read_back(asked, wrong).unwrap_err();
        assert_eq!(
            err.to_string(),
            "colour control exposure was set to 33330 µs but the camera reports 16670 µs"
        );
        let auto = ColourControls {
            exposure: Exposure::Auto,
            ..good
        };
        assert!(check_read_back(asked, auto)
            .unwrap_err()
            .to_string()
            .ends_with("reports auto exposure"));
        let gain = ColourControls {
            gain: Some(127),
            ..good
        };
        assert_eq!(
            check_read_back(asked, gain).unwrap_err().to_string(),
            "colour control gain was set to 128 but the camera reports 127"
        );
        let untouched_gain = ColourControls {
            gain: None,
            ..asked
        };
        assert!(check_read_back(untouched_gain, gain).is_ok());
    }
}
