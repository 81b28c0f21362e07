//! The event shapes AWS documents (fixtures in `tests/events/`), answered through
//! `LambdaHandler::handle_event`: HTTP-shaped events get HTTP-shaped answers, SQS batches
//! list exactly the failed messages, and the EMF line follows the Embedded Metric Format.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use icebreak_lambda::log::{emf_cold_start, emf_latency, LogConfig};
use icebreak_lambda::{ColdStartMetrics, LambdaHandler};
use serde_json::Value;

static MODEL: &[u8] = icebreak_format::include_model!("../../../examples/model.apr");

fn handler() -> LambdaHandler {
    LambdaHandler::from_bytes(MODEL).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn answer(name: &str) -> Value {
    let body = handler()
        .handle_event(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_slice(&body).unwrap()
}

fn expected_label() -> Value {
    let r: Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/../../fixtures/linear/breast_cancer/reference.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    r["predict"][0].clone()
}

/// Status and parsed JSON body of an HTTP-shaped answer.
fn http(name: &str) -> (u64, Value, Value) {
    let a = answer(name);
    assert_eq!(a["headers"]["content-type"], "application/json", "{name}");
    assert_eq!(a["isBase64Encoded"], false, "{name}");
    let body: Value = serde_json::from_str(a["body"].as_str().unwrap()).unwrap();
    (a["statusCode"].as_u64().unwrap(), body, a)
}

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
    assert!(big.len() > icebreak_lambda::DEFAULT_MAX_BODY);
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

/// Checks a line against the Embedded Metric Format specification's structure: a root `_aws`
/// member with an integer `Timestamp` and `CloudWatchMetrics` directives, each with a
/// `Namespace`, `Dimensions` (arrays of at most 30 names of root string members of 1..=1024
/// characters) and `Metrics` (at most 100, each naming a root numeric member, with a valid
/// unit).
fn assert_emf(line: &[u8]) -> Value {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    assert!(!line.contains(&b'\n'), "one line");
    let v: Value = serde_json::from_slice(line).unwrap();
    let root = v.as_object().unwrap();
    let aws = root["_aws"].as_object().unwrap();
    assert!(aws["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    for d in directives {
        let ns = d["Namespace"].as_str().unwrap();
        assert!(!ns.is_empty() && ns.len() <= 255);
        for set in d["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for name in set {
                let value = root[name.as_str().unwrap()].as_str().unwrap();
                assert!(!value.is_empty() && value.chars().count() <= 1024);
            }
        }
        let metrics = d["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(!name.is_empty() && name.len() <= 255);
            assert!(root[name].is_number(), "{name} has no numeric value");
            assert!(UNITS.contains(&m["Unit"].as_str().unwrap()));
        }
    }
    v
}

#[test]
fn cold_start_emf_line_follows_the_spec() {
    let cfg =
        LogConfig::from_vars(|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "my-model".to_owned()));
    let m = ColdStartMetrics {
        init_duration_ms: 0.5,
        model_load_ms: 0.01,
        first_inference_ms: 0.02,
        total_cold_start_ms: 0.7,
    };
    let v = assert_emf(&emf_cold_start(
        &cfg,
        "breast_cancer-1",
        &m,
        1_800_000_000_000,
    ));
    assert_eq!(v["FunctionName"], "my-model");
    assert_eq!(v["ModelVersion"], "breast_cancer-1");
    assert_eq!(v["ColdStart"], 1.0);
    assert_eq!(v["TotalColdStart"], 0.7);
    assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "icebreak");
    let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ColdStart",
            "InitDuration",
            "ModelLoad",
            "FirstInference",
            "TotalColdStart"
        ]
    );
}

#[test]
fn latency_emf_line_follows_the_spec_with_long_dimension_values() {
    let long = "x".repeat(5000);
    let cfg = LogConfig::from_vars(|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| long.clone()));
    let v = assert_emf(&emf_latency(&cfg, "", 0.03, 1_800_000_000_000));
    assert_eq!(v["ModelVersion"], "unknown");
    assert_eq!(v["FunctionName"].as_str().unwrap().len(), 1024);
}
