//! Criterion benches of the engine, warm (model created, scratch grown, weights in cache):
//! single-row inference of a 784-feature binary logistic regression behind a standard scaler
//! (target: under 1 µs), of a 10-class multinomial one, and batch throughput over 1000 rows.
//!
//! Run with `cargo bench -p icebreak-engine`.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::{
    write, AlignedBuf, Apr, InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec,
    PostTransform, ProvenanceSpec, StageSpec, Task,
};
use std::hint::black_box;
use std::time::Duration;

const N_FEATURES: u32 = 784;
const BATCH_ROWS: usize = 1000;

/// Deterministic pseudo-random values in `[-1, 1)` (xorshift64*), so every run benches the
/// same model and rows.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
        bits as f32 / (1u32 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| offset + scale * self.next_f32()).collect()
    }
}

/// A standard scaler then a linear layer of `n_out` outputs, then `post`: a classifier.
fn classifier(n_out: u32, post: PostTransform) -> AlignedBuf {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(n_out));
    let nf = N_FEATURES as usize;
    let n_classes = if post == PostTransform::BinaryLogistic {
        2
    } else {
        n_out
    };
    let spec = ModelSpec {
        input: InputSpec {
            n_features: N_FEATURES,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Classification,
            n_outputs: n_classes,
            labels: LabelsSpec::Int((0..i64::from(n_classes)).collect()),
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: "bench".into(),
            model_name: None,
            source_format: None,
            converter: None,
            source_sha256: None,
        },
        stages: vec![
            StageSpec::StandardScaler {
                mean: rng.vec(nf, 50.0, 100.0),
                scale: rng.vec(nf, 20.0, 60.0),
            },
            StageSpec::Linear {
                n_in: N_FEATURES,
                n_out,
                coef: rng.vec(nf * n_out as usize, 0.05, 0.0),
                intercept: rng.vec(n_out as usize, 0.5, 0.0),
            },
            StageSpec::Post(post),
        ],
    };
    write(&spec).expect("the bench model is valid")
}

/// Pixel-like rows: values in `[0, 255)`.
fn rows(n: usize) -> Vec<f64> {
    let mut rng = Rng(42);
    rng.vec(n * N_FEATURES as usize, 127.5, 127.5)
        .into_iter()
        .map(f64::from)
        .collect()
}

fn bench_engine(c: &mut Criterion) {
    let models = [
        (
            "logreg_binary_784_scaled",
            classifier(1, PostTransform::BinaryLogistic),
        ),
        (
            "multinomial_10x784_scaled",
            classifier(10, PostTransform::Softmax),
        ),
    ];
    let batch = rows(BATCH_ROWS);
    let row = &batch[..N_FEATURES as usize];

    let mut single = c.benchmark_group("engine/predict_row");
    single
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, file) in &models {
        let apr = Apr::parse(file).expect("valid");
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        single.bench_function(*name, |b| {
            b.iter(|| {
                let out = model
                    .predict_row(black_box(row), &mut scratch)
                    .expect("a valid row");
                black_box(out.class)
            })
        });
    }
    single.finish();

    let mut many = c.benchmark_group("engine/predict_batch");
    many.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
        .throughput(Throughput::Elements(BATCH_ROWS as u64));
    for (name, file) in &models {
        let apr = Apr::parse(file).expect("valid");
        let model = Model::new(&apr);
        let mut out = BatchOutput::default();
        many.bench_with_input(BenchmarkId::new(*name, BATCH_ROWS), &batch, |b, batch| {
            b.iter(|| {
                model
                    .predict_batch(black_box(batch), &mut out)
                    .expect("valid rows");
                black_box(out.classes.len())
            })
        });
    }
    many.finish();
}

/// The bench group (written out rather than with `criterion_group!`, whose generated `pub fn`
/// has no doc comment).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_engine(&mut c);
}

criterion_main!(benches);
