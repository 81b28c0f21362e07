//! Criterion benches of CatBoost models (the OBLIVIOUS stage): warm `Model::predict_row`
//! (rows cycling through 1000 rows) and `Model::predict_batch` of 1000 rows.
//!
//! Models: the committed fixtures
//! `fixtures/catboost/{binary_nan_min,multiclass,onehot,ctr,ctr_counter}` (12, 20, 20, 15 and
//! 30 trees; `onehot` with one-hot categorical splits, `ctr` with 12 CTR splits over 6 CTRs,
//! `ctr_counter` with 65 CTR splits over 12 `Borders` and 2 `Counter` CTRs), and, with
//! `ICEBREAK_CATBOOST_BENCH_DIR` set to the directory
//! `scripts/bench/catboost_side_by_side.py` prepares, its 500-tree model (`model.json`) and its 1000
//! held-out rows (`rows.json`), which the script also times through CatBoost's own `predict`.
//!
//! Without that directory the rows are drawn column by column from the fixture's reference
//! rows (each feature of each row is that feature's value in a randomly chosen reference row).
//!
//! Run with `cargo bench -p icebreak-convert --bench catboost`, or through
//! `scripts/bench/catboost_side_by_side.py` for the side-by-side table of docs/BENCHMARKS.md.

// Bench code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::Apr;
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

fn convert(path: &Path) -> &'static [u8] {
    let source = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = icebreak_convert::catboost::convert(&source).unwrap();
    let buf = icebreak_format::write(&spec).unwrap();
    buf.leak()
}

/// A reference value: a number, `null` as NaN, a category (a string) as the row value a
/// front end reading text gives it.
fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) => icebreak_engine::cat_hash::category_value(s.as_bytes()),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

fn fixture(case: &str) -> Bench {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/catboost")
        .join(case);
    let bytes = convert(&dir.join("model.json"));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let inputs = reference["inputs"].as_array().unwrap();
    let nf = inputs[0].as_array().unwrap().len();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rows = Vec::with_capacity(N_ROWS * nf);
    for _ in 0..N_ROWS {
        rows.extend((0..nf).map(|f| number(&inputs[rng.below(inputs.len())][f])));
    }
    Bench {
        name: format!("catboost_{case}"),
        bytes,
        rows,
    }
}

fn benches() -> Vec<Bench> {
    let mut out = vec![
        fixture("binary_nan_min"),
        fixture("multiclass"),
        fixture("onehot"),
        fixture("ctr"),
        fixture("ctr_counter"),
    ];
    if let Some(dir) = std::env::var_os("ICEBREAK_CATBOOST_BENCH_DIR").map(PathBuf::from) {
        let rows: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("rows.json")).unwrap()).unwrap();
        let rows: Vec<f64> = rows
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(number))
            .collect();
        out.push(Bench {
            name: "catboost_t500_d6".to_string(),
            bytes: convert(&dir.join("model.json")),
            rows,
        });
    }
    out
}

fn bench(c: &mut Criterion) {
    for b in benches() {
        let apr = Apr::parse(b.bytes).unwrap();
        let model = Model::new(&apr);
        let nf = model.n_features();
        let n_rows = b.rows.len() / nf;
        let mut group = c.benchmark_group(&b.name);
        group.measurement_time(Duration::from_secs(3));
        group.warm_up_time(Duration::from_millis(500));
        let mut scratch = model.scratch();
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("predict_row", "warm"), |bencher| {
            bencher.iter(|| {
                let row = &b.rows[i * nf..(i + 1) * nf];
                i = (i + 1) % n_rows;
                let out = model.predict_row(black_box(row), &mut scratch).unwrap();
                black_box(out.values[0]);
            })
        });
        let mut out = BatchOutput::default();
        group.throughput(Throughput::Elements(n_rows as u64));
        group.bench_function(BenchmarkId::new("predict_batch", n_rows), |bencher| {
            bencher.iter(|| {
                model.predict_batch(black_box(&b.rows), &mut out).unwrap();
                black_box(out.values[0]);
            })
        });
        group.finish();
    }
}

criterion_group!(catboost, bench);
criterion_main!(catboost);
