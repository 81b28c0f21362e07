//! The Python-against-timer suites (`treebench`, `sklearnbench`): a script trains and
//! exports models and times the Python libraries on them; the timer (`bench/timer`) times
//! icebreak on the same files and rows; the native peers' timer (`bench/peers`) times
//! onnxruntime through its C API (the library inside the bench environment's onnxruntime
//! wheel) and the compiled tree peers on them too; rounds alternate which side goes first.
//!
//! This module holds what the suites share: setting up `.venv`, building the timer,
//! preparing, running the rounds, the facts at the head of the report, and the report's
//! cells. What differs (the models, the engines, the tables) stays in each harness.

use crate::machine::{commit, cores, cpu_model, loadavg, tool_version};
use crate::process::run_checked;
use crate::stats::Stat;
use crate::table::{grouped, micros, rows_per_s};
use crate::{python, read_json};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The options every suite takes: `--quick` and `--rounds N`.
pub struct Options {
    /// A smoke run: fewer models or calls, one round unless told.
    pub quick: bool,
    /// Rounds of measurements (3 by default, 1 with `--quick`).
    pub rounds: usize,
}

/// Parses a suite's arguments: `-h`/`--help` (prints `usage`, returns `None`), `--quick`,
/// `--rounds N`, and whatever `extra` accepts (it returns whether it took the argument).
pub fn parse_options(
    args: &[String],
    usage: &str,
    mut extra: impl FnMut(&str) -> bool,
) -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        rounds: 0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{usage}");
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
            other if extra(other) => {}
            _ => bail!("unknown argument {a:?}\n{usage}"),
        }
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 1 } else { 3 };
    }
    Ok(Some(o))
}

/// A suite: its name (the xtask command), the timer's mode, the Python side.
pub struct Suite {
    /// The command and the directory under the target directory, e.g. `treebench`.
    pub name: &'static str,
    /// The timer's subcommand, e.g. `trees`.
    pub timer_mode: &'static str,
    /// The Python script, from the root, e.g. `scripts/bench/trees.py`.
    pub script: &'static str,
    /// Its pinned requirements, from the root.
    pub requirements: &'static str,
}

/// A suite under way: where it writes, its Python, its clock.
pub struct Run {
    suite: &'static Suite,
    /// The workspace root.
    pub root: PathBuf,
    /// `<target>/<name>/`: models, round files, the report.
    pub out: PathBuf,
    /// The `.venv` Python.
    pub python: PathBuf,
    timer: Option<PathBuf>,
    /// `bench-peers` and the `libonnxruntime.so*` it is given.
    peers: Option<(PathBuf, PathBuf)>,
    started: Instant,
    prepared: Duration,
    load_start: String,
}

/// The measurements of all rounds: each side's JSON per round, and the load average at the
/// start of each round.
pub struct Rounds {
    /// The Python side's round files.
    pub python: Vec<Value>,
    /// The timer's round files.
    pub timer: Vec<Value>,
    /// The native peers' round files (`bench-peers`).
    pub peers: Vec<Value>,
    /// `loadavg` before each round.
    pub loads: Vec<String>,
}

impl Suite {
    /// Creates the output directory and `.venv`, installs the requirements.
    pub fn start(&'static self) -> Result<Run> {
        let started = Instant::now();
        let root = crate::root();
        let out = crate::target_root().join(self.name);
        std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
        let load_start = loadavg();
        let python = python::ensure_venv(&root, self.name)?;
        let run = Run {
            suite: self,
            root,
            out,
            python,
            timer: None,
            peers: None,
            started,
            prepared: Duration::ZERO,
            load_start,
        };
        run.install(self.requirements)?;
        Ok(run)
    }
}

impl Run {
    /// Installs a requirements file (path from the root) into `.venv`.
    pub fn install(&self, requirements: &str) -> Result<()> {
        eprintln!("{}: installing {requirements} into .venv", self.suite.name);
        python::pip_install_requirements(&self.python, &self.root.join(requirements))
    }

    /// Builds the timer, then runs `SCRIPT prepare --out OUT EXTRA...`.
    pub fn prepare(&mut self, extra: &[&str]) -> Result<()> {
        let name = self.suite.name;
        eprintln!("{name}: building bench/timer (release)");
        self.timer = Some(crate::build::build_release(
            "icebreak-bench-timer",
            "bench-timer",
        )?);
        eprintln!("{name}: building bench/peers (release)");
        let peers = crate::build::build_release("icebreak-bench-peers", "bench-peers")?;
        let ort_lib = python::onnxruntime_library(&self.python)?;
        eprintln!("{name}: onnxruntime's C library: {}", ort_lib.display());
        self.peers = Some((peers, ort_lib));
        eprintln!("{name}: preparing models under {}", self.out.display());
        let mut prep = self.script();
        prep.arg("prepare").arg("--out").arg(&self.out).args(extra);
        run_checked(&mut prep, &format!("{} prepare", self.script_name()))?;
        self.prepared = self.started.elapsed();
        Ok(())
    }

    /// `python SCRIPT` with the script's directory kept off `sys.path` (`PYTHONSAFEPATH`,
    /// Python 3.11+): `scripts/bench/sklearn.py` would otherwise shadow the `sklearn`
    /// package for `scripts/bench/trees.py`.
    fn script(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.env("PYTHONSAFEPATH", "1")
            .arg(self.root.join(self.suite.script));
        cmd
    }

    fn script_name(&self) -> &str {
        Path::new(self.suite.script)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(self.suite.script)
    }

    /// `rounds` rounds: in odd ones the Python side, then the timer, then the native peers;
    /// in even ones the other way round. `python_counts` and `timer_counts` are the `--flag
    /// N` pairs each side is given (the native peers get the timer's).
    pub fn rounds(
        &self,
        rounds: usize,
        python_counts: &[(&str, usize)],
        timer_counts: &[(&str, usize)],
    ) -> Result<Rounds> {
        let timer = self
            .timer
            .as_ref()
            .context("the timer is built by prepare")?;
        let py_what = format!("{} time", self.script_name());
        let rs_what = format!("bench-timer {}", self.suite.timer_mode);
        let (peers, ort_lib) = self
            .peers
            .as_ref()
            .context("bench-peers is built by prepare")?;
        let peers_what = format!("bench-peers {}", self.suite.timer_mode);
        let mut all = Rounds {
            python: Vec::new(),
            timer: Vec::new(),
            peers: Vec::new(),
            loads: Vec::new(),
        };
        for round in 1..=rounds {
            let py_file = self.out.join(format!("python-round-{round}.json"));
            let rs_file = self.out.join(format!("rust-round-{round}.json"));
            let mut py = self.script();
            py.args(["time", "--out"])
                .arg(&self.out)
                .args(["--round", &round.to_string()]);
            for (flag, n) in python_counts {
                py.args([flag, &n.to_string().as_str()]);
            }
            let mut rs = Command::new(timer);
            rs.arg(self.suite.timer_mode)
                .arg("--manifest")
                .arg(self.out.join("manifest.json"))
                .args(["--round", &round.to_string()])
                .arg("--out")
                .arg(&rs_file);
            let peers_file = self.out.join(format!("peers-round-{round}.json"));
            let mut pe = Command::new(peers);
            pe.arg(self.suite.timer_mode)
                .arg("--manifest")
                .arg(self.out.join("manifest.json"))
                .args(["--round", &round.to_string()])
                .arg("--out")
                .arg(&peers_file)
                .arg("--ort-lib")
                .arg(ort_lib);
            for (flag, n) in timer_counts {
                rs.args([flag, &n.to_string().as_str()]);
                pe.args([flag, &n.to_string().as_str()]);
            }
            all.loads.push(loadavg());
            if round % 2 == 1 {
                run_checked(&mut py, &py_what)?;
                run_checked(&mut rs, &rs_what)?;
                run_checked(&mut pe, &peers_what)?;
            } else {
                run_checked(&mut pe, &peers_what)?;
                run_checked(&mut rs, &rs_what)?;
                run_checked(&mut py, &py_what)?;
            }
            all.python.push(read_json(&py_file)?);
            all.timer.push(read_json(&rs_file)?);
            all.peers.push(read_json(&peers_file)?);
        }
        Ok(all)
    }

    /// The rounds ([`Run::rounds`]), then the manifest and the facts for the report;
    /// `measured` are the paths (from the root) whose changes would make the commit not what
    /// was measured.
    pub fn measure(
        &self,
        args: &[String],
        rounds: usize,
        python_counts: &[(&str, usize)],
        timer_counts: &[(&str, usize)],
        measured: &[&str],
    ) -> Result<Measured> {
        let rounds = self.rounds(rounds, python_counts, timer_counts)?;
        let manifest = read_json(&self.out.join("manifest.json"))?;
        Ok(Measured {
            env: self.environment(args, measured),
            n_rows: manifest["n_rows"].as_f64().unwrap_or(1000.0),
            manifest,
            rounds,
        })
    }

    fn environment(&self, args: &[String], measured: &[&str]) -> Environment {
        Environment {
            command: crate::table::command_line(self.suite.name, args),
            cpu: cpu_model().unwrap_or_else(|| "unknown".to_owned()),
            cores: cores(),
            rustc: tool_version("rustc"),
            commit: commit(&self.root, measured),
            load_start: self.load_start.clone(),
            load_end: loadavg(),
            prepare_s: self.prepared.as_secs_f64(),
            total_s: self.started.elapsed().as_secs_f64(),
        }
    }

    /// Prints the report and writes it to `<target>/<name>/<name>.md`.
    pub fn publish(&self, report: &str) -> Result<()> {
        let path = self.out.join(format!("{}.md", self.suite.name));
        crate::table::publish(self.suite.name, report, &path)
    }
}

/// What a suite measured: what its report is made of.
pub struct Measured {
    /// The facts about the run.
    pub env: Environment,
    /// The manifest `prepare` wrote.
    pub manifest: Value,
    /// Both sides' rounds.
    pub rounds: Rounds,
    /// Rows per batch.
    pub n_rows: f64,
}

impl Measured {
    /// The manifest's models.
    pub fn models(&self) -> Result<&Vec<Value>> {
        self.manifest["models"]
            .as_array()
            .context("manifest: models")
    }

    /// A library's version, as the Python side recorded it; `missing` if it did not.
    pub fn version(&self, library: &str, missing: &str) -> String {
        self.manifest["versions"][library]
            .as_str()
            .unwrap_or(missing)
            .to_owned()
    }

    /// `Name version, Name version, ...` of `(name, key)` pairs ([`Measured::version`]).
    pub fn versions(&self, libraries: &[(&str, &str)], missing: &str) -> String {
        libraries
            .iter()
            .map(|(name, key)| format!("{name} {}", self.version(key, missing)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The report's cells ([`Cells`]).
    pub fn cells(&self, whole_from: f64, sep: char) -> Cells {
        Cells {
            whole_from,
            sep,
            n_rows: self.n_rows,
        }
    }

    /// The data and timer-floor rows of the facts table.
    pub fn write_data_and_floor(&self, w: &mut String) -> std::fmt::Result {
        write_data_and_floor(w, &self.manifest, &self.rounds)
    }
}

/// The facts at the head of a suite's report.
pub struct Environment {
    /// The command line.
    pub command: String,
    /// The CPU model.
    pub cpu: String,
    /// Available parallelism.
    pub cores: usize,
    /// `rustc --version`.
    pub rustc: String,
    /// The commit measured ([`commit`]).
    pub commit: String,
    /// The load average at the start.
    pub load_start: String,
    /// The load average at the end.
    pub load_end: String,
    /// Seconds spent installing, building and preparing.
    pub prepare_s: f64,
    /// Seconds in all.
    pub total_s: f64,
}

impl Environment {
    /// The command line and the first rows of the facts table: CPU, cores, rustc, commit.
    pub fn write_head(&self, w: &mut String) -> std::fmt::Result {
        writeln!(w, "Command: `{}`", self.command)?;
        writeln!(w)?;
        writeln!(w, "| | |")?;
        writeln!(w, "|---|---|")?;
        writeln!(w, "| CPU (`/proc/cpuinfo` model name) | `{}` |", self.cpu)?;
        writeln!(w, "| cores (available parallelism) | {} |", self.cores)?;
        writeln!(w, "| rustc | `{}` |", self.rustc)?;
        writeln!(w, "| commit measured | `{}` |", self.commit)
    }

    /// The wall-time and rounds rows.
    pub fn write_time(&self, w: &mut String, rounds: usize) -> std::fmt::Result {
        writeln!(
            w,
            "| wall time | {:.0} s in all, {:.0} s of it installing, building and preparing models |",
            self.total_s, self.prepare_s
        )?;
        writeln!(w, "| rounds | {rounds} |")
    }
}

/// The data row (from the manifest) and the timer-floor row of the facts table.
fn write_data_and_floor(w: &mut String, manifest: &Value, rounds: &Rounds) -> std::fmt::Result {
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
        floor(&rounds.python),
        floor(&rounds.timer)
    )
}

impl Rounds {
    /// The native peers that were not timed, with the reason (the last round's):
    /// `(model, engine, reason)`.
    pub fn peers_refused(&self) -> Vec<(String, String, String)> {
        let last = self.peers.last().map(std::slice::from_ref).unwrap_or(&[]);
        Rounds::results(last)
            .filter_map(|r| {
                Some((
                    r["model"].as_str()?.to_owned(),
                    r["engine"].as_str()?.to_owned(),
                    r["error"].as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    /// A native peer's largest difference from the library's outputs (the last round's).
    pub fn peer_diff(&self, model: &str, engine: &str) -> Option<f64> {
        let last = self.peers.last().map(std::slice::from_ref).unwrap_or(&[]);
        Rounds::results(last)
            .find(|r| r["model"] == model && r["engine"] == engine)
            .and_then(|r| r["max_abs_diff"].as_f64())
    }

    /// The timer's result for a model in the last round.
    pub fn timer_model(&self, name: &str) -> Option<&Value> {
        self.timer.last().and_then(|r| {
            r["results"]
                .as_array()
                .and_then(|a| a.iter().find(|m| m["model"] == name))
        })
    }

    /// Every result line of one side's rounds.
    pub fn results(rounds: &[Value]) -> impl Iterator<Item = &Value> {
        rounds
            .iter()
            .flat_map(|r| r["results"].as_array().into_iter().flatten())
    }
}

/// A line of a suite's tables: model, engine, threads (empty where the side does not say).
pub type Key = (String, String, String);

impl Rounds {
    /// The Python side's and the native peers' timed lines over the rounds; the harness
    /// adds the timer's.
    pub fn python_series(&self) -> BTreeMap<Key, Series> {
        let mut map: BTreeMap<Key, Series> = BTreeMap::new();
        let peers = Rounds::results(&self.peers).filter(|r| r.get("error").is_none());
        for r in Rounds::results(&self.python).chain(peers) {
            let key = (
                r["model"].as_str().unwrap_or("").to_owned(),
                r["engine"].as_str().unwrap_or("").to_owned(),
                r["threads"].as_str().unwrap_or("").to_owned(),
            );
            map.entry(key).or_default().add(r);
        }
        map
    }
}

/// The `median_ns` of a summary both sides write.
pub fn median_ns(v: &Value) -> Option<f64> {
    v.get("median_ns").and_then(Value::as_f64)
}

/// Per-round medians (ns) of one line of a table: single rows and batches.
#[derive(Default)]
pub struct Series {
    /// Single-row medians.
    pub single: Vec<f64>,
    /// Batch medians.
    pub batch: Vec<f64>,
}

impl Series {
    /// Adds a result's `single` and `batch` medians, where it has them.
    pub fn add(&mut self, r: &Value) {
        if let Some(v) = median_ns(&r["single"]) {
            self.single.push(v);
        }
        if let Some(v) = median_ns(&r["batch"]) {
            self.batch.push(v);
        }
    }

    /// The figure over the rounds of the batches or of the single rows.
    pub fn stat(&self, batch: bool) -> Option<Stat> {
        Stat::of(if batch {
            self.batch.clone()
        } else {
            self.single.clone()
        })
    }
}

/// How a suite's report writes its cells.
pub struct Cells {
    /// Microseconds from which no decimals are shown ([`micros`]).
    pub whole_from: f64,
    /// The thousands separator.
    pub sep: char,
    /// Rows per batch.
    pub n_rows: f64,
}

impl Cells {
    /// Nanoseconds as microseconds.
    pub fn us(&self, ns: f64) -> String {
        micros(ns, self.whole_from)
    }

    /// A whole number with thousands separated.
    pub fn int(&self, v: f64) -> String {
        grouped(v, self.sep)
    }

    /// Rows per second of a batch that took `ns`.
    pub fn rows_per_s(&self, ns: f64) -> f64 {
        rows_per_s(ns, self.n_rows)
    }

    /// A single-row figure: `mid [lo–hi]` in µs; empty if not measured.
    pub fn single(&self, s: Option<Stat>) -> String {
        s.map_or(String::new(), |s| {
            format!("{} [{}–{}]", self.us(s.mid), self.us(s.lo), self.us(s.hi))
        })
    }

    /// A batch figure: `mid [lo–hi]` in rows/s (the slowest batch gives the lowest rate).
    pub fn batch(&self, b: Option<Stat>) -> String {
        b.map_or(String::new(), |b| {
            format!(
                "{} [{}–{}]",
                self.int(self.rows_per_s(b.mid)),
                self.int(self.rows_per_s(b.hi)),
                self.int(self.rows_per_s(b.lo))
            )
        })
    }
}

/// A difference in the reports' `1.2e-5` form; empty if it is not a number.
pub fn sci(v: &Value) -> String {
    v.as_f64().map_or(String::new(), |x| format!("{x:.1e}"))
}
