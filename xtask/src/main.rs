//! `cargo xtask <command>`: the project's chores, in Rust rather than shell.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod coldstart;
mod demo;
mod e2e;
mod loadbench;
mod package;
mod sklearnbench;
mod treebench;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  example     regenerate examples/model.apr from fixtures/linear/breast_cancer/params.json
  demo        build the bootstrap, run it against a local Runtime API, show a cold and a warm invocation
  coldstart   the end-to-end cold-start harness (bootstrap vs floor vs lambda_runtime)
  e2e         the bootstrap against cargo-lambda's Runtime API emulator
  test        everything the README's test command runs
  loadbench   [--duration S] [--rounds N] [--connections N] [--soak S]: icebreak serve under load vs a hello-world axum floor
  package     [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--smoke]: the Lambda zip
  treebench   [--quick] [--rounds N] [--no-lleaves]: tree kernels vs xgboost, lightgbm, onnxruntime, lleaves
  sklearnbench [--quick] [--rounds N]: the scikit-learn families vs onnxruntime and scikit-learn
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("example") => example(),
        Some("demo") => demo::run(&args[1..]),
        Some("coldstart") => coldstart::run(&args[1..]),
        Some("e2e") => e2e::run(&args[1..]),
        Some("test") => e2e::test_all(&args[1..]),
        Some("package") => package::run(&args[1..]),
        Some("loadbench") => loadbench::run(&args[1..]),
        Some("treebench") => treebench::run(&args[1..]),
        Some("sklearnbench") => sklearnbench::run(&args[1..]),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Converts the example's parameters into `examples/model.apr`.
fn example() -> Result<()> {
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
