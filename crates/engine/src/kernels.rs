//! The kernels: fast ones (f32, written so the compiler vectorises them) and, with the
//! `testing` feature, their plain reference versions (f64, obvious loops). Every fast kernel
//! is property-tested against its reference.
//!
//! The primitives several families share are defined here; each family's own kernels live
//! in its module and are re-exported here, so `kernels::X` names every kernel. The dense
//! kernels (`dot_f32`, `linear_f32`, `dense_f32`, `kmeans_f32`, `pca_f32`, their
//! `*_rows_f32` batch forms, `pca_copy_rows_f32`, `rows_dot_f32`, `svm_kernel_values_f64`,
//! the row check `any_non_finite_f32` and the single row's check and rounding
//! `narrow_check_f64`) are the run-time
//! dispatched entry points of [`crate::simd`]: the same bits on every CPU, each f32 sum the
//! canonical fused multiply-add order of [`dot_f32_8acc`].

pub use crate::family::dense::{activate_f32, activate_f64, dense_f64};
pub use crate::family::imputer::impute_f32;
pub use crate::family::kmeans::{center_norms_f32, kmeans_f64, sq_dist_f32_8acc};
pub use crate::family::linear::linear_f64;
pub use crate::family::naive_bayes::gaussian_nb_f64;
pub use crate::family::normalizer::{norm_f32, normalize_f32};
pub use crate::family::pca::pca_f64;
pub use crate::family::post::{ovr_normalize_f32, softmax_f32, softmax_rows_f32};
pub use crate::family::scaler::{min_max_scale_f32, standard_scale_f32, standard_scale_into_f32};
#[cfg(feature = "testing")]
pub use crate::family::{
    dense::{activate_ref, dense_ref},
    imputer::impute_ref,
    kmeans::kmeans_ref,
    linear::{linear_f64_ref, linear_ref},
    naive_bayes::gaussian_nb_ref,
    normalizer::normalize_ref,
    pca::pca_ref,
    post::{ovr_normalize_ref, softmax_ref},
    scaler::{min_max_scale_ref, standard_scale_ref},
};
pub use crate::simd::{
    any_non_finite_f32, dense_f32, dense_rows_f32, dot_f32, kmeans_f32, kmeans_rows_f32,
    linear_f32, linear_rows_f32, narrow_check_f64, pca_copy_rows_f32, pca_f32, pca_rows_f32,
    rows_dot_f32, rows_sq_dist_f32, svm_kernel_values_f64,
};

/// The canonical f32 dot product, which every f32 dense kernel computes (single row, batch,
/// every instruction set): eight lanes, lane `k` accumulating the terms `i ≡ k (mod 8)` in
/// feature order with fused multiply-adds (`acc_k = fma(a_i, b_i, acc_k)`, one rounding
/// per term), the lanes added as `((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))`, the
/// remaining terms (fewer than eight) accumulated from 0 the same way and added last.
///
/// This is the plain definition (`f32::mul_add`, correctly rounded on every target; on an
/// x86_64 CPU without FMA a call of the C library's `fmaf` per term). The kernels compute
/// the same bits faster: [`crate::simd::dot_f32`] and the other dispatched entry points.
#[inline]
pub fn dot_f32_8acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] = x[k].mul_add(y[k], acc[k]);
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = x.mul_add(*y, tail);
    }
    let s0 = (acc[0] + acc[4]) + (acc[1] + acc[5]);
    let s1 = (acc[2] + acc[6]) + (acc[3] + acc[7]);
    (s0 + s1) + tail
}

#[cfg(feature = "testing")]
/// Reference dot product in f64.
pub fn dot_ref(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Logistic sigmoid, stable for large |z|.
#[inline]
pub fn sigmoid_f32(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(feature = "testing")]
/// Reference sigmoid in f64.
pub fn sigmoid_ref(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Index of the first maximum (scikit-learn's `argmax`); NaN never wins.
#[inline]
pub fn argmax_f32(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Index of the first maximum in f64; NaN never wins.
#[inline]
pub fn argmax_f64(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Softmax in place in f64, max-subtracted (probabilities of a naive Bayes model).
#[inline]
pub fn softmax_f64(x: &mut [f64]) {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Whether any value is NaN or infinite (an exponent of all ones marks both): the body of
/// the dispatched [`any_non_finite_f32`].
///
/// Branch-free, which vectorises (a scan that tests `is_nan` / `is_infinite` element by element, returning at
/// the first bad one, does not, and costs several times the whole linear layer on a
/// 784-feature row), so a row check can run it first and look for the offending index only
/// when it returns true. The AVX2 and AVX-512 copies run it over 256- and 512-bit
/// registers: it reads every row of a batch once, from memory, before the kernels
/// (a 784 → 10 logistic regression's 1000-row float32 batch spent a quarter of its time in
/// the earlier SSE2-only check, docs/BENCHMARKS.md).
#[inline(always)]
pub(crate) fn non_finite_body<M>(_: M, x: &[f32]) -> bool {
    const EXP: u32 = 0x7f80_0000;
    // One `or` reduction with no early exit: the loop vectoriser's simplest shape.
    let mut acc = 0u32;
    for v in x {
        acc |= u32::from(v.to_bits() & EXP == EXP);
    }
    acc != 0
}

/// Whether any value is NaN or has a magnitude above `limit` (infinities included).
///
/// Branch-free over 8-wide chunks so that it vectorises, like [`any_non_finite_f32`]; the
/// caller looks for the offending index only when it returns true.
#[inline]
// `!(a <= b)` is meant: it is true for NaN, which `a > b` is not.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn any_beyond_f64(x: &[f64], limit: f64) -> bool {
    let mut chunks = x.chunks_exact(8);
    let mut acc = [false; 8];
    for c in &mut chunks {
        for k in 0..8 {
            // `!(a <= b)` is true for NaN.
            acc[k] |= !(c[k].abs() <= limit);
        }
    }
    let tail = chunks.remainder().iter().any(|v| !(v.abs() <= limit));
    acc.iter().any(|&b| b) || tail
}

/// Rounds `x` to `f32`s into `out` (the same values as `v as f32`) and tells whether any
/// value is NaN or has a magnitude above `limit` (infinities included), in one pass: the
/// body of the dispatched [`narrow_check_f64`], the start of every `f32` pipeline's single
/// row. The caller looks for the offending index (and decides whether a NaN is a missing
/// value it accepts) only when it returns true.
///
/// Branch-free over 8-wide chunks, so that it vectorises: the AVX-512 copy converts and
/// compares eight `f64` a register. The separate check and rounding loops it replaces,
/// compiled for SSE2 only, held about half of a 784 → 10 logistic regression's single-row
/// samples in `perf` (docs/BENCHMARKS.md, "Single-row fixed costs").
#[inline(always)]
// `!(a <= b)` is meant: it is true for NaN, which `a > b` is not.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub(crate) fn narrow_check_body<M>(_: M, x: &[f64], limit: f64, out: &mut [f32]) -> bool {
    let n = x.len().min(out.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    let mut xs = x.chunks_exact(8);
    let mut os = out.chunks_exact_mut(8);
    let mut acc = [false; 8];
    for (c, o) in (&mut xs).zip(&mut os) {
        for k in 0..8 {
            o[k] = c[k] as f32;
            acc[k] |= !(c[k].abs() <= limit);
        }
    }
    let mut tail = false;
    for (v, o) in xs.remainder().iter().zip(os.into_remainder()) {
        *o = *v as f32;
        tail |= !(v.abs() <= limit);
    }
    acc.iter().fold(tail, |a, &b| a | b)
}

/// Rounds `f64`s to `f32`s.
pub(crate) fn narrow(src: &[f64], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s as f32;
    }
}

/// Widens `f32`s to `f64`s.
pub(crate) fn widen(src: &[f32], dst: &mut [f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f64::from(*s);
    }
}
