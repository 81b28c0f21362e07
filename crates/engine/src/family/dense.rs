//! Dense layers (`Stage::Dense` in `f32`, `Stage::DenseF64` in `f64`): one or more of them
//! form an MLP estimator.

use crate::blocked::{self, Dot, Micro, Packed};
use crate::kernels::sigmoid_f32;
#[cfg(feature = "testing")]
use crate::kernels::sigmoid_ref;
use icebreak_format::{Activation, Stage};

/// Applies an activation in place.
#[inline]
pub fn activate_f32(x: &mut [f32], a: Activation) {
    match a {
        Activation::Identity => {}
        Activation::Relu => {
            for v in x.iter_mut() {
                *v = v.max(0.0);
            }
        }
        Activation::Tanh => {
            for v in x.iter_mut() {
                *v = v.tanh();
            }
        }
        Activation::Logistic => {
            for v in x.iter_mut() {
                *v = sigmoid_f32(*v);
            }
        }
    }
}

/// Applies an activation in place, in `f64` (the logistic is `1 / (1 + e^-z)`).
#[inline]
pub fn activate_f64(x: &mut [f64], a: Activation) {
    match a {
        Activation::Identity => {}
        Activation::Relu => {
            for v in x.iter_mut() {
                *v = v.max(0.0);
            }
        }
        Activation::Tanh => {
            for v in x.iter_mut() {
                *v = v.tanh();
            }
        }
        Activation::Logistic => {
            for v in x.iter_mut() {
                *v = 1.0 / (1.0 + (-*v).exp());
            }
        }
    }
}

/// One f64 dense layer: `out[j] = a(bias[j] + Σ_i weights[j · n_in + i] · x[i])`, the sum
/// taken in feature order from 0 (`Stage::DenseF64`).
#[inline]
pub fn dense_f64(x: &[f64], weights: &[f64], bias: &[f64], a: Activation, out: &mut [f64]) {
    crate::family::linear::dots_f64(x, weights, out);
    for (o, b) in out.iter_mut().zip(bias) {
        *o += *b;
    }
    activate_f64(out, a);
}

#[cfg(feature = "testing")]
/// Reference f64 dense layer: the obvious loop, in the order [`dense_f64`] promises.
pub fn dense_f64_ref(x: &[f64], weights: &[f64], bias: &[f64], a: Activation) -> Vec<f64> {
    let n_in = x.len();
    bias.iter()
        .enumerate()
        .map(|(j, &b)| {
            let row = &weights[j * n_in..(j + 1) * n_in];
            activate_ref(b + (0..n_in).fold(0.0, |s, i| s + x[i] * row[i]), a)
        })
        .collect()
}

/// The f64 dense layers of an MLP from `v[..w]`; the last layer's output ends in
/// `out[..n]`, `n` returned. `v` is overwritten between layers.
pub(crate) fn chain_f64(layers: &[Stage<'_>], v: &mut [f64], out: &mut [f64], w: usize) -> usize {
    let mut w = w;
    for (i, s) in layers.iter().enumerate() {
        if let Stage::DenseF64 {
            n_out,
            activation,
            weights,
            bias,
            ..
        } = *s
        {
            let no = n_out as usize;
            dense_f64(&v[..w], weights, bias, activation, &mut out[..no]);
            if i + 1 < layers.len() {
                v[..no].copy_from_slice(&out[..no]);
            }
            w = no;
        }
    }
    w
}

#[cfg(feature = "testing")]
/// Reference activation in f64.
pub fn activate_ref(z: f64, a: Activation) -> f64 {
    match a {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Logistic => sigmoid_ref(z),
    }
}

/// One dense layer: `out = a(weights · x + bias)` (the body of [`crate::simd::dense_f32`]):
/// four weight rows at a time, sharing the loads of `x`, each sum in the order of
/// [`crate::kernels::dot_f32_8acc`].
#[inline(always)]
pub(crate) fn dense_f32_body<M: Micro>(
    m: M,
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    a: Activation,
    out: &mut [f32],
) {
    blocked::row_all::<Dot, M>(m, x, &weights[..out.len() * x.len()], out);
    for (o, b) in out.iter_mut().zip(bias) {
        *o += *b;
    }
    activate_f32(out, a);
}

/// One dense layer over a batch (the body of [`crate::simd::dense_rows_f32`]): `x` holds
/// rows of `n_in` values; `out` gets `bias.len()` values per row, each bit for bit the
/// single-row layer's.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the batch shape, the layer's tensors and their packed copy
pub(crate) fn dense_rows_body<M: Micro>(
    m: M,
    x: &[f32],
    n_in: usize,
    weights: &[f32],
    bias: &[f32],
    a: Activation,
    out: &mut [f32],
    packed: Option<&Packed>,
) {
    let n_out = bias.len();
    blocked::rows_all::<Dot, M>(m, x, n_in, weights, n_out, out, packed);
    if n_out == 0 {
        return;
    }
    for row in out.chunks_exact_mut(n_out) {
        for (o, b) in row.iter_mut().zip(bias) {
            *o += *b;
        }
        activate_f32(row, a);
    }
}

/// The dense layers of an MLP over a batch: `x` holds rows of `w` values; the last layer's
/// outputs end in `out[..n_rows × width]` (its width returned; `out` may be longer). `tmp`
/// is work space.
pub(crate) fn chain_rows<'p>(
    layers: &[Stage<'_>],
    x: &[f32],
    w: usize,
    tmp: &mut Vec<f32>,
    out: &mut Vec<f32>,
    packed: impl Fn(&[f32]) -> Option<&'p Packed>,
) -> usize {
    let n_rows = x.len().checked_div(w).unwrap_or(0);
    let mut w = w;
    let mut first = true;
    for s in layers {
        if let Stage::Dense {
            n_out,
            activation,
            weights,
            bias,
            ..
        } = *s
        {
            let no = n_out as usize;
            if !first {
                std::mem::swap(tmp, out);
            }
            // Every output is written by the layer. The buffers only grow (a chunked batch
            // reuses them; shrinking one would make the next chunk zero it again).
            if out.len() < n_rows * no {
                out.resize(n_rows * no, 0.0);
            }
            let src: &[f32] = if first { x } else { &tmp[..n_rows * w] };
            crate::simd::dense_rows_f32(
                src,
                w,
                weights,
                bias,
                activation,
                &mut out[..n_rows * no],
                packed(weights),
            );
            first = false;
            w = no;
        }
    }
    w
}

#[cfg(feature = "testing")]
/// Reference dense layer in f64.
pub fn dense_ref(x: &[f64], weights: &[f32], bias: &[f32], a: Activation) -> Vec<f64> {
    let n_in = x.len();
    bias.iter()
        .enumerate()
        .map(|(j, &b)| {
            let row = &weights[j * n_in..(j + 1) * n_in];
            let z = f64::from(b)
                + x.iter()
                    .zip(row)
                    .map(|(&v, &w)| v * f64::from(w))
                    .sum::<f64>();
            activate_ref(z, a)
        })
        .collect()
}

/// The dense layers of an MLP from `a[..w]`; the last layer's output ends in `b`.
pub(crate) fn chain(layers: &[Stage<'_>], a: &mut [f32], b: &mut [f32], w: usize) {
    let mut w = w;
    for (i, s) in layers.iter().enumerate() {
        if let Stage::Dense {
            n_out,
            activation,
            weights,
            bias,
            ..
        } = *s
        {
            let no = n_out as usize;
            crate::simd::dense_f32(&a[..w], weights, bias, activation, &mut b[..no]);
            if i + 1 < layers.len() {
                a[..no].copy_from_slice(&b[..no]);
            }
            w = no;
        }
    }
}
