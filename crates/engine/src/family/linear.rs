//! Linear models (`Stage::Linear`): `coef · x + intercept` in `f32`, one row at a time or
//! the blocked product of a whole batch ([`crate::blocked`]); `Stage::LinearF64` in `f64`,
//! one row at a time.

use crate::blocked::{self, Dot, Micro, Packed};
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
    dots_f64(x, coef, out);
    for (o, b) in out.iter_mut().zip(intercept) {
        *o += *b;
    }
}

/// `out[j] = Σ_i x_i · rows[j · n_in + i]`, each sum taken in feature order from 0 (the
/// order FORMAT.md promises for the f64 stages; `intercept + Σ` is then the same value as
/// `Σ + intercept`). Four outputs are summed side by side: four independent chains of
/// additions instead of one, each still in feature order, so the result is bit for bit that
/// of the plain loop and the additions' latency overlaps.
pub(crate) fn dots_f64(x: &[f64], rows: &[f64], out: &mut [f64]) {
    let n_in = x.len();
    if n_in == 0 {
        out.fill(0.0);
        return;
    }
    let rows = &rows[..(out.len() * n_in).min(rows.len())];
    let mut blocks = rows.chunks_exact(4 * n_in);
    let mut j = 0;
    for block in &mut blocks {
        let (w0, rest) = block.split_at(n_in);
        let (w1, rest) = rest.split_at(n_in);
        let (w2, w3) = rest.split_at(n_in);
        let mut acc = [0.0f64; 4];
        for i in 0..n_in {
            let v = x[i];
            acc[0] += v * w0[i];
            acc[1] += v * w1[i];
            acc[2] += v * w2[i];
            acc[3] += v * w3[i];
        }
        out[j..j + 4].copy_from_slice(&acc);
        j += 4;
    }
    // The last one to three outputs, side by side as well.
    let rest = blocks.remainder();
    let r = rest.len() / n_in;
    let mut acc = [0.0f64; 4];
    for (i, &v) in x.iter().enumerate() {
        for (k, a) in acc.iter_mut().enumerate().take(r) {
            *a += v * rest[k * n_in + i];
        }
    }
    for (o, a) in out[j..].iter_mut().zip(&acc[..r]) {
        *o = *a;
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
#[allow(clippy::too_many_arguments)] // the batch shape, the stage's tensors and their packed copy
pub(crate) fn linear_rows_body<M: Micro>(
    m: M,
    x: &[f32],
    nf: usize,
    coef: &[f32],
    intercept: &[f32],
    n_out: usize,
    scores: &mut [f32],
    packed: Option<&Packed>,
) {
    blocked::rows_all::<Dot, M>(m, x, nf, coef, n_out, scores, packed);
    if n_out == 0 {
        return;
    }
    for row in scores.chunks_exact_mut(n_out) {
        for (o, b) in row.iter_mut().zip(intercept) {
            *o += *b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dots_f64;

    /// The plain loop `dots_f64` must equal bit for bit: one sum per output, feature order.
    fn plain(x: &[f64], rows: &[f64], n_out: usize) -> Vec<f64> {
        (0..n_out)
            .map(|j| {
                let mut acc = 0.0f64;
                for (i, v) in x.iter().enumerate() {
                    acc += v * rows[j * x.len() + i];
                }
                acc
            })
            .collect()
    }

    #[test]
    fn four_outputs_side_by_side_sum_like_the_plain_loop() {
        // Values of mixed magnitude and sign, so that the order of the additions shows.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let m = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            m * 10f64.powi((state % 17) as i32 - 8)
        };
        for n_in in 0..9 {
            for n_out in 1..11 {
                let x: Vec<f64> = (0..n_in).map(|_| next()).collect();
                let rows: Vec<f64> = (0..n_in * n_out).map(|_| next()).collect();
                let mut out = vec![f64::NAN; n_out];
                dots_f64(&x, &rows, &mut out);
                let want = plain(&x, &rows, n_out);
                assert_eq!(
                    out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "n_in {n_in}, n_out {n_out}"
                );
            }
        }
    }
}
