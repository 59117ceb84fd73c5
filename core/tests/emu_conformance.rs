//! Conformance of the device emulator to the reference's device rules, driven only through
//! raw bytes: the "host side" emits command packets with `CommandRepr` and judges responses
//! with `check_response`, exactly as a transport would.
#![cfg(feature = "emulator")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on a broken fixture"
)]

use k4sync_core::colour_control::{ColourControls, Exposure};
use k4sync_core::emu::{
    colour_payload_header, exposure_centre_shift_ticks, mjpg_frame_len, write_mjpg_frame,
    ColourConfig, Device, DeviceParams, Endpoint, Fault, Stream, TransferError,
    COLOUR_METADATA_LEN, GREY_16X16, IMU_SAMPLES_PER_PACKET, IMU_SAMPLE_TICKS,
    UPDATE_POLLS_TO_SUCCESS,
};
use k4sync_core::sync::sequence::depth_start_sequence;
use k4sync_core::types::{ColorFormat, ColorResolution, Fps, SensorMode, WiredSyncMode};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{Command, CommandRepr, Mcu, TransactionIds};
use k4sync_core::wire::depth_mcu::{
    calibration_read_complete, calibration_read_size, parse_serial, ComponentVersions,
    FirmwareComponent, FirmwareUpdateStatus, FirmwareVersion, StageStatus, UpdateStage,
};
use k4sync_core::wire::depth_trailer::DepthTrailer;
use k4sync_core::wire::firmware::{
    seal_crc, AuthBlockRepr, ComponentVersion, FirmwareHeader, FirmwareHeaderRepr,
};
use k4sync_core::wire::imu::{ImuPacket, TRANSFER_LEN};
use k4sync_core::wire::response::{check_response, Status};
use k4sync_core::wire::uvc::{colour_timestamp, UvcPayload};

const MS: u64 = 1_000_000;

/// The host side of both command interfaces of one device.
struct Host {
    dev: Device,
    ids: [TransactionIds; 2],
    transcript: Vec<u8>,
}

/// Outcome of one transaction as the host sees it.
#[derive(Debug, PartialEq)]
struct Reply {
    tid: u32,
    data: Option<Vec<u8>>,
    status: Status,
}

fn idx(mcu: Mcu) -> usize {
    match mcu {
        Mcu::Depth => 0,
        Mcu::Colour => 1,
    }
}

impl Host {
    fn new(params: DeviceParams) -> Self {
        Host {
            dev: Device::new(params),
            ids: [TransactionIds::new(); 2],
            transcript: Vec::new(),
        }
    }

    fn seeded(seed: u64) -> Self {
        Self::new(DeviceParams::from_seed(seed))
    }

    fn send(&mut self, mcu: Mcu, repr: CommandRepr) -> Reply {
        let bytes = repr.to_bytes().expect("emit");
        self.transcript.extend_from_slice(&bytes);
        self.dev.on_command_out(mcu, &bytes).expect("command OUT");
        let data = if repr.payload_size > 0 {
            let mut buf = vec![0u8; repr.payload_size as usize];
            let n = self.dev.read_data(mcu, &mut buf).expect("data phase");
            buf.truncate(n);
            self.transcript.extend_from_slice(&buf);
            Some(buf)
        } else {
            None
        };
        let mut resp = [0u8; 16];
        self.dev.read_response(mcu, &mut resp).expect("status");
        self.transcript.extend_from_slice(&resp);
        let status = check_response(repr.transaction_id, &resp).expect("transport-level accept");
        Reply {
            tid: repr.transaction_id,
            data,
            status,
        }
    }

    fn cmd(&mut self, command: Command) -> Reply {
        let mcu = command.mcu();
        let tid = self.ids[idx(mcu)].next_id();
        self.send(mcu, CommandRepr::new(tid, command))
    }

    fn ok(&mut self, command: Command) -> Option<Vec<u8>> {
        let reply = self.cmd(command);
        assert_eq!(reply.status, Status::Success, "{command:?}");
        reply.data
    }

    fn read_calibration(&mut self, attempt: u32) -> Reply {
        let tid = self.ids[0].next_id();
        self.send(
            Mcu::Depth,
            CommandRepr::read_calibration(tid, attempt).expect("attempt"),
        )
    }

    fn sys_cfg(&mut self, mode: WiredSyncMode, sub_us: u32, depth_us: i32) -> Status {
        self.cmd(Command::SetSysCfg(SysConfig::from_usec(
            mode, sub_us, depth_us, true,
        )))
        .status
    }

    fn start_depth(&mut self, mode: SensorMode, fps: Fps) {
        for command in depth_start_sequence(mode, fps, true) {
            self.ok(command);
        }
    }
}

fn colour(fps: Fps) -> ColourConfig {
    ColourConfig {
        resolution: ColorResolution::R720p,
        format: ColorFormat::Mjpg,
        fps,
    }
}

fn depth_frames(dev: &mut Device, now: u64) -> Vec<u64> {
    let mut buf = vec![0u8; SensorMode::LongThrowNative.bulk_request_size()];
    let mut out = Vec::new();
    while let Some(info) = dev.poll_depth_frame(now, &mut buf).expect("depth poll") {
        out.push(info.device_ticks.0);
    }
    out
}

fn colour_frames(dev: &mut Device, now: u64) -> Vec<u64> {
    let mut buf = vec![0u8; mjpg_frame_len(ColorResolution::R720p)];
    let mut out = Vec::new();
    while let Some(info) = dev.poll_colour_frame(now, &mut buf).expect("colour poll") {
        out.push(info.device_ticks.0);
    }
    out
}

#[test]
fn transaction_id_is_echoed() {
    let mut host = Host::seeded(1);
    for tid in [0u32, 1, 7, 0xFFFF_FFFF] {
        let reply = host.send(Mcu::Depth, CommandRepr::new(tid, Command::DepthPowerOn));
        assert_eq!(reply.status, Status::Success);
        let reply = host.send(Mcu::Colour, CommandRepr::new(tid, Command::ImuStreamStop));
        assert_eq!(reply.status, Status::Success);
    }
}

#[test]
fn depth_start_without_mode_is_wrong_device_state() {
    let mut host = Host::seeded(2);
    assert_eq!(
        host.cmd(Command::DepthStart).status,
        Status::WrongDeviceState
    );
    host.ok(Command::DepthModeSet {
        mode: SensorMode::LongThrowNative,
    });
    assert_eq!(
        host.cmd(Command::DepthStart).status,
        Status::WrongDeviceState
    );
    host.ok(Command::DepthFpsSet { fps: Fps::Fps30 });
    assert_eq!(host.cmd(Command::DepthStart).status, Status::Success);
}

#[test]
fn depth_stream_start_without_depth_start_is_wrong_device_state() {
    let mut host = Host::seeded(3);
    host.ok(Command::DepthModeSet {
        mode: SensorMode::Megapixel,
    });
    host.ok(Command::DepthFpsSet { fps: Fps::Fps15 });
    assert_eq!(
        host.cmd(Command::DepthStreamStart).status,
        Status::WrongDeviceState
    );
    host.ok(Command::DepthStart);
    host.ok(Command::DepthStreamStart);
    assert!(host.dev.depth_state().streaming);
}

#[test]
fn mode_and_fps_cannot_change_while_depth_is_started() {
    let mut host = Host::seeded(4);
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    let set = host.cmd(Command::DepthModeSet {
        mode: SensorMode::Megapixel,
    });
    assert_eq!(set.status, Status::WrongDeviceState);
    assert_eq!(
        host.cmd(Command::DepthFpsSet { fps: Fps::Fps5 }).status,
        Status::WrongDeviceState
    );
    host.ok(Command::DepthStop);
    host.ok(Command::DepthModeSet {
        mode: SensorMode::Megapixel,
    });
}

#[test]
fn calibration_needs_a_retry_with_a_larger_buffer() {
    let mut host = Host::seeded(5);
    let first = host.read_calibration(0);
    assert_eq!(first.status, Status::Success);
    let first_len = first.data.as_ref().map_or(0, Vec::len);
    assert_eq!(first_len, 10_240);
    assert!(!calibration_read_complete(
        first_len,
        calibration_read_size(0).unwrap()
    ));
    let second = host.read_calibration(1);
    let json = second.data.expect("data");
    assert!(calibration_read_complete(
        json.len(),
        calibration_read_size(1).unwrap()
    ));
    assert!(json.len() > 10_240 && json.len() < 15_360, "{}", json.len());
    assert_eq!(&json[..10_240], &first.data.unwrap()[..]);
    let mut buf = vec![0u8; 20_000];
    for seed in 0..32 {
        let len = Device::new(DeviceParams::from_seed(seed)).calibration_json(&mut buf);
        assert!(len > 10_240 && len < 15_359, "seed {seed}: {len}");
    }
}

#[test]
fn calibration_json_has_every_field_the_parser_requires() {
    let mut host = Host::seeded(6);
    host.read_calibration(0);
    let json = String::from_utf8(host.read_calibration(1).data.unwrap()).expect("ASCII");
    for key in [
        "\"CalibrationInformation\"",
        "\"Cameras\"",
        "\"CALIBRATION_CameraLocationD0\"",
        "\"CALIBRATION_CameraLocationPV0\"",
        "\"CALIBRATION_LensDistortionModelBrownConrady\"",
        "\"ModelParameterCount\": 14",
        "\"SensorWidth\": 1024",
        "\"SensorHeight\": 2160",
        "\"MetricRadius\"",
        "\"CALIBRATION_InertialSensorType_Gyro\"",
        "\"CALIBRATION_InertialSensorType_Accelerometer\"",
        "\"BiasTemperatureModel\"",
        "\"BiasUncertainty\"",
        "\"MixingMatrixTemperatureModel\"",
        "\"ModelTypeMask\": 16",
        "\"ModelTypeMask\": 56",
        "\"Noise\"",
        "\"SecondOrderScaling\"",
        "\"TemperatureBounds\"",
        "\"TemperatureC\"",
        "\"Metadata\"",
    ] {
        assert!(json.contains(key), "missing {key}");
    }
    assert_eq!(json.matches("\"Intrinsics\"").count(), 2);
    assert_eq!(json.matches("\"Rotation\"").count(), 4);
    assert_eq!(json.matches("\"Translation\"").count(), 4);
    assert!(json.contains(&format!("\"SerialId\": \"{}\"", host.dev.serial())));
    let array_len = |key: &str| -> Vec<usize> {
        json.match_indices(&format!("\"{key}\": ["))
            .map(|(at, m)| {
                let rest = &json[at + m.len()..];
                rest[..rest.find(']').unwrap()].split(',').count()
            })
            .collect()
    };
    assert_eq!(array_len("ModelParameters"), [14, 14]);
    assert_eq!(array_len("Rotation"), [9, 9, 9, 9]);
    assert_eq!(array_len("BiasTemperatureModel"), [12, 12]);
    assert_eq!(array_len("MixingMatrixTemperatureModel"), [36, 36]);
    assert_eq!(array_len("Noise"), [6, 6]);
    let depth = json.chars().fold(0i32, |d, c| match c {
        '{' | '[' => d + 1,
        '}' | ']' => d - 1,
        _ => d,
    });
    assert_eq!(depth, 0);
}

#[test]
fn serial_matches_usb_string_serial() {
    let mut host = Host::seeded(7);
    let bytes = host.ok(Command::ReadProductSn).unwrap();
    let serial = parse_serial(&bytes).expect("printable serial");
    assert_eq!(serial, host.dev.usb_serial());
    assert_eq!(serial.len(), 12);
    assert!(serial.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(bytes.last(), Some(&0));
    let mut params = DeviceParams::from_seed(7);
    params.serial_nul = false;
    let mut no_nul = Host::new(params);
    assert_eq!(
        no_nul.ok(Command::ReadProductSn).unwrap(),
        serial.as_bytes()
    );
    assert_ne!(host.dev.container_id(), [0; 16]);
}

#[test]
fn read_data_is_truncated_to_payload_size() {
    let mut host = Host::seeded(8);
    let reply = host.send(
        Mcu::Depth,
        CommandRepr {
            transaction_id: 0,
            payload_size: 5,
            command: Command::ReadProductSn,
        },
    );
    assert_eq!(reply.status, Status::Success);
    assert_eq!(reply.data.unwrap(), host.dev.serial().as_bytes()[..5]);
}

#[test]
fn component_versions_default_to_the_recommended_release_firmware() {
    let mut host = Host::seeded(9);
    let bytes = host.ok(Command::ComponentVersionGet).unwrap();
    assert_eq!(bytes.len(), ComponentVersions::LEN);
    let versions = ComponentVersions::parse(&bytes).unwrap();
    assert_eq!(versions.rgb, FirmwareVersion::new(1, 6, 110));
    assert_eq!(versions.depth, FirmwareVersion::new(1, 6, 80));
    assert_eq!(versions.audio, FirmwareVersion::new(1, 6, 14));
    assert_eq!(versions.depth_sensor_config.major, 6109);
    assert_eq!(versions.depth_sensor_config.minor, 7);
    assert!(!versions.build_config.is_debug());
    assert!(versions.meets_recommended());
}

#[test]
fn nv_tag_2_is_a_blob_and_other_tags_are_bad_tags() {
    let mut host = Host::seeded(10);
    let blob = host.ok(Command::NvDataGet { tag: 2 }).unwrap();
    assert_eq!(blob.len(), k4sync_core::emu::NV_BLOB_LEN);
    assert_eq!(host.ok(Command::NvDataGet { tag: 2 }).unwrap(), blob);
    let other = host.cmd(Command::NvDataGet { tag: 3 });
    assert_eq!(other.status, Status::ParamBadTag);
    assert_eq!(other.data, Some(vec![]));
}

#[test]
fn quiet_stop_is_accepted_while_idle() {
    let mut host = Host::seeded(11);
    assert_eq!(host.cmd(Command::DepthStreamStop).status, Status::Success);
    assert_eq!(host.cmd(Command::DepthStop).status, Status::Success);
    assert_eq!(host.cmd(Command::ImuStreamStop).status, Status::Success);
}

#[test]
fn power_on_and_off_are_accepted_in_any_state() {
    let mut host = Host::seeded(12);
    host.ok(Command::DepthPowerOff);
    host.start_depth(SensorMode::QuarterMegapixel, Fps::Fps30);
    host.ok(Command::DepthPowerOn);
    host.ok(Command::DepthPowerOff);
    assert!(host.dev.depth_state().streaming);
}

#[test]
fn get_sys_cfg_and_version_get_are_not_implemented_with_a_zlp() {
    let mut host = Host::seeded(13);
    assert_eq!(host.cmd(Command::GetSysCfg).status, Status::NotImplemented);
    assert_eq!(host.cmd(Command::VersionGet).status, Status::NotImplemented);
    let reply = host.send(
        Mcu::Colour,
        CommandRepr {
            transaction_id: 9,
            payload_size: 64,
            command: Command::GetSysCfg,
        },
    );
    assert_eq!(reply.status, Status::NotImplemented);
    assert_eq!(reply.data, Some(vec![]));
}

#[test]
fn unknown_or_misrouted_command_is_not_implemented() {
    let mut host = Host::seeded(14);
    let mut bytes = CommandRepr::new(42, Command::DepthStart)
        .to_bytes()
        .unwrap();
    bytes[12..16].copy_from_slice(&0x8000_0005u32.to_le_bytes());
    host.dev.on_command_out(Mcu::Colour, &bytes).unwrap();
    let mut resp = [0u8; 16];
    host.dev.read_response(Mcu::Colour, &mut resp).unwrap();
    assert_eq!(check_response(42, &resp), Ok(Status::NotImplemented));
    let misrouted = host.send(Mcu::Colour, CommandRepr::new(3, Command::DepthStart));
    assert_eq!(misrouted.status, Status::NotImplemented);
    let mut bad_fps = CommandRepr::new(4, Command::DepthFpsSet { fps: Fps::Fps5 })
        .to_bytes()
        .unwrap();
    bad_fps[20] = 7;
    host.dev.on_command_out(Mcu::Depth, &bad_fps).unwrap();
    host.dev.read_response(Mcu::Depth, &mut resp).unwrap();
    assert_eq!(check_response(4, &resp), Ok(Status::InvalidParameter));
}

#[test]
fn malformed_command_packet_gets_no_response() {
    let mut host = Host::seeded(15);
    let good = CommandRepr::new(0, Command::DepthStart).to_bytes().unwrap();
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xFF;
    let mut resp = [0u8; 16];
    for bytes in [&bad_magic[..], &good[..19], &[][..]] {
        host.dev.on_command_out(Mcu::Depth, bytes).unwrap();
        assert_eq!(
            host.dev.read_response(Mcu::Depth, &mut resp),
            Err(TransferError::Timeout {
                endpoint: Endpoint::DepthResponseIn
            })
        );
    }
    assert_eq!(host.cmd(Command::DepthPowerOn).status, Status::Success);
}

#[test]
fn set_sys_cfg_is_rejected_while_cameras_stream() {
    let mut host = Host::seeded(16);
    assert_eq!(host.sys_cfg(WiredSyncMode::Master, 0, -80), Status::Success);
    assert_eq!(host.dev.sys_config().depth_delay_ticks, -7);
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    assert_eq!(
        host.sys_cfg(WiredSyncMode::Standalone, 0, 0),
        Status::WrongDeviceState
    );
    host.ok(Command::DepthStreamStop);
    host.ok(Command::DepthStop);
    host.dev.start_colour(0, colour(Fps::Fps30)).unwrap();
    assert_eq!(
        host.sys_cfg(WiredSyncMode::Standalone, 0, 0),
        Status::WrongDeviceState
    );
    host.dev.stop_colour();
    assert_eq!(
        host.sys_cfg(WiredSyncMode::Standalone, 0, 0),
        Status::Success
    );
}

#[test]
fn jack_state_reports_the_plugs() {
    let mut host = Host::seeded(17);
    for byte in [0u8, 1, 2, 3] {
        host.dev.set_jack(JackState::from_byte(byte));
        let data = host.ok(Command::GetJackState).unwrap();
        assert_eq!(data, [byte]);
        assert_eq!(JackState::parse(&data), Ok(JackState::from_byte(byte)));
    }
}

fn firmware_image() -> Vec<u8> {
    let mut image = vec![0u8; 104 + 6 + 16 + 4];
    let header = FirmwareHeaderRepr {
        signature_type: 0,
        build_config: 0,
        auth_block_offset: 104,
        depth: ComponentVersion {
            major: 1,
            minor: 6,
            build: 80,
        },
        rgb: ComponentVersion {
            major: 1,
            minor: 6,
            build: 110,
        },
        audio: ComponentVersion {
            major: 1,
            minor: 6,
            build: 14,
        },
        depth_configs: heapless::Vec::new(),
    };
    header
        .emit(&mut FirmwareHeader::new_unchecked(&mut image[..]))
        .unwrap();
    AuthBlockRepr {
        cert_block_offset: 110,
        cert_block_len: 16,
    }
    .emit(&mut image[104..110])
    .unwrap();
    seal_crc(&mut image).unwrap();
    image
}

fn download(host: &mut Host, image: &[u8]) -> Status {
    let tid = host.ids[0].next_id();
    let repr = CommandRepr::download_firmware(tid, image.len()).unwrap();
    host.dev
        .on_command_out(Mcu::Depth, &repr.to_bytes().unwrap())
        .unwrap();
    host.dev.on_write_data(Mcu::Depth, image).unwrap();
    let mut resp = [0u8; 16];
    host.dev.read_response(Mcu::Depth, &mut resp).unwrap();
    check_response(tid, &resp).unwrap()
}

fn update_status(host: &mut Host) -> FirmwareUpdateStatus {
    FirmwareUpdateStatus::parse(&host.ok(Command::GetFirmwareUpdateStatus).unwrap()).unwrap()
}

#[test]
fn firmware_update_progresses_through_stages_to_success() {
    let mut host = Host::seeded(18);
    assert_eq!(
        host.cmd(Command::GetFirmwareUpdateStatus).status,
        Status::WrongCommandState
    );
    assert_eq!(download(&mut host, &firmware_image()), Status::Success);
    let first = update_status(&mut host);
    assert_eq!(
        first.stage(FirmwareComponent::Depth, UpdateStage::Overall),
        StageStatus::InProgress
    );
    for _ in 2..UPDATE_POLLS_TO_SUCCESS - 1 {
        update_status(&mut host);
    }
    let before_last = update_status(&mut host);
    let done = update_status(&mut host);
    let overall =
        |s: &FirmwareUpdateStatus| FirmwareComponent::ALL.map(|c| s.stage(c, UpdateStage::Overall));
    assert!(overall(&before_last).contains(&StageStatus::InProgress));
    assert_eq!(overall(&done), [StageStatus::Succeeded; 4]);
}

#[test]
fn firmware_image_with_a_bad_crc_fails_authentication() {
    let mut host = Host::seeded(19);
    let mut image = firmware_image();
    image[20] ^= 1;
    assert_eq!(download(&mut host, &image), Status::Success);
    let status = update_status(&mut host);
    assert_eq!(
        status.stage(FirmwareComponent::Rgb, UpdateStage::Overall),
        StageStatus::Failed
    );
}

#[test]
fn reset_returns_the_mcus_to_their_power_up_state() {
    let mut host = Host::seeded(20);
    host.sys_cfg(WiredSyncMode::Subordinate, 160, 0);
    host.ok(Command::ImuStreamStart);
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    host.ok(Command::DepthReset);
    assert_eq!(host.dev.depth_state(), Default::default());
    assert_eq!(
        host.cmd(Command::DepthStart).status,
        Status::WrongDeviceState
    );
    host.ok(Command::ColourReset);
    assert!(!host.dev.imu_running());
    assert_eq!(host.dev.sys_config().mode, WiredSyncMode::Standalone);
}

#[test]
fn colour_start_resets_clock_on_master() {
    let mut params = DeviceParams::from_seed(21);
    params.start_ticks = 5_000_000;
    let mut host = Host::new(params);
    host.sys_cfg(WiredSyncMode::Master, 0, 0);
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    host.dev.advance_to(100 * MS);
    assert!(host.dev.clock().now_ticks().0 > 5_000_000);
    let early = depth_frames(&mut host.dev, 100 * MS);
    assert!(early.iter().all(|&t| t > 5_000_000));
    host.dev.start_colour(200 * MS, colour(Fps::Fps30)).unwrap();
    assert_eq!(host.dev.clock().now_ticks().0, 0);
    let frames = colour_frames(&mut host.dev, 300 * MS);
    assert_eq!(frames, [3_000, 6_000]);
    let depth = depth_frames(&mut host.dev, 300 * MS);
    assert_eq!(depth, [3_000, 6_000]);
}

#[test]
fn colour_start_on_a_subordinate_leaves_the_clock_alone() {
    let mut params = DeviceParams::from_seed(22);
    params.start_ticks = 777_000;
    let mut host = Host::new(params);
    host.sys_cfg(WiredSyncMode::Subordinate, 0, 0);
    host.dev.start_colour(10 * MS, colour(Fps::Fps30)).unwrap();
    assert!(host.dev.clock().now_ticks().0 >= 777_000);
}

#[test]
fn subordinate_waits_for_first_pulse() {
    let mut host = Host::seeded(23);
    host.sys_cfg(WiredSyncMode::Subordinate, 160, 0);
    host.dev.start_colour(0, colour(Fps::Fps30)).unwrap();
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    assert!(colour_frames(&mut host.dev, 2_000 * MS).is_empty());
    assert!(depth_frames(&mut host.dev, 2_000 * MS).is_empty());
    host.dev.on_sync_in_pulse(2_100 * MS);
    assert_eq!(host.dev.clock().ticks_at(2_100 * MS).0, 0);
    assert!(colour_frames(&mut host.dev, 2_150 * MS).is_empty());
    let second = 2_100 * MS + 33_333_333;
    host.dev.on_sync_in_pulse(second);
    assert_eq!(colour_frames(&mut host.dev, second + 20 * MS), [2_999 + 14]);
    assert_eq!(depth_frames(&mut host.dev, second + 20 * MS), [2_999 + 14]);
    assert!(colour_frames(&mut host.dev, second + 200 * MS).is_empty());
}

#[test]
fn depth_delay_shifts_depth_and_subordinate_delay_shifts_both() {
    let mut master = Host::seeded(24);
    master.sys_cfg(WiredSyncMode::Master, 0, -80);
    master.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    let mut sub = Host::seeded(25);
    sub.sys_cfg(WiredSyncMode::Subordinate, 33_333, 80);
    let [mc, md, sc, sd] = on_one_cable(&mut master, &mut sub);
    assert!(mc.len() >= 10 && sc.len() >= 9, "{mc:?} {sc:?}");
    for (m, d) in mc.iter().zip(&md) {
        assert_eq!(*d as i64 - *m as i64, -7);
    }
    for (m, s) in mc.iter().zip(&sc) {
        assert!((*s as i64 - *m as i64 - 2_999).abs() <= 1, "{m} {s}");
    }
    for (c, d) in sc.iter().zip(&sd) {
        assert_eq!(*d as i64 - *c as i64, 7);
    }
}

/// Runs a master and a subordinate (no delays) on one cable for 500 ms and returns the
/// centres of exposure: master colour, subordinate colour, subordinate depth.
fn master_and_subordinate(master_exposure: Exposure, sub_exposure: Exposure) -> [Vec<u64>; 3] {
    let mut master = Host::seeded(27);
    master.sys_cfg(WiredSyncMode::Master, 0, 0);
    master.dev.set_colour_controls(ColourControls {
        exposure: master_exposure,
        gain: None,
    });
    let mut sub = Host::seeded(28);
    sub.sys_cfg(WiredSyncMode::Subordinate, 0, 0);
    sub.dev.set_colour_controls(ColourControls {
        exposure: sub_exposure,
        gain: Some(40),
    });
    let [mc, _, sc, sd] = on_one_cable(&mut master, &mut sub);
    [mc, sc, sd]
}

/// Starts the subordinate's colour and NFOV depth, then the master's colour 50 ms later, with
/// the master's Sync Out wired to the subordinate's Sync In, and runs them to 500 ms: the
/// centres of exposure of master colour, master depth, subordinate colour, subordinate depth.
fn on_one_cable(master: &mut Host, sub: &mut Host) -> [Vec<u64>; 4] {
    sub.dev.start_colour(0, colour(Fps::Fps30)).unwrap();
    sub.start_depth(SensorMode::LongThrowNative, Fps::Fps30);
    master
        .dev
        .start_colour(50 * MS, colour(Fps::Fps30))
        .unwrap();
    let mut now = 50 * MS;
    let mut out: [Vec<u64>; 4] = Default::default();
    while now < 500 * MS {
        now += MS;
        while let Some(pulse) = master.dev.poll_sync_out(now) {
            sub.dev.on_sync_in_pulse(pulse);
        }
        out[0].extend(colour_frames(&mut master.dev, now));
        out[1].extend(depth_frames(&mut master.dev, now));
        out[2].extend(colour_frames(&mut sub.dev, now));
        out[3].extend(depth_frames(&mut sub.dev, now));
    }
    out
}

#[test]
fn a_longer_manual_exposure_moves_the_centres_earlier_by_half_the_difference() {
    let auto = master_and_subordinate(Exposure::Auto, Exposure::Auto);
    let long = Exposure::Manual { usec: 33_330 };
    let [mc, sc, sd] = master_and_subordinate(Exposure::Auto, long);
    assert!(sc.len() >= 9, "{sc:?}");
    // (8,330 - 33,330) / 2 = -12,500 µs = -1,125 ticks.
    assert_eq!(exposure_centre_shift_ticks(33_330), -1_125);
    for (a, s) in auto[1].iter().zip(&sc) {
        assert_eq!(*s as i64 - *a as i64, -1_125, "subordinate colour");
    }
    for ((m, s), m_auto) in mc.iter().zip(&sc).zip(&auto[0]) {
        assert_eq!(m, m_auto, "the master's own exposure did not change");
        assert!((*s as i64 - *m as i64 + 1_125).abs() <= 1, "{m} {s}");
    }
    for (c, d) in sc.iter().zip(&sd) {
        assert_eq!(c, d, "depth stays centred on colour (§6.4)");
    }
}

#[test]
fn colour_controls_are_held_and_reported_as_the_camera_maps_them() {
    let mut host = Host::seeded(29);
    assert_eq!(host.dev.colour_controls(), ColourControls::default());
    host.dev.set_colour_controls(ColourControls {
        exposure: Exposure::Manual { usec: 31_250 },
        gain: Some(128),
    });
    let reported = ColourControls {
        exposure: Exposure::Manual { usec: 33_330 },
        gain: Some(128),
    };
    assert_eq!(host.dev.colour_controls(), reported);
    host.dev.set_colour_controls(ColourControls::default());
    assert_eq!(
        host.dev.colour_controls(),
        ColourControls {
            exposure: Exposure::Auto,
            gain: Some(128),
        },
        "auto exposure leaves the gain as it was"
    );
}

#[test]
fn subordinate_repeats_sync_in_on_sync_out() {
    let mut host = Host::seeded(26);
    host.sys_cfg(WiredSyncMode::Subordinate, 0, 0);
    host.dev.on_sync_in_pulse(10 * MS);
    host.dev.on_sync_in_pulse(43 * MS);
    assert_eq!(host.dev.poll_sync_out(50 * MS), Some(10 * MS));
    assert_eq!(host.dev.poll_sync_out(50 * MS), Some(43 * MS));
    assert_eq!(host.dev.poll_sync_out(50 * MS), None);
}

#[test]
fn master_sync_out_runs_only_with_colour() {
    let mut host = Host::seeded(27);
    host.sys_cfg(WiredSyncMode::Master, 0, 0);
    host.start_depth(SensorMode::LongThrowNative, Fps::Fps15);
    assert_eq!(host.dev.poll_sync_out(1_000 * MS), None);
    host.dev
        .start_colour(1_000 * MS, colour(Fps::Fps15))
        .unwrap();
    let mut pulses = vec![];
    while let Some(p) = host.dev.poll_sync_out(1_200 * MS) {
        pulses.push(p);
    }
    assert_eq!(
        pulses,
        [
            1_000 * MS,
            1_000 * MS + 66_666_667,
            1_000 * MS + 133_333_334,
            1_200 * MS
        ]
    );
}

#[test]
fn depth_frames_have_the_exact_raw_size_and_trailer_timestamp() {
    for mode in [
        SensorMode::PseudoCommon,
        SensorMode::LongThrowNative,
        SensorMode::Megapixel,
        SensorMode::QuarterMegapixel,
    ] {
        let mut host = Host::seeded(28);
        host.start_depth(mode, Fps::Fps5);
        let mut buf = vec![0u8; mode.bulk_request_size()];
        let info = host
            .dev
            .poll_depth_frame(500 * MS, &mut buf)
            .unwrap()
            .expect("a frame after 500 ms at 5 fps");
        assert_eq!(info.len, mode.raw_frame_size());
        let trailer = DepthTrailer::from_frame_in_mode(&buf[..info.len], mode).unwrap();
        assert!(trailer.is_k4sync_emulated());
        assert_eq!(trailer.timestamp_ticks(), info.device_ticks);
        assert!(trailer.sensor_temperature_celsius() > 30.0);
    }
}

#[test]
fn imu_packets_carry_8_plus_8_samples_at_about_208_per_second() {
    let mut host = Host::seeded(29);
    host.ok(Command::ImuStreamStart);
    let mut buf = [0u8; TRANSFER_LEN];
    let mut packets = 0;
    let mut last_tick = None;
    for ms in 1..=1_000u64 {
        while let Some(info) = host.dev.poll_imu_packet(ms * MS, &mut buf).unwrap() {
            assert_eq!(info.len, TRANSFER_LEN);
            let packet = ImuPacket::new_checked(&buf[..]).unwrap();
            assert_eq!((packet.gyro_count(), packet.accel_count()), (8, 8));
            for sample in packet.samples() {
                if let Some(prev) = last_tick {
                    assert_eq!(sample.accel_ticks.0, prev + IMU_SAMPLE_TICKS);
                }
                last_tick = Some(sample.accel_ticks.0);
            }
            packets += 1;
        }
    }
    assert!((207..=209).contains(&packets), "{packets}");
    assert_eq!(IMU_SAMPLES_PER_PACKET, 8);
}

#[test]
fn colour_frames_have_format_sizes_and_a_uvc_header_carrying_the_pts() {
    let mut host = Host::seeded(30);
    host.dev.start_colour(0, colour(Fps::Fps30)).unwrap();
    let mut buf = vec![0u8; 1280 * 720 * 2];
    let info = host
        .dev
        .poll_colour_frame(50 * MS, &mut buf)
        .unwrap()
        .unwrap();
    let mut expected = vec![0u8; mjpg_frame_len(ColorResolution::R720p)];
    write_mjpg_frame(ColorResolution::R720p, &mut expected);
    assert_eq!(info.len, 1280 * 720 * 3 / 16);
    assert_eq!(&buf[..info.len], &expected[..]);
    assert_eq!(buf[..20], GREY_16X16[..20]);
    assert_eq!(buf[info.len - 139..info.len], GREY_16X16[20..]);
    let mut payload = vec![0u8; 255 + 16];
    let header_len = colour_payload_header(&info, true, true, &mut payload).unwrap();
    let view = UvcPayload::new_checked(&payload[..header_len]).unwrap();
    assert_eq!(view.metadata().len(), COLOUR_METADATA_LEN);
    assert!(view.end_of_frame());
    assert_eq!(colour_timestamp(view.metadata()), Some(info.device_ticks));
    host.dev.stop_colour();
    for (format, size) in [
        (ColorFormat::Nv12, 1280 * 720 * 3 / 2),
        (ColorFormat::Yuy2, 1280 * 720 * 2),
    ] {
        host.dev
            .start_colour(
                100 * MS,
                ColourConfig {
                    resolution: ColorResolution::R720p,
                    format,
                    fps: Fps::Fps30,
                },
            )
            .unwrap();
        let info = host
            .dev
            .poll_colour_frame(150 * MS, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(info.len, size);
        host.dev.stop_colour();
    }
}

#[test]
fn unplug_makes_every_later_call_gone() {
    let mut host = Host::seeded(31);
    host.dev.inject(Fault::Unplug);
    let bytes = CommandRepr::new(0, Command::DepthStart).to_bytes().unwrap();
    assert_eq!(
        host.dev.on_command_out(Mcu::Depth, &bytes),
        Err(TransferError::Gone {
            endpoint: Endpoint::DepthCommandOut
        })
    );
    let mut resp = [0u8; 16];
    assert!(matches!(
        host.dev.read_response(Mcu::Colour, &mut resp),
        Err(TransferError::Gone { .. })
    ));
    assert!(matches!(
        host.dev.poll_imu_packet(0, &mut [0u8; TRANSFER_LEN]),
        Err(TransferError::Gone { .. })
    ));
    assert!(host.dev.start_colour(0, colour(Fps::Fps30)).is_err());
    assert!(host.dev.is_gone());
}

#[test]
fn scripted_stall_and_command_timeout_fire_once() {
    let mut host = Host::seeded(32);
    host.dev.inject(Fault::Stall(Endpoint::ColourCommandOut));
    let bytes = CommandRepr::new(0, Command::ImuStreamStop)
        .to_bytes()
        .unwrap();
    assert_eq!(
        host.dev.on_command_out(Mcu::Colour, &bytes),
        Err(TransferError::Stall {
            endpoint: Endpoint::ColourCommandOut
        })
    );
    host.dev.inject(Fault::CommandTimeout(Mcu::Colour));
    host.dev.on_command_out(Mcu::Colour, &bytes).unwrap();
    let mut resp = [0u8; 16];
    assert!(matches!(
        host.dev.read_response(Mcu::Colour, &mut resp),
        Err(TransferError::Timeout { .. })
    ));
    assert_eq!(host.cmd(Command::ImuStreamStop).status, Status::Success);
}

#[test]
fn scripted_short_oversized_and_dropped_frames() {
    let mut host = Host::seeded(33);
    let mode = SensorMode::LongThrowNative;
    host.start_depth(mode, Fps::Fps30);
    let mut buf = vec![0u8; mode.bulk_request_size()];
    host.dev.inject(Fault::ShortFrame(Stream::Depth));
    let short = host
        .dev
        .poll_depth_frame(100 * MS, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(short.len, mode.raw_frame_size() / 2);
    host.dev.inject(Fault::OversizedFrame(Stream::Depth));
    let long = host
        .dev
        .poll_depth_frame(100 * MS, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(long.len, mode.bulk_request_size());
    host.dev.inject(Fault::DropFrames {
        stream: Stream::Depth,
        count: 2,
    });
    assert_eq!(host.dev.poll_depth_frame(300 * MS, &mut buf), Ok(None));
    let after = host
        .dev
        .poll_depth_frame(340 * MS, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(after.len, mode.raw_frame_size());
    assert!(after.index >= long.index + 3);
    host.dev.inject(Fault::OversizedFrame(Stream::Imu));
    host.ok(Command::ImuStreamStart);
    assert!(matches!(
        host.dev.poll_imu_packet(400 * MS, &mut [0u8; TRANSFER_LEN]),
        Err(TransferError::Overflow { .. })
    ));
}

#[test]
fn the_open_sequence_of_the_reference_table_succeeds() {
    let mut host = Host::seeded(34);
    host.dev.set_jack(JackState {
        sync_in: false,
        sync_out: true,
    });
    let expect = |reply: Reply, mcu_tid: u32| {
        assert_eq!(reply.tid, mcu_tid);
        reply
    };
    let sn = expect(host.cmd(Command::ReadProductSn), 0);
    assert_eq!(
        parse_serial(sn.data.as_ref().unwrap()).unwrap(),
        host.dev.usb_serial()
    );
    let mut attempt = 0;
    let json_len = loop {
        let tid = host.ids[0].peek();
        let reply = host.read_calibration(attempt);
        assert_eq!(reply.tid, tid);
        let len = reply.data.map_or(0, |d| d.len());
        if calibration_read_complete(len, calibration_read_size(attempt).unwrap()) {
            break len;
        }
        attempt += 1;
    };
    assert!(json_len > 10_240);
    assert_eq!(
        attempt, 1,
        "one retry; ids below shift by one as §7.1 notes"
    );
    let shift = attempt;
    expect(host.cmd(Command::ComponentVersionGet), 2 + shift);
    let versions = expect(host.cmd(Command::ComponentVersionGet), 3 + shift);
    assert!(ComponentVersions::parse(&versions.data.unwrap())
        .unwrap()
        .meets_minimum());
    expect(host.cmd(Command::ReadProductSn), 4 + shift);
    expect(host.cmd(Command::DepthStreamStop), 5 + shift);
    expect(host.cmd(Command::DepthStop), 6 + shift);
    let imu_stop = expect(host.cmd(Command::ImuStreamStop), 0);
    assert_eq!(imu_stop.status, Status::Success);
    let jack = expect(host.cmd(Command::GetJackState), 1);
    assert!(JackState::parse(&jack.data.unwrap()).unwrap().sync_out);
    assert_eq!(host.sys_cfg(WiredSyncMode::Master, 0, 0), Status::Success);
    let start = depth_start_sequence(SensorMode::LongThrowNative, Fps::Fps30, true);
    for (tid, command) in (7 + shift..).zip(start) {
        let reply = expect(host.cmd(command), tid);
        assert_eq!(reply.status, Status::Success, "{command:?}");
    }
    host.dev.start_colour(0, colour(Fps::Fps30)).unwrap();
    assert_eq!(
        expect(host.cmd(Command::ImuStreamStart), 3).status,
        Status::Success
    );
    assert!(host.dev.imu_running());
    assert!(!colour_frames(&mut host.dev, 100 * MS).is_empty());
}

fn scripted_session(seed: u64) -> u64 {
    let mut host = Host::seeded(seed);
    host.cmd(Command::ReadProductSn);
    host.read_calibration(0);
    host.read_calibration(1);
    host.cmd(Command::ComponentVersionGet);
    host.cmd(Command::DepthStreamStop);
    host.cmd(Command::DepthStop);
    host.cmd(Command::ImuStreamStop);
    host.sys_cfg(WiredSyncMode::Standalone, 0, 0);
    host.start_depth(SensorMode::QuarterMegapixel, Fps::Fps15);
    host.dev.start_colour(10 * MS, colour(Fps::Fps15)).unwrap();
    host.cmd(Command::ImuStreamStart);
    let mut depth = vec![0u8; SensorMode::QuarterMegapixel.bulk_request_size()];
    let mut colour_buf = vec![0u8; mjpg_frame_len(ColorResolution::R720p)];
    let mut imu = [0u8; TRANSFER_LEN];
    for ms in (0..400u64).step_by(5) {
        let now = 10 * MS + ms * MS;
        if let Some(info) = host.dev.poll_depth_frame(now, &mut depth).unwrap() {
            host.transcript.extend_from_slice(&depth[..4096]);
            host.transcript
                .extend_from_slice(&depth[info.len - 40..info.len]);
        }
        if let Some(info) = host.dev.poll_colour_frame(now, &mut colour_buf).unwrap() {
            host.transcript
                .extend_from_slice(&info.device_ticks.0.to_le_bytes());
        }
        while let Some(info) = host.dev.poll_imu_packet(now, &mut imu).unwrap() {
            host.transcript.extend_from_slice(&imu[..info.len]);
        }
    }
    host.transcript
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
}

#[test]
fn same_params_and_seed_give_the_same_transcript() {
    assert_eq!(scripted_session(99), scripted_session(99));
    assert_ne!(scripted_session(99), scripted_session(100));
}
