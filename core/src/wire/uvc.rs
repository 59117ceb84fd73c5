//! The colour stream's UVC payloads: payload header, Microsoft camera metadata, frame assembly
//! and the colour device timestamp (reference §5.4).
//!
//! Every UVC payload starts with the standard header (length, flags, optional PTS and SCR).
//! The Azure Kinect puts its camera metadata in the *same* header, after the standard fields,
//! so [`UvcPayload`] exposes three parts: standard fields, [`metadata`](UvcPayload::metadata)
//! and [`image`](UvcPayload::image) bytes. The standard PTS/SCR are not the device timestamp;
//! that is the frame PTS of the "frame align info" metadata item, found by
//! [`colour_timestamp`].
//!
//! [`UvcFrameAssembler`] reproduces the Linux host's (libuvc fork's) frame boundaries as a pure
//! state machine that owns no image memory: it tells its caller which bytes to append where
//! and when a frame is complete. Unlike the fork, it enforces the 4 KiB per-frame metadata
//! buffer: a frame whose metadata would overflow it is reported as damaged instead of
//! corrupting memory. Header lengths below 2 or too short for the flagged PTS/SCR are typed
//! errors here (the fork reads past them).

use core::ops::Range;

use crate::error::{Result, WireError};
use crate::time::Ticks90k;
use crate::wire::field::{
    check_len, check_len_within, check_magic, room, set_u16_le, set_u32_le, set_u8, u16_le, u32_le,
    u8_at,
};

const PACKET: &str = "UVC payload header";
const ITEM: &str = "UVC metadata item";

mod field {
    use crate::wire::field::Field;

    pub const HEADER_LEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PTS_LEN: usize = 4;
    pub const SCR_STC: Field = 0..4;
    pub const SCR_SOF: Field = 4..6;
    pub const SCR_LEN: usize = 6;

    pub const ITEM_ID: Field = 0..4;
    pub const ITEM_SIZE: Field = 4..8;
    pub const ITEM_FLAGS: Field = 8..12;
    pub const ITEM_RESERVED: Field = 12..16;

    pub const ALIGN_PTS_TICKS: Field = 16..24;
    pub const ALIGN_PTS_REFERENCE: Field = 24..28;
    pub const ALIGN_USB_SOF_SEQ: Field = 28..36;
    pub const ALIGN_USB_SOF_PTS: Field = 36..44;

    pub const STATS_EXPOSURE_100NS: Field = 16..24;
    pub const STATS_EXPOSURE_COMP_FLAGS: Field = 24..32;
    pub const STATS_EXPOSURE_COMP_VALUE: Field = 32..36;
    pub const STATS_ISO_SPEED: Field = 36..40;
    pub const STATS_FOCUS_STATE: Field = 40..44;
    pub const STATS_LENS_POSITION: Field = 44..48;
    pub const STATS_WHITE_BALANCE_K: Field = 48..52;
    pub const STATS_FLASH: Field = 52..56;
    pub const STATS_FLASH_POWER: Field = 56..60;
    pub const STATS_ZOOM_FACTOR: Field = 60..64;
    pub const STATS_SCENE_MODE: Field = 64..72;
    pub const STATS_SENSOR_FRAME_RATE: Field = 72..80;
}

/// Header flag: frame ID, toggles between frames.
pub const FLAG_FID: u8 = 0x01;
/// Header flag: end of frame.
pub const FLAG_EOF: u8 = 0x02;
/// Header flag: a 4-byte PTS follows the flags.
pub const FLAG_PTS: u8 = 0x04;
/// Header flag: a 6-byte SCR follows (the PTS, if any).
pub const FLAG_SCR: u8 = 0x08;
/// Header flag: the device reports an error; the payload is discarded.
pub const FLAG_ERR: u8 = 0x40;
/// Flags the host does not interpret (reserved, still image, end of header); kept for emit.
pub const OTHER_FLAGS: u8 = !(FLAG_FID | FLAG_EOF | FLAG_PTS | FLAG_SCR | FLAG_ERR);

/// Shortest valid header: length and flags bytes.
pub const MIN_HEADER_LEN: usize = 2;
/// Longest header the one-byte length field can describe.
pub const MAX_HEADER_LEN: usize = 255;
/// Size of the host's per-frame metadata buffer.
pub const METADATA_CAPACITY: usize = 4096;
/// Length of a metadata item header (id, size).
pub const ITEM_HEADER_LEN: usize = 8;

/// Metadata id of the frame align info item.
pub const FRAME_ALIGN_INFO_ID: u32 = 0x8000_0001;
/// Size of the frame align info item.
pub const FRAME_ALIGN_INFO_LEN: usize = 44;
/// Metadata id of the capture stats item.
pub const CAPTURE_STATS_ID: u32 = 0x0000_0003;
/// Size of the capture stats item.
pub const CAPTURE_STATS_LEN: usize = 80;

/// Capture stats flag: exposure time valid.
pub const STATS_FLAG_EXPOSURE: u32 = 0x1;
/// Capture stats flag: ISO speed valid.
pub const STATS_FLAG_ISO: u32 = 0x4;
/// Capture stats flag: white balance valid.
pub const STATS_FLAG_WHITE_BALANCE: u32 = 0x20;

#[inline]
const fn standard_len(flags: u8) -> usize {
    let mut len = MIN_HEADER_LEN;
    if flags & FLAG_PTS != 0 {
        len += field::PTS_LEN;
    }
    if flags & FLAG_SCR != 0 {
        len += field::SCR_LEN;
    }
    len
}

/// The standard source clock reference: source time clock and 11-bit USB SOF counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Scr {
    pub source_time_clock: u32,
    pub sof_counter: u16,
}

view! {
    /// Zero-copy view of one UVC payload (header, metadata, image bytes).
    #[derive(Debug, Clone)]
    pub struct UvcPayload;
}

impl<T: AsRef<[u8]>> UvcPayload<T> {
    /// The header length against the payload and the flags.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        check_len(PACKET, "header", len, MIN_HEADER_LEN)?;
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(WireError::BadValue {
                packet: PACKET,
                field: "header length",
                value: header_len as u64,
            });
        }
        check_len(PACKET, "header length", len, header_len)?;
        check_len(
            PACKET,
            "PTS/SCR fields",
            header_len,
            standard_len(self.flags()),
        )
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(u8_at(self.bytes(), field::HEADER_LEN))
    }

    #[inline]
    pub fn flags(&self) -> u8 {
        u8_at(self.bytes(), field::FLAGS)
    }

    #[inline]
    pub fn fid(&self) -> bool {
        self.flags() & FLAG_FID != 0
    }

    #[inline]
    pub fn end_of_frame(&self) -> bool {
        self.flags() & FLAG_EOF != 0
    }

    #[inline]
    pub fn error(&self) -> bool {
        self.flags() & FLAG_ERR != 0
    }

    /// The standard presentation time stamp (device clock, not the SDK timestamp).
    #[inline]
    pub fn pts(&self) -> Option<u32> {
        (self.flags() & FLAG_PTS != 0).then(|| {
            u32_le(
                self.bytes(),
                MIN_HEADER_LEN..MIN_HEADER_LEN + field::PTS_LEN,
            )
        })
    }

    #[inline]
    pub fn scr(&self) -> Option<Scr> {
        let flags = self.flags();
        if flags & FLAG_SCR == 0 {
            return None;
        }
        let at = standard_len(flags) - field::SCR_LEN;
        let scr = self.bytes().get(at..at + field::SCR_LEN).unwrap_or(&[]);
        Some(Scr {
            source_time_clock: u32_le(scr, field::SCR_STC),
            sof_counter: u16_le(scr, field::SCR_SOF),
        })
    }

    #[inline]
    fn metadata_range(&self) -> Range<usize> {
        standard_len(self.flags())..self.header_len()
    }

    #[inline]
    fn image_range(&self) -> Range<usize> {
        self.header_len()..self.bytes().len()
    }

    /// Microsoft camera metadata: header bytes after the standard fields.
    #[inline]
    pub fn metadata(&self) -> &[u8] {
        self.bytes().get(self.metadata_range()).unwrap_or(&[])
    }

    /// Image bytes after the header.
    #[inline]
    pub fn image(&self) -> &[u8] {
        self.bytes().get(self.image_range()).unwrap_or(&[])
    }
}

/// The owned meaning of a payload header; metadata is borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UvcHeaderRepr<'a> {
    pub fid: bool,
    pub end_of_frame: bool,
    pub error: bool,
    pub pts: Option<u32>,
    pub scr: Option<Scr>,
    /// Bits of [`OTHER_FLAGS`], carried through unchanged.
    pub other_flags: u8,
    pub metadata: &'a [u8],
}

impl<'a> UvcHeaderRepr<'a> {
    #[inline]
    pub fn parse(view: &UvcPayload<&'a [u8]>) -> Result<Self> {
        view.check_len()?;
        let bytes: &'a [u8] = view.buffer;
        let flags = view.flags();
        Ok(UvcHeaderRepr {
            fid: view.fid(),
            end_of_frame: view.end_of_frame(),
            error: view.error(),
            pts: view.pts(),
            scr: view.scr(),
            other_flags: flags & OTHER_FLAGS,
            metadata: bytes.get(view.metadata_range()).unwrap_or(&[]),
        })
    }

    #[inline]
    fn flags(&self) -> u8 {
        let mut flags = self.other_flags & OTHER_FLAGS;
        for (set, bit) in [
            (self.fid, FLAG_FID),
            (self.end_of_frame, FLAG_EOF),
            (self.pts.is_some(), FLAG_PTS),
            (self.scr.is_some(), FLAG_SCR),
            (self.error, FLAG_ERR),
        ] {
            if set {
                flags |= bit;
            }
        }
        flags
    }

    /// Header length: standard fields plus metadata.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        standard_len(self.flags()) + self.metadata.len()
    }

    /// Writes the header at the start of `payload`'s buffer; image bytes go after
    /// [`buffer_len`](Self::buffer_len).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, payload: &mut UvcPayload<T>) -> Result<()> {
        let header_len = self.buffer_len();
        check_len_within(PACKET, "header", header_len, 0, MAX_HEADER_LEN)?;
        let buf = payload.buffer.as_mut();
        room(PACKET, buf.len(), header_len)?;
        let flags = self.flags();
        set_u8(buf, field::HEADER_LEN, header_len as u8);
        set_u8(buf, field::FLAGS, flags);
        let mut at = MIN_HEADER_LEN;
        if let Some(pts) = self.pts {
            set_u32_le(buf, at..at + field::PTS_LEN, pts);
            at += field::PTS_LEN;
        }
        if let Some(scr) = self.scr {
            set_u32_le(buf, at..at + 4, scr.source_time_clock);
            set_u16_le(buf, at + 4..at + 6, scr.sof_counter);
            at += field::SCR_LEN;
        }
        if let Some(dst) = buf.get_mut(at..header_len) {
            dst.copy_from_slice(self.metadata);
        }
        Ok(())
    }
}

/// What the assembler did with a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PayloadDisposition {
    /// Zero-length payload: nothing happens.
    Ignored,
    /// Error bit set: the whole payload is discarded, state unchanged.
    Discarded,
    /// The payload's metadata and image bytes belong to the current frame.
    Accepted,
}

/// A completed frame: how many bytes the caller appended for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameEnd {
    pub image_len: usize,
    pub metadata_len: usize,
    /// Set when the frame's metadata did not fit [`METADATA_CAPACITY`]; drop such a frame.
    pub metadata_error: Option<WireError>,
}

impl FrameEnd {
    /// Whether the frame's metadata is complete, i.e. the frame may be delivered.
    #[inline]
    pub fn is_intact(&self) -> bool {
        self.metadata_error.is_none()
    }
}

/// What to do after feeding one payload to [`UvcFrameAssembler::push`], in this order:
/// finish `completed_before`, append `metadata` and `image`, finish `completed_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadEvents<'p> {
    pub disposition: PayloadDisposition,
    /// The previous frame, completed by a FID toggle before this payload's bytes.
    pub completed_before: Option<FrameEnd>,
    /// Bytes to append to the current frame's metadata buffer.
    pub metadata: &'p [u8],
    /// Bytes to append to the current frame's image, and where they are in the payload.
    pub image: &'p [u8],
    pub image_range: Range<usize>,
    /// The current frame, completed by EOF on this payload (which carried image bytes).
    pub completed_after: Option<FrameEnd>,
}

impl PayloadEvents<'_> {
    #[inline]
    const fn nothing(disposition: PayloadDisposition) -> Self {
        PayloadEvents {
            disposition,
            completed_before: None,
            metadata: &[],
            image: &[],
            image_range: 0..0,
            completed_after: None,
        }
    }
}

/// Frame boundaries of the colour stream as the Linux host draws them (reference §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UvcFrameAssembler {
    fid: bool,
    image_len: usize,
    metadata_len: usize,
    metadata_wanted: usize,
}

impl UvcFrameAssembler {
    #[inline]
    pub const fn new() -> Self {
        UvcFrameAssembler {
            fid: false,
            image_len: 0,
            metadata_len: 0,
            metadata_wanted: 0,
        }
    }

    /// Image bytes appended to the frame in progress.
    #[inline]
    pub const fn pending_image_len(&self) -> usize {
        self.image_len
    }

    /// Metadata bytes appended to the frame in progress.
    #[inline]
    pub const fn pending_metadata_len(&self) -> usize {
        self.metadata_len
    }

    #[inline]
    fn take_frame(&mut self) -> FrameEnd {
        let end = FrameEnd {
            image_len: self.image_len,
            metadata_len: self.metadata_len,
            metadata_error: (self.metadata_wanted > METADATA_CAPACITY).then_some(
                WireError::TooLong {
                    packet: "UVC frame metadata",
                    max: METADATA_CAPACITY,
                    got: self.metadata_wanted,
                },
            ),
        };
        self.image_len = 0;
        self.metadata_len = 0;
        self.metadata_wanted = 0;
        end
    }

    /// Forgets the frame in progress (stream stop) and returns what it had.
    #[inline]
    pub fn reset(&mut self) -> FrameEnd {
        self.take_frame()
    }

    /// Feeds one payload. A malformed header is an error and leaves the state unchanged,
    /// like a discarded payload.
    #[inline]
    pub fn push<'p>(&mut self, payload: &'p [u8]) -> Result<PayloadEvents<'p>> {
        if payload.is_empty() {
            return Ok(PayloadEvents::nothing(PayloadDisposition::Ignored));
        }
        let view = UvcPayload::new_checked(payload)?;
        if view.error() {
            return Ok(PayloadEvents::nothing(PayloadDisposition::Discarded));
        }
        let mut events = PayloadEvents::nothing(PayloadDisposition::Accepted);
        if view.fid() != self.fid && self.image_len > 0 {
            events.completed_before = Some(self.take_frame());
        }
        self.fid = view.fid();

        let metadata = payload.get(view.metadata_range()).unwrap_or(&[]);
        if !metadata.is_empty() {
            self.metadata_wanted = self.metadata_wanted.saturating_add(metadata.len());
            if self.metadata_wanted <= METADATA_CAPACITY {
                self.metadata_len = self.metadata_wanted;
                events.metadata = metadata;
            }
        }

        let image_range = view.image_range();
        let image = payload.get(image_range.clone()).unwrap_or(&[]);
        if !image.is_empty() {
            events.image = image;
            events.image_range = image_range;
            self.image_len = self.image_len.saturating_add(image.len());
            if view.end_of_frame() {
                events.completed_after = Some(self.take_frame());
            }
        }
        Ok(events)
    }
}

/// One metadata item: its id and all its bytes, item header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MetadataItem<'a> {
    pub id: u32,
    pub bytes: &'a [u8],
}

/// Walks the items of a frame's metadata as the host does: stops at an item of size 0 or when
/// fewer than 8 bytes remain; an item smaller than its header or running past the buffer
/// yields one error and ends the walk.
#[derive(Debug, Clone)]
pub struct MetadataItems<'a> {
    rest: &'a [u8],
}

impl<'a> MetadataItems<'a> {
    #[inline]
    pub const fn new(metadata: &'a [u8]) -> Self {
        MetadataItems { rest: metadata }
    }
}

impl<'a> Iterator for MetadataItems<'a> {
    type Item = Result<MetadataItem<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = core::mem::take(&mut self.rest);
        if rest.len() < ITEM_HEADER_LEN {
            return None;
        }
        let id = u32_le(rest, field::ITEM_ID);
        let size = u32_le(rest, field::ITEM_SIZE);
        if size == 0 {
            return None;
        }
        let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
        if size_usize < ITEM_HEADER_LEN {
            return Some(Err(WireError::BadValue {
                packet: ITEM,
                field: "item size",
                value: u64::from(size),
            }));
        }
        let Some((bytes, tail)) = rest.split_at_checked(size_usize) else {
            return Some(Err(WireError::Truncated {
                packet: ITEM,
                field: "item",
                needed: size_usize,
                got: rest.len(),
            }));
        };
        self.rest = tail;
        Some(Ok(MetadataItem { id, bytes }))
    }
}

#[inline]
fn check_item(bytes: &[u8], packet: &'static str, id: u32, len: usize) -> Result<()> {
    check_len(packet, "item", bytes.len(), len)?;
    check_magic(packet, "metadata id", id, u32_le(bytes, field::ITEM_ID))?;
    let size = u32_le(bytes, field::ITEM_SIZE);
    check_len(
        packet,
        "item size",
        usize::try_from(size).unwrap_or(usize::MAX),
        len,
    )
}

const ALIGN: &str = "frame align info";
const STATS: &str = "capture stats";

view! {
    /// Zero-copy view of the frame align info item (id 0x80000001).
    #[derive(Debug, Clone)]
    pub struct FrameAlignInfo;
}

fields! {
    impl FrameAlignInfo =>
    /// The owned meaning of a frame align info item. The reserved word emits as zero.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    FrameAlignInfoRepr: FRAME_ALIGN_INFO_LEN, ALIGN, checked by check_len {
        id, set_id: u32 = field::ITEM_ID => FRAME_ALIGN_INFO_ID;
        size, set_size: u32 = field::ITEM_SIZE => FRAME_ALIGN_INFO_LEN as u32;
        flags, set_flags: u32 = field::ITEM_FLAGS;
        reserved, set_reserved: u32 = field::ITEM_RESERVED => 0;
        /// The colour device timestamp.
        pts_ticks, set_pts_ticks: Ticks90k = field::ALIGN_PTS_TICKS;
        pts_reference, set_pts_reference: u32 = field::ALIGN_PTS_REFERENCE;
        usb_sof_seq, set_usb_sof_seq: u64 = field::ALIGN_USB_SOF_SEQ;
        usb_sof_pts, set_usb_sof_pts: u64 = field::ALIGN_USB_SOF_PTS;
    }
}

impl<T: AsRef<[u8]>> FrameAlignInfo<T> {
    /// The item's id, its size field and the buffer length.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let (id, len) = (FRAME_ALIGN_INFO_ID, FRAME_ALIGN_INFO_LEN);
        check_item(self.buffer.as_ref(), ALIGN, id, len)
    }
}

view! {
    /// Zero-copy view of the capture stats item (id 3).
    #[derive(Debug, Clone)]
    pub struct CaptureStats;
}

fields! {
    impl CaptureStats =>
    /// The owned meaning of a capture stats item. The reserved word emits as zero.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    CaptureStatsRepr: CAPTURE_STATS_LEN, STATS, checked by check_len {
        id, set_id: u32 = field::ITEM_ID => CAPTURE_STATS_ID;
        size, set_size: u32 = field::ITEM_SIZE => CAPTURE_STATS_LEN as u32;
        /// Which fields are valid (`STATS_FLAG_*`).
        flags, set_flags: u32 = field::ITEM_FLAGS;
        reserved, set_reserved: u32 = field::ITEM_RESERVED => 0;
        exposure_100ns, set_exposure_100ns: u64 = field::STATS_EXPOSURE_100NS;
        exposure_compensation_flags, set_exposure_compensation_flags: u64
            = field::STATS_EXPOSURE_COMP_FLAGS;
        exposure_compensation_value, set_exposure_compensation_value: i32
            = field::STATS_EXPOSURE_COMP_VALUE;
        iso_speed, set_iso_speed: u32 = field::STATS_ISO_SPEED;
        focus_state, set_focus_state: u32 = field::STATS_FOCUS_STATE;
        lens_position, set_lens_position: u32 = field::STATS_LENS_POSITION;
        white_balance_kelvin, set_white_balance_kelvin: u32 = field::STATS_WHITE_BALANCE_K;
        flash, set_flash: u32 = field::STATS_FLASH;
        flash_power, set_flash_power: u32 = field::STATS_FLASH_POWER;
        zoom_factor, set_zoom_factor: u32 = field::STATS_ZOOM_FACTOR;
        scene_mode, set_scene_mode: u64 = field::STATS_SCENE_MODE;
        sensor_frame_rate, set_sensor_frame_rate: u64 = field::STATS_SENSOR_FRAME_RATE;
    }
}

impl<T: AsRef<[u8]>> CaptureStats<T> {
    /// The item's id, its size field and the buffer length.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let (id, len) = (CAPTURE_STATS_ID, CAPTURE_STATS_LEN);
        check_item(self.buffer.as_ref(), STATS, id, len)
    }
}

impl CaptureStatsRepr {
    /// Exposure time in µs (100 ns units ÷ 10), `None` unless flagged valid.
    #[inline]
    pub const fn exposure_usec(&self) -> Option<u64> {
        if self.flags & STATS_FLAG_EXPOSURE != 0 {
            Some(self.exposure_100ns / 10)
        } else {
            None
        }
    }

    /// ISO speed, `None` unless flagged valid.
    #[inline]
    pub const fn iso(&self) -> Option<u32> {
        if self.flags & STATS_FLAG_ISO != 0 {
            Some(self.iso_speed)
        } else {
            None
        }
    }

    /// White balance in kelvin, `None` unless flagged valid.
    #[inline]
    pub const fn white_balance(&self) -> Option<u32> {
        if self.flags & STATS_FLAG_WHITE_BALANCE != 0 {
            Some(self.white_balance_kelvin)
        } else {
            None
        }
    }
}

/// The last well-formed item with id `id`, walking until the first error.
#[inline]
fn last_item(metadata: &[u8], id: u32) -> Option<&[u8]> {
    MetadataItems::new(metadata)
        .map_while(|item| item.ok())
        .filter(|item| item.id == id)
        .last()
        .map(|item| item.bytes)
}

/// The colour device timestamp of a frame: the frame PTS of its last frame align info item.
/// `None` (the host drops the frame) when there is no such item, it is malformed, or its PTS
/// is 0.
#[inline]
pub fn colour_timestamp(metadata: &[u8]) -> Option<Ticks90k> {
    let item = FrameAlignInfo::new_checked(last_item(metadata, FRAME_ALIGN_INFO_ID)?).ok()?;
    Some(item.pts_ticks()).filter(|pts| pts.0 != 0)
}

/// The frame's last capture stats item, if any is well formed.
#[inline]
pub fn capture_stats(metadata: &[u8]) -> Option<CaptureStatsRepr> {
    let item = CaptureStats::new_checked(last_item(metadata, CAPTURE_STATS_ID)?).ok()?;
    CaptureStatsRepr::parse(&item).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn align_item(pts: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&FRAME_ALIGN_INFO_ID.to_le_bytes());
        b.extend_from_slice(&44u32.to_le_bytes());
        b.extend_from_slice(&7u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&pts.to_le_bytes());
        b.extend_from_slice(&0x55u32.to_le_bytes());
        b.extend_from_slice(&1234u64.to_le_bytes());
        b.extend_from_slice(&5678u64.to_le_bytes());
        b
    }

    fn payload(flags: u8, metadata: &[u8], image: &[u8]) -> &'static [u8] {
        let mut b = vec![(2 + metadata.len()) as u8, flags];
        b.extend_from_slice(metadata);
        b.extend_from_slice(image);
        b.leak()
    }

    #[test]
    fn header_fields_and_parts_are_split_at_their_offsets() {
        let bytes = [
            16, 0x8F, 0x11, 0x22, 0x33, 0x44, 1, 0, 0, 0, 0x10, 0x02, 0xAA, 0xBB, 0xCC, 0xDD, 9, 8,
        ];
        let p = UvcPayload::new_checked(&bytes[..]).unwrap();
        assert!(p.fid());
        assert!(p.end_of_frame());
        assert!(!p.error());
        assert_eq!(p.pts(), Some(0x4433_2211));
        assert_eq!(
            p.scr(),
            Some(Scr {
                source_time_clock: 1,
                sof_counter: 0x0210
            })
        );
        assert_eq!(p.metadata(), &[0xAA, 0xBB, 0xCC, 0xDD]);
        assert_eq!(p.image(), &[9, 8]);
        let repr = UvcHeaderRepr::parse(&p).unwrap();
        assert_eq!(repr.other_flags, 0x80);
        let mut out = [0u8; 16];
        repr.emit(&mut UvcPayload::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(&out[..], &bytes[..16]);
    }

    #[test]
    fn malformed_header_lengths_are_typed_errors() {
        let err = |b: &[u8]| UvcPayload::new_checked(b).unwrap_err();
        assert_eq!(
            err(&[2]),
            WireError::Truncated {
                packet: PACKET,
                field: "header",
                needed: 2,
                got: 1
            }
        );
        assert_eq!(
            err(&[1, 0]),
            WireError::BadValue {
                packet: PACKET,
                field: "header length",
                value: 1
            }
        );
        assert_eq!(
            err(&[5, 0, 0, 0]),
            WireError::Truncated {
                packet: PACKET,
                field: "header length",
                needed: 5,
                got: 4
            }
        );
        assert_eq!(
            err(&[6, FLAG_PTS | FLAG_SCR, 0, 0, 0, 0]),
            WireError::Truncated {
                packet: PACKET,
                field: "PTS/SCR fields",
                needed: 12,
                got: 6
            }
        );
    }

    #[test]
    fn fid_toggle_completes_a_frame_only_when_image_bytes_are_pending() {
        let mut asm = UvcFrameAssembler::new();
        let meta = align_item(900);
        let first = payload(0, &meta, &[1, 2, 3]);
        let ev = asm.push(first).unwrap();
        assert_eq!(ev.completed_before, None);
        assert_eq!(ev.metadata, &meta[..]);
        assert_eq!(ev.image, &[1, 2, 3]);
        assert_eq!(ev.image_range, 46..49);
        let ev = asm.push(payload(0, &[], &[4])).unwrap();
        assert_eq!(ev.completed_after, None);
        let ev = asm.push(payload(FLAG_FID, &meta, &[5])).unwrap();
        assert_eq!(
            ev.completed_before,
            Some(FrameEnd {
                image_len: 4,
                metadata_len: 44,
                metadata_error: None
            })
        );
        assert_eq!(asm.pending_image_len(), 1);
        assert_eq!(asm.pending_metadata_len(), 44);

        let mut idle = UvcFrameAssembler::new();
        idle.push(payload(0, &meta, &[])).unwrap();
        let ev = idle.push(payload(FLAG_FID, &[], &[7])).unwrap();
        assert_eq!(ev.completed_before, None);
        assert_eq!(idle.pending_metadata_len(), 44);
    }

    #[test]
    fn eof_completes_a_frame_only_on_a_payload_with_image_bytes() {
        let mut asm = UvcFrameAssembler::new();
        asm.push(payload(0, &[], &[1])).unwrap();
        let ev = asm.push(payload(FLAG_EOF, &[], &[])).unwrap();
        assert_eq!(ev.completed_after, None);
        let ev = asm.push(payload(FLAG_EOF, &[], &[2, 3])).unwrap();
        assert_eq!(ev.completed_after.map(|f| f.image_len), Some(3));
        assert_eq!(asm.pending_image_len(), 0);
    }

    #[test]
    fn empty_and_error_payloads_leave_the_frame_untouched() {
        let mut asm = UvcFrameAssembler::new();
        asm.push(payload(0, &[], &[1])).unwrap();
        let before = asm;
        assert_eq!(
            asm.push(&[]).unwrap().disposition,
            PayloadDisposition::Ignored
        );
        let ev = asm
            .push(payload(FLAG_ERR | FLAG_FID | FLAG_EOF, &[], &[9]))
            .unwrap();
        assert_eq!(ev.disposition, PayloadDisposition::Discarded);
        assert!(ev.image.is_empty());
        assert!(asm.push(&[9, 0, 0]).is_err());
        assert_eq!(asm, before);
    }

    #[test]
    fn metadata_beyond_four_kib_damages_the_frame_instead_of_overflowing() {
        let mut asm = UvcFrameAssembler::new();
        let chunk = [0u8; 253];
        let mut appended = 0;
        for _ in 0..17 {
            let ev = asm.push(payload(0, &chunk, &[1])).unwrap();
            appended += ev.metadata.len();
        }
        assert_eq!(appended, 16 * 253);
        assert!(appended <= METADATA_CAPACITY);
        let ev = asm.push(payload(FLAG_EOF, &[], &[1])).unwrap();
        let end = ev.completed_after.unwrap();
        assert!(!end.is_intact());
        assert_eq!(end.metadata_len, 16 * 253);
        assert_eq!(
            end.metadata_error,
            Some(WireError::TooLong {
                packet: "UVC frame metadata",
                max: 4096,
                got: 17 * 253
            })
        );
        let ev = asm.push(payload(FLAG_EOF, &chunk, &[1])).unwrap();
        assert!(ev.completed_after.unwrap().is_intact());
    }

    #[test]
    fn item_walk_stops_at_size_zero_or_short_tail() {
        let mut meta = align_item(1);
        meta.extend_from_slice(&[0xAB; 7]);
        assert_eq!(MetadataItems::new(&meta).count(), 1);
        let mut meta = align_item(1);
        meta.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
        meta.extend(align_item(2));
        assert_eq!(MetadataItems::new(&meta).count(), 1);
        assert_eq!(colour_timestamp(&meta), Some(Ticks90k(1)));
        assert_eq!(MetadataItems::new(&[]).count(), 0);
    }

    #[test]
    fn bad_item_sizes_end_the_walk_with_one_error() {
        let mut meta = align_item(1);
        meta.extend_from_slice(&[5, 0, 0, 0, 7, 0, 0, 0]);
        let items: Vec<_> = MetadataItems::new(&meta).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1],
            Err(WireError::BadValue {
                packet: ITEM,
                field: "item size",
                value: 7
            })
        );
        let meta = [5, 0, 0, 0, 9, 0, 0, 0];
        let items: Vec<_> = MetadataItems::new(&meta).collect();
        assert_eq!(
            items,
            [Err(WireError::Truncated {
                packet: ITEM,
                field: "item",
                needed: 9,
                got: 8
            })]
        );
    }

    #[test]
    fn frame_align_fields_are_read_at_their_offsets() {
        let bytes = align_item(0x1_0000_0002);
        let item = FrameAlignInfo::new_checked(&bytes[..]).unwrap();
        let repr = FrameAlignInfoRepr::parse(&item).unwrap();
        assert_eq!(
            repr,
            FrameAlignInfoRepr {
                flags: 7,
                pts_ticks: Ticks90k(0x1_0000_0002),
                pts_reference: 0x55,
                usb_sof_seq: 1234,
                usb_sof_pts: 5678,
            }
        );
        let mut out = [0xFFu8; 44];
        repr.emit(&mut FrameAlignInfo::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(&out[..], &bytes[..]);
    }

    #[test]
    fn later_frame_align_items_overwrite_earlier_ones() {
        let mut meta = align_item(100);
        meta.extend(align_item(200));
        assert_eq!(colour_timestamp(&meta), Some(Ticks90k(200)));
        let mut meta = align_item(100);
        meta.extend(align_item(0));
        assert_eq!(colour_timestamp(&meta), None);
    }

    #[test]
    fn missing_or_zero_pts_drops_the_frame() {
        assert_eq!(colour_timestamp(&align_item(0)), None);
        assert_eq!(colour_timestamp(&[]), None);
        let mut stats = vec![0u8; 80];
        CaptureStatsRepr::default()
            .emit(&mut CaptureStats::new_unchecked(&mut stats[..]))
            .unwrap();
        assert_eq!(colour_timestamp(&stats), None);
    }

    #[test]
    fn capture_stats_fields_are_read_at_their_offsets_and_gated_by_flags() {
        let mut b = Vec::new();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&80u32.to_le_bytes());
        b.extend_from_slice(&0x21u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&166_660u64.to_le_bytes());
        b.extend_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&(-3i32).to_le_bytes());
        for v in [400u32, 4, 5, 4500, 6, 7, 8] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&9u64.to_le_bytes());
        b.extend_from_slice(&30u64.to_le_bytes());
        assert_eq!(b.len(), 80);
        let s = capture_stats(&b).unwrap();
        assert_eq!(s.exposure_usec(), Some(16_666));
        assert_eq!(s.exposure_compensation_flags, 2);
        assert_eq!(s.exposure_compensation_value, -3);
        assert_eq!(s.iso_speed, 400);
        assert_eq!(s.iso(), None);
        assert_eq!(s.focus_state, 4);
        assert_eq!(s.lens_position, 5);
        assert_eq!(s.white_balance(), Some(4500));
        assert_eq!(s.flash, 6);
        assert_eq!(s.flash_power, 7);
        assert_eq!(s.zoom_factor, 8);
        assert_eq!(s.scene_mode, 9);
        assert_eq!(s.sensor_frame_rate, 30);
        let mut out = [0xFFu8; 80];
        s.emit(&mut CaptureStats::new_unchecked(&mut out[..]))
            .unwrap();
        assert_eq!(&out[..], &b[..]);
    }

    #[test]
    fn items_with_the_wrong_id_or_short_size_are_rejected() {
        let mut bytes = align_item(5);
        bytes[0] = 2;
        assert!(matches!(
            FrameAlignInfo::new_checked(&bytes[..]),
            Err(WireError::BadMagic { .. })
        ));
        let mut bytes = align_item(5);
        bytes[4] = 40;
        assert_eq!(
            FrameAlignInfo::new_checked(&bytes[..]).unwrap_err(),
            WireError::Truncated {
                packet: ALIGN,
                field: "item size",
                needed: 44,
                got: 40
            }
        );
    }

    #[test]
    fn oversized_headers_cannot_be_emitted() {
        let meta = [0u8; 254];
        let repr = UvcHeaderRepr {
            metadata: &meta,
            ..Default::default()
        };
        let mut out = [0u8; 300];
        assert_eq!(
            repr.emit(&mut UvcPayload::new_unchecked(&mut out[..])),
            Err(WireError::TooLong {
                packet: PACKET,
                max: 255,
                got: 256
            })
        );
    }
}
