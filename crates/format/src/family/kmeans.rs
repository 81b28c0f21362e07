//! k-means (stage kinds KMEANS and its f64 twin KMEANS_F64; scikit-learn's `KMeans`):
//! distances to the centres. The stages themselves are [`Stage::KMeans`] and
//! [`Stage::KMeansF64`].
//!
//! [`Stage::KMeans`]: crate::Stage::KMeans
//! [`Stage::KMeansF64`]: crate::Stage::KMeansF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 4;

/// The KMEANS (`T` = f32) or KMEANS_F64 (`T` = f64) record after its kind word:
/// `(n_in, k, centers)`.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<(u32, u32, &'a [T]), FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let k = dim("k", w.next()?)?;
    let centers = T::tensor(p, stage, w.next()?, u64::from(n_in) * u64::from(k))?;
    Ok((n_in, k, centers))
}

/// The KMEANS or KMEANS_F64 record's payload after its kind word; queues its tensor.
pub(crate) fn payload<T: Element>(
    n_in: u32,
    k: u32,
    centers: &[T],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let c = T::queue(tensors, centers);
    vec![n_in, k, c]
}
