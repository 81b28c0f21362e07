//! Formatting the reports: numbers in table cells, the command line, publishing.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// A table's lead: a paragraph, a blank line, the header row and the alignment row.
pub fn table_start(w: &mut String, intro: &str, header: &str, align: &str) -> std::fmt::Result {
    writeln!(w, "{intro}\n\n{header}\n{align}")
}

/// Nanoseconds as microseconds: two decimals below 10 µs, one below `whole_from` µs, none
/// from there on.
pub fn micros(ns: f64, whole_from: f64) -> String {
    let v = ns / 1e3;
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < whole_from {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Rows per second of a call over `rows` rows that took `ns` nanoseconds.
pub fn rows_per_s(ns: f64, rows: f64) -> f64 {
    rows / (ns / 1e9)
}

/// A whole number (negative ones as 0) with `sep` between thousands.
pub fn grouped(v: f64, sep: char) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A ratio as "N ×", with fewer decimals the larger it is.
pub fn times(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ×")
    } else if v >= 10.0 {
        format!("{v:.1} ×")
    } else {
        format!("{v:.2} ×")
    }
}

/// The command line as a report quotes it: `cargo xtask <command> <args>`.
pub fn command_line(command: &str, args: &[String]) -> String {
    std::iter::once(format!("cargo xtask {command}"))
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints a report, writes it to `path` and says where (`who` prefixes that line).
pub fn publish(who: &str, report: &str, path: &Path) -> Result<()> {
    println!("{report}");
    std::fs::write(path, report).with_context(|| path.display().to_string())?;
    eprintln!("{who}: report written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells() {
        assert_eq!(micros(1_234.0, 1000.0), "1.23");
        assert_eq!(micros(123_400.0, 1000.0), "123.4");
        assert_eq!(micros(123_400.0, 100.0), "123");
        assert_eq!(grouped(1_234_567.0, ' '), "1 234 567");
        assert_eq!(grouped(-3.0, ' '), "0");
        assert_eq!(times(2.0), "2.00 ×");
        assert_eq!(times(250.0), "250 ×");
        assert_eq!(
            command_line("treebench", &["--quick".into()]),
            "cargo xtask treebench --quick"
        );
    }
}
