//! The camera's configuration vocabulary, shared by the wire codec, the sync engine and the host.
//!
//! Variant names follow the SDK's enum spelling (`Nfov2x2Binned`, `Mjpg`, `Subordinate`) and
//! `Display` prints the SDK's text without its prefix (`NFOV_2X2BINNED`, `MJPG`, `SUBORDINATE`),
//! which is also what recordings carry in their tags. Each enum knows its SDK numeric value and,
//! where the device protocol has one, its wire value (reference §3.3, §4.2, §5.2).

use core::fmt;

/// Depth camera mode (SDK `k4a_depth_mode_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DepthMode {
    Off,
    Nfov2x2Binned,
    NfovUnbinned,
    Wfov2x2Binned,
    WfovUnbinned,
    PassiveIr,
}

/// The value DEPTH_MODE_SET (0xE1) carries for a depth mode (reference §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SensorMode {
    /// 3, "pseudo common": passive IR.
    PseudoCommon,
    /// 4, "long-throw native": NFOV binned and unbinned.
    LongThrowNative,
    /// 5, "megapixel": WFOV unbinned.
    Megapixel,
    /// 7, "quarter megapixel": WFOV 2×2 binned.
    QuarterMegapixel,
}

impl SensorMode {
    pub const fn wire_value(self) -> u32 {
        match self {
            SensorMode::PseudoCommon => 3,
            SensorMode::LongThrowNative => 4,
            SensorMode::Megapixel => 5,
            SensorMode::QuarterMegapixel => 7,
        }
    }

    pub const fn from_wire(value: u32) -> Option<Self> {
        match value {
            3 => Some(SensorMode::PseudoCommon),
            4 => Some(SensorMode::LongThrowNative),
            5 => Some(SensorMode::Megapixel),
            7 => Some(SensorMode::QuarterMegapixel),
            _ => None,
        }
    }

    /// Exact size of one raw depth frame on EP 0x83 in this sensor mode.
    pub const fn raw_frame_size(self) -> usize {
        match self {
            SensorMode::PseudoCommon => 1_678_024,
            SensorMode::LongThrowNative => 5_310_760,
            SensorMode::Megapixel => 9_438_664,
            SensorMode::QuarterMegapixel => 3_777_232,
        }
    }

    /// The bulk request size the SDK arms for one frame: the raw size rounded up to 1024.
    pub const fn bulk_request_size(self) -> usize {
        self.raw_frame_size().div_ceil(1024) * 1024
    }
}

impl DepthMode {
    pub const ALL: [DepthMode; 6] = [
        DepthMode::Off,
        DepthMode::Nfov2x2Binned,
        DepthMode::NfovUnbinned,
        DepthMode::Wfov2x2Binned,
        DepthMode::WfovUnbinned,
        DepthMode::PassiveIr,
    ];

    /// SDK enum value (`K4A_DEPTH_MODE_*`).
    pub const fn sdk_value(self) -> u32 {
        match self {
            DepthMode::Off => 0,
            DepthMode::Nfov2x2Binned => 1,
            DepthMode::NfovUnbinned => 2,
            DepthMode::Wfov2x2Binned => 3,
            DepthMode::WfovUnbinned => 4,
            DepthMode::PassiveIr => 5,
        }
    }

    pub const fn from_sdk_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(DepthMode::Off),
            1 => Some(DepthMode::Nfov2x2Binned),
            2 => Some(DepthMode::NfovUnbinned),
            3 => Some(DepthMode::Wfov2x2Binned),
            4 => Some(DepthMode::WfovUnbinned),
            5 => Some(DepthMode::PassiveIr),
            _ => None,
        }
    }

    /// The sensor mode sent with DEPTH_MODE_SET, `None` when depth is off.
    pub const fn sensor_mode(self) -> Option<SensorMode> {
        match self {
            DepthMode::Off => None,
            DepthMode::Nfov2x2Binned | DepthMode::NfovUnbinned => Some(SensorMode::LongThrowNative),
            DepthMode::Wfov2x2Binned => Some(SensorMode::QuarterMegapixel),
            DepthMode::WfovUnbinned => Some(SensorMode::Megapixel),
            DepthMode::PassiveIr => Some(SensorMode::PseudoCommon),
        }
    }

    /// Width × height of the depth/IR images the SDK's depth engine outputs for this mode.
    pub const fn output_size(self) -> Option<(u32, u32)> {
        match self {
            DepthMode::Off => None,
            DepthMode::Nfov2x2Binned => Some((320, 288)),
            DepthMode::NfovUnbinned => Some((640, 576)),
            DepthMode::Wfov2x2Binned => Some((512, 512)),
            DepthMode::WfovUnbinned | DepthMode::PassiveIr => Some((1024, 1024)),
        }
    }

    /// Highest frame rate the SDK allows for this mode (§7.5).
    pub const fn max_fps(self) -> Fps {
        match self {
            DepthMode::WfovUnbinned => Fps::Fps15,
            _ => Fps::Fps30,
        }
    }

    /// SDK spelling without the `K4A_DEPTH_MODE_` prefix.
    pub const fn sdk_name(self) -> &'static str {
        match self {
            DepthMode::Off => "OFF",
            DepthMode::Nfov2x2Binned => "NFOV_2X2BINNED",
            DepthMode::NfovUnbinned => "NFOV_UNBINNED",
            DepthMode::Wfov2x2Binned => "WFOV_2X2BINNED",
            DepthMode::WfovUnbinned => "WFOV_UNBINNED",
            DepthMode::PassiveIr => "PASSIVE_IR",
        }
    }
}

/// Colour camera resolution (SDK `k4a_color_resolution_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ColorResolution {
    Off,
    R720p,
    R1080p,
    R1440p,
    R1536p,
    R2160p,
    R3072p,
}

impl ColorResolution {
    pub const ALL: [ColorResolution; 7] = [
        ColorResolution::Off,
        ColorResolution::R720p,
        ColorResolution::R1080p,
        ColorResolution::R1440p,
        ColorResolution::R1536p,
        ColorResolution::R2160p,
        ColorResolution::R3072p,
    ];

    pub const fn sdk_value(self) -> u32 {
        match self {
            ColorResolution::Off => 0,
            ColorResolution::R720p => 1,
            ColorResolution::R1080p => 2,
            ColorResolution::R1440p => 3,
            ColorResolution::R1536p => 4,
            ColorResolution::R2160p => 5,
            ColorResolution::R3072p => 6,
        }
    }

    pub const fn from_sdk_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(ColorResolution::Off),
            1 => Some(ColorResolution::R720p),
            2 => Some(ColorResolution::R1080p),
            3 => Some(ColorResolution::R1440p),
            4 => Some(ColorResolution::R1536p),
            5 => Some(ColorResolution::R2160p),
            6 => Some(ColorResolution::R3072p),
            _ => None,
        }
    }

    /// Width × height in pixels, `None` when colour is off (reference §5.2).
    pub const fn size(self) -> Option<(u32, u32)> {
        match self {
            ColorResolution::Off => None,
            ColorResolution::R720p => Some((1280, 720)),
            ColorResolution::R1080p => Some((1920, 1080)),
            ColorResolution::R1440p => Some((2560, 1440)),
            ColorResolution::R1536p => Some((2048, 1536)),
            ColorResolution::R2160p => Some((3840, 2160)),
            ColorResolution::R3072p => Some((4096, 3072)),
        }
    }

    /// Highest frame rate the SDK allows at this resolution (§5.2).
    pub const fn max_fps(self) -> Fps {
        match self {
            ColorResolution::R3072p => Fps::Fps15,
            _ => Fps::Fps30,
        }
    }

    /// SDK spelling without the `K4A_COLOR_RESOLUTION_` prefix.
    pub const fn sdk_name(self) -> &'static str {
        match self {
            ColorResolution::Off => "OFF",
            ColorResolution::R720p => "720P",
            ColorResolution::R1080p => "1080P",
            ColorResolution::R1440p => "1440P",
            ColorResolution::R1536p => "1536P",
            ColorResolution::R2160p => "2160P",
            ColorResolution::R3072p => "3072P",
        }
    }
}

/// Colour image format (the colour subset of SDK `k4a_image_format_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ColorFormat {
    Mjpg,
    Nv12,
    Yuy2,
    Bgra32,
}

impl ColorFormat {
    pub const ALL: [ColorFormat; 4] = [
        ColorFormat::Mjpg,
        ColorFormat::Nv12,
        ColorFormat::Yuy2,
        ColorFormat::Bgra32,
    ];

    /// SDK `K4A_IMAGE_FORMAT_COLOR_*` value.
    pub const fn sdk_value(self) -> u32 {
        match self {
            ColorFormat::Mjpg => 0,
            ColorFormat::Nv12 => 1,
            ColorFormat::Yuy2 => 2,
            ColorFormat::Bgra32 => 3,
        }
    }

    pub const fn from_sdk_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(ColorFormat::Mjpg),
            1 => Some(ColorFormat::Nv12),
            2 => Some(ColorFormat::Yuy2),
            3 => Some(ColorFormat::Bgra32),
            _ => None,
        }
    }

    /// Whether the SDK's validation table (§5.2) allows this format at `resolution`.
    pub const fn allowed_at(self, resolution: ColorResolution) -> bool {
        match self {
            ColorFormat::Mjpg | ColorFormat::Bgra32 => true,
            ColorFormat::Nv12 | ColorFormat::Yuy2 => {
                matches!(resolution, ColorResolution::R720p | ColorResolution::Off)
            }
        }
    }

    /// Size of one uncompressed frame, `None` for MJPG (variable size).
    pub const fn frame_size(self, resolution: ColorResolution) -> Option<usize> {
        let Some((w, h)) = resolution.size() else {
            return None;
        };
        let pixels = (w as usize) * (h as usize);
        match self {
            ColorFormat::Mjpg => None,
            ColorFormat::Nv12 => Some(pixels * 3 / 2),
            ColorFormat::Yuy2 => Some(pixels * 2),
            ColorFormat::Bgra32 => Some(pixels * 4),
        }
    }

    /// SDK spelling without the `K4A_IMAGE_FORMAT_COLOR_` prefix.
    pub const fn sdk_name(self) -> &'static str {
        match self {
            ColorFormat::Mjpg => "MJPG",
            ColorFormat::Nv12 => "NV12",
            ColorFormat::Yuy2 => "YUY2",
            ColorFormat::Bgra32 => "BGRA32",
        }
    }
}

/// Camera frame rate (SDK `k4a_fps_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fps {
    Fps5,
    Fps15,
    Fps30,
}

impl Fps {
    pub const ALL: [Fps; 3] = [Fps::Fps5, Fps::Fps15, Fps::Fps30];

    /// SDK enum value: 5 fps = 0, 15 = 1, 30 = 2.
    pub const fn sdk_value(self) -> u32 {
        match self {
            Fps::Fps5 => 0,
            Fps::Fps15 => 1,
            Fps::Fps30 => 2,
        }
    }

    pub const fn from_sdk_value(value: u32) -> Option<Self> {
        match value {
            0 => Some(Fps::Fps5),
            1 => Some(Fps::Fps15),
            2 => Some(Fps::Fps30),
            _ => None,
        }
    }

    /// Frames per second; also the literal value DEPTH_FPS_SET carries.
    pub const fn hz(self) -> u32 {
        match self {
            Fps::Fps5 => 5,
            Fps::Fps15 => 15,
            Fps::Fps30 => 30,
        }
    }

    pub const fn from_hz(hz: u32) -> Option<Self> {
        match hz {
            5 => Some(Fps::Fps5),
            15 => Some(Fps::Fps15),
            30 => Some(Fps::Fps30),
            _ => None,
        }
    }

    /// One frame period in µs, integer as in the SDK: 200,000 / 66,666 / 33,333.
    pub const fn period_usec(self) -> u32 {
        crate::time::frame_period_usec(self.hz())
    }

    /// SDK spelling without the `K4A_FRAMES_PER_SECOND_` prefix.
    pub const fn sdk_name(self) -> &'static str {
        match self {
            Fps::Fps5 => "5",
            Fps::Fps15 => "15",
            Fps::Fps30 => "30",
        }
    }
}

/// Wired sync role (SDK `k4a_wired_sync_mode_t`); the numbers are also SET_SYS_CFG's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WiredSyncMode {
    Standalone,
    Master,
    Subordinate,
}

impl WiredSyncMode {
    pub const ALL: [WiredSyncMode; 3] = [
        WiredSyncMode::Standalone,
        WiredSyncMode::Master,
        WiredSyncMode::Subordinate,
    ];

    pub const fn wire_value(self) -> u32 {
        match self {
            WiredSyncMode::Standalone => 0,
            WiredSyncMode::Master => 1,
            WiredSyncMode::Subordinate => 2,
        }
    }

    pub const fn from_wire(value: u32) -> Option<Self> {
        match value {
            0 => Some(WiredSyncMode::Standalone),
            1 => Some(WiredSyncMode::Master),
            2 => Some(WiredSyncMode::Subordinate),
            _ => None,
        }
    }

    pub const fn sdk_name(self) -> &'static str {
        match self {
            WiredSyncMode::Standalone => "STANDALONE",
            WiredSyncMode::Master => "MASTER",
            WiredSyncMode::Subordinate => "SUBORDINATE",
        }
    }
}

macro_rules! display_sdk_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.sdk_name())
            }
        }
    )*};
}
display_sdk_name!(DepthMode, ColorResolution, ColorFormat, Fps, WiredSyncMode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_values_round_trip() {
        for m in DepthMode::ALL {
            assert_eq!(DepthMode::from_sdk_value(m.sdk_value()), Some(m));
        }
        for r in ColorResolution::ALL {
            assert_eq!(ColorResolution::from_sdk_value(r.sdk_value()), Some(r));
        }
        for f in ColorFormat::ALL {
            assert_eq!(ColorFormat::from_sdk_value(f.sdk_value()), Some(f));
        }
        for f in Fps::ALL {
            assert_eq!(Fps::from_sdk_value(f.sdk_value()), Some(f));
            assert_eq!(Fps::from_hz(f.hz()), Some(f));
        }
        for s in WiredSyncMode::ALL {
            assert_eq!(WiredSyncMode::from_wire(s.wire_value()), Some(s));
        }
        assert_eq!(DepthMode::from_sdk_value(6), None);
        assert_eq!(Fps::from_hz(60), None);
    }

    #[test]
    fn raw_frame_sizes_and_bulk_requests_match_the_reference_table() {
        let nfov = DepthMode::NfovUnbinned.sensor_mode();
        assert_eq!(nfov, DepthMode::Nfov2x2Binned.sensor_mode());
        let nfov = nfov.map(SensorMode::bulk_request_size);
        assert_eq!(nfov, Some(5_311_488));
        assert_eq!(SensorMode::QuarterMegapixel.bulk_request_size(), 3_777_536);
        assert_eq!(SensorMode::Megapixel.bulk_request_size(), 9_439_232);
        assert_eq!(SensorMode::PseudoCommon.bulk_request_size(), 1_678_336);
        for m in [3, 4, 5, 7] {
            let mode = SensorMode::from_wire(m).map(SensorMode::wire_value);
            assert_eq!(mode, Some(m));
        }
        assert_eq!(SensorMode::from_wire(6), None);
    }

    #[test]
    fn uncompressed_colour_sizes() {
        assert_eq!(
            ColorFormat::Nv12.frame_size(ColorResolution::R720p),
            Some(1_382_400)
        );
        assert_eq!(
            ColorFormat::Yuy2.frame_size(ColorResolution::R720p),
            Some(1_843_200)
        );
        assert_eq!(ColorFormat::Mjpg.frame_size(ColorResolution::R720p), None);
        assert!(!ColorFormat::Nv12.allowed_at(ColorResolution::R1080p));
    }
}
