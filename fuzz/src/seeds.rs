//! Seeds for every target, made by the codec's and the Matroska writer's own encoders: each
//! is a valid packet, payload sequence or recording in the layout its harness reads, so the
//! fuzzer mutates inputs that already pass the magic, length and CRC gates. Deterministic:
//! the same code writes the same bytes.

use std::io::Cursor;
use std::time::{Duration, UNIX_EPOCH};

use k4sync_core::emu::{colour_payload_header, FrameInfo, Stream, DEFAULT_VERSIONS};
use k4sync_core::time::{Ticks90k, Usec};
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{Command, CommandCode, CommandRepr};
use k4sync_core::wire::depth_mcu::{
    ComponentUpdateStatus, FirmwareUpdateStatus, StageStatus, UpdateStage,
};
use k4sync_core::wire::depth_trailer::{DepthTrailerRepr, TRAILER_LEN};
use k4sync_core::wire::firmware::{
    seal_crc, AuthBlockRepr, ComponentVersion, DepthConfigVersion, FirmwareHeader,
    FirmwareHeaderRepr, CRC_LEN, HEADER_LEN,
};
use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr, ImuRecord};
use k4sync_core::wire::response::{ResponseRepr, Status};
use k4sync_core::wire::uvc::{UvcPayload, FLAG_ERR};
use k4sync_host::mkv::{
    Capture, DeviceInfo, Image, ImuSample, MkvWriter, RecordingHeader, WriterOptions,
};

/// One seed: the target it feeds, a file name (without the `gen-` prefix) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: impl Into<String>, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes,
    }
}

/// Every target's seeds.
pub fn all() -> Vec<Seed> {
    [
        command(),
        response(),
        colour_mcu_payloads(),
        depth_mcu_payloads(),
        imu_packet(),
        depth_trailer(),
        firmware(),
        uvc(),
        mkv_reader(),
    ]
    .concat()
}

fn sys_configs() -> [SysConfig; 3] {
    [
        SysConfig::from_usec(WiredSyncMode::Standalone, 0, 0, true),
        SysConfig::from_usec(WiredSyncMode::Master, 0, -80, true),
        SysConfig::from_usec(WiredSyncMode::Subordinate, 160, 0, false),
    ]
}

/// The commands of `code` the seeds hold: one, or one per value of its argument.
fn commands_of(code: CommandCode) -> Vec<Command> {
    match code {
        CommandCode::NvDataGet => vec![Command::NvDataGet { tag: 2 }],
        CommandCode::DepthModeSet => crate::depth_trailer::MODES
            .iter()
            .map(|&mode| Command::DepthModeSet { mode })
            .collect(),
        CommandCode::DepthFpsSet => Fps::ALL
            .iter()
            .map(|&fps| Command::DepthFpsSet { fps })
            .collect(),
        CommandCode::DownloadFirmware => vec![Command::DownloadFirmware {
            last_package: 1,
            package_size_low: 0x40,
        }],
        CommandCode::SetSysCfg => sys_configs().map(Command::SetSysCfg).to_vec(),
        unit => Command::parse_data(unit, &[]).into_iter().collect(),
    }
}

/// One packet of every command, with its data where it has some.
pub fn command() -> Vec<Seed> {
    CommandCode::ALL
        .iter()
        .flat_map(|&code| commands_of(code))
        .enumerate()
        .filter_map(|(i, command)| {
            let repr = CommandRepr::new(i as u32, command);
            let bytes = repr.to_bytes().ok()?.to_vec();
            Some(seed("command", format!("{i:02}-{}", command.code()), bytes))
        })
        .collect()
}

/// Every status the SDK names, once with transaction id 0 (the harness expects the first
/// byte as the id, which is 0 in every valid response) and once with another id.
pub fn response() -> Vec<Seed> {
    Status::ALL
        .iter()
        .flat_map(|&status| {
            [0, 7].map(|transaction_id| {
                let bytes = ResponseRepr {
                    transaction_id,
                    status,
                }
                .to_bytes()
                .to_vec();
                seed(
                    "response",
                    format!("{}-tid{transaction_id}", status.sdk_name()),
                    bytes,
                )
            })
        })
        .collect()
}

/// SET_SYS_CFG data for each role, and each jack state.
pub fn colour_mcu_payloads() -> Vec<Seed> {
    let configs = sys_configs().into_iter().map(|c| {
        seed(
            "colour_mcu_payloads",
            format!("sys-cfg-{:?}", c.mode),
            c.to_bytes().to_vec(),
        )
    });
    let jacks = [
        JackState::NONE,
        JackState::IN_ONLY,
        JackState::OUT_ONLY,
        JackState::BOTH,
    ]
    .into_iter()
    .map(|j| {
        seed(
            "colour_mcu_payloads",
            format!("jack-{}", j.to_byte()),
            vec![j.to_byte()],
        )
    });
    configs.chain(jacks).collect()
}

/// Component versions, a serial number, update statuses at every stage and an NV blob.
pub fn depth_mcu_payloads() -> Vec<Seed> {
    let mut versions = [0u8; 18];
    let mut out = Vec::new();
    if DEFAULT_VERSIONS.emit(&mut versions).is_ok() {
        out.push(seed("depth_mcu_payloads", "versions", versions.to_vec()));
    }
    out.push(seed(
        "depth_mcu_payloads",
        "serial",
        b"000123456789\0".to_vec(),
    ));
    out.push(seed(
        "depth_mcu_payloads",
        "serial-25",
        b"ABCDEFGHIJKLMNOPQRSTUVWXY".to_vec(),
    ));
    for (i, status) in [
        StageStatus::from_bits(0),
        StageStatus::from_bits(1),
        StageStatus::from_bits(2),
        StageStatus::from_bits(3),
    ]
    .into_iter()
    .enumerate()
    {
        let word = UpdateStage::ALL
            .iter()
            .fold(ComponentUpdateStatus(0), |w, &stage| {
                w.with_stage(stage, status)
            });
        let mut bytes = [0u8; 8];
        let update = FirmwareUpdateStatus {
            depth: word,
            rgb: word,
            audio: word,
            depth_sensor_config: word,
        };
        if update.emit(&mut bytes).is_ok() {
            out.push(seed(
                "depth_mcu_payloads",
                format!("update-{i}"),
                bytes.to_vec(),
            ));
        }
    }
    out.push(seed("depth_mcu_payloads", "nv-blob", vec![0xA5; 64]));
    out
}

fn imu_repr(gyro: usize, accel: usize) -> ImuPacketRepr {
    let record = |i: usize, z: i16| ImuRecord {
        ticks: Ticks90k(90_000 + 150 * i as u64),
        raw: [i as i16, -(i as i16), z],
    };
    ImuPacketRepr {
        temperature_period_usec: 1_000_000,
        temperature_sensitivity: 256,
        temperature_raw: 5_000,
        gyro_sensitivity: 3_000,
        gyro_period_usec: 625,
        accel_sensitivity: 2_441,
        accel_period_usec: 625,
        gyro: (0..gyro).map(|i| record(i, 3)).collect(),
        accel: (0..accel).map(|i| record(i, 4_098)).collect(),
    }
}

/// Packets of 8 + 8 (a full transfer), 1 + 1, 8 + 3 and no records.
pub fn imu_packet() -> Vec<Seed> {
    [(8, 8), (1, 1), (8, 3), (0, 0)]
        .into_iter()
        .filter_map(|(g, a)| {
            let repr = imu_repr(g, a);
            let mut bytes = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ImuPacket::new_unchecked(&mut bytes[..]))
                .ok()?;
            Some(seed("imu_packet", format!("{g}-gyro-{a}-accel"), bytes))
        })
        .collect()
}

fn trailer_bytes(repr: &DepthTrailerRepr) -> Option<[u8; TRAILER_LEN]> {
    let mut bytes = [0u8; TRAILER_LEN];
    repr.emit_into_frame(&mut bytes).ok()?;
    Some(bytes)
}

/// Our emulator's trailer and one with a foreign signature, at the end of an exactly sized
/// frame of every sensor mode and of a small frame.
pub fn depth_trailer() -> Vec<Seed> {
    let ours = DepthTrailerRepr::k4sync(Ticks90k(90_000), 36.5, 41.25, 7);
    let foreign = DepthTrailerRepr {
        signature: 0x1234_5678,
        block_version: 2,
        usb_sof_pts: 0xABCD,
        ..ours
    };
    let modes = crate::depth_trailer::MODES.map(Some);
    let mut out = Vec::new();
    for (who, repr) in [("k4sync", ours), ("foreign", foreign)] {
        let Some(trailer) = trailer_bytes(&repr) else {
            continue;
        };
        for mode in modes.iter().copied().chain([None]) {
            let bytes = crate::depth_trailer::input(&trailer, mode, 64);
            let name = format!(
                "{who}-{}",
                mode.map_or("small".into(), |m| format!("{m:?}"))
            );
            out.push(seed("depth_trailer", name, bytes));
        }
    }
    out
}

fn firmware_header(configs: usize, auth_block_offset: u32) -> FirmwareHeaderRepr {
    let version = |build| ComponentVersion {
        major: 1,
        minor: 6,
        build,
    };
    FirmwareHeaderRepr {
        signature_type: 1,
        build_config: 0,
        auth_block_offset,
        depth: version(110),
        rgb: version(98),
        audio: version(14),
        depth_configs: (0..configs)
            .map(|i| DepthConfigVersion {
                major: 6109 + i as u16,
                minor: 7,
            })
            .collect(),
    }
}

/// A package: header, filler up to the authentication block, the block, filler up to the
/// certificate block, the block, the CRC.
fn firmware_package(configs: usize, gap: usize, cert_len: u16) -> Option<Vec<u8>> {
    let auth_at = HEADER_LEN + gap;
    let cert_at = auth_at + AuthBlockRepr::default().buffer_len() + gap;
    let mut file = vec![0xEE; cert_at + usize::from(cert_len) + CRC_LEN];
    firmware_header(configs, u32::try_from(auth_at).ok()?)
        .emit(&mut FirmwareHeader::new_unchecked(&mut file[..]))
        .ok()?;
    AuthBlockRepr {
        cert_block_offset: u32::try_from(cert_at).ok()?,
        cert_block_len: cert_len,
    }
    .emit(file.get_mut(auth_at..)?)
    .ok()?;
    *file.get_mut(cert_at)? = 1;
    seal_crc(&mut file).ok()?;
    Some(file)
}

/// Packages with 0 to 5 depth configurations, adjacent and spaced-out blocks, short and
/// long certificate blocks.
pub fn firmware() -> Vec<Seed> {
    [
        (2, 16, 3),
        (0, 0, 1),
        (5, 0, 64),
        (1, 100, 300),
        (3, 8, 1024),
    ]
    .into_iter()
    .filter_map(|(configs, gap, cert)| {
        let bytes = firmware_package(configs, gap, cert)?;
        let name = format!("{configs}-configs-gap-{gap}-cert-{cert}");
        Some(seed("firmware", name, bytes))
    })
    .collect()
}

/// The payloads of one colour frame as the emulator sends them: a first payload with the
/// Microsoft metadata, middle payloads, a last one with EOF.
fn colour_frame(index: u64, payloads: usize, image_len: usize) -> Vec<Vec<u8>> {
    let info = FrameInfo {
        stream: Stream::Colour,
        index,
        device_ticks: Ticks90k(90_000 + 3_000 * index),
        len: payloads * image_len,
    };
    (0..payloads)
        .filter_map(|i| {
            let mut payload = vec![0xA0 | i as u8; 255];
            let header =
                colour_payload_header(&info, i == 0, i + 1 == payloads, &mut payload).ok()?;
            payload.truncate((header + image_len).min(255));
            Some(payload)
        })
        .collect()
}

/// A frame of three payloads, two frames back to back, a frame whose middle payload has the
/// error bit, and the bare metadata the harness also walks directly.
pub fn uvc() -> Vec<Seed> {
    let join = |frames: Vec<Vec<u8>>| crate::uvc::join(frames.iter().map(Vec::as_slice));
    let one = colour_frame(1, 3, 16);
    let two = [colour_frame(2, 2, 8), colour_frame(3, 2, 8)].concat();
    let mut damaged = colour_frame(4, 3, 8);
    if let Some(flags) = damaged.get_mut(1).and_then(|p| p.get_mut(1)) {
        *flags |= FLAG_ERR;
    }
    let metadata = one
        .first()
        .and_then(|p| UvcPayload::new_checked(&p[..]).ok())
        .map(|view| view.metadata().to_vec())
        .unwrap_or_default();
    vec![
        seed("uvc", "one-frame", join(one)),
        seed("uvc", "two-frames", join(two)),
        seed("uvc", "error-payload", join(damaged)),
        seed("uvc", "metadata", metadata),
    ]
}

fn writer_options() -> WriterOptions {
    WriterOptions {
        uid_seed: Some(1),
        date: Some(UNIX_EPOCH),
        cluster_write_delay_nsec: 0,
        flush_interval: Duration::ZERO,
        ..WriterOptions::default()
    }
}

fn header(color: ColorResolution, depth: DepthMode, fps: Fps, imu: bool) -> RecordingHeader {
    RecordingHeader {
        color_format: ColorFormat::Mjpg,
        color_resolution: color,
        depth_mode: depth,
        fps,
        imu,
        writing_app: "k4sync-fuzz-seeds".into(),
        ..RecordingHeader::k4arecorder_defaults()
    }
}

fn device_info() -> DeviceInfo {
    DeviceInfo {
        serial: "000123456789".into(),
        color_firmware: "1.6.110".into(),
        depth_firmware: "1.6.80".into(),
        calibration_json: br#"{"CalibrationInformation":{}}"#.to_vec(),
        depth_calibration: Some(vec![0x5A; 32]),
    }
}

/// Writes `captures` colour frames (tiny JPEG stand-ins) and three IMU samples after each;
/// `finish` false abandons the writer the way a crash would (no Cues, SeekHead a Void).
fn recording(header: RecordingHeader, captures: u64, finish: bool) -> Option<Vec<u8>> {
    let period = 1_000_000 / u64::from(header.fps.hz());
    let imu = header.imu;
    let has_colour = header.color_resolution != ColorResolution::Off;
    let mut w = MkvWriter::create_with_sync(
        Cursor::new(Vec::new()),
        header,
        writer_options(),
        |_| Ok(()),
    )
    .ok()?;
    for i in 0..captures {
        let ts = 1_000_000 + i * period;
        let jpeg = [0xFF, 0xD8, i as u8, 0xFF, 0xD9];
        let color = has_colour.then_some(Image {
            device_ts_usec: Usec(ts),
            data: &jpeg,
        });
        w.write_capture(&Capture {
            color,
            ..Capture::default()
        })
        .ok()?;
        for k in 0..3 * u64::from(imu) {
            let t = Usec(ts + 1 + k * 5_000);
            w.write_imu_sample(&ImuSample {
                acc_ts_usec: t,
                acc_mps2: [0.1, 0.2, 9.81],
                gyro_ts_usec: t,
                gyro_radps: [0.01, 0.02, 0.03],
            })
            .ok()?;
        }
    }
    Some(if finish {
        w.finalize().ok()?.into_inner()
    } else {
        w.abandon().into_inner()
    })
}

/// Small recordings (a few kilobytes each): colour and IMU at 30 fps; colour with a declared
/// depth mode, device info, calibration attachments and a user tag at 5 fps as a subordinate;
/// IMU only; and a crashed (abandoned) writer's file for the salvage path.
pub fn mkv_reader() -> Vec<Seed> {
    let plain = header(ColorResolution::R720p, DepthMode::Off, Fps::Fps30, true);
    let rich = RecordingHeader {
        device: Some(device_info()),
        wired_sync_mode: WiredSyncMode::Subordinate,
        subordinate_delay_off_master_nsec: 160_000,
        depth_delay_off_color_nsec: -80_000,
        extra_tags: vec![("K4SYNC_FUZZ".into(), "seed".into())],
        ..header(
            ColorResolution::R1080p,
            DepthMode::Nfov2x2Binned,
            Fps::Fps5,
            false,
        )
    };
    let imu_only = header(ColorResolution::Off, DepthMode::Off, Fps::Fps15, true);
    [
        ("colour-imu-30fps", plain.clone(), 6, true),
        ("subordinate-device-info-5fps", rich, 4, true),
        ("imu-only", imu_only, 5, true),
        ("crashed", plain, 6, false),
    ]
    .into_iter()
    .filter_map(|(name, header, captures, finish)| {
        let bytes = recording(header, captures, finish)?;
        Some(seed("mkv_reader", format!("{name}.mkv"), bytes))
    })
    .collect()
}
