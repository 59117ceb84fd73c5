//! A byte sink over a caller's buffer that keeps what fits and counts everything offered.
//!
//! Read data phases are generated straight into the host's receive buffer, so a document
//! longer than the buffer (the calibration JSON on the first 10,240-byte try) is truncated
//! while its full length is still known, without any allocation.

use core::fmt;

pub(crate) struct Sink<'a> {
    buf: &'a mut [u8],
    total: usize,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Sink { buf, total: 0 }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.total) {
                *slot = b;
            }
            self.total = self.total.saturating_add(1);
        }
    }

    /// Length of everything offered, including what did not fit.
    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

impl fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// SplitMix64: a tiny deterministic generator for emulated content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64) / ((1u64 << 52) as f64) - 1.0
    }
}
