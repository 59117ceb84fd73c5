//! [`FrameIndex`]: a recording's frame timestamps and positions, read from block headers only.
//!
//! `k4sync align` needs the device timestamp of every colour and depth frame of every file, not
//! the frames: nine one-hour recordings hold hundreds of gigabytes of payload and a few megabytes
//! of headers. The header walk of [`MkvReader`] (tags, tracks; it seeks from Cluster to Cluster)
//! gives the configuration; then each Cluster's children are visited by their headers, reading
//! the first bytes of every block (track number, relative timecode) and seeking past the
//! payload. Every byte read is counted ([`FrameIndex::bytes_read`]) so the claim can be checked.
//!
//! Device time of a block = its file time + `K4A_START_OFFSET_NS` / 1000 (reference §8 item 6),
//! kept in 64 bits where the SDK truncates the offset to 32 (recordings of a device up more than
//! 71 minutes keep their true timestamps).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use k4sync_core::types::{DepthMode, Fps, WiredSyncMode};

use super::ebml::{self, id};
use super::{track_name, MkvError, MkvReader, Result};

/// Where a frame sits in its file: the Cluster's offset and the block's 1-based number among the
/// Cluster's blocks (SimpleBlocks and BlockGroups, Matroska's CueBlockNumber), plus the block
/// element's own offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePos {
    pub cluster_offset: u64,
    pub block: u32,
    pub block_offset: u64,
}

/// One track's frames in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackFrames {
    pub name: String,
    pub ts_usec: Vec<u64>,
    pub pos: Vec<FramePos>,
}

impl TrackFrames {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }
}

/// What alignment needs from one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameIndex {
    pub file_len: u64,
    /// Bytes read from the file to build this index.
    pub bytes_read: u64,
    pub serial: Option<String>,
    pub wired_sync_mode: WiredSyncMode,
    /// `K4A_SUBORDINATE_DELAY_NS` as written (0 unless subordinate): kept in ns, since ours
    /// holds the effective delay that µs would round off (see [`delay_tag_ticks`]).
    ///
    /// [`delay_tag_ticks`]: k4sync_core::time::delay_tag_ticks
    pub subordinate_delay_nsec: u64,
    /// `K4A_DEPTH_DELAY_NS` as written.
    pub depth_delay_nsec: i64,
    pub fps: Fps,
    /// `K4A_COLOR_MODE` (e.g. `MJPG_720P`), `None` without colour.
    pub color_mode: Option<String>,
    pub depth_mode: DepthMode,
    pub colour: Option<TrackFrames>,
    /// DEPTH, else the custom `RAW_DEPTH` track, else IR (passive IR has no DEPTH track).
    pub depth: Option<TrackFrames>,
    /// IR when a DEPTH track exists too (same timestamps as DEPTH), for players.
    pub ir: Option<TrackFrames>,
}

/// A reader that counts the bytes it hands out.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Reads `path`'s configuration and every colour/depth frame's timestamp and position;
/// `progress(done_bytes, file_len)` is called after each Cluster.
pub fn read_frame_index(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<FrameIndex> {
    // A small buffer: the header walk reads a dozen bytes per Cluster and seeks on.
    let counting = Counting {
        inner: File::open(path)?,
        read: 0,
    };
    let reader = MkvReader::open(BufReader::with_capacity(64, counting))?;
    let config = reader.record_config()?;
    let subordinate_delay_nsec = match config.wired_sync_mode {
        WiredSyncMode::Subordinate => reader.subordinate_delay_nsec()?,
        _ => 0,
    };
    let depth_delay_nsec = reader.depth_delay_nsec()?;
    let offset_usec = reader.start_offset_nsec()? / 1000;
    let number = |tag: &str, names: &[&str]| reader.find_track(tag, names).map(|t| t.number);
    let colour_track = number("K4A_COLOR_TRACK", &[track_name::COLOR]);
    let depth_track = number("K4A_DEPTH_TRACK", &[track_name::DEPTH]);
    let ir_track = number("K4A_IR_TRACK", &[track_name::IR, track_name::DEPTH_IR]);
    let raw_track = reader
        .tracks
        .iter()
        .find(|t| t.name == track_name::RAW_DEPTH)
        .map(|t| t.number);
    let (depth_track, depth_name) = match (depth_track, raw_track, ir_track) {
        (Some(d), _, _) => (Some(d), track_name::DEPTH),
        (None, Some(r), _) => (Some(r), track_name::RAW_DEPTH),
        (None, None, ir) => (ir, track_name::IR),
    };
    let ir_track = ir_track.filter(|&ir| Some(ir) != depth_track);
    let mut streams = [
        (colour_track, TrackFrames::named(track_name::COLOR)),
        (depth_track, TrackFrames::named(depth_name)),
        (ir_track, TrackFrames::named(track_name::IR)),
    ];
    let clusters = reader.cluster_offsets().to_vec();
    let file_len = reader.file_len();
    let serial = reader
        .tag("K4A_DEVICE_SERIAL_NUMBER")
        .map(|t| t.value.clone());
    let color_mode = reader.tag("K4A_COLOR_MODE").map(|t| t.value.clone());
    let scale = reader.timestamp_scale_nsec().unwrap_or(1_000_000);
    let header_bytes = reader.into_inner().into_inner().read;

    let file = File::open(path)?;
    let mut walk = BlockWalk {
        file: &file,
        file_len,
        read: header_bytes,
    };
    for &cluster in &clusters {
        walk.cluster(cluster, &mut |block| {
            if let Some((_, frames)) = streams
                .iter_mut()
                .find(|(track, _)| *track == Some(block.track))
            {
                let file_nsec = block.time_ticks.saturating_mul(scale as i64);
                let ts = u64::try_from(file_nsec / 1000)
                    .unwrap_or(0)
                    .saturating_add(offset_usec);
                frames.ts_usec.push(ts);
                frames.pos.push(block.pos);
            }
        })?;
        progress(cluster, file_len);
    }
    progress(file_len, file_len);
    let [colour, depth, ir] = streams.map(|(track, frames)| track.map(|_| frames));
    Ok(FrameIndex {
        file_len,
        bytes_read: walk.read,
        serial,
        wired_sync_mode: config.wired_sync_mode,
        subordinate_delay_nsec,
        depth_delay_nsec,
        fps: config.camera_fps,
        color_mode,
        depth_mode: config.depth_mode,
        colour,
        depth,
        ir,
    })
}

struct BlockHead {
    track: u64,
    time_ticks: i64,
    pos: FramePos,
}

/// Reads element headers and block heads with positioned reads, counting the bytes.
struct BlockWalk<'a> {
    file: &'a File,
    file_len: u64,
    read: u64,
}

/// Enough for an element header (ID ≤ 4, size ≤ 8) and a block head (track ≤ 8, timecode 2).
const HEAD_LEN: usize = 24;

impl BlockWalk<'_> {
    fn bytes_at(&mut self, offset: u64, buf: &mut [u8; HEAD_LEN]) -> Result<usize> {
        let want = self.file_len.saturating_sub(offset).min(HEAD_LEN as u64) as usize;
        let buf = buf.get_mut(..want).unwrap_or(&mut []);
        self.file.read_exact_at(buf, offset)?;
        self.read += want as u64;
        Ok(want)
    }

    fn header(
        &mut self,
        offset: u64,
        what: &'static str,
    ) -> Result<(ebml::ElementHeader, [u8; HEAD_LEN], usize)> {
        let mut buf = [0u8; HEAD_LEN];
        let n = self.bytes_at(offset, &mut buf)?;
        let h = ebml::parse_header(buf.get(..n).unwrap_or(&[]), offset, what)?;
        Ok((h, buf, n))
    }

    fn end(&self, h: &ebml::ElementHeader, what: &'static str) -> Result<u64> {
        match h.end() {
            Some(end) if end <= self.file_len => Ok(end),
            Some(_) => Err(MkvError::Truncated {
                offset: self.file_len,
                what,
            }),
            None => Err(MkvError::Malformed {
                offset: h.offset,
                what: "element of unknown size inside a Cluster",
            }),
        }
    }

    /// Calls `found` for every block of the Cluster at `at`, in file order.
    fn cluster(&mut self, at: u64, found: &mut dyn FnMut(BlockHead)) -> Result<()> {
        let (h, _, _) = self.header(at, "Cluster header")?;
        let end = self.end(&h, "Cluster")?;
        let mut timestamp: i64 = 0;
        let mut block = 0u32;
        let mut pos = h.data_offset;
        while pos < end {
            let (child, buf, n) = self.header(pos, "Cluster child")?;
            let child_end = self.end(&child, "Cluster child")?;
            match child.id {
                id::TIMESTAMP => {
                    let len = child_end - child.data_offset;
                    let start = (child.data_offset - pos) as usize;
                    let data = buf
                        .get(start..start + len as usize)
                        .filter(|_| len <= 8 && start + len as usize <= n)
                        .ok_or(MkvError::Malformed {
                            offset: pos,
                            what: "Cluster Timestamp longer than 8 bytes",
                        })?;
                    let value = data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                    timestamp = i64::try_from(value).map_err(|_| MkvError::Malformed {
                        offset: pos,
                        what: "Cluster Timestamp beyond 2^63",
                    })?;
                }
                id::SIMPLE_BLOCK => {
                    block += 1;
                    let start = (child.data_offset - pos) as usize;
                    found(self.block_head(at, block, pos, &buf[..n], start, timestamp)?);
                }
                id::BLOCK_GROUP => {
                    block += 1;
                    let inner = self.block_in_group(&child, child_end)?;
                    let (b, bbuf, bn) = inner;
                    let start = (b.data_offset - b.offset) as usize;
                    let mut head =
                        self.block_head(at, block, b.offset, &bbuf[..bn], start, timestamp)?;
                    head.pos.block_offset = pos;
                    found(head);
                }
                _ => {}
            }
            pos = child_end;
        }
        Ok(())
    }

    fn block_in_group(
        &mut self,
        group: &ebml::ElementHeader,
        group_end: u64,
    ) -> Result<(ebml::ElementHeader, [u8; HEAD_LEN], usize)> {
        let mut pos = group.data_offset;
        while pos < group_end {
            let (child, buf, n) = self.header(pos, "BlockGroup child")?;
            if child.id == id::BLOCK {
                return Ok((child, buf, n));
            }
            pos = self.end(&child, "BlockGroup child")?;
        }
        Err(MkvError::Malformed {
            offset: group.offset,
            what: "BlockGroup without a Block",
        })
    }

    fn block_head(
        &self,
        cluster: u64,
        block: u32,
        offset: u64,
        buf: &[u8],
        start: usize,
        cluster_ticks: i64,
    ) -> Result<BlockHead> {
        let bad = |what| MkvError::Malformed { offset, what };
        let data = buf.get(start..).ok_or(bad("block header"))?;
        let track = ebml::decode_vint(data).map_err(|_| bad("block track number"))?;
        let track_number = track.value.ok_or(bad("block track number"))?;
        let rel = match data.get(track.len..track.len + 2) {
            Some(&[hi, lo]) => i16::from_be_bytes([hi, lo]),
            _ => return Err(bad("block header shorter than its timecode")),
        };
        Ok(BlockHead {
            track: track_number,
            time_ticks: cluster_ticks + i64::from(rel),
            pos: FramePos {
                cluster_offset: cluster,
                block,
                block_offset: offset,
            },
        })
    }
}
