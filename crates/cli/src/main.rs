//! `icebreak`: the command-line tool. One module per subcommand.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod convert;
mod input;
mod inspect;
mod invoke;
mod local;
mod package;
mod predict;
#[cfg(feature = "server")]
mod serve;

/// Serve classic ML models converted to the zero-copy `.apr` format.
#[derive(Debug, Parser)]
#[command(name = "icebreak", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert a trained model (ONNX, XGBoost, LightGBM) into a verified .apr file.
    Convert(convert::Args),
    /// Describe a .apr model: task, stages, inputs, outputs, sizes, checksum, provenance.
    Inspect(inspect::Args),
    /// Predict rows from CSV or JSON Lines; one JSON answer per row.
    Predict(predict::Args),
    /// Build a Lambda deployment package (function.zip) for a model: compiled in or mapped.
    Package(package::Args),
    /// Run a deployment package here against a local Runtime API and print its answers.
    Invoke(invoke::Args),
    /// Serve one or more models over HTTP (containers, ECS, Kubernetes).
    #[cfg(feature = "server")]
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Convert(args) => convert::run(args)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
        Command::Inspect(args) => inspect::run(args).map_err(anyhow::Error::from),
        Command::Predict(args) => predict::run(args).map_err(anyhow::Error::from),
        Command::Package(args) => package::run(args).map(|()| ExitCode::SUCCESS),
        Command::Invoke(args) => invoke::run(args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args)
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
    };
    result.unwrap_or_else(|e| {
        eprintln!("icebreak: {}", message(&e));
        ExitCode::FAILURE
    })
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message
/// already holds (some library errors print their source themselves).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
