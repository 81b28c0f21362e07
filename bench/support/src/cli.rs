//! How the project's command-line tools (`cargo xtask`, `icebreak-bench`) read their command
//! and end.

use anyhow::Result;
use std::process::ExitCode;

/// Runs the command named by the first argument: `run(command, rest)` returns `None` for a
/// command it does not know. `-h`, `--help` and `help` print `usage` and succeed; no command
/// or an unknown one prints `usage` to stderr and exits with 2; an error is printed after
/// `who: ` and fails.
pub fn dispatch(
    who: &str,
    usage: &str,
    run: impl FnOnce(&str, &[String]) -> Option<Result<()>>,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => {
            print!("{usage}");
            return ExitCode::SUCCESS;
        }
        Some(command) => run(command, rest),
        None => None,
    };
    match result {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("{who}: {e:#}");
            ExitCode::FAILURE
        }
        None => {
            eprint!("{usage}");
            ExitCode::from(2)
        }
    }
}
