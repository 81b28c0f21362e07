//! k-means (stage kind KMEANS; scikit-learn's `KMeans`): distances to the centres. The stage
//! itself is [`Stage::KMeans`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

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
