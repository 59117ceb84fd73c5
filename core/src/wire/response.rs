//! Response (status) packets: the 16 bytes that end every command transaction on the resp IN
//! endpoint, and the firmware status codes they carry (reference §2.2, §2.3, §2.5).
//!
//! [`check_response`] is the host's transport-level acceptance test (§2.3 step 6): exactly 16
//! bytes, the response packet_type, the transaction id of the command. Whether a non-zero
//! status is fatal is the caller's choice (§2.3 step 7), so it is returned, not judged.

use core::fmt;

use crate::error::Result;
use crate::wire::field::{check_len_within, check_magic, Field};

/// packet_type of every response packet (bytes `00 E0 6F 0A`).
pub const PACKET_TYPE: u32 = 0x0A6F_E000;
/// A response is always exactly this long.
pub const PACKET_LEN: usize = 16;

const PACKET: &str = "response packet";

/// Named byte ranges of the response packet.
pub mod field {
    use super::Field;

    pub const PACKET_TYPE: Field = 0..4;
    pub const TRANSACTION_ID: Field = 4..8;
    pub const STATUS: Field = 8..12;
    pub const RESERVED: Field = 12..16;
}

enum_with_unknown! {
    /// Firmware status of a transaction, with the SDK's enum suffix as its name. Only
    /// [`Status::Success`] is success; the others are named for diagnostics.
    pub enum Status(u32),
    /// A value outside the SDK's table.
    unknown Unknown, sdk_row -> &'static str {
        Success = 0x000 => "SUCCESS",
        Error = 0x001 => "ERROR",
        InvalidParameter = 0x003 => "INVALID_PARAMETER",
        CommandBusy = 0x007 => "COMMAND_BUSY",
        NotImplemented = 0x008 => "NOT_IMPLEMENTED",
        OutOfMemory = 0x009 => "OUT_OF_MEMORY",
        ParamBadTag = 0x00D => "PARAM_BAD_TAG",
        InvalidPayloadSize = 0x012 => "INVALID_PAYLOAD_SIZE",
        Failed = 0x063 => "FAILED",
        WrongCommandState = 0x101 => "WRONG_COMMAND_STATE",
        WrongDeviceState = 0x102 => "WRONG_DEVICE_STATE",
        AdcInvalidChannel = 0x480 => "ADC_INVALID_CHANNEL",
        AdcIncorrectChannel = 0x481 => "ADC_INCORRECT_CHANNEL",
        AdcTimeout = 0x482 => "ADC_TIMEOUT",
        AdcUnknownDevice = 0x483 => "ADC_UNKNOWN_DEVICE",
        AdcUnsupportedDevice = 0x484 => "ADC_UNSUPPORTED_DEVICE",
        AdcUnsupportedSignal = 0x485 => "ADC_UNSUPPORTED_SIGNAL",
        AdcInvalidInput = 0x486 => "ADC_INVALID_INPUT",
        AdcDataNotAvailable = 0x487 => "ADC_DATA_NOT_AVAILABLE",
    }
}

impl Status {
    #[inline]
    pub const fn is_success(self) -> bool {
        matches!(self, Status::Success)
    }

    /// The SDK's enum suffix (`SUCCESS`, `INVALID_PARAMETER`, …); `UNKNOWN` otherwise.
    #[inline]
    pub const fn sdk_name(self) -> &'static str {
        match self.sdk_row() {
            Some(name) => name,
            None => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Unknown(raw) => write!(f, "UNKNOWN({raw:#x})"),
            known => f.write_str(known.sdk_name()),
        }
    }
}

view! {
    /// A zero-copy view of one 16-byte response.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ResponsePacket, checked by check;
}

fields! {
    impl ResponsePacket =>
    /// The meaning of a response packet; emit writes all 16 bytes, reserved as 0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    ResponseRepr: PACKET_LEN, PACKET, checked by check {
        packet_type, set_packet_type: u32 = field::PACKET_TYPE => PACKET_TYPE;
        transaction_id, set_transaction_id: u32 = field::TRANSACTION_ID;
        status, set_status: Status = field::STATUS;
        reserved, set_reserved: u32 = field::RESERVED => 0;
    }
}

impl<T: AsRef<[u8]>> ResponsePacket<T> {
    /// Exactly 16 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len_within(PACKET, "whole packet", len, PACKET_LEN, PACKET_LEN)
    }

    /// The checks of `new_checked`: [`check_len`](Self::check_len) and the response
    /// packet_type. The reserved word is not checked, as the host does not check it.
    #[inline]
    pub fn check(&self) -> Result<()> {
        self.check_len()?;
        check_magic(PACKET, "packet_type", PACKET_TYPE, self.packet_type())?;
        Ok(())
    }
}

impl ResponseRepr {
    #[inline]
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        let mut bytes = [0u8; PACKET_LEN];
        self.write(&mut ResponsePacket::new_unchecked(&mut bytes[..]));
        bytes
    }
}

/// Why the host rejects a status transfer at transport level (reference §2.3 step 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// The status transfer did not deliver exactly 16 bytes.
    WrongLength { got: usize },
    /// packet_type is not 0x0A6FE000.
    BadPacketType { found: u32 },
    /// The response answers a different transaction.
    TransactionIdMismatch { expected: u32, found: u32 },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::WrongLength { got } => write!(
                f,
                "response packet: status transfer delivered {got} bytes, expected exactly {PACKET_LEN}"
            ),
            ResponseError::BadPacketType { found } => write!(
                f,
                "response packet: packet_type is {found:#010x}, expected {PACKET_TYPE:#010x}"
            ),
            ResponseError::TransactionIdMismatch { expected, found } => write!(
                f,
                "response packet: transaction id {found} answers a different command than {expected}"
            ),
        }
    }
}

impl core::error::Error for ResponseError {}

/// Accepts a status transfer for the command with `expected_tid` and returns its status.
#[inline]
pub fn check_response(
    expected_tid: u32,
    bytes: &[u8],
) -> core::result::Result<Status, ResponseError> {
    if bytes.len() != PACKET_LEN {
        return Err(ResponseError::WrongLength { got: bytes.len() });
    }
    let packet = ResponsePacket::new_unchecked(bytes);
    if packet.packet_type() != PACKET_TYPE {
        return Err(ResponseError::BadPacketType {
            found: packet.packet_type(),
        });
    }
    if packet.transaction_id() != expected_tid {
        return Err(ResponseError::TransactionIdMismatch {
            expected: expected_tid,
            found: packet.transaction_id(),
        });
    }
    Ok(packet.status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WireError;

    const SERIAL_OK: [u8; 16] = [0x00, 0xE0, 0x6F, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn success_for_transaction_zero_matches_reference_bytes() {
        let repr = ResponseRepr {
            transaction_id: 0,
            status: Status::Success,
        };
        assert_eq!(repr.to_bytes(), SERIAL_OK);
        let mut buf = [0xAAu8; 16];
        assert_eq!(
            repr.emit(&mut ResponsePacket::new_unchecked(&mut buf[..])),
            Ok(())
        );
        assert_eq!(buf, SERIAL_OK);
        let view = ResponsePacket::new_checked(&SERIAL_OK[..]);
        assert_eq!(
            view.map(|v| (
                v.packet_type(),
                v.transaction_id(),
                v.status(),
                v.reserved()
            )),
            Ok((PACKET_TYPE, 0, Status::Success, 0))
        );
        assert_eq!(check_response(0, &SERIAL_OK), Ok(Status::Success));
    }

    #[test]
    fn status_codes_round_trip_including_unknown_values() {
        assert_eq!(Status::ALL.len(), 19);
        for status in Status::ALL {
            assert_eq!(Status::from_raw(status.raw()), *status);
        }
        assert_eq!(Status::from_raw(0x12), Status::InvalidPayloadSize);
        assert_eq!(Status::from_raw(2), Status::Unknown(2));
        assert_eq!(Status::Unknown(0xdead).raw(), 0xdead);
        assert_eq!(
            std::format!("{}", Status::WrongDeviceState),
            "WRONG_DEVICE_STATE"
        );
        assert_eq!(std::format!("{}", Status::Unknown(2)), "UNKNOWN(0x2)");
        assert!(Status::Success.is_success());
        assert!(!Status::Failed.is_success());
    }

    #[test]
    fn check_response_distinguishes_length_magic_and_transaction_id() {
        assert_eq!(
            check_response(0, &SERIAL_OK[..15]),
            Err(ResponseError::WrongLength { got: 15 })
        );
        let mut long = [0u8; 17];
        long[..16].copy_from_slice(&SERIAL_OK);
        assert_eq!(
            check_response(0, &long),
            Err(ResponseError::WrongLength { got: 17 })
        );
        let mut magic = SERIAL_OK;
        magic[3] = 0x0B;
        assert_eq!(
            check_response(0, &magic),
            Err(ResponseError::BadPacketType { found: 0x0B6F_E000 })
        );
        assert_eq!(
            check_response(5, &SERIAL_OK),
            Err(ResponseError::TransactionIdMismatch {
                expected: 5,
                found: 0
            })
        );
        let failed = ResponseRepr {
            transaction_id: 9,
            status: Status::ParamBadTag,
        };
        assert_eq!(
            check_response(9, &failed.to_bytes()),
            Ok(Status::ParamBadTag)
        );
    }

    #[test]
    fn reserved_word_is_not_checked_but_length_is_exact() {
        let mut reserved = SERIAL_OK;
        reserved[15] = 0x55;
        assert!(ResponsePacket::new_checked(&reserved[..]).is_ok());
        assert!(matches!(
            ResponsePacket::new_checked(&SERIAL_OK[..12]),
            Err(WireError::Truncated {
                needed: 16,
                got: 12,
                ..
            })
        ));
    }
}
