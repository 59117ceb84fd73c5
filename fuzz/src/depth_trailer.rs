//! The `depth_trailer` target's input: the 40 trailer bytes, then two bytes that shape the raw
//! frame the harness puts them at the end of.
//!
//! The first shape byte picks the frame's expected size (`kind % 5`: one of the four sensor
//! modes' raw frame sizes, or the second shape byte itself, which reaches sizes below the
//! trailer's length) and how far the frame's length is off it (`kind / 5 % 3`: one short,
//! exact, one long). Missing bytes read as zero, so every input yields a whole trailer and a
//! frame, and every length branch of `DepthTrailer::from_frame` is one byte flip away.

use k4sync_core::types::SensorMode;
use k4sync_core::wire::depth_trailer::TRAILER_LEN;

/// Bytes after the trailer that shape the frame.
pub const SHAPE_LEN: usize = 2;
/// The longest input the harness reads; libFuzzer's `-max_len` for the target.
pub const INPUT_LEN: usize = TRAILER_LEN + SHAPE_LEN;

/// The sensor modes whose raw frame sizes the shape can pick.
pub const MODES: [SensorMode; 4] = [
    SensorMode::PseudoCommon,
    SensorMode::LongThrowNative,
    SensorMode::Megapixel,
    SensorMode::QuarterMegapixel,
];

/// The frame the harness builds: the size `from_frame` expects and the length it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameShape {
    /// The sensor mode whose size is expected, if the shape picked one.
    pub mode: Option<SensorMode>,
    pub expected: usize,
    pub len: usize,
}

/// The largest frame any shape builds: the largest raw frame size, one byte long.
pub fn max_frame_len() -> usize {
    MODES.iter().map(|m| m.raw_frame_size()).max().unwrap_or(0) + 1
}

/// Splits an input into its (zero-padded) trailer and frame shape.
pub fn split(data: &[u8]) -> ([u8; TRAILER_LEN], FrameShape) {
    let mut input = [0u8; INPUT_LEN];
    let n = data.len().min(INPUT_LEN);
    input[..n].copy_from_slice(&data[..n]);
    let mut trailer = [0u8; TRAILER_LEN];
    trailer.copy_from_slice(&input[..TRAILER_LEN]);
    let (kind, small) = (input[TRAILER_LEN], input[TRAILER_LEN + 1]);
    let mode = MODES.get(usize::from(kind % 5)).copied();
    let expected = mode.map_or(usize::from(small), |m| m.raw_frame_size());
    let len = match kind / 5 % 3 {
        0 => expected.saturating_sub(1),
        1 => expected,
        _ => expected + 1,
    };
    (
        trailer,
        FrameShape {
            mode,
            expected,
            len,
        },
    )
}

/// An input with `trailer` at the end of an exactly sized frame of `mode` (or, without a mode,
/// of `small` bytes).
pub fn input(trailer: &[u8; TRAILER_LEN], mode: Option<SensorMode>, small: u8) -> Vec<u8> {
    let index = mode.and_then(|m| MODES.iter().position(|&x| x == m));
    let kind = 5 + index.map_or(4, |i| i as u8);
    let mut out = trailer.to_vec();
    out.extend_from_slice(&[kind, small]);
    out
}
