//! `cargo xtask package [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--mapped]
//! [--smoke] [--event FILE]`
//!
//! The repository's shortcut to `icebreak package` (crate `icebreak-cli`, where the packaging
//! lives): it builds the CLI, puts the pinned cargo-lambda and zig of `.venv` on `PATH` (so
//! the bootstrap targets the glibc of `provided.al2023` on either architecture), installs
//! qemu-user for an arm64 smoke test on an x86_64 machine, and runs
//! `icebreak package` with the example model and `target/lambda/function-<arch>.zip` as
//! defaults.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::process::cargo;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USAGE: &str = "usage: cargo xtask package [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--mapped] [--smoke] [--event FILE]

Runs `icebreak package` (see `icebreak package --help`) with cargo-lambda and zig pinned in
.venv, MODEL.apr defaulting to examples/model.apr, the zip to
target/lambda/function-<arch>.zip and --arch to arm64. For an arm64 --smoke on an x86_64
machine it installs qemu-user-static and libc6-arm64-cross with apt-get when they are missing.";

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let root = icebreak_bench_support::root().canonicalize()?;
    let mut model = None;
    let mut arch = "arm64".to_owned();
    let mut out = None;
    let mut rest: Vec<String> = Vec::new();
    let mut smoke = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => arch = it.next().context("--arch needs a value")?.clone(),
            "-o" | "--output" => out = Some(PathBuf::from(it.next().context("-o needs a path")?)),
            "--smoke" | "--mapped" => {
                smoke |= a == "--smoke";
                rest.push(a.clone());
            }
            "--event" => {
                smoke = true;
                rest.push(a.clone());
                rest.push(it.next().context("--event needs a file")?.clone());
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            path => model = Some(PathBuf::from(path)),
        }
    }
    let arm64 = matches!(arch.as_str(), "arm64" | "aarch64");
    let model = model.unwrap_or_else(|| root.join("examples/model.apr"));
    let out = out.unwrap_or_else(|| {
        root.join(format!(
            "target/lambda/function-{}.zip",
            if arm64 { "arm64" } else { "x86_64" }
        ))
    });

    let exe = crate::e2e::ensure_cargo_lambda(&root)?;
    let venv_bin = exe
        .parent()
        .context("cargo-lambda has no directory")?
        .to_path_buf();
    ensure_zig(&venv_bin)?;
    if smoke && arm64 && std::env::consts::ARCH != "aarch64" {
        ensure_qemu();
    }
    let cli = build_cli(&root)?;
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let status = Command::new(&cli)
        .arg("package")
        .arg(&model)
        .args(["--arch", &arch, "-o"])
        .arg(&out)
        .args(&rest)
        .env("PATH", path)
        .env("ICEBREAK_CACHE_DIR", root.join("target/icebreak-cache"))
        .status()
        .with_context(|| format!("running {}", cli.display()))?;
    ensure!(status.success(), "icebreak package failed ({status})");
    Ok(())
}

/// `cargo build -p icebreak-cli` with this command's profile; returns the executable.
fn build_cli(root: &Path) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "icebreak-cli",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("building icebreak-cli")?;
    ensure!(out.status.success(), "building icebreak-cli failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "icebreak")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .context("cargo did not report the icebreak executable")
}

/// The zig that `cargo lambda build` cross-links with, pinned, in the same venv.
const ZIGLANG_VERSION: &str = "0.17.1";

fn ensure_zig(venv_bin: &Path) -> Result<()> {
    let python = venv_bin.join("python");
    let have = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('ziglang'))",
        ])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == ZIGLANG_VERSION);
    if have {
        return Ok(());
    }
    println!("package: installing ziglang {ZIGLANG_VERSION} into .venv (the cross linker of cargo lambda build)");
    icebreak_bench_support::python::pip_install(
        &python,
        &format!("ziglang=={ZIGLANG_VERSION}"),
        false,
    )
}

/// Installs qemu-user-static and libc6-arm64-cross with apt-get when they are missing (the
/// smoke test of an arm64 package on x86_64). A failure is left to `icebreak package`, which
/// names what is missing.
fn ensure_qemu() {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let sysroot = Path::new("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1");
    if have("qemu-aarch64-static") && sysroot.exists() {
        return;
    }
    println!("package: installing qemu-user-static and libc6-arm64-cross to run the arm64 binary");
    let _ = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross"])
        .status();
}
