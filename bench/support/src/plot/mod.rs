//! Plots for the reports, as hand-written SVG (no plotting dependency): speed-up bar charts
//! against peers ([`Chart`], from `sklearnbench` and `treebench`) and the distribution
//! functions of cold starts ([`cdf_svg`], from `coldstart` and `coldsweep`).

mod bars;
mod cdf;

pub use bars::{fit_range, Bar, Chart};
pub use cdf::{cdf_svg, Series};

/// Colours of the series, in order: distinguishable on white and for the common colour-vision
/// deficiencies (Okabe–Ito).
const COLOURS: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999933", "#000000",
];

/// Escapes text for an SVG text node or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
