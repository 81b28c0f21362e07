//! Element-wise scalers (stage kinds STANDARD_SCALER, STANDARD_SCALER_F64, MIN_MAX_SCALER
//! and MIN_MAX_SCALER_F64): the reader's checks
//! and the writer's records. The stages themselves are [`Stage::StandardScaler`] and
//! [`Stage::MinMaxScaler`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of either record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;

/// The STANDARD_SCALER record after its kind word.
pub(crate) fn read_standard<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = dim("width", w.next()?)?;
    let mean = p.f32_tensor(stage, w.next()?, width as u64)?;
    let scale = p.f32_tensor(stage, w.next()?, width as u64)?;
    Ok(Stage::StandardScaler { mean, scale })
}

/// The STANDARD_SCALER_F64 record after its kind word: f64 `mean` and `scale`.
pub(crate) fn read_standard_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = u64::from(dim("width", w.next()?)?);
    let mean = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(width))?;
    let scale = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(width))?;
    Ok(Stage::StandardScalerF64 { mean, scale })
}

/// The MIN_MAX_SCALER_F64 record after its kind word: f64 `scale` and `min`.
pub(crate) fn read_min_max_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = u64::from(dim("width", w.next()?)?);
    let scale = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(width))?;
    let min = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(width))?;
    Ok(Stage::MinMaxScalerF64 { scale, min })
}

/// The MIN_MAX_SCALER record after its kind word.
pub(crate) fn read_min_max<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = dim("width", w.next()?)?;
    let scale = p.f32_tensor(stage, w.next()?, width as u64)?;
    let min = p.f32_tensor(stage, w.next()?, width as u64)?;
    Ok(Stage::MinMaxScaler { scale, min })
}

/// The STANDARD_SCALER_F64 or MIN_MAX_SCALER_F64 payload after its kind word: the width and
/// two f64 tensors.
pub(crate) fn payload_f64(mean: &[f64], scale: &[f64], tensors: &mut Tensors) -> Vec<u32> {
    let a = tensors.f64(mean);
    let b = tensors.f64(scale);
    vec![mean.len() as u32, a, b]
}

/// Either record's payload after its kind word: the width and two per-feature tensors.
pub(crate) fn payload(first: &[f32], second: &[f32], tensors: &mut Tensors) -> Vec<u32> {
    let a = tensors.f32(first);
    let b = tensors.f32(second);
    vec![first.len() as u32, a, b]
}
