//! The host `Device` end to end over the emulated transport: open (§7.1), the exact command
//! traffic of start/stop (§7.1–7.3, §4.2), streaming in every legal depth mode × fps (§3.5,
//! §5.4, §6.4), the IMU rate (§4.4), a master + subordinate rig (§7.4, §10), and every fault
//! class surfacing as the right typed error or counted drop.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Duration;

use k4sync_core::emu::{Fault, Stream, DEFAULT_VERSIONS};
use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::SysConfig;
use k4sync_core::wire::command::{Command, CommandCode, CommandPacket, CommandRepr, Mcu};
use k4sync_host::transport::emulated::{
    params_for, EmulatedCamera, EmulatedRig, EmulatedTransport, Pacing,
};
use k4sync_host::transport::{Endpoint, TransferError, Transport};
use k4sync_host::{Capture, Device, DropReason, Event, ImuSample, Selector};
use k4sync_host::{Error, Phase};

const WAIT: Duration = Duration::from_secs(20);
const SECOND_NS: u64 = 1_000_000_000;

fn open(n: u32) -> (Device, EmulatedCamera) {
    let transport = EmulatedTransport::new(n);
    let camera = transport.camera();
    (Device::from_transport(Box::new(transport)).unwrap(), camera)
}

fn config(depth_mode: DepthMode, fps: Fps) -> DeviceConfig {
    DeviceConfig {
        color_format: ColorFormat::Mjpg,
        color_resolution: ColorResolution::R720p,
        depth_mode,
        fps,
        imu: false,
        ..DeviceConfig::default()
    }
}

/// Sync tolerance of the SDK's functional tests (§6.4), µs.
fn tolerance_usec(fps: Fps) -> u64 {
    match fps {
        Fps::Fps30 => 110,
        Fps::Fps15 => 220,
        Fps::Fps5 => 660,
    }
}

#[derive(Default)]
struct Collected {
    captures: Vec<Capture>,
    imu: Vec<ImuSample>,
    other: Vec<Event>,
}

fn next(device: &mut Device) -> Result<Event, Error> {
    device
        .next_capture(WAIT)
        .map(|e| e.expect("an event within the real-time wait"))
}

/// Reads events until one arrives at or after host time `until_ns`.
fn collect_until(device: &mut Device, until_ns: u64) -> Collected {
    let mut got = Collected::default();
    loop {
        let event = next(device).unwrap();
        let at = match &event {
            Event::Capture(c) => c
                .colour
                .as_ref()
                .map(|i| i.host_ns)
                .or(c.depth_raw.as_ref().map(|d| d.host_ns)),
            Event::Imu(s) => Some(s.host_ns),
            _ => None,
        };
        match event {
            Event::Capture(c) => got.captures.push(c),
            Event::Imu(s) => got.imu.push(s),
            other => got.other.push(other),
        }
        if at.is_some_and(|at| at >= until_ns) {
            return got;
        }
    }
}

/// (mcu, transaction id, command code) of every command packet, in order.
fn commands(camera: &EmulatedCamera) -> Vec<(Mcu, u32, CommandCode)> {
    camera
        .out_transfers()
        .iter()
        .filter_map(|t| {
            let packet = CommandPacket::new_checked(&t.bytes[..]).ok()?;
            let mcu = match t.endpoint {
                Endpoint::DepthCommandOut => Mcu::Depth,
                _ => Mcu::Colour,
            };
            Some((mcu, packet.transaction_id(), packet.command_code()))
        })
        .collect()
}

#[test]
fn open_reads_identity_and_calibration_equal_to_the_emulator() {
    let (device, camera) = open(2);
    assert_eq!(device.serial(), camera.serial());
    assert_eq!(device.calibration(), &camera.calibration_json()[..]);
    assert!(device.calibration().len() > 10_240, "the retry path ran");
    assert_eq!(*device.versions(), DEFAULT_VERSIONS);
    let by_selector = Device::open(&"emu:2".parse::<Selector>().unwrap()).unwrap();
    assert_eq!(by_selector.serial(), device.serial());
}

#[test]
fn open_then_master_start_sends_the_reference_trace_with_exact_sys_cfg_bytes() {
    use CommandCode::*;
    let rig = EmulatedRig::daisy_chain(2, Pacing::Virtual);
    let camera = rig.camera(0);
    let mut device = Device::from_transport(Box::new(rig.transport(0))).unwrap();
    let mut config = config(DepthMode::NfovUnbinned, Fps::Fps30);
    config.sync_mode = WiredSyncMode::Master;
    config.depth_delay_off_color_usec = -333;
    config.imu = true;
    device.start(&config).unwrap();

    let d = Mcu::Depth;
    let c = Mcu::Colour;
    // §7.1 trace; the emulator's calibration JSON needs the second (15,360-byte) read, so
    // depth ids from 2 on are one higher than the reference table.
    let expected = vec![
        (d, 0, ReadProductSn),
        (d, 1, ReadCalibration),
        (d, 2, ReadCalibration),
        (d, 3, ComponentVersionGet),
        (d, 4, ComponentVersionGet),
        (d, 5, ReadProductSn),
        (d, 6, DepthStreamStop),
        (d, 7, DepthStop),
        (c, 0, ImuStreamStop),
        (c, 1, GetJackState),
        (c, 2, SetSysCfg),
        (d, 8, DepthModeSet),
        (d, 9, NvDataGet),
        (d, 10, DepthFpsSet),
        (d, 11, DepthStart),
        (d, 12, DepthStreamStart),
        (c, 3, ImuStreamStart),
    ];
    assert_eq!(commands(&camera), expected);

    let sys_cfg = camera
        .out_transfers()
        .into_iter()
        .find(|t| {
            CommandPacket::new_checked(&t.bytes[..]).is_ok_and(|p| p.command_code() == SetSysCfg)
        })
        .unwrap();
    assert_eq!(sys_cfg.endpoint, Endpoint::ColourCommandOut);
    assert_eq!(sys_cfg.bytes.len(), 33);
    let mut data = Vec::new();
    data.extend_from_slice(&1u32.to_le_bytes());
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&(-29i32).to_le_bytes());
    data.push(1);
    assert_eq!(
        &sys_cfg.bytes[20..],
        &data[..],
        "mode, delays in truncated ticks, LED"
    );
    let expected_packet = CommandRepr {
        transaction_id: 2,
        payload_size: 0,
        command: Command::SetSysCfg(SysConfig {
            mode: WiredSyncMode::Master,
            subordinate_delay_ticks: 0,
            depth_delay_ticks: -29,
            privacy_led: true,
        }),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(&sys_cfg.bytes[..], &expected_packet[..]);

    camera.clear_out_transfers();
    device.stop_imu().unwrap();
    device.stop().unwrap();
    assert_eq!(
        commands(&camera),
        vec![
            (c, 4, ImuStreamStop),
            (d, 13, DepthStreamStop),
            (d, 14, DepthStop)
        ]
    );
    assert!(!camera.colour_running());
    assert!(!camera.depth_state().streaming);

    camera.clear_out_transfers();
    device.start(&config).unwrap();
    assert!(
        !commands(&camera)
            .iter()
            .any(|(_, _, code)| *code == NvDataGet),
        "NV_DATA_GET only until it succeeded once (§3.4)"
    );
}

#[test]
fn subordinate_start_sends_its_truncated_delay_and_standalone_skips_the_jack() {
    let rig = EmulatedRig::daisy_chain(2, Pacing::Virtual);
    let camera = rig.camera(1);
    let mut device = Device::from_transport(Box::new(rig.transport(1))).unwrap();
    let mut sub = config(DepthMode::Nfov2x2Binned, Fps::Fps15);
    sub.sync_mode = WiredSyncMode::Subordinate;
    sub.subordinate_delay_off_master_usec = 1_001;
    camera.clear_out_transfers();
    device.start(&sub).unwrap();
    let sent = commands(&camera);
    assert_eq!(sent[0], (Mcu::Colour, 1, CommandCode::GetJackState));
    assert_eq!(camera.sys_config().subordinate_delay_ticks, 90);
    assert_eq!(camera.sys_config().mode, WiredSyncMode::Subordinate);
    drop(device);

    let (mut device, camera) = open(5);
    camera.clear_out_transfers();
    device
        .start(&config(DepthMode::PassiveIr, Fps::Fps30))
        .unwrap();
    let first = commands(&camera)[0];
    assert_eq!(first, (Mcu::Colour, 1, CommandCode::SetSysCfg));
}

#[test]
fn master_without_a_sync_out_cable_is_rejected_before_anything_starts() {
    let (mut device, camera) = open(0);
    let mut master = config(DepthMode::NfovUnbinned, Fps::Fps30);
    master.sync_mode = WiredSyncMode::Master;
    let err = device.start(&master).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    assert!(err.to_string().contains(device.serial()));
    assert!(!camera.depth_state().started);
}

fn check_stream(depth_mode: DepthMode, fps: Fps, seconds: u64) {
    let (mut device, _camera) = open(1);
    let mut config = config(depth_mode, fps);
    config.depth_delay_off_color_usec = 100;
    let before_start = device.host_now_ns();
    device.start(&config).unwrap();
    let start = device.host_now_ns();
    let got = collect_until(&mut device, start + seconds * SECOND_NS);
    // Frames the camera produced while `start` returned (virtual time moves whenever every
    // stream waits, and a busy machine can delay this thread) arrive inside the window too.
    let period_ns = u64::from(fps.period_usec()) * 1000;
    let early = (start - before_start) / period_ns;
    let size = depth_mode.sensor_mode().unwrap().raw_frame_size();
    let expected = seconds * u64::from(fps.hz());
    let depth: Vec<_> = got
        .captures
        .iter()
        .filter_map(|c| c.depth_raw.as_ref())
        .collect();
    let colour: Vec<_> = got
        .captures
        .iter()
        .filter_map(|c| c.colour.as_ref())
        .collect();
    let what = format!("{depth_mode} at {fps}");
    for (n, name) in [(depth.len(), "depth"), (colour.len(), "colour")] {
        let n = n as u64;
        assert!(
            n + 2 >= expected && n <= expected + early + 2,
            "{what}: {n} {name} frames, expected about {expected} (+ up to {early} produced while starting)"
        );
    }
    assert!(
        depth.iter().all(|d| d.data.len() == size),
        "{what}: raw size"
    );
    for pair in depth.windows(2) {
        assert!(pair[0].device_ts_usec < pair[1].device_ts_usec, "{what}");
        assert!(pair[0].host_ns <= pair[1].host_ns, "{what}");
    }
    for pair in colour.windows(2) {
        assert!(pair[0].device_ts_usec < pair[1].device_ts_usec, "{what}");
    }
    let paired: Vec<_> = got
        .captures
        .iter()
        .filter_map(|c| Some((c.colour.as_ref()?, c.depth_raw.as_ref()?)))
        .collect();
    assert!(
        paired.len() as u64 + 2 >= expected,
        "{what}: {} pairs",
        paired.len()
    );
    for (colour, depth) in paired {
        let expected_depth = colour.device_ts_usec.0 + 100;
        assert!(
            depth.device_ts_usec.0.abs_diff(expected_depth) <= tolerance_usec(fps),
            "{what}: colour {} depth {}",
            colour.device_ts_usec.0,
            depth.device_ts_usec.0
        );
    }
    assert!(
        !got.other.iter().any(|e| matches!(e, Event::Dropped { .. })),
        "{what}"
    );
    device.stop().unwrap();
}

#[test]
fn every_legal_depth_mode_and_fps_streams_whole_timestamped_pairs() {
    for mode in [
        DepthMode::Nfov2x2Binned,
        DepthMode::NfovUnbinned,
        DepthMode::Wfov2x2Binned,
        DepthMode::WfovUnbinned,
        DepthMode::PassiveIr,
    ] {
        for fps in [Fps::Fps5, Fps::Fps15, Fps::Fps30] {
            if fps.hz() <= mode.max_fps().hz() {
                check_stream(mode, fps, 3);
            }
        }
    }
}

/// The next `n` captures.
fn captures(device: &mut Device, n: usize) -> Vec<Capture> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Event::Capture(c) = next(device).unwrap() {
            got.push(c);
        }
    }
    got
}

#[test]
fn a_restarted_session_pairs_its_own_frames_not_what_the_stopped_one_left_unread() {
    let (mut device, _camera) = open(42);
    let c = config(DepthMode::Nfov2x2Binned, Fps::Fps30);
    device.start(&c).unwrap();
    let first = captures(&mut device, 10);
    let newest = |caps: &[Capture]| {
        caps.iter()
            .filter_map(|c| c.colour.as_ref().map(|i| i.device_ts_usec.0))
            .max()
            .unwrap()
    };
    assert!(newest(&first) >= 200_000, "{}", newest(&first));
    // The session goes on streaming unread before it is stopped: frames wait in the channel
    // and in the pairer.
    std::thread::sleep(Duration::from_millis(300));
    device.stop().unwrap();
    let dropped_before = device.stats().pairing_dropped;
    device.start(&c).unwrap();
    let second = captures(&mut device, 10);
    for (i, capture) in second.iter().enumerate() {
        let colour = capture.colour.as_ref().map(|i| i.device_ts_usec.0);
        let depth = capture.depth_raw.as_ref().map(|d| d.device_ts_usec.0);
        assert!(
            colour.is_some() && depth.is_some(),
            "capture {i} of the new session is not a pair: {colour:?} {depth:?}"
        );
    }
    assert!(
        newest(&second) < 400_000,
        "the new session's first ten pairs are from its own clock (restarted at colour \
         start): {}",
        newest(&second)
    );
    assert_eq!(device.stats().pairing_dropped, dropped_before);
    device.stop().unwrap();
}

#[test]
fn imu_delivers_about_1_6_khz_with_rising_timestamps() {
    let (mut device, _camera) = open(3);
    let mut config = config(DepthMode::Nfov2x2Binned, Fps::Fps30);
    config.imu = true;
    device.start(&config).unwrap();
    let start = device.host_now_ns();
    let got = collect_until(&mut device, start + 3 * SECOND_NS);
    let imu = &got.imu;
    assert!(imu.len() > 1000);
    for pair in imu.windows(2) {
        assert!(pair[0].device_ts_usec < pair[1].device_ts_usec);
    }
    let span_usec = imu.last().unwrap().device_ts_usec.0 - imu[0].device_ts_usec.0;
    let rate = (imu.len() - 1) as f64 * 1e6 / span_usec as f64;
    assert!(
        (1_666.0 * 0.98..1_666.0 * 1.02).contains(&rate),
        "{rate} Hz"
    );
    let g = imu[10].sample.accel_m_per_s2[2];
    assert!((9.0..10.6).contains(&g), "gravity on +Z: {g}");
    assert!(device.start_imu().is_err(), "already running");
    device.stop_imu().unwrap();
}

#[test]
fn subordinate_waits_for_the_master_then_lags_it_by_the_effective_delay() {
    let rig = EmulatedRig::daisy_chain(2, Pacing::Virtual);
    let mut master = Device::from_transport(Box::new(rig.transport(0))).unwrap();
    let mut sub = Device::from_transport(Box::new(rig.transport(1))).unwrap();
    let mut sub_config = config(DepthMode::NfovUnbinned, Fps::Fps30);
    sub_config.sync_mode = WiredSyncMode::Subordinate;
    sub_config.subordinate_delay_off_master_usec = 1_000;
    let mut master_config = config(DepthMode::NfovUnbinned, Fps::Fps30);
    master_config.sync_mode = WiredSyncMode::Master;

    sub.start(&sub_config).unwrap();
    let delay_usec = sub
        .running_config()
        .unwrap()
        .effective_subordinate_delay_usec();
    assert_eq!(delay_usec, 1_000);
    let before = next(&mut sub).unwrap();
    assert!(
        matches!(before, Event::StreamTimeout { .. }),
        "nothing but timeouts before the master starts: {before:?}"
    );

    master.start(&master_config).unwrap();
    let until = rig.now_ns() + SECOND_NS;
    let sub_thread = std::thread::spawn(move || collect_until(&mut sub, until));
    let master_got = collect_until(&mut master, until);
    let sub_got = sub_thread.join().unwrap();

    let colour = |c: &Collected| -> Vec<u64> {
        c.captures
            .iter()
            .filter_map(|c| Some(c.colour.as_ref()?.device_ts_usec.0))
            .collect()
    };
    let (m, s) = (colour(&master_got), colour(&sub_got));
    assert!(m.len() >= 25 && s.len() >= 25, "{} / {}", m.len(), s.len());
    for ts in &s {
        let nearest = m
            .iter()
            .map(|mts| (ts - delay_usec as u64).abs_diff(*mts))
            .min()
            .unwrap();
        assert!(
            nearest <= 110,
            "sub colour {ts} is {nearest} µs off master + delay"
        );
    }
}

/// Colour timestamps of the captures of `device` for `seconds` of real time.
fn colour_for(device: &mut Device, seconds: u64) -> Vec<u64> {
    let until = device.host_now_ns() + seconds * SECOND_NS;
    collect_until(device, until)
        .captures
        .iter()
        .filter_map(|c| Some(c.colour.as_ref()?.device_ts_usec.0))
        .collect()
}

#[test]
fn a_cable_between_two_rigs_carries_the_masters_pulses_as_between_processes() {
    // Two rigs share nothing but the socket, as two agent processes would.
    let dir = tempfile::tempdir().unwrap();
    let line = dir.path().join("sub-sync-in");
    let master_rig = EmulatedRig::standalone(1, Pacing::RealTime);
    let sub_rig = EmulatedRig::new([params_for(1)], Pacing::RealTime);
    master_rig.pulse_out(0, &line).unwrap();
    sub_rig.pulse_in(0, &line).unwrap();
    let mut master = Device::from_transport(Box::new(master_rig.transport(0))).unwrap();
    let mut sub = Device::from_transport(Box::new(sub_rig.transport(0))).unwrap();
    let jack = sub.jack_state().unwrap();
    assert!(jack.sync_in && !jack.sync_out, "{jack:?}");
    assert!(master.jack_state().unwrap().sync_out);

    let mut sub_config = config(DepthMode::Nfov2x2Binned, Fps::Fps15);
    sub_config.sync_mode = WiredSyncMode::Subordinate;
    sub_config.subordinate_delay_off_master_usec = 500;
    let mut master_config = config(DepthMode::Nfov2x2Binned, Fps::Fps15);
    master_config.sync_mode = WiredSyncMode::Master;
    sub.start(&sub_config).unwrap();
    let before = sub.next_capture(Duration::from_millis(500)).unwrap();
    assert!(
        !matches!(before, Some(Event::Capture(_))),
        "no image before the master starts: {before:?}"
    );
    let delay_usec = sub
        .running_config()
        .unwrap()
        .effective_subordinate_delay_usec() as u64;

    master.start(&master_config).unwrap();
    let sub_thread = std::thread::spawn(move || colour_for(&mut sub, 2));
    let m = colour_for(&mut master, 2);
    let s = sub_thread.join().unwrap();
    assert!(m.len() >= 20 && s.len() >= 20, "{} / {}", m.len(), s.len());
    // Both clocks were zeroed by the same first pulse: the subordinate's frames sit on the
    // master's, one pulse each, shifted by the effective delay (within the 15 fps tolerance).
    for ts in &s {
        let nearest = m
            .iter()
            .map(|mts| (ts - delay_usec).abs_diff(*mts))
            .min()
            .unwrap();
        assert!(
            nearest <= 220,
            "sub colour {ts} is {nearest} µs off master + delay"
        );
    }
}

#[test]
fn a_cable_to_another_process_needs_real_time_pacing() {
    let dir = tempfile::tempdir().unwrap();
    let rig = EmulatedRig::standalone(1, Pacing::Virtual);
    let e = rig.pulse_out(0, &dir.path().join("x")).unwrap_err();
    assert!(e.to_string().contains("real-time pacing"), "{e}");
    let rig = EmulatedRig::standalone(1, Pacing::RealTime);
    let e = rig.pulse_in(3, &dir.path().join("y")).unwrap_err();
    assert!(e.to_string().contains("no camera 3"), "{e}");
}

#[test]
fn unplug_mid_stream_keeps_earlier_frames_then_names_serial_and_endpoint() {
    let (mut device, camera) = open(6);
    let config = config(DepthMode::NfovUnbinned, Fps::Fps30);
    device.start(&config).unwrap();
    let start = device.host_now_ns();
    let before = collect_until(&mut device, start + SECOND_NS / 2);
    assert!(before.captures.len() >= 10);
    camera.inject(Fault::Unplug);
    let mut after = Vec::new();
    let error = loop {
        match device.next_capture(WAIT) {
            Ok(Some(event)) => after.push(event),
            Ok(None) => panic!("the unplug must end the stream with an error"),
            Err(e) => break e,
        }
    };
    assert!(error.is_disconnected(), "{error}");
    let endpoint = error.endpoint().unwrap();
    assert!(matches!(
        endpoint,
        Endpoint::DepthStreamIn | Endpoint::ColourVideo
    ));
    let text = error.to_string();
    assert!(text.contains(device.serial()), "{text}");
    assert!(text.contains(&endpoint.to_string()), "{text}");
    for capture in &before.captures {
        if let Some(d) = &capture.depth_raw {
            assert_eq!(d.data.len(), 5_310_760);
        }
    }
    assert!(after.iter().all(|e| matches!(e, Event::Capture(_))));
    let stop = device.stop();
    assert!(stop.is_err_and(|e| e.is_disconnected()));
}

/// Events up to the first stall recovery on `endpoint` (with its frames lost), failing on
/// any error.
fn until_stall_recovered(device: &mut Device, endpoint: Endpoint) -> u64 {
    loop {
        match next(device) {
            Ok(Event::StallRecovered {
                endpoint: e,
                frames_lost,
            }) if e == endpoint => return frames_lost,
            Ok(_) => {}
            Err(e) => panic!("the stream ended instead of recovering: {e}"),
        }
    }
}

#[test]
fn a_stall_on_the_only_depth_transfer_is_cleared_and_depth_goes_on_one_frame_short() {
    let (mut device, camera) = open(7);
    device
        .start(&config(DepthMode::NfovUnbinned, Fps::Fps30))
        .unwrap();
    let start = device.host_now_ns();
    collect_until(&mut device, start + SECOND_NS / 4);
    camera.inject(Fault::Stall(k4sync_core::emu::Endpoint::DepthStreamIn));
    assert_eq!(
        until_stall_recovered(&mut device, Endpoint::DepthStreamIn),
        1
    );
    let now = device.host_now_ns();
    let after = collect_until(&mut device, now + SECOND_NS);
    let depth = after
        .captures
        .iter()
        .filter(|c| c.depth_raw.is_some())
        .count();
    assert!(
        depth >= 25,
        "{depth} depth frames in the second after the stall"
    );
    let stats = device.stats();
    assert_eq!(
        (stats.stalls_recovered, stats.frames_lost_to_stalls),
        (1, 1)
    );
    assert_eq!(stats.transfers_lost, 0);
}

#[test]
fn a_stall_with_transfers_left_is_cleared_too_and_no_transfer_stays_lost() {
    let (mut device, camera) = open(8);
    device
        .start(&config(DepthMode::Wfov2x2Binned, Fps::Fps15))
        .unwrap();
    camera.inject(Fault::Stall(k4sync_core::emu::Endpoint::DepthStreamIn));
    let start = device.host_now_ns();
    let got = collect_until(&mut device, start + SECOND_NS);
    assert!(
        got.other.iter().any(|e| matches!(
            e,
            Event::StallRecovered {
                endpoint: Endpoint::DepthStreamIn,
                ..
            }
        )),
        "{:?}",
        got.other
    );
    assert_eq!(device.stats().transfers_lost, 0);
    let late = collect_until(&mut device, start + 2 * SECOND_NS);
    assert!(late.captures.iter().any(|c| c.depth_raw.is_some()));
}

#[test]
fn an_imu_stall_is_cleared_and_the_samples_of_the_lost_packet_are_counted() {
    let (mut device, camera) = open(9);
    let mut cfg = config(DepthMode::NfovUnbinned, Fps::Fps30);
    cfg.imu = true;
    device.start(&cfg).unwrap();
    let start = device.host_now_ns();
    collect_until(&mut device, start + SECOND_NS / 4);
    camera.inject(Fault::Stall(k4sync_core::emu::Endpoint::ImuStreamIn));
    let lost = until_stall_recovered(&mut device, Endpoint::ImuStreamIn);
    assert!(
        (1..=16).contains(&lost),
        "{lost} samples lost to one packet"
    );
    let now = device.host_now_ns();
    let after = collect_until(&mut device, now + SECOND_NS / 2);
    assert!(
        after.imu.len() > 500,
        "{} IMU samples after",
        after.imu.len()
    );
}

#[test]
fn the_third_stall_within_ten_seconds_ends_the_stream_with_stream_stalled() {
    let (mut device, camera) = open(10);
    device
        .start(&config(DepthMode::NfovUnbinned, Fps::Fps30))
        .unwrap();
    let stall = || camera.inject(Fault::Stall(k4sync_core::emu::Endpoint::DepthStreamIn));
    for _ in 0..2 {
        stall();
        until_stall_recovered(&mut device, Endpoint::DepthStreamIn);
    }
    stall();
    let error = loop {
        match device.next_capture(WAIT) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            error,
            Error::StreamStalled {
                endpoint: Endpoint::DepthStreamIn,
                count: 3,
                window,
                ..
            } if window == Duration::from_secs(10)
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains(device.serial()) && text.contains("stalled 3 times"),
        "{text}"
    );
}

#[test]
fn command_timeout_and_stall_are_typed_transfer_errors_naming_the_command() {
    let (mut device, camera) = open(9);
    camera.inject(Fault::CommandTimeout(Mcu::Colour));
    let err = device.jack_state().unwrap_err();
    match &err {
        Error::Transfer {
            serial,
            command,
            phase,
            source,
        } => {
            assert_eq!(serial.as_deref(), Some(device.serial()));
            assert_eq!(*command, CommandCode::GetJackState);
            assert_eq!(*phase, Phase::Status);
            assert!(matches!(
                source,
                TransferError::Timeout {
                    endpoint: Endpoint::ColourResponseIn,
                    ..
                }
            ));
        }
        other => panic!("{other}"),
    }
    camera.inject(Fault::Stall(k4sync_core::emu::Endpoint::ColourCommandOut));
    let err = device.jack_state().unwrap_err();
    assert!(matches!(
        err,
        Error::Transfer {
            phase: Phase::Command,
            source: TransferError::Stall {
                endpoint: Endpoint::ColourCommandOut
            },
            ..
        }
    ));
    assert!(
        device.jack_state().is_ok(),
        "one-shot faults leave the channel usable"
    );

    let transport = EmulatedTransport::new(10);
    transport.camera().inject(Fault::CommandTimeout(Mcu::Depth));
    let err = Device::from_transport(Box::new(transport)).err().unwrap();
    assert_eq!(err.command(), Some(CommandCode::ReadProductSn));
}

#[test]
fn short_and_oversized_frames_are_counted_drops_and_streaming_continues() {
    let (mut device, camera) = open(11);
    let mut config = config(DepthMode::Nfov2x2Binned, Fps::Fps30);
    config.color_format = ColorFormat::Nv12;
    config.imu = true;
    device.start(&config).unwrap();
    camera.inject(Fault::ShortFrame(Stream::Depth));
    camera.inject(Fault::ShortFrame(Stream::Colour));
    camera.inject(Fault::ShortFrame(Stream::Imu));
    let start = device.host_now_ns();
    let got = collect_until(&mut device, start + SECOND_NS / 2);
    camera.inject(Fault::OversizedFrame(Stream::Depth));
    let more = collect_until(&mut device, start + SECOND_NS);
    let dropped = |endpoint| {
        got.other
            .iter()
            .chain(more.other.iter())
            .filter(|e| {
                **e == Event::Dropped {
                    endpoint,
                    reason: DropReason::WrongSize,
                }
            })
            .count()
    };
    assert!(dropped(Endpoint::DepthStreamIn) >= 2, "short + oversized");
    assert_eq!(dropped(Endpoint::ColourVideo), 1);
    assert_eq!(dropped(Endpoint::ImuStreamIn), 1);
    let stats = device.stats();
    assert!(stats.dropped_wrong_size >= 4);
    assert!(more.captures.iter().any(|c| c.depth_raw.is_some()));
    assert!(more
        .captures
        .iter()
        .filter_map(|c| c.colour.as_ref())
        .all(|c| c.data.len() == 1280 * 720 * 3 / 2));
}

#[test]
fn a_short_mjpg_frame_is_dropped_whole_with_a_counted_reason_and_no_broken_jpeg_passes() {
    let (mut device, camera) = open(13);
    let config = config(DepthMode::Off, Fps::Fps30);
    device.start(&config).unwrap();
    camera.inject(Fault::ShortFrame(Stream::Colour));
    let start = device.host_now_ns();
    let got = collect_until(&mut device, start + SECOND_NS / 2);
    let malformed = Event::Dropped {
        endpoint: Endpoint::ColourVideo,
        reason: DropReason::Malformed,
    };
    assert_eq!(got.other.iter().filter(|e| **e == malformed).count(), 1);
    assert_eq!(device.stats().dropped_malformed, 1);
    let colour: Vec<_> = got
        .captures
        .iter()
        .filter_map(|c| c.colour.as_ref())
        .collect();
    assert!(colour.len() >= 10, "{} colour frames", colour.len());
    for image in colour {
        assert!(image.data.starts_with(&[0xFF, 0xD8]), "SOI");
        assert!(image.data.ends_with(&[0xFF, 0xD9]), "EOI");
    }
}

#[test]
fn imu_needs_running_cameras_and_cameras_refuse_to_start_under_a_running_imu() {
    let (mut device, _camera) = open(12);
    assert!(matches!(device.start_imu(), Err(Error::State { .. })));
    let mut config = config(DepthMode::NfovUnbinned, Fps::Fps30);
    config.imu = true;
    device.start(&config).unwrap();
    device.stop().unwrap();
    assert!(device.imu_running());
    let err = device.start(&config).unwrap_err();
    assert!(err.to_string().contains("stop the IMU first"), "{err}");
}

#[test]
fn emulated_transport_reports_super_speed_packets() {
    let t = EmulatedTransport::new(0);
    assert_eq!(t.max_packet_size(Endpoint::DepthStreamIn), 1024);
}
