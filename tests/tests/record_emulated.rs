//! The recording pipeline (`k4sync_host::record`) over the emulator on its virtual clock: every
//! legal depth mode × rate with every colour family reads back with frame counts, timestamps,
//! tags (effective delays) and calibration equal to what the emulator produced; a subordinate
//! shows "waiting for master"; a slow disk drops whole captures only, each charged to the file,
//! and a file system that stalls once costs one burst that ends with the stall; a full disk
//! stops the recording with a typed error and leaves every flushed cluster readable.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_host::mkv::{MkvReader, TrackInfo};
use k4sync_host::transport::emulated::{EmulatedCamera, EmulatedRig, EmulatedTransport, Pacing};
use k4sync_host::Device;
use k4sync_host::{
    record, record_to_file, validate_without_jack, DropPolicy, Durable, Exposure, RecordError,
    RecordOptions, RecordStats, Summary, SyncState, VirtualMaster, EXPOSURE_TAG,
    IMU_BEFORE_FIRST_IMAGE,
};
use k4sync_tests::LimitedSink;

const COLOURS: [(ColorResolution, ColorFormat); 6] = [
    (ColorResolution::Off, ColorFormat::Mjpg),
    (ColorResolution::R720p, ColorFormat::Mjpg),
    (ColorResolution::R720p, ColorFormat::Nv12),
    (ColorResolution::R720p, ColorFormat::Yuy2),
    (ColorResolution::R2160p, ColorFormat::Mjpg),
    (ColorResolution::R3072p, ColorFormat::Mjpg),
];

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("k4sync-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn options(config: DeviceConfig, seconds: f64) -> RecordOptions {
    let mut options = RecordOptions::new(config);
    options.record_length = Some(Duration::from_secs_f64(seconds));
    options.drop_policy = DropPolicy::Block;
    // `-e -6`: 2^-6 s.
    options.colour_controls.exposure = Exposure::Manual { usec: 15_625 };
    options.writer.uid_seed = Some(7);
    options
}

/// Per track name: the block timestamps (µs of device time) of every cluster.
fn block_times(
    path: &Path,
    salvage: bool,
) -> (MkvReader<io::BufReader<File>>, BTreeMap<String, Vec<u64>>) {
    let mut reader = if salvage {
        MkvReader::open_path_salvage(path).unwrap()
    } else {
        MkvReader::open_path(path).unwrap()
    };
    let offset = reader.start_offset_usec().unwrap() as u64;
    let names: BTreeMap<u64, String> = reader
        .tracks
        .iter()
        .map(|t: &TrackInfo| (t.number, t.name.clone()))
        .collect();
    let mut times: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let clusters: Vec<_> = reader.clusters().collect::<Result<_, _>>().unwrap();
    for cluster in clusters {
        for block in &cluster.blocks {
            let name = names[&block.track].clone();
            let t = (block.time_ticks as u64) + offset;
            let entry = times.entry(name).or_default();
            for _ in &block.frames {
                entry.push(t);
            }
        }
    }
    (reader, times)
}

fn tag(reader: &MkvReader<io::BufReader<File>>, name: &str) -> Option<String> {
    reader.tag(name).map(|t| t.value.clone())
}

fn check_spacing(times: &[u64], fps: Fps, what: &str) {
    let period = u64::from(fps.period_usec());
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap.abs_diff(period) <= 2,
            "{what}: frames {} and {} are {gap} µs apart, period {period}",
            pair[0],
            pair[1]
        );
    }
}

fn record_one(n: u32, config: DeviceConfig, seconds: f64) -> (Summary, EmulatedCamera, PathBuf) {
    let transport = EmulatedTransport::new(n);
    let camera = transport.camera();
    let mut device = Device::from_transport(Box::new(transport)).unwrap();
    let name = format!(
        "{}-{}-{}-{}.mkv",
        config.depth_mode.sdk_name(),
        config.fps.sdk_name(),
        config.color_resolution.sdk_name(),
        config.color_format.sdk_name()
    );
    let path = temp_path(&name);
    let stop = AtomicBool::new(false);
    let summary = record_to_file(
        &mut device,
        &path,
        &options(config, seconds),
        &stop,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    (summary, camera, path)
}

/// Records `config` and checks the file; returns the IMU samples written.
fn check_recording(config: DeviceConfig, seconds: f64) -> usize {
    let (summary, camera, path) = record_one(3, config, seconds);
    let what = path.display().to_string();
    let (reader, times) = block_times(&path, false);
    let s = summary.stats;
    let colour_on = config.color_resolution != ColorResolution::Off;
    let depth_on = config.depth_mode != DepthMode::Off;
    let colour = times.get("COLOR").cloned().unwrap_or_default();
    let depth = times.get("RAW_DEPTH").cloned().unwrap_or_default();
    let imu = times.get("IMU").cloned().unwrap_or_default();

    assert_eq!(s.dropped_queue_captures, 0, "{what}");
    assert_eq!(
        s.bytes_written,
        std::fs::metadata(&path).unwrap().len(),
        "{what}: bytes_written is the file's length"
    );
    assert_eq!(colour.len() as u64, s.colour_frames, "{what}");
    assert_eq!(depth.len() as u64, s.depth_frames, "{what}");
    assert_eq!(imu.len() as u64, s.imu_samples, "{what}");
    let period = f64::from(config.fps.period_usec());
    let expected = (seconds * 1e6 / period).round() as usize;
    for (on, frames, name) in [(colour_on, &colour, "colour"), (depth_on, &depth, "depth")] {
        if on {
            assert!(
                frames.len().abs_diff(expected) <= 1,
                "{what}: {} {name} frames in {seconds} s at {} fps",
                frames.len(),
                config.fps.sdk_name()
            );
            check_spacing(frames, config.fps, &what);
        } else {
            assert!(frames.is_empty(), "{what}: {name} is off");
        }
    }
    let first = summary.first_ts_usec.unwrap();
    let last = summary.last_ts_usec.unwrap();
    let all: Vec<u64> = colour.iter().chain(&depth).copied().collect();
    assert_eq!(all.iter().min(), Some(&first), "{what}");
    assert_eq!(all.iter().max(), Some(&last), "{what}");
    assert!(
        last - first < (seconds * 1e6) as u64,
        "{what}: -l counts from the first frame"
    );
    if colour_on && depth_on {
        let delay = i64::from(config.depth_delay_off_color_usec);
        for (c, d) in colour.iter().zip(&depth) {
            assert!(
                (*d as i64 - *c as i64 - delay).abs() <= 2,
                "{what}: depth {d} vs colour {c}, delay {delay}"
            );
        }
    }
    // IMU samples may legitimately be missing at the start: the §4.4 start-up filter drops
    // them until the device clock reset after the colour start shows. Those that came before
    // the first image are kept, at most the SDK queue's worth, as k4arecorder keeps them.
    if config.imu {
        assert!(imu.windows(2).all(|p| p[0] <= p[1]), "{what}: IMU in order");
        assert!(
            imu.iter().all(|&t| t < first + (seconds * 1e6) as u64),
            "{what}: IMU within the recorded span {first} + {seconds} s: {:?} .. {:?}",
            imu.first(),
            imu.last()
        );
        let before = imu.iter().filter(|&&t| t < first).count();
        assert!(before <= IMU_BEFORE_FIRST_IMAGE, "{what}: {before} before");
    } else {
        assert!(imu.is_empty(), "{what}");
    }
    let validated = validate_without_jack(&config).unwrap();
    let both = colour_on && depth_on;
    assert_eq!(
        tag(&reader, "K4A_DEPTH_DELAY_NS"),
        both.then(|| validated.effective_depth_delay_nsec().to_string()),
        "{what}: the tag is written when both cameras run, with the effective delay"
    );
    assert_eq!(
        tag(&reader, "K4A_WIRED_SYNC_MODE").as_deref(),
        Some(config.sync_mode.sdk_name())
    );
    let depth_tag = tag(&reader, "K4A_DEPTH_MODE");
    assert_eq!(
        depth_tag.as_deref(),
        depth_on.then(|| config.depth_mode.sdk_name()),
        "{what}"
    );
    assert_eq!(
        tag(&reader, "K4A_DEVICE_SERIAL_NUMBER"),
        Some(camera.serial())
    );
    assert_eq!(
        tag(&reader, EXPOSURE_TAG).as_deref(),
        colour_on.then_some("16670"),
        "{what}: the exposure the camera took (15,625 µs up to its table), only with colour on"
    );
    let mut calibration = camera.calibration_json();
    if calibration.last() == Some(&0) {
        calibration.pop();
    }
    assert_eq!(reader.calibration(), Some(&calibration[..]), "{what}");
    assert!(
        !camera.depth_state().started,
        "{what}: the device was stopped"
    );
    let start_usec =
        tag(&reader, "K4A_START_OFFSET_NS").map(|ns| ns.parse::<u64>().unwrap() / 1000);
    assert_eq!(
        start_usec,
        Some(imu.first().map_or(first, |&t| t.min(first))),
        "{what}: the file starts at its earliest item"
    );
    std::fs::remove_file(&path).unwrap();
    imu.len()
}

#[test]
fn imu_samples_from_before_the_first_image_are_recorded_as_k4arecorder_does() {
    // In real time the IMU starts a few ms after the cameras, and at 5 fps the first image
    // comes a 200 ms period after their start: the samples between are kept. (A virtual clock
    // may jump to the first image before the IMU is even started.)
    let colour = (ColorResolution::R720p, ColorFormat::Mjpg);
    let config = config(DepthMode::Nfov2x2Binned, Fps::Fps5, colour);
    let transport = EmulatedTransport::with_pacing(3, Pacing::RealTime);
    let mut device = Device::from_transport(Box::new(transport)).unwrap();
    let path = temp_path("imu-before-first-image.mkv");
    let stop = AtomicBool::new(false);
    let summary = record_to_file(
        &mut device,
        &path,
        &options(config, 1.0),
        &stop,
        &mut |_| {},
    )
    .unwrap();
    let first = summary.first_ts_usec.unwrap();
    let (reader, times) = block_times(&path, false);
    let imu = &times["IMU"];
    let before = imu.iter().filter(|&&t| t < first).count();
    assert!(
        (1..=IMU_BEFORE_FIRST_IMAGE).contains(&before),
        "{before} IMU samples before the first image at {first}: {:?}",
        imu.first()
    );
    let start_usec =
        tag(&reader, "K4A_START_OFFSET_NS").map(|ns| ns.parse::<u64>().unwrap() / 1000);
    assert_eq!(
        start_usec,
        imu.first().copied(),
        "the file starts at the first IMU sample"
    );
    std::fs::remove_file(&path).unwrap();
}

fn legal(config: &DeviceConfig) -> bool {
    validate_without_jack(config).is_ok()
}

fn config(depth_mode: DepthMode, fps: Fps, colour: (ColorResolution, ColorFormat)) -> DeviceConfig {
    let both = depth_mode != DepthMode::Off && colour.0 != ColorResolution::Off;
    DeviceConfig {
        color_resolution: colour.0,
        color_format: colour.1,
        depth_mode,
        fps,
        depth_delay_off_color_usec: if both { -1_001 } else { 0 },
        imu: true,
        ..DeviceConfig::default()
    }
}

/// Every legal depth mode × rate, each with a colour family taken in turn, and every colour
/// family at every rate (with a depth mode taken in turn): all depth modes (OFF too), all
/// rates and all colour families appear, and each pair of them at least once.
fn combinations() -> Vec<DeviceConfig> {
    let mut out: Vec<DeviceConfig> = Vec::new();
    let mut next = 0usize;
    for depth in DepthMode::ALL {
        for fps in Fps::ALL {
            for k in 0..COLOURS.len() {
                let c = config(depth, fps, COLOURS[(next + k) % COLOURS.len()]);
                if legal(&c) {
                    out.push(c);
                    next += k + 1;
                    break;
                }
            }
        }
    }
    for colour in COLOURS {
        for fps in Fps::ALL {
            for k in 0..DepthMode::ALL.len() {
                let c = config(
                    DepthMode::ALL[(next + k) % DepthMode::ALL.len()],
                    fps,
                    colour,
                );
                if legal(&c) && !out.contains(&c) {
                    out.push(c);
                    next += k + 1;
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn every_mode_family_reads_back_equal_to_what_the_emulator_produced() {
    let all = combinations();
    for depth in DepthMode::ALL {
        assert!(all.iter().any(|c| c.depth_mode == depth), "{depth} covered");
    }
    for colour in COLOURS {
        for fps in Fps::ALL {
            let c = config(DepthMode::Off, fps, colour);
            if colour.0.max_fps() >= fps {
                assert!(
                    all.iter()
                        .any(|a| (a.color_resolution, a.color_format, a.fps)
                            == (c.color_resolution, c.color_format, c.fps)),
                    "{colour:?} at {fps} covered"
                );
            }
        }
    }
    let imu: usize = all.into_iter().map(|c| check_recording(c, 1.0)).sum();
    assert!(imu > 10_000, "{imu} IMU samples in all recordings");
}

#[test]
fn a_subordinate_waits_for_its_master_then_records_with_the_effective_delay() {
    let rig = EmulatedRig::daisy_chain(2, Pacing::Virtual);
    let mut sub = config(DepthMode::NfovUnbinned, Fps::Fps30, COLOURS[1]);
    sub.sync_mode = WiredSyncMode::Subordinate;
    sub.subordinate_delay_off_master_usec = 1_001;
    sub.imu = false;
    let mut device = Device::from_transport(Box::new(rig.transport(1))).unwrap();
    let _master = VirtualMaster::spawn(
        rig.transport(0),
        VirtualMaster::config_for(&sub),
        Duration::from_millis(300),
    );
    let path = temp_path("subordinate.mkv");
    let mut states: Vec<SyncState> = Vec::new();
    let summary = record_to_file(
        &mut device,
        &path,
        &options(sub, 1.0),
        &AtomicBool::new(false),
        &mut |s: &RecordStats| {
            if states.last() != Some(&s.sync) {
                states.push(s.sync);
            }
        },
    )
    .unwrap();
    assert_eq!(
        states,
        [
            SyncState::Starting,
            SyncState::WaitingForMaster,
            SyncState::Streaming,
            SyncState::Stopping,
            SyncState::Stopped
        ]
    );
    let (reader, times) = block_times(&path, false);
    assert!(times["COLOR"].len() >= 29, "{}", times["COLOR"].len());
    assert_eq!(summary.stats.colour_frames, times["COLOR"].len() as u64);
    let validated = validate_without_jack(&sub).unwrap();
    assert_eq!(
        tag(&reader, "K4A_SUBORDINATE_DELAY_NS"),
        Some(validated.effective_subordinate_delay_nsec().to_string())
    );
    assert_eq!(
        tag(&reader, "K4A_WIRED_SYNC_MODE").as_deref(),
        Some("SUBORDINATE")
    );
    std::fs::remove_file(&path).unwrap();
}

/// A file sink whose writes wait: `every_write` before each (a disk slower than the camera),
/// and once for each of `pauses` (after that much wall time since the first write, for that
/// long: a file system that holds its writer now and then).
struct SlowFile {
    file: File,
    every_write: Duration,
    first_write: Option<std::time::Instant>,
    pauses: Vec<(Duration, Duration)>,
}

impl SlowFile {
    fn create(path: &Path, every_write: Duration, pauses: Vec<(Duration, Duration)>) -> Self {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        SlowFile {
            file,
            every_write,
            first_write: None,
            pauses,
        }
    }
}

impl Write for SlowFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let since = self
            .first_write
            .get_or_insert_with(std::time::Instant::now)
            .elapsed();
        if let Some(i) = self.pauses.iter().position(|&(at, _)| since >= at) {
            let (_, pause) = self.pauses.remove(i);
            std::thread::sleep(pause);
        }
        std::thread::sleep(self.every_write);
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for SlowFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Durable for SlowFile {}

/// Records through `sink` and checks that it cost captures at the queue, every one charged to
/// the file's waits.
fn record_dropping_for_the_file(
    device: &mut Device,
    sink: SlowFile,
    path: &Path,
    options: &RecordOptions,
) -> Summary {
    let summary = record(
        device,
        sink,
        path,
        options,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    let s = summary.stats;
    assert!(
        s.dropped_queue_captures > 0,
        "the file cost captures: {s:?}"
    );
    assert_eq!(
        s.dropped_queue_file_stalled, s.dropped_queue_captures,
        "every drop is charged to the file: {s:?}"
    );
    summary
}

#[test]
fn a_slow_disk_drops_whole_captures_at_the_queue_and_counts_them() {
    let rig = EmulatedRig::standalone(1, Pacing::Virtual);
    let mut device = Device::from_transport(Box::new(rig.transport(0))).unwrap();
    let mut config = config(DepthMode::NfovUnbinned, Fps::Fps30, COLOURS[2]);
    config.imu = false;
    let mut options = options(config, 3.0);
    options.drop_policy = DropPolicy::DropWhenFull;
    options.writer.cluster_write_delay_nsec = 0;
    let path = temp_path("slow.mkv");
    let sink = SlowFile::create(&path, Duration::from_millis(40), Vec::new());
    let summary = record_dropping_for_the_file(&mut device, sink, &path, &options);
    let s = summary.stats;
    let (_, times) = block_times(&path, false);
    let (colour, depth) = (&times["COLOR"], &times["RAW_DEPTH"]);
    assert_eq!(colour.len() as u64, s.colour_frames);
    assert_eq!(depth.len() as u64, s.depth_frames);
    assert_eq!(colour.len(), depth.len(), "captures are dropped whole");
    for (c, d) in colour.iter().zip(depth) {
        assert!(
            (*d as i64 - *c as i64 + 1_001).abs() <= 2,
            "pairs stay together"
        );
    }
    // `dropped_device` counts the depth frames that beat the first colour frame (the pairer
    // drops them): how many depends on when each stream's reader thread first ran, which a
    // loaded machine stretches (3 were seen beside a CPU hog, scripts/load-test.sh). None can
    // fall inside the recording: every capture slot of the span is written or counted below.
    let period = u64::from(Fps::Fps30.period_usec());
    let slots =
        (summary.last_ts_usec.unwrap() - summary.first_ts_usec.unwrap() + period / 2) / period + 1;
    assert_eq!(
        colour.len() as u64 + s.dropped_queue_captures,
        slots,
        "every capture is either written or counted as dropped"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Queue bounds and pauses in frame periods, so the test is about the mechanism, not about
/// this machine's speed: the queue holds 8 frames; a pause of 4 periods fits, one of 24 costs
/// the frames beyond those 8 in one burst, after which the writer catches up.
#[test]
fn a_stalled_file_system_costs_one_burst_charged_to_it_and_the_queue_drains_after_it() {
    let rig = EmulatedRig::standalone(1, Pacing::RealTime);
    let mut device = Device::from_transport(Box::new(rig.transport(0))).unwrap();
    let mut config = config(DepthMode::PassiveIr, Fps::Fps15, COLOURS[0]);
    config.imu = false;
    let mut options = options(config, 4.5);
    options.drop_policy = DropPolicy::DropWhenFull;
    let frame = DepthMode::PassiveIr.sensor_mode().unwrap().raw_frame_size();
    options.queue_bytes = 8 * frame;
    let period = Duration::from_micros(u64::from(Fps::Fps15.period_usec()));
    let (short, long) = (4 * period, 24 * period);
    let path = temp_path("stalling.mkv");
    let pauses = vec![
        (Duration::from_millis(800), short),
        (Duration::from_millis(2000), long),
    ];
    let sink = SlowFile::create(&path, Duration::ZERO, pauses);
    let s = record_dropping_for_the_file(&mut device, sink, &path, &options).stats;
    assert!(s.longest_file_wait >= long, "{s:?}");
    let (_, times) = block_times(&path, false);
    let frames: Vec<u64> = times
        .iter()
        .filter(|(name, _)| name.as_str() != "IMU")
        .flat_map(|(_, t)| t.iter().copied())
        .collect();
    let period_usec = period.as_micros() as u64;
    let slot = |t: u64| (t - frames[0] + period_usec / 2) / period_usec;
    let missing: Vec<u64> = frames
        .windows(2)
        .flat_map(|w| slot(w[0]) + 1..slot(w[1]))
        .collect();
    assert_eq!(
        missing.len() as u64,
        s.dropped_queue_captures,
        "{missing:?}"
    );
    assert!(
        missing.windows(2).all(|w| w[1] == w[0] + 1),
        "one burst, none from the short pause, none after the writer caught up: {missing:?}"
    );
    assert!(
        missing.len() <= 24 + 1 - 8 + 2,
        "no more frames lost than came in the pause beyond the queue's 8: {missing:?}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_full_disk_stops_cleanly_with_a_typed_error_and_keeps_the_flushed_clusters() {
    let transport = EmulatedTransport::new(1);
    let camera = transport.camera();
    let mut device = Device::from_transport(Box::new(transport)).unwrap();
    let mut config = config(DepthMode::NfovUnbinned, Fps::Fps30, COLOURS[2]);
    config.imu = true;
    let mut options = options(config, 20.0);
    options.writer.cluster_write_delay_nsec = 100_000_000;
    let path = temp_path("full.mkv");
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let capacity = 64 << 20;
    let err = record(
        &mut device,
        LimitedSink::new(file, capacity),
        &path,
        &options,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    match &err {
        RecordError::Write {
            path: p,
            source,
            finalized,
            ..
        } => {
            assert_eq!(p, &path);
            assert!(!finalized, "nothing fits after a full disk");
            assert!(source.to_string().contains("No space left"), "{source}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(!camera.depth_state().started, "the device was stopped");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), capacity);
    let (mut reader, times) = block_times(&path, true);
    assert!(reader.damage().is_some() || reader.cluster_offsets().len() > 1);
    let frames = times["COLOR"].len();
    assert!(frames >= 6, "{frames} frames survive");
    assert_eq!(times["RAW_DEPTH"].len().abs_diff(frames), 0);
    let readout = reader.readout().unwrap();
    assert_eq!(readout.color.unwrap().frames, frames as u64);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_starved_depth_stream_at_5_fps_loses_no_colour_frame_to_the_writers_hold_back() {
    let transport = EmulatedTransport::new(1);
    let camera = transport.camera();
    let mut device = Device::from_transport(Box::new(transport)).unwrap();
    let mut config = config(DepthMode::NfovUnbinned, Fps::Fps5, COLOURS[1]);
    config.imu = true;
    let options = options(config, 10.0);
    let path = temp_path("starved.mkv");
    let mut injected = false;
    let summary = record_to_file(
        &mut device,
        &path,
        &options,
        &AtomicBool::new(false),
        &mut |s| {
            if !injected && s.colour_frames >= 10 {
                camera.inject(k4sync_core::emu::Fault::DropFrames {
                    stream: k4sync_core::emu::Stream::Depth,
                    count: 20,
                });
                injected = true;
            }
        },
    )
    .unwrap();
    let s = summary.stats;
    assert!(injected);
    assert_eq!(s.dropped_late, 0, "{s:?}");
    let (_, times) = block_times(&path, false);
    assert_eq!(times["COLOR"].len() as u64, s.colour_frames, "{s:?}");
    assert_eq!(times["RAW_DEPTH"].len() as u64, s.depth_frames, "{s:?}");
    assert!(
        s.colour_frames + s.dropped_device >= 49,
        "ten seconds at 5 fps, each colour frame written or dropped by the pairer: {s:?}"
    );
    std::fs::remove_file(&path).unwrap();
}
