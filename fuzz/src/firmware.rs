//! The `firmware` target's input is a package file whose last four bytes the harness
//! overwrites with the right CRC before parsing it a second time, so a mutation of a valid
//! package reaches the authentication- and certificate-block checks instead of failing the
//! CRC (a random flip passes it with odds of one in 2³²).

use k4sync_core::wire::firmware::{seal_crc, CRC_LEN, HEADER_LEN};

/// The longest input worth fuzzing: a header, an authentication block and a certificate block
/// of a few kilobytes. Real packages are about a megabyte of image the parser never reads,
/// and hashing it would cost every execution a millisecond.
pub const MAX_INPUT_LEN: usize = 4096;

/// The smallest input the parser accepts the length of.
pub const MIN_PACKAGE_LEN: usize = HEADER_LEN + CRC_LEN;

/// `data` with its last four bytes replaced by the CRC of the rest; `None` below four bytes.
pub fn sealed(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    seal_crc(&mut out).ok()?;
    Some(out)
}
