//! `icebreak serve MODEL.apr [MORE.apr ...]`: the HTTP server, for containers and hosts.

use icebreak_server::{Config, ModelSpec, Models, ServeError, Server};
use std::time::Duration;

/// Arguments of `icebreak serve`. Every limit can also be set by an environment variable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Models to serve: `PATH` (named by its file stem) or `NAME=PATH`.
    #[arg(required = true, value_name = "MODEL")]
    models: Vec<String>,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "ICEBREAK_PORT", default_value_t = 8080)]
    port: u16,
    /// Address to listen on; `0.0.0.0` in a container.
    #[arg(long, env = "ICEBREAK_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long, env = "ICEBREAK_MAX_BODY_BYTES", default_value_t = Config::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Per-request timeout of the predict routes, in milliseconds (408).
    #[arg(long, env = "ICEBREAK_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Predict requests handled at once; more are shed with 503 and Retry-After.
    #[arg(long, env = "ICEBREAK_MAX_CONCURRENCY", default_value_t = Config::default().max_concurrency)]
    max_concurrency: usize,
    /// Seconds in the Retry-After header of a 503.
    #[arg(long, env = "ICEBREAK_RETRY_AFTER_SECS", default_value_t = 1)]
    retry_after_secs: u32,
    /// On SIGTERM or Ctrl-C, how long to wait for in-flight requests, in milliseconds.
    #[arg(long, env = "ICEBREAK_SHUTDOWN_TIMEOUT_MS", default_value_t = 25_000)]
    shutdown_timeout_ms: u64,
    /// Run single predictions on tokio's blocking pool instead of inline (measured slower
    /// for small models; batches always use the pool).
    #[arg(long, env = "ICEBREAK_SPAWN_BLOCKING")]
    spawn_blocking: bool,
    /// Memory that predict requests in progress may reserve together, in bytes: each reserves
    /// the worst case of its parse and answer first (no room: 503 and Retry-After).
    #[arg(long, env = "ICEBREAK_MEMORY_BUDGET_BYTES", default_value_t = Config::default().memory_budget_bytes)]
    memory_budget_bytes: usize,
    /// Largest answer a request may produce, in bytes, judged before any work (larger: 413).
    #[arg(long, env = "ICEBREAK_MAX_ANSWER_BYTES", default_value_t = Config::default().max_answer_bytes)]
    max_answer_bytes: usize,
    /// `/predict` bodies larger than this many bytes are parsed on the blocking pool.
    #[arg(long, env = "ICEBREAK_BLOCKING_BODY_BYTES", default_value_t = Config::default().blocking_body_bytes)]
    blocking_body_bytes: usize,
    /// Requests parsed and predicted on the blocking pool at once (batches, large bodies);
    /// default: one less than the CPUs, at least 1.
    #[arg(long, env = "ICEBREAK_MAX_BLOCKING")]
    max_blocking: Option<usize>,
    /// Threads one `/predict/batch` request is predicted on (1 to 256; same answers whatever
    /// the count).
    #[arg(long, env = "ICEBREAK_BATCH_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    batch_threads: u32,
    /// Connections open at once; more are closed on arrival. Keep it below `ulimit -n`.
    #[arg(long, env = "ICEBREAK_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Time a client has to send a request's headers from their first byte (from connecting,
    /// for the first request), in milliseconds.
    #[arg(
        long,
        env = "ICEBREAK_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    header_read_timeout_ms: u64,
    /// Time a connection may stay without traffic while no request is handled, in
    /// milliseconds (above the load balancer's idle timeout: 60 s on an AWS ALB).
    #[arg(long, env = "ICEBREAK_IDLE_TIMEOUT_MS", default_value_t = 65_000)]
    idle_timeout_ms: u64,
    /// Tokio worker threads (default: one per CPU).
    #[arg(long, env = "ICEBREAK_WORKERS")]
    workers: Option<usize>,
    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, env = "ICEBREAK_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
    /// Log level: error, warn, info or debug (debug logs every request).
    #[arg(long, env = "ICEBREAK_LOG", default_value = "info")]
    log_level: tracing::Level,
}

fn init_logs(args: &Args) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stdout)
        .with_target(false);
    // A second subscriber (never, in this binary) would be refused; logs are not worth failing for.
    let _ = if args.log_format == "json" {
        tracing::subscriber::set_global_default(builder.json().flatten_event(true).finish())
    } else {
        tracing::subscriber::set_global_default(builder.with_ansi(false).finish())
    };
}

/// Loads the models, binds, and serves until SIGTERM or Ctrl-C.
pub fn run(args: Args) -> Result<(), ServeError> {
    init_logs(&args);
    let specs = args
        .models
        .iter()
        .map(|m| ModelSpec::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    let models = Models::load(&specs)?;
    let mut config = Config::default();
    if let Some(n) = args.max_blocking {
        config = config.max_blocking(n);
    }
    let config = config
        .batch_threads(args.batch_threads as usize)
        .max_body_bytes(args.max_body_bytes)
        .request_timeout(Duration::from_millis(args.request_timeout_ms))
        .max_concurrency(args.max_concurrency)
        .retry_after_secs(args.retry_after_secs)
        .shutdown_timeout(Duration::from_millis(args.shutdown_timeout_ms))
        .spawn_blocking(args.spawn_blocking)
        .memory_budget_bytes(args.memory_budget_bytes)
        .max_answer_bytes(args.max_answer_bytes)
        .blocking_body_bytes(args.blocking_body_bytes)
        .max_connections(args.max_connections)
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms))
        .idle_timeout(Duration::from_millis(args.idle_timeout_ms));
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().map_err(ServeError::Io)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(ServeError::Io)?;
        let addr = listener.local_addr().map_err(ServeError::Io)?;
        let server = Server::new(models, config.clone());
        tracing::info!(
            %addr,
            models = %specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(","),
            max_body_bytes = config.max_body_bytes,
            request_timeout_ms = args.request_timeout_ms,
            max_concurrency = config.max_concurrency,
            memory_budget_bytes = config.memory_budget_bytes,
            max_answer_bytes = config.max_answer_bytes,
            max_connections = config.max_connections,
            max_blocking = config.max_blocking,
            batch_threads = config.batch_threads,
            header_read_timeout_ms = args.header_read_timeout_ms,
            idle_timeout_ms = args.idle_timeout_ms,
            "listening"
        );
        server
            .serve(listener, icebreak_server::shutdown_signal())
            .await
    })
}
