//! Response packets and the host's acceptance check.
#![no_main]

use k4sync_core::wire::response::{check_response, ResponsePacket, ResponseRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tid = data.first().copied().map(u32::from).unwrap_or(0);
    let checked = check_response(tid, data);
    if let Ok(packet) = ResponsePacket::new_checked(data) {
        if let Ok(repr) = ResponseRepr::parse(&packet) {
            assert_eq!(checked.is_ok(), repr.transaction_id == tid);
            let bytes = repr.to_bytes();
            assert_eq!(&bytes[..12], &data[..12]);
        }
    }
});
