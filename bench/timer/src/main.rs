//! `bench-timer`: icebreak's side of the Python benchmarks, one mode per suite:
//!
//! - `trees` (`cargo xtask treebench`, module [`trees`]): the XGBoost and LightGBM models
//!   `scripts/bench/trees.py prepare` trained, converted the way a user would;
//! - `sklearn` (`cargo xtask sklearnbench`, module [`sklearn`]): the ONNX files
//!   `scripts/bench/sklearn.py prepare` exported;
//! - `explain` (`scripts/bench/explain.py run`, module [`explain`]): Tree SHAP
//!   contributions of the XGBoost and LightGBM models that script trained.
//!
//! Both read the suite's manifest (model files, the timed rows, the library's outputs for
//! them), convert each model, check that icebreak's outputs match the library's (the
//! timings would otherwise compare different things), and time with the same method as the
//! Python side (per-call monotonic clock readings, medians), writing one JSON file a round.
//!
//! ```text
//! bench-timer trees   --manifest DIR/manifest.json --round R --out FILE
//!                     [--calls N] [--batch-reps N] [--create-reps N]
//! bench-timer sklearn --manifest DIR/manifest.json --round R --out FILE
//!                     [--calls N] [--batch-reps N]
//! bench-timer explain --manifest DIR/manifest.json --round R --out FILE
//!                     [--calls N] [--batch-reps N]
//! ```
//!
//! Built and run in release by the harness; not a user tool.

use anyhow::{bail, ensure, Context, Result};
use icebreak_engine::{BatchOutput, Model, Scratch};
use icebreak_format::{Apr, ModelSpec};
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

pub(crate) use icebreak_bench_support::samples::{
    self, nanos, read_f64s, str_field, summarize, timer_floor, WARM_BATCHES, WARM_CALLS,
};

mod explain;
mod sklearn;
mod trees;

/// Which suite's models are timed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Trees,
    Sklearn,
    Explain,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Trees => "trees",
            Mode::Sklearn => "sklearn",
            Mode::Explain => "explain",
        }
    }
}

struct Args {
    mode: Mode,
    manifest: PathBuf,
    round: u64,
    out: PathBuf,
    calls: usize,
    batch_reps: usize,
    /// Handler creations per model (`trees` only).
    create_reps: usize,
}

const USAGE: &str = "usage: bench-timer trees   --manifest FILE --round R --out FILE [--calls N] [--batch-reps N] [--create-reps N]
       bench-timer sklearn --manifest FILE --round R --out FILE [--calls N] [--batch-reps N]
       bench-timer explain --manifest FILE --round R --out FILE [--calls N] [--batch-reps N]";

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("trees") => Mode::Trees,
        Some("sklearn") => Mode::Sklearn,
        Some("explain") => Mode::Explain,
        _ => bail!("{USAGE}"),
    };
    let mut manifest = None;
    let mut out = None;
    let mut round = 1;
    let mut calls = 20_000;
    let mut batch_reps = 50;
    let mut create_reps = 200;
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--round" => round = value()?.parse()?,
            "--calls" => calls = value()?.parse()?,
            "--batch-reps" => batch_reps = value()?.parse()?,
            "--create-reps" if mode == Mode::Trees => create_reps = value()?.parse()?,
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    ensure!(
        calls > 0 && batch_reps > 0 && create_reps > 0,
        "counts must be positive"
    );
    Ok(Args {
        mode,
        manifest: manifest.context("--manifest is required")?,
        out: out.context("--out is required")?,
        round,
        calls,
        batch_reps,
        create_reps,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-timer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The timed rows of a manifest.
struct Rows {
    /// Row-major, `nf` per row.
    data: Vec<f64>,
    /// Features per row.
    nf: usize,
    /// Rows.
    n: usize,
}

impl Rows {
    /// Row `i`, cycling through the rows.
    fn at(&self, i: usize) -> &[f64] {
        let i = i % self.n;
        &self.data[i * self.nf..(i + 1) * self.nf]
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
    let data = read_f64s(str_field(&manifest, "rows")?)?;
    ensure!(data.len() % nf == 0 && !data.is_empty(), "rows: bad length");
    let rows = Rows {
        n: data.len() / nf,
        data,
        nf,
    };
    let requests = match args.mode {
        Mode::Trees => trees::requests(&rows),
        Mode::Sklearn | Mode::Explain => Vec::new(),
    };
    let models = manifest["models"].as_array().context("manifest: models")?;
    let mode = args.mode.name();
    let mut results = Vec::new();
    for m in models {
        let name = str_field(m, "name")?;
        let t0 = Instant::now();
        let timed = match args.mode {
            Mode::Trees => trees::time_model(m, &args, &rows, &requests),
            Mode::Sklearn => sklearn::time_model(m, &args, &rows),
            Mode::Explain => explain::time_model(m, &args, &rows),
        };
        match timed {
            Ok(r) => {
                eprintln!(
                    "bench-timer {mode}: round {} {name}: {:.2} us, {:.0} rows/s ({:.1} s)",
                    args.round,
                    r["single"]["median_ns"].as_f64().unwrap_or(0.0) / 1e3,
                    rows.n as f64 / (r["batch"]["median_ns"].as_f64().unwrap_or(1.0) / 1e9),
                    t0.elapsed().as_secs_f64()
                );
                results.push(r);
            }
            // A model the importer or the engine refuses is reported and the run goes on.
            Err(e) if args.mode == Mode::Sklearn => {
                eprintln!("bench-timer {mode}: round {} {name}: {e:#}", args.round);
                results.push(json!({"model": name, "error": format!("{e:#}")}));
            }
            Err(e) => return Err(e.context(format!("model {name}"))),
        }
    }
    let floor = timer_floor(args.calls);
    let out = json!({"round": args.round, "timer_floor": floor, "results": results});
    std::fs::write(&args.out, serde_json::to_vec_pretty(&out)?)
        .with_context(|| args.out.display().to_string())?;
    Ok(())
}

/// A model converted the way a user would, its `.apr` bytes kept for the run.
struct Converted {
    bytes: &'static [u8],
    /// Conversion and writing, ms.
    convert_ms: f64,
}

/// Reads the file named by the manifest entry's `key` and converts it with `convert`.
fn convert(
    m: &Value,
    key: &str,
    convert: impl FnOnce(&[u8]) -> Result<ModelSpec>,
) -> Result<Converted> {
    let path = str_field(m, key)?;
    let source = std::fs::read(path).with_context(|| path.to_owned())?;
    let t0 = Instant::now();
    let spec = convert(&source)?;
    let bytes: &'static [u8] = icebreak_format::write(&spec)?.leak();
    Ok(Converted {
        bytes,
        convert_ms: t0.elapsed().as_secs_f64() * 1e3,
    })
}

/// The engine's model of a parsed `.apr`, checked to take the rows' features.
fn model<'a>(apr: &'a Apr<'a>, rows: &Rows) -> Result<Model<'a>> {
    let model = Model::new(apr);
    ensure!(
        model.n_features() == rows.nf,
        "model takes {} features",
        model.n_features()
    );
    Ok(model)
}

/// `predict_row` gives every row the values `predict_batch` gave it (in `batch`).
fn rows_agree(
    name: &str,
    model: &Model<'_>,
    rows: &Rows,
    batch: &BatchOutput,
    scratch: &mut Scratch,
) -> Result<()> {
    let w = batch.value_width;
    for (i, x) in rows.data.chunks_exact(rows.nf).enumerate() {
        let row = model.predict_row(x, scratch)?;
        ensure!(
            row.values == &batch.values[i * w..(i + 1) * w],
            "{name}: row {i}: predict_row and predict_batch disagree"
        );
    }
    Ok(())
}

/// Warm `predict_row`, rows cycling through the rows: `calls` timed calls.
fn time_single(
    model: &Model<'_>,
    rows: &Rows,
    calls: usize,
    scratch: &mut Scratch,
) -> Result<Value> {
    samples::time_single(rows.n, calls, |i| {
        let out = model.predict_row(black_box(rows.at(i)), scratch)?;
        black_box(out.values[0]);
        Ok(())
    })
}

/// `predict_batch` over all the rows: `reps` timed batches.
fn time_batch(
    model: &Model<'_>,
    rows: &Rows,
    reps: usize,
    batch: &mut BatchOutput,
) -> Result<Value> {
    samples::time_batch(reps, || {
        model.predict_batch(black_box(&rows.data), batch)?;
        black_box(batch.values[0]);
        Ok(())
    })
}
