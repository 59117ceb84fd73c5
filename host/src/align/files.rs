//! Recordings → the aligner's input: each file's frame index (block headers only,
//! [`read_frame_index`]), the rig checks that need file names (one master, one frame rate, one
//! colour and one depth mode), and the optional rig manifest.

use std::path::{Path, PathBuf};

use k4sync_core::sync::align::FrameKind;
use k4sync_core::types::{DepthMode, Fps, WiredSyncMode};

use super::{align, Alignment, DeviceFrames, RigError, Role};
use crate::mkv::index::{read_frame_index, FrameIndex, FramePos, TrackFrames};
use crate::mkv::MkvError;

/// One recording, indexed.
#[derive(Debug, Clone)]
pub struct Recording {
    pub path: PathBuf,
    pub index: FrameIndex,
}

impl Recording {
    /// The file's name as the user gave it.
    pub fn label(&self) -> String {
        self.path.display().to_string()
    }

    pub fn role(&self) -> Option<Role> {
        match self.index.wired_sync_mode {
            WiredSyncMode::Master => Some(Role::Master),
            WiredSyncMode::Subordinate => Some(Role::Subordinate),
            WiredSyncMode::Standalone => None,
        }
    }

    /// The frames of `stream` (colour, depth) as the file holds them.
    pub fn track(&self, stream: FrameKind) -> Option<&TrackFrames> {
        match stream {
            FrameKind::Colour => self.index.colour.as_ref(),
            FrameKind::Depth => self.index.depth.as_ref(),
        }
    }

    /// Where frame `i` of `stream` sits in the file.
    pub fn position(&self, stream: FrameKind, i: usize) -> Option<FramePos> {
        self.track(stream)?.pos.get(i).copied()
    }

    /// The IR frame with the depth frame `i`'s timestamp (k4arecorder files carry both).
    pub fn ir_position(&self, depth_index: usize) -> Option<FramePos> {
        let ts = *self.track(FrameKind::Depth)?.ts_usec.get(depth_index)?;
        let ir = self.index.ir.as_ref()?;
        let i = ir.ts_usec.binary_search(&ts).ok()?;
        ir.pos.get(i).copied()
    }

    /// The effective subordinate delay in ns (of the ticks the device applied); 0 for the master.
    pub fn effective_subordinate_delay_nsec(&self) -> i64 {
        DeviceFrames {
            role: self.role().unwrap_or(Role::Subordinate),
            subordinate_delay_nsec: self.index.subordinate_delay_nsec,
            depth_delay_nsec: self.index.depth_delay_nsec,
            colour: None,
            depth: None,
        }
        .effective_subordinate_delay_nsec()
    }

    fn frames(&self, role: Role) -> DeviceFrames {
        let ts = |t: &Option<TrackFrames>| t.as_ref().map(|t| t.ts_usec.clone());
        DeviceFrames {
            role,
            subordinate_delay_nsec: self.index.subordinate_delay_nsec,
            depth_delay_nsec: self.index.depth_delay_nsec,
            colour: ts(&self.index.colour),
            depth: ts(&self.index.depth),
        }
    }
}

/// Why a set of recordings cannot be aligned. Every variant names the files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    #[error("{file}: {source}")]
    Unreadable { file: String, source: MkvError },
    #[error(
        "{file} is a STANDALONE recording: align takes one rig's MASTER and SUBORDINATE recordings"
    )]
    Standalone { file: String },
    #[error("exactly one MASTER recording is required, found {}: {}", masters.len(), list(masters))]
    Masters { masters: Vec<String> },
    #[error(
        "the recordings mix frame rates ({}): a rig runs one rate",
        list(detail)
    )]
    MixedFps { detail: Vec<String> },
    #[error(
        "the recordings mix {what} modes ({}): a rig runs one mode",
        list(detail)
    )]
    MixedModes {
        what: &'static str,
        detail: Vec<String>,
    },
    #[error("{0}")]
    Rig(#[from] RigError),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Reads every file's frame index; `progress(file, done_bytes, file_len)` as it goes.
pub fn read_recordings(
    paths: &[PathBuf],
    progress: &mut dyn FnMut(&Path, u64, u64),
) -> Result<Vec<Recording>, FilesError> {
    paths
        .iter()
        .map(|path| {
            let index = read_frame_index(path, &mut |done, total| progress(path, done, total))
                .map_err(|source| FilesError::Unreadable {
                    file: path.display().to_string(),
                    source,
                })?;
            Ok(Recording {
                path: path.clone(),
                index,
            })
        })
        .collect()
}

/// Checks the rig rules that need file names and aligns.
pub fn align_recordings(recordings: &[Recording]) -> Result<Alignment, FilesError> {
    let fps = check_rig(recordings)?;
    Ok(align(fps, &device_frames(recordings))?)
}

/// The device frames of `recordings` (after [`check_rig`]).
pub fn device_frames(recordings: &[Recording]) -> Vec<DeviceFrames> {
    recordings
        .iter()
        .map(|r| r.frames(r.role().unwrap_or(Role::Subordinate)))
        .collect()
}

/// One master, no standalone, one frame rate, one colour mode and one depth mode (devices with a
/// camera off are exempt); returns the rig's rate.
pub fn check_rig(recordings: &[Recording]) -> Result<Fps, FilesError> {
    if let Some(r) = recordings.iter().find(|r| r.role().is_none()) {
        return Err(FilesError::Standalone { file: r.label() });
    }
    let masters: Vec<String> = recordings
        .iter()
        .filter(|r| r.role() == Some(Role::Master))
        .map(Recording::label)
        .collect();
    if masters.len() != 1 {
        return Err(FilesError::Masters { masters });
    }
    let describe = |f: &dyn Fn(&Recording) -> String| -> Vec<String> {
        recordings
            .iter()
            .map(|r| format!("{} {}", r.label(), f(r)))
            .collect()
    };
    let fps = recordings.first().map_or(Fps::Fps30, |r| r.index.fps);
    if recordings.iter().any(|r| r.index.fps != fps) {
        return Err(FilesError::MixedFps {
            detail: describe(&|r| format!("{} fps", r.index.fps.hz())),
        });
    }
    let colour: Vec<&String> = recordings
        .iter()
        .filter_map(|r| r.index.color_mode.as_ref())
        .collect();
    if colour.windows(2).any(|w| w.first() != w.last()) {
        return Err(FilesError::MixedModes {
            what: "colour",
            detail: describe(&|r| r.index.color_mode.clone().unwrap_or_else(|| "OFF".into())),
        });
    }
    let depth: Vec<DepthMode> = recordings
        .iter()
        .map(|r| r.index.depth_mode)
        .filter(|&m| m != DepthMode::Off)
        .collect();
    if depth.windows(2).any(|w| w.first() != w.last()) {
        return Err(FilesError::MixedModes {
            what: "depth",
            detail: describe(&|r| r.index.depth_mode.sdk_name().to_owned()),
        });
    }
    Ok(fps)
}

/// What a rig manifest adds per device, matched by serial.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ManifestDevice {
    pub serial: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub segment: Option<String>,
}

/// A rig manifest (`--manifest rig.json`): `{"devices": [{"serial", "host", "segment"}, …]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Manifest {
    pub devices: Vec<ManifestDevice>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the manifest: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a rig manifest: {e}", path.display()))
    }

    pub fn device(&self, serial: Option<&str>) -> Option<&ManifestDevice> {
        let serial = serial?;
        self.devices.iter().find(|d| d.serial == serial)
    }
}
