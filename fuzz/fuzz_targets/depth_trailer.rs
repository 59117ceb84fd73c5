//! The 40-byte raw-depth trailer, bare and at the end of a raw frame the harness builds around
//! it (`k4sync_fuzz::depth_trailer`: the input's last two bytes pick the frame's expected size
//! and how far its length is off), so both the trailer parser and every length rule of
//! `from_frame` are reached. Whatever parses must re-emit the same 40 bytes.
#![no_main]

use std::cell::RefCell;

use k4sync_core::wire::depth_trailer::{
    DepthTrailer, DepthTrailerRepr, K4SYNC_TRAILER_SIGNATURE, TRAILER_LEN,
};
use k4sync_fuzz::depth_trailer::{max_frame_len, split, FrameShape};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static FRAME: RefCell<Vec<u8>> = RefCell::new(vec![0; max_frame_len()]);
}

fn reemitted(view: &DepthTrailer<&[u8]>) -> [u8; TRAILER_LEN] {
    let repr = DepthTrailerRepr::parse(view).expect("a checked view parses");
    assert_eq!(
        view.is_k4sync_emulated(),
        repr.signature == K4SYNC_TRAILER_SIGNATURE
    );
    assert_eq!(view.device_ts_usec(), repr.timestamp_ticks.to_usec());
    let mut out = [0u8; TRAILER_LEN];
    repr.emit_into_frame(&mut out).expect("40 bytes fit");
    out
}

fn bare(data: &[u8]) {
    let Ok(view) = DepthTrailer::new_checked(data) else {
        assert!(data.len() < TRAILER_LEN);
        return;
    };
    assert_eq!(reemitted(&view)[..], data[..TRAILER_LEN]);
}

fn framed(trailer: &[u8; TRAILER_LEN], shape: FrameShape) {
    FRAME.with_borrow_mut(|buffer| {
        let frame = &mut buffer[..shape.len];
        let start = shape.len.saturating_sub(TRAILER_LEN);
        frame[start..].copy_from_slice(&trailer[..shape.len - start]);
        let frame = &*frame;
        let result = DepthTrailer::from_frame(frame, shape.expected);
        let fits = shape.len == shape.expected && shape.expected >= TRAILER_LEN;
        assert_eq!(result.is_ok(), fits, "{shape:?}");
        if let Some(mode) = shape.mode {
            let in_mode = DepthTrailer::from_frame_in_mode(frame, mode);
            assert_eq!(in_mode.is_ok(), fits, "{shape:?}");
        }
        if let Ok(view) = result {
            assert_eq!(&reemitted(&view), trailer);
        }
    });
}

fuzz_target!(|data: &[u8]| {
    bare(data);
    let (trailer, shape) = split(data);
    framed(&trailer, shape);
});
