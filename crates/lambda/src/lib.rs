//! AWS Lambda custom runtime for icebreak models.
//!
//! A blocking Runtime API client on std's `TcpStream` — no async runtime, no HTTP stack —
//! and a handler that checks the embedded model at start-up and creates the runnable model
//! lazily on the first invocation.
//!
//! ```no_run
//! use icebreak_format::include_model;
//! use icebreak_lambda::LambdaHandler;
//!
//! static MODEL: &[u8] = include_model!("../../../examples/model.apr");
//!
//! fn main() -> std::process::ExitCode {
//!     icebreak_lambda::mark_process_start();
//!     match LambdaHandler::from_bytes(MODEL) {
//!         Ok(handler) => icebreak_lambda::run(handler),
//!         Err(e) => icebreak_lambda::report_init_error(&e),
//!     }
//! }
//! ```
//! [`start`] does exactly that in one call.
//!
//! # Events
//! Direct invocation with `{"features": [...]}` (one answer) or
//! `{"instances": [{"features": [...]}, ...]}` (one item per instance; a bad instance gets an
//! error item and does not fail the others). See [`event`].
//!
//! # Errors
//! Malformed events and bad features are function errors posted to `/error` as
//! `{"errorMessage", "errorType"}`; the loop keeps serving. A broken embedded model is posted
//! to `/init/error` and the process exits. A 500 from the Runtime API ends the process at once.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod event;
mod handler;
pub mod http;
pub mod log;
pub mod runtime;

pub use clock::mark_process_start;
pub use handler::{
    BatchItem, BatchResponse, ColdStartMetrics, ErrorKind, HttpResponse, ItemFailure, LambdaError,
    LambdaHandler, LambdaRequest, LambdaResponse, ModelInfo, Prediction, SqsBatchResponse,
    DEFAULT_MAX_BODY,
};
pub use runtime::{Client, Endpoint, Invocation, RuntimeError};

use std::process::ExitCode;

/// Runs the invocation loop until the Runtime API fails, then returns a failure exit code.
pub fn run(handler: LambdaHandler) -> ExitCode {
    let ep = match Endpoint::from_env() {
        Ok(ep) => ep,
        Err(e) => {
            log::log(log::Level::Fatal, None, format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut client = Client::new(ep);
    let err = runtime::serve(&handler, &mut client);
    log::log(log::Level::Fatal, None, format_args!("{err}"));
    ExitCode::FAILURE
}

/// Reports a broken model to `/init/error` and returns a failure exit code.
pub fn report_init_error(err: &LambdaError) -> ExitCode {
    log::log(
        log::Level::Fatal,
        None,
        format_args!("{}", RuntimeError::Init(err.clone())),
    );
    if let Ok(ep) = Endpoint::from_env() {
        if let Err(e) = Client::new(ep).init_error(err) {
            log::log(log::Level::Fatal, None, format_args!("{e}"));
        }
    }
    ExitCode::FAILURE
}

/// The whole bootstrap: mark the process start, check the model, serve it, or report a
/// broken model to `/init/error`.
pub fn start(model: &'static [u8]) -> ExitCode {
    mark_process_start();
    match LambdaHandler::from_bytes(model) {
        Ok(handler) => run(handler),
        Err(e) => report_init_error(&e),
    }
}
