//! Running a packaged bootstrap here, against a local Runtime API: the smoke test of
//! `icebreak package` and `icebreak invoke`.

use crate::package::archive::{self, Machine};
use anyhow::{bail, Context, Result};
use icebreak_fake_runtime::{Answer, FakeRuntime};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for all the answers.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The qemu-user sysroot Debian's `libc6-arm64-cross` installs.
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn on_path(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The command that runs a binary of `machine` here: directly, or through qemu-user.
fn runner(machine: Machine, bootstrap: &Path) -> Result<Command> {
    let native = match std::env::consts::ARCH {
        "x86_64" => Some(Machine::X86_64),
        "aarch64" => Some(Machine::Aarch64),
        _ => None,
    };
    if native == Some(machine) {
        return Ok(Command::new(bootstrap));
    }
    if machine == Machine::Aarch64 {
        let qemu = ["qemu-aarch64-static", "qemu-aarch64"]
            .into_iter()
            .find(|q| on_path(q));
        if let Some(q) = qemu {
            if Path::new(ARM64_SYSROOT)
                .join("lib/ld-linux-aarch64.so.1")
                .exists()
            {
                let mut c = Command::new(q);
                c.arg("-L").arg(ARM64_SYSROOT).arg(bootstrap);
                return Ok(c);
            }
        }
        bail!(
            "running an arm64 bootstrap on this {} machine needs qemu-user and the arm64 C \
             library; on Debian or Ubuntu:\n  sudo apt-get install qemu-user-static libc6-arm64-cross",
            std::env::consts::ARCH
        );
    }
    bail!(
        "cannot run a {machine:?} bootstrap on this {} machine",
        std::env::consts::ARCH
    )
}

/// Extracts the package into a temporary directory, runs its bootstrap there (as
/// `$LAMBDA_TASK_ROOT`) against a local Runtime API, hands it `events` in order and returns
/// one answer per event — or the init error, if the bootstrap reported one.
///
/// The bootstrap's own output (its log lines) goes to this process's standard error.
pub fn run(package: &Path, events: &[Vec<u8>]) -> Result<Vec<Answer>> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let contents = archive::extract(package, dir.path())?;
    let bootstrap = dir.path().join(archive::BOOTSTRAP);
    let mut cmd = runner(contents.machine, &bootstrap)?;
    let fake = FakeRuntime::start().context("starting a local Runtime API")?;
    for (i, e) in events.iter().enumerate() {
        fake.invoke(&format!("local-{}", i + 1), e.clone());
    }
    let mut child = cmd
        .current_dir(dir.path())
        .env("AWS_LAMBDA_RUNTIME_API", fake.address())
        .env("LAMBDA_TASK_ROOT", dir.path())
        .env("AWS_LAMBDA_FUNCTION_NAME", "icebreak-local")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env_remove("ICEBREAK_MODEL_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .spawn()
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let start = Instant::now();
    let answers = loop {
        let got = fake.wait_answers(events.len(), Duration::from_millis(100));
        let init_failed = got
            .iter()
            .any(|a| matches!(a.kind, icebreak_fake_runtime::AnswerKind::InitError(_)));
        if got.len() >= events.len() || init_failed {
            break got;
        }
        if let Some(status) = child.try_wait()? {
            let got = fake.wait_answers(events.len(), Duration::from_millis(100));
            if got.len() < events.len() {
                bail!(
                    "the bootstrap exited ({status}) after {} of {} answers",
                    got.len(),
                    events.len()
                );
            }
            break got;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} of {} answers within {TIMEOUT:?}",
                got.len(),
                events.len()
            );
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(answers)
}
