//! The server over real HTTP on 127.0.0.1: every endpoint, every error status, shedding,
//! timeouts, several models, metrics, and a shutdown that drains an in-flight request.
//!
//! The client is a few lines over std's `TcpStream`, so a test can send exactly the bytes it
//! means: a wrong content type, a chunked body, or half a body that keeps a request in flight
//! until the test sends the rest.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

use icebreak_format::AlignedBuf;
use icebreak_lambda::LambdaHandler;
use icebreak_server::{Config, ModelSpec, Models, ServeError, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cancer_path() -> PathBuf {
    root().join("examples/model.apr")
}

fn tiny_path() -> PathBuf {
    root().join("crates/format/tests/data/tiny.apr")
}

/// The Lambda handler for a model file: the reference the server's answers are checked
/// against.
fn lambda(path: &PathBuf) -> LambdaHandler {
    let bytes = AlignedBuf::copy_from(&std::fs::read(path).unwrap()).leak();
    LambdaHandler::from_bytes(bytes).unwrap()
}

/// What the Lambda handler answers for a direct event, as JSON.
fn lambda_answer(path: &PathBuf, event: &[u8]) -> Value {
    match lambda(path).handle_event(event) {
        Ok(body) => serde_json::from_slice(&body).unwrap(),
        Err(e) => serde_json::to_value(&e).unwrap(),
    }
}

/// A server on a port of its own, in a thread with its own runtime.
struct TestServer {
    addr: SocketAddr,
    server: Server,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    fn start(specs: &[&str], config: Config) -> TestServer {
        let specs: Vec<ModelSpec> = specs.iter().map(|s| ModelSpec::parse(s).unwrap()).collect();
        let server = Server::new(Models::load(&specs).unwrap(), config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                s.serve(listener, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        TestServer {
            addr,
            server,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn cancer(config: Config) -> TestServer {
        let spec = format!("cancer={}", cancer_path().display());
        TestServer::start(&[&spec], config)
    }

    fn two(config: Config) -> TestServer {
        let a = format!("cancer={}", cancer_path().display());
        let b = format!("tiny={}", tiny_path().display());
        TestServer::start(&[&a, &b], config)
    }

    /// Waits, with a deadline, until `cond` holds: for state that only the server changes.
    fn wait_until(&self, what: &str, cond: impl Fn(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(&self.server) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn shutdown(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.shutdown();
        }
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + len]);
            rest = &rest[eol + 4 + len..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn read_response(mut s: TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

/// One request on its own connection; `extra` is raw header lines.
fn send(addr: SocketAddr, method: &str, path: &str, extra: &str, body: &[u8]) -> Resp {
    let mut s = connect(addr);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, "", b"")
}

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    send(
        addr,
        "POST",
        path,
        "content-type: application/json\r\n",
        body,
    )
}

/// A request whose body is only half sent: in flight until [`finish`] sends the rest.
fn start_slow(addr: SocketAddr, path: &str, body: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = connect(addr);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let half = body.len() / 2;
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..half]).unwrap();
    (s, body[half..].to_vec())
}

fn finish((mut s, rest): (TcpStream, Vec<u8>)) -> Resp {
    s.write_all(&rest).unwrap();
    read_response(s)
}

fn event() -> Vec<u8> {
    std::fs::read(root().join("examples/event.json")).unwrap()
}

fn with_model_id(body: &[u8], id: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["model_id"] = json!(id);
    serde_json::to_vec(&v).unwrap()
}

fn error(error_type: &str, message: &str) -> Value {
    json!({ "errorType": error_type, "errorMessage": message })
}

/// The prediction part of an answer: what does not depend on timing.
fn stable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    assert!(o.remove("latency_ms").unwrap().is_f64());
    assert!(o.remove("cold_start").unwrap().is_boolean());
    v
}

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
        assert_eq!(m, serde_json::to_value(lambda(&path).describe()).unwrap());
    }
}

#[test]
fn predict_answers_as_the_lambda_handler_does() {
    let t = TestServer::cancer(Config::default());
    let r = post(t.addr, "/predict", &event());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-icebreak-model"), Some("cancer"));
    let got = r.json();
    // The server warmed the model at start-up: no request is the cold one.
    assert_eq!(got["cold_start"], json!(false));
    assert_eq!(stable(got), stable(lambda_answer(&cancer_path(), &event())));
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
        stable(lambda_answer(&cancer_path(), &event()))
    );
}

#[test]
fn batch_answers_item_by_item_as_the_lambda_handler_does() {
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
    let want = stable(lambda_answer(&cancer_path(), &body));
    assert_eq!(stable(r.json()), want);
    let items = want["predictions"].as_array().unwrap();
    assert!(items[0].get("prediction").is_some());
    assert_eq!(
        items.last().unwrap()["error"]["errorType"],
        json!("InvalidInput")
    );
}

#[test]
fn several_models_are_chosen_by_model_id() {
    let t = TestServer::two(Config::default());
    let tiny = br#"{"features": [0.5, -1.25]}"#;
    let r = post(t.addr, "/predict", &with_model_id(tiny, "tiny"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-icebreak-model"), Some("tiny"));
    assert_eq!(stable(r.json()), stable(lambda_answer(&tiny_path(), tiny)));
    let r = post(t.addr, "/predict", &with_model_id(&event(), "cancer"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(lambda_answer(&cancer_path(), &event()))
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
fn bad_bodies_are_400_with_the_lambda_handlers_error() {
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
        let want = lambda_answer(&cancer_path(), body);
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
        stable(lambda_answer(&cancer_path(), &event()))
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
        stable(lambda_answer(&cancer_path(), &event()))
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
    let want = stable(lambda_answer(&cancer_path(), &body));
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
