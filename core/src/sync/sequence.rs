//! The depth MCU's command sequences for a depth start and stop (reference §3.4): protocol
//! ordering over the packets of [`wire`](crate::wire), kept apart from their byte layout so
//! that `wire::command` and `wire::depth_mcu` do not depend on each other. The host sends these
//! in order; the emulator's rig replays them.

use crate::types::{Fps, SensorMode};
use crate::wire::command::Command;
use crate::wire::depth_mcu::NvTag;

/// Longest depth start sequence: mode, NV read, fps, depth start, stream start.
pub const DEPTH_START_MAX_LEN: usize = 5;

/// The depth MCU commands of a depth start, in order (reference §3.4). `need_nv` adds the
/// NV_DATA_GET tag 2 read, which the SDK repeats only until it has succeeded once per open.
#[inline]
pub fn depth_start_sequence(
    mode: SensorMode,
    fps: Fps,
    need_nv: bool,
) -> heapless::Vec<Command, DEPTH_START_MAX_LEN> {
    let nv = Command::NvDataGet {
        tag: NvTag::IrSensorCalibration.raw(),
    };
    let steps = [
        Some(Command::DepthModeSet { mode }),
        need_nv.then_some(nv),
        Some(Command::DepthFpsSet { fps }),
        Some(Command::DepthStart),
        Some(Command::DepthStreamStart),
    ];
    steps.into_iter().flatten().collect()
}

/// The depth MCU commands of a depth stop (also sent "quietly" at open): stream stop, then
/// depth stop; the SDK never fails on their status.
#[inline]
pub fn depth_stop_sequence() -> heapless::Vec<Command, 2> {
    [Command::DepthStreamStop, Command::DepthStop]
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_start_sends_mode_nv_fps_start_stream_start_in_that_order() {
        let first = depth_start_sequence(SensorMode::LongThrowNative, Fps::Fps30, true);
        assert_eq!(
            first.as_slice(),
            [
                Command::DepthModeSet {
                    mode: SensorMode::LongThrowNative
                },
                Command::NvDataGet { tag: 2 },
                Command::DepthFpsSet { fps: Fps::Fps30 },
                Command::DepthStart,
                Command::DepthStreamStart,
            ]
        );
        let later = depth_start_sequence(SensorMode::Megapixel, Fps::Fps15, false);
        assert_eq!(later.len(), 4);
        assert!(!later.iter().any(|c| matches!(c, Command::NvDataGet { .. })));
        assert_eq!(
            depth_stop_sequence().as_slice(),
            [Command::DepthStreamStop, Command::DepthStop]
        );
    }
}
