//! The dashboard's fan-out under a full rig, a master and eight subordinates (emulated, in
//! this process, on the emulator's virtual clock: the nine recorders take frames as fast as
//! the machine lets them, colour only so that nine cameras fit a 2-core machine): a reading
//! client gets every device's line at least once a second during a take, each device's clock
//! advances, the take recovers from no fault (passing pulses-lost alarms, raised by arrival
//! while the machine is saturated, are printed), and a client that never reads (a small
//! receive window, then nothing) fills its own bounded queue and no more — the events it
//! cannot take are dropped and counted.
//!
//! Wall-time bounds: listed as threads-required in `.config/nextest.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use k4sync_core::types::{DepthMode, Fps};
use rustix::net::{sockopt, AddressFamily, SocketType};
use serde_json::Value;

use k4sync_rig::Pacing;

mod support;
use support::{emulated_settings, post, sse_client, state, wait_for, TestRig};

const CAMERAS: u32 = 9;
const WINDOW: Duration = Duration::from_secs(8);

/// A client that asks for the event stream with a 4 KiB receive buffer and never reads it.
fn slow_client(addr: SocketAddr) -> TcpStream {
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    rustix::net::connect(&fd, &addr).unwrap();
    let mut stream = TcpStream::from(fd);
    write!(stream, "GET /api/events HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    stream
}

/// Each recording device's newest colour timestamp, µs of its own clock.
fn device_clocks(addr: SocketAddr) -> BTreeMap<String, u64> {
    let s = state(addr);
    s["take"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let at = d["last_colour_usec"].as_u64().unwrap_or(0);
            (d["agent"].as_str().unwrap().to_string(), at)
        })
        .collect()
}

#[test]
fn every_device_is_reported_each_second_and_a_client_that_never_reads_stays_bounded() {
    let rig = TestRig::start(
        CAMERAS,
        Pacing::Virtual,
        "127.0.0.1:0",
        emulated_settings(DepthMode::Off, Fps::Fps15),
    );
    let addr = rig.addr();
    let _slow = slow_client(addr);
    let events = sse_client(addr, "/api/events");
    wait_for(Duration::from_secs(10), "both clients registered", || {
        (state(addr)["clients"].as_array()?.len() == 2).then_some(())
    });

    // Long enough that only the stop below ends it.
    let started = post(
        addr,
        "/api/record",
        r#"{"length_s": 600, "take": "fanout"}"#,
    );
    assert_eq!(started.status, 202, "{}", started.body);
    wait_for(
        Duration::from_secs(60),
        "all nine devices recording",
        || {
            let s = state(addr);
            let devices = s["take"]["devices"].as_array()?.clone();
            (devices.len() == CAMERAS as usize
                && devices
                    .iter()
                    .all(|d| d["frames"].as_u64().unwrap_or(0) > 0))
            .then_some(())
        },
    );

    let from = Instant::now();
    let before = device_clocks(addr);
    std::thread::sleep(WINDOW);
    let after = device_clocks(addr);
    let to = Instant::now();
    for (agent, start) in &before {
        let advanced = after[agent].saturating_sub(*start) as f64 / 1e6;
        eprintln!(
            "{agent}: device clock {advanced:.1} s in {:.1} s of wall time",
            (to - from).as_secs_f64()
        );
        assert!(advanced > 1.0, "{agent} kept recording: {advanced} s");
    }
    let mut per_device: BTreeMap<String, u32> = BTreeMap::new();
    let mut sync_alarms: BTreeMap<String, u32> = BTreeMap::new();
    for e in events.try_iter() {
        if e.kind == "device" && e.at >= from && e.at <= to {
            *per_device
                .entry(e.data["agent"]["name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        if e.kind == "alarm" && e.data["active"] == true {
            *sync_alarms
                .entry(e.data["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    eprintln!("alarms raised under the load: {sync_alarms:?}");
    assert_eq!(sync_alarms.get("off_grid"), None, "no device off the grid");
    let take = state(addr)["take"].clone();
    let recoveries: Vec<&Value> = take["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "recover" || e["event"] == "failed")
        .collect();
    assert!(
        recoveries.is_empty(),
        "load alone is no fault: {recoveries:?}"
    );
    assert_eq!(per_device.len(), CAMERAS as usize, "{per_device:?}");
    let seconds = WINDOW.as_secs() as u32;
    for (agent, count) in &per_device {
        assert!(
            *count >= seconds,
            "{agent}: {count} device events in {seconds} s"
        );
    }

    let capacity = state(addr)["queue_capacity"].as_u64().unwrap();
    let s = wait_for(
        Duration::from_secs(60),
        "events dropped for the client that never reads",
        || {
            let s = state(addr);
            for c in s["clients"].as_array().unwrap() {
                assert!(
                    c["queued"].as_u64().unwrap() <= capacity,
                    "queue beyond its bound: {c}"
                );
            }
            (s["dropped_events"].as_u64().unwrap() > 0).then_some(s)
        },
    );
    let clients = s["clients"].as_array().unwrap();
    let slow = clients
        .iter()
        .find(|c| c["dropped"].as_u64().unwrap() > 0)
        .unwrap();
    assert_eq!(
        slow["queued"].as_u64(),
        Some(capacity),
        "the slow client's queue is full: {slow}"
    );
    let dropped = s["dropped_events"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let s = state(addr);
    let later = s["dropped_events"].as_u64().unwrap();
    assert!(
        later > dropped,
        "drops keep being counted: {dropped} then {later}"
    );
    for c in s["clients"].as_array().unwrap() {
        assert!(c["queued"].as_u64().unwrap() <= capacity, "{c}");
    }
    let fast_ok = events.try_iter().any(|e| e.kind == "device");
    assert!(fast_ok, "the reading client kept receiving meanwhile");

    let stopped = post(addr, "/api/stop", "");
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let ended = Instant::now() + Duration::from_secs(60);
    while state(addr)["take"]["phase"] == "running" {
        assert!(
            Instant::now() < ended,
            "the take did not end within 60 s of the stop: {:#}",
            state(addr)["take"]["events"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    rig.close();
}
