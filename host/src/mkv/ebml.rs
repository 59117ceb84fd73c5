//! EBML, the binary container grammar under Matroska: element IDs, variable-length integers
//! (VINTs), element writers and a panic-free element reader (reference §1–§2, §10.4).
//!
//! Why our own instead of a crate: the existing Rust EBML/Matroska crates either build a whole
//! document in memory or hide the byte layout, and we need (a) byte-level control to reproduce
//! k4arecorder's layout exactly — 8-byte Segment size, fixed-size Void placeholders at fixed
//! offsets that are later overwritten in place, CRC-32 first children, explicit default values;
//! (b) crash-safe incremental output, where each Cluster is rendered whole with its known size
//! and appended, and masters ahead of them are patched through `Seek`; (c) a reader that treats
//! every size and ID as untrusted, never panics, reports the byte offset of what is wrong and can
//! stop cleanly at the end of the last complete element of a truncated file. The format subset
//! we need is small (a few dozen IDs, five value types), so owning it costs less than adapting
//! a general library to these constraints.

use std::io::{Read, Seek, SeekFrom, Write};

use super::{MkvError, Result};

/// Element IDs with their Matroska names (ID bytes including the length marker).
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;

    pub const SEGMENT: u32 = 0x1853_8067;

    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;

    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DATE_UTC: u32 = 0x4461;
    pub const TITLE: u32 = 0x7BA9;
    pub const DURATION: u32 = 0x4489;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const CODEC_ID: u32 = 0x86;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;

    pub const ATTACHMENTS: u32 = 0x1941_A469;
    pub const ATTACHED_FILE: u32 = 0x61A7;
    pub const FILE_NAME: u32 = 0x466E;
    pub const FILE_MIME_TYPE: u32 = 0x4660;
    pub const FILE_DATA: u32 = 0x465C;
    pub const FILE_UID: u32 = 0x46AE;

    pub const TAGS: u32 = 0x1254_C367;
    pub const TAG: u32 = 0x7373;
    pub const TARGETS: u32 = 0x63C0;
    pub const TARGET_TYPE: u32 = 0x63CA;
    pub const TAG_TRACK_UID: u32 = 0x63C5;
    pub const TAG_ATTACHMENT_UID: u32 = 0x63C6;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const BLOCK_DURATION: u32 = 0x9B;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
}

/// Longest VINT EBML allows (and k4a files use: EBMLMaxSizeLength 8).
pub const MAX_VINT_LEN: usize = 8;

/// The all-ones 8-byte size: "unknown size".
pub const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Largest size value a VINT of `len` bytes can carry (the all-ones pattern is reserved).
pub const fn vint_max(len: usize) -> u64 {
    if len == 0 || len > MAX_VINT_LEN {
        0
    } else {
        (1u64 << (7 * len)) - 2
    }
}

/// Fewest bytes that code `value` as a size VINT, `None` above the 8-byte maximum.
pub fn vint_len(value: u64) -> Option<usize> {
    (1..=MAX_VINT_LEN).find(|&len| value <= vint_max(len))
}

/// Appends `value` as a size VINT of exactly `len` bytes.
pub fn put_vint_len(out: &mut Vec<u8>, value: u64, len: usize) -> Result<()> {
    if len == 0 || len > MAX_VINT_LEN || value > vint_max(len) {
        return Err(MkvError::Layout {
            what: "size does not fit its VINT width",
        });
    }
    let marked = value | (1u64 << (7 * len));
    out.extend_from_slice(marked.to_be_bytes().get(8 - len..).unwrap_or(&[]));
    Ok(())
}

/// Appends `value` as a size VINT in the fewest bytes.
pub fn put_vint(out: &mut Vec<u8>, value: u64) -> Result<()> {
    let len = vint_len(value).ok_or(MkvError::Layout {
        what: "size larger than an 8-byte VINT",
    })?;
    put_vint_len(out, value, len)
}

/// A decoded size VINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vint {
    /// `None` for the all-ones "unknown size" pattern.
    pub value: Option<u64>,
    /// Bytes the VINT occupied.
    pub len: usize,
}

/// Why a VINT could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VintError {
    /// The first byte is zero: a length above 8 bytes.
    TooLong,
    /// The buffer ends inside the VINT.
    Truncated,
}

/// Decodes a size VINT at the start of `buf`.
pub fn decode_vint(buf: &[u8]) -> std::result::Result<Vint, VintError> {
    let first = *buf.first().ok_or(VintError::Truncated)?;
    if first == 0 {
        return Err(VintError::TooLong);
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = buf.get(..len).ok_or(VintError::Truncated)?;
    let mut value = u64::from(first) & (0xFFu64 >> len);
    for &b in bytes.get(1..).unwrap_or(&[]) {
        value = (value << 8) | u64::from(b);
    }
    let all_ones = (1u64 << (7 * len)) - 1;
    Ok(Vint {
        value: (value != all_ones).then_some(value),
        len,
    })
}

/// Decodes an element ID (1–4 bytes, marker kept) at the start of `buf`.
pub fn decode_id(buf: &[u8]) -> std::result::Result<(u32, usize), VintError> {
    let first = *buf.first().ok_or(VintError::Truncated)?;
    if first < 0x10 {
        return Err(VintError::TooLong);
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = buf.get(..len).ok_or(VintError::Truncated)?;
    let id = bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    Ok((id, len))
}

/// Appends an element ID (its natural 1–4 bytes).
pub fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(bytes.get(skip..).unwrap_or(&bytes));
}

/// Appends an element header: ID then size in the fewest bytes.
pub fn put_header(out: &mut Vec<u8>, id: u32, size: u64) -> Result<()> {
    put_id(out, id);
    put_vint(out, size)
}

/// Appends an element with raw `data`.
pub fn put_binary(out: &mut Vec<u8>, id: u32, data: &[u8]) -> Result<()> {
    put_header(out, id, data.len() as u64)?;
    out.extend_from_slice(data);
    Ok(())
}

/// Appends an unsigned integer element in the fewest bytes (zero takes one byte, as libebml).
pub fn put_uint(out: &mut Vec<u8>, id: u32, value: u64) -> Result<()> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    put_binary(out, id, bytes.get(skip..).unwrap_or(&bytes))
}

/// Appends a signed integer element in the fewest two's-complement bytes.
pub fn put_int(out: &mut Vec<u8>, id: u32, value: i64) -> Result<()> {
    let bytes = value.to_be_bytes();
    let mut skip = 0;
    while skip < 7 {
        let (Some(&b), Some(&next)) = (bytes.get(skip), bytes.get(skip + 1)) else {
            break;
        };
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0);
        if !redundant {
            break;
        }
        skip += 1;
    }
    put_binary(out, id, bytes.get(skip..).unwrap_or(&bytes))
}

/// Appends a 4-byte float element.
pub fn put_float32(out: &mut Vec<u8>, id: u32, value: f32) -> Result<()> {
    put_binary(out, id, &value.to_be_bytes())
}

/// Appends an 8-byte float element.
pub fn put_float64(out: &mut Vec<u8>, id: u32, value: f64) -> Result<()> {
    put_binary(out, id, &value.to_be_bytes())
}

/// Appends a string element (UTF-8, no terminator).
pub fn put_string(out: &mut Vec<u8>, id: u32, value: &str) -> Result<()> {
    put_binary(out, id, value.as_bytes())
}

/// Appends a master element whose children `body` renders.
pub fn put_master(
    out: &mut Vec<u8>,
    id: u32,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut children = Vec::new();
    body(&mut children)?;
    put_binary(out, id, &children)
}

/// Appends a master whose first child is a CRC-32 over the other children (reference §10.4).
pub fn put_master_with_crc(
    out: &mut Vec<u8>,
    id: u32,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut children = Vec::new();
    body(&mut children)?;
    let crc = super::crc32(&children);
    let mut with_crc = Vec::with_capacity(children.len() + 6);
    put_binary(&mut with_crc, id::CRC32, &crc.to_le_bytes())?;
    with_crc.extend_from_slice(&children);
    put_binary(out, id, &with_crc)
}

/// Appends a Void element occupying exactly `total_len` bytes (header included).
///
/// One byte cannot be filled by any element, so `total_len == 1` is an error.
pub fn put_void(out: &mut Vec<u8>, total_len: usize) -> Result<()> {
    let total = total_len as u64;
    let width = (1..=MAX_VINT_LEN)
        .find(|&w| {
            total
                .checked_sub(1 + w as u64)
                .is_some_and(|data| data <= vint_max(w))
        })
        .ok_or(MkvError::Layout {
            what: "a Void cannot fill the requested span",
        })?;
    let data = total_len - 1 - width;
    put_id(out, id::VOID);
    put_vint_len(out, data as u64, width)?;
    out.resize(out.len() + data, 0);
    Ok(())
}

/// A master written to a seekable sink with an 8-byte size field patched once it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedMaster {
    /// File offset of the 8-byte size field.
    pub size_offset: u64,
    /// File offset of the first child byte.
    pub data_offset: u64,
}

impl ReservedMaster {
    /// Writes the master's ID and an 8-byte size field holding `initial` (e.g. [`UNKNOWN_SIZE_8`]).
    pub fn start<W: Write + Seek>(w: &mut W, id: u32, initial: [u8; 8]) -> Result<Self> {
        let mut head = Vec::with_capacity(12);
        put_id(&mut head, id);
        w.write_all(&head)?;
        let size_offset = w.stream_position()?;
        w.write_all(&initial)?;
        Ok(ReservedMaster {
            size_offset,
            data_offset: size_offset + 8,
        })
    }

    /// Patches the size field to `end − data_offset` and returns to the previous position.
    pub fn patch_size<W: Write + Seek>(&self, w: &mut W, end: u64) -> Result<()> {
        let size = end.checked_sub(self.data_offset).ok_or(MkvError::Layout {
            what: "master ends before its data starts",
        })?;
        let mut field = Vec::with_capacity(8);
        put_vint_len(&mut field, size, 8)?;
        let back = w.stream_position()?;
        w.seek(SeekFrom::Start(self.size_offset))?;
        w.write_all(&field)?;
        w.seek(SeekFrom::Start(back))?;
        Ok(())
    }
}

/// One element's header as found in a file or buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementHeader {
    pub id: u32,
    /// Data size, `None` for "unknown".
    pub size: Option<u64>,
    /// Offset of the ID's first byte.
    pub offset: u64,
    /// Offset of the first data byte.
    pub data_offset: u64,
}

impl ElementHeader {
    /// Offset one past the last data byte, `None` for unknown size.
    pub fn end(&self) -> Option<u64> {
        self.size.and_then(|s| self.data_offset.checked_add(s))
    }
}

/// Parses an element header from `buf`, which starts at absolute offset `base`.
pub fn parse_header(buf: &[u8], base: u64, what: &'static str) -> Result<ElementHeader> {
    let (id, id_len) = decode_id(buf).map_err(|e| vint_error(e, base, what))?;
    let rest = buf.get(id_len..).unwrap_or(&[]);
    let size_offset = base + id_len as u64;
    let vint = decode_vint(rest).map_err(|e| vint_error(e, size_offset, what))?;
    Ok(ElementHeader {
        id,
        size: vint.value,
        offset: base,
        data_offset: size_offset + vint.len as u64,
    })
}

fn vint_error(e: VintError, offset: u64, what: &'static str) -> MkvError {
    match e {
        VintError::TooLong => MkvError::Malformed { offset, what },
        VintError::Truncated => MkvError::Truncated { offset, what },
    }
}

/// Reads the element header at `offset` of a seekable source of length `file_len`.
pub fn read_header<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    file_len: u64,
    what: &'static str,
) -> Result<ElementHeader> {
    let avail = file_len.saturating_sub(offset).min(12) as usize;
    let mut buf = [0u8; 12];
    let buf = buf.get_mut(..avail).unwrap_or(&mut []);
    r.seek(SeekFrom::Start(offset))?;
    r.read_exact(buf)?;
    parse_header(buf, offset, what)
}

/// Reads `len` bytes at `offset`, reporting a truncation at the file's end instead of an I/O error.
pub fn read_span<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    len: u64,
    file_len: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    read_span_into(r, offset, len, file_len, what, &mut data)?;
    Ok(data)
}

/// [`read_span`] into `data` (cleared first), so a caller reading span after span reuses one
/// buffer instead of faulting in fresh pages for each.
pub fn read_span_into<R: Read + Seek>(
    r: &mut R,
    offset: u64,
    len: u64,
    file_len: u64,
    what: &'static str,
    data: &mut Vec<u8>,
) -> Result<()> {
    let end = offset
        .checked_add(len)
        .ok_or(MkvError::Malformed { offset, what })?;
    if end > file_len {
        return Err(MkvError::Truncated {
            offset: file_len,
            what,
        });
    }
    let len = usize::try_from(len).map_err(|_| MkvError::Malformed { offset, what })?;
    // read_to_end fills the spare capacity without zeroing it first (a cluster is megabytes).
    data.clear();
    data.reserve(len);
    r.seek(SeekFrom::Start(offset))?;
    let read = r.by_ref().take(len as u64).read_to_end(data)?;
    if read < len {
        return Err(MkvError::Truncated {
            offset: offset + read as u64,
            what,
        });
    }
    Ok(())
}

/// One child of a master held in memory.
#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    pub header: ElementHeader,
    pub data: &'a [u8],
}

impl Child<'_> {
    pub fn uint(&self) -> Result<u64> {
        if self.data.len() > 8 {
            return Err(self.malformed("unsigned integer longer than 8 bytes"));
        }
        Ok(self
            .data
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub fn int(&self) -> Result<i64> {
        if self.data.len() > 8 {
            return Err(self.malformed("signed integer longer than 8 bytes"));
        }
        let Some(&first) = self.data.first() else {
            return Ok(0);
        };
        let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
        Ok(self
            .data
            .iter()
            .fold(init, |acc, &b| (acc << 8) | i64::from(b)))
    }

    pub fn float(&self) -> Result<f64> {
        match self.data.len() {
            0 => Ok(0.0),
            4 => {
                let b: [u8; 4] = self.data.try_into().map_err(|_| self.malformed("float"))?;
                Ok(f64::from(f32::from_be_bytes(b)))
            }
            8 => {
                let b: [u8; 8] = self.data.try_into().map_err(|_| self.malformed("float"))?;
                Ok(f64::from_be_bytes(b))
            }
            _ => Err(self.malformed("float that is not 0, 4 or 8 bytes")),
        }
    }

    /// String value; invalid UTF-8 is replaced, trailing NULs (padding) dropped.
    pub fn string(&self) -> String {
        String::from_utf8_lossy(self.data)
            .trim_end_matches('\0')
            .to_owned()
    }

    pub fn children(&self) -> Children<'_> {
        Children::new(self.data, self.header.data_offset)
    }

    fn malformed(&self, what: &'static str) -> MkvError {
        MkvError::Malformed {
            offset: self.header.offset,
            what,
        }
    }
}

/// Iterator over the children of an in-memory master; yields an error once and then stops.
#[derive(Debug, Clone)]
pub struct Children<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    failed: bool,
}

impl<'a> Children<'a> {
    /// Children of `buf`, whose first byte sits at absolute offset `base`.
    pub fn new(buf: &'a [u8], base: u64) -> Self {
        Children {
            buf,
            pos: 0,
            base,
            failed: false,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Child<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let at = self.base + self.pos as u64;
        let result = parse_header(rest, at, "child element header").and_then(|header| {
            let head_len = (header.data_offset - at) as usize;
            let size = header.size.ok_or(MkvError::Malformed {
                offset: at,
                what: "child element of unknown size",
            })?;
            let data = usize::try_from(size)
                .ok()
                .and_then(|s| rest.get(head_len..head_len.checked_add(s)?))
                .ok_or(MkvError::Truncated {
                    offset: self.base + self.buf.len() as u64,
                    what: "child element running past its parent",
                })?;
            self.pos += head_len + data.len();
            Ok(Child { header, data })
        });
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebml_header_bytes_from_the_reference_decode() {
        let head = [0x1A, 0x45, 0xDF, 0xA3, 0xA3];
        let h = parse_header(&head, 0, "test").unwrap();
        assert_eq!(h.id, id::EBML);
        assert_eq!(h.size, Some(0x23));
        assert_eq!(h.data_offset, 5);
    }

    #[test]
    fn unknown_size_is_recognised_at_every_width() {
        for len in 1..=8 {
            let mut buf = vec![0xFFu8; len];
            buf[0] = 0xFF >> (len - 1);
            let v = decode_vint(&buf).unwrap();
            assert_eq!(v, Vint { value: None, len });
        }
        assert_eq!(decode_vint(&UNKNOWN_SIZE_8).unwrap().value, None);
    }

    #[test]
    fn size_127_needs_two_bytes_because_ff_means_unknown() {
        assert_eq!(vint_len(126), Some(1));
        assert_eq!(vint_len(127), Some(2));
        assert_eq!(vint_len(vint_max(8)), Some(8));
        assert_eq!(vint_len(vint_max(8) + 1), None);
    }

    #[test]
    fn zero_first_byte_is_malformed_not_a_panic() {
        assert_eq!(decode_vint(&[0x00, 1, 2]), Err(VintError::TooLong));
        assert_eq!(decode_vint(&[0x40]), Err(VintError::Truncated));
        assert_eq!(decode_id(&[0x08, 0, 0, 0, 0]), Err(VintError::TooLong));
    }

    #[test]
    fn void_fills_the_reference_placeholder_spans_exactly() {
        for total in [2usize, 3, 128, 129, 130, 248, 259, 1027, 20_000] {
            let mut out = Vec::new();
            put_void(&mut out, total).unwrap();
            assert_eq!(out.len(), total, "total {total}");
            let h = parse_header(&out, 0, "void").unwrap();
            assert_eq!(h.id, id::VOID);
            assert_eq!(h.end(), Some(total as u64));
        }
        let mut out = Vec::new();
        put_void(&mut out, 1027).unwrap();
        assert_eq!(&out[..3], &[0xEC, 0x44, 0x00]);
        assert!(put_void(&mut Vec::new(), 1).is_err());
    }

    #[test]
    fn signed_integers_use_the_fewest_twos_complement_bytes() {
        for (v, len) in [
            (0i64, 1usize),
            (-1, 1),
            (127, 1),
            (128, 2),
            (-128, 1),
            (-129, 2),
        ] {
            let mut out = Vec::new();
            put_int(&mut out, 0x80, v).unwrap();
            assert_eq!(out.len(), 2 + len, "{v}");
            let c = Children::new(&out, 0).next().unwrap().unwrap();
            assert_eq!(c.int().unwrap(), v);
        }
    }

    #[test]
    fn child_running_past_its_parent_is_a_truncation_with_offset() {
        let buf = [0x86, 0x85, b'a', b'b'];
        let err = Children::new(&buf, 100).next().unwrap().unwrap_err();
        assert!(
            matches!(err, MkvError::Truncated { offset: 104, .. }),
            "{err}"
        );
    }
}
