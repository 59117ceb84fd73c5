//! One device's configuration, its validation in the SDK's rule order, and the command
//! sequences a validated configuration turns into (reference §7.1–§7.5, §3.4, §4.2, §6.2).
//!
//! Validation is modelled on the raw form ([`RawDeviceConfig`], plain `u32` enum values as an
//! SDK caller could pass them) because the SDK's first five checks reject values the Rust enums
//! cannot even hold. [`DeviceConfig::validate`] converts and delegates, so there is one rule
//! list. Rules run in the SDK's order and the first failure wins, which keeps our error for a
//! given configuration identical to the one the SDK would report.
//!
//! The jack state is an *input*: for master and subordinate the SDK reads GET_JACK_STATE during
//! validation, so the caller performs that read (the first step of [`ValidatedConfig::start_sequence`])
//! and passes its answer in. No clock, no I/O.
//!
//! Delays are requested in µs and sent in 90 kHz ticks truncated toward zero (§6.2), so a
//! [`ValidatedConfig`] reports both: the requested µs in its [`DeviceConfig`] and the
//! *effective* delay the device will really apply.

use core::fmt;

use crate::sync::jack::{self, CablePresence, JackError};
use crate::time::{
    effective_delay_nsec, effective_delay_usec, usec_to_ticks_i32, usec_to_ticks_u32,
};
use crate::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use crate::wire::colour_mcu::{JackState, SysConfig};
use crate::wire::command::{Command, Mcu};

/// The NV tag the SDK reads on the first depth start after open (§3.4).
pub const START_NV_TAG: u32 = 2;

/// A typed device configuration (the SDK's `k4a_device_configuration_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceConfig {
    pub color_format: ColorFormat,
    pub color_resolution: ColorResolution,
    pub depth_mode: DepthMode,
    pub fps: Fps,
    pub sync_mode: WiredSyncMode,
    /// Capture delay after the master's pulse; subordinate only, 0..=one frame period.
    pub subordinate_delay_off_master_usec: u32,
    /// Depth capture relative to colour (negative = depth first), −period..=+period.
    pub depth_delay_off_color_usec: i32,
    pub synchronized_images_only: bool,
    /// Whether the host should start the IMU after the cameras (not part of validation).
    pub imu: bool,
    /// Streaming LED on while streaming (NOT the SDK's `disable_streaming_indicator`).
    pub privacy_led: bool,
}

impl Default for DeviceConfig {
    /// k4arecorder's defaults: 1080p MJPG, NFOV unbinned, 30 fps, standalone, IMU on, LED on.
    fn default() -> Self {
        DeviceConfig {
            color_format: ColorFormat::Mjpg,
            color_resolution: ColorResolution::R1080p,
            depth_mode: DepthMode::NfovUnbinned,
            fps: Fps::Fps30,
            sync_mode: WiredSyncMode::Standalone,
            subordinate_delay_off_master_usec: 0,
            depth_delay_off_color_usec: 0,
            synchronized_images_only: false,
            imu: true,
            privacy_led: true,
        }
    }
}

/// A configuration as an SDK caller can write it: enum fields as raw SDK values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RawDeviceConfig {
    /// `k4a_image_format_t` value; only MJPG(0), NV12(1), YUY2(2), BGRA32(3) are colour formats.
    pub color_format: u32,
    /// `k4a_color_resolution_t` value.
    pub color_resolution: u32,
    /// `k4a_depth_mode_t` value.
    pub depth_mode: u32,
    /// `k4a_fps_t` value (5 fps = 0, 15 = 1, 30 = 2).
    pub fps: u32,
    /// `k4a_wired_sync_mode_t` value.
    pub sync_mode: u32,
    pub subordinate_delay_off_master_usec: u32,
    pub depth_delay_off_color_usec: i32,
    pub synchronized_images_only: bool,
    pub imu: bool,
    pub privacy_led: bool,
}

impl From<DeviceConfig> for RawDeviceConfig {
    fn from(c: DeviceConfig) -> Self {
        RawDeviceConfig {
            color_format: c.color_format.sdk_value(),
            color_resolution: c.color_resolution.sdk_value(),
            depth_mode: c.depth_mode.sdk_value(),
            fps: c.fps.sdk_value(),
            sync_mode: c.sync_mode.wire_value(),
            subordinate_delay_off_master_usec: c.subordinate_delay_off_master_usec,
            depth_delay_off_color_usec: c.depth_delay_off_color_usec,
            synchronized_images_only: c.synchronized_images_only,
            imu: c.imu,
            privacy_led: c.privacy_led,
        }
    }
}

/// A rule of §7.5 that a configuration broke; one variant per rule, in the SDK's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The colour format value is not MJPG, NV12, YUY2 or BGRA32 (checked even with colour off).
    InvalidColorFormat(u32),
    InvalidColorResolution(u32),
    InvalidDepthMode(u32),
    InvalidFps(u32),
    InvalidSyncMode(u32),
    /// Master or subordinate, but the jack state could not be read.
    JackStateUnavailable {
        mode: WiredSyncMode,
    },
    SubordinateWithoutSyncInCable,
    MasterWithoutSyncOutCable,
    /// A master's Sync Out is its colour VSYNC, so it must stream colour.
    MasterWithoutColour,
    SubordinateDelayBeyondFramePeriod {
        delay_usec: u32,
        period_usec: u32,
    },
    SubordinateDelayOnNonSubordinate {
        mode: WiredSyncMode,
        delay_usec: u32,
    },
    DepthDelayOutOfRange {
        delay_usec: i32,
        period_usec: u32,
    },
    NoCameraEnabled,
    DepthDelayWithSingleCamera {
        delay_usec: i32,
    },
    SynchronizedImagesOnlyWithSingleCamera,
    DepthModeFpsUnsupported {
        mode: DepthMode,
        fps: Fps,
    },
    ColourModeUnsupported {
        resolution: ColorResolution,
        format: ColorFormat,
        fps: Fps,
    },
}

impl ConfigError {
    /// Position of this error's rule in the SDK's order (0 = checked first).
    pub const fn rule_index(&self) -> u8 {
        match self {
            ConfigError::InvalidColorFormat(_) => 0,
            ConfigError::InvalidColorResolution(_) => 1,
            ConfigError::InvalidDepthMode(_) => 2,
            ConfigError::InvalidFps(_) => 3,
            ConfigError::InvalidSyncMode(_) => 4,
            ConfigError::JackStateUnavailable { .. } => 5,
            ConfigError::SubordinateWithoutSyncInCable => 6,
            ConfigError::MasterWithoutSyncOutCable => 7,
            ConfigError::MasterWithoutColour => 8,
            ConfigError::SubordinateDelayBeyondFramePeriod { .. } => 9,
            ConfigError::SubordinateDelayOnNonSubordinate { .. } => 10,
            ConfigError::DepthDelayOutOfRange { .. } => 11,
            ConfigError::NoCameraEnabled => 12,
            ConfigError::DepthDelayWithSingleCamera { .. } => 13,
            ConfigError::SynchronizedImagesOnlyWithSingleCamera => 14,
            ConfigError::DepthModeFpsUnsupported { .. } => 15,
            ConfigError::ColourModeUnsupported { .. } => 16,
        }
    }
}

impl From<JackError> for ConfigError {
    fn from(e: JackError) -> Self {
        match e {
            JackError::SubordinateWithoutSyncIn => ConfigError::SubordinateWithoutSyncInCable,
            JackError::MasterWithoutSyncOut => ConfigError::MasterWithoutSyncOutCable,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::InvalidColorFormat(v) => write!(
                f,
                "colour format value {v} is not a colour format; use MJPG, NV12, YUY2 or BGRA32"
            ),
            ConfigError::InvalidColorResolution(v) => write!(
                f,
                "colour resolution value {v} is undefined; use OFF, 720P, 1080P, 1440P, 1536P, 2160P or 3072P"
            ),
            ConfigError::InvalidDepthMode(v) => write!(
                f,
                "depth mode value {v} is undefined; use OFF, NFOV_2X2BINNED, NFOV_UNBINNED, WFOV_2X2BINNED, WFOV_UNBINNED or PASSIVE_IR"
            ),
            ConfigError::InvalidFps(v) => {
                write!(f, "frame rate value {v} is undefined; use 5, 15 or 30 fps")
            }
            ConfigError::InvalidSyncMode(v) => write!(
                f,
                "wired sync mode value {v} is undefined; use STANDALONE, MASTER or SUBORDINATE"
            ),
            ConfigError::JackStateUnavailable { mode } => write!(
                f,
                "{mode} mode needs the sync jack state, but it could not be read; check the colour MCU connection"
            ),
            ConfigError::SubordinateWithoutSyncInCable => f.write_str(
                "SUBORDINATE mode needs a cable in Sync In; plug the upstream device's Sync Out into it",
            ),
            ConfigError::MasterWithoutSyncOutCable => f.write_str(
                "MASTER mode needs a cable in Sync Out; plug it into the first subordinate's Sync In",
            ),
            ConfigError::MasterWithoutColour => f.write_str(
                "MASTER mode needs the colour camera (Sync Out is its VSYNC); set a colour resolution other than OFF",
            ),
            ConfigError::SubordinateDelayBeyondFramePeriod {
                delay_usec,
                period_usec,
            } => write!(
                f,
                "subordinate delay {delay_usec} µs exceeds one frame period ({period_usec} µs); use at most {period_usec} µs"
            ),
            ConfigError::SubordinateDelayOnNonSubordinate { mode, delay_usec } => write!(
                f,
                "subordinate delay {delay_usec} µs is only allowed in SUBORDINATE mode, not {mode}; set it to 0"
            ),
            ConfigError::DepthDelayOutOfRange {
                delay_usec,
                period_usec,
            } => write!(
                f,
                "depth delay {delay_usec} µs is outside ±{period_usec} µs (one frame period); shorten it"
            ),
            ConfigError::NoCameraEnabled => f.write_str(
                "both cameras are off; enable colour (a resolution) or depth (a depth mode)",
            ),
            ConfigError::DepthDelayWithSingleCamera { delay_usec } => write!(
                f,
                "depth delay {delay_usec} µs needs both cameras on; set it to 0 or enable the other camera"
            ),
            ConfigError::SynchronizedImagesOnlyWithSingleCamera => f.write_str(
                "synchronized_images_only needs both cameras on; clear it or enable the other camera",
            ),
            ConfigError::DepthModeFpsUnsupported { mode, fps } => write!(
                f,
                "depth mode {mode} does not support {fps} fps; use at most {} fps",
                mode.max_fps()
            ),
            ConfigError::ColourModeUnsupported {
                resolution,
                format,
                fps,
            } => write!(
                f,
                "colour mode {resolution} {format} at {fps} fps is not supported; NV12/YUY2 need 720P and 3072P needs at most 15 fps"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

impl RawDeviceConfig {
    /// Applies every rule of §7.5 in the SDK's order; the first failure is returned.
    ///
    /// `jack` is the GET_JACK_STATE answer, needed only for master and subordinate (`None` there
    /// means the read failed).
    pub fn validate(&self, jack: Option<JackState>) -> Result<ValidatedConfig, ConfigError> {
        let color_format = ColorFormat::from_sdk_value(self.color_format)
            .ok_or(ConfigError::InvalidColorFormat(self.color_format))?;
        let color_resolution = ColorResolution::from_sdk_value(self.color_resolution)
            .ok_or(ConfigError::InvalidColorResolution(self.color_resolution))?;
        let depth_mode = DepthMode::from_sdk_value(self.depth_mode)
            .ok_or(ConfigError::InvalidDepthMode(self.depth_mode))?;
        let fps = Fps::from_sdk_value(self.fps).ok_or(ConfigError::InvalidFps(self.fps))?;
        let sync_mode = WiredSyncMode::from_wire(self.sync_mode)
            .ok_or(ConfigError::InvalidSyncMode(self.sync_mode))?;

        let colour_on = color_resolution != ColorResolution::Off;
        let depth_on = depth_mode != DepthMode::Off;

        if sync_mode != WiredSyncMode::Standalone {
            let jack = jack.ok_or(ConfigError::JackStateUnavailable { mode: sync_mode })?;
            jack::can_start(sync_mode, CablePresence::from(jack))?;
            if sync_mode == WiredSyncMode::Master && !colour_on {
                return Err(ConfigError::MasterWithoutColour);
            }
        }

        let period_usec = fps.period_usec();
        let sub_delay = self.subordinate_delay_off_master_usec;
        if sub_delay != 0 {
            if sync_mode != WiredSyncMode::Subordinate {
                return Err(ConfigError::SubordinateDelayOnNonSubordinate {
                    mode: sync_mode,
                    delay_usec: sub_delay,
                });
            }
            if sub_delay > period_usec {
                return Err(ConfigError::SubordinateDelayBeyondFramePeriod {
                    delay_usec: sub_delay,
                    period_usec,
                });
            }
        }

        let depth_delay = self.depth_delay_off_color_usec;
        match (colour_on, depth_on) {
            (true, true) => {
                if i64::from(depth_delay).unsigned_abs() > u64::from(period_usec) {
                    return Err(ConfigError::DepthDelayOutOfRange {
                        delay_usec: depth_delay,
                        period_usec,
                    });
                }
            }
            (false, false) => return Err(ConfigError::NoCameraEnabled),
            _ => {
                if depth_delay != 0 {
                    return Err(ConfigError::DepthDelayWithSingleCamera {
                        delay_usec: depth_delay,
                    });
                }
                if self.synchronized_images_only {
                    return Err(ConfigError::SynchronizedImagesOnlyWithSingleCamera);
                }
            }
        }

        if depth_on && fps > depth_mode.max_fps() {
            return Err(ConfigError::DepthModeFpsUnsupported {
                mode: depth_mode,
                fps,
            });
        }

        if colour_on
            && (!color_format.allowed_at(color_resolution) || fps > color_resolution.max_fps())
        {
            return Err(ConfigError::ColourModeUnsupported {
                resolution: color_resolution,
                format: color_format,
                fps,
            });
        }

        Ok(ValidatedConfig {
            config: DeviceConfig {
                color_format,
                color_resolution,
                depth_mode,
                fps,
                sync_mode,
                subordinate_delay_off_master_usec: sub_delay,
                depth_delay_off_color_usec: depth_delay,
                synchronized_images_only: self.synchronized_images_only,
                imu: self.imu,
                privacy_led: self.privacy_led,
            },
        })
    }
}

impl DeviceConfig {
    /// Validates through [`RawDeviceConfig::validate`], so both forms share one rule list.
    pub fn validate(&self, jack: Option<JackState>) -> Result<ValidatedConfig, ConfigError> {
        RawDeviceConfig::from(*self).validate(jack)
    }

    /// Whether validation needs a GET_JACK_STATE answer (master and subordinate).
    pub const fn needs_jack_state(&self) -> bool {
        !matches!(self.sync_mode, WiredSyncMode::Standalone)
    }

    pub const fn colour_enabled(&self) -> bool {
        !matches!(self.color_resolution, ColorResolution::Off)
    }

    pub const fn depth_enabled(&self) -> bool {
        !matches!(self.depth_mode, DepthMode::Off)
    }
}

/// One step of a device operation: a wire command to one MCU, or a host-side action whose
/// position in the order matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Send the command; a non-zero status fails the operation.
    Command(Mcu, Command),
    /// Send the command; its status is logged but never fails the operation.
    QuietCommand(Mcu, Command),
    /// Repeat the command (with its status handed back) until the status is 0: at most 20
    /// tries, 500 ms apart (§7.1 step 5).
    PollUntilReady(Mcu, Command),
    /// Open the colour MCU function with the depth function's container ID; claim interface 2.
    OpenColourMcu,
    /// Open the UVC colour camera by VID/PID and serial (Linux) or container ID (Windows).
    OpenColourCamera,
    /// Reset the capture-pairing queues (§8).
    ResetCaptureSync,
    /// Start the host's depth engine (between NV_DATA_GET and DEPTH_FPS_SET, §3.4).
    StartDepthEngine,
    /// Arm bulk IN reads on the depth stream endpoint (EP 0x83).
    ArmDepthStream,
    /// UVC probe/commit and stream on; the colour start also zeroes the device clock.
    StartColourStream,
    /// Arm interrupt/bulk reads of IMU packets (EP 0x82).
    ArmImuStream,
    /// Stop the capture-pairing queues and flush them.
    StopCaptureSync,
    /// Stop the depth stream thread and cancel outstanding EP 0x83 transfers.
    CancelDepthStream,
    /// UVC stream off.
    StopColourStream,
    /// Stop the IMU stream thread and cancel outstanding EP 0x82 transfers.
    CancelImuStream,
}

impl Step {
    /// The MCU and command this step sends, if it sends one.
    pub const fn command(&self) -> Option<(Mcu, Command)> {
        match *self {
            Step::Command(mcu, cmd)
            | Step::QuietCommand(mcu, cmd)
            | Step::PollUntilReady(mcu, cmd) => Some((mcu, cmd)),
            _ => None,
        }
    }
}

/// Capacity of a [`Sequence`]; above the longest sequence this module builds (tested).
pub const MAX_STEPS: usize = 16;

/// An ordered list of steps.
pub type Sequence = heapless::Vec<Step, MAX_STEPS>;

fn sequence<const N: usize>(steps: [Option<Step>; N]) -> Sequence {
    let mut out = Sequence::new();
    for step in steps.into_iter().flatten() {
        if out.push(step).is_err() {
            break;
        }
    }
    out
}

/// The device traffic of `k4a_device_open`, in order (§7.1).
pub fn open_sequence() -> Sequence {
    use Command::*;
    use Mcu::*;
    sequence([
        Some(Step::Command(Depth, ReadProductSn)),
        Some(Step::OpenColourMcu),
        Some(Step::Command(Depth, ReadCalibration)),
        Some(Step::PollUntilReady(Depth, ComponentVersionGet)),
        Some(Step::Command(Depth, ComponentVersionGet)),
        Some(Step::Command(Depth, ReadProductSn)),
        Some(Step::QuietCommand(Depth, DepthStreamStop)),
        Some(Step::QuietCommand(Depth, DepthStop)),
        Some(Step::OpenColourCamera),
        Some(Step::QuietCommand(Colour, ImuStreamStop)),
    ])
}

/// A configuration that passed every rule of §7.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ValidatedConfig {
    config: DeviceConfig,
}

impl ValidatedConfig {
    pub const fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The SET_SYS_CFG payload: delays converted to ticks with the SDK's truncation (§4.2).
    pub const fn sys_config(&self) -> SysConfig {
        SysConfig {
            mode: self.config.sync_mode,
            subordinate_delay_ticks: usec_to_ticks_u32(
                self.config.subordinate_delay_off_master_usec,
            ),
            depth_delay_ticks: usec_to_ticks_i32(self.config.depth_delay_off_color_usec),
            privacy_led: self.config.privacy_led,
        }
    }

    fn subordinate_delay_ticks_i32(&self) -> i32 {
        i32::try_from(self.sys_config().subordinate_delay_ticks).unwrap_or(i32::MAX)
    }

    /// The subordinate delay the device really applies, ns (tick-exact, rounded toward zero).
    pub fn effective_subordinate_delay_nsec(&self) -> i64 {
        effective_delay_nsec(self.subordinate_delay_ticks_i32())
    }

    /// The subordinate delay the device really applies, whole µs.
    pub fn effective_subordinate_delay_usec(&self) -> i32 {
        effective_delay_usec(self.subordinate_delay_ticks_i32())
    }

    /// The depth delay the device really applies, ns (tick-exact, rounded toward zero).
    pub const fn effective_depth_delay_nsec(&self) -> i64 {
        effective_delay_nsec(self.sys_config().depth_delay_ticks)
    }

    /// The depth delay the device really applies, whole µs.
    pub const fn effective_depth_delay_usec(&self) -> i32 {
        effective_delay_usec(self.sys_config().depth_delay_ticks)
    }

    /// The traffic of `k4a_device_start_cameras` (§7.2, §3.4, trace of §7.1).
    ///
    /// For master/subordinate the first step is the GET_JACK_STATE read whose answer
    /// [`RawDeviceConfig::validate`] consumed; a host that validated with a fresh read starts
    /// after it. `first_start` adds NV_DATA_GET tag 2, which the SDK sends until it has
    /// succeeded once after open.
    pub fn start_sequence(&self, first_start: bool) -> Sequence {
        use Command::*;
        use Mcu::*;
        let c = &self.config;
        let depth = c.depth_mode.sensor_mode();
        let when_depth = |step: Step| depth.map(|_| step);
        sequence([
            c.needs_jack_state()
                .then_some(Step::Command(Colour, GetJackState)),
            Some(Step::Command(Colour, SetSysCfg(self.sys_config()))),
            Some(Step::ResetCaptureSync),
            depth.map(|mode| Step::Command(Depth, DepthModeSet { mode })),
            depth.and(first_start.then_some(Step::Command(Depth, NvDataGet { tag: START_NV_TAG }))),
            when_depth(Step::StartDepthEngine),
            when_depth(Step::Command(Depth, DepthFpsSet { fps: c.fps })),
            when_depth(Step::Command(Depth, DepthStart)),
            when_depth(Step::Command(Depth, DepthStreamStart)),
            when_depth(Step::ArmDepthStream),
            c.colour_enabled().then_some(Step::StartColourStream),
        ])
    }

    /// `k4a_device_stop_cameras` (§7.3, §3.4): pairing stop, depth stop, colour stop. The IMU is
    /// left running.
    pub fn stop_sequence(&self) -> Sequence {
        use Command::*;
        use Mcu::*;
        let depth_on = self.config.depth_enabled();
        let when_depth = |step: Step| depth_on.then_some(step);
        sequence([
            Some(Step::StopCaptureSync),
            when_depth(Step::CancelDepthStream),
            when_depth(Step::QuietCommand(Depth, DepthStreamStop)),
            when_depth(Step::QuietCommand(Depth, DepthStop)),
            self.config
                .colour_enabled()
                .then_some(Step::StopColourStream),
        ])
    }
}

/// `k4a_device_start_imu` (§7.3); valid only after the cameras started.
pub fn imu_start_sequence() -> Sequence {
    sequence([
        Some(Step::Command(Mcu::Colour, Command::ImuStreamStart)),
        Some(Step::ArmImuStream),
    ])
}

/// `k4a_device_stop_imu` (§7.3): host stream stop, then IMU_STREAM_STOP.
pub fn imu_stop_sequence() -> Sequence {
    sequence([
        Some(Step::CancelImuStream),
        Some(Step::Command(Mcu::Colour, Command::ImuStreamStop)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: JackState = JackState::BOTH;
    const IN_ONLY: JackState = JackState::IN_ONLY;
    const OUT_ONLY: JackState = JackState::OUT_ONLY;
    const NONE: JackState = JackState::NONE;

    fn raw() -> RawDeviceConfig {
        RawDeviceConfig::from(DeviceConfig::default())
    }

    fn with(f: impl FnOnce(&mut DeviceConfig)) -> DeviceConfig {
        let mut c = DeviceConfig::default();
        f(&mut c);
        c
    }

    fn err(c: DeviceConfig, jack: Option<JackState>) -> ConfigError {
        match c.validate(jack) {
            Err(e) => e,
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    fn sub(delay_usec: u32, fps: Fps) -> DeviceConfig {
        with(|c| {
            c.sync_mode = WiredSyncMode::Subordinate;
            c.subordinate_delay_off_master_usec = delay_usec;
            c.fps = fps;
        })
    }

    #[test]
    fn default_config_is_valid_standalone_without_jack_state() {
        let v = DeviceConfig::default().validate(None);
        assert_eq!(v.map(|v| *v.config()), Ok(DeviceConfig::default()));
    }

    #[test]
    fn non_colour_image_format_is_rejected_even_with_colour_off() {
        let mut r = raw();
        r.color_format = 4;
        r.color_resolution = 0;
        assert_eq!(r.validate(None), Err(ConfigError::InvalidColorFormat(4)));
    }

    #[test]
    fn undefined_colour_resolution_is_rejected() {
        let mut r = raw();
        r.color_resolution = 7;
        assert_eq!(
            r.validate(None),
            Err(ConfigError::InvalidColorResolution(7))
        );
    }

    #[test]
    fn undefined_depth_mode_is_rejected() {
        let mut r = raw();
        r.depth_mode = 6;
        assert_eq!(r.validate(None), Err(ConfigError::InvalidDepthMode(6)));
    }

    #[test]
    fn undefined_fps_is_rejected() {
        let mut r = raw();
        r.fps = 3;
        assert_eq!(r.validate(None), Err(ConfigError::InvalidFps(3)));
    }

    #[test]
    fn undefined_sync_mode_is_rejected() {
        let mut r = raw();
        r.sync_mode = 3;
        assert_eq!(r.validate(None), Err(ConfigError::InvalidSyncMode(3)));
    }

    #[test]
    fn unreadable_jack_state_fails_master_and_subordinate() {
        for mode in [WiredSyncMode::Master, WiredSyncMode::Subordinate] {
            let c = with(|c| c.sync_mode = mode);
            assert_eq!(err(c, None), ConfigError::JackStateUnavailable { mode });
        }
    }

    #[test]
    fn subordinate_without_sync_in_cable_is_rejected() {
        for jack in [NONE, OUT_ONLY] {
            assert_eq!(
                err(sub(0, Fps::Fps30), Some(jack)),
                ConfigError::SubordinateWithoutSyncInCable
            );
        }
        assert!(sub(0, Fps::Fps30).validate(Some(IN_ONLY)).is_ok());
    }

    #[test]
    fn master_without_sync_out_cable_is_rejected() {
        let m = with(|c| c.sync_mode = WiredSyncMode::Master);
        for jack in [NONE, IN_ONLY] {
            assert_eq!(err(m, Some(jack)), ConfigError::MasterWithoutSyncOutCable);
        }
    }

    #[test]
    fn master_with_sync_in_plugged_is_accepted_like_the_sdk() {
        let m = with(|c| c.sync_mode = WiredSyncMode::Master);
        assert!(m.validate(Some(BOTH)).is_ok());
    }

    #[test]
    fn master_without_colour_is_rejected() {
        let m = with(|c| {
            c.sync_mode = WiredSyncMode::Master;
            c.color_resolution = ColorResolution::Off;
        });
        assert_eq!(err(m, Some(OUT_ONLY)), ConfigError::MasterWithoutColour);
    }

    #[test]
    fn subordinate_without_colour_is_allowed() {
        let s = with(|c| {
            c.sync_mode = WiredSyncMode::Subordinate;
            c.color_resolution = ColorResolution::Off;
        });
        assert!(s.validate(Some(IN_ONLY)).is_ok());
    }

    #[test]
    fn subordinate_delay_beyond_one_frame_is_rejected() {
        for fps in Fps::ALL {
            let period_usec = fps.period_usec();
            assert_eq!(
                err(sub(period_usec + 1, fps), Some(IN_ONLY)),
                ConfigError::SubordinateDelayBeyondFramePeriod {
                    delay_usec: period_usec + 1,
                    period_usec
                }
            );
        }
    }

    #[test]
    fn subordinate_delay_equal_to_period_is_allowed() {
        for fps in [Fps::Fps5, Fps::Fps15, Fps::Fps30] {
            let c = with(|c| {
                *c = sub(fps.period_usec(), fps);
            });
            assert!(c.validate(Some(IN_ONLY)).is_ok(), "{fps}");
        }
    }

    #[test]
    fn subordinate_delay_on_non_subordinate_is_rejected() {
        let s = with(|c| c.subordinate_delay_off_master_usec = 1);
        assert_eq!(
            err(s, None),
            ConfigError::SubordinateDelayOnNonSubordinate {
                mode: WiredSyncMode::Standalone,
                delay_usec: 1
            }
        );
        let m = with(|c| {
            c.sync_mode = WiredSyncMode::Master;
            c.subordinate_delay_off_master_usec = 160;
        });
        assert!(matches!(
            err(m, Some(OUT_ONLY)),
            ConfigError::SubordinateDelayOnNonSubordinate { .. }
        ));
    }

    #[test]
    fn depth_delay_of_exactly_one_period_is_allowed_either_way() {
        for delay in [-33_333, 33_333] {
            let c = with(|c| c.depth_delay_off_color_usec = delay);
            assert!(c.validate(None).is_ok(), "{delay}");
        }
    }

    #[test]
    fn depth_delay_beyond_one_period_is_rejected() {
        for delay in [-33_334, 33_334, i32::MIN, i32::MAX] {
            let c = with(|c| c.depth_delay_off_color_usec = delay);
            assert_eq!(
                err(c, None),
                ConfigError::DepthDelayOutOfRange {
                    delay_usec: delay,
                    period_usec: 33_333
                }
            );
        }
    }

    #[test]
    fn no_camera_enabled_is_rejected() {
        let c = with(|c| {
            c.color_resolution = ColorResolution::Off;
            c.depth_mode = DepthMode::Off;
        });
        assert_eq!(err(c, None), ConfigError::NoCameraEnabled);
    }

    #[test]
    fn depth_delay_with_single_camera_is_rejected() {
        let c = with(|c| {
            c.depth_mode = DepthMode::Off;
            c.depth_delay_off_color_usec = -80;
        });
        assert_eq!(
            err(c, None),
            ConfigError::DepthDelayWithSingleCamera { delay_usec: -80 }
        );
    }

    #[test]
    fn synchronized_images_only_with_single_camera_is_rejected() {
        let c = with(|c| {
            c.color_resolution = ColorResolution::Off;
            c.synchronized_images_only = true;
        });
        assert_eq!(
            err(c, None),
            ConfigError::SynchronizedImagesOnlyWithSingleCamera
        );
    }

    #[test]
    fn thirty_fps_wfov_unbinned_is_rejected() {
        let c = with(|c| c.depth_mode = DepthMode::WfovUnbinned);
        assert_eq!(
            err(c, None),
            ConfigError::DepthModeFpsUnsupported {
                mode: DepthMode::WfovUnbinned,
                fps: Fps::Fps30
            }
        );
        let c = with(|c| {
            c.depth_mode = DepthMode::WfovUnbinned;
            c.fps = Fps::Fps15;
        });
        assert!(c.validate(None).is_ok());
    }

    #[test]
    fn colour_mode_outside_the_table_is_rejected() {
        let nv12_1080p = with(|c| c.color_format = ColorFormat::Nv12);
        assert_eq!(
            err(nv12_1080p, None),
            ConfigError::ColourModeUnsupported {
                resolution: ColorResolution::R1080p,
                format: ColorFormat::Nv12,
                fps: Fps::Fps30
            }
        );
        let r3072p_30 = with(|c| c.color_resolution = ColorResolution::R3072p);
        assert!(matches!(
            err(r3072p_30, None),
            ConfigError::ColourModeUnsupported { .. }
        ));
        let yuy2_720p = with(|c| {
            c.color_format = ColorFormat::Yuy2;
            c.color_resolution = ColorResolution::R720p;
        });
        assert!(yuy2_720p.validate(None).is_ok());
    }

    #[test]
    fn colour_table_is_skipped_when_colour_is_off() {
        let c = with(|c| {
            c.color_format = ColorFormat::Nv12;
            c.color_resolution = ColorResolution::Off;
        });
        assert!(c.validate(None).is_ok());
    }

    #[test]
    fn rules_are_checked_in_sdk_order() {
        let mut r = RawDeviceConfig {
            color_format: 9,
            color_resolution: 9,
            depth_mode: 9,
            fps: 9,
            sync_mode: 9,
            subordinate_delay_off_master_usec: 0,
            depth_delay_off_color_usec: 0,
            synchronized_images_only: false,
            imu: false,
            privacy_led: true,
        };
        let mut seen = std::vec::Vec::new();
        let mut record = |r: &RawDeviceConfig, jack| {
            let e = r.validate(jack).err();
            seen.push(e.map(|e| e.rule_index()));
            e
        };
        assert_eq!(record(&r, None), Some(ConfigError::InvalidColorFormat(9)));
        r.color_format = 0;
        assert_eq!(
            record(&r, None),
            Some(ConfigError::InvalidColorResolution(9))
        );
        r.color_resolution = 0;
        assert_eq!(record(&r, None), Some(ConfigError::InvalidDepthMode(9)));
        r.depth_mode = 4;
        assert_eq!(record(&r, None), Some(ConfigError::InvalidFps(9)));
        r.fps = 2;
        assert_eq!(record(&r, None), Some(ConfigError::InvalidSyncMode(9)));
        r.sync_mode = 1;
        r.subordinate_delay_off_master_usec = 50_000;
        r.depth_delay_off_color_usec = 1;
        r.synchronized_images_only = true;
        assert!(matches!(
            record(&r, None),
            Some(ConfigError::JackStateUnavailable { .. })
        ));
        assert_eq!(
            record(&r, Some(NONE)),
            Some(ConfigError::MasterWithoutSyncOutCable)
        );
        assert_eq!(
            record(&r, Some(OUT_ONLY)),
            Some(ConfigError::MasterWithoutColour)
        );
        r.sync_mode = 2;
        assert_eq!(
            record(&r, Some(IN_ONLY)),
            Some(ConfigError::SubordinateDelayBeyondFramePeriod {
                delay_usec: 50_000,
                period_usec: 33_333
            })
        );
        r.subordinate_delay_off_master_usec = 0;
        assert!(matches!(
            record(&r, Some(IN_ONLY)),
            Some(ConfigError::DepthDelayWithSingleCamera { .. })
        ));
        r.depth_delay_off_color_usec = 0;
        assert_eq!(
            record(&r, Some(IN_ONLY)),
            Some(ConfigError::SynchronizedImagesOnlyWithSingleCamera)
        );
        r.synchronized_images_only = false;
        assert!(matches!(
            record(&r, Some(IN_ONLY)),
            Some(ConfigError::DepthModeFpsUnsupported { .. })
        ));
        r.depth_mode = 1;
        assert_eq!(record(&r, Some(IN_ONLY)), None);
        let indices: std::vec::Vec<u8> = seen.iter().flatten().copied().collect();
        assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
    }

    fn sys(c: DeviceConfig, jack: Option<JackState>) -> SysConfig {
        match c.validate(jack) {
            Ok(v) => v.sys_config(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn sys_config_matches_the_reference_set_sys_cfg_examples() {
        assert_eq!(
            sys(DeviceConfig::default(), None),
            SysConfig {
                mode: WiredSyncMode::Standalone,
                subordinate_delay_ticks: 0,
                depth_delay_ticks: 0,
                privacy_led: true
            }
        );
        let master = with(|c| {
            c.sync_mode = WiredSyncMode::Master;
            c.depth_delay_off_color_usec = -80;
        });
        assert_eq!(sys(master, Some(OUT_ONLY)).depth_delay_ticks, -7);
        let s = with(|c| {
            *c = sub(160, Fps::Fps30);
            c.depth_delay_off_color_usec = 80;
        });
        let s = sys(s, Some(IN_ONLY));
        assert_eq!((s.subordinate_delay_ticks, s.depth_delay_ticks), (14, 7));
        let s = with(|c| {
            *c = sub(33_333, Fps::Fps30);
            c.privacy_led = false;
        });
        assert_eq!(
            sys(s, Some(IN_ONLY)),
            SysConfig {
                mode: WiredSyncMode::Subordinate,
                subordinate_delay_ticks: 2999,
                depth_delay_ticks: 0,
                privacy_led: false
            }
        );
    }

    #[test]
    fn effective_delays_are_the_truncated_ticks() {
        let s = with(|c| {
            *c = sub(160, Fps::Fps30);
            c.depth_delay_off_color_usec = -80;
        });
        let v = s.validate(Some(IN_ONLY));
        let v = v.as_ref().map_err(|e| *e);
        assert_eq!(v.map(|v| v.effective_subordinate_delay_nsec()), Ok(155_555));
        assert_eq!(v.map(|v| v.effective_subordinate_delay_usec()), Ok(155));
        assert_eq!(v.map(|v| v.effective_depth_delay_nsec()), Ok(-77_777));
        assert_eq!(v.map(|v| v.effective_depth_delay_usec()), Ok(-77));
    }

    fn commands(seq: &Sequence) -> std::vec::Vec<(Mcu, Command)> {
        seq.iter().filter_map(Step::command).collect()
    }

    #[test]
    fn master_first_start_follows_the_reference_trace() {
        use Command::*;
        use Mcu::*;
        let m = with(|c| c.sync_mode = WiredSyncMode::Master);
        let v = m.validate(Some(OUT_ONLY)).map_err(|e| e.rule_index());
        let Ok(v) = v else { panic!("{v:?}") };
        let seq = v.start_sequence(true);
        assert_eq!(
            commands(&seq),
            [
                (Colour, GetJackState),
                (Colour, SetSysCfg(v.sys_config())),
                (
                    Depth,
                    DepthModeSet {
                        mode: crate::types::SensorMode::LongThrowNative
                    }
                ),
                (Depth, NvDataGet { tag: 2 }),
                (Depth, DepthFpsSet { fps: Fps::Fps30 }),
                (Depth, DepthStart),
                (Depth, DepthStreamStart),
            ]
        );
        let pos = |s: Step| seq.iter().position(|x| *x == s);
        assert!(
            pos(Step::ResetCaptureSync)
                < pos(Step::Command(
                    Depth,
                    DepthModeSet {
                        mode: crate::types::SensorMode::LongThrowNative
                    }
                ))
        );
        assert!(
            pos(Step::StartDepthEngine)
                < pos(Step::Command(Depth, DepthFpsSet { fps: Fps::Fps30 }))
        );
        assert_eq!(seq.last(), Some(&Step::StartColourStream));
        assert!(pos(Step::ArmDepthStream) < pos(Step::StartColourStream));
    }

    #[test]
    fn later_starts_skip_the_nv_read_and_standalone_skips_the_jack_read() {
        let Ok(v) = DeviceConfig::default().validate(None) else {
            panic!("default must validate")
        };
        let cmds = commands(&v.start_sequence(false));
        assert!(!cmds
            .iter()
            .any(|(_, c)| matches!(c, Command::NvDataGet { .. })));
        assert!(!cmds.iter().any(|(_, c)| *c == Command::GetJackState));
        assert_eq!(cmds.first().map(|(m, _)| *m), Some(Mcu::Colour));
    }

    #[test]
    fn colour_only_start_sends_no_depth_command() {
        let c = with(|c| c.depth_mode = DepthMode::Off);
        let Ok(v) = c.validate(None) else { panic!() };
        let seq = v.start_sequence(true);
        assert!(seq
            .iter()
            .all(|s| !matches!(s.command(), Some((Mcu::Depth, _)))));
        assert!(!seq.contains(&Step::ArmDepthStream));
        assert_eq!(seq.last(), Some(&Step::StartColourStream));
    }

    #[test]
    fn stop_sequence_stops_depth_quietly_before_colour_and_leaves_the_imu() {
        let Ok(v) = DeviceConfig::default().validate(None) else {
            panic!()
        };
        assert_eq!(
            v.stop_sequence().as_slice(),
            [
                Step::StopCaptureSync,
                Step::CancelDepthStream,
                Step::QuietCommand(Mcu::Depth, Command::DepthStreamStop),
                Step::QuietCommand(Mcu::Depth, Command::DepthStop),
                Step::StopColourStream,
            ]
        );
    }

    #[test]
    fn open_sequence_matches_the_reference_table() {
        use Command::*;
        use Mcu::*;
        assert_eq!(
            commands(&open_sequence()),
            [
                (Depth, ReadProductSn),
                (Depth, ReadCalibration),
                (Depth, ComponentVersionGet),
                (Depth, ComponentVersionGet),
                (Depth, ReadProductSn),
                (Depth, DepthStreamStop),
                (Depth, DepthStop),
                (Colour, ImuStreamStop),
            ]
        );
    }

    #[test]
    fn imu_sequences_send_start_and_stop_around_the_stream() {
        assert_eq!(
            imu_start_sequence().as_slice(),
            [
                Step::Command(Mcu::Colour, Command::ImuStreamStart),
                Step::ArmImuStream
            ]
        );
        assert_eq!(
            imu_stop_sequence().as_slice(),
            [
                Step::CancelImuStream,
                Step::Command(Mcu::Colour, Command::ImuStreamStop)
            ]
        );
    }

    #[test]
    fn longest_sequence_fits_with_room_to_spare() {
        let s = with(|c| c.sync_mode = WiredSyncMode::Subordinate);
        let Ok(v) = s.validate(Some(IN_ONLY)) else {
            panic!()
        };
        assert_eq!(v.start_sequence(true).len(), 11);
        assert!(open_sequence().len() < MAX_STEPS);
        assert!(v.start_sequence(true).len() < MAX_STEPS);
    }

    #[test]
    fn display_is_one_actionable_sentence() {
        use std::string::ToString;
        let e = ConfigError::SubordinateDelayBeyondFramePeriod {
            delay_usec: 40_000,
            period_usec: 33_333,
        };
        let text = e.to_string();
        assert!(text.contains("40000") && text.contains("33333"), "{text}");
        assert!(!text.contains('\n'));
    }
}
