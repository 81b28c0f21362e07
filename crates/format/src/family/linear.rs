//! Linear models (stage kinds LINEAR and its f64 twin LINEAR_F64): `coef · x + intercept`,
//! the estimator of linear and logistic regressions. The stages themselves are
//! [`Stage::Linear`] and [`Stage::LinearF64`].
//!
//! [`Stage::Linear`]: crate::Stage::Linear
//! [`Stage::LinearF64`]: crate::Stage::LinearF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 5;

/// An affine map's fields as the record holds them, `T` its element type: a linear model's,
/// and a dense layer's but for its activation.
pub(crate) struct Fields<'a, T> {
    /// Input width.
    pub(crate) n_in: u32,
    /// Output width.
    pub(crate) n_out: u32,
    /// Row-major `n_out × n_in` coefficients (a dense layer's weights).
    pub(crate) coef: &'a [T],
    /// `n_out` intercepts (a dense layer's biases).
    pub(crate) intercept: &'a [T],
}

/// The LINEAR (`T` = f32) or LINEAR_F64 (`T` = f64) record after its kind word.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Fields<'a, T>, FormatError> {
    let (n_in, n_out) = read_dims(w)?;
    read_tensors(p, stage, w, n_in, n_out)
}

/// The `n_in` and `n_out` words that open a linear or a dense record (R22).
pub(crate) fn read_dims(w: &mut Words<'_>) -> Result<(u32, u32), FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    Ok((n_in, n_out))
}

/// The coefficient and intercept words that close a linear or a dense record (R23).
pub(crate) fn read_tensors<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
    n_in: u32,
    n_out: u32,
) -> Result<Fields<'a, T>, FormatError> {
    let coef = T::tensor(p, stage, w.next()?, u64::from(n_in) * u64::from(n_out))?;
    let intercept = T::tensor(p, stage, w.next()?, u64::from(n_out))?;
    Ok(Fields {
        n_in,
        n_out,
        coef,
        intercept,
    })
}

/// The LINEAR or LINEAR_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload<T: Element>(
    n_in: u32,
    n_out: u32,
    coef: &[T],
    intercept: &[T],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let [c, i] = queue_tensors(coef, intercept, tensors);
    vec![n_in, n_out, c, i]
}

/// Queues the coefficients and the intercepts of a linear or a dense record; returns their
/// section indices.
pub(crate) fn queue_tensors<T: Element>(
    coef: &[T],
    intercept: &[T],
    tensors: &mut Tensors,
) -> [u32; 2] {
    [T::queue(tensors, coef), T::queue(tensors, intercept)]
}
