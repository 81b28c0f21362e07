//! Linear models (`Stage::Linear`): `coef · x + intercept` in `f32`, one row at a time or
//! the blocked product of a whole batch ([`crate::blocked`]); `Stage::LinearF64` in `f64`,
//! one row at a time.

use crate::blocked::{self, Dot, Micro};
#[cfg(feature = "testing")]
use crate::kernels::dot_ref;

/// `out[j] = intercept[j] + coef[j] · x` for every output row `j` (single-row path; the
/// body of [`crate::simd::linear_f32`]): four weight rows at a time, sharing the loads of
/// `x`, each sum in the order of [`crate::kernels::dot_f32_8acc`].
#[inline(always)]
pub(crate) fn linear_f32_body<M: Micro>(
    m: M,
    x: &[f32],
    coef: &[f32],
    intercept: &[f32],
    out: &mut [f32],
) {
    blocked::row_all::<Dot, M>(m, x, &coef[..out.len() * x.len()], out);
    for (o, b) in out.iter_mut().zip(intercept) {
        *o += *b;
    }
}

/// `out[j] = intercept[j] + Σ_i coef[j · n_in + i] · x[i]` in `f64`, the sum taken in
/// feature order from 0 (`Stage::LinearF64`).
#[inline]
pub fn linear_f64(x: &[f64], coef: &[f64], intercept: &[f64], out: &mut [f64]) {
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let w = &coef[j * n_in..(j + 1) * n_in];
        let mut acc = 0.0f64;
        for (a, b) in x.iter().zip(w) {
            acc += a * b;
        }
        *o = intercept[j] + acc;
    }
}

#[cfg(feature = "testing")]
/// Reference f64 linear layer: the obvious loop, in the order [`linear_f64`] promises.
pub fn linear_f64_ref(x: &[f64], coef: &[f64], intercept: &[f64]) -> Vec<f64> {
    let n_in = x.len();
    intercept
        .iter()
        .enumerate()
        .map(|(j, &b)| {
            let row = &coef[j * n_in..(j + 1) * n_in];
            b + (0..n_in).fold(0.0, |s, i| s + x[i] * row[i])
        })
        .collect()
}

#[cfg(feature = "testing")]
/// Reference linear layer in f64.
pub fn linear_ref(x: &[f32], coef: &[f32], intercept: &[f32]) -> Vec<f64> {
    let n_in = x.len();
    intercept
        .iter()
        .enumerate()
        .map(|(j, &b)| b as f64 + dot_ref(x, &coef[j * n_in..(j + 1) * n_in]))
        .collect()
}

/// The linear layer over a batch (the body of [`crate::simd::linear_rows_f32`]): the
/// blocked product of the rows and the weight rows ([`crate::blocked`]), then the
/// intercepts, in the single-row path's order.
#[inline(always)]
pub(crate) fn linear_rows_body<M: Micro>(
    m: M,
    x: &[f32],
    nf: usize,
    coef: &[f32],
    intercept: &[f32],
    n_out: usize,
    scores: &mut [f32],
) {
    blocked::rows_all::<Dot, M>(m, x, nf, coef, n_out, scores);
    if n_out == 0 {
        return;
    }
    for row in scores.chunks_exact_mut(n_out) {
        for (o, b) in row.iter_mut().zip(intercept) {
            *o += *b;
        }
    }
}
