//! Colour/IMU MCU payloads: the packed SET_SYS_CFG sync configuration and the jack state
//! (reference §4.2, §4.3).
//!
//! Both are tiny fixed layouts, so they are parsed from and emitted into plain byte slices
//! rather than through a view. SET_SYS_CFG travels as the command data of its command packet
//! (payload_size 0, 33-byte OUT transfer); GET_JACK_STATE is a 1-byte read data phase.
//!
//! Parsing is strict where the host would only ever send one value (privacy LED 0 or 1, a
//! known sync mode), so that the emulator can refuse what the SDK could never have sent and
//! `parse` followed by `emit` reproduces the bytes exactly.

use crate::error::Result;
use crate::time::{usec_to_ticks_i32, usec_to_ticks_u32};
use crate::types::WiredSyncMode;
use crate::wire::field::{
    check_len_within, i32_le, room, set_i32_le, set_u32_le, set_u8, u32_le, u8_at, Field,
};
use crate::WireError;

mod field {
    use super::Field;

    pub const MODE: Field = 0..4;
    pub const SUBORDINATE_DELAY: Field = 4..8;
    pub const DEPTH_DELAY: Field = 8..12;
    pub const PRIVACY_LED: usize = 12;
}

const SYS_CONFIG: &str = "SET_SYS_CFG data";
const JACK_STATE: &str = "GET_JACK_STATE result";

/// SET_SYS_CFG command data (13 bytes, packed): sync role, delays in ticks, privacy LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SysConfig {
    pub mode: WiredSyncMode,
    /// Capture delay after the sync-in pulse, 90 kHz ticks.
    pub subordinate_delay_ticks: u32,
    /// Depth capture offset relative to colour, 90 kHz ticks (negative = depth first).
    pub depth_delay_ticks: i32,
    /// Privacy (streaming) LED on while streaming.
    pub privacy_led: bool,
}

impl SysConfig {
    /// Size of the packed structure on the wire.
    pub const LEN: usize = 13;

    /// Builds the configuration the SDK sends for delays given in µs, converting them to ticks
    /// with the SDK's truncating arithmetic (reference §4.2, §6.2).
    #[inline]
    pub const fn from_usec(
        mode: WiredSyncMode,
        subordinate_delay_usec: u32,
        depth_delay_usec: i32,
        privacy_led: bool,
    ) -> Self {
        SysConfig {
            mode,
            subordinate_delay_ticks: usec_to_ticks_u32(subordinate_delay_usec),
            depth_delay_ticks: usec_to_ticks_i32(depth_delay_usec),
            privacy_led,
        }
    }

    #[inline]
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Parses exactly 13 bytes; an unknown mode or an LED byte other than 0/1 names its field.
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let len = bytes.len();
        check_len_within(SYS_CONFIG, "whole structure", len, Self::LEN, Self::LEN)?;
        let raw_mode = u32_le(bytes, field::MODE);
        let mode = WiredSyncMode::from_wire(raw_mode).ok_or(WireError::BadValue {
            packet: SYS_CONFIG,
            field: "mode",
            value: raw_mode as u64,
        })?;
        let privacy_led = match u8_at(bytes, field::PRIVACY_LED) {
            0 => false,
            1 => true,
            other => {
                return Err(WireError::BadValue {
                    packet: SYS_CONFIG,
                    field: "privacy LED enable",
                    value: other as u64,
                })
            }
        };
        Ok(SysConfig {
            mode,
            subordinate_delay_ticks: u32_le(bytes, field::SUBORDINATE_DELAY),
            depth_delay_ticks: i32_le(bytes, field::DEPTH_DELAY),
            privacy_led,
        })
    }

    /// Writes the 13 packed bytes at the start of `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        room(SYS_CONFIG, buf.len(), Self::LEN)?;
        self.write(buf);
        Ok(())
    }

    #[inline]
    fn write(&self, buf: &mut [u8]) {
        set_u32_le(buf, field::MODE, self.mode.wire_value());
        set_u32_le(buf, field::SUBORDINATE_DELAY, self.subordinate_delay_ticks);
        set_i32_le(buf, field::DEPTH_DELAY, self.depth_delay_ticks);
        set_u8(buf, field::PRIVACY_LED, u8::from(self.privacy_led));
    }

    /// The 13 bytes as an array.
    #[inline]
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        self.write(&mut out);
        out
    }
}

/// GET_JACK_STATE result: which sync jacks have a plug in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JackState {
    pub sync_in: bool,
    pub sync_out: bool,
}

impl JackState {
    /// No plug in either jack.
    pub const NONE: JackState = JackState::from_byte(0b00);
    /// A plug in Sync In only (a subordinate's usual wiring at the end of a chain).
    pub const IN_ONLY: JackState = JackState::from_byte(0b01);
    /// A plug in Sync Out only (a master's wiring).
    pub const OUT_ONLY: JackState = JackState::from_byte(0b10);
    /// Plugs in both jacks (a subordinate in the middle of a daisy chain).
    pub const BOTH: JackState = JackState::from_byte(0b11);

    /// The host reads exactly this many bytes (payload_size of GET_JACK_STATE).
    pub const READ_SIZE: u32 = 1;

    const SYNC_IN: u8 = 0b01;
    const SYNC_OUT: u8 = 0b10;

    /// Decodes the jack bits: bit 0 Sync In, bit 1 Sync Out, other bits ignored.
    #[inline]
    pub const fn from_byte(byte: u8) -> Self {
        JackState {
            sync_in: byte & Self::SYNC_IN != 0,
            sync_out: byte & Self::SYNC_OUT != 0,
        }
    }

    #[inline]
    pub const fn to_byte(self) -> u8 {
        let mut byte = 0;
        if self.sync_in {
            byte |= Self::SYNC_IN;
        }
        if self.sync_out {
            byte |= Self::SYNC_OUT;
        }
        byte
    }

    /// Parses the read result, which must be exactly one byte (reference §4.3).
    #[inline]
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        check_len_within(JACK_STATE, "jack bits", bytes.len(), 1, 1)?;
        Ok(Self::from_byte(u8_at(bytes, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: WiredSyncMode, sub: u32, depth: i32, led: bool) -> SysConfig {
        SysConfig {
            mode,
            subordinate_delay_ticks: sub,
            depth_delay_ticks: depth,
            privacy_led: led,
        }
    }

    #[test]
    fn sys_config_rows_of_reference_2_6_encode_and_decode() {
        let rows: [(SysConfig, [u8; 13]); 4] = [
            (
                SysConfig::from_usec(WiredSyncMode::Standalone, 0, 0, true),
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            (
                SysConfig::from_usec(WiredSyncMode::Master, 0, -80, true),
                [1, 0, 0, 0, 0, 0, 0, 0, 0xF9, 0xFF, 0xFF, 0xFF, 1],
            ),
            (
                SysConfig::from_usec(WiredSyncMode::Subordinate, 160, 80, true),
                [2, 0, 0, 0, 0x0E, 0, 0, 0, 0x07, 0, 0, 0, 1],
            ),
            (
                SysConfig::from_usec(WiredSyncMode::Subordinate, 33_333, 0, false),
                [2, 0, 0, 0, 0xB7, 0x0B, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (config, bytes) in rows {
            assert_eq!(config.to_bytes(), bytes, "{config:?}");
            let mut buf = [0xAAu8; 13];
            assert_eq!(config.emit(&mut buf), Ok(()));
            assert_eq!(buf, bytes);
            assert_eq!(SysConfig::parse(&bytes), Ok(config));
        }
        let master = SysConfig::from_usec(WiredSyncMode::Master, 0, -80, true);
        assert_eq!(master.depth_delay_ticks, -7);
        let sub = SysConfig::from_usec(WiredSyncMode::Subordinate, 160, 80, true);
        assert_eq!(sub.subordinate_delay_ticks, 14);
        assert_eq!(sub.depth_delay_ticks, 7);
        let slow = SysConfig::from_usec(WiredSyncMode::Subordinate, 33_333, 0, false);
        assert_eq!(slow.subordinate_delay_ticks, 2999);
    }

    #[test]
    fn unknown_sync_mode_is_rejected_naming_the_mode_field() {
        let bytes = [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            SysConfig::parse(&bytes),
            Err(WireError::BadValue {
                packet: SYS_CONFIG,
                field: "mode",
                value: 3
            })
        );
    }

    #[test]
    fn led_byte_other_than_zero_or_one_is_rejected() {
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        assert!(matches!(
            SysConfig::parse(&bytes),
            Err(WireError::BadValue {
                field: "privacy LED enable",
                value: 2,
                ..
            })
        ));
    }

    #[test]
    fn sys_config_needs_exactly_thirteen_bytes() {
        assert!(matches!(
            SysConfig::parse(&[0; 12]),
            Err(WireError::Truncated {
                needed: 13,
                got: 12,
                ..
            })
        ));
        assert!(matches!(
            SysConfig::parse(&[0; 14]),
            Err(WireError::TooLong {
                max: 13,
                got: 14,
                ..
            })
        ));
        let config = cfg(WiredSyncMode::Master, 1, 2, false);
        assert!(matches!(
            config.emit(&mut [0; 12]),
            Err(WireError::BufferTooSmall {
                needed: 13,
                got: 12,
                ..
            })
        ));
    }

    #[test]
    fn jack_bits_zero_and_one_map_to_in_and_out_and_others_are_ignored() {
        assert_eq!(JackState::from_byte(0), JackState::default());
        assert_eq!(
            JackState::from_byte(0b01),
            JackState {
                sync_in: true,
                sync_out: false
            }
        );
        assert_eq!(
            JackState::from_byte(0b10),
            JackState {
                sync_in: false,
                sync_out: true
            }
        );
        assert_eq!(JackState::from_byte(0xFF), JackState::from_byte(0b11));
        assert_eq!(JackState::from_byte(0xFC), JackState::default());
        for b in 0..4u8 {
            assert_eq!(JackState::from_byte(b).to_byte(), b);
        }
    }

    #[test]
    fn jack_state_result_must_be_exactly_one_byte() {
        assert_eq!(JackState::parse(&[3]), Ok(JackState::from_byte(3)));
        assert!(matches!(
            JackState::parse(&[]),
            Err(WireError::Truncated { got: 0, .. })
        ));
        assert!(matches!(
            JackState::parse(&[1, 0]),
            Err(WireError::TooLong { max: 1, got: 2, .. })
        ));
    }
}
