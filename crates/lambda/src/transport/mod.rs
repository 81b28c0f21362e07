//! The Runtime API transport: where it listens ([`Endpoint`]), the request of each endpoint
//! and a blocking client over one kept-alive loopback connection.
//!
//! One small function per endpoint renders its request ([`next_request`],
//! [`response_request`], [`error_request`], [`init_error_request`]) so each is unit-tested
//! without a network; [`Client`] sends them.

mod http;

use crate::telemetry::log::{self, Level};
use http::{HttpError, Response};
use icebreak_protocol::{Error as LambdaError, ErrorKind};
use std::fmt;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Runtime API version prefix.
pub(crate) const API_VERSION: &str = "/2018-06-01";
/// Largest response the Runtime API accepts for a synchronous invocation (6 MB).
pub(crate) const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// Why the runtime cannot go on.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum RuntimeError {
    /// `AWS_LAMBDA_RUNTIME_API` is not set.
    MissingEnv(&'static str),
    /// `AWS_LAMBDA_RUNTIME_API` cannot be understood.
    BadEndpoint(String),
    /// The Runtime API cannot be reached or stopped speaking HTTP.
    Http(HttpError),
    /// The Runtime API answered with a status that ends the runtime (500: the sandbox is
    /// being torn down, or an unexpected status on `/next`).
    Status {
        /// The endpoint.
        endpoint: &'static str,
        /// The status code.
        status: u16,
    },
    /// An invocation came without the header that identifies it.
    MissingRequestId,
    /// The embedded model is broken; reported to `/init/error`.
    Init(LambdaError),
    /// A `POST` was written but its response never came: the Runtime API may have received
    /// it, so it is not sent again (an invocation gets one answer) and the runtime exits.
    Unconfirmed {
        /// The path posted to.
        path: String,
        /// What happened to the connection.
        source: HttpError,
    },
    /// The concurrent invocation loops could not be started, or all ended.
    Loops(String),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::MissingEnv(v) => write!(f, "environment variable {v} is not set"),
            RuntimeError::Loops(msg) => write!(f, "invocation loops: {msg}"),
            RuntimeError::BadEndpoint(msg) => write!(f, "bad AWS_LAMBDA_RUNTIME_API: {msg}"),
            RuntimeError::Http(e) => write!(f, "Runtime API: {e}"),
            RuntimeError::Status { endpoint, status } => {
                write!(f, "Runtime API answered {status} on {endpoint}; exiting")
            }
            RuntimeError::MissingRequestId => {
                write!(
                    f,
                    "invocation without a Lambda-Runtime-Aws-Request-Id header; cannot answer it"
                )
            }
            RuntimeError::Init(e) => write!(f, "init failed: {e}"),
            RuntimeError::Unconfirmed { path, source } => write!(
                f,
                "Runtime API: POST {path} was sent but no response came ({source}); it may \
                 have been received, so it is not sent twice; exiting so Lambda restarts the \
                 runtime"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<HttpError> for RuntimeError {
    fn from(e: HttpError) -> Self {
        RuntimeError::Http(e)
    }
}

/// Where the Runtime API listens: `host:port` (as on AWS) or `http://host:port/prefix` (as
/// emulators such as cargo-lambda's give it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Value for the `Host` header.
    pub(crate) host: String,
    /// Resolved address.
    pub(crate) addr: SocketAddr,
    /// Path prefix before `/2018-06-01`, without a trailing slash.
    pub(crate) prefix: String,
}

impl Endpoint {
    /// Parses the value of `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn parse(value: &str) -> Result<Endpoint, RuntimeError> {
        let bad = |msg: &str| RuntimeError::BadEndpoint(format!("{msg} in {value:?}"));
        let v = value.trim();
        let rest = if let Some(r) = v.strip_prefix("http://") {
            r
        } else if v.contains("://") {
            return Err(bad("only http:// is supported"));
        } else {
            v
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
        let host_ip = host.trim_start_matches('[').trim_end_matches(']');
        // Literal addresses and localhost never touch the resolver (static binaries have no NSS).
        let addr = if let Ok(ip) = host_ip.parse() {
            SocketAddr::new(ip, port)
        } else if host.eq_ignore_ascii_case("localhost") {
            SocketAddr::from(([127, 0, 0, 1], port))
        } else {
            (host, port)
                .to_socket_addrs()
                .map_err(|e| RuntimeError::BadEndpoint(format!("cannot resolve {host:?}: {e}")))?
                .next()
                .ok_or_else(|| bad("host resolves to no address"))?
        };
        Ok(Endpoint {
            host: authority.to_owned(),
            addr,
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// Reads `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn from_env() -> Result<Endpoint, RuntimeError> {
        let v = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .map_err(|_| RuntimeError::MissingEnv("AWS_LAMBDA_RUNTIME_API"))?;
        Endpoint::parse(&v)
    }
}

/// A rendered request: method, path, extra headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiRequest {
    /// HTTP method.
    pub(crate) method: &'static str,
    /// Path including the prefix.
    pub(crate) path: String,
    /// Extra headers.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Body, for POSTs.
    pub(crate) body: Option<Vec<u8>>,
}

/// Percent-encodes a request id for use in a path, so no header value can alter the path.
fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /runtime/invocation/next`.
pub(crate) fn next_request(ep: &Endpoint) -> ApiRequest {
    ApiRequest {
        method: "GET",
        path: format!("{}{API_VERSION}/runtime/invocation/next", ep.prefix),
        headers: Vec::new(),
        body: None,
    }
}

/// `POST /runtime/invocation/{id}/response`.
pub(crate) fn response_request(ep: &Endpoint, id: &str, body: Vec<u8>) -> ApiRequest {
    ApiRequest {
        method: "POST",
        path: format!(
            "{}{API_VERSION}/runtime/invocation/{}/response",
            ep.prefix,
            encode_id(id)
        ),
        headers: Vec::new(),
        body: Some(body),
    }
}

/// `POST /runtime/invocation/{id}/error` with `{errorMessage, errorType}`.
pub(crate) fn error_request(ep: &Endpoint, id: &str, err: &LambdaError) -> ApiRequest {
    ApiRequest {
        method: "POST",
        path: format!(
            "{}{API_VERSION}/runtime/invocation/{}/error",
            ep.prefix,
            encode_id(id)
        ),
        headers: vec![(
            "Lambda-Runtime-Function-Error-Type",
            err.kind().as_str().to_owned(),
        )],
        body: Some(err.to_json()),
    }
}

/// `POST /runtime/init/error` with `{errorMessage, errorType}`.
pub(crate) fn init_error_request(ep: &Endpoint, err: &LambdaError) -> ApiRequest {
    ApiRequest {
        method: "POST",
        path: format!("{}{API_VERSION}/runtime/init/error", ep.prefix),
        headers: vec![(
            "Lambda-Runtime-Function-Error-Type",
            err.kind().as_str().to_owned(),
        )],
        body: Some(err.to_json()),
    }
}

/// One invocation, as `/next` delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub(crate) request_id: String,
    /// `Lambda-Runtime-Deadline-Ms` as epoch milliseconds; `None` when absent or not an
    /// epoch time (some emulators send a relative or malformed value).
    pub(crate) deadline_ms: Option<u64>,
    /// `Lambda-Runtime-Trace-Id`.
    pub(crate) trace_id: Option<String>,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub(crate) function_arn: Option<String>,
    /// The event.
    pub(crate) body: Vec<u8>,
}

impl Invocation {
    /// Reads an invocation out of a `/next` response.
    pub(crate) fn from_response(resp: Response) -> Result<Invocation, RuntimeError> {
        let request_id = resp
            .header("lambda-runtime-aws-request-id")
            .filter(|id| !id.is_empty())
            .ok_or(RuntimeError::MissingRequestId)?
            .to_owned();
        let deadline_ms = resp
            .header("lambda-runtime-deadline-ms")
            .and_then(|v| v.parse::<u64>().ok())
            // Epoch milliseconds after 2001: anything smaller is not a wall-clock deadline.
            .filter(|&ms| ms > 1_000_000_000_000);
        Ok(Invocation {
            request_id,
            deadline_ms,
            trace_id: resp.header("lambda-runtime-trace-id").map(str::to_owned),
            function_arn: resp
                .header("lambda-runtime-invoked-function-arn")
                .map(str::to_owned),
            body: resp.body,
        })
    }

    /// Time left before the deadline, if the deadline is known.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        self.deadline_ms
            .map(|d| Duration::from_millis(d.saturating_sub(now)))
    }
}

/// A failed exchange: whether any byte of the request was written and whether a response
/// had begun.
#[derive(Debug)]
struct Failure {
    written: bool,
    answered: bool,
    error: HttpError,
}

/// Calls `work` once the request is written, then again as long as the peer has not begun
/// to answer on `s` (nor closed it) and `work` returns `true` (more to do). The first call
/// is made whatever the peer did: it is for work the answer needs anyway (preparing the
/// handler), which costs the same now as after the response. The peer is checked (a
/// non-blocking `peek`) before every later call, and the CPU is yielded after every call,
/// so a response that arrives waits for one step at most. `s` is blocking again
/// afterwards; an error is returned only if it cannot be made so.
fn work_while_waiting(s: &TcpStream, work: &mut dyn FnMut() -> bool) -> std::io::Result<()> {
    if !work() {
        return Ok(());
    }
    if s.set_nonblocking(true).is_err() {
        return Ok(());
    }
    loop {
        // The peer may be waiting for this CPU: woken by our request, the scheduler tends to
        // queue it here, behind a thread that never blocks. Without this the Runtime API's
        // answer came only once all the work was done.
        std::thread::yield_now();
        match s.peek(&mut [0u8; 1]) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !work() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Bytes, the end of the stream or an error: the blocking read that follows sees it.
            _ => break,
        }
    }
    s.set_nonblocking(false)
}

/// A blocking client over one kept-alive connection.
#[derive(Debug)]
pub(crate) struct Client {
    ep: Endpoint,
    conn: Option<BufReader<TcpStream>>,
    buf: Vec<u8>,
}

impl Client {
    /// A client for `ep`; connects on first use.
    pub(crate) fn new(ep: Endpoint) -> Client {
        Client {
            ep,
            conn: None,
            buf: Vec::with_capacity(4096),
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, HttpError> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.ep.addr)?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::with_capacity(16 * 1024, s));
        }
        self.conn.as_mut().ok_or(HttpError::Closed)
    }

    /// Sends a request and reads the response.
    ///
    /// A kept-alive connection that the peer closed while idle is noticed before writing a
    /// `POST` and reopened. After that, a failed exchange is retried once on a new connection only when
    /// it cannot have been received: a `GET` (which changes nothing) whose response had not
    /// begun, or any request of which not one byte was written. A `POST` that was written and
    /// got no response may have been received, so it is never sent twice (the Runtime API
    /// would then see two answers to one invocation): it fails with
    /// [`RuntimeError::Unconfirmed`] and the runtime exits.
    pub(crate) fn send(&mut self, req: &ApiRequest) -> Result<Response, RuntimeError> {
        self.send_while(req, None)
    }

    /// [`Client::send`], running `work` once the request is written, then step by step until
    /// the response begins or `work` returns `false` ([`work_while_waiting`]). A retried
    /// request waits without it.
    fn send_while(
        &mut self,
        req: &ApiRequest,
        work: Option<&mut dyn FnMut() -> bool>,
    ) -> Result<Response, RuntimeError> {
        let headers: Vec<(&str, &str)> =
            req.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        http::write_request(
            &mut self.buf,
            req.method,
            &self.ep.host,
            &req.path,
            &headers,
            req.body.as_deref(),
        );
        if req.method != "GET" {
            // A GET is retried below if its connection turns out closed; a POST is not.
            self.drop_if_closed();
        }
        let reused = self.conn.is_some();
        let result = match self.try_send(work) {
            Err(f) if reused && !f.answered && (req.method == "GET" || !f.written) => {
                self.conn = None;
                self.try_send(None)
            }
            other => other,
        };
        result.map_err(|f| {
            self.conn = None;
            if f.written && req.method != "GET" && !f.answered {
                RuntimeError::Unconfirmed {
                    path: req.path.clone(),
                    source: f.error,
                }
            } else {
                RuntimeError::Http(f.error)
            }
        })
    }

    /// Drops the kept-alive connection when the peer has closed it (a read would see the end
    /// of the stream now, without waiting).
    fn drop_if_closed(&mut self) {
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        if !conn.buffer().is_empty() {
            return;
        }
        let s = conn.get_ref();
        // End of stream or a reset: closed. Nothing to read yet (`WouldBlock`): alive.
        let closed = s.set_nonblocking(true).is_err()
            || match s.peek(&mut [0u8; 1]) {
                Ok(n) => n == 0,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            }
            || s.set_nonblocking(false).is_err();
        if closed {
            self.conn = None;
        }
    }

    /// Sends the rendered request once.
    fn try_send(&mut self, work: Option<&mut dyn FnMut() -> bool>) -> Result<Response, Failure> {
        use std::io::BufRead;
        let buf = std::mem::take(&mut self.buf);
        let mut written = false;
        let result = (|| {
            let fail = |written, answered, e: HttpError| Failure {
                written,
                answered,
                error: e,
            };
            let conn = self.connect().map_err(|e| fail(false, false, e))?;
            let mut rest = &buf[..];
            while !rest.is_empty() {
                match conn.get_mut().write(rest) {
                    Ok(0) => return Err(fail(written, false, HttpError::Closed)),
                    Ok(n) => {
                        written = true;
                        rest = &rest[n..];
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(fail(written, false, e.into())),
                }
            }
            if let Some(work) = work {
                if conn.buffer().is_empty() {
                    work_while_waiting(conn.get_ref(), work)
                        .map_err(|e| fail(true, false, e.into()))?;
                }
            }
            match conn.fill_buf() {
                Ok([]) => return Err(fail(true, false, HttpError::Closed)),
                Ok(_) => {}
                Err(e) => return Err(fail(true, false, e.into())),
            }
            http::read_response(conn).map_err(|e| fail(true, true, e))
        })();
        self.buf = buf;
        let resp = result?;
        if !resp.keep_alive {
            self.conn = None;
        }
        Ok(resp)
    }

    /// Waits for the next invocation.
    pub(crate) fn next_invocation(&mut self) -> Result<Invocation, RuntimeError> {
        self.next_invocation_while(None)
    }

    /// Waits for the next invocation, running `work` once the request is written and then
    /// step by step while the Runtime API has not begun to answer ([`work_while_waiting`]).
    pub(crate) fn next_invocation_while(
        &mut self,
        work: Option<&mut dyn FnMut() -> bool>,
    ) -> Result<Invocation, RuntimeError> {
        let resp = self.send_while(&next_request(&self.ep), work)?;
        if resp.status != 200 {
            return Err(RuntimeError::Status {
                endpoint: "next",
                status: resp.status,
            });
        }
        Invocation::from_response(resp)
    }

    fn post(&mut self, req: ApiRequest, endpoint: &'static str) -> Result<u16, RuntimeError> {
        let resp = self.send(&req)?;
        match resp.status {
            200..=299 => Ok(resp.status),
            500..=599 => Err(RuntimeError::Status {
                endpoint,
                status: resp.status,
            }),
            s => Ok(s),
        }
    }

    /// Posts an answer; one over [`MAX_RESPONSE`] (or refused with 413) becomes an error.
    pub(crate) fn respond(&mut self, id: &str, body: Vec<u8>) -> Result<(), RuntimeError> {
        if body.len() > MAX_RESPONSE {
            let err = LambdaError::new(
                ErrorKind::ResponseTooLarge,
                format!(
                    "response of {} bytes exceeds the {MAX_RESPONSE}-byte limit",
                    body.len()
                ),
            );
            return self.fail(id, &err);
        }
        match self.post(response_request(&self.ep, id, body), "response")? {
            413 => {
                let err = LambdaError::new(
                    ErrorKind::ResponseTooLarge,
                    "the Runtime API refused the response as too large",
                );
                self.fail(id, &err)
            }
            s if s >= 400 => {
                log::log(
                    Level::Warn,
                    Some(id),
                    format_args!("Runtime API answered {s} to the response"),
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Posts a function error.
    pub(crate) fn fail(&mut self, id: &str, err: &LambdaError) -> Result<(), RuntimeError> {
        let s = self.post(error_request(&self.ep, id, err), "error")?;
        if s >= 400 {
            log::log(
                Level::Warn,
                Some(id),
                format_args!("Runtime API answered {s} to the error report"),
            );
        }
        Ok(())
    }

    /// Reports a failed init.
    pub(crate) fn init_error(&mut self, err: &LambdaError) -> Result<(), RuntimeError> {
        self.post(init_error_request(&self.ep, err), "init/error")
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(v: &str) -> Endpoint {
        Endpoint::parse(v).unwrap()
    }

    #[test]
    fn endpoint_forms() {
        let a = ep("127.0.0.1:9001");
        assert_eq!(
            (a.host.as_str(), a.addr.port(), a.prefix.as_str()),
            ("127.0.0.1:9001", 9001, "")
        );
        let b = ep("http://127.0.0.1:9000/.rt");
        assert_eq!(
            (b.host.as_str(), b.addr.port(), b.prefix.as_str()),
            ("127.0.0.1:9000", 9000, "/.rt")
        );
        let c = ep("http://localhost:9000/.rt/");
        assert_eq!(c.prefix, "/.rt");
        assert!(c.addr.ip().is_loopback());
        assert_eq!(ep("[::1]:9001").addr.port(), 9001);
    }

    #[test]
    fn bad_endpoints_are_errors() {
        for v in [
            "",
            "127.0.0.1",
            "127.0.0.1:abc",
            "https://127.0.0.1:1/x",
            "http://",
            "127.0.0.1:70000",
            ":9001/x",
        ] {
            assert!(
                matches!(Endpoint::parse(v), Err(RuntimeError::BadEndpoint(_))),
                "{v:?}"
            );
        }
    }

    #[test]
    fn next_is_a_get_on_the_versioned_path() {
        let r = next_request(&ep("http://127.0.0.1:9000/.rt"));
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/.rt/2018-06-01/runtime/invocation/next");
        assert!(r.body.is_none());
    }

    #[test]
    fn response_posts_the_body_for_the_request_id() {
        let r = response_request(&ep("127.0.0.1:9001"), "abc-123", b"{}".to_vec());
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/2018-06-01/runtime/invocation/abc-123/response");
        assert_eq!(r.body.as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn error_carries_type_header_and_json_body() {
        let err = LambdaError::new(ErrorKind::InvalidInput, "expected 30 features, got 3");
        let r = error_request(&ep("127.0.0.1:9001"), "id", &err);
        assert_eq!(r.path, "/2018-06-01/runtime/invocation/id/error");
        assert_eq!(
            r.headers,
            vec![(
                "Lambda-Runtime-Function-Error-Type",
                "InvalidInput".to_owned()
            )]
        );
        let body: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["errorType"], "InvalidInput");
        assert_eq!(body["errorMessage"], "expected 30 features, got 3");
    }

    #[test]
    fn init_error_path() {
        let err = LambdaError::new(ErrorKind::InvalidModel, "bad");
        let r = init_error_request(&ep("127.0.0.1:9001"), &err);
        assert_eq!(r.path, "/2018-06-01/runtime/init/error");
        assert_eq!(r.headers[0].1, "InvalidModel");
    }

    #[test]
    fn hostile_request_ids_cannot_change_the_path() {
        let r = response_request(&ep("127.0.0.1:9001"), "../../x y?z", Vec::new());
        assert_eq!(
            r.path,
            "/2018-06-01/runtime/invocation/..%2F..%2Fx%20y%3Fz/response"
        );
    }

    #[test]
    fn invocation_headers() {
        let resp = Response {
            status: 200,
            headers: vec![
                ("lambda-runtime-aws-request-id".into(), "r1".into()),
                ("lambda-runtime-deadline-ms".into(), "1800000000000".into()),
                ("lambda-runtime-trace-id".into(), "Root=1-abc".into()),
            ],
            body: b"{}".to_vec(),
            keep_alive: true,
        };
        let inv = Invocation::from_response(resp).unwrap();
        assert_eq!(inv.request_id, "r1");
        assert_eq!(inv.deadline_ms, Some(1_800_000_000_000));
        assert_eq!(inv.trace_id.as_deref(), Some("Root=1-abc"));
    }

    #[test]
    fn odd_deadlines_are_unknown_not_errors() {
        for d in ["", "soon", "-5", "30000", "99999999999999999999999"] {
            let resp = Response {
                status: 200,
                headers: vec![
                    ("lambda-runtime-aws-request-id".into(), "r".into()),
                    ("lambda-runtime-deadline-ms".into(), d.into()),
                ],
                ..Response::default()
            };
            assert_eq!(
                Invocation::from_response(resp).unwrap().deadline_ms,
                None,
                "{d:?}"
            );
        }
    }

    #[test]
    fn missing_request_id_is_an_error() {
        let resp = Response {
            status: 200,
            ..Response::default()
        };
        assert!(matches!(
            Invocation::from_response(resp),
            Err(RuntimeError::MissingRequestId)
        ));
    }
}
