//! Command packets (host → cmd OUT endpoint) and the typed command catalogue of both MCUs
//! (reference §2.1, §2.4, §3.1, §4.1).
//!
//! A command transfer is a 20-byte header followed by 0..=128 bytes of command data; the OUT
//! transfer is exactly that long. [`CommandPacket`] is the zero-copy view over such a transfer,
//! [`CommandRepr`] its validated meaning (transaction id, payload_size and a typed
//! [`Command`]). The payload_size announces the data phase that follows on the endpoints; it
//! is not part of this packet's bytes.
//!
//! Parsing is split so that a device model can always answer: `CommandPacket::new_checked`
//! validates only the framing, after which the transaction id is readable even when
//! [`CommandRepr::parse`] then fails with [`CommandError::UnknownCommand`] or a bad argument.

use core::fmt;

use crate::error::Result;
use crate::types::{Fps, SensorMode};
use crate::wire::colour_mcu::{JackState, SysConfig};
use crate::wire::depth_mcu::{
    calibration_read_size, ComponentVersions, FirmwareUpdateStatus, NV_DATA_READ_SIZE,
    SERIAL_READ_SIZE,
};
use crate::wire::field::{check_len_within, check_magic, room, set_u32_le, set_u8, u32_le, u8_at};
pub use crate::wire::usb::Mcu;
use crate::WireError;

/// packet_type of every command packet (bytes `09 20 02 06`).
pub const PACKET_TYPE: u32 = 0x0602_2009;
/// Length of the command header.
pub const HEADER_LEN: usize = 20;
/// Most command data a packet may carry.
pub const MAX_DATA_LEN: usize = 128;
/// Longest command transfer.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + MAX_DATA_LEN;
/// Largest payload_size the host will announce (2^31 − 1).
pub const MAX_PAYLOAD_SIZE: u32 = 0x7FFF_FFFF;

const PACKET: &str = "command packet";

/// Named byte ranges of the command header.
pub mod field {
    use crate::wire::field::Field;

    pub const PACKET_TYPE: Field = 0..4;
    pub const TRANSACTION_ID: Field = 4..8;
    pub const PAYLOAD_SIZE: Field = 8..12;
    pub const COMMAND: Field = 12..16;
    pub const RESERVED: Field = 16..20;
    /// Start of the command data, which runs to the end of the transfer.
    pub const DATA: usize = 20;
}

/// The data phase that follows a command packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DataPhase {
    /// Only the 16-byte status follows.
    None,
    /// Device → host on the resp IN endpoint, at most payload_size bytes.
    Read,
    /// Host → device on the cmd OUT endpoint, exactly payload_size bytes.
    Write,
}

/// `Some(Command::X)` for a command without arguments, `None` for one with.
macro_rules! unit_command {
    ($variant:ident) => {
        Some(Command::$variant)
    };
    ($variant:ident $($arguments:tt)+) => {
        None
    };
}

/// The catalogue, one row per command: [`Command`] with its typed argument, [`CommandCode`]
/// with its raw value, SDK name, MCU, data phase and command-data length, and the mapping
/// between them.
macro_rules! catalogue {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($field:ident: $field_ty:ty),+ })? $(($tuple:ty))?
            = $raw:literal, $name:literal, $mcu:ident, $phase:ident, $data_len:literal;
    )+) => {
        /// Every command of the reference's catalogues, with its typed command-data argument.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum Command {
            $( $(#[$doc])* $variant $({ $($field: $field_ty),+ })? $(($tuple))?, )+
        }

        enum_with_unknown! {
            /// A command code as it appears in the header, including codes neither MCU
            /// defines. `ALL` lists the catalogue order (depth MCU, then colour MCU).
            pub enum CommandCode(u32), unknown Unknown {
                $( $variant = $raw, )+
            }
        }

        impl CommandCode {
            /// The SDK's name without its `DEV_CMD_` prefix; both resets are `RESET`.
            #[inline]
            pub const fn sdk_name(self) -> &'static str {
                match self {
                    $( CommandCode::$variant => $name, )+
                    CommandCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// The MCU that defines this code, `None` for unknown codes.
            #[inline]
            pub const fn mcu(self) -> Option<Mcu> {
                match self {
                    $( CommandCode::$variant => Some(Mcu::$mcu), )+
                    CommandCode::Unknown(_) => None,
                }
            }

            /// The data phase of this command; `None` for unknown codes. VERSION_GET and
            /// GET_SYS_CFG are never sent by the SDK and are modelled without one.
            #[inline]
            pub const fn data_phase(self) -> Option<DataPhase> {
                match self {
                    $( CommandCode::$variant => Some(DataPhase::$phase), )+
                    CommandCode::Unknown(_) => None,
                }
            }

            /// Exact length of the command data this code carries; `None` for unknown codes.
            #[inline]
            pub const fn data_len(self) -> Option<usize> {
                match self {
                    $( CommandCode::$variant => Some($data_len), )+
                    CommandCode::Unknown(_) => None,
                }
            }
        }

        impl Command {
            #[inline]
            pub const fn code(&self) -> CommandCode {
                match self {
                    $( Command::$variant { .. } => CommandCode::$variant, )+
                }
            }
        }

        impl CommandCode {
            /// The command of a code whose command carries no data; `None` otherwise.
            #[inline]
            const fn unit_command(self) -> Option<Command> {
                match self {
                    $( CommandCode::$variant => unit_command!($variant $({ $($field)+ })? $(($tuple))?), )+
                    CommandCode::Unknown(_) => None,
                }
            }
        }
    };
}

catalogue! {
    /// Depth MCU reset.
    DepthReset = 0x0000_0000, "RESET", Depth, None, 0;
    /// Defined by the SDK but never sent.
    VersionGet = 0x0000_0002, "VERSION_GET", Depth, None, 0;
    DepthStart = 0x0000_0009, "DEPTH_START", Depth, None, 0;
    DepthStop = 0x0000_000A, "DEPTH_STOP", Depth, None, 0;
    /// With a u32 NV tag; read data phase.
    NvDataGet { tag: u32 } = 0x0000_0022, "NV_DATA_GET", Depth, Read, 4;
    /// With the sensor mode.
    DepthModeSet { mode: SensorMode } = 0x0000_00E1, "DEPTH_MODE_SET", Depth, None, 4;
    DepthPowerOff = 0x0000_00EF, "DEPTH_POWER_OFF", Depth, None, 0;
    DepthPowerOn = 0x0000_00F0, "DEPTH_POWER_ON", Depth, None, 0;
    DepthStreamStart = 0x0000_00F1, "DEPTH_STREAM_START", Depth, None, 0;
    DepthStreamStop = 0x0000_00F2, "DEPTH_STREAM_STOP", Depth, None, 0;
    /// With the literal frame rate.
    DepthFpsSet { fps: Fps } = 0x0000_0103, "DEPTH_FPS_SET", Depth, None, 4;
    /// Read data phase (calibration JSON).
    ReadCalibration = 0x0000_0111, "DEPTH_READ_CALIBRATION_DATA", Depth, Read, 0;
    /// Read data phase (ASCII serial).
    ReadProductSn = 0x0000_0115, "DEPTH_READ_PRODUCT_SN", Depth, Read, 0;
    /// Read data phase (18-byte versions).
    ComponentVersionGet = 0x0000_0201, "COMPONENT_VERSION_GET", Depth, Read, 0;
    /// With 2 bytes of package info; write data phase (the firmware image).
    DownloadFirmware { last_package: u8, package_size_low: u8 }
        = 0x0000_0202, "DOWNLOAD_FIRMWARE", Depth, Write, 2;
    /// Read data phase (8-byte status).
    GetFirmwareUpdateStatus = 0x0000_0203, "GET_FIRMWARE_UPDATE_STATUS", Depth, Read, 0;
    /// Colour MCU reset.
    ColourReset = 0x8000_0000, "RESET", Colour, None, 0;
    /// With the 13-byte packed sync configuration.
    SetSysCfg(SysConfig) = 0x8000_0001, "SET_SYS_CFG", Colour, None, 13;
    /// Defined by the SDK but never sent.
    GetSysCfg = 0x8000_0002, "GET_SYS_CFG", Colour, None, 0;
    ImuStreamStart = 0x8000_0003, "IMU_STREAM_START", Colour, None, 0;
    ImuStreamStop = 0x8000_0004, "IMU_STREAM_STOP", Colour, None, 0;
    /// Read data phase (1 byte of jack bits).
    GetJackState = 0x8000_0006, "GET_JACK_STATE", Colour, Read, 0;
}

impl fmt::Display for CommandCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandCode::Unknown(raw) => write!(f, "UNKNOWN({raw:#010x})"),
            known => f.write_str(known.sdk_name()),
        }
    }
}

/// Why a command packet could not be turned into a [`CommandRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CommandError {
    /// Framing, payload_size or command-data problem; names the field.
    Wire(WireError),
    /// A well-framed packet whose command code neither MCU defines.
    UnknownCommand { transaction_id: u32, code: u32 },
}

impl From<WireError> for CommandError {
    #[inline]
    fn from(e: WireError) -> Self {
        CommandError::Wire(e)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Wire(e) => e.fmt(f),
            CommandError::UnknownCommand {
                transaction_id,
                code,
            } => write!(
                f,
                "command packet {transaction_id}: command code {code:#010x} is not defined by either MCU"
            ),
        }
    }
}

impl core::error::Error for CommandError {}

impl Command {
    #[inline]
    pub const fn mcu(&self) -> Mcu {
        match self.code().mcu() {
            Some(mcu) => mcu,
            None => Mcu::Depth,
        }
    }

    /// Length of this command's command data (the bytes after the header, not the data phase).
    #[inline]
    pub const fn data_len(&self) -> usize {
        match self.code().data_len() {
            Some(len) => len,
            None => 0,
        }
    }

    #[inline]
    pub const fn data_phase(&self) -> DataPhase {
        match self.code().data_phase() {
            Some(phase) => phase,
            None => DataPhase::None,
        }
    }

    /// The payload_size the SDK announces with this command: 0 without a data phase, its
    /// buffer size for reads (the first try for calibration, see
    /// [`calibration_read_size`]). `None` for DOWNLOAD_FIRMWARE, whose size is the image's.
    #[inline]
    pub const fn sdk_payload_size(&self) -> Option<u32> {
        match self {
            Command::NvDataGet { .. } => Some(NV_DATA_READ_SIZE),
            Command::ReadCalibration => calibration_read_size(0),
            Command::ReadProductSn => Some(SERIAL_READ_SIZE),
            Command::ComponentVersionGet => Some(ComponentVersions::LEN as u32),
            Command::GetFirmwareUpdateStatus => Some(FirmwareUpdateStatus::LEN as u32),
            Command::GetJackState => Some(JackState::READ_SIZE),
            Command::DownloadFirmware { .. } => None,
            _ => Some(0),
        }
    }

    /// Writes the command data into `buf`, which must hold at least [`Command::data_len`]
    /// bytes; returns the number written.
    #[inline]
    pub fn emit_data(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.data_len();
        room("command data", buf.len(), len)?;
        match *self {
            Command::NvDataGet { tag } => set_u32_le(buf, 0..4, tag),
            Command::DepthModeSet { mode } => set_u32_le(buf, 0..4, mode.wire_value()),
            Command::DepthFpsSet { fps } => set_u32_le(buf, 0..4, fps.hz()),
            Command::DownloadFirmware {
                last_package,
                package_size_low,
            } => {
                set_u8(buf, 0, last_package);
                set_u8(buf, 1, package_size_low);
            }
            Command::SetSysCfg(config) => config.emit(buf)?,
            _ => {}
        }
        Ok(len)
    }

    /// Decodes the command data of a known code; the data must be exactly as long as the code
    /// requires and its values in range.
    #[inline]
    pub fn parse_data(code: CommandCode, data: &[u8]) -> Result<Command> {
        let exact = |needed: usize| {
            check_len_within(code.sdk_name(), "command data", data.len(), needed, needed)
        };
        let word = || exact(4).map(|()| u32_le(data, 0..4));
        let bad = |field, value: u32| WireError::BadValue {
            packet: code.sdk_name(),
            field,
            value: value.into(),
        };
        Ok(match code {
            CommandCode::NvDataGet => Command::NvDataGet { tag: word()? },
            CommandCode::DepthModeSet => {
                let word = word()?;
                let mode = SensorMode::from_wire(word).ok_or(bad("sensor mode", word))?;
                Command::DepthModeSet { mode }
            }
            CommandCode::DepthFpsSet => {
                let word = word()?;
                let fps = Fps::from_hz(word).ok_or(bad("fps", word))?;
                Command::DepthFpsSet { fps }
            }
            CommandCode::DownloadFirmware => {
                exact(2)?;
                Command::DownloadFirmware {
                    last_package: u8_at(data, 0),
                    package_size_low: u8_at(data, 1),
                }
            }
            CommandCode::SetSysCfg => Command::SetSysCfg(SysConfig::parse(data)?),
            unit => {
                let command = unit.unit_command().ok_or(WireError::BadValue {
                    packet: PACKET,
                    field: "command",
                    value: unit.raw().into(),
                })?;
                exact(0)?;
                command
            }
        })
    }
}

view! {
    /// A zero-copy view of one command OUT transfer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct CommandPacket, checked by check;
}

fields! {
    impl CommandPacket {
        packet_type, set_packet_type: u32 = field::PACKET_TYPE;
        transaction_id, set_transaction_id: u32 = field::TRANSACTION_ID;
        /// Length of the data phase announced by this command (not part of this transfer).
        payload_size, set_payload_size: u32 = field::PAYLOAD_SIZE;
        command_code, set_command_code: CommandCode = field::COMMAND;
        reserved, set_reserved: u32 = field::RESERVED;
    }
}

impl<T: AsRef<[u8]>> CommandPacket<T> {
    /// A header and at most [`MAX_DATA_LEN`] bytes of command data.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        check_len_within(PACKET, "header", len, HEADER_LEN, MAX_PACKET_LEN)
    }

    /// The framing checks of `new_checked`: [`check_len`](Self::check_len), packet_type and
    /// the reserved word.
    #[inline]
    pub fn check(&self) -> Result<()> {
        self.check_len()?;
        check_magic(PACKET, "packet_type", PACKET_TYPE, self.packet_type())?;
        if self.reserved() != 0 {
            return Err(WireError::BadValue {
                packet: PACKET,
                field: "reserved",
                value: self.reserved().into(),
            });
        }
        Ok(())
    }

    /// The command data: everything after the header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::DATA..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CommandPacket<T> {
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::DATA..)
            .unwrap_or_default()
    }
}

/// The meaning of a command packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandRepr {
    pub transaction_id: u32,
    /// Announced data-phase length (≤ [`MAX_PAYLOAD_SIZE`]).
    pub payload_size: u32,
    pub command: Command,
}

impl CommandRepr {
    /// `command` with the payload_size the SDK uses for it (0 for DOWNLOAD_FIRMWARE; use
    /// [`CommandRepr::download_firmware`]).
    #[inline]
    pub const fn new(transaction_id: u32, command: Command) -> Self {
        let payload_size = match command.sdk_payload_size() {
            Some(size) => size,
            None => 0,
        };
        CommandRepr {
            transaction_id,
            payload_size,
            command,
        }
    }

    /// DEPTH_READ_CALIBRATION_DATA for the given 0-based attempt, `None` after the SDK's 10.
    #[inline]
    pub const fn read_calibration(transaction_id: u32, attempt: u32) -> Option<Self> {
        match calibration_read_size(attempt) {
            Some(payload_size) => Some(CommandRepr {
                transaction_id,
                payload_size,
                command: Command::ReadCalibration,
            }),
            None => None,
        }
    }

    /// DOWNLOAD_FIRMWARE announcing an image of `image_len` bytes, as the SDK's firmware tool
    /// sends it (last-package flag 1, low byte of the size).
    #[inline]
    pub fn download_firmware(transaction_id: u32, image_len: usize) -> Result<Self> {
        let payload_size = u32::try_from(image_len)
            .ok()
            .filter(|&size| size <= MAX_PAYLOAD_SIZE)
            .ok_or(WireError::BadValue {
                packet: PACKET,
                field: "payload_size",
                value: image_len as u64,
            })?;
        Ok(CommandRepr {
            transaction_id,
            payload_size,
            command: Command::DownloadFirmware {
                last_package: 1,
                package_size_low: (image_len & 0xFF) as u8,
            },
        })
    }

    /// Decodes a checked view. Unknown codes yield [`CommandError::UnknownCommand`]; bad
    /// command data and payload_size > 2^31 − 1 yield [`CommandError::Wire`] naming the field.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &CommandPacket<T>,
    ) -> core::result::Result<Self, CommandError> {
        packet.check()?;
        let code = packet.command_code();
        if let CommandCode::Unknown(code) = code {
            return Err(CommandError::UnknownCommand {
                transaction_id: packet.transaction_id(),
                code,
            });
        }
        let payload_size = packet.payload_size();
        if payload_size > MAX_PAYLOAD_SIZE {
            return Err(WireError::BadValue {
                packet: PACKET,
                field: "payload_size",
                value: payload_size.into(),
            }
            .into());
        }
        Ok(CommandRepr {
            transaction_id: packet.transaction_id(),
            payload_size,
            command: Command::parse_data(code, packet.data())?,
        })
    }

    /// Exact length of the OUT transfer: header plus command data.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.command.data_len()
    }

    /// Writes the header and command data into the first [`buffer_len`](Self::buffer_len)
    /// bytes of the view.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut CommandPacket<T>) -> Result<()> {
        room(PACKET, packet.buffer.as_ref().len(), self.buffer_len())?;
        packet.set_packet_type(PACKET_TYPE);
        packet.set_transaction_id(self.transaction_id);
        packet.set_payload_size(self.payload_size);
        packet.set_command_code(self.command.code());
        packet.set_reserved(0);
        self.command.emit_data(packet.data_mut())?;
        Ok(())
    }

    /// The OUT transfer as a fixed-capacity byte vector of exactly `buffer_len()` bytes.
    #[inline]
    pub fn to_bytes(&self) -> Result<heapless::Vec<u8, MAX_PACKET_LEN>> {
        let mut bytes = heapless::Vec::new();
        bytes
            .resize(self.buffer_len(), 0)
            .map_err(|_| WireError::BufferTooSmall {
                packet: PACKET,
                needed: self.buffer_len(),
                got: MAX_PACKET_LEN,
            })?;
        self.emit(&mut CommandPacket::new_unchecked(&mut bytes[..]))?;
        Ok(bytes)
    }
}

/// A per-interface transaction counter: starts at 0 when the interface is opened and
/// increments, wrapping, for every command packet built (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TransactionIds {
    next: u32,
}

impl TransactionIds {
    #[inline]
    pub const fn new() -> Self {
        TransactionIds { next: 0 }
    }

    /// The id for the next command packet.
    #[inline]
    pub fn next_id(&mut self) -> u32 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }

    /// The id the next call to [`next_id`](Self::next_id) will hand out.
    #[inline]
    pub const fn peek(&self) -> u32 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WiredSyncMode;

    fn emit(repr: &CommandRepr) -> heapless::Vec<u8, MAX_PACKET_LEN> {
        match repr.to_bytes() {
            Ok(bytes) => bytes,
            Err(e) => panic!("emit failed: {e}"),
        }
    }

    fn parse(bytes: &[u8]) -> core::result::Result<CommandRepr, CommandError> {
        CommandRepr::parse(&CommandPacket::new_checked(bytes)?)
    }

    #[test]
    fn serial_read_with_transaction_id_zero_matches_reference_header_bytes() {
        let repr = CommandRepr::new(0, Command::ReadProductSn);
        let bytes = emit(&repr);
        assert_eq!(
            bytes.as_slice(),
            [0x09, 0x20, 0x02, 0x06, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0x15, 0x01, 0, 0, 0, 0, 0, 0]
        );
        let view = CommandPacket::new_unchecked(&bytes[..]);
        assert_eq!(view.packet_type(), PACKET_TYPE);
        assert_eq!(view.transaction_id(), 0);
        assert_eq!(view.payload_size(), 255);
        assert_eq!(view.command_code(), CommandCode::ReadProductSn);
        assert_eq!(view.reserved(), 0);
        assert!(view.data().is_empty());
        assert_eq!(parse(&bytes), Ok(repr));
    }

    #[test]
    fn depth_mode_set_nfov_carries_sensor_mode_four_in_24_bytes() {
        let t = 0x0102_0304;
        let repr = CommandRepr::new(
            t,
            Command::DepthModeSet {
                mode: SensorMode::LongThrowNative,
            },
        );
        let bytes = emit(&repr);
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[0..4], [0x09, 0x20, 0x02, 0x06]);
        assert_eq!(bytes[4..8], t.to_le_bytes());
        assert_eq!(bytes[8..12], [0, 0, 0, 0]);
        assert_eq!(bytes[12..16], [0xE1, 0, 0, 0]);
        assert_eq!(bytes[16..20], [0, 0, 0, 0]);
        assert_eq!(bytes[20..24], [0x04, 0, 0, 0]);
        assert_eq!(parse(&bytes), Ok(repr));
    }

    #[test]
    fn fps_30_nv_tag_2_calibration_and_jack_state_match_reference_bytes() {
        let fps = emit(&CommandRepr::new(
            7,
            Command::DepthFpsSet { fps: Fps::Fps30 },
        ));
        assert_eq!(fps[12..16], [0x03, 0x01, 0, 0]);
        assert_eq!(fps[20..], [0x1E, 0, 0, 0]);

        let nv = emit(&CommandRepr::new(8, Command::NvDataGet { tag: 2 }));
        assert_eq!(nv[8..12], [0x80, 0x84, 0x1E, 0x00]);
        assert_eq!(nv[12..16], [0x22, 0, 0, 0]);
        assert_eq!(nv[20..], [0x02, 0, 0, 0]);

        let cal = CommandRepr::read_calibration(1, 0).map(|r| emit(&r));
        let Some(cal) = cal else {
            panic!("first calibration attempt must exist")
        };
        assert_eq!(cal.len(), 20);
        assert_eq!(cal[8..12], [0x00, 0x28, 0, 0]);
        assert_eq!(cal[12..16], [0x11, 0x01, 0, 0]);
        assert_eq!(
            CommandRepr::read_calibration(1, 1).map(|r| r.payload_size),
            Some(15_360)
        );
        assert_eq!(CommandRepr::read_calibration(1, 10), None);

        let jack = emit(&CommandRepr::new(1, Command::GetJackState));
        assert_eq!(jack[8..12], [0x01, 0, 0, 0]);
        assert_eq!(jack[12..16], [0x06, 0, 0, 0x80]);
        for bytes in [&fps[..], &nv[..], &cal[..], &jack[..]] {
            assert!(parse(bytes).is_ok());
        }
    }

    #[test]
    fn set_sys_cfg_is_a_33_byte_transfer_with_payload_size_zero() {
        let config = SysConfig::from_usec(WiredSyncMode::Subordinate, 160, 80, true);
        let repr = CommandRepr::new(2, Command::SetSysCfg(config));
        let bytes = emit(&repr);
        assert_eq!(
            bytes.as_slice(),
            [
                0x09, 0x20, 0x02, 0x06, 2, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0x80, 0, 0, 0, 0, 2, 0,
                0, 0, 0x0E, 0, 0, 0, 0x07, 0, 0, 0, 1
            ]
        );
        assert_eq!(parse(&bytes), Ok(repr));
    }

    #[test]
    fn framing_errors_name_length_magic_and_reserved() {
        let good = emit(&CommandRepr::new(0, Command::DepthStart));
        assert!(matches!(
            CommandPacket::new_checked(&good[..19]),
            Err(WireError::Truncated {
                needed: 20,
                got: 19,
                ..
            })
        ));
        let mut long = [0u8; 149];
        long[..20].copy_from_slice(&good);
        assert!(matches!(
            CommandPacket::new_checked(&long[..]),
            Err(WireError::TooLong {
                max: 148,
                got: 149,
                ..
            })
        ));
        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        assert!(matches!(
            CommandPacket::new_checked(&bad_magic[..]),
            Err(WireError::BadMagic {
                field: "packet_type",
                ..
            })
        ));
        let mut bad_reserved = good.clone();
        bad_reserved[19] = 1;
        assert!(matches!(
            CommandPacket::new_checked(&bad_reserved[..]),
            Err(WireError::BadValue {
                field: "reserved",
                ..
            })
        ));
    }

    #[test]
    fn unknown_code_keeps_code_and_transaction_id() {
        let mut bytes = emit(&CommandRepr::new(42, Command::DepthStart));
        bytes[12..16].copy_from_slice(&0x8000_0005u32.to_le_bytes());
        assert_eq!(
            parse(&bytes),
            Err(CommandError::UnknownCommand {
                transaction_id: 42,
                code: 0x8000_0005
            })
        );
        assert_eq!(
            CommandCode::from_raw(0x8000_0005),
            CommandCode::Unknown(0x8000_0005)
        );
    }

    #[test]
    fn invalid_arguments_name_their_field() {
        let mut fps = emit(&CommandRepr::new(
            0,
            Command::DepthFpsSet { fps: Fps::Fps5 },
        ));
        fps[20] = 7;
        assert!(matches!(
            parse(&fps),
            Err(CommandError::Wire(WireError::BadValue {
                field: "fps",
                value: 7,
                ..
            }))
        ));
        let mut mode = emit(&CommandRepr::new(
            0,
            Command::DepthModeSet {
                mode: SensorMode::Megapixel,
            },
        ));
        mode[20] = 6;
        assert!(matches!(
            parse(&mode),
            Err(CommandError::Wire(WireError::BadValue {
                field: "sensor mode",
                value: 6,
                ..
            }))
        ));
        let short_fps = &fps[..22];
        assert!(matches!(
            parse(short_fps),
            Err(CommandError::Wire(WireError::Truncated {
                packet: "DEPTH_FPS_SET",
                field: "command data",
                needed: 4,
                got: 2
            }))
        ));
        let mut start_with_data = [0u8; 21];
        start_with_data[..20].copy_from_slice(&emit(&CommandRepr::new(0, Command::DepthStart)));
        assert!(matches!(
            parse(&start_with_data),
            Err(CommandError::Wire(WireError::TooLong {
                max: 0,
                got: 1,
                ..
            }))
        ));
    }

    #[test]
    fn payload_size_above_2_pow_31_minus_1_is_rejected() {
        let mut bytes = emit(&CommandRepr::new(0, Command::ReadProductSn));
        bytes[8..12].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(CommandError::Wire(WireError::BadValue {
                field: "payload_size",
                ..
            }))
        ));
        bytes[8..12].copy_from_slice(&MAX_PAYLOAD_SIZE.to_le_bytes());
        assert!(parse(&bytes).is_ok());
        assert!(CommandRepr::download_firmware(0, 0x8000_0000).is_err());
        let fw = CommandRepr::download_firmware(3, 0x0012_3456);
        assert_eq!(
            fw.map(|r| (r.payload_size, r.command)),
            Ok((
                0x0012_3456,
                Command::DownloadFirmware {
                    last_package: 1,
                    package_size_low: 0x56
                }
            ))
        );
    }

    #[test]
    fn sdk_payload_sizes_match_the_reference() {
        let sizes = [
            (Command::ReadProductSn, Some(255)),
            (Command::ReadCalibration, Some(10_240)),
            (Command::NvDataGet { tag: 2 }, Some(2_000_000)),
            (Command::ComponentVersionGet, Some(18)),
            (Command::GetFirmwareUpdateStatus, Some(8)),
            (Command::GetJackState, Some(1)),
            (Command::DepthStart, Some(0)),
            (
                Command::DownloadFirmware {
                    last_package: 1,
                    package_size_low: 0,
                },
                None,
            ),
        ];
        for (command, size) in sizes {
            assert_eq!(command.sdk_payload_size(), size, "{command:?}");
        }
    }

    #[test]
    fn every_code_round_trips_and_reads_have_a_read_phase() {
        assert_eq!(CommandCode::ALL.len(), 22);
        for code in CommandCode::ALL {
            assert_eq!(CommandCode::from_raw(code.raw()), *code);
            let colour = code.raw() & 0x8000_0000 != 0;
            assert_eq!(code.mcu() == Some(Mcu::Colour), colour, "{code}");
        }
        assert_eq!(Command::GetJackState.data_phase(), DataPhase::Read);
        assert_eq!(
            CommandCode::DownloadFirmware.data_phase(),
            Some(DataPhase::Write)
        );
        assert_eq!(Command::ImuStreamStop.data_phase(), DataPhase::None);
        assert_eq!(
            std::format!("{}", CommandCode::Unknown(0x77)),
            "UNKNOWN(0x00000077)"
        );
    }

    #[test]
    fn transaction_ids_start_at_zero_and_wrap() {
        let mut ids = TransactionIds::new();
        assert_eq!(ids.next_id(), 0);
        assert_eq!(ids.next_id(), 1);
        let mut near_end = TransactionIds { next: u32::MAX };
        assert_eq!(near_end.next_id(), u32::MAX);
        assert_eq!(near_end.peek(), 0);
    }
}
