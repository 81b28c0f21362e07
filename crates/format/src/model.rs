//! What an `.apr` file describes: the input schema, the output schema, provenance and the
//! pipeline of stages. Borrowed view types (returned by the reader) and owned spec types
//! (taken by the writer) live side by side.

use crate::strings::StrList;
use crate::trees::{Trees, TreesSpec};

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// One or several real values.
    Regression,
    /// One class label out of `n_outputs` classes.
    Classification,
    /// The model is a transformer (a scaler, a PCA, a pipeline of them): its output is the
    /// transformed row, `n_outputs` values. The pipeline has preprocessors only — no
    /// estimator, no post transform — and the output schema has no labels (rule R34).
    Transform,
}

impl Task {
    pub(crate) fn code(self) -> u32 {
        match self {
            Task::Regression => 1,
            Task::Classification => 2,
            Task::Transform => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(Task::Regression),
            2 => Some(Task::Classification),
            3 => Some(Task::Transform),
            _ => None,
        }
    }
}

/// How a missing feature value is written, and whether the model accepts one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingValues {
    /// The model cannot take missing values: every feature must be a finite number.
    Reject,
    /// NaN marks a missing value and the model routes it (e.g. trees with default directions).
    Nan,
}

impl MissingValues {
    pub(crate) fn code(self) -> u32 {
        match self {
            MissingValues::Reject => 0,
            MissingValues::Nan => 1,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            0 => Some(MissingValues::Reject),
            1 => Some(MissingValues::Nan),
            _ => None,
        }
    }
}

/// Post-processing applied to the estimator's raw scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    /// Element-wise logistic sigmoid `1 / (1 + e^-z)`.
    Logistic,
    /// One score `z` becomes two probabilities `[1 - s(z), s(z)]` (binary classifiers).
    BinaryLogistic,
    /// `e^z_i / sum_j e^z_j` (multinomial classifiers).
    Softmax,
    /// Sigmoid of each score, then divided by their sum (scikit-learn's one-vs-rest).
    OvrNormalize,
    /// `e^z`, element-wise (log-link regressions: Poisson, gamma, Tweedie).
    Exp,
    /// The scores already are class probabilities (e.g. a random forest's averaged leaf
    /// distributions); they are reported as they are.
    Probabilities,
}

impl PostTransform {
    pub(crate) fn code(self) -> u32 {
        match self {
            PostTransform::Logistic => 1,
            PostTransform::BinaryLogistic => 2,
            PostTransform::Softmax => 3,
            PostTransform::OvrNormalize => 4,
            PostTransform::Exp => 5,
            PostTransform::Probabilities => 6,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(PostTransform::Logistic),
            2 => Some(PostTransform::BinaryLogistic),
            3 => Some(PostTransform::Softmax),
            4 => Some(PostTransform::OvrNormalize),
            5 => Some(PostTransform::Exp),
            6 => Some(PostTransform::Probabilities),
            _ => None,
        }
    }
}

/// The norm a [`Stage::Normalizer`] divides each row by (scikit-learn's `Normalizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// `Σ |x_i|`.
    L1,
    /// `sqrt(Σ x_i²)`.
    L2,
    /// `max |x_i|`.
    Max,
}

impl Norm {
    pub(crate) fn code(self) -> u32 {
        match self {
            Norm::L1 => 1,
            Norm::L2 => 2,
            Norm::Max => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(Norm::L1),
            2 => Some(Norm::L2),
            3 => Some(Norm::Max),
            _ => None,
        }
    }
}

/// The element-wise activation of a [`Stage::Dense`] layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `a(z) = z`.
    Identity,
    /// `a(z) = max(z, 0)`.
    Relu,
    /// `a(z) = tanh(z)`.
    Tanh,
    /// `a(z) = 1 / (1 + e^-z)`.
    Logistic,
}

impl Activation {
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
            Activation::Logistic => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            0 => Some(Activation::Identity),
            1 => Some(Activation::Relu),
            2 => Some(Activation::Tanh),
            3 => Some(Activation::Logistic),
            _ => None,
        }
    }
}

/// The kernel of a [`Stage::Svm`], as libsvm defines it; `u · v` is the dot product of the
/// row and a support vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kernel {
    /// `K(u, v) = u · v`.
    Linear,
    /// `K(u, v) = (gamma · u · v + coef0)^degree`.
    Poly {
        /// Scale of the dot product.
        gamma: f64,
        /// Added before the power.
        coef0: f64,
        /// Integer power.
        degree: u32,
    },
    /// `K(u, v) = exp(-gamma · Σ (u_i - v_i)²)`.
    Rbf {
        /// Scale of the squared distance.
        gamma: f64,
    },
    /// `K(u, v) = tanh(gamma · u · v + coef0)`.
    Sigmoid {
        /// Scale of the dot product.
        gamma: f64,
        /// Added before the tanh.
        coef0: f64,
    },
}

impl Kernel {
    pub(crate) fn code(&self) -> u32 {
        match self {
            Kernel::Linear => 0,
            Kernel::Poly { .. } => 1,
            Kernel::Rbf { .. } => 2,
            Kernel::Sigmoid { .. } => 3,
        }
    }
    /// `(gamma, coef0, degree)` as stored; unused parameters are 0.
    pub(crate) fn params(&self) -> (f64, f64, u32) {
        match *self {
            Kernel::Linear => (0.0, 0.0, 0),
            Kernel::Poly {
                gamma,
                coef0,
                degree,
            } => (gamma, coef0, degree),
            Kernel::Rbf { gamma } => (gamma, 0.0, 0),
            Kernel::Sigmoid { gamma, coef0 } => (gamma, coef0, 0),
        }
    }
    pub(crate) fn from_parts(code: u32, gamma: f64, coef0: f64, degree: u32) -> Option<Self> {
        match code {
            0 => Some(Kernel::Linear),
            1 => Some(Kernel::Poly {
                gamma,
                coef0,
                degree,
            }),
            2 => Some(Kernel::Rbf { gamma }),
            3 => Some(Kernel::Sigmoid { gamma, coef0 }),
            _ => None,
        }
    }
}

/// A support vector machine (libsvm's model, as scikit-learn's `SVC`, `NuSVC`, `SVR` and
/// `NuSVR` hold it), viewed in place.
///
/// A **regressor** (`n_classes == 1`) outputs `Σ_s coef[s] · K(x, sv_s) + intercept[0]`.
///
/// A **classifier** (`n_classes = k ≥ 2`) holds its support vectors grouped by class
/// (`n_support[c]` of them for class `c`, classes in order) and one decision function per
/// pair of classes `(i, j)`, `i < j`, pairs in the order `(0,1), (0,2), …, (0,k-1), (1,2), …`
/// (libsvm's). With `K_s = K(x, sv_s)` and `coef` laid out as libsvm's `sv_coef`
/// (`k - 1` rows of `n_sv`):
///
/// `d_ij = Σ_{s in class i} coef[j-1][s] · K_s + Σ_{s in class j} coef[i][s] · K_s + intercept[p]`
///
/// where `p` is the pair's index; `d_ij > 0` votes for class `i`, otherwise for `j`. The
/// predicted class is the one with the most votes, ties to the lowest index (libsvm). The
/// stage's scores are scikit-learn's `decision_function`: for two classes the single value
/// `-d_01` (positive means class 1); for `k ≥ 3` its `'ovr'` shape, the votes plus
/// scikit-learn's bounded confidence (`_ovr_decision_function`). With `prob_a`/`prob_b` the
/// stage also computes probabilities: Platt's sigmoid per pair, `r_ij = 1 / (1 +
/// exp(prob_a[p] · d_ij + prob_b[p]))` clipped to `[1e-7, 1 - 1e-7]`, then libsvm's pairwise
/// coupling (`multiclass_probability`) — for two classes too, as scikit-learn's libsvm does.
#[derive(Debug, Clone, Copy)]
pub struct Svm<'a> {
    /// Width of the input.
    pub n_in: u32,
    /// Number of classes, or 1 for a regressor.
    pub n_classes: u32,
    /// The kernel and its parameters.
    pub kernel: Kernel,
    /// Support vectors per class (classifiers; empty for a regressor).
    pub n_support: &'a [u32],
    /// Row-major `n_sv × n_in` support vectors.
    pub support_vectors: &'a [f32],
    /// Dual coefficients: `(n_classes - 1) × n_sv` for a classifier, `n_sv` for a regressor.
    pub coef: &'a [f64],
    /// One intercept per pair of classes (`-rho` in libsvm's terms), or one for a regressor.
    pub intercept: &'a [f64],
    /// Platt's `A` per pair, or empty when the model has no probabilities.
    pub prob_a: &'a [f64],
    /// Platt's `B` per pair, or empty.
    pub prob_b: &'a [f64],
}

impl Svm<'_> {
    /// Number of support vectors.
    pub fn n_sv(&self) -> usize {
        self.support_vectors
            .len()
            .checked_div(self.n_in as usize)
            .unwrap_or(0)
    }
    /// Number of pairs of classes (`k (k - 1) / 2`), 1 for a regressor.
    pub fn n_pairs(&self) -> usize {
        self.intercept.len()
    }
    /// Whether the model computes probabilities.
    pub fn has_probabilities(&self) -> bool {
        !self.prob_a.is_empty()
    }
    /// Whether the model is a classifier.
    pub fn is_classifier(&self) -> bool {
        self.n_classes >= 2
    }
    /// Width of the decision scores: 1 for a regressor or a binary classifier, else `k`.
    pub fn score_width(&self) -> u32 {
        if self.n_classes <= 2 {
            1
        } else {
            self.n_classes
        }
    }
    /// Width the stage hands on: `k` probabilities when it has them, else the scores.
    pub fn output_width(&self) -> u32 {
        if self.has_probabilities() {
            self.n_classes
        } else {
            self.score_width()
        }
    }
}

/// An owned support vector machine, for the writer. See [`Svm`].
#[derive(Debug, Clone, PartialEq)]
pub struct SvmSpec {
    /// Input width.
    pub n_in: u32,
    /// Classes, or 1 for a regressor.
    pub n_classes: u32,
    /// Kernel.
    pub kernel: Kernel,
    /// Support vectors per class (empty for a regressor).
    pub n_support: Vec<u32>,
    /// Row-major support vectors.
    pub support_vectors: Vec<f32>,
    /// Dual coefficients, libsvm's `sv_coef` layout.
    pub coef: Vec<f64>,
    /// Intercept per pair (or one).
    pub intercept: Vec<f64>,
    /// Platt's `A` per pair, empty without probabilities.
    pub prob_a: Vec<f64>,
    /// Platt's `B` per pair, empty without probabilities.
    pub prob_b: Vec<f64>,
}

/// The input schema, as read from a file.
#[derive(Debug, Clone, Copy)]
pub struct InputSchema<'a> {
    /// Number of features a row has.
    pub n_features: u32,
    /// How missing values are written.
    pub missing: MissingValues,
    /// Feature names, if the source model had them.
    pub feature_names: Option<StrList<'a>>,
}

/// Class labels as the source model has them.
#[derive(Debug, Clone)]
pub enum Labels<'a> {
    /// No labels (regression).
    None,
    /// Integer labels, in class order.
    Int(Vec<i64>),
    /// String labels, in class order.
    Str(StrList<'a>),
}

/// The output schema, as read from a file.
#[derive(Debug, Clone)]
pub struct OutputSchema<'a> {
    /// Regression or classification.
    pub task: Task,
    /// Number of outputs: targets for a regression, classes for a classifier.
    pub n_outputs: u32,
    /// Class labels (classification only).
    pub labels: Labels<'a>,
    /// Output names, if any (e.g. regression targets).
    pub output_names: Option<StrList<'a>>,
}

/// Where the model came from.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// The model's version, reported with every prediction.
    pub model_version: &'a str,
    /// A human name for the model.
    pub model_name: Option<&'a str>,
    /// Source library or format, e.g. `scikit-learn 1.7.2`.
    pub source_format: Option<&'a str>,
    /// The converter and its version, e.g. `icebreak-convert 0.1.0`.
    pub converter: Option<&'a str>,
    /// SHA-256 (hex) of the source model file.
    pub source_sha256: Option<&'a str>,
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
    /// A tree ensemble (decision tree, random forest, gradient boosting), estimator.
    Trees(Trees<'a>),
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
    /// A support vector machine (classifier or regressor), estimator. See [`Svm`].
    Svm(Svm<'a>),
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
            | Stage::MinMaxScaler { .. }
            | Stage::Normalizer { .. }
            | Stage::Imputer { .. }
            | Stage::Pca { .. } => Role::Preprocessor,
            Stage::Linear { .. }
            | Stage::Trees(_)
            | Stage::Dense { .. }
            | Stage::Svm(_)
            | Stage::KMeans { .. }
            | Stage::GaussianNb { .. } => Role::Estimator,
            Stage::Post(_) => Role::Postprocessor,
        }
    }

    /// The width this stage hands on, given the width it receives.
    pub fn output_width(&self, input: u32) -> u32 {
        match *self {
            Stage::StandardScaler { .. }
            | Stage::MinMaxScaler { .. }
            | Stage::Normalizer { .. }
            | Stage::Imputer { .. } => input,
            Stage::Pca { n_out, .. } | Stage::Linear { n_out, .. } | Stage::Dense { n_out, .. } => {
                n_out
            }
            Stage::Trees(t) => t.n_out,
            Stage::Svm(s) => s.output_width(),
            Stage::KMeans { k, .. } => k,
            Stage::GaussianNb { n_classes, .. } => n_classes,
            Stage::Post(PostTransform::BinaryLogistic) => 2,
            Stage::Post(_) => input,
        }
    }

    /// A short name, as `icebreak inspect` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::StandardScaler { .. } => "standard_scaler",
            Stage::Linear { .. } => "linear",
            Stage::Trees(_) => "trees",
            Stage::MinMaxScaler { .. } => "min_max_scaler",
            Stage::Normalizer { .. } => "normalizer",
            Stage::Imputer { .. } => "imputer",
            Stage::Pca { .. } => "pca",
            Stage::Dense { .. } => "dense",
            Stage::Svm(_) => "svm",
            Stage::KMeans { .. } => "kmeans",
            Stage::GaussianNb { .. } => "gaussian_nb",
            Stage::Post(PostTransform::Logistic) => "logistic",
            Stage::Post(PostTransform::BinaryLogistic) => "binary_logistic",
            Stage::Post(PostTransform::Softmax) => "softmax",
            Stage::Post(PostTransform::OvrNormalize) => "ovr_normalize",
            Stage::Post(PostTransform::Exp) => "exp",
            Stage::Post(PostTransform::Probabilities) => "probabilities",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Owned specs, for the writer.

/// A whole model, owned: what the writer writes and what [`crate::Apr::to_spec`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Input schema.
    pub input: InputSpec,
    /// Output schema.
    pub output: OutputSpec,
    /// Provenance.
    pub provenance: ProvenanceSpec,
    /// Pipeline stages, in order.
    pub stages: Vec<StageSpec>,
}

/// Owned input schema.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// Number of features.
    pub n_features: u32,
    /// Missing-value convention.
    pub missing: MissingValues,
    /// Optional feature names (exactly `n_features` of them).
    pub feature_names: Option<Vec<String>>,
}

/// Owned class labels.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelsSpec {
    /// No labels.
    None,
    /// Integer labels.
    Int(Vec<i64>),
    /// String labels.
    Str(Vec<String>),
}

/// Owned output schema.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// Task.
    pub task: Task,
    /// Targets (regression) or classes (classification).
    pub n_outputs: u32,
    /// Class labels.
    pub labels: LabelsSpec,
    /// Optional output names (exactly `n_outputs` of them).
    pub output_names: Option<Vec<String>>,
}

/// Owned provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenanceSpec {
    /// Model version.
    pub model_version: String,
    /// Model name.
    pub model_name: Option<String>,
    /// Source library or format.
    pub source_format: Option<String>,
    /// Converter and version.
    pub converter: Option<String>,
    /// SHA-256 of the source.
    pub source_sha256: Option<String>,
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
    /// See [`Stage::Trees`].
    Trees(TreesSpec),
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
    /// See [`Stage::Svm`].
    Svm(SvmSpec),
    /// See [`Stage::KMeans`]: distances to the centres.
    KMeans {
        /// Input width.
        n_in: u32,
        /// Clusters.
        k: u32,
        /// Row-major `k × n_in` centres.
        centers: Vec<f32>,
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
