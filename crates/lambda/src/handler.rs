//! The model handler: checks the embedded model once, creates the runnable model lazily on
//! the first invocation, and answers requests.

use crate::clock;
use crate::event::{Event, HttpRequest, HttpSource, SqsRecord};
use icebreak_engine::{BatchOutput, EngineError, Model, Scratch};
use icebreak_format::{aligned_static, Apr, FormatError, Labels, Task};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The kind of a [`LambdaError`]; its name is the `errorType` posted to the Runtime API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The event is not JSON, or not of a shape the function accepts.
    InvalidEvent,
    /// The event is well formed but its features are not (count, NaN, infinity, empty).
    InvalidInput,
    /// The embedded model is broken.
    InvalidModel,
    /// The answer would exceed the Runtime API's response limit.
    ResponseTooLarge,
}

impl ErrorKind {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "InvalidEvent",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::InvalidModel => "InvalidModel",
            ErrorKind::ResponseTooLarge => "ResponseTooLarge",
        }
    }
}

/// A function error: posted to the Runtime API as `{"errorMessage", "errorType"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaError {
    kind: ErrorKind,
    message: String,
}

impl LambdaError {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LambdaError {
            kind,
            message: message.into(),
        }
    }
    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The body posted to `/error` and `/init/error`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"errorMessage":"unserialisable error","errorType":"InvalidEvent"}"#.to_vec()
        })
    }
}

impl Serialize for LambdaError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("errorMessage", &self.message)?;
        m.serialize_entry("errorType", self.kind.as_str())?;
        m.end()
    }
}

impl fmt::Display for LambdaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for LambdaError {}

impl From<FormatError> for LambdaError {
    fn from(e: FormatError) -> Self {
        LambdaError::new(
            ErrorKind::InvalidModel,
            format!("embedded model is invalid: {e}"),
        )
    }
}

impl From<EngineError> for LambdaError {
    fn from(e: EngineError) -> Self {
        LambdaError::new(ErrorKind::InvalidInput, e.to_string())
    }
}

/// One instance to predict: its features, NaN marking a missing value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LambdaRequest {
    /// Feature values, in the model's order.
    pub features: Vec<f64>,
}

/// A class label as the source model has it, or a predicted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// An integer class label.
    IntLabel(i64),
    /// A string class label.
    StrLabel(&'static str),
    /// One regression value.
    Value(f32),
    /// Several regression values.
    Values(Vec<f32>),
}

impl Serialize for Prediction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Prediction::IntLabel(v) => s.serialize_i64(*v),
            Prediction::StrLabel(v) => s.serialize_str(v),
            Prediction::Value(v) => s.serialize_f32(*v),
            Prediction::Values(v) => v.serialize(s),
        }
    }
}

/// The answer to one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LambdaResponse {
    /// The class label (as in the source model) or the value(s).
    pub prediction: Prediction,
    /// Class probabilities in class order, for classifiers that have them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<f32>>,
    /// Time spent in the handler, in milliseconds.
    pub latency_ms: f64,
    /// Whether this was the process's first invocation.
    pub cold_start: bool,
    /// The model's version.
    pub model_version: &'static str,
}

/// One item of a batch answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BatchItem {
    /// The instance's prediction.
    Ok {
        /// Label or value(s).
        prediction: Prediction,
        /// Probabilities, for classifiers.
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<Vec<f32>>,
    },
    /// Why this instance got no prediction.
    Err {
        /// The error.
        error: LambdaError,
    },
}

/// The answer to a batch: one item per instance, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResponse {
    /// One item per instance.
    pub predictions: Vec<BatchItem>,
    /// Time spent in the handler, in milliseconds.
    pub latency_ms: f64,
    /// Whether this was the process's first invocation.
    pub cold_start: bool,
    /// The model's version.
    pub model_version: &'static str,
}

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

/// Largest HTTP body accepted unless `ICEBREAK_MAX_BODY_BYTES` says otherwise (1 MiB).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

thread_local! {
    static SCRATCH: RefCell<(Scratch, BatchOutput)> = RefCell::new(Default::default());
}

/// Serves one embedded model.
///
/// Creating it checks the model's structure and builds no inference state; the runnable model
/// is created on the first invocation and kept in a [`OnceLock`].
pub struct LambdaHandler {
    apr: Apr<'static>,
    model: OnceLock<Model<'static>>,
    invoked: AtomicBool,
    created_at: Instant,
    init_ms: f64,
    check_ms: f64,
    metrics: OnceLock<ColdStartMetrics>,
    model_ms: OnceLock<f64>,
    first_inference_ms: OnceLock<f64>,
    max_body: usize,
}

impl fmt::Debug for LambdaHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaHandler")
            .field("model_version", &self.model_version())
            .field("n_features", &self.apr.input().n_features)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl LambdaHandler {
    /// Checks the magic and the structure of an embedded `.apr` model.
    ///
    /// Costs time proportional to the model's structure, never its weights. Bytes that are
    /// not 8-byte aligned (plain `include_bytes!`) are copied once; use
    /// [`icebreak_format::include_model!`] to avoid that copy.
    pub fn from_bytes(bytes: &'static [u8]) -> Result<LambdaHandler, LambdaError> {
        let start = clock::process_start();
        let t0 = Instant::now();
        let bytes = aligned_static(bytes);
        let apr = Apr::parse(bytes)?;
        let now = Instant::now();
        Ok(LambdaHandler {
            apr,
            model: OnceLock::new(),
            invoked: AtomicBool::new(false),
            created_at: now,
            init_ms: ms(now.saturating_duration_since(start)),
            check_ms: ms(now - t0),
            metrics: OnceLock::new(),
            model_ms: OnceLock::new(),
            first_inference_ms: OnceLock::new(),
            max_body: std::env::var("ICEBREAK_MAX_BODY_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_MAX_BODY),
        })
    }

    /// The parsed model file.
    pub fn apr(&self) -> &Apr<'static> {
        &self.apr
    }

    /// The model's version.
    pub fn model_version(&self) -> &'static str {
        self.apr.provenance().model_version
    }

    /// The cold-start breakdown, once the first invocation was answered.
    pub fn cold_start_metrics(&self) -> Option<ColdStartMetrics> {
        self.metrics.get().copied()
    }

    /// Whether the runnable model exists yet (it is created on the first invocation).
    pub fn is_model_loaded(&self) -> bool {
        self.model.get().is_some()
    }

    fn model(&self) -> &Model<'static> {
        self.model.get_or_init(|| {
            let t = Instant::now();
            let m = Model::new(&self.apr);
            let _ = self.model_ms.set(ms(t.elapsed()));
            m
        })
    }

    /// Marks the invocation; true for the first one.
    fn begin(&self) -> bool {
        !self.invoked.swap(true, Ordering::Relaxed)
    }

    /// Records the cold-start breakdown at the end of the first invocation, whether it
    /// succeeded or not. `t0`: when the invocation's handling began, so the time spent
    /// waiting for the first event is not counted.
    fn finish_cold(&self, t0: Instant) {
        let model_ms = self.model_ms.get().copied().unwrap_or(0.0);
        let _ = self.metrics.set(ColdStartMetrics {
            init_duration_ms: self.init_ms,
            model_load_ms: self.check_ms + model_ms,
            first_inference_ms: self.first_inference_ms.get().copied().unwrap_or(0.0),
            total_cold_start_ms: self.init_ms + ms(t0.elapsed()),
        });
    }

    /// Runs `f` as one top-level invocation: marks it, and records the cold start after the
    /// first one.
    fn invocation<T>(&self, f: impl FnOnce(bool, Instant) -> T) -> T {
        let t0 = Instant::now();
        let cold = self.begin();
        let out = f(cold, t0);
        if cold {
            self.finish_cold(t0);
        }
        out
    }

    /// Times an inference; the first one is the cold start's `first_inference_ms`.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        let _ = self.first_inference_ms.set(ms(t.elapsed()));
        out
    }

    /// The time the handler was created.
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    fn label(&self, class: usize) -> Prediction {
        match &self.apr.output().labels {
            Labels::Int(v) => Prediction::IntLabel(v.get(class).copied().unwrap_or(class as i64)),
            Labels::Str(s) => Prediction::StrLabel(s.get(class).unwrap_or("")),
            Labels::None => Prediction::IntLabel(class as i64),
        }
    }

    /// `values`: the pipeline's final outputs (a regression's prediction).
    fn to_prediction(
        &self,
        values: &[f32],
        probabilities: Option<&[f32]>,
        class: Option<usize>,
    ) -> (Prediction, Option<Vec<f32>>) {
        match (self.apr.output().task, class) {
            (Task::Classification, Some(c)) => (self.label(c), probabilities.map(<[f32]>::to_vec)),
            _ => match values {
                [v] => (Prediction::Value(*v), None),
                v => (Prediction::Values(v.to_vec()), None),
            },
        }
    }

    /// Answers one instance.
    pub fn handle(&self, req: &LambdaRequest) -> Result<LambdaResponse, LambdaError> {
        self.invocation(|cold, t0| self.handle_one(req, cold, t0))
    }

    fn handle_one(
        &self,
        req: &LambdaRequest,
        cold: bool,
        t0: Instant,
    ) -> Result<LambdaResponse, LambdaError> {
        let model = self.model();
        let (prediction, probabilities) = self.timed(|| {
            SCRATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let out = model.predict_row(&req.features, &mut guard.0)?;
                Ok::<_, LambdaError>(self.to_prediction(out.values, out.probabilities, out.class))
            })
        })?;
        Ok(LambdaResponse {
            prediction,
            probabilities,
            latency_ms: ms(t0.elapsed()),
            cold_start: cold,
            model_version: self.model_version(),
        })
    }

    /// Answers each instance on its own: a bad instance gets an error item and does not fail
    /// the others. Good instances go through the engine's batch path together.
    pub fn handle_batch(
        &self,
        instances: &[Result<LambdaRequest, LambdaError>],
    ) -> Result<BatchResponse, LambdaError> {
        self.invocation(|cold, t0| self.handle_many(instances, cold, t0))
    }

    fn handle_many(
        &self,
        instances: &[Result<LambdaRequest, LambdaError>],
        cold: bool,
        t0: Instant,
    ) -> Result<BatchResponse, LambdaError> {
        if instances.is_empty() {
            return Err(LambdaError::new(
                ErrorKind::InvalidInput,
                "\"instances\" is empty",
            ));
        }
        let model = self.model();
        let mut items: Vec<BatchItem> = Vec::with_capacity(instances.len());
        self.timed(|| {
            SCRATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let (_, batch) = &mut *guard;
                let mut flat = Vec::new();
                let mut good = Vec::new();
                for (i, inst) in instances.iter().enumerate() {
                    match inst {
                        Ok(req) => match model.check_row(&req.features) {
                            Ok(()) => {
                                flat.extend_from_slice(&req.features);
                                good.push(i);
                                items.push(BatchItem::Ok {
                                    prediction: Prediction::Value(0.0),
                                    probabilities: None,
                                });
                            }
                            Err(e) => items.push(BatchItem::Err { error: e.into() }),
                        },
                        Err(e) => items.push(BatchItem::Err { error: e.clone() }),
                    }
                }
                if good.is_empty() {
                    return Ok(());
                }
                model.predict_batch(&flat, batch)?;
                let (vw, pw) = (batch.value_width, batch.probability_width);
                for (k, &i) in good.iter().enumerate() {
                    let scores = &batch.values[k * vw..(k + 1) * vw];
                    let probs = (pw > 0).then(|| &batch.probabilities[k * pw..(k + 1) * pw]);
                    let class = batch.classes.get(k).copied();
                    let (prediction, probabilities) = self.to_prediction(scores, probs, class);
                    items[i] = BatchItem::Ok {
                        prediction,
                        probabilities,
                    };
                }
                Ok::<(), LambdaError>(())
            })
        })?;
        Ok(BatchResponse {
            predictions: items,
            latency_ms: ms(t0.elapsed()),
            cold_start: cold,
            model_version: self.model_version(),
        })
    }

    /// Parses an event and answers it: the JSON body to post, or the function error.
    ///
    /// HTTP-shaped events always get an HTTP-shaped answer (errors become 4xx responses, not
    /// function errors); SQS batches get `batchItemFailures` listing the failed messages.
    pub fn handle_event(&self, event: &[u8]) -> Result<Vec<u8>, LambdaError> {
        self.invocation(
            |cold, t0| match crate::event::parse(event, self.n_features())? {
                Event::Single(req) => encode(&self.handle_one(&req, cold, t0)?),
                Event::Batch(items) => encode(&self.handle_many(&items, cold, t0)?),
                Event::Http(req) => encode(&self.http(&req, cold, t0)),
                Event::Sqs(records) => encode(&self.sqs(&records, cold, t0)),
            },
        )
    }

    fn n_features(&self) -> usize {
        self.apr.input().n_features as usize
    }

    /// Answers a direct event given as bytes (an HTTP body, an SQS message).
    fn answer_direct(
        &self,
        body: &[u8],
        cold: bool,
        t0: Instant,
    ) -> Result<(Vec<u8>, bool), LambdaError> {
        match crate::event::parse_direct(body, self.n_features())? {
            Event::Single(req) => Ok((encode(&self.handle_one(&req, cold, t0)?)?, true)),
            Event::Batch(items) => {
                let resp = self.handle_many(&items, cold, t0)?;
                let all_ok = resp
                    .predictions
                    .iter()
                    .all(|p| matches!(p, BatchItem::Ok { .. }));
                Ok((encode(&resp)?, all_ok))
            }
            Event::Http(_) | Event::Sqs(_) => Err(LambdaError::new(
                ErrorKind::InvalidEvent,
                "nested events are not accepted",
            )),
        }
    }

    /// Routes an HTTP request: `POST /` or `POST /predict` predicts; `GET /` or `GET /model`
    /// describes the model; other methods on those paths are 405, other paths 404.
    pub fn handle_http(&self, req: &HttpRequest) -> HttpResponse {
        self.invocation(|cold, t0| self.http(req, cold, t0))
    }

    fn http(&self, req: &HttpRequest, cold: bool, t0: Instant) -> HttpResponse {
        let path = req.path.trim_end_matches('/');
        let route = match path {
            "" | "/predict" => Route::Predict,
            "/model" => Route::Describe,
            _ => {
                return HttpResponse::error(
                    req.source,
                    404,
                    "NotFound",
                    &format!("no route for {}", req.path),
                )
            }
        };
        match (req.method.as_str(), route) {
            ("POST", Route::Predict) => {}
            ("GET" | "HEAD", Route::Describe) => {
                return HttpResponse::json(
                    req.source,
                    200,
                    encode(&self.describe()).unwrap_or_default(),
                )
            }
            ("GET" | "HEAD", Route::Predict) if path.is_empty() => {
                return HttpResponse::json(
                    req.source,
                    200,
                    encode(&self.describe()).unwrap_or_default(),
                )
            }
            (_, Route::Predict) => {
                let allow = if path.is_empty() {
                    "GET, HEAD, POST"
                } else {
                    "POST"
                };
                return HttpResponse::error(
                    req.source,
                    405,
                    "MethodNotAllowed",
                    &format!("{} is not allowed on {}", req.method, req.path),
                )
                .with_header("allow", allow);
            }
            (_, Route::Describe) => {
                return HttpResponse::error(
                    req.source,
                    405,
                    "MethodNotAllowed",
                    &format!("{} is not allowed on {}", req.method, req.path),
                )
                .with_header("allow", "GET, HEAD");
            }
        }
        if let Some(ct) = &req.content_type {
            if !ct.to_ascii_lowercase().contains("json") {
                return HttpResponse::error(
                    req.source,
                    415,
                    "UnsupportedMediaType",
                    &format!("content type {ct:?} is not JSON"),
                );
            }
        }
        let body = match &req.body {
            Ok(b) => b,
            Err(msg) => {
                return HttpResponse::error(req.source, 400, ErrorKind::InvalidEvent.as_str(), msg)
            }
        };
        if body.len() > self.max_body {
            return HttpResponse::error(
                req.source,
                413,
                "PayloadTooLarge",
                &format!(
                    "body of {} bytes exceeds the {}-byte limit (ICEBREAK_MAX_BODY_BYTES)",
                    body.len(),
                    self.max_body
                ),
            );
        }
        match self.answer_direct(body, cold, t0) {
            Ok((json, _)) => HttpResponse::json(req.source, 200, json),
            Err(e) => HttpResponse::error(req.source, 400, e.kind().as_str(), e.message()),
        }
    }

    /// Answers each SQS message; failed ones are listed in `batchItemFailures` so only they
    /// are retried. Each answer is logged with its message id.
    pub fn handle_sqs(&self, records: &[SqsRecord]) -> SqsBatchResponse {
        self.invocation(|cold, t0| self.sqs(records, cold, t0))
    }

    fn sqs(&self, records: &[SqsRecord], cold: bool, t0: Instant) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let id = &r.message_id;
            let failed = match self.answer_direct(r.body.as_bytes(), cold && i == 0, t0) {
                Ok((json, ok)) => {
                    let (level, what) = if ok {
                        (crate::log::Level::Info, "prediction")
                    } else {
                        (crate::log::Level::Error, "some instances failed")
                    };
                    let json = String::from_utf8_lossy(&json);
                    crate::log::log(
                        level,
                        None,
                        format_args!("SQS message {id}: {what}: {json}"),
                    );
                    !ok
                }
                Err(e) => {
                    crate::log::log(
                        crate::log::Level::Error,
                        None,
                        format_args!("SQS message {id}: {e}"),
                    );
                    true
                }
            };
            if failed {
                failures.push(ItemFailure {
                    item_identifier: id.clone(),
                });
            }
        }
        SqsBatchResponse {
            batch_item_failures: failures,
        }
    }

    /// What the model is: served on `GET /model`.
    pub fn describe(&self) -> ModelInfo {
        let apr = &self.apr;
        let (task, classes) = match (&apr.output().labels, apr.output().task) {
            (Labels::Int(v), _) => (
                "classification",
                Some(v.iter().map(|&i| serde_json::json!(i)).collect()),
            ),
            (Labels::Str(s), _) => (
                "classification",
                Some(s.iter().map(|v| serde_json::json!(v)).collect()),
            ),
            (Labels::None, Task::Classification) => ("classification", None),
            (Labels::None, Task::Regression) => ("regression", None),
            (Labels::None, Task::Transform) => ("transform", None),
        };
        let p = apr.provenance();
        ModelInfo {
            model_version: p.model_version,
            model_name: p.model_name,
            task,
            n_features: apr.input().n_features,
            feature_names: apr.input().feature_names.map(|l| l.iter().collect()),
            missing_values: match apr.input().missing {
                icebreak_format::MissingValues::Reject => "rejected",
                icebreak_format::MissingValues::Nan => "null or NaN",
            },
            n_outputs: apr.output().n_outputs,
            classes,
            output_names: apr.output().output_names.map(|l| l.iter().collect()),
            stages: apr.stages().iter().map(|s| s.name()).collect(),
            source_format: p.source_format,
            converter: p.converter,
        }
    }
}

#[derive(Clone, Copy)]
enum Route {
    Predict,
    Describe,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, LambdaError> {
    serde_json::to_vec(v).map_err(|e| {
        LambdaError::new(
            ErrorKind::InvalidInput,
            format!("cannot encode the answer: {e}"),
        )
    })
}

/// The model description served on `GET /model`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Version.
    pub model_version: &'static str,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<&'static str>,
    /// `classification`, `regression` or `transform`.
    pub task: &'static str,
    /// Features per instance.
    pub n_features: u32,
    /// Feature names, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_names: Option<Vec<&'static str>>,
    /// Whether `null` features are accepted.
    pub missing_values: &'static str,
    /// Outputs (classes or targets).
    pub n_outputs: u32,
    /// Class labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<serde_json::Value>>,
    /// Output names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_names: Option<Vec<&'static str>>,
    /// Pipeline stages.
    pub stages: Vec<&'static str>,
    /// Source library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_format: Option<&'static str>,
    /// Converter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converter: Option<&'static str>,
}

/// An HTTP-shaped answer for API Gateway, Function URLs and ALBs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// Status code.
    pub status_code: u16,
    /// ALB only: e.g. `200 OK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    /// Headers.
    pub headers: std::collections::BTreeMap<&'static str, String>,
    /// The JSON body, as a string.
    pub body: String,
    /// Always false: bodies are JSON text.
    pub is_base64_encoded: bool,
}

impl HttpResponse {
    fn json(source: HttpSource, status: u16, body: Vec<u8>) -> HttpResponse {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("content-type", "application/json".to_owned());
        HttpResponse {
            status_code: status,
            status_description: (source == HttpSource::Alb)
                .then(|| format!("{status} {}", reason(status))),
            headers,
            body: String::from_utf8(body).unwrap_or_default(),
            is_base64_encoded: false,
        }
    }

    fn error(source: HttpSource, status: u16, error_type: &str, message: &str) -> HttpResponse {
        let body = serde_json::to_vec(
            &serde_json::json!({ "errorType": error_type, "errorMessage": message }),
        )
        .unwrap_or_default();
        HttpResponse::json(source, status, body)
    }

    fn with_header(mut self, name: &'static str, value: &str) -> HttpResponse {
        self.headers.insert(name, value.to_owned());
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        _ => "",
    }
}

/// One failed SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// The message id.
    pub item_identifier: String,
}

/// The answer to an SQS batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsBatchResponse {
    /// Exactly the messages that failed.
    pub batch_item_failures: Vec<ItemFailure>,
}
