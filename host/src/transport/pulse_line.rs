//! A sync cable between emulated cameras of different processes: test plumbing for a rig of
//! separate `k4sync agent --emulate` processes on one computer (also across its network
//! namespaces), not part of the rig's control plane.
//!
//! The upstream camera's Sync Out pulses leave as datagrams on a Unix socket that the
//! downstream process binds; each carries the instant of its pulse as nanoseconds of the
//! system's realtime clock, which every process of one computer reads alike (network
//! namespaces separate neither clocks nor filesystem sockets). The receiver maps that instant
//! onto its own emulator clock. A pulse sent while nobody listens is lost, as on a cable whose
//! other end is unplugged or switched off, so the semantics of a real chain hold across
//! processes: a subordinate produces nothing until pulses arrive, one started after the master
//! misses the first pulses, and a restarted one comes back on a re-zeroed clock.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of one pulse datagram: the instant, ns since the Unix epoch, little-endian.
const PULSE_LEN: usize = 8;

/// The realtime clock now, ns since the Unix epoch.
pub fn wall_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The sending end: a camera's Sync Out.
#[derive(Debug)]
pub struct PulseSender {
    socket: UnixDatagram,
    to: PathBuf,
}

impl PulseSender {
    /// Pulses will go to the socket at `to`, whether or not anyone binds it yet.
    pub fn new(to: &Path) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(PulseSender {
            socket,
            to: to.to_owned(),
        })
    }

    /// Sends one pulse; a missing or full receiver loses it (nobody is listening).
    pub fn send(&self, wall_ns: u64) {
        let _ = self.socket.send_to(&wall_ns.to_le_bytes(), &self.to);
    }
}

/// The receiving end: a camera's Sync In, bound at a path; the path is removed when dropped.
#[derive(Debug)]
pub struct PulseReceiver {
    socket: UnixDatagram,
    path: PathBuf,
}

impl PulseReceiver {
    /// Binds the socket at `path`, replacing a socket file a previous run left there.
    pub fn bind(path: &Path) -> io::Result<Self> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if is_socket(&meta) => std::fs::remove_file(path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ))
            }
            Err(_) => {}
        }
        let socket = UnixDatagram::bind(path)?;
        socket.set_nonblocking(true)?;
        Ok(PulseReceiver {
            socket,
            path: path.to_owned(),
        })
    }

    /// Every pulse received since the last call, oldest first; malformed datagrams are
    /// skipped.
    pub fn drain(&self) -> Vec<u64> {
        let mut pulses = Vec::new();
        let mut buf = [0u8; PULSE_LEN + 1];
        while let Ok(n) = self.socket.recv(&mut buf) {
            if let Some(bytes) = buf
                .get(..n)
                .and_then(|b| <[u8; PULSE_LEN]>::try_from(b).ok())
            {
                pulses.push(u64::from_le_bytes(bytes));
            }
        }
        pulses
    }
}

fn is_socket(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_socket()
}

impl Drop for PulseReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_arrive_in_order_and_a_pulse_without_listener_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync-in");
        let sender = PulseSender::new(&path).unwrap();
        sender.send(1);
        let receiver = PulseReceiver::bind(&path).unwrap();
        assert!(receiver.drain().is_empty(), "sent before anyone listened");
        for t in [10, 20, 30] {
            sender.send(t);
        }
        let _ = sender.socket.send_to(b"short", &path);
        assert_eq!(receiver.drain(), [10, 20, 30]);
        drop(receiver);
        assert!(!path.exists(), "the socket file goes with its receiver");
        let again = PulseReceiver::bind(&path).unwrap();
        sender.send(40);
        assert_eq!(again.drain(), [40]);
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"keep me").unwrap();
        let e = PulseReceiver::bind(&path).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }
}
