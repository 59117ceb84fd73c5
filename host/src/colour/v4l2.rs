//! Memory-mapped V4L2 streaming with per-buffer sequence numbers and timestamps.
//!
//! `linuxvideo` negotiates formats and intervals for us, but its stream hides each buffer's
//! `sequence` and `timestamp`, which pair metadata buffers with frames and give the host
//! timestamp. So this module does the few streaming ioctls itself (REQBUFS, QUERYBUF, mmap,
//! QBUF, DQBUF, STREAMON/OFF, poll) on the file descriptor of a device `linuxvideo` has
//! configured. The `struct v4l2_buffer` layout below follows `<linux/videodev2.h>`; the ioctl
//! numbers use the generic `_IOWR` encoding (x86, ARM, AArch64, RISC-V).
#![expect(
    unsafe_code,
    reason = "the V4L2 streaming ioctls and mmap have no safe binding that exposes sequence and timestamp"
)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// V4L2_BUF_TYPE_VIDEO_CAPTURE.
pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// V4L2_BUF_TYPE_META_CAPTURE.
pub const BUF_TYPE_META_CAPTURE: u32 = 13;
/// V4L2_MEMORY_MMAP.
const MEMORY_MMAP: u32 = 1;
/// V4L2_BUF_FLAG_ERROR: the driver saw a transfer error while filling the buffer.
pub const BUF_FLAG_ERROR: u32 = 0x0000_0040;
/// V4L2_BUF_FLAG_TIMESTAMP_MASK and _MONOTONIC.
pub const BUF_FLAG_TIMESTAMP_MASK: u32 = 0x0000_e000;
pub const BUF_FLAG_TIMESTAMP_MONOTONIC: u32 = 0x0000_2000;

#[repr(C)]
#[derive(Clone, Copy)]
struct Timecode {
    type_: u32,
    flags: u32,
    frames: u8,
    seconds: u8,
    minutes: u8,
    hours: u8,
    userbits: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy)]
union BufferM {
    offset: u32,
    userptr: libc::c_ulong,
    planes: *mut libc::c_void,
    fd: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Buffer {
    index: u32,
    type_: u32,
    bytesused: u32,
    flags: u32,
    field: u32,
    timestamp: libc::timeval,
    timecode: Timecode,
    sequence: u32,
    memory: u32,
    m: BufferM,
    length: u32,
    reserved2: u32,
    request_fd: i32,
}

impl Buffer {
    fn new(type_: u32, index: u32) -> Self {
        // SAFETY: every field of this plain C struct (integers, a union of integers and a raw
        // pointer) is valid when all-zero.
        let mut buf: Buffer = unsafe { std::mem::zeroed() };
        buf.type_ = type_;
        buf.memory = MEMORY_MMAP;
        buf.index = index;
        buf
    }
}

#[repr(C)]
struct RequestBuffers {
    count: u32,
    type_: u32,
    memory: u32,
    capabilities: u32,
    flags: u8,
    reserved: [u8; 3],
}

const fn iowr(nr: u64, size: usize) -> u64 {
    (3 << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}

const fn iow(nr: u64, size: usize) -> u64 {
    (1 << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}

const VIDIOC_REQBUFS: u64 = iowr(8, std::mem::size_of::<RequestBuffers>());
const VIDIOC_QUERYBUF: u64 = iowr(9, std::mem::size_of::<Buffer>());
const VIDIOC_QBUF: u64 = iowr(15, std::mem::size_of::<Buffer>());
const VIDIOC_DQBUF: u64 = iowr(17, std::mem::size_of::<Buffer>());
const VIDIOC_STREAMON: u64 = iow(18, std::mem::size_of::<libc::c_int>());
const VIDIOC_STREAMOFF: u64 = iow(19, std::mem::size_of::<libc::c_int>());

/// Runs one ioctl whose argument is `*arg`, retrying on EINTR.
///
/// # Safety
/// `request` must be an ioctl that reads and/or writes exactly one `T` through its pointer.
unsafe fn ioctl<T>(fd: RawFd, request: u64, arg: &mut T) -> io::Result<()> {
    loop {
        // SAFETY: the caller guarantees `request` takes a pointer to one `T`; `arg` is a live,
        // exclusive reference to one.
        let ret = unsafe { libc::ioctl(fd, request as _, arg as *mut T) };
        if ret != -1 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// CLOCK_MONOTONIC now, in ns.
pub fn monotonic_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

/// A filled buffer the driver handed back: the only key to its bytes ([`MmapStream::data`])
/// and the only way to give it back ([`MmapStream::requeue`], which consumes it). Neither
/// `Copy` nor `Clone`, with private fields, so no safe call sequence reads a buffer after it
/// went back to the driver, or forges a key to one the driver still fills.
#[derive(Debug, PartialEq, Eq)]
pub struct Dequeued {
    stream: u64,
    index: u32,
    bytesused: u32,
    flags: u32,
    sequence: u32,
    timestamp_ns: u64,
}

impl Dequeued {
    pub const fn is_error(&self) -> bool {
        self.flags & BUF_FLAG_ERROR != 0
    }

    pub const fn has_monotonic_timestamp(&self) -> bool {
        self.flags & BUF_FLAG_TIMESTAMP_MASK == BUF_FLAG_TIMESTAMP_MONOTONIC
    }

    /// The driver's frame counter.
    pub const fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The buffer's timestamp in ns (CLOCK_MONOTONIC when
    /// [`has_monotonic_timestamp`](Self::has_monotonic_timestamp)).
    pub const fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }
}

/// Tells streams apart, so a key from one stream opens nothing in another.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(0);

/// A configured V4L2 device (owned, so its descriptor outlives the mappings) streaming into
/// memory-mapped buffers. Dropping it stops the stream and unmaps the buffers.
pub struct MmapStream<D: AsRawFd> {
    id: u64,
    maps: Vec<Mapping>,
    buf_type: u32,
    streaming: bool,
    device: D,
}

// SAFETY: the mappings are owned by this stream alone and only read through `&self` (or
// released through `&mut self`/drop), so moving the stream to another thread with its device
// is as sound as moving the device.
unsafe impl<D: AsRawFd + Send> Send for MmapStream<D> {}

impl<D: AsRawFd> MmapStream<D> {
    /// Requests `count` mmap buffers of `buf_type` on `device`, maps and queues them all.
    pub fn new(device: D, buf_type: u32, count: u32) -> io::Result<Self> {
        let mut stream = MmapStream {
            id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            maps: Vec::new(),
            buf_type,
            streaming: false,
            device,
        };
        let fd = stream.fd();
        let mut req = RequestBuffers {
            count,
            type_: buf_type,
            memory: MEMORY_MMAP,
            capabilities: 0,
            flags: 0,
            reserved: [0; 3],
        };
        // SAFETY: VIDIOC_REQBUFS takes one struct v4l2_requestbuffers.
        unsafe { ioctl(fd, VIDIOC_REQBUFS, &mut req)? };
        if req.count == 0 {
            return Err(io::Error::other("the driver granted no buffers"));
        }
        for index in 0..req.count {
            let mut buf = Buffer::new(buf_type, index);
            // SAFETY: VIDIOC_QUERYBUF takes one struct v4l2_buffer.
            unsafe { ioctl(fd, VIDIOC_QUERYBUF, &mut buf)? };
            let len = buf.length as usize;
            // SAFETY: for MMAP buffers QUERYBUF fills `m.offset`, the union member it wrote.
            let offset = unsafe { buf.m.offset };
            // SAFETY: maps `len` bytes of the driver's buffer at the offset it gave us; the
            // result is checked against MAP_FAILED before use.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    offset as libc::off_t,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            stream.maps.push(Mapping { ptr, len });
        }
        for index in 0..req.count {
            stream.queue(index)?;
        }
        Ok(stream)
    }

    fn fd(&self) -> RawFd {
        self.device.as_raw_fd()
    }

    pub fn stream_on(&mut self) -> io::Result<()> {
        let mut buf_type = self.buf_type as libc::c_int;
        // SAFETY: VIDIOC_STREAMON takes one int, the buffer type.
        unsafe { ioctl(self.fd(), VIDIOC_STREAMON, &mut buf_type)? };
        self.streaming = true;
        Ok(())
    }

    /// Waits up to `timeout` for a filled buffer; `Ok(false)` when none came.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: `pfd` is one valid pollfd and the count passed is 1.
            let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ret == -1 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if ret == 0 {
                return Ok(false);
            }
            if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
                && pfd.revents & libc::POLLIN == 0
            {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the V4L2 node reported an error (device gone or not streaming)",
                ));
            }
            return Ok(true);
        }
    }

    /// Dequeues one filled buffer (blocks if none is ready; call [`wait`](Self::wait) first).
    pub fn dequeue(&mut self) -> io::Result<Dequeued> {
        let mut buf = Buffer::new(self.buf_type, 0);
        // SAFETY: VIDIOC_DQBUF takes one struct v4l2_buffer.
        unsafe { ioctl(self.fd(), VIDIOC_DQBUF, &mut buf)? };
        let timestamp_ns = (buf.timestamp.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add((buf.timestamp.tv_usec as u64).saturating_mul(1000));
        Ok(Dequeued {
            stream: self.id,
            index: buf.index,
            bytesused: buf.bytesused,
            flags: buf.flags,
            sequence: buf.sequence,
            timestamp_ns,
        })
    }

    /// The used bytes of a dequeued buffer (empty for another stream's buffer).
    pub fn data(&self, buf: &Dequeued) -> &[u8] {
        let Some(map) = self
            .maps
            .get(buf.index as usize)
            .filter(|_| buf.stream == self.id)
        else {
            return &[];
        };
        let len = (buf.bytesused as usize).min(map.len);
        // SAFETY: the mapping is `map.len` readable bytes that live until `self` is dropped,
        // and `len` does not exceed it. The driver does not write a buffer between DQBUF and
        // QBUF; QBUF happens only in `requeue`, which consumes the `Dequeued` this slice
        // borrows, so the slice cannot outlive the buffer's time with us.
        unsafe { std::slice::from_raw_parts(map.ptr as *const u8, len) }
    }

    /// Hands a dequeued buffer back to the driver.
    pub fn requeue(&mut self, buf: Dequeued) -> io::Result<()> {
        if buf.stream != self.id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer dequeued from another V4L2 stream",
            ));
        }
        self.queue(buf.index)
    }

    fn queue(&mut self, index: u32) -> io::Result<()> {
        let mut buf = Buffer::new(self.buf_type, index);
        // SAFETY: VIDIOC_QBUF takes one struct v4l2_buffer.
        unsafe { ioctl(self.fd(), VIDIOC_QBUF, &mut buf) }
    }
}

impl<D: AsRawFd> Drop for MmapStream<D> {
    fn drop(&mut self) {
        let fd = self.fd();
        if self.streaming {
            let mut buf_type = self.buf_type as libc::c_int;
            // SAFETY: VIDIOC_STREAMOFF takes one int, the buffer type.
            if let Err(e) = unsafe { ioctl(fd, VIDIOC_STREAMOFF, &mut buf_type) } {
                log::warn!("VIDIOC_STREAMOFF failed: {e}");
            }
        }
        for map in self.maps.drain(..) {
            // SAFETY: `map` came from a successful mmap of `map.len` bytes and is unmapped once;
            // no slice into it outlives `&self`.
            unsafe { libc::munmap(map.ptr, map.len) };
        }
        let mut req = RequestBuffers {
            count: 0,
            type_: self.buf_type,
            memory: MEMORY_MMAP,
            capabilities: 0,
            flags: 0,
            reserved: [0; 3],
        };
        // SAFETY: VIDIOC_REQBUFS takes one struct v4l2_requestbuffers.
        let _ = unsafe { ioctl(fd, VIDIOC_REQBUFS, &mut req) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn ioctl_numbers_match_the_kernel_headers_on_64_bit() {
        assert_eq!(std::mem::size_of::<Buffer>(), 88);
        assert_eq!(VIDIOC_REQBUFS, 0xc014_5608);
        assert_eq!(VIDIOC_QUERYBUF, 0xc058_5609);
        assert_eq!(VIDIOC_QBUF, 0xc058_560f);
        assert_eq!(VIDIOC_DQBUF, 0xc058_5611);
        assert_eq!(VIDIOC_STREAMON, 0x4004_5612);
        assert_eq!(VIDIOC_STREAMOFF, 0x4004_5613);
    }

    /// Were `Dequeued` `Clone` (or `Copy`, which implies it), a duplicate kept past `requeue`
    /// would read a buffer the driver is filling: the old API's misuse. Then the call below
    /// has two candidate impls and this test no longer compiles.
    #[test]
    fn a_dequeued_buffer_cannot_be_duplicated() {
        trait Duplicable<Marker> {
            fn check() -> bool {
                true
            }
        }
        impl<T: ?Sized> Duplicable<()> for T {}
        struct IsClone;
        impl<T: Clone> Duplicable<IsClone> for T {}
        assert!(<Dequeued as Duplicable<_>>::check());
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_now_ns();
        let b = monotonic_now_ns();
        assert!(a > 0 && b >= a);
    }
}
