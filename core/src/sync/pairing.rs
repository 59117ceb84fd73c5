//! Colour/depth capture pairing: the SDK's capturesync behaviour as a pure, allocation-free
//! state machine (reference §8, with the stream relationship of §6.4).
//!
//! The SDK receives colour frames and depth frames on two independent streams and turns them
//! into *captures*: a colour image and the depth image of the same exposure, or a lone image
//! when its partner never came. [`CapturePairer`] reproduces that decision exactly — the same
//! sync window, the same pending-queue capacities and overflow rule, the same output queue that
//! drops its oldest entry, the same early-depth filter — but owns no images: the host pushes
//! opaque per-frame handles (buffer ids, say) with their device timestamps, and gets every
//! handle back exactly once, either inside a [`Capture`] from [`CapturePairer::pop_capture`] or
//! inside a [`PairingEvent`] from [`CapturePairer::pop_event`] (drops, discards, flushes).
//!
//! Where the SDK frees an image, this module hands its handle back as an event instead, so a
//! host with a fixed buffer pool never leaks a buffer. Where the SDK keeps feeding a stopped
//! output queue after a failed capture (§8.3.1), this module flushes everything at once and
//! ignores further frames until the next start; the user-visible result is the same (no
//! capture is ever delivered again in that session).
//!
//! The window arithmetic saturates where the SDK's `u64` arithmetic would wrap; the two only
//! differ for timestamps above `u64::MAX − 2·period`, which no device timestamp converted by
//! [`crate::time::ticks_to_usec`] can reach.
//!
//! How the host maps SDK inputs here: `K4A_DISABLE_SYNCHRONIZATION` becomes
//! [`PairingConfig::disable_synchronization`]; a colour resolution or depth mode of `OFF`
//! becomes `colour_enabled`/`depth_enabled` = false.

use core::fmt;

use heapless::Deque;

use crate::types::Fps;

/// Capacity of each pending queue (colour, depth): the SDK's `QUEUE_DEFAULT_SIZE`,
/// half a second of frames at 30 fps.
pub const QUEUE_DEFAULT_SIZE: usize = 15;

/// Capacity of the output queue that `get_capture` pops: `QUEUE_DEFAULT_SIZE / 2` in the SDK.
pub const SYNC_QUEUE_SIZE: usize = QUEUE_DEFAULT_SIZE / 2;

/// While waiting for a clean depth timestamp, a depth frame with `ts / period` above this is
/// discarded (reference §8.3.5).
pub const CLEAN_DEPTH_TS_MAX_PERIODS: u64 = 10;

/// Frames one stream can hold: its candidate plus a full pending queue.
pub const HELD_PER_STREAM: usize = QUEUE_DEFAULT_SIZE + 1;

/// Capacity of the event ring. A single call never produces more events than this (a stop
/// flushes at most every held frame of both streams plus a full output queue), so a host that
/// drains [`CapturePairer::pop_event`] after every call never loses one.
pub const EVENT_CAPACITY: usize = 2 * HELD_PER_STREAM + SYNC_QUEUE_SIZE;

/// Which stream a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameKind {
    /// A colour image (its device timestamp is the colour image's).
    Colour,
    /// A depth capture (depth + IR; its device timestamp is the IR image's).
    Depth,
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameKind::Colour => "Color",
            FrameKind::Depth => "Depth",
        })
    }
}

/// One image as the pairer sees it: the host's handle and its device timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Image<H> {
    pub device_ts_usec: u64,
    pub handle: H,
}

/// A single frame of either stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Frame<C, D> {
    Colour(Image<C>),
    Depth(Image<D>),
}

impl<C, D> Frame<C, D> {
    pub fn kind(&self) -> FrameKind {
        match self {
            Frame::Colour(_) => FrameKind::Colour,
            Frame::Depth(_) => FrameKind::Depth,
        }
    }

    pub fn device_ts_usec(&self) -> u64 {
        match self {
            Frame::Colour(image) => image.device_ts_usec,
            Frame::Depth(image) => image.device_ts_usec,
        }
    }
}

/// What the user receives: colour and depth of one exposure, or one of them alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Capture<C, D> {
    ColourOnly(Image<C>),
    DepthOnly(Image<D>),
    Both { colour: Image<C>, depth: Image<D> },
}

impl<C, D> Capture<C, D> {
    pub fn colour(&self) -> Option<&Image<C>> {
        match self {
            Capture::ColourOnly(colour) | Capture::Both { colour, .. } => Some(colour),
            Capture::DepthOnly(_) => None,
        }
    }

    pub fn depth(&self) -> Option<&Image<D>> {
        match self {
            Capture::DepthOnly(depth) | Capture::Both { depth, .. } => Some(depth),
            Capture::ColourOnly(_) => None,
        }
    }

    pub fn is_paired(&self) -> bool {
        matches!(self, Capture::Both { .. })
    }
}

impl<C, D> From<Frame<C, D>> for Capture<C, D> {
    fn from(frame: Frame<C, D>) -> Self {
        match frame {
            Frame::Colour(image) => Capture::ColourOnly(image),
            Frame::Depth(image) => Capture::DepthOnly(image),
        }
    }
}

/// Something the pairer did besides delivering a capture. Variants that carry an image or a
/// capture hand its handle back to the host for good; the others are informational (the
/// frame they name went to the output queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PairingEvent<C, D> {
    /// A depth frame arrived before the device clock reset (timestamp ≥ 11 periods while
    /// waiting for a clean depth timestamp) and was discarded.
    DroppedEarlyDepth { depth: Image<D> },
    /// A frame found no partner and went to the output queue as a lone capture.
    ReleasedAlone {
        kind: FrameKind,
        device_ts_usec: u64,
    },
    /// A frame found no partner and was discarded because only synchronized captures are
    /// wanted.
    DiscardedUnpaired { frame: Frame<C, D> },
    /// A frame arrived on a full pending queue: the held candidate of that stream was released
    /// alone (a following `ReleasedAlone` or `DiscardedUnpaired` names it) and the oldest pending
    /// frame, stamped `promoted_ts_usec`, became the candidate.
    PendingOverflow {
        kind: FrameKind,
        promoted_ts_usec: u64,
    },
    /// The output queue was full; its oldest capture was dropped to make room.
    OutputOverflow { dropped: Capture<C, D> },
    /// A frame arrived while the pairer was not running (stopped, or failed) and was ignored.
    IgnoredNotRunning { frame: Frame<C, D> },
    /// A frame still waiting for a partner when the pairer stopped or failed.
    FlushedUnpaired { frame: Frame<C, D> },
    /// A capture still in the output queue when the pairer stopped or failed.
    FlushedCapture { capture: Capture<C, D> },
}

/// Running totals of everything the pairer did, never lost (unlike events when not drained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PairingCounters {
    /// Colour + depth captures pushed to the output queue.
    pub paired: u64,
    /// Lone captures pushed to the output queue (pairing active).
    pub released_alone: u64,
    /// Captures pushed straight to the output queue because pairing was off.
    pub passed_through: u64,
    pub discarded_unpaired: u64,
    pub dropped_early_depth: u64,
    pub pending_overflows: u64,
    pub output_overflows: u64,
    pub ignored_not_running: u64,
    /// Frames and captures handed back by a stop or a failure.
    pub flushed: u64,
    pub failures: u64,
    /// Events overwritten because the host did not drain the event ring in time.
    pub events_lost: u64,
}

/// The pairing parameters of one session (reference §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PairingConfig {
    pub fps: Fps,
    /// Depth exposure centre relative to colour, µs (negative = depth first).
    pub depth_delay_off_color_usec: i32,
    pub colour_enabled: bool,
    pub depth_enabled: bool,
    /// Discard lone frames instead of delivering them as single-image captures.
    pub synchronized_images_only: bool,
    /// The host's reading of `K4A_DISABLE_SYNCHRONIZATION` (set and not starting with '0').
    pub disable_synchronization: bool,
}

impl PairingConfig {
    /// Both cameras on, no delay, lone frames delivered, synchronization allowed.
    pub const fn both_cameras(fps: Fps) -> Self {
        PairingConfig {
            fps,
            depth_delay_off_color_usec: 0,
            colour_enabled: true,
            depth_enabled: true,
            synchronized_images_only: false,
            disable_synchronization: false,
        }
    }

    /// Pairing runs only with both cameras enabled and synchronization not disabled.
    pub const fn pairing_active(&self) -> bool {
        self.colour_enabled && self.depth_enabled && !self.disable_synchronization
    }

    /// P = 1,000,000 / fps, µs.
    pub const fn period_usec(&self) -> u64 {
        self.fps.period_usec() as u64
    }

    /// Whether a depth timestamp predates the clock reset: `ts / P > 10` (§8.3.5).
    pub const fn is_pre_reset_depth_ts(&self, device_ts_usec: u64) -> bool {
        match device_ts_usec.checked_div(self.period_usec()) {
            Some(periods) => periods > CLEAN_DEPTH_TS_MAX_PERIODS,
            None => false,
        }
    }

    /// Q = P / 4, µs: the slack before the expected timestamp.
    pub const fn quarter_period_usec(&self) -> u64 {
        self.period_usec() / 4
    }
}

/// What the matching loop does with the two held candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    Pair,
    /// The colour candidate has no partner: release it alone.
    ReleaseColour,
    /// The depth candidate has no partner: release it alone.
    ReleaseDepth,
}

/// The inclusive range `[begin_usec, end_usec]` in which the non-anchor timestamp must lie
/// for the two candidates to pair (reference §8.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SyncWindow {
    /// The stream whose timestamp the window is built around: depth when depth is exposed
    /// first (negative delay), colour otherwise.
    pub anchor: FrameKind,
    pub begin_usec: u64,
    pub end_usec: u64,
}

impl SyncWindow {
    /// W0 = max(0, anchor − Q) + |d|, W1 = W0 + P.
    pub fn new(config: &PairingConfig, colour_ts_usec: u64, depth_ts_usec: u64) -> Self {
        let delay = config.depth_delay_off_color_usec;
        let (anchor, anchor_ts) = if delay < 0 {
            (FrameKind::Depth, depth_ts_usec)
        } else {
            (FrameKind::Colour, colour_ts_usec)
        };
        let begin_usec = anchor_ts
            .saturating_sub(config.quarter_period_usec())
            .saturating_add(u64::from(delay.unsigned_abs()));
        SyncWindow {
            anchor,
            begin_usec,
            end_usec: begin_usec.saturating_add(config.period_usec()),
        }
    }

    /// Judge the non-anchor timestamp: after the window, the anchor is too old; before it,
    /// the non-anchor is too old; inside (bounds included), they pair.
    pub fn judge(&self, colour_ts_usec: u64, depth_ts_usec: u64) -> Verdict {
        let (other_ts, anchor_too_old, other_too_old) = match self.anchor {
            FrameKind::Depth => (
                colour_ts_usec,
                Verdict::ReleaseDepth,
                Verdict::ReleaseColour,
            ),
            FrameKind::Colour => (depth_ts_usec, Verdict::ReleaseColour, Verdict::ReleaseDepth),
        };
        if other_ts > self.end_usec {
            anchor_too_old
        } else if other_ts < self.begin_usec {
            other_too_old
        } else {
            Verdict::Pair
        }
    }
}

/// Whether the pairer accepts frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PairingState {
    /// Never started, or stopped: frames are ignored, no capture is delivered.
    Stopped,
    Running,
    /// A failed capture stopped all queues; nothing is delivered until the next start.
    Failed,
}

/// One stream's held frames: the candidate being matched and the pending queue behind it.
#[derive(Debug, Clone)]
struct Stream<H> {
    candidate: Option<Image<H>>,
    pending: Deque<Image<H>, QUEUE_DEFAULT_SIZE>,
}

impl<H> Stream<H> {
    const fn new() -> Self {
        Stream {
            candidate: None,
            pending: Deque::new(),
        }
    }

    fn candidate_ts(&self) -> Option<u64> {
        self.candidate.as_ref().map(|image| image.device_ts_usec)
    }

    fn held(&self) -> usize {
        usize::from(self.candidate.is_some()) + self.pending.len()
    }

    /// Hold a new frame (§8.3.6). On pending overflow (§8.4) the oldest pending frame becomes
    /// the candidate and the previous candidate is returned, to be released alone.
    fn hold(&mut self, image: Image<H>) -> Option<Image<H>> {
        let Some(candidate) = self.candidate.take() else {
            self.candidate = Some(image);
            return None;
        };
        let promoted = if self.pending.is_full() {
            self.pending.pop_front()
        } else {
            None
        };
        let unplaced = self.pending.push_back(image).err();
        match promoted {
            Some(oldest) => {
                self.candidate = Some(oldest);
                Some(candidate)
            }
            None => {
                self.candidate = Some(candidate);
                unplaced
            }
        }
    }

    /// Take the candidate and promote the next pending frame.
    fn advance(&mut self) -> Option<Image<H>> {
        let taken = self.candidate.take();
        self.candidate = self.pending.pop_front();
        taken
    }

    /// Take the next held frame, oldest first.
    fn drain_one(&mut self) -> Option<Image<H>> {
        self.candidate.take().or_else(|| self.pending.pop_front())
    }
}

/// The capture pairing state machine of one device (reference §8).
///
/// `C` and `D` are the host's handles for colour and depth frames. Every handle pushed comes
/// back exactly once: in a capture from [`pop_capture`](Self::pop_capture), or in an event
/// from [`pop_event`](Self::pop_event).
#[derive(Debug, Clone)]
pub struct CapturePairer<C, D> {
    config: PairingConfig,
    state: PairingState,
    waiting_for_clean_depth_ts: bool,
    colour: Stream<C>,
    depth: Stream<D>,
    output: Deque<Capture<C, D>, SYNC_QUEUE_SIZE>,
    events: Deque<PairingEvent<C, D>, EVENT_CAPACITY>,
    counters: PairingCounters,
}

impl<C, D> Default for CapturePairer<C, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C, D> CapturePairer<C, D> {
    /// A stopped pairer; [`start`](Self::start) it before pushing frames.
    pub const fn new() -> Self {
        CapturePairer {
            config: PairingConfig::both_cameras(Fps::Fps30),
            state: PairingState::Stopped,
            waiting_for_clean_depth_ts: true,
            colour: Stream::new(),
            depth: Stream::new(),
            output: Deque::new(),
            events: Deque::new(),
            counters: PairingCounters {
                paired: 0,
                released_alone: 0,
                passed_through: 0,
                discarded_unpaired: 0,
                dropped_early_depth: 0,
                pending_overflows: 0,
                output_overflows: 0,
                ignored_not_running: 0,
                flushed: 0,
                failures: 0,
                events_lost: 0,
            },
        }
    }

    /// Start a session with `config` (the cameras were started). Re-arms the early-depth
    /// filter. Starting while running or failed first stops, flushing what was held.
    pub fn start(&mut self, config: PairingConfig) {
        self.flush();
        self.config = config;
        self.waiting_for_clean_depth_ts = true;
        self.state = PairingState::Running;
    }

    /// Stop the session (§8.5): frames still held and captures not yet popped are handed back
    /// as flush events; later frames are ignored until the next start.
    pub fn stop(&mut self) {
        self.flush();
        self.state = PairingState::Stopped;
    }

    /// A capture failed on either stream (§8.3.1): all queues stop, nothing more is delivered
    /// this session. Held frames and undelivered captures are handed back as flush events.
    pub fn push_failure(&mut self) {
        if self.state == PairingState::Running {
            self.flush();
            self.counters.failures = self.counters.failures.saturating_add(1);
            self.state = PairingState::Failed;
        }
    }

    /// A colour frame arrived; `device_ts_usec` is the colour image's device timestamp.
    pub fn push_colour(&mut self, device_ts_usec: u64, handle: C) {
        self.push(Frame::Colour(Image {
            device_ts_usec,
            handle,
        }));
    }

    /// A depth capture arrived; `device_ts_usec` is its IR image's device timestamp.
    pub fn push_depth(&mut self, device_ts_usec: u64, handle: D) {
        self.push(Frame::Depth(Image {
            device_ts_usec,
            handle,
        }));
    }

    /// The oldest capture in the output queue (what `k4a_device_get_capture` returns).
    pub fn pop_capture(&mut self) -> Option<Capture<C, D>> {
        if self.state == PairingState::Running {
            self.output.pop_front()
        } else {
            None
        }
    }

    /// The oldest unread event. Drain after every call to never lose one.
    pub fn pop_event(&mut self) -> Option<PairingEvent<C, D>> {
        self.events.pop_front()
    }

    pub fn state(&self) -> PairingState {
        self.state
    }

    /// The configuration of the last start (a 30 fps default before the first).
    pub fn config(&self) -> &PairingConfig {
        &self.config
    }

    pub fn counters(&self) -> &PairingCounters {
        &self.counters
    }

    /// Captures waiting in the output queue (never more than [`SYNC_QUEUE_SIZE`]).
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Frames of `kind` held for pairing: candidate plus pending (never more than
    /// [`HELD_PER_STREAM`]).
    pub fn held(&self, kind: FrameKind) -> usize {
        match kind {
            FrameKind::Colour => self.colour.held(),
            FrameKind::Depth => self.depth.held(),
        }
    }

    /// Whether depth frames are still being checked for a pre-reset timestamp (§8.3.5).
    pub fn waiting_for_clean_depth_ts(&self) -> bool {
        self.waiting_for_clean_depth_ts
    }

    /// The arrival rules of §8.3, in order.
    fn push(&mut self, frame: Frame<C, D>) {
        if self.state != PairingState::Running {
            return self.ignore(frame);
        }
        if !self.config.pairing_active() {
            return self.pass_through(Capture::from(frame));
        }
        let evicted = match frame {
            Frame::Colour(image) => self.colour.hold(image).map(Frame::Colour),
            Frame::Depth(image) => {
                if self.waiting_for_clean_depth_ts
                    && self.config.is_pre_reset_depth_ts(image.device_ts_usec)
                {
                    self.counters.dropped_early_depth =
                        self.counters.dropped_early_depth.saturating_add(1);
                    return self.emit(PairingEvent::DroppedEarlyDepth { depth: image });
                }
                self.waiting_for_clean_depth_ts = false;
                self.depth.hold(image).map(Frame::Depth)
            }
        };
        if let Some(evicted) = evicted {
            self.note_pending_overflow(evicted.kind());
            self.release_alone(evicted);
        }
        self.match_candidates();
    }

    /// The matching loop of §8.3.7, run until one stream has no candidate.
    fn match_candidates(&mut self) {
        while let (Some(colour_ts), Some(depth_ts)) =
            (self.colour.candidate_ts(), self.depth.candidate_ts())
        {
            let window = SyncWindow::new(&self.config, colour_ts, depth_ts);
            match window.judge(colour_ts, depth_ts) {
                Verdict::Pair => {
                    if let (Some(colour), Some(depth)) =
                        (self.colour.advance(), self.depth.advance())
                    {
                        self.counters.paired = self.counters.paired.saturating_add(1);
                        self.deliver(Capture::Both { colour, depth });
                    }
                }
                Verdict::ReleaseColour => {
                    if let Some(colour) = self.colour.advance() {
                        self.release_alone(Frame::Colour(colour));
                    }
                }
                Verdict::ReleaseDepth => {
                    if let Some(depth) = self.depth.advance() {
                        self.release_alone(Frame::Depth(depth));
                    }
                }
            }
        }
    }

    fn release_alone(&mut self, frame: Frame<C, D>) {
        if self.config.synchronized_images_only {
            self.counters.discarded_unpaired = self.counters.discarded_unpaired.saturating_add(1);
            self.emit(PairingEvent::DiscardedUnpaired { frame });
        } else {
            self.counters.released_alone = self.counters.released_alone.saturating_add(1);
            self.emit(PairingEvent::ReleasedAlone {
                kind: frame.kind(),
                device_ts_usec: frame.device_ts_usec(),
            });
            self.deliver(Capture::from(frame));
        }
    }

    fn pass_through(&mut self, capture: Capture<C, D>) {
        self.counters.passed_through = self.counters.passed_through.saturating_add(1);
        self.deliver(capture);
    }

    fn note_pending_overflow(&mut self, kind: FrameKind) {
        let promoted_ts_usec = match kind {
            FrameKind::Colour => self.colour.candidate_ts(),
            FrameKind::Depth => self.depth.candidate_ts(),
        };
        self.counters.pending_overflows = self.counters.pending_overflows.saturating_add(1);
        self.emit(PairingEvent::PendingOverflow {
            kind,
            promoted_ts_usec: promoted_ts_usec.unwrap_or(0),
        });
    }

    fn ignore(&mut self, frame: Frame<C, D>) {
        self.counters.ignored_not_running = self.counters.ignored_not_running.saturating_add(1);
        self.emit(PairingEvent::IgnoredNotRunning { frame });
    }

    /// Push to the output queue, dropping its oldest capture when full.
    fn deliver(&mut self, capture: Capture<C, D>) {
        let dropped = if self.output.is_full() {
            self.output.pop_front()
        } else {
            None
        };
        let unplaced = self.output.push_back(capture).err();
        if let Some(dropped) = dropped.or(unplaced) {
            self.counters.output_overflows = self.counters.output_overflows.saturating_add(1);
            self.emit(PairingEvent::OutputOverflow { dropped });
        }
    }

    fn flush(&mut self) {
        while let Some(image) = self.colour.drain_one() {
            self.flushed(PairingEvent::FlushedUnpaired {
                frame: Frame::Colour(image),
            });
        }
        while let Some(image) = self.depth.drain_one() {
            self.flushed(PairingEvent::FlushedUnpaired {
                frame: Frame::Depth(image),
            });
        }
        while let Some(capture) = self.output.pop_front() {
            self.flushed(PairingEvent::FlushedCapture { capture });
        }
    }

    fn flushed(&mut self, event: PairingEvent<C, D>) {
        self.counters.flushed = self.counters.flushed.saturating_add(1);
        self.emit(event);
    }

    fn emit(&mut self, event: PairingEvent<C, D>) {
        let lost = if self.events.is_full() {
            self.events.pop_front().is_some()
        } else {
            false
        };
        let unplaced = self.events.push_back(event).is_err();
        if lost || unplaced {
            self.counters.events_lost = self.counters.events_lost.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const P30: u64 = 33_333;
    const Q30: u64 = 8_333;

    type Pairer = CapturePairer<u32, u32>;
    type Event = PairingEvent<u32, u32>;

    fn with_delay(depth_delay_off_color_usec: i32) -> PairingConfig {
        PairingConfig {
            depth_delay_off_color_usec,
            ..PairingConfig::both_cameras(Fps::Fps30)
        }
    }

    fn running(config: PairingConfig) -> Pairer {
        let mut pairer = Pairer::new();
        pairer.start(config);
        pairer
    }

    fn events(pairer: &mut Pairer) -> Vec<Event> {
        core::iter::from_fn(|| pairer.pop_event()).collect()
    }

    fn captures(pairer: &mut Pairer) -> Vec<Capture<u32, u32>> {
        core::iter::from_fn(|| pairer.pop_capture()).collect()
    }

    fn img(device_ts_usec: u64, handle: u32) -> Image<u32> {
        Image {
            device_ts_usec,
            handle,
        }
    }

    fn both(colour_ts: u64, colour: u32, depth_ts: u64, depth: u32) -> Capture<u32, u32> {
        Capture::Both {
            colour: img(colour_ts, colour),
            depth: img(depth_ts, depth),
        }
    }

    /// Push one colour then one depth frame and return what came out.
    fn judge_pushed(
        config: PairingConfig,
        colour_ts: u64,
        depth_ts: u64,
    ) -> Vec<Capture<u32, u32>> {
        let mut pairer = running(config);
        pairer.push_colour(colour_ts, 1);
        pairer.push_depth(depth_ts, 2);
        captures(&mut pairer)
    }

    #[test]
    fn depth_before_colour_anchors_on_depth() {
        let config = with_delay(-1_000);
        let window = SyncWindow::new(&config, 500_000, 100_000);
        assert_eq!(window.anchor, FrameKind::Depth);
        assert_eq!(window.begin_usec, 100_000 - Q30 + 1_000);
        assert_eq!(window.end_usec, 100_000 - Q30 + 1_000 + P30);
        assert_eq!(
            judge_pushed(config, 101_000, 100_000),
            [both(101_000, 1, 100_000, 2)]
        );
    }

    #[test]
    fn colour_anchors_when_delay_is_non_negative() {
        for delay in [0, 1_000] {
            let config = with_delay(delay);
            let window = SyncWindow::new(&config, 100_000, 900_000);
            assert_eq!(window.anchor, FrameKind::Colour);
            assert_eq!(window.begin_usec, 100_000 - Q30 + delay as u64);
            assert_eq!(window.end_usec, window.begin_usec + P30);
        }
    }

    #[test]
    fn depth_anchor_too_old_is_released_alone() {
        let config = with_delay(-1_000);
        let end = 100_000 - Q30 + 1_000 + P30;
        assert_eq!(
            judge_pushed(config, end + 1, 100_000),
            [Capture::DepthOnly(img(100_000, 2))]
        );
    }

    #[test]
    fn colour_before_depth_window_is_released_alone() {
        let config = with_delay(-1_000);
        let begin = 100_000 - Q30 + 1_000;
        assert_eq!(
            judge_pushed(config, begin - 1, 100_000),
            [Capture::ColourOnly(img(begin - 1, 1))]
        );
    }

    #[test]
    fn depth_exactly_at_window_begin_pairs() {
        let begin = 100_000 - Q30 + 500;
        assert!(judge_pushed(with_delay(500), 100_000, begin)[0].is_paired());
        assert_eq!(
            judge_pushed(with_delay(500), 100_000, begin - 1),
            [Capture::DepthOnly(img(begin - 1, 2))]
        );
    }

    #[test]
    fn depth_exactly_at_window_end_pairs() {
        let end = 100_000 - Q30 + 500 + P30;
        assert!(judge_pushed(with_delay(500), 100_000, end)[0].is_paired());
        assert_eq!(
            judge_pushed(with_delay(500), 100_000, end + 1),
            [Capture::ColourOnly(img(100_000, 1))]
        );
    }

    #[test]
    fn colour_exactly_at_depth_anchored_window_bounds_pairs() {
        let config = with_delay(-2_000);
        let window = SyncWindow::new(&config, 0, 200_000);
        for colour_ts in [window.begin_usec, window.end_usec] {
            assert!(judge_pushed(config, colour_ts, 200_000)[0].is_paired());
        }
        assert_eq!(
            window.judge(window.begin_usec - 1, 200_000),
            Verdict::ReleaseColour
        );
        assert_eq!(
            window.judge(window.end_usec + 1, 200_000),
            Verdict::ReleaseDepth
        );
    }

    #[test]
    fn window_lower_bound_clamps_at_zero() {
        let colour_anchored = SyncWindow::new(&with_delay(0), 1_000, 0);
        assert_eq!(
            (colour_anchored.begin_usec, colour_anchored.end_usec),
            (0, P30)
        );
        assert!(judge_pushed(with_delay(0), 1_000, 0)[0].is_paired());

        let depth_anchored = SyncWindow::new(&with_delay(-500), 0, 1_000);
        assert_eq!(
            (depth_anchored.begin_usec, depth_anchored.end_usec),
            (500, 500 + P30)
        );
        assert_eq!(depth_anchored.judge(499, 1_000), Verdict::ReleaseColour);
        assert_eq!(depth_anchored.judge(500, 1_000), Verdict::Pair);
    }

    #[test]
    fn window_saturates_instead_of_wrapping_at_the_top_of_the_clock() {
        let window = SyncWindow::new(&with_delay(33_333), u64::MAX, 0);
        assert_eq!(window.end_usec, u64::MAX);
        assert_eq!(window.judge(u64::MAX, u64::MAX), Verdict::Pair);
    }

    #[test]
    fn early_depth_with_large_timestamp_is_discarded_until_first_clean_one() {
        let mut pairer = running(with_delay(0));
        pairer.push_depth(11 * P30, 1);
        pairer.push_depth(u64::MAX, 2);
        assert_eq!(
            events(&mut pairer),
            [
                Event::DroppedEarlyDepth {
                    depth: img(11 * P30, 1)
                },
                Event::DroppedEarlyDepth {
                    depth: img(u64::MAX, 2)
                },
            ]
        );
        assert!(pairer.waiting_for_clean_depth_ts());
        pairer.push_depth(11 * P30 - 1, 3);
        assert!(!pairer.waiting_for_clean_depth_ts());
        pairer.push_depth(50 * P30, 4);
        assert_eq!(pairer.held(FrameKind::Depth), 2);
        assert_eq!(pairer.counters().dropped_early_depth, 2);
        assert!(events(&mut pairer).is_empty());
    }

    #[test]
    fn every_start_rearms_the_early_depth_filter() {
        let mut pairer = running(with_delay(0));
        pairer.push_depth(0, 1);
        pairer.stop();
        pairer.start(with_delay(0));
        assert!(pairer.waiting_for_clean_depth_ts());
        pairer.push_depth(20 * P30, 2);
        assert_eq!(pairer.counters().dropped_early_depth, 1);
    }

    #[test]
    fn early_colour_is_never_filtered() {
        let mut pairer = running(with_delay(0));
        pairer.push_colour(100 * P30, 1);
        assert_eq!(pairer.held(FrameKind::Colour), 1);
        assert_eq!(pairer.counters().dropped_early_depth, 0);
    }

    #[test]
    fn pending_overflow_releases_candidate_and_promotes_oldest() {
        let mut pairer = running(with_delay(0));
        for i in 0..=QUEUE_DEFAULT_SIZE as u32 {
            pairer.push_colour(u64::from(i) * P30, i);
        }
        assert!(events(&mut pairer).is_empty());
        assert_eq!(pairer.held(FrameKind::Colour), HELD_PER_STREAM);

        pairer.push_colour(16 * P30, 16);
        assert_eq!(
            events(&mut pairer),
            [
                Event::PendingOverflow {
                    kind: FrameKind::Colour,
                    promoted_ts_usec: P30
                },
                Event::ReleasedAlone {
                    kind: FrameKind::Colour,
                    device_ts_usec: 0
                },
            ]
        );
        assert_eq!(captures(&mut pairer), [Capture::ColourOnly(img(0, 0))]);
        assert_eq!(pairer.held(FrameKind::Colour), HELD_PER_STREAM);

        pairer.push_depth(P30, 100);
        assert_eq!(captures(&mut pairer), [both(P30, 1, P30, 100)]);
    }

    #[test]
    fn pending_overflow_discards_candidate_when_synchronized_images_only() {
        let config = PairingConfig {
            synchronized_images_only: true,
            ..with_delay(0)
        };
        let mut pairer = running(config);
        for i in 0..=HELD_PER_STREAM as u32 {
            pairer.push_depth(u64::from(i) * P30, i);
        }
        assert_eq!(
            events(&mut pairer),
            [
                Event::PendingOverflow {
                    kind: FrameKind::Depth,
                    promoted_ts_usec: P30
                },
                Event::DiscardedUnpaired {
                    frame: Frame::Depth(img(0, 0))
                },
            ]
        );
        assert!(captures(&mut pairer).is_empty());
    }

    #[test]
    fn output_queue_drops_oldest_and_counts() {
        let config = PairingConfig {
            depth_enabled: false,
            ..with_delay(0)
        };
        let mut pairer = running(config);
        for i in 0..(SYNC_QUEUE_SIZE as u32 + 2) {
            pairer.push_colour(u64::from(i), i);
        }
        assert_eq!(pairer.output_len(), SYNC_QUEUE_SIZE);
        assert_eq!(
            events(&mut pairer),
            [
                Event::OutputOverflow {
                    dropped: Capture::ColourOnly(img(0, 0))
                },
                Event::OutputOverflow {
                    dropped: Capture::ColourOnly(img(1, 1))
                },
            ]
        );
        assert_eq!(pairer.counters().output_overflows, 2);
        let delivered: Vec<u32> = captures(&mut pairer)
            .iter()
            .filter_map(|c| c.colour().map(|image| image.handle))
            .collect();
        assert_eq!(delivered, [2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn lone_frames_are_released_alone_in_timestamp_order() {
        let mut pairer = running(with_delay(0));
        pairer.push_colour(0, 10);
        pairer.push_colour(P30, 11);
        pairer.push_colour(2 * P30, 12);
        pairer.push_depth(2 * P30 + 20, 22);
        assert_eq!(
            captures(&mut pairer),
            [
                Capture::ColourOnly(img(0, 10)),
                Capture::ColourOnly(img(P30, 11)),
                both(2 * P30, 12, 2 * P30 + 20, 22),
            ]
        );
        assert_eq!(pairer.counters().released_alone, 2);
        assert_eq!(pairer.counters().paired, 1);
    }

    #[test]
    fn dropped_colour_releases_its_depth_alone_then_pairing_resumes() {
        let mut pairer = running(with_delay(500));
        pairer.push_colour(33_333, 1);
        pairer.push_depth(33_833, 1);
        pairer.push_depth(67_166, 2);
        pairer.push_colour(99_999, 3);
        pairer.push_depth(100_499, 3);
        assert_eq!(
            captures(&mut pairer),
            [
                both(33_333, 1, 33_833, 1),
                Capture::DepthOnly(img(67_166, 2)),
                both(99_999, 3, 100_499, 3),
            ]
        );
    }

    #[test]
    fn synchronized_images_only_discards_lone_captures() {
        let config = PairingConfig {
            synchronized_images_only: true,
            ..with_delay(0)
        };
        let mut pairer = running(config);
        pairer.push_depth(0, 20);
        pairer.push_colour(P30, 11);
        pairer.push_depth(P30 + 5, 21);
        assert_eq!(captures(&mut pairer), [both(P30, 11, P30 + 5, 21)]);
        assert_eq!(
            events(&mut pairer),
            [Event::DiscardedUnpaired {
                frame: Frame::Depth(img(0, 20))
            }]
        );
        assert_eq!(pairer.counters().discarded_unpaired, 1);
        assert_eq!(pairer.counters().released_alone, 0);
    }

    #[test]
    fn single_camera_bypasses_pairing() {
        let depth_only = PairingConfig {
            colour_enabled: false,
            ..with_delay(0)
        };
        let mut pairer = running(depth_only);
        pairer.push_depth(100 * P30, 1);
        pairer.push_colour(100 * P30, 2);
        assert_eq!(
            captures(&mut pairer),
            [
                Capture::DepthOnly(img(100 * P30, 1)),
                Capture::ColourOnly(img(100 * P30, 2)),
            ]
        );
        assert_eq!(pairer.counters().passed_through, 2);
        assert_eq!(pairer.counters().dropped_early_depth, 0);
    }

    #[test]
    fn disabled_synchronization_bypasses_pairing() {
        let config = PairingConfig {
            disable_synchronization: true,
            synchronized_images_only: true,
            ..with_delay(0)
        };
        let mut pairer = running(config);
        pairer.push_colour(0, 1);
        pairer.push_depth(0, 2);
        assert_eq!(
            captures(&mut pairer),
            [
                Capture::ColourOnly(img(0, 1)),
                Capture::DepthOnly(img(0, 2))
            ]
        );
    }

    #[test]
    fn frames_before_start_are_ignored_and_handed_back() {
        let mut pairer = Pairer::new();
        assert_eq!(pairer.state(), PairingState::Stopped);
        pairer.push_colour(0, 1);
        assert_eq!(
            events(&mut pairer),
            [Event::IgnoredNotRunning {
                frame: Frame::Colour(img(0, 1))
            }]
        );
        assert_eq!(pairer.held(FrameKind::Colour), 0);
    }

    #[test]
    fn stop_flushes_held_frames_and_undelivered_captures() {
        let mut pairer = running(with_delay(0));
        pairer.push_colour(0, 1);
        pairer.push_depth(0, 2);
        pairer.push_colour(P30, 3);
        pairer.stop();
        assert_eq!(pairer.state(), PairingState::Stopped);
        assert_eq!(
            events(&mut pairer),
            [
                Event::FlushedUnpaired {
                    frame: Frame::Colour(img(P30, 3))
                },
                Event::FlushedCapture {
                    capture: both(0, 1, 0, 2)
                },
            ]
        );
        assert_eq!(pairer.pop_capture(), None);
        pairer.push_depth(P30, 4);
        assert_eq!(pairer.counters().ignored_not_running, 1);
        assert_eq!(pairer.held(FrameKind::Depth), 0);
    }

    #[test]
    fn failed_capture_stops_all_queues_until_next_start() {
        let mut pairer = running(with_delay(0));
        pairer.push_colour(0, 1);
        pairer.push_depth(0, 2);
        pairer.push_failure();
        assert_eq!(pairer.state(), PairingState::Failed);
        assert_eq!(pairer.pop_capture(), None);
        assert_eq!(
            events(&mut pairer),
            [Event::FlushedCapture {
                capture: both(0, 1, 0, 2)
            }]
        );
        pairer.push_colour(P30, 3);
        assert_eq!(
            events(&mut pairer),
            [Event::IgnoredNotRunning {
                frame: Frame::Colour(img(P30, 3))
            }]
        );
        assert_eq!(pairer.counters().failures, 1);

        pairer.start(with_delay(0));
        pairer.push_colour(0, 5);
        pairer.push_depth(0, 6);
        assert_eq!(captures(&mut pairer), [both(0, 5, 0, 6)]);
    }

    #[test]
    fn start_while_running_flushes_the_previous_session() {
        let mut pairer = running(with_delay(0));
        pairer.push_colour(0, 1);
        pairer.start(with_delay(-100));
        assert_eq!(
            events(&mut pairer),
            [Event::FlushedUnpaired {
                frame: Frame::Colour(img(0, 1))
            }]
        );
        assert_eq!(pairer.config().depth_delay_off_color_usec, -100);
        assert_eq!(pairer.state(), PairingState::Running);
    }

    #[test]
    fn undrained_events_overwrite_oldest_and_are_counted() {
        let config = PairingConfig {
            colour_enabled: false,
            ..with_delay(0)
        };
        let mut pairer = running(config);
        let pushes = (EVENT_CAPACITY + SYNC_QUEUE_SIZE + 3) as u32;
        for i in 0..pushes {
            pairer.push_depth(u64::from(i), i);
        }
        assert_eq!(pairer.counters().output_overflows, u64::from(pushes) - 7);
        assert_eq!(pairer.counters().events_lost, 3);
        assert_eq!(
            pairer.pop_event(),
            Some(Event::OutputOverflow {
                dropped: Capture::DepthOnly(img(3, 3))
            })
        );
    }

    #[test]
    fn frame_kind_displays_sdk_spelling() {
        assert_eq!(std::format!("{}", FrameKind::Colour), "Color");
        assert_eq!(std::format!("{}", FrameKind::Depth), "Depth");
    }
}
