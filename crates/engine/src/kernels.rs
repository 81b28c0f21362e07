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
// `!(a <= b)` is meant: it is true for NaN, which `a > b` is not.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
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

// ---------------------------------------------------------------------------------------------
// Preprocessors beyond the standard scaler.

/// `x * scale + min`, in place (scikit-learn's `MinMaxScaler.transform`, same order).
#[inline]
pub fn min_max_scale_f32(x: &mut [f32], scale: &[f32], min: &[f32]) {
    for ((v, s), m) in x.iter_mut().zip(scale).zip(min) {
        *v = *v * s + m;
    }
}

/// Reference min-max scaler in f64.
pub fn min_max_scale_ref(x: &[f64], scale: &[f32], min: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(scale)
        .zip(min)
        .map(|((&v, &s), &m)| v * f64::from(s) + f64::from(m))
        .collect()
}

/// Sum of `|x_i|`, eight lanes at a time.
#[inline]
fn sum_abs_f32(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut c = x.chunks_exact(8);
    for ch in &mut c {
        for k in 0..8 {
            acc[k] += ch[k].abs();
        }
    }
    let tail: f32 = c.remainder().iter().map(|v| v.abs()).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// The norm of a row (`0` for an all-zero row).
#[inline]
pub fn norm_f32(x: &[f32], norm: icebreak_format::Norm) -> f32 {
    use icebreak_format::Norm;
    match norm {
        Norm::L1 => sum_abs_f32(x),
        Norm::L2 => dot_f32_8acc(x, x).sqrt(),
        Norm::Max => x.iter().fold(0.0f32, |m, v| m.max(v.abs())),
    }
}

/// Divides the row by its norm, in place; a row of norm 0 is left as it is (scikit-learn's
/// `Normalizer`, which replaces a zero norm by 1).
#[inline]
pub fn normalize_f32(x: &mut [f32], norm: icebreak_format::Norm) {
    let n = norm_f32(x, norm);
    if n != 0.0 {
        for v in x.iter_mut() {
            *v /= n;
        }
    }
}

/// Reference normalizer in f64.
pub fn normalize_ref(x: &[f64], norm: icebreak_format::Norm) -> Vec<f64> {
    use icebreak_format::Norm;
    let n = match norm {
        Norm::L1 => x.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => x.iter().map(|v| v * v).sum::<f64>().sqrt(),
        Norm::Max => x.iter().fold(0.0f64, |m, v| m.max(v.abs())),
    };
    let n = if n == 0.0 { 1.0 } else { n };
    x.iter().map(|v| v / n).collect()
}

/// Replaces missing entries (NaN when `missing` is NaN, else entries equal to `missing`) by
/// the feature's fill value, in place.
#[inline]
pub fn impute_f32(x: &mut [f32], missing: f32, fill: &[f32]) {
    if missing.is_nan() {
        for (v, f) in x.iter_mut().zip(fill) {
            if v.is_nan() {
                *v = *f;
            }
        }
    } else {
        for (v, f) in x.iter_mut().zip(fill) {
            if *v == missing {
                *v = *f;
            }
        }
    }
}

/// Reference imputer in f64 (compares the row's value rounded to f32 with the marker, as
/// the engine sees it).
pub fn impute_ref(x: &[f64], missing: f32, fill: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(fill)
        .map(|(&v, &f)| {
            let is_missing = if missing.is_nan() {
                v.is_nan()
            } else {
                v as f32 == missing
            };
            if is_missing {
                f64::from(f)
            } else {
                v
            }
        })
        .collect()
}

/// PCA: `out_j = ((x - mean) · components_j) / whiten_j`. `x` is centred in place first.
#[inline]
pub fn pca_f32(
    x: &mut [f32],
    mean: &[f32],
    components: &[f32],
    whiten: Option<&[f32]>,
    out: &mut [f32],
) {
    for (v, m) in x.iter_mut().zip(mean) {
        *v -= m;
    }
    let n_in = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        *o = dot_f32_8acc(x, &components[j * n_in..(j + 1) * n_in]);
    }
    if let Some(w) = whiten {
        for (o, d) in out.iter_mut().zip(w) {
            *o /= d;
        }
    }
}

/// Reference PCA in f64.
pub fn pca_ref(x: &[f64], mean: &[f32], components: &[f32], whiten: Option<&[f32]>) -> Vec<f64> {
    let n_in = x.len();
    let c: Vec<f64> = x
        .iter()
        .zip(mean)
        .map(|(&v, &m)| v - f64::from(m))
        .collect();
    (0..components.len() / n_in.max(1))
        .map(|j| {
            let row = &components[j * n_in..(j + 1) * n_in];
            let d: f64 = c.iter().zip(row).map(|(&v, &w)| v * f64::from(w)).sum();
            whiten.map_or(d, |w| d / f64::from(w[j]))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dense layers (MLP).

/// Applies an activation in place.
#[inline]
pub fn activate_f32(x: &mut [f32], a: icebreak_format::Activation) {
    use icebreak_format::Activation;
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

/// Reference activation in f64.
pub fn activate_ref(z: f64, a: icebreak_format::Activation) -> f64 {
    use icebreak_format::Activation;
    match a {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Logistic => sigmoid_ref(z),
    }
}

/// One dense layer: `out = a(weights · x + bias)`.
#[inline]
pub fn dense_f32(
    x: &[f32],
    weights: &[f32],
    bias: &[f32],
    a: icebreak_format::Activation,
    out: &mut [f32],
) {
    let n_in = x.len();
    let mut rows = weights.chunks_exact(4 * n_in);
    let mut j = 0;
    for block in &mut rows {
        let d = dot_rows4_f32(x, block);
        for (k, v) in d.iter().enumerate() {
            out[j + k] = bias[j + k] + v;
        }
        j += 4;
    }
    for (w, o) in rows.remainder().chunks_exact(n_in).zip(&mut out[j..]) {
        *o = bias[j] + dot_f32_8acc(x, w);
        j += 1;
    }
    activate_f32(out, a);
}

/// Four dot products of one row `x` against four consecutive weight rows `w` (`4 · x.len()`
/// values), sharing the loads of `x`. Each product sums in the same order as
/// [`dot_f32_8acc`], so the result is bit-identical to four calls of it.
#[inline]
pub fn dot_rows4_f32(x: &[f32], w: &[f32]) -> [f32; 4] {
    let n = x.len();
    let (w0, rest) = w.split_at(n);
    let (w1, rest) = rest.split_at(n);
    let (w2, w3) = rest.split_at(n);
    let w3 = &w3[..n];
    let mut acc = [[0.0f32; 8]; 4];
    let chunks = x
        .chunks_exact(8)
        .zip(w0.chunks_exact(8))
        .zip(w1.chunks_exact(8))
        .zip(w2.chunks_exact(8))
        .zip(w3.chunks_exact(8));
    for ((((xc, c0), c1), c2), c3) in chunks {
        for k in 0..8 {
            acc[0][k] += xc[k] * c0[k];
            acc[1][k] += xc[k] * c1[k];
            acc[2][k] += xc[k] * c2[k];
            acc[3][k] += xc[k] * c3[k];
        }
    }
    let tail_start = n - n % 8;
    let mut out = [0.0f32; 4];
    for (r, row) in [w0, w1, w2, w3].iter().enumerate() {
        let a = &acc[r];
        let mut tail = 0.0f32;
        for i in tail_start..n {
            tail += x[i] * row[i];
        }
        out[r] = (((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))) + tail;
    }
    out
}

/// Reference dense layer in f64.
pub fn dense_ref(
    x: &[f64],
    weights: &[f32],
    bias: &[f32],
    a: icebreak_format::Activation,
) -> Vec<f64> {
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

// ---------------------------------------------------------------------------------------------
// k-means.

/// Squared Euclidean distance with eight accumulators.
#[inline]
pub fn sq_dist_f32_8acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            let d = x[k] - y[k];
            acc[k] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail
}

/// Distances from `x` to each of the `out.len()` centres; returns the index of the nearest
/// (smallest squared distance, ties to the first).
#[inline]
pub fn kmeans_f32(x: &[f32], centers: &[f32], out: &mut [f32]) -> usize {
    let n_in = x.len();
    let mut best = 0;
    let mut best_d = f32::INFINITY;
    for (c, o) in out.iter_mut().enumerate() {
        let d = sq_dist_f32_8acc(x, &centers[c * n_in..(c + 1) * n_in]);
        if d < best_d {
            best_d = d;
            best = c;
        }
        *o = d.sqrt();
    }
    best
}

/// Reference k-means in f64: the distances and the nearest centre (ties to the first).
pub fn kmeans_ref(x: &[f64], centers: &[f32]) -> (Vec<f64>, usize) {
    let n_in = x.len();
    let sq: Vec<f64> = centers
        .chunks_exact(n_in.max(1))
        .map(|c| {
            x.iter()
                .zip(c)
                .map(|(&v, &m)| (v - f64::from(m)) * (v - f64::from(m)))
                .sum()
        })
        .collect();
    let mut best = 0;
    for (i, &d) in sq.iter().enumerate() {
        if d < sq[best] {
            best = i;
        }
    }
    (sq.iter().map(|d| d.sqrt()).collect(), best)
}

// ---------------------------------------------------------------------------------------------
// Gaussian naive Bayes.

/// Joint log-likelihood per class in f64:
/// `out_c = log_prior_c + (log_norm_c - 0.5 Σ_i (x_i - theta_ci)² / var_ci)`.
#[inline]
pub fn gaussian_nb_f64(
    x: &[f64],
    theta: &[f64],
    var: &[f64],
    log_prior: &[f64],
    log_norm: &[f64],
    out: &mut [f64],
) {
    let n = x.len();
    for (c, o) in out.iter_mut().enumerate() {
        let t = &theta[c * n..(c + 1) * n];
        let v = &var[c * n..(c + 1) * n];
        let mut acc = [0.0f64; 4];
        let mut i = 0;
        while i + 4 <= n {
            for k in 0..4 {
                let d = x[i + k] - t[i + k];
                acc[k] += d * d / v[i + k];
            }
            i += 4;
        }
        let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        while i < n {
            let d = x[i] - t[i];
            s += d * d / v[i];
            i += 1;
        }
        *o = log_prior[c] + (log_norm[c] - 0.5 * s);
    }
}

/// Reference Gaussian naive Bayes in f64, as scikit-learn writes it.
pub fn gaussian_nb_ref(
    x: &[f64],
    theta: &[f64],
    var: &[f64],
    log_prior: &[f64],
    log_norm: &[f64],
) -> Vec<f64> {
    let n = x.len();
    (0..log_prior.len())
        .map(|c| {
            let s: f64 = (0..n)
                .map(|i| (x[i] - theta[c * n + i]).powi(2) / var[c * n + i])
                .sum();
            log_prior[c] + (log_norm[c] - 0.5 * s)
        })
        .collect()
}

/// Softmax in place in f64, max-subtracted (probabilities of a naive Bayes model).
#[inline]
pub fn softmax_f64(x: &mut [f64]) {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// Index of the first maximum in f64; NaN never wins.
#[inline]
pub fn argmax_f64(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate().skip(1) {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}
