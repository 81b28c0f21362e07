//! Property tests: every fast f32 kernel agrees with its f64 reference, whole pipelines
//! written with `icebreak_format::write` predict (row by row and in batches) what the plain
//! reference pipeline predicts, and bad rows are refused with the exact `EngineError`.
//!
//! Tolerances. A sum of `n` f32 products carries a rounding error of at most about
//! `n · ε · Σ|terms|` (ε = `f32::EPSILON`), whatever the accumulation order, so scores are
//! compared with `(n + 24) · ε · (|intercept| + Σ|w·x|)`: relative to the magnitude of the
//! terms, not of the result, which may cancel to almost nothing. Probabilities are bounded
//! (every post transform maps into `[0, 1]`) and are compared in absolute terms.

#![allow(missing_docs)]
// Helpers outside #[test] functions unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

use crate::common::to64;
use icebreak_engine::kernels::{
    any_non_finite_f32, argmax_f32, dot_f32, dot_f32_8acc, dot_ref, linear_f32, linear_ref,
    ovr_normalize_f32, ovr_normalize_ref, rows_dot_f32, sigmoid_f32, sigmoid_ref, softmax_f32,
    softmax_ref, softmax_rows_f32, standard_scale_f32, standard_scale_into_f32, standard_scale_ref,
};
use icebreak_engine::{reference, BatchOutput, EngineError, Model};
use icebreak_format::testing::strategy::{self, Head, HeadParts};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::{
    write, Apr, LabelsSpec, MissingValues, ModelSpec, PostTransform, StageSpec, Task,
};
use proptest::collection::vec;
use proptest::prelude::*;

const EPS: f64 = f32::EPSILON as f64;

/// Absolute tolerance of a dot product of `n` terms whose magnitudes add up to `sum_abs`.
fn dot_tol(n: usize, sum_abs: f64) -> f64 {
    (n as f64 + 24.0) * EPS * sum_abs + 1e-30
}

fn sum_abs_terms(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum()
}

/// Values of several scales, zeros and exact powers of two: enough for cancellation, not so
/// large that an f32 product or a 300-term sum overflows.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -1.0f32..1.0,
        3 => -1e3f32..1e3,
        1 => Just(0.0f32),
        1 => (-20i32..20, any::<bool>()).prop_map(|(e, neg)| {
            let v = 2f32.powi(e);
            if neg { -v } else { v }
        }),
        1 => -1e6f32..1e6,
    ]
}

/// Any finite f32, huge and subnormal ones included.
fn any_finite() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

/// Scores as a post transform sees them: moderate ones, large ones and any finite value.
fn score() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -30.0f32..30.0,
        2 => -1e4f32..1e4,
        1 => any_finite(),
        1 => Just(f32::MAX),
        1 => Just(f32::MIN),
    ]
}

fn pair(max_len: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0..max_len).prop_flat_map(|n| (vec(value(), n), vec(value(), n)))
}

/// One-vs-rest is comparable with the (naive) f64 reference while its sigmoids do not
/// underflow in f64 (scores above about -745); the f32 kernel works in the log domain and
/// stays a distribution below that too.
fn ovr_comparable(scores: &[f64]) -> bool {
    scores.iter().copied().fold(f64::NEG_INFINITY, f64::max) >= -700.0
}

fn post_ref(p: PostTransform, scores: &[f64]) -> Vec<f64> {
    match p {
        PostTransform::Logistic => scores.iter().map(|&z| sigmoid_ref(z)).collect(),
        PostTransform::BinaryLogistic => {
            let s = sigmoid_ref(scores[0]);
            vec![1.0 - s, s]
        }
        PostTransform::Softmax => softmax_ref(scores),
        PostTransform::OvrNormalize => ovr_normalize_ref(scores),
        PostTransform::Exp => scores.iter().map(|z| z.exp()).collect(),
        PostTransform::Probabilities => scores.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels against their references.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dot_8acc_matches_reference((a, b) in pair(300)) {
        let fast = dot_f32_8acc(&a, &b) as f64;
        let want = dot_ref(&a, &b);
        let tol = dot_tol(a.len(), sum_abs_terms(&a, &b));
        prop_assert!((fast - want).abs() <= tol, "n={} fast={fast} ref={want} tol={tol}", a.len());
    }

    #[test]
    fn dot_8acc_uses_the_shorter_length((a, b) in pair(40), extra in vec(value(), 1..20)) {
        let mut longer = b.clone();
        longer.extend(extra);
        prop_assert_eq!(dot_f32_8acc(&a, &longer).to_bits(), dot_f32_8acc(&a, &b).to_bits());
        prop_assert_eq!(dot_f32_8acc(&longer, &a).to_bits(), dot_f32_8acc(&b, &a).to_bits());
    }
}

proptest! {
    // Five vectors of up to 300 values per case are slow to generate in a debug build.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn rows_dot_matches_reference_and_the_single_row_kernel(
        (rows, w) in (0usize..300).prop_flat_map(|n| (vec(vec(value(), n), 4), vec(value(), n)))
    ) {
        let flat = rows.concat();
        let mut got = [0.0f32; 4];
        rows_dot_f32(&flat, w.len(), &w, 1, &mut got, None);
        for (r, row) in rows.iter().enumerate() {
            let want = dot_ref(row, &w);
            let tol = dot_tol(w.len(), sum_abs_terms(row, &w));
            prop_assert!(
                (got[r] as f64 - want).abs() <= tol,
                "row {r}, n={}: fast={} ref={want} tol={tol}", w.len(), got[r]
            );
            // Same accumulation order as the single-row kernel: the batch path and the
            // row path give bit-identical scores.
            prop_assert_eq!(got[r].to_bits(), dot_f32_8acc(row, &w).to_bits());
            prop_assert_eq!(got[r].to_bits(), dot_f32(row, &w).to_bits());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn linear_matches_reference(
        (x, coef, intercept) in (0usize..70, 1usize..9).prop_flat_map(|(n_in, n_out)| {
            (vec(value(), n_in), vec(value(), n_in * n_out), vec(value(), n_out))
        })
    ) {
        let n_in = x.len();
        let mut out = vec![f32::NAN; intercept.len()];
        linear_f32(&x, &coef, &intercept, &mut out);
        let want = linear_ref(&x, &coef, &intercept);
        prop_assert_eq!(want.len(), out.len());
        for (j, (&got, &want)) in out.iter().zip(&want).enumerate() {
            let w = &coef[j * n_in..(j + 1) * n_in];
            let tol = dot_tol(n_in + 1, intercept[j].abs() as f64 + sum_abs_terms(&x, w));
            prop_assert!(
                (got as f64 - want).abs() <= tol,
                "output {j}: fast={got} ref={want} tol={tol}"
            );
        }
    }

    #[test]
    fn standard_scale_matches_reference(
        (x, mean, scale) in (0usize..40).prop_flat_map(|n| (
            vec(-1e3f32..1e3, n),
            vec(-1e3f32..1e3, n),
            vec(prop_oneof![1e-3f32..1e3, -1e3f32..-1e-3], n),
        ))
    ) {
        let mut fast = x.clone();
        standard_scale_f32(&mut fast, &mean, &scale);
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let want = standard_scale_ref(&xd, &mean, &scale);
        for i in 0..x.len() {
            // Two roundings (subtract, divide), each relative to what it rounds.
            let tol = 2.0 * EPS * ((x[i] as f64).abs() + (mean[i] as f64).abs())
                / (scale[i] as f64).abs();
            prop_assert!((fast[i] as f64 - want[i]).abs() <= tol, "feature {i}");
        }
    }

    #[test]
    fn scale_into_equals_scale_in_place(
        (x, mean, scale) in (0usize..40).prop_flat_map(|n| (
            vec(value(), n),
            vec(value(), n),
            vec(prop_oneof![1e-3f32..1e3, -1e3f32..-1e-3], n),
        ))
    ) {
        let mut in_place = x.clone();
        standard_scale_f32(&mut in_place, &mean, &scale);
        let mut out = vec![f32::NAN; x.len()];
        standard_scale_into_f32(&x, &mean, &scale, &mut out);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&out), bits(&in_place));
    }

    #[test]
    fn any_non_finite_matches_reference(
        x in vec(prop_oneof![
            20 => value(),
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
            1 => Just(f32::MAX),
            1 => Just(f32::MIN_POSITIVE / 2.0),
        ], 0..40)
    ) {
        prop_assert_eq!(any_non_finite_f32(&x), x.iter().any(|v| !v.is_finite()), "{:?}", x);
    }

    #[test]
    fn sigmoid_matches_reference_for_any_finite_score(z in score()) {
        let fast = sigmoid_f32(z);
        let want = sigmoid_ref(z as f64);
        prop_assert!(fast.is_finite() && (0.0..=1.0).contains(&fast), "sigmoid({z}) = {fast}");
        prop_assert!((fast as f64 - want).abs() <= 1e-6, "sigmoid({z}): {fast} vs {want}");
        // Relative accuracy too, while the result is a normal f32.
        if want >= 1e-36 {
            prop_assert!(
                ((fast as f64 - want) / want).abs() <= 1e-5,
                "sigmoid({z}): {fast} vs {want}"
            );
        }
    }

    #[test]
    fn softmax_matches_reference_without_overflow(z in vec(score(), 1..12)) {
        let mut fast = z.clone();
        softmax_f32(&mut fast);
        let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
        let want = softmax_ref(&zd);
        let mut sum = 0.0f64;
        for (i, (&p, &q)) in fast.iter().zip(&want).enumerate() {
            prop_assert!(p.is_finite() && (0.0..=1.0).contains(&p), "p[{i}] = {p} for {z:?}");
            prop_assert!((p as f64 - q).abs() <= 1e-5, "p[{i}]: {p} vs {q} for {z:?}");
            sum += p as f64;
        }
        prop_assert!((sum - 1.0).abs() <= 1e-5, "sum {sum} for {z:?}");
    }

    #[test]
    fn ovr_normalize_matches_reference_without_overflow(z in vec(score(), 1..12)) {
        let mut fast = z.clone();
        ovr_normalize_f32(&mut fast);
        for (i, &p) in fast.iter().enumerate() {
            prop_assert!(p.is_finite() && (0.0..=1.0).contains(&p), "p[{i}] = {p} for {z:?}");
        }
        let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
        if ovr_comparable(&zd) {
            let want = ovr_normalize_ref(&zd);
            for (i, (&p, &q)) in fast.iter().zip(&want).enumerate() {
                prop_assert!((p as f64 - q).abs() <= 1e-5, "p[{i}]: {p} vs {q} for {z:?}");
            }
        }
        // A distribution whatever the scores (in the log domain nothing underflows).
        let sum: f64 = fast.iter().map(|&p| p as f64).sum();
        prop_assert!((sum - 1.0).abs() <= 1e-5, "sum {sum} for {z:?}");
    }

    #[test]
    fn argmax_returns_the_first_maximum(
        x in vec(prop_oneof![4 => (-3i8..4).prop_map(f32::from), 1 => Just(f32::NAN)], 1..20)
    ) {
        let got = argmax_f32(&x);
        prop_assert!(got < x.len());
        let max = x.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        if let Some(first) = x.iter().position(|&v| v == max) {
            // NaN never wins over a number, and of tied maxima the first wins.
            prop_assert_eq!(got, first, "{:?}", x);
        }
    }
}

#[test]
fn kernels_on_empty_and_extreme_inputs() {
    assert_eq!(dot_f32_8acc(&[], &[]), 0.0);
    assert_eq!(dot_f32(&[], &[]), 0.0);
    assert_eq!(argmax_f32(&[]), 0);
    assert_eq!(argmax_f32(&[2.0, 5.0, 5.0, 1.0]), 1);
    assert_eq!(argmax_f32(&[f32::NAN, 1.0, 1.0]), 1);
    assert_eq!(sigmoid_f32(f32::INFINITY), 1.0);
    assert_eq!(sigmoid_f32(f32::NEG_INFINITY), 0.0);
    assert_eq!(sigmoid_f32(f32::MAX), 1.0);
    assert_eq!(sigmoid_f32(f32::MIN), 0.0);
    let mut z = [f32::MAX, f32::MIN, 0.0];
    softmax_f32(&mut z);
    assert_eq!(z, [1.0, 0.0, 0.0]);
    let mut z = [f32::MAX, f32::MAX];
    softmax_f32(&mut z);
    assert_eq!(z, [0.5, 0.5]);
    let mut z = [f32::MAX, f32::MIN, 0.0];
    ovr_normalize_f32(&mut z);
    assert_eq!(z, [2.0 / 3.0, 0.0, 1.0 / 3.0]);
}

// ---------------------------------------------------------------------------------------------
// Whole pipelines.

/// What follows the linear layer, and the task and class count that go with it: every
/// combination the format accepts (rules R25-R27), up to 8 outputs.
fn head() -> impl Strategy<Value = Head> {
    strategy::head(1u32..=8, 2u32..=8)
}

/// A valid model: optional scaler, a linear layer of 1..=8 outputs, an optional post
/// transform. Feature counts up to 40 cover several 8-wide chunks and every tail length.
fn spec() -> impl Strategy<Value = ModelSpec> {
    (1u32..=40, head(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(n_features, head, scaler, nan)| {
            let HeadParts {
                n_out,
                post,
                task,
                n_outputs,
            } = head.parts();
            let nf = n_features as usize;
            let scaler = if scaler {
                (
                    vec(-10.0f32..10.0, nf),
                    vec(prop_oneof![0.25f32..8.0, -8.0f32..-0.25], nf),
                )
                    .prop_map(|(mean, scale)| Some(StageSpec::StandardScaler { mean, scale }))
                    .boxed()
            } else {
                Just(None).boxed()
            };
            let linear = (
                vec(-2.0f32..2.0, nf * n_out as usize),
                vec(-2.0f32..2.0, n_out as usize),
            )
                .prop_map(move |(coef, intercept)| StageSpec::Linear {
                    n_in: n_features,
                    n_out,
                    coef,
                    intercept,
                });
            (scaler, linear).prop_map(move |(scaler, linear)| {
                let mut stages: Vec<StageSpec> = scaler.into_iter().collect();
                stages.push(linear);
                stages.extend(post.map(StageSpec::Post));
                ModelSpecBuilder::new(n_features)
                    .missing(if nan {
                        MissingValues::Nan
                    } else {
                        MissingValues::Reject
                    })
                    .task_with_labels(task, n_outputs)
                    .version("proptest")
                    .stages(stages)
                    .build()
            })
        },
    )
}

/// A model with `n` rows of feature values for it.
fn model_and_rows(
    rows: std::ops::Range<usize>,
) -> impl Strategy<Value = (ModelSpec, Vec<Vec<f32>>)> {
    spec().prop_flat_map(move |s| {
        let nf = s.input.n_features as usize;
        (Just(s), vec(vec(-10.0f32..10.0, nf), rows.clone()))
    })
}

fn n_features(spec: &ModelSpec) -> usize {
    spec.input.n_features as usize
}

fn post_of(spec: &ModelSpec) -> Option<PostTransform> {
    spec.stages.iter().find_map(|s| match s {
        StageSpec::Post(p) => Some(*p),
        _ => None,
    })
}

/// Per-output score tolerances: `(n + 24) · ε · (|b_j| + Σ_i |w_ji · x'_i|)`, with `x'` the
/// reference's scaled row.
fn score_tolerances(spec: &ModelSpec, x: &[f32]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().map(|&f| f as f64).collect();
    let mut tols = Vec::new();
    for s in &spec.stages {
        match s {
            StageSpec::StandardScaler { mean, scale } => v = standard_scale_ref(&v, mean, scale),
            StageSpec::Linear {
                n_in,
                coef,
                intercept,
                ..
            } => {
                let n = *n_in as usize;
                tols = intercept
                    .iter()
                    .enumerate()
                    .map(|(j, &b)| {
                        let terms: f64 = coef[j * n..(j + 1) * n]
                            .iter()
                            .zip(&v)
                            .map(|(&w, &x)| (w as f64 * x).abs())
                            .sum();
                        dot_tol(n + 1, b.abs() as f64 + terms)
                    })
                    .collect();
            }
            _ => {}
        }
    }
    tols
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn predict_row_matches_the_reference_pipeline((spec, rows) in model_and_rows(1..4)) {
        let file = write(&spec).unwrap();
        let apr = Apr::parse(&file).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let post = post_of(&spec);
        for x in &rows {
            let x64 = to64(x);
            let got = model.predict_row(&x64, &mut scratch).unwrap();
            let want = reference::predict(apr.stages(), spec.output.task, &x64);
            let tols = score_tolerances(&spec, x);

            // Scores, within the rounding of their terms.
            prop_assert_eq!(got.scores.len(), want.scores.len());
            for (j, (&g, &w)) in got.scores.iter().zip(&want.scores).enumerate() {
                prop_assert!((g - w).abs() <= tols[j],
                    "score {j}: fast={g} ref={w} tol={}", tols[j]);
            }

            // Probabilities: the post transform itself within 1e-5 of its f64 reference on
            // the same scores; end to end within 1e-5 plus the score tolerance carried
            // through the transform (each one is 2-Lipschitz or better in the max norm).
            let classifier = spec.output.task == Task::Classification;
            prop_assert_eq!(got.probabilities.is_some(), post.is_some() && classifier);
            prop_assert_eq!(want.probabilities.is_some(), post.is_some() && classifier);
            if post.is_none() {
                prop_assert_eq!(got.values, got.scores);
            }
            // A regression's link and a classifier's probabilities are both the final values.
            if let (Some(p), probs, want_probs) = (post, got.values, &want.values) {
                prop_assert_eq!(probs.len(), model.output_width());
                prop_assert_eq!(want_probs.len(), probs.len());
                let fast_scores: Vec<f64> = got.scores.to_vec();
                let comparable = p != PostTransform::OvrNormalize
                    || (ovr_comparable(&fast_scores) && ovr_comparable(&want.scores));
                for (i, &q) in probs.iter().enumerate() {
                    prop_assert!(q.is_finite() && (0.0..=1.0).contains(&q), "p[{i}] = {q}");
                }
                if comparable {
                    let same_scores = post_ref(p, &fast_scores);
                    let carried = 2.0 * tols.iter().copied().fold(0.0, f64::max);
                    for (i, &q) in probs.iter().enumerate() {
                        prop_assert!((q - same_scores[i]).abs() <= 1e-5,
                            "p[{i}]: fast={q} ref(same scores)={}", same_scores[i]);
                        prop_assert!((q - want_probs[i]).abs() <= 1e-5 + carried,
                            "p[{i}]: fast={q} ref={} allowance={carried}", want_probs[i]);
                    }
                }
            }

            // Class: equal, unless the reference's winner and the fast winner are within the
            // scores' tolerance of each other (a near tie that rounding may flip).
            match spec.output.task {
                Task::Regression | Task::Transform => {
                    prop_assert_eq!(got.class, None);
                    prop_assert_eq!(want.class, None);
                }
                Task::Classification => {
                    let (g, w) = (got.class.unwrap(), want.class.unwrap());
                    if g != w {
                        if let [z] = want.scores.as_slice() {
                            prop_assert!(z.abs() <= tols[0], "binary: fast {g}, ref {w}, z={z}");
                        } else {
                            let gap = (want.scores[g] - want.scores[w]).abs();
                            prop_assert!(gap <= tols[g] + tols[w],
                                "fast class {g}, ref class {w}, scores {:?}", want.scores);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn predict_batch_equals_predict_row((spec, rows) in model_and_rows(0..20)) {
        let file = write(&spec).unwrap();
        let apr = Apr::parse(&file).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let mut out = BatchOutput::default();
        // Fill the output with another batch first: it is reused, not appended to.
        let reversed: Vec<f64> = rows.iter().rev().flatten().map(|&v| f64::from(v)).collect();
        model.predict_batch(&reversed, &mut out).unwrap();
        let flat: Vec<f64> = rows.iter().flatten().map(|&v| f64::from(v)).collect();
        model.predict_batch(&flat, &mut out).unwrap();

        let n = rows.len();
        let sw = out.score_width;
        let pw = out.probability_width;
        prop_assert_eq!(out.scores.len(), n * sw);
        prop_assert_eq!(out.probabilities.len(), n * pw);
        match spec.output.task {
            Task::Regression | Task::Transform => prop_assert!(out.classes.is_empty()),
            Task::Classification => prop_assert_eq!(out.classes.len(), n),
        }
        for (r, x) in rows.iter().enumerate() {
            let one = model.predict_row(&to64(x), &mut scratch).unwrap();
            prop_assert_eq!(sw, one.scores.len());
            prop_assert_eq!(&out.scores[r * sw..(r + 1) * sw], one.scores, "row {}", r);
            match one.probabilities {
                Some(p) => {
                    prop_assert_eq!(pw, p.len());
                    prop_assert_eq!(&out.probabilities[r * pw..(r + 1) * pw], p, "row {}", r);
                }
                None => prop_assert_eq!(pw, 0),
            }
            prop_assert_eq!(out.classes.get(r).copied(), one.class, "row {}", r);
        }
    }

    #[test]
    fn predict_row_refuses_bad_rows(
        (spec, rows) in model_and_rows(1..2),
        len in 0usize..60,
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        later in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
    ) {
        let file = write(&spec).unwrap();
        let apr = Apr::parse(&file).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let nf = n_features(&spec);

        // Wrong feature count.
        if len != nf {
            let row = vec![0.5f64; len];
            prop_assert_eq!(
                model.predict_row(&row, &mut scratch).unwrap_err(),
                EngineError::FeatureCount { expected: nf, found: len }
            );
            if len % nf != 0 {
                prop_assert_eq!(
                    model.predict_batch(&row, &mut BatchOutput::default()).unwrap_err(),
                    EngineError::BatchShape { len, n_features: nf }
                );
            }
        }

        // A NaN or an infinity at `index`, and maybe another bad value after it: the first
        // bad value is the one reported, with its index.
        let index = at.index(nf);
        let mut row = rows[0].clone();
        row[index] = bad;
        if index + 1 < nf {
            row[nf - 1] = later;
        }
        let rejects_nan = spec.input.missing == MissingValues::Reject;
        let expected = if bad.is_nan() && rejects_nan {
            Some(EngineError::Missing { index })
        } else if bad.is_infinite() {
            Some(EngineError::NotFinite { index })
        } else if index + 1 < nf && later.is_infinite() {
            // A NaN the model accepts, then an infinity.
            Some(EngineError::NotFinite { index: nf - 1 })
        } else {
            None
        };
        let row = to64(&row);
        let got = model.predict_row(&row, &mut scratch).err();
        prop_assert_eq!(&got, &expected);
        // The batch path checks rows the same way, whichever row is bad.
        let mut batch = to64(&rows[0]);
        batch.extend_from_slice(&row);
        let got = model.predict_batch(&batch, &mut BatchOutput::default()).err();
        prop_assert_eq!(&got, &expected);
    }
}

#[test]
fn errors_have_the_documented_values() {
    let spec = ModelSpecBuilder::new(3)
        .classifier(LabelsSpec::Int(vec![0, 1]))
        .stage(StageSpec::Linear {
            n_in: 3,
            n_out: 1,
            coef: vec![1.0, 2.0, 3.0],
            intercept: vec![0.0],
        })
        .stage(StageSpec::Post(PostTransform::BinaryLogistic))
        .build();
    let file = write(&spec).unwrap();
    let apr = Apr::parse(&file).unwrap();
    let model = Model::new(&apr);
    let mut s = model.scratch();
    let err = |x: &[f64], s: &mut _| model.predict_row(x, s).unwrap_err();
    assert_eq!(
        err(&[1.0, 2.0], &mut s),
        EngineError::FeatureCount {
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        err(&[], &mut s),
        EngineError::FeatureCount {
            expected: 3,
            found: 0
        }
    );
    assert_eq!(
        err(&[1.0, f64::NAN, f64::INFINITY], &mut s),
        EngineError::Missing { index: 1 }
    );
    assert_eq!(
        err(&[f64::NEG_INFINITY, f64::NAN, 0.0], &mut s),
        EngineError::NotFinite { index: 0 }
    );
    assert_eq!(
        err(&[0.0, 0.0, f64::INFINITY], &mut s),
        EngineError::NotFinite { index: 2 }
    );
    let ok = model.predict_row(&[1.0, 1.0, 1.0], &mut s).unwrap();
    assert_eq!(ok.scores, &[6.0]);
    assert_eq!(ok.class, Some(1));
}

proptest! {
    /// The batch softmax is each row's softmax bit for bit, for any number of rows (the
    /// blocks of eight and the rows left over) and widths.
    #[test]
    fn batch_softmax_is_each_rows_softmax(
        (w, x) in (1usize..13, 0usize..20).prop_flat_map(|(w, r)| {
            (Just(w), vec(prop_oneof![4 => -30.0f32..30.0, 1 => -1e30f32..1e30, 1 => Just(0.0f32)], w * r))
        })
    ) {
        let mut got = vec![f32::NAN; x.len()];
        softmax_rows_f32(&x, w, &mut got);
        for (r, row) in x.chunks_exact(w).enumerate() {
            let mut want = row.to_vec();
            softmax_f32(&mut want);
            for (c, v) in want.iter().enumerate() {
                prop_assert_eq!(got[r * w + c].to_bits(), v.to_bits(), "row {}, value {}", r, c);
            }
        }
    }
}
