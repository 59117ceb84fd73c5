//! `k4sync demo`: a self-check of the control-path codec that needs no device.
//!
//! Every [`Command`] variant is built with a representative argument, emitted with a running
//! transaction id, parsed back and compared; a success response for the same transaction is
//! emitted and accepted with [`check_response`]. The result is a report the CLI prints as text
//! or JSON; any mismatch makes the report fail.

use std::fmt::Write as _;
use std::process::ExitCode;

use k4sync_core::types::{Fps, SensorMode, WiredSyncMode};
use k4sync_core::wire::colour_mcu::SysConfig;
use k4sync_core::wire::command::{
    Command, CommandCode, CommandPacket, CommandRepr, Mcu, TransactionIds,
};
use k4sync_core::wire::depth_mcu::NvTag;
use k4sync_core::wire::response::{check_response, ResponseRepr, Status};

/// One command of the demo and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLine {
    pub transaction_id: u32,
    pub code: CommandCode,
    pub mcu: Mcu,
    /// The emitted OUT transfer.
    pub bytes: Vec<u8>,
    /// `None` when the command and its response round-tripped, else what went wrong.
    pub mismatch: Option<String>,
}

/// The whole demo run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    pub lines: Vec<DemoLine>,
}

impl DemoReport {
    pub fn mismatches(&self) -> usize {
        self.lines.iter().filter(|l| l.mismatch.is_some()).count()
    }

    pub fn passed(&self) -> bool {
        self.mismatches() == 0
    }

    /// One line per command (code, name, bytes) and a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let _ = write!(
                out,
                "{:#010x} {:<28} {:<6} tid {:<3} {}",
                line.code.raw(),
                line.code.sdk_name(),
                line.mcu,
                line.transaction_id,
                hex(&line.bytes)
            );
            if let Some(why) = &line.mismatch {
                let _ = write!(out, "  MISMATCH: {why}");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} commands, {} mismatches: {}",
            self.lines.len(),
            self.mismatches(),
            if self.passed() { "ok" } else { "FAILED" }
        );
        out
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|line| {
                let mismatch = match &line.mismatch {
                    Some(why) => format!("\"{}\"", json_escape(why)),
                    None => "null".to_owned(),
                };
                format!(
                    "{{\"code\":\"{:#010x}\",\"name\":\"{}\",\"mcu\":\"{}\",\"transaction_id\":{},\"bytes\":\"{}\",\"mismatch\":{}}}",
                    line.code.raw(),
                    line.code.sdk_name(),
                    line.mcu,
                    line.transaction_id,
                    hex(&line.bytes).replace(' ', ""),
                    mismatch
                )
            })
            .collect();
        format!(
            "{{\"commands\":[{}],\"total\":{},\"mismatches\":{},\"passed\":{}}}",
            lines.join(","),
            self.lines.len(),
            self.mismatches(),
            self.passed()
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn json_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect()
}

/// One representative value of every [`Command`] variant, in catalogue order.
pub fn representative_commands() -> Vec<Command> {
    vec![
        Command::DepthReset,
        Command::VersionGet,
        Command::DepthStart,
        Command::DepthStop,
        Command::NvDataGet {
            tag: NvTag::IrSensorCalibration.raw(),
        },
        Command::DepthModeSet {
            mode: SensorMode::LongThrowNative,
        },
        Command::DepthPowerOff,
        Command::DepthPowerOn,
        Command::DepthStreamStart,
        Command::DepthStreamStop,
        Command::DepthFpsSet { fps: Fps::Fps30 },
        Command::ReadCalibration,
        Command::ReadProductSn,
        Command::ComponentVersionGet,
        Command::DownloadFirmware {
            last_package: 1,
            package_size_low: 0x56,
        },
        Command::GetFirmwareUpdateStatus,
        Command::ColourReset,
        Command::SetSysCfg(SysConfig::from_usec(
            WiredSyncMode::Subordinate,
            160,
            80,
            true,
        )),
        Command::GetSysCfg,
        Command::ImuStreamStart,
        Command::ImuStreamStop,
        Command::GetJackState,
    ]
}

fn round_trip(repr: &CommandRepr) -> Result<Vec<u8>, String> {
    let bytes = repr.to_bytes().map_err(|e| format!("emit: {e}"))?;
    let packet = CommandPacket::new_checked(&bytes[..]).map_err(|e| format!("framing: {e}"))?;
    let parsed = CommandRepr::parse(&packet).map_err(|e| format!("parse: {e}"))?;
    if parsed != *repr {
        return Err(format!("parsed {parsed:?}, emitted {repr:?}"));
    }
    let response = ResponseRepr {
        transaction_id: repr.transaction_id,
        status: Status::Success,
    };
    let status = check_response(repr.transaction_id, &response.to_bytes())
        .map_err(|e| format!("response: {e}"))?;
    if status != Status::Success {
        return Err(format!("response status {status}"));
    }
    Ok(bytes.to_vec())
}

/// Runs the demo over `commands`, with transaction ids counted per MCU from 0 as the device
/// handles count them.
pub fn run_demo_over(commands: &[Command]) -> DemoReport {
    let mut depth_ids = TransactionIds::new();
    let mut colour_ids = TransactionIds::new();
    let lines = commands
        .iter()
        .map(|command| {
            let transaction_id = match command.mcu() {
                Mcu::Depth => depth_ids.next_id(),
                Mcu::Colour => colour_ids.next_id(),
            };
            let repr = match command {
                Command::DownloadFirmware { .. } => CommandRepr {
                    payload_size: 0x0012_3456,
                    ..CommandRepr::new(transaction_id, *command)
                },
                _ => CommandRepr::new(transaction_id, *command),
            };
            let (bytes, mismatch) = match round_trip(&repr) {
                Ok(bytes) => (bytes, None),
                Err(why) => (Vec::new(), Some(why)),
            };
            DemoLine {
                transaction_id,
                code: command.code(),
                mcu: command.mcu(),
                bytes,
                mismatch,
            }
        })
        .collect();
    DemoReport { lines }
}

/// Runs the demo over [`representative_commands`].
pub fn run_demo() -> DemoReport {
    run_demo_over(&representative_commands())
}

/// `k4sync demo [--json]`: prints the report; fails when any command did not round-trip.
pub fn run(json: bool) -> ExitCode {
    let report = run_demo();
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_covers_every_command_code_and_passes() {
        let report = run_demo();
        let codes: Vec<CommandCode> = report.lines.iter().map(|l| l.code).collect();
        assert_eq!(codes, CommandCode::ALL.to_vec());
        assert!(report.passed(), "{}", report.to_text());
        assert!(report
            .to_text()
            .ends_with("22 commands, 0 mismatches: ok\n"));
    }

    #[test]
    fn demo_counts_transaction_ids_per_mcu() {
        let report = run_demo();
        let colour: Vec<u32> = report
            .lines
            .iter()
            .filter(|l| l.mcu == Mcu::Colour)
            .map(|l| l.transaction_id)
            .collect();
        assert_eq!(colour, vec![0, 1, 2, 3, 4, 5]);
        let serial = report
            .lines
            .iter()
            .find(|l| l.code == CommandCode::ReadProductSn);
        assert_eq!(
            serial.map(|l| (l.transaction_id, l.bytes[8])),
            Some((12, 0xFF))
        );
    }

    #[test]
    fn sys_cfg_line_is_the_33_byte_transfer() {
        let report = run_demo();
        let sys_cfg = report
            .lines
            .iter()
            .find(|l| l.code == CommandCode::SetSysCfg)
            .map(|l| l.bytes.len());
        assert_eq!(sys_cfg, Some(33));
    }

    #[test]
    fn json_report_names_totals_and_each_command() {
        let json = run_demo().to_json();
        assert!(json.starts_with("{\"commands\":[{\"code\":\"0x00000000\",\"name\":\"RESET\""));
        assert!(json.ends_with("\"total\":22,\"mismatches\":0,\"passed\":true}"));
        assert!(json.contains("\"name\":\"GET_JACK_STATE\""));
        assert_eq!(json_escape("a\"b\\\n"), "a\\\"b\\\\\\u000a");
    }
}
