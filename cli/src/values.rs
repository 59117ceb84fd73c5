//! Value parsers for the command line's numeric options. Each error is one sentence giving the
//! accepted range and unit; clap prints it after the option's name
//! (`invalid value '-3' for '--record-length <SECONDS>': …`), so a bad value never ends in the
//! usage alone. Options that take numbers also accept a leading `-`, so a negative value reaches
//! its parser instead of being read as an unknown flag.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// The longest frame period (5 fps), µs: no delay may exceed it at any rate.
pub(crate) const LONGEST_PERIOD_USEC: i32 = 200_000;

/// A whole number in `range`; `unit` follows the range in the error (e.g. " µs", " cameras").
pub(crate) fn whole<T>(
    range: RangeInclusive<T>,
    unit: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    move |text| match text.trim().parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(format!(
            "expected a whole number from {} to {}{unit}",
            range.start(),
            range.end()
        )),
    }
}

/// A number of seconds greater than 0 (fractions allowed).
pub(crate) fn positive_seconds(text: &str) -> Result<Duration, String> {
    seconds(text, false)
}

/// A number of seconds, 0 or more (fractions allowed).
pub(crate) fn seconds_or_zero(text: &str) -> Result<Duration, String> {
    seconds(text, true)
}

fn seconds(text: &str, zero_allowed: bool) -> Result<Duration, String> {
    let range = if zero_allowed {
        "0 or more"
    } else {
        "greater than 0"
    };
    let error = || format!("expected a number of seconds {range} (for example 10 or 2.5)");
    let secs: f64 = text.trim().parse().map_err(|_| error())?;
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_allowed) {
        return Err(error());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_outside_the_range_name_it() {
        let parse = whole(1usize..=32, " cameras");
        assert_eq!(parse("3"), Ok(3));
        for bad in ["0", "33", "x", "-1", "1.5"] {
            assert_eq!(
                parse(bad),
                Err("expected a whole number from 1 to 32 cameras".to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn seconds_refuse_negative_nan_and_infinite_values() {
        assert_eq!(positive_seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(seconds_or_zero("0"), Ok(Duration::ZERO));
        for bad in ["-3", "0", "NaN", "inf", "ten", "1e300"] {
            assert!(positive_seconds(bad).is_err(), "{bad}");
        }
        assert!(seconds_or_zero("-0.5").is_err());
    }
}
