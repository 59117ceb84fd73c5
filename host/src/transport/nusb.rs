//! The real-camera transport: the depth (045E:097C) and colour (045E:097D) USB functions of one
//! Azure Kinect through nusb 0.2 on Linux usbfs (reference §1.2–1.4, §3.5, §4.4), and the
//! depth and IMU stream readers.
//!
//! The rules measured against a real kernel stack (`nusb-on-linux.md`) are handled here:
//! 1. every IN transfer is a non-zero multiple of the endpoint's wMaxPacketSize, read from its
//!    descriptor ([`in_transfer_len`]);
//! 2. a transfer ending in `Fault` is checked against enumeration before it is called a data
//!    error, since an unplug ends pending transfers with `Fault` about half the time
//!    (`map_transfer_error`);
//! 3. hotplug events need udevd, so [`wait_for_camera`] polls enumeration instead of listening;
//! 4. the interface claim is retried for about 2 s on `NotFound`/`Busy`, because a freshly
//!    connected device may not be configured yet (`retry_claim`);
//! 5. stream frames and IMU packets are cut from the data itself (`DepthFramer`,
//!    `ImuFramer`), never from transfer boundaries;
//! 6. stream readers keep several transfers in flight (depth: the SDK's pool rule, IMU: 8) and
//!    re-arm each on completion;
//! 7. a stalled stream endpoint stays halted, failing every transfer behind the stalled one,
//!    until CLEAR_FEATURE(ENDPOINT_HALT), which nusb refuses under pending transfers:
//!    [`StreamIn::clear_halt`] cancels them, clears the halt and arms the stream again.
//!
//! The two functions of a camera are paired by their BOS Container ID (capability 0x04) when
//! it can be read, otherwise by sharing the parent hub (the camera's internal hub), §1.3.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::nusb::descriptors::TransferType;
use ::nusb::transfer::{Buffer, Bulk, Completion, In, Out, TransferError as UsbTransferError};
use ::nusb::{DeviceInfo, MaybeFuture, Speed};
use k4sync_core::colour_control::ColourControls;
use k4sync_core::types::SensorMode;
use k4sync_core::wire::usb::{
    COLOUR_INTERFACE, COLOUR_PRODUCT_ID, CONFIGURATION, DEPTH_INTERFACE, DEPTH_PRODUCT_ID,
    VENDOR_ID,
};

use crate::error::Error;
use crate::framing::{
    depth_transfers_in_flight, pool_limit, DepthFramer, ImuFramer, IMU_PACKET_MAX_LEN,
    IMU_TRANSFERS, STREAM_TIMEOUT,
};
use crate::transport::{
    in_transfer_len, monotonic_ns, BufferPool, Chunk, ColourMode, ColourSource, ColourStream,
    Endpoint, StreamIn, TransferError, Transport,
};

/// Pause between interface-claim attempts (nusb fact 4).
pub(crate) const CLAIM_RETRY_INTERVAL: Duration = Duration::from_millis(20);
/// Claim attempts: about 2 s at [`CLAIM_RETRY_INTERVAL`].
pub(crate) const CLAIM_ATTEMPTS: u32 = 100;
const BOS_DESCRIPTOR: u8 = 0x0F;
const DEVICE_CAPABILITY: u8 = 0x10;
const CONTAINER_ID_CAPABILITY: u8 = 0x04;
const DESCRIPTOR_TIMEOUT: Duration = Duration::from_millis(500);

/// Where one USB function sits on the bus and what it says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub product_id: u16,
    pub bus: u8,
    pub address: u8,
    /// The controller's bus id (`"2"` on Linux).
    pub bus_id: String,
    /// Port numbers from the root hub down to this function.
    pub port_chain: Vec<u8>,
    pub usb_serial: Option<String>,
    pub speed: Option<Speed>,
    /// The BOS Container ID, when the descriptor could be read.
    pub container_id: Option<[u8; 16]>,
}

impl FunctionInfo {
    /// The bus path in sysfs spelling, e.g. `2-1.3`.
    pub fn bus_path(&self) -> String {
        let ports: Vec<String> = self.port_chain.iter().map(u8::to_string).collect();
        format!("{}-{}", self.bus_id, ports.join("."))
    }

    fn parent(&self) -> Option<(&str, &[u8])> {
        let (_, parent) = self.port_chain.split_last()?;
        Some((&self.bus_id, parent))
    }

    fn describe(&self) -> String {
        format!(
            "045e:{:04x} on bus {} address {} ({})",
            self.product_id,
            self.bus,
            self.address,
            self.bus_path()
        )
    }
}

/// How the two functions of a camera were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairedBy {
    /// Equal BOS Container IDs (what the SDK uses).
    ContainerId,
    /// Same parent hub on the same bus (the Container ID could not be read).
    ParentHub,
    /// Equal USB serial strings, for functions with no Container ID on different buses (a
    /// camera emulated by two USB gadgets, which the kernel gives no Container ID).
    UsbSerial,
    /// Only one function of the camera is on the bus.
    Unpaired,
}

/// One camera as found on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraFunctions {
    pub depth: Option<FunctionInfo>,
    pub colour: Option<FunctionInfo>,
    pub paired_by: PairedBy,
}

impl CameraFunctions {
    /// The colour function's USB serial (equal to the product serial, §1.3), else the depth
    /// function's.
    pub fn usb_serial(&self) -> Option<&str> {
        self.colour
            .as_ref()
            .and_then(|c| c.usb_serial.as_deref())
            .or_else(|| self.depth.as_ref().and_then(|d| d.usb_serial.as_deref()))
    }

    fn functions(&self) -> impl Iterator<Item = &FunctionInfo> {
        self.depth.iter().chain(self.colour.iter())
    }
}

/// The Container ID capability of a BOS descriptor, if it has one.
pub(crate) fn container_id_from_bos(bos: &[u8]) -> Option<[u8; 16]> {
    let header_len = usize::from(*bos.first()?);
    if bos.get(1) != Some(&BOS_DESCRIPTOR) || header_len < 5 {
        return None;
    }
    let total = usize::from(u16::from_le_bytes([*bos.get(2)?, *bos.get(3)?])).min(bos.len());
    let mut at = header_len;
    while at + 3 <= total {
        let len = usize::from(*bos.get(at)?);
        if len < 3 {
            return None;
        }
        let capability = bos.get(at..(at + len).min(total))?;
        if capability.get(1) == Some(&DEVICE_CAPABILITY)
            && capability.get(2) == Some(&CONTAINER_ID_CAPABILITY)
        {
            return capability.get(4..20)?.try_into().ok();
        }
        at += len;
    }
    None
}

/// Groups depth and colour functions into cameras: equal Container IDs first, then the same
/// parent hub for functions whose ID is unknown, then equal USB serials for functions with no
/// ID at all; leftovers stand alone. Cameras keep the depth functions' order (the SDK's device
/// index order), colour-only cameras follow.
pub(crate) fn pair_functions(
    depth: &[FunctionInfo],
    colour: &[FunctionInfo],
) -> Vec<CameraFunctions> {
    let mut colour_used = vec![false; colour.len()];
    let mut matched: Vec<Option<(usize, PairedBy)>> = vec![None; depth.len()];
    for (d, slot) in depth.iter().zip(matched.iter_mut()) {
        let Some(id) = d.container_id else { continue };
        if let Some(c) =
            (0..colour.len()).find(|&c| !colour_used[c] && colour[c].container_id == Some(id))
        {
            colour_used[c] = true;
            *slot = Some((c, PairedBy::ContainerId));
        }
    }
    for (d, slot) in depth.iter().zip(matched.iter_mut()) {
        if slot.is_some() || d.parent().is_none() {
            continue;
        }
        if let Some(c) = (0..colour.len()).find(|&c| {
            let both_known = d.container_id.is_some() && colour[c].container_id.is_some();
            !colour_used[c] && !both_known && colour[c].parent() == d.parent()
        }) {
            colour_used[c] = true;
            *slot = Some((c, PairedBy::ParentHub));
        }
    }
    for (d, slot) in depth.iter().zip(matched.iter_mut()) {
        let Some(serial) = d.usb_serial.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if slot.is_some() || d.container_id.is_some() {
            continue;
        }
        if let Some(c) = (0..colour.len()).find(|&c| {
            !colour_used[c]
                && colour[c].container_id.is_none()
                && colour[c].usb_serial.as_deref() == Some(serial)
        }) {
            colour_used[c] = true;
            *slot = Some((c, PairedBy::UsbSerial));
        }
    }
    let mut cameras: Vec<CameraFunctions> = depth
        .iter()
        .zip(matched)
        .map(|(d, m)| CameraFunctions {
            depth: Some(d.clone()),
            colour: m.and_then(|(c, _)| colour.get(c).cloned()),
            paired_by: m.map_or(PairedBy::Unpaired, |(_, by)| by),
        })
        .collect();
    cameras.extend(
        colour
            .iter()
            .zip(colour_used)
            .filter(|(_, used)| !used)
            .map(|(c, _)| CameraFunctions {
                depth: None,
                colour: Some(c.clone()),
                paired_by: PairedBy::Unpaired,
            }),
    );
    cameras
}

/// Maps a nusb transfer failure. `timed_out` says the host cancelled it for its timeout;
/// `still_present` is asked only for `Fault`, which an unplug also produces (nusb fact 2).
pub(crate) fn map_transfer_error(
    error: UsbTransferError,
    endpoint: Endpoint,
    timeout: Duration,
    timed_out: bool,
    still_present: impl FnOnce() -> bool,
) -> TransferError {
    match error {
        UsbTransferError::Cancelled if timed_out => TransferError::Timeout { endpoint, timeout },
        UsbTransferError::Cancelled => TransferError::Io {
            endpoint,
            message: "transfer cancelled".into(),
        },
        UsbTransferError::Stall => TransferError::Stall { endpoint },
        UsbTransferError::Disconnected => TransferError::Disconnected { endpoint },
        UsbTransferError::Fault if !still_present() => TransferError::Disconnected { endpoint },
        UsbTransferError::Fault => TransferError::Io {
            endpoint,
            message: "USB fault (protocol error, CRC error or babble) with the device still \
                      attached"
                .into(),
        },
        UsbTransferError::InvalidArgument => TransferError::Io {
            endpoint,
            message: "nusb refused the transfer: an IN length must be a non-zero multiple of \
                      the endpoint's max packet size"
                .into(),
        },
        UsbTransferError::Unknown(code) => TransferError::Io {
            endpoint,
            message: format!("OS error {code}"),
        },
    }
}

/// Runs `attempt` until it succeeds, fails with an error `retryable` rejects, or `attempts`
/// tries are used up, pausing `interval` between tries (nusb fact 4).
pub(crate) fn retry_claim<T, E>(
    attempts: u32,
    interval: Duration,
    mut attempt: impl FnMut() -> Result<T, E>,
    retryable: impl Fn(&E) -> bool,
    mut sleep: impl FnMut(Duration),
) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(e) if retryable(&e) && tries < attempts => {
                tries += 1;
                sleep(interval);
            }
            other => return other,
        }
    }
}

/// Which camera to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The camera one of whose functions has this bus number and device address.
    BusAddress { bus: u8, address: u8 },
    /// The camera with this serial (colour USB serial = product serial, §1.3).
    Serial(String),
    /// The N-th camera with a depth function, in enumeration order (§1.4).
    Index(usize),
}

impl Selector {
    fn matches(&self, index: usize, camera: &CameraFunctions) -> bool {
        match self {
            Selector::BusAddress { bus, address } => camera
                .functions()
                .any(|f| f.bus == *bus && f.address == *address),
            Selector::Serial(serial) => camera
                .functions()
                .any(|f| f.usb_serial.as_deref() == Some(serial)),
            Selector::Index(n) => index == *n,
        }
    }
}

/// Whether the kernel exposes a USB subsystem under `sysfs_root` (normally `/sys`).
pub(crate) fn usb_subsystem_present(sysfs_root: &Path) -> bool {
    sysfs_root.join("bus/usb/devices").is_dir()
}

/// Every Azure Kinect function on the bus, grouped into cameras. Container IDs are read
/// where the device nodes may be opened; pairing falls back to the parent hub otherwise.
pub(crate) fn scan() -> Result<Vec<CameraFunctions>, Error> {
    let (depth, colour) = scan_functions()?;
    let depth: Vec<FunctionInfo> = depth.into_iter().map(|(f, _)| f).collect();
    let colour: Vec<FunctionInfo> = colour.into_iter().map(|(f, _)| f).collect();
    Ok(pair_functions(&depth, &colour))
}

type Found = Vec<(FunctionInfo, DeviceInfo)>;

fn scan_functions() -> Result<(Found, Found), Error> {
    let devices = ::nusb::list_devices()
        .wait()
        .map_err(|e| Error::NoUsbSubsystem {
            detail: format!("listing USB devices failed: {e}"),
        })?;
    let mut depth = Vec::new();
    let mut colour = Vec::new();
    for info in devices.filter(|d| d.vendor_id() == VENDOR_ID) {
        let list = match info.product_id() {
            DEPTH_PRODUCT_ID => &mut depth,
            COLOUR_PRODUCT_ID => &mut colour,
            _ => continue,
        };
        let function = FunctionInfo {
            product_id: info.product_id(),
            bus: info.busnum(),
            address: info.device_address(),
            bus_id: info.bus_id().to_string(),
            port_chain: info.port_chain().to_vec(),
            usb_serial: info.serial_number().map(str::to_string),
            speed: info.speed(),
            container_id: read_container_id(&info),
        };
        list.push((function, info));
    }
    Ok((depth, colour))
}

fn read_container_id(info: &DeviceInfo) -> Option<[u8; 16]> {
    let device = info.open().wait().ok()?;
    let bos = device
        .get_descriptor(BOS_DESCRIPTOR, 0, 0, DESCRIPTOR_TIMEOUT)
        .wait()
        .ok()?;
    container_id_from_bos(&bos)
}

/// Whether a device with this bus number and address is still enumerated.
pub(crate) fn still_enumerated(bus: u8, address: u8) -> bool {
    ::nusb::list_devices()
        .wait()
        .map(|mut devices| devices.any(|d| d.busnum() == bus && d.device_address() == address))
        .unwrap_or(false)
}

/// Polls enumeration every 100 ms until a camera matching `selector` appears or `timeout`
/// passes. Polling, not `nusb::watch_devices`, because hotplug events only arrive where
/// udevd runs (nusb fact 3); opening then still retries the claim (fact 4).
pub fn wait_for_camera(selector: &Selector, timeout: Duration) -> Result<CameraFunctions, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let cameras = scan()?;
        if let Some(camera) = cameras
            .into_iter()
            .enumerate()
            .find(|(i, c)| selector.matches(*i, c))
            .map(|(_, c)| c)
        {
            return Ok(camera);
        }
        if Instant::now() >= deadline {
            return Err(Error::NotFound {
                what: format!("Azure Kinect {selector:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Function {
    info: FunctionInfo,
    _device: ::nusb::Device,
    interface: ::nusb::Interface,
    command_out: ::nusb::Endpoint<Bulk, Out>,
    response_in: ::nusb::Endpoint<Bulk, In>,
    stream_in: Option<::nusb::Endpoint<Bulk, In>>,
    stream_address: u8,
}

impl Function {
    fn open(
        info: &DeviceInfo,
        function: FunctionInfo,
        interface_number: u8,
        command_out: u8,
        response_in: u8,
        stream_address: u8,
    ) -> Result<Self, Error> {
        let device_name = function.describe();
        let device = info
            .open()
            .wait()
            .map_err(|e| open_error(&function, "open", e))?;
        let configured = device
            .active_configuration()
            .map(|c| c.configuration_value() == CONFIGURATION)
            .unwrap_or(false);
        if !configured {
            device
                .set_configuration(CONFIGURATION)
                .wait()
                .map_err(|e| open_error(&function, "SET_CONFIGURATION(1)", e))?;
        }
        let interface = retry_claim(
            CLAIM_ATTEMPTS,
            CLAIM_RETRY_INTERVAL,
            || device.detach_and_claim_interface(interface_number).wait(),
            |e| {
                matches!(
                    e.kind(),
                    ::nusb::ErrorKind::NotFound | ::nusb::ErrorKind::Busy
                )
            },
            std::thread::sleep,
        )
        .map_err(|e| open_error(&function, "claiming the interface", e))?;
        let command_out = interface
            .endpoint::<Bulk, Out>(command_out)
            .map_err(|source| Error::Usb {
                device: device_name.clone(),
                action: "opening the command OUT endpoint",
                source,
            })?;
        let response_in = interface
            .endpoint::<Bulk, In>(response_in)
            .map_err(|source| Error::Usb {
                device: device_name,
                action: "opening the response IN endpoint",
                source,
            })?;
        Ok(Function {
            info: function,
            _device: device,
            interface,
            command_out,
            response_in,
            stream_in: None,
            stream_address,
        })
    }

    fn stream_endpoint(&mut self) -> Result<::nusb::Endpoint<Bulk, In>, Error> {
        if let Some(ep) = self.stream_in.take() {
            return Ok(ep);
        }
        self.interface
            .endpoint::<Bulk, In>(self.stream_address)
            .map_err(|source| Error::Usb {
                device: self.info.describe(),
                action: "opening the stream IN endpoint",
                source,
            })
    }

    fn descriptor_max_packet(&self, address: u8) -> Option<usize> {
        self.interface.descriptor().and_then(|d| {
            d.endpoints()
                .find(|ep| ep.address() == address && ep.transfer_type() == TransferType::Bulk)
                .map(|ep| ep.max_packet_size())
        })
    }
}

fn open_error(function: &FunctionInfo, action: &'static str, source: ::nusb::Error) -> Error {
    let device = function.describe();
    match source.kind() {
        ::nusb::ErrorKind::PermissionDenied => Error::PermissionDenied { device },
        ::nusb::ErrorKind::Busy => Error::Busy {
            holders: holders_of(function.bus, function.address),
            device,
        },
        ::nusb::ErrorKind::Disconnected => Error::NotFound {
            what: format!("{device} (it went away while opening)"),
        },
        _ => Error::Usb {
            device,
            action,
            source,
        },
    }
}

/// Processes (other than this one) holding the device node open, as "pid N (name)". Only
/// processes whose /proc entries this user may read are seen.
pub(crate) fn holders_of(bus: u8, address: u8) -> Vec<String> {
    let node = format!("/dev/bus/usb/{bus:03}/{address:03}");
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut holders = Vec::new();
    for entry in procs.flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new(&node)));
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            holders.push(format!("pid {pid} ({})", name.trim()));
        }
    }
    holders
}

/// One camera's depth and colour MCU interfaces, claimed.
pub struct NusbTransport {
    serial: String,
    depth: Function,
    colour: Function,
    timeout_hint: Duration,
    colour_source: Option<Box<dyn ColourSource>>,
    buffers: Arc<BufferPool>,
}

/// The address of one of the six vendor bulk endpoints.
fn bulk_address(endpoint: Endpoint) -> u8 {
    endpoint.address().unwrap_or_default()
}

impl NusbTransport {
    /// Finds the camera `selector` names and opens both of its MCU interfaces.
    pub fn open(selector: &Selector) -> Result<Self, Error> {
        let (depth, colour) = scan_functions()?;
        let depth_infos: Vec<FunctionInfo> = depth.iter().map(|(f, _)| f.clone()).collect();
        let colour_infos: Vec<FunctionInfo> = colour.iter().map(|(f, _)| f.clone()).collect();
        let camera = pair_functions(&depth_infos, &colour_infos)
            .into_iter()
            .filter(|c| c.depth.is_some())
            .enumerate()
            .find(|(i, c)| selector.matches(*i, c))
            .map(|(_, c)| c)
            .ok_or_else(|| Error::NotFound {
                what: format!("Azure Kinect {selector:?}"),
            })?;
        Self::open_camera(&camera, &depth, &colour)
    }

    /// Opens a camera found by enumeration (`scan`).
    pub fn open_functions(camera: &CameraFunctions) -> Result<Self, Error> {
        let (depth, colour) = scan_functions()?;
        Self::open_camera(camera, &depth, &colour)
    }

    fn open_camera(camera: &CameraFunctions, depth: &Found, colour: &Found) -> Result<Self, Error> {
        let find = |wanted: &Option<FunctionInfo>, found: &Found, what: &str| {
            let wanted = wanted.as_ref().ok_or_else(|| Error::NotFound {
                what: format!("the {what} function of camera {:?}", camera.usb_serial()),
            })?;
            found
                .iter()
                .find(|(f, _)| f.bus == wanted.bus && f.address == wanted.address)
                .map(|(f, info)| (f.clone(), info.clone()))
                .ok_or_else(|| Error::NotFound {
                    what: wanted.describe(),
                })
        };
        let (depth_fn, depth_info) = find(&camera.depth, depth, "depth (045e:097c)")?;
        let (colour_fn, colour_info) = find(&camera.colour, colour, "colour (045e:097d)")?;
        let serial = colour_fn
            .usb_serial
            .clone()
            .or_else(|| depth_fn.usb_serial.clone())
            .unwrap_or_default();
        let depth = Function::open(
            &depth_info,
            depth_fn,
            DEPTH_INTERFACE,
            bulk_address(Endpoint::DepthCommandOut),
            bulk_address(Endpoint::DepthResponseIn),
            bulk_address(Endpoint::DepthStreamIn),
        )?;
        let colour = Function::open(
            &colour_info,
            colour_fn,
            COLOUR_INTERFACE,
            bulk_address(Endpoint::ColourCommandOut),
            bulk_address(Endpoint::ColourResponseIn),
            bulk_address(Endpoint::ImuStreamIn),
        )?;
        Ok(NusbTransport {
            serial,
            depth,
            colour,
            timeout_hint: STREAM_TIMEOUT,
            colour_source: None,
            buffers: BufferPool::for_camera(),
        })
    }

    /// Plugs in this camera's colour (UVC) path, normally the crate's V4L2 colour source
    /// (attached by `Device::open`); without one, [`Transport::start_colour`]
    /// fails with [`Error::Unavailable`].
    pub fn set_colour_source(&mut self, source: Box<dyn ColourSource>) {
        self.colour_source = Some(source);
    }

    fn no_colour_source(&self, what: &str) -> Error {
        Error::Unavailable {
            what: format!(
                "{what} for camera {}: colour needs the V4L2 path, which is not plugged \
                 into this transport (`colour::source::attach`; `Device::open` does it)",
                self.serial
            ),
        }
    }

    pub fn depth_function(&self) -> &FunctionInfo {
        &self.depth.info
    }

    pub fn colour_function(&self) -> &FunctionInfo {
        &self.colour.info
    }

    /// Arms the raw depth stream on 0x83 for `mode` (send the depth start sequence first).
    pub fn depth_stream(&mut self, mode: SensorMode) -> Result<DepthStreamReader, Error> {
        let endpoint = self.depth.stream_endpoint()?;
        let request_len = in_transfer_len(mode.raw_frame_size(), endpoint.max_packet_size());
        let limit = pool_limit();
        let transfers = depth_transfers_in_flight(request_len, limit);
        if transfers == 0 {
            return Err(Error::PoolTooSmall {
                serial: Some(self.serial.clone()),
                request_len,
                pool_limit: limit,
            });
        }
        Ok(DepthStreamReader {
            stream: Stream::arm(
                endpoint,
                Endpoint::DepthStreamIn,
                request_len,
                transfers,
                self.timeout_hint,
                self.owner(&self.depth.info),
            ),
            framer: DepthFramer::new(mode.raw_frame_size(), self.buffers.clone()),
            ready: VecDeque::new(),
        })
    }

    /// Arms the IMU stream on 0x82 (send IMU_STREAM_START first).
    pub fn imu_stream(&mut self) -> Result<ImuStreamReader, Error> {
        let endpoint = self.colour.stream_endpoint()?;
        let request_len = in_transfer_len(IMU_PACKET_MAX_LEN, endpoint.max_packet_size());
        Ok(ImuStreamReader {
            stream: Stream::arm(
                endpoint,
                Endpoint::ImuStreamIn,
                request_len,
                IMU_TRANSFERS,
                self.timeout_hint,
                self.owner(&self.colour.info),
            ),
            framer: ImuFramer::new(),
            ready: VecDeque::new(),
        })
    }

    fn owner(&self, function: &FunctionInfo) -> Owner {
        Owner {
            bus: function.bus,
            address: function.address,
            serial: self.serial.clone(),
            buffers: self.buffers.clone(),
        }
    }

    fn function(&mut self, endpoint: Endpoint) -> &mut Function {
        match endpoint.mcu() {
            k4sync_core::wire::command::Mcu::Depth => &mut self.depth,
            k4sync_core::wire::command::Mcu::Colour => &mut self.colour,
        }
    }
}

impl Transport for NusbTransport {
    fn usb_serial(&self) -> &str {
        &self.serial
    }

    fn open_stream(
        &mut self,
        endpoint: Endpoint,
        transfer_len: usize,
        in_flight: usize,
    ) -> Result<Box<dyn StreamIn>, Error> {
        if !matches!(endpoint, Endpoint::DepthStreamIn | Endpoint::ImuStreamIn) {
            return Err(Error::Unavailable {
                what: format!("streaming on {endpoint}"),
            });
        }
        let timeout = self.timeout_hint;
        let info = self.function(endpoint).info.clone();
        let owner = self.owner(&info);
        let ep = self.function(endpoint).stream_endpoint()?;
        let request_len = in_transfer_len(transfer_len, ep.max_packet_size());
        Ok(Box::new(Stream::arm(
            ep,
            endpoint,
            request_len,
            in_flight,
            timeout,
            owner,
        )))
    }

    fn set_colour_controls(&mut self, controls: ColourControls) -> Result<ColourControls, Error> {
        match self.colour_source.as_mut() {
            Some(source) => source.set_controls(controls),
            None => Err(self.no_colour_source("colour controls")),
        }
    }

    fn start_colour(&mut self, mode: ColourMode) -> Result<Box<dyn ColourStream>, Error> {
        match self.colour_source.as_mut() {
            Some(source) => source.start(mode, &self.buffers),
            None => Err(self.no_colour_source("colour")),
        }
    }

    fn buffers(&self) -> Arc<BufferPool> {
        self.buffers.clone()
    }

    fn max_packet_size(&self, endpoint: Endpoint) -> usize {
        let function = match endpoint.mcu() {
            k4sync_core::wire::command::Mcu::Depth => &self.depth,
            k4sync_core::wire::command::Mcu::Colour => &self.colour,
        };
        if endpoint == Endpoint::response_in(endpoint.mcu()) {
            return function.response_in.max_packet_size();
        }
        if endpoint == Endpoint::command_out(endpoint.mcu()) {
            return function.command_out.max_packet_size();
        }
        endpoint
            .address()
            .and_then(|address| function.descriptor_max_packet(address))
            .unwrap_or(1024)
    }

    fn bulk_out(
        &mut self,
        endpoint: Endpoint,
        data: &[u8],
        timeout: Duration,
    ) -> Result<(), TransferError> {
        if endpoint != Endpoint::command_out(endpoint.mcu()) {
            return Err(TransferError::Io {
                endpoint,
                message: "not an OUT endpoint".into(),
            });
        }
        let function = self.function(endpoint);
        let (bus, address) = (function.info.bus, function.info.address);
        let (completion, timed_out) = blocking_transfer(
            &mut function.command_out,
            Buffer::from(data.to_vec()),
            timeout,
        );
        let result = completion.status.map_err(|e| {
            map_transfer_error(e, endpoint, timeout, timed_out, || {
                still_enumerated(bus, address)
            })
        });
        if let Err(TransferError::Stall { .. }) = result {
            log_clear_halt(endpoint, function.command_out.clear_halt().wait());
        }
        result
    }

    fn bulk_in(
        &mut self,
        endpoint: Endpoint,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransferError> {
        let function = self.function(endpoint);
        let (bus, address) = (function.info.bus, function.info.address);
        let map = |e| {
            map_transfer_error(e, endpoint, timeout, false, || {
                still_enumerated(bus, address)
            })
        };
        let (completion, timed_out) = if endpoint == Endpoint::response_in(endpoint.mcu()) {
            let len = in_transfer_len(buf.len(), function.response_in.max_packet_size());
            blocking_transfer(&mut function.response_in, Buffer::new(len), timeout)
        } else {
            let mut stream = function.stream_endpoint().map_err(|e| TransferError::Io {
                endpoint,
                message: e.to_string(),
            })?;
            let len = in_transfer_len(buf.len(), stream.max_packet_size());
            let result = blocking_transfer(&mut stream, Buffer::new(len), timeout);
            function.stream_in = Some(stream);
            result
        };
        if let Err(e) = completion.status {
            let error = if timed_out {
                TransferError::Timeout { endpoint, timeout }
            } else {
                map(e)
            };
            if matches!(error, TransferError::Stall { .. }) {
                let function = self.function(endpoint);
                let cleared = if endpoint == Endpoint::response_in(endpoint.mcu()) {
                    function.response_in.clear_halt().wait()
                } else {
                    function
                        .stream_in
                        .as_mut()
                        .map_or(Ok(()), |stream| stream.clear_halt().wait())
                };
                log_clear_halt(endpoint, cleared);
            }
            return Err(error);
        }
        let got = completion.actual_len.min(completion.buffer.len());
        let data = completion.buffer.get(..got).unwrap_or_default();
        let Some(dest) = buf.get_mut(..got) else {
            return Err(TransferError::Overflow {
                endpoint,
                capacity: buf.len(),
                got,
            });
        };
        dest.copy_from_slice(data);
        Ok(got)
    }
}

/// A stalled endpoint stays halted on both sides until the host clears it; the stall is
/// reported to the caller once and the next transaction starts on a working endpoint.
fn log_clear_halt(endpoint: Endpoint, cleared: Result<(), ::nusb::Error>) {
    if let Err(e) = cleared {
        log::warn!("{endpoint}: clearing the halt after a stall failed: {e}");
    }
}

/// Submits one transfer and waits for it; on timeout cancels it and waits for the
/// cancellation, so nothing is left pending. Returns the completion and whether it timed out.
fn blocking_transfer<Dir: ::nusb::transfer::EndpointDirection>(
    endpoint: &mut ::nusb::Endpoint<Bulk, Dir>,
    buffer: Buffer,
    timeout: Duration,
) -> (Completion, bool) {
    endpoint.submit(buffer);
    if let Some(completion) = endpoint.wait_next_complete(timeout) {
        return (completion, false);
    }
    endpoint.cancel_all();
    loop {
        if let Some(completion) = endpoint.wait_next_complete(Duration::from_secs(1)) {
            return (completion, true);
        }
        log::warn!("a cancelled USB transfer has not returned yet");
    }
}

/// Transfers kept in flight on one stream endpoint, re-armed as they complete.
struct Stream {
    endpoint: ::nusb::Endpoint<Bulk, In>,
    which: Endpoint,
    request_len: usize,
    /// Transfers the stream keeps in flight, armed again after a cleared halt.
    transfers: usize,
    timeout: Duration,
    owner: Owner,
    last_error: Option<TransferError>,
    /// Completions kept while the transfers behind a stall were cancelled.
    kept: VecDeque<Completed>,
}

/// The camera a stream belongs to: where it is on the bus, its serial, and its buffer pool.
struct Owner {
    bus: u8,
    address: u8,
    serial: String,
    buffers: Arc<BufferPool>,
}

/// One completed stream transfer's bytes.
struct Completed {
    data: Vec<u8>,
    ended: bool,
    at: Instant,
    host_ns: u64,
}

impl Stream {
    fn arm(
        mut endpoint: ::nusb::Endpoint<Bulk, In>,
        which: Endpoint,
        request_len: usize,
        transfers: usize,
        timeout: Duration,
        owner: Owner,
    ) -> Self {
        for _ in 0..transfers {
            let buffer = endpoint.allocate(request_len);
            endpoint.submit(buffer);
        }
        Stream {
            endpoint,
            which,
            request_len,
            transfers,
            timeout,
            owner,
            last_error: None,
            kept: VecDeque::new(),
        }
    }

    /// See [`StreamIn::clear_halt`]. nusb must not clear a halt under pending transfers, so
    /// they are cancelled and waited for first (at most 2 s, as on drop).
    fn clear_halt(&mut self) -> Result<(), TransferError> {
        self.endpoint.cancel_all();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.endpoint.pending() > 0 && Instant::now() < deadline {
            let Some(completion) = self.endpoint.wait_next_complete(Duration::from_millis(200))
            else {
                continue;
            };
            if completion.status.is_ok() && completion.actual_len > 0 {
                let got = completion.actual_len.min(completion.buffer.len());
                self.kept.push_back(Completed {
                    data: self
                        .owner
                        .buffers
                        .copy_of(completion.buffer.get(..got).unwrap_or_default()),
                    ended: got < self.request_len,
                    at: Instant::now(),
                    host_ns: monotonic_ns(),
                });
            }
        }
        let (bus, address) = (self.owner.bus, self.owner.address);
        self.endpoint.clear_halt().wait().map_err(|e| {
            if e.kind() == ::nusb::ErrorKind::Disconnected || !still_enumerated(bus, address) {
                TransferError::Disconnected {
                    endpoint: self.which,
                }
            } else {
                TransferError::Io {
                    endpoint: self.which,
                    message: format!("clearing the halt failed: {e}"),
                }
            }
        })?;
        while self.endpoint.pending() < self.transfers {
            let buffer = self.endpoint.allocate(self.request_len);
            self.endpoint.submit(buffer);
        }
        self.last_error = None;
        log::info!(
            "{}: {} halt cleared, stream re-armed",
            self.owner.serial,
            self.which
        );
        Ok(())
    }

    fn error(&self, source: TransferError) -> Error {
        Error::Stream {
            serial: Some(self.owner.serial.clone()),
            source,
        }
    }

    /// Waits up to `timeout` for the next completion and re-arms its transfer. A timeout
    /// leaves the transfers armed; a failed transfer is retired and its error returned; with
    /// none left in flight the last retirement's error is returned again.
    fn next_completion(&mut self, timeout: Duration) -> Result<Completed, TransferError> {
        if let Some(kept) = self.kept.pop_front() {
            return Ok(kept);
        }
        if self.endpoint.pending() == 0 {
            return Err(self.last_error.clone().unwrap_or(TransferError::Io {
                endpoint: self.which,
                message: "no transfer left in flight".into(),
            }));
        }
        let Some(completion) = self.endpoint.wait_next_complete(timeout) else {
            return Err(TransferError::Timeout {
                endpoint: self.which,
                timeout,
            });
        };
        let (at, host_ns) = (Instant::now(), monotonic_ns());
        match completion.status {
            Ok(()) => {
                let got = completion.actual_len.min(completion.buffer.len());
                let data = self
                    .owner
                    .buffers
                    .copy_of(completion.buffer.get(..got).unwrap_or_default());
                let ended = got < self.request_len;
                let mut buffer = completion.buffer;
                buffer.clear();
                buffer.set_requested_len(self.request_len);
                self.endpoint.submit(buffer);
                Ok(Completed {
                    data,
                    ended,
                    at,
                    host_ns,
                })
            }
            Err(e) => {
                let (bus, address) = (self.owner.bus, self.owner.address);
                let mapped = map_transfer_error(e, self.which, self.timeout, false, || {
                    still_enumerated(bus, address)
                });
                log::warn!("{}: stream transfer retired: {mapped}", self.owner.serial);
                self.last_error = Some(mapped.clone());
                Err(mapped)
            }
        }
    }

    /// [`Self::next_completion`] with the stream's own timeout, for the readers below:
    /// `Ok(None)` when a transfer was retired but others remain.
    fn next_chunk(&mut self) -> Result<Option<Completed>, Error> {
        match self.next_completion(self.timeout) {
            Ok(chunk) => Ok(Some(chunk)),
            Err(e) if e.is_timeout() || matches!(e, TransferError::Disconnected { .. }) => {
                Err(self.error(e))
            }
            Err(e) if self.endpoint.pending() == 0 => Err(self.error(e)),
            Err(_) => Ok(None),
        }
    }

    fn in_flight(&self) -> usize {
        self.endpoint.pending()
    }
}

impl StreamIn for Stream {
    fn endpoint(&self) -> Endpoint {
        self.which
    }

    fn next_chunk(&mut self, timeout: Duration) -> Result<Chunk, TransferError> {
        self.next_completion(timeout).map(|c| Chunk {
            bytes: c.data,
            ended_short: c.ended,
            host_ns: c.host_ns,
        })
    }

    fn in_flight(&self) -> usize {
        self.endpoint.pending()
    }

    fn clear_halt(&mut self) -> Result<(), TransferError> {
        Stream::clear_halt(self)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.endpoint.cancel_all();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.endpoint.pending() > 0 && Instant::now() < deadline {
            let _ = self.endpoint.wait_next_complete(Duration::from_millis(200));
        }
    }
}

/// A raw depth frame with the host time its last transfer completed (§3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDepthFrame {
    pub data: Vec<u8>,
    pub host_time: Instant,
}

/// Raw depth frames from EP 0x83. Dropping it cancels the transfers (do that before
/// DEPTH_STREAM_STOP, §3.4).
pub struct DepthStreamReader {
    stream: Stream,
    framer: DepthFramer,
    ready: VecDeque<RawDepthFrame>,
}

impl DepthStreamReader {
    /// The next whole frame. A [`TransferError::Timeout`] inside [`Error::Stream`] is
    /// recoverable: call again.
    pub fn next_frame(&mut self) -> Result<RawDepthFrame, Error> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(frame);
            }
            match self.stream.next_chunk()? {
                Some(chunk) => {
                    if let Some(data) = self.framer.push(&chunk.data, chunk.ended) {
                        self.ready.push_back(RawDepthFrame {
                            data,
                            host_time: chunk.at,
                        });
                    }
                }
                None => self.framer.reset(),
            }
        }
    }

    pub fn transfers_in_flight(&self) -> usize {
        self.stream.in_flight()
    }

    /// Device writes dropped for not being one whole frame.
    pub fn dropped(&self) -> usize {
        self.framer.dropped()
    }
}

/// IMU packets from EP 0x82, each exactly 28 + 14 × (G + A) bytes. Dropping it cancels the
/// transfers (do that before IMU_STREAM_STOP, §4.4).
pub struct ImuStreamReader {
    stream: Stream,
    framer: ImuFramer,
    ready: VecDeque<Vec<u8>>,
}

impl ImuStreamReader {
    /// The next whole IMU packet; timeouts are recoverable as for depth.
    pub fn next_packet(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(packet) = self.ready.pop_front() {
                return Ok(packet);
            }
            match self.stream.next_chunk()? {
                Some(chunk) => {
                    let mut out = Vec::new();
                    self.framer.push(&chunk.data, chunk.ended, &mut out);
                    self.ready.extend(out);
                }
                None => self.framer.reset(),
            }
        }
    }

    pub fn transfers_in_flight(&self) -> usize {
        self.stream.in_flight()
    }

    pub fn dropped(&self) -> usize {
        self.framer.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(address: u8, ports: &[u8], container: Option<u8>) -> FunctionInfo {
        FunctionInfo {
            product_id: DEPTH_PRODUCT_ID,
            bus: 2,
            address,
            bus_id: "2".into(),
            port_chain: ports.to_vec(),
            usb_serial: None,
            speed: Some(Speed::Super),
            container_id: container.map(|b| [b; 16]),
        }
    }

    fn bos_with_container(id: [u8; 16]) -> Vec<u8> {
        let mut bos = vec![5, 0x0F, 0, 0, 2];
        bos.extend_from_slice(&[7, 0x10, 0x02, 0x06, 0, 0, 0]);
        bos.extend_from_slice(&[20, 0x10, 0x04, 0]);
        bos.extend_from_slice(&id);
        let total = bos.len() as u16;
        bos[2..4].copy_from_slice(&total.to_le_bytes());
        bos
    }

    #[test]
    fn container_id_is_found_after_other_capabilities() {
        let id: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(container_id_from_bos(&bos_with_container(id)), Some(id));
    }

    #[test]
    fn container_id_parse_rejects_truncated_or_foreign_descriptors() {
        let bos = bos_with_container([9; 16]);
        for cut in 0..bos.len() {
            assert_eq!(container_id_from_bos(&bos[..cut]), None, "cut at {cut}");
        }
        let mut wrong_type = bos.clone();
        wrong_type[1] = 0x02;
        assert_eq!(container_id_from_bos(&wrong_type), None);
        let mut zero_len = bos;
        zero_len[5] = 0;
        assert_eq!(container_id_from_bos(&zero_len), None);
    }

    #[test]
    fn functions_pair_by_container_id_across_hubs() {
        let depth = [function(5, &[1, 1], Some(1)), function(9, &[3, 1], Some(2))];
        let colour = [
            function(10, &[3, 2], Some(1)),
            function(6, &[1, 2], Some(2)),
        ];
        let cameras = pair_functions(&depth, &colour);
        assert_eq!(cameras.len(), 2);
        assert_eq!(cameras[0].colour.as_ref().map(|c| c.address), Some(10));
        assert_eq!(cameras[0].paired_by, PairedBy::ContainerId);
        assert_eq!(cameras[1].colour.as_ref().map(|c| c.address), Some(6));
    }

    #[test]
    fn functions_without_container_id_pair_by_parent_hub() {
        let depth = [function(5, &[1, 1], None), function(9, &[3, 1], None)];
        let colour = [function(10, &[3, 2], None), function(6, &[1, 2], None)];
        let cameras = pair_functions(&depth, &colour);
        assert_eq!(cameras[0].colour.as_ref().map(|c| c.address), Some(6));
        assert_eq!(cameras[1].colour.as_ref().map(|c| c.address), Some(10));
        assert!(cameras.iter().all(|c| c.paired_by == PairedBy::ParentHub));
    }

    #[test]
    fn different_known_container_ids_never_pair_by_hub_and_leftovers_stand_alone() {
        let depth = [function(5, &[1, 1], Some(1))];
        let colour = [function(6, &[1, 2], Some(2))];
        let cameras = pair_functions(&depth, &colour);
        assert_eq!(cameras.len(), 2);
        assert!(cameras.iter().all(|c| c.paired_by == PairedBy::Unpaired));
        assert!(cameras[0].colour.is_none());
        assert!(cameras[1].depth.is_none());
    }

    #[test]
    fn functions_on_different_buses_without_container_id_pair_by_equal_usb_serial() {
        let with_serial = |mut f: FunctionInfo, bus: &str, serial: &str| {
            f.bus_id = bus.into();
            f.usb_serial = Some(serial.into());
            f
        };
        let depth = [
            with_serial(function(2, &[1], None), "2", "000000000001"),
            with_serial(function(2, &[1], None), "6", "000000000002"),
        ];
        let colour = [
            with_serial(function(2, &[1], None), "8", "000000000002"),
            with_serial(function(2, &[1], None), "4", "000000000001"),
        ];
        let cameras = pair_functions(&depth, &colour);
        assert_eq!(cameras.len(), 2);
        assert!(cameras.iter().all(|c| c.paired_by == PairedBy::UsbSerial));
        assert_eq!(cameras[0].colour.as_ref().unwrap().bus_id, "4");
        assert_eq!(cameras[1].colour.as_ref().unwrap().bus_id, "8");

        let known = [with_serial(function(2, &[1], Some(1)), "2", "000000000001")];
        let other = [with_serial(function(2, &[1], None), "4", "000000000001")];
        assert!(pair_functions(&known, &other)
            .iter()
            .all(|c| c.paired_by == PairedBy::Unpaired));
    }

    #[test]
    fn fault_is_a_disconnection_only_when_the_device_is_gone() {
        let ep = Endpoint::DepthStreamIn;
        let t = Duration::from_millis(2000);
        assert_eq!(
            map_transfer_error(UsbTransferError::Fault, ep, t, false, || false),
            TransferError::Disconnected { endpoint: ep }
        );
        assert!(matches!(
            map_transfer_error(UsbTransferError::Fault, ep, t, false, || true),
            TransferError::Io { .. }
        ));
    }

    #[test]
    fn nusb_errors_map_to_transfer_errors() {
        let ep = Endpoint::ColourResponseIn;
        let t = Duration::from_millis(2000);
        let never = || panic!("enumeration must only be asked about faults");
        assert_eq!(
            map_transfer_error(UsbTransferError::Cancelled, ep, t, true, never),
            TransferError::Timeout {
                endpoint: ep,
                timeout: t
            }
        );
        assert_eq!(
            map_transfer_error(UsbTransferError::Stall, ep, t, false, never),
            TransferError::Stall { endpoint: ep }
        );
        assert_eq!(
            map_transfer_error(UsbTransferError::Disconnected, ep, t, false, never),
            TransferError::Disconnected { endpoint: ep }
        );
        for e in [
            UsbTransferError::Cancelled,
            UsbTransferError::InvalidArgument,
            UsbTransferError::Unknown(71),
        ] {
            assert!(matches!(
                map_transfer_error(e, ep, t, false, never),
                TransferError::Io { .. }
            ));
        }
    }

    #[test]
    fn claim_is_retried_only_for_retryable_errors_and_within_the_bound() {
        let mut calls = 0;
        let mut pauses = 0;
        let result: Result<(), &str> = retry_claim(
            100,
            CLAIM_RETRY_INTERVAL,
            || {
                calls += 1;
                if calls < 3 {
                    Err("not found")
                } else {
                    Ok(())
                }
            },
            |e| *e == "not found",
            |_| pauses += 1,
        );
        assert_eq!((result, calls, pauses), (Ok(()), 3, 2));

        let mut calls = 0;
        let result: Result<(), &str> = retry_claim(
            100,
            CLAIM_RETRY_INTERVAL,
            || {
                calls += 1;
                Err("not found")
            },
            |_| true,
            |_| {},
        );
        assert_eq!((result, calls), (Err("not found"), 100));

        let mut calls = 0;
        let result: Result<(), &str> = retry_claim(
            100,
            CLAIM_RETRY_INTERVAL,
            || {
                calls += 1;
                Err("permission denied")
            },
            |e| *e == "not found",
            |_| {},
        );
        assert_eq!((result, calls), (Err("permission denied"), 1));
    }
}
