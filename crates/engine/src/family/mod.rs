//! The model families, one module per family: its fast kernels, its reference kernels
//! (feature `testing`) and the glue the generic pipeline driver ([`crate::Model`]) calls.
//!
//! Preprocessors are dispatched here ([`preprocess`]); estimators by the driver, which needs
//! to know how each reads its input (`f32` or the caller's `f64` row) and whether it has a
//! blocked batch path.

pub mod dense;
pub mod imputer;
pub mod kmeans;
pub mod linear;
pub mod naive_bayes;
pub mod normalizer;
pub mod pca;
pub mod post;
pub mod scaler;
pub mod svm;
pub mod trees;

use icebreak_format::Stage;

/// Runs preprocessor `s` over the row `a[..w]` in place; returns the new width. `b` is work
/// space (a PCA writes there first). Any other stage is left alone.
pub(crate) fn preprocess(s: &Stage<'_>, a: &mut [f32], b: &mut [f32], w: usize) -> usize {
    match *s {
        Stage::StandardScaler { mean, scale } => {
            scaler::standard_scale_f32(&mut a[..w], mean, scale);
            w
        }
        Stage::MinMaxScaler { scale, min } => {
            scaler::min_max_scale_f32(&mut a[..w], scale, min);
            w
        }
        Stage::Normalizer { norm, .. } => {
            normalizer::normalize_f32(&mut a[..w], norm);
            w
        }
        Stage::Imputer { missing, fill } => {
            imputer::impute_f32(&mut a[..w], missing, fill);
            w
        }
        Stage::Pca {
            n_out,
            mean,
            components,
            whiten,
            ..
        } => {
            let no = n_out as usize;
            pca::pca_f32(&mut a[..w], mean, components, whiten, &mut b[..no]);
            a[..no].copy_from_slice(&b[..no]);
            no
        }
        _ => w,
    }
}
