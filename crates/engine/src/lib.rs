//! Inference over zero-copy `.apr` views.
//!
//! [`Model::new`] turns a validated [`Apr`] into a runnable pipeline *without copying a
//! weight*: every kernel reads the `&[f32]` slices the file holds. Predictions run on a
//! caller-owned [`Scratch`], so the warm path allocates nothing.
//!
//! ```
//! use icebreak_engine::{Model, Scratch};
//! # use icebreak_format::*;
//! # let spec = ModelSpec {
//! #     input: InputSpec { n_features: 2, missing: MissingValues::Reject, feature_names: None },
//! #     output: OutputSpec { task: Task::Classification, n_outputs: 2,
//! #         labels: LabelsSpec::Int(vec![0, 1]), output_names: None },
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
//! assert_eq!(out.class, Some(1));
//! assert!(out.probabilities.unwrap()[1] > 0.8);
//! ```
//!
//! Numerics: kernels compute in `f32` (the weights are stored as `f32`); the reference
//! versions in [`kernels`] compute in `f64`, and property tests hold the two together.
//! Per-family tolerances against the source library are stated in `docs/FIDELITY.md`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod kernels;
pub mod reference;

use icebreak_format::{Apr, MissingValues, PostTransform, Stage, Task};
use std::fmt;

pub use icebreak_format;

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
                write!(f, "feature {index} is infinite or outside the f32 range")
            }
            EngineError::BatchShape { len, n_features } => {
                write!(f, "batch of {len} values is not a whole number of {n_features}-feature rows")
            }
        }
    }
}

impl std::error::Error for EngineError {}

/// A pipeline ready to run, borrowing its weights from the file.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    n_features: usize,
    missing: MissingValues,
    task: Task,
    stages: Vec<Stage<'a>>,
    /// Index of the estimator stage; stages after it are post-processing.
    estimator: usize,
    max_width: usize,
    output_width: usize,
    /// Ties in one-vs-rest go to the last class, as in scikit-learn.
    ovr: bool,
}

/// Reusable buffers for predictions; one per thread.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// The result of one row, borrowing from the [`Scratch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowOutput<'s> {
    /// Raw estimator outputs: the regression values, or the classifier's decision scores.
    pub scores: &'s [f32],
    /// Class probabilities, for classifiers with a post transform.
    pub probabilities: Option<&'s [f32]>,
    /// Index of the predicted class (classifiers).
    pub class: Option<usize>,
}

impl<'a> Model<'a> {
    /// Builds the runnable pipeline: O(stages), no copy of any weight.
    pub fn new(apr: &Apr<'a>) -> Self {
        let stages = apr.stages().to_vec();
        let estimator = stages
            .iter()
            .position(|s| matches!(s, Stage::Linear { .. }))
            .unwrap_or(0);
        let mut width = apr.input().n_features as usize;
        let mut max_width = width;
        for s in &stages {
            width = match *s {
                Stage::StandardScaler { .. } => width,
                Stage::Linear { n_out, .. } => n_out as usize,
                Stage::Post(PostTransform::BinaryLogistic) => 2,
                Stage::Post(_) => width,
            };
            max_width = max_width.max(width);
        }
        let ovr = stages
            .iter()
            .any(|s| matches!(s, Stage::Post(PostTransform::OvrNormalize)));
        Model {
            n_features: apr.input().n_features as usize,
            missing: apr.input().missing,
            task: apr.output().task,
            stages,
            estimator,
            max_width,
            output_width: width,
            ovr,
        }
    }

    /// The pipeline's stages.
    pub fn stages(&self) -> &[Stage<'a>] {
        &self.stages
    }

    /// The model's task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Width of the final output (values, or probabilities).
    pub fn output_width(&self) -> usize {
        self.output_width
    }

    /// A scratch sized for this model.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            a: vec![0.0; self.max_width],
            b: vec![0.0; self.max_width],
        }
    }

    /// Checks a row against the input schema: count, and NaN/inf where not accepted.
    pub fn check_row(&self, x: &[f32]) -> Result<(), EngineError> {
        if x.len() != self.n_features {
            return Err(EngineError::FeatureCount {
                expected: self.n_features,
                found: x.len(),
            });
        }
        // Vectorised test first; the slow scan only runs to name the bad index.
        if !kernels::any_non_finite_f32(x) {
            return Ok(());
        }
        for (index, v) in x.iter().enumerate() {
            if v.is_nan() {
                if self.missing == MissingValues::Reject {
                    return Err(EngineError::Missing { index });
                }
            } else if v.is_infinite() {
                return Err(EngineError::NotFinite { index });
            }
        }
        Ok(())
    }

    /// Predicts one row. Allocates nothing once `scratch` has grown to the model's width.
    pub fn predict_row<'s>(
        &self,
        x: &[f32],
        scratch: &'s mut Scratch,
    ) -> Result<RowOutput<'s>, EngineError> {
        self.check_row(x)?;
        let w = self.max_width;
        if scratch.a.len() < w {
            scratch.a.resize(w, 0.0);
        }
        if scratch.b.len() < w {
            scratch.b.resize(w, 0.0);
        }
        let Scratch { a, b } = scratch;
        // `cur` holds the current activations in `a[..width]`.
        let mut width = x.len();
        // The first scaler reads the row and writes the scratch in one pass.
        let pre = &self.stages[..self.estimator];
        match pre.first() {
            Some(Stage::StandardScaler { mean, scale }) => {
                kernels::standard_scale_into_f32(x, mean, scale, &mut a[..width]);
            }
            _ => a[..width].copy_from_slice(x),
        }
        for s in pre.iter().skip(1) {
            if let Stage::StandardScaler { mean, scale } = *s {
                kernels::standard_scale_f32(&mut a[..width], mean, scale);
            }
        }
        if let Some(Stage::Linear {
            n_out,
            coef,
            intercept,
            ..
        }) = self.stages.get(self.estimator)
        {
            let n_out = *n_out as usize;
            kernels::linear_f32(&a[..width], coef, intercept, &mut b[..n_out]);
            width = n_out;
        }
        // Scores now in `b[..width]`; post-processing writes probabilities into `a`.
        let mut probs_width = 0;
        for s in &self.stages[self.estimator + 1..] {
            if let Stage::Post(p) = *s {
                probs_width = post(p, &b[..width], a);
            }
        }
        let scores: &'s [f32] = &b[..width];
        let probabilities = (probs_width > 0).then_some(&a[..probs_width]);
        let class = match self.task {
            Task::Regression => None,
            Task::Classification => Some(self.class_of(scores)),
        };
        Ok(RowOutput {
            scores,
            probabilities,
            class,
        })
    }

    fn class_of(&self, scores: &[f32]) -> usize {
        match scores {
            [z] => usize::from(*z > 0.0),
            _ if self.ovr => {
                // scikit-learn's OneVsRestClassifier keeps the last of tied maxima.
                let first = kernels::argmax_f32(scores);
                let best = scores[first];
                scores.iter().rposition(|&v| v == best).unwrap_or(first)
            }
            _ => kernels::argmax_f32(scores),
        }
    }

    /// Predicts a row-major batch (`rows.len() / n_features` rows) through the batch path:
    /// each stage runs over every row before the next stage, and the linear layer takes rows
    /// four at a time so each weight is loaded once per four rows.
    ///
    /// Writes scores (`n_rows × score_width`) into `out.scores`, probabilities into
    /// `out.probabilities` (empty when the model has none) and classes into `out.classes`.
    /// Every row must pass [`Model::check_row`]: the first bad row fails the call.
    pub fn predict_batch(&self, rows: &[f32], out: &mut BatchOutput) -> Result<(), EngineError> {
        let nf = self.n_features;
        if rows.len() % nf != 0 {
            return Err(EngineError::BatchShape {
                len: rows.len(),
                n_features: nf,
            });
        }
        for row in rows.chunks_exact(nf) {
            self.check_row(row)?;
        }
        let n_rows = rows.len() / nf;
        out.clear();
        let x: &[f32] = if self.estimator == 0 {
            rows
        } else {
            out.work.extend_from_slice(rows);
            for s in &self.stages[..self.estimator] {
                if let Stage::StandardScaler { mean, scale } = *s {
                    for row in out.work.chunks_exact_mut(nf) {
                        kernels::standard_scale_f32(row, mean, scale);
                    }
                }
            }
            &out.work
        };
        let Some(Stage::Linear {
            n_out,
            coef,
            intercept,
            ..
        }) = self.stages.get(self.estimator)
        else {
            return Ok(());
        };
        let n_out = *n_out as usize;
        out.score_width = n_out;
        out.scores.resize(n_rows * n_out, 0.0);
        let mut blocks = x.chunks_exact(4 * nf);
        let mut r = 0;
        for block in &mut blocks {
            let rws = [
                &block[..nf],
                &block[nf..2 * nf],
                &block[2 * nf..3 * nf],
                &block[3 * nf..],
            ];
            for j in 0..n_out {
                let d = kernels::dot4_f32(rws, &coef[j * nf..(j + 1) * nf]);
                for (k, v) in d.iter().enumerate() {
                    out.scores[(r + k) * n_out + j] = intercept[j] + v;
                }
            }
            r += 4;
        }
        for row in blocks.remainder().chunks_exact(nf) {
            kernels::linear_f32(
                row,
                coef,
                intercept,
                &mut out.scores[r * n_out..(r + 1) * n_out],
            );
            r += 1;
        }
        let mut tmp = vec![0.0f32; self.output_width.max(n_out)];
        for s in &self.stages[self.estimator + 1..] {
            if let Stage::Post(p) = *s {
                out.probability_width = self.output_width;
                out.probabilities.reserve(n_rows * self.output_width);
                for row in out.scores.chunks_exact(n_out) {
                    let w = post(p, row, &mut tmp);
                    out.probabilities.extend_from_slice(&tmp[..w]);
                }
            }
        }
        if self.task == Task::Classification {
            out.classes
                .extend(out.scores.chunks_exact(n_out).map(|s| self.class_of(s)));
        }
        Ok(())
    }
}

/// Applies a post transform from `scores` into `out`; returns the output width.
fn post(p: PostTransform, scores: &[f32], out: &mut [f32]) -> usize {
    match p {
        PostTransform::BinaryLogistic => {
            let s = kernels::sigmoid_f32(scores[0]);
            out[0] = 1.0 - s;
            out[1] = s;
            2
        }
        PostTransform::Logistic => {
            for (o, &z) in out.iter_mut().zip(scores) {
                *o = kernels::sigmoid_f32(z);
            }
            scores.len()
        }
        PostTransform::Softmax => {
            out[..scores.len()].copy_from_slice(scores);
            kernels::softmax_f32(&mut out[..scores.len()]);
            scores.len()
        }
        PostTransform::OvrNormalize => {
            out[..scores.len()].copy_from_slice(scores);
            kernels::ovr_normalize_f32(&mut out[..scores.len()]);
            scores.len()
        }
    }
}

/// Outputs of [`Model::predict_batch`], reusable across calls.
#[derive(Debug, Clone, Default)]
pub struct BatchOutput {
    /// Row-major scores, `score_width` per row.
    pub scores: Vec<f32>,
    /// Scores per row.
    pub score_width: usize,
    /// Row-major probabilities, `probability_width` per row (empty without a post transform).
    pub probabilities: Vec<f32>,
    /// Probabilities per row.
    pub probability_width: usize,
    /// Predicted class index per row (classifiers).
    pub classes: Vec<usize>,
    work: Vec<f32>,
}

impl BatchOutput {
    fn clear(&mut self) {
        self.scores.clear();
        self.probabilities.clear();
        self.classes.clear();
        self.work.clear();
        self.score_width = 0;
        self.probability_width = 0;
    }
}
