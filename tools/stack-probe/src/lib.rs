//! Stack probes: one exported function per `k4sync-core` entry point, each feeding the call
//! an opaque input (`black_box` over a static buffer) so the optimiser keeps every path the
//! call can take. `scripts/stack.sh` builds this for `thumbv7em-none-eabihf` with
//! `-Z emit-stack-sizes` and walks the call graph from each probe to bound the stack the
//! core call needs (the probe's own frame, which holds the caller-owned state, is excluded).
//!
//! Not part of the workspace (own `[workspace]`, like `fuzz/`): it only exists to be
//! measured.

#![no_std]
#![allow(
    unsafe_code,
    reason = "`#[no_mangle]` exports are the only use; there is no unsafe block"
)]

use core::hint::black_box;

use k4sync_core::emu::{self, DeviceParams, Fault, Stream};
use k4sync_core::sync::align::{Aligner, AlignerConfig, DeviceTiming, FrameKind as AlignStream};
use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::jack::{Event as JackEvent, SyncSession};
use k4sync_core::sync::pairing::{CapturePairer, PairingConfig};
use k4sync_core::sync::plan::{plan_rig, Interleave, RigDevice, Topology};
use k4sync_core::time::Usec;
use k4sync_core::types::{Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::{JackState, SysConfig};
use k4sync_core::wire::command::{CommandPacket, CommandRepr, Mcu};
use k4sync_core::wire::depth_mcu::{parse_serial, ComponentVersions, FirmwareUpdateStatus};
use k4sync_core::wire::depth_trailer::{DepthTrailer, DepthTrailerRepr};
use k4sync_core::wire::firmware::{crc32_no_final_xor, FirmwarePackage};
use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr};
use k4sync_core::wire::response::{check_response, ResponsePacket, ResponseRepr};
use k4sync_core::wire::uvc::{colour_timestamp, UvcFrameAssembler};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

static INPUT: [u8; 16384] = [0; 16384];

fn input() -> &'static [u8] {
    let len = black_box(INPUT.len());
    INPUT.get(..len).unwrap_or(&[])
}

#[no_mangle]
pub extern "C" fn probe_command_parse() -> bool {
    measure_command_parse()
}

#[inline(never)]
fn measure_command_parse() -> bool {
    let parsed = CommandPacket::new_checked(input())
        .map_err(Into::into)
        .and_then(|packet| CommandRepr::parse(&packet));
    black_box(parsed).is_ok()
}

#[no_mangle]
pub extern "C" fn probe_command_emit() -> bool {
    let mut out = [0u8; 148];
    let ok = measure_command_emit(black_box(&mut out));
    black_box(&out);
    ok
}

#[inline(never)]
fn measure_command_emit(out: &mut [u8; 148]) -> bool {
    let parsed = CommandPacket::new_checked(input())
        .map_err(Into::into)
        .and_then(|packet| CommandRepr::parse(&packet));
    let ok = match black_box(parsed) {
        Ok(repr) => repr
            .emit(&mut CommandPacket::new_unchecked(&mut out[..]))
            .is_ok(),
        Err(_) => false,
    };
    ok
}

#[no_mangle]
pub extern "C" fn probe_response_parse() -> bool {
    measure_response_parse()
}

#[inline(never)]
fn measure_response_parse() -> bool {
    let checked = check_response(black_box(7), input()).is_ok();
    let parsed = ResponsePacket::new_checked(input()).and_then(|p| ResponseRepr::parse(&p));
    checked && black_box(parsed).is_ok()
}

#[no_mangle]
pub extern "C" fn probe_imu_parse() -> usize {
    measure_imu_parse()
}

#[inline(never)]
fn measure_imu_parse() -> usize {
    let Ok(packet) = ImuPacket::new_checked(input()) else {
        return 0;
    };
    let samples = packet.samples().fold(0usize, |n, s| {
        n + usize::from(black_box(&s).gyro_ticks.0 != 0)
    });
    black_box(ImuPacketRepr::parse(&packet)).is_ok() as usize + samples
}

#[no_mangle]
pub extern "C" fn probe_depth_trailer() -> bool {
    measure_depth_trailer()
}

#[inline(never)]
fn measure_depth_trailer() -> bool {
    let expected = black_box(5_310_760);
    match DepthTrailer::from_frame(input(), expected) {
        Ok(trailer) => black_box(DepthTrailerRepr::parse(&trailer)).is_ok(),
        Err(_) => false,
    }
}

#[no_mangle]
pub extern "C" fn probe_uvc_timestamp() -> bool {
    measure_uvc_timestamp()
}

#[inline(never)]
fn measure_uvc_timestamp() -> bool {
    black_box(colour_timestamp(input())).is_some()
}

#[no_mangle]
pub extern "C" fn probe_uvc_assemble() -> usize {
    measure_uvc_assemble()
}

#[inline(never)]
fn measure_uvc_assemble() -> usize {
    let mut assembler = black_box(UvcFrameAssembler::default());
    match assembler.push(input()) {
        Ok(events) => events.image.len() + events.metadata.len(),
        Err(_) => 0,
    }
}

#[no_mangle]
pub extern "C" fn probe_firmware_parse() -> u32 {
    measure_firmware_parse()
}

#[inline(never)]
fn measure_firmware_parse() -> u32 {
    let ok = black_box(FirmwarePackage::parse(input())).is_ok();
    crc32_no_final_xor(input()) ^ u32::from(ok)
}

#[no_mangle]
pub extern "C" fn probe_mcu_payloads() -> bool {
    measure_mcu_payloads()
}

#[inline(never)]
fn measure_mcu_payloads() -> bool {
    let versions = ComponentVersions::parse(input()).is_ok();
    let serial = parse_serial(input()).is_ok();
    let update = FirmwareUpdateStatus::parse(input()).is_ok();
    let sys = SysConfig::parse(input()).is_ok();
    let jack = JackState::parse(input()).is_ok();
    black_box((versions, serial, update, sys, jack)).0
}

#[no_mangle]
pub extern "C" fn probe_config_validate_and_sequence() -> usize {
    measure_config_validate_and_sequence()
}

#[inline(never)]
fn measure_config_validate_and_sequence() -> usize {
    let config: DeviceConfig = black_box(DeviceConfig::default());
    let jack = black_box(JackState::from_byte(black_box(0)));
    match config.validate(Some(jack)) {
        Ok(valid) => {
            let start = valid.start_sequence(black_box(true));
            let stop = valid.stop_sequence();
            black_box(&start);
            black_box(&stop);
            1
        }
        Err(e) => black_box(&e as *const _ as usize),
    }
}

#[no_mangle]
pub extern "C" fn probe_jack_session() -> u8 {
    measure_jack_session()
}

#[inline(never)]
fn measure_jack_session() -> u8 {
    let mut session = black_box(SyncSession::new());
    let events = [
        JackEvent::Configured(WiredSyncMode::Subordinate, Fps::Fps30),
        JackEvent::JackRead(JackState::from_byte(black_box(1))),
        JackEvent::Started,
        JackEvent::FrameReceived {
            device_ts_usec: black_box(1_000),
        },
        JackEvent::NoFrameFor {
            usec: black_box(5_000_000),
        },
        JackEvent::Restarted,
    ];
    let mut n = 0u8;
    for event in events {
        let transition = session.handle(black_box(event));
        black_box(&transition);
        n = n.wrapping_add(1);
    }
    n
}

#[no_mangle]
pub extern "C" fn probe_plan_rig() -> bool {
    measure_plan_rig()
}

#[inline(never)]
fn measure_plan_rig() -> bool {
    let config = black_box(DeviceConfig::default());
    let jack = JackState::from_byte(black_box(2));
    let devices = [
        RigDevice {
            serial: "000000000001",
            jack,
            config,
        },
        RigDevice {
            serial: "000000000002",
            jack,
            config,
        },
        RigDevice {
            serial: "000000000003",
            jack,
            config,
        },
    ];
    black_box(plan_rig(
        black_box(&devices),
        Topology::DaisyChain,
        Interleave::DepthDelay,
    ))
    .is_ok()
}

#[no_mangle]
pub extern "C" fn probe_pairing() -> u64 {
    let mut pairer: CapturePairer<u32, u32> = CapturePairer::default();
    pairer.start(black_box(PairingConfig::both_cameras(Fps::Fps30)));
    measure_pairing(black_box(&mut pairer))
}

#[inline(never)]
fn measure_pairing(pairer: &mut CapturePairer<u32, u32>) -> u64 {
    pairer.push_colour(black_box(33_333), 1);
    pairer.push_depth(black_box(33_400), 2);
    let mut n = 0;
    while let Some(capture) = pairer.pop_capture() {
        n += capture.colour().map_or(0, |c| c.device_ts_usec);
    }
    while let Some(event) = pairer.pop_event() {
        black_box(&event);
        n += 1;
    }
    n
}

#[no_mangle]
pub extern "C" fn probe_align_push() -> usize {
    let timing = DeviceTiming::from_ticks(0, 0);
    let config = AlignerConfig::new(Fps::Fps30, 0, [timing; 9]);
    let Ok(mut aligner) = Aligner::<9>::new(black_box(config)) else {
        return 0;
    };
    measure_align_push(black_box(&mut aligner))
}

#[inline(never)]
fn measure_align_push(aligner: &mut Aligner<9>) -> usize {
    let mut sets = 0usize;
    let _ = aligner.push(
        black_box(3),
        AlignStream::Depth,
        Usec(black_box(33_333)),
        &mut |output| {
            black_box(&output);
            sets += 1;
        },
    );
    sets
}

#[no_mangle]
pub extern "C" fn probe_emu_command() -> bool {
    let mut device = emu::Device::new(DeviceParams::from_seed(black_box(1)));
    let mut data = [0u8; 1024];
    let mut status = [0u8; 16];
    let ok = measure_emu_command(black_box(&mut device), &mut data, &mut status);
    black_box((&data, &status));
    ok
}

#[inline(never)]
fn measure_emu_command(
    device: &mut emu::Device,
    data: &mut [u8; 1024],
    status: &mut [u8; 16],
) -> bool {
    let out = device.on_command_out(Mcu::Depth, input()).is_ok();
    let read = device.read_data(Mcu::Depth, data).is_ok();
    let status_ok = device.read_response(Mcu::Depth, status).is_ok();
    out && read && status_ok
}

#[no_mangle]
pub extern "C" fn probe_emu_streams() -> usize {
    let mut device = emu::Device::new(DeviceParams::from_seed(black_box(1)));
    device.inject(black_box(Fault::ShortFrame(Stream::Depth)));
    let mut frame = [0u8; 4096];
    let mut imu = [0u8; 252];
    let n = measure_emu_streams(black_box(&mut device), &mut frame, &mut imu);
    black_box((&frame, &imu));
    n
}

#[inline(never)]
fn measure_emu_streams(
    device: &mut emu::Device,
    frame: &mut [u8; 4096],
    imu: &mut [u8; 252],
) -> usize {
    let now = black_box(1_000_000_000);
    let depth = device
        .poll_depth_frame_tail(now, black_box(5_310_760), frame)
        .is_ok();
    let colour = device.poll_colour_frame(now, frame).is_ok();
    let imu_ok = device.poll_imu_packet(now, imu).is_ok();
    usize::from(depth) + usize::from(colour) + usize::from(imu_ok)
}

/// Sizes of the state a caller keeps between calls (it lives wherever the caller puts it,
/// not on the call's stack), in the order `scripts/stack_graph.py` prints them.
#[no_mangle]
pub static STATE_SIZES: [u32; 8] = [
    size::<Aligner<9>>(),
    size::<CapturePairer<u32, u32>>(),
    size::<emu::Device>(),
    size::<SyncSession>(),
    size::<UvcFrameAssembler>(),
    size::<k4sync_core::sync::plan::RigPlan>(),
    size::<k4sync_core::sync::config::ValidatedConfig>(),
    size::<k4sync_core::sync::config::Sequence>(),
];

const fn size<T>() -> u32 {
    core::mem::size_of::<T>() as u32
}
