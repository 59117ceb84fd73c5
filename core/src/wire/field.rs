//! Little-endian field access at named byte ranges, shared by every packet view.
//!
//! Views check their buffer length once when they are built (`new_checked`); these helpers
//! still use checked slicing so that even a view built unchecked over a short buffer reads
//! zeros and ignores writes instead of panicking. A parser must never panic on device bytes.

use core::ops::Range;

/// A byte range inside a packet.
pub type Field = Range<usize>;

/// A value stored little-endian in a fixed number of bytes; its type fixes the field width.
pub trait LeValue: Copy {
    /// The width in bytes.
    const LEN: usize;
    /// Reads the value at `field`; zero when `buf` does not hold the whole field.
    fn read(buf: &[u8], field: Field) -> Self;
    /// Writes the value at `field`; ignored when `buf` does not hold the whole field.
    fn write(self, buf: &mut [u8], field: Field);
}

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

macro_rules! le_primitive {
    ($($ty:ty),+) => {$(
        impl LeValue for $ty {
            const LEN: usize = core::mem::size_of::<$ty>();

            #[inline(always)]
            fn read(buf: &[u8], field: Field) -> Self {
                <$ty>::from_le_bytes(array(buf, field))
            }

            #[inline(always)]
            fn write(self, buf: &mut [u8], field: Field) {
                put(buf, field, &self.to_le_bytes());
            }
        }
    )+};
}

le_primitive!(u8, u16, i16, u32, i32, u64, f32);

le_newtype!(crate::time::Ticks90k => u64);

/// Reads the `V` at `field`; zero when `buf` does not hold the whole field. A field whose
/// width is not `V`'s is a bug in a field table and fails a debug assertion.
#[inline(always)]
pub fn get<V: LeValue>(buf: &[u8], field: Field) -> V {
    debug_assert_eq!(field.len(), V::LEN, "field width");
    V::read(buf, field)
}

/// Writes `value` at `field`; ignored when `buf` does not hold the whole field.
#[inline(always)]
pub fn set<V: LeValue>(buf: &mut [u8], field: Field, value: V) {
    debug_assert_eq!(field.len(), V::LEN, "field width");
    value.write(buf, field);
}

#[inline]
pub fn u8_at(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

#[inline]
pub fn set_u8(buf: &mut [u8], at: usize, value: u8) {
    if let Some(b) = buf.get_mut(at) {
        *b = value;
    }
}

macro_rules! typed_access {
    ($($get:ident, $set:ident: $ty:ty;)+) => {$(
        #[inline]
        pub fn $get(buf: &[u8], field: Field) -> $ty {
            get(buf, field)
        }

        #[inline]
        pub fn $set(buf: &mut [u8], field: Field, value: $ty) {
            set(buf, field, value);
        }
    )+};
}

typed_access! {
    u16_le, set_u16_le: u16;
    i16_le, set_i16_le: i16;
    u32_le, set_u32_le: u32;
    i32_le, set_i32_le: i32;
    u64_le, set_u64_le: u64;
    f32_le, set_f32_le: f32;
}

/// Checks that `buf` holds at least `needed` bytes for `field` of `packet`.
#[inline(always)]
pub fn check_len(
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

/// Checks that `len` is within `min..=max` bytes for `field` of `packet`: too short names the
/// field, too long the whole packet.
#[inline(always)]
pub fn check_len_within(
    packet: &'static str,
    field: &'static str,
    len: usize,
    min: usize,
    max: usize,
) -> crate::error::Result<()> {
    check_len(packet, field, len, min)?;
    if len > max {
        return Err(crate::WireError::TooLong {
            packet,
            max,
            got: len,
        });
    }
    Ok(())
}

/// Checks that the constant `field` of `packet` holds `expected`.
#[inline(always)]
pub fn check_magic(
    packet: &'static str,
    field: &'static str,
    expected: u32,
    found: u32,
) -> crate::error::Result<()> {
    if found != expected {
        return Err(crate::WireError::BadMagic {
            packet,
            field,
            expected,
            found,
        });
    }
    Ok(())
}

/// Checks that an emit target of `buf_len` bytes can hold the `needed` bytes of `packet`.
#[inline(always)]
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
