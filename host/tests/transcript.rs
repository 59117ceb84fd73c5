//! Transcript record/replay: a session recorded over the device emulator replays to the same
//! results, a host that sends other bytes is stopped at the diverging call, and a committed
//! transcript keeps the open sequence's bytes from changing unnoticed.
//!
//! The committed file `tests/data/open.k4t` is regenerated with
//! `K4SYNC_BLESS=1 cargo test -p k4sync-host --test transcript`.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k4sync_core::emu::{Device, DeviceParams, TransferError as EmuError};
use k4sync_core::types::{Fps, SensorMode, WiredSyncMode};
use k4sync_core::wire::colour_mcu::SysConfig;
use k4sync_core::wire::command::{CommandPacket, Mcu};
use k4sync_core::wire::imu::TRANSFER_LEN;
use k4sync_host::transport::transcript::{
    Call, RecordingTransport, ReplayError, ReplayTransport, Transcript, TranscriptError,
};
use k4sync_host::transport::{Endpoint, TransferError, Transport};
use k4sync_host::CommandChannel;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/open.k4t");

/// The emulator as a transport: command endpoints go to the MCUs' command channels; an IN
/// transfer on a response endpoint is the data phase when the last command announced one,
/// else the status; stream endpoints poll with host time moving 10 ms per transfer.
struct EmuTransport {
    dev: Device,
    data_phase: [bool; 2],
    now_ns: u64,
}

impl EmuTransport {
    fn new(seed: u64) -> Self {
        EmuTransport {
            dev: Device::new(DeviceParams::from_seed(seed)),
            data_phase: [false; 2],
            now_ns: 0,
        }
    }
}

fn mcu_slot(mcu: Mcu) -> usize {
    match mcu {
        Mcu::Depth => 0,
        Mcu::Colour => 1,
    }
}

fn host_error(endpoint: Endpoint, e: EmuError) -> TransferError {
    match e {
        EmuError::Timeout { .. } => TransferError::Timeout {
            endpoint,
            timeout: Duration::from_millis(2000),
        },
        EmuError::Stall { .. } => TransferError::Stall { endpoint },
        EmuError::Gone { .. } => TransferError::Disconnected { endpoint },
        EmuError::Overflow { capacity, got, .. } => TransferError::Overflow {
            endpoint,
            capacity,
            got,
        },
    }
}

impl Transport for EmuTransport {
    fn usb_serial(&self) -> &str {
        self.dev.usb_serial()
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        _: Duration,
    ) -> Result<(), TransferError> {
        let mcu = endpoint.mcu();
        let announced = CommandPacket::new_checked(data).is_ok_and(|p| p.payload_size() > 0);
        self.data_phase[mcu_slot(mcu)] = announced;
        self.dev
            .on_command_out(mcu, data)
            .map_err(|e| host_error(endpoint, e))
    }

    fn max_packet_size(&self, _: Endpoint) -> usize {
        1024
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        _: Duration,
    ) -> Result<usize, TransferError> {
        let mcu = endpoint.mcu();
        let err = |e| host_error(endpoint, e);
        match endpoint {
            Endpoint::DepthStreamIn | Endpoint::ImuStreamIn => {
                self.now_ns += 10_000_000;
                let got = if endpoint == Endpoint::ImuStreamIn {
                    let mut packet = [0u8; TRANSFER_LEN];
                    let info = self
                        .dev
                        .poll_imu_packet(self.now_ns, &mut packet)
                        .map_err(err)?;
                    info.map(|i| {
                        buf[..i.len].copy_from_slice(&packet[..i.len]);
                        i.len
                    })
                } else {
                    self.dev
                        .poll_depth_frame(self.now_ns, buf)
                        .map_err(err)?
                        .map(|i| i.len)
                };
                got.ok_or(TransferError::Timeout {
                    endpoint,
                    timeout: Duration::from_millis(2000),
                })
            }
            _ if std::mem::take(&mut self.data_phase[mcu_slot(mcu)]) => {
                self.dev.read_data(mcu, buf).map_err(err)
            }
            _ => {
                let mut status = [0u8; 16];
                self.dev.read_response(mcu, &mut status).map_err(err)?;
                buf[..16].copy_from_slice(&status);
                Ok(16)
            }
        }
    }
}

/// What the open-like sequence produced, to compare live and replayed runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    serial: String,
    versions: String,
    jack: String,
    calibration_len: Option<usize>,
    depth_stop: String,
    imu: Vec<Vec<u8>>,
}

/// Readiness poll, serial, versions, (calibration), jack state, SET_SYS_CFG, depth start,
/// IMU start and two packets, depth stop: what opening a camera and starting it does.
fn open_like<T: Transport>(transport: T, calibration: bool) -> (Result<Outcome, String>, T) {
    let mut channel = CommandChannel::new(transport).with_sleep(|_| {});
    let outcome = (|| -> Result<Outcome, Box<dyn std::error::Error>> {
        channel.wait_until_ready()?;
        let serial = channel.read_serial()?;
        let versions = format!("{:?}", channel.read_versions()?);
        let calibration_len = if calibration {
            Some(channel.read_calibration()?.len())
        } else {
            None
        };
        let jack = format!("{:?}", channel.read_jack_state()?);
        channel.set_sys_config(SysConfig::from_usec(WiredSyncMode::Standalone, 0, 0, true))?;
        channel.depth_start(SensorMode::PseudoCommon, Fps::Fps30, false)?;
        channel.imu_start()?;
        let mut imu = Vec::new();
        for _ in 0..2 {
            let transport = channel.transport_mut();
            let mut buf = vec![0u8; 1024];
            let n = transport
                .bulk_in(Endpoint::ImuStreamIn, &mut buf, Duration::from_millis(100))
                .map_err(|e| e.to_string())?;
            imu.push(buf[..n].to_vec());
        }
        let depth_stop = format!("{:?}", channel.depth_stop()?);
        Ok(Outcome {
            serial,
            versions,
            jack,
            calibration_len,
            depth_stop,
            imu,
        })
    })()
    .map_err(|e| e.to_string());
    (outcome, channel.into_transport())
}

fn record(seed: u64, calibration: bool) -> (Outcome, Transcript) {
    let (outcome, recording) = open_like(
        RecordingTransport::new(EmuTransport::new(seed)),
        calibration,
    );
    (outcome.unwrap(), recording.into_parts().1)
}

#[test]
fn replaying_a_recorded_session_gives_the_same_results_and_consumes_every_call() {
    let (live, transcript) = record(3, true);
    assert_eq!(live.calibration_len.map(|n| n > 10_240), Some(true));
    let bytes = transcript.to_bytes().unwrap();
    let loaded = Transcript::from_bytes(&bytes).unwrap();
    assert_eq!(loaded, transcript);
    let (replayed, replay) = open_like(ReplayTransport::new(loaded), true);
    assert_eq!(replayed.unwrap(), live);
    assert_eq!(replay.finish(), Ok(()));
    assert_eq!(replay.position(), transcript.calls.len());
}

#[test]
fn recorded_failures_are_replayed_as_the_same_transfer_errors() {
    let mut emu = EmuTransport::new(4);
    emu.dev.inject(k4sync_core::emu::Fault::Unplug);
    let (live, transcript) = {
        let (outcome, recording) = open_like(RecordingTransport::new(emu), false);
        (outcome.unwrap_err(), recording.into_parts().1)
    };
    assert!(matches!(
        transcript.calls[0],
        Call::BulkOut { result: Err(_), .. }
    ));
    let (replayed, replay) = open_like(ReplayTransport::new(transcript), false);
    assert_eq!(replayed.unwrap_err(), live);
    assert_eq!(replay.finish(), Ok(()));
}

#[test]
fn a_host_sending_other_bytes_is_stopped_at_the_diverging_call() {
    let (_, transcript) = record(5, false);
    let mut channel = CommandChannel::new(ReplayTransport::new(transcript)).with_sleep(|_| {});
    channel.wait_until_ready().unwrap();
    channel.read_serial().unwrap();
    channel.read_versions().unwrap();
    // The transcript's next transaction is GET_JACK_STATE; this host resets the depth MCU.
    let index = channel.transport().position();
    let err = channel.write(k4sync_core::wire::command::Command::DepthReset, &[]);
    assert!(err.is_err());
    let mut replay = channel.into_transport();
    let divergence = replay.divergence().cloned().unwrap();
    assert!(
        matches!(
            divergence,
            ReplayError::WrongCall { index: i, .. } | ReplayError::OutBytes { index: i, .. } if i == index
        ),
        "{divergence:?}"
    );
    assert!(divergence
        .to_string()
        .starts_with(&format!("call {index}:")));
    // Every later call fails too.
    let mut buf = [0u8; 1024];
    assert!(replay
        .bulk_in(
            Endpoint::ColourResponseIn,
            &mut buf,
            Duration::from_millis(1)
        )
        .is_err());
    assert_eq!(replay.finish(), Err(divergence));
}

#[test]
fn out_bytes_that_differ_name_the_first_differing_byte() {
    let (_, transcript) = record(6, false);
    let Call::BulkOut { endpoint, data, .. } = transcript.calls[0].clone() else {
        panic!("first call is a command");
    };
    let mut changed = data.clone();
    changed[8] ^= 1;
    let mut replay = ReplayTransport::new(transcript);
    let err = replay
        .bulk_out(endpoint.into(), &changed, Duration::from_millis(1))
        .unwrap_err();
    assert!(matches!(err, TransferError::Io { .. }));
    assert_eq!(
        replay.divergence(),
        Some(&ReplayError::OutBytes {
            index: 0,
            endpoint,
            first_difference: 8,
            expected_len: data.len(),
            got_len: data.len(),
        })
    );
}

#[test]
fn files_without_the_magic_or_of_another_version_are_refused() {
    assert!(matches!(
        Transcript::from_bytes(b"nope"),
        Err(TranscriptError::BadMagic)
    ));
    let mut bytes = b"K4T\x01".to_vec();
    bytes.push(2);
    assert!(matches!(
        Transcript::from_bytes(&bytes),
        Err(TranscriptError::UnsupportedVersion { found: 2 })
    ));
}

#[test]
fn the_committed_open_transcript_still_replays() {
    let (_, fresh) = record(0x0123_4567, false);
    if std::env::var_os("K4SYNC_BLESS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(COMMITTED).parent().unwrap()).unwrap();
        std::fs::write(COMMITTED, fresh.to_bytes().unwrap()).unwrap();
    }
    let bytes = std::fs::read(COMMITTED).expect("tests/data/open.k4t (bless with K4SYNC_BLESS=1)");
    assert!(bytes.len() < 4096, "{} bytes", bytes.len());
    let committed = Transcript::from_bytes(&bytes).unwrap();
    let (outcome, replay) = open_like(ReplayTransport::new(committed.clone()), false);
    let outcome = outcome.unwrap();
    assert_eq!(replay.finish(), Ok(()));
    assert_eq!(outcome.serial, committed.usb_serial);
    assert_eq!(outcome.imu.len(), 2);
    // The emulator still produces the committed bytes.
    assert_eq!(fresh, committed);
}
