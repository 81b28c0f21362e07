//! A [`Predictor`](icebreak_protocol::Predictor) answering parsed requests: labels, values,
//! batches item by item, errors, the model's description.

use crate::common::{labelled, two_targets};
use icebreak_protocol::http::from_error;
use icebreak_protocol::{parse_direct, Direct, ErrorKind, Prediction, Request};
use serde_json::{json, Value};
use std::time::Instant;

fn answer(p: &icebreak_protocol::Predictor, body: &[u8]) -> Value {
    let t0 = Instant::now();
    let json = match parse_direct(body, p.n_features()).unwrap() {
        Direct::Single(req) => serde_json::to_vec(&p.predict(&req, t0).unwrap()),
        Direct::Batch(items) => serde_json::to_vec(&p.predict_batch(&items, t0).unwrap()),
    };
    let mut v: Value = serde_json::from_slice(&json.unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    assert!(o.remove("latency_ms").unwrap().is_f64());
    assert_eq!(o.remove("model_version"), Some(json!("test-1")));
    assert!(o.get("cold_start").is_none(), "no transport's fields");
    v
}

#[test]
fn string_labels_and_probabilities() {
    let p = labelled();
    assert!(!p.is_model_loaded());
    let v = answer(&p, br#"{"features": [1, 2]}"#);
    assert_eq!(v["prediction"], "yes");
    let probs = v["probabilities"].as_array().unwrap();
    assert_eq!(probs.len(), 2);
    assert!(probs[1].as_f64().unwrap() > 0.9);
    assert_eq!(answer(&p, br#"{"features": [-1, -2]}"#)["prediction"], "no");
    assert!(p.is_model_loaded());
    assert!(p.model_load_ms().is_some() && p.first_inference_ms().is_some());
}

#[test]
fn several_values_are_an_array_and_null_is_missing() {
    let p = two_targets();
    let r = p
        .predict(&Request::new(vec![3.0, 1.0]), Instant::now())
        .unwrap();
    assert_eq!(
        r.prediction,
        Prediction::Values(icebreak_protocol::Numbers::owned(
            vec![4.0, 2.0],
            icebreak_format::Precision::F32
        ))
    );
    assert!(r.probabilities.is_none());
    // `null` is accepted by a model that takes missing values.
    assert!(answer(&p, br#"{"features": [null, 1]}"#)["prediction"].is_array());
}

#[test]
fn batches_are_answered_item_by_item() {
    let p = labelled();
    let v = answer(
        &p,
        br#"{"instances": [{"features": [1, 1]}, {"features": [1]}, {"features": ["x", 1]},
                          {"features": [null, 1]}, {"features": [-1, -1]}]}"#,
    );
    let items = v["predictions"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["prediction"], "yes");
    for bad in &items[1..4] {
        assert_eq!(bad["error"]["errorType"], "InvalidInput", "{bad}");
    }
    assert!(items[1]["error"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("features"));
    assert_eq!(items[4]["prediction"], "no");
}

#[test]
fn a_single_bad_request_is_an_error_with_its_http_status() {
    let p = labelled();
    let e = p
        .predict(&Request::new(vec![1.0, 2.0, 3.0]), Instant::now())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let h = from_error(&e);
    assert_eq!(h.status, 400);
    let body: Value = serde_json::from_slice(&h.body()).unwrap();
    assert_eq!(body["errorType"], "InvalidInput");
    let e = p.predict_batch(&[], Instant::now()).unwrap_err();
    assert_eq!(e.message(), "\"instances\" is empty");
}

#[test]
fn the_description_names_features_and_classes() {
    let info = serde_json::to_value(labelled().describe()).unwrap();
    assert_eq!(info["task"], "classification");
    assert_eq!(info["feature_names"], json!(["a", "b"]));
    assert_eq!(info["classes"], json!(["no", "yes"]));
    assert_eq!(info["missing_values"], "rejected");
    assert_eq!(info["model_name"], "test");
    let info = serde_json::to_value(two_targets().describe()).unwrap();
    assert_eq!(info["task"], "regression");
    assert_eq!(info["missing_values"], "null or NaN");
    assert!(info.get("classes").is_none());
}

/// Answers are written at the model's precision, single and batch: the shortest text of an
/// f64 for an f64 model, of an f32 for an f32 model (the text Lambda and the server send).
#[test]
fn answers_are_written_at_the_models_precision() {
    use icebreak_format::Precision;
    for (precision, text) in [
        (Precision::F64, "-4.320310689291134"),
        (Precision::F32, "-4.3203106"),
    ] {
        let p = crate::common::leaf(precision);
        let t0 = Instant::now();
        let one = p.predict(&Request::new(vec![0.5]), t0).unwrap();
        let json = serde_json::to_string(&one).unwrap();
        assert!(json.contains(&format!("\"prediction\":{text},")), "{json}");
        let Direct::Batch(items) = parse_direct(
            br#"{"instances": [{"features": [1]}, {"features": [null]}]}"#,
            1,
        )
        .unwrap() else {
            panic!("not a batch")
        };
        let json = serde_json::to_string(&p.predict_batch(&items, t0).unwrap()).unwrap();
        assert_eq!(
            json.matches(&format!("{{\"prediction\":{text}}}")).count(),
            2,
            "{json}"
        );
    }
}

#[test]
fn prepare_makes_the_model_runnable_records_no_inference_and_changes_no_answer() {
    let fresh = labelled();
    let prepared = labelled();
    prepared.prepare();
    assert!(prepared.is_model_loaded());
    assert!(prepared.model_load_ms().is_some());
    assert!(
        prepared.first_inference_ms().is_none(),
        "no prediction was made"
    );
    prepared.prepare();
    for body in [
        &br#"{"features": [1, 2]}"#[..],
        br#"{"features": [-1, -2]}"#,
        br#"{"instances": [{"features": [0.5, -3]}, {"features": [1]}]}"#,
    ] {
        assert_eq!(answer(&prepared, body), answer(&fresh, body));
    }
    assert!(prepared.first_inference_ms().is_some());
}
