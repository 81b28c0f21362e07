//! Helpers shared by the tests: the example model's handler, the event fixtures, and their
//! answers.

use icebreak_lambda::LambdaHandler;
use serde_json::Value;

pub static MODEL: &[u8] = icebreak_format::include_model!("../../../../examples/model.apr");

pub fn handler() -> LambdaHandler {
    LambdaHandler::from_bytes(MODEL).unwrap()
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn answer(name: &str) -> Value {
    let body = handler()
        .handle_event(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_slice(&body).unwrap()
}

pub fn expected_label() -> Value {
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
pub fn http(name: &str) -> (u64, Value, Value) {
    let a = answer(name);
    assert_eq!(a["headers"]["content-type"], "application/json", "{name}");
    assert_eq!(a["isBase64Encoded"], false, "{name}");
    let body: Value = serde_json::from_str(a["body"].as_str().unwrap()).unwrap();
    (a["statusCode"].as_u64().unwrap(), body, a)
}
