//! PCA (stage kinds PCA and its f64 twin PCA_F64, rule R31; scikit-learn's `PCA.transform`).
//! The stages themselves are [`Stage::Pca`] and [`Stage::PcaF64`].
//!
//! [`Stage::Pca`]: crate::Stage::Pca
//! [`Stage::PcaF64`]: crate::Stage::PcaF64

use crate::error::FormatError;
use crate::family::Element;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::NONE;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 6;

/// A PCA's fields as the record holds them, `T` its element type.
pub(crate) struct Fields<'a, T> {
    /// Input width.
    pub(crate) n_in: u32,
    /// Number of components.
    pub(crate) n_out: u32,
    /// Per-feature mean.
    pub(crate) mean: &'a [T],
    /// Row-major `n_out × n_in` components.
    pub(crate) components: &'a [T],
    /// Per-component divisor, when the PCA whitens.
    pub(crate) whiten: Option<&'a [T]>,
}

/// The PCA (`T` = f32) or PCA_F64 (`T` = f64) record after its kind word; R31.
pub(crate) fn read<'a, T: Element>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Fields<'a, T>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let (i, o) = (u64::from(n_in), u64::from(n_out));
    let mean = T::tensor(p, stage, w.next()?, i)?;
    let components = T::tensor(p, stage, w.next()?, i * o)?;
    let whiten_ix = w.next()?;
    let whiten = if whiten_ix == NONE {
        None
    } else {
        let d = T::tensor(p, stage, whiten_ix, o)?;
        // R31 (skipped for a file verified at build time)
        let deep = p.deep();
        if let Some(i) = d
            .iter()
            .position(|&v| !(v.is_finite() && v > T::ZERO))
            .filter(|_| deep)
        {
            return Err(FormatError::BadPca {
                stage,
                index: i as u32,
            });
        }
        Some(d)
    };
    Ok(Fields {
        n_in,
        n_out,
        mean,
        components,
        whiten,
    })
}

/// The PCA or PCA_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload<T: Element>(
    n_in: u32,
    n_out: u32,
    mean: &[T],
    components: &[T],
    whiten: Option<&[T]>,
    tensors: &mut Tensors,
) -> Vec<u32> {
    let m = T::queue(tensors, mean);
    let c = T::queue(tensors, components);
    let w = whiten.map_or(NONE, |w| T::queue(tensors, w));
    vec![n_in, n_out, m, c, w]
}
