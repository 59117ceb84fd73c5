//! `k4sync export FILE DIR [--json]`: a recording's contents as plain files (docs/recording.md,
//! "Command line").
//!
//! * colour frames: `color_NNNNNN.jpg` (MJPG) or raw `.nv12` / `.yuy2` / `.bgra`;
//! * depth and IR frames: `depth_NNNNNN.u16`, `ir_NNNNNN.u16`, 16-bit little-endian samples;
//! * raw-depth frames (custom track): `raw_depth_NNNNNN.bin`, as received from the sensor;
//! * `frames.csv`: `stream,index,device_ts_usec,file,format,width,height`, one row per frame;
//! * `imu.csv`: accelerometer and gyroscope timestamps (µs) and axes; temperature is empty, the
//!   file format does not store it (reference §9).
//!
//! Device timestamps are file time + `K4A_START_OFFSET_NS` / 1000, the full 64-bit value (the
//! SDK truncates the offset to 32 bits of µs, reference §8); a file without Info (a killed
//! k4arecorder) is taken to have the k4a TimestampScale of 1000 ns. Progress goes to stderr every
//! [`PROGRESS_EVERY_FRAMES`] frames; with `--json` it is a `{"progress": …}` line on stdout and
//! the run ends with one summary object.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use k4sync_core::types::ColorFormat;

use crate::info::{open_recording, Opened};
use crate::output::json_str;
use k4sync_host::mkv::{fourcc, track_name, MkvReader, IMU_SAMPLE_LEN, TIMESTAMP_SCALE_NSEC};

/// Frames between two progress reports.
pub const PROGRESS_EVERY_FRAMES: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Color,
    Depth,
    Ir,
    RawDepth,
}

impl Stream {
    const ALL: [Stream; 4] = [Stream::Color, Stream::Depth, Stream::Ir, Stream::RawDepth];

    fn name(self) -> &'static str {
        match self {
            Stream::Color => "color",
            Stream::Depth => "depth",
            Stream::Ir => "ir",
            Stream::RawDepth => "raw_depth",
        }
    }
}

/// How one video track's frames become files.
struct Output {
    stream: Stream,
    track: u64,
    extension: &'static str,
    format: &'static str,
    swap_bytes: bool,
    width: u32,
    height: u32,
    count: u64,
}

/// Counts of what an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames per stream: colour, depth, IR, raw depth.
    pub frames: [u64; 4],
    pub imu_samples: u64,
}

impl Summary {
    fn total_frames(&self) -> u64 {
        self.frames.iter().sum()
    }
}

pub fn run(path: &Path, dir: &Path, json: bool) -> ExitCode {
    let result = open_recording(path).and_then(|mut opened| {
        if let Some(s) = &opened.salvage {
            eprintln!("k4sync export: {}", s.warning(path));
        }
        export(&mut opened, path, dir, json).map(|summary| (opened, summary))
    });
    match result {
        Ok((opened, summary)) => {
            let s = &summary;
            if json {
                println!(
                    concat!(
                        r#"{{"ok": true, "dir": {}, "frames": {{"color": {}, "depth": {}, "#,
                        r#""ir": {}, "raw_depth": {}}}, "imu_samples": {}, "salvaged": {}}}"#
                    ),
                    json_str(&dir.display().to_string()),
                    s.frames[0],
                    s.frames[1],
                    s.frames[2],
                    s.frames[3],
                    s.imu_samples,
                    opened.salvage.is_some()
                );
            } else {
                println!(
                    "exported {} colour, {} depth, {} IR, {} raw-depth frames and {} IMU samples to {}",
                    s.frames[0],
                    s.frames[1],
                    s.frames[2],
                    s.frames[3],
                    s.imu_samples,
                    dir.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!(r#"{{"ok": false, "error": {}}}"#, json_str(&e));
            } else {
                eprintln!("k4sync export: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Writes every frame and IMU sample of `opened` into `dir`.
fn export(opened: &mut Opened, path: &Path, dir: &Path, json: bool) -> Result<Summary, String> {
    let reader = &mut opened.reader;
    let config = reader.record_config().map_err(|e| io_error(path, e))?;
    let mut outputs = outputs(reader, config.color_format);
    let imu_track = reader
        .find_track("K4A_IMU_TRACK", &[track_name::IMU])
        .map(|t| t.number);
    let scale = reader
        .timestamp_scale_nsec()
        .unwrap_or(TIMESTAMP_SCALE_NSEC);
    let offset_usec = reader.start_offset_nsec().map_err(|e| io_error(path, e))? / 1000;

    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let mut frames_csv = Csv::create(
        dir,
        "frames.csv",
        "stream,index,device_ts_usec,file,format,width,height",
    )?;
    let mut imu_csv = Csv::create(
        dir,
        "imu.csv",
        "acc_ts_usec,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyro_ts_usec,gyro_x_radps,gyro_y_radps,gyro_z_radps,temperature_c",
    )?;
    let mut summary = Summary::default();
    let offsets = reader.cluster_offsets().to_vec();
    let clusters = offsets.len();
    let mut reported = 0;
    for (i, at) in offsets.into_iter().enumerate() {
        let cluster = reader.read_cluster_at(at).map_err(|e| io_error(path, e))?;
        for block in &cluster.blocks {
            if Some(block.track) == imu_track {
                for frame in &block.frames {
                    let row = imu_row(frame).ok_or_else(|| {
                        io_error(
                            path,
                            format!(
                                "IMU frame in the Cluster at byte {at} is {} bytes, not {IMU_SAMPLE_LEN}",
                                frame.len()
                            ),
                        )
                    })?;
                    imu_csv.line(row)?;
                    summary.imu_samples += 1;
                }
                continue;
            }
            let Some(out) = outputs.iter_mut().find(|o| o.track == block.track) else {
                continue;
            };
            let [frame] = block.frames.as_slice() else {
                return Err(io_error(
                    path,
                    format!("video block in the Cluster at byte {at} holds several frames"),
                ));
            };
            let file_ns = i128::from(block.time_ticks) * i128::from(scale);
            let device_usec = file_ns / 1000 + i128::from(offset_usec);
            out.write(dir, frame, device_usec, &mut frames_csv)?;
            if let Some(slot) = Stream::ALL
                .iter()
                .position(|s| *s == out.stream)
                .and_then(|p| summary.frames.get_mut(p))
            {
                *slot += 1;
            }
        }
        let total = summary.total_frames();
        if total >= reported + PROGRESS_EVERY_FRAMES {
            reported = total;
            progress(json, i + 1, clusters, &summary);
        }
    }
    frames_csv.finish()?;
    imu_csv.finish()?;
    Ok(summary)
}

/// One output per stream the recording has, in [`Stream::ALL`] order.
fn outputs(reader: &MkvReader<BufReader<File>>, colour: Option<ColorFormat>) -> Vec<Output> {
    let mut outputs = Vec::new();
    for stream in Stream::ALL {
        let track = match stream {
            Stream::Color => reader.find_track("K4A_COLOR_TRACK", &[track_name::COLOR]),
            Stream::Depth => reader.find_track("K4A_DEPTH_TRACK", &[track_name::DEPTH]),
            Stream::Ir => {
                reader.find_track("K4A_IR_TRACK", &[track_name::IR, track_name::DEPTH_IR])
            }
            Stream::RawDepth => reader.find_track(
                &format!("K4A_CUSTOM_TRACK_{}", track_name::RAW_DEPTH),
                &[track_name::RAW_DEPTH],
            ),
        };
        let Some(t) = track else { continue };
        let track_fourcc = t
            .codec_private
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        let (extension, format, swap_bytes) = match stream {
            Stream::Color => match colour {
                Some(ColorFormat::Mjpg) => ("jpg", "MJPG", false),
                Some(ColorFormat::Nv12) => ("nv12", "NV12", false),
                Some(ColorFormat::Yuy2) => ("yuy2", "YUY2", false),
                Some(ColorFormat::Bgra32) => ("bgra", "BGRA", false),
                None => ("bin", "CUSTOM", false),
            },
            Stream::Depth | Stream::Ir => ("u16", "U16LE", track_fourcc == Some(fourcc::B16G)),
            Stream::RawDepth => ("bin", "RAW_DEPTH", false),
        };
        outputs.push(Output {
            stream,
            track: t.number,
            extension,
            format,
            swap_bytes,
            width: t.width.unwrap_or(0),
            height: t.height.unwrap_or(0),
            count: 0,
        });
    }
    outputs
}

impl Output {
    /// Writes `frame` as this stream's next file in `dir` and its row in `csv`.
    fn write(
        &mut self,
        dir: &Path,
        frame: &[u8],
        device_usec: i128,
        csv: &mut Csv,
    ) -> Result<(), String> {
        let name = format!(
            "{}_{:06}.{}",
            self.stream.name(),
            self.count,
            self.extension
        );
        let file = dir.join(&name);
        let written = if self.swap_bytes {
            let swapped: Vec<u8> = frame
                .chunks(2)
                .flat_map(|s| s.iter().rev().copied())
                .collect();
            std::fs::write(&file, swapped)
        } else {
            std::fs::write(&file, frame)
        };
        written.map_err(|e| io_error(&file, e))?;
        csv.line(format_args!(
            "{},{},{device_usec},{name},{},{},{}",
            self.stream.name(),
            self.count,
            self.format,
            self.width,
            self.height
        ))?;
        self.count += 1;
        Ok(())
    }
}

/// A CSV file being written, named in its errors.
struct Csv {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Csv {
    fn create(dir: &Path, name: &str, header: &str) -> Result<Csv, String> {
        let path = dir.join(name);
        let f = File::create(&path).map_err(|e| io_error(&path, e))?;
        let mut csv = Csv {
            path,
            w: BufWriter::new(f),
        };
        csv.line(header)?;
        Ok(csv)
    }

    fn line(&mut self, line: impl std::fmt::Display) -> Result<(), String> {
        writeln!(self.w, "{line}").map_err(|e| io_error(&self.path, e))
    }

    fn finish(mut self) -> Result<(), String> {
        self.w.flush().map_err(|e| io_error(&self.path, e))
    }
}

fn progress(json: bool, cluster: usize, clusters: usize, s: &Summary) {
    if json {
        println!(
            r#"{{"progress": {{"cluster": {cluster}, "clusters": {clusters}, "frames": {}, "imu_samples": {}}}}}"#,
            s.total_frames(),
            s.imu_samples
        );
    } else {
        eprintln!(
            "k4sync export: cluster {cluster}/{clusters} ({}%), {} frames, {} IMU samples",
            cluster * 100 / clusters.max(1),
            s.total_frames(),
            s.imu_samples
        );
    }
}

/// One `imu.csv` row from a 40-byte sample (reference §9), `None` for another length.
fn imu_row(frame: &[u8]) -> Option<String> {
    if frame.len() != IMU_SAMPLE_LEN {
        return None;
    }
    let u64_at = |at: usize| {
        frame
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    let f32_at = |at: usize| {
        frame
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(f32::from_le_bytes)
    };
    Some(format!(
        "{},{},{},{},{},{},{},{},",
        u64_at(0)? / 1000,
        f32_at(8)?,
        f32_at(12)?,
        f32_at(16)?,
        u64_at(20)? / 1000,
        f32_at(28)?,
        f32_at(32)?,
        f32_at(36)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imu_rows_carry_microseconds_and_all_six_axes() {
        let mut frame = Vec::new();
        frame.extend_from_slice(&1_500_000u64.to_le_bytes());
        for v in [1.0f32, -2.5, 9.75] {
            frame.extend_from_slice(&v.to_le_bytes());
        }
        frame.extend_from_slice(&1_501_000u64.to_le_bytes());
        for v in [0.25f32, 0.5, -1.0] {
            frame.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(
            imu_row(&frame).as_deref(),
            Some("1500,1,-2.5,9.75,1501,0.25,0.5,-1,")
        );
        assert_eq!(imu_row(&frame[..39]), None);
    }
}
