//! A recording's pages leave the page cache once they are durable: written once and read
//! later, they would otherwise fill the memory within minutes of a heavy recording (206 MB/s:
//! 24 GB in two), and the file system then works under memory pressure (docs/performance.md).
//! Checked with util-linux's `fincore` on a file in the target directory (a disk, not tmpfs,
//! which keeps every page).

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k4sync_host::SyncBehind;

fn resident_bytes(path: &Path) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("fincore (util-linux) is needed for this test: {e}"));
    assert!(out.status.success(), "fincore: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_durable_range_is_dropped_from_the_page_cache_and_the_rest_stays() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("recording.mkv");
    let mut file =
        SyncBehind::with_durable_every(File::create(&path).unwrap(), Duration::ZERO).unwrap();
    let block = vec![0x5a; 1 << 20];
    for _ in 0..16 {
        file.write_all(&block).unwrap();
    }
    assert_eq!(
        resident_bytes(&path),
        16 << 20,
        "written pages start in the cache"
    );
    file.request_sync().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while file.syncs_completed() == 0 {
        assert!(
            Instant::now() < deadline,
            "the background sync never completed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    file.write_all(&block[..1000]).unwrap();
    assert_eq!(
        resident_bytes(&path),
        4096,
        "only the page written after the sync is cached"
    );
    file.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), (16 << 20) + 1000);
}
