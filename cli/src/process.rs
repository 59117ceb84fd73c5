//! Process-wide settings the binary makes for itself; the libraries never change the process.

/// Frame buffers are megabytes each, allocated on the device's reader threads and freed on the
/// writer thread. glibc raises its mmap threshold to the largest mapping freed so far (up to
/// 32 MiB), after which frames come from per-thread arenas whose freed space is mostly kept:
/// the recorder's RSS then drifts upwards with fragmentation. Pinning the threshold at 1 MiB
/// makes every frame buffer its own mapping, returned to the kernel when freed; the buffers of
/// written frames are reused by the host's buffer recycling rather than mapped anew
/// (docs/performance.md, "Memory").
pub fn pin_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[expect(unsafe_code, reason = "mallopt has no safe binding")]
    // SAFETY: mallopt only tunes glibc's allocator; M_MMAP_THRESHOLD accepts any value up to
    // 32 MiB and has no precondition on the caller or on memory already allocated.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A flag that SIGINT (Ctrl-C) and SIGTERM set, so a long command can stop cleanly; a second
/// signal while stopping ends the process at once.
pub fn stop_flag_on_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>, String> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone());
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("could not install the signal handler: {e}"))?;
    }
    Ok(stop)
}
