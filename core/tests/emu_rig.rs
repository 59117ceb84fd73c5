//! An emulated rig on one simulated timeline: timestamps are read back from the emulated
//! devices' output bytes (depth trailer, colour UVC metadata, GET_JACK_STATE bits) the way a
//! host reads them, fed to the sync engine, and judged against the simulator's ground truth.
#![cfg(feature = "emulator")]
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken fixture"
)]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use k4sync_core::emu::{
    colour_payload_header, mjpg_frame_len, ColourConfig, Device, EmuRig, Endpoint, FrameInfo,
    TransferError,
};
use k4sync_core::sim::{
    Cable, ClockMode, DeviceSim, Fault, Oscillator, Pulse, Rig, RigConfig, SimEvent, SplitMix64,
};
use k4sync_core::sync::align::{
    Aligner, AlignerConfig, AlignerOutput, DeviceTiming, FrameKind, FrameSet, HealthEvent,
    LossReason,
};
use k4sync_core::sync::jack::{Event, Notice, SessionState, SyncSession};
use k4sync_core::time::Ticks90k;
use k4sync_core::types::{ColorFormat, ColorResolution, Fps, SensorMode};
use k4sync_core::wire::colour_mcu::JackState;
use k4sync_core::wire::command::{Command, CommandRepr, Mcu, TransactionIds};
use k4sync_core::wire::depth_trailer::{DepthTrailer, TRAILER_LEN};
use k4sync_core::wire::imu::{ImuPacket, ImuPacketRepr, TRANSFER_LEN};
use k4sync_core::wire::response::check_response;
use k4sync_core::wire::uvc::{colour_timestamp, UvcPayload};
use k4sync_core::WireError;

const MS: u64 = 1_000_000;
const MODE: SensorMode = SensorMode::PseudoCommon;
const FAULTS: usize = 16;
const WINDOW: usize = 8;
/// Host poll interval: a quarter of a 30 fps period.
const STEP_NS: u64 = 8_333_333;
const JACK_READ_NS: u64 = 250 * MS;

fn colour() -> ColourConfig {
    ColourConfig {
        resolution: ColorResolution::R720p,
        format: ColorFormat::Mjpg,
        fps: Fps::Fps30,
    }
}

/// Oscillators within ±100 ppm, offsets within ±20 µs, 2 µs jitter; subordinate delays of
/// 0–160 µs; all drawn from `seed`.
fn config<const N: usize>(seed: u64, seconds: u32) -> RigConfig<N> {
    let mut rng = SplitMix64::new(seed);
    let mut devices = [DeviceSim::default(); N];
    for (d, sim) in devices.iter_mut().enumerate() {
        // The master's offset is positive so its first colour frame's PTS is not 0, which a
        // host drops as "no timestamp".
        let offset_nsec = if d == 0 {
            20_000 + rng.below(20_000) as i64
        } else {
            rng.symmetric(20_000)
        };
        sim.oscillator = Oscillator {
            offset_nsec,
            drift_ppb: rng.symmetric(100_000),
            jitter_nsec: 2_000,
        };
        if d > 0 {
            sim.subordinate_delay_ticks = rng.below(15) as u32;
        }
    }
    RigConfig {
        seed,
        fps: Fps::Fps30,
        cable: Cable::default(),
        clock_mode: ClockMode::FreeRun,
        pulses: seconds * 30,
        devices,
    }
}

fn period_ns() -> i64 {
    1_000_000_000 / 30
}

/// A frame the host read, with the host instant it read it at.
#[derive(Debug, Clone, Copy)]
struct Read {
    device: usize,
    stream: FrameKind,
    ticks: Ticks90k,
    at_ns: u64,
}

/// The host side of an emulated rig: pollers, command channel for jack reads, the aligner and
/// one sync session per device.
struct Host<'r, const N: usize> {
    emu: EmuRig<'r, N, FAULTS>,
    ids: [TransactionIds; N],
    aligner: Aligner<N, WINDOW>,
    sessions: [SyncSession; N],
    last_frame_ns: [u64; N],
    /// Devices whose depth frames are read whole rather than by their tail.
    full_depth: [bool; N],
    depth_buf: Vec<u8>,
    colour_buf: Vec<u8>,
    reads: Vec<Read>,
    sets: Vec<FrameSet<N>>,
    health: Vec<HealthEvent>,
    notices: Vec<(usize, u64, Notice)>,
    errors: Vec<(usize, u64, TransferError)>,
    /// Whole depth frames whose trailer the host refused, with the parser's error.
    bad_depth: Vec<(usize, u64, WireError)>,
    /// Depth transfers read by their tail whose length is not the mode's frame size.
    bad_len: Vec<(usize, u64, usize)>,
    transcript: DefaultHasher,
    next_jack_read: u64,
    imu: bool,
    zero_pts: usize,
    /// After the simulated pulses end: the rig's silence is not a fault.
    closing: bool,
}

impl<'r, const N: usize> Host<'r, N> {
    fn new(rig: &'r Rig<N, FAULTS>, imu: bool) -> Self {
        let mut emu = EmuRig::new(rig);
        emu.start_streams(MODE, colour(), imu).unwrap();
        let config = rig.config();
        let timing = config
            .devices
            .map(|d| DeviceTiming::from_ticks(d.subordinate_delay_ticks, d.depth_delay_ticks));
        let mut sessions = [SyncSession::new(); N];
        for (d, session) in sessions.iter_mut().enumerate() {
            session.handle(Event::Configured(emu.sync_mode(d), config.fps));
            session.handle(Event::JackRead(emu.device(d).unwrap().jack()));
            session.handle(Event::Started);
        }
        Host {
            emu,
            ids: [TransactionIds::new(); N],
            aligner: Aligner::new(AlignerConfig::new(config.fps, 0, timing)).unwrap(),
            sessions,
            last_frame_ns: [0; N],
            full_depth: [false; N],
            depth_buf: Vec::new(),
            colour_buf: vec![0; mjpg_frame_len(colour().resolution)],
            reads: Vec::new(),
            sets: Vec::new(),
            health: Vec::new(),
            notices: Vec::new(),
            errors: Vec::new(),
            bad_depth: Vec::new(),
            bad_len: Vec::new(),
            transcript: DefaultHasher::new(),
            next_jack_read: JACK_READ_NS,
            imu,
            zero_pts: 0,
            closing: false,
        }
    }

    fn session_event(&mut self, device: usize, at_ns: u64, event: Event) {
        if let Some(notice) = self.sessions[device].handle(event).notice {
            self.notices.push((device, at_ns, notice));
        }
    }

    fn push_frame(&mut self, device: usize, stream: FrameKind, ticks: Ticks90k, at_ns: u64) {
        ticks.0.hash(&mut self.transcript);
        self.reads.push(Read {
            device,
            stream,
            ticks,
            at_ns,
        });
        self.last_frame_ns[device] = at_ns;
        let ts = ticks.to_usec();
        self.session_event(
            device,
            at_ns,
            Event::FrameReceived {
                device_ts_usec: ts.0,
            },
        );
        let (sets, health) = (&mut self.sets, &mut self.health);
        self.aligner
            .push(device, stream, ts, &mut |out| match out {
                AlignerOutput::Set(set) => sets.push(*set),
                AlignerOutput::Health(h) => health.push(h),
            })
            .unwrap();
    }

    fn error(&mut self, device: usize, at_ns: u64, error: TransferError) {
        format!("{error:?}").hash(&mut self.transcript);
        self.errors.push((device, at_ns, error));
    }

    /// One depth frame as a host reads it: by its 40-byte tail (the transfer length says
    /// whether it has the mode's size), or whole into a transfer-sized buffer.
    fn poll_depth(&mut self, device: usize, now: u64) -> bool {
        let transfer = MODE.bulk_request_size();
        let dev = self.emu.device_mut(device).unwrap();
        if self.full_depth[device] {
            self.depth_buf.resize(transfer, 0);
            match dev.poll_depth_frame(now, &mut self.depth_buf) {
                Ok(Some(info)) => {
                    let frame = &self.depth_buf[..info.len];
                    frame.hash(&mut self.transcript);
                    match DepthTrailer::from_frame_in_mode(frame, MODE) {
                        Ok(trailer) => {
                            let ticks = trailer.timestamp_ticks();
                            self.push_frame(device, FrameKind::Depth, ticks, now);
                        }
                        Err(e) => self.bad_depth.push((device, now, e)),
                    }
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    self.error(device, now, e);
                    false
                }
            }
        } else {
            let mut tail = [0u8; TRAILER_LEN];
            match dev.poll_depth_frame_tail(now, transfer, &mut tail) {
                Ok(Some(info)) => {
                    tail.hash(&mut self.transcript);
                    if info.len == MODE.raw_frame_size() {
                        let trailer = DepthTrailer::new_checked(&tail[..]).unwrap();
                        assert!(trailer.is_k4sync_emulated());
                        let ticks = trailer.timestamp_ticks();
                        self.push_frame(device, FrameKind::Depth, ticks, now);
                    } else {
                        self.bad_len.push((device, now, info.len));
                    }
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    self.error(device, now, e);
                    false
                }
            }
        }
    }

    /// One colour frame: image bytes, then the UVC payload header the device puts in front of
    /// them, whose metadata carries the PTS the host timestamps the frame with.
    fn poll_colour(&mut self, device: usize, now: u64) -> bool {
        let dev = self.emu.device_mut(device).unwrap();
        match dev.poll_colour_frame(now, &mut self.colour_buf) {
            Ok(Some(info)) => {
                info.len.hash(&mut self.transcript);
                self.colour_buf[..info.len.min(64)].hash(&mut self.transcript);
                // A PTS of 0 (a master frame stamped at its clock's zero) is no timestamp: the
                // host drops the frame, as the SDK does.
                match colour_ticks(&info) {
                    Some(ticks) => self.push_frame(device, FrameKind::Colour, ticks, now),
                    None => self.zero_pts += 1,
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.error(device, now, e);
                false
            }
        }
    }

    fn poll_imu(&mut self, device: usize, now: u64) {
        let mut packet = [0u8; TRANSFER_LEN];
        loop {
            let dev = self.emu.device_mut(device).unwrap();
            match dev.poll_imu_packet(now, &mut packet) {
                Ok(Some(info)) => packet[..info.len].hash(&mut self.transcript),
                Ok(None) => return,
                Err(e) => return self.error(device, now, e),
            }
        }
    }

    fn read_jack(&mut self, device: usize) -> Result<JackState, TransferError> {
        let dev = self.emu.device_mut(device).unwrap();
        let repr = CommandRepr::new(self.ids[device].next_id(), Command::GetJackState);
        let bytes = repr.to_bytes().unwrap();
        dev.on_command_out(Mcu::Colour, &bytes)?;
        let mut data = vec![0u8; repr.payload_size as usize];
        let n = dev.read_data(Mcu::Colour, &mut data)?;
        let mut response = [0u8; 16];
        dev.read_response(Mcu::Colour, &mut response)?;
        assert!(check_response(repr.transaction_id, &response)
            .unwrap()
            .is_success());
        Ok(JackState::parse(&data[..n]).unwrap())
    }

    fn step(&mut self, now: u64) {
        self.emu.advance_to(now);
        now.hash(&mut self.transcript);
        for device in 0..N {
            while self.poll_depth(device, now) {}
            while self.poll_colour(device, now) {}
            if self.imu {
                self.poll_imu(device, now);
            }
            if !self.closing {
                let silent_usec = (now - self.last_frame_ns[device]) / 1_000;
                self.session_event(device, now, Event::NoFrameFor { usec: silent_usec });
            }
        }
        if now >= self.next_jack_read {
            self.next_jack_read += JACK_READ_NS;
            for device in 0..N {
                match self.read_jack(device) {
                    Ok(jack) => {
                        jack.to_byte().hash(&mut self.transcript);
                        self.session_event(device, now, Event::JackRead(jack));
                    }
                    Err(e) => self.error(device, now, e),
                }
            }
        }
    }

    fn run_until(&mut self, until_ns: u64) {
        let mut now = self.emu.now_ns();
        while now < until_ns {
            now = (now + STEP_NS).min(until_ns);
            self.step(now);
        }
    }

    fn finish(&mut self) {
        self.closing = true;
        let end = self.emu.now_ns() + 200 * MS;
        self.run_until(end);
        let (sets, health) = (&mut self.sets, &mut self.health);
        self.aligner.flush(&mut |out| match out {
            AlignerOutput::Set(set) => sets.push(*set),
            AlignerOutput::Health(h) => health.push(h),
        });
    }

    fn notices_of(&self, device: usize) -> Vec<Notice> {
        self.notices
            .iter()
            .filter(|(d, _, _)| *d == device)
            .map(|(_, _, n)| *n)
            .collect()
    }

    fn missing(&self) -> Vec<(usize, FrameKind, i64)> {
        self.health
            .iter()
            .filter_map(|h| match *h {
                HealthEvent::MissingFrame {
                    device,
                    stream,
                    set,
                } => Some((device, stream, set)),
                _ => None,
            })
            .collect()
    }
}

fn colour_ticks(info: &FrameInfo) -> Option<Ticks90k> {
    let mut header = [0u8; 255];
    let n = colour_payload_header(info, true, true, &mut header).unwrap();
    let payload = UvcPayload::new_checked(&header[..n]).unwrap();
    colour_timestamp(payload.metadata())
}

/// Ground truth per (device, stream, tick): the first frame the simulator stamped with it.
fn truth<const N: usize>(rig: &Rig<N, FAULTS>) -> HashMap<(usize, FrameKind, u64), (Pulse, i64)> {
    let mut map = HashMap::new();
    for event in rig.events() {
        if let SimEvent::Frame(f) = event {
            map.entry((f.device, f.stream, f.ticks.0))
                .or_insert((f.pulse, f.exposure_true_nsec));
        }
    }
    map
}

/// Sets whose frames do not all belong to one regular pulse.
fn mismatched_sets<const N: usize>(
    sets: &[FrameSet<N>],
    truth: &HashMap<(usize, FrameKind, u64), (Pulse, i64)>,
) -> usize {
    let mut by_usec: HashMap<(usize, FrameKind, u64), Pulse> = HashMap::new();
    for (&(d, s, ticks), &(pulse, _)) in truth {
        let key = (d, s, Ticks90k(ticks).to_usec().0);
        let entry = by_usec.entry(key).or_insert(pulse);
        *entry = (*entry).min(pulse);
    }
    sets.iter()
        .filter(|set| {
            let mut pulses = Vec::new();
            for device in 0..N {
                for stream in [FrameKind::Colour, FrameKind::Depth] {
                    if let Some(ts) = set.ts(device, stream) {
                        pulses.push(by_usec.get(&(device, stream, ts.0)).copied());
                    }
                }
            }
            pulses.dedup();
            !matches!(pulses.as_slice(), [Some(Pulse::Regular(_))])
        })
        .count()
}

fn rig<const N: usize>(seed: u64, seconds: u32) -> Rig<N, FAULTS> {
    Rig::new(config(seed, seconds)).unwrap()
}

fn at_pulse<const N: usize>(rig: &Rig<N, FAULTS>, k: u32) -> i64 {
    rig.pulse_true_nsec(k) + 1
}

fn ns(true_nsec: i64) -> u64 {
    true_nsec as u64
}

#[test]
fn nine_devices_for_ten_minutes_give_no_mismatched_set() {
    let rig: Rig<9, FAULTS> = rig(0x5EED_0009, 600);
    let mut host = Host::new(&rig, false);
    host.run_until(600_000 * MS);
    host.finish();
    assert!(host.errors.is_empty(), "{:?}", host.errors.first());
    assert!(host.bad_depth.is_empty() && host.bad_len.is_empty());

    // Ground truth, keyed by (device, stream, ts µs) since the sets hold µs.
    let mut truth: HashMap<(usize, FrameKind, u64), Pulse> = HashMap::new();
    for event in rig.events() {
        if let SimEvent::Frame(f) = event {
            truth
                .entry((f.device, f.stream, f.device_ts_usec.0))
                .or_insert(f.pulse);
        }
    }
    let mut mismatched = 0;
    let mut complete = 0;
    for set in &host.sets {
        let mut pulses: Vec<Option<Pulse>> = Vec::new();
        for device in 0..9 {
            for stream in [FrameKind::Colour, FrameKind::Depth] {
                if let Some(ts) = set.ts(device, stream) {
                    pulses.push(truth.get(&(device, stream, ts.0)).copied());
                }
            }
        }
        pulses.dedup();
        if !matches!(pulses.as_slice(), [Some(Pulse::Regular(_))]) {
            mismatched += 1;
        }
        complete += usize::from(set.complete);
    }
    assert_eq!(mismatched, 0);
    // Every pulse but the master's zeroing one gives a complete set of 18 frames read from bytes.
    assert!(complete >= 18_000 - 3, "{complete} complete sets");
    assert_eq!(host.reads.len() + host.zero_pts, truth.len());
    assert_eq!(host.zero_pts, 0);
    assert!(!host.health.iter().any(|h| matches!(
        h,
        HealthEvent::Lost { .. } | HealthEvent::MissingFrame { .. }
    )));
}

#[test]
fn pulled_cable_reads_as_pulses_lost_then_cable_pulled_from_the_jack_bits() {
    let mut rig: Rig<3, FAULTS> = rig(11, 8);
    // Just after a jack read, so the silence is noticed before the next read sees the jack.
    rig.schedule(2_260_000_000, Fault::CablePulled { device: 1 })
        .unwrap();
    rig.schedule(5_010_000_000, Fault::CableReplugged { device: 1 })
        .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(8_000 * MS);

    assert_eq!(
        host.notices_of(1),
        [
            Notice::SyncAcquired,
            Notice::PulsesLost {
                silent_usec: host.silence_at_loss(1)
            },
            Notice::CablePulled,
            Notice::CableReplugged,
            Notice::SyncAcquired,
        ]
    );
    // Downstream of the pulled cable: silent, but its own jack is still plugged.
    let downstream = host.notices_of(2);
    assert!(matches!(downstream[1], Notice::PulsesLost { .. }));
    assert!(!downstream.contains(&Notice::CablePulled));
    assert!(host.notices_of(0).is_empty(), "{:?}", host.notices_of(0));
    assert!(host.missing().iter().all(|(d, _, _)| *d == 1 || *d == 2));
    assert!(!host.missing().is_empty());
    assert_eq!(host.sessions[1].state(), SessionState::Streaming);
}

#[test]
fn restarted_subordinate_loses_sync_in_its_session_and_in_the_aligner() {
    let mut rig: Rig<3, FAULTS> = rig(12, 6);
    let restart_at = at_pulse(&rig, 100);
    rig.schedule(restart_at, Fault::SubordinateRestart { device: 1 })
        .unwrap();
    let mut host = Host::new(&rig, false);
    host.run_until(ns(restart_at));
    let transition = host.sessions[1].handle(Event::Restarted);
    assert_eq!(transition.notice, Some(Notice::SyncLostByRestart));
    assert_eq!(transition.to, SessionState::LostSyncAfterRestart);
    host.finish_at(6_000 * MS);
    let lost: Vec<HealthEvent> = host
        .health
        .iter()
        .copied()
        .filter(|h| matches!(h, HealthEvent::Lost { .. }))
        .collect();
    assert_eq!(
        lost,
        [HealthEvent::Lost {
            device: 1,
            reason: LossReason::ClockReset
        }]
    );
}

#[test]
fn unplugged_device_fails_every_endpoint_with_gone() {
    let mut rig: Rig<3, FAULTS> = rig(13, 3);
    rig.schedule(1_000_000_000, Fault::DeviceUnplug { device: 2 })
        .unwrap();
    let mut host = Host::new(&rig, false);
    host.run_until(999 * MS);
    assert!(host.errors.is_empty());
    host.run_until(1_100 * MS);
    let now = host.emu.now_ns();
    assert!(host
        .errors
        .iter()
        .all(|(d, t, e)| *d == 2 && *t >= 1_000 * MS && matches!(e, TransferError::Gone { .. })));
    let dev: &mut Device = host.emu.device_mut(2).unwrap();
    let mut buf = [0u8; 64];
    let mut response = [0u8; 16];
    let mut imu = [0u8; TRANSFER_LEN];
    let gone = |endpoint| TransferError::Gone { endpoint };
    assert_eq!(
        dev.on_command_out(Mcu::Depth, &[0; 20]),
        Err(gone(Endpoint::DepthCommandOut))
    );
    assert_eq!(
        dev.on_command_out(Mcu::Colour, &[0; 20]),
        Err(gone(Endpoint::ColourCommandOut))
    );
    assert_eq!(
        dev.read_data(Mcu::Depth, &mut buf),
        Err(gone(Endpoint::DepthResponseIn))
    );
    assert_eq!(
        dev.read_response(Mcu::Colour, &mut response),
        Err(gone(Endpoint::ColourResponseIn))
    );
    assert_eq!(
        dev.poll_depth_frame(now, &mut buf),
        Err(gone(Endpoint::DepthStreamIn))
    );
    assert_eq!(
        dev.poll_colour_frame(now, &mut buf),
        Err(gone(Endpoint::ColourVideo))
    );
    assert_eq!(
        dev.poll_imu_packet(now, &mut imu),
        Err(gone(Endpoint::ImuStreamIn))
    );
}

#[test]
fn endpoint_stall_fails_the_next_transfer_on_that_endpoint_only() {
    // A stream stall fires with the next frame, which is lost with it: at most one frame
    // period (33 ms at 30 fps) plus the readout latency after it was armed.
    const WITHIN: u64 = 100 * MS;
    let mut rig: Rig<3, FAULTS> = rig(14, 3);
    rig.schedule(
        1_500_000_000,
        Fault::EndpointStall {
            device: 1,
            stream: FrameKind::Depth,
        },
    )
    .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(3_000 * MS);
    assert_eq!(host.errors.len(), 1, "{:?}", host.errors);
    let (device, at, error) = host.errors[0];
    assert_eq!(device, 1);
    assert!((1_500 * MS..1_500 * MS + WITHIN).contains(&at), "{at}");
    assert_eq!(
        error,
        TransferError::Stall {
            endpoint: Endpoint::DepthStreamIn
        }
    );
}

#[test]
fn command_timeout_leaves_the_next_jack_read_without_a_status() {
    let mut rig: Rig<3, FAULTS> = rig(15, 3);
    rig.schedule(1_100_000_000, Fault::CommandTimeout { device: 0 })
        .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(3_000 * MS);
    // The first jack read after the fault (reads every 250 ms, on the next poll step).
    assert_eq!(host.errors.len(), 1, "{:?}", host.errors);
    let (device, at, error) = host.errors[0];
    assert_eq!(device, 0);
    assert!((1_250 * MS..1_250 * MS + STEP_NS).contains(&at), "{at}");
    assert_eq!(
        error,
        TransferError::Timeout {
            endpoint: Endpoint::ColourResponseIn
        }
    );
}

#[test]
fn short_and_oversized_depth_frames_fail_the_trailer_size_check() {
    let mut rig: Rig<2, FAULTS> = rig(16, 2);
    let device = 1;
    rig.schedule(
        at_pulse(&rig, 20),
        Fault::ShortFrame {
            device,
            stream: FrameKind::Depth,
        },
    )
    .unwrap();
    rig.schedule(
        at_pulse(&rig, 25),
        Fault::OversizedFrame {
            device,
            stream: FrameKind::Depth,
        },
    )
    .unwrap();
    let mut host = Host::new(&rig, false);
    host.run_until(500 * MS);
    host.full_depth[device] = true;
    host.run_until(1_000 * MS);
    host.full_depth[device] = false;
    host.finish_at(2_000 * MS);
    let size = MODE.raw_frame_size();
    let errors: Vec<WireError> = host.bad_depth.iter().map(|(_, _, e)| *e).collect();
    assert_eq!(
        errors,
        [
            WireError::Truncated {
                packet: "raw depth frame",
                field: "frame",
                needed: size,
                got: size / 2,
            },
            WireError::TooLong {
                packet: "raw depth frame",
                max: size,
                got: MODE.bulk_request_size(),
            },
        ]
    );
    // The host drops both, so their sets miss the device's depth frame.
    let missing = host.missing();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing
        .iter()
        .all(|(d, s, _)| *d == device && *s == FrameKind::Depth));
}

#[test]
fn dropped_frame_is_reported_missing_in_exactly_one_set() {
    let mut rig: Rig<3, FAULTS> = rig(17, 4);
    rig.schedule(
        at_pulse(&rig, 50),
        Fault::DropFrame {
            device: 2,
            stream: FrameKind::Depth,
        },
    )
    .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(4_000 * MS);
    let missing = host.missing();
    assert_eq!(missing.len(), 1);
    let (device, stream, set) = missing[0];
    assert_eq!((device, stream), (2, FrameKind::Depth));
    // The set is pulse 51's: its master colour frame belongs to that pulse.
    let set = host.sets.iter().find(|s| s.set == set).unwrap();
    let truth = truth(&rig);
    let master = set.ts(0, FrameKind::Colour).unwrap();
    let pulse = truth
        .iter()
        .find(|((d, s, t), _)| {
            *d == 0 && *s == FrameKind::Colour && Ticks90k(*t).to_usec() == master
        })
        .map(|(_, (p, _))| *p);
    assert_eq!(pulse, Some(Pulse::Regular(51)));
    assert_eq!(mismatched_sets(&host.sets, &truth), 0);
}

#[test]
fn extra_pulse_frames_are_reported_off_grid_and_never_paired() {
    let mut rig: Rig<3, FAULTS> = rig(18, 3);
    rig.schedule(rig.pulse_true_nsec(40) + period_ns() / 2, Fault::ExtraPulse)
        .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(3_000 * MS);
    let mut extra: Vec<(usize, FrameKind)> = host
        .health
        .iter()
        .filter_map(|h| match *h {
            HealthEvent::ExtraPulse { device, stream, .. } => Some((device, stream)),
            _ => None,
        })
        .collect();
    extra.sort();
    let expected: Vec<(usize, FrameKind)> = (0..3)
        .flat_map(|d| [(d, FrameKind::Colour), (d, FrameKind::Depth)])
        .collect();
    assert_eq!(extra, expected);
    assert_eq!(mismatched_sets(&host.sets, &truth(&rig)), 0);
    // Only the first set may miss a frame: a subordinate with a negative offset and no delay
    // would stamp its pulse-0 frame before its clock's zero, so the simulator makes none.
    let missing = host.missing();
    assert!(missing.iter().all(|(_, _, set)| *set == 0), "{missing:?}");
}

#[test]
fn bandwidth_starvation_delays_frames_then_loses_them() {
    let mut rig: Rig<3, FAULTS> = rig(19, 8);
    let starve = |delay_nsec| Fault::BandwidthStarvation {
        device: 2,
        delay_nsec,
    };
    rig.schedule(at_pulse(&rig, 30), starve(40 * MS)).unwrap();
    rig.schedule(at_pulse(&rig, 90), starve(0)).unwrap();
    rig.schedule(at_pulse(&rig, 150), starve(100 * MS)).unwrap();
    rig.schedule(at_pulse(&rig, 160), starve(0)).unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(8_000 * MS);
    let truth = truth(&rig);
    let latency = |r: &Read| -> (Pulse, i64) {
        let (pulse, exposure) = truth[&(r.device, r.stream, r.ticks.0)];
        (pulse, r.at_ns as i64 - exposure)
    };
    let late: Vec<i64> = host
        .reads
        .iter()
        .filter(|r| r.device == 2)
        .map(latency)
        .filter(|(p, _)| (Pulse::Regular(31)..Pulse::Regular(90)).contains(p))
        .map(|(_, l)| l)
        .collect();
    assert!(!late.is_empty());
    // 40 ms starvation + 10 ms readout, read within one poll step.
    assert!(late
        .iter()
        .all(|l| (50 * MS as i64..50 * MS as i64 + STEP_NS as i64).contains(l)));
    let missing = host.missing();
    assert!(!missing.is_empty());
    assert!(missing.iter().all(|(d, _, _)| *d == 2), "{missing:?}");
    // Lost frames are those of pulses 151..=160 only: two streams each.
    assert_eq!(missing.len(), 2 * 10, "{missing:?}");
    assert_eq!(mismatched_sets(&host.sets, &truth), 0);
}

#[test]
fn imu_samples_share_the_time_base_of_the_frames() {
    let rig: Rig<2, FAULTS> = rig(20, 2);
    let mut host = Host::new(&rig, true);
    host.run_until(1_500 * MS);
    let now = host.emu.now_ns();
    for device in 0..2 {
        let dev = host.emu.device_mut(device).unwrap();
        let mut packet = [0u8; TRANSFER_LEN];
        let mut last = None;
        while let Some(info) = dev.poll_imu_packet(now + 5 * MS, &mut packet).unwrap() {
            last = Some(
                ImuPacketRepr::parse(&ImuPacket::new_checked(&packet[..info.len]).unwrap())
                    .unwrap(),
            );
        }
        let last_imu_tick = last.unwrap().accel.last().unwrap().ticks.0 as i64;
        let last_depth_tick = host
            .reads
            .iter()
            .filter(|r| r.device == device && r.stream == FrameKind::Depth)
            .map(|r| r.ticks.0 as i64)
            .max()
            .unwrap();
        // The latest depth frame was exposed at most a period plus readout before now; the
        // latest IMU sample at most a packet (8 × 54 ticks) before now + 5 ms.
        let gap = last_imu_tick - last_depth_tick;
        assert!(
            (900..=3_000 + 900 + 450 + 450).contains(&gap),
            "device {device}: {gap}"
        );
    }
}

fn transcript_hash(seed: u64) -> u64 {
    let mut rig: Rig<3, FAULTS> = rig(seed, 3);
    rig.schedule(
        500_000_000,
        Fault::RandomDrops {
            probability_ppm: 50_000,
        },
    )
    .unwrap();
    rig.schedule(1_000_000_000, Fault::ExtraPulse).unwrap();
    rig.schedule(
        1_200_000_000,
        Fault::EndpointStall {
            device: 1,
            stream: FrameKind::Colour,
        },
    )
    .unwrap();
    let mut host = Host::new(&rig, true);
    host.finish_at(3_000 * MS);
    host.transcript.finish()
}

#[test]
fn same_seed_gives_the_same_rig_transcript() {
    assert_eq!(transcript_hash(7), transcript_hash(7));
    assert_ne!(transcript_hash(7), transcript_hash(8));
}

impl<const N: usize> Host<'_, N> {
    fn finish_at(&mut self, until_ns: u64) {
        self.run_until(until_ns);
        self.finish();
    }

    /// The silence the session reported with its first PulsesLost notice for `device`.
    fn silence_at_loss(&self, device: usize) -> u64 {
        self.notices_of(device)
            .iter()
            .find_map(|n| match n {
                Notice::PulsesLost { silent_usec } => Some(*silent_usec),
                _ => None,
            })
            .unwrap_or(0)
    }
}

#[test]
fn depth_tail_is_the_last_bytes_of_the_same_frame() {
    let rig: Rig<2, FAULTS> = rig(21, 1);
    let transfer = MODE.bulk_request_size();
    let mut whole_emu = EmuRig::new(&rig);
    let mut tail_emu = EmuRig::new(&rig);
    whole_emu.start_streams(MODE, colour(), false).unwrap();
    tail_emu.start_streams(MODE, colour(), false).unwrap();
    let mut whole = vec![0u8; transfer];
    let mut frames = 0;
    for step in 1..=60u64 {
        let now = step * STEP_NS;
        whole_emu.advance_to(now);
        tail_emu.advance_to(now);
        for device in 0..2 {
            for tail_len in [TRAILER_LEN, 1_000, 4_093] {
                let a = whole_emu.device_mut(device).unwrap();
                let b = tail_emu.device_mut(device).unwrap();
                let mut tail = vec![0u8; tail_len];
                let got_whole = a.poll_depth_frame(now, &mut whole).unwrap();
                let got_tail = b.poll_depth_frame_tail(now, transfer, &mut tail).unwrap();
                assert_eq!(got_whole, got_tail);
                if let Some(info) = got_whole {
                    assert_eq!(&whole[info.len - tail_len..info.len], &tail[..]);
                    frames += 1;
                }
            }
        }
    }
    assert!(frames > 20);
}

#[test]
fn late_start_is_reported_as_start_skew_of_that_device() {
    let mut rig: Rig<3, FAULTS> = rig(22, 3);
    rig.schedule(
        -1,
        Fault::LateStart {
            device: 2,
            pulses: 4,
        },
    )
    .unwrap();
    let mut host = Host::new(&rig, false);
    host.finish_at(3_000 * MS);
    let skews: Vec<(usize, i64)> = host
        .health
        .iter()
        .filter_map(|h| match *h {
            HealthEvent::StartSkew { device, sets } => Some((device, sets)),
            _ => None,
        })
        .collect();
    assert_eq!(skews, [(2, 4)]);
    assert_eq!(mismatched_sets(&host.sets, &truth(&rig)), 0);
}

#[test]
fn a_star_of_nine_devices_pairs_every_pulse_as_well() {
    let mut config: RigConfig<9> = config(0x57A2, 30);
    config.cable.topology = k4sync_core::sim::Topology::Star;
    let rig: Rig<9, FAULTS> = Rig::new(config).unwrap();
    let mut host = Host::new(&rig, false);
    for d in 1..9 {
        let jack = host.emu.device(d).unwrap().jack();
        assert_eq!((jack.sync_in, jack.sync_out), (true, false));
    }
    host.finish_at(30_000 * MS);
    assert!(host.errors.is_empty());
    let complete = host.sets.iter().filter(|s| s.complete).count();
    assert!(complete >= 900 - 3, "{complete}");
    assert_eq!(mismatched_sets(&host.sets, &truth(&rig)), 0);
}

#[test]
fn a_host_that_falls_behind_gets_the_two_newest_frames_with_the_index_gap() {
    let rig: Rig<2, FAULTS> = rig(23, 2);
    let mut emu = EmuRig::new(&rig);
    emu.start_streams(MODE, colour(), false).unwrap();
    let transfer = MODE.bulk_request_size();
    let mut tail = [0u8; TRAILER_LEN];
    emu.advance_to(100 * MS);
    let dev = emu.device_mut(1).unwrap();
    let mut first = Vec::new();
    while let Some(info) = dev
        .poll_depth_frame_tail(100 * MS, transfer, &mut tail)
        .unwrap()
    {
        first.push(info.index);
    }
    // Nothing read for 300 ms (nine periods): only the two newest frames are still there.
    emu.advance_to(400 * MS);
    let dev = emu.device_mut(1).unwrap();
    let mut later = Vec::new();
    while let Some(info) = dev
        .poll_depth_frame_tail(400 * MS, transfer, &mut tail)
        .unwrap()
    {
        let trailer = DepthTrailer::new_checked(&tail[..]).unwrap();
        assert_eq!(trailer.usb_sof_seq(), info.index);
        later.push(info.index);
    }
    let last_first = *first.last().unwrap();
    assert_eq!(later.len(), 2, "{first:?} then {later:?}");
    assert_eq!(later[1], later[0] + 1);
    assert!(later[0] > last_first + 1, "{first:?} then {later:?}");
}
