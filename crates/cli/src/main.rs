//! `icebreak`: the command-line tool. One module per subcommand.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Serve one or more models over HTTP (containers, ECS, Kubernetes).
    #[cfg(feature = "server")]
    Serve(serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icebreak: {e:#}");
            ExitCode::FAILURE
        }
    }
}
