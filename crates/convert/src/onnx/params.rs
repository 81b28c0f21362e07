//! Reading estimator parameters: attribute lists checked for finiteness and size, weight
//! matrices and broadcast biases from constant tensors, class labels and post transforms.
//! Shared by every family recogniser.

use super::graph::{invalid, Node, Tensor};
use crate::ConvertError;
use icebreak_format::{limits, LabelsSpec, PostTransform, MAX_DIM};

/// Narrows `v` to f32, refusing a value that does not fit.
pub(super) fn f32_vec(v: &[f64], what: &dyn Fn() -> String) -> Result<Vec<f32>, ConvertError> {
    v.iter()
        .map(|&x| {
            let f = x as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(invalid(format!(
                    "{}: value {x} is not a finite f32",
                    what()
                )))
            }
        })
        .collect()
}

/// A dimension of a stage, in `1..=MAX_DIM` and at most [`limits::MAX_FEATURES`] (checked
/// before anything is sized from it).
pub(super) fn dim(what: &str, v: usize) -> Result<u32, ConvertError> {
    let max = limits::MAX_FEATURES.min(MAX_DIM as usize);
    u32::try_from(v)
        .ok()
        .filter(|&d| d >= 1 && d as usize <= max)
        .ok_or_else(|| invalid(format!("{what} is {v}, outside 1..={max}")))
}

/// Refuses more labels than [`limits::MAX_CLASSES`] or more label bytes than
/// [`limits::MAX_LABEL_BYTES`].
fn check_labels(node: &Node<'_>, l: &LabelsSpec) -> Result<(), ConvertError> {
    let limit = |e: limits::LimitError| node.err(format_args!("{e}"));
    limits::check(
        "the number of class labels",
        labels_len(l),
        limits::MAX_CLASSES,
    )
    .map_err(limit)?;
    if let LabelsSpec::Str(v) = l {
        let bytes = v.iter().fold(0usize, |a, s| a.saturating_add(s.len()));
        limits::check(
            "the bytes of the class labels",
            bytes,
            limits::MAX_LABEL_BYTES,
        )
        .map_err(limit)?;
    }
    Ok(())
}

pub(crate) fn labels_len(l: &LabelsSpec) -> usize {
    match l {
        LabelsSpec::None => 0,
        LabelsSpec::Int(v) => v.len(),
        LabelsSpec::Str(v) => v.len(),
    }
}

/// Class labels from an int list or a string list attribute (exactly one).
pub(crate) fn class_labels(
    node: &Node<'_>,
    ints: &str,
    strings: &str,
) -> Result<LabelsSpec, ConvertError> {
    let labels = match (node.ints(ints)?, node.strings(strings)?) {
        (Some(i), None) => LabelsSpec::Int(i.to_vec()),
        (None, Some(s)) => LabelsSpec::Str(s),
        (Some(_), Some(_)) => {
            return Err(node.err(format_args!("both {ints:?} and {strings:?} are given")))
        }
        (None, None) => {
            return Err(node.err(format_args!("neither {ints:?} nor {strings:?} is given")))
        }
    };
    check_labels(node, &labels)?;
    Ok(labels)
}

/// Refuses a non-finite value in attribute `name`.
pub(super) fn finite(node: &Node<'_>, name: &str, v: &[f32]) -> Result<(), ConvertError> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(node.err(format_args!(
            "attribute {name:?} holds a non-finite value ({}) at {i}",
            v[i]
        ))),
    }
}

/// `post_transform`: `NONE`, `LOGISTIC` or `SOFTMAX`.
pub(crate) fn post_transform(node: &Node<'_>) -> Result<Option<PostTransform>, ConvertError> {
    match node.string("post_transform")?.as_deref() {
        None | Some("NONE") => Ok(None),
        Some("LOGISTIC") => Ok(Some(PostTransform::Logistic)),
        Some("SOFTMAX") => Ok(Some(PostTransform::Softmax)),
        Some(other) => Err(node.err(format_args!(
            "attribute \"post_transform\" {other:?} is not supported (NONE, LOGISTIC and \
             SOFTMAX are)"
        ))),
    }
}

/// `post_transform` must be absent or `NONE`.
pub(super) fn post_none(node: &Node<'_>) -> Result<(), ConvertError> {
    match node.string("post_transform")?.as_deref() {
        None | Some("NONE") => Ok(()),
        Some(other) => Err(node.err(format_args!(
            "attribute \"post_transform\" {other:?} is not supported (NONE is)"
        ))),
    }
}

/// A weight matrix `[n_in, n_out]` (or `[n_out, n_in]` with `trans`), returned as
/// `n_out × n_in` row-major.
pub(super) fn weights(
    node: &Node<'_>,
    w: &Tensor,
    n_in: usize,
    trans: bool,
) -> Result<(usize, Vec<f64>), ConvertError> {
    let v = w
        .floats()
        .ok_or_else(|| node.err("the weights are not a float tensor"))?;
    let [r, c] = w.dims.as_slice() else {
        return Err(node.err(format_args!("the weights have shape {:?}, not 2-D", w.dims)));
    };
    let (rows, cols) = (*r, *c);
    let (k, n_out) = if trans { (cols, rows) } else { (rows, cols) };
    if k != n_in || n_out == 0 {
        return Err(node.err(format_args!(
            "weights of shape {:?} do not fit {n_in} input columns",
            w.dims
        )));
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the weights hold a non-finite value ({x})")));
    }
    let mut out = vec![0.0; n_out * n_in];
    for o in 0..n_out {
        for i in 0..n_in {
            out[o * n_in + i] = if trans {
                v[o * cols + i]
            } else {
                v[i * cols + o]
            };
        }
    }
    Ok((n_out, out))
}

/// A bias of `n` values: shape `[n]`, `[1, n]`, or a scalar broadcast.
pub(super) fn bias(node: &Node<'_>, c: &Tensor, n: usize) -> Result<Vec<f64>, ConvertError> {
    let v = c
        .floats()
        .ok_or_else(|| node.err("the constant is not a float tensor"))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the constant holds a non-finite value ({x})")));
    }
    let shape_ok = match c.dims.as_slice() {
        [] => true,
        [m] => *m == n || *m == 1,
        [1, m] => *m == n || *m == 1,
        _ => false,
    };
    if !shape_ok {
        return Err(node.err(format_args!(
            "a constant of shape {:?} does not broadcast over {n} columns",
            c.dims
        )));
    }
    Ok(if v.len() == 1 {
        vec![v[0]; n]
    } else {
        v.to_vec()
    })
}
