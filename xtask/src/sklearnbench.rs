//! `cargo xtask sklearnbench`: icebreak against onnxruntime and scikit-learn on one model per
//! scikit-learn family, in one run, on the same ONNX files and the same rows.
//!
//! 1. Installs the pinned Python toolchain (`scripts/bench/requirements-sklearn.txt`) into
//!    the project's `.venv` (created if missing).
//! 2. Builds `bench/sklearn-timer` in release (the product's profile).
//! 3. `scripts/bench/sklearn.py prepare`: trains LogisticRegression, RandomForestClassifier
//!    (100 trees, depth 8), GradientBoostingClassifier (500 trees, binary), MLPClassifier
//!    (784-128-64-10), SVC (rbf, probabilities) and KMeans (10 centres) on digits upscaled to
//!    784 features, exports them with skl2onnx, records scikit-learn's outputs on the 1000
//!    timed rows. Everything goes under `<target>/sklearnbench/`, reused when unchanged.
//! 4. Rounds (`--rounds`, default 3): in each, the Python side times scikit-learn and
//!    onnxruntime (one thread) on every model, and the timer times icebreak (the order flips
//!    every round). Each figure is the median of per-call times within a round; the report
//!    gives the median of the round medians and their range.
//! 5. Writes the report, printed and saved to `<target>/sklearnbench/sklearnbench.md`.
//!
//! The timer refuses to time a model whose outputs differ from scikit-learn's, so every line
//! compares the same predictions.

use crate::treebench::{
    commit, cpu_model, loadavg, median_ns, pip_install_requirements, ratio, read_json, run_checked,
    tool_version, Stat,
};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask sklearnbench [--quick] [--rounds N]

Trains one model per scikit-learn family (LogisticRegression, RandomForestClassifier,
GradientBoostingClassifier, MLPClassifier, SVC with probabilities, KMeans) on 784 features,
exports them to ONNX with skl2onnx, and times scikit-learn, onnxruntime (one thread) and
icebreak on them in one run: single row (median of per-call times) and batches of 1000 rows.
Report: target/sklearnbench/sklearnbench.md.

  --quick         one round, fewer calls (a smoke run)
  --rounds N      rounds of measurements (default 3; 1 with --quick)";

/// The target the issue sets: icebreak's single-row latency this many times below
/// onnxruntime's.
const SINGLE_TARGET: f64 = 5.0;

struct Options {
    quick: bool,
    rounds: usize,
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        rounds: 0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--quick" => o.quick = true,
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

/// Calls and batches per measurement: (python calls, python batches, timer calls, timer
/// batches).
fn counts(quick: bool) -> [usize; 4] {
    if quick {
        [300, 5, 5_000, 10]
    } else {
        [2_000, 15, 20_000, 50]
    }
}

/// `cargo xtask sklearnbench`.
pub fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let root = crate::root();
    let out = crate::coldstart::target_root().join("sklearnbench");
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let load_start = loadavg();

    let python = ensure_venv(&root)?;
    eprintln!("sklearnbench: installing scripts/bench/requirements-sklearn.txt into .venv");
    pip_install_requirements(
        &python,
        &root.join("scripts/bench/requirements-sklearn.txt"),
    )?;
    let timer = build_timer(&root)?;
    let script = root.join("scripts/bench/sklearn.py");

    eprintln!("sklearnbench: preparing models under {}", out.display());
    let mut prep = Command::new(&python);
    prep.arg(&script).arg("prepare").arg("--out").arg(&out);
    run_checked(&mut prep, "sklearn.py prepare")?;
    let prepared = started.elapsed();

    let [py_calls, py_batches, rs_calls, rs_batches] = counts(opts.quick);
    let mut py_rounds = Vec::new();
    let mut rs_rounds = Vec::new();
    let mut loads = Vec::new();
    for round in 1..=opts.rounds {
        let py_file = out.join(format!("python-round-{round}.json"));
        let rs_file = out.join(format!("rust-round-{round}.json"));
        let mut py = Command::new(&python);
        py.arg(&script)
            .args(["time", "--out"])
            .arg(&out)
            .args(["--round", &round.to_string()])
            .args(["--calls", &py_calls.to_string()])
            .args(["--batch-reps", &py_batches.to_string()]);
        let mut rs = Command::new(&timer);
        rs.arg("--manifest")
            .arg(out.join("manifest.json"))
            .args(["--round", &round.to_string()])
            .arg("--out")
            .arg(&rs_file)
            .args(["--calls", &rs_calls.to_string()])
            .args(["--batch-reps", &rs_batches.to_string()]);
        loads.push(loadavg());
        if round % 2 == 1 {
            run_checked(&mut py, "sklearn.py time")?;
            run_checked(&mut rs, "sklearn-timer")?;
        } else {
            run_checked(&mut rs, "sklearn-timer")?;
            run_checked(&mut py, "sklearn.py time")?;
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
                "bench/sklearn-timer",
                "scripts/bench/sklearn.py",
            ],
        ),
        load_start,
        loads,
        load_end: loadavg(),
        prepare_s: prepared.as_secs_f64(),
        total_s: started.elapsed().as_secs_f64(),
        counts: counts(opts.quick),
    };
    let report = report(&env, &manifest, &py_rounds, &rs_rounds)?;
    let path = out.join("sklearnbench.md");
    std::fs::write(&path, &report).with_context(|| path.display().to_string())?;
    println!("{report}");
    eprintln!("sklearnbench: report written to {}", path.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Set-up.

/// The project's `.venv` Python, creating the environment if needed.
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("sklearnbench: creating .venv");
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

/// `cargo build --release -p icebreak-bench-sklearn-timer`; returns the executable.
fn build_timer(root: &Path) -> Result<PathBuf> {
    eprintln!("sklearnbench: building bench/sklearn-timer (release)");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "icebreak-bench-sklearn-timer",
            "--bin",
            "sklearn-timer",
        ])
        .stdin(Stdio::null())
        .status()
        .context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build -p icebreak-bench-sklearn-timer failed: {status}"
    );
    let exe = crate::coldstart::target_root()
        .join("release")
        .join("sklearn-timer");
    ensure!(exe.is_file(), "{} was not built", exe.display());
    Ok(exe)
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
    loads: Vec<String>,
    load_end: String,
    prepare_s: f64,
    total_s: f64,
    counts: [usize; 4],
}

fn command_line(args: &[String]) -> String {
    let mut s = "cargo xtask sklearnbench".to_owned();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The report.

const SKLEARN: &str = "scikit-learn";
const ORT: &str = "onnxruntime";
const ICEBREAK: &str = "icebreak";

/// (model, engine) → per-round medians (ns) of single rows and of batches.
#[derive(Default)]
struct Series {
    single: Vec<f64>,
    batch: Vec<f64>,
}

fn collect(py_rounds: &[Value], rs_rounds: &[Value]) -> BTreeMap<(String, String), Series> {
    let mut map: BTreeMap<(String, String), Series> = BTreeMap::new();
    let mut add = |model: &str, engine: &str, r: &Value| {
        let s = map
            .entry((model.to_owned(), engine.to_owned()))
            .or_default();
        if let Some(v) = median_ns(&r["single"]) {
            s.single.push(v);
        }
        if let Some(v) = median_ns(&r["batch"]) {
            s.batch.push(v);
        }
    };
    for round in py_rounds {
        for r in round["results"].as_array().into_iter().flatten() {
            add(
                r["model"].as_str().unwrap_or(""),
                r["engine"].as_str().unwrap_or(""),
                r,
            );
        }
    }
    for round in rs_rounds {
        for r in round["results"].as_array().into_iter().flatten() {
            add(r["model"].as_str().unwrap_or(""), ICEBREAK, r);
        }
    }
    map
}

fn us(ns: f64) -> String {
    let u = ns / 1e3;
    if u >= 100.0 {
        format!("{u:.0}")
    } else if u >= 10.0 {
        format!("{u:.1}")
    } else {
        format!("{u:.2}")
    }
}

fn rows_per_s(batch_ns: f64, n_rows: f64) -> f64 {
    n_rows / (batch_ns / 1e9)
}

/// An integer with thin spaces between thousands.
fn int(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
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
    let get = |model: &str, engine: &str, batch: bool| -> Option<Stat> {
        series
            .get(&(model.to_owned(), engine.to_owned()))
            .and_then(|s| {
                Stat::of(if batch {
                    s.batch.clone()
                } else {
                    s.single.clone()
                })
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
    let v = |k: &str| versions[k].as_str().unwrap_or("?").to_owned();
    writeln!(
        w,
        "| Python libraries | Python {}, scikit-learn {}, skl2onnx {}, onnx {}, onnxruntime {}, numpy {}, scipy {} |",
        v("python"),
        v("scikit-learn"),
        v("skl2onnx"),
        v("onnx"),
        v("onnxruntime"),
        v("numpy"),
        v("scipy")
    )?;
    writeln!(
        w,
        "| load average (1, 5, 15 min) | {} at the start; {} at the start of each round; {} at the end |",
        env.load_start,
        env.loads.join(" / "),
        env.load_end
    )?;
    writeln!(
        w,
        "| wall time | {:.0} s in all, {:.0} s of it installing, building and preparing models |",
        env.total_s, env.prepare_s
    )?;
    writeln!(w, "| rounds | {} |", py_rounds.len())?;
    writeln!(
        w,
        "| calls per round | Python: {} single-row calls (fewer, at least 200, when a measurement passes 3 s), {} batches (at least 5); icebreak: {} single-row calls, {} batches |",
        env.counts[0], env.counts[1], env.counts[2], env.counts[3]
    )?;
    writeln!(
        w,
        "| threads | scikit-learn under `threadpool_limits(1)`; onnxruntime `intra_op_num_threads=1`, `inter_op_num_threads=1`; icebreak one thread |"
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
    writeln!(w)?;

    writeln!(w, "Models (scikit-learn call timed; what the model holds; `.apr` size; largest difference from scikit-learn's outputs over the 1000 rows: probabilities, or k-means distances):")?;
    writeln!(w)?;
    writeln!(
        w,
        "| model | estimator | scikit-learn call | size | `.apr` (bytes) | icebreak diff | onnxruntime diff |"
    )?;
    writeln!(w, "|---|---|---|---|--:|--:|--:|")?;
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let r = rust_model(name);
        let e = |v: &Value| v.as_f64().map_or(String::new(), |x| format!("{x:.1e}"));
        writeln!(
            w,
            "| `{name}` | `{}` | `{}` | {} | {} | {} | {} |",
            m["description"].as_str().unwrap_or(""),
            m["sklearn_call"].as_str().unwrap_or(""),
            m["detail"].as_str().unwrap_or(""),
            r.and_then(|r| r["apr_bytes"].as_f64())
                .map_or(String::new(), int),
            r.map_or(String::new(), |r| e(&r["max_abs_diff"])),
            e(&m["onnx_max_abs_diff"]),
        )?;
    }
    writeln!(w)?;
    let errors: Vec<(String, String)> = rs_rounds
        .iter()
        .flat_map(|r| r["results"].as_array().into_iter().flatten())
        .filter_map(|r| {
            Some((
                r["model"].as_str()?.to_owned(),
                r["error"].as_str()?.to_owned(),
            ))
        })
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    for (model, e) in &errors {
        writeln!(w, "icebreak could not time `{model}`: {e}")?;
        writeln!(w)?;
    }

    writeln!(w, "Single row: median over the rounds of each round's median per-call time, µs (range of the round medians in brackets). Batch: 1000 rows per call, rows/s from the median call (range in brackets). \"ort / icebreak\": onnxruntime's time over icebreak's (above 1: icebreak is faster).")?;
    writeln!(w)?;
    writeln!(w, "| model | scikit-learn single (µs) | onnxruntime single (µs) | icebreak single (µs) | ort / icebreak single | scikit-learn batch (rows/s) | onnxruntime batch (rows/s) | icebreak batch (rows/s) | ort / icebreak batch |")?;
    writeln!(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    let single_cell = |s: Option<Stat>| {
        s.map_or(String::new(), |s| {
            format!("{} [{}–{}]", us(s.mid), us(s.lo), us(s.hi))
        })
    };
    let batch_cell = |b: Option<Stat>| {
        b.map_or(String::new(), |b| {
            format!(
                "{} [{}–{}]",
                int(rows_per_s(b.mid, n_rows)),
                int(rows_per_s(b.hi, n_rows)),
                int(rows_per_s(b.lo, n_rows))
            )
        })
    };
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let (sk_s, ort_s, ib_s) = (
            get(name, SKLEARN, false),
            get(name, ORT, false),
            get(name, ICEBREAK, false),
        );
        let (sk_b, ort_b, ib_b) = (
            get(name, SKLEARN, true),
            get(name, ORT, true),
            get(name, ICEBREAK, true),
        );
        let r = |o: Option<Stat>, i: Option<Stat>| match (o, i) {
            (Some(o), Some(i)) => ratio(o.mid / i.mid),
            _ => String::new(),
        };
        writeln!(
            w,
            "| `{name}` | {} | {} | **{}** | {} | {} | {} | **{}** | {} |",
            single_cell(sk_s),
            single_cell(ort_s),
            single_cell(ib_s),
            r(ort_s, ib_s),
            batch_cell(sk_b),
            batch_cell(ort_b),
            batch_cell(ib_b),
            r(ort_b, ib_b),
        )?;
    }
    writeln!(w)?;

    writeln!(w, "Targets (issue 3), from the medians above: single-row latency at least {SINGLE_TARGET:.0} × below onnxruntime's; batch throughput at or above onnxruntime's (one thread).")?;
    writeln!(w)?;
    writeln!(w, "| model | single row: ort / icebreak | ≥ {SINGLE_TARGET:.0} ×? | batch: ort / icebreak | ≥ 1 ×? |")?;
    writeln!(w, "|---|--:|---|--:|---|")?;
    let yes = |ok: bool| if ok { "**yes**" } else { "**no**" };
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let s = get(name, ORT, false).zip(get(name, ICEBREAK, false));
        let b = get(name, ORT, true).zip(get(name, ICEBREAK, true));
        let (rs, ms) = s.map_or((String::new(), "not measured"), |(o, i)| {
            (ratio(o.mid / i.mid), yes(o.mid / i.mid >= SINGLE_TARGET))
        });
        let (rb, mb) = b.map_or((String::new(), "not measured"), |(o, i)| {
            (ratio(o.mid / i.mid), yes(o.mid >= i.mid))
        });
        writeln!(w, "| `{name}` | {rs} | {ms} | {rb} | {mb} |")?;
    }
    Ok(md)
}
