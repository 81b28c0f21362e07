//! `bench-peers`: the native peers of the Python benchmarks, timed without Python in the
//! loop, on the same manifest, model files and rows as the Python side and `bench-timer`:
//!
//! - `sklearn` (`cargo xtask sklearnbench`): onnxruntime through its C API on every ONNX
//!   file (module [`onnx`]);
//! - `trees` (`cargo xtask treebench`): onnxruntime through its C API, and the compiled tree
//!   peers `scripts/bench/trees.py prepare` built as shared objects (tl2cgen, m2cgen,
//!   lleaves), loaded with `dlopen` and called directly (module [`native`]).
//!
//! onnxruntime is the `libonnxruntime.so*` inside the pinned onnxruntime wheel of the bench
//! environment (`--ort-lib`, found by the harness), one session per model with
//! `intra_op_num_threads = 1` and `inter_op_num_threads = 1`. Every peer's outputs are
//! checked against the library's before it is timed; one that disagrees is reported (its
//! largest difference) and not timed.
//!
//! Timing is `bench-timer`'s: a warm-up, then a clock reading around every call; single
//! rows cycle through the rows; a batch is all the rows. Each peer gets the rows in its own
//! input type, converted before timing (float32 for onnxruntime, as the Python side gives
//! it).
//!
//! ```text
//! bench-peers sklearn --manifest FILE --round R --out FILE --ort-lib LIB [--calls N] [--batch-reps N]
//! bench-peers trees   --manifest FILE --round R --out FILE --ort-lib LIB [--calls N] [--batch-reps N]
//! ```
//!
//! Built and run in release by the harness; not a user tool.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::samples::{self, read_f64s, str_field, timer_floor};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

mod native;
mod onnx;

/// Largest difference from scikit-learn's outputs accepted (`bench-timer sklearn`'s).
const SKLEARN_TOLERANCE: f64 = 1e-3;
/// Largest difference from the tree library's probabilities accepted (`bench-timer trees`').
const TREES_TOLERANCE: f64 = 1e-4;

/// Which suite's models are timed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Trees,
    Sklearn,
}

struct Args {
    mode: Mode,
    manifest: PathBuf,
    round: u64,
    out: PathBuf,
    ort_lib: PathBuf,
    calls: usize,
    batch_reps: usize,
}

const USAGE: &str = "usage: bench-peers sklearn --manifest FILE --round R --out FILE --ort-lib LIB [--calls N] [--batch-reps N]
       bench-peers trees   --manifest FILE --round R --out FILE --ort-lib LIB [--calls N] [--batch-reps N]";

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("trees") => Mode::Trees,
        Some("sklearn") => Mode::Sklearn,
        _ => bail!("{USAGE}"),
    };
    let (mut manifest, mut out, mut ort_lib) = (None, None, None);
    let (mut round, mut calls, mut batch_reps) = (1, 20_000, 50);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--ort-lib" => ort_lib = Some(PathBuf::from(value()?)),
            "--round" => round = value()?.parse()?,
            "--calls" => calls = value()?.parse()?,
            "--batch-reps" => batch_reps = value()?.parse()?,
            // The harness gives every timer the same counts; creations are not timed here.
            "--create-reps" => {
                value()?;
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    ensure!(calls > 0 && batch_reps > 0, "counts must be positive");
    Ok(Args {
        mode,
        manifest: manifest.context("--manifest is required")?,
        out: out.context("--out is required")?,
        ort_lib: ort_lib.context("--ort-lib is required")?,
        round,
        calls,
        batch_reps,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-peers: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The timed rows of a manifest, in float64 (as stored) and rounded to float32.
struct Rows {
    /// Row-major, `nf` per row.
    f64s: Vec<f64>,
    /// The same rows rounded to float32.
    f32s: Vec<f32>,
    /// Features per row.
    nf: usize,
    /// Rows.
    n: usize,
}

/// One peer's result line: timed, or refused with the reason. The tree suite's lines say
/// their threads (one), as its Python side's do; the scikit-learn suite's say none.
fn line(model: &str, engine: &str, mode: Mode, timed: Result<(Value, Value, f64)>) -> Value {
    let threads = if mode == Mode::Trees { "1" } else { "" };
    match timed {
        Ok((single, batch, diff)) => {
            eprintln!(
                "bench-peers: {model} {engine}: {:.2} us, {:.0} rows/s (max diff {diff:.1e})",
                single["median_ns"].as_f64().unwrap_or(0.0) / 1e3,
                1e9 / batch["median_ns"].as_f64().unwrap_or(1.0)
                    * batch["rows"].as_f64().unwrap_or(0.0),
            );
            json!({"model": model, "engine": engine, "threads": threads, "single": single,
                   "batch": batch, "max_abs_diff": diff})
        }
        Err(e) => {
            eprintln!("bench-peers: {model} {engine}: not timed: {e:#}");
            json!({"model": model, "engine": engine, "threads": threads, "error": format!("{e:#}")})
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let text = std::fs::read_to_string(&args.manifest)
        .with_context(|| args.manifest.display().to_string())?;
    let manifest: Value = serde_json::from_str(&text).context("manifest.json")?;
    let nf = manifest["n_features"]
        .as_u64()
        .context("manifest: n_features")? as usize;
    let f64s = read_f64s(str_field(&manifest, "rows")?)?;
    ensure!(
        nf > 0 && f64s.len().is_multiple_of(nf) && !f64s.is_empty(),
        "rows: bad length"
    );
    let rows = Rows {
        n: f64s.len() / nf,
        f32s: f64s.iter().map(|&v| v as f32).collect(),
        f64s,
        nf,
    };
    let ort = onnx::Runtime::load(&args.ort_lib)?;
    let models = manifest["models"].as_array().context("manifest: models")?;
    let mut results = Vec::new();
    for m in models {
        let name = str_field(m, "name")?;
        match args.mode {
            Mode::Sklearn => {
                let reference = reference(m, "reference", rows.n)?;
                let timed = ort.time(
                    str_field(m, "onnx")?,
                    &rows,
                    &reference,
                    onnx::Pick::All,
                    SKLEARN_TOLERANCE,
                    &args,
                );
                results.push(line(name, onnx::ENGINE, args.mode, timed));
            }
            Mode::Trees => {
                let proba = reference(m, "proba", rows.n)?;
                let timed = ort.time(
                    str_field(m, "onnx")?,
                    &rows,
                    &proba,
                    onnx::Pick::Positive,
                    TREES_TOLERANCE,
                    &args,
                );
                results.push(line(name, onnx::ENGINE, args.mode, timed));
                for peer in native::Peer::ALL {
                    match peer.entry(m) {
                        native::Entry::Absent => {}
                        native::Entry::Refused(e) => {
                            results.push(line(
                                name,
                                peer.engine(),
                                args.mode,
                                Err(anyhow::anyhow!(e)),
                            ));
                        }
                        native::Entry::Library(path) => {
                            let xgboost = m["library"] == "xgboost";
                            let timed = peer.time(path, xgboost, &rows, &proba, &args);
                            results.push(line(name, peer.engine(), args.mode, timed));
                        }
                    }
                }
            }
        }
    }
    let floor = with_rows(timer_floor(args.calls), 1);
    let out = json!({
        "round": args.round,
        "timer_floor": floor,
        "onnxruntime_api": ort.api_version(),
        "results": results,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&out)?)
        .with_context(|| args.out.display().to_string())?;
    Ok(())
}

/// A model's reference outputs (`key` names the file): all rows' values, row-major.
fn reference(m: &Value, key: &str, n: usize) -> Result<Vec<f64>> {
    let values = read_f64s(str_field(m, key)?)?;
    ensure!(
        !values.is_empty() && values.len().is_multiple_of(n),
        "{key}: {} values for {n} rows",
        values.len()
    );
    Ok(values)
}

/// Largest absolute difference between `got` and `want`; infinite when their lengths
/// differ or a value is NaN.
fn max_diff(got: &[f64], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            let d = (g - w).abs();
            if d.is_nan() {
                f64::INFINITY
            } else {
                d
            }
        })
        .fold(0.0, f64::max)
}

/// Fails unless `got` is within `tolerance` of `want`; returns the largest difference.
fn agree(got: &[f64], want: &[f64], tolerance: f64) -> Result<f64> {
    let d = max_diff(got, want);
    ensure!(
        d < tolerance,
        "outputs differ from the library's by {d:.3e} (tolerance {tolerance:.0e}): not timed"
    );
    Ok(d)
}

/// Times `call(i)` for rows cycling through `n` ([`samples::time_single`]), one row a call.
fn time_single(n: usize, calls: usize, call: impl FnMut(usize) -> Result<()>) -> Result<Value> {
    Ok(with_rows(samples::time_single(n, calls, call)?, 1))
}

/// Times `batch()` over all `rows` rows ([`samples::time_batch`]).
fn time_batch(rows: usize, reps: usize, batch: impl FnMut() -> Result<()>) -> Result<Value> {
    Ok(with_rows(samples::time_batch(reps, batch)?, rows))
}

/// A summary ([`samples::summarize`]) with the rows each timed call answered, which the
/// harness's rows/s need.
fn with_rows(mut summary: Value, rows: usize) -> Value {
    summary["rows"] = json!(rows);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_diff_is_the_largest_gap_and_infinite_on_mismatch() {
        assert_eq!(max_diff(&[1.0, 2.0, 3.5], &[1.0, 2.25, 3.0]), 0.5);
        assert_eq!(max_diff(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(max_diff(&[f64::NAN], &[0.0]), f64::INFINITY);
    }

    #[test]
    fn agree_refuses_at_the_tolerance() {
        let d = agree(&[0.5], &[0.5 + 2e-5], 1e-4).unwrap();
        assert!((d - 2e-5).abs() < 1e-12, "{d}");
        let e = agree(&[0.5], &[0.6], 1e-4).unwrap_err().to_string();
        assert!(e.contains("not timed"), "{e}");
    }

    #[test]
    fn summaries_carry_the_rows_a_call_answered() {
        let v = with_rows(samples::summarize(vec![4, 1, 3, 2]), 7);
        assert_eq!(v["median_ns"], 2.5);
        assert_eq!(v["rows"], 7);
    }

    #[test]
    fn the_timers_report_the_rows_of_each_call() {
        let single = time_single(3, 5, |_| Ok(())).unwrap();
        assert_eq!(
            (single["n"].clone(), single["rows"].clone()),
            (5.into(), 1.into())
        );
        let batch = time_batch(10, 4, || Ok(())).unwrap();
        assert_eq!(
            (batch["n"].clone(), batch["rows"].clone()),
            (4.into(), 10.into())
        );
    }
}
