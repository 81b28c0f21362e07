//! `loadbench` (`cargo xtask loadbench`): `icebreak serve` under load, beside a floor, in one run.
//!
//! Builds `icebreak` (package `icebreak-cli`) and the floor (`bench/server-floor`: a
//! hello-world axum handler on the same tokio runtime) in one release build, so both get the
//! same profile and the same features of their shared dependencies. Then, on 127.0.0.1:
//!
//! 1. **Fixed concurrency** (closed loop, `wrk`): the floor, `POST /predict` inline, and
//!    `POST /predict` with `--spawn-blocking`, in alternating rounds; throughput and
//!    p50/p99/p99.9.
//! 2. **Fixed rate** (open loop, `oha -q` with `--latency-correction`, so a stall delays
//!    every request scheduled behind it and shows in the percentiles): floor and predict at
//!    the same rate, a fraction of the predict throughput measured in 1.
//! 3. **2x overload**: a batch route with a small `--max-concurrency`, offered twice the
//!    rate it sustains; how many are shed (503) and the latency of the admitted ones; and
//!    `POST /predict` offered twice its throughput.
//! 4. **Soak** (`--soak SECS`, default 30): predict at the fixed rate, the server's RSS
//!    sampled every second from `/proc`.
//!
//! The load generators come from package registries and are installed when missing: `wrk`
//! with apt-get (Debian), `oha` with `cargo install --locked` into `target/tools`. The report
//! is printed and written to `target/loadbench.md`.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::host_triple;
use icebreak_bench_support::machine::{machine, source_version};
use icebreak_bench_support::process::{cargo, free_port, on_path, status_kb, Running};
use icebreak_bench_support::stats::median;
use icebreak_bench_support::table::{command_line, publish};
use icebreak_bench_support::{root, target_root};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: cargo xtask loadbench [--duration SECS] [--rounds N] [--connections N] [--soak SECS]

  --duration     seconds per measured run (default 10)
  --rounds       alternating rounds of the fixed-concurrency runs (default 2)
  --connections  connections of the fixed-concurrency and fixed-rate runs (default 64)
  --soak         seconds of the soak at the fixed rate, RSS sampled each second (default 30)
";

struct Options {
    duration: u64,
    rounds: usize,
    connections: usize,
    soak: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            duration: 10,
            rounds: 2,
            connections: 64,
            soak: 30,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> Result<u64> {
                let v = it
                    .next()
                    .with_context(|| format!("{name} needs a value\n{USAGE}"))?;
                v.parse()
                    .with_context(|| format!("{name} {v:?} is not a number\n{USAGE}"))
            };
            match a.as_str() {
                "--duration" => o.duration = value("--duration")?.max(1),
                "--rounds" => o.rounds = value("--rounds")?.max(1) as usize,
                "--connections" => o.connections = value("--connections")?.max(1) as usize,
                "--soak" => o.soak = value("--soak")?.max(1),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                _ => bail!("unknown argument {a:?}\n{USAGE}"),
            }
        }
        Ok(o)
    }
}

/// One measured run.
#[derive(Debug, Clone, Default)]
struct Stats {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// 2xx answers.
    ok: u64,
    /// 503 answers (shed).
    shed: u64,
    /// Other non-2xx answers and socket errors or timeouts.
    errors: u64,
}

/// `wrk`, installed from Debian's archive when missing.
fn ensure_wrk() -> Result<PathBuf> {
    if let Some(p) = on_path("wrk") {
        return Ok(p);
    }
    println!("wrk is missing: installing it with apt-get");
    let apt = if on_path("sudo").is_some() {
        "sudo -n apt-get"
    } else {
        "apt-get"
    };
    let status = Command::new("sh")
        .args([
            "-c",
            &format!("{apt} update -qq && DEBIAN_FRONTEND=noninteractive {apt} install -y -qq wrk"),
        ])
        .status()
        .context("running apt-get")?;
    ensure!(status.success(), "apt-get install wrk failed: {status}");
    on_path("wrk").context("wrk is still not on PATH after apt-get install")
}

/// `oha`, installed from crates.io into `target/tools` when missing.
fn ensure_oha() -> Result<PathBuf> {
    if let Some(p) = on_path("oha") {
        return Ok(p);
    }
    let root = target_root().join("tools");
    let bin = root.join("bin/oha");
    if bin.is_file() {
        return Ok(bin);
    }
    println!("oha is missing: cargo install --locked oha (a few minutes, once)");
    let status = cargo()
        .args(["install", "--locked", "oha", "--root"])
        .arg(&root)
        .env("CARGO_TARGET_DIR", target_root().join("tools-build"))
        .status()
        .context("running cargo install oha")?;
    ensure!(status.success(), "cargo install oha failed: {status}");
    ensure!(bin.is_file(), "{} was not installed", bin.display());
    Ok(bin)
}

/// Builds both servers in one release build; returns (icebreak, floor).
fn build() -> Result<(PathBuf, PathBuf)> {
    let triple = host_triple()?;
    let dir = target_root().join("loadbench");
    let status = cargo()
        .current_dir(root())
        .args(["build", "--release", "--target", &triple])
        .args(["-p", "icebreak-cli", "--bin", "icebreak"])
        .args(["-p", "icebreak-bench-server-floor", "--bin", "server-floor"])
        .env("CARGO_TARGET_DIR", &dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "cargo build failed: {status}");
    let out = dir.join(&triple).join("release");
    Ok((out.join("icebreak"), out.join("server-floor")))
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP answer: {raw:?}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A server process, ready to answer.
struct Server {
    proc: Running,
    addr: SocketAddr,
}

impl Server {
    fn start(cmd: &mut Command, port: u16, log: &Path) -> Result<Server> {
        let file = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        cmd.stdout(file.try_clone()?)
            .stderr(file)
            .stdin(Stdio::null());
        let mut proc = Running::spawn(cmd, None)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok((200, _)) = http(addr, "GET", "/health", b"") {
                return Ok(Server { proc, addr });
            }
            if Instant::now() > deadline {
                let why = proc.stop();
                bail!("{:?} did not come up on {addr}: {why}", cmd.get_program());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn rss_kb(&self) -> Result<u64> {
        status_kb(self.proc.id(), "VmRSS")
    }
}

/// The wrk script: POSTs the body file and prints the summary as one JSON line.
fn wrk_script(dir: &Path, body: &Path) -> Result<PathBuf> {
    let script = dir.join("post.lua");
    let lua = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{}", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
        body.display()
    );
    std::fs::write(&script, lua)?;
    Ok(script)
}

/// A closed-loop run: `connections` connections, each sending as soon as it is answered.
fn wrk(wrk: &Path, script: &Path, url: &str, connections: usize, secs: u64) -> Result<Stats> {
    let out = Command::new(wrk)
        .args(["-t", "1", "-c", &connections.to_string()])
        .args(["-d", &format!("{secs}s"), "--timeout", "5s", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no summary from wrk: {text}"))?;
    let v: Value = serde_json::from_str(line)?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let requests = n("requests");
    let non_2xx = n("status");
    Ok(Stats {
        rps: requests as f64 / (n("duration_us") as f64 / 1e6),
        p50_ms: n("p50") as f64 / 1e3,
        p99_ms: n("p99") as f64 / 1e3,
        p999_ms: n("p999") as f64 / 1e3,
        ok: requests - non_2xx,
        // wrk cannot tell a 503 from another non-2xx: these runs have no shedding, so any
        // non-2xx is an error.
        shed: 0,
        errors: non_2xx + n("connect") + n("read") + n("write") + n("timeout"),
    })
}

/// An oha run. With `rate`, open loop: requests scheduled at `rate` per second whatever the
/// answers' pace, latency counted from each request's scheduled time. Without, closed loop.
/// With `db`, every request is also written there (SQLite), for [`admitted`].
fn oha(
    oha: &Path,
    url: &str,
    body: &Path,
    connections: usize,
    rate: Option<f64>,
    secs: u64,
    db: Option<&Path>,
) -> Result<Stats> {
    let mut cmd = Command::new(oha);
    cmd.args(["--no-tui", "--output-format", "json"])
        .args(["-z", &format!("{secs}s"), "-c", &connections.to_string()])
        .args(["-t", "5s", "-m", "POST"])
        .args(["-H", "content-type: application/json", "-D"])
        .arg(body)
        .arg(url);
    if let Some(rate) = rate {
        cmd.args(["-q", &format!("{rate:.0}"), "--latency-correction"]);
    }
    if let Some(db) = db {
        let _ = std::fs::remove_file(db);
        cmd.arg("--db-url").arg(db);
    }
    let out = cmd.output().context("running oha")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "oha failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&text).with_context(|| format!("oha output: {text}"))?;
    let codes = &v["statusCodeDistribution"];
    let count = |pred: &dyn Fn(u16) -> bool| -> u64 {
        codes.as_object().map_or(0, |m| {
            m.iter()
                .filter(|(k, _)| k.parse().is_ok_and(pred))
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        })
    };
    let ok = count(&|c| (200..300).contains(&c));
    let shed = count(&|c| c == 503);
    let other = count(&|c| !(200..300).contains(&c) && c != 503);
    // Requests still in flight when the run's time is up are not errors.
    let socket: u64 = v["errorDistribution"].as_object().map_or(0, |m| {
        m.iter()
            .filter(|(k, _)| !k.contains("aborted due to deadline"))
            .map(|(_, n)| n.as_u64().unwrap_or(0))
            .sum()
    });
    let p = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN) * 1e3;
    Ok(Stats {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: p("p50"),
        p99_ms: p("p99"),
        p999_ms: p("p99.9"),
        ok,
        shed,
        errors: other + socket,
    })
}

/// p50, p99 and p99.9 (ms) of the answers with status 200 in an oha database, with the
/// latency corrected for coordinated omission: oha's summary mixes 200s and 503s.
fn admitted(db: &Path) -> Result<(f64, f64, f64)> {
    const SCRIPT: &str = "import json, sqlite3, sys
d = sorted(r[0] for r in sqlite3.connect(sys.argv[1]).execute('select duration from oha where status = 200'))
p = lambda q: d[min(len(d) - 1, max(0, -int(-q * len(d) // 100) - 1))] * 1e3 if d else float('nan')
print(json.dumps([p(50), p(99), p(99.9)]))";
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(db)
        .output()
        .context("running python3 to read oha's database")?;
    ensure!(
        out.status.success(),
        "reading {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<f64> = serde_json::from_slice(&out.stdout)?;
    ensure!(v.len() == 3, "unexpected percentiles {v:?}");
    Ok((v[0], v[1], v[2]))
}

/// The run with the median throughput.
fn median_run(runs: &[Stats]) -> Stats {
    let m = median(runs.iter().map(|s| s.rps).collect());
    runs.iter()
        .min_by(|a, b| (a.rps - m).abs().total_cmp(&(b.rps - m).abs()))
        .cloned()
        .unwrap_or_default()
}

fn row(out: &mut String, label: &str, s: &Stats, vs_floor: Option<&Stats>) {
    let ratio = vs_floor.map_or("—".to_owned(), |f| format!("{:.2}x", f.rps / s.rps));
    let p99_ratio = vs_floor.map_or("—".to_owned(), |f| format!("{:.2}x", s.p99_ms / f.p99_ms));
    let _ = writeln!(
        out,
        "| {label} | {:.0} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {ratio} | {p99_ratio} |",
        s.rps, s.p50_ms, s.p99_ms, s.p999_ms, s.ok, s.shed, s.errors
    );
}

const HEADER: &str = "| run | req/s | p50 ms | p99 ms | p99.9 ms | 2xx | 503 | errors | floor req/s ÷ this | p99 ÷ floor p99 |\n|---|---|---|---|---|---|---|---|---|---|";

/// A batch body of `n` copies of the example instance.
fn batch_body(event: &Value, n: usize) -> Result<Vec<u8>> {
    let features = event["features"].clone();
    let instances: Vec<Value> = (0..n)
        .map(|_| serde_json::json!({ "features": features }))
        .collect();
    Ok(serde_json::to_vec(
        &serde_json::json!({ "instances": instances }),
    )?)
}

/// `cargo xtask loadbench [--duration SECS] [--rounds N] [--connections N] [--soak SECS]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let root = root();
    let wrk_bin = ensure_wrk()?;
    let oha_bin = ensure_oha()?;
    let (icebreak, floor) = build()?;
    let dir = target_root().join("loadbench/run");
    std::fs::create_dir_all(&dir)?;
    let model = root.join("examples/model.apr");
    let event_path = root.join("examples/event.json");
    let event: Value = serde_json::from_slice(&std::fs::read(&event_path)?)?;
    let body = dir.join("event.json");
    std::fs::write(&body, serde_json::to_vec(&event)?)?;
    const BATCH: usize = 64;
    let batch = dir.join("batch.json");
    std::fs::write(&batch, batch_body(&event, BATCH)?)?;
    let script = wrk_script(&dir, &body)?;
    let (c, d) = (opts.connections, opts.duration);

    let serve = |port: u16, extra: &[&str], name: &str| -> Result<Server> {
        let mut cmd = Command::new(&icebreak);
        cmd.arg("serve")
            .arg(format!("cancer={}", model.display()))
            .args(["--port", &port.to_string(), "--log-level", "warn"])
            .args(extra);
        Server::start(&mut cmd, port, &dir.join(format!("{name}.log")))
    };
    let port = free_port()?;
    let floor_srv = Server::start(
        Command::new(&floor).arg(port.to_string()),
        port,
        &dir.join("floor.log"),
    )?;
    let inline = serve(free_port()?, &[], "inline")?;
    let blocking = serve(free_port()?, &["--spawn-blocking"], "spawn-blocking")?;

    // Every contender answers, and the server's answer is a real prediction.
    let sample = serde_json::to_vec(&event)?;
    let (status, answer) = http(inline.addr, "POST", "/predict", &sample)?;
    ensure!(
        status == 200 && answer.contains("\"prediction\":\"malignant\""),
        "unexpected answer from icebreak serve: {status} {answer}"
    );
    ensure!(http(floor_srv.addr, "POST", "/predict", &sample)?.0 == 200);
    ensure!(http(blocking.addr, "POST", "/predict", &sample)?.0 == 200);

    // 1. Fixed concurrency, in alternating rounds after a short warm-up of each.
    println!(
        "fixed concurrency: {c} connections, {d} s per run, {} rounds",
        opts.rounds
    );
    const LABELS: [&str; 3] = [
        "floor (hello-world axum)",
        "POST /predict (inline)",
        "POST /predict (--spawn-blocking)",
    ];
    let closed: Vec<Stats> = {
        let servers = [&floor_srv, &inline, &blocking];
        for s in servers {
            wrk(&wrk_bin, &script, &s.url("/predict"), c, 2)?;
        }
        let mut runs: Vec<Vec<Stats>> = vec![Vec::new(); servers.len()];
        for round in 0..opts.rounds {
            for (i, s) in servers.iter().enumerate() {
                let st = wrk(&wrk_bin, &script, &s.url("/predict"), c, d)?;
                println!(
                    "  round {round}: {}: {:.0} req/s, p99 {:.3} ms",
                    LABELS[i], st.rps, st.p99_ms
                );
                runs[i].push(st);
            }
        }
        runs.iter().map(|r| median_run(r)).collect()
    };
    drop(blocking);

    // 2. Fixed rate, below saturation: the same rate for floor and predict.
    let rate = (closed[1].rps * 0.6).floor();
    println!("fixed rate: {rate:.0} req/s (0.6 x predict's closed-loop throughput)");
    let floor_rate = oha(
        &oha_bin,
        &floor_srv.url("/predict"),
        &body,
        c,
        Some(rate),
        d,
        None,
    )?;
    let predict_rate = oha(
        &oha_bin,
        &inline.url("/predict"),
        &body,
        c,
        Some(rate),
        d,
        None,
    )?;
    drop(floor_srv);

    // 3. 2x overload. Batches, with a small concurrency limit: their saturation rate
    // first, closed loop at the limit, then twice that rate, open loop.
    let limit = 4;
    let shedder = serve(
        free_port()?,
        &["--max-concurrency", &limit.to_string()],
        "shedding",
    )?;
    let batch_sat = oha(
        &oha_bin,
        &shedder.url("/predict/batch"),
        &batch,
        limit,
        None,
        d,
        None,
    )?;
    ensure!(
        batch_sat.errors == 0 && batch_sat.shed == 0,
        "batch saturation run failed: {batch_sat:?}"
    );
    let batch_rate = (batch_sat.rps * 2.0).floor();
    println!("2x overload: batches of {BATCH} at {batch_rate:.0} req/s, --max-concurrency {limit}");
    let db = dir.join("overload-batch.db");
    let mut batch_over = oha(
        &oha_bin,
        &shedder.url("/predict/batch"),
        &batch,
        c,
        Some(batch_rate),
        d,
        Some(&db),
    )?;
    (batch_over.p50_ms, batch_over.p99_ms, batch_over.p999_ms) = admitted(&db)?;
    let single_rate = (closed[1].rps * 2.0).floor();
    println!("2x overload: POST /predict at {single_rate:.0} req/s, --max-concurrency {limit}");
    let db = dir.join("overload-single.db");
    let mut single_over = oha(
        &oha_bin,
        &shedder.url("/predict"),
        &body,
        c,
        Some(single_rate),
        d,
        Some(&db),
    )?;
    (single_over.p50_ms, single_over.p99_ms, single_over.p999_ms) = admitted(&db)?;
    drop(shedder);

    // 4. Soak at the fixed rate, RSS sampled each second.
    println!("soak: {} s at {rate:.0} req/s", opts.soak);
    let rss_start = inline.rss_kb()?;
    let mut samples = Vec::new();
    let url = inline.url("/predict");
    let soak = std::thread::scope(|scope| -> Result<Stats> {
        let job = scope.spawn(|| oha(&oha_bin, &url, &body, c, Some(rate), opts.soak, None));
        while !job.is_finished() {
            std::thread::sleep(Duration::from_secs(1));
            if let Ok(kb) = inline.rss_kb() {
                samples.push(kb);
            }
        }
        job.join()
            .map_err(|_| anyhow::anyhow!("soak thread panicked"))?
    })?;
    let rss_end = inline.rss_kb()?;
    drop(inline);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}. Source: {}.",
        machine(),
        source_version(&root)
    );
    let _ = writeln!(
        out,
        "Command: `{}`. Both servers from one `cargo build --release` (workspace release profile: fat LTO, one codegen unit, panic = abort), dynamic glibc, default tokio runtime (one worker per CPU), on 127.0.0.1 beside the load generator. Body: `examples/event.json` (30 features) to the example model.\n",
        command_line("loadbench", args)
    );
    let _ = writeln!(
        out,
        "**Fixed concurrency** (wrk, 1 thread, {c} connections, {d} s, median of {} rounds):\n",
        opts.rounds
    );
    let _ = writeln!(out, "{HEADER}");
    row(&mut out, LABELS[0], &closed[0], None);
    row(&mut out, LABELS[1], &closed[1], Some(&closed[0]));
    row(&mut out, LABELS[2], &closed[2], Some(&closed[0]));
    let _ = writeln!(out, "\n**Fixed rate** (oha `-q {rate:.0} --latency-correction`, {c} connections, {d} s; latency from each request's scheduled send time):\n");
    let _ = writeln!(out, "{HEADER}");
    row(&mut out, "floor (hello-world axum)", &floor_rate, None);
    row(&mut out, "POST /predict", &predict_rate, Some(&floor_rate));
    let _ = writeln!(out, "\n**2x overload** (`--max-concurrency {limit}`; oha, {c} connections, {d} s; latency percentiles of the admitted requests, the 200 answers, from oha's per-request database; the first row closed loop, the others open loop with latency correction):\n");
    let _ = writeln!(out, "{HEADER}");
    row(
        &mut out,
        &format!("batch of {BATCH}, closed loop at {limit} connections (its capacity)"),
        &batch_sat,
        None,
    );
    row(
        &mut out,
        &format!("batch of {BATCH} at 2x capacity ({batch_rate:.0}/s)"),
        &batch_over,
        None,
    );
    row(
        &mut out,
        &format!("POST /predict at 2x its throughput ({single_rate:.0}/s)"),
        &single_over,
        None,
    );
    let (lo, hi) = (
        samples.iter().copied().min().unwrap_or(0),
        samples.iter().copied().max().unwrap_or(0),
    );
    let _ = writeln!(out, "\n**Soak**: POST /predict at {rate:.0} req/s for {} s (oha, {c} connections): {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, {} 2xx, {} errors. Server RSS: {} kB after the runs above, {} to {} kB over {} one-second samples, {} kB at the end.",
        opts.soak, soak.rps, soak.p50_ms, soak.p99_ms, soak.p999_ms, soak.ok, soak.errors + soak.shed,
        rss_start, lo, hi, samples.len(), rss_end);
    println!();
    publish("loadbench", &out, &target_root().join("loadbench.md"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = Options::parse(&["--soak".into(), "300".into()]).unwrap();
        assert_eq!(
            (o.duration, o.rounds, o.connections, o.soak),
            (10, 2, 64, 300)
        );
        assert!(Options::parse(&["--soak".into()]).is_err());
        assert!(Options::parse(&["--nope".into()]).is_err());
    }

    #[test]
    fn median_of_runs() {
        let s = |rps| Stats {
            rps,
            ..Stats::default()
        };
        assert_eq!(median_run(&[s(3.0), s(1.0), s(2.0)]).rps, 2.0);
    }
}
