//! The hidden `k4sync record --emulate --emulate-fault-control <PATH|->` channel: fault
//! commands, one a line, injected into the running emulated camera while it records, so a
//! driver outside the process (the soak test, docs/testing.md "Soak") can break a recording
//! the way real hardware and disks break and check what the recorder made of it.
//!
//! Commands (streams: `depth`, `colour` or `color`, `imu`; blank lines and `#` comments are
//! skipped):
//!
//! * `unplug` — the camera leaves the bus for good ([`Fault::Unplug`]);
//! * `stall <stream>` — the stream's next transfer is answered with a STALL;
//! * `short <stream>` — the stream's next frame or packet is cut short;
//! * `starve <stream> <n>` — the stream's next `n` frames or packets never arrive
//!   ([`Fault::DropFrames`]);
//! * `disk-full` — every write to the recording fails with ENOSPC from now on.
//!
//! Every command is answered on stdout (with `--json`; on stderr as text otherwise) before it
//! takes effect, with the recorder's progress at that moment: `{"event":"fault","seq":N,
//! "fault":"<command>","progress":<status object>}`. A line that is not a command gets
//! `{"event":"fault_rejected","seq":N,"line":...,"error":...}`.

use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use k4sync_core::emu::{Fault, Stream};

use k4sync_host::transport::emulated::EmulatedCamera;
use k4sync_host::{Durable, RecordStats};

use crate::output::json_str;

/// One fault command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCommand {
    /// A fault for the emulated camera.
    Device(Fault),
    /// The recording's disk is full from now on.
    DiskFull,
}

fn stream(word: Option<&str>) -> Result<Stream, String> {
    match word.map(str::to_ascii_lowercase).as_deref() {
        Some("depth") => Ok(Stream::Depth),
        Some("colour" | "color") => Ok(Stream::Colour),
        Some("imu") => Ok(Stream::Imu),
        Some(other) => Err(format!("{other:?} is not a stream (depth, colour, imu)")),
        None => Err("the stream is missing (depth, colour, imu)".to_owned()),
    }
}

/// Parses one line; `Ok(None)` for a blank line or a `#` comment.
pub fn parse_line(line: &str) -> Result<Option<FaultCommand>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let command = match verb.to_ascii_lowercase().as_str() {
        "unplug" => FaultCommand::Device(Fault::Unplug),
        "stall" => FaultCommand::Device(Fault::Stall(stream(words.next())?.endpoint())),
        "short" => FaultCommand::Device(Fault::ShortFrame(stream(words.next())?)),
        "starve" => {
            let stream = stream(words.next())?;
            let count = words
                .next()
                .ok_or("starve needs a frame count: starve <stream> <n>")?
                .parse::<u32>()
                .map_err(|e| format!("starve: the frame count: {e}"))?;
            FaultCommand::Device(Fault::DropFrames { stream, count })
        }
        "disk-full" => FaultCommand::DiskFull,
        other => {
            return Err(format!(
                "unknown fault {other:?} (unplug, stall, short, starve, disk-full)"
            ))
        }
    };
    match words.next() {
        Some(extra) => Err(format!("{verb}: unexpected {extra:?}")),
        None => Ok(Some(command)),
    }
}

/// The JSON line announcing fault number `seq` (`line` as received), with the progress the
/// recorder had reported when it arrived.
pub fn fault_event_json(seq: u64, line: &str, progress: Option<&RecordStats>) -> String {
    format!(
        "{{\"event\":\"fault\",\"seq\":{seq},\"fault\":{},\"progress\":{}}}",
        json_str(line.trim()),
        progress.map_or_else(|| "null".to_owned(), RecordStats::to_json)
    )
}

/// What the control thread acts on.
pub struct Targets {
    pub camera: EmulatedCamera,
    /// The switch of the recording's [`SwitchableFullSink`].
    pub disk_full: Arc<AtomicBool>,
    /// The newest status the recorder reported.
    pub progress: Arc<Mutex<Option<RecordStats>>>,
    pub json: bool,
}

/// Opens `source` (`-` is stdin) now, so a missing file is an error before recording starts.
pub fn open(source: &Path) -> Result<Box<dyn BufRead + Send>, String> {
    if source == Path::new("-") {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    std::fs::File::open(source)
        .map(|f| Box::new(BufReader::new(f)) as Box<dyn BufRead + Send>)
        .map_err(|e| format!("{}: cannot open the fault control: {e}", source.display()))
}

/// Reads commands from `input` on a thread of its own until it ends, and applies each one.
pub fn spawn(input: Box<dyn BufRead + Send>, targets: Targets, source: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("k4sync fault control".into())
        .spawn(move || run(input, &targets));
    if let Err(e) = spawned {
        eprintln!(
            "k4sync record: {}: fault control not started: {e}",
            source.display()
        );
    }
}

fn run(input: Box<dyn BufRead + Send>, targets: &Targets) {
    let mut seq = 0u64;
    for line in input.lines() {
        let Ok(line) = line else { return };
        let command = match parse_line(&line) {
            Ok(None) => continue,
            Ok(Some(c)) => c,
            Err(error) => {
                seq += 1;
                if targets.json {
                    println!(
                        "{{\"event\":\"fault_rejected\",\"seq\":{seq},\"line\":{},\"error\":{}}}",
                        json_str(&line),
                        json_str(&error)
                    );
                } else {
                    eprintln!("fault {seq} rejected: {line:?}: {error}");
                }
                continue;
            }
        };
        seq += 1;
        let progress = targets.progress.lock().ok().and_then(|p| *p);
        if targets.json {
            println!("{}", fault_event_json(seq, &line, progress.as_ref()));
        } else {
            eprintln!("fault {seq}: {}", line.trim());
        }
        match command {
            FaultCommand::Device(fault) => targets.camera.inject(fault),
            FaultCommand::DiskFull => targets.disk_full.store(true, Ordering::Release),
        }
    }
}

/// A sink that fails every write with `StorageFull` (ENOSPC) once its switch is on, as a disk
/// that fills up at a moment the caller picks (the emulator's fault control, the soak test).
pub struct SwitchableFullSink<W> {
    inner: W,
    full: Arc<AtomicBool>,
}

impl<W> SwitchableFullSink<W> {
    /// `full` is the switch; storing true makes the disk full from the next write on.
    pub fn new(inner: W, full: Arc<AtomicBool>) -> Self {
        SwitchableFullSink { inner, full }
    }
}

impl<W: Write> Write for SwitchableFullSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full.load(Ordering::Acquire) && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (os error 28, injected)",
            ));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for SwitchableFullSink<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<W: Durable> Durable for SwitchableFullSink<W> {
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k4sync_core::emu::Endpoint;

    #[test]
    fn every_command_parses_to_its_fault() {
        let cases = [
            ("unplug", FaultCommand::Device(Fault::Unplug)),
            (
                "stall depth",
                FaultCommand::Device(Fault::Stall(Endpoint::DepthStreamIn)),
            ),
            (
                "  STALL color ",
                FaultCommand::Device(Fault::Stall(Endpoint::ColourVideo)),
            ),
            (
                "short imu # one packet",
                FaultCommand::Device(Fault::ShortFrame(Stream::Imu)),
            ),
            (
                "starve colour 12",
                FaultCommand::Device(Fault::DropFrames {
                    stream: Stream::Colour,
                    count: 12,
                }),
            ),
            ("disk-full", FaultCommand::DiskFull),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), Ok(Some(want)), "{line:?}");
        }
        assert_eq!(parse_line("   # nothing"), Ok(None));
        assert_eq!(parse_line(""), Ok(None));
    }

    #[test]
    fn malformed_commands_say_what_is_wrong() {
        for (line, says) in [
            ("explode", "unknown fault"),
            ("stall", "stream is missing"),
            ("short lidar", "\"lidar\" is not a stream"),
            ("starve depth", "frame count"),
            ("starve depth many", "frame count"),
            ("unplug now", "unexpected \"now\""),
        ] {
            let error = parse_line(line).expect_err(line);
            assert!(error.contains(says), "{line:?}: {error}");
        }
    }
}
