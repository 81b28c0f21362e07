//! Direct-invocation events: `{"features": [...]}` and `{"instances": [{"features": [...]}, ...]}`.
//!
//! Features are JSON numbers; `null` marks a missing value (NaN), which only models that
//! accept missing values take. Unknown fields are ignored, so callers may add their own ids.

use crate::handler::{ErrorKind, LambdaError, LambdaRequest};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A parsed event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// One instance.
    Single(LambdaRequest),
    /// Several instances, each parsed on its own.
    Batch(Vec<Result<LambdaRequest, LambdaError>>),
}

/// One feature value: a number, or `null` for missing.
struct Feature(f32);

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Feature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or null")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Feature, E> {
                Ok(Feature(v as f32))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Feature, E> {
                Ok(Feature(v as f32))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Feature, E> {
                Ok(Feature(v as f32))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Feature, E> {
                Ok(Feature(f32::NAN))
            }
            fn visit_none<E: de::Error>(self) -> Result<Feature, E> {
                Ok(Feature(f32::NAN))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Direct {
    #[serde(default)]
    features: Option<Vec<Feature>>,
    #[serde(default)]
    instances: Option<Vec<serde_json::Value>>,
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

fn classify(e: serde_json::Error) -> LambdaError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => LambdaError::new(ErrorKind::InvalidInput, format!("bad features: {e}")),
        _ => LambdaError::new(
            ErrorKind::InvalidEvent,
            format!("event is not valid JSON: {e}"),
        ),
    }
}

/// Parses a direct-invocation event. `n_features` is used only in messages.
pub fn parse(event: &[u8], n_features: usize) -> Result<Event, LambdaError> {
    let value: Direct = match serde_json::from_slice(event) {
        Ok(v) => v,
        Err(e)
            if e.classify() == serde_json::error::Category::Data && !looks_like_object(event) =>
        {
            return Err(LambdaError::new(
                ErrorKind::InvalidEvent,
                format!("{SHAPE}: {e}"),
            ))
        }
        Err(e) => return Err(classify(e)),
    };
    match (value.features, value.instances) {
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
        let e = parse(br#"{"instances": [{"features": [1]}, {"features": ["a"]}, {"nope": 1}, {"features": []}]}"#, 1).unwrap();
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
}
