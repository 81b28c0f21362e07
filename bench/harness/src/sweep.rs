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
//! prediction. The report is printed and written to `target/coldsweep.md`.

use crate::coldstart::{cold_rounds, cold_run_faults, head, publish, rerun_optimised, stage};
use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::{build_linked_model, host_triple, Linking};
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
    path: PathBuf,
    size: u64,
    event: Vec<u8>,
    cold: Vec<Duration>,
    rss_kb: Vec<u64>,
    faults: Vec<u64>,
}

/// What one model is, for the report.
struct ModelFacts {
    nodes: u64,
    file_bytes: u64,
}

const USAGE: &str = "usage: cargo xtask coldsweep [--runs N] [--static|--dynamic|--both]

  --runs N     cold starts per binary (default 50), in rounds, random order per round
  --static     static glibc (default on Linux/gnu)
  --dynamic    dynamically linked
  --both       both linkings in the same rounds (one table per linking)";

/// `cargo xtask coldsweep [--runs N] [--static|--dynamic|--both]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut runs = 50usize;
    let mut linkings = vec![Linking::default_for_host()];
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
            contenders.push(contender(
                Some(i),
                linking,
                stage(&built, &format!("{}-bootstrap-{i}", linking.name()))?,
                event,
            )?);
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
        let (cold, rss, faults) = cold_run_faults(&c.path, &check, &c.event)
            .with_context(|| format!("cold run {} of {}", round + 1, c.path.display()))?;
        c.cold.push(cold);
        c.rss_kb.push(rss);
        c.faults.push(faults);
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
    publish(&report, "coldsweep.md")
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
        size: std::fs::metadata(&path)?.len(),
        path,
        event,
        cold: Vec::new(),
        rss_kb: Vec::new(),
        faults: Vec::new(),
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
         `ICEBREAK_MODEL` and opens it attested (no node walk at start-up)."
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
             | p50 / floor | p50 − floor (ms) | minor faults | faults − floor | peak RSS (KB) |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        let mut worst = 0.0f64;
        let mut big_extra = None;
        for c in &group {
            let dash = || String::from("–");
            let (label, nodes, bytes, per_node) = match c.model {
                None => ("floor", dash(), dash(), dash()),
                Some(i) if facts[i].nodes == 0 => (
                    MODELS[i].label,
                    dash(),
                    facts[i].file_bytes.to_string(),
                    dash(),
                ),
                Some(i) => (
                    MODELS[i].label,
                    facts[i].nodes.to_string(),
                    facts[i].file_bytes.to_string(),
                    format!("{:.1}", facts[i].file_bytes as f64 / facts[i].nodes as f64),
                ),
            };
            let m = p50(c);
            let r = ratio(m, floor_p50);
            let extra = ms(m) - ms(floor_p50);
            let faults = median_u64(&c.faults);
            if c.model.is_some() {
                worst = worst.max(r);
            }
            if c.model == Some(MODELS.len() - 1) {
                big_extra = Some(extra);
            }
            let _ = writeln!(
                s,
                "| {label} | {nodes} | {bytes} | {per_node} | {} | {:.3} | {r:.3} | {extra:+.3} | {faults} | \
                 {:+} | {} |",
                c.size,
                ms(m),
                faults as i64 - floor_faults as i64,
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
