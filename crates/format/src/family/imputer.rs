//! The imputer (stage kinds IMPUTER and its f64 twin IMPUTER_F64, rule R30; scikit-learn's
//! `SimpleImputer`, ONNX `Imputer`). The stages themselves are [`Stage::Imputer`] and
//! [`Stage::ImputerF64`].
//!
//! [`Stage::Imputer`]: crate::Stage::Imputer
//! [`Stage::ImputerF64`]: crate::Stage::ImputerF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the IMPUTER record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;
/// Words of the IMPUTER_F64 record (the marker takes two words).
pub(crate) const RECORD_LEN_F64: u32 = 5;

/// The IMPUTER (`T` = f32) or IMPUTER_F64 (`T` = f64) record after its kind word: `width`,
/// the marker (one word, or two low word first), the fill tensor; R30. Returns
/// `(missing, fill)`.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<(T, &'a [T]), FormatError> {
    let width = dim("width", w.next()?)?;
    let missing = T::read_word(w)?;
    let fill = T::tensor(p, stage, w.next()?, u64::from(width))?;
    // R30: an f64 marker that is an infinity could never be told from a value the engine
    // refuses (the f32 record, older, never had the rule).
    if T::DTYPE == Dtype::F64 && missing.is_infinite() {
        return Err(FormatError::BadImputer { stage, index: 0 });
    }
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
    Ok((missing, fill))
}

/// The IMPUTER or IMPUTER_F64 record's payload after its kind word; queues its tensor.
pub(crate) fn payload<T: Element>(missing: T, fill: &[T], tensors: &mut Tensors) -> Vec<u32> {
    let f = T::queue(tensors, fill);
    let mut words = vec![fill.len() as u32];
    missing.push_words(&mut words);
    words.push(f);
    words
}
