//! The handler: serves one embedded model through the protocol's [`Predictor`], keeps the
//! cold-start bookkeeping, and answers each event shape (direct, HTTP-shaped, SQS).

use crate::events::http::{HttpRequest, HttpResponse};
use crate::events::sqs::{ItemFailure, SqsBatchResponse, SqsRecord};
use crate::events::{self, Event};
use crate::telemetry::clock;
use crate::telemetry::log::{self, Level};
use crate::telemetry::metrics::ColdStartMetrics;
use icebreak_format::limits::MAX_ANSWER_BYTES;
use icebreak_format::Embedded;
use icebreak_protocol::http::{self as rules, DEFAULT_MAX_BODY};
use icebreak_protocol::{
    parse_direct, BatchResponse, Direct, Error, ErrorKind, ModelInfo, Predictor, Request, Response,
};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The answer to one instance: the protocol's answer plus whether this was the process's
/// first invocation. Its JSON keeps the protocol's fields in order with `cold_start` before
/// `model_version`: `{"prediction", "probabilities"?, "latency_ms", "cold_start",
/// "model_version"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaResponse {
    /// Prediction, probabilities, latency and model version.
    pub response: Response,
    /// Whether this was the process's first invocation.
    pub cold_start: bool,
}

impl Serialize for LambdaResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.response;
        let mut m = s.serialize_struct("LambdaResponse", 7)?;
        m.serialize_field("prediction", &r.prediction)?;
        match &r.probabilities {
            Some(p) => m.serialize_field("probabilities", p)?,
            None => m.skip_field("probabilities")?,
        }
        match &r.contributions {
            Some(c) => m.serialize_field("contributions", c)?,
            None => m.skip_field("contributions")?,
        }
        match &r.reasons {
            Some(c) => m.serialize_field("reasons", c)?,
            None => m.skip_field("reasons")?,
        }
        m.serialize_field("latency_ms", &r.latency_ms)?;
        m.serialize_field("cold_start", &self.cold_start)?;
        m.serialize_field("model_version", r.model_version)?;
        m.end()
    }
}

/// The answer to a batch: one item per instance, in order, plus whether this was the
/// process's first invocation: `{"predictions", "latency_ms", "cold_start",
/// "model_version"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaBatchResponse {
    /// The items, latency and model version.
    pub response: BatchResponse,
    /// Whether this was the process's first invocation.
    pub cold_start: bool,
}

impl Serialize for LambdaBatchResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.response;
        let mut m = s.serialize_struct("LambdaBatchResponse", 4)?;
        m.serialize_field("predictions", &r.predictions)?;
        m.serialize_field("latency_ms", &r.latency_ms)?;
        m.serialize_field("cold_start", &self.cold_start)?;
        m.serialize_field("model_version", r.model_version)?;
        m.end()
    }
}

/// Serves one embedded model.
///
/// Creating it checks the model's structure and builds no inference state; the runnable model
/// is created on the first invocation.
pub struct LambdaHandler {
    predictor: Predictor,
    invoked: AtomicBool,
    created_at: Instant,
    init_ms: f64,
    check_ms: f64,
    metrics: OnceLock<ColdStartMetrics>,
    max_body: usize,
    /// Opening read every byte of the model (the mapped mode's full verification).
    read_at_open: bool,
}

impl fmt::Debug for LambdaHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaHandler")
            .field("model_version", &self.model_version())
            .field("n_features", &self.predictor.n_features())
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
    pub fn from_bytes(bytes: &'static [u8]) -> Result<LambdaHandler, Error> {
        Self::open(|| Predictor::from_bytes(bytes), false)
    }

    /// Opens a model verified by the build script and compiled in with
    /// [`icebreak_format::include_verified_model!`]: reads its structure only, never a node or
    /// a weight, so it costs the same whatever the model's size.
    pub fn from_embedded(model: Embedded) -> Result<LambdaHandler, Error> {
        Self::open(|| Predictor::from_embedded(model), false)
    }

    /// Maps the model file at `path` read-only and verifies it completely (checksum, every
    /// node and value rule): the mapped mode ([`crate::mapped`]). The mapping lives as long as
    /// the process.
    pub fn from_mapped(path: &std::path::Path) -> Result<LambdaHandler, Error> {
        Self::open(|| crate::mapped::open(path), true)
    }

    fn open(
        predictor: impl FnOnce() -> Result<Predictor, Error>,
        read_at_open: bool,
    ) -> Result<LambdaHandler, Error> {
        let start = clock::process_start();
        let t0 = Instant::now();
        let predictor = predictor()?;
        let now = Instant::now();
        Ok(LambdaHandler {
            predictor,
            invoked: AtomicBool::new(false),
            created_at: now,
            init_ms: ms(now.saturating_duration_since(start)),
            check_ms: ms(now - t0),
            metrics: OnceLock::new(),
            max_body: std::env::var("ICEBREAK_MAX_BODY_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_MAX_BODY),
            read_at_open,
        })
    }

    /// The model file's bytes, unless opening read them all (a mapped file, verified
    /// completely): what [`crate::prefetch`] pages in.
    pub(crate) fn unread_model(&self) -> Option<&'static [u8]> {
        (!self.read_at_open).then(|| self.predictor.apr().bytes())
    }

    /// Does the first answer's one-off work now, on the calling thread, without answering:
    /// creates the runnable model, sizes this thread's buffers and detects the CPU's kernels
    /// ([`icebreak_protocol::Predictor::prepare`]). The runtime calls it while its first
    /// `GET /next` is in flight, so the first answer does not wait for it. It reads no node
    /// or weight, cannot fail, changes no answer, and the first invocation is still the cold
    /// one (`cold_start`, [`LambdaHandler::cold_start_metrics`]).
    pub fn prepare(&self) {
        self.predictor.prepare();
    }

    /// The model's version.
    pub fn model_version(&self) -> &'static str {
        self.predictor.model_version()
    }

    /// What the model is: served on `GET /model`.
    pub fn describe(&self) -> ModelInfo {
        self.predictor.describe()
    }

    /// The cold-start breakdown, once the first invocation was answered.
    pub fn cold_start_metrics(&self) -> Option<ColdStartMetrics> {
        self.metrics.get().copied()
    }

    /// Whether the runnable model exists yet (it is created on the first invocation).
    pub fn is_model_loaded(&self) -> bool {
        self.predictor.is_model_loaded()
    }

    /// The time the handler was created.
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    /// Marks the invocation; true for the first one.
    fn begin(&self) -> bool {
        !self.invoked.swap(true, Ordering::Relaxed)
    }

    /// Records the cold-start breakdown at the end of the first invocation, whether it
    /// succeeded or not. `t0`: when the invocation's handling began, so the time spent
    /// waiting for the first event is not counted.
    fn finish_cold(&self, t0: Instant) {
        let model_ms = self.predictor.model_load_ms().unwrap_or(0.0);
        let _ = self.metrics.set(ColdStartMetrics {
            init_duration_ms: self.init_ms,
            model_load_ms: self.check_ms + model_ms,
            first_inference_ms: self.predictor.first_inference_ms().unwrap_or(0.0),
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

    /// Answers one instance.
    pub fn handle(&self, req: &Request) -> Result<LambdaResponse, Error> {
        self.invocation(|cold, t0| self.handle_one(req, cold, t0))
    }

    fn handle_one(&self, req: &Request, cold: bool, t0: Instant) -> Result<LambdaResponse, Error> {
        Ok(LambdaResponse {
            response: self.predictor.predict(req, t0)?,
            cold_start: cold,
        })
    }

    /// Answers each instance on its own: a bad instance gets an error item and does not fail
    /// the others. Good instances go through the engine's batch path together.
    pub fn handle_batch(
        &self,
        instances: &[Result<Request, Error>],
    ) -> Result<LambdaBatchResponse, Error> {
        self.invocation(|cold, t0| self.handle_many(instances, cold, t0))
    }

    fn handle_many(
        &self,
        instances: &[Result<Request, Error>],
        cold: bool,
        t0: Instant,
    ) -> Result<LambdaBatchResponse, Error> {
        Ok(LambdaBatchResponse {
            response: self.predictor.predict_batch(instances, t0)?,
            cold_start: cold,
        })
    }

    /// Parses an event and answers it: the JSON body to post, or the function error.
    ///
    /// HTTP-shaped events always get an HTTP-shaped answer (errors become 4xx responses, not
    /// function errors); SQS batches get `batchItemFailures` listing the failed messages.
    pub fn handle_event(&self, event: &[u8]) -> Result<Vec<u8>, Error> {
        self.invocation(
            |cold, t0| match events::parse(event, self.predictor.n_features())? {
                Event::Direct(Direct::Single(req)) => {
                    encode_within(&self.handle_one(&req, cold, t0)?, MAX_ANSWER_BYTES)
                }
                Event::Direct(Direct::Batch(items)) => self
                    .render_batch(&items, cold, t0, MAX_ANSWER_BYTES)
                    .map(|(json, _)| json),
                Event::Http(req) => {
                    // The envelope escapes the body: it is sized again, and an answer that
                    // does not fit is replaced by a small HTTP-shaped error.
                    let resp = self.http(&req, cold, t0);
                    encode_within(&resp, MAX_ANSWER_BYTES)
                        .or_else(|e| encode(&HttpResponse::error(req.source, &http_error(&e))))
                }
                Event::Sqs(records) => encode(&self.sqs(&records, cold, t0)),
            },
        )
    }

    /// Answers a direct event given as bytes (an HTTP body, an SQS message): the JSON answer
    /// and whether every instance got a prediction.
    fn answer_direct(
        &self,
        body: &[u8],
        cold: bool,
        t0: Instant,
    ) -> Result<(Vec<u8>, bool), Error> {
        match parse_direct(body, self.predictor.n_features())? {
            Direct::Single(req) => Ok((
                encode_within(&self.handle_one(&req, cold, t0)?, MAX_ANSWER_BYTES)?,
                true,
            )),
            Direct::Batch(items) => self.render_batch(&items, cold, t0, MAX_ANSWER_BYTES),
        }
    }

    /// Answers a batch into at most `limit` bytes of JSON, item by item: the instances go
    /// through the engine in chunks sized so a chunk's scores stay small whatever the model's
    /// width, and each item is rendered as soon as it is predicted. When the next item would
    /// pass `limit` the batch stops with one `ResponseTooLarge` error, so memory never holds
    /// more than `limit` bytes of answer. The bytes are exactly those of the
    /// [`LambdaBatchResponse`]; also returns whether every instance got a prediction.
    fn render_batch(
        &self,
        items: &[Result<Request, Error>],
        cold: bool,
        t0: Instant,
        limit: usize,
    ) -> Result<(Vec<u8>, bool), Error> {
        const PREFIX: &[u8] = b"{\"predictions\":[";
        if items.is_empty() {
            // The protocol's own error for an empty batch.
            self.handle_many(items, cold, t0)?;
        }
        let info = self.predictor.describe();
        let width = [
            info.n_features as usize,
            info.n_outputs as usize,
            info.classes.as_ref().map_or(0, Vec::len),
        ]
        .into_iter()
        .max()
        .unwrap_or(1)
        .max(1);
        // Explained items hold every feature's contribution: chunks shrink to match.
        let explained = items
            .iter()
            .any(|i| i.as_ref().is_ok_and(|r| r.explain.is_some()));
        let width = match explained.then(|| self.predictor.explanation_values()) {
            Some(Some(values)) => width.max(values),
            _ => width,
        };
        let rows = ((1usize << 16) / width).clamp(1, 1024);
        let mut out = Bounded::new(limit);
        let mut all_ok = true;
        write_all(&mut out, PREFIX)?;
        let mut first = true;
        for chunk in items.chunks(rows) {
            let resp = self.predictor.predict_batch(chunk, t0)?;
            all_ok &= resp.all_ok();
            for item in &resp.predictions {
                if !std::mem::take(&mut first) {
                    write_all(&mut out, b",")?;
                }
                serde_json::to_writer(&mut out, item).map_err(|e| encode_error(&out, &e))?;
            }
        }
        // The fields after the items, as the whole answer's serialisation writes them.
        let rest = encode(&LambdaBatchResponse {
            response: BatchResponse {
                predictions: Vec::new(),
                latency_ms: ms(t0.elapsed()),
                model_version: self.predictor.model_version(),
            },
            cold_start: cold,
        })?;
        let tail = rest.strip_prefix(PREFIX).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidModel,
                "internal: unexpected batch answer layout",
            )
        })?;
        write_all(&mut out, tail)?;
        Ok((out.buf, all_ok))
    }

    /// Routes an HTTP request: `POST /` or `POST /predict` predicts; `GET /` or `GET /model`
    /// describes the model; other methods on those paths are 405, other paths 404.
    fn http(&self, req: &HttpRequest, cold: bool, t0: Instant) -> HttpResponse {
        match self.route(req) {
            Ok(Route::Describe) => HttpResponse::json(
                req.source,
                200,
                encode(&self.describe()).unwrap_or_default(),
            ),
            Ok(Route::Predict(body)) => match self.answer_direct(body, cold, t0) {
                Ok((json, _)) => HttpResponse::json(req.source, 200, json),
                Err(e) => HttpResponse::error(req.source, &http_error(&e)),
            },
            Err(e) => HttpResponse::error(req.source, &e),
        }
    }

    /// What an HTTP request asks for, or the error answer the protocol's status rules give.
    fn route<'r>(&self, req: &'r HttpRequest) -> Result<Route<'r>, rules::HttpError> {
        let path = req.path.trim_end_matches('/');
        let refuse =
            |allow| Err(rules::method_not_allowed(&req.method, &req.path).with_allow(allow));
        match (path, req.method.as_str()) {
            ("" | "/model", "GET" | "HEAD") => return Ok(Route::Describe),
            ("" | "/predict", "POST") => {}
            ("", _) => return refuse("GET, HEAD, POST"),
            ("/predict", _) => return refuse("POST"),
            ("/model", _) => return refuse("GET, HEAD"),
            _ => return Err(rules::not_found(&req.method, &req.path)),
        }
        rules::check_content_type(req.content_type.as_deref().map(str::as_bytes))?;
        let body = req
            .body
            .as_ref()
            .map_err(|msg| rules::from_error(&Error::new(ErrorKind::InvalidEvent, msg.as_str())))?;
        rules::check_body_size(body.len() as u64, self.max_body)?;
        Ok(Route::Predict(body))
    }

    /// Answers each SQS message; failed ones are listed in `batchItemFailures` so only they
    /// are retried. Each answer is logged with its message id.
    fn sqs(&self, records: &[SqsRecord], cold: bool, t0: Instant) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let id = &r.message_id;
            let failed = match self.answer_direct(r.body.as_bytes(), cold && i == 0, t0) {
                Ok((json, ok)) => {
                    let (level, what) = if ok {
                        (Level::Info, "prediction")
                    } else {
                        (Level::Error, "some instances failed")
                    };
                    let json = String::from_utf8_lossy(&json);
                    log::log(
                        level,
                        None,
                        format_args!("SQS message {id}: {what}: {json}"),
                    );
                    !ok
                }
                Err(e) => {
                    log::log(Level::Error, None, format_args!("SQS message {id}: {e}"));
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
}

/// What an HTTP request asks for.
enum Route<'r> {
    /// A prediction of this body.
    Predict(&'r [u8]),
    /// The model's description.
    Describe,
}

/// A JSON buffer that refuses to grow past `limit` bytes, and reports a failed allocation as
/// an error rather than aborting.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
    /// Set when a write was refused for the limit.
    over: bool,
}

impl Bounded {
    fn new(limit: usize) -> Bounded {
        Bounded {
            buf: Vec::new(),
            limit,
            over: false,
        }
    }
}

impl io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(b.len()) > self.limit {
            self.over = true;
            return Err(io::Error::other("answer over the limit"));
        }
        self.buf
            .try_reserve(b.len())
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "out of memory"))?;
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The error of a refused write to `out`.
fn encode_error(out: &Bounded, e: &dyn fmt::Display) -> Error {
    if out.over {
        Error::new(
            ErrorKind::ResponseTooLarge,
            format!(
                "the answer would exceed the {}-byte response limit; send fewer instances",
                out.limit
            ),
        )
    } else {
        Error::new(
            ErrorKind::InvalidInput,
            format!("cannot encode the answer: {e}"),
        )
    }
}

fn write_all(out: &mut Bounded, b: &[u8]) -> Result<(), Error> {
    io::Write::write_all(out, b).map_err(|e| encode_error(out, &e))
}

/// Encodes `v` into at most `limit` bytes.
fn encode_within<T: Serialize>(v: &T, limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Bounded::new(limit);
    serde_json::to_writer(&mut out, v).map_err(|e| encode_error(&out, &e))?;
    Ok(out.buf)
}

/// The HTTP answer to an error: an answer too large is 413 (the request asked for too
/// much), the others follow the protocol's status rules.
fn http_error(e: &Error) -> rules::HttpError {
    if e.kind() == ErrorKind::ResponseTooLarge {
        rules::HttpError::new(413, e.kind().as_str(), e.message())
    } else {
        rules::from_error(e)
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("cannot encode the answer: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use icebreak_protocol::{BatchItem, Prediction};

    static MODEL: &[u8] = icebreak_format::include_model!("../../../examples/model.apr");

    /// `"latency_ms":<number>` replaced by `"latency_ms":0`, to compare two answers.
    fn without_latency(json: &[u8]) -> String {
        let s = String::from_utf8(json.to_vec()).unwrap();
        let (head, rest) = s.split_once("\"latency_ms\":").unwrap();
        let end = rest.find([',', '}']).unwrap();
        format!("{head}\"latency_ms\":0{}", &rest[end..])
    }

    #[test]
    fn a_batch_rendered_item_by_item_is_the_whole_answer_byte_for_byte() {
        let h = LambdaHandler::from_bytes(MODEL).unwrap();
        let row = vec!["1.5"; 30].join(",");
        let mut instances = vec![format!("{{\"features\":[{row}]}}"); 2500];
        instances[7] = r#"{"features":[1]}"#.into();
        instances[2000] = r#"{"nope":1}"#.into();
        let event = format!("{{\"instances\":[{}]}}", instances.join(","));
        let Direct::Batch(items) = parse_direct(event.as_bytes(), 30).unwrap() else {
            panic!("not a batch")
        };
        let t0 = Instant::now();
        let (streamed, all_ok) = h.render_batch(&items, false, t0, MAX_ANSWER_BYTES).unwrap();
        let whole = encode(&h.handle_many(&items, false, t0).unwrap()).unwrap();
        assert!(!all_ok);
        assert_eq!(without_latency(&streamed), without_latency(&whole));

        // Room for half of the answer: one ResponseTooLarge error.
        let e = h
            .render_batch(&items, false, t0, streamed.len() / 2)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ResponseTooLarge);
    }

    #[test]
    fn lambda_answers_put_cold_start_before_model_version() {
        let r = LambdaResponse {
            response: Response {
                prediction: Prediction::StrLabel("malignant"),
                probabilities: Some(icebreak_protocol::Numbers::owned(
                    vec![0.25, 0.75],
                    icebreak_format::Precision::F32,
                )),
                contributions: None,
                reasons: None,
                latency_ms: 0.5,
                model_version: "v1",
            },
            cold_start: true,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"prediction":"malignant","probabilities":[0.25,0.75],"latency_ms":0.5,"cold_start":true,"model_version":"v1"}"#
        );
        let r = LambdaResponse {
            response: Response {
                probabilities: None,
                ..r.response
            },
            cold_start: false,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"prediction":"malignant","latency_ms":0.5,"cold_start":false,"model_version":"v1"}"#
        );
        let b = LambdaBatchResponse {
            response: BatchResponse {
                predictions: vec![BatchItem::Ok {
                    prediction: Prediction::IntLabel(1),
                    probabilities: None,
                    contributions: None,
                    reasons: None,
                }],
                latency_ms: 0.5,
                model_version: "v1",
            },
            cold_start: false,
        };
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"predictions":[{"prediction":1}],"latency_ms":0.5,"cold_start":false,"model_version":"v1"}"#
        );
    }
}
