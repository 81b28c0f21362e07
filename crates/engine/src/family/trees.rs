//! Tree-ensemble kernels over the flat node table of [`icebreak_format::Trees`].
//!
//! A walk reads one node row per level: 24 bytes in the classic layout (the feature, the two
//! child references and an `info` word that says how to compare and where a missing value
//! goes), 16 in the compact one (the left child is the next row, a leaf value may sit in its
//! parent's row; `icebreak_format::trees::compact`). Nothing is decoded ahead of time, so a
//! model is usable the moment the file is parsed.
//!
//! - [`trees_row_f64`] walks every tree for one row (the single-row path).
//! - [`trees_block_f64`] walks each tree for a block of rows before moving to the next tree,
//!   so a tree's nodes are fetched into cache once per block instead of once per row (the
//!   batch path).
//! - `trees_ref` (feature `testing`) is the plain reference: it decodes every node with
//!   [`icebreak_format::TreeNode::decode`] and follows the documented semantics literally. Property tests hold
//!   the fast paths to it bit for bit (both sum in the same order, in `f64`, or in `f32` from
//!   the base values for an ensemble with `sum_f32`, XGBoost's accumulation).
//!
//! A full verification (rule R29) guarantees that every reference is in range and that
//! children come after their parents, so every walk ends within the number of nodes. A model
//! verified at build time is opened without that walk (`Apr::parse_attested`), so the walks do
//! not rely on it: every node, feature and leaf index is checked, a reference outside the
//! table ends the walk on [`STRAY`], a walk takes at most `n_nodes` steps per tree, and a
//! stray or out-of-range leaf reads leaf 0. Broken bytes give a wrong answer, never a panic
//! or an endless loop.

use icebreak_format::trees::{compact, info, info_bit, CompactRow, LEAF, ZERO_THRESHOLD};
#[cfg(feature = "testing")]
use icebreak_format::{MissingRule, Split, TreeNode};
use icebreak_format::{Precision, Trees};

/// Rows per block in [`trees_block_f64`].
pub const BLOCK_ROWS: usize = 64;

/// Walks run side by side: this many trees for one row, or rows for one tree.
pub const LANES: usize = 8;

/// A node row seen as three `u64` words: `feature | left << 32`, `right | info << 32`, and
/// the threshold's bits. Three loads per node instead of six.
type Row64 = [u64; 3];

/// Which walk an ensemble gets, from the set of node tests it uses
/// ([`Trees::info_mask`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Every node is `x < t`, NaN taking the default way (XGBoost).
    Lt = 0,
    /// Every node is `x <= t`, NaN taking the default way (scikit-learn, LightGBM with
    /// missing type NaN).
    Le = 1,
    /// Every node is `x <= t`, NaN compared as zero (LightGBM with missing type None).
    LeAsZero = 2,
    /// Anything else: each node's own test and missing rule.
    General = 3,
}

const AS_ZERO_LE: u32 = info::LE | (1 << info::MISSING_SHIFT);

/// Where a walk goes when a reference leaves the node table: a leaf reference no table can
/// hold (leaf indices past the table read leaf 0).
pub const STRAY: u32 = LEAF | (LEAF - 1);

/// A tree ensemble ready to walk: the file's node table viewed as `Row64`s, and the walk
/// its tests allow. Built in O(1) from the view: no table proportional to the model.
#[derive(Debug, Clone, Copy)]
pub struct Prepared<'a> {
    trees: Trees<'a>,
    rows: &'a [Row64],
    walk: Walk,
    /// Leaves in the leaf table (at least one for a parsed file).
    n_leaves: usize,
}

impl<'a> Prepared<'a> {
    /// Prepares `trees` (validated by the reader) for walking.
    pub fn new(trees: Trees<'a>) -> Self {
        let only = |words: &[u32]| {
            let allowed = words.iter().fold(0u64, |m, &w| m | info_bit(w));
            trees.info_mask & !allowed == 0
        };
        let dl = info::DEFAULT_LEFT;
        let mut walk = if only(&[info::LT, info::LT | dl]) {
            Walk::Lt
        } else if only(&[info::LE, info::LE | dl]) {
            Walk::Le
        } else if only(&[AS_ZERO_LE, AS_ZERO_LE | dl]) {
            Walk::LeAsZero
        } else {
            Walk::General
        };
        // Sections start at multiples of 64 in an 8-aligned buffer (R11, R28), so the view
        // cannot fail; if it somehow did, the general walk reads the same rows word by word.
        // The compact walk reads its own rows (its empty classic table is not viewed: an
        // empty slice's dangling pointer need not be 8-aligned, and a failed view would
        // demote the walk to the general one).
        let rows: &'a [Row64] = if trees.is_compact() {
            &[]
        } else {
            match bytemuck::try_cast_slice(trees.nodes) {
                Ok(r) => r,
                Err(_) => {
                    walk = Walk::General;
                    &[]
                }
            }
        };
        let n_leaves = trees.leaves.len() / (trees.leaf_width.max(1) as usize);
        Prepared {
            trees,
            rows,
            walk,
            n_leaves,
        }
    }

    /// The leaf a final reference names; leaf 0 for an index past the leaf table ([`STRAY`]).
    #[inline(always)]
    fn leaf(&self, r: u32) -> usize {
        let leaf = (r & !LEAF) as usize;
        if leaf < self.n_leaves {
            leaf
        } else {
            0
        }
    }

    /// Most steps a walk may take: one per node or row (children come after their parents
    /// in a valid table, so no walk needs more; a compact walk takes one more step to see
    /// its leaf row).
    #[inline(always)]
    fn max_steps(&self) -> usize {
        self.trees.nodes.len() + self.trees.compact.len()
    }

    /// The validated view.
    pub fn trees(&self) -> &Trees<'a> {
        &self.trees
    }
}

/// Whether the node sends `v` to its left child: the general rule, every test and missing
/// rule.
#[inline(never)]
fn goes_left_general(word: u32, lo: u32, hi: u32, v: f64, categories: &[u32]) -> bool {
    let mut v = v;
    let missing = (word >> info::MISSING_SHIFT) & info::MISSING_MASK;
    if v.is_nan() {
        if missing == 1 {
            v = 0.0;
        } else {
            return word & info::DEFAULT_LEFT != 0;
        }
    } else if missing == 2 && v.abs() <= ZERO_THRESHOLD {
        return word & info::DEFAULT_LEFT != 0;
    }
    let t = f64::from_bits(u64::from(lo) | (u64::from(hi) << 32));
    match word & info::OP_MASK {
        info::LT => v < t,
        info::LE => v <= t,
        info::GT => v > t,
        info::GE => v >= t,
        info::EQ => v == t,
        info::NE => v != t,
        _ => in_set(v, categories, lo, hi),
    }
}

/// Whether the node `row` sends the row `x` to its left child (a feature outside the row
/// reads as missing): the prediction's own test, for explanations.
#[inline]
pub(crate) fn goes_left_row(
    row: &icebreak_format::trees::NodeRow,
    x: &[f64],
    categories: &[u32],
) -> bool {
    let v = x.get(row[0] as usize).copied().unwrap_or(f64::NAN);
    goes_left_general(row[3], row[4], row[5], v, categories)
}

/// `a` when `left`, else `b`, as a select rather than a branch.
#[inline(always)]
fn select(left: bool, a: u32, b: u32) -> u32 {
    let mask = 0u32.wrapping_sub(u32::from(left));
    b ^ ((a ^ b) & mask)
}

/// One step of a specialised walk: the reference the node at `r` sends `x` to. `x < t` with
/// NaN taking the default way is `(x < t) | (NaN & default_left)`, since `NaN < t` is false:
/// no branch on the data, and the child is read at an index computed from the test, so a
/// walk mispredicts no branch per level.
#[inline(always)]
fn step<const W: u8>(
    rows: &[Row64],
    nodes: &[icebreak_format::trees::NodeRow],
    r: u32,
    x: &[f64],
) -> u32 {
    let Some(&[a, b, t]) = rows.get(r as usize) else {
        return STRAY;
    };
    // A feature outside the row (never, in a verified file) reads as missing.
    let v = x.get(a as u32 as usize).copied().unwrap_or(f64::NAN);
    let t = f64::from_bits(t);
    let default_left = (b >> 32) as u32 & info::DEFAULT_LEFT != 0;
    let left = if W == Walk::Lt as u8 {
        (v < t) | (v.is_nan() & default_left)
    } else if W == Walk::Le as u8 {
        (v <= t) | (v.is_nan() & default_left)
    } else {
        (if v.is_nan() { 0.0 } else { v }) <= t
    };
    // The child is read at an index computed from the test (word 1 left, word 2 right): a
    // load, which the compiler cannot turn back into a branch as it does a select.
    nodes
        .get(r as usize)
        .map_or(STRAY, |n| n[2 - usize::from(left)])
}

/// One step of the general walk.
#[inline(always)]
fn step_general(
    nodes: &[icebreak_format::trees::NodeRow],
    categories: &[u32],
    r: u32,
    x: &[f64],
) -> u32 {
    let Some(row) = nodes.get(r as usize) else {
        return STRAY;
    };
    let v = x.get(row[0] as usize).copied().unwrap_or(f64::NAN);
    let left = goes_left_general(row[3], row[4], row[5], v, categories);
    select(left, row[1], row[2])
}

/// One step of a walk over the compact layout: the row the inner node at `r` sends `x` to
/// (the next row when the test holds, else its right row), or a final reference
/// `LEAF | r << 1 | side` when `r` is a leaf row (side 0) or the child is a leaf held in
/// row `r` (side 0 left, 1 right). A row index is below 2^29 (the reader refuses larger
/// tables), so neither `r + 1` nor `r << 1` carries into [`LEAF`].
#[inline(always)]
fn step_compact<const W: u8>(rows: &[CompactRow], categories: &[u32], r: u32, x: &[f64]) -> u32 {
    let Some(&[w0, right, lo, hi]) = rows.get(r as usize) else {
        return STRAY;
    };
    if w0 & compact::LEAF_ROW != 0 {
        return LEAF | (r << 1);
    }
    let narrow = w0 & compact::NARROW != 0;
    let v = x
        .get((w0 & compact::FEATURE_MASK) as usize)
        .copied()
        .unwrap_or(f64::NAN);
    let word = (w0 >> compact::INFO_SHIFT) & compact::INFO_MASK;
    let left = if W == Walk::General as u8 {
        let (lo, hi) = if narrow {
            let bits = f64::from(f32::from_bits(lo)).to_bits();
            (bits as u32, (bits >> 32) as u32)
        } else {
            (lo, hi)
        };
        goes_left_general(word, lo, hi, v, categories)
    } else {
        let t = if narrow {
            f64::from(f32::from_bits(lo))
        } else {
            f64::from_bits(u64::from(lo) | (u64::from(hi) << 32))
        };
        let default_left = word & info::DEFAULT_LEFT != 0;
        if W == Walk::Lt as u8 {
            (v < t) | (v.is_nan() & default_left)
        } else if W == Walk::Le as u8 {
            (v <= t) | (v.is_nan() & default_left)
        } else {
            (if v.is_nan() { 0.0 } else { v }) <= t
        }
    };
    // The child as a select on the test's mask (forcing the mask through `black_box`, or
    // making the leaf checks branch-free too, measured no faster).
    let mask = 0u32.wrapping_sub(u32::from(left));
    let inline =
        w0 & (compact::RIGHT_INLINE ^ ((compact::LEFT_INLINE ^ compact::RIGHT_INLINE) & mask));
    if inline != 0 {
        return LEAF | (r << 1) | u32::from(!left);
    }
    let next = r.wrapping_add(1);
    right ^ ((next ^ right) & mask)
}

/// One step of walk `W` over the classic (`C == false`) or compact table.
#[inline(always)]
fn step_any<const W: u8, const C: bool>(p: &Prepared<'_>, r: u32, x: &[f64]) -> u32 {
    if C {
        step_compact::<W>(p.trees.compact, p.trees.categories, r, x)
    } else if W == Walk::General as u8 {
        step_general(p.trees.nodes, p.trees.categories, r, x)
    } else {
        step::<W>(p.rows, p.trees.nodes, r, x)
    }
}

/// Whether the category `trunc(v)` is in the bitset of `words` words at `offset`.
#[inline]
pub fn in_set(v: f64, categories: &[u32], offset: u32, words: u32) -> bool {
    let c = v.trunc();
    if !(c >= 0.0 && c < f64::from(words) * 32.0) {
        return false;
    }
    let c = c as u32;
    categories
        .get(offset as usize + (c / 32) as usize)
        .is_some_and(|w| (w >> (c % 32)) & 1 == 1)
}

/// Walks [`LANES`] cursors to their leaves; `row_of(k)` is the row cursor `k` reads. The
/// walks are independent, so the processor overlaps their memory accesses instead of
/// waiting for one node after another. A cursor that has reached its leaf stays there; one
/// still inside the table after [`Prepared::max_steps`] rounds ends on [`STRAY`].
#[inline(always)]
fn walk_lanes<'x, const W: u8, const C: bool>(
    p: &Prepared<'_>,
    cur: &mut [u32; LANES],
    row_of: impl Fn(usize) -> &'x [f64],
) {
    if !C && p.rows.is_empty() && W != Walk::General as u8 {
        return;
    }
    let mut rounds = 0usize;
    loop {
        if rounds > p.max_steps() {
            for r in cur.iter_mut() {
                if *r & LEAF == 0 {
                    *r = STRAY;
                }
            }
            return;
        }
        rounds += 1;
        let mut pending = false;
        for (k, r) in cur.iter_mut().enumerate() {
            if *r & LEAF == 0 {
                *r = step_any::<W, C>(p, *r, row_of(k));
                pending = true;
            }
        }
        if !pending {
            return;
        }
    }
}

/// Follows tree `root` for the row `x`, at most [`Prepared::max_steps`] steps; returns the
/// final reference ([`STRAY`] when the steps run out).
#[inline(always)]
fn final_of<const W: u8, const C: bool>(p: &Prepared<'_>, root: u32, x: &[f64]) -> u32 {
    let mut r = root;
    let mut steps = 0usize;
    while r & LEAF == 0 {
        if steps > p.max_steps() {
            return STRAY;
        }
        steps += 1;
        r = step_any::<W, C>(p, r, x);
    }
    r
}

/// Adds the leaf a walk of tree `t` ended on (final reference `r`) into `acc`. Over the
/// compact layout `r` names a row: a leaf row's value (or its leaf in the table); a stray
/// or a row that is not a leaf adds `0.0` (one value per leaf) or leaf 0.
#[inline(always)]
fn add_final<const C: bool>(p: &Prepared<'_>, t: usize, r: u32, acc: &mut [f64]) {
    if !C {
        return add_leaf(&p.trees, t, p.leaf(r), acc);
    }
    let trees = &p.trees;
    let at = trees.compact.get(((r & !LEAF) >> 1) as usize);
    let side = r & 1;
    let row = at.filter(|row| row[0] == compact::LEAF_ROW && side == 0);
    if trees.leaf_width == 1 {
        let v = match (row, at) {
            (Some(row), _) => f64::from_bits(u64::from(row[2]) | (u64::from(row[3]) << 32)),
            (None, Some(inner)) => {
                let (l, r) = icebreak_format::trees::inline_leaves(inner);
                if side == 0 { l } else { r }.unwrap_or(0.0)
            }
            (None, None) => 0.0,
        };
        let j = trees.targets.get(t).map_or(0, |&j| j as usize);
        if let Some(a) = acc.get_mut(j) {
            *a = add(trees.sum_f32(), *a, v);
        }
    } else {
        let leaf = row.map_or(STRAY, |row| LEAF | row[1]);
        add_leaf(trees, t, p.leaf(leaf), acc);
    }
}

/// `a + v`, in `f64`, or rounded to `f32` when the ensemble sums in `f32`. Both operands
/// of an `f32` sum are `f32` values (rule R29), and an `f64` sum of two `f32`s rounded to
/// `f32` is their `f32` sum exactly (53 ≥ 2·24 + 2 bits, so the double rounding is
/// harmless): XGBoost's `float` accumulation, bit for bit.
#[inline(always)]
fn add(sum_f32: bool, a: f64, v: f64) -> f64 {
    let s = a + v;
    if sum_f32 {
        f64::from(s as f32)
    } else {
        s
    }
}

/// Adds tree `t`'s leaf `leaf` into `acc`.
#[inline(always)]
fn add_leaf(trees: &Trees<'_>, t: usize, leaf: usize, acc: &mut [f64]) {
    let w = trees.leaf_width as usize;
    let f = trees.sum_f32();
    if w == 1 {
        let j = trees.targets.get(t).map_or(0, |&j| j as usize);
        acc[j] = add(f, acc[j], trees.leaves[leaf]);
    } else {
        for (a, v) in acc.iter_mut().zip(&trees.leaves[leaf * w..(leaf + 1) * w]) {
            *a = add(f, *a, *v);
        }
    }
}

/// Starts the sums: at the base values when the ensemble sums in `f32` (XGBoost starts from
/// the base margin), else at zero.
#[inline]
fn start(trees: &Trees<'_>, acc: &mut [f64]) {
    if trees.sum_f32() {
        for (a, b) in acc.iter_mut().zip(trees.base) {
            *a = *b;
        }
    } else {
        acc.fill(0.0);
    }
}

/// Finishes the sums: the average (if the ensemble averages) plus the base values (unless
/// the sum started from them).
#[inline]
fn finish(trees: &Trees<'_>, acc: &mut [f64]) {
    if trees.sum_f32() {
        return;
    }
    let n = trees.average_divisor();
    for (a, b) in acc.iter_mut().zip(trees.base) {
        if trees.average() {
            *a /= n;
        }
        *a += b;
    }
}

/// All trees over one row. `x` must already be rounded to `f32` when the ensemble says so
/// ([`round_row_f32`]); `acc` (`n_out` long) receives the outputs.
///
/// Trees are walked [`LANES`] at a time, side by side; their leaves are then added in tree
/// order, so the sum is the one `trees_ref` computes, bit for bit.
pub fn trees_row_f64(p: &Prepared<'_>, x: &[f64], acc: &mut [f64]) {
    match (p.walk, p.trees.is_compact()) {
        (Walk::Lt, false) => row_walk::<0, false>(p, x, acc),
        (Walk::Le, false) => row_walk::<1, false>(p, x, acc),
        (Walk::LeAsZero, false) => row_walk::<2, false>(p, x, acc),
        (Walk::General, false) => row_walk::<3, false>(p, x, acc),
        (Walk::Lt, true) => row_walk::<0, true>(p, x, acc),
        (Walk::Le, true) => row_walk::<1, true>(p, x, acc),
        (Walk::LeAsZero, true) => row_walk::<2, true>(p, x, acc),
        (Walk::General, true) => row_walk::<3, true>(p, x, acc),
    }
}

#[inline(always)]
fn row_walk<const W: u8, const C: bool>(p: &Prepared<'_>, x: &[f64], acc: &mut [f64]) {
    let trees = &p.trees;
    start(trees, acc);
    let mut groups = trees.roots.chunks_exact(LANES);
    let mut t = 0;
    for group in &mut groups {
        let mut cur = [0u32; LANES];
        cur.copy_from_slice(group);
        walk_lanes::<W, C>(p, &mut cur, |_| x);
        for r in cur {
            add_final::<C>(p, t, r, acc);
            t += 1;
        }
    }
    for &root in groups.remainder() {
        let r = final_of::<W, C>(p, root, x);
        add_final::<C>(p, t, r, acc);
        t += 1;
    }
    finish(trees, acc);
}

/// All trees over a block of rows (`rows.len() / n_in` of them, at most [`BLOCK_ROWS`] for
/// best effect, any number allowed): each tree runs over every row of the block before the
/// next tree, [`LANES`] rows side by side. `acc` receives `n_out` outputs per row. Sums in
/// the same order as [`trees_row_f64`], so the results are identical.
pub fn trees_block_f64(p: &Prepared<'_>, rows: &[f64], acc: &mut [f64]) {
    match (p.walk, p.trees.is_compact()) {
        (Walk::Lt, false) => block_walk::<0, false>(p, rows, acc),
        (Walk::Le, false) => block_walk::<1, false>(p, rows, acc),
        (Walk::LeAsZero, false) => block_walk::<2, false>(p, rows, acc),
        (Walk::General, false) => block_walk::<3, false>(p, rows, acc),
        (Walk::Lt, true) => block_walk::<0, true>(p, rows, acc),
        (Walk::Le, true) => block_walk::<1, true>(p, rows, acc),
        (Walk::LeAsZero, true) => block_walk::<2, true>(p, rows, acc),
        (Walk::General, true) => block_walk::<3, true>(p, rows, acc),
    }
}

#[inline(always)]
fn block_walk<const W: u8, const C: bool>(p: &Prepared<'_>, rows: &[f64], acc: &mut [f64]) {
    let trees = &p.trees;
    let nf = trees.n_in as usize;
    let no = trees.n_out as usize;
    for a in acc.chunks_exact_mut(no) {
        start(trees, a);
    }
    let n_rows = rows.len() / nf;
    for (t, &root) in trees.roots.iter().enumerate() {
        let mut start = 0;
        while start + LANES <= n_rows {
            let mut cur = [root; LANES];
            let block = &rows[start * nf..(start + LANES) * nf];
            walk_lanes::<W, C>(p, &mut cur, |k| &block[k * nf..(k + 1) * nf]);
            for (k, r) in cur.iter().enumerate() {
                let a = &mut acc[(start + k) * no..(start + k + 1) * no];
                add_final::<C>(p, t, *r, a);
            }
            start += LANES;
        }
        for i in start..n_rows {
            let r = final_of::<W, C>(p, root, &rows[i * nf..(i + 1) * nf]);
            add_final::<C>(p, t, r, &mut acc[i * no..(i + 1) * no]);
        }
    }
    for a in acc.chunks_exact_mut(no) {
        finish(trees, a);
    }
}

/// Rounds each value to the nearest `f32` (XGBoost's cast), in place.
#[inline]
pub fn round_row_f32(x: &mut [f64]) {
    for v in x {
        *v = f64::from(*v as f32);
    }
}

#[cfg(feature = "testing")]
/// The reference: decodes every node and applies the documented rules literally.
pub fn trees_ref(trees: &Trees<'_>, x: &[f64]) -> Vec<f64> {
    if trees.is_compact() {
        // The compact rows read back in the classic form, walked by the classic rules.
        let spec = icebreak_format::trees::to_spec(trees);
        let rows: Vec<_> = spec.nodes.iter().map(TreeNode::encode).collect();
        let classic = Trees {
            flags: trees.flags & !icebreak_format::trees::FLAG_COMPACT,
            roots: &spec.roots,
            nodes: &rows,
            compact: &[],
            leaves: &spec.leaves,
            ..*trees
        };
        return trees_ref(&classic, x);
    }
    let n_out = trees.n_out as usize;
    let mut acc = if trees.sum_f32() {
        trees.base.to_vec()
    } else {
        vec![0.0f64; n_out]
    };
    // An f32 sum rounds every partial sum to f32.
    let sum = |a: f64, v: f64| {
        if trees.sum_f32() {
            f64::from(a as f32 + v as f32)
        } else {
            a + v
        }
    };
    for (t, &root) in trees.roots.iter().enumerate() {
        let mut r = root;
        let mut steps = 0;
        while r & LEAF == 0 {
            steps += 1;
            assert!(steps <= trees.nodes.len(), "cycle in a validated ensemble");
            let node = TreeNode::decode(&trees.nodes[r as usize]).expect("validated node");
            let mut v = x[node.feature as usize];
            if trees.round_f32() {
                v = f64::from(v as f32);
            }
            let missing = (v.is_nan() && node.missing != MissingRule::AsZero)
                || (node.missing == MissingRule::ZeroOrNan && v.abs() <= ZERO_THRESHOLD);
            let left = if missing {
                node.default_left
            } else {
                let v = if v.is_nan() { 0.0 } else { v };
                match node.split {
                    Split::Lt(t) => v < t,
                    Split::Le(t) => v <= t,
                    Split::Gt(t) => v > t,
                    Split::Ge(t) => v >= t,
                    Split::Eq(t) => v == t,
                    Split::Ne(t) => v != t,
                    Split::InSet { offset, words } => {
                        let c = v.trunc();
                        if c < 0.0 || c >= f64::from(words) * 32.0 {
                            false
                        } else {
                            let c = c as usize;
                            let word = trees.categories[offset as usize + c / 32];
                            (word >> (c % 32)) & 1 == 1
                        }
                    }
                }
            };
            r = if left { node.left } else { node.right };
        }
        let leaf = (r & !LEAF) as usize;
        let w = trees.leaf_width as usize;
        if w == 1 {
            let j = if trees.targets.is_empty() {
                0
            } else {
                trees.targets[t] as usize
            };
            acc[j] = sum(acc[j], trees.leaves[leaf]);
        } else {
            for (j, a) in acc.iter_mut().enumerate().take(w) {
                *a = sum(*a, trees.leaves[leaf * w + j]);
            }
        }
    }
    if trees.sum_f32() {
        return acc;
    }
    for (a, b) in acc.iter_mut().zip(trees.base) {
        if trees.average() {
            *a /= trees.average_divisor();
        }
        *a += b;
    }
    acc
}

/// Trees over a batch, [`BLOCK_ROWS`] rows at a time, into `scores` (`n_out` per row),
/// each rounded to `precision` (as the row path rounds them).
pub(crate) fn batch(p: &Prepared<'_>, rows: &[f64], precision: Precision, scores: &mut [f64]) {
    let t = p.trees();
    let nf = t.n_in as usize;
    let no = t.n_out as usize;
    for (block, out) in rows
        .chunks(BLOCK_ROWS * nf)
        .zip(scores.chunks_mut(BLOCK_ROWS * no))
    {
        let n = block.len() / nf;
        trees_block_f64(p, block, &mut out[..n * no]);
        if precision == Precision::F32 {
            for v in &mut out[..n * no] {
                *v = precision.round(*v);
            }
        }
    }
}
