//! An emulated rig: `N` emulated devices on one simulated sync cable and clock model
//! (reference §6, §10.1, §10.2, §10.4).
//!
//! [`sim::Rig`](crate::sim::Rig) decides everything about time — each device's oscillator
//! (offset, drift, jitter), the cable's topology and per-hop delay, which pulses reach whom,
//! the tick every frame is stamped with, when it reaches the host, which frames are lost and
//! when a scripted [`sim::Fault`](crate::sim::Fault) takes effect. [`EmuRig`] replays that event
//! stream into [`Device`]s as host time advances ([`Device::on_sim_event`]), so the host talks to
//! byte-exact devices whose frames, jack bits and transfer failures follow the one simulated
//! timeline. Host time 0 is the simulator's true time 0, the master's colour start.

use core::iter::Peekable;

use crate::sim::{Events, Rig, SimEvent, Topology, MASTER};
use crate::sync::sequence::depth_start_sequence;
use crate::types::{SensorMode, WiredSyncMode};
use crate::wire::colour_mcu::{JackState, SysConfig};
use crate::wire::command::{Command, CommandRepr, Mcu, TransactionIds};
use crate::wire::response::{check_response, Status, PACKET_LEN};

use super::device::{ColourConfig, ColourStartError, Device};
use super::fault::TransferError;
use super::follow::host_ns;
use super::params::DeviceParams;

/// Why [`EmuRig::start_streams`] could not start a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RigStartError {
    /// A command transfer failed.
    Transfer {
        device: usize,
        command: Command,
        error: TransferError,
    },
    /// The device answered a command with a status other than SUCCESS.
    Status {
        device: usize,
        command: Command,
        status: Status,
    },
    /// The colour camera did not start.
    Colour {
        device: usize,
        error: ColourStartError,
    },
}

impl core::fmt::Display for RigStartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RigStartError::Transfer {
                device,
                command,
                error,
            } => write!(f, "device {device}: {command:?}: {error}"),
            RigStartError::Status {
                device,
                command,
                status,
            } => write!(f, "device {device}: {command:?} answered {status:?}"),
            RigStartError::Colour { device, error } => {
                write!(f, "device {device}: colour start failed: {error:?}")
            }
        }
    }
}

/// The seed of device `device`'s identity and content in a rig seeded with `rig_seed`.
pub const fn device_seed(rig_seed: u64, device: usize) -> u64 {
    rig_seed ^ (device as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `N` emulated devices following one simulated rig with up to `F` scripted faults.
#[derive(Debug)]
pub struct EmuRig<'r, const N: usize, const F: usize> {
    rig: &'r Rig<N, F>,
    events: Peekable<Events<'r, N, F>>,
    devices: [Device; N],
    now_ns: u64,
}

impl<'r, const N: usize, const F: usize> EmuRig<'r, N, F> {
    /// Devices with identities seeded by [`device_seed`].
    pub fn new(rig: &'r Rig<N, F>) -> Self {
        let seed = rig.config().seed;
        Self::with_params(rig, |device| {
            DeviceParams::from_seed(device_seed(seed, device))
        })
    }

    /// Devices built from `params(device)`, with the oscillator drift taken from the rig and the
    /// jacks plugged as the topology cables them: the master's Sync Out, every subordinate's
    /// Sync In, and in a daisy chain each subordinate's Sync Out but the last.
    pub fn with_params(rig: &'r Rig<N, F>, mut params: impl FnMut(usize) -> DeviceParams) -> Self {
        let config = rig.config();
        let devices = core::array::from_fn(|device| {
            let mut p = params(device);
            if let Some(sim) = config.devices.get(device) {
                p.drift_ppb = sim.oscillator.drift_ppb;
            }
            p.jack = Self::cabled_jack(rig, device);
            Device::new(p)
        });
        EmuRig {
            rig,
            events: rig.events().peekable(),
            devices,
            now_ns: 0,
        }
    }

    fn cabled_jack(rig: &Rig<N, F>, device: usize) -> JackState {
        let chain = rig.config().cable.topology == Topology::DaisyChain;
        if device == MASTER {
            JackState {
                sync_in: false,
                sync_out: N > 1,
            }
        } else {
            JackState {
                sync_in: true,
                sync_out: chain && device + 1 < N,
            }
        }
    }

    pub const fn rig(&self) -> &'r Rig<N, F> {
        self.rig
    }

    /// The host time the rig has been advanced to.
    pub const fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn device(&self, device: usize) -> Option<&Device> {
        self.devices.get(device)
    }

    pub fn device_mut(&mut self, device: usize) -> Option<&mut Device> {
        self.devices.get_mut(device)
    }

    pub fn devices_mut(&mut self) -> &mut [Device; N] {
        &mut self.devices
    }

    /// Whether every simulated event has been handed to the devices.
    pub fn finished(&mut self) -> bool {
        self.events.peek().is_none()
    }

    /// Device `device`'s role: device 0 is the master of a rig of two or more.
    pub const fn sync_mode(&self, device: usize) -> WiredSyncMode {
        if N == 1 {
            WiredSyncMode::Standalone
        } else if device == MASTER {
            WiredSyncMode::Master
        } else {
            WiredSyncMode::Subordinate
        }
    }

    /// The SET_SYS_CFG a host sends device `device` for the simulated rig: its role and the
    /// delay ticks the simulator stamps its frames with.
    pub fn sys_config(&self, device: usize) -> SysConfig {
        let sim = self.rig.config().devices.get(device).copied();
        SysConfig {
            mode: self.sync_mode(device),
            subordinate_delay_ticks: sim.map_or(0, |s| s.subordinate_delay_ticks),
            depth_delay_ticks: sim.map_or(0, |s| s.depth_delay_ticks),
            privacy_led: true,
        }
    }

    /// Configures and starts every device at host time 0 the way a host does, through command
    /// bytes: SET_SYS_CFG ([`sys_config`](Self::sys_config)), the depth start sequence in
    /// `mode` at the rig's frame rate, IMU start if `imu`, then the colour camera. Call it
    /// before the first [`advance_to`](Self::advance_to).
    pub fn start_streams(
        &mut self,
        mode: SensorMode,
        colour: ColourConfig,
        imu: bool,
    ) -> Result<(), RigStartError> {
        let fps = self.rig.config().fps;
        for device in 0..N {
            let mut ids = [TransactionIds::new(); 2];
            let mut commands: heapless::Vec<Command, 8> = heapless::Vec::new();
            let _ = commands.push(Command::SetSysCfg(self.sys_config(device)));
            for command in depth_start_sequence(mode, fps, false) {
                let _ = commands.push(command);
            }
            if imu {
                let _ = commands.push(Command::ImuStreamStart);
            }
            let Some(dev) = self.devices.get_mut(device) else {
                continue;
            };
            for command in commands {
                let ids = match command.mcu() {
                    Mcu::Depth => &mut ids[0],
                    Mcu::Colour => &mut ids[1],
                };
                let status =
                    transact(dev, ids, command).map_err(|error| RigStartError::Transfer {
                        device,
                        command,
                        error,
                    })?;
                if !status.is_success() {
                    return Err(RigStartError::Status {
                        device,
                        command,
                        status,
                    });
                }
            }
            dev.start_colour(0, ColourConfig { fps, ..colour })
                .map_err(|error| RigStartError::Colour { device, error })?;
        }
        Ok(())
    }

    /// Moves host time to `now_ns` and hands every simulated event due by then to the devices
    /// it concerns. Pulses, clock zeroings and faults are due at their instant; the frames of a
    /// pulse are handed over with it and become readable at their delivery time.
    pub fn advance_to(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        while let Some(event) = self.events.peek().copied() {
            let due = matches!(event, SimEvent::Frame(_) | SimEvent::FrameLost { .. })
                || host_ns(event.at_nsec()) <= self.now_ns;
            if !due {
                break;
            }
            self.events.next();
            for (device, dev) in self.devices.iter_mut().enumerate() {
                if event.concerns(device) {
                    dev.on_sim_event(&event);
                }
            }
        }
        for dev in &mut self.devices {
            dev.advance_to(self.now_ns);
        }
    }
}

/// One command transaction on `dev` through its raw endpoints; returns the status.
fn transact(
    dev: &mut Device,
    ids: &mut TransactionIds,
    command: Command,
) -> Result<Status, TransferError> {
    let mcu = command.mcu();
    let repr = CommandRepr::new(ids.next_id(), command);
    let bytes = repr.to_bytes().unwrap_or_default();
    dev.on_command_out(mcu, &bytes)?;
    if repr.payload_size > 0 {
        let mut data = [0u8; 64];
        dev.read_data(mcu, &mut data)?;
    }
    let mut response = [0u8; PACKET_LEN];
    dev.read_response(mcu, &mut response)?;
    Ok(check_response(repr.transaction_id, &response).unwrap_or(Status::Unknown(u32::MAX)))
}
