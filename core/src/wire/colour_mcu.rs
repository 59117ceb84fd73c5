//! Colour/IMU MCU payloads: the packed SET_SYS_CFG sync configuration and the jack state
//! (reference §4.2, §4.3).
//!
//! (The codec is being written; the types below are the agreed vocabulary.)

use crate::types::WiredSyncMode;

/// SET_SYS_CFG command data (13 bytes, packed): sync role, delays in ticks, privacy LED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SysConfig {
    pub mode: WiredSyncMode,
    /// Capture delay after the sync-in pulse, 90 kHz ticks.
    pub subordinate_delay_ticks: u32,
    /// Depth capture offset relative to colour, 90 kHz ticks (negative = depth first).
    pub depth_delay_ticks: i32,
    /// Privacy (streaming) LED on while streaming.
    pub privacy_led: bool,
}

/// GET_JACK_STATE result: which sync jacks have a plug in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JackState {
    pub sync_in: bool,
    pub sync_out: bool,
}
