//! Criterion benches of the batch products (`batch/kernel`): 1000 float32 rows against the
//! weight rows of the shapes `cargo xtask sklearnbench` runs (a 784 → 10 logistic
//! regression, the 784 → 128, 128 → 64 and 64 → 10 layers of its MLP, a 784 → 50 PCA),
//! through [`rows_dot_f32`] with the row-major weights and with their re-packed copy
//! ([`Packed`], read by the AVX-512 kernel; on other CPUs both run the same kernel). The
//! throughput is in multiply-adds (`rows × n × n_out`) per second.
//!
//! Group `batch/model` times `Model::predict_batch_f32` on 1000 float32 rows of synthetic
//! models of the same shapes: the logistic regression (with its softmax), the MLP
//! (784-128-64-10, relu, softmax) and the PCA (784 → 50), the whole batch path (kernels,
//! checks, activations, post transform).
//!
//! Run with `cargo bench -p icebreak-engine --bench batch` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used)]

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::kernels::rows_dot_f32;
use icebreak_engine::{BatchOutput, Model, Packed};
use icebreak_format::*;
use std::hint::black_box;
use std::time::Duration;

const ROWS: usize = 1000;

/// Deterministic pseudo-random values in `[-1, 1)` (xorshift64*).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let v = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (v as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bench_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch/kernel");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (n, n_out) in [(784, 10), (784, 128), (128, 64), (64, 10), (784, 50)] {
        let x = values(1 + n as u64, ROWS * n);
        let w = values(7 + n_out as u64, n * n_out);
        let packed = Packed::new(&w, n, n_out).unwrap();
        let mut out = vec![0.0f32; ROWS * n_out];
        g.throughput(Throughput::Elements((ROWS * n * n_out) as u64));
        let shape = format!("{n}x{n_out}");
        g.bench_function(BenchmarkId::new("row_major", &shape), |b| {
            b.iter(|| {
                rows_dot_f32(black_box(&x), n, &w, n_out, &mut out, None);
                black_box(out[0]);
            })
        });
        g.bench_function(BenchmarkId::new("packed", &shape), |b| {
            b.iter(|| {
                rows_dot_f32(black_box(&x), n, &w, n_out, &mut out, Some(&packed));
                black_box(out[0]);
            })
        });
    }
    g.finish();
}

fn spec(n: u32, stages: Vec<StageSpec>, task: Task, no: u32) -> AlignedBuf {
    write(&ModelSpec {
        input: InputSpec {
            n_features: n,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task,
            n_outputs: no,
            labels: if task == Task::Classification {
                LabelsSpec::Int((0..i64::from(no)).collect())
            } else {
                LabelsSpec::None
            },
            output_names: None,
            precision: Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: "bench".into(),
            model_name: None,
            source_format: None,
            converter: None,
            source_sha256: None,
        },
        stages,
    })
    .unwrap()
}

fn dense(seed: u64, n_in: u32, n_out: u32, activation: Activation) -> StageSpec {
    let scale = 1.0 / (n_in as f32).sqrt();
    StageSpec::Dense {
        n_in,
        n_out,
        activation,
        weights: values(seed, (n_in * n_out) as usize)
            .iter()
            .map(|v| v * scale)
            .collect(),
        bias: values(seed + 1, n_out as usize),
    }
}

fn bench_model(c: &mut Criterion) {
    let logreg = spec(
        784,
        vec![
            StageSpec::Linear {
                n_in: 784,
                n_out: 10,
                coef: values(11, 7840).iter().map(|v| v * 0.05).collect(),
                intercept: values(12, 10),
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        10,
    );
    let mlp = spec(
        784,
        vec![
            dense(21, 784, 128, Activation::Relu),
            dense(23, 128, 64, Activation::Relu),
            dense(25, 64, 10, Activation::Identity),
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        10,
    );
    let pca = spec(
        784,
        vec![StageSpec::Pca {
            n_in: 784,
            n_out: 50,
            mean: values(31, 784).iter().map(|v| v * 0.1).collect(),
            components: values(32, 784 * 50).iter().map(|v| v * 0.05).collect(),
            whiten: None,
        }],
        Task::Transform,
        50,
    );
    // Rows in [0, 1), as the digits are.
    let rows: Vec<f32> = values(41, ROWS * 784)
        .iter()
        .map(|v| 0.5 + 0.5 * v)
        .collect();
    let mut g = c.benchmark_group("batch/model");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, buf) in [
        ("logreg_784_10", &logreg),
        ("mlp_784_128_64_10", &mlp),
        ("pca_784_50", &pca),
    ] {
        let apr = Apr::parse(buf).unwrap();
        let m = Model::new(&apr);
        let mut out = BatchOutput::default();
        g.bench_function(BenchmarkId::new("predict_batch_f32_1000", name), |b| {
            b.iter(|| {
                m.predict_batch_f32(black_box(&rows), &mut out).unwrap();
                black_box(out.values.len());
            })
        });
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_kernel(&mut c);
    bench_model(&mut c);
}

criterion_main!(benches);
