//! Explained answers: `"explain"` parsed and bounded, `contributions` keyed by feature name
//! with the bias, `reasons` ordered by absolute contribution with the feature values, per
//! class for multi-class models, batches item by item, and a clear refusal for a model that
//! cannot explain. Requests that do not ask get no explanation fields and build nothing.

use crate::common::{labelled, predictor, provenance};
use icebreak_format::trees::LEAF;
use icebreak_format::{
    InputSpec, LabelsSpec, MissingRule, MissingValues, ModelSpec, OutputSpec, PostTransform,
    Precision, Split, StageSpec, Task, TreeNode, TreesSpec,
};
use icebreak_protocol::{parse_direct, Direct, ErrorKind, Predictor};
use serde_json::{json, Value};
use std::time::Instant;

fn node(feature: u32, t: f64, left: u32, right: u32) -> TreeNode {
    TreeNode {
        feature,
        split: Split::Le(t),
        missing: MissingRule::Default,
        default_left: false,
        left,
        right,
    }
}

/// Three features `age`, `income`, `debt`; one tree per class (`n_classes` 1: binary
/// logistic), each `age <= 40 ? (debt <= 1 ? l0 : l1) : l2` with covers 10 = (6 = 4 + 2) + 4.
fn forest(n_classes: u32, covers: bool) -> Predictor {
    let mut t = TreesSpec {
        n_in: 3,
        n_out: n_classes,
        leaf_width: 1,
        base: vec![0.5; n_classes as usize],
        ..TreesSpec::default()
    };
    let mut leaf_covers = Vec::new();
    for c in 0..n_classes {
        let (n0, l0) = (t.nodes.len() as u32, t.leaves.len() as u32);
        t.roots.push(n0);
        t.nodes.push(node(0, 40.0, n0 + 1, LEAF | (l0 + 2)));
        t.nodes.push(node(2, 1.0, LEAF | l0, LEAF | (l0 + 1)));
        let s = f64::from(c) + 1.0;
        t.leaves.extend([-s, 2.0 * s, 0.5 * s]);
        t.covers.extend([10.0, 6.0]);
        leaf_covers.extend([4.0, 2.0, 4.0]);
        if n_classes > 1 {
            t.targets.push(c);
        }
    }
    t.covers.extend(leaf_covers);
    if !covers {
        t.covers.clear();
    }
    let (n_outputs, labels, post) = if n_classes == 1 {
        (
            2,
            LabelsSpec::Str(vec!["good".into(), "bad".into()]),
            PostTransform::BinaryLogistic,
        )
    } else {
        (
            n_classes,
            LabelsSpec::Str((0..n_classes).map(|c| format!("class{c}")).collect()),
            PostTransform::Softmax,
        )
    };
    predictor(&ModelSpec {
        input: InputSpec {
            n_features: 3,
            missing: MissingValues::Nan,
            feature_names: Some(vec!["age".into(), "income".into(), "debt".into()]),
        },
        output: OutputSpec {
            task: Task::Classification,
            n_outputs,
            labels,
            output_names: None,
            precision: Precision::F64,
        },
        provenance: provenance(),
        stages: vec![StageSpec::Trees(t), StageSpec::Post(post)],
    })
}

fn answer(p: &Predictor, body: &[u8]) -> Result<Value, icebreak_protocol::Error> {
    let t0 = Instant::now();
    let json = match parse_direct(body, p.n_features())? {
        Direct::Single(req) => serde_json::to_value(p.predict(&req, t0)?),
        Direct::Batch(items) => serde_json::to_value(p.predict_batch(&items, t0)?),
    };
    Ok(json.unwrap())
}

#[test]
fn an_explained_binary_answer() {
    let p = forest(1, true);
    let v = answer(&p, br#"{"features": [30, 1000, 2], "explain": true}"#).unwrap();
    // age <= 40, debt > 1: leaf 2.0. Expected value 0.5 + (4·-1 + 2·2 + 4·0.5)/10 = 0.7.
    // Tree SHAP of a depth-2 tree: age (0.6 · (-1·4 + 2·2)/6 ... ) computed exactly below.
    let c = &v["contributions"];
    assert_eq!(c.as_object().unwrap().len(), 4);
    // In the model's feature order, the bias last.
    let Direct::Single(req) =
        parse_direct(br#"{"features": [30, 1000, 2], "explain": true}"#, 3).unwrap()
    else {
        panic!("single")
    };
    let text = serde_json::to_string(&p.predict(&req, Instant::now()).unwrap()).unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(at("age") < at("income") && at("income") < at("debt") && at("debt") < at("bias"));
    assert_eq!(c["income"], json!(0.0));
    let sum: f64 = c
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!((sum - 2.5).abs() < 1e-12, "sum {sum}: base 0.5 + leaf 2.0");
    assert!((c["bias"].as_f64().unwrap() - 0.7).abs() < 1e-12);
    let reasons = v["reasons"].as_array().unwrap();
    // income contributes nothing: not a reason.
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0]["feature"], "debt");
    assert_eq!(reasons[0]["value"], json!(2.0));
    assert_eq!(reasons[1]["feature"], "age");
    assert!(
        reasons[0]["contribution"].as_f64().unwrap().abs()
            >= reasons[1]["contribution"].as_f64().unwrap().abs()
    );
    assert!(v["probabilities"].is_array());
}

#[test]
fn top_k_and_missing_values() {
    let p = forest(1, true);
    let v = answer(&p, br#"{"features": [null, 5, 0], "explain": {"top": 1}}"#).unwrap();
    let reasons = v["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    // NaN age goes right (default_left false): the leaf 0.5.
    assert_eq!(reasons[0]["feature"], "age");
    assert_eq!(reasons[0]["value"], Value::Null);
}

#[test]
fn requests_that_do_not_ask_get_no_explanation() {
    let p = forest(1, true);
    for body in [
        &br#"{"features": [30, 1, 2]}"#[..],
        br#"{"features": [30, 1, 2], "explain": false}"#,
        br#"{"features": [30, 1, 2], "explain": null}"#,
    ] {
        let v = answer(&p, body).unwrap();
        assert!(v.get("contributions").is_none() && v.get("reasons").is_none());
    }
    let batch = br#"{"instances": [{"features": [30, 1, 2]}, {"features": [1, 1, 1]}]}"#;
    assert!(answer(&p, batch).is_ok());
    // Nothing was prepared for explanations.
    assert!(p.is_model_loaded());
    assert!(!p.is_explainer_loaded());
    assert!(answer(&p, br#"{"features": [30, 1, 2], "explain": true}"#).is_ok());
    assert!(p.is_explainer_loaded());
}

#[test]
fn multi_class_answers_per_class() {
    let p = forest(3, true);
    let v = answer(&p, br#"{"features": [50, 1, 0], "explain": {"top": 3}}"#).unwrap();
    let c = v["contributions"].as_object().unwrap();
    assert_eq!(c.keys().collect::<Vec<_>>(), ["class0", "class1", "class2"]);
    for (k, per) in c {
        let sum: f64 = per
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_f64().unwrap())
            .sum();
        let s: f64 = k[5..].parse::<f64>().unwrap() + 1.0;
        assert!((sum - (0.5 + 0.5 * s)).abs() < 1e-12, "{k}: {sum}");
    }
    let r = v["reasons"].as_object().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r["class2"][0]["feature"], "age");
}

#[test]
fn batches_explain_item_by_item() {
    let p = forest(1, true);
    let v = answer(
        &p,
        br#"{"explain": true, "instances": [
            {"features": [30, 1, 2]},
            {"features": [30, 1, 2], "explain": false},
            {"features": [30, 1]},
            {"features": [30, 1, 2], "explain": {"top": 1}}
        ]}"#,
    )
    .unwrap();
    let items = v["predictions"].as_array().unwrap();
    assert_eq!(items[0]["reasons"].as_array().unwrap().len(), 2);
    assert!(items[1].get("contributions").is_none());
    assert_eq!(items[2]["error"]["errorType"], "InvalidInput");
    assert_eq!(items[3]["reasons"].as_array().unwrap().len(), 1);
}

#[test]
fn explain_is_bounded_and_strict() {
    let p = forest(1, true);
    for (body, says) in [
        (
            &br#"{"features": [1, 2, 3], "explain": {"top": 0}}"#[..],
            "must be 1 to 1000",
        ),
        (
            br#"{"features": [1, 2, 3], "explain": {"top": 1001}}"#,
            "must be 1 to 1000",
        ),
        (
            br#"{"features": [1, 2, 3], "explain": {"top": -1}}"#,
            "invalid",
        ),
        (
            br#"{"features": [1, 2, 3], "explain": {"k": 2}}"#,
            "not the key \"k\"",
        ),
        (
            br#"{"features": [1, 2, 3], "explain": "yes"}"#,
            "true, false or {\"top\": k}",
        ),
    ] {
        let e = answer(&p, body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}", e.message());
        assert!(e.message().contains(says), "{}", e.message());
    }
}

#[test]
fn a_model_without_covers_says_so() {
    let p = forest(1, false);
    let e = answer(&p, br#"{"features": [1, 2, 3], "explain": true}"#).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.message().starts_with("this model carries no node covers"),
        "{}",
        e.message()
    );
    assert!(p.can_explain().is_err());
    // It still predicts.
    assert!(answer(&p, br#"{"features": [1, 2, 3]}"#).is_ok());
}

#[test]
fn a_linear_model_explains_from_zero() {
    let p = labelled();
    let v = answer(&p, br#"{"features": [1.5, -0.5], "explain": true}"#).unwrap();
    assert_eq!(
        v["contributions"],
        json!({"a": 1.5, "b": -0.5, "bias": 0.0})
    );
    assert_eq!(
        v["reasons"][0],
        json!({"feature": "a", "value": 1.5, "contribution": 1.5})
    );
}
