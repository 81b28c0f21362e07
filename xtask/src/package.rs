//! `cargo xtask package [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--smoke]`
//!
//! Builds the `bootstrap` with the model embedded for the Lambda architecture with
//! `cargo lambda build` (its bundled zig is the cross linker; the binary targets the glibc of
//! `provided.al2023`), and zips it the way Lambda expects: one file, `bootstrap`, at the root
//! of the archive, mode 0755. `--smoke` runs the packaged binary against a local Runtime API
//! (under qemu-user for arm64) and checks that it answers the example event.

use anyhow::{bail, Context, Result};
use icebreak_fake_runtime::{AnswerKind, FakeRuntime};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A Lambda architecture.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    fn parse(s: &str) -> Result<Arch> {
        match s {
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            other => bail!("unknown architecture {other:?} (arm64 or x86_64)"),
        }
    }
    fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }
    fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Arch::Arm64 => "--arm64",
            Arch::X86_64 => "--x86-64",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }
}

struct Args {
    model: PathBuf,
    arch: Arch,
    out: PathBuf,
    smoke: bool,
}

fn parse_args(args: &[String], root: &Path) -> Result<Args> {
    let mut model = None;
    let mut arch = Arch::Arm64;
    let mut out = None;
    let mut smoke = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => arch = Arch::parse(it.next().context("--arch needs a value")?)?,
            "-o" | "--output" => out = Some(PathBuf::from(it.next().context("-o needs a path")?)),
            "--smoke" => smoke = true,
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            path => model = Some(PathBuf::from(path)),
        }
    }
    let model = model.unwrap_or_else(|| root.join("examples/model.apr"));
    let model =
        std::fs::canonicalize(&model).with_context(|| format!("model {}", model.display()))?;
    let out =
        out.unwrap_or_else(|| root.join(format!("target/lambda/function-{}.zip", arch.name())));
    Ok(Args {
        model,
        arch,
        out,
        smoke,
    })
}

const USAGE: &str =
    "usage: cargo xtask package [MODEL.apr] --arch arm64|x86_64 [-o function.zip] [--smoke]

Builds the bootstrap with MODEL.apr embedded (default examples/model.apr) with `cargo lambda
build` (cargo-lambda and zig pinned in .venv) and zips it as a Lambda deployment package
(default target/lambda/function-<arch>.zip, default --arch arm64). --smoke runs the built
bootstrap against a local Runtime API (arm64 under qemu-user).";

/// Entry point.
pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let root = icebreak_bench_support::root().canonicalize()?;
    let a = parse_args(args, &root)?;
    let bootstrap = build(&root, &a.model, a.arch)?;
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_zip(&bootstrap, &a.out)?;
    check_zip(&a.out)?;
    let size = std::fs::metadata(&a.out)?.len();
    println!(
        "package: {} ({} bytes, {} bootstrap, model {})",
        a.out.display(),
        size,
        a.arch.name(),
        a.model.display()
    );
    if a.smoke {
        smoke(&bootstrap, a.arch)?;
    }
    Ok(())
}

/// Builds the bootstrap with `cargo lambda build`; returns a copy of the binary.
fn build(root: &Path, model: &Path, arch: Arch) -> Result<PathBuf> {
    let target = arch.rust_target();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let has_target = installed.as_ref().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == target)
    });
    if !has_target {
        let status = Command::new("rustup")
            .args(["target", "add", target])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            bail!("the Rust target {target} is not installed and `rustup target add {target}` failed: cannot build for {}", arch.name());
        }
    }
    let exe = crate::e2e::ensure_cargo_lambda(root)?;
    let venv_bin = exe
        .parent()
        .context("cargo-lambda has no directory")?
        .to_path_buf();
    ensure_zig(&venv_bin)?;
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let status = Command::new("cargo")
        .current_dir(root)
        .env("PATH", path)
        .env("ICEBREAK_MODEL", model)
        .args([
            "lambda",
            "build",
            "--release",
            arch.cargo_lambda_flag(),
            "-p",
            "icebreak-bootstrap",
        ])
        .status()
        .context("running cargo lambda build")?;
    if !status.success() {
        bail!("cargo lambda build failed for {}", arch.name());
    }
    let built = root.join("target/lambda/bootstrap/bootstrap");
    let copy = root.join(format!("target/lambda/bootstrap-{}", arch.name()));
    std::fs::copy(&built, &copy).with_context(|| format!("copying {}", built.display()))?;
    Ok(copy)
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

fn write_zip(bootstrap: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(bootstrap)?;
    let file = std::fs::File::create(out).with_context(|| out.display().to_string())?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(&bytes)?;
    zip.finish()?;
    Ok(())
}

/// Reads the archive back: exactly one entry, `bootstrap`, executable, an ELF file.
fn check_zip(path: &Path) -> Result<()> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path)?)?;
    if z.len() != 1 {
        bail!(
            "{} has {} entries, Lambda wants exactly `bootstrap`",
            path.display(),
            z.len()
        );
    }
    let mut f = z.by_index(0)?;
    if f.name() != "bootstrap" {
        bail!("the entry is {:?}, not `bootstrap` at the root", f.name());
    }
    let mode = f.unix_mode().unwrap_or(0);
    if mode & 0o111 == 0 {
        bail!("bootstrap is not executable in the archive (mode {mode:o})");
    }
    let mut head = [0u8; 4];
    f.read_exact(&mut head)?;
    if &head != b"\x7fELF" {
        bail!("bootstrap in the archive is not an ELF binary");
    }
    Ok(())
}

/// How to run a binary of `arch` here: directly, or through qemu-user.
fn runner(arch: Arch) -> Result<Option<Vec<String>>> {
    let native = std::env::consts::ARCH;
    let same = matches!(
        (arch, native),
        (Arch::Arm64, "aarch64") | (Arch::X86_64, "x86_64")
    );
    if same {
        return Ok(Some(Vec::new()));
    }
    if arch != Arch::Arm64 {
        return Ok(None);
    }
    let sysroot = Path::new("/usr/aarch64-linux-gnu");
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("qemu-aarch64-static") || !sysroot.join("lib/ld-linux-aarch64.so.1").exists() {
        println!(
            "package: installing qemu-user-static and libc6-arm64-cross to run the arm64 binary"
        );
        let ok = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Ok(None);
        }
    }
    Ok(Some(vec![
        "qemu-aarch64-static".into(),
        "-L".into(),
        sysroot.display().to_string(),
    ]))
}

/// Runs the packaged binary against a local Runtime API and checks its answers.
fn smoke(bootstrap: &Path, arch: Arch) -> Result<()> {
    let Some(prefix) = runner(arch)? else {
        println!("\n!!! package: SKIPPED the {} smoke test: no way to run {} binaries on this machine (qemu-user could not be installed) !!!\n", arch.name(), arch.name());
        return Ok(());
    };
    let root = icebreak_bench_support::root();
    let event = std::fs::read(root.join("examples/event.json"))?;
    let bad = std::fs::read(root.join("examples/bad-event.json"))?;
    let fake = FakeRuntime::start()?;
    fake.invoke("smoke-1", event);
    fake.invoke("smoke-2", bad);
    let mut cmd = match prefix.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg(bootstrap);
            c
        }
        None => Command::new(bootstrap),
    };
    let mut child = cmd
        .env("AWS_LAMBDA_RUNTIME_API", fake.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "icebreak-smoke")
        .stdout(Stdio::inherit())
        .spawn()
        .context("starting the bootstrap")?;
    let answers = fake.wait_answers(2, Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    if answers.len() != 2 {
        bail!("smoke test: {} of 2 invocations answered", answers.len());
    }
    let first: serde_json::Value = serde_json::from_slice(&answers[0].body)?;
    if answers[0].kind != AnswerKind::Response || first.get("prediction").is_none() {
        bail!(
            "smoke test: first answer is not a prediction: {}",
            answers[0].text()
        );
    }
    if answers[1].kind != AnswerKind::Error(Some("InvalidInput".into())) {
        bail!(
            "smoke test: bad event was not answered with InvalidInput: {:?}",
            answers[1]
        );
    }
    println!(
        "package: {} smoke test passed: {} / {}",
        arch.name(),
        answers[0].text(),
        answers[1].text()
    );
    Ok(())
}
