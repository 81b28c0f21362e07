//! `icebreak package MODEL.apr --arch arm64|x86_64 [-o function.zip] [--mapped] [--smoke]
//! [--event FILE]`: a Lambda deployment package for any model, from the installed CLI.
//!
//! The runtime's sources travel inside this binary ([`sources`], packed by the build script);
//! they are unpacked once per CLI version into the cache directory and built there with
//! `cargo lambda build` (or plain cargo for this machine's own architecture).
//!
//! - Compiled in (default): the model is verified by the bootstrap's build script and
//!   compiled into it; the zip holds `bootstrap` alone. Needs a Rust toolchain every time.
//! - `--mapped`: the zip holds a prebuilt mapped `bootstrap` and `model.apr` beside it. The
//!   mapped runtime is the same for every model, so it is built once per CLI version and
//!   architecture and kept in the cache; later packages need no compiler at all.

pub mod archive;
pub mod sources;
mod toolchain;

use crate::local;
use anyhow::{bail, Context, Result};
use icebreak_fake_runtime::AnswerKind;
use icebreak_format::{AlignedBuf, Apr};
use std::path::{Path, PathBuf};
use toolchain::Kind;

/// Arguments of `icebreak package`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.apr` model to ship (from `icebreak convert`).
    #[arg(value_name = "MODEL.apr")]
    model: PathBuf,
    /// The Lambda architecture.
    #[arg(long, value_enum, default_value = "arm64")]
    arch: Arch,
    /// Where to write the zip.
    #[arg(short, long, value_name = "ZIP", default_value = "function.zip")]
    output: PathBuf,
    /// Ship the prebuilt mapped runtime with `model.apr` beside it instead of compiling the
    /// model in (no compiler needed once the runtime is cached).
    #[arg(long)]
    mapped: bool,
    /// Run the package against a local Runtime API: an event built from the model's input
    /// schema (or --event) must get a prediction, and one with a feature too many an
    /// InvalidInput error. arm64 packages run under qemu-user.
    #[arg(long)]
    smoke: bool,
    /// The smoke test's event instead of the one built from the schema (implies --smoke).
    #[arg(long, value_name = "FILE")]
    event: Option<PathBuf>,
    /// Where the runtime's sources are unpacked and built, and the mapped runtimes kept
    /// (default: $XDG_CACHE_HOME/icebreak or ~/.cache/icebreak). Builds go to
    /// CARGO_TARGET_DIR when it is set, else to a `target` directory there.
    #[arg(long, env = "ICEBREAK_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Graviton (aarch64).
    #[value(alias = "aarch64")]
    Arm64,
    /// Intel and AMD (x86-64).
    #[value(name = "x86_64", alias = "x86-64", alias = "amd64")]
    X86_64,
}

impl Arch {
    /// The Rust target triple.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// The name Lambda uses.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// Whether this machine runs binaries of this architecture natively.
    pub fn is_native(self) -> bool {
        matches!(
            (self, std::env::consts::ARCH),
            (Arch::Arm64, "aarch64") | (Arch::X86_64, "x86_64")
        )
    }
}

/// What the smoke test needs to know about the model.
struct Schema {
    n_features: usize,
    names: Option<Vec<String>>,
}

/// Reads and completely verifies the model, as the runtime will.
fn verify(model: &Path) -> Result<Schema> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let buf = AlignedBuf::copy_from(&bytes);
    let apr = Apr::parse_verified(&buf)
        .with_context(|| format!("{} is not a valid .apr model", model.display()))?;
    let input = apr.input();
    Ok(Schema {
        n_features: input.n_features as usize,
        names: input
            .feature_names
            .map(|l| l.iter().map(str::to_owned).collect()),
    })
}

/// `{"features": [0.0, ...]}` with `n` zeros.
pub fn zeros_event(n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "features": vec![0.0f64; n] })).unwrap_or_default()
}

/// Runs `icebreak package`.
pub fn run(args: Args) -> Result<()> {
    let model = std::fs::canonicalize(&args.model)
        .with_context(|| format!("model {}", args.model.display()))?;
    let schema = verify(&model)?;
    let root = sources::cache_root(args.cache_dir.as_deref())?;
    let dir = sources::version_dir(&root);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let built;
    let bootstrap: &Path = if args.mapped {
        built = mapped_runtime(&dir, &target_dir, args.arch)?;
        &built
    } else {
        let src = sources::unpack(&dir)?;
        built = toolchain::build(&src, &target_dir, args.arch, Kind::Embedded(&model))?;
        &built
    };
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    archive::write(
        &args.output,
        bootstrap,
        args.mapped.then_some(model.as_path()),
    )?;
    let contents = archive::check(&args.output)?;
    println!(
        "package: {} ({} bytes; {} bootstrap, {}; model {}, {} features)",
        args.output.display(),
        std::fs::metadata(&args.output)?.len(),
        args.arch.name(),
        if contents.has_model {
            "model.apr mapped from beside it"
        } else {
            "model compiled in"
        },
        model.display(),
        schema.n_features
    );
    if args.smoke || args.event.is_some() {
        smoke(&args.output, &schema, args.event.as_deref())?;
    }
    Ok(())
}

/// The mapped runtime of this CLI version for `arch`: from the cache, or built once and
/// cached (`<dir>/runtime/<arch>/bootstrap`).
fn mapped_runtime(dir: &Path, target_dir: &Path, arch: Arch) -> Result<PathBuf> {
    let cached = dir
        .join("runtime")
        .join(arch.name())
        .join(archive::BOOTSTRAP);
    if cached.exists() {
        eprintln!(
            "package: using the cached mapped runtime {} (no build needed)",
            cached.display()
        );
        return Ok(cached);
    }
    let src = sources::unpack(dir)?;
    let built = toolchain::build(&src, target_dir, arch, Kind::Mapped)?;
    let parent = cached.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::NamedTempFile::new_in(parent)?;
    std::fs::copy(&built, tmp.path())?;
    tmp.persist(&cached)
        .with_context(|| format!("caching {}", cached.display()))?;
    Ok(cached)
}

/// The smoke test: the package answers the event with a prediction and a bad event with
/// InvalidInput.
fn smoke(package: &Path, schema: &Schema, event: Option<&Path>) -> Result<()> {
    let (good, described) = match event {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            zeros_event(schema.n_features),
            format!(
                "{} zero features{}",
                schema.n_features,
                match &schema.names {
                    Some(n) if !n.is_empty() => format!(" ({} ...)", n[0]),
                    _ => String::new(),
                }
            ),
        ),
    };
    let bad = zeros_event(schema.n_features + 1);
    let answers = local::run(package, &[good, bad])?;
    let first = &answers[0];
    if first.kind != AnswerKind::Response {
        bail!(
            "smoke test: the event ({described}) got {:?}: {}",
            first.kind,
            first.text()
        );
    }
    if event.is_none() {
        let v: serde_json::Value = serde_json::from_slice(&first.body)
            .with_context(|| format!("smoke test: the answer is not JSON: {}", first.text()))?;
        if v.get("prediction").is_none() {
            bail!(
                "smoke test: the answer holds no prediction: {}",
                first.text()
            );
        }
    }
    let second = answers.get(1).context("smoke test: no second answer")?;
    if second.kind != AnswerKind::Error(Some("InvalidInput".into())) {
        bail!(
            "smoke test: an event with {} features was not answered with InvalidInput: {}",
            schema.n_features + 1,
            second.text()
        );
    }
    println!("package: smoke test passed ({described}): {}", first.text());
    Ok(())
}
