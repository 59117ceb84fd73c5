//! What the fuzz targets and their seed generator share: the layout of a target's input when
//! its harness builds structure around the fuzzed bytes (a raw frame around a depth trailer,
//! a sealed CRC around a firmware package, payloads split out of a UVC stream), and the seeds
//! themselves — valid packets and recordings made by the codec's and the writer's own
//! encoders (`seeds`, written by `examples/seeds.rs`). Keeping both in one crate means every
//! seed has exactly the layout its harness reads, so mutation starts past the magic, length
//! and CRC gates instead of dying at them.

pub mod depth_trailer;
pub mod firmware;
pub mod reprs;
pub mod seeds;
pub mod uvc;
