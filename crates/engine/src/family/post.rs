//! Post transforms (`Stage::Post`): sigmoid, softmax, one-vs-rest normalisation, `exp`.
//!
//! An `f32` model's transforms are XGBoost's `float` ones (`common::Sigmoid`,
//! `common::Softmax`, `expf`), an `f64` model's LightGBM's `double` ones
//! (`ConvertOutput` of its objectives, `Common::Softmax`): the same operations in the same
//! order, so that an answer is the library's bit for bit.

#[cfg(feature = "testing")]
use crate::kernels::sigmoid_ref;
use crate::kernels::softmax_f64;
use icebreak_format::PostTransform;

/// Softmax in place, max-subtracted, as XGBoost's `common::Softmax`: `expf(x - max)` in
/// `f32`, their sum in `f64` (in order), each divided by the sum rounded to `f32`.
#[inline]
pub fn softmax_f32(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let sum = sum as f32;
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// [`softmax_f32`] of each row of `x` (rows of `w` values) into `out`, bit for bit: the
/// same operations on each row in the same order, eight rows side by side so that their
/// dependency chains (the running maximum, the `f64` sum, the divisions) overlap instead of
/// running one row after another (a 784 → 10 logistic regression's batch spent a quarter
/// of its time in its rows' softmax, one row at a time).
pub fn softmax_rows_f32(x: &[f32], w: usize, out: &mut [f32]) {
    const B: usize = 8;
    if w == 0 {
        return;
    }
    let mut xs = x.chunks_exact(B * w);
    let mut os = out.chunks_exact_mut(B * w);
    for (xb, ob) in (&mut xs).zip(&mut os) {
        let mut max = [f32::NEG_INFINITY; B];
        for c in 0..w {
            for r in 0..B {
                max[r] = max[r].max(xb[r * w + c]);
            }
        }
        let mut sum = [0.0f64; B];
        for c in 0..w {
            for r in 0..B {
                let e = (xb[r * w + c] - max[r]).exp();
                ob[r * w + c] = e;
                sum[r] += f64::from(e);
            }
        }
        for r in 0..B {
            let s = sum[r] as f32;
            for v in &mut ob[r * w..(r + 1) * w] {
                *v /= s;
            }
        }
    }
    for (xr, or) in xs
        .remainder()
        .chunks_exact(w)
        .zip(os.into_remainder().chunks_exact_mut(w))
    {
        or.copy_from_slice(xr);
        softmax_f32(or);
    }
}

/// XGBoost's `common::Sigmoid(float)`: `1 / (expf(min(-z, 88.7)) + 1)` in `f32` (its
/// `+ 1e-16f` never changes a sum that is at least 1).
#[inline]
pub fn sigmoid_post_f32(z: f32) -> f32 {
    let m = -z;
    let m = if 88.7f32 < m { 88.7f32 } else { m };
    1.0 / (m.exp() + 1.0)
}

/// LightGBM's sigmoid (`sigmoid` parameter 1): `1 / (1 + exp(-z))` in `f64`.
#[inline]
pub fn sigmoid_post_f64(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
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

/// Applies a post transform from `scores` into `out`, in `f32`; returns the output width.
pub(crate) fn apply(p: PostTransform, scores: &[f32], out: &mut [f32]) -> usize {
    match p {
        PostTransform::BinaryLogistic => {
            let s = sigmoid_post_f32(scores[0]);
            out[0] = 1.0 - s;
            out[1] = s;
            2
        }
        PostTransform::Logistic => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = sigmoid_post_f32(z);
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

/// Applies a post transform from `scores` into `out`, in `f64`; returns the output width.
pub(crate) fn apply_f64(p: PostTransform, scores: &[f64], out: &mut [f64]) -> usize {
    let n = scores.len();
    match p {
        PostTransform::BinaryLogistic => {
            // LightGBM's `predict_proba`: `[1 - p, p]`.
            let s = sigmoid_post_f64(scores[0]);
            out[0] = 1.0 - s;
            out[1] = s;
            2
        }
        PostTransform::Logistic => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = sigmoid_post_f64(z);
            }
            n
        }
        PostTransform::Softmax => {
            out[..n].copy_from_slice(scores);
            softmax_f64(&mut out[..n]);
            n
        }
        PostTransform::OvrNormalize => {
            let mut sum = 0.0;
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = sigmoid_post_f64(z);
                sum += *o;
            }
            if sum > 0.0 {
                for o in &mut out[..n] {
                    *o /= sum;
                }
            }
            n
        }
        PostTransform::Exp => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = z.exp();
            }
            n
        }
        PostTransform::Probabilities => {
            out[..n].copy_from_slice(scores);
            n
        }
    }
}
