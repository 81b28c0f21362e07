//! Requests: features by position (a JSON array of numbers or `null`) or, for columnar input,
//! matched to the model's features by name.

use crate::error::{Error, ErrorKind};
use crate::explain::{Explain, ExplainField};
use icebreak_format::{limits, StrList};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use std::fmt;

/// One instance to predict: its features in the model's order, NaN marking a missing value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// Feature values, in the model's order.
    pub features: Vec<f64>,
    /// What to explain (`"explain"`), if anything.
    pub explain: Option<Explain>,
}

impl Request {
    /// A request for `features`, without explanation.
    pub fn new(features: Vec<f64>) -> Request {
        Request {
            features,
            explain: None,
        }
    }
}

/// What a feature must be, in messages.
const EXPECTED: &str = "a number or null";

/// Reads one JSON feature value. Strict: anything but a number or `null` is a deserialisation
/// error. Lenient: it is a [`Cell::Other`] naming what it was.
struct FeatureVisitor {
    strict: bool,
}

impl FeatureVisitor {
    fn other<E: de::Error>(&self, what: Unexpected<'_>, kind: &'static str) -> Result<Cell, E> {
        if self.strict {
            Err(E::invalid_type(what, self))
        } else {
            Ok(Cell::Other(kind))
        }
    }
}

impl<'de> Visitor<'de> for FeatureVisitor {
    type Value = Cell;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Number(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Number(f64::NAN))
    }
    fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Number(f64::NAN))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
        self.other(Unexpected::Bool(v), "a boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
        if self.strict {
            // A category given as text (CatBoost models): the row carries its hash, tagged;
            // the engine refuses it at a feature that is not categorical.
            Ok(Cell::Number(icebreak_engine::cat_hash::category_value(
                v.as_bytes(),
            )))
        } else {
            self.other(Unexpected::Str(v), "a string")
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        if self.strict {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an array"))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
        if self.strict {
            return Err(de::Error::invalid_type(Unexpected::Map, &self));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an object"))
    }
}

/// One feature value, strictly: a number, `null` for missing (NaN), or a string, a category
/// of a model with categorical features (its tagged hash,
/// [`icebreak_engine::cat_hash::category_value`]; the engine refuses it at any other
/// feature). Anything else fails to deserialise with "invalid type: ..., expected a number
/// or null".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature(pub f64);

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(FeatureVisitor { strict: true })? {
            Cell::Number(v) => Ok(Feature(v)),
            // The strict visitor returns numbers only.
            Cell::Other(kind) => Err(de::Error::custom(format!("{kind}, not {EXPECTED}"))),
        }
    }
}

/// One feature value, leniently: a number, `null` for missing (NaN), or something else,
/// named ("a string", "a boolean", "an array", "an object") so the caller can report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A number, or NaN for `null`.
    Number(f64),
    /// Not a number or `null`: what it was.
    Other(&'static str),
}

impl Cell {
    /// The number, or the message for feature `index`: "feature 3 is a string, not a number
    /// or null".
    pub fn number(self, index: usize) -> Result<f64, String> {
        match self {
            Cell::Number(v) => Ok(v),
            Cell::Other(kind) => Err(format!("feature {index} is {kind}, not {EXPECTED}")),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FeatureVisitor { strict: false })
    }
}

/// A `features` array, strictly ([`Feature`]).
pub type Features = Vec<Feature>;

/// A parsed direct event (the body of an HTTP request, an SQS message, a direct invocation).
#[derive(Debug, Clone, PartialEq)]
pub enum Direct {
    /// `{"features": [...]}`: one instance.
    Single(Request),
    /// `{"instances": [...]}`: several instances, each parsed on its own.
    Batch(Vec<Result<Request, Error>>),
}

const SHAPE: &str =
    r#"expected {"features": [numbers]} or {"instances": [{"features": [numbers]}, ...]}"#;

fn request(features: Features, explain: Option<Explain>) -> Result<Request, Error> {
    if features.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "\"features\" is empty"));
    }
    Ok(Request {
        features: features.into_iter().map(|f| f.0).collect(),
        explain,
    })
}

/// A JSON error as the protocol words it: a well-formed object with bad fields is
/// `InvalidInput`; anything else (not JSON, not an object) is `InvalidEvent`.
pub fn json_error(e: serde_json::Error, event: &[u8]) -> Error {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data if looks_like_object(event) => {
            Error::new(ErrorKind::InvalidInput, format!("invalid request: {e}"))
        }
        Category::Data => Error::new(ErrorKind::InvalidEvent, format!("{SHAPE}: {e}")),
        _ => Error::new(
            ErrorKind::InvalidEvent,
            format!("event is not valid JSON: {e}"),
        ),
    }
}

fn looks_like_object(event: &[u8]) -> bool {
    event.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Parses a direct event: `{"features": [...]}` or `{"instances": [{"features": [...]},
/// ...]}`, each optionally with `"explain"` (a batch's applies to every instance that has
/// none of its own). Unknown fields are ignored. `n_features` is used only in messages.
pub fn parse_direct(event: &[u8], n_features: usize) -> Result<Direct, Error> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        features: Option<Features>,
        #[serde(default, deserialize_with = "instances")]
        instances: Option<Vec<serde_json::Value>>,
        #[serde(default)]
        explain: ExplainField,
    }
    let b: Body = serde_json::from_slice(event).map_err(|e| json_error(e, event))?;
    direct(b.features, b.instances, b.explain.0, n_features)
}

/// Reads an `instances` array, refusing more than [`limits::MAX_INSTANCES`] items while it is
/// read (before the items beyond the limit are parsed or stored). For
/// `#[serde(default, deserialize_with = "icebreak_protocol::instances")]` on an
/// `Option<Vec<serde_json::Value>>` field.
pub fn instances<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<serde_json::Value>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<serde_json::Value>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of instances")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let max = limits::MAX_INSTANCES;
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element()? {
                if v.len() == max {
                    return Err(de::Error::custom(format_args!(
                        "\"instances\" has more than {max} items (the limit per batch); \
                         send several batches"
                    )));
                }
                v.push(item);
            }
            Ok(Some(v))
        }
    }
    d.deserialize_option(V)
}

/// A direct event from its fields, already read (by [`parse_direct`], or by a parser of
/// an envelope that may also carry them). Each instance is parsed on its own: a bad one is an
/// `Err` item, not a failed event. `explain` is the event's own `"explain"`; an instance's
/// overrides it.
pub fn direct(
    features: Option<Features>,
    instances: Option<Vec<serde_json::Value>>,
    explain: Option<Explain>,
    n_features: usize,
) -> Result<Direct, Error> {
    #[derive(Deserialize)]
    struct Instance {
        features: Features,
        #[serde(default)]
        explain: Option<ExplainField>,
    }
    match (features, instances) {
        (Some(features), None) => request(features, explain).map(Direct::Single),
        (None, Some(instances)) => {
            if instances.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "\"instances\" is empty",
                ));
            }
            Ok(Direct::Batch(
                instances
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let inst: Instance = serde_json::from_value(v).map_err(|e| {
                            Error::new(ErrorKind::InvalidInput, format!("instance {i}: {e}"))
                        })?;
                        request(inst.features, inst.explain.map_or(explain, |f| f.0))
                    })
                    .collect(),
            ))
        }
        (Some(_), Some(_)) => Err(Error::new(
            ErrorKind::InvalidEvent,
            "event has both \"features\" and \"instances\"; send one",
        )),
        (None, None) => Err(Error::new(
            ErrorKind::InvalidEvent,
            format!("{SHAPE} (this model takes {n_features} features)"),
        )),
    }
}

/// Features by name: the column → feature map when `columns` holds exactly the model's
/// feature names in a different order. `None` when they are in the model's order already
/// (take columns by position), when the model has no names, or when the names differ.
pub fn feature_order<S: AsRef<str>>(
    columns: &[S],
    names: Option<StrList<'_>>,
) -> Option<Vec<usize>> {
    let names = names?;
    if columns.len() != names.len() || columns.iter().map(AsRef::as_ref).eq(names.iter()) {
        return None;
    }
    let mut order = Vec::with_capacity(columns.len());
    let mut seen = vec![false; names.len()];
    for c in columns {
        let j = names.iter().position(|n| n == c.as_ref())?;
        if std::mem::replace(&mut seen[j], true) {
            return None;
        }
        order.push(j);
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kind(r: Result<Direct, Error>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn features_by_position_with_null_as_missing() {
        let Direct::Single(req) =
            parse_direct(br#"{"features": [1, 2.5, -3e2, null], "id": "x"}"#, 4).unwrap()
        else {
            panic!("not single")
        };
        assert_eq!(&req.features[..3], &[1.0, 2.5, -300.0]);
        assert!(req.features[3].is_nan());
    }

    #[test]
    fn nan_is_not_json() {
        assert_eq!(
            kind(parse_direct(br#"{"features": [NaN]}"#, 1)),
            ErrorKind::InvalidEvent
        );
    }

    #[test]
    fn strict_features_refuse_other_values() {
        // A string is a category (tagged hash), refused later by a model that takes a number.
        let Direct::Single(req) = parse_direct(br#"{"features": [1, "two"]}"#, 2).unwrap() else {
            panic!("not single")
        };
        assert_eq!(
            req.features[1].to_bits(),
            icebreak_engine::cat_hash::category_value(b"two").to_bits()
        );
        let e = parse_direct(br#"{"features": [1, true]}"#, 2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("a number or null"), "{}", e.message());
        for bad in [
            &br#"{"features": [true]}"#[..],
            br#"{"features": [[1]]}"#,
            br#"{"features": [{"a": 1}]}"#,
            br#"{"features": {"a": 1}}"#,
        ] {
            assert_eq!(kind(parse_direct(bad, 1)), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn lenient_cells_name_what_they_got() {
        let cells: Vec<Cell> =
            serde_json::from_str(r#"[1, null, true, "x", [1, 2], {"a": 1}, -2]"#).unwrap();
        assert_eq!(cells[0], Cell::Number(1.0));
        assert!(matches!(cells[1], Cell::Number(v) if v.is_nan()));
        assert_eq!(
            cells[2].number(2).unwrap_err(),
            "feature 2 is a boolean, not a number or null"
        );
        assert_eq!(cells[3], Cell::Other("a string"));
        assert_eq!(cells[4], Cell::Other("an array"));
        assert_eq!(cells[5], Cell::Other("an object"));
        assert_eq!(cells[6].number(6), Ok(-2.0));
    }

    #[test]
    fn bad_shapes() {
        assert_eq!(kind(parse_direct(b"not json", 2)), ErrorKind::InvalidEvent);
        assert_eq!(kind(parse_direct(b"[1,2]", 2)), ErrorKind::InvalidEvent);
        assert_eq!(kind(parse_direct(b"{}", 2)), ErrorKind::InvalidEvent);
        assert!(parse_direct(b"{}", 2)
            .unwrap_err()
            .message()
            .contains("this model takes 2 features"));
        assert_eq!(
            kind(parse_direct(br#"{"features":[1],"instances":[]}"#, 2)),
            ErrorKind::InvalidEvent
        );
        assert_eq!(
            kind(parse_direct(br#"{"features": []}"#, 2)),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(parse_direct(br#"{"instances": []}"#, 2)),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn batch_instances_fail_alone() {
        let Direct::Batch(items) = parse_direct(
            br#"{"instances": [{"features": [1]}, {"features": [true]}, {"nope": 1}, {"features": []}]}"#,
            1,
        )
        .unwrap() else {
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
    fn features_by_name() {
        let spec = icebreak_format::ModelSpec {
            input: icebreak_format::InputSpec {
                n_features: 3,
                missing: icebreak_format::MissingValues::Reject,
                feature_names: Some(vec!["a".into(), "b".into(), "c".into()]),
            },
            output: icebreak_format::OutputSpec {
                task: icebreak_format::Task::Regression,
                n_outputs: 1,
                labels: icebreak_format::LabelsSpec::None,
                output_names: None,
                precision: icebreak_format::Precision::F32,
            },
            provenance: icebreak_format::ProvenanceSpec {
                model_version: "t".into(),
                model_name: None,
                source_format: None,
                converter: None,
                source_sha256: None,
            },
            stages: vec![icebreak_format::StageSpec::Linear {
                n_in: 3,
                n_out: 1,
                coef: vec![1.0, 2.0, 3.0],
                intercept: vec![0.0],
            }],
        };
        let bytes = icebreak_format::write(&spec).unwrap();
        let apr = icebreak_format::Apr::parse(&bytes).unwrap();
        let names = apr.input().feature_names;
        assert_eq!(feature_order(&["c", "a", "b"], names), Some(vec![2, 0, 1]));
        // The model's order: by position.
        assert_eq!(feature_order(&["a", "b", "c"], names), None);
        // Other names, a repeated name, a missing name: by position.
        assert_eq!(feature_order(&["c", "a", "x"], names), None);
        assert_eq!(feature_order(&["c", "a", "a"], names), None);
        assert_eq!(feature_order(&["c", "a"], names), None);
        assert_eq!(feature_order(&["a"], None), None);
    }
}
