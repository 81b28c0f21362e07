//! k-means (`Stage::KMeans` in `f32`, `Stage::KMeansF64` in `f64`): Euclidean distances to
//! the centres and the nearest one.

use crate::blocked::{self, Dot, Micro};

/// Squared Euclidean distance in the canonical order of [`crate::kernels::dot_f32_8acc`]:
/// each difference rounded, then accumulated by a fused multiply-add (`fma(d, d, acc)`).
#[inline]
pub fn sq_dist_f32_8acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            let d = x[k] - y[k];
            acc[k] = d.mul_add(d, acc[k]);
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail = d.mul_add(d, tail);
    }
    (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail
}

/// `‖c‖²` of each of the `k` centres (rows of `n_in` values), each in the order of
/// [`crate::kernels::dot_f32_8acc`]: what [`crate::simd::kmeans_f32`] adds to every distance.
/// The engine computes it once per model, on the first prediction.
pub fn center_norms_f32(centers: &[f32], n_in: usize, k: usize) -> Vec<f32> {
    (0..k)
        .map(|j| {
            let c = &centers[j * n_in..(j + 1) * n_in];
            crate::simd::dot_f32(c, c)
        })
        .collect()
}

/// Distances from `x` to each of the `out.len()` centres, as scikit-learn's
/// `euclidean_distances` and the ONNX graph skl2onnx writes compute them:
/// `sqrt(max((-2 x · c + ‖x‖²) + ‖c‖², 0))`, in `f32`, with `norms` the centres' `‖c‖²`
/// ([`center_norms_f32`]); returns the index of the smallest squared distance (ties to the
/// first). The body of [`crate::simd::kmeans_f32`]: four centres at a time, each product in
/// the order of [`crate::kernels::dot_f32_8acc`].
///
/// Why the product form and not `Σ (x − c)²`: a centre coordinate that is tiny (1e-20, as
/// the border pixels of image data give) against an input of exactly 0 makes a subnormal
/// square, which the CPU computes in microcode: on a 784-feature model with 85 such
/// coordinates the difference form took 1.68 µs a row and 0.44 µs with them set to 0
/// (docs/BENCHMARKS.md). The products `x · c` of the same values are normal numbers or 0.
#[inline(always)]
pub(crate) fn kmeans_f32_body<M: Micro>(
    m: M,
    x: &[f32],
    centers: &[f32],
    norms: &[f32],
    out: &mut [f32],
) -> usize {
    let xx = blocked::pair::<Dot, M>(m, x, x);
    blocked::row_all::<Dot, M>(m, x, &centers[..out.len() * x.len()], out);
    nearest_and_sqrt(out, xx, norms)
}

/// The squared distances from the products `x · c` (in `out`), `‖x‖²` and the `‖c‖²`; the
/// index of the smallest (ties to the first); `out` becomes the distances.
#[inline(always)]
fn nearest_and_sqrt(out: &mut [f32], xx: f32, norms: &[f32]) -> usize {
    let mut best = 0;
    let mut best_d = f32::INFINITY;
    for (c, (o, cc)) in out.iter_mut().zip(norms).enumerate() {
        let d = ((-2.0 * *o + xx) + cc).max(0.0);
        if d < best_d {
            best_d = d;
            best = c;
        }
        *o = d.sqrt();
    }
    best
}

/// k-means over a batch (the body of [`crate::simd::kmeans_rows_f32`]): `x` holds rows of
/// `n_in` values; `out` gets the `k` distances of each row and `nearest` its nearest centre,
/// bit for bit the single-row path's.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the batch shape, the stage's tensors and two outputs
pub(crate) fn kmeans_rows_body<M: Micro>(
    m: M,
    x: &[f32],
    n_in: usize,
    centers: &[f32],
    norms: &[f32],
    k: usize,
    out: &mut [f32],
    nearest: &mut [usize],
) {
    blocked::rows_all::<Dot, M>(m, x, n_in, centers, k, out, None);
    if k == 0 || n_in == 0 {
        for (row, n) in out.chunks_exact_mut(k.max(1)).zip(nearest.iter_mut()) {
            *n = nearest_and_sqrt(&mut row[..k], 0.0, norms);
        }
        return;
    }
    for ((row, xr), n) in out
        .chunks_exact_mut(k)
        .zip(x.chunks_exact(n_in))
        .zip(nearest.iter_mut())
    {
        let xx = blocked::pair::<Dot, M>(m, xr, xr);
        *n = nearest_and_sqrt(row, xx, norms);
    }
}

/// Distances from `x` to each of the `out.len()` f64 centres, in `f64` as scikit-learn's
/// `euclidean_distances` computes them: `sqrt(max((-2 x · c + ‖x‖²) + ‖c‖², 0))`, each sum
/// taken in feature order from 0. Returns the index of the smallest squared distance (ties
/// to the first).
#[inline]
pub fn kmeans_f64(x: &[f64], centers: &[f64], out: &mut [f64]) -> usize {
    let n_in = x.len();
    let xx = x.iter().fold(0.0f64, |s, v| s + v * v);
    let mut best = 0;
    let mut best_d = f64::INFINITY;
    for (c, o) in out.iter_mut().enumerate() {
        let row = &centers[c * n_in..(c + 1) * n_in];
        let mut dot = 0.0f64;
        let mut yy = 0.0f64;
        for (v, m) in x.iter().zip(row) {
            dot += v * m;
            yy += m * m;
        }
        let d = (-2.0 * dot + xx + yy).max(0.0);
        if d < best_d {
            best_d = d;
            best = c;
        }
        *o = d.sqrt();
    }
    best
}

#[cfg(feature = "testing")]
/// Reference f64 k-means in the order [`kmeans_f64`] promises: the distances and the
/// nearest centre (ties to the first).
pub fn kmeans_f64_ref(x: &[f64], centers: &[f64]) -> (Vec<f64>, usize) {
    let n_in = x.len();
    let xx = (0..n_in).fold(0.0, |s, i| s + x[i] * x[i]);
    let sq: Vec<f64> = centers
        .chunks_exact(n_in.max(1))
        .map(|c| {
            let dot = (0..n_in).fold(0.0, |s, i| s + x[i] * c[i]);
            let yy = (0..n_in).fold(0.0, |s, i| s + c[i] * c[i]);
            f64::max(((-2.0 * dot) + xx) + yy, 0.0)
        })
        .collect();
    let mut best = 0;
    for (i, &d) in sq.iter().enumerate() {
        if d < sq[best] {
            best = i;
        }
    }
    (sq.iter().map(|d| d.sqrt()).collect(), best)
}

#[cfg(feature = "testing")]
/// Reference k-means in f64: the distances and the nearest centre (ties to the first).
pub fn kmeans_ref(x: &[f64], centers: &[f32]) -> (Vec<f64>, usize) {
    let n_in = x.len();
    let sq: Vec<f64> = centers
        .chunks_exact(n_in.max(1))
        .map(|c| {
            x.iter()
                .zip(c)
                .map(|(&v, &m)| (v - f64::from(m)) * (v - f64::from(m)))
                .sum()
        })
        .collect();
    let mut best = 0;
    for (i, &d) in sq.iter().enumerate() {
        if d < sq[best] {
            best = i;
        }
    }
    (sq.iter().map(|d| d.sqrt()).collect(), best)
}
