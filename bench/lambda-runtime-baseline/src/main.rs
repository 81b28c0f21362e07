//! The cold-start baseline: the same embedded model as the icebreak `bootstrap`, answered by
//! the same handler ([`LambdaHandler::handle_event`]), but served through the official
//! `lambda_runtime` crate on tokio, written the way its documentation shows
//! (`#[tokio::main]`, `lambda_runtime::run(service_fn(...))`, `serde_json::Value` events).
//!
//! `cargo xtask coldstart` runs it beside the icebreak bootstrap so the difference between
//! the two is the runtime, not the model. Bench only: nothing the Lambda build ships may
//! depend on this package.

#![forbid(unsafe_code)]

use icebreak::lambda::{mark_process_start, LambdaHandler};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

static MODEL: &[u8] = icebreak::include_model!("../../../examples/model.apr");

#[tokio::main]
async fn main() -> Result<(), Error> {
    mark_process_start();
    let handler: &'static LambdaHandler = Box::leak(Box::new(LambdaHandler::from_bytes(MODEL)?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        answer(handler, &event.payload)
    }))
    .await
}

/// Answers one event with the icebreak handler; its JSON answer is passed on as is.
fn answer(handler: &LambdaHandler, event: &Value) -> Result<Box<RawValue>, Diagnostic> {
    let diagnostic = |error_type: &str, error_message: String| Diagnostic {
        error_type: error_type.to_owned(),
        error_message,
    };
    let bytes = serde_json::to_vec(event)
        .map_err(|e| diagnostic("InvalidEvent", format!("cannot re-encode the event: {e}")))?;
    let body = handler
        .handle_event(&bytes)
        .map_err(|e| diagnostic(e.kind().as_str(), e.message().to_owned()))?;
    let text = String::from_utf8(body)
        .map_err(|e| diagnostic("InvalidInput", format!("answer is not UTF-8: {e}")))?;
    RawValue::from_string(text)
        .map_err(|e| diagnostic("InvalidInput", format!("answer is not JSON: {e}")))
}
