//! The floor of `cargo xtask loadbench`: what axum on tokio costs with nothing behind it.
//!
//! Answers every request (any path, any method) with a fixed small JSON body, without reading
//! the request body, on the same runtime and the same `axum::serve` as `icebreak serve`.
//! Usage: `server-floor [PORT]` (default 8081), on 127.0.0.1. Stops on Ctrl-C or SIGTERM.

use axum::http::header;
use std::process::ExitCode;

async fn hello() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"prediction":"hello"}"#,
    )
}

async fn stop() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn main() -> ExitCode {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        None => 8081,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("server-floor: bad port: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("server-floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        let app = axum::Router::new().fallback(hello);
        axum::serve(listener, app)
            .with_graceful_shutdown(stop())
            .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server-floor: {e}");
            ExitCode::FAILURE
        }
    }
}
