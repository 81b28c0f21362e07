//! The server over real HTTP on 127.0.0.1: every endpoint, every error status, shedding,
//! timeouts, several models, metrics, and a shutdown that drains an in-flight request.
//!
//! The client is a few lines over std's `TcpStream`, so a test can send exactly the bytes it
//! means: a wrong content type, a chunked body, or half a body that keeps a request in flight
//! until the test sends the rest.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

mod attack;
mod common;
mod http;
