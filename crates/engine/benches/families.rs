//! Criterion benches of the families beyond linear models and trees, warm (model created,
//! scratch grown, weights in cache), single row and a batch of 1000 rows, on synthetic weights
//! shaped like the anchors: an MLP 784-128-64-10, an SVC (rbf, 200 support vectors,
//! 30 features, 3 classes, probabilities), k-means 8 × 64, Gaussian naive Bayes 10 × 64, a PCA
//! 64 → 16 transformer, and PCA 64 → 16 feeding an SVC.
//!
//! Group `families/floor` puts the single rows whose weights do not fit the L1 cache beside
//! a plain read of the same number of bytes (the dispatched row check over a buffer of that
//! size, 512-bit loads on an AVX-512 CPU): the SVC of `cargo xtask sklearnbench`'s shape
//! (858 support vectors of 784 features, 10 classes, 2.7 MB of `f32`), whose row cannot be
//! faster than one read of its support vectors.
//!
//! Run with `cargo bench -p icebreak-engine --bench families` (add `-- --quick` for a short
//! run, `-- floor` for the second group alone).

#![allow(clippy::unwrap_used)]

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::*;
use std::hint::black_box;
use std::time::Duration;

const BATCH_ROWS: usize = 1000;

/// Deterministic pseudo-random values in `[-1, 1)` (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
    fn f32s(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| scale * self.next_f64() as f32).collect()
    }
    fn f64s(&mut self, n: usize, scale: f64, offset: f64) -> Vec<f64> {
        (0..n).map(|_| offset + scale * self.next_f64()).collect()
    }
}

fn model(n: u32, stages: Vec<StageSpec>, task: Task, no: u32) -> AlignedBuf {
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
    })
    .unwrap()
}

fn dense(r: &mut Rng, n_in: u32, n_out: u32, activation: Activation) -> StageSpec {
    let scale = 1.0 / (n_in as f32).sqrt();
    StageSpec::Dense {
        n_in,
        n_out,
        activation,
        weights: r.f32s((n_in * n_out) as usize, scale),
        bias: r.f32s(n_out as usize, 0.1),
    }
}

fn mlp(r: &mut Rng) -> AlignedBuf {
    let stages = vec![
        dense(r, 784, 128, Activation::Relu),
        dense(r, 128, 64, Activation::Relu),
        dense(r, 64, 10, Activation::Identity),
        StageSpec::Post(PostTransform::Softmax),
    ];
    model(784, stages, Task::Classification, 10)
}

fn svc_stage(r: &mut Rng, n_in: u32, per_class: u32, k: u32) -> StageSpec {
    let n_sv = (per_class * k) as usize;
    let pairs = (k * (k - 1) / 2) as usize;
    StageSpec::Svm(SvmSpec {
        n_in,
        n_classes: k,
        kernel: Kernel::Rbf {
            gamma: 1.0 / f64::from(n_in),
        },
        n_support: vec![per_class; k as usize],
        support_vectors: r.f32s(n_sv * n_in as usize, 1.0),
        coef: r.f64s((k as usize - 1) * n_sv, 1.0, 0.0),
        intercept: r.f64s(pairs, 0.5, 0.0),
        prob_a: r.f64s(pairs, 0.5, -2.0),
        break_ties: false,
        prob_b: r.f64s(pairs, 0.1, 0.0),
    })
}

fn svc(r: &mut Rng) -> AlignedBuf {
    let stages = vec![svc_stage(r, 30, 67, 3)];
    model(30, stages, Task::Classification, 3)
}

/// [`svc`]'s shape as `svm_f64` (f64 support vectors, kernel sums in feature order, answers
/// in f64): what the Python package writes for a scikit-learn `SVC(probability=True)`.
fn svc_f64(r: &mut Rng) -> AlignedBuf {
    let (n_in, per_class, k) = (30u32, 67u32, 3u32);
    let n_sv = (per_class * k) as usize;
    let pairs = (k * (k - 1) / 2) as usize;
    let stage = StageSpec::SvmF64(SvmSpec {
        n_in,
        n_classes: k,
        kernel: Kernel::Rbf {
            gamma: 1.0 / f64::from(n_in),
        },
        n_support: vec![per_class; k as usize],
        support_vectors: r.f64s(n_sv * n_in as usize, 1.0, 0.0),
        coef: r.f64s((k as usize - 1) * n_sv, 1.0, 0.0),
        intercept: r.f64s(pairs, 0.5, 0.0),
        prob_a: r.f64s(pairs, 0.5, -2.0),
        prob_b: r.f64s(pairs, 0.1, 0.0),
        break_ties: false,
    });
    let buf = model(n_in, vec![stage], Task::Classification, k);
    let mut spec = Apr::parse(&buf).unwrap().to_spec();
    spec.output.precision = icebreak_format::Precision::F64;
    write(&spec).unwrap()
}

fn pca_svc(r: &mut Rng) -> AlignedBuf {
    let stages = vec![
        StageSpec::Pca {
            n_in: 64,
            n_out: 16,
            mean: r.f32s(64, 0.1),
            components: r.f32s(64 * 16, 0.125),
            whiten: None,
        },
        svc_stage(r, 16, 50, 2),
    ];
    model(64, stages, Task::Classification, 2)
}

fn kmeans(r: &mut Rng) -> AlignedBuf {
    let stages = vec![StageSpec::KMeans {
        n_in: 64,
        k: 8,
        centers: r.f32s(8 * 64, 1.0),
    }];
    model(64, stages, Task::Classification, 8)
}

fn naive_bayes(r: &mut Rng) -> AlignedBuf {
    let var = r.f64s(10 * 64, 0.4, 0.6);
    let log_norm = var
        .chunks(64)
        .map(|c| {
            -0.5 * c
                .iter()
                .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                .sum::<f64>()
        })
        .collect();
    let stages = vec![
        StageSpec::GaussianNb {
            n_in: 64,
            n_classes: 10,
            theta: r.f64s(10 * 64, 1.0, 0.0),
            var,
            log_prior: vec![-(10f64.ln()); 10],
            log_norm,
        },
        StageSpec::Post(PostTransform::Softmax),
    ];
    model(64, stages, Task::Classification, 10)
}

fn pca(r: &mut Rng) -> AlignedBuf {
    let stages = vec![StageSpec::Pca {
        n_in: 64,
        n_out: 16,
        mean: r.f32s(64, 0.1),
        components: r.f32s(64 * 16, 0.125),
        whiten: Some(r.f32s(16, 0.5).iter().map(|v| 1.0 + v.abs()).collect()),
    }];
    model(64, stages, Task::Transform, 16)
}

/// The shape of sklearnbench's `svc_rbf`: 858 support vectors of 784 features over 10
/// classes, with probabilities.
fn svc_858(r: &mut Rng) -> AlignedBuf {
    let (n_in, k) = (784u32, 10u32);
    let n_support: Vec<u32> = (0..k).map(|c| if c < 8 { 86 } else { 85 }).collect();
    let n_sv: usize = n_support.iter().map(|&v| v as usize).sum();
    assert_eq!(n_sv, 858);
    let pairs = (k * (k - 1) / 2) as usize;
    let stage = StageSpec::Svm(SvmSpec {
        n_in,
        n_classes: k,
        kernel: Kernel::Rbf {
            gamma: 1.0 / f64::from(n_in),
        },
        n_support,
        support_vectors: r.f32s(n_sv * n_in as usize, 1.0),
        coef: r.f64s((k as usize - 1) * n_sv, 1.0, 0.0),
        intercept: r.f64s(pairs, 0.5, 0.0),
        prob_a: r.f64s(pairs, 0.5, -2.0),
        break_ties: false,
        prob_b: r.f64s(pairs, 0.1, 0.0),
    });
    model(n_in, vec![stage], Task::Classification, k)
}

fn bench_floor(c: &mut Criterion) {
    let mut r = Rng(0x2545_F491_4F6C_DD1D);
    let buf = svc_858(&mut r);
    let apr = Apr::parse(&buf).unwrap();
    let m = Model::new(&apr);
    let n = m.n_features();
    let rows: Vec<f64> = (0..BATCH_ROWS * n).map(|_| r.next_f64()).collect();
    let mut scratch = m.scratch();
    let mut g = c.benchmark_group("families/floor");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let mut i = 0;
    g.bench_function("predict_row/svc_rbf_858sv_784f_10c_proba", |b| {
        b.iter(|| {
            let x = &rows[i * n..(i + 1) * n];
            i = (i + 1) % BATCH_ROWS;
            let out = m.predict_row(black_box(x), &mut scratch).unwrap();
            black_box(out.class);
        })
    });
    // The same number of bytes as the support vectors, read once per call.
    let bytes: Vec<f32> = r.f32s(858 * 784, 1.0);
    g.throughput(Throughput::Bytes((bytes.len() * 4) as u64));
    g.bench_function("read/2.7MB", |b| {
        b.iter(|| {
            black_box(icebreak_engine::kernels::any_non_finite_f32(black_box(
                &bytes,
            )))
        })
    });
    g.finish();
}

fn bench_families(c: &mut Criterion) {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut models: Vec<(&str, AlignedBuf)> = vec![
        ("mlp_784_128_64_10", mlp(&mut r)),
        ("svc_rbf_200sv_30f_3c_proba", svc(&mut r)),
        ("pca64_16_svc_rbf_100sv", pca_svc(&mut r)),
        ("kmeans_8x64", kmeans(&mut r)),
        ("gaussian_nb_10x64", naive_bayes(&mut r)),
        ("pca_64_16_whiten", pca(&mut r)),
    ];
    // Its own generator: the models and rows above keep the values of earlier runs.
    let mut r64 = Rng(0xD1B5_4A32_D192_ED03);
    models.push(("svc_f64_rbf_200sv_30f_3c_proba", svc_f64(&mut r64)));
    let mut g = c.benchmark_group("families");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, buf) in &models {
        let apr = Apr::parse(buf).unwrap();
        let m = Model::new(&apr);
        let n = m.n_features();
        let rows: Vec<f64> = (0..BATCH_ROWS * n).map(|_| r.next_f64()).collect();
        let mut scratch = m.scratch();
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("predict_row", name), |b| {
            b.iter(|| {
                let out = m.predict_row(black_box(&rows[..n]), &mut scratch).unwrap();
                black_box(out.class);
            })
        });
        let mut out = BatchOutput::default();
        g.throughput(Throughput::Elements(BATCH_ROWS as u64));
        g.bench_function(BenchmarkId::new("predict_batch_1000", name), |b| {
            b.iter(|| {
                m.predict_batch(black_box(&rows), &mut out).unwrap();
                black_box(out.values.len());
            })
        });
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_families(&mut c);
    bench_floor(&mut c);
}

criterion_main!(benches);
