//! A byte-exact model of one Azure Kinect DK as the host sees it over USB (reference §1–§4,
//! §6, §7, §10.4), for testing the host without hardware.
//!
//! Sans-IO like the rest of the core: the caller moves bytes and time in, the device moves
//! bytes out, and nothing here reads a clock, allocates or blocks.
//!
//! * [`Device`] — both MCUs. Per MCU: [`Device::on_command_out`] (command packets, and the
//!   DOWNLOAD_FIRMWARE write phase), [`Device::read_data`] (the read data phase, truncated
//!   to payload_size), [`Device::read_response`] (the 16-byte status with the echoed
//!   transaction id). The colour camera is started and stopped with
//!   [`Device::start_colour`] / [`Device::stop_colour`], the way a UVC transport would.
//! * [`DeviceClock`] — the 90 kHz clock, driven by host time, with oscillator drift.
//! * Pollers — [`Device::poll_depth_frame`], [`Device::poll_colour_frame`],
//!   [`Device::poll_imu_packet`], [`Device::poll_sync_out`], and [`Device::on_sync_in_pulse`]
//!   for the sync cable; [`colour_payload_header`] frames colour images as UVC payloads.
//! * [`Fault`] — scripted stalls, command timeouts, short/oversized/dropped frames, unplug.
//! * [`EmuRig`] — `N` devices on one [`sim::Rig`](crate::sim::Rig): the simulator's events
//!   ([`Device::on_sim_event`]) decide every frame's tick, delivery and loss and when scripted
//!   faults strike; [`Device::poll_depth_frame_tail`] reads a frame's trailer cheaply.
//!
//! Behaviour, stances on the reference's open questions and fault scripting are described in
//! `docs/emulator.md`.

mod calibration;
mod clock;
mod device;
mod fault;
mod follow;
mod jpeg;
mod params;
pub mod rig;
mod sink;
mod streams;

pub use calibration::write_calibration_json;
pub use clock::DeviceClock;
pub use device::{
    ColourConfig, ColourStartError, DepthState, Device, DEFAULT_SYS_CONFIG, UPDATE_POLLS_TO_SUCCESS,
};
pub use fault::{Endpoint, Fault, Stream, TransferError};
pub use follow::host_ns;
pub use jpeg::{mjpg_frame_len, write_mjpg_frame, GREY_16X16, JPEG_SIZE, MJPG_BYTES_PER_PIXEL};
pub use params::{DeviceParams, DEFAULT_VERSIONS, NV_BLOB_LEN};
pub use rig::{device_seed, EmuRig, RigStartError};
pub use streams::{
    colour_payload_header, exposure_centre_shift_ticks, FrameInfo, ACCEL_SENSITIVITY,
    AUTO_EXPOSURE_USEC, COLOUR_METADATA_LEN, FRAME_BACKLOG, GYRO_SENSITIVITY, IMU_BACKLOG,
    IMU_SAMPLES_PER_PACKET, IMU_SAMPLE_TICKS, ONE_G_RAW,
};
