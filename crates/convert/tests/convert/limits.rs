//! Hostile sizes: a few hundred bytes of model that declare huge dimensions are refused by
//! the limits of `icebreak_format::limits`, before anything is allocated from them, with a
//! message naming the count and the limit.

// Test helpers unwrap freely: a broken test model should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::onnx_errors::{model, node};
use crate::proto;
use icebreak_convert::ConvertError;
use icebreak_format::limits;
use prost::Message;

fn invalid(r: Result<icebreak_format::ModelSpec, ConvertError>) -> String {
    match r {
        Err(ConvertError::Invalid(msg)) => msg,
        Err(other) => panic!("expected ConvertError::Invalid, got {other:?}"),
        Ok(_) => panic!("converted a model over the limits"),
    }
}

fn onnx(m: &proto::ModelProto) -> String {
    invalid(icebreak_convert::onnx::convert(&m.encode_to_vec()))
}

fn set_ints(n: &mut proto::NodeProto, name: &str, v: Vec<i64>) {
    let a = n.attribute.iter_mut().find(|a| a.name == name).unwrap();
    a.ints = v;
}

#[test]
fn onnx_input_width_over_the_feature_limit_is_refused() {
    // The input's declared width is what every stage is sized from.
    let mut m = model("minmax_scaler");
    let width = limits::MAX_FEATURES as i64 + 1;
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let Some(proto::type_proto::Value::TensorType(t)) =
        input.r#type.as_mut().and_then(|t| t.value.as_mut())
    else {
        panic!("input is not a tensor")
    };
    t.shape.as_mut().unwrap().dim[1].value =
        Some(proto::tensor_shape_proto::dimension::Value::DimValue(width));
    let msg = onnx(&m);
    assert!(
        msg.contains(&width.to_string()) && msg.contains(&limits::MAX_FEATURES.to_string()),
        "{msg}"
    );
}

#[test]
fn onnx_tree_targets_over_the_limit_are_refused() {
    let mut m = model("decision_tree_regressor");
    let n = node(&mut m, "TreeEnsembleRegressor");
    let t = limits::MAX_OUTPUTS as i64 + 1;
    n.attribute
        .iter_mut()
        .find(|a| a.name == "n_targets")
        .unwrap()
        .i = t;
    let msg = onnx(&m);
    assert!(msg.contains(&format!("n_targets is {t}")), "{msg}");
}

#[test]
fn onnx_classifier_with_too_many_labels_is_refused() {
    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    let k = limits::MAX_CLASSES + 1;
    set_ints(n, "classlabels_int64s", (0..k as i64).collect());
    let msg = onnx(&m);
    assert!(
        msg.contains(&format!("the number of class labels is {k}")),
        "{msg}"
    );
}

#[test]
fn xgboost_num_class_over_the_limit_is_refused() {
    let path = crate::common::fixture_dir("xgboost").join("multi_softprob/model.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["learner"]["learner_model_param"]["num_class"] = "16777216".into();
    let msg = invalid(icebreak_convert::xgboost::convert(
        &serde_json::to_vec(&v).unwrap(),
    ));
    assert!(
        msg.contains("num_class is 16777216, more than the limit of 65536"),
        "{msg}"
    );
}

#[test]
fn lightgbm_counts_over_the_limits_are_refused() {
    let path = crate::common::fixture_dir("lightgbm").join("multiclass_iris/model.txt");
    let text = std::fs::read_to_string(path).unwrap();
    for (key, value, limit) in [
        ("num_class", limits::MAX_CLASSES + 1, limits::MAX_CLASSES),
        (
            "max_feature_idx",
            limits::MAX_FEATURES,
            limits::MAX_FEATURES,
        ),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}=")))
            .unwrap();
        let bad = text.replacen(line, &format!("{key}={value}"), 1);
        let msg = invalid(icebreak_convert::lightgbm::convert(bad.as_bytes()));
        assert!(
            msg.contains(&format!("{key}={value} is out of range"))
                && msg.contains(&limit.to_string()),
            "{msg}"
        );
    }
}
