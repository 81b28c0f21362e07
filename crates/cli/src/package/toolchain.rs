//! Building a `bootstrap` from the unpacked sources: checks for cargo, the Rust target and
//! cargo-lambda, and says what is missing and how to install it.

use super::Arch;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which bootstrap to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// The model at this path compiled in.
    Embedded(&'a Path),
    /// No model inside (feature `mapped`).
    Mapped,
}

fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What the build will use: cargo-lambda when it is installed, else plain cargo for this
/// machine's own architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builder {
    CargoLambda,
    Cargo,
}

fn check(arch: Arch) -> Result<Builder> {
    if !runs(Command::new("cargo").arg("--version")) {
        bail!(
            "cargo was not found: the compiled-in mode (and the first --mapped package of this \
             icebreak version) builds a Rust binary. Install Rust with rustup:\n  \
             curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y\n  \
             . \"$HOME/.cargo/env\""
        );
    }
    let target = arch.rust_target();
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = out {
        let installed = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && !installed.lines().any(|l| l.trim() == target) {
            bail!(
                "the Rust target {target} is not installed; install it with:\n  \
                 rustup target add {target}"
            );
        }
    }
    if runs(Command::new("cargo").args(["lambda", "--version"])) {
        return Ok(Builder::CargoLambda);
    }
    if arch.is_native() {
        eprintln!(
            "package: cargo-lambda not found; building with cargo for this machine's {} \
             (the binary links this machine's glibc, which must not be newer than the \
             2.34 of Lambda's provided.al2023: install cargo-lambda to target it exactly)",
            arch.name()
        );
        return Ok(Builder::Cargo);
    }
    bail!(
        "building for {} on this {} machine needs cargo-lambda (its zig is the cross linker). \
         Install it with one of:\n  \
         pip3 install cargo-lambda ziglang   # cargo-lambda and the zig linker\n  \
         cargo install --locked cargo-lambda && pip3 install ziglang\n\
         (and `rustup target add {}`)",
        arch.name(),
        std::env::consts::ARCH,
        arch.rust_target()
    )
}

/// Builds the bootstrap in the unpacked workspace `src` with `target_dir`; returns the path
/// of the built binary (inside `target_dir`, overwritten by the next build: copy it).
pub fn build(src: &Path, target_dir: &Path, arch: Arch, kind: Kind<'_>) -> Result<PathBuf> {
    let builder = check(arch)?;
    let target = arch.rust_target();
    let mut cmd = Command::new("cargo");
    match builder {
        Builder::CargoLambda => cmd.args(["lambda", "build", "--release", "--target", target]),
        Builder::Cargo => cmd.args(["build", "--release", "--target", target]),
    };
    cmd.args(["-p", "icebreak-bootstrap"])
        .current_dir(src)
        .env("CARGO_TARGET_DIR", target_dir)
        // A stray value from the caller's environment must not change what is compiled in.
        .env_remove("ICEBREAK_MODEL")
        // Progress goes to stderr, so stdout keeps only what icebreak prints.
        .stdout(Stdio::from(std::io::stderr()));
    match kind {
        Kind::Embedded(model) => {
            cmd.env("ICEBREAK_MODEL", model);
        }
        Kind::Mapped => {
            cmd.args(["--features", "mapped"]);
        }
    }
    eprintln!(
        "package: building the {} bootstrap for {} with {} in {}",
        match kind {
            Kind::Embedded(_) => "compiled-in",
            Kind::Mapped => "mapped",
        },
        arch.name(),
        match builder {
            Builder::CargoLambda => "cargo lambda build",
            Builder::Cargo => "cargo build",
        },
        src.display()
    );
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!(
            "building the bootstrap for {} failed ({status})",
            arch.name()
        );
    }
    // cargo lambda copies the binary to `lambda/<bin>/`; plain cargo leaves it under the triple.
    let built = match builder {
        Builder::CargoLambda => target_dir.join("lambda/bootstrap/bootstrap"),
        Builder::Cargo => target_dir.join(target).join("release/bootstrap"),
    };
    if !built.exists() {
        bail!("the build succeeded but {} is missing", built.display());
    }
    Ok(built)
}
