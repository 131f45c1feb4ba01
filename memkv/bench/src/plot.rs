//! Throughput against block size, drawn with `plotters` into an SVG (log-x axis, one line per
//! series, one panel per concurrency). SVG only: PNG would need system fonts at build time.

use std::path::Path;

use plotters::coord::ranged1d::{KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::results::size_name;

/// One line: a name and `(value size, GiB/s)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, in any order.
    pub points: Vec<(usize, f64)>,
}

/// One chart of the figure.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// Lines.
    pub series: Vec<Series>,
}

/// Why a plot was not written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Not an `.svg` path.
    #[error(
        "`{0}`: only SVG plots are built in (PNG needs system fonts); write a .svg and convert it, e.g. `rsvg-convert -o plot.png plot.svg`"
    )]
    Format(String),
    /// Nothing to draw.
    #[error("no measured points to plot")]
    Empty,
    /// The drawing failed (usually: the file could not be written).
    #[error("drawing `{path}` failed: {message}")]
    Draw {
        /// The output path.
        path: String,
        /// What plotters reported.
        message: String,
    },
}

/// The x axis: value sizes on a log scale, labelled at the measured sizes.
#[derive(Debug, Clone)]
struct SizeAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<usize>,
}

impl Ranged for SizeAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (lo, hi) = (self.lo.ln(), self.hi.ln());
        let f = if hi > lo {
            (value.max(1.0).ln() - lo) / (hi - lo)
        } else {
            0.5
        };
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.iter().map(|&t| t as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// A colour per series index, distinguishable and printable.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

/// Draws `panels` side by side into the SVG at `path`, under `title`.
pub fn write_svg(path: &Path, title: &str, panels: &[Panel]) -> Result<(), PlotError> {
    let shown = path.display().to_string();
    if path.extension().and_then(|e| e.to_str()) != Some("svg") {
        return Err(PlotError::Format(shown));
    }
    let panels: Vec<&Panel> = panels
        .iter()
        .filter(|p| p.series.iter().any(|s| !s.points.is_empty()))
        .collect();
    if panels.is_empty() {
        return Err(PlotError::Empty);
    }
    let draw_err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: shown.clone(),
        message: e.to_string(),
    };
    let width = 760 * panels.len() as u32;
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| draw_err(&e))?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(&panels) {
        let mut sizes: Vec<usize> = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let lo = sizes[0] as f64 / 1.3;
        let hi = sizes[sizes.len() - 1] as f64 * 1.3;
        let ymax = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(0.001)
            * 1.15;
        let axis = SizeAxis {
            lo,
            hi,
            ticks: sizes,
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(axis, 0f64..ymax)
            .map_err(|e| draw_err(&e))?;
        chart
            .configure_mesh()
            .x_desc("value size (log scale)")
            .y_desc("GiB/s")
            .light_line_style(WHITE)
            .x_label_formatter(&|v| size_name(*v as usize))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .draw()
            .map_err(|e| draw_err(&e))?;
        for (i, s) in panel.series.iter().enumerate() {
            let mut pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x as f64, y)).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| draw_err(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(|e| draw_err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(&e))?;
    }
    root.present().map_err(|e| draw_err(&e))?;
    Ok(())
}
