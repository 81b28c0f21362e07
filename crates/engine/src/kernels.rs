//! Fast kernels (f32, written so the compiler vectorises them) and their plain reference
//! versions (f64, obvious loops). Every fast kernel is property-tested against its reference.

/// Dot product with eight independent accumulators, so the loop vectorises and pipelines.
#[inline]
pub fn dot_f32_8acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    let s0 = (acc[0] + acc[4]) + (acc[1] + acc[5]);
    let s1 = (acc[2] + acc[6]) + (acc[3] + acc[7]);
    (s0 + s1) + tail
}

/// Four dot products of four rows against one weight vector, sharing the weight loads
/// (the batch path). Rows must all have the weight vector's length.
#[inline]
pub fn dot4_f32(rows: [&[f32]; 4], w: &[f32]) -> [f32; 4] {
    let n = w.len();
    let [r0, r1, r2, r3] = rows;
    let (r0, r1, r2, r3) = (&r0[..n], &r1[..n], &r2[..n], &r3[..n]);
    let mut acc = [[0.0f32; 8]; 4];
    let chunks = n / 8;
    for c in 0..chunks {
        let o = c * 8;
        let wc = &w[o..o + 8];
        for (r, row) in [r0, r1, r2, r3].iter().enumerate() {
            let xc = &row[o..o + 8];
            for k in 0..8 {
                acc[r][k] += xc[k] * wc[k];
            }
        }
    }
    let mut out = [0.0f32; 4];
    for (r, row) in [r0, r1, r2, r3].iter().enumerate() {
        let a = &acc[r];
        let mut tail = 0.0f32;
        for i in chunks * 8..n {
            tail += row[i] * w[i];
        }
        out[r] = (((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))) + tail;
    }
    out
}

/// Reference dot product in f64.
pub fn dot_ref(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// `out[j] = intercept[j] + coef[j] · x` for every output row `j` (single-row path).
#[inline]
pub fn linear_f32(x: &[f32], coef: &[f32], intercept: &[f32], out: &mut [f32]) {
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let w = &coef[j * n_in..(j + 1) * n_in];
        *o = intercept[j] + dot_f32_8acc(x, w);
    }
}

/// Reference linear layer in f64.
pub fn linear_ref(x: &[f32], coef: &[f32], intercept: &[f32]) -> Vec<f64> {
    let n_in = x.len();
    intercept
        .iter()
        .enumerate()
        .map(|(j, &b)| b as f64 + dot_ref(x, &coef[j * n_in..(j + 1) * n_in]))
        .collect()
}

/// `(x - mean) / scale`, in place.
#[inline]
pub fn standard_scale_f32(x: &mut [f32], mean: &[f32], scale: &[f32]) {
    for ((v, m), s) in x.iter_mut().zip(mean).zip(scale) {
        *v = (*v - m) / s;
    }
}

/// Reference scaler in f64.
pub fn standard_scale_ref(x: &[f64], mean: &[f32], scale: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(mean)
        .zip(scale)
        .map(|((&v, &m), &s)| (v - m as f64) / s as f64)
        .collect()
}

/// Logistic sigmoid, stable for large |z|.
#[inline]
pub fn sigmoid_f32(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Reference sigmoid in f64.
pub fn sigmoid_ref(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Softmax in place, max-subtracted.
#[inline]
pub fn softmax_f32(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Reference softmax in f64.
pub fn softmax_ref(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `ln(sigmoid(z))`, accurate for any finite `z`.
#[inline]
fn log_sigmoid_f32(z: f32) -> f32 {
    if z >= 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

/// One-vs-rest: sigmoid of each score, divided by their sum (scikit-learn's convention).
///
/// Computed in the log domain (`ln sigmoid`, then a max-subtracted softmax) so that rows
/// whose scores are all very negative — where every sigmoid underflows in f32 — still get a
/// proper distribution, as scikit-learn's float64 arithmetic gives them.
#[inline]
pub fn ovr_normalize_f32(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = log_sigmoid_f32(*v);
    }
    softmax_f32(x);
}

/// Reference one-vs-rest normalisation in f64.
pub fn ovr_normalize_ref(x: &[f64]) -> Vec<f64> {
    let s: Vec<f64> = x.iter().map(|&v| sigmoid_ref(v)).collect();
    let sum: f64 = s.iter().sum();
    s.iter()
        .map(|v| if sum > 0.0 { v / sum } else { *v })
        .collect()
}

/// Index of the first maximum (scikit-learn's `argmax`); NaN never wins.
#[inline]
pub fn argmax_f32(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Whether any value is NaN or infinite (an exponent of all ones marks both).
///
/// Branch-free over 8-wide chunks, so it vectorises: a row check can run it first and look
/// for the offending index only when it returns true. (A scan that tests `is_nan` /
/// `is_infinite` element by element, returning at the first bad one, does not vectorise and
/// costs several times the whole linear layer on a 784-feature row.)
#[inline]
pub fn any_non_finite_f32(x: &[f32]) -> bool {
    const EXP: u32 = 0x7f80_0000;
    let mut chunks = x.chunks_exact(8);
    let mut acc = [false; 8];
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] |= c[k].to_bits() & EXP == EXP;
        }
    }
    let tail = chunks.remainder().iter().any(|v| v.to_bits() & EXP == EXP);
    acc.iter().any(|&b| b) || tail
}

/// `out[i] = (x[i] - mean[i]) / scale[i]`: [`standard_scale_f32`] reading the row and writing
/// the scratch in one pass, which saves copying the row first. Same arithmetic, same bits.
#[inline]
pub fn standard_scale_into_f32(x: &[f32], mean: &[f32], scale: &[f32], out: &mut [f32]) {
    for ((o, v), (m, s)) in out.iter_mut().zip(x).zip(mean.iter().zip(scale)) {
        *o = (*v - m) / s;
    }
}

/// Whether any value is NaN or has a magnitude above `limit` (infinities included).
///
/// Branch-free over 8-wide chunks so that it vectorises, like [`any_non_finite_f32`]; the
/// caller looks for the offending index only when it returns true.
#[inline]
pub fn any_beyond_f64(x: &[f64], limit: f64) -> bool {
    let mut chunks = x.chunks_exact(8);
    let mut acc = [false; 8];
    for c in &mut chunks {
        for k in 0..8 {
            // `!(a <= b)` is true for NaN.
            acc[k] |= !(c[k].abs() <= limit);
        }
    }
    let tail = chunks.remainder().iter().any(|v| !(v.abs() <= limit));
    acc.iter().any(|&b| b) || tail
}
