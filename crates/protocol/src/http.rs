//! The HTTP status rules, shared by Lambda's HTTP-shaped events (Function URLs, API Gateway,
//! ALBs) and the HTTP server:
//!
//! | status | `errorType` | when |
//! |---|---|---|
//! | 400 | `InvalidEvent`, `InvalidInput` | the body or its features are malformed ([`from_error`]) |
//! | 404 | `NotFound` | no such route ([`not_found`]) |
//! | 405 | `MethodNotAllowed` | the route exists, the method does not ([`method_not_allowed`]), with `Allow` |
//! | 413 | `PayloadTooLarge` | the body is over the limit ([`check_body_size`], [`payload_too_large`]) |
//! | 415 | `UnsupportedMediaType` | a content type that is not JSON; none at all is fine ([`check_content_type`]) |
//! | 500 | the error's kind | the server's fault ([`from_error`]) |
//!
//! Every error answer's body is `{"errorMessage", "errorType"}` ([`HttpError::body`]).

use crate::error::{error_body, Error};

/// Largest request body accepted unless configured otherwise (1 MiB); the variable
/// `ICEBREAK_MAX_BODY_BYTES` sets it on Lambda and for the server.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// An HTTP error answer: status, `errorType`, message, and for 405 the `Allow` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// Status code.
    pub status: u16,
    /// The `errorType`.
    pub error_type: &'static str,
    /// The `errorMessage`.
    pub message: String,
    /// The `Allow` header's value (405 only).
    pub allow: Option<&'static str>,
}

impl HttpError {
    /// An error answer.
    pub fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            error_type,
            message: message.into(),
            allow: None,
        }
    }

    /// Adds an `Allow` header.
    pub fn with_allow(mut self, allow: &'static str) -> HttpError {
        self.allow = Some(allow);
        self
    }

    /// The JSON body: `{"errorMessage", "errorType"}`.
    pub fn body(&self) -> Vec<u8> {
        error_body(self.error_type, &self.message)
    }
}

/// A protocol error as an HTTP answer: bad events and bad features are the client's (400);
/// anything else is the server's (500).
pub fn from_error(e: &Error) -> HttpError {
    let status = if e.kind().is_client_error() { 400 } else { 500 };
    HttpError::new(status, e.kind().as_str(), e.message())
}

/// 404: no route for `method` `path`.
pub fn not_found(method: &str, path: &str) -> HttpError {
    HttpError::new(404, "NotFound", format!("no route for {method} {path}"))
}

/// 405: `method` is not one `path` takes. Add the methods it takes with
/// [`HttpError::with_allow`].
pub fn method_not_allowed(method: &str, path: &str) -> HttpError {
    HttpError::new(
        405,
        "MethodNotAllowed",
        format!("{method} is not allowed on {path}"),
    )
}

/// 415 unless the content type is JSON (any type containing `json`, in any case). No
/// content type at all is accepted.
pub fn check_content_type(content_type: Option<&[u8]>) -> Result<(), HttpError> {
    let Some(ct) = content_type else {
        return Ok(());
    };
    let json = std::str::from_utf8(ct).is_ok_and(|v| v.to_ascii_lowercase().contains("json"));
    if json {
        return Ok(());
    }
    Err(HttpError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "content type {:?} is not JSON; send application/json",
            String::from_utf8_lossy(ct)
        ),
    ))
}

/// 413: a body over `limit` bytes; `len` when it is known.
pub fn payload_too_large(len: Option<u64>, limit: usize) -> HttpError {
    let what = len.map_or_else(|| "body".to_owned(), |n| format!("body of {n} bytes"));
    HttpError::new(
        413,
        "PayloadTooLarge",
        format!("{what} exceeds the {limit}-byte limit"),
    )
}

/// 413 when a body of `len` bytes is over `limit`.
pub fn check_body_size(len: u64, limit: usize) -> Result<(), HttpError> {
    if len > limit as u64 {
        return Err(payload_too_large(Some(len), limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn client_errors_are_400_others_500() {
        let e = from_error(&Error::new(ErrorKind::InvalidInput, "bad"));
        assert_eq!(
            (e.status, e.error_type, e.message.as_str()),
            (400, "InvalidInput", "bad")
        );
        assert_eq!(
            from_error(&Error::new(ErrorKind::InvalidEvent, "x")).status,
            400
        );
        assert_eq!(
            from_error(&Error::new(ErrorKind::InvalidModel, "x")).status,
            500
        );
        assert_eq!(
            from_error(&Error::new(ErrorKind::ResponseTooLarge, "x")).status,
            500
        );
    }

    #[test]
    fn routes_and_methods() {
        let e = not_found("GET", "/nope");
        assert_eq!((e.status, e.error_type), (404, "NotFound"));
        assert_eq!(e.message, "no route for GET /nope");
        let e = method_not_allowed("DELETE", "/models").with_allow("GET, HEAD");
        assert_eq!((e.status, e.error_type), (405, "MethodNotAllowed"));
        assert_eq!(e.message, "DELETE is not allowed on /models");
        assert_eq!(e.allow, Some("GET, HEAD"));
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(None).is_ok());
        assert!(check_content_type(Some(b"application/json")).is_ok());
        assert!(check_content_type(Some(b"Application/JSON; charset=utf-8")).is_ok());
        assert!(check_content_type(Some(b"application/vnd.api+json")).is_ok());
        let e = check_content_type(Some(b"text/csv")).unwrap_err();
        assert_eq!((e.status, e.error_type), (415, "UnsupportedMediaType"));
        assert_eq!(
            e.message,
            "content type \"text/csv\" is not JSON; send application/json"
        );
        assert_eq!(
            check_content_type(Some(b"json\xff")).unwrap_err().status,
            415
        );
    }

    #[test]
    fn body_limits() {
        assert!(check_body_size(256, 256).is_ok());
        let e = check_body_size(300, 256).unwrap_err();
        assert_eq!((e.status, e.error_type), (413, "PayloadTooLarge"));
        assert_eq!(e.message, "body of 300 bytes exceeds the 256-byte limit");
        assert_eq!(
            payload_too_large(None, 256).message,
            "body exceeds the 256-byte limit"
        );
    }

    #[test]
    fn error_answers_have_the_protocol_body() {
        let v: serde_json::Value = serde_json::from_slice(&not_found("GET", "/x").body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorType": "NotFound", "errorMessage": "no route for GET /x"})
        );
    }
}
