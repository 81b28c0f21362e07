//! The families beyond linear models and trees — scalers, normalizer, imputer, PCA, MLPs,
//! SVMs, k-means, Gaussian naive Bayes, transformers — held to the plain f64 reference
//! pipeline, and the batch path held to the single-row path bit for bit.

#![allow(missing_docs)]
#![allow(clippy::unwrap_used)]

use crate::common::written;
use icebreak_engine::reference;
use icebreak_engine::svm::{multiclass_probability, ovr_decision, powi, sigmoid_predict};
use icebreak_engine::{BatchOutput, EngineError, Model};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn spec(n: u32, missing: MissingValues, stages: Vec<StageSpec>, task: Task, no: u32) -> ModelSpec {
    ModelSpecBuilder::new(n)
        .missing(missing)
        .task_with_labels(task, no)
        .stages(stages)
        .build()
}

fn w(n: usize) -> impl Strategy<Value = Vec<f32>> {
    vec(-2.0f32..2.0, n)
}

fn w64(n: usize) -> impl Strategy<Value = Vec<f64>> {
    vec(-2.0f64..2.0, n)
}

/// A random model of one family over `n` features, and its description.
fn model_spec() -> impl Strategy<Value = ModelSpec> {
    (1u32..7, 0u8..6).prop_flat_map(|(n, family)| {
        let nf = n as usize;
        match family {
            // Transformer: imputer, min-max, normalizer, PCA (whitened or not).
            0 => (
                w(nf),
                w(nf),
                w(nf),
                0u8..3,
                1..=n,
                any::<bool>(),
                w(nf * 7),
                vec(0.5f32..2.0, 7),
            )
                .prop_map(move |(fill, scale, min, norm, k, white, comps, wh)| {
                    let k_ = k as usize;
                    let stages = vec![
                        StageSpec::Imputer {
                            missing: f32::NAN,
                            fill,
                        },
                        StageSpec::MinMaxScaler { scale, min },
                        StageSpec::Normalizer {
                            width: n,
                            norm: [Norm::L1, Norm::L2, Norm::Max][norm as usize],
                        },
                        StageSpec::Pca {
                            n_in: n,
                            n_out: k,
                            mean: comps[..nf].to_vec(),
                            components: comps[..nf * k_].to_vec(),
                            whiten: white.then(|| wh[..k_].to_vec()),
                        },
                    ];
                    spec(n, MissingValues::Nan, stages, Task::Transform, k)
                })
                .boxed(),
            // MLP: scaler, dense (any activation), dense, softmax / binary_logistic / none.
            1 => (
                1u32..6,
                1u32..4,
                0u8..4,
                0u8..2,
                w(nf),
                vec(0.5f32..2.0, nf),
                w(6 * nf + 6),
                w(24 + 4),
            )
                .prop_map(move |(h, o, act, head, mean, scale, w1, w2)| {
                    let (hu, ou) = (h as usize, o as usize);
                    let activation = [
                        Activation::Identity,
                        Activation::Relu,
                        Activation::Tanh,
                        Activation::Logistic,
                    ][act as usize];
                    let mut stages = vec![
                        StageSpec::StandardScaler { mean, scale },
                        StageSpec::Dense {
                            n_in: n,
                            n_out: h,
                            activation,
                            weights: w1[..nf * hu].to_vec(),
                            bias: w1[nf * hu..nf * hu + hu].to_vec(),
                        },
                        StageSpec::Dense {
                            n_in: h,
                            n_out: o,
                            activation: Activation::Identity,
                            weights: w2[..hu * ou].to_vec(),
                            bias: w2[24..24 + ou].to_vec(),
                        },
                    ];
                    let (task, no) = match (head, o) {
                        (1, 1) => {
                            stages.push(StageSpec::Post(PostTransform::BinaryLogistic));
                            (Task::Classification, 2)
                        }
                        (1, _) => {
                            stages.push(StageSpec::Post(PostTransform::Softmax));
                            (Task::Classification, o)
                        }
                        _ => (Task::Regression, o),
                    };
                    spec(n, MissingValues::Reject, stages, task, no)
                })
                .boxed(),
            // SVM classifier or regressor, any kernel, with or without probabilities.
            2 => (
                1u32..5,
                1usize..4,
                any::<bool>(),
                0u8..4,
                0.05f64..1.0,
                -1.0f64..1.0,
                1u32..4,
                w(4 * 3 * nf),
                w64(3 * 12),
                w64(6),
                w64(6),
                vec(-3.0f64..-0.1, 6),
            )
                .prop_map(
                    move |(
                        k,
                        per,
                        probs,
                        kern,
                        gamma,
                        coef0,
                        degree,
                        svs,
                        coef,
                        intercept,
                        pb,
                        pa,
                    )| {
                        let classifier = k >= 2;
                        let n_sv = if classifier { k as usize * per } else { per };
                        let pairs = if classifier {
                            (k * (k - 1) / 2) as usize
                        } else {
                            1
                        };
                        let rows = if classifier { k as usize - 1 } else { 1 };
                        let kernel = match kern {
                            0 => Kernel::Linear,
                            1 => Kernel::Poly {
                                gamma,
                                coef0,
                                degree,
                            },
                            2 => Kernel::Rbf { gamma },
                            _ => Kernel::Sigmoid { gamma, coef0 },
                        };
                        let probs = probs && classifier;
                        let m = SvmSpec {
                            n_in: n,
                            n_classes: k,
                            kernel,
                            n_support: if classifier {
                                vec![per as u32; k as usize]
                            } else {
                                Vec::new()
                            },
                            support_vectors: svs[..n_sv * nf].to_vec(),
                            coef: coef[..rows * n_sv].to_vec(),
                            intercept: intercept[..pairs].to_vec(),
                            prob_a: if probs {
                                pa[..pairs].to_vec()
                            } else {
                                Vec::new()
                            },
                            break_ties: false,
                            prob_b: if probs {
                                pb[..pairs].to_vec()
                            } else {
                                Vec::new()
                            },
                        };
                        let task = if classifier {
                            Task::Classification
                        } else {
                            Task::Regression
                        };
                        spec(n, MissingValues::Reject, vec![StageSpec::Svm(m)], task, k)
                    },
                )
                .boxed(),
            // k-means, optionally after a standard scaler.
            3 => (2u32..6, any::<bool>(), w(5 * nf), w(nf))
                .prop_map(move |(k, scaled, centers, mean)| {
                    let mut stages = Vec::new();
                    if scaled {
                        stages.push(StageSpec::StandardScaler {
                            mean,
                            scale: vec![1.5; nf],
                        });
                    }
                    stages.push(StageSpec::KMeans {
                        n_in: n,
                        k,
                        centers: centers[..k as usize * nf].to_vec(),
                    });
                    spec(n, MissingValues::Reject, stages, Task::Classification, k)
                })
                .boxed(),
            // Gaussian naive Bayes with a softmax.
            4 => (
                2u32..5,
                w64(4 * nf),
                vec(0.1f64..3.0, 4 * nf),
                vec(-3.0f64..-0.01, 4),
                any::<bool>(),
            )
                .prop_map(move |(k, theta, var, log_prior, softmax)| {
                    let ku = k as usize;
                    let var = var[..ku * nf].to_vec();
                    let log_norm = (0..ku)
                        .map(|c| {
                            -0.5 * var[c * nf..(c + 1) * nf]
                                .iter()
                                .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                                .sum::<f64>()
                        })
                        .collect();
                    let mut stages = vec![StageSpec::GaussianNb {
                        n_in: n,
                        n_classes: k,
                        theta: theta[..ku * nf].to_vec(),
                        var,
                        log_prior: log_prior[..ku].to_vec(),
                        log_norm,
                    }];
                    if softmax {
                        stages.push(StageSpec::Post(PostTransform::Softmax));
                    }
                    spec(n, MissingValues::Reject, stages, Task::Classification, k)
                })
                .boxed(),
            // PCA then an SVM (a pipeline: the SVM reads the f32 preprocessed row).
            _ => (1..=n, w(nf * nf + nf), w(4 * nf), w64(8))
                .prop_map(move |(k, pca, svs, coef)| {
                    let ku = k as usize;
                    let stages = vec![
                        StageSpec::Pca {
                            n_in: n,
                            n_out: k,
                            mean: pca[..nf].to_vec(),
                            components: pca[nf..nf + nf * ku].to_vec(),
                            whiten: None,
                        },
                        StageSpec::Svm(SvmSpec {
                            n_in: k,
                            n_classes: 2,
                            kernel: Kernel::Rbf { gamma: 0.3 },
                            n_support: vec![1, 2],
                            support_vectors: svs[..3 * ku].to_vec(),
                            coef: coef[..3].to_vec(),
                            intercept: vec![coef[3]],
                            prob_a: Vec::new(),
                            break_ties: false,
                            prob_b: Vec::new(),
                        }),
                    ];
                    spec(n, MissingValues::Reject, stages, Task::Classification, 2)
                })
                .boxed(),
        }
    })
}

fn model_and_rows() -> impl Strategy<Value = (ModelSpec, Vec<Vec<f64>>)> {
    model_spec().prop_flat_map(|s| {
        let n = s.input.n_features as usize;
        let nan_ok = s.input.missing == MissingValues::Nan;
        let value = prop_oneof![
            8 => (-3.0f64..3.0).boxed(),
            1 => Just(0.0).boxed(),
            1 => if nan_ok { Just(f64::NAN).boxed() } else { Just(1.0).boxed() },
        ];
        (Just(s), vec(vec(value, n), 1..12))
    })
}

/// Whether `a` and `b` agree within `rel` of their magnitude (or `abs`).
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

/// f32 families compute with f32 weights and activations; the reference in f64.
fn tolerance(s: &ModelSpec) -> (f64, f64) {
    let f64_family = matches!(
        s.stages.first(),
        Some(StageSpec::Svm(_) | StageSpec::GaussianNb { .. })
    );
    if f64_family {
        // f64 throughout; the output is rounded to f32 once.
        (2e-7, 1e-12)
    } else {
        (2e-3, 2e-3)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn predict_row_matches_the_reference((s, rows) in model_and_rows()) {
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let (rel, abs) = tolerance(&s);
        for x in &rows {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let r = reference::predict(apr.stages(), s.output.task, x);
            prop_assert_eq!(out.scores.len(), r.scores.len());
            prop_assert_eq!(out.values.len(), r.values.len());
            for (a, b) in out.scores.iter().zip(&r.scores) {
                prop_assert!(close(*a, *b, rel, abs), "scores {:?} vs {:?}", out.scores, r.scores);
            }
            for (a, b) in out.values.iter().zip(&r.values) {
                prop_assert!(close(*a, *b, rel, abs), "values {:?} vs {:?}", out.values, r.values);
            }
            prop_assert_eq!(out.probabilities.is_some(), r.probabilities.is_some());
            if let Some(p) = out.probabilities {
                let sum: f64 = p.iter().copied().sum();
                prop_assert!((sum - 1.0).abs() < 1e-3, "probabilities {:?}", p);
            }
            prop_assert_eq!(out.class.is_some(), r.class.is_some());
            if let (Some(c), Some(rc)) = (out.class, r.class) {
                if c != rc {
                    // Only a near tie may differ: the two classes' scores agree within the
                    // tolerance (f32 rounding), or an f64 family's decision value is ~0.
                    let sc = &r.scores;
                    let near = match s.stages.iter().find(|st| matches!(st, StageSpec::KMeans { .. })) {
                        Some(_) => close(sc[c], sc[rc], rel, abs),
                        None if sc.len() == 1 => sc[0].abs() <= abs.max(1e-9) * 10.0,
                        None => close(sc[c], sc[rc], rel, abs),
                    };
                    prop_assert!(near, "class {} vs reference {} with scores {:?}", c, rc, sc);
                }
            }
        }
    }

    #[test]
    fn predict_batch_equals_predict_row((s, rows) in model_and_rows()) {
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let flat: Vec<f64> = rows.concat();
        let mut batch = BatchOutput::default();
        model.predict_batch(&flat, &mut batch).unwrap();
        let sw = batch.score_width;
        let vw = batch.value_width;
        let pw = batch.probability_width;
        for (i, x) in rows.iter().enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            prop_assert_eq!(&batch.scores[i * sw..(i + 1) * sw], out.scores);
            prop_assert_eq!(&batch.values[i * vw..(i + 1) * vw], out.values);
            match out.probabilities {
                Some(p) => prop_assert_eq!(&batch.probabilities[i * pw..(i + 1) * pw], p),
                None => prop_assert!(batch.probabilities.is_empty()),
            }
            prop_assert_eq!(batch.classes.get(i).copied(), out.class);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `predict_batch_f32` answers exactly like `predict_batch` on the same values widened
    /// to `f64`, for every family (the dense ones read the `f32` rows in place, the others
    /// widen them), and a NaN with any payload is a missing value.
    #[test]
    fn predict_batch_f32_equals_predict_batch((s, rows) in model_and_rows(), payload in 1u32..0x40_0000) {
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let narrow: Vec<f32> = rows
            .concat()
            .iter()
            .map(|&v| if v.is_nan() { f32::from_bits(0x7FC0_0000 | payload) } else { v as f32 })
            .collect();
        let wide: Vec<f64> = narrow
            .iter()
            .map(|&v| if v.is_nan() { f64::NAN } else { f64::from(v) })
            .collect();
        let mut want = BatchOutput::default();
        model.predict_batch(&wide, &mut want).unwrap();
        let mut got = BatchOutput::default();
        model.predict_batch_f32(&narrow, &mut got).unwrap();
        let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(b(&got.scores), b(&want.scores));
        prop_assert_eq!(b(&got.values), b(&want.values));
        prop_assert_eq!(b(&got.probabilities), b(&want.probabilities));
        prop_assert_eq!(&got.classes, &want.classes);
        prop_assert_eq!(
            (got.score_width, got.value_width, got.probability_width),
            (want.score_width, want.value_width, want.probability_width)
        );
        // A bad value fails both entry points with the same error.
        let mut bad = narrow.clone();
        let at = (payload as usize) % bad.len().max(1);
        if let Some(v) = bad.get_mut(at) {
            *v = if payload % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
            let wide_bad: Vec<f64> = bad
                .iter()
                .map(|&v| if v.is_nan() { f64::NAN } else { f64::from(v) })
                .collect();
            let e64 = model.predict_batch(&wide_bad, &mut want).unwrap_err();
            let e32 = model.predict_batch_f32(&bad, &mut got).unwrap_err();
            prop_assert_eq!(e32, e64);
        }
        let short = &narrow[..narrow.len().saturating_sub(1)];
        if !short.is_empty() && model.n_features() > 1 {
            prop_assert_eq!(
                model.predict_batch_f32(short, &mut got).unwrap_err(),
                icebreak_engine::EngineError::BatchShape { len: short.len(), n_features: model.n_features() }
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn threaded_batches_equal_the_one_thread_batch((s, rows) in model_and_rows(), threads in 2usize..5) {
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        // Enough rows for every thread to get a part (the rows repeated, then cut short so
        // the last part is smaller).
        let n = threads * icebreak_engine::MIN_ROWS_PER_THREAD + 7;
        let flat: Vec<f64> = rows.iter().cycle().take(n).flatten().copied().collect();
        let mut one = BatchOutput::default();
        model.predict_batch(&flat, &mut one).unwrap();
        let mut many = BatchOutput::default();
        model.predict_batch_threads(&flat, &mut many, threads).unwrap();
        let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(b(&many.scores), b(&one.scores));
        prop_assert_eq!(b(&many.values), b(&one.values));
        prop_assert_eq!(b(&many.probabilities), b(&one.probabilities));
        prop_assert_eq!(&many.classes, &one.classes);
        prop_assert_eq!(
            (many.score_width, many.value_width, many.probability_width),
            (one.score_width, one.value_width, one.probability_width)
        );
        prop_assert_eq!(many.classes.len(), if one.classes.is_empty() { 0 } else { n });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every family (the SVM's f64 kernel values included) answers with the same bits from
    /// the AVX2 copies of the kernels as from the baseline ones.
    #[test]
    fn both_instruction_sets_answer_alike((s, rows) in model_and_rows()) {
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let flat: Vec<f64> = rows.concat();
        let run = |portable: bool| {
            icebreak_engine::simd::force_portable(portable);
            let mut out = BatchOutput::default();
            model.predict_batch(&flat, &mut out).unwrap();
            let mut scratch = model.scratch();
            let row: Vec<u64> = rows
                .iter()
                .flat_map(|x| {
                    let o = model.predict_row(x, &mut scratch).unwrap();
                    o.scores.iter().chain(o.values).map(|v| v.to_bits()).collect::<Vec<_>>()
                })
                .collect();
            icebreak_engine::simd::force_portable(false);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (bits(&out.scores), bits(&out.values), bits(&out.probabilities), out.classes, row)
        };
        prop_assert_eq!(run(false), run(true));
    }
}

#[test]
fn a_threaded_batch_fails_on_the_first_bad_row_like_one_thread() {
    let s = spec(
        2,
        MissingValues::Reject,
        vec![StageSpec::KMeans {
            n_in: 2,
            k: 2,
            centers: vec![0.0, 0.0, 1.0, 1.0],
        }],
        Task::Classification,
        2,
    );
    let buf = write(&s).unwrap();
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut flat = vec![0.5f64; 2 * 400];
    flat[2 * 250 + 1] = f64::NAN;
    flat[2 * 390] = f64::INFINITY;
    let mut one = BatchOutput::default();
    let e1 = model.predict_batch(&flat, &mut one).unwrap_err();
    let mut many = BatchOutput::default();
    let e4 = model
        .predict_batch_threads(&flat, &mut many, 4)
        .unwrap_err();
    assert_eq!(e4, e1);
    assert_eq!(e1, icebreak_engine::EngineError::Missing { index: 1 });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A float32 batch whose first stage is a PCA (alone, or before a linear model) runs
    /// the fused path (each row centred as it is copied, no separate check): every row's
    /// answer equals `predict_row`'s bit for bit, over several chunks of rows, with
    /// missing values (taken: the checked path makes them plain) and infinities (refused
    /// with the first bad row's error, as by `predict_batch`).
    #[test]
    fn a_pca_first_float32_batch_equals_predict_row(
        nf in 1usize..300,
        k in 1usize..12,
        whiten in any::<bool>(),
        linear in any::<bool>(),
        // Up to 480 KB of rows: several 128 KiB chunks when the rows are wide.
        n_rows in 1usize..400,
        seed in any::<u64>(),
        bad in 0u8..3,
    ) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        };
        let mean: Vec<f32> = (0..nf).map(|_| next()).collect();
        let components: Vec<f32> = (0..nf * k).map(|_| next()).collect();
        let mut stages = vec![StageSpec::Pca {
            n_in: nf as u32,
            n_out: k as u32,
            mean,
            components,
            whiten: whiten.then(|| (0..k).map(|_| 0.5 + next().abs()).collect()),
        }];
        let (task, no) = if linear {
            stages.push(StageSpec::Linear {
                n_in: k as u32,
                n_out: 3,
                coef: (0..3 * k).map(|_| next()).collect(),
                intercept: (0..3).map(|_| next()).collect(),
            });
            (Task::Regression, 3)
        } else {
            (Task::Transform, k as u32)
        };
        let buf = write(&spec(nf as u32, MissingValues::Nan, stages, task, no)).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let mut rows: Vec<f32> = (0..n_rows * nf).map(|_| next()).collect();
        let at = (seed as usize) % rows.len();
        match bad {
            1 => rows[at] = f32::from_bits(0x7FC0_1234),
            2 => rows[at] = f32::NEG_INFINITY,
            _ => {}
        }
        let mut got = BatchOutput::default();
        let wide: Vec<f64> = rows
            .iter()
            .map(|&v| if v.is_nan() { f64::NAN } else { f64::from(v) })
            .collect();
        if bad == 2 {
            let mut o64 = BatchOutput::default();
            prop_assert_eq!(
                model.predict_batch_f32(&rows, &mut got).unwrap_err(),
                model.predict_batch(&wide, &mut o64).unwrap_err()
            );
            prop_assert_eq!(
                model.predict_batch_f32(&rows, &mut got).unwrap_err(),
                EngineError::NotFinite { index: at % nf }
            );
            return Ok(());
        }
        model.predict_batch_f32(&rows, &mut got).unwrap();
        let mut scratch = model.scratch();
        let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let w = got.value_width;
        for (i, x) in wide.chunks_exact(nf).enumerate() {
            let r = model.predict_row(x, &mut scratch).unwrap();
            prop_assert_eq!(b(&got.values[i * w..(i + 1) * w]), b(r.values), "row {}", i);
            prop_assert_eq!(
                b(&got.scores[i * got.score_width..(i + 1) * got.score_width]),
                b(r.scores)
            );
        }
    }
}

/// A linear model's float32 batch is checked through its scores (a NaN or an infinity in a
/// row makes every score of the row non-finite): an infinity against a zero coefficient is
/// still refused (`∞ · 0` is NaN) in every block of outputs (10 = 8 + 2), with the error of
/// the first bad row, and finite rows whose scores overflow are answered as by the f64 path.
#[test]
fn a_linear_float32_batch_is_checked_through_its_scores() {
    let n_in = 19;
    let n_out = 10;
    // Feature 3 has a zero coefficient in every output.
    let coef: Vec<f32> = (0..n_in * n_out)
        .map(|i| {
            if i % n_in == 3 {
                0.0
            } else {
                1.0 + (i % 7) as f32
            }
        })
        .collect();
    let s = spec(
        n_in as u32,
        MissingValues::Reject,
        vec![StageSpec::Linear {
            n_in: n_in as u32,
            n_out: n_out as u32,
            coef,
            intercept: vec![0.5; n_out],
        }],
        Task::Regression,
        n_out as u32,
    );
    let buf = write(&s).unwrap();
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut out = BatchOutput::default();
    let n_rows = 5000; // several chunks of rows
    for (at, v, want) in [
        (3, f32::INFINITY, EngineError::NotFinite { index: 3 }),
        (3, f32::NEG_INFINITY, EngineError::NotFinite { index: 3 }),
        (3, f32::NAN, EngineError::Missing { index: 3 }),
        (18, f32::INFINITY, EngineError::NotFinite { index: 18 }),
        (0, f32::NAN, EngineError::Missing { index: 0 }),
    ] {
        for bad_row in [0, 7, 4321, n_rows - 1] {
            let mut rows = vec![0.25f32; n_in * n_rows];
            rows[bad_row * n_in + at] = v;
            // A later bad row does not change the error.
            rows[(n_rows - 1) * n_in + 5] = f32::NAN;
            let e = model.predict_batch_f32(&rows, &mut out).unwrap_err();
            let wide: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
            let mut o64 = BatchOutput::default();
            assert_eq!(e, model.predict_batch(&wide, &mut o64).unwrap_err());
            let want = if bad_row == n_rows - 1 && at > 5 {
                EngineError::Missing { index: 5 }
            } else {
                want.clone()
            };
            assert_eq!(e, want, "row {bad_row}, feature {at}, {v}");
        }
    }
    // Finite rows whose scores overflow to infinity are answered, as the f64 path does.
    let mut rows = vec![0.25f32; n_in * n_rows];
    for v in &mut rows[n_in * 9..n_in * 10] {
        *v = 3.0e38;
    }
    model.predict_batch_f32(&rows, &mut out).unwrap();
    assert!(out.scores[9 * n_out].is_infinite());
    let wide: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
    let mut o64 = BatchOutput::default();
    model.predict_batch(&wide, &mut o64).unwrap();
    let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(b(&out.values), b(&o64.values));
}

/// The f32 entry point checks its rows like the f64 one: a NaN where the model takes no
/// missing values, and an infinity, fail the call with the first bad row's error.
#[test]
fn a_float32_batch_is_checked_like_a_float64_batch() {
    let s = spec(
        2,
        MissingValues::Reject,
        vec![StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![1.0, -1.0],
            intercept: vec![0.5],
        }],
        Task::Regression,
        1,
    );
    let buf = write(&s).unwrap();
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut out = BatchOutput::default();
    let mut rows = vec![0.25f32; 2 * 100];
    model.predict_batch_f32(&rows, &mut out).unwrap();
    assert_eq!(out.values, vec![0.5; 100]);
    rows[2 * 60 + 1] = f32::NAN;
    rows[2 * 70] = f32::INFINITY;
    assert_eq!(
        model.predict_batch_f32(&rows, &mut out).unwrap_err(),
        icebreak_engine::EngineError::Missing { index: 1 }
    );
    rows[2 * 60 + 1] = 0.0;
    assert_eq!(
        model.predict_batch_f32(&rows, &mut out).unwrap_err(),
        icebreak_engine::EngineError::NotFinite { index: 0 }
    );
    assert_eq!(
        model.predict_batch_f32(&rows[..3], &mut out).unwrap_err(),
        icebreak_engine::EngineError::BatchShape {
            len: 3,
            n_features: 2
        }
    );
}

#[test]
fn a_transformer_answers_its_outputs_and_accepts_missing_values() {
    let s = spec(
        2,
        MissingValues::Nan,
        vec![
            StageSpec::Imputer {
                missing: f32::NAN,
                fill: vec![3.0, -4.0],
            },
            StageSpec::Normalizer {
                width: 2,
                norm: Norm::L2,
            },
        ],
        Task::Transform,
        2,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut sc = model.scratch();
    let out = model.predict_row(&[f64::NAN, f64::NAN], &mut sc).unwrap();
    assert_eq!(out.values, [f64::from(0.6f32), f64::from(-0.8f32)]);
    assert_eq!(out.scores, out.values);
    assert_eq!(out.class, None);
    assert_eq!(out.probabilities, None);
    // A zero row stays zero (scikit-learn treats a zero norm as 1).
    let out = model.predict_row(&[0.0, 0.0], &mut sc).unwrap();
    assert_eq!(out.values, [0.0, 0.0]);
}

#[test]
fn an_imputer_with_a_numeric_marker_replaces_equal_values_only() {
    let mut x = [-1.0f32, 2.0, f32::NAN];
    icebreak_engine::kernels::impute_f32(&mut x, -1.0, &[7.0, 8.0, 9.0]);
    assert_eq!(x[..2], [7.0, 2.0]);
    assert!(x[2].is_nan());
}

#[test]
fn kmeans_answers_the_nearest_centre_and_the_distances() {
    let s = spec(
        2,
        MissingValues::Reject,
        vec![StageSpec::KMeans {
            n_in: 2,
            k: 3,
            centers: vec![0.0, 0.0, 3.0, 4.0, 3.0, 4.0],
        }],
        Task::Classification,
        3,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut sc = model.scratch();
    let out = model.predict_row(&[3.0, 4.0], &mut sc).unwrap();
    // Ties go to the first centre.
    assert_eq!(out.class, Some(1));
    assert_eq!(out.values, [5.0, 0.0, 0.0]);
    let out = model.predict_row(&[0.5, 0.0], &mut sc).unwrap();
    assert_eq!(out.class, Some(0));
    assert_eq!(out.probabilities, None);
}

#[test]
fn binary_svc_follows_scikit_learn_signs_and_libsvm_ties() {
    // One support vector per class, linear kernel: d = 1·(x·sv0) - 1·(x·sv1) + b.
    let m = SvmSpec {
        n_in: 1,
        n_classes: 2,
        kernel: Kernel::Linear,
        n_support: vec![1, 1],
        support_vectors: vec![1.0, -1.0],
        coef: vec![1.0, -1.0],
        intercept: vec![0.0],
        prob_a: Vec::new(),
        break_ties: false,
        prob_b: Vec::new(),
    };
    let s = spec(
        1,
        MissingValues::Reject,
        vec![StageSpec::Svm(m)],
        Task::Classification,
        2,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut sc = model.scratch();
    // libsvm: d = 2x > 0 votes class 0; scikit-learn's decision_function is -d.
    let out = model.predict_row(&[1.0], &mut sc).unwrap();
    assert_eq!((out.scores, out.class), (&[-2.0f64][..], Some(0)));
    let out = model.predict_row(&[-1.0], &mut sc).unwrap();
    assert_eq!((out.scores, out.class), (&[2.0f64][..], Some(1)));
    // d = 0: libsvm votes for the second class.
    let out = model.predict_row(&[0.0], &mut sc).unwrap();
    assert_eq!(out.class, Some(1));
}

#[test]
fn svm_helpers_follow_libsvm_and_scikit_learn() {
    assert_eq!(powi(2.0, 0), 1.0);
    assert_eq!(powi(2.0, 5), 32.0);
    assert_eq!(powi(-1.5, 3), -3.375);
    // Platt: 1 / (1 + exp(A d + B)), both branches.
    assert!((sigmoid_predict(1.0, -2.0, 0.5) - 1.0 / (1.0 + (-1.5f64).exp())).abs() < 1e-15);
    assert!((sigmoid_predict(1.0, 2.0, 0.5) - 1.0 / (1.0 + 2.5f64.exp())).abs() < 1e-15);
    // ovr: 3 classes, pairs (0,1) d=1 -> class 0, (0,2) d=-2 -> class 2, (1,2) d=0 -> class 1
    // (scikit-learn counts d >= 0 for the first class).
    let mut conf = [0.0; 3];
    let mut out = [0.0; 3];
    ovr_decision(3, &[1.0, -2.0, 0.0], &mut conf, &mut out);
    let t = |s: f64| s / (3.0 * (s.abs() + 1.0));
    assert_eq!(out, [1.0 + t(-1.0), 1.0 + t(-1.0), 1.0 + t(2.0)]);
    // Pairwise coupling of consistent pairwise probabilities recovers the distribution.
    let p = [0.5, 0.3, 0.2];
    let k = 3;
    let mut r = [0.0; 9];
    for i in 0..k {
        for j in 0..k {
            if i != j {
                r[i * k + j] = p[i] / (p[i] + p[j]);
            }
        }
    }
    let (mut q, mut qp, mut got) = ([0.0; 9], [0.0; 3], [0.0; 3]);
    multiclass_probability(k, &r, &mut q, &mut qp, &mut got);
    for (a, b) in got.iter().zip(p) {
        assert!((a - b).abs() < 1e-3, "{got:?}");
    }
}

#[test]
fn naive_bayes_probabilities_are_computed_in_f64() {
    // Log-likelihoods far from zero: an f32 softmax of them would lose the difference.
    let s = spec(
        1,
        MissingValues::Reject,
        vec![
            StageSpec::GaussianNb {
                n_in: 1,
                n_classes: 2,
                theta: vec![0.0, 0.0],
                var: vec![1.0, 1.0],
                log_prior: vec![-20000.0, -20000.5],
                log_norm: vec![0.0, 0.0],
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        2,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut sc = model.scratch();
    let out = model.predict_row(&[0.0], &mut sc).unwrap();
    let p0 = 1.0 / (1.0 + (-0.5f64).exp());
    let p = out.probabilities.unwrap();
    assert!((p[0] - p0).abs() < 1e-7, "{p:?}");
    assert_eq!(out.class, Some(0));
}

#[test]
fn rows_are_checked_against_the_schema() {
    let s = spec(
        2,
        MissingValues::Reject,
        vec![StageSpec::KMeans {
            n_in: 2,
            k: 2,
            centers: vec![0.0; 4],
        }],
        Task::Classification,
        2,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut sc = model.scratch();
    assert_eq!(
        model.predict_row(&[f64::NAN, 0.0], &mut sc),
        Err(EngineError::Missing { index: 0 })
    );
    assert_eq!(
        model.predict_row(&[0.0], &mut sc),
        Err(EngineError::FeatureCount {
            expected: 2,
            found: 1
        })
    );
}

/// A `standard_scaler_f64` first computes `(x - mean) / scale` in f64 from the caller's row
/// and rounds once (scikit-learn's StandardScaler, then a float32 cast); later in the
/// pipeline it reads the f32 row so far. Row path, batch path and reference agree, and the
/// rows are chosen so that f32 arithmetic would round otherwise on some of them.
#[test]
fn standard_scaler_f64_rounds_once() {
    let mean = vec![0.3, -1.7e3, 0.1];
    let scale = vec![0.7, 3.3, 1.1e-3];
    let stages = |first: bool| {
        let f64_scaler = StageSpec::StandardScalerF64 {
            mean: mean.clone(),
            scale: scale.clone(),
        };
        let other = StageSpec::MinMaxScaler {
            scale: vec![1.0; 3],
            min: vec![0.0; 3],
        };
        if first {
            vec![f64_scaler, other]
        } else {
            vec![other, f64_scaler]
        }
    };
    let rows: Vec<[f64; 3]> = (0..64)
        .map(|i| {
            let t = f64::from(i) * 0.137 + 0.01;
            [t, -1700.0 + t * 11.0, 0.1 + t * 1e-4]
        })
        .collect();
    for first in [true, false] {
        let s = spec(3, MissingValues::Reject, stages(first), Task::Transform, 3);
        let buf = write(&s).unwrap();
        let apr = Apr::parse(&buf).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let mut f32_differs = 0;
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut batch = BatchOutput::default();
        model.predict_batch(&flat, &mut batch).unwrap();
        for (r, x) in rows.iter().enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let refr = reference::predict(apr.stages(), Task::Transform, x);
            for i in 0..3 {
                let from = if first { x[i] } else { f64::from(x[i] as f32) };
                let want = ((from - mean[i]) / scale[i]) as f32;
                assert_eq!(
                    out.values[i].to_bits(),
                    f64::from(want).to_bits(),
                    "row {r} feature {i}"
                );
                assert_eq!(batch.values[r * 3 + i].to_bits(), f64::from(want).to_bits());
                assert_eq!(refr.values[i], f64::from(want));
                let in_f32 = ((x[i] as f32) - mean[i] as f32) / scale[i] as f32;
                f32_differs += usize::from(in_f32 != want);
            }
        }
        assert!(
            f32_differs > 0,
            "the rows do not tell f64 from f32 arithmetic"
        );
    }
}

/// A first `min_max_scaler_f64` computes `x * scale + min` in f64 from the caller's row and
/// rounds once (scikit-learn's MinMaxScaler, then a float32 cast); row path, batch path and
/// reference agree, and f32 arithmetic would differ on some rows.
#[test]
fn min_max_scaler_f64_rounds_once() {
    let scale = vec![0.37, 3.3e-3, 7.1];
    let min = vec![-0.2, 5.6, -1.0e-3];
    let s = spec(
        3,
        MissingValues::Reject,
        vec![StageSpec::MinMaxScalerF64 {
            scale: scale.clone(),
            min: min.clone(),
        }],
        Task::Transform,
        3,
    );
    let buf = write(&s).unwrap();
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let rows: Vec<[f64; 3]> = (0..64)
        .map(|i| {
            let t = f64::from(i) * 0.173 + 0.01;
            [t, 1000.0 + t * 13.0, 0.1 + t * 1e-3]
        })
        .collect();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let mut batch = BatchOutput::default();
    model.predict_batch(&flat, &mut batch).unwrap();
    let mut f32_differs = 0;
    for (r, x) in rows.iter().enumerate() {
        let out = model.predict_row(x, &mut scratch).unwrap();
        let refr = reference::predict(apr.stages(), Task::Transform, x);
        for i in 0..3 {
            let want = (x[i] * scale[i] + min[i]) as f32;
            assert_eq!(
                out.values[i].to_bits(),
                f64::from(want).to_bits(),
                "row {r} feature {i}"
            );
            assert_eq!(batch.values[r * 3 + i].to_bits(), f64::from(want).to_bits());
            assert_eq!(refr.values[i], f64::from(want));
            let in_f32 = (x[i] as f32) * scale[i] as f32 + min[i] as f32;
            f32_differs += usize::from(in_f32 != want);
        }
    }
    assert!(
        f32_differs > 0,
        "the rows do not tell f64 from f32 arithmetic"
    );
}

#[test]
fn prepare_sizes_the_scratch_and_changes_no_answer() {
    // An f32 k-means model: `prepare` also computes its centre norms ahead.
    let s = spec(
        2,
        MissingValues::Reject,
        vec![StageSpec::KMeans {
            n_in: 2,
            k: 3,
            centers: vec![0.0, 0.0, 3.0, 4.0, -1.5, 0.25],
        }],
        Task::Classification,
        3,
    );
    let buf = written(&s);
    let apr = Apr::parse(&buf).unwrap();
    let fresh = Model::new(&apr);
    let prepared = Model::new(&apr);
    let mut sp = icebreak_engine::Scratch::default();
    prepared.prepare(Some(&mut sp));
    prepared.prepare(None);
    let mut sf = icebreak_engine::Scratch::default();
    for x in [[3.0, 4.0], [0.5, 0.0], [-1.0, 0.3], [1e30, -2.0]] {
        let a = fresh.predict_row(&x, &mut sf).unwrap();
        let (values, class) = (a.values.to_vec(), a.class);
        let b = prepared.predict_row(&x, &mut sp).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(b.values), bits(&values));
        assert_eq!(b.class, class);
    }
}
