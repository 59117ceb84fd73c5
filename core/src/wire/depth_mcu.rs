//! Depth MCU payloads and rules (reference §3.2, §3.4): component versions and the firmware
//! version floor, the product serial, the firmware-update status word, the calibration read
//! retry rule, and NV tags.
//!
//! Enumerations that the firmware can fill with values the SDK does not name (build config,
//! signature type, NV tag, update-stage value) keep the raw value, so a parse followed by an
//! emit reproduces the device's bytes and the host can still apply the SDK's fallback reading.

use core::fmt;

use crate::error::Result;
use crate::wire::field::{
    check_len, check_len_within, room, set_u16_le, set_u8, u16_le, u8_at, Field,
};
use crate::WireError;

/// payload_size of DEPTH_READ_PRODUCT_SN (the SDK's buffer).
pub const SERIAL_READ_SIZE: u32 = 255;
/// Longest serial the SDK accepts at open (its 26-byte buffer less the NUL, reference §1.3).
pub const MAX_SERIAL_LEN: usize = 25;
/// payload_size of NV_DATA_GET.
pub const NV_DATA_READ_SIZE: u32 = 2_000_000;
/// Shortest NV blob the SDK accepts.
pub const NV_DATA_MIN_LEN: usize = 4;
/// payload_size of the first calibration read.
pub const CALIBRATION_FIRST_READ_SIZE: u32 = 10_240;
/// Growth of the calibration buffer after each failed attempt.
pub const CALIBRATION_READ_STEP: u32 = 5_120;
/// The SDK gives up after this many calibration reads.
pub const CALIBRATION_MAX_ATTEMPTS: u32 = 10;

/// payload_size of a calibration read on `attempt` (0-based): 10,240 + 5,120 × attempt, or
/// `None` once the SDK's 10 attempts are used up (reference §3.2.5).
#[inline]
pub const fn calibration_read_size(attempt: u32) -> Option<u32> {
    if attempt >= CALIBRATION_MAX_ATTEMPTS {
        return None;
    }
    Some(CALIBRATION_FIRST_READ_SIZE + CALIBRATION_READ_STEP * attempt)
}

/// A calibration read succeeded only if the device sent strictly fewer bytes than the buffer
/// held: the SDK needs one spare byte for the NUL it appends, and a full buffer may be cut.
#[inline]
pub const fn calibration_read_complete(received: usize, read_size: u32) -> bool {
    received < read_size as usize
}

/// Checks an NV_DATA_GET result length (at least 4 bytes, reference §3.2.6).
#[inline]
pub fn check_nv_data_len(len: usize) -> Result<()> {
    check_len("NV_DATA_GET result", "blob", len, NV_DATA_MIN_LEN)
}

enum_with_info! {
    /// The firmware component a version, requirement or update status refers to.
    pub enum FirmwareComponent, name -> &'static str {
        Rgb => "RGB",
        Depth => "depth",
        Audio => "audio",
        DepthSensorConfig => "depth sensor config",
    }
}

impl fmt::Display for FirmwareComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A firmware version as the device reports it; ordering is major, then minor, then build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareVersion {
    pub major: u16,
    pub minor: u16,
    /// "Iteration"; always 0 for the depth sensor config, whose comparison ignores it.
    pub build: u16,
}

impl FirmwareVersion {
    #[inline]
    pub const fn new(major: u16, minor: u16, build: u16) -> Self {
        FirmwareVersion {
            major,
            minor,
            build,
        }
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// The field of a per-component struct (rgb, depth, audio, depth_sensor_config) for
/// `component`.
macro_rules! by_component {
    ($s:expr, $component:expr) => {
        match $component {
            FirmwareComponent::Rgb => $s.rgb,
            FirmwareComponent::Depth => $s.depth,
            FirmwareComponent::Audio => $s.audio,
            FirmwareComponent::DepthSensorConfig => $s.depth_sensor_config,
        }
    };
}

enum_with_unknown! {
    /// Build configuration byte of COMPONENT_VERSION_GET.
    pub enum BuildConfig(u8),
    /// A value the SDK does not name; it treats it as debug.
    unknown Other {
        Release = 0,
        Debug = 1,
    }
}

impl BuildConfig {
    /// The SDK's reading: anything but release is a debug build.
    #[inline]
    pub const fn is_debug(self) -> bool {
        !matches!(self, BuildConfig::Release)
    }
}

enum_with_unknown! {
    /// Signature type byte of COMPONENT_VERSION_GET.
    pub enum SignatureType(u8),
    /// A value the SDK does not name; it treats it as unsigned.
    unknown Other {
        Msft = 0,
        Test = 1,
        Unsigned = 2,
    }
}

impl SignatureType {
    /// The SDK's reading of the byte: unknown values count as unsigned.
    #[inline]
    pub const fn as_sdk_reads(self) -> SignatureType {
        match self {
            SignatureType::Other(_) => SignatureType::Unsigned,
            known => known,
        }
    }
}

mod version_field {
    use super::Field;

    pub const RGB_MAJOR: usize = 0;
    pub const RGB_MINOR: usize = 1;
    pub const RGB_BUILD: Field = 2..4;
    pub const DEPTH_MAJOR: usize = 4;
    pub const DEPTH_MINOR: usize = 5;
    pub const DEPTH_BUILD: Field = 6..8;
    pub const AUDIO_MAJOR: usize = 8;
    pub const AUDIO_MINOR: usize = 9;
    pub const AUDIO_BUILD: Field = 10..12;
    pub const CONFIG_MAJOR: Field = 12..14;
    pub const CONFIG_MINOR: Field = 14..16;
    pub const BUILD_CONFIG: usize = 16;
    pub const SIGNATURE_TYPE: usize = 17;
}

/// COMPONENT_VERSION_GET result (18 bytes, packed, reference §3.2.1).
///
/// The firmware majors and minors are single bytes on the wire; they are held as `u16` in
/// [`FirmwareVersion`] so all components compare alike, and `emit` refuses values above 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ComponentVersions {
    pub rgb: FirmwareVersion,
    pub depth: FirmwareVersion,
    pub audio: FirmwareVersion,
    /// Depth sensor configuration version; `build` is always 0.
    pub depth_sensor_config: FirmwareVersion,
    pub build_config: BuildConfig,
    pub signature_type: SignatureType,
}

/// A component below the version a [`FirmwareRequirement`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareTooOld {
    pub component: FirmwareComponent,
    pub found: FirmwareVersion,
    pub required: FirmwareVersion,
}

impl fmt::Display for FirmwareTooOld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} firmware {} is older than {}; update the device firmware",
            self.component, self.found, self.required
        )
    }
}

/// Version floor per component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareRequirement {
    pub rgb: FirmwareVersion,
    pub depth: FirmwareVersion,
    pub audio: FirmwareVersion,
    pub depth_sensor_config: FirmwareVersion,
}

/// Below this the SDK refuses to open the device.
pub const MINIMUM_FIRMWARE: FirmwareRequirement = FirmwareRequirement {
    rgb: FirmwareVersion::new(1, 5, 92),
    depth: FirmwareVersion::new(1, 5, 66),
    audio: FirmwareVersion::new(1, 5, 14),
    depth_sensor_config: FirmwareVersion::new(5006, 27, 0),
};

/// Below this the SDK only warns.
pub const RECOMMENDED_FIRMWARE: FirmwareRequirement = FirmwareRequirement {
    rgb: FirmwareVersion::new(1, 6, 110),
    depth: FirmwareVersion::new(1, 6, 79),
    audio: FirmwareVersion::new(1, 6, 14),
    depth_sensor_config: FirmwareVersion::new(6109, 7, 0),
};

impl FirmwareRequirement {
    #[inline]
    pub const fn version(&self, component: FirmwareComponent) -> FirmwareVersion {
        by_component!(self, component)
    }
}

impl ComponentVersions {
    /// Size of the result and the payload_size the host asks for.
    pub const LEN: usize = 18;

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    #[inline]
    pub const fn version(&self, component: FirmwareComponent) -> FirmwareVersion {
        by_component!(self, component)
    }

    /// Parses the result; like the host it needs at least 18 bytes and ignores any beyond.
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        use version_field as f;
        check_len(
            "COMPONENT_VERSION_GET result",
            "whole structure",
            bytes.len(),
            Self::LEN,
        )?;
        let short = |major: usize, minor: usize, build: Field| {
            FirmwareVersion::new(
                u8_at(bytes, major).into(),
                u8_at(bytes, minor).into(),
                u16_le(bytes, build),
            )
        };
        Ok(ComponentVersions {
            rgb: short(f::RGB_MAJOR, f::RGB_MINOR, f::RGB_BUILD),
            depth: short(f::DEPTH_MAJOR, f::DEPTH_MINOR, f::DEPTH_BUILD),
            audio: short(f::AUDIO_MAJOR, f::AUDIO_MINOR, f::AUDIO_BUILD),
            depth_sensor_config: FirmwareVersion::new(
                u16_le(bytes, f::CONFIG_MAJOR),
                u16_le(bytes, f::CONFIG_MINOR),
                0,
            ),
            build_config: BuildConfig::from_raw(u8_at(bytes, f::BUILD_CONFIG)),
            signature_type: SignatureType::from_raw(u8_at(bytes, f::SIGNATURE_TYPE)),
        })
    }

    /// Writes the 18 packed bytes at the start of `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        use version_field as f;
        room("COMPONENT_VERSION_GET result", buf.len(), Self::LEN)?;
        let byte = |value: u16, field: &'static str| {
            u8::try_from(value).map_err(|_| WireError::BadValue {
                packet: "COMPONENT_VERSION_GET result",
                field,
                value: value.into(),
            })
        };
        let shorts = [
            (self.rgb, f::RGB_MAJOR, f::RGB_MINOR, f::RGB_BUILD),
            (self.depth, f::DEPTH_MAJOR, f::DEPTH_MINOR, f::DEPTH_BUILD),
            (self.audio, f::AUDIO_MAJOR, f::AUDIO_MINOR, f::AUDIO_BUILD),
        ];
        for (version, ..) in &shorts {
            byte(version.major, "firmware major")?;
            byte(version.minor, "firmware minor")?;
        }
        for (version, major, minor, build) in shorts {
            set_u8(buf, major, version.major as u8);
            set_u8(buf, minor, version.minor as u8);
            set_u16_le(buf, build, version.build);
        }
        set_u16_le(buf, f::CONFIG_MAJOR, self.depth_sensor_config.major);
        set_u16_le(buf, f::CONFIG_MINOR, self.depth_sensor_config.minor);
        set_u8(buf, f::BUILD_CONFIG, self.build_config.raw());
        set_u8(buf, f::SIGNATURE_TYPE, self.signature_type.raw());
        Ok(())
    }

    /// The first component (RGB, depth, audio, depth config) below `requirement`.
    ///
    /// The depth sensor config compares major and minor only (its build counts as 0).
    #[inline]
    pub fn check(
        &self,
        requirement: &FirmwareRequirement,
    ) -> core::result::Result<(), FirmwareTooOld> {
        for component in FirmwareComponent::ALL {
            let mut found = self.version(component);
            if component == FirmwareComponent::DepthSensorConfig {
                found.build = 0;
            }
            let required = requirement.version(component);
            if found < required {
                return Err(FirmwareTooOld {
                    component,
                    found,
                    required,
                });
            }
        }
        Ok(())
    }

    /// Whether the SDK would open this device (reference §3.2.1).
    #[inline]
    pub fn meets_minimum(&self) -> bool {
        self.check(&MINIMUM_FIRMWARE).is_ok()
    }

    /// Whether the SDK would open this device without a firmware warning.
    #[inline]
    pub fn meets_recommended(&self) -> bool {
        self.check(&RECOMMENDED_FIRMWARE).is_ok()
    }
}

/// Validates a DEPTH_READ_PRODUCT_SN result: cut at the first NUL, at most 25 characters, every
/// byte printable non-space ASCII (0x21..=0x7E) (reference §1.3, §3.2.2).
///
/// An empty serial passes, as it does in the SDK.
#[inline]
pub fn parse_serial(bytes: &[u8]) -> Result<&str> {
    const PACKET: &str = "DEPTH_READ_PRODUCT_SN result";
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let serial = bytes.get(..end).unwrap_or_default();
    check_len_within(PACKET, "serial", serial.len(), 0, MAX_SERIAL_LEN)?;
    if let Some(&bad) = serial.iter().find(|b| !(0x21..=0x7E).contains(*b)) {
        return Err(WireError::BadValue {
            packet: PACKET,
            field: "serial character",
            value: bad as u64,
        });
    }
    core::str::from_utf8(serial).map_err(|_| WireError::BadValue {
        packet: PACKET,
        field: "serial character",
        value: 0,
    })
}

/// [`parse_serial`] copied into an owned fixed-capacity string.
#[inline]
pub fn parse_serial_owned(bytes: &[u8]) -> Result<heapless::String<MAX_SERIAL_LEN>> {
    let serial = parse_serial(bytes)?;
    let mut owned = heapless::String::new();
    owned.push_str(serial).map_err(|_| WireError::TooLong {
        packet: "DEPTH_READ_PRODUCT_SN result",
        max: MAX_SERIAL_LEN,
        got: serial.len(),
    })?;
    Ok(owned)
}

enum_with_info! {
    /// One step of a component's firmware update (a 2-bit field of its status word).
    pub enum UpdateStage,
    /// Bit position of the stage's 2-bit field.
    shift -> u32 {
        VersionCheck => 0,
        AuthenticationCheck => 2,
        ImageTransfer => 4,
        FlashErase => 6,
        FlashWrite => 8,
        Overall => 14,
    }
}

enum_with_info! {
    /// The value of one 2-bit stage field.
    pub enum StageStatus, bits -> u16 {
        InProgress => 0,
        Failed => 1,
        /// Not defined by the SDK.
        Undefined => 2,
        Succeeded => 3,
    }
}

impl StageStatus {
    #[inline]
    pub const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0 => StageStatus::InProgress,
            1 => StageStatus::Failed,
            2 => StageStatus::Undefined,
            _ => StageStatus::Succeeded,
        }
    }
}

/// One component's 16-bit update status word; the raw word, unused bits included, is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ComponentUpdateStatus(pub u16);

impl ComponentUpdateStatus {
    #[inline]
    pub const fn stage(self, stage: UpdateStage) -> StageStatus {
        StageStatus::from_bits(self.0 >> stage.shift())
    }

    #[inline]
    pub const fn with_stage(self, stage: UpdateStage, status: StageStatus) -> Self {
        let mask = 0b11u16 << stage.shift();
        ComponentUpdateStatus((self.0 & !mask) | (status.bits() << stage.shift()))
    }
}

le_newtype!(ComponentUpdateStatus => u16);

fields! {
    impl [u8] =>
    /// GET_FIRMWARE_UPDATE_STATUS result (8 bytes, reference §3.2.4); its `LEN` is the
    /// payload_size the host asks for. A shorter result is an error here even though the SDK
    /// does not check the length.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    FirmwareUpdateStatus: 8, "GET_FIRMWARE_UPDATE_STATUS result", "whole structure" {
        depth: ComponentUpdateStatus = 0..2;
        rgb: ComponentUpdateStatus = 2..4;
        audio: ComponentUpdateStatus = 4..6;
        depth_sensor_config: ComponentUpdateStatus = 6..8;
    }
}

impl FirmwareUpdateStatus {
    #[inline]
    pub const fn component(&self, component: FirmwareComponent) -> ComponentUpdateStatus {
        by_component!(self, component)
    }

    #[inline]
    pub const fn stage(&self, component: FirmwareComponent, stage: UpdateStage) -> StageStatus {
        self.component(component).stage(stage)
    }
}

enum_with_unknown! {
    /// NV_DATA_GET tags (reference §3.2.6); the SDK only reads [`NvTag::IrSensorCalibration`].
    pub enum NvTag(u32), unknown Unknown {
        NoData = 0,
        SerialNumber = 1,
        /// Also called IR P0 correction; the depth engine's "CCB" blob.
        IrSensorCalibration = 2,
        IrLensDistortionCorrection = 3,
        IrRgbRegistrationCorrection = 4,
        MicBarEq = 5,
        LaserPower = 6,
        Deprecated1 = 8,
        Deprecated2 = 9,
        Accelerometer = 10,
        EnableShutdown = 11,
        IrDacValues = 12,
        MicBarEqMs = 13,
        IrShutterGainValues = 14,
        HomeCalibration = 15,
        IrP0HwCorrection = 16,
        IrColumnGainArray = 17,
        WakeOnVoiceGrammarModel = 18,
        Deprecated3 = 19,
        UsbTub = 20,
        TraceEnableDefault = 21,
        TraceControl = 22,
        ProductType = 23,
        ProductConfiguration = 24,
        IrLighthouseDacValues = 25,
        IrSensorPropertyBlock = 30,
        IrMalkaEepromPropertyBlock = 31,
        IrMalkaEepromCalDataBlock = 32,
        IrMaccabiEepromPropertyBlock = 33,
        IrMaccabiEepromCalDataBlock = 34,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(
        rgb: (u16, u16, u16),
        depth: (u16, u16, u16),
        audio: (u16, u16, u16),
        config: (u16, u16),
    ) -> ComponentVersions {
        ComponentVersions {
            rgb: FirmwareVersion::new(rgb.0, rgb.1, rgb.2),
            depth: FirmwareVersion::new(depth.0, depth.1, depth.2),
            audio: FirmwareVersion::new(audio.0, audio.1, audio.2),
            depth_sensor_config: FirmwareVersion::new(config.0, config.1, 0),
            build_config: BuildConfig::Release,
            signature_type: SignatureType::Msft,
        }
    }

    #[test]
    fn component_versions_decode_each_packed_field() {
        let bytes = [
            1, 6, 0x6E, 0x00, // RGB 1.6.110
            1, 6, 0x4F, 0x00, // depth 1.6.79
            1, 6, 0x0E, 0x00, // audio 1.6.14
            0xDD, 0x17, 0x07, 0x00, // config 6109.7
            1, 7,
        ];
        let v = ComponentVersions::parse(&bytes);
        let expected = ComponentVersions {
            build_config: BuildConfig::Debug,
            signature_type: SignatureType::Other(7),
            ..versions((1, 6, 110), (1, 6, 79), (1, 6, 14), (6109, 7))
        };
        assert_eq!(v, Ok(expected));
        assert_eq!(
            expected.signature_type.as_sdk_reads(),
            SignatureType::Unsigned
        );
        assert!(BuildConfig::Other(9).is_debug());
        let mut out = [0u8; 18];
        assert_eq!(expected.emit(&mut out), Ok(()));
        assert_eq!(out, bytes);
        assert!(matches!(
            ComponentVersions::parse(&bytes[..17]),
            Err(WireError::Truncated {
                needed: 18,
                got: 17,
                ..
            })
        ));
    }

    #[test]
    fn firmware_floor_compares_major_then_minor_then_build() {
        let minimum = versions((1, 5, 92), (1, 5, 66), (1, 5, 14), (5006, 27));
        assert!(minimum.meets_minimum());
        assert!(!minimum.meets_recommended());
        let recommended = versions((1, 6, 110), (1, 6, 79), (1, 6, 14), (6109, 7));
        assert!(recommended.meets_recommended());
        let newer_minor_lower_build = versions((1, 6, 0), (1, 6, 0), (1, 6, 0), (5006, 27));
        assert!(newer_minor_lower_build.meets_minimum());
        let old_depth = versions((1, 5, 92), (1, 5, 65), (1, 5, 14), (5006, 27));
        assert_eq!(
            old_depth.check(&MINIMUM_FIRMWARE),
            Err(FirmwareTooOld {
                component: FirmwareComponent::Depth,
                found: FirmwareVersion::new(1, 5, 65),
                required: FirmwareVersion::new(1, 5, 66),
            })
        );
        let old_config = versions((1, 5, 92), (1, 5, 66), (1, 5, 14), (5006, 26));
        assert_eq!(
            old_config.check(&MINIMUM_FIRMWARE).map_err(|e| e.component),
            Err(FirmwareComponent::DepthSensorConfig)
        );
    }

    #[test]
    fn serial_is_cut_at_nul_and_must_be_printable_and_short() {
        assert_eq!(parse_serial(b"000019484312\0garbage"), Ok("000019484312"));
        assert_eq!(parse_serial(b"000019484312"), Ok("000019484312"));
        assert_eq!(parse_serial(b""), Ok(""));
        assert_eq!(parse_serial(&[b'A'; 25]).map(str::len), Ok(25));
        assert!(matches!(
            parse_serial(&[b'A'; 26]),
            Err(WireError::TooLong {
                max: 25,
                got: 26,
                ..
            })
        ));
        assert!(matches!(
            parse_serial(b"0000 1948"),
            Err(WireError::BadValue { value: 0x20, .. })
        ));
        assert!(matches!(
            parse_serial(&[b'1', 0x7F]),
            Err(WireError::BadValue { value: 0x7F, .. })
        ));
        let owned = parse_serial_owned(b"000019484312\0");
        assert_eq!(owned.as_deref(), Ok("000019484312"));
    }

    #[test]
    fn update_status_stages_read_their_two_bit_fields() {
        let bytes = [0b1100_0011, 0b1100_0001, 0x01, 0x00, 0x00, 0x00, 0xFF, 0xFF];
        let status = FirmwareUpdateStatus::parse(&bytes);
        let Ok(status) = status else {
            panic!("parse failed: {status:?}")
        };
        use FirmwareComponent as C;
        use UpdateStage as S;
        assert_eq!(
            status.stage(C::Depth, S::VersionCheck),
            StageStatus::Succeeded
        );
        assert_eq!(
            status.stage(C::Depth, S::AuthenticationCheck),
            StageStatus::InProgress
        );
        assert_eq!(
            status.stage(C::Depth, S::FlashErase),
            StageStatus::Succeeded
        );
        assert_eq!(status.stage(C::Depth, S::FlashWrite), StageStatus::Failed);
        assert_eq!(status.stage(C::Depth, S::Overall), StageStatus::Succeeded);
        assert_eq!(status.stage(C::Rgb, S::VersionCheck), StageStatus::Failed);
        assert_eq!(status.stage(C::Audio, S::Overall), StageStatus::InProgress);
        assert_eq!(
            status.stage(C::DepthSensorConfig, S::ImageTransfer),
            StageStatus::Succeeded
        );
        let mut out = [0u8; 8];
        assert_eq!(status.emit(&mut out), Ok(()));
        assert_eq!(out, bytes);
        let word =
            ComponentUpdateStatus(0xFFFF).with_stage(S::ImageTransfer, StageStatus::Undefined);
        assert_eq!(word.0, 0xFFEF);
        assert_eq!(word.stage(S::ImageTransfer), StageStatus::Undefined);
    }

    #[test]
    fn calibration_reads_grow_by_5120_for_ten_attempts_and_need_a_spare_byte() {
        assert_eq!(calibration_read_size(0), Some(10_240));
        assert_eq!(calibration_read_size(1), Some(15_360));
        assert_eq!(calibration_read_size(9), Some(56_320));
        assert_eq!(calibration_read_size(10), None);
        assert_eq!(calibration_read_size(u32::MAX), None);
        assert!(calibration_read_complete(10_239, 10_240));
        assert!(!calibration_read_complete(10_240, 10_240));
    }

    #[test]
    fn nv_tags_round_trip_and_keep_unknown_values() {
        for tag in NvTag::ALL {
            assert_eq!(NvTag::from_raw(tag.raw()), *tag);
        }
        assert_eq!(NvTag::ALL.len(), 30);
        assert_eq!(NvTag::from_raw(2), NvTag::IrSensorCalibration);
        assert_eq!(NvTag::from_raw(7), NvTag::Unknown(7));
        assert_eq!(NvTag::Unknown(26).raw(), 26);
        assert_eq!(check_nv_data_len(4), Ok(()));
        assert!(check_nv_data_len(3).is_err());
    }
}
