//! The model families, one module per family: its fast kernels, its reference kernels
//! (feature `testing`) and the glue the generic pipeline driver ([`crate::Model`]) calls.
//!
//! Preprocessors are dispatched here ([`preprocess`]), and so are estimators
//! ([`EstimatorBlock`], [`reads_f64`], [`score_width`], [`work_len`]). The driver names two
//! families itself: a tree ensemble is prepared for walking once, in `Model::new`, and the
//! batch path has blocked kernels for linear models and tree ensembles (every other family
//! runs row by row there).

pub mod cat_hash;
pub mod dense;
pub mod imputer;
pub mod kmeans;
pub mod linear;
pub mod naive_bayes;
pub mod normalizer;
pub mod oblivious;
pub mod pca;
pub mod post;
pub mod scaler;
pub mod svm;
pub mod trees;

use crate::kernels::{narrow, widen};
use icebreak_format::{PostTransform, Stage};

/// Runs preprocessor `s` over the row `a[..w]` in place; returns the new width. `b` is work
/// space (a PCA writes there first). Any other stage is left alone.
pub(crate) fn preprocess(s: &Stage<'_>, a: &mut [f32], b: &mut [f32], w: usize) -> usize {
    match *s {
        Stage::StandardScaler { mean, scale } => {
            scaler::standard_scale_f32(&mut a[..w], mean, scale);
            w
        }
        Stage::StandardScalerF64 { mean, scale } => {
            scaler::standard_scale_f64_f32(&mut a[..w], mean, scale);
            w
        }
        Stage::MinMaxScaler { scale, min } => {
            scaler::min_max_scale_f32(&mut a[..w], scale, min);
            w
        }
        Stage::MinMaxScalerF64 { scale, min } => {
            scaler::min_max_scale_f64_f32(&mut a[..w], scale, min);
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
        Stage::ImputerF64 { missing, fill } => {
            imputer::impute_f64_f32(&mut a[..w], missing, fill);
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
            crate::simd::pca_f32(&mut a[..w], mean, components, whiten, &mut b[..no]);
            a[..no].copy_from_slice(&b[..no]);
            no
        }
        Stage::PcaF64 {
            n_out,
            mean,
            components,
            whiten,
            ..
        } => {
            let no = n_out as usize;
            pca::pca_f64_f32(&a[..w], mean, components, whiten, &mut b[..no]);
            a[..no].copy_from_slice(&b[..no]);
            no
        }
        _ => w,
    }
}

/// Whether a stage can compute in `f64` from an `f64` row, handing on `f64` values unrounded:
/// the f64 scalers, the normalizer (it has no parameters), the f64 PCA, the f64 linear model and
/// MLP, Gaussian naive Bayes (its parameters are f64), the f64 k-means, the f64 imputer and
/// SVM, and the post transforms. A pipeline of these alone,
/// whose output precision is `f64`, is computed in `f64` throughout.
pub(crate) fn computes_f64(s: &Stage<'_>) -> bool {
    matches!(
        s,
        Stage::StandardScalerF64 { .. }
            | Stage::MinMaxScalerF64 { .. }
            | Stage::Normalizer { .. }
            | Stage::PcaF64 { .. }
            | Stage::LinearF64 { .. }
            | Stage::DenseF64 { .. }
            | Stage::GaussianNb { .. }
            | Stage::KMeansF64 { .. }
            | Stage::Oblivious(_)
            | Stage::ImputerF64 { .. }
            | Stage::SvmF64(_)
            | Stage::Post(_)
    )
}

/// What [`run_all_f64`] leaves: the score width (a transformer's scores are its outputs),
/// the class when the estimator decides it itself (k-means, an SVM's votes), and the width
/// of the probabilities it wrote itself into `probs` (an SVM with probabilities).
pub(crate) type AllF64 = (usize, Option<usize>, Option<usize>);

/// Runs a pipeline of [`computes_f64`] stages over `v[..w]` (the caller's row, copied) in
/// `f64`: the preprocessors in place, then the estimator into `scores` (`v` is work space
/// for an MLP's hidden layers; `work` an SVM's, [`work_len`] values).
pub(crate) fn run_all_f64(
    stages: &[Stage<'_>],
    v: &mut [f64],
    w: usize,
    scores: &mut [f64],
    work: &mut [f64],
    probs: &mut [f64],
) -> AllF64 {
    let mut w = w;
    for (i, s) in stages.iter().enumerate() {
        match *s {
            Stage::StandardScalerF64 { mean, scale } => {
                scaler::standard_scale_f64(&mut v[..w], mean, scale);
            }
            Stage::MinMaxScalerF64 { scale, min } => {
                scaler::min_max_scale_f64(&mut v[..w], scale, min);
            }
            Stage::Normalizer { norm, .. } => normalizer::normalize_f64(&mut v[..w], norm),
            Stage::ImputerF64 { missing, fill } => {
                imputer::impute_f64(&mut v[..w], missing, fill);
            }
            Stage::SvmF64(ref m) => {
                let sw = m.score_width() as usize;
                let class = svm::svm_row_f64(m, &v[..w], work, &mut scores[..sw], probs);
                let pw = m.has_probabilities().then_some(m.n_classes as usize);
                return (sw, class, pw);
            }
            Stage::PcaF64 {
                n_out,
                mean,
                components,
                whiten,
                ..
            } => {
                let no = n_out as usize;
                pca::pca_f64(&mut v[..w], mean, components, whiten, &mut scores[..no]);
                v[..no].copy_from_slice(&scores[..no]);
                w = no;
            }
            Stage::LinearF64 {
                coef,
                intercept,
                n_out,
                ..
            } => {
                let no = n_out as usize;
                linear::linear_f64(&v[..w], coef, intercept, &mut scores[..no]);
                return (no, None, None);
            }
            Stage::DenseF64 { .. } => {
                return (dense::chain_f64(&stages[i..], v, scores, w), None, None)
            }
            Stage::Oblivious(o) => {
                oblivious::oblivious_row_direct_f64(&o, &v[..w], scores);
                return (o.n_out as usize, None, None);
            }
            Stage::KMeansF64 { k, centers, .. } => {
                let k = k as usize;
                let nearest = kmeans::kmeans_f64(&v[..w], centers, &mut scores[..k]);
                return (k, Some(nearest), None);
            }
            Stage::GaussianNb {
                n_classes,
                theta,
                var,
                log_prior,
                log_norm,
                ..
            } => {
                let k = n_classes as usize;
                naive_bayes::gaussian_nb_f64(
                    &v[..w],
                    theta,
                    var,
                    log_prior,
                    log_norm,
                    &mut scores[..k],
                );
                return (k, None, None);
            }
            _ => {}
        }
    }
    scores[..w].copy_from_slice(&v[..w]);
    (w, None, None)
}

/// Whether an estimator that is the pipeline's first stage reads the caller's `f64` row as
/// given (tree ensembles, SVMs, naive Bayes), rather than the row rounded to `f32`.
pub(crate) fn reads_f64(s: &Stage<'_>) -> bool {
    matches!(
        s,
        Stage::Trees(_)
            | Stage::Oblivious(_)
            | Stage::Svm(_)
            | Stage::SvmF64(_)
            | Stage::GaussianNb { .. }
    )
}

/// The width of an estimator's scores when it differs from the width it hands on (an SVM
/// with probabilities hands on `k` probabilities, its scores are its decision values).
pub(crate) fn score_width(s: &Stage<'_>) -> Option<usize> {
    match s {
        Stage::Svm(m) => Some(m.score_width() as usize),
        Stage::SvmF64(m) => Some(m.score_width() as usize),
        _ => None,
    }
}

/// `f64` work space a stage needs in [`crate::Scratch`] beyond the row buffers.
pub(crate) fn work_len(s: &Stage<'_>) -> usize {
    match s {
        Stage::Svm(m) => svm::work_len(m),
        Stage::SvmF64(m) => svm::work_len(m),
        _ => 0,
    }
}

/// The estimator block of a pipeline, as the driver runs it.
pub(crate) struct EstimatorBlock<'m, 'a> {
    /// The block's stages: none for a transformer, several dense layers for an MLP.
    pub stages: &'m [Stage<'a>],
    /// The tree ensemble, prepared for walking, when the estimator is one.
    pub prepared: Option<&'m trees::Prepared<'a>>,
    /// The pipeline's post transform.
    pub post: Option<PostTransform>,
    /// Width of the estimator's scores.
    pub score_width: usize,
    /// A k-means estimator's `‖c‖²` (empty for the other families).
    pub kmeans_norms: &'m [f32],
}

/// The scratch buffers an estimator computes in (those of [`crate::Scratch`]). Scores end in
/// `b[..score_width]`; final values an estimator computes itself end in `a`.
pub(crate) struct Buffers<'s> {
    pub a: &'s mut [f32],
    pub b: &'s mut [f32],
    pub x: &'s mut [f64],
    pub acc: &'s mut [f64],
    pub work: &'s mut [f64],
}

/// What an estimator leaves besides its scores: the class, when it decides it itself (votes,
/// nearest centre, an `f64` argmax), and whether `a` already holds the final values (an
/// SVM's or naive Bayes' probabilities, computed in `f64`).
pub(crate) type Decided = (Option<usize>, bool);

impl EstimatorBlock<'_, '_> {
    /// Runs the estimator on the caller's row `x`, as given (see [`reads_f64`]).
    pub(crate) fn run_f64(&self, x: &[f64], s: Buffers<'_>) -> Decided {
        let sw = self.score_width;
        let Buffers {
            a,
            b,
            x: xr,
            acc,
            work,
        } = s;
        match self.stages.first() {
            Some(Stage::Trees(t)) => {
                let row: &[f64] = if t.round_f32() {
                    xr[..x.len()].copy_from_slice(x);
                    trees::round_row_f32(&mut xr[..x.len()]);
                    &xr[..x.len()]
                } else {
                    x
                };
                if let Some(p) = self.prepared {
                    trees::trees_row_f64(p, row, &mut acc[..sw]);
                }
                narrow(&acc[..sw], &mut b[..sw]);
                (None, false)
            }
            Some(Stage::Oblivious(o)) => {
                oblivious::oblivious_row_direct_f64(o, x, &mut acc[..sw]);
                narrow(&acc[..sw], &mut b[..sw]);
                (None, false)
            }
            Some(Stage::Svm(m)) => svm::stage_row(m, x, work, acc, a, b),
            Some(Stage::SvmF64(m)) => svm::stage_row(m, x, work, acc, a, b),
            Some(st @ Stage::GaussianNb { .. }) => naive_bayes::row(st, self.post, x, acc, a, b),
            _ => (None, false),
        }
    }

    /// Runs the estimator on the preprocessed `f32` row `a[..w]` (a transformer copies it to
    /// its scores).
    pub(crate) fn run_f32(&self, w: usize, s: Buffers<'_>) -> Decided {
        let sw = self.score_width;
        let Buffers {
            a,
            b,
            x: xr,
            acc,
            work,
        } = s;
        match self.stages.first() {
            None => {
                b[..w].copy_from_slice(&a[..w]);
                (None, false)
            }
            Some(Stage::Linear {
                coef, intercept, ..
            }) => {
                crate::simd::linear_f32(&a[..w], coef, intercept, &mut b[..sw]);
                (None, false)
            }
            Some(Stage::LinearF64 {
                coef, intercept, ..
            }) => {
                // After an f32 stage: the f32 row widened, the scores rounded once.
                widen(&a[..w], &mut xr[..w]);
                linear::linear_f64(&xr[..w], coef, intercept, &mut acc[..sw]);
                narrow(&acc[..sw], &mut b[..sw]);
                (None, false)
            }
            Some(Stage::Dense { .. }) => {
                dense::chain(self.stages, a, b, w);
                (None, false)
            }
            Some(Stage::DenseF64 { .. }) => {
                // After an f32 stage: the f32 row widened, the scores rounded once.
                widen(&a[..w], &mut xr[..w]);
                let no = dense::chain_f64(self.stages, xr, acc, w);
                narrow(&acc[..no], &mut b[..no]);
                (None, false)
            }
            Some(Stage::KMeans { centers, .. }) => (
                Some(crate::simd::kmeans_f32(
                    &a[..w],
                    centers,
                    self.kmeans_norms,
                    &mut b[..sw],
                )),
                false,
            ),
            Some(Stage::KMeansF64 { centers, .. }) => {
                // After an f32 stage: the f32 row widened, the distances rounded once.
                widen(&a[..w], &mut xr[..w]);
                let nearest = kmeans::kmeans_f64(&xr[..w], centers, &mut acc[..sw]);
                narrow(&acc[..sw], &mut b[..sw]);
                (Some(nearest), false)
            }
            Some(Stage::Trees(_)) => {
                widen(&a[..w], &mut xr[..w]);
                if let Some(p) = self.prepared {
                    trees::trees_row_f64(p, &xr[..w], &mut acc[..sw]);
                }
                narrow(&acc[..sw], &mut b[..sw]);
                (None, false)
            }
            Some(Stage::Oblivious(o)) => {
                widen(&a[..w], &mut xr[..w]);
                oblivious::oblivious_row_direct_f64(o, &xr[..w], &mut acc[..sw]);
                narrow(&acc[..sw], &mut b[..sw]);
                (None, false)
            }
            Some(Stage::Svm(m)) => {
                widen(&a[..w], &mut xr[..w]);
                svm::stage_row(m, &xr[..w], work, acc, a, b)
            }
            Some(Stage::SvmF64(m)) => {
                widen(&a[..w], &mut xr[..w]);
                svm::stage_row(m, &xr[..w], work, acc, a, b)
            }
            Some(st @ Stage::GaussianNb { .. }) => {
                widen(&a[..w], &mut xr[..w]);
                naive_bayes::row(st, self.post, &xr[..w], acc, a, b)
            }
            Some(_) => (None, false),
        }
    }
}
