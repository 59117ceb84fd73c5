//! The command channel: one reference §2.3 transaction at a time over any [`Transport`], and
//! the depth/colour MCU operations built from it (§3.2, §3.4, §4.1–4.3, §7.1).
//!
//! A transaction is the command packet OUT, then either one write-data OUT transfer or one
//! read-data IN transfer, then a 16-byte status IN transfer, each with a 2000 ms timeout
//! (§2.4). Every packet takes the next transaction id of its MCU, also when the transaction
//! later fails on the wire; only a host-side argument rejection consumes none. IN transfers
//! are sized in whole max-size packets (nusb fact 1); a read result longer than
//! payload_size is an overflow.
//!
//! The `*_with_status` calls hand a non-zero firmware status back to the caller; the plain
//! calls turn it into [`Error::Status`].

use std::time::Duration;

use k4sync_core::sync::sequence::depth_start_sequence;
use k4sync_core::types::{Fps, SensorMode};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{
    Command, CommandCode, CommandRepr, DataPhase, Mcu, TransactionIds, MAX_PAYLOAD_SIZE,
};
use k4sync_core::wire::depth_mcu::{
    calibration_read_complete, calibration_read_size, check_nv_data_len, parse_serial,
    ComponentVersions, CALIBRATION_MAX_ATTEMPTS, SERIAL_READ_SIZE,
};
use k4sync_core::wire::response::{check_response, Status, PACKET_LEN};
use k4sync_core::WireError;

use crate::error::{Error, Phase};
use crate::transport::{in_transfer_len, Endpoint, TransferError, Transport};

/// Timeout of each transfer of a transaction (reference §2.4).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_millis(2000);
/// The readiness poll sends COMPONENT_VERSION_GET at most this often (reference §3.2.1).
pub const READINESS_POLL_ATTEMPTS: u32 = 20;
/// Pause after each failed readiness poll.
pub const READINESS_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A pause the channel takes between polls; replaceable so tests do not sleep.
pub type Sleep = Box<dyn FnMut(Duration) + Send>;

/// What a read transaction brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReply {
    pub status: Status,
    /// The read data phase, exactly as many bytes as the device sent.
    pub data: Vec<u8>,
}

/// Statuses of the two depth stop commands (reference §3.4), which are never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthStopStatus {
    pub stream_stop: Status,
    pub depth_stop: Status,
}

/// One camera's command channels to both MCUs.
pub struct CommandChannel<T: Transport> {
    transport: T,
    serial: Option<String>,
    depth_ids: TransactionIds,
    colour_ids: TransactionIds,
    timeout: Duration,
    sleep: Sleep,
}

impl<T: Transport> CommandChannel<T> {
    /// Wraps a freshly opened transport: both transaction counters start at 0 (§2.4). The
    /// camera is named by the transport's USB serial until [`Self::read_serial`] learns the
    /// product serial.
    pub fn new(transport: T) -> Self {
        let usb_serial = transport.usb_serial();
        let serial = (!usb_serial.is_empty()).then(|| usb_serial.to_string());
        CommandChannel {
            transport,
            serial,
            depth_ids: TransactionIds::new(),
            colour_ids: TransactionIds::new(),
            timeout: TRANSFER_TIMEOUT,
            sleep: Box::new(std::thread::sleep),
        }
    }

    /// Replaces the pause used between readiness polls.
    pub fn with_sleep(mut self, sleep: impl FnMut(Duration) + Send + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// Replaces the per-transfer timeout (2000 ms by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    /// The id the next packet to `mcu` will carry.
    pub fn next_transaction_id(&self, mcu: Mcu) -> u32 {
        match mcu {
            Mcu::Depth => self.depth_ids.peek(),
            Mcu::Colour => self.colour_ids.peek(),
        }
    }

    /// Sends a command without data phase, or with `data` as its write data phase, and
    /// returns the firmware status whatever it is.
    pub fn write_with_status(&mut self, command: Command, data: &[u8]) -> Result<Status, Error> {
        let payload_size = self.payload_size(command.code(), data.len())?;
        let reply = self.transact(command, payload_size, Io::Write(data))?;
        Ok(reply.status)
    }

    /// [`Self::write_with_status`], failing on a non-zero status.
    pub fn write(&mut self, command: Command, data: &[u8]) -> Result<(), Error> {
        let status = self.write_with_status(command, data)?;
        self.require_success(command, status)
    }

    /// Runs a read command with a `payload_size`-byte buffer and returns status and data.
    pub fn read_with_status(
        &mut self,
        command: Command,
        payload_size: u32,
    ) -> Result<ReadReply, Error> {
        self.payload_size(command.code(), payload_size as usize)?;
        self.transact(command, payload_size, Io::Read)
    }

    /// [`Self::read_with_status`], failing on a non-zero status.
    pub fn read(&mut self, command: Command, payload_size: u32) -> Result<Vec<u8>, Error> {
        let reply = self.read_with_status(command, payload_size)?;
        self.require_success(command, reply.status)?;
        Ok(reply.data)
    }

    /// DEPTH_READ_PRODUCT_SN (0x115): the product serial, validated as the SDK does (§3.2.2).
    /// The channel names the camera by it from then on.
    pub fn read_serial(&mut self) -> Result<String, Error> {
        let command = Command::ReadProductSn;
        let data = self.read(command, SERIAL_READ_SIZE)?;
        let serial = parse_serial(&data)
            .map_err(|e| self.payload_error(command, e))?
            .to_string();
        if !serial.is_empty() {
            self.serial = Some(serial.clone());
        }
        Ok(serial)
    }

    /// DEPTH_READ_CALIBRATION_DATA (0x111) with the SDK's growing-buffer retry (§3.2.5): a
    /// read succeeds only if it returned fewer bytes than the buffer held. A lost device ends
    /// the loop at once.
    pub fn read_calibration(&mut self) -> Result<Vec<u8>, Error> {
        let mut last = String::from("no attempt made");
        let mut last_size = 0;
        for attempt in 0..CALIBRATION_MAX_ATTEMPTS {
            let Some(size) = calibration_read_size(attempt) else {
                break;
            };
            last_size = size;
            match self.read(Command::ReadCalibration, size) {
                Ok(data) if calibration_read_complete(data.len(), size) => return Ok(data),
                Ok(data) => {
                    last = format!("{} bytes filled the {size}-byte buffer", data.len());
                }
                Err(e) if e.is_disconnected() => return Err(e),
                Err(e) => last = e.to_string(),
            }
            log::debug!("calibration read attempt {attempt} failed: {last}");
        }
        Err(Error::CalibrationIncomplete {
            serial: self.serial.clone(),
            attempts: CALIBRATION_MAX_ATTEMPTS,
            last_size,
            last,
        })
    }

    /// The readiness poll (COMPONENT_VERSION_GET with status, up to 20 tries, 500 ms after
    /// each failure but the last) followed by the versions read itself (§3.2.1, §7.1 step 5).
    pub fn read_versions(&mut self) -> Result<ComponentVersions, Error> {
        self.wait_until_ready()?;
        let command = Command::ComponentVersionGet;
        let data = self.read(command, ComponentVersions::LEN as u32)?;
        ComponentVersions::parse(&data).map_err(|e| self.payload_error(command, e))
    }

    /// The readiness poll alone.
    pub fn wait_until_ready(&mut self) -> Result<(), Error> {
        let mut last = String::new();
        for attempt in 1..=READINESS_POLL_ATTEMPTS {
            let command = Command::ComponentVersionGet;
            match self.read_with_status(command, ComponentVersions::LEN as u32) {
                Ok(reply)
                    if reply.status.is_success() && reply.data.len() >= ComponentVersions::LEN =>
                {
                    return Ok(())
                }
                Ok(reply) if !reply.status.is_success() => {
                    last = format!("status {}", reply.status);
                }
                Ok(reply) => last = format!("{} of 18 bytes", reply.data.len()),
                Err(e) if e.is_disconnected() => return Err(e),
                Err(e) => last = e.to_string(),
            }
            if attempt < READINESS_POLL_ATTEMPTS {
                (self.sleep)(READINESS_POLL_INTERVAL);
            }
        }
        Err(Error::NotReady {
            serial: self.serial.clone(),
            attempts: READINESS_POLL_ATTEMPTS,
            last,
        })
    }

    /// GET_JACK_STATE (0x80000006): which sync jacks hold a plug (§4.3).
    pub fn read_jack_state(&mut self) -> Result<JackState, Error> {
        let command = Command::GetJackState;
        let data = self.read(command, JackState::READ_SIZE)?;
        JackState::parse(&data).map_err(|e| self.payload_error(command, e))
    }

    /// SET_SYS_CFG (0x80000001): the wired sync mode, delays and LED flag (§4.2).
    pub fn set_sys_config(&mut self, config: SysConfig) -> Result<(), Error> {
        self.write(Command::SetSysCfg(config), &[])
    }

    /// The depth start sequence (§3.4): mode, NV tag 2 when `need_nv`, fps, depth start,
    /// stream start. Returns the NV blob when it was read. Arm the depth stream reader after.
    pub fn depth_start(
        &mut self,
        mode: SensorMode,
        fps: Fps,
        need_nv: bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut nv = None;
        for command in depth_start_sequence(mode, fps, need_nv) {
            match command.sdk_payload_size() {
                Some(size) if command.data_phase() == DataPhase::Read => {
                    let blob = self.read(command, size)?;
                    check_nv_data_len(blob.len()).map_err(|e| self.payload_error(command, e))?;
                    nv = Some(blob);
                }
                _ => self.write(command, &[])?,
            }
        }
        Ok(nv)
    }

    /// The depth stop sequence (§3.4): DEPTH_STREAM_STOP then DEPTH_STOP, both always sent,
    /// statuses returned rather than judged. A transfer failure of either is returned after
    /// both were tried. Cancel the depth stream reader before.
    pub fn depth_stop(&mut self) -> Result<DepthStopStatus, Error> {
        let stream_stop = self.write_with_status(Command::DepthStreamStop, &[]);
        let depth_stop = self.write_with_status(Command::DepthStop, &[]);
        Ok(DepthStopStatus {
            stream_stop: stream_stop?,
            depth_stop: depth_stop?,
        })
    }

    /// IMU_STREAM_START (0x80000003); arm the IMU stream reader after.
    pub fn imu_start(&mut self) -> Result<(), Error> {
        self.write(Command::ImuStreamStart, &[])
    }

    /// IMU_STREAM_STOP (0x80000004); cancel the IMU stream reader before.
    pub fn imu_stop(&mut self) -> Result<(), Error> {
        self.write(Command::ImuStreamStop, &[])
    }

    fn payload_size(&self, command: CommandCode, len: usize) -> Result<u32, Error> {
        u32::try_from(len)
            .ok()
            .filter(|&size| size <= MAX_PAYLOAD_SIZE)
            .ok_or_else(|| Error::PayloadTooLarge {
                serial: self.serial.clone(),
                command,
                len,
            })
    }

    fn transact(
        &mut self,
        command: Command,
        payload_size: u32,
        io: Io<'_>,
    ) -> Result<ReadReply, Error> {
        let mcu = command.mcu();
        let transaction_id = match mcu {
            Mcu::Depth => self.depth_ids.next_id(),
            Mcu::Colour => self.colour_ids.next_id(),
        };
        let out = Endpoint::command_out(mcu);
        let resp = Endpoint::response_in(mcu);
        let code = command.code();
        let packet = CommandRepr {
            transaction_id,
            payload_size,
            command,
        }
        .to_bytes()
        .map_err(|e| self.payload_error_on(code, out, e))?;

        self.transport
            .bulk_out(out, &packet, self.timeout)
            .map_err(|e| self.transfer_error(code, Phase::Command, e))?;

        let mut data = Vec::new();
        match io {
            Io::Write(bytes) if !bytes.is_empty() => self
                .transport
                .bulk_out(out, bytes, self.timeout)
                .map_err(|e| self.transfer_error(code, Phase::WriteData, e))?,
            Io::Write(_) => {}
            Io::Read => {
                let wanted = payload_size as usize;
                data = vec![0; in_transfer_len(wanted, self.transport.max_packet_size(resp))];
                let got = self
                    .transport
                    .bulk_in(resp, &mut data, self.timeout)
                    .map_err(|e| self.transfer_error(code, Phase::ReadData, e))?;
                if got > wanted {
                    let overflow = TransferError::Overflow {
                        endpoint: resp,
                        capacity: wanted,
                        got,
                    };
                    return Err(self.transfer_error(code, Phase::ReadData, overflow));
                }
                data.truncate(got);
            }
        }

        let mut status = vec![0; in_transfer_len(PACKET_LEN, self.transport.max_packet_size(resp))];
        let got = self
            .transport
            .bulk_in(resp, &mut status, self.timeout)
            .map_err(|e| self.transfer_error(code, Phase::Status, e))?;
        let status = check_response(transaction_id, status.get(..got).unwrap_or_default())
            .map_err(|source| Error::Response {
                serial: self.serial.clone(),
                command: code,
                endpoint: resp,
                source,
            })?;
        Ok(ReadReply { status, data })
    }

    fn require_success(&self, command: Command, status: Status) -> Result<(), Error> {
        if status.is_success() {
            return Ok(());
        }
        Err(Error::Status {
            serial: self.serial.clone(),
            command: command.code(),
            endpoint: Endpoint::response_in(command.mcu()),
            status,
        })
    }

    fn transfer_error(&self, command: CommandCode, phase: Phase, source: TransferError) -> Error {
        Error::Transfer {
            serial: self.serial.clone(),
            command,
            phase,
            source,
        }
    }

    fn payload_error(&self, command: Command, source: WireError) -> Error {
        self.payload_error_on(command.code(), Endpoint::response_in(command.mcu()), source)
    }

    fn payload_error_on(
        &self,
        command: CommandCode,
        endpoint: Endpoint,
        source: WireError,
    ) -> Error {
        Error::Payload {
            serial: self.serial.clone(),
            command,
            endpoint,
            source,
        }
    }
}

enum Io<'a> {
    Write(&'a [u8]),
    Read,
}
