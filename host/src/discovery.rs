//! Finding cameras and describing them: what `k4sync list` shows (reference §1.3–1.4, §3.2,
//! §4.3).
//!
//! Each camera is the pair of its depth and colour USB functions ([`scan`]); when both can
//! be opened, the depth MCU is asked for the product serial (0x115) and firmware versions
//! (0x201, after the readiness poll) and the colour MCU for the sync jack state
//! (0x80000006). A camera that cannot be opened is still listed, with the reason.
//!
//! The absence of a USB subsystem is detected from sysfs, whose root `K4SYNC_SYSFS_ROOT`
//! may move (tests point it at an empty directory).

use std::path::PathBuf;

use k4sync_core::wire::colour_mcu::JackState;
use k4sync_core::wire::depth_mcu::ComponentVersions;

use crate::command::CommandChannel;
use crate::error::Error;
#[cfg(feature = "emulator")]
use crate::transport::emulated::{EmulatedRig, Pacing};
use crate::transport::nusb::{
    scan, usb_subsystem_present, CameraFunctions, NusbTransport, PairedBy,
};
use crate::transport::Transport;

/// Environment variable that moves the sysfs root used to detect the USB subsystem.
pub const SYSFS_ROOT_ENV: &str = "K4SYNC_SYSFS_ROOT";

/// Where cameras come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Real cameras on the USB bus.
    Usb,
    /// `cameras` in-process emulated cameras (`--emulate N`; feature `emulator`).
    #[cfg(feature = "emulator")]
    Emulated { cameras: usize },
}

/// What the device itself reports, once both MCUs could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    pub product_serial: String,
    pub firmware: ComponentVersions,
    pub jack: JackState,
}

/// One camera in the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraReport {
    /// Colour USB serial (= product serial on a real camera).
    pub usb_serial: Option<String>,
    pub speed: Option<String>,
    /// Bus path of the depth function, else of the colour function.
    pub bus_path: Option<String>,
    pub paired_by: PairedBy,
    pub facts: Option<DeviceFacts>,
    /// Why the device could not be queried.
    pub problem: Option<String>,
}

impl CameraReport {
    /// The best serial known: the product serial, else the USB serial.
    pub fn serial(&self) -> Option<&str> {
        self.facts
            .as_ref()
            .map(|f| f.product_serial.as_str())
            .or(self.usb_serial.as_deref())
    }
}

/// The sysfs root: `$K4SYNC_SYSFS_ROOT`, else `/sys`.
pub fn sysfs_root() -> PathBuf {
    std::env::var_os(SYSFS_ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys"))
}

/// Fails with [`Error::NoUsbSubsystem`] when the kernel shows no USB bus.
pub fn check_usb_subsystem() -> Result<(), Error> {
    let root = sysfs_root();
    if usb_subsystem_present(&root) {
        Ok(())
    } else {
        Err(Error::NoUsbSubsystem {
            detail: format!("{} does not exist", root.join("bus/usb/devices").display()),
        })
    }
}

/// Lists the cameras of `source`. An empty list is not an error.
pub fn list(source: &Source) -> Result<Vec<CameraReport>, Error> {
    match source {
        Source::Usb => list_usb(),
        #[cfg(feature = "emulator")]
        Source::Emulated { cameras } => Ok(list_emulated(*cameras)),
    }
}

/// `cameras` emulated cameras (`emu:0` …), queried through the same [`query`] as USB ones.
/// Their bus path is their selector.
#[cfg(feature = "emulator")]
fn list_emulated(cameras: usize) -> Vec<CameraReport> {
    let count = u32::try_from(cameras).unwrap_or(u32::MAX);
    let rig = EmulatedRig::standalone(count, Pacing::Virtual);
    (0..rig.len())
        .map(|i| {
            let transport = rig.transport(i);
            let sleeper = transport.sleeper();
            let mut report = CameraReport {
                usb_serial: Some(transport.usb_serial().to_string()),
                speed: Some(speed_name(nusb::Speed::Super).to_string()),
                bus_path: Some(format!("emu:{i}")),
                paired_by: PairedBy::ContainerId,
                facts: None,
                problem: None,
            };
            match query(&mut CommandChannel::new(transport).with_sleep(sleeper)) {
                Ok(facts) => report.facts = Some(facts),
                Err(e) => report.problem = Some(e.to_string()),
            }
            report
        })
        .collect()
}

fn list_usb() -> Result<Vec<CameraReport>, Error> {
    check_usb_subsystem()?;
    Ok(scan()?.iter().map(report_usb).collect())
}

fn report_usb(camera: &CameraFunctions) -> CameraReport {
    let main = camera.depth.as_ref().or(camera.colour.as_ref());
    let mut report = CameraReport {
        usb_serial: camera.usb_serial().map(str::to_string),
        speed: main
            .and_then(|f| f.speed)
            .map(|s| speed_name(s).to_string()),
        bus_path: main.map(|f| f.bus_path()),
        paired_by: camera.paired_by,
        facts: None,
        problem: None,
    };
    if camera.depth.is_none() || camera.colour.is_none() {
        let missing = if camera.depth.is_none() {
            "depth function (045e:097c)"
        } else {
            "colour function (045e:097d)"
        };
        report.problem = Some(format!(
            "its {missing} is not on the bus; check the camera's power supply and that it is on \
             a USB 3 port"
        ));
        return report;
    }
    match NusbTransport::open_functions(camera).and_then(|t| query(&mut CommandChannel::new(t))) {
        Ok(facts) => report.facts = Some(facts),
        Err(e) => report.problem = Some(e.to_string()),
    }
    report
}

/// Asks a camera for its product serial, firmware versions and jack state over any
/// transport (the emulated source uses this too).
pub fn query<T: Transport>(channel: &mut CommandChannel<T>) -> Result<DeviceFacts, Error> {
    let product_serial = channel.read_serial()?;
    let firmware = channel.read_versions()?;
    let jack = channel.read_jack_state()?;
    Ok(DeviceFacts {
        product_serial,
        firmware,
        jack,
    })
}

fn speed_name(speed: nusb::Speed) -> &'static str {
    match speed {
        nusb::Speed::Low => "low (1.5 Mbit/s)",
        nusb::Speed::Full => "full (12 Mbit/s)",
        nusb::Speed::High => "high (480 Mbit/s) — needs a USB 3 port",
        nusb::Speed::Super => "super (5 Gbit/s)",
        nusb::Speed::SuperPlus => "super+ (10 Gbit/s)",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "emulator")]
    #[test]
    fn emulated_listing_queries_each_camera_through_the_command_channel() {
        let reports = list(&Source::Emulated { cameras: 3 }).unwrap();
        assert_eq!(reports.len(), 3);
        for (i, r) in reports.iter().enumerate() {
            let facts = r.facts.as_ref().expect("an emulated camera answers");
            assert_eq!(Some(facts.product_serial.as_str()), r.usb_serial.as_deref());
            assert_eq!(r.bus_path.as_deref(), Some(format!("emu:{i}").as_str()));
            assert!(r.problem.is_none());
        }
        assert_ne!(reports[0].serial(), reports[1].serial());
    }
}
