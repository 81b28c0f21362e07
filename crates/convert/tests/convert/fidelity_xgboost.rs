//! Fidelity: icebreak answers like XGBoost on the committed fixtures.
//!
//! `scripts/fixtures/generate_xgboost.py` (pinned xgboost) saved each model with
//! `Booster.save_model` and recorded XGBoost's own outputs: margins
//! (`output_margin=True`), transformed values, probabilities and labels. Each model is
//! converted here, written to `.apr`, read back and run through the engine (row and batch
//! paths). Tolerances (also in docs/FIDELITY.md), for every row of every fixture:
//! - margins: |icebreak - xgboost| <= 1e-6 * max(1, M), where M is the row's term magnitude
//!   (|base margin| + the sum of |leaf value| over the leaves it lands on, recorded by the
//!   generator). XGBoost adds its leaves in f32, icebreak in f64 and reports an f32.
//! - probabilities and logistic values: absolute error <= 1e-6 * max(1, M) / 4 + 1e-6.
//! - exp-link values (Poisson, gamma, Tweedie): relative error <= 1e-6 * max(1, M) + 1e-6.
//! - labels: identical, except on rows whose reference margin lies within the margin
//!   tolerance of the decision boundary (0 for binary, a tie for multi-class).

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{batch_matches_rows, fixture_dir, fixture_names, floats, read_json};
use icebreak_engine::Model;
use icebreak_format::{Apr, Labels, PostTransform, Stage};
use std::path::PathBuf;

/// Margin error allowed per unit of term magnitude.
const MARGIN_TOL: f64 = 1e-6;
/// Rounding of an f32 transform (sigmoid, softmax, exp), on top of the margin error.
const TRANSFORM_TOL: f64 = 1e-6;

fn fixtures() -> PathBuf {
    fixture_dir("xgboost")
}

#[derive(Default, Debug)]
struct Report {
    rows: usize,
    /// Worst margin error relative to max(1, M).
    margin: f64,
    /// Worst absolute probability error.
    proba: f64,
    /// Worst value error (absolute for logistic, relative for exp, scaled like margins
    /// otherwise).
    value: f64,
    boundary_rows: usize,
}

fn convert(name: &str, file: &str) -> icebreak_format::AlignedBuf {
    let bytes = std::fs::read(fixtures().join(name).join(file)).unwrap();
    let spec =
        icebreak_convert::xgboost::convert(&bytes).unwrap_or_else(|e| panic!("{name}/{file}: {e}"));
    icebreak_format::write(&spec).unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
}

fn check_case(name: &str) -> Report {
    let dir = fixtures().join(name);
    let reference = read_json(&dir.join("reference.json"));
    let file = convert(name, "model.json");
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let post = apr.stages().iter().find_map(|s| match s {
        Stage::Post(p) => Some(*p),
        _ => None,
    });
    let classifier = !matches!(apr.output().labels, Labels::None);
    let inputs = reference["inputs"].as_array().unwrap();
    let n_out = reference["n_outputs"].as_u64().unwrap() as usize;
    assert!(!inputs.is_empty());
    let mut rep = Report {
        rows: inputs.len(),
        ..Report::default()
    };
    let mut flat = Vec::new();
    for (i, row) in inputs.iter().enumerate() {
        let x = floats(row);
        flat.extend_from_slice(&x);
        let out = model
            .predict_row(&x, &mut scratch)
            .unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
        let mags = floats(&reference["magnitude"][i]);
        let want_margin = floats(&reference["margin"][i]);
        assert_eq!(mags.len(), n_out, "{name} row {i}");
        assert_eq!(want_margin.len(), n_out, "{name} row {i}");
        assert_eq!(out.scores.len(), n_out, "{name} row {i}: score width");
        let scale = mags.iter().fold(1.0f64, |a, &m| a.max(m));
        for (j, (g, w)) in out.scores.iter().zip(&want_margin).enumerate() {
            let e = (f64::from(*g) - w).abs() / mags[j].max(1.0);
            rep.margin = rep.margin.max(e);
            assert!(
                e <= MARGIN_TOL,
                "{name} row {i} output {j}: margin {g} vs xgboost {w} (error {e:.2e} of M)"
            );
        }
        let transform_tol = MARGIN_TOL * scale / 4.0 + TRANSFORM_TOL;
        if classifier {
            let want_p = floats(&reference["probabilities"][i]);
            let got_p = out.probabilities.unwrap();
            assert_eq!(got_p.len(), want_p.len(), "{name} row {i}");
            for (g, w) in got_p.iter().zip(&want_p) {
                let e = (f64::from(*g) - w).abs();
                rep.proba = rep.proba.max(e);
                assert!(
                    e <= transform_tol,
                    "{name} row {i}: probability {g} vs xgboost {w}"
                );
            }
            let want_label = reference["label"][i].as_i64().unwrap();
            let got = match apr.output().labels {
                Labels::Int(ref l) => l[out.class.unwrap()],
                ref other => panic!("{name}: labels {other:?}"),
            };
            let slack = MARGIN_TOL * scale;
            let near_boundary = if n_out == 1 {
                want_margin[0].abs() <= slack
            } else {
                let mut s = want_margin.clone();
                s.sort_by(|a, b| b.partial_cmp(a).unwrap());
                s[0] - s[1] <= 2.0 * slack
            };
            if near_boundary {
                rep.boundary_rows += 1;
            } else {
                assert_eq!(got, want_label, "{name} row {i}: label");
            }
        } else {
            let want = floats(&reference["value"][i]);
            assert_eq!(out.values.len(), want.len(), "{name} row {i}: value width");
            for (j, (g, w)) in out.values.iter().zip(&want).enumerate() {
                let (g, w) = (f64::from(*g), *w);
                let e = match post {
                    Some(PostTransform::Exp) => {
                        let e = (g - w).abs() / w.abs().max(f64::MIN_POSITIVE);
                        assert!(
                            e <= MARGIN_TOL * mags[j].max(1.0) + TRANSFORM_TOL,
                            "{name} row {i}: value {g} vs xgboost {w} (relative error {e:.2e})"
                        );
                        e
                    }
                    Some(PostTransform::Logistic) => {
                        let e = (g - w).abs();
                        assert!(
                            e <= transform_tol,
                            "{name} row {i}: value {g} vs xgboost {w}"
                        );
                        e
                    }
                    None => {
                        let e = (g - w).abs() / mags[j].max(1.0);
                        assert!(e <= MARGIN_TOL, "{name} row {i}: value {g} vs xgboost {w}");
                        e
                    }
                    Some(other) => panic!("{name}: unexpected post transform {other:?}"),
                };
                rep.value = rep.value.max(e);
            }
        }
    }
    let batch = batch_matches_rows(&model, &flat, name);
    assert_eq!(batch.score_width, n_out);
    eprintln!(
        "{name}: {} rows, max margin err {:.2e} of M, max proba err {:.2e}, max value err {:.2e}, \
         {} rows at the boundary",
        rep.rows, rep.margin, rep.proba, rep.value, rep.boundary_rows
    );
    rep
}

macro_rules! fidelity {
    ($($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let rep = check_case(stringify!($case));
                assert!(rep.rows > 0);
            }
        )*

        #[test]
        fn every_fixture_directory_has_a_test() {
            let names = fixture_names(&fixtures());
            let mut tested = vec![$(stringify!($case)),*];
            tested.sort();
            assert_eq!(names, tested);
        }
    };
}

fidelity!(
    binary_logistic,
    binary_logitraw,
    reg_squarederror,
    reg_logistic,
    count_poisson,
    reg_gamma,
    reg_tweedie,
    multi_softprob,
    multi_softmax,
    rank_pairwise,
    rank_ndcg,
    reg_multi_target,
    categorical,
    dart,
    bench_500x50
);

/// The UBJSON copy of a model converts to the same `.apr` as its JSON (the provenance aside:
/// its checksum is of other bytes).
#[test]
fn ubjson_models_convert_like_their_json() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(ubj) = std::fs::read(dir.join("model.ubj")) else {
            continue;
        };
        let json = std::fs::read(dir.join("model.json")).unwrap();
        let mut a = icebreak_convert::xgboost::convert(&json).unwrap();
        let b = icebreak_convert::xgboost::convert(&ubj).unwrap();
        assert_ne!(a.provenance.source_sha256, b.provenance.source_sha256);
        a.provenance = b.provenance.clone();
        assert!(a == b, "{name}: UBJSON and JSON convert differently");
        seen += 1;
    }
    assert!(seen >= 2, "expected UBJSON fixtures");
}

/// What the converter records beside the trees.
#[test]
fn schema_and_provenance() {
    let bytes = std::fs::read(fixtures().join("binary_logistic/model.json")).unwrap();
    let spec = icebreak_convert::xgboost::convert(&bytes).unwrap();
    let names = spec.input.feature_names.as_ref().unwrap();
    assert_eq!(names.len(), 30);
    assert_eq!(names[0], "mean_radius");
    assert_eq!(spec.input.missing, icebreak_format::MissingValues::Nan);
    assert_eq!(
        spec.provenance.source_format.as_deref(),
        Some("xgboost 3.2.0")
    );
    let sha = spec.provenance.source_sha256.clone().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        spec.provenance.model_version,
        format!("xgboost-{}", &sha[..12])
    );
    assert_eq!(
        spec.provenance.converter.as_deref(),
        Some(icebreak_convert::CONVERTER)
    );
    let named = icebreak_convert::xgboost::convert_with(
        &bytes,
        &icebreak_convert::xgboost::Options {
            model_version: Some("7".into()),
            model_name: Some("cancer".into()),
        },
    )
    .unwrap();
    assert_eq!(named.provenance.model_version, "7");
    assert_eq!(named.provenance.model_name.as_deref(), Some("cancer"));
}
