//! The plain reference pipeline: obvious f64 loops, no blocking, no tricks. The fast paths of
//! [`crate::Model`] are property-tested against it.

use crate::kernels::{
    dense_ref, gaussian_nb_ref, impute_ref, kmeans_ref, linear_f64_ref, linear_ref,
    min_max_scale_ref, normalize_ref, ovr_normalize_ref, pca_ref, sigmoid_ref, softmax_ref,
    standard_scale_ref,
};
use crate::svm::svm_ref;
use icebreak_format::{PostTransform, Stage, Task};

/// Reference outputs of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RefOutput {
    /// Estimator outputs.
    pub scores: Vec<f64>,
    /// Final outputs (after the post transform, if any).
    pub values: Vec<f64>,
    /// Probabilities, for classifiers with a post transform or an SVM with probabilities.
    pub probabilities: Option<Vec<f64>>,
    /// Predicted class index (classifiers).
    pub class: Option<usize>,
}

/// Runs `stages` over `x` in f64. Pipelines that compute in `f32` see the row rounded to
/// `f32`, as the engine's; a tree ensemble, an SVM or a naive Bayes model that is the first
/// stage sees the row as given. After that every stage computes in `f64` from the previous
/// stage's exact output (the engine rounds between stages to `f32`).
pub fn predict(stages: &[Stage<'_>], task: Task, x: &[f64]) -> RefOutput {
    run(stages, task, x, false)
}

/// Runs a pipeline computed in `f64` throughout (every stage an f64 scaler, an f64 linear
/// model or a post transform, with an `f64` output precision) over `x` as given: no value is
/// ever rounded to `f32`.
pub fn predict_all_f64(stages: &[Stage<'_>], task: Task, x: &[f64]) -> RefOutput {
    run(stages, task, x, true)
}

fn run(stages: &[Stage<'_>], task: Task, x: &[f64], all_f64: bool) -> RefOutput {
    let reads_f64 = all_f64
        || matches!(
            stages.first(),
            Some(
                Stage::Trees(_)
                    | Stage::Oblivious(_)
                    | Stage::Svm(_)
                    | Stage::SvmF64(_)
                    | Stage::GaussianNb { .. },
            )
        );
    let mut v: Vec<f64> = if reads_f64 {
        x.to_vec()
    } else {
        x.iter().map(|&f| f64::from(f as f32)).collect()
    };
    let mut scores = None;
    let mut post = None;
    let mut class = None;
    let mut probabilities = None;
    for (i, s) in stages.iter().enumerate() {
        match *s {
            Stage::StandardScaler { mean, scale } => v = standard_scale_ref(&v, mean, scale),
            Stage::StandardScalerF64 { mean, scale } => {
                // First: from the caller's row as given; later: from the f32 row so far.
                let from = if i == 0 { x } else { &v[..] };
                v = from
                    .iter()
                    .zip(mean.iter().zip(scale))
                    .map(|(&f, (&m, &s))| (f - m) / s)
                    .map(|y| if all_f64 { y } else { f64::from(y as f32) })
                    .collect();
            }
            Stage::MinMaxScalerF64 { scale, min } => {
                let from = if i == 0 { x } else { &v[..] };
                v = from
                    .iter()
                    .zip(scale.iter().zip(min))
                    .map(|(&f, (&s, &m))| f * s + m)
                    .map(|y| if all_f64 { y } else { f64::from(y as f32) })
                    .collect();
            }
            Stage::MinMaxScaler { scale, min } => v = min_max_scale_ref(&v, scale, min),
            Stage::Normalizer { norm, .. } => v = normalize_ref(&v, norm),
            Stage::Imputer { missing, fill } => v = impute_ref(&v, missing, fill),
            Stage::ImputerF64 { missing, fill } => {
                v = crate::family::imputer::impute_f64_ref(&v, missing, fill);
                if !all_f64 {
                    // In an f32 pipeline: compared as f32, filled with f32 values.
                    let x32: Vec<f64> = v.iter().map(|&y| f64::from(y as f32)).collect();
                    v = x32;
                }
            }
            Stage::Pca {
                mean,
                components,
                whiten,
                ..
            } => v = pca_ref(&v, mean, components, whiten),
            Stage::PcaF64 {
                mean,
                components,
                whiten,
                ..
            } => v = crate::family::pca::pca_f64_ref(&v, mean, components, whiten),
            Stage::Linear {
                coef, intercept, ..
            } => {
                let xf: Vec<f32> = v.iter().map(|&f| f as f32).collect();
                v = linear_ref(&xf, coef, intercept);
                scores = Some(v.clone());
            }
            Stage::LinearF64 {
                coef, intercept, ..
            } => {
                v = linear_f64_ref(&v, coef, intercept);
                scores = Some(v.clone());
            }
            Stage::DenseF64 {
                weights,
                bias,
                activation,
                ..
            } => {
                v = crate::family::dense::dense_f64_ref(&v, weights, bias, activation);
                scores = Some(v.clone());
            }
            Stage::Dense {
                weights,
                bias,
                activation,
                ..
            } => {
                v = dense_ref(&v, weights, bias, activation);
                scores = Some(v.clone());
            }
            Stage::Trees(t) => {
                v = crate::trees::trees_ref(&t, &v);
                scores = Some(v.clone());
            }
            Stage::Oblivious(o) => {
                v = crate::oblivious::oblivious_ref(&o, &v);
                scores = Some(v.clone());
            }
            Stage::SvmF64(m) => {
                let r = svm_ref(&m, &v);
                scores = Some(r.scores.clone());
                class = r.class;
                v = match r.probabilities {
                    Some(p) => {
                        probabilities = (task == Task::Classification).then(|| p.clone());
                        p
                    }
                    None => r.scores,
                };
            }
            Stage::Svm(m) => {
                let r = svm_ref(&m, &v);
                scores = Some(r.scores.clone());
                class = r.class;
                v = match r.probabilities {
                    Some(p) => {
                        probabilities = (task == Task::Classification).then(|| p.clone());
                        p
                    }
                    None => r.scores,
                };
            }
            Stage::KMeansF64 { centers, .. } => {
                let (d, nearest) = crate::family::kmeans::kmeans_f64_ref(&v, centers);
                class = Some(nearest);
                v = d;
                scores = Some(v.clone());
            }
            Stage::KMeans { centers, .. } => {
                let (d, nearest) = kmeans_ref(&v, centers);
                class = Some(nearest);
                v = d;
                scores = Some(v.clone());
            }
            Stage::GaussianNb {
                theta,
                var,
                log_prior,
                log_norm,
                ..
            } => {
                v = if all_f64 {
                    crate::family::naive_bayes::gaussian_nb_f64_ref(
                        &v, theta, var, log_prior, log_norm,
                    )
                } else {
                    gaussian_nb_ref(&v, theta, var, log_prior, log_norm)
                };
                let mut best = 0;
                for (i, &z) in v.iter().enumerate() {
                    if z > v[best] {
                        best = i;
                    }
                }
                class = Some(best);
                scores = Some(v.clone());
            }
            Stage::Post(p) => {
                post = Some(p);
                v = match p {
                    PostTransform::Logistic => v.iter().map(|&z| sigmoid_ref(z)).collect(),
                    PostTransform::BinaryLogistic => {
                        let s = sigmoid_ref(v[0]);
                        vec![1.0 - s, s]
                    }
                    PostTransform::Softmax => softmax_ref(&v),
                    PostTransform::OvrNormalize => ovr_normalize_ref(&v),
                    PostTransform::Exp => v.iter().map(|z| z.exp()).collect(),
                    PostTransform::Probabilities => v.clone(),
                };
                if task == Task::Classification {
                    probabilities = Some(v.clone());
                }
            }
        }
    }
    // A transformer's scores are its outputs.
    let scores = scores.unwrap_or_else(|| v.clone());
    let ovr = post == Some(PostTransform::OvrNormalize);
    let class = (task == Task::Classification).then(|| {
        class.unwrap_or_else(|| match scores.as_slice() {
            [z] => usize::from(*z > 0.0),
            s => {
                let mut best = 0;
                for (i, &z) in s.iter().enumerate() {
                    if z > s[best] || (ovr && z == s[best]) {
                        best = i;
                    }
                }
                best
            }
        })
    });
    RefOutput {
        scores,
        values: v,
        probabilities,
        class,
    }
}
