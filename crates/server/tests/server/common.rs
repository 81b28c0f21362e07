//! Helpers shared by the tests: a server on a port of its own, a raw HTTP/1.1 client, the
//! example bodies, and the protocol's reference answers.

use icebreak_format::AlignedBuf;
use icebreak_protocol::{parse_direct, Direct, Predictor};
use icebreak_server::{Config, ModelSpec, Models, ServeError, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn cancer_path() -> PathBuf {
    root().join("examples/model.apr")
}

pub fn tiny_path() -> PathBuf {
    root().join("crates/format/tests/data/tiny.apr")
}

/// The protocol's predictor for a model file: the reference the server's answers are
/// checked against (the Lambda handler answers through the same predictor).
pub fn reference(path: &PathBuf) -> Predictor {
    let bytes = AlignedBuf::copy_from(&std::fs::read(path).unwrap()).leak();
    Predictor::from_bytes(bytes).unwrap()
}

/// What the protocol answers for a direct event, as JSON.
pub fn reference_answer(path: &PathBuf, event: &[u8]) -> Value {
    let p = reference(path);
    let t0 = Instant::now();
    // Through the JSON text, as a client reads it (f32 values in their shortest form).
    let answer = match parse_direct(event, p.n_features()) {
        Ok(Direct::Single(req)) => p.predict(&req, t0).map(|r| serde_json::to_vec(&r)),
        Ok(Direct::Batch(items)) => p.predict_batch(&items, t0).map(|r| serde_json::to_vec(&r)),
        Err(e) => Err(e),
    };
    let body = answer.unwrap_or_else(|e| Ok(e.to_json())).unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// A server on a port of its own, in a thread with its own runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Server,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub fn start(specs: &[&str], config: Config) -> TestServer {
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

    pub fn cancer(config: Config) -> TestServer {
        let spec = format!("cancer={}", cancer_path().display());
        TestServer::start(&[&spec], config)
    }

    pub fn two(config: Config) -> TestServer {
        let a = format!("cancer={}", cancer_path().display());
        let b = format!("tiny={}", tiny_path().display());
        TestServer::start(&[&a, &b], config)
    }

    /// Waits, with a deadline, until `cond` holds: for state that only the server changes.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&Server) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(&self.server) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn shutdown(&mut self) -> Result<(), ServeError> {
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
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub fn parse_response(raw: &[u8]) -> Resp {
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

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

pub fn read_response(mut s: TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

/// One request on its own connection; `extra` is raw header lines.
pub fn send(addr: SocketAddr, method: &str, path: &str, extra: &str, body: &[u8]) -> Resp {
    let mut s = connect(addr);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    send(addr, "GET", path, "", b"")
}

pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    send(
        addr,
        "POST",
        path,
        "content-type: application/json\r\n",
        body,
    )
}

/// A request whose body is only half sent: in flight until [`finish`] sends the rest.
pub fn start_slow(addr: SocketAddr, path: &str, body: &[u8]) -> (TcpStream, Vec<u8>) {
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

pub fn finish((mut s, rest): (TcpStream, Vec<u8>)) -> Resp {
    s.write_all(&rest).unwrap();
    read_response(s)
}

pub fn event() -> Vec<u8> {
    std::fs::read(root().join("examples/event.json")).unwrap()
}

pub fn with_model_id(body: &[u8], id: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["model_id"] = json!(id);
    serde_json::to_vec(&v).unwrap()
}

pub fn error(error_type: &str, message: &str) -> Value {
    json!({ "errorType": error_type, "errorMessage": message })
}

/// The prediction part of an answer: what does not depend on timing.
pub fn stable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    assert!(o.remove("latency_ms").unwrap().is_f64());
    // Lambda's `cold_start` is not part of the protocol's answers.
    assert!(o.get("cold_start").is_none());
    v
}
