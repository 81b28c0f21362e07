//! The events a function is invoked with, recognised in one JSON pass.
//!
//! - Direct invocation: `{"features": [...]}` or `{"instances": [{"features": [...]}, ...]}`.
//!   Features are JSON numbers; `null` marks a missing value (NaN), which only models that
//!   accept missing values take. Unknown fields are ignored, so callers may add their own ids.
//! - HTTP-shaped: Function URL and API Gateway HTTP API (payload 2.0), API Gateway REST (v1),
//!   and Application Load Balancer events. Their body (base64 or not) is a direct event.
//! - SQS batches: `{"Records": [{"messageId", "body", "eventSource": "aws:sqs"}, ...]}`; each
//!   record's body is a direct event.

use crate::handler::{ErrorKind, LambdaError, LambdaRequest};
use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::fmt;

/// A parsed event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One instance.
    Single(LambdaRequest),
    /// Several instances, each parsed on its own.
    Batch(Vec<Result<LambdaRequest, LambdaError>>),
    /// An HTTP request from a Function URL, API Gateway or an ALB.
    Http(HttpRequest),
    /// SQS messages.
    Sqs(Vec<SqsRecord>),
}

/// Which service sent an HTTP-shaped event; it decides the answer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpSource {
    /// Function URL or API Gateway HTTP API, payload format 2.0.
    V2,
    /// API Gateway REST API (payload format 1.0).
    V1,
    /// Application Load Balancer.
    Alb,
}

/// An HTTP request, with its body decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Who sent it.
    pub source: HttpSource,
    /// Method, upper case.
    pub method: String,
    /// Path, without an API Gateway stage prefix.
    pub path: String,
    /// `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The body, base64-decoded where it was encoded; `Err` if the encoding was broken.
    pub body: Result<Vec<u8>, String>,
}

/// One SQS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsRecord {
    /// `messageId`, reported back in `batchItemFailures`.
    pub message_id: String,
    /// The message body: a direct event.
    pub body: String,
}

/// One feature value: a number, or `null` for missing.
struct Feature(f64);

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Feature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or null")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Feature, E> {
                Ok(Feature(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Feature, E> {
                Ok(Feature(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Feature, E> {
                Ok(Feature(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Feature, E> {
                Ok(Feature(f64::NAN))
            }
            fn visit_none<E: de::Error>(self) -> Result<Feature, E> {
                Ok(Feature(f64::NAN))
            }
        }
        d.deserialize_any(V)
    }
}

/// Every shape at once; which fields are present says what the event is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    features: Option<Vec<Feature>>,
    #[serde(default)]
    instances: Option<Vec<serde_json::Value>>,
    // HTTP (v1 and ALB: httpMethod + path; v2: requestContext.http + rawPath)
    #[serde(default)]
    http_method: Option<String>,
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
    #[serde(default)]
    headers: ContentType,
    #[serde(default)]
    request_context: Option<RequestContext>,
    // SQS
    #[serde(default, rename = "Records")]
    records: Option<Vec<RawRecord>>,
}

/// The `Content-Type` of an HTTP event's `headers` (any case), read without copying the other
/// headers: an API Gateway event carries a dozen of them.
#[derive(Default)]
struct ContentType(Option<String>);

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
struct RequestContext {
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    event_source: Option<String>,
}

#[derive(Deserialize)]
struct Instance {
    features: Vec<Feature>,
}

const SHAPE: &str =
    r#"expected {"features": [numbers]} or {"instances": [{"features": [numbers]}, ...]}"#;

fn request(features: Vec<Feature>) -> Result<LambdaRequest, LambdaError> {
    if features.is_empty() {
        return Err(LambdaError::new(
            ErrorKind::InvalidInput,
            "\"features\" is empty",
        ));
    }
    Ok(LambdaRequest {
        features: features.into_iter().map(|f| f.0).collect(),
    })
}

fn json_error(e: serde_json::Error, event: &[u8]) -> LambdaError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data if looks_like_object(event) => {
            LambdaError::new(ErrorKind::InvalidInput, format!("invalid request: {e}"))
        }
        Category::Data => LambdaError::new(ErrorKind::InvalidEvent, format!("{SHAPE}: {e}")),
        _ => LambdaError::new(
            ErrorKind::InvalidEvent,
            format!("event is not valid JSON: {e}"),
        ),
    }
}

/// Parses any event. `n_features` is used only in messages.
pub fn parse(event: &[u8], n_features: usize) -> Result<Event, LambdaError> {
    let env: Envelope = serde_json::from_slice(event).map_err(|e| json_error(e, event))?;
    let mut env = env;
    if let Some(http) = http_request(&mut env)? {
        return Ok(Event::Http(http));
    }
    if let Some(records) = env.records {
        if env.features.is_none() && env.instances.is_none() {
            return sqs(records).map(Event::Sqs);
        }
    }
    direct(env.features, env.instances, n_features)
}

/// Parses a direct event only (an HTTP body or an SQS message body).
pub fn parse_direct(event: &[u8], n_features: usize) -> Result<Event, LambdaError> {
    #[derive(Deserialize)]
    struct Direct {
        #[serde(default)]
        features: Option<Vec<Feature>>,
        #[serde(default)]
        instances: Option<Vec<serde_json::Value>>,
    }
    let d: Direct = serde_json::from_slice(event).map_err(|e| json_error(e, event))?;
    direct(d.features, d.instances, n_features)
}

fn direct(
    features: Option<Vec<Feature>>,
    instances: Option<Vec<serde_json::Value>>,
    n_features: usize,
) -> Result<Event, LambdaError> {
    match (features, instances) {
        (Some(features), None) => request(features).map(Event::Single),
        (None, Some(instances)) => {
            if instances.is_empty() {
                return Err(LambdaError::new(
                    ErrorKind::InvalidInput,
                    "\"instances\" is empty",
                ));
            }
            Ok(Event::Batch(
                instances
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let inst: Instance = serde_json::from_value(v).map_err(|e| {
                            LambdaError::new(ErrorKind::InvalidInput, format!("instance {i}: {e}"))
                        })?;
                        request(inst.features)
                    })
                    .collect(),
            ))
        }
        (Some(_), Some(_)) => Err(LambdaError::new(
            ErrorKind::InvalidEvent,
            "event has both \"features\" and \"instances\"; send one",
        )),
        (None, None) => Err(LambdaError::new(
            ErrorKind::InvalidEvent,
            format!("{SHAPE} (this model takes {n_features} features)"),
        )),
    }
}

fn http_request(env: &mut Envelope) -> Result<Option<HttpRequest>, LambdaError> {
    let ctx = env.request_context.as_ref();
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
        return Ok(None);
    };
    let raw = env.body.take().unwrap_or_default();
    let body = if env.is_base64_encoded == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|e| format!("body is not valid base64: {e}"))
    } else {
        Ok(raw.into_bytes())
    };
    let content_type = env.headers.0.take();
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    Ok(Some(HttpRequest {
        source,
        method: method.to_ascii_uppercase(),
        path,
        content_type,
        body,
    }))
}

fn sqs(records: Vec<RawRecord>) -> Result<Vec<SqsRecord>, LambdaError> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if r.event_source.as_deref() != Some("aws:sqs") {
                return Err(LambdaError::new(
                    ErrorKind::InvalidEvent,
                    format!("record {i} is not an SQS message (eventSource is not \"aws:sqs\")"),
                ));
            }
            let message_id = r.message_id.filter(|m| !m.is_empty()).ok_or_else(|| {
                LambdaError::new(
                    ErrorKind::InvalidEvent,
                    format!("SQS record {i} has no messageId"),
                )
            })?;
            Ok(SqsRecord {
                message_id,
                body: r.body.unwrap_or_default(),
            })
        })
        .collect()
}

fn looks_like_object(event: &[u8]) -> bool {
    event.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result<Event, LambdaError>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn single_instance() {
        let e = parse(br#"{"features": [1, 2.5, -3e2, null], "id": "x"}"#, 4).unwrap();
        let Event::Single(req) = e else {
            panic!("not single")
        };
        assert_eq!(&req.features[..3], &[1.0, 2.5, -300.0]);
        assert!(req.features[3].is_nan());
    }

    #[test]
    fn batch_items_fail_alone() {
        let e = parse(
            br#"{"instances": [{"features": [1]}, {"features": ["a"]}, {"nope": 1}, {"features": []}]}"#,
            1,
        )
        .unwrap();
        let Event::Batch(items) = e else {
            panic!("not batch")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap().features, vec![1.0]);
        for bad in &items[1..] {
            assert_eq!(bad.as_ref().unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        assert!(items[1]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("instance 1"));
    }

    #[test]
    fn bad_events() {
        assert_eq!(kind(parse(b"not json", 2)), ErrorKind::InvalidEvent);
        assert_eq!(kind(parse(b"", 2)), ErrorKind::InvalidEvent);
        assert_eq!(kind(parse(b"[1,2]", 2)), ErrorKind::InvalidEvent);
        assert_eq!(kind(parse(b"{}", 2)), ErrorKind::InvalidEvent);
        assert_eq!(
            kind(parse(br#"{"features":[1],"instances":[]}"#, 2)),
            ErrorKind::InvalidEvent
        );
        assert_eq!(
            kind(parse(br#"{"features": [1, "two"]}"#, 2)),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(parse(br#"{"features": []}"#, 2)),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(parse(br#"{"instances": []}"#, 2)),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(parse(br#"{"features": {"a": 1}}"#, 2)),
            ErrorKind::InvalidInput
        );
        let msg = parse(br#"{"features": [1, "two"]}"#, 2)
            .unwrap_err()
            .message()
            .to_owned();
        assert!(msg.contains("a number or null"), "{msg}");
    }

    #[test]
    fn http_v2_with_stage_and_base64_body() {
        let ev = br#"{"version":"2.0","rawPath":"/prod/predict","isBase64Encoded":true,
            "body":"eyJmZWF0dXJlcyI6WzFdfQ==","headers":{"Content-Type":"application/json"},
            "requestContext":{"stage":"prod","http":{"method":"post","path":"/prod/predict"}}}"#;
        let Event::Http(h) = parse(ev, 1).unwrap() else {
            panic!("not http")
        };
        assert_eq!(
            (h.source, h.method.as_str(), h.path.as_str()),
            (HttpSource::V2, "POST", "/predict")
        );
        assert_eq!(h.body.unwrap(), br#"{"features":[1]}"#);
        assert_eq!(h.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn http_v1_and_alb() {
        let v1 = br#"{"resource":"/predict","path":"/predict","httpMethod":"GET","headers":null,"body":null,"requestContext":{"stage":"prod"}}"#;
        let Event::Http(h) = parse(v1, 1).unwrap() else {
            panic!("not http")
        };
        assert_eq!((h.source, h.path.as_str()), (HttpSource::V1, "/predict"));
        let alb = br#"{"requestContext":{"elb":{"targetGroupArn":"arn"}},"httpMethod":"POST","path":"/","body":"{}","isBase64Encoded":false}"#;
        let Event::Http(h) = parse(alb, 1).unwrap() else {
            panic!("not http")
        };
        assert_eq!(h.source, HttpSource::Alb);
        let bad64 = br#"{"httpMethod":"POST","path":"/","body":"%%%","isBase64Encoded":true}"#;
        let Event::Http(h) = parse(bad64, 1).unwrap() else {
            panic!("not http")
        };
        assert!(h.body.unwrap_err().contains("base64"));
    }

    #[test]
    fn sqs_records() {
        let ev =
            br#"{"Records":[{"messageId":"m1","body":"{\"features\":[1]}","eventSource":"aws:sqs"},
                                 {"messageId":"m2","body":"nope","eventSource":"aws:sqs"}]}"#;
        let Event::Sqs(r) = parse(ev, 1).unwrap() else {
            panic!("not sqs")
        };
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            SqsRecord {
                message_id: "m2".into(),
                body: "nope".into()
            }
        );
        let not_sqs = br#"{"Records":[{"messageId":"m1","body":"x","eventSource":"aws:s3"}]}"#;
        assert_eq!(kind(parse(not_sqs, 1)), ErrorKind::InvalidEvent);
    }

    #[test]
    fn only_the_content_type_header_is_kept_whatever_its_case() {
        let ev = br#"{"httpMethod":"POST","path":"/","body":"{}","headers":{"X-Num":5,"X-Obj":{"a":[1]},"CONTENT-TYPE":"text/csv"}}"#;
        let Event::Http(h) = parse(ev, 1).unwrap() else {
            panic!("not http")
        };
        assert_eq!(h.content_type.as_deref(), Some("text/csv"));
        let ev = br#"{"httpMethod":"POST","path":"/","body":"{}","headers":{"content-type":null}}"#;
        let Event::Http(h) = parse(ev, 1).unwrap() else {
            panic!("not http")
        };
        assert_eq!(h.content_type, None);
        let ev = br#"{"httpMethod":"POST","path":"/","headers":[1]}"#;
        assert_eq!(kind(parse(ev, 1)), ErrorKind::InvalidInput);
    }
}
