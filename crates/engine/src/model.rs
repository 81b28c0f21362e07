//! The generic pipeline driver: [`Model`] runs preprocessors, the estimator block and the
//! post transform over caller-owned buffers, calling into each family's module.

use crate::blocked::Packed;
use crate::family::{self, dense, oblivious, post, trees, Buffers, EstimatorBlock};
use crate::EngineError;
use crate::{kernels, simd};
use icebreak_format::{Apr, MissingValues, PostTransform, Precision, Role, Stage, Task};

/// A pipeline ready to run, borrowing its weights from the file.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    n_features: usize,
    missing: MissingValues,
    task: Task,
    stages: Vec<Stage<'a>>,
    /// `stages[..pre_end]` are preprocessors; the estimator block is
    /// `stages[pre_end..est_end]` (empty for a transformer, several stages for an MLP), and
    /// post-processing follows.
    pre_end: usize,
    est_end: usize,
    /// Width the estimator block receives.
    est_in: usize,
    /// Width of the estimator's output.
    score_width: usize,
    max_width: usize,
    output_width: usize,
    /// The estimator reads the caller's `f64` row itself (a tree ensemble, an SVM or a naive
    /// Bayes model with no preprocessor); otherwise the row is converted to `f32` first.
    reads_f64: bool,
    /// The tree ensemble, prepared for walking, when the estimator is one.
    prepared: Option<trees::Prepared<'a>>,
    /// Largest magnitude a feature may have: `f32::MAX` unless the model compares the row
    /// in `f64` as given.
    limit: f64,
    /// Ties in one-vs-rest go to the last class, as in scikit-learn.
    ovr: bool,
    post: Option<PostTransform>,
    /// `f64` work space of an SVM estimator.
    work_len: usize,
    /// The precision of the answers (the output schema's).
    precision: Precision,
    /// The model is a tree ensemble summed in `f64` on the caller's row, with an `f64`
    /// precision: scores and post transform stay in `f64` (LightGBM, double ONNX trees,
    /// scikit-learn trees and gradient boosting, which round their inputs to `f32`).
    exact_f64: bool,
    /// Every stage computes in `f64` (f64 scalers, an f64 linear model, post transforms) and
    /// the precision is `f64`: the row is computed in `f64` throughout, never rounded
    /// (scikit-learn pipelines reached through double ONNX graphs).
    all_f64: bool,
    /// An f32 k-means estimator's `‖c‖²`, computed on the first prediction (k values, read
    /// from the centres once), never at creation: creating a model stays O(stages).
    kmeans_norms: std::sync::OnceLock<Vec<f32>>,
    /// The weights of the f32 linear, dense and PCA stages re-packed for the AVX-512 batch
    /// kernel ([`Packed`]), each with the address and length of the weights it copies:
    /// built on the first batch that runs the AVX-512 kernel, never at creation nor on the
    /// single-row path, and kept for the next batches.
    packed: std::sync::OnceLock<Vec<(usize, usize, Packed)>>,
    /// The estimator is an oblivious ensemble reading the caller's row, the precision `f64`:
    /// the row is binarised once into the scratch's bits, the leaves summed in `f64`.
    oblivious: bool,
    /// The single row starts by rounding the caller's row to `f32` (no estimator reads it
    /// in `f64`, no `f64` scaler comes first, no categorical feature): the check and the
    /// rounding are then one pass ([`simd::narrow_check_f64`]).
    narrow_first: bool,
}

/// Fewest rows [`Model::predict_batch_threads`] gives a thread: below this, starting a
/// thread costs more than the rows.
pub const MIN_ROWS_PER_THREAD: usize = 64;

/// A batch's rows as the caller gave them.
#[derive(Clone, Copy)]
enum Rows<'r> {
    F64(&'r [f64]),
    F32(&'r [f32]),
}

impl<'r> Rows<'r> {
    fn len(&self) -> usize {
        match self {
            Rows::F64(r) => r.len(),
            Rows::F32(r) => r.len(),
        }
    }

    /// The values `start..end`.
    fn rows(self, start: usize, end: usize) -> Rows<'r> {
        match self {
            Rows::F64(r) => Rows::F64(&r[start..end]),
            Rows::F32(r) => Rows::F32(&r[start..end]),
        }
    }
}

/// Bytes of `f32` rows the dense batch path checks and converts before running the kernels
/// over them (a multiple of four rows, at least four): small enough to stay in the core's
/// L2 cache between the two passes.
const BATCH_CHUNK_BYTES: usize = 128 * 1024;

/// Makes `v` at least `len` long, keeping what it holds (a buffer the batch path reuses and
/// writes before reading: growing it only once keeps the next call from zeroing it again).
fn grow(v: &mut Vec<f32>, len: usize) {
    if v.len() < len {
        v.resize(len, 0.0);
    }
}

/// Calls each C library math function the kernels use once, on a value the compiler cannot
/// see; the results are dropped.
#[inline(never)]
fn touch_math() {
    use std::hint::black_box;
    let (x32, x64) = (black_box(0.5f32), black_box(0.5f64));
    black_box((x32.exp(), x32.tanh(), x32.ln_1p()));
    black_box((x64.exp(), x64.tanh(), x64.ln_1p()));
}

/// Reusable buffers for predictions; one per thread.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    x: Vec<f64>,
    acc: Vec<f64>,
    work: Vec<f64>,
    scores: Vec<f64>,
    values: Vec<f64>,
    bins: Vec<u8>,
}

/// The result of one row, borrowing from the [`Scratch`]. Every number is a value of the
/// model's [`Precision`]: with [`Precision::F32`] each is an `f32` held exactly in an `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowOutput<'s> {
    /// Raw estimator outputs: a regression's values before any link, a classifier's
    /// decision scores / margins (an SVM's `decision_function`, a naive Bayes model's joint
    /// log-likelihoods, k-means distances), a transformer's outputs.
    pub scores: &'s [f64],
    /// The pipeline's final outputs: the transformed values of a regression with a link
    /// (e.g. `exp` for Poisson), the probabilities of a classifier that has them, otherwise
    /// the scores (k-means: the distances to the centres).
    pub values: &'s [f64],
    /// Class probabilities, for classifiers with a post transform or an SVM trained with
    /// probabilities.
    pub probabilities: Option<&'s [f64]>,
    /// Index of the predicted class (classifiers; k-means: the nearest centre).
    pub class: Option<usize>,
}

impl<'a> Model<'a> {
    /// Builds the runnable pipeline: O(stages), no copy of any weight.
    pub fn new(apr: &Apr<'a>) -> Self {
        let stages = apr.stages().to_vec();
        let pre_end = stages
            .iter()
            .position(|s| s.role() != Role::Preprocessor)
            .unwrap_or(stages.len());
        let est_end = stages[pre_end..]
            .iter()
            .position(|s| s.role() != Role::Estimator)
            .map_or(stages.len(), |i| pre_end + i);
        let mut width = apr.input().n_features as usize;
        let mut max_width = width;
        let mut est_in = width;
        let mut score_width = width;
        let mut work_len = 0;
        for (i, s) in stages.iter().enumerate() {
            if i == pre_end {
                est_in = width;
            }
            width = s.output_width(width as u32) as usize;
            if i + 1 == est_end {
                score_width = width;
            }
            if let Some(w) = family::score_width(s) {
                score_width = w;
            }
            work_len = work_len.max(family::work_len(s));
            max_width = max_width.max(width);
        }
        if pre_end == stages.len() {
            // A transformer: its scores are its outputs.
            est_in = width;
            score_width = width;
        }
        max_width = max_width.max(score_width);
        let post = stages.iter().find_map(|s| match s {
            Stage::Post(p) => Some(*p),
            _ => None,
        });
        let reads_f64 = pre_end == 0 && stages.first().is_some_and(family::reads_f64);
        // A tree ensemble sums in `f64` whether or not it rounds its inputs to `f32` first
        // (scikit-learn's trees and gradient boosting compare `float32` inputs and add
        // `float64` leaves); the precision of the answers decides whether they are rounded.
        let exact_f64 = matches!(stages.first(), Some(Stage::Trees(_)));
        // An ensemble that rounds its rows to `f32` refuses values beyond the `f32` range,
        // as the libraries that cast to `float32` do.
        let rounds_f32 = matches!(stages.first(), Some(Stage::Trees(t)) if t.round_f32());
        let precision = apr.output().precision;
        let all_f64 = precision == Precision::F64
            && !stages.is_empty()
            && stages.iter().all(family::computes_f64);
        let oblivious =
            all_f64 && pre_end == 0 && matches!(stages.first(), Some(Stage::Oblivious(_)));
        let exact = exact_f64 && precision == Precision::F64 && pre_end == 0;
        let narrow_first = !reads_f64
            && !exact
            && !all_f64
            && !oblivious
            && !matches!(
                stages.first(),
                Some(
                    Stage::StandardScalerF64 { .. }
                        | Stage::MinMaxScalerF64 { .. }
                        | Stage::Oblivious(_)
                )
            );
        let prepared = match stages.get(pre_end) {
            Some(Stage::Trees(t)) => Some(trees::Prepared::new(*t)),
            _ => None,
        };
        Model {
            n_features: apr.input().n_features as usize,
            missing: apr.input().missing,
            task: apr.output().task,
            stages,
            pre_end,
            est_end,
            est_in,
            score_width,
            max_width,
            output_width: width,
            reads_f64,
            prepared,
            limit: if (exact_f64 && !rounds_f32) || all_f64 {
                f64::MAX
            } else {
                f64::from(f32::MAX)
            },
            ovr: post == Some(PostTransform::OvrNormalize),
            post,
            work_len,
            precision,
            exact_f64: exact,
            oblivious,
            narrow_first,
            all_f64,
            kmeans_norms: std::sync::OnceLock::new(),
            packed: std::sync::OnceLock::new(),
        }
    }

    /// The re-packed copy of the weight rows `w` (a linear, dense or PCA stage's) for the
    /// batch kernel, when the batch runs the AVX-512 kernel (the only one that reads it);
    /// the copies of every such stage are made on the first call.
    pub(crate) fn packed_for(&self, w: &[f32]) -> Option<&Packed> {
        if !simd::has_avx512() {
            return None;
        }
        let all = self.packed.get_or_init(|| {
            self.stages
                .iter()
                .filter_map(|s| {
                    let (w, n, no) = match *s {
                        Stage::Linear {
                            n_in, n_out, coef, ..
                        } => (coef, n_in, n_out),
                        Stage::Dense {
                            n_in,
                            n_out,
                            weights,
                            ..
                        } => (weights, n_in, n_out),
                        Stage::Pca {
                            n_in,
                            n_out,
                            components,
                            ..
                        } => (components, n_in, n_out),
                        _ => return None,
                    };
                    let p = Packed::new(w, n as usize, no as usize)?;
                    Some((w.as_ptr() as usize, w.len(), p))
                })
                .collect()
        });
        all.iter()
            .find(|(p, len, _)| *p == w.as_ptr() as usize && *len == w.len())
            .map(|(_, _, p)| p)
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

    /// Width of the raw scores.
    pub fn score_width(&self) -> usize {
        self.score_width
    }

    /// Whether inputs are computed in `f64` as given (tree ensembles, SVMs and naive Bayes
    /// models without preprocessors, pipelines computed in `f64` throughout), rather than
    /// rounded to `f32` first.
    pub fn reads_f64(&self) -> bool {
        self.reads_f64 || self.all_f64
    }

    /// The precision of the answers.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// A scratch sized for this model.
    pub fn scratch(&self) -> Scratch {
        let mut s = Scratch::default();
        self.size(&mut s);
        s
    }

    /// Does now the one-off work the first [`Model::predict_row`] would otherwise do on its
    /// path, whatever its row: sizes `scratch`, if given, for this model; asks the CPU which
    /// dense kernels it can run (the standard library's feature detection runs `CPUID` once
    /// and caches the answer; in a virtual machine each `CPUID` exits to the hypervisor);
    /// computes an f32 k-means estimator's centre norms; and, when the model may call them
    /// (a post transform, or an estimator other than a tree ensemble), calls the C library's
    /// `exp`, `tanh` and `log1p` once on a constant, so that their first use on the answer's
    /// path neither binds the symbol (a dynamically linked C library resolves it on the first
    /// call) nor faults their code and tables in. It reads no node and no weight of any other
    /// family, allocates only the scratch (and the k norms), and changes no answer: a later
    /// prediction finds ready what it would have computed. Calling it again does nothing
    /// new.
    pub fn prepare(&self, scratch: Option<&mut Scratch>) {
        if let Some(s) = scratch {
            self.size(s);
        }
        std::hint::black_box(simd::kernel_isa());
        let _ = self.kmeans_norms();
        let only_trees = matches!(
            self.estimator(),
            Some(Stage::Trees(_) | Stage::Oblivious(_))
        );
        if self.post.is_some() || !only_trees {
            touch_math();
        }
    }

    fn size(&self, s: &mut Scratch) {
        let w = self.max_width;
        if s.a.len() < w {
            s.a.resize(w, 0.0);
        }
        if s.b.len() < w {
            s.b.resize(w, 0.0);
        }
        let xw = self.n_features.max(w);
        if s.x.len() < xw {
            s.x.resize(xw, 0.0);
        }
        if s.acc.len() < 2 * w {
            s.acc.resize(2 * w, 0.0);
        }
        if s.work.len() < self.work_len {
            s.work.resize(self.work_len, 0.0);
        }
        if let Some(Stage::Oblivious(o)) = self.stages.first() {
            if s.bins.len() < o.n_splits() {
                s.bins.resize(o.n_splits(), 0);
            }
        }
        if s.scores.len() < w {
            s.scores.resize(w, 0.0);
        }
        if s.values.len() < w {
            s.values.resize(w, 0.0);
        }
    }

    /// Checks a row against the input schema: the count, NaN where the model takes no
    /// missing values, infinities, and values an `f32` pipeline cannot hold.
    pub fn check_row(&self, x: &[f64]) -> Result<(), EngineError> {
        if x.len() != self.n_features {
            return Err(EngineError::FeatureCount {
                expected: self.n_features,
                found: x.len(),
            });
        }
        if let Some(Stage::Oblivious(o)) = self.stages.first() {
            for &f in o.categorical {
                let index = f as usize;
                if crate::cat_hash::category_hash(x[index]).is_none() {
                    return Err(EngineError::Category { index });
                }
            }
        }
        // Vectorised test first; the slow scan only runs to name the bad index.
        let limit = self.limit;
        if !kernels::any_beyond_f64(x, limit) {
            return Ok(());
        }
        let categorical: &[u32] = match self.stages.first() {
            Some(Stage::Oblivious(o)) => o.categorical,
            _ => &[],
        };
        for (index, v) in x.iter().enumerate() {
            if v.is_nan() {
                // A category given as text is a tagged NaN, not a missing value; only a
                // categorical feature takes one.
                let category = v.to_bits() & 0xFFFF_FFFF_0000_0000 == crate::cat_hash::CATEGORY_TAG;
                if category && categorical.binary_search(&(index as u32)).is_err() {
                    return Err(EngineError::Text { index });
                }
                if self.missing == MissingValues::Reject && !category {
                    return Err(EngineError::Missing { index });
                }
            } else if v.abs() > limit {
                return Err(EngineError::NotFinite { index });
            }
        }
        Ok(())
    }

    /// [`Model::check_row`] for a `float32` row: the count, NaN (a missing value: a
    /// `float32` row carries no text category) where the model takes no missing values, and
    /// infinities. Every finite `f32` is within the range of every model.
    fn check_row_f32(&self, x: &[f32]) -> Result<(), EngineError> {
        if x.len() != self.n_features {
            return Err(EngineError::FeatureCount {
                expected: self.n_features,
                found: x.len(),
            });
        }
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

    /// The `‖c‖²` of an f32 k-means estimator (computed on first use); empty otherwise.
    fn kmeans_norms(&self) -> &[f32] {
        match self.estimator() {
            Some(Stage::KMeans { n_in, k, centers }) => self.kmeans_norms.get_or_init(|| {
                family::kmeans::center_norms_f32(centers, *n_in as usize, *k as usize)
            }),
            _ => &[],
        }
    }

    /// The estimator block's first stage, if the model has one.
    fn estimator(&self) -> Option<&Stage<'a>> {
        self.stages[..self.est_end].get(self.pre_end)
    }

    /// Predicts one row. Allocates nothing once `scratch` has grown to the model's width.
    pub fn predict_row<'s>(
        &self,
        x: &[f64],
        scratch: &'s mut Scratch,
    ) -> Result<RowOutput<'s>, EngineError> {
        if self.narrow_first {
            // One pass checks and rounds the row into `a`; the full check runs only to name
            // a bad value, or to let a NaN through as a missing value.
            let nf = self.n_features;
            if x.len() != nf {
                return Err(EngineError::FeatureCount {
                    expected: nf,
                    found: x.len(),
                });
            }
            self.size(scratch);
            if simd::narrow_check_f64(x, self.limit, &mut scratch.a[..nf]) {
                self.check_row(x)?;
            }
        } else {
            self.check_row(x)?;
            self.size(scratch);
        }
        let Scratch {
            a,
            b,
            x: xr,
            acc,
            work,
            scores: s64,
            values: v64,
            bins,
        } = scratch;
        let sw = self.score_width;
        let classifier = self.task == Task::Classification;
        if self.oblivious {
            if let Some(Stage::Oblivious(o)) = self.stages.first() {
                oblivious::oblivious_row_f64(o, x, bins, &mut s64[..sw]);
            }
            let scores: &'s [f64] = &s64[..sw];
            let (values, probabilities): (&'s [f64], _) = match self.post {
                Some(p) => {
                    let w = post::apply_f64(p, scores, v64);
                    let v: &'s [f64] = &v64[..w];
                    (v, classifier.then_some(v))
                }
                None => (scores, None),
            };
            return Ok(RowOutput {
                scores,
                values,
                probabilities,
                class: classifier.then(|| self.class_of(scores)),
            });
        }
        if self.exact_f64 {
            // Scores and post transform in f64, as the library computes them.
            if let Some(p) = &self.prepared {
                trees::trees_row_f64(p, x, &mut s64[..sw]);
            }
            let scores: &'s [f64] = &s64[..sw];
            let (values, probabilities): (&'s [f64], _) = match self.post {
                Some(p) => {
                    let w = post::apply_f64(p, scores, v64);
                    let v: &'s [f64] = &v64[..w];
                    (v, classifier.then_some(v))
                }
                None => (scores, None),
            };
            return Ok(RowOutput {
                scores,
                values,
                probabilities,
                class: classifier.then(|| self.class_of(scores)),
            });
        }
        if self.all_f64 {
            // Preprocessors, estimator and post transform in f64, never rounded.
            let nf = self.n_features;
            xr[..nf].copy_from_slice(x);
            let (sw, decided, probs) =
                family::run_all_f64(&self.stages[..self.est_end], xr, nf, s64, work, v64);
            let scores: &'s [f64] = &s64[..sw];
            let (values, probabilities): (&'s [f64], _) = match (probs, self.post) {
                (Some(pw), _) => {
                    // An SVM's probabilities, computed by the estimator itself.
                    let v: &'s [f64] = &v64[..pw];
                    (v, classifier.then_some(v))
                }
                (None, Some(p)) => {
                    let w = post::apply_f64(p, scores, v64);
                    let v: &'s [f64] = &v64[..w];
                    (v, classifier.then_some(v))
                }
                (None, None) => (scores, None),
            };
            // Naive Bayes likelihoods pick the class by their argmax, even alone.
            let nb = matches!(self.estimator(), Some(Stage::GaussianNb { .. }));
            return Ok(RowOutput {
                scores,
                values,
                probabilities,
                class: classifier.then(|| match decided {
                    Some(c) => c,
                    None if nb => kernels::argmax_f64(scores),
                    None => self.class_of(scores),
                }),
            });
        }
        let block = EstimatorBlock {
            stages: &self.stages[self.pre_end..self.est_end],
            prepared: self.prepared.as_ref(),
            post: self.post,
            score_width: sw,
            kmeans_norms: self.kmeans_norms(),
        };
        let (class_hint, values_ready) = if self.reads_f64 {
            block.run_f64(
                x,
                Buffers {
                    a: &mut a[..],
                    b: &mut b[..],
                    x: &mut xr[..],
                    acc: &mut acc[..],
                    work: &mut work[..],
                },
            )
        } else {
            let w = self.preprocess_into(x, a, b);
            block.run_f32(
                w,
                Buffers {
                    a: &mut a[..],
                    b: &mut b[..],
                    x: &mut xr[..],
                    acc: &mut acc[..],
                    work: &mut work[..],
                },
            )
        };
        // Scores in `b[..sw]`; post-processing writes into `a`. Both are then widened.
        kernels::widen(&b[..sw], &mut s64[..sw]);
        let scores: &'s [f64] = &s64[..sw];
        let (values, probabilities): (&'s [f64], _) = if values_ready || self.post.is_some() {
            let w = match self.post {
                Some(p) if !values_ready => post::apply(p, &b[..sw], a),
                _ => self.output_width,
            };
            kernels::widen(&a[..w], &mut v64[..w]);
            let v: &'s [f64] = &v64[..w];
            (v, classifier.then_some(v))
        } else {
            (scores, None)
        };
        let class = match self.task {
            Task::Regression | Task::Transform => None,
            Task::Classification => Some(class_hint.unwrap_or_else(|| self.class_of(scores))),
        };
        Ok(RowOutput {
            scores,
            values,
            probabilities,
            class,
        })
    }

    /// Converts `x` to `f32` and runs the preprocessors; the result is `a[..w]`, `w` the
    /// returned width. `b` is work space (a PCA writes there first). A first
    /// `standard_scaler_f64` or `min_max_scaler_f64` reads the caller's `f64` row itself and
    /// rounds once, after it.
    ///
    /// With [`Model::narrow_first`], `a[..x.len()]` already holds the rounded row.
    fn preprocess_into(&self, x: &[f64], a: &mut [f32], b: &mut [f32]) -> usize {
        let mut w = x.len();
        let mut stages = &self.stages[..self.pre_end];
        let first = stages.split_first();
        if self.narrow_first {
            // Rounded by `predict_row`'s check.
        } else if let Some((Stage::StandardScalerF64 { mean, scale }, rest)) = first {
            crate::family::scaler::standard_scale_f64_into(x, mean, scale, &mut a[..w]);
            stages = rest;
        } else if let Some((Stage::MinMaxScalerF64 { scale, min }, rest)) = first {
            crate::family::scaler::min_max_scale_f64_into(x, scale, min, &mut a[..w]);
            stages = rest;
        } else {
            for (o, v) in a[..w].iter_mut().zip(x) {
                *o = *v as f32;
            }
        }
        for s in stages {
            w = crate::family::preprocess(s, a, b, w);
        }
        w
    }

    fn class_of(&self, scores: &[f64]) -> usize {
        match scores {
            [z] => usize::from(*z > 0.0),
            _ if self.ovr => {
                // scikit-learn's OneVsRestClassifier keeps the last of tied maxima.
                let first = kernels::argmax_f64(scores);
                let best = scores[first];
                scores.iter().rposition(|&v| v == best).unwrap_or(first)
            }
            _ => kernels::argmax_f64(scores),
        }
    }

    /// Runs every row through the preprocessors into `work[..len]` (`est_in` values per row;
    /// `len` returned),
    /// stage by stage over the whole batch: a PCA as one blocked product
    /// ([`simd::pca_rows_f32`]), the other stages row by row, each row's arithmetic exactly
    /// [`Model::predict_row`]'s. `tmp` is work space.
    ///
    /// With `check`, each row is checked ([`Model::check_row`]) just before it is converted,
    /// while it is in cache (one pass over the caller's rows instead of two); the first bad
    /// row fails the call, as in [`Model::predict_batch`].
    ///
    /// `work` and `tmp` only grow: every value read is written first, and a chunked batch
    /// reuses them chunk after chunk, so shrinking them would make the next chunk zero
    /// their tails again (a PCA's 784 → 50 swapped the two and spent 8 % of its batch in
    /// `memset`).
    fn preprocess_rows(
        &self,
        rows: Rows<'_>,
        work: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
        check: bool,
    ) -> Result<usize, EngineError> {
        let nf = self.n_features;
        let n_rows = rows.len().checked_div(nf).unwrap_or(0);
        grow(work, n_rows * nf);
        if n_rows == 0 {
            return Ok(0);
        }
        let mut stages = &self.stages[..self.pre_end];
        let first = stages.split_first();
        let mut w = nf;
        if let Some(no) = self.pca_first_f32(rows, n_rows, work, tmp) {
            stages = &stages[1..];
            w = no;
        } else {
            let into_f32 = |x: &[f64], o: &mut [f32]| match first {
                Some((Stage::StandardScalerF64 { mean, scale }, _)) => {
                    crate::family::scaler::standard_scale_f64_into(x, mean, scale, o);
                }
                Some((Stage::MinMaxScalerF64 { scale, min }, _)) => {
                    crate::family::scaler::min_max_scale_f64_into(x, scale, min, o);
                }
                _ => kernels::narrow(x, o),
            };
            match rows {
                Rows::F64(rows) => {
                    for (x, o) in rows
                        .chunks_exact(nf)
                        .zip(work[..n_rows * nf].chunks_exact_mut(nf))
                    {
                        if check {
                            self.check_row(x)?;
                        }
                        into_f32(x, o);
                    }
                }
                Rows::F32(rows) => {
                    // An `f64` scaler reads the row widened (exactly the values given); anything
                    // else reads the `f32` values as they are.
                    let widen = matches!(
                        first,
                        Some((
                            Stage::StandardScalerF64 { .. } | Stage::MinMaxScalerF64 { .. },
                            _
                        ))
                    );
                    let mut wide = vec![0.0f64; if widen { nf } else { 0 }];
                    for (x, o) in rows
                        .chunks_exact(nf)
                        .zip(work[..n_rows * nf].chunks_exact_mut(nf))
                    {
                        if check {
                            self.check_row_f32(x)?;
                        }
                        // A NaN becomes the plain NaN, as `predict_batch_f32` widens it.
                        if widen {
                            for (d, v) in wide.iter_mut().zip(x) {
                                *d = if v.is_nan() { f64::NAN } else { f64::from(*v) };
                            }
                            into_f32(&wide, o);
                        } else {
                            o.copy_from_slice(x);
                            if kernels::any_non_finite_f32(o) {
                                for v in o.iter_mut().filter(|v| v.is_nan()) {
                                    *v = f32::NAN;
                                }
                            }
                        }
                    }
                }
            }
            if let Some((Stage::StandardScalerF64 { .. } | Stage::MinMaxScalerF64 { .. }, rest)) =
                first
            {
                stages = rest;
            }
        }
        let mut a = vec![0.0f32; self.max_width];
        let mut b = vec![0.0f32; self.max_width];
        for s in stages {
            let no = s.output_width(w as u32) as usize;
            match *s {
                Stage::Pca {
                    mean,
                    components,
                    whiten,
                    ..
                } => {
                    // Every output is written.
                    grow(tmp, n_rows * no);
                    simd::pca_rows_f32(
                        &mut work[..n_rows * w],
                        w,
                        mean,
                        components,
                        whiten,
                        no,
                        &mut tmp[..n_rows * no],
                        self.packed_for(components),
                    );
                    std::mem::swap(work, tmp);
                }
                _ if no == w => {
                    for x in work[..n_rows * w].chunks_exact_mut(w) {
                        a[..w].copy_from_slice(x);
                        let got = crate::family::preprocess(s, &mut a, &mut b, w);
                        x.copy_from_slice(&a[..got]);
                    }
                }
                _ => {
                    // Every output row is written.
                    grow(tmp, n_rows * no);
                    for (x, o) in work[..n_rows * w]
                        .chunks_exact(w)
                        .zip(tmp[..n_rows * no].chunks_exact_mut(no))
                    {
                        a[..w].copy_from_slice(x);
                        let got = crate::family::preprocess(s, &mut a, &mut b, w);
                        o.copy_from_slice(&a[..got]);
                    }
                    std::mem::swap(work, tmp);
                }
            }
            w = no;
        }
        Ok(n_rows * w)
    }

    /// The first stage of [`Model::preprocess_rows`] for `f32` rows when it is a PCA: each
    /// row centred as it is copied and projected ([`simd::pca_copy_rows_f32`]), the
    /// outputs into `work[..n_rows × n_out]` (`n_out` returned), with no separate check
    /// of the rows. A PCA output sums its whole centred row, and a NaN or an infinity
    /// absorbs (`∞ − ∞`, `∞ · 0` are NaN; a fused multiply-add, a sum or a division with
    /// one in it is never finite again), so finite outputs mean finite rows. `None` (the
    /// caller then runs the checked path) when the first stage is not a PCA, the rows are
    /// `f64`, or an output is not finite: a bad row (named by the checked path), a NaN the
    /// model takes as missing (made plain there), or an overflow.
    fn pca_first_f32(
        &self,
        rows: Rows<'_>,
        n_rows: usize,
        work: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
    ) -> Option<usize> {
        let (
            Rows::F32(rows),
            Some(Stage::Pca {
                n_out,
                mean,
                components,
                whiten,
                ..
            }),
        ) = (rows, self.stages[..self.pre_end].first())
        else {
            return None;
        };
        let nf = self.n_features;
        let no = *n_out as usize;
        if no == 0 || nf == 0 {
            return None;
        }
        grow(tmp, n_rows * no);
        simd::pca_copy_rows_f32(
            &rows[..n_rows * nf],
            nf,
            mean,
            components,
            *whiten,
            &mut work[..n_rows * nf],
            &mut tmp[..n_rows * no],
            self.packed_for(components),
        );
        if kernels::any_non_finite_f32(&tmp[..n_rows * no]) {
            return None;
        }
        std::mem::swap(work, tmp);
        Some(no)
    }

    /// Predicts a row-major batch (`rows.len() / n_features` rows) through the batch path:
    /// for the f32 linear models, MLPs, k-means, PCA (and the other preprocessors) and tree
    /// ensembles each stage runs over every row before the next stage. The dense stages are
    /// blocked products of four rows against two weight rows at a time (on AVX-512, six rows
    /// against eight, the weights read from a copy re-packed on the first batch,
    /// [`Packed`]), so each weight is loaded once per four or six rows (`blocked`,
    /// dispatched by [`crate::simd`]); a tree ensemble
    /// walks each tree for a block of rows before the next tree. The other families (SVMs,
    /// naive Bayes, pipelines computed in `f64` throughout) run row by row on one scratch.
    /// Either way each row's answer has exactly [`Model::predict_row`]'s bits.
    ///
    /// Writes scores (`n_rows × score_width`) into `out.scores`, the final values
    /// (`n_rows × value_width`) into `out.values`, probabilities into `out.probabilities`
    /// (empty when the model has none) and classes into `out.classes`. Every row must pass
    /// [`Model::check_row`]: the first bad row fails the call.
    pub fn predict_batch(&self, rows: &[f64], out: &mut BatchOutput) -> Result<(), EngineError> {
        let nf = self.n_features;
        if nf == 0 || rows.len() % nf != 0 {
            return Err(EngineError::BatchShape {
                len: rows.len(),
                n_features: nf,
            });
        }
        // The dense f32 families check each row as they convert it (`preprocess_rows`).
        let checked_in_pass = self.dense_batch();
        if !checked_in_pass {
            for row in rows.chunks_exact(nf) {
                self.check_row(row)?;
            }
        }
        let n_rows = rows.len() / nf;
        out.clear();
        let sw = self.score_width;
        out.score_width = sw;
        // k-means names each row's centre itself.
        let mut nearest = false;
        match self.estimator() {
            _ if checked_in_pass => nearest = self.dense_scores(Rows::F64(rows), out)?,
            Some(Stage::Trees(t)) => {
                let Some(p) = &self.prepared else {
                    return self.batch_by_rows(rows, out);
                };
                out.scores.resize(n_rows * sw, 0.0);
                let src: &[f64] = if self.reads_f64 && !t.round_f32() {
                    rows
                } else {
                    out.work64.clear();
                    if self.reads_f64 {
                        out.work64.extend_from_slice(rows);
                        trees::round_row_f32(&mut out.work64);
                    } else {
                        let len = self.preprocess_rows(
                            Rows::F64(rows),
                            &mut out.work,
                            &mut out.tmp,
                            false,
                        )?;
                        out.work64
                            .extend(out.work[..len].iter().map(|&v| f64::from(v)));
                    }
                    &out.work64
                };
                let precision = if self.exact_f64 {
                    Precision::F64
                } else {
                    Precision::F32
                };
                trees::batch(p, src, precision, &mut out.scores);
            }
            Some(Stage::Oblivious(o)) if self.oblivious => {
                out.scores.resize(n_rows * sw, 0.0);
                oblivious::batch_f64(o, rows, &mut out.scores);
            }
            _ => return self.batch_by_rows(rows, out),
        }
        self.finish_batch(out, n_rows, nearest, checked_in_pass);
        Ok(())
    }

    /// [`Model::predict_batch`] over `float32` rows (`rows.len() / n_features` of them), for
    /// callers that hold their data in `float32` (a `float32` numpy array, a feature store):
    /// the answers are exactly [`Model::predict_batch`]'s on the same values widened to
    /// `f64`, and the rows are checked alike (an infinity is refused; a NaN is a missing
    /// value, refused where the model takes none; the first bad row fails the call).
    ///
    /// The f32 dense families (linear models, MLPs, k-means, PCA and the preprocessors
    /// before them) read the rows as given, with no `f64` pass: without a preprocessor the
    /// first kernel reads the caller's slice itself. Every other model widens the rows to
    /// `f64` first and runs [`Model::predict_batch`]. A `float32` row has no room for a
    /// category given as text: every NaN is a missing value, whatever its payload.
    pub fn predict_batch_f32(
        &self,
        rows: &[f32],
        out: &mut BatchOutput,
    ) -> Result<(), EngineError> {
        let nf = self.n_features;
        if nf == 0 || rows.len() % nf != 0 {
            return Err(EngineError::BatchShape {
                len: rows.len(),
                n_features: nf,
            });
        }
        if !self.dense_batch() {
            // Widened exactly; a NaN becomes the plain NaN, never a tagged category. The
            // buffer is the output's, kept for the next call.
            let mut wide = std::mem::take(&mut out.wide);
            wide.clear();
            wide.extend(
                rows.iter()
                    .map(|&v| if v.is_nan() { f64::NAN } else { f64::from(v) }),
            );
            let result = self.predict_batch(&wide, out);
            out.wide = wide;
            return result;
        }
        out.clear();
        out.score_width = self.score_width;
        let nearest = self.dense_scores(Rows::F32(rows), out)?;
        self.finish_batch(out, rows.len() / nf, nearest, true);
        Ok(())
    }

    /// Whether the batch path of this model is the f32 dense one ([`Model::dense_scores`]):
    /// an f32 linear model, MLP or k-means, or a transformer of f32 preprocessors.
    fn dense_batch(&self) -> bool {
        !self.all_f64
            && match self.estimator() {
                Some(Stage::Linear { .. } | Stage::Dense { .. } | Stage::KMeans { .. }) => true,
                None => self.pre_end > 0,
                Some(_) => false,
            }
    }

    /// The scores of an f32 dense batch ([`Model::dense_batch`]) into `out.scores`, each
    /// row checked as it is read; whether the estimator named each row's centre (k-means,
    /// in `out.nearest`).
    fn dense_scores(&self, rows: Rows<'_>, out: &mut BatchOutput) -> Result<bool, EngineError> {
        let nf = self.n_features;
        let n_rows = rows.len() / nf;
        let sw = self.score_width;
        // Every score is written by the kernels: grown, never zeroed again.
        grow(&mut out.scores32, n_rows * sw);
        let kmeans = matches!(self.estimator(), Some(Stage::KMeans { .. }));
        if kmeans {
            out.nearest.clear();
            out.nearest.resize(n_rows, 0);
        }
        // Chunks of rows small enough to stay in cache between the check (and conversion)
        // and the kernels: one pass over the caller's rows from memory instead of two. Each
        // row's arithmetic is the same whatever the chunk.
        let chunk = (BATCH_CHUNK_BYTES / (4 * nf)).max(4) & !3;
        let mut r0 = 0;
        while r0 < n_rows {
            let r1 = (r0 + chunk).min(n_rows);
            let part = rows.rows(r0 * nf, r1 * nf);
            if let (Rows::F32(r), 0) = (part, self.pre_end) {
                // `f32` rows straight into an estimator need no copy. The kernels run first
                // and the check after, while the rows are in cache: the kernels' first read
                // of the rows from memory overlaps their arithmetic, where a check first
                // would wait for it alone (a 784 → 10 logistic regression's batch spent a
                // quarter of its time there). A non-finite value (the chunk's scores are
                // discarded)
                // sends the chunk through `preprocess_rows`, which names the first bad row
                // or makes its NaNs plain, and the kernels run again.
                self.estimate(r, r0, r1, out);
                let finite = match self.estimator() {
                    // Every score of a linear model sums every feature of its row, and a
                    // NaN or an infinity absorbs: `∞ · 0` and `∞ − ∞` are NaN, a fused
                    // multiply-add or a sum with a NaN or an infinity in it is never finite
                    // again. So a row whose scores are all finite is all finite, and only
                    // the scores (10 a row, not 784) need reading; a finite row whose
                    // scores overflowed is checked below and passes.
                    Some(Stage::Linear { .. }) if sw > 0 => {
                        !kernels::any_non_finite_f32(&out.scores32[r0 * sw..r1 * sw])
                    }
                    _ => !kernels::any_non_finite_f32(r),
                };
                if finite {
                    r0 = r1;
                    continue;
                }
            }
            let len = self.preprocess_rows(part, &mut out.work, &mut out.tmp, true)?;
            let work = std::mem::take(&mut out.work);
            self.estimate(&work[..len], r0, r1, out);
            out.work = work;
            r0 = r1;
        }
        out.scores.clear();
        out.scores
            .extend(out.scores32[..n_rows * sw].iter().map(|&v| f64::from(v)));
        Ok(kmeans)
    }

    /// The estimator of an f32 dense batch over rows `r0..r1` of the batch (`x`, preprocessed):
    /// their scores into `out.scores32` (k-means: and their nearest centres into
    /// `out.nearest`).
    fn estimate(&self, x: &[f32], r0: usize, r1: usize, out: &mut BatchOutput) {
        let sw = self.score_width;
        let scores = &mut out.scores32[r0 * sw..r1 * sw];
        match self.estimator() {
            Some(Stage::Linear {
                coef, intercept, ..
            }) => simd::linear_rows_f32(
                x,
                self.est_in,
                coef,
                intercept,
                sw,
                scores,
                self.packed_for(coef),
            ),
            Some(Stage::Dense { .. }) => {
                let layers = &self.stages[self.pre_end..self.est_end];
                dense::chain_rows(layers, x, self.est_in, &mut out.tmp, &mut out.chain, |w| {
                    self.packed_for(w)
                });
                scores.copy_from_slice(&out.chain[..scores.len()]);
            }
            Some(Stage::KMeans { centers, .. }) => simd::kmeans_rows_f32(
                x,
                self.est_in,
                centers,
                self.kmeans_norms(),
                sw,
                scores,
                &mut out.nearest[r0..r1],
            ),
            // A transformer (a PCA, scalers): its scores are its preprocessed rows.
            _ => scores.copy_from_slice(&x[..scores.len()]),
        }
    }

    /// The values, probabilities and classes of a batch from its scores; with `dense`, the
    /// scores are also in `out.scores32` as `f32` ([`Model::dense_scores`]), which the `f32`
    /// post transform reads directly.
    fn finish_batch(&self, out: &mut BatchOutput, n_rows: usize, nearest: bool, dense: bool) {
        let sw = self.score_width;
        match self.post {
            Some(p) if self.exact_f64 || self.oblivious => {
                let mut tmp = vec![0.0f64; self.output_width.max(sw)];
                out.value_width = self.output_width;
                out.values.reserve(n_rows * self.output_width);
                for row in out.scores.chunks_exact(sw) {
                    let w = post::apply_f64(p, row, &mut tmp);
                    out.values.extend_from_slice(&tmp[..w]);
                }
            }
            Some(PostTransform::Softmax) if dense && sw > 0 && self.output_width == sw => {
                // All rows at once ([`kernels::softmax_rows_f32`]), each row's bits those of
                // the row at a time below.
                grow(&mut out.tmp, n_rows * sw);
                kernels::softmax_rows_f32(
                    &out.scores32[..n_rows * sw],
                    sw,
                    &mut out.tmp[..n_rows * sw],
                );
                out.value_width = sw;
                out.values
                    .extend(out.tmp[..n_rows * sw].iter().map(|&v| f64::from(v)));
            }
            Some(p) if dense => {
                // `out.scores` is `out.scores32` widened: the transform reads the same values
                // without narrowing them back.
                let mut tmp = vec![0.0f32; self.output_width.max(sw)];
                out.value_width = self.output_width;
                out.values.reserve(n_rows * self.output_width);
                for row in out.scores32[..n_rows * sw].chunks_exact(sw) {
                    let w = post::apply(p, row, &mut tmp);
                    out.values.extend(tmp[..w].iter().map(|&v| f64::from(v)));
                }
            }
            Some(p) => {
                // The scores are f32 values: the f32 transform sees exactly the row path's.
                let width = self.output_width.max(sw);
                let mut row32 = vec![0.0f32; sw];
                let mut tmp = vec![0.0f32; width];
                out.value_width = self.output_width;
                out.values.reserve(n_rows * self.output_width);
                for row in out.scores.chunks_exact(sw) {
                    for (d, s) in row32.iter_mut().zip(row) {
                        *d = *s as f32;
                    }
                    let w = post::apply(p, &row32, &mut tmp);
                    out.values.extend(tmp[..w].iter().map(|&v| f64::from(v)));
                }
            }
            None => {
                out.value_width = sw;
                out.values.extend_from_slice(&out.scores);
            }
        }
        if self.task == Task::Classification {
            if self.post.is_some() {
                out.probabilities.extend_from_slice(&out.values);
                out.probability_width = out.value_width;
            }
            if nearest {
                out.classes.extend_from_slice(&out.nearest);
            } else {
                out.classes
                    .extend(out.scores.chunks_exact(sw).map(|s| self.class_of(s)));
            }
        }
    }

    /// [`Model::predict_batch`] on up to `n_threads` threads: the rows are cut into one
    /// contiguous part per thread (at least [`MIN_ROWS_PER_THREAD`] rows each, so a small
    /// batch stays on the calling thread), each part runs the batch path on its own scoped
    /// thread, and the parts are joined in order. Every row's answer is computed exactly as
    /// on one thread, so the outputs are bit for bit [`Model::predict_batch`]'s, and so is
    /// the error (that of the first bad row). `n_threads` of 0 or 1 runs on the calling
    /// thread.
    pub fn predict_batch_threads(
        &self,
        rows: &[f64],
        out: &mut BatchOutput,
        n_threads: usize,
    ) -> Result<(), EngineError> {
        let nf = self.n_features;
        if nf == 0 || rows.len() % nf != 0 {
            return self.predict_batch(rows, out);
        }
        let n_rows = rows.len() / nf;
        let threads = n_threads.min(n_rows / MIN_ROWS_PER_THREAD).max(1);
        if threads == 1 {
            return self.predict_batch(rows, out);
        }
        let per = n_rows.div_ceil(threads);
        let parts: Vec<Result<BatchOutput, EngineError>> = std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .chunks(per * nf)
                .map(|part| {
                    s.spawn(move || {
                        let mut o = BatchOutput::default();
                        self.predict_batch(part, &mut o).map(|()| o)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        out.clear();
        for part in parts {
            let part = part?;
            out.score_width = part.score_width;
            out.value_width = part.value_width;
            out.probability_width = part.probability_width;
            out.scores.extend_from_slice(&part.scores);
            out.values.extend_from_slice(&part.values);
            out.probabilities.extend_from_slice(&part.probabilities);
            out.classes.extend_from_slice(&part.classes);
        }
        Ok(())
    }

    /// The batch path of the families without a blocked kernel: one scratch, row by row.
    fn batch_by_rows(&self, rows: &[f64], out: &mut BatchOutput) -> Result<(), EngineError> {
        let nf = self.n_features;
        let n_rows = rows.len() / nf;
        let mut s = self.scratch();
        out.value_width = self.output_width;
        out.scores.reserve(n_rows * self.score_width);
        out.values.reserve(n_rows * self.output_width);
        for row in rows.chunks_exact(nf) {
            let r = self.predict_row(row, &mut s)?;
            out.scores.extend_from_slice(r.scores);
            out.values.extend_from_slice(r.values);
            if let Some(p) = r.probabilities {
                out.probabilities.extend_from_slice(p);
                out.probability_width = p.len();
            }
            out.classes.extend(r.class);
        }
        Ok(())
    }
}

/// Outputs of [`Model::predict_batch`], reusable across calls.
#[derive(Debug, Clone, Default)]
pub struct BatchOutput {
    /// Row-major scores, `score_width` per row.
    pub scores: Vec<f64>,
    /// Scores per row.
    pub score_width: usize,
    /// Row-major final values, `value_width` per row (see [`RowOutput::values`]).
    pub values: Vec<f64>,
    /// Values per row.
    pub value_width: usize,
    /// Row-major probabilities, `probability_width` per row (empty without a post transform).
    pub probabilities: Vec<f64>,
    /// Probabilities per row.
    pub probability_width: usize,
    /// Predicted class index per row (classifiers).
    pub classes: Vec<usize>,
    work: Vec<f32>,
    work64: Vec<f64>,
    scores32: Vec<f32>,
    tmp: Vec<f32>,
    chain: Vec<f32>,
    wide: Vec<f64>,
    nearest: Vec<usize>,
}

impl BatchOutput {
    fn clear(&mut self) {
        self.scores.clear();
        self.values.clear();
        self.probabilities.clear();
        self.classes.clear();
        self.work.clear();
        self.work64.clear();
        self.score_width = 0;
        self.value_width = 0;
        self.probability_width = 0;
    }
}
