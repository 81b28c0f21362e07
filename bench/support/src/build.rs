//! Building the binaries a benchmark measures or drives.

use crate::process::cargo;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How a bootstrap is linked against the C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// `-C target-feature=+crt-static`: a static(-pie) executable, no dynamic loader.
    Static,
    /// The default: glibc through the dynamic loader.
    Dynamic,
}

impl Linking {
    /// What the harness and the demo build unless told otherwise: static glibc on Linux/gnu,
    /// where it measured faster to start (docs/BENCHMARKS.md); dynamic elsewhere.
    pub fn default_for_host() -> Linking {
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            Linking::Static
        } else {
            Linking::Dynamic
        }
    }

    /// Lower-case name, also the build directory's name.
    pub fn name(self) -> &'static str {
        match self {
            Linking::Static => "static",
            Linking::Dynamic => "dynamic",
        }
    }

    fn rustflags(self) -> Option<&'static str> {
        match self {
            Linking::Static => Some("-C target-feature=+crt-static"),
            Linking::Dynamic => None,
        }
    }

    /// The build command, as a user would type it.
    pub fn build_command(self, triple: &str) -> String {
        let flags = self
            .rustflags()
            .map(|f| format!("RUSTFLAGS=\"{f}\" "))
            .unwrap_or_default();
        format!("{flags}cargo build --release --target {triple} -p <package>")
    }
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host line")
}

/// Builds `bin` of `package` in release for the host triple with the given linking, in its
/// own target directory (`target/harness/<linking>`) so switching linking never rebuilds.
/// Each package is built by its own cargo invocation: building them together would unify
/// features of shared dependencies across the contenders.
pub fn build_linked(linking: Linking, triple: &str, package: &str, bin: &str) -> Result<PathBuf> {
    build_linked_model(linking, triple, package, bin, None)
}

/// [`build_linked`] with `ICEBREAK_MODEL` set to `model` (the bootstrap embeds it), or
/// unset (the default model) when `None`.
pub fn build_linked_model(
    linking: Linking,
    triple: &str,
    package: &str,
    bin: &str,
    model: Option<&Path>,
) -> Result<PathBuf> {
    let dir = crate::target_root().join("harness").join(linking.name());
    let mut cmd = cargo();
    cmd.current_dir(crate::root())
        .args([
            "build",
            "--release",
            "--target",
            triple,
            "-p",
            package,
            "--bin",
            bin,
        ])
        .env("CARGO_TARGET_DIR", &dir)
        // No flags from the caller's environment.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    match model {
        Some(m) => cmd.env("ICEBREAK_MODEL", m),
        None => cmd.env_remove("ICEBREAK_MODEL"),
    };
    match linking.rustflags() {
        Some(flags) => cmd.env("RUSTFLAGS", flags),
        None => cmd.env_remove("RUSTFLAGS"),
    };
    let status = cmd
        .status()
        .with_context(|| format!("running cargo build -p {package}"))?;
    ensure!(
        status.success(),
        "cargo build -p {package} ({} linking) failed: {status}",
        linking.name()
    );
    let path = dir.join(triple).join("release").join(bin);
    ensure!(path.is_file(), "{} was not built", path.display());
    if let Some(is_static) = elf_is_static(&path)? {
        ensure!(
            is_static == (linking == Linking::Static),
            "{} is not {}ally linked",
            path.display(),
            linking.name()
        );
    }
    Ok(path)
}

/// Whether an ELF executable has no program interpreter (no dynamic loader); `None` if the
/// file is not a 64-bit little-endian ELF.
pub fn elf_is_static(path: &Path) -> Result<Option<bool>> {
    const PT_INTERP: u32 = 3;
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes.get(o..o + 8).map(|b| {
            let mut a = [0; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Ok(None);
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(None);
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return Ok(None);
    };
    let mut has_interp = false;
    for i in 0..usize::from(phnum) {
        match u32_at(phoff + i * usize::from(phentsize)) {
            Some(PT_INTERP) => has_interp = true,
            Some(_) => {}
            None => return Ok(None),
        }
    }
    Ok(Some(!has_interp))
}

/// `cargo build --release -p PACKAGE --bin BIN` in the workspace's target directory (the
/// product's profile); returns the executable.
pub fn build_release(package: &str, bin: &str) -> Result<PathBuf> {
    let status = cargo()
        .current_dir(crate::root())
        .args(["build", "--release", "-p", package, "--bin", bin])
        .stdin(Stdio::null())
        .status()
        .context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build -p {package} failed: {status}"
    );
    let exe = crate::target_root().join("release").join(bin);
    ensure!(exe.is_file(), "{} was not built", exe.display());
    Ok(exe)
}
