//! Element-wise scalers: `Stage::StandardScaler` (`(x - mean) / scale`) and
//! `Stage::MinMaxScaler` (`x * scale + min`).

/// `(x - mean) / scale`, in place.
#[inline]
pub fn standard_scale_f32(x: &mut [f32], mean: &[f32], scale: &[f32]) {
    for ((v, m), s) in x.iter_mut().zip(mean).zip(scale) {
        *v = (*v - m) / s;
    }
}

/// `out[i] = (x[i] - mean[i]) / scale[i]`: [`standard_scale_f32`] reading the row and writing
/// the scratch in one pass, which saves copying the row first. Same arithmetic, same bits.
#[inline]
pub fn standard_scale_into_f32(x: &[f32], mean: &[f32], scale: &[f32], out: &mut [f32]) {
    for ((o, v), (m, s)) in out.iter_mut().zip(x).zip(mean.iter().zip(scale)) {
        *o = (*v - m) / s;
    }
}

/// `out[i] = f32((x[i] - mean[i]) / scale[i])`, computed in f64 from the f64 row: one
/// rounding, after the scaler (scikit-learn's StandardScaler, then a float32 cast).
#[inline]
pub fn standard_scale_f64_into(x: &[f64], mean: &[f64], scale: &[f64], out: &mut [f32]) {
    for ((o, v), (m, s)) in out.iter_mut().zip(x).zip(mean.iter().zip(scale)) {
        *o = ((*v - m) / s) as f32;
    }
}

/// `(x - mean) / scale` in f64 over an `f32` row already rounded (a `standard_scaler_f64`
/// after another preprocessor), rounded back to f32.
#[inline]
pub fn standard_scale_f64_f32(x: &mut [f32], mean: &[f64], scale: &[f64]) {
    for ((v, m), s) in x.iter_mut().zip(mean).zip(scale) {
        *v = ((f64::from(*v) - m) / s) as f32;
    }
}

/// `(x - mean) / scale` in f64, in place, unrounded (a pipeline computed in f64 throughout).
#[inline]
pub fn standard_scale_f64(x: &mut [f64], mean: &[f64], scale: &[f64]) {
    for ((v, m), s) in x.iter_mut().zip(mean).zip(scale) {
        *v = (*v - m) / s;
    }
}

/// `x * scale + min` in f64, in place, unrounded (a pipeline computed in f64 throughout).
#[inline]
pub fn min_max_scale_f64(x: &mut [f64], scale: &[f64], min: &[f64]) {
    for ((v, s), m) in x.iter_mut().zip(scale).zip(min) {
        *v = *v * s + m;
    }
}

/// `out[i] = f32(x[i] * scale[i] + min[i])`, computed in f64 from the f64 row (scikit-learn's
/// MinMaxScaler, same order), rounded once.
#[inline]
pub fn min_max_scale_f64_into(x: &[f64], scale: &[f64], min: &[f64], out: &mut [f32]) {
    for ((o, v), (s, m)) in out.iter_mut().zip(x).zip(scale.iter().zip(min)) {
        *o = (*v * s + m) as f32;
    }
}

/// `x * scale + min` in f64 over an `f32` row already rounded, rounded back to f32.
#[inline]
pub fn min_max_scale_f64_f32(x: &mut [f32], scale: &[f64], min: &[f64]) {
    for ((v, s), m) in x.iter_mut().zip(scale).zip(min) {
        *v = (f64::from(*v) * s + m) as f32;
    }
}

#[cfg(feature = "testing")]
/// Reference scaler in f64.
pub fn standard_scale_ref(x: &[f64], mean: &[f32], scale: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(mean)
        .zip(scale)
        .map(|((&v, &m), &s)| (v - m as f64) / s as f64)
        .collect()
}

/// `x * scale + min`, in place (scikit-learn's `MinMaxScaler.transform`, same order).
#[inline]
pub fn min_max_scale_f32(x: &mut [f32], scale: &[f32], min: &[f32]) {
    for ((v, s), m) in x.iter_mut().zip(scale).zip(min) {
        *v = *v * s + m;
    }
}

#[cfg(feature = "testing")]
/// Reference min-max scaler in f64.
pub fn min_max_scale_ref(x: &[f64], scale: &[f32], min: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(scale)
        .zip(min)
        .map(|((&v, &s), &m)| v * f64::from(s) + f64::from(m))
        .collect()
}
