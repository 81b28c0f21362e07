//! `bench-timer explain`: the models of `scripts/bench/explain.py` (XGBoost and LightGBM,
//! 100 and 500 trees of depth 6 and 8).
//!
//! Each model is converted with its node covers; its contributions must match the ones the
//! library recorded for the rows (XGBoost within 1e-5, LightGBM within 1e-9 of the row's
//! scale, as docs/FIDELITY.md says), or the timings would compare different things. Timed:
//!
//! - `single`: warm `Explainer::explain_row`, rows cycling through the rows;
//! - `batch`: every row through `explain_row`, one after another (one timing per pass).

use crate::{convert, model, nanos, read_f64s, str_field, summarize, Args, Rows, WARM_CALLS};
use anyhow::{bail, ensure, Result};
use icebreak_engine::Contributions;
use icebreak_format::Apr;
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

pub(crate) fn time_model(m: &Value, args: &Args, rows: &Rows) -> Result<Value> {
    let name = str_field(m, "name")?;
    let library = str_field(m, "library")?;
    let converted = convert(m, "file", |source| match library {
        "xgboost" => Ok(icebreak_convert::xgboost::convert(source)?),
        "lightgbm" => Ok(icebreak_convert::lightgbm::convert(source)?),
        other => bail!("unknown library {other:?}"),
    })?;
    let apr = Apr::parse(converted.bytes)?;
    let model = model(&apr, rows)?;
    let t0 = Instant::now();
    let explainer = model.explainer()?;
    let prepare_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut scratch = explainer.scratch();
    let mut out = Contributions::default();

    // Same contributions as the library's on the rows it recorded.
    let want = read_f64s(str_field(m, "contribs")?)?;
    let w = explainer.n_outputs() * (rows.nf + 1);
    ensure!(
        want.len() % w == 0 && !want.is_empty(),
        "{name}: contributions of the wrong width"
    );
    let tol = if library == "xgboost" { 1e-5 } else { 1e-9 };
    for (i, theirs) in want.chunks_exact(w).enumerate() {
        explainer.explain_row(rows.at(i), &mut scratch, &mut out)?;
        let scale = theirs.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
        for (k, (a, b)) in out.values.iter().zip(theirs).enumerate() {
            ensure!(
                (a - b).abs() <= tol * scale,
                "{name}: row {i} value {k}: icebreak {a}, {library} {b}"
            );
        }
    }

    for i in 0..WARM_CALLS.min(args.calls) {
        explainer.explain_row(black_box(rows.at(i)), &mut scratch, &mut out)?;
    }
    let mut ts = vec![0u64; args.calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let x = rows.at(i);
        let t0 = Instant::now();
        explainer.explain_row(black_box(x), &mut scratch, &mut out)?;
        black_box(out.values[0]);
        *t = nanos(t0);
    }
    let single = summarize(ts);
    let mut ts = vec![0u64; args.batch_reps];
    for t in &mut ts {
        let t0 = Instant::now();
        for x in rows.data.chunks_exact(rows.nf) {
            explainer.explain_row(black_box(x), &mut scratch, &mut out)?;
            black_box(out.values[0]);
        }
        *t = nanos(t0);
    }
    let batch = summarize(ts);
    Ok(json!({
        "model": name,
        "library": library,
        "trees": m["trees"],
        "depth": m["depth"],
        "prepare_ms": prepare_ms,
        "checked_rows": want.len() / w,
        "single": single,
        "batch": batch,
        "batch_rows": rows.n,
    }))
}
