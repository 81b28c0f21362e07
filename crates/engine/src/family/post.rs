//! Post transforms (`Stage::Post`): sigmoid, softmax, one-vs-rest normalisation, `exp`.

use crate::kernels::sigmoid_f32;
#[cfg(feature = "testing")]
use crate::kernels::sigmoid_ref;
use icebreak_format::PostTransform;

/// Softmax in place, max-subtracted.
#[inline]
pub fn softmax_f32(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(feature = "testing")]
/// Reference softmax in f64.
pub fn softmax_ref(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `ln(sigmoid(z))`, accurate for any finite `z`.
#[inline]
fn log_sigmoid_f32(z: f32) -> f32 {
    if z >= 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

/// One-vs-rest: sigmoid of each score, divided by their sum (scikit-learn's convention).
///
/// Computed in the log domain (`ln sigmoid`, then a max-subtracted softmax) so that rows
/// whose scores are all very negative — where every sigmoid underflows in f32 — still get a
/// proper distribution, as scikit-learn's float64 arithmetic gives them.
#[inline]
pub fn ovr_normalize_f32(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = log_sigmoid_f32(*v);
    }
    softmax_f32(x);
}

#[cfg(feature = "testing")]
/// Reference one-vs-rest normalisation in f64.
pub fn ovr_normalize_ref(x: &[f64]) -> Vec<f64> {
    let s: Vec<f64> = x.iter().map(|&v| sigmoid_ref(v)).collect();
    let sum: f64 = s.iter().sum();
    s.iter()
        .map(|v| if sum > 0.0 { v / sum } else { *v })
        .collect()
}

/// Applies a post transform from `scores` into `out`; returns the output width.
pub(crate) fn apply(p: PostTransform, scores: &[f32], out: &mut [f32]) -> usize {
    match p {
        PostTransform::BinaryLogistic => {
            let s = sigmoid_f32(scores[0]);
            out[0] = 1.0 - s;
            out[1] = s;
            2
        }
        PostTransform::Logistic => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = sigmoid_f32(z);
            }
            scores.len()
        }
        PostTransform::Softmax => {
            out[..scores.len()].copy_from_slice(scores);
            softmax_f32(&mut out[..scores.len()]);
            scores.len()
        }
        PostTransform::OvrNormalize => {
            out[..scores.len()].copy_from_slice(scores);
            ovr_normalize_f32(&mut out[..scores.len()]);
            scores.len()
        }
        PostTransform::Exp => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = z.exp();
            }
            scores.len()
        }
        PostTransform::Probabilities => {
            out[..scores.len()].copy_from_slice(scores);
            scores.len()
        }
    }
}
