//! UVC payloads: header view, the frame assembler over a payload sequence, and the metadata
//! walk over each payload's metadata (where the host finds it) and over the whole input. The
//! input is split into payloads at a length prefix byte (`k4sync_fuzz::uvc`) so sequences are
//! explored.
#![no_main]

use k4sync_core::wire::uvc::{
    capture_stats, colour_timestamp, MetadataItems, UvcFrameAssembler, UvcHeaderRepr, UvcPayload,
};
use k4sync_fuzz::uvc::payloads;
use libfuzzer_sys::fuzz_target;

fn metadata(bytes: &[u8]) {
    let _ = colour_timestamp(bytes);
    let _ = capture_stats(bytes);
    for item in MetadataItems::new(bytes).take(4096).flatten() {
        assert!(item.bytes.len() >= 8);
    }
}

fn header(payload: &[u8]) {
    let Ok(view) = UvcPayload::new_checked(payload) else {
        return;
    };
    assert_eq!(view.header_len() + view.image().len(), payload.len());
    let repr = UvcHeaderRepr::parse(&view).expect("a checked header parses");
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut UvcPayload::new_unchecked(&mut out[..]))
        .expect("buffer_len bytes fit");
    assert_eq!(
        UvcHeaderRepr::parse(&UvcPayload::new_unchecked(&out[..])),
        Ok(repr)
    );
    metadata(view.metadata());
}

fuzz_target!(|data: &[u8]| {
    metadata(data);
    let mut assembler = UvcFrameAssembler::default();
    for payload in payloads(data) {
        header(payload);
        if let Ok(events) = assembler.push(payload) {
            assert!(events.image.len() <= payload.len());
            assert!(events.metadata.len() <= payload.len());
        }
    }
});
