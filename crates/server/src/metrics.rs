//! Prometheus metrics, recorded through the `metrics` facade into a per-server recorder.

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

/// Requests answered, by route, model and status.
pub(crate) const REQUESTS: &str = "icebreak_http_requests_total";
/// Answers with a 4xx or 5xx status, by route, model, status and `errorType`.
pub(crate) const ERRORS: &str = "icebreak_http_errors_total";
/// Time from the request's arrival in the router to its answer, by route and model.
pub(crate) const DURATION: &str = "icebreak_http_request_duration_seconds";
/// Requests being handled.
pub(crate) const IN_FLIGHT: &str = "icebreak_http_requests_in_flight";
/// Predict requests refused because the concurrency limit was reached.
pub(crate) const SHED: &str = "icebreak_http_requests_shed_total";
/// Predict requests parsed and answered on the blocking pool, off the async workers.
pub(crate) const OFFLOADED: &str = "icebreak_http_requests_offloaded_total";
/// Time to read, check and warm each model.
pub(crate) const LOAD: &str = "icebreak_model_load_seconds";
/// Open connections.
pub(crate) const CONNECTIONS: &str = "icebreak_http_connections";
/// Connections closed at once because the connection cap was reached.
pub(crate) const REFUSED: &str = "icebreak_http_connections_refused_total";
/// Connections closed by a deadline, by `timeout` (`header_read` or `idle`).
pub(crate) const TIMED_OUT: &str = "icebreak_http_connections_timed_out_total";
/// Bytes of the admission budget reserved by requests in progress.
pub(crate) const RESERVED: &str = "icebreak_memory_budget_reserved_bytes";

/// Latency buckets, in seconds: 25 µs to 10 s.
const BUCKETS: [f64; 18] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static META: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The routes, in the order of their indices in the handle cache.
pub(crate) const ROUTES: [&str; 7] = [
    "/health",
    "/ready",
    "/models",
    "/metrics",
    "/predict",
    "/predict/batch",
    "unmatched",
];

/// The handles one (route, model, status) answer updates, registered once.
#[derive(Clone)]
struct Handles {
    requests: Counter,
    duration: Histogram,
}

pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Model names by index; answers without a model are labelled `none`.
    models: Vec<String>,
    in_flight: Gauge,
    shed: Counter,
    offloaded: Counter,
    connections: Gauge,
    refused: Counter,
    timed_out: [Counter; 2],
    reserved: Gauge,
    /// Registered handles by (route, model, status), so the hot path neither allocates
    /// label strings nor looks the key up in the recorder's registry.
    cache: RwLock<HashMap<(u8, u16, u16), Handles>>,
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect::<Vec<_>>(),
    )
}

impl Metrics {
    pub(crate) fn new(models: Vec<String>) -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            // Only an empty bucket list is refused, and BUCKETS is not empty.
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            (name, unit, SharedString::const_str(help))
        };
        for (name, unit, help) in [
            describe(
                REQUESTS,
                None,
                "HTTP requests answered, by route, model and status.",
            ),
            describe(
                ERRORS,
                None,
                "HTTP answers with a 4xx or 5xx status, by route, model, status and errorType.",
            ),
            describe(
                SHED,
                None,
                "Predict requests refused with 503 at the concurrency limit or for want of memory budget.",
            ),
            describe(
                OFFLOADED,
                None,
                "Predict requests parsed and answered on the blocking pool (batches, bodies over the blocking threshold).",
            ),
            describe(
                REFUSED,
                None,
                "Connections closed on arrival at the connection cap.",
            ),
            describe(
                TIMED_OUT,
                None,
                "Connections closed by the header-read or the idle timeout.",
            ),
        ] {
            recorder.describe_counter(name.into(), unit, help);
        }
        recorder.describe_histogram(
            DURATION.into(),
            Some(Unit::Seconds),
            SharedString::const_str("HTTP request latency in the server, by route and model."),
        );
        recorder.describe_gauge(
            IN_FLIGHT.into(),
            None,
            SharedString::const_str("HTTP requests being handled."),
        );
        recorder.describe_gauge(
            CONNECTIONS.into(),
            None,
            SharedString::const_str("Open HTTP connections."),
        );
        recorder.describe_gauge(
            RESERVED.into(),
            Some(Unit::Bytes),
            SharedString::const_str("Bytes of the admission budget reserved by requests."),
        );
        recorder.describe_gauge(
            LOAD.into(),
            Some(Unit::Seconds),
            SharedString::const_str("Time to read, validate and warm each model at start-up."),
        );
        // Present from the start, so a scrape before the first request sees them.
        let in_flight = recorder.register_gauge(&key(IN_FLIGHT, &[]), &META);
        in_flight.set(0.0);
        let shed = recorder.register_counter(&key(SHED, &[]), &META);
        shed.absolute(0);
        let connections = recorder.register_gauge(&key(CONNECTIONS, &[]), &META);
        connections.set(0.0);
        let refused = recorder.register_counter(&key(REFUSED, &[]), &META);
        refused.absolute(0);
        let offloaded = recorder.register_counter(&key(OFFLOADED, &[]), &META);
        offloaded.absolute(0);
        let timed_out = ["header_read", "idle"].map(|t| {
            let c = recorder.register_counter(&key(TIMED_OUT, &[("timeout", t)]), &META);
            c.absolute(0);
            c
        });
        let reserved = recorder.register_gauge(&key(RESERVED, &[]), &META);
        reserved.set(0.0);
        Metrics {
            recorder,
            handle,
            models,
            in_flight,
            shed,
            offloaded,
            connections,
            refused,
            timed_out,
            reserved,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn model_loaded(&self, model: &str, took: Duration) {
        self.recorder
            .register_gauge(&key(LOAD, &[("model", model)]), &META)
            .set(took.as_secs_f64());
    }

    pub(crate) fn in_flight(&self, delta: f64) {
        if delta >= 0.0 {
            self.in_flight.increment(delta);
        } else {
            self.in_flight.decrement(-delta);
        }
    }

    pub(crate) fn shed(&self) {
        self.shed.increment(1);
    }

    pub(crate) fn offloaded(&self) {
        self.offloaded.increment(1);
    }

    pub(crate) fn connections(&self, delta: f64) {
        if delta >= 0.0 {
            self.connections.increment(delta);
        } else {
            self.connections.decrement(-delta);
        }
    }

    pub(crate) fn connection_refused(&self) {
        self.refused.increment(1);
    }

    /// A connection closed by a deadline: `header_read` or `idle`.
    pub(crate) fn connection_timed_out(&self, timeout: &str) {
        self.timed_out[usize::from(timeout != "header_read")].increment(1);
    }

    pub(crate) fn reserved(&self, bytes: usize) {
        self.reserved.set(bytes as f64);
    }

    /// The label of model `index`, `none` for no model.
    pub(crate) fn model_name(&self, index: Option<usize>) -> &str {
        index
            .and_then(|i| self.models.get(i))
            .map_or("none", String::as_str)
    }

    fn handles(&self, route: usize, model: Option<usize>, status: u16) -> Handles {
        let k = (
            route.min(u8::MAX as usize) as u8,
            model.map_or(u16::MAX, |m| m.min(u16::MAX as usize - 1) as u16),
            status,
        );
        if let Some(h) = self.cache.read().ok().and_then(|c| c.get(&k).cloned()) {
            return h;
        }
        let route = ROUTES.get(route).copied().unwrap_or("unmatched");
        let name = self.model_name(model);
        let mut buf = itoa_status(status);
        let status = status_str(&mut buf);
        let h = Handles {
            requests: self.recorder.register_counter(
                &key(
                    REQUESTS,
                    &[("route", route), ("model", name), ("status", status)],
                ),
                &META,
            ),
            duration: self
                .recorder
                .register_histogram(&key(DURATION, &[("route", route), ("model", name)]), &META),
        };
        if let Ok(mut c) = self.cache.write() {
            c.insert(k, h.clone());
        }
        h
    }

    /// Counts and times one answer; `route` indexes [`ROUTES`].
    pub(crate) fn answered(
        &self,
        route: usize,
        model: Option<usize>,
        status: u16,
        error_type: Option<&str>,
        took: Duration,
    ) {
        let h = self.handles(route, model, status);
        h.requests.increment(1);
        h.duration.record(took.as_secs_f64());
        if let Some(error_type) = error_type {
            let route = ROUTES.get(route).copied().unwrap_or("unmatched");
            let model = self.model_name(model);
            let mut buf = itoa_status(status);
            let status = status_str(&mut buf);
            self.recorder
                .register_counter(
                    &key(
                        ERRORS,
                        &[
                            ("route", route),
                            ("model", model),
                            ("status", status),
                            ("error_type", error_type),
                        ],
                    ),
                    &META,
                )
                .increment(1);
        }
    }

    pub(crate) fn render(&self) -> String {
        self.handle.render()
    }

    pub(crate) fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

fn status_str(buf: &mut [u8; 3]) -> &str {
    std::str::from_utf8(buf).unwrap_or("000")
}
