//! Writes every fuzz target's seeds (`k4sync_fuzz::seeds`) into `DIR/<target>/gen-<name>`,
//! replacing earlier `gen-*` files; `scripts/fuzz.sh` runs it before fuzzing. The names are
//! ignored by git: the seeds are made anew from the codec, never committed.
//!
//! Usage: cargo run --manifest-path fuzz/Cargo.toml --example seeds -- DIR

use std::path::{Path, PathBuf};
use std::{env, fs, io};

fn clear_generated(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let generated = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("gen-"));
        if generated {
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let root = env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("usage: seeds DIR"))?;
    let seeds = k4sync_fuzz::seeds::all();
    let mut cleared = Vec::new();
    for seed in &seeds {
        let dir = root.join(seed.target);
        if !cleared.contains(&seed.target) {
            fs::create_dir_all(&dir)?;
            clear_generated(&dir)?;
            cleared.push(seed.target);
        }
        fs::write(dir.join(format!("gen-{}", seed.name)), &seed.bytes)?;
    }
    println!(
        "{} seeds for {} targets in {}",
        seeds.len(),
        cleared.len(),
        root.display()
    );
    Ok(())
}
