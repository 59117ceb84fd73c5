//! The 40-byte raw-depth trailer, both as a bare trailer and at the end of a frame.
#![no_main]

use k4sync_core::wire::depth_trailer::{DepthTrailer, DepthTrailerRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(trailer) = DepthTrailer::new_checked(data) {
        let _ = DepthTrailerRepr::parse(&trailer);
    }
    let expected = data.first().map(|&b| usize::from(b)).unwrap_or(0);
    if let Ok(trailer) = DepthTrailer::from_frame(data, expected) {
        let _ = DepthTrailerRepr::parse(&trailer);
    }
});
