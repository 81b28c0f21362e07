//! Linear models (stage kinds LINEAR and LINEAR_F64): `coef · x + intercept`, the estimator
//! of linear and logistic regressions. The stages themselves are [`Stage::Linear`] and
//! [`Stage::LinearF64`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 5;

/// The LINEAR record after its kind word.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let coef = p.f32_tensor(stage, w.next()?, n_in as u64 * n_out as u64)?;
    let intercept = p.f32_tensor(stage, w.next()?, n_out as u64)?;
    Ok(Stage::Linear {
        n_in,
        n_out,
        coef,
        intercept,
    })
}

/// The LINEAR record's payload after its kind word; queues its tensors.
pub(crate) fn payload(
    n_in: u32,
    n_out: u32,
    coef: &[f32],
    intercept: &[f32],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let c = tensors.f32(coef);
    let i = tensors.f32(intercept);
    vec![n_in, n_out, c, i]
}

/// The LINEAR_F64 record after its kind word: the same fields, f64 tensors.
pub(crate) fn read_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let coef = p.typed_tensor(
        stage,
        w.next()?,
        Dtype::F64,
        Some(u64::from(n_in) * u64::from(n_out)),
    )?;
    let intercept = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(u64::from(n_out)))?;
    Ok(Stage::LinearF64 {
        n_in,
        n_out,
        coef,
        intercept,
    })
}

/// The LINEAR_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload_f64(
    n_in: u32,
    n_out: u32,
    coef: &[f64],
    intercept: &[f64],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let c = tensors.f64(coef);
    let i = tensors.f64(intercept);
    vec![n_in, n_out, c, i]
}
