//! `icebreak-bench <harness> [args]`: the benchmark harnesses, one module each, on the shared
//! `icebreak-bench-support` library. Run through `cargo xtask <harness>`, which forwards here.

use std::process::ExitCode;

mod coldstart;
mod loadbench;
mod sklearnbench;
mod treebench;

const USAGE: &str = "usage: icebreak-bench <harness> [args]   (or: cargo xtask <harness> [args])

harnesses (`<harness> --help` for each one's options):
  coldstart     [--runs N] [--warm K] [--static|--dynamic|--both] [--candidate PATH] [--events]:
                the cold-start harness (bootstrap vs floor vs lambda_runtime)
  loadbench     [--duration S] [--rounds N] [--connections N] [--soak S]: icebreak serve under
                load vs a hello-world axum floor
  treebench     [--quick] [--rounds N] [--no-lleaves] [--lleaves-all]: tree kernels vs xgboost,
                lightgbm, onnxruntime, lleaves
  sklearnbench  [--quick] [--rounds N]: the scikit-learn families vs onnxruntime and scikit-learn
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("coldstart") => coldstart::run(rest),
        Some("loadbench") => loadbench::run(rest),
        Some("treebench") => treebench::run(rest),
        Some("sklearnbench") => sklearnbench::run(rest),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icebreak-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
