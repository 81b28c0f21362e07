//! Mapped mode: the model is not compiled in but mapped, read-only and zero-copy, from a file
//! beside the bootstrap or in a layer, so a new model needs no compiler.
//!
//! The file is found at, in order:
//! 1. `ICEBREAK_MODEL_PATH`, when set and not empty (only there: a wrong path is an error,
//!    not a reason to serve another model);
//! 2. `$LAMBDA_TASK_ROOT/model.apr` (the function's package);
//! 3. [`LAYER_PATH`], `/opt/model.apr` (a layer whose zip holds `model.apr` at its root).
//!
//! It is verified completely once at start-up ([`Apr::parse_verified`]: checksum, every node,
//! every value rule), so a mapped model is served with the same guarantees as a compiled-in
//! one verified by the build script. A missing or broken file is an init error.

use crate::LambdaError;
use icebreak_format::Apr;
use icebreak_protocol::{ErrorKind, Predictor};
use std::path::{Path, PathBuf};

/// The file name looked for in `$LAMBDA_TASK_ROOT`.
pub const MODEL_FILE: &str = "model.apr";

/// Where a layer's `model.apr` appears (layers are extracted to `/opt`).
pub const LAYER_PATH: &str = "/opt/model.apr";

/// The paths to try, in order, from the values of `ICEBREAK_MODEL_PATH` and
/// `LAMBDA_TASK_ROOT`.
pub fn candidates(model_path: Option<&str>, task_root: Option<&str>) -> Vec<PathBuf> {
    if let Some(p) = model_path.filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut paths = Vec::with_capacity(2);
    if let Some(root) = task_root.filter(|r| !r.is_empty()) {
        paths.push(Path::new(root).join(MODEL_FILE));
    }
    paths.push(PathBuf::from(LAYER_PATH));
    paths
}

/// The model file this process serves: the first of [`candidates`] (from the environment)
/// that exists.
pub fn locate() -> Result<PathBuf, LambdaError> {
    let model_path = std::env::var("ICEBREAK_MODEL_PATH").ok();
    let task_root = std::env::var("LAMBDA_TASK_ROOT").ok();
    let paths = candidates(model_path.as_deref(), task_root.as_deref());
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        return Ok(p.clone());
    }
    let tried: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    Err(LambdaError::new(
        ErrorKind::InvalidModel,
        format!(
            "no model file: tried {} (set ICEBREAK_MODEL_PATH, or ship model.apr beside the \
             bootstrap or in a layer)",
            tried.join(", ")
        ),
    ))
}

/// Maps `path` and verifies it completely; the mapping lives as long as the process.
pub fn open(path: &Path) -> Result<Predictor, LambdaError> {
    let bytes = map::map_static(path).map_err(|e| {
        LambdaError::new(
            ErrorKind::InvalidModel,
            format!("cannot map {}: {e}", path.display()),
        )
    })?;
    let apr = Apr::parse_verified(bytes).map_err(|e| {
        LambdaError::new(ErrorKind::InvalidModel, format!("{}: {e}", path.display()))
    })?;
    Ok(Predictor::new(apr))
}

/// The one place with `unsafe` code in this crate.
#[allow(unsafe_code)]
mod map {
    use std::path::Path;

    /// Maps `path` read-only for the rest of the process.
    pub(super) fn map_static(path: &Path) -> std::io::Result<&'static [u8]> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            // mmap of an empty file fails on Linux; an empty slice fails verification instead.
            return Ok(&[]);
        }
        // SAFETY: the mapping is read-only and private, and the file is not written while the
        // process lives: Lambda's function package (/var/task) and layers (/opt) are on
        // read-only file systems. A file truncated by someone else under ICEBREAK_MODEL_PATH
        // could fault on access (SIGBUS); that is documented as unsupported.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        // The mapping is page aligned, more than the 64 bytes the format asks for.
        let map: &'static memmap2::Mmap = Box::leak(Box::new(map));
        Ok(&map[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_path_wins_and_is_the_only_candidate() {
        assert_eq!(
            candidates(Some("/x/m.apr"), Some("/var/task")),
            vec![PathBuf::from("/x/m.apr")]
        );
    }

    #[test]
    fn task_root_then_layer() {
        assert_eq!(
            candidates(Some(""), Some("/var/task")),
            vec![
                PathBuf::from("/var/task/model.apr"),
                PathBuf::from("/opt/model.apr")
            ]
        );
        assert_eq!(candidates(None, None), vec![PathBuf::from(LAYER_PATH)]);
    }
}
