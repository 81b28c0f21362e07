//! Times icebreak on the scikit-learn benchmark's models, for `cargo xtask sklearnbench`.
//!
//! Reads the manifest `scripts/bench/sklearn.py prepare` wrote, converts every model's ONNX
//! file with `icebreak_convert::onnx::convert`, writes and parses the `.apr`, checks that the
//! engine's outputs match scikit-learn's on the 1000 timed rows (probabilities for the
//! classifiers, the distances to the centres for k-means), then times (monotonic clock
//! readings, medians):
//!
//! - `single`: warm `Model::predict_row`, rows cycling through the 1000 rows;
//! - `batch`: `Model::predict_batch` over the 1000 rows.
//!
//! ```text
//! sklearn-timer --manifest DIR/manifest.json --round R --out FILE [--calls N] [--batch-reps N]
//! ```
//!
//! A model the importer or the engine refuses is reported with its error and the run goes
//! on. Built and run in release by the harness; not a user tool.

use anyhow::{bail, ensure, Context, Result};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::Apr;
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Untimed calls before the timed ones.
const WARM_CALLS: usize = 2000;
/// Untimed batches before the timed ones.
const WARM_BATCHES: usize = 3;
/// Largest difference from scikit-learn's outputs accepted (float32 arithmetic on 784
/// features; onnxruntime's own difference is in the report).
const TOLERANCE: f64 = 1e-3;

struct Args {
    manifest: PathBuf,
    round: u64,
    out: PathBuf,
    calls: usize,
    batch_reps: usize,
}

fn parse_args() -> Result<Args> {
    let mut manifest = None;
    let mut out = None;
    let mut round = 1;
    let mut calls = 20_000;
    let mut batch_reps = 50;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--round" => round = value()?.parse()?,
            "--calls" => calls = value()?.parse()?,
            "--batch-reps" => batch_reps = value()?.parse()?,
            _ => bail!("unknown argument {a:?}"),
        }
    }
    ensure!(calls > 0 && batch_reps > 0, "counts must be positive");
    Ok(Args {
        manifest: manifest.context("--manifest is required")?,
        out: out.context("--out is required")?,
        round,
        calls,
        batch_reps,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sklearn-timer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Median, 10th and 90th percentile of nanosecond samples, as the Python side writes them.
fn summarize(mut ts: Vec<u64>) -> Value {
    ts.sort_unstable();
    let n = ts.len();
    let median = if n % 2 == 1 {
        ts[n / 2] as f64
    } else {
        (ts[n / 2 - 1] + ts[n / 2]) as f64 / 2.0
    };
    json!({"median_ns": median, "p10_ns": ts[n / 10], "p90_ns": ts[n * 9 / 10], "n": n})
}

fn nanos(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

fn read_f64s(path: &str) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).with_context(|| path.to_owned())?;
    ensure!(bytes.len() % 8 == 0, "{path}: not a whole number of f64");
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
        .collect())
}

fn str_field<'v>(v: &'v Value, key: &str) -> Result<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("manifest: missing string {key:?}"))
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let text = std::fs::read_to_string(&args.manifest)
        .with_context(|| args.manifest.display().to_string())?;
    let manifest: Value = serde_json::from_str(&text).context("manifest.json")?;
    let nf = manifest["n_features"]
        .as_u64()
        .context("manifest: n_features")? as usize;
    let rows = read_f64s(str_field(&manifest, "rows")?)?;
    ensure!(rows.len() % nf == 0 && !rows.is_empty(), "rows: bad length");
    let n_rows = rows.len() / nf;
    let models = manifest["models"].as_array().context("manifest: models")?;
    let mut results = Vec::new();
    for m in models {
        let name = str_field(m, "name")?;
        let t0 = Instant::now();
        match time_model(m, &args, &rows, nf, n_rows) {
            Ok(r) => {
                eprintln!(
                    "sklearn-timer: round {} {name}: {:.2} us, {:.0} rows/s ({:.1} s)",
                    args.round,
                    r["single"]["median_ns"].as_f64().unwrap_or(0.0) / 1e3,
                    n_rows as f64 / (r["batch"]["median_ns"].as_f64().unwrap_or(1.0) / 1e9),
                    t0.elapsed().as_secs_f64()
                );
                results.push(r);
            }
            Err(e) => {
                eprintln!("sklearn-timer: round {} {name}: {e:#}", args.round);
                results.push(json!({"model": name, "error": format!("{e:#}")}));
            }
        }
    }
    let floor = {
        let mut ts = vec![0u64; args.calls];
        for t in &mut ts {
            let t0 = Instant::now();
            black_box(());
            *t = nanos(t0);
        }
        summarize(ts)
    };
    let out = json!({"round": args.round, "timer_floor": floor, "results": results});
    std::fs::write(&args.out, serde_json::to_vec_pretty(&out)?)
        .with_context(|| args.out.display().to_string())?;
    Ok(())
}

fn time_model(m: &Value, args: &Args, rows: &[f64], nf: usize, n_rows: usize) -> Result<Value> {
    let name = str_field(m, "name")?;
    let path = str_field(m, "onnx")?;
    let source = std::fs::read(path).with_context(|| path.to_owned())?;
    let t0 = Instant::now();
    let spec = icebreak_convert::onnx::convert(&source).context("onnx import")?;
    let bytes: &'static [u8] = icebreak_format::write(&spec)?.leak();
    let convert_ms = t0.elapsed().as_secs_f64() * 1e3;
    let apr = Apr::parse(bytes)?;
    let model = Model::new(&apr);
    ensure!(
        model.n_features() == nf,
        "model takes {} features",
        model.n_features()
    );

    // Same answers as scikit-learn, or the timings compare different things.
    let reference = read_f64s(str_field(m, "reference")?)?;
    let width = m["reference_width"]
        .as_u64()
        .context("manifest: reference_width")? as usize;
    ensure!(
        reference.len() == n_rows * width,
        "{name}: {} reference values",
        reference.len()
    );
    let mut batch = BatchOutput::default();
    model.predict_batch(rows, &mut batch)?;
    ensure!(
        batch.value_width == width,
        "{name}: icebreak gives {} values per row, scikit-learn {width}",
        batch.value_width
    );
    let mut max_diff = 0.0f64;
    let mut scratch = model.scratch();
    for (i, x) in rows.chunks_exact(nf).enumerate() {
        let got = &batch.values[i * width..(i + 1) * width];
        for (g, want) in got.iter().zip(&reference[i * width..(i + 1) * width]) {
            max_diff = max_diff.max((f64::from(*g) - want).abs());
        }
        let row = model.predict_row(x, &mut scratch)?;
        ensure!(
            row.values == got,
            "{name}: row {i}: predict_row and predict_batch disagree"
        );
    }
    ensure!(
        max_diff < TOLERANCE,
        "{name}: icebreak's outputs differ from scikit-learn's by {max_diff}"
    );

    let at = |i: usize| &rows[(i % n_rows) * nf..(i % n_rows + 1) * nf];
    for i in 0..WARM_CALLS {
        black_box(model.predict_row(black_box(at(i)), &mut scratch)?.values[0]);
    }
    let mut ts = vec![0u64; args.calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let x = at(i);
        let t0 = Instant::now();
        let out = model.predict_row(black_box(x), &mut scratch)?;
        black_box(out.values[0]);
        *t = nanos(t0);
    }
    let single = summarize(ts);

    for _ in 0..WARM_BATCHES {
        model.predict_batch(black_box(rows), &mut batch)?;
    }
    let mut ts = vec![0u64; args.batch_reps];
    for t in &mut ts {
        let t0 = Instant::now();
        model.predict_batch(black_box(rows), &mut batch)?;
        black_box(batch.values[0]);
        *t = nanos(t0);
    }
    let batch_t = summarize(ts);

    Ok(json!({
        "model": name,
        "apr_bytes": bytes.len(),
        "convert_ms": convert_ms,
        "max_abs_diff": max_diff,
        "single": single,
        "batch": batch_t,
    }))
}
