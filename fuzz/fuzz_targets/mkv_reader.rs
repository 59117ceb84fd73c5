//! The Matroska reader on arbitrary files: strict open, readout, salvage open and a walk of
//! every cluster. Any input may be refused; none may panic, hang or exhaust memory.
#![no_main]

use std::io::Cursor;

use k4sync_host::mkv::MkvReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = MkvReader::open(Cursor::new(data)) {
        let _ = reader.readout();
    }
    if let Ok(mut reader) = MkvReader::open_salvage(Cursor::new(data)) {
        for cluster in reader.clusters().take(10_000) {
            if cluster.is_err() {
                break;
            }
        }
    }
});
