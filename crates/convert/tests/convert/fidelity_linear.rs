//! Fidelity: icebreak answers like scikit-learn on the committed fixtures.
//!
//! The reference outputs were recorded by `scripts/fixtures/generate_linear.py` (pinned
//! scikit-learn) at float64 precision; icebreak stores weights and computes in float32.
//! Tolerances (also in docs/FIDELITY.md), for every row of every linear fixture:
//! - probabilities: |icebreak - sklearn| <= 2e-6
//! - decision scores and regression values: |icebreak - sklearn| <= 2e-6 * max(1, m), where
//!   m = |intercept| + sum_i |coef_i * z_i| is the magnitude of the terms summed (z: the scaled
//!   input). This is the usual float32 dot-product bound: cancellation between large terms
//!   (inputs scaled by 1e6 in the edge rows) costs accuracy relative to the terms, not the sum.
//! - predicted label: identical, except on rows whose sklearn decision values lie within
//!   that score tolerance of the boundary, where float32 rounding may pick either side.

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{fixture_dir, fixture_names, floats, read_json};
use icebreak_engine::{BatchOutput, Model};
use icebreak_format::{Apr, Labels, Stage};
use serde_json::Value;
use std::path::{Path, PathBuf};

const PROBA_TOL: f64 = 2e-6;
const SCORE_TOL: f64 = 2e-6;

fn fixtures() -> PathBuf {
    fixture_dir("linear")
}

fn rel_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// Per-output magnitude of the terms the linear layer sums, in f64.
fn magnitudes(stages: &[Stage<'_>], x: &[f32]) -> Vec<f64> {
    let mut z: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for s in stages {
        match *s {
            Stage::StandardScaler { mean, scale } => {
                for ((v, m), sc) in z.iter_mut().zip(mean).zip(scale) {
                    *v = (*v - *m as f64) / *sc as f64;
                }
            }
            Stage::Linear {
                n_in,
                coef,
                intercept,
                ..
            } => {
                return intercept
                    .iter()
                    .enumerate()
                    .map(|(j, b)| {
                        let row = &coef[j * n_in as usize..(j + 1) * n_in as usize];
                        (*b as f64).abs()
                            + row
                                .iter()
                                .zip(&z)
                                .map(|(w, v)| (*w as f64 * v).abs())
                                .sum::<f64>()
                    })
                    .collect();
            }
            Stage::Post(_) => {}
            _ => unreachable!("linear fixtures hold scalers and linear layers only"),
        }
    }
    unreachable!("every linear fixture has a linear stage")
}

/// Error relative to the magnitude of the summed terms.
fn score_err(got: f64, want: f64, magnitude: f64) -> f64 {
    (got - want).abs() / magnitude.max(1.0)
}

struct Report {
    rows: usize,
    max_proba: f64,
    max_score: f64,
    boundary_rows: usize,
}

fn check_case(name: &str) -> Report {
    let dir = fixtures().join(name);
    let params = std::fs::read_to_string(dir.join("params.json")).unwrap();
    let reference = read_json(&dir.join("reference.json"));
    let file =
        icebreak_format::write(&icebreak_convert::linear_params::from_json(&params).unwrap())
            .unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let inputs = reference["inputs"].as_array().unwrap();
    let mut rep = Report {
        rows: inputs.len(),
        max_proba: 0.0,
        max_score: 0.0,
        boundary_rows: 0,
    };
    let mut flat = Vec::new();
    for (i, row) in inputs.iter().enumerate() {
        let x64 = floats(row);
        let x: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        flat.extend_from_slice(&x64);
        let out = model.predict_row(&x64, &mut scratch).unwrap();
        let mags = magnitudes(apr.stages(), &x);
        let want_pred = &reference["predict"][i];
        match apr.output().labels.clone() {
            Labels::None => {
                let want = floats(want_pred);
                assert_eq!(want.len(), out.scores.len(), "{name} row {i}");
                for ((g, w), m) in out.scores.iter().zip(&want).zip(&mags) {
                    let e = score_err(*g, *w, *m);
                    rep.max_score = rep.max_score.max(e);
                    assert!(e <= SCORE_TOL, "{name} row {i}: value {g} vs sklearn {w}");
                }
            }
            labels => {
                let want_dec = floats(&reference["decision_function"][i]);
                for ((g, w), m) in out.scores.iter().zip(&want_dec).zip(&mags) {
                    let e = score_err(*g, *w, *m);
                    rep.max_score = rep.max_score.max(e);
                    assert!(e <= SCORE_TOL, "{name} row {i}: score {g} vs sklearn {w}");
                }
                let slack = SCORE_TOL * mags.iter().cloned().fold(1.0, f64::max);
                let near_boundary = if want_dec.len() == 1 {
                    want_dec[0].abs() <= slack
                } else {
                    let mut sorted = want_dec.clone();
                    sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
                    sorted[0] - sorted[1] <= 2.0 * slack
                };
                let want_proba = floats(&reference["predict_proba"][i]);
                let got_proba = out.probabilities.unwrap();
                assert_eq!(got_proba.len(), want_proba.len());
                for (g, w) in got_proba.iter().zip(&want_proba) {
                    let e = (*g - w).abs();
                    rep.max_proba = rep.max_proba.max(e);
                    assert!(e <= PROBA_TOL, "{name} row {i}: proba {g} vs sklearn {w}");
                }
                let class = out.class.unwrap();
                let label_matches = match (&labels, want_pred) {
                    (Labels::Int(v), Value::Number(n)) => Some(v[class]) == n.as_i64(),
                    (Labels::Str(s), Value::String(w)) => s.get(class) == Some(w.as_str()),
                    other => panic!("{name}: label kinds differ: {other:?}"),
                };
                if near_boundary {
                    rep.boundary_rows += 1;
                } else {
                    assert!(
                        label_matches,
                        "{name} row {i}: class {class} vs sklearn {want_pred}"
                    );
                }
            }
        }
    }
    // The batch path gives the row path's answers.
    let mut batch = BatchOutput::default();
    model.predict_batch(&flat, &mut batch).unwrap();
    for (i, row) in flat.chunks_exact(model.n_features()).enumerate() {
        let out = model.predict_row(row, &mut scratch).unwrap();
        let w = batch.score_width;
        for (a, b) in out.scores.iter().zip(&batch.scores[i * w..(i + 1) * w]) {
            assert!(
                rel_err(*a, *b) <= 1e-6,
                "{name} row {i}: batch {b} vs row {a}"
            );
        }
        if let Some(c) = out.class {
            assert_eq!(batch.classes[i], c, "{name} row {i}");
        }
    }
    eprintln!(
        "{name}: {} rows, max |proba err| {:.2e}, max rel score err {:.2e}, {} rows at the boundary",
        rep.rows, rep.max_proba, rep.max_score, rep.boundary_rows
    );
    rep
}

macro_rules! fidelity {
    ($($case:ident),*) => {$(
        #[test]
        fn $case() {
            let rep = check_case(stringify!($case));
            assert!(rep.rows > 0);
        }
    )*};
}

fidelity!(
    breast_cancer,
    iris_multinomial,
    wine_ovr,
    digits_multinomial,
    diabetes_linear,
    diabetes_ridge,
    linnerud_multi
);

#[test]
fn every_fixture_directory_has_a_test() {
    let names = fixture_names(&fixtures());
    assert_eq!(
        names,
        [
            "breast_cancer",
            "diabetes_linear",
            "diabetes_ridge",
            "digits_multinomial",
            "iris_multinomial",
            "linnerud_multi",
            "wine_ovr"
        ]
    );
}

/// The committed example model is exactly what the converter makes from its parameters today.
#[test]
fn example_model_is_reproducible() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let params =
        std::fs::read_to_string(root.join("fixtures/linear/breast_cancer/params.json")).unwrap();
    let fresh = icebreak_convert::linear_params::convert(&params).unwrap();
    let committed = std::fs::read(root.join("examples/model.apr")).unwrap();
    assert!(
        committed == fresh,
        "examples/model.apr is stale: run `cargo xtask example`"
    );
}
