//! The imputer (stage kinds IMPUTER and IMPUTER_F64, rule R30; scikit-learn's
//! `SimpleImputer`, ONNX `Imputer`). The stages themselves are [`Stage::Imputer`] and
//! [`Stage::ImputerF64`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;
/// Words of the IMPUTER_F64 record (the marker takes two words).
pub(crate) const RECORD_LEN_F64: u32 = 5;

/// The IMPUTER record after its kind word; R30.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = dim("width", w.next()?)?;
    let missing = f32::from_bits(w.next()?);
    let fill = p.f32_tensor(stage, w.next()?, width as u64)?;
    // R30 (read every value: skipped for a file verified at build time)
    if let Some(i) = fill
        .iter()
        .position(|v| !v.is_finite())
        .filter(|_| p.deep())
    {
        return Err(FormatError::BadImputer {
            stage,
            index: i as u32,
        });
    }
    Ok(Stage::Imputer { missing, fill })
}

/// The IMPUTER record's payload after its kind word; queues its tensor.
pub(crate) fn payload(missing: f32, fill: &[f32], tensors: &mut Tensors) -> Vec<u32> {
    let f = tensors.f32(fill);
    vec![fill.len() as u32, missing.to_bits(), f]
}

/// The IMPUTER_F64 record after its kind word: `width`, the f64 marker (low word first), an
/// f64 fill tensor; R30.
pub(crate) fn read_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let width = dim("width", w.next()?)?;
    let missing = f64::from_bits(u64::from(w.next()?) | (u64::from(w.next()?) << 32));
    let fill: &'a [f64] = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(u64::from(width)))?;
    // R30: a marker that is an infinity could never be told from a value the engine refuses.
    if missing.is_infinite() {
        return Err(FormatError::BadImputer { stage, index: 0 });
    }
    if let Some(i) = fill
        .iter()
        .position(|v| !v.is_finite())
        .filter(|_| p.deep())
    {
        return Err(FormatError::BadImputer {
            stage,
            index: i as u32,
        });
    }
    Ok(Stage::ImputerF64 { missing, fill })
}

/// The IMPUTER_F64 record's payload after its kind word; queues its tensor.
pub(crate) fn payload_f64(missing: f64, fill: &[f64], tensors: &mut Tensors) -> Vec<u32> {
    let f = tensors.f64(fill);
    let m = missing.to_bits();
    vec![fill.len() as u32, m as u32, (m >> 32) as u32, f]
}
