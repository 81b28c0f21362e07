//! Criterion benches of the Lambda handler, in process (no Runtime API, no exec):
//! handler creation (`LambdaHandler::from_bytes`: checks the structure, copies nothing), the
//! first inference on a fresh handler, warm `handle` by feature count, warm `handle_event`
//! (JSON in, JSON out) on the example event, `handle_batch` by batch size, and how creation
//! and first inference grow with the size of the model: a linear model's weights, and tree
//! ensembles from ~1 KB to ~50 MB opened both ways (`from_bytes`, which walks every node, and
//! `from_embedded`, attested at build time, which walks none).
//!
//! Run with `cargo bench -p icebreak-lambda`.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use criterion::measurement::WallTime;
use criterion::{criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use icebreak_format::testing::synthetic::{self, Forest};
use icebreak_format::{
    include_model, write, Attestation, Embedded, InputSpec, LabelsSpec, MissingValues, ModelSpec,
    OutputSpec, PostTransform, ProvenanceSpec, StageSpec, Task,
};
use icebreak_lambda::{LambdaError, LambdaHandler, LambdaRequest};
use std::hint::black_box;
use std::time::Duration;

/// The example model: a 30-feature binary classifier (scaler + logistic regression).
static EXAMPLE_MODEL: &[u8] = include_model!("../../../examples/model.apr");
/// The example event for it.
static EXAMPLE_EVENT: &[u8] = include_bytes!("../../../examples/event.json");

/// Deterministic pseudo-random values in `[-1, 1)` (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40; // 24 bits
        bits as f32 / (1u32 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
    fn vec64(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| f64::from(self.next_f32())).collect()
    }
}

fn provenance() -> ProvenanceSpec {
    ProvenanceSpec {
        model_version: "bench".into(),
        model_name: None,
        source_format: None,
        converter: None,
        source_sha256: None,
    }
}

/// Writes `spec` into an 8-aligned buffer and leaks it: `&'static`, viewed in place.
fn leak(spec: &ModelSpec) -> &'static [u8] {
    write(spec).expect("the bench model is valid").leak()
}

/// A binary logistic regression over `n_features` features.
fn logistic(n_features: u32) -> &'static [u8] {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(n_features));
    leak(&ModelSpec {
        input: InputSpec {
            n_features,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Classification,
            n_outputs: 2,
            labels: LabelsSpec::Int(vec![0, 1]),
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: provenance(),
        stages: vec![
            StageSpec::Linear {
                n_in: n_features,
                n_out: 1,
                coef: rng.vec(n_features as usize),
                intercept: vec![0.1],
            },
            StageSpec::Post(PostTransform::BinaryLogistic),
        ],
    })
}

/// Features per row of the size series.
const SIZE_FEATURES: u32 = 256;

/// A linear regression over 256 features with `n_out` targets: `n_out` KiB of weights.
fn linear_of_size(n_out: u32) -> &'static [u8] {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ u64::from(n_out));
    leak(&ModelSpec {
        input: InputSpec {
            n_features: SIZE_FEATURES,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Regression,
            n_outputs: n_out,
            labels: LabelsSpec::None,
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: provenance(),
        stages: vec![StageSpec::Linear {
            n_in: SIZE_FEATURES,
            n_out,
            coef: rng.vec(SIZE_FEATURES as usize * n_out as usize),
            intercept: rng.vec(n_out as usize),
        }],
    })
}

fn handler(bytes: &'static [u8]) -> LambdaHandler {
    LambdaHandler::from_bytes(bytes).expect("the bench model is valid")
}

fn request(n_features: usize, seed: u64) -> LambdaRequest {
    LambdaRequest::new(Rng(seed).vec64(n_features))
}

fn example_request() -> LambdaRequest {
    let v: serde_json::Value = serde_json::from_slice(EXAMPLE_EVENT).expect("valid JSON");
    let features = v["features"]
        .as_array()
        .expect("a features array")
        .iter()
        .map(|f| f.as_f64().expect("a number"))
        .collect();
    LambdaRequest::new(features)
}

fn tuned<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// Creation, first inference, warm `handle_event` and `handle_batch` on the example model.
fn bench_example(c: &mut Criterion) {
    let req = example_request();
    let mut g = tuned(c, "lambda/example_30");
    g.bench_function("from_bytes", |b| {
        b.iter_with_large_drop(|| handler(black_box(EXAMPLE_MODEL)))
    });
    // A fresh handler per iteration (made untimed): the timed call creates the runnable
    // model and predicts.
    g.bench_function("first_handle", |b| {
        b.iter_batched(
            || handler(EXAMPLE_MODEL),
            |h| {
                let r = h.handle(black_box(&req)).expect("valid request");
                assert!(r.cold_start);
                (h, r)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("from_bytes_and_first_handle", |b| {
        b.iter_with_large_drop(|| {
            let h = handler(black_box(EXAMPLE_MODEL));
            let r = h.handle(black_box(&req)).expect("valid request");
            (h, r)
        })
    });
    let h = handler(EXAMPLE_MODEL);
    h.handle_event(EXAMPLE_EVENT).expect("the example event");
    g.bench_function("handle_warm", |b| {
        b.iter(|| h.handle(black_box(&req)).expect("valid request"))
    });
    g.bench_function("handle_event_warm", |b| {
        b.iter(|| {
            h.handle_event(black_box(EXAMPLE_EVENT))
                .expect("the example event")
        })
    });
    g.finish();

    let mut g = tuned(c, "lambda/handle_batch_warm");
    for n in [1usize, 10, 100] {
        let instances: Vec<Result<LambdaRequest, LambdaError>> = (0..n)
            .map(|i| {
                let mut r = req.clone();
                for (k, f) in r.features.iter_mut().enumerate() {
                    *f *= 1.0 + 0.01 * ((i + k) % 7) as f64;
                }
                Ok(r)
            })
            .collect();
        h.handle_batch(&instances).expect("valid batch");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &instances, |b, inst| {
            b.iter(|| h.handle_batch(black_box(inst)).expect("valid batch"))
        });
    }
    g.finish();
}

/// Warm `handle` of binary logistic regressions of 1 to 1000 features.
fn bench_features(c: &mut Criterion) {
    let mut g = tuned(c, "lambda/handle_warm");
    for n in [1u32, 10, 100, 1000] {
        let h = handler(logistic(n));
        let req = request(n as usize, 7);
        h.handle(&req).expect("valid request");
        g.bench_with_input(BenchmarkId::new("features", n), &req, |b, req| {
            b.iter(|| h.handle(black_box(req)).expect("valid request"))
        });
    }
    g.finish();
}

/// Creation must not grow with the weights (nothing is copied); the first inference reads
/// every weight once, so it does.
fn bench_model_size(c: &mut Criterion) {
    let sizes = [("1KiB", 1u32), ("1MiB", 1024), ("50MiB", 50 * 1024)];
    let req = request(SIZE_FEATURES as usize, 11);
    let mut g = tuned(c, "lambda/model_size");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for (label, n_out) in sizes {
        let bytes = linear_of_size(n_out);
        eprintln!(
            "model_size/{label}: {n_out} outputs x {SIZE_FEATURES} features, file {} bytes",
            bytes.len()
        );
        g.bench_with_input(
            BenchmarkId::new("from_bytes", label),
            &bytes,
            |b, &bytes| b.iter_with_large_drop(|| handler(black_box(bytes))),
        );
        g.bench_with_input(
            BenchmarkId::new("first_handle", label),
            &bytes,
            |b, &bytes| {
                b.iter_batched(
                    || handler(bytes),
                    |h| {
                        let r = h.handle(black_box(&req)).expect("valid request");
                        (h, r)
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        let h = handler(bytes);
        h.handle(&req).expect("valid request");
        g.bench_with_input(BenchmarkId::new("warm_handle", label), &req, |b, req| {
            b.iter(|| h.handle(black_box(req)).expect("valid request"))
        });
    }
    g.finish();
}

/// Tree ensembles from ~1 KB to ~50 MB: creation from plain bytes (R29 walks every node)
/// and from an attested embedding (no node is read), creation plus the first answer, and a
/// warm answer. In
/// process the file's pages are already resident, so this is the CPU side only; the page
/// faults of a real cold start are measured by `cargo xtask coldsweep`.
fn bench_tree_size(c: &mut Criterion) {
    let forest = |n_trees, depth, random_forest| Forest {
        n_trees,
        depth,
        n_in: 30,
        random_forest,
        seed: 7,
    };
    let cases = [
        ("1KB_gbdt", forest(2, 4, false)),
        ("1MB_gbdt", forest(1000, 5, false)),
        ("100k_nodes_forest", forest(392, 8, true)),
        ("50MB_gbdt", forest(200, 13, false)),
    ];
    let req = LambdaRequest::new(synthetic::row(30, 42));
    let mut g = tuned(c, "lambda/tree_size");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for (label, f) in cases {
        let bytes = leak(&synthetic::model(&f));
        let model = Embedded {
            bytes,
            attestation: Attestation::of(bytes).expect("the bench model is valid"),
        };
        eprintln!(
            "tree_size/{label}: {} nodes, file {} bytes",
            f.n_nodes(),
            bytes.len()
        );
        let embedded = |m: Embedded| LambdaHandler::from_embedded(m).expect("valid model");
        g.bench_with_input(
            BenchmarkId::new("from_bytes", label),
            &bytes,
            |b, &bytes| b.iter_with_large_drop(|| handler(black_box(bytes))),
        );
        g.bench_with_input(BenchmarkId::new("from_embedded", label), &model, |b, &m| {
            b.iter_with_large_drop(|| embedded(black_box(m)))
        });
        g.bench_with_input(
            BenchmarkId::new("from_embedded_and_first_handle", label),
            &model,
            |b, &m| {
                b.iter_with_large_drop(|| {
                    let h = embedded(black_box(m));
                    let r = h.handle(black_box(&req)).expect("valid request");
                    (h, r)
                })
            },
        );
        let h = embedded(model);
        h.handle(&req).expect("valid request");
        g.bench_with_input(BenchmarkId::new("warm_handle", label), &req, |b, req| {
            b.iter(|| h.handle(black_box(req)).expect("valid request"))
        });
    }
    g.finish();
}

/// The bench group (written out rather than with `criterion_group!`, whose generated `pub fn`
/// has no doc comment).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_example(&mut c);
    bench_features(&mut c);
    bench_model_size(&mut c);
    bench_tree_size(&mut c);
}

criterion_main!(benches);
