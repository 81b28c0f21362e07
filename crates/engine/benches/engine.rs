//! Criterion benches of the engine, warm (model created, scratch grown, weights in cache):
//! single-row inference of a 784-feature binary logistic regression behind a standard scaler
//! (target: under 1 µs), of a 10-class multinomial one, and batch throughput over 1000 rows;
//! and (group `engine/fixed_cost`) the single-row shapes of `cargo xtask sklearnbench` with no
//! preprocessor — a 784 → 10 softmax regression, k-means of 10 centres and a 784 → 50 PCA —
//! whose arithmetic is a fraction of a microsecond, so what they measure is mostly the
//! per-call cost around the kernels (the row check and narrowing, the post transform, the
//! widening of the answers).
//!
//! Run with `cargo bench -p icebreak-engine --bench engine` (add `-- fixed_cost` for the
//! second group alone).

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

/// A model of `n_outputs` outputs from `stages`, rows of [`N_FEATURES`] features.
fn plain(task: Task, n_outputs: u32, stages: Vec<StageSpec>) -> AlignedBuf {
    let spec = ModelSpec {
        input: InputSpec {
            n_features: N_FEATURES,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task,
            n_outputs,
            labels: if task == Task::Classification {
                LabelsSpec::Int((0..i64::from(n_outputs)).collect())
            } else {
                LabelsSpec::None
            },
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
        stages,
    };
    write(&spec).expect("the bench model is valid")
}

/// The sklearnbench shapes (784 features, no scaler): softmax regression 784 → 10,
/// k-means with 10 centres, PCA 784 → 50.
fn fixed_cost_models() -> Vec<(&'static str, AlignedBuf)> {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    let nf = N_FEATURES as usize;
    vec![
        (
            "logreg_softmax_10x784",
            plain(
                Task::Classification,
                10,
                vec![
                    StageSpec::Linear {
                        n_in: N_FEATURES,
                        n_out: 10,
                        coef: rng.vec(nf * 10, 0.05, 0.0),
                        intercept: rng.vec(10, 0.5, 0.0),
                    },
                    StageSpec::Post(PostTransform::Softmax),
                ],
            ),
        ),
        (
            "kmeans_10x784",
            plain(
                Task::Classification,
                10,
                vec![StageSpec::KMeans {
                    n_in: N_FEATURES,
                    k: 10,
                    centers: rng.vec(nf * 10, 0.5, 0.5),
                }],
            ),
        ),
        (
            "pca_784_50",
            plain(
                Task::Transform,
                50,
                vec![StageSpec::Pca {
                    n_in: N_FEATURES,
                    n_out: 50,
                    mean: rng.vec(nf, 0.1, 0.2),
                    components: rng.vec(nf * 50, 0.05, 0.0),
                    whiten: None,
                }],
            ),
        ),
    ]
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

    // Rows like the digits of sklearnbench: values in [0, 1).
    let unit: Vec<f64> = batch.iter().map(|v| v / 255.0).collect();
    let mut fixed = c.benchmark_group("engine/fixed_cost");
    fixed
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, file) in &fixed_cost_models() {
        let apr = Apr::parse(file).expect("valid");
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let nf = N_FEATURES as usize;
        let mut i = 0;
        fixed.bench_function(*name, |b| {
            b.iter(|| {
                // Rows cycling through the batch, as the sklearnbench timer does.
                let row = &unit[i * nf..(i + 1) * nf];
                i = (i + 1) % BATCH_ROWS;
                let out = model
                    .predict_row(black_box(row), &mut scratch)
                    .expect("a valid row");
                black_box(out.values[0])
            })
        });
    }
    fixed.finish();
}

/// The bench group (written out rather than with `criterion_group!`, whose generated `pub fn`
/// has no doc comment).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_engine(&mut c);
}

criterion_main!(benches);
