//! Linear models (`Stage::Linear`): `coef · x + intercept` in `f32`, one row at a time or
//! four rows at a time in the batch path; `Stage::LinearF64` in `f64`, one row at a time.

#[cfg(feature = "testing")]
use crate::kernels::dot_ref;
use crate::kernels::{dot4_f32, dot_f32_8acc};

/// `out[j] = intercept[j] + coef[j] · x` for every output row `j` (single-row path).
#[inline]
pub fn linear_f32(x: &[f32], coef: &[f32], intercept: &[f32], out: &mut [f32]) {
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let w = &coef[j * n_in..(j + 1) * n_in];
        *o = intercept[j] + dot_f32_8acc(x, w);
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

/// The linear layer over a batch, four rows at a time.
pub(crate) fn batch(
    x: &[f32],
    nf: usize,
    coef: &[f32],
    intercept: &[f32],
    n_out: usize,
    scores: &mut [f32],
) {
    let mut blocks = x.chunks_exact(4 * nf);
    let mut r = 0;
    for block in &mut blocks {
        let rws = [
            &block[..nf],
            &block[nf..2 * nf],
            &block[2 * nf..3 * nf],
            &block[3 * nf..],
        ];
        for j in 0..n_out {
            let d = dot4_f32(rws, &coef[j * nf..(j + 1) * nf]);
            for (k, v) in d.iter().enumerate() {
                scores[(r + k) * n_out + j] = intercept[j] + v;
            }
        }
        r += 4;
    }
    for row in blocks.remainder().chunks_exact(nf) {
        linear_f32(
            row,
            coef,
            intercept,
            &mut scores[r * n_out..(r + 1) * n_out],
        );
        r += 1;
    }
}
