//! The uvcvideo metadata node's buffers: one per video frame, holding a run of
//! `struct uvc_meta_buf` blocks, one per UVC payload header the kernel kept (reference §5.4).
//!
//! A block is `u64 ns; u16 sof; u8 length; u8 flags; u8 buf[]` packed, with `ns` and `sof` in
//! host byte order, followed by the rest of the payload header (`length` is the header's own
//! length byte). How many header bytes the kernel copied depends on the node's format and the
//! kernel, so the caller names the [`MetaLayout`]:
//!
//! * `'UVCM'` (V4L2_META_FMT_UVC_MSXU_1_5, Linux ≥ 6.17) and `'UVCH'` before Linux 6.17 copy the
//!   whole header — standard fields *and* the Microsoft metadata items: [`MetaLayout::FullHeader`].
//! * `'UVCH'` from Linux 6.17 on copies only the 2–12 standard bytes, whatever `length` says:
//!   [`MetaLayout::StandardOnly`]. The device timestamp is then out of reach.
//!
//! The Azure Kinect's metadata items (frame align info, capture stats) sit in the header after
//! the standard fields, as in the USB payloads the SDK parses. Their bytes from every block of
//! the frame are concatenated (at most [`METADATA_CAPACITY`] bytes, as in the SDK host) and
//! handed to core's [`colour_timestamp`]. Everything here is pure and panic-free on any input.

use k4sync_core::time::Ticks90k;
use k4sync_core::wire::uvc::{
    colour_timestamp, FLAG_PTS, FLAG_SCR, METADATA_CAPACITY, MIN_HEADER_LEN,
};

/// V4L2 fourcc of the standard UVC metadata format, `'UVCH'` (V4L2_META_FMT_UVC).
pub const META_FMT_UVC: [u8; 4] = *b"UVCH";
/// V4L2 fourcc of Microsoft's UVC 1.5 metadata format, `'UVCM'` (V4L2_META_FMT_UVC_MSXU_1_5).
pub const META_FMT_UVC_MSXU_1_5: [u8; 4] = *b"UVCM";

/// Bytes of a block before the copied header bytes after `length` and `flags`: `ns` and `sof`.
pub const BLOCK_PREFIX_LEN: usize = 10;
/// Bytes of a block's fixed part: `ns`, `sof`, `length`, `flags`.
pub const BLOCK_FIXED_LEN: usize = 12;

/// First kernel release whose `'UVCH'` format keeps only the standard header fields.
pub const UVCH_TRUNCATED_SINCE: (u32, u32) = (6, 17);

/// How much of each payload header the kernel copied into a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaLayout {
    /// The whole header (`length` bytes): standard fields and device metadata.
    FullHeader,
    /// Only the standard fields the flags announce (2, 6, 8 or 12 bytes).
    StandardOnly,
}

impl MetaLayout {
    /// Whether this layout carries the device's metadata items (and so its timestamp).
    pub const fn has_device_metadata(self) -> bool {
        matches!(self, MetaLayout::FullHeader)
    }
}

/// The layout a metadata node delivers for `fourcc` on kernel `release` (`uname -r`), or
/// `None` for a format this host does not read. An unparsable release is taken as recent.
pub fn layout_for(fourcc: [u8; 4], release: &str) -> Option<MetaLayout> {
    match fourcc {
        META_FMT_UVC_MSXU_1_5 => Some(MetaLayout::FullHeader),
        META_FMT_UVC => Some(match kernel_version(release) {
            Some(version) if version < UVCH_TRUNCATED_SINCE => MetaLayout::FullHeader,
            _ => MetaLayout::StandardOnly,
        }),
        _ => None,
    }
}

/// `(major, minor)` of a kernel release string such as `6.1.0-18-arm64`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor_text: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor_text.parse().ok()?))
}

/// Why a metadata buffer could not be walked to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// A block runs past the bytes the buffer holds.
    #[error("UVC metadata block at offset {offset}: needs {needed} bytes, {got} left")]
    Truncated {
        offset: usize,
        needed: usize,
        got: usize,
    },
    /// A block's header length is below the 2 bytes of `length` and `flags`.
    #[error("UVC metadata block at offset {offset}: header length {length} is below 2")]
    BadHeaderLength { offset: usize, length: u8 },
}

/// One `uvc_meta_buf` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaBlock<'a> {
    /// CLOCK_MONOTONIC when the kernel received the payload, ns.
    pub host_ns: u64,
    /// USB frame number at that moment.
    pub sof: u16,
    /// The payload header's length byte (the copied part may be shorter).
    pub header_len: u8,
    pub flags: u8,
    /// The copied header bytes after `length` and `flags`.
    pub rest: &'a [u8],
}

impl<'a> MetaBlock<'a> {
    /// Length of the standard fields the flags announce, `length` and `flags` included.
    pub const fn standard_len(&self) -> usize {
        standard_len(self.flags)
    }

    /// The device metadata after the standard fields (empty when none was copied).
    pub fn device_metadata(&self) -> &'a [u8] {
        self.rest
            .get(self.standard_len() - MIN_HEADER_LEN..)
            .unwrap_or(&[])
    }

    /// The standard PTS, when flagged and copied.
    #[cfg(test)]
    pub fn pts(&self) -> Option<u32> {
        if self.flags & FLAG_PTS == 0 {
            return None;
        }
        let bytes: [u8; 4] = self.rest.get(0..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(bytes))
    }
}

const fn standard_len(flags: u8) -> usize {
    let mut len = MIN_HEADER_LEN;
    if flags & FLAG_PTS != 0 {
        len += 4;
    }
    if flags & FLAG_SCR != 0 {
        len += 6;
    }
    len
}

/// Walks the blocks of one metadata buffer (its `bytesused` bytes); yields one error and
/// stops at the first block that does not fit.
#[derive(Debug, Clone)]
pub struct MetaBlocks<'a> {
    buf: &'a [u8],
    offset: usize,
    layout: MetaLayout,
}

impl<'a> MetaBlocks<'a> {
    pub const fn new(buf: &'a [u8], layout: MetaLayout) -> Self {
        MetaBlocks {
            buf,
            offset: 0,
            layout,
        }
    }
}

impl<'a> Iterator for MetaBlocks<'a> {
    type Item = Result<MetaBlock<'a>, MetaError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset;
        let rest = self.buf.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            return None;
        }
        self.offset = self.buf.len();
        let Some(fixed) = rest.get(..BLOCK_FIXED_LEN) else {
            return Some(Err(MetaError::Truncated {
                offset,
                needed: BLOCK_FIXED_LEN,
                got: rest.len(),
            }));
        };
        let mut ns = [0u8; 8];
        let mut sof = [0u8; 2];
        ns.copy_from_slice(fixed.get(0..8).unwrap_or(&[0; 8]));
        sof.copy_from_slice(fixed.get(8..10).unwrap_or(&[0; 2]));
        let header_len = fixed.get(10).copied().unwrap_or(0);
        let flags = fixed.get(11).copied().unwrap_or(0);
        let copied = match self.layout {
            MetaLayout::FullHeader => {
                if usize::from(header_len) < MIN_HEADER_LEN {
                    return Some(Err(MetaError::BadHeaderLength {
                        offset,
                        length: header_len,
                    }));
                }
                usize::from(header_len)
            }
            MetaLayout::StandardOnly => standard_len(flags),
        };
        let block_len = BLOCK_PREFIX_LEN + copied;
        let Some(block) = rest.get(..block_len) else {
            return Some(Err(MetaError::Truncated {
                offset,
                needed: block_len,
                got: rest.len(),
            }));
        };
        self.offset = offset + block_len;
        Some(Ok(MetaBlock {
            host_ns: u64::from_ne_bytes(ns),
            sof: u16::from_ne_bytes(sof),
            header_len,
            flags,
            rest: block.get(BLOCK_FIXED_LEN..).unwrap_or(&[]),
        }))
    }
}

/// What one metadata buffer says about its frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameMetadata {
    /// The device metadata of every block, concatenated, at most [`METADATA_CAPACITY`] bytes.
    pub device_metadata: Vec<u8>,
    /// Blocks read.
    pub blocks: usize,
    /// Device metadata bytes beyond [`METADATA_CAPACITY`] that were left out.
    pub overflow_bytes: usize,
    /// The walk stopped early at this error; the blocks before it were kept.
    pub error: Option<MetaError>,
}

impl FrameMetadata {
    /// The colour device timestamp: the frame PTS of the frame align info item (§5.4).
    pub fn device_ticks(&self) -> Option<Ticks90k> {
        colour_timestamp(&self.device_metadata)
    }
}

/// Reads one metadata buffer: concatenates the device metadata of its blocks as the SDK host
/// concatenates a frame's payload metadata.
pub fn parse_frame_metadata(buf: &[u8], layout: MetaLayout) -> FrameMetadata {
    let mut frame = FrameMetadata::default();
    for block in MetaBlocks::new(buf, layout) {
        match block {
            Ok(block) => {
                frame.blocks += 1;
                let items = block.device_metadata();
                let room = METADATA_CAPACITY.saturating_sub(frame.device_metadata.len());
                let (kept, left) = items.split_at(items.len().min(room));
                frame.device_metadata.extend_from_slice(kept);
                frame.overflow_bytes += left.len();
            }
            Err(error) => {
                frame.error = Some(error);
                break;
            }
        }
    }
    frame
}

/// The colour device timestamp carried by one metadata buffer, if any.
pub fn device_ticks(buf: &[u8], layout: MetaLayout) -> Option<Ticks90k> {
    parse_frame_metadata(buf, layout).device_ticks()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k4sync_core::wire::uvc::{CAPTURE_STATS_ID, FLAG_EOF, FLAG_FID, FRAME_ALIGN_INFO_ID};
    use proptest::prelude::*;

    fn align_item(pts: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&FRAME_ALIGN_INFO_ID.to_le_bytes());
        b.extend_from_slice(&44u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&pts.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&17u64.to_le_bytes());
        b.extend_from_slice(&99u64.to_le_bytes());
        assert_eq!(b.len(), 44);
        b
    }

    fn stats_item() -> Vec<u8> {
        let mut b = vec![0u8; 80];
        b[0..4].copy_from_slice(&CAPTURE_STATS_ID.to_le_bytes());
        b[4..8].copy_from_slice(&80u32.to_le_bytes());
        b
    }

    /// A block as the kernel writes it with the whole header copied.
    fn full_block(ns: u64, flags: u8, metadata: &[u8]) -> Vec<u8> {
        let std_len = standard_len(flags);
        let header_len = std_len + metadata.len();
        let mut b = Vec::new();
        b.extend_from_slice(&ns.to_ne_bytes());
        b.extend_from_slice(&0x0123u16.to_ne_bytes());
        b.push(header_len as u8);
        b.push(flags);
        if flags & FLAG_PTS != 0 {
            b.extend_from_slice(&0xAABB_CCDDu32.to_le_bytes());
        }
        if flags & FLAG_SCR != 0 {
            b.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        }
        b.extend_from_slice(metadata);
        b
    }

    /// The same block as Linux ≥ 6.17 writes it for 'UVCH': standard fields only.
    fn truncated_block(ns: u64, flags: u8, metadata_len: usize) -> Vec<u8> {
        let mut b = full_block(ns, flags, &[]);
        b[10] = (standard_len(flags) + metadata_len) as u8;
        b
    }

    #[test]
    fn frame_pts_of_a_full_header_block_is_the_device_timestamp() {
        let flags = FLAG_FID | FLAG_PTS | FLAG_SCR;
        let buf = full_block(5, flags, &align_item(123_456));
        assert_eq!(
            device_ticks(&buf, MetaLayout::FullHeader),
            Some(Ticks90k(123_456))
        );
        let block = MetaBlocks::new(&buf, MetaLayout::FullHeader)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(block.host_ns, 5);
        assert_eq!(block.sof, 0x0123);
        assert_eq!(block.pts(), Some(0xAABB_CCDD));
        assert_eq!(usize::from(block.header_len), 12 + 44);
    }

    #[test]
    fn metadata_split_over_blocks_is_concatenated_in_order() {
        let mut items = stats_item();
        items.extend(align_item(777));
        let (first, second) = items.split_at(50);
        let mut buf = full_block(1, FLAG_PTS, first);
        buf.extend(full_block(2, FLAG_EOF, second));
        let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
        assert_eq!(frame.blocks, 2);
        assert_eq!(frame.device_metadata, items);
        assert_eq!(frame.error, None);
        assert_eq!(frame.device_ticks(), Some(Ticks90k(777)));
    }

    #[test]
    fn standard_only_blocks_are_walked_by_their_flags_and_carry_no_timestamp() {
        let flags = FLAG_PTS | FLAG_SCR;
        let mut buf = truncated_block(1, flags, 44);
        buf.extend(truncated_block(2, FLAG_PTS, 44));
        let frame = parse_frame_metadata(&buf, MetaLayout::StandardOnly);
        assert_eq!(frame.blocks, 2);
        assert_eq!(frame.error, None);
        assert!(frame.device_metadata.is_empty());
        assert_eq!(frame.device_ticks(), None);
    }

    #[test]
    fn reading_truncated_blocks_as_full_headers_reports_where() {
        let buf = truncated_block(1, FLAG_PTS | FLAG_SCR, 44);
        let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
        assert_eq!(
            frame.error,
            Some(MetaError::Truncated {
                offset: 0,
                needed: 10 + 56,
                got: 22
            })
        );
        assert_eq!(frame.blocks, 0);
    }

    #[test]
    fn zero_frame_pts_gives_no_device_timestamp() {
        let buf = full_block(1, 0, &align_item(0));
        assert_eq!(device_ticks(&buf, MetaLayout::FullHeader), None);
    }

    #[test]
    fn header_length_below_two_is_rejected() {
        let mut buf = full_block(1, 0, &[]);
        buf[10] = 1;
        let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
        assert_eq!(
            frame.error,
            Some(MetaError::BadHeaderLength {
                offset: 0,
                length: 1
            })
        );
    }

    #[test]
    fn device_metadata_is_capped_at_the_sdk_buffer_size() {
        let chunk = vec![0u8; 200];
        let mut buf = Vec::new();
        for i in 0..25 {
            buf.extend(full_block(i, 0, &chunk));
        }
        let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
        assert_eq!(frame.blocks, 25);
        assert_eq!(frame.device_metadata.len(), METADATA_CAPACITY);
        assert_eq!(frame.overflow_bytes, 25 * 200 - METADATA_CAPACITY);
    }

    #[test]
    fn error_after_good_blocks_keeps_their_timestamp() {
        let mut buf = full_block(1, 0, &align_item(42));
        let good = buf.len();
        buf.extend_from_slice(&[0u8; 5]);
        let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
        assert_eq!(
            frame.error,
            Some(MetaError::Truncated {
                offset: good,
                needed: BLOCK_FIXED_LEN,
                got: 5
            })
        );
        assert_eq!(frame.device_ticks(), Some(Ticks90k(42)));
    }

    #[test]
    fn uvcm_is_full_and_uvch_is_full_only_before_6_17() {
        assert_eq!(
            layout_for(META_FMT_UVC_MSXU_1_5, "6.17.0"),
            Some(MetaLayout::FullHeader)
        );
        assert_eq!(
            layout_for(META_FMT_UVC, "6.1.0-18-arm64"),
            Some(MetaLayout::FullHeader)
        );
        assert_eq!(
            layout_for(META_FMT_UVC, "6.16.9+rpt-rpi-2712"),
            Some(MetaLayout::FullHeader)
        );
        assert_eq!(
            layout_for(META_FMT_UVC, "6.17.1"),
            Some(MetaLayout::StandardOnly)
        );
        assert_eq!(
            layout_for(META_FMT_UVC, "garbage"),
            Some(MetaLayout::StandardOnly)
        );
        assert_eq!(layout_for(*b"D4XX", "5.15.0"), None);
        assert_eq!(kernel_version("5.15.0-91-generic"), Some((5, 15)));
        assert_eq!(kernel_version("6.8rc1"), Some((6, 8)));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_within_capacity(
            buf in proptest::collection::vec(any::<u8>(), 0..600),
            full in any::<bool>(),
        ) {
            let layout = if full { MetaLayout::FullHeader } else { MetaLayout::StandardOnly };
            let frame = parse_frame_metadata(&buf, layout);
            prop_assert!(frame.device_metadata.len() <= METADATA_CAPACITY);
            let walked: usize = MetaBlocks::new(&buf, layout).filter_map(Result::ok).count();
            prop_assert_eq!(walked, frame.blocks);
            let _ = frame.device_ticks();
        }

        #[test]
        fn full_blocks_round_trip_their_metadata(
            chunks in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..200), 0..8),
            flags in any::<u8>(),
        ) {
            let mut buf = Vec::new();
            let mut expected = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                buf.extend(full_block(i as u64, flags, chunk));
                expected.extend_from_slice(chunk);
            }
            expected.truncate(METADATA_CAPACITY);
            let frame = parse_frame_metadata(&buf, MetaLayout::FullHeader);
            prop_assert_eq!(frame.error, None);
            prop_assert_eq!(frame.blocks, chunks.len());
            prop_assert_eq!(frame.device_metadata, expected);
        }
    }
}
