//! `k4sync`: the command-line entry point; it only dispatches to library functions.

use std::process::ExitCode;

const USAGE: &str = "usage: k4sync demo [--json]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["demo"] => demo(false),
        ["demo", "--json"] => demo(true),
        ["--version"] | ["-V"] => {
            println!("k4sync {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("k4sync {}\n{USAGE}", env!("CARGO_PKG_VERSION"));
            ExitCode::from(2)
        }
    }
}

fn demo(json: bool) -> ExitCode {
    let report = k4sync_host::demo::run_demo();
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
