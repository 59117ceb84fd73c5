//! Laws of the rig planner and of configuration validation (reference §6.2, §7.5, §10.3).

use k4sync_core::sync::config::{ConfigError, DeviceConfig, RawDeviceConfig};
use k4sync_core::sync::plan::{plan_rig, Interleave, RigDevice, Topology, MIN_DEPTH_SPACING_NSEC};
use k4sync_core::time::{usec_to_ticks_i32, usec_to_ticks_u32};
use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use k4sync_core::wire::colour_mcu::JackState;
use proptest::prelude::*;

const SERIALS: [&str; 9] = [
    "000000000000",
    "000000000001",
    "000000000002",
    "000000000003",
    "000000000004",
    "000000000005",
    "000000000006",
    "000000000007",
    "000000000008",
];

fn depth_mode_for(fps: Fps) -> impl Strategy<Value = DepthMode> {
    let modes: Vec<DepthMode> = DepthMode::ALL
        .into_iter()
        .filter(|m| *m != DepthMode::Off && fps <= m.max_fps())
        .collect();
    proptest::sample::select(modes)
}

/// A valid master + (n − 1) subordinates rig sharing fps, depth mode and colour mode.
fn rig_strategy() -> impl Strategy<Value = (Vec<DeviceConfig>, Interleave)> {
    (1usize..=9, proptest::sample::select(Fps::ALL.to_vec()))
        .prop_flat_map(|(n, fps)| {
            (
                Just(n),
                Just(fps),
                depth_mode_for(fps),
                proptest::sample::select(vec![
                    Interleave::DepthDelay,
                    Interleave::SubordinateDelay,
                ]),
            )
        })
        .prop_map(|(n, fps, depth_mode, interleave)| {
            let configs = (0..n)
                .map(|i| DeviceConfig {
                    sync_mode: if i == 0 {
                        WiredSyncMode::Master
                    } else {
                        WiredSyncMode::Subordinate
                    },
                    fps,
                    depth_mode,
                    color_resolution: ColorResolution::R720p,
                    ..DeviceConfig::default()
                })
                .collect();
            (configs, interleave)
        })
}

fn jack_for(mode: WiredSyncMode) -> JackState {
    JackState {
        sync_in: mode == WiredSyncMode::Subordinate,
        sync_out: mode == WiredSyncMode::Master,
    }
}

fn tick_nsec(ticks: i64) -> i64 {
    ticks * 100_000 / 9
}

proptest! {
    #[test]
    fn planned_depth_windows_never_overlap((configs, interleave) in rig_strategy()) {
        let devices: Vec<RigDevice<'_>> = configs
            .iter()
            .zip(SERIALS)
            .map(|(c, serial)| RigDevice { serial, jack: jack_for(c.sync_mode), config: *c })
            .collect();
        let plan = plan_rig(&devices, Topology::DaisyChain, interleave);
        prop_assert!(plan.is_ok(), "{:?}", plan);
        let Ok(plan) = plan else { return Ok(()) };
        let period_nsec = i64::from(configs[0].fps.period_usec()) * 1000;
        let mut offsets = Vec::new();
        for d in plan.devices() {
            let c = d.config.config();
            let sub_ticks = i64::from(usec_to_ticks_u32(c.subordinate_delay_off_master_usec));
            let depth_ticks = i64::from(usec_to_ticks_i32(c.depth_delay_off_color_usec));
            prop_assert_eq!(d.config.effective_subordinate_delay_nsec(), tick_nsec(sub_ticks));
            prop_assert_eq!(d.config.effective_depth_delay_nsec(), tick_nsec(depth_ticks));
            let ticks = sub_ticks + depth_ticks;
            prop_assert_eq!(d.depth_offset_ticks().map(i64::from), Some(ticks));
            offsets.push(ticks);
        }
        for (i, a) in offsets.iter().enumerate() {
            for b in &offsets[i + 1..] {
                prop_assert!(tick_nsec((a - b).abs()) >= MIN_DEPTH_SPACING_NSEC, "{:?}", offsets);
            }
        }
        let span = offsets.iter().max().copied().unwrap_or(0)
            - offsets.iter().min().copied().unwrap_or(0);
        prop_assert!(tick_nsec(span) < period_nsec);
        prop_assert!(offsets.iter().all(|t| tick_nsec(t.abs()) < period_nsec));
        let order: Vec<WiredSyncMode> = plan.start_order().map(|d| d.mode()).collect();
        prop_assert_eq!(order.last(), Some(&WiredSyncMode::Master));
        prop_assert_eq!(order.len(), configs.len());
    }
}

/// The §7.5 rules as an ordered table of independent predicates, written from the reference
/// text; `validate` must report exactly the first one that fails.
fn first_failing_rule(r: &RawDeviceConfig, jack: Option<JackState>) -> Option<u8> {
    let format = ColorFormat::from_sdk_value(r.color_format);
    let res = ColorResolution::from_sdk_value(r.color_resolution);
    let depth = DepthMode::from_sdk_value(r.depth_mode);
    let fps = Fps::from_sdk_value(r.fps);
    let mode = WiredSyncMode::from_wire(r.sync_mode);
    let period = fps.map_or(0, |f| 1_000_000 / f.hz());
    let colour_on = res != Some(ColorResolution::Off);
    let depth_on = depth != Some(DepthMode::Off);
    let both = colour_on && depth_on;
    let is = |m| mode == Some(m);
    let synced = is(WiredSyncMode::Master) || is(WiredSyncMode::Subordinate);
    let rules: [bool; 17] = [
        format.is_some(),
        res.is_some(),
        depth.is_some(),
        fps.is_some(),
        mode.is_some(),
        !synced || jack.is_some(),
        !is(WiredSyncMode::Subordinate) || jack.is_some_and(|j| j.sync_in),
        !is(WiredSyncMode::Master) || jack.is_some_and(|j| j.sync_out),
        !is(WiredSyncMode::Master) || colour_on,
        !is(WiredSyncMode::Subordinate) || r.subordinate_delay_off_master_usec <= period,
        is(WiredSyncMode::Subordinate) || r.subordinate_delay_off_master_usec == 0,
        !both || i64::from(r.depth_delay_off_color_usec).abs() <= i64::from(period),
        colour_on || depth_on,
        both || r.depth_delay_off_color_usec == 0,
        both || !r.synchronized_images_only,
        !depth_on
            || depth
                .zip(fps)
                .is_some_and(|(d, f)| f.hz() <= d.max_fps().hz()),
        !colour_on
            || res
                .zip(fps)
                .zip(format)
                .is_some_and(|((res, f), fmt)| fmt.allowed_at(res) && f.hz() <= res.max_fps().hz()),
    ];
    rules
        .iter()
        .position(|ok| !ok)
        .and_then(|i| u8::try_from(i).ok())
}

fn raw_strategy() -> impl Strategy<Value = (RawDeviceConfig, Option<JackState>)> {
    (
        (0u32..6, 0u32..8, 0u32..7, 0u32..4, 0u32..4),
        (
            prop_oneof![Just(0u32), 0u32..=250_000],
            prop_oneof![Just(0i32), -250_000i32..=250_000],
            any::<bool>(),
        ),
        proptest::option::of((any::<bool>(), any::<bool>())),
    )
        .prop_map(|((format, res, depth, fps, mode), (sub, dd, sio), jack)| {
            (
                RawDeviceConfig {
                    color_format: format,
                    color_resolution: res,
                    depth_mode: depth,
                    fps,
                    sync_mode: mode,
                    subordinate_delay_off_master_usec: sub,
                    depth_delay_off_color_usec: dd,
                    synchronized_images_only: sio,
                    imu: true,
                    privacy_led: true,
                },
                jack.map(|(sync_in, sync_out)| JackState { sync_in, sync_out }),
            )
        })
}

proptest! {
    #[test]
    fn validation_is_deterministic_and_first_rule_wins((raw, jack) in raw_strategy()) {
        let result = raw.validate(jack);
        prop_assert_eq!(result, raw.validate(jack));
        let got = result.as_ref().err().map(ConfigError::rule_index);
        prop_assert_eq!(got, first_failing_rule(&raw, jack), "{:?}", result);
    }

    #[test]
    fn typed_and_raw_validation_agree((raw, jack) in raw_strategy()) {
        if let Ok(v) = raw.validate(jack) {
            prop_assert_eq!(v.config().validate(jack), Ok(v));
            prop_assert_eq!(RawDeviceConfig::from(*v.config()), raw);
        }
    }

    #[test]
    fn sys_config_delays_are_the_truncated_requests((raw, jack) in raw_strategy()) {
        if let Ok(v) = raw.validate(jack) {
            let sys = v.sys_config();
            prop_assert_eq!(
                sys.subordinate_delay_ticks,
                usec_to_ticks_u32(raw.subordinate_delay_off_master_usec)
            );
            prop_assert_eq!(sys.depth_delay_ticks, usec_to_ticks_i32(raw.depth_delay_off_color_usec));
            prop_assert!(
                v.effective_depth_delay_nsec().abs()
                    <= i64::from(raw.depth_delay_off_color_usec).abs() * 1000
            );
        }
    }
}
