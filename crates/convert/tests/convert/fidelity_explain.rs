//! Fidelity of explanations: icebreak's Tree SHAP contributions against XGBoost's
//! `pred_contribs=True` and LightGBM's `pred_contrib=True` on the committed fixtures.
//!
//! `scripts/fixtures/generate_contributions.py` (pinned xgboost and lightgbm) loaded each
//! committed model file, kept 48 rows of its `reference.json` inputs (the first test rows and
//! the edge rows: NaN, values at split thresholds, odd categories) and recorded the library's
//! contributions and raw margins in `contributions.json`. For every kept row and every output
//! (docs/FIDELITY.md, "Explanations"):
//! - XGBoost: each contribution within `XGB_TOL` (1e-5) of XGBoost's, relative to the row's
//!   scale (the largest of 1 and the sum of the output's absolute contributions): XGBoost
//!   computes Tree SHAP in `f32`, icebreak in `f64`.
//! - LightGBM: each contribution within `LGB_TOL` (1e-9) of LightGBM's, relative to the same
//!   scale (both compute in `f64`; they differ by rounding only). For random forests LightGBM's
//!   contributions sum to its undivided tree sum; icebreak's are divided by the iterations, as
//!   its margin is, and are compared with LightGBM's divided likewise.
//! - Sum to margin: for every row and output, the contributions add up to icebreak's own raw
//!   score (the margin `predict` computes) within the same tolerance.

use crate::common::{fixture_dir, floats, read_json};
use icebreak_engine::{Contributions, Model};
use icebreak_format::{Apr, ModelSpec, Stage};
use serde_json::Value;

/// XGBoost: relative to the output's scale (XGBoost's Tree SHAP runs in `f32`).
const XGB_TOL: f64 = 1e-5;
/// LightGBM: relative to the output's scale (both in `f64`).
const LGB_TOL: f64 = 1e-9;

struct Outcome {
    worst: f64,
    worst_sum: f64,
    rows: usize,
}

fn rows_of(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

/// Explains the case's kept rows with the model `spec` and compares them with the library's.
fn check(family: &str, case: &str, spec: &ModelSpec, tol: f64) -> Outcome {
    let dir = fixture_dir(family).join(case);
    let reference = read_json(&dir.join("reference.json"));
    let recorded = read_json(&dir.join("contributions.json"));
    let inputs = rows_of(&reference["inputs"]);
    let kept: Vec<usize> = recorded["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let want = rows_of(&recorded["contributions"]);
    let margins = rows_of(&recorded["margins"]);
    assert_eq!(want.len(), kept.len(), "{case}");

    let file = icebreak_format::write(spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let Stage::Trees(trees) = apr.stages()[0] else {
        panic!("{case}: not a tree ensemble")
    };
    assert!(trees.has_covers(), "{case}: the converter wrote no covers");
    let divisor = if trees.average() {
        trees.average_divisor()
    } else {
        1.0
    };
    let model = Model::new(&apr);
    let explainer = model.explainer().unwrap();
    let mut scratch = model.scratch();
    let mut xs = explainer.scratch();
    let mut out = Contributions::default();
    let n = explainer.n_features();
    let k = explainer.n_outputs();
    let mut worst: f64 = 0.0;
    let mut worst_sum: f64 = 0.0;
    for (r, &i) in kept.iter().enumerate() {
        let x = &inputs[i];
        let scores = model.predict_row(x, &mut scratch).unwrap().scores.to_vec();
        explainer.explain_row(x, &mut xs, &mut out).unwrap();
        assert_eq!(out.values.len(), k * (n + 1), "{case}");
        assert_eq!(want[r].len(), k * (n + 1), "{case}: row {i} width");
        for j in 0..k {
            let ours = out.output(j);
            let theirs: Vec<f64> = want[r][j * (n + 1)..(j + 1) * (n + 1)]
                .iter()
                .map(|v| v / divisor)
                .collect();
            let scale = theirs.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            for (f, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                let err = (a - b).abs() / scale;
                worst = worst.max(err);
                assert!(
                    err <= tol,
                    "{family} {case}: row {i} output {j} feature {f}: icebreak {a}, library {b} \
                     (relative error {err:e}, tolerance {tol:e})"
                );
            }
            // Sum to margin: icebreak's own raw score, and the library's.
            let sum: f64 = ours.iter().sum();
            let margin = scores[j];
            let err = (sum - margin).abs() / scale;
            worst_sum = worst_sum.max(err);
            assert!(
                err <= tol,
                "{family} {case}: row {i} output {j}: contributions sum to {sum}, the margin is \
                 {margin} (relative {err:e})"
            );
            let lib_margin = margins[r][j] / divisor;
            assert!(
                (sum - lib_margin).abs() / scale <= tol,
                "{family} {case}: row {i} output {j}: sum {sum}, library margin {lib_margin}"
            );
        }
    }
    Outcome {
        worst,
        worst_sum,
        rows: kept.len(),
    }
}

const XGBOOST: [&str; 8] = [
    "binary_logistic",
    "multi_softprob",
    "reg_squarederror",
    "categorical",
    "dart",
    "exact_multi_100",
    "reg_multi_target",
    "count_poisson",
];

const LIGHTGBM: [&str; 10] = [
    "binary_nan",
    "binary_zero",
    "binary_nomissing",
    "categorical",
    "multiclass_wine",
    "regression",
    "rf_binary",
    "rf_multiclass",
    "multiclassova_iris",
    "poisson",
];

#[test]
fn xgboost_contributions_match_pred_contribs() {
    for case in XGBOOST {
        let dir = fixture_dir("xgboost").join(case);
        let bytes = std::fs::read(dir.join("model.json")).unwrap();
        let spec = icebreak_convert::xgboost::convert(&bytes).unwrap();
        let o = check("xgboost", case, &spec, XGB_TOL);
        eprintln!(
            "xgboost {case}: {} rows, worst {:e}, worst sum {:e}",
            o.rows, o.worst, o.worst_sum
        );
        // UBJSON carries the same covers.
        if let Ok(ubj) = std::fs::read(dir.join("model.ubj")) {
            let from_ubj = icebreak_convert::xgboost::convert(&ubj).unwrap();
            let covers = |s: &ModelSpec| match &s.stages[0] {
                icebreak_format::StageSpec::Trees(t) => t.covers.clone(),
                _ => Vec::new(),
            };
            assert_eq!(covers(&from_ubj), covers(&spec), "{case}: UBJSON covers");
        }
    }
}

#[test]
fn lightgbm_contributions_match_pred_contrib() {
    for case in LIGHTGBM {
        let dir = fixture_dir("lightgbm").join(case);
        let bytes = std::fs::read(dir.join("model.txt")).unwrap();
        let spec = icebreak_convert::lightgbm::convert(&bytes).unwrap();
        let o = check("lightgbm", case, &spec, LGB_TOL);
        eprintln!(
            "lightgbm {case}: {} rows, worst {:e}, worst sum {:e}",
            o.rows, o.worst, o.worst_sum
        );
    }
}

/// XGBoost's categorical fixture holds splits whose set has category 0: the converter writes
/// each as a guard `x < 0` and the set test, which explanations take as one split (FORMAT.md,
/// "Node covers"); the comparison above covers them.
#[test]
fn xgboost_categorical_fixture_has_merged_splits() {
    let bytes = std::fs::read(fixture_dir("xgboost").join("categorical/model.json")).unwrap();
    let spec = icebreak_convert::xgboost::convert(&bytes).unwrap();
    let icebreak_format::StageSpec::Trees(t) = &spec.stages[0] else {
        panic!("not trees")
    };
    let merged = t
        .nodes
        .windows(2)
        .filter(|w| {
            matches!(w[0].split, icebreak_format::Split::Lt(z) if z == 0.0)
                && matches!(w[1].split, icebreak_format::Split::InSet { .. })
                && w[0].feature == w[1].feature
                && w[0].left == w[1].right
        })
        .count();
    assert!(merged > 0, "no guarded categorical split in the fixture");
}

/// A model converted without node statistics (LightGBM's `exact_*` fixtures were saved with
/// the per-node counts removed) predicts as usual and refuses to explain, saying why.
#[test]
fn a_model_without_covers_says_so() {
    let bytes = std::fs::read(fixture_dir("lightgbm").join("exact_binary_100/model.txt")).unwrap();
    let spec = icebreak_convert::lightgbm::convert(&bytes).unwrap();
    let file = icebreak_format::write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let err = model.explainer().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("this model carries no node covers"),
        "{err}"
    );
}

/// XGBoost's vector-leaf models (`multi_strategy="multi_output_tree"`), which XGBoost's own
/// `pred_contribs` cannot explain, are converted without covers: they predict and refuse to
/// explain, saying why.
#[test]
fn a_vector_leaf_model_refuses_to_explain() {
    let bytes = std::fs::read(fixture_dir("xgboost").join("multi_output_tree/model.json")).unwrap();
    let spec = icebreak_convert::xgboost::convert(&bytes).unwrap();
    let file = icebreak_format::write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let err = model.explainer().unwrap_err().to_string();
    assert!(
        err.starts_with("this model carries no node covers") && err.contains("vector-leaf"),
        "{err}"
    );
}
