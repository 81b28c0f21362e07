//! The imputer (`Stage::Imputer`): missing entries become the feature's fill value.

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

#[cfg(feature = "testing")]
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
