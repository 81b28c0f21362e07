//! Every invocation gets exactly one answer under a 512 MiB address-space cap (a 512 MB
//! function), whatever the event: the real `bootstrap` runs against the local fake Runtime
//! API under `ulimit -v`, and hostile events (millions of instances, answers far over the
//! 6 MB response limit, direct and HTTP-shaped) are followed by a normal one.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use icebreak_fake_runtime::{AnswerKind, FakeRuntime};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

fn example_event() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/event.json"
    ))
    .unwrap()
}

fn http(body: &str) -> Vec<u8> {
    json!({
        "version": "2.0", "rawPath": "/predict",
        "requestContext": {"http": {"method": "POST", "path": "/predict"}},
        "headers": {"content-type": "application/json"},
        "body": body, "isBase64Encoded": false,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn every_invocation_gets_exactly_one_answer_under_512_mib() {
    let fake = FakeRuntime::start().unwrap();
    // 6 MB of bare numbers: three million instances, each of which would be an error item.
    let flood = {
        let mut e = b"{\"instances\":[1".to_vec();
        while e.len() < 6 * 1024 * 1024 - 4 {
            e.extend_from_slice(b",1");
        }
        e.extend_from_slice(b"]}");
        e
    };
    // Under the instance limit, but every item is an error of ~90 bytes: ~9 MB of answer.
    let errors = format!(
        "{{\"instances\":[{}]}}",
        vec![r#"{"features":[1]}"#; 99_000].join(",")
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("flood", flood),
        ("errors", errors.clone().into_bytes()),
        ("http-errors", http(&errors)),
        ("after", example_event()),
    ];
    for (id, event) in &cases {
        fake.invoke(id, event.clone());
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 524288 && exec \"$0\"")
        .arg(env!("CARGO_BIN_EXE_bootstrap"))
        .env("AWS_LAMBDA_RUNTIME_API", fake.address())
        .env("ICEBREAK_MAX_BODY_BYTES", (8 << 20).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    fake.wait_answers(cases.len(), Duration::from_secs(60));
    // Room for a duplicate answer to arrive, if one were sent.
    std::thread::sleep(Duration::from_millis(200));
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(alive, "the bootstrap died: {:?}\n{log}", out.status);
    let answers = fake.wait_answers(cases.len() + 1, Duration::ZERO);
    let ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    assert_eq!(ids, ["flood", "errors", "http-errors", "after"], "{log}");

    let kind = |i: usize| answers[i].kind.clone();
    let body = |i: usize| serde_json::from_slice::<Value>(&answers[i].body).unwrap();
    assert_eq!(kind(0), AnswerKind::Error(Some("InvalidInput".into())));
    assert!(
        body(0)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("more than 100000 items"),
        "{}",
        body(0)
    );
    assert_eq!(kind(1), AnswerKind::Error(Some("ResponseTooLarge".into())));
    assert_eq!(kind(2), AnswerKind::Response);
    assert_eq!(body(2)["statusCode"], 413);
    assert_eq!(kind(3), AnswerKind::Response);
    assert!(body(3)["prediction"].is_string());
}
