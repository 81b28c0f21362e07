//! Tree ensembles, stored flat.
//!
//! Every tree of an ensemble lives in one node table of fixed-size rows (six `u32` words per
//! node: feature, left, right, info, threshold low, threshold high), so a prediction walks
//! plain arrays with one bounds check per node. Children are *references*: a node index, or
//! a leaf index with [`LEAF`] set. The same layout serves every tree family (scikit-learn,
//! XGBoost, LightGBM, ONNX `TreeEnsemble*`); what differs between libraries — the comparison,
//! where a missing value goes, categorical sets, how leaves add up — is spelled out per node
//! or per ensemble. `docs/FORMAT.md` ("TREES stage") is the normative description.

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
    /// [`FLAG_AVERAGE`] | [`FLAG_ROUND_F32`].
    pub flags: u32,
    /// Values per leaf: 1 or `n_out`.
    pub leaf_width: u32,
    /// Root reference of each tree (a tree may be a single leaf).
    pub roots: &'a [u32],
    /// The node table.
    pub nodes: &'a [NodeRow],
    /// Leaf values, `leaf_width` per leaf.
    pub leaves: &'a [f64],
    /// Output each tree adds to (`leaf_width == 1` and `n_out > 1` only; else empty).
    pub targets: &'a [u32],
    /// Per-output base value.
    pub base: &'a [f64],
    /// Category bitsets for [`Split::InSet`] nodes (may be empty).
    pub categories: &'a [u32],
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
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
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
}
