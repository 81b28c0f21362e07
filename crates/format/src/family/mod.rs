//! The model families: one module per family of stages, each with its record layout, its
//! validation rules (each `docs/FORMAT.md` rule keeps its own [`crate::FormatError`] variant),
//! its reader view and its writer piece. This module holds what ties them together: the
//! [`Stage`] and [`StageSpec`] enums, the stage kinds, and the dispatch from a STAGE record to
//! its family (reading), from a [`StageSpec`] to its family (writing) and back (copying out).
//!
//! A new family adds a module here, its variants to [`Stage`] and [`StageSpec`], one arm to
//! each `match` of this file, and its rule's variant to [`crate::FormatError`].

pub(crate) mod dense;
mod element;
pub(crate) mod imputer;
pub(crate) mod kmeans;
pub(crate) mod linear;
pub(crate) mod naive_bayes;
pub(crate) mod normalizer;
pub mod oblivious;
pub(crate) mod pca;
pub(crate) mod post;
pub(crate) mod scaler;
pub(crate) mod svm;
pub mod trees;

pub use dense::Activation;
pub(crate) use element::Element;
pub use normalizer::Norm;
use oblivious::{Oblivious, ObliviousSpec};
pub use post::PostTransform;
pub use svm::{Kernel, Svm, SvmSpec};
use trees::{Trees, TreesSpec};

use crate::error::FormatError;
use crate::reader::{tag, Parser, Words};
use crate::writer::Tensors;

/// Stage kinds inside a STAGE record.
pub(crate) mod stage_kind {
    pub const STANDARD_SCALER: u32 = 1;
    pub const LINEAR: u32 = 2;
    pub const POST: u32 = 3;
    pub const TREES: u32 = 4;
    pub const MIN_MAX_SCALER: u32 = 5;
    pub const NORMALIZER: u32 = 6;
    pub const IMPUTER: u32 = 7;
    pub const PCA: u32 = 8;
    pub const DENSE: u32 = 9;
    pub const SVM: u32 = 10;
    pub const KMEANS: u32 = 11;
    pub const GAUSSIAN_NB: u32 = 12;
    pub const STANDARD_SCALER_F64: u32 = 13;
    pub const MIN_MAX_SCALER_F64: u32 = 14;
    pub const LINEAR_F64: u32 = 15;
    pub const DENSE_F64: u32 = 16;
    pub const PCA_F64: u32 = 17;
    pub const KMEANS_F64: u32 = 18;
    pub const OBLIVIOUS: u32 = 19;
    pub const SVM_F64: u32 = 20;
    pub const IMPUTER_F64: u32 = 21;
}

/// One pipeline stage, viewing its weights in place.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// `(x - mean) / scale`, element-wise (preprocessor).
    StandardScaler {
        /// Per-feature mean.
        mean: &'a [f32],
        /// Per-feature scale (divisor).
        scale: &'a [f32],
    },
    /// [`Stage::Imputer`] with an f64 marker and f64 fill values, computed in f64
    /// (preprocessor): scikit-learn's `SimpleImputer`. In a pipeline that is not computed in
    /// f64 throughout, it sees the row as f32 and its fill values are rounded to f32.
    ImputerF64 {
        /// The value that marks a missing entry (NaN for NaN).
        missing: f64,
        /// Per-feature fill value.
        fill: &'a [f64],
    },
    /// `(x - mean) / scale`, element-wise, computed in f64 from the caller's f64 row with f64
    /// parameters, then rounded once to f32 (preprocessor): scikit-learn's StandardScaler as
    /// a double ONNX graph computes it, before a tree ensemble rounds it to float32.
    StandardScalerF64 {
        /// Per-feature mean.
        mean: &'a [f64],
        /// Per-feature scale (divisor).
        scale: &'a [f64],
    },
    /// `x * scale + min`, element-wise, in f64 with f64 parameters and one rounding to f32
    /// afterwards, reading the caller's f64 row when first (preprocessor): scikit-learn's
    /// MinMaxScaler as a double ONNX graph computes it.
    MinMaxScalerF64 {
        /// Per-feature factor.
        scale: &'a [f64],
        /// Per-feature offset.
        min: &'a [f64],
    },
    /// `coef · x + intercept` for `n_out` outputs (estimator).
    Linear {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Row-major `n_out × n_in` coefficients.
        coef: &'a [f32],
        /// `n_out` intercepts.
        intercept: &'a [f32],
    },
    /// `coef · x + intercept` for `n_out` outputs with f64 parameters, computed in f64
    /// (estimator): a linear model reached through a double ONNX graph.
    LinearF64 {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Row-major `n_out × n_in` coefficients.
        coef: &'a [f64],
        /// `n_out` intercepts.
        intercept: &'a [f64],
    },
    /// A tree ensemble (decision tree, random forest, gradient boosting), estimator.
    Trees(Trees<'a>),
    /// An oblivious (symmetric) tree ensemble computed in `f64` (CatBoost), estimator. See
    /// [`Oblivious`].
    Oblivious(Oblivious<'a>),
    /// Post-processing of the scores.
    Post(PostTransform),
    /// `y_i = x_i · scale_i + min_i`, element-wise (scikit-learn's `MinMaxScaler`, whose
    /// `transform` computes `X * scale_ + min_`), preprocessor.
    MinMaxScaler {
        /// Per-feature factor.
        scale: &'a [f32],
        /// Per-feature offset, added after the product.
        min: &'a [f32],
    },
    /// `y = x / n(x)` per row, `n` the chosen norm; a row whose norm is 0 is left as it is
    /// (scikit-learn's `Normalizer`), preprocessor.
    Normalizer {
        /// Width of the row.
        width: u32,
        /// Which norm.
        norm: Norm,
    },
    /// `y_i = fill_i` where `x_i` is missing, else `x_i` (scikit-learn's `SimpleImputer`,
    /// ONNX `Imputer`), preprocessor. "Missing" is NaN when `missing` is NaN, otherwise
    /// `x_i == missing`.
    Imputer {
        /// The value that marks a missing entry (NaN for NaN).
        missing: f32,
        /// Per-feature fill value.
        fill: &'a [f32],
    },
    /// `y_j = (Σ_i (x_i - mean_i) · components[j · n_in + i]) / whiten_j` (scikit-learn's
    /// `PCA.transform`; without `whiten` the division is skipped), preprocessor.
    Pca {
        /// Input width.
        n_in: u32,
        /// Number of components (output width).
        n_out: u32,
        /// Per-feature mean, subtracted first.
        mean: &'a [f32],
        /// Row-major `n_out × n_in` components.
        components: &'a [f32],
        /// `sqrt(explained_variance_)` per component when the PCA whitens, else `None`.
        whiten: Option<&'a [f32]>,
    },
    /// [`Stage::Pca`] with f64 parameters, computed in f64 (preprocessor): a PCA reached
    /// through a double ONNX graph. In a pipeline that is not computed in f64 throughout, its
    /// outputs are rounded once to f32.
    PcaF64 {
        /// Input width.
        n_in: u32,
        /// Number of components (output width).
        n_out: u32,
        /// Per-feature mean, subtracted first.
        mean: &'a [f64],
        /// Row-major `n_out × n_in` components.
        components: &'a [f64],
        /// `sqrt(explained_variance_)` per component when the PCA whitens, else `None`.
        whiten: Option<&'a [f64]>,
    },
    /// A fully connected layer `y_j = a(bias_j + Σ_i weights[j · n_in + i] · x_i)`, estimator.
    /// One or more consecutive dense stages form the estimator block (an MLP).
    Dense {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Activation applied to each output.
        activation: Activation,
        /// Row-major `n_out × n_in` weights.
        weights: &'a [f32],
        /// `n_out` biases.
        bias: &'a [f32],
    },
    /// A fully connected layer like [`Stage::Dense`] with f64 weights, computed in f64
    /// (estimator): an MLP reached through a double ONNX graph. Consecutive `dense_f64`
    /// stages form the estimator block.
    DenseF64 {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Activation applied to each output.
        activation: Activation,
        /// Row-major `n_out × n_in` weights.
        weights: &'a [f64],
        /// `n_out` biases.
        bias: &'a [f64],
    },
    /// A support vector machine (classifier or regressor), estimator. See [`Svm`].
    Svm(Svm<'a>),
    /// A support vector machine with f64 support vectors, computed in f64 (estimator):
    /// scikit-learn's `SVC`, `NuSVC`, `SVR`, `NuSVR`. See [`Svm`].
    SvmF64(Svm<'a, f64>),
    /// k-means with f64 centres, computed in f64 as scikit-learn's `euclidean_distances`
    /// computes it: `y_c = sqrt(max((-2 x · c + ‖x‖²) + ‖c‖², 0))`, the class the smallest
    /// squared distance, ties to the first (estimator): a k-means reached through a double
    /// ONNX graph.
    KMeansF64 {
        /// Input width.
        n_in: u32,
        /// Number of clusters (output width).
        k: u32,
        /// Row-major `k × n_in` centres.
        centers: &'a [f64],
    },
    /// k-means: `y_c = sqrt(Σ_i (x_i - centers[c · n_in + i])²)`, the Euclidean distance to
    /// each centre (scikit-learn's `KMeans.transform`), estimator. A classifier's class is
    /// the nearest centre, ties to the first (`KMeans.predict`).
    KMeans {
        /// Input width.
        n_in: u32,
        /// Number of clusters (output width).
        k: u32,
        /// Row-major `k × n_in` centres.
        centers: &'a [f32],
    },
    /// Gaussian naive Bayes: the joint log-likelihood of each class,
    /// `y_c = log_prior_c + (log_norm_c - 0.5 · Σ_i (x_i - theta_ci)² / var_ci)`, where
    /// `log_norm_c = -0.5 · Σ_i ln(2π · var_ci)` (scikit-learn's `GaussianNB`, whose `var_`
    /// already includes the smoothing epsilon), estimator. Computed in `f64`.
    GaussianNb {
        /// Input width.
        n_in: u32,
        /// Number of classes (output width).
        n_classes: u32,
        /// Row-major `n_classes × n_in` means.
        theta: &'a [f64],
        /// Row-major `n_classes × n_in` variances.
        var: &'a [f64],
        /// Per-class log prior.
        log_prior: &'a [f64],
        /// Per-class normaliser `-0.5 · Σ_i ln(2π · var_ci)`.
        log_norm: &'a [f64],
    },
}

/// The role a stage plays in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Before the estimator.
    Preprocessor,
    /// The one estimator.
    Estimator,
    /// After the estimator.
    Postprocessor,
}

impl Stage<'_> {
    /// The role of this stage.
    pub fn role(&self) -> Role {
        match self {
            Stage::StandardScaler { .. }
            | Stage::StandardScalerF64 { .. }
            | Stage::MinMaxScaler { .. }
            | Stage::MinMaxScalerF64 { .. }
            | Stage::Normalizer { .. }
            | Stage::Imputer { .. }
            | Stage::ImputerF64 { .. }
            | Stage::Pca { .. }
            | Stage::PcaF64 { .. } => Role::Preprocessor,
            Stage::Linear { .. }
            | Stage::LinearF64 { .. }
            | Stage::Trees(_)
            | Stage::Oblivious(_)
            | Stage::Dense { .. }
            | Stage::DenseF64 { .. }
            | Stage::Svm(_)
            | Stage::SvmF64(_)
            | Stage::KMeans { .. }
            | Stage::KMeansF64 { .. }
            | Stage::GaussianNb { .. } => Role::Estimator,
            Stage::Post(_) => Role::Postprocessor,
        }
    }

    /// The width this stage hands on, given the width it receives.
    pub fn output_width(&self, input: u32) -> u32 {
        match *self {
            Stage::StandardScaler { .. }
            | Stage::StandardScalerF64 { .. }
            | Stage::MinMaxScaler { .. }
            | Stage::MinMaxScalerF64 { .. }
            | Stage::Normalizer { .. }
            | Stage::Imputer { .. }
            | Stage::ImputerF64 { .. } => input,
            Stage::Pca { n_out, .. }
            | Stage::PcaF64 { n_out, .. }
            | Stage::Linear { n_out, .. }
            | Stage::LinearF64 { n_out, .. }
            | Stage::Dense { n_out, .. }
            | Stage::DenseF64 { n_out, .. } => n_out,
            Stage::Trees(t) => t.n_out,
            Stage::Oblivious(o) => o.n_out,
            Stage::Svm(s) => s.output_width(),
            Stage::SvmF64(s) => s.output_width(),
            Stage::KMeans { k, .. } | Stage::KMeansF64 { k, .. } => k,
            Stage::GaussianNb { n_classes, .. } => n_classes,
            Stage::Post(PostTransform::BinaryLogistic) => 2,
            Stage::Post(_) => input,
        }
    }

    /// A short name, as `icebreak inspect` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::StandardScaler { .. } => "standard_scaler",
            Stage::StandardScalerF64 { .. } => "standard_scaler_f64",
            Stage::MinMaxScalerF64 { .. } => "min_max_scaler_f64",
            Stage::Linear { .. } => "linear",
            Stage::LinearF64 { .. } => "linear_f64",
            Stage::Trees(_) => "trees",
            Stage::Oblivious(_) => "oblivious",
            Stage::MinMaxScaler { .. } => "min_max_scaler",
            Stage::Normalizer { .. } => "normalizer",
            Stage::Imputer { .. } => "imputer",
            Stage::ImputerF64 { .. } => "imputer_f64",
            Stage::Pca { .. } => "pca",
            Stage::PcaF64 { .. } => "pca_f64",
            Stage::Dense { .. } => "dense",
            Stage::DenseF64 { .. } => "dense_f64",
            Stage::Svm(_) => "svm",
            Stage::SvmF64(_) => "svm_f64",
            Stage::KMeans { .. } => "kmeans",
            Stage::KMeansF64 { .. } => "kmeans_f64",
            Stage::GaussianNb { .. } => "gaussian_nb",
            Stage::Post(PostTransform::Logistic) => "logistic",
            Stage::Post(PostTransform::BinaryLogistic) => "binary_logistic",
            Stage::Post(PostTransform::Softmax) => "softmax",
            Stage::Post(PostTransform::OvrNormalize) => "ovr_normalize",
            Stage::Post(PostTransform::Exp) => "exp",
            Stage::Post(PostTransform::Probabilities) => "probabilities",
        }
    }

    /// The width this stage declares it reads, `None` for a post transform (R26).
    pub(crate) fn input_width(&self) -> Option<u32> {
        match *self {
            Stage::StandardScaler { mean, .. } => Some(mean.len() as u32),
            Stage::StandardScalerF64 { mean, .. } => Some(mean.len() as u32),
            Stage::MinMaxScalerF64 { scale, .. } => Some(scale.len() as u32),
            Stage::MinMaxScaler { scale, .. } => Some(scale.len() as u32),
            Stage::Imputer { fill, .. } => Some(fill.len() as u32),
            Stage::ImputerF64 { fill, .. } => Some(fill.len() as u32),
            Stage::Normalizer { width, .. } => Some(width),
            Stage::Linear { n_in, .. }
            | Stage::LinearF64 { n_in, .. }
            | Stage::Pca { n_in, .. }
            | Stage::PcaF64 { n_in, .. }
            | Stage::Dense { n_in, .. }
            | Stage::DenseF64 { n_in, .. }
            | Stage::KMeans { n_in, .. }
            | Stage::KMeansF64 { n_in, .. }
            | Stage::GaussianNb { n_in, .. } => Some(n_in),
            Stage::Svm(m) => Some(m.n_in),
            Stage::SvmF64(m) => Some(m.n_in),
            Stage::Trees(t) => Some(t.n_in),
            Stage::Oblivious(o) => Some(o.n_in),
            Stage::Post(_) => None,
        }
    }

    /// Whether this estimator may follow `previous` in one estimator block (R25): dense
    /// layers chain into an MLP (f32 layers after f32 layers, f64 after f64).
    pub(crate) fn chains_after(&self, previous: Option<&Stage<'_>>) -> bool {
        match self {
            Stage::Dense { .. } => matches!(previous, None | Some(Stage::Dense { .. })),
            Stage::DenseF64 { .. } => matches!(previous, None | Some(Stage::DenseF64 { .. })),
            _ => false,
        }
    }

    /// Whether a post transform may follow this estimator (R25): an svm or k-means
    /// estimator takes none.
    pub(crate) fn takes_post(&self) -> bool {
        !matches!(
            self,
            Stage::Svm(_) | Stage::SvmF64(_) | Stage::KMeans { .. } | Stage::KMeansF64 { .. }
        )
    }

    /// Whether a single output of this estimator is a signed score that picks one of two
    /// classes by its sign (R27); k-means distances and naive Bayes likelihoods are not.
    pub(crate) fn signed_scores(&self) -> bool {
        !matches!(
            self,
            Stage::KMeans { .. } | Stage::KMeansF64 { .. } | Stage::GaussianNb { .. }
        )
    }
}

/// One owned stage.
#[derive(Debug, Clone, PartialEq)]
pub enum StageSpec {
    /// See [`Stage::StandardScaler`].
    StandardScaler {
        /// Mean.
        mean: Vec<f32>,
        /// Scale.
        scale: Vec<f32>,
    },
    /// See [`Stage::StandardScalerF64`].
    StandardScalerF64 {
        /// Mean.
        mean: Vec<f64>,
        /// Scale.
        scale: Vec<f64>,
    },
    /// See [`Stage::MinMaxScalerF64`].
    MinMaxScalerF64 {
        /// Per-feature factor.
        scale: Vec<f64>,
        /// Per-feature offset.
        min: Vec<f64>,
    },
    /// See [`Stage::Linear`].
    Linear {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Row-major coefficients.
        coef: Vec<f32>,
        /// Intercepts.
        intercept: Vec<f32>,
    },
    /// See [`Stage::LinearF64`].
    LinearF64 {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Row-major coefficients.
        coef: Vec<f64>,
        /// Intercepts.
        intercept: Vec<f64>,
    },
    /// See [`Stage::Trees`].
    Trees(TreesSpec),
    /// See [`Stage::Oblivious`].
    Oblivious(ObliviousSpec),
    /// See [`Stage::Post`].
    Post(PostTransform),
    /// See [`Stage::MinMaxScaler`]: `y = x · scale + min`.
    MinMaxScaler {
        /// Per-feature factor.
        scale: Vec<f32>,
        /// Per-feature offset.
        min: Vec<f32>,
    },
    /// See [`Stage::Normalizer`]: each row divided by its norm (rows of norm 0 unchanged).
    Normalizer {
        /// Row width.
        width: u32,
        /// Norm.
        norm: Norm,
    },
    /// See [`Stage::Imputer`]: missing entries (NaN, or equal to `missing`) become `fill`.
    Imputer {
        /// Missing marker (NaN for NaN).
        missing: f32,
        /// Per-feature fill values.
        fill: Vec<f32>,
    },
    /// See [`Stage::ImputerF64`].
    ImputerF64 {
        /// Missing marker (NaN for NaN).
        missing: f64,
        /// Per-feature fill values.
        fill: Vec<f64>,
    },
    /// See [`Stage::Pca`]: `((x - mean) · componentsᵀ) / whiten`.
    Pca {
        /// Input width.
        n_in: u32,
        /// Components.
        n_out: u32,
        /// Per-feature mean.
        mean: Vec<f32>,
        /// Row-major `n_out × n_in` components.
        components: Vec<f32>,
        /// `sqrt(explained_variance_)` per component, when whitening.
        whiten: Option<Vec<f32>>,
    },
    /// See [`Stage::PcaF64`].
    PcaF64 {
        /// Input width.
        n_in: u32,
        /// Components.
        n_out: u32,
        /// Per-feature mean.
        mean: Vec<f64>,
        /// Row-major `n_out × n_in` components.
        components: Vec<f64>,
        /// `sqrt(explained_variance_)` per component, when whitening.
        whiten: Option<Vec<f64>>,
    },
    /// See [`Stage::Dense`]: `a(weights · x + bias)`.
    Dense {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Activation.
        activation: Activation,
        /// Row-major `n_out × n_in` weights.
        weights: Vec<f32>,
        /// Biases.
        bias: Vec<f32>,
    },
    /// See [`Stage::DenseF64`].
    DenseF64 {
        /// Input width.
        n_in: u32,
        /// Output width.
        n_out: u32,
        /// Activation.
        activation: Activation,
        /// Row-major `n_out × n_in` weights.
        weights: Vec<f64>,
        /// Biases.
        bias: Vec<f64>,
    },
    /// See [`Stage::Svm`].
    Svm(SvmSpec),
    /// See [`Stage::SvmF64`].
    SvmF64(SvmSpec<f64>),
    /// See [`Stage::KMeans`]: distances to the centres.
    KMeans {
        /// Input width.
        n_in: u32,
        /// Clusters.
        k: u32,
        /// Row-major `k × n_in` centres.
        centers: Vec<f32>,
    },
    /// See [`Stage::KMeansF64`].
    KMeansF64 {
        /// Input width.
        n_in: u32,
        /// Clusters.
        k: u32,
        /// Row-major `k × n_in` centres.
        centers: Vec<f64>,
    },
    /// See [`Stage::GaussianNb`]: joint log-likelihood per class.
    GaussianNb {
        /// Input width.
        n_in: u32,
        /// Classes.
        n_classes: u32,
        /// Row-major means.
        theta: Vec<f64>,
        /// Row-major variances.
        var: Vec<f64>,
        /// Per-class log prior.
        log_prior: Vec<f64>,
        /// Per-class `-0.5 · Σ ln(2π · var)`.
        log_norm: Vec<f64>,
    },
}

/// Reads one STAGE record after its length word: the kind, the length the kind requires
/// (R20), then the family's fields and rules.
pub(crate) fn read_stage<'a>(
    p: &mut Parser<'a>,
    index: u32,
    len: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let kind = w.next()?;
    let need = |want: u32| {
        if len == want {
            Ok(())
        } else {
            Err(FormatError::RecordLength {
                tag: tag::STAGE,
                found: len,
            })
        }
    };
    if p.minor == 0
        && matches!(
            kind,
            stage_kind::STANDARD_SCALER_F64
                | stage_kind::MIN_MAX_SCALER_F64
                | stage_kind::LINEAR_F64
                | stage_kind::DENSE_F64
                | stage_kind::PCA_F64
                | stage_kind::KMEANS_F64
                | stage_kind::OBLIVIOUS
                | stage_kind::SVM_F64
                | stage_kind::IMPUTER_F64
        )
    {
        // Stage kinds of version 1.1.
        return Err(FormatError::UnknownValue {
            field: "stage_kind",
            value: kind,
        });
    }
    if let Some(want) = record_len(kind) {
        need(want)?;
    }
    match kind {
        stage_kind::STANDARD_SCALER => {
            scaler::read(p, index, w).map(|(mean, scale)| Stage::StandardScaler { mean, scale })
        }
        stage_kind::STANDARD_SCALER_F64 => {
            scaler::read(p, index, w).map(|(mean, scale)| Stage::StandardScalerF64 { mean, scale })
        }
        stage_kind::MIN_MAX_SCALER => {
            scaler::read(p, index, w).map(|(scale, min)| Stage::MinMaxScaler { scale, min })
        }
        stage_kind::MIN_MAX_SCALER_F64 => {
            scaler::read(p, index, w).map(|(scale, min)| Stage::MinMaxScalerF64 { scale, min })
        }
        stage_kind::LINEAR => linear::read(p, index, w).map(|f| Stage::Linear {
            n_in: f.n_in,
            n_out: f.n_out,
            coef: f.coef,
            intercept: f.intercept,
        }),
        stage_kind::LINEAR_F64 => linear::read(p, index, w).map(|f| Stage::LinearF64 {
            n_in: f.n_in,
            n_out: f.n_out,
            coef: f.coef,
            intercept: f.intercept,
        }),
        stage_kind::TREES => {
            // Version 1.1 may add word 12, the node covers (R35).
            if !(len == trees::RECORD_LEN || (p.minor >= 1 && len == trees::RECORD_LEN_COVERS)) {
                need(trees::RECORD_LEN)?;
            }
            Ok(Stage::Trees(trees::read(p, index, len, w)?))
        }
        stage_kind::OBLIVIOUS => {
            // Word 11, the CTR section, is optional (R37).
            if len != oblivious::RECORD_LEN_CTR {
                need(oblivious::RECORD_LEN)?;
            }
            Ok(Stage::Oblivious(oblivious::read(p, index, len, w)?))
        }
        stage_kind::POST => post::read(w),
        stage_kind::NORMALIZER => normalizer::read(w),
        stage_kind::IMPUTER => {
            imputer::read(p, index, w).map(|(missing, fill)| Stage::Imputer { missing, fill })
        }
        stage_kind::IMPUTER_F64 => {
            imputer::read(p, index, w).map(|(missing, fill)| Stage::ImputerF64 { missing, fill })
        }
        stage_kind::PCA => pca::read(p, index, w).map(|f| Stage::Pca {
            n_in: f.n_in,
            n_out: f.n_out,
            mean: f.mean,
            components: f.components,
            whiten: f.whiten,
        }),
        stage_kind::PCA_F64 => pca::read(p, index, w).map(|f| Stage::PcaF64 {
            n_in: f.n_in,
            n_out: f.n_out,
            mean: f.mean,
            components: f.components,
            whiten: f.whiten,
        }),
        stage_kind::DENSE => dense::read(p, index, w).map(|(activation, f)| Stage::Dense {
            n_in: f.n_in,
            n_out: f.n_out,
            activation,
            weights: f.coef,
            bias: f.intercept,
        }),
        stage_kind::DENSE_F64 => dense::read(p, index, w).map(|(activation, f)| Stage::DenseF64 {
            n_in: f.n_in,
            n_out: f.n_out,
            activation,
            weights: f.coef,
            bias: f.intercept,
        }),
        stage_kind::SVM => svm::read(p, index, w).map(Stage::Svm),
        stage_kind::SVM_F64 => svm::read(p, index, w).map(Stage::SvmF64),
        stage_kind::KMEANS => {
            kmeans::read(p, index, w).map(|(n_in, k, centers)| Stage::KMeans { n_in, k, centers })
        }
        stage_kind::KMEANS_F64 => kmeans::read(p, index, w)
            .map(|(n_in, k, centers)| Stage::KMeansF64 { n_in, k, centers }),
        stage_kind::GAUSSIAN_NB => naive_bayes::read(p, index, w),
        value => Err(FormatError::UnknownValue {
            field: "stage_kind",
            value,
        }),
    }
}

/// The length in words a STAGE record of `kind` has (R20), `None` for a kind whose record
/// has optional words (trees, oblivious) or an unknown kind.
fn record_len(kind: u32) -> Option<u32> {
    Some(match kind {
        stage_kind::STANDARD_SCALER
        | stage_kind::STANDARD_SCALER_F64
        | stage_kind::MIN_MAX_SCALER
        | stage_kind::MIN_MAX_SCALER_F64 => scaler::RECORD_LEN,
        stage_kind::LINEAR | stage_kind::LINEAR_F64 => linear::RECORD_LEN,
        stage_kind::POST => post::RECORD_LEN,
        stage_kind::NORMALIZER => normalizer::RECORD_LEN,
        stage_kind::IMPUTER => imputer::RECORD_LEN,
        stage_kind::IMPUTER_F64 => imputer::RECORD_LEN_F64,
        stage_kind::PCA | stage_kind::PCA_F64 => pca::RECORD_LEN,
        stage_kind::DENSE | stage_kind::DENSE_F64 => dense::RECORD_LEN,
        stage_kind::SVM => svm::RECORD_LEN,
        stage_kind::SVM_F64 => svm::RECORD_LEN_F64,
        stage_kind::KMEANS | stage_kind::KMEANS_F64 => kmeans::RECORD_LEN,
        stage_kind::GAUSSIAN_NB => naive_bayes::RECORD_LEN,
        _ => return None,
    })
}

/// The STAGE record's payload (kind word first) for `s`; queues its tensors.
pub(crate) fn payload(s: &StageSpec, t: &mut Tensors) -> Vec<u32> {
    let (kind, fields) = match s {
        StageSpec::StandardScaler { mean, scale } => {
            (stage_kind::STANDARD_SCALER, scaler::payload(mean, scale, t))
        }
        StageSpec::StandardScalerF64 { mean, scale } => (
            stage_kind::STANDARD_SCALER_F64,
            scaler::payload(mean, scale, t),
        ),
        StageSpec::MinMaxScalerF64 { scale, min } => (
            stage_kind::MIN_MAX_SCALER_F64,
            scaler::payload(scale, min, t),
        ),
        StageSpec::Linear {
            n_in,
            n_out,
            coef,
            intercept,
        } => (
            stage_kind::LINEAR,
            linear::payload(*n_in, *n_out, coef, intercept, t),
        ),
        StageSpec::LinearF64 {
            n_in,
            n_out,
            coef,
            intercept,
        } => (
            stage_kind::LINEAR_F64,
            linear::payload(*n_in, *n_out, coef, intercept, t),
        ),
        StageSpec::Trees(tr) => (stage_kind::TREES, trees::payload(tr, t)),
        StageSpec::Oblivious(o) => (stage_kind::OBLIVIOUS, oblivious::payload(o, t)),
        StageSpec::Post(p) => (stage_kind::POST, vec![p.code()]),
        StageSpec::MinMaxScaler { scale, min } => {
            (stage_kind::MIN_MAX_SCALER, scaler::payload(scale, min, t))
        }
        StageSpec::Normalizer { width, norm } => {
            (stage_kind::NORMALIZER, normalizer::payload(*width, *norm))
        }
        StageSpec::Imputer { missing, fill } => {
            (stage_kind::IMPUTER, imputer::payload(*missing, fill, t))
        }
        StageSpec::Pca {
            n_in,
            n_out,
            mean,
            components,
            whiten,
        } => (
            stage_kind::PCA,
            pca::payload(*n_in, *n_out, mean, components, whiten.as_deref(), t),
        ),
        StageSpec::PcaF64 {
            n_in,
            n_out,
            mean,
            components,
            whiten,
        } => (
            stage_kind::PCA_F64,
            pca::payload(*n_in, *n_out, mean, components, whiten.as_deref(), t),
        ),
        StageSpec::Dense {
            n_in,
            n_out,
            activation,
            weights,
            bias,
        } => (
            stage_kind::DENSE,
            dense::payload(*n_in, *n_out, *activation, weights, bias, t),
        ),
        StageSpec::DenseF64 {
            n_in,
            n_out,
            activation,
            weights,
            bias,
        } => (
            stage_kind::DENSE_F64,
            dense::payload(*n_in, *n_out, *activation, weights, bias, t),
        ),
        StageSpec::Svm(m) => (stage_kind::SVM, svm::payload(m, t)),
        StageSpec::SvmF64(m) => (stage_kind::SVM_F64, svm::payload(m, t)),
        StageSpec::ImputerF64 { missing, fill } => {
            (stage_kind::IMPUTER_F64, imputer::payload(*missing, fill, t))
        }
        StageSpec::KMeans { n_in, k, centers } => {
            (stage_kind::KMEANS, kmeans::payload(*n_in, *k, centers, t))
        }
        StageSpec::KMeansF64 { n_in, k, centers } => (
            stage_kind::KMEANS_F64,
            kmeans::payload(*n_in, *k, centers, t),
        ),
        StageSpec::GaussianNb {
            n_in,
            n_classes,
            theta,
            var,
            log_prior,
            log_norm,
        } => (
            stage_kind::GAUSSIAN_NB,
            naive_bayes::payload(*n_in, *n_classes, theta, var, log_prior, log_norm, t),
        ),
    };
    let mut words = Vec::with_capacity(1 + fields.len());
    words.push(kind);
    words.extend(fields);
    words
}

impl Stage<'_> {
    /// Copies the stage out into an owned spec.
    pub(crate) fn to_spec(self) -> StageSpec {
        match self {
            Stage::StandardScaler { mean, scale } => StageSpec::StandardScaler {
                mean: mean.to_vec(),
                scale: scale.to_vec(),
            },
            Stage::StandardScalerF64 { mean, scale } => StageSpec::StandardScalerF64 {
                mean: mean.to_vec(),
                scale: scale.to_vec(),
            },
            Stage::MinMaxScalerF64 { scale, min } => StageSpec::MinMaxScalerF64 {
                scale: scale.to_vec(),
                min: min.to_vec(),
            },
            Stage::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            } => StageSpec::Linear {
                n_in,
                n_out,
                coef: coef.to_vec(),
                intercept: intercept.to_vec(),
            },
            Stage::LinearF64 {
                n_in,
                n_out,
                coef,
                intercept,
            } => StageSpec::LinearF64 {
                n_in,
                n_out,
                coef: coef.to_vec(),
                intercept: intercept.to_vec(),
            },
            Stage::Trees(t) => StageSpec::Trees(trees::to_spec(&t)),
            Stage::Oblivious(o) => StageSpec::Oblivious(oblivious::to_spec(&o)),
            Stage::Post(p) => StageSpec::Post(p),
            Stage::MinMaxScaler { scale, min } => StageSpec::MinMaxScaler {
                scale: scale.to_vec(),
                min: min.to_vec(),
            },
            Stage::Normalizer { width, norm } => StageSpec::Normalizer { width, norm },
            Stage::Imputer { missing, fill } => StageSpec::Imputer {
                missing,
                fill: fill.to_vec(),
            },
            Stage::Pca {
                n_in,
                n_out,
                mean,
                components,
                whiten,
            } => StageSpec::Pca {
                n_in,
                n_out,
                mean: mean.to_vec(),
                components: components.to_vec(),
                whiten: whiten.map(<[f32]>::to_vec),
            },
            Stage::PcaF64 {
                n_in,
                n_out,
                mean,
                components,
                whiten,
            } => StageSpec::PcaF64 {
                n_in,
                n_out,
                mean: mean.to_vec(),
                components: components.to_vec(),
                whiten: whiten.map(<[f64]>::to_vec),
            },
            Stage::Dense {
                n_in,
                n_out,
                activation,
                weights,
                bias,
            } => StageSpec::Dense {
                n_in,
                n_out,
                activation,
                weights: weights.to_vec(),
                bias: bias.to_vec(),
            },
            Stage::DenseF64 {
                n_in,
                n_out,
                activation,
                weights,
                bias,
            } => StageSpec::DenseF64 {
                n_in,
                n_out,
                activation,
                weights: weights.to_vec(),
                bias: bias.to_vec(),
            },
            Stage::Svm(m) => StageSpec::Svm(svm::to_spec(&m)),
            Stage::SvmF64(m) => StageSpec::SvmF64(svm::to_spec(&m)),
            Stage::ImputerF64 { missing, fill } => StageSpec::ImputerF64 {
                missing,
                fill: fill.to_vec(),
            },
            Stage::KMeans { n_in, k, centers } => StageSpec::KMeans {
                n_in,
                k,
                centers: centers.to_vec(),
            },
            Stage::KMeansF64 { n_in, k, centers } => StageSpec::KMeansF64 {
                n_in,
                k,
                centers: centers.to_vec(),
            },
            Stage::GaussianNb {
                n_in,
                n_classes,
                theta,
                var,
                log_prior,
                log_norm,
            } => StageSpec::GaussianNb {
                n_in,
                n_classes,
                theta: theta.to_vec(),
                var: var.to_vec(),
                log_prior: log_prior.to_vec(),
                log_norm: log_norm.to_vec(),
            },
        }
    }
}
