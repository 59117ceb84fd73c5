//! Choosing the V4L2 format, frame size and frame interval for an SDK colour mode (reference
//! §5.1–5.3), as pure functions over what the driver offers, so the rules are tested without a
//! camera.
//!
//! * Pixel format: MJPG → `'MJPG'`, NV12 → `'NV12'`, YUY2 → `'YUYV'` (V4L2's name for YUY2).
//!   BGRA32 is captured as `'MJPG'` as on the SDK's Linux path; decoding to BGRA is the
//!   consumer's job (frames carry the JPEG bytes and say so through [`CaptureMode::format`]).
//! * Frame size: exactly the resolution's width × height.
//! * Frame interval: a V4L2 interval is a fraction of a second; in the UVC's 100 ns units it is
//!   `I = 10⁷ · num / den`, and it fits `fps` when the integer quotient `10⁷ / I` equals fps
//!   (§5.3). Discrete intervals are tried in the driver's order; for stepwise ones exactly
//!   `10⁷ / fps` is used when it lies in range on a whole step.

use std::fmt;

use k4sync_core::types::{ColorFormat, ColorResolution, Fps};

/// 100 ns units per second (the UVC frame interval unit).
pub const INTERVALS_PER_SECOND: u64 = 10_000_000;

/// A V4L2 fourcc.
pub type FourCc = [u8; 4];

/// V4L2 Motion-JPEG.
pub const FOURCC_MJPG: FourCc = *b"MJPG";
/// V4L2 NV12 (Y plane, interleaved CbCr plane).
pub const FOURCC_NV12: FourCc = *b"NV12";
/// V4L2 YUYV, the SDK's YUY2.
pub const FOURCC_YUYV: FourCc = *b"YUYV";

/// The fourcc to capture for `format` on Linux (BGRA32 comes as MJPG, decoded by the consumer).
pub const fn fourcc_for(format: ColorFormat) -> FourCc {
    match format {
        ColorFormat::Mjpg | ColorFormat::Bgra32 => FOURCC_MJPG,
        ColorFormat::Nv12 => FOURCC_NV12,
        ColorFormat::Yuy2 => FOURCC_YUYV,
    }
}

/// Whether the host must decode the captured bytes to produce `format` (only BGRA32).
#[cfg(test)]
pub const fn needs_host_decode(format: ColorFormat) -> bool {
    matches!(format, ColorFormat::Bgra32)
}

/// A frame interval as V4L2 spells it: `numerator / denominator` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    pub numerator: u32,
    pub denominator: u32,
}

impl Interval {
    pub const fn new(numerator: u32, denominator: u32) -> Self {
        Interval {
            numerator,
            denominator,
        }
    }

    /// The interval in 100 ns units, truncated (uvcvideo reports 666,666 × 100 ns as 1/15 s,
    /// which truncates back to 666,666); `None` for a zero denominator.
    pub fn in_100ns(self) -> Option<u64> {
        let den = u64::from(self.denominator);
        if den == 0 {
            return None;
        }
        Some(u64::from(self.numerator) * INTERVALS_PER_SECOND / den)
    }

    /// The §5.3 rule: `10⁷ / I == fps` with integer division.
    pub fn fits(self, fps: Fps) -> bool {
        match self.in_100ns() {
            Some(0) | None => false,
            Some(i) => INTERVALS_PER_SECOND / i == u64::from(fps.hz()),
        }
    }

    /// The interval of exactly `fps` frames per second (the UVC's natural values).
    pub fn of(fps: Fps) -> Interval {
        Interval::new(
            (INTERVALS_PER_SECOND / u64::from(fps.hz())) as u32,
            INTERVALS_PER_SECOND as u32,
        )
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.in_100ns() {
            Some(i) if i > 0 => write!(
                f,
                "{}/{} s ({:.2} fps)",
                self.numerator,
                self.denominator,
                INTERVALS_PER_SECOND as f64 / i as f64
            ),
            _ => write!(f, "{}/{} s", self.numerator, self.denominator),
        }
    }
}

/// The frame intervals the driver offers for one format and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntervalOffer {
    Discrete(Vec<Interval>),
    /// `min..=max` in steps of `step` (continuous when step is the smallest unit).
    Stepwise {
        min: Interval,
        max: Interval,
        step: Interval,
    },
}

impl IntervalOffer {
    /// The interval to request for `fps`, following §5.3, if any fits.
    pub fn choose(&self, fps: Fps) -> Option<Interval> {
        match self {
            IntervalOffer::Discrete(list) => list.iter().copied().find(|i| i.fits(fps)),
            IntervalOffer::Stepwise { min, max, step } => {
                let wanted = INTERVALS_PER_SECOND / u64::from(fps.hz());
                let (min, max) = (min.in_100ns()?, max.in_100ns()?);
                let step = step.in_100ns()?;
                let on_step = step == 0 || (wanted.checked_sub(min)? % step == 0);
                (min <= wanted && wanted <= max && on_step).then(|| Interval::of(fps))
            }
        }
    }
}

impl fmt::Display for IntervalOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntervalOffer::Discrete(list) => {
                let mut fps: Vec<String> = list
                    .iter()
                    .filter_map(|i| i.in_100ns().filter(|&v| v > 0))
                    .map(|i| (INTERVALS_PER_SECOND / i).to_string())
                    .collect();
                fps.dedup();
                write!(f, "{} fps", fps.join("/"))
            }
            IntervalOffer::Stepwise { min, max, .. } => write!(f, "intervals {min} to {max}"),
        }
    }
}

/// One format × size the driver offers, with its intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMode {
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    pub intervals: IntervalOffer,
}

impl fmt::Display for OfferedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} @ {}",
            fourcc_text(self.fourcc),
            self.width,
            self.height,
            self.intervals
        )
    }
}

/// A fourcc as printable text (`'MJPG'`), with non-printing bytes escaped.
pub fn fourcc_text(fourcc: FourCc) -> String {
    fourcc
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

/// The mode negotiated for a start: what the SDK asked for and what V4L2 is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureMode {
    pub format: ColorFormat,
    pub resolution: ColorResolution,
    pub fps: Fps,
    pub fourcc: FourCc,
    pub width: u32,
    pub height: u32,
    pub interval: Interval,
}

/// Why a colour mode cannot be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// The SDK's validation table forbids the combination (§5.2).
    #[error("{} at {} is not a legal colour mode (NV12 and YUY2 exist only at 720P; 3072P tops \
        out at 15 fps)", format.sdk_name(), mode_text(*resolution, *fps))]
    NotLegal {
        format: ColorFormat,
        resolution: ColorResolution,
        fps: Fps,
    },
    /// The device offers no such format × size × interval.
    #[error("the camera does not offer {} {}x{} at {} fps; it offers: {}", fourcc_text(*fourcc),
        width, height, fps.hz(), offered_text(offered))]
    NotOffered {
        fourcc: FourCc,
        width: u32,
        height: u32,
        fps: Fps,
        offered: Vec<OfferedMode>,
    },
    /// The driver settled on an interval that does not give the requested fps.
    #[error("the driver chose a frame interval of {chosen} when {} fps was asked for",
        fps.hz())]
    IntervalRefused { chosen: Interval, fps: Fps },
}

fn mode_text(resolution: ColorResolution, fps: Fps) -> String {
    format!("{} {} fps", resolution.sdk_name(), fps.hz())
}

fn offered_text(offered: &[OfferedMode]) -> String {
    if offered.is_empty() {
        return "nothing".into();
    }
    offered
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Picks the V4L2 mode for an SDK colour mode from what the driver offers.
pub fn negotiate(
    format: ColorFormat,
    resolution: ColorResolution,
    fps: Fps,
    offered: &[OfferedMode],
) -> Result<CaptureMode, ModeError> {
    let not_legal = ModeError::NotLegal {
        format,
        resolution,
        fps,
    };
    let Some((width, height)) = resolution.size() else {
        return Err(not_legal);
    };
    if !format.allowed_at(resolution) || fps > resolution.max_fps() {
        return Err(not_legal);
    }
    let fourcc = fourcc_for(format);
    offered
        .iter()
        .filter(|m| m.fourcc == fourcc && m.width == width && m.height == height)
        .find_map(|m| m.intervals.choose(fps))
        .map(|interval| CaptureMode {
            format,
            resolution,
            fps,
            fourcc,
            width,
            height,
            interval,
        })
        .ok_or_else(|| ModeError::NotOffered {
            fourcc,
            width,
            height,
            fps,
            offered: offered.to_vec(),
        })
}

/// Checks the interval the driver settled on (VIDIOC_S_PARM's answer) against §5.3.
pub fn check_chosen_interval(chosen: Interval, fps: Fps) -> Result<(), ModeError> {
    if chosen.fits(fps) {
        Ok(())
    } else {
        Err(ModeError::IntervalRefused { chosen, fps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinect_offers() -> Vec<OfferedMode> {
        let natural = IntervalOffer::Discrete(vec![
            Interval::new(333_333, 10_000_000),
            Interval::new(666_666, 10_000_000),
            Interval::new(2_000_000, 10_000_000),
        ]);
        let mut modes = Vec::new();
        for res in [
            ColorResolution::R720p,
            ColorResolution::R1080p,
            ColorResolution::R3072p,
        ] {
            let (width, height) = res.size().unwrap();
            modes.push(OfferedMode {
                fourcc: FOURCC_MJPG,
                width,
                height,
                intervals: natural.clone(),
            });
        }
        modes.push(OfferedMode {
            fourcc: FOURCC_YUYV,
            width: 1280,
            height: 720,
            intervals: natural,
        });
        modes
    }

    #[test]
    fn bgra32_is_captured_as_mjpg_and_flagged_for_host_decode() {
        let mode = negotiate(
            ColorFormat::Bgra32,
            ColorResolution::R1080p,
            Fps::Fps30,
            &kinect_offers(),
        )
        .unwrap();
        assert_eq!(mode.fourcc, FOURCC_MJPG);
        assert_eq!((mode.width, mode.height), (1920, 1080));
        assert_eq!(mode.interval, Interval::new(333_333, 10_000_000));
        assert!(needs_host_decode(mode.format));
        assert!(!needs_host_decode(ColorFormat::Mjpg));
    }

    #[test]
    fn yuy2_maps_to_v4l2_yuyv() {
        let mode = negotiate(
            ColorFormat::Yuy2,
            ColorResolution::R720p,
            Fps::Fps5,
            &kinect_offers(),
        )
        .unwrap();
        assert_eq!(mode.fourcc, *b"YUYV");
        assert_eq!(mode.interval, Interval::new(2_000_000, 10_000_000));
    }

    #[test]
    fn interval_rule_follows_the_integer_quotient_bounds() {
        let i = |v: u32| Interval::new(v, 10_000_000);
        assert!(i(322_581).fits(Fps::Fps30));
        assert!(i(333_333).fits(Fps::Fps30));
        assert!(!i(322_580).fits(Fps::Fps30));
        assert!(!i(333_334).fits(Fps::Fps30));
        assert!(i(625_001).fits(Fps::Fps15));
        assert!(i(666_666).fits(Fps::Fps15));
        assert!(!i(625_000).fits(Fps::Fps15));
        assert!(!i(666_667).fits(Fps::Fps15));
        assert!(i(1_666_667).fits(Fps::Fps5));
        assert!(i(2_000_000).fits(Fps::Fps5));
        assert!(!i(2_000_001).fits(Fps::Fps5));
        assert!(Interval::new(1, 30).fits(Fps::Fps30));
        assert!(Interval::new(1, 15).fits(Fps::Fps15));
        assert!(Interval::new(1, 5).fits(Fps::Fps5));
        assert!(!Interval::new(1, 31).fits(Fps::Fps30));
        assert!(!Interval::new(1, 0).fits(Fps::Fps30));
        assert!(!Interval::new(0, 1).fits(Fps::Fps30));
    }

    #[test]
    fn first_fitting_discrete_interval_wins() {
        let offer = IntervalOffer::Discrete(vec![
            Interval::new(1, 60),
            Interval::new(330_000, 10_000_000),
            Interval::new(333_333, 10_000_000),
        ]);
        assert_eq!(
            offer.choose(Fps::Fps30),
            Some(Interval::new(330_000, 10_000_000))
        );
        assert_eq!(offer.choose(Fps::Fps5), None);
    }

    #[test]
    fn stepwise_interval_needs_the_exact_value_on_a_step() {
        let offer = |min: u32, step: u32| IntervalOffer::Stepwise {
            min: Interval::new(min, 10_000_000),
            max: Interval::new(2_000_000, 10_000_000),
            step: Interval::new(step, 10_000_000),
        };
        assert_eq!(
            offer(333_333, 1).choose(Fps::Fps15),
            Some(Interval::new(666_666, 10_000_000))
        );
        assert_eq!(offer(333_333, 2).choose(Fps::Fps15), None);
        assert_eq!(offer(400_000, 1).choose(Fps::Fps30), None);
    }

    #[test]
    fn mode_the_device_lacks_is_refused_with_what_it_offers() {
        let err = negotiate(
            ColorFormat::Nv12,
            ColorResolution::R720p,
            Fps::Fps30,
            &kinect_offers(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("the camera does not offer NV12 1280x720 at 30 fps"),
            "{text}"
        );
        assert!(text.contains("MJPG 4096x3072 @ 30/15/5 fps"), "{text}");
        assert!(text.contains("YUYV 1280x720"), "{text}");
    }

    #[test]
    fn illegal_sdk_modes_are_refused_before_looking_at_the_device() {
        for (format, res, fps) in [
            (ColorFormat::Nv12, ColorResolution::R1080p, Fps::Fps30),
            (ColorFormat::Mjpg, ColorResolution::R3072p, Fps::Fps30),
            (ColorFormat::Mjpg, ColorResolution::Off, Fps::Fps30),
        ] {
            let err = negotiate(format, res, fps, &kinect_offers()).unwrap_err();
            assert!(matches!(err, ModeError::NotLegal { .. }), "{err}");
        }
    }

    #[test]
    fn driver_interval_is_checked_against_the_rule() {
        assert!(check_chosen_interval(Interval::new(1, 30), Fps::Fps30).is_ok());
        let err = check_chosen_interval(Interval::new(1, 15), Fps::Fps30).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the driver chose a frame interval of 1/15 s (15.00 fps) when 30 fps was asked for"
        );
    }
}
