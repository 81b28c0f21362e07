//! Pipelines computed in f64 throughout: f64 scalers, a normalizer, an f64 PCA, an f64 linear
//! model or MLP and its post transform, with an f64 output precision (scikit-learn reached through a double ONNX
//! graph). The row path, the batch path and the reference agree bit for bit, and no value is
//! rounded to f32 on the way.

use crate::common::written;
use icebreak_engine::{reference, BatchOutput, Model};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn is_f32(v: f64) -> bool {
    f64::from(v as f32) == v
}

/// `pre`: 0 none, 1 standard_scaler_f64, 2 min_max_scaler_f64, 3 both. `head`: 0 regression,
/// 1 a classifier with a post transform (binary_logistic for one score, softmax otherwise),
/// 2 a classifier by the scores' sign or argmax, 3 logistic per output (regression).
fn pipeline(n: u32, n_out: u32, pre: u8, head: u8, p: &[f64], precision: Precision) -> ModelSpec {
    mlp(n, n_out, pre, head, &[], 0, p, precision)
}

/// [`pipeline`] with an MLP (`dense_f64` layers) when `hidden` (width, activation code per
/// hidden layer) is not empty, and a `pca_f64` after the scalers when `pca` is 1 (or 2:
/// whitened).
#[allow(clippy::too_many_arguments)]
fn mlp(
    n: u32,
    n_out: u32,
    pre: u8,
    head: u8,
    hidden: &[(u32, u8)],
    pca: u8,
    p: &[f64],
    precision: Precision,
) -> ModelSpec {
    let nf = n as usize;
    let mut at = 0;
    let mut take = |k: usize| {
        let v: Vec<f64> = (0..k).map(|i| p[(at + i) % p.len()]).collect();
        at += k;
        v
    };
    let mut stages = Vec::new();
    if pre & 1 != 0 {
        stages.push(StageSpec::StandardScalerF64 {
            mean: take(nf),
            scale: take(nf).iter().map(|s| s.abs() + 0.1).collect(),
        });
    }
    if pre & 2 != 0 {
        stages.push(StageSpec::MinMaxScalerF64 {
            scale: take(nf),
            min: take(nf),
        });
    }
    let n_features = n;
    let (n, nf) = if pca > 0 {
        let k = 1 + n / 2;
        stages.push(StageSpec::PcaF64 {
            n_in: n,
            n_out: k,
            mean: take(nf),
            components: take(nf * k as usize),
            whiten: (pca == 2).then(|| take(k as usize).iter().map(|w| w.abs() + 0.5).collect()),
        });
        (k, k as usize)
    } else {
        (n, nf)
    };
    let no = n_out as usize;
    if hidden.is_empty() {
        stages.push(StageSpec::LinearF64 {
            n_in: n,
            n_out,
            coef: take(nf * no),
            intercept: take(no),
        });
    } else {
        let mut width = n;
        for &(h, act) in hidden.iter().chain([&(n_out, 0)]) {
            stages.push(StageSpec::DenseF64 {
                n_in: width,
                n_out: h,
                activation: [
                    Activation::Identity,
                    Activation::Relu,
                    Activation::Tanh,
                    Activation::Logistic,
                ][usize::from(act % 4)],
                weights: take((width * h) as usize),
                bias: take(h as usize),
            });
            width = h;
        }
    }
    let (task, n_outputs) = match head {
        1 => {
            stages.push(StageSpec::Post(if no == 1 {
                PostTransform::BinaryLogistic
            } else {
                PostTransform::Softmax
            }));
            (Task::Classification, n_out.max(2))
        }
        2 => (Task::Classification, n_out.max(2)),
        3 => {
            stages.push(StageSpec::Post(PostTransform::Logistic));
            (Task::Regression, n_out)
        }
        _ => (Task::Regression, n_out),
    };
    let mut s = ModelSpecBuilder::new(n_features)
        .task_with_labels(task, n_outputs)
        .stages(stages)
        .build();
    s.output.precision = precision;
    s
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #[test]
    fn row_batch_and_reference_agree_bit_for_bit(
        n in 1u32..9,
        n_out in 1u32..4,
        pre in 0u8..4,
        head in 0u8..4,
        hidden in vec((1u32..7, 0u8..4), 0..3),
        norm in 0u8..4,
        pca in 0u8..3,
        p in vec(-3.0f64..3.0, 64),
        rows in vec(-1e3f64..1e3, 48),
    ) {
        let mut spec = mlp(n, n_out, pre, head, &hidden, pca, &p, Precision::F64);
        if norm > 0 {
            // A normalizer first (it has no parameters: computed in f64 here).
            spec.stages.insert(0, StageSpec::Normalizer {
                width: n,
                norm: [Norm::L1, Norm::L2, Norm::Max][usize::from(norm - 1)],
            });
        }
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        prop_assert!(model.reads_f64());
        let nf = n as usize;
        let rows = &rows[..rows.len() / nf * nf];
        let mut scratch = model.scratch();
        let mut batch = BatchOutput::default();
        model.predict_batch(rows, &mut batch).unwrap();
        let sw = model.score_width();
        let vw = batch.value_width;
        for (r, x) in rows.chunks_exact(nf).enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let want = reference::predict_all_f64(apr.stages(), spec.output.task, x);
            prop_assert_eq!(bits(out.scores), bits(&want.scores));
            prop_assert_eq!(bits(out.values), bits(&want.values));
            prop_assert_eq!(out.probabilities.map(bits), want.probabilities.as_deref().map(bits));
            prop_assert_eq!(out.class, want.class);
            prop_assert_eq!(bits(&batch.scores[r * sw..(r + 1) * sw]), bits(out.scores));
            prop_assert_eq!(bits(&batch.values[r * vw..(r + 1) * vw]), bits(out.values));
            if let Some(c) = out.class {
                prop_assert_eq!(batch.classes[r], c);
            }
        }
    }
}

/// Known values: `(x - mean) / scale` then `coef · y + intercept`, each in f64 and never
/// rounded to f32 (f32 arithmetic would give other numbers on these rows), and the logistic
/// of the score in f64.
#[test]
fn nothing_is_rounded_to_f32() {
    let mean = [0.1, 3.0];
    let scale = [0.3, 7.0];
    let coef = [1.0 / 3.0, -2.0 / 7.0];
    let intercept = 0.1;
    let mut s = ModelSpecBuilder::new(2)
        .task_with_labels(Task::Classification, 2)
        .stages(vec![
            StageSpec::StandardScalerF64 {
                mean: mean.to_vec(),
                scale: scale.to_vec(),
            },
            StageSpec::LinearF64 {
                n_in: 2,
                n_out: 1,
                coef: coef.to_vec(),
                intercept: vec![intercept],
            },
            StageSpec::Post(PostTransform::BinaryLogistic),
        ])
        .build();
    s.output.precision = Precision::F64;
    let buf = written(&s);
    let apr = Apr::parse_verified(&buf).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    for i in 0..20 {
        let x = [0.37 * f64::from(i) - 2.0, 1.1 + 0.01 * f64::from(i)];
        let out = model.predict_row(&x, &mut scratch).unwrap();
        let y0 = (x[0] - mean[0]) / scale[0];
        let y1 = (x[1] - mean[1]) / scale[1];
        let z = intercept + (0.0 + y0 * coef[0] + y1 * coef[1]);
        assert_eq!(out.scores, [z]);
        let p = 1.0 / (1.0 + (-z).exp());
        assert_eq!(out.values, [1.0 - p, p]);
        assert!(!is_f32(z), "row {i}: {z} is an f32 value");
        assert_eq!(out.class, Some(usize::from(z > 0.0)));
    }
}

/// The same stages with an f32 output precision, or behind a stage that computes in f32 (an
/// f32 scaler), are computed as before: every answer is an f32 value.
#[test]
fn f64_stages_in_an_f32_pipeline_answer_f32_values() {
    let p: Vec<f64> = (0..40)
        .map(|i| (f64::from(i) * 0.731).sin() * 2.0)
        .collect();
    let f32_answers = pipeline(3, 2, 3, 1, &p, Precision::F32);
    let mut behind_f32 = pipeline(3, 2, 3, 1, &p, Precision::F64);
    behind_f32.stages.insert(
        0,
        StageSpec::MinMaxScaler {
            scale: vec![0.5, 2.0, 0.1],
            min: vec![0.0, -1.0, 0.3],
        },
    );
    let mlp_behind_f32 = {
        let mut s = mlp(3, 2, 1, 1, &[(4, 1)], 1, &p, Precision::F64);
        s.stages.insert(
            0,
            StageSpec::StandardScaler {
                mean: vec![0.5, 2.0, 0.1],
                scale: vec![1.5, 0.25, 3.0],
            },
        );
        s
    };
    for spec in [f32_answers, behind_f32, mlp_behind_f32] {
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        assert!(!model.reads_f64());
        let mut scratch = model.scratch();
        for i in 0..10 {
            let x = [f64::from(i) * 0.3 - 1.0, 0.25, 1.0 + f64::from(i)];
            let out = model.predict_row(&x, &mut scratch).unwrap();
            let want = reference::predict(apr.stages(), spec.output.task, &x);
            for (g, w) in out.scores.iter().zip(&want.scores) {
                assert!(is_f32(*g), "{g}");
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
            }
            assert!(out.values.iter().all(|v| is_f32(*v)));
        }
    }
}

proptest! {
    /// Gaussian naive Bayes (f64 parameters) behind an f64 scaler, with or without its
    /// softmax: computed in f64 throughout, row path, batch path and reference bit for bit.
    #[test]
    fn naive_bayes_in_f64_agrees_bit_for_bit(
        n in 1u32..11,
        k in 2u32..5,
        scaler in any::<bool>(),
        softmax in any::<bool>(),
        p in vec(-3.0f64..3.0, 128),
        rows in vec(-50.0f64..50.0, 40),
    ) {
        let (nf, kc) = (n as usize, k as usize);
        let mut stages = Vec::new();
        if scaler {
            stages.push(StageSpec::StandardScalerF64 {
                mean: p[..nf].to_vec(),
                scale: p[nf..2 * nf].iter().map(|s| s.abs() + 0.1).collect(),
            });
        }
        stages.push(StageSpec::GaussianNb {
            n_in: n,
            n_classes: k,
            theta: (0..nf * kc).map(|i| p[(3 * i + 1) % p.len()]).collect(),
            var: (0..nf * kc).map(|i| p[(5 * i + 2) % p.len()].abs() + 0.05).collect(),
            log_prior: (0..kc).map(|c| -(c as f64) - 0.5).collect(),
            log_norm: (0..kc).map(|c| p[c] - 1.0).collect(),
        });
        if softmax {
            stages.push(StageSpec::Post(PostTransform::Softmax));
        }
        let mut spec = ModelSpecBuilder::new(n)
            .task_with_labels(Task::Classification, k)
            .stages(stages)
            .build();
        spec.output.precision = Precision::F64;
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        let rows = &rows[..rows.len() / nf * nf];
        let mut scratch = model.scratch();
        let mut batch = BatchOutput::default();
        model.predict_batch(rows, &mut batch).unwrap();
        for (r, x) in rows.chunks_exact(nf).enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let want = reference::predict_all_f64(apr.stages(), Task::Classification, x);
            prop_assert_eq!(bits(out.scores), bits(&want.scores));
            prop_assert_eq!(bits(out.values), bits(&want.values));
            prop_assert_eq!(out.class, want.class);
            prop_assert_eq!(bits(&batch.scores[r * kc..(r + 1) * kc]), bits(out.scores));
            prop_assert_eq!(batch.classes[r], out.class.unwrap());
        }
    }
}

proptest! {
    /// k-means with f64 centres behind an f64 scaler: distances as scikit-learn's
    /// `euclidean_distances` computes them, the nearest centre, row path, batch path and
    /// reference bit for bit; a row at a centre is at distance 0 from it.
    #[test]
    fn kmeans_in_f64_agrees_bit_for_bit(
        n in 1u32..9,
        k in 2u32..6,
        scaler in any::<bool>(),
        p in vec(-3.0f64..3.0, 64),
        rows in vec(-10.0f64..10.0, 40),
    ) {
        let (nf, kc) = (n as usize, k as usize);
        let centers: Vec<f64> = (0..nf * kc).map(|i| p[(3 * i + 1) % p.len()]).collect();
        let mut stages = Vec::new();
        if scaler {
            stages.push(StageSpec::MinMaxScalerF64 {
                scale: p[..nf].iter().map(|s| s.abs() + 0.1).collect(),
                min: p[nf..2 * nf].to_vec(),
            });
        }
        stages.push(StageSpec::KMeansF64 { n_in: n, k, centers: centers.clone() });
        let mut spec = ModelSpecBuilder::new(n)
            .task_with_labels(Task::Classification, k)
            .stages(stages)
            .build();
        spec.output.precision = Precision::F64;
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        let rows = &rows[..rows.len() / nf * nf];
        let mut scratch = model.scratch();
        let mut batch = BatchOutput::default();
        model.predict_batch(rows, &mut batch).unwrap();
        for (r, x) in rows.chunks_exact(nf).enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let want = reference::predict_all_f64(apr.stages(), Task::Classification, x);
            prop_assert_eq!(bits(out.scores), bits(&want.scores));
            prop_assert_eq!(out.class, want.class);
            prop_assert_eq!(bits(&batch.scores[r * kc..(r + 1) * kc]), bits(out.scores));
            prop_assert_eq!(batch.classes[r], out.class.unwrap());
        }
        if !scaler {
            let c = &centers[nf..2 * nf];
            let out = model.predict_row(c, &mut scratch).unwrap();
            prop_assert!(out.scores[1] <= 1e-7 * c.iter().map(|v| v * v).sum::<f64>().sqrt());
        }
    }
}

/// An `svm_f64` model, optionally behind an `imputer_f64` (NaN marker): `k` 1 is a
/// regressor; `kern` 0 linear, 1 poly, 2 rbf, 3 sigmoid.
#[allow(clippy::too_many_arguments)]
fn svm_spec(
    n: u32,
    k: u32,
    per: usize,
    kern: u8,
    probs: bool,
    break_ties: bool,
    imputer: bool,
    p: &[f64],
) -> ModelSpec {
    let nf = n as usize;
    let classifier = k >= 2;
    let n_sv = if classifier { k as usize * per } else { per };
    let pairs = if classifier {
        (k * (k - 1) / 2) as usize
    } else {
        1
    };
    let rows = if classifier { k as usize - 1 } else { 1 };
    let take = |len: usize, at: usize| -> Vec<f64> {
        (0..len).map(|i| p[(at + 7 * i) % p.len()]).collect()
    };
    let kernel = match kern {
        0 => Kernel::Linear,
        1 => Kernel::Poly {
            gamma: 0.37,
            coef0: 0.5,
            degree: 3,
        },
        2 => Kernel::Rbf { gamma: 0.21 },
        _ => Kernel::Sigmoid {
            gamma: 0.13,
            coef0: -0.25,
        },
    };
    let m = SvmSpec {
        n_in: n,
        n_classes: k,
        kernel,
        n_support: if classifier {
            vec![per as u32; k as usize]
        } else {
            Vec::new()
        },
        support_vectors: take(n_sv * nf, 1),
        coef: take(rows * n_sv, 2),
        intercept: take(pairs, 3),
        prob_a: if probs && classifier {
            take(pairs, 4).iter().map(|a| -a.abs() - 0.5).collect()
        } else {
            Vec::new()
        },
        prob_b: if probs && classifier {
            take(pairs, 5)
        } else {
            Vec::new()
        },
        break_ties: break_ties && k >= 3,
    };
    let mut stages = Vec::new();
    if imputer {
        stages.push(StageSpec::ImputerF64 {
            missing: f64::NAN,
            fill: take(nf, 6),
        });
    }
    stages.push(StageSpec::SvmF64(m));
    let b = ModelSpecBuilder::new(n).missing(if imputer {
        MissingValues::Nan
    } else {
        MissingValues::Reject
    });
    let b = if classifier {
        b.task_with_labels(Task::Classification, k)
    } else {
        b.regression(1)
    };
    let mut spec = b.stages(stages).build();
    spec.output.precision = Precision::F64;
    spec
}

proptest! {
    /// svm_f64 (every kernel, classifiers with and without probabilities and break_ties,
    /// regressors), behind an imputer_f64 or alone: row path, batch path and reference bit for
    /// bit, rows with NaN entries imputed.
    #[test]
    fn svm_and_imputer_in_f64_agree_bit_for_bit(
        n in 1u32..9,
        k in 1u32..5,
        per in 1usize..4,
        kern in 0u8..4,
        probs in any::<bool>(),
        break_ties in any::<bool>(),
        imputer in any::<bool>(),
        p in vec(-2.0f64..2.0, 61),
        rows in vec(-3.0f64..3.0, 40),
        holes in vec(any::<bool>(), 40),
    ) {
        let spec = svm_spec(n, k, per, kern, probs, break_ties, imputer, &p);
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        prop_assert!(model.reads_f64());
        let nf = n as usize;
        let mut rows = rows[..rows.len() / nf * nf].to_vec();
        if imputer {
            for (v, h) in rows.iter_mut().zip(&holes) {
                if *h {
                    *v = f64::NAN;
                }
            }
        }
        let mut scratch = model.scratch();
        let mut batch = BatchOutput::default();
        model.predict_batch(&rows, &mut batch).unwrap();
        let sw = model.score_width();
        let vw = batch.value_width;
        for (r, x) in rows.chunks_exact(nf).enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            let want = reference::predict_all_f64(apr.stages(), spec.output.task, x);
            prop_assert_eq!(bits(out.scores), bits(&want.scores));
            prop_assert_eq!(bits(out.values), bits(&want.values));
            prop_assert_eq!(out.probabilities.map(bits), want.probabilities.as_deref().map(bits));
            prop_assert_eq!(out.class, want.class);
            prop_assert!(out.scores.iter().all(|v| v.is_finite()));
            prop_assert_eq!(bits(&batch.scores[r * sw..(r + 1) * sw]), bits(out.scores));
            prop_assert_eq!(bits(&batch.values[r * vw..(r + 1) * vw]), bits(out.values));
            if let Some(c) = out.class {
                prop_assert_eq!(batch.classes[r], c);
            }
        }
    }
}

/// Known values of an svm_f64 whose decision values are its intercepts (zero dual
/// coefficients): `d = (0.5, -2, 1)` gives one vote to each class, so libsvm's vote picks
/// class 0 while `break_ties` picks the largest `'ovr'` value, class 2 (scikit-learn's
/// `[-0.125, 1 + 1/6, 1 + 1/6 + …]`, computed here by hand).
#[test]
fn break_ties_picks_the_largest_ovr_value() {
    let spec = |break_ties: bool| {
        let mut s = ModelSpecBuilder::new(1)
            .task_with_labels(Task::Classification, 3)
            .stage(StageSpec::SvmF64(SvmSpec {
                n_in: 1,
                n_classes: 3,
                kernel: Kernel::Linear,
                n_support: vec![1, 1, 1],
                support_vectors: vec![0.1, 0.2, 0.3],
                coef: vec![0.0; 6],
                intercept: vec![0.5, -2.0, 1.0],
                prob_a: Vec::new(),
                prob_b: Vec::new(),
                break_ties,
            }))
            .build();
        s.output.precision = Precision::F64;
        s
    };
    // conf = (0.5 - 2, -0.5 + 1, 2 - 1); ovr_c = votes_c + conf_c / (3 (|conf_c| + 1)).
    let want = [
        1.0 + -1.5 / (3.0 * 2.5),
        1.0 + 0.5 / (3.0 * 1.5),
        1.0 + 1.0 / (3.0 * 2.0),
    ];
    for (bt, class) in [(false, 0), (true, 2)] {
        let s = spec(bt);
        let buf = written(&s);
        let apr = Apr::parse_verified(&buf).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let out = model.predict_row(&[0.7], &mut scratch).unwrap();
        assert_eq!(out.scores, want);
        assert_eq!(out.class, Some(class), "break_ties {bt}");
    }
}

/// An svm_f64 regressor's answer is an f64 value, not rounded to f32: linear kernel,
/// `0.1 · (x · 1/3) + 0.2` in f64.
#[test]
fn svm_f64_answers_are_not_rounded_to_f32() {
    let mut s = ModelSpecBuilder::new(1)
        .regression(1)
        .stage(StageSpec::SvmF64(SvmSpec {
            n_in: 1,
            n_classes: 1,
            kernel: Kernel::Linear,
            n_support: Vec::new(),
            support_vectors: vec![1.0 / 3.0],
            coef: vec![0.1],
            intercept: vec![0.2],
            prob_a: Vec::new(),
            prob_b: Vec::new(),
            break_ties: false,
        }))
        .build();
    s.output.precision = Precision::F64;
    let buf = written(&s);
    let apr = Apr::parse_verified(&buf).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let x = 0.7f64;
    let out = model.predict_row(&[x], &mut scratch).unwrap();
    let z = 0.1 * (x * (1.0 / 3.0)) + 0.2;
    assert_eq!(out.scores, [z]);
    assert!(!is_f32(z));
}
