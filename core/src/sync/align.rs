//! Rig-wide frame sets: which colour and depth frames of every device belong to the same sync
//! pulse, decided from device timestamps alone, with health events (reference §6.1, §6.4, §10.4,
//! §11 items 7, 13, 14).
//!
//! Frames are placed on the master's pulse grid, never paired by index: devices drop different
//! first frames, frame counts differ by one or two, and subordinates start at different pulses
//! (§10.4). The grid is anchored by the master's first frame (`phase + n × period`, exact to the
//! nanosecond); a frame of device `d` and stream `s` is expected at
//! `grid(n) + subordinate delay(d) + depth delay(d, s)` plus the offset last observed for that
//! stream, and is accepted for the nearest `n` when it lies within the §6.4 tolerance (110 / 220 /
//! 660 µs at 30 / 15 / 5 fps) widened by a drift allowance for the time since the stream's last
//! accepted frame. Tracking the last offset lets free-running subordinates drift (§11 item 13)
//! without losing pairing, while the offset to the master is still judged against the tolerance
//! (`Degraded`). A timestamp that jumps back means the device's clock was re-zeroed (a restarted
//! subordinate, §10.4): the device is reported `Lost` and left out until the rig is restarted
//! ([`Aligner::reset`]).
//!
//! Buffering is a fixed window of `W` pending sets; a set is emitted as soon as every device still
//! in the rig has delivered every stream it runs, or when the window has to move past it — then
//! with its missing frames reported, once.

use core::fmt;

use heapless::Deque;

use crate::time::Usec;
use crate::types::Fps;

/// The two image streams of a device that carry a device timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameKind {
    Colour,
    Depth,
}

/// One value per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PerStream<T> {
    pub colour: T,
    pub depth: T,
}

impl<T> PerStream<T> {
    pub const fn get(&self, stream: FrameKind) -> &T {
        match stream {
            FrameKind::Colour => &self.colour,
            FrameKind::Depth => &self.depth,
        }
    }

    pub fn get_mut(&mut self, stream: FrameKind) -> &mut T {
        match stream {
            FrameKind::Colour => &mut self.colour,
            FrameKind::Depth => &mut self.depth,
        }
    }
}

/// Matching tolerance between a frame and its expected timestamp at `fps`, in µs.
///
/// These are the SDK functional test's bounds for colour↔IR within a device and master colour ↔
/// subordinate colour + delay (reference §6.4): one third of a percent of the frame period. They
/// cover the docs' 100 µs colour alignment plus ±1 tick (11 µs) of quantisation jitter, and stay
/// far below half a period, so neighbouring pulses can never both match.
pub const fn tolerance_usec(fps: Fps) -> u32 {
    match fps {
        Fps::Fps30 => 110,
        Fps::Fps15 => 220,
        Fps::Fps5 => 660,
    }
}

/// Most devices an aligner tracks (missing frames are bit masks).
pub const MAX_ALIGNED_DEVICES: usize = 32;

/// Consecutive frames off the grid after which a device is declared lost.
pub const OFF_GRID_LIMIT: u8 = 3;

/// Frames held while waiting for the master's first frame to anchor the grid.
pub const PRE_ANCHOR_CAPACITY: usize = 64;

const NSEC_PER_SEC: i128 = 1_000_000_000;
const NSEC_PER_USEC: i64 = 1_000;

/// What the aligner must know about one device: its effective delays (tick-exact, from
/// `time::effective_delay_nsec`) and which streams it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceTiming {
    /// Ignored for the master.
    pub subordinate_delay_nsec: i64,
    pub depth_delay_nsec: i64,
    pub colour_on: bool,
    pub depth_on: bool,
}

impl DeviceTiming {
    /// Timing from the SET_SYS_CFG tick counts, both streams on.
    pub const fn from_ticks(subordinate_delay_ticks: u32, depth_delay_ticks: i32) -> Self {
        Self {
            subordinate_delay_nsec: crate::time::effective_delay_nsec(
                subordinate_delay_ticks as i32,
            ),
            depth_delay_nsec: crate::time::effective_delay_nsec(depth_delay_ticks),
            colour_on: true,
            depth_on: true,
        }
    }

    const fn runs(&self, stream: FrameKind) -> bool {
        match stream {
            FrameKind::Colour => self.colour_on,
            FrameKind::Depth => self.depth_on,
        }
    }
}

/// Configuration of an [`Aligner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlignerConfig<const N: usize> {
    pub fps: Fps,
    pub master: usize,
    pub devices: [DeviceTiming; N],
    /// Matching and in-sync tolerance; [`tolerance_usec`] of `fps` by default.
    pub tolerance_usec: u32,
    /// Largest relative drift between two device clocks the prediction allows for, in ppm
    /// (two ±100 ppm oscillators are 200 ppm apart; the default 500 leaves margin).
    pub max_drift_ppm: u32,
    /// A `Drift` event is reported per device every this many sets (default: 10 s).
    pub drift_report_sets: u32,
}

impl<const N: usize> AlignerConfig<N> {
    pub const fn new(fps: Fps, master: usize, devices: [DeviceTiming; N]) -> Self {
        Self {
            fps,
            master,
            devices,
            tolerance_usec: tolerance_usec(fps),
            max_drift_ppm: 500,
            drift_report_sets: fps.hz() * 10,
        }
    }
}

/// A configuration the aligner cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AlignError {
    /// The master index is not one of the `devices` devices.
    MasterOutOfRange { master: usize, devices: usize },
    /// More devices than the aligner tracks.
    TooManyDevices { devices: usize, max: usize },
    /// A frame names a device the aligner was not configured with.
    DeviceOutOfRange { device: usize, devices: usize },
}

impl fmt::Display for AlignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlignError::MasterOutOfRange { master, devices } => write!(
                f,
                "master index {master} is not one of the rig's {devices} devices"
            ),
            AlignError::TooManyDevices { devices, max } => {
                write!(f, "the aligner tracks at most {max} devices, got {devices}")
            }
            AlignError::DeviceOutOfRange { device, devices } => write!(
                f,
                "frame from device {device}, but the rig has {devices} devices"
            ),
        }
    }
}

/// The frames of one sync pulse across the rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameSet<const N: usize> {
    /// Pulse index on the master's grid (the master's first frame is near its clock's zero).
    pub set: i64,
    pub master_ts_usec: Option<Usec>,
    pub frames: PerStream<[Option<Usec>; N]>,
    /// Every device still in the rig delivered every stream it runs.
    pub complete: bool,
    missing: PerStream<u32>,
    /// Bit `d` set when device `d`'s frame of that stream is in `frames` (a cache of them).
    filled: PerStream<u32>,
}

impl<const N: usize> FrameSet<N> {
    fn empty(set: i64) -> Self {
        Self {
            set,
            master_ts_usec: None,
            frames: PerStream {
                colour: [None; N],
                depth: [None; N],
            },
            complete: false,
            missing: PerStream::default(),
            filled: PerStream::default(),
        }
    }

    /// The timestamp of `device`'s `stream` frame in this set.
    pub fn ts(&self, device: usize, stream: FrameKind) -> Option<Usec> {
        self.frames.get(stream).get(device).copied().flatten()
    }

    /// Whether this set reports `device`'s `stream` frame missing.
    pub fn is_missing(&self, device: usize, stream: FrameKind) -> bool {
        device < MAX_ALIGNED_DEVICES && self.missing.get(stream) & (1 << device) != 0
    }

    /// The frames reported missing in this set.
    pub fn missing(&self) -> impl Iterator<Item = (usize, FrameKind)> + '_ {
        (0..N).flat_map(move |device| {
            [FrameKind::Colour, FrameKind::Depth]
                .into_iter()
                .filter(move |&stream| self.is_missing(device, stream))
                .map(move |stream| (device, stream))
        })
    }
}

/// Why a device was dropped from the rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LossReason {
    /// Its timestamps jumped back: the clock was re-zeroed (device restarted, §10.4).
    ClockReset,
    /// [`OFF_GRID_LIMIT`] consecutive frames fit no pulse of the master's grid.
    OutOfTolerance,
}

/// Something the rig's health monitor should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HealthEvent {
    /// Every device still in the rig is within tolerance of the master, from `set` on.
    InSync { set: i64 },
    /// `device`'s offset to the master exceeds the tolerance (still paired, by tracking).
    Degraded { device: usize, offset_usec: i64 },
    /// `device` is no longer paired until the rig restarts.
    Lost { device: usize, reason: LossReason },
    /// `set` was emitted without `device`'s `stream` frame.
    MissingFrame {
        device: usize,
        stream: FrameKind,
        set: i64,
    },
    /// A frame off the master's grid (a spurious pulse); discarded.
    ExtraPulse {
        device: usize,
        stream: FrameKind,
        device_ts_usec: Usec,
    },
    /// A second frame for a slot already filled; discarded.
    DuplicateFrame {
        device: usize,
        stream: FrameKind,
        set: i64,
    },
    /// A frame for a set already emitted (it was reported missing there); discarded.
    LateFrame {
        device: usize,
        stream: FrameKind,
        set: i64,
    },
    /// A frame held for the master's first frame was pushed out of the pre-anchor buffer.
    Discarded {
        device: usize,
        stream: FrameKind,
        device_ts_usec: Usec,
    },
    /// `device`'s first frame belongs to a set `sets` pulses after the rig's first.
    StartSkew { device: usize, sets: i64 },
    /// `device`'s offset to the master moves at `drift_ppb`; it is `offset_usec` now.
    Drift {
        device: usize,
        drift_ppb: i64,
        offset_usec: i64,
    },
}

/// What the aligner hands its consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlignerOutput<const N: usize> {
    Set(FrameSet<N>),
    Health(HealthEvent),
}

/// Where a device stands in the aligner (see docs/sync-align.md for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DeviceSyncState {
    /// No frame accepted yet.
    #[default]
    Waiting,
    InSync,
    Degraded,
    Lost,
}

#[derive(Debug, Clone, Copy, Default)]
struct Track {
    last_ts_nsec: Option<i64>,
    last_set: i64,
    residual_nsec: i64,
    off_grid: u8,
}

#[derive(Debug, Clone, Copy, Default)]
struct DeviceAlign {
    state: DeviceSyncState,
    first_set: Option<i64>,
    tracks: PerStream<Track>,
    drift_from: Option<(i64, i64)>,
    /// Last set the device delivered to before it was lost.
    lost_after: i64,
}

impl DeviceAlign {
    /// Whether set `set` waits for this device's frames.
    fn required_in(&self, set: i64) -> bool {
        self.state != DeviceSyncState::Lost || set <= self.lost_after
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    device: usize,
    stream: FrameKind,
    ts: Usec,
}

/// Assembles frame sets from per-device frame streams; `W` pending sets at most.
#[derive(Debug, Clone)]
pub struct Aligner<const N: usize, const W: usize = 8> {
    config: AlignerConfig<N>,
    phase_nsec: Option<i64>,
    rig_first_set: Option<i64>,
    next_set: Option<i64>,
    emitted_any: bool,
    in_sync: bool,
    devices: [DeviceAlign; N],
    window: Deque<FrameSet<N>, W>,
    pre_anchor: Deque<Pending, PRE_ANCHOR_CAPACITY>,
    /// Derived from `config` once: the frame rate, one grid period, and which devices run
    /// which stream (bit per device).
    hz: i64,
    period_nsec: i64,
    runs: PerStream<u32>,
    /// Whether any device is `Lost`; until then every device is required in every set.
    any_lost: bool,
}

impl<const N: usize, const W: usize> Aligner<N, W> {
    fn fresh(config: AlignerConfig<N>) -> Self {
        let hz = i64::from(config.fps.hz());
        let mut runs = PerStream::<u32>::default();
        for (device, timing) in config.devices.iter().enumerate() {
            let bit = device_bit(device);
            if timing.colour_on {
                runs.colour |= bit;
            }
            if timing.depth_on {
                runs.depth |= bit;
            }
        }
        Self {
            config,
            phase_nsec: None,
            rig_first_set: None,
            next_set: None,
            emitted_any: false,
            in_sync: false,
            devices: [DeviceAlign::default(); N],
            window: Deque::new(),
            pre_anchor: Deque::new(),
            hz,
            period_nsec: mul_div(1, NSEC_PER_SEC as i64, hz),
            runs,
            any_lost: false,
        }
    }

    pub fn new(config: AlignerConfig<N>) -> Result<Self, AlignError> {
        if N > MAX_ALIGNED_DEVICES {
            return Err(AlignError::TooManyDevices {
                devices: N,
                max: MAX_ALIGNED_DEVICES,
            });
        }
        if config.master >= N {
            return Err(AlignError::MasterOutOfRange {
                master: config.master,
                devices: N,
            });
        }
        Ok(Self::fresh(config))
    }

    pub const fn config(&self) -> &AlignerConfig<N> {
        &self.config
    }

    /// Forgets everything, as after a rig restart (all clocks zeroed again).
    pub fn reset(&mut self) {
        *self = Self::fresh(self.config);
    }

    /// Where `device` stands.
    pub fn state(&self, device: usize) -> Option<DeviceSyncState> {
        self.devices.get(device).map(|d| d.state)
    }

    /// Feeds one frame; `device`'s frames must come in the order the device delivered them.
    pub fn push(
        &mut self,
        device: usize,
        stream: FrameKind,
        device_ts_usec: Usec,
        out: &mut impl FnMut(AlignerOutput<N>),
    ) -> Result<(), AlignError> {
        if device >= N {
            return Err(AlignError::DeviceOutOfRange { device, devices: N });
        }
        let frame = Pending {
            device,
            stream,
            ts: device_ts_usec,
        };
        if self.phase_nsec.is_some() {
            self.place(frame, out);
            return Ok(());
        }
        if device != self.config.master {
            if self.pre_anchor.is_full() {
                if let Some(old) = self.pre_anchor.pop_front() {
                    out(AlignerOutput::Health(HealthEvent::Discarded {
                        device: old.device,
                        stream: old.stream,
                        device_ts_usec: old.ts,
                    }));
                }
            }
            let _ = self.pre_anchor.push_back(frame);
            return Ok(());
        }
        let x = ts_nsec(device_ts_usec) - self.expected_delay_nsec(device, stream);
        let n = self.nearest_set(x);
        self.phase_nsec = Some(x - self.period_grid_nsec(n));
        self.place(frame, out);
        while let Some(held) = self.pre_anchor.pop_front() {
            self.place(held, out);
        }
        Ok(())
    }

    /// Emits every pending set (end of stream).
    pub fn flush(&mut self, out: &mut impl FnMut(AlignerOutput<N>)) {
        while !self.window.is_empty() {
            self.emit_front(out);
        }
    }

    fn period_grid_nsec(&self, n: i64) -> i64 {
        if n == 1 {
            return self.period_nsec;
        }
        mul_div(n, NSEC_PER_SEC as i64, self.hz)
    }

    fn grid_nsec(&self, n: i64) -> i64 {
        self.phase_nsec.unwrap_or(0) + self.period_grid_nsec(n)
    }

    fn nearest_set(&self, x_nsec: i64) -> i64 {
        let rel = x_nsec - self.phase_nsec.unwrap_or(0);
        let hz = self.hz;
        const HALF_SEC: i64 = (NSEC_PER_SEC / 2) as i64;
        match rel.checked_mul(hz).and_then(|v| v.checked_add(HALF_SEC)) {
            Some(v) => v.div_euclid(NSEC_PER_SEC as i64),
            None => {
                ((i128::from(rel) * i128::from(hz) + NSEC_PER_SEC / 2).div_euclid(NSEC_PER_SEC))
                    as i64
            }
        }
    }

    fn expected_delay_nsec(&self, device: usize, stream: FrameKind) -> i64 {
        let Some(timing) = self.config.devices.get(device) else {
            return 0;
        };
        let colour = if device == self.config.master {
            0
        } else {
            timing.subordinate_delay_nsec
        };
        match stream {
            FrameKind::Colour => colour,
            FrameKind::Depth => colour + timing.depth_delay_nsec,
        }
    }

    fn tolerance_nsec(&self) -> i64 {
        i64::from(self.config.tolerance_usec) * NSEC_PER_USEC
    }

    /// The master's current offset to its own grid: the reference other devices are judged by.
    fn master_reference(&self) -> Option<(i64, i64)> {
        let master = self.devices.get(self.config.master)?;
        [FrameKind::Colour, FrameKind::Depth]
            .into_iter()
            .map(|s| master.tracks.get(s))
            .find(|t| t.last_ts_nsec.is_some())
            .map(|t| (t.residual_nsec, t.last_set))
    }

    fn place(&mut self, frame: Pending, out: &mut impl FnMut(AlignerOutput<N>)) {
        let Pending { device, stream, ts } = frame;
        let Some(state) = self.devices.get(device) else {
            return;
        };
        if state.state == DeviceSyncState::Lost {
            return;
        }
        let track = *state.tracks.get(stream);
        let other = *state.tracks.get(other_stream(stream));
        let ts_nsec = ts_nsec(ts);
        let tolerance = self.tolerance_nsec();
        let (predicted, reference_set) = if track.last_ts_nsec.is_some() {
            (track.residual_nsec, Some(track.last_set))
        } else if other.last_ts_nsec.is_some() {
            (other.residual_nsec, Some(other.last_set))
        } else {
            match self.master_reference() {
                Some((residual, set)) => (residual, Some(set)),
                None => (0, None),
            }
        };
        if let Some(last) = track.last_ts_nsec {
            if ts_nsec + tolerance < last {
                self.lose(device, LossReason::ClockReset, out);
                return;
            }
        }
        let delay = self.expected_delay_nsec(device, stream);
        let n = self.nearest_set(ts_nsec - delay - predicted);
        let residual = ts_nsec - delay - self.grid_nsec(n);
        let elapsed_nsec = reference_set.map_or(0, |set| self.period_grid_nsec((n - set).abs()));
        let drift_allowance = mul_div(
            elapsed_nsec,
            i64::from(self.config.max_drift_ppm),
            1_000_000,
        );
        // Beyond a quarter period the nearest pulse is no longer an unambiguous match.
        let allowed = (tolerance + drift_allowance).min(self.period_grid_nsec(1) / 4);
        if (residual - predicted).abs() > allowed {
            let off_grid = track.off_grid.saturating_add(1);
            if let Some(d) = self.devices.get_mut(device) {
                d.tracks.get_mut(stream).off_grid = off_grid;
            }
            if off_grid >= OFF_GRID_LIMIT {
                self.lose(device, LossReason::OutOfTolerance, out);
            } else {
                out(AlignerOutput::Health(HealthEvent::ExtraPulse {
                    device,
                    stream,
                    device_ts_usec: ts,
                }));
            }
            return;
        }
        if track.last_ts_nsec.is_some() && n <= track.last_set {
            out(AlignerOutput::Health(HealthEvent::DuplicateFrame {
                device,
                stream,
                set: n,
            }));
            return;
        }
        self.accept(device, stream, n, residual, ts_nsec, out);
        self.insert(device, stream, n, ts, out);
    }

    fn accept(
        &mut self,
        device: usize,
        stream: FrameKind,
        n: i64,
        residual: i64,
        ts_nsec: i64,
        out: &mut impl FnMut(AlignerOutput<N>),
    ) {
        let rig_first = *self.rig_first_set.get_or_insert(n);
        let is_master = device == self.config.master;
        let reference = self.master_reference().map(|(r, _)| r);
        let tolerance = self.tolerance_nsec();
        let drift_report_sets = i64::from(self.config.drift_report_sets.max(1));
        let period_nsec = self.period_grid_nsec(1).max(1);
        let Some(d) = self.devices.get_mut(device) else {
            return;
        };
        *d.tracks.get_mut(stream) = Track {
            last_ts_nsec: Some(ts_nsec),
            last_set: n,
            residual_nsec: residual,
            off_grid: 0,
        };
        if d.first_set.is_none() {
            d.first_set = Some(n);
            d.state = DeviceSyncState::InSync;
            if n > rig_first {
                out(AlignerOutput::Health(HealthEvent::StartSkew {
                    device,
                    sets: n - rig_first,
                }));
            }
        }
        let Some(reference) = reference.filter(|_| !is_master) else {
            return;
        };
        let drift_stream = if d.tracks.colour.last_ts_nsec.is_some() {
            FrameKind::Colour
        } else {
            FrameKind::Depth
        };
        let offset = residual - reference;
        if offset.abs() > tolerance {
            if d.state != DeviceSyncState::Degraded {
                d.state = DeviceSyncState::Degraded;
                out(AlignerOutput::Health(HealthEvent::Degraded {
                    device,
                    offset_usec: offset / NSEC_PER_USEC,
                }));
            }
        } else if d.state == DeviceSyncState::Degraded && stream == drift_stream {
            d.state = DeviceSyncState::InSync;
        }
        if stream != drift_stream {
            return;
        }
        match d.drift_from {
            None => d.drift_from = Some((n, offset)),
            Some((from_set, from_offset)) if n - from_set >= drift_report_sets => {
                let span_nsec = i128::from(n - from_set) * i128::from(period_nsec);
                let drift_ppb =
                    (i128::from(offset - from_offset) * NSEC_PER_SEC / span_nsec) as i64;
                d.drift_from = Some((n, offset));
                out(AlignerOutput::Health(HealthEvent::Drift {
                    device,
                    drift_ppb,
                    offset_usec: offset / NSEC_PER_USEC,
                }));
            }
            Some(_) => {}
        }
    }

    fn lose(&mut self, device: usize, reason: LossReason, out: &mut impl FnMut(AlignerOutput<N>)) {
        if let Some(d) = self.devices.get_mut(device) {
            d.state = DeviceSyncState::Lost;
            self.any_lost = true;
            d.lost_after = d.tracks.colour.last_set.max(d.tracks.depth.last_set);
        }
        out(AlignerOutput::Health(HealthEvent::Lost { device, reason }));
        while self.window.front().is_some_and(|set| self.is_complete(set)) {
            self.emit_front(out);
        }
    }

    fn insert(
        &mut self,
        device: usize,
        stream: FrameKind,
        n: i64,
        ts: Usec,
        out: &mut impl FnMut(AlignerOutput<N>),
    ) {
        let mut base = *self.next_set.get_or_insert(n);
        if n < base {
            let room = W.saturating_sub(self.window.len()) as i64;
            if self.emitted_any || base - n > room {
                out(AlignerOutput::Health(HealthEvent::LateFrame {
                    device,
                    stream,
                    set: n,
                }));
                return;
            }
            while base > n {
                base -= 1;
                let _ = self.window.push_front(FrameSet::empty(base));
            }
            self.next_set = Some(base);
        }
        while n >= self.next_set.unwrap_or(n) + W as i64 {
            if self.window.is_empty() {
                // Pulses nobody delivered a frame for, a whole window long: no sets for them.
                self.next_set = Some(n);
                break;
            }
            self.emit_front(out);
        }
        let base = self.next_set.unwrap_or(n);
        while base + (self.window.len() as i64) <= n {
            let set = base + self.window.len() as i64;
            if self.window.push_back(FrameSet::empty(set)).is_err() {
                break;
            }
        }
        let Some(set) = self.window.iter_mut().find(|set| set.set == n) else {
            return;
        };
        let Some(slot) = set.frames.get_mut(stream).get_mut(device) else {
            return;
        };
        if slot.is_some() {
            out(AlignerOutput::Health(HealthEvent::DuplicateFrame {
                device,
                stream,
                set: n,
            }));
            return;
        }
        *slot = Some(ts);
        *set.filled.get_mut(stream) |= device_bit(device);
        if device == self.config.master && stream == FrameKind::Colour {
            set.master_ts_usec = Some(ts);
        }
        while self.window.front().is_some_and(|set| self.is_complete(set)) {
            self.emit_front(out);
        }
    }

    /// Every device the set waits for delivered every stream it runs.
    fn is_complete(&self, set: &FrameSet<N>) -> bool {
        if self.any_lost {
            return self.is_complete_walk(set);
        }
        set.filled.colour & self.runs.colour == self.runs.colour
            && set.filled.depth & self.runs.depth == self.runs.depth
    }

    /// [`is_complete`](Self::is_complete) device by device, honouring lost devices.
    fn is_complete_walk(&self, set: &FrameSet<N>) -> bool {
        self.devices
            .iter()
            .zip(self.config.devices.iter())
            .enumerate()
            .filter(|(_, (d, _))| d.required_in(set.set))
            .all(|(device, (_, timing))| {
                [FrameKind::Colour, FrameKind::Depth]
                    .into_iter()
                    .filter(|&s| timing.runs(s))
                    .all(|s| set.ts(device, s).is_some())
            })
    }

    fn emit_front(&mut self, out: &mut impl FnMut(AlignerOutput<N>)) {
        let Some(mut set) = self.window.pop_front() else {
            return;
        };
        set.complete = self.is_complete(&set);
        for (device, (d, timing)) in self
            .devices
            .iter()
            .zip(self.config.devices.iter())
            .enumerate()
        {
            let started = d.first_set.is_some_and(|first| first <= set.set);
            if !d.required_in(set.set) || !started {
                continue;
            }
            for stream in [FrameKind::Colour, FrameKind::Depth] {
                if timing.runs(stream) && set.ts(device, stream).is_none() {
                    *set.missing.get_mut(stream) |= 1 << device;
                    out(AlignerOutput::Health(HealthEvent::MissingFrame {
                        device,
                        stream,
                        set: set.set,
                    }));
                }
            }
        }
        if set.complete {
            let degraded = self
                .devices
                .iter()
                .any(|d| d.state == DeviceSyncState::Degraded);
            if degraded {
                self.in_sync = false;
            } else if !self.in_sync {
                self.in_sync = true;
                out(AlignerOutput::Health(HealthEvent::InSync { set: set.set }));
            }
        }
        self.next_set = Some(set.set + 1);
        self.emitted_any = true;
        out(AlignerOutput::Set(set));
    }
}

const fn other_stream(stream: FrameKind) -> FrameKind {
    match stream {
        FrameKind::Colour => FrameKind::Depth,
        FrameKind::Depth => FrameKind::Colour,
    }
}

/// The bit of `device` in a per-device mask (devices ≥ 32 are refused by [`Aligner::new`]).
const fn device_bit(device: usize) -> u32 {
    match 1u32.checked_shl(device as u32) {
        Some(bit) => bit,
        None => 0,
    }
}

/// `a × b / c` truncated toward zero, as the same expression in `i128` gives it (then cast to
/// `i64`); the `i64` path avoids a 128-bit division wherever the product fits.
fn mul_div(a: i64, b: i64, c: i64) -> i64 {
    match a.checked_mul(b) {
        Some(product) if c != 0 && !(product == i64::MIN && c == -1) => product / c,
        _ => i128::from(a)
            .checked_mul(i128::from(b))
            .and_then(|p| p.checked_div(i128::from(c)))
            .unwrap_or(0) as i64,
    }
}

fn ts_nsec(ts: Usec) -> i64 {
    i64::try_from(ts.0)
        .unwrap_or(i64::MAX)
        .saturating_mul(NSEC_PER_USEC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const P: u64 = 33_333;

    fn aligner() -> Aligner<2, 4> {
        let sub = DeviceTiming::from_ticks(14, 0);
        Aligner::new(AlignerConfig::new(
            Fps::Fps30,
            0,
            [DeviceTiming::from_ticks(0, 0), sub],
        ))
        .unwrap()
    }

    fn feed(a: &mut Aligner<2, 4>, frames: &[(usize, FrameKind, u64)]) -> Vec<AlignerOutput<2>> {
        let mut out = Vec::new();
        for &(d, s, ts) in frames {
            a.push(d, s, Usec(ts), &mut |o| out.push(o)).unwrap();
        }
        out
    }

    fn health(out: &[AlignerOutput<2>]) -> Vec<HealthEvent> {
        out.iter()
            .filter_map(|o| match o {
                AlignerOutput::Health(h) => Some(*h),
                _ => None,
            })
            .collect()
    }

    fn pulse(k: u64, sub_offset: i64) -> [(usize, FrameKind, u64); 4] {
        let m = k * P;
        let s = (m as i64 + 155 + sub_offset) as u64;
        [
            (0, FrameKind::Colour, m),
            (0, FrameKind::Depth, m + 3),
            (1, FrameKind::Colour, s),
            (1, FrameKind::Depth, s + 2),
        ]
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn mul_div_equals_the_i128_expression_it_replaces(
            a in proptest::prelude::any::<i64>(),
            b in proptest::prelude::any::<i64>(),
            c in proptest::prelude::any::<i64>().prop_map(|c| if c == 0 { 1 } else { c }),
        ) {
            let wide = i128::from(a) * i128::from(b);
            if let Some(q) = wide.checked_div(i128::from(c)) {
                proptest::prop_assert_eq!(mul_div(a, b, c), q as i64);
            }
        }

        #[test]
        fn nearest_set_equals_the_i128_rounding_it_replaces(x in proptest::prelude::any::<i64>()) {
            let a = aligner();
            let hz = i128::from(Fps::Fps30.hz());
            let wide = (i128::from(x) * hz + NSEC_PER_SEC / 2).div_euclid(NSEC_PER_SEC) as i64;
            proptest::prop_assert_eq!(a.nearest_set(x), wide);
        }
    }

    proptest::proptest! {
        #[test]
        fn completeness_mask_agrees_with_the_device_walk(
            slots in proptest::collection::vec(proptest::prelude::any::<bool>(), 6),
            colour_off in proptest::prelude::any::<bool>(),
        ) {
            let mut devices = [DeviceTiming::from_ticks(0, 0); 3];
            devices[2].colour_on = !colour_off;
            let mut a = Aligner::<3, 4>::new(AlignerConfig::new(Fps::Fps30, 0, devices)).unwrap();
            a.push(0, FrameKind::Colour, Usec(5 * P), &mut |_| {}).unwrap();
            let mut set = FrameSet::<3>::empty(9);
            for (i, &filled) in slots.iter().enumerate() {
                let (device, stream) = (i / 2, if i % 2 == 0 { FrameKind::Colour } else { FrameKind::Depth });
                if filled {
                    set.frames.get_mut(stream)[device] = Some(Usec(1));
                    *set.filled.get_mut(stream) |= device_bit(device);
                }
            }
            proptest::prop_assert_eq!(a.is_complete(&set), a.is_complete_walk(&set));
        }
    }

    #[test]
    fn tolerances_follow_the_sdk_functional_test() {
        assert_eq!(tolerance_usec(Fps::Fps30), 110);
        assert_eq!(tolerance_usec(Fps::Fps15), 220);
        assert_eq!(tolerance_usec(Fps::Fps5), 660);
    }

    #[test]
    fn a_complete_pulse_is_emitted_at_once_and_in_sync() {
        let mut a = aligner();
        let out = feed(&mut a, &pulse(3, 20));
        assert_eq!(health(&out), [HealthEvent::InSync { set: 3 }]);
        let AlignerOutput::Set(set) = out[out.len() - 1] else {
            panic!("no set");
        };
        assert!(set.complete);
        assert_eq!(set.set, 3);
        assert_eq!(set.master_ts_usec, Some(Usec(3 * P)));
        assert_eq!(set.ts(1, FrameKind::Colour), Some(Usec(3 * P + 175)));
    }

    #[test]
    fn subordinate_frames_before_the_master_wait_for_the_grid() {
        let mut a = aligner();
        let p = pulse(0, 0);
        let out = feed(&mut a, &[p[2], p[3], p[0], p[1]]);
        assert!(matches!(out.last(), Some(AlignerOutput::Set(s)) if s.complete));
    }

    #[test]
    fn a_clock_jumping_back_is_a_sync_loss_and_the_device_is_left_out() {
        let mut a = aligner();
        for k in 0..10 {
            feed(&mut a, &pulse(k, 0));
        }
        let after_restart = (1, FrameKind::Colour, 2 * P + 155);
        let out = feed(&mut a, &[after_restart]);
        assert_eq!(
            health(&out),
            [HealthEvent::Lost {
                device: 1,
                reason: LossReason::ClockReset
            }]
        );
        assert_eq!(a.state(1), Some(DeviceSyncState::Lost));
        let out = feed(
            &mut a,
            &[
                (0, FrameKind::Colour, 10 * P),
                (0, FrameKind::Depth, 10 * P),
            ],
        );
        assert!(matches!(out.last(), Some(AlignerOutput::Set(s)) if s.complete && s.set == 10));
    }

    #[test]
    fn slow_drift_is_tracked_and_reported_degraded_past_the_tolerance() {
        let mut a = aligner();
        let mut events = Vec::new();
        for k in 0..40u64 {
            let out = feed(&mut a, &pulse(k, 5 * k as i64));
            assert!(matches!(out.last(), Some(AlignerOutput::Set(s)) if s.complete));
            events.extend(health(&out));
        }
        let degraded: Vec<i64> = events
            .iter()
            .filter_map(|h| match *h {
                HealthEvent::Degraded {
                    device: 1,
                    offset_usec,
                } => Some(offset_usec),
                _ => None,
            })
            .collect();
        assert_eq!(degraded.len(), 1);
        assert!((110..=116).contains(&degraded[0]), "{degraded:?}");
        assert_eq!(a.state(1), Some(DeviceSyncState::Degraded));
    }

    #[test]
    fn an_off_grid_frame_is_an_extra_pulse_and_never_paired() {
        let mut a = aligner();
        feed(&mut a, &pulse(0, 0));
        let out = feed(&mut a, &[(0, FrameKind::Colour, P / 2)]);
        assert_eq!(
            health(&out),
            [HealthEvent::ExtraPulse {
                device: 0,
                stream: FrameKind::Colour,
                device_ts_usec: Usec(P / 2)
            }]
        );
        let out = feed(&mut a, &pulse(1, 0));
        assert!(matches!(out.last(), Some(AlignerOutput::Set(s)) if s.complete && s.set == 1));
    }

    #[test]
    fn a_missing_frame_is_reported_once_when_the_window_moves_past_it() {
        let mut a = aligner();
        let p0 = pulse(0, 0);
        let mut out = feed(&mut a, &p0[..3]);
        for k in 1..6 {
            out.extend(feed(&mut a, &pulse(k, 0)));
        }
        let missing: Vec<_> = health(&out)
            .into_iter()
            .filter(|h| matches!(h, HealthEvent::MissingFrame { .. }))
            .collect();
        assert_eq!(
            missing,
            [HealthEvent::MissingFrame {
                device: 1,
                stream: FrameKind::Depth,
                set: 0
            }]
        );
        let sets: Vec<i64> = out
            .iter()
            .filter_map(|o| match o {
                AlignerOutput::Set(s) => Some(s.set),
                _ => None,
            })
            .collect();
        assert_eq!(sets, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_rig_bigger_than_the_masks_or_a_missing_master_is_refused() {
        let cfg = AlignerConfig::new(Fps::Fps30, 2, [DeviceTiming::default(); 2]);
        assert_eq!(
            Aligner::<2>::new(cfg).err(),
            Some(AlignError::MasterOutOfRange {
                master: 2,
                devices: 2
            })
        );
        let cfg = AlignerConfig::new(Fps::Fps30, 0, [DeviceTiming::default(); 33]);
        assert!(matches!(
            Aligner::<33>::new(cfg),
            Err(AlignError::TooManyDevices { .. })
        ));
    }
}
