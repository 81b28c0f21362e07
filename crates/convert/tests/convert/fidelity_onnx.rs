//! Fidelity: icebreak answers like scikit-learn on the committed ONNX fixtures.
//!
//! `scripts/fixtures/generate_sklearn.py` (pinned scikit-learn, skl2onnx, onnx,
//! onnxruntime) exported each model with skl2onnx and recorded scikit-learn's own outputs
//! and onnxruntime's. Each model is converted here, written to `.apr`, read back with
//! `Apr::parse_verified` and run through the engine (row and batch paths). Tolerances (also
//! in docs/FIDELITY.md), for every row, with `m` the row's term magnitude recorded by the
//! generator:
//! - scores (decision_function) and regression values: |icebreak - sklearn| <= 2e-6 · max(1, m);
//! - probabilities: absolute error <= 2e-6 · max(1, m) / 4 + 2e-6;
//! - labels: identical, except on rows whose reference scores or probabilities lie within
//!   the tolerance of a tie (or of 0 for a binary decision value).
//!
//! Rows the generator marks in `onnx_semantics` are rows the ONNX file cannot reproduce
//! scikit-learn on (a NaN whose routing the exporter dropped, a feature at a threshold the
//! file stores only as float32); on those rows icebreak is held, with the same tolerances, to
//! onnxruntime's outputs instead.
//!
//! A family whose `.apr` stage does not exist keeps its fixture; the test then asserts the
//! converter's explicit refusal, naming the node (the `refused` list: an SVC whose decision values are in the 'ovo' shape).

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{batch_matches_rows, fixture_dir, fixture_names, floats, read_json};
use icebreak_convert::ConvertError;
use icebreak_engine::Model;
use icebreak_format::{Apr, Labels};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Error allowed per unit of term magnitude.
const TOL: f64 = 2e-6;

fn fixtures() -> PathBuf {
    fixture_dir("sklearn")
}

/// The input rows, each number parsed from its text with `str::parse` (correctly rounded):
/// serde_json's default number parser may be one ulp off, which matters for the rows that
/// sit exactly between two float32 values at a split threshold.
fn exact_inputs(path: &Path) -> Vec<Vec<f64>> {
    #[derive(serde::Deserialize)]
    struct Inputs<'a> {
        #[serde(borrow)]
        inputs: Vec<Vec<&'a serde_json::value::RawValue>>,
    }
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: Inputs<'_> = serde_json::from_str(&text).unwrap();
    parsed
        .inputs
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v.get() {
                    "null" => f64::NAN,
                    t => t.parse::<f64>().unwrap(),
                })
                .collect()
        })
        .collect()
}

/// A label as text, whether the reference holds it as a number, a string or `[x]`.
fn label_text(v: &Value) -> String {
    match v {
        Value::Array(a) if a.len() == 1 => label_text(&a[0]),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => {
                let f = n.as_f64().unwrap();
                assert!(f.fract() == 0.0, "label {f} is not an integer");
                (f as i64).to_string()
            }
        },
        other => panic!("not a label: {other}"),
    }
}

/// onnxruntime's counterpart of an icebreak output, by the exporters' output names.
fn ort_output<'a>(reference: &'a Value, what: &str) -> &'a Value {
    let names: &[&str] = match what {
        "label" => &["output_label", "label"],
        "probabilities" => &["output_probability", "probabilities", "output"],
        "values" => &["variable", "output", "scores"],
        "scores" => &["probabilities"],
        other => panic!("unknown output {other}"),
    };
    let ort = &reference["onnxruntime"];
    names
        .iter()
        .find_map(|n| ort.get(*n))
        .unwrap_or_else(|| panic!("no onnxruntime output for {what}"))
}

#[derive(Default, Debug)]
struct Report {
    rows: usize,
    score: f64,
    proba: f64,
    value: f64,
    boundary_rows: usize,
    onnx_rows: usize,
}

/// Whether the reference's top two entries are within `slack` (or a single decision value
/// within `slack` of 0).
fn near_tie(values: &[f64], slack: f64) -> bool {
    if values.len() == 1 {
        return values[0].abs() <= slack;
    }
    let mut s = values.to_vec();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s[0] - s[1] <= 2.0 * slack
}

fn check_case(name: &str) -> Report {
    let dir = fixtures().join(name);
    let reference = read_json(&dir.join("reference.json"));
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let spec = icebreak_convert::onnx::convert(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = icebreak_format::write(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let inputs = exact_inputs(&dir.join("reference.json"));
    let compare = reference["compare"].as_object().unwrap();
    assert!(!inputs.is_empty() && !compare.is_empty());
    let labels: Vec<String> = match apr.output().labels {
        Labels::None => Vec::new(),
        Labels::Int(ref l) => l.iter().map(i64::to_string).collect(),
        Labels::Str(ref l) => l.iter().map(str::to_string).collect(),
    };
    let mut rep = Report {
        rows: inputs.len(),
        ..Report::default()
    };
    let mut flat = Vec::new();
    for (i, x) in inputs.into_iter().enumerate() {
        flat.extend_from_slice(&x);
        let out = model
            .predict_row(&x, &mut scratch)
            .unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
        let m = reference["magnitude"][i].as_f64().unwrap().max(1.0);
        let by_onnx = !reference["onnx_semantics"][i].is_null();
        if by_onnx {
            rep.onnx_rows += 1;
            if reference["onnxruntime"].get("error").is_some() {
                // onnxruntime cannot run this model: nothing to hold the row to.
                continue;
            }
        }
        let want_of = |what: &str, key: &str| -> Value {
            if by_onnx {
                ort_output(&reference, what)[i].clone()
            } else {
                reference["sklearn"][key][i].clone()
            }
        };
        let mut boundary = false;
        for (what, key) in compare {
            let key = key.as_str().unwrap();
            if by_onnx && what == "scores" {
                // onnxruntime reports no raw scores for these models.
                continue;
            }
            let want = want_of(what, key);
            match what.as_str() {
                "probabilities" => {
                    let want = floats(&want);
                    let got = out
                        .probabilities
                        .unwrap_or_else(|| panic!("{name}: no probabilities"));
                    assert_eq!(got.len(), want.len(), "{name} row {i}: probability width");
                    let tol = TOL * m / 4.0 + TOL;
                    for (g, w) in got.iter().zip(&want) {
                        let e = ((*g) - w).abs();
                        rep.proba = rep.proba.max(e);
                        assert!(
                            e <= tol,
                            "{name} row {i}: probability {g} vs {w} (error {e:.2e})"
                        );
                    }
                    boundary |= near_tie(&want, tol);
                }
                "scores" | "values" => {
                    let want = floats(&want);
                    let got = if what == "scores" {
                        out.scores
                    } else {
                        out.values
                    };
                    assert_eq!(got.len(), want.len(), "{name} row {i}: {what} width");
                    for (g, w) in got.iter().zip(&want) {
                        let e = ((*g) - w).abs() / m;
                        if what == "scores" {
                            rep.score = rep.score.max(e);
                        } else {
                            rep.value = rep.value.max(e);
                        }
                        assert!(
                            e <= TOL,
                            "{name} row {i}: {what} {g} vs {w} (error {e:.2e} of m)"
                        );
                    }
                    if what == "scores" {
                        boundary |= near_tie(&want, TOL * m);
                    }
                }
                "label" => {}
                other => panic!("{name}: unknown comparison {other}"),
            }
        }
        if let Some(key) = compare.get("label") {
            let want = label_text(&want_of("label", key.as_str().unwrap()));
            let got = &labels[out.class.unwrap_or_else(|| panic!("{name}: no class"))];
            if boundary {
                rep.boundary_rows += 1;
            } else {
                assert_eq!(*got, want, "{name} row {i}: label");
            }
        }
    }
    batch_matches_rows(&model, &flat, name);
    eprintln!(
        "{name}: {} rows, max score err {:.2e} of m, max proba err {:.2e}, max value err {:.2e} \
         of m, {} rows at a tie, {} rows held to onnxruntime",
        rep.rows, rep.score, rep.proba, rep.value, rep.boundary_rows, rep.onnx_rows
    );
    rep
}

/// The converter's refusal for a family whose `.apr` stage does not exist yet.
fn refusal(name: &str) -> String {
    let bytes = std::fs::read(fixtures().join(name).join("model.onnx")).unwrap();
    match icebreak_convert::onnx::convert(&bytes) {
        Err(ConvertError::Invalid(msg)) => msg,
        other => panic!("{name}: expected a refusal, got {other:?}"),
    }
}

macro_rules! fidelity {
    (supported: $($case:ident),* ; refused: $($refused:ident => $msg:expr),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let rep = check_case(stringify!($case));
                assert!(rep.rows > 0);
            }
        )*
        $(
            #[test]
            fn $refused() {
                let msg = refusal(stringify!($refused));
                assert!(msg.contains($msg), "{}: {msg}", stringify!($refused));
                assert!(msg.contains("not supported"), "{}: {msg}", stringify!($refused));
            }
        )*

        #[test]
        fn every_fixture_directory_has_a_test() {
            let names = fixture_names(&fixtures());
            let mut tested = vec![$(stringify!($case)),* , $(stringify!($refused)),*];
            tested.sort();
            assert_eq!(names, tested);
        }
    };
}

fidelity!(
    supported:
    logreg_binary,
    logreg_multinomial,
    logreg_ovr,
    logreg_strings,
    linear_regression,
    ridge,
    lasso,
    elasticnet_multi,
    sgd_log,
    sgd_hinge,
    sgd_regressor,
    linear_svc,
    linear_svc_binary,
    linear_svr,
    minmax_logreg,
    maxabs_ridge,
    decision_tree_classifier,
    decision_tree_regressor_double,
    decision_tree_regressor,
    decision_tree_strings,
    decision_tree_nan,
    random_forest_binary,
    random_forest_regressor_multi,
    extra_trees_classifier,
    extra_trees_regressor,
    gradient_boosting_binary,
    gradient_boosting_multiclass,
    gradient_boosting_regressor,
    svc_rbf,
    svc_rbf_proba,
    svc_rbf_proba_binary,
    svc_poly_binary,
    nusvc_sigmoid,
    svc_linear,
    svr_rbf,
    kmeans,
    gaussian_nb,
    pca_whiten,
    pca_logreg,
    normalizer_logreg,
    imputer_ridge,
    standard_scaler,
    minmax_scaler,
    mlp_classifier_relu,
    mlp_classifier_tanh_binary,
    mlp_regressor_logistic,
    mlp_regressor_identity,
    torch_gemm_softmax,
    torch_matmul_sigmoid,
    torch_linear_regression;
    refused:
    svc_ovo => "SVMClassifier node",
);

/// What the converter records beside the pipeline.
#[test]
fn schema_and_provenance() {
    let bytes = std::fs::read(fixtures().join("logreg_strings/model.onnx")).unwrap();
    let spec = icebreak_convert::onnx::convert(&bytes).unwrap();
    assert_eq!(spec.input.n_features, 4);
    assert_eq!(spec.input.missing, icebreak_format::MissingValues::Reject);
    assert_eq!(
        spec.output.labels,
        icebreak_format::LabelsSpec::Str(vec![
            "class_a".into(),
            "class_b".into(),
            "class_c".into()
        ])
    );
    assert_eq!(
        spec.provenance.source_format.as_deref(),
        Some("skl2onnx 1.20.0")
    );
    let sha = spec.provenance.source_sha256.clone().unwrap();
    assert_eq!(
        spec.provenance.model_version,
        format!("onnx-{}", &sha[..12])
    );
    let named = icebreak_convert::onnx::convert_with(
        &bytes,
        &icebreak_convert::onnx::Options {
            model_version: Some("7".into()),
            model_name: Some("iris".into()),
            external_data_dir: None,
        },
    )
    .unwrap();
    assert_eq!(named.provenance.model_version, "7");
    assert_eq!(named.provenance.model_name.as_deref(), Some("iris"));
    let trees = std::fs::read(fixtures().join("decision_tree_nan/model.onnx")).unwrap();
    let spec = icebreak_convert::onnx::convert(&trees).unwrap();
    assert_eq!(spec.input.missing, icebreak_format::MissingValues::Nan);
}
