//! The linear-model parameter dump written by `scripts/fixtures/generate_linear.py`.
//!
//! ```json
//! {"name": "breast_cancer", "task": "classification", "n_features": 30,
//!  "feature_names": [...] | null, "classes": [...] | null, "output_names": [...] | null,
//!  "scaler": {"mean": [...], "scale": [...]} | null,
//!  "linear": {"coef": [[...], ...], "intercept": [...]},
//!  "post": "none" | "binary_logistic" | "softmax" | "ovr",
//!  "provenance": {"source_library": "...", "source_sha256": "...", "model_version": "..."}}
//! ```

use crate::{ConvertError, CONVERTER};
use icebreak_format::{
    InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec, PostTransform, ProvenanceSpec,
    StageSpec, Task,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    task: String,
    #[serde(default)]
    estimator: Option<String>,
    n_features: u32,
    feature_names: Option<Vec<String>>,
    #[serde(default)]
    classes: Option<Vec<Label>>,
    #[serde(default)]
    output_names: Option<Vec<String>>,
    scaler: Option<Scaler>,
    linear: Linear,
    post: String,
    provenance: Prov,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Label {
    Int(i64),
    Str(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scaler {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Linear {
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Prov {
    source_library: String,
    source_sha256: Option<String>,
    model_version: String,
}

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

fn to_f32(v: &[f64], what: &str) -> Result<Vec<f32>, ConvertError> {
    v.iter()
        .map(|&x| {
            let f = x as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(invalid(format!("{what}: {x} is not a finite f32")))
            }
        })
        .collect()
}

/// Converts a parameter dump into a model spec (write it with [`icebreak_format::write`]).
pub fn from_json(json: &str) -> Result<ModelSpec, ConvertError> {
    let p: Params = serde_json::from_str(json).map_err(ConvertError::Json)?;
    let n = p.n_features;
    let n_out = p.linear.coef.len() as u32;
    if n_out == 0 || p.linear.intercept.len() != n_out as usize {
        return Err(invalid(
            "linear.coef and linear.intercept must have the same, non-zero number of rows",
        ));
    }
    if let Some(row) = p.linear.coef.iter().find(|r| r.len() != n as usize) {
        return Err(invalid(format!(
            "a coef row has {} values, n_features is {n}",
            row.len()
        )));
    }
    let mut stages = Vec::new();
    if let Some(s) = &p.scaler {
        stages.push(StageSpec::StandardScaler {
            mean: to_f32(&s.mean, "scaler.mean")?,
            scale: to_f32(&s.scale, "scaler.scale")?,
        });
    }
    let coef: Vec<f64> = p.linear.coef.concat();
    stages.push(StageSpec::Linear {
        n_in: n,
        n_out,
        coef: to_f32(&coef, "linear.coef")?,
        intercept: to_f32(&p.linear.intercept, "linear.intercept")?,
    });
    let post = match p.post.as_str() {
        "none" => None,
        "binary_logistic" => Some(PostTransform::BinaryLogistic),
        "softmax" => Some(PostTransform::Softmax),
        "ovr" => Some(PostTransform::OvrNormalize),
        other => return Err(invalid(format!("unknown post transform {other:?}"))),
    };
    stages.extend(post.map(StageSpec::Post));
    let (task, n_outputs, labels) = match p.task.as_str() {
        "regression" => (Task::Regression, n_out, LabelsSpec::None),
        "classification" => {
            let classes = p
                .classes
                .ok_or_else(|| invalid("a classifier needs classes"))?;
            let labels = if classes.iter().all(|c| matches!(c, Label::Int(_))) {
                LabelsSpec::Int(
                    classes
                        .iter()
                        .filter_map(|c| match c {
                            Label::Int(i) => Some(*i),
                            Label::Str(_) => None,
                        })
                        .collect(),
                )
            } else if classes.iter().all(|c| matches!(c, Label::Str(_))) {
                LabelsSpec::Str(
                    classes
                        .iter()
                        .filter_map(|c| match c {
                            Label::Str(s) => Some(s.clone()),
                            Label::Int(_) => None,
                        })
                        .collect(),
                )
            } else {
                return Err(invalid("class labels mix integers and strings"));
            };
            (Task::Classification, classes.len() as u32, labels)
        }
        other => return Err(invalid(format!("unknown task {other:?}"))),
    };
    let spec = ModelSpec {
        input: InputSpec {
            n_features: n,
            missing: MissingValues::Reject,
            feature_names: p.feature_names,
        },
        output: OutputSpec {
            task,
            n_outputs,
            labels,
            output_names: p.output_names,
            precision: icebreak_format::Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: p.provenance.model_version,
            model_name: Some(match p.estimator {
                Some(e) => format!("{} ({e})", p.name),
                None => p.name,
            }),
            source_format: Some(p.provenance.source_library),
            converter: Some(CONVERTER.to_owned()),
            source_sha256: p.provenance.source_sha256,
        },
        stages,
    };
    Ok(spec)
}

/// Converts a parameter dump straight to `.apr` bytes.
pub fn convert(json: &str) -> Result<Vec<u8>, ConvertError> {
    Ok(icebreak_format::write_to_vec(&from_json(json)?)?)
}
