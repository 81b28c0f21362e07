//! `sklearnbench` (`cargo xtask sklearnbench`): icebreak against onnxruntime and scikit-learn on one model per
//! scikit-learn family, in one run, on the same ONNX files and the same rows.
//!
//! 1. Installs the pinned Python toolchain (`scripts/bench/requirements-sklearn.txt`) into
//!    the project's `.venv` (created if missing).
//! 2. Builds `bench/timer` in release (the product's profile).
//! 3. `scripts/bench/sklearn.py prepare`: trains LogisticRegression, RandomForestClassifier
//!    (100 trees, depth 8), GradientBoostingClassifier (500 trees, binary), MLPClassifier
//!    (784-128-64-10), SVC (rbf, probabilities), KMeans (10 centres) and PCA (784 -> 50) on digits upscaled to
//!    784 features, exports them with skl2onnx, records scikit-learn's outputs on the 1000
//!    timed rows. Everything goes under `<target>/sklearnbench/`, reused when unchanged.
//! 4. Rounds (`--rounds`, default 3): in each, the Python side times scikit-learn and
//!    onnxruntime (one thread) on every model, and the timer (`bench-timer sklearn`) times icebreak (the order flips
//!    every round). Each figure is the median of per-call times within a round; the report
//!    gives the median of the round medians and their range.
//! 5. Writes the report, printed and saved to `<target>/sklearnbench/sklearnbench.md`, and a
//!    bar chart of the speed-ups against onnxruntime, `<target>/sklearnbench/sklearnbench.svg`.
//!
//! The timer refuses to time a model whose outputs differ from scikit-learn's, so every line
//! compares the same predictions.

use anyhow::Result;
use icebreak_bench_support::stats::Stat;
use icebreak_bench_support::suite::{parse_options, sci, Key, Measured, Rounds, Series, Suite};
use icebreak_bench_support::table::{table_start, times as ratio};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const USAGE: &str = "usage: cargo xtask sklearnbench [--quick] [--rounds N]

Trains one model per scikit-learn family (LogisticRegression, RandomForestClassifier,
GradientBoostingClassifier, MLPClassifier, SVC with probabilities, KMeans, PCA) on 784 features,
exports them to ONNX with skl2onnx, and times scikit-learn, onnxruntime (one thread) and
icebreak on them in one run: single row (median of per-call times) and batches of 1000 rows.
Report: target/sklearnbench/sklearnbench.md; plot of the speed-ups:
target/sklearnbench/sklearnbench.svg.

  --quick         one round, fewer calls (a smoke run)
  --rounds N      rounds of measurements (default 3; 1 with --quick)";

/// The target the issue sets: icebreak's single-row latency this many times below
/// onnxruntime's.
const SINGLE_TARGET: f64 = 5.0;

/// Calls and batches per measurement: (python calls, python batches, timer calls, timer
/// batches).
fn counts(quick: bool) -> [usize; 4] {
    if quick {
        [300, 5, 5_000, 10]
    } else {
        [2_000, 15, 20_000, 50]
    }
}

/// The suite's Python side and timer.
static SUITE: Suite = Suite {
    name: "sklearnbench",
    timer_mode: "sklearn",
    script: "scripts/bench/sklearn.py",
    requirements: "scripts/bench/requirements-sklearn.txt",
};

/// `cargo xtask sklearnbench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse_options(args, USAGE, |_| false)? else {
        return Ok(());
    };
    let mut run = SUITE.start()?;
    run.prepare(&[])?;
    let [py_calls, py_batches, rs_calls, rs_batches] = counts(opts.quick);
    let measured = run.measure(
        args,
        opts.rounds,
        &[("--calls", py_calls), ("--batch-reps", py_batches)],
        &[("--calls", rs_calls), ("--batch-reps", rs_batches)],
        &[
            "crates/engine",
            "crates/format",
            "crates/convert",
            "bench/timer",
            "scripts/bench/sklearn.py",
        ],
    )?;
    let report = report(&measured, counts(opts.quick))?;
    let svg_path = icebreak_bench_support::target_root().join("sklearnbench/sklearnbench.svg");
    std::fs::write(&svg_path, plot(&measured)?)?;
    eprintln!("sklearnbench: plot written to {}", svg_path.display());
    run.publish(&report)
}

/// The speed-ups as an SVG bar chart: per model, onnxruntime's time over icebreak's for a
/// single row and for a batch (log scale, 0.1 × to 30 ×), with lines at 1 × (parity) and at
/// the single-row target.
fn plot(measured: &Measured) -> Result<String> {
    let models = measured.models()?;
    let series = collect(&measured.rounds);
    let get = |model: &str, engine: &str, batch: bool| -> Option<Stat> {
        series
            .get(&(model.to_owned(), engine.to_owned(), String::new()))?
            .stat(batch)
    };
    let (left, width, bar, gap, top) = (150.0, 520.0, 12.0, 10.0, 40.0);
    let (lo, hi) = (0.1f64.log10(), 30.0f64.log10());
    let x = |r: f64| left + width * ((r.clamp(0.1, 30.0).log10() - lo) / (hi - lo));
    let height = top + models.len() as f64 * (2.0 * bar + gap) + 40.0;
    let mut svg = String::new();
    let w = &mut svg;
    writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#,
        left + width + 60.0
    )?;
    writeln!(
        w,
        r#"<text x="{left}" y="16">onnxruntime time / icebreak time, one thread (above 1: icebreak faster)</text>"#
    )?;
    writeln!(
        w,
        r##"<rect x="{left}" y="24" width="10" height="10" fill="#4878a8"/><text x="{:.0}" y="33">single row</text><rect x="{:.0}" y="24" width="10" height="10" fill="#e0a030"/><text x="{:.0}" y="33">batch of 1000 (float32 rows)</text>"##,
        left + 14.0,
        left + 100.0,
        left + 114.0
    )?;
    let bottom = height - 30.0;
    for (r, label) in [
        (0.1, "0.1"),
        (1.0, "1"),
        (SINGLE_TARGET, "5"),
        (10.0, "10"),
        (30.0, "30"),
    ] {
        let dash = if r == 1.0 {
            ""
        } else {
            r#" stroke-dasharray="3,3""#
        };
        writeln!(
            w,
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{bottom:.0}" stroke="#888"{dash}/><text x="{0:.1}" y="{1:.0}" text-anchor="middle">{label} ×</text>"##,
            x(r),
            bottom + 14.0
        )?;
    }
    for (i, m) in models.iter().enumerate() {
        let name = m["name"].as_str().unwrap_or("");
        let y = top + i as f64 * (2.0 * bar + gap);
        writeln!(
            w,
            r#"<text x="{:.0}" y="{:.1}" text-anchor="end">{name}</text>"#,
            left - 6.0,
            y + bar + 4.0
        )?;
        for (k, (batch, colour)) in [(false, "#4878a8"), (true, "#e0a030")]
            .into_iter()
            .enumerate()
        {
            // onnxruntime is given float32 rows: the batch bar is icebreak's f32 entry point.
            let ib = if batch {
                get(name, ICEBREAK_F32, true).or_else(|| get(name, ICEBREAK, true))
            } else {
                get(name, ICEBREAK, false)
            };
            let Some((o, ib)) = get(name, ORT, batch).zip(ib) else {
                continue;
            };
            let ratio = o.mid / ib.mid;
            let yy = y + k as f64 * bar;
            writeln!(
                w,
                r#"<rect x="{left}" y="{yy:.1}" width="{:.1}" height="{:.0}" fill="{colour}"/><text x="{:.1}" y="{:.1}">{ratio:.2}</text>"#,
                (x(ratio) - left).max(1.0),
                bar - 2.0,
                x(ratio) + 4.0,
                yy + bar - 3.0
            )?;
        }
    }
    writeln!(w, "</svg>")?;
    Ok(svg)
}

// ---------------------------------------------------------------------------------------------
// The report.

const SKLEARN: &str = "scikit-learn";
const ORT: &str = "onnxruntime";
const ICEBREAK: &str = "icebreak";
/// icebreak's batch from `float32` rows (`Model::predict_batch_f32`; batches only).
const ICEBREAK_F32: &str = "icebreak f32";

fn collect(rounds: &Rounds) -> BTreeMap<Key, Series> {
    let mut map = rounds.python_series();
    for r in Rounds::results(&rounds.timer) {
        let model = r["model"].as_str().unwrap_or("").to_owned();
        map.entry((model.clone(), ICEBREAK.to_owned(), String::new()))
            .or_default()
            .add(r);
        if r.get("batch_f32").is_some() {
            map.entry((model, ICEBREAK_F32.to_owned(), String::new()))
                .or_default()
                .add(&serde_json::json!({ "batch": r["batch_f32"] }));
        }
    }
    map
}

fn report(measured: &Measured, counts: [usize; 4]) -> Result<String> {
    let (env, rounds) = (&measured.env, &measured.rounds);
    let (py_rounds, rs_rounds) = (&rounds.python, &rounds.timer);
    let cells = measured.cells(100.0, '\u{202f}');
    let models = measured.models()?;
    let series = collect(rounds);
    let get = |model: &str, engine: &str, batch: bool| -> Option<Stat> {
        series
            .get(&(model.to_owned(), engine.to_owned(), String::new()))?
            .stat(batch)
    };
    let rust_model = |name: &str| rounds.timer_model(name);
    let mut md = String::new();
    let w = &mut md;
    env.write_head(w)?;
    let libraries = ["python", SKLEARN, "skl2onnx", "onnx", ORT, "numpy", "scipy"]
        .map(|k| (if k == "python" { "Python" } else { k }, k));
    writeln!(
        w,
        "| Python libraries | {} |",
        measured.versions(&libraries, "?")
    )?;
    writeln!(
        w,
        "| load average (1, 5, 15 min) | {} at the start; {} at the start of each round; {} at the end |",
        env.load_start,
        rounds.loads.join(" / "),
        env.load_end
    )?;
    env.write_time(w, py_rounds.len())?;
    writeln!(
        w,
        "| calls per round | Python: {} single-row calls (fewer, at least 200, when a measurement passes 3 s), {} batches (at least 5); icebreak: {} single-row calls, {} batches |",
        counts[0], counts[1], counts[2], counts[3]
    )?;
    writeln!(
        w,
        "| threads | scikit-learn under `threadpool_limits(1)`; onnxruntime `intra_op_num_threads=1`, `inter_op_num_threads=1`; icebreak one thread |"
    )?;
    measured.write_data_and_floor(w)?;
    writeln!(w)?;

    table_start(w, "Models (scikit-learn call timed; what the model holds; `.apr` size; largest difference from scikit-learn's outputs over the 1000 rows: probabilities, or k-means distances):", "| model | estimator | scikit-learn call | size | `.apr` (bytes) | icebreak diff | onnxruntime diff |", "|---|---|---|---|--:|--:|--:|")?;
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let r = rust_model(name);
        let e = sci;
        writeln!(
            w,
            "| `{name}` | `{}` | `{}` | {} | {} | {} | {} |",
            m["description"].as_str().unwrap_or(""),
            m["sklearn_call"].as_str().unwrap_or(""),
            m["detail"].as_str().unwrap_or(""),
            r.and_then(|r| r["apr_bytes"].as_f64())
                .map_or(String::new(), |v| cells.int(v)),
            r.map_or(String::new(), |r| e(&r["max_abs_diff"])),
            e(&m["onnx_max_abs_diff"]),
        )?;
    }
    writeln!(w)?;
    let errors: Vec<(String, String)> = Rounds::results(rs_rounds)
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

    table_start(w, "Single row: median over the rounds of each round's median per-call time, µs (range of the round medians in brackets). Batch: 1000 rows per call, rows/s from the median call (range in brackets). \"ort / icebreak\": onnxruntime's time over icebreak's (above 1: icebreak is faster).", "| model | scikit-learn single (µs) | onnxruntime single (µs) | icebreak single (µs) | ort / icebreak single | scikit-learn batch (rows/s) | onnxruntime batch (rows/s) | icebreak batch (rows/s) | ort / icebreak batch | icebreak batch, f32 rows (rows/s) | ort / icebreak f32 batch |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    let single_cell = |s: Option<Stat>| cells.single(s);
    let batch_cell = |b: Option<Stat>| cells.batch(b);
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let (sk_s, ort_s, ib_s) = (
            get(name, SKLEARN, false),
            get(name, ORT, false),
            get(name, ICEBREAK, false),
        );
        let (sk_b, ort_b, ib_b, ib_b32) = (
            get(name, SKLEARN, true),
            get(name, ORT, true),
            get(name, ICEBREAK, true),
            get(name, ICEBREAK_F32, true),
        );
        let r = |o: Option<Stat>, i: Option<Stat>| match (o, i) {
            (Some(o), Some(i)) => ratio(o.mid / i.mid),
            _ => String::new(),
        };
        writeln!(
            w,
            "| `{name}` | {} | {} | **{}** | {} | {} | {} | **{}** | {} | **{}** | {} |",
            single_cell(sk_s),
            single_cell(ort_s),
            single_cell(ib_s),
            r(ort_s, ib_s),
            batch_cell(sk_b),
            batch_cell(ort_b),
            batch_cell(ib_b),
            r(ort_b, ib_b),
            batch_cell(ib_b32),
            r(ort_b, ib_b32),
        )?;
    }
    writeln!(w)?;

    table_start(w, &format!("Targets (issue 3), from the medians above: single-row latency at least {SINGLE_TARGET:.0} × below onnxruntime's; batch throughput at or above onnxruntime's (one thread; icebreak's batch from float32 rows, as onnxruntime's)."), &format!("| model | single row: ort / icebreak | ≥ {SINGLE_TARGET:.0} ×? | batch: ort / icebreak | ≥ 1 ×? |"), "|---|--:|---|--:|---|")?;
    let yes = |ok: bool| if ok { "**yes**" } else { "**no**" };
    for m in models {
        let name = m["name"].as_str().unwrap_or("");
        let s = get(name, ORT, false).zip(get(name, ICEBREAK, false));
        let b = get(name, ORT, true)
            .zip(get(name, ICEBREAK_F32, true).or_else(|| get(name, ICEBREAK, true)));
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
