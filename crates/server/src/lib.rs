//! HTTP serving of icebreak models, for containers and long-running hosts: the `server`
//! feature of `icebreak` and the engine behind `icebreak serve`.
//!
//! The requests and answers are those of the icebreak protocol ([`icebreak_protocol`]), as on
//! Lambda: the same `{"features": [...]}` and `{"instances": [...]}` bodies, the same answer
//! JSON (without Lambda's `cold_start`), the same `{"errorMessage", "errorType"}` errors and
//! HTTP status rules. Several models can be served at once; a request
//! chooses one with `"model_id"`.
//!
//! ```no_run
//! use icebreak_server::{Config, ModelSpec, Models, Server};
//!
//! # async fn run() -> Result<(), icebreak_server::ServeError> {
//! let models = Models::load(&[ModelSpec::parse("cancer=examples/model.apr")?])?;
//! let server = Server::new(models, Config::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080")
//!     .await
//!     .map_err(|e| icebreak_server::ServeError::Io(e))?;
//! server.serve(listener, icebreak_server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//! | route | answer |
//! |---|---|
//! | `GET /health` | liveness: 200 while the process serves |
//! | `GET /ready` | 200 when every model is loaded and validated, 503 while draining |
//! | `POST /predict` | one instance |
//! | `POST /predict/batch` | `instances`, one item per instance |
//! | `GET /models` | names, versions, input and output schemas, load times |
//! | `GET /metrics` | Prometheus text format |
//!
//! docs/SERVER.md in the repository lists the status codes, limits and metric names.
//!
//! # Limits
//! [`Config`] holds them: a body size limit (413), a per-request timeout (408), a
//! concurrency limit on the predict routes beyond which requests are shed at once with 503 and
//! `Retry-After`, an admission budget in bytes (a request reserves the worst case of its
//! parsing and answer before spending it; 503 when the budget is spent), a limit on the size
//! of an answer (413 before any work), a connection cap, a header-read deadline and an idle
//! timeout. [`Server::serve`] drains in-flight requests on shutdown, closes the connections
//! that have none, and refuses new ones.
//!
//! # Inference on the async workers
//! A single prediction runs inline on the tokio worker: it takes microseconds, less than a
//! hand-off to the blocking pool costs (docs/BENCHMARKS.md has the measurement). A batch can
//! be as large as the body limit allows, so it is parsed and predicted on the blocking pool,
//! where it cannot stall the other connections of its worker; so is a single prediction whose
//! body is over [`Config::blocking_body_bytes`].

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod budget;
mod conn;
mod error;
mod metrics;
mod models;
mod routes;

pub use error::ServeError;
pub use models::{ModelSpec, Models, ServedModel};

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Limits and behaviour of a [`Server`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest request body accepted, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Longest time a predict request may take, body included (longer: 408).
    pub request_timeout: Duration,
    /// Predict requests handled at once; more are shed with 503.
    pub max_concurrency: usize,
    /// The `Retry-After` sent with a 503, in seconds.
    pub retry_after_secs: u32,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_timeout: Duration,
    /// Run single predictions on tokio's blocking pool instead of inline (slower for small
    /// models; there for measurement and for unusually heavy models).
    pub spawn_blocking: bool,
    /// Bytes of memory that requests in progress may reserve together: each predict request
    /// reserves the worst case of parsing its body and building its answer, and is refused
    /// with 503 when the budget has no room.
    pub memory_budget_bytes: usize,
    /// Largest answer a request may produce, judged from its instance count before any work
    /// (larger: 413).
    pub max_answer_bytes: usize,
    /// `/predict` bodies larger than this are parsed and predicted on the blocking pool.
    pub blocking_body_bytes: usize,
    /// Requests parsed and predicted on the blocking pool at once (batches and large bodies);
    /// the others wait for a turn, within [`Config::request_timeout`]. The default, one less
    /// than the CPUs (at least 1), leaves a CPU to the async workers that answer everything
    /// else.
    pub max_blocking: usize,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's head (request line and headers) from its first
    /// byte (from the connection's acceptance, for its first request); then the connection
    /// is closed.
    pub header_read_timeout: Duration,
    /// Time a connection may stay without a byte read or written while no request is being
    /// handled (kept-alive and waiting, or an answer the client does not read); then it is
    /// closed.
    pub idle_timeout: Duration,
    /// Threads one `/predict/batch` request is predicted on (1, the default, to 256): the
    /// engine cuts a batch into one part per thread (at least 64 rows each), and the answers
    /// are the same bits whatever the count. Each request still takes one blocking-pool
    /// turn ([`Config::max_blocking`]), so a server answers at most `max_blocking ×
    /// batch_threads` rows at once.
    pub batch_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: icebreak_protocol::http::DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(10),
            max_concurrency: 256,
            retry_after_secs: 1,
            shutdown_timeout: Duration::from_secs(25),
            spawn_blocking: false,
            memory_budget_bytes: 256 * 1024 * 1024,
            max_answer_bytes: 16 * 1024 * 1024,
            blocking_body_bytes: 16 * 1024,
            max_blocking: std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(65),
            batch_threads: 1,
        }
    }
}

impl Config {
    /// Sets [`Config::batch_threads`] (1 to 256).
    pub fn batch_threads(mut self, v: usize) -> Self {
        self.batch_threads = v.clamp(1, 256);
        self
    }
    /// Sets [`Config::max_body_bytes`].
    pub fn max_body_bytes(mut self, v: usize) -> Self {
        self.max_body_bytes = v;
        self
    }
    /// Sets [`Config::request_timeout`].
    pub fn request_timeout(mut self, v: Duration) -> Self {
        self.request_timeout = v;
        self
    }
    /// Sets [`Config::max_concurrency`] (at least 1).
    pub fn max_concurrency(mut self, v: usize) -> Self {
        self.max_concurrency = v.max(1);
        self
    }
    /// Sets [`Config::retry_after_secs`].
    pub fn retry_after_secs(mut self, v: u32) -> Self {
        self.retry_after_secs = v;
        self
    }
    /// Sets [`Config::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, v: Duration) -> Self {
        self.shutdown_timeout = v;
        self
    }
    /// Sets [`Config::spawn_blocking`].
    pub fn spawn_blocking(mut self, v: bool) -> Self {
        self.spawn_blocking = v;
        self
    }
    /// Sets [`Config::memory_budget_bytes`].
    pub fn memory_budget_bytes(mut self, v: usize) -> Self {
        self.memory_budget_bytes = v;
        self
    }
    /// Sets [`Config::max_answer_bytes`].
    pub fn max_answer_bytes(mut self, v: usize) -> Self {
        self.max_answer_bytes = v;
        self
    }
    /// Sets [`Config::blocking_body_bytes`].
    pub fn blocking_body_bytes(mut self, v: usize) -> Self {
        self.blocking_body_bytes = v;
        self
    }
    /// Sets [`Config::max_blocking`] (at least 1).
    pub fn max_blocking(mut self, v: usize) -> Self {
        self.max_blocking = v.clamp(1, Semaphore::MAX_PERMITS);
        self
    }
    /// Sets [`Config::max_connections`] (at least 1).
    pub fn max_connections(mut self, v: usize) -> Self {
        self.max_connections = v.clamp(1, u32::MAX as usize);
        self
    }
    /// Sets [`Config::header_read_timeout`].
    pub fn header_read_timeout(mut self, v: Duration) -> Self {
        self.header_read_timeout = v;
        self
    }
    /// Sets [`Config::idle_timeout`].
    pub fn idle_timeout(mut self, v: Duration) -> Self {
        self.idle_timeout = v;
        self
    }
}

/// Everything a request handler sees.
pub(crate) struct State {
    pub(crate) models: Models,
    pub(crate) config: Config,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) budget: budget::Budget,
    /// Turns on the blocking pool ([`Config::max_blocking`]).
    pub(crate) blocking: Semaphore,
    /// Per model, the largest JSON of one successful batch item.
    pub(crate) item_json: Vec<usize>,
    /// Per model, the largest JSON of one explained item (`"explain"`).
    pub(crate) explained_item_json: Vec<usize>,
    pub(crate) draining: AtomicBool,
    pub(crate) in_flight: AtomicUsize,
}

/// The HTTP server: models, limits and metrics. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("models", &self.state.models.names().collect::<Vec<_>>())
            .field("config", &self.state.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `models`. Metrics are kept per server, not in a process-wide recorder,
    /// so several servers (in tests) do not mix their counters.
    pub fn new(models: Models, config: Config) -> Server {
        let metrics = metrics::Metrics::new(models.names().map(str::to_owned).collect());
        for m in models.iter() {
            metrics.model_loaded(m.name(), m.load_time());
        }
        let item_json = models
            .iter()
            .map(|m| {
                let info = m.info();
                let label = info.classes.as_ref().map_or(0, |c| {
                    c.iter()
                        .map(|l| serde_json::to_string(l).map_or(0, |s| s.len()))
                        .max()
                        .unwrap_or(0)
                });
                budget::ok_item_json(info.n_outputs as usize, label)
            })
            .collect();
        let explained_item_json = models
            .iter()
            .map(|m| {
                let info = m.info();
                let json_len = |v: &str| serde_json::to_string(v).map_or(0, |s| s.len());
                let label = info.classes.as_ref().map_or(0, |c| {
                    c.iter()
                        .map(|l| serde_json::to_string(l).map_or(0, |s| s.len()))
                        .max()
                        .unwrap_or(0)
                });
                let name = info
                    .feature_names
                    .as_ref()
                    .and_then(|n| n.iter().map(|s| json_len(s)).max())
                    .unwrap_or(0);
                budget::explained_item_json(
                    info.n_outputs as usize,
                    info.n_features as usize,
                    name,
                    label,
                )
            })
            .collect();
        Server {
            state: Arc::new(State {
                item_json,
                explained_item_json,
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                budget: budget::Budget::new(config.memory_budget_bytes),
                blocking: Semaphore::new(config.max_blocking),
                models,
                config,
                metrics,
                draining: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// The axum router, for embedding in another application. The connection cap and
    /// deadlines belong to [`Server::serve`]; the router keeps the per-request limits (body
    /// size, timeout, concurrency, memory budget).
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Requests being handled right now (every route).
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.state.draining.load(Ordering::SeqCst)
    }

    /// The `/metrics` text.
    pub fn render_metrics(&self) -> String {
        self.state.metrics.render()
    }

    /// Bytes of the memory budget reserved by requests right now.
    pub fn reserved_bytes(&self) -> usize {
        let b = &self.state.budget;
        b.total() - b.available()
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections,
    /// closes those with no request in flight, lets in-flight requests finish (up to
    /// [`Config::shutdown_timeout`]) and returns.
    ///
    /// Each connection is served by hyper's HTTP/1.1 server on a task of its own, within
    /// [`Config::max_connections`], [`Config::header_read_timeout`] and
    /// [`Config::idle_timeout`].
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let state = self.state.clone();
        // Histograms keep their samples until upkeep folds them into buckets: without this
        // a long-running server's memory grows with its request count.
        let upkeep = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    state.metrics.upkeep();
                }
            })
        };
        let result = conn::serve(state, self.router(), listener, shutdown)
            .await
            .map_err(ServeError::Io);
        upkeep.abort();
        if result.is_ok() {
            tracing::info!("stopped");
        }
        result
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT): what containers and terminals send.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "signal received"),
        () = term => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}
