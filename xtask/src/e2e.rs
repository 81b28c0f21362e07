//! `cargo xtask e2e`: the release `bootstrap` against a real Runtime API emulator, the one
//! cargo-lambda ships (`cargo lambda watch --only-lambda-apis`), invoked with
//! `cargo lambda invoke` — and `cargo xtask test`: everything the README's test command runs.
//!
//! The emulator is the PyPI package `cargo-lambda`, pinned to [`CARGO_LAMBDA_VERSION`] and
//! installed into the project's `.venv` (created if missing; nothing is done when the pinned
//! version is already there). It is installed without its dependencies: its one dependency,
//! `ziglang` (about 400 MB), serves only `cargo lambda build`'s cross-compilation.
//!
//! What the emulator expects, found with version 1.9.2:
//! - it runs `cargo metadata` on `./Cargo.toml`, so it is started in the workspace root;
//! - with `--only-lambda-apis` it prints the environment the function must be given, among it
//!   `AWS_LAMBDA_RUNTIME_API=http://<address>:<port>/.rt` (a URL with a path prefix, not the
//!   `host:port` that AWS gives) and `AWS_LAMBDA_FUNCTION_NAME=_`; the runtime routes without a
//!   function name in the path serve the function `_`, which is `cargo lambda invoke`'s default
//!   name. The harness reads that environment from the emulator's log and passes it on;
//! - `Lambda-Runtime-Deadline-Ms` is `600000` (a duration, not an epoch time): the runtime
//!   treats such deadlines as unknown;
//! - a function error makes `cargo lambda invoke` exit non-zero and print `Error: <errorType>`
//!   and `× <errorMessage>` on stderr;
//! - `--data-file` events reach the function unchanged, whatever their shape (function URL,
//!   API Gateway v1 and v2, ALB, SQS), and the answer is printed as the function returned it:
//!   an HTTP-shaped answer is not interpreted, so a 4xx `statusCode` is still a successful
//!   invocation (exit status 0) and its `body` stays a JSON string.
//!
//! Every child (emulator, bootstrap, each `cargo lambda invoke`) is killed and reaped on every
//! path, panics included ([`Child`] guard), and every wait is bounded: the emulator part cannot
//! take more than [`BUDGET`].

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::process::{cargo, free_port};
use icebreak_bench_support::python::{ensure_venv, pip_install};
use serde_json::Value;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The pinned emulator (PyPI package `cargo-lambda`).
pub const CARGO_LAMBDA_VERSION: &str = "1.9.2";

/// The longest the emulator part (start, invocations, checks) may take.
const BUDGET: Duration = Duration::from_secs(60);

/// The longest one step (emulator start-up, one invocation) may take.
const STEP: Duration = Duration::from_secs(20);

/// Emulator start attempts (a free port can be taken between picking and binding it).
const START_ATTEMPTS: usize = 3;

const USAGE: &str = "usage: cargo xtask e2e

Builds the release bootstrap, installs cargo-lambda into .venv if needed, starts its
Runtime API emulator and the bootstrap, invokes it with the examples/ events and the
crates/lambda/tests/events/ fixtures (HTTP-shaped events, an SQS batch) and checks the
answers.";

/// `cargo xtask e2e`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        bail!("unknown argument {a:?}\n{USAGE}");
    }
    let root = icebreak_bench_support::root();
    let root = root.canonicalize().unwrap_or(root);
    let mut tally = Tally::default();
    let outcome = (|| {
        let cargo_lambda = ensure_cargo_lambda(&root)?;
        eprintln!("e2e: building the release bootstrap");
        let bootstrap = build_bootstrap(&root)?;
        let expected = Expected::load(&root)?;
        scenario(&root, &cargo_lambda, &bootstrap, &expected, &mut tally)
    })();
    if let Err(e) = &outcome {
        tally.fail("harness", &format!("{e:#}"));
    }
    println!("e2e: {} passed, {} failed", tally.passed, tally.failed);
    ensure!(
        tally.failed == 0,
        "{} end-to-end check(s) failed",
        tally.failed
    );
    Ok(())
}

/// `cargo xtask test`: the unit and integration tests (nextest when installed, else
/// `cargo test`), the doc tests (nextest does not run them), then the end-to-end test. Every
/// step runs even when an earlier one failed; the command fails if any did.
pub fn test_all(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            println!("usage: cargo xtask test\n\nThe unit and integration tests (cargo nextest when installed, else cargo test), the doc\ntests, the deploy test of the CLI (convert, package both ways, smoke, invoke from an empty\ndirectory), cargo xtask e2e, then the Python package's pytest suite\n(scripts/python-tests.sh); every step runs even when an earlier one failed.");
            return Ok(());
        }
        bail!("unknown argument {a:?}; usage: cargo xtask test");
    }
    let root = icebreak_bench_support::root();
    let mut failed: Vec<&str> = Vec::new();

    let nextest = cargo()
        .args(["nextest", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (name, tests): (&str, &[&str]) = if nextest {
        (
            "cargo nextest run --workspace",
            &["nextest", "run", "--workspace"],
        )
    } else {
        eprintln!("test: cargo-nextest is not installed; using cargo test");
        ("cargo test --workspace", &["test", "--workspace"])
    };
    // The deploy test (ignored by default: it builds two release bootstraps) from an empty
    // directory with only the icebreak binary: convert, package both ways, smoke, invoke.
    let deploy: (&str, &[&str]) = if nextest {
        (
            "cargo nextest run -p icebreak-cli --run-ignored ignored-only deploy",
            &[
                "nextest",
                "run",
                "-p",
                "icebreak-cli",
                "--run-ignored",
                "ignored-only",
                "deploy",
            ],
        )
    } else {
        (
            "cargo test -p icebreak-cli --test cli -- --ignored deploy",
            &[
                "test",
                "-p",
                "icebreak-cli",
                "--test",
                "cli",
                "--",
                "--ignored",
                "deploy",
            ],
        )
    };
    for (name, args) in [
        (name, tests),
        (
            "cargo test --workspace --doc",
            &["test", "--workspace", "--doc"][..],
        ),
        deploy,
    ] {
        eprintln!("test: {name}");
        let ok = cargo()
            .current_dir(&root)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {name}"))?
            .success();
        if !ok {
            eprintln!("test: {name} FAILED");
            failed.push(name);
        }
    }

    eprintln!("test: cargo xtask e2e");
    if let Err(e) = run(&[]) {
        eprintln!("xtask: {e:#}");
        failed.push("cargo xtask e2e");
    }
    eprintln!("test: scripts/python-tests.sh");
    let ok = Command::new("bash")
        .arg(root.join("scripts").join("python-tests.sh"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .context("running scripts/python-tests.sh")?
        .success();
    if !ok {
        eprintln!("test: scripts/python-tests.sh FAILED");
        failed.push("scripts/python-tests.sh");
    }
    ensure!(failed.is_empty(), "failed: {}", failed.join(", "));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Set-up: the emulator and the bootstrap.

/// Makes sure `.venv` holds the pinned cargo-lambda; returns its executable.
pub(crate) fn ensure_cargo_lambda(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let bin = venv.join("bin");
    let exe = bin.join("cargo-lambda");
    if installed_version(&exe).as_deref() == Some(CARGO_LAMBDA_VERSION) {
        return Ok(exe);
    }
    let python = ensure_venv(root, "e2e")?;
    eprintln!("e2e: installing cargo-lambda {CARGO_LAMBDA_VERSION} into .venv");
    pip_install(
        &python,
        &format!("cargo-lambda=={CARGO_LAMBDA_VERSION}"),
        true,
    )?;
    let got = installed_version(&exe);
    ensure!(
        got.as_deref() == Some(CARGO_LAMBDA_VERSION),
        "{} reports version {got:?} after the install, not {CARGO_LAMBDA_VERSION}",
        exe.display()
    );
    Ok(exe)
}

/// `cargo-lambda lambda --version` prints `cargo-lambda 1.9.2 (<commit> <date>)`.
fn installed_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe)
        .args(["lambda", "--version"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().nth(1).map(str::to_owned)
}

/// `cargo build --release -p icebreak-bootstrap`; returns the executable cargo reports.
fn build_bootstrap(root: &Path) -> Result<PathBuf> {
    let out = cargo()
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "icebreak-bootstrap",
            "--bin",
            "bootstrap",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    ensure!(
        out.status.success(),
        "cargo build --release -p icebreak-bootstrap failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let exe = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "bootstrap")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo build reported no bootstrap executable")?;
    ensure!(exe.is_file(), "{} was not built", exe.display());
    Ok(exe)
}

/// A child process, killed and reaped when dropped (on every path, panics included), its
/// stdout and stderr in a log file.
struct Child {
    name: &'static str,
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Child {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Child> {
        let out = File::create(&log).with_context(|| log.display().to_string())?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawning {name} ({:?})", cmd.get_program()))?;
        Ok(Child {
            name,
            child: Some(child),
            log,
        })
    }

    /// The exit status, if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Waits for the exit until `deadline`; kills it then.
    fn wait_until(&mut self, deadline: Instant) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.exited() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                self.kill();
                bail!("{} did not finish in time (killed)", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes ANSI escape sequences (the emulator's log may be coloured).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `AWS_LAMBDA_*=value` lines that the emulator prints for `--only-lambda-apis`.
fn advertised_env(log: &str) -> Vec<(String, String)> {
    strip_ansi(log)
        .lines()
        .filter_map(|l| {
            let i = l.find("AWS_LAMBDA_")?;
            let (k, v) = l[i..].split_once('=')?;
            (k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
                .then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// The running emulator and what it told the function to use.
struct Emulator {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

impl Emulator {
    fn var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn start_emulator(root: &Path, exe: &Path, logs: &Path, deadline: Instant) -> Result<Emulator> {
    let mut last = String::new();
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port()?;
        let mut cmd = Command::new(exe);
        cmd.current_dir(root)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .env("NO_COLOR", "1");
        let mut child = Child::spawn("cargo lambda watch", &mut cmd, logs.join("emulator.log"))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let step_end = deadline.min(Instant::now() + STEP);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // The environment is printed before the listener is bound.
                let env = advertised_env(&child.output());
                return Ok(Emulator { child, port, env });
            }
            if let Some(status) = child.exited() {
                last = format!(
                    "the emulator exited ({status}) on attempt {attempt}:\n{}",
                    child.output()
                );
                break;
            }
            if Instant::now() >= step_end {
                child.kill();
                bail!(
                    "the emulator did not listen on {addr} within {STEP:?}:\n{}",
                    child.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    bail!("{last}")
}

// ---------------------------------------------------------------------------------------------
// What the answers must be.

/// What scikit-learn answered for the reference rows (fixtures/linear/breast_cancer).
struct Expected {
    inputs: Vec<Vec<f64>>,
    predict: Vec<Value>,
    proba: Vec<Vec<f64>>,
}

fn floats(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn read_json(root: &Path, rel: &str) -> Result<Value> {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| format!("{rel} is not JSON"))
}

impl Expected {
    fn load(root: &Path) -> Result<Expected> {
        let r = read_json(root, "fixtures/linear/breast_cancer/reference.json")?;
        let rows = |key: &str| -> Result<Vec<Vec<f64>>> {
            r[key]
                .as_array()
                .and_then(|a| a.iter().map(floats).collect())
                .with_context(|| format!("reference.json: no {key}"))
        };
        let e = Expected {
            inputs: rows("inputs")?,
            predict: r["predict"]
                .as_array()
                .cloned()
                .context("reference.json: no predict")?,
            proba: rows("predict_proba")?,
        };
        ensure!(
            !e.inputs.is_empty() && e.predict.len() == e.inputs.len(),
            "reference.json: inputs and predict differ in length"
        );
        Ok(e)
    }

    fn n_features(&self) -> usize {
        self.inputs[0].len()
    }

    /// The reference row equal to `features`.
    fn row(&self, features: &[f64]) -> Option<usize> {
        self.inputs.iter().position(|r| {
            r.len() == features.len() && r.iter().zip(features).all(|(a, b)| (a - b).abs() < 1e-9)
        })
    }

    /// Checks one `{prediction, probabilities}` answer for `features`.
    fn check_prediction(&self, answer: &Value, features: &[f64]) -> Result<()> {
        let i = self
            .row(features)
            .context("the event's features are not a row of reference.json")?;
        self.check_row(answer, i)
    }

    /// Checks one `{prediction, probabilities}` answer against reference row `i`.
    fn check_row(&self, answer: &Value, i: usize) -> Result<()> {
        ensure!(
            answer["prediction"] == self.predict[i],
            "prediction {} but scikit-learn predicted {}",
            answer["prediction"],
            self.predict[i]
        );
        let p = floats(&answer["probabilities"]).context("no probabilities")?;
        let sum: f64 = p.iter().sum();
        ensure!(
            (sum - 1.0).abs() < 1e-5,
            "probabilities sum to {sum}, not 1"
        );
        ensure!(
            p.len() == self.proba[i].len()
                && p.iter()
                    .zip(&self.proba[i])
                    .all(|(a, b)| (a - b).abs() < 1e-5),
            "probabilities {p:?} differ from scikit-learn's {:?}",
            self.proba[i]
        );
        Ok(())
    }
}

/// Features of a `{"features": [...]}` value.
fn features_of(v: &Value) -> Result<Vec<f64>> {
    floats(&v["features"]).context("no numeric \"features\"")
}

// ---------------------------------------------------------------------------------------------
// The scenario.

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn pass(&mut self, name: &str) {
        self.passed += 1;
        println!("e2e: ok   {name}");
    }

    fn fail(&mut self, name: &str, why: &str) {
        self.failed += 1;
        println!("e2e: FAIL {name}: {why}");
    }

    fn check(&mut self, name: &str, result: Result<()>) {
        match result {
            Ok(()) => self.pass(name),
            Err(e) => self.fail(name, &format!("{e:#}")),
        }
    }
}

/// What `cargo lambda invoke` did.
struct Invoked {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Invoked {
    /// The answer of a successful invocation.
    fn json(&self) -> Result<Value> {
        ensure!(
            self.status.success(),
            "cargo lambda invoke failed ({}): {}",
            self.status,
            self.stderr.trim()
        );
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("the answer is not JSON: {:?}", self.stdout))
    }

    /// `(errorType, errorMessage)` of a function error, as cargo-lambda prints it:
    /// `Error: <errorType>` then `× <errorMessage>` (long messages wrap onto `│` lines).
    fn function_error(&self) -> Result<(String, String)> {
        ensure!(
            !self.status.success(),
            "cargo lambda invoke succeeded; expected a function error. Answer: {}",
            self.stdout.trim()
        );
        let text = strip_ansi(&self.stderr);
        let mut lines = text.lines().map(str::trim);
        let kind = lines
            .by_ref()
            .find_map(|l| l.strip_prefix("Error:"))
            .with_context(|| format!("no `Error:` line in {text:?}"))?
            .trim()
            .to_owned();
        let mut message = lines
            .by_ref()
            .find_map(|l| l.strip_prefix('×'))
            .with_context(|| format!("no `×` line in {text:?}"))?
            .trim()
            .to_owned();
        for l in lines {
            match l.strip_prefix('│') {
                Some(more) if !more.trim().is_empty() => {
                    message.push(' ');
                    message.push_str(more.trim());
                }
                _ => break,
            }
        }
        Ok((kind, message))
    }
}

struct Session<'a> {
    root: &'a Path,
    exe: &'a Path,
    logs: &'a Path,
    port: u16,
    function: String,
    deadline: Instant,
    count: usize,
}

impl Session<'_> {
    fn invoke(&mut self, event: &str) -> Result<Invoked> {
        self.count += 1;
        let out = self.logs.join(format!("invoke-{}.out", self.count));
        let mut cmd = Command::new(self.exe);
        cmd.current_dir(self.root)
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(self.root.join(event))
            .args(["--output-format", "json", "--color", "never"])
            .arg(&self.function)
            .env("NO_COLOR", "1");
        let stdout = File::create(&out).with_context(|| out.display().to_string())?;
        let err_path = out.with_extension("err");
        let stderr = File::create(&err_path).with_context(|| err_path.display().to_string())?;
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let mut child = Child {
            name: "cargo lambda invoke",
            child: Some(cmd.spawn().context("spawning cargo lambda invoke")?),
            log: out.clone(),
        };
        let status = child.wait_until(self.deadline.min(Instant::now() + STEP))?;
        Ok(Invoked {
            status,
            stdout: std::fs::read_to_string(&out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        })
    }
}

fn scenario(
    root: &Path,
    exe: &Path,
    bootstrap_exe: &Path,
    expected: &Expected,
    t: &mut Tally,
) -> Result<()> {
    let deadline = Instant::now() + BUDGET;
    let logs = std::env::temp_dir().join(format!("icebreak-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| logs.display().to_string())?;
    let result = scenario_in(root, exe, bootstrap_exe, expected, t, &logs, deadline);
    if result.is_ok() && t.failed == 0 {
        let _ = std::fs::remove_dir_all(&logs);
    } else {
        eprintln!("e2e: logs kept in {}", logs.display());
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn scenario_in(
    root: &Path,
    exe: &Path,
    bootstrap_exe: &Path,
    expected: &Expected,
    t: &mut Tally,
    logs: &Path,
    deadline: Instant,
) -> Result<()> {
    let n = expected.n_features();
    let mut emulator = start_emulator(root, exe, logs, deadline)?;
    let port = emulator.port;

    // The address the emulator tells the function to use: a URL with the `/.rt` prefix.
    let want = format!("http://127.0.0.1:{port}/.rt");
    let api = emulator
        .var("AWS_LAMBDA_RUNTIME_API")
        .unwrap_or(&want)
        .to_owned();
    t.check(
        "emulator advertises AWS_LAMBDA_RUNTIME_API",
        match emulator.var("AWS_LAMBDA_RUNTIME_API") {
            Some(v) if v == want => Ok(()),
            Some(v) => Err(anyhow::anyhow!("advertised {v:?}, expected {want:?}")),
            None => Err(anyhow::anyhow!(
                "not in the emulator's log:\n{}",
                emulator.child.output()
            )),
        },
    );
    let function = emulator
        .var("AWS_LAMBDA_FUNCTION_NAME")
        .unwrap_or("_")
        .to_owned();

    let mut cmd = Command::new(bootstrap_exe);
    cmd.current_dir(root).env_clear();
    for key in ["PATH", "HOME", "TZ", "LANG"] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(emulator.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &function);
    let mut bootstrap = Child::spawn("bootstrap", &mut cmd, logs.join("bootstrap.log"))?;

    let mut s = Session {
        root,
        exe,
        logs,
        port,
        function,
        deadline,
        count: 0,
    };
    let event = read_json(root, "examples/event.json")?;
    let features = features_of(&event)?;

    // 1. A valid event, the process's first invocation.
    let name = "event.json: scikit-learn's prediction, cold start";
    let r = s.invoke("examples/event.json").and_then(|i| {
        let a = i.json()?;
        expected.check_prediction(&a, &features)?;
        ensure!(a["cold_start"] == true, "cold_start is {}", a["cold_start"]);
        Ok(())
    });
    t.check(name, r);

    // 2. The wrong number of features: a function error, and the process keeps serving.
    let bad = read_json(root, "examples/bad-event.json")?;
    let got = features_of(&bad)?.len();
    let name = "bad-event.json: InvalidInput function error";
    let r = s.invoke("examples/bad-event.json").and_then(|i| {
        let (kind, message) = i.function_error()?;
        ensure!(kind == "InvalidInput", "errorType {kind:?}");
        let want = format!("expected {n} features, got {got}");
        ensure!(
            message == want,
            "errorMessage {message:?}, expected {want:?}"
        );
        Ok(())
    });
    t.check(name, r);

    // 3. A batch: each instance answered on its own, a bad one as an error item.
    let batch = read_json(root, "examples/batch-event.json")?;
    let name = "batch-event.json: one item per instance, warm";
    let r = s.invoke("examples/batch-event.json").and_then(|i| {
        let a = i.json()?;
        let instances = batch["instances"].as_array().context("no instances")?;
        let items = a["predictions"].as_array().context("no predictions")?;
        ensure!(
            items.len() == instances.len(),
            "{} items for {} instances",
            items.len(),
            instances.len()
        );
        for (k, (inst, item)) in instances.iter().zip(items).enumerate() {
            let f = features_of(inst)?;
            if f.len() == n {
                expected
                    .check_prediction(item, &f)
                    .with_context(|| format!("item {k}"))?;
            } else {
                let want = format!("expected {n} features, got {}", f.len());
                ensure!(
                    item["error"]["errorType"] == "InvalidInput"
                        && item["error"]["errorMessage"] == want.as_str(),
                    "item {k}: {item}, expected an InvalidInput error {want:?}"
                );
            }
        }
        ensure!(
            a["cold_start"] == false,
            "cold_start is {}",
            a["cold_start"]
        );
        Ok(())
    });
    t.check(name, r);

    // 4. A valid event again: warm.
    let name = "event.json again: same prediction, warm";
    let r = s.invoke("examples/event.json").and_then(|i| {
        let a = i.json()?;
        expected.check_prediction(&a, &features)?;
        ensure!(
            a["cold_start"] == false,
            "cold_start is {}",
            a["cold_start"]
        );
        Ok(())
    });
    t.check(name, r);

    // The bootstrap is still serving, and logged its cold start once and the error once.
    let status = bootstrap.exited();
    let log = bootstrap.output();
    t.check(
        "bootstrap still running, cold start and error logged once",
        (|| {
            ensure!(status.is_none(), "the bootstrap exited: {status:?}");
            let cold = log.matches("icebreak cold start:").count();
            ensure!(cold == 1, "{cold} cold-start lines");
            // The error's Display, whatever the log format (text or JSON) around it.
            let error = format!("InvalidInput: expected {n} features, got {got}");
            let errors = log.matches(&error).count();
            ensure!(errors == 1, "{errors} lines with {error:?}");
            Ok(())
        })(),
    );
    // 5. The event shapes AWS documents (crates/lambda/tests/events/), checked as
    // crates/lambda/tests/lambda/events.rs checks them.
    event_shapes(&mut s, expected, t)?;
    let status = bootstrap.exited();
    let log = bootstrap.output();
    t.check(
        "bootstrap still running after the event shapes, one cold start",
        (|| {
            ensure!(status.is_none(), "the bootstrap exited: {status:?}");
            let cold = log.matches("icebreak cold start:").count();
            ensure!(cold == 1, "{cold} cold-start lines");
            Ok(())
        })(),
    );

    if t.failed > 0 {
        eprintln!("--- bootstrap output ---\n{}", log.trim_end());
        eprintln!(
            "--- emulator output ---\n{}",
            emulator.child.output().trim_end()
        );
    }
    bootstrap.kill();
    emulator.child.kill();
    Ok(())
}

/// Where the event-shape fixtures are, relative to the workspace root.
const EVENTS: &str = "crates/lambda/tests/events";

/// An HTTP-shaped answer (function URL, API Gateway, ALB): its status code, its body parsed
/// as JSON, and the whole answer.
struct HttpAnswer {
    status: u64,
    body: Value,
    whole: Value,
}

impl HttpAnswer {
    /// Requires a successful invocation whose answer is `{statusCode, headers, body,
    /// isBase64Encoded}` with a JSON body, as the unit tests do.
    fn of(i: &Invoked) -> Result<HttpAnswer> {
        let whole = i.json()?;
        ensure!(
            whole["headers"]["content-type"] == "application/json",
            "content-type {} in {whole}",
            whole["headers"]["content-type"]
        );
        ensure!(
            whole["isBase64Encoded"] == false,
            "isBase64Encoded is {}",
            whole["isBase64Encoded"]
        );
        let status = whole["statusCode"]
            .as_u64()
            .with_context(|| format!("no numeric statusCode in {whole}"))?;
        let text = whole["body"]
            .as_str()
            .with_context(|| format!("no string body in {whole}"))?;
        let body = serde_json::from_str(text)
            .with_context(|| format!("the body is not JSON: {text:?}"))?;
        Ok(HttpAnswer {
            status,
            body,
            whole,
        })
    }

    fn status(&self, want: u64) -> Result<()> {
        ensure!(
            self.status == want,
            "statusCode {}, expected {want}; body {}",
            self.status,
            self.body
        );
        Ok(())
    }

    /// A JSON error body `{errorType, errorMessage}` of type `kind`.
    fn error(&self, kind: &str) -> Result<&str> {
        ensure!(
            self.body["errorType"] == kind,
            "errorType {}, expected {kind:?}; body {}",
            self.body["errorType"],
            self.body
        );
        self.body["errorMessage"]
            .as_str()
            .filter(|m| !m.is_empty())
            .with_context(|| format!("no errorMessage in {}", self.body))
    }
}

/// The features in the `body` of an event fixture when it is plain JSON text (not base64).
fn fixture_features(event: &Value) -> Option<Vec<f64>> {
    if event["isBase64Encoded"] == true {
        return None;
    }
    let body: Value = serde_json::from_str(event["body"].as_str()?).ok()?;
    features_of(&body).ok()
}

/// Invokes the bootstrap with every fixture of crates/lambda/tests/events/ and checks the
/// answers as crates/lambda/tests/lambda/events.rs does: HTTP status codes, JSON error bodies,
/// scikit-learn's label for reference row 0, the SQS batch's failed messages.
fn event_shapes(s: &mut Session<'_>, expected: &Expected, t: &mut Tally) -> Result<()> {
    let n = expected.n_features();
    let fixture = |name: &str| read_json(s.root, &format!("{EVENTS}/{name}"));

    // A 200 with scikit-learn's answer for reference row 0 (the fixtures' features), warm.
    let predicts = |a: &HttpAnswer, event: &Value| -> Result<()> {
        a.status(200)?;
        if let Some(f) = fixture_features(event) {
            ensure!(
                expected.row(&f) == Some(0),
                "the fixture's features are not reference.json's row 0"
            );
        }
        ensure!(
            a.body["prediction"] == expected.predict[0],
            "prediction {} but scikit-learn predicted {} (predict[0])",
            a.body["prediction"],
            expected.predict[0]
        );
        expected.check_row(&a.body, 0)?;
        ensure!(
            a.body["cold_start"] == false,
            "cold_start is {}",
            a.body["cold_start"]
        );
        Ok(())
    };

    for (name, what) in [
        ("function-url-post.json", "200 with scikit-learn's label"),
        ("function-url-base64.json", "base64 body decoded, 200"),
        ("http-api-stage.json", "stage prefix stripped, 200"),
        ("rest-api-v1.json", "REST API v1, 200"),
        ("alb.json", "ALB, 200 with statusDescription \"200 OK\""),
    ] {
        let event = fixture(name)?;
        let r = s.invoke(&format!("{EVENTS}/{name}")).and_then(|i| {
            let a = HttpAnswer::of(&i)?;
            predicts(&a, &event)?;
            let description = a.whole.get("statusDescription");
            if name == "alb.json" {
                ensure!(
                    description == Some(&Value::from("200 OK")),
                    "statusDescription {description:?}"
                );
            } else if name.starts_with("function-url") {
                ensure!(
                    description.is_none(),
                    "statusDescription {description:?} in a function URL answer"
                );
            }
            Ok(())
        });
        t.check(&format!("{name}: {what}"), r);
    }

    let name = "function-url-get-model.json";
    let r = s.invoke(&format!("{EVENTS}/{name}")).and_then(|i| {
        let a = HttpAnswer::of(&i)?;
        a.status(200)?;
        let b = &a.body;
        let mut classes: Vec<&Value> = expected.predict.iter().collect();
        classes.sort_by_key(|v| v.to_string());
        classes.dedup();
        for (key, got, want) in [
            ("task", &b["task"], serde_json::json!("classification")),
            ("n_features", &b["n_features"], serde_json::json!(n)),
            (
                "model_version",
                &b["model_version"],
                serde_json::json!("breast_cancer-1"),
            ),
            ("classes", &b["classes"], serde_json::json!(classes)),
            (
                "stages",
                &b["stages"],
                serde_json::json!(["standard_scaler", "linear", "binary_logistic"]),
            ),
        ] {
            ensure!(*got == want, "{key} is {got}, expected {want}");
        }
        let names = b["feature_names"].as_array().map_or(0, Vec::len);
        ensure!(names == n, "{names} feature names, expected {n}");
        Ok(())
    });
    t.check(&format!("{name}: 200, the model's description"), r);

    let name = "function-url-bad-input.json";
    let got = fixture_features(&fixture(name)?)
        .context("function-url-bad-input.json: no features in its body")?
        .len();
    let r = s.invoke(&format!("{EVENTS}/{name}")).and_then(|i| {
        let a = HttpAnswer::of(&i)?;
        a.status(400)?;
        let message = a.error("InvalidInput")?;
        let want = format!("expected {n} features, got {got}");
        ensure!(
            message == want,
            "errorMessage {message:?}, expected {want:?}"
        );
        Ok(())
    });
    t.check(&format!("{name}: 400, InvalidInput JSON error"), r);

    for (name, status, kind) in [
        ("function-url-unknown-path.json", 404, "NotFound"),
        ("function-url-wrong-method.json", 405, "MethodNotAllowed"),
        ("rest-api-v1-text.json", 415, "UnsupportedMediaType"),
    ] {
        let r = s.invoke(&format!("{EVENTS}/{name}")).and_then(|i| {
            let a = HttpAnswer::of(&i)?;
            a.status(status)?;
            a.error(kind)?;
            if status == 405 {
                let allow = &a.whole["headers"]["allow"];
                ensure!(allow == "POST", "allow header {allow}, expected \"POST\"");
            }
            Ok(())
        });
        t.check(&format!("{name}: {status}, {kind} JSON error"), r);
    }

    // SQS: the 2nd message has 3 features, the 3rd is not JSON; the 1st succeeds.
    let name = "sqs.json";
    let event = fixture(name)?;
    let ids: Vec<&Value> = event["Records"]
        .as_array()
        .context("sqs.json: no Records")?
        .iter()
        .map(|r| &r["messageId"])
        .collect();
    ensure!(
        ids.len() == 3,
        "sqs.json: {} records, expected 3",
        ids.len()
    );
    let want = serde_json::json!({"batchItemFailures": [
        {"itemIdentifier": ids[1]},
        {"itemIdentifier": ids[2]},
    ]});
    let r = s.invoke(&format!("{EVENTS}/{name}")).and_then(|i| {
        let a = i.json()?;
        ensure!(a == want, "answer {a}, expected {want}");
        Ok(())
    });
    t.check(
        &format!("{name}: batchItemFailures lists the 2nd and 3rd messages"),
        r,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_advertised_environment() {
        let log = "\u{1b}[32m INFO\u{1b}[0m AWS_LAMBDA_FUNCTION_VERSION=1\n INFO AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:9000/.rt\n INFO starting Runtime server runtime_addr=127.0.0.1:9000\n";
        assert_eq!(
            advertised_env(log),
            vec![
                ("AWS_LAMBDA_FUNCTION_VERSION".to_owned(), "1".to_owned()),
                (
                    "AWS_LAMBDA_RUNTIME_API".to_owned(),
                    "http://127.0.0.1:9000/.rt".to_owned()
                ),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn reads_a_function_error() {
        let i = Invoked {
            status: failed_status(),
            stdout: String::new(),
            stderr: "Error: InvalidInput\n\n  × expected 30 features,\n  │ got 3\n\n  Was this behavior unexpected?\n".to_owned(),
        };
        let (kind, message) = i.function_error().unwrap();
        assert_eq!(kind, "InvalidInput");
        assert_eq!(message, "expected 30 features, got 3");
    }

    #[cfg(unix)]
    fn failed_status() -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        ExitStatus::from_raw(1 << 8)
    }
}
