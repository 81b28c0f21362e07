//! Just enough HTTP/1.1 for the Runtime API: requests rendered into a buffer, responses parsed
//! from a buffered stream with hard limits, keep-alive, `Content-Length` and chunked bodies.
//! Every malformed input is an [`HttpError`], never a panic.

use std::fmt;
use std::io::{self, BufRead, Read};

/// Longest status line or header line accepted.
pub(crate) const MAX_LINE: usize = 16 * 1024;
/// Most header lines accepted in one response.
pub(crate) const MAX_HEADERS: usize = 128;
/// Largest body accepted (the Runtime API's payloads are at most 6 MB).
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

/// A failure to speak HTTP with the peer.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the connection before a complete response.
    Closed,
    /// The peer sent something that is not HTTP/1.x.
    Malformed(&'static str),
    /// A line, header block or body is over its limit.
    TooLarge(&'static str),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
            HttpError::Closed => write!(f, "connection closed before a complete response"),
            HttpError::Malformed(what) => write!(f, "malformed HTTP response: {what}"),
            HttpError::TooLarge(what) => write!(f, "HTTP response {what} is too large"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            HttpError::Closed
        } else {
            HttpError::Io(e)
        }
    }
}

/// A parsed response.
#[derive(Debug, Default)]
pub(crate) struct Response {
    /// Status code.
    pub(crate) status: u16,
    /// Header names (lower-cased) and values, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// Whether the connection can carry another request.
    pub(crate) keep_alive: bool,
}

impl Response {
    /// The first header of that (lower-case) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Renders a request into `out` (cleared first).
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) {
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: icebreak/");
    out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        // Header values never carry CR or LF: a hostile value cannot inject headers.
        out.extend(value.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one line (without CRLF), bounded by [`MAX_LINE`].
fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> Result<(), HttpError> {
    line.clear();
    let n = r
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', line)?;
    if n == 0 {
        return Err(HttpError::Closed);
    }
    if line.last() != Some(&b'\n') {
        return if line.len() > MAX_LINE {
            Err(HttpError::TooLarge("line"))
        } else {
            Err(HttpError::Closed)
        };
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(())
}

/// Reads one response from `r`.
pub(crate) fn read_response<R: BufRead>(r: &mut R) -> Result<Response, HttpError> {
    let mut line = Vec::with_capacity(128);
    read_line(r, &mut line)?;
    let status_line =
        std::str::from_utf8(&line).map_err(|_| HttpError::Malformed("status line is not UTF-8"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..=999).contains(s))
        .ok_or(HttpError::Malformed("bad status code"))?;
    let mut resp = Response {
        status,
        keep_alive: version == "HTTP/1.1",
        ..Response::default()
    };
    loop {
        read_line(r, &mut line)?;
        if line.is_empty() {
            break;
        }
        if resp.headers.len() >= MAX_HEADERS {
            return Err(HttpError::TooLarge("header block"));
        }
        let text =
            std::str::from_utf8(&line).map_err(|_| HttpError::Malformed("header is not UTF-8"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or(HttpError::Malformed("header without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(HttpError::Malformed("empty header name"));
        }
        resp.headers.push((name, value.trim().to_owned()));
    }
    if let Some(c) = resp.header("connection") {
        if c.eq_ignore_ascii_case("close") {
            resp.keep_alive = false;
        } else if c.eq_ignore_ascii_case("keep-alive") {
            resp.keep_alive = true;
        }
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if no_body {
        return Ok(resp);
    }
    if chunked {
        read_chunked(r, &mut resp.body, &mut line)?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(HttpError::TooLarge("body"));
        }
        resp.body.resize(len, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        // Delimited by the end of the connection.
        resp.keep_alive = false;
        r.by_ref()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut resp.body)?;
        if resp.body.len() > MAX_BODY {
            return Err(HttpError::TooLarge("body"));
        }
    }
    Ok(resp)
}

fn read_chunked<R: BufRead>(
    r: &mut R,
    body: &mut Vec<u8>,
    line: &mut Vec<u8>,
) -> Result<(), HttpError> {
    loop {
        read_line(r, line)?;
        let text = std::str::from_utf8(line).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size = text.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                read_line(r, line)?;
                if line.is_empty() {
                    return Ok(());
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(HttpError::TooLarge("body"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        read_line(r, line)?;
        if !line.is_empty() {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Response, HttpError> {
        read_response(&mut io::Cursor::new(raw))
    }

    #[test]
    fn renders_a_get_without_body() {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "GET",
            "127.0.0.1:9001",
            "/2018-06-01/runtime/invocation/next",
            &[],
            None,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
        ));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Content-Length"));
    }

    #[test]
    fn renders_a_post_with_length_and_strips_crlf_from_values() {
        let mut out = Vec::new();
        write_request(
            &mut out,
            "POST",
            "h",
            "/p",
            &[("X-A", "a\r\nInjected: 1")],
            Some(b"{}"),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("X-A: aInjected: 1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n\r\n{}"));
    }

    #[test]
    fn parses_content_length_body_and_headers() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: abc\r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("lambda-runtime-aws-request-id"), Some("abc"));
        assert_eq!(r.body, b"{}");
        assert!(r.keep_alive);
    }

    #[test]
    fn parses_chunked_body() {
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn body_until_close_ends_keep_alive() {
        let r = parse(b"HTTP/1.1 202 Accepted\r\n\r\nok").unwrap();
        assert_eq!(r.body, b"ok");
        assert!(!r.keep_alive);
    }

    #[test]
    fn connection_close_header_ends_keep_alive() {
        let r = parse(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn truncated_responses_are_closed_errors() {
        assert!(matches!(parse(b""), Err(HttpError::Closed)));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Le"),
            Err(HttpError::Closed)
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            Err(HttpError::Closed)
        ));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            parse(b"SSH-2.0 hello\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 abc OK\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(HttpError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_responses_are_refused() {
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(matches!(
            parse(huge.as_bytes()),
            Err(HttpError::TooLarge("body"))
        ));
        let long_line = format!(
            "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_LINE + 10)
        );
        assert!(matches!(
            parse(long_line.as_bytes()),
            Err(HttpError::TooLarge("line"))
        ));
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(matches!(
            parse(raw.as_bytes()),
            Err(HttpError::TooLarge("header block"))
        ));
    }
}
