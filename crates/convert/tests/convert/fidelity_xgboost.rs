//! Fidelity: icebreak answers like XGBoost on the committed fixtures, bit for bit.
//!
//! `scripts/fixtures/generate_xgboost.py` (pinned xgboost) saved each model with
//! `Booster.save_model` and recorded XGBoost's own outputs: margins
//! (`output_margin=True`), transformed values, probabilities (`predict_proba`) and labels.
//! Each model is converted here, written to `.apr`, read back and run through the engine
//! (row and batch paths, which agree bit for bit). For every row of every fixture:
//! - margins, values and probabilities are XGBoost's `float`s, bit for bit (0 ulp): the
//!   leaves are added in `f32` from the base margin in tree order, and the transforms are
//!   XGBoost's `float` ones; the protocol's JSON text of each reads back to the same bits;
//! - labels are identical, except where XGBoost's `p > 0.5` and icebreak's `margin > 0`
//!   can differ: a margin so close to 0 that the `f32` sigmoid is exactly 0.5 (none is,
//!   in these fixtures: counted as boundary rows).

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{
    assert_bits, batch_matches_rows, fixture_dir, fixture_names, floats, read_json,
};
use icebreak_engine::Model;
use icebreak_format::{Apr, Labels, Precision};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    fixture_dir("xgboost")
}

#[derive(Default, Debug)]
struct Report {
    rows: usize,
    /// Largest distance from XGBoost, in f32 ulps, over margins, values and probabilities.
    ulps: u64,
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
    assert_eq!(apr.output().precision, Precision::F32, "{name}");
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let classifier = !matches!(apr.output().labels, Labels::None);
    let inputs = reference["inputs"].as_array().unwrap();
    let n_out = reference["n_outputs"].as_u64().unwrap() as usize;
    assert!(!inputs.is_empty());
    let mut rep = Report {
        rows: inputs.len(),
        ..Report::default()
    };
    let f32s = Precision::F32;
    let mut flat = Vec::new();
    for (i, row) in inputs.iter().enumerate() {
        let x = floats(row);
        flat.extend_from_slice(&x);
        let out = model
            .predict_row(&x, &mut scratch)
            .unwrap_or_else(|e| panic!("{name} row {i}: {e}"));
        let want_margin = floats(&reference["margin"][i]);
        assert_eq!(want_margin.len(), n_out, "{name} row {i}");
        let what = format!("{name} row {i} margin");
        rep.ulps = rep
            .ulps
            .max(assert_bits(out.scores, &want_margin, f32s, &what));
        if classifier {
            let want_p = floats(&reference["probabilities"][i]);
            let what = format!("{name} row {i} probabilities");
            let got_p = out.probabilities.unwrap();
            rep.ulps = rep.ulps.max(assert_bits(got_p, &want_p, f32s, &what));
            let want_label = reference["label"][i].as_i64().unwrap();
            let got = match apr.output().labels {
                Labels::Int(ref l) => l[out.class.unwrap()],
                ref other => panic!("{name}: labels {other:?}"),
            };
            // XGBClassifier's binary label is `p > 0.5`, icebreak's `margin > 0`: they differ
            // only where the f32 sigmoid of a positive margin is exactly 0.5.
            if n_out == 1 && got_p[1] == 0.5 {
                rep.boundary_rows += 1;
            } else {
                assert_eq!(got, want_label, "{name} row {i}: label");
            }
        } else {
            let want = floats(&reference["value"][i]);
            let what = format!("{name} row {i} value");
            rep.ulps = rep.ulps.max(assert_bits(out.values, &want, f32s, &what));
        }
    }
    let batch = batch_matches_rows(&model, &flat, name);
    assert_eq!(batch.score_width, n_out);
    eprintln!(
        "{name}: {} rows, largest distance {} f32 ulp, {} rows at the boundary",
        rep.rows, rep.ulps, rep.boundary_rows
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
                // docs/FIDELITY.md: labels identical on every fixture row.
                assert_eq!(rep.boundary_rows, 0);
                assert_eq!(rep.ulps, 0);
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
    early_stopping,
    survival_cox,
    survival_aft,
    multi_softprob,
    multi_softmax,
    rank_pairwise,
    rank_ndcg,
    reg_multi_target,
    multi_output_tree,
    categorical,
    dart,
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
