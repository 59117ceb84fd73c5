//! UVC payloads: header view, the frame assembler over a payload sequence, metadata walk.
//! The input is split into payloads at a length prefix byte so sequences are explored.
#![no_main]

use k4sync_core::wire::uvc::{
    capture_stats, colour_timestamp, MetadataItems, UvcFrameAssembler, UvcPayload,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = colour_timestamp(data);
    let _ = capture_stats(data);
    for item in MetadataItems::new(data).take(4096) {
        if let Ok(item) = item {
            assert!(item.bytes.len() >= 8);
        }
    }
    let mut assembler = UvcFrameAssembler::default();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (payload, next) = tail.split_at(take);
        rest = next;
        if let Ok(view) = UvcPayload::new_checked(payload) {
            let _ = (view.metadata(), view.image());
        }
        if let Ok(events) = assembler.push(payload) {
            assert!(events.image.len() <= payload.len());
            assert!(events.metadata.len() <= payload.len());
        }
    }
});
