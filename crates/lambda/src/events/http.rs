//! HTTP-shaped events in (Function URL and API Gateway HTTP API payload 2.0, API Gateway REST
//! payload 1.0, ALB) and the HTTP-shaped answers out.

use base64::Engine as _;
use icebreak_protocol::http::HttpError;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Which service sent an HTTP-shaped event; it decides the answer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HttpSource {
    /// Function URL or API Gateway HTTP API, payload format 2.0.
    V2,
    /// API Gateway REST API (payload format 1.0).
    V1,
    /// Application Load Balancer.
    Alb,
}

/// An HTTP request, with its body decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpRequest {
    /// Who sent it.
    pub(crate) source: HttpSource,
    /// Method, upper case.
    pub(crate) method: String,
    /// Path, without an API Gateway stage prefix.
    pub(crate) path: String,
    /// `Content-Type`, if given.
    pub(crate) content_type: Option<String>,
    /// The body, base64-decoded where it was encoded; `Err` if the encoding was broken.
    pub(crate) body: Result<Vec<u8>, String>,
}

/// The `Content-Type` of an HTTP event's `headers` (any case), read without copying the other
/// headers: an API Gateway event carries a dozen of them.
#[derive(Default)]
pub(crate) struct ContentType(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for ContentType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Headers;
        impl<'de> Visitor<'de> for Headers {
            type Value = ContentType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of headers or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ContentType, E> {
                Ok(ContentType(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<ContentType, E> {
                Ok(ContentType(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ContentType, D::Error> {
                d.deserialize_map(self)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<ContentType, A::Error> {
                let mut found = None;
                while let Some(IsContentType(is)) = map.next_key()? {
                    if is {
                        found = map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ContentType(found))
            }
        }
        d.deserialize_option(Headers)
    }
}

/// A header name, compared with `content-type` without being copied.
struct IsContentType(bool);

impl<'de> Deserialize<'de> for IsContentType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl Visitor<'_> for Key {
            type Value = IsContentType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsContentType, E> {
                Ok(IsContentType(v.eq_ignore_ascii_case("content-type")))
            }
        }
        d.deserialize_str(Key)
    }
}

#[derive(Deserialize)]
pub(crate) struct RequestContext {
    #[serde(default)]
    http: Option<HttpContext>,
    #[serde(default)]
    elb: Option<IgnoredAny>,
    #[serde(default)]
    stage: Option<String>,
}

#[derive(Deserialize)]
struct HttpContext {
    method: String,
    #[serde(default)]
    path: Option<String>,
}

/// The HTTP fields of an event's envelope, taken out of it.
pub(crate) struct Fields {
    pub(crate) http_method: Option<String>,
    pub(crate) raw_path: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) is_base64_encoded: Option<bool>,
    pub(crate) content_type: Option<String>,
}

/// The HTTP request an event carries, if it is HTTP-shaped.
pub(crate) fn request(ctx: Option<&RequestContext>, env: Fields) -> Option<HttpRequest> {
    let (source, method, path) = if let Some(http) = ctx.and_then(|c| c.http.as_ref()) {
        let mut path = env
            .raw_path
            .clone()
            .or_else(|| http.path.clone())
            .unwrap_or_else(|| "/".into());
        // HTTP APIs put a named stage in front of the path; "$default" adds nothing.
        if let Some(stage) = ctx
            .and_then(|c| c.stage.as_deref())
            .filter(|s| *s != "$default")
        {
            let prefix = format!("/{stage}");
            if path == prefix || path.starts_with(&format!("{prefix}/")) {
                path = path[prefix.len()..].to_owned();
            }
        }
        (HttpSource::V2, http.method.clone(), path)
    } else if let Some(method) = &env.http_method {
        let source = if ctx.is_some_and(|c| c.elb.is_some()) {
            HttpSource::Alb
        } else {
            HttpSource::V1
        };
        (
            source,
            method.clone(),
            env.path.clone().unwrap_or_else(|| "/".into()),
        )
    } else {
        return None;
    };
    let raw = env.body.unwrap_or_default();
    let body = if env.is_base64_encoded == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|e| format!("body is not valid base64: {e}"))
    } else {
        Ok(raw.into_bytes())
    };
    let content_type = env.content_type;
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    Some(HttpRequest {
        source,
        method: method.to_ascii_uppercase(),
        path,
        content_type,
        body,
    })
}

/// An HTTP-shaped answer for API Gateway, Function URLs and ALBs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpResponse {
    /// Status code.
    pub(crate) status_code: u16,
    /// ALB only: e.g. `200 OK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status_description: Option<String>,
    /// Headers.
    pub(crate) headers: BTreeMap<&'static str, String>,
    /// The JSON body, as a string.
    pub(crate) body: String,
    /// Always false: bodies are JSON text.
    pub(crate) is_base64_encoded: bool,
}

impl HttpResponse {
    /// A JSON answer.
    pub(crate) fn json(source: HttpSource, status: u16, body: Vec<u8>) -> HttpResponse {
        let mut headers = BTreeMap::new();
        headers.insert("content-type", "application/json".to_owned());
        HttpResponse {
            status_code: status,
            status_description: (source == HttpSource::Alb)
                .then(|| format!("{status} {}", reason(status))),
            headers,
            body: String::from_utf8(body).unwrap_or_default(),
            is_base64_encoded: false,
        }
    }

    /// An error answer, with its `Allow` header if it has one.
    pub(crate) fn error(source: HttpSource, e: &HttpError) -> HttpResponse {
        let mut r = HttpResponse::json(source, e.status, e.body());
        if let Some(allow) = e.allow {
            r.headers.insert("allow", allow.to_owned());
        }
        r
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        _ => "",
    }
}
