//! `k4sync repair FILE [-o OUT]`: rewrites a recording that was never finalized or was cut short
//! into the finalized layout ([`k4sync_host::mkv::repair`]). Without `-o` FILE is replaced atomically;
//! on any failure nothing is replaced and the exit status is 1.

use std::path::Path;
use std::process::ExitCode;

use k4sync_host::mkv::repair::{repair_file, StartOffset};

pub fn run(file: &Path, output: Option<&Path>) -> ExitCode {
    let out = output.unwrap_or(file);
    match repair_file(file, out) {
        Ok(r) => {
            match &r.damage {
                Some(d) => println!(
                    "{}: damaged at byte {} ({}); kept {} complete cluster(s), dropped the last {} bytes",
                    file.display(),
                    d.offset,
                    d.what,
                    r.clusters,
                    r.dropped_bytes
                ),
                None => println!(
                    "{}: kept all {} cluster(s), dropped {} bytes after them",
                    file.display(),
                    r.clusters,
                    r.dropped_bytes
                ),
            }
            match r.start_offset {
                StartOffset::Kept => {}
                StartOffset::Recovered { nsec } => println!(
                    "K4A_START_OFFSET_NS was missing; recovered {nsec} from the first IMU sample"
                ),
                StartOffset::Missing => println!(
                    "warning: K4A_START_OFFSET_NS is missing and there is no IMU sample to recover \
                     it from; device timestamps will read as file times"
                ),
            }
            println!(
                "wrote {} ({} bytes, duration {} µs)",
                out.display(),
                r.output_bytes,
                r.duration_usec
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "k4sync repair: {}: {e}; {} was not changed",
                file.display(),
                out.display()
            );
            ExitCode::FAILURE
        }
    }
}
