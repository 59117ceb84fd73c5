//! The factory calibration document the emulated depth MCU returns for
//! DEPTH_READ_CALIBRATION_DATA (reference §3.2.5, §9).
//!
//! The document has the §9 structure with every field the host's parser requires (two cameras
//! found by `Location`, two inertial sensors found by `SensorType`, arrays within their
//! destination sizes, BrownConrady intrinsics with 14 parameters) and plausible values drawn
//! deterministically from the device seed. Its text is our own. It is deliberately longer
//! than 10,240 bytes and shorter than 15,359, so the host's first read fills its buffer and
//! only the second, 15,360-byte read succeeds: every emulated open exercises the retry path.
//!
//! It is written with `core::fmt::Write` into any sink, so the emulator renders it straight
//! into the host's receive buffer without allocating.

use core::fmt::{self, Write};

use super::sink::SplitMix64;

struct Doc<'w, W: Write> {
    w: &'w mut W,
    rng: SplitMix64,
}

impl<W: Write> Doc<'_, W> {
    fn line(&mut self, indent: usize, text: fmt::Arguments<'_>) -> fmt::Result {
        for _ in 0..indent {
            self.w.write_str("    ")?;
        }
        self.w.write_fmt(text)?;
        self.w.write_str("\n")
    }

    fn array(&mut self, indent: usize, key: &str, values: &[f64], last: bool) -> fmt::Result {
        for _ in 0..indent {
            self.w.write_str("    ")?;
        }
        writeln!(self.w, "\"{key}\": [")?;
        for (i, v) in values.iter().enumerate() {
            for _ in 0..=indent {
                self.w.write_str("    ")?;
            }
            let comma = if i + 1 < values.len() { "," } else { "" };
            writeln!(self.w, "{v:.12}{comma}")?;
        }
        for _ in 0..indent {
            self.w.write_str("    ")?;
        }
        self.w.write_str(if last { "]\n" } else { "],\n" })
    }

    fn jitter<const N: usize>(&mut self, base: [f64; N], scale: f64) -> [f64; N] {
        let mut out = base;
        for v in out.iter_mut() {
            *v += self.rng.unit() * scale;
        }
        out
    }

    fn rt(&mut self, indent: usize, translation: [f64; 3], last: bool) -> fmt::Result {
        let (a, b, c) = (
            self.rng.unit() * 0.004,
            self.rng.unit() * 0.004,
            self.rng.unit() * 0.004,
        );
        let rotation = [1.0, -c, b, c, 1.0, -a, -b, a, 1.0];
        let translation = self.jitter(translation, 0.0005);
        self.line(indent, format_args!("\"Rt\": {{"))?;
        self.array(indent + 1, "Rotation", &rotation, false)?;
        self.array(indent + 1, "Translation", &translation, true)?;
        self.line(indent, format_args!("{}", if last { "}" } else { "}," }))
    }

    fn camera(&mut self, camera: &Camera, last: bool) -> fmt::Result {
        self.line(2, format_args!("{{"))?;
        self.line(3, format_args!("\"Intrinsics\": {{"))?;
        self.line(
            4,
            format_args!("\"ModelType\": \"CALIBRATION_LensDistortionModelBrownConrady\","),
        )?;
        self.line(4, format_args!("\"ModelParameterCount\": 14,"))?;
        let params = self.jitter(camera.intrinsics, 0.002);
        self.array(4, "ModelParameters", &params, true)?;
        self.line(3, format_args!("}},"))?;
        self.line(3, format_args!("\"Location\": \"{}\",", camera.location))?;
        self.line(3, format_args!("\"Purpose\": \"{}\",", camera.purpose))?;
        self.line(
            3,
            format_args!("\"MetricRadius\": {:.9},", camera.metric_radius),
        )?;
        self.rt(3, camera.translation, false)?;
        self.line(3, format_args!("\"SensorHeight\": {},", camera.height))?;
        self.line(3, format_args!("\"SensorWidth\": {},", camera.width))?;
        self.line(
            3,
            format_args!("\"Shutter\": \"CALIBRATION_ShutterTypeUndefined\","),
        )?;
        self.line(3, format_args!("\"ThermalAdjustmentParams\": {{"))?;
        let thermal = self.jitter([0.0; 12], 0.00001);
        self.array(4, "Params", &thermal, true)?;
        self.line(3, format_args!("}}"))?;
        self.line(2, format_args!("{}", if last { "}" } else { "}," }))
    }

    fn inertial(&mut self, sensor: &Inertial, last: bool) -> fmt::Result {
        self.line(2, format_args!("{{"))?;
        let bias_scale = sensor.bias_scale;
        let bias = self.jitter([0.0; 12], bias_scale);
        self.array(3, "BiasTemperatureModel", &bias, false)?;
        let uncertainty = self.jitter([bias_scale; 3], bias_scale * 0.1);
        self.array(3, "BiasUncertainty", &uncertainty, false)?;
        self.line(
            3,
            format_args!("\"Id\": \"CALIBRATION_InertialSensorId_LSM6DSM\","),
        )?;
        let mut mixing = [0.0; 36];
        for axis in 0..3 {
            if let Some(v) = mixing.get_mut(axis * 16) {
                *v = 1.0;
            }
        }
        let mixing = self.jitter(mixing, 0.0008);
        self.array(3, "MixingMatrixTemperatureModel", &mixing, false)?;
        self.line(
            3,
            format_args!("\"ModelTypeMask\": {},", sensor.model_type_mask),
        )?;
        let noise = self.jitter([sensor.noise; 6], sensor.noise * 0.05);
        self.array(3, "Noise", &noise, false)?;
        self.rt(3, sensor.translation, false)?;
        let second_order = self.jitter([0.0; 9], 0.0001);
        self.array(3, "SecondOrderScaling", &second_order, false)?;
        self.line(
            3,
            format_args!("\"SensorType\": \"{}\",", sensor.sensor_type),
        )?;
        self.array(3, "TemperatureBounds", &[5.0, 60.0], false)?;
        let temperature = 30.0 + self.rng.unit() * 5.0;
        self.line(3, format_args!("\"TemperatureC\": {temperature:.9}"))?;
        self.line(2, format_args!("{}", if last { "}" } else { "}," }))
    }
}

struct Camera {
    location: &'static str,
    purpose: &'static str,
    width: u32,
    height: u32,
    metric_radius: f64,
    intrinsics: [f64; 14],
    translation: [f64; 3],
}

struct Inertial {
    sensor_type: &'static str,
    model_type_mask: u32,
    bias_scale: f64,
    noise: f64,
    translation: [f64; 3],
}

const DEPTH: Camera = Camera {
    location: "CALIBRATION_CameraLocationD0",
    purpose: "CALIBRATION_CameraPurposeDepth",
    width: 1024,
    height: 1024,
    metric_radius: 1.74,
    intrinsics: [
        0.5015, 0.5046, 0.4930, 0.4932, 4.3871, 2.8815, 0.1446, 4.7135, 4.2416, 0.7618, 0.0, 0.0,
        -0.00004, 0.00005,
    ],
    translation: [0.0, 0.0, 0.0],
};

const COLOUR: Camera = Camera {
    location: "CALIBRATION_CameraLocationPV0",
    purpose: "CALIBRATION_CameraPurposePhotoVideo",
    width: 3840,
    height: 2160,
    metric_radius: 0.0,
    intrinsics: [
        0.4997, 0.5072, 0.4782, 0.8502, 0.6122, -2.8102, 1.6131, 0.4906, -2.6389, 1.5399, 0.0, 0.0,
        -0.0006, 0.0004,
    ],
    translation: [-0.0320, -0.0020, 0.0039],
};

const GYRO: Inertial = Inertial {
    sensor_type: "CALIBRATION_InertialSensorType_Gyro",
    model_type_mask: 16,
    bias_scale: 0.004,
    noise: 0.00095,
    translation: [0.0, 0.0, 0.0],
};

const ACCEL: Inertial = Inertial {
    sensor_type: "CALIBRATION_InertialSensorType_Accelerometer",
    model_type_mask: 56,
    bias_scale: 0.08,
    noise: 0.0105,
    translation: [-0.0511, 0.0035, 0.0013],
};

/// Writes the calibration document of the device with `serial` and `seed`.
pub fn write_calibration_json<W: Write>(w: &mut W, serial: &str, seed: u64) -> fmt::Result {
    let mut doc = Doc {
        w,
        rng: SplitMix64::new(seed ^ 0xCA11_B8A7_10E5_0001),
    };
    doc.line(0, format_args!("{{"))?;
    doc.line(1, format_args!("\"CalibrationInformation\": {{"))?;
    doc.line(2, format_args!("\"Cameras\": ["))?;
    doc.camera(&DEPTH, false)?;
    doc.camera(&COLOUR, true)?;
    doc.line(1, format_args!("],"))?;
    doc.line(2, format_args!("\"InertialSensors\": ["))?;
    doc.inertial(&GYRO, false)?;
    doc.inertial(&ACCEL, true)?;
    doc.line(1, format_args!("],"))?;
    doc.line(2, format_args!("\"Metadata\": {{"))?;
    doc.line(2, format_args!("\"SerialId\": \"{serial}\","))?;
    doc.line(
        2,
        format_args!("\"FactoryCalDate\": \"1/1/2020 12:00:00 AM GMT\","),
    )?;
    doc.line(
        2,
        format_args!("\"Version\": {{ \"Major\": 1, \"Minor\": 2 }},"),
    )?;
    doc.line(2, format_args!("\"DeviceName\": \"AzureKinect-PV\","))?;
    doc.line(
        2,
        format_args!("\"Notes\": \"k4sync emulated device; values are synthetic\""),
    )?;
    doc.line(1, format_args!("}}"))?;
    doc.line(0, format_args!("}}"))?;
    doc.line(0, format_args!("}}"))
}
