//! What can go wrong on the colour path, as one sentence a user can act on. A leaf module:
//! `crate::error::Error::Colour` carries a [`ColourProblem`], so this type must not depend on
//! the error type or on the rest of the colour path.

use std::io;
use std::time::Duration;

use super::control::ControlError;
use super::negotiate::ModeError;

/// What went wrong on the colour path; carried by `Error::Colour`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ColourProblem {
    /// No V4L2 node belongs to the selected camera (also when sysfs has no video4linux
    /// class at all, i.e. no V4L2 driver is loaded).
    #[error(
        "no V4L2 capture node for {wanted}; check that the uvcvideo module is loaded \
        (`lsmod | grep uvcvideo`), that `k4sync list` shows the camera's colour function on \
        USB 3 and that this user may open /dev/video* (the `video` group); see docs/colour.md"
    )]
    NotFound { wanted: String },
    /// sysfs could not be read.
    #[error(
        "cannot read /sys/class/video4linux: {source}; k4sync needs sysfs mounted \
        (set K4SYNC_SYSFS_ROOT if it lives elsewhere)"
    )]
    Sysfs { source: io::Error },
    /// The node could not be opened.
    #[error("cannot open it: {source}; {}", open_hint(.source))]
    Open { source: io::Error },
    /// The node is not a streaming video capture node.
    #[error(
        "it is not a V4L2 video capture node with streaming I/O; pass the camera's \
        capture node (the lower-numbered of its two /dev/video nodes)"
    )]
    NotCapture,
    /// The colour mode cannot be started.
    #[error("{0}")]
    Mode(#[from] ModeError),
    /// The driver took a different format or size than asked for.
    #[error("the driver answered {got} when {wanted} was asked for")]
    FormatRefused { wanted: String, got: String },
    /// A V4L2 call failed.
    #[error("{action} failed: {source}; unplug and replug the camera and retry")]
    Io {
        action: &'static str,
        source: io::Error,
    },
    /// A colour control (exposure, gain) could not be set, or the camera kept another value.
    #[error("{0}; see docs/colour.md, \"Exposure and gain\"")]
    Control(#[from] ControlError),
    /// No frame arrived in time (recoverable).
    #[error("no frame within {} ms; check the camera's power supply and, for a subordinate, \
        the sync cable and that the master has started", .timeout.as_millis())]
    Timeout { timeout: Duration },
    /// `next_frame` or `stop` before `start`, or `start` twice.
    #[error("the colour stream is {}", if *.running { "already started" } else { "not started" })]
    State { running: bool },
}

fn open_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            "add the user to the `video` group (`sudo usermod -aG video \"$USER\"`, then log in \
             again)"
        }
        io::ErrorKind::NotFound => "the camera was unplugged or the node was renamed",
        _ => "close other programs using the camera (`fuser -v /dev/video*`) and retry",
    }
}
