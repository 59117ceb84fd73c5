//! Little-endian field access at named byte ranges, shared by every packet view.
//!
//! Views check their buffer length once when they are built (`new_checked`); these helpers
//! still use checked slicing so that even a view built unchecked over a short buffer reads
//! zeros and ignores writes instead of panicking. A parser must never panic on device bytes.

use core::ops::Range;

/// A byte range inside a packet.
pub type Field = Range<usize>;

#[inline]
fn array<const N: usize>(buf: &[u8], field: Field) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(field) {
        if src.len() == N {
            out.copy_from_slice(src);
        }
    }
    out
}

#[inline]
fn put(buf: &mut [u8], field: Field, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(field) {
        if dst.len() == bytes.len() {
            dst.copy_from_slice(bytes);
        }
    }
}

#[inline]
pub fn u8_at(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

#[inline]
pub fn u16_le(buf: &[u8], field: Field) -> u16 {
    u16::from_le_bytes(array(buf, field))
}

#[inline]
pub fn i16_le(buf: &[u8], field: Field) -> i16 {
    i16::from_le_bytes(array(buf, field))
}

#[inline]
pub fn u32_le(buf: &[u8], field: Field) -> u32 {
    u32::from_le_bytes(array(buf, field))
}

#[inline]
pub fn i32_le(buf: &[u8], field: Field) -> i32 {
    i32::from_le_bytes(array(buf, field))
}

#[inline]
pub fn u64_le(buf: &[u8], field: Field) -> u64 {
    u64::from_le_bytes(array(buf, field))
}

#[inline]
pub fn f32_le(buf: &[u8], field: Field) -> f32 {
    f32::from_le_bytes(array(buf, field))
}

#[inline]
pub fn set_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

#[inline]
pub fn set_u16_le(buf: &mut [u8], field: Field, value: u16) {
    put(buf, field, &value.to_le_bytes());
}

#[inline]
pub fn set_i16_le(buf: &mut [u8], field: Field, value: i16) {
    put(buf, field, &value.to_le_bytes());
}

#[inline]
pub fn set_u32_le(buf: &mut [u8], field: Field, value: u32) {
    put(buf, field, &value.to_le_bytes());
}

#[inline]
pub fn set_i32_le(buf: &mut [u8], field: Field, value: i32) {
    put(buf, field, &value.to_le_bytes());
}

#[inline]
pub fn set_u64_le(buf: &mut [u8], field: Field, value: u64) {
    put(buf, field, &value.to_le_bytes());
}

#[inline]
pub fn set_f32_le(buf: &mut [u8], field: Field, value: f32) {
    put(buf, field, &value.to_le_bytes());
}

/// Checks that `buf` holds at least `needed` bytes for `field` of `packet`.
#[inline]
pub fn need(
    packet: &'static str,
    field: &'static str,
    buf_len: usize,
    needed: usize,
) -> crate::error::Result<()> {
    if buf_len < needed {
        Err(crate::WireError::Truncated {
            packet,
            field,
            needed,
            got: buf_len,
        })
    } else {
        Ok(())
    }
}

/// Checks that an emit target of `buf_len` bytes can hold the `needed` bytes of `packet`.
#[inline]
pub fn room(packet: &'static str, buf_len: usize, needed: usize) -> crate::error::Result<()> {
    if buf_len < needed {
        Err(crate::WireError::BufferTooSmall {
            packet,
            needed,
            got: buf_len,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian() {
        let b = [0x09, 0x20, 0x02, 0x06, 0xff, 0xff];
        assert_eq!(u32_le(&b, 0..4), 0x0602_2009);
        assert_eq!(i16_le(&b, 4..6), -1);
        assert_eq!(u8_at(&b, 1), 0x20);
    }

    #[test]
    fn out_of_range_reads_yield_zero_and_writes_are_ignored() {
        let mut b = [1u8, 2, 3];
        assert_eq!(u32_le(&b, 0..4), 0);
        assert_eq!(u64_le(&b, 8..16), 0);
        assert_eq!(u8_at(&b, 3), 0);
        set_u32_le(&mut b, 1..5, 0xdead_beef);
        set_u8(&mut b, 7, 9);
        assert_eq!(b, [1, 2, 3]);
    }
}
