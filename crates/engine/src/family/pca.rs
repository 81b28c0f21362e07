//! PCA (`Stage::Pca`): centre, project onto the components, optionally whiten.

use crate::kernels::dot_f32_8acc;

/// PCA: `out_j = ((x - mean) · components_j) / whiten_j`. `x` is centred in place first.
#[inline]
pub fn pca_f32(
    x: &mut [f32],
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    out: &mut [f32],
) {
    for (v, m) in x.iter_mut().zip(mean) {
        *v -= m;
    }
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        *o = dot_f32_8acc(x, &components[j * n_in..(j + 1) * n_in]);
    }
    if let Some(w) = whiten {
        for (o, d) in out.iter_mut().zip(w) {
            *o /= d;
        }
    }
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
