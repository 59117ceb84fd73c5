//! The dashboard as an operator sees it: an emulated rig of three cameras (in this process,
//! as `rig record --emulate 3`), its page opened in Debian's headless Chromium over the
//! DevTools protocol. The test presses Record, reads a live value twice, pulls the simulated
//! sync cable out of cam2's Sync In and waits for the page's cable alarm, presses Stop and
//! waits for the take's timeline. Screenshots go to `<target>/dashboard-screenshots/`.
//!
//! Chromium is a prerequisite (`scripts/setup.sh` installs it): without it the test fails and
//! says so. Real time: listed as threads-required in `.config/nextest.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use k4sync_core::types::{DepthMode, Fps};
use serde_json::Value;

use k4sync_rig::Pacing;

mod support;
use support::{emulated_settings, target_dir, wait_for, TestRig};

/// Debian's browser: `$CHROME`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    let found = match std::env::var_os("CHROME") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("chromium"))
                .find(|p| p.is_file())
        }),
    };
    found.unwrap_or_else(|| {
        panic!(
            "Chromium is missing: this test opens the dashboard in headless Chromium. Install \
             it with `bash scripts/setup.sh` (Debian package `chromium`) or point $CHROME at a \
             Chromium binary"
        )
    })
}

/// Evaluates `expression` (which yields JSON text) in the page.
fn eval(tab: &Tab, expression: &str) -> Value {
    let wrapped = format!("JSON.stringify((() => {{ {expression} }})())");
    let result = tab.evaluate(&wrapped, false).unwrap();
    match result.value {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap(),
        other => panic!("{expression}: {other:?}"),
    }
}

fn screenshot(tab: &Tab, dir: &Path, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

fn frames_of(tab: &Tab, agent: &str) -> Option<u64> {
    eval(
        tab,
        &format!("const c = document.querySelector('#dev-{agent} .frames'); return c ? Number(c.textContent) : null;"),
    )
    .as_u64()
}

#[test]
fn an_operator_sees_the_rig_records_and_is_told_about_a_pulled_cable_in_chromium() {
    let browser_path = chromium();
    let shots = target_dir().join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let rig = TestRig::start(
        3,
        Pacing::RealTime,
        "127.0.0.1:0",
        emulated_settings(DepthMode::PassiveIr, Fps::Fps15),
    );
    let url = rig.dashboard().url();

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(browser_path))
            .sandbox(false)
            .window_size(Some((1280, 1800)))
            .idle_browser_timeout(Duration::from_secs(180))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();

    // Every agent, with its role, serial and link.
    let rows = wait_for(
        Duration::from_secs(15),
        "three agents with serials and links up",
        || {
            let rows = eval(
            &tab,
            "return [...document.querySelectorAll('#agents tbody tr')].map(r => ({ \
               agent: r.dataset.agent, role: r.querySelector('.role').textContent, \
               serial: r.querySelector('.serial').textContent, link: r.querySelector('.link').textContent }));",
        );
            let rows = rows.as_array()?.clone();
            (rows.len() == 3 && rows.iter().all(|r| r["link"] == "up" && r["serial"] != "-"))
                .then_some(rows)
        },
    );
    let agents: Vec<&str> = rows.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    assert_eq!(agents, ["cam0", "cam1", "cam2"]);
    assert_eq!(rows[0]["role"], "MASTER");
    assert_eq!(
        eval(&tab, "return document.getElementById('conn').textContent;"),
        "live"
    );
    screenshot(&tab, &shots, "1-before");

    // Record, as a person would: the length, then the button.
    eval(
        &tab,
        "document.getElementById('length').value = '60'; return null;",
    );
    tab.find_element("#record").unwrap().click().unwrap();
    let recording = Instant::now();
    let first = wait_for(
        Duration::from_secs(30),
        "cam1 recording in the take table",
        || frames_of(&tab, "cam1").filter(|f| *f > 0),
    );
    eprintln!("cam1 recorded {:?} after Record", recording.elapsed());
    std::thread::sleep(Duration::from_millis(2500));
    let later = frames_of(&tab, "cam1").unwrap();
    assert!(
        later > first,
        "cam1's frames did not move between two reads: {first} then {later}"
    );
    screenshot(&tab, &shots, "2-during");

    // Pull the cable out of cam2's Sync In.
    rig.rig.as_ref().unwrap().chain().unplug_sync_in(2);
    let pulled = Instant::now();
    let alarm = wait_for(
        Duration::from_secs(10),
        "the cable alarm on the page",
        || {
            let a = eval(
            &tab,
            "const li = document.querySelector('#alarms li[data-kind=\"cable_pulled\"][data-active=\"true\"]'); \
             return li ? { agent: li.dataset.agent, text: li.textContent } : null;",
        );
            (!a.is_null()).then_some(a)
        },
    );
    let latency = pulled.elapsed();
    eprintln!("the cable alarm was on the page {latency:?} after the pull");
    screenshot(&tab, &shots, "3-alarm");
    assert_eq!(alarm["agent"], "cam2", "{alarm}");
    let text = alarm["text"].as_str().unwrap();
    assert!(
        text.contains("cam2's Sync In") && text.contains("What to do"),
        "{text}"
    );
    assert!(
        text.contains("cam1's Sync Out"),
        "names the cable to check: {text}"
    );
    assert!(
        latency <= Duration::from_secs(2),
        "the alarm took {latency:?}"
    );

    // Stop; the alignment's timeline appears.
    tab.find_element("#stop").unwrap().click().unwrap();
    let stopping = Instant::now();
    wait_for(Duration::from_secs(5), "the page to confirm Stop", || {
        let reply = eval(&tab, "return document.getElementById('reply').textContent;");
        (reply == "stopping the take").then_some(())
    });
    wait_for(Duration::from_secs(90), "the timeline SVG", || {
        eval(&tab, "return !!document.querySelector('#timeline svg');")
            .as_bool()
            .filter(|b| *b)
    });
    eprintln!(
        "the timeline was on the page {:?} after Stop",
        stopping.elapsed()
    );
    let summary = eval(
        &tab,
        "return document.getElementById('summary-text').textContent;",
    );
    assert!(summary.as_str().unwrap().contains("cam0"), "{summary}");
    screenshot(&tab, &shots, "4-after");
    for name in ["1-before", "2-during", "3-alarm", "4-after"] {
        assert!(shots.join(format!("{name}.png")).is_file());
    }
    drop(tab);
    drop(browser);
    let closing = Instant::now();
    rig.close();
    eprintln!("closing the rig took {:?}", closing.elapsed());
}
