//! The invocation loop: fetch an event, answer it exactly once, then log and emit metrics.
//!
//! With `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (Lambda Managed Instances), that many loops run at
//! once, one per thread, each on its own connection to the Runtime API, sharing the handler
//! read-only ([`serve_concurrently`]). Per-invocation state (request id, trace id) is
//! thread-local, so each loop's logs and metrics carry its own invocation's.

use crate::handler::LambdaHandler;
use crate::prefetch::PageIn;
use crate::telemetry::log::{self, Level};
use crate::telemetry::metrics;
use crate::transport::{Client, Endpoint, RuntimeError};
use std::cell::RefCell;

thread_local! {
    /// The trace id (`Lambda-Runtime-Trace-Id`) of the invocation this thread is serving.
    /// Reused from one invocation to the next: no allocation once its capacity suffices.
    static TRACE_ID: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The X-Ray trace id of the invocation the calling thread is serving (`None` outside an
/// invocation, or when the Runtime API sent none).
///
/// The runtime does not export it as the `_X_AMZN_TRACE_ID` environment variable: the
/// environment is process-wide, so it would be wrong as soon as two invocations run at once,
/// and glibc's `setenv` leaks the previous string on every change.
pub fn trace_id() -> Option<String> {
    TRACE_ID.with(|t| {
        let t = t.borrow();
        (!t.is_empty()).then(|| t.clone())
    })
}

fn set_trace_id(id: Option<&str>) {
    TRACE_ID.with(|t| {
        let mut t = t.borrow_mut();
        t.clear();
        t.push_str(id.unwrap_or(""));
    });
}

/// The number of invocation loops to run: `AWS_LAMBDA_MAX_CONCURRENCY` when it is a number
/// above 1, else 1 (capped at 1024, far above what one instance is given).
pub(crate) fn concurrency(value: Option<&str>) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .map_or(1, |n| n.min(1024))
}

/// Runs `n` invocation loops, each on its own thread and connection; returns the first
/// error that ends one of them (the process should then exit: the other loops are left
/// blocked in `/next`).
pub(crate) fn serve_concurrently(
    handler: &'static LambdaHandler,
    ep: &Endpoint,
    n: usize,
) -> RuntimeError {
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..n {
        let tx = tx.clone();
        let ep = ep.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("invocations-{i}"))
            .spawn(move || {
                let mut client = Client::new(ep);
                let _ = tx.send(serve(handler, &mut client, None));
            });
        if let Err(e) = spawned {
            return RuntimeError::Loops(format!("cannot start thread {i} of {n}: {e}"));
        }
    }
    drop(tx);
    rx.recv()
        .unwrap_or_else(|_| RuntimeError::Loops("every loop ended without an error".into()))
}

/// Serves invocations until the Runtime API fails; returns why it stopped. While the first
/// `/next` is in flight the handler is prepared ([`LambdaHandler::prepare`]) and `page_in`,
/// if any, is worked on ([`crate::prefetch`]).
pub(crate) fn serve(
    handler: &LambdaHandler,
    client: &mut Client,
    mut page_in: Option<PageIn>,
) -> RuntimeError {
    let mut first = true;
    loop {
        let result = serve_one(handler, client, first, page_in.as_mut());
        first = false;
        page_in = None;
        if let Err(e) = result {
            return e;
        }
    }
}

/// Fetches one invocation and answers it exactly once. With `prepare`, the handler's
/// one-off work of the first answer ([`LambdaHandler::prepare`]) is done as soon as the
/// `/next` request is written, and `page_in`, if any, is then stepped while the Runtime API
/// has not begun to answer.
pub(crate) fn serve_one(
    handler: &LambdaHandler,
    client: &mut Client,
    prepare: bool,
    mut page_in: Option<&mut PageIn>,
) -> Result<(), RuntimeError> {
    let inv = if prepare || page_in.is_some() {
        let mut prepared = !prepare;
        let mut work = || {
            if !prepared {
                prepared = true;
                handler.prepare();
                return page_in.is_some();
            }
            page_in.as_deref_mut().is_some_and(PageIn::step)
        };
        client.next_invocation_while(Some(&mut work))?
    } else {
        client.next_invocation()?
    };
    log::set_request_id(&inv.request_id);
    set_trace_id(inv.trace_id.as_deref());
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
        if let Some(p) = page_in {
            log::log(
                Level::Info,
                Some(&inv.request_id),
                format_args!(
                    "icebreak page-in: {} of {} model bytes mapped while waiting for the first event, {:.3} ms ({})",
                    p.mapped(),
                    p.len(),
                    p.spent().as_secs_f64() * 1e3,
                    if p.populated() { "MADV_POPULATE_READ" } else { "read a byte a page" }
                ),
            );
        }
    }
    posted
}

#[cfg(test)]
mod tests;
