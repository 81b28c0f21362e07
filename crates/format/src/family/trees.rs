//! Tree ensembles, stored flat.
//!
//! Every tree of an ensemble lives in one node table of fixed-size rows (six `u32` words per
//! node: feature, left, right, info, threshold low, threshold high), so a prediction walks
//! plain arrays with one bounds check per node. Children are *references*: a node index, or
//! a leaf index with [`LEAF`] set. The same layout serves every tree family (scikit-learn,
//! XGBoost, LightGBM, ONNX `TreeEnsemble*`); what differs between libraries — the comparison,
//! where a missing value goes, categorical sets, how leaves add up — is spelled out per node
//! or per ensemble. `docs/FORMAT.md` ("TREES stage") is the normative description.
//!
//! Version 1.1 adds a compact layout ([`FLAG_COMPACT`], [`compact`]): 16-byte rows, each
//! tree's nodes and leaves in preorder, leaf values in their rows or their parents'. The
//! writer produces it from the same [`TreesSpec`] (`compact: true`) and the reader reads both.
//!
//! This module holds the family whole: the view ([`Trees`]), the owned spec
//! ([`TreesSpec`]), the node encoding, the reader's R29 checks and the writer's record.

use crate::error::FormatError;
use crate::reader::{dim, Parser, Words};
use crate::writer::Tensors;
use crate::{Dtype, NONE};

/// Words of the record, its kind word included (R20).
pub(crate) const RECORD_LEN: u32 = 12;
/// Words of a version-1.1 record that carries node covers (word 12, rule R35).
pub(crate) const RECORD_LEN_COVERS: u32 = 13;

/// Set in a child reference when it names a leaf (the low 31 bits are the leaf index).
pub const LEAF: u32 = 0x8000_0000;

/// Words per node row.
pub const NODE_WORDS: usize = 6;

/// One node row as stored: `[feature, left, right, info, threshold_lo, threshold_hi]`.
pub type NodeRow = [u32; NODE_WORDS];

/// Reference the set of `info` words an ensemble uses ([`Trees::info_mask`]) would have
/// if every node used `word`.
pub const fn info_bit(word: u32) -> u64 {
    1u64 << (word & 63)
}

/// Ensemble flag: the tree sum is divided by the number of trees (random forests).
pub const FLAG_AVERAGE: u32 = 1;
/// Ensemble flag: a feature is rounded to `f32` before it is compared (XGBoost, and
/// scikit-learn, whose trees see `float32` inputs).
pub const FLAG_ROUND_F32: u32 = 2;
/// Ensemble flag (version 1.1): the sum is taken in `f32`, starting from the base value,
/// tree by tree in order, each addition rounded to `f32` (XGBoost's accumulation). Leaves
/// and base values are then values an `f32` holds exactly (rule R29).
pub const FLAG_SUM_F32: u32 = 4;
/// Ensemble flag (version 1.1), with [`FLAG_AVERAGE`] and per-tree targets: each output's
/// sum is divided by the number of trees per output, `n_trees / n_out`, instead of
/// `n_trees` (LightGBM's multi-class random forests divide by their iterations). Tree `i`
/// must then add to output `i mod n_out` (rule R29).
pub const FLAG_AVERAGE_PER_OUTPUT: u32 = 8;
/// Ensemble flag (version 1.1): the node table holds [`CompactRow`]s, each tree's rows in
/// preorder (a node, its left subtree, its right subtree), leaves included (see
/// [`compact`]).
pub const FLAG_COMPACT: u32 = 16;

/// The compact layout ([`FLAG_COMPACT`]): four `u32` words (16 bytes) per row, nodes and
/// leaves alike, each tree's rows contiguous and in preorder, so a root-to-leaf path reads
/// rows that follow one another on every left turn and finds its leaf value in the row it
/// ends on.
///
/// - An inner node: `[feature | flags | info << INFO_SHIFT, right, threshold_lo,
///   threshold_hi]`. Its left child is the next row; `right` is the row of its right child
///   (the row after the left subtree). `info` and the threshold words are those of a
///   [`NodeRow`].
/// - With [`NARROW`](compact::NARROW) (ensembles with [`FLAG_ROUND_F32`] only, comparison
///   nodes only) the threshold is the `f32` in word 2, and the node may hold its leaf
///   children itself (one value per leaf only, values an `f32` holds): with
///   [`LEFT_INLINE`](compact::LEFT_INLINE) the left child is the leaf whose value is the
///   `f32` in word 3 (else word 3 is 0), with [`RIGHT_INLINE`](compact::RIGHT_INLINE) the
///   right child is the leaf whose value is the `f32` in word 1. An inline leaf has no row.
/// - A leaf: `[LEAF_ROW, index, value_lo, value_hi]`: with `leaf_width == 1` the value is
///   the `f64` in words 2–3 and `index` is 0 (there is no leaf table); otherwise `index` is
///   the leaf's place in the leaf table and words 2–3 are 0.
///
/// A tree's root is the row it starts at; tree `i + 1` starts where tree `i` ends.
pub mod compact {
    /// Words per row.
    pub const ROW_WORDS: usize = 4;
    /// Word 0 of a leaf row.
    pub const LEAF_ROW: u32 = 0x8000_0000;
    /// Mask of the feature in word 0 of an inner node.
    pub const FEATURE_MASK: u32 = 0x000F_FFFF;
    /// Inner-node flag: the threshold is the `f32` in word 2.
    pub const NARROW: u32 = 1 << 20;
    /// Inner-node flag: the left child is a leaf, its value the `f32` in word 3.
    pub const LEFT_INLINE: u32 = 1 << 21;
    /// Inner-node flag: the right child is a leaf, its value the `f32` in word 1.
    pub const RIGHT_INLINE: u32 = 1 << 22;
    /// Every flag bit a valid inner node may have.
    pub const FLAGS: u32 = NARROW | LEFT_INLINE | RIGHT_INLINE;
    /// Shift of the `info` word in word 0 of an inner node.
    pub const INFO_SHIFT: u32 = 24;
    /// Mask of the `info` bits after shifting (bit 30 must be zero in a valid row).
    pub const INFO_MASK: u32 = 0x7F;
    /// Most rows a compact table may have (row indices are doubled in a walk's final
    /// reference).
    pub const MAX_ROWS: usize = (1 << 29) - 1;
}

/// One row of the compact layout; see [`compact`].
pub type CompactRow = [u32; compact::ROW_WORDS];

/// How a node compares a feature value `x`; the node goes to `left` when the test holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Split {
    /// `x < t` (XGBoost, ONNX `BRANCH_LT`).
    Lt(f64),
    /// `x <= t` (scikit-learn, LightGBM, ONNX `BRANCH_LEQ`).
    Le(f64),
    /// `x > t` (ONNX `BRANCH_GT`).
    Gt(f64),
    /// `x >= t` (ONNX `BRANCH_GTE`).
    Ge(f64),
    /// `x == t` (ONNX `BRANCH_EQ`).
    Eq(f64),
    /// `x != t` (ONNX `BRANCH_NEQ`).
    Ne(f64),
    /// The category `trunc(x)` is in the bitset of `words` `u32` words starting at word
    /// `offset` of the ensemble's category table (bit `c % 32` of word `c / 32`). Negative
    /// and too-large categories are not in the set.
    InSet {
        /// First word in the category table.
        offset: u32,
        /// Number of words.
        words: u32,
    },
}

/// What a node does with a missing value (NaN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingRule {
    /// NaN goes the node's default way.
    Default,
    /// NaN is compared as `0.0` (LightGBM's `missing_type=None`).
    AsZero,
    /// NaN, and any `x` with `|x| <= 1e-35`, go the default way (LightGBM's
    /// `missing_type=Zero`).
    ZeroOrNan,
}

/// `|x|` at or under this counts as zero for [`MissingRule::ZeroOrNan`]: LightGBM's
/// `kZeroThreshold`, the *f32* `1e-35f` (1.0000000180025095e-35 as an f64), against which
/// LightGBM compares its f64 inputs.
pub const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// One decoded node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeNode {
    /// Feature index the node reads.
    pub feature: u32,
    /// The test.
    pub split: Split,
    /// What a missing value does.
    pub missing: MissingRule,
    /// Where a missing value goes (for [`MissingRule::Default`] and [`MissingRule::ZeroOrNan`]).
    pub default_left: bool,
    /// Reference followed when the test holds.
    pub left: u32,
    /// Reference followed otherwise.
    pub right: u32,
}

/// Bits of the `info` word.
pub mod info {
    /// Mask of the comparison code.
    pub const OP_MASK: u32 = 0x7;
    /// `x < t`.
    pub const LT: u32 = 0;
    /// `x <= t`.
    pub const LE: u32 = 1;
    /// `x > t`.
    pub const GT: u32 = 2;
    /// `x >= t`.
    pub const GE: u32 = 3;
    /// `x == t`.
    pub const EQ: u32 = 4;
    /// `x != t`.
    pub const NE: u32 = 5;
    /// category in set.
    pub const IN_SET: u32 = 6;
    /// A missing value goes left.
    pub const DEFAULT_LEFT: u32 = 1 << 3;
    /// Shift of the missing rule (2 bits: 0 default, 1 as zero, 2 zero or NaN).
    pub const MISSING_SHIFT: u32 = 4;
    /// Mask of the missing rule after shifting.
    pub const MISSING_MASK: u32 = 0x3;
    /// Every bit a valid `info` word may have.
    pub const DEFINED: u32 = 0x3F;
}

impl TreeNode {
    /// Encodes the node as a row.
    pub fn encode(&self) -> NodeRow {
        let (op, bits) = match self.split {
            Split::Lt(t) => (info::LT, t.to_bits()),
            Split::Le(t) => (info::LE, t.to_bits()),
            Split::Gt(t) => (info::GT, t.to_bits()),
            Split::Ge(t) => (info::GE, t.to_bits()),
            Split::Eq(t) => (info::EQ, t.to_bits()),
            Split::Ne(t) => (info::NE, t.to_bits()),
            Split::InSet { offset, words } => {
                (info::IN_SET, u64::from(offset) | (u64::from(words) << 32))
            }
        };
        let missing = match self.missing {
            MissingRule::Default => 0,
            MissingRule::AsZero => 1,
            MissingRule::ZeroOrNan => 2,
        };
        let word =
            op | if self.default_left {
                info::DEFAULT_LEFT
            } else {
                0
            } | (missing << info::MISSING_SHIFT);
        [
            self.feature,
            self.left,
            self.right,
            word,
            bits as u32,
            (bits >> 32) as u32,
        ]
    }

    /// Decodes a row; `None` when the `info` word holds an undefined code.
    pub fn decode(row: &NodeRow) -> Option<TreeNode> {
        let [feature, left, right, word, lo, hi] = *row;
        if word & !info::DEFINED != 0 {
            return None;
        }
        let bits = u64::from(lo) | (u64::from(hi) << 32);
        let t = f64::from_bits(bits);
        let split = match word & info::OP_MASK {
            info::LT => Split::Lt(t),
            info::LE => Split::Le(t),
            info::GT => Split::Gt(t),
            info::GE => Split::Ge(t),
            info::EQ => Split::Eq(t),
            info::NE => Split::Ne(t),
            info::IN_SET => Split::InSet {
                offset: lo,
                words: hi,
            },
            _ => return None,
        };
        let missing = match (word >> info::MISSING_SHIFT) & info::MISSING_MASK {
            0 => MissingRule::Default,
            1 => MissingRule::AsZero,
            2 => MissingRule::ZeroOrNan,
            _ => return None,
        };
        Some(TreeNode {
            feature,
            split,
            missing,
            default_left: word & info::DEFAULT_LEFT != 0,
            left,
            right,
        })
    }
}

/// A tree ensemble viewed in place.
///
/// Output `j` of the stage is `base[j] + s_j` where `s_j` sums (or, with
/// [`FLAG_AVERAGE`], averages over the trees) the leaf values that land on output `j`: with
/// `leaf_width == n_out` each leaf holds one value per output; with `leaf_width == 1` each leaf
/// holds one value, added to output `targets[tree]` (output 0 when there is one output).
#[derive(Debug, Clone, Copy)]
pub struct Trees<'a> {
    /// Width of the input the trees read.
    pub n_in: u32,
    /// Width of the output.
    pub n_out: u32,
    /// [`FLAG_AVERAGE`] | [`FLAG_ROUND_F32`] | [`FLAG_SUM_F32`] | [`FLAG_AVERAGE_PER_OUTPUT`].
    pub flags: u32,
    /// Values per leaf: 1 or `n_out`.
    pub leaf_width: u32,
    /// Root reference of each tree (a tree may be a single leaf).
    pub roots: &'a [u32],
    /// The node table (empty with [`FLAG_COMPACT`]).
    pub nodes: &'a [NodeRow],
    /// The compact node table, nodes and leaves (with [`FLAG_COMPACT`]; else empty).
    pub compact: &'a [CompactRow],
    /// Leaf values, `leaf_width` per leaf (empty with [`FLAG_COMPACT`] and `leaf_width == 1`:
    /// the values are in the leaf rows).
    pub leaves: &'a [f64],
    /// Output each tree adds to (`leaf_width == 1` and `n_out > 1` only; else empty).
    pub targets: &'a [u32],
    /// Per-output base value.
    pub base: &'a [f64],
    /// Category bitsets for [`Split::InSet`] nodes (may be empty).
    pub categories: &'a [u32],
    /// Node covers (version 1.1, rule R35; empty when the file has none): the weight of
    /// training data that reached each node of the node table, then each leaf of the leaf
    /// table, in table order (`nodes.len() + n_leaves` values). Tree SHAP needs them.
    pub covers: &'a [f64],
    /// Bit `i` is set when some node's `info` word equals `i` (every defined `info` word is
    /// below 64): which tests and missing rules the ensemble uses, found while validating,
    /// so that an engine can pick a walk specialised for them without another pass.
    pub info_mask: u64,
}

impl Trees<'_> {
    /// Whether the trees' sum is divided by their number.
    pub fn average(&self) -> bool {
        self.flags & FLAG_AVERAGE != 0
    }
    /// Whether features are rounded to `f32` before comparisons.
    pub fn round_f32(&self) -> bool {
        self.flags & FLAG_ROUND_F32 != 0
    }
    /// The divisor of an averaging ensemble: the trees per output with
    /// [`FLAG_AVERAGE_PER_OUTPUT`], else all the trees.
    pub fn average_divisor(&self) -> f64 {
        let n = self.roots.len();
        if self.flags & FLAG_AVERAGE_PER_OUTPUT != 0 {
            (n / self.n_out.max(1) as usize) as f64
        } else {
            n as f64
        }
    }
    /// Whether the sum is taken in `f32` from the base value ([`FLAG_SUM_F32`]).
    pub fn sum_f32(&self) -> bool {
        self.flags & FLAG_SUM_F32 != 0
    }
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }
    /// Whether the node table has the compact layout ([`FLAG_COMPACT`]).
    pub fn is_compact(&self) -> bool {
        self.flags & FLAG_COMPACT != 0
    }
    /// Whether the stage carries node covers (R35).
    pub fn has_covers(&self) -> bool {
        !self.covers.is_empty()
    }
    /// Bytes of the node and leaf tables.
    pub fn table_bytes(&self) -> usize {
        std::mem::size_of_val(self.nodes)
            + std::mem::size_of_val(self.compact)
            + std::mem::size_of_val(self.leaves)
    }
}

/// An owned tree ensemble, for the writer. See [`Trees`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TreesSpec {
    /// Input width.
    pub n_in: u32,
    /// Output width.
    pub n_out: u32,
    /// Divide the tree sum by the number of trees.
    pub average: bool,
    /// Round features to `f32` before comparing.
    pub round_f32: bool,
    /// Sum in `f32` from the base value, tree by tree ([`FLAG_SUM_F32`]; version 1.1).
    pub sum_f32: bool,
    /// Average over the trees per output ([`FLAG_AVERAGE_PER_OUTPUT`]; version 1.1).
    pub average_per_output: bool,
    /// Values per leaf: 1 or `n_out`.
    pub leaf_width: u32,
    /// Root reference of each tree.
    pub roots: Vec<u32>,
    /// Nodes. A child node's index must be greater than its parent's.
    pub nodes: Vec<TreeNode>,
    /// Leaf values, `leaf_width` per leaf.
    pub leaves: Vec<f64>,
    /// Output of each tree when `leaf_width == 1` and `n_out > 1`; empty otherwise.
    pub targets: Vec<u32>,
    /// Per-output base values (`n_out`).
    pub base: Vec<f64>,
    /// Category bitset words.
    pub categories: Vec<u32>,
    /// Node covers ([`Trees::covers`]): one per node, then one per leaf; empty for none.
    /// Written only in the classic layout: with [`Self::compact`] (where the compact layout
    /// holds the trees) the writer leaves them out. They need version 1.1.
    pub covers: Vec<f64>,
    /// Write the compact layout ([`FLAG_COMPACT`]; version 1.1) when the ensemble allows it
    /// (every reference in range, every tree a tree, `n_in` under 2^24); the `nodes`,
    /// `roots` and `leaves` above are then rearranged by the writer, and `covers` left out.
    pub compact: bool,
}

/// Which node layout a converter asks the writer for ([`TreesSpec::compact`]).
///
/// The compact layout halves the bytes of an ensemble that compares in `f32` (16 bytes a
/// node against 32), which saves page faults on the first answer of a large model, but its
/// walk is slower warm (docs/BENCHMARKS.md, "The compact node layout"). [`TreeLayout::Auto`]
/// therefore writes it only where the cold-start saving is large: ensembles that compare in
/// `f32` with at least [`COMPACT_AUTO_MIN_NODES`] nodes and one value per leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeLayout {
    /// Compact for large ensembles that compare in `f32` with one value per leaf, classic
    /// otherwise.
    #[default]
    Auto,
    /// Always the classic layout (24-byte nodes, a leaf table).
    Classic,
    /// The compact layout wherever the ensemble allows it.
    Compact,
}

/// Nodes from which [`TreeLayout::Auto`] writes an `f32` ensemble compactly: 131 072, a
/// classic node table of 4 MiB.
pub const COMPACT_AUTO_MIN_NODES: usize = 1 << 17;

impl TreeLayout {
    /// Whether an ensemble gets the compact layout under this choice.
    pub fn wants_compact(self, t: &TreesSpec) -> bool {
        match self {
            // One value per leaf: vector leaves (XGBoost's multi_output_tree) take more
            // bytes compact than classic (a leaf row per leaf on top of the leaf table).
            TreeLayout::Auto => {
                t.round_f32 && t.leaf_width <= 1 && t.nodes.len() >= COMPACT_AUTO_MIN_NODES
            }
            TreeLayout::Classic => false,
            TreeLayout::Compact => true,
        }
    }

    /// Sets [`TreesSpec::compact`] on every tree stage of `spec` under this choice. An
    /// ensemble written compact is written without its node covers (the layout has none,
    /// rule R35): the compact layout, asked for or chosen by [`TreeLayout::Auto`] for a large
    /// `f32` ensemble, trades explanations for the smaller table and the faster cold start;
    /// [`TreeLayout::Classic`] keeps them.
    pub fn apply(self, spec: &mut crate::ModelSpec) {
        for stage in &mut spec.stages {
            if let crate::StageSpec::Trees(t) = stage {
                t.compact = self.wants_compact(t);
            }
        }
    }
}

/// The TREES record after its kind word; R29 in full.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    len: u32,
    w: &mut Words<'_>,
) -> Result<Trees<'a>, FormatError> {
    let n_in = dim("n_in", w.next()?)?;
    let n_out = dim("n_out", w.next()?)?;
    let flags = w.next()?;
    let known = if p.minor >= 1 {
        FLAG_AVERAGE | FLAG_ROUND_F32 | FLAG_SUM_F32 | FLAG_AVERAGE_PER_OUTPUT | FLAG_COMPACT
    } else {
        FLAG_AVERAGE | FLAG_ROUND_F32
    };
    if flags & !known != 0 {
        return Err(FormatError::UnknownValue {
            field: "trees.flags",
            value: flags,
        });
    }
    let leaf_width = dim("leaf_width", w.next()?)?;
    let n_trees = dim("n_trees", w.next()?)?;
    let (nodes_ix, roots_ix, leaves_ix, targets_ix, base_ix, cats_ix) = (
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
        w.next()?,
    );
    let covers_ix = if len == RECORD_LEN_COVERS {
        Some(w.next()?)
    } else {
        None
    };
    let bad = |index: u32, reason: &'static str| FormatError::BadTrees {
        stage,
        index,
        reason,
    };
    if leaf_width != 1 && leaf_width != n_out {
        return Err(bad(0, "leaf_width is neither 1 nor n_out"));
    }
    let is_compact = flags & FLAG_COMPACT != 0;
    let compact_rows: &'a [CompactRow] = if is_compact {
        let words: &'a [u32] = p.typed_tensor(stage, nodes_ix, Dtype::U32, None)?;
        if words.is_empty() || words.len() % compact::ROW_WORDS != 0 {
            return Err(FormatError::BadTensorRef {
                stage,
                section: nodes_ix,
                reason: "compact node table is not a whole, non-zero number of 4-word rows",
            });
        }
        if words.len() / compact::ROW_WORDS > compact::MAX_ROWS {
            return Err(bad(0, "compact node table has 2^29 rows or more"));
        }
        bytemuck::try_cast_slice(words).map_err(|_| FormatError::BadTensorRef {
            stage,
            section: nodes_ix,
            reason: "not aligned",
        })?
    } else {
        &[]
    };
    let nodes: &'a [NodeRow] = if nodes_ix == NONE || is_compact {
        &[]
    } else {
        let words: &'a [u32] = p.typed_tensor(stage, nodes_ix, Dtype::U32, None)?;
        if words.len() % NODE_WORDS != 0 {
            return Err(FormatError::BadTensorRef {
                stage,
                section: nodes_ix,
                reason: "node table is not a whole number of 6-word rows",
            });
        }
        bytemuck::try_cast_slice(words).map_err(|_| FormatError::BadTensorRef {
            stage,
            section: nodes_ix,
            reason: "not aligned",
        })?
    };
    let roots: &'a [u32] = p.typed_tensor(stage, roots_ix, Dtype::U32, Some(u64::from(n_trees)))?;
    let inline_leaves = is_compact && leaf_width == 1;
    let leaves: &'a [f64] = if inline_leaves {
        if leaves_ix != NONE {
            return Err(bad(
                0,
                "a compact ensemble with one value per leaf has no leaf table",
            ));
        }
        &[]
    } else {
        p.typed_tensor(stage, leaves_ix, Dtype::F64, None)?
    };
    if !inline_leaves && (leaves.is_empty() || leaves.len() % leaf_width as usize != 0) {
        return Err(bad(
            0,
            "leaf table is not a whole, non-zero number of leaves",
        ));
    }
    let n_leaves = (leaves.len() / leaf_width as usize) as u64;
    let targets: &'a [u32] = if leaf_width == 1 && n_out > 1 {
        p.typed_tensor(stage, targets_ix, Dtype::U32, Some(u64::from(n_trees)))?
    } else if targets_ix != NONE {
        return Err(bad(
            0,
            "targets are only stored when leaf_width is 1 and n_out > 1",
        ));
    } else {
        &[]
    };
    let base: &'a [f64] = p.typed_tensor(stage, base_ix, Dtype::F64, Some(u64::from(n_out)))?;
    let categories: &'a [u32] = if cats_ix == NONE {
        &[]
    } else {
        p.typed_tensor(stage, cats_ix, Dtype::U32, None)?
    };
    // One word per tree (multi-output ensembles with one value per leaf only), checked even
    // for an attested file: the engine adds each tree's leaf into output `targets[tree]`.
    for (i, &t) in targets.iter().enumerate() {
        if t >= n_out {
            return Err(bad(i as u32, "tree target is not an output"));
        }
    }
    let covers: &'a [f64] = match covers_ix {
        None => &[],
        Some(ix) => {
            let bad = |index: u32, reason: &'static str| FormatError::BadCovers {
                stage,
                index,
                reason,
            };
            if is_compact {
                return Err(bad(0, "covers in the compact layout"));
            }
            if ix == NONE {
                return Err(bad(0, "a record of 13 words names no covers section"));
            }
            let n = nodes.len() as u64 + n_leaves;
            p.typed_tensor(stage, ix, Dtype::F64, Some(n))?
        }
    };
    let info_mask = match p.next_tree_mask(stage)? {
        // Verified at build time: the walk below ran then; the engine's walks are bounded
        // and checked whatever the bytes.
        Some(mask) => mask,
        None => {
            let mask = if is_compact {
                check_compact(
                    stage,
                    compact_rows,
                    roots,
                    leaf_width,
                    flags,
                    categories,
                    n_in,
                    n_leaves,
                )?
            } else {
                check_nodes(
                    stage, nodes, roots, leaves, base, categories, n_in, n_leaves,
                )?
            };
            check_flags(stage, flags, n_trees, n_out, leaves, base, targets)?;
            check_covers(stage, covers, nodes.len())?;
            mask
        }
    };
    Ok(Trees {
        n_in,
        n_out,
        flags,
        leaf_width,
        roots,
        nodes,
        compact: compact_rows,
        leaves,
        targets,
        base,
        categories,
        covers,
        info_mask,
    })
}

/// R35's value rule: every cover finite and not negative, every inner node's positive (a
/// Tree SHAP walk divides by it).
fn check_covers(stage: u32, covers: &[f64], n_nodes: usize) -> Result<(), FormatError> {
    let bad = |index: usize, reason: &'static str| FormatError::BadCovers {
        stage,
        index: index as u32,
        reason,
    };
    if let Some(i) = covers.iter().position(|c| !c.is_finite() || *c < 0.0) {
        return Err(bad(i, "cover is not finite and non-negative"));
    }
    if let Some(i) = covers.iter().take(n_nodes).position(|c| *c <= 0.0) {
        return Err(bad(i, "inner node cover is not positive"));
    }
    Ok(())
}

/// The node a compact inner row describes, its children as row indices (`None` for a leaf
/// row or an undefined code). An inline leaf child's reference is [`LEAF`]; its value is
/// [`inline_leaves`]'s.
pub fn decode_compact(row: &CompactRow, at: u32) -> Option<TreeNode> {
    let w0 = row[0];
    if w0 & compact::LEAF_ROW != 0 {
        return None;
    }
    let info = (w0 >> compact::INFO_SHIFT) & compact::INFO_MASK;
    let (lo, hi) = if w0 & compact::NARROW != 0 {
        let bits = f64::from(f32::from_bits(row[2])).to_bits();
        (bits as u32, (bits >> 32) as u32)
    } else {
        (row[2], row[3])
    };
    let left = if w0 & compact::LEFT_INLINE != 0 {
        LEAF
    } else {
        at.checked_add(1)?
    };
    let right = if w0 & compact::RIGHT_INLINE != 0 {
        LEAF
    } else {
        row[1]
    };
    let node = TreeNode::decode(&[w0 & compact::FEATURE_MASK, left, right, info, lo, hi])?;
    if w0 & compact::NARROW != 0 && matches!(node.split, Split::InSet { .. }) {
        return None;
    }
    Some(node)
}

/// The values of a compact inner row's inline leaf children (left, right).
pub fn inline_leaves(row: &CompactRow) -> (Option<f64>, Option<f64>) {
    let value = |flag: u32, word: u32| {
        (row[0] & compact::LEAF_ROW == 0 && row[0] & flag != 0)
            .then(|| f64::from(f32::from_bits(word)))
    };
    (
        value(compact::LEFT_INLINE, row[3]),
        value(compact::RIGHT_INLINE, row[1]),
    )
}

/// R29 for the compact layout: the rows form the trees in order, each in preorder, every
/// node valid, every leaf row well formed; returns the ensemble's [`Trees::info_mask`].
#[allow(clippy::too_many_arguments)]
fn check_compact(
    stage: u32,
    rows: &[CompactRow],
    roots: &[u32],
    leaf_width: u32,
    flags: u32,
    categories: &[u32],
    n_in: u32,
    n_leaves: u64,
) -> Result<u64, FormatError> {
    let sum_f32 = flags & FLAG_SUM_F32 != 0;
    let round_f32 = flags & FLAG_ROUND_F32 != 0;
    let bad = |index: usize, reason: &'static str| FormatError::BadTrees {
        stage,
        index: index as u32,
        reason,
    };
    let mut info_mask = 0u64;
    let mut next = 0usize;
    // Right children still to come, innermost last.
    let mut pending: Vec<u32> = Vec::new();
    for (t, &root) in roots.iter().enumerate() {
        if root as usize != next {
            return Err(bad(t, "tree does not start where the previous one ends"));
        }
        let mut pos = next;
        loop {
            let row = rows
                .get(pos)
                .ok_or(bad(pos, "tree runs past the node table"))?;
            if row[0] & compact::LEAF_ROW != 0 {
                if row[0] != compact::LEAF_ROW {
                    return Err(bad(pos, "leaf row with stray bits"));
                }
                if leaf_width == 1 {
                    let v = f64::from_bits(u64::from(row[2]) | (u64::from(row[3]) << 32));
                    if row[1] != 0 {
                        return Err(bad(pos, "inline leaf row with a leaf index"));
                    }
                    if !v.is_finite() {
                        return Err(bad(pos, "leaf value is not finite"));
                    }
                    if sum_f32 && f64::from(v as f32) != v {
                        return Err(bad(pos, "leaf value of an f32 sum is not an f32"));
                    }
                } else if u64::from(row[1]) >= n_leaves || row[2] != 0 || row[3] != 0 {
                    return Err(bad(pos, "leaf row index out of range"));
                }
                pos += 1;
            } else {
                let w0 = row[0];
                let node =
                    decode_compact(row, pos as u32).ok_or(bad(pos, "undefined node code"))?;
                if w0 & (1 << 23) != 0 {
                    return Err(bad(pos, "undefined node code"));
                }
                info_mask |= info_bit((w0 >> compact::INFO_SHIFT) & compact::INFO_MASK);
                if node.feature >= n_in {
                    return Err(bad(pos, "feature index outside the input"));
                }
                check_split(&node.split, categories).map_err(|r| bad(pos, r))?;
                let narrow = w0 & compact::NARROW != 0;
                let inline = w0 & (compact::LEFT_INLINE | compact::RIGHT_INLINE);
                if narrow && !round_f32 {
                    return Err(bad(
                        pos,
                        "f32 threshold in an ensemble that compares in f64",
                    ));
                }
                if inline != 0 && (!narrow || leaf_width != 1) {
                    return Err(bad(
                        pos,
                        "inline leaves need an f32 threshold and one value per leaf",
                    ));
                }
                if narrow && w0 & compact::LEFT_INLINE == 0 && row[3] != 0 {
                    return Err(bad(pos, "stray bits after an f32 threshold"));
                }
                let (l, r) = inline_leaves(row);
                if l.into_iter().chain(r).any(|v| !v.is_finite()) {
                    return Err(bad(pos, "leaf value is not finite"));
                }
                pos += 1;
                if w0 & compact::RIGHT_INLINE == 0 {
                    pending.push(row[1]);
                }
                if w0 & compact::LEFT_INLINE == 0 {
                    // The left subtree follows.
                    continue;
                }
            }
            // A subtree is complete: the next row starts the innermost right child due.
            match pending.pop() {
                Some(right) if right as usize == pos => {}
                Some(_) => {
                    return Err(bad(
                        pos,
                        "right child is not the row after the left subtree",
                    ))
                }
                None => break,
            }
        }
        next = pos;
    }
    if next != rows.len() {
        return Err(bad(next, "rows after the last tree"));
    }
    Ok(info_mask)
}

/// A split's own rule: a threshold is not NaN, a category set lies in the table.
fn check_split(split: &Split, categories: &[u32]) -> Result<(), &'static str> {
    match *split {
        Split::InSet { offset, words } => {
            let end = u64::from(offset) + u64::from(words);
            if words == 0 || end > categories.len() as u64 {
                return Err("category set outside the category table");
            }
        }
        Split::Lt(t) | Split::Le(t) | Split::Gt(t) | Split::Ge(t) | Split::Eq(t) | Split::Ne(t) => {
            if t.is_nan() {
                return Err("threshold is NaN");
            }
        }
    }
    Ok(())
}

/// R29's rules for the `average_per_output` and `sum_f32` flags (part of the full check: the
/// engine's walks stay safe whatever they hold, only the answers depend on them).
fn check_flags(
    stage: u32,
    flags: u32,
    n_trees: u32,
    n_out: u32,
    leaves: &[f64],
    base: &[f64],
    targets: &[u32],
) -> Result<(), FormatError> {
    let bad = |index: u32, reason: &'static str| FormatError::BadTrees {
        stage,
        index,
        reason,
    };
    if flags & FLAG_AVERAGE_PER_OUTPUT != 0 {
        if flags & FLAG_AVERAGE == 0 || targets.is_empty() {
            return Err(bad(
                0,
                "averaging per output needs averaging and per-tree targets",
            ));
        }
        if n_trees % n_out != 0 {
            return Err(bad(
                0,
                "averaging per output needs n_trees a multiple of n_out",
            ));
        }
        if let Some(i) = (0..targets.len()).position(|i| targets[i] as usize != i % n_out as usize)
        {
            return Err(bad(
                i as u32,
                "averaging per output needs tree i on output i mod n_out",
            ));
        }
    }
    if flags & FLAG_SUM_F32 != 0 {
        let not_f32 = |v: &f64| f64::from(*v as f32) != *v;
        if flags & FLAG_AVERAGE != 0 {
            return Err(bad(0, "an f32 sum cannot be averaged"));
        }
        if let Some(i) = leaves.iter().position(not_f32) {
            return Err(bad(i as u32, "leaf value of an f32 sum is not an f32"));
        }
        if let Some(i) = base.iter().position(not_f32) {
            return Err(bad(i as u32, "base value of an f32 sum is not an f32"));
        }
    }
    Ok(())
}

/// R29's walk over every root, node, leaf and base value; returns the ensemble's
/// [`Trees::info_mask`].
#[allow(clippy::too_many_arguments)]
fn check_nodes(
    stage: u32,
    nodes: &[NodeRow],
    roots: &[u32],
    leaves: &[f64],
    base: &[f64],
    categories: &[u32],
    n_in: u32,
    n_leaves: u64,
) -> Result<u64, FormatError> {
    let bad = |index: u32, reason: &'static str| FormatError::BadTrees {
        stage,
        index,
        reason,
    };
    let n_nodes = nodes.len() as u64;
    let check_ref = |r: u32, after: Option<u64>| -> bool {
        if r & LEAF != 0 {
            u64::from(r & !LEAF) < n_leaves
        } else {
            let r = u64::from(r);
            r < n_nodes && after.is_none_or(|p| r > p)
        }
    };
    for (i, &r) in roots.iter().enumerate() {
        if !check_ref(r, None) {
            return Err(bad(i as u32, "root reference out of range"));
        }
    }
    let mut info_mask = 0u64;
    for (i, row) in nodes.iter().enumerate() {
        let ix = i as u32;
        let node = TreeNode::decode(row).ok_or(bad(ix, "undefined node code"))?;
        info_mask |= info_bit(row[3]);
        if node.feature >= n_in {
            return Err(bad(ix, "feature index outside the input"));
        }
        if !check_ref(node.left, Some(i as u64)) || !check_ref(node.right, Some(i as u64)) {
            return Err(bad(
                ix,
                "child reference out of range or not after its parent",
            ));
        }
        check_split(&node.split, categories).map_err(|r| bad(ix, r))?;
    }
    if let Some(i) = leaves.iter().position(|v| !v.is_finite()) {
        return Err(bad(i as u32, "leaf value is not finite"));
    }
    if let Some(i) = base.iter().position(|v| !v.is_finite()) {
        return Err(bad(i as u32, "base value is not finite"));
    }
    Ok(info_mask)
}

/// The TREES record's payload after its kind word; queues its tensors.
pub(crate) fn payload(t: &TreesSpec, tensors: &mut Tensors) -> Vec<u32> {
    let laid = if t.compact { to_compact(t) } else { None };
    let (nodes, roots, leaves) = match &laid {
        Some((rows, roots)) => {
            let words: Vec<u32> = rows.iter().flatten().copied().collect();
            let leaves = if t.leaf_width == 1 {
                NONE
            } else {
                tensors.f64(&t.leaves)
            };
            (tensors.opt_u32(&words), tensors.u32(roots), leaves)
        }
        None => {
            let rows: Vec<u32> = t.nodes.iter().flat_map(|n| n.encode()).collect();
            (
                tensors.opt_u32(&rows),
                tensors.u32(&t.roots),
                tensors.f64(&t.leaves),
            )
        }
    };
    let targets = tensors.opt_u32(&t.targets);
    let base = tensors.f64(&t.base);
    let cats = tensors.opt_u32(&t.categories);
    // Covers exist only in the classic layout (R35): a compact ensemble is written without.
    let covers = (!t.covers.is_empty() && laid.is_none()).then(|| tensors.f64(&t.covers));
    let flags = if t.average { FLAG_AVERAGE } else { 0 }
        | if t.round_f32 { FLAG_ROUND_F32 } else { 0 }
        | if t.sum_f32 { FLAG_SUM_F32 } else { 0 }
        | if t.average_per_output {
            FLAG_AVERAGE_PER_OUTPUT
        } else {
            0
        }
        | if laid.is_some() { FLAG_COMPACT } else { 0 };
    let mut words = vec![
        t.n_in,
        t.n_out,
        flags,
        t.leaf_width,
        t.roots.len() as u32,
        nodes,
        roots,
        leaves,
        targets,
        base,
        cats,
    ];
    words.extend(covers);
    words
}

/// Lays `t` out compactly: the rows and each tree's first row. `None` when the ensemble
/// cannot be (a reference out of range, a node reached twice, `n_in` of 2^24 or more, a
/// leaf-width-1 leaf past the table): the writer then keeps the classic layout.
fn to_compact(t: &TreesSpec) -> Option<(Vec<CompactRow>, Vec<u32>)> {
    if t.n_in > compact::FEATURE_MASK + 1 || t.leaf_width == 0 {
        return None;
    }
    let f32_exact = |v: f64| f64::from(v as f32) == v;
    // The value of leaf reference `r` when it can sit in its parent's row.
    let inline_value = |r: u32| -> Option<u32> {
        if r & LEAF == 0 || t.leaf_width != 1 {
            return None;
        }
        let v = *t.leaves.get((r & !LEAF) as usize)?;
        f32_exact(v).then(|| (v as f32).to_bits())
    };
    let w = t.leaf_width as usize;
    let n_leaves = t.leaves.len() / w;
    // A valid ensemble's trees have one row per node and at most one per leaf reference
    // (a node has two children, a tree one root); a node reached twice (a shared subtree)
    // could exceed any bound, so the rows are capped.
    let budget = (2 * t.nodes.len() + t.roots.len()).min(compact::MAX_ROWS);
    let mut rows: Vec<CompactRow> = Vec::new();
    let mut roots = Vec::with_capacity(t.roots.len());
    let mut stack: Vec<(u32, Option<usize>)> = Vec::new();
    for &root in &t.roots {
        roots.push(u32::try_from(rows.len()).ok()?);
        stack.push((root, None));
        while let Some((r, parent)) = stack.pop() {
            if rows.len() >= budget {
                return None;
            }
            let pos = rows.len();
            if let Some(parent) = parent {
                rows[parent][1] = u32::try_from(pos).ok()?;
            }
            if r & LEAF != 0 {
                let leaf = (r & !LEAF) as usize;
                if leaf >= n_leaves {
                    return None;
                }
                if w == 1 {
                    let bits = t.leaves[leaf].to_bits();
                    rows.push([compact::LEAF_ROW, 0, bits as u32, (bits >> 32) as u32]);
                } else {
                    rows.push([compact::LEAF_ROW, leaf as u32, 0, 0]);
                }
            } else {
                let node = t.nodes.get(r as usize)?;
                let [feature, _, _, info, lo, hi] = node.encode();
                if feature > compact::FEATURE_MASK {
                    return None;
                }
                let narrow = match node.split {
                    Split::InSet { .. } => None,
                    Split::Lt(v)
                    | Split::Le(v)
                    | Split::Gt(v)
                    | Split::Ge(v)
                    | Split::Eq(v)
                    | Split::Ne(v) => {
                        (t.round_f32 && !v.is_nan() && f32_exact(v)).then(|| (v as f32).to_bits())
                    }
                };
                let w0 = feature | (info << compact::INFO_SHIFT);
                let Some(t32) = narrow else {
                    rows.push([w0, 0, lo, hi]);
                    stack.push((node.right, Some(pos)));
                    stack.push((node.left, None));
                    continue;
                };
                let (l, r) = (inline_value(node.left), inline_value(node.right));
                let mut row = [w0 | compact::NARROW, 0, t32, 0];
                if let Some(v) = r {
                    row[0] |= compact::RIGHT_INLINE;
                    row[1] = v;
                } else {
                    stack.push((node.right, Some(pos)));
                }
                if let Some(v) = l {
                    row[0] |= compact::LEFT_INLINE;
                    row[3] = v;
                } else {
                    stack.push((node.left, None));
                }
                rows.push(row);
            }
        }
    }
    Some((rows, roots))
}

/// The compact rows of `t` back in the classic form: inner rows become nodes and leaf rows
/// leaves, both in row order.
fn from_compact(t: &Trees<'_>) -> (Vec<TreeNode>, Vec<u32>, Vec<f64>) {
    let inline = t.leaf_width == 1;
    let mut refs = Vec::with_capacity(t.compact.len());
    // Leaf references of each row's inline children.
    let mut inline_refs = Vec::with_capacity(t.compact.len());
    let (mut n_nodes, mut n_leaves) = (0u32, 0u32);
    let mut leaves = Vec::new();
    for row in t.compact {
        let (l, r) = inline_leaves(row);
        let mut push = |v: Option<f64>| {
            v.map(|v| {
                leaves.push(v);
                n_leaves += 1;
                LEAF | (n_leaves - 1)
            })
        };
        let (l, r) = (push(l), push(r));
        inline_refs.push((l, r));
        if row[0] & compact::LEAF_ROW != 0 {
            if inline {
                refs.push(LEAF | n_leaves);
                n_leaves += 1;
                leaves.push(f64::from_bits(
                    u64::from(row[2]) | (u64::from(row[3]) << 32),
                ));
            } else {
                refs.push(LEAF | row[1]);
            }
        } else {
            refs.push(n_nodes);
            n_nodes += 1;
        }
    }
    let at = |r: u32| refs.get(r as usize).copied().unwrap_or(LEAF);
    let nodes = t
        .compact
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            let mut n = decode_compact(row, i as u32)?;
            let (l, r) = inline_refs.get(i).copied().unwrap_or_default();
            n.left = l.unwrap_or_else(|| at(n.left));
            n.right = r.unwrap_or_else(|| at(n.right));
            Some(n)
        })
        .collect();
    let roots = t.roots.iter().map(|&r| at(r)).collect();
    if !inline {
        leaves = t.leaves.to_vec();
    }
    (nodes, roots, leaves)
}

/// Copies the view out into an owned spec (the classic form, with `compact` set when the
/// file had the compact layout).
pub fn to_spec(t: &Trees<'_>) -> TreesSpec {
    if t.is_compact() {
        let (nodes, roots, leaves) = from_compact(t);
        return TreesSpec {
            nodes,
            roots,
            leaves,
            compact: true,
            ..to_spec(&Trees {
                flags: t.flags & !FLAG_COMPACT,
                compact: &[],
                ..*t
            })
        };
    }
    TreesSpec {
        compact: false,
        n_in: t.n_in,
        n_out: t.n_out,
        average: t.average(),
        round_f32: t.round_f32(),
        sum_f32: t.sum_f32(),
        average_per_output: t.flags & FLAG_AVERAGE_PER_OUTPUT != 0,
        leaf_width: t.leaf_width,
        roots: t.roots.to_vec(),
        // Validated rows always decode.
        nodes: t.nodes.iter().filter_map(TreeNode::decode).collect(),
        leaves: t.leaves.to_vec(),
        targets: t.targets.to_vec(),
        base: t.base.to_vec(),
        categories: t.categories.to_vec(),
        covers: t.covers.to_vec(),
    }
}
