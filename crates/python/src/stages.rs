//! scikit-learn estimators and pipelines that map stage for stage onto the format's `f64`
//! families: `SimpleImputer`, `StandardScaler`, `MinMaxScaler`, `Normalizer`, `PCA`
//! (preprocessors) and a linear model, an MLP, `GaussianNB`, `KMeans` or an SVM (`SVC`,
//! `NuSVC`, `SVR`, `NuSVR`) (estimators), each with its link.
//!
//! The Python side reads the fitted attributes and describes the pipeline as JSON (the
//! [`Description`] below); this module checks every size against the format's limits and
//! builds the model spec. Every stage kind here computes in `f64`, so the engine runs the
//! whole row in `f64`, as scikit-learn does.

use crate::{err, Model};
use icebreak_format::{
    limits, Activation, Kernel, LabelsSpec, MissingValues, ModelSpec, Norm, PostTransform,
    StageSpec, SvmSpec, Task,
};
use pyo3::prelude::*;
use serde::Deserialize;

/// A class label: an integer or a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Label {
    Int(i64),
    Str(String),
}

/// One stage as the Python side describes it. Matrices are row-major, one row per output.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum StageDesc {
    /// `missing` is `None` for NaN.
    Imputer {
        missing: Option<f64>,
        fill: Vec<f64>,
    },
    /// libsvm's model as scikit-learn keeps it: `dual_coef` is `_dual_coef_` (`k - 1` rows,
    /// or one for a regressor), `intercept` is `_intercept_` (`-rho`), `n_support` is empty
    /// for a regressor.
    Svm {
        kernel: String,
        gamma: f64,
        coef0: f64,
        degree: u32,
        n_support: Vec<u32>,
        support_vectors: Vec<Vec<f64>>,
        dual_coef: Vec<Vec<f64>>,
        intercept: Vec<f64>,
        prob_a: Vec<f64>,
        prob_b: Vec<f64>,
        break_ties: bool,
    },
    StandardScaler {
        mean: Vec<f64>,
        scale: Vec<f64>,
    },
    MinMaxScaler {
        scale: Vec<f64>,
        min: Vec<f64>,
    },
    Normalizer {
        norm: String,
    },
    Pca {
        mean: Vec<f64>,
        components: Vec<Vec<f64>>,
        whiten: Option<Vec<f64>>,
    },
    Linear {
        coef: Vec<Vec<f64>>,
        intercept: Vec<f64>,
    },
    Dense {
        weights: Vec<Vec<f64>>,
        bias: Vec<f64>,
        activation: String,
    },
    GaussianNb {
        theta: Vec<Vec<f64>>,
        var: Vec<Vec<f64>>,
        log_prior: Vec<f64>,
        log_norm: Vec<f64>,
    },
    Kmeans {
        centers: Vec<Vec<f64>>,
    },
    Post {
        post: String,
    },
}

/// A pipeline as the Python side describes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Description {
    name: String,
    n_features: u32,
    /// `regression`, `classification` or `transform`.
    task: String,
    classes: Option<Vec<Label>>,
    stages: Vec<StageDesc>,
    source_library: Option<String>,
}

fn width(what: &str, v: &[f64], want: usize) -> Result<(), String> {
    if v.len() != want {
        return Err(format!("{what} has {} values, expected {want}", v.len()));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(format!("{what} holds a value that is not finite"));
    }
    Ok(())
}

/// Flattens a row-major matrix of `rows` rows of `cols` values each, all finite.
fn matrix(what: &str, m: &[Vec<f64>], cols: usize) -> Result<Vec<f64>, String> {
    if m.is_empty() || m.len() > limits::MAX_OUTPUTS {
        return Err(format!("{what} has {} rows", m.len()));
    }
    let mut out = Vec::with_capacity(m.len() * cols);
    for (i, r) in m.iter().enumerate() {
        width(&format!("{what} row {i}"), r, cols)?;
        out.extend_from_slice(r);
    }
    Ok(out)
}

fn post_of(name: &str) -> Result<PostTransform, String> {
    Ok(match name {
        "binary_logistic" => PostTransform::BinaryLogistic,
        "softmax" => PostTransform::Softmax,
        "ovr" => PostTransform::OvrNormalize,
        "logistic" => PostTransform::Logistic,
        "exp" => PostTransform::Exp,
        other => return Err(format!("unknown link {other:?}")),
    })
}

/// Builds the stages, checking that each reads the width the previous one writes.
fn build(d: &Description) -> Result<(Vec<StageSpec>, usize), String> {
    let mut w = d.n_features as usize;
    if w == 0 || w > limits::MAX_FEATURES {
        return Err(format!("{w} features"));
    }
    let mut stages = Vec::with_capacity(d.stages.len());
    for s in &d.stages {
        let stage = match s {
            StageDesc::Imputer { missing, fill } => {
                width("imputer fill values", fill, w)?;
                if missing.is_some_and(|m| !m.is_finite()) {
                    return Err(
                        "the imputer's missing_values must be NaN or a finite number".into(),
                    );
                }
                StageSpec::ImputerF64 {
                    missing: missing.unwrap_or(f64::NAN),
                    fill: fill.clone(),
                }
            }
            StageDesc::Svm {
                kernel,
                gamma,
                coef0,
                degree,
                n_support,
                support_vectors,
                dual_coef,
                intercept,
                prob_a,
                prob_b,
                break_ties,
            } => {
                let (m, k) = svm(
                    w,
                    (kernel, *gamma, *coef0, *degree),
                    n_support,
                    support_vectors,
                    dual_coef,
                    intercept,
                    (prob_a, prob_b),
                    *break_ties,
                )?;
                w = k;
                StageSpec::SvmF64(m)
            }
            StageDesc::StandardScaler { mean, scale } => {
                width("scaler mean", mean, w)?;
                width("scaler scale", scale, w)?;
                StageSpec::StandardScalerF64 {
                    mean: mean.clone(),
                    scale: scale.clone(),
                }
            }
            StageDesc::MinMaxScaler { scale, min } => {
                width("min-max scale", scale, w)?;
                width("min-max min", min, w)?;
                StageSpec::MinMaxScalerF64 {
                    scale: scale.clone(),
                    min: min.clone(),
                }
            }
            StageDesc::Normalizer { norm } => StageSpec::Normalizer {
                width: w as u32,
                norm: match norm.as_str() {
                    "l1" => Norm::L1,
                    "l2" => Norm::L2,
                    "max" => Norm::Max,
                    other => return Err(format!("unknown norm {other:?}")),
                },
            },
            StageDesc::Pca {
                mean,
                components,
                whiten,
            } => {
                width("PCA mean", mean, w)?;
                let c = matrix("PCA components", components, w)?;
                let n_out = components.len();
                if let Some(v) = whiten {
                    width("PCA whitening", v, n_out)?;
                }
                let s = StageSpec::PcaF64 {
                    n_in: w as u32,
                    n_out: n_out as u32,
                    mean: mean.clone(),
                    components: c,
                    whiten: whiten.clone(),
                };
                w = n_out;
                s
            }
            StageDesc::Linear { coef, intercept } => {
                let c = matrix("coefficients", coef, w)?;
                width("intercepts", intercept, coef.len())?;
                let s = StageSpec::LinearF64 {
                    n_in: w as u32,
                    n_out: coef.len() as u32,
                    coef: c,
                    intercept: intercept.clone(),
                };
                w = coef.len();
                s
            }
            StageDesc::Dense {
                weights,
                bias,
                activation,
            } => {
                let c = matrix("layer weights", weights, w)?;
                width("layer biases", bias, weights.len())?;
                let s = StageSpec::DenseF64 {
                    n_in: w as u32,
                    n_out: weights.len() as u32,
                    activation: match activation.as_str() {
                        "identity" => Activation::Identity,
                        "relu" => Activation::Relu,
                        "tanh" => Activation::Tanh,
                        "logistic" => Activation::Logistic,
                        other => return Err(format!("unsupported activation {other:?}")),
                    },
                    weights: c,
                    bias: bias.clone(),
                };
                w = weights.len();
                s
            }
            StageDesc::GaussianNb {
                theta,
                var,
                log_prior,
                log_norm,
            } => {
                let k = theta.len();
                let t = matrix("class means", theta, w)?;
                let v = matrix("class variances", var, w)?;
                if var.len() != k || v.iter().any(|&x| x <= 0.0) {
                    return Err("class variances must be positive, one row per class".to_owned());
                }
                width("class log priors", log_prior, k)?;
                width("class log norms", log_norm, k)?;
                let s = StageSpec::GaussianNb {
                    n_in: w as u32,
                    n_classes: k as u32,
                    theta: t,
                    var: v,
                    log_prior: log_prior.clone(),
                    log_norm: log_norm.clone(),
                };
                w = k;
                s
            }
            StageDesc::Kmeans { centers } => {
                let c = matrix("cluster centres", centers, w)?;
                let s = StageSpec::KMeansF64 {
                    n_in: w as u32,
                    k: centers.len() as u32,
                    centers: c,
                };
                w = centers.len();
                s
            }
            StageDesc::Post { post } => StageSpec::Post(post_of(post)?),
        };
        stages.push(stage);
    }
    Ok((stages, w))
}

/// Support vectors at most: `n_sv · n_in` values, as many as a tree ensemble's leaf values.
const MAX_SV_VALUES: usize = limits::MAX_LEAF_VALUES;

/// An `svm_f64` stage reading `w` features; returns it and the width it hands on.
#[allow(clippy::too_many_arguments)]
fn svm(
    w: usize,
    (kernel, gamma, coef0, degree): (&str, f64, f64, u32),
    n_support: &[u32],
    support_vectors: &[Vec<f64>],
    dual_coef: &[Vec<f64>],
    intercept: &[f64],
    (prob_a, prob_b): (&[f64], &[f64]),
    break_ties: bool,
) -> Result<(SvmSpec<f64>, usize), String> {
    let n_sv = support_vectors.len();
    if n_sv == 0 || n_sv.saturating_mul(w) > MAX_SV_VALUES {
        return Err(format!(
            "{n_sv} support vectors of {w} features (at most {MAX_SV_VALUES} values)"
        ));
    }
    let mut sv = Vec::with_capacity(n_sv * w);
    for (i, r) in support_vectors.iter().enumerate() {
        width(&format!("support vector {i}"), r, w)?;
        sv.extend_from_slice(r);
    }
    let classifier = !n_support.is_empty();
    let k = if classifier { n_support.len() } else { 1 };
    if classifier && !(2..=limits::MAX_CLASSES).contains(&k) {
        return Err(format!("an SVM classifier of {k} classes"));
    }
    let rows = if classifier { k - 1 } else { 1 };
    if dual_coef.len() != rows {
        return Err(format!(
            "dual coefficients have {} rows, expected {rows}",
            dual_coef.len()
        ));
    }
    let mut coef = Vec::with_capacity(rows * n_sv);
    for (i, r) in dual_coef.iter().enumerate() {
        width(&format!("dual coefficients row {i}"), r, n_sv)?;
        coef.extend_from_slice(r);
    }
    let pairs = if classifier { k * (k - 1) / 2 } else { 1 };
    width("intercepts", intercept, pairs)?;
    if !prob_a.is_empty() || !prob_b.is_empty() {
        if !classifier {
            return Err("an SVM regressor has no probabilities".into());
        }
        width("probA", prob_a, pairs)?;
        width("probB", prob_b, pairs)?;
    }
    if !gamma.is_finite() || !coef0.is_finite() {
        return Err("the kernel's gamma and coef0 must be finite".into());
    }
    let kernel = match kernel {
        "linear" => Kernel::Linear,
        "poly" => Kernel::Poly {
            gamma,
            coef0,
            degree,
        },
        "rbf" => Kernel::Rbf { gamma },
        "sigmoid" => Kernel::Sigmoid { gamma, coef0 },
        other => return Err(format!("unsupported SVM kernel {other:?}")),
    };
    let m = SvmSpec {
        n_in: w as u32,
        n_classes: if classifier { k as u32 } else { 1 },
        kernel,
        n_support: n_support.to_vec(),
        support_vectors: sv,
        coef,
        intercept: intercept.to_vec(),
        prob_a: prob_a.to_vec(),
        prob_b: prob_b.to_vec(),
        break_ties: break_ties && k >= 3,
    };
    let out = if !m.prob_a.is_empty() {
        k
    } else if k <= 2 {
        1
    } else {
        k
    };
    Ok((m, out))
}

/// Converts a scikit-learn estimator or pipeline described as JSON (see [`Description`]).
#[pyfunction]
#[pyo3(signature = (description, feature_names = None))]
pub(crate) fn convert_stages(
    description: &str,
    feature_names: Option<Vec<String>>,
) -> PyResult<Model> {
    let d: Description = serde_json::from_str(description)
        .map_err(|e| err(format!("invalid model description: {e}")))?;
    let (stages, w) =
        build(&d).map_err(|e| err(format!("unsupported or inconsistent model: {e}")))?;
    // NaN reaches a NaN-marker imputer through the scalers before it (scikit-learn's scalers
    // pass NaN on); anything else refuses rows with NaN, as scikit-learn does.
    let takes_nan = stages
        .iter()
        .take_while(|s| {
            matches!(
                s,
                StageSpec::StandardScalerF64 { .. }
                    | StageSpec::MinMaxScalerF64 { .. }
                    | StageSpec::ImputerF64 { .. }
            )
        })
        .any(|s| matches!(s, StageSpec::ImputerF64 { missing, .. } if missing.is_nan()));
    let labels = match &d.classes {
        None => LabelsSpec::None,
        Some(c) if c.iter().all(|l| matches!(l, Label::Int(_))) => LabelsSpec::Int(
            c.iter()
                .filter_map(|l| match l {
                    Label::Int(i) => Some(*i),
                    Label::Str(_) => None,
                })
                .collect(),
        ),
        Some(c) if c.iter().all(|l| matches!(l, Label::Str(_))) => LabelsSpec::Str(
            c.iter()
                .filter_map(|l| match l {
                    Label::Str(s) => Some(s.clone()),
                    Label::Int(_) => None,
                })
                .collect(),
        ),
        Some(_) => return Err(err("class labels mix integers and strings")),
    };
    let (task, n_outputs) = match d.task.as_str() {
        "regression" => (Task::Regression, w),
        "transform" => (Task::Transform, w),
        "classification" => match &d.classes {
            Some(c) if c.len() >= 2 && c.len() <= limits::MAX_CLASSES => {
                (Task::Classification, c.len())
            }
            _ => return Err(err("a classifier needs at least two classes")),
        },
        other => return Err(err(format!("unknown task {other:?}"))),
    };
    let missing = if takes_nan {
        MissingValues::Nan
    } else {
        MissingValues::Reject
    };
    let spec = ModelSpec {
        input: crate::positional_input(d.n_features, missing),
        output: crate::f64_output(task, n_outputs as u32, labels),
        provenance: crate::sklearn_provenance(d.name, d.source_library),
        stages,
    };
    Model::from_spec(spec, feature_names)
}
