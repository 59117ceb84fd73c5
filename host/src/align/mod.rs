//! One rig's recordings → frame sets and a sync health report (`k4sync align`; docs/align.md).
//!
//! A *set* is one pulse of the master's grid. Which frame belongs to which pulse is decided by the
//! core's [`Aligner`] from device timestamps alone (reference §6.1, §6.4, §10.4): never by frame
//! index (devices drop different first frames) and never by timestamp equality (subordinate and
//! depth delays, ±1 tick jitter, drift). This module feeds it every frame of every file offline and
//! turns what it places into a dense table:
//!
//! * set 0 is the earliest pulse any device recorded; sets run without gaps to the last;
//! * a device's `first_set`/`last_set` bound its frames that are on the grid; `dropped` lists the
//!   sets in that span where a stream has no frame;
//! * a device the aligner loses (its clock jumped back), or with [`OFF_GRID_LIMIT`] or more frames
//!   off the grid beside synced ones (a restarted subordinate whose re-zeroed frames run free; in
//!   a time-sorted file they come before its synced frames, so the aligner is told never to drop
//!   a device for off-grid frames), has `sync_lost_at_set` = the set after its last synced frame,
//!   and its other frames are unsynced, never placed;
//! * a device none of whose frames fits the grid (a unit started out of order, seconds and a
//!   fraction of a period off) is `off_grid`: reported, never forced to the nearest pulse.
//!
//! Feeding order: the master's first frame first (it anchors the grid, so nothing waits in the
//! aligner's small pre-anchor buffer), then every stream merged by device timestamp. A stream
//! whose timestamps jump back (a re-zeroed clock) is split there and its later part fed after
//! everything else, so that the device's synced frames are all placed before the jump declares it
//! lost.

use k4sync_core::sync::align::{
    tolerance_usec, AlignError, Aligner, AlignerConfig, AlignerOutput, DeviceTiming, FrameKind,
    HealthEvent, PerStream, OFF_GRID_LIMIT,
};
use k4sync_core::time::{delay_tag_ticks, effective_delay_nsec, Usec};
use k4sync_core::types::Fps;

pub mod files;
pub mod plot;
pub mod report;

/// Most recordings one alignment takes (a rig is at most one master and eight subordinates;
/// external triggers allow longer chains).
pub const MAX_DEVICES: usize = 16;

/// Pending sets the aligner holds: how far (in pulses) devices' first frames may precede the
/// master's, and how far apart in time the streams may be fed.
const WINDOW: usize = 128;

const NONE: u32 = u32::MAX;

/// A device's role in the rig (`K4A_WIRED_SYNC_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Subordinate,
}

impl Role {
    pub const fn sdk_name(self) -> &'static str {
        match self {
            Role::Master => "MASTER",
            Role::Subordinate => "SUBORDINATE",
        }
    }
}

/// One device's frames: device timestamps (µs) per stream in the order the file holds them;
/// `None` for a stream the device did not record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFrames {
    pub role: Role,
    /// `K4A_SUBORDINATE_DELAY_NS` as the file holds it: the effective delay (ours) or the
    /// configured µs × 1000 (Microsoft's); ignored for the master.
    pub subordinate_delay_nsec: u64,
    /// `K4A_DEPTH_DELAY_NS` as the file holds it, either way too.
    pub depth_delay_nsec: i64,
    pub colour: Option<Vec<u64>>,
    pub depth: Option<Vec<u64>>,
}

impl DeviceFrames {
    /// The stream's timestamps (empty when not recorded).
    pub fn stream(&self, stream: FrameKind) -> &[u64] {
        match stream {
            FrameKind::Colour => self.colour.as_deref(),
            FrameKind::Depth => self.depth.as_deref(),
        }
        .unwrap_or(&[])
    }

    fn runs(&self, stream: FrameKind) -> bool {
        match stream {
            FrameKind::Colour => self.colour.is_some(),
            FrameKind::Depth => self.depth.is_some(),
        }
    }

    /// The effective subordinate delay in ns: that of the ticks the device applied (reference
    /// §6.2, [`delay_tag_ticks`]); 0 for the master.
    pub fn effective_subordinate_delay_nsec(&self) -> i64 {
        match self.role {
            Role::Master => 0,
            Role::Subordinate => effective_delay_nsec(delay_tag_ticks(
                i64::try_from(self.subordinate_delay_nsec).unwrap_or(i64::MAX),
            )),
        }
    }

    /// The effective depth delay off colour in ns.
    pub fn effective_depth_delay_nsec(&self) -> i64 {
        effective_delay_nsec(delay_tag_ticks(self.depth_delay_nsec))
    }

    /// Where this device's `stream` frame of a pulse sits relative to the master's colour, in ns.
    fn expected_delay_nsec(&self, stream: FrameKind) -> i64 {
        let colour = self.effective_subordinate_delay_nsec();
        match stream {
            FrameKind::Colour => colour,
            FrameKind::Depth => colour + self.effective_depth_delay_nsec(),
        }
    }
}

/// Where a device stands at the end of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// On the grid throughout, offset to the master within the tolerance.
    Synced,
    /// On the grid, but its offset to the master left the tolerance (drift).
    Degraded,
    /// It left the grid at `sync_lost_at_set` (a restarted subordinate).
    Lost,
    /// None of its frames is on the rig's time base.
    OffGrid,
}

impl DeviceState {
    pub const fn name(self) -> &'static str {
        match self {
            DeviceState::Synced => "synced",
            DeviceState::Degraded => "degraded",
            DeviceState::Lost => "lost",
            DeviceState::OffGrid => "off_grid",
        }
    }
}

/// Minimum, median and maximum of a device's offset to the master (after the expected delays).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetStats {
    pub min_usec: f64,
    pub median_usec: f64,
    pub max_usec: f64,
}

/// What alignment found for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReport {
    pub first_set: Option<usize>,
    pub last_set: Option<usize>,
    pub frames: PerStream<usize>,
    pub in_sets: PerStream<usize>,
    pub dropped: PerStream<Vec<usize>>,
    pub sync_lost_at_set: Option<usize>,
    pub unsynced_frames: PerStream<usize>,
    pub offset: Option<OffsetStats>,
    pub drift_ppm: Option<f64>,
    pub state: DeviceState,
}

/// Counts over all sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub sets: usize,
    pub complete: usize,
    pub incomplete: usize,
    pub unsynced_frames: usize,
}

/// A rig the aligner cannot take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RigError {
    #[error("align takes 1 to {max} recordings, got {got}")]
    DeviceCount { got: usize, max: usize },
    #[error("exactly one master is required, found {found}")]
    MasterCount { found: usize },
    #[error("{0}")]
    Aligner(AlignError),
}

/// Frame sets and per-device reports of one rig.
#[derive(Debug, Clone)]
pub struct Alignment {
    pub fps: Fps,
    pub devices: Vec<DeviceReport>,
    pub summary: Summary,
    sets: usize,
    width: usize,
    /// Per set, per device: the frame's index in its stream, or [`NONE`].
    cells: PerStream<Vec<u32>>,
}

impl Alignment {
    pub fn sets(&self) -> usize {
        self.sets
    }

    /// Index (in the device's `stream`) of `device`'s frame in `set`.
    pub fn frame(&self, set: usize, device: usize, stream: FrameKind) -> Option<usize> {
        if device >= self.width {
            return None;
        }
        let cell = *self.cells.get(stream).get(set * self.width + device)?;
        (cell != NONE).then_some(cell as usize)
    }
}

/// Aligns the frames of one rig at `fps`.
pub fn align(fps: Fps, devices: &[DeviceFrames]) -> Result<Alignment, RigError> {
    let n = devices.len();
    if n == 0 || n > MAX_DEVICES {
        return Err(RigError::DeviceCount {
            got: n,
            max: MAX_DEVICES,
        });
    }
    let masters: Vec<usize> = (0..n)
        .filter(|&d| devices.get(d).is_some_and(|x| x.role == Role::Master))
        .collect();
    let [master] = masters[..] else {
        return Err(RigError::MasterCount {
            found: masters.len(),
        });
    };
    let placed = place(fps, master, devices)?;
    Ok(tabulate(fps, master, devices, placed))
}

/// What feeding the aligner produced: emitted sets (aligner numbering, frame indices) and which
/// devices it lost.
struct Placed {
    numbers: Vec<i64>,
    cells: PerStream<Vec<u32>>,
    lost: Vec<bool>,
}

/// One stream being fed: its next frame and the epoch (clock jumps so far) that frame belongs to.
struct Feed<'a> {
    device: usize,
    stream: FrameKind,
    ts: &'a [u64],
    next: usize,
    epoch: u32,
}

impl Feed<'_> {
    /// Merge key of the next frame: later epochs after everything of earlier ones.
    fn key(&self, tolerance: u64) -> Option<(u32, u64)> {
        let ts = *self.ts.get(self.next)?;
        let prev = self.next.checked_sub(1).and_then(|i| self.ts.get(i));
        let jumped = prev.is_some_and(|&p| ts.saturating_add(tolerance) < p);
        Some((self.epoch + u32::from(jumped), ts))
    }
}

fn place(fps: Fps, master: usize, devices: &[DeviceFrames]) -> Result<Placed, RigError> {
    let n = devices.len();
    let mut timing = [DeviceTiming {
        colour_on: false,
        depth_on: false,
        ..DeviceTiming::default()
    }; MAX_DEVICES];
    for (t, d) in timing.iter_mut().zip(devices) {
        *t = DeviceTiming {
            subordinate_delay_nsec: d.effective_subordinate_delay_nsec(),
            depth_delay_nsec: d.effective_depth_delay_nsec(),
            colour_on: d.runs(FrameKind::Colour),
            depth_on: d.runs(FrameKind::Depth),
        };
    }
    let mut config = AlignerConfig::new(fps, master, timing);
    config.off_grid_limit = 0;
    let mut aligner =
        Box::new(Aligner::<MAX_DEVICES, WINDOW>::new(config).map_err(RigError::Aligner)?);
    let mut feeds: Vec<Feed<'_>> = devices
        .iter()
        .enumerate()
        .flat_map(|(device, d)| {
            [FrameKind::Colour, FrameKind::Depth]
                .into_iter()
                .filter(|&s| d.runs(s))
                .map(move |stream| Feed {
                    device,
                    stream,
                    ts: d.stream(stream),
                    next: 0,
                    epoch: 0,
                })
        })
        .collect();
    let mut sink = Sink {
        devices,
        placed: Placed {
            numbers: Vec::new(),
            cells: PerStream::default(),
            lost: vec![false; n],
        },
        cursor: vec![PerStream::default(); n],
    };
    let tolerance = u64::from(tolerance_usec(fps));
    // The master's first frame anchors the grid.
    let anchor = feeds
        .iter()
        .position(|f| f.device == master && !f.ts.is_empty());
    let push =
        |aligner: &mut Aligner<MAX_DEVICES, WINDOW>, f: &mut Feed<'_>, sink: &mut Sink<'_>| {
            if let Some((epoch, ts)) = f.key(tolerance) {
                f.epoch = epoch;
                f.next += 1;
                aligner
                    .push(f.device, f.stream, Usec(ts), &mut |o| sink.take(o))
                    .map_err(RigError::Aligner)?;
            }
            Ok::<(), RigError>(())
        };
    if let Some(f) = anchor.and_then(|i| feeds.get_mut(i)) {
        push(&mut aligner, f, &mut sink)?;
    }
    loop {
        let next = feeds
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.key(tolerance).map(|k| (k, i)))
            .min();
        let Some((_, i)) = next else { break };
        if let Some(f) = feeds.get_mut(i) {
            push(&mut aligner, f, &mut sink)?;
        }
    }
    aligner.flush(&mut |o| sink.take(o));
    Ok(sink.placed)
}

/// Collects the aligner's output.
struct Sink<'a> {
    devices: &'a [DeviceFrames],
    placed: Placed,
    /// Per device and stream: index of the first frame not yet found in an emitted set.
    cursor: Vec<PerStream<usize>>,
}

impl Sink<'_> {
    fn take(&mut self, out: AlignerOutput<'_, MAX_DEVICES>) {
        match out {
            AlignerOutput::Set(set) => {
                self.placed.numbers.push(set.set);
                for (device, d) in self.devices.iter().enumerate() {
                    for stream in [FrameKind::Colour, FrameKind::Depth] {
                        let index = set
                            .ts(device, stream)
                            .and_then(|ts| self.find(device, d.stream(stream), stream, ts.0));
                        let cell = index.and_then(|i| u32::try_from(i).ok()).unwrap_or(NONE);
                        self.placed.cells.get_mut(stream).push(cell);
                    }
                }
            }
            AlignerOutput::Health(HealthEvent::Lost { device, .. }) => {
                if let Some(lost) = self.placed.lost.get_mut(device) {
                    *lost = true;
                }
            }
            AlignerOutput::Health(_) => {}
        }
    }

    /// A placed frame's index: frames of a stream are placed in the order they were fed.
    fn find(&mut self, device: usize, ts: &[u64], stream: FrameKind, want: u64) -> Option<usize> {
        let cursor = self.cursor.get_mut(device)?.get_mut(stream);
        let offset = ts.get(*cursor..)?.iter().position(|&t| t == want)?;
        let index = *cursor + offset;
        *cursor = index + 1;
        Some(index)
    }
}

/// The dense set table and every device's report.
fn tabulate(fps: Fps, master: usize, devices: &[DeviceFrames], placed: Placed) -> Alignment {
    let n = devices.len();
    let Placed {
        numbers,
        cells: raw,
        lost,
    } = placed;
    let row_has_frame = |row: usize| {
        [&raw.colour, &raw.depth].iter().any(|cells| {
            cells
                .get(row * n..row * n + n)
                .is_some_and(|c| c.iter().any(|&x| x != NONE))
        })
    };
    let rows: Vec<usize> = (0..numbers.len()).filter(|&r| row_has_frame(r)).collect();
    let first = rows.first().and_then(|&r| numbers.get(r)).copied();
    let last = rows.last().and_then(|&r| numbers.get(r)).copied();
    let sets = match (first, last) {
        (Some(f), Some(l)) => usize::try_from(l - f + 1).unwrap_or(0),
        _ => 0,
    };
    let mut cells = PerStream {
        colour: vec![NONE; sets * n],
        depth: vec![NONE; sets * n],
    };
    for &row in &rows {
        let (Some(&number), Some(f)) = (numbers.get(row), first) else {
            continue;
        };
        let set = usize::try_from(number - f).unwrap_or(0);
        for stream in [FrameKind::Colour, FrameKind::Depth] {
            let from = raw.get(stream).get(row * n..row * n + n).unwrap_or(&[]);
            if let Some(to) = cells.get_mut(stream).get_mut(set * n..set * n + n) {
                to.copy_from_slice(from);
            }
        }
    }
    let mut alignment = Alignment {
        fps,
        devices: Vec::with_capacity(n),
        summary: Summary {
            sets,
            complete: 0,
            incomplete: 0,
            unsynced_frames: 0,
        },
        sets,
        width: n,
        cells,
    };
    for (device, d) in devices.iter().enumerate() {
        let lost = lost.get(device).copied().unwrap_or(false);
        let report = device_report(&alignment, master, devices, device, d, lost);
        alignment.devices.push(report);
    }
    alignment.summary = summarize(&alignment, devices);
    alignment
}

fn device_report(
    a: &Alignment,
    master: usize,
    devices: &[DeviceFrames],
    device: usize,
    d: &DeviceFrames,
    lost: bool,
) -> DeviceReport {
    let has = |set: usize, s: FrameKind| a.frame(set, device, s).is_some();
    let synced = |set: usize| has(set, FrameKind::Colour) || has(set, FrameKind::Depth);
    let first_set = (0..a.sets).find(|&s| synced(s));
    let last_set = (0..a.sets).rev().find(|&s| synced(s));
    let frames = PerStream {
        colour: d.stream(FrameKind::Colour).len(),
        depth: d.stream(FrameKind::Depth).len(),
    };
    let mut in_sets = PerStream::<usize>::default();
    let mut dropped = PerStream::<Vec<usize>>::default();
    if let (Some(first), Some(last)) = (first_set, last_set) {
        for set in first..=last {
            for stream in [FrameKind::Colour, FrameKind::Depth] {
                if has(set, stream) {
                    *in_sets.get_mut(stream) += 1;
                } else if d.runs(stream) {
                    dropped.get_mut(stream).push(set);
                }
            }
        }
    }
    let unsynced_frames = PerStream {
        colour: frames.colour - in_sets.colour,
        depth: frames.depth - in_sets.depth,
    };
    let off_grid_frames = unsynced_frames.colour + unsynced_frames.depth;
    let lost = lost || off_grid_frames >= usize::from(OFF_GRID_LIMIT);
    let sync_lost_at_set = match (lost, last_set) {
        (true, Some(last)) => Some(last + 1),
        _ => None,
    };
    let (offset, drift_ppm) = if device == master {
        (None, None)
    } else {
        offsets(a, master, devices, device)
    };
    let tolerance = f64::from(tolerance_usec(a.fps));
    let state = if first_set.is_none() {
        DeviceState::OffGrid
    } else if sync_lost_at_set.is_some() {
        DeviceState::Lost
    } else if offset.is_some_and(|o| o.min_usec < -tolerance || o.max_usec > tolerance) {
        DeviceState::Degraded
    } else {
        DeviceState::Synced
    };
    DeviceReport {
        first_set,
        last_set,
        frames,
        in_sets,
        dropped,
        sync_lost_at_set,
        unsynced_frames,
        offset,
        drift_ppm,
        state,
    }
}

/// A device's reference timestamp in `set` (ns, expected delays removed): colour, else depth.
fn reference_nsec(a: &Alignment, d: &DeviceFrames, device: usize, set: usize) -> Option<i64> {
    [FrameKind::Colour, FrameKind::Depth]
        .into_iter()
        .find_map(|stream| {
            let ts = *d.stream(stream).get(a.frame(set, device, stream)?)?;
            let ts_nsec = i64::try_from(ts).ok()?.checked_mul(1000)?;
            Some(ts_nsec - d.expected_delay_nsec(stream))
        })
}

/// Offset to the master per set (min/median/max) and its drift (least squares, µs per s = ppm).
fn offsets(
    a: &Alignment,
    master: usize,
    devices: &[DeviceFrames],
    device: usize,
) -> (Option<OffsetStats>, Option<f64>) {
    let (Some(m), Some(d)) = (devices.get(master), devices.get(device)) else {
        return (None, None);
    };
    let mut points: Vec<(f64, f64)> = (0..a.sets)
        .filter_map(|set| {
            let reference = reference_nsec(a, m, master, set)?;
            let own = reference_nsec(a, d, device, set)?;
            Some((reference as f64 / 1e9, (own - reference) as f64 / 1e3))
        })
        .collect();
    if points.is_empty() {
        return (None, None);
    }
    let drift = drift_ppm(&points);
    let mut values: Vec<f64> = points.drain(..).map(|(_, o)| o).collect();
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        len if len % 2 == 1 => values.get(len / 2).copied(),
        len => match (values.get(len / 2 - 1), values.get(len / 2)) {
            (Some(a), Some(b)) => Some((a + b) / 2.0),
            _ => None,
        },
    };
    let stats = match (values.first(), median, values.last()) {
        (Some(&min), Some(median), Some(&max)) => Some(OffsetStats {
            min_usec: min,
            median_usec: median,
            max_usec: max,
        }),
        _ => None,
    };
    (stats, drift)
}

/// Slope of offset (µs) over time (s), i.e. ppm; `None` with fewer than two distinct times.
fn drift_ppm(points: &[(f64, f64)]) -> Option<f64> {
    let count = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_o = points.iter().map(|p| p.1).sum::<f64>() / count;
    let (mut cov, mut var) = (0.0, 0.0);
    for &(t, o) in points {
        cov += (t - mean_t) * (o - mean_o);
        var += (t - mean_t) * (t - mean_t);
    }
    (var > 0.0).then(|| cov / var)
}

/// A set is complete when every device still on the grid at that set has every stream it runs.
fn summarize(a: &Alignment, devices: &[DeviceFrames]) -> Summary {
    let expected = |device: usize, set: usize| {
        a.devices.get(device).is_some_and(|r| {
            r.state != DeviceState::OffGrid && r.sync_lost_at_set.is_none_or(|lost| set < lost)
        })
    };
    let complete = (0..a.sets)
        .filter(|&set| {
            devices.iter().enumerate().all(|(device, d)| {
                !expected(device, set)
                    || [FrameKind::Colour, FrameKind::Depth]
                        .into_iter()
                        .filter(|&s| d.runs(s))
                        .all(|s| a.frame(set, device, s).is_some())
            })
        })
        .count();
    let unsynced_frames = a
        .devices
        .iter()
        .map(|r| r.unsynced_frames.colour + r.unsynced_frames.depth)
        .sum();
    Summary {
        sets: a.sets,
        complete,
        incomplete: a.sets - complete,
        unsynced_frames,
    }
}
