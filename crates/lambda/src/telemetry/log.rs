//! Logs and metrics on stdout, where Lambda collects them into CloudWatch.
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON`: one JSON object per line,
//!   `{"timestamp", "level", "message", "requestId"}` (RFC 3339 timestamps, UTC, milliseconds).
//!   Otherwise Lambda's text format: `timestamp<TAB>requestId<TAB>LEVEL<TAB>message`.
//! - `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; default
//!   `INFO`) filters lines before anything is formatted: a filtered line costs one comparison.
//!
//! The metrics lines ([`super::metrics`]) are read from the same configuration.

use serde::ser::{SerializeMap, Serializer};
use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Log levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation (the default threshold).
    Info,
    /// Something odd the runtime survived.
    Warn,
    /// A failed invocation.
    Error,
    /// The runtime stops.
    Fatal,
}

impl Level {
    /// The name Lambda uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parses a level name (case-insensitive).
    pub(crate) fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" | "WARNING" => Level::Warn,
            "ERROR" => Level::Error,
            "FATAL" => Level::Fatal,
            _ => return None,
        })
    }
}

/// Logging configuration, read from the environment once.
#[derive(Debug, Clone)]
pub(crate) struct LogConfig {
    /// JSON lines instead of text.
    pub(crate) json: bool,
    /// Lines below this level are dropped.
    pub(crate) level: Level,
    /// Per-invocation latency metric.
    pub(crate) emf_latency: bool,
    /// EMF namespace.
    pub(crate) namespace: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub(crate) function_name: String,
}

impl LogConfig {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`, `ICEBREAK_EMF_LATENCY`,
    /// `ICEBREAK_METRICS_NAMESPACE` and `AWS_LAMBDA_FUNCTION_NAME` through `var`.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> LogConfig {
        LogConfig {
            json: var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json")),
            level: var("AWS_LAMBDA_LOG_LEVEL")
                .and_then(|v| Level::parse(&v))
                .unwrap_or(Level::Info),
            emf_latency: var("ICEBREAK_EMF_LATENCY")
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            namespace: var("ICEBREAK_METRICS_NAMESPACE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "icebreak".into()),
            function_name: var("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "unknown".into()),
        }
    }
}

static CONFIG: OnceLock<LogConfig> = OnceLock::new();

/// The process's configuration.
pub(crate) fn config() -> &'static LogConfig {
    CONFIG.get_or_init(|| LogConfig::from_vars(|k| std::env::var(k).ok()))
}

/// Whether a line at `level` would be written.
#[inline]
pub(crate) fn enabled(level: Level) -> bool {
    level >= config().level
}

pub(crate) fn now_rfc3339() -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_millis(SystemTime::now())
}

/// Formats one log line (without the newline) into `out`.
pub(crate) fn format_line(
    out: &mut Vec<u8>,
    json: bool,
    timestamp: &dyn fmt::Display,
    level: Level,
    request_id: Option<&str>,
    message: fmt::Arguments<'_>,
) {
    if json {
        let msg = message.to_string();
        let mut ser = serde_json::Serializer::new(&mut *out);
        let ok = (|| {
            let mut m = ser.serialize_map(None)?;
            m.serialize_entry("timestamp", &timestamp.to_string())?;
            m.serialize_entry("level", level.as_str())?;
            m.serialize_entry("message", &msg)?;
            if let Some(id) = request_id {
                m.serialize_entry("requestId", id)?;
            }
            m.end()
        })();
        if ok.is_err() {
            out.extend_from_slice(b"{\"level\":\"ERROR\",\"message\":\"unserialisable log line\"}");
        }
    } else {
        let _ = write!(
            out,
            "{timestamp}\t{}\t{}\t{message}",
            request_id.unwrap_or("-"),
            level.as_str()
        );
    }
}

pub(crate) fn emit(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

thread_local! {
    static REQUEST_ID: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Sets the request id that lines logged without one carry (the invocation being served).
pub(crate) fn set_request_id(id: &str) {
    REQUEST_ID.with(|r| {
        let mut r = r.borrow_mut();
        r.clear();
        r.push_str(id);
    });
}

/// Writes a log line if `level` passes the filter; nothing is formatted otherwise. Without
/// an explicit `request_id`, the line carries the current invocation's (if any).
pub(crate) fn log(level: Level, request_id: Option<&str>, message: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut buf = Vec::with_capacity(160);
    REQUEST_ID.with(|current| {
        let current = current.borrow();
        let id = request_id.or((!current.is_empty()).then_some(current.as_str()));
        format_line(&mut buf, config().json, &now_rfc3339(), level, id, message);
    });
    emit(&buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> LogConfig {
        LogConfig::from_vars(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn config_from_env() {
        let c = cfg(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "warn"),
        ]);
        assert!(c.json);
        assert_eq!(c.level, Level::Warn);
        let d = cfg(&[("AWS_LAMBDA_LOG_LEVEL", "nonsense")]);
        assert!(!d.json);
        assert_eq!(d.level, Level::Info);
        assert_eq!(d.namespace, "icebreak");
        assert_eq!(d.function_name, "unknown");
    }

    #[test]
    fn json_line_has_lambda_fields() {
        let mut out = Vec::new();
        format_line(
            &mut out,
            true,
            &"2026-01-02T03:04:05.678Z",
            Level::Error,
            Some("r-1"),
            format_args!("bad \"input\" {}", 3),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"], "2026-01-02T03:04:05.678Z");
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "bad \"input\" 3");
        assert_eq!(v["requestId"], "r-1");
    }

    #[test]
    fn text_line_is_tab_separated() {
        let mut out = Vec::new();
        format_line(
            &mut out,
            false,
            &"T",
            Level::Info,
            Some("r"),
            format_args!("hello"),
        );
        assert_eq!(out, b"T\tr\tINFO\thello");
    }

    #[test]
    fn rfc3339_timestamps() {
        let t = now_rfc3339().to_string();
        assert_eq!(t.len(), "2026-01-02T03:04:05.678Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }

    #[test]
    fn levels_order() {
        assert!(
            Level::Trace < Level::Debug
                && Level::Warn < Level::Error
                && Level::Error < Level::Fatal
        );
    }
}
