//! Representations built from fuzz input with `arbitrary`'s `Unstructured` (re-exported by
//! libfuzzer-sys), for the targets that also check `parse(emit(repr)) == repr`. Choosing a
//! command or a record count from a list reaches every variant at once, where random bytes
//! would first have to guess a 4-byte code and a consistent length.

use k4sync_core::time::Ticks90k;
use k4sync_core::types::{Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::SysConfig;
use k4sync_core::wire::command::{Command, CommandCode, CommandRepr, MAX_PAYLOAD_SIZE};
use k4sync_core::wire::imu::{ImuPacketRepr, ImuRecord, MAX_RECORDS_PER_KIND};
use libfuzzer_sys::arbitrary::{Result, Unstructured};

use crate::depth_trailer::MODES;

fn sys_config(u: &mut Unstructured<'_>) -> Result<SysConfig> {
    Ok(SysConfig {
        mode: *u.choose(&WiredSyncMode::ALL)?,
        subordinate_delay_ticks: u.arbitrary()?,
        depth_delay_ticks: u.arbitrary()?,
        privacy_led: u.arbitrary()?,
    })
}

fn command(u: &mut Unstructured<'_>) -> Result<Command> {
    let code = *u.choose(CommandCode::ALL)?;
    Ok(match code {
        CommandCode::NvDataGet => Command::NvDataGet {
            tag: u.arbitrary()?,
        },
        CommandCode::DepthModeSet => Command::DepthModeSet {
            mode: *u.choose(&MODES)?,
        },
        CommandCode::DepthFpsSet => Command::DepthFpsSet {
            fps: *u.choose(&Fps::ALL)?,
        },
        CommandCode::DownloadFirmware => Command::DownloadFirmware {
            last_package: u.arbitrary()?,
            package_size_low: u.arbitrary()?,
        },
        CommandCode::SetSysCfg => Command::SetSysCfg(sys_config(u)?),
        unit => Command::parse_data(unit, &[])
            .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)?,
    })
}

/// Any command packet the host may send.
pub fn command_repr(u: &mut Unstructured<'_>) -> Result<CommandRepr> {
    Ok(CommandRepr {
        transaction_id: u.arbitrary()?,
        payload_size: u.int_in_range(0..=MAX_PAYLOAD_SIZE)?,
        command: command(u)?,
    })
}

fn records(u: &mut Unstructured<'_>) -> Result<heapless::Vec<ImuRecord, MAX_RECORDS_PER_KIND>> {
    let n = u.int_in_range(0..=MAX_RECORDS_PER_KIND)?;
    let mut out = heapless::Vec::new();
    for _ in 0..n {
        let record = ImuRecord {
            ticks: Ticks90k(u.arbitrary()?),
            raw: u.arbitrary()?,
        };
        let _ = out.push(record);
    }
    Ok(out)
}

/// Any IMU packet of at most 8 + 8 records.
pub fn imu_repr(u: &mut Unstructured<'_>) -> Result<ImuPacketRepr> {
    Ok(ImuPacketRepr {
        temperature_period_usec: u.arbitrary()?,
        temperature_sensitivity: u.arbitrary()?,
        temperature_raw: u.arbitrary()?,
        gyro_sensitivity: u.arbitrary()?,
        gyro_period_usec: u.arbitrary()?,
        accel_sensitivity: u.arbitrary()?,
        accel_period_usec: u.arbitrary()?,
        gyro: records(u)?,
        accel: records(u)?,
    })
}
