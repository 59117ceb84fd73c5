//! Instruction counts of every core parser and emitter, measured by callgrind through
//! `gungraun`, next to a plain `memcpy` of the same bytes as the physical floor.
//!
//! Run through `scripts/bench.sh`, which installs the matching `gungraun-runner`, prints the
//! per-unit table with ratios and targets, and (`--check`) fails on a missed target. The
//! targets and the unit counts used for "per sample/frame/payload/byte" live in that script;
//! the unit counts are the `*_COUNT` constants here, and the two must agree.
//!
//! Every input is built in a `setup` function (not counted) and leaked to `'static`, so that
//! neither building nor freeing it is part of a measurement. Each benchmark returns its result
//! through `black_box` so nothing is optimised away.

#[cfg(target_arch = "x86_64")]
mod benches {
    use std::hint::black_box;

    use gungraun::{library_benchmark, library_benchmark_group};
    use k4sync_core::sync::align::{
        Aligner, AlignerConfig, AlignerOutput, DeviceTiming, FrameKind as AlignStream,
    };
    use k4sync_core::sync::config::DeviceConfig;
    use k4sync_core::sync::pairing::{CapturePairer, PairingConfig};
    use k4sync_core::time::{effective_delay_usec, Ticks90k, Usec};
    use k4sync_core::types::{Fps, SensorMode, WiredSyncMode};
    use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
    use k4sync_core::wire::command::{Command, CommandPacket, CommandRepr};
    use k4sync_core::wire::depth_mcu::ComponentVersions;
    use k4sync_core::wire::depth_trailer::{DepthTrailer, DepthTrailerRepr};
    use k4sync_core::wire::firmware::crc32_no_final_xor;
    use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr, ImuRecord};
    use k4sync_core::wire::response::{check_response, ResponsePacket, ResponseRepr, Status};
    use k4sync_core::wire::uvc::{
        colour_timestamp, CaptureStats, CaptureStatsRepr, FrameAlignInfo, FrameAlignInfoRepr,
        UvcFrameAssembler, UvcHeaderRepr, UvcPayload, CAPTURE_STATS_LEN, FLAG_EOF, FLAG_FID,
        FLAG_PTS, FLAG_SCR, FRAME_ALIGN_INFO_LEN, METADATA_CAPACITY,
    };

    /// IMU samples (gyro + accel pairs) in one full packet.
    pub const IMU_SAMPLE_COUNT: usize = 8;
    /// UVC payloads fed to the assembler: 4 frames of 16 payloads.
    pub const UVC_PAYLOAD_COUNT: usize = 64;
    const UVC_PAYLOADS_PER_FRAME: usize = 16;
    /// Captures (one colour + one depth frame each) paired in the steady-state run.
    pub const PAIRING_CAPTURE_COUNT: u64 = 1000;
    /// Sets of the 9-device rig assembled in the steady-state run (18 frames each).
    pub const ALIGN_SET_COUNT: i64 = 100;
    const RIG_DEVICES: usize = 9;
    /// Bytes run through the firmware CRC.
    pub const CRC_BYTES: usize = 4096;

    const PERIOD_USEC: u64 = 33_333;

    fn leak<T>(value: T) -> &'static mut T {
        Box::leak(Box::new(value))
    }

    fn leak_bytes(bytes: Vec<u8>) -> &'static [u8] {
        Box::leak(bytes.into_boxed_slice())
    }

    /// A source of `len` patterned bytes and a destination of the same length.
    fn copy_pair(len: usize) -> (&'static [u8], &'static mut [u8]) {
        let src: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        (
            leak_bytes(src),
            Box::leak(vec![0u8; len].into_boxed_slice()),
        )
    }

    // ---- physical floor ------------------------------------------------------------------

    #[library_benchmark]
    #[bench::command_20(args = (20), setup = copy_pair)]
    #[bench::command_33(args = (33), setup = copy_pair)]
    #[bench::command_148(args = (148), setup = copy_pair)]
    #[bench::response_16(args = (16), setup = copy_pair)]
    #[bench::sys_config_13(args = (13), setup = copy_pair)]
    #[bench::versions_18(args = (18), setup = copy_pair)]
    #[bench::imu_252(args = (252), setup = copy_pair)]
    #[bench::trailer_40(args = (40), setup = copy_pair)]
    #[bench::uvc_header_136(args = (136), setup = copy_pair)]
    #[bench::metadata_124(args = (124), setup = copy_pair)]
    #[bench::metadata_4096(args = (4096), setup = copy_pair)]
    fn memcpy(input: (&'static [u8], &'static mut [u8])) -> &'static [u8] {
        let (src, dst) = black_box(input);
        dst.copy_from_slice(src);
        black_box(dst)
    }

    library_benchmark_group!(name = floor, benchmarks = [memcpy]);

    // ---- command channel -----------------------------------------------------------------

    fn command_bytes(command: Command) -> &'static [u8] {
        let bytes = CommandRepr::new(7, command).to_bytes().unwrap_or_default();
        leak_bytes(bytes.to_vec())
    }

    fn depth_start() -> &'static [u8] {
        command_bytes(Command::DepthStart)
    }

    fn set_sys_cfg() -> &'static [u8] {
        command_bytes(Command::SetSysCfg(SysConfig::from_usec(
            WiredSyncMode::Subordinate,
            160,
            -80,
            true,
        )))
    }

    /// A well-framed packet of the largest transfer size; its data is too long for the code.
    fn max_len_command() -> &'static [u8] {
        let mut bytes = depth_start().to_vec();
        bytes.resize(k4sync_core::wire::command::MAX_PACKET_LEN, 0);
        leak_bytes(bytes)
    }

    #[library_benchmark]
    #[bench::depth_start_20(setup = depth_start)]
    #[bench::set_sys_cfg_33(setup = set_sys_cfg)]
    #[bench::max_len_148_rejected(setup = max_len_command)]
    fn command_parse(bytes: &'static [u8]) -> bool {
        let parsed = CommandPacket::new_checked(black_box(bytes))
            .map_err(Into::into)
            .and_then(|packet| CommandRepr::parse(&packet));
        black_box(parsed).is_ok()
    }

    fn command_emit_input(command: Command) -> (CommandRepr, &'static mut [u8]) {
        (
            CommandRepr::new(7, command),
            Box::leak(vec![0u8; 148].into_boxed_slice()),
        )
    }

    fn emit_depth_start() -> (CommandRepr, &'static mut [u8]) {
        command_emit_input(Command::DepthStart)
    }

    fn emit_set_sys_cfg() -> (CommandRepr, &'static mut [u8]) {
        command_emit_input(Command::SetSysCfg(SysConfig::from_usec(
            WiredSyncMode::Subordinate,
            160,
            -80,
            true,
        )))
    }

    #[library_benchmark]
    #[bench::depth_start_20(setup = emit_depth_start)]
    #[bench::set_sys_cfg_33(setup = emit_set_sys_cfg)]
    fn command_emit(input: (CommandRepr, &'static mut [u8])) -> bool {
        let (repr, buf) = black_box(input);
        let ok = repr.emit(&mut CommandPacket::new_unchecked(buf)).is_ok();
        black_box(ok)
    }

    fn response_bytes() -> &'static [u8] {
        let repr = ResponseRepr {
            transaction_id: 7,
            status: Status::Success,
        };
        leak_bytes(repr.to_bytes().to_vec())
    }

    #[library_benchmark]
    #[bench::success_16(setup = response_bytes)]
    fn response_check(bytes: &'static [u8]) -> bool {
        black_box(check_response(black_box(7), black_box(bytes))).is_ok()
    }

    #[library_benchmark]
    #[bench::success_16(setup = response_bytes)]
    fn response_parse(bytes: &'static [u8]) -> bool {
        let parsed =
            ResponsePacket::new_checked(black_box(bytes)).and_then(|p| ResponseRepr::parse(&p));
        black_box(parsed).is_ok()
    }

    fn response_emit_input() -> (ResponseRepr, &'static mut [u8]) {
        (
            ResponseRepr {
                transaction_id: 7,
                status: Status::Success,
            },
            Box::leak(vec![0u8; 16].into_boxed_slice()),
        )
    }

    #[library_benchmark]
    #[bench::success_16(setup = response_emit_input)]
    fn response_emit(input: (ResponseRepr, &'static mut [u8])) -> bool {
        let (repr, buf) = black_box(input);
        black_box(repr.emit(&mut ResponsePacket::new_unchecked(buf)).is_ok())
    }

    fn sys_config_bytes() -> &'static [u8] {
        leak_bytes(
            SysConfig::from_usec(WiredSyncMode::Subordinate, 160, -80, true)
                .to_bytes()
                .to_vec(),
        )
    }

    #[library_benchmark]
    #[bench::subordinate_13(setup = sys_config_bytes)]
    fn sys_config_parse(bytes: &'static [u8]) -> bool {
        black_box(SysConfig::parse(black_box(bytes))).is_ok()
    }

    fn sys_config_emit_input() -> (SysConfig, &'static mut [u8]) {
        (
            SysConfig::from_usec(WiredSyncMode::Subordinate, 160, -80, true),
            Box::leak(vec![0u8; SysConfig::LEN].into_boxed_slice()),
        )
    }

    #[library_benchmark]
    #[bench::subordinate_13(setup = sys_config_emit_input)]
    fn sys_config_emit(input: (SysConfig, &'static mut [u8])) -> bool {
        let (config, buf) = black_box(input);
        black_box(config.emit(buf).is_ok())
    }

    fn versions_bytes() -> &'static [u8] {
        leak_bytes(vec![
            1, 6, 0x6E, 0, 1, 6, 0x6C, 0, 1, 6, 0x0F, 0, 5, 0, 0x1A, 0, 0, 1,
        ])
    }

    #[library_benchmark]
    #[bench::result_18(setup = versions_bytes)]
    fn component_versions_parse(bytes: &'static [u8]) -> bool {
        black_box(ComponentVersions::parse(black_box(bytes))).is_ok()
    }

    library_benchmark_group!(
        name = command_channel,
        benchmarks = [
            command_parse,
            command_emit,
            response_check,
            response_parse,
            response_emit,
            sys_config_parse,
            sys_config_emit,
            component_versions_parse
        ]
    );

    // ---- IMU -----------------------------------------------------------------------------

    fn imu_repr() -> ImuPacketRepr {
        let mut repr = ImuPacketRepr {
            temperature_period_usec: 1_000_000,
            temperature_sensitivity: 256,
            temperature_raw: 2_560,
            gyro_sensitivity: 61_035,
            gyro_period_usec: 625,
            accel_sensitivity: 244,
            accel_period_usec: 625,
            ..ImuPacketRepr::default()
        };
        for i in 0..IMU_SAMPLE_COUNT as i16 {
            let ticks = Ticks90k(1_000_000 + 56 * i as u64);
            let _ = repr.gyro.push(ImuRecord {
                ticks,
                raw: [i, -i, 3 * i],
            });
            let _ = repr.accel.push(ImuRecord {
                ticks,
                raw: [100 + i, -4_096 + i, 8_192 - i],
            });
        }
        repr
    }

    fn imu_bytes() -> &'static [u8] {
        let mut buf = vec![0u8; k4sync_core::wire::imu::TRANSFER_LEN];
        let _ = imu_repr().emit(&mut ImuPacket::new_unchecked(&mut buf[..]));
        leak_bytes(buf)
    }

    // Check the packet and convert all its samples, as the host does per transfer.
    #[library_benchmark]
    #[bench::full_8_plus_8(setup = imu_bytes)]
    fn imu_parse_samples(bytes: &'static [u8]) -> usize {
        let Ok(packet) = ImuPacket::new_checked(black_box(bytes)) else {
            return 0;
        };
        let mut n = 0;
        for sample in packet.samples() {
            black_box(&sample);
            n += 1;
        }
        black_box(n)
    }

    #[library_benchmark]
    #[bench::full_8_plus_8(setup = imu_bytes)]
    fn imu_repr_parse(bytes: &'static [u8]) -> bool {
        let parsed =
            ImuPacket::new_checked(black_box(bytes)).and_then(|p| ImuPacketRepr::parse(&p));
        black_box(parsed).is_ok()
    }

    fn imu_emit_input() -> (&'static ImuPacketRepr, &'static mut [u8]) {
        (
            leak(imu_repr()),
            Box::leak(vec![0u8; k4sync_core::wire::imu::TRANSFER_LEN].into_boxed_slice()),
        )
    }

    #[library_benchmark]
    #[bench::full_8_plus_8(setup = imu_emit_input)]
    fn imu_emit(input: (&'static ImuPacketRepr, &'static mut [u8])) -> bool {
        let (repr, buf) = black_box(input);
        black_box(repr.emit(&mut ImuPacket::new_unchecked(buf)).is_ok())
    }

    library_benchmark_group!(
        name = imu,
        benchmarks = [imu_parse_samples, imu_repr_parse, imu_emit]
    );

    // ---- colour (UVC) and depth frames -----------------------------------------------------

    fn stats_item() -> Vec<u8> {
        let mut item = vec![0u8; CAPTURE_STATS_LEN];
        let repr = CaptureStatsRepr {
            flags: 0x25,
            exposure_100ns: 80_000,
            iso_speed: 400,
            white_balance_kelvin: 4_500,
            ..CaptureStatsRepr::default()
        };
        let _ = repr.emit(&mut CaptureStats::new_unchecked(&mut item[..]));
        item
    }

    fn align_item(pts: u64) -> Vec<u8> {
        let mut item = vec![0u8; FRAME_ALIGN_INFO_LEN];
        let repr = FrameAlignInfoRepr {
            flags: 7,
            pts_ticks: Ticks90k(pts),
            pts_reference: 0,
            usb_sof_seq: 1_234,
            usb_sof_pts: 5_678,
        };
        let _ = repr.emit(&mut FrameAlignInfo::new_unchecked(&mut item[..]));
        item
    }

    /// What a frame carries: capture stats then frame align info (124 bytes).
    fn typical_metadata_vec() -> Vec<u8> {
        let mut metadata = stats_item();
        metadata.extend(align_item(900_000));
        metadata
    }

    fn typical_metadata() -> &'static [u8] {
        leak_bytes(typical_metadata_vec())
    }

    /// A full 4 KiB block: 50 stats items, one 52-byte unknown item, the align item last, so
    /// the walk visits all of it.
    fn full_metadata() -> &'static [u8] {
        let mut metadata = Vec::with_capacity(METADATA_CAPACITY);
        for _ in 0..50 {
            metadata.extend(stats_item());
        }
        let mut filler = vec![0u8; 52];
        filler[0..4].copy_from_slice(&0x0000_1234u32.to_le_bytes());
        filler[4..8].copy_from_slice(&52u32.to_le_bytes());
        metadata.extend(filler);
        metadata.extend(align_item(900_000));
        assert_eq!(metadata.len(), METADATA_CAPACITY);
        leak_bytes(metadata)
    }

    #[library_benchmark]
    #[bench::typical_124(setup = typical_metadata)]
    #[bench::full_4096(setup = full_metadata)]
    fn uvc_colour_timestamp(metadata: &'static [u8]) -> Option<Ticks90k> {
        black_box(colour_timestamp(black_box(metadata)))
    }

    /// One payload: header with PTS, SCR and `metadata`, then `image_len` image bytes.
    fn payload(fid: bool, eof: bool, metadata: &[u8], image_len: usize) -> Vec<u8> {
        let header_len = 12 + metadata.len();
        let mut flags = FLAG_PTS | FLAG_SCR;
        if fid {
            flags |= FLAG_FID;
        }
        if eof {
            flags |= FLAG_EOF;
        }
        let mut bytes = vec![header_len as u8, flags];
        bytes.extend(1_000u32.to_le_bytes());
        bytes.extend([0x10, 0x20, 0x30, 0x40, 0x01, 0x02]);
        bytes.extend(metadata);
        bytes.resize(header_len + image_len, 0x55);
        bytes
    }

    fn metadata_payload() -> &'static [u8] {
        leak_bytes(payload(true, false, &typical_metadata_vec(), 16_384))
    }

    #[library_benchmark]
    #[bench::header_136(setup = metadata_payload)]
    fn uvc_header_parse(bytes: &'static [u8]) -> usize {
        let parsed =
            UvcPayload::new_checked(black_box(bytes)).and_then(|p| UvcHeaderRepr::parse(&p));
        black_box(parsed.map_or(0, |h| h.metadata.len()))
    }

    /// Four frames of 16 payloads: metadata in the first payload, EOF on the last, FID
    /// toggling per frame.
    fn payload_stream() -> (&'static mut UvcFrameAssembler, &'static [&'static [u8]]) {
        let metadata = typical_metadata_vec();
        let mut payloads = Vec::new();
        for frame in 0..UVC_PAYLOAD_COUNT / UVC_PAYLOADS_PER_FRAME {
            let fid = frame % 2 == 1;
            for i in 0..UVC_PAYLOADS_PER_FRAME {
                let first = i == 0;
                let last = i == UVC_PAYLOADS_PER_FRAME - 1;
                let meta: &[u8] = if first { &metadata } else { &[] };
                payloads.push(leak_bytes(payload(fid, last, meta, 16_384)));
            }
        }
        (
            leak(UvcFrameAssembler::new()),
            Box::leak(payloads.into_boxed_slice()),
        )
    }

    #[library_benchmark]
    #[bench::payloads_64(setup = payload_stream)]
    fn uvc_assembler_push(
        input: (&'static mut UvcFrameAssembler, &'static [&'static [u8]]),
    ) -> usize {
        let (assembler, payloads) = black_box(input);
        let mut frames = 0;
        for payload in payloads {
            if let Ok(events) = assembler.push(payload) {
                black_box(&events);
                frames += usize::from(events.completed_after.is_some());
            }
        }
        black_box(frames)
    }

    fn depth_frame() -> &'static [u8] {
        let mut frame = vec![0u8; SensorMode::LongThrowNative.raw_frame_size()];
        let repr = DepthTrailerRepr::k4sync(Ticks90k(900_000), 41.5, 38.25, 77);
        let _ = repr.emit_into_frame(&mut frame);
        leak_bytes(frame)
    }

    #[library_benchmark]
    #[bench::nfov_5310760(setup = depth_frame)]
    fn depth_trailer_from_frame(frame: &'static [u8]) -> bool {
        let parsed =
            DepthTrailer::from_frame_in_mode(black_box(frame), SensorMode::LongThrowNative)
                .and_then(|t| DepthTrailerRepr::parse(&t));
        black_box(parsed).is_ok()
    }

    fn crc_input() -> &'static [u8] {
        leak_bytes((0..CRC_BYTES).map(|i| (i * 31 + 5) as u8).collect())
    }

    #[library_benchmark]
    #[bench::bytes_4096(setup = crc_input)]
    fn firmware_crc(bytes: &'static [u8]) -> u32 {
        black_box(crc32_no_final_xor(black_box(bytes)))
    }

    library_benchmark_group!(
        name = frames,
        benchmarks = [
            uvc_colour_timestamp,
            uvc_header_parse,
            uvc_assembler_push,
            depth_trailer_from_frame,
            firmware_crc
        ]
    );

    // ---- sync ----------------------------------------------------------------------------

    type Pairer = CapturePairer<u32, u32>;

    /// A running pairer that has already paired 30 captures (queues in steady state).
    fn warm_pairer() -> &'static mut Pairer {
        let pairer = leak(Pairer::new());
        pairer.start(PairingConfig::both_cameras(Fps::Fps30));
        for k in 0..30u64 {
            pairer.push_colour(k * PERIOD_USEC, k as u32);
            pairer.push_depth(k * PERIOD_USEC + 12, k as u32);
            while pairer.pop_capture().is_some() {}
            while pairer.pop_event().is_some() {}
        }
        pairer
    }

    // The host loop per capture: push colour, push depth, pop the capture, drain events.
    #[library_benchmark]
    #[bench::captures_1000(setup = warm_pairer)]
    fn pairing_steady_state(pairer: &'static mut Pairer) -> u64 {
        let pairer = black_box(pairer);
        let mut paired = 0;
        for k in 30..30 + PAIRING_CAPTURE_COUNT {
            let ts = black_box(k * PERIOD_USEC);
            pairer.push_colour(ts, k as u32);
            pairer.push_depth(ts + 12, k as u32);
            while let Some(capture) = pairer.pop_capture() {
                paired += u64::from(capture.is_paired());
            }
            while let Some(event) = pairer.pop_event() {
                black_box(&event);
            }
        }
        black_box(paired)
    }

    type Rig = Aligner<RIG_DEVICES, 8>;

    /// Depth cameras 160 µs apart (reference §7), colour on the master's pulse.
    fn rig_timing() -> [DeviceTiming; RIG_DEVICES] {
        core::array::from_fn(|i| DeviceTiming::from_ticks(0, 15 * i as i32))
    }

    fn rig_frames(set: i64, out: &mut Vec<(usize, AlignStream, Usec)>) {
        for (device, timing) in rig_timing().iter().enumerate() {
            let colour = set as u64 * PERIOD_USEC + device as u64;
            let depth = colour as i64 + timing.depth_delay_nsec / 1_000;
            out.push((device, AlignStream::Colour, Usec(colour)));
            out.push((device, AlignStream::Depth, Usec(depth as u64)));
        }
    }

    type RigInput = (&'static mut Rig, &'static [(usize, AlignStream, Usec)]);

    /// A 9-device rig aligned for 20 sets, and the frames of the next 100 sets.
    fn warm_rig() -> RigInput {
        let rig = leak(
            Rig::new(AlignerConfig::new(Fps::Fps30, 0, rig_timing())).unwrap_or_else(|e| {
                panic!("rig config: {e}");
            }),
        );
        let mut warmup = Vec::new();
        for set in 1..=20 {
            rig_frames(set, &mut warmup);
        }
        let mut sets = 0;
        for &(device, stream, ts) in &warmup {
            let _ = rig.push(device, stream, ts, &mut |o| {
                if let AlignerOutput::Set(s) = o {
                    assert!(s.complete, "warm-up set {} incomplete", s.set);
                    sets += 1;
                }
            });
        }
        assert_eq!(sets, 20, "warm-up sets");
        let mut frames = Vec::new();
        for set in 21..21 + ALIGN_SET_COUNT {
            rig_frames(set, &mut frames);
        }
        (rig, Box::leak(frames.into_boxed_slice()))
    }

    #[library_benchmark]
    #[bench::sets_100_of_9_devices(setup = warm_rig)]
    fn align_steady_state(input: RigInput) -> u32 {
        let (rig, frames) = black_box(input);
        let mut complete = 0u32;
        for &(device, stream, ts) in frames {
            let _ = rig.push(device, stream, ts, &mut |o| {
                if let AlignerOutput::Set(s) = o {
                    complete += u32::from(s.complete);
                }
            });
        }
        black_box(complete)
    }

    fn subordinate_config() -> DeviceConfig {
        DeviceConfig {
            sync_mode: WiredSyncMode::Subordinate,
            subordinate_delay_off_master_usec: 160,
            depth_delay_off_color_usec: effective_delay_usec(-7),
            ..DeviceConfig::default()
        }
    }

    #[library_benchmark]
    #[bench::subordinate(setup = subordinate_config)]
    fn config_validate_start(config: DeviceConfig) -> usize {
        match black_box(config).validate(black_box(Some(JackState::IN_ONLY))) {
            Ok(valid) => black_box(valid.start_sequence(true)).len(),
            Err(_) => 0,
        }
    }

    library_benchmark_group!(
        name = sync_core,
        benchmarks = [
            pairing_steady_state,
            align_steady_state,
            config_validate_start
        ]
    );
}

#[cfg(target_arch = "x86_64")]
use benches::{command_channel, floor, frames, imu, sync_core};

#[cfg(target_arch = "x86_64")]
gungraun::main!(
    library_benchmark_groups = floor,
    command_channel,
    imu,
    frames,
    sync_core
);

#[cfg(not(target_arch = "x86_64"))]
fn main() {}
