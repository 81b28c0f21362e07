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
//! [`Config`] holds them: a body size limit (413), a per-request timeout (408), and a
//! concurrency limit on the predict routes beyond which requests are shed at once with 503 and
//! `Retry-After`. [`Server::serve`] drains in-flight requests on shutdown and refuses new ones.
//!
//! # Inference on the async workers
//! A single prediction runs inline on the tokio worker: it takes microseconds, less than a
//! hand-off to the blocking pool costs (docs/BENCHMARKS.md has the measurement). A batch can
//! be as large as the body limit allows, so it is parsed and predicted on the blocking pool,
//! where it cannot stall the other connections of its worker.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

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
use tokio::sync::{Notify, Semaphore};

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
        }
    }
}

impl Config {
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
}

/// Everything a request handler sees.
pub(crate) struct State {
    pub(crate) models: Models,
    pub(crate) config: Config,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) permits: Arc<Semaphore>,
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
        Server {
            state: Arc::new(State {
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                models,
                config,
                metrics,
                draining: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// The axum router, for embedding in another application.
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

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections,
    /// lets in-flight requests finish (up to [`Config::shutdown_timeout`]) and returns.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let state = self.state.clone();
        let drained = Arc::new(Notify::new());
        let signalled = {
            let state = state.clone();
            let drained = drained.clone();
            async move {
                shutdown.await;
                state.draining.store(true, Ordering::SeqCst);
                tracing::info!(
                    in_flight = state.in_flight.load(Ordering::SeqCst),
                    "shutting down: refusing new connections, draining in-flight requests"
                );
                drained.notify_one();
            }
        };
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
        let app = self.router();
        let serving = axum::serve(listener, app).with_graceful_shutdown(signalled);
        let grace = state.config.shutdown_timeout;
        let result = tokio::select! {
            r = serving => r.map_err(ServeError::Io),
            () = async { drained.notified().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(
                    in_flight = state.in_flight.load(Ordering::SeqCst),
                    timeout_ms = grace.as_millis() as u64,
                    "shutdown timeout: abandoning in-flight requests"
                );
                Ok(())
            }
        };
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
