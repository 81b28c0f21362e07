//! Dense layers (stage kinds DENSE and its f64 twin DENSE_F64; one or more form an MLP
//! estimator): the activation, the reader's checks and the writer's record. The stages
//! themselves are [`Stage::Dense`] and [`Stage::DenseF64`].
//!
//! [`Stage::Dense`]: crate::Stage::Dense
//! [`Stage::DenseF64`]: crate::Stage::DenseF64

use crate::error::FormatError;
use crate::family::{linear, Element};
use crate::reader::{Parser, Words};
use crate::writer::Tensors;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 6;

/// The element-wise activation of a [`Stage::Dense`](crate::Stage::Dense) layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `a(z) = z`.
    Identity,
    /// `a(z) = max(z, 0)`.
    Relu,
    /// `a(z) = tanh(z)`.
    Tanh,
    /// `a(z) = 1 / (1 + e^-z)`.
    Logistic,
}

impl Activation {
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
            Activation::Logistic => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            0 => Some(Activation::Identity),
            1 => Some(Activation::Relu),
            2 => Some(Activation::Tanh),
            3 => Some(Activation::Logistic),
            _ => None,
        }
    }
}

/// The DENSE (`T` = f32) or DENSE_F64 (`T` = f64) record after its kind word: the record of
/// a linear model with the activation after its widths.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<(Activation, linear::Fields<'a, T>), FormatError> {
    let (n_in, n_out) = linear::read_dims(w)?;
    let code = w.next()?;
    let activation = Activation::from_code(code).ok_or(FormatError::UnknownValue {
        field: "dense.activation",
        value: code,
    })?;
    let fields = linear::read_tensors(p, stage, w, n_in, n_out)?;
    Ok((activation, fields))
}

/// The DENSE or DENSE_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload<T: Element>(
    n_in: u32,
    n_out: u32,
    activation: Activation,
    weights: &[T],
    bias: &[T],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let [w, b] = linear::queue_tensors(weights, bias, tensors);
    vec![n_in, n_out, activation.code(), w, b]
}
