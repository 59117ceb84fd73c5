//! Colour exposure and gain through V4L2 (reference §5.5): the `uvcvideo` controls the SDK's
//! UVC requests become, in the order the SDK sends them, then read back.
//!
//! uvcvideo exposes the UVC camera-terminal AE mode as the menu `exposure_auto`
//! (V4L2_CID_EXPOSURE_AUTO: 0 auto, 1 manual, 2 shutter priority, 3 aperture priority — the
//! UVC bitmap values 2, 1, 4, 8), the exposure time as `exposure_absolute` in the UVC unit of
//! 100 µs, and the processing-unit gain as `gain`. Manual exposure is AE mode manual and then
//! the time, as the SDK sends it; auto exposure is aperture priority (UVC 8), the SDK's "auto".
//! A gain is sent only when one was asked for (k4arecorder leaves it alone otherwise). The
//! controls are read back with VIDIOC_G_CTRL and mapped the way the SDK maps them (AE mode 1
//! or 2 ⇒ manual; the time up to its table entry); [`check_read_back`] then refuses anything
//! but the value sent. The requests go through [`ControlIo`], so the sequence and the checks
//! are tested without a camera; `linuxvideo`'s VIDIOC_S_CTRL/G_CTRL carry them on a real one.

use std::io;

use k4sync_core::colour_control::{
    check_read_back, exposure_from_uvc, exposure_to_uvc, ColourControls, ControlMismatch, Exposure,
};

/// A V4L2 control the colour path sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// V4L2_CID_EXPOSURE_AUTO (camera class base + 1).
    ExposureAuto,
    /// V4L2_CID_EXPOSURE_ABSOLUTE (camera class base + 2), 100 µs units.
    ExposureAbsolute,
    /// V4L2_CID_GAIN (user class base + 19).
    Gain,
}

impl Control {
    /// The control id of `<linux/v4l2-controls.h>`.
    #[cfg(test)]
    const fn id(self) -> u32 {
        match self {
            Control::ExposureAuto => 0x009a_0901,
            Control::ExposureAbsolute => 0x009a_0902,
            Control::Gain => 0x0098_0913,
        }
    }

    const fn set_action(self) -> &'static str {
        match self {
            Control::ExposureAuto => "VIDIOC_S_CTRL exposure_auto",
            Control::ExposureAbsolute => "VIDIOC_S_CTRL exposure_absolute",
            Control::Gain => "VIDIOC_S_CTRL gain",
        }
    }

    const fn get_action(self) -> &'static str {
        match self {
            Control::ExposureAuto => "VIDIOC_G_CTRL exposure_auto",
            Control::ExposureAbsolute => "VIDIOC_G_CTRL exposure_absolute",
            Control::Gain => "VIDIOC_G_CTRL gain",
        }
    }
}

/// V4L2_EXPOSURE_MANUAL.
pub const EXPOSURE_MANUAL: i32 = 1;
/// V4L2_EXPOSURE_SHUTTER_PRIORITY (UVC AE mode 4, which the SDK reads as manual).
pub const EXPOSURE_SHUTTER_PRIORITY: i32 = 2;
/// V4L2_EXPOSURE_APERTURE_PRIORITY (UVC AE mode 8: the SDK's auto exposure).
pub const EXPOSURE_APERTURE_PRIORITY: i32 = 3;

/// Reads and writes V4L2 controls of one node.
pub trait ControlIo {
    fn get(&self, control: Control) -> io::Result<i32>;
    fn set(&mut self, control: Control, value: i32) -> io::Result<()>;
}

impl ControlIo for linuxvideo::Device {
    fn get(&self, control: Control) -> io::Result<i32> {
        self.read_control_raw(cid(control))
    }

    fn set(&mut self, control: Control, value: i32) -> io::Result<()> {
        self.write_control_raw(cid(control), value)
    }
}

fn cid(control: Control) -> linuxvideo::controls::Cid {
    use linuxvideo::controls::Cid;
    match control {
        Control::ExposureAuto => Cid::EXPOSURE_AUTO,
        Control::ExposureAbsolute => Cid::EXPOSURE_ABSOLUTE,
        Control::Gain => Cid::GAIN,
    }
}

/// What failed while setting the colour controls.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// An ioctl failed; `action` names it and the control.
    #[error("{action} failed: {source}")]
    Io {
        action: &'static str,
        source: io::Error,
    },
    /// The camera reports another value than the one set.
    #[error("{0}")]
    Refused(ControlMismatch),
}

/// The VIDIOC_S_CTRL requests for `controls`, in the order they are sent.
pub fn requests(controls: ColourControls) -> Vec<(Control, i32)> {
    let mut out = match controls.exposure {
        Exposure::Auto => vec![(Control::ExposureAuto, EXPOSURE_APERTURE_PRIORITY)],
        Exposure::Manual { usec } => vec![
            (Control::ExposureAuto, EXPOSURE_MANUAL),
            (
                Control::ExposureAbsolute,
                i32::try_from(exposure_to_uvc(usec)).unwrap_or(i32::MAX),
            ),
        ],
    };
    if let Some(gain) = controls.gain {
        out.push((Control::Gain, i32::from(gain)));
    }
    out
}

/// Sets `controls`, reads them back and checks that the camera took them; returns what it
/// reports.
pub fn apply(
    io: &mut dyn ControlIo,
    controls: ColourControls,
) -> Result<ColourControls, ControlError> {
    for (control, value) in requests(controls) {
        io.set(control, value).map_err(|source| ControlError::Io {
            action: control.set_action(),
            source,
        })?;
    }
    let reported = read_back(io, controls.gain.is_some())?;
    check_read_back(controls, reported).map_err(ControlError::Refused)
}

/// The controls as the camera reports them; the gain only when `with_gain`.
pub fn read_back(io: &dyn ControlIo, with_gain: bool) -> Result<ColourControls, ControlError> {
    let get = |control: Control| {
        io.get(control).map_err(|source| ControlError::Io {
            action: control.get_action(),
            source,
        })
    };
    let mode = get(Control::ExposureAuto)?;
    let exposure = if matches!(mode, EXPOSURE_MANUAL | EXPOSURE_SHUTTER_PRIORITY) {
        let units = get(Control::ExposureAbsolute)?;
        Exposure::Manual {
            usec: exposure_from_uvc(units.max(0).unsigned_abs()),
        }
    } else {
        Exposure::Auto
    };
    let gain = if with_gain {
        u8::try_from(get(Control::Gain)?).ok()
    } else {
        None
    };
    Ok(ColourControls { exposure, gain })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A node that stores what is set, optionally answering one control with its own value.
    #[derive(Default)]
    struct FakeNode {
        values: HashMap<u32, i32>,
        sent: Vec<(Control, i32)>,
        forced: Option<(Control, i32)>,
        refuse: Option<Control>,
    }

    impl ControlIo for FakeNode {
        fn get(&self, control: Control) -> io::Result<i32> {
            match self.forced {
                Some((c, v)) if c == control => Ok(v),
                _ => Ok(self.values.get(&control.id()).copied().unwrap_or(0)),
            }
        }

        fn set(&mut self, control: Control, value: i32) -> io::Result<()> {
            if self.refuse == Some(control) {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            self.sent.push((control, value));
            self.values.insert(control.id(), value);
            Ok(())
        }
    }

    fn manual(usec: u32, gain: Option<u8>) -> ColourControls {
        ColourControls {
            exposure: Exposure::Manual { usec },
            gain,
        }
    }

    #[test]
    fn control_ids_are_the_kernel_headers() {
        assert_eq!(Control::ExposureAuto.id(), 0x009a_0900 + 1);
        assert_eq!(Control::ExposureAbsolute.id(), 0x009a_0900 + 2);
        assert_eq!(Control::Gain.id(), 0x0098_0900 + 19);
    }

    #[test]
    fn manual_exposure_is_ae_mode_manual_then_the_table_entry_in_100_us_then_the_gain() {
        assert_eq!(
            requests(manual(31_250, Some(128))),
            [
                (Control::ExposureAuto, EXPOSURE_MANUAL),
                (Control::ExposureAbsolute, 333),
                (Control::Gain, 128),
            ]
        );
        assert_eq!(
            requests(ColourControls::default()),
            [(Control::ExposureAuto, EXPOSURE_APERTURE_PRIORITY)]
        );
    }

    #[test]
    fn applied_controls_are_read_back_as_the_camera_reports_them() {
        let mut node = FakeNode::default();
        let got = apply(&mut node, manual(8_000, Some(7))).unwrap();
        assert_eq!(got, manual(8_330, Some(7)));
        assert_eq!(node.sent.len(), 3);
        let auto = apply(&mut node, ColourControls::default()).unwrap();
        assert_eq!(auto, ColourControls::default());
    }

    #[test]
    fn a_camera_that_keeps_another_value_fails_naming_the_control() {
        let mut node = FakeNode {
            forced: Some((Control::ExposureAbsolute, 166)),
            ..FakeNode::default()
        };
        let err = apply(&mut node, manual(31_250, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "colour control exposure was set to 33330 µs but the camera reports 16670 µs"
        );
        let mut node = FakeNode {
            forced: Some((Control::ExposureAuto, EXPOSURE_APERTURE_PRIORITY)),
            ..FakeNode::default()
        };
        let err = apply(&mut node, manual(31_250, None)).unwrap_err();
        assert!(err.to_string().ends_with("reports auto exposure"), "{err}");
        let mut node = FakeNode {
            forced: Some((Control::Gain, 12)),
            ..FakeNode::default()
        };
        let err = apply(&mut node, manual(500, Some(200))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "colour control gain was set to 200 but the camera reports 12"
        );
    }

    #[test]
    fn a_refused_ioctl_names_the_request_and_the_control() {
        let mut node = FakeNode {
            refuse: Some(Control::Gain),
            ..FakeNode::default()
        };
        let err = apply(&mut node, manual(500, Some(200))).unwrap_err();
        assert!(
            err.to_string().starts_with("VIDIOC_S_CTRL gain failed"),
            "{err}"
        );
    }
}
