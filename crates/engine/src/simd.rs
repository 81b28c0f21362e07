//! Runtime CPU dispatch of the dense kernels: the only module of the engine with `unsafe`.
//!
//! Each entry point below is one `#[inline(always)]` body from its family module (or
//! [`crate::blocked`]) compiled twice: for the baseline target (SSE2 on x86_64, NEON on
//! aarch64, where NEON is always present), and on x86_64 once more with AVX2 enabled, chosen
//! at run time when the CPU has AVX2. The bodies are plain Rust written so that the compiler
//! vectorises them (eight-lane accumulators); with AVX2 each accumulator is one 256-bit
//! register instead of two 128-bit ones.
//!
//! **The dispatch never changes an answer's bits.** The AVX2 copy performs the same
//! operations in the same order as the baseline copy: Rust never contracts `a * b + c` into
//! a fused multiply-add unless asked, and FMA is deliberately *not* enabled, so a product is
//! rounded before it is added exactly as in the baseline code and the reference order
//! (docs/FIDELITY.md). A model answers with the same bits on every x86_64 CPU, with or
//! without AVX2, and on aarch64; the batch path equals the single-row path. Tests hold every
//! entry point to its portable body bit for bit (`crates/engine/tests/engine/simd.rs`).
//!
//! The detection is `std::arch::is_x86_feature_detected!`, which caches the CPUID result in
//! a static after the first call: per call it costs one relaxed load and a branch, no setup.
//!
//! Safety: an `unsafe fn` with `#[target_feature(enable = "avx2")]` may only run on a CPU
//! with AVX2. Each is private to its entry point and called only after the check.

#![allow(unsafe_code)]

use crate::blocked::{self, Dot, SqDist};
use icebreak_format::{Activation, Svm};

/// Whether the AVX2 copies can run on this CPU (cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && !portable_forced()
}

#[cfg(feature = "testing")]
static FORCE_PORTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Feature `testing`: makes every entry point run its baseline copy (`true`) or the widest
/// one the CPU has (`false`, the default), so that tests can hold the two to the same bits.
/// The switch is process-wide; since both copies answer alike, flipping it cannot change
/// what a concurrent caller gets.
#[cfg(feature = "testing")]
pub fn force_portable(on: bool) {
    FORCE_PORTABLE.store(on, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(feature = "testing")]
#[inline]
fn portable_forced() -> bool {
    FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(all(target_arch = "x86_64", not(feature = "testing")))]
#[inline(always)]
fn portable_forced() -> bool {
    false
}

/// Whether the AVX2 copies can run on this CPU: never, on this architecture.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn has_avx2() -> bool {
    false
}

/// The instruction set the dense kernels run with on this machine, for reports.
pub fn kernel_isa() -> &'static str {
    if has_avx2() {
        "avx2"
    } else if cfg!(target_arch = "aarch64") {
        "neon"
    } else if cfg!(target_arch = "x86_64") {
        "sse2"
    } else {
        "portable"
    }
}

/// Defines a dispatched entry point `$name` over the `#[inline(always)]` body `$body`.
macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;) => {
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// The body compiled with AVX2 (no FMA: the bits stay the baseline's).
                ///
                /// # Safety
                /// The CPU must support AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if has_avx2() {
                    // SAFETY: `has_avx2` has just confirmed that this CPU supports AVX2,
                    // the only requirement of `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

dispatch! {
    /// `out[j] = intercept[j] + coef_j · x` for every output `j` (`coef` row-major,
    /// `out.len()` rows of `x.len()`): a linear model's single row.
    pub fn linear_f32(x: &[f32], coef: &[f32], intercept: &[f32], out: &mut [f32])
        = crate::family::linear::linear_f32_body;
}

dispatch! {
    /// A linear model over a batch: `x` holds rows of `nf` values, `scores` gets `n_out`
    /// per row, bit for bit [`linear_f32`] of each row.
    pub fn linear_rows_f32(x: &[f32], nf: usize, coef: &[f32], intercept: &[f32], n_out: usize, scores: &mut [f32])
        = crate::family::linear::linear_rows_body;
}

dispatch! {
    /// One dense layer: `out = a(weights · x + bias)` (`weights` row-major, one row per
    /// output).
    pub fn dense_f32(x: &[f32], weights: &[f32], bias: &[f32], a: Activation, out: &mut [f32])
        = crate::family::dense::dense_f32_body;
}

dispatch! {
    /// One dense layer over a batch: `x` holds rows of `n_in` values, `out` gets
    /// `bias.len()` per row, bit for bit [`dense_f32`] of each row.
    pub fn dense_rows_f32(x: &[f32], n_in: usize, weights: &[f32], bias: &[f32], a: Activation, out: &mut [f32])
        = crate::family::dense::dense_rows_body;
}

dispatch! {
    /// Distances from `x` to each of the `out.len()` centres; returns the index of the
    /// nearest (ties to the first).
    pub fn kmeans_f32(x: &[f32], centers: &[f32], out: &mut [f32]) -> usize
        = crate::family::kmeans::kmeans_f32_body;
}

dispatch! {
    /// k-means over a batch: `x` holds rows of `n_in` values; `out` gets the `k` distances
    /// per row and `nearest` the nearest centre of each row, bit for bit [`kmeans_f32`].
    pub fn kmeans_rows_f32(x: &[f32], n_in: usize, centers: &[f32], k: usize, out: &mut [f32], nearest: &mut [usize])
        = crate::family::kmeans::kmeans_rows_body;
}

dispatch! {
    /// PCA: `out_j = ((x - mean) · components_j) / whiten_j`; `x` is centred in place.
    pub fn pca_f32(x: &mut [f32], mean: &[f32], components: &[f32], whiten: Option<&[f32]>, out: &mut [f32])
        = crate::family::pca::pca_f32_body;
}

dispatch! {
    /// PCA over a batch: `x` holds rows of `n_in` values (centred in place), `out` gets
    /// `n_out` per row, bit for bit [`pca_f32`] of each row.
    pub fn pca_rows_f32(x: &mut [f32], n_in: usize, mean: &[f32], components: &[f32], whiten: Option<&[f32]>, n_out: usize, out: &mut [f32])
        = crate::family::pca::pca_rows_body;
}

dispatch! {
    /// `K(x, sv_s)` in `f64` for every support vector of an SVM.
    pub fn svm_kernel_values_f64(m: &Svm<'_>, x: &[f64], out: &mut [f64])
        = crate::family::svm::kernel_values_body;
}

dispatch! {
    /// Rows against weight rows: `out[r · n_out + j] = x_r · w_j`, each in the order of
    /// [`crate::kernels::dot_f32_8acc`].
    pub fn rows_dot_f32(x: &[f32], n: usize, w: &[f32], n_out: usize, out: &mut [f32])
        = blocked::rows_all::<Dot>;
}

dispatch! {
    /// Rows against centres: `out[r · n_out + j] = ‖x_r − w_j‖²`, each in the order of
    /// [`crate::kernels::sq_dist_f32_8acc`].
    pub fn rows_sq_dist_f32(x: &[f32], n: usize, w: &[f32], n_out: usize, out: &mut [f32])
        = blocked::rows_all::<SqDist>;
}
