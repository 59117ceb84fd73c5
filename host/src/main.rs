//! `k4sync`: the command-line entry point; it only dispatches to library functions.

fn main() {
    println!("k4sync {}", env!("CARGO_PKG_VERSION"));
}
