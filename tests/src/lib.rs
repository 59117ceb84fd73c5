//! End-to-end tests of k4sync: the integration tests live in `tests/`; this library holds
//! helpers they share, and those of the `k4sync` command line's tests: the test doubles the
//! recorder is tested with.

use std::io::{self, Seek, SeekFrom, Write};

use k4sync_host::Durable;

/// A sink that behaves like a disk with `capacity` bytes: writes that would grow the file past
/// it write what fits and then fail with `StorageFull` (ENOSPC), as a full file system does.
/// Makes disk-full testable without root.
pub struct LimitedSink<W> {
    inner: W,
    capacity: u64,
}

impl<W> LimitedSink<W> {
    pub fn new(inner: W, capacity: u64) -> Self {
        LimitedSink { inner, capacity }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write + Seek> Write for LimitedSink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pos = self.inner.stream_position()?;
        let room = self.capacity.saturating_sub(pos);
        if room == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (os error 28)",
            ));
        }
        let n = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
        self.inner.write(buf.get(..n).unwrap_or(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for LimitedSink<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl<W: Durable> Durable for LimitedSink<W> {
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}
