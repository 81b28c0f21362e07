//! Support vector machines (stage kinds SVM and SVM_F64, rule R32): the kernel, the view,
//! the owned spec, the reader's checks and the writer's record. The two kinds share one
//! record layout; `svm_f64` stores its support vectors as `f64` and adds a flags word.

use crate::error::FormatError;
use crate::family::Element;
use crate::model::Task;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::{Dtype, NONE};

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 16;
/// Words of the SVM_F64 record: the SVM record and a flags word.
pub(crate) const RECORD_LEN_F64: u32 = 17;
/// SVM_F64 flag: a classifier of three classes or more picks its class by the largest
/// `'ovr'` decision value (scikit-learn's `break_ties=True`) instead of by votes.
pub(crate) const FLAG_BREAK_TIES: u32 = 1;

/// The kernel of a [`crate::Stage::Svm`], as libsvm defines it; `u · v` is the dot product of the
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
///
/// The support vectors are `f32` (stage kind `svm`) or `f64` (stage kind `svm_f64`, where
/// [`Svm::break_ties`] may also be set).
#[derive(Debug, Clone, Copy)]
pub struct Svm<'a, V = f32> {
    /// Width of the input.
    pub n_in: u32,
    /// Number of classes, or 1 for a regressor.
    pub n_classes: u32,
    /// The kernel and its parameters.
    pub kernel: Kernel,
    /// Support vectors per class (classifiers; empty for a regressor).
    pub n_support: &'a [u32],
    /// Row-major `n_sv × n_in` support vectors.
    pub support_vectors: &'a [V],
    /// Dual coefficients: `(n_classes - 1) × n_sv` for a classifier, `n_sv` for a regressor.
    pub coef: &'a [f64],
    /// One intercept per pair of classes (`-rho` in libsvm's terms), or one for a regressor.
    pub intercept: &'a [f64],
    /// Platt's `A` per pair, or empty when the model has no probabilities.
    pub prob_a: &'a [f64],
    /// Platt's `B` per pair, or empty.
    pub prob_b: &'a [f64],
    /// A classifier of three classes or more picks its class by the largest decision value,
    /// ties to the first, rather than by votes (scikit-learn's `break_ties`; `svm_f64` only).
    pub break_ties: bool,
}

impl<V> Svm<'_, V> {
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
pub struct SvmSpec<V = f32> {
    /// Input width.
    pub n_in: u32,
    /// Classes, or 1 for a regressor.
    pub n_classes: u32,
    /// Kernel.
    pub kernel: Kernel,
    /// Support vectors per class (empty for a regressor).
    pub n_support: Vec<u32>,
    /// Row-major support vectors.
    pub support_vectors: Vec<V>,
    /// Dual coefficients, libsvm's `sv_coef` layout.
    pub coef: Vec<f64>,
    /// Intercept per pair (or one).
    pub intercept: Vec<f64>,
    /// Platt's `A` per pair, empty without probabilities.
    pub prob_a: Vec<f64>,
    /// Platt's `B` per pair, empty without probabilities.
    pub prob_b: Vec<f64>,
    /// See [`Svm::break_ties`] (`svm_f64` only: the writer refuses it on an `svm`).
    pub break_ties: bool,
}

/// The SVM (`V` = f32) or SVM_F64 (`V` = f64) record after its kind word; R32 in full.
pub(crate) fn read<'a, V: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Svm<'a, V>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_classes = dim("n_classes", w.next()?)?;
    let n_sv = dim("n_sv", w.next()?)?;
    let kernel_code = w.next()?;
    let degree = w.next()?;
    let gamma = f64::from_bits(u64::from(w.next()?) | (u64::from(w.next()?) << 32));
    let coef0 = f64::from_bits(u64::from(w.next()?) | (u64::from(w.next()?) << 32));
    let (n_support_ix, sv_ix, coef_ix, intercept_ix, a_ix, b_ix) = (
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
    );
    let bad = |index: u32, reason: &'static str| FormatError::BadSvm {
        stage,
        index,
        reason,
    };
    let kernel =
        Kernel::from_parts(kernel_code, gamma, coef0, degree).ok_or(FormatError::UnknownValue {
            field: "svm.kernel",
            value: kernel_code,
        })?;
    if !gamma.is_finite() || !coef0.is_finite() {
        return Err(bad(0, "kernel parameter is not finite"));
    }
    let (g, c, d) = kernel.params();
    if g.to_bits() != gamma.to_bits() || c.to_bits() != coef0.to_bits() || d != degree {
        return Err(bad(0, "a parameter the kernel does not use is not zero"));
    }
    let n_sv64 = u64::from(n_sv);
    let k = u64::from(n_classes);
    let classifier = n_classes >= 2;
    let n_pairs = if classifier { k * (k - 1) / 2 } else { 1 };
    let n_support: &'a [u32] = if classifier {
        p.typed_tensor(stage, n_support_ix, Dtype::U32, Some(k))?
    } else if n_support_ix != NONE {
        return Err(bad(0, "a regressor has no per-class support counts"));
    } else {
        &[]
    };
    if classifier {
        let total = n_support
            .iter()
            .try_fold(0u64, |acc, &n| acc.checked_add(u64::from(n)));
        if total != Some(n_sv64) {
            return Err(bad(0, "per-class support counts do not add up to n_sv"));
        }
    }
    // Both kinds name a section of another dtype "wrong dtype" (`typed_tensor`).
    let support_vectors: &'a [V] =
        p.typed_tensor(stage, sv_ix, V::DTYPE, Some(n_sv64 * u64::from(n_in)))?;
    let coef_rows = if classifier { k - 1 } else { 1 };
    let coef: &'a [f64] = p.typed_tensor(stage, coef_ix, Dtype::F64, Some(coef_rows * n_sv64))?;
    let intercept: &'a [f64] = p.typed_tensor(stage, intercept_ix, Dtype::F64, Some(n_pairs))?;
    let (prob_a, prob_b): (&'a [f64], &'a [f64]) = match (a_ix == NONE, b_ix == NONE) {
        (true, true) => (&[], &[]),
        (false, false) if classifier => (
            p.typed_tensor(stage, a_ix, Dtype::F64, Some(n_pairs))?,
            p.typed_tensor(stage, b_ix, Dtype::F64, Some(n_pairs))?,
        ),
        (false, false) => return Err(bad(0, "a regressor has no probabilities")),
        _ => return Err(bad(0, "prob_a and prob_b come together")),
    };
    let flags = if V::DTYPE == Dtype::F64 { w.next()? } else { 0 };
    if flags & !FLAG_BREAK_TIES != 0 {
        return Err(bad(0, "unknown flag bits"));
    }
    let break_ties = flags & FLAG_BREAK_TIES != 0;
    if break_ties && n_classes < 3 {
        return Err(bad(0, "break_ties needs three classes or more"));
    }
    // The value rules read every weight: skipped for a file verified at build time.
    if p.deep() {
        for (reason, values) in [
            ("dual coefficient is not finite", coef),
            ("intercept is not finite", intercept),
            ("prob_a is not finite", prob_a),
            ("prob_b is not finite", prob_b),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(i as u32, reason));
            }
        }
    }
    Ok(Svm {
        n_in,
        n_classes,
        kernel,
        n_support,
        support_vectors,
        coef,
        intercept,
        prob_a,
        prob_b,
        break_ties,
    })
}

/// The SVM or SVM_F64 record's payload after its kind word (the SVM_F64 record ends with its
/// flags word); queues its tensors.
pub(crate) fn payload<V: Element>(m: &SvmSpec<V>, tensors: &mut Tensors) -> Vec<u32> {
    let sv = V::queue(tensors, &m.support_vectors);
    let mut words = payload_with(m, sv, tensors);
    if V::DTYPE == Dtype::F64 {
        words.push(if m.break_ties { FLAG_BREAK_TIES } else { 0 });
    }
    words
}

/// The fields both kinds share, the support vectors already queued as section `sv`.
fn payload_with<V>(m: &SvmSpec<V>, sv: u32, tensors: &mut Tensors) -> Vec<u32> {
    let (gamma, coef0, degree) = m.kernel.params();
    let (g, c) = (gamma.to_bits(), coef0.to_bits());
    let n_support = tensors.opt_u32(&m.n_support);
    let coef = tensors.f64(&m.coef);
    let intercept = tensors.f64(&m.intercept);
    let prob_a = tensors.opt_f64(&m.prob_a);
    let prob_b = tensors.opt_f64(&m.prob_b);
    let n_sv = m
        .support_vectors
        .len()
        .checked_div(m.n_in as usize)
        .unwrap_or(0) as u32;
    vec![
        m.n_in,
        m.n_classes,
        n_sv,
        m.kernel.code(),
        degree,
        g as u32,
        (g >> 32) as u32,
        c as u32,
        (c >> 32) as u32,
        n_support,
        sv,
        coef,
        intercept,
        prob_a,
        prob_b,
    ]
}

/// Copies the view out into an owned spec.
pub(crate) fn to_spec<V: Copy>(m: &Svm<'_, V>) -> SvmSpec<V> {
    SvmSpec {
        n_in: m.n_in,
        n_classes: m.n_classes,
        kernel: m.kernel,
        n_support: m.n_support.to_vec(),
        support_vectors: m.support_vectors.to_vec(),
        coef: m.coef.to_vec(),
        intercept: m.intercept.to_vec(),
        prob_a: m.prob_a.to_vec(),
        prob_b: m.prob_b.to_vec(),
        break_ties: m.break_ties,
    }
}

/// R32, the part that needs the output schema: an svm classifier is a classification over
/// its classes, an svm regressor a regression.
pub(crate) fn fits_output<V>(m: &Svm<'_, V>, task: Task, n_outputs: u32) -> bool {
    match task {
        Task::Classification => m.is_classifier() && n_outputs == m.n_classes,
        _ => !m.is_classifier(),
    }
}
