//! The gadget server: one emulated camera ([`k4sync_core::emu::Device`]) presented to the
//! kernel as two real USB devices through configfs and FunctionFS, one per `dummy_hcd` UDC:
//! the depth function (045E:097C) and the colour/IMU function (045E:097D).
//!
//! Per function, a command thread moves bytes between the command OUT endpoint and the
//! device model (§2.3: command packet, optional write or read data phase, 16-byte status),
//! and a stream thread writes what the model produces on the stream endpoint: raw depth
//! frames in 64 KiB pieces ending with a short packet (§3.5), IMU packets one per write
//! (§4.4). A stall armed on a stream endpoint halts it with the next frame or packet, which
//! is lost; the host's CLEAR_FEATURE(ENDPOINT_HALT) is answered by the UDC, and the stream
//! thread's next write waits for it. Scripted faults and hot-unplug come in as lines on the control input; what the
//! gadget saw goes out as lines on the event output, for a test to check byte for byte.
//!
//! Control lines: `unplug`, `plug`, `stall <endpoint>`, `pace <on|off>`, `stats`, `quit`;
//! endpoints are named `depth-command`, `depth-response`, `depth-stream`, `colour-command`,
//! `colour-response`, `imu-stream`. Event lines: `ready`, `command <depth|colour> <hex packet>`,
//! `write-data <depth|colour> <len>`, `halted <endpoint>`, `depth-frame <index> <len> <fnv1a64 hex>`,
//! `unplugged`, `plugged`, `pace <on|off>`, `depth-sent ...` (see [`SendStats`]), `error <text>`.
//!
//! Unpaced (`pace off`, or [`GadgetConfig::unpaced`]): the raw depth stream goes out as fast
//! as the host takes it, for throughput measurements. Whenever the model has no frame ready
//! while depth streams, the device's time jumps ahead instead of the thread sleeping, so
//! frames keep their nominal device timestamps (one frame period apart) but leave back to
//! back. To keep the gadget's own cost out of the figure, an unpaced frame is not rendered
//! whole: the body of the first frame of a mode stays in the buffer and only the 40-byte
//! trailer (timestamp, frame index in `usb_sof_seq`) is rendered per frame, and its
//! fingerprint continues the body's. The IMU stream follows the jumping clock too. The
//! counters of what was written ([`SendStats`]) restart at every `pace` line and are reported
//! by `stats` and at `quit`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k4sync_core::emu::{Device, DeviceParams, Endpoint as EmuEndpoint, Fault, TransferError};
use k4sync_core::types::SensorMode;
use k4sync_core::wire::command::{CommandPacket, DataPhase, Mcu};
use k4sync_core::wire::depth_trailer::TRAILER_LEN;
use k4sync_core::wire::imu::TRANSFER_LEN as IMU_TRANSFER_LEN;
use k4sync_core::wire::response::PACKET_LEN;

use super::descriptors::{ffs_strings, FunctionLayout, Speed};

/// Piece size of depth frame writes: a multiple of every speed's max packet size, so only a
/// frame's last piece is short.
pub const DEPTH_WRITE_PIECE: usize = 64 * 1024;
/// Largest read data phase the gadget serves (the NV blob read asks for 2,000,000 bytes).
pub const MAX_READ_DATA: usize = 4 * 1024 * 1024;
const IDLE_POLL: Duration = Duration::from_millis(2);
const RETRY_PAUSE: Duration = Duration::from_millis(20);
const EP0_POLL: Duration = Duration::from_millis(10);
/// How far an unpaced device's time jumps when no depth frame is ready.
const UNPACED_STEP_NS: u64 = 1_000_000;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Where the gadget lives and what it serves.
#[derive(Debug, Clone)]
pub struct GadgetConfig {
    pub params: DeviceParams,
    /// configfs `usb_gadget` directory.
    pub configfs: PathBuf,
    /// Directory under which each function's FunctionFS instance is mounted.
    pub ffs_root: PathBuf,
    /// UDC names for the depth and the colour function.
    pub udcs: [String; 2],
    /// Start unpaced (see the module docs); `pace on|off` switches at run time.
    pub unpaced: bool,
}

impl GadgetConfig {
    /// The standard places, the first two `dummy_hcd` UDCs and a device from `seed`.
    pub fn standard(seed: u64) -> Self {
        GadgetConfig {
            params: DeviceParams::from_seed(seed),
            configfs: PathBuf::from("/sys/kernel/config/usb_gadget"),
            ffs_root: PathBuf::from("/dev/k4sync-ffs"),
            udcs: ["dummy_udc.0".into(), "dummy_udc.1".into()],
            unpaced: false,
        }
    }
}

type Events = Arc<Mutex<Box<dyn Write + Send>>>;

/// What the depth stream thread wrote since the last `pace` line: the gadget's own send rate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SendStats {
    /// Frames written whole.
    pub frames: u64,
    /// Every byte written, including the pieces of frames cut short.
    pub bytes: u64,
    /// From the start of the first write to the end of the last, s.
    pub seconds: f64,
    /// Time spent inside `write` (waiting for the host to take the data), s.
    pub writing: f64,
    /// Frames cut off after some of their bytes went out, because the stream stopped or was
    /// unplugged meanwhile. A piece blocked in `write` when the host stops the stream goes to
    /// the next stream's first transfer, which the gadget then ends with a zero-length packet:
    /// the host sees (and drops) one wrong-size write.
    pub cut: u64,
}

impl SendStats {
    /// The `depth-sent` event line.
    pub fn event_line(&self) -> String {
        format!(
            "depth-sent frames={} bytes={} seconds={:.6} writing={:.6} cut={}",
            self.frames, self.bytes, self.seconds, self.writing, self.cut
        )
    }

    /// Parses [`Self::event_line`].
    pub fn parse_event(line: &str) -> Option<SendStats> {
        let mut stats = SendStats::default();
        for field in line.strip_prefix("depth-sent ")?.split(' ') {
            let (key, value) = field.split_once('=')?;
            match key {
                "frames" => stats.frames = value.parse().ok()?,
                "bytes" => stats.bytes = value.parse().ok()?,
                "seconds" => stats.seconds = value.parse().ok()?,
                "writing" => stats.writing = value.parse().ok()?,
                "cut" => stats.cut = value.parse().ok()?,
                _ => return None,
            }
        }
        Some(stats)
    }

    /// Bytes per second over [`Self::seconds`] (0 before anything was written).
    pub fn bytes_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / self.seconds
        } else {
            0.0
        }
    }
}

#[derive(Default)]
struct SendCounters {
    frames: u64,
    cut: u64,
    bytes: u64,
    first_start: Option<Instant>,
    last_end: Option<Instant>,
    writing: Duration,
}

impl SendCounters {
    fn wrote(&mut self, started: Instant, ended: Instant, bytes: usize) {
        self.first_start.get_or_insert(started);
        self.last_end = Some(ended);
        self.writing += ended.saturating_duration_since(started);
        self.bytes += bytes as u64;
    }

    fn stats(&self) -> SendStats {
        let seconds = match (self.first_start, self.last_end) {
            (Some(first), Some(last)) => last.saturating_duration_since(first).as_secs_f64(),
            _ => 0.0,
        };
        SendStats {
            frames: self.frames,
            bytes: self.bytes,
            seconds,
            writing: self.writing.as_secs_f64(),
            cut: self.cut,
        }
    }
}

struct Shared {
    device: Mutex<Device>,
    start: Instant,
    events: Events,
    plugged: AtomicBool,
    unpaced: AtomicBool,
    /// How far the device's time is ahead of the host's (unpaced jumps), ns.
    skipped_ns: AtomicU64,
    /// Counts the ends of depth streams (stream stop, depth stop, unplug), so the stream
    /// thread can tell a frame that straddles one.
    depth_epoch: AtomicU64,
    sent: Mutex<SendCounters>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(self.skipped_ns.load(Ordering::SeqCst))
    }

    fn sent(&self) -> MutexGuard<'_, SendCounters> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn device(&self) -> MutexGuard<'_, Device> {
        self.device.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, line: &str) {
        emit(&self.events, line);
    }
}

fn emit(events: &Events, line: &str) {
    let mut out = events.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn context<T>(result: io::Result<T>, what: impl FnOnce() -> String) -> io::Result<T> {
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", what())))
}

fn write_attr(path: &Path, value: &str) -> io::Result<()> {
    context(fs::write(path, value), || {
        format!("writing {}", path.display())
    })
}

fn mcu_name(mcu: Mcu) -> &'static str {
    match mcu {
        Mcu::Depth => "depth",
        Mcu::Colour => "colour",
    }
}

/// The control-line name of an endpoint.
pub fn endpoint_name(endpoint: EmuEndpoint) -> &'static str {
    match endpoint {
        EmuEndpoint::DepthCommandOut => "depth-command",
        EmuEndpoint::DepthResponseIn => "depth-response",
        EmuEndpoint::DepthStreamIn => "depth-stream",
        EmuEndpoint::ColourCommandOut => "colour-command",
        EmuEndpoint::ColourResponseIn => "colour-response",
        EmuEndpoint::ImuStreamIn => "imu-stream",
        EmuEndpoint::ColourVideo => "colour-video",
    }
}

/// The endpoint a control line names.
pub fn parse_endpoint(name: &str) -> Option<EmuEndpoint> {
    [
        EmuEndpoint::DepthCommandOut,
        EmuEndpoint::DepthResponseIn,
        EmuEndpoint::DepthStreamIn,
        EmuEndpoint::ColourCommandOut,
        EmuEndpoint::ColourResponseIn,
        EmuEndpoint::ImuStreamIn,
    ]
    .into_iter()
    .find(|e| endpoint_name(*e) == name)
}

/// One function's gadget directory, FunctionFS mount and UDC.
struct FunctionSetup {
    layout: FunctionLayout,
    gadget_dir: PathBuf,
    mount: PathBuf,
    udc: String,
}

impl FunctionSetup {
    fn new(config: &GadgetConfig, layout: FunctionLayout, udc: &str) -> Self {
        let name = format!("k4sync_{}", mcu_name(layout.mcu));
        FunctionSetup {
            layout,
            gadget_dir: config.configfs.join(&name),
            mount: config.ffs_root.join(&name),
            udc: udc.to_string(),
        }
    }

    fn instance(&self) -> String {
        format!("k4sync_{}", mcu_name(self.layout.mcu))
    }

    /// Removes what an earlier run left: unbinds, unmounts, removes the configfs tree.
    fn tear_down(&self) {
        if !self.gadget_dir.exists() {
            return;
        }
        let _ = fs::write(self.gadget_dir.join("UDC"), "\n");
        let _ = Process::new("umount").arg(&self.mount).status();
        let function = format!("ffs.{}", self.instance());
        let _ = fs::remove_file(self.gadget_dir.join("configs/c.1").join(&function));
        let _ = fs::remove_dir(self.gadget_dir.join("configs/c.1"));
        let _ = fs::remove_dir(self.gadget_dir.join("functions").join(&function));
        let _ = fs::remove_dir(self.gadget_dir.join("strings/0x409"));
        let _ = fs::remove_dir(&self.gadget_dir);
    }

    fn create(&self, serial: &str) -> io::Result<()> {
        let g = &self.gadget_dir;
        context(fs::create_dir_all(g), || {
            format!("creating {}", g.display())
        })?;
        write_attr(
            &g.join("idVendor"),
            &format!("{:#06x}", self.layout.vendor_id),
        )?;
        write_attr(
            &g.join("idProduct"),
            &format!("{:#06x}", self.layout.product_id),
        )?;
        write_attr(&g.join("bcdDevice"), "0x0100")?;
        let strings = g.join("strings/0x409");
        context(fs::create_dir_all(&strings), || "creating strings".into())?;
        write_attr(&strings.join("manufacturer"), "Microsoft")?;
        write_attr(&strings.join("product"), self.layout.product)?;
        write_attr(&strings.join("serialnumber"), serial)?;
        let cfg = g.join("configs/c.1");
        context(fs::create_dir_all(&cfg), || "creating configs/c.1".into())?;
        write_attr(&cfg.join("MaxPower"), "500")?;
        let function = g.join("functions").join(format!("ffs.{}", self.instance()));
        context(fs::create_dir_all(&function), || {
            format!("creating {} (is usb_f_fs loaded?)", function.display())
        })?;
        context(
            std::os::unix::fs::symlink(&function, cfg.join(format!("ffs.{}", self.instance()))),
            || "linking the function into configs/c.1".into(),
        )?;
        context(fs::create_dir_all(&self.mount), || {
            format!("creating {}", self.mount.display())
        })?;
        let status = context(
            Process::new("mount")
                .args(["-t", "functionfs", &self.instance()])
                .arg(&self.mount)
                .status(),
            || "running mount".into(),
        )?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "mount -t functionfs {} failed",
                self.instance()
            )));
        }
        Ok(())
    }

    fn ep(&self, n: usize) -> io::Result<File> {
        let path = self.mount.join(format!("ep{n}"));
        context(
            OpenOptions::new().read(true).write(true).open(&path),
            || format!("opening {}", path.display()),
        )
    }

    fn bind(&self) -> io::Result<()> {
        write_attr(&self.gadget_dir.join("UDC"), &self.udc)
    }

    fn unbind(&self) -> io::Result<()> {
        write_attr(&self.gadget_dir.join("UDC"), "\n")
    }

    fn speed(&self) -> Speed {
        fs::read_to_string(
            Path::new("/sys/class/udc")
                .join(&self.udc)
                .join("current_speed"),
        )
        .ok()
        .and_then(|s| Speed::from_sysfs(&s))
        .unwrap_or(Speed::High)
    }
}

/// Sets both functions up, binds them, serves until `quit` (or the end of `control`), then
/// unbinds. Fails if the gadget stack is not there (run it inside the VM, as root).
pub fn run(
    config: &GadgetConfig,
    control: impl BufRead,
    events: Box<dyn Write + Send>,
) -> io::Result<()> {
    let events: Events = Arc::new(Mutex::new(events));
    let shared = Arc::new(Shared {
        device: Mutex::new(Device::new(config.params.clone())),
        start: Instant::now(),
        events: events.clone(),
        plugged: AtomicBool::new(false),
        unpaced: AtomicBool::new(config.unpaced),
        skipped_ns: AtomicU64::new(0),
        depth_epoch: AtomicU64::new(0),
        sent: Mutex::new(SendCounters::default()),
    });
    let setups = [
        Arc::new(FunctionSetup::new(
            config,
            FunctionLayout::DEPTH,
            &config.udcs[0],
        )),
        Arc::new(FunctionSetup::new(
            config,
            FunctionLayout::COLOUR,
            &config.udcs[1],
        )),
    ];
    for setup in &setups {
        setup.tear_down();
        setup.create(config.params.serial.as_str())?;
        let ep0_path = setup.mount.join("ep0");
        let mut ep0 = context(
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(non_blocking())
                .open(&ep0_path),
            || format!("opening {}", ep0_path.display()),
        )?;
        context(ep0.write_all(&setup.layout.ffs_descriptors()), || {
            format!("writing {} descriptors", mcu_name(setup.layout.mcu))
        })?;
        context(ep0.write_all(&ffs_strings()), || "writing strings".into())?;
        let [out, response, stream] = [setup.ep(1)?, setup.ep(2)?, setup.ep(3)?];
        let mcu = setup.layout.mcu;
        spawn(format!("ep0-{}", mcu_name(mcu)), {
            let shared = shared.clone();
            move || watch_ep0(ep0, mcu, &shared)
        })?;
        spawn(format!("commands-{}", mcu_name(mcu)), {
            let (shared, setup) = (shared.clone(), setup.clone());
            move || serve_commands(mcu, out, response, &setup, &shared)
        })?;
        spawn(format!("stream-{}", mcu_name(mcu)), {
            let shared = shared.clone();
            move || match mcu {
                Mcu::Depth => serve_depth_stream(stream, &shared),
                Mcu::Colour => serve_imu_stream(stream, &shared),
            }
        })?;
    }
    for setup in &setups {
        setup.bind()?;
    }
    shared.plugged.store(true, Ordering::SeqCst);
    emit(&events, "ready");

    for line in control.lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("quit"), _) => break,
            (Some("unplug"), _) => {
                shared.plugged.store(false, Ordering::SeqCst);
                match setups.iter().try_for_each(|s| s.unbind()) {
                    Ok(()) => emit(&events, "unplugged"),
                    Err(e) => emit(&events, &format!("error {e}")),
                }
                let mut device = shared.device();
                *device = Device::new(config.params.clone());
                shared.depth_epoch.fetch_add(1, Ordering::SeqCst);
                drop(device);
            }
            (Some("plug"), _) => match setups.iter().try_for_each(|s| s.bind()) {
                Ok(()) => {
                    shared.plugged.store(true, Ordering::SeqCst);
                    emit(&events, "plugged");
                }
                Err(e) => emit(&events, &format!("error {e}")),
            },
            (Some("stall"), Some(name)) => match parse_endpoint(name) {
                Some(endpoint) => {
                    shared.device().inject(Fault::Stall(endpoint));
                    emit(&events, &format!("armed stall {name}"));
                }
                None => emit(&events, &format!("error unknown endpoint {name}")),
            },
            (Some("pace"), Some(pace @ ("on" | "off"))) => {
                *shared.sent() = SendCounters::default();
                shared.unpaced.store(pace == "off", Ordering::SeqCst);
                emit(&events, &format!("pace {pace}"));
            }
            (Some("stats"), _) => emit(&events, &shared.sent().stats().event_line()),
            (Some(other), _) => emit(&events, &format!("error unknown control line {other}")),
            (None, _) => {}
        }
    }
    emit(&events, &shared.sent().stats().event_line());
    for setup in &setups {
        let _ = setup.unbind();
    }
    Ok(())
}

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map(|_| ())
}

/// `O_NONBLOCK`: a blocking read of FunctionFS `ep0` waits for events while holding the
/// instance's mutex, which unbinding the gadget needs too, so `ep0` is polled instead.
fn non_blocking() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// Reads FunctionFS events; a control request to the function is refused with a stall (the
/// camera's MCU interfaces have none).
fn watch_ep0(mut ep0: File, mcu: Mcu, shared: &Shared) {
    const EVENT_LEN: usize = 12;
    const SETUP: u8 = 4;
    let mut buf = [0u8; EVENT_LEN * 4];
    loop {
        let n = match ep0.read(&mut buf) {
            Ok(n) => n,
            Err(_) => {
                std::thread::sleep(EP0_POLL);
                continue;
            }
        };
        for event in buf.get(..n).unwrap_or_default().chunks_exact(EVENT_LEN) {
            if event.get(8) == Some(&SETUP) {
                let direction_in = event.first().is_some_and(|t| t & 0x80 != 0);
                shared.emit(&format!("setup {} {:02x?}", mcu_name(mcu), &event[..8]));
                if direction_in {
                    let _ = ep0.read(&mut [0u8; 1]);
                } else {
                    let _ = ep0.write(&[]);
                }
            }
        }
    }
}

/// Halts an IN endpoint: FunctionFS stalls an endpoint read in the wrong direction.
fn halt(endpoint: &mut File) {
    let _ = endpoint.read(&mut [0u8; 1]);
}

fn serve_commands(
    mcu: Mcu,
    mut out: File,
    mut response: File,
    setup: &FunctionSetup,
    shared: &Shared,
) {
    let mut buf = vec![0u8; MAX_READ_DATA];
    let mut write_left: u64 = 0;
    let resp_endpoint = EmuEndpoint::response_in(mcu);
    loop {
        let n = match out.read(&mut buf) {
            Ok(n) => n,
            Err(_) => {
                write_left = 0;
                std::thread::sleep(RETRY_PAUSE);
                continue;
            }
        };
        let bytes = buf.get(..n).unwrap_or_default().to_vec();
        if write_left > 0 {
            write_left = write_left.saturating_sub(n as u64);
            shared.emit(&format!("write-data {} {n}", mcu_name(mcu)));
            let mut device = shared.device();
            device.advance_to(shared.now_ns());
            if device.on_write_data(mcu, &bytes).is_ok() && write_left == 0 {
                let status = status_of(&mut device, mcu);
                drop(device);
                send_status(status, &mut response, resp_endpoint, shared);
            }
            continue;
        }
        shared.emit(&format!("command {} {}", mcu_name(mcu), hex(&bytes)));
        let mut device = shared.device();
        device.advance_to(shared.now_ns());
        let was_streaming = device.depth_state().streaming;
        let accepted = device.on_command_out(mcu, &bytes);
        if was_streaming && !device.depth_state().streaming {
            shared.depth_epoch.fetch_add(1, Ordering::SeqCst);
        }
        if accepted.is_err() {
            continue;
        }
        let Ok(packet) = CommandPacket::new_checked(&bytes[..]) else {
            continue;
        };
        let payload = packet.payload_size();
        let phase = packet.command_code().data_phase();
        if phase == Some(DataPhase::Write) && payload > 0 {
            write_left = u64::from(payload);
            continue;
        }
        if payload > 0 {
            let capacity = (payload as usize).min(MAX_READ_DATA);
            let mut data = vec![0u8; capacity];
            match device.read_data(mcu, &mut data) {
                Ok(len) => {
                    drop(device);
                    let packet = usize::from(setup.speed().bulk_max_packet());
                    let host_len = (payload as usize).div_ceil(packet) * packet;
                    let sent = response.write_all(data.get(..len).unwrap_or_default());
                    if sent.is_ok() && len % packet == 0 && len < host_len {
                        let _ = response.write(&[]);
                    }
                    device = shared.device();
                }
                Err(TransferError::Stall { .. }) => {
                    drop(device);
                    halt(&mut response);
                    shared.emit(&format!("halted {}", endpoint_name(resp_endpoint)));
                    continue;
                }
                Err(_) => {}
            }
        }
        let status = status_of(&mut device, mcu);
        drop(device);
        send_status(status, &mut response, resp_endpoint, shared);
    }
}

fn status_of(device: &mut Device, mcu: Mcu) -> Result<[u8; PACKET_LEN], TransferError> {
    let mut status = [0u8; PACKET_LEN];
    device.read_response(mcu, &mut status).map(|()| status)
}

fn send_status(
    status: Result<[u8; PACKET_LEN], TransferError>,
    response: &mut File,
    endpoint: EmuEndpoint,
    shared: &Shared,
) {
    match status {
        Ok(bytes) => {
            let _ = response.write_all(&bytes);
        }
        Err(TransferError::Stall { .. }) => {
            halt(response);
            shared.emit(&format!("halted {}", endpoint_name(endpoint)));
        }
        Err(_) => {}
    }
}

/// The body an unpaced stream reuses: its length and the FNV-1a state after all but the
/// trailer.
struct ReusedBody {
    len: usize,
    hash: u64,
}

fn serve_depth_stream(mut stream: File, shared: &Shared) {
    let largest = [
        SensorMode::PseudoCommon,
        SensorMode::LongThrowNative,
        SensorMode::Megapixel,
        SensorMode::QuarterMegapixel,
    ]
    .iter()
    .map(|m| m.raw_frame_size())
    .max()
    .unwrap_or(0);
    let mut frame = vec![0u8; largest];
    let mut body: Option<ReusedBody> = None;
    loop {
        let unpaced = shared.unpaced.load(Ordering::SeqCst);
        let (polled, streaming, reused, epoch) = {
            let mut device = shared.device();
            let epoch = shared.depth_epoch.load(Ordering::SeqCst);
            let state = device.depth_state();
            let size = state.mode.map(SensorMode::raw_frame_size);
            let reuse = unpaced && size.is_some() && size == body.as_ref().map(|b| b.len);
            let now = shared.now_ns();
            let polled = match (reuse, size) {
                (true, Some(size)) => {
                    let tail = frame.get_mut(size.saturating_sub(TRAILER_LEN)..size);
                    device.poll_depth_frame_tail(now, largest, tail.unwrap_or_default())
                }
                _ => device.poll_depth_frame(now, &mut frame),
            };
            (polled, state.streaming, reuse, epoch)
        };
        let info = match polled {
            Ok(Some(info)) => info,
            Err(TransferError::Stall { endpoint }) => {
                halt(&mut stream);
                shared.emit(&format!("halted {}", endpoint_name(endpoint)));
                continue;
            }
            Ok(None) if unpaced && streaming => {
                shared
                    .skipped_ns
                    .fetch_add(UNPACED_STEP_NS, Ordering::SeqCst);
                continue;
            }
            Ok(None) | Err(_) => {
                std::thread::sleep(IDLE_POLL);
                continue;
            }
        };
        let data = frame.get(..info.len).unwrap_or_default();
        let trailer_start = info.len.saturating_sub(TRAILER_LEN);
        let hash = match &body {
            Some(b) if reused && b.len == info.len => {
                fnv1a64_continue(b.hash, data.get(trailer_start..).unwrap_or_default())
            }
            _ if reused => {
                body = None;
                continue;
            }
            _ => {
                let prefix = fnv1a64(data.get(..trailer_start).unwrap_or_default());
                body = unpaced.then_some(ReusedBody {
                    len: info.len,
                    hash: prefix,
                });
                fnv1a64_continue(prefix, data.get(trailer_start..).unwrap_or_default())
            }
        };
        let same_stream = || shared.depth_epoch.load(Ordering::SeqCst) == epoch;
        let (mut complete, mut wrote_any, mut failed) = (true, false, false);
        for piece in data.chunks(DEPTH_WRITE_PIECE) {
            let streaming = shared.device().depth_state().streaming;
            if !streaming || !shared.plugged.load(Ordering::SeqCst) || !same_stream() {
                complete = false;
                break;
            }
            let started = Instant::now();
            let written = stream.write_all(piece);
            let ended = Instant::now();
            if written.is_err() {
                (complete, failed) = (false, true);
                break;
            }
            wrote_any = true;
            shared.sent().wrote(started, ended, piece.len());
        }
        complete &= same_stream();
        if !complete && wrote_any {
            shared.sent().cut += 1;
            if !failed && shared.plugged.load(Ordering::SeqCst) {
                let _ = stream.write(&[]);
            }
        }
        if complete {
            shared.sent().frames += 1;
            shared.emit(&format!(
                "depth-frame {} {} {hash:016x}",
                info.index, info.len
            ));
        }
    }
}

fn serve_imu_stream(mut stream: File, shared: &Shared) {
    let mut packet = [0u8; IMU_TRANSFER_LEN];
    loop {
        let polled = {
            let mut device = shared.device();
            device.poll_imu_packet(shared.now_ns(), &mut packet)
        };
        match polled {
            Ok(Some(info)) => {
                let _ = stream.write_all(packet.get(..info.len).unwrap_or_default());
            }
            Err(TransferError::Stall { endpoint }) => {
                halt(&mut stream);
                shared.emit(&format!("halted {}", endpoint_name(endpoint)));
            }
            Ok(None) | Err(_) => std::thread::sleep(IDLE_POLL),
        }
    }
}

/// FNV-1a, 64 bit: the fingerprint of a depth frame in the `depth-frame` event, so a test
/// can check each frame the host received against the one the gadget wrote.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_continue(FNV_OFFSET, bytes)
}

/// FNV-1a, 64 bit, of earlier bytes (whose hash is `state`) followed by `bytes`.
pub fn fnv1a64_continue(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_fingerprint_is_fnv1a_64() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_continued_fingerprint_equals_the_whole_one() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let (head, tail) = bytes.split_at(960);
        assert_eq!(fnv1a64_continue(fnv1a64(head), tail), fnv1a64(&bytes));
    }

    #[test]
    fn send_stats_event_line_round_trips() {
        let stats = SendStats {
            frames: 12,
            bytes: 63_729_120,
            seconds: 1.5,
            writing: 1.25,
            cut: 1,
        };
        assert_eq!(SendStats::parse_event(&stats.event_line()), Some(stats));
        assert_eq!(stats.bytes_per_second(), 42_486_080.0);
        assert_eq!(SendStats::parse_event("depth-sent frames=x"), None);
        assert_eq!(SendStats::parse_event("depth-frame 1 2 3"), None);
    }

    #[test]
    fn send_counters_span_first_write_to_last() {
        let t0 = Instant::now();
        let mut counters = SendCounters::default();
        counters.wrote(t0, t0 + Duration::from_millis(10), 100);
        counters.wrote(
            t0 + Duration::from_millis(30),
            t0 + Duration::from_millis(50),
            50,
        );
        counters.frames += 1;
        let stats = counters.stats();
        assert_eq!((stats.frames, stats.bytes), (1, 150));
        assert!((stats.seconds - 0.050).abs() < 1e-9, "{stats:?}");
        assert!((stats.writing - 0.030).abs() < 1e-9, "{stats:?}");
    }

    #[test]
    fn every_control_endpoint_name_round_trips() {
        for name in [
            "depth-command",
            "depth-response",
            "depth-stream",
            "colour-command",
            "colour-response",
            "imu-stream",
        ] {
            assert_eq!(parse_endpoint(name).map(endpoint_name), Some(name));
        }
        assert_eq!(parse_endpoint("colour-video"), None);
    }
}
