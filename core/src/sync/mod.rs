//! Decisions over one device and over a rig, as pure functions and state machines: events and
//! time go in, decisions come out; nothing here reads a clock or touches I/O (reference §6–§8,
//! §10).
//!
//! * [`config`] — `DeviceConfig`, its validation in the SDK's rule order, and the command
//!   sequence a validated configuration turns into, with tick-truncated effective delays.
//! * [`sequence`] — the depth MCU's depth start and stop command sequences.
//! * [`jack`] — the sync-jack state machine of one device over a session.
//! * [`plan`] — rig topology checks, depth-laser interleaving and the start order.
//! * [`pairing`] — the SDK's colour/depth capture pairing queues.
//! * [`align`] — rig-wide frame sets across devices, with health events.

pub mod align;
pub mod config;
pub mod jack;
pub mod pairing;
pub mod plan;
pub mod sequence;
