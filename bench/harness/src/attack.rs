//! `attack` (`cargo xtask attack`): `icebreak serve`, with its default limits, attacked by
//! slow and greedy clients at once while a probe measures `GET /health`.
//!
//! Builds `icebreak` in the release profile and serves `examples/model.apr` on 127.0.0.1.
//! For `--duration` seconds, at the same time:
//! - **slowloris**: `--slow` connections each send one byte of a never-ending request head
//!   per second, reconnecting when the server closes them;
//! - **idle**: `--idle` connections that send nothing, reconnecting when closed;
//! - **answers that cannot fit**: `--bare` clients loop on `POST /predict/batch` with a
//!   body just under the 1 MiB limit made of bare numbers (`{"instances":[1,1,...]}`, each an
//!   error item: an answer of about 60 times the body);
//! - **large batches**: as many clients loop on legitimate batches near the body limit;
//! - **large single bodies**: `--padded` clients loop on `POST /predict`
//!   with a 1 MiB body (the example instance padded with whitespace);
//! - **probe**: `GET /health` on a fresh connection every 10 ms; the latency from connect to
//!   the last byte of the answer.
//!
//! The server's RSS is sampled every 50 ms from `/proc`; after the attack stops, the harness
//! waits `--settle` seconds and reads it again (memory returned after the burst). The report
//! is printed and written to `target/attack.md`.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::build_release;
use icebreak_bench_support::machine::{loadavg, machine, source_version};
use icebreak_bench_support::process::{free_port, status_kb, Running};
use icebreak_bench_support::stats::percentile_of;
use icebreak_bench_support::table::{command_line, publish};
use icebreak_bench_support::{root, target_root};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Options {
    duration: u64,
    slow: usize,
    idle: usize,
    bare: usize,
    batch: usize,
    padded: usize,
    settle: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            duration: 20,
            slow: 500,
            idle: 200,
            bare: 16,
            batch: 16,
            padded: 4,
            settle: 5,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |what: &str| -> Result<u64> {
                it.next()
                    .with_context(|| format!("{what} needs a value"))?
                    .parse()
                    .with_context(|| format!("{what} takes a number"))
            };
            match a.as_str() {
                "--duration" => o.duration = num("--duration")?.max(1),
                "--slow" => o.slow = num("--slow")? as usize,
                "--idle" => o.idle = num("--idle")? as usize,
                "--greedy" => {
                    let n = num("--greedy")? as usize;
                    (o.bare, o.batch, o.padded) = (n, n, n / 4);
                }
                "--bare" => o.bare = num("--bare")? as usize,
                "--batch" => o.batch = num("--batch")? as usize,
                "--padded" => o.padded = num("--padded")? as usize,
                "--settle" => o.settle = num("--settle")?,
                "-h" | "--help" => {
                    println!(
                        "usage: icebreak-bench attack [--duration S] [--slow N] [--idle N] [--greedy N] [--bare N] [--batch N] [--padded N] [--settle S]\n  --greedy N sets --bare N --batch N --padded N/4 (default 16)"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown option {other:?}"),
            }
        }
        Ok(o)
    }
}

/// One request on its own connection: (status, latency to the last byte).
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Result<(u16, Duration)> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_nodelay(true)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: attack\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )?;
    // The server may answer (413, 503) before taking the whole body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let took = t0.elapsed();
    let status = std::str::from_utf8(raw.get(..12).unwrap_or_default())
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no HTTP answer ({} bytes)", raw.len()))?;
    Ok((status, took))
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS").unwrap_or(0)
}

/// Statuses counted by route label.
type Tally = Arc<Mutex<BTreeMap<(&'static str, String), u64>>>;

fn count(tally: &Tally, what: &'static str, status: Result<u16>) {
    let key = match status {
        Ok(s) => s.to_string(),
        Err(_) => "no answer".to_owned(),
    };
    if let Ok(mut t) = tally.lock() {
        *t.entry((what, key)).or_default() += 1;
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let root = root();
    let icebreak = build_release("icebreak-cli", "icebreak")?;
    let dir = target_root().join("attack");
    std::fs::create_dir_all(&dir)?;
    let model = root.join("examples/model.apr");
    let event: Value = serde_json::from_slice(&std::fs::read(root.join("examples/event.json"))?)?;

    let port = free_port()?;
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut cmd = Command::new(&icebreak);
    cmd.arg("serve")
        .arg(format!("cancer={}", model.display()))
        .args(["--port", &port.to_string(), "--log-level", "warn"])
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null());
    let proc = Running::spawn(&mut cmd, None)?;
    let pid = proc.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(request(addr, "GET", "/health", b""), Ok((200, _))) {
        ensure!(Instant::now() < deadline, "icebreak serve did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The bodies.
    let limit = 1024 * 1024;
    let mut bare = b"{\"instances\":[1".to_vec();
    while bare.len() + 4 < limit {
        bare.extend_from_slice(b",1");
    }
    bare.extend_from_slice(b"]}");
    let one = serde_json::to_vec(&json!({"features": event["features"]}))?;
    let fit = (limit - 64) / (one.len() + 1);
    let batch = serde_json::to_vec(
        &json!({ "instances": vec![json!({"features": event["features"]}); fit] }),
    )?;
    ensure!(batch.len() < limit, "batch body {} bytes", batch.len());
    let mut padded = serde_json::to_vec(&event)?;
    padded.pop();
    padded.extend_from_slice(b",\"note\":\"");
    padded.resize(limit - 2, b' ');
    padded.extend_from_slice(b"\"}");
    ensure!(serde_json::from_slice::<Value>(&padded).is_ok());

    // Sanity: each kind of request gets the answer it should.
    ensure!(request(addr, "POST", "/predict", &padded)?.0 == 200);
    ensure!(request(addr, "POST", "/predict/batch", &batch)?.0 == 200);
    ensure!(request(addr, "POST", "/predict/batch", &bare)?.0 == 413);

    // A few seconds of probes alone first: the baseline.
    // (latencies of the 200s, probes that got no 200).
    let probe = |until: Instant| -> (Vec<Duration>, usize) {
        let (mut lat, mut failed) = (Vec::new(), 0);
        while Instant::now() < until {
            match request(addr, "GET", "/health", b"") {
                Ok((200, took)) => lat.push(took),
                _ => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (lat, failed)
    };
    let rss_idle = rss_kb(pid);
    let quiet = probe(Instant::now() + Duration::from_secs(3));

    let stop = Arc::new(AtomicBool::new(false));
    let tally: Tally = Arc::default();
    let reconnects = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    // Slow and idle connections: one thread drives all of them.
    {
        let (stop, reconnects) = (stop.clone(), reconnects.clone());
        let (n_slow, n_idle) = (opts.slow, opts.idle);
        threads.push(std::thread::spawn(move || {
            let open = |slow: bool| -> Option<TcpStream> {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
                s.set_nonblocking(true).ok()?;
                if slow {
                    s.write_all(b"GET /health HTTP/1.1\r\nhost: slow\r\nx-slow: ")
                        .ok()?;
                }
                Some(s)
            };
            let mut conns: Vec<(bool, Option<TcpStream>)> = (0..n_slow)
                .map(|_| (true, open(true)))
                .chain((0..n_idle).map(|_| (false, open(false))))
                .collect();
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                for (slow, c) in conns.iter_mut() {
                    let closed = match c {
                        None => true,
                        Some(s) => match s.read(&mut buf) {
                            Ok(0) => true,
                            Ok(_) => false,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                *slow && s.write_all(b"a").is_err()
                            }
                            Err(_) => true,
                        },
                    };
                    if closed {
                        reconnects.fetch_add(1, Ordering::Relaxed);
                        *c = open(*slow);
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }));
    }
    let bodies: [(&'static str, &'static str, Arc<Vec<u8>>, usize); 3] = [
        (
            "POST /predict/batch, bare numbers (1 MiB)",
            "/predict/batch",
            Arc::new(bare),
            opts.bare,
        ),
        (
            "POST /predict/batch, legitimate (1 MiB)",
            "/predict/batch",
            Arc::new(batch),
            opts.batch,
        ),
        (
            "POST /predict, padded (1 MiB)",
            "/predict",
            Arc::new(padded),
            opts.padded,
        ),
    ];
    for (what, path, body, n) in bodies.iter().cloned() {
        for _ in 0..n {
            let (stop, tally, body) = (stop.clone(), tally.clone(), body.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    count(
                        &tally,
                        what,
                        request(addr, "POST", path, &body).map(|r| r.0),
                    );
                }
            }));
        }
    }
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let t0 = Instant::now();
    let attacked = probe(t0 + Duration::from_secs(opts.duration));
    let metrics = request_text(addr, "/metrics").unwrap_or_default();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = sampler.join();
    let rss_end = rss_kb(pid);
    std::thread::sleep(Duration::from_secs(opts.settle));
    let rss_after = rss_kb(pid);
    let after = probe(Instant::now() + Duration::from_secs(2));
    drop(proc);

    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let pct = |(v, _): &(Vec<Duration>, usize)| {
        format!(
            "{} / {} / {}",
            ms(percentile_of(v, 0.50)),
            ms(percentile_of(v, 0.99)),
            ms(v.iter().copied().max().unwrap_or_default())
        )
    };
    let mut out = String::new();
    writeln!(
        out,
        "## attack: `icebreak serve` under slow clients and large bodies at once\n"
    )?;
    writeln!(
        out,
        "`{}` on {}; source {}; load average before: {}.\n",
        command_line("attack", args),
        machine(),
        source_version(&root),
        loadavg()
    )?;
    writeln!(
        out,
        "Default limits; {} s of attack: {} slowloris + {} idle connections; clients looping on 1 MiB bodies: {} of bare-number batches, {} of legitimate batches, {} of padded `/predict` bodies.\n",
        opts.duration,
        opts.slow,
        opts.idle,
        opts.bare,
        opts.batch,
        opts.padded
    )?;
    writeln!(
        out,
        "| `GET /health`, fresh connection each | answered 200 | failed | p50 / p99 / max (ms) |"
    )?;
    writeln!(out, "|---|---:|---:|---:|")?;
    for (when, p) in [
        ("before the attack", &quiet),
        ("during the attack", &attacked),
        ("after the attack", &after),
    ] {
        writeln!(out, "| {when} | {} | {} | {} |", p.0.len(), p.1, pct(p))?;
    }
    writeln!(out)?;
    writeln!(out, "| RSS | MiB |")?;
    writeln!(out, "|---|---:|")?;
    let mib = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    writeln!(out, "| idle, before | {} |", mib(rss_idle))?;
    writeln!(
        out,
        "| peak during the attack | {} |",
        mib(peak.load(Ordering::Relaxed))
    )?;
    writeln!(out, "| at the end of the attack | {} |", mib(rss_end))?;
    writeln!(out, "| {} s later | {} |\n", opts.settle, mib(rss_after))?;
    writeln!(out, "| attackers' requests | status | count |")?;
    writeln!(out, "|---|---|---:|")?;
    if let Ok(t) = tally.lock() {
        for ((what, status), n) in t.iter() {
            writeln!(out, "| {what} | {status} | {n} |")?;
        }
    }
    writeln!(
        out,
        "\nSlow and idle connections closed by the server (and reopened): {}.",
        reconnects.load(Ordering::Relaxed)
    )?;
    for line in metrics.lines().filter(|l| {
        l.starts_with("icebreak_http_connections") || l.starts_with("icebreak_http_requests_shed")
    }) {
        writeln!(out, "`{line}`  ")?;
    }
    publish("attack", &out, &target_root().join("attack.md"))
}

fn request_text(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: attack\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let o = Options::parse(&["--slow".into(), "7".into(), "--duration".into(), "3".into()])
            .unwrap();
        assert_eq!((o.slow, o.duration, o.idle, o.padded), (7, 3, 200, 4));
        let o =
            Options::parse(&["--greedy".into(), "8".into(), "--bare".into(), "0".into()]).unwrap();
        assert_eq!((o.bare, o.batch, o.padded), (0, 8, 2));
        assert!(Options::parse(&["--nope".into()]).is_err());
    }
}
