//! Errors: [`ServeError`] for starting and running a server, `ApiError` for the JSON error
//! answers of the HTTP API (the protocol's status rules and `{"errorMessage", "errorType"}`
//! bodies).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use icebreak_format::FormatError;
use icebreak_protocol::http::HttpError;
use icebreak_protocol::{error_body, Error};
use std::fmt;
use std::path::PathBuf;

/// Why a server could not start or stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// A model argument is neither `PATH` nor `NAME=PATH` with a usable name.
    BadSpec(String),
    /// No model was given.
    NoModels,
    /// Two models have the same name.
    DuplicateName(String),
    /// A model file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A model file is not a valid `.apr` model (structure or checksum).
    InvalidModel {
        /// The file.
        path: PathBuf,
        /// The error.
        source: FormatError,
    },
    /// The model cannot be served.
    Handler {
        /// The file.
        path: PathBuf,
        /// The error.
        source: Error,
    },
    /// Binding or serving failed.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::BadSpec(s) => write!(
                f,
                "model argument {s:?} is not PATH or NAME=PATH (names: letters, digits, '.', '_', '-')"
            ),
            ServeError::NoModels => f.write_str("no model to serve"),
            ServeError::DuplicateName(n) => {
                write!(f, "two models are named {n:?}; name one with NAME=PATH")
            }
            ServeError::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            ServeError::InvalidModel { path, .. } => {
                write!(f, "{} is not a valid .apr model", path.display())
            }
            ServeError::Handler { path, .. } => {
                write!(f, "{} cannot be served", path.display())
            }
            ServeError::Io(_) => f.write_str("server I/O error"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Read { source, .. } => Some(source),
            ServeError::InvalidModel { source, .. } => Some(source),
            ServeError::Handler { source, .. } => Some(source),
            ServeError::Io(e) => Some(e),
            ServeError::BadSpec(_) | ServeError::NoModels | ServeError::DuplicateName(_) => None,
        }
    }
}

/// The `errorType` of an answer, kept in the response's extensions for metrics and logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorType(pub(crate) &'static str);

/// A JSON error answer: `{"errorMessage": ..., "errorType": ...}`, as the protocol renders
/// every error.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
    pub(crate) headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            error_type,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A protocol error: bad events and bad features are the client's (400); anything else
    /// is ours (500).
    pub(crate) fn from_protocol(e: &Error) -> ApiError {
        ApiError::from(icebreak_protocol::http::from_error(e))
    }
}

impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> ApiError {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = ApiError::new(status, e.error_type, e.message);
        if let Some(allow) = e.allow {
            err = err.with_header(header::ALLOW, HeaderValue::from_static(allow));
        }
        err
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status, error_body(self.error_type, &self.message));
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp.extensions_mut().insert(ErrorType(self.error_type));
        resp
    }
}
