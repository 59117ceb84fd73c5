//! The sync jacks of one device and its sync session as a state machine (reference §4.3, §7.5,
//! §10.1, §10.2, §10.4).
//!
//! The jacks report plug presence only, never signal presence, so the machine combines three
//! kinds of evidence the host feeds in as [`Event`]s: jack reads, frame arrivals and silences
//! (the host measures time; nothing here reads a clock). Each event returns a [`Transition`]
//! carrying at most one [`Notice`] the host must surface, with a severity.
//!
//! Two rules shape it beyond the SDK's start checks:
//! * a started subordinate delivers nothing until pulses arrive, so it waits in
//!   [`SessionState::Armed`] rather than counting as stalled (§10.4);
//! * restarting a subordinate loses synchronisation until the master is restarted after it
//!   (§10.4), hence [`SessionState::LostSyncAfterRestart`], cleared by
//!   [`Event::MasterRestarted`].

use core::fmt;

use crate::types::{Fps, WiredSyncMode};
use crate::wire::colour_mcu::JackState;

/// Which sync jacks have a plug in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CablePresence {
    #[default]
    Unplugged,
    SyncInOnly,
    SyncOutOnly,
    Both,
}

impl CablePresence {
    pub const fn sync_in(self) -> bool {
        matches!(self, CablePresence::SyncInOnly | CablePresence::Both)
    }

    pub const fn sync_out(self) -> bool {
        matches!(self, CablePresence::SyncOutOnly | CablePresence::Both)
    }
}

impl From<JackState> for CablePresence {
    fn from(jack: JackState) -> Self {
        match (jack.sync_in, jack.sync_out) {
            (false, false) => CablePresence::Unplugged,
            (true, false) => CablePresence::SyncInOnly,
            (false, true) => CablePresence::SyncOutOnly,
            (true, true) => CablePresence::Both,
        }
    }
}

/// A cable the sync role requires is missing; the SDK refuses the start (§7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JackError {
    SubordinateWithoutSyncIn,
    MasterWithoutSyncOut,
}

impl fmt::Display for JackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JackError::SubordinateWithoutSyncIn => {
                "a subordinate needs a cable in Sync In; plug the upstream Sync Out into it"
            }
            JackError::MasterWithoutSyncOut => {
                "a master needs a cable in Sync Out; plug it into the first subordinate's Sync In"
            }
        })
    }
}

impl core::error::Error for JackError {}

/// A cabling the docs forbid but the SDK accepts: worth a warning, not a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JackAdvisory {
    /// A master with a plug in Sync In (docs: a master must not have one, §10.2).
    MasterHasSyncIn,
}

impl fmt::Display for JackAdvisory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JackAdvisory::MasterHasSyncIn => {
                "the master has a cable in Sync In; unplug it (the docs forbid it, the SDK allows it)"
            }
        })
    }
}

/// Whether a device in `mode` may start with these cables, and any advisory to surface.
pub const fn can_start(
    mode: WiredSyncMode,
    presence: CablePresence,
) -> Result<Option<JackAdvisory>, JackError> {
    match mode {
        WiredSyncMode::Standalone => Ok(None),
        WiredSyncMode::Subordinate if !presence.sync_in() => {
            Err(JackError::SubordinateWithoutSyncIn)
        }
        WiredSyncMode::Subordinate => Ok(None),
        WiredSyncMode::Master if !presence.sync_out() => Err(JackError::MasterWithoutSyncOut),
        WiredSyncMode::Master if presence.sync_in() => Ok(Some(JackAdvisory::MasterHasSyncIn)),
        WiredSyncMode::Master => Ok(None),
    }
}

/// Where one device's sync session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionState {
    /// Not streaming (never started, stopped, refused or reset).
    #[default]
    Idle,
    /// A started subordinate waiting for its first pulses; silence here is expected.
    Armed,
    /// Frames arrive (for a subordinate: pulses arrive).
    Streaming,
    /// A streaming subordinate stopped receiving frames for more than two frame periods.
    PulsesLost,
    /// The jack the role depends on (subordinate: Sync In, master: Sync Out) is now empty.
    CablePulled,
    /// A subordinate restarted while the master kept running: its clock is no longer zeroed
    /// with the master's until the master is restarted after it.
    LostSyncAfterRestart,
}

/// How the host should rate a device's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Health {
    Ok,
    /// Usable data may resume without intervention (waiting, overdue frames).
    Degraded,
    /// Frames are missing or not aligned with the rig until the operator acts.
    Failed,
}

/// How loudly a [`Notice`] must be surfaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What the host must tell the operator about a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Notice {
    /// `Started` before `Configured`.
    NotConfigured,
    /// The last jack read does not allow the configured role to start.
    StartRefused(JackError),
    Advisory(JackAdvisory),
    /// A subordinate's first frame: pulses arrive.
    SyncAcquired,
    /// A streaming subordinate went silent.
    PulsesLost {
        silent_usec: u64,
    },
    PulsesResumed,
    /// A master or standalone device went silent (it makes its own timing, so this is a stall).
    FramesOverdue {
        silent_usec: u64,
    },
    /// The jack this role depends on was emptied while running.
    CablePulled,
    /// The pulled cable is back; the device waits for pulses again.
    CableReplugged,
    /// A subordinate restarted while the master kept running; restart the master.
    SyncLostByRestart,
    /// The master restarted after this subordinate; it waits for the new pulses.
    SyncRestored,
}

impl Notice {
    pub const fn severity(&self) -> Severity {
        match self {
            Notice::SyncAcquired | Notice::SyncRestored => Severity::Info,
            Notice::Advisory(_)
            | Notice::PulsesResumed
            | Notice::FramesOverdue { .. }
            | Notice::CableReplugged => Severity::Warning,
            Notice::NotConfigured
            | Notice::StartRefused(_)
            | Notice::PulsesLost { .. }
            | Notice::CablePulled
            | Notice::SyncLostByRestart => Severity::Error,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Notice::NotConfigured => f.write_str("the device was started before it was configured; configure it first"),
            Notice::StartRefused(e) => write!(f, "start refused: {e}"),
            Notice::Advisory(a) => fmt::Display::fmt(&a, f),
            Notice::SyncAcquired => f.write_str("sync pulses arrive; the subordinate is streaming"),
            Notice::PulsesLost { silent_usec } => write!(
                f,
                "no frame for {silent_usec} µs: sync pulses stopped; check the master and the Sync In cable"
            ),
            Notice::PulsesResumed => f.write_str(
                "frames resumed after a pulse gap; check the recording for missing frame sets",
            ),
            Notice::FramesOverdue { silent_usec } => write!(
                f,
                "no frame for {silent_usec} µs; check the USB connection and the device's power"
            ),
            Notice::CablePulled => f.write_str(
                "the sync cable this role needs was unplugged; plug it back in and restart the rig",
            ),
            Notice::CableReplugged => f.write_str(
                "the sync cable is back; restart the master after this device to realign clocks",
            ),
            Notice::SyncLostByRestart => f.write_str(
                "this subordinate restarted while the master ran, so its clock is no longer aligned; restart the master",
            ),
            Notice::SyncRestored => f.write_str(
                "the master restarted after this subordinate; waiting for its pulses",
            ),
        }
    }
}

/// What happened to a device, as the host observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    Configured(WiredSyncMode, Fps),
    Started,
    JackRead(JackState),
    FrameReceived {
        device_ts_usec: u64,
    },
    /// No frame for this long since the last frame (or since the start).
    NoFrameFor {
        usec: u64,
    },
    Stopped,
    /// Stop and start in one step.
    Restarted,
    /// The rig's master was (re)started after this device.
    MasterRestarted,
    /// The device was reset or re-enumerated: configuration and alignment are gone.
    DeviceReset,
}

/// The result of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    pub from: SessionState,
    pub to: SessionState,
    pub notice: Option<Notice>,
}

/// One device's sync session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SyncSession {
    state: SessionState,
    role: Option<(WiredSyncMode, Fps)>,
    presence: CablePresence,
    /// This subordinate received pulses from the running master at some point.
    aligned_with_master: bool,
    last_device_ts_usec: Option<u64>,
}

impl SyncSession {
    pub const fn new() -> Self {
        SyncSession {
            state: SessionState::Idle,
            role: None,
            presence: CablePresence::Unplugged,
            aligned_with_master: false,
            last_device_ts_usec: None,
        }
    }

    pub const fn state(&self) -> SessionState {
        self.state
    }

    pub const fn role(&self) -> Option<(WiredSyncMode, Fps)> {
        self.role
    }

    pub const fn presence(&self) -> CablePresence {
        self.presence
    }

    pub const fn last_device_ts_usec(&self) -> Option<u64> {
        self.last_device_ts_usec
    }

    pub const fn health(&self) -> Health {
        match self.state {
            SessionState::Idle | SessionState::Streaming => Health::Ok,
            SessionState::Armed => Health::Degraded,
            SessionState::PulsesLost
            | SessionState::CablePulled
            | SessionState::LostSyncAfterRestart => Health::Failed,
        }
    }

    fn mode(&self) -> Option<WiredSyncMode> {
        self.role.map(|(mode, _)| mode)
    }

    fn is_subordinate(&self) -> bool {
        self.mode() == Some(WiredSyncMode::Subordinate)
    }

    /// Silence longer than this while streaming counts as lost pulses / overdue frames.
    pub fn silence_limit_usec(&self) -> Option<u64> {
        self.role.map(|(_, fps)| 2 * u64::from(fps.period_usec()))
    }

    fn needed_jack_present(&self) -> bool {
        match self.mode() {
            Some(WiredSyncMode::Subordinate) => self.presence.sync_in(),
            Some(WiredSyncMode::Master) => self.presence.sync_out(),
            _ => true,
        }
    }

    fn running(&self) -> bool {
        !matches!(self.state, SessionState::Idle)
    }

    /// Feeds one event and returns the transition it caused.
    pub fn handle(&mut self, event: Event) -> Transition {
        let from = self.state;
        let notice = self.apply(event);
        Transition {
            from,
            to: self.state,
            notice,
        }
    }

    fn apply(&mut self, event: Event) -> Option<Notice> {
        match event {
            Event::Configured(mode, fps) => {
                if !self.running() {
                    self.role = Some((mode, fps));
                }
                None
            }
            Event::Started => self.start(),
            Event::Restarted => {
                self.stop();
                self.start()
            }
            Event::Stopped => {
                self.stop();
                None
            }
            Event::DeviceReset => {
                let aligned = self.aligned_with_master;
                *self = SyncSession {
                    presence: self.presence,
                    aligned_with_master: aligned,
                    ..SyncSession::new()
                };
                None
            }
            Event::MasterRestarted => match self.state {
                SessionState::LostSyncAfterRestart | SessionState::PulsesLost => {
                    self.aligned_with_master = false;
                    self.state = SessionState::Armed;
                    Some(Notice::SyncRestored)
                }
                _ => None,
            },
            Event::JackRead(jack) => self.jack_read(jack),
            Event::FrameReceived { device_ts_usec } => self.frame(device_ts_usec),
            Event::NoFrameFor { usec } => self.silence(usec),
        }
    }

    fn start(&mut self) -> Option<Notice> {
        if self.running() {
            return None;
        }
        let Some((mode, _)) = self.role else {
            return Some(Notice::NotConfigured);
        };
        match can_start(mode, self.presence) {
            Err(e) => Some(Notice::StartRefused(e)),
            Ok(advisory) => {
                self.last_device_ts_usec = None;
                self.state = match mode {
                    WiredSyncMode::Subordinate if self.aligned_with_master => {
                        SessionState::LostSyncAfterRestart
                    }
                    WiredSyncMode::Subordinate => SessionState::Armed,
                    _ => SessionState::Streaming,
                };
                if self.state == SessionState::LostSyncAfterRestart {
                    Some(Notice::SyncLostByRestart)
                } else {
                    advisory.map(Notice::Advisory)
                }
            }
        }
    }

    fn stop(&mut self) {
        self.state = SessionState::Idle;
    }

    fn jack_read(&mut self, jack: JackState) -> Option<Notice> {
        let before = self.needed_jack_present();
        self.presence = CablePresence::from(jack);
        let now = self.needed_jack_present();
        if !self.running() {
            return None;
        }
        match (before, now, self.state) {
            (_, false, SessionState::CablePulled) => None,
            (_, false, _) => {
                self.state = SessionState::CablePulled;
                Some(Notice::CablePulled)
            }
            (_, true, SessionState::CablePulled) => {
                self.state = if self.is_subordinate() {
                    SessionState::Armed
                } else {
                    SessionState::Streaming
                };
                Some(Notice::CableReplugged)
            }
            _ => None,
        }
    }

    fn frame(&mut self, device_ts_usec: u64) -> Option<Notice> {
        if !self.running() {
            return None;
        }
        self.last_device_ts_usec = Some(device_ts_usec);
        match self.state {
            SessionState::Armed => {
                self.state = SessionState::Streaming;
                self.aligned_with_master = self.is_subordinate();
                self.is_subordinate().then_some(Notice::SyncAcquired)
            }
            SessionState::PulsesLost => {
                self.state = SessionState::Streaming;
                Some(Notice::PulsesResumed)
            }
            _ => None,
        }
    }

    fn silence(&mut self, usec: u64) -> Option<Notice> {
        let limit = self.silence_limit_usec()?;
        if self.state != SessionState::Streaming || usec <= limit {
            return None;
        }
        if self.is_subordinate() {
            self.state = SessionState::PulsesLost;
            Some(Notice::PulsesLost { silent_usec: usec })
        } else {
            Some(Notice::FramesOverdue { silent_usec: usec })
        }
    }
}

/// Two synced members of one rig run at different frame rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RigError {
    MixedFps {
        first_index: usize,
        first: Fps,
        other_index: usize,
        other: Fps,
    },
}

impl fmt::Display for RigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RigError::MixedFps {
                first_index,
                first,
                other_index,
                other,
            } => write!(
                f,
                "device {other_index} runs at {other} fps but device {first_index} at {first} fps; sync pulses need one rate across the rig"
            ),
        }
    }
}

impl core::error::Error for RigError {}

/// Checks that every configured master/subordinate session uses the same frame rate (§10.1).
pub fn check_rig_consistency(sessions: &[SyncSession]) -> Result<(), RigError> {
    let mut synced = sessions
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.role {
            Some((WiredSyncMode::Standalone, _)) | None => None,
            Some((_, fps)) => Some((i, fps)),
        });
    let Some((first_index, first)) = synced.next() else {
        return Ok(());
    };
    match synced.find(|&(_, fps)| fps != first) {
        Some((other_index, other)) => Err(RigError::MixedFps {
            first_index,
            first,
            other_index,
            other,
        }),
        None => Ok(()),
    }
}
