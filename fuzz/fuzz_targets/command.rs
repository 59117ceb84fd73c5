//! Command packets: any bytes through the view and the representation; whatever parses must
//! re-emit to the same bytes.
#![no_main]

use k4sync_core::wire::command::{CommandPacket, CommandRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CommandPacket::new_checked(data) else {
        return;
    };
    let _ = (packet.transaction_id(), packet.payload_size(), packet.command_code());
    if let Ok(repr) = CommandRepr::parse(&packet) {
        let bytes = repr.to_bytes().expect("a parsed command re-emits");
        assert_eq!(&bytes[..], data, "parse then emit changed the bytes");
    }
});
