//! The router: endpoints, admission (concurrency limit and timeout), metrics and JSON errors.

use crate::budget::{Cost, HeldBody, Hold, Refused};
use crate::error::{json_response, ApiError, ErrorType};
use crate::metrics::ROUTES;
use crate::models::ServedModel;
use crate::State;
use axum::body::Body;
use axum::extract::{Request, State as Ctx};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use icebreak_protocol::http as rules;
use icebreak_protocol::{json_error, parse_direct, Direct};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

type Shared = Arc<State>;

/// The index of the model a response was answered by, kept in its extensions for metrics
/// and logs.
#[derive(Clone, Copy)]
struct ModelIndex(usize);

pub(crate) fn router(state: Shared) -> Router {
    let predict = Router::new()
        .route("/predict", post(predict_one))
        .route("/predict/batch", post(predict_batch))
        .route_layer(middleware::from_fn_with_state(state.clone(), admit));
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/models", get(models))
        .route("/metrics", get(metrics))
        .merge(predict)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// A fixed label per route (an index into [`ROUTES`]), so unknown paths cannot grow the
/// metrics without bound.
fn route_index(path: &str) -> usize {
    ROUTES[..ROUTES.len() - 1]
        .iter()
        .position(|r| *r == path)
        .unwrap_or(ROUTES.len() - 1)
}

/// Counts and times every request, keeps the in-flight gauge, logs, and gives the router's
/// own empty 405 answers a JSON body (keeping their `Allow` header).
async fn observe(Ctx(s): Ctx<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route_ix = route_index(req.uri().path());
    let route = ROUTES[route_ix];
    let method = req.method().clone();
    s.in_flight.fetch_add(1, Ordering::SeqCst);
    s.metrics.in_flight(1.0);
    let _done = InFlight(&s);
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && resp.extensions().get::<ErrorType>().is_none()
    {
        let allow = resp.headers().get(header::ALLOW).cloned();
        let mut err = ApiError::from(rules::method_not_allowed(method.as_str(), route));
        if let Some(allow) = allow {
            err = err.with_header(header::ALLOW, allow);
        }
        resp = err.into_response();
    }
    let took = t0.elapsed();
    let status = resp.status().as_u16();
    let model_ix = resp.extensions().get::<ModelIndex>().map(|m| m.0);
    let model = s.metrics.model_name(model_ix);
    let error_type = resp.extensions().get::<ErrorType>().map(|e| e.0);
    s.metrics.answered(
        route_ix,
        model_ix,
        status,
        error_type.filter(|_| status >= 400),
        took,
    );
    if status >= 500 && status != 503 {
        tracing::error!(%method, route, model, status, error_type, "request failed");
    } else {
        tracing::debug!(
            %method,
            route,
            model,
            status,
            error_type,
            latency_us = took.as_micros() as u64,
            "request"
        );
    }
    resp
}

/// Lowers the in-flight count when the request is answered or dropped.
struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.in_flight(-1.0);
    }
}

/// The predict routes' admission: at most `max_concurrency` at once, the rest shed with 503
/// and `Retry-After`; each admitted request has `request_timeout` to be answered (408).
async fn admit(Ctx(s): Ctx<Shared>, req: Request, next: Next) -> Response {
    let Ok(_permit) = s.permits.clone().try_acquire_owned() else {
        s.metrics.shed();
        return overloaded(
            &s,
            format!(
                "the server is handling its limit of {} requests; retry after {} s",
                s.config.max_concurrency, s.config.retry_after_secs
            ),
        )
        .into_response();
    };
    let limit = s.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        // Inference never yields, so the only awaits that can run out of time are reading
        // the body and waiting for the blocking pool: the client was too slow, or we were.
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request was not received and answered within {} ms",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

async fn health() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

async fn ready(Ctx(s): Ctx<Shared>) -> Response {
    let names: Vec<&str> = s.models.names().collect();
    let (status, state) = if s.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if s.models.iter().all(ServedModel::is_ready) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "loading")
    };
    let body = serde_json::to_vec(&serde_json::json!({ "status": state, "models": names }))
        .unwrap_or_default();
    json_response(status, body)
}

async fn models(Ctx(s): Ctx<Shared>) -> Response {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        name: &'a str,
        #[serde(flatten)]
        info: &'a icebreak_protocol::ModelInfo,
        load_ms: f64,
    }
    let list: Vec<Entry<'_>> = s
        .models
        .iter()
        .map(|m| Entry {
            name: m.name(),
            info: m.info(),
            load_ms: m.load_time().as_secs_f64() * 1e3,
        })
        .collect();
    match serde_json::to_vec(&serde_json::json!({ "models": list })) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("cannot encode the model list: {e}"),
        )
        .into_response(),
    }
}

async fn metrics(Ctx(s): Ctx<Shared>) -> Response {
    s.metrics.reserved(s.budget.total() - s.budget.available());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn not_found(method: Method, req: Request) -> Response {
    ApiError::from(rules::not_found(method.as_str(), req.uri().path())).into_response()
}

/// What a predict body asks for, read in a first pass that allocates nothing but the
/// `model_id`: the model, and how many instances (so the answer can be sized before it is
/// built).
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    instances: Option<Count>,
}

/// The length of a JSON array, counted without keeping its elements.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Count, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    One,
    Batch,
}

async fn predict_one(Ctx(s): Ctx<Shared>, req: Request) -> Response {
    predict(s, req, Shape::One).await
}

async fn predict_batch(Ctx(s): Ctx<Shared>, req: Request) -> Response {
    predict(s, req, Shape::Batch).await
}

/// Reserves `bytes` of the admission budget: 503 (with `Retry-After`) while other requests
/// hold it, 413 if it is more than the whole budget.
fn reserve(s: &State, bytes: usize) -> Result<Hold, ApiError> {
    s.budget.try_reserve(bytes).map_err(|why| match why {
        Refused::Busy => {
            s.metrics.shed();
            overloaded(
                s,
                format!(
                    "the server's memory budget ({} bytes) is reserved by requests in progress; retry after {} s",
                    s.budget.total(),
                    s.config.retry_after_secs
                ),
            )
        }
        Refused::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!(
                "this request may need {bytes} bytes of memory, more than the server's whole budget of {} bytes; send a smaller request",
                s.budget.total()
            ),
        ),
    })
}

fn overloaded(s: &State, message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Overloaded", message).with_header(
        header::RETRY_AFTER,
        HeaderValue::from(s.config.retry_after_secs),
    )
}

async fn predict(s: Shared, req: Request, shape: Shape) -> Response {
    let (parts, body) = req.into_parts();
    let limit = s.config.max_body_bytes;
    // The body's memory is reserved before it is read: its announced length, or the limit
    // for a chunked body (returned as soon as its real length is known).
    let announced = match check_json_body(&parts.headers, limit) {
        Ok(len) => len,
        Err(e) => return e.into_response(),
    };
    let mut hold = match reserve(&s, announced.unwrap_or(limit)) {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    let bytes = match read_body(body, limit).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    hold.shrink_to(bytes.len());
    let blocking = shape == Shape::Batch
        || s.config.spawn_blocking
        || bytes.len() > s.config.blocking_body_bytes;
    let handled = if blocking {
        // Waits for a turn (the request's timeout still runs): the CPU-heavy work never
        // takes every CPU from the async workers.
        let Ok(_turn) = s.blocking.acquire().await else {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the blocking pool is closed",
            )
            .into_response();
        };
        s.metrics.offloaded();
        let state = s.clone();
        let heavy = move || {
            background_priority();
            handle(&state, &bytes, shape, hold)
        };
        match tokio::task::spawn_blocking(heavy).await {
            Ok(r) => r,
            Err(e) => Handled {
                model: None,
                response: ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    format!("inference task failed: {e}"),
                )
                .into_response(),
            },
        }
    } else {
        handle(&s, &bytes, shape, hold)
    };
    let mut resp = handled.response;
    if let Some(model) = handled.model {
        if let Some(v) = s
            .models
            .iter()
            .nth(model)
            .and_then(|m| HeaderValue::from_str(m.name()).ok())
        {
            resp.headers_mut().insert("x-icebreak-model", v);
        }
        resp.extensions_mut().insert(ModelIndex(model));
    }
    resp
}

/// Lowers the calling thread's priority once (to nice 10, Linux): a blocking-pool thread that
/// parses and predicts a large request yields the CPU to the async workers whenever they
/// have something to answer. Raising one's own nice value needs no privilege; a failure
/// leaves the priority as it was.
fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        thread_local! {
            static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        LOWERED.with(|done| {
            if !done.get() {
                done.set(true);
                // `None`: the calling thread (Linux keeps a nice value per thread). Never
                // raised: a process already started nicer stays as nice.
                if rustix::process::getpriority_process(None).is_ok_and(|now| now < 10) {
                    let _ = rustix::process::setpriority_process(None, 10);
                }
            }
        });
    }
}

/// An answer, and the model that gave it (none when refused before a model was chosen).
struct Handled {
    model: Option<usize>,
    response: Response,
}

/// Checks the content type and the announced length; returns the announced length.
fn check_json_body(headers: &HeaderMap, limit: usize) -> Result<Option<usize>, ApiError> {
    // The protocol's rules: no content type is fine, one that is not JSON is 415; a body over
    // the limit is 413, refused before reading when its length is announced.
    rules::check_content_type(headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes))?;
    let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(None);
    };
    rules::check_body_size(len, limit)?;
    Ok(Some(usize::try_from(len).unwrap_or(limit)))
}

/// Reads the body within the size limit.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(rules::payload_too_large(None, limit).into())
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEvent",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// Whether a body can skip the first pass: no `model_id` and no `instances` anywhere, and
/// no backslash (a key can be spelled with escapes: `"model\u005fid"` is `"model_id"`).
fn plain_single(body: &[u8]) -> bool {
    !body.contains(&b'\\')
        && !body.windows(8).any(|w| w == b"model_id")
        && !body.windows(9).any(|w| w == b"instances")
}

/// Chooses the model, sizes the answer, reserves its memory, then parses, predicts and
/// encodes: on the blocking pool for batches and large bodies.
fn handle(s: &State, body: &[u8], shape: Shape, mut hold: Hold) -> Handled {
    let refused = |e: ApiError| Handled {
        model: None,
        response: e.into_response(),
    };
    // One model and a plain single instance: nothing to choose or count.
    let (id, instances) = if s.models.only().is_some() && shape == Shape::One && plain_single(body)
    {
        (None, 1)
    } else {
        match serde_json::from_slice::<Peek>(body) {
            Ok(p) => (p.model_id, p.instances.map_or(1, |c| c.0)),
            // Not JSON: the protocol's words, which depend only on the text.
            Err(e) if !e.is_data() => {
                return refused(ApiError::from_protocol(&json_error(e, body)));
            }
            // JSON of the wrong shape: the protocol's parser words the error, for the first
            // model, within the memory its parse may take.
            Err(_) => {
                match reserve(s, Cost::of(0, body.len(), 0).memory) {
                    Ok(h) => hold.merge(h),
                    Err(e) => return refused(e),
                }
                let first = s.models.iter().next().map_or(0, n_features);
                return refused(match parse_direct(body, first) {
                    Err(e) => ApiError::from_protocol(&e),
                    Ok(_) => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidEvent",
                        "\"model_id\" must be a string",
                    ),
                });
            }
        }
    };
    let model = match select(s, id) {
        Ok(m) => m,
        Err(e) => return refused(e),
    };
    let answered = |response: Response| Handled {
        model: Some(model),
        response,
    };
    // An explained answer is larger: any mention of "explain" (or an escape that could spell
    // it) sizes the answer as explained.
    let explained = body.contains(&b'\\') || body.windows(7).any(|w| w == b"explain");
    let item = if explained {
        s.explained_item_json[model]
    } else {
        s.item_json[model]
    };
    let cost = Cost::of(instances, body.len(), item);
    if cost.answer > s.config.max_answer_bytes {
        return answered(
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                format!(
                    "the answer to {instances} instances could take up to {} bytes, over the limit of {} bytes; send fewer instances per request",
                    cost.answer, s.config.max_answer_bytes
                ),
            )
            .into_response(),
        );
    }
    match reserve(s, cost.memory) {
        Ok(h) => hold.merge(h),
        Err(e) => return answered(e.into_response()),
    }
    match answer(s, model, body, shape) {
        Ok(json) => {
            // The parse and the predictions are gone: keep what the answer holds until the
            // connection has taken it.
            hold.shrink_to(json.len());
            let mut resp = Response::new(Body::new(HeldBody::new(json, hold)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            answered(resp)
        }
        Err(e) => answered(e.into_response()),
    }
}

/// Picks the model: `model_id` if given, else the only one.
fn select(s: &State, id: Option<String>) -> Result<usize, ApiError> {
    let names = || s.models.names().collect::<Vec<_>>().join(", ");
    match id {
        Some(id) => s.models.iter().position(|m| m.name() == id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ModelNotFound",
                format!("no model {id:?}; models: {}", names()),
            )
        }),
        None if s.models.only().is_some() => Ok(0),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEvent",
            format!(
                "\"model_id\" is required when several models are served: {}",
                names()
            ),
        )),
    }
}

fn n_features(m: &ServedModel) -> usize {
    m.info().n_features as usize
}

/// Parses the body with the protocol's parser and encodes its answer.
fn answer(s: &State, model: usize, body: &[u8], shape: Shape) -> Result<Vec<u8>, ApiError> {
    let Some(m) = s.models.iter().nth(model) else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "no model",
        ));
    };
    let predictor = m.predictor();
    let encoded = match (parse_direct(body, n_features(m)), shape) {
        (Err(e), _) => return Err(ApiError::from_protocol(&e)),
        (Ok(Direct::Single(req)), Shape::One) => predictor
            .predict(&req, Instant::now())
            .map(|r| serde_json::to_vec(&r)),
        (Ok(Direct::Batch(items)), Shape::Batch) => predictor
            .predict_batch_threads(&items, Instant::now(), s.config.batch_threads)
            .map(|r| serde_json::to_vec(&r)),
        (Ok(Direct::Batch(_)), Shape::One) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidEvent",
                "POST /predict takes one instance, {\"features\": [...]}; send \"instances\" to POST /predict/batch",
            ))
        }
        (Ok(Direct::Single(_)), Shape::Batch) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidEvent",
                "POST /predict/batch takes {\"instances\": [{\"features\": [...]}, ...]}; send one instance to POST /predict",
            ))
        }
    };
    match encoded {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("cannot encode the answer: {e}"),
        )),
        Err(e) => Err(ApiError::from_protocol(&e)),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn background_priority_lowers_the_calling_thread_only() {
        let mine = rustix::process::getpriority_process(None).unwrap();
        let theirs = std::thread::spawn(|| {
            background_priority();
            background_priority();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(theirs, mine.max(10));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), mine);
    }
}
