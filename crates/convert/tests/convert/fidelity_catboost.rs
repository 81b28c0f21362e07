//! Fidelity: icebreak answers like CatBoost on the committed fixtures.
//!
//! `scripts/fixtures/generate_catboost.py` (pinned catboost, one thread) trained each model,
//! saved `model.json` and recorded CatBoost's own `predict(prediction_type="RawFormulaVal")`
//! and the transformed outputs (`Probability` for classifiers, `Exponent` for Poisson) at
//! float64 precision, on the test split plus edge rows: every float feature NaN, one at a
//! time, rows exactly at split borders, one float32 step either side and one float64 step
//! above.
//!
//! icebreak binarises the row in `f32` as CatBoost does, sums the leaves in `f64` in tree
//! order and applies `scale · sum + bias` and the objective's transform in `f64`. For every
//! row and every output of every numeric fixture:
//! - raw scores are CatBoost's bit for bit (0 ulp);
//! - probabilities (binary: `[1 - σ(z), σ(z)]`; multi-class: softmax) and `exp` values are
//!   within `TRANSFORM_ULPS` of CatBoost's (measured: see the assertion's report);
//! - the batch path gives the row path's answers bit for bit;
//! - the predicted class is CatBoost's (`z > 0`; the first maximum).
//!
//! The one-hot fixture (`onehot`) is checked like the others, its categories given as text
//! (hashed as CatBoost hashes them), and so is the CTR fixture (`ctr`): its `Borders` CTRs
//! are computed from the tables the JSON carries (projection hash, binary search, counts to
//! an `f32` value with the prior, compared with the CTR's borders), unseen categories
//! included; so is the default-CTR fixture (`ctr_counter`, CatBoost's default `simple_ctrs`),
//! whose `Counter` CTRs take the entry's count over the table's `counter_denominator`.

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::{assert_bits, batch_matches_rows, fixture_dir, floats, read_json, ulps};
use icebreak_engine::Model;
use icebreak_format::{Apr, Precision, StageSpec, Task};

/// Largest distance of a transformed output (probability, `exp`) from CatBoost's, in f64
/// ulps. docs/FIDELITY.md states the same number.
const TRANSFORM_ULPS: u64 = 8;

const CASES: [&str; 13] = [
    "binary_nan_max",
    "binary_nan_min",
    "crossentropy",
    "ctr",
    "ctr_counter",
    "multiclass",
    "multiclass_onevsall",
    "multirmse",
    "onehot",
    "poisson",
    "quantile",
    "regression",
    "tweedie",
];

/// A reference row: numbers, `null` as NaN, and categories (strings) as the row value a
/// front end reading text gives them.
fn row(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| match c {
            serde_json::Value::String(s) => icebreak_engine::cat_hash::category_value(s.as_bytes()),
            other => floats(other)[0],
        })
        .collect()
}

fn convert(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixture_dir("catboost").join(name).join("model.json")).unwrap();
    let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
    assert!(
        matches!(spec.stages[0], StageSpec::Oblivious(_)),
        "{name}: an oblivious stage"
    );
    assert_eq!(spec.output.precision, Precision::F64);
    icebreak_format::write_to_vec(&spec).unwrap()
}

#[test]
fn every_fixture_answers_like_catboost() {
    let mut worst_transform = 0;
    for name in CASES {
        let apr_bytes = icebreak_format::AlignedBuf::copy_from(&convert(name));
        let apr = Apr::parse(&apr_bytes).unwrap();
        let model = Model::new(&apr);
        let r = read_json(&fixture_dir("catboost").join(name).join("reference.json"));
        let inputs: Vec<Vec<f64>> = r["inputs"].as_array().unwrap().iter().map(row).collect();
        let raw: Vec<Vec<f64>> = r["raw"].as_array().unwrap().iter().map(floats).collect();
        let transformed: Vec<Vec<f64>> = r["transformed"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        assert!(inputs.len() > 60, "{name}: {} rows", inputs.len());
        let mut scratch = model.scratch();
        for (i, x) in inputs.iter().enumerate() {
            let out = model.predict_row(x, &mut scratch).unwrap();
            assert_bits(
                out.scores,
                &raw[i],
                Precision::F64,
                &format!("{name} row {i} raw"),
            );
            let want = &transformed[i];
            assert_eq!(out.values.len(), want.len(), "{name} row {i}");
            for (g, w) in out.values.iter().zip(want) {
                let d = ulps(*g, *w, Precision::F64);
                worst_transform = worst_transform.max(d);
                assert!(
                    d <= TRANSFORM_ULPS,
                    "{name} row {i}: transformed {g:e} vs CatBoost's {w:e} ({d} ulp)"
                );
            }
            if model.task() == Task::Classification {
                let class = out.class.unwrap();
                let want_class = if raw[i].len() == 1 {
                    usize::from(raw[i][0] > 0.0)
                } else {
                    let m = raw[i].iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    raw[i].iter().position(|&v| v == m).unwrap()
                };
                assert_eq!(class, want_class, "{name} row {i}");
            }
        }
        let flat: Vec<f64> = inputs.concat();
        batch_matches_rows(&model, &flat, name);
    }
    eprintln!("catboost: largest distance of a transformed output: {worst_transform} ulp");
}

#[test]
fn fixtures_exercise_both_nan_rules_and_every_objective() {
    use icebreak_format::ObliviousSplit;
    let nan_true = |name: &str| {
        let bytes = std::fs::read(fixture_dir("catboost").join(name).join("model.json")).unwrap();
        let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
        let StageSpec::Oblivious(o) = &spec.stages[0] else {
            panic!("{name}")
        };
        o.splits
            .iter()
            .filter(|s| matches!(s, ObliviousSplit::Float { nan_true: true, .. }))
            .count()
    };
    assert_eq!(nan_true("binary_nan_min"), 0);
    assert!(nan_true("binary_nan_max") > 0);
}

/// The `ctr` fixture's model as JSON, its raw score for `x`, and its spec.
fn ctr_model() -> (Vec<u8>, icebreak_format::ModelSpec) {
    let bytes = std::fs::read(fixture_dir("catboost").join("ctr").join("model.json")).unwrap();
    let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
    (icebreak_format::write_to_vec(&spec).unwrap(), spec)
}

#[test]
fn ctr_fixture_carries_its_tables_without_the_empty_hash() {
    let (_, spec) = ctr_model();
    let StageSpec::Oblivious(o) = &spec.stages[0] else {
        panic!("oblivious")
    };
    let c = o.ctr.as_ref().expect("a CTR section");
    // bp_band and s5_band, three priors each (the JSON's six Borders CTRs).
    assert_eq!(c.tables.len(), 2);
    assert_eq!(c.defs.len(), 6);
    // 7 and 9 entries in the JSON, one of each the empty bucket's hash (u64::MAX).
    assert_eq!(c.tables[0].entries.len(), 6);
    assert_eq!(c.tables[1].entries.len(), 8);
    for t in &c.tables {
        assert!(t.entries.iter().all(|e| e.0 != u64::MAX));
        assert!(t.entries.windows(2).all(|w| w[0].0 < w[1].0));
    }
    let n_ctr_splits = o
        .splits
        .iter()
        .filter(|s| matches!(s, icebreak_format::ObliviousSplit::Ctr { .. }))
        .count();
    assert_eq!(n_ctr_splits, 12);
}

#[test]
fn ctr_unseen_categories_take_the_prior_missing_ones_are_refused() {
    // Rows 45.. of the edge rows hold one categorical feature unseen in training each;
    // CatBoost's answer for them is checked with the others above. Here: two different
    // unseen categories answer alike (both count 0 of 0), and a missing category (NaN) is
    // refused, as CatBoost refuses it.
    let (apr, _) = ctr_model();
    let buf = icebreak_format::AlignedBuf::copy_from(&apr);
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let r = read_json(&fixture_dir("catboost").join("ctr").join("reference.json"));
    let base = row(&r["inputs"][0]);
    let mut scratch = model.scratch();
    let mut answer = |bp: f64| {
        let mut x = base.clone();
        x[3] = bp;
        model
            .predict_row(&x, &mut scratch)
            .map(|o| o.scores.to_vec())
            .map_err(|e| e.to_string())
    };
    let unseen_a = answer(icebreak_engine::cat_hash::category_value(b"never seen"));
    let unseen_b = answer(icebreak_engine::cat_hash::category_value(b"bp99"));
    let missing = answer(f64::NAN);
    let seen = answer(icebreak_engine::cat_hash::category_value(b"bp0"));
    assert!(unseen_a.is_ok());
    assert_eq!(unseen_a, unseen_b);
    assert!(missing.is_err(), "{missing:?}");
    assert_ne!(
        unseen_a, seen,
        "the fixture's CTR splits on bp_band matter for this row"
    );
}

#[test]
fn counter_ctrs_carry_their_denominator_and_count_unseen_categories_0_of_it() {
    use icebreak_format::oblivious::{CTR_BORDERS, CTR_COUNTER};
    let dir = fixture_dir("catboost").join("ctr_counter");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    // The fixture's Counter CTRs have prior 0/1, for which an unseen category's value is 0
    // whether it counts 0 of the denominator or 0 of 0; a prior numerator of 1 tells the
    // two apart (the rows above check the fixture itself against CatBoost).
    for c in json["features_info"]["ctrs"].as_array_mut().unwrap() {
        if c["ctr_type"] == "Counter" {
            c["prior_numerator"] = serde_json::json!(1.0);
        }
    }
    let bytes = serde_json::to_vec(&json).unwrap();
    let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
    let StageSpec::Oblivious(o) = &spec.stages[0] else {
        panic!("oblivious")
    };
    let c = o.ctr.as_ref().expect("a CTR section");
    // The JSON's two Counter CTRs (age_band and bp_band), with Borders CTRs beside them.
    let counters: Vec<_> = c.defs.iter().filter(|d| d.kind == CTR_COUNTER).collect();
    assert_eq!(counters.len(), 2);
    assert!(c.defs.iter().any(|d| d.kind == CTR_BORDERS));
    let mut want: Vec<u64> = json["ctr_data"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("\"Counter\""))
        .map(|(_, t)| t["counter_denominator"].as_u64().unwrap())
        .collect();
    let mut got: Vec<u64> = counters
        .iter()
        .map(|d| u64::from(d.target_border))
        .collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
    assert!(got.iter().all(|&d| d > 0));
    for d in &counters {
        assert_eq!(c.tables[d.table as usize].width, 1);
    }
    // docs/FIDELITY.md and docs/BENCHMARKS.md: 86 splits, 65 of them CTR splits, 14 CTRs
    // over 6 tables of 10 to 40 entries.
    assert_eq!(o.splits.len(), 86);
    let n_ctr_splits = o
        .splits
        .iter()
        .filter(|s| matches!(s, icebreak_format::ObliviousSplit::Ctr { .. }))
        .count();
    assert_eq!(n_ctr_splits, 65);
    assert_eq!(c.defs.len(), 14);
    let mut sizes: Vec<usize> = c.tables.iter().map(|t| t.entries.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 10, 12, 12, 30, 40]);
    // A Counter CTR's value for a category the table does not hold is
    // `(0 + prior_num) / (denominator + prior_denom)` (CatBoost's static CTR provider), not
    // `prior_num / prior_denom` as a Borders CTR's: checked through the kernel.
    let buf =
        icebreak_format::AlignedBuf::copy_from(&icebreak_format::write_to_vec(&spec).unwrap());
    let apr = Apr::parse(&buf).unwrap();
    let icebreak_format::Stage::Oblivious(ob) = apr.stages()[0] else {
        panic!("oblivious")
    };
    let r = read_json(&dir.join("reference.json"));
    let mut x = row(&r["inputs"][0]);
    for v in x.iter_mut() {
        if v.is_nan() {
            *v = 0.0;
        }
    }
    for cat in [0usize, 1, 2, 3, 5] {
        x[cat] = icebreak_engine::cat_hash::category_value(b"never seen in training");
    }
    for (k, d) in c.defs.iter().enumerate() {
        let v = icebreak_engine::oblivious::ctr_value(&ob.ctrs, k, &x);
        let total = if d.kind == CTR_COUNTER {
            d.target_border as f32
        } else {
            0.0
        };
        let want = ((0.0 + d.prior_num) / (total + d.prior_denom) + d.shift) * d.scale;
        assert_eq!(v.to_bits(), want.to_bits(), "CTR {k}");
        if d.kind == CTR_COUNTER {
            assert_eq!(d.prior_num, 1.0);
            let of_nothing = ((0.0 + d.prior_num) / (0.0 + d.prior_denom) + d.shift) * d.scale;
            assert_ne!(v, of_nothing, "CTR {k}: 0 of the denominator, not 0 of 0");
        }
    }
}

#[test]
fn onehot_fixture_declares_its_categorical_features() {
    let bytes = std::fs::read(fixture_dir("catboost").join("onehot").join("model.json")).unwrap();
    let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
    let StageSpec::Oblivious(o) = &spec.stages[0] else {
        panic!("not oblivious")
    };
    // sex, bp_band, s5_band are columns 1, 3 and 5.
    assert_eq!(o.categorical, vec![1, 3, 5]);
    assert!(o
        .splits
        .iter()
        .any(|s| matches!(s, icebreak_format::ObliviousSplit::OneHot { .. })));
    // Integer categories are hashed from their decimal text, as CatBoost does: the row with
    // categories given as text and the same row with a category that is not a number agree
    // with the reference; a fraction is refused.
    let apr_bytes =
        icebreak_format::AlignedBuf::copy_from(&icebreak_format::write_to_vec(&spec).unwrap());
    let apr = Apr::parse(&apr_bytes).unwrap();
    let model = Model::new(&apr);
    let r = read_json(
        &fixture_dir("catboost")
            .join("onehot")
            .join("reference.json"),
    );
    let mut x = row(&r["inputs"][0]);
    x[1] = 0.5;
    let e = model.predict_row(&x, &mut model.scratch()).unwrap_err();
    assert_eq!(e, icebreak_engine::EngineError::Category { index: 1 });
}

#[test]
fn cbm_container_is_refused_with_the_way_out() {
    let bytes =
        std::fs::read(fixture_dir("catboost").join("regression").join("model.cbm")).unwrap();
    let (format, _) = match icebreak_convert::convert_any(&bytes, None, &Default::default()) {
        Err(icebreak_convert::ImportError::Convert { format, error, .. }) => {
            assert!(error.to_string().contains("format=\"json\""), "{error}");
            (format, ())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(format, icebreak_convert::SourceFormat::Catboost);
}

#[test]
fn category_hashes_are_catboosts() {
    let v = read_json(&fixture_dir("catboost").join("hashes.json"));
    let hashes = v["hashes"].as_object().unwrap();
    assert!(hashes.len() >= 30);
    let mut lengths = std::collections::BTreeSet::new();
    for (s, h) in hashes {
        assert_eq!(
            u64::from(icebreak_engine::cat_hash::cat_feature_hash(s.as_bytes())),
            h.as_u64().unwrap(),
            "{s:?} ({} bytes)",
            s.len()
        );
        lengths.insert(s.len());
    }
    // Every length class of CityHash64 (0, 1-3, 4-8, 9-16, 17-32, 33-64, 65+), and several
    // 64-byte blocks.
    for want in [0, 1, 4, 9, 17, 33, 65, 129, 1000] {
        assert!(
            lengths.contains(&want) || lengths.iter().any(|&l| l > want && want > 0),
            "no string of {want}+ bytes"
        );
    }
    assert!(lengths.contains(&0));
}

#[test]
fn categories_as_strings_in_events() {
    // A direct event (Lambda, the server) with the categories as strings, as a client sends
    // them: parsed by the protocol, answered like CatBoost.
    let bytes = std::fs::read(fixture_dir("catboost").join("onehot").join("model.json")).unwrap();
    let spec = icebreak_convert::catboost::convert(&bytes).unwrap();
    let buf =
        icebreak_format::AlignedBuf::copy_from(&icebreak_format::write_to_vec(&spec).unwrap());
    let apr = Apr::parse(&buf).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let r = read_json(
        &fixture_dir("catboost")
            .join("onehot")
            .join("reference.json"),
    );
    for (i, row) in r["inputs"].as_array().unwrap().iter().enumerate() {
        let event = serde_json::json!({ "features": row }).to_string();
        let icebreak_protocol::Direct::Single(req) =
            icebreak_protocol::parse_direct(event.as_bytes(), model.n_features()).unwrap()
        else {
            panic!("not single")
        };
        let out = model.predict_row(&req.features, &mut scratch).unwrap();
        assert_eq!(
            out.scores[0].to_bits(),
            floats(&r["raw"][i])[0].to_bits(),
            "row {i}"
        );
    }
}
