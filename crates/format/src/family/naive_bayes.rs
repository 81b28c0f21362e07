//! Gaussian naive Bayes (stage kind GAUSSIAN_NB, rule R33): the reader's checks, the writer's
//! record and the copy into an owned spec. The stage itself is [`Stage::GaussianNb`].

use crate::error::FormatError;
use crate::family::Stage;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 7;

/// The GAUSSIAN_NB record after its kind word; R33.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Stage<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_classes = dim("n_classes", w.next()?)?;
    let cells = u64::from(n_in) * u64::from(n_classes);
    let k = Some(u64::from(n_classes));
    let theta: &'a [f64] = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(cells))?;
    let var: &'a [f64] = p.typed_tensor(stage, w.next()?, Dtype::F64, Some(cells))?;
    let log_prior: &'a [f64] = p.typed_tensor(stage, w.next()?, Dtype::F64, k)?;
    let log_norm: &'a [f64] = p.typed_tensor(stage, w.next()?, Dtype::F64, k)?;
    let bad = |index: usize, reason| FormatError::BadNaiveBayes {
        stage,
        index: index as u32,
        reason,
    };
    // The value rules read every weight: skipped for a file verified at build time.
    if p.deep() {
        if let Some(i) = var.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(i, "variance is not finite and positive"));
        }
        for (reason, values) in [
            ("mean is not finite", theta),
            ("log prior is not finite", log_prior),
            ("normaliser is not finite", log_norm),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(i, reason));
            }
        }
    }
    Ok(Stage::GaussianNb {
        n_in,
        n_classes,
        theta,
        var,
        log_prior,
        log_norm,
    })
}

/// The GAUSSIAN_NB record's payload after its kind word; queues its tensors.
pub(crate) fn payload(
    n_in: u32,
    n_classes: u32,
    theta: &[f64],
    var: &[f64],
    log_prior: &[f64],
    log_norm: &[f64],
    tensors: &mut Tensors,
) -> Vec<u32> {
    let t = tensors.f64(theta);
    let v = tensors.f64(var);
    let p = tensors.f64(log_prior);
    let n = tensors.f64(log_norm);
    vec![n_in, n_classes, t, v, p, n]
}
