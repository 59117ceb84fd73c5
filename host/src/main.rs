//! `k4sync`: the command-line entry point; it only dispatches to library functions.

use std::process::ExitCode;

use k4sync_host::cli::{self, Invocation};

fn main() -> ExitCode {
    let invocation = match cli::parse(std::env::args_os().skip(1)) {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match invocation {
        Invocation::Demo { json } => demo(json),
        Invocation::List { json, source } => cli::list::run(json, &source),
        Invocation::Info { file, json } => cli::info::run(&file, json),
        Invocation::Export { file, dir, json } => cli::export::run(&file, &dir, json),
        Invocation::Repair { file, output } => cli::repair::run(&file, output.as_deref()),
        Invocation::Record(args) => cli::record::run(&args),
        Invocation::Depth(args) => cli::depth::run(&args),
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
