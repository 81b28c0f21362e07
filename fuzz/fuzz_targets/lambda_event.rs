//! Arbitrary bytes as a Lambda event: parsing and answering never panics, and every event
//! gets exactly one answer — a body that is JSON, or a function error.
#![no_main]

use icebreak_lambda::LambdaHandler;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static MODEL: &[u8] = icebreak_format::include_model!("../../examples/model.apr");

fn handler() -> &'static LambdaHandler {
    static H: OnceLock<LambdaHandler> = OnceLock::new();
    H.get_or_init(|| LambdaHandler::from_bytes(MODEL).expect("the example model is valid"))
}

fuzz_target!(|data: &[u8]| {
    // The event parser alone (crate-private; reached through its hidden fuzzing entry point).
    icebreak_lambda::fuzz_parse_event(data, 30);
    match handler().handle_event(data) {
        Ok(body) => {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("answers are JSON");
            assert!(v.is_object());
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
});
