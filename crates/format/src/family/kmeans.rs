//! k-means (stage kinds KMEANS and KMEANS_F64; scikit-learn's `KMeans`): distances to the
//! centres. The stages themselves are [`Stage::KMeans`] and [`Stage::KMeansF64`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;

/// The KMEANS record after its kind word.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let k = dim("k", w.next()?)?;
    let centers = p.f32_tensor(stage, w.next()?, n_in as u64 * k as u64)?;
    Ok(Stage::KMeans { n_in, k, centers })
}

/// The KMEANS record's payload after its kind word; queues its tensor.
pub(crate) fn payload(n_in: u32, k: u32, centers: &[f32], tensors: &mut Tensors) -> Vec<u32> {
    let c = tensors.f32(centers);
    vec![n_in, k, c]
}

/// The KMEANS_F64 record after its kind word: the same fields, an f64 tensor.
pub(crate) fn read_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let k = dim("k", w.next()?)?;
    let centers = p.typed_tensor(
        stage,
        w.next()?,
        Dtype::F64,
        Some(u64::from(n_in) * u64::from(k)),
    )?;
    Ok(Stage::KMeansF64 { n_in, k, centers })
}

/// The KMEANS_F64 record's payload after its kind word; queues its tensor.
pub(crate) fn payload_f64(n_in: u32, k: u32, centers: &[f64], tensors: &mut Tensors) -> Vec<u32> {
    let c = tensors.f64(centers);
    vec![n_in, k, c]
}
