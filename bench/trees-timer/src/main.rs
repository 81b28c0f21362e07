//! `trees-timer`: icebreak's side of the tree-ensemble benchmark (`cargo xtask treebench`).
//!
//! Reads the manifest `scripts/bench/trees.py prepare` wrote (model files, the 1000 timed rows,
//! the source library's probabilities for them), converts each model the way a user would
//! (`icebreak_convert::{xgboost, lightgbm}::convert`, then `icebreak_format::write`), checks
//! that icebreak's probabilities match the library's, and times, with the same method as the
//! Python side (per-call clock readings, medians):
//!
//! - `predict_row`: warm `Model::predict_row`, rows cycling through the 1000 rows;
//! - `handle`: warm `LambdaHandler::handle`, the same rows;
//! - `predict_batch`: `Model::predict_batch` over the 1000 rows;
//! - `row_loop`: the 1000 rows through `predict_row` one after another, for comparison;
//! - creation: `LambdaHandler::from_bytes` and the first `handle` on the fresh handler.
//!
//! ```text
//! trees-timer --manifest DIR/manifest.json --round R --out FILE
//!             [--calls N] [--batch-reps N] [--create-reps N]
//! ```
//!
//! Built and run in release by the harness; not a user tool.

use anyhow::{bail, ensure, Context, Result};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::trees::LEAF;
use icebreak_format::{Apr, Split, Stage, TreeNode, Trees};
use icebreak_lambda::{LambdaHandler, LambdaRequest};
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Untimed calls before the timed ones (single row and `handle`).
const WARM_CALLS: usize = 2000;
/// Untimed batches before the timed ones.
const WARM_BATCHES: usize = 3;

struct Args {
    manifest: PathBuf,
    round: u64,
    out: PathBuf,
    calls: usize,
    batch_reps: usize,
    create_reps: usize,
}

fn parse_args() -> Result<Args> {
    let mut manifest = None;
    let mut out = None;
    let mut round = 1;
    let mut calls = 20_000;
    let mut batch_reps = 50;
    let mut create_reps = 200;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--round" => round = value()?.parse()?,
            "--calls" => calls = value()?.parse()?,
            "--batch-reps" => batch_reps = value()?.parse()?,
            "--create-reps" => create_reps = value()?.parse()?,
            _ => bail!("unknown argument {a:?}"),
        }
    }
    ensure!(
        calls > 0 && batch_reps > 0 && create_reps > 0,
        "counts must be positive"
    );
    Ok(Args {
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
            eprintln!("trees-timer: {e:#}");
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
    let requests: Vec<LambdaRequest> = rows
        .chunks_exact(nf)
        .map(|r| LambdaRequest {
            features: r.to_vec(),
        })
        .collect();
    let models = manifest["models"].as_array().context("manifest: models")?;
    let mut results = Vec::new();
    for m in models {
        let name = str_field(m, "name")?;
        let t0 = Instant::now();
        let r = time_model(m, &args, &rows, nf, n_rows, &requests)
            .with_context(|| format!("model {name}"))?;
        eprintln!(
            "trees-timer: round {} {name}: {:.2} us, {:.0} rows/s ({:.1} s)",
            args.round,
            r["single"]["median_ns"].as_f64().unwrap_or(0.0) / 1e3,
            n_rows as f64 / (r["batch"]["median_ns"].as_f64().unwrap_or(1.0) / 1e9),
            t0.elapsed().as_secs_f64()
        );
        results.push(r);
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

fn time_model(
    m: &Value,
    args: &Args,
    rows: &[f64],
    nf: usize,
    n_rows: usize,
    requests: &[LambdaRequest],
) -> Result<Value> {
    let name = str_field(m, "name")?;
    let path = str_field(m, "file")?;
    let source = std::fs::read(path).with_context(|| path.to_owned())?;
    let t0 = Instant::now();
    let spec = match str_field(m, "library")? {
        "xgboost" => icebreak_convert::xgboost::convert(&source)?,
        "lightgbm" => icebreak_convert::lightgbm::convert(&source)?,
        other => bail!("unknown library {other:?}"),
    };
    let bytes: &'static [u8] = icebreak_format::write(&spec)?.leak();
    let convert_ms = t0.elapsed().as_secs_f64() * 1e3;
    let apr = Apr::parse(bytes)?;
    let trees = apr
        .stages()
        .iter()
        .find_map(|s| match s {
            Stage::Trees(t) => Some(*t),
            _ => None,
        })
        .context("no tree stage")?;
    let model = Model::new(&apr);
    ensure!(
        model.n_features() == nf,
        "model takes {} features",
        model.n_features()
    );

    // Same answers as the library, or the timings compare different things.
    let proba = read_f64s(str_field(m, "proba")?)?;
    ensure!(
        proba.len() == n_rows,
        "{name}: {} probabilities",
        proba.len()
    );
    let mut batch = BatchOutput::default();
    model.predict_batch(rows, &mut batch)?;
    let width = batch.probability_width;
    ensure!(width == 2, "{name}: probability width {width}");
    let mut max_diff = 0.0f64;
    let mut scratch = model.scratch();
    for (i, (x, want)) in rows.chunks_exact(nf).zip(&proba).enumerate() {
        let got = f64::from(batch.probabilities[i * 2 + 1]);
        max_diff = max_diff.max((got - want).abs());
        let row = model.predict_row(x, &mut scratch)?;
        ensure!(
            row.values == &batch.values[i * 2..i * 2 + 2],
            "{name}: row {i}: predict_row and predict_batch disagree"
        );
    }
    ensure!(
        max_diff < 1e-4,
        "{name}: icebreak's probabilities differ from the library's by {max_diff}"
    );

    let at = |i: usize| &rows[(i % n_rows) * nf..(i % n_rows + 1) * nf];
    // Single row.
    for i in 0..WARM_CALLS {
        black_box(model.predict_row(black_box(at(i)), &mut scratch)?.values[1]);
    }
    let mut ts = vec![0u64; args.calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let x = at(i);
        let t0 = Instant::now();
        let out = model.predict_row(black_box(x), &mut scratch)?;
        black_box(out.values[1]);
        *t = nanos(t0);
    }
    let single = summarize(ts);

    // Warm handler.
    let handler = LambdaHandler::from_bytes(bytes)?;
    for i in 0..WARM_CALLS {
        black_box(handler.handle(&requests[i % n_rows])?);
    }
    let mut ts = vec![0u64; args.calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let req = &requests[i % n_rows];
        let t0 = Instant::now();
        let out = handler.handle(black_box(req))?;
        *t = nanos(t0);
        black_box(out);
    }
    let handle = summarize(ts);
    drop(handler);

    // Batch of all the rows.
    for _ in 0..WARM_BATCHES {
        model.predict_batch(black_box(rows), &mut batch)?;
    }
    let mut ts = vec![0u64; args.batch_reps];
    for t in &mut ts {
        let t0 = Instant::now();
        model.predict_batch(black_box(rows), &mut batch)?;
        black_box(batch.probabilities[1]);
        *t = nanos(t0);
    }
    let batch_t = summarize(ts);

    // The same rows through `predict_row` one after another, for comparison with the batch.
    let mut ts = vec![0u64; args.batch_reps];
    for t in &mut ts {
        let t0 = Instant::now();
        for x in rows.chunks_exact(nf) {
            black_box(model.predict_row(black_box(x), &mut scratch)?.values[1]);
        }
        *t = nanos(t0);
    }
    let row_loop = summarize(ts);

    // Handler creation and the first inference on the fresh handler.
    let (mut create, mut first, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.create_reps {
        let t0 = Instant::now();
        let h = LambdaHandler::from_bytes(black_box(bytes))?;
        let t1 = Instant::now();
        let out = h.handle(&requests[0])?;
        let t2 = Instant::now();
        black_box(out);
        drop(h);
        create.push((t1 - t0).as_nanos() as u64);
        first.push((t2 - t1).as_nanos() as u64);
        both.push((t2 - t0).as_nanos() as u64);
    }

    Ok(json!({
        "model": name,
        "apr_bytes": bytes.len(),
        "convert_ms": convert_ms,
        "n_trees": trees.n_trees(),
        "n_nodes": trees.nodes.len(),
        "n_leaves": trees.leaves.len() / (trees.leaf_width.max(1) as usize),
        "mean_visits_per_tree": mean_visits(&trees, rows, nf),
        "max_abs_diff": max_diff,
        "single": single,
        "handle": handle,
        "batch": batch_t,
        "row_loop": row_loop,
        "from_bytes": summarize(create),
        "first_handle": summarize(first),
        "from_bytes_and_first_handle": summarize(both),
    }))
}

/// Mean number of split nodes a row passes through per tree (the walk's length), following
/// the decoded nodes; the rows hold no missing values and no categories.
fn mean_visits(trees: &Trees<'_>, rows: &[f64], nf: usize) -> f64 {
    let mut visits = 0u64;
    let mut walks = 0u64;
    for x in rows.chunks_exact(nf) {
        for &root in trees.roots {
            let mut r = root;
            while r & LEAF == 0 {
                visits += 1;
                let Some(node) = TreeNode::decode(&trees.nodes[r as usize]) else {
                    break;
                };
                let mut v = x[node.feature as usize];
                if trees.round_f32() {
                    v = f64::from(v as f32);
                }
                let left = match node.split {
                    _ if v.is_nan() => node.default_left,
                    Split::Lt(t) => v < t,
                    Split::Le(t) => v <= t,
                    Split::Gt(t) => v > t,
                    Split::Ge(t) => v >= t,
                    Split::Eq(t) => v == t,
                    Split::Ne(t) => v != t,
                    Split::InSet { .. } => false,
                };
                r = if left { node.left } else { node.right };
            }
            walks += 1;
        }
    }
    visits as f64 / walks.max(1) as f64
}
