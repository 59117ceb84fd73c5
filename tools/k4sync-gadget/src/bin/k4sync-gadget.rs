//! `k4sync-gadget`: serves one emulated camera as two USB gadgets over FunctionFS
//! (Linux). Control lines on stdin, event lines on stdout (see
//! `k4sync_gadget::serve`).
//!
//! Usage: `k4sync-gadget [--seed N] [--udc DEPTH_UDC COLOUR_UDC] [--unpaced]`
//!
//! `--unpaced` sends raw depth as fast as the host takes it (control line `pace on|off`
//! switches at run time); the `depth-sent` event line at `stats` and at `quit` reports the
//! gadget's own send rate.

use std::process::ExitCode;

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    use k4sync_gadget::serve::{run, GadgetConfig};
    let mut seed = 1;
    let mut udcs = None;
    let mut unpaced = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--unpaced" {
            unpaced = true;
            continue;
        }
        match (arg.as_str(), args.next()) {
            ("--seed", Some(value)) => match value.parse() {
                Ok(value) => seed = value,
                Err(_) => return usage(&format!("--seed takes a number, not {value}")),
            },
            ("--udc", Some(depth)) => match args.next() {
                Some(colour) => udcs = Some([depth, colour]),
                None => return usage("--udc takes two UDC names"),
            },
            (other, _) => return usage(&format!("unexpected argument {other}")),
        }
    }
    let mut config = GadgetConfig::standard(seed);
    if let Some(udcs) = udcs {
        config.udcs = udcs;
    }
    config.unpaced = unpaced;
    match run(
        &config,
        std::io::stdin().lock(),
        Box::new(std::io::stdout()),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("k4sync-gadget: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    usage("the USB gadget stack (configfs + FunctionFS) exists only on Linux")
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "k4sync-gadget: {problem}\nusage: k4sync-gadget [--seed N] [--udc DEPTH_UDC COLOUR_UDC] [--unpaced]"
    );
    ExitCode::from(2)
}
