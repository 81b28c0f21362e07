//! Hostile clients: slow headers, idle connections, a flood of connections, bodies whose
//! answers would not fit, a spent memory budget, keys spelled with escapes, and a shutdown
//! with connections that have nothing in flight.

use crate::common::*;
use icebreak_server::{Config, Server};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Waits for the server to close `s` (end of stream or reset) and returns how long that
/// took; fails if it stays open for `limit`.
fn closed_within(mut s: TcpStream, limit: Duration) -> Duration {
    let t0 = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return t0.elapsed()
            }
            Err(e) => panic!(
                "the connection is still open after {:?} ({e})",
                t0.elapsed()
            ),
        }
    }
}

/// A value of the server's `/metrics` (without labels).
fn metric(t: &TestServer, name: &str) -> f64 {
    let text = t.server.render_metrics();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn open_connections(t: &TestServer) -> f64 {
    metric(t, "icebreak_http_connections")
}

#[test]
fn slow_headers_are_cut_at_the_header_read_deadline() {
    let t = TestServer::cancer(
        Config::default()
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_secs(30)),
    );
    // A slowloris: a byte of the head every 50 ms, so the connection is never idle.
    let mut s = connect(t.addr);
    let head = b"GET /health HTTP/1.1\r\nhost: test\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let t0 = Instant::now();
    for b in head.iter() {
        if s.write_all(std::slice::from_ref(b)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if t0.elapsed() > Duration::from_secs(5) {
            panic!("the server still reads a head begun {:?} ago", t0.elapsed());
        }
    }
    let took = t0.elapsed() + closed_within(s, Duration::from_secs(5));
    assert!(
        took < Duration::from_secs(2),
        "the slow head was cut after {took:?}"
    );
    assert_eq!(
        metric(
            &t,
            r#"icebreak_http_connections_timed_out_total{timeout="header_read"}"#
        ),
        1.0
    );
    // A prompt client on another connection is served meanwhile and afterwards.
    assert_eq!(get(t.addr, "/health").status, 200);
}

#[test]
fn idle_connections_are_closed_at_the_idle_timeout() {
    let t = TestServer::cancer(
        Config::default()
            .header_read_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_millis(300)),
    );
    // One that never sends a byte, and one kept alive after a request.
    let silent = connect(t.addr);
    let mut kept = connect(t.addr);
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).unwrap();
    assert_eq!(parse_response(&buf[..n]).status, 200);
    let a = closed_within(silent, Duration::from_secs(5));
    let b = closed_within(kept, Duration::from_secs(5));
    assert!(
        a < Duration::from_secs(2) && b < Duration::from_secs(2),
        "{a:?} {b:?}"
    );
    assert!(
        a >= Duration::from_millis(250),
        "closed before the timeout: {a:?}"
    );
    t.wait_until("the connections to be gone", |_| {
        open_connections(&t) == 0.0
    });
    assert_eq!(
        metric(
            &t,
            r#"icebreak_http_connections_timed_out_total{timeout="idle"}"#
        ),
        2.0
    );
}

#[test]
fn a_new_connection_owes_its_first_head_within_the_header_deadline() {
    let t = TestServer::cancer(
        Config::default()
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_secs(30)),
    );
    let silent = connect(t.addr);
    let mut kept = connect(t.addr);
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).unwrap();
    assert_eq!(parse_response(&buf[..n]).status, 200);
    let took = closed_within(silent, Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // After its answer, a kept-alive connection waits under the idle timeout, not the
    // header deadline.
    std::thread::sleep(Duration::from_millis(600));
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let n = kept.read(&mut buf).unwrap();
    assert_eq!(parse_response(&buf[..n]).status, 200);
    assert_eq!(
        metric(
            &t,
            r#"icebreak_http_connections_timed_out_total{timeout="header_read"}"#
        ),
        1.0
    );
}

#[test]
fn a_busy_kept_alive_connection_is_not_idle() {
    let t = TestServer::cancer(Config::default().idle_timeout(Duration::from_millis(300)));
    let mut s = connect(t.addr);
    let mut buf = [0u8; 4096];
    // Requests every 100 ms for a second: never 300 ms without traffic.
    for _ in 0..10 {
        s.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert_eq!(parse_response(&buf[..n]).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn connections_over_the_cap_are_closed_on_arrival() {
    let t = TestServer::cancer(Config::default().max_connections(3));
    let held: Vec<TcpStream> = (0..3).map(|_| connect(t.addr)).collect();
    t.wait_until("three connections", |_| open_connections(&t) == 3.0);
    let over = connect(t.addr);
    let took = closed_within(over, Duration::from_secs(5));
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(metric(&t, "icebreak_http_connections_refused_total"), 1.0);
    // The held ones still work, and a slot freed is a slot for the next client.
    let mut held = held.into_iter();
    let mut first = held.next().unwrap();
    first
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    first.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).status, 200);
    t.wait_until("the slot to be free", |_| open_connections(&t) == 2.0);
    assert_eq!(get(t.addr, "/health").status, 200);
}

/// `{"instances":[1,1,...]}`: each instance a bare number, each earning an error item.
fn bare_numbers(n: usize) -> Vec<u8> {
    let mut b = b"{\"instances\":[".to_vec();
    for i in 0..n {
        if i > 0 {
            b.push(b',');
        }
        b.push(b'1');
    }
    b.extend_from_slice(b"]}");
    b
}

#[test]
fn a_batch_whose_answer_cannot_fit_is_413_before_any_work() {
    let t = TestServer::cancer(Config::default());
    // Under the default 1 MiB body limit; answered item by item it would be over 50 MB.
    let body = bare_numbers(400_000);
    assert!(body.len() < 1024 * 1024);
    let r = post(t.addr, "/predict/batch", &body);
    assert_eq!(
        r.status,
        413,
        "{}",
        String::from_utf8_lossy(&r.body[..200.min(r.body.len())])
    );
    let v = r.json();
    assert_eq!(v["errorType"], "PayloadTooLarge");
    let msg = v["errorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with("the answer to 400000 instances could take up to ")
            && msg.ends_with(&format!(
                "over the limit of {} bytes; send fewer instances per request",
                16 * 1024 * 1024
            )),
        "{msg}"
    );
    // The same instances in fewer pieces are answered, item by item.
    let r = post(t.addr, "/predict/batch", &bare_numbers(1000));
    assert_eq!(r.status, 200);
    let items = r.json()["predictions"].as_array().unwrap().len();
    assert_eq!(items, 1000);
    // And a smaller limit applies to smaller batches.
    let t = TestServer::cancer(Config::default().max_answer_bytes(100_000));
    assert_eq!(
        post(t.addr, "/predict/batch", &bare_numbers(1000)).status,
        413
    );
    assert_eq!(
        post(t.addr, "/predict/batch", &bare_numbers(100)).status,
        200
    );
    // Sent to /predict, the instances are counted too.
    assert_eq!(post(t.addr, "/predict", &bare_numbers(1000)).status, 413);
    t.wait_until("the budget to be returned", |s| s.reserved_bytes() == 0);
}

/// Starts a request that announces `len` bytes of body and sends none: it holds its body's
/// reservation until the test drops it.
fn announce(addr: std::net::SocketAddr, len: usize) -> TcpStream {
    let mut s = connect(addr);
    let head = format!(
        "POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s
}

#[test]
fn a_spent_memory_budget_is_503_with_retry_after_and_comes_back() {
    let body = 500_000;
    // Room for one announced body and not for the worst case of another request beside it.
    let t = TestServer::cancer(
        Config::default()
            .memory_budget_bytes(body + 8 * 1024)
            .retry_after_secs(3),
    );
    let holder = announce(t.addr, body);
    t.wait_until("the body to be reserved", |s| s.reserved_bytes() >= body);
    let r = post(t.addr, "/predict", &event());
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("3"));
    let v = r.json();
    assert_eq!(v["errorType"], "Overloaded");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("the server's memory budget ("),
        "{v}"
    );
    assert_eq!(metric(&t, "icebreak_http_requests_shed_total"), 1.0);
    // The holder gives up: its reservation returns, and the next request is answered.
    drop(holder);
    t.wait_until("the budget to be returned", |s| s.reserved_bytes() == 0);
    let t = {
        drop(t);
        TestServer::cancer(Config::default().memory_budget_bytes(64 * 1024))
    };
    let r = post(t.addr, "/predict", &event());
    assert_eq!(r.status, 200, "{}", r.text());
    // A request that could never fit the whole budget is 413, not 503.
    let mut big: Value = serde_json::from_slice(&event()).unwrap();
    big["padding"] = json!("x".repeat(50_000));
    let r = post(t.addr, "/predict", &serde_json::to_vec(&big).unwrap());
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["errorMessage"]
        .as_str()
        .unwrap()
        .contains("more than the server's whole budget of 65536 bytes"));
    t.wait_until("the budget to be returned", |s| s.reserved_bytes() == 0);
}

#[test]
fn a_burst_of_large_batches_is_bounded_and_returns_its_memory() {
    // Eight clients at once, each with a batch near the body limit, and a budget for about
    // two of them: the rest are shed at once, and everything is returned afterwards.
    let one: Value = serde_json::from_slice(&event()).unwrap();
    let batch = json!({ "instances": vec![one; 1200] });
    let body = serde_json::to_vec(&batch).unwrap();
    let t = TestServer::cancer(Config::default().memory_budget_bytes(body.len() * 60));
    let addr = t.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || post(addr, "/predict/batch", &body).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    t.wait_until("the budget to be returned", |s| s.reserved_bytes() == 0);
}

#[test]
fn an_escaped_model_id_key_is_the_same_key() {
    let t = TestServer::cancer(Config::default());
    let features = serde_json::from_slice::<Value>(&event()).unwrap()["features"].clone();
    let plain = format!(r#"{{"model_id":"nope","features":{features}}}"#);
    let escaped = format!(r#"{{"model\u005fid":"nope","features":{features}}}"#);
    let a = post(t.addr, "/predict", plain.as_bytes());
    let b = post(t.addr, "/predict", escaped.as_bytes());
    assert_eq!(a.status, 404);
    assert_eq!((b.status, b.json()), (a.status, a.json()));
    let escaped_ok = format!(r#"{{"\u006dodel_id":"cancer","features":{features}}}"#);
    let r = post(t.addr, "/predict", escaped_ok.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    // In a batch too.
    let batch = format!(r#"{{"model\u005fid":"nope","instances":[{{"features":{features}}}]}}"#);
    assert_eq!(post(t.addr, "/predict/batch", batch.as_bytes()).status, 404);
}

/// Regression: a large body sent to `/predict` was parsed on an async worker, stalling every
/// other connection of that worker (`/health` p50 398 ms with four such clients). Over the
/// blocking threshold it is parsed and answered on the blocking pool (counted by
/// `icebreak_http_requests_offloaded_total`), with the same answer; under it, inline.
#[test]
fn large_predict_bodies_are_answered_like_small_ones() {
    let offloaded = "icebreak_http_requests_offloaded_total";
    let t = TestServer::cancer(Config::default().blocking_body_bytes(1024));
    let small = post(t.addr, "/predict", &event());
    assert_eq!(small.status, 200, "{}", small.text());
    assert_eq!(
        metric(&t, offloaded),
        0.0,
        "a small body went off the workers"
    );
    // Over the blocking threshold (padding in an ignored field), the same answer.
    let mut v: Value = serde_json::from_slice(&event()).unwrap();
    v["note"] = json!(" ".repeat(100_000));
    let r = post(t.addr, "/predict", &serde_json::to_vec(&v).unwrap());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        stable(r.json()),
        stable(reference_answer(&cancer_path(), &event()))
    );
    assert_eq!(
        metric(&t, offloaded),
        1.0,
        "the large body was parsed inline"
    );
}

#[test]
fn shutdown_does_not_wait_for_connections_with_nothing_in_flight() {
    let mut t = TestServer::cancer(Config::default().shutdown_timeout(Duration::from_secs(20)));
    // Half a head, a connection that sent nothing, and a kept-alive one after its request.
    let mut half = connect(t.addr);
    half.write_all(b"POST /predict HTTP/1.1\r\nhost: t\r\ncontent-le")
        .unwrap();
    let silent = connect(t.addr);
    let mut kept = connect(t.addr);
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).unwrap();
    assert_eq!(parse_response(&buf[..n]).status, 200);
    // And one request in flight, waiting for the rest of its body.
    let slow = start_slow(t.addr, "/predict", &event());
    t.wait_until("the slow request to be in flight", |s| s.in_flight() == 1);
    t.wait_until("four connections", |_| open_connections(&t) == 4.0);
    let t0 = Instant::now();
    let _ = t.stop.take().unwrap().send(());
    t.wait_until("shutdown to begin", Server::is_draining);
    for s in [half, silent, kept] {
        let took = closed_within(s, Duration::from_secs(5));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    // The request in flight is still answered, and then the server stops at once.
    let r = finish(slow);
    assert_eq!(r.status, 200, "{}", r.text());
    t.thread.take().unwrap().join().unwrap().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t0.elapsed()
    );
}

#[test]
fn shutdown_with_only_a_half_open_connection_is_immediate() {
    let mut t = TestServer::cancer(Config::default().shutdown_timeout(Duration::from_secs(20)));
    let mut half = connect(t.addr);
    half.write_all(b"GET /health HTTP/1.1\r\nhost:").unwrap();
    t.wait_until("the connection", |_| open_connections(&t) == 1.0);
    let t0 = Instant::now();
    t.shutdown().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_head_over_64_kib_is_431() {
    let t = TestServer::cancer(Config::default());
    let big = format!("x-big: {}\r\n", "a".repeat(70 * 1024));
    let r = send(t.addr, "GET", "/health", &big, b"");
    assert_eq!(r.status, 431);
    let small = format!("x-big: {}\r\n", "a".repeat(40 * 1024));
    assert_eq!(send(t.addr, "GET", "/health", &small, b"").status, 200);
}

#[test]
fn shutdown_finishes_writing_a_large_answer() {
    // An answer of tens of megabytes, more than the sockets buffer: the client reads it only
    // after shutdown has begun, and must get all of it.
    let n = 100_000; // the most instances a batch may hold
    let mut t = TestServer::cancer(
        Config::default()
            .max_answer_bytes(1 << 30)
            .memory_budget_bytes(2 << 30)
            .request_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_secs(60)),
    );
    let mut body = b"{\"instances\":[1".to_vec();
    for _ in 1..n {
        body.extend_from_slice(b",1");
    }
    body.extend_from_slice(b"]}");
    let (mut s, rest) = start_slow(t.addr, "/predict/batch", &body);
    t.wait_until("the request to be in flight", |s| s.in_flight() == 1);
    let _ = t.stop.take().unwrap().send(());
    t.wait_until("shutdown to begin", Server::is_draining);
    s.write_all(&rest).unwrap();
    // Let the server answer and fill the socket buffers before reading.
    t.wait_until("the answer to be handed over", |s| s.in_flight() == 0);
    std::thread::sleep(Duration::from_millis(200));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = parse_response(&raw);
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 10_000_000, "{}", r.body.len());
    assert_eq!(r.json()["predictions"].as_array().unwrap().len(), n);
    t.thread.take().unwrap().join().unwrap().unwrap();
}
