//! The router: endpoints, admission (concurrency limit and timeout), metrics and JSON errors.

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
use icebreak_protocol::{parse_direct, Direct};
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
        let secs = s.config.retry_after_secs;
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Overloaded",
            format!(
                "the server is handling its limit of {} requests; retry after {secs} s",
                s.config.max_concurrency
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
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

/// What a predict body asks for, read in a first pass that skips the features.
#[derive(Deserialize)]
struct Selector {
    #[serde(default)]
    model_id: Option<String>,
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

async fn predict(s: Shared, req: Request, shape: Shape) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_json_body(&parts.headers, body, s.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let model = match select(&s, &bytes) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let name = s.models.iter().nth(model).map_or("", |m| m.name());
    let header = HeaderValue::from_str(name).ok();
    let blocking = shape == Shape::Batch || s.config.spawn_blocking;
    let mut resp = if blocking {
        let state = s.clone();
        match tokio::task::spawn_blocking(move || answer(&state, model, &bytes, shape)).await {
            Ok(r) => r,
            Err(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("inference task failed: {e}"),
            )
            .into_response(),
        }
    } else {
        answer(&s, model, &bytes, shape)
    };
    if let Some(v) = header {
        resp.headers_mut().insert("x-icebreak-model", v);
    }
    resp.extensions_mut().insert(ModelIndex(model));
    resp
}

/// Checks the content type and reads the body within the size limit.
async fn read_json_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    // The protocol's rules: no content type is fine, one that is not JSON is 415; a body over
    // the limit is 413, refused before reading when its length is announced.
    rules::check_content_type(headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes))?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        rules::check_body_size(len, limit)?;
    }
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

/// Picks the model: `model_id` if given, else the only one.
fn select(s: &State, body: &[u8]) -> Result<usize, ApiError> {
    let names = || s.models.names().collect::<Vec<_>>().join(", ");
    // One model and no "model_id" anywhere in the body: nothing to choose, and the handler's
    // parser will report any malformation.
    if s.models.only().is_some() && !body.windows(8).any(|w| w == b"model_id") {
        return Ok(0);
    }
    let id = match serde_json::from_slice::<Selector>(body) {
        Ok(sel) => sel.model_id,
        // Not JSON or not an object: the protocol's parser words the error, for the first
        // model.
        Err(_) => {
            let first = s.models.iter().next().map_or(0, n_features);
            return Err(match parse_direct(body, first) {
                Err(e) => ApiError::from_protocol(&e),
                Ok(_) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidEvent",
                    "\"model_id\" must be a string",
                ),
            });
        }
    };
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

/// Parses the body with the protocol's parser and answers it.
fn answer(s: &State, model: usize, body: &[u8], shape: Shape) -> Response {
    let Some(m) = s.models.iter().nth(model) else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "no model",
        )
        .into_response();
    };
    let predictor = m.predictor();
    let encoded = match (parse_direct(body, n_features(m)), shape) {
        (Err(e), _) => return ApiError::from_protocol(&e).into_response(),
        (Ok(Direct::Single(req)), Shape::One) => predictor
            .predict(&req, Instant::now())
            .map(|r| serde_json::to_vec(&r).map_err(|e| e.to_string())),
        (Ok(Direct::Batch(items)), Shape::Batch) => predictor
            .predict_batch(&items, Instant::now())
            .map(|r| serde_json::to_vec(&r).map_err(|e| e.to_string())),
        (Ok(Direct::Batch(_)), Shape::One) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidEvent",
                "POST /predict takes one instance, {\"features\": [...]}; send \"instances\" to POST /predict/batch",
            )
            .into_response()
        }
        (Ok(Direct::Single(_)), Shape::Batch) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidEvent",
                "POST /predict/batch takes {\"instances\": [{\"features\": [...]}, ...]}; send one instance to POST /predict",
            )
            .into_response()
        }
    };
    match encoded {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(e)) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("cannot encode the answer: {e}"),
        )
        .into_response(),
        Err(e) => ApiError::from_protocol(&e).into_response(),
    }
}
