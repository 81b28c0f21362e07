//! The cold-start floor: a Lambda `bootstrap` that does the Runtime API round trip and
//! nothing else.
//!
//! It reads `AWS_LAMBDA_RUNTIME_API` (`host:port`, or `http://host:port/prefix` as emulators
//! give it), then loops over one kept-alive connection: `GET /runtime/invocation/next`, read
//! and drop the event, `POST /runtime/invocation/{id}/response` with the constant body `{}`.
//! No model, no JSON, no allocation beyond a few buffers, std only. Any real runtime has to
//! do at least this much, so `cargo xtask coldstart` reports the other bootstraps relative
//! to it. It exits (status 1, one line on stderr) on anything unexpected: this is a
//! measuring stick, not a runtime.

#![forbid(unsafe_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;

/// Largest event body read (the Runtime API's payload limit is 6 MB).
const MAX_BODY: usize = 16 * 1024 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor-bootstrap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Splits `AWS_LAMBDA_RUNTIME_API` into the `host:port` authority and the path prefix.
fn endpoint(value: &str) -> io::Result<(&str, &str)> {
    let rest = value.trim();
    let rest = rest.strip_prefix("http://").unwrap_or(rest);
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || rest.contains("://") {
        return Err(invalid(format!("bad AWS_LAMBDA_RUNTIME_API {value:?}")));
    }
    Ok((authority, prefix.trim_end_matches('/')))
}

fn run() -> io::Result<()> {
    let value = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| invalid("AWS_LAMBDA_RUNTIME_API is not set"))?;
    let (authority, prefix) = endpoint(&value)?;
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(format!("{authority} resolves to no address")))?;
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);

    let next = format!(
        "GET {prefix}/2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    );
    let mut out = Vec::with_capacity(256);
    let mut line = String::with_capacity(256);
    let mut body = Vec::with_capacity(4096);
    loop {
        writer.write_all(next.as_bytes())?;
        let (status, request_id) = read_response(&mut reader, &mut line, &mut body)?;
        if status != 200 {
            return Err(invalid(format!("/next answered {status}")));
        }
        let id = request_id.ok_or_else(|| invalid("invocation without a request id"))?;
        out.clear();
        write!(
            out,
            "POST {prefix}/2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\n\
             Host: {authority}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        )?;
        writer.write_all(&out)?;
        let (status, _) = read_response(&mut reader, &mut line, &mut body)?;
        if !(200..300).contains(&status) {
            return Err(invalid(format!("/response answered {status}")));
        }
    }
}

/// Reads one `Content-Length`-framed response into `body`; returns the status and the
/// `Lambda-Runtime-Aws-Request-Id` header if it holds a plain, path-safe id.
fn read_response(
    r: &mut BufReader<TcpStream>,
    line: &mut String,
    body: &mut Vec<u8>,
) -> io::Result<(u16, Option<String>)> {
    read_line(r, line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    let mut request_id = None;
    loop {
        read_line(r, line)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid(format!("bad header {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            len = value
                .parse()
                .ok()
                .filter(|&n| n <= MAX_BODY)
                .ok_or_else(|| invalid(format!("bad Content-Length {value:?}")))?;
        } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
            let safe = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            request_id = safe.then(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked bodies are not supported"));
        }
    }
    body.resize(len, 0);
    r.read_exact(body)?;
    Ok((status, request_id))
}

/// Reads one CRLF-terminated line (without the CRLF); end of stream is an error.
fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.by_ref().take(16 * 1024).read_line(line)? == 0 || !line.ends_with('\n') {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let end = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(end);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoint_forms() {
        assert_eq!(
            endpoint("127.0.0.1:9001").ok(),
            Some(("127.0.0.1:9001", ""))
        );
        assert_eq!(
            endpoint("http://localhost:9000/.rt/").ok(),
            Some(("localhost:9000", "/.rt"))
        );
        assert!(endpoint("https://x:1").is_err());
        assert!(endpoint("").is_err());
    }
}
