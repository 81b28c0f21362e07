//! Answers: predictions with their labels, one instance's answer, a batch's items, the
//! model's description.

use crate::error::Error;
use crate::explain::{FeatureContributions, Reasons};
use icebreak_format::{Apr, Labels, MissingValues, Precision, Task};
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use std::borrow::Cow;

/// Writes `v` as the shortest text that reads back to the same value of `precision`: an
/// `f32` model's `-4.3203106`, an `f64` model's `-4.320310689291134`.
fn serialize_number<S: Serializer>(v: f64, precision: Precision, s: S) -> Result<S::Ok, S::Error> {
    match precision {
        Precision::F32 => s.serialize_f32(v as f32),
        Precision::F64 => s.serialize_f64(v),
    }
}

/// Numbers of an answer (values, probabilities, scores) at the model's precision: written
/// as a JSON array, each as the shortest round-trip text of that precision.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbers<'a> {
    /// The numbers (values of `precision`, held in `f64`).
    pub values: Cow<'a, [f64]>,
    /// Their precision.
    pub precision: Precision,
}

impl<'a> Numbers<'a> {
    /// Owned numbers.
    pub fn owned(values: Vec<f64>, precision: Precision) -> Numbers<'static> {
        Numbers {
            values: Cow::Owned(values),
            precision,
        }
    }
    /// Borrowed numbers.
    pub fn borrowed(values: &'a [f64], precision: Precision) -> Numbers<'a> {
        Numbers {
            values: Cow::Borrowed(values),
            precision,
        }
    }
}

impl Serialize for Numbers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.values.len()))?;
        for &v in self.values.iter() {
            seq.serialize_element(&Number(v, self.precision))?;
        }
        seq.end()
    }
}

/// One number at a precision.
struct Number(f64, Precision);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_number(self.0, self.1, s)
    }
}

/// A class label as the source model has it, or the predicted value(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction<'a> {
    /// An integer class label.
    IntLabel(i64),
    /// A string class label.
    StrLabel(&'a str),
    /// One value, at the model's precision.
    Value(f64, Precision),
    /// Several values.
    Values(Numbers<'a>),
}

impl Serialize for Prediction<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Prediction::IntLabel(v) => s.serialize_i64(*v),
            Prediction::StrLabel(v) => s.serialize_str(v),
            Prediction::Value(v, p) => serialize_number(*v, *p, s),
            Prediction::Values(v) => v.serialize(s),
        }
    }
}

/// The label of class `class`: the source model's integer or string label, or the index
/// itself when the model has no labels (or too few).
pub fn label<'a>(labels: &Labels<'a>, class: usize) -> Prediction<'a> {
    match labels {
        Labels::Int(v) => Prediction::IntLabel(v.get(class).copied().unwrap_or(class as i64)),
        Labels::Str(s) => Prediction::StrLabel(s.get(class).unwrap_or("")),
        Labels::None => Prediction::IntLabel(class as i64),
    }
}

/// A regression's prediction: one value as a number, several as an array.
pub fn value(values: &[f64], precision: Precision) -> Prediction<'_> {
    match values {
        [v] => Prediction::Value(*v, precision),
        v => Prediction::Values(Numbers::borrowed(v, precision)),
    }
}

/// The prediction of a row of `apr`'s model and the probabilities that go with it: the label
/// for a classifier that picked a class, else the value(s). `values`: the pipeline's final
/// outputs.
pub(crate) fn predicted(
    apr: &Apr<'static>,
    values: &[f64],
    probabilities: Option<&[f64]>,
    class: Option<usize>,
) -> (Prediction<'static>, Option<Numbers<'static>>) {
    let precision = apr.output().precision;
    match (apr.output().task, class) {
        (Task::Classification, Some(c)) => (
            label(&apr.output().labels, c),
            probabilities.map(|p| Numbers::owned(p.to_vec(), precision)),
        ),
        _ => match values {
            [v] => (Prediction::Value(*v, precision), None),
            _ => (
                Prediction::Values(Numbers::owned(values.to_vec(), precision)),
                None,
            ),
        },
    }
}

/// The answer to one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// The class label (as in the source model) or the value(s).
    pub prediction: Prediction<'static>,
    /// Class probabilities in class order, for classifiers that have them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Numbers<'static>>,
    /// Each feature's contribution to the raw score, and the bias (explained requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contributions: Option<FeatureContributions>,
    /// The features of largest absolute contribution (explained requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Reasons>,
    /// Time spent answering, in milliseconds.
    pub latency_ms: f64,
    /// The model's version.
    pub model_version: &'static str,
}

/// One item of a batch answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BatchItem {
    /// The instance's prediction.
    Ok {
        /// Label or value(s).
        prediction: Prediction<'static>,
        /// Probabilities, for classifiers.
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<Numbers<'static>>,
        /// Contributions (explained instances).
        #[serde(skip_serializing_if = "Option::is_none")]
        contributions: Option<FeatureContributions>,
        /// Reasons (explained instances).
        #[serde(skip_serializing_if = "Option::is_none")]
        reasons: Option<Reasons>,
    },
    /// Why this instance got no prediction.
    Err {
        /// The error.
        error: Error,
    },
}

/// The answer to a batch: one item per instance, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResponse {
    /// One item per instance.
    pub predictions: Vec<BatchItem>,
    /// Time spent answering, in milliseconds.
    pub latency_ms: f64,
    /// The model's version.
    pub model_version: &'static str,
}

impl BatchResponse {
    /// Whether every instance got a prediction.
    pub fn all_ok(&self) -> bool {
        self.predictions
            .iter()
            .all(|p| matches!(p, BatchItem::Ok { .. }))
    }
}

/// What a model is: its version, task, inputs and outputs.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Version.
    pub model_version: &'static str,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<&'static str>,
    /// `classification`, `regression` or `transform`.
    pub task: &'static str,
    /// Features per instance.
    pub n_features: u32,
    /// Feature names, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_names: Option<Vec<&'static str>>,
    /// Whether `null` features are accepted.
    pub missing_values: &'static str,
    /// Outputs (classes or targets).
    pub n_outputs: u32,
    /// Class labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<serde_json::Value>>,
    /// Output names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_names: Option<Vec<&'static str>>,
    /// Pipeline stages.
    pub stages: Vec<&'static str>,
    /// Source library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_format: Option<&'static str>,
    /// Converter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converter: Option<&'static str>,
}

impl ModelInfo {
    /// Describes a model.
    pub fn of(apr: &Apr<'static>) -> ModelInfo {
        let (task, classes) = match (&apr.output().labels, apr.output().task) {
            (Labels::Int(v), _) => (
                "classification",
                Some(v.iter().map(|&i| serde_json::json!(i)).collect()),
            ),
            (Labels::Str(s), _) => (
                "classification",
                Some(s.iter().map(|v| serde_json::json!(v)).collect()),
            ),
            (Labels::None, Task::Classification) => ("classification", None),
            (Labels::None, Task::Regression) => ("regression", None),
            (Labels::None, Task::Transform) => ("transform", None),
        };
        let p = apr.provenance();
        ModelInfo {
            model_version: p.model_version,
            model_name: p.model_name,
            task,
            n_features: apr.input().n_features,
            feature_names: apr.input().feature_names.map(|l| l.iter().collect()),
            missing_values: match apr.input().missing {
                MissingValues::Reject => "rejected",
                MissingValues::Nan => "null or NaN",
            },
            n_outputs: apr.output().n_outputs,
            classes,
            output_names: apr.output().output_names.map(|l| l.iter().collect()),
            stages: apr.stages().iter().map(|s| s.name()).collect(),
            source_format: p.source_format,
            converter: p.converter,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn labels_render_as_the_source_model_had_them() {
        let ints = Labels::Int(vec![10, 20]);
        assert_eq!(label(&ints, 1), Prediction::IntLabel(20));
        assert_eq!(json(&label(&ints, 0)), "10");
        // Out of range: the index itself.
        assert_eq!(label(&ints, 5), Prediction::IntLabel(5));
        assert_eq!(label(&Labels::None, 3), Prediction::IntLabel(3));
    }

    #[test]
    fn values_render_as_a_number_or_an_array() {
        assert_eq!(
            value(&[1.5], Precision::F32),
            Prediction::Value(1.5, Precision::F32)
        );
        assert_eq!(json(&value(&[1.5], Precision::F32)), "1.5");
        assert_eq!(json(&value(&[1.0, 2.5], Precision::F64)), "[1.0,2.5]");
        assert_eq!(json(&Prediction::StrLabel("cat")), "\"cat\"");
    }

    #[test]
    fn batch_items_and_responses() {
        let r = BatchResponse {
            predictions: vec![
                BatchItem::Ok {
                    prediction: Prediction::IntLabel(1),
                    probabilities: Some(Numbers::owned(vec![0.25, 0.75], Precision::F32)),
                    contributions: None,
                    reasons: None,
                },
                BatchItem::Err {
                    error: Error::new(crate::ErrorKind::InvalidInput, "bad"),
                },
                BatchItem::Ok {
                    prediction: Prediction::Value(2.0, Precision::F64),
                    probabilities: None,
                    contributions: None,
                    reasons: None,
                },
            ],
            latency_ms: 0.5,
            model_version: "v1",
        };
        assert!(!r.all_ok());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "predictions": [
                    {"prediction": 1, "probabilities": [0.25, 0.75]},
                    {"error": {"errorMessage": "bad", "errorType": "InvalidInput"}},
                    {"prediction": 2.0}
                ],
                "latency_ms": 0.5,
                "model_version": "v1"
            })
        );
        let one = Response {
            prediction: Prediction::Value(1.0, Precision::F32),
            probabilities: None,
            contributions: None,
            reasons: None,
            latency_ms: 0.0,
            model_version: "v",
        };
        assert_eq!(
            json(&one),
            r#"{"prediction":1.0,"latency_ms":0.0,"model_version":"v"}"#
        );
    }

    #[test]
    fn numbers_print_the_shortest_text_of_their_precision() {
        // LightGBM's raw score of the issue, and its f32 rounding.
        let x = -4.320310689291134f64;
        let x32 = f64::from(x as f32);
        assert_eq!(
            json(&Prediction::Value(x, Precision::F64)),
            "-4.320310689291134"
        );
        assert_eq!(json(&Prediction::Value(x32, Precision::F32)), "-4.3203106");
        // An f32 value printed at f64 needs all its digits; at f32, the short text reads
        // back (as an f32) to the same bits.
        assert_eq!(
            json(&Prediction::Value(x32, Precision::F64)),
            "-4.320310592651367"
        );
        let text = json(&Numbers::owned(vec![x32, 0.1f32.into()], Precision::F32));
        assert_eq!(text, "[-4.3203106,0.1]");
        let back: Vec<f32> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].to_bits(), (x as f32).to_bits());
        let text = json(&Numbers::owned(vec![x, 0.1], Precision::F64));
        let back: Vec<f64> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].to_bits(), x.to_bits());
        assert_eq!(back[1].to_bits(), 0.1f64.to_bits());
    }
}
