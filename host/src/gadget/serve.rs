//! The gadget server: one emulated camera ([`k4sync_core::emu::Device`]) presented to the
//! kernel as two real USB devices through configfs and FunctionFS, one per `dummy_hcd` UDC:
//! the depth function (045E:097C) and the colour/IMU function (045E:097D).
//!
//! Per function, a command thread moves bytes between the command OUT endpoint and the
//! device model (§2.3: command packet, optional write or read data phase, 16-byte status),
//! and a stream thread writes what the model produces on the stream endpoint: raw depth
//! frames in 64 KiB pieces ending with a short packet (§3.5), IMU packets one per write
//! (§4.4). Scripted faults and hot-unplug come in as lines on the control input; what the
//! gadget saw goes out as lines on the event output, for a test to check byte for byte.
//!
//! Control lines: `unplug`, `plug`, `stall <endpoint>`, `quit`; endpoints are named
//! `depth-command`, `depth-response`, `depth-stream`, `colour-command`, `colour-response`,
//! `imu-stream`. Event lines: `ready`, `command <depth|colour> <hex packet>`,
//! `write-data <depth|colour> <len>`, `halted <endpoint>`, `depth-frame <index> <len> <fnv1a64 hex>`,
//! `unplugged`, `plugged`, `error <text>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k4sync_core::emu::{Device, DeviceParams, Endpoint as EmuEndpoint, Fault, TransferError};
use k4sync_core::types::SensorMode;
use k4sync_core::wire::command::{CommandPacket, DataPhase, Mcu};
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
}

impl GadgetConfig {
    /// The standard places, the first two `dummy_hcd` UDCs and a device from `seed`.
    pub fn standard(seed: u64) -> Self {
        GadgetConfig {
            params: DeviceParams::from_seed(seed),
            configfs: PathBuf::from("/sys/kernel/config/usb_gadget"),
            ffs_root: PathBuf::from("/dev/k4sync-ffs"),
            udcs: ["dummy_udc.0".into(), "dummy_udc.1".into()],
        }
    }
}

type Events = Arc<Mutex<Box<dyn Write + Send>>>;

struct Shared {
    device: Mutex<Device>,
    start: Instant,
    events: Events,
    plugged: AtomicBool,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
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
                *shared.device() = Device::new(config.params.clone());
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
            (Some(other), _) => emit(&events, &format!("error unknown control line {other}")),
            (None, _) => {}
        }
    }
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
        if device.on_command_out(mcu, &bytes).is_err() {
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
    loop {
        let polled = {
            let mut device = shared.device();
            device.poll_depth_frame(shared.now_ns(), &mut frame)
        };
        let info = match polled {
            Ok(Some(info)) => info,
            Ok(None) | Err(_) => {
                std::thread::sleep(IDLE_POLL);
                continue;
            }
        };
        let data = frame.get(..info.len).unwrap_or_default();
        let mut complete = true;
        for piece in data.chunks(DEPTH_WRITE_PIECE) {
            let streaming = shared.device().depth_state().streaming;
            if !streaming
                || !shared.plugged.load(Ordering::SeqCst)
                || stream.write_all(piece).is_err()
            {
                complete = false;
                break;
            }
        }
        if complete {
            shared.emit(&format!(
                "depth-frame {} {} {:016x}",
                info.index,
                info.len,
                fnv1a64(data)
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
            Ok(None) | Err(_) => std::thread::sleep(IDLE_POLL),
        }
    }
}

/// FNV-1a, 64 bit: the fingerprint of a depth frame in the `depth-frame` event, so a test
/// can check each frame the host received against the one the gadget wrote.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
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
