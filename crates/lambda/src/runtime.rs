//! The invocation loop: fetch an event, answer it exactly once, then log and emit metrics.

use crate::handler::LambdaHandler;
use crate::telemetry::log::{self, Level};
use crate::telemetry::metrics;
use crate::transport::{Client, RuntimeError};

/// Serves invocations until the Runtime API fails; returns why it stopped.
pub(crate) fn serve(handler: &LambdaHandler, client: &mut Client) -> RuntimeError {
    loop {
        if let Err(e) = serve_one(handler, client) {
            return e;
        }
    }
}

/// Fetches one invocation and answers it exactly once.
pub(crate) fn serve_one(handler: &LambdaHandler, client: &mut Client) -> Result<(), RuntimeError> {
    let inv = client.next_invocation()?;
    log::set_request_id(&inv.request_id);
    match &inv.trace_id {
        Some(t) => std::env::set_var("_X_AMZN_TRACE_ID", t),
        None => std::env::remove_var("_X_AMZN_TRACE_ID"),
    }
    if inv.remaining().is_some_and(|r| r.is_zero()) {
        log::log(
            Level::Warn,
            Some(&inv.request_id),
            format_args!("the invocation's deadline has already passed; answering anyway"),
        );
    }
    let cold = handler.cold_start_metrics().is_none();
    let t0 = std::time::Instant::now();
    let answer = handler.handle_event(&inv.body);
    let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
    let (posted, error) = match answer {
        Ok(body) => (client.respond(&inv.request_id, body), None),
        Err(err) => (client.fail(&inv.request_id, &err), Some(err)),
    };
    if let Some(err) = error {
        log::log(Level::Error, Some(&inv.request_id), format_args!("{err}"));
    }
    // Logs and metrics go out after the answer: formatting the cold-start lines is over half
    // of the cold `serve_one`'s instructions (docs/BENCHMARKS.md), and the caller should not
    // wait for them. They are still written before the next `/next`, while the sandbox runs.
    metrics::latency(handler.model_version(), latency_ms);
    if cold {
        if let Some(m) = handler.cold_start_metrics() {
            metrics::cold_start(&inv.request_id, handler.model_version(), &m);
        }
    }
    posted
}

#[cfg(test)]
mod tests;
