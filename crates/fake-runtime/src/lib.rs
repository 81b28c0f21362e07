//! A local Lambda Runtime API for tests, the demo and the cold-start harness.
//!
//! It listens on 127.0.0.1 (a fresh port per instance), hands out queued invocations on
//! `GET /2018-06-01/runtime/invocation/next` (blocking until one is queued), and records
//! every `/response`, `/error` and `/init/error` with the instant its body arrived. Scripted
//! faults (a status instead of an invocation, a closed connection, missing headers) let tests
//! check how a runtime behaves when the Runtime API misbehaves.
//!
//! Std only; one thread per connection. Not a production server.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What `/next` hands out next.
#[derive(Debug, Clone)]
pub enum Next {
    /// A well-formed invocation.
    Invoke(Invocation),
    /// Answer `/next` with this status and an empty body.
    Status(u16),
    /// Close the connection without answering.
    Close,
    /// Send these raw bytes as the whole answer, then close.
    Raw(Vec<u8>),
}

/// An invocation to hand out.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Request id (`None`: leave the header out).
    pub request_id: Option<String>,
    /// The event.
    pub body: Vec<u8>,
    /// Deadline header value (`None`: leave it out).
    pub deadline_ms: Option<String>,
    /// Trace header value.
    pub trace_id: Option<String>,
}

impl Invocation {
    /// An invocation with a request id, a deadline 30 s from now and a trace id.
    pub fn new(request_id: &str, body: impl Into<Vec<u8>>) -> Self {
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or(0);
        Invocation {
            request_id: Some(request_id.to_owned()),
            body: body.into(),
            deadline_ms: Some(deadline.to_string()),
            trace_id: Some(format!("Root=1-00000000-{request_id};Sampled=0")),
        }
    }
}

/// What the runtime posted back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerKind {
    /// `POST /invocation/{id}/response`.
    Response,
    /// `POST /invocation/{id}/error`, with the `Lambda-Runtime-Function-Error-Type` header.
    Error(Option<String>),
    /// `POST /init/error`, with the header.
    InitError(Option<String>),
}

/// One recorded answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Request id from the path (empty for init errors), percent-decoded.
    pub request_id: String,
    /// Response, error or init error.
    pub kind: AnswerKind,
    /// The body.
    pub body: Vec<u8>,
    /// When the whole body had arrived.
    pub at: Instant,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The answer "status" that means: close the connection without a response.
const CLOSE: u16 = 0;

#[derive(Default)]
struct State {
    queue: VecDeque<Next>,
    answers: Vec<Answer>,
    /// Status for the next POSTs of answers (default 202).
    answer_status: VecDeque<u16>,
    next_calls: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Runtime API.
pub struct FakeRuntime {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeRuntime {
    /// Binds 127.0.0.1 on a fresh port and starts serving.
    pub fn start() -> std::io::Result<FakeRuntime> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.lock().shutdown {
                    break;
                }
                if let Ok(conn) = conn {
                    let s = s.clone();
                    std::thread::spawn(move || serve_conn(conn, s));
                }
            }
        });
        Ok(FakeRuntime { addr, shared })
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` holds it on AWS.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues what `/next` hands out.
    pub fn push(&self, next: Next) {
        self.shared.lock().queue.push_back(next);
        self.shared.cond.notify_all();
    }

    /// Queues an invocation.
    pub fn invoke(&self, request_id: &str, body: impl Into<Vec<u8>>) {
        self.push(Next::Invoke(Invocation::new(request_id, body)));
    }

    /// The status the next answer POST gets (instead of 202).
    pub fn answer_next_with(&self, status: u16) {
        self.shared.lock().answer_status.push_back(status);
    }

    /// The next answer POST is recorded, then its connection is closed without a response
    /// (as a Runtime API that drops a kept-alive connection after reading the request).
    pub fn close_after_next_answer(&self) {
        self.shared.lock().answer_status.push_back(CLOSE);
    }

    /// How many times `/next` was called.
    pub fn next_calls(&self) -> usize {
        self.shared.lock().next_calls
    }

    /// Waits until `n` answers arrived or `timeout` passed; returns what arrived.
    pub fn wait_answers(&self, n: usize, timeout: Duration) -> Vec<Answer> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while st.answers.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .shared
                .cond
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        st.answers.clone()
    }

    /// Waits until `/next` was called `n` times.
    pub fn wait_next_calls(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while st.next_calls < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .shared
                .cond
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.cond.notify_all();
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn reply(
    w: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    w.write_all(&bytes)
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_conn(conn: TcpStream, shared: Arc<Shared>) {
    let _ = conn.set_nodelay(true);
    let Ok(mut w) = conn.try_clone() else { return };
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r) {
        let at = Instant::now();
        let path = req
            .path
            .split_once("/2018-06-01/")
            .map_or("", |(_, p)| p)
            .to_owned();
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let result = if req.method == "GET" && path == "runtime/invocation/next" {
            let next = {
                let mut st = shared.lock();
                st.next_calls += 1;
                shared.cond.notify_all();
                loop {
                    if let Some(n) = st.queue.pop_front() {
                        break Some(n);
                    }
                    if st.shutdown {
                        break None;
                    }
                    st = shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            match next {
                None | Some(Next::Close) => return,
                Some(Next::Status(s)) => reply(&mut w, s, &[], b""),
                Some(Next::Raw(bytes)) => {
                    let _ = w.write_all(&bytes);
                    return;
                }
                Some(Next::Invoke(inv)) => {
                    let mut h = Vec::new();
                    if let Some(id) = inv.request_id {
                        h.push(("Lambda-Runtime-Aws-Request-Id", id));
                    }
                    if let Some(d) = inv.deadline_ms {
                        h.push(("Lambda-Runtime-Deadline-Ms", d));
                    }
                    if let Some(t) = inv.trace_id {
                        h.push(("Lambda-Runtime-Trace-Id", t));
                    }
                    h.push((
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:icebreak".to_owned(),
                    ));
                    reply(&mut w, 200, &h, &inv.body)
                }
            }
        } else if req.method == "POST" && path.starts_with("runtime/invocation/") {
            let rest = &path["runtime/invocation/".len()..];
            let (id, kind) = match rest.rsplit_once('/') {
                Some((id, "response")) => (id, Some(AnswerKind::Response)),
                Some((id, "error")) => (
                    id,
                    Some(AnswerKind::Error(header(
                        "lambda-runtime-function-error-type",
                    ))),
                ),
                _ => ("", None),
            };
            match kind {
                Some(kind) => {
                    let status = {
                        let mut st = shared.lock();
                        st.answers.push(Answer {
                            request_id: decode(id),
                            kind,
                            body: req.body,
                            at,
                        });
                        shared.cond.notify_all();
                        st.answer_status.pop_front().unwrap_or(202)
                    };
                    if status == CLOSE {
                        return;
                    }
                    reply(&mut w, status, &[], br#"{"status":"OK"}"#)
                }
                None => reply(&mut w, 404, &[], b""),
            }
        } else if req.method == "POST" && path == "runtime/init/error" {
            {
                let mut st = shared.lock();
                let kind = AnswerKind::InitError(header("lambda-runtime-function-error-type"));
                st.answers.push(Answer {
                    request_id: String::new(),
                    kind,
                    body: req.body,
                    at,
                });
                shared.cond.notify_all();
            }
            reply(&mut w, 202, &[], br#"{"status":"OK"}"#)
        } else {
            reply(&mut w, 404, &[], b"")
        };
        if result.is_err() {
            return;
        }
    }
}
