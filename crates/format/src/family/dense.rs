//! Dense layers (stage kinds DENSE and DENSE_F64; one or more form an MLP estimator): the
//! activation, the reader's checks and the writer's record. The stages themselves are
//! [`Stage::Dense`] and [`Stage::DenseF64`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 6;

/// The element-wise activation of a [`Stage::Dense`] layer.
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

/// The DENSE record after its kind word.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let code = w.next()?;
    let activation = Activation::from_code(code).ok_or(FormatError::UnknownValue {
        field: "dense.activation",
        value: code,
    })?;
    let weights = p.f32_tensor(stage, w.next()?, n_in as u64 * n_out as u64)?;
    let bias = p.f32_tensor(stage, w.next()?, n_out as u64)?;
    Ok(Stage::Dense {
        n_in,
        n_out,
        activation,
        weights,
        bias,
    })
}

/// The DENSE record's payload after its kind word; queues its tensors.
pub(crate) fn payload(
    n_in: u32,
    n_out: u32,
    activation: Activation,
    weights: &[f32],
    bias: &[f32],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let w = tensors.f32(weights);
    let b = tensors.f32(bias);
    vec![n_in, n_out, activation.code(), w, b]
}

/// The DENSE_F64 record after its kind word: the same fields, f64 tensors.
pub(crate) fn read_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let code = w.next()?;
    let activation = Activation::from_code(code).ok_or(FormatError::UnknownValue {
        field: "dense.activation",
        value: code,
    })?;
    let weights = p.typed_tensor(
        stage,
        w.next()?,
        Dtype::F64,
        Some(u64::from(n_in) * u64::from(n_out)),
    )?;
    let bias = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(u64::from(n_out)))?;
    Ok(Stage::DenseF64 {
        n_in,
        n_out,
        activation,
        weights,
        bias,
    })
}

/// The DENSE_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload_f64(
    n_in: u32,
    n_out: u32,
    activation: Activation,
    weights: &[f64],
    bias: &[f64],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let w = tensors.f64(weights);
    let b = tensors.f64(bias);
    vec![n_in, n_out, activation.code(), w, b]
}
