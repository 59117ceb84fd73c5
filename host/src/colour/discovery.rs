//! Finding a camera's V4L2 nodes through sysfs (reference §1.3, §5).
//!
//! `/sys/class/video4linux/videoN/device` links to the USB interface the node belongs to
//! (uvcvideo hangs both of a camera's nodes off its video control interface); that interface's
//! parent directory is the USB device, named by its bus path (`2-1.3`) and holding its
//! `idVendor`, `idProduct` and `serial` files. A colour function matches a selector by bus path
//! or by `serial`, which §1.3 makes equal to the depth MCU's serial. Of the nodes on one
//! function, the lowest `index` is the video capture node and the next one the metadata node;
//! opening them confirms the capabilities (V4L2_CAP_VIDEO_CAPTURE / V4L2_CAP_META_CAPTURE).
//!
//! The sysfs and /dev roots are parameters ([`SysfsRoots`]; `K4SYNC_SYSFS_ROOT` overrides the
//! sysfs one) so the walk is tested on a fake tree.

use std::fs;
use std::path::{Path, PathBuf};

use k4sync_core::wire::usb::{COLOUR_PRODUCT_ID, VENDOR_ID};

/// Environment variable naming another sysfs root (tests, containers).
pub const SYSFS_ROOT_ENV: &str = "K4SYNC_SYSFS_ROOT";

/// Where sysfs and the device nodes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsRoots {
    pub sysfs: PathBuf,
    pub dev: PathBuf,
}

impl SysfsRoots {
    /// `/sys` (or `$K4SYNC_SYSFS_ROOT`) and `/dev`.
    pub fn from_env() -> Self {
        SysfsRoots {
            sysfs: std::env::var_os(SYSFS_ROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/sys")),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// One V4L2 node of a USB video function as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoNode {
    /// `videoN`.
    pub name: String,
    /// The device node, `/dev/videoN`.
    pub dev_path: PathBuf,
    /// The node's `index` among its function's nodes (0 = capture on uvcvideo).
    pub index: u32,
    /// The USB device's bus path, e.g. `2-1.3`.
    pub usb_path: String,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
    pub usb_serial: Option<String>,
}

impl VideoNode {
    /// Whether the node sits on an Azure Kinect colour function (045E:097D).
    pub fn is_kinect_colour(&self) -> bool {
        self.vendor_id == Some(VENDOR_ID) && self.product_id == Some(COLOUR_PRODUCT_ID)
    }
}

/// Which camera's colour nodes to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeMatch {
    /// The colour function's USB serial (equal to the camera serial, §1.3).
    Serial(String),
    /// The colour function's USB bus path, as [`FunctionInfo::bus_path`] spells it.
    ///
    /// [`FunctionInfo::bus_path`]: crate::transport::nusb::FunctionInfo::bus_path
    UsbPath(String),
    /// The first Azure Kinect colour function found.
    Any,
}

impl NodeMatch {
    fn matches(&self, node: &VideoNode) -> bool {
        match self {
            NodeMatch::Serial(serial) => node.usb_serial.as_deref() == Some(serial.as_str()),
            NodeMatch::UsbPath(path) => &node.usb_path == path,
            NodeMatch::Any => node.is_kinect_colour(),
        }
    }
}

/// A camera's capture node and, when the kernel made one, its metadata node candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColourNodes {
    pub capture: VideoNode,
    pub metadata: Option<VideoNode>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn read_hex_u16(path: &Path) -> Option<u16> {
    u16::from_str_radix(&read_trimmed(path)?, 16).ok()
}

/// Every V4L2 node under `roots` that sits on a USB interface, sorted by bus path and index.
pub fn video_nodes(roots: &SysfsRoots) -> std::io::Result<Vec<VideoNode>> {
    let class = roots.sysfs.join("class/video4linux");
    let mut nodes = Vec::new();
    for entry in fs::read_dir(&class)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("video") {
            continue;
        }
        if let Some(node) = describe(roots, &entry.path(), name) {
            nodes.push(node);
        }
    }
    nodes.sort_by(|a, b| {
        (a.usb_path.as_str(), a.index, a.name.as_str()).cmp(&(
            b.usb_path.as_str(),
            b.index,
            b.name.as_str(),
        ))
    });
    Ok(nodes)
}

fn describe(roots: &SysfsRoots, class_entry: &Path, name: String) -> Option<VideoNode> {
    let interface = fs::canonicalize(class_entry.join("device")).ok()?;
    let interface_name = interface.file_name()?.to_string_lossy().into_owned();
    let (device_name, _) = interface_name.split_once(':')?;
    let usb_device = interface.parent()?;
    if usb_device.file_name()?.to_string_lossy() != device_name {
        return None;
    }
    let index = read_trimmed(&class_entry.join("index"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some(VideoNode {
        dev_path: roots.dev.join(&name),
        name,
        index,
        usb_path: device_name.to_string(),
        vendor_id: read_hex_u16(&usb_device.join("idVendor")),
        product_id: read_hex_u16(&usb_device.join("idProduct")),
        usb_serial: read_trimmed(&usb_device.join("serial")),
    })
}

/// The capture and metadata nodes of the colour function `wanted` selects, from `nodes`
/// (as [`video_nodes`] returns them).
pub fn colour_nodes(nodes: &[VideoNode], wanted: &NodeMatch) -> Option<ColourNodes> {
    let capture = nodes.iter().find(|n| wanted.matches(n))?.clone();
    let metadata = nodes
        .iter()
        .find(|n| n.usb_path == capture.usb_path && n.index > capture.index)
        .cloned();
    Some(ColourNodes { capture, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct FakeUsb<'a> {
        path: &'a str,
        product: &'a str,
        serial: Option<&'a str>,
        nodes: &'a [(&'a str, u32)],
    }

    fn build(root: &Path, devices: &[FakeUsb<'_>]) {
        let class = root.join("class/video4linux");
        fs::create_dir_all(&class).unwrap();
        for d in devices {
            let bus = d.path.split('-').next().unwrap();
            let dev = root
                .join("devices/pci0000:00/0000:00:14.0")
                .join(format!("usb{bus}"))
                .join(d.path);
            let interface = dev.join(format!("{}:1.0", d.path));
            fs::create_dir_all(&interface).unwrap();
            fs::write(dev.join("idVendor"), "045e\n").unwrap();
            fs::write(dev.join("idProduct"), format!("{}\n", d.product)).unwrap();
            if let Some(serial) = d.serial {
                fs::write(dev.join("serial"), format!("{serial}\n")).unwrap();
            }
            for (name, index) in d.nodes {
                let node = interface.join("video4linux").join(name);
                fs::create_dir_all(&node).unwrap();
                fs::write(node.join("index"), format!("{index}\n")).unwrap();
                symlink(&interface, node.join("device")).unwrap();
                symlink(&node, class.join(name)).unwrap();
            }
        }
        fs::create_dir_all(class.join("video9")).unwrap();
    }

    fn roots(dir: &Path) -> SysfsRoots {
        SysfsRoots {
            sysfs: dir.to_path_buf(),
            dev: PathBuf::from("/dev"),
        }
    }

    fn two_cameras() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        build(
            dir.path(),
            &[
                FakeUsb {
                    path: "2-1.3",
                    product: "097d",
                    serial: Some("000019484312"),
                    nodes: &[("video3", 1), ("video2", 0)],
                },
                FakeUsb {
                    path: "2-2",
                    product: "097d",
                    serial: Some("000123456712"),
                    nodes: &[("video4", 0)],
                },
                FakeUsb {
                    path: "1-4",
                    product: "0779",
                    serial: None,
                    nodes: &[("video0", 0), ("video1", 1)],
                },
            ],
        );
        dir
    }

    #[test]
    fn serial_selects_the_capture_node_and_its_metadata_sibling() {
        let dir = two_cameras();
        let nodes = video_nodes(&roots(dir.path())).unwrap();
        let found = colour_nodes(&nodes, &NodeMatch::Serial("000019484312".into())).unwrap();
        assert_eq!(found.capture.name, "video2");
        assert_eq!(found.capture.dev_path, PathBuf::from("/dev/video2"));
        assert_eq!(found.capture.usb_path, "2-1.3");
        assert!(found.capture.is_kinect_colour());
        assert_eq!(found.metadata.unwrap().name, "video3");
    }

    #[test]
    fn usb_path_selects_a_camera_without_metadata_node() {
        let dir = two_cameras();
        let nodes = video_nodes(&roots(dir.path())).unwrap();
        let found = colour_nodes(&nodes, &NodeMatch::UsbPath("2-2".into())).unwrap();
        assert_eq!(found.capture.name, "video4");
        assert_eq!(found.capture.usb_serial.as_deref(), Some("000123456712"));
        assert_eq!(found.metadata, None);
    }

    #[test]
    fn any_skips_other_vendors_cameras_and_nodes_without_usb_device() {
        let dir = two_cameras();
        let nodes = video_nodes(&roots(dir.path())).unwrap();
        assert_eq!(nodes.len(), 5, "{nodes:?}");
        let found = colour_nodes(&nodes, &NodeMatch::Any).unwrap();
        assert_eq!(found.capture.usb_path, "2-1.3");
    }

    #[test]
    fn unknown_serial_finds_nothing() {
        let dir = two_cameras();
        let nodes = video_nodes(&roots(dir.path())).unwrap();
        assert_eq!(colour_nodes(&nodes, &NodeMatch::Serial("1".into())), None);
    }

    #[test]
    fn missing_video4linux_class_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(video_nodes(&roots(dir.path())).is_err());
    }
}
