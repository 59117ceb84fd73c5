//! `k4sync list [--json]`: the cameras on the bus (see [`k4sync_host::discovery`]).
//!
//! Exit status: 0 when enumeration worked (also with no camera), 1 when it could not run (no
//! USB subsystem) or when a camera was found but could not be queried (its problem, e.g. the
//! udev rule to install, is printed with it).

use std::process::ExitCode;

use k4sync_host::discovery::{self, Source};

pub fn run(json: bool, source: &Source) -> ExitCode {
    let reports = match discovery::list(source) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("k4sync list: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", discovery::to_json(&reports));
    } else {
        print!("{}", discovery::to_text(&reports));
    }
    let problems: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.problem.as_deref())
        .collect();
    for problem in &problems {
        eprintln!("k4sync list: {problem}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
