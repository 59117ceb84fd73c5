//! The 40-byte trailer at the end of a raw depth frame from EP 0x83 (reference §3.5).
//!
//! The SDK treats a raw depth frame as opaque and only checks that its length equals the exact
//! raw frame size of the sensor mode. The closed depth engine reads exposure timestamp and
//! temperatures from inside the frame; the only public description of where is a test utility
//! that reads this byte-packed trailer from the last 40 bytes. We use it to timestamp raw frames
//! without the engine, and the emulator writes it.
//!
//! Open question 1: the real signature and block version values are unknown. We therefore
//! accept *any* signature and expose it, and our emulator stamps its frames with constants of
//! our own ([`K4SYNC_TRAILER_SIGNATURE`], [`K4SYNC_TRAILER_BLOCK_VERSION`]) so that an emulated
//! frame can never be mistaken for a hardware one.

use crate::error::Result;
use crate::time::{Ticks90k, Usec};
use crate::types::SensorMode;
use crate::wire::field::{check_len, check_len_within, room};

const PACKET: &str = "raw depth frame trailer";

mod field {
    use crate::wire::field::Field;

    pub const SIGNATURE: Field = 0..4;
    pub const BLOCK_SIZE: Field = 4..6;
    pub const BLOCK_VERSION: Field = 6..8;
    pub const TIMESTAMP_TICKS: Field = 8..16;
    pub const SENSOR_TEMPERATURE: Field = 16..20;
    pub const MODULE_TEMPERATURE: Field = 20..24;
    pub const USB_SOF_SEQ: Field = 24..32;
    pub const USB_SOF_PTS: Field = 32..40;
}

/// Length of the trailer.
pub const TRAILER_LEN: usize = 40;

/// k4sync's own trailer signature, ASCII "K4SY" little-endian. Not a hardware value.
pub const K4SYNC_TRAILER_SIGNATURE: u32 = u32::from_le_bytes(*b"K4SY");
/// k4sync's own trailer block version. Not a hardware value.
pub const K4SYNC_TRAILER_BLOCK_VERSION: u16 = 0x4B01;
/// Block size our emulator writes: the trailer's own length.
pub const K4SYNC_TRAILER_BLOCK_SIZE: u16 = TRAILER_LEN as u16;

view! {
    /// Zero-copy view of a depth frame trailer.
    #[derive(Debug, Clone)]
    pub struct DepthTrailer;
}

fields! {
    impl DepthTrailer =>
    /// The owned meaning of a trailer; emit writes the first 40 bytes of the view.
    #[derive(Debug, Clone, Copy, PartialEq)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    DepthTrailerRepr: TRAILER_LEN, PACKET, checked by check_len {
        signature, set_signature: u32 = field::SIGNATURE;
        block_size, set_block_size: u16 = field::BLOCK_SIZE;
        block_version, set_block_version: u16 = field::BLOCK_VERSION;
        timestamp_ticks, set_timestamp_ticks: Ticks90k = field::TIMESTAMP_TICKS;
        sensor_temperature_celsius, set_sensor_temperature_celsius: f32
            = field::SENSOR_TEMPERATURE;
        module_temperature_celsius, set_module_temperature_celsius: f32
            = field::MODULE_TEMPERATURE;
        usb_sof_seq, set_usb_sof_seq: u64 = field::USB_SOF_SEQ;
        usb_sof_pts, set_usb_sof_pts: u64 = field::USB_SOF_PTS;
    }
}

impl<'a> DepthTrailer<&'a [u8]> {
    /// The trailer of a complete raw frame, after checking the frame has exactly
    /// `expected_size` bytes (the SDK drops frames of any other length).
    #[inline]
    pub fn from_frame(frame: &'a [u8], expected_size: usize) -> Result<Self> {
        let got = frame.len();
        check_len_within(
            "raw depth frame",
            "frame",
            got,
            expected_size,
            expected_size,
        )?;
        check_len("raw depth frame", "trailer", got, TRAILER_LEN)?;
        Self::new_checked(frame.get(got - TRAILER_LEN..).unwrap_or(&[]))
    }

    /// [`from_frame`](Self::from_frame) with the raw frame size of `mode`.
    #[inline]
    pub fn from_frame_in_mode(frame: &'a [u8], mode: SensorMode) -> Result<Self> {
        Self::from_frame(frame, mode.raw_frame_size())
    }
}

impl<T: AsRef<[u8]>> DepthTrailer<T> {
    /// At least the 40 trailer bytes (extra bytes are ignored).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        check_len(PACKET, "trailer", self.buffer.as_ref().len(), TRAILER_LEN)
    }

    /// Whether this trailer carries k4sync's emulator signature.
    #[inline]
    pub fn is_k4sync_emulated(&self) -> bool {
        self.signature() == K4SYNC_TRAILER_SIGNATURE
    }

    /// The timestamp converted like every device timestamp (reference §6.2).
    #[inline]
    pub fn device_ts_usec(&self) -> Usec {
        self.timestamp_ticks().to_usec()
    }
}

impl DepthTrailerRepr {
    /// A trailer as k4sync's emulator writes it.
    #[inline]
    pub const fn k4sync(
        timestamp_ticks: Ticks90k,
        sensor_temperature_celsius: f32,
        module_temperature_celsius: f32,
        usb_sof_seq: u64,
    ) -> Self {
        DepthTrailerRepr {
            signature: K4SYNC_TRAILER_SIGNATURE,
            block_size: K4SYNC_TRAILER_BLOCK_SIZE,
            block_version: K4SYNC_TRAILER_BLOCK_VERSION,
            timestamp_ticks,
            sensor_temperature_celsius,
            module_temperature_celsius,
            usb_sof_seq,
            usb_sof_pts: 0,
        }
    }

    /// Writes the trailer into the last 40 bytes of a whole raw frame.
    #[inline]
    pub fn emit_into_frame(&self, frame: &mut [u8]) -> Result<()> {
        let len = frame.len();
        room("raw depth frame", len, TRAILER_LEN)?;
        self.emit(&mut DepthTrailer::new_unchecked(
            frame.get_mut(len - TRAILER_LEN..).unwrap_or(&mut []),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WireError;
    use std::vec;
    use std::vec::Vec;

    fn trailer_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        b.extend_from_slice(&40u16.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&18_000u64.to_le_bytes());
        b.extend_from_slice(&36.5f32.to_le_bytes());
        b.extend_from_slice(&41.25f32.to_le_bytes());
        b.extend_from_slice(&777u64.to_le_bytes());
        b.extend_from_slice(&0xABCDu64.to_le_bytes());
        b
    }

    #[test]
    fn fields_are_read_at_their_offsets_and_any_signature_is_accepted() {
        let bytes = trailer_bytes();
        let t = DepthTrailer::new_checked(&bytes[..]).unwrap();
        assert_eq!(t.signature(), 0x1234_5678);
        assert!(!t.is_k4sync_emulated());
        assert_eq!(t.block_size(), 40);
        assert_eq!(t.block_version(), 2);
        assert_eq!(t.timestamp_ticks(), Ticks90k(18_000));
        assert_eq!(t.device_ts_usec(), Usec(200_000));
        assert_eq!(t.sensor_temperature_celsius(), 36.5);
        assert_eq!(t.module_temperature_celsius(), 41.25);
        assert_eq!(t.usb_sof_seq(), 777);
        assert_eq!(t.usb_sof_pts(), 0xABCD);
    }

    #[test]
    fn trailer_is_read_from_the_end_of_an_exactly_sized_frame() {
        let mode = SensorMode::PseudoCommon;
        let mut frame = vec![0u8; mode.raw_frame_size()];
        let repr = DepthTrailerRepr::k4sync(Ticks90k(90_000), 30.0, 31.0, 5);
        repr.emit_into_frame(&mut frame).unwrap();
        let t = DepthTrailer::from_frame_in_mode(&frame, mode).unwrap();
        assert!(t.is_k4sync_emulated());
        assert_eq!(DepthTrailerRepr::parse(&t).unwrap(), repr);
    }

    #[test]
    fn frames_of_the_wrong_size_are_rejected() {
        let frame = vec![0u8; 1000];
        assert_eq!(
            DepthTrailer::from_frame(&frame[..999], 1000).unwrap_err(),
            WireError::Truncated {
                packet: "raw depth frame",
                field: "frame",
                needed: 1000,
                got: 999
            }
        );
        assert_eq!(
            DepthTrailer::from_frame(&frame, 999).unwrap_err(),
            WireError::TooLong {
                packet: "raw depth frame",
                max: 999,
                got: 1000
            }
        );
        assert!(DepthTrailer::from_frame(&frame[..39], 39).is_err());
    }

    #[test]
    fn our_signature_spells_k4sy() {
        assert_eq!(&K4SYNC_TRAILER_SIGNATURE.to_le_bytes(), b"K4SY");
    }
}
