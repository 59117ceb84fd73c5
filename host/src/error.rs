//! Host errors: every failure of the USB path names the camera (its serial, when known), the
//! command and the endpoint involved, and its `Display` ends with what to do about it.
//!
//! Transaction failures follow reference §2.3: a transfer failed ([`Error::Transfer`]), the
//! status packet was malformed or answered another transaction ([`Error::Response`]), or the
//! firmware refused the command ([`Error::Status`], only from the plain variants). Open and
//! discovery failures (§1.2–1.4) are separate variants so the CLI can print the fix for
//! permissions, busy interfaces and a missing USB subsystem.

use std::fmt;

use k4sync_core::wire::command::CommandCode;
use k4sync_core::wire::response::{ResponseError, Status};
use k4sync_core::WireError;

use crate::colour::ColourProblem;
use crate::transfer::{Endpoint, TransferError};

/// Path of the udev rule in the source tree.
pub const UDEV_RULE_PATH: &str = "host/udev/99-k4sync.rules";

/// Commands that install the udev rule and give the current user access.
pub const UDEV_INSTALL: &str = "sudo cp host/udev/99-k4sync.rules /etc/udev/rules.d/ \
&& sudo udevadm control --reload && sudo udevadm trigger && sudo usermod -aG plugdev \"$USER\" \
(then log out and in again)";

/// Which transfer of a command transaction failed (reference §2.3 steps 2–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The command packet on the cmd OUT endpoint.
    Command,
    /// The write data phase on the cmd OUT endpoint.
    WriteData,
    /// The read data phase on the resp IN endpoint.
    ReadData,
    /// The 16-byte status on the resp IN endpoint.
    Status,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Command => "command packet",
            Phase::WriteData => "write data",
            Phase::ReadData => "read data",
            Phase::Status => "status",
        })
    }
}

/// Any failure of the host's USB path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A transfer of a command transaction failed.
    #[error("camera {}: {command}: {phase} transfer on {} failed: {source}; {}",
        who(.serial), .source.endpoint(), transfer_hint(.source))]
    Transfer {
        serial: Option<String>,
        command: CommandCode,
        phase: Phase,
        source: TransferError,
    },

    /// The firmware answered with a non-zero status (plain variants only).
    #[error("camera {}: {command}: the {} MCU answered status {status} ({:#x}); the command is \
        not accepted in the camera's current state — stop the streams, or power-cycle the camera \
        if it persists", who(.serial), .endpoint.mcu(), .status.raw())]
    Status {
        serial: Option<String>,
        command: CommandCode,
        endpoint: Endpoint,
        status: Status,
    },

    /// The status transfer was not a valid response to this transaction.
    #[error("camera {}: {command}: bad status packet on {endpoint}: {source}; the command \
        channel is out of step, close and reopen the camera", who(.serial))]
    Response {
        serial: Option<String>,
        command: CommandCode,
        endpoint: Endpoint,
        source: ResponseError,
    },

    /// A successful transaction returned a result the host cannot use.
    #[error("camera {}: {command}: unusable result read on {endpoint}: {source}; check the \
        firmware version with `k4sync list`", who(.serial))]
    Payload {
        serial: Option<String>,
        command: CommandCode,
        endpoint: Endpoint,
        source: WireError,
    },

    /// The host refused to send a command whose payload_size exceeds 2^31 − 1 (reference §2.1).
    #[error("camera {}: {command}: a {len}-byte data phase exceeds the 2147483647-byte limit; \
        nothing was sent", who(.serial))]
    PayloadTooLarge {
        serial: Option<String>,
        command: CommandCode,
        len: usize,
    },

    /// The calibration JSON never fitted (reference §3.2.5).
    #[error("camera {}: DEPTH_READ_CALIBRATION_DATA on {}: no read of up to {last_size} bytes \
        returned the whole document in {attempts} attempts ({last}); power-cycle the camera",
        who(.serial), Endpoint::DepthResponseIn)]
    CalibrationIncomplete {
        serial: Option<String>,
        attempts: u32,
        last_size: u32,
        last: String,
    },

    /// COMPONENT_VERSION_GET never succeeded in the readiness poll (reference §3.2.1).
    #[error("camera {}: COMPONENT_VERSION_GET on {}: the depth MCU did not become ready in \
        {attempts} polls ({last}); unplug the camera's power and USB, wait 5 s and retry",
        who(.serial), Endpoint::DepthResponseIn)]
    NotReady {
        serial: Option<String>,
        attempts: u32,
        last: String,
    },

    /// A stream endpoint failed; a [`TransferError::Timeout`] source is recoverable.
    #[error("camera {}: stream on {}: {source}; {}", who(.serial), .source.endpoint(),
        transfer_hint(.source))]
    Stream {
        serial: Option<String>,
        source: TransferError,
    },

    /// A stream endpoint stalled `count` times within `window`, more than
    /// [`crate::StallPolicy`] recovers from; the stream ended.
    #[error("camera {}: stream on {endpoint} stalled {count} times within {} s, so it was \
        stopped instead of cleared again; the endpoint keeps halting — check the USB cable, \
        hub and power supply, then power-cycle the camera", who(.serial), .window.as_secs_f64())]
    StreamStalled {
        serial: Option<String>,
        endpoint: Endpoint,
        count: u32,
        window: std::time::Duration,
    },

    /// One depth transfer does not fit the transfer pool (reference §3.5).
    #[error("camera {}: a {request_len}-byte depth transfer does not fit the {pool_limit}-byte \
        transfer pool; set K4A_MAX_LIBUSB_POOL higher (and usbcore.usbfs_memory_mb, see \
        docs/sbc.md)", who(.serial))]
    PoolTooSmall {
        serial: Option<String>,
        request_len: usize,
        pool_limit: usize,
    },

    /// The configuration broke a rule of reference §7.5; nothing was started.
    #[error("camera {}: configuration rejected: {source}", who(.serial))]
    Config {
        serial: Option<String>,
        source: k4sync_core::sync::config::ConfigError,
    },

    /// The operation is not allowed in the device's current state (reference §7.2–7.3).
    #[error("camera {}: {what}", who(.serial))]
    State {
        serial: Option<String>,
        what: String,
    },

    /// A camera source this build cannot provide yet.
    #[error("{what} is not available in this build of k4sync")]
    Unavailable { what: String },

    /// No USB subsystem to enumerate (no sysfs USB bus, or enumeration itself failed).
    #[error(
        "no USB subsystem: {detail}; k4sync needs a Linux kernel with USB support and \
        /sys mounted (inside a container, pass /sys and /dev/bus/usb through)"
    )]
    NoUsbSubsystem { detail: String },

    /// The user may not open the camera's USB device nodes.
    #[error(
        "permission denied opening {device}; install the udev rule {UDEV_RULE_PATH}: \
        {UDEV_INSTALL}"
    )]
    PermissionDenied { device: String },

    /// Another driver or process holds the interface.
    #[error("{device} is busy: {}; close it (or stop the service using the camera) and retry",
        holders_text(.holders))]
    Busy {
        device: String,
        holders: Vec<String>,
    },

    /// The camera (or one of its two USB functions) is not on the bus.
    #[error(
        "{what} not found; check `k4sync list`, the cable (USB 3, SuperSpeed) and the \
        camera's power supply"
    )]
    NotFound { what: String },

    /// Any other USB-level failure while opening.
    #[error("{device}: {action} failed: {source}; unplug and replug the camera and retry")]
    Usb {
        device: String,
        action: &'static str,
        source: nusb::Error,
    },

    /// The colour camera's V4L2 path failed (reference §5).
    #[error("camera {}: colour node {node}: {problem}", who(.serial))]
    Colour {
        serial: Option<String>,
        node: String,
        problem: ColourProblem,
    },
}

impl Error {
    /// The failed transfer, when the error is one.
    pub fn transfer_error(&self) -> Option<&TransferError> {
        match self {
            Error::Transfer { source, .. } | Error::Stream { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the camera has gone away (retrying on it is pointless).
    pub fn is_disconnected(&self) -> bool {
        matches!(
            self.transfer_error(),
            Some(TransferError::Disconnected { .. })
        )
    }

    /// The endpoint the failure happened on, when it is a transaction failure.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Error::Transfer { source, .. } | Error::Stream { source, .. } => {
                Some(source.endpoint())
            }
            Error::Status { endpoint, .. }
            | Error::Response { endpoint, .. }
            | Error::Payload { endpoint, .. }
            | Error::StreamStalled { endpoint, .. } => Some(*endpoint),
            _ => None,
        }
    }

    /// The command that failed, when the error is a transaction failure.
    pub fn command(&self) -> Option<CommandCode> {
        match self {
            Error::Transfer { command, .. }
            | Error::Status { command, .. }
            | Error::Response { command, .. }
            | Error::Payload { command, .. }
            | Error::PayloadTooLarge { command, .. } => Some(*command),
            Error::CalibrationIncomplete { .. } => Some(CommandCode::ReadCalibration),
            Error::NotReady { .. } => Some(CommandCode::ComponentVersionGet),
            _ => None,
        }
    }
}

fn who(serial: &Option<String>) -> &str {
    serial.as_deref().unwrap_or("(serial unknown)")
}

fn transfer_hint(error: &TransferError) -> &'static str {
    match error {
        TransferError::Timeout { .. } => {
            "the camera did not answer in time — check its power supply, then power-cycle it"
        }
        TransferError::Stall { .. } => {
            "the camera rejected the transfer — close and reopen it, power-cycle if it persists"
        }
        TransferError::Disconnected { .. } => {
            "check the USB cable and the camera's power, then reopen the camera"
        }
        TransferError::Overflow { .. } => {
            "the camera sent more than was asked for — its firmware may not match this host; \
             check `k4sync list`"
        }
        _ => "unplug and replug the camera; use a USB 3 port on its own controller",
    }
}

fn holders_text(holders: &[String]) -> String {
    if holders.is_empty() {
        "another process or a kernel driver has claimed it (no process of this user has it open; \
         try `sudo fuser -v /dev/bus/usb/*/*`)"
            .to_string()
    } else {
        format!("held by {}", holders.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_error_names_serial_command_endpoint_and_a_fix() {
        let e = Error::Transfer {
            serial: Some("000019484312".into()),
            command: CommandCode::ReadProductSn,
            phase: Phase::ReadData,
            source: TransferError::Disconnected {
                endpoint: Endpoint::DepthResponseIn,
            },
        };
        let text = e.to_string();
        assert!(text.starts_with("camera 000019484312: DEPTH_READ_PRODUCT_SN: read data"));
        assert!(text.contains("depth endpoint 0x81"), "{text}");
        assert!(text.contains("check the USB cable"), "{text}");
        assert!(e.is_disconnected());
        assert_eq!(e.endpoint(), Some(Endpoint::DepthResponseIn));
    }

    #[test]
    fn permission_error_points_at_the_udev_rule() {
        let text = Error::PermissionDenied {
            device: "045e:097c on bus 2 address 5".into(),
        }
        .to_string();
        assert!(text.contains(UDEV_RULE_PATH));
        assert!(text.contains("udevadm control --reload"));
    }

    #[test]
    fn unknown_serial_is_said_so() {
        let text = Error::Status {
            serial: None,
            command: CommandCode::SetSysCfg,
            endpoint: Endpoint::ColourResponseIn,
            status: Status::WrongDeviceState,
        }
        .to_string();
        assert!(text.starts_with("camera (serial unknown): SET_SYS_CFG: the colour MCU"));
        assert!(text.contains("WRONG_DEVICE_STATE (0x102)"), "{text}");
    }
}
