//! `cargo xtask demo`: the release `bootstrap` (example model compiled in) against a local
//! Runtime API — a cold invocation, a warm batch with one bad row, and an invalid event.
//!
//! Needs only the Rust toolchain. It builds like the cold-start harness does (static glibc
//! on Linux/gnu, falling back to dynamic linking when the static C library is missing),
//! passes the bootstrap's own output through (its cold-start breakdown line among it),
//! prints each request and answer, and stops the bootstrap at the end.

use anyhow::{bail, ensure, Context, Result};
use icebreak_bench_support::build::{build_linked, host_triple, Linking};
use icebreak_bench_support::process::{lambda_command, wait_answer, Running, TIMEOUT};
use icebreak_fake_runtime::{Answer, AnswerKind, FakeRuntime};
use serde_json::Value;
use std::process::Stdio;
use std::time::Instant;

/// One invocation of the demo.
struct Step {
    /// What it shows.
    title: &'static str,
    /// The event, under the workspace root.
    event: &'static str,
    /// Checks the answer; the demo fails loudly if it is not what the README promises.
    check: fn(&Answer, &Value) -> Result<()>,
}

const STEPS: [Step; 3] = [
    Step {
        title: "cold start: the process was started with this invocation already queued",
        event: "examples/event.json",
        check: |a, json| {
            ensure!(a.kind == AnswerKind::Response, "expected a response");
            ensure!(json.get("prediction").is_some(), "no prediction");
            ensure!(json["cold_start"] == true, "cold_start is not true");
            Ok(())
        },
    },
    Step {
        title: "warm: a batch, one row of which has the wrong number of features",
        event: "examples/batch-event.json",
        check: |a, json| {
            ensure!(a.kind == AnswerKind::Response, "expected a response");
            let items = json["predictions"].as_array().context("no predictions")?;
            ensure!(items.len() == 3, "expected 3 items, got {}", items.len());
            ensure!(
                items[..2].iter().all(|i| i.get("prediction").is_some())
                    && items[2].get("error").is_some(),
                "expected two predictions and one error item"
            );
            ensure!(json["cold_start"] == false, "cold_start is not false");
            Ok(())
        },
    },
    Step {
        title: "invalid: too few features — a function error, and the process keeps serving",
        event: "examples/bad-event.json",
        check: |a, json| {
            ensure!(
                matches!(a.kind, AnswerKind::Error(_)),
                "expected a function error"
            );
            ensure!(json.get("errorType").is_some(), "no errorType");
            Ok(())
        },
    },
];

/// `cargo xtask demo [--static|--dynamic]`.
pub fn run(args: &[String]) -> Result<()> {
    let requested = match args.first().map(String::as_str) {
        None => None,
        Some("--static") => Some(Linking::Static),
        Some("--dynamic") => Some(Linking::Dynamic),
        Some("-h" | "--help") => {
            println!("usage: cargo xtask demo [--static|--dynamic]\n\nBuilds the release bootstrap with the example model (static glibc by default on Linux/gnu),\nruns it against a local Runtime API and shows a cold and two warm invocations.");
            return Ok(());
        }
        Some(other) => {
            bail!("unknown argument {other:?}; usage: cargo xtask demo [--static|--dynamic]")
        }
    };
    let triple = host_triple()?;
    let mut linking = requested.unwrap_or_else(Linking::default_for_host);
    eprintln!(
        "demo: building the release bootstrap ({} linking)",
        linking.name()
    );
    let bootstrap = match build_linked(linking, &triple, "icebreak-bootstrap", "bootstrap") {
        Ok(path) => path,
        Err(e) if requested.is_none() && linking == Linking::Static => {
            eprintln!(
                "demo: the static build failed ({e:#}); is the static C library (glibc-static) \
                 installed? Using dynamic linking instead."
            );
            linking = Linking::Dynamic;
            build_linked(linking, &triple, "icebreak-bootstrap", "bootstrap")?
        }
        Err(e) => return Err(e),
    };
    let size = std::fs::metadata(&bootstrap)?.len();

    let root = icebreak_bench_support::root();
    let events = STEPS
        .iter()
        .map(|s| {
            let path = root.join(s.event);
            std::fs::read(&path).with_context(|| path.display().to_string())
        })
        .collect::<Result<Vec<_>>>()?;

    let rt = FakeRuntime::start().context("starting the fake Runtime API")?;
    println!(
        "\nicebreak demo: bootstrap ({} linking, {size} bytes, example model compiled in) \
         against a local Runtime API at {}\n",
        linking.name(),
        rt.address()
    );
    let mut child = None;
    for (n, (step, event)) in STEPS.iter().zip(&events).enumerate() {
        let id = format!("demo-{}", n + 1);
        println!("── invocation {id} — {}", step.title);
        println!("request ({}):\n{}", step.event, pretty(event));
        // Cold: queued before exec, timed from exec. Warm: timed from queueing.
        let (t0, running) = match &mut child {
            Some(running) => {
                let t0 = Instant::now();
                rt.invoke(&id, event.clone());
                (t0, running)
            }
            None => {
                rt.invoke(&id, event.clone());
                let mut cmd = lambda_command(&bootstrap, &rt.address());
                cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
                let t0 = Instant::now();
                (t0, child.insert(Running::spawn(&mut cmd, None)?))
            }
        };
        let answer = wait_answer(&rt, n + 1, running, &id)?;
        let elapsed = answer.at.saturating_duration_since(t0);
        // The bootstrap logs after answering (its cold-start line among it); once it is back
        // on `/next` its lines are out, so they print above the answer rather than into it.
        if !rt.wait_next_calls(n + 2, TIMEOUT) {
            bail!(
                "{id}: the bootstrap did not come back to /next ({})",
                running.stop()
            );
        }
        let kind = match &answer.kind {
            AnswerKind::Response => "response".to_owned(),
            AnswerKind::Error(t) => format!("error, {}", t.as_deref().unwrap_or("no type")),
            AnswerKind::InitError(t) => {
                format!("init error, {}", t.as_deref().unwrap_or("no type"))
            }
        };
        println!("answer ({kind}):\n{}", pretty(&answer.body));
        if n == 0 {
            println!("exec -> response: {:.3} ms\n", elapsed.as_secs_f64() * 1e3);
        } else {
            println!("round trip: {:.1} µs\n", elapsed.as_secs_f64() * 1e6);
        }
        ensure!(
            answer.request_id == id,
            "answer to {:?}, expected {id}",
            answer.request_id
        );
        let json: Value = serde_json::from_slice(&answer.body)
            .with_context(|| format!("{id}: the answer is not JSON"))?;
        (step.check)(&answer, &json).with_context(|| format!("{id}: unexpected answer"))?;
    }
    drop(child);
    println!("demo: stopped the bootstrap; all three answers were as expected");
    Ok(())
}

/// The JSON pretty-printed, with arrays of numbers or strings kept on one line; the bytes
/// as text if they are not JSON.
fn pretty(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => {
            let mut out = String::new();
            write_pretty(&mut out, &v, 0);
            out
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn write_pretty(out: &mut String, v: &Value, depth: usize) {
    let pad = |out: &mut String, d: usize| out.extend(std::iter::repeat_n("  ", d));
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (k, v)) in map.iter().enumerate() {
                pad(out, depth + 1);
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push_str(": ");
                write_pretty(out, v, depth + 1);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push('}');
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                pad(out, depth + 1);
                write_pretty(out, item, depth + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(Value::to_string).collect();
            out.push_str(&format!("[{}]", items.join(", ")));
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
