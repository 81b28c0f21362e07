//! The Lambda build stays free of an async runtime, an HTTP stack and protobuf: the normal
//! (non-dev, non-build) dependency graph of the `bootstrap` package, and of the `icebreak`
//! facade with only its `lambda` feature, holds none of those crates. The HTTP server (crate
//! `icebreak-server`, the facade's `server` feature, the `icebreak` CLI) does hold them, which
//! shows the check can fail.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// Crates that must never be linked into the Lambda binary.
const FORBIDDEN: [&str; 6] = ["tokio", "hyper", "axum", "tower", "prost", "protobuf"];

/// The crate names in `cargo tree <args> -e normal --prefix none`, run in the workspace root.
fn tree(args: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .current_dir(&root)
        .arg("tree")
        .args(args)
        .args(["-e", "normal", "--prefix", "none", "--color", "never"])
        .output()
        .expect("running cargo tree");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed ({}):\n{}{}",
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // `name vX.Y.Z [(path)] [(*)]`: anything else means the format changed.
            let mut words = l.split_whitespace();
            let (name, version) = (words.next(), words.next());
            assert!(
                version.is_some_and(|v| v.starts_with('v')),
                "unexpected cargo tree line {l:?}"
            );
            name.unwrap_or_default().to_owned()
        })
        .collect()
}

fn assert_lean(args: &[&str], root_package: &str) {
    let names = tree(args);
    assert_eq!(
        names.first().map(String::as_str),
        Some(root_package),
        "cargo tree {args:?} does not start with {root_package}: {names:?}"
    );
    // The graph is really the Lambda one, so the test cannot pass on an empty list.
    assert!(
        names.iter().any(|n| n == "icebreak-lambda"),
        "icebreak-lambda is not in cargo tree {args:?}: {names:?}"
    );
    let bad: Vec<&String> = names
        .iter()
        .filter(|n| FORBIDDEN.contains(&n.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "cargo tree {args:?} pulls in {bad:?}; the Lambda build must stay blocking and \
         protobuf-free"
    );
}

#[test]
fn bootstrap_has_no_async_runtime_http_stack_or_protobuf() {
    assert_lean(&["-p", "icebreak-bootstrap"], "icebreak-bootstrap");
}

#[test]
fn facade_with_only_the_lambda_feature_has_none_either() {
    assert_lean(
        &[
            "-p",
            "icebreak",
            "--no-default-features",
            "--features",
            "lambda",
        ],
        "icebreak",
    );
}

/// The server side of the line: these graphs must contain the crates the Lambda build must
/// not, or the checks above could pass on a `cargo tree` that lists nothing useful.
fn assert_has_http_stack(args: &[&str], root_package: &str) {
    let names = tree(args);
    assert_eq!(
        names.first().map(String::as_str),
        Some(root_package),
        "cargo tree {args:?} does not start with {root_package}: {names:?}"
    );
    for needed in ["tokio", "hyper", "axum", "tower", "icebreak-protocol"] {
        assert!(
            names.iter().any(|n| n == needed),
            "cargo tree {args:?} has no {needed}: {names:?}"
        );
    }
}

#[test]
fn the_server_crate_and_the_server_feature_do_have_an_http_stack() {
    assert_has_http_stack(&["-p", "icebreak-server"], "icebreak-server");
    // The server speaks the protocol, not Lambda's runtime.
    assert!(
        !tree(&["-p", "icebreak-server"])
            .iter()
            .any(|n| n == "icebreak-lambda"),
        "icebreak-server depends on icebreak-lambda"
    );
    assert_has_http_stack(
        &[
            "-p",
            "icebreak",
            "--no-default-features",
            "--features",
            "server",
        ],
        "icebreak",
    );
    assert_has_http_stack(&["-p", "icebreak-cli"], "icebreak-cli");
}
