//! Depth-MCU results: component versions, serial number, firmware-update status, NV length.
#![no_main]

use k4sync_core::wire::depth_mcu::{
    check_nv_data_len, parse_serial, parse_serial_owned, ComponentVersions, FirmwareUpdateStatus,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = ComponentVersions::parse(data) {
        let mut out = [0u8; ComponentVersions::LEN];
        if v.emit(&mut out).is_ok() {
            assert_eq!(&out[..], &data[..ComponentVersions::LEN]);
        }
    }
    if let Ok(serial) = parse_serial(data) {
        assert!(serial.len() <= 25);
        assert!(serial.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert_eq!(parse_serial_owned(data).ok().as_deref(), Some(serial));
    }
    if let Ok(status) = FirmwareUpdateStatus::parse(data) {
        let mut out = [0u8; 8];
        status.emit(&mut out).expect("8 bytes fit");
        assert_eq!(&out[..], &data[..8]);
    }
    let _ = check_nv_data_len(data.len());
});
