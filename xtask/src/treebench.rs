//! `cargo xtask treebench`: icebreak's tree kernels against xgboost, lightgbm, onnxruntime
//! and lleaves, in one run, on the same model files and the same rows.
//!
//! 1. Installs the pinned Python toolchain (`scripts/bench/requirements-trees.txt`) into the
//!    project's `.venv` (created if missing), then tries lleaves
//!    (`scripts/bench/requirements-lleaves.txt`); when lleaves does not install, the run goes
//!    on without it and the report says why.
//! 2. Builds `bench/trees-timer` in release (the product's profile: fat LTO, one codegen unit).
//! 3. `scripts/bench/trees.py prepare`: trains the models (binary, 50 features; 500 trees of
//!    depth 6, trees 10/100/1000 at depth 6, depths 4/8/10 at 100 trees; XGBoost and
//!    LightGBM), converts them to ONNX, compiles LightGBM models with lleaves, records the
//!    libraries' probabilities for the 1000 timed rows. Everything goes under
//!    `<target>/treebench/` and is reused by later runs when its inputs are unchanged.
//! 4. Rounds (`--rounds`, default 3): in each, the Python side times every engine on every
//!    model, then the timer times icebreak on every model (the order flips every round).
//!    Each figure is the median of per-call times within a round; the report gives the
//!    median of the round medians and their range.
//! 5. Writes the report, printed and saved to `<target>/treebench/treebench.md`.
//!
//! The timer refuses to time a model whose probabilities differ from the library's, so every
//! line compares the same predictions.

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const USAGE: &str =
    "usage: cargo xtask treebench [--quick] [--rounds N] [--no-lleaves] [--lleaves-all]

Trains XGBoost and LightGBM models (500 trees of depth 6; trees 10/100/1000 at depth 6;
depths 4/8/10 at 100 trees), converts them to ONNX, and times icebreak, xgboost
(inplace_predict), lightgbm (predict), onnxruntime and lleaves on them in one run: single
row (median of per-call times) and batches of 1000 rows, one thread and default threads;
plus handler creation and first inference. Report: target/treebench/treebench.md.

  --quick         the 500-tree and 10-tree models only, one round, fewer calls (a smoke run)
  --rounds N      rounds of measurements (default 3; 1 with --quick)
  --no-lleaves    do not try to install or run lleaves
  --lleaves-all   compile every LightGBM model with lleaves (default: 500, 10 and 100 trees
                  of depth 6; compiling takes minutes per few hundred trees, cached after)";

struct Options {
    quick: bool,
    rounds: usize,
    lleaves: bool,
    lleaves_all: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        rounds: 0,
        lleaves: true,
        lleaves_all: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--quick" => o.quick = true,
            "--no-lleaves" => o.lleaves = false,
            "--lleaves-all" => o.lleaves_all = true,
            "--rounds" => {
                o.rounds = it
                    .next()
                    .context("--rounds needs a value")?
                    .parse()
                    .context("--rounds")?;
                ensure!(o.rounds > 0, "--rounds must be at least 1");
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 1 } else { 3 };
    }
    Ok(Some(o))
}

/// Calls, batches and creations per measurement: (python calls, python batches, python
/// creations, timer calls, timer batches, timer creations).
fn counts(quick: bool) -> [usize; 6] {
    if quick {
        [300, 5, 1, 5_000, 10, 50]
    } else {
        [2_000, 15, 3, 20_000, 50, 200]
    }
}

/// `cargo xtask treebench`.
pub fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let root = crate::root();
    let out = crate::coldstart::target_root().join("treebench");
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let load_start = loadavg();

    let python = ensure_venv(&root)?;
    eprintln!("treebench: installing scripts/bench/requirements-trees.txt into .venv");
    pip_install_requirements(&python, &root.join("scripts/bench/requirements-trees.txt"))?;
    let lleaves = if opts.lleaves {
        eprintln!("treebench: trying lleaves (scripts/bench/requirements-lleaves.txt)");
        match pip_install_requirements(
            &python,
            &root.join("scripts/bench/requirements-lleaves.txt"),
        ) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("{e:#}")),
        }
    } else {
        Err("not tried (--no-lleaves)".to_owned())
    };
    if let Err(e) = &lleaves {
        eprintln!("treebench: going on without lleaves: {e}");
    }

    let timer = build_timer(&root)?;
    let script = root.join("scripts/bench/trees.py");

    eprintln!("treebench: preparing models under {}", out.display());
    let mut prep = Command::new(&python);
    prep.arg(&script).arg("prepare").arg("--out").arg(&out);
    if opts.quick {
        prep.arg("--quick");
    }
    if lleaves.is_ok() {
        prep.arg("--lleaves");
    }
    if opts.lleaves_all {
        prep.arg("--lleaves-all");
    }
    run_checked(&mut prep, "trees.py prepare")?;
    let prepared = started.elapsed();

    let [py_calls, py_batches, py_creates, rs_calls, rs_batches, rs_creates] = counts(opts.quick);
    let mut py_rounds = Vec::new();
    let mut rs_rounds = Vec::new();
    for round in 1..=opts.rounds {
        let py_file = out.join(format!("python-round-{round}.json"));
        let rs_file = out.join(format!("rust-round-{round}.json"));
        let mut py = Command::new(&python);
        py.arg(&script)
            .args(["time", "--out"])
            .arg(&out)
            .args(["--round", &round.to_string()])
            .args(["--calls", &py_calls.to_string()])
            .args(["--batch-reps", &py_batches.to_string()])
            .args(["--create-reps", &py_creates.to_string()]);
        let mut rs = Command::new(&timer);
        rs.arg("--manifest")
            .arg(out.join("manifest.json"))
            .args(["--round", &round.to_string()])
            .arg("--out")
            .arg(&rs_file)
            .args(["--calls", &rs_calls.to_string()])
            .args(["--batch-reps", &rs_batches.to_string()])
            .args(["--create-reps", &rs_creates.to_string()]);
        if round % 2 == 1 {
            run_checked(&mut py, "trees.py time")?;
            run_checked(&mut rs, "trees-timer")?;
        } else {
            run_checked(&mut rs, "trees-timer")?;
            run_checked(&mut py, "trees.py time")?;
        }
        py_rounds.push(read_json(&py_file)?);
        rs_rounds.push(read_json(&rs_file)?);
    }
    let manifest = read_json(&out.join("manifest.json"))?;
    let env = Environment {
        command: command_line(args),
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        rustc: tool_version("rustc"),
        commit: commit(
            &root,
            &[
                "crates/engine",
                "crates/format",
                "crates/convert",
                "crates/lambda",
                "bench/trees-timer",
            ],
        ),
        load_start,
        load_end: loadavg(),
        prepare_s: prepared.as_secs_f64(),
        total_s: started.elapsed().as_secs_f64(),
        lleaves: lleaves.err(),
        counts: counts(opts.quick),
    };
    let report = report(&env, &manifest, &py_rounds, &rs_rounds)?;
    let path = out.join("treebench.md");
    std::fs::write(&path, &report).with_context(|| path.display().to_string())?;
    println!("{report}");
    eprintln!("treebench: report written to {}", path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Set-up.

/// The project's `.venv` Python, creating the environment if needed.
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("treebench: creating .venv");
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

/// `python -m pip install --quiet -r FILE`, failing loudly.
pub(crate) fn pip_install_requirements(python: &Path, file: &Path) -> Result<()> {
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(file)
        .stdin(Stdio::null())
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

/// `cargo build --release -p icebreak-bench-trees-timer`; returns the executable.
fn build_timer(root: &Path) -> Result<PathBuf> {
    eprintln!("treebench: building bench/trees-timer (release)");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "icebreak-bench-trees-timer",
            "--bin",
            "trees-timer",
        ])
        .stdin(Stdio::null())
        .status()
        .context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build -p icebreak-bench-trees-timer failed: {status}"
    );
    let exe = crate::coldstart::target_root()
        .join("release")
        .join("trees-timer");
    ensure!(exe.is_file(), "{} was not built", exe.display());
    Ok(exe)
}

pub(crate) fn run_checked(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {what}"))?;
    ensure!(status.success(), "{what} failed: {status}");
    Ok(())
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| path.display().to_string())
}

// ---------------------------------------------------------------------------------------------
// The machine.

struct Environment {
    command: String,
    cpu: String,
    cores: usize,
    rustc: String,
    commit: String,
    load_start: String,
    load_end: String,
    prepare_s: f64,
    total_s: f64,
    lleaves: Option<String>,
    counts: [usize; 6],
}

fn command_line(args: &[String]) -> String {
    let mut s = "cargo xtask treebench".to_owned();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub(crate) fn tool_version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The commit measured, and whether the code under `measured` (paths from the root)
/// differs from it.
pub(crate) fn commit(root: &Path, measured: &[&str]) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(c) => {
            let mut args = vec!["status", "--porcelain", "--"];
            args.extend_from_slice(measured);
            let dirty = git(&args).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} with uncommitted changes in the measured code")
            } else {
                c
            }
        }
        None => "unknown (not a git checkout)".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

/// One figure over the rounds: the median of the round medians and their range.
#[derive(Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) mid: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

impl Stat {
    pub(crate) fn of(mut v: Vec<f64>) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let k = v.len();
        let mid = if k % 2 == 1 {
            v[k / 2]
        } else {
            (v[k / 2 - 1] + v[k / 2]) / 2.0
        };
        Some(Stat {
            mid,
            lo: v[0],
            hi: v[k - 1],
        })
    }
}

/// (model, engine, threads) → per-round medians (ns) of single rows and of batches.
#[derive(Default)]
struct Series {
    single: Vec<f64>,
    batch: Vec<f64>,
}

type Key = (String, String, String);

pub(crate) fn median_ns(v: &Value) -> Option<f64> {
    v.get("median_ns").and_then(Value::as_f64)
}

fn collect(py_rounds: &[Value], rs_rounds: &[Value]) -> BTreeMap<Key, Series> {
    let mut map: BTreeMap<Key, Series> = BTreeMap::new();
    for round in py_rounds {
        for r in round["results"].as_array().into_iter().flatten() {
            let key = (
                r["model"].as_str().unwrap_or("").to_owned(),
                r["engine"].as_str().unwrap_or("").to_owned(),
                r["threads"].as_str().unwrap_or("").to_owned(),
            );
            let s = map.entry(key).or_default();
            if let Some(v) = median_ns(&r["single"]) {
                s.single.push(v);
            }
            if let Some(v) = median_ns(&r["batch"]) {
                s.batch.push(v);
            }
        }
    }
    for round in rs_rounds {
        for r in round["results"].as_array().into_iter().flatten() {
            let model = r["model"].as_str().unwrap_or("").to_owned();
            let s = map
                .entry((model.clone(), ICEBREAK.to_owned(), "1".to_owned()))
                .or_default();
            if let Some(v) = median_ns(&r["single"]) {
                s.single.push(v);
            }
            if let Some(v) = median_ns(&r["batch"]) {
                s.batch.push(v);
            }
            let h = map
                .entry((model.clone(), HANDLE.to_owned(), "1".to_owned()))
                .or_default();
            if let Some(v) = median_ns(&r["handle"]) {
                h.single.push(v);
            }
            let l = map
                .entry((model, ROW_LOOP.to_owned(), "1".to_owned()))
                .or_default();
            if let Some(v) = median_ns(&r["row_loop"]) {
                l.batch.push(v);
            }
        }
    }
    map
}

const ICEBREAK: &str = "icebreak predict_row / predict_batch";
const HANDLE: &str = "icebreak LambdaHandler::handle";
const ROW_LOOP: &str = "icebreak predict_row × 1000 in a loop";

fn is_icebreak(engine: &str) -> bool {
    engine == ICEBREAK || engine == HANDLE || engine == ROW_LOOP
}

/// Engines in report order.
const ENGINES: [&str; 7] = [
    ICEBREAK,
    HANDLE,
    ROW_LOOP,
    "xgboost",
    "lightgbm",
    "lleaves",
    "onnxruntime",
];

fn us(ns: f64) -> String {
    let v = ns / 1e3;
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn rows_per_s(ns: f64, rows: f64) -> f64 {
    rows / (ns / 1e9)
}

/// Thousands separated by a thin space, as elsewhere in BENCHMARKS.md.
fn int(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

pub(crate) fn ratio(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ×")
    } else if v >= 10.0 {
        format!("{v:.1} ×")
    } else {
        format!("{v:.2} ×")
    }
}

fn threads_label(t: &str) -> &str {
    if t == "1" {
        "1"
    } else {
        "default"
    }
}

fn report(
    env: &Environment,
    manifest: &Value,
    py_rounds: &[Value],
    rs_rounds: &[Value],
) -> Result<String> {
    let n_rows = manifest["n_rows"].as_f64().unwrap_or(1000.0);
    let versions = &manifest["versions"];
    let models = manifest["models"].as_array().context("manifest: models")?;
    let series = collect(py_rounds, rs_rounds);
    let stat = |key: &Key, batch: bool| -> Option<Stat> {
        series.get(key).and_then(|s| {
            if batch {
                Stat::of(s.batch.clone())
            } else {
                Stat::of(s.single.clone())
            }
        })
    };
    let rust_model = |name: &str| -> Option<&Value> {
        rs_rounds.last().and_then(|r| {
            r["results"]
                .as_array()
                .and_then(|a| a.iter().find(|m| m["model"] == name))
        })
    };
    let mut md = String::new();
    let w = &mut md;
    writeln!(w, "Command: `{}`", env.command)?;
    writeln!(w)?;
    writeln!(w, "| | |")?;
    writeln!(w, "|---|---|")?;
    writeln!(w, "| CPU (`/proc/cpuinfo` model name) | `{}` |", env.cpu)?;
    writeln!(w, "| cores (available parallelism) | {} |", env.cores)?;
    writeln!(w, "| rustc | `{}` |", env.rustc)?;
    writeln!(w, "| commit measured | `{}` |", env.commit)?;
    let v = |k: &str| versions[k].as_str().unwrap_or("not installed").to_owned();
    writeln!(
        w,
        "| Python libraries | Python {}, xgboost {}, lightgbm {}, onnxruntime {}, onnxmltools {}, onnx {}, numpy {}, scikit-learn {}, lleaves {} (llvmlite {}) |",
        v("python"),
        v("xgboost"),
        v("lightgbm"),
        v("onnxruntime"),
        v("onnxmltools"),
        v("onnx"),
        v("numpy"),
        v("scikit-learn"),
        v("lleaves"),
        v("llvmlite")
    )?;
    writeln!(
        w,
        "| load average (1, 5, 15 min) | {} at the start, {} at the end |",
        env.load_start, env.load_end
    )?;
    writeln!(
        w,
        "| wall time | {:.0} s in all, {:.0} s of it installing, building and preparing models |",
        env.total_s, env.prepare_s
    )?;
    writeln!(w, "| rounds | {} |", py_rounds.len())?;
    writeln!(
        w,
        "| calls per round | Python: {} single-row calls (fewer, at least 200, when a measurement passes 3 s), {} batches, {} creations; icebreak: {} single-row calls, {} batches, {} creations |",
        env.counts[0], env.counts[1], env.counts[2], env.counts[3], env.counts[4], env.counts[5]
    )?;
    writeln!(w, "| data | {} |", manifest["data"].as_str().unwrap_or(""))?;
    let floor = |rounds: &[Value]| {
        Stat::of(
            rounds
                .iter()
                .filter_map(|r| median_ns(&r["timer_floor"]))
                .collect(),
        )
        .map_or("?".to_owned(), |s| format!("{:.0} ns", s.mid))
    };
    writeln!(
        w,
        "| timer floor (an empty call timed the same way, median) | Python {}, Rust {} |",
        floor(py_rounds),
        floor(rs_rounds)
    )?;
    match (&env.lleaves, manifest["lleaves_error"].as_str()) {
        (Some(e), _) => writeln!(w, "| lleaves | not measured: {e} |")?,
        (None, Some(e)) => writeln!(w, "| lleaves | {e} |")?,
        (None, None) => {}
    }
    writeln!(w)?;

    // Per model.
    writeln!(
        w,
        "Single row: median over the rounds of each round's median per-call time (range of the round medians in brackets). Batch: 1000 rows per call, rows/s from the median call. \"icebreak ×\": how many times faster icebreak's `predict_row` (single) or `predict_batch` (batch) is than that line (above 1: icebreak is faster)."
    )?;
    writeln!(w)?;
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let ib_single = stat(&(name.into(), ICEBREAK.into(), "1".into()), false);
        let ib_batch = stat(&(name.into(), ICEBREAK.into(), "1".into()), true);
        let extra = rust_model(name)
            .map(|r| {
                format!(
                    ", {} nodes, {} leaves, {:.2} splits per tree per row on average; `.apr` {} bytes",
                    int(r["n_nodes"].as_f64().unwrap_or(0.0)),
                    int(r["n_leaves"].as_f64().unwrap_or(0.0)),
                    r["mean_visits_per_tree"].as_f64().unwrap_or(0.0),
                    int(r["apr_bytes"].as_f64().unwrap_or(0.0)),
                )
            })
            .unwrap_or_default();
        writeln!(
            w,
            "**`{name}`** ({} trees, max depth {}{extra})",
            m["trees"], m["depth"]
        )?;
        writeln!(w)?;
        writeln!(
            w,
            "| engine | threads | single row (µs) | icebreak × | batch of 1000 (rows/s) | icebreak × |"
        )?;
        writeln!(w, "|---|---|--:|--:|--:|--:|")?;
        for engine in ENGINES {
            for threads in ["1", "default"] {
                let key: Key = (name.into(), engine.into(), threads.into());
                if !series.contains_key(&key) {
                    continue;
                }
                let s = stat(&key, false);
                let b = stat(&key, true);
                let cell_s = s.map_or("".into(), |s| {
                    format!("{} [{}–{}]", us(s.mid), us(s.lo), us(s.hi))
                });
                let cell_b = b.map_or("".into(), |b| {
                    format!(
                        "{} [{}–{}]",
                        int(rows_per_s(b.mid, n_rows)),
                        int(rows_per_s(b.hi, n_rows)),
                        int(rows_per_s(b.lo, n_rows))
                    )
                });
                let is_ib = engine == ICEBREAK;
                let r_s = match (s, ib_single) {
                    (Some(s), Some(i)) if !is_ib => ratio(s.mid / i.mid),
                    _ => String::new(),
                };
                let r_b = match (b, ib_batch) {
                    (Some(b), Some(i)) if !is_ib => ratio(b.mid / i.mid),
                    _ => String::new(),
                };
                let label = if is_icebreak(engine) {
                    format!("**{engine}**")
                } else {
                    engine.to_owned()
                };
                writeln!(
                    w,
                    "| {label} | {} | {cell_s} | {r_s} | {cell_b} | {r_b} |",
                    threads_label(threads)
                )?;
            }
        }
        writeln!(w)?;
    }

    // Targets on the 500-tree models.
    writeln!(w, "Targets (issue 4), on the 500-tree models, from the medians above: single-row latency below every other engine's, at both thread settings; batch throughput above every single-threaded engine's.")?;
    writeln!(w)?;
    writeln!(w, "| model | target | against | icebreak | other | met? |")?;
    writeln!(w, "|---|---|---|--:|--:|---|")?;
    for m in models.iter().filter(|m| m["trees"] == 500) {
        let name = m["name"].as_str().unwrap_or("");
        let ib = |batch| stat(&(name.into(), ICEBREAK.into(), "1".into()), batch);
        for ((model, engine, threads), _) in series.range(
            (name.to_owned(), String::new(), String::new())
                ..(format!("{name}\u{0}"), String::new(), String::new()),
        ) {
            if model != name || is_icebreak(engine) {
                continue;
            }
            let key: Key = (model.clone(), engine.clone(), threads.clone());
            if let (Some(i), Some(o)) = (ib(false), stat(&key, false)) {
                writeln!(
                    w,
                    "| `{name}` | single row | {engine} ({}) | {} µs | {} µs | {} |",
                    if threads == "1" {
                        "1 thread"
                    } else {
                        "default threads"
                    },
                    us(i.mid),
                    us(o.mid),
                    if i.mid < o.mid { "**yes**" } else { "**no**" }
                )?;
            }
            if threads != "1" {
                continue;
            }
            if let (Some(i), Some(o)) = (ib(true), stat(&key, true)) {
                writeln!(
                    w,
                    "| `{name}` | batch of 1000 | {engine} (1 thread) | {} rows/s | {} rows/s | {} |",
                    int(rows_per_s(i.mid, n_rows)),
                    int(rows_per_s(o.mid, n_rows)),
                    if i.mid < o.mid { "**yes**" } else { "**no**" }
                )?;
            }
        }
    }
    writeln!(w)?;

    // Growth with trees and depth.
    for (title, vary_trees) in [
        ("Cost against the number of trees (depth 6)", true),
        ("Cost against depth (100 trees)", false),
    ] {
        let picked: Vec<&Value> = models
            .iter()
            .filter(|m| {
                if vary_trees {
                    m["depth"] == 6
                } else {
                    m["trees"] == 100
                }
            })
            .collect();
        if picked.len() < 2 {
            continue;
        }
        writeln!(w, "{title}: icebreak's medians (single row and batch), the splits a row passes through, and the source library and onnxruntime on one thread.")?;
        writeln!(w)?;
        writeln!(w, "| model | trees | depth | nodes | splits per tree per row | icebreak single (µs) | ns per tree | icebreak batch (rows/s) | ns per tree per row (batch) | library 1 thread single (µs) | onnxruntime 1 thread single (µs) |")?;
        writeln!(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        let mut sorted = picked;
        sorted.sort_by_key(|m| {
            (
                m["library"].as_str().unwrap_or("").to_owned(),
                m["trees"].as_u64().unwrap_or(0),
                m["depth"].as_u64().unwrap_or(0),
            )
        });
        for m in sorted {
            let name = m["name"].as_str().unwrap_or("");
            let lib = m["library"].as_str().unwrap_or("");
            let trees = m["trees"].as_f64().unwrap_or(1.0);
            let r = rust_model(name);
            let s = stat(&(name.into(), ICEBREAK.into(), "1".into()), false);
            let b = stat(&(name.into(), ICEBREAK.into(), "1".into()), true);
            let l = stat(&(name.into(), lib.into(), "1".into()), false);
            let o = stat(&(name.into(), "onnxruntime".into(), "1".into()), false);
            writeln!(
                w,
                "| `{name}` | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
                m["trees"],
                m["depth"],
                r.map_or("".into(), |r| int(r["n_nodes"].as_f64().unwrap_or(0.0))),
                r.map_or(0.0, |r| r["mean_visits_per_tree"].as_f64().unwrap_or(0.0)),
                s.map_or("".into(), |s| us(s.mid)),
                s.map_or("".into(), |s| format!("{:.1}", s.mid / trees)),
                b.map_or("".into(), |b| int(rows_per_s(b.mid, n_rows))),
                b.map_or("".into(), |b| format!("{:.1}", b.mid / n_rows / trees)),
                l.map_or("".into(), |l| us(l.mid)),
                o.map_or("".into(), |o| us(o.mid)),
            )?;
        }
        writeln!(w)?;
    }

    // Creation and first inference.
    writeln!(w, "Handler creation and first inference by model size. icebreak: `LambdaHandler::from_bytes` on the `.apr` bytes already in memory, then the first `handle` on the fresh handler (median over the rounds of each round's median; page faults and `exec` are not included, see the cold-start section). The libraries: loading the model file and predicting one row, as a fresh process would (median of each round's median).")?;
    writeln!(w)?;
    writeln!(w, "| model | source file (bytes) | `.apr` (bytes) | nodes | `from_bytes` (µs) | first `handle` (µs) | both (µs) | library load + predict (ms) | onnxruntime session + run (ms) | lleaves load + predict (ms) |")?;
    writeln!(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    let create_stat = |name: &str, engine: &str| -> Option<Stat> {
        Stat::of(
            py_rounds
                .iter()
                .flat_map(|r| r["creates"].as_array().into_iter().flatten())
                .filter(|c| c["model"] == name && c["engine"] == engine)
                .filter_map(|c| median_ns(&c["create"]))
                .collect(),
        )
    };
    let rs_stat = |name: &str, field: &str| -> Option<Stat> {
        Stat::of(
            rs_rounds
                .iter()
                .flat_map(|r| r["results"].as_array().into_iter().flatten())
                .filter(|c| c["model"] == name)
                .filter_map(|c| median_ns(&c[field]))
                .collect(),
        )
    };
    let mut by_size: Vec<&Value> = models.iter().collect();
    by_size.sort_by_key(|m| {
        (
            m["library"].as_str().unwrap_or("").to_owned(),
            rust_model(m["name"].as_str().unwrap_or(""))
                .and_then(|r| r["apr_bytes"].as_u64())
                .unwrap_or(0),
        )
    });
    let ms = |s: Option<Stat>| s.map_or("".into(), |s| format!("{:.1}", s.mid / 1e6));
    let usc = |s: Option<Stat>| s.map_or("".into(), |s| us(s.mid));
    for m in by_size {
        let name = m["name"].as_str().unwrap_or("");
        let lib = m["library"].as_str().unwrap_or("");
        let r = rust_model(name);
        writeln!(
            w,
            "| `{name}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            int(m["bytes"].as_f64().unwrap_or(0.0)),
            r.map_or("".into(), |r| int(r["apr_bytes"].as_f64().unwrap_or(0.0))),
            r.map_or("".into(), |r| int(r["n_nodes"].as_f64().unwrap_or(0.0))),
            usc(rs_stat(name, "from_bytes")),
            usc(rs_stat(name, "first_handle")),
            usc(rs_stat(name, "from_bytes_and_first_handle")),
            ms(create_stat(name, lib)),
            ms(create_stat(name, "onnxruntime")),
            ms(create_stat(name, "lleaves")),
        )?;
    }
    writeln!(w)?;

    // Fidelity of what was timed.
    writeln!(w, "Same predictions: largest difference from the source library's probability over the 1000 rows.")?;
    writeln!(w)?;
    writeln!(
        w,
        "| model | icebreak | onnxruntime (float32 inputs) | lleaves |"
    )?;
    writeln!(w, "|---|--:|--:|--:|")?;
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let e = |v: &Value| v.as_f64().map_or(String::new(), |x| format!("{x:.1e}"));
        writeln!(
            w,
            "| `{name}` | {} | {} | {} |",
            rust_model(name).map_or(String::new(), |r| e(&r["max_abs_diff"])),
            e(&m["onnx_max_abs_diff"]),
            e(&m["lleaves_max_abs_diff"]),
        )?;
    }
    Ok(md)
}
