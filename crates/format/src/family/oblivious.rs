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
/// Words of the record with its optional word 11, the CTR section (R37).
pub(crate) const RECORD_LEN_CTR: u32 = 12;

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
/// Split word 0 flag: a CTR split, true when CTR `feature` (an index into the CTR
/// section's definitions, not an input) of the row, an `f32`, is greater than the `f32` in
/// word 1. Also, in a CTR projection element, the flag of a categorical feature whose hash
/// enters the projection's hash (see [`Ctrs`]).
pub const CTR: u32 = 1 << 29;

/// Words of the CTR section's header: `n_ctrs`, `n_tables`, `n_elements`, `n_entries`.
pub const CTR_HEADER_WORDS: usize = 4;
/// Words per CTR table: `elements_start`, `n_elements`, `entries_start`, `n_entries`,
/// `width`, `counts_start` (the table's first count in the counts part).
pub const CTR_TABLE_WORDS: usize = 6;
/// Words per CTR definition: `table`, `type`, `target_border` (for [`CTR_COUNTER`], the
/// counter denominator), then the `f32` bits of `prior_numerator`, `prior_denominator`,
/// `shift` and `scale`.
pub const CTR_DEF_WORDS: usize = 7;
/// CTR type `Borders`: the value is
/// `((good + prior_num) / (total + prior_denom) + shift) · scale` in `f32`, good the counts
/// of the classes above `target_border`, total all of the entry's counts (0 and 0 for a hash
/// not in the table).
pub const CTR_BORDERS: u32 = 0;
/// CTR type `Counter`: its table has width 1 (one count per entry) and the definition's
/// third word holds the table's counter denominator `d` (`0..=i32::MAX`) instead of a
/// target border; the value is `((count + prior_num) / (d + prior_denom) + shift) · scale`
/// in `f32`, count 0 for a hash not in the table. Other type values are reserved.
pub const CTR_COUNTER: u32 = 1;
/// The hash CatBoost's hash index reserves for an empty bucket: never found, never stored.
pub const CTR_EMPTY_HASH: u64 = u64::MAX;

/// The CTR section of an oblivious stage (optional record word 11, R37), one `u32` tensor:
/// a header ([`CTR_HEADER_WORDS`]), then the tables ([`CTR_TABLE_WORDS`] each), the
/// projection elements (two words each, the split encoding: a [`CTR`]-flagged categorical
/// feature, or a float or one-hot test giving 0 or 1), the definitions ([`CTR_DEF_WORDS`]
/// each), the hashes (two words each, low then high half of a `u64`, strictly increasing
/// within a table) and the counts (`width` words per entry, `i32` bits).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctrs<'a> {
    /// The tables.
    pub tables: &'a [u32],
    /// The projection elements of every table, table after table.
    pub elements: &'a [u32],
    /// The definitions.
    pub defs: &'a [u32],
    /// The hashes of every table, table after table.
    pub hashes: &'a [u32],
    /// The counts of every entry, entry after entry.
    pub counts: &'a [u32],
}

impl Ctrs<'_> {
    /// Number of CTR definitions.
    pub fn len(&self) -> usize {
        self.defs.len() / CTR_DEF_WORDS
    }

    /// Whether there is no CTR.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Hash `i` of the hash array.
    #[inline]
    pub fn hash(&self, i: usize) -> u64 {
        u64::from(self.hashes[2 * i]) | (u64::from(self.hashes[2 * i + 1]) << 32)
    }
}

/// One CTR table, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct CtrTableSpec {
    /// The projection: each element a split encoding (see [`Ctrs`]), in hashing order.
    pub elements: Vec<[u32; SPLIT_WORDS]>,
    /// Counts per entry.
    pub width: u32,
    /// The entries, by increasing hash: the hash and its `width` counts.
    pub entries: Vec<(u64, Vec<i32>)>,
}

/// One CTR definition, owned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CtrDefSpec {
    /// Its table.
    pub table: u32,
    /// [`CTR_BORDERS`] or [`CTR_COUNTER`].
    pub kind: u32,
    /// The target border (class) it counts; for [`CTR_COUNTER`], the counter denominator.
    pub target_border: u32,
    /// Prior numerator.
    pub prior_num: f32,
    /// Prior denominator.
    pub prior_denom: f32,
    /// Shift.
    pub shift: f32,
    /// Scale.
    pub scale: f32,
}

/// The owned CTR section (see [`Ctrs`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CtrSpec {
    /// The tables.
    pub tables: Vec<CtrTableSpec>,
    /// The definitions; a CTR split names one by index.
    pub defs: Vec<CtrDefSpec>,
}

impl CtrSpec {
    /// The section's words.
    pub fn encode(&self) -> Vec<u32> {
        let n_elements: usize = self.tables.iter().map(|t| t.elements.len()).sum();
        let n_entries: usize = self.tables.iter().map(|t| t.entries.len()).sum();
        let mut w = vec![
            self.defs.len() as u32,
            self.tables.len() as u32,
            n_elements as u32,
            n_entries as u32,
        ];
        let (mut e, mut n, mut c) = (0u32, 0u32, 0u32);
        for t in &self.tables {
            w.extend_from_slice(&[
                e,
                t.elements.len() as u32,
                n,
                t.entries.len() as u32,
                t.width,
                c,
            ]);
            e += t.elements.len() as u32;
            n += t.entries.len() as u32;
            c = c.wrapping_add((t.entries.len() as u32).wrapping_mul(t.width));
        }
        for t in &self.tables {
            for el in &t.elements {
                w.extend_from_slice(el);
            }
        }
        for d in &self.defs {
            w.extend_from_slice(&[
                d.table,
                d.kind,
                d.target_border,
                d.prior_num.to_bits(),
                d.prior_denom.to_bits(),
                d.shift.to_bits(),
                d.scale.to_bits(),
            ]);
        }
        for t in &self.tables {
            for (h, _) in &t.entries {
                w.extend_from_slice(&[*h as u32, (*h >> 32) as u32]);
            }
        }
        for t in &self.tables {
            for (_, c) in &t.entries {
                w.extend(c.iter().map(|&v| v as u32));
            }
        }
        w
    }

    fn decode(c: &Ctrs<'_>) -> Self {
        let mut tables = Vec::new();
        let mut at = 0usize;
        for t in c.tables.chunks_exact(CTR_TABLE_WORDS) {
            let (es, en, ns, nn, width) = (
                t[0] as usize,
                t[1] as usize,
                t[2] as usize,
                t[3] as usize,
                t[4] as usize,
            );
            let elements = c.elements[2 * es..2 * (es + en)]
                .chunks_exact(2)
                .map(|p| [p[0], p[1]])
                .collect();
            let mut entries = Vec::with_capacity(nn);
            for k in 0..nn {
                let counts = c.counts[at..at + width].iter().map(|&v| v as i32).collect();
                entries.push((c.hash(ns + k), counts));
                at += width;
            }
            tables.push(CtrTableSpec {
                elements,
                width: t[4],
                entries,
            });
        }
        let defs = c
            .defs
            .chunks_exact(CTR_DEF_WORDS)
            .map(|d| CtrDefSpec {
                table: d[0],
                kind: d[1],
                target_border: d[2],
                prior_num: f32::from_bits(d[3]),
                prior_denom: f32::from_bits(d[4]),
                shift: f32::from_bits(d[5]),
                scale: f32::from_bits(d[6]),
            })
            .collect();
        CtrSpec { tables, defs }
    }
}

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
    /// `ctr > border`, `ctr` the `f32` value of CTR definition `ctr` for the row.
    Ctr {
        /// The CTR definition.
        ctr: u32,
        /// The border, compared in `f32`.
        border: f32,
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
            ObliviousSplit::Ctr { ctr, border } => [ctr | CTR, border.to_bits()],
        }
    }

    /// Decodes two words (already checked by R36).
    pub fn decode(words: [u32; SPLIT_WORDS]) -> Self {
        let feature = words[0] & FEATURE_MASK;
        if words[0] & CTR != 0 {
            ObliviousSplit::Ctr {
                ctr: feature,
                border: f32::from_bits(words[1]),
            }
        } else if words[0] & ONE_HOT != 0 {
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
    /// The CTR section (R37); empty without one.
    pub ctrs: Ctrs<'a>,
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
    /// The CTR section, when a split is a CTR split.
    pub ctr: Option<CtrSpec>,
}

fn bad(stage: u32, index: u32, reason: &'static str) -> FormatError {
    FormatError::BadOblivious {
        stage,
        index,
        reason,
    }
}

/// A split's place in the table's order (R36): float splits first, by feature, then border;
/// then one-hot splits by feature, then value; then CTR splits by CTR, then border.
fn order_key(s: &[u32]) -> (u8, u32, u64) {
    let one_hot = s[0] & ONE_HOT != 0;
    let group = if s[0] & CTR != 0 {
        2
    } else {
        u8::from(one_hot)
    };
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
    (group, s[0] & FEATURE_MASK, second)
}

/// The OBLIVIOUS record after its kind word, with the R36 checks.
pub(crate) fn read<'a>(
    p: &mut Parser<'a>,
    stage: u32,
    len: u32,
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
    let ctr_ref = if len == RECORD_LEN_CTR {
        w.next()?
    } else {
        crate::NONE
    };

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
        if flags & !(NAN_TRUE | ONE_HOT | CTR) != 0 {
            return Err(bad(stage, i, "a split has an undefined flag"));
        }
        if flags == NAN_TRUE | ONE_HOT {
            return Err(bad(stage, i, "a one-hot split has a NaN rule"));
        }
        if flags & CTR != 0 {
            if flags != CTR {
                return Err(bad(stage, i, "a CTR split has another flag"));
            }
            if f32::from_bits(s[1]).is_nan() {
                return Err(bad(stage, i, "a CTR split's border is NaN"));
            }
            // Its CTR is checked against the CTR section below.
            continue;
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
    let ctrs = if ctr_ref == crate::NONE {
        Ctrs::default()
    } else {
        let words: &[u32] = p.typed_tensor(stage, ctr_ref, Dtype::U32, None)?;
        read_ctrs(stage, n_in, categorical, words)?
    };
    for (i, s) in splits.chunks_exact(SPLIT_WORDS).enumerate() {
        if s[0] & CTR != 0 {
            if (s[0] & FEATURE_MASK) as usize >= ctrs.len() {
                return Err(bad_ctr(
                    stage,
                    i as u32,
                    "a CTR split names a CTR that does not exist",
                ));
            }
            continue;
        }
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
        ctrs,
    })
}

fn bad_ctr(stage: u32, index: u32, reason: &'static str) -> FormatError {
    FormatError::BadCtr {
        stage,
        index,
        reason,
    }
}

/// Splits and checks the CTR section (R37). Every size is checked against the tensor's
/// length, in `u64`, before a slice is taken; nothing is allocated.
fn read_ctrs<'a>(
    stage: u32,
    n_in: u32,
    categorical: &[u32],
    words: &'a [u32],
) -> Result<Ctrs<'a>, FormatError> {
    let b = |index, reason| bad_ctr(stage, index, reason);
    if words.len() < CTR_HEADER_WORDS {
        return Err(b(0, "the CTR section is shorter than its header"));
    }
    let n_ctrs = u64::from(words[0]);
    let n_tables = u64::from(words[1]);
    let n_elements = u64::from(words[2]);
    let n_entries = u64::from(words[3]);
    if n_ctrs == 0 || n_tables == 0 {
        return Err(b(0, "a CTR section without CTRs or tables"));
    }
    if n_entries > crate::limits::MAX_CTR_ENTRIES as u64 {
        return Err(b(0, "more CTR entries than the limit"));
    }
    let tables_end = CTR_HEADER_WORDS as u64 + n_tables * CTR_TABLE_WORDS as u64;
    let elements_end = tables_end + 2 * n_elements;
    let defs_end = elements_end + n_ctrs * CTR_DEF_WORDS as u64;
    let hashes_end = defs_end + 2 * n_entries;
    if hashes_end > words.len() as u64 {
        return Err(b(0, "the CTR section is shorter than its header says"));
    }
    let (tables_end, elements_end, defs_end, hashes_end) = (
        tables_end as usize,
        elements_end as usize,
        defs_end as usize,
        hashes_end as usize,
    );
    let tables = &words[CTR_HEADER_WORDS..tables_end];
    let elements = &words[tables_end..elements_end];
    let defs = &words[elements_end..defs_end];
    let hashes = &words[defs_end..hashes_end];
    let counts = &words[hashes_end..];
    // Tables: contiguous runs of elements and entries, in order, covering them all.
    let (mut e, mut n, mut c) = (0u64, 0u64, 0u64);
    for (t, tw) in tables.chunks_exact(CTR_TABLE_WORDS).enumerate() {
        let t = t as u32;
        if u64::from(tw[0]) != e || u64::from(tw[2]) != n {
            return Err(b(
                t,
                "a CTR table does not start where the previous one ends",
            ));
        }
        if tw[1] == 0 {
            return Err(b(t, "a CTR table without a projection"));
        }
        if tw[4] == 0 || tw[4] as usize > crate::limits::MAX_CLASSES {
            return Err(b(
                t,
                "a CTR table's width is 0 or above the limit of classes",
            ));
        }
        if u64::from(tw[5]) != c {
            return Err(b(
                t,
                "a CTR table's counts do not start where the previous table's end",
            ));
        }
        e += u64::from(tw[1]);
        n += u64::from(tw[3]);
        c += u64::from(tw[3]) * u64::from(tw[4]);
        if e > n_elements || n > n_entries {
            return Err(b(
                t,
                "a CTR table runs past the section's elements or entries",
            ));
        }
        let ctrs = Ctrs {
            hashes,
            ..Ctrs::default()
        };
        let (start, end) = (tw[2] as usize, n as usize);
        for k in start..end {
            let h = ctrs.hash(k);
            if h == CTR_EMPTY_HASH {
                return Err(b(t, "a CTR table holds the reserved empty hash"));
            }
            if k > start && ctrs.hash(k - 1) >= h {
                return Err(b(t, "a CTR table's hashes are not strictly increasing"));
            }
        }
    }
    if e != n_elements || n != n_entries {
        return Err(b(
            0,
            "the CTR tables do not cover the section's elements and entries",
        ));
    }
    if c != counts.len() as u64 {
        return Err(b(
            0,
            "the CTR counts are not the tables' entries times their widths",
        ));
    }
    for (i, el) in elements.chunks_exact(SPLIT_WORDS).enumerate() {
        let i = i as u32;
        let f = el[0] & FEATURE_MASK;
        let flags = el[0] & !FEATURE_MASK;
        if f >= n_in {
            return Err(b(i, "a CTR projection element's feature is not below n_in"));
        }
        let is_cat = categorical.binary_search(&f).is_ok();
        let ok = match flags {
            CTR => is_cat && el[1] == 0,
            ONE_HOT => is_cat,
            0 | NAN_TRUE => !is_cat && !f32::from_bits(el[1]).is_nan(),
            _ => false,
        };
        if !ok {
            return Err(b(
                i,
                "a CTR projection element is malformed or tests a feature of the wrong kind",
            ));
        }
    }
    for (i, d) in defs.chunks_exact(CTR_DEF_WORDS).enumerate() {
        let i = i as u32;
        let Some(tw) = tables.chunks_exact(CTR_TABLE_WORDS).nth(d[0] as usize) else {
            return Err(b(i, "a CTR names a table that does not exist"));
        };
        let width = tw[4];
        match d[1] {
            CTR_BORDERS => {
                if d[2] >= width {
                    return Err(b(i, "a CTR's target border is not below its table's width"));
                }
            }
            CTR_COUNTER => {
                if width != 1 {
                    return Err(b(i, "a Counter CTR's table does not have width 1"));
                }
                if d[2] > i32::MAX as u32 {
                    return Err(b(i, "a Counter CTR's denominator is above i32::MAX"));
                }
            }
            _ => return Err(b(i, "a CTR has an unknown type")),
        }
        if d[3..7].iter().any(|&v| !f32::from_bits(v).is_finite()) {
            return Err(b(i, "a CTR's prior, shift or scale is not finite"));
        }
    }
    Ok(Ctrs {
        tables,
        elements,
        defs,
        hashes,
        counts,
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
    let ctr = s.ctr.as_ref().map(|c| tensors.u32(&c.encode()));
    let mut words = vec![
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
    ];
    words.extend(ctr);
    words
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
        ctr: (!o.ctrs.is_empty()).then(|| CtrSpec::decode(&o.ctrs)),
    }
}
