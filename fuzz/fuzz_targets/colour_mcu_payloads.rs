//! Colour-MCU payloads: the packed SET_SYS_CFG data and the jack state byte.
#![no_main]

use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cfg) = SysConfig::parse(data) {
        assert_eq!(&cfg.to_bytes()[..], &data[..SysConfig::LEN]);
    }
    if let Ok(jack) = JackState::parse(data) {
        assert_eq!(jack, JackState::from_byte(data[0]));
    }
});
