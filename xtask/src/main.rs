//! `cargo xtask <command>`: the project's chores, in Rust rather than shell.
//!
//! The benchmark harnesses live in `bench/harness` (package `icebreak-bench`); their commands
//! here only forward to it ([`forward`]).

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::process::cargo;
use icebreak_bench_support::root;
use std::process::ExitCode;

mod demo;
mod e2e;
mod package;

const USAGE: &str = "usage: cargo xtask <command> [args]   (`cargo xtask <command> --help` for details)

commands:
  example     regenerate examples/model.apr from fixtures/linear/breast_cancer/params.json
  demo        [--static|--dynamic]: build the bootstrap, run it against a local Runtime API, show a cold and a warm invocation
  e2e         the bootstrap against cargo-lambda's Runtime API emulator
  test        everything the README's test command runs
  package     [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--mapped] [--smoke] [--event FILE]: `icebreak package` with the pinned cargo-lambda

benchmarks (run by bench/harness, package icebreak-bench):
  coldstart   [--runs N] [--warm K] [--static|--dynamic|--both] [--candidate PATH] [--events]: the end-to-end cold-start harness (bootstrap vs floor vs lambda_runtime)
  coldsweep   [--runs N] [--static|--dynamic|--both] [--evict]: cold start against model size (linear example, tree ensembles up to ~50 MB) vs the floor
  loadbench   [--duration S] [--rounds N] [--connections N] [--soak S]: icebreak serve under load vs a hello-world axum floor
  treebench   [--quick] [--rounds N] [--no-lleaves] [--no-compiled]: tree kernels vs xgboost, lightgbm, onnxruntime (C API and Python), lleaves, tl2cgen, m2cgen
  sklearnbench [--quick] [--rounds N]: the scikit-learn families vs onnxruntime (C API and Python) and scikit-learn
  attack      [--duration S] [--slow N] [--idle N] [--greedy N] [--settle S]: icebreak serve under slow clients and large bodies at once
";

fn main() -> ExitCode {
    icebreak_bench_support::cli::dispatch("xtask", USAGE, |command, args| {
        Some(match command {
            "example" => example(args),
            "demo" => demo::run(args),
            "e2e" => e2e::run(args),
            "test" => e2e::test_all(args),
            "package" => package::run(args),
            "coldstart" | "coldsweep" | "loadbench" | "treebench" | "sklearnbench" | "attack" => {
                forward(command, args)
            }
            _ => return None,
        })
    })
}

/// `cargo run -p icebreak-bench -- <harness> <args>`: the benchmark harness, built with the
/// same profile and target directory as this command.
fn forward(harness: &str, args: &[String]) -> Result<()> {
    let mut cmd = cargo();
    cmd.current_dir(root()).args(["run", "--quiet"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.args(["-p", "icebreak-bench", "--", harness]).args(args);
    let status = cmd
        .status()
        .with_context(|| format!("running cargo run -p icebreak-bench -- {harness}"))?;
    ensure!(status.success(), "{harness} failed ({status})");
    Ok(())
}

/// Converts the example's parameters into `examples/model.apr`.
fn example(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            println!("usage: cargo xtask example\n\nRegenerates examples/model.apr from fixtures/linear/breast_cancer/params.json.");
            return Ok(());
        }
        bail!("unknown argument {a:?}; usage: cargo xtask example");
    }
    let root = root();
    let params = root.join("fixtures/linear/breast_cancer/params.json");
    let json = std::fs::read_to_string(&params).with_context(|| params.display().to_string())?;
    let bytes = icebreak_convert::linear_params::convert(&json)?;
    let out = root.join("examples/model.apr");
    std::fs::write(&out, &bytes).with_context(|| out.display().to_string())?;
    let buf = icebreak_format::AlignedBuf::copy_from(&bytes);
    let apr = icebreak_format::Apr::parse_verified(&buf)?;
    if apr.input().n_features == 0 {
        bail!("empty model");
    }
    println!(
        "wrote {} ({} bytes, checksum {:#010x})",
        out.display(),
        bytes.len(),
        apr.checksum()
    );
    Ok(())
}
