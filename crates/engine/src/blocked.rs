//! Blocked products of a block of rows against a block of weight rows, for the batch paths of
//! the dense families (linear models, MLP layers, PCA, k-means distances).
//!
//! Every `(row, weight row)` pair is summed in exactly the order of
//! [`dot_f32_8acc`](crate::kernels::dot_f32_8acc), the canonical f32 dot product: lane `k`
//! of eight accumulates the terms `i ≡ k (mod 8)` in feature order with fused multiply-adds
//! (`acc_k = fma(x_i, w_i, acc_k)`, one rounding per term); the lanes are added as
//! `((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))`; the remainder (fewer than eight
//! terms) is accumulated the same way from 0 and added last. Blocking only changes which
//! products are in flight together, so the batch answers are bit for bit the single-row
//! answers. The batch micro-kernel takes four rows against two weight rows: eight
//! accumulators of eight lanes (eight independent FMA chains, enough to cover the FMA
//! latency on two FMA ports), six loads per eight terms, which fits the sixteen vector
//! registers of x86_64 and leaves room on aarch64. A wide kernel ([`Micro::WIDE`], the
//! AVX-512 one, 32 registers) takes six rows against eight weight rows instead, and, given
//! the weights re-packed ([`Packed`]: two weight rows' chunks of eight side by side, so one
//! 512-bit load feeds two pairs' accumulators with no shuffle), runs
//! [`Micro::packed_rows`]: groups of rows through every panel of eight weight rows, the
//! lanes of eight pairs reduced together in registers. The model makes the packed copy on
//! its first batch on such a CPU (`Model::packed_for`); every other kernel reads the
//! row-major weights.
//!
//! The drivers are generic over the micro-kernel ([`Micro`]): [`Portable`] is plain Rust
//! (`f32::mul_add`, correctly rounded everywhere) the compiler vectorises where the target
//! has FMA; [`crate::simd`] passes its AVX2+FMA kernel (explicit 256-bit vectors, one
//! register per pair's eight lanes) on CPUs that have both.

/// The term a pair accumulates: a product (`x · w`) or a squared difference (`(x − w)²`),
/// added to its accumulator by one fused multiply-add.
pub(crate) trait Term {
    /// Whether the term is a squared difference (else a product); the vector kernels of
    /// [`crate::simd`] read it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // only the AVX2 kernel reads it
    const SQUARED: bool;
    /// `acc + term(x, w)`, rounded once: `fma(x, w, acc)`, or `fma(d, d, acc)` with
    /// `d = x − w` (the difference rounded first).
    fn acc(acc: f32, x: f32, w: f32) -> f32;
}

/// `x · w`: dot products.
pub(crate) struct Dot;
/// `(x − w)²`: squared Euclidean distances.
pub(crate) struct SqDist;

impl Term for Dot {
    const SQUARED: bool = false;
    #[inline(always)]
    fn acc(acc: f32, x: f32, w: f32) -> f32 {
        x.mul_add(w, acc)
    }
}

impl Term for SqDist {
    const SQUARED: bool = true;
    #[inline(always)]
    fn acc(acc: f32, x: f32, w: f32) -> f32 {
        let d = x - w;
        d.mul_add(d, acc)
    }
}

/// Adds eight lanes in the fixed order every f32 kernel uses.
#[inline(always)]
pub(crate) fn lanes8(a: &[f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// A micro-kernel: `R` rows against `C` weight rows, each pair summed in the order of the
/// module docs. [`Portable`] is the plain Rust one; `crate::simd` has an AVX2 one.
pub(crate) trait Micro: Copy {
    /// The batch driver gives this kernel six rows against eight weight rows at a time (its
    /// 32 registers hold 6 × 8 pairs' lanes: AVX-512; measured 1.1 × the throughput of four
    /// rows at a time on a 784-128 layer), else four rows against two.
    const WIDE: bool;

    /// `out[r][c]`, the term-sum of `rows[r][..n]` and `ws[c][..n]`.
    fn micro<T: Term, const R: usize, const C: usize>(
        self,
        rows: [&[f32]; R],
        ws: [&[f32]; C],
        n: usize,
    ) -> [[f32; C]; R];

    /// An SVM's `x · sv_j` (or `‖x − sv_j‖²` with `SQ`) in `f64` for `N` support vectors,
    /// each in the order of `family::svm::dot_f64` / `sq_dist_f64`.
    fn sv_f64<const SQ: bool, const N: usize>(self, x: &[f64], svs: [&[f32]; N]) -> [f64; N];

    /// Rows against weight rows from their re-packed copy ([`Packed`]), as [`rows_all`]
    /// computes them (the same bits): `true` when this kernel did it, `false` (the default,
    /// nothing written) when it has no kernel for the packed layout and the caller should
    /// run the row-major one. `w` is the row-major weights (`packed.n_out()` rows of
    /// `n`), read for the last `n % 8` terms.
    #[inline(always)]
    fn packed_rows<T: Term>(
        self,
        _x: &[f32],
        _n: usize,
        _packed: &Packed,
        _w: &[f32],
        _out: &mut [f32],
    ) -> bool {
        false
    }
}

/// Weight rows re-packed for the AVX-512 batch kernel, built once per model on its first
/// batch (never at creation, never on the single-row path).
///
/// The rows are cut into panels of eight (the last one of 1 to 10 rows, padded with a zero
/// row to an even count); within a panel, for each chunk of eight features (the first
/// `n / 8 · 8` features), each pair of weight rows `(2p, 2p + 1)` is sixteen consecutive
/// values, the pair's two chunks side by side: one aligned 512-bit load feeds a pair, in
/// the order the kernel reads them, with no shuffle to build it. The last `n % 8` features
/// are not copied (the kernel reads them from the row-major weights). The copy starts on a
/// 64-byte boundary and holds at most `(n_out + 1) · n + 15` values: the stage's own
/// weights, one row and an alignment pad (docs/SECURITY.md, "Limits").
#[derive(Clone)]
pub struct Packed {
    /// The packed values start at `data[start]`, a 64-byte boundary (so that no 512-bit
    /// load straddles two cache lines): `data` has up to fifteen values more.
    data: Vec<f32>,
    start: usize,
    len: usize,
    n: usize,
    n_out: usize,
}

/// The shape and size, not the values (a model's `Debug` would otherwise print every
/// weight again).
impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("n", &self.n)
            .field("n_out", &self.n_out)
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// Weight rows per panel of [`Packed`] (the last one may hold up to [`PANEL_MAX`]).
pub(crate) const PANEL: usize = 8;

/// Weight rows the last panel of [`Packed`] may hold: nine or ten weight rows left over are
/// one panel (five pairs, taken four rows at a time), not eight and a panel of one or two
/// pairs, so that a 784 → 10 product reads each row once, not twice.
pub(crate) const PANEL_MAX: usize = 10;

/// The width of the panel of `n_out` weight rows starting at `j0`.
#[inline(always)]
pub(crate) fn panel_width(n_out: usize, j0: usize) -> usize {
    let left = n_out - j0;
    if left <= PANEL_MAX {
        left
    } else {
        PANEL
    }
}

impl Packed {
    /// Packs `n_out` weight rows of `n` values (`w`, row-major; `None` when `w` is shorter
    /// than `n_out · n`).
    pub fn new(w: &[f32], n: usize, n_out: usize) -> Option<Packed> {
        let len = n.checked_mul(n_out)?;
        let w = w.get(..len)?;
        let chunks = n / 8;
        let padded = n_out + n_out % 2;
        let len = padded * chunks * 8;
        let mut data = vec![0.0f32; len + 15];
        let start = data.as_ptr().align_offset(64).min(15);
        let mut at = start;
        let mut j0 = 0;
        while j0 < n_out {
            let width = panel_width(n_out, j0);
            let pairs = width.div_ceil(2);
            for ch in 0..chunks {
                for p in 0..pairs {
                    for j in [j0 + 2 * p, j0 + 2 * p + 1] {
                        if j < n_out {
                            data[at..at + 8]
                                .copy_from_slice(&w[j * n + ch * 8..j * n + ch * 8 + 8]);
                        }
                        // A padding row stays zero.
                        at += 8;
                    }
                }
            }
            j0 += width;
        }
        Some(Packed {
            data,
            start,
            len,
            n,
            n_out,
        })
    }

    /// Values per weight row.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Weight rows.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Bytes the copy holds.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// The packed values.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 kernel
    fn values(&self) -> &[f32] {
        &self.data[self.start..self.start + self.len]
    }

    /// The panel of weight rows `j0..j0 + width` (`j0` a multiple of [`PANEL`]):
    /// `chunks · pairs · 16` values.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 kernel
    pub(crate) fn panel(&self, j0: usize) -> &[f32] {
        let chunks = self.n / 8;
        let width = panel_width(self.n_out, j0);
        let start = j0 * chunks * 8;
        &self.values()[start..start + width.div_ceil(2) * 2 * chunks * 8]
    }
}

/// The plain Rust micro-kernel: `f32::mul_add`, vectorised by the compiler where the
/// target has FMA (aarch64's NEON); on an x86_64 CPU without FMA each one is a call of the
/// C library's `fmaf`, exact but slow (such CPUs predate 2013).
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Micro for Portable {
    const WIDE: bool = false;

    #[inline(always)]
    fn micro<T: Term, const R: usize, const C: usize>(
        self,
        rows: [&[f32]; R],
        ws: [&[f32]; C],
        n: usize,
    ) -> [[f32; C]; R] {
        // Without hardware FMA (x86_64's baseline target) each `mul_add` is a call of the C
        // library's `fmaf`: nothing to vectorise, so every pair runs one out-of-line loop,
        // in the same order. This keeps the baseline copies small (they run only on CPUs
        // without AVX2 and FMA, where the calls dominate the time whatever the shape).
        #[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
        let out = {
            let mut out = [[0.0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    out[r][c] = pair_out_of_line::<T>(&rows[r][..n], &ws[c][..n]);
                }
            }
            out
        };
        // The shapes the single-row path uses most get kernels written with zipped chunk
        // iterators, which the compiler vectorises reliably (`R` and `C` are constants, so
        // the choice costs nothing at run time).
        #[cfg(not(all(target_arch = "x86_64", not(target_feature = "fma"))))]
        let out = {
            let mut out = [[0.0f32; C]; R];
            if R == 1 && C == 1 {
                out[0][0] = pair_zip::<T>(&rows[0][..n], &ws[0][..n]);
                out
            } else if R == 1 && C == 4 {
                let d = row_x4_zip::<T>(
                    &rows[0][..n],
                    [&ws[0][..n], &ws[1][..n], &ws[2][..n], &ws[3][..n]],
                );
                out[0].copy_from_slice(&d[..C]);
                out
            } else {
                micro::<T, R, C>(rows, ws, n)
            }
        };
        out
    }

    #[inline(always)]
    fn sv_f64<const SQ: bool, const N: usize>(self, x: &[f64], svs: [&[f32]; N]) -> [f64; N] {
        use crate::family::svm::{dot_f64, sq_dist_f64};
        svs.map(|sv| {
            if SQ {
                sq_dist_f64(x, sv)
            } else {
                dot_f64(x, sv)
            }
        })
    }
}

/// [`pair_zip`], never inlined: the baseline kernel of targets without hardware FMA.
#[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
#[inline(never)]
fn pair_out_of_line<T: Term>(x: &[f32], w: &[f32]) -> f32 {
    pair_zip::<T>(x, w)
}

/// One pair, eight lanes, over zipped chunks.
#[inline(always)]
fn pair_zip<T: Term>(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut cx = x.chunks_exact(8);
    let mut cw = w.chunks_exact(8);
    for (a, b) in (&mut cx).zip(&mut cw) {
        for k in 0..8 {
            acc[k] = T::acc(acc[k], a[k], b[k]);
        }
    }
    let mut tail = 0.0f32;
    for (a, b) in cx.remainder().iter().zip(cw.remainder()) {
        tail = T::acc(tail, *a, *b);
    }
    lanes8(&acc) + tail
}

/// One row against four weight rows, eight lanes each, over zipped chunks.
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "fma")),
    allow(dead_code)
)] // FMA targets only
#[inline(always)]
fn row_x4_zip<T: Term>(x: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
    let n = x.len();
    let mut acc = [[0.0f32; 8]; 4];
    let chunks = x
        .chunks_exact(8)
        .zip(w[0].chunks_exact(8))
        .zip(w[1].chunks_exact(8))
        .zip(w[2].chunks_exact(8))
        .zip(w[3].chunks_exact(8));
    for ((((xc, c0), c1), c2), c3) in chunks {
        for k in 0..8 {
            acc[0][k] = T::acc(acc[0][k], xc[k], c0[k]);
            acc[1][k] = T::acc(acc[1][k], xc[k], c1[k]);
            acc[2][k] = T::acc(acc[2][k], xc[k], c2[k]);
            acc[3][k] = T::acc(acc[3][k], xc[k], c3[k]);
        }
    }
    let start = n - n % 8;
    let mut out = [0.0f32; 4];
    for (c, wc) in w.iter().enumerate() {
        let mut tail = 0.0f32;
        for (a, b) in x[start..].iter().zip(&wc[start..n]) {
            tail = T::acc(tail, *a, *b);
        }
        out[c] = lanes8(&acc[c]) + tail;
    }
    out
}

/// The first `chunks` groups of eight values of `v`, as arrays: indexing them needs no
/// bounds check the compiler cannot remove, so the lane loops below vectorise.
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "fma")),
    allow(dead_code)
)] // FMA targets only
#[inline(always)]
fn eights(v: &[f32], chunks: usize) -> &[[f32; 8]] {
    bytemuck::cast_slice(&v[..chunks * 8])
}

/// `R` rows against `C` weight rows, each `n` long: `out[r][c]`, each pair in the order of
/// the module docs.
#[cfg_attr(
    all(target_arch = "x86_64", not(target_feature = "fma")),
    allow(dead_code)
)] // FMA targets only
#[inline(always)]
fn micro<T: Term, const R: usize, const C: usize>(
    rows: [&[f32]; R],
    ws: [&[f32]; C],
    n: usize,
) -> [[f32; C]; R] {
    let chunks = n / 8;
    let xs: [&[[f32; 8]]; R] = rows.map(|r| eights(r, chunks));
    let wv: [&[[f32; 8]]; C] = ws.map(|w| eights(w, chunks));
    let mut acc = [[[0.0f32; 8]; C]; R];
    for ch in 0..chunks {
        for c in 0..C {
            let w = wv[c][ch];
            for r in 0..R {
                let x = xs[r][ch];
                for k in 0..8 {
                    acc[r][c][k] = T::acc(acc[r][c][k], x[k], w[k]);
                }
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
            out[r][c] = lanes8(&acc[r][c]) + tail;
        }
    }
    out
}

/// One pair (the remainder of both blocks), in the same order.
#[inline(always)]
pub(crate) fn pair<T: Term, M: Micro>(m: M, x: &[f32], w: &[f32]) -> f32 {
    let n = x.len().min(w.len());
    m.micro::<T, 1, 1>([&x[..n]], [&w[..n]], n)[0][0]
}

/// One row against every weight row of `w` (`out.len()` rows of `x.len()` values):
/// `out[j] = term-sum(x, w_j)`, eight weight rows at a time (eight independent chains of
/// fused multiply-adds, enough to hide their latency), the last eight together with the
/// one to seven left over (9 to 15 chains in one pass, within the sixteen vector registers
/// of AVX2: the chains of the leftover rows overlap the block's instead of running after
/// it, each latency-bound: docs/BENCHMARKS.md, "Single-row fixed costs"). Fewer than eight
/// weight rows run in one pass too.
#[inline(always)]
pub(crate) fn row_all<T: Term, M: Micro>(m: M, x: &[f32], w: &[f32], out: &mut [f32]) {
    let n = x.len();
    if n == 0 {
        out.fill(0.0);
        return;
    }
    let n_out = out.len().min(w.len() / n);
    let rem = n_out % 8;
    // Full blocks of eight run alone, except the last one when rows are left over.
    let alone = if rem > 0 && n_out > 8 {
        n_out / 8 - 1
    } else {
        n_out / 8
    };
    let mut j = 0;
    for (block, o) in w
        .chunks_exact(8 * n)
        .zip(out.chunks_exact_mut(8))
        .take(alone)
    {
        row_block::<T, M, 8>(m, x, block, o);
        j += 8;
    }
    let (w, out) = (&w[j * n..n_out * n], &mut out[j..n_out]);
    match n_out - j {
        0 => {}
        1 => row_block::<T, M, 1>(m, x, w, out),
        2 => row_block::<T, M, 2>(m, x, w, out),
        3 => row_block::<T, M, 3>(m, x, w, out),
        4 => row_block::<T, M, 4>(m, x, w, out),
        5 => row_block::<T, M, 5>(m, x, w, out),
        6 => row_block::<T, M, 6>(m, x, w, out),
        7 => row_block::<T, M, 7>(m, x, w, out),
        9 => row_block::<T, M, 9>(m, x, w, out),
        10 => row_block::<T, M, 10>(m, x, w, out),
        11 => row_block::<T, M, 11>(m, x, w, out),
        12 => row_block::<T, M, 12>(m, x, w, out),
        13 => row_block::<T, M, 13>(m, x, w, out),
        14 => row_block::<T, M, 14>(m, x, w, out),
        _ => row_block::<T, M, 15>(m, x, w, out),
    }
}

/// One row against the `C` weight rows of `w` (`C · x.len()` values) in one pass:
/// `out[c] = term-sum(x, w_c)`.
#[inline(always)]
fn row_block<T: Term, M: Micro, const C: usize>(m: M, x: &[f32], w: &[f32], out: &mut [f32]) {
    let n = x.len();
    let ws: [&[f32]; C] = std::array::from_fn(|k| &w[k * n..(k + 1) * n]);
    out[..C].copy_from_slice(&m.micro::<T, 1, C>([x], ws, n)[0]);
}

/// Rows against weight rows: `x` holds rows of `n` values, `w` holds `n_out` rows of `n`
/// values; `out[r · n_out + j]` is the term-sum of row `r` and weight row `j`. With
/// `packed` (the same weights re-packed, [`Packed`]) a kernel that reads that layout
/// ([`Micro::packed_rows`]) runs instead, with the same bits.
#[inline(always)]
pub(crate) fn rows_all<T: Term, M: Micro>(
    m: M,
    x: &[f32],
    n: usize,
    w: &[f32],
    n_out: usize,
    out: &mut [f32],
    packed: Option<&Packed>,
) {
    if n == 0 {
        out.fill(0.0);
        return;
    }
    if let Some(p) = packed {
        if p.n() == n
            && p.n_out() == n_out
            && w.len() >= n * n_out
            && out.len() >= (x.len() / n) * n_out
            && m.packed_rows::<T>(x, n, p, w, out)
        {
            return;
        }
    }
    let n_rows = x.len() / n;
    let w = &w[..n_out * n];
    let mut r = 0;
    if M::WIDE {
        while r + WIDE_ROWS <= n_rows {
            block::<T, M, WIDE_ROWS>(m, x, r, n, w, n_out, out);
            r += WIDE_ROWS;
        }
    }
    while r + 4 <= n_rows {
        block::<T, M, 4>(m, x, r, n, w, n_out, out);
        r += 4;
    }
    while r < n_rows {
        row_all::<T, M>(
            m,
            &x[r * n..(r + 1) * n],
            w,
            &mut out[r * n_out..(r + 1) * n_out],
        );
        r += 1;
    }
}

/// Rows a wide kernel ([`Micro::WIDE`]) takes at a time: 6 × 8 pairs are 24 accumulators,
/// with four weight registers and one row register 29 of AVX-512's 32.
const WIDE_ROWS: usize = 6;

/// Rows `r..r + R` against every weight row: eight weight rows at a time for a wide kernel,
/// then two, then one.
#[inline(always)]
fn block<T: Term, M: Micro, const R: usize>(
    m: M,
    x: &[f32],
    r: usize,
    n: usize,
    w: &[f32],
    n_out: usize,
    out: &mut [f32],
) {
    let xs: [&[f32]; R] = std::array::from_fn(|k| &x[(r + k) * n..(r + k + 1) * n]);
    let mut j = 0;
    if M::WIDE {
        while j + 8 <= n_out {
            let ws: [&[f32]; 8] = std::array::from_fn(|k| &w[(j + k) * n..(j + k + 1) * n]);
            let d = m.micro::<T, R, 8>(xs, ws, n);
            for (k, dk) in d.iter().enumerate() {
                out[(r + k) * n_out + j..(r + k) * n_out + j + 8].copy_from_slice(dk);
            }
            j += 8;
        }
    }
    while j + 2 <= n_out {
        let ws = [&w[j * n..(j + 1) * n], &w[(j + 1) * n..(j + 2) * n]];
        let d = m.micro::<T, R, 2>(xs, ws, n);
        for (k, dk) in d.iter().enumerate() {
            out[(r + k) * n_out + j] = dk[0];
            out[(r + k) * n_out + j + 1] = dk[1];
        }
        j += 2;
    }
    if j < n_out {
        let d = m.micro::<T, R, 1>(xs, [&w[j * n..(j + 1) * n]], n);
        for (k, dk) in d.iter().enumerate() {
            out[(r + k) * n_out + j] = dk[0];
        }
    }
}
