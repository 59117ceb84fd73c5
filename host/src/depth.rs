//! Depth from raw: turns a recording whose depth is the `RAW_DEPTH` track (what an SBC records,
//! docs/recording.md) into a standard k4arecorder recording with DEPTH and IR tracks, using
//! Microsoft's depth engine ([`crate::depth_engine`]; docs/depth.md).
//!
//! Colour and IMU are copied unchanged (same bytes, same device timestamps); every raw frame
//! goes through the engine, and its DEPTH16/IR16 images are stamped with the engine's
//! centre-of-exposure time (90 kHz ticks → µs, device reference §3.5). The header is rebuilt
//! from the input's tags (mode, rate, sync mode, delays, firmware, serial, calibration.json)
//! so the output carries the tags k4arecorder writes; the `depth_cal.ccb` attachment is not
//! carried over (the output has no raw frames left to convert).
//!
//! The output is written to a temporary file beside it and renamed over it only when complete,
//! so an interrupted or failed conversion leaves no output file.
//!
//! Two helper threads overlap the conversion with its I/O (docs/performance.md, "Depth
//! conversion overhead"): [`read_ahead`] reads the next Clusters into a fixed number of
//! recycled buffers, and [`SyncBehind`] runs an `fdatasync` after Cluster after Cluster, so
//! the disk takes the output while it is being written and the closing `fdatasync` waits for
//! the last Clusters only.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k4sync_core::time::{ticks_to_usec, Usec};
use k4sync_core::types::{DepthMode, WiredSyncMode};

use crate::depth_engine::{self, Engine, EngineError};
use crate::mkv::write::{DepthStorage, DeviceInfo, WriterOptions};
use crate::mkv::{
    track_name, BlockSpan, Capture, Image, ImuSample, MkvError, MkvReader, MkvWriter,
    RecordingHeader, DEPTH_CALIBRATION_FILE_NAME, IMU_SAMPLE_LEN, TIMESTAMP_SCALE_NSEC,
};
use crate::sync_behind::SyncBehind;

mod read_ahead;

/// How a conversion treats a frame the engine rejects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Skip rejected frames (and count them) instead of stopping.
    pub keep_going: bool,
}

/// Where a running conversion is.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub clusters_done: usize,
    pub clusters: usize,
    /// Raw frames converted so far.
    pub frames: u64,
    pub elapsed: Duration,
}

impl Progress {
    pub fn frames_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.frames as f64 / secs
        } else {
            0.0
        }
    }
}

/// A rejected frame that `--keep-going` skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkippedFrame {
    /// 0-based index among the recording's raw frames.
    pub index: u64,
    /// The raw frame's device time, µs.
    pub device_ts_usec: u64,
    pub code: i32,
}

/// What a finished conversion did.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    pub depth_mode: DepthMode,
    /// Raw frames converted into DEPTH/IR images.
    pub frames: u64,
    pub skipped: Vec<SkippedFrame>,
    pub color_frames: u64,
    pub imu_samples: u64,
    /// Time spent inside the engine's process call.
    pub engine_time: Duration,
    pub elapsed: Duration,
    pub output_bytes: u64,
}

impl ConvertSummary {
    fn empty(depth_mode: DepthMode) -> ConvertSummary {
        ConvertSummary {
            depth_mode,
            frames: 0,
            skipped: Vec::new(),
            color_frames: 0,
            imu_samples: 0,
            engine_time: Duration::ZERO,
            elapsed: Duration::ZERO,
            output_bytes: 0,
        }
    }
}

/// Why a conversion failed; nothing was written at the output path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DepthError {
    #[error("{path}: {source}")]
    Engine { path: PathBuf, source: EngineError },
    #[error("{path}: cannot read the recording: {source}")]
    Read { path: PathBuf, source: MkvError },
    #[error(
        "{path}: no RAW_DEPTH track; only recordings of raw depth (k4sync record) need converting"
    )]
    NoRawDepth { path: PathBuf },
    #[error("{path}: no {DEPTH_CALIBRATION_FILE_NAME} attachment: the recording was made by a k4sync older than the depth conversion, which did not store the camera's depth calibration; record again with this version")]
    NoDepthCalibration { path: PathBuf },
    #[error("{path}: raw frame {index} (device time {device_ts_usec} µs) was rejected by the depth engine (code {code}: {}); pass --keep-going to skip rejected frames", depth_engine::code_name(*.code))]
    FrameRejected {
        path: PathBuf,
        index: u64,
        device_ts_usec: u64,
        code: i32,
    },
    #[error("{path}: cannot write the output: {source}")]
    Write { path: PathBuf, source: MkvError },
    #[error("{path}: the output is the input; name another file")]
    SameFile { path: PathBuf },
    #[error("{path}: interrupted; no output written")]
    Interrupted { path: PathBuf },
}

/// Converts the raw-depth recording `input` into `output` with `engine`. `stop` interrupts it
/// (checked between frames); `progress` is called after every cluster.
pub fn convert(
    engine: &Engine,
    input: &Path,
    output: &Path,
    options: ConvertOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ConvertSummary, DepthError> {
    refuse_same_file(input, output)?;
    let mut reader = MkvReader::open_path(input).map_err(|e| read_error(input, e))?;
    let plan = Plan::of(&reader, input)?;
    let mut session = engine
        .session(&plan.blob, plan.header.depth_mode)
        .map_err(|source| DepthError::Engine {
            path: input.to_owned(),
            source,
        })?;
    let temp = temp_path(output);
    let result = open_writer(&temp, &plan, output).and_then(|writer| {
        let frame = vec![0; session.output_len()];
        let run = Run {
            plan: &plan,
            input,
            output,
            options,
            session: &mut session,
            writer,
            summary: ConvertSummary::empty(plan.header.depth_mode),
            raw_index: 0,
            frame,
        };
        run.all_clusters(&mut reader, stop, progress)
    });
    match result {
        Ok(summary) => {
            std::fs::rename(&temp, output).map_err(|e| write_error(output, e.into()))?;
            sync_parent(output);
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn refuse_same_file(input: &Path, output: &Path) -> Result<(), DepthError> {
    let same = std::fs::canonicalize(input)
        .ok()
        .is_some_and(|i| std::fs::canonicalize(output).is_ok_and(|o| o == i));
    if same {
        return Err(DepthError::SameFile {
            path: output.to_owned(),
        });
    }
    Ok(())
}

/// The converted file's writer, on `temp` beside `output` (renamed over it when done). Each
/// Cluster is followed by a request for an `fdatasync`, run on a helper thread and folded while
/// one runs ([`SyncBehind`]), so the disk takes the file while the conversion runs and the last
/// `fdatasync` ([`SyncBehind::finish`]) waits only for the tail.
fn open_writer(
    temp: &Path,
    plan: &Plan,
    output: &Path,
) -> Result<MkvWriter<SyncBehind>, DepthError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .and_then(|file| SyncBehind::with_durable_every(file, Duration::ZERO))
        .map_err(|e| write_error(output, e.into()))?;
    let options = WriterOptions {
        flush_interval: Duration::ZERO,
        ..WriterOptions::default()
    };
    MkvWriter::create_with_sync(file, plan.header.clone(), options, SyncBehind::request_sync)
        .map_err(|e| write_error(output, e))
}

fn read_error(input: &Path, source: MkvError) -> DepthError {
    DepthError::Read {
        path: input.to_owned(),
        source,
    }
}

fn write_error(output: &Path, source: MkvError) -> DepthError {
    DepthError::Write {
        path: output.to_owned(),
        source,
    }
}

/// `.NAME.k4sync-depth-PID.tmp` beside `output`, so the final rename stays in one directory.
pub fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.k4sync-depth-{}.tmp", std::process::id()))
}

fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What the input holds and the header the output gets.
struct Plan {
    header: RecordingHeader,
    blob: Vec<u8>,
    color: Option<u64>,
    imu: Option<u64>,
    raw: u64,
    offset_usec: u64,
}

impl Plan {
    fn of(reader: &MkvReader<BufReader<File>>, input: &Path) -> Result<Plan, DepthError> {
        let read = |source| DepthError::Read {
            path: input.to_owned(),
            source,
        };
        let config = reader.record_config().map_err(read)?;
        let raw = reader
            .find_track(
                &format!("K4A_CUSTOM_TRACK_{}", track_name::RAW_DEPTH),
                &[track_name::RAW_DEPTH],
            )
            .map(|t| t.number)
            .filter(|_| config.depth_mode != DepthMode::Off)
            .ok_or_else(|| DepthError::NoRawDepth {
                path: input.to_owned(),
            })?;
        let blob = reader
            .attachments
            .iter()
            .find(|a| a.name == DEPTH_CALIBRATION_FILE_NAME)
            .map(|a| a.data.clone())
            .ok_or_else(|| DepthError::NoDepthCalibration {
                path: input.to_owned(),
            })?;
        if reader.timestamp_scale_nsec() != Some(TIMESTAMP_SCALE_NSEC) {
            return Err(read(MkvError::NotK4a {
                what: "TimestampScale is not 1000 ns".to_owned(),
            }));
        }
        let tag = |name: &str| reader.tag(name).map(|t| t.value.trim().to_owned());
        let device = reader.calibration().map(|json| DeviceInfo {
            serial: tag("K4A_DEVICE_SERIAL_NUMBER").unwrap_or_default(),
            color_firmware: tag("K4A_COLOR_FIRMWARE_VERSION").unwrap_or_default(),
            depth_firmware: tag("K4A_DEPTH_FIRMWARE_VERSION").unwrap_or_default(),
            calibration_json: json.to_vec(),
            depth_calibration: None,
        });
        let writing_app = RecordingHeader::k4arecorder_defaults().writing_app;
        let header = RecordingHeader {
            color_format: config
                .color_format
                .unwrap_or(RecordingHeader::k4arecorder_defaults().color_format),
            color_resolution: config.color_resolution,
            depth_mode: config.depth_mode,
            depth_storage: DepthStorage::Images,
            fps: config.camera_fps,
            imu: config.imu_track_enabled,
            wired_sync_mode: config.wired_sync_mode,
            depth_delay_off_color_nsec: reader.depth_delay_nsec().map_err(read)?,
            subordinate_delay_off_master_nsec: match config.wired_sync_mode {
                WiredSyncMode::Subordinate => reader.subordinate_delay_nsec().map_err(read)?,
                _ => 0,
            },
            device,
            writing_app,
            extra_tags: user_tags(reader),
        };
        let color = config
            .color_track_enabled
            .then(|| reader.find_track("K4A_COLOR_TRACK", &[track_name::COLOR]))
            .flatten()
            .map(|t| t.number);
        let imu = config
            .imu_track_enabled
            .then(|| reader.find_track("K4A_IMU_TRACK", &[track_name::IMU]))
            .flatten()
            .map(|t| t.number);
        let offset_usec = reader.start_offset_nsec().map_err(read)? / 1000;
        Ok(Plan {
            header,
            blob,
            color,
            imu,
            raw,
            offset_usec,
        })
    }
}

/// Global tags that are not the SDK's (`K4A_*`) — e.g. `K4SYNC_COLOR_EXPOSURE` — in file order.
fn user_tags(reader: &MkvReader<BufReader<File>>) -> Vec<(String, String)> {
    reader
        .tags
        .iter()
        .filter(|t| !t.name.starts_with("K4A_") && t.track_uid == 0 && t.attachment_uid == 0)
        .map(|t| (t.name.clone(), t.value.clone()))
        .collect()
}

/// One conversion in progress.
struct Run<'a, 's, 'e> {
    plan: &'a Plan,
    input: &'a Path,
    output: &'a Path,
    options: ConvertOptions,
    session: &'s mut depth_engine::Session<'e>,
    writer: MkvWriter<SyncBehind>,
    summary: ConvertSummary,
    raw_index: u64,
    /// The engine's output frame, reused: DEPTH16 then IR16 (IR16 alone in passive IR).
    frame: Vec<u8>,
}

impl Run<'_, '_, '_> {
    /// Converts every cluster of `reader` in order (read ahead on a second thread,
    /// [`read_ahead`]), then finalizes and syncs the output.
    fn all_clusters<R: std::io::Read + std::io::Seek + Send>(
        mut self,
        reader: &mut MkvReader<R>,
        stop: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<ConvertSummary, DepthError> {
        let started = Instant::now();
        let offsets = reader.cluster_offsets().to_vec();
        let input = self.input;
        read_ahead::for_each_cluster(
            reader,
            &offsets,
            |e| read_error(input, e),
            |i, cluster| {
                if stop.load(Ordering::Acquire) {
                    return Err(DepthError::Interrupted {
                        path: self.output.to_owned(),
                    });
                }
                for block in &cluster.blocks {
                    self.block(block, &mut cluster.data, stop)?;
                }
                progress(&Progress {
                    clusters_done: i + 1,
                    clusters: offsets.len(),
                    frames: self.summary.frames,
                    elapsed: started.elapsed(),
                });
                Ok(())
            },
        )?;
        let output = self.output;
        let mut file = self.writer.finalize().map_err(|e| write_error(output, e))?;
        file.finish().map_err(|e| write_error(output, e.into()))?;
        self.summary.output_bytes = file.seek(SeekFrom::End(0)).unwrap_or(0);
        self.summary.elapsed = started.elapsed();
        Ok(self.summary)
    }

    /// Converts or copies the frames of `block`, ranges of the Cluster's `data`.
    fn block(
        &mut self,
        block: &BlockSpan,
        data: &mut [u8],
        stop: &AtomicBool,
    ) -> Result<(), DepthError> {
        let device_usec = u64::try_from(block.time_ticks)
            .unwrap_or(0)
            .saturating_add(self.plan.offset_usec);
        let track = Some(block.track);
        if track == self.plan.imu {
            for frame in block
                .frames
                .iter()
                .map(|r| data.get(r.clone()).unwrap_or_default())
            {
                let sample = imu_sample(frame).ok_or_else(|| DepthError::Read {
                    path: self.input.to_owned(),
                    source: MkvError::ImageSize {
                        track: "IMU",
                        expected: IMU_SAMPLE_LEN,
                        got: frame.len(),
                    },
                })?;
                self.writer
                    .write_imu_sample(&sample)
                    .map_err(|e| write_error(self.output, e))?;
                self.summary.imu_samples += 1;
            }
        } else if track == self.plan.color {
            for frame in block
                .frames
                .iter()
                .map(|r| data.get(r.clone()).unwrap_or_default())
            {
                let capture = Capture {
                    color: Some(Image {
                        device_ts_usec: Usec(device_usec),
                        data: frame,
                    }),
                    ..Capture::default()
                };
                self.writer
                    .write_capture(&capture)
                    .map_err(|e| write_error(self.output, e))?;
                self.summary.color_frames += 1;
            }
        } else if block.track == self.plan.raw {
            for range in &block.frames {
                if stop.load(Ordering::Acquire) {
                    return Err(DepthError::Interrupted {
                        path: self.output.to_owned(),
                    });
                }
                let raw = data.get_mut(range.clone()).unwrap_or_default();
                self.raw_frame(raw, device_usec)?;
            }
        }
        Ok(())
    }

    fn raw_frame(&mut self, raw: &mut [u8], device_usec: u64) -> Result<(), DepthError> {
        let index = self.raw_index;
        self.raw_index += 1;
        let started = Instant::now();
        let result = self.session.process(raw, &mut self.frame);
        self.summary.engine_time += started.elapsed();
        let info = match result {
            Ok(info) => info,
            Err(EngineError::Frame { code }) => {
                let skipped = SkippedFrame {
                    index,
                    device_ts_usec: device_usec,
                    code,
                };
                if !self.options.keep_going {
                    return Err(DepthError::FrameRejected {
                        path: self.input.to_owned(),
                        index,
                        device_ts_usec: device_usec,
                        code,
                    });
                }
                log::warn!("raw frame {index} skipped: engine code {code}");
                self.summary.skipped.push(skipped);
                return Ok(());
            }
            Err(source) => {
                return Err(DepthError::Engine {
                    path: self.input.to_owned(),
                    source,
                })
            }
        };
        let ts = Usec(ticks_to_usec(info.center_of_exposure_in_ticks));
        let image = |data| {
            Some(Image {
                device_ts_usec: ts,
                data,
            })
        };
        let capture = if self.plan.header.depth_mode == DepthMode::PassiveIr {
            Capture {
                ir: image(&self.frame),
                ..Capture::default()
            }
        } else {
            let (depth, ir) = self.frame.split_at(self.frame.len() / 2);
            Capture {
                depth: image(depth),
                ir: image(ir),
                ..Capture::default()
            }
        };
        self.writer
            .write_capture(&capture)
            .map_err(|e| write_error(self.output, e))?;
        self.summary.frames += 1;
        Ok(())
    }
}

/// A 40-byte IMU frame (reference §9) as the writer's sample; timestamps ns → µs.
fn imu_sample(frame: &[u8]) -> Option<ImuSample> {
    let bytes: &[u8; IMU_SAMPLE_LEN] = frame.try_into().ok()?;
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    let f32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(f32::from_le_bytes)
    };
    Some(ImuSample {
        acc_ts_usec: Usec(u64_at(0)? / 1000),
        acc_mps2: [f32_at(8)?, f32_at(12)?, f32_at(16)?],
        gyro_ts_usec: Usec(u64_at(20)? / 1000),
        gyro_radps: [f32_at(28)?, f32_at(32)?, f32_at(36)?],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imu_frames_round_trip_through_the_writer_sample() {
        let sample = ImuSample {
            acc_ts_usec: Usec(1_000_250),
            acc_mps2: [0.5, -9.8, 1.25],
            gyro_ts_usec: Usec(1_000_125),
            gyro_radps: [0.01, 0.02, -0.03],
        };
        assert_eq!(imu_sample(&sample.to_bytes()), Some(sample));
        assert_eq!(imu_sample(&sample.to_bytes()[..39]), None);
    }

    #[test]
    fn the_temporary_output_sits_beside_the_output() {
        let t = temp_path(Path::new("/a/b/out.mkv"));
        assert_eq!(t.parent(), Some(Path::new("/a/b")));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".out.mkv.k4sync-depth-"), "{name}");
    }
}
