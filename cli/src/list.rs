//! `k4sync list [--json]`: the cameras on the bus (see [`k4sync_host::list`]).
//!
//! Exit status: 0 when enumeration worked (also with no camera), 1 when it could not run (no
//! USB subsystem) or when a camera was found but could not be queried (its problem, e.g. the
//! udev rule to install, is printed with it).

use std::process::ExitCode;

use k4sync_host::transport::nusb::PairedBy;
use k4sync_host::{CameraReport, Source};

pub fn run(json: bool, source: &Source) -> ExitCode {
    let reports = match k4sync_host::list(source) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("k4sync list: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", to_json(&reports));
    } else {
        print!("{}", to_text(&reports));
    }
    let problems: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.problem.as_deref())
        .collect();
    for problem in &problems {
        eprintln!("k4sync list: {problem}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn paired_by_name(by: PairedBy) -> &'static str {
    match by {
        PairedBy::ContainerId => "container-id",
        PairedBy::ParentHub => "parent-hub",
        PairedBy::UsbSerial => "usb-serial",
        PairedBy::Unpaired => "unpaired",
    }
}

/// The listing as text, one block per camera.
pub fn to_text(reports: &[CameraReport]) -> String {
    if reports.is_empty() {
        return "no Azure Kinect found\n".to_string();
    }
    let mut out = String::new();
    for (i, r) in reports.iter().enumerate() {
        out += &format!("camera {i}: {}\n", r.serial().unwrap_or("(serial unknown)"));
        out += &format!("  bus path:  {}\n", r.bus_path.as_deref().unwrap_or("?"));
        out += &format!("  speed:     {}\n", r.speed.as_deref().unwrap_or("?"));
        out += &format!("  paired by: {}\n", paired_by_name(r.paired_by));
        if let Some(f) = &r.facts {
            let v = &f.firmware;
            out += &format!(
                "  firmware:  rgb {} depth {} audio {} depth-config {}.{}\n",
                v.rgb, v.depth, v.audio, v.depth_sensor_config.major, v.depth_sensor_config.minor
            );
            out += &format!(
                "  sync jacks: in {}, out {}\n",
                plugged(f.jack.sync_in),
                plugged(f.jack.sync_out)
            );
        }
        if let Some(p) = &r.problem {
            out += &format!("  problem:   {p}\n");
        }
    }
    out
}

fn plugged(present: bool) -> &'static str {
    if present {
        "plugged"
    } else {
        "empty"
    }
}

/// The listing as one JSON array.
pub fn to_json(reports: &[CameraReport]) -> String {
    let items: Vec<String> = reports
        .iter()
        .map(|r| {
            let facts = match &r.facts {
                Some(f) => {
                    let v = &f.firmware;
                    format!(
                        "\"product_serial\":{},\"firmware\":{{\"rgb\":\"{}\",\"depth\":\"{}\",\
                         \"audio\":\"{}\",\"depth_sensor_config\":\"{}.{}\"}},\
                         \"jack\":{{\"sync_in\":{},\"sync_out\":{}}}",
                        string(Some(&f.product_serial)),
                        v.rgb,
                        v.depth,
                        v.audio,
                        v.depth_sensor_config.major,
                        v.depth_sensor_config.minor,
                        f.jack.sync_in,
                        f.jack.sync_out
                    )
                }
                None => "\"product_serial\":null,\"firmware\":null,\"jack\":null".to_string(),
            };
            format!(
                "{{\"serial\":{},\"usb_serial\":{},\"speed\":{},\"bus_path\":{},\
                 \"paired_by\":\"{}\",{facts},\"problem\":{}}}",
                string(r.serial()),
                string(r.usb_serial.as_deref()),
                string(r.speed.as_deref()),
                string(r.bus_path.as_deref()),
                paired_by_name(r.paired_by),
                string(r.problem.as_deref())
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn string(value: Option<&str>) -> String {
    match value {
        None => "null".to_string(),
        Some(s) => {
            let escaped: String = s
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k4sync_core::wire::colour_mcu::JackState;
    use k4sync_core::wire::depth_mcu::{
        BuildConfig, ComponentVersions, FirmwareVersion, SignatureType,
    };
    use k4sync_host::DeviceFacts;

    fn report() -> CameraReport {
        CameraReport {
            usb_serial: Some("000019484312".into()),
            speed: Some("super (5 Gbit/s)".into()),
            bus_path: Some("2-1.1".into()),
            paired_by: PairedBy::ContainerId,
            facts: Some(DeviceFacts {
                product_serial: "000019484312".into(),
                firmware: ComponentVersions {
                    rgb: FirmwareVersion::new(1, 6, 110),
                    depth: FirmwareVersion::new(1, 6, 79),
                    audio: FirmwareVersion::new(1, 6, 14),
                    depth_sensor_config: FirmwareVersion::new(6109, 7, 0),
                    build_config: BuildConfig::from_raw(0),
                    signature_type: SignatureType::from_raw(0),
                },
                jack: JackState {
                    sync_in: true,
                    sync_out: false,
                },
            }),
            problem: None,
        }
    }

    #[test]
    fn empty_listing_says_no_camera_was_found() {
        assert_eq!(to_text(&[]), "no Azure Kinect found\n");
        assert_eq!(to_json(&[]), "[]");
    }

    #[test]
    fn json_listing_carries_serial_firmware_jacks_and_problem() {
        let mut broken = report();
        broken.facts = None;
        broken.problem = Some("permission \"denied\"".into());
        let json = to_json(&[report(), broken]);
        assert!(json.starts_with("[{\"serial\":\"000019484312\""), "{json}");
        assert!(json.contains("\"depth\":\"1.6.79\""), "{json}");
        assert!(
            json.contains("\"depth_sensor_config\":\"6109.7\""),
            "{json}"
        );
        assert!(json.contains("\"jack\":{\"sync_in\":true,\"sync_out\":false}"));
        assert!(
            json.contains("\"problem\":\"permission \\\"denied\\\"\""),
            "{json}"
        );
        assert!(json.ends_with("}]"));
    }

    #[test]
    fn text_listing_shows_each_camera_block() {
        let text = to_text(&[report()]);
        assert!(text.starts_with("camera 0: 000019484312\n"));
        assert!(text.contains("  sync jacks: in plugged, out empty\n"));
    }
}
