//! SVG plots with `plotters` (SVG backend only, no system fonts needed).

use super::Record;
use crate::characterize::Characterization;
use crate::error::{Error, Result};
use plotters::prelude::*;

fn perr(e: impl std::fmt::Display) -> Error {
    Error::Other(format!("plot: {e}"))
}

/// Diverging colour for a signed value scaled to [-1, 1]: blue (under) - white - red (over).
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let lerp = |a: f64, b: f64, x: f64| (a + (b - a) * x).round() as u8;
    if t < 0.0 {
        let x = -t;
        RGBColor(
            lerp(255.0, 33.0, x),
            lerp(255.0, 102.0, x),
            lerp(255.0, 172.0, x),
        )
    } else {
        RGBColor(
            lerp(255.0, 178.0, t),
            lerp(255.0, 24.0, t),
            lerp(255.0, 43.0, t),
        )
    }
}

/// Error heatmap: mean signed error m(a,b) - a*b over 4x4 blocks of (A, B), like the paper's
/// Fig. 2, with a colour bar.
pub fn error_heatmap(c: &Characterization) -> Result<String> {
    let lut = &c.lut;
    let n = lut.side();
    let block = (n / 64).max(1);
    let cells = n / block;
    let mut grid = vec![0f64; cells * cells];
    for a in 0..n {
        for b in 0..n {
            let e = lut.get(a as u32, b as u32) as f64 - (a * b) as f64;
            grid[(a / block) * cells + b / block] += e / (block * block) as f64;
        }
    }
    let scale = grid.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (690, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let (main, side) = root.split_horizontally(570);
        let title = format!(
            "{}: m(A,B) - A*B  (MRE {:.3}%, WCE {})",
            c.mult.name, c.metrics.mre_pct, c.metrics.wce
        );
        let mut chart = ChartBuilder::on(&main)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0..n as u32, 0..n as u32)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("B (weight)")
            .y_desc("A (activation)")
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(
                (0..cells)
                    .flat_map(|i| (0..cells).map(move |j| (i, j)))
                    .map(|(i, j)| {
                        let (a0, b0) = ((i * block) as u32, (j * block) as u32);
                        Rectangle::new(
                            [(b0, a0), (b0 + block as u32, a0 + block as u32)],
                            diverging(grid[i * cells + j] / scale).filled(),
                        )
                    }),
            )
            .map_err(perr)?;
        // Colour bar.
        let mut bar = ChartBuilder::on(&side)
            .caption("error", ("sans-serif", 13))
            .margin_top(14)
            .margin_bottom(45)
            .margin_left(4)
            .margin_right(4)
            .right_y_label_area_size(62)
            .build_cartesian_2d(0..1, -scale..scale)
            .map_err(perr)?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(7)
            .y_label_style(("sans-serif", 12))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(perr)?;
        let steps = 64;
        bar.draw_series((0..steps).map(|k| {
            let lo = -scale + 2.0 * scale * k as f64 / steps as f64;
            let hi = lo + 2.0 * scale / steps as f64;
            Rectangle::new(
                [(0, lo), (1, hi)],
                diverging((lo + hi) / 2.0 / scale).filled(),
            )
        }))
        .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// Library overview: MRE% vs WCE% (log-log), one colour per family.
pub fn library_overview(rs: &[Record]) -> Result<String> {
    let pts: Vec<&Record> = rs
        .iter()
        .filter(|r| r.mre_pct > 0.0 && r.wce_pct > 0.0)
        .collect();
    let lo_x = pts
        .iter()
        .map(|r| r.wce_pct)
        .fold(f64::INFINITY, f64::min)
        .min(1e-3)
        * 0.5;
    let hi_x = pts.iter().map(|r| r.wce_pct).fold(0.0, f64::max).max(1.0) * 2.0;
    let lo_y = pts
        .iter()
        .map(|r| r.mre_pct)
        .fold(f64::INFINITY, f64::min)
        .min(1e-3)
        * 0.5;
    let hi_y = pts.iter().map(|r| r.mre_pct).fold(0.0, f64::max).max(1.0) * 2.0;
    let mut families: Vec<&str> = pts.iter().map(|r| r.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Approximate multipliers: mean relative error vs worst-case error",
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((lo_x..hi_x).log_scale(), (lo_y..hi_y).log_scale())
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc("WCE % (of 2^16)")
            .y_desc("MRE %")
            .draw()
            .map_err(perr)?;
        for (fi, fam) in families.iter().enumerate() {
            let color = Palette99::pick(fi).to_rgba();
            let data: Vec<(f64, f64, String)> = pts
                .iter()
                .filter(|r| r.family == *fam)
                .map(|r| (r.wce_pct, r.mre_pct, r.name.clone()))
                .collect();
            chart
                .draw_series(
                    data.iter()
                        .map(|(x, y, _)| Circle::new((*x, *y), 5, color.filled())),
                )
                .map_err(perr)?
                .label(fam.to_string())
                .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
            chart
                .draw_series(data.iter().map(|(x, y, name)| {
                    Text::new(
                        name.trim_start_matches("mul8u_").to_string(),
                        (*x, *y),
                        ("sans-serif", 10),
                    )
                }))
                .map_err(perr)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// Multiplier-only vs whole-PE energy per MAC, one point per MXU variant (the paper's Fig. 6:
/// a multiplier's own energy predicts the PE's only weakly).
pub fn mult_vs_pe_energy(points: &[(String, f64, f64)], spearman: Option<f64>) -> Result<String> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, 0.0f64, f64::INFINITY, 0.0f64);
    for (_, x, y) in points {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if points.is_empty() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| {
        let d = (b - a).max(1e-6) * 0.12;
        ((a - d).max(0.0), b + d)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let caption = match spearman {
        Some(r) => format!("Energy per MAC: multiplier alone vs whole PE (Spearman {r:.2})"),
        None => "Energy per MAC: multiplier alone vs whole PE".to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc("multiplier netlist, fJ per multiplication")
            .y_desc("PE netlist, fJ per MAC")
            .x_label_formatter(&|v| format!("{:.1}", v * 1e3))
            .y_label_formatter(&|v| format!("{:.1}", v * 1e3))
            .draw()
            .map_err(perr)?;
        let color = Palette99::pick(0).to_rgba();
        chart
            .draw_series(
                points
                    .iter()
                    .map(|(_, x, y)| Circle::new((*x, *y), 5, color.filled())),
            )
            .map_err(perr)?;
        chart
            .draw_series(points.iter().map(|(n, x, y)| {
                Text::new(
                    n.trim_start_matches("mul8u_").to_string(),
                    (*x, *y),
                    ("sans-serif", 10),
                )
            }))
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// One multiplier on an energy-vs-error front.
#[derive(Clone, Debug)]
pub struct FrontPoint {
    pub name: String,
    pub family: String,
    pub mre_pct: f64,
    /// PE energy per MAC relative to the exact PE
    pub energy: f64,
}

/// The Pareto front of `pts` (lowest energy at or below each MRE), as step-line vertices.
fn front_steps(pts: &[&FrontPoint], x_lo: f64, x_hi: f64) -> Vec<(f64, f64)> {
    let mut v: Vec<&FrontPoint> = pts.to_vec();
    v.sort_by(|a, b| a.mre_pct.total_cmp(&b.mre_pct));
    let mut out = Vec::new();
    let mut best = f64::INFINITY;
    for p in v {
        if p.energy < best {
            let x = p.mre_pct.max(x_lo);
            if best.is_finite() {
                out.push((x, best));
            }
            out.push((x, p.energy));
            best = p.energy;
        }
    }
    if best.is_finite() {
        out.push((x_hi, best));
    }
    out
}

/// PE energy (relative to the exact PE) against MRE, one colour per family, with the front of
/// the evolved family and the front of all the others as step lines (the exact multiplier,
/// MRE 0, sits at the left edge).
pub fn energy_front(pts: &[FrontPoint]) -> Result<String> {
    let pos = pts
        .iter()
        .map(|p| p.mre_pct)
        .filter(|m| *m > 0.0)
        .fold(f64::INFINITY, f64::min);
    let x_lo = if pos.is_finite() { pos / 3.0 } else { 1e-3 };
    let x_hi = pts.iter().map(|p| p.mre_pct).fold(1.0, f64::max) * 2.0;
    let y_lo = pts.iter().map(|p| p.energy).fold(1.0, f64::min) - 0.02;
    let y_hi = pts.iter().map(|p| p.energy).fold(1.0, f64::max) + 0.02;
    let mut families: Vec<&str> = pts.iter().map(|p| p.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "PE energy per MAC vs mean relative error (fronts: evolved vs the others)",
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), y_lo..y_hi)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc("MRE % (exact at the left edge)")
            .y_desc("PE energy / exact PE energy")
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(perr)?;
        let evolved = crate::multiplier::builtin::EVOLVED_FAMILY;
        for (label, mine, color) in [
            ("front: evolved", true, RGBColor(200, 30, 30)),
            ("front: other families", false, RGBColor(60, 60, 60)),
        ] {
            let sel: Vec<&FrontPoint> = pts
                .iter()
                .filter(|p| (p.family == evolved) == mine || p.mre_pct == 0.0)
                .collect();
            if sel.iter().all(|p| p.mre_pct == 0.0) {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    front_steps(&sel, x_lo, x_hi),
                    color.stroke_width(2),
                ))
                .map_err(perr)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        for (fi, fam) in families.iter().enumerate() {
            let color = Palette99::pick(fi).to_rgba();
            let data: Vec<&FrontPoint> = pts.iter().filter(|p| p.family == *fam).collect();
            chart
                .draw_series(
                    data.iter()
                        .map(|p| Circle::new((p.mre_pct.max(x_lo), p.energy), 4, color.filled())),
                )
                .map_err(perr)?
                .label(fam.to_string())
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
            chart
                .draw_series(data.iter().map(|p| {
                    Text::new(
                        p.name.trim_start_matches("mul8u_").to_string(),
                        (p.mre_pct.max(x_lo), p.energy),
                        ("sans-serif", 9),
                    )
                }))
                .map_err(perr)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// The data of a sensitivity heatmap: row labels (layers), column labels (multipliers, in the
/// order drawn) and the top-1 change of each cell, points (`delta[row][col]`).
pub struct Heatmap {
    pub title: String,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub delta: Vec<Vec<f64>>,
}

/// Sensitivity heatmap: layers (rows) x multipliers ranked by MRE (columns), colour = top-1
/// change when only that layer uses that multiplier (white = no loss, red = loss, blue = gain),
/// like the paper's sensitivity figure.
pub fn sensitivity_heatmap(heat: &Heatmap) -> Result<String> {
    let (nl, nm) = (heat.rows.len(), heat.cols.len());
    let cell = 22i32;
    let longest = heat.rows.iter().map(|l| l.len()).max().unwrap_or(0) as i32;
    let (left, top) = ((12 + 6 * longest).max(150), 60i32);
    let title = heat.title.clone();
    let w = (left + cell * nm as i32 + 120).max(20 + 8 * title.len() as i32) as u32;
    let h = (top + cell * nl as i32 + 130) as u32;
    // colour scale: the largest loss (at least 1 point) is full red
    let worst = heat
        .delta
        .iter()
        .flatten()
        .map(|d| -d)
        .fold(1.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        root.draw(&Text::new(title, (10, 15), ("sans-serif", 15)))
            .map_err(perr)?;
        for (r, name) in heat.rows.iter().enumerate() {
            let y = top + cell * r as i32;
            root.draw(&Text::new(name.clone(), (5, y + 5), ("sans-serif", 11)))
                .map_err(perr)?;
            for c in 0..nm {
                let x = left + cell * c as i32;
                let d = heat.delta[r][c];
                let color = diverging(-d / worst);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell - 1, y + cell - 1)],
                    color.filled(),
                ))
                .map_err(perr)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell - 1, y + cell - 1)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(perr)?;
            }
        }
        for (c, label) in heat.cols.iter().enumerate() {
            let x = left + cell * c as i32 + 6;
            let y = top + cell * nl as i32 + 4;
            let style =
                TextStyle::from(("sans-serif", 11).into_font()).transform(FontTransform::Rotate90);
            root.draw(&Text::new(label.clone(), (x + 8, y), style))
                .map_err(perr)?;
        }
        let lx = left + cell * nm as i32 + 15;
        for k in 0..=10 {
            let v = k as f64 / 10.0;
            let y = top + (k * 12);
            root.draw(&Rectangle::new(
                [(lx, y), (lx + 14, y + 11)],
                diverging(v).filled(),
            ))
            .map_err(perr)?;
            if k % 5 == 0 {
                root.draw(&Text::new(
                    if k == 0 {
                        "0 pt".to_string()
                    } else {
                        format!("-{:.1} pt", v * worst)
                    },
                    (lx + 18, y + 1),
                    ("sans-serif", 10),
                ))
                .map_err(perr)?;
            }
        }
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// A named series of (x, y) points for the line/scatter plots below.
pub struct Series {
    pub name: String,
    /// all evaluated points (drawn small)
    pub cloud: Vec<(f64, f64)>,
    /// the line (a Pareto front, or a trace)
    pub line: Vec<(f64, f64)>,
}

fn bounds(series: &[Series], pad_frac: f64) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for s in series {
        for &(x, y) in s.cloud.iter().chain(&s.line) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let dx = (x1 - x0).max(1e-6) * pad_frac;
    let dy = (y1 - y0).max(1e-6) * pad_frac;
    ((x0 - dx, x1 + dx), (y0 - dy, y1 + dy))
}

/// Lines (stepped Pareto fronts or traces) plus clouds of points, one colour per series, with
/// optional horizontal reference lines (label, y).
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    hlines: &[(String, f64)],
    y_floor: Option<f64>,
) -> Result<String> {
    let ((x0, x1), (mut y0, mut y1)) = bounds(series, 0.05);
    for (_, y) in hlines {
        y0 = y0.min(*y - 0.1);
        y1 = y1.max(*y + 0.1);
    }
    if let Some(f) = y_floor {
        y0 = y0.max(f);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(perr)?;
        for (label, y) in hlines {
            chart
                .draw_series(LineSeries::new(
                    [(x0, *y), (x1, *y)],
                    ShapeStyle::from(&BLACK.mix(0.5)).stroke_width(1),
                ))
                .map_err(perr)?
                .label(label.clone())
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.5)));
        }
        for (k, s) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let inside = |&(x, y): &(f64, f64)| y >= y0 && y <= y1 && x >= x0 && x <= x1;
            chart
                .draw_series(
                    s.cloud
                        .iter()
                        .filter(|p| inside(p))
                        .map(|&p| Circle::new(p, 2, color.mix(0.35).filled())),
                )
                .map_err(perr)?;
            let pts: Vec<(f64, f64)> = s.line.iter().copied().filter(|p| inside(p)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(perr)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(perr)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}
