//! The empirical distribution function (CDF) of several samples on one time axis, which shows a
//! whole cold-start distribution — its floor, median and tail — where a table shows three
//! points.

use super::{escape, COLOURS};
use std::fmt::Write as _;

/// One sample to plot: a label and its values (milliseconds).
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend's text.
    pub label: String,
    /// The values, in any order.
    pub values: Vec<f64>,
    /// Drawn dashed (a reference: the floor, a baseline).
    pub dashed: bool,
}

const WIDTH: f64 = 760.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const PLOT_H: f64 = 300.0;
const LEGEND_LINE: f64 = 18.0;

/// The 1-2-5 values (1, 2 or 5 times a power of ten) from the largest one at or below `lo`
/// to the smallest one at or above `hi`: the ticks of a logarithmic axis and its ends.
fn ticks_125(lo: f64, hi: f64) -> Vec<f64> {
    // The 1-2-5 values in increasing order, from a decade below `lo` to past `hi`.
    let mut p = 10f64.powf(lo.log10().floor() - 1.0);
    let mut all: Vec<f64> = Vec::new();
    while all.last().is_none_or(|&l| l < hi * (1.0 - 1e-9)) && all.len() < 200 {
        all.extend([1.0, 2.0, 5.0].map(|m| m * p));
        p *= 10.0;
    }
    let first = all
        .iter()
        .rposition(|&t| t <= lo * (1.0 + 1e-9))
        .unwrap_or(0);
    let last = all
        .iter()
        .position(|&t| t >= hi * (1.0 - 1e-9))
        .unwrap_or(all.len().saturating_sub(1));
    all.get(first..=last)
        .map(<[f64]>::to_vec)
        .unwrap_or_default()
}

/// The `q` quantile (0..=1) of sorted values, nearest rank (as [`crate::stats::percentile`],
/// so a legend's p50 is the report's).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The CDF of every series on one logarithmic axis (`x_label`, e.g. "cold start (ms)"), as an
/// SVG document. The axis runs from the smallest value to the largest 99th percentile of the
/// series, so one stray run does not squeeze the rest into a corner (the title says so), and
/// is logarithmic so that the body of a distribution and its tail (on a shared machine, runs
/// several times slower) both show; the legend gives each series' median. Values that are
/// not positive and series without values are left out.
pub fn cdf_svg(title: &str, x_label: &str, series: &[Series]) -> String {
    let series: Vec<(&Series, Vec<f64>)> = series
        .iter()
        .map(|s| {
            let mut v: Vec<f64> = s
                .values
                .iter()
                .copied()
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            v.sort_by(f64::total_cmp);
            (s, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let lo = series
        .iter()
        .map(|(_, v)| v[0])
        .fold(f64::INFINITY, f64::min);
    let hi = series
        .iter()
        .map(|(_, v)| quantile(v, 0.99))
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (1.0, 10.0)
    };
    let ticks = ticks_125(lo, hi);
    let x0 = ticks.first().copied().unwrap_or(lo);
    let x1 = ticks.last().copied().unwrap_or(hi);
    let plot_w = WIDTH - LEFT - RIGHT;
    let (l0, l1) = (x0.ln(), x1.ln());
    let px = |x: f64| LEFT + (x.clamp(x0, x1).ln() - l0) / (l1 - l0) * plot_w;
    let py = |y: f64| TOP + (1.0 - y) * PLOT_H;
    let legend_top = TOP + PLOT_H + 50.0;
    let height = legend_top + LEGEND_LINE * series.len() as f64 + 10.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="20" font-size="14">{} (log axis, to the largest p99)</text>"#,
        escape(title)
    );
    // Grid and axes.
    for &t in &ticks {
        let x = px(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + PLOT_H,
            TOP + PLOT_H + 16.0,
            trim(t)
        );
    }
    for q in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let y = py(q);
        let colour = if q == 0.5 { "#888" } else { "#ddd" };
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{q}</text>"#,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{PLOT_H}" fill="none" stroke="#000"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">fraction of runs at or below</text>"##,
        LEFT + plot_w / 2.0,
        TOP + PLOT_H + 34.0,
        escape(x_label),
        TOP + PLOT_H / 2.0
    );
    // One step line per series, and its legend entry.
    for (k, (ser, v)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let dash = if ser.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let n = v.len() as f64;
        let mut d = format!("M{:.1},{:.1}", px(v[0]), py(0.0));
        for (i, &x) in v.iter().enumerate() {
            let _ = write!(
                d,
                " L{:.1},{:.1} L{:.1},{:.1}",
                px(x),
                py(i as f64 / n),
                px(x),
                py((i + 1) as f64 / n)
            );
        }
        let _ = writeln!(
            s,
            r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>"#
        );
        let y = legend_top + LEGEND_LINE * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{} — p50 {:.3}, n = {}</text>"#,
            LEFT + 30.0,
            LEFT + 38.0,
            y + 4.0,
            escape(&ser.label),
            quantile(v, 0.5),
            v.len()
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A 1-2-5 tick value with as many decimals as it needs.
fn trim(v: f64) -> String {
    let decimals = (-v.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_and_legend_line_per_series_with_values() {
        let svg = cdf_svg(
            "cold <start> & more",
            "ms",
            &[
                Series {
                    label: "floor".into(),
                    values: vec![1.0, 1.2, 1.1, 3.0],
                    dashed: true,
                },
                Series {
                    label: "empty".into(),
                    values: vec![],
                    dashed: false,
                },
                Series {
                    label: "a \"b\"".into(),
                    values: vec![1.3, f64::NAN, 1.4],
                    dashed: false,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("cold &lt;start&gt; &amp; more"));
        assert!(svg.contains("a &quot;b&quot; — p50 1.300, n = 2"));
        assert!(svg.contains("floor — p50 1.100, n = 4"));
        assert!(!svg.contains("empty"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn ticks_are_one_two_five_and_cover_the_range() {
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9 * y)
        };
        let t = ticks_125(0.43, 7.9);
        assert!(close(&t, &[0.2, 0.5, 1.0, 2.0, 5.0, 10.0]), "{t:?}");
        let t = ticks_125(1.0, 2.0);
        assert!(close(&t, &[1.0, 2.0]), "{t:?}");
        let t = ticks_125(0.6, 0.9);
        assert!(close(&t, &[0.5, 1.0]), "{t:?}");
        assert_eq!(trim(0.5), "0.5");
        assert_eq!(trim(0.02), "0.02");
        assert_eq!(trim(20.0), "20");
    }

    #[test]
    fn no_series_still_draws_axes() {
        let svg = cdf_svg("t", "ms", &[]);
        assert!(svg.contains("<rect"));
        assert_eq!(svg.matches("<path").count(), 0);
    }
}
