//! `icebreak`: the command-line tool (the library's [`icebreak_cli::main`] over the
//! process arguments).

use std::process::ExitCode;

fn main() -> ExitCode {
    icebreak_cli::main(std::env::args_os())
}
