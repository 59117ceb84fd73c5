//! Command packets (host → cmd OUT endpoint) and the typed command catalogue of both MCUs
//! (reference §2.1, §3.1, §4.1).
//!
//! (The codec — views, `CommandRepr` parse/emit — is being written; the catalogue below is the
//! agreed vocabulary other modules build on.)

use crate::types::{Fps, SensorMode};
use crate::wire::colour_mcu::SysConfig;

/// Which microcontroller a command is addressed to (its USB function and interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mcu {
    /// PID 0x097C, interface 0, cmd OUT 0x02, resp IN 0x81, depth stream IN 0x83.
    Depth,
    /// PID 0x097D, interface 2, cmd OUT 0x04, resp IN 0x83, IMU stream IN 0x82.
    Colour,
}

/// Every command of the reference's catalogues, with its typed command-data argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command {
    /// 0x00000000, depth MCU reset.
    DepthReset,
    /// 0x00000002, defined by the SDK but never sent.
    VersionGet,
    /// 0x00000009.
    DepthStart,
    /// 0x0000000A.
    DepthStop,
    /// 0x00000022 with a u32 NV tag; read data phase.
    NvDataGet { tag: u32 },
    /// 0x000000E1 with the sensor mode.
    DepthModeSet { mode: SensorMode },
    /// 0x000000EF.
    DepthPowerOff,
    /// 0x000000F0.
    DepthPowerOn,
    /// 0x000000F1.
    DepthStreamStart,
    /// 0x000000F2.
    DepthStreamStop,
    /// 0x00000103 with the literal frame rate.
    DepthFpsSet { fps: Fps },
    /// 0x00000111; read data phase (calibration JSON).
    ReadCalibration,
    /// 0x00000115; read data phase (ASCII serial).
    ReadProductSn,
    /// 0x00000201; read data phase (18-byte versions).
    ComponentVersionGet,
    /// 0x00000202 with 2 bytes of package info; write data phase (the firmware image).
    DownloadFirmware { last_package: u8, package_size_low: u8 },
    /// 0x00000203; read data phase (8-byte status).
    GetFirmwareUpdateStatus,
    /// 0x80000000, colour MCU reset.
    ColourReset,
    /// 0x80000001 with the 13-byte packed sync configuration.
    SetSysCfg(SysConfig),
    /// 0x80000002, defined by the SDK but never sent.
    GetSysCfg,
    /// 0x80000003.
    ImuStreamStart,
    /// 0x80000004.
    ImuStreamStop,
    /// 0x80000006; read data phase (1 byte of jack bits).
    GetJackState,
}
