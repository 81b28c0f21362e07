//! `icebreak`: the command-line tool, as a library. One module per subcommand.
//!
//! The `icebreak` binary (`src/main.rs`) is [`main`] over the process arguments; the
//! Python package links this library too, so the `icebreak` command installed with its
//! wheel is this same CLI (without `serve`, which needs the `server` feature).

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

/// Runs the command line `args` (the program name first) and returns its exit code.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success, usage errors to stderr.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
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

/// What `icebreak inspect --json` prints for the `.apr` bytes `bytes` (without the `path`
/// field, which names the file), or why the bytes are not a model.
pub fn inspect_json(bytes: &[u8]) -> Result<String, String> {
    let buf = icebreak_format::AlignedBuf::copy_from(bytes);
    let apr =
        icebreak_format::Apr::parse(&buf).map_err(|e| format!("not a valid .apr model: {e}"))?;
    let summary = inspect::Summary::of(&apr, &buf);
    let mut s = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
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
