//! `bench-timer trees`: the tree-ensemble models of `cargo xtask treebench`.
//!
//! Each model is converted with `icebreak_convert::{xgboost, lightgbm}::convert`; its
//! probabilities must match the library's. Timed:
//!
//! - `single`: warm `Model::predict_row`, rows cycling through the 1000 rows;
//! - `handle`: warm `LambdaHandler::handle`, the same rows;
//! - `batch`: `Model::predict_batch` over the 1000 rows;
//! - `row_loop`: the 1000 rows through `predict_row` one after another, for comparison;
//! - creation: `LambdaHandler::from_bytes` and the first `handle` on the fresh handler.

use crate::{
    convert, model, nanos, read_f64s, rows_agree, str_field, summarize, time_batch, time_single,
    Args, Rows, WARM_CALLS,
};
use anyhow::{bail, ensure, Context, Result};
use icebreak_engine::BatchOutput;
use icebreak_format::trees::LEAF;
use icebreak_format::{Apr, Split, Stage, TreeNode, Trees};
use icebreak_lambda::{LambdaHandler, LambdaRequest};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

/// The rows as direct-invoke requests, for `handle`.
pub(crate) fn requests(rows: &Rows) -> Vec<LambdaRequest> {
    rows.data
        .chunks_exact(rows.nf)
        .map(|r| LambdaRequest::new(r.to_vec()))
        .collect()
}

pub(crate) fn time_model(
    m: &Value,
    args: &Args,
    rows: &Rows,
    requests: &[LambdaRequest],
) -> Result<Value> {
    let name = str_field(m, "name")?;
    let library = str_field(m, "library")?;
    let converted = convert(m, "file", |source| match library {
        "xgboost" => Ok(icebreak_convert::xgboost::convert(source)?),
        "lightgbm" => Ok(icebreak_convert::lightgbm::convert(source)?),
        other => bail!("unknown library {other:?}"),
    })?;
    let bytes = converted.bytes;
    let apr = Apr::parse(bytes)?;
    let trees = apr
        .stages()
        .iter()
        .find_map(|s| match s {
            Stage::Trees(t) => Some(*t),
            _ => None,
        })
        .context("no tree stage")?;
    let model = model(&apr, rows)?;

    // Same answers as the library, or the timings compare different things.
    let proba = read_f64s(str_field(m, "proba")?)?;
    ensure!(
        proba.len() == rows.n,
        "{name}: {} probabilities",
        proba.len()
    );
    let mut batch = BatchOutput::default();
    model.predict_batch(&rows.data, &mut batch)?;
    let width = batch.probability_width;
    ensure!(width == 2, "{name}: probability width {width}");
    let max_diff = proba
        .iter()
        .enumerate()
        .map(|(i, want)| (batch.probabilities[i * 2 + 1] - want).abs())
        .fold(0.0f64, f64::max);
    let mut scratch = model.scratch();
    rows_agree(name, &model, rows, &batch, &mut scratch)?;
    ensure!(
        max_diff < 1e-4,
        "{name}: icebreak's probabilities differ from the library's by {max_diff}"
    );

    let single = time_single(&model, rows, args.calls, &mut scratch)?;

    // Warm handler.
    let handler = LambdaHandler::from_bytes(bytes)?;
    for i in 0..WARM_CALLS {
        black_box(handler.handle(&requests[i % rows.n])?);
    }
    let mut ts = vec![0u64; args.calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let req = &requests[i % rows.n];
        let t0 = Instant::now();
        let out = handler.handle(black_box(req))?;
        *t = nanos(t0);
        black_box(out);
    }
    let handle = summarize(ts);
    drop(handler);

    let batch_t = time_batch(&model, rows, args.batch_reps, &mut batch)?;

    // The same rows through `predict_row` one after another, for comparison with the batch.
    let mut ts = vec![0u64; args.batch_reps];
    for t in &mut ts {
        let t0 = Instant::now();
        for x in rows.data.chunks_exact(rows.nf) {
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
        "convert_ms": converted.convert_ms,
        "n_trees": trees.n_trees(),
        "n_nodes": trees.nodes.len(),
        "n_leaves": trees.leaves.len() / (trees.leaf_width.max(1) as usize),
        "mean_visits_per_tree": mean_visits(&trees, &rows.data, rows.nf),
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
