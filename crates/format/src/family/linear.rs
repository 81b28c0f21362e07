//! Linear models (stage kind LINEAR): `coef · x + intercept`, the estimator of linear and
//! logistic regressions. The stage itself is [`Stage::Linear`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

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
