//! Support vector machines, as libsvm (and so scikit-learn's `SVC`, `NuSVC`, `SVR`, `NuSVR`)
//! computes them: kernel values against every support vector, one decision value per pair of
//! classes, votes, scikit-learn's `'ovr'` decision function, and Platt probabilities with
//! libsvm's pairwise coupling.
//!
//! Everything is computed in `f64` (the support vectors of an `svm` stage are stored as
//! `f32` and widened, those of an `svm_f64` stage are `f64`; the dual coefficients,
//! intercepts and Platt parameters are `f64` in the file), following
//! libsvm's `svm_predict_values`, `svm_predict_probability`, `sigmoid_predict` and
//! `multiclass_probability` step by step. [`svm_row_f64`] is the engine's path: it reuses one
//! caller-owned work buffer, so it allocates nothing. `svm_ref` (feature `testing`) is the plain reference,
//! written with fresh vectors and the sums in the obvious order.

use crate::blocked::Micro;
use crate::kernels::narrow;
use icebreak_format::{Kernel, Svm};

pub use crate::simd::svm_kernel_values_f64 as kernel_values_f64;

/// libsvm's smallest pairwise probability (`min_prob` in `svm_predict_probability`).
pub const MIN_PROB: f64 = 1e-7;

/// The element type of the support vectors: `f32` (stage kind `svm`, its kernel values by
/// the dispatched four-lane kernel) or `f64` (stage kind `svm_f64`, its kernel values by
/// [`kernel_values_f64_plain`], each sum in feature order from 0).
pub trait SupportVector: Copy + sealed::Sealed {
    /// The value, exactly, as `f64`.
    fn wide(self) -> f64;
    /// `K(x, sv_s)` for every support vector of `m` into `out`.
    fn kernel_values(m: &Svm<'_, Self>, x: &[f64], out: &mut [f64]);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl SupportVector for f32 {
    #[inline]
    fn wide(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn kernel_values(m: &Svm<'_, f32>, x: &[f64], out: &mut [f64]) {
        crate::simd::svm_kernel_values_f64(m, x, out);
    }
}

impl SupportVector for f64 {
    #[inline]
    fn wide(self) -> f64 {
        self
    }
    #[inline]
    fn kernel_values(m: &Svm<'_, f64>, x: &[f64], out: &mut [f64]) {
        kernel_values_f64_plain(m, x, out);
    }
}

/// `K(x, sv_s)` for every support vector of an `svm_f64` stage, as scikit-learn's libsvm
/// (`k_function`, dense) computes it: `x · sv` (linear, poly, sigmoid) or `Σ (x_i − sv_i)²`
/// (rbf, the differences taken first), each sum in feature order from 0, then `powi`,
/// `exp(-gamma · d)` or `tanh`. Four support vectors run side by side, each sum still in
/// feature order: the order is the promise.
pub fn kernel_values_f64_plain(m: &Svm<'_, f64>, x: &[f64], out: &mut [f64]) {
    let n = m.n_in as usize;
    if n == 0 {
        out.fill(match m.kernel {
            Kernel::Linear => 0.0,
            Kernel::Poly { coef0, degree, .. } => powi(coef0, degree),
            Kernel::Rbf { .. } => 1.0,
            Kernel::Sigmoid { coef0, .. } => coef0.tanh(),
        });
        return;
    }
    let rbf = matches!(m.kernel, Kernel::Rbf { .. });
    // Four support vectors at a time, each its own sum in feature order: independent chains
    // for the CPU, the same bits as one at a time.
    let mut blocks = m.support_vectors.chunks_exact(4 * n);
    let mut o4 = out.chunks_exact_mut(4);
    for (b, o) in (&mut blocks).zip(&mut o4) {
        let (s0, rest) = b.split_at(n);
        let (s1, rest) = rest.split_at(n);
        let (s2, s3) = rest.split_at(n);
        let mut acc = [0.0f64; 4];
        for i in 0..n {
            let xi = x[i];
            if rbf {
                let d = [xi - s0[i], xi - s1[i], xi - s2[i], xi - s3[i]];
                for (a, d) in acc.iter_mut().zip(d) {
                    *a += d * d;
                }
            } else {
                for (a, s) in acc.iter_mut().zip([s0[i], s1[i], s2[i], s3[i]]) {
                    *a += xi * s;
                }
            }
        }
        o.copy_from_slice(&acc);
    }
    for (o, sv) in o4
        .into_remainder()
        .iter_mut()
        .zip(blocks.remainder().chunks_exact(n))
    {
        let mut acc = 0.0;
        for (a, b) in x.iter().zip(sv) {
            if rbf {
                let t = a - b;
                acc += t * t;
            } else {
                acc += a * b;
            }
        }
        *o = acc;
    }
    for o in out.iter_mut() {
        *o = match m.kernel {
            Kernel::Linear => *o,
            Kernel::Poly {
                gamma,
                coef0,
                degree,
            } => powi(gamma * *o + coef0, degree),
            Kernel::Rbf { gamma } => (-gamma * *o).exp(),
            Kernel::Sigmoid { gamma, coef0 } => (gamma * *o + coef0).tanh(),
        };
    }
}

/// `f64` values [`svm_row_f64`] needs in its work buffer.
pub fn work_len<V>(m: &Svm<'_, V>) -> usize {
    let k = m.n_classes as usize;
    // Kernel values, pairwise decisions, votes, then either the ovr confidences (k) or the
    // coupling's r, Q (k × k each) and Qp (k), which reuse the same space.
    let tail = if m.has_probabilities() {
        2 * k * k + k
    } else {
        k
    };
    m.n_sv() + m.n_pairs() + k + tail
}

/// libsvm's `powi`: `base^times` by squaring.
#[inline]
pub fn powi(base: f64, times: u32) -> f64 {
    let mut tmp = base;
    let mut ret = 1.0;
    let mut t = times;
    while t > 0 {
        if t % 2 == 1 {
            ret *= tmp;
        }
        tmp *= tmp;
        t /= 2;
    }
    ret
}

/// `x · sv` in `f64`: four lanes (lane `k` sums the terms `i ≡ k (mod 4)`), added as
/// `(l0 + l2) + (l1 + l3)`, then the remaining terms one by one.
#[inline(always)]
pub(crate) fn dot_f64(x: &[f64], sv: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut cx = x.chunks_exact(4);
    let mut cs = sv.chunks_exact(4);
    for (a, b) in (&mut cx).zip(&mut cs) {
        for k in 0..4 {
            acc[k] += a[k] * f64::from(b[k]);
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (a, b) in cx.remainder().iter().zip(cs.remainder()) {
        s += a * f64::from(*b);
    }
    s
}

/// `‖x − sv‖²` in `f64`, in [`dot_f64`]'s order.
#[inline(always)]
pub(crate) fn sq_dist_f64(x: &[f64], sv: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut cx = x.chunks_exact(4);
    let mut cs = sv.chunks_exact(4);
    for (a, b) in (&mut cx).zip(&mut cs) {
        for k in 0..4 {
            let d = a[k] - f64::from(b[k]);
            acc[k] += d * d;
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (a, b) in cx.remainder().iter().zip(cs.remainder()) {
        let d = a - f64::from(*b);
        s += d * d;
    }
    s
}

/// `K(x, sv_s)` for every support vector (the body of
/// [`crate::simd::svm_kernel_values_f64`]): the raw products or squared distances four
/// support vectors at a time ([`Micro::sv_f64`], each in [`dot_f64`]'s or
/// [`sq_dist_f64`]'s order), then the kernel's function of each.
#[inline(always)]
pub(crate) fn kernel_values_body<M: Micro>(mi: M, m: &Svm<'_>, x: &[f64], out: &mut [f64]) {
    let n = m.n_in as usize;
    let squared = matches!(m.kernel, Kernel::Rbf { .. });
    raw_values(mi, x, m.support_vectors, n, squared, out);
    match m.kernel {
        Kernel::Linear => {}
        Kernel::Poly {
            gamma,
            coef0,
            degree,
        } => {
            for o in out.iter_mut() {
                *o = powi(gamma * *o + coef0, degree);
            }
        }
        Kernel::Rbf { gamma } => {
            for o in out.iter_mut() {
                *o *= -gamma;
            }
            for o in out.iter_mut() {
                *o = o.exp();
            }
        }
        Kernel::Sigmoid { gamma, coef0 } => {
            for o in out.iter_mut() {
                *o = (gamma * *o + coef0).tanh();
            }
        }
    }
}

/// `x · sv` (or `‖x − sv‖²`) for each support vector of `svs` (rows of `n`), four at a
/// time (four independent sums; eight measured no faster).
#[inline(always)]
fn raw_values<M: Micro>(mi: M, x: &[f64], svs: &[f32], n: usize, squared: bool, out: &mut [f64]) {
    if n == 0 {
        out.fill(0.0);
        return;
    }
    let mut blocks = svs.chunks_exact(4 * n);
    let mut o4 = out.chunks_exact_mut(4);
    for (b, o) in (&mut blocks).zip(&mut o4) {
        let four: [&[f32]; 4] = std::array::from_fn(|j| &b[j * n..(j + 1) * n]);
        let v = if squared {
            mi.sv_f64::<true, 4>(x, four)
        } else {
            mi.sv_f64::<false, 4>(x, four)
        };
        o.copy_from_slice(&v);
    }
    for (o, sv) in o4
        .into_remainder()
        .iter_mut()
        .zip(blocks.remainder().chunks_exact(n))
    {
        *o = if squared {
            sq_dist_f64(x, sv)
        } else {
            dot_f64(x, sv)
        };
    }
}

/// libsvm's `sigmoid_predict`: Platt's `1 / (1 + exp(A · d + B))`, computed without overflow.
#[inline]
pub fn sigmoid_predict(d: f64, a: f64, b: f64) -> f64 {
    let f = d * a + b;
    if f >= 0.0 {
        (-f).exp() / (1.0 + (-f).exp())
    } else {
        1.0 / (1.0 + f.exp())
    }
}

/// libsvm's `multiclass_probability`: the pairwise-coupling fixed point (Wu, Lin and Weng
/// 2004, method 2). `r` is `k × k` row-major (`r[i][j]`, the probability of `i` against `j`);
/// `q` (`k × k`) and `qp` (`k`) are work space; the result is written into `p` (`k`).
pub fn multiclass_probability(k: usize, r: &[f64], q: &mut [f64], qp: &mut [f64], p: &mut [f64]) {
    let max_iter = 100.max(k);
    let eps = 0.005 / k as f64;
    for t in 0..k {
        p[t] = 1.0 / k as f64;
        q[t * k + t] = 0.0;
        for j in 0..t {
            q[t * k + t] += r[j * k + t] * r[j * k + t];
            q[t * k + j] = q[j * k + t];
        }
        for j in t + 1..k {
            q[t * k + t] += r[j * k + t] * r[j * k + t];
            q[t * k + j] = -r[j * k + t] * r[t * k + j];
        }
    }
    for _ in 0..max_iter {
        let mut pqp = 0.0;
        for t in 0..k {
            qp[t] = 0.0;
            for j in 0..k {
                qp[t] += q[t * k + j] * p[j];
            }
            pqp += p[t] * qp[t];
        }
        let mut max_error = 0.0f64;
        for &v in qp.iter().take(k) {
            let error = (v - pqp).abs();
            if error > max_error {
                max_error = error;
            }
        }
        if max_error < eps {
            break;
        }
        for t in 0..k {
            let diff = (-qp[t] + pqp) / q[t * k + t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * q[t * k + t] + 2.0 * qp[t])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[t * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}

/// scikit-learn's `_ovr_decision_function` for one row: votes plus the summed confidences
/// squashed into `(-1/3, 1/3)`. `dec` holds libsvm's pairwise decision values; scikit-learn
/// counts `dec >= 0` as a vote for the first class of the pair (libsvm's own vote, in
/// [`svm_row_f64`], needs `dec > 0`).
#[inline]
pub fn ovr_decision(k: usize, dec: &[f64], sum_conf: &mut [f64], out: &mut [f64]) {
    out[..k].fill(0.0);
    sum_conf[..k].fill(0.0);
    let mut p = 0;
    for i in 0..k {
        for j in i + 1..k {
            let d = dec[p];
            sum_conf[i] += d;
            sum_conf[j] -= d;
            if d < 0.0 {
                out[j] += 1.0;
            } else {
                out[i] += 1.0;
            }
            p += 1;
        }
    }
    for (o, s) in out.iter_mut().zip(sum_conf.iter()).take(k) {
        *o += s / (3.0 * (s.abs() + 1.0));
    }
}

/// One row through an SVM. Writes the decision scores (`m.score_width()` values) into
/// `scores` and, when the model has them, the class probabilities (`n_classes`) into
/// `probs`; returns the class by libsvm's votes (ties to the lowest index) for a classifier,
/// or with [`Svm::break_ties`] the largest decision value (ties to the lowest index).
/// `work` must hold [`work_len`] values.
pub fn svm_row_f64<V: SupportVector>(
    m: &Svm<'_, V>,
    x: &[f64],
    work: &mut [f64],
    scores: &mut [f64],
    probs: &mut [f64],
) -> Option<usize> {
    let n_sv = m.n_sv();
    let k = m.n_classes as usize;
    let n_pairs = m.n_pairs();
    let (kv, rest) = work.split_at_mut(n_sv);
    let (dec, rest) = rest.split_at_mut(n_pairs);
    let (votes, rest) = rest.split_at_mut(k);
    V::kernel_values(m, x, kv);
    if !m.is_classifier() {
        let s: f64 = m.coef.iter().zip(kv.iter()).map(|(c, v)| c * v).sum();
        scores[0] = s + m.intercept[0];
        return None;
    }
    // Start of each class's support vectors.
    let mut p = 0;
    let mut si = 0usize;
    for i in 0..k {
        let ci = m.n_support[i] as usize;
        let mut sj = si + ci;
        for j in i + 1..k {
            let cj = m.n_support[j] as usize;
            let coef1 = &m.coef[(j - 1) * n_sv..j * n_sv];
            let coef2 = &m.coef[i * n_sv..(i + 1) * n_sv];
            let mut sum = 0.0;
            for s in si..si + ci {
                sum += coef1[s] * kv[s];
            }
            for s in sj..sj + cj {
                sum += coef2[s] * kv[s];
            }
            dec[p] = sum + m.intercept[p];
            p += 1;
            sj += cj;
        }
        si += ci;
    }
    votes.fill(0.0);
    let mut p = 0;
    for i in 0..k {
        for j in i + 1..k {
            if dec[p] > 0.0 {
                votes[i] += 1.0;
            } else {
                votes[j] += 1.0;
            }
            p += 1;
        }
    }
    let mut class = 0;
    for (c, &v) in votes.iter().enumerate().skip(1) {
        if v > votes[class] {
            class = c;
        }
    }
    if k == 2 {
        scores[0] = -dec[0];
    } else {
        let (sum_conf, _) = rest.split_at_mut(k);
        ovr_decision(k, dec, sum_conf, scores);
        if m.break_ties {
            // scikit-learn's `np.argmax(decision_function)`: the first of tied maxima.
            class = 0;
            for c in 1..k {
                if scores[c] > scores[class] {
                    class = c;
                }
            }
        }
    }
    if m.has_probabilities() {
        let (r, rest) = rest.split_at_mut(k * k);
        let (q, rest) = rest.split_at_mut(k * k);
        let (qp, _) = rest.split_at_mut(k);
        let mut p = 0;
        for i in 0..k {
            for j in i + 1..k {
                let v = sigmoid_predict(dec[p], m.prob_a[p], m.prob_b[p])
                    .clamp(MIN_PROB, 1.0 - MIN_PROB);
                r[i * k + j] = v;
                r[j * k + i] = 1.0 - v;
                p += 1;
            }
        }
        // scikit-learn's libsvm couples two classes too (upstream libsvm since 3.24 returns
        // `[r_01, r_10]` directly; the coupling stops within 0.005/k of that).
        multiclass_probability(k, r, q, qp, probs);
    }
    Some(class)
}

#[cfg(feature = "testing")]
/// Reference outputs of one row: scores, probabilities (if any), class (classifiers).
#[derive(Debug, Clone, PartialEq)]
pub struct SvmRef {
    /// Decision scores as scikit-learn's `decision_function` (or `predict` for a regressor).
    pub scores: Vec<f64>,
    /// Class probabilities.
    pub probabilities: Option<Vec<f64>>,
    /// The class by votes.
    pub class: Option<usize>,
}

#[cfg(feature = "testing")]
/// The plain reference: libsvm's loops, literally, on fresh vectors.
#[allow(clippy::needless_range_loop)] // index loops, as libsvm writes them
pub fn svm_ref<V: SupportVector>(m: &Svm<'_, V>, x: &[f64]) -> SvmRef {
    let n = m.n_in as usize;
    let kv: Vec<f64> = m
        .support_vectors
        .chunks_exact(n.max(1))
        .map(|sv| {
            let dot: f64 = x.iter().zip(sv).fold(0.0, |s, (a, &b)| s + a * b.wide());
            match m.kernel {
                Kernel::Linear => dot,
                Kernel::Poly {
                    gamma,
                    coef0,
                    degree,
                } => powi(gamma * dot + coef0, degree),
                Kernel::Rbf { gamma } => {
                    let d: f64 = x
                        .iter()
                        .zip(sv)
                        .fold(0.0, |s, (a, &b)| s + (a - b.wide()) * (a - b.wide()));
                    (-gamma * d).exp()
                }
                Kernel::Sigmoid { gamma, coef0 } => (gamma * dot + coef0).tanh(),
            }
        })
        .collect();
    if !m.is_classifier() {
        let s: f64 = m.coef.iter().zip(&kv).map(|(c, v)| c * v).sum();
        return SvmRef {
            scores: vec![s + m.intercept[0]],
            probabilities: None,
            class: None,
        };
    }
    let k = m.n_classes as usize;
    let n_sv = kv.len();
    let start: Vec<usize> = m
        .n_support
        .iter()
        .scan(0usize, |acc, &c| {
            let s = *acc;
            *acc += c as usize;
            Some(s)
        })
        .collect();
    let mut dec = Vec::new();
    let mut votes = vec![0usize; k];
    for i in 0..k {
        for j in i + 1..k {
            let mut sum = 0.0;
            for s in start[i]..start[i] + m.n_support[i] as usize {
                sum += m.coef[(j - 1) * n_sv + s] * kv[s];
            }
            for s in start[j]..start[j] + m.n_support[j] as usize {
                sum += m.coef[i * n_sv + s] * kv[s];
            }
            let d = sum + m.intercept[dec.len()];
            if d > 0.0 {
                votes[i] += 1;
            } else {
                votes[j] += 1;
            }
            dec.push(d);
        }
    }
    let mut class = (0..k).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
    let scores = if k == 2 {
        vec![-dec[0]]
    } else {
        let mut conf = vec![0.0; k];
        let mut out = vec![0.0; k];
        ovr_decision(k, &dec, &mut conf, &mut out);
        if m.break_ties {
            class = (0..k).fold(0, |b, c| if out[c] > out[b] { c } else { b });
        }
        out
    };
    let probabilities = m.has_probabilities().then(|| {
        let mut r = vec![0.0; k * k];
        let mut p = 0;
        for i in 0..k {
            for j in i + 1..k {
                let v = sigmoid_predict(dec[p], m.prob_a[p], m.prob_b[p])
                    .clamp(MIN_PROB, 1.0 - MIN_PROB);
                r[i * k + j] = v;
                r[j * k + i] = 1.0 - v;
                p += 1;
            }
        }
        let mut q = vec![0.0; k * k];
        let mut qp = vec![0.0; k];
        let mut out = vec![0.0; k];
        multiclass_probability(k, &r, &mut q, &mut qp, &mut out);
        out
    });
    SvmRef {
        scores,
        probabilities,
        class: Some(class),
    }
}

/// An SVM from the `f64` row `x`: decision scores into `b`, probabilities (if any) into
/// `a`; returns the class by votes and whether `a` holds the final values.
pub(crate) fn stage_row<V: SupportVector>(
    m: &Svm<'_, V>,
    x: &[f64],
    work: &mut [f64],
    acc: &mut [f64],
    a: &mut [f32],
    b: &mut [f32],
) -> (Option<usize>, bool) {
    let sw = m.score_width() as usize;
    let k = m.n_classes as usize;
    let (sc, pr) = acc.split_at_mut(sw);
    let class = svm_row_f64(m, x, work, sc, pr);
    narrow(sc, &mut b[..sw]);
    if m.has_probabilities() {
        narrow(&pr[..k], &mut a[..k]);
        (class, true)
    } else {
        (class, false)
    }
}
