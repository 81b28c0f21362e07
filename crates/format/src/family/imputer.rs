//! The imputer (stage kind IMPUTER, rule R30; scikit-learn's `SimpleImputer`, ONNX
//! `Imputer`). The stage itself is [`Stage::Imputer`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;

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
