//! Malformed and hostile CatBoost JSON: each refused with a message naming what is wrong,
//! sizes checked against their limits before anything is built from them.

use icebreak_convert::catboost::convert;
use serde_json::{json, Value};

/// A valid two-feature regression: one tree of depth 1 on feature 1.
fn base() -> Value {
    json!({
        "model_info": {"params": {"loss_function": {"type": "RMSE"}}},
        "features_info": {"float_features": [
            {"borders": [0.5], "feature_index": 0, "flat_feature_index": 0,
             "nan_value_treatment": "AsFalse", "feature_id": "a"},
            {"borders": [1.5], "feature_index": 1, "flat_feature_index": 1,
             "nan_value_treatment": "AsTrue", "feature_id": "b"}
        ]},
        "oblivious_trees": [{"leaf_values": [1.0, 2.0], "splits": [
            {"border": 1.5, "float_feature_index": 1, "split_index": 0, "split_type": "FloatFeature"}
        ]}],
        "scale_and_bias": [1, [0.5]]
    })
}

fn err(v: &Value) -> String {
    convert(v.to_string().as_bytes())
        .expect_err("the importer must refuse this model")
        .to_string()
}

#[test]
fn base_converts() {
    let spec = convert(base().to_string().as_bytes()).unwrap();
    assert_eq!(spec.input.n_features, 2);
    assert_eq!(
        spec.input.feature_names,
        Some(vec!["a".to_string(), "b".to_string()])
    );
}

#[test]
fn refusals_name_the_problem() {
    type Patch = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Patch)> = vec![
        (
            "depth 17, more than 16",
            Box::new(|v| {
                let split = v["oblivious_trees"][0]["splits"][0].clone();
                v["oblivious_trees"][0]["splits"] = Value::Array(vec![split; 17]);
                v["oblivious_trees"][0]["leaf_values"] = json!([]);
            }),
        ),
        (
            "1 leaf values, 2 expected",
            Box::new(|v| {
                v["oblivious_trees"][0]["leaf_values"] = json!([1.0]);
            }),
        ),
        (
            "feature index is 1048576, more than the limit",
            Box::new(|v| {
                v["features_info"]["float_features"][1]["flat_feature_index"] = json!(1u64 << 20);
            }),
        ),
        (
            "split type `EstimatedFeature` is not supported",
            Box::new(|v| {
                v["oblivious_trees"][0]["splits"][0]["split_type"] = json!("EstimatedFeature");
            }),
        ),
        (
            "unknown nan_value_treatment `Sometimes`",
            Box::new(|v| {
                v["features_info"]["float_features"][0]["nan_value_treatment"] = json!("Sometimes");
            }),
        ),
        (
            "border 0.1 is not a finite float32 value",
            Box::new(|v| {
                v["oblivious_trees"][0]["splits"][0]["border"] = json!(0.1);
            }),
        ),
        (
            "float feature 7 is not described",
            Box::new(|v| {
                v["oblivious_trees"][0]["splits"][0]["float_feature_index"] = json!(7);
            }),
        ),
        (
            "non-symmetric trees",
            Box::new(|v| {
                let t = v["oblivious_trees"].take();
                v.as_object_mut().unwrap().remove("oblivious_trees");
                v["trees"] = t;
            }),
        ),
        ("no trees", Box::new(|v| v["oblivious_trees"] = json!([]))),
        (
            "CTR split index 0 names no CTR border of features_info.ctrs",
            Box::new(|v| {
                v["features_info"]["categorical_features"] =
                    json!([{"feature_index": 0, "flat_feature_index": 2, "feature_id": "colour"}]);
                v["oblivious_trees"][0]["splits"][0] = json!({"border": 0.5,
                    "ctr_target_border_idx": 0, "split_index": 0, "split_type": "OnlineCtr"});
            }),
        ),
        (
            "two features share one flat_feature_index",
            Box::new(|v| {
                v["features_info"]["categorical_features"] =
                    json!([{"feature_index": 0, "flat_feature_index": 1, "feature_id": "colour"}]);
            }),
        ),
        (
            "one-hot value 4294967296 is not a 32-bit hash",
            Box::new(|v| {
                v["features_info"]["categorical_features"] =
                    json!([{"feature_index": 0, "flat_feature_index": 2, "feature_id": "colour"}]);
                v["oblivious_trees"][0]["splits"][0] = json!({"cat_feature_index": 0,
                    "value": 4294967296u64, "split_index": 0, "split_type": "OneHotFeature"});
            }),
        ),
        (
            "categorical feature 3 is not described",
            Box::new(|v| {
                v["oblivious_trees"][0]["splits"][0] = json!({"cat_feature_index": 3,
                    "value": -5, "split_index": 0, "split_type": "OneHotFeature"});
            }),
        ),
        (
            "text features are not supported",
            Box::new(|v| {
                v["features_info"]["text_features"] = json!([{}]);
            }),
        ),
        (
            "class names are not distinct",
            Box::new(|v| {
                v["model_info"] = json!({"params": {"loss_function": {"type": "Logloss"}},
                "class_params": {"class_names": ["x", "x"], "class_label_type": "String"}});
            }),
        ),
        (
            "loss Logloss with 2 values per leaf",
            Box::new(|v| {
                v["model_info"]["params"]["loss_function"]["type"] = json!("Logloss");
                v["scale_and_bias"] = json!([1, [0, 0]]);
                v["oblivious_trees"][0]["leaf_values"] = json!([1.0, 2.0, 3.0, 4.0]);
            }),
        ),
        (
            "loss MultiLogloss (multi-label classification: a 0/1 answer per label) is not supported",
            Box::new(|v| {
                v["model_info"]["params"]["loss_function"]["type"] = json!("MultiLogloss");
            }),
        ),
        (
            "loss MultiCrossEntropy (multi-label",
            Box::new(|v| {
                v["model_info"]["params"]["loss_function"]["type"] = json!("MultiCrossEntropy");
            }),
        ),
        (
            "loss RMSEWithUncertainty (its prediction is the mean and the variance exp(2·raw)) \
             is not supported",
            Box::new(|v| {
                v["model_info"]["params"]["loss_function"]["type"] = json!("RMSEWithUncertainty");
            }),
        ),
        (
            "loss MultiClassOneVsAll with fewer than 2 values per leaf",
            Box::new(|v| {
                v["model_info"]["params"]["loss_function"]["type"] = json!("MultiClassOneVsAll");
            }),
        ),
    ];
    for (want, patch) in cases {
        let mut v = base();
        patch(&mut v);
        let got = err(&v);
        assert!(got.contains(want), "want `{want}` in: {got}");
    }
}

#[test]
fn malformed_json_is_a_json_error() {
    let e = convert(b"{\"features_info\": ").unwrap_err();
    assert!(e.to_string().starts_with("malformed source model"), "{e}");
}

/// The `ctr` fixture (three categorical features, six `Borders` CTRs), as JSON.
fn ctr_base() -> Value {
    let path = crate::common::fixture_dir("catboost")
        .join("ctr")
        .join("model.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The key of the fixture's first `ctr_data` table.
fn first_table(v: &Value) -> String {
    v["ctr_data"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

#[test]
fn malformed_ctrs_are_refused_naming_the_problem() {
    type Patch = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Patch)> = vec![
        (
            "CTR type `Buckets` is not supported",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["ctr_type"] = json!("Buckets");
                }
            }),
        ),
        (
            "a Counter CTR's table has 2 counts per entry, not 1",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["ctr_type"] = json!("Counter");
                }
            }),
        ),
        (
            "counter_denominator -1 is not 0 to 2147483647",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["ctr_type"] = json!("Counter");
                }
                for t in v["ctr_data"].as_object_mut().unwrap().values_mut() {
                    let m = t["hash_map"].as_array().unwrap().clone();
                    let one: Vec<Value> = m
                        .chunks(3)
                        .flat_map(|e| [e[0].clone(), e[1].clone()])
                        .collect();
                    t["hash_map"] = json!(one);
                    t["hash_stride"] = json!(2);
                    t["counter_denominator"] = json!(-1);
                }
            }),
        ),
        (
            "projection element `float_feature` is not supported",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["elements"].as_array_mut().unwrap().push(json!({
                        "combination_element": "float_feature",
                        "float_feature_index": 0, "border": 0.5}));
                }
            }),
        ),
        (
            "the file carries no table for it in ctr_data",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("ctr_data");
            }),
        ),
        (
            "not a multiple of hash_stride 3",
            Box::new(|v| {
                let k = first_table(v);
                v["ctr_data"][&k]["hash_map"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "hash_stride 1 is not 2 to",
            Box::new(|v| {
                let k = first_table(v);
                v["ctr_data"][&k]["hash_stride"] = json!(1);
            }),
        ),
        (
            "the hash is not an unsigned 64-bit integer",
            Box::new(|v| {
                let k = first_table(v);
                v["ctr_data"][&k]["hash_map"][0] = json!("-5");
            }),
        ),
        (
            "a count is not a 32-bit integer",
            Box::new(|v| {
                let k = first_table(v);
                v["ctr_data"][&k]["hash_map"][1] = json!(4_294_967_296_i64);
            }),
        ),
        (
            "hash_map holds a hash twice",
            Box::new(|v| {
                let k = first_table(v);
                let h = v["ctr_data"][&k]["hash_map"][3].clone();
                v["ctr_data"][&k]["hash_map"][6] = h;
            }),
        ),
        (
            "target_border_idx 2 is not below the table's 2 classes",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["target_border_idx"] = json!(2);
                }
                for t in v["oblivious_trees"].as_array_mut().unwrap() {
                    for s in t["splits"].as_array_mut().unwrap() {
                        if s["split_type"] == "OnlineCtr" {
                            s["ctr_target_border_idx"] = json!(2);
                        }
                    }
                }
            }),
        ),
        (
            "its border does not match CTR",
            Box::new(|v| {
                for t in v["oblivious_trees"].as_array_mut().unwrap() {
                    for s in t["splits"].as_array_mut().unwrap() {
                        if s["split_type"] == "OnlineCtr" {
                            s["border"] = json!(123.5);
                        }
                    }
                }
            }),
        ),
        (
            "names no CTR border",
            Box::new(|v| {
                for t in v["oblivious_trees"].as_array_mut().unwrap() {
                    for s in t["splits"].as_array_mut().unwrap() {
                        if s["split_type"] == "OnlineCtr" {
                            s["split_index"] = json!(1000);
                        }
                    }
                }
            }),
        ),
        (
            "prior_numerator 1e300 is not a finite float32 value",
            Box::new(|v| {
                for c in v["features_info"]["ctrs"].as_array_mut().unwrap() {
                    c["prior_numerator"] = json!(1e300);
                }
            }),
        ),
    ];
    for (want, patch) in cases {
        let mut v = ctr_base();
        patch(&mut v);
        let got = err(&v);
        assert!(got.contains(want), "want `{want}` in: {got}");
        assert!(got.contains("bp_band") || got.contains("tree"), "{got}");
    }
}

/// The fuzz target's seeds are valid models (two with CTR tables, one of them a CTR of a
/// combination of two categorical features), so the fuzzer starts from inputs that get
/// deep; each converts, writes, reads back and answers a row with text categories.
#[test]
fn fuzz_seeds_convert() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/catboost_json");
    let mut n_ctr = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let spec = convert(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let buf = icebreak_format::write(&spec).unwrap();
        let apr = icebreak_format::Apr::parse_verified(&buf).unwrap();
        let model = icebreak_engine::Model::new(&apr);
        let (categorical, has_ctr) = match apr.stages()[0] {
            icebreak_format::Stage::Oblivious(o) => (o.categorical.to_vec(), !o.ctrs.is_empty()),
            _ => panic!("{}: not oblivious", path.display()),
        };
        n_ctr += usize::from(has_ctr);
        let row: Vec<f64> = (0..model.n_features() as u32)
            .map(|f| {
                if categorical.contains(&f) {
                    icebreak_engine::cat_hash::category_value(b"bp1")
                } else {
                    0.01
                }
            })
            .collect();
        let mut scratch = model.scratch();
        let out = model.predict_row(&row, &mut scratch).unwrap();
        assert!(
            out.scores.iter().all(|v| v.is_finite()),
            "{}",
            path.display()
        );
    }
    // ctr, ctr_combination and ctr_counter (Borders and Counter CTRs).
    assert_eq!(n_ctr, 3);
}
