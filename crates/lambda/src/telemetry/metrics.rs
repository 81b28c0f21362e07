//! Metrics on stdout in CloudWatch's Embedded Metric Format: on the cold invocation, one line
//! with the cold-start breakdown ([`emf_cold_start`]); with `ICEBREAK_EMF_LATENCY=1`, one
//! latency line per invocation. The namespace is `icebreak` unless
//! `ICEBREAK_METRICS_NAMESPACE` says otherwise.

use super::log::{config, emit, log, Level, LogConfig};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// The cold start, phase by phase, measured by the process itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ColdStartMetrics {
    /// Process start (entry to `main`, see [`crate::mark_process_start`]) until the handler
    /// was ready.
    pub init_duration_ms: f64,
    /// Checking the embedded model plus creating the runnable model on first use.
    pub model_load_ms: f64,
    /// The first prediction.
    pub first_inference_ms: f64,
    /// Process start until the first answer was ready to send.
    pub total_cold_start_ms: f64,
}

/// The Embedded Metric Format line for a cold start.
pub(crate) fn emf_cold_start(
    cfg: &LogConfig,
    model_version: &str,
    m: &ColdStartMetrics,
    timestamp_ms: u64,
) -> Vec<u8> {
    emf_line(
        cfg,
        model_version,
        timestamp_ms,
        &[
            ("ColdStart", "Count", 1.0),
            ("InitDuration", "Milliseconds", m.init_duration_ms),
            ("ModelLoad", "Milliseconds", m.model_load_ms),
            ("FirstInference", "Milliseconds", m.first_inference_ms),
            ("TotalColdStart", "Milliseconds", m.total_cold_start_ms),
        ],
    )
}

/// The Embedded Metric Format line for one invocation's latency.
pub(crate) fn emf_latency(
    cfg: &LogConfig,
    model_version: &str,
    latency_ms: f64,
    timestamp_ms: u64,
) -> Vec<u8> {
    emf_line(
        cfg,
        model_version,
        timestamp_ms,
        &[("Latency", "Milliseconds", latency_ms)],
    )
}

/// EMF dimension values are 1..=1024 characters.
fn dimension_value(v: &str) -> &str {
    if v.is_empty() {
        return "unknown";
    }
    let mut end = v.len().min(1024);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

fn emf_line(
    cfg: &LogConfig,
    model_version: &str,
    timestamp_ms: u64,
    metrics: &[(&str, &str, f64)],
) -> Vec<u8> {
    let names: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, unit, _)| serde_json::json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": dimension_value(&cfg.namespace),
                "Dimensions": [["FunctionName", "ModelVersion"]],
                "Metrics": names,
            }],
        },
        "FunctionName": dimension_value(&cfg.function_name),
        "ModelVersion": dimension_value(model_version),
    });
    if let Some(obj) = doc.as_object_mut() {
        for (name, _, value) in metrics {
            obj.insert((*name).to_owned(), serde_json::json!(value));
        }
    }
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The cold-start breakdown: an INFO line and the EMF metrics line.
pub(crate) fn cold_start(request_id: &str, model_version: &str, m: &ColdStartMetrics) {
    log(
        Level::Info,
        Some(request_id),
        format_args!(
            "icebreak cold start: init {:.3} ms, model load {:.3} ms, first inference {:.3} ms, total {:.3} ms (model {model_version})",
            m.init_duration_ms, m.model_load_ms, m.first_inference_ms, m.total_cold_start_ms
        ),
    );
    emit(&emf_cold_start(config(), model_version, m, epoch_ms()));
}

/// The per-invocation latency metric, when `ICEBREAK_EMF_LATENCY` is on.
pub(crate) fn latency(model_version: &str, latency_ms: f64) {
    if config().emf_latency {
        emit(&emf_latency(
            config(),
            model_version,
            latency_ms,
            epoch_ms(),
        ));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::Value;

    #[test]
    fn dimension_values_are_bounded() {
        assert_eq!(dimension_value(""), "unknown");
        let long = "é".repeat(600);
        let d = dimension_value(&long);
        assert!(d.len() <= 1024 && !d.is_empty());
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
        let cfg = LogConfig::from_vars(|k| {
            (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "my-model".to_owned())
        });
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
}
