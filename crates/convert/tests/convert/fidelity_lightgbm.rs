//! Fidelity: icebreak answers like LightGBM on the committed fixtures.
//!
//! `scripts/fixtures/generate_lightgbm.py` (pinned lightgbm) trained each model, saved
//! `model.txt`, and recorded LightGBM's own `predict(raw_score=True)`, `predict` and, for
//! classifiers, `predict_proba` and the predicted class, at float64 precision, on the test
//! split plus edge rows (NaN, values at LightGBM's zero threshold, rows exactly at split
//! thresholds and one float64 step either side, huge magnitudes, odd categories).
//!
//! icebreak walks the trees in `f64`, sums the leaves in `f64` in LightGBM's order and
//! transforms the sums with LightGBM's `f64` formulas: its answers are `f64`. For every row
//! and every output of every fixture:
//! - scores (margins) are LightGBM's bit for bit (0 ulp). For random forests
//!   (`average_output`) the reference margin is `raw_score / iterations`: LightGBM's
//!   `raw_score=True` is the undivided sum, its outputs are transformed from the average.
//! - probabilities and transformed values are LightGBM's bit for bit (0 ulp);
//! - the protocol's JSON text of every score and value reads back to the same `f64` bits;
//! - predicted class: identical.
//! - every row is compared, including values in (1e-35, 1e-35f] at missing-type-Zero nodes:
//!   the format's `ZERO_THRESHOLD` is LightGBM's f32 `1e-35f` (checked below).

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{batch_matches_rows, fixture_dir, fixture_names, floats, through_json, ulps};
use icebreak_engine::Model;
use icebreak_format::{Apr, MissingRule, ModelSpec, Precision, Split, StageSpec, Task};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    fixture_dir("lightgbm")
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

struct Case {
    name: String,
    text: Vec<u8>,
    reference: Value,
    /// The reference inputs, read digit for digit (see [`exact_rows`]).
    inputs: Vec<Vec<f64>>,
}

/// The rows of the array `key` in the JSON `text`, each number parsed by `str::parse::<f64>`
/// (correctly rounded). serde_json's default float parser may land one ulp off, and rows
/// exactly at a split threshold must reach the engine bit for bit.
fn exact_rows(text: &str, key: &str) -> Vec<Vec<f64>> {
    let start = text.find(&format!("\"{key}\": [")).unwrap() + key.len() + 4;
    let mut rows = Vec::new();
    let mut row: Option<Vec<f64>> = None;
    let mut depth = 0;
    let mut token = String::new();
    for ch in text[start..].chars() {
        match ch {
            '[' => {
                depth += 1;
                if depth == 2 {
                    row = Some(Vec::new());
                }
            }
            ',' | ']' | ' ' | '\n' => {
                if !token.is_empty() {
                    let v = if token == "null" {
                        f64::NAN
                    } else {
                        token.parse().unwrap()
                    };
                    row.as_mut().unwrap().push(v);
                    token.clear();
                }
                if ch == ']' {
                    depth -= 1;
                    match depth {
                        0 => break,
                        1 => rows.push(row.take().unwrap()),
                        _ => panic!("{key}: nested too deep"),
                    }
                }
            }
            c => token.push(c),
        }
    }
    rows
}

fn load(name: &str) -> Case {
    let dir = fixtures().join(name);
    let text = std::fs::read(dir.join("model.txt")).unwrap();
    let json = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let reference: Value = serde_json::from_str(&json).unwrap();
    let inputs = exact_rows(&json, "inputs");
    let loose = rows(&reference["inputs"]);
    assert_eq!(inputs.len(), loose.len(), "{name}: rows");
    for (a, b) in inputs.iter().zip(&loose) {
        assert_eq!(a.len(), b.len(), "{name}: row width");
        for (x, y) in a.iter().zip(b) {
            assert!(x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= x.abs() * 1e-15);
        }
    }
    Case {
        name: name.to_string(),
        text,
        reference,
        inputs,
    }
}

#[test]
fn the_zero_threshold_is_lightgbms() {
    assert_eq!(
        icebreak_format::trees::ZERO_THRESHOLD,
        icebreak_convert::lightgbm::K_ZERO_THRESHOLD
    );
}

#[derive(Default, Debug)]
struct Report {
    rows: usize,
    compared: usize,
    /// Largest distance from LightGBM, in f64 ulps, of a score.
    max_score: u64,
    /// Largest distance from LightGBM, in f64 ulps, of a value or probability.
    max_value: u64,
    mismatches: Vec<String>,
}

impl Report {
    /// Compares bits: anything but LightGBM's own `f64` is a mismatch.
    fn check(&mut self, what: String, got: f64, want: f64) -> u64 {
        self.compared += 1;
        let d = ulps(got, want, Precision::F64);
        if got.to_bits() != want.to_bits() {
            self.mismatches.push(format!(
                "{what}: icebreak {got:e} vs LightGBM {want:e} ({d} ulp apart)"
            ));
        }
        d
    }
    /// The protocol's JSON text of `got` reads back to the same bits.
    fn check_json(&mut self, what: &str, got: &[f64]) {
        for (g, b) in got.iter().zip(through_json(got, Precision::F64)) {
            if g.to_bits() != b.to_bits() {
                self.mismatches
                    .push(format!("{what}: {g:e} reads back from JSON as {b:e}"));
            }
        }
    }
}

/// Runs `spec` over the case's reference inputs and compares everything.
fn compare(case: &Case, spec: &ModelSpec) -> Report {
    let name = &case.name;
    let r = &case.reference;
    let file = icebreak_format::write(spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.output().precision, Precision::F64, "{name}");
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let inputs = &case.inputs;
    let raw = rows(&r["raw_score"]);
    let pred = rows(&r["predict"]);
    let proba = r.get("predict_proba").map(rows);
    let class: Option<Vec<i64>> = r.get("predict_class").map(|v| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_i64().unwrap())
            .collect()
    });
    let average = std::str::from_utf8(&case.text)
        .unwrap()
        .lines()
        .any(|l| l == "average_output");
    let iterations =
        (r["n_trees"].as_u64().unwrap() / r["num_tree_per_iteration"].as_u64().unwrap()) as f64;
    assert_eq!(inputs.len(), raw.len());
    assert_eq!(inputs.len(), pred.len());
    let mut rep = Report {
        rows: inputs.len(),
        ..Report::default()
    };
    let mut flat = Vec::new();
    for (i, x) in inputs.iter().enumerate() {
        flat.extend_from_slice(x);
        let out = model.predict_row(x, &mut scratch).unwrap();
        assert_eq!(
            out.scores.len(),
            raw[i].len(),
            "{name} row {i}: score width"
        );
        for (j, (&g, &w)) in out.scores.iter().zip(&raw[i]).enumerate() {
            let w = if average { w / iterations } else { w };
            let e = rep.check(format!("{name} row {i} score {j}"), g, w);
            rep.max_score = rep.max_score.max(e);
        }
        rep.check_json(&format!("{name} row {i} scores"), out.scores);
        // The transformed outputs: probabilities for classifiers, values for regressions.
        let want: Vec<f64> = match (&proba, model.task()) {
            (Some(p), Task::Classification) => p[i].clone(),
            _ => pred[i].clone(),
        };
        assert_eq!(out.values.len(), want.len(), "{name} row {i}: value width");
        for (j, (&g, &w)) in out.values.iter().zip(&want).enumerate() {
            let e = rep.check(format!("{name} row {i} value {j}"), g, w);
            rep.max_value = rep.max_value.max(e);
        }
        rep.check_json(&format!("{name} row {i} values"), out.values);
        if let Some(p) = &proba {
            // Binary LightGBM `predict` is P(class 1); multi-class `predict` is the row of
            // probabilities: both must agree with `predict_proba`.
            let tail = &p[i][p[i].len() - pred[i].len()..];
            for (a, b) in tail.iter().zip(&pred[i]) {
                assert!(
                    (a - b).abs() <= 1e-15,
                    "{name} row {i}: reference is inconsistent"
                );
            }
        }
        if let Some(c) = &class {
            let got = out.class.unwrap();
            rep.compared += 1;
            if got as i64 != c[i] {
                rep.mismatches
                    .push(format!("{name} row {i}: class {got} vs LightGBM {}", c[i]));
            }
        }
    }
    batch_matches_rows(&model, &flat, name);
    rep
}

fn check_case(name: &str) -> Report {
    let case = load(name);
    let spec = icebreak_convert::lightgbm::convert(&case.text).unwrap();
    let rep = compare(&case, &spec);
    eprintln!(
        "{name}: {} rows, {} outputs compared, largest distance: scores {} ulp, values {} ulp",
        rep.rows, rep.compared, rep.max_score, rep.max_value,
    );
    assert!(
        rep.mismatches.is_empty(),
        "{name}: {} mismatches, first: {:#?}",
        rep.mismatches.len(),
        &rep.mismatches[..rep.mismatches.len().min(10)]
    );
    let per_row = case.reference["raw_score"][0].as_array().unwrap().len()
        + match case.reference.get("predict_proba") {
            Some(p) => p[0].as_array().unwrap().len() + 1,
            None => case.reference["predict"][0].as_array().unwrap().len(),
        };
    assert_eq!(
        rep.compared,
        rep.rows * per_row,
        "{name}: every output compared"
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
    binary_nan,
    binary_zero,
    binary_nomissing,
    regression,
    poisson,
    multiclass_wine,
    multiclass_iris,
    multiclassova_iris,
    rf_binary,
    rf_multiclass,
    categorical,
    bench_500x50,
    exact_binary_1,
    exact_binary_100,
    exact_binary_500,
    exact_multi_1,
    exact_multi_100,
    exact_multi_500,
    exact_regression_1,
    exact_regression_100,
    exact_regression_500,
    exact_poisson_1,
    exact_poisson_100,
    exact_poisson_500
);

#[test]
fn every_fixture_directory_has_a_test() {
    let names = fixture_names(&fixtures());
    assert_eq!(
        names,
        [
            "bench_500x50",
            "binary_nan",
            "binary_nomissing",
            "binary_zero",
            "categorical",
            "exact_binary_1",
            "exact_binary_100",
            "exact_binary_500",
            "exact_multi_1",
            "exact_multi_100",
            "exact_multi_500",
            "exact_poisson_1",
            "exact_poisson_100",
            "exact_poisson_500",
            "exact_regression_1",
            "exact_regression_100",
            "exact_regression_500",
            "multiclass_iris",
            "multiclass_wine",
            "multiclassova_iris",
            "poisson",
            "regression",
            "rf_binary",
            "rf_multiclass",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The comparison has teeth: a converter that gets one detail wrong fails it.

fn mutate(name: &str, f: impl Fn(&mut icebreak_format::TreesSpec)) -> Report {
    let case = load(name);
    let mut spec = icebreak_convert::lightgbm::convert(&case.text).unwrap();
    for s in &mut spec.stages {
        if let StageSpec::Trees(t) = s {
            f(t);
        }
    }
    compare(&case, &spec)
}

#[test]
fn a_threshold_one_ulp_off_is_caught() {
    // `x <= t` read as `x < t`: only rows exactly at a threshold tell the two apart.
    let rep = mutate("binary_nan", |t| {
        for n in &mut t.nodes {
            if let Split::Le(v) = n.split {
                n.split = Split::Lt(v);
            }
        }
    });
    assert!(!rep.mismatches.is_empty());
}

#[test]
fn thresholds_cast_to_f32_are_caught() {
    let rep = mutate("regression", |t| {
        for n in &mut t.nodes {
            if let Split::Le(v) = n.split {
                n.split = Split::Le(f64::from(v as f32));
            }
        }
    });
    assert!(!rep.mismatches.is_empty());
}

#[test]
fn nan_routing_is_checked() {
    // missing_type None sends NaN through the comparison as 0.0, not the default way.
    let rep = mutate("binary_nomissing", |t| {
        for n in &mut t.nodes {
            n.missing = MissingRule::Default;
            n.default_left = !n.default_left;
        }
    });
    assert!(!rep.mismatches.is_empty());
    // missing_type NaN: flipping the default direction is visible.
    let rep = mutate("binary_nan", |t| {
        for n in &mut t.nodes {
            n.default_left = !n.default_left;
        }
    });
    assert!(!rep.mismatches.is_empty());
    // missing_type Zero: zeros go the default way, not through the comparison.
    let rep = mutate("binary_zero", |t| {
        for n in &mut t.nodes {
            if n.missing == MissingRule::ZeroOrNan {
                n.missing = MissingRule::Default;
            }
        }
    });
    assert!(!rep.mismatches.is_empty());
}

#[test]
fn categorical_nan_must_go_right() {
    let rep = mutate("categorical", |t| {
        for n in &mut t.nodes {
            if matches!(n.split, Split::InSet { .. }) {
                n.default_left = true;
            }
        }
    });
    assert!(!rep.mismatches.is_empty());
}

#[test]
fn forest_averaging_is_checked() {
    let rep = mutate("rf_multiclass", |t| {
        for v in &mut t.leaves {
            *v /= 3.0;
        }
    });
    assert!(!rep.mismatches.is_empty());
}
