//! The agent's camera: the one module of the rig that uses `k4sync-host`.
//!
//! It opens the device (USB by serial, or an emulated camera), reads its identity and jacks,
//! and records through the host's recorder — the same pipeline, files and crash safety as
//! `k4sync record` — on a thread of its own that owns the device while it records and hands
//! it back when the take ends. Everything here blocks; the agent calls it from blocking tasks.
//!
//! [`EmulatedChain`] is the one-machine rig (`rig record --emulate N`): N emulated cameras on
//! one simulated daisy-chain cable, so each agent's camera gets its pulses from the camera
//! before it, with the real semantics (a subordinate produces nothing until pulses arrive).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use k4sync_core::colour_control::manual_exposure;
use k4sync_core::sync::config::DeviceConfig;
pub use k4sync_host::transport::emulated::Pacing;
use k4sync_host::transport::emulated::{params_for, EmulatedRig};
use k4sync_host::{
    record_to_file, Device, Exposure, RecordError, RecordOptions, RecordStats, Selector, Source,
    SyncState,
};

use crate::feed::FrameFeed;
use crate::msg::{Firmware, Jacks, RecorderState};
use crate::RigError;

/// Which camera an agent owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSource {
    /// A camera on this computer's USB bus.
    Usb { serial: String },
    /// Emulated camera `emu:<index>`, paced in real time, with these jacks plugged (the plugs
    /// lead to idle cameras: presence without pulses, like a cable whose other end is off).
    /// `pulse_in` / `pulse_out`: a sync cable to another process's emulated camera instead
    /// (a Unix socket this agent binds / sends its Sync Out pulses to), so agent processes
    /// form one chain; each plugs its jack.
    Emulated {
        index: u32,
        jacks: Jacks,
        pulse_in: Option<PathBuf>,
        pulse_out: Option<PathBuf>,
    },
    /// Camera `index` of an emulated daisy chain shared by the agents of one process.
    Chained { chain: EmulatedChain, index: u32 },
}

/// Emulated cameras `emu:0` … `emu:<n − 1>` on one simulated daisy-chain cable: camera 0's
/// Sync Out feeds camera 1's Sync In, and so on (camera 0 is the master's place). Paced in
/// real time, or on the emulator's virtual clock (as fast as the recorders take the frames: a
/// load test). Clones share the cameras.
#[derive(Clone)]
pub struct EmulatedChain {
    rig: EmulatedRig,
    id: u64,
}

impl EmulatedChain {
    pub fn new(cameras: u32, pacing: Pacing) -> EmulatedChain {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        EmulatedChain {
            rig: EmulatedRig::daisy_chain(cameras, pacing),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn len(&self) -> usize {
        self.rig.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rig.is_empty()
    }

    /// Pulls the cable out of camera `index`'s Sync In while the rig runs (the dashboard's
    /// cable alarm is tested with it): its pulses stop and both jacks report no plug.
    pub fn unplug_sync_in(&self, index: u32) {
        self.rig.unplug_sync_in(index as usize);
    }
}

impl fmt::Debug for EmulatedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmulatedChain#{} ({} cameras)", self.id, self.len())
    }
}

impl PartialEq for EmulatedChain {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for EmulatedChain {}

/// What the camera says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub serial: String,
    pub firmware: Firmware,
    pub usb_speed: Option<String>,
    pub emulated: bool,
}

struct Recording {
    take: String,
    file: PathBuf,
    stop: Arc<AtomicBool>,
    progress: Arc<Mutex<Progress>>,
    thread: JoinHandle<(Device, Result<Progress, RecordError>)>,
}

/// Where the recorder thread stands: its state, captures written, images dropped.
#[derive(Debug, Clone, Copy)]
struct Progress {
    sync: SyncState,
    frames: u64,
    dropped: u64,
    last_colour_usec: Option<u64>,
    last_depth_usec: Option<u64>,
}

impl Progress {
    fn of(s: &RecordStats) -> Progress {
        Progress {
            sync: s.sync,
            frames: s.colour_frames.max(s.depth_frames),
            dropped: s.dropped_queue_captures + s.dropped_late + s.dropped_device,
            last_colour_usec: s.delivered_ts_usec.colour,
            last_depth_usec: s.delivered_ts_usec.depth,
        }
    }
}

/// An opened camera and, while it records, its recording.
pub struct Camera {
    identity: Identity,
    device: Option<Device>,
    recording: Option<Recording>,
    last: RecorderState,
    jacks: Option<Jacks>,
    /// An emulated camera's rig and its place in it: its jacks can be read while it records,
    /// as a real device answers GET_JACK_STATE while streaming.
    emulated: Option<(EmulatedRig, usize)>,
    /// Where each recording's per-frame timestamps go out.
    feed: Arc<FrameFeed>,
}

impl Camera {
    pub fn open(source: &CameraSource) -> Result<Camera, RigError> {
        let camera_error = |e: k4sync_host::Error| RigError::Camera(e.to_string());
        let (device, rig, usb_speed) = match source {
            CameraSource::Usb { serial } => {
                let device =
                    Device::open(&Selector::Serial(serial.clone())).map_err(camera_error)?;
                let speed = k4sync_host::list(&Source::Usb).ok().and_then(|reports| {
                    reports
                        .into_iter()
                        .find(|r| r.serial() == Some(serial.as_str()))
                        .and_then(|r| r.speed)
                });
                (device, None, speed)
            }
            CameraSource::Emulated {
                index,
                jacks,
                pulse_in,
                pulse_out,
            } => {
                let upstream = index.saturating_add(1000);
                let downstream = index.saturating_add(2000);
                let rig = EmulatedRig::new(
                    [
                        params_for(*index),
                        params_for(upstream),
                        params_for(downstream),
                    ],
                    Pacing::RealTime,
                );
                if jacks.sync_in {
                    rig.connect(1, 0);
                }
                if jacks.sync_out {
                    rig.connect(0, 2);
                }
                let cable = |e: std::io::Error, path: &Path| {
                    RigError::Camera(format!("sync cable at {}: {e}", path.display()))
                };
                if let Some(path) = pulse_in {
                    rig.pulse_in(0, path).map_err(|e| cable(e, path))?;
                }
                if let Some(path) = pulse_out {
                    rig.pulse_out(0, path).map_err(|e| cable(e, path))?;
                }
                let device =
                    Device::from_transport(Box::new(rig.transport(0))).map_err(camera_error)?;
                (device, Some((rig, 0)), Some("emulated".to_string()))
            }
            CameraSource::Chained { chain, index } => {
                let index = *index as usize;
                if index >= chain.len() {
                    return Err(RigError::Usage(format!(
                        "the emulated chain has {} cameras, no camera {index}",
                        chain.len()
                    )));
                }
                let device = Device::from_transport(Box::new(chain.rig.transport(index)))
                    .map_err(camera_error)?;
                (
                    device,
                    Some((chain.rig.clone(), index)),
                    Some("emulated".to_string()),
                )
            }
        };
        let v = device.versions();
        let identity = Identity {
            serial: device.serial().to_string(),
            firmware: Firmware {
                rgb: v.rgb.to_string(),
                depth: v.depth.to_string(),
                audio: v.audio.to_string(),
            },
            usb_speed,
            emulated: rig.is_some(),
        };
        let mut camera = Camera {
            identity,
            device: Some(device),
            recording: None,
            last: RecorderState::Idle,
            jacks: None,
            emulated: rig,
            feed: Arc::default(),
        };
        camera.refresh_jacks();
        Ok(camera)
    }

    /// The device timestamps of every image its recordings hand to the writer.
    pub fn feed(&self) -> Arc<FrameFeed> {
        self.feed.clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The jack state: read from the device when it is idle, the last reading while it
    /// records (the recorder owns the device then); an emulated camera's is always current.
    pub fn jacks(&self) -> Option<Jacks> {
        self.jacks
    }

    pub fn refresh_jacks(&mut self) {
        if let Some((rig, index)) = &self.emulated {
            self.jacks = Some(Jacks::from(rig.camera(*index).jack()));
        } else if let Some(device) = self.device.as_mut() {
            self.jacks = device.jack_state().ok().map(Jacks::from);
        }
    }

    /// The recorder's state; collects a recording whose thread has ended.
    pub fn recorder_state(&mut self) -> RecorderState {
        if self
            .recording
            .as_ref()
            .is_some_and(|r| r.thread.is_finished())
        {
            self.finish();
        }
        match &self.recording {
            None => self.last.clone(),
            Some(r) => {
                let p = *r.progress.lock().unwrap_or_else(PoisonError::into_inner);
                let (take, file) = (r.take.clone(), r.file.display().to_string());
                match p.sync {
                    SyncState::Starting => RecorderState::Starting { take, file },
                    SyncState::WaitingForMaster => RecorderState::WaitingForPulses { take, file },
                    _ => RecorderState::Recording {
                        take,
                        file,
                        frames: p.frames,
                        dropped: p.dropped,
                    },
                }
            }
        }
    }

    /// Device timestamps (µs) of the newest colour and depth images the recording in progress
    /// handed to its writer.
    pub fn last_device_usec(&self) -> (Option<u64>, Option<u64>) {
        self.recording.as_ref().map_or((None, None), |r| {
            let p = *r.progress.lock().unwrap_or_else(PoisonError::into_inner);
            (p.last_colour_usec, p.last_depth_usec)
        })
    }

    /// Starts recording `config` into `file` on the recorder thread; with `length`, the
    /// recorder stops by itself after that much device time from the first image.
    pub fn start(
        &mut self,
        take: &str,
        file: &Path,
        config: DeviceConfig,
        exposure: Option<i8>,
        length: Option<Duration>,
    ) -> Result<(), RigError> {
        if self.recording.is_some() {
            return Err(RigError::Usage(
                "a recording is already in progress; stop it first".into(),
            ));
        }
        let exposure = match exposure.map(|e| manual_exposure(i32::from(e))) {
            None => Exposure::Auto,
            Some(Ok(manual)) => manual,
            Some(Err(e)) => return Err(RigError::Usage(e.to_string())),
        };
        let mut device = self.device.take().ok_or_else(|| {
            RigError::Camera("the camera was lost by an earlier recording".into())
        })?;
        let mut options = RecordOptions::new(config);
        options.colour_controls.exposure = exposure;
        options.record_length = length;
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new(Progress {
            sync: SyncState::Starting,
            frames: 0,
            dropped: 0,
            last_colour_usec: None,
            last_depth_usec: None,
        }));
        let (thread_stop, thread_progress, path) =
            (stop.clone(), progress.clone(), file.to_owned());
        let feed = self.feed.clone();
        let mut delivered = (None, None);
        let thread = std::thread::Builder::new()
            .name("k4sync-agent-recorder".into())
            .spawn(move || {
                let result = record_to_file(
                    &mut device,
                    &path,
                    &options,
                    &thread_stop,
                    &mut |s: &RecordStats| {
                        let now = (s.delivered_ts_usec.colour, s.delivered_ts_usec.depth);
                        if now != delivered {
                            feed.push(
                                now.0.filter(|_| now.0 != delivered.0),
                                now.1.filter(|_| now.1 != delivered.1),
                            );
                            delivered = now;
                        }
                        *thread_progress
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) = Progress::of(s);
                    },
                )
                .map(|summary| Progress::of(&summary.stats));
                (device, result)
            })
            .map_err(|e| RigError::Camera(format!("could not start the recorder thread: {e}")))?;
        self.recording = Some(Recording {
            take: take.to_string(),
            file: file.to_owned(),
            stop,
            progress,
            thread,
        });
        Ok(())
    }

    /// Stops the recording in progress and waits until its file is finalised.
    pub fn stop(&mut self) -> RecorderState {
        if let Some(r) = &self.recording {
            r.stop.store(true, Ordering::SeqCst);
        }
        self.finish();
        self.last.clone()
    }

    fn finish(&mut self) {
        let Some(r) = self.recording.take() else {
            return;
        };
        let file = r.file.display().to_string();
        self.last = match r.thread.join() {
            Ok((device, result)) => {
                self.device = Some(device);
                match result {
                    Ok(p) => RecorderState::Finished {
                        take: r.take,
                        file,
                        frames: p.frames,
                        dropped: p.dropped,
                    },
                    Err(e) => RecorderState::Failed {
                        take: r.take,
                        reason: e.to_string(),
                    },
                }
            }
            Err(_) => RecorderState::Failed {
                take: r.take,
                reason: "the recorder thread panicked; the camera must be reopened".into(),
            },
        };
        self.refresh_jacks();
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop();
    }
}
