//! The MJPG colour frame: a tiny baseline JPEG of our own making.
//!
//! 16×16 pixels, one grey component at level 128, quantisation table of ones, and Huffman
//! tables with a single one-bit code each (DC category 0, AC end-of-block), so every one of
//! the four 8×8 blocks is the two bits `00` and the entropy-coded segment is one zero byte.
//! A baseline decoder (libjpeg-turbo, which the host uses for BGRA32) decodes it to a flat
//! grey image.
//!
//! A real camera's MJPG frame is far larger (a 2160p frame is on the order of 1–1.5 MB), and
//! the recorder's throughput and CPU cost scale with it, so the emulated frame is padded to a
//! realistic size per resolution ([`mjpg_frame_len`]): comment (COM) segments of zeros right
//! after the JFIF APP0 segment, each at most 65,533 data bytes. Decoders skip COM segments,
//! so the padded frame is still the same valid 16×16 grey JPEG.

use crate::types::ColorResolution;

/// Size of the emulated MJPG frame per pixel of its resolution, as a fraction: 3/16 byte
/// (1.5 bits) per pixel, so a 2160p frame is 1,555,200 bytes. Chosen between a real camera's
/// 2160p frames (about 1–1.5 MB, 0.12–0.18 B/px) and a real 720p frame of the recording format
/// reference (217,095 B, 0.24 B/px; smaller images compress less well per pixel), at the
/// heavier end, since throughput benchmarks should not flatter the recorder.
pub const MJPG_BYTES_PER_PIXEL: (usize, usize) = (3, 16);

const COM: [u8; 2] = [0xFF, 0xFE];
/// Marker and length field of one segment.
const SEGMENT_OVERHEAD: usize = 4;
/// Largest segment: the 16-bit length counts itself, so at most 65,533 data bytes.
const MAX_SEGMENT: usize = SEGMENT_OVERHEAD + 65_533;
/// SOI and the APP0 segment: the padding goes after them, so APP0 stays first.
const PREFIX_LEN: usize = 20;

/// Bytes of the emulated MJPG frame at `resolution` ([`MJPG_BYTES_PER_PIXEL`] per pixel;
/// [`GREY_16X16`]'s 159 bytes when colour is off).
pub const fn mjpg_frame_len(resolution: ColorResolution) -> usize {
    let Some((w, h)) = resolution.size() else {
        return GREY_16X16.len();
    };
    let len = w as usize * h as usize * MJPG_BYTES_PER_PIXEL.0 / MJPG_BYTES_PER_PIXEL.1;
    if len < GREY_16X16.len() + SEGMENT_OVERHEAD {
        GREY_16X16.len()
    } else {
        len
    }
}

/// Writes the emulated MJPG frame at `resolution` into `out`: its first `out.len()` bytes when
/// `out` is shorter than [`mjpg_frame_len`], and zeros after its end when `out` is longer.
pub fn write_mjpg_frame(resolution: ColorResolution, out: &mut [u8]) {
    let len = mjpg_frame_len(resolution);
    let (head, tail) = GREY_16X16.split_at(PREFIX_LEN);
    let mut w = Writer { out, at: 0 };
    w.put(head);
    let padding = len.saturating_sub(GREY_16X16.len());
    let segments = padding.div_ceil(MAX_SEGMENT);
    for i in 0..segments {
        let size = padding / segments + usize::from(i < padding % segments);
        let field = u16::try_from(size.saturating_sub(2)).unwrap_or(u16::MAX);
        w.put(&COM);
        w.put(&field.to_be_bytes());
        w.zeros(size.saturating_sub(SEGMENT_OVERHEAD));
    }
    w.put(tail);
    w.zeros(usize::MAX);
}

/// Copies into a buffer, silently dropping what does not fit.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let rest = self.out.get_mut(self.at..).unwrap_or(&mut []);
        let n = rest.len().min(bytes.len());
        if let (Some(dst), Some(src)) = (rest.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at += n;
    }

    fn zeros(&mut self, count: usize) {
        let rest = self.out.get_mut(self.at..).unwrap_or(&mut []);
        let n = rest.len().min(count);
        if let Some(dst) = rest.get_mut(..n) {
            dst.fill(0);
        }
        self.at += n;
    }
}

/// Width and height of [`GREY_16X16`].
pub const JPEG_SIZE: (u32, u32) = (16, 16);

/// SOI, APP0 (JFIF 1.1), DQT, SOF0, DHT (DC), DHT (AC), SOS, one data byte, EOI.
pub const GREY_16X16: [u8; 159] = [
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x10,
    0x00, 0x10, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xC4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xC4, 0x00, 0x14,
    0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x00, 0xFF, 0xD9,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(bytes: &[u8], at: usize) -> usize {
        usize::from(bytes[at]) << 8 | usize::from(bytes[at + 1])
    }

    /// Walks a JPEG from SOI to EOI; returns the markers up to SOS and the data length of every
    /// COM segment.
    fn walk(j: &[u8]) -> (std::vec::Vec<u8>, std::vec::Vec<usize>) {
        assert_eq!(j[..2], [0xFF, 0xD8]);
        let mut at = 2;
        let mut markers = std::vec::Vec::new();
        let mut comments = std::vec::Vec::new();
        loop {
            assert_eq!(j[at], 0xFF, "marker expected at {at}");
            let marker = j[at + 1];
            let len = be16(j, at + 2);
            assert!(len >= 2);
            if marker == 0xFE {
                comments.push(len - 2);
            } else {
                markers.push(marker);
            }
            at += 2 + len;
            if marker == 0xDA {
                break;
            }
        }
        assert_eq!(&j[at..], [0x00, 0xFF, 0xD9]);
        (markers, comments)
    }

    #[test]
    fn segments_chain_from_soi_to_eoi_with_consistent_lengths() {
        let (markers, comments) = walk(&GREY_16X16);
        assert_eq!(markers, [0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA]);
        assert!(comments.is_empty());
    }

    #[test]
    fn padded_frames_are_the_same_jpeg_with_comment_segments_after_app0() {
        for resolution in ColorResolution::ALL {
            let len = mjpg_frame_len(resolution);
            let mut frame = std::vec![0xAAu8; len];
            write_mjpg_frame(resolution, &mut frame);
            let (markers, comments) = walk(&frame);
            assert_eq!(
                markers,
                [0xE0, 0xDB, 0xC0, 0xC4, 0xC4, 0xDA],
                "{resolution:?}"
            );
            assert!(comments.iter().all(|&c| c <= 65_533), "{resolution:?}");
            let padding: usize = comments.iter().map(|c| c + 4).sum();
            assert_eq!(padding + GREY_16X16.len(), len, "{resolution:?}");
            assert_eq!(frame[..20], GREY_16X16[..20]);
            assert_eq!(frame[len - 139..], GREY_16X16[20..]);
        }
        assert_eq!(mjpg_frame_len(ColorResolution::R2160p), 1_555_200);
        assert_eq!(mjpg_frame_len(ColorResolution::R720p), 172_800);
        assert_eq!(mjpg_frame_len(ColorResolution::Off), GREY_16X16.len());
    }

    #[test]
    fn a_short_buffer_gets_the_frame_s_start_and_a_long_one_zeros_after_its_end() {
        let r = ColorResolution::R1080p;
        let len = mjpg_frame_len(r);
        let mut full = std::vec![0u8; len];
        write_mjpg_frame(r, &mut full);
        let mut short = std::vec![0xAAu8; len / 2];
        write_mjpg_frame(r, &mut short);
        assert_eq!(short[..], full[..len / 2]);
        let mut long = std::vec![0xAAu8; len + 1000];
        write_mjpg_frame(r, &mut long);
        assert_eq!(long[..len], full[..]);
        assert!(long[len..].iter().all(|&b| b == 0));
        write_mjpg_frame(r, &mut []);
    }

    #[test]
    fn frame_header_is_baseline_16x16_single_component() {
        let sof = GREY_16X16
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .map(|p| &GREY_16X16[p + 4..p + 13]);
        assert_eq!(sof, Some(&[8, 0, 16, 0, 16, 1, 1, 0x11, 0][..]));
        assert_eq!(JPEG_SIZE, (16, 16));
    }
}
