//! `cargo xtask <command>`: the project's chores, in Rust rather than shell.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  example     regenerate examples/model.apr from fixtures/linear/breast_cancer/params.json
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("example") => example(),
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
