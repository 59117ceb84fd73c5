//! Rig planning: topology checks, depth-laser interleaving and the start order (reference §7.4,
//! §10.2, §10.3, §6.2).
//!
//! [`plan_rig`] takes every device's serial, jack state and requested configuration and either
//! names the first rule the rig breaks (with the device's serial) or returns a [`RigPlan`]: each
//! device's final, validated configuration with the delays the interleaving strategy assigned,
//! and the order to start them (subordinates in chain order, master last).
//!
//! Interleaving works in ticks, not µs. The device truncates a requested delay to whole 90 kHz
//! ticks (§6.2), so spacing lasers "160 µs" apart really spaces them 14 ticks = 155.6 µs apart,
//! below the documented minimum. The planner picks tick counts first — [`DEPTH_SPACING_TICKS`]
//! = 15 ticks = 166.7 µs, the smallest step whose effective value is ≥ 160 µs — and then the
//! smallest µs request that truncates to exactly that tick count.

use core::fmt;

use crate::sync::config::{ConfigError, DeviceConfig, ValidatedConfig};
use crate::time::{effective_delay_nsec, frame_period_usec};
use crate::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};
use crate::wire::colour_mcu::JackState;

/// Longest serial the SDK accepts (§1.3).
pub const SERIAL_MAX_LEN: usize = 25;

/// A device serial number.
pub type Serial = heapless::String<SERIAL_MAX_LEN>;

/// Daisy chain: one master plus at most 8 subordinates (§10.2).
pub const MAX_DAISY_CHAIN_SUBORDINATES: usize = 8;
/// Star through a headphone splitter: at most 2 subordinates (§10.2).
pub const MAX_STAR_SUBORDINATES: usize = 2;
/// Largest rig a plan can hold.
pub const MAX_RIG_DEVICES: usize = 1 + MAX_DAISY_CHAIN_SUBORDINATES;
/// At most 10 depth cameras interleave in 160 µs steps (§10.3).
pub const MAX_INTERLEAVED_DEPTH_CAMERAS: usize = 10;
/// Minimum offset between the depth captures of overlapping cameras (§10.3).
pub const MIN_DEPTH_SPACING_NSEC: i64 = 160_000;
/// Smallest tick step whose effective length is at least [`MIN_DEPTH_SPACING_NSEC`].
pub const DEPTH_SPACING_TICKS: i32 = {
    let ticks = (MIN_DEPTH_SPACING_NSEC as u64 * 9).div_ceil(100_000);
    ticks as i32
};

/// How the sync cable is distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Topology {
    /// Sync Out → next Sync In, device after device.
    DaisyChain,
    /// The master's Sync Out into a headphone splitter.
    Star,
}

impl Topology {
    pub const fn max_subordinates(self) -> usize {
        match self {
            Topology::DaisyChain => MAX_DAISY_CHAIN_SUBORDINATES,
            Topology::Star => MAX_STAR_SUBORDINATES,
        }
    }
}

/// How the planner separates the depth lasers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Interleave {
    /// Spread `depth_delay_off_color_usec` in [`DEPTH_SPACING_TICKS`] steps centred on 0, as
    /// the green-screen example does; subordinate delays become 0, colour stays aligned.
    /// Needs colour on wherever depth is on (a depth delay needs both cameras).
    DepthDelay,
    /// `subordinate_delay_off_master_usec` = index × [`DEPTH_SPACING_TICKS`] for each depth
    /// subordinate in chain order; depth delays become 0. Also moves those devices' colour.
    SubordinateDelay,
    /// Keep the configured delays and only check the spacing they produce.
    AsConfigured,
}

/// One device as the planner receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RigDevice<'a> {
    pub serial: &'a str,
    pub jack: JackState,
    pub config: DeviceConfig,
}

/// A rule the rig breaks, naming the device(s) involved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    NoDevices,
    SerialTooLong {
        index: usize,
        len: usize,
    },
    /// A standalone device in a rig of several devices.
    StandaloneInRig {
        serial: Serial,
    },
    NoMaster,
    MultipleMasters {
        a: Serial,
        b: Serial,
    },
    MasterWithoutSyncOut {
        serial: Serial,
    },
    MasterHasSyncIn {
        serial: Serial,
    },
    SubordinateWithoutSyncIn {
        serial: Serial,
    },
    TooManySubordinates {
        count: usize,
        max: usize,
        topology: Topology,
    },
    InvalidConfig {
        serial: Serial,
        error: ConfigError,
    },
    MismatchedFps {
        serial: Serial,
        expected: Fps,
        found: Fps,
    },
    MismatchedDepthMode {
        serial: Serial,
        expected: DepthMode,
        found: DepthMode,
    },
    MismatchedColourMode {
        serial: Serial,
        expected: (ColorResolution, ColorFormat),
        found: (ColorResolution, ColorFormat),
    },
    TooManyDepthCameras {
        count: usize,
        max: usize,
    },
    /// [`Interleave::DepthDelay`] on a device whose colour is off (a depth delay needs both).
    DepthDelayNeedsColour {
        serial: Serial,
    },
    /// Two depth captures less than 160 µs apart after tick truncation.
    DepthWindowsTooClose {
        a: Serial,
        b: Serial,
        spacing_nsec: i64,
    },
    /// The depth captures spread over more than one frame period.
    DepthWindowsBeyondFramePeriod {
        span_nsec: i64,
        period_usec: u32,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoDevices => f.write_str("the rig has no devices; add at least one"),
            PlanError::SerialTooLong { index, len } => write!(
                f,
                "device {index} has a {len}-character serial; serials have at most {SERIAL_MAX_LEN}"
            ),
            PlanError::StandaloneInRig { serial } => write!(
                f,
                "device {serial} is STANDALONE in a multi-device rig; make it MASTER or SUBORDINATE"
            ),
            PlanError::NoMaster => {
                f.write_str("the rig has no MASTER; make the device at the head of the chain MASTER")
            }
            PlanError::MultipleMasters { a, b } => write!(
                f,
                "devices {a} and {b} are both MASTER; keep one and make the other SUBORDINATE"
            ),
            PlanError::MasterWithoutSyncOut { serial } => write!(
                f,
                "master {serial} has no cable in Sync Out; plug it into the first subordinate's Sync In"
            ),
            PlanError::MasterHasSyncIn { serial } => write!(
                f,
                "master {serial} has a cable in Sync In; unplug it (a master must not have one)"
            ),
            PlanError::SubordinateWithoutSyncIn { serial } => write!(
                f,
                "subordinate {serial} has no cable in Sync In; plug the upstream Sync Out into it"
            ),
            PlanError::TooManySubordinates {
                count,
                max,
                topology,
            } => write!(
                f,
                "{count} subordinates exceed the {max} a {} allows; remove {} or change topology",
                match topology {
                    Topology::DaisyChain => "daisy chain",
                    Topology::Star => "splitter (star)",
                },
                count.saturating_sub(*max)
            ),
            PlanError::InvalidConfig { serial, error } => write!(f, "device {serial}: {error}"),
            PlanError::MismatchedFps {
                serial,
                expected,
                found,
            } => write!(
                f,
                "device {serial} runs at {found} fps but the master at {expected} fps; use one rate across the rig"
            ),
            PlanError::MismatchedDepthMode {
                serial,
                expected,
                found,
            } => write!(
                f,
                "device {serial} uses depth mode {found} but the master {expected}; use one depth mode across the rig"
            ),
            PlanError::MismatchedColourMode {
                serial,
                expected,
                found,
            } => write!(
                f,
                "device {serial} uses colour {} {} but the master {} {}; use one colour mode across the rig",
                found.0, found.1, expected.0, expected.1
            ),
            PlanError::TooManyDepthCameras { count, max } => write!(
                f,
                "{count} depth cameras cannot interleave, at most {max} can; turn depth off on {}",
                count.saturating_sub(*max)
            ),
            PlanError::DepthDelayNeedsColour { serial } => write!(
                f,
                "device {serial} has colour off, so it cannot take a depth delay; interleave by subordinate delay instead"
            ),
            PlanError::DepthWindowsTooClose { a, b, spacing_nsec } => write!(
                f,
                "depth captures of {a} and {b} are only {spacing_nsec} ns apart after tick truncation; separate them by at least {} ticks (166.7 µs)",
                DEPTH_SPACING_TICKS
            ),
            PlanError::DepthWindowsBeyondFramePeriod {
                span_nsec,
                period_usec,
            } => write!(
                f,
                "depth captures spread over {span_nsec} ns, more than one frame period ({period_usec} µs); shorten the delays"
            ),
        }
    }
}

impl core::error::Error for PlanError {}

/// One device of a planned rig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePlan {
    pub serial: Serial,
    /// The final configuration, delays included; the host starts the device with it.
    pub config: ValidatedConfig,
}

impl DevicePlan {
    pub fn mode(&self) -> WiredSyncMode {
        self.config.config().sync_mode
    }

    pub fn requested_subordinate_delay_usec(&self) -> u32 {
        self.config.config().subordinate_delay_off_master_usec
    }

    pub fn requested_depth_delay_usec(&self) -> i32 {
        self.config.config().depth_delay_off_color_usec
    }

    /// Depth capture offset from the master's colour capture in ticks (subordinate delay +
    /// depth delay, both as sent), `None` when depth is off.
    pub fn depth_offset_ticks(&self) -> Option<i32> {
        if !self.config.config().depth_enabled() {
            return None;
        }
        let sys = self.config.sys_config();
        let sub = i32::try_from(sys.subordinate_delay_ticks).unwrap_or(i32::MAX);
        Some(sub.saturating_add(sys.depth_delay_ticks))
    }

    /// [`Self::depth_offset_ticks`] as the effective ns the device applies.
    pub fn depth_offset_nsec(&self) -> Option<i64> {
        self.depth_offset_ticks().map(effective_delay_nsec)
    }
}

/// A rig that passed every check, with its final configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RigPlan {
    devices: heapless::Vec<DevicePlan, MAX_RIG_DEVICES>,
    master: Option<usize>,
    topology: Topology,
}

impl RigPlan {
    /// The devices in the order given to [`plan_rig`] (chain order).
    pub fn devices(&self) -> &[DevicePlan] {
        &self.devices
    }

    pub fn master(&self) -> Option<&DevicePlan> {
        self.master.and_then(|i| self.devices.get(i))
    }

    pub const fn topology(&self) -> Topology {
        self.topology
    }

    /// Subordinates in chain order, then the master (§7.4, §10.4).
    pub fn start_order(&self) -> impl Iterator<Item = &DevicePlan> + '_ {
        let master = self.master;
        self.devices
            .iter()
            .enumerate()
            .filter(move |(i, _)| Some(*i) != master)
            .chain(master.and_then(|i| self.devices.get(i).map(|d| (i, d))))
            .map(|(_, d)| d)
    }

    /// Smallest effective distance between two depth captures, `None` with fewer than two.
    pub fn min_depth_spacing_nsec(&self) -> Option<i64> {
        let offsets = self.depth_offsets();
        let mut min = None;
        for (i, a) in offsets.iter().enumerate() {
            for b in offsets.iter().skip(i + 1) {
                let d = tick_distance_nsec(a.1, b.1);
                min = Some(min.map_or(d, |m: i64| m.min(d)));
            }
        }
        min
    }

    fn depth_offsets(&self) -> heapless::Vec<(usize, i32), MAX_RIG_DEVICES> {
        let mut out = heapless::Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            if let Some(ticks) = d.depth_offset_ticks() {
                if out.push((i, ticks)).is_err() {
                    break;
                }
            }
        }
        out
    }
}

/// The smallest µs request that truncates to exactly `ticks` (§6.2): `±⌈|ticks| × 100 / 9⌉`.
pub const fn usec_for_ticks(ticks: i32) -> i32 {
    let magnitude = (ticks.unsigned_abs() as u64 * 100).div_ceil(9) as i64;
    let usec = if ticks < 0 { -magnitude } else { magnitude };
    crate::time::saturate_i32(usec as i128)
}

/// Depth-capture tick offsets for `count` cameras, [`DEPTH_SPACING_TICKS`] apart, centred on 0
/// (the lower slot takes the odd tick when `count` is even).
pub fn centred_depth_ticks(
    count: usize,
) -> Result<heapless::Vec<i32, MAX_INTERLEAVED_DEPTH_CAMERAS>, PlanError> {
    let too_many = PlanError::TooManyDepthCameras {
        count,
        max: MAX_INTERLEAVED_DEPTH_CAMERAS,
    };
    let n = i32::try_from(count).map_err(|_| too_many.clone())?;
    let half_span = (n.saturating_sub(1) * DEPTH_SPACING_TICKS) / 2;
    let mut out = heapless::Vec::new();
    for k in 0..n {
        out.push(k * DEPTH_SPACING_TICKS - half_span)
            .map_err(|_| too_many.clone())?;
    }
    Ok(out)
}

fn serial_of(index: usize, serial: &str) -> Result<Serial, PlanError> {
    Serial::try_from(serial).map_err(|_| PlanError::SerialTooLong {
        index,
        len: serial.len(),
    })
}

/// The rig's devices with their serials checked once, for naming a device in an error.
struct Named<'d, 'a> {
    devices: &'d [RigDevice<'a>],
    serials: heapless::Vec<Serial, MAX_RIG_DEVICES>,
}

impl<'d, 'a> Named<'d, 'a> {
    fn new(devices: &'d [RigDevice<'a>]) -> Result<Self, PlanError> {
        let mut serials = heapless::Vec::new();
        for (i, d) in devices.iter().enumerate() {
            let serial = serial_of(i, d.serial)?;
            if serials.push(serial).is_err() {
                break;
            }
        }
        Ok(Named { devices, serials })
    }

    fn serial(&self, i: usize) -> Result<Serial, PlanError> {
        match self.serials.get(i) {
            Some(s) => Ok(s.clone()),
            None => serial_of(i, self.devices.get(i).map_or("", |d| d.serial)),
        }
    }

    fn validate(&self, i: usize, config: &DeviceConfig) -> Result<ValidatedConfig, PlanError> {
        let jack = self.devices.get(i).map(|d| d.jack);
        config.validate(jack).map_err(|error| match self.serial(i) {
            Ok(serial) => PlanError::InvalidConfig { serial, error },
            Err(e) => e,
        })
    }
}

/// Checks a rig and assigns its delays; the first broken rule wins, in this order:
/// serials, standalone-in-rig, master count, master cables, subordinate cables, subordinate
/// count for the topology, each device's own validation (§7.5), equal fps / depth mode /
/// colour mode with the master (with no master, a single standalone device, with itself), depth
/// camera count, interleaving and the resulting spacing.
pub fn plan_rig(
    devices: &[RigDevice<'_>],
    topology: Topology,
    interleave: Interleave,
) -> Result<RigPlan, PlanError> {
    if devices.is_empty() {
        return Err(PlanError::NoDevices);
    }
    let rig = Named::new(devices)?;
    let master = find_master(&rig)?;
    let master_device = master.and_then(|i| devices.get(i));
    check_cables(&rig, master, topology)?;
    for (i, d) in devices.iter().enumerate() {
        rig.validate(i, &d.config)?;
    }
    let reference = master_device
        .or(devices.first())
        .map_or(DeviceConfig::default(), |d| d.config);
    check_modes_match(&rig, master, &reference)?;
    let depth_count = devices.iter().filter(|d| d.config.depth_enabled()).count();
    if depth_count > MAX_INTERLEAVED_DEPTH_CAMERAS {
        return Err(PlanError::TooManyDepthCameras {
            count: depth_count,
            max: MAX_INTERLEAVED_DEPTH_CAMERAS,
        });
    }
    let plan = assign_delays(&rig, master, topology, interleave, depth_count)?;
    check_depth_spacing(&plan, reference.fps)?;
    Ok(plan)
}

/// The master's index: no standalone device in a rig of several, at most one master, and one
/// unless the rig is a single standalone device.
fn find_master(rig: &Named<'_, '_>) -> Result<Option<usize>, PlanError> {
    let single = rig.devices.len() == 1;
    let mut master = None;
    for (i, d) in rig.devices.iter().enumerate() {
        match d.config.sync_mode {
            WiredSyncMode::Standalone if !single => {
                return Err(PlanError::StandaloneInRig {
                    serial: rig.serial(i)?,
                })
            }
            WiredSyncMode::Master => match master {
                None => master = Some(i),
                Some(first) => {
                    return Err(PlanError::MultipleMasters {
                        a: rig.serial(first)?,
                        b: rig.serial(i)?,
                    })
                }
            },
            _ => {}
        }
    }
    let standalone_alone = single
        && rig
            .devices
            .first()
            .is_some_and(|d| d.config.sync_mode == WiredSyncMode::Standalone);
    match master {
        Some(i) if rig.devices.get(i).is_some() => Ok(Some(i)),
        _ if standalone_alone => Ok(None),
        _ => Err(PlanError::NoMaster),
    }
}

/// The master's jacks (Sync Out only), every subordinate's Sync In, and the subordinate count
/// the topology allows.
fn check_cables(
    rig: &Named<'_, '_>,
    master: Option<usize>,
    topology: Topology,
) -> Result<(), PlanError> {
    if let Some((i, m)) = master.and_then(|i| rig.devices.get(i).map(|m| (i, m))) {
        if !m.jack.sync_out {
            return Err(PlanError::MasterWithoutSyncOut {
                serial: rig.serial(i)?,
            });
        }
        if m.jack.sync_in {
            return Err(PlanError::MasterHasSyncIn {
                serial: rig.serial(i)?,
            });
        }
    }
    let mut subordinates = 0usize;
    for (i, d) in rig.devices.iter().enumerate() {
        if d.config.sync_mode == WiredSyncMode::Subordinate {
            if !d.jack.sync_in {
                return Err(PlanError::SubordinateWithoutSyncIn {
                    serial: rig.serial(i)?,
                });
            }
            subordinates += 1;
        }
    }
    if subordinates > topology.max_subordinates() {
        return Err(PlanError::TooManySubordinates {
            count: subordinates,
            max: topology.max_subordinates(),
            topology,
        });
    }
    Ok(())
}

/// Every device other than the master runs the master's fps, depth mode and colour mode.
fn check_modes_match(
    rig: &Named<'_, '_>,
    master: Option<usize>,
    reference: &DeviceConfig,
) -> Result<(), PlanError> {
    for (i, d) in rig.devices.iter().enumerate() {
        if Some(i) == master {
            continue;
        }
        let c = &d.config;
        if c.fps != reference.fps {
            return Err(PlanError::MismatchedFps {
                serial: rig.serial(i)?,
                expected: reference.fps,
                found: c.fps,
            });
        }
        if c.depth_enabled() && reference.depth_enabled() && c.depth_mode != reference.depth_mode {
            return Err(PlanError::MismatchedDepthMode {
                serial: rig.serial(i)?,
                expected: reference.depth_mode,
                found: c.depth_mode,
            });
        }
        let colour = (c.color_resolution, c.color_format);
        let expected = (reference.color_resolution, reference.color_format);
        if c.colour_enabled() && colour != expected {
            return Err(PlanError::MismatchedColourMode {
                serial: rig.serial(i)?,
                expected,
                found: colour,
            });
        }
    }
    Ok(())
}

/// Each device's final configuration with the delays of the interleaving strategy, validated
/// again with them.
fn assign_delays(
    rig: &Named<'_, '_>,
    master: Option<usize>,
    topology: Topology,
    interleave: Interleave,
    depth_count: usize,
) -> Result<RigPlan, PlanError> {
    let centred = centred_depth_ticks(depth_count)?;
    let mut plan = RigPlan {
        devices: heapless::Vec::new(),
        master,
        topology,
    };
    let mut depth_slot = 0usize;
    let mut sub_slot = 0i32;
    for (i, d) in rig.devices.iter().enumerate() {
        let mut config = d.config;
        let depth_on = config.depth_enabled();
        match interleave {
            Interleave::AsConfigured => {}
            Interleave::DepthDelay => {
                config.subordinate_delay_off_master_usec = 0;
                if depth_on {
                    if !config.colour_enabled() && depth_count > 1 {
                        return Err(PlanError::DepthDelayNeedsColour {
                            serial: rig.serial(i)?,
                        });
                    }
                    let ticks = centred.get(depth_slot).copied().unwrap_or(0);
                    config.depth_delay_off_color_usec = if config.colour_enabled() {
                        usec_for_ticks(ticks)
                    } else {
                        0
                    };
                    depth_slot += 1;
                }
            }
            Interleave::SubordinateDelay => {
                config.depth_delay_off_color_usec = 0;
                config.subordinate_delay_off_master_usec = 0;
                if depth_on && config.sync_mode == WiredSyncMode::Subordinate {
                    sub_slot += 1;
                    let usec = usec_for_ticks(sub_slot.saturating_mul(DEPTH_SPACING_TICKS));
                    config.subordinate_delay_off_master_usec = u32::try_from(usec).unwrap_or(0);
                }
            }
        }
        let device = DevicePlan {
            serial: rig.serial(i)?,
            config: rig.validate(i, &config)?,
        };
        if plan.devices.push(device).is_err() {
            return Err(PlanError::TooManySubordinates {
                count: rig.devices.len().saturating_sub(1),
                max: topology.max_subordinates(),
                topology,
            });
        }
    }
    Ok(plan)
}

/// Effective distance between two tick offsets, ns: exact for the tick difference, so it does
/// not inherit the rounding of each offset's own ns value.
fn tick_distance_nsec(a: i32, b: i32) -> i64 {
    effective_delay_nsec(a.saturating_sub(b).saturating_abs())
}

fn check_depth_spacing(plan: &RigPlan, fps: Fps) -> Result<(), PlanError> {
    let offsets = plan.depth_offsets();
    let name = |i: usize| {
        plan.devices
            .get(i)
            .map(|d| d.serial.clone())
            .unwrap_or_default()
    };
    let mut lowest = i32::MAX;
    let mut highest = i32::MIN;
    for (k, &(i, a)) in offsets.iter().enumerate() {
        lowest = lowest.min(a);
        highest = highest.max(a);
        for &(j, b) in offsets.iter().skip(k + 1) {
            let spacing_nsec = tick_distance_nsec(a, b);
            if spacing_nsec < MIN_DEPTH_SPACING_NSEC {
                return Err(PlanError::DepthWindowsTooClose {
                    a: name(i),
                    b: name(j),
                    spacing_nsec,
                });
            }
        }
    }
    let period_usec = frame_period_usec(fps.hz());
    let span_nsec = tick_distance_nsec(highest, lowest);
    if !offsets.is_empty() && span_nsec >= i64::from(period_usec) * 1000 {
        return Err(PlanError::DepthWindowsBeyondFramePeriod {
            span_nsec,
            period_usec,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::usec_to_ticks_i32;

    const IN: JackState = JackState::IN_ONLY;
    const OUT: JackState = JackState::OUT_ONLY;
    const SERIALS: [&str; 12] = [
        "000000000000",
        "000000000001",
        "000000000002",
        "000000000003",
        "000000000004",
        "000000000005",
        "000000000006",
        "000000000007",
        "000000000008",
        "000000000009",
        "000000000010",
        "000000000011",
    ];

    fn device(i: usize, mode: WiredSyncMode) -> RigDevice<'static> {
        RigDevice {
            serial: SERIALS[i],
            jack: match mode {
                WiredSyncMode::Master => OUT,
                WiredSyncMode::Subordinate => IN,
                WiredSyncMode::Standalone => JackState::default(),
            },
            config: DeviceConfig {
                sync_mode: mode,
                ..DeviceConfig::default()
            },
        }
    }

    fn rig(subordinates: usize) -> std::vec::Vec<RigDevice<'static>> {
        let mut v = std::vec![device(0, WiredSyncMode::Master)];
        v.extend((1..=subordinates).map(|i| device(i, WiredSyncMode::Subordinate)));
        v
    }

    fn serial(s: &str) -> Serial {
        Serial::try_from(s).unwrap_or_default()
    }

    fn plan(devices: &[RigDevice<'_>], interleave: Interleave) -> Result<RigPlan, PlanError> {
        plan_rig(devices, Topology::DaisyChain, interleave)
    }

    #[test]
    fn spacing_step_is_the_smallest_tick_count_at_or_above_160_usec() {
        assert_eq!(DEPTH_SPACING_TICKS, 15);
        assert!(effective_delay_nsec(DEPTH_SPACING_TICKS) >= MIN_DEPTH_SPACING_NSEC);
        assert!(effective_delay_nsec(DEPTH_SPACING_TICKS - 1) < MIN_DEPTH_SPACING_NSEC);
    }

    #[test]
    fn usec_for_ticks_is_the_smallest_request_truncating_to_those_ticks() {
        for t in -20_000..=20_000 {
            let usec = usec_for_ticks(t);
            assert_eq!(usec_to_ticks_i32(usec), t, "{t}");
            let closer = usec - usec.signum();
            if t != 0 {
                assert_ne!(usec_to_ticks_i32(closer), t, "{t}");
            }
        }
        assert_eq!(usec_for_ticks(15), 167);
        assert_eq!(usec_for_ticks(-7), -78);
    }

    #[test]
    fn two_devices_by_depth_delay_are_15_ticks_apart_around_zero() {
        let Ok(p) = plan(&rig(1), Interleave::DepthDelay) else {
            panic!()
        };
        let d = p.devices();
        assert_eq!(d[0].depth_offset_ticks(), Some(-7));
        assert_eq!(d[1].depth_offset_ticks(), Some(8));
        assert_eq!(d[0].requested_depth_delay_usec(), -78);
        assert_eq!(d[1].requested_depth_delay_usec(), 89);
        assert_eq!(d[0].config.effective_depth_delay_nsec(), -77_777);
        assert_eq!(d[1].config.effective_depth_delay_nsec(), 88_888);
        assert_eq!(p.min_depth_spacing_nsec(), Some(166_666));
    }

    #[test]
    fn green_screen_plus_minus_80_usec_is_too_close_after_truncation() {
        let mut devices = rig(1);
        devices[0].config.depth_delay_off_color_usec = -80;
        devices[1].config.depth_delay_off_color_usec = 80;
        assert_eq!(
            plan(&devices, Interleave::AsConfigured),
            Err(PlanError::DepthWindowsTooClose {
                a: serial(SERIALS[0]),
                b: serial(SERIALS[1]),
                spacing_nsec: 155_555
            })
        );
    }

    #[test]
    fn subordinate_delay_strategy_uses_15_tick_steps_in_chain_order() {
        let Ok(p) = plan(&rig(8), Interleave::SubordinateDelay) else {
            panic!()
        };
        for (i, d) in p.devices().iter().enumerate() {
            let ticks = 15 * i as i32;
            assert_eq!(d.depth_offset_ticks(), Some(ticks));
            assert_eq!(
                d.requested_subordinate_delay_usec() as i32,
                usec_for_ticks(ticks)
            );
            assert_eq!(d.requested_depth_delay_usec(), 0);
        }
    }

    #[test]
    fn start_order_is_subordinates_in_chain_order_then_master() {
        let mut devices = rig(3);
        devices.rotate_left(1);
        let Ok(p) = plan(&devices, Interleave::SubordinateDelay) else {
            panic!()
        };
        let order: std::vec::Vec<&str> = p.start_order().map(|d| d.serial.as_str()).collect();
        assert_eq!(order, [SERIALS[1], SERIALS[2], SERIALS[3], SERIALS[0]]);
        assert_eq!(p.master().map(|d| d.serial.as_str()), Some(SERIALS[0]));
    }

    #[test]
    fn single_standalone_device_is_a_valid_rig() {
        let Ok(p) = plan(
            &[device(0, WiredSyncMode::Standalone)],
            Interleave::DepthDelay,
        ) else {
            panic!()
        };
        assert_eq!(p.master(), None);
        assert_eq!(p.start_order().count(), 1);
        assert_eq!(p.devices()[0].depth_offset_ticks(), Some(0));
    }

    #[test]
    fn single_standalone_device_may_run_any_valid_mode() {
        let mut alone = device(0, WiredSyncMode::Standalone);
        alone.config.fps = Fps::Fps5;
        alone.config.depth_mode = DepthMode::WfovUnbinned;
        alone.config.color_resolution = ColorResolution::R720p;
        assert_eq!(
            plan(&[alone], Interleave::AsConfigured).map(|p| p.devices()[0].config.config().fps),
            Ok(Fps::Fps5)
        );
    }

    #[test]
    fn empty_rig_is_rejected() {
        assert_eq!(plan(&[], Interleave::DepthDelay), Err(PlanError::NoDevices));
    }

    #[test]
    fn standalone_in_rig_is_rejected() {
        let mut devices = rig(1);
        devices.push(device(2, WiredSyncMode::Standalone));
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::StandaloneInRig {
                serial: serial(SERIALS[2])
            })
        );
    }

    #[test]
    fn rig_without_master_is_rejected() {
        let devices = [device(1, WiredSyncMode::Subordinate)];
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::NoMaster)
        );
    }

    #[test]
    fn multiple_masters_are_rejected() {
        let mut devices = rig(1);
        devices.push(device(2, WiredSyncMode::Master));
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MultipleMasters {
                a: serial(SERIALS[0]),
                b: serial(SERIALS[2])
            })
        );
    }

    #[test]
    fn master_with_sync_in_is_rejected_in_a_planned_rig() {
        let mut devices = rig(1);
        devices[0].jack.sync_in = true;
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MasterHasSyncIn {
                serial: serial(SERIALS[0])
            })
        );
    }

    #[test]
    fn master_without_sync_out_is_rejected() {
        let mut devices = rig(1);
        devices[0].jack.sync_out = false;
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MasterWithoutSyncOut {
                serial: serial(SERIALS[0])
            })
        );
    }

    #[test]
    fn subordinate_without_sync_in_is_rejected() {
        let mut devices = rig(2);
        devices[2].jack.sync_in = false;
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::SubordinateWithoutSyncIn {
                serial: serial(SERIALS[2])
            })
        );
    }

    #[test]
    fn more_than_eight_daisy_chained_subordinates_are_rejected() {
        assert!(plan(&rig(8), Interleave::DepthDelay).is_ok());
        assert_eq!(
            plan(&rig(9), Interleave::DepthDelay),
            Err(PlanError::TooManySubordinates {
                count: 9,
                max: 8,
                topology: Topology::DaisyChain
            })
        );
    }

    #[test]
    fn more_than_two_subordinates_on_a_splitter_are_rejected() {
        assert!(plan_rig(&rig(2), Topology::Star, Interleave::DepthDelay).is_ok());
        assert_eq!(
            plan_rig(&rig(3), Topology::Star, Interleave::DepthDelay),
            Err(PlanError::TooManySubordinates {
                count: 3,
                max: 2,
                topology: Topology::Star
            })
        );
    }

    #[test]
    fn invalid_device_config_names_the_device_and_rule() {
        let mut devices = rig(1);
        devices[1].config.depth_mode = DepthMode::WfovUnbinned;
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::InvalidConfig {
                serial: serial(SERIALS[1]),
                error: ConfigError::DepthModeFpsUnsupported {
                    mode: DepthMode::WfovUnbinned,
                    fps: Fps::Fps30
                }
            })
        );
    }

    #[test]
    fn mismatched_fps_is_rejected() {
        let mut devices = rig(1);
        devices[1].config.fps = Fps::Fps15;
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MismatchedFps {
                serial: serial(SERIALS[1]),
                expected: Fps::Fps30,
                found: Fps::Fps15
            })
        );
    }

    #[test]
    fn mismatched_depth_mode_is_rejected() {
        let mut devices = rig(1);
        devices[1].config.depth_mode = DepthMode::Nfov2x2Binned;
        assert!(matches!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MismatchedDepthMode { .. })
        ));
    }

    #[test]
    fn mismatched_colour_mode_is_rejected_but_colour_off_subordinate_is_allowed() {
        let mut devices = rig(1);
        devices[1].config.color_resolution = ColorResolution::R720p;
        assert!(matches!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::MismatchedColourMode { .. })
        ));
        devices[1].config.color_resolution = ColorResolution::Off;
        assert!(plan(&devices, Interleave::SubordinateDelay).is_ok());
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::DepthDelayNeedsColour {
                serial: serial(SERIALS[1])
            })
        );
    }

    #[test]
    fn more_than_ten_depth_cameras_cannot_interleave() {
        assert_eq!(centred_depth_ticks(10).map(|v| v.len()), Ok(10));
        assert_eq!(
            centred_depth_ticks(11),
            Err(PlanError::TooManyDepthCameras { count: 11, max: 10 })
        );
    }

    #[test]
    fn depth_windows_wider_than_a_period_are_rejected() {
        let mut devices = rig(1);
        devices[0].config.depth_delay_off_color_usec = -20_000;
        devices[1].config.depth_delay_off_color_usec = 20_000;
        assert!(matches!(
            plan(&devices, Interleave::AsConfigured),
            Err(PlanError::DepthWindowsBeyondFramePeriod {
                period_usec: 33_333,
                ..
            })
        ));
    }

    #[test]
    fn serial_longer_than_25_characters_is_rejected() {
        let mut devices = rig(0);
        devices[0].serial = "01234567890123456789012345";
        assert_eq!(
            plan(&devices, Interleave::DepthDelay),
            Err(PlanError::SerialTooLong { index: 0, len: 26 })
        );
    }
}
