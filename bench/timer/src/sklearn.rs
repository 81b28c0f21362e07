//! `bench-timer sklearn`: the scikit-learn models of `cargo xtask sklearnbench`.
//!
//! Each model's ONNX file is converted with `icebreak_convert::onnx::convert`; the engine's
//! outputs must match scikit-learn's on the timed rows (probabilities for the classifiers,
//! the distances to the centres for k-means). Timed: `single` (warm `Model::predict_row`,
//! rows cycling through the rows), `batch` (`Model::predict_batch` over all of them, the
//! caller's `f64` rows) and `batch_f32` (`Model::predict_batch_f32` over the same rows
//! rounded to `f32`, the rows onnxruntime is given).

use crate::{
    convert, model, read_f64s, rows_agree, str_field, time_batch, time_single, Args, Rows,
};
use anyhow::{ensure, Context, Result};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::Apr;
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

/// Largest difference from scikit-learn's outputs accepted (float32 arithmetic on 784
/// features; onnxruntime's own difference is in the report).
const TOLERANCE: f64 = 1e-3;

pub(crate) fn time_model(m: &Value, args: &Args, rows: &Rows) -> Result<Value> {
    let name = str_field(m, "name")?;
    let converted = convert(m, "onnx", |source| {
        icebreak_convert::onnx::convert(source).context("onnx import")
    })?;
    let apr = Apr::parse(converted.bytes)?;
    let model = model(&apr, rows)?;

    // Same answers as scikit-learn, or the timings compare different things.
    let reference = read_f64s(str_field(m, "reference")?)?;
    let width = m["reference_width"]
        .as_u64()
        .context("manifest: reference_width")? as usize;
    ensure!(
        reference.len() == rows.n * width,
        "{name}: {} reference values",
        reference.len()
    );
    let mut batch = BatchOutput::default();
    model.predict_batch(&rows.data, &mut batch)?;
    ensure!(
        batch.value_width == width,
        "{name}: icebreak gives {} values per row, scikit-learn {width}",
        batch.value_width
    );
    let max_diff = batch
        .values
        .iter()
        .zip(&reference)
        .map(|(g, want)| ((*g) - want).abs())
        .fold(0.0f64, f64::max);
    let mut scratch = model.scratch();
    rows_agree(name, &model, rows, &batch, &mut scratch)?;
    ensure!(
        max_diff < TOLERANCE,
        "{name}: icebreak's outputs differ from scikit-learn's by {max_diff}"
    );

    // The f32 entry point answers exactly like the f64 one on the same (f32) values.
    let rows32: Vec<f32> = rows.data.iter().map(|&v| v as f32).collect();
    let widened: Vec<f64> = rows32.iter().map(|&v| f64::from(v)).collect();
    let mut want = BatchOutput::default();
    model.predict_batch(&widened, &mut want)?;
    model.predict_batch_f32(&rows32, &mut batch)?;
    ensure!(
        batch
            .values
            .iter()
            .map(|v| v.to_bits())
            .eq(want.values.iter().map(|v| v.to_bits())),
        "{name}: predict_batch_f32 and predict_batch disagree on the same values"
    );

    let single = time_single(&model, rows, args.calls, &mut scratch)?;
    let batch_t = time_batch(&model, rows, args.batch_reps, &mut batch)?;
    let batch_f32 = time_batch_f32(&model, &rows32, args.batch_reps, &mut batch)?;
    Ok(json!({
        "model": name,
        "apr_bytes": converted.bytes.len(),
        "convert_ms": converted.convert_ms,
        "max_abs_diff": max_diff,
        "single": single,
        "batch": batch_t,
        "batch_f32": batch_f32,
    }))
}

/// `predict_batch_f32` over all the rows (as `f32`): `reps` timed batches, as `time_batch`.
fn time_batch_f32(
    model: &Model<'_>,
    rows: &[f32],
    reps: usize,
    batch: &mut BatchOutput,
) -> Result<Value> {
    for _ in 0..crate::WARM_BATCHES {
        model.predict_batch_f32(black_box(rows), batch)?;
    }
    let mut ts = vec![0u64; reps];
    for t in &mut ts {
        let t0 = Instant::now();
        model.predict_batch_f32(black_box(rows), batch)?;
        black_box(batch.values[0]);
        *t = crate::nanos(t0);
    }
    Ok(crate::summarize(ts))
}
