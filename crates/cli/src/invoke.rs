//! `icebreak invoke function.zip --event FILE`: runs a package's bootstrap here against a
//! local Runtime API and prints its answer.

use crate::local;
use anyhow::{bail, Context, Result};
use icebreak_fake_runtime::AnswerKind;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `icebreak invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The deployment package (from `icebreak package`).
    #[arg(value_name = "ZIP")]
    package: PathBuf,
    /// The event, as Lambda would pass it (`-`: standard input). Repeat to send several
    /// events to the same process: the first is the cold invocation.
    #[arg(long, short, value_name = "FILE", required = true)]
    event: Vec<PathBuf>,
}

/// Runs `icebreak invoke`: one answer per line on standard output; exits with failure when
/// any invocation got an error.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut events = Vec::with_capacity(args.event.len());
    for e in &args.event {
        let bytes = if e.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
            b
        } else {
            std::fs::read(e).with_context(|| format!("reading {}", e.display()))?
        };
        events.push(bytes);
    }
    let answers = local::run(&args.package, &events)?;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for a in &answers {
        out.write_all(&a.body)?;
        out.write_all(b"\n")?;
        match &a.kind {
            AnswerKind::Response => {}
            AnswerKind::Error(t) => {
                failed = true;
                eprintln!(
                    "invoke: {} answered with a function error {t:?}",
                    a.request_id
                );
            }
            AnswerKind::InitError(t) => {
                out.flush()?;
                bail!("the bootstrap failed to start ({t:?})");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
