//! Helpers shared by the engine tests.

use icebreak_format::{write, AlignedBuf, ModelSpec};

/// `spec`, written; the spec must be valid.
pub fn written(spec: &ModelSpec) -> AlignedBuf {
    write(spec).unwrap()
}

/// The row widened to `f64`, as a caller would send it.
pub fn to64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}
