//! Inference over zero-copy `.apr` views.
//!
//! [`Model::new`] turns a validated [`Apr`](icebreak_format::Apr) into a runnable pipeline *without copying a
//! weight*: every kernel reads the `&[f32]` slices the file holds. Predictions run on a
//! caller-owned [`Scratch`], so the warm path allocates nothing.
//!
//! ```
//! use icebreak_engine::{Model, Scratch};
//! # use icebreak_format::*;
//! # let spec = ModelSpec {
//! #     input: InputSpec { n_features: 2, missing: MissingValues::Reject, feature_names: None },
//! #     output: OutputSpec { task: Task::Classification, n_outputs: 2,
//! #         labels: LabelsSpec::Int(vec![0, 1]), output_names: None, precision: icebreak_format::Precision::F32 },
//! #     provenance: ProvenanceSpec { model_version: "1".into(), model_name: None,
//! #         source_format: None, converter: None, source_sha256: None },
//! #     stages: vec![
//! #         StageSpec::Linear { n_in: 2, n_out: 1, coef: vec![1.0, -1.0], intercept: vec![0.0] },
//! #         StageSpec::Post(PostTransform::BinaryLogistic),
//! #     ],
//! # };
//! # let file = write(&spec).unwrap();
//! let apr = Apr::parse(&file).unwrap();
//! let model = Model::new(&apr);
//! let mut scratch = model.scratch();
//! let out = model.predict_row(&[3.0, 1.0], &mut scratch).unwrap();
//! assert_eq!(out.values, out.probabilities.unwrap());
//! assert_eq!(out.class, Some(1));
//! assert!(out.probabilities.unwrap()[1] > 0.8);
//! ```
//!
//! Numerics: rows come in as `f64`, exactly as the caller gave them. Linear pipelines compute
//! in `f32` (their weights are stored as `f32`); tree ensembles compare in `f64` (rounding
//! the feature to `f32` first when the source library does) and sum their leaves in `f64`.
//! A pipeline whose every stage has an `f64` form (the `*_f64` stages, a normalizer, Gaussian
//! naive Bayes, a post transform) and whose output precision is `f64` is computed in `f64`
//! throughout, never rounded to `f32` (a double ONNX graph of scikit-learn).
//! The reference versions (feature `testing`: the `*_ref` kernels and the `reference`
//! pipeline) compute in `f64`, and property tests hold the fast paths to them.
//! Per-family tolerances against the source library are stated in `docs/FIDELITY.md`.
//!
//! # Layout
//!
//! One module per model family (its kernels, its reference kernels, its part of the
//! pipeline), re-exported through [`kernels`], [`svm`] and [`trees`]; the generic pipeline
//! driver is [`Model`]. The batch paths of the dense families run blocked products
//! (`blocked`), and the dense kernels are dispatched at run time to the widest instruction
//! set the CPU has ([`simd`], the only module with `unsafe`), without changing a bit.
//!
//! # Crate features
//!
//! - `testing`: the reference kernels and the `reference` pipeline, for property tests and
//!   benchmarks. Not part of the default API.

#![deny(missing_docs)]
// `unsafe` is denied everywhere but in `simd`, which calls the AVX2 copies of the dense
// kernels after checking that the CPU has AVX2.
#![deny(unsafe_code)]

mod blocked;
mod family;
pub mod kernels;
mod model;
#[cfg(feature = "testing")]
pub mod reference;
pub mod simd;

pub mod explain;

pub use blocked::Packed;
pub use explain::{Contributions, ExplainScratch, Explainer};
pub use family::{cat_hash, oblivious, svm, trees};
pub use model::{BatchOutput, Model, RowOutput, Scratch, MIN_ROWS_PER_THREAD};

use std::fmt;

/// Why a row could not be predicted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EngineError {
    /// The row has the wrong number of features.
    FeatureCount {
        /// Features the model takes.
        expected: usize,
        /// Features the row has.
        found: usize,
    },
    /// A feature is NaN (missing) and the model cannot take missing values.
    Missing {
        /// Index of the feature.
        index: usize,
    },
    /// A feature is infinite.
    NotFinite {
        /// Index of the feature.
        index: usize,
    },
    /// The model cannot be explained ([`explain::Explainer::new`]); the reason says why.
    Unexplainable {
        /// Why, in a sentence.
        reason: &'static str,
    },
    /// A categorical feature holds neither a category (text) nor an integer.
    Category {
        /// Index of the feature.
        index: usize,
    },
    /// A category given as text ([`cat_hash::category_value`]) where the model takes a
    /// number.
    Text {
        /// Index of the feature.
        index: usize,
    },
    /// A batch's length is not a whole number of rows.
    BatchShape {
        /// Length of the flat batch.
        len: usize,
        /// Features per row.
        n_features: usize,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::FeatureCount { expected, found } => {
                write!(f, "expected {expected} features, got {found}")
            }
            EngineError::Missing { index } => write!(
                f,
                "feature {index} is missing (null or NaN) and this model does not accept missing values"
            ),
            EngineError::NotFinite { index } => {
                write!(f, "feature {index} is infinite or outside the range this model computes in (f32)")
            }
            EngineError::Unexplainable { reason } => f.write_str(reason),
            EngineError::Category { index } => write!(
                f,
                "feature {index} is categorical: give a category as a string or an integer"
            ),
            EngineError::Text { index } => write!(
                f,
                "feature {index} is a string; this model's feature {index} is a number (or null)"
            ),
            EngineError::BatchShape { len, n_features } => {
                write!(f, "batch of {len} values is not a whole number of {n_features}-feature rows")
            }
        }
    }
}

impl std::error::Error for EngineError {}
