//! Log lines on stdout, where Lambda collects them into CloudWatch.

use crate::handler::{ColdStartMetrics, LambdaError};
use std::io::Write;

fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The cold-start breakdown, once, on the first invocation.
pub fn cold_start(request_id: &str, model_version: &str, m: &ColdStartMetrics) {
    line(format_args!(
        "icebreak cold start: init {:.3} ms, model load {:.3} ms, first inference {:.3} ms, total {:.3} ms (model {model_version}, request {request_id})",
        m.init_duration_ms, m.model_load_ms, m.first_inference_ms, m.total_cold_start_ms
    ));
}

/// A function error.
pub fn invocation_error(request_id: &str, err: &LambdaError) {
    line(format_args!("icebreak error: {err} (request {request_id})"));
}

/// Something odd the runtime survived.
pub fn warn(request_id: &str, msg: &str) {
    line(format_args!(
        "icebreak warning: {msg} (request {request_id})"
    ));
}

/// Why the runtime stops.
pub fn fatal(msg: &dyn std::fmt::Display) {
    line(format_args!("icebreak fatal: {msg}"));
}
