//! `coldstart` (`cargo xtask coldstart`): the end-to-end cold-start harness.
//!
//! Three bootstraps, built the same way in one run (release profile, explicit `--target`,
//! static or dynamic glibc): the icebreak `bootstrap`, the floor (`bench/floor`: the Runtime
//! API round trip and nothing else) and the same model served through the official
//! `lambda_runtime` crate (`bench/lambda-runtime-baseline`).
//!
//! Each binary is first copied to a fresh file ([`stage`]). Cold phase, `--runs N` times per
//! binary, in rounds (each binary once per round, in a fresh random order, with a pause after
//! each run) so machine noise and neighbour effects spread evenly: a fresh [`FakeRuntime`]
//! (fresh listening socket) with the example event already queued; spawn the binary with a
//! minimal Lambda environment; cold start = the instant before `Command::spawn` until the
//! Runtime API has received the whole response. Once the process is blocked on its second
//! `/next`, its peak RSS (`VmHWM`) is read from `/proc/<pid>/status`; then it is killed.
//!
//! Warm phase: one process per binary, a few untimed invocations, then `--warm K` timed
//! ones sent one after another, in blocks of [`WARM_BLOCK`] per process with the blocks in
//! shuffled rounds (so noise spreads evenly here too); round trip = invocation queued until
//! answer received.
//!
//! Every answer is checked (a real prediction for the two model servers); a run without an
//! answer within [`TIMEOUT`] fails the harness. Children are killed on every path
//! ([`Running`]). The report is printed and written to `target/coldstart.md`, and the CDF of
//! each linking's cold starts to `target/coldstart-<linking>.svg`.
//!
//! `--events` measures the icebreak bootstrap alone, cold and warm the same way, once per
//! event shape it answers (direct, Function URL / HTTP API v2, REST API v1, ALB, SQS with
//! one record), each answer checked for its shape; ratios are against the direct event and
//! the report goes to `target/coldstart-events.md`.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::{build_linked, elf_is_static, host_triple, Linking};
use icebreak_bench_support::machine::{machine, source_version};
use icebreak_bench_support::plot::{cdf_svg, Series};
use icebreak_bench_support::process::{
    cargo, lambda_command, log_stderr, major_faults, minor_faults, status_kb, wait_answer, Running,
    TIMEOUT,
};
use icebreak_bench_support::stats::{percentile, percentile_of, ratio, Shuffle};
use icebreak_bench_support::table::command_line;
use icebreak_bench_support::{root, target_root};
use icebreak_fake_runtime::{Answer, AnswerKind, FakeRuntime};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Untimed invocations before the timed warm round trips.
const WARM_UP: usize = 20;

/// Warm invocations sent to one process in a row, before the next process's turn: a warm
/// instance under steady traffic, while machine noise still spreads across the binaries.
const WARM_BLOCK: usize = 100;

/// Pause after each cold run, so the previous process's teardown is not on the next clock.
pub(crate) const SETTLE: Duration = Duration::from_millis(5);

/// One contender of the comparison.
struct Kind {
    label: &'static str,
    package: &'static str,
    bin: &'static str,
    /// Serves the example model (so its answers carry a prediction).
    predicts: bool,
}

const BOOTSTRAP: usize = 0;
const FLOOR: usize = 1;
const LAMBDA_RUNTIME: usize = 2;

const KINDS: [Kind; 3] = [
    Kind {
        label: "icebreak bootstrap",
        package: "icebreak-bootstrap",
        bin: "bootstrap",
        predicts: true,
    },
    Kind {
        label: "floor",
        package: "icebreak-bench-floor",
        bin: "floor-bootstrap",
        predicts: false,
    },
    Kind {
        label: "lambda_runtime",
        package: "icebreak-bench-lambda-runtime",
        bin: "lambda-runtime-bootstrap",
        predicts: true,
    },
];

/// A built binary and what was measured of it.
struct Contender {
    kind: &'static Kind,
    linking: Linking,
    path: PathBuf,
    size: u64,
    cold: Vec<Duration>,
    rss_kb: Vec<u64>,
    warm: Vec<Duration>,
}

struct Options {
    runs: usize,
    warm: usize,
    linkings: Vec<Linking>,
    candidates: Vec<PathBuf>,
    /// Measure the icebreak bootstrap alone, once per event shape ([`run_events`]).
    events: bool,
}

const USAGE: &str = "usage: cargo xtask coldstart [--runs N] [--warm K] [--static|--dynamic|--both]
       cargo xtask coldstart --events [--runs N] [--warm K] [--static|--dynamic]

  --runs N     cold starts per binary (default 50), in rounds, random order per round
  --warm K     timed warm invocations per binary (default 2000)
  --static     build all contenders with static glibc (default on Linux/gnu)
  --dynamic    build all contenders dynamically linked
  --both       measure both linkings in one run, interleaved (one table per linking)
  --candidate PATH
               also measure this prebuilt bootstrap (e.g. a change to crates/lambda built
               elsewhere, or a mapped bootstrap, which finds the example model as
               $LAMBDA_TASK_ROOT/model.apr) in the same rounds; repeatable
  --events     only the icebreak bootstrap, once per event shape (direct, Function URL v2,
               REST API v1, ALB, SQS with one record), in the same shuffled rounds; report
               in target/coldstart-events.md";

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            runs: 50,
            warm: 2000,
            linkings: vec![Linking::default_for_host()],
            candidates: Vec::new(),
            events: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut number = |name: &str| -> Result<usize> {
                let v = it.next().with_context(|| format!("{name} needs a value"))?;
                v.parse()
                    .with_context(|| format!("{name} {v:?} is not a count\n{USAGE}"))
            };
            match a.as_str() {
                "--runs" => o.runs = number("--runs")?,
                "--warm" => o.warm = number("--warm")?,
                "--static" => o.linkings = vec![Linking::Static],
                "--dynamic" => o.linkings = vec![Linking::Dynamic],
                "--both" => o.linkings = vec![Linking::Static, Linking::Dynamic],
                "--events" => o.events = true,
                "--candidate" => {
                    let path = it.next().context("--candidate needs a path")?;
                    o.candidates.push(PathBuf::from(path));
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        ensure!(o.runs > 0, "--runs must be at least 1");
        ensure!(
            !o.events || (o.linkings.len() == 1 && o.candidates.is_empty()),
            "--events measures one bootstrap with one linking: no --both, no --candidate"
        );
        Ok(o)
    }
}

/// Environment variable set when the harness re-runs itself optimised.
const OPTIMISED: &str = "ICEBREAK_BENCH_OPTIMISED";

/// Re-runs `icebreak-bench <harness> <args>` built in release when this is a debug build;
/// returns whether it did (and the caller is done).
pub(crate) fn rerun_optimised(harness: &str, args: &[String]) -> Result<bool> {
    if cfg!(debug_assertions) && std::env::var_os(OPTIMISED).is_none() {
        // The fake Runtime API sits on the measured path; a debug build of it would add the
        // same overhead to every contender and flatten the ratios. Re-run optimised.
        eprintln!("{harness}: building the harness itself in release first");
        let status = cargo()
            .current_dir(root())
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "icebreak-bench",
                "--target-dir",
            ])
            .arg(target_root().join("harness").join("bench"))
            .args(["--", harness])
            .args(args)
            .env(OPTIMISED, "1")
            .env("CARGO_TARGET_DIR", target_root())
            .status()
            .context("re-running the harness in release")?;
        ensure!(status.success(), "{harness} failed ({status})");
        return Ok(true);
    }
    Ok(false)
}

/// `cargo xtask coldstart [--runs N] [--warm K] [--static|--dynamic|--both]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    ensure!(
        cfg!(target_os = "linux"),
        "the cold-start harness reads /proc and runs on Linux only"
    );
    if rerun_optimised("coldstart", args)? {
        return Ok(());
    }
    if opts.events {
        return run_events(&opts, args);
    }

    let triple = host_triple()?;
    // Staged copies of an earlier run are stale.
    let _ = std::fs::remove_dir_all(target_root().join("harness").join("run"));
    let mut contenders = Vec::new();
    for &linking in &opts.linkings {
        for kind in &KINDS {
            eprintln!(
                "coldstart: building {} ({} linking)",
                kind.bin,
                linking.name()
            );
            let built = build_linked(linking, &triple, kind.package, kind.bin)?;
            let path = stage(&built, &format!("{}-{}", linking.name(), kind.bin))?;
            contenders.push(Contender {
                kind,
                linking,
                size: std::fs::metadata(&path)?.len(),
                path,
                cold: Vec::with_capacity(opts.runs),
                rss_kb: Vec::with_capacity(opts.runs),
                warm: Vec::with_capacity(opts.warm),
            });
        }
    }
    for (n, path) in opts.candidates.iter().enumerate() {
        let linking = match elf_is_static(path)? {
            Some(true) => Linking::Static,
            Some(false) => Linking::Dynamic,
            None => bail!("{} is not a 64-bit ELF executable", path.display()),
        };
        ensure!(
            opts.linkings.contains(&linking),
            "{} is {}ally linked, but this run measures {}",
            path.display(),
            linking.name(),
            opts.linkings
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(" and ")
        );
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let kind: &'static Kind = Box::leak(Box::new(Kind {
            label: Box::leak(format!("candidate `{name}`").into_boxed_str()),
            package: "",
            bin: "",
            predicts: true,
        }));
        contenders.push(Contender {
            kind,
            linking,
            path: stage(path, &format!("candidate-{n}-{name}"))?,
            size: std::fs::metadata(path)?.len(),
            cold: Vec::with_capacity(opts.runs),
            rss_kb: Vec::with_capacity(opts.runs),
            warm: Vec::with_capacity(opts.warm),
        });
    }
    let root = root();
    if !opts.candidates.is_empty() {
        // A mapped bootstrap among the candidates maps `$LAMBDA_TASK_ROOT/model.apr`: the
        // example model, beside the staged binaries (the others ignore it).
        let beside = target_root().join("harness/run/model.apr");
        std::fs::copy(root.join("examples/model.apr"), &beside)
            .with_context(|| beside.display().to_string())?;
    }
    let event_path = root.join("examples/event.json");
    let event = std::fs::read(&event_path).with_context(|| event_path.display().to_string())?;
    let model_size = std::fs::metadata(root.join("examples/model.apr"))?.len();

    eprintln!(
        "coldstart: {} cold starts of each of {} binaries, in shuffled rounds",
        opts.runs,
        contenders.len()
    );
    let mut order = Shuffle::new(contenders.len());
    cold_rounds(&mut order, opts.runs, |i, round| {
        let c = &mut contenders[i];
        let check = |a: &Answer, id: &str| check_answer(c.kind, a, id);
        let (cold, rss) = cold_run(&c.path, &check, &event)
            .with_context(|| format!("cold run {} of {}", round + 1, c.path.display()))?;
        c.cold.push(cold);
        c.rss_kb.push(rss);
        Ok(())
    })?;
    if opts.warm > 0 {
        eprintln!(
            "coldstart: {} warm invocations of each binary, in blocks of {WARM_BLOCK}, \
             shuffled rounds",
            opts.warm
        );
        let mut warm = contenders
            .iter()
            .map(|c| Warm::start(&c.path, &|a, id| check_answer(c.kind, a, id), &event))
            .collect::<Result<Vec<_>>>()?;
        warm_rounds(&mut order, opts.warm, |i, block| {
            let (c, w) = (&mut contenders[i], &mut warm[i]);
            let kind = c.kind;
            let check = |a: &Answer, id: &str| check_answer(kind, a, id);
            for _ in 0..block {
                let t = w
                    .round_trip(&check, &event)
                    .with_context(|| format!("warm phase of {}", c.path.display()))?;
                c.warm.push(t);
            }
            Ok(())
        })?;
    }

    let report = report(
        &opts,
        &contenders,
        &triple,
        &command_line("coldstart", args),
        model_size,
    );
    for &linking in &opts.linkings {
        let series: Vec<Series> = contenders
            .iter()
            .filter(|c| c.linking == linking)
            .map(|c| Series {
                label: c.kind.label.to_string(),
                values: c.cold.iter().map(|&d| ms(d)).collect(),
                dashed: c.kind.bin == "floor-bootstrap",
            })
            .collect();
        let svg = cdf_svg(
            &format!(
                "Cold start, example model, {} glibc, {} runs each",
                linking.name(),
                opts.runs
            ),
            "exec → response received (ms)",
            &series,
        );
        let path = target_root().join(format!("coldstart-{}.svg", linking.name()));
        std::fs::write(&path, svg).with_context(|| path.display().to_string())?;
        eprintln!("coldstart: wrote {}", path.display());
    }
    publish(&report, "coldstart.md")
}

/// Cold runs in `runs` rounds, each item once per round in a fresh random order (so no item
/// always runs right after another one), with a pause after each run to let the killed
/// process and its fake Runtime API wind down off the clock.
pub(crate) fn cold_rounds(
    order: &mut Shuffle,
    runs: usize,
    mut run: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    for round in 0..runs {
        for &i in order.next_round() {
            run(i, round)?;
            std::thread::sleep(SETTLE);
        }
        if (round + 1) % 10 == 0 || round + 1 == runs {
            eprintln!("coldstart: {}/{} rounds", round + 1, runs);
        }
    }
    Ok(())
}

/// `total` warm invocations per item, in blocks of [`WARM_BLOCK`], the blocks in shuffled
/// rounds; `run(i, n)` makes `n` timed invocations of item `i`.
fn warm_rounds(
    order: &mut Shuffle,
    total: usize,
    mut run: impl FnMut(usize, usize) -> Result<()>,
) -> Result<()> {
    let mut done = 0;
    while done < total {
        let block = WARM_BLOCK.min(total - done);
        for &i in order.next_round() {
            run(i, block)?;
        }
        done += block;
    }
    Ok(())
}

/// Prints a report and writes it to `target/<file>`.
pub(crate) fn publish(report: &str, file: &str) -> Result<()> {
    icebreak_bench_support::table::publish("coldstart", report, &target_root().join(file))
}

/// Copies a binary to a fresh file under `target/harness/run/`, the way a Lambda package is
/// unpacked: written once, front to back. Exec costs depend on how the file's pages sit in
/// the page cache, and a file the linker wrote piecemeal measured slower to start (more
/// page faults) than a plain copy of it; copying puts every contender on the same footing.
pub(crate) fn stage(binary: &Path, name: &str) -> Result<PathBuf> {
    let dir = target_root().join("harness").join("run");
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let staged = dir.join(name);
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(binary, &staged)
        .with_context(|| format!("copying {} to {}", binary.display(), staged.display()))?;
    Ok(staged)
}

/// Checks one answer (the answer, the request id it must answer).
pub(crate) type Check<'a> = &'a dyn Fn(&Answer, &str) -> Result<()>;

/// One cold start of `path`: returns exec -> response and the peak RSS in KB.
fn cold_run(path: &Path, check: Check<'_>, event: &[u8]) -> Result<(Duration, u64)> {
    cold_run_faults(path, check, event).map(|(cold, rss, _)| (cold, rss))
}

/// One cold start of `path`: returns exec -> response, the peak RSS in KB and the minor page
/// faults of the process until it waits for its second invocation (the first answer's).
pub(crate) fn cold_run_faults(
    path: &Path,
    check: Check<'_>,
    event: &[u8],
) -> Result<(Duration, u64, u64)> {
    cold_run_faults_env(path, &[], None, check, event)
        .map(|(cold, rss, minor, _)| (cold, rss, minor))
}

/// [`cold_run_faults`] with extra environment variables for the process and, when
/// `stdout_log` is given, its stdout (where the runtime's log lines go) in that file, created
/// before the clock starts. The bootstrap writes its cold-start lines after posting the
/// answer, so they are off the clock either way. Returns the major faults too.
pub(crate) fn cold_run_faults_env(
    path: &Path,
    env: &[(&str, &str)],
    stdout_log: Option<&Path>,
    check: Check<'_>,
    event: &[u8],
) -> Result<(Duration, u64, u64, u64)> {
    let rt = FakeRuntime::start().context("starting the fake Runtime API")?;
    rt.invoke("cold-1", event.to_vec());
    let mut cmd = lambda_command(path, &rt.address());
    cmd.envs(env.iter().copied());
    if let Some(out) = stdout_log {
        let file = std::fs::File::create(out).with_context(|| out.display().to_string())?;
        cmd.stdout(file);
    }
    let log = log_stderr(&mut cmd)?;
    let t0 = Instant::now();
    let mut child = Running::spawn(&mut cmd, Some(log))?;
    let answer = wait_answer(&rt, 1, &mut child, "cold invocation")?;
    let cold = answer.at.saturating_duration_since(t0);
    check(&answer, "cold-1")?;
    if !rt.wait_next_calls(2, TIMEOUT) {
        bail!(
            "the process did not come back to /next within {TIMEOUT:?} ({})",
            child.stop()
        );
    }
    let rss = status_kb(child.id(), "VmHWM")?;
    let faults = minor_faults(child.id())?;
    let major = major_faults(child.id())?;
    drop(child);
    Ok((cold, rss, faults, major))
}

/// A warm process: started once, invoked one request at a time.
struct Warm {
    rt: FakeRuntime,
    child: Running,
    answered: usize,
}

impl Warm {
    /// Starts the process and sends it [`WARM_UP`] untimed invocations.
    fn start(path: &Path, check: Check<'_>, event: &[u8]) -> Result<Warm> {
        let rt = FakeRuntime::start().context("starting the fake Runtime API")?;
        let mut cmd = lambda_command(path, &rt.address());
        let log = log_stderr(&mut cmd)?;
        let child = Running::spawn(&mut cmd, Some(log))?;
        let mut w = Warm {
            rt,
            child,
            answered: 0,
        };
        for _ in 0..WARM_UP {
            w.round_trip(check, event)?;
        }
        Ok(w)
    }

    /// One invocation: queued -> answer received.
    fn round_trip(&mut self, check: Check<'_>, event: &[u8]) -> Result<Duration> {
        let n = self.answered + 1;
        let id = format!("warm-{n}");
        let t0 = Instant::now();
        self.rt.invoke(&id, event.to_vec());
        let answer = wait_answer(&self.rt, n, &mut self.child, "warm invocation")?;
        let round_trip = answer.at.saturating_duration_since(t0);
        self.answered = n;
        check(&answer, &id)?;
        // Let it settle on the next `/next`, so whatever it still does after answering is
        // not charged to the binary measured next.
        if !self.rt.wait_next_calls(n + 1, TIMEOUT) {
            bail!(
                "the process did not come back to /next within {TIMEOUT:?} ({})",
                self.child.stop()
            );
        }
        Ok(round_trip)
    }
}

/// A response to `id`; for the model servers, JSON with a `prediction`.
fn check_answer(kind: &Kind, answer: &Answer, id: &str) -> Result<()> {
    ensure!(
        answer.kind == AnswerKind::Response && answer.request_id == id,
        "{}: expected a response to {id}, got {:?} to {:?}: {}",
        kind.label,
        answer.kind,
        answer.request_id,
        answer.text()
    );
    if kind.predicts {
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .with_context(|| format!("{}: answer is not JSON: {}", kind.label, answer.text()))?;
        ensure!(
            json.get("prediction").is_some(),
            "{}: answer has no prediction: {}",
            kind.label,
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

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Summary of one contender.
struct Summary {
    cold_min: Duration,
    cold_p50: Duration,
    cold_p90: Duration,
    warm_p50: Duration,
    warm_p99: Duration,
    rss_max_kb: u64,
}

impl Summary {
    fn of(c: &Contender) -> Summary {
        let mut cold = c.cold.clone();
        cold.sort();
        let mut warm = c.warm.clone();
        warm.sort();
        Summary {
            cold_min: cold.first().copied().unwrap_or_default(),
            cold_p50: percentile(&cold, 0.5),
            cold_p90: percentile(&cold, 0.9),
            warm_p50: percentile(&warm, 0.5),
            warm_p99: percentile(&warm, 0.99),
            rss_max_kb: c.rss_kb.iter().copied().max().unwrap_or(0),
        }
    }
}

/// The first lines of both reports: machine, command, source.
pub(crate) fn head(command: &str) -> String {
    format!(
        "Machine: {}\nCommand: `{command}`\nSource: {}\n",
        machine(),
        source_version(&root())
    )
}

fn report(
    opts: &Options,
    contenders: &[Contender],
    triple: &str,
    command: &str,
    model_size: u64,
) -> String {
    let mut s = head(command);
    let _ = writeln!(
        s,
        "Cold: {} runs per binary, in rounds (each binary once per round, random order, \
         {SETTLE:?} pause after each run); exec (instant before `spawn`) -> response received \
         by the fake Runtime API, example event queued before exec. Warm: {} timed \
         invocations per binary, one after another in blocks of {WARM_BLOCK} per binary, the \
         blocks in shuffled rounds, after {WARM_UP} untimed; invocation queued -> answer \
         received. Percentiles are nearest-rank. Peak RSS is the \
         largest `VmHWM` seen while the process waits for its second invocation. Model: \
         examples/model.apr, {model_size} bytes.",
        opts.runs, opts.warm
    );
    for &linking in &opts.linkings {
        let group: Vec<&Contender> = contenders.iter().filter(|c| c.linking == linking).collect();
        let sums: Vec<Summary> = group.iter().map(|c| Summary::of(c)).collect();
        let _ = writeln!(
            s,
            "\n### {} linking\n\nBuilt with `{}`.\n",
            linking.name(),
            linking.build_command(triple)
        );
        let _ = writeln!(
            s,
            "| binary | size (bytes, stripped) | cold min (ms) | cold p50 (ms) | cold p90 (ms) \
             | p50 / floor | p50 / lambda_runtime | peak RSS (KB) | warm p50 (µs) | warm p99 (µs) \
             | warm p50 / floor |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for (c, m) in group.iter().zip(&sums) {
            let _ = writeln!(
                s,
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.2} |",
                c.kind.label,
                c.size,
                ms(m.cold_min),
                ms(m.cold_p50),
                ms(m.cold_p90),
                ratio(m.cold_p50, sums[FLOOR].cold_p50),
                ratio(m.cold_p50, sums[LAMBDA_RUNTIME].cold_p50),
                m.rss_max_kb,
                us(m.warm_p50),
                us(m.warm_p99),
                ratio(m.warm_p50, sums[FLOOR].warm_p50),
            );
        }
        let (ice, floor, lr) = (&sums[BOOTSTRAP], &sums[FLOOR], &sums[LAMBDA_RUNTIME]);
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let vs_floor = ratio(ice.cold_p50, floor.cold_p50);
        let vs_lr = ratio(ice.cold_p50, lr.cold_p50);
        let warm = ratio(ice.warm_p50, floor.warm_p50);
        let size_limit = 600 * 1024 + model_size;
        let rss_limit = 3 * 1024 + model_size.div_ceil(1024);
        let _ = writeln!(
            s,
            "\nTargets for the icebreak bootstrap ({} linking):\n",
            linking.name()
        );
        let _ = writeln!(
            s,
            "- cold p50 ≤ 1.05 × floor: {vs_floor:.3} × — {}",
            verdict(vs_floor <= 1.05)
        );
        let _ = writeln!(
            s,
            "- cold p50 < 0.7 × lambda_runtime: {vs_lr:.3} × — {}",
            verdict(vs_lr < 0.7)
        );
        if opts.warm > 0 {
            let _ = writeln!(
                s,
                "- warm p50 ≤ 1.3 × floor: {warm:.3} × — {}",
                verdict(warm <= 1.3)
            );
        }
        let _ = writeln!(
            s,
            "- binary < 600 KiB + model ({size_limit} bytes): {} bytes — {}",
            group[BOOTSTRAP].size,
            verdict(group[BOOTSTRAP].size < size_limit)
        );
        let _ = writeln!(
            s,
            "- peak RSS < 3 MiB + model ({rss_limit} KB): {} KB — {}",
            ice.rss_max_kb,
            verdict(ice.rss_max_kb < rss_limit)
        );
    }
    if opts.linkings.len() > 1 {
        let _ = writeln!(s, "\n### static vs dynamic (cold p50, same run)\n");
        let _ = writeln!(
            s,
            "| binary | static p50 (ms) | dynamic p50 (ms) | static / dynamic |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|");
        for kind in &KINDS {
            let p50 = |l: Linking| {
                contenders
                    .iter()
                    .find(|c| std::ptr::eq(c.kind, kind) && c.linking == l)
                    .map(|c| Summary::of(c).cold_p50)
                    .unwrap_or_default()
            };
            let (st, dy) = (p50(Linking::Static), p50(Linking::Dynamic));
            let _ = writeln!(
                s,
                "| {} | {:.3} | {:.3} | {:.2} |",
                kind.label,
                ms(st),
                ms(dy),
                st.as_secs_f64() / dy.as_secs_f64()
            );
        }
    }
    s
}

/// What a right answer to an event shape looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The bare `{"features": [...]}` event: the answer has a `prediction`.
    Direct,
    /// An HTTP-shaped event: `statusCode` 200 and a JSON `body` string with a `prediction`.
    Http,
    /// An SQS batch with one valid record: `{"batchItemFailures": []}`.
    Sqs,
}

/// One event shape of `--events`: the event sent and what was measured with it.
struct EventCase {
    label: &'static str,
    shape: Shape,
    event: Vec<u8>,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
}

/// The event shapes of `--events`, direct first (the reference of the ratios): the example
/// event and the HTTP fixtures of `crates/lambda/tests/events/` as they are, and an SQS
/// batch made of the first (valid) record of `sqs.json`.
fn event_cases(root: &Path) -> Result<Vec<EventCase>> {
    let read = |rel: &str| {
        let path = root.join(rel);
        std::fs::read(&path).with_context(|| path.display().to_string())
    };
    let fixtures = "crates/lambda/tests/events";
    let mut sqs: serde_json::Value =
        serde_json::from_slice(&read(&format!("{fixtures}/sqs.json"))?)
            .context("sqs.json is not JSON")?;
    let records = sqs
        .get_mut("Records")
        .and_then(serde_json::Value::as_array_mut)
        .context("sqs.json has no Records array")?;
    ensure!(!records.is_empty(), "sqs.json has no records");
    records.truncate(1);
    let cases = [
        (
            "direct (examples/event.json)",
            Shape::Direct,
            read("examples/event.json")?,
        ),
        (
            "Function URL / HTTP API v2",
            Shape::Http,
            read(&format!("{fixtures}/function-url-post.json"))?,
        ),
        (
            "REST API v1",
            Shape::Http,
            read(&format!("{fixtures}/rest-api-v1.json"))?,
        ),
        ("ALB", Shape::Http, read(&format!("{fixtures}/alb.json"))?),
        ("SQS (1 record)", Shape::Sqs, serde_json::to_vec(&sqs)?),
    ];
    Ok(cases
        .into_iter()
        .map(|(label, shape, event)| EventCase {
            label,
            shape,
            event,
            cold: Vec::new(),
            warm: Vec::new(),
        })
        .collect())
}

/// A response to `id` of the right shape for the event sent.
fn check_event_answer(label: &str, shape: Shape, answer: &Answer, id: &str) -> Result<()> {
    ensure!(
        answer.kind == AnswerKind::Response && answer.request_id == id,
        "{label}: expected a response to {id}, got {:?} to {:?}: {}",
        answer.kind,
        answer.request_id,
        answer.text()
    );
    let json: serde_json::Value = serde_json::from_slice(&answer.body)
        .with_context(|| format!("{label}: answer is not JSON: {}", answer.text()))?;
    let ok = match shape {
        Shape::Direct => json.get("prediction").is_some(),
        Shape::Http => {
            json.get("statusCode").and_then(serde_json::Value::as_u64) == Some(200)
                && json
                    .get("body")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                    .is_some_and(|b| b.get("prediction").is_some())
        }
        Shape::Sqs => json == serde_json::json!({"batchItemFailures": []}),
    };
    ensure!(
        ok,
        "{label}: wrong answer for a {shape:?} event: {}",
        answer.text()
    );
    Ok(())
}

/// `cargo xtask coldstart --events`: the icebreak bootstrap alone, cold and warm, once per
/// event shape, with the same rounds, shuffling and checks as the comparison.
fn run_events(opts: &Options, args: &[String]) -> Result<()> {
    let triple = host_triple()?;
    let linking = opts.linkings[0];
    let _ = std::fs::remove_dir_all(target_root().join("harness").join("run"));
    let kind = &KINDS[BOOTSTRAP];
    eprintln!(
        "coldstart: building {} ({} linking)",
        kind.bin,
        linking.name()
    );
    let built = build_linked(linking, &triple, kind.package, kind.bin)?;
    let path = stage(&built, &format!("{}-{}", linking.name(), kind.bin))?;
    let size = std::fs::metadata(&path)?.len();
    let mut cases = event_cases(&root())?;

    eprintln!(
        "coldstart: {} cold starts per event shape ({} shapes), in shuffled rounds",
        opts.runs,
        cases.len()
    );
    let mut order = Shuffle::new(cases.len());
    cold_rounds(&mut order, opts.runs, |i, round| {
        let c = &mut cases[i];
        let (label, shape) = (c.label, c.shape);
        let check = |a: &Answer, id: &str| check_event_answer(label, shape, a, id);
        let (cold, _rss) = cold_run(&path, &check, &c.event)
            .with_context(|| format!("cold run {} with the {label} event", round + 1))?;
        c.cold.push(cold);
        Ok(())
    })?;
    if opts.warm > 0 {
        eprintln!(
            "coldstart: {} warm invocations per event shape (one process each), in blocks of \
             {WARM_BLOCK}, shuffled rounds",
            opts.warm
        );
        let mut warm = cases
            .iter()
            .map(|c| {
                let check = |a: &Answer, id: &str| check_event_answer(c.label, c.shape, a, id);
                Warm::start(&path, &check, &c.event)
            })
            .collect::<Result<Vec<_>>>()?;
        warm_rounds(&mut order, opts.warm, |i, block| {
            let (c, w) = (&mut cases[i], &mut warm[i]);
            let (label, shape) = (c.label, c.shape);
            let check = |a: &Answer, id: &str| check_event_answer(label, shape, a, id);
            for _ in 0..block {
                let t = w
                    .round_trip(&check, &c.event)
                    .with_context(|| format!("warm phase with the {label} event"))?;
                c.warm.push(t);
            }
            Ok(())
        })?;
    }

    let report = events_report(
        opts,
        &cases,
        linking,
        &triple,
        &command_line("coldstart", args),
        size,
    );
    publish(&report, "coldstart-events.md")
}

/// The `--events` report: one row per event shape, ratios against the direct event.
fn events_report(
    opts: &Options,
    cases: &[EventCase],
    linking: Linking,
    triple: &str,
    command: &str,
    size: u64,
) -> String {
    let mut s = head(command);
    let _ = writeln!(
        s,
        "The icebreak bootstrap alone ({} linking, `{}`, {size} bytes), once per event shape. \
         Cold: {} runs per shape, in rounds (each shape once per round, random order, \
         {SETTLE:?} pause after each run); exec (instant before `spawn`) -> response received \
         by the fake Runtime API, event queued before exec. Warm: one process per shape, {} \
         timed invocations each, in blocks of {WARM_BLOCK} per shape, the blocks in shuffled \
         rounds, after {WARM_UP} untimed; invocation queued -> answer received. Every answer \
         is checked (direct: a `prediction`; HTTP: `statusCode` 200 and a JSON body with a \
         `prediction`; SQS: `{{\"batchItemFailures\": []}}`). Percentiles are nearest-rank. \
         Events: examples/event.json and crates/lambda/tests/events/{{function-url-post,\
         rest-api-v1,alb}}.json as they are; SQS: sqs.json cut to its first (valid) record.\n",
        linking.name(),
        linking.build_command(triple),
        opts.runs,
        opts.warm
    );
    let _ = writeln!(
        s,
        "| event | size (bytes) | cold min (ms) | cold p50 (ms) | cold p90 (ms) | cold p50 / direct \
         | warm p50 (µs) | warm p99 (µs) | warm p50 / direct |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let direct_cold = percentile_of(&cases[0].cold, 0.5);
    let direct_warm = percentile_of(&cases[0].warm, 0.5);
    let mut worst_http = 0.0f64;
    for c in cases {
        let cold_p50 = percentile_of(&c.cold, 0.5);
        let warm_p50 = percentile_of(&c.warm, 0.5);
        let r = ratio(cold_p50, direct_cold);
        if c.shape == Shape::Http {
            worst_http = worst_http.max(r);
        }
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.3} |",
            c.label,
            c.event.len(),
            ms(c.cold.iter().copied().min().unwrap_or_default()),
            ms(cold_p50),
            ms(percentile_of(&c.cold, 0.9)),
            r,
            us(warm_p50),
            us(percentile_of(&c.warm, 0.99)),
            ratio(warm_p50, direct_warm),
        );
    }
    let verdict = if worst_http <= 1.05 { "met" } else { "NOT met" };
    let _ = writeln!(
        s,
        "\nTarget: HTTP-shaped events' cold p50 ≤ 1.05 × direct: worst {worst_http:.3} × — \
         {verdict}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = Options::parse(&args(&["--runs", "7", "--warm", "0", "--dynamic"])).unwrap();
        assert_eq!((o.runs, o.warm), (7, 0));
        assert_eq!(o.linkings, vec![Linking::Dynamic]);
        assert!(Options::parse(&args(&["--runs"])).is_err());
        assert!(Options::parse(&args(&["--runs", "x"])).is_err());
        assert!(Options::parse(&args(&["--fast"])).is_err());
        assert!(Options::parse(&args(&["--events"])).unwrap().events);
        assert!(Options::parse(&args(&["--events", "--both"])).is_err());
        assert!(Options::parse(&args(&["--events", "--candidate", "x"])).is_err());
    }
}
