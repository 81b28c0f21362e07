//! Dense layers (stage kinds DENSE and its f64 twin DENSE_F64; one or more form an MLP
//! estimator): the activation, the reader's checks and the writer's record. The stages
//! themselves are [`Stage::Dense`] and [`Stage::DenseF64`].
//!
//! [`Stage::Dense`]: crate::Stage::Dense
//! [`Stage::DenseF64`]: crate::Stage::DenseF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
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

/// A dense layer's fields as the record holds them, `T` its element type.
pub(crate) struct Fields<'a, T> {
    /// Input width.
    pub(crate) n_in: u32,
    /// Output width.
    pub(crate) n_out: u32,
    /// Activation.
    pub(crate) activation: Activation,
    /// Row-major `n_out × n_in` weights.
    pub(crate) weights: &'a [T],
    /// `n_out` biases.
    pub(crate) bias: &'a [T],
}

/// The DENSE (`T` = f32) or DENSE_F64 (`T` = f64) record after its kind word.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Fields<'a, T>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let code = w.next()?;
    let activation = Activation::from_code(code).ok_or(FormatError::UnknownValue {
        field: "dense.activation",
        value: code,
    })?;
    let weights = T::tensor(p, stage, w.next()?, u64::from(n_in) * u64::from(n_out))?;
    let bias = T::tensor(p, stage, w.next()?, u64::from(n_out))?;
    Ok(Fields {
        n_in,
        n_out,
        activation,
        weights,
        bias,
    })
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
    let w = T::queue(tensors, weights);
    let b = T::queue(tensors, bias);
    vec![n_in, n_out, activation.code(), w, b]
}
