//! PCA (stage kinds PCA and PCA_F64, rule R31; scikit-learn's `PCA.transform`). The stages
//! themselves are [`Stage::Pca`] and [`Stage::PcaF64`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::{Dtype, NONE};

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 6;

/// The PCA record after its kind word; R31.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let mean = p.f32_tensor(stage, w.next()?, n_in as u64)?;
    let components = p.f32_tensor(stage, w.next()?, n_in as u64 * n_out as u64)?;
    let whiten_ix = w.next()?;
    let whiten = if whiten_ix == NONE {
        None
    } else {
        let d = p.f32_tensor(stage, whiten_ix, n_out as u64)?;
        // R31 (skipped for a file verified at build time)
        let deep = p.deep();
        if let Some(i) = d
            .iter()
            .position(|v| !(v.is_finite() && *v > 0.0))
            .filter(|_| deep)
        {
            return Err(FormatError::BadPca {
                stage,
                index: i as u32,
            });
        }
        Some(d)
    };
    Ok(Stage::Pca {
        n_in,
        n_out,
        mean,
        components,
        whiten,
    })
}

/// The PCA record's payload after its kind word; queues its tensors.
pub(crate) fn payload(
    n_in: u32,
    n_out: u32,
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    tensors: &mut Tensors,
) -> Vec<u32> {
    let m = tensors.f32(mean);
    let c = tensors.f32(components);
    let w = whiten.map_or(NONE, |w| tensors.f32(w));
    vec![n_in, n_out, m, c, w]
}

/// The PCA_F64 record after its kind word: the same fields, f64 tensors; R31.
pub(crate) fn read_f64<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let (i, o) = (u64::from(n_in), u64::from(n_out));
    let mean = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(i))?;
    let components = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(i * o))?;
    let whiten_ix = w.next()?;
    let whiten = if whiten_ix == NONE {
        None
    } else {
        let d: &[f64] = p.typed_tensor(stage, whiten_ix, Dtype::F64, Some(o))?;
        // R31 (skipped for a file verified at build time)
        let deep = p.deep();
        if let Some(i) = d
            .iter()
            .position(|v| !(v.is_finite() && *v > 0.0))
            .filter(|_| deep)
        {
            return Err(FormatError::BadPca {
                stage,
                index: i as u32,
            });
        }
        Some(d)
    };
    Ok(Stage::PcaF64 {
        n_in,
        n_out,
        mean,
        components,
        whiten,
    })
}

/// The PCA_F64 record's payload after its kind word; queues its tensors.
pub(crate) fn payload_f64(
    n_in: u32,
    n_out: u32,
    mean: &[f64],
    components: &[f64],
    whiten: Option<&[f64]>,
    tensors: &mut Tensors,
) -> Vec<u32> {
    let m = tensors.f64(mean);
    let c = tensors.f64(components);
    let w = whiten.map_or(NONE, |w| tensors.f64(w));
    vec![n_in, n_out, m, c, w]
}
