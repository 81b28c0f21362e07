//! The events a function is invoked with, recognised in one JSON pass, and the shapes of
//! the answers that go back.
//!
//! - Direct invocation: `{"features": [...]}` or `{"instances": [{"features": [...]}, ...]}`
//!   (parsed by [`icebreak_protocol`]). Features are JSON numbers; `null` marks a missing
//!   value (NaN), which only models that accept missing values take. Unknown fields are
//!   ignored, so callers may add their own ids.
//! - HTTP-shaped ([`http`]): Function URL and API Gateway HTTP API (payload 2.0), API Gateway
//!   REST (v1), and Application Load Balancer events. Their body (base64 or not) is a direct
//!   event.
//! - SQS batches ([`sqs`]): `{"Records": [{"messageId", "body", "eventSource": "aws:sqs"},
//!   ...]}`; each record's body is a direct event.

pub(crate) mod http;
pub(crate) mod sqs;

use http::{ContentType, HttpRequest, RequestContext};
use icebreak_protocol::{direct, json_error, Direct, Error, ExplainField, Features};
use serde::Deserialize;
use sqs::{RawRecord, SqsRecord};

/// A parsed event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// A direct invocation: one instance or several.
    Direct(Direct),
    /// An HTTP request from a Function URL, API Gateway or an ALB.
    Http(HttpRequest),
    /// SQS messages.
    Sqs(Vec<SqsRecord>),
}

/// Every shape at once; which fields are present says what the event is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    features: Option<Features>,
    #[serde(default, deserialize_with = "icebreak_protocol::instances")]
    instances: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    explain: ExplainField,
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

/// Parses any event. `n_features` is used only in messages.
pub(crate) fn parse(event: &[u8], n_features: usize) -> Result<Event, Error> {
    let mut env: Envelope = serde_json::from_slice(event).map_err(|e| json_error(e, event))?;
    if let Some(http) = http::request(
        env.request_context.as_ref(),
        http::Fields {
            http_method: env.http_method.take(),
            raw_path: env.raw_path.take(),
            path: env.path.take(),
            body: env.body.take(),
            is_base64_encoded: env.is_base64_encoded,
            content_type: env.headers.0.take(),
        },
    ) {
        return Ok(Event::Http(http));
    }
    if let Some(records) = env.records {
        if env.features.is_none() && env.instances.is_none() {
            return sqs::records(records).map(Event::Sqs);
        }
    }
    direct(env.features, env.instances, env.explain.0, n_features).map(Event::Direct)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::http::HttpSource;
    use super::*;
    use icebreak_protocol::ErrorKind;

    fn kind(r: Result<Event, Error>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    /// Direct events read through the envelope (the parser of every shape), with the kinds
    /// and messages of the protocol.
    #[test]
    fn direct_events_through_the_envelope() {
        let one = br#"{"features": [1, 2.5, -3e2, null], "id": "x"}"#;
        let Event::Direct(Direct::Single(req)) = parse(one, 4).unwrap() else {
            panic!("not single")
        };
        assert_eq!(&req.features[..3], &[1.0, 2.5, -300.0]);
        assert!(req.features[3].is_nan());

        let batch = br#"{"instances": [{"features": [1]}, {"features": [true]}, {"nope": 1}, {"features": []}]}"#;
        let Event::Direct(Direct::Batch(items)) = parse(batch, 1).unwrap() else {
            panic!("not batch")
        };
        let kinds: Vec<Option<ErrorKind>> = items
            .iter()
            .map(|i| i.as_ref().err().map(Error::kind))
            .collect();
        let bad = Some(ErrorKind::InvalidInput);
        assert_eq!(kinds, [None, bad, bad, bad]);
        assert_eq!(items[0].as_ref().unwrap().features, vec![1.0]);
        assert!(items[1]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("instance 1"));

        let (event, input) = (ErrorKind::InvalidEvent, ErrorKind::InvalidInput);
        let table: [(&[u8], ErrorKind); 9] = [
            (b"not json", event),
            (b"", event),
            (b"[1,2]", event),
            (b"{}", event),
            (br#"{"features":[1],"instances":[]}"#, event),
            (br#"{"features": [1, false]}"#, input),
            (br#"{"features": []}"#, input),
            (br#"{"instances": []}"#, input),
            (br#"{"features": {"a": 1}}"#, input),
        ];
        for (ev, want) in table {
            assert_eq!(kind(parse(ev, 2)), want, "{}", String::from_utf8_lossy(ev));
        }
        let e = parse(br#"{"features": [1, false]}"#, 2).unwrap_err();
        assert!(e.message().contains("a number or null"), "{e}");
        // A string is a category (CatBoost models); the model decides whether it takes one.
        assert!(parse(br#"{"features": [1, "two"]}"#, 2).is_ok());
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
