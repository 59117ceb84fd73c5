//! `--plot timeline.svg`: one lane per device over the take (frames in sets as bars, drops as red
//! ticks, sync loss as a black line with the unsynced rest hatched orange, an off-grid device as
//! one grey bar), and below it every subordinate's offset to the master per set against the
//! ± tolerance band. Drawn with `plotters`' SVG backend only (no system font libraries; text is
//! laid out approximately and rendered by the SVG viewer).

use k4sync_core::sync::align::{tolerance_usec, FrameKind};
use plotters::prelude::*;

use super::files::Recording;
use super::{Alignment, DeviceState};

/// Offset points drawn per device at most (long takes are thinned evenly).
const MAX_OFFSET_POINTS: usize = 2000;

/// Lane label of device `device`: what the plot's lanes are found by.
pub fn lane_label(device: usize, r: &Recording) -> String {
    let name = r
        .path
        .file_name()
        .map_or_else(|| r.label(), |n| n.to_string_lossy().into_owned());
    format!("lane {device}: {name}")
}

/// Renders the timeline as an SVG document.
pub fn to_svg(a: &Alignment, recordings: &[Recording]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let lanes = recordings.len().max(1);
        let height = 160 + 40 * lanes as u32 + 260;
        let root = SVGBackend::with_string(&mut svg, (1200, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(160 + 40 * lanes as u32);
        lanes_chart(&top, a, recordings).map_err(|e| e.to_string())?;
        offsets_chart(&bottom, a, recordings).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult<'a> =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>;

fn period_sec(a: &Alignment) -> f64 {
    1.0 / f64::from(a.fps.hz())
}

fn lanes_chart<'a>(area: &Area<'a>, a: &Alignment, recordings: &[Recording]) -> DrawResult<'a> {
    let p = period_sec(a);
    let end = (a.sets().max(1) as f64) * p;
    let n = recordings.len();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "frame sets per device (time from set 0, s)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..end, -0.5f64..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("s")
        .draw()?;
    for (device, (r, d)) in recordings.iter().zip(&a.devices).enumerate() {
        let y = (n - 1 - device) as f64;
        let lane = |from: usize, to: usize| [(from as f64 * p, y - 0.3), (to as f64 * p, y + 0.3)];
        chart.draw_series(std::iter::once(Text::new(
            lane_label(device, r),
            (0.0, y + 0.45),
            ("sans-serif", 13),
        )))?;
        if d.state == DeviceState::OffGrid {
            chart.draw_series(std::iter::once(Rectangle::new(
                lane(0, a.sets()),
                RGBColor(170, 170, 170).mix(0.5).filled(),
            )))?;
            continue;
        }
        let in_set = |set: usize| {
            a.frame(set, device, FrameKind::Colour).is_some()
                || a.frame(set, device, FrameKind::Depth).is_some()
        };
        let mut runs = Vec::new();
        let mut start = None;
        for set in 0..=a.sets() {
            match (start, set < a.sets() && in_set(set)) {
                (None, true) => start = Some(set),
                (Some(s), false) => {
                    runs.push((s, set));
                    start = None;
                }
                _ => {}
            }
        }
        chart.draw_series(
            runs.into_iter()
                .map(|(s, e)| Rectangle::new(lane(s, e), GREEN.mix(0.5).filled())),
        )?;
        let drops = d.dropped.colour.iter().chain(&d.dropped.depth);
        chart.draw_series(drops.map(|&set| {
            Rectangle::new(
                [
                    (set as f64 * p, y - 0.35),
                    ((set as f64 + 1.0) * p, y + 0.35),
                ],
                RED.filled(),
            )
        }))?;
        if let Some(lost) = d.sync_lost_at_set {
            chart.draw_series(std::iter::once(Rectangle::new(
                lane(lost, a.sets().max(lost)),
                RGBColor(255, 140, 0).mix(0.4).filled(),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lost as f64 * p, y - 0.45), (lost as f64 * p, y + 0.45)],
                BLACK.stroke_width(2),
            )))?;
        }
    }
    Ok(())
}

fn offsets_chart<'a>(area: &Area<'a>, a: &Alignment, recordings: &[Recording]) -> DrawResult<'a> {
    let p = period_sec(a);
    let end = (a.sets().max(1) as f64) * p;
    let tolerance = f64::from(tolerance_usec(a.fps));
    let frames = super::files::device_frames(recordings);
    let master = frames
        .iter()
        .position(|f| f.role == super::Role::Master)
        .unwrap_or(0);
    let series: Vec<Vec<(f64, f64)>> = (0..recordings.len())
        .map(|device| {
            if device == master {
                return Vec::new();
            }
            let points: Vec<(f64, f64)> = (0..a.sets())
                .filter_map(|set| {
                    let m = super::reference_nsec(a, frames.get(master)?, master, set)?;
                    let d = super::reference_nsec(a, frames.get(device)?, device, set)?;
                    Some((set as f64 * p, (d - m) as f64 / 1000.0))
                })
                .collect();
            let step = points.len().div_ceil(MAX_OFFSET_POINTS).max(1);
            points.into_iter().step_by(step).collect()
        })
        .collect();
    let span = series
        .iter()
        .flatten()
        .map(|&(_, o)| o.abs())
        .fold(tolerance * 1.5, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "offset to master per set (µs) and the tolerance band",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end, -span..span)?;
    chart.configure_mesh().x_desc("s").y_desc("µs").draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, -tolerance), (end, tolerance)],
        BLUE.mix(0.08).filled(),
    )))?;
    for (device, points) in series.into_iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let colour = Palette99::pick(device).to_rgba();
        chart.draw_series(
            points
                .into_iter()
                .map(move |xy| Circle::new(xy, 1, colour.filled())),
        )?;
    }
    Ok(())
}
