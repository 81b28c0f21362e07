//! Gaussian naive Bayes (`Stage::GaussianNb`), computed in `f64`.

use crate::kernels::{argmax_f64, narrow, softmax_f64};
use icebreak_format::{PostTransform, Stage};

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

#[cfg(feature = "testing")]
/// Reference Gaussian naive Bayes summed in the order [`gaussian_nb_f64`] promises: lane
/// `i mod 4` over the whole blocks of four features, the lanes as `(l0 + l2) + (l1 + l3)`,
/// then the remaining features in order. For a pipeline computed in f64 throughout, held
/// to the engine bit for bit.
pub fn gaussian_nb_f64_ref(
    x: &[f64],
    theta: &[f64],
    var: &[f64],
    log_prior: &[f64],
    log_norm: &[f64],
) -> Vec<f64> {
    let n = x.len();
    let whole = n - n % 4;
    (0..log_prior.len())
        .map(|c| {
            let term = |i: usize| (x[i] - theta[c * n + i]).powi(2) / var[c * n + i];
            let lane = |l: usize| (l..whole).step_by(4).fold(0.0, |s, i| s + term(i));
            let s = (whole..n).fold((lane(0) + lane(2)) + (lane(1) + lane(3)), |s, i| {
                s + term(i)
            });
            log_prior[c] + (log_norm[c] - 0.5 * s)
        })
        .collect()
}

#[cfg(feature = "testing")]
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

/// Gaussian naive Bayes in f64: joint log-likelihoods into `b` (as scores), the class by
/// an f64 argmax, and with a softmax post transform the probabilities, computed in f64,
/// into `a`.
pub(crate) fn row(
    st: &Stage<'_>,
    post: Option<PostTransform>,
    x: &[f64],
    acc: &mut [f64],
    a: &mut [f32],
    b: &mut [f32],
) -> (Option<usize>, bool) {
    let Stage::GaussianNb {
        n_classes,
        theta,
        var,
        log_prior,
        log_norm,
        ..
    } = *st
    else {
        return (None, false);
    };
    let k = n_classes as usize;
    let jll = &mut acc[..k];
    gaussian_nb_f64(x, theta, var, log_prior, log_norm, jll);
    narrow(jll, &mut b[..k]);
    let class = argmax_f64(jll);
    if post == Some(PostTransform::Softmax) {
        softmax_f64(jll);
        narrow(jll, &mut a[..k]);
        (Some(class), true)
    } else {
        (Some(class), false)
    }
}
