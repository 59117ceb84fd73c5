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
    /// The rig's master was restarted after this device; re-arms a subordinate that lost sync
    /// by restarting or lost its pulses, ignored otherwise.
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

#[cfg(test)]
mod tests {
    use super::*;

    const IN: JackState = JackState::IN_ONLY;
    const OUT: JackState = JackState::OUT_ONLY;
    const BOTH: JackState = JackState::BOTH;
    const NONE: JackState = JackState::NONE;

    fn session(mode: WiredSyncMode, jack: JackState) -> SyncSession {
        let mut s = SyncSession::new();
        s.handle(Event::Configured(mode, Fps::Fps30));
        s.handle(Event::JackRead(jack));
        s
    }

    fn streaming_subordinate() -> SyncSession {
        let mut s = session(WiredSyncMode::Subordinate, IN);
        s.handle(Event::Started);
        s.handle(Event::FrameReceived { device_ts_usec: 0 });
        assert_eq!(s.state(), SessionState::Streaming);
        s
    }

    #[test]
    fn jack_bits_map_to_cable_presence() {
        assert_eq!(CablePresence::from(NONE), CablePresence::Unplugged);
        assert_eq!(CablePresence::from(IN), CablePresence::SyncInOnly);
        assert_eq!(CablePresence::from(OUT), CablePresence::SyncOutOnly);
        assert_eq!(CablePresence::from(BOTH), CablePresence::Both);
    }

    #[test]
    fn subordinate_needs_sync_in() {
        let sub = WiredSyncMode::Subordinate;
        assert_eq!(
            can_start(sub, CablePresence::SyncOutOnly),
            Err(JackError::SubordinateWithoutSyncIn)
        );
        assert_eq!(can_start(sub, CablePresence::Both), Ok(None));
    }

    #[test]
    fn master_needs_sync_out() {
        assert_eq!(
            can_start(WiredSyncMode::Master, CablePresence::SyncInOnly),
            Err(JackError::MasterWithoutSyncOut)
        );
        assert_eq!(
            can_start(WiredSyncMode::Master, CablePresence::SyncOutOnly),
            Ok(None)
        );
    }

    #[test]
    fn master_with_sync_in_starts_with_an_advisory() {
        assert_eq!(
            can_start(WiredSyncMode::Master, CablePresence::Both),
            Ok(Some(JackAdvisory::MasterHasSyncIn))
        );
        let mut s = session(WiredSyncMode::Master, BOTH);
        let t = s.handle(Event::Started);
        assert_eq!(t.to, SessionState::Streaming);
        assert_eq!(
            t.notice,
            Some(Notice::Advisory(JackAdvisory::MasterHasSyncIn))
        );
        assert_eq!(t.notice.map(|n| n.severity()), Some(Severity::Warning));
    }

    #[test]
    fn standalone_starts_with_any_cabling() {
        for p in [CablePresence::Unplugged, CablePresence::Both] {
            assert_eq!(can_start(WiredSyncMode::Standalone, p), Ok(None));
        }
    }

    #[test]
    fn start_before_configure_is_refused() {
        let mut s = SyncSession::new();
        let t = s.handle(Event::Started);
        assert_eq!((t.from, t.to), (SessionState::Idle, SessionState::Idle));
        assert_eq!(t.notice, Some(Notice::NotConfigured));
    }

    #[test]
    fn subordinate_without_sync_in_stays_idle() {
        let mut s = session(WiredSyncMode::Subordinate, OUT);
        let t = s.handle(Event::Started);
        assert_eq!(t.to, SessionState::Idle);
        assert_eq!(
            t.notice,
            Some(Notice::StartRefused(JackError::SubordinateWithoutSyncIn))
        );
    }

    #[test]
    fn started_subordinate_is_armed_until_its_first_frame() {
        let mut s = session(WiredSyncMode::Subordinate, IN);
        assert_eq!(s.handle(Event::Started).to, SessionState::Armed);
        assert_eq!(s.health(), Health::Degraded);
        let quiet = s.handle(Event::NoFrameFor { usec: 5_000_000 });
        assert_eq!((quiet.to, quiet.notice), (SessionState::Armed, None));
        let t = s.handle(Event::FrameReceived {
            device_ts_usec: 65_333,
        });
        assert_eq!(t.to, SessionState::Streaming);
        assert_eq!(t.notice, Some(Notice::SyncAcquired));
        assert_eq!(s.last_device_ts_usec(), Some(65_333));
        assert_eq!(s.health(), Health::Ok);
    }

    #[test]
    fn master_streams_as_soon_as_it_starts() {
        let mut s = session(WiredSyncMode::Master, OUT);
        let t = s.handle(Event::Started);
        assert_eq!((t.to, t.notice), (SessionState::Streaming, None));
    }

    #[test]
    fn silence_over_two_periods_loses_pulses() {
        let mut s = streaming_subordinate();
        let within = s.handle(Event::NoFrameFor { usec: 66_666 });
        assert_eq!((within.to, within.notice), (SessionState::Streaming, None));
        let t = s.handle(Event::NoFrameFor { usec: 66_667 });
        assert_eq!(t.to, SessionState::PulsesLost);
        assert_eq!(
            t.notice,
            Some(Notice::PulsesLost {
                silent_usec: 66_667
            })
        );
        assert_eq!(s.health(), Health::Failed);
    }

    #[test]
    fn pulses_resume_on_the_next_frame() {
        let mut s = streaming_subordinate();
        s.handle(Event::NoFrameFor { usec: 1_000_000 });
        let t = s.handle(Event::FrameReceived {
            device_ts_usec: 1_033_333,
        });
        assert_eq!(
            (t.to, t.notice),
            (SessionState::Streaming, Some(Notice::PulsesResumed))
        );
    }

    #[test]
    fn silent_master_reports_overdue_frames_but_keeps_streaming() {
        let mut s = session(WiredSyncMode::Master, OUT);
        s.handle(Event::Started);
        let t = s.handle(Event::NoFrameFor { usec: 100_000 });
        assert_eq!(t.to, SessionState::Streaming);
        assert_eq!(
            t.notice,
            Some(Notice::FramesOverdue {
                silent_usec: 100_000
            })
        );
    }

    #[test]
    fn pulling_the_sync_in_cable_of_a_running_subordinate_is_reported() {
        let mut s = streaming_subordinate();
        let t = s.handle(Event::JackRead(NONE));
        assert_eq!(
            (t.to, t.notice),
            (SessionState::CablePulled, Some(Notice::CablePulled))
        );
        let again = s.handle(Event::JackRead(NONE));
        assert_eq!((again.to, again.notice), (SessionState::CablePulled, None));
        let back = s.handle(Event::JackRead(IN));
        assert_eq!(
            (back.to, back.notice),
            (SessionState::Armed, Some(Notice::CableReplugged))
        );
    }

    #[test]
    fn pulling_the_master_sync_out_cable_is_reported() {
        let mut s = session(WiredSyncMode::Master, OUT);
        s.handle(Event::Started);
        assert_eq!(
            s.handle(Event::JackRead(NONE)).to,
            SessionState::CablePulled
        );
        assert_eq!(s.handle(Event::JackRead(OUT)).to, SessionState::Streaming);
    }

    #[test]
    fn unplugging_while_idle_changes_nothing_but_presence() {
        let mut s = session(WiredSyncMode::Subordinate, IN);
        let t = s.handle(Event::JackRead(NONE));
        assert_eq!((t.to, t.notice), (SessionState::Idle, None));
        assert_eq!(s.presence(), CablePresence::Unplugged);
    }

    #[test]
    fn restarted_subordinate_loses_sync_until_the_master_restarts() {
        let mut s = streaming_subordinate();
        let t = s.handle(Event::Restarted);
        assert_eq!(t.to, SessionState::LostSyncAfterRestart);
        assert_eq!(t.notice, Some(Notice::SyncLostByRestart));
        let frame = s.handle(Event::FrameReceived { device_ts_usec: 9 });
        assert_eq!(frame.to, SessionState::LostSyncAfterRestart);
        let t = s.handle(Event::MasterRestarted);
        assert_eq!(
            (t.to, t.notice),
            (SessionState::Armed, Some(Notice::SyncRestored))
        );
        s.handle(Event::FrameReceived { device_ts_usec: 0 });
        assert_eq!(s.state(), SessionState::Streaming);
    }

    #[test]
    fn stop_then_start_of_a_synced_subordinate_also_loses_sync() {
        let mut s = streaming_subordinate();
        assert_eq!(s.handle(Event::Stopped).to, SessionState::Idle);
        assert_eq!(
            s.handle(Event::Started).to,
            SessionState::LostSyncAfterRestart
        );
    }

    #[test]
    fn restarted_master_streams_again() {
        let mut s = session(WiredSyncMode::Master, OUT);
        s.handle(Event::Started);
        assert_eq!(s.handle(Event::Restarted).to, SessionState::Streaming);
    }

    #[test]
    fn master_restart_is_ignored_by_a_healthy_subordinate() {
        let mut s = streaming_subordinate();
        let t = s.handle(Event::MasterRestarted);
        assert_eq!((t.to, t.notice), (SessionState::Streaming, None));
    }

    #[test]
    fn device_reset_forgets_the_configuration_but_not_the_lost_alignment() {
        let mut s = streaming_subordinate();
        assert_eq!(s.handle(Event::DeviceReset).to, SessionState::Idle);
        assert_eq!(s.role(), None);
        assert_eq!(s.handle(Event::Started).notice, Some(Notice::NotConfigured));
        s.handle(Event::Configured(WiredSyncMode::Subordinate, Fps::Fps30));
        assert_eq!(
            s.handle(Event::Started).to,
            SessionState::LostSyncAfterRestart
        );
    }

    #[test]
    fn configuring_a_running_session_is_ignored() {
        let mut s = streaming_subordinate();
        s.handle(Event::Configured(WiredSyncMode::Master, Fps::Fps5));
        assert_eq!(s.role(), Some((WiredSyncMode::Subordinate, Fps::Fps30)));
    }

    #[test]
    fn mixing_sync_fps_across_the_rig_is_an_error() {
        let a = session(WiredSyncMode::Master, OUT);
        let b = session(WiredSyncMode::Subordinate, IN);
        let mut c = SyncSession::new();
        c.handle(Event::Configured(WiredSyncMode::Subordinate, Fps::Fps15));
        let standalone = {
            let mut s = SyncSession::new();
            s.handle(Event::Configured(WiredSyncMode::Standalone, Fps::Fps5));
            s
        };
        assert_eq!(check_rig_consistency(&[a, b, standalone]), Ok(()));
        assert_eq!(
            check_rig_consistency(&[a, standalone, b, c]),
            Err(RigError::MixedFps {
                first_index: 0,
                first: Fps::Fps30,
                other_index: 3,
                other: Fps::Fps15
            })
        );
        assert_eq!(check_rig_consistency(&[]), Ok(()));
    }
}
