//! `k4sync`: the command-line entry point. It parses the arguments ([`args`]) and dispatches to
//! one module per subcommand; the work itself is done by `k4sync-host` and, for `agent` and `rig`, `k4sync-rig`.

use std::process::ExitCode;

mod agent;
mod align;
mod args;
mod demo;
mod depth;
mod export;
mod fault_control;
mod info;
mod list;
mod output;
mod process;
mod record;
mod repair;
mod rig;
mod rig_record;
mod rig_serve;
mod values;

use args::Invocation;

fn main() -> ExitCode {
    let invocation = match args::parse(std::env::args_os().skip(1)) {
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
        Invocation::Demo { json } => demo::run(json),
        Invocation::List { json, source } => list::run(json, &source),
        Invocation::Info { file, json } => info::run(&file, json),
        Invocation::Export { file, dir, json } => export::run(&file, &dir, json),
        Invocation::Repair { file, output } => repair::run(&file, output.as_deref()),
        Invocation::Record(args) => {
            process::pin_malloc_mmap_threshold();
            record::run(&args)
        }
        Invocation::Align(args) => align::run(&args),
        Invocation::Depth(args) => depth::run(&args),
        Invocation::Agent(options) => agent::run(*options),
        Invocation::Rig(args) => rig::run(*args),
    }
}
