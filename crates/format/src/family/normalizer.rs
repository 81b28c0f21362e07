//! The row normalizer (stage kind NORMALIZER, scikit-learn's `Normalizer`): its norm, the
//! reader's checks and the writer's record. The stage itself is [`Stage::Normalizer`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Words};

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 3;

/// The norm a [`Stage::Normalizer`] divides each row by (scikit-learn's `Normalizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// `Σ |x_i|`.
    L1,
    /// `sqrt(Σ x_i²)`.
    L2,
    /// `max |x_i|`.
    Max,
}

impl Norm {
    pub(crate) fn code(self) -> u32 {
        match self {
            Norm::L1 => 1,
            Norm::L2 => 2,
            Norm::Max => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(Norm::L1),
            2 => Some(Norm::L2),
            3 => Some(Norm::Max),
            _ => None,
        }
    }
}

/// The NORMALIZER record after its kind word.
pub(crate) fn read<'a>(w: &mut Words<'_>) -> Result<Stage<'a>, FormatError> {
    let width = dim("width", w.next()?)?;
    let code = w.next()?;
    let norm = Norm::from_code(code).ok_or(FormatError::UnknownValue {
        field: "normalizer.norm",
        value: code,
    })?;
    Ok(Stage::Normalizer { width, norm })
}

/// The NORMALIZER record's payload after its kind word.
pub(crate) fn payload(width: u32, norm: Norm) -> Vec<u32> {
    vec![width, norm.code()]
}
