//! The event shapes AWS documents (fixtures in `tests/events/`), answered through
//! `LambdaHandler::handle_event`: HTTP-shaped events get HTTP-shaped answers, SQS batches
//! list exactly the failed messages.

use crate::common::{answer, expected_label, fixture, handler, http};
use serde_json::Value;

#[test]
fn every_fixture_is_tested() {
    let mut names: Vec<String> =
        std::fs::read_dir(format!("{}/tests/events", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alb.json",
            "function-url-bad-input.json",
            "function-url-base64.json",
            "function-url-get-model.json",
            "function-url-post.json",
            "function-url-unknown-path.json",
            "function-url-wrong-method.json",
            "http-api-stage.json",
            "rest-api-v1-text.json",
            "rest-api-v1.json",
            "sqs.json"
        ]
    );
}

#[test]
fn function_url_post_predicts() {
    let (status, body, a) = http("function-url-post.json");
    assert_eq!(status, 200);
    assert_eq!(body["prediction"], expected_label());
    assert_eq!(body["probabilities"].as_array().unwrap().len(), 2);
    assert!(a.get("statusDescription").is_none());
}

#[test]
fn base64_body_is_decoded() {
    let (status, body, _) = http("function-url-base64.json");
    assert_eq!(status, 200);
    assert_eq!(body["prediction"], expected_label());
}

#[test]
fn get_model_describes_the_model() {
    let (status, body, _) = http("function-url-get-model.json");
    assert_eq!(status, 200);
    assert_eq!(body["task"], "classification");
    assert_eq!(body["n_features"], 30);
    assert_eq!(body["model_version"], "breast_cancer-1");
    assert_eq!(body["classes"], serde_json::json!(["benign", "malignant"]));
    assert_eq!(body["feature_names"].as_array().unwrap().len(), 30);
    assert_eq!(
        body["stages"],
        serde_json::json!(["standard_scaler", "linear", "binary_logistic"])
    );
}

#[test]
fn bad_input_is_400_with_a_json_error() {
    let (status, body, _) = http("function-url-bad-input.json");
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "InvalidInput");
    assert_eq!(body["errorMessage"], "expected 30 features, got 3");
}

#[test]
fn unknown_path_is_404_and_wrong_method_is_405() {
    let (status, body, _) = http("function-url-unknown-path.json");
    assert_eq!(status, 404);
    assert_eq!(body["errorType"], "NotFound");
    let (status, body, a) = http("function-url-wrong-method.json");
    assert_eq!(status, 405);
    assert_eq!(body["errorType"], "MethodNotAllowed");
    assert_eq!(a["headers"]["allow"], "POST");
}

#[test]
fn http_api_stage_prefix_is_stripped() {
    let (status, body, _) = http("http-api-stage.json");
    assert_eq!(status, 200);
    assert_eq!(body["prediction"], expected_label());
}

#[test]
fn rest_api_v1_predicts_and_refuses_non_json() {
    let (status, body, _) = http("rest-api-v1.json");
    assert_eq!(status, 200);
    assert_eq!(body["prediction"], expected_label());
    let (status, body, _) = http("rest-api-v1-text.json");
    assert_eq!(status, 415);
    assert_eq!(body["errorType"], "UnsupportedMediaType");
}

#[test]
fn alb_answer_has_a_status_description() {
    let (status, body, a) = http("alb.json");
    assert_eq!(status, 200);
    assert_eq!(a["statusDescription"], "200 OK");
    assert_eq!(body["prediction"], expected_label());
}

#[test]
fn oversized_http_body_is_413() {
    let mut ev: Value = serde_json::from_slice(&fixture("function-url-post.json")).unwrap();
    let big = format!("{{\"features\": [{}]}}", vec!["1.0"; 400_000].join(","));
    assert!(big.len() > icebreak_protocol::http::DEFAULT_MAX_BODY);
    ev["body"] = Value::String(big);
    let out: Value = serde_json::from_slice(
        &handler()
            .handle_event(&serde_json::to_vec(&ev).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["statusCode"], 413);
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["errorType"], "PayloadTooLarge");
}

#[test]
fn sqs_lists_exactly_the_failed_messages() {
    let a = answer("sqs.json");
    assert_eq!(
        a,
        serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": "2e1424d4-f796-459a-8184-9c92662be6da"},
            {"itemIdentifier": "5f9c7e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"}
        ]})
    );
}

#[test]
fn sqs_with_no_failures_answers_an_empty_list() {
    let mut ev: Value = serde_json::from_slice(&fixture("sqs.json")).unwrap();
    ev["Records"].as_array_mut().unwrap().truncate(1);
    let out: Value = serde_json::from_slice(
        &handler()
            .handle_event(&serde_json::to_vec(&ev).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out, serde_json::json!({"batchItemFailures": []}));
}

#[test]
fn direct_answers_are_the_protocols_plus_cold_start() {
    use icebreak_protocol::{parse_direct, Direct, Predictor};
    let event = std::fs::read(format!(
        "{}/../../examples/event.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let h = handler();
    let mut lambda: Value = serde_json::from_slice(&h.handle_event(&event).unwrap()).unwrap();
    let p = Predictor::from_bytes(crate::common::MODEL).unwrap();
    let Direct::Single(req) = parse_direct(&event, p.n_features()).unwrap() else {
        panic!("not one instance")
    };
    let answer = p.predict(&req, std::time::Instant::now()).unwrap();
    let mut protocol: Value =
        serde_json::from_slice(&serde_json::to_vec(&answer).unwrap()).unwrap();
    let l = lambda.as_object_mut().unwrap();
    assert_eq!(l.remove("cold_start"), Some(Value::Bool(true)));
    assert!(l.remove("latency_ms").unwrap().is_f64());
    assert!(protocol
        .as_object_mut()
        .unwrap()
        .remove("latency_ms")
        .is_some());
    assert_eq!(lambda, protocol);
}

/// `"explain"` in every event shape: direct (one instance and a batch), HTTP-shaped (the
/// body), SQS (each message): the answers carry contributions that add up to the margin
/// and the requested reasons.
#[test]
fn explained_answers_in_every_event_shape() {
    let event: Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/../../examples/event.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let features = event["features"].clone();
    let one = serde_json::json!({"features": features, "explain": {"top": 2}});
    let check = |a: &Value| {
        assert_eq!(a["reasons"].as_array().unwrap().len(), 2, "{a}");
        let c = a["contributions"].as_object().unwrap();
        assert_eq!(c.len(), 31);
        let sum: f64 = c.values().map(|v| v.as_f64().unwrap()).sum();
        // The probability of "malignant" is the logistic of the margin.
        let p = a["probabilities"][1].as_f64().unwrap();
        assert!((1.0 / (1.0 + (-sum).exp()) - p).abs() < 1e-5, "{sum} {p}");
    };
    let h = handler();
    let direct: Value =
        serde_json::from_slice(&h.handle_event(&serde_json::to_vec(&one).unwrap()).unwrap())
            .unwrap();
    check(&direct);
    let batch = serde_json::json!({"explain": {"top": 2}, "instances": [{"features": features}]});
    let b: Value = serde_json::from_slice(
        &h.handle_event(&serde_json::to_vec(&batch).unwrap())
            .unwrap(),
    )
    .unwrap();
    check(&b["predictions"][0]);
    let mut url: Value = serde_json::from_slice(&fixture("function-url-post.json")).unwrap();
    url["body"] = Value::String(one.to_string());
    let out: Value =
        serde_json::from_slice(&h.handle_event(&serde_json::to_vec(&url).unwrap()).unwrap())
            .unwrap();
    assert_eq!(out["statusCode"], 200);
    check(&serde_json::from_str(out["body"].as_str().unwrap()).unwrap());
    // A bad "explain" is the caller's fault: 400.
    url["body"] =
        Value::String(serde_json::json!({"features": features, "explain": {"top": 0}}).to_string());
    let out: Value =
        serde_json::from_slice(&h.handle_event(&serde_json::to_vec(&url).unwrap()).unwrap())
            .unwrap();
    assert_eq!(out["statusCode"], 400);
    let mut sqs: Value = serde_json::from_slice(&fixture("sqs.json")).unwrap();
    sqs["Records"].as_array_mut().unwrap().truncate(1);
    sqs["Records"][0]["body"] = Value::String(one.to_string());
    let out: Value =
        serde_json::from_slice(&h.handle_event(&serde_json::to_vec(&sqs).unwrap()).unwrap())
            .unwrap();
    assert_eq!(out, serde_json::json!({"batchItemFailures": []}));
}
