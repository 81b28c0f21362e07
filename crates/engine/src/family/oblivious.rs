//! Oblivious tree ensembles (`Stage::Oblivious`, CatBoost): the row is binarised once
//! against the split table, then each tree's leaf index is assembled from the bits of its
//! levels — no pointer chasing, one leaf read per tree. Computed in `f64`, as CatBoost
//! computes: the float tests compare the feature rounded to `f32` with an `f32` border
//! (`f32(x) > border`), the leaves are summed in `f64` in tree order from zero, then
//! `scale · sum + bias`.

use super::cat_hash::category_hash;
use icebreak_format::oblivious::{
    Ctrs, CTR, CTR_COUNTER, CTR_DEF_WORDS, CTR_TABLE_WORDS, FEATURE_MASK, NAN_TRUE, ONE_HOT,
    SPLIT_WORDS,
};
use icebreak_format::Oblivious;

/// CatBoost's hash combiner (`CalcHash` of its CTR code): `M · (a + M · b)`, wrapping.
#[inline(always)]
fn combine(a: u64, b: u64) -> u64 {
    const M: u64 = 0x4906_ba49_4954_cb65;
    M.wrapping_mul(a.wrapping_add(M.wrapping_mul(b)))
}

/// The hash of CTR table `tw`'s projection for the row `x`, as CatBoost's `CalcHashes`
/// computes it: from 0, each categorical element folds in its category's 32-bit hash taken
/// as a signed `int` and widened to `u64` (sign-extended), each float or one-hot element
/// folds in its test's outcome (0 or 1). `None` when a categorical value is missing (it then
/// matches no entry, like an unseen category).
#[inline]
fn projection_hash(c: &Ctrs<'_>, tw: &[u32], x: &[f64]) -> Option<u64> {
    let start = tw[0] as usize * SPLIT_WORDS;
    let end = start + tw[1] as usize * SPLIT_WORDS;
    let mut h = 0u64;
    for el in c.elements[start..end].chunks_exact(SPLIT_WORDS) {
        let v = if el[0] & CTR != 0 {
            let cat = category_hash(x[(el[0] & FEATURE_MASK) as usize])?;
            cat as i32 as i64 as u64
        } else {
            u64::from(test(el, x))
        };
        h = combine(h, v);
    }
    Some(h)
}

/// The `f32` value of CTR `k` for the row `x`, as CatBoost computes it: the projection's
/// hash looked up in its table (binary search of the sorted hashes), the counts summed in
/// `i32` (wrapping, where CatBoost's `int` sum would overflow), then `((good + prior_num) / (total + prior_denom) + shift) · scale` in `f32`; a
/// hash not in the table counts 0 of 0. A `Counter` CTR takes the entry's one count as good
/// and the table's counter denominator as total (0 of the denominator when not found), as
/// CatBoost's static CTR provider does.
#[inline]
pub fn ctr_value(c: &Ctrs<'_>, k: usize, x: &[f64]) -> f32 {
    let d = &c.defs[k * CTR_DEF_WORDS..(k + 1) * CTR_DEF_WORDS];
    let t = d[0] as usize;
    let tw = &c.tables[t * CTR_TABLE_WORDS..(t + 1) * CTR_TABLE_WORDS];
    let (first, n, width) = (tw[2] as usize, tw[3] as usize, tw[4] as usize);
    let found = projection_hash(c, tw, x).and_then(|h| {
        // Binary search of the table's hashes.
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = c.hash(first + mid);
            if m < h {
                lo = mid + 1;
            } else if m > h {
                hi = mid;
            } else {
                return Some(mid);
            }
        }
        None
    });
    let (good, total) = if d[1] == CTR_COUNTER {
        // Counter: the entry's one count over the table's counter denominator (R37
        // checks it fits `i32`); a hash not in the table counts 0.
        let count = found.map_or(0i32, |i| c.counts[tw[5] as usize + i * width] as i32);
        (count, d[2] as i32)
    } else {
        match found {
            None => (0i32, 0i32),
            Some(i) => {
                let at = tw[5] as usize + i * width;
                let counts = &c.counts[at..at + width];
                // Borders: the classes above the target border are good.
                let tb = d[2] as usize;
                let sum = |s: &[u32]| s.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32));
                let good = sum(&counts[tb + 1..]);
                (good, sum(&counts[..tb + 1]).wrapping_add(good))
            }
        }
    };
    // `int` to `float` as C++ converts, to nearest.
    let (good, total) = (good as f32, total as f32);
    let prior_num = f32::from_bits(d[3]);
    let prior_denom = f32::from_bits(d[4]);
    let shift = f32::from_bits(d[5]);
    let scale = f32::from_bits(d[6]);
    ((good + prior_num) / (total + prior_denom) + shift) * scale
}

/// Rows per block of the batch kernel: the block's bits (`ROWS × n_splits` bytes) stay in
/// cache while every tree is read for every row of the block.
const ROWS: usize = 64;

/// The outcome of split `s` (its two words) for the row `x`.
#[inline(always)]
fn test(s: &[u32], x: &[f64]) -> u8 {
    let w0 = s[0];
    let v = x[(w0 & FEATURE_MASK) as usize];
    if w0 & ONE_HOT != 0 {
        // The category's hash (from its text, or from an integer's decimal text).
        u8::from(category_hash(v) == Some(s[1]))
    } else {
        let v = v as f32;
        if v.is_nan() {
            u8::from(w0 & NAN_TRUE != 0)
        } else {
            u8::from(v > f32::from_bits(s[1]))
        }
    }
}

/// The outcome of split `s` of `o` for the row `x`, CTR splits included.
#[inline(always)]
fn split_test(o: &Oblivious<'_>, s: &[u32], x: &[f64]) -> u8 {
    if s[0] & CTR != 0 {
        let k = (s[0] & FEATURE_MASK) as usize;
        u8::from(ctr_value(&o.ctrs, k, x) > f32::from_bits(s[1]))
    } else {
        test(s, x)
    }
}

/// Binarises `x` against every split of `o` into `bins` (`n_splits` bytes, 0 or 1): one
/// comparison per split, in table order.
///
/// Measured on a 500-tree, 1 976-split model (`benches/catboost.rs`, one run each): this
/// loop 2.2–2.6 µs a row; a binary search per feature over its sorted borders, filling each
/// feature's run of bits, 4.4 µs; a branch-free float loop after a scan for the one-hot
/// splits, 3.8 µs. The simple loop stays.
///
/// A categorical feature's hash is computed once for its run of one-hot splits (R36 keeps
/// them together).
#[inline]
pub fn binarize(o: &Oblivious<'_>, x: &[f64], bins: &mut [u8]) {
    let mut last: Option<(u32, Option<u32>)> = None;
    let mut last_ctr: Option<(u32, f32)> = None;
    for (b, s) in bins.iter_mut().zip(o.splits.chunks_exact(SPLIT_WORDS)) {
        if s[0] & CTR != 0 {
            // A CTR's value is computed once for its run of splits (R36 keeps them together).
            let k = s[0] & FEATURE_MASK;
            let v = match last_ctr {
                Some((j, v)) if j == k => v,
                _ => {
                    let v = ctr_value(&o.ctrs, k as usize, x);
                    last_ctr = Some((k, v));
                    v
                }
            };
            *b = u8::from(v > f32::from_bits(s[1]));
            continue;
        }
        if s[0] & ONE_HOT == 0 {
            *b = test(s, x);
            continue;
        }
        let f = s[0] & FEATURE_MASK;
        let h = match last {
            Some((g, h)) if g == f => h,
            _ => {
                let h = category_hash(x[f as usize]);
                last = Some((f, h));
                h
            }
        };
        *b = u8::from(h == Some(s[1]));
    }
}

/// Adds each tree's leaf, selected by the bits `bins`, into `out` (`n_out` values, set to
/// zero first), then applies `scale · sum + bias`.
#[inline]
pub fn sum_trees_f64(o: &Oblivious<'_>, bins: &[u8], out: &mut [f64]) {
    let n_out = o.n_out as usize;
    let out = &mut out[..n_out];
    out.fill(0.0);
    let mut leaf_at = 0usize;
    let mut split_at = 0usize;
    for &d in o.depths {
        let d = d as usize;
        let mut index = 0usize;
        for (level, &s) in o.tree_splits[split_at..split_at + d].iter().enumerate() {
            index |= usize::from(bins[s as usize]) << level;
        }
        let leaf = &o.leaves[leaf_at + index * n_out..][..n_out];
        for (a, l) in out.iter_mut().zip(leaf) {
            *a += l;
        }
        leaf_at += n_out << d;
        split_at += d;
    }
    finish(o, out);
}

/// `out = scale · out + bias`.
#[inline]
fn finish(o: &Oblivious<'_>, out: &mut [f64]) {
    let scale = o.scale_bias[0];
    for (a, b) in out.iter_mut().zip(&o.scale_bias[1..]) {
        *a = scale * *a + b;
    }
}

/// One row: binarise into `bins` (at least `n_splits` bytes), then sum the trees into
/// `out` (`n_out` values).
#[inline]
pub fn oblivious_row_f64(o: &Oblivious<'_>, x: &[f64], bins: &mut [u8], out: &mut [f64]) {
    let bins = &mut bins[..o.n_splits()];
    binarize(o, x, bins);
    sum_trees_f64(o, bins, out);
}

/// One row without a bits buffer: each tree evaluates its own tests (the same tests, the
/// same answer). Used where a pipeline places the ensemble after preprocessors.
pub fn oblivious_row_direct_f64(o: &Oblivious<'_>, x: &[f64], out: &mut [f64]) {
    let n_out = o.n_out as usize;
    let out = &mut out[..n_out];
    out.fill(0.0);
    let mut leaf_at = 0usize;
    let mut split_at = 0usize;
    for &d in o.depths {
        let d = d as usize;
        let mut index = 0usize;
        for (level, &s) in o.tree_splits[split_at..split_at + d].iter().enumerate() {
            let s = s as usize * SPLIT_WORDS;
            index |= usize::from(split_test(o, &o.splits[s..s + SPLIT_WORDS], x)) << level;
        }
        let leaf = &o.leaves[leaf_at + index * n_out..][..n_out];
        for (a, l) in out.iter_mut().zip(leaf) {
            *a += l;
        }
        leaf_at += n_out << d;
        split_at += d;
    }
    finish(o, out);
}

/// A row-major batch (`n_in` values per row) into `out` (`n_out` scores per row): blocks
/// of 64 rows are binarised into a split-major table (the block's bits of one split
/// are contiguous, so a tree's level reads one cache line for the whole block), then each
/// tree is read for every row of the block (tree by tree, so each row's sum is taken in tree
/// order, as in the single-row kernel).
pub fn batch_f64(o: &Oblivious<'_>, rows: &[f64], out: &mut [f64]) {
    let n_in = o.n_in as usize;
    let n_out = o.n_out as usize;
    let ns = o.n_splits();
    let mut bins = vec![0u8; ROWS * ns];
    let mut index = [0u16; ROWS];
    let mut ctr_values = [0f32; ROWS];
    for (block, out_block) in rows.chunks(ROWS * n_in).zip(out.chunks_mut(ROWS * n_out)) {
        let n = block.len() / n_in;
        // Split by split, the block's rows (in L1) tested one after another: the bits are
        // written contiguously. A CTR's values for the block are computed once for its run
        // of splits (R36 keeps them together).
        let mut ctr_of_block: Option<u32> = None;
        for (split, col) in o
            .splits
            .chunks_exact(SPLIT_WORDS)
            .zip(bins.chunks_exact_mut(ROWS))
        {
            if split[0] & CTR != 0 {
                let k = split[0] & FEATURE_MASK;
                if ctr_of_block != Some(k) {
                    for (v, x) in ctr_values.iter_mut().zip(block.chunks_exact(n_in)) {
                        *v = ctr_value(&o.ctrs, k as usize, x);
                    }
                    ctr_of_block = Some(k);
                }
                let border = f32::from_bits(split[1]);
                for (b, &v) in col.iter_mut().zip(&ctr_values[..n]) {
                    *b = u8::from(v > border).wrapping_neg();
                }
                continue;
            }
            for (b, x) in col.iter_mut().zip(block.chunks_exact(n_in)) {
                // 0x00 or 0xFF: a level's bit is then a mask away (no shift per row).
                *b = test(split, x).wrapping_neg();
            }
        }
        out_block.fill(0.0);
        let mut leaf_at = 0usize;
        let mut split_at = 0usize;
        for &d in o.depths {
            let d = d as usize;
            let levels = &o.tree_splits[split_at..split_at + d];
            let index = &mut index[..n];
            index.fill(0);
            for (level, &s) in levels.iter().enumerate() {
                let s = s as usize * ROWS;
                let bit = 1u16 << level;
                for (i, &b) in index.iter_mut().zip(&bins[s..s + n]) {
                    *i |= (u16::from(b) * 0x0101) & bit;
                }
            }
            let tree = &o.leaves[leaf_at..leaf_at + (n_out << d)];
            if n_out == 1 {
                // `tree.len()` is 2^d: the mask keeps every read in range without a check.
                let mask = tree.len() - 1;
                for (a, &i) in out_block.iter_mut().zip(index.iter()) {
                    *a += tree[usize::from(i) & mask];
                }
            } else {
                for (r, &i) in index.iter().enumerate() {
                    let i = usize::from(i);
                    let leaf = &tree[i * n_out..(i + 1) * n_out];
                    for (a, l) in out_block[r * n_out..(r + 1) * n_out].iter_mut().zip(leaf) {
                        *a += l;
                    }
                }
            }
            leaf_at += n_out << d;
            split_at += d;
        }
        for row in out_block.chunks_exact_mut(n_out) {
            finish(o, row);
        }
    }
}

#[cfg(feature = "testing")]
/// Reference: CatBoost's evaluation written plainly, tree by tree and level by level, each
/// test decoded from the split table as the format describes it.
pub fn oblivious_ref(o: &Oblivious<'_>, x: &[f64]) -> Vec<f64> {
    use icebreak_format::ObliviousSplit;
    let n_out = o.n_out as usize;
    let mut sum = vec![0.0f64; n_out];
    let mut leaf_at = 0usize;
    let mut split_at = 0usize;
    for &d in o.depths {
        let mut index = 0usize;
        for level in 0..d as usize {
            let s = o
                .split(o.tree_splits[split_at + level] as usize)
                .expect("split");
            let bit = match s {
                ObliviousSplit::Float {
                    feature,
                    border,
                    nan_true,
                } => {
                    let v = x[feature as usize] as f32;
                    if v.is_nan() {
                        nan_true
                    } else {
                        v > border
                    }
                }
                ObliviousSplit::OneHot { feature, value } => {
                    crate::cat_hash::category_hash(x[feature as usize]) == Some(value)
                }
                ObliviousSplit::Ctr { ctr, border } => ctr_value(&o.ctrs, ctr as usize, x) > border,
            };
            if bit {
                index += 1 << level;
            }
        }
        for (k, s) in sum.iter_mut().enumerate() {
            *s += o.leaves[leaf_at + index * n_out + k];
        }
        leaf_at += n_out << d;
        split_at += d as usize;
    }
    sum.iter()
        .zip(&o.scale_bias[1..])
        .map(|(s, b)| o.scale_bias[0] * s + b)
        .collect()
}
