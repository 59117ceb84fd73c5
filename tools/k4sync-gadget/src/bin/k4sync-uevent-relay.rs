//! `k4sync-uevent-relay`: re-broadcasts the kernel's uevents (netlink group 1) in udev's
//! format on udev's group (2), the only group nusb's hotplug watcher listens to
//! (nusb-on-linux fact 3). For the test VM, whose initramfs has no udevd.

use std::process::ExitCode;

/// libudev's monitor header ("libudev\0", magic 0xfeedcafe big-endian, header size, then
/// properties offset and length, native-endian, four zero filter words) followed by the
/// KEY=VALUE properties of the kernel message (which start after its "ACTION@DEVPATH\0").
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn udev_message(kernel_message: &[u8]) -> Option<Vec<u8>> {
    const HEADER_LEN: usize = 40;
    let start = kernel_message.iter().position(|&b| b == 0)? + 1;
    let properties = kernel_message.get(start..)?;
    let mut message = Vec::with_capacity(HEADER_LEN + properties.len());
    message.extend_from_slice(b"libudev\0");
    message.extend_from_slice(&0xfeed_cafe_u32.to_be_bytes());
    for word in [HEADER_LEN, HEADER_LEN, properties.len()] {
        message.extend_from_slice(&(word as u32).to_ne_bytes());
    }
    message.resize(HEADER_LEN, 0);
    message.extend_from_slice(properties);
    Some(message)
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    use std::mem::MaybeUninit;

    use rustix::net::netlink::{self, SocketAddrNetlink};
    use rustix::net::{
        bind, recv, sendto, socket_with, AddressFamily, RecvFlags, SendFlags, SocketFlags,
        SocketType,
    };

    const KERNEL_GROUP: u32 = 1;
    const UDEV_GROUP: u32 = 2;

    let socket = || {
        socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::KOBJECT_UEVENT),
        )
    };
    let (Ok(listen), Ok(send)) = (socket(), socket()) else {
        eprintln!("k4sync-uevent-relay: cannot open netlink sockets");
        return ExitCode::FAILURE;
    };
    if let Err(e) = bind(&listen, &SocketAddrNetlink::new(0, KERNEL_GROUP)) {
        eprintln!("k4sync-uevent-relay: cannot join the kernel uevent group: {e}");
        return ExitCode::FAILURE;
    }
    let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    loop {
        let Ok(((received, _), _)) = recv(&listen, &mut buf, RecvFlags::empty()) else {
            continue;
        };
        if let Some(message) = udev_message(received) {
            let _ = sendto(
                &send,
                &message,
                SendFlags::empty(),
                &SocketAddrNetlink::new(0, UDEV_GROUP),
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!("k4sync-uevent-relay: netlink uevents exist only on Linux");
    ExitCode::from(2)
}
