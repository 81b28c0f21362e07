//! icebreak serves classic machine-learning models — converted once to the zero-copy `.apr`
//! format and compiled into the binary — from AWS Lambda, answering the first invocation
//! within about a millisecond of process start.
//!
//! ```no_run
//! static MODEL: &[u8] = icebreak::include_model!("../../../examples/model.apr");
//!
//! fn main() -> std::process::ExitCode {
//!     icebreak::lambda::mark_process_start();
//!     match icebreak::lambda::LambdaHandler::from_bytes(MODEL) {
//!         Ok(handler) => icebreak::lambda::run(handler),
//!         Err(e) => icebreak::lambda::report_init_error(&e),
//!     }
//! }
//! ```
//!
//! `from_bytes` checks every node of a tree ensemble at start-up. A model verified by the build
//! script instead ([`format::embed`]) and compiled in with [`include_verified_model!`] opens in
//! constant time, whatever its size, with `lambda::start_embedded` (or
//! `LambdaHandler::from_embedded`); the prebuilt `bootstrap` does this.
//!
//! # Crate features
//! - `lambda` (default): the Lambda custom runtime ([`lambda`]). It links no async runtime,
//!   HTTP server or protobuf code.
//! - `server`: HTTP serving of one or many models with axum and tokio (module `server`), the
//!   engine of `icebreak serve` for containers, ECS and Kubernetes: health and readiness
//!   probes, Prometheus metrics, a body limit, timeouts, load shedding and graceful shutdown.
//!   Off by default; a Lambda build never enables it.
//!
//! The [`mod@format`] and [`engine`] modules are always there.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use icebreak_engine as engine;
pub use icebreak_format as format;
pub use icebreak_format::{include_model, include_verified_model};

/// The Lambda custom runtime (feature `lambda`).
#[cfg(feature = "lambda")]
pub use icebreak_lambda as lambda;

/// HTTP serving for containers and long-running hosts (feature `server`).
#[cfg(feature = "server")]
pub use icebreak_server as server;
