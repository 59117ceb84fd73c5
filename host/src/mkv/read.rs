//! [`MkvReader`]: opens k4arecorder files and ours, walks their clusters and derives the readout
//! Microsoft's playback library reports for them (reference §13–§14).
//!
//! The top-level walk visits every child of the Segment in file order up to the end of the file
//! (the SDK, too, walks clusters without regard to the Segment size), parses SeekHead, Info,
//! Tracks, Attachments, Tags and Cues on the way and records the offset of every Cluster.
//! Clusters are read one at a time, whole, when iterated.
//!
//! Strict mode ([`MkvReader::open`]) turns any damage into an error that carries its byte
//! offset. Salvage mode ([`MkvReader::open_salvage`]) stops at the first damaged or incomplete
//! top-level element, keeps every complete Cluster before it and records where the damage was —
//! what a file cut by a crash needs (reference §1.1).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use k4sync_core::types::{ColorFormat, ColorResolution, DepthMode, Fps, WiredSyncMode};

use super::ebml::{self, id, Child, Children, ElementHeader};
use super::{
    depth_mode_from_tag, fourcc, track_name, MkvError, Result, CALIBRATION_FILE_NAME,
    IMU_SAMPLE_LEN, TRACK_TYPE_SUBTITLE, TRACK_TYPE_VIDEO,
};

/// One TrackEntry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackInfo {
    pub number: u64,
    pub uid: u64,
    pub track_type: u64,
    pub codec_id: String,
    pub name: String,
    pub codec_private: Vec<u8>,
    pub default_duration_nsec: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// One Tag with its single SimpleTag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagEntry {
    pub target_type: String,
    pub track_uid: u64,
    pub attachment_uid: u64,
    pub name: String,
    pub value: String,
}

/// One AttachedFile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub mime_type: String,
    pub data: Vec<u8>,
    pub uid: u64,
}

/// A SimpleBlock or a BlockGroup's Block, delaced; its frames are owned bytes, or in a
/// [`BlockSpan`] ranges of the Cluster's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block<F = Vec<u8>> {
    pub track: u64,
    /// Cluster Timestamp + relative timecode, in file ticks (µs in k4a files).
    pub time_ticks: i64,
    /// BlockDuration in file ticks (BlockGroups only).
    pub duration_ticks: Option<u64>,
    pub simple: bool,
    pub frames: Vec<F>,
}

/// A block of a Cluster read with [`MkvReader::read_cluster_into`]: its frames are ranges of
/// the Cluster's data in the caller's buffer.
pub type BlockSpan = Block<Range<usize>>;

/// One Cluster, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// File offset of the Cluster's ID.
    pub offset: u64,
    pub timestamp_ticks: u64,
    pub blocks: Vec<Block>,
}

/// Where salvage mode stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the first element that was not complete and well-formed.
    pub offset: u64,
    /// The error that stopped the walk.
    pub what: String,
}

/// `k4a_record_configuration_t` as the SDK fills it (reference §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// `None` is the SDK's `K4A_IMAGE_FORMAT_CUSTOM` (no colour track).
    pub color_format: Option<ColorFormat>,
    pub color_resolution: ColorResolution,
    pub depth_mode: DepthMode,
    pub camera_fps: Fps,
    pub color_track_enabled: bool,
    pub depth_track_enabled: bool,
    pub ir_track_enabled: bool,
    pub imu_track_enabled: bool,
    pub depth_delay_off_color_usec: i32,
    pub wired_sync_mode: WiredSyncMode,
    pub subordinate_delay_off_master_usec: u32,
    pub start_timestamp_offset_usec: u32,
}

/// Frame count, geometry and device-time span of one video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackStats {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub first_ts_usec: Option<u64>,
    pub last_ts_usec: Option<u64>,
}

/// Sample count and accelerometer-time span of the IMU track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImuStats {
    pub samples: u64,
    pub first_acc_ts_usec: Option<u64>,
    pub last_acc_ts_usec: Option<u64>,
}

/// What Microsoft's playback library reports for a file (reference §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readout {
    pub config: RecordConfig,
    /// First value of every tag name (`k4a_playback_get_tag`).
    pub tags: BTreeMap<String, String>,
    /// The calibration attachment as stored (the SDK hands it out with a NUL appended).
    pub calibration: Option<Vec<u8>>,
    /// `k4a_playback_get_recording_length_usec`.
    pub length_usec: u64,
    pub color: Option<TrackStats>,
    pub depth: Option<TrackStats>,
    pub ir: Option<TrackStats>,
    pub imu: Option<ImuStats>,
    /// Captures `k4a_playback_get_next_capture` returns before EOF.
    pub captures: u64,
    /// Every other track (custom tracks such as `RAW_DEPTH`), in track order: frames and the
    /// device-time span the SDK gives their data blocks (block time + the start offset). Not
    /// part of [`Readout::to_official_json`].
    pub custom: Vec<CustomTrackStats>,
}

/// A track that is neither colour, depth, IR nor IMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomTrackStats {
    pub name: String,
    pub codec_id: String,
    pub stats: TrackStats,
}

impl Readout {
    /// Size `k4a_playback_get_raw_calibration` reports: stored bytes plus a NUL if missing.
    pub fn sdk_calibration_len(&self) -> Option<usize> {
        self.calibration
            .as_ref()
            .map(|c| c.len() + usize::from(c.last() != Some(&0)))
    }

    /// The readout as one JSON object in the shape of the interop harness
    /// (`tests/interop/official_readout.py`, `shared/samples/*.official.json`): same keys, same
    /// order, SDK enum names (`CUSTOM` for no colour format), `null` for a disabled stream or a
    /// missing calibration, every tag of [`Readout::tags`].
    pub fn to_official_json(&self) -> String {
        let c = &self.config;
        let stream = |s: &Option<TrackStats>| match s {
            None => "null".to_owned(),
            Some(t) => format!(
                r#"{{"frames": {}, "width": {}, "height": {}, "first_ts_usec": {}, "last_ts_usec": {}}}"#,
                t.frames,
                t.width,
                t.height,
                json_opt(t.first_ts_usec),
                json_opt(t.last_ts_usec)
            ),
        };
        let imu = match &self.imu {
            None => "null".to_owned(),
            Some(i) => format!(
                r#"{{"samples": {}, "first_acc_ts_usec": {}, "last_acc_ts_usec": {}}}"#,
                i.samples,
                json_opt(i.first_acc_ts_usec),
                json_opt(i.last_acc_ts_usec)
            ),
        };
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            concat!(
                r#"{{"ok": true, "length_usec": {}, "start_offset_usec": {}, "config": {{"#,
                r#""color_format": "{}", "color_resolution": "{}", "depth_mode": "{}", "#,
                r#""camera_fps": "{}", "color_track_enabled": {}, "depth_track_enabled": {}, "#,
                r#""ir_track_enabled": {}, "imu_track_enabled": {}, "#,
                r#""depth_delay_off_color_usec": {}, "wired_sync_mode": "{}", "#,
                r#""subordinate_delay_off_master_usec": {}}}, "tags": {{{}}}, "#,
                r#""calibration_bytes": {}, "color": {}, "depth": {}, "ir": {}, "imu": {}, "#,
                r#""captures": {}}}"#
            ),
            self.length_usec,
            c.start_timestamp_offset_usec,
            c.color_format.map_or("CUSTOM", ColorFormat::sdk_name),
            c.color_resolution.sdk_name(),
            c.depth_mode.sdk_name(),
            c.camera_fps.sdk_name(),
            c.color_track_enabled,
            c.depth_track_enabled,
            c.ir_track_enabled,
            c.imu_track_enabled,
            c.depth_delay_off_color_usec,
            c.wired_sync_mode.sdk_name(),
            c.subordinate_delay_off_master_usec,
            tags,
            json_opt(self.sdk_calibration_len()),
            stream(&self.color),
            stream(&self.depth),
            stream(&self.ir),
            imu,
            self.captures,
        )
    }
}

/// What [`MkvReader::readout`] counts block by block: per track its frames and device-time
/// span, and the sync times the SDK's capture assembly uses.
struct Tally {
    /// TimestampScale, ns per tick.
    scale: i64,
    /// The SDK's start offset (its 32-bit truncation, as its readout adds it).
    offset_usec: i64,
    /// Colour, depth and IR track numbers, with their stats and sync times.
    video: [Option<u64>; 3],
    stats: [Option<TrackStats>; 3],
    sync_times: [Vec<i64>; 3],
    /// Added to each stream's block time to get its sync time (the depth delay, §13.3).
    delay_ns: [i64; 3],
    imu_track: Option<u64>,
    imu: Option<ImuStats>,
    custom: Vec<(u64, CustomTrackStats)>,
}

fn empty_stats(t: &TrackInfo) -> TrackStats {
    TrackStats {
        frames: 0,
        width: t.width.unwrap_or(0),
        height: t.height.unwrap_or(0),
        first_ts_usec: None,
        last_ts_usec: None,
    }
}

impl Tally {
    fn new<R: Read + Seek>(reader: &MkvReader<R>, config: &RecordConfig) -> Result<Tally> {
        let scale = i64::try_from(reader.timestamp_scale_nsec.unwrap_or(1_000_000))
            .ok()
            .filter(|&s| s != 0)
            .ok_or(MkvError::NotK4a {
                what: "TimestampScale 0".into(),
            })?;
        let tracks = [
            reader.find_track("K4A_COLOR_TRACK", &[track_name::COLOR]),
            reader.find_track("K4A_DEPTH_TRACK", &[track_name::DEPTH]),
            reader.find_track("K4A_IR_TRACK", &[track_name::IR, track_name::DEPTH_IR]),
        ];
        let video = tracks.map(|t| t.map(|t| t.number));
        let imu_track = reader
            .find_track("K4A_IMU_TRACK", &[track_name::IMU])
            .filter(|t| t.track_type == TRACK_TYPE_SUBTITLE)
            .map(|t| t.number);
        let custom = reader
            .tracks
            .iter()
            .filter(|t| !video.contains(&Some(t.number)) && Some(t.number) != imu_track)
            .map(|t| {
                let stats = CustomTrackStats {
                    name: t.name.clone(),
                    codec_id: t.codec_id.clone(),
                    stats: empty_stats(t),
                };
                (t.number, stats)
            })
            .collect();
        let depth_delay_ns = reader.depth_delay_nsec()?;
        let after_colour = depth_delay_ns.min(0).saturating_neg();
        Ok(Tally {
            scale,
            offset_usec: i64::from(config.start_timestamp_offset_usec),
            video,
            stats: tracks.map(|t| t.map(empty_stats)),
            sync_times: Default::default(),
            delay_ns: [depth_delay_ns.max(0), after_colour, after_colour],
            imu_track,
            imu: imu_track.map(|_| ImuStats::default()),
            custom,
        })
    }

    /// Counts one block of the cluster at `at`; returns the file time its content ends at, ns.
    fn block(&mut self, at: u64, block: &Block) -> Result<i64> {
        let time_ns = block.time_ticks.saturating_mul(self.scale);
        let end_ns = match block.duration_ticks {
            Some(d) if !block.simple => time_ns
                .saturating_add(
                    i64::try_from(d)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(self.scale),
                )
                .saturating_sub(1),
            _ => time_ns,
        };
        let device_usec = u64::try_from(time_ns / 1000 + self.offset_usec).unwrap_or(0);
        if let Some(i) = self.video.iter().position(|n| *n == Some(block.track)) {
            if block.frames.len() != 1 {
                return Err(MkvError::Malformed {
                    offset: at,
                    what: "video block with more than one frame",
                });
            }
            if let (Some(s), Some(times)) = (
                self.stats.get_mut(i).and_then(Option::as_mut),
                self.sync_times.get_mut(i),
            ) {
                s.frames += 1;
                s.first_ts_usec.get_or_insert(device_usec);
                s.last_ts_usec = Some(device_usec);
                times.push(time_ns + self.delay_ns.get(i).copied().unwrap_or(0));
            }
        } else if Some(block.track) == self.imu_track {
            for frame in &block.frames {
                self.imu_frame(at, frame)?;
            }
        } else if let Some((_, c)) = self.custom.iter_mut().find(|(n, _)| *n == block.track) {
            c.stats.frames += u64::try_from(block.frames.len()).unwrap_or(u64::MAX);
            c.stats.first_ts_usec.get_or_insert(device_usec);
            c.stats.last_ts_usec = Some(device_usec);
        }
        Ok(end_ns)
    }

    fn imu_frame(&mut self, at: u64, frame: &[u8]) -> Result<()> {
        let acc: [u8; 8] = frame
            .get(..8)
            .filter(|_| frame.len() == IMU_SAMPLE_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(MkvError::Malformed {
                offset: at,
                what: "IMU frame that is not 40 bytes",
            })?;
        let acc_usec = u64::from_le_bytes(acc) / 1000;
        if let Some(s) = self.imu.as_mut() {
            s.samples += 1;
            s.first_acc_ts_usec.get_or_insert(acc_usec);
            s.last_acc_ts_usec = Some(acc_usec);
        }
        Ok(())
    }
}

/// The SDK's cast of a parsed tag to its `uint32_t` field: the low 32 bits.
fn sdk_u32(v: u64) -> u32 {
    (v & u64::from(u32::MAX)) as u32
}

/// The SDK's cast of a parsed tag to its `int32_t` field: the low 32 bits, two's complement.
fn sdk_i32(v: i64) -> i32 {
    (v & i64::from(u32::MAX)) as u32 as i32
}

fn json_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// A JSON string literal (RFC 8259 escaping).
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a k4a Matroska recording.
#[derive(Debug)]
pub struct MkvReader<R: Read + Seek> {
    r: R,
    file_len: u64,
    segment: ElementHeader,
    timestamp_scale_nsec: Option<u64>,
    pub tracks: Vec<TrackInfo>,
    pub tags: Vec<TagEntry>,
    pub attachments: Vec<Attachment>,
    /// (CueTime, CueClusterPosition) pairs.
    pub cues: Vec<(u64, u64)>,
    /// SeekHead entries: (element ID, segment-relative position).
    pub seek_entries: Vec<(u32, u64)>,
    /// File offsets of Info, Tracks, Tags and Attachments where the walk found them.
    pub element_offsets: BTreeMap<u32, u64>,
    cluster_offsets: Vec<u64>,
    damage: Option<Damage>,
}

impl MkvReader<BufReader<File>> {
    /// Opens `path` strictly.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        MkvReader::open(BufReader::new(File::open(path)?))
    }

    /// Opens `path` in salvage mode.
    pub fn open_path_salvage(path: impl AsRef<Path>) -> Result<Self> {
        MkvReader::open_salvage(BufReader::new(File::open(path)?))
    }
}

impl<R: Read + Seek> MkvReader<R> {
    /// Opens a recording; any damaged or incomplete element is an error with its offset.
    pub fn open(r: R) -> Result<Self> {
        Self::open_mode(r, false)
    }

    /// Opens a recording cut short or damaged: keeps every complete Cluster before the damage.
    pub fn open_salvage(r: R) -> Result<Self> {
        Self::open_mode(r, true)
    }

    fn open_mode(mut r: R, salvage: bool) -> Result<Self> {
        let file_len = r.seek(SeekFrom::End(0))?;
        let head = ebml::read_header(&mut r, 0, file_len, "EBML header")?;
        if head.id != id::EBML {
            return Err(MkvError::NotK4a {
                what: "no EBML header at byte 0".into(),
            });
        }
        let head_end = head.end().ok_or(MkvError::Malformed {
            offset: 0,
            what: "EBML header of unknown size",
        })?;
        let head_data = ebml::read_span(
            &mut r,
            head.data_offset,
            head_end - head.data_offset,
            file_len,
            "EBML header",
        )?;
        check_ebml_header(&head_data, head.data_offset)?;

        let segment = ebml::read_header(&mut r, head_end, file_len, "Segment header")?;
        if segment.id != id::SEGMENT {
            return Err(MkvError::Malformed {
                offset: head_end,
                what: "expected a Segment after the EBML header",
            });
        }
        if segment.size == Some(0) && !salvage {
            return Err(MkvError::Malformed {
                offset: head_end,
                what: "Segment size 0: the recording was never finalized (open it in salvage mode)",
            });
        }
        if segment.data_offset > file_len {
            return Err(MkvError::Truncated {
                offset: file_len,
                what: "Segment header",
            });
        }

        let mut this = MkvReader {
            r,
            file_len,
            segment,
            timestamp_scale_nsec: None,
            tracks: Vec::new(),
            tags: Vec::new(),
            attachments: Vec::new(),
            cues: Vec::new(),
            seek_entries: Vec::new(),
            element_offsets: BTreeMap::new(),
            cluster_offsets: Vec::new(),
            damage: None,
        };
        let mut at = segment.data_offset;
        while at < file_len {
            match this.visit(at, salvage) {
                Ok(next) => at = next,
                Err(e) if salvage => {
                    this.damage = Some(Damage {
                        offset: at,
                        what: e.to_string(),
                    });
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(this)
    }

    /// Handles the top-level element at `at`; returns the offset after it.
    fn visit(&mut self, at: u64, salvage: bool) -> Result<u64> {
        let h = ebml::read_header(&mut self.r, at, self.file_len, "top-level element header")?;
        let Some(end) = h.end() else {
            return Err(MkvError::Malformed {
                offset: at,
                what: "top-level element of unknown size",
            });
        };
        if end > self.file_len {
            return Err(MkvError::Truncated {
                offset: self.file_len,
                what: "a top-level element",
            });
        }
        let parsed = match h.id {
            id::CLUSTER => {
                if salvage {
                    self.read_cluster_at(at)?;
                }
                self.cluster_offsets.push(at);
                return Ok(end);
            }
            id::SEEK_HEAD | id::INFO | id::TRACKS | id::TAGS | id::ATTACHMENTS | id::CUES => {
                let data = ebml::read_span(
                    &mut self.r,
                    h.data_offset,
                    end - h.data_offset,
                    self.file_len,
                    "top-level element",
                )?;
                let child = Child {
                    header: h,
                    data: &data,
                };
                match h.id {
                    id::SEEK_HEAD => self.seek_entries = parse_seek_head(&child)?,
                    id::INFO => self.timestamp_scale_nsec = Some(parse_info(&child)?),
                    id::TRACKS => self.tracks = parse_tracks(&child)?,
                    id::TAGS => self.tags = parse_tags(&child)?,
                    id::ATTACHMENTS => self.attachments = parse_attachments(&child)?,
                    _ => self.cues = parse_cues(&child)?,
                }
                true
            }
            _ => false,
        };
        if parsed {
            self.element_offsets.insert(h.id, at);
        }
        Ok(end)
    }

    /// Where salvage mode stopped, `None` if the whole file was intact.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// File offset one past the last complete Cluster (the length to cut a damaged file to).
    pub fn complete_until(&mut self) -> Result<u64> {
        let Some(&last) = self.cluster_offsets.last() else {
            return Ok(self.segment.data_offset);
        };
        let h = ebml::read_header(&mut self.r, last, self.file_len, "Cluster header")?;
        h.end().ok_or(MkvError::Malformed {
            offset: last,
            what: "Cluster of unknown size",
        })
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The underlying reader (to learn, for instance, how much of the file was read).
    pub fn into_inner(self) -> R {
        self.r
    }

    /// The Segment header as found (size `None` = unknown).
    pub fn segment(&self) -> ElementHeader {
        self.segment
    }

    /// TimestampScale from Info, `None` when there was no Info.
    pub fn timestamp_scale_nsec(&self) -> Option<u64> {
        self.timestamp_scale_nsec
    }

    /// File offsets of every Cluster, in file order.
    pub fn cluster_offsets(&self) -> &[u64] {
        &self.cluster_offsets
    }

    /// Reads and delaces the Cluster whose ID is at file offset `at`.
    pub fn read_cluster_at(&mut self, at: u64) -> Result<Cluster> {
        let mut data = Vec::new();
        let (timestamp_ticks, spans) = self.read_cluster_into(at, &mut data)?;
        let blocks = spans
            .into_iter()
            .map(|b| Block {
                track: b.track,
                time_ticks: b.time_ticks,
                duration_ticks: b.duration_ticks,
                simple: b.simple,
                frames: b
                    .frames
                    .into_iter()
                    .map(|r| data.get(r).unwrap_or_default().to_vec())
                    .collect(),
            })
            .collect();
        Ok(Cluster {
            offset: at,
            timestamp_ticks,
            blocks,
        })
    }

    /// Reads the data of the Cluster at file offset `at` into `data` (reused, so that a
    /// caller walking a file faults in no fresh pages per Cluster and copies no frame out of
    /// it) and returns its Timestamp and its delaced blocks.
    pub fn read_cluster_into(
        &mut self,
        at: u64,
        data: &mut Vec<u8>,
    ) -> Result<(u64, Vec<BlockSpan>)> {
        let h = ebml::read_header(&mut self.r, at, self.file_len, "Cluster header")?;
        if h.id != id::CLUSTER {
            return Err(MkvError::Malformed {
                offset: at,
                what: "expected a Cluster",
            });
        }
        let size = h.size.ok_or(MkvError::Malformed {
            offset: at,
            what: "Cluster of unknown size",
        })?;
        ebml::read_span_into(
            &mut self.r,
            h.data_offset,
            size,
            self.file_len,
            "Cluster",
            data,
        )?;
        parse_cluster(&Child { header: h, data })
    }

    /// Every Cluster in file order.
    pub fn clusters(&mut self) -> impl Iterator<Item = Result<Cluster>> + '_ {
        let offsets = self.cluster_offsets.clone();
        offsets.into_iter().map(move |at| self.read_cluster_at(at))
    }

    /// First tag with `name`, as `k4a_playback_get_tag` returns it.
    pub fn tag(&self, name: &str) -> Option<&TagEntry> {
        self.tags.iter().find(|t| t.name == name)
    }

    /// Resolves a built-in track the way the SDK does (reference §13.1): `K4A_<X>_TRACK` tag
    /// first, then the track name.
    pub fn find_track(&self, tag_name: &str, names: &[&str]) -> Option<&TrackInfo> {
        let by_tag = self.tag(tag_name).and_then(|t| {
            let uid = if t.target_type == "TRACK" && t.track_uid != 0 {
                Some(t.track_uid)
            } else {
                parse_stream_u64(&t.value)
            };
            uid.and_then(|u| self.tracks.iter().find(|tr| tr.uid == u))
        });
        by_tag.or_else(|| {
            names
                .iter()
                .find_map(|n| self.tracks.iter().find(|tr| tr.name == *n))
        })
    }

    /// The calibration attachment as stored (reference §6).
    pub fn calibration(&self) -> Option<&[u8]> {
        let by_tag = self
            .tag("K4A_CALIBRATION_FILE")
            .filter(|t| t.target_type == "ATTACHMENT")
            .and_then(|t| self.attachments.iter().find(|a| a.uid == t.attachment_uid));
        by_tag
            .or_else(|| {
                self.attachments
                    .iter()
                    .find(|a| a.name == CALIBRATION_FILE_NAME)
            })
            .map(|a| a.data.as_slice())
    }

    /// The record configuration as `k4a_playback_get_record_configuration` reports it; an error
    /// wherever `k4a_playback_open` refuses the file (reference §14).
    pub fn record_config(&self) -> Result<RecordConfig> {
        if self.cluster_offsets.is_empty() {
            return Err(MkvError::NotK4a {
                what: "the recording holds no Cluster (no frame was ever written)".into(),
            });
        }
        let color = self.find_track("K4A_COLOR_TRACK", &[track_name::COLOR]);
        let depth = self.find_track("K4A_DEPTH_TRACK", &[track_name::DEPTH]);
        let ir = self.find_track("K4A_IR_TRACK", &[track_name::IR, track_name::DEPTH_IR]);
        let imu = self.find_track("K4A_IMU_TRACK", &[track_name::IMU]);
        for t in [color, depth, ir].into_iter().flatten() {
            check_video_track(t)?;
        }

        let color_format = match color {
            Some(t) => bitmap_fourcc(t).and_then(|cc| match cc {
                fourcc::MJPG => Some(ColorFormat::Mjpg),
                fourcc::NV12 => Some(ColorFormat::Nv12),
                fourcc::YUY2 => Some(ColorFormat::Yuy2),
                fourcc::BGRA => Some(ColorFormat::Bgra32),
                _ => None,
            }),
            None => None,
        };
        let color_resolution = color
            .and_then(|t| {
                let size = (t.width?, t.height?);
                ColorResolution::ALL
                    .into_iter()
                    .find(|r| r.size() == Some(size))
            })
            .unwrap_or(ColorResolution::Off);

        let depth_mode = match self.tag("K4A_DEPTH_MODE") {
            Some(t) => depth_mode_from_tag(&t.value).ok_or_else(|| bad_tag(t))?,
            None if depth.is_some() || ir.is_some() => {
                return Err(MkvError::NotK4a {
                    what: "depth or IR track without a K4A_DEPTH_MODE tag".into(),
                })
            }
            None => DepthMode::Off,
        };

        check_depth_geometry(depth_mode, depth, ir)?;
        let camera_fps = match frame_period_nsec([color, depth, ir])? {
            None => Fps::Fps30,
            Some(p) => u32::try_from(1_000_000_000 / p)
                .ok()
                .and_then(Fps::from_hz)
                .ok_or_else(|| MkvError::NotK4a {
                    what: format!("frame period {p} ns is not 5, 15 or 30 fps"),
                })?,
        };

        let depth_delay_ns = self.depth_delay_nsec()?;
        let wired_sync_mode = match self.tag("K4A_WIRED_SYNC_MODE") {
            None => WiredSyncMode::Standalone,
            Some(t) => WiredSyncMode::ALL
                .into_iter()
                .find(|m| m.sdk_name() == t.value)
                .ok_or_else(|| bad_tag(t))?,
        };
        let subordinate_delay = match wired_sync_mode {
            WiredSyncMode::Subordinate => sdk_u32(self.subordinate_delay_nsec()? / 1000),
            _ => 0,
        };
        Ok(RecordConfig {
            color_format,
            color_resolution,
            depth_mode,
            camera_fps,
            color_track_enabled: color.is_some(),
            depth_track_enabled: depth.is_some(),
            ir_track_enabled: ir.is_some(),
            imu_track_enabled: imu.is_some_and(|t| t.track_type == TRACK_TYPE_SUBTITLE),
            depth_delay_off_color_usec: sdk_i32(depth_delay_ns / 1000),
            wired_sync_mode,
            subordinate_delay_off_master_usec: subordinate_delay,
            start_timestamp_offset_usec: self.start_offset_usec()?,
        })
    }

    /// `K4A_DEPTH_DELAY_NS` as written (0 without the tag).
    pub fn depth_delay_nsec(&self) -> Result<i64> {
        match self.tag("K4A_DEPTH_DELAY_NS") {
            None => Ok(0),
            Some(t) => parse_stream_i64(&t.value).ok_or_else(|| bad_tag(t)),
        }
    }

    /// `K4A_SUBORDINATE_DELAY_NS` as written (0 without the tag), whatever the sync mode.
    pub fn subordinate_delay_nsec(&self) -> Result<u64> {
        match self.tag("K4A_SUBORDINATE_DELAY_NS") {
            None => Ok(0),
            Some(t) => parse_stream_u64(&t.value).ok_or_else(|| bad_tag(t)),
        }
    }

    /// `K4A_START_OFFSET_NS` / 1000 as the SDK keeps it: its low 32 bits (reference §8 item 6),
    /// which wrap after 2^32 µs (71.6 minutes) of device uptime. The official readout's image
    /// timestamps add this; for the device's real time use [`Self::start_offset_nsec`].
    pub fn start_offset_usec(&self) -> Result<u32> {
        Ok(sdk_u32(self.start_offset_nsec()? / 1000))
    }

    /// `K4A_START_OFFSET_NS` in full (0 without the tag): the device time at file time 0.
    pub fn start_offset_nsec(&self) -> Result<u64> {
        match self.tag("K4A_START_OFFSET_NS") {
            None => Ok(0),
            Some(t) => parse_stream_u64(&t.value).ok_or_else(|| bad_tag(t)),
        }
    }

    /// Walks every cluster and derives the full SDK readout.
    pub fn readout(&mut self) -> Result<Readout> {
        let config = self.record_config()?;
        let mut tally = Tally::new(self, &config)?;
        let mut last_cluster_end_ns: Option<i64> = None;
        for at in self.cluster_offsets.clone() {
            let cluster = self.read_cluster_at(at)?;
            let mut cluster_max: Option<i64> = None;
            for block in &cluster.blocks {
                let end_ns = tally.block(at, block)?;
                cluster_max = Some(cluster_max.map_or(end_ns, |m| m.max(end_ns)));
            }
            last_cluster_end_ns = cluster_max;
        }
        let period_ns = self
            .record_config_period_nsec()
            .map_or(0, |p| i64::try_from(p).unwrap_or(0));
        let [color, depth, ir] = tally.stats;
        Ok(Readout {
            config,
            tags: self.tag_map(),
            calibration: self.calibration().map(<[u8]>::to_vec),
            length_usec: last_cluster_end_ns.map_or(0, |ns| u64::try_from(ns / 1000).unwrap_or(0)),
            color,
            depth,
            ir,
            imu: tally.imu,
            captures: count_captures(&tally.sync_times, period_ns),
            custom: tally.custom.into_iter().map(|(_, c)| c).collect(),
        })
    }

    fn record_config_period_nsec(&self) -> Option<u64> {
        frame_period_nsec([
            self.find_track("K4A_COLOR_TRACK", &[track_name::COLOR]),
            self.find_track("K4A_DEPTH_TRACK", &[track_name::DEPTH]),
            self.find_track("K4A_IR_TRACK", &[track_name::IR, track_name::DEPTH_IR]),
        ])
        .ok()
        .flatten()
    }

    /// First value of every tag name.
    pub fn tag_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for t in &self.tags {
            map.entry(t.name.clone()).or_insert_with(|| t.value.clone());
        }
        map
    }
}

/// `get_next_capture` until EOF (reference §13.3): the smallest sync time T opens a capture,
/// every track whose next block is within T + P/2 (strictly) joins and advances.
fn count_captures(sync_times: &[Vec<i64>; 3], period_ns: i64) -> u64 {
    if period_ns <= 0 {
        return 0;
    }
    let window = period_ns / 2;
    let mut cursor = [0usize; 3];
    let mut captures = 0;
    loop {
        let next: Vec<Option<i64>> = sync_times
            .iter()
            .zip(cursor)
            .map(|(times, c)| times.get(c).copied())
            .collect();
        let Some(t) = next.iter().flatten().min().copied() else {
            return captures;
        };
        for (c, n) in cursor.iter_mut().zip(&next) {
            if n.is_some_and(|s| s - t < window) {
                *c += 1;
            }
        }
        captures += 1;
    }
}

/// The frame period P shared by the colour, depth and IR tracks (reference §13.1), `None` without
/// any of them. Checked as the official 1.4.2 reader does: the first of them may lack a
/// DefaultDuration when the next one supplies it; every later one must carry the same value; a file
/// whose video tracks give no period at all is refused (the official reader divides by zero).
fn frame_period_nsec(tracks: [Option<&TrackInfo>; 3]) -> Result<Option<u64>> {
    let mut period = 0;
    let mut seen = 0;
    for t in tracks.into_iter().flatten() {
        let p = t.default_duration_nsec.unwrap_or(0);
        if seen == 0 || (seen == 1 && period == 0 && p != 0) {
            period = p;
        } else if p != period {
            return Err(MkvError::NotK4a {
                what: format!(
                    "track {} has frame period {p} ns, the tracks before it {period} ns",
                    t.name
                ),
            });
        }
        seen += 1;
    }
    match (seen, period) {
        (0, _) => Ok(None),
        (_, 0) => Err(MkvError::NotK4a {
            what: "no video track gives a frame period (DefaultDuration)".into(),
        }),
        (_, p) => Ok(Some(p)),
    }
}

/// DEPTH must have the depth mode's size; IR the DEPTH track's, or the mode's without DEPTH
/// (reference §14).
fn check_depth_geometry(
    mode: DepthMode,
    depth: Option<&TrackInfo>,
    ir: Option<&TrackInfo>,
) -> Result<()> {
    let size = |t: &TrackInfo| (t.width.unwrap_or(0), t.height.unwrap_or(0));
    let expected = mode.output_size();
    if let Some(d) = depth {
        if Some(size(d)) != expected {
            return Err(MkvError::NotK4a {
                what: format!(
                    "DEPTH track is {}x{}, depth mode {} needs {expected:?}",
                    size(d).0,
                    size(d).1,
                    mode.sdk_name()
                ),
            });
        }
    }
    if let Some(i) = ir {
        let want = depth.map(size).or(expected);
        if Some(size(i)) != want {
            return Err(MkvError::NotK4a {
                what: format!(
                    "IR track is {}x{}, expected {want:?} for depth mode {}",
                    size(i).0,
                    size(i).1,
                    mode.sdk_name()
                ),
            });
        }
    }
    Ok(())
}

fn bad_tag(t: &TagEntry) -> MkvError {
    MkvError::BadTag {
        name: t.name.clone(),
        value: t.value.clone(),
    }
}

fn check_video_track(t: &TrackInfo) -> Result<()> {
    if t.track_type != TRACK_TYPE_VIDEO
        || t.codec_id != super::codec::VFW
        || t.codec_private.len() != 40
    {
        return Err(MkvError::NotK4a {
            what: format!(
                "track {} is not a 40-byte BITMAPINFOHEADER V_MS/VFW/FOURCC video track",
                t.name
            ),
        });
    }
    match bitmap_fourcc(t) {
        Some(fourcc::MJPG | fourcc::NV12 | fourcc::YUY2 | fourcc::BGRA | fourcc::B16G) => Ok(()),
        _ => Err(MkvError::NotK4a {
            what: format!("track {} has an unsupported FOURCC", t.name),
        }),
    }
}

fn bitmap_fourcc(t: &TrackInfo) -> Option<u32> {
    let b: [u8; 4] = t.codec_private.get(16..20)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// C++ `stream >> uint64_t`: leading whitespace skipped, digits read, anything after ignored.
fn parse_stream_u64(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..digits)?.parse().ok()
}

/// C++ `stream >> int64_t`.
fn parse_stream_i64(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let magnitude: i128 = rest.get(..digits)?.parse().ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn check_ebml_header(data: &[u8], base: u64) -> Result<()> {
    let mut doc_type = String::new();
    let (mut version, mut read_version) = (1, 1);
    for child in Children::new(data, base) {
        let child = child?;
        match child.header.id {
            id::DOC_TYPE => doc_type = child.string(),
            id::DOC_TYPE_VERSION => version = child.uint()?,
            id::DOC_TYPE_READ_VERSION => read_version = child.uint()?,
            _ => {}
        }
    }
    if doc_type != "matroska" {
        return Err(MkvError::NotK4a {
            what: format!("DocType {doc_type:?}, expected \"matroska\""),
        });
    }
    if read_version > 2 || version < read_version {
        return Err(MkvError::NotK4a {
            what: format!("DocTypeVersion {version} / DocTypeReadVersion {read_version}"),
        });
    }
    Ok(())
}

fn parse_seek_head(e: &Child<'_>) -> Result<Vec<(u32, u64)>> {
    let mut out = Vec::new();
    for seek in e.children() {
        let seek = seek?;
        if seek.header.id != id::SEEK {
            continue;
        }
        let (mut element, mut pos) = (None, None);
        for c in seek.children() {
            let c = c?;
            match c.header.id {
                id::SEEK_ID => element = u32::try_from(c.uint()?).ok(),
                id::SEEK_POSITION => pos = Some(c.uint()?),
                _ => {}
            }
        }
        if let (Some(element), Some(pos)) = (element, pos) {
            out.push((element, pos));
        }
    }
    Ok(out)
}

fn parse_info(e: &Child<'_>) -> Result<u64> {
    let mut scale = 1_000_000;
    for c in e.children() {
        let c = c?;
        if c.header.id == id::TIMESTAMP_SCALE {
            scale = c.uint()?;
        }
    }
    Ok(scale)
}

fn parse_tracks(e: &Child<'_>) -> Result<Vec<TrackInfo>> {
    let mut tracks = Vec::new();
    for entry in e.children() {
        let entry = entry?;
        if entry.header.id != id::TRACK_ENTRY {
            continue;
        }
        let mut t = TrackInfo::default();
        for c in entry.children() {
            let c = c?;
            match c.header.id {
                id::TRACK_NUMBER => t.number = c.uint()?,
                id::TRACK_UID => t.uid = c.uint()?,
                id::TRACK_TYPE => t.track_type = c.uint()?,
                id::CODEC_ID => t.codec_id = c.string(),
                id::NAME => t.name = c.string(),
                id::CODEC_PRIVATE => t.codec_private = c.data.to_vec(),
                id::DEFAULT_DURATION => t.default_duration_nsec = Some(c.uint()?),
                id::VIDEO => {
                    for v in c.children() {
                        let v = v?;
                        match v.header.id {
                            id::PIXEL_WIDTH => t.width = u32::try_from(v.uint()?).ok(),
                            id::PIXEL_HEIGHT => t.height = u32::try_from(v.uint()?).ok(),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        tracks.push(t);
    }
    Ok(tracks)
}

fn parse_tags(e: &Child<'_>) -> Result<Vec<TagEntry>> {
    let mut tags = Vec::new();
    for tag in e.children() {
        let tag = tag?;
        if tag.header.id != id::TAG {
            continue;
        }
        let mut target = TagEntry::default();
        let mut simple = Vec::new();
        for c in tag.children() {
            let c = c?;
            match c.header.id {
                id::TARGETS => {
                    for t in c.children() {
                        let t = t?;
                        match t.header.id {
                            id::TARGET_TYPE => target.target_type = t.string(),
                            id::TAG_TRACK_UID => target.track_uid = t.uint()?,
                            id::TAG_ATTACHMENT_UID => target.attachment_uid = t.uint()?,
                            _ => {}
                        }
                    }
                }
                id::SIMPLE_TAG => {
                    let (mut name, mut value) = (String::new(), String::new());
                    for s in c.children() {
                        let s = s?;
                        match s.header.id {
                            id::TAG_NAME => name = s.string(),
                            id::TAG_STRING => value = s.string(),
                            _ => {}
                        }
                    }
                    simple.push((name, value));
                }
                _ => {}
            }
        }
        for (name, value) in simple {
            tags.push(TagEntry {
                name,
                value,
                ..target.clone()
            });
        }
    }
    Ok(tags)
}

fn parse_attachments(e: &Child<'_>) -> Result<Vec<Attachment>> {
    let mut files = Vec::new();
    for f in e.children() {
        let f = f?;
        if f.header.id != id::ATTACHED_FILE {
            continue;
        }
        let mut a = Attachment::default();
        for c in f.children() {
            let c = c?;
            match c.header.id {
                id::FILE_NAME => a.name = c.string(),
                id::FILE_MIME_TYPE => a.mime_type = c.string(),
                id::FILE_DATA => a.data = c.data.to_vec(),
                id::FILE_UID => a.uid = c.uint()?,
                _ => {}
            }
        }
        files.push(a);
    }
    Ok(files)
}

fn parse_cues(e: &Child<'_>) -> Result<Vec<(u64, u64)>> {
    let mut cues = Vec::new();
    for p in e.children() {
        let p = p?;
        if p.header.id != id::CUE_POINT {
            continue;
        }
        let (mut time, mut pos) = (0, None);
        for c in p.children() {
            let c = c?;
            match c.header.id {
                id::CUE_TIME => time = c.uint()?,
                id::CUE_TRACK_POSITIONS => {
                    for t in c.children() {
                        let t = t?;
                        if t.header.id == id::CUE_CLUSTER_POSITION {
                            pos = Some(t.uint()?);
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(pos) = pos {
            cues.push((time, pos));
        }
    }
    Ok(cues)
}

/// The Cluster's Timestamp and blocks; frame ranges are relative to `e.data`.
fn parse_cluster(e: &Child<'_>) -> Result<(u64, Vec<BlockSpan>)> {
    let mut timestamp = 0u64;
    let mut raw: Vec<(Child<'_>, bool, Option<u64>)> = Vec::new();
    for c in e.children() {
        let c = c?;
        match c.header.id {
            id::TIMESTAMP => timestamp = c.uint()?,
            id::SIMPLE_BLOCK => raw.push((c, true, None)),
            id::BLOCK_GROUP => {
                let (mut block, mut duration) = (None, None);
                for g in Children::new(c.data, c.header.data_offset) {
                    let g = g?;
                    match g.header.id {
                        id::BLOCK => block = Some(g),
                        id::BLOCK_DURATION => duration = Some(g.uint()?),
                        _ => {}
                    }
                }
                let block = block.ok_or(MkvError::Malformed {
                    offset: c.header.offset,
                    what: "BlockGroup without a Block",
                })?;
                raw.push((block, false, duration));
            }
            _ => {}
        }
    }
    let base = i64::try_from(timestamp).map_err(|_| MkvError::Malformed {
        offset: e.header.offset,
        what: "Cluster Timestamp beyond 2^63",
    })?;
    let blocks = raw
        .into_iter()
        .map(|(c, simple, duration)| {
            let start = c.header.data_offset - e.header.data_offset;
            parse_block(&c, start, base, simple, duration)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((timestamp, blocks))
}

/// The block `c`, whose data starts `start` bytes into its Cluster's data.
fn parse_block(
    c: &Child<'_>,
    start: u64,
    cluster_ticks: i64,
    simple: bool,
    duration: Option<u64>,
) -> Result<BlockSpan> {
    let at = c.header.data_offset;
    let bad = |what| MkvError::Malformed { offset: at, what };
    let track = ebml::decode_vint(c.data).map_err(|_| bad("block track number"))?;
    let track_number = track.value.ok_or(bad("block track number"))?;
    let head = c
        .data
        .get(track.len..track.len + 3)
        .ok_or(bad("block header shorter than 4 bytes"))?;
    let (rel, flags) = match head {
        [hi, lo, flags] => (i16::from_be_bytes([*hi, *lo]), *flags),
        _ => return Err(bad("block header")),
    };
    let payload = c.data.get(track.len + 3..).unwrap_or(&[]);
    let payload_start = usize::try_from(start).map_err(|_| bad("block offset"))? + track.len + 3;
    let frames = delace(payload, (flags >> 1) & 3)
        .ok_or(bad("block lacing"))?
        .into_iter()
        .map(|r| r.start + payload_start..r.end + payload_start)
        .collect();
    Ok(BlockSpan {
        track: track_number,
        time_ticks: cluster_ticks + i64::from(rel),
        duration_ticks: duration,
        simple,
        frames,
    })
}

/// Splits a block payload by its lacing (0 none, 1 Xiph, 2 fixed, 3 EBML) into frame ranges;
/// `None` if malformed.
fn delace(payload: &[u8], lacing: u8) -> Option<Vec<Range<usize>>> {
    if lacing == 0 {
        return Some(std::iter::once(0..payload.len()).collect());
    }
    let count = usize::from(*payload.first()?) + 1;
    let mut pos = 1usize;
    let mut sizes = Vec::with_capacity(count);
    match lacing {
        1 => {
            for _ in 1..count {
                let mut size = 0usize;
                loop {
                    let b = *payload.get(pos)?;
                    pos += 1;
                    size += usize::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
        3 => {
            let first = ebml::decode_vint(payload.get(pos..)?).ok()?;
            pos += first.len;
            let mut size = i64::try_from(first.value?).ok()?;
            sizes.push(usize::try_from(size).ok()?);
            for _ in 2..count {
                let v = ebml::decode_vint(payload.get(pos..)?).ok()?;
                pos += v.len;
                let bias = (1i64 << (7 * v.len - 1)) - 1;
                size = size.checked_add(i64::try_from(v.value?).ok()? - bias)?;
                sizes.push(usize::try_from(size).ok()?);
            }
        }
        _ => {
            let rest = payload.len().checked_sub(pos)?;
            if rest % count != 0 {
                return None;
            }
            sizes = vec![rest / count; count - 1];
        }
    }
    let mut frames = Vec::with_capacity(count);
    for size in sizes {
        let end = pos.checked_add(size).filter(|&end| end <= payload.len())?;
        frames.push(pos..end);
        pos = end;
    }
    if pos > payload.len() {
        return None;
    }
    frames.push(pos..payload.len());
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_cpp_stream_extraction() {
        assert_eq!(parse_stream_u64("80000x"), Some(80000));
        assert_eq!(parse_stream_u64("  12"), Some(12));
        assert_eq!(parse_stream_u64(""), None);
        assert_eq!(parse_stream_u64("x1"), None);
        assert_eq!(parse_stream_i64("-80000"), Some(-80000));
        assert_eq!(parse_stream_i64("-"), None);
    }

    #[test]
    fn all_four_lacings_split_frames() {
        let split = |payload: &[u8], lacing| {
            delace(payload, lacing).map(|frames| {
                frames
                    .into_iter()
                    .map(|r| payload[r].to_vec())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(split(&[0, 1, 2], 0), Some(vec![vec![0, 1, 2]]));
        assert_eq!(
            split(&[1, 1, 2, 3, 4], 2),
            Some(vec![vec![1, 2], vec![3, 4]])
        );
        assert_eq!(split(&[1, 1, 2, 3, 4], 1), Some(vec![vec![2], vec![3, 4]]));
        assert_eq!(
            split(&[2, 0x81, 0xBE, 9, 8, 7], 3),
            Some(vec![vec![9], vec![], vec![8, 7]])
        );
        assert_eq!(split(&[1, 1, 2, 3], 2), None);
        assert_eq!(split(&[], 1), None);
    }

    fn video(name: &str, period: Option<u64>, size: (u32, u32)) -> TrackInfo {
        TrackInfo {
            name: name.into(),
            default_duration_nsec: period,
            width: Some(size.0),
            height: Some(size.1),
            ..TrackInfo::default()
        }
    }

    #[test]
    fn frame_periods_follow_the_official_reader() {
        const P: u64 = 33_333_333;
        let period = |c: Option<Option<u64>>, d: Option<Option<u64>>, i: Option<Option<u64>>| {
            let (c, d, i) = (
                c.map(|p| video("COLOR", p, (0, 0))),
                d.map(|p| video("DEPTH", p, (0, 0))),
                i.map(|p| video("IR", p, (0, 0))),
            );
            frame_period_nsec([c.as_ref(), d.as_ref(), i.as_ref()]).ok()
        };
        let (some, none) = (Some(Some(P)), Some(None));
        assert_eq!(period(None, None, None), Some(None));
        assert_eq!(period(some, some, some), Some(Some(P)));
        assert_eq!(period(none, some, some), Some(Some(P)));
        assert_eq!(period(None, none, some), Some(Some(P)));
        assert_eq!(period(none, None, some), Some(Some(P)));
        assert_eq!(period(some, none, some), None);
        assert_eq!(period(some, some, none), None);
        assert_eq!(period(none, none, some), None);
        assert_eq!(period(none, None, None), None);
        assert_eq!(period(some, some, Some(Some(P + 1))), None);
    }

    #[test]
    fn depth_and_ir_sizes_must_fit_the_depth_mode_and_each_other() {
        let nfov = DepthMode::NfovUnbinned;
        let d = video("DEPTH", None, (640, 576));
        let i = video("IR", None, (640, 576));
        let odd = video("IR", None, (641, 576));
        assert!(check_depth_geometry(nfov, Some(&d), Some(&i)).is_ok());
        assert!(check_depth_geometry(nfov, Some(&odd), Some(&i)).is_err());
        assert!(check_depth_geometry(nfov, Some(&d), Some(&odd)).is_err());
        assert!(check_depth_geometry(DepthMode::Nfov2x2Binned, Some(&d), Some(&i)).is_err());
        let passive = video("IR", None, (1024, 1024));
        assert!(check_depth_geometry(DepthMode::PassiveIr, None, Some(&passive)).is_ok());
        assert!(check_depth_geometry(DepthMode::PassiveIr, None, Some(&i)).is_err());
    }

    #[test]
    fn captures_group_blocks_within_half_a_period() {
        let times = [vec![0, 100], vec![10, 160], vec![]];
        assert_eq!(count_captures(&times, 100), 3);
        assert_eq!(count_captures(&times, 0), 0);
    }
}
