//! The dashboard over HTTP, against an emulated rig: the page and its JSON API on loopback,
//! a take started and stopped by POST with its alignment afterwards, and on a non-loopback
//! address the token that every endpoint demands.
//!
//! Real time: listed as threads-required in `.config/nextest.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k4sync_core::types::{DepthMode, Fps};
use serde_json::Value;

use k4sync_rig::Pacing;

mod support;
use support::{emulated_settings, get, post, request, sse_client, state, wait_for, TestRig};

fn agent_names(state: &Value) -> Vec<String> {
    state["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn on_loopback_the_page_shows_the_rig_and_its_buttons_run_a_take_and_its_alignment() {
    let rig = TestRig::start(
        3,
        Pacing::RealTime,
        "127.0.0.1:0",
        emulated_settings(DepthMode::PassiveIr, Fps::Fps15),
    );
    let addr = rig.addr();
    assert!(rig.dashboard().token().is_none());

    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>k4sync rig</title>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<script src") && !page.body.contains("<link"),
        "everything inline, nothing fetched from elsewhere"
    );

    let s = state(addr);
    assert_eq!(agent_names(&s), ["cam0", "cam1", "cam2"]);
    let roles: Vec<&str> = s["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["MASTER", "SUBORDINATE", "SUBORDINATE"]);
    assert!(s["take"].is_null());
    assert_eq!(s["queue_capacity"], 64);

    let events = sse_client(addr, "/api/events");
    let first = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.kind, "state");
    assert_eq!(agent_names(&first.data), ["cam0", "cam1", "cam2"]);

    let check = post(addr, "/api/check", "");
    assert_eq!(check.status, 200, "{}", check.body);
    let check = check.json();
    assert_eq!(check["ok"], true, "{check}");
    let plan: Vec<&str> = check["check"]["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        plan,
        ["cam1", "cam2", "cam0"],
        "subordinates first, the master last"
    );

    let foreign = request(
        addr,
        "POST",
        "/api/record",
        &[("Origin", "https://example.org")],
        r#"{"length_s": 2, "take": "csrf"}"#,
    );
    assert_eq!(
        foreign.status, 403,
        "another page's origin: {}",
        foreign.body
    );
    assert!(state(addr)["take"].is_null());

    let refused = post(
        addr,
        "/api/record",
        r#"{"length_s": 2, "take": "nocolour", "color_resolution": "OFF"}"#,
    );
    assert_eq!(refused.status, 202, "{}", refused.body);
    let take = wait_for(Duration::from_secs(20), "the preflight's refusal", || {
        let take = state(addr)["take"].clone();
        (take["phase"] == "failed").then_some(take)
    });
    let error = take["error"].as_str().unwrap();
    assert!(
        error.contains("the rig check failed") && error.contains("colour"),
        "{error}"
    );

    let bad = post(addr, "/api/record", r#"{"fps": 7}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
    let started = post(addr, "/api/record", r#"{"length_s": 30, "take": "t1"}"#);
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.json()["take"], "t1");
    let again = post(addr, "/api/record", r#"{"length_s": 3, "take": "t2"}"#);
    assert_eq!(again.status, 409, "one take at a time: {}", again.body);

    wait_for(Duration::from_secs(30), "every device recording", || {
        let s = state(addr);
        let devices = s["take"]["devices"].as_array()?.clone();
        devices
            .iter()
            .all(|d| d["frames"].as_u64().unwrap_or(0) > 0)
            .then_some(())
    });
    let stopped = post(addr, "/api/stop", "");
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let s = wait_for(Duration::from_secs(60), "the alignment summary", || {
        let s = state(addr);
        (!s["summary"].is_null()).then_some(s)
    });
    assert_eq!(s["take"]["phase"], "interrupted", "{}", s["take"]);
    let summary = &s["summary"];
    assert!(summary["error"].is_null(), "{summary}");
    assert!(
        summary["svg"].as_str().unwrap().contains("<svg"),
        "{summary}"
    );
    assert!(
        summary["text"].as_str().unwrap().contains("cam"),
        "{summary}"
    );
    assert!(rig.out.join("t1").join("manifest.json").is_file());

    let seen: Vec<_> = events.try_iter().collect();
    for cam in ["cam0", "cam1", "cam2"] {
        assert!(
            seen.iter()
                .any(|e| e.kind == "device" && e.data["agent"]["name"] == cam),
            "no device event of {cam}"
        );
    }
    for kind in ["take", "event", "summary", "plan"] {
        assert!(seen.iter().any(|e| e.kind == kind), "no {kind} event");
    }
    rig.close();
}

#[test]
fn off_loopback_every_endpoint_needs_the_token_and_nothing_starts_without_it() {
    let rig = TestRig::start(
        2,
        Pacing::RealTime,
        "0.0.0.0:0",
        emulated_settings(DepthMode::PassiveIr, Fps::Fps15),
    );
    let addr = rig.addr();
    let token = rig
        .dashboard()
        .token()
        .expect("a token off loopback")
        .to_string();
    assert!(
        rig.dashboard().url().ends_with(&format!("?token={token}")),
        "{}",
        rig.dashboard().url()
    );

    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api/state"),
        ("GET", "/api/events"),
        ("POST", "/api/check"),
        ("POST", "/api/record"),
        ("POST", "/api/stop"),
    ] {
        let r = request(addr, method, path, &[], "");
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
        let wrong = request(
            addr,
            method,
            &format!("{path}?token=x{token}"),
            &[("Authorization", "Bearer nope")],
            "",
        );
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong token");
    }
    let r = request(
        addr,
        "POST",
        "/api/record",
        &[],
        r#"{"length_s": 2, "take": "sneaky"}"#,
    );
    assert_eq!(r.status, 401);

    std::thread::sleep(Duration::from_secs(2));
    let bearer = format!("Bearer {token}");
    let s = request(addr, "GET", "/api/state", &[("Authorization", &bearer)], "");
    assert_eq!(s.status, 200);
    let s = s.json();
    assert!(s["take"].is_null(), "nothing started: {}", s["take"]);
    for a in s["agents"].as_array().unwrap() {
        assert_eq!(a["recorder"]["state"], "idle", "{a}");
    }
    assert!(!rig.out.join("sneaky").exists());
    let page = get(addr, &format!("/?token={token}"));
    assert_eq!(page.status, 200);
    rig.close();
}
