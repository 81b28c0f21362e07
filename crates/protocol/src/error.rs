//! The protocol's error: a kind (its name is the `errorType`) and a message.

use icebreak_engine::EngineError;
use icebreak_format::FormatError;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::fmt;

/// The kind of an [`Error`]; its name is the `errorType` of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The event is not JSON, or not of a shape the function accepts.
    InvalidEvent,
    /// The event is well formed but its features are not (count, NaN, infinity, empty).
    InvalidInput,
    /// The model is broken.
    InvalidModel,
    /// The answer would exceed the transport's response limit.
    ResponseTooLarge,
}

impl ErrorKind {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "InvalidEvent",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::InvalidModel => "InvalidModel",
            ErrorKind::ResponseTooLarge => "ResponseTooLarge",
        }
    }

    /// Whether the caller is at fault (a bad event or bad features) rather than the server.
    pub fn is_client_error(self) -> bool {
        matches!(self, ErrorKind::InvalidEvent | ErrorKind::InvalidInput)
    }
}

/// A request that got no answer: rendered as `{"errorMessage", "errorType"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The JSON body `{"errorMessage", "errorType"}`.
    pub fn to_json(&self) -> Vec<u8> {
        error_body(self.kind.as_str(), &self.message)
    }
}

/// The JSON error body every transport answers with: `{"errorMessage": ..., "errorType": ...}`.
pub fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&Body {
        error_message: message,
        error_type,
    })
    .unwrap_or_else(|_| {
        br#"{"errorMessage":"unserialisable error","errorType":"InvalidEvent"}"#.to_vec()
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    error_message: &'a str,
    error_type: &'a str,
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("errorMessage", &self.message)?;
        m.serialize_entry("errorType", self.kind.as_str())?;
        m.end()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::new(
            ErrorKind::InvalidModel,
            format!("embedded model is invalid: {e}"),
        )
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error::new(ErrorKind::InvalidInput, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn error_body_has_message_and_type() {
        let e = Error::new(ErrorKind::InvalidInput, "expected 30 features, got \"3\"");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorMessage": "expected 30 features, got \"3\"", "errorType": "InvalidInput"})
        );
        assert_eq!(serde_json::to_vec(&e).unwrap(), e.to_json());
        assert_eq!(
            error_body("NotFound", "x"),
            br#"{"errorMessage":"x","errorType":"NotFound"}"#.to_vec()
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(ErrorKind::InvalidModel.as_str(), "InvalidModel");
        assert!(ErrorKind::InvalidEvent.is_client_error());
        assert!(ErrorKind::InvalidInput.is_client_error());
        assert!(!ErrorKind::InvalidModel.is_client_error());
        assert!(!ErrorKind::ResponseTooLarge.is_client_error());
        assert_eq!(
            Error::new(ErrorKind::InvalidEvent, "m").to_string(),
            "InvalidEvent: m"
        );
    }
}
