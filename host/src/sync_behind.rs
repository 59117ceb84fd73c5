//! A recording file whose periodic `fdatasync` runs on a helper thread (docs/recording.md,
//! "Durability").
//!
//! Between two `fdatasync`s (at most one per [`DURABLE_EVERY`]), a request only starts the
//! writeback of what is dirty (`sync_file_range(SYNC_FILE_RANGE_WRITE)` on Linux): the disk keeps
//! writing without a journal commit and a device cache flush each time, which on a fast disk
//! cost more than the writing itself.
//!
//! The writer asks for durability every flush interval. Done inline, each `fdatasync` stops
//! the writer until the disk has taken everything written so far, and meanwhile nothing new
//! reaches the page cache: the disk idles while the writer fills the cache and the writer idles
//! while the disk drains it. [`SyncBehind`] starts the sync on a second descriptor of the same
//! file and returns at once, so writing and writeback overlap. A sync requested while one is
//! running is folded into the next; an error of a background sync is returned by the next
//! request. [`SyncBehind::finish`] waits for the running sync and then syncs once more,
//! blocking, so a finished recording is entirely on the disk.
//!
//! What an `fdatasync` made durable then leaves the page cache (`posix_fadvise(DONTNEED)`): a
//! recording is read later if at all, and kept cached it would take all free memory.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest time between two `fdatasync`s while requests keep coming.
pub const DURABLE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    requested: bool,
    busy: bool,
    closed: bool,
    error: Option<io::Error>,
    completed: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A file written on the caller's thread and synced on a helper thread.
pub struct SyncBehind {
    file: File,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SyncBehind {
    /// Wraps `file`; its syncs run on a second descriptor (`try_clone`) of the same file.
    pub fn new(file: File) -> io::Result<Self> {
        Self::with_durable_every(file, DURABLE_EVERY)
    }

    /// [`Self::new`] with `durable_every` between two `fdatasync`s instead of [`DURABLE_EVERY`];
    /// `Duration::ZERO` makes every background sync an `fdatasync`.
    pub fn with_durable_every(file: File, durable_every: Duration) -> io::Result<Self> {
        let syncer = file.try_clone()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("k4sync-fdatasync".to_owned())
            .spawn(move || sync_loop(&syncer, &thread_shared, durable_every))?;
        Ok(SyncBehind {
            file,
            shared,
            thread: Some(thread),
        })
    }

    /// Starts a sync of everything written so far unless one is already running or asked
    /// for; returns the error of a background sync that failed since the last call.
    pub fn request_sync(&mut self) -> io::Result<()> {
        let mut st = self.shared.lock();
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if !st.busy && !st.requested {
            st.requested = true;
            self.shared.changed.notify_all();
        }
        Ok(())
    }

    /// Background syncs that have completed.
    pub fn syncs_completed(&self) -> u64 {
        self.shared.lock().completed
    }

    /// Waits for the background sync, then syncs everything written, on this thread.
    pub fn finish(&mut self) -> io::Result<()> {
        let mut st = self.shared.lock();
        while st.busy || st.requested {
            st = self.shared.wait(st);
        }
        let background = st.error.take();
        drop(st);
        self.file.sync_data()?;
        background.map_or(Ok(()), Err)
    }
}

fn sync_loop(file: &File, shared: &Shared, durable_every: Duration) {
    let mut last_durable: Option<Instant> = None;
    let mut st = shared.lock();
    loop {
        while !st.requested && !st.closed {
            st = shared.wait(st);
        }
        if !st.requested {
            return;
        }
        st.requested = false;
        st.busy = true;
        drop(st);
        let result = if last_durable.is_some_and(|t| t.elapsed() < durable_every) {
            start_writeback(file)
        } else {
            last_durable = Some(Instant::now());
            sync_and_uncache(file)
        };
        st = shared.lock();
        st.busy = false;
        st.completed += 1;
        if let Err(e) = result {
            st.error.get_or_insert(e);
        }
        shared.changed.notify_all();
    }
}

/// `fdatasync`s `file`, then drops from the page cache what that made durable: a recording is
/// written once and read later, and its cached pages would otherwise fill the memory within
/// minutes, after which the file system's block allocator works under memory pressure (its
/// bitmaps evicted and read back from the disk while the writer waits; docs/performance.md).
fn sync_and_uncache(file: &File) -> io::Result<()> {
    let durable_end = file.metadata()?.len();
    file.sync_data()?;
    drop_cached(file, durable_end);
    Ok(())
}

/// Asks the kernel to evict the clean cached pages of `file` below `end` (whole pages only, so
/// the page the writer is filling stays). Advice only: its failure loses nothing.
#[cfg(target_os = "linux")]
fn drop_cached(file: &File, end: u64) {
    use std::os::fd::AsRawFd;
    const PAGE: u64 = 4096;
    let Ok(len @ 1..) = libc::off_t::try_from(end - end % PAGE) else {
        return;
    };
    #[expect(unsafe_code, reason = "posix_fadvise has no safe binding")]
    // SAFETY: posix_fadvise only reads its integer arguments; the descriptor belongs to `file`,
    // which outlives the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, len, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_cached(_file: &File, _end: u64) {}

/// Starts writing back every dirty page of `file` without waiting for it or flushing the
/// device's cache.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    #[expect(unsafe_code, reason = "sync_file_range has no safe binding")]
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor belongs to
    // `file`, which outlives the call.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File) -> io::Result<()> {
    Ok(())
}

impl Drop for SyncBehind {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for SyncBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for SyncBehind {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn requested_syncs_complete_in_the_background_and_finish_leaves_every_byte_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = SyncBehind::new(File::create(&path).unwrap()).unwrap();
        for i in 0..50u8 {
            w.write_all(&[i; 4096]).unwrap();
            w.request_sync().unwrap();
        }
        w.finish().unwrap();
        assert!(w.syncs_completed() >= 1);
        drop(w);
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 50 * 4096);
        assert!(back
            .chunks(4096)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b as usize == i)));
    }

    #[test]
    fn a_failed_background_sync_is_reported_by_the_next_request() {
        let mut w = SyncBehind::new(tempfile::tempfile().unwrap()).unwrap();
        w.shared.lock().error = Some(io::Error::other("EIO from the disk"));
        let err = w.request_sync().unwrap_err();
        assert_eq!(err.to_string(), "EIO from the disk");
        assert!(w.request_sync().is_ok());
    }

    #[test]
    fn finish_waits_for_the_running_sync_and_reports_its_error() {
        let mut w = SyncBehind::new(tempfile::tempfile().unwrap()).unwrap();
        w.shared.lock().error = Some(io::Error::other("late EIO"));
        assert_eq!(w.finish().unwrap_err().to_string(), "late EIO");
    }
}
