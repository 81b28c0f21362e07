//! AWS Lambda custom runtime for icebreak models.
//!
//! A blocking Runtime API client on std's `TcpStream` — no async runtime, no HTTP stack —
//! and a handler that checks the embedded model at start-up and creates the runnable model
//! lazily: while the first `GET /next` is in flight under [`run`], else on the first
//! invocation.
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
//! error item and does not fail the others); Function URL, API Gateway (HTTP and REST) and
//! ALB events, answered with HTTP-shaped answers; SQS batches, answered with
//! `batchItemFailures`. Requests, answers and errors are those of [`icebreak_protocol`].
//!
//! # Layers
//! - `transport`: the Runtime API (endpoints, a blocking HTTP/1.1 client).
//! - `events`: the event shapes in and the answer shapes out (direct, HTTP v2, REST v1, ALB,
//!   SQS).
//! - `telemetry`: the process-start clock, log lines, Embedded Metric Format metrics.
//! - `handler`: [`LambdaHandler`], which answers an event; `runtime`: the invocation loop.
//!
//! # Errors
//! Malformed events and bad features are function errors posted to `/error` as
//! `{"errorMessage", "errorType"}`; the loop keeps serving. A broken embedded model is posted
//! to `/init/error` and the process exits. A 500 from the Runtime API ends the process at once.

#![deny(missing_docs)]
// `unsafe` is denied everywhere but in `mapped`, which maps the model file (memmap2), and
// `prefetch`, which calls `madvise` on the model's bytes (libc).
#![deny(unsafe_code)]

mod events;
mod handler;
pub mod mapped;
mod prefetch;
mod runtime;
mod telemetry;
mod transport;

pub use handler::{LambdaBatchResponse, LambdaHandler, LambdaResponse};
pub use icebreak_protocol::ErrorKind;
pub use runtime::trace_id;
pub use telemetry::clock::mark_process_start;
pub use telemetry::metrics::ColdStartMetrics;

/// A function error: posted to the Runtime API as `{"errorMessage", "errorType"}`.
pub type LambdaError = icebreak_protocol::Error;

/// One instance to predict: its features, NaN marking a missing value.
pub type LambdaRequest = icebreak_protocol::Request;

use std::process::ExitCode;
use telemetry::log::{self, Level};
use transport::{Client, Endpoint, RuntimeError};

/// Runs the invocation loop until the Runtime API fails, then returns a failure exit code.
///
/// When `AWS_LAMBDA_MAX_CONCURRENCY` is a number above 1 (Lambda Managed Instances), that many
/// loops run at once, one per thread, each on its own connection; the model is shared.
///
/// While each loop's first `GET /next` is in flight the handler is prepared
/// ([`LambdaHandler::prepare`]: the runnable model, the thread's buffers, the CPU's kernels),
/// so the first answer does not wait for that work; it changes no answer.
///
/// With one loop, a model of 1 MiB or more that was not read at start-up (compiled in, not
/// mapped) is paged in while the first `/next` is in flight, stopping as soon as the Runtime
/// API begins to answer: `madvise(MADV_WILLNEED)` and `madvise(MADV_POPULATE_READ)` from its
/// first byte on, so the first answer's walk takes fewer page faults. It changes no answer;
/// `ICEBREAK_PREFETCH=off` turns it off.
pub fn run(handler: LambdaHandler) -> ExitCode {
    let ep = match Endpoint::from_env() {
        Ok(ep) => ep,
        Err(e) => {
            log::log(Level::Fatal, None, format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    let n = runtime::concurrency(std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok().as_deref());
    let err = if n > 1 {
        // The handler lives as long as the process; the loops share it read-only.
        let handler: &'static LambdaHandler = Box::leak(Box::new(handler));
        runtime::serve_concurrently(handler, &ep, n)
    } else {
        let mut client = Client::new(ep);
        let page_in = handler.unread_model().and_then(prefetch::PageIn::new);
        runtime::serve(&handler, &mut client, page_in)
    };
    log::log(Level::Fatal, None, format_args!("{err}"));
    ExitCode::FAILURE
}

/// Reports a broken model to `/init/error` and returns a failure exit code.
pub fn report_init_error(err: &LambdaError) -> ExitCode {
    log::log(
        Level::Fatal,
        None,
        format_args!("{}", RuntimeError::Init(err.clone())),
    );
    if let Ok(ep) = Endpoint::from_env() {
        if let Err(e) = Client::new(ep).init_error(err) {
            log::log(Level::Fatal, None, format_args!("{e}"));
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

/// [`start`] for a model verified at build time ([`icebreak_format::embed`] in the build
/// script, [`icebreak_format::include_verified_model!`] in the code): the handler is created
/// with [`LambdaHandler::from_embedded`], in time independent of the model's size.
pub fn start_embedded(model: icebreak_format::Embedded) -> ExitCode {
    mark_process_start();
    match LambdaHandler::from_embedded(model) {
        Ok(handler) => run(handler),
        Err(e) => report_init_error(&e),
    }
}

/// The mapped bootstrap: mark the process start, find the model file ([`mapped::locate`]:
/// `ICEBREAK_MODEL_PATH`, else `$LAMBDA_TASK_ROOT/model.apr`, else `/opt/model.apr`), map it
/// read-only, verify it completely and serve it; a missing or broken file is reported to
/// `/init/error`.
pub fn start_mapped() -> ExitCode {
    mark_process_start();
    match mapped::locate().and_then(|p| LambdaHandler::from_mapped(&p)) {
        Ok(handler) => run(handler),
        Err(e) => report_init_error(&e),
    }
}

/// Parses `event` as the event parser of [`LambdaHandler::handle_event`] does, and drops the
/// result. Not part of the API: an entry point for the fuzz target over events (`fuzz/`),
/// which cannot reach the crate-private parser otherwise.
#[doc(hidden)]
pub fn fuzz_parse_event(event: &[u8], n_features: usize) {
    let _ = events::parse(event, n_features);
}
