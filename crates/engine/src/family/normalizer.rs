//! The row normalizer (`Stage::Normalizer`, scikit-learn's `Normalizer`).

use icebreak_format::Norm;

/// Sum of `|x_i|`, eight lanes at a time.
#[inline]
fn sum_abs_f32(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut c = x.chunks_exact(8);
    for ch in &mut c {
        for k in 0..8 {
            acc[k] += ch[k].abs();
        }
    }
    let tail: f32 = c.remainder().iter().map(|v| v.abs()).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// The norm of a row (`0` for an all-zero row).
#[inline]
pub fn norm_f32(x: &[f32], norm: Norm) -> f32 {
    match norm {
        Norm::L1 => sum_abs_f32(x),
        Norm::L2 => crate::simd::dot_f32(x, x).sqrt(),
        Norm::Max => x.iter().fold(0.0f32, |m, v| m.max(v.abs())),
    }
}

/// Divides the row by its norm, in place; a row of norm 0 is left as it is (scikit-learn's
/// `Normalizer`, which replaces a zero norm by 1).
#[inline]
pub fn normalize_f32(x: &mut [f32], norm: Norm) {
    let n = norm_f32(x, norm);
    if n != 0.0 {
        for v in x.iter_mut() {
            *v /= n;
        }
    }
}

/// Divides the row by its norm in `f64`, in place (a pipeline computed in `f64` throughout);
/// the sums are taken in feature order, a row of norm 0 is left as it is.
#[inline]
pub fn normalize_f64(x: &mut [f64], norm: Norm) {
    let n = match norm {
        Norm::L1 => x.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => x.iter().map(|v| v * v).sum::<f64>().sqrt(),
        Norm::Max => x.iter().fold(0.0f64, |m, v| m.max(v.abs())),
    };
    if n != 0.0 {
        for v in x.iter_mut() {
            *v /= n;
        }
    }
}

#[cfg(feature = "testing")]
/// Reference normalizer in f64.
pub fn normalize_ref(x: &[f64], norm: Norm) -> Vec<f64> {
    let n = match norm {
        Norm::L1 => x.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => x.iter().map(|v| v * v).sum::<f64>().sqrt(),
        Norm::Max => x.iter().fold(0.0f64, |m, v| m.max(v.abs())),
    };
    let n = if n == 0.0 { 1.0 } else { n };
    x.iter().map(|v| v / n).collect()
}
