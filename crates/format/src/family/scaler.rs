//! Element-wise scalers (stage kinds STANDARD_SCALER, MIN_MAX_SCALER and their f64 twins
//! STANDARD_SCALER_F64 and MIN_MAX_SCALER_F64): the reader's checks and the writer's records,
//! one of each for the four kinds. The stages themselves are [`Stage::StandardScaler`],
//! [`Stage::MinMaxScaler`], [`Stage::StandardScalerF64`] and [`Stage::MinMaxScalerF64`].
//!
//! [`Stage::StandardScaler`]: crate::Stage::StandardScaler
//! [`Stage::MinMaxScaler`]: crate::Stage::MinMaxScaler
//! [`Stage::StandardScalerF64`]: crate::Stage::StandardScalerF64
//! [`Stage::MinMaxScalerF64`]: crate::Stage::MinMaxScalerF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

/// Words of any of the records, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;

/// Any scaler record after its kind word, `T` its element type: `width`, then two tensors of
/// `width` values (`mean` and `scale` for a standard scaler, `scale` and `min` for a min-max
/// scaler), returned in that order.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<(&'a [T], &'a [T]), FormatError> {
    let width = u64::from(dim("width", w.next()?)?);
    let first = T::tensor(p, stage, w.next()?, width)?;
    let second = T::tensor(p, stage, w.next()?, width)?;
    Ok((first, second))
}

/// Any scaler record's payload after its kind word: the width and two per-feature tensors.
pub(crate) fn payload<T: Element>(first: &[T], second: &[T], tensors: &mut Tensors) -> Vec<u32> {
    let a = T::queue(tensors, first);
    let b = T::queue(tensors, second);
    vec![first.len() as u32, a, b]
}
