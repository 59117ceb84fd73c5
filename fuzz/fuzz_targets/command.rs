//! Command packets: the input through the view and the representation (whatever parses must
//! re-emit to the same bytes), then read as an `arbitrary` command representation
//! (`k4sync_fuzz::reprs`) that must survive emit → parse unchanged.
#![no_main]

use k4sync_core::wire::command::{CommandPacket, CommandRepr};
use k4sync_fuzz::reprs::command_repr;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fn as_packet(data: &[u8]) {
    let Ok(packet) = CommandPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.transaction_id(),
        packet.payload_size(),
        packet.command_code(),
    );
    if let Ok(repr) = CommandRepr::parse(&packet) {
        let bytes = repr.to_bytes().expect("a parsed command re-emits");
        assert_eq!(&bytes[..], data, "parse then emit changed the bytes");
    }
}

fn as_repr(data: &[u8]) {
    let Ok(repr) = command_repr(&mut Unstructured::new(data)) else {
        return;
    };
    let bytes = repr.to_bytes().expect("every command fits a packet");
    assert_eq!(bytes.len(), repr.buffer_len());
    let packet = CommandPacket::new_checked(&bytes[..]).expect("an emitted packet is framed");
    assert_eq!(CommandRepr::parse(&packet), Ok(repr));
}

fuzz_target!(|data: &[u8]| {
    as_packet(data);
    as_repr(data);
});
