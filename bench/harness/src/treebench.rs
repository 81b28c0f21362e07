//! `treebench` (`cargo xtask treebench`): icebreak's tree kernels against xgboost, lightgbm,
//! onnxruntime (C API and Python), lleaves, tl2cgen and m2cgen, in one run, on the same model
//! files and the same rows.
//!
//! 1. Installs the pinned Python toolchain (`scripts/bench/requirements-trees.txt`) into the
//!    project's `.venv` (created if missing), then tries lleaves
//!    (`scripts/bench/requirements-lleaves.txt`) and the compiled peers tl2cgen and m2cgen
//!    (`scripts/bench/requirements-compiled.txt`); when one does not install, the run goes
//!    on without it and the report says why.
//! 2. Builds `bench/timer` and `bench/peers` in release (the product's profile: fat LTO, one
//!    codegen unit), and finds the `libonnxruntime.so*` of the `.venv`'s onnxruntime wheel.
//! 3. `scripts/bench/trees.py prepare`: trains the models (binary, 50 features; 500 trees of
//!    depth 6, trees 10/100/1000 at depth 6, depths 4/8/10 at 100 trees; XGBoost and
//!    LightGBM), converts them to ONNX, compiles every LightGBM model with lleaves and every
//!    model to C with tl2cgen and m2cgen (built by gcc into shared objects), records the
//!    libraries' probabilities for the 1000 timed rows. Everything goes under `<target>/treebench/` and
//!    is reused by later runs when its inputs are unchanged.
//! 4. Rounds (`--rounds`, default 3): in each, the Python side times every Python engine on
//!    every model, the timer (`bench-timer trees`) times icebreak, and `bench-peers trees`
//!    times onnxruntime's C API and the compiled peers' shared objects, called directly (the
//!    order flips every round). Each figure is the median of per-call times within a round;
//!    the report gives the median of the round medians and their range.
//! 5. Writes the report, printed and saved to `<target>/treebench/treebench.md`, and two
//!    charts of the speed-ups against every one-thread peer, single row and batch:
//!    `<target>/treebench/treebench-single.svg` and `treebench-batch.svg`.
//!
//! The timer refuses to time a model whose probabilities differ from the library's, so every
//! line compares the same predictions.

use anyhow::Result;
use icebreak_bench_support::plot::{fit_range, Bar, Chart};
use icebreak_bench_support::python::pip_install_requirements;
use icebreak_bench_support::stats::Stat;
use icebreak_bench_support::suite::{
    median_ns, parse_options, sci, Key, Measured, Options as SuiteOptions, Rounds, Run, Series,
    Suite,
};
use icebreak_bench_support::table::{table_start, times as ratio};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const USAGE: &str =
    "usage: cargo xtask treebench [--quick] [--rounds N] [--no-lleaves] [--no-compiled]

Trains XGBoost and LightGBM models (500 trees of depth 6; trees 10/100/1000 at depth 6;
depths 4/8/10 at 100 trees), converts them to ONNX, and times icebreak, xgboost
(inplace_predict), lightgbm (predict), onnxruntime (C API and Python), lleaves (native and
Python), tl2cgen and m2cgen (C compiled by gcc, called natively) on them in one run: single
row (median of per-call times) and batches of 1000 rows, one thread and default threads;
plus handler creation and first inference. Report: target/treebench/treebench.md; charts:
target/treebench/treebench-single.svg, treebench-batch.svg.

  --quick         the 500-tree and 10-tree models only, one round, fewer calls (a smoke run)
  --rounds N      rounds of measurements (default 3; 1 with --quick)
  --no-lleaves    do not try to install or run lleaves
  --no-compiled   do not try to install or run tl2cgen and m2cgen

lleaves, tl2cgen and m2cgen compile every model (seconds to a few minutes each; cached under
target/treebench/ for later runs).";

/// `--quick`, `--rounds N`, and whether to try lleaves and the compiled peers.
struct Options {
    suite: SuiteOptions,
    lleaves: bool,
    compiled: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>> {
    let (mut lleaves, mut compiled) = (true, true);
    let suite = parse_options(args, USAGE, |a| match a {
        "--no-lleaves" => {
            lleaves = false;
            true
        }
        "--no-compiled" => {
            compiled = false;
            true
        }
        _ => false,
    })?;
    Ok(suite.map(|suite| Options {
        suite,
        lleaves,
        compiled,
    }))
}

/// Installs an optional peer's requirements; the error (as text) when it does not install
/// or `wanted` is false.
fn try_install(
    run: &Run,
    what: &str,
    requirements: &str,
    wanted: bool,
    flag: &str,
) -> Result<(), String> {
    if !wanted {
        return Err(format!("not tried ({flag})"));
    }
    eprintln!("treebench: trying {what} ({requirements})");
    let tried = pip_install_requirements(&run.python, &run.root.join(requirements));
    if let Err(e) = &tried {
        eprintln!("treebench: going on without {what}: {e:#}");
    }
    tried.map_err(|e| format!("{e:#}"))
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

/// The suite's Python side and timer.
static SUITE: Suite = Suite {
    name: "treebench",
    timer_mode: "trees",
    script: "scripts/bench/trees.py",
    requirements: "scripts/bench/requirements-trees.txt",
};

/// `cargo xtask treebench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse(args)? else {
        return Ok(());
    };
    let mut run = SUITE.start()?;
    let lleaves = try_install(
        &run,
        "lleaves",
        "scripts/bench/requirements-lleaves.txt",
        opts.lleaves,
        "--no-lleaves",
    );
    let compiled = try_install(
        &run,
        "tl2cgen and m2cgen",
        "scripts/bench/requirements-compiled.txt",
        opts.compiled,
        "--no-compiled",
    );

    let mut extra = Vec::new();
    if opts.suite.quick {
        extra.push("--quick");
    }
    if lleaves.is_ok() {
        extra.push("--lleaves");
    }
    if compiled.is_ok() {
        extra.push("--compiled");
    }
    run.prepare(&extra)?;

    let [py_calls, py_batches, py_creates, rs_calls, rs_batches, rs_creates] =
        counts(opts.suite.quick);
    let measured = run.measure(
        args,
        opts.suite.rounds,
        &[
            ("--calls", py_calls),
            ("--batch-reps", py_batches),
            ("--create-reps", py_creates),
        ],
        &[
            ("--calls", rs_calls),
            ("--batch-reps", rs_batches),
            ("--create-reps", rs_creates),
        ],
        &[
            "crates/engine",
            "crates/format",
            "crates/convert",
            "crates/lambda",
            "bench/timer",
            "bench/peers",
            "scripts/bench/trees.py",
        ],
    )?;
    let report = report(
        &measured,
        lleaves.err(),
        compiled.err(),
        counts(opts.suite.quick),
    )?;
    for (batch, file) in [
        (false, "treebench-single.svg"),
        (true, "treebench-batch.svg"),
    ] {
        let path = icebreak_bench_support::target_root()
            .join("treebench")
            .join(file);
        std::fs::write(&path, plot(&measured, batch)?)?;
        eprintln!("treebench: chart written to {}", path.display());
    }
    run.publish(&report)
}

// ---------------------------------------------------------------------------------------------
// The report.

fn collect(rounds: &Rounds) -> BTreeMap<Key, Series> {
    let mut map = rounds.python_series();
    let rs_rounds = &rounds.timer;
    for round in rs_rounds {
        for r in round["results"].as_array().into_iter().flatten() {
            let model = r["model"].as_str().unwrap_or("").to_owned();
            map.entry((model.clone(), ICEBREAK.to_owned(), "1".to_owned()))
                .or_default()
                .add(r);
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

/// onnxruntime through its C API (`bench-peers`).
const ORT_C: &str = "onnxruntime C";

/// Engines in report order.
const ENGINES: [&str; 11] = [
    ICEBREAK,
    HANDLE,
    ROW_LOOP,
    "xgboost",
    "lightgbm",
    "tl2cgen (C, gcc)",
    "m2cgen (C, gcc)",
    "lleaves (native)",
    "lleaves",
    ORT_C,
    "onnxruntime",
];

/// The peers of the charts (one thread), in legend order; `"library"` is the model's own
/// (xgboost or lightgbm).
const CHART_PEERS: [&str; 7] = [
    ORT_C,
    "onnxruntime",
    "library",
    "tl2cgen (C, gcc)",
    "m2cgen (C, gcc)",
    "lleaves (native)",
    "lleaves",
];

/// The speed-ups against every one-thread peer, per model: the peer's median over
/// icebreak's, single row or batch.
fn plot(measured: &Measured, batch: bool) -> Result<String> {
    let series = collect(&measured.rounds);
    let stat = |model: &str, engine: &str| -> Option<Stat> {
        series
            .get(&(model.to_owned(), engine.to_owned(), "1".to_owned()))?
            .stat(batch)
    };
    let groups: Vec<(String, Vec<Bar>)> = measured
        .models()?
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap_or("");
            let lib = m["library"].as_str().unwrap_or("");
            let ib = stat(name, ICEBREAK);
            let bars = CHART_PEERS
                .iter()
                .enumerate()
                .filter_map(|(k, peer)| {
                    let engine = if *peer == "library" { lib } else { peer };
                    let (o, i) = stat(name, engine).zip(ib)?;
                    Some(Bar {
                        series: k,
                        ratio: o.mid / i.mid,
                    })
                })
                .collect();
            (name.to_owned(), bars)
        })
        .collect();
    let title = if batch {
        "Tree ensembles, batch of 1000 rows: peer's time / icebreak's, one thread"
    } else {
        "Tree ensembles, single row: peer's time / icebreak's, one thread"
    };
    Ok(Chart {
        title,
        series: CHART_PEERS
            .iter()
            .map(|p| match *p {
                "library" => "xgboost / lightgbm (Python)".to_owned(),
                "onnxruntime" => "onnxruntime (Python)".to_owned(),
                "lleaves" => "lleaves (Python)".to_owned(),
                p => p.to_owned(),
            })
            .collect(),
        range: fit_range(&groups, &[]),
        groups,
        marks: Vec::new(),
    }
    .svg())
}

fn threads_label(t: &str) -> &str {
    if t == "1" {
        "1"
    } else {
        "default"
    }
}

fn report(
    measured: &Measured,
    lleaves: Option<String>,
    compiled: Option<String>,
    counts: [usize; 6],
) -> Result<String> {
    let (env, manifest, rounds, n_rows) = (
        &measured.env,
        &measured.manifest,
        &measured.rounds,
        measured.n_rows,
    );
    let (py_rounds, rs_rounds) = (&rounds.python, &rounds.timer);
    let cells = measured.cells(1000.0, ' ');
    let us = |ns: f64| cells.us(ns);
    let int = |v: f64| cells.int(v);
    let rows_per_s = |ns: f64, _rows: f64| cells.rows_per_s(ns);
    let models = measured.models()?;
    let series = collect(rounds);
    let stat = |key: &Key, batch: bool| -> Option<Stat> { series.get(key)?.stat(batch) };
    let rust_model = |name: &str| rounds.timer_model(name);
    let mut md = String::new();
    let w = &mut md;
    env.write_head(w)?;
    let libraries = [
        "python",
        "xgboost",
        "lightgbm",
        "onnxruntime",
        "onnxmltools",
        "onnx",
        "numpy",
        "scikit-learn",
        "lleaves",
        "tl2cgen",
        "treelite",
        "m2cgen",
        "gcc",
    ]
    .map(|k| (if k == "python" { "Python" } else { k }, k));
    writeln!(
        w,
        "| Python libraries | {} (llvmlite {}) |",
        measured.versions(&libraries, "not installed"),
        measured.version("llvmlite", "not installed")
    )?;
    writeln!(
        w,
        "| load average (1, 5, 15 min) | {} at the start, {} at the end |",
        env.load_start, env.load_end
    )?;
    env.write_time(w, py_rounds.len())?;
    writeln!(
        w,
        "| calls per round | Python: {} single-row calls (fewer, at least 200, when a measurement passes 3 s), {} batches, {} creations; icebreak: {} single-row calls, {} batches, {} creations; native peers (onnxruntime C, tl2cgen, m2cgen, lleaves native): as many calls and batches as icebreak |",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
    )?;
    measured.write_data_and_floor(w)?;
    match (&lleaves, manifest["lleaves_error"].as_str()) {
        (Some(e), _) => writeln!(w, "| lleaves | not measured: {e} |")?,
        (None, Some(e)) => writeln!(w, "| lleaves | {e} |")?,
        (None, None) => {}
    }
    match (&compiled, manifest["compiled_error"].as_str()) {
        (Some(e), _) => writeln!(w, "| tl2cgen, m2cgen | not measured: {e} |")?,
        (None, Some(e)) => writeln!(w, "| tl2cgen, m2cgen | {e} |")?,
        (None, None) => {}
    }
    let api = rounds.peers.last().map(|r| &r["onnxruntime_api"]);
    writeln!(
        w,
        "| onnxruntime C | the wheel's `libonnxruntime.so` (build commit `{}`) through the `ort` crate, C API version {} asked; `intra_op_num_threads=1`, `inter_op_num_threads=1`; float32 rows |",
        api.and_then(|a| a["build_info"].as_str())
            .and_then(|i| i.split(',').find_map(|s| s.trim().strip_prefix("git-commit-id=")))
            .unwrap_or("?"),
        api.map_or("?".to_owned(), |a| a["requested"].to_string())
    )?;
    writeln!(w)?;
    for (model, engine, e) in rounds.peers_refused() {
        writeln!(w, "{engine} was not timed on `{model}`: {e}")?;
        writeln!(w)?;
    }

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
                let cell_s = cells.single(s);
                let cell_b = cells.batch(b);
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
    table_start(w, "Targets (issues 4 and 17), on the 500-tree models, from the medians above: single-row latency below every other engine's, at both thread settings; batch throughput above every single-threaded engine's.", "| model | target | against | icebreak | other | met? |", "|---|---|---|--:|--:|---|")?;
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
        table_start(w, &format!("{title}: icebreak's medians (single row and batch), the splits a row passes through, and the source library and onnxruntime (C API) on one thread."), "| model | trees | depth | nodes | splits per tree per row | icebreak single (µs) | ns per tree | icebreak batch (rows/s) | ns per tree per row (batch) | library 1 thread single (µs) | onnxruntime C 1 thread single (µs) |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
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
            let o = stat(&(name.into(), ORT_C.into(), "1".into()), false);
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
    table_start(w, "Handler creation and first inference by model size. icebreak: `LambdaHandler::from_bytes` on the `.apr` bytes already in memory, then the first `handle` on the fresh handler (median over the rounds of each round's median; page faults and `exec` are not included, see the cold-start section). The libraries: loading the model file and predicting one row, as a fresh process would (median of each round's median).", "| model | source file (bytes) | `.apr` (bytes) | nodes | `from_bytes` (µs) | first `handle` (µs) | both (µs) | library load + predict (ms) | onnxruntime session + run (ms) | lleaves load + predict (ms) |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
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
            Rounds::results(rs_rounds)
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
    table_start(w, "Same predictions: largest difference from the source library's probability over the 1000 rows (native peers: as checked by `bench-peers` before timing; a peer over 1e-4 is not timed).", "| model | icebreak | onnxruntime Python (float32 inputs) | onnxruntime C | lleaves Python | lleaves native | tl2cgen | m2cgen |", "|---|--:|--:|--:|--:|--:|--:|--:|")?;
    let refused = rounds.peers_refused();
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let e = sci;
        let peer = |engine: &str| {
            rounds.peer_diff(name, engine).map_or_else(
                || {
                    if refused.iter().any(|(m, e, _)| m == name && e == engine) {
                        "not timed".to_owned()
                    } else {
                        String::new()
                    }
                },
                |d| format!("{d:.1e}"),
            )
        };
        writeln!(
            w,
            "| `{name}` | {} | {} | {} | {} | {} | {} | {} |",
            rust_model(name).map_or(String::new(), |r| e(&r["max_abs_diff"])),
            e(&m["onnx_max_abs_diff"]),
            peer(ORT_C),
            e(&m["lleaves_max_abs_diff"]),
            peer("lleaves (native)"),
            peer("tl2cgen (C, gcc)"),
            peer("m2cgen (C, gcc)"),
        )?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use icebreak_bench_support::suite::Environment;
    use serde_json::json;

    /// One 500-tree model, one round: lightgbm from the script, icebreak from the timer,
    /// onnxruntime's C API and tl2cgen from `bench-peers` (one thread), m2cgen refused.
    fn measured() -> Measured {
        let line = |engine: &str, single: f64, batch: f64| {
            json!({"model": "lightgbm_t500_d6", "engine": engine, "threads": "1",
                   "single": {"median_ns": single}, "batch": {"median_ns": batch},
                   "max_abs_diff": 1e-7})
        };
        Measured {
            env: Environment {
                command: "cargo xtask treebench".into(),
                cpu: "cpu".into(),
                cores: 2,
                rustc: "rustc".into(),
                commit: "abc".into(),
                load_start: "1".into(),
                load_end: "1".into(),
                prepare_s: 1.0,
                total_s: 2.0,
            },
            manifest: json!({"n_rows": 1000, "models": [
                {"name": "lightgbm_t500_d6", "library": "lightgbm", "trees": 500, "depth": 6}]}),
            rounds: Rounds {
                python: vec![json!({"results": [line("lightgbm", 50_000.0, 4e7)]})],
                timer: vec![json!({"results": [
                    {"model": "lightgbm_t500_d6", "single": {"median_ns": 5_000.0},
                     "batch": {"median_ns": 1e7}},
                ]})],
                peers: vec![json!({"results": [
                    line(ORT_C, 25_000.0, 2e7),
                    line("tl2cgen (C, gcc)", 4_000.0, 2e7),
                    {"model": "lightgbm_t500_d6", "engine": "m2cgen (C, gcc)", "threads": "1",
                     "error": "outputs differ"},
                ]})],
                loads: vec!["1".into()],
            },
            n_rows: 1000.0,
        }
    }

    #[test]
    fn native_peers_are_lines_targets_and_bars() {
        let m = measured();
        let md = report(&m, None, None, counts(true)).unwrap();
        assert!(
            md.contains("| onnxruntime C | 1 | 25.0 [25.0–25.0] | 5.00 × |"),
            "{md}"
        );
        // A peer faster than icebreak is a target not met.
        assert!(
            md.contains(
                "| single row | tl2cgen (C, gcc) (1 thread) | 5.00 µs | 4.00 µs | **no** |"
            ),
            "{md}"
        );
        assert!(
            md.contains("m2cgen (C, gcc) was not timed on `lightgbm_t500_d6`: outputs differ"),
            "{md}"
        );
        assert!(md.contains("| 1.0e-7 | not timed |"), "{md}");
        let svg = plot(&m, false).unwrap();
        assert!(
            svg.contains(">5.00</text>") && svg.contains(">0.80</text>"),
            "{svg}"
        );
    }
}
