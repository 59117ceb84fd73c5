//! The command channel against a scripted fake transport: transaction ids, IN transfer sizing,
//! the calibration retry, the readiness poll, status handling and typed failures
//! (reference §2.3–2.4, §3.2, §3.4; nusb fact 1).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k4sync_core::types::{Fps, SensorMode, WiredSyncMode};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{
    Command, CommandCode, CommandPacket, CommandRepr, DataPhase, Mcu,
};
use k4sync_core::wire::depth_mcu::{
    BuildConfig, ComponentVersions, FirmwareVersion, SignatureType,
};
use k4sync_core::wire::response::{ResponseError, ResponseRepr, Status};
use k4sync_host::transport::{Endpoint, TransferError, Transport};
use k4sync_host::{CommandChannel, DepthStopStatus};
use k4sync_host::{Error, Phase};

const SERIAL: &str = "000019484312";

/// How the fake device answers one transaction.
#[derive(Debug, Clone)]
struct Reply {
    data: Vec<u8>,
    status: Status,
    response_tid: Option<u32>,
    fail_command: Option<TransferError>,
    fail_data: Option<TransferError>,
    fail_status: Option<TransferError>,
}

impl Reply {
    fn ok() -> Self {
        Reply {
            data: Vec::new(),
            status: Status::Success,
            response_tid: None,
            fail_command: None,
            fail_data: None,
            fail_status: None,
        }
    }

    fn data(data: impl Into<Vec<u8>>) -> Self {
        Reply {
            data: data.into(),
            ..Reply::ok()
        }
    }

    fn status(status: Status) -> Self {
        Reply {
            status,
            ..Reply::ok()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Command {
        mcu: Mcu,
        tid: u32,
        code: CommandCode,
        payload_size: u32,
    },
    WriteData {
        endpoint: Endpoint,
        len: usize,
    },
    In {
        endpoint: Endpoint,
        len: usize,
    },
}

enum Pending {
    Bytes(Vec<u8>),
    Fail(TransferError),
}

struct Fake {
    max_packet: usize,
    replies: VecDeque<Reply>,
    pending: VecDeque<Pending>,
    awaiting_write: bool,
    log: Arc<Mutex<Vec<Event>>>,
}

impl Fake {
    fn new(replies: impl IntoIterator<Item = Reply>) -> (Self, Arc<Mutex<Vec<Event>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            max_packet: 1024,
            replies: replies.into_iter().collect(),
            pending: VecDeque::new(),
            awaiting_write: false,
            log: Arc::clone(&log),
        };
        (fake, log)
    }

    fn record(&self, event: Event) {
        self.log.lock().unwrap().push(event);
    }
}

impl Transport for Fake {
    fn usb_serial(&self) -> &str {
        SERIAL
    }

    fn max_packet_size(&self, _endpoint: Endpoint) -> usize {
        self.max_packet
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        _timeout: Duration,
    ) -> Result<(), TransferError> {
        if self.awaiting_write {
            self.awaiting_write = false;
            self.record(Event::WriteData {
                endpoint,
                len: data.len(),
            });
            return Ok(());
        }
        let packet = CommandPacket::new_checked(data).expect("command packet framing");
        let repr = CommandRepr::parse(&packet).expect("command packet meaning");
        assert_eq!(endpoint, Endpoint::command_out(repr.command.mcu()));
        self.record(Event::Command {
            mcu: repr.command.mcu(),
            tid: repr.transaction_id,
            code: repr.command.code(),
            payload_size: repr.payload_size,
        });
        let reply = self.replies.pop_front().unwrap_or_else(Reply::ok);
        self.pending.clear();
        if let Some(e) = reply.fail_command {
            return Err(e);
        }
        match repr.command.data_phase() {
            DataPhase::Read => self.pending.push_back(match reply.fail_data {
                Some(e) => Pending::Fail(e),
                None => Pending::Bytes(reply.data),
            }),
            DataPhase::Write => self.awaiting_write = repr.payload_size > 0,
            DataPhase::None => {}
        }
        let response = ResponseRepr {
            transaction_id: reply.response_tid.unwrap_or(repr.transaction_id),
            status: reply.status,
        };
        self.pending.push_back(match reply.fail_status {
            Some(e) => Pending::Fail(e),
            None => Pending::Bytes(response.to_bytes().to_vec()),
        });
        Ok(())
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        _timeout: Duration,
    ) -> Result<usize, TransferError> {
        self.record(Event::In {
            endpoint,
            len: buf.len(),
        });
        match self.pending.pop_front() {
            Some(Pending::Bytes(bytes)) if bytes.len() <= buf.len() => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Some(Pending::Bytes(bytes)) => Err(TransferError::Overflow {
                endpoint,
                capacity: buf.len(),
                got: bytes.len(),
            }),
            Some(Pending::Fail(e)) => Err(e),
            None => Err(TransferError::Timeout {
                endpoint,
                timeout: Duration::from_millis(2000),
            }),
        }
    }
}

fn channel(
    replies: impl IntoIterator<Item = Reply>,
) -> (CommandChannel<Fake>, Arc<Mutex<Vec<Event>>>) {
    let (fake, log) = Fake::new(replies);
    (CommandChannel::new(fake).with_sleep(|_| {}), log)
}

fn commands(log: &Arc<Mutex<Vec<Event>>>) -> Vec<(Mcu, u32, CommandCode, u32)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|e| match *e {
            Event::Command {
                mcu,
                tid,
                code,
                payload_size,
            } => Some((mcu, tid, code, payload_size)),
            _ => None,
        })
        .collect()
}

fn in_lengths(log: &Arc<Mutex<Vec<Event>>>) -> Vec<usize> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|e| match *e {
            Event::In { len, .. } => Some(len),
            _ => None,
        })
        .collect()
}

fn versions() -> ComponentVersions {
    ComponentVersions {
        rgb: FirmwareVersion::new(1, 6, 110),
        depth: FirmwareVersion::new(1, 6, 79),
        audio: FirmwareVersion::new(1, 6, 14),
        depth_sensor_config: FirmwareVersion::new(6109, 7, 0),
        build_config: BuildConfig::from_raw(0),
        signature_type: SignatureType::from_raw(0),
    }
}

fn version_bytes() -> Vec<u8> {
    let mut bytes = vec![0; ComponentVersions::LEN];
    versions().emit(&mut bytes).unwrap();
    bytes
}

fn timeout(endpoint: Endpoint) -> TransferError {
    TransferError::Timeout {
        endpoint,
        timeout: Duration::from_millis(2000),
    }
}

#[test]
fn transaction_ids_count_per_mcu_and_include_failed_transactions() {
    let (mut ch, log) = channel([
        Reply::ok(),
        Reply::ok(),
        Reply {
            fail_command: Some(timeout(Endpoint::DepthCommandOut)),
            ..Reply::ok()
        },
        Reply {
            fail_status: Some(timeout(Endpoint::DepthResponseIn)),
            ..Reply::ok()
        },
        Reply::status(Status::Failed),
        Reply::ok(),
        Reply::ok(),
    ]);
    ch.write(Command::DepthStreamStop, &[]).unwrap();
    ch.imu_stop().unwrap();
    assert!(ch.write(Command::DepthStop, &[]).is_err());
    assert!(ch.write(Command::DepthStop, &[]).is_err());
    assert!(ch.write(Command::DepthStop, &[]).is_err());
    ch.imu_start().unwrap();
    ch.write(Command::DepthStreamStop, &[]).unwrap();

    let ids: Vec<(Mcu, u32)> = commands(&log).iter().map(|c| (c.0, c.1)).collect();
    assert_eq!(
        ids,
        [
            (Mcu::Depth, 0),
            (Mcu::Colour, 0),
            (Mcu::Depth, 1),
            (Mcu::Depth, 2),
            (Mcu::Depth, 3),
            (Mcu::Colour, 1),
            (Mcu::Depth, 4),
        ]
    );
    assert_eq!(ch.next_transaction_id(Mcu::Depth), 5);
    assert_eq!(ch.next_transaction_id(Mcu::Colour), 2);
}

#[test]
fn host_side_rejection_consumes_no_transaction_id() {
    let (mut ch, log) = channel([]);
    let err = ch
        .read_with_status(Command::NvDataGet { tag: 2 }, 0x8000_0000)
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err}");
    assert!(commands(&log).is_empty());
    assert_eq!(ch.next_transaction_id(Mcu::Depth), 0);
}

#[test]
fn in_transfers_are_whole_max_size_packets() {
    let (mut ch, log) = channel([
        Reply::data(SERIAL.as_bytes()),
        Reply::data(vec![b'{'; 3000]),
        Reply::data([0b01]),
    ]);
    assert_eq!(ch.read_serial().unwrap(), SERIAL);
    ch.read_calibration().unwrap();
    ch.read_jack_state().unwrap();
    assert_eq!(in_lengths(&log), [1024, 1024, 10_240, 1024, 1024, 1024]);

    let (mut fake, log) = Fake::new([Reply::data(SERIAL.as_bytes())]);
    fake.max_packet = 512;
    let mut ch = CommandChannel::new(fake);
    ch.read_serial().unwrap();
    assert_eq!(in_lengths(&log), [512, 512]);
}

#[test]
fn read_longer_than_payload_size_is_an_overflow() {
    let (mut ch, _) = channel([Reply::data(vec![b'1'; 300])]);
    let err = ch.read_serial().unwrap_err();
    match err {
        Error::Transfer {
            phase: Phase::ReadData,
            source:
                TransferError::Overflow {
                    capacity: 255,
                    got: 300,
                    ..
                },
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn calibration_retries_with_growing_buffers_until_the_read_is_short() {
    let (mut ch, log) = channel([
        Reply::data(vec![b'x'; 10_240]),
        Reply {
            fail_data: Some(timeout(Endpoint::DepthResponseIn)),
            ..Reply::ok()
        },
        Reply::status(Status::Error),
        Reply::data(vec![b'y'; 20_000]),
    ]);
    let json = ch.read_calibration().unwrap();
    assert_eq!(json.len(), 20_000);
    let sizes: Vec<u32> = commands(&log).iter().map(|c| c.3).collect();
    assert_eq!(sizes, [10_240, 15_360, 20_480, 25_600]);
    let ids: Vec<u32> = commands(&log).iter().map(|c| c.1).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn calibration_gives_up_after_ten_reads() {
    let full: Vec<Reply> = (0..10u32)
        .map(|i| Reply::data(vec![b'x'; 10_240 + 5_120 * i as usize]))
        .collect();
    let (mut ch, log) = channel(full);
    let err = ch.read_calibration().unwrap_err();
    match &err {
        Error::CalibrationIncomplete {
            attempts: 10,
            last_size: 56_320,
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(commands(&log).len(), 10);
    assert_eq!(err.command(), Some(CommandCode::ReadCalibration));
}

#[test]
fn calibration_stops_at_once_when_the_camera_is_gone() {
    let gone = TransferError::Disconnected {
        endpoint: Endpoint::DepthResponseIn,
    };
    let (mut ch, log) = channel([Reply {
        fail_data: Some(gone.clone()),
        ..Reply::ok()
    }]);
    let err = ch.read_calibration().unwrap_err();
    assert_eq!(err.transfer_error(), Some(&gone));
    assert_eq!(commands(&log).len(), 1);
}

#[test]
fn readiness_poll_gives_up_after_twenty_tries_with_nineteen_pauses() {
    let (fake, log) = Fake::new((0..20).map(|_| Reply::status(Status::CommandBusy)));
    let pauses = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&pauses);
    let mut ch = CommandChannel::new(fake).with_sleep(move |d| record.lock().unwrap().push(d));
    let err = ch.read_versions().unwrap_err();
    match &err {
        Error::NotReady {
            attempts: 20,
            serial: Some(serial),
            last,
        } => {
            assert_eq!(serial, SERIAL);
            assert!(last.contains("COMMAND_BUSY"), "{last}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(commands(&log).len(), 20);
    let pauses = pauses.lock().unwrap();
    assert_eq!(pauses.len(), 19);
    assert!(pauses.iter().all(|d| *d == Duration::from_millis(500)));
}

#[test]
fn readiness_poll_retries_failures_then_reads_versions_again() {
    let (mut ch, log) = channel([
        Reply {
            fail_status: Some(timeout(Endpoint::DepthResponseIn)),
            ..Reply::ok()
        },
        Reply::data(vec![0; 10]),
        Reply::status(Status::WrongDeviceState),
        Reply::data(version_bytes()),
        Reply::data(version_bytes()),
    ]);
    assert_eq!(ch.read_versions().unwrap(), versions());
    let trace: Vec<(u32, CommandCode)> = commands(&log).iter().map(|c| (c.1, c.2)).collect();
    assert_eq!(trace.len(), 5);
    assert!(trace
        .iter()
        .all(|(_, code)| *code == CommandCode::ComponentVersionGet));
    assert_eq!(trace.last().unwrap().0, 4);
}

#[test]
fn with_status_variant_returns_the_status_and_plain_variant_fails_on_it() {
    let (mut ch, _) = channel([
        Reply::status(Status::WrongDeviceState),
        Reply::status(Status::WrongDeviceState),
        Reply {
            data: SERIAL.into(),
            status: Status::Failed,
            ..Reply::ok()
        },
    ]);
    assert_eq!(
        ch.write_with_status(Command::DepthStart, &[]).unwrap(),
        Status::WrongDeviceState
    );
    let err = ch.write(Command::DepthStart, &[]).unwrap_err();
    match &err {
        Error::Status {
            command: CommandCode::DepthStart,
            endpoint: Endpoint::DepthResponseIn,
            status: Status::WrongDeviceState,
            serial: Some(_),
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("DEPTH_START"));
    let reply = ch.read_with_status(Command::ReadProductSn, 255).unwrap();
    assert_eq!(reply.status, Status::Failed);
    assert_eq!(reply.data, SERIAL.as_bytes());
}

#[test]
fn response_for_another_transaction_names_endpoint_and_command() {
    let (mut ch, _) = channel([
        Reply::ok(),
        Reply {
            response_tid: Some(7),
            ..Reply::ok()
        },
    ]);
    ch.imu_stop().unwrap();
    let err = ch.read_jack_state().unwrap_err();
    match &err {
        Error::Response {
            command: CommandCode::GetJackState,
            endpoint: Endpoint::ColourResponseIn,
            source:
                ResponseError::TransactionIdMismatch {
                    expected: 1,
                    found: 7,
                },
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("GET_JACK_STATE"), "{text}");
    assert!(text.contains("colour endpoint 0x83"), "{text}");
    assert!(text.contains(SERIAL), "{text}");
}

#[test]
fn disconnection_mid_transaction_is_a_typed_transfer_error() {
    let (mut ch, log) = channel([Reply {
        fail_data: Some(TransferError::Disconnected {
            endpoint: Endpoint::DepthResponseIn,
        }),
        ..Reply::ok()
    }]);
    let err = ch.read_serial().unwrap_err();
    match &err {
        Error::Transfer {
            serial: Some(serial),
            command: CommandCode::ReadProductSn,
            phase: Phase::ReadData,
            source: TransferError::Disconnected { endpoint },
        } => {
            assert_eq!(serial, SERIAL);
            assert_eq!(*endpoint, Endpoint::DepthResponseIn);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_disconnected());
    assert_eq!(
        in_lengths(&log).len(),
        1,
        "no status read after a failed data phase"
    );
}

#[test]
fn write_data_goes_out_as_one_transfer_after_the_command_packet() {
    let (mut ch, log) = channel([Reply::ok()]);
    let image = vec![0xA5; 70_001];
    let status = ch
        .write_with_status(
            Command::DownloadFirmware {
                last_package: 1,
                package_size_low: (image.len() & 0xFF) as u8,
            },
            &image,
        )
        .unwrap();
    assert_eq!(status, Status::Success);
    let log = log.lock().unwrap();
    assert!(matches!(
        log[0],
        Event::Command {
            payload_size: 70_001,
            code: CommandCode::DownloadFirmware,
            ..
        }
    ));
    assert_eq!(
        log[1],
        Event::WriteData {
            endpoint: Endpoint::DepthCommandOut,
            len: 70_001
        }
    );
    assert_eq!(
        log[2],
        Event::In {
            endpoint: Endpoint::DepthResponseIn,
            len: 1024
        }
    );
}

#[test]
fn depth_start_and_stop_follow_the_sdk_sequence() {
    let (mut ch, log) = channel([
        Reply::ok(),
        Reply::data(vec![7; 4096]),
        Reply::ok(),
        Reply::ok(),
        Reply::ok(),
        Reply::status(Status::WrongCommandState),
        Reply::ok(),
    ]);
    let nv = ch
        .depth_start(SensorMode::LongThrowNative, Fps::Fps30, true)
        .unwrap();
    assert_eq!(nv.map(|b| b.len()), Some(4096));
    assert_eq!(
        ch.depth_stop().unwrap(),
        DepthStopStatus {
            stream_stop: Status::WrongCommandState,
            depth_stop: Status::Success,
        }
    );
    let trace: Vec<(u32, CommandCode, u32)> =
        commands(&log).iter().map(|c| (c.1, c.2, c.3)).collect();
    assert_eq!(
        trace,
        [
            (0, CommandCode::DepthModeSet, 0),
            (1, CommandCode::NvDataGet, 2_000_000),
            (2, CommandCode::DepthFpsSet, 0),
            (3, CommandCode::DepthStart, 0),
            (4, CommandCode::DepthStreamStart, 0),
            (5, CommandCode::DepthStreamStop, 0),
            (6, CommandCode::DepthStop, 0),
        ]
    );
    assert_eq!(in_lengths(&log)[1], 2_000_896);
}

#[test]
fn depth_stop_sends_both_commands_even_when_the_first_transfer_fails() {
    let (mut ch, log) = channel([
        Reply {
            fail_status: Some(timeout(Endpoint::DepthResponseIn)),
            ..Reply::ok()
        },
        Reply::ok(),
    ]);
    assert!(ch.depth_stop().is_err());
    assert_eq!(commands(&log).len(), 2);
}

#[test]
fn jack_state_and_sys_config_reach_the_colour_mcu() {
    let (mut ch, log) = channel([Reply::data([0b10]), Reply::ok()]);
    assert_eq!(
        ch.read_jack_state().unwrap(),
        JackState {
            sync_in: false,
            sync_out: true
        }
    );
    ch.set_sys_config(SysConfig {
        mode: WiredSyncMode::Master,
        subordinate_delay_ticks: 0,
        depth_delay_ticks: 0,
        privacy_led: true,
    })
    .unwrap();
    let trace = commands(&log);
    assert_eq!(trace[0], (Mcu::Colour, 0, CommandCode::GetJackState, 1));
    assert_eq!(trace[1], (Mcu::Colour, 1, CommandCode::SetSysCfg, 0));
}

#[test]
fn jack_state_of_wrong_length_is_a_payload_error() {
    let (mut ch, _) = channel([Reply::data([])]);
    let err = ch.read_jack_state().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Payload {
                command: CommandCode::GetJackState,
                endpoint: Endpoint::ColourResponseIn,
                ..
            }
        ),
        "{err:?}"
    );
}
