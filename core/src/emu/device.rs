//! The device model: both MCUs' command transactions (reference §2, §3, §4) and the device
//! state they act on.

use crate::colour_control::{exposure_from_uvc, exposure_to_uvc, ColourControls, Exposure};
use crate::types::{ColorFormat, ColorResolution, Fps, SensorMode, WiredSyncMode};
use crate::wire::colour_mcu::{JackState, SysConfig};
use crate::wire::command::{Command, CommandError, CommandPacket, CommandRepr, DataPhase, Mcu};
use crate::wire::depth_mcu::{
    ComponentUpdateStatus, FirmwareComponent, FirmwareUpdateStatus, NvTag, StageStatus, UpdateStage,
};
use crate::wire::firmware::FirmwarePackage;
use crate::wire::response::{ResponseRepr, Status, PACKET_LEN};
use crate::WireError;

use super::calibration::write_calibration_json;
use super::clock::DeviceClock;
use super::fault::{mcu_index, Endpoint, Fault, Faults, TransferError};
use super::follow::Timeline;
use super::params::DeviceParams;
use super::sink::{Sink, SplitMix64};
use super::streams::Schedule;

mod poll;
mod sim;

/// Default SET_SYS_CFG state after power-up or a colour MCU reset: standalone, no delays,
/// LED on.
pub const DEFAULT_SYS_CONFIG: SysConfig = SysConfig {
    mode: WiredSyncMode::Standalone,
    subordinate_delay_ticks: 0,
    depth_delay_ticks: 0,
    privacy_led: true,
};

/// The read data a transaction will send, fixed when its command is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadData {
    Empty,
    Serial,
    Calibration,
    Versions,
    NvBlob,
    UpdateStatus(FirmwareUpdateStatus),
    Jack(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Txn {
    Idle,
    Read {
        tid: u32,
        payload_size: u32,
        data: ReadData,
        status: Status,
        silent: bool,
    },
    Write {
        tid: u32,
        payload_size: u32,
        received: u64,
        silent: bool,
    },
    Status {
        tid: u32,
        status: Status,
        silent: bool,
    },
}

/// Depth MCU state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepthState {
    pub mode: Option<SensorMode>,
    pub fps: Option<Fps>,
    /// After DEPTH_START, until DEPTH_STOP.
    pub started: bool,
    /// After DEPTH_STREAM_START, until a stream stop or depth stop.
    pub streaming: bool,
}

/// Progress of a firmware update the emulator pretends to flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Update {
    None,
    Running { image_ok: bool, polls: u32 },
}

/// Colour camera stream configuration, as negotiated over UVC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ColourConfig {
    pub resolution: ColorResolution,
    pub format: ColorFormat,
    pub fps: Fps,
}

impl ColourConfig {
    /// The format on the wire: BGRA32 is decoded on the host from MJPG (reference §5.1).
    pub const fn wire_format(&self) -> ColorFormat {
        match self.format {
            ColorFormat::Bgra32 => ColorFormat::Mjpg,
            other => other,
        }
    }

    /// Bytes of one frame on the wire: the format's fixed size, or the emulator's MJPG size.
    pub const fn frame_len(&self) -> usize {
        match self.wire_format().frame_size(self.resolution) {
            Some(size) => size,
            None => super::jpeg::mjpg_frame_len(self.resolution),
        }
    }
}

/// The UVC exposure and gain controls as the camera holds them: a manual exposure in the UVC
/// unit of 100 µs (`None`: auto exposure), a manual gain (`None`: never set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct UvcControls {
    exposure_100us: Option<u32>,
    gain: Option<u8>,
}

/// Why the colour camera did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ColourStartError {
    Gone,
    AlreadyStreaming,
    /// Resolution OFF, or a format the resolution does not offer (reference §5.2).
    UnsupportedMode,
}

/// One emulated Azure Kinect DK as the host sees it over USB.
#[derive(Debug, Clone)]
pub struct Device {
    params: DeviceParams,
    clock: DeviceClock,
    faults: Faults,
    txn: [Txn; 2],
    depth: DepthState,
    sys_config: SysConfig,
    jack: JackState,
    update: Update,
    colour: Option<ColourConfig>,
    controls: UvcControls,
    sched: Schedule,
    /// Frames given by the rig simulator; `None` while the device runs its own grid.
    timeline: Option<Timeline>,
}

fn stage_progress(step: u32) -> ComponentUpdateStatus {
    let mut word = ComponentUpdateStatus(0);
    for (i, stage) in UpdateStage::ALL.iter().enumerate() {
        if (i as u32) < step {
            word = word.with_stage(*stage, StageStatus::Succeeded);
        }
    }
    word
}

impl Device {
    pub fn new(params: DeviceParams) -> Self {
        Device {
            clock: DeviceClock::new(params.drift_ppb, params.start_ticks),
            jack: params.jack,
            params,
            faults: Faults::default(),
            txn: [Txn::Idle; 2],
            depth: DepthState::default(),
            sys_config: DEFAULT_SYS_CONFIG,
            update: Update::None,
            colour: None,
            controls: UvcControls::default(),
            sched: Schedule::default(),
            timeline: None,
        }
    }

    pub fn params(&self) -> &DeviceParams {
        &self.params
    }

    /// The product serial (DEPTH_READ_PRODUCT_SN without its NUL).
    pub fn serial(&self) -> &str {
        &self.params.serial
    }

    /// The USB iSerialNumber string of both functions; equal to [`serial`](Self::serial).
    pub fn usb_serial(&self) -> &str {
        &self.params.serial
    }

    /// The BOS container ID, identical on the depth and colour functions.
    pub fn container_id(&self) -> [u8; 16] {
        self.params.container_id
    }

    pub fn clock(&self) -> &DeviceClock {
        &self.clock
    }

    /// Moves the device's notion of host time forward.
    pub fn advance_to(&mut self, host_ns: u64) {
        self.clock.advance_to(host_ns);
    }

    pub fn depth_state(&self) -> DepthState {
        self.depth
    }

    pub fn sys_config(&self) -> SysConfig {
        self.sys_config
    }

    /// Plugs or unplugs sync cables.
    pub fn set_jack(&mut self, jack: JackState) {
        self.jack = jack;
    }

    pub fn jack(&self) -> JackState {
        self.jack
    }

    pub fn imu_running(&self) -> bool {
        self.sched.imu_running()
    }

    pub fn colour_config(&self) -> Option<ColourConfig> {
        self.colour
    }

    /// Sets the colour camera's exposure and gain as the host's UVC requests would (reference
    /// §5.5): a manual exposure arrives as its table entry in 100 µs units. They hold until
    /// set again, streaming or not.
    pub fn set_colour_controls(&mut self, controls: ColourControls) {
        self.controls.exposure_100us = match controls.exposure {
            Exposure::Auto => None,
            Exposure::Manual { usec } => Some(exposure_to_uvc(usec)),
        };
        if controls.gain.is_some() {
            self.controls.gain = controls.gain;
        }
    }

    /// The colour controls as the camera reports them (GET_CUR read back and mapped to the
    /// exposure table, as the host does).
    pub fn colour_controls(&self) -> ColourControls {
        ColourControls {
            exposure: self
                .controls
                .exposure_100us
                .map_or(Exposure::Auto, |units| Exposure::Manual {
                    usec: exposure_from_uvc(units),
                }),
            gain: self.controls.gain,
        }
    }

    pub fn is_gone(&self) -> bool {
        self.faults.is_gone()
    }

    /// Arms a scripted failure.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.arm(fault);
    }

    pub(crate) fn cameras_streaming(&self) -> bool {
        self.depth.streaming || self.colour.is_some()
    }

    fn txn_mut(&mut self, mcu: Mcu) -> &mut Txn {
        let [depth, colour] = &mut self.txn;
        match mcu_index(mcu) {
            0 => depth,
            _ => colour,
        }
    }

    /// A bulk OUT transfer on the MCU's command endpoint. While a DOWNLOAD_FIRMWARE write
    /// phase is open the bytes are its data; otherwise they are a command packet. A packet
    /// whose framing is wrong (shorter than 20 or longer than 148 bytes, wrong packet_type,
    /// non-zero reserved word) is discarded without a response.
    pub fn on_command_out(&mut self, mcu: Mcu, bytes: &[u8]) -> Result<(), TransferError> {
        self.faults.check(Endpoint::command_out(mcu))?;
        if let Txn::Write { .. } = *self.txn_mut(mcu) {
            self.write_data(mcu, bytes);
            return Ok(());
        }
        let Ok(packet) = CommandPacket::new_checked(bytes) else {
            *self.txn_mut(mcu) = Txn::Idle;
            return Ok(());
        };
        let silent = self.faults.take_silent(mcu);
        let tid = packet.transaction_id();
        let payload_size = packet.payload_size();
        let txn = match CommandRepr::parse(&packet) {
            Ok(repr) if repr.command.mcu() != mcu => {
                Self::status_txn(tid, payload_size, Status::NotImplemented, silent)
            }
            Ok(repr) => self.execute(&repr, silent),
            Err(CommandError::UnknownCommand { .. }) => {
                Self::status_txn(tid, payload_size, Status::NotImplemented, silent)
            }
            Err(CommandError::Wire(WireError::BadValue {
                field: "payload_size",
                ..
            })) => Self::status_txn(tid, 0, Status::InvalidPayloadSize, silent),
            Err(_) => Self::status_txn(tid, payload_size, Status::InvalidParameter, silent),
        };
        *self.txn_mut(mcu) = txn;
        Ok(())
    }

    /// Bytes for an open DOWNLOAD_FIRMWARE write phase; same as
    /// [`on_command_out`](Self::on_command_out).
    pub fn on_write_data(&mut self, mcu: Mcu, bytes: &[u8]) -> Result<(), TransferError> {
        self.on_command_out(mcu, bytes)
    }

    fn status_txn(tid: u32, payload_size: u32, status: Status, silent: bool) -> Txn {
        if payload_size > 0 {
            Txn::Read {
                tid,
                payload_size,
                data: ReadData::Empty,
                status,
                silent,
            }
        } else {
            Txn::Status {
                tid,
                status,
                silent,
            }
        }
    }

    fn write_data(&mut self, mcu: Mcu, bytes: &[u8]) {
        let Txn::Write {
            tid,
            payload_size,
            received,
            silent,
        } = *self.txn_mut(mcu)
        else {
            return;
        };
        let first = received == 0;
        let received = received.saturating_add(bytes.len() as u64);
        if received < u64::from(payload_size) {
            *self.txn_mut(mcu) = Txn::Write {
                tid,
                payload_size,
                received,
                silent,
            };
            return;
        }
        let image_ok = !first || FirmwarePackage::parse(bytes).is_ok();
        self.update = Update::Running { image_ok, polls: 0 };
        *self.txn_mut(mcu) = Txn::Status {
            tid,
            status: Status::Success,
            silent,
        };
    }

    fn execute(&mut self, repr: &CommandRepr, silent: bool) -> Txn {
        let tid = repr.transaction_id;
        let payload_size = repr.payload_size;
        let phase = repr.command.data_phase();
        if phase == DataPhase::Read && payload_size == 0 {
            return Self::status_txn(tid, 0, Status::InvalidPayloadSize, silent);
        }
        if phase == DataPhase::Write {
            if payload_size == 0 {
                return Self::status_txn(tid, 0, Status::InvalidPayloadSize, silent);
            }
            return Txn::Write {
                tid,
                payload_size,
                received: 0,
                silent,
            };
        }
        let (status, data) = self.apply(repr.command);
        let data = if status.is_success() {
            data
        } else {
            ReadData::Empty
        };
        if payload_size == 0 {
            return Txn::Status {
                tid,
                status,
                silent,
            };
        }
        Txn::Read {
            tid,
            payload_size,
            data,
            status,
            silent,
        }
    }

    fn apply(&mut self, command: Command) -> (Status, ReadData) {
        use Status::{NotImplemented, ParamBadTag, Success, WrongCommandState, WrongDeviceState};
        let ok = (Success, ReadData::Empty);
        match command {
            Command::DepthReset => {
                self.depth_stop();
                self.depth = DepthState::default();
                self.update = Update::None;
                ok
            }
            Command::VersionGet | Command::GetSysCfg => (NotImplemented, ReadData::Empty),
            Command::DepthModeSet { mode } if !self.depth.started => {
                self.depth.mode = Some(mode);
                ok
            }
            Command::DepthFpsSet { fps } if !self.depth.started => {
                self.depth.fps = Some(fps);
                ok
            }
            Command::DepthModeSet { .. } | Command::DepthFpsSet { .. } => {
                (WrongDeviceState, ReadData::Empty)
            }
            Command::NvDataGet { tag } if tag == NvTag::IrSensorCalibration.raw() => {
                (Success, ReadData::NvBlob)
            }
            Command::NvDataGet { .. } => (ParamBadTag, ReadData::Empty),
            Command::DepthStart => match (self.depth.mode, self.depth.fps) {
                (Some(_), Some(_)) => {
                    self.depth.started = true;
                    ok
                }
                _ => (WrongDeviceState, ReadData::Empty),
            },
            Command::DepthStreamStart if !self.depth.started => (WrongDeviceState, ReadData::Empty),
            Command::DepthStreamStart => {
                if !self.depth.streaming {
                    self.depth.streaming = true;
                    self.on_depth_stream_start();
                }
                ok
            }
            Command::DepthStreamStop => {
                self.depth_stop();
                ok
            }
            Command::DepthStop => {
                self.depth_stop();
                self.depth.started = false;
                ok
            }
            Command::DepthPowerOn | Command::DepthPowerOff => ok,
            Command::ReadCalibration => (Success, ReadData::Calibration),
            Command::ReadProductSn => (Success, ReadData::Serial),
            Command::ComponentVersionGet => (Success, ReadData::Versions),
            Command::DownloadFirmware { .. } => ok,
            Command::GetFirmwareUpdateStatus => match self.update {
                Update::None => (WrongCommandState, ReadData::Empty),
                Update::Running { image_ok, polls } => {
                    let polls = polls.saturating_add(1);
                    self.update = Update::Running { image_ok, polls };
                    (
                        Success,
                        ReadData::UpdateStatus(update_status(image_ok, polls)),
                    )
                }
            },
            Command::ColourReset => {
                self.sched.stop_imu();
                self.sys_config = DEFAULT_SYS_CONFIG;
                ok
            }
            Command::SetSysCfg(_) if self.cameras_streaming() => {
                (WrongDeviceState, ReadData::Empty)
            }
            Command::SetSysCfg(config) => {
                self.sys_config = config;
                ok
            }
            Command::ImuStreamStart => {
                if !self.sched.imu_running() {
                    self.on_imu_start();
                }
                ok
            }
            Command::ImuStreamStop => {
                self.sched.stop_imu();
                ok
            }
            Command::GetJackState => (Success, ReadData::Jack(self.jack.to_byte())),
        }
    }

    fn depth_stop(&mut self) {
        if self.depth.streaming {
            self.depth.streaming = false;
            self.on_depth_stream_stop();
        }
    }

    /// The read data phase: one bulk IN transfer into `buf` (the host's buffer of
    /// payload_size bytes). The device sends at most payload_size bytes, truncating longer
    /// data (stance on open question 3); 0 means a zero-length packet. A failed command's
    /// data phase is a ZLP.
    pub fn read_data(&mut self, mcu: Mcu, buf: &mut [u8]) -> Result<usize, TransferError> {
        let endpoint = Endpoint::response_in(mcu);
        if let Err(e) = self.faults.check(endpoint) {
            if matches!(e, TransferError::Stall { .. }) {
                *self.txn_mut(mcu) = Txn::Idle;
            }
            return Err(e);
        }
        let Txn::Read {
            tid,
            payload_size,
            data,
            status,
            silent,
        } = *self.txn_mut(mcu)
        else {
            return Err(TransferError::Timeout { endpoint });
        };
        let total = self.render(data, buf);
        let sent = total.min(usize::try_from(payload_size).unwrap_or(usize::MAX));
        *self.txn_mut(mcu) = Txn::Status {
            tid,
            status,
            silent,
        };
        if sent > buf.len() {
            return Err(TransferError::Overflow {
                endpoint,
                capacity: buf.len(),
                got: sent,
            });
        }
        Ok(sent)
    }

    /// The 16-byte status transfer that ends every transaction. Without a transaction
    /// waiting for its status (none sent, malformed packet, scripted command timeout) the
    /// host's transfer times out. A host that skips the read data phase gets the status.
    pub fn read_response(
        &mut self,
        mcu: Mcu,
        buf: &mut [u8; PACKET_LEN],
    ) -> Result<(), TransferError> {
        let endpoint = Endpoint::response_in(mcu);
        if let Err(e) = self.faults.check(endpoint) {
            if matches!(e, TransferError::Stall { .. }) {
                *self.txn_mut(mcu) = Txn::Idle;
            }
            return Err(e);
        }
        let (tid, status, silent) = match *self.txn_mut(mcu) {
            Txn::Status {
                tid,
                status,
                silent,
            }
            | Txn::Read {
                tid,
                status,
                silent,
                ..
            } => (tid, status, silent),
            Txn::Idle | Txn::Write { .. } => return Err(TransferError::Timeout { endpoint }),
        };
        *self.txn_mut(mcu) = Txn::Idle;
        if silent {
            return Err(TransferError::Timeout { endpoint });
        }
        *buf = ResponseRepr {
            transaction_id: tid,
            status,
        }
        .to_bytes();
        Ok(())
    }

    fn render(&self, data: ReadData, buf: &mut [u8]) -> usize {
        let mut sink = Sink::new(buf);
        match data {
            ReadData::Empty => {}
            ReadData::Serial => {
                sink.bytes(self.params.serial.as_bytes());
                if self.params.serial_nul {
                    sink.bytes(&[0]);
                }
            }
            ReadData::Calibration => {
                let _ = write_calibration_json(&mut sink, &self.params.serial, self.params.seed);
            }
            ReadData::Versions => {
                let mut bytes = [0u8; 18];
                if self.params.versions.emit(&mut bytes).is_ok() {
                    sink.bytes(&bytes);
                }
            }
            ReadData::NvBlob => {
                let mut rng = SplitMix64::new(self.params.seed ^ 0x4E56_0000_0000_0002);
                let mut left = self.params.nv_blob_len;
                while left > 0 {
                    let word = rng.next_u64().to_le_bytes();
                    let n = left.min(word.len());
                    sink.bytes(word.get(..n).unwrap_or(&[]));
                    left -= n;
                }
            }
            ReadData::UpdateStatus(status) => {
                let mut bytes = [0u8; FirmwareUpdateStatus::LEN];
                if status.emit(&mut bytes).is_ok() {
                    sink.bytes(&bytes);
                }
            }
            ReadData::Jack(byte) => sink.bytes(&[byte]),
        }
        sink.total()
    }

    /// The calibration JSON this device returns, rendered into `buf` (truncated to fit);
    /// returns its full length.
    pub fn calibration_json(&self, buf: &mut [u8]) -> usize {
        self.render(ReadData::Calibration, buf)
    }

    /// Starts the colour camera (UVC stream on). On a master or standalone device this
    /// zeroes the device clock (reference §6.1, §10.4); a subordinate waits for pulses.
    pub fn start_colour(
        &mut self,
        now_ns: u64,
        config: ColourConfig,
    ) -> Result<(), ColourStartError> {
        if self.faults.is_gone() {
            return Err(ColourStartError::Gone);
        }
        if self.colour.is_some() {
            return Err(ColourStartError::AlreadyStreaming);
        }
        let supported = config.resolution != ColorResolution::Off
            && config.format.allowed_at(config.resolution)
            && config.fps.hz() <= config.resolution.max_fps().hz();
        if !supported {
            return Err(ColourStartError::UnsupportedMode);
        }
        self.clock.advance_to(now_ns);
        self.colour = Some(config);
        self.on_colour_start(now_ns, config.fps);
        Ok(())
    }

    /// Stops the colour camera (UVC stream off).
    pub fn stop_colour(&mut self) {
        if self.colour.take().is_some() {
            self.on_colour_stop();
        }
    }
}

fn update_status(image_ok: bool, polls: u32) -> FirmwareUpdateStatus {
    let per_component = UpdateStage::ALL.len() as u32;
    let mut status = FirmwareUpdateStatus::default();
    for (i, component) in FirmwareComponent::ALL.iter().enumerate() {
        let word = if image_ok {
            let done = polls.saturating_sub(1 + i as u32 * per_component);
            stage_progress(done)
        } else {
            ComponentUpdateStatus(0)
                .with_stage(UpdateStage::VersionCheck, StageStatus::Succeeded)
                .with_stage(UpdateStage::AuthenticationCheck, StageStatus::Failed)
                .with_stage(UpdateStage::Overall, StageStatus::Failed)
        };
        match component {
            FirmwareComponent::Depth => status.depth = word,
            FirmwareComponent::Rgb => status.rgb = word,
            FirmwareComponent::Audio => status.audio = word,
            FirmwareComponent::DepthSensorConfig => status.depth_sensor_config = word,
        }
    }
    status
}

/// Polls of GET_FIRMWARE_UPDATE_STATUS after a good image until every component reports
/// its overall stage succeeded.
pub const UPDATE_POLLS_TO_SUCCESS: u32 = 1 + 4 * UpdateStage::ALL.len() as u32;
