//! PCA (`Stage::Pca` in `f32`, `Stage::PcaF64` in `f64`): centre, project onto the
//! components, optionally whiten.

use crate::blocked::{self, Dot, Micro, Packed};

/// PCA: `out_j = ((x - mean) · components_j) / whiten_j`. `x` is centred in place first.
/// The body of [`crate::simd::pca_f32`]: four components at a time, each sum in the order of
/// [`crate::kernels::dot_f32_8acc`].
#[inline(always)]
pub(crate) fn pca_f32_body<M: Micro>(
    m: M,
    x: &mut [f32],
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    out: &mut [f32],
) {
    for (v, m) in x.iter_mut().zip(mean) {
        *v -= m;
    }
    blocked::row_all::<Dot, M>(m, x, &components[..out.len() * x.len()], out);
    if let Some(w) = whiten {
        for (o, d) in out.iter_mut().zip(w) {
            *o /= d;
        }
    }
}

/// PCA over a batch (the body of [`crate::simd::pca_rows_f32`]): `x` holds rows of `n_in`
/// values, centred in place; `out` gets `n_out` values per row, bit for bit the single-row
/// path's.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the batch shape and the stage's three tensors
pub(crate) fn pca_rows_body<M: Micro>(
    m: M,
    x: &mut [f32],
    n_in: usize,
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    n_out: usize,
    out: &mut [f32],
    packed: Option<&Packed>,
) {
    if n_in == 0 || n_out == 0 {
        out.fill(0.0);
        return;
    }
    for row in x.chunks_exact_mut(n_in) {
        for (v, m) in row.iter_mut().zip(mean) {
            *v -= m;
        }
    }
    project_rows(m, x, n_in, components, whiten, n_out, out, packed);
}

/// [`pca_rows_body`] reading the caller's rows without changing them (the body of
/// [`crate::simd::pca_copy_rows_f32`]): each row is centred as it is copied into `centred`
/// (one pass over the rows instead of a copy and then a pass of subtractions), then
/// projected; the same operations, so the same bits.
/// `out` holds `n_out` values for each of the `rows.len() / n_in` rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the batch shape, the stage's three tensors, two outputs
pub(crate) fn pca_copy_rows_body<M: Micro>(
    m: M,
    rows: &[f32],
    n_in: usize,
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    centred: &mut [f32],
    out: &mut [f32],
    packed: Option<&Packed>,
) {
    let n_rows = rows.len().checked_div(n_in).unwrap_or(0);
    let n_out = out.len().checked_div(n_rows).unwrap_or(0);
    if n_out == 0 {
        out.fill(0.0);
        return;
    }
    for (x, c) in rows.chunks_exact(n_in).zip(centred.chunks_exact_mut(n_in)) {
        for ((c, x), mu) in c.iter_mut().zip(x).zip(mean) {
            *c = x - mu;
        }
    }
    project_rows(m, centred, n_in, components, whiten, n_out, out, packed);
}

/// Centred rows onto the components, then whitened.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the batch shape, the stage's tensors and their packed copy
fn project_rows<M: Micro>(
    m: M,
    x: &[f32],
    n_in: usize,
    components: &[f32],
    whiten: Option<&[f32]>,
    n_out: usize,
    out: &mut [f32],
    packed: Option<&Packed>,
) {
    blocked::rows_all::<Dot, M>(m, x, n_in, components, n_out, out, packed);
    if let Some(w) = whiten {
        for row in out.chunks_exact_mut(n_out) {
            for (o, d) in row.iter_mut().zip(w) {
                *o /= d;
            }
        }
    }
}

/// f64 PCA: `out_j = ((x - mean) · components_j) / whiten_j`, the sums taken in feature order
/// from 0. `x` is centred in place first.
#[inline]
pub fn pca_f64(
    x: &mut [f64],
    mean: &[f64],
    components: &[f64],
    whiten: Option<&[f64]>,
    out: &mut [f64],
) {
    for (v, m) in x.iter_mut().zip(mean) {
        *v -= m;
    }
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let mut acc = 0.0f64;
        for (v, c) in x.iter().zip(&components[j * n_in..(j + 1) * n_in]) {
            acc += v * c;
        }
        *o = match whiten {
            Some(w) => acc / w[j],
            None => acc,
        };
    }
}

/// [`pca_f64`] over an `f32` row (after an f32 stage), the outputs rounded once to `f32`.
#[inline]
pub fn pca_f64_f32(
    x: &[f32],
    mean: &[f64],
    components: &[f64],
    whiten: Option<&[f64]>,
    out: &mut [f32],
) {
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let mut acc = 0.0f64;
        for ((v, m), c) in x
            .iter()
            .zip(mean)
            .zip(&components[j * n_in..(j + 1) * n_in])
        {
            acc += (f64::from(*v) - m) * c;
        }
        *o = match whiten {
            Some(w) => acc / w[j],
            None => acc,
        } as f32;
    }
}

#[cfg(feature = "testing")]
/// Reference f64 PCA: the obvious loop, in the order [`pca_f64`] promises.
pub fn pca_f64_ref(
    x: &[f64],
    mean: &[f64],
    components: &[f64],
    whiten: Option<&[f64]>,
) -> Vec<f64> {
    let n_in = x.len();
    let c: Vec<f64> = x.iter().zip(mean).map(|(v, m)| v - m).collect();
    (0..components.len() / n_in.max(1))
        .map(|j| {
            let row = &components[j * n_in..(j + 1) * n_in];
            let d = (0..n_in).fold(0.0, |s, i| s + c[i] * row[i]);
            whiten.map_or(d, |w| d / w[j])
        })
        .collect()
}

#[cfg(feature = "testing")]
/// Reference PCA in f64.
pub fn pca_ref(x: &[f64], mean: &[f32], components: &[f32], whiten: Option<&[f32]>) -> Vec<f64> {
    let n_in = x.len();
    let c: Vec<f64> = x
        .iter()
        .zip(mean)
        .map(|(&v, &m)| v - f64::from(m))
        .collect();
    (0..components.len() / n_in.max(1))
        .map(|j| {
            let row = &components[j * n_in..(j + 1) * n_in];
            let d: f64 = c.iter().zip(row).map(|(&v, &w)| v * f64::from(w)).sum();
            whiten.map_or(d, |w| d / f64::from(w[j]))
        })
        .collect()
}
