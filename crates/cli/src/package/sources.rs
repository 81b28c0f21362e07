//! The runtime's sources, packed into this binary by the build script, and the cache directory
//! they are unpacked and built in.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/runtime_sources.rs"));

/// The cache root: `ICEBREAK_CACHE_DIR` or `--cache-dir` when given, else
/// `$XDG_CACHE_HOME/icebreak`, else `$HOME/.cache/icebreak`.
pub fn cache_root(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("icebreak"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_CACHE_HOME nor HOME is set: give --cache-dir")?;
    Ok(PathBuf::from(home).join(".cache/icebreak"))
}

/// This CLI's directory in the cache: `<root>/<version>-<crc of the sources>`.
pub fn version_dir(root: &Path) -> PathBuf {
    root.join(KEY)
}

/// Unpacks the sources into `<dir>/src` unless a complete copy is there; returns that path.
///
/// Unpacked into a fresh sibling directory first and renamed into place, so an interrupted
/// unpack never leaves a partial tree that looks complete.
pub fn unpack(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("src");
    if src.join("Cargo.toml").exists() {
        return Ok(src);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".src-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a directory in {}", dir.display()))?;
    for (path, bytes) in FILES {
        let p = tmp.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    let staged = tmp.keep();
    if let Err(e) = std::fs::rename(&staged, &src) {
        // Another `icebreak package` may have unpacked the same sources meanwhile.
        let _ = std::fs::remove_dir_all(&staged);
        if !src.join("Cargo.toml").exists() {
            return Err(e).with_context(|| format!("moving the sources to {}", src.display()));
        }
    }
    Ok(src)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_workspace_holds_the_bootstrap_and_no_dev_sections() {
        let get = |p: &str| {
            FILES
                .iter()
                .find(|(path, _)| *path == p)
                .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_else(|| panic!("{p} is not packed"))
        };
        let ws = get("Cargo.toml");
        assert!(ws.contains("\"crates/bootstrap\""), "{ws}");
        assert!(!ws.contains("crates/server"), "{ws}");
        assert!(!ws.contains("xtask"), "{ws}");
        let lambda = get("crates/lambda/Cargo.toml");
        assert!(lambda.contains("memmap2"), "{lambda}");
        assert!(!lambda.contains("dev-dependencies"), "{lambda}");
        assert!(!lambda.contains("[[bench]]"), "{lambda}");
        assert!(FILES
            .iter()
            .any(|(p, _)| *p == "crates/bootstrap/src/main.rs"));
        assert!(FILES.iter().all(|(p, _)| !p.contains("/tests/")));
    }

    #[test]
    fn unpacking_twice_keeps_one_complete_tree() {
        let dir = tempfile::tempdir().unwrap();
        let a = unpack(dir.path()).unwrap();
        let b = unpack(dir.path()).unwrap();
        assert_eq!(a, b);
        for (p, bytes) in FILES {
            assert_eq!(&std::fs::read(a.join(p)).unwrap(), bytes, "{p}");
        }
    }
}
