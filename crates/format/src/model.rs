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
}

impl Task {
    pub(crate) fn code(self) -> u32 {
        match self {
            Task::Regression => 1,
            Task::Classification => 2,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(Task::Regression),
            2 => Some(Task::Classification),
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
            Stage::StandardScaler { .. } => Role::Preprocessor,
            Stage::Linear { .. } | Stage::Trees(_) => Role::Estimator,
            Stage::Post(_) => Role::Postprocessor,
        }
    }

    /// A short name, as `icebreak inspect` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::StandardScaler { .. } => "standard_scaler",
            Stage::Linear { .. } => "linear",
            Stage::Trees(_) => "trees",
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
}
