//! Tree-ensemble kernels over the flat node table of [`icebreak_format::Trees`].
//!
//! A walk reads one 24-byte node row per level: the feature, the two child references and an
//! `info` word that says how to compare and where a missing value goes. Nothing is decoded
//! ahead of time, so a model is usable the moment the file is parsed.
//!
//! - [`trees_row_f64`] walks every tree for one row (the single-row path).
//! - [`trees_block_f64`] walks each tree for a block of rows before moving to the next tree,
//!   so a tree's nodes are fetched into cache once per block instead of once per row (the
//!   batch path).
//! - [`trees_ref`] is the plain reference: it decodes every node with
//!   [`TreeNode::decode`] and follows the documented semantics literally. Property tests hold
//!   the fast paths to it bit for bit (both sum in the same order, in `f64`).
//!
//! Validation (rule R29) guarantees that every reference is in range and that children come
//! after their parents, so every walk ends within the number of nodes.

use icebreak_format::trees::{info, NodeRow, LEAF, ZERO_THRESHOLD};
use icebreak_format::{MissingRule, Split, TreeNode, Trees};

/// Rows per block in [`trees_block_f64`].
pub const BLOCK_ROWS: usize = 16;

/// Whether the node sends `v` to its left child.
#[inline(always)]
fn goes_left(row: &NodeRow, v: f64, categories: &[u32]) -> bool {
    let word = row[3];
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
    let t = f64::from_bits(u64::from(row[4]) | (u64::from(row[5]) << 32));
    match word & info::OP_MASK {
        info::LT => v < t,
        info::LE => v <= t,
        info::GT => v > t,
        info::GE => v >= t,
        info::EQ => v == t,
        info::NE => v != t,
        _ => in_set(v, categories, row[4], row[5]),
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

/// Follows tree `root` for the row `x`; returns the leaf index.
#[inline(always)]
fn leaf_of(nodes: &[NodeRow], categories: &[u32], root: u32, x: &[f64]) -> usize {
    let mut r = root;
    while r & LEAF == 0 {
        let row = &nodes[r as usize];
        let v = x[row[0] as usize];
        r = if goes_left(row, v, categories) {
            row[1]
        } else {
            row[2]
        };
    }
    (r & !LEAF) as usize
}

/// Adds tree `t`'s leaf `leaf` into `acc`.
#[inline(always)]
fn add_leaf(trees: &Trees<'_>, t: usize, leaf: usize, acc: &mut [f64]) {
    let w = trees.leaf_width as usize;
    if w == 1 {
        let j = trees.targets.get(t).map_or(0, |&j| j as usize);
        acc[j] += trees.leaves[leaf];
    } else {
        for (a, v) in acc.iter_mut().zip(&trees.leaves[leaf * w..(leaf + 1) * w]) {
            *a += v;
        }
    }
}

/// Finishes the sums: the average (if the ensemble averages) plus the base values.
#[inline]
fn finish(trees: &Trees<'_>, acc: &mut [f64]) {
    let n = trees.roots.len() as f64;
    for (a, b) in acc.iter_mut().zip(trees.base) {
        if trees.average() {
            *a /= n;
        }
        *a += b;
    }
}

/// All trees over one row. `x` must already be rounded to `f32` when the ensemble says so
/// ([`round_row_f32`]); `acc` (`n_out` long) receives the outputs.
pub fn trees_row_f64(trees: &Trees<'_>, x: &[f64], acc: &mut [f64]) {
    acc.fill(0.0);
    for (t, &root) in trees.roots.iter().enumerate() {
        let leaf = leaf_of(trees.nodes, trees.categories, root, x);
        add_leaf(trees, t, leaf, acc);
    }
    finish(trees, acc);
}

/// All trees over a block of rows (`rows.len() / n_in` of them, at most [`BLOCK_ROWS`] for
/// best effect, any number allowed): each tree runs over every row of the block before the
/// next tree. `acc` receives `n_out` outputs per row. Sums in the same order as
/// [`trees_row_f64`], so the results are identical.
pub fn trees_block_f64(trees: &Trees<'_>, rows: &[f64], acc: &mut [f64]) {
    let nf = trees.n_in as usize;
    let no = trees.n_out as usize;
    acc.fill(0.0);
    for (t, &root) in trees.roots.iter().enumerate() {
        for (x, a) in rows.chunks_exact(nf).zip(acc.chunks_exact_mut(no)) {
            let leaf = leaf_of(trees.nodes, trees.categories, root, x);
            add_leaf(trees, t, leaf, a);
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

/// The reference: decodes every node and applies the documented rules literally.
pub fn trees_ref(trees: &Trees<'_>, x: &[f64]) -> Vec<f64> {
    let n_out = trees.n_out as usize;
    let mut acc = vec![0.0f64; n_out];
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
            let left = if v.is_nan() && node.missing != MissingRule::AsZero {
                node.default_left
            } else if node.missing == MissingRule::ZeroOrNan && v.abs() <= ZERO_THRESHOLD {
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
            acc[j] += trees.leaves[leaf];
        } else {
            for j in 0..w {
                acc[j] += trees.leaves[leaf * w + j];
            }
        }
    }
    for j in 0..n_out {
        if trees.average() {
            acc[j] /= trees.roots.len() as f64;
        }
        acc[j] += trees.base[j];
    }
    acc
}
