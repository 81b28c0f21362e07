//! The deployment package: a zip with `bootstrap` (mode 0755) at its root and, in the mapped
//! mode, `model.apr` beside it.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

/// The name Lambda runs in a custom runtime's package.
pub const BOOTSTRAP: &str = "bootstrap";
/// The model's name beside a mapped bootstrap.
pub const MODEL: &str = "model.apr";

/// Writes the package: `bootstrap`, and `model.apr` when given.
pub fn write(out: &Path, bootstrap: &Path, model: Option<&Path>) -> Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let bin = std::fs::read(bootstrap).with_context(|| bootstrap.display().to_string())?;
    zip.start_file(BOOTSTRAP, opts.unix_permissions(0o755))?;
    zip.write_all(&bin)?;
    if let Some(model) = model {
        let bytes = std::fs::read(model).with_context(|| model.display().to_string())?;
        zip.start_file(MODEL, opts.unix_permissions(0o644))?;
        zip.write_all(&bytes)?;
    }
    zip.finish()?;
    Ok(())
}

/// What a package holds, read back.
#[derive(Debug)]
pub struct Contents {
    /// The architecture of `bootstrap`, from its ELF header.
    pub machine: Machine,
    /// Whether `model.apr` is beside it.
    pub has_model: bool,
}

/// The ELF machine of a bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// EM_X86_64.
    X86_64,
    /// EM_AARCH64.
    Aarch64,
}

/// Reads the package back and checks it: `bootstrap` at the root, executable, a 64-bit
/// little-endian ELF file for x86_64 or arm64; at most `model.apr` beside it.
pub fn check(path: &Path) -> Result<Contents> {
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut z =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", path.display()))?;
    let mut has_model = false;
    let mut machine = None;
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        match f.name() {
            BOOTSTRAP => {
                let mode = f.unix_mode().unwrap_or(0);
                if mode & 0o111 == 0 {
                    bail!(
                        "bootstrap is not executable in {} (mode {mode:o})",
                        path.display()
                    );
                }
                let mut head = [0u8; 20];
                f.read_exact(&mut head)
                    .with_context(|| format!("bootstrap in {} is too short", path.display()))?;
                if &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
                    bail!(
                        "bootstrap in {} is not a 64-bit little-endian ELF binary",
                        path.display()
                    );
                }
                machine = Some(match u16::from_le_bytes([head[18], head[19]]) {
                    0x3e => Machine::X86_64,
                    0xb7 => Machine::Aarch64,
                    m => bail!(
                        "bootstrap in {} is for ELF machine {m:#x}, not x86_64 or arm64",
                        path.display()
                    ),
                });
            }
            MODEL => has_model = true,
            other => bail!(
                "{} holds {other:?}; a package holds only bootstrap and model.apr",
                path.display()
            ),
        }
    }
    let Some(machine) = machine else {
        bail!("{} has no `bootstrap` at its root", path.display());
    };
    Ok(Contents { machine, has_model })
}

/// Extracts the package into `dir` (checked first with [`check`]).
pub fn extract(path: &Path, dir: &Path) -> Result<Contents> {
    let contents = check(path)?;
    let mut z = zip::ZipArchive::new(std::fs::File::open(path)?)?;
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        let name = f.name().to_owned();
        let out = dir.join(&name);
        let mut w = std::fs::File::create(&out).with_context(|| out.display().to_string())?;
        std::io::copy(&mut f, &mut w)?;
        if name == BOOTSTRAP {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok(contents)
}
