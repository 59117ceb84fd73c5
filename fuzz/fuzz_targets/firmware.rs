//! Firmware package files: the input as it is (nearly always a CRC error), then with its CRC
//! sealed by the harness (`k4sync_fuzz::firmware`), so mutations of a valid package reach the
//! header, authentication-block and certificate-block checks. A sealed package never fails on
//! its CRC, and one that parses points inside itself and re-emits its header.
#![no_main]

use k4sync_core::wire::firmware::{
    crc32_no_final_xor, AuthBlockRepr, FirmwareHeader, FirmwareHeaderRepr, FirmwarePackage,
    CRC_LEN, HEADER_LEN,
};
use k4sync_core::WireError;
use k4sync_fuzz::firmware::sealed;
use libfuzzer_sys::fuzz_target;

fn header_views(data: &[u8]) {
    if let Ok(header) = FirmwareHeader::new_checked(data) {
        for i in 0..8 {
            let _ = header.depth_config(i);
        }
        let _ = FirmwareHeaderRepr::parse(&header);
    }
}

fn check_parsed(package: &FirmwarePackage<'_>) {
    let bytes = package.bytes();
    assert_eq!(
        package.crc,
        crc32_no_final_xor(&bytes[..bytes.len() - CRC_LEN])
    );
    let mut header = [0u8; HEADER_LEN];
    package
        .header
        .emit(&mut FirmwareHeader::new_unchecked(&mut header[..]))
        .expect("104 bytes fit");
    let view = FirmwareHeader::new_checked(&header[..]).expect("a whole header");
    let reparsed = FirmwareHeaderRepr::parse(&view);
    assert_eq!(reparsed.as_ref(), Ok(&package.header));
    let auth_at = package.header.auth_block_offset as usize;
    assert_eq!(AuthBlockRepr::parse(&bytes[auth_at..]), Ok(package.auth));
    let cert_at = package.auth.cert_block_offset as usize;
    assert!(cert_at + usize::from(package.auth.cert_block_len) <= bytes.len());
    assert_eq!(package.cert_type, bytes[cert_at]);
}

fuzz_target!(|data: &[u8]| {
    let _ = crc32_no_final_xor(data);
    header_views(data);
    let as_is = FirmwarePackage::parse(data);
    let Some(file) = sealed(data) else {
        return;
    };
    match FirmwarePackage::parse(&file) {
        Ok(package) => check_parsed(&package),
        Err(e) => assert!(
            !matches!(
                e,
                WireError::BadMagic {
                    field: "CRC-32",
                    ..
                }
            ),
            "a sealed package failed its CRC: {e:?}"
        ),
    }
    if as_is.is_ok() {
        assert_eq!(file, data, "sealing a valid package changed it");
    }
});
