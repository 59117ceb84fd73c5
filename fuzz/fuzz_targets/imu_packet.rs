//! IMU stream packets: the view's length rules, every iterator and the conversions on the
//! input as a packet, then the input read as an `arbitrary` packet representation
//! (`k4sync_fuzz::reprs`) that must survive emit → parse unchanged.
#![no_main]

use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr};
use k4sync_fuzz::reprs::imu_repr;
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fn as_packet(data: &[u8]) {
    let Ok(packet) = ImuPacket::new_checked(data) else {
        return;
    };
    let gyro = packet.gyro_records().count();
    let accel = packet.accel_records().count();
    assert_eq!(packet.samples().count(), gyro.min(accel));
    let _ = packet.temperature_celsius();
    if let Ok(repr) = ImuPacketRepr::parse(&packet) {
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ImuPacket::new_unchecked(&mut out[..]))
            .expect("buffer_len bytes fit");
        assert_eq!(&out[..], &data[..repr.buffer_len()]);
    }
}

fn as_repr(data: &[u8]) {
    let Ok(repr) = imu_repr(&mut Unstructured::new(data)) else {
        return;
    };
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ImuPacket::new_unchecked(&mut bytes[..]))
        .expect("buffer_len bytes fit");
    let packet = ImuPacket::new_checked(&bytes[..]).expect("an emitted packet is whole");
    assert_eq!(ImuPacketRepr::parse(&packet), Ok(repr));
}

fuzz_target!(|data: &[u8]| {
    as_packet(data);
    as_repr(data);
});
