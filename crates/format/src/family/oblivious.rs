//! Oblivious (symmetric) tree ensembles (stage kind OBLIVIOUS, version 1.1; CatBoost's
//! trees): every tree is a fixed sequence of binary tests, one per level, shared by all the
//! nodes of that level, so the outcomes of the tests, read as bits, *are* the leaf index. A
//! prediction binarises the row once against the split table and then reads one leaf per
//! tree, with no pointer chasing. `docs/FORMAT.md` ("OBLIVIOUS stage") is the normative
//! description.
//!
//! This module holds the view ([`Oblivious`]), the owned spec ([`ObliviousSpec`]), the split
//! encoding, the reader's R36 checks and the writer's record.

use crate::error::FormatError;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 11;

/// Deepest tree the format accepts (CatBoost's own limit is 16).
pub const MAX_DEPTH: u32 = 16;

/// Words per split in the split table.
pub const SPLIT_WORDS: usize = 2;

/// Split word 0: mask of the feature index.
pub const FEATURE_MASK: u32 = 0x0FFF_FFFF;
/// Split word 0 flag: a missing (NaN) value makes the test true (CatBoost's `nan_mode`
/// `Max`, its `AsTrue` treatment); without it NaN makes the test false (`Min`, `AsFalse`,
/// `AsIs`). Only for a float split.
pub const NAN_TRUE: u32 = 1 << 31;
/// Split word 0 flag: a one-hot split, true when the feature's value (a category's hash, as
/// an integer) equals word 1; without it a float split, true when the feature rounded to
/// `f32` is greater than the `f32` in word 1.
pub const ONE_HOT: u32 = 1 << 30;

/// One binary test of the split table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObliviousSplit {
    /// `f32(x) > border`; a NaN `x` gives `nan_true`.
    Float {
        /// Input feature.
        feature: u32,
        /// The border, compared in `f32`.
        border: f32,
        /// The test's outcome for a NaN.
        nan_true: bool,
    },
    /// `x == value`, `x` a category hash held as an integer-valued number.
    OneHot {
        /// Input feature.
        feature: u32,
        /// The category's hash.
        value: u32,
    },
}

impl ObliviousSplit {
    /// The split's two words.
    pub fn encode(self) -> [u32; SPLIT_WORDS] {
        match self {
            ObliviousSplit::Float {
                feature,
                border,
                nan_true,
            } => [
                feature | if nan_true { NAN_TRUE } else { 0 },
                border.to_bits(),
            ],
            ObliviousSplit::OneHot { feature, value } => [feature | ONE_HOT, value],
        }
    }

    /// Decodes two words (already checked by R36).
    pub fn decode(words: [u32; SPLIT_WORDS]) -> Self {
        let feature = words[0] & FEATURE_MASK;
        if words[0] & ONE_HOT != 0 {
            ObliviousSplit::OneHot {
                feature,
                value: words[1],
            }
        } else {
            ObliviousSplit::Float {
                feature,
                border: f32::from_bits(words[1]),
                nan_true: words[0] & NAN_TRUE != 0,
            }
        }
    }
}

/// An oblivious tree ensemble, viewed in place.
#[derive(Debug, Clone, Copy)]
pub struct Oblivious<'a> {
    /// Input width.
    pub n_in: u32,
    /// Outputs (values per leaf).
    pub n_out: u32,
    /// The split table: [`SPLIT_WORDS`] words per split (see [`ObliviousSplit`]).
    pub splits: &'a [u32],
    /// Depth of each tree (`0..=MAX_DEPTH`).
    pub depths: &'a [u32],
    /// For each tree in order, its `depth` split indices, level 0 first: the test of level
    /// `d` is bit `d` of the leaf index.
    pub tree_splits: &'a [u32],
    /// For each tree in order, its `2^depth` leaves of `n_out` values each.
    pub leaves: &'a [f64],
    /// `[scale, bias_0, …, bias_{n_out-1}]`: the output is `scale · sum + bias`.
    pub scale_bias: &'a [f64],
    /// The categorical features, increasing: their values are categories (see
    /// [`crate::oblivious`] and docs/FORMAT.md), every one-hot split tests one of them and no
    /// float split does. Empty for a model of numeric features.
    pub categorical: &'a [u32],
}

impl Oblivious<'_> {
    /// Number of splits in the split table.
    pub fn n_splits(&self) -> usize {
        self.splits.len() / SPLIT_WORDS
    }

    /// Split `i` of the split table.
    pub fn split(&self, i: usize) -> Option<ObliviousSplit> {
        let w = self
            .splits
            .get(i * SPLIT_WORDS..i * SPLIT_WORDS + SPLIT_WORDS)?;
        Some(ObliviousSplit::decode([w[0], w[1]]))
    }
}

/// An owned oblivious ensemble (see [`Oblivious`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ObliviousSpec {
    /// Input width.
    pub n_in: u32,
    /// Outputs per leaf.
    pub n_out: u32,
    /// The split table.
    pub splits: Vec<ObliviousSplit>,
    /// Per tree: its split indices, level 0 first.
    pub trees: Vec<Vec<u32>>,
    /// All leaves, tree after tree, `2^depth · n_out` values per tree.
    pub leaves: Vec<f64>,
    /// Multiplier of the sum.
    pub scale: f64,
    /// Added to each output after scaling.
    pub bias: Vec<f64>,
    /// The categorical features, increasing.
    pub categorical: Vec<u32>,
}

fn bad(stage: u32, index: u32, reason: &'static str) -> FormatError {
    FormatError::BadOblivious {
        stage,
        index,
        reason,
    }
}

/// A split's place in the table's order (R36): float splits first, by feature, then border;
/// then one-hot splits by feature, then value.
fn order_key(s: &[u32]) -> (bool, u32, u64) {
    let one_hot = s[0] & ONE_HOT != 0;
    let second = if one_hot {
        u64::from(s[1])
    } else {
        // Finite or infinite f32 (R36 refuses NaN), mapped so that unsigned order is
        // numeric order; -0 and +0 are one value.
        let v = f32::from_bits(s[1]) + 0.0;
        let b = v.to_bits();
        u64::from(if b & 0x8000_0000 != 0 {
            !b
        } else {
            b | 0x8000_0000
        })
    };
    (one_hot, s[0] & FEATURE_MASK, second)
}

/// The OBLIVIOUS record after its kind word, with the R36 checks.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    w: &mut Words<'_>,
) -> Result<Oblivious<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let n_trees = dim("n_trees", w.next()?)?;
    let n_splits = w.next()?;
    let splits_ref = w.next()?;
    let depths_ref = w.next()?;
    let tree_splits_ref = w.next()?;
    let leaves_ref = w.next()?;
    let scale_bias_ref = w.next()?;
    let categorical_ref = w.next()?;

    let splits: &[u32] = if n_splits == 0 {
        if splits_ref != crate::NONE {
            return Err(bad(stage, 0, "a split table without splits"));
        }
        &[]
    } else {
        dim("n_splits", n_splits)?;
        p.typed_tensor(
            stage,
            splits_ref,
            Dtype::U32,
            Some(u64::from(n_splits) * SPLIT_WORDS as u64),
        )?
    };
    for (i, s) in splits.chunks_exact(SPLIT_WORDS).enumerate() {
        let i = i as u32;
        let flags = s[0] & !FEATURE_MASK;
        if flags & !(NAN_TRUE | ONE_HOT) != 0 {
            return Err(bad(stage, i, "a split has an undefined flag"));
        }
        if flags == NAN_TRUE | ONE_HOT {
            return Err(bad(stage, i, "a one-hot split has a NaN rule"));
        }
        if s[0] & FEATURE_MASK >= n_in {
            return Err(bad(stage, i, "a split's feature is not below n_in"));
        }
        if flags & ONE_HOT == 0 && f32::from_bits(s[1]).is_nan() {
            return Err(bad(stage, i, "a float split's border is NaN"));
        }
    }
    // Order: float splits first, by feature, then border strictly increasing; then one-hot
    // splits by feature, then value strictly increasing.
    for (i, pair) in splits
        .windows(2 * SPLIT_WORDS)
        .step_by(SPLIT_WORDS)
        .enumerate()
    {
        if order_key(&pair[..SPLIT_WORDS]) >= order_key(&pair[SPLIT_WORDS..]) {
            return Err(bad(stage, i as u32 + 1, "the split table is not in order"));
        }
    }

    let depths: &[u32] = p.typed_tensor(stage, depths_ref, Dtype::U32, Some(u64::from(n_trees)))?;
    let mut n_levels: u64 = 0;
    let mut n_leaves: u64 = 0;
    for (t, &d) in depths.iter().enumerate() {
        if d > MAX_DEPTH {
            return Err(bad(stage, t as u32, "a tree is deeper than MAX_DEPTH"));
        }
        n_levels += u64::from(d);
        n_leaves += 1u64 << d;
    }
    // At most 2^28 trees of 2^16 leaves (2^44) times up to 2^28 outputs: checked.
    let n_values = n_leaves.checked_mul(u64::from(n_out)).ok_or(bad(
        stage,
        0,
        "the leaf table's size overflows",
    ))?;
    let tree_splits: &[u32] = if n_levels == 0 {
        if tree_splits_ref != crate::NONE {
            return Err(bad(stage, 0, "split indices for trees of depth 0"));
        }
        &[]
    } else {
        p.typed_tensor(stage, tree_splits_ref, Dtype::U32, Some(n_levels))?
    };
    if let Some(i) = tree_splits.iter().position(|&s| s >= n_splits) {
        return Err(bad(
            stage,
            i as u32,
            "a tree names a split that does not exist",
        ));
    }
    let leaves: &[f64] = p.typed_tensor(stage, leaves_ref, Dtype::F64, Some(n_values))?;
    let scale_bias: &[f64] = p.typed_tensor(
        stage,
        scale_bias_ref,
        Dtype::F64,
        Some(1 + u64::from(n_out)),
    )?;
    if let Some(i) = scale_bias.iter().position(|v| !v.is_finite()) {
        return Err(bad(stage, i as u32, "scale or bias is not finite"));
    }
    let categorical: &[u32] = if categorical_ref == crate::NONE {
        &[]
    } else {
        p.typed_tensor(stage, categorical_ref, Dtype::U32, None)?
    };
    if let Some(i) = categorical.iter().position(|&f| f >= n_in) {
        return Err(bad(
            stage,
            i as u32,
            "a categorical feature is not below n_in",
        ));
    }
    if let Some(i) = categorical.windows(2).position(|w| w[0] >= w[1]) {
        return Err(bad(
            stage,
            i as u32 + 1,
            "the categorical features are not increasing",
        ));
    }
    for (i, s) in splits.chunks_exact(SPLIT_WORDS).enumerate() {
        let one_hot = s[0] & ONE_HOT != 0;
        if categorical.binary_search(&(s[0] & FEATURE_MASK)).is_ok() != one_hot {
            return Err(bad(
                stage,
                i as u32,
                "a one-hot split on a feature not declared categorical, or a float split on one",
            ));
        }
    }
    Ok(Oblivious {
        n_in,
        n_out,
        splits,
        depths,
        tree_splits,
        leaves,
        scale_bias,
        categorical,
    })
}

/// The OBLIVIOUS record's payload after its kind word; queues its tensors.
pub(crate) fn payload(s: &ObliviousSpec, tensors: &mut Tensors) -> Vec<u32> {
    let split_words: Vec<u32> = s.splits.iter().flat_map(|x| x.encode()).collect();
    let splits = if split_words.is_empty() {
        crate::NONE
    } else {
        tensors.u32(&split_words)
    };
    let depths: Vec<u32> = s.trees.iter().map(|t| t.len() as u32).collect();
    let depths_ref = tensors.u32(&depths);
    let flat: Vec<u32> = s.trees.iter().flatten().copied().collect();
    let tree_splits = if flat.is_empty() {
        crate::NONE
    } else {
        tensors.u32(&flat)
    };
    let leaves = tensors.f64(&s.leaves);
    let mut sb = Vec::with_capacity(1 + s.bias.len());
    sb.push(s.scale);
    sb.extend_from_slice(&s.bias);
    let scale_bias = tensors.f64(&sb);
    let categorical = if s.categorical.is_empty() {
        crate::NONE
    } else {
        tensors.u32(&s.categorical)
    };
    vec![
        s.n_in,
        s.n_out,
        s.trees.len() as u32,
        s.splits.len() as u32,
        splits,
        depths_ref,
        tree_splits,
        leaves,
        scale_bias,
        categorical,
    ]
}

/// Copies a view out into an owned spec.
pub(crate) fn to_spec(o: &Oblivious<'_>) -> ObliviousSpec {
    let mut trees = Vec::with_capacity(o.depths.len());
    let mut at = 0usize;
    for &d in o.depths {
        let d = d as usize;
        trees.push(o.tree_splits.get(at..at + d).unwrap_or(&[]).to_vec());
        at += d;
    }
    ObliviousSpec {
        n_in: o.n_in,
        n_out: o.n_out,
        splits: (0..o.n_splits()).filter_map(|i| o.split(i)).collect(),
        trees,
        leaves: o.leaves.to_vec(),
        scale: o.scale_bias.first().copied().unwrap_or(1.0),
        bias: o.scale_bias.get(1..).unwrap_or(&[]).to_vec(),
        categorical: o.categorical.to_vec(),
    }
}
