//! Reading a recording's Clusters on a second thread while the caller converts the ones already
//! read (`k4sync depth`; docs/performance.md, "Depth conversion overhead").
//!
//! Reading a Cluster is the kernel's copy of its bytes from the page cache into a buffer, about
//! as long as everything the conversion does with them. Done in line, the two alternate on one
//! core; here the reader fills the next buffer while the caller works on the last one. Memory
//! stays bounded: [`BUFFERS`] cluster buffers go round between the two threads (a full one to
//! the caller, an empty one back), and the reader waits for an empty one before it reads on.
//!
//! The reader thread lives inside [`for_each_cluster`]: when the caller stops early (an error,
//! Ctrl-C) the channels close, the reader ends at its next send or receive, and the function
//! returns only after it has.

use std::io::{Read, Seek};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::mkv::{BlockSpan, MkvError, MkvReader};

/// Cluster buffers in circulation: one being converted, one being read, one read and waiting.
pub const BUFFERS: usize = 3;

/// One Cluster read ahead: its data and its delaced blocks (ranges of `data`).
pub struct ClusterRead {
    pub data: Vec<u8>,
    pub blocks: Vec<BlockSpan>,
}

/// Calls `each` with the index and the Cluster of every offset in `offsets`, in order, read from
/// `reader` on a second thread; stops at the first error, the reader's (`read_error`) or
/// `each`'s.
pub fn for_each_cluster<R, E>(
    reader: &mut MkvReader<R>,
    offsets: &[u64],
    read_error: impl Fn(MkvError) -> E,
    mut each: impl FnMut(usize, &mut ClusterRead) -> Result<(), E>,
) -> Result<(), E>
where
    R: Read + Seek + Send,
{
    std::thread::scope(|scope| {
        let (empty_tx, empty_rx) = sync_channel(BUFFERS);
        let (full_tx, full_rx) = sync_channel(BUFFERS);
        for _ in 0..BUFFERS {
            let _ = empty_tx.send(Vec::new());
        }
        scope.spawn(move || read_loop(reader, offsets, &empty_rx, &full_tx));
        for (index, read) in full_rx.iter().enumerate() {
            let mut cluster = read.map_err(&read_error)?;
            each(index, &mut cluster)?;
            let _ = empty_tx.send(cluster.data);
        }
        Ok(())
    })
}

/// The reader thread: an empty buffer in, the next Cluster out, until every offset is read, a
/// read fails, or the caller has gone.
fn read_loop<R: Read + Seek>(
    reader: &mut MkvReader<R>,
    offsets: &[u64],
    empty: &Receiver<Vec<u8>>,
    full: &SyncSender<Result<ClusterRead, MkvError>>,
) {
    for &at in offsets {
        let Ok(mut data) = empty.recv() else {
            return;
        };
        let read = reader
            .read_cluster_into(at, &mut data)
            .map(|(_, blocks)| ClusterRead { data, blocks });
        let failed = read.is_err();
        if full.send(read).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::mkv::write::{DepthStorage, WriterOptions};
    use crate::mkv::{Capture, Image, MkvWriter, RecordingHeader};
    use k4sync_core::time::Usec;
    use k4sync_core::types::{ColorResolution, DepthMode};

    /// A colour-only recording of `frames` frames, one per Cluster window.
    fn recording(frames: u8) -> Vec<u8> {
        let header = RecordingHeader {
            depth_mode: DepthMode::Off,
            depth_storage: DepthStorage::Images,
            color_resolution: ColorResolution::R720p,
            imu: false,
            ..RecordingHeader::k4arecorder_defaults()
        };
        let options = WriterOptions {
            uid_seed: Some(1),
            ..WriterOptions::default()
        };
        let mut w =
            MkvWriter::create_with_sync(Cursor::new(Vec::new()), header, options, |_| Ok(()))
                .unwrap();
        for k in 0..frames {
            let jpeg = [0xFF, 0xD8, k, 0xFF, 0xD9];
            w.write_capture(&Capture {
                color: Some(Image {
                    device_ts_usec: Usec(1_000_000 + u64::from(k) * 40_000),
                    data: &jpeg,
                }),
                ..Capture::default()
            })
            .unwrap();
        }
        w.finalize().unwrap().into_inner()
    }

    fn first_frames(cluster: &ClusterRead) -> Vec<u8> {
        cluster
            .blocks
            .iter()
            .flat_map(|b| b.frames.iter().map(|r| cluster.data[r.clone()][2]))
            .collect()
    }

    #[test]
    fn clusters_arrive_in_file_order_as_an_inline_read_gives_them() {
        let file = recording(20);
        let mut inline = MkvReader::open(Cursor::new(file.clone())).unwrap();
        let offsets = inline.cluster_offsets().to_vec();
        assert!(offsets.len() > BUFFERS, "{} clusters", offsets.len());
        let mut expected = Vec::new();
        let mut data = Vec::new();
        for &at in &offsets {
            let (_, blocks) = inline.read_cluster_into(at, &mut data).unwrap();
            expected.push(first_frames(&ClusterRead {
                data: data.clone(),
                blocks,
            }));
        }
        let mut ahead = MkvReader::open(Cursor::new(file)).unwrap();
        let mut got = Vec::new();
        for_each_cluster(
            &mut ahead,
            &offsets,
            |e| e,
            |i, c| {
                assert_eq!(i, got.len());
                got.push(first_frames(c));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_caller_that_stops_early_ends_the_reader_and_gets_its_error_back() {
        let file = recording(20);
        let mut reader = MkvReader::open(Cursor::new(file)).unwrap();
        let offsets = reader.cluster_offsets().to_vec();
        let mut calls = 0;
        let result = for_each_cluster(
            &mut reader,
            &offsets,
            |e| e.to_string(),
            |i, _| {
                calls += 1;
                if i == 1 {
                    Err("stopped".to_owned())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Err("stopped".to_owned()));
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_cluster_that_cannot_be_read_is_the_callers_error() {
        let file = recording(20);
        let mut reader = MkvReader::open(Cursor::new(file.clone())).unwrap();
        let mut offsets = reader.cluster_offsets().to_vec();
        offsets.insert(2, offsets[1] + 1);
        let mut calls = 0;
        let result = for_each_cluster(
            &mut reader,
            &offsets,
            |e| e.to_string(),
            |_, _| {
                calls += 1;
                Ok(())
            },
        );
        assert!(result.unwrap_err().contains("Cluster"));
        assert_eq!(calls, 2);
    }
}
