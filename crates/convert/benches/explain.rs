//! Criterion benches of explanations (Tree SHAP) of tree ensembles converted from XGBoost and
//! LightGBM: warm `Explainer::explain_row` on one row, rows cycling through the fixture's
//! reference rows, and 1000 rows one after another.
//!
//! Models: `fixtures/xgboost/bench_500x50` (500 trees of depth 6, 50 features, binary) and
//! `fixtures/lightgbm/binary_nan` (100 trees, 30 features, NaN), converted in process with
//! their node covers. With `ICEBREAK_EXPLAINBENCH_DIR` set to the directory
//! `scripts/bench/explain.py run` prepares (`target/explainbench`), its models (XGBoost and
//! LightGBM, 100 and 500 trees of depth 6 and 8) are added, on its rows. The side-by-side run
//! against the libraries is `scripts/bench/explain.py` (docs/BENCHMARKS.md, "Explanations").
//!
//! Run with `cargo bench -p icebreak-convert --bench explain`.

// Bench code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::{Contributions, Model};
use icebreak_format::Apr;
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Bench {
    name: String,
    bytes: &'static [u8],
    /// Row-major rows of the model's width.
    rows: Vec<f64>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn convert(library: &str, path: &Path) -> &'static [u8] {
    let source = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = match library {
        "xgboost" => icebreak_convert::xgboost::convert(&source).unwrap(),
        _ => icebreak_convert::lightgbm::convert(&source).unwrap(),
    };
    icebreak_format::write(&spec).unwrap().leak()
}

/// The reference rows of a fixture (`null` as NaN), cycled to 1000 rows.
fn fixture_rows(reference: &Path) -> Vec<f64> {
    let v: Value = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    let rows: Vec<Vec<f64>> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    rows.iter().cycle().take(1000).flatten().copied().collect()
}

fn benches() -> Vec<Bench> {
    let mut out = vec![
        Bench {
            name: "xgboost_fixture_500x50".into(),
            bytes: convert(
                "xgboost",
                &root().join("fixtures/xgboost/bench_500x50/model.json"),
            ),
            rows: fixture_rows(&root().join("fixtures/xgboost/bench_500x50/reference.json")),
        },
        Bench {
            name: "lightgbm_fixture_binary_nan".into(),
            bytes: convert(
                "lightgbm",
                &root().join("fixtures/lightgbm/binary_nan/model.txt"),
            ),
            rows: fixture_rows(&root().join("fixtures/lightgbm/binary_nan/reference.json")),
        },
    ];
    if let Some(dir) = std::env::var_os("ICEBREAK_EXPLAINBENCH_DIR").map(PathBuf::from) {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let bytes = std::fs::read(manifest["rows"].as_str().unwrap()).unwrap();
        let rows: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        for m in manifest["models"].as_array().unwrap() {
            out.push(Bench {
                name: m["name"].as_str().unwrap().to_owned(),
                bytes: convert(
                    m["library"].as_str().unwrap(),
                    Path::new(m["file"].as_str().unwrap()),
                ),
                rows: rows.clone(),
            });
        }
    }
    out
}

fn explain(c: &mut Criterion) {
    let mut g = c.benchmark_group("explain");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for b in benches() {
        let apr = Apr::parse(b.bytes).unwrap();
        let model = Model::new(&apr);
        let explainer = model.explainer().unwrap();
        let nf = model.n_features();
        let rows: Vec<&[f64]> = b.rows.chunks_exact(nf).collect();
        let mut scratch = explainer.scratch();
        let mut out = Contributions::default();
        let mut i = 0;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("single_row", &b.name), |bench| {
            bench.iter(|| {
                i = (i + 1) % rows.len();
                explainer
                    .explain_row(black_box(rows[i]), &mut scratch, &mut out)
                    .unwrap();
                black_box(out.values[0])
            })
        });
        g.throughput(Throughput::Elements(rows.len() as u64));
        g.bench_function(BenchmarkId::new("rows_1000", &b.name), |bench| {
            bench.iter(|| {
                for x in &rows {
                    explainer
                        .explain_row(black_box(x), &mut scratch, &mut out)
                        .unwrap();
                    black_box(out.values[0]);
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches_group, explain);
criterion_main!(benches_group);
