//! The plain reference pipeline: obvious f64 loops, no blocking, no tricks. The fast paths of
//! [`crate::Model`] are property-tested against it.

use crate::kernels::{linear_ref, ovr_normalize_ref, sigmoid_ref, softmax_ref, standard_scale_ref};
use icebreak_format::{PostTransform, Stage, Task};

/// Reference outputs of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RefOutput {
    /// Estimator outputs.
    pub scores: Vec<f64>,
    /// Final outputs (after the post transform, if any).
    pub values: Vec<f64>,
    /// Probabilities, for classifiers with a post transform.
    pub probabilities: Option<Vec<f64>>,
    /// Predicted class index (classifiers).
    pub class: Option<usize>,
}

/// Runs `stages` over `x` in f64. Linear pipelines see the row rounded to `f32`, as the
/// engine's; a tree ensemble that is the first stage sees the row as given.
pub fn predict(stages: &[Stage<'_>], task: Task, x: &[f64]) -> RefOutput {
    let first_is_trees = matches!(stages.first(), Some(Stage::Trees(_)));
    let mut v: Vec<f64> = if first_is_trees {
        x.to_vec()
    } else {
        x.iter().map(|&f| f64::from(f as f32)).collect()
    };
    let mut scores = Vec::new();
    let mut post = None;
    for s in stages {
        match *s {
            Stage::StandardScaler { mean, scale } => v = standard_scale_ref(&v, mean, scale),
            Stage::Linear {
                coef, intercept, ..
            } => {
                let xf: Vec<f32> = v.iter().map(|&f| f as f32).collect();
                scores = linear_ref(&xf, coef, intercept);
                v = scores.clone();
            }
            Stage::Trees(t) => {
                scores = crate::trees::trees_ref(&t, &v);
                v = scores.clone();
            }
            Stage::MinMaxScaler { .. }
            | Stage::Normalizer { .. }
            | Stage::Imputer { .. }
            | Stage::Pca { .. }
            | Stage::Dense { .. }
            | Stage::Svm(_)
            | Stage::KMeans { .. }
            | Stage::GaussianNb { .. } => unimplemented!("reference for {}", s.name()),
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
            }
        }
    }
    let ovr = post == Some(PostTransform::OvrNormalize);
    let probabilities = (task == Task::Classification && post.is_some()).then(|| v.clone());
    let class = (task == Task::Classification).then(|| match scores.as_slice() {
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
    });
    RefOutput {
        scores,
        values: v,
        probabilities,
        class,
    }
}
