//! The project's Python virtual environment (`.venv`) and installs into it.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `.venv` Python under `root`, creating the environment if needed; `who` prefixes the
/// progress line.
pub fn ensure_venv(root: &Path, who: &str) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("{who}: creating .venv");
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null())
            .status()
            .context("running python3 -m venv (is Python 3 installed?)")?;
        ensure!(status.success(), "python3 -m venv .venv failed: {status}");
    }
    Ok(python)
}

/// `python -m pip install --quiet` with no prompts and no version check.
fn pip(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .stdin(Stdio::null());
    cmd
}

/// `python -m pip install --quiet SPEC` (with `--no-deps` when asked), failing loudly.
pub fn pip_install(python: &Path, spec: &str, no_deps: bool) -> Result<()> {
    let mut cmd = pip(python);
    if no_deps {
        cmd.arg("--no-deps");
    }
    let status = cmd.arg(spec).status().context("running pip")?;
    ensure!(status.success(), "pip install {spec} failed: {status}");
    Ok(())
}

/// `python -m pip install --quiet -r FILE`; on failure, says pip's last line.
pub fn pip_install_requirements(python: &Path, file: &Path) -> Result<()> {
    let out = pip(python)
        .arg("-r")
        .arg(file)
        .output()
        .context("running pip")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "pip install -r {} failed ({}): {}",
            file.display(),
            out.status,
            last.trim()
        );
    }
    Ok(())
}

/// The onnxruntime C library the `.venv`'s onnxruntime wheel ships
/// (`onnxruntime/capi/libonnxruntime.so.<version>`), for the native peers' timer.
pub fn onnxruntime_library(python: &Path) -> Result<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))",
        ])
        .stdin(Stdio::null())
        .output()
        .context("running python to find onnxruntime")?;
    ensure!(
        out.status.success(),
        "import onnxruntime failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let capi = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let mut found: Vec<PathBuf> = std::fs::read_dir(&capi)
        .with_context(|| capi.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib")
        })
        .collect();
    found.sort();
    match found.pop() {
        Some(lib) => Ok(lib),
        None => bail!("no libonnxruntime.so* in {}", capi.display()),
    }
}
