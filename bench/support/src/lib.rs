//! What the benchmark harness (`bench/harness`, package `icebreak-bench`) and `xtask`'s chores
//! share, so that no harness borrows from another: the command line ([`cli`]), building
//! binaries ([`build`]), spawning and
//! stopping processes ([`process`]), the project's Python venv ([`python`]), facts about the
//! machine and the source measured ([`machine`]), statistics ([`stats`]), the native timers' loops and files ([`samples`]), report formatting
//! ([`table`]), SVG plots ([`plot`]), and the Python-against-timer suites of `treebench` and `sklearnbench`
//! ([`suite`]).

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub mod build;
pub mod cli;
pub mod machine;
pub mod plot;
pub mod process;
pub mod python;
pub mod samples;
pub mod stats;
pub mod suite;
pub mod table;

/// The workspace root.
pub fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The workspace's target directory (`CARGO_TARGET_DIR` if set).
pub fn target_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    dir.canonicalize().unwrap_or(dir)
}

/// A JSON file, parsed.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| path.display().to_string())
}
