//! Kernel-USB tests: the host's nusb transport against the device emulator served as a real
//! USB device (`k4sync-gadget`, FunctionFS on a patched `dummy_hcd`) inside a QEMU VM, at
//! high speed and at SuperSpeed. See docs/testing.md, "Level 3".
//!
//! Run with `cargo build -p k4sync --target x86_64-unknown-linux-musl` (the scenarios run the
//! `k4sync` binary too) and then `K4SYNC_VM_TESTS=1 cargo test -p k4sync-gadget --target
//! x86_64-unknown-linux-musl --test vm_usb`: the musl target's cargo runner
//! (`scripts/vm-usb/run.sh`) packs this binary and the workspace's binaries next to it into the
//! VM's initramfs, boots the VM and returns the exit status. Without `K4SYNC_VM_TESTS=1` the
//! binary prints why it skipped and succeeds.
//!
//! Every scenario checks the gadget's side as well as the host's: the command packets the
//! gadget received, byte for byte, and the fingerprint of every depth frame it wrote. An
//! in-process emulator behind the transport produces no gadget events, so the scenarios fail
//! if the nusb path is swapped out.
//!
//! With `K4SYNC_VM_THROUGHPUT=SECONDS` the binary measures instead of testing: at each speed it
//! streams NFOV unbinned raw depth from the unpaced gadget through the Device API for SECONDS,
//! prints the host's and the gadget's rates (a `THROUGHPUT key=value...` line per speed, read
//! by `scripts/vm-usb/throughput.sh`) and fails if the host lost a frame the gadget sent.

// A test binary without the libtest harness: clippy does not see it as test code.
#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().any(|arg| arg == "--list") {
        // Test listers (cargo-nextest) ask for the test names: outside the VM there are none.
        return ExitCode::SUCCESS;
    }
    if std::env::var("K4SYNC_VM_TESTS").as_deref() != Ok("1") {
        println!(
            "vm_usb: skipped: the kernel-USB tests boot a VM; run them with \
             K4SYNC_VM_TESTS=1 cargo test -p k4sync-gadget --target x86_64-unknown-linux-musl --test vm_usb \
             (after cargo build -p k4sync --target x86_64-unknown-linux-musl)"
        );
        return ExitCode::SUCCESS;
    }
    if std::env::var("K4SYNC_IN_VM").as_deref() != Ok("1") {
        println!(
            "vm_usb: K4SYNC_VM_TESTS=1 but this is not the test VM: build for \
             --target x86_64-unknown-linux-musl so that scripts/vm-usb/run.sh boots it"
        );
        return ExitCode::FAILURE;
    }
    run_in_vm()
}

#[cfg(not(target_os = "linux"))]
fn run_in_vm() -> ExitCode {
    println!("vm_usb: the test VM runs Linux; this binary was not built for it");
    ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
fn run_in_vm() -> ExitCode {
    vm::run_all()
}

#[cfg(target_os = "linux")]
mod vm {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::pin::Pin;
    use std::process::{Child, ChildStdin, Command as Process, ExitCode, Stdio};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant};

    use futures_core::Stream;
    use k4sync_core::emu::{Device, DeviceParams};
    use k4sync_core::sync::config::DeviceConfig;
    use k4sync_core::sync::sequence::depth_start_sequence;
    use k4sync_core::types::{ColorResolution, DepthMode};
    use k4sync_core::types::{Fps, SensorMode, WiredSyncMode};
    use k4sync_core::wire::colour_mcu::SysConfig;
    use k4sync_core::wire::command::{Command, CommandRepr, DataPhase, Mcu};
    use k4sync_core::wire::depth_trailer::DepthTrailer;
    use k4sync_core::wire::imu::ImuPacket;
    use k4sync_gadget::descriptors::Speed;
    use k4sync_gadget::serve::{fnv1a64, SendStats};
    use k4sync_host::transport::nusb::{
        wait_for_camera, CameraFunctions, NusbTransport, PairedBy, Selector,
    };
    use k4sync_host::transport::{Endpoint, TransferError, Transport};
    use k4sync_host::CommandChannel;
    use k4sync_host::{Device as Camera, Event, Selector as DeviceSelector};

    const SEED: u64 = 1;
    const MODE: SensorMode = SensorMode::PseudoCommon;
    const STREAM_SECONDS: u64 = 4;
    /// The heaviest depth mode's raw stream, which the unpaced scenarios carry.
    const HEAVY: DepthMode = DepthMode::NfovUnbinned;
    const UNPACED_SECONDS: f64 = 1.5;
    const MODULES: &str = "/lib/modules";

    type Check = Result<(), String>;

    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }

    fn speed_name(speed: Speed) -> &'static str {
        match speed {
            Speed::Full => "full",
            Speed::High => "high",
            Speed::Super => "super",
        }
    }

    /// The gadget process: control lines in, event lines collected by a reader thread.
    struct Gadget {
        child: Child,
        stdin: ChildStdin,
        lines: Arc<Mutex<Vec<String>>>,
    }

    impl Gadget {
        fn start() -> Result<Self, String> {
            let mut child = Process::new("/bin/k4sync-gadget")
                .args(["--seed", &SEED.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("starting k4sync-gadget: {e}"))?;
            let stdin = child.stdin.take().ok_or("no gadget stdin")?;
            let stdout = child.stdout.take().ok_or("no gadget stdout")?;
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            let gadget = Gadget {
                child,
                stdin,
                lines,
            };
            gadget.wait_for(0, |l| l == "ready", Duration::from_secs(20))?;
            Ok(gadget)
        }

        fn send(&mut self, line: &str) -> Check {
            writeln!(self.stdin, "{line}").map_err(|e| format!("gadget control: {e}"))?;
            self.stdin
                .flush()
                .map_err(|e| format!("gadget control: {e}"))
        }

        fn mark(&self) -> usize {
            self.lines.lock().unwrap().len()
        }

        fn since(&self, mark: usize) -> Vec<String> {
            self.lines.lock().unwrap()[mark..].to_vec()
        }

        fn wait_for(
            &self,
            mark: usize,
            wanted: impl Fn(&str) -> bool,
            timeout: Duration,
        ) -> Result<String, String> {
            let deadline = Instant::now() + timeout;
            loop {
                if let Some(line) = self.since(mark).into_iter().find(|l| wanted(l)) {
                    return Ok(line);
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "gadget event not seen within {timeout:?}; last events: {:?}",
                        self.since(mark).iter().rev().take(5).collect::<Vec<_>>()
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        /// Command packets the gadget received on `mcu` since `mark`, as bytes.
        fn commands(&self, mark: usize, mcu: &str) -> Vec<Vec<u8>> {
            let prefix = format!("command {mcu} ");
            self.since(mark)
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|hex| {
                    (0..hex.len() / 2)
                        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                        .collect()
                })
                .collect()
        }

        /// [`Self::commands`] once at least `count` have arrived (the reader thread may lag
        /// the host's transaction by a moment), or whatever arrived within two seconds.
        fn wait_commands(&self, mark: usize, mcu: &str, count: usize) -> Vec<Vec<u8>> {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let got = self.commands(mark, mcu);
                if got.len() >= count || Instant::now() > deadline {
                    return got;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        /// Fingerprint -> frame index of every depth frame the gadget wrote since `mark`.
        fn frames_written(&self, mark: usize) -> HashMap<u64, u64> {
            self.since(mark)
                .iter()
                .filter_map(|l| {
                    let mut w = l.strip_prefix("depth-frame ")?.split(' ');
                    let index = w.next()?.parse().ok()?;
                    let _len = w.next()?;
                    let hash = u64::from_str_radix(w.next()?, 16).ok()?;
                    Some((hash, index))
                })
                .collect()
        }

        fn quit(mut self) -> Check {
            self.send("quit")?;
            let status = self.child.wait().map_err(|e| format!("gadget wait: {e}"))?;
            ensure!(status.success(), "k4sync-gadget exited with {status}");
            Ok(())
        }
    }

    struct Ctx {
        speed: Speed,
        gadget: Gadget,
        params: DeviceParams,
    }

    impl Ctx {
        fn serial(&self) -> String {
            self.params.serial.as_str().to_string()
        }

        fn selector(&self) -> Selector {
            Selector::Serial(self.serial())
        }

        /// The camera once both of its functions are on the bus (they enumerate one after
        /// the other, and a half camera already matches the serial).
        fn wait_for_both_functions(&self) -> Result<CameraFunctions, String> {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let camera = wait_for_camera(&self.selector(), Duration::from_secs(15))
                    .map_err(|e| format!("waiting for the camera: {e}"))?;
                if camera.depth.is_some() && camera.colour.is_some() {
                    return Ok(camera);
                }
                ensure!(
                    Instant::now() < deadline,
                    "only one function appeared: {camera:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        fn open(&self) -> Result<CommandChannel<NusbTransport>, String> {
            self.wait_for_both_functions()?;
            let transport =
                NusbTransport::open(&self.selector()).map_err(|e| format!("open: {e}"))?;
            Ok(CommandChannel::new(transport))
        }
    }

    /// Frames received must each be one the gadget wrote, in the order it wrote them.
    fn check_frames_intact(ctx: &Ctx, mark: usize, received: &[Vec<u8>]) -> Check {
        // The gadget reports a frame once its last piece is written, which may be just after
        // the host saw it.
        std::thread::sleep(Duration::from_millis(300));
        let written = ctx.gadget.frames_written(mark);
        let mut last = None;
        for (n, frame) in received.iter().enumerate() {
            ensure!(
                frame.len() == MODE.raw_frame_size(),
                "frame {n} has {} bytes, not {}",
                frame.len(),
                MODE.raw_frame_size()
            );
            let Some(&index) = written.get(&fnv1a64(frame)) else {
                return Err(format!(
                    "received frame {n} differs from every frame the gadget wrote"
                ));
            };
            ensure!(
                last.is_none_or(|l| index > l),
                "frame {n} (gadget index {index}) arrived out of order after {last:?}"
            );
            last = Some(index);
        }
        Ok(())
    }

    fn enumeration_shows_both_functions_with_the_camera_endpoints(ctx: &mut Ctx) -> Check {
        let camera = ctx.wait_for_both_functions()?;
        ensure!(
            camera.paired_by == PairedBy::UsbSerial,
            "paired by {:?}",
            camera.paired_by
        );
        let wanted = match ctx.speed {
            Speed::Super => nusb::Speed::Super,
            _ => nusb::Speed::High,
        };
        for f in [&camera.depth, &camera.colour] {
            let f = f.as_ref().ok_or("a function is missing")?;
            ensure!(f.speed == Some(wanted), "{f:?} is not at {wanted:?}");
        }
        let transport = NusbTransport::open(&ctx.selector()).map_err(|e| format!("{e}"))?;
        let packet = usize::from(ctx.speed.bulk_max_packet());
        for endpoint in [
            Endpoint::DepthCommandOut,
            Endpoint::DepthResponseIn,
            Endpoint::DepthStreamIn,
            Endpoint::ColourCommandOut,
            Endpoint::ColourResponseIn,
            Endpoint::ImuStreamIn,
        ] {
            let got = transport.max_packet_size(endpoint);
            ensure!(
                got == packet,
                "{endpoint}: max packet {got}, wanted {packet}"
            );
        }
        Ok(())
    }

    fn k4sync_list_reports_serial_firmware_and_speed(ctx: &mut Ctx) -> Check {
        let mark = ctx.gadget.mark();
        let out = Process::new("/bin/k4sync")
            .args(["list", "--json"])
            .output()
            .map_err(|e| format!("running k4sync list: {e}"))?;
        ensure!(out.status.success(), "k4sync list failed: {out:?}");
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("list JSON: {e}"))?;
        let camera = &json[0];
        ensure!(json.as_array().map(Vec::len) == Some(1), "cameras: {json}");
        ensure!(
            camera["product_serial"] == ctx.serial().as_str(),
            "{camera}"
        );
        ensure!(camera["paired_by"] == "usb-serial", "{camera}");
        let depth = ctx.params.versions.depth.to_string();
        ensure!(camera["firmware"]["depth"] == depth.as_str(), "{camera}");
        let speed = camera["speed"].as_str().unwrap_or_default();
        ensure!(speed.starts_with(speed_name(ctx.speed)), "speed {speed}");
        ensure!(
            !ctx.gadget.wait_commands(mark, "depth", 1).is_empty()
                && !ctx.gadget.wait_commands(mark, "colour", 1).is_empty(),
            "the gadget saw no commands from k4sync list"
        );
        Ok(())
    }

    fn serial_and_versions_are_read_through_nusb(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let serial = channel.read_serial().map_err(|e| format!("{e}"))?;
        ensure!(serial == ctx.serial(), "serial {serial}");
        let versions = channel.read_versions().map_err(|e| format!("{e}"))?;
        ensure!(versions == ctx.params.versions, "versions {versions:?}");
        Ok(())
    }

    fn calibration_is_read_in_growing_chunks_and_matches_the_model(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let mark = ctx.gadget.mark();
        let got = channel.read_calibration().map_err(|e| format!("{e}"))?;
        let mut want = vec![0u8; 1 << 20];
        let len = Device::new(ctx.params.clone()).calibration_json(&mut want);
        want.truncate(len);
        ensure!(got == want, "calibration: {} bytes, want {len}", got.len());
        let reads = ctx
            .gadget
            .wait_commands(mark, "depth", usize::MAX)
            .iter()
            .filter(|p| p.get(12..16) == Some(&0x111u32.to_le_bytes()[..]))
            .count();
        ensure!(
            reads >= 2,
            "{reads} calibration reads; the first must be too small"
        );
        Ok(())
    }

    fn expected_packet(id: u32, command: Command) -> Vec<u8> {
        let payload_size = match command.sdk_payload_size() {
            Some(size) if command.data_phase() == DataPhase::Read => size,
            _ => 0,
        };
        CommandRepr {
            transaction_id: id,
            payload_size,
            command,
        }
        .to_bytes()
        .unwrap()
        .to_vec()
    }

    fn configuration_sequence_arrives_byte_exact_at_the_gadget(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let mark = ctx.gadget.mark();
        let sys = SysConfig {
            mode: WiredSyncMode::Master,
            subordinate_delay_ticks: 0,
            depth_delay_ticks: 0,
            privacy_led: false,
        };
        let colour_id = channel.next_transaction_id(Mcu::Colour);
        let depth_id = channel.next_transaction_id(Mcu::Depth);
        channel.set_sys_config(sys).map_err(|e| format!("{e}"))?;
        channel
            .depth_start(MODE, Fps::Fps5, true)
            .map_err(|e| format!("{e}"))?;
        channel.imu_start().map_err(|e| format!("{e}"))?;
        channel.imu_stop().map_err(|e| format!("{e}"))?;
        channel.depth_stop().map_err(|e| format!("{e}"))?;

        let depth_want: Vec<Vec<u8>> = depth_start_sequence(MODE, Fps::Fps5, true)
            .into_iter()
            .chain([Command::DepthStreamStop, Command::DepthStop])
            .zip(depth_id..)
            .map(|(c, id)| expected_packet(id, c))
            .collect();
        let colour_want: Vec<Vec<u8>> = [
            Command::SetSysCfg(sys),
            Command::ImuStreamStart,
            Command::ImuStreamStop,
        ]
        .into_iter()
        .zip(colour_id..)
        .map(|(c, id)| expected_packet(id, c))
        .collect();
        let depth_got = ctx
            .gadget
            .wait_commands(mark, "depth", depth_want.len() + 1);
        let colour_got = ctx
            .gadget
            .wait_commands(mark, "colour", colour_want.len() + 1);
        ensure!(
            depth_got == depth_want,
            "depth packets at the gadget:\n{depth_got:02x?}\nwanted:\n{depth_want:02x?}"
        );
        ensure!(
            colour_got == colour_want,
            "colour packets at the gadget:\n{colour_got:02x?}\nwanted:\n{colour_want:02x?}"
        );
        Ok(())
    }

    /// The framer may drop one frame, the stream's first, and nothing after it: a scenario
    /// that starts and stops depth without reading it (the byte-exact configuration check) can
    /// leave the gadget's write of one piece of a frame queued in FunctionFS, where no stop
    /// takes it back (when a frame came due between the start and the stop). The next
    /// stream's first IN transfers carry that stale piece, the gadget ends the cut frame with a
    /// zero-length packet, and the framer drops it as the wrong size.
    fn depth_and_imu_stream_for_seconds_with_every_frame_intact(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let mark = ctx.gadget.mark();
        channel
            .depth_start(MODE, Fps::Fps5, false)
            .map_err(|e| format!("{e}"))?;
        channel.imu_start().map_err(|e| format!("{e}"))?;
        let mut depth = channel
            .transport_mut()
            .depth_stream(MODE)
            .map_err(|e| format!("{e}"))?;
        let mut imu = channel
            .transport_mut()
            .imu_stream()
            .map_err(|e| format!("{e}"))?;
        let until = Instant::now() + Duration::from_secs(STREAM_SECONDS);
        let (frames, packets) = std::thread::scope(|s| {
            let depth_reader = s.spawn(|| {
                let mut frames = Vec::new();
                let mut dropped_before_first = None;
                while Instant::now() < until {
                    match depth.next_frame() {
                        Ok(frame) => {
                            dropped_before_first.get_or_insert(depth.dropped());
                            frames.push(frame.data);
                        }
                        Err(e) if e.transfer_error().is_some_and(TransferError::is_timeout) => {}
                        Err(e) => return Err(format!("depth stream: {e}")),
                    }
                }
                Ok((frames, dropped_before_first.unwrap_or(0)))
            });
            let mut packets = Vec::new();
            while Instant::now() < until {
                match imu.next_packet() {
                    Ok(packet) => packets.push(packet),
                    Err(e) if e.transfer_error().is_some_and(TransferError::is_timeout) => {}
                    Err(e) => return (depth_reader.join().unwrap(), Err(format!("imu: {e}"))),
                }
            }
            (depth_reader.join().unwrap(), Ok(packets))
        });
        let dropped = depth.dropped();
        drop(depth);
        drop(imu);
        channel.imu_stop().map_err(|e| format!("{e}"))?;
        channel.depth_stop().map_err(|e| format!("{e}"))?;
        let ((frames, dropped_before_first), packets) = (frames?, packets?);
        println!(
            "    {} depth frames ({} dropped by the framer, {} of them before the first), \
             {} IMU packets in {STREAM_SECONDS} s",
            frames.len(),
            dropped,
            dropped_before_first,
            packets.len()
        );
        ensure!(
            dropped == dropped_before_first && dropped <= 1,
            "the framer dropped {dropped} frames, {dropped_before_first} before the first whole \
             one; only the first may arrive cut (a stale piece of the previous stream)"
        );
        ensure!(frames.len() >= 5, "only {} depth frames", frames.len());
        check_frames_intact(ctx, mark, &frames)?;
        ensure!(packets.len() >= 100, "only {} IMU packets", packets.len());
        for (n, p) in packets.iter().enumerate() {
            ensure!(
                ImuPacket::new_checked(&p[..]).is_ok(),
                "IMU packet {n} does not parse"
            );
        }
        Ok(())
    }

    fn stalled_response_endpoint_surfaces_as_stall_and_clears(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let mark = ctx.gadget.mark();
        ctx.gadget.send("stall depth-response")?;
        ctx.gadget
            .wait_for(mark, |l| l.starts_with("armed"), Duration::from_secs(5))?;
        let err = channel
            .read_serial()
            .err()
            .ok_or("read_serial succeeded through a stall")?;
        ensure!(
            err.transfer_error()
                == Some(&TransferError::Stall {
                    endpoint: Endpoint::DepthResponseIn
                }),
            "stall surfaced as: {err}"
        );
        ctx.gadget.wait_for(
            mark,
            |l| l == "halted depth-response",
            Duration::from_secs(5),
        )?;
        let serial = channel
            .read_serial()
            .map_err(|e| format!("after the stall: {e}"))?;
        ensure!(serial == ctx.serial(), "serial {serial}");
        Ok(())
    }

    /// Depth captures (and stall recoveries on depth) through the Device API until `captures`
    /// captures or the first error; the error ends the wait.
    fn depth_events(
        camera: &mut Camera,
        captures: usize,
    ) -> Result<(usize, Vec<u64>), k4sync_host::Error> {
        let (mut got, mut lost) = (0, Vec::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        while got < captures && Instant::now() < deadline {
            match camera.next_capture(Duration::from_secs(5))? {
                Some(Event::Capture(c)) if c.depth_raw.is_some() => got += 1,
                Some(Event::StallRecovered {
                    endpoint: Endpoint::DepthStreamIn,
                    frames_lost,
                }) => lost.push(frames_lost),
                _ => {}
            }
        }
        Ok((got, lost))
    }

    fn stall_depth_stream(ctx: &mut Ctx) -> Check {
        let mark = ctx.gadget.mark();
        ctx.gadget.send("stall depth-stream")?;
        ctx.gadget.wait_for(
            mark,
            |l| l == "halted depth-stream",
            Duration::from_secs(10),
        )?;
        Ok(())
    }

    /// The gadget halts the depth stream endpoint (a STALL on every transfer in flight until
    /// CLEAR_FEATURE): the Device API clears it and streams on, one frame short, twice; the
    /// third stall within 10 s ends the stream with `StreamStalled`.
    fn stalled_depth_stream_is_cleared_and_streams_on_until_it_stalls_too_often(
        ctx: &mut Ctx,
    ) -> Check {
        ctx.wait_for_both_functions()?;
        let mut camera = Camera::open(&DeviceSelector::Serial(ctx.serial()))
            .map_err(|e| format!("Device::open: {e}"))?;
        let config = DeviceConfig {
            color_resolution: ColorResolution::Off,
            depth_mode: DepthMode::PassiveIr,
            fps: Fps::Fps15,
            imu: false,
            ..DeviceConfig::default()
        };
        camera.start(&config).map_err(|e| format!("start: {e}"))?;
        let (before, _) = depth_events(&mut camera, 3).map_err(|e| format!("{e}"))?;
        ensure!(before == 3, "only {before} captures before the stall");
        let mut recoveries = Vec::new();
        for n in 1..=2 {
            stall_depth_stream(ctx)?;
            let (after, lost) =
                depth_events(&mut camera, 5).map_err(|e| format!("after stall {n}: {e}"))?;
            ensure!(after == 5, "only {after} captures after stall {n}");
            recoveries.extend(lost);
        }
        ensure!(recoveries.len() == 2, "recoveries reported: {recoveries:?}");
        ensure!(
            recoveries.iter().all(|&lost| lost >= 1),
            "frames lost per stall: {recoveries:?}"
        );
        stall_depth_stream(ctx)?;
        let error = loop {
            match depth_events(&mut camera, 1) {
                Ok((0, _)) => return Err("no error after the third stall".into()),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        ensure!(
            matches!(
                error,
                k4sync_host::Error::StreamStalled {
                    endpoint: Endpoint::DepthStreamIn,
                    count: 3,
                    ..
                }
            ),
            "the third stall ended the stream as: {error}"
        );
        let stats = camera.stats();
        println!(
            "    2 stalls cleared ({recoveries:?} frames lost), then: {error}; transfers lost {}",
            stats.transfers_lost
        );
        drop(camera);
        Ok(())
    }

    fn unplug_mid_stream_ends_it_as_disconnected_after_intact_frames(ctx: &mut Ctx) -> Check {
        let mut channel = ctx.open()?;
        let mark = ctx.gadget.mark();
        channel
            .depth_start(MODE, Fps::Fps5, false)
            .map_err(|e| format!("{e}"))?;
        let mut depth = channel
            .transport_mut()
            .depth_stream(MODE)
            .map_err(|e| format!("{e}"))?;
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut unplugged = false;
        let err = loop {
            ensure!(Instant::now() < deadline, "the stream never ended");
            match depth.next_frame() {
                Ok(frame) => frames.push(frame.data),
                Err(e) if e.transfer_error().is_some_and(TransferError::is_timeout) => {}
                Err(e) => break e,
            }
            if frames.len() >= 3 && !unplugged {
                ctx.gadget.send("unplug")?;
                unplugged = true;
            }
        };
        ensure!(unplugged, "stream failed before the unplug: {err}");
        ensure!(
            err.is_disconnected(),
            "unplug surfaced as {err} ({:?})",
            err.transfer_error()
        );
        drop(depth);
        drop(channel);
        println!("    {} frames before the unplug, then: {err}", frames.len());
        check_frames_intact(ctx, mark, &frames)
    }

    fn replug_is_announced_by_hotplug_and_the_camera_reopens(ctx: &mut Ctx) -> Check {
        let mut watch = nusb::watch_devices().map_err(|e| format!("watch_devices: {e}"))?;
        let mark = ctx.gadget.mark();
        ctx.gadget.send("plug")?;
        ctx.gadget
            .wait_for(mark, |l| l == "plugged", Duration::from_secs(10))?;
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut cx = Context::from_waker(Waker::noop());
        while seen.len() < 2 {
            ensure!(
                Instant::now() < deadline,
                "hotplug announced only {seen:04x?} (is the uevent relay running?)"
            );
            match Pin::new(&mut watch).poll_next(&mut cx) {
                Poll::Ready(Some(nusb::hotplug::HotplugEvent::Connected(info)))
                    if info.vendor_id() == 0x045E =>
                {
                    seen.push(info.product_id())
                }
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => return Err("hotplug watch ended".into()),
                Poll::Pending => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        seen.sort_unstable();
        ensure!(seen == [0x097C, 0x097D], "connected: {seen:04x?}");
        // Open at once: the claim races the kernel's SET_CONFIGURATION and must be retried.
        let transport = NusbTransport::open(&ctx.selector()).map_err(|e| format!("{e}"))?;
        let mut channel = CommandChannel::new(transport);
        let serial = channel.read_serial().map_err(|e| format!("{e}"))?;
        ensure!(serial == ctx.serial(), "serial {serial}");
        Ok(())
    }

    fn k4sync_record_writes_a_file_that_info_and_export_read(ctx: &mut Ctx) -> Check {
        let mark = ctx.gadget.mark();
        let file = "/tmp/vm-record.mkv";
        let record = Process::new("/bin/k4sync")
            .args(["record", "--device", "0", "-c", "OFF", "-d", "PASSIVE_IR"])
            .args(["-r", "5", "-l", "3", file])
            .output()
            .map_err(|e| format!("running k4sync record: {e}"))?;
        ensure!(record.status.success(), "k4sync record failed: {record:?}");
        ensure!(
            !ctx.gadget.wait_commands(mark, "depth", 1).is_empty(),
            "the gadget saw no depth commands from k4sync record"
        );
        let info = Process::new("/bin/k4sync")
            .args(["info", "--json", file])
            .output()
            .map_err(|e| format!("running k4sync info: {e}"))?;
        ensure!(info.status.success(), "k4sync info failed: {info:?}");
        let json: serde_json::Value =
            serde_json::from_slice(&info.stdout).map_err(|e| format!("info JSON: {e}"))?;
        ensure!(json["ok"] == true, "{json}");
        let tags = &json["tags"];
        ensure!(tags["K4A_DEPTH_MODE"] == "PASSIVE_IR", "{json}");
        ensure!(
            tags["K4A_DEVICE_SERIAL_NUMBER"] == ctx.serial().as_str(),
            "{json}"
        );
        ensure!(tags["K4A_CUSTOM_TRACK_RAW_DEPTH"].is_string(), "{json}");
        ensure!(json["imu"]["samples"].as_u64().unwrap_or(0) > 0, "{json}");
        let export = Process::new("/bin/k4sync")
            .args(["export", "--json", file, "/tmp/vm-export"])
            .output()
            .map_err(|e| format!("running k4sync export: {e}"))?;
        ensure!(export.status.success(), "k4sync export failed: {export:?}");
        let summary = String::from_utf8_lossy(&export.stdout);
        let last = summary.lines().last().unwrap_or_default();
        let summary: serde_json::Value =
            serde_json::from_str(last).map_err(|e| format!("export JSON: {e}: {last}"))?;
        let frames = summary["frames"]["raw_depth"].as_u64().unwrap_or(0);
        ensure!(
            frames >= 10,
            "3 s at 5 fps gave {frames} raw depth frames: {summary}"
        );
        Ok(())
    }

    /// What the host received from an unpaced NFOV unbinned stream, next to what the gadget
    /// says it sent.
    struct Unpaced {
        /// Frames that arrived within the measuring window.
        frames: u64,
        /// From the first frame's arrival to the last one's within the window, s.
        seconds: f64,
        /// Frame index (trailer `usb_sof_seq`) -> fingerprint of every frame received, in the
        /// window or while stopping.
        received: Vec<(u64, Option<u64>)>,
        dropped: u64,
        timeouts: u64,
        transfers_lost: u64,
        /// Frames the gadget wrote that the host never read and that came after every frame
        /// it read (in flight when the stream was cancelled).
        unread_at_stop: u64,
        /// Frames the gadget wrote whole, up to the last frame the host read, that the host
        /// did not get.
        lost: Vec<u64>,
        gadget: SendStats,
        /// CPU used while the host measured (user + system, from /proc): this process (the
        /// host stack: nusb, the Device API and usbfs' copies), the gadget, and the whole VM
        /// out of its vCPUs (includes dummy_hcd's transfers, which run in softirq).
        cpu: CpuUse,
    }

    #[derive(Debug, Clone, Copy, Default)]
    struct CpuUse {
        host: f64,
        /// The part of `host` in user space (nusb, framing, the Device API); the rest is the
        /// kernel's (usbfs copying the transfers out).
        host_user: f64,
        gadget: f64,
        vm_busy: f64,
        vm_total: f64,
        wall: f64,
    }

    /// USER_HZ, the unit of /proc's CPU times (100 on every Linux architecture k4sync builds for).
    const USER_HZ: f64 = 100.0;

    /// (utime + stime, utime) of a process, s.
    fn process_cpu(pid: &str) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        ((ticks(11) + ticks(12)) / USER_HZ, ticks(11) / USER_HZ)
    }

    /// (busy, total) CPU time of the whole machine over all CPUs, s.
    fn machine_cpu() -> (f64, f64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let times: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: f64 = times.iter().take(8).sum();
        let idle = times.get(3).unwrap_or(&0.0) + times.get(4).unwrap_or(&0.0);
        ((total - idle) / USER_HZ, total / USER_HZ)
    }

    struct CpuMark {
        at: Instant,
        host: (f64, f64),
        gadget: f64,
        machine: (f64, f64),
    }

    impl CpuMark {
        fn now(gadget_pid: u32) -> Self {
            CpuMark {
                at: Instant::now(),
                host: process_cpu("self"),
                gadget: process_cpu(&gadget_pid.to_string()).0,
                machine: machine_cpu(),
            }
        }

        fn since(&self, gadget_pid: u32) -> CpuUse {
            let end = CpuMark::now(gadget_pid);
            CpuUse {
                host: end.host.0 - self.host.0,
                host_user: end.host.1 - self.host.1,
                gadget: end.gadget - self.gadget,
                vm_busy: end.machine.0 - self.machine.0,
                vm_total: end.machine.1 - self.machine.1,
                wall: end.at.duration_since(self.at).as_secs_f64(),
            }
        }
    }

    impl Unpaced {
        /// What the host lost of what the gadget sent, if anything: frames written whole that
        /// never arrived, wrong-size writes beyond those the gadget cut off, lost transfers.
        fn loss(&self) -> Option<String> {
            (!self.lost.is_empty() || self.dropped > self.gadget.cut || self.transfers_lost > 0)
                .then(|| {
                    format!(
                        "the host lost frames the gadget sent: {:?}, {} writes dropped ({} cut \
                         off by the gadget), {} transfers lost",
                        self.lost, self.dropped, self.gadget.cut, self.transfers_lost
                    )
                })
        }

        fn host_bytes_per_second(&self) -> f64 {
            if self.seconds > 0.0 && self.frames > 1 {
                (self.frames - 1) as f64 * frame_size() as f64 / self.seconds
            } else {
                0.0
            }
        }
    }

    fn frame_size() -> usize {
        HEAVY.sensor_mode().map_or(0, SensorMode::raw_frame_size)
    }

    /// Streams NFOV unbinned raw depth (30 fps nominal) through the Device API from the
    /// unpaced gadget for `seconds`, then stops and compares with the gadget's account.
    /// A lost frame is one the gadget wrote whole that never arrived; a wrong-size write the
    /// host drops is a frame the gadget cut off (the previous stream's piece left in the
    /// endpoint's queue, see `SendStats::cut`), so drops are bounded by the gadget's cuts.
    /// `fingerprint` hashes every received frame (costly in the VM: off for measurements);
    /// the stream runs on past `seconds` (up to three times as long) until `min_frames` came.
    fn stream_unpaced(
        ctx: &mut Ctx,
        seconds: f64,
        min_frames: u64,
        fingerprint: bool,
    ) -> Result<Unpaced, String> {
        ctx.wait_for_both_functions()?;
        let mut camera = Camera::open(&DeviceSelector::Serial(ctx.serial()))
            .map_err(|e| format!("Device::open: {e}"))?;
        let mark = ctx.gadget.mark();
        ctx.gadget.send("pace off")?;
        ctx.gadget
            .wait_for(mark, |l| l == "pace off", Duration::from_secs(5))?;
        let config = DeviceConfig {
            color_resolution: ColorResolution::Off,
            depth_mode: HEAVY,
            fps: Fps::Fps30,
            imu: false,
            ..DeviceConfig::default()
        };
        let size = frame_size();
        let mut got = Unpaced {
            frames: 0,
            seconds: 0.0,
            received: Vec::new(),
            dropped: 0,
            timeouts: 0,
            transfers_lost: 0,
            unread_at_stop: 0,
            lost: Vec::new(),
            gadget: SendStats::default(),
            cpu: CpuUse::default(),
        };
        let check = |event: Event, got: &mut Unpaced| -> Result<Option<u64>, String> {
            match event {
                Event::Capture(capture) => {
                    let Some(depth) = capture.depth_raw else {
                        return Err("a capture without depth".into());
                    };
                    ensure!(
                        depth.data.len() == size,
                        "a frame of {} bytes, not {size}",
                        depth.data.len()
                    );
                    let index = DepthTrailer::from_frame(&depth.data, size)
                        .map_err(|e| format!("trailer: {e}"))?
                        .usb_sof_seq();
                    let hash = fingerprint.then(|| fnv1a64(&depth.data));
                    got.received.push((index, hash));
                    return Ok(Some(depth.host_ns));
                }
                Event::Dropped { .. } => got.dropped += 1,
                Event::StreamTimeout { .. } => got.timeouts += 1,
                Event::TransferLost { .. } | Event::StallRecovered { .. } => {
                    got.transfers_lost += 1
                }
                Event::Imu(_) => {}
            }
            Ok(None)
        };
        camera.start(&config).map_err(|e| format!("start: {e}"))?;
        let gadget_pid = ctx.gadget.child.id();
        let cpu = CpuMark::now(gadget_pid);
        let started = Instant::now();
        let (until, latest) = (
            started + Duration::from_secs_f64(seconds),
            started + Duration::from_secs_f64(3.0 * seconds),
        );
        let mut first_last: Option<(u64, u64)> = None;
        loop {
            let now = Instant::now();
            if now >= latest || (now >= until && got.frames >= min_frames) {
                break;
            }
            let event = camera
                .next_capture(Duration::from_millis(100))
                .map_err(|e| format!("next_capture: {e}"))?;
            if let Some(host_ns) = event.map(|e| check(e, &mut got)).transpose()?.flatten() {
                got.frames += 1;
                let first = first_last.map_or(host_ns, |(first, _)| first);
                first_last = Some((first, host_ns));
            }
        }
        got.cpu = cpu.since(gadget_pid);
        camera.stop().map_err(|e| format!("stop: {e}"))?;
        while let Some(event) = camera
            .next_capture(Duration::from_millis(300))
            .map_err(|e| format!("next_capture after stop: {e}"))?
        {
            check(event, &mut got)?;
        }
        drop(camera);
        got.seconds = first_last.map_or(0.0, |(first, last)| {
            Duration::from_nanos(last.saturating_sub(first)).as_secs_f64()
        });
        let stats_mark = ctx.gadget.mark();
        ctx.gadget.send("stats")?;
        let line = ctx.gadget.wait_for(
            stats_mark,
            |l| l.starts_with("depth-sent "),
            Duration::from_secs(5),
        )?;
        got.gadget = SendStats::parse_event(&line).ok_or(format!("unreadable: {line}"))?;
        ctx.gadget.send("pace on")?;
        let written: HashMap<u64, u64> = ctx
            .gadget
            .frames_written(mark)
            .into_iter()
            .map(|(hash, index)| (index, hash))
            .collect();
        let last_read = got.received.iter().map(|(i, _)| *i).max();
        let received: HashMap<u64, Option<u64>> = got.received.iter().copied().collect();
        ensure!(
            received.len() == got.received.len(),
            "a frame index arrived twice"
        );
        for &index in written.keys() {
            if received.contains_key(&index) {
                continue;
            }
            if last_read.is_some_and(|last| index < last) {
                got.lost.push(index);
            } else {
                got.unread_at_stop += 1;
            }
        }
        got.lost.sort_unstable();
        for (index, hash) in &got.received {
            let Some(&sent) = written.get(index) else {
                return Err(format!(
                    "received frame {index}, which the gadget never wrote whole"
                ));
            };
            ensure!(
                hash.is_none_or(|h| h == sent),
                "frame {index} differs from the one the gadget wrote"
            );
        }
        Ok(got)
    }

    fn unpaced_nfov_stream_through_the_device_api_loses_no_frame(ctx: &mut Ctx) -> Check {
        let got = stream_unpaced(ctx, UNPACED_SECONDS, 4, true)?;
        println!(
            "    {} frames in {:.2} s ({:.1} MB/s; gadget {:.1} MB/s), {} unread at stop",
            got.frames,
            got.seconds,
            got.host_bytes_per_second() / 1e6,
            got.gadget.bytes_per_second() / 1e6,
            got.unread_at_stop
        );
        if let Some(loss) = got.loss() {
            return Err(loss);
        }
        ensure!(
            got.frames >= 4,
            "only {} frames in {:.1} s",
            got.frames,
            3.0 * UNPACED_SECONDS
        );
        Ok(())
    }

    type Scenario = (&'static str, fn(&mut Ctx) -> Check);

    const SCENARIOS: [Scenario; 11] = [
        (
            "enumeration_shows_both_functions_with_the_camera_endpoints",
            enumeration_shows_both_functions_with_the_camera_endpoints,
        ),
        (
            "k4sync_list_reports_serial_firmware_and_speed",
            k4sync_list_reports_serial_firmware_and_speed,
        ),
        (
            "k4sync_record_writes_a_file_that_info_and_export_read",
            k4sync_record_writes_a_file_that_info_and_export_read,
        ),
        (
            "serial_and_versions_are_read_through_nusb",
            serial_and_versions_are_read_through_nusb,
        ),
        (
            "calibration_is_read_in_growing_chunks_and_matches_the_model",
            calibration_is_read_in_growing_chunks_and_matches_the_model,
        ),
        (
            "configuration_sequence_arrives_byte_exact_at_the_gadget",
            configuration_sequence_arrives_byte_exact_at_the_gadget,
        ),
        (
            "depth_and_imu_stream_for_seconds_with_every_frame_intact",
            depth_and_imu_stream_for_seconds_with_every_frame_intact,
        ),
        (
            "unpaced_nfov_stream_through_the_device_api_loses_no_frame",
            unpaced_nfov_stream_through_the_device_api_loses_no_frame,
        ),
        (
            "stalled_response_endpoint_surfaces_as_stall_and_clears",
            stalled_response_endpoint_surfaces_as_stall_and_clears,
        ),
        (
            "stalled_depth_stream_is_cleared_and_streams_on_until_it_stalls_too_often",
            stalled_depth_stream_is_cleared_and_streams_on_until_it_stalls_too_often,
        ),
        (
            "unplug_mid_stream_ends_it_as_disconnected_after_intact_frames",
            unplug_mid_stream_ends_it_as_disconnected_after_intact_frames,
        ),
    ];

    fn shell(program: &str, args: &[&str]) -> Check {
        let status = Process::new(program)
            .args(args)
            .status()
            .map_err(|e| format!("{program}: {e}"))?;
        ensure!(status.success(), "{program} {args:?}: {status}");
        Ok(())
    }

    fn run_speed(speed: Speed, throughput: Option<f64>, failures: &mut Vec<String>) {
        let module = format!("{MODULES}/dummy_hcd.ko");
        let mut args = vec![module.as_str(), "num=2"];
        if speed == Speed::Super {
            args.push("is_super_speed=1");
        }
        let name = speed_name(speed);
        if let Err(e) = shell("insmod", &args) {
            failures.push(format!("{name}: loading dummy_hcd: {e}"));
            return;
        }
        let gadget = match Gadget::start() {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: gadget: {e}"));
                let _ = shell("rmmod", &["dummy_hcd"]);
                return;
            }
        };
        let mut ctx = Ctx {
            speed,
            gadget,
            params: DeviceParams::from_seed(SEED),
        };
        if let Some(seconds) = throughput {
            measure_throughput(&mut ctx, seconds, failures);
        } else {
            run_scenarios(&mut ctx, failures);
        }
        if let Err(e) = ctx.gadget.quit() {
            failures.push(format!("{name}: {e}"));
        }
        if let Err(e) = shell("rmmod", &["dummy_hcd"]) {
            failures.push(format!("{name}: unloading dummy_hcd: {e}"));
        }
    }

    fn run_scenarios(ctx: &mut Ctx, failures: &mut Vec<String>) {
        let name = speed_name(ctx.speed);
        let replug: Scenario = (
            "replug_is_announced_by_hotplug_and_the_camera_reopens",
            replug_is_announced_by_hotplug_and_the_camera_reopens,
        );
        for (scenario, check) in SCENARIOS.iter().chain([&replug]) {
            let started = Instant::now();
            let result = check(ctx);
            let took = started.elapsed().as_secs_f32();
            match result {
                Ok(()) => println!("vm_usb {name}-speed {scenario} ... ok ({took:.1} s)"),
                Err(e) => {
                    println!("vm_usb {name}-speed {scenario} ... FAILED ({took:.1} s)\n    {e}");
                    failures.push(format!("{name}-speed {scenario}"));
                }
            }
        }
    }

    /// One throughput measurement (see the module docs): a human line and a `THROUGHPUT`
    /// line for scripts/vm-usb/throughput.sh.
    fn measure_throughput(ctx: &mut Ctx, seconds: f64, failures: &mut Vec<String>) {
        let name = speed_name(ctx.speed);
        let got = match stream_unpaced(ctx, seconds, 0, false) {
            Ok(got) => got,
            Err(e) => {
                println!("vm_usb {name}-speed throughput ... FAILED\n    {e}");
                failures.push(format!("{name}-speed throughput: {e}"));
                return;
            }
        };
        let host = got.host_bytes_per_second();
        let gadget = got.gadget.bytes_per_second();
        let fps = host / frame_size() as f64;
        println!(
            "vm_usb {name}-speed throughput: host {:.1} MB/s ({} frames in {:.2} s, {fps:.1} fps), \
             gadget {:.1} MB/s ({} frames in {:.2} s, {:.0}% of it inside write), lost {}, \
             dropped {} (gadget cut {}), unread at stop {}",
            host / 1e6,
            got.frames,
            got.seconds,
            gadget / 1e6,
            got.gadget.frames,
            got.gadget.seconds,
            100.0 * got.gadget.writing / got.gadget.seconds.max(f64::MIN_POSITIVE),
            got.lost.len(),
            got.dropped,
            got.gadget.cut,
            got.unread_at_stop
        );
        let cpu = got.cpu;
        let wall = cpu.wall.max(f64::MIN_POSITIVE);
        println!(
            "    CPU over {:.2} s: host process {:.0}% ({:.0}% in user space), gadget {:.0}% (of one \
             vCPU); whole VM {:.0}% of its vCPUs busy",
            cpu.wall,
            100.0 * cpu.host / wall,
            100.0 * cpu.host_user / wall,
            100.0 * cpu.gadget / wall,
            100.0 * cpu.vm_busy / cpu.vm_total.max(f64::MIN_POSITIVE)
        );
        println!(
            "THROUGHPUT speed={name} frame_bytes={} host_frames={} host_bytes={} \
             host_seconds={:.6} gadget_frames={} gadget_bytes={} gadget_seconds={:.6} \
             gadget_writing={:.6} gadget_cut={} lost={} dropped={} transfers_lost={} \
             timeouts={} unread_at_stop={} cpu_wall={:.3} cpu_host={:.2} cpu_host_user={:.2} cpu_gadget={:.2} \
             cpu_vm_busy={:.2} cpu_vm_total={:.2}",
            frame_size(),
            got.frames,
            got.frames * frame_size() as u64,
            got.seconds,
            got.gadget.frames,
            got.gadget.bytes,
            got.gadget.seconds,
            got.gadget.writing,
            got.gadget.cut,
            got.lost.len(),
            got.dropped,
            got.transfers_lost,
            got.timeouts,
            got.unread_at_stop,
            cpu.wall,
            cpu.host,
            cpu.host_user,
            cpu.gadget,
            cpu.vm_busy,
            cpu.vm_total
        );
        if let Some(loss) = got.loss() {
            failures.push(format!("{name}-speed throughput: {loss}"));
        }
    }

    pub fn run_all() -> ExitCode {
        let started = Instant::now();
        let mut failures = Vec::new();
        let throughput = match std::env::var("K4SYNC_VM_THROUGHPUT") {
            Err(_) => None,
            Ok(text) => match text.parse::<f64>() {
                Ok(seconds) if Duration::try_from_secs_f64(seconds).is_ok_and(|d| !d.is_zero()) => {
                    Some(seconds)
                }
                _ => {
                    println!("vm_usb: K4SYNC_VM_THROUGHPUT={text} is not a number of seconds");
                    return ExitCode::FAILURE;
                }
            },
        };
        for speed in [Speed::High, Speed::Super] {
            run_speed(speed, throughput, &mut failures);
        }
        println!(
            "vm_usb: {} failure(s) in {:.0} s",
            failures.len(),
            started.elapsed().as_secs_f32()
        );
        for f in &failures {
            println!("    {f}");
        }
        if failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
