//! What the dashboard's tests share: an emulated rig with its dashboard on a runtime of its
//! own, and a plain HTTP/1.0 client (close-delimited bodies, so server-sent events arrive as
//! written) that the test thread drives while the runtime serves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    reason = "shared by several test binaries, each using a different part"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use k4sync_core::sync::config::DeviceConfig;
use k4sync_core::sync::plan::Interleave;
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps};
use k4sync_rig::agent::TakeLayout;
use k4sync_rig::coordinator::{Coordinator, RigSettings};
use k4sync_rig::dashboard::{Dashboard, DashboardOptions};
use k4sync_rig::emulate::EmulatedRig;
use k4sync_rig::Pacing;
use serde_json::Value;

/// `rig record --emulate`'s modes: 720p MJPG, passive IR, 15 fps, delays interleaved.
pub fn emulated_settings(depth: DepthMode, fps: Fps) -> RigSettings {
    RigSettings {
        config: DeviceConfig {
            color_resolution: ColorResolution::R720p,
            color_format: ColorFormat::Mjpg,
            depth_mode: depth,
            fps,
            ..DeviceConfig::default()
        },
        exposure: Some(-6),
        interleave: Interleave::SubordinateDelay,
    }
}

/// An emulated rig of `cameras`, paced by `pacing`, with its dashboard on `listen`.
pub struct TestRig {
    pub runtime: tokio::runtime::Runtime,
    pub rig: Option<EmulatedRig>,
    pub coordinator: Option<Arc<Coordinator>>,
    pub dashboard: Option<Dashboard>,
    pub out: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestRig {
    pub fn start(cameras: u32, pacing: Pacing, listen: &str, settings: RigSettings) -> TestRig {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("takes");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listen: SocketAddr = listen.parse().unwrap();
        let (rig, coordinator, dashboard) = runtime.block_on(async {
            let rig = EmulatedRig::start(cameras, &out, TakeLayout::PerTake, pacing)
                .await
                .unwrap();
            let coordinator = Arc::new(
                Coordinator::connect(rig.rig_dir(), Duration::from_secs(10))
                    .await
                    .unwrap(),
            );
            let dashboard = Dashboard::start(
                coordinator.clone(),
                DashboardOptions {
                    listen,
                    token: None,
                    out_dir: out.clone(),
                    settings,
                },
            )
            .await
            .unwrap();
            (rig, coordinator, dashboard)
        });
        TestRig {
            runtime,
            rig: Some(rig),
            coordinator: Some(coordinator),
            dashboard: Some(dashboard),
            out,
            _dir: dir,
        }
    }

    pub fn dashboard(&self) -> &Dashboard {
        self.dashboard.as_ref().unwrap()
    }

    /// Where to connect: the dashboard's port on loopback.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.dashboard().local_addr().port()))
    }

    pub fn close(mut self) {
        let (dashboard, coordinator, rig) = (
            self.dashboard.take().unwrap(),
            self.coordinator.take().unwrap(),
            self.rig.take().unwrap(),
        );
        self.runtime.block_on(async move {
            dashboard.shutdown().await;
            if let Ok(c) = Arc::try_unwrap(coordinator) {
                c.close().await.unwrap();
            }
            rig.shutdown().await;
        });
    }
}

/// A response: status code and body.
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    if !body.is_empty() {
        request += "Content-Type: application/json\r\n";
    }
    request += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// One request, read to the end.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = send(addr, method, path, headers, body);
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw}"));
    Response {
        status,
        body: body.to_string(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], "")
}

pub fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "POST", path, &[], body)
}

pub fn state(addr: SocketAddr) -> Value {
    let r = get(addr, "/api/state");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// One server-sent event as a client saw it.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub at: Instant,
    pub kind: String,
    pub data: Value,
}

/// Reads `/api/events` on a thread of its own; the events arrive on the channel.
pub fn sse_client(addr: SocketAddr, path: &str) -> mpsc::Receiver<SseEvent> {
    let stream = send(addr, "GET", path, &[], "");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let (mut kind, mut data) = (String::new(), String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(k) = l.strip_prefix("event:") {
                kind = k.trim().to_string();
            } else if let Some(d) = l.strip_prefix("data:") {
                data += d.strip_prefix(' ').unwrap_or(d);
            } else if l.is_empty() && !data.is_empty() {
                let event = SseEvent {
                    at: Instant::now(),
                    kind: std::mem::take(&mut kind),
                    data: serde_json::from_str(&std::mem::take(&mut data)).unwrap_or(Value::Null),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Polls `f` every 100 ms until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The target directory: `CARGO_TARGET_DIR`, else the one holding this test executable.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map_or_else(|| exe.parent().unwrap().to_path_buf(), Path::to_path_buf)
}
