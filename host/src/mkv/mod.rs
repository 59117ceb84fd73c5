//! Azure Kinect recordings: Matroska files laid out the way Microsoft's `k4arecord` lays them out
//! (reference `k4a-recording-format.md`), written and read by code of our own.
//!
//! * [`ebml`] — element IDs, variable-length integers, element writers and a panic-free reader.
//! * [`mod@write`] — [`MkvWriter`], which produces the k4arecorder layout (reference §1–§12) and keeps
//!   a file readable after a crash at any point (see `docs/recording.md`).
//! * [`read`] — [`MkvReader`], which opens our files and real k4arecorder files, walks clusters
//!   and derives the readout Microsoft's playback library would report (reference §13), plus a
//!   salvage mode for files cut short.
//! * [`index`] — [`index::read_frame_index`], every frame's device timestamp and position from
//!   block headers alone (what `k4sync align` reads).
//! * [`repair`] — [`repair::repair_file`], which rewrites an unfinalized or cut file into the
//!   finalized layout.
//!
//! Track geometry, tag names and the custom raw-depth track are shared by both directions and live
//! here.

pub mod ebml;
pub mod index;
pub mod read;
pub mod repair;
pub mod write;

pub use read::{
    Block, BlockSpan, Cluster, ImuStats, MkvReader, Readout, RecordConfig, TrackInfo, TrackStats,
};
pub use write::{
    Capture, DepthStorage, DeviceInfo, Image, ImuSample, MkvWriter, RecordingHeader, WriterOptions,
};

use k4sync_core::types::{ColorFormat, DepthMode};

/// Errors of the Matroska layer. Every variant about file content names the byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MkvError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed recording at byte {offset}: {what}")]
    Malformed { offset: u64, what: &'static str },
    #[error("recording ends at byte {offset} inside {what}; open it in salvage mode to keep the complete clusters")]
    Truncated { offset: u64, what: &'static str },
    #[error("not an Azure Kinect recording: {what}")]
    NotK4a { what: String },
    #[error("tag {name} has the unusable value {value:?}")]
    BadTag { name: String, value: String },
    #[error("{track} image is {got} bytes, the track needs {expected}")]
    ImageSize {
        track: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{track} has no track in this recording")]
    NoSuchTrack { track: &'static str },
    #[error("item at device time {device_ts_nsec} ns is older than the last written cluster (ends at {written_until_nsec} ns)")]
    TooLate {
        device_ts_nsec: u64,
        written_until_nsec: u64,
    },
    #[error("recording layout does not fit: {what}")]
    Layout { what: &'static str },
}

pub type Result<T> = std::result::Result<T, MkvError>;

/// Track names the SDK resolves built-in tracks by (reference §5, §14).
pub mod track_name {
    pub const COLOR: &str = "COLOR";
    pub const DEPTH: &str = "DEPTH";
    pub const IR: &str = "IR";
    pub const IMU: &str = "IMU";
    /// Legacy combined name still accepted for the IR track.
    pub const DEPTH_IR: &str = "DEPTH_IR";
    /// Our custom track holding undecoded depth frames (docs/recording.md).
    pub const RAW_DEPTH: &str = "RAW_DEPTH";
}

/// Codec IDs (reference §5, docs/recording.md for the raw-depth one).
pub mod codec {
    pub const VFW: &str = "V_MS/VFW/FOURCC";
    pub const IMU: &str = "S_K4A/IMU";
    pub const RAW_DEPTH: &str = "V_K4SYNC/RAW_DEPTH";
}

/// TrackType values.
pub const TRACK_TYPE_VIDEO: u64 = 1;
pub const TRACK_TYPE_SUBTITLE: u64 = 17;

/// Matroska TimestampScale of every k4a recording: one file tick is 1 µs (reference §4).
pub const TIMESTAMP_SCALE_NSEC: u64 = 1000;

/// Bytes of one IMU sample in an IMU block (reference §9).
pub const IMU_SAMPLE_LEN: usize = 40;

/// Name of the calibration attachment (reference §6).
pub const CALIBRATION_FILE_NAME: &str = "calibration.json";

/// Name of the attachment holding the IR sensor calibration blob the depth engine needs
/// (NV_DATA_GET tag 2; docs/depth.md).
pub const DEPTH_CALIBRATION_FILE_NAME: &str = "depth_cal.ccb";

/// FOURCC codes of the BITMAPINFOHEADER (reference §5.1), as little-endian u32.
pub mod fourcc {
    pub const MJPG: u32 = u32::from_le_bytes(*b"MJPG");
    pub const NV12: u32 = u32::from_le_bytes(*b"NV12");
    pub const YUY2: u32 = u32::from_le_bytes(*b"YUY2");
    pub const BGRA: u32 = u32::from_le_bytes(*b"BGRA");
    pub const B16G: u32 = u32::from_le_bytes(*b"b16g");
}

/// FOURCC, bits per pixel and the BITMAPINFOHEADER image size of a colour format (reference §5.1).
pub(crate) fn color_bitmap_params(format: ColorFormat, width: u32, height: u32) -> (u32, u16, u32) {
    let pixels = width.saturating_mul(height);
    match format {
        ColorFormat::Mjpg => (fourcc::MJPG, 24, 0),
        ColorFormat::Nv12 => (fourcc::NV12, 12, pixels.saturating_mul(3) / 2),
        ColorFormat::Yuy2 => (fourcc::YUY2, 16, pixels.saturating_mul(2)),
        ColorFormat::Bgra32 => (fourcc::BGRA, 32, pixels.saturating_mul(4)),
    }
}

/// Format half of `K4A_COLOR_MODE` (reference §7.1: `BGRA`, not the enum's `BGRA32`).
pub(crate) fn color_mode_format_name(format: ColorFormat) -> &'static str {
    match format {
        ColorFormat::Mjpg => "MJPG",
        ColorFormat::Nv12 => "NV12",
        ColorFormat::Yuy2 => "YUY2",
        ColorFormat::Bgra32 => "BGRA",
    }
}

/// `K4A_DEPTH_MODE` string to mode, accepting the legacy lower-case `x` spellings (reference §14).
pub(crate) fn depth_mode_from_tag(value: &str) -> Option<DepthMode> {
    match value {
        "NFOV_2x2BINNED" => Some(DepthMode::Nfov2x2Binned),
        "WFOV_2x2BINNED" => Some(DepthMode::Wfov2x2Binned),
        _ => DepthMode::ALL
            .into_iter()
            .find(|m| *m != DepthMode::Off && m.sdk_name() == value),
    }
}

/// Standard CRC-32 (zlib polynomial, reflected), as EBML CRC-32 elements use (reference §10.4).
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(CRC32_INIT, data)
}

/// The CRC-32 of no bytes: the start of a running CRC-32 fed piece by piece with
/// [`crc32_update`].
pub const CRC32_INIT: u32 = 0;

/// The CRC-32 of the bytes behind `crc` followed by `data` (`crc32fast`: carry-less
/// multiplication on x86-64, the CRC32 instructions on aarch64, slicing-by-16 elsewhere).
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(data);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_zlib_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn crc32_over_pieces_equals_crc32_of_their_concatenation() {
        let state = crc32_update(crc32_update(CRC32_INIT, b"1234"), b"56789");
        assert_eq!(state, crc32(b"123456789"));
    }

    #[test]
    fn depth_mode_tags_accept_legacy_spellings_and_reject_off() {
        assert_eq!(
            depth_mode_from_tag("NFOV_UNBINNED"),
            Some(DepthMode::NfovUnbinned)
        );
        assert_eq!(
            depth_mode_from_tag("NFOV_2x2BINNED"),
            Some(DepthMode::Nfov2x2Binned)
        );
        assert_eq!(
            depth_mode_from_tag("PASSIVE_IR"),
            Some(DepthMode::PassiveIr)
        );
        assert_eq!(depth_mode_from_tag("OFF"), None);
    }

    #[test]
    fn fourccs_match_the_reference_values() {
        assert_eq!(fourcc::MJPG, 0x4750_4A4D);
        assert_eq!(fourcc::NV12, 0x3231_564E);
        assert_eq!(fourcc::YUY2, 0x3259_5559);
        assert_eq!(fourcc::BGRA, 0x4152_4742);
        assert_eq!(fourcc::B16G, 0x6736_3162);
    }
}
