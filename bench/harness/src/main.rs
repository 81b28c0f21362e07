//! `icebreak-bench <harness> [args]`: the benchmark harnesses, one module each, on the shared
//! `icebreak-bench-support` library. Run through `cargo xtask <harness>`, which forwards here.

use std::process::ExitCode;

mod attack;
mod coldstart;
mod loadbench;
mod sklearnbench;
mod sweep;
mod treebench;

const USAGE: &str = "usage: icebreak-bench <harness> [args]   (or: cargo xtask <harness> [args])

harnesses (`<harness> --help` for each one's options):
  coldstart     [--runs N] [--warm K] [--static|--dynamic|--both] [--candidate PATH] [--events]:
                the cold-start harness (bootstrap vs floor vs lambda_runtime)
  coldsweep     [--runs N] [--static|--dynamic|--both] [--evict]: cold start against model size (the
                example linear model and tree ensembles up to ~50 MB) vs the floor
  loadbench     [--duration S] [--rounds N] [--connections N] [--soak S]: icebreak serve under
                load vs a hello-world axum floor
  treebench     [--quick] [--rounds N] [--no-lleaves] [--no-compiled]: tree kernels vs xgboost,
                lightgbm, onnxruntime (C API and Python), lleaves, tl2cgen, m2cgen
  sklearnbench  [--quick] [--rounds N]: the scikit-learn families vs onnxruntime (C API and
                Python) and scikit-learn
  attack        [--duration S] [--slow N] [--idle N] [--greedy N] [--settle S]: icebreak serve
                under slow clients and large bodies at once; /health latency and RSS
";

fn main() -> ExitCode {
    icebreak_bench_support::cli::dispatch("icebreak-bench", USAGE, |harness, args| {
        Some(match harness {
            "coldstart" => coldstart::run(args),
            "coldsweep" => sweep::run(args),
            "loadbench" => loadbench::run(args),
            "treebench" => treebench::run(args),
            "sklearnbench" => sklearnbench::run(args),
            "attack" => attack::run(args),
            _ => return None,
        })
    })
}
