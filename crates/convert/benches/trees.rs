//! Criterion benches of tree ensembles converted from XGBoost and LightGBM: warm
//! `Model::predict_row`, `Model::predict_batch` of 1000 rows, and `LambdaHandler::from_bytes`
//! plus the first inference, by model.
//!
//! Models: the committed benchmark fixtures (`fixtures/xgboost/bench_500x50/model.json`,
//! `fixtures/lightgbm/bench_500x50/model.txt`: 500 trees, 50 features, binary), converted in
//! process. With `ICEBREAK_TREEBENCH_DIR` set to the directory `cargo xtask treebench`
//! prepares (`target/treebench`), its models (the trees and depth grid) are added and its
//! 1000 held-out rows are used for every model.
//!
//! Rows: single-row benches cycle through 1000 rows so the branch predictor is not flattered
//! by one repeated row. Without `ICEBREAK_TREEBENCH_DIR`, the 1000 rows are drawn column by
//! column from the fixture's own finite reference rows (each feature of each row is that
//! feature's value in a randomly chosen reference row): realistic values for every feature,
//! rows never seen as such.
//!
//! `xgboost_fixture_500x50_f64_sum` is the XGBoost fixture with its leaves summed in f64
//! (the base added last) rather than in XGBoost's f32 order: what exactness costs.
//!
//! Run with `cargo bench -p icebreak-convert --bench trees`.

// Bench code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::Apr;
use icebreak_lambda::{LambdaHandler, LambdaRequest};
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

const N_ROWS: usize = 1000;

struct Bench {
    name: String,
    bytes: &'static [u8],
    rows: Vec<f64>,
}

/// Deterministic pseudo-random indices (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn convert(library: &str, path: &Path) -> &'static [u8] {
    let source = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = match library {
        "xgboost" => icebreak_convert::xgboost::convert(&source).unwrap(),
        "lightgbm" => icebreak_convert::lightgbm::convert(&source).unwrap(),
        other => panic!("unknown library {other}"),
    };
    icebreak_format::write(&spec).unwrap().leak()
}

/// 1000 rows drawn column by column from the finite rows of a fixture's `reference.json`.
fn resampled_rows(reference: &Path, seed: u64) -> Vec<f64> {
    let text = std::fs::read_to_string(reference).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let source: Vec<Vec<f64>> = json["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.as_array()?
                .iter()
                .map(|v| v.as_f64().filter(|x| x.is_finite()))
                .collect()
        })
        .collect();
    assert!(
        !source.is_empty(),
        "{}: no finite rows",
        reference.display()
    );
    let nf = source[0].len();
    let mut rng = Rng(seed);
    let mut rows = Vec::with_capacity(N_ROWS * nf);
    for _ in 0..N_ROWS {
        rows.extend((0..nf).map(|j| source[rng.below(source.len())][j]));
    }
    rows
}

fn read_f64s(path: &Path) -> Vec<f64> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn benches_to_run() -> Vec<Bench> {
    let root = root();
    let mut out = Vec::new();
    let grid = std::env::var_os("ICEBREAK_TREEBENCH_DIR").map(PathBuf::from);
    let grid_rows = grid.as_ref().map(|d| read_f64s(&d.join("rows.f64")));
    for (library, file, seed) in [
        ("xgboost", "fixtures/xgboost/bench_500x50/model.json", 1),
        ("lightgbm", "fixtures/lightgbm/bench_500x50/model.txt", 2),
    ] {
        let path = root.join(file);
        let reference = path.with_file_name("reference.json");
        out.push(Bench {
            name: format!("{library}_fixture_500x50"),
            bytes: convert(library, &path),
            rows: grid_rows
                .clone()
                .unwrap_or_else(|| resampled_rows(&reference, seed)),
        });
    }
    // The XGBoost model summed in f64 (base added last) instead of XGBoost's f32 order: the
    // cost of exactness, measured side by side in one run.
    let xgb = root.join("fixtures/xgboost/bench_500x50/model.json");
    let mut spec = icebreak_convert::xgboost::convert(&std::fs::read(&xgb).unwrap()).unwrap();
    for s in &mut spec.stages {
        if let icebreak_format::StageSpec::Trees(t) = s {
            t.sum_f32 = false;
        }
    }
    out.insert(
        1,
        Bench {
            name: "xgboost_fixture_500x50_f64_sum".to_owned(),
            bytes: icebreak_format::write(&spec).unwrap().leak(),
            rows: out[0].rows.clone(),
        },
    );
    if let (Some(dir), Some(rows)) = (grid, grid_rows) {
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        let manifest: Value = serde_json::from_str(&text).unwrap();
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

fn trees(c: &mut Criterion) {
    for b in benches_to_run() {
        let apr = Apr::parse(b.bytes).unwrap();
        let model = Model::new(&apr);
        let nf = model.n_features();
        assert_eq!(b.rows.len(), N_ROWS * nf, "{}: rows", b.name);
        let id = format!("{} ({} bytes)", b.name, b.bytes.len());

        let mut g = c.benchmark_group("trees/predict_row");
        let mut scratch = model.scratch();
        let mut i = 0;
        g.bench_function(&id, |bench| {
            bench.iter(|| {
                let x = &b.rows[i * nf..(i + 1) * nf];
                i = (i + 1) % N_ROWS;
                black_box(
                    model
                        .predict_row(black_box(x), &mut scratch)
                        .unwrap()
                        .values[1],
                )
            })
        });
        g.finish();

        let mut g = c.benchmark_group("trees/predict_batch");
        g.throughput(Throughput::Elements(N_ROWS as u64));
        g.measurement_time(Duration::from_secs(8));
        let mut out = BatchOutput::default();
        g.bench_function(BenchmarkId::new(&id, N_ROWS), |bench| {
            bench.iter(|| {
                model.predict_batch(black_box(&b.rows), &mut out).unwrap();
                black_box(out.values[1])
            })
        });
        g.finish();

        let req = LambdaRequest::new(b.rows[..nf].to_vec());
        let mut g = c.benchmark_group("trees/from_bytes_and_first_handle");
        g.bench_function(&id, |bench| {
            bench.iter(|| {
                let h = LambdaHandler::from_bytes(black_box(b.bytes)).unwrap();
                black_box(h.handle(&req).unwrap())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, trees);
criterion_main!(benches);
