//! Every endpoint over real HTTP, every error status, shedding, timeouts, several models,
//! metrics, and a shutdown that drains an in-flight request.

use crate::common::*;
use icebreak_server::{Config, ModelSpec, Models, ServeError, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn health_ready_and_models() {
    let t = TestServer::two(Config::default());
    let r = get(t.addr, "/health");
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(t.addr, "/ready");
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"status": "ready", "models": ["cancer", "tiny"]})
        )
    );
    let r = get(t.addr, "/models");
    assert_eq!(r.status, 200);
    let models = r.json()["models"].as_array().unwrap().clone();
    assert_eq!(models.len(), 2);
    for (m, (name, path)) in models
        .into_iter()
        .zip([("cancer", cancer_path()), ("tiny", tiny_path())])
    {
        let mut m = m;
        let o = m.as_object_mut().unwrap();
        assert_eq!(o.remove("name"), Some(json!(name)));
        assert!(o.remove("load_ms").unwrap().as_f64().unwrap() > 0.0);
        assert_eq!(
            m,
            serde_json::to_value(reference(&path).describe()).unwrap()
        );
    }
}

#[test]
fn predict_answers_as_the_protocol_does() {
    let t = TestServer::cancer(Config::default());
    let r = post(t.addr, "/predict", &event());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-icebreak-model"), Some("cancer"));
    let got = r.json();
    // Lambda's `cold_start` is not part of the server's answers.
    assert!(got.get("cold_start").is_none(), "{got}");
    assert_eq!(
        stable(got),
        stable(reference_answer(&cancer_path(), &event()))
    );
    assert_eq!(
        stable(r.json())["prediction"],
        json!("malignant"),
        "the example event is a malignant tumour"
    );
    // Naming the only model is fine too; no content type is accepted, as by the handler.
    let r = send(
        t.addr,
        "POST",
        "/predict",
        "",
        &with_model_id(&event(), "cancer"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&cancer_path(), &event()))
    );
}

#[test]
fn batch_answers_item_by_item_as_the_protocol_does() {
    let t = TestServer::cancer(Config::default());
    let mut batch: Value =
        serde_json::from_slice(&std::fs::read(root().join("examples/batch-event.json")).unwrap())
            .unwrap();
    batch["instances"]
        .as_array_mut()
        .unwrap()
        .push(json!({"features": [1, 2]}));
    let body = serde_json::to_vec(&batch).unwrap();
    let r = post(t.addr, "/predict/batch", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let want = stable(reference_answer(&cancer_path(), &body));
    assert_eq!(stable(r.json()), want);
    let items = want["predictions"].as_array().unwrap();
    assert!(items[0].get("prediction").is_some());
    assert_eq!(
        items.last().unwrap()["error"]["errorType"],
        json!("InvalidInput")
    );
}

#[test]
fn batch_threads_answer_as_one_thread() {
    // 400 instances (enough for several threads of 64 rows), two of them bad.
    let one: Value =
        serde_json::from_slice(&std::fs::read(root().join("examples/batch-event.json")).unwrap())
            .unwrap();
    let src = one["instances"].as_array().unwrap();
    let mut items: Vec<Value> = (0..400).map(|i| src[i % src.len()].clone()).collect();
    items[130] = json!({"features": [1, 2]});
    items[333] = json!({"features": [1, 2]});
    let body = serde_json::to_vec(&json!({ "instances": items })).unwrap();
    let want = stable(reference_answer(&cancer_path(), &body));
    for threads in [1, 3, 8] {
        let t = TestServer::cancer(Config::default().batch_threads(threads));
        let r = post(t.addr, "/predict/batch", &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(stable(r.json()), want, "batch_threads {threads}");
    }
    assert_eq!(Config::default().batch_threads, 1);
    assert_eq!(Config::default().batch_threads(0).batch_threads, 1);
    assert_eq!(Config::default().batch_threads(1000).batch_threads, 256);
}

#[test]
fn several_models_are_chosen_by_model_id() {
    let t = TestServer::two(Config::default());
    let tiny = br#"{"features": [0.5, -1.25]}"#;
    let r = post(t.addr, "/predict", &with_model_id(tiny, "tiny"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-icebreak-model"), Some("tiny"));
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&tiny_path(), tiny))
    );
    let r = post(t.addr, "/predict", &with_model_id(&event(), "cancer"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&cancer_path(), &event()))
    );

    let r = post(t.addr, "/predict", tiny);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            error(
                "InvalidEvent",
                "\"model_id\" is required when several models are served: cancer, tiny"
            )
        )
    );
    let r = post(t.addr, "/predict", &with_model_id(tiny, "nope"));
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            error("ModelNotFound", "no model \"nope\"; models: cancer, tiny")
        )
    );
    let r = post(
        t.addr,
        "/predict/batch",
        br#"{"model_id": 7, "instances": [{"features": [1, 2]}]}"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (400, error("InvalidEvent", "\"model_id\" must be a string"))
    );
}

#[test]
fn bad_bodies_are_400_with_the_protocols_error() {
    let t = TestServer::cancer(Config::default());
    let mut null_feature: Value = serde_json::from_slice(&event()).unwrap();
    null_feature["features"][3] = Value::Null;
    let null_feature = serde_json::to_vec(&null_feature).unwrap();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: [(&str, &[u8]); 8] = [
        ("malformed JSON", b"{\"features\": [1, 2"),
        ("not JSON at all", b"\xff\xfe garbage"),
        ("wrong feature count", br#"{"features": [1, 2, 3]}"#),
        ("null where missing values are rejected", &null_feature),
        ("NaN is not JSON", b"{\"features\": [NaN]}"),
        ("a string feature", br#"{"features": ["a"]}"#),
        ("no features", br#"{"id": 1}"#),
        ("deep nesting", deep.as_bytes()),
    ];
    for (what, body) in cases {
        let r = post(t.addr, "/predict", body);
        let want = reference_answer(&cancer_path(), body);
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({"errorType": want["errorType"], "errorMessage": want["errorMessage"]}),
            "{what}"
        );
    }
    let r = post(t.addr, "/predict", br#"{"features": [1, 2, 3]}"#);
    assert_eq!(r.json()["errorType"], json!("InvalidInput"));
    let r = post(t.addr, "/predict", b"{\"features\": [1, 2");
    assert_eq!(r.json()["errorType"], json!("InvalidEvent"));

    let r = post(t.addr, "/predict", br#"{"instances": [{"features": [1]}]}"#);
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            error(
                "InvalidEvent",
                "POST /predict takes one instance, {\"features\": [...]}; send \"instances\" to POST /predict/batch"
            )
        )
    );
    let r = post(t.addr, "/predict/batch", &event());
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            error(
                "InvalidEvent",
                "POST /predict/batch takes {\"instances\": [{\"features\": [...]}, ...]}; send one instance to POST /predict"
            )
        )
    );
    let r = post(t.addr, "/predict/batch", br#"{"instances": []}"#);
    assert_eq!(
        (r.status, r.json()),
        (400, error("InvalidInput", "\"instances\" is empty"))
    );
    // No bad body took a worker down.
    assert_eq!(get(t.addr, "/health").status, 200);
    assert_eq!(post(t.addr, "/predict", &event()).status, 200);
}

#[test]
fn unknown_routes_wrong_methods_and_wrong_content_types() {
    let t = TestServer::cancer(Config::default());
    let r = get(t.addr, "/nope");
    assert_eq!(
        (r.status, r.json()),
        (404, error("NotFound", "no route for GET /nope"))
    );
    let r = get(t.addr, "/predict");
    assert_eq!(
        (r.status, r.json()),
        (
            405,
            error("MethodNotAllowed", "GET is not allowed on /predict")
        )
    );
    assert_eq!(r.header("allow"), Some("POST"));
    let r = send(t.addr, "DELETE", "/models", "", b"");
    assert_eq!(
        (r.status, r.json()),
        (
            405,
            error("MethodNotAllowed", "DELETE is not allowed on /models")
        )
    );
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
    let r = send(
        t.addr,
        "POST",
        "/predict",
        "content-type: text/csv\r\n",
        b"1,2,3",
    );
    assert_eq!(
        (r.status, r.json()),
        (
            415,
            error(
                "UnsupportedMediaType",
                "content type \"text/csv\" is not JSON; send application/json"
            )
        )
    );
}

#[test]
fn bodies_over_the_limit_are_413() {
    let t = TestServer::cancer(Config::default().max_body_bytes(256));
    let big = vec![b' '; 300];
    let r = post(t.addr, "/predict", &big);
    assert_eq!(
        (r.status, r.json()),
        (
            413,
            error(
                "PayloadTooLarge",
                "body of 300 bytes exceeds the 256-byte limit"
            )
        )
    );
    // Without a length up front: counted as it arrives.
    let mut s = connect(t.addr);
    let chunk = vec![b' '; 200];
    let mut req = b"POST /predict/batch HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..2 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).unwrap();
    let r = read_response(s);
    assert_eq!(
        (r.status, r.json()),
        (
            413,
            error("PayloadTooLarge", "body exceeds the 256-byte limit")
        )
    );
    // Within the limit, the same server answers.
    let r = post(t.addr, "/predict", br#"{"features": [1]}"#);
    assert_eq!(r.status, 400);
}

#[test]
fn saturated_server_sheds_with_503_and_retry_after() {
    let t = TestServer::cancer(Config::default().max_concurrency(1).retry_after_secs(3));
    let slow = start_slow(t.addr, "/predict", &event());
    t.wait_until("the slow request to be in flight", |s| s.in_flight() == 1);
    let r = post(t.addr, "/predict", &event());
    assert_eq!(
        (r.status, r.json()),
        (
            503,
            error(
                "Overloaded",
                "the server is handling its limit of 1 requests; retry after 3 s"
            )
        )
    );
    assert_eq!(r.header("retry-after"), Some("3"));
    // Probes are not shed.
    assert_eq!(get(t.addr, "/health").status, 200);
    assert_eq!(get(t.addr, "/ready").status, 200);
    let r = finish(slow);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&cancer_path(), &event()))
    );
    // The permit is back.
    assert_eq!(post(t.addr, "/predict", &event()).status, 200);
    let m = get(t.addr, "/metrics").text();
    assert!(m.contains("\nicebreak_http_requests_shed_total 1\n"), "{m}");
}

#[test]
fn a_request_not_received_in_time_is_408() {
    let t = TestServer::cancer(Config::default().request_timeout(Duration::from_millis(100)));
    let (s, _) = start_slow(t.addr, "/predict", &event());
    let r = read_response(s);
    assert_eq!(
        (r.status, r.json()),
        (
            408,
            error(
                "RequestTimeout",
                "the request was not received and answered within 100 ms"
            )
        )
    );
}

#[test]
fn shutdown_refuses_new_connections_and_drains_the_in_flight_request() {
    let mut t = TestServer::cancer(Config::default());
    let slow = start_slow(t.addr, "/predict", &event());
    t.wait_until("the slow request to be in flight", |s| s.in_flight() == 1);
    let _ = t.stop.take().unwrap().send(());
    t.wait_until("shutdown to begin", Server::is_draining);
    // The listener closes; the in-flight request is still waiting for its body.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(t.addr).is_ok() {
        assert!(Instant::now() < deadline, "new connections still accepted");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(t.server.in_flight(), 1);
    assert!(!t.thread.as_ref().unwrap().is_finished());
    let r = finish(slow);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&cancer_path(), &event()))
    );
    t.thread.take().unwrap().join().unwrap().unwrap();
    assert_eq!(t.server.in_flight(), 0);
}

#[test]
fn draining_closes_idle_kept_alive_connections() {
    let mut t = TestServer::cancer(Config::default());
    // A kept-alive connection opened before shutdown carries the probe.
    let mut s = connect(t.addr);
    let slow = start_slow(t.addr, "/predict", &event());
    t.wait_until("the slow request to be in flight", |s| s.in_flight() == 1);
    s.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(parse_response(&buf[..n]).status, 200);
    let _ = t.stop.take().unwrap().send(());
    t.wait_until("shutdown to begin", Server::is_draining);
    let r = finish(slow);
    assert_eq!(r.status, 200);
    t.thread.take().unwrap().join().unwrap().unwrap();
    // Draining closed the idle kept-alive connection rather than answer on it.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn metrics_count_requests_errors_latency_and_load_times() {
    let t = TestServer::two(Config::default());
    let cancer = with_model_id(&event(), "cancer");
    assert_eq!(post(t.addr, "/predict", &cancer).status, 200);
    assert_eq!(post(t.addr, "/predict", &cancer).status, 200);
    assert_eq!(
        post(t.addr, "/predict", &with_model_id(b"{}", "tiny")).status,
        400
    );
    assert_eq!(get(t.addr, "/nope").status, 404);
    let r = get(t.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let m = r.text();
    for line in [
        r#"icebreak_http_requests_total{route="/predict",model="cancer",status="200"} 2"#,
        r#"icebreak_http_requests_total{route="/predict",model="tiny",status="400"} 1"#,
        r#"icebreak_http_requests_total{route="unmatched",model="none",status="404"} 1"#,
        r#"icebreak_http_errors_total{route="/predict",model="tiny",status="400",error_type="InvalidEvent"} 1"#,
        r#"icebreak_http_errors_total{route="unmatched",model="none",status="404",error_type="NotFound"} 1"#,
        r#"icebreak_http_request_duration_seconds_count{route="/predict",model="cancer"} 2"#,
        r#"icebreak_http_request_duration_seconds_bucket{route="/predict",model="cancer",le="+Inf"} 2"#,
        "icebreak_http_requests_shed_total 0",
        // The scrape itself is in flight.
        "icebreak_http_requests_in_flight 1",
    ] {
        assert!(m.lines().any(|l| l == line), "missing {line:?} in:\n{m}");
    }
    for model in ["cancer", "tiny"] {
        let prefix = format!("icebreak_model_load_seconds{{model=\"{model}\"}} ");
        let v: f64 = m
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no load time for {model}:\n{m}"))
            .parse()
            .unwrap();
        assert!(v > 0.0 && v < 10.0, "{model}: {v}");
    }
}

#[test]
fn keep_alive_connections_serve_many_requests() {
    let t = TestServer::cancer(Config::default());
    let mut s = connect(t.addr);
    let body = event();
    let want = stable(reference_answer(&cancer_path(), &body));
    for _ in 0..3 {
        let req = format!(
            "POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let resp = loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let r = parse_response(&raw);
                let len: usize = r.header("content-length").unwrap().parse().unwrap();
                if raw.len() >= end + 4 + len {
                    break r;
                }
            }
        };
        assert_eq!(resp.status, 200);
        assert_eq!(stable(resp.json()), want);
    }
}

#[test]
fn models_that_cannot_be_served_are_refused_at_start() {
    let dup = format!("{}", cancer_path().display());
    let err = Models::load(&[
        ModelSpec::parse(&dup).unwrap(),
        ModelSpec::parse(&format!("model={}", tiny_path().display())).unwrap(),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "two models are named \"model\"; name one with NAME=PATH"
    );
    let err = Models::load(&[ModelSpec::parse("missing=/nonexistent/x.apr").unwrap()]).unwrap_err();
    assert!(matches!(err, ServeError::Read { .. }), "{err:?}");
    let not_a_model = root().join("examples/event.json");
    let err =
        Models::load(&[ModelSpec::parse(&not_a_model.display().to_string()).unwrap()]).unwrap_err();
    assert!(matches!(err, ServeError::InvalidModel { .. }), "{err:?}");
    assert!(matches!(Models::load(&[]), Err(ServeError::NoModels)));
}
