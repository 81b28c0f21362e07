//! Post transforms (stage kind POST): what turns an estimator's scores into probabilities or
//! a link's values. The pipeline rules on them (R25, R27) are in the generic pipeline check.

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::Words;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 2;

/// Post-processing applied to the estimator's raw scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    /// Element-wise logistic sigmoid `1 / (1 + e^-z)`.
    Logistic,
    /// One score `z` becomes two probabilities `[1 - s(z), s(z)]` (binary classifiers).
    BinaryLogistic,
    /// `e^z_i / sum_j e^z_j` (multinomial classifiers).
    Softmax,
    /// Sigmoid of each score, then divided by their sum (scikit-learn's one-vs-rest).
    OvrNormalize,
    /// `e^z`, element-wise (log-link regressions: Poisson, gamma, Tweedie).
    Exp,
    /// The scores already are class probabilities (e.g. a random forest's averaged leaf
    /// distributions); they are reported as they are.
    Probabilities,
}

impl PostTransform {
    pub(crate) fn code(self) -> u32 {
        match self {
            PostTransform::Logistic => 1,
            PostTransform::BinaryLogistic => 2,
            PostTransform::Softmax => 3,
            PostTransform::OvrNormalize => 4,
            PostTransform::Exp => 5,
            PostTransform::Probabilities => 6,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(PostTransform::Logistic),
            2 => Some(PostTransform::BinaryLogistic),
            3 => Some(PostTransform::Softmax),
            4 => Some(PostTransform::OvrNormalize),
            5 => Some(PostTransform::Exp),
            6 => Some(PostTransform::Probabilities),
            _ => None,
        }
    }
}

/// The POST record after its kind word.
pub(crate) fn read<'a>(w: &mut Words<'_>) -> Result<Stage<'a>, FormatError> {
    let code = w.next()?;
    let post = PostTransform::from_code(code).ok_or(FormatError::UnknownValue {
        field: "post_transform",
        value: code,
    })?;
    Ok(Stage::Post(post))
}
