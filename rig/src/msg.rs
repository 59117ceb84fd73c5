//! The messages agents and the coordinator exchange, and their encoding.
//!
//! Every message is a JSON object with a `version` field ([`PROTOCOL_VERSION`]). JSON rather
//! than postcard: these are small, infrequent control messages (a state a second, a command a
//! take), any zenoh tool can print them, and the version can be read from a message whose other
//! fields no longer match — so a coordinator and an agent of different releases get
//! [`MessageError::Version`] naming both versions instead of a decoding error (postcard's
//! positional encoding cannot tell the two cases apart). The per-frame stream ([`Frames`]) is
//! JSON too: one message per capture is about 125 bytes, under 4 kB/s per device at 30 fps, well
//! under the rig's 10 kB/s budget per device.
//!
//! Device settings travel as the SDK's numeric enum values ([`Settings`]) so the agent can run
//! the core's own §7.5 validation, undefined values included, against its jack state.

use std::fmt;

use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::JackState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version of this message set; bumped whenever a message changes shape or meaning.
pub const PROTOCOL_VERSION: u32 = 5;

/// A message that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The sender speaks another version of the rig protocol.
    Version {
        key: String,
        found: u32,
        expected: u32,
    },
    /// Not JSON, or not the message the key carries.
    Malformed { key: String, reason: String },
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Version {
                key,
                found,
                expected,
            } => write!(
                f,
                "{key}: the sender speaks rig protocol version {found}, this k4sync speaks \
                 version {expected}; install the same k4sync release on every node"
            ),
            MessageError::Malformed { key, reason } => {
                write!(f, "{key}: unreadable message ({reason})")
            }
        }
    }
}

impl std::error::Error for MessageError {}

#[derive(Serialize)]
struct Outgoing<'a, T> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

#[derive(Deserialize)]
struct Incoming<T> {
    #[serde(rename = "version")]
    _version: u32,
    #[serde(flatten)]
    body: T,
}

/// Encodes `body` with the current [`PROTOCOL_VERSION`].
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    encode_as(body, PROTOCOL_VERSION)
}

/// Encodes `body` claiming `version` (tests of the mismatch path use another version).
pub fn encode_as<T: Serialize>(body: &T, version: u32) -> Vec<u8> {
    // Serialising these plain data types cannot fail; an empty payload would be reported as
    // malformed by the receiver.
    serde_json::to_vec(&Outgoing { version, body }).unwrap_or_default()
}

/// Decodes a message received on `key`, checking its version first.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, MessageError> {
    let malformed = |e: serde_json::Error| MessageError::Malformed {
        key: key.to_string(),
        reason: e.to_string(),
    };
    let found = serde_json::from_slice::<VersionOnly>(bytes)
        .map_err(malformed)?
        .version;
    if found != PROTOCOL_VERSION {
        return Err(MessageError::Version {
            key: key.to_string(),
            found,
            expected: PROTOCOL_VERSION,
        });
    }
    Ok(serde_json::from_slice::<Incoming<T>>(bytes)
        .map_err(malformed)?
        .body)
}

/// Firmware versions as the device reports them (`major.minor.build`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    pub rgb: String,
    pub depth: String,
    pub audio: String,
}

/// Plug presence in the sync jacks (GET_JACK_STATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jacks {
    pub sync_in: bool,
    pub sync_out: bool,
}

impl From<JackState> for Jacks {
    fn from(j: JackState) -> Self {
        Jacks {
            sync_in: j.sync_in,
            sync_out: j.sync_out,
        }
    }
}

impl From<Jacks> for JackState {
    fn from(j: Jacks) -> Self {
        JackState {
            sync_in: j.sync_in,
            sync_out: j.sync_out,
        }
    }
}

/// What the agent's recorder is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecorderState {
    Idle,
    /// The device is being configured and started; not yet listening for pulses.
    Starting {
        take: String,
        file: String,
    },
    /// A subordinate's device runs and waits for the first pulse (armed).
    WaitingForPulses {
        take: String,
        file: String,
    },
    /// Images arrive. `frames`: captures written so far; `dropped`: captures and images lost
    /// on the way (writer queue, late, device).
    Recording {
        take: String,
        file: String,
        frames: u64,
        dropped: u64,
    },
    /// The last take ended; its file is complete.
    Finished {
        take: String,
        file: String,
        frames: u64,
        dropped: u64,
    },
    Failed {
        take: String,
        reason: String,
    },
}

impl RecorderState {
    /// Short text for tables.
    pub fn label(&self) -> &'static str {
        match self {
            RecorderState::Idle => "idle",
            RecorderState::Starting { .. } => "starting",
            RecorderState::WaitingForPulses { .. } => "waiting-for-pulses",
            RecorderState::Recording { .. } => "recording",
            RecorderState::Finished { .. } => "finished",
            RecorderState::Failed { .. } => "failed",
        }
    }

    /// Whether a recording is in progress (waiting or writing).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RecorderState::Starting { .. }
                | RecorderState::WaitingForPulses { .. }
                | RecorderState::Recording { .. }
        )
    }
}

/// One agent's identity and state, published on its `state` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    pub name: String,
    pub serial: String,
    pub firmware: Firmware,
    /// `None`: the jack state could not be read.
    pub jacks: Option<Jacks>,
    pub usb_speed: Option<String>,
    pub emulated: bool,
    pub data_dir: String,
    /// Free bytes on the data directory's file system; `None` if it could not be read.
    pub free_disk_bytes: Option<u64>,
    pub recorder: RecorderState,
}

/// Device settings in the SDK's numeric values (`k4a_device_configuration_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub color_format: u32,
    pub color_resolution: u32,
    pub depth_mode: u32,
    pub fps: u32,
    pub sync_mode: u32,
    pub subordinate_delay_off_master_usec: u32,
    pub depth_delay_off_color_usec: i32,
    pub synchronized_images_only: bool,
    pub imu: bool,
    /// Manual colour exposure exponent (-11..=1); `None` is automatic exposure.
    pub exposure: Option<i8>,
    /// Device time to record from the first image, µs (`k4sync record -l`); `None` records
    /// until stopped. Every device of a take gets the same length, so their files end at the
    /// same pulse.
    pub length_usec: Option<u64>,
    /// The take's segment: 0 for its first recording, then one more for each recovery
    /// (a new file per device, `<agent>-seg<N>.mkv`).
    pub segment: u32,
}

impl Settings {
    pub fn new(config: &DeviceConfig, exposure: Option<i8>) -> Self {
        Settings {
            color_format: config.color_format.sdk_value(),
            color_resolution: config.color_resolution.sdk_value(),
            depth_mode: config.depth_mode.sdk_value(),
            fps: config.fps.sdk_value(),
            sync_mode: config.sync_mode.wire_value(),
            subordinate_delay_off_master_usec: config.subordinate_delay_off_master_usec,
            depth_delay_off_color_usec: config.depth_delay_off_color_usec,
            synchronized_images_only: config.synchronized_images_only,
            imu: config.imu,
            exposure,
            length_usec: None,
            segment: 0,
        }
    }

    /// The device configuration, or the first field holding an undefined value.
    pub fn device_config(&self) -> Result<DeviceConfig, String> {
        let undefined = |field: &str, v: u32| format!("{field} = {v} is not an SDK value");
        Ok(DeviceConfig {
            color_format: ColorFormat::from_sdk_value(self.color_format)
                .ok_or_else(|| undefined("color_format", self.color_format))?,
            color_resolution: ColorResolution::from_sdk_value(self.color_resolution)
                .ok_or_else(|| undefined("color_resolution", self.color_resolution))?,
            depth_mode: DepthMode::from_sdk_value(self.depth_mode)
                .ok_or_else(|| undefined("depth_mode", self.depth_mode))?,
            fps: Fps::from_sdk_value(self.fps).ok_or_else(|| undefined("fps", self.fps))?,
            sync_mode: WiredSyncMode::from_wire(self.sync_mode)
                .ok_or_else(|| undefined("sync_mode", self.sync_mode))?,
            subordinate_delay_off_master_usec: self.subordinate_delay_off_master_usec,
            depth_delay_off_color_usec: self.depth_delay_off_color_usec,
            synchronized_images_only: self.synchronized_images_only,
            imu: self.imu,
            ..DeviceConfig::default()
        })
    }
}

/// One agent's per-second recording summary, published on its `health` key while it records
/// (and once more when the take ends). About 200 bytes a second per device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub name: String,
    pub take: String,
    /// The recorder state's label (`waiting-for-pulses`, `recording`, `finished`, …).
    pub recorder: String,
    /// Captures written so far, and captures or images lost on the way.
    pub frames: u64,
    pub dropped: u64,
    /// Device timestamps of the newest colour and depth images handed to the writer, µs.
    pub last_colour_usec: Option<u64>,
    pub last_depth_usec: Option<u64>,
}

/// Device timestamps (µs) of the images an agent's recording handed to its writer since its
/// previous `Frames` message, oldest first, published as they come (about one message per
/// capture) so that the coordinator can place every frame on the master's grid while the take
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frames {
    pub name: String,
    pub take: String,
    /// The take's segment (0, then one more after each recovery): a device's clock starts
    /// again with each.
    pub segment: u32,
    /// Left out of the message when empty, as are `depth_usec` and a zero `skipped`: one
    /// goes out per capture, and a take's traffic per agent is bounded (docs/performance.md,
    /// "Rig control plane").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub colour_usec: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depth_usec: Vec<u64>,
    /// Timestamps the agent could not send (its backlog was full), since the take began.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A command from the coordinator to one agent (a query on its `cmd` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Start a subordinate's recording: it then waits for the master's pulses.
    Arm { take: String, settings: Settings },
    /// Start a master's (or standalone device's) recording.
    Start { take: String, settings: Settings },
    /// Stop and finalise the recording in progress.
    Stop,
    /// Stop the recording in progress and arm again into a new take (a new segment).
    Rearm { take: String, settings: Settings },
}

/// The agent's answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandReply {
    Done { recorder: RecorderState },
    Refused { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_leave_out_what_is_empty_and_read_back_whole() {
        let colour_only = Frames {
            name: "b".into(),
            take: "t".into(),
            segment: 1,
            colour_usec: vec![33_344],
            depth_usec: Vec::new(),
            skipped: 0,
        };
        let bytes = encode(&colour_only);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains("depth_usec") && !text.contains("skipped"),
            "{text}"
        );
        assert_eq!(decode::<Frames>("k", &bytes).unwrap(), colour_only);
        let full = Frames {
            depth_usec: vec![33_500],
            skipped: 2,
            ..colour_only
        };
        assert_eq!(decode::<Frames>("k", &encode(&full)).unwrap(), full);
    }

    fn state() -> AgentState {
        AgentState {
            name: "a".into(),
            serial: "000123456789".into(),
            firmware: Firmware {
                rgb: "1.6.110".into(),
                depth: "1.6.80".into(),
                audio: "1.6.14".into(),
            },
            jacks: Some(Jacks {
                sync_in: true,
                sync_out: false,
            }),
            usb_speed: Some("super".into()),
            emulated: true,
            data_dir: "/data".into(),
            free_disk_bytes: Some(1 << 30),
            recorder: RecorderState::Idle,
        }
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let s = state();
        let bytes = encode(&s);
        assert_eq!(decode::<AgentState>("k", &bytes), Ok(s));
        let c = Command::Arm {
            take: "t1".into(),
            settings: Settings::new(&DeviceConfig::default(), Some(-7)),
        };
        assert_eq!(decode::<Command>("k", &encode(&c)), Ok(c));
    }

    #[test]
    fn another_version_is_named_even_when_the_rest_no_longer_parses() {
        let newer = PROTOCOL_VERSION + 1;
        let bytes = format!(r#"{{"version":{newer},"entirely":"different"}}"#);
        let e = decode::<AgentState>("k4sync/r/agent/a/state", bytes.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            MessageError::Version {
                key: "k4sync/r/agent/a/state".into(),
                found: newer,
                expected: PROTOCOL_VERSION
            }
        );
        assert!(e.to_string().contains(&format!("version {newer}")), "{e}");
        assert!(e.to_string().contains("same k4sync release"), "{e}");
    }

    #[test]
    fn a_message_without_version_is_malformed() {
        let e = decode::<AgentState>("k", b"{\"name\":\"a\"}").unwrap_err();
        assert!(matches!(e, MessageError::Malformed { .. }), "{e:?}");
    }

    #[test]
    fn undefined_sdk_value_is_named_by_field() {
        let mut s = Settings::new(&DeviceConfig::default(), None);
        s.fps = 9;
        assert_eq!(s.device_config(), Err("fps = 9 is not an SDK value".into()));
        s.fps = Fps::Fps15.sdk_value();
        assert_eq!(s.device_config().map(|c| c.fps), Ok(Fps::Fps15));
    }
}
