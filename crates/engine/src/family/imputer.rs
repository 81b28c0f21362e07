//! The imputer (`Stage::Imputer`, `Stage::ImputerF64`): missing entries become the feature's
//! fill value.

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

/// The f64 imputer on an f64 row (`Stage::ImputerF64` in a pipeline computed in f64
/// throughout), in place: NaN entries when `missing` is NaN, else entries equal to `missing`,
/// become the feature's fill value.
#[inline]
pub fn impute_f64(x: &mut [f64], missing: f64, fill: &[f64]) {
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

/// The f64 imputer in an f32 pipeline: the row's f32 value widened is compared with the
/// marker, and a missing entry becomes the fill value rounded to f32.
#[inline]
pub fn impute_f64_f32(x: &mut [f32], missing: f64, fill: &[f64]) {
    for (v, f) in x.iter_mut().zip(fill) {
        let is_missing = if missing.is_nan() {
            v.is_nan()
        } else {
            f64::from(*v) == missing
        };
        if is_missing {
            *v = *f as f32;
        }
    }
}

#[cfg(feature = "testing")]
/// Reference f64 imputer: a new row, each missing entry replaced by its fill value.
pub fn impute_f64_ref(x: &[f64], missing: f64, fill: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(fill)
        .map(|(&v, &f)| {
            let is_missing = if missing.is_nan() {
                v.is_nan()
            } else {
                v == missing
            };
            if is_missing {
                f
            } else {
                v
            }
        })
        .collect()
}
