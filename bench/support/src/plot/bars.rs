//! Speed-up charts: per group (a model), one horizontal
//! bar per series (a peer, or single row and batch), the length the peer's time over
//! icebreak's on a log scale, with a solid line at 1 × (parity) and dashed lines at the
//! marks asked for (targets).

use super::{escape, COLOURS};
use std::fmt::Write as _;

/// One bar: its series (index into [`Chart::series`]) and the ratio (peer's time over
/// icebreak's; above 1: icebreak is faster).
pub struct Bar {
    /// Index into [`Chart::series`].
    pub series: usize,
    /// Peer's time over icebreak's.
    pub ratio: f64,
}

/// A chart: a title, its series (legend), its groups of bars, the scale's ends and marks.
pub struct Chart<'a> {
    /// The line above the chart.
    pub title: &'a str,
    /// The legend's names, one colour each (in order).
    pub series: Vec<String>,
    /// `(label, bars)` per group, top to bottom.
    pub groups: Vec<(String, Vec<Bar>)>,
    /// The scale's ends (ratios; bars beyond are clipped and keep their printed value).
    pub range: (f64, f64),
    /// Dashed vertical lines, e.g. a target of 5 ×.
    pub marks: Vec<f64>,
}

/// The ticks of a log scale between `lo` and `hi`: 1, 2, 5 times powers of ten, or only the
/// powers of ten over more than three decades.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut p = 10f64.powi(lo.log10().floor() as i32);
    let steps: &[f64] = if hi / lo > 1e3 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    while p <= hi {
        for &m in steps {
            let t = p * m;
            if t >= lo * 0.999 && t <= hi * 1.001 {
                out.push(t);
            }
        }
        p *= 10.0;
    }
    out
}

/// A ratio as the bars print it.
fn label(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// A tick's label.
fn tick_label(t: f64) -> String {
    if t >= 1.0 {
        format!("{t:.0}")
    } else {
        format!("{t}")
    }
}

/// A log range holding every ratio of `groups` and the marks: powers of ten, at least 0.1
/// to 10.
pub fn fit_range(groups: &[(String, Vec<Bar>)], marks: &[f64]) -> (f64, f64) {
    let all = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|b| b.ratio))
        .chain(marks.iter().copied())
        .filter(|r| r.is_finite() && *r > 0.0);
    let (lo, hi) = all.fold((0.1f64, 10.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    (
        10f64.powf(lo.log10().floor()).max(1e-3),
        10f64.powf(hi.log10().ceil()).min(1e4),
    )
}

impl Chart<'_> {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        let (left, width, bar, gap) = (190.0, 560.0, 11.0, 12.0);
        let legend_rows = self.series.len().div_ceil(3) as f64;
        let top = 30.0 + legend_rows * 16.0 + 8.0;
        let (lo, hi) = (self.range.0.log10(), self.range.1.log10());
        let x = |r: f64| {
            left + width * ((r.clamp(self.range.0, self.range.1).log10() - lo) / (hi - lo))
        };
        let group_h = |bars: usize| bars.max(1) as f64 * bar + gap;
        let body: f64 = self.groups.iter().map(|(_, b)| group_h(b.len())).sum();
        let height = top + body + 36.0;
        let bottom = top + body;
        let mut w = String::new();
        let _ = writeln!(
            w,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#,
            left + width + 70.0
        );
        let _ = writeln!(
            w,
            r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="18" font-weight="bold">{}</text>"##,
            escape(self.title)
        );
        for (i, s) in self.series.iter().enumerate() {
            let (col, row) = ((i % 3) as f64, (i / 3) as f64);
            let (lx, ly) = (left + col * 190.0, 30.0 + row * 16.0);
            let _ = writeln!(
                w,
                r#"<rect x="{lx:.0}" y="{ly:.0}" width="10" height="10" fill="{}"/><text x="{:.0}" y="{:.0}">{}</text>"#,
                COLOURS[i % COLOURS.len()],
                lx + 14.0,
                ly + 9.0,
                escape(s)
            );
        }
        for t in ticks(self.range.0, self.range.1) {
            let _ = writeln!(
                w,
                r##"<line x1="{0:.1}" y1="{top:.0}" x2="{0:.1}" y2="{bottom:.0}" stroke="#dddddd"/><text x="{0:.1}" y="{1:.0}" text-anchor="middle">{2} ×</text>"##,
                x(t),
                bottom + 14.0,
                tick_label(t)
            );
        }
        let _ = writeln!(
            w,
            r##"<line x1="{0:.1}" y1="{top:.0}" x2="{0:.1}" y2="{bottom:.0}" stroke="#333333"/>"##,
            x(1.0)
        );
        for m in &self.marks {
            let _ = writeln!(
                w,
                r##"<line x1="{0:.1}" y1="{top:.0}" x2="{0:.1}" y2="{bottom:.0}" stroke="#c00000" stroke-dasharray="4,3"/><text x="{0:.1}" y="{1:.0}" text-anchor="middle" fill="#c00000">target {2} ×</text>"##,
                x(*m),
                top - 2.0,
                tick_label(*m)
            );
        }
        let _ = writeln!(
            w,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">peer's time / icebreak's time, log scale (right of the black line: icebreak faster)</text>"#,
            left + width / 2.0,
            bottom + 30.0
        );
        let mut y = top;
        for (name, bars) in &self.groups {
            let h = group_h(bars.len());
            let _ = writeln!(
                w,
                r#"<text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 8.0,
                y + (h - gap) / 2.0 + 4.0,
                escape(name)
            );
            for (k, b) in bars.iter().enumerate() {
                let yy = y + k as f64 * bar;
                let (x0, x1) = (x(1.0).min(x(b.ratio)), x(1.0).max(x(b.ratio)));
                let _ = writeln!(
                    w,
                    r#"<rect x="{x0:.1}" y="{yy:.1}" width="{:.1}" height="{:.0}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                    (x1 - x0).max(1.0),
                    bar - 2.0,
                    COLOURS[b.series % COLOURS.len()],
                    x1 + 3.0,
                    yy + bar - 3.0,
                    label(b.ratio)
                );
            }
            y += h;
        }
        let _ = writeln!(w, "</svg>");
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_one_two_five() {
        assert_eq!(
            ticks(0.1, 30.0),
            vec![0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
        );
    }

    #[test]
    fn a_bar_left_of_parity_starts_at_its_ratio() {
        let c = Chart {
            title: "t",
            series: vec!["a".into()],
            groups: vec![(
                "m".into(),
                vec![Bar {
                    series: 0,
                    ratio: 0.5,
                }],
            )],
            range: (0.1, 10.0),
            marks: vec![5.0],
        };
        let svg = c.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">0.50</text>"));
        assert!(svg.contains("target 5 ×"));
    }
}
