//! Firmware package files: header, offsets, auth block, CRC.
#![no_main]

use k4sync_core::wire::firmware::{crc32_no_final_xor, FirmwareHeader, FirmwarePackage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = crc32_no_final_xor(data);
    if let Ok(header) = FirmwareHeader::new_checked(data) {
        for i in 0..8 {
            let _ = header.depth_config(i);
        }
    }
    let _ = FirmwarePackage::parse(data);
});
