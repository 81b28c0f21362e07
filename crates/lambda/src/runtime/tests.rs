//! The runtime loop against a local fake Runtime API: every invocation gets exactly one
//! answer, bad input is a function error and the loop goes on, a misbehaving Runtime API
//! ends the loop promptly with an explanation.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use super::{serve, serve_one};
use crate::prefetch::{self, PageIn};
use crate::transport::{Client, Endpoint, RuntimeError, MAX_RESPONSE};
use crate::{ErrorKind, LambdaHandler, LambdaRequest};
use icebreak_fake_runtime::{AnswerKind, FakeRuntime, Invocation, Next};
use serde_json::Value;
use std::time::Duration;

static MODEL: &[u8] = icebreak_format::include_model!("../../../../examples/model.apr");
const WAIT: Duration = Duration::from_secs(10);

fn setup() -> (FakeRuntime, LambdaHandler, Client) {
    let fake = FakeRuntime::start().unwrap();
    let handler = LambdaHandler::from_bytes(MODEL).unwrap();
    let client = Client::new(Endpoint::parse(&fake.address()).unwrap());
    (fake, handler, client)
}

fn example(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The label scikit-learn predicted for the first test row (`examples/event.json`).
fn expected_first_label() -> Value {
    let r = json(
        &std::fs::read(format!(
            "{}/../../fixtures/linear/breast_cancer/reference.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    );
    r["predict"][0].clone()
}

#[test]
fn answers_valid_then_invalid_then_valid_exactly_once_each() {
    let (fake, handler, mut client) = setup();
    fake.invoke("r1", example("event.json"));
    fake.invoke("r2", example("bad-event.json"));
    fake.invoke("r3", b"this is not json".to_vec());
    fake.invoke("r4", example("event.json"));
    for _ in 0..4 {
        serve_one(&handler, &mut client, false, None).unwrap();
    }
    let answers = fake.wait_answers(4, WAIT);
    assert_eq!(answers.len(), 4);
    let ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r2", "r3", "r4"]);

    assert_eq!(answers[0].kind, AnswerKind::Response);
    let first = json(&answers[0].body);
    assert_eq!(first["prediction"], expected_first_label());
    assert_eq!(first["cold_start"], true);
    assert_eq!(first["model_version"], "breast_cancer-1");
    let p = first["probabilities"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert!((p[0].as_f64().unwrap() + p[1].as_f64().unwrap() - 1.0).abs() < 1e-6);

    assert_eq!(
        answers[1].kind,
        AnswerKind::Error(Some("InvalidInput".into()))
    );
    let e = json(&answers[1].body);
    assert_eq!(e["errorType"], "InvalidInput");
    assert_eq!(e["errorMessage"], "expected 30 features, got 3");

    assert_eq!(
        answers[2].kind,
        AnswerKind::Error(Some("InvalidEvent".into()))
    );
    assert!(json(&answers[2].body)["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));

    assert_eq!(json(&answers[3].body)["cold_start"], false);
    let m = handler.cold_start_metrics().unwrap();
    assert!(m.total_cold_start_ms >= m.first_inference_ms);
    assert!(m.init_duration_ms >= 0.0 && m.model_load_ms >= 0.0);
}

#[test]
fn batch_answers_each_instance() {
    let (fake, handler, mut client) = setup();
    fake.invoke("b1", example("batch-event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    let a = &fake.wait_answers(1, WAIT)[0];
    assert_eq!(a.kind, AnswerKind::Response);
    let body = json(&a.body);
    let items = body["predictions"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["prediction"], expected_first_label());
    assert!(items[1]["prediction"].is_string());
    assert_eq!(items[2]["error"]["errorType"], "InvalidInput");
    assert_eq!(
        items[2]["error"]["errorMessage"],
        "expected 30 features, got 2"
    );
}

#[test]
fn nan_inf_and_wrong_types_are_function_errors() {
    let (fake, handler, mut client) = setup();
    let mut row: Vec<Value> = json(&example("event.json"))["features"]
        .as_array()
        .unwrap()
        .clone();
    row[4] = Value::Null;
    fake.invoke(
        "nan",
        serde_json::to_vec(&serde_json::json!({ "features": row })).unwrap(),
    );
    row[4] = serde_json::json!(1e300);
    fake.invoke(
        "inf",
        serde_json::to_vec(&serde_json::json!({ "features": row })).unwrap(),
    );
    row[4] = serde_json::json!("12");
    fake.invoke(
        "str",
        serde_json::to_vec(&serde_json::json!({ "features": row })).unwrap(),
    );
    fake.invoke("empty", br#"{"features": []}"#.to_vec());
    fake.invoke("neither", br#"{"foo": 1}"#.to_vec());
    for _ in 0..5 {
        serve_one(&handler, &mut client, false, None).unwrap();
    }
    let answers = fake.wait_answers(5, WAIT);
    let msgs: Vec<String> = answers
        .iter()
        .map(|a| json(&a.body)["errorMessage"].as_str().unwrap().to_owned())
        .collect();
    assert!(answers
        .iter()
        .all(|a| matches!(a.kind, AnswerKind::Error(_))));
    assert!(msgs[0].contains("feature 4 is missing"), "{}", msgs[0]);
    assert!(msgs[1].contains("feature 4 is infinite"), "{}", msgs[1]);
    // A string is a category: refused by a model whose feature takes a number.
    assert!(msgs[2].contains("feature 4 is a string"), "{}", msgs[2]);
    assert!(msgs[3].contains("empty"), "{}", msgs[3]);
    assert!(msgs[4].contains("expected {\"features\""), "{}", msgs[4]);
}

#[test]
fn trace_id_is_kept_per_thread_and_odd_deadlines_are_tolerated() {
    let (fake, handler, mut client) = setup();
    fake.push(Next::Invoke(Invocation {
        request_id: Some("t1".into()),
        body: example("event.json"),
        deadline_ms: Some("not-a-number".into()),
        trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()),
    }));
    serve_one(&handler, &mut client, false, None).unwrap();
    assert_eq!(
        super::trace_id().as_deref(),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    );
    // Not exported to the process-wide environment, and not visible on another thread.
    assert!(std::env::var_os("_X_AMZN_TRACE_ID").is_none());
    assert_eq!(std::thread::spawn(super::trace_id).join().unwrap(), None);
    assert_eq!(fake.wait_answers(1, WAIT)[0].kind, AnswerKind::Response);
    // The next invocation's (absent) trace id replaces it.
    fake.push(Next::Invoke(Invocation {
        request_id: Some("t2".into()),
        body: example("event.json"),
        deadline_ms: None,
        trace_id: None,
    }));
    serve_one(&handler, &mut client, false, None).unwrap();
    assert_eq!(super::trace_id(), None);
}

#[test]
fn status_500_on_next_ends_the_loop() {
    let (fake, handler, mut client) = setup();
    fake.invoke("ok", example("event.json"));
    fake.push(Next::Status(500));
    let err = serve(&handler, &mut client, None);
    assert!(
        matches!(
            err,
            RuntimeError::Status {
                endpoint: "next",
                status: 500
            }
        ),
        "{err}"
    );
    assert_eq!(fake.wait_answers(1, WAIT).len(), 1);
}

#[test]
fn status_500_on_response_ends_the_loop() {
    let (fake, handler, mut client) = setup();
    fake.invoke("x", example("event.json"));
    fake.answer_next_with(500);
    let err = serve_one(&handler, &mut client, false, None).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Status {
                endpoint: "response",
                status: 500
            }
        ),
        "{err}"
    );
}

#[test]
fn response_refused_as_too_large_becomes_an_error() {
    let (fake, handler, mut client) = setup();
    fake.invoke("big", example("event.json"));
    fake.answer_next_with(413);
    serve_one(&handler, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    assert_eq!(answers.len(), 2);
    assert_eq!(
        answers[1].kind,
        AnswerKind::Error(Some("ResponseTooLarge".into()))
    );
}

#[test]
fn oversized_answer_is_an_error_not_a_truncated_body() {
    let (fake, _handler, mut client) = setup();
    client
        .respond("huge", vec![b' '; MAX_RESPONSE + 1])
        .unwrap();
    let a = &fake.wait_answers(1, WAIT)[0];
    assert_eq!(a.kind, AnswerKind::Error(Some("ResponseTooLarge".into())));
}

#[test]
fn missing_request_id_ends_the_loop_with_an_explanation() {
    let (fake, handler, mut client) = setup();
    fake.push(Next::Invoke(Invocation {
        request_id: None,
        body: b"{}".to_vec(),
        deadline_ms: None,
        trace_id: None,
    }));
    let err = serve_one(&handler, &mut client, false, None).unwrap_err();
    assert!(matches!(err, RuntimeError::MissingRequestId));
    assert!(err.to_string().contains("Lambda-Runtime-Aws-Request-Id"));
}

#[test]
fn a_closed_connection_and_garbage_are_errors_not_hangs() {
    let (fake, handler, mut client) = setup();
    fake.push(Next::Close);
    fake.push(Next::Close);
    let err = serve_one(&handler, &mut client, false, None).unwrap_err();
    assert!(matches!(err, RuntimeError::Http(_)), "{err}");
    fake.push(Next::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort".to_vec(),
    ));
    fake.push(Next::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort".to_vec(),
    ));
    let err = serve_one(&handler, &mut client, false, None).unwrap_err();
    assert!(matches!(err, RuntimeError::Http(_)), "{err}");
}

#[test]
fn broken_model_is_reported_to_init_error() {
    let (fake, _handler, mut client) = setup();
    let mut bytes = MODEL.to_vec();
    bytes[0] = b'X';
    let err = LambdaHandler::from_bytes(Box::leak(bytes.into_boxed_slice())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    client.init_error(&err).unwrap();
    let a = &fake.wait_answers(1, WAIT)[0];
    assert_eq!(a.kind, AnswerKind::InitError(Some("InvalidModel".into())));
    assert!(json(&a.body)["errorMessage"]
        .as_str()
        .unwrap()
        .contains("bad magic"));
}

#[test]
fn prefixed_endpoint_like_cargo_lambda() {
    // cargo-lambda gives `http://127.0.0.1:PORT/.rt`; the fake serves any prefix.
    let fake = FakeRuntime::start().unwrap();
    let handler = LambdaHandler::from_bytes(MODEL).unwrap();
    let mut client =
        Client::new(Endpoint::parse(&format!("http://{}/.rt", fake.address())).unwrap());
    fake.invoke("p1", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    assert_eq!(fake.wait_answers(1, WAIT)[0].kind, AnswerKind::Response);
}

#[test]
fn handler_creation_builds_no_model_and_unaligned_bytes_work() {
    let handler = LambdaHandler::from_bytes(MODEL).unwrap();
    assert!(!handler.is_model_loaded());
    assert!(handler.cold_start_metrics().is_none());
    // Misalign on purpose: one copy, same answers.
    let mut v = vec![0u8; MODEL.len() + 1];
    v[1..].copy_from_slice(MODEL);
    let unaligned: &'static [u8] = &Box::leak(v.into_boxed_slice())[1..];
    let h2 = LambdaHandler::from_bytes(unaligned).unwrap();
    let row = json(&example("event.json"))["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let req = LambdaRequest::new(row);
    assert_eq!(
        handler.handle(&req).unwrap().response.prediction,
        h2.handle(&req).unwrap().response.prediction
    );
    assert!(handler.is_model_loaded());
}

#[test]
fn payload_at_the_6mb_limit_is_answered() {
    let (fake, handler, mut client) = setup();
    let row = json(&example("event.json"))["features"].clone();
    let one = serde_json::to_string(&serde_json::json!({ "features": row })).unwrap();
    let n = (6 * 1024 * 1024 - 20) / (one.len() + 1);
    let body = format!("{{\"instances\":[{}]}}", vec![one.as_str(); n].join(","));
    assert!(
        body.len() <= 6 * 1024 * 1024 && body.len() > 6 * 1024 * 1024 - 1024,
        "{}",
        body.len()
    );
    fake.invoke("big", body.into_bytes());
    serve_one(&handler, &mut client, false, None).unwrap();
    let a = &fake.wait_answers(1, WAIT)[0];
    assert_eq!(a.kind, AnswerKind::Response);
    let v = json(&a.body);
    let items = v["predictions"].as_array().unwrap();
    assert_eq!(items.len(), n);
    let label = expected_first_label();
    assert!(items.iter().all(|i| i["prediction"] == label));
}

#[test]
fn deadline_already_past_still_gets_exactly_one_answer() {
    let (fake, handler, mut client) = setup();
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 5_000;
    fake.push(Next::Invoke(Invocation {
        request_id: Some("late".into()),
        body: example("event.json"),
        deadline_ms: Some(past.to_string()),
        trace_id: None,
    }));
    fake.invoke("after", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    serve_one(&handler, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    let ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    assert_eq!(ids, ["late", "after"]);
    assert!(answers.iter().all(|a| a.kind == AnswerKind::Response));
}

/// Regression: a response cut off mid-body on a kept-alive connection must not make the
/// client send the request again (that would take a second invocation off the queue).
#[test]
fn a_response_cut_off_mid_body_is_not_retried() {
    let (fake, handler, mut client) = setup();
    fake.invoke("first", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    fake.push(Next::Raw(
        b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: cut\r\nContent-Length: 99\r\n\r\nshort"
            .to_vec(),
    ));
    fake.invoke("kept", example("event.json"));
    let err = serve_one(&handler, &mut client, false, None).unwrap_err();
    assert!(matches!(err, RuntimeError::Http(_)), "{err}");
    assert_eq!(fake.next_calls(), 2, "the cut-off /next was sent again");
    // The queued invocation is still there for the next call.
    serve_one(&handler, &mut client, false, None).unwrap();
    let ids: Vec<String> = fake
        .wait_answers(2, WAIT)
        .iter()
        .map(|a| a.request_id.clone())
        .collect();
    assert_eq!(ids, ["first", "kept"]);
}

/// Regression: a first invocation that fails still is the cold one: it is reported once, and
/// the next invocation is warm.
#[test]
fn a_failed_first_invocation_is_still_the_cold_start() {
    let (fake, handler, mut client) = setup();
    fake.invoke("bad", example("bad-event.json"));
    fake.invoke("good", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    let m = handler
        .cold_start_metrics()
        .expect("cold start recorded on a failed first invocation");
    assert!(m.total_cold_start_ms >= m.init_duration_ms);
    serve_one(&handler, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    assert_eq!(
        answers[0].kind,
        AnswerKind::Error(Some("InvalidInput".into()))
    );
    assert_eq!(json(&answers[1].body)["cold_start"], false);
    assert_eq!(handler.cold_start_metrics(), Some(m));
}

#[test]
fn an_idle_connection_closed_by_the_peer_is_reopened() {
    // The fake closes the connection after handing out `Close`; the client's next request
    // goes out on a new connection and nothing is lost.
    let (fake, handler, mut client) = setup();
    fake.invoke("a", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    fake.push(Next::Close);
    fake.invoke("b", example("event.json"));
    serve_one(&handler, &mut client, false, None).unwrap();
    let ids: Vec<String> = fake
        .wait_answers(2, WAIT)
        .iter()
        .map(|a| a.request_id.clone())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

/// Regression: a Runtime API that closes the kept-alive connection after reading a POST may
/// have received it; the client must not post the answer twice, and exits with an
/// explanation instead.
#[test]
fn an_answer_whose_connection_closes_after_the_post_is_not_sent_twice() {
    for event in [example("event.json"), example("bad-event.json")] {
        let (fake, handler, mut client) = setup();
        fake.invoke("warm", example("event.json"));
        serve_one(&handler, &mut client, false, None).unwrap();
        fake.close_after_next_answer();
        fake.invoke("once", event);
        let err = serve_one(&handler, &mut client, false, None).unwrap_err();
        assert!(matches!(err, RuntimeError::Unconfirmed { .. }), "{err}");
        assert!(err.to_string().contains("not sent twice"), "{err}");
        // Give a second POST the time to arrive, if one were sent.
        let answers = fake.wait_answers(3, Duration::from_millis(300));
        let ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
        assert_eq!(ids, ["warm", "once"], "the answer was posted {ids:?}");
    }
}

/// A batch whose answer cannot fit the 6 MB response limit gets one `ResponseTooLarge`
/// error; HTTP-shaped, it gets an HTTP-shaped 413, never a function error.
#[test]
fn a_batch_whose_answer_is_too_large_gets_exactly_one_small_answer() {
    let (fake, handler, mut client) = setup();
    // 90,000 instances of one feature (the model takes 30): each gets an error item of ~90
    // bytes, over 6 MB in all, from a 1.5 MB event.
    let batch = format!(
        "{{\"instances\":[{}]}}",
        vec![r#"{"features":[1]}"#; 90_000].join(",")
    );
    let http = serde_json::json!({
        "version": "2.0", "rawPath": "/predict",
        "requestContext": {"http": {"method": "POST", "path": "/predict"}},
        "headers": {"content-type": "application/json"},
        "body": batch, "isBase64Encoded": false,
    })
    .to_string();
    std::env::set_var("ICEBREAK_MAX_BODY_BYTES", "100000000");
    let handler_http = LambdaHandler::from_bytes(MODEL).unwrap();
    fake.invoke("direct", batch.clone().into_bytes());
    serve_one(&handler, &mut client, false, None).unwrap();
    fake.invoke("http", http.into_bytes());
    serve_one(&handler_http, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    assert_eq!(answers.len(), 2);
    assert_eq!(
        answers[0].kind,
        AnswerKind::Error(Some("ResponseTooLarge".into()))
    );
    assert!(answers[0].body.len() < 1024);
    assert_eq!(answers[1].kind, AnswerKind::Response);
    let r = json(&answers[1].body);
    assert_eq!(r["statusCode"], 413, "{r}");
    let body = json(r["body"].as_str().unwrap().as_bytes());
    assert_eq!(body["errorType"], "ResponseTooLarge");
}

#[test]
fn concurrency_comes_from_the_environment_value() {
    use super::concurrency;
    assert_eq!(concurrency(None), 1);
    assert_eq!(concurrency(Some("")), 1);
    assert_eq!(concurrency(Some("0")), 1);
    assert_eq!(concurrency(Some("x")), 1);
    assert_eq!(concurrency(Some("8")), 8);
    assert_eq!(concurrency(Some(" 4 ")), 4);
    assert_eq!(concurrency(Some("1000000")), 1024);
}

/// Lambda Managed Instances: 4 loops hold 4 connections blocked in `/next` at once, and 40
/// invocations handed out to them concurrently get exactly one answer each, the right one.
#[test]
fn concurrent_loops_answer_each_invocation_exactly_once() {
    let fake = FakeRuntime::start().unwrap();
    let handler: &'static LambdaHandler =
        Box::leak(Box::new(LambdaHandler::from_bytes(MODEL).unwrap()));
    let ep = Endpoint::parse(&fake.address()).unwrap();
    std::thread::spawn(move || super::serve_concurrently(handler, &ep, 4));
    // Four loops, each waiting on its own connection before any invocation exists.
    assert!(
        fake.wait_next_calls(4, WAIT),
        "{} /next calls",
        fake.next_calls()
    );
    let event = example("event.json");
    let bad = example("bad-event.json");
    for i in 0..40 {
        let body = if i % 5 == 4 {
            bad.clone()
        } else {
            event.clone()
        };
        fake.invoke(&format!("c{i}"), body);
    }
    let answers = fake.wait_answers(40, WAIT);
    assert_eq!(answers.len(), 40);
    let mut ids: Vec<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "an invocation was answered twice");
    for a in &answers {
        let i: usize = a.request_id[1..].parse().unwrap();
        if i % 5 == 4 {
            assert_eq!(
                a.kind,
                AnswerKind::Error(Some("InvalidInput".into())),
                "{}",
                a.text()
            );
        } else {
            assert_eq!(a.kind, AnswerKind::Response, "{}", a.text());
            assert_eq!(json(&a.body)["prediction"], expected_first_label());
        }
    }
    // No more answers than invocations.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fake.wait_answers(41, Duration::ZERO).len(), 40);
}

/// Throughput of 1, 2, 4 and 8 concurrent loops against the local Runtime API (which costs
/// as much as the runtime: one thread per connection, one lock). Ignored: a measurement, run
/// with `cargo nextest run --release -p icebreak-lambda --run-ignored ignored-only
/// --no-capture throughput` (docs/BENCHMARKS.md).
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_by_concurrency() {
    const N: usize = 20_000;
    let handler: &'static LambdaHandler =
        Box::leak(Box::new(LambdaHandler::from_bytes(MODEL).unwrap()));
    let event = example("event.json");
    println!("| loops | invocations | seconds | invocations/s |");
    println!("|--:|--:|--:|--:|");
    for n in [1, 2, 4, 8] {
        let fake = FakeRuntime::start().unwrap();
        for i in 0..N {
            fake.invoke(&format!("t{i}"), event.clone());
        }
        let ep = Endpoint::parse(&fake.address()).unwrap();
        let t0 = std::time::Instant::now();
        std::thread::spawn(move || super::serve_concurrently(handler, &ep, n));
        let answers = fake.wait_answers(N, Duration::from_secs(300));
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(answers.len(), N);
        println!("| {n} | {N} | {secs:.3} | {:.0} |", N as f64 / secs);
    }
}

/// Bytes standing in for a large compiled-in model: paging in only reads them.
fn large_model() -> &'static [u8] {
    Vec::leak((0..4 * 1024 * 1024).map(|i| (i % 253) as u8).collect())
}

#[test]
fn the_model_is_paged_in_while_the_first_next_waits_and_the_answer_is_unchanged() {
    if !prefetch::enabled(std::env::var(prefetch::ENV).ok().as_deref()) {
        return;
    }
    let (fake, handler, mut client) = setup();
    let model = large_model();
    let copy = model.to_vec();
    let mut page_in = PageIn::new(model).unwrap();
    std::thread::scope(|s| {
        // The event arrives long after the 4 MB could be mapped.
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            fake.invoke("r1", example("event.json"));
        });
        serve_one(&handler, &mut client, true, Some(&mut page_in)).unwrap();
    });
    assert_eq!(page_in.mapped(), model.len(), "paged in while waiting");
    assert_eq!(model, &copy[..]);
    let answers = fake.wait_answers(1, WAIT);
    assert_eq!(answers[0].kind, AnswerKind::Response);
    assert_eq!(json(&answers[0].body)["prediction"], expected_first_label());
}

#[test]
fn an_event_already_queued_is_answered_without_waiting_for_the_page_in() {
    let (fake, handler, mut client) = setup();
    fake.invoke("r1", example("event.json"));
    fake.invoke("r2", example("event.json"));
    // Both answers are the same with and without paging in.
    let mut page_in = PageIn::new(large_model());
    serve_one(&handler, &mut client, true, page_in.as_mut()).unwrap();
    serve_one(&handler, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    assert_eq!(answers.len(), 2);
    for a in &answers {
        assert_eq!(a.kind, AnswerKind::Response);
        assert_eq!(json(&a.body)["prediction"], expected_first_label());
    }
}

#[test]
fn the_first_next_wait_prepares_the_handler_and_the_first_answer_is_unchanged() {
    let (fake, handler, mut client) = setup();
    assert!(!handler.is_model_loaded());
    std::thread::scope(|s| {
        s.spawn(|| {
            // Long after the request was written: the handler is prepared by now, and it
            // has answered nothing yet.
            std::thread::sleep(Duration::from_millis(300));
            assert!(handler.is_model_loaded(), "prepared while waiting");
            assert!(handler.cold_start_metrics().is_none());
            fake.invoke("r1", example("event.json"));
        });
        serve_one(&handler, &mut client, true, None).unwrap();
    });
    let answers = fake.wait_answers(1, WAIT);
    assert_eq!(answers[0].request_id, "r1");
    assert_eq!(answers[0].kind, AnswerKind::Response);
    let body = json(&answers[0].body);
    assert_eq!(body["prediction"], expected_first_label());
    assert_eq!(
        body["cold_start"], true,
        "the first answer is still the cold one"
    );
    assert!(handler.cold_start_metrics().is_some());
}

#[test]
fn a_bad_first_event_after_preparing_is_its_own_error_and_the_next_is_answered() {
    let (fake, handler, mut client) = setup();
    fake.invoke("bad", example("bad-event.json"));
    fake.invoke("good", example("event.json"));
    serve_one(&handler, &mut client, true, None).unwrap();
    serve_one(&handler, &mut client, false, None).unwrap();
    let answers = fake.wait_answers(2, WAIT);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].request_id, "bad");
    assert!(
        matches!(answers[0].kind, AnswerKind::Error(_)),
        "{:?}",
        answers[0].kind
    );
    assert_eq!(answers[1].request_id, "good");
    assert_eq!(answers[1].kind, AnswerKind::Response);
    let body = json(&answers[1].body);
    assert_eq!(body["prediction"], expected_first_label());
    assert_eq!(body["cold_start"], false);
}
