//! The plain reference pipeline: obvious f64 loops, no blocking, no tricks. The fast paths of
//! [`crate::Model`] are property-tested against it.

use crate::kernels::{linear_ref, ovr_normalize_ref, sigmoid_ref, softmax_ref, standard_scale_ref};
use icebreak_format::{PostTransform, Stage, Task};

/// Reference outputs of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct RefOutput {
    /// Estimator outputs.
    pub scores: Vec<f64>,
    /// Probabilities, where the pipeline has a post transform.
    pub probabilities: Option<Vec<f64>>,
    /// Predicted class index (classifiers).
    pub class: Option<usize>,
}

/// Runs `stages` over `x` in f64.
pub fn predict(stages: &[Stage<'_>], task: Task, x: &[f32]) -> RefOutput {
    let mut v: Vec<f64> = x.iter().map(|&f| f as f64).collect();
    let mut scores = Vec::new();
    let mut probabilities = None;
    let mut ovr = false;
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
            Stage::Post(p) => {
                ovr = p == PostTransform::OvrNormalize;
                probabilities = Some(match p {
                    PostTransform::Logistic => v.iter().map(|&z| sigmoid_ref(z)).collect(),
                    PostTransform::BinaryLogistic => {
                        let s = sigmoid_ref(v[0]);
                        vec![1.0 - s, s]
                    }
                    PostTransform::Softmax => softmax_ref(&v),
                    PostTransform::OvrNormalize => ovr_normalize_ref(&v),
                });
            }
        }
    }
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
        probabilities,
        class,
    }
}
