//! Runtime CPU dispatch of the dense kernels: the only module of the engine with `unsafe`.
//!
//! Each entry point below is one `#[inline(always)]` body from its family module (or
//! `blocked`) compiled for the baseline target (SSE2 on x86_64, NEON on aarch64, where NEON
//! and FMA are always present) and, on x86_64, twice more: with AVX2 and FMA enabled, and
//! with AVX-512F enabled, chosen at run time by what the CPU has. The AVX2+FMA copy's
//! micro-kernel is explicit 256-bit vectors (`std::arch`); the AVX-512 copy's batch
//! micro-kernel holds two pairs' eight lanes in one 512-bit register (six rows against
//! eight weight rows; with the weights re-packed, [`Packed`], one load per two weight rows
//! and the lanes of eight pairs reduced together) and hands every other shape to the
//! AVX2+FMA kernel; the baseline copy
//! is plain Rust the compiler vectorises where it can.
//!
//! **The dispatch never changes an answer's bits.** Every f32 sum of products is the
//! canonical fused multiply-add order of [`crate::kernels::dot_f32_8acc`]: eight lanes of
//! `fma(x_i, w_i, acc)`, a fixed tree over the lanes, the remainder last. A fused
//! multiply-add rounds once, and IEEE 754 defines that one rounding exactly, so the AVX-512
//! and AVX2+FMA copies (`vfmadd231ps`), the baseline copy on aarch64 (`fmla`) and the baseline copy on an
//! x86_64 CPU without FMA (`f32::mul_add`, a call of the C library's correctly rounded
//! `fmaf` per term: slow, the same bits) all compute the same value. Rust never contracts a
//! plain `a * b + c` into an FMA, so the code outside the sums (activations, k-means'
//! `-2 x·c + ‖x‖²`) is the same operations in every copy. A model answers with the same
//! bits on every x86_64 CPU, with or without AVX-512, AVX2 and FMA, and on aarch64; the
//! batch path equals the single-row path. Tests hold every entry point to its portable body
//! bit for bit (`crates/engine/tests/engine/simd.rs`). The SVM's `f64` kernel values keep
//! their multiply-then-add order (no FMA) in every copy.
//!
//! The detection is `std::arch::is_x86_feature_detected!`, which caches the CPUID result in
//! a static after the first call: per call it costs two relaxed loads and a branch, no
//! setup.
//!
//! Safety: an `unsafe fn` with `#[target_feature(enable = "avx2,fma")]` may only run on a
//! CPU with AVX2 and FMA, one with `"avx512f,avx2,fma"` on a CPU with all three. Each is
//! private to its entry point and called only after the check.

#![allow(unsafe_code)]

use crate::blocked::{self, Dot, Packed, Portable, SqDist};
use icebreak_format::{Activation, Svm};

/// Whether the AVX2+FMA copies can run on this CPU: it has both AVX2 and FMA (cached by
/// the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && !portable_forced()
}

/// Whether the AVX-512 copies can run on this CPU: it has AVX-512F (and so AVX2 and FMA).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && has_avx2_fma() && !avx512_off()
}

/// Whether the AVX-512 copies can run on this CPU: never, on this architecture.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn has_avx512() -> bool {
    false
}

/// A process-wide switch for tests: `$set(on)` under feature `testing`, and `$get()`, which
/// reads it (always `false` without the feature, so release builds test nothing).
macro_rules! test_switch {
    ($(#[$doc:meta])* $flag:ident, $set:ident, $get:ident) => {
        #[cfg(feature = "testing")]
        static $flag: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

        $(#[$doc])*
        #[cfg(feature = "testing")]
        pub fn $set(on: bool) {
            $flag.store(on, std::sync::atomic::Ordering::Relaxed);
        }

        #[cfg(all(target_arch = "x86_64", feature = "testing"))]
        #[inline]
        fn $get() -> bool {
            $flag.load(std::sync::atomic::Ordering::Relaxed)
        }

        #[cfg(all(target_arch = "x86_64", not(feature = "testing")))]
        #[inline(always)]
        fn $get() -> bool {
            false
        }
    };
}

test_switch!(
    /// Feature `testing`: makes every entry point skip its AVX-512 copy (`true`), so that
    /// tests can hold the AVX2+FMA copy to the others on a CPU with AVX-512 too.
    /// Process-wide, like [`force_portable`].
    FORCE_NO_AVX512,
    force_no_avx512,
    avx512_off
);

test_switch!(
    /// Feature `testing`: makes every entry point run its baseline copy (`true`) or the
    /// widest one the CPU has (`false`, the default), so that tests can hold the two to the
    /// same bits. The switch is process-wide; since both copies answer alike, flipping it
    /// cannot change what a concurrent caller gets.
    FORCE_PORTABLE,
    force_portable,
    portable_forced
);

/// Whether the AVX2+FMA copies can run on this CPU: never, on this architecture.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn has_avx2_fma() -> bool {
    false
}

/// The instruction set the dense kernels run with on this machine, for reports: `avx512`
/// (the batch products; everything else as `avx2+fma`), `avx2+fma`,
/// `neon` (with FMA), or `sse2` on an x86_64 CPU without AVX2 and FMA (the same answers,
/// each fused multiply-add a call of the C library's `fmaf`).
pub fn kernel_isa() -> &'static str {
    if has_avx512() {
        "avx512"
    } else if has_avx2_fma() {
        "avx2+fma"
    } else if cfg!(target_arch = "aarch64") {
        "neon"
    } else if cfg!(target_arch = "x86_64") {
        "sse2"
    } else {
        "portable"
    }
}

/// Defines a dispatched entry point `$name` over the `#[inline(always)]` body `$body`. With
/// `micro`, the body's first argument is the micro-kernel: `Portable` in the baseline copy,
/// `x86::Avx2` in the AVX2+FMA copy.
macro_rules! dispatch {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = micro $body:path;) => {
        dispatch!(@def [$(#[$doc])*] $name [$($arg: $ty),*] [$($ret)?] $body
            // SAFETY (of the token): it is made inside `avx512`, which runs only on CPUs
            // with AVX-512F, AVX2 and FMA.
            [unsafe { x86::Avx512::new_unchecked() },]
            // SAFETY (of the token): it is made inside `avx2`, which runs only on CPUs
            // with AVX2 and FMA.
            [unsafe { x86::Avx2::new_unchecked() },] [Portable,]);
    };
    (@def [$($doc:tt)*] $name:ident [$($arg:ident: $ty:ty),*] [$($ret:ty)?] $body:path [$($w512:tt)*] [$($wide:tt)*] [$($base:tt)*]) => {
        $($doc)*
        #[inline]
        // The batch entry points take the batch's shape, a stage's tensors and their
        // re-packed copy.
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// The body compiled with AVX-512F, AVX2 and FMA (the batch products run
                /// 512-bit vectors holding two pairs' eight lanes each; the bits stay the
                /// baseline's).
                ///
                /// # Safety
                /// The CPU must support AVX-512F, AVX2 and FMA.
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($w512)* $($arg),*)
                }
                /// The body compiled with AVX2 and FMA (each fused multiply-add rounds
                /// once, as the baseline's `f32::mul_add`: the bits stay the baseline's).
                ///
                /// # Safety
                /// The CPU must support AVX2 and FMA.
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($wide)* $($arg),*)
                }
                if has_avx512() {
                    // SAFETY: `has_avx512` has just confirmed that this CPU supports
                    // AVX-512F, AVX2 and FMA, the only requirements of `avx512`.
                    return unsafe { avx512($($arg),*) };
                }
                if has_avx2_fma() {
                    // SAFETY: `has_avx2_fma` has just confirmed that this CPU supports AVX2
                    // and FMA, the only requirements of `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($base)* $($arg),*)
        }
    };
}

dispatch! {
    /// Whether any value is NaN or infinite (an exponent of all ones marks both): the
    /// check of every `f32` row of a batch, branch-free so that it vectorises; the caller looks for the offending index
    /// only when it returns true.
    pub fn any_non_finite_f32(x: &[f32]) -> bool
        = micro crate::kernels::non_finite_body;
}

dispatch! {
    /// Rounds `x` to `f32` into `out` (`v as f32`, the first `min(x.len(), out.len())`
    /// values) and tells whether any of them is NaN or beyond `limit` in magnitude: the
    /// check and conversion of a single `f64` row in one pass.
    pub fn narrow_check_f64(x: &[f64], limit: f64, out: &mut [f32]) -> bool
        = micro crate::kernels::narrow_check_body;
}

dispatch! {
    /// `a · b` in the canonical order of [`crate::kernels::dot_f32_8acc`] (the shorter
    /// length): a normalizer's `‖x‖²`, k-means' `‖c‖²`.
    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32
        = micro blocked::pair::<Dot, _>;
}

dispatch! {
    /// `out[j] = intercept[j] + coef_j · x` for every output `j` (`coef` row-major,
    /// `out.len()` rows of `x.len()`): a linear model's single row.
    pub fn linear_f32(x: &[f32], coef: &[f32], intercept: &[f32], out: &mut [f32])
        = micro crate::family::linear::linear_f32_body;
}

dispatch! {
    /// A linear model over a batch: `x` holds rows of `nf` values, `scores` gets `n_out`
    /// per row, bit for bit [`linear_f32`] of each row.
    pub fn linear_rows_f32(x: &[f32], nf: usize, coef: &[f32], intercept: &[f32], n_out: usize, scores: &mut [f32], packed: Option<&Packed>)
        = micro crate::family::linear::linear_rows_body;
}

dispatch! {
    /// One dense layer: `out = a(weights · x + bias)` (`weights` row-major, one row per
    /// output).
    pub fn dense_f32(x: &[f32], weights: &[f32], bias: &[f32], a: Activation, out: &mut [f32])
        = micro crate::family::dense::dense_f32_body;
}

dispatch! {
    /// One dense layer over a batch: `x` holds rows of `n_in` values, `out` gets
    /// `bias.len()` per row, bit for bit [`dense_f32`] of each row.
    pub fn dense_rows_f32(x: &[f32], n_in: usize, weights: &[f32], bias: &[f32], a: Activation, out: &mut [f32], packed: Option<&Packed>)
        = micro crate::family::dense::dense_rows_body;
}

dispatch! {
    /// Distances from `x` to each of the `out.len()` centres, `sqrt(max((-2 x · c + ‖x‖²)
    /// + ‖c‖², 0))` with `norms` the centres' `‖c‖²`
    /// ([`center_norms_f32`](crate::kernels::center_norms_f32)); returns the index of the
    /// nearest (ties to the first).
    pub fn kmeans_f32(x: &[f32], centers: &[f32], norms: &[f32], out: &mut [f32]) -> usize
        = micro crate::family::kmeans::kmeans_f32_body;
}

dispatch! {
    /// k-means over a batch: `x` holds rows of `n_in` values; `out` gets the `k` distances
    /// per row and `nearest` the nearest centre of each row, bit for bit [`kmeans_f32`].
    pub fn kmeans_rows_f32(x: &[f32], n_in: usize, centers: &[f32], norms: &[f32], k: usize, out: &mut [f32], nearest: &mut [usize])
        = micro crate::family::kmeans::kmeans_rows_body;
}

dispatch! {
    /// PCA: `out_j = ((x - mean) · components_j) / whiten_j`; `x` is centred in place.
    pub fn pca_f32(x: &mut [f32], mean: &[f32], components: &[f32], whiten: Option<&[f32]>, out: &mut [f32])
        = micro crate::family::pca::pca_f32_body;
}

dispatch! {
    /// PCA over a batch: `x` holds rows of `n_in` values (centred in place), `out` gets
    /// `n_out` per row, bit for bit [`pca_f32`] of each row.
    pub fn pca_rows_f32(x: &mut [f32], n_in: usize, mean: &[f32], components: &[f32], whiten: Option<&[f32]>, n_out: usize, out: &mut [f32], packed: Option<&Packed>)
        = micro crate::family::pca::pca_rows_body;
}

dispatch! {
    /// PCA over a batch without changing the rows: each row of `rows` (`n_in` values) is
    /// centred into `centred` as it is copied, then projected into `out` (as many values
    /// per row as `out.len()` over the number of rows), bit for bit [`pca_rows_f32`].
    pub fn pca_copy_rows_f32(rows: &[f32], n_in: usize, mean: &[f32], components: &[f32], whiten: Option<&[f32]>, centred: &mut [f32], out: &mut [f32], packed: Option<&Packed>)
        = micro crate::family::pca::pca_copy_rows_body;
}

dispatch! {
    /// `K(x, sv_s)` in `f64` for every support vector of an SVM.
    pub fn svm_kernel_values_f64(m: &Svm<'_>, x: &[f64], out: &mut [f64])
        = micro crate::family::svm::kernel_values_body;
}

dispatch! {
    /// Rows against weight rows: `out[r · n_out + j] = x_r · w_j`, each in the order of
    /// [`crate::kernels::dot_f32_8acc`].
    pub fn rows_dot_f32(x: &[f32], n: usize, w: &[f32], n_out: usize, out: &mut [f32], packed: Option<&Packed>)
        = micro blocked::rows_all::<Dot, _>;
}

dispatch! {
    /// Rows against centres: `out[r · n_out + j] = ‖x_r − w_j‖²`, each in the order of
    /// [`crate::kernels::sq_dist_f32_8acc`].
    pub fn rows_sq_dist_f32(x: &[f32], n: usize, w: &[f32], n_out: usize, out: &mut [f32], packed: Option<&Packed>)
        = micro blocked::rows_all::<SqDist, _>;
}

/// The AVX2+FMA and AVX-512 micro-kernels (x86_64).
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use crate::blocked::{panel_width, Micro, Packed, Term, PANEL};
    use std::arch::x86_64::{
        __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm256_sub_ps, _mm_add_ps, _mm_cvtss_f32, _mm_hadd_ps,
    };

    /// Proof that the CPU has AVX2 and FMA: made only inside the AVX2+FMA copies of the
    /// entry points, which run only after the check.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[inline(always)]
        pub(crate) unsafe fn new_unchecked() -> Self {
            Avx2(())
        }
    }

    impl Micro for Avx2 {
        const WIDE: bool = false;

        #[inline(always)]
        fn micro<T: Term, const R: usize, const C: usize>(
            self,
            rows: [&[f32]; R],
            ws: [&[f32]; C],
            n: usize,
        ) -> [[f32; C]; R] {
            // SAFETY: an `Avx2` exists only on a CPU with AVX2 and FMA (see
            // `new_unchecked`).
            unsafe { micro_avx2::<T, R, C>(rows, ws, n) }
        }

        #[inline(always)]
        fn sv_f64<const SQ: bool, const N: usize>(self, x: &[f64], svs: [&[f32]; N]) -> [f64; N] {
            self.sv(x, svs, SQ)
        }
    }

    impl Avx2 {
        #[inline(always)]
        pub(crate) fn sv<const N: usize>(
            self,
            x: &[f64],
            svs: [&[f32]; N],
            squared: bool,
        ) -> [f64; N] {
            // SAFETY: an `Avx2` exists only on a CPU with AVX2 and FMA (see
            // `new_unchecked`).
            unsafe { sv_avx2(x, svs, squared) }
        }
    }

    /// `N` support vectors against one `f64` row, one 256-bit register of four `f64` lanes
    /// per support vector (`N` independent chains): lane `k` sums the terms
    /// `i ≡ k (mod 4)` in order, the product rounded before the add, exactly as
    /// `family::svm::dot_f64` / `sq_dist_f64` (`(l0 + l2) + (l1 + l3)`, then the remaining
    /// terms one by one, in scalar code).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sv_avx2<const N: usize>(x: &[f64], svs: [&[f32]; N], squared: bool) -> [f64; N] {
        use std::arch::x86_64::{
            _mm256_add_pd, _mm256_cvtps_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd,
            _mm256_storeu_pd, _mm256_sub_pd, _mm_loadu_ps,
        };
        let n = svs.iter().fold(x.len(), |n, s| n.min(s.len()));
        let chunks = n / 4;
        let mut acc = [_mm256_setzero_pd(); N];
        for ch in 0..chunks {
            let o = ch * 4;
            // SAFETY: `o + 4 <= n <= x.len()`.
            let xv = unsafe { _mm256_loadu_pd(x.as_ptr().add(o)) };
            for j in 0..N {
                // SAFETY: `o + 4 <= n <= svs[j].len()`; four `f32` are read.
                let sv = _mm256_cvtps_pd(unsafe { _mm_loadu_ps(svs[j].as_ptr().add(o)) });
                let t = if squared {
                    let d = _mm256_sub_pd(xv, sv);
                    _mm256_mul_pd(d, d)
                } else {
                    _mm256_mul_pd(xv, sv)
                };
                acc[j] = _mm256_add_pd(acc[j], t);
            }
        }
        let mut out = [0.0f64; N];
        for j in 0..N {
            let mut l = [0.0f64; 4];
            // SAFETY: `l` holds the four values the store writes.
            unsafe { _mm256_storeu_pd(l.as_mut_ptr(), acc[j]) };
            let mut s = (l[0] + l[2]) + (l[1] + l[3]);
            for (a, b) in x[chunks * 4..n].iter().zip(&svs[j][chunks * 4..n]) {
                let b = f64::from(*b);
                s += if squared { (a - b) * (a - b) } else { a * b };
            }
            out[j] = s;
        }
        out
    }

    /// Proof that the CPU has AVX-512F, AVX2 and FMA: made only inside the AVX-512 copies of
    /// the entry points, which run only after the check.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        /// # Safety
        /// The CPU must support AVX-512F, AVX2 and FMA.
        #[inline(always)]
        pub(crate) unsafe fn new_unchecked() -> Self {
            Avx512(())
        }

        /// The AVX2+FMA kernel, for the shapes this one leaves to it: an `Avx512` proves
        /// AVX2 and FMA too (`has_avx512` checks all three).
        #[inline(always)]
        fn avx2(self) -> Avx2 {
            Avx2(())
        }
    }

    impl Micro for Avx512 {
        const WIDE: bool = true;

        #[inline(always)]
        fn micro<T: Term, const R: usize, const C: usize>(
            self,
            rows: [&[f32]; R],
            ws: [&[f32]; C],
            n: usize,
        ) -> [[f32; C]; R] {
            if C % 2 == 0 && R > 1 {
                // SAFETY: an `Avx512` exists only on a CPU with AVX-512F, AVX2 and FMA (see
                // `new_unchecked`).
                unsafe { micro_avx512::<T, R, C>(rows, ws, n) }
            } else {
                self.avx2().micro::<T, R, C>(rows, ws, n)
            }
        }

        #[inline(always)]
        fn sv_f64<const SQ: bool, const N: usize>(self, x: &[f64], svs: [&[f32]; N]) -> [f64; N] {
            self.avx2().sv(x, svs, SQ)
        }

        #[inline(always)]
        fn packed_rows<T: Term>(
            self,
            x: &[f32],
            n: usize,
            packed: &Packed,
            w: &[f32],
            out: &mut [f32],
        ) -> bool {
            let n_rows = x.len() / n;
            let n_out = packed.n_out();
            let group = GROUP_ROWS.max(1);
            let mut g = 0;
            while g < n_rows {
                let end = (g + group).min(n_rows);
                let mut j0 = 0;
                while j0 < n_out {
                    // The rows are prefetched ahead on the first panel's pass; with two
                    // panels at most (up to 16 weight rows), on both.
                    let prefetch = j0 == 0 || n_out <= 2 * PANEL;
                    let width = panel_width(n_out, j0);
                    // Five pairs take four rows at a time (20 accumulators), fewer six.
                    let step = if width > PANEL { 4 } else { 6 };
                    let mut r = g;
                    while r < end {
                        let rows = (end - r).min(step);
                        let args = (x, r, n, packed, w, j0, prefetch);
                        match rows {
                            6 => packed_block::<T, 6>(args, out),
                            5 => packed_block::<T, 5>(args, out),
                            4 => packed_block::<T, 4>(args, out),
                            3 => packed_block::<T, 3>(args, out),
                            2 => packed_block::<T, 2>(args, out),
                            _ => packed_block::<T, 1>(args, out),
                        }
                        r += rows;
                    }
                    j0 += width;
                }
                g = end;
            }
            true
        }
    }

    /// Rows a group of the packed kernel takes through every panel before the next group:
    /// each panel (up to 8 × 784 weights, 25 kB) is read from the L2 cache once per group
    /// of rows rather than once per six rows, the group's rows (75 kB at 784 features) stay
    /// in L2 between panels.
    const GROUP_ROWS: usize = 24;

    /// `(x, r, n, packed, w, j0, prefetch)` of [`packed_block`].
    type BlockArgs<'a> = (&'a [f32], usize, usize, &'a Packed, &'a [f32], usize, bool);

    /// Rows `r..r + R` of `x` against the panel of `packed` at weight row `j0` (see
    /// [`Packed`]): the sums by [`panel_avx512`], then the last `n % 8` terms of each pair
    /// from the row-major weights `w`, added last as in [`micro_avx2`].
    #[inline(always)]
    fn packed_block<T: Term, const R: usize>(
        (x, r, n, packed, w, j0, prefetch): BlockArgs<'_>,
        out: &mut [f32],
    ) {
        let n_out = packed.n_out();
        let chunks = n / 8;
        let rows: [&[f32]; R] = std::array::from_fn(|k| &x[(r + k) * n..(r + k + 1) * n]);
        {
            let width = panel_width(n_out, j0);
            let panel = packed.panel(j0);
            let mut tails = [[0.0f32; 16]; R];
            if n % 8 != 0 {
                for (k, row) in rows.iter().enumerate() {
                    for c in 0..width {
                        let wc = &w[(j0 + c) * n + chunks * 8..(j0 + c + 1) * n];
                        let mut tail = 0.0f32;
                        for (a, b) in row[chunks * 8..].iter().zip(wc) {
                            tail = T::acc(tail, *a, *b);
                        }
                        tails[k][c] = tail;
                    }
                }
            }
            // SAFETY: an `Avx512` (the caller) exists only on a CPU with AVX-512F, AVX2
            // and FMA.
            let sums = unsafe {
                match width.div_ceil(2) {
                    // `packed_rows` gives a panel of five pairs at most four rows (more
                    // would give the same sums, spilling accumulators).
                    5 => panel_avx512::<T, R, 5>(rows, panel, chunks, &tails, prefetch),
                    4 => panel_avx512::<T, R, 4>(rows, panel, chunks, &tails, prefetch),
                    3 => panel_avx512::<T, R, 3>(rows, panel, chunks, &tails, prefetch),
                    2 => panel_avx512::<T, R, 2>(rows, panel, chunks, &tails, prefetch),
                    _ => panel_avx512::<T, R, 1>(rows, panel, chunks, &tails, prefetch),
                }
            };
            for (k, s) in sums.iter().enumerate() {
                let o = (r + k) * n_out + j0;
                out[o..o + width].copy_from_slice(&s[..width]);
            }
        }
    }

    /// `R` rows against one panel of `2P` weight rows re-packed ([`Packed`]): one 512-bit
    /// accumulator per row and pair of weight rows, its low half the eight lanes of
    /// `(row, w_2p)`, its high half those of `(row, w_2p+1)`, exactly as [`micro_avx512`]'s,
    /// but each pair's sixteen weights are one load (no insert). Lane `k` of each pair
    /// accumulates the terms `i ≡ k (mod 8)` in order by fused multiply-adds. The lanes of
    /// eight pairs are then added together in registers ([`reduce8`], the order of
    /// [`crate::blocked::lanes8`]) and `tails` (the sums of the last `n % 8` terms) added
    /// last. Returns each row's `2P` sums (the rest of the eight zero).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn panel_avx512<T: Term, const R: usize, const P: usize>(
        rows: [&[f32]; R],
        panel: &[f32],
        chunks: usize,
        tails: &[[f32; 16]; R],
        prefetch: bool,
    ) -> [[f32; 16]; R] {
        use std::arch::x86_64::{
            __m512, _mm256_add_ps, _mm256_castps_pd, _mm256_storeu_ps, _mm512_broadcast_f64x4,
            _mm512_castpd_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_setzero_ps, _mm512_sub_ps,
            _mm_prefetch, _MM_HINT_T0,
        };
        /// How far ahead (values) each row is prefetched.
        const PREFETCH: usize = 128;
        // The loads below read `rows[r][o..o + 8]` with `o + 8 <= chunks · 8` and
        // `panel[(ch · P + p) · 16..+ 16]` with `ch < chunks`, `p < P`: in bounds, which
        // this checks once.
        assert!(rows.iter().all(|r| r.len() >= chunks * 8) && panel.len() >= chunks * P * 16);
        let mut acc: [[__m512; P]; R] = [[_mm512_setzero_ps(); P]; R];
        let mut wp = panel.as_ptr();
        for ch in 0..chunks {
            let o = ch * 8;
            let mut wv: [__m512; P] = [_mm512_setzero_ps(); P];
            for (p, v) in wv.iter_mut().enumerate() {
                // SAFETY: `wp` is `panel[(ch · P) · 16..]`, read up to `(ch · P + P) · 16
                // <= panel.len()` (asserted).
                *v = unsafe { _mm512_loadu_ps(wp.add(p * 16)) };
            }
            for r in 0..R {
                if prefetch && ch % 2 == 0 {
                    // A hint only: the address may be past the row (never read).
                    _mm_prefetch::<_MM_HINT_T0>(
                        rows[r].as_ptr().wrapping_add(o + PREFETCH).cast::<i8>(),
                    );
                }
                // SAFETY: `o + 8 <= chunks · 8 <= rows[r].len()` (asserted above).
                let x8 = unsafe { _mm256_loadu_ps(rows[r].as_ptr().add(o)) };
                let xv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(x8)));
                for p in 0..P {
                    acc[r][p] = if T::SQUARED {
                        let d = _mm512_sub_ps(xv, wv[p]);
                        _mm512_fmadd_ps(d, d, acc[r][p])
                    } else {
                        _mm512_fmadd_ps(xv, wv[p], acc[r][p])
                    };
                }
            }
            // SAFETY: at most one past the panel's last pair (`ch + 1 <= chunks`).
            wp = unsafe { wp.add(P * 16) };
        }
        let mut out = [[0.0f32; 16]; R];
        for r in 0..R {
            let z = _mm512_setzero_ps();
            let a = |p: usize| if p < P { acc[r][p] } else { z };
            // SAFETY: this function's own requirements.
            let lanes = unsafe { reduce8(a(0), a(1), a(2), a(3)) };
            // SAFETY: `tails[r]` holds sixteen values, eight read.
            let t = unsafe { _mm256_loadu_ps(tails[r].as_ptr()) };
            // SAFETY: `out[r]` holds sixteen values, eight written.
            unsafe { _mm256_storeu_ps(out[r].as_mut_ptr(), _mm256_add_ps(lanes, t)) };
            if P > 4 {
                // The fifth pair (weight rows 8 and 9), reduced alone the same way.
                // SAFETY: this function's own requirements.
                let lanes = unsafe { reduce8(a(4), z, z, z) };
                // SAFETY: `tails[r][8..]` and `out[r][8..]` hold eight values each.
                unsafe {
                    let t = _mm256_loadu_ps(tails[r].as_ptr().add(8));
                    _mm256_storeu_ps(out[r].as_mut_ptr().add(8), _mm256_add_ps(lanes, t));
                }
            }
        }
        out
    }

    /// The eight sums of four paired accumulators (`a_p`: pair `2p` in the low half, pair
    /// `2p + 1` in the high half), each pair's eight lanes added in the order of
    /// [`crate::blocked::lanes8`] and of [`lanes8_avx`] (`s_k = l_k + l_(k+4)`, then
    /// `(s_0 + s_1) + (s_2 + s_3)`, each addition with the same operands in the same
    /// places), for the eight pairs at once: two 128-bit shuffles and an add give every
    /// pair's `s`, two in-lane shuffles and an add their `s_0 + s_1` and `s_2 + s_3`, two
    /// more and an add the sums, a permutation puts them in pair order.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn reduce8(
        a0: std::arch::x86_64::__m512,
        a1: std::arch::x86_64::__m512,
        a2: std::arch::x86_64::__m512,
        a3: std::arch::x86_64::__m512,
    ) -> __m256 {
        use std::arch::x86_64::{
            _mm512_add_ps, _mm512_castps512_ps256, _mm512_permutexvar_ps, _mm512_set_epi32,
            _mm512_shuffle_f32x4, _mm512_shuffle_ps,
        };
        // Quarters (128 bits) of `a_p`: q0 = lanes 0-3 and q1 = lanes 4-7 of pair 2p,
        // q2, q3 those of pair 2p + 1. `lo` takes q0, q2 of two registers, `hi` q1, q3:
        // `lo + hi` holds `s` of pairs (2p, 2p + 1, 2p', 2p' + 1).
        let s01 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(a0, a1),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(a0, a1),
        ); // quarters: s of pairs 0, 1, 2, 3
        let s23 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(a2, a3),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(a2, a3),
        ); // quarters: s of pairs 4, 5, 6, 7
           // In quarter i: [s0 + s1, s2 + s3] of pair i, then of pair 4 + i.
        let u = _mm512_add_ps(
            _mm512_shuffle_ps::<0b10_00_10_00>(s01, s23),
            _mm512_shuffle_ps::<0b11_01_11_01>(s01, s23),
        );
        // In quarter i: the sum of pair i, of pair 4 + i (then the same again).
        let v = _mm512_add_ps(
            _mm512_shuffle_ps::<0b10_00_10_00>(u, u),
            _mm512_shuffle_ps::<0b11_01_11_01>(u, u),
        );
        let order = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 13, 9, 5, 1, 12, 8, 4, 0);
        _mm512_castps512_ps256(_mm512_permutexvar_ps(order, v))
    }

    /// `R` rows against `C` weight rows (`C` even), one 512-bit accumulator per row and
    /// pair of weight rows: its low half holds the eight lanes of `(row, w_2p)`, its high
    /// half those of `(row, w_2p+1)`. Each row's eight values are loaded into both halves
    /// (a broadcast load), each pair of weight rows' into one register (a load and an
    /// insert), and one 512-bit fused multiply-add advances both pairs' lanes: lane `k` of
    /// each pair accumulates the terms `i ≡ k (mod 8)` in order, exactly as
    /// [`micro_avx2`]'s. Each half is then reduced as the AVX2 kernel reduces a register.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn micro_avx512<T: Term, const R: usize, const C: usize>(
        rows: [&[f32]; R],
        ws: [&[f32]; C],
        n: usize,
    ) -> [[f32; C]; R] {
        use std::arch::x86_64::{
            __m512, _mm256_castpd_ps, _mm256_castps_pd, _mm512_broadcast_f64x4,
            _mm512_castpd256_pd512, _mm512_castpd_ps, _mm512_castps512_ps256, _mm512_castps_pd,
            _mm512_extractf64x4_pd, _mm512_fmadd_ps, _mm512_insertf64x4, _mm512_setzero_ps,
            _mm512_sub_ps,
        };
        // The loads below read `[o, o + 8)` with `o + 8 <= chunks · 8 <= n`: in bounds of
        // every slice, which this checks once.
        assert!(rows.iter().all(|r| r.len() >= n) && ws.iter().all(|w| w.len() >= n));
        let chunks = n / 8;
        // Only the first `C / 2` of each row's accumulators are used.
        let mut acc: [[__m512; C]; R] = [[_mm512_setzero_ps(); C]; R];
        for ch in 0..chunks {
            let o = ch * 8;
            let mut wv: [__m512; C] = [_mm512_setzero_ps(); C];
            for p in 0..C / 2 {
                // SAFETY: `o + 8 <= n <= ws[2p].len()` and `ws[2p + 1].len()` (asserted).
                let (lo, hi) = unsafe {
                    (
                        _mm256_loadu_ps(ws[2 * p].as_ptr().add(o)),
                        _mm256_loadu_ps(ws[2 * p + 1].as_ptr().add(o)),
                    )
                };
                wv[p] = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                    _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                    _mm256_castps_pd(hi),
                ));
            }
            for r in 0..R {
                // SAFETY: `o + 8 <= n <= rows[r].len()` (asserted above).
                let x8 = unsafe { _mm256_loadu_ps(rows[r].as_ptr().add(o)) };
                let xv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(x8)));
                for p in 0..C / 2 {
                    acc[r][p] = if T::SQUARED {
                        let d = _mm512_sub_ps(xv, wv[p]);
                        _mm512_fmadd_ps(d, d, acc[r][p])
                    } else {
                        _mm512_fmadd_ps(xv, wv[p], acc[r][p])
                    };
                }
            }
        }
        let mut out = [[0.0f32; C]; R];
        for r in 0..R {
            for c in 0..C {
                let a = acc[r][c / 2];
                let half = if c % 2 == 0 {
                    _mm512_castps512_ps256(a)
                } else {
                    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(a)))
                };
                let mut tail = 0.0f32;
                for (x, w) in rows[r][chunks * 8..n].iter().zip(&ws[c][chunks * 8..n]) {
                    tail = T::acc(tail, *x, *w);
                }
                // SAFETY: this function's own requirements include AVX2 and FMA.
                out[r][c] = unsafe { lanes8_avx(half) } + tail;
            }
        }
        out
    }

    /// `acc + term(x, w)` for eight lanes, one fused multiply-add each (one rounding), as
    /// [`Term::acc`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_term<T: Term>(acc: __m256, x: __m256, w: __m256) -> __m256 {
        if T::SQUARED {
            let d = _mm256_sub_ps(x, w);
            _mm256_fmadd_ps(d, d, acc)
        } else {
            _mm256_fmadd_ps(x, w, acc)
        }
    }

    /// `R` rows against `C` weight rows with one 256-bit accumulator per pair: lane `k`
    /// accumulates the terms `i ≡ k (mod 8)` in order by fused multiply-adds, exactly as the
    /// portable kernel's lane `k` (`f32::mul_add`); the lanes and the remainder are added by
    /// the same scalar code.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn micro_avx2<T: Term, const R: usize, const C: usize>(
        rows: [&[f32]; R],
        ws: [&[f32]; C],
        n: usize,
    ) -> [[f32; C]; R] {
        // The loads below read `[o, o + 8)` with `o + 8 <= chunks · 8 <= n`: in bounds of
        // every slice, which this checks once.
        assert!(rows.iter().all(|r| r.len() >= n) && ws.iter().all(|w| w.len() >= n));
        let chunks = n / 8;
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        for ch in 0..chunks {
            let o = ch * 8;
            let mut xv = [_mm256_setzero_ps(); R];
            for r in 0..R {
                // SAFETY: `o + 8 <= n <= rows[r].len()` (asserted above).
                xv[r] = unsafe { _mm256_loadu_ps(rows[r].as_ptr().add(o)) };
            }
            for c in 0..C {
                // SAFETY: `o + 8 <= n <= ws[c].len()` (asserted above).
                let wv = unsafe { _mm256_loadu_ps(ws[c].as_ptr().add(o)) };
                for r in 0..R {
                    // SAFETY: this function's own requirement (AVX2 and FMA).
                    acc[r][c] = unsafe { fma_term::<T>(acc[r][c], xv[r], wv) };
                }
            }
        }
        let mut out = [[0.0f32; C]; R];
        for r in 0..R {
            for c in 0..C {
                let mut tail = 0.0f32;
                for (x, w) in rows[r][chunks * 8..n].iter().zip(&ws[c][chunks * 8..n]) {
                    tail = T::acc(tail, *x, *w);
                }
                // SAFETY: this function's own requirement (AVX2 and FMA).
                out[r][c] = unsafe { lanes8_avx(acc[r][c]) } + tail;
            }
        }
        out
    }

    /// The eight lanes of `v` added in the order of [`crate::blocked::lanes8`]:
    /// `((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))` (the high half added to the low
    /// one, then two horizontal adds of neighbours), without a trip through memory.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes8_avx(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let h = _mm_hadd_ps(s, s);
        _mm_cvtss_f32(_mm_hadd_ps(h, h))
    }
}
