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
use core::num::NonZeroU64;

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
    /// Consecutive off-grid frames after which a device is declared lost ([`OFF_GRID_LIMIT`] by
    /// default); 0 never loses a device for that (each such frame stays an `ExtraPulse`). An
    /// offline reader of time-sorted files sets 0: there a restarted subordinate's re-zeroed
    /// frames come *before* its synced ones, which must still be placed.
    pub off_grid_limit: u8,
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
            off_grid_limit: OFF_GRID_LIMIT,
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

/// What the aligner hands its consumer. A set is lent for the duration of the call, straight
/// from the aligner's window (copy it, `*set`, to keep it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlignerOutput<'a, const N: usize> {
    Set(&'a FrameSet<N>),
    Health(HealthEvent),
}

/// Where a device stands in the aligner (docs/sync.md, "Per-device states", has the transitions).
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
    /// Pulse `last_set + 1`, precomputed when the last frame was accepted; `None` where the
    /// fast path of [`Aligner::push`] does not apply (see [`NextPulse`]).
    next: Option<NextPulse>,
}

/// The pulse after a track's last accepted frame (set `n`, device timestamp `t`, residual `r`,
/// grid offset `g(n)`), for placing the track's next frame without the general search.
///
/// Its frame is expected at `t + g(n + 1) − g(n)`, which is `phase + g(n + 1) + delay + r`: the
/// timestamp [`Aligner::push`]'s general path predicts for pulse `n + 1`. A frame that deviates
/// from it by `e`, `|e|` within the one-period allowance (at most a quarter period), is
/// therefore placed by the general path on pulse `n + 1` (nearest-pulse rounding moves only
/// past half a period) with residual `r + e`, is not a clock reset (it is ¾ of a period after
/// `t`) and not a duplicate. Kept only while `t` and `n` are far from the `i64` limits, so that
/// every one of these steps is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NextPulse {
    expected_ts_nsec: i64,
    /// `g(n + 1)`: the pulse's offset from the grid's phase.
    grid_nsec: i64,
}

/// Largest device timestamp (ns) and set number whose track keeps a [`NextPulse`] (≈ 146 years,
/// 2³² pulses): below them no sum or product of the fast path overflows.
const NEXT_PULSE_MAX_TS_NSEC: i64 = 1 << 62;
/// Largest device timestamp (µs) the fast path converts to ns itself (`< NEXT_PULSE_MAX_TS_NSEC`).
const NEXT_PULSE_MAX_TS_USEC: u64 = 1 << 52;
const NEXT_PULSE_MAX_SET: i64 = 1 << 32;

/// A frame's place on the grid, as the aligner accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    set: i64,
    residual_nsec: i64,
    ts_nsec: i64,
    /// Offset of `set`'s pulse from the grid's phase.
    grid_nsec: i64,
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

/// The pending sets, oldest first, in a ring: the `i`-th is `sets[(head + i) mod W]` and, as the
/// window always holds consecutive sets, it is set `next_set + i`. Sets are filled and handed
/// out in place.
#[derive(Debug, Clone)]
struct Window<const N: usize, const W: usize> {
    sets: [FrameSet<N>; W],
    head: usize,
    len: usize,
}

impl<const N: usize, const W: usize> Window<N, W> {
    fn new() -> Self {
        Self {
            sets: [FrameSet::empty(0); W],
            head: 0,
            len: 0,
        }
    }

    const fn len(&self) -> usize {
        self.len
    }

    const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index in `sets` of the `i`-th pending set, for `i < W` (`head < W` always).
    const fn slot(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= W {
            j - W
        } else {
            j
        }
    }

    fn front(&self) -> Option<&FrameSet<N>> {
        if self.len == 0 {
            return None;
        }
        self.sets.get(self.head)
    }

    fn front_mut(&mut self) -> Option<&mut FrameSet<N>> {
        if self.len == 0 {
            return None;
        }
        self.sets.get_mut(self.head)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut FrameSet<N>> {
        if i >= self.len {
            return None;
        }
        let slot = self.slot(i);
        self.sets.get_mut(slot)
    }

    /// Appends an empty set `set`; `false` when the window is full.
    fn push_back(&mut self, set: i64) -> bool {
        if self.len >= W {
            return false;
        }
        let slot = self.slot(self.len);
        if let Some(s) = self.sets.get_mut(slot) {
            *s = FrameSet::empty(set);
        }
        self.len += 1;
        true
    }

    /// Prepends an empty set `set`; `false` when the window is full.
    fn push_front(&mut self, set: i64) -> bool {
        if self.len >= W {
            return false;
        }
        self.head = self.head.checked_sub(1).unwrap_or(W.saturating_sub(1));
        if let Some(s) = self.sets.get_mut(self.head) {
            *s = FrameSet::empty(set);
        }
        self.len += 1;
        true
    }

    fn pop_front(&mut self) {
        if self.len > 0 {
            self.head = self.slot(1);
            self.len -= 1;
        }
    }
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
    window: Window<N, W>,
    pre_anchor: Deque<Pending, PRE_ANCHOR_CAPACITY>,
    /// Derived from `config` once: the frame rate, one grid period, which devices run which
    /// stream (bit per device), the tolerance, and how far a frame one period after its
    /// stream's last may move (tolerance + drift allowance over one period, capped at a quarter
    /// period).
    hz: i64,
    hz_nonzero: NonZeroU64,
    period_nsec: i64,
    runs: PerStream<u32>,
    tolerance_nsec: i64,
    step_allowed_nsec: u64,
    /// Whether any device is `Lost`; until then every device is required in every set.
    any_lost: bool,
    /// The master's (residual, set) reference, updated as its tracks are; equal to
    /// [`master_reference`](Self::master_reference) at all times.
    master_ref: Option<(i64, i64)>,
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
        let period_nsec = mul_div(1, NSEC_PER_SEC as i64, hz);
        let tolerance_nsec = i64::from(config.tolerance_usec) * NSEC_PER_USEC;
        let step_allowed_nsec = (tolerance_nsec
            + mul_div(period_nsec, i64::from(config.max_drift_ppm), 1_000_000))
        .min(period_nsec / 4);
        Self {
            config,
            phase_nsec: None,
            rig_first_set: None,
            next_set: None,
            emitted_any: false,
            in_sync: false,
            devices: [DeviceAlign::default(); N],
            window: Window::new(),
            pre_anchor: Deque::new(),
            hz,
            hz_nonzero: NonZeroU64::new(u64::from(config.fps.hz())).unwrap_or(NonZeroU64::MIN),
            period_nsec,
            runs,
            tolerance_nsec,
            step_allowed_nsec: step_allowed_nsec.unsigned_abs(),
            any_lost: false,
            master_ref: None,
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
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) -> Result<(), AlignError> {
        if device >= N {
            return Err(AlignError::DeviceOutOfRange { device, devices: N });
        }
        if let Some(placed) = self.next_pulse(device, stream, device_ts_usec) {
            self.accept(device, stream, placed, out);
            self.insert(device, stream, placed.set, device_ts_usec, out);
            return Ok(());
        }
        self.push_general(device, stream, device_ts_usec, out);
        Ok(())
    }

    /// [`push`](Self::push) without the fast path: the frame is placed by the general rules.
    fn push_general(
        &mut self,
        device: usize,
        stream: FrameKind,
        device_ts_usec: Usec,
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) {
        let frame = Pending {
            device,
            stream,
            ts: device_ts_usec,
        };
        if self.phase_nsec.is_some() {
            self.place(frame, out);
            return;
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
            return;
        }
        let x = ts_nsec(device_ts_usec) - self.expected_delay_nsec(device, stream);
        let n = self.nearest_set(x);
        self.phase_nsec = Some(x - self.period_grid_nsec(n));
        self.place(frame, out);
        while let Some(held) = self.pre_anchor.pop_front() {
            self.place(held, out);
        }
    }

    /// Emits every pending set (end of stream).
    pub fn flush(&mut self, out: &mut impl FnMut(AlignerOutput<'_, N>)) {
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

    /// The master's current offset to its own grid: the reference other devices are judged by.
    /// Kept in `master_ref`; this is its definition.
    #[cfg(test)]
    fn master_reference(&self) -> Option<(i64, i64)> {
        let master = self.devices.get(self.config.master)?;
        [FrameKind::Colour, FrameKind::Depth]
            .into_iter()
            .map(|s| master.tracks.get(s))
            .find(|t| t.last_ts_nsec.is_some())
            .map(|t| (t.residual_nsec, t.last_set))
    }

    /// The fast path of [`place`](Self::place): the frame of the pulse after its track's last,
    /// within the one-period allowance of where [`NextPulse`] expects it, is placed exactly as
    /// `place` would place it. `None` sends the frame down the general path.
    #[inline]
    fn next_pulse(&self, device: usize, stream: FrameKind, ts: Usec) -> Option<Placed> {
        let track = self.devices.get(device)?.tracks.get(stream);
        let next = track.next?;
        if ts.0 > NEXT_PULSE_MAX_TS_USEC {
            return None;
        }
        // `ts_nsec(ts)`, which cannot saturate here.
        let ts_nsec = ts.0 as i64 * NSEC_PER_USEC;
        // No overflow: 0 ≤ `ts_nsec` ≤ 2⁶² and 0 < `expected_ts_nsec` < 2⁶³.
        let deviation = ts_nsec - next.expected_ts_nsec;
        if deviation.unsigned_abs() > self.step_allowed_nsec {
            return None;
        }
        Some(Placed {
            set: track.last_set + 1,
            residual_nsec: track.residual_nsec.wrapping_add(deviation),
            ts_nsec,
            grid_nsec: next.grid_nsec,
        })
    }

    /// The [`NextPulse`] of a track whose frame was just accepted as `placed`.
    fn next_pulse_after(&self, placed: &Placed) -> Option<NextPulse> {
        if placed.ts_nsec > NEXT_PULSE_MAX_TS_NSEC || !(0..NEXT_PULSE_MAX_SET).contains(&placed.set)
        {
            return None;
        }
        // `period_grid_nsec(set + 1)`: the product fits, and for a positive quotient truncation
        // is the unsigned division's.
        let grid_nsec = ((placed.set + 1) as u64 * NSEC_PER_SEC as u64 / self.hz_nonzero) as i64;
        Some(NextPulse {
            expected_ts_nsec: placed.ts_nsec + (grid_nsec - placed.grid_nsec),
            grid_nsec,
        })
    }

    fn place(&mut self, frame: Pending, out: &mut impl FnMut(AlignerOutput<'_, N>)) {
        let Pending { device, stream, ts } = frame;
        let Some(state) = self.devices.get(device) else {
            return;
        };
        if state.state == DeviceSyncState::Lost {
            return;
        }
        let track = state.tracks.get(stream);
        let other = state.tracks.get(other_stream(stream));
        let (track_last_ts, track_last_set, track_off_grid) =
            (track.last_ts_nsec, track.last_set, track.off_grid);
        let ts_nsec = ts_nsec(ts);
        let tolerance = self.tolerance_nsec;
        let (predicted, reference_set) = if track.last_ts_nsec.is_some() {
            (track.residual_nsec, Some(track.last_set))
        } else if other.last_ts_nsec.is_some() {
            (other.residual_nsec, Some(other.last_set))
        } else {
            match self.master_ref {
                Some((residual, set)) => (residual, Some(set)),
                None => (0, None),
            }
        };
        if let Some(last) = track_last_ts {
            if ts_nsec + tolerance < last {
                self.lose(device, LossReason::ClockReset, out);
                return;
            }
        }
        let delay = self.expected_delay_nsec(device, stream);
        let n = self.nearest_set(ts_nsec - delay - predicted);
        let grid_nsec = self.period_grid_nsec(n);
        let residual = ts_nsec - delay - (self.phase_nsec.unwrap_or(0) + grid_nsec);
        let elapsed_nsec = reference_set.map_or(0, |set| self.period_grid_nsec((n - set).abs()));
        let drift_allowance = mul_div(
            elapsed_nsec,
            i64::from(self.config.max_drift_ppm),
            1_000_000,
        );
        // Beyond a quarter period the nearest pulse is no longer an unambiguous match.
        let allowed = (tolerance + drift_allowance).min(self.period_nsec / 4);
        if (residual - predicted).abs() > allowed {
            let off_grid = track_off_grid.saturating_add(1);
            if let Some(d) = self.devices.get_mut(device) {
                d.tracks.get_mut(stream).off_grid = off_grid;
            }
            let limit = self.config.off_grid_limit;
            if limit != 0 && off_grid >= limit {
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
        if track_last_ts.is_some() && n <= track_last_set {
            out(AlignerOutput::Health(HealthEvent::DuplicateFrame {
                device,
                stream,
                set: n,
            }));
            return;
        }
        let placed = Placed {
            set: n,
            residual_nsec: residual,
            ts_nsec,
            grid_nsec,
        };
        self.accept(device, stream, placed, out);
        self.insert(device, stream, n, ts, out);
    }

    #[inline(always)]
    fn accept(
        &mut self,
        device: usize,
        stream: FrameKind,
        placed: Placed,
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) {
        let next = self.next_pulse_after(&placed);
        let Placed {
            set: n,
            residual_nsec: residual,
            ts_nsec,
            ..
        } = placed;
        let tolerance = self.tolerance_nsec;
        let drift_report_sets = i64::from(self.config.drift_report_sets.max(1));
        let period_nsec = self.period_nsec.max(1);
        let Some(d) = self.devices.get_mut(device) else {
            return;
        };
        *d.tracks.get_mut(stream) = Track {
            last_ts_nsec: Some(ts_nsec),
            last_set: n,
            residual_nsec: residual,
            off_grid: 0,
            next,
        };
        if d.first_set.is_none() {
            let rig_first = *self.rig_first_set.get_or_insert(n);
            d.first_set = Some(n);
            d.state = DeviceSyncState::InSync;
            if n > rig_first {
                out(AlignerOutput::Health(HealthEvent::StartSkew {
                    device,
                    sets: n - rig_first,
                }));
            }
        }
        if device == self.config.master {
            if stream == FrameKind::Colour || d.tracks.colour.last_ts_nsec.is_none() {
                self.master_ref = Some((residual, n));
            }
            return;
        }
        let Some((reference, _)) = self.master_ref else {
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

    fn lose(
        &mut self,
        device: usize,
        reason: LossReason,
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) {
        if let Some(d) = self.devices.get_mut(device) {
            d.state = DeviceSyncState::Lost;
            self.any_lost = true;
            d.lost_after = d.tracks.colour.last_set.max(d.tracks.depth.last_set);
            d.tracks.colour.next = None;
            d.tracks.depth.next = None;
        }
        out(AlignerOutput::Health(HealthEvent::Lost { device, reason }));
        while self.window.front().is_some_and(|set| self.is_complete(set)) {
            self.emit_front(out);
        }
    }

    #[inline(always)]
    fn insert(
        &mut self,
        device: usize,
        stream: FrameKind,
        n: i64,
        ts: Usec,
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) {
        let base = *self.next_set.get_or_insert(n);
        // The window holds sets `base`, `base + 1`, … in order; most frames go to one of them.
        let pending = usize::try_from(n - base)
            .ok()
            .filter(|&i| i < self.window.len());
        let Some(index) = pending.or_else(|| self.make_room(device, stream, n, out)) else {
            return;
        };
        let Some(set) = self.window.get_mut(index) else {
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

    /// Moves the window so that it holds set `n` (emitting the sets it moves past, or growing it
    /// backwards before the first set is out) and returns `n`'s index in it; `None` for a frame
    /// too late for the window, reported.
    #[inline(never)]
    fn make_room(
        &mut self,
        device: usize,
        stream: FrameKind,
        n: i64,
        out: &mut impl FnMut(AlignerOutput<'_, N>),
    ) -> Option<usize> {
        let mut base = *self.next_set.get_or_insert(n);
        if n < base {
            let room = W.saturating_sub(self.window.len()) as i64;
            if self.emitted_any || base - n > room {
                out(AlignerOutput::Health(HealthEvent::LateFrame {
                    device,
                    stream,
                    set: n,
                }));
                return None;
            }
            while base > n {
                base -= 1;
                let _ = self.window.push_front(base);
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
            if !self.window.push_back(base + self.window.len() as i64) {
                break;
            }
        }
        usize::try_from(n - base).ok()
    }

    /// Every device the set waits for delivered every stream it runs.
    #[inline(always)]
    fn is_complete(&self, set: &FrameSet<N>) -> bool {
        if self.any_lost {
            return self.is_complete_walk(set);
        }
        set.filled.colour & self.runs.colour == self.runs.colour
            && set.filled.depth & self.runs.depth == self.runs.depth
    }

    /// [`is_complete`](Self::is_complete) device by device, honouring lost devices.
    #[inline(never)]
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

    /// Hands the oldest pending set out, in place, with its missing frames reported.
    fn emit_front(&mut self, out: &mut impl FnMut(AlignerOutput<'_, N>)) {
        let Some(set) = self.window.front() else {
            return;
        };
        let number = set.set;
        let complete = self.is_complete(set);
        let mut missing = PerStream::<u32>::default();
        // A complete set misses nothing: every device it waits for delivered all it runs.
        if !complete {
            for (device, (d, timing)) in self
                .devices
                .iter()
                .zip(self.config.devices.iter())
                .enumerate()
            {
                let started = d.first_set.is_some_and(|first| first <= number);
                if !d.required_in(number) || !started {
                    continue;
                }
                for stream in [FrameKind::Colour, FrameKind::Depth] {
                    if timing.runs(stream) && set.ts(device, stream).is_none() {
                        *missing.get_mut(stream) |= device_bit(device);
                        out(AlignerOutput::Health(HealthEvent::MissingFrame {
                            device,
                            stream,
                            set: number,
                        }));
                    }
                }
            }
        } else {
            let degraded = self
                .devices
                .iter()
                .any(|d| d.state == DeviceSyncState::Degraded);
            if degraded {
                self.in_sync = false;
            } else if !self.in_sync {
                self.in_sync = true;
                out(AlignerOutput::Health(HealthEvent::InSync { set: number }));
            }
        }
        self.next_set = Some(number + 1);
        self.emitted_any = true;
        if let Some(set) = self.window.front_mut() {
            set.complete = complete;
            set.missing = missing;
            out(AlignerOutput::Set(set));
        }
        self.window.pop_front();
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

    /// An [`AlignerOutput`] kept past the call.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Out<const N: usize> {
        Set(FrameSet<N>),
        Health(HealthEvent),
    }

    impl<const N: usize> From<AlignerOutput<'_, N>> for Out<N> {
        fn from(o: AlignerOutput<'_, N>) -> Self {
            match o {
                AlignerOutput::Set(set) => Out::Set(*set),
                AlignerOutput::Health(h) => Out::Health(h),
            }
        }
    }

    fn feed(a: &mut Aligner<2, 4>, frames: &[(usize, FrameKind, u64)]) -> Vec<Out<2>> {
        let mut out = Vec::new();
        for &(d, s, ts) in frames {
            a.push(d, s, Usec(ts), &mut |o| out.push(o.into())).unwrap();
        }
        out
    }

    fn health(out: &[Out<2>]) -> Vec<HealthEvent> {
        out.iter()
            .filter_map(|o| match o {
                Out::Health(h) => Some(*h),
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

    /// One frame of a generated stream: device, colour?, kind of timestamp, jitter (µs), skip.
    type Op = (usize, bool, u8, i64, u64);

    fn ops() -> impl proptest::strategy::Strategy<Value = Vec<Op>> {
        use proptest::prelude::any;
        proptest::collection::vec(
            (0usize..3, any::<bool>(), 0u8..20, -3000i64..3000, 1u64..5),
            1..200,
        )
    }

    /// A timestamp per op: mostly the next pulse with small jitter, sometimes a skipped pulse,
    /// an off-grid frame, a repeat of the last pulse, or a clock that jumps back.
    fn stream_ts(
        start: u64,
        period: u64,
        k: &mut [[u64; 2]; 3],
        op: Op,
    ) -> (usize, FrameKind, Usec) {
        let (device, colour, kind, jitter, skip) = op;
        let count = &mut k[device][usize::from(!colour)];
        let at = |count: u64| start.wrapping_add(count.wrapping_mul(period));
        let ts = match kind {
            0 => start.wrapping_add(jitter.unsigned_abs() * 1000),
            1 => {
                *count += skip;
                at(*count).wrapping_add(period / 2)
            }
            2 => at(*count),
            3 => {
                *count += skip;
                at(*count).wrapping_add_signed(jitter * 10)
            }
            _ => {
                *count += 1;
                at(*count).wrapping_add_signed(jitter / 20)
            }
        };
        let stream = if colour {
            FrameKind::Colour
        } else {
            FrameKind::Depth
        };
        (device, stream, Usec(ts))
    }

    fn three_devices(fps: Fps, ppm: u32) -> Aligner<3, 4> {
        let timing = [
            DeviceTiming::from_ticks(0, -20),
            DeviceTiming::from_ticks(14, 7),
            DeviceTiming {
                colour_on: false,
                ..DeviceTiming::from_ticks(28, 20)
            },
        ];
        let mut config = AlignerConfig::new(fps, 0, timing);
        config.max_drift_ppm = ppm;
        Aligner::new(config).unwrap()
    }

    /// Every piece of incremental state equals what it caches, recomputed from scratch.
    fn check_incremental_state(
        a: &Aligner<3, 4>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert_eq!(a.master_ref, a.master_reference());
        for (device, d) in a.devices.iter().enumerate() {
            for stream in [FrameKind::Colour, FrameKind::Depth] {
                let track = d.tracks.get(stream);
                let Some(next) = track.next else {
                    continue;
                };
                proptest::prop_assert!(d.state != DeviceSyncState::Lost);
                let set = track.last_set + 1;
                proptest::prop_assert_eq!(next.grid_nsec, a.period_grid_nsec(set));
                let phase = a.phase_nsec.unwrap_or(0);
                let predicted = phase
                    .wrapping_add(a.period_grid_nsec(set))
                    .wrapping_add(a.expected_delay_nsec(device, stream))
                    .wrapping_add(track.residual_nsec);
                proptest::prop_assert_eq!(next.expected_ts_nsec, predicted);
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]

        #[test]
        fn the_fast_path_places_frames_as_the_general_path_does(
            fps in proptest::sample::select(Fps::ALL.to_vec()),
            start in proptest::prop_oneof![
                0u64..10_000_000_000,
                (NEXT_PULSE_MAX_TS_USEC - 100_000)..(NEXT_PULSE_MAX_TS_USEC + 100_000),
                // Up to where `ts_nsec` saturates (the general path's arithmetic assumes less).
                0u64..9_000_000_000_000_000,
            ],
            ppm in proptest::prop_oneof![proptest::strategy::Just(500u32), 0u32..2_000_000],
            ops in ops(),
        ) {
            let mut fast = three_devices(fps, ppm);
            let mut general = three_devices(fps, ppm);
            let period = 1_000_000 / u64::from(fps.hz());
            let mut k = [[0u64; 2]; 3];
            let (mut got, mut want) = (Vec::<Out<3>>::new(), Vec::<Out<3>>::new());
            for op in ops {
                let (device, stream, ts) = stream_ts(start, period, &mut k, op);
                fast.push(device, stream, ts, &mut |o| got.push(o.into())).unwrap();
                general.push_general(device, stream, ts, &mut |o| want.push(o.into()));
                proptest::prop_assert_eq!(&got, &want);
                check_incremental_state(&fast)?;
                check_incremental_state(&general)?;
            }
            fast.flush(&mut |o| got.push(o.into()));
            general.flush(&mut |o| want.push(o.into()));
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn the_next_pulse_grid_equals_the_general_grid(set in 0i64..NEXT_PULSE_MAX_SET) {
            for fps in Fps::ALL {
                let a = three_devices(fps, 500);
                let placed = Placed { set, residual_nsec: 0, ts_nsec: 0, grid_nsec: a.period_grid_nsec(set) };
                let next = a.next_pulse_after(&placed);
                proptest::prop_assert_eq!(next.map(|n| n.grid_nsec), Some(a.period_grid_nsec(set + 1)));
            }
        }
    }

    #[test]
    fn frames_in_step_take_the_fast_path_and_others_do_not() {
        let mut a = aligner();
        for k in 0..3 {
            feed(&mut a, &pulse(k, 0));
        }
        for (device, stream, ts) in pulse(3, 4) {
            assert!(
                a.next_pulse(device, stream, Usec(ts)).is_some(),
                "{device} {stream:?}"
            );
        }
        for (device, stream, ts) in pulse(4, 0) {
            assert!(
                a.next_pulse(device, stream, Usec(ts)).is_none(),
                "skipped pulse"
            );
        }
        let off_grid = (0, FrameKind::Colour, 3 * P + P / 2);
        assert!(a
            .next_pulse(off_grid.0, off_grid.1, Usec(off_grid.2))
            .is_none());
        feed(&mut a, &[(1, FrameKind::Colour, 0)]);
        assert_eq!(a.state(1), Some(DeviceSyncState::Lost));
        let (device, stream, ts) = pulse(3, 0)[3];
        assert!(
            a.next_pulse(device, stream, Usec(ts)).is_none(),
            "lost device"
        );
    }

    #[test]
    fn with_no_off_grid_limit_off_grid_frames_never_lose_the_device() {
        let sub = DeviceTiming::from_ticks(14, 0);
        let mut config = AlignerConfig::new(Fps::Fps30, 0, [DeviceTiming::from_ticks(0, 0), sub]);
        config.off_grid_limit = 0;
        let mut a = Aligner::<2, 4>::new(config).unwrap();
        feed(&mut a, &pulse(0, 0)[..2]);
        let off_grid: Vec<_> = (0..5)
            .map(|k| (1, FrameKind::Colour, k * P + P / 2))
            .collect();
        let out = feed(&mut a, &off_grid);
        assert_eq!(health(&out).len(), 5, "{out:?}");
        assert!(health(&out)
            .iter()
            .all(|h| matches!(h, HealthEvent::ExtraPulse { device: 1, .. })));
        let mut out = feed(&mut a, &pulse(1, 0));
        assert_eq!(a.state(1), Some(DeviceSyncState::InSync));
        a.flush(&mut |o| out.push(o.into()));
        assert!(out
            .iter()
            .any(|o| matches!(o, Out::Set(s) if s.complete && s.set == 1)));
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
        let Out::Set(set) = out[out.len() - 1] else {
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
        assert!(matches!(out.last(), Some(Out::Set(s)) if s.complete));
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
        assert!(matches!(out.last(), Some(Out::Set(s)) if s.complete && s.set == 10));
    }

    #[test]
    fn slow_drift_is_tracked_and_reported_degraded_past_the_tolerance() {
        let mut a = aligner();
        let mut events = Vec::new();
        for k in 0..40u64 {
            let out = feed(&mut a, &pulse(k, 5 * k as i64));
            assert!(matches!(out.last(), Some(Out::Set(s)) if s.complete));
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
        assert!(matches!(out.last(), Some(Out::Set(s)) if s.complete && s.set == 1));
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
                Out::Set(s) => Some(s.set),
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
