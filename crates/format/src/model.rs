//! What an `.apr` file describes besides its stages: the input schema, the output schema,
//! provenance and the owned [`ModelSpec`]. Borrowed view types (returned by the reader) and
//! owned spec types (taken by the writer) live side by side; the stages, family by family,
//! are in [`crate::family`].

use crate::family::StageSpec;
use crate::strings::StrList;

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

/// The precision of a model's answers: the floating-point type the source library computes
/// them in. Answers are printed as the shortest text that reads back to the same value of
/// this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `f32` (XGBoost, float ONNX graphs). Every answer is a value an `f32` holds exactly.
    #[default]
    F32,
    /// `f64` (LightGBM, the exact `f64` tree ensembles of double ONNX graphs).
    F64,
}

impl Precision {
    pub(crate) fn code(self) -> u32 {
        match self {
            Precision::F32 => 0,
            Precision::F64 => 1,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            0 => Some(Precision::F32),
            1 => Some(Precision::F64),
            _ => None,
        }
    }
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
    /// `v` at this precision: rounded to the nearest `f32` for [`Precision::F32`], as is for
    /// [`Precision::F64`].
    #[inline]
    pub fn round(self, v: f64) -> f64 {
        match self {
            Precision::F32 => f64::from(v as f32),
            Precision::F64 => v,
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
    /// The precision of the answers (files of version 1.0: [`Precision::F32`]).
    pub precision: Precision,
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
    /// The precision of the answers.
    pub precision: Precision,
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
