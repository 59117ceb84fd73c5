//! IMU stream packets: the view's length rules, every iterator, the conversions.
#![no_main]

use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ImuPacket::new_checked(data) else {
        return;
    };
    let gyro = packet.gyro_records().count();
    let accel = packet.accel_records().count();
    assert_eq!(packet.samples().count(), gyro.min(accel));
    let _ = packet.temperature_celsius();
    let _ = ImuPacketRepr::parse(&packet);
});
