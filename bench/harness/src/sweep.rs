//! `coldsweep` (`cargo xtask coldsweep`): cold start against model size.
//!
//! The icebreak bootstrap is built once per model — the example linear model and synthetic
//! tree ensembles of growing size, generated deterministically here with
//! `icebreak_format::testing::synthetic` (nothing large is committed) — and measured in the
//! same shuffled rounds as the floor (`bench/floor`), for each linking asked for. A run is
//! the `coldstart` harness's cold run (fresh fake Runtime API, the model's event queued before
//! exec, exec → response received); after the answer, while the process waits for its second
//! invocation, its peak RSS (`VmHWM`) and its minor page faults so far (`minflt` of
//! `/proc/<pid>/stat`, the count `getrusage` reports) are read. Every answer is checked for a
//! prediction. Each tree model's bootstrap also runs with `ICEBREAK_PREFETCH=off`, and the
//! bootstrap's own cold-start lines (first inference, `main` → answer, the page-in) are read
//! from its stdout. The report is printed and written to `target/coldsweep.md`, and the CDF of
//! each linking's cold starts to `target/coldsweep-<linking>.svg`.

use crate::coldstart::{cold_rounds, cold_run_faults_env, head, publish, rerun_optimised, stage};
use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::{build_linked_model, host_triple, Linking};
use icebreak_bench_support::plot::{cdf_svg, Series};
use icebreak_bench_support::process::evict_from_page_cache;
use icebreak_bench_support::stats::{percentile, ratio, Shuffle};
use icebreak_bench_support::table::command_line;
use icebreak_bench_support::{root, target_root};
use icebreak_fake_runtime::{Answer, AnswerKind};
use icebreak_format::testing::synthetic::{self, Forest};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Features of the synthetic models (the example model has 30 too).
const N_FEATURES: u32 = 30;

/// One model of the sweep.
struct ModelCase {
    label: &'static str,
    /// `None`: the example model (`examples/model.apr`, the bootstrap's default).
    forest: Option<Forest>,
}

const fn forest(n_trees: u32, depth: u32, random_forest: bool, seed: u64) -> Option<Forest> {
    Some(Forest {
        n_trees,
        depth,
        n_in: N_FEATURES,
        random_forest,
        seed,
    })
}

const MODELS: [ModelCase; 4] = [
    ModelCase {
        label: "linear (example)",
        forest: None,
    },
    ModelCase {
        label: "GBDT, 500 trees of depth 5",
        forest: forest(500, 5, false, 15),
    },
    ModelCase {
        label: "random forest, 392 trees of depth 8",
        forest: forest(392, 8, true, 100),
    },
    ModelCase {
        label: "GBDT, 200 trees of depth 13",
        forest: forest(200, 13, false, 50),
    },
];

/// A binary measured in the rounds.
struct Contender {
    /// Index into [`MODELS`], or `None` for the floor.
    model: Option<usize>,
    linking: Linking,
    /// Run with `ICEBREAK_PREFETCH=off` (the same binary as the default contender).
    prefetch_off: bool,
    path: PathBuf,
    size: u64,
    event: Vec<u8>,
    cold: Vec<Duration>,
    rss_kb: Vec<u64>,
    faults: Vec<u64>,
    major: Vec<u64>,
    /// "first inference" of the bootstrap's own cold-start log line, per run.
    first_ms: Vec<f64>,
    /// "total" of that line (`main` → the first answer computed), per run.
    total_ms: Vec<f64>,
    /// The page-in log line: (bytes mapped while waiting for the first event, its ms).
    paged: Vec<(u64, f64)>,
}

impl Contender {
    fn label(&self) -> String {
        match self.model {
            None => "floor".into(),
            Some(i) if self.prefetch_off => format!("{}, ICEBREAK_PREFETCH=off", MODELS[i].label),
            Some(i) => MODELS[i].label.into(),
        }
    }
}

/// The environment that turns the runtime's page-in of the first `/next` wait off.
const PREFETCH_OFF: [(&str, &str); 1] = [("ICEBREAK_PREFETCH", "off")];

/// What one model is, for the report.
struct ModelFacts {
    nodes: u64,
    file_bytes: u64,
}

const USAGE: &str = "usage: cargo xtask coldsweep [--runs N] [--static|--dynamic|--both] [--evict]

  --runs N     cold starts per binary (default 50), in rounds, random order per round
  --static     static glibc (default on Linux/gnu)
  --dynamic    dynamically linked
  --both       both linkings in the same rounds (one table per linking)
  --evict      drop each binary from the page cache before each of its runs
               (posix_fadvise DONTNEED), as on a host that has not run it yet";

/// `cargo xtask coldsweep [--runs N] [--static|--dynamic|--both]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut runs = 50usize;
    let mut linkings = vec![Linking::default_for_host()];
    let mut evict = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                let v = it.next().context("--runs needs a value")?;
                runs = v
                    .parse()
                    .with_context(|| format!("--runs {v:?} is not a count\n{USAGE}"))?;
            }
            "--static" => linkings = vec![Linking::Static],
            "--dynamic" => linkings = vec![Linking::Dynamic],
            "--both" => linkings = vec![Linking::Static, Linking::Dynamic],
            "--evict" => evict = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(runs > 0, "--runs must be at least 1");
    ensure!(
        cfg!(target_os = "linux"),
        "the cold-start harness reads /proc and runs on Linux only"
    );
    if rerun_optimised("coldsweep", args)? {
        return Ok(());
    }
    let triple = host_triple()?;
    let root = root();
    let models_dir = target_root().join("harness").join("sweep-models");
    std::fs::create_dir_all(&models_dir).with_context(|| models_dir.display().to_string())?;
    let example_event = std::fs::read(root.join("examples/event.json"))?;
    let mut facts = Vec::new();
    let mut paths = Vec::new();
    for (i, m) in MODELS.iter().enumerate() {
        match &m.forest {
            None => {
                let path = root.join("examples/model.apr");
                facts.push(ModelFacts {
                    nodes: 0,
                    file_bytes: std::fs::metadata(&path)?.len(),
                });
                paths.push(None);
            }
            Some(f) => {
                eprintln!("coldsweep: generating {}", m.label);
                let file = icebreak_format::write(&synthetic::model(f))
                    .with_context(|| format!("writing {}", m.label))?;
                let path = models_dir.join(format!("model-{i}.apr"));
                std::fs::write(&path, &*file).with_context(|| path.display().to_string())?;
                facts.push(ModelFacts {
                    nodes: f.n_nodes(),
                    file_bytes: file.len() as u64,
                });
                paths.push(Some(path));
            }
        }
    }
    let _ = std::fs::remove_dir_all(target_root().join("harness").join("run"));
    let mut contenders = Vec::new();
    for &linking in &linkings {
        eprintln!("coldsweep: building the floor ({} linking)", linking.name());
        let built = build_linked_model(
            linking,
            &triple,
            "icebreak-bench-floor",
            "floor-bootstrap",
            None,
        )?;
        contenders.push(contender(
            None,
            linking,
            stage(&built, &format!("{}-floor", linking.name()))?,
            b"{}".to_vec(),
        )?);
        for (i, m) in MODELS.iter().enumerate() {
            eprintln!(
                "coldsweep: building the bootstrap with {} ({} linking)",
                m.label,
                linking.name()
            );
            let built = build_linked_model(
                linking,
                &triple,
                "icebreak-bootstrap",
                "bootstrap",
                paths[i].as_deref(),
            )?;
            let event = match &m.forest {
                None => example_event.clone(),
                Some(f) => serde_json::to_vec(&serde_json::json!({
                    "features": synthetic::row(f.n_in, 42)
                }))?,
            };
            let staged = stage(&built, &format!("{}-bootstrap-{i}", linking.name()))?;
            if m.forest.is_some() {
                // The same file without the page-in, in the same rounds: what the
                // page-in changes, and (below its size threshold) a control that should not
                // differ.
                let mut off = contender(Some(i), linking, staged.clone(), event.clone())?;
                off.prefetch_off = true;
                contenders.push(off);
            }
            contenders.push(contender(Some(i), linking, staged, event)?);
        }
    }
    eprintln!(
        "coldsweep: {runs} cold starts of each of {} binaries, in shuffled rounds",
        contenders.len()
    );
    let mut order = Shuffle::new(contenders.len());
    cold_rounds(&mut order, runs, |i, round| {
        let c = &mut contenders[i];
        let predicts = c.model.is_some();
        let check = |a: &Answer, id: &str| check_answer(predicts, a, id);
        let env: &[(&str, &str)] = if c.prefetch_off { &PREFETCH_OFF } else { &[] };
        let log = PathBuf::from(format!("{}.stdout", c.path.display()));
        if evict {
            evict_from_page_cache(&c.path)?;
        }
        let (cold, rss, faults, major) =
            cold_run_faults_env(&c.path, env, Some(&log), &check, &c.event)
                .with_context(|| format!("cold run {} of {}", round + 1, c.path.display()))?;
        c.cold.push(cold);
        c.rss_kb.push(rss);
        c.faults.push(faults);
        c.major.push(major);
        if predicts {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(ms) = log_ms(&text, "first inference") {
                c.first_ms.push(ms);
            }
            if let Some(ms) = log_ms(&text, "total") {
                c.total_ms.push(ms);
            }
            if let Some(p) = paged_in(&text) {
                c.paged.push(p);
            }
        }
        Ok(())
    })?;
    let report = report(
        runs,
        &linkings,
        &contenders,
        &facts,
        &triple,
        &command_line("coldsweep", args),
    );
    for &linking in &linkings {
        let series: Vec<Series> = contenders
            .iter()
            .filter(|c| c.linking == linking)
            .map(|c| Series {
                label: c.label(),
                values: c.cold.iter().map(|&d| ms(d)).collect(),
                dashed: c.model.is_none() || c.prefetch_off,
            })
            .collect();
        let svg = cdf_svg(
            &format!(
                "Cold start by model size, {} glibc, {runs} runs each",
                linking.name()
            ),
            "exec → response received (ms)",
            &series,
        );
        let path = target_root().join(format!("coldsweep-{}.svg", linking.name()));
        std::fs::write(&path, svg).with_context(|| path.display().to_string())?;
        eprintln!("coldsweep: wrote {}", path.display());
    }
    publish(&report, "coldsweep.md")
}

/// The runtime's page-in line (`icebreak page-in: 1048576 of 26212552 model bytes mapped
/// while waiting for the first event, 0.412 ms (...)`): the bytes mapped and the ms spent.
fn paged_in(log: &str) -> Option<(u64, f64)> {
    let line = log.lines().find(|l| l.contains("icebreak page-in: "))?;
    let rest = line.split("icebreak page-in: ").nth(1)?;
    let bytes = rest.split(' ').next()?.parse().ok()?;
    let ms = rest
        .split("event, ")
        .nth(1)?
        .split(" ms")
        .next()?
        .parse()
        .ok()?;
    Some((bytes, ms))
}

/// A phase's milliseconds in the bootstrap's cold-start log line
/// (`icebreak cold start: init 0.010 ms, model load 0.007 ms, first inference 0.186 ms,
/// total 0.300 ms (model ...)`).
fn log_ms(log: &str, phase: &str) -> Option<f64> {
    let line = log.lines().find(|l| l.contains("icebreak cold start:"))?;
    let rest = line.split(&format!(" {phase} ")).nth(1)?;
    rest.split(" ms").next()?.trim().parse().ok()
}

fn contender(
    model: Option<usize>,
    linking: Linking,
    path: PathBuf,
    event: Vec<u8>,
) -> Result<Contender> {
    Ok(Contender {
        model,
        linking,
        prefetch_off: false,
        size: std::fs::metadata(&path)?.len(),
        path,
        event,
        cold: Vec::new(),
        rss_kb: Vec::new(),
        faults: Vec::new(),
        major: Vec::new(),
        first_ms: Vec::new(),
        total_ms: Vec::new(),
        paged: Vec::new(),
    })
}

/// A response to `id`: for a bootstrap, JSON with a `prediction`; for the floor, `{}`.
fn check_answer(predicts: bool, answer: &Answer, id: &str) -> Result<()> {
    ensure!(
        answer.kind == AnswerKind::Response && answer.request_id == id,
        "expected a response to {id}, got {:?} to {:?}: {}",
        answer.kind,
        answer.request_id,
        answer.text()
    );
    if predicts {
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .with_context(|| format!("answer is not JSON: {}", answer.text()))?;
        ensure!(
            json.get("prediction").is_some(),
            "answer has no prediction: {}",
            answer.text()
        );
    } else {
        ensure!(answer.body == b"{}", "floor answered {:?}", answer.text());
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `v` (the lower one for an even count).
fn median_f64(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The median of `v` (the lower one for an even count).
fn median_u64(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

fn report(
    runs: usize,
    linkings: &[Linking],
    contenders: &[Contender],
    facts: &[ModelFacts],
    triple: &str,
    command: &str,
) -> String {
    let mut s = head(command);
    let _ = writeln!(
        s,
        "Cold start against model size: {runs} cold runs per binary, in rounds (each binary \
         once per round, random order); exec (instant before `spawn`) -> response received by \
         the fake Runtime API, the model's event queued before exec. Minor faults: `minflt` of \
         the process (as `getrusage`) once it waits for its second invocation, i.e. exec, start \
         and the first answer; median over the runs. Peak RSS: largest `VmHWM`. Model bytes per node: \
         the whole file over its inner nodes, in the layout the converters choose \
         (`--tree-layout auto`: the compact 16-byte rows, leaves held in their parent's row, \
         for ensembles of 131 072 nodes or more that compare in f32; else 24-byte node rows \
         and 8 bytes a leaf value; plus the rest of the file). Synthetic \
         models: full trees, {N_FEATURES} features, written by \
         `icebreak_format::testing::synthetic`; the bootstrap embeds each with \
         `ICEBREAK_MODEL` and opens it attested (no node walk at start-up). Each tree model's \
         bootstrap runs twice in the rounds, as is (the runtime maps a model of 1 MiB or \
         more in while its first `/next` is in flight, and logs how much: the column \
         \"paged in while waiting\") and with `ICEBREAK_PREFETCH=off`. First inference \
         and main → answer (its `total`: from `main` to the first answer computed): the \
         bootstrap's own cold-start log line, median over the runs. The targets count the \
         default runs only. The CDF of every binary's cold starts is drawn in \
         `target/coldsweep-<linking>.svg`."
    );
    for &linking in linkings {
        let group: Vec<&Contender> = contenders.iter().filter(|c| c.linking == linking).collect();
        let Some(floor) = group.iter().find(|c| c.model.is_none()) else {
            continue;
        };
        let p50 = |c: &Contender| {
            let mut v = c.cold.clone();
            v.sort();
            percentile(&v, 0.5)
        };
        let floor_p50 = p50(floor);
        let floor_faults = median_u64(&floor.faults);
        let _ = writeln!(
            s,
            "\n### {} linking\n\nBuilt with `{}`.\n",
            linking.name(),
            linking.build_command(triple)
        );
        let _ = writeln!(
            s,
            "| binary | nodes | model (bytes) | model bytes / node | binary (bytes) | cold p50 (ms) \
             | p50 / floor | p50 − floor (ms) | first inference p50 (ms) | main → answer p50 (ms) | paged in while waiting (p50 bytes, ms) | minor faults | faults − floor | major faults | peak RSS (KB) |"
        );
        let _ = writeln!(
            s,
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        );
        let mut worst = 0.0f64;
        let mut big_extra = None;
        for c in &group {
            let dash = || String::from("–");
            let label = c.label();
            let (nodes, bytes, per_node) = match c.model {
                None => (dash(), dash(), dash()),
                Some(i) if facts[i].nodes == 0 => (dash(), facts[i].file_bytes.to_string(), dash()),
                Some(i) => (
                    facts[i].nodes.to_string(),
                    facts[i].file_bytes.to_string(),
                    format!("{:.1}", facts[i].file_bytes as f64 / facts[i].nodes as f64),
                ),
            };
            let m = p50(c);
            let r = ratio(m, floor_p50);
            let extra = ms(m) - ms(floor_p50);
            let faults = median_u64(&c.faults);
            if c.model.is_some() && !c.prefetch_off {
                worst = worst.max(r);
                if c.model == Some(MODELS.len() - 1) {
                    big_extra = Some(extra);
                }
            }
            let med = |v: &[f64]| {
                if v.is_empty() {
                    dash()
                } else {
                    format!("{:.3}", median_f64(v))
                }
            };
            let (first, total) = (med(&c.first_ms), med(&c.total_ms));
            let paged = if c.paged.is_empty() {
                dash()
            } else {
                let bytes: Vec<u64> = c.paged.iter().map(|p| p.0).collect();
                let ms: Vec<f64> = c.paged.iter().map(|p| p.1).collect();
                format!("{} ({:.3})", median_u64(&bytes), median_f64(&ms))
            };
            let _ = writeln!(
                s,
                "| {label} | {nodes} | {bytes} | {per_node} | {} | {:.3} | {r:.3} | {extra:+.3} | {first} | {total} | {paged} | {faults} | \
                 {:+} | {} | {} |",
                c.size,
                ms(m),
                faults as i64 - floor_faults as i64,
                median_u64(&c.major),
                c.rss_kb.iter().copied().max().unwrap_or(0),
            );
        }
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(
            s,
            "\nTargets ({} linking):\n\n- every model within 1.05 × the floor's cold p50: worst \
             {worst:.3} × — {}",
            linking.name(),
            verdict(worst <= 1.05)
        );
        if let Some(extra) = big_extra {
            let _ = writeln!(
                s,
                "- the largest model's first answer < 1 ms beyond the floor: {extra:+.3} ms — {}",
                verdict(extra < 1.0)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_read_from_the_cold_start_line() {
        let log =
            "2026-01-01T00:00:00.000Z\tcold-1\tINFO\ticebreak page-in: 9 of 10 model bytes mapped while waiting for the first event, 0.5 ms\n\
                   2026-01-01T00:00:00.000Z\tcold-1\tINFO\ticebreak cold start: init 0.010 ms, \
                   model load 0.007 ms, first inference 0.186 ms, total 0.300 ms (model m)\n";
        assert_eq!(log_ms(log, "first inference"), Some(0.186));
        assert_eq!(log_ms(log, "total"), Some(0.3));
        assert_eq!(log_ms(log, "init"), Some(0.01));
        assert_eq!(log_ms("no such line", "total"), None);
        assert_eq!(
            log_ms(
                "icebreak cold start: first inference x ms",
                "first inference"
            ),
            None
        );
        let page = "t\tr\tINFO\ticebreak page-in: 1048576 of 26212552 model bytes mapped while \
                    waiting for the first event, 0.412 ms (MADV_POPULATE_READ)\n";
        assert_eq!(paged_in(page), Some((1_048_576, 0.412)));
        assert_eq!(paged_in(log), Some((9, 0.5)));
        assert_eq!(paged_in("icebreak page-in: x of"), None);
    }
}
