//! The dispatched dense kernels (`icebreak_engine::simd`) against their baseline copies and
//! against the single-pair kernels, bit for bit: the blocked batch products must sum every
//! pair in the canonical fused multiply-add order of `dot_f32_8acc` / `sq_dist_f32_8acc`,
//! k-means must be the product form written out, and the AVX2+FMA copies (when the CPU has
//! AVX2 and FMA) must answer exactly like the baseline ones (`f32::mul_add`, on x86_64 the C
//! library's `fmaf`).

use icebreak_engine::kernels::{
    activate_f32, center_norms_f32, dense_f32, dense_rows_f32, dot_f32, dot_f32_8acc, kmeans_f32,
    kmeans_rows_f32, linear_f32, linear_rows_f32, pca_copy_rows_f32, pca_f32, pca_rows_f32,
    rows_dot_f32, rows_sq_dist_f32, sq_dist_f32_8acc,
};
use icebreak_engine::{simd, Packed};
use icebreak_format::Activation;
use proptest::collection::vec;
use proptest::prelude::*;

/// Values over many magnitudes (cancellation, tiny and huge terms), and exact zeros.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -2.0f32..2.0,
        1 => Just(0.0f32),
        1 => -1e18f32..1e18,
        1 => -1e-18f32..1e-18,
    ]
}

/// `(n, n_rows, n_out, rows, weights, bias)`: `n_rows` rows of `n` values against `n_out`
/// weight rows; sizes cross the 8-lane chunks, the 4-row and 2-, 4- and 8-output blocks
/// and their remainders.
fn problem() -> impl Strategy<Value = (usize, usize, usize, Vec<f32>, Vec<f32>, Vec<f32>)> {
    (0usize..40, 0usize..11, 0usize..20).prop_flat_map(|(n, r, o)| {
        (
            Just(n),
            Just(r),
            Just(o),
            vec(value(), n * r),
            vec(value(), n * o),
            vec(value(), o),
        )
    })
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Identity),
        Just(Activation::Relu),
        Just(Activation::Tanh),
        Just(Activation::Logistic),
    ]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Runs `f` with the widest copies (the AVX-512 ones, unless the case turned them off with
/// `force_no_avx512`: each proptest below draws both), then with the baseline ones; both
/// results.
fn both<T>(mut f: impl FnMut() -> T) -> (T, T) {
    simd::force_portable(false);
    let wide = f();
    simd::force_portable(true);
    let base = f();
    simd::force_portable(false);
    (wide, base)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn blocked_products_sum_each_pair_like_the_pair_kernels((n, r, o, x, w, _b) in problem(), no512 in any::<bool>()) {
        simd::force_no_avx512(no512);
        let (dot, dot_base) = both(|| {
            let mut out = vec![0.0f32; r * o];
            rows_dot_f32(&x, n, &w, o, &mut out, None);
            out
        });
        let (sq, sq_base) = both(|| {
            let mut out = vec![0.0f32; r * o];
            rows_sq_dist_f32(&x, n, &w, o, &mut out, None);
            out
        });
        // The weights re-packed: the AVX-512 kernel reads them (the others ignore them).
        let pk = Packed::new(&w, n, o).unwrap();
        prop_assert!(pk.bytes() <= 4 * ((o + 1) * n + 15));
        let (dot_pk, dot_pk_base) = both(|| {
            let mut out = vec![f32::NAN; r * o];
            rows_dot_f32(&x, n, &w, o, &mut out, Some(&pk));
            out
        });
        let (sq_pk, sq_pk_base) = both(|| {
            let mut out = vec![f32::NAN; r * o];
            rows_sq_dist_f32(&x, n, &w, o, &mut out, Some(&pk));
            out
        });
        prop_assert_eq!(bits(&dot), bits(&dot_base));
        prop_assert_eq!(bits(&sq), bits(&sq_base));
        prop_assert_eq!(bits(&dot_pk), bits(&dot_base));
        prop_assert_eq!(bits(&dot_pk_base), bits(&dot_base));
        prop_assert_eq!(bits(&sq_pk), bits(&sq_base));
        prop_assert_eq!(bits(&sq_pk_base), bits(&sq_base));
        for i in 0..r {
            for j in 0..o {
                let (xi, wj) = (&x[i * n..(i + 1) * n], &w[j * n..(j + 1) * n]);
                let (pair, pair_base) = both(|| dot_f32(xi, wj));
                prop_assert_eq!(pair.to_bits(), pair_base.to_bits());
                prop_assert_eq!(dot[i * o + j].to_bits(), pair.to_bits());
                prop_assert_eq!(dot[i * o + j].to_bits(), dot_f32_8acc(xi, wj).to_bits());
                prop_assert_eq!(sq[i * o + j].to_bits(), sq_dist_f32_8acc(xi, wj).to_bits());
            }
        }
    }

    #[test]
    fn linear_and_dense_batches_equal_their_rows(
        (n, r, o, x, w, b) in problem(),
        a in activation(),
        no512 in any::<bool>(),
    ) {
        simd::force_no_avx512(no512);
        let pk = Packed::new(&w, n, o).unwrap();
        let (lin, lin_base) = both(|| {
            let mut out = vec![0.0f32; r * o];
            linear_rows_f32(&x, n, &w, &b, o, &mut out, None);
            out
        });
        let (den, den_base) = both(|| {
            let mut out = vec![0.0f32; r * o];
            dense_rows_f32(&x, n, &w, &b, a, &mut out, None);
            out
        });
        let (lin_pk, lin_pk_base) = both(|| {
            let mut out = vec![f32::NAN; r * o];
            linear_rows_f32(&x, n, &w, &b, o, &mut out, Some(&pk));
            out
        });
        let (den_pk, den_pk_base) = both(|| {
            let mut out = vec![f32::NAN; r * o];
            dense_rows_f32(&x, n, &w, &b, a, &mut out, Some(&pk));
            out
        });
        prop_assert_eq!(bits(&lin), bits(&lin_base));
        prop_assert_eq!(bits(&den), bits(&den_base));
        prop_assert_eq!(bits(&lin_pk), bits(&lin_base));
        prop_assert_eq!(bits(&lin_pk_base), bits(&lin_base));
        prop_assert_eq!(bits(&den_pk), bits(&den_base));
        prop_assert_eq!(bits(&den_pk_base), bits(&den_base));
        for i in 0..r {
            let xi = &x[i * n..(i + 1) * n];
            let (row, row_base) = both(|| {
                let mut out = vec![0.0f32; o];
                linear_f32(xi, &w, &b, &mut out);
                out
            });
            prop_assert_eq!(bits(&row), bits(&row_base));
            prop_assert_eq!(bits(&row), bits(&lin[i * o..(i + 1) * o]));
            // The single-pair order, written out.
            let pairs: Vec<f32> = (0..o).map(|j| b[j] + dot_f32_8acc(xi, &w[j * n..(j + 1) * n])).collect();
            prop_assert_eq!(bits(&row), bits(&pairs));
            let (layer, layer_base) = both(|| {
                let mut out = vec![0.0f32; o];
                dense_f32(xi, &w, &b, a, &mut out);
                out
            });
            prop_assert_eq!(bits(&layer), bits(&layer_base));
            prop_assert_eq!(bits(&layer), bits(&den[i * o..(i + 1) * o]));
            let mut act = pairs.clone();
            activate_f32(&mut act, a);
            prop_assert_eq!(bits(&layer), bits(&act));
        }
    }

    #[test]
    fn kmeans_and_pca_batches_equal_their_rows((n, r, o, x, w, b) in problem(), whiten in any::<bool>(), no512 in any::<bool>()) {
        simd::force_no_avx512(no512);
        let norms = center_norms_f32(&w, n, o);
        for (j, cc) in norms.iter().enumerate() {
            let c = &w[j * n..(j + 1) * n];
            prop_assert_eq!(cc.to_bits(), dot_f32_8acc(c, c).to_bits());
        }
        let (km, km_base) = both(|| {
            let mut out = vec![0.0f32; r * o];
            let mut near = vec![0usize; r];
            kmeans_rows_f32(&x, n, &w, &norms, o, &mut out, &mut near);
            (out, near)
        });
        prop_assert_eq!(bits(&km.0), bits(&km_base.0));
        prop_assert_eq!(&km.1, &km_base.1);
        let mean: Vec<f32> = (0..n).map(|i| (i as f32) * 0.25 - 1.0).collect();
        let wh: Vec<f32> = b.iter().map(|v| v.abs() + 0.5).collect();
        let wo = whiten.then_some(&wh[..]);
        let (pc, pc_base) = both(|| {
            let mut xs = x.clone();
            let mut out = vec![0.0f32; r * o];
            pca_rows_f32(&mut xs, n, &mean, &w, wo, o, &mut out, None);
            out
        });
        prop_assert_eq!(bits(&pc), bits(&pc_base));
        let pk = Packed::new(&w, n, o).unwrap();
        let (pc_pk, pc_pk_base) = both(|| {
            let mut xs = x.clone();
            let mut out = vec![f32::NAN; r * o];
            pca_rows_f32(&mut xs, n, &mean, &w, wo, o, &mut out, Some(&pk));
            out
        });
        prop_assert_eq!(bits(&pc_pk), bits(&pc));
        prop_assert_eq!(bits(&pc_pk_base), bits(&pc));
        // Centring while copying is the same subtraction: the same bits, the rows untouched.
        let (pcc, pcc_base) = both(|| {
            let mut centred = vec![0.0f32; r * n];
            let mut out = vec![f32::NAN; r * o];
            pca_copy_rows_f32(&x, n, &mean, &w, wo, &mut centred, &mut out, Some(&pk));
            out
        });
        prop_assert_eq!(bits(&pcc), bits(&pc));
        prop_assert_eq!(bits(&pcc_base), bits(&pc));
        for i in 0..r {
            let xi = &x[i * n..(i + 1) * n];
            let ((d, c), (d_base, c_base)) = both(|| {
                let mut out = vec![0.0f32; o];
                let c = kmeans_f32(xi, &w, &norms, &mut out);
                (out, c)
            });
            // The product form, written out.
            let xx = dot_f32_8acc(xi, xi);
            let want: Vec<f32> = (0..o)
                .map(|j| {
                    let dot = dot_f32_8acc(xi, &w[j * n..(j + 1) * n]);
                    ((-2.0 * dot + xx) + norms[j]).max(0.0).sqrt()
                })
                .collect();
            prop_assert_eq!(bits(&d), bits(&want));
            prop_assert_eq!(bits(&d), bits(&d_base));
            prop_assert_eq!(c, c_base);
            prop_assert_eq!(bits(&d), bits(&km.0[i * o..(i + 1) * o]));
            if o > 0 {
                prop_assert_eq!(c, km.1[i]);
            }
            let (p, p_base) = both(|| {
                let mut xs = xi.to_vec();
                let mut out = vec![0.0f32; o];
                pca_f32(&mut xs, &mean, &w, wo, &mut out);
                out
            });
            prop_assert_eq!(bits(&p), bits(&p_base));
            prop_assert_eq!(bits(&p), bits(&pc[i * o..(i + 1) * o]));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The row check finds a NaN or an infinity wherever it is, in every copy.
    #[test]
    fn every_copy_of_the_row_check_finds_a_non_finite_value(
        x in vec(value(), 0..300),
        at in any::<usize>(),
        bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY), Just(f32::from_bits(0x7F80_0001)), Just(1.0f32)],
        no512 in any::<bool>(),
    ) {
        simd::force_no_avx512(no512);
        let mut x = x;
        if !x.is_empty() {
            let i = at % x.len();
            x[i] = bad;
        }
        let want = x.iter().any(|v| !v.is_finite());
        let (got, got_base) = both(|| simd::any_non_finite_f32(&x));
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_base, want);
    }
}

/// `f64` values for the single row's check and rounding: ordinary, beyond the `f32` range
/// (a little and far), at its edge, NaN, infinities and subnormal results.
fn value_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => -2.0f64..2.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::from(f32::MAX)),
        1 => Just(-f64::from(f32::MAX)),
        1 => Just(f64::from(f32::MAX) * (1.0 + f64::EPSILON)),
        1 => Just(1e300),
        1 => Just(1e-42),
        1 => -1e38f64..1e38,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The single row's one-pass check and rounding: every copy rounds each value as
    /// `v as f32` and flags a NaN or a magnitude beyond the limit wherever it is.
    #[test]
    fn every_copy_of_the_checked_rounding_rounds_and_flags(
        x in vec(value_f64(), 0..300),
        limit in prop_oneof![Just(f64::from(f32::MAX)), Just(f64::MAX)],
        extra in 0usize..3,
        no512 in any::<bool>(),
    ) {
        simd::force_no_avx512(no512);
        let want: Vec<u32> = x.iter().map(|v| (*v as f32).to_bits()).collect();
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let want_bad = x.iter().any(|v| !(v.abs() <= limit));
        let ((got, bad), (got_base, bad_base)) = both(|| {
            // `out` may be longer: only the first `x.len()` values are written.
            let mut out = vec![7.0f32; x.len() + extra];
            let bad = simd::narrow_check_f64(&x, limit, &mut out);
            (out, bad)
        });
        let mut untouched = got[x.len()..].iter().chain(&got_base[x.len()..]);
        prop_assert!(untouched.all(|v| *v == 7.0));
        prop_assert_eq!(&bits(&got[..x.len()]), &want);
        prop_assert_eq!(&bits(&got_base[..x.len()]), &want);
        prop_assert_eq!(bad, want_bad);
        prop_assert_eq!(bad_base, want_bad);
    }
}

#[test]
fn the_dispatch_names_an_instruction_set() {
    let isa = simd::kernel_isa();
    assert!(
        ["avx512", "avx2+fma", "neon", "sse2", "portable"].contains(&isa),
        "{isa}"
    );
    assert_eq!(isa == "avx512", simd::has_avx512());
    simd::force_no_avx512(true);
    assert_ne!(simd::kernel_isa(), "avx512");
    assert_eq!(simd::kernel_isa() == "avx2+fma", simd::has_avx2_fma());
    simd::force_portable(true);
    assert!(!["avx512", "avx2+fma"].contains(&simd::kernel_isa()));
    simd::force_portable(false);
    simd::force_no_avx512(false);
}

/// The canonical sum is fused: `fma(x, x, -c)` with `x = 1 + 2⁻¹²` and `c = 1 + 2⁻¹¹` (the
/// product rounded) is `2⁻²⁴`, where a product rounded before the add gives 0. Every copy
/// and path must give the fused value, in a lane (terms 0 and 8 of 18) and in the remainder.
#[test]
fn every_copy_rounds_each_multiply_add_once() {
    let x = 1.0f32 + f32::EPSILON * 2048.0; // 1 + 2^-12
    let c = 1.0f32 + f32::EPSILON * 4096.0; // 1 + 2^-11 = x · x rounded
    assert_eq!(x * x, c);
    let fused = f32::EPSILON / 2.0; // 2^-24
    for (a, b) in [
        (vec![1.0, x], vec![-c, x]),
        (
            {
                let mut a = vec![0.0f32; 18];
                a[0] = 1.0;
                a[8] = x;
                a
            },
            {
                let mut b = vec![0.0f32; 18];
                b[0] = -c;
                b[8] = x;
                b
            },
        ),
    ] {
        assert_eq!(dot_f32_8acc(&a, &b), fused);
        let n = a.len();
        // Eight weight rows: the AVX-512 batch block, then the AVX2 one.
        let w8 = b.repeat(8);
        for no512 in [false, true] {
            simd::force_no_avx512(no512);
            let (rows, rows_base) = both(|| {
                let mut out = vec![0.0f32; 4 * 8];
                rows_dot_f32(&a.repeat(4), n, &w8, 8, &mut out, None);
                out
            });
            assert_eq!(rows, vec![fused; 32]);
            assert_eq!(rows_base, rows);
            let pk = Packed::new(&w8, n, 8).unwrap();
            let (rows, rows_base) = both(|| {
                let mut out = vec![0.0f32; 4 * 8];
                rows_dot_f32(&a.repeat(4), n, &w8, 8, &mut out, Some(&pk));
                out
            });
            assert_eq!(rows, vec![fused; 32]);
            assert_eq!(rows_base, rows);
        }
        simd::force_no_avx512(false);
        let (got, base) = both(|| {
            let mut rows = vec![0.0f32; 4];
            rows_dot_f32(&a.repeat(4), n, &b, 1, &mut rows, None);
            let mut lin = [0.0f32; 1];
            linear_f32(&a, &b, &[0.0], &mut lin);
            (dot_f32(&a, &b), rows, lin[0])
        });
        assert_eq!(got, base);
        assert_eq!(got.0, fused);
        assert_eq!(got.1, vec![fused; 4]);
        assert_eq!(got.2, fused);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Batches long enough to cross the packed kernel's groups of rows (24) and its blocks
    /// of six (four for a last panel of nine or ten weight rows): the packed copy gives the
    /// bits of the baseline copy and of the single-pair kernel.
    #[test]
    fn packed_batches_cross_row_groups(
        (n, r, o, x, w) in (0usize..40, 20usize..60, 1usize..27).prop_flat_map(|(n, r, o)| {
            (Just(n), Just(r), Just(o), vec(value(), n * r), vec(value(), n * o))
        })
    ) {
        simd::force_no_avx512(false);
        let pk = Packed::new(&w, n, o).unwrap();
        let (got, base) = both(|| {
            let mut out = vec![f32::NAN; r * o];
            rows_dot_f32(&x, n, &w, o, &mut out, Some(&pk));
            out
        });
        prop_assert_eq!(bits(&got), bits(&base));
        for i in 0..r {
            for j in 0..o {
                let (xi, wj) = (&x[i * n..(i + 1) * n], &w[j * n..(j + 1) * n]);
                prop_assert_eq!(got[i * o + j].to_bits(), dot_f32_8acc(xi, wj).to_bits());
            }
        }
    }
}
