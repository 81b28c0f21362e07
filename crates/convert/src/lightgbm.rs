//! LightGBM text models, as `Booster.save_model("model.txt")` (or `model_to_string()`) writes
//! them.
//!
//! # What is read
//!
//! The header (`key=value` lines after the first line, `tree`): `version`, `num_class`,
//! `num_tree_per_iteration` (default `num_class`), `max_feature_idx` (the input has
//! `max_feature_idx + 1` features), `objective`, `average_output` (random-forest mode),
//! `feature_names`, `feature_infos` (count checked) and `tree_sizes` (each tree block's byte
//! length, checked: LightGBM itself locates trees by these offsets). Then one block per tree,
//! `Tree=<i>` followed by `num_leaves`, `num_cat`, `split_feature`, `threshold`,
//! `decision_type`, `left_child` / `right_child` (a negative child `c` is the leaf `!c`),
//! `leaf_value`, and for categorical splits `cat_boundaries` / `cat_threshold`; then the line
//! `end of trees`. Everything after it (importances, parameters) does not change predictions
//! and is ignored, as are the per-node training statistics. `shrinkage` is already folded
//! into `leaf_value` by LightGBM.
//!
//! # How a node maps
//!
//! LightGBM compares in `f64` (`x <= threshold` goes left), so the trees keep `round_f32`
//! off and every numerical node becomes [`Split::Le`]. The `decision_type` byte holds the
//! categorical flag (bit 0), the default direction (bit 1) and the missing type (bits 2-3):
//!
//! | missing type | LightGBM (`Tree::NumericalDecision`) | node |
//! |---|---|---|
//! | 0 None | NaN is replaced by 0.0, then compared | [`MissingRule::AsZero`] |
//! | 1 Zero | NaN, and `\|x\| <= kZeroThreshold`, go the default way | [`MissingRule::ZeroOrNan`] |
//! | 2 NaN | NaN goes the default way | [`MissingRule::Default`] |
//!
//! LightGBM's C API also drops every `|x| <= kZeroThreshold` (`1e-35f`) from a dense input
//! row before the trees see it, so such an `x` is compared as 0.0 in every node. A threshold
//! `t` with `-kZeroThreshold <= t < kZeroThreshold` therefore splits the tiny values as a
//! block: it is written as `kZeroThreshold` when `t >= 0` (they all go left) and as the float
//! just below `-kZeroThreshold` when `t < 0` (they all go right). Any other threshold is
//! stored exactly as written.
//!
//! A categorical node (`Tree::CategoricalDecision`) sends NaN and negative values right and
//! looks the truncated value up in its bitset (`cat_boundaries[i]..cat_boundaries[i + 1]` of
//! `cat_threshold`, `i` the node's `threshold`); in the set goes left, anything else
//! (unseen, beyond the bitset, out of `int` range) right. Its missing type and default bit
//! do not matter. It becomes [`Split::InSet`] with [`MissingRule::Default`] and
//! `default_left = false`.
//!
//! # Objectives
//!
//! | `objective=` | task | post transform |
//! |---|---|---|
//! | `binary sigmoid:1` | classification, classes `[0, 1]` | `BinaryLogistic` |
//! | `multiclass num_class:K` | classification, classes `0..K` | `Softmax` |
//! | `multiclassova num_class:K sigmoid:1` | classification, classes `0..K` | `Logistic` (per class, not normalised, as LightGBM reports them) |
//! | `regression`, `regression_l1`, `huber`, `fair`, `quantile`, `mape` | regression | none |
//! | `poisson`, `gamma`, `tweedie` | regression | `Exp` |
//! | `cross_entropy` | regression | `Logistic` |
//! | `lambdarank`, `rank_xendcg`, `custom`, or no objective line | regression (raw scores, one output per tree of an iteration) | none |
//!
//! Refused: `sigmoid` other than 1 (the `.apr` logistic has no scale, and folding it into the
//! leaves would change the raw scores), `regression sqrt` (the output `sign(x)·x²` has no
//! transform), `cross_entropy_lambda` (`log1p(exp(x))`), linear trees (`is_linear=1`), and any
//! other objective name.
//!
//! Tree `i` adds to output `i % num_tree_per_iteration`. With `average_output` (random
//! forests) LightGBM divides each output by the number of *iterations*; the `.apr` ensemble
//! divides by the number of *trees*, so the leaves of a multi-output forest are multiplied by
//! `num_tree_per_iteration` to make the two agree. (LightGBM's `raw_score=True` of a random
//! forest is the undivided sum; the `.apr` scores are the averaged margins its transformed
//! outputs are computed from.)
//!
//! # What is checked
//!
//! Before anything is written: the header's counts against each other, every array's length
//! against `num_leaves` (`num_leaves - 1` nodes), features against `max_feature_idx`, child
//! ids inside their tree, every node and leaf reached exactly once from the root (no cycles,
//! no shared or unreachable nodes), categorical indices against `num_cat`, thresholds that are
//! numbers (`inf` is one: LightGBM writes it for a split that sends every number left), finite
//! leaf values, a whole number of iterations, `tree_sizes`, and the closing
//! `end of trees` line (a truncated file stops short of it). Each failure is a
//! [`ConvertError::Invalid`] naming the line, tree and node; nothing panics.

use crate::{ConvertError, CONVERTER};
use icebreak_format::limits;
use icebreak_format::trees::LEAF;
use icebreak_format::{
    InputSpec, LabelsSpec, MissingRule, MissingValues, ModelSpec, OutputSpec, PostTransform,
    ProvenanceSpec, Split, StageSpec, Task, TreeNode, TreesSpec, MAX_DIM,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// LightGBM's `kZeroThreshold`: the `float` constant `1e-35f`, compared in `f64`.
pub const K_ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Options of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction. Default: `lightgbm-` and the first
    /// 12 hex digits of the source file's SHA-256.
    pub model_version: Option<String>,
    /// A human name for the model. Default: the objective, e.g. `lightgbm binary`.
    pub model_name: Option<String>,
}

/// Converts a LightGBM text model into a model spec, with default [`Options`]. Write the
/// result with [`icebreak_format::write`].
pub fn convert(text: &[u8]) -> Result<ModelSpec, ConvertError> {
    convert_with(text, &Options::default())
}

/// Converts a LightGBM text model into a model spec.
pub fn convert_with(text: &[u8], options: &Options) -> Result<ModelSpec, ConvertError> {
    let sha = hex(&Sha256::digest(text));
    let model = parse(text)?;
    let mut spec = build(&model, sha, options)?;
    icebreak_format::trees::TreeLayout::Auto.apply(&mut spec);
    Ok(spec)
}

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(format!("LightGBM model: {}", msg.into()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The text, as much of it as a prediction needs.

/// One line: its 1-based number, its byte offset, its text without the line break.
#[derive(Clone, Copy)]
struct Line<'a> {
    number: usize,
    offset: usize,
    text: &'a str,
}

struct RawTree<'a> {
    /// The `Tree=` line.
    line: usize,
    /// Bytes from the `Tree=` line to the next block.
    byte_len: usize,
    keys: HashMap<&'a str, (usize, &'a str)>,
}

struct Model<'a> {
    header: HashMap<&'a str, (usize, &'a str)>,
    trees: Vec<RawTree<'a>>,
    has_cr: bool,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, raw) in text.split('\n').enumerate() {
        out.push(Line {
            number: i + 1,
            offset,
            text: raw.strip_suffix('\r').unwrap_or(raw),
        });
        offset += raw.len() + 1;
    }
    out
}

fn parse(bytes: &[u8]) -> Result<Model<'_>, ConvertError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(invalid("empty file"));
    }
    let all = lines(text);
    let mut it = all.iter().copied().peekable();
    match it.next() {
        Some(l) if l.text == "tree" => {}
        Some(l) => {
            return Err(invalid(format!(
                "not a LightGBM text model: the first line is `{}`, expected `tree`",
                excerpt(l.text)
            )))
        }
        None => return Err(invalid("empty file")),
    }
    // Header.
    let mut header = HashMap::new();
    loop {
        let Some(l) = it.peek().copied() else {
            return Err(invalid(
                "truncated: the file ends in the header, before any `Tree=` line",
            ));
        };
        if l.text.starts_with("Tree=") || l.text == "end of trees" {
            break;
        }
        it.next();
        if l.text.is_empty() {
            continue;
        }
        let (key, value) = l.text.split_once('=').unwrap_or((l.text, ""));
        if header.insert(key, (l.number, value)).is_some() {
            return Err(invalid(format!(
                "line {}: header key `{}` appears twice",
                l.number,
                excerpt(key)
            )));
        }
    }
    // Trees.
    let mut trees: Vec<RawTree<'_>> = Vec::new();
    loop {
        let Some(l) = it.next() else {
            return Err(invalid(format!(
                "truncated: the file ends after {} tree(s), without the `end of trees` line",
                trees.len()
            )));
        };
        if l.text.is_empty() {
            continue;
        }
        if l.text == "end of trees" {
            if let Some(last) = trees.last_mut() {
                last.byte_len = l.offset - (last.byte_len);
            }
            break;
        }
        let Some(index) = l.text.strip_prefix("Tree=") else {
            return Err(invalid(format!(
                "line {}: expected `Tree={}` or `end of trees`, found `{}`",
                l.number,
                trees.len(),
                excerpt(l.text)
            )));
        };
        if index != trees.len().to_string() {
            return Err(invalid(format!(
                "line {}: expected `Tree={}`, found `{}`",
                l.number,
                trees.len(),
                excerpt(l.text)
            )));
        }
        // The previous block ends where this one starts (`byte_len` holds its start offset
        // until then).
        if let Some(last) = trees.last_mut() {
            last.byte_len = l.offset - last.byte_len;
        }
        let mut keys = HashMap::new();
        while let Some(k) = it.peek().copied() {
            if k.text.is_empty() || k.text.starts_with("Tree=") || k.text == "end of trees" {
                break;
            }
            it.next();
            let Some((key, value)) = k.text.split_once('=') else {
                return Err(invalid(format!(
                    "line {}: tree {}: expected `key=value`, found `{}`",
                    k.number,
                    trees.len(),
                    excerpt(k.text)
                )));
            };
            if keys.insert(key, (k.number, value)).is_some() {
                return Err(invalid(format!(
                    "line {}: tree {}: key `{}` appears twice",
                    k.number,
                    trees.len(),
                    excerpt(key)
                )));
            }
        }
        trees.push(RawTree {
            line: l.number,
            byte_len: l.offset,
            keys,
        });
    }
    Ok(Model {
        header,
        trees,
        has_cr: text.contains('\r'),
    })
}

/// At most 60 characters of a line, for error messages.
fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Values.

fn header_value<'a>(model: &Model<'a>, key: &str) -> Option<(usize, &'a str)> {
    model.header.get(key).copied()
}

fn header_int(model: &Model<'_>, key: &str) -> Result<Option<i64>, ConvertError> {
    match header_value(model, key) {
        None => Ok(None),
        Some((line, v)) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            invalid(format!(
                "line {line}: `{key}` is not an integer: `{}`",
                excerpt(v)
            ))
        }),
    }
}

fn required_int(model: &Model<'_>, key: &str) -> Result<i64, ConvertError> {
    header_int(model, key)?.ok_or_else(|| invalid(format!("the header has no `{key}` line")))
}

impl RawTree<'_> {
    fn get(&self, key: &str) -> Option<(usize, &str)> {
        self.keys.get(key).copied()
    }

    fn int(&self, t: usize, key: &str) -> Result<Option<i64>, ConvertError> {
        match self.get(key) {
            None => Ok(None),
            Some((line, v)) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                invalid(format!(
                    "line {line}: tree {t}: `{key}` is not an integer: `{}`",
                    excerpt(v)
                ))
            }),
        }
    }

    /// A list of exactly `n` values (`None` when the key is absent).
    fn list<T: std::str::FromStr>(
        &self,
        t: usize,
        key: &str,
        n: usize,
    ) -> Result<Option<Vec<T>>, ConvertError> {
        let Some((line, v)) = self.get(key) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for tok in v.split_ascii_whitespace() {
            if out.len() == n {
                return Err(invalid(format!(
                    "line {line}: tree {t}: `{key}` has more than the {n} values num_leaves \
                     implies"
                )));
            }
            out.push(tok.parse::<T>().map_err(|_| {
                invalid(format!(
                    "line {line}: tree {t}: `{key}` has a malformed value `{}`",
                    excerpt(tok)
                ))
            })?);
        }
        if out.len() != n {
            return Err(invalid(format!(
                "line {line}: tree {t}: `{key}` has {} values, num_leaves implies {n}",
                out.len()
            )));
        }
        Ok(Some(out))
    }

    fn required_list<T: std::str::FromStr>(
        &self,
        t: usize,
        key: &str,
        n: usize,
    ) -> Result<Vec<T>, ConvertError> {
        self.list(t, key, n)?
            .ok_or_else(|| invalid(format!("line {}: tree {t} has no `{key}` line", self.line)))
    }

    /// A list of any length.
    fn any_list<T: std::str::FromStr>(&self, t: usize, key: &str) -> Result<Vec<T>, ConvertError> {
        let Some((line, v)) = self.get(key) else {
            return Err(invalid(format!(
                "line {}: tree {t} has categorical splits but no `{key}` line",
                self.line
            )));
        };
        v.split_ascii_whitespace()
            .map(|tok| {
                tok.parse::<T>().map_err(|_| {
                    invalid(format!(
                        "line {line}: tree {t}: `{key}` has a malformed value `{}`",
                        excerpt(tok)
                    ))
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Objectives.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    /// Identity output, one value.
    Identity,
    /// `exp` of one value.
    Exp,
    /// Sigmoid of one value (`cross_entropy`): a regression in `[0, 1]`.
    Logistic,
    /// Binary classifier.
    Binary,
    /// Softmax over `K` classes.
    Softmax(u32),
    /// Per-class sigmoids over `K` classes.
    Ova(u32),
    /// Raw scores (`custom`, ranking, no objective): one output per tree of an iteration.
    Raw,
}

/// Mirrors LightGBM's `ParseObjectiveAlias`, which maps the *whole* objective string.
fn objective_alias(s: &str) -> &str {
    match s {
        "regression"
        | "regression_l2"
        | "mean_squared_error"
        | "mse"
        | "l2"
        | "l2_root"
        | "root_mean_squared_error"
        | "rmse" => "regression",
        "regression_l1" | "mean_absolute_error" | "l1" | "mae" => "regression_l1",
        "multiclass" | "softmax" => "multiclass",
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => "multiclassova",
        "xentropy" | "cross_entropy" => "cross_entropy",
        "xentlambda" | "cross_entropy_lambda" => "cross_entropy_lambda",
        "mean_absolute_percentage_error" | "mape" => "mape",
        "rank_xendcg" | "xendcg" | "xe_ndcg" | "xe_ndcg_mart" | "xendcg_mart" => "rank_xendcg",
        "none" | "null" | "custom" | "na" => "custom",
        other => other,
    }
}

fn objective(model: &Model<'_>, num_class: u32) -> Result<(Objective, String), ConvertError> {
    let Some((line, text)) = header_value(model, "objective") else {
        return Ok((Objective::Raw, "custom".to_string()));
    };
    let text = objective_alias(text.trim());
    let mut tokens = text.split(' ').filter(|s| !s.is_empty());
    let name = tokens.next().unwrap_or("");
    let mut sigmoid: Option<(f64, &str)> = None;
    let mut classes: Option<i64> = None;
    let mut sqrt = false;
    for tok in tokens {
        if tok == "sqrt" {
            sqrt = true;
        } else if let Some(v) = tok.strip_prefix("sigmoid:") {
            let s = v
                .parse::<f64>()
                .map_err(|_| invalid(format!("line {line}: malformed `sigmoid:{}`", excerpt(v))))?;
            sigmoid = Some((s, v));
        } else if let Some(v) = tok.strip_prefix("num_class:") {
            classes = Some(v.parse::<i64>().map_err(|_| {
                invalid(format!("line {line}: malformed `num_class:{}`", excerpt(v)))
            })?);
        }
    }
    let need_sigmoid_one = |sigmoid: Option<(f64, &str)>| match sigmoid {
        Some((1.0, _)) => Ok(()),
        Some((_, v)) => Err(invalid(format!(
            "line {line}: objective `{name}` with sigmoid:{v} is not supported (only \
             sigmoid:1: the .apr logistic has no scale, and folding one into the leaves would \
             change the raw scores)"
        ))),
        None => Err(invalid(format!(
            "line {line}: objective `{name}` has no `sigmoid:` parameter"
        ))),
    };
    let class_count = |classes: Option<i64>| -> Result<u32, ConvertError> {
        let k = classes.ok_or_else(|| {
            invalid(format!(
                "line {line}: objective `{name}` has no `num_class:` parameter"
            ))
        })?;
        if k != i64::from(num_class) {
            return Err(invalid(format!(
                "line {line}: objective `{name}` says num_class:{k} but the header says \
                 num_class={num_class}"
            )));
        }
        if k < 2 {
            return Err(invalid(format!(
                "line {line}: objective `{name}` needs two classes or more, has {k}"
            )));
        }
        Ok(num_class)
    };
    let obj = match name {
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            if sqrt {
                return Err(invalid(format!(
                    "line {line}: objective `{name} sqrt` (reg_sqrt: output sign(x)·x²) is not \
                     supported"
                )));
            }
            Objective::Identity
        }
        "poisson" | "gamma" | "tweedie" => Objective::Exp,
        "cross_entropy" => Objective::Logistic,
        "binary" => {
            need_sigmoid_one(sigmoid)?;
            Objective::Binary
        }
        "multiclass" => Objective::Softmax(class_count(classes)?),
        "multiclassova" => {
            let k = class_count(classes)?;
            need_sigmoid_one(sigmoid)?;
            Objective::Ova(k)
        }
        "lambdarank" | "rank_xendcg" | "custom" => Objective::Raw,
        "cross_entropy_lambda" => {
            return Err(invalid(format!(
                "line {line}: objective `cross_entropy_lambda` (output log1p(exp(x))) is not \
                 supported"
            )))
        }
        other => {
            return Err(invalid(format!(
                "line {line}: unknown objective `{}`",
                excerpt(other)
            )))
        }
    };
    Ok((obj, name.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Building the spec.

fn to_u32(v: usize, what: &str) -> Result<u32, ConvertError> {
    u32::try_from(v)
        .ok()
        .filter(|&v| v < LEAF)
        .ok_or_else(|| invalid(format!("too many {what} ({v})")))
}

/// The threshold the `.apr` node compares against, given that LightGBM sees every
/// `|x| <= kZeroThreshold` as 0.0 (see the module documentation).
fn effective_threshold(t: f64) -> f64 {
    if (0.0..K_ZERO_THRESHOLD).contains(&t) {
        K_ZERO_THRESHOLD
    } else if (-K_ZERO_THRESHOLD..0.0).contains(&t) {
        // The float just below -kZeroThreshold (a negative number grows in magnitude with
        // its bit pattern).
        f64::from_bits((-K_ZERO_THRESHOLD).to_bits() + 1)
    } else {
        t
    }
}

struct Ensemble {
    n_features: u32,
    trees: TreesSpec,
}

fn build(model: &Model<'_>, sha: String, options: &Options) -> Result<ModelSpec, ConvertError> {
    let version = header_value(model, "version").map(|(_, v)| v.trim().to_string());
    let num_class = required_int(model, "num_class")?;
    if !(1..=i64::from(MAX_DIM).min(limits::MAX_CLASSES as i64)).contains(&num_class) {
        return Err(invalid(format!(
            "num_class={num_class} is out of range (1..={})",
            limits::MAX_CLASSES
        )));
    }
    let num_class = num_class as u32;
    let ntpi = header_int(model, "num_tree_per_iteration")?.unwrap_or(i64::from(num_class));
    if !(1..=i64::from(MAX_DIM).min(limits::MAX_OUTPUTS as i64)).contains(&ntpi) {
        return Err(invalid(format!(
            "num_tree_per_iteration={ntpi} is out of range (1..={})",
            limits::MAX_OUTPUTS
        )));
    }
    let ntpi = ntpi as u32;
    let max_feature_idx = required_int(model, "max_feature_idx")?;
    if !(0..i64::from(MAX_DIM).min(limits::MAX_FEATURES as i64)).contains(&max_feature_idx) {
        return Err(invalid(format!(
            "max_feature_idx={max_feature_idx} is out of range (0..{})",
            limits::MAX_FEATURES
        )));
    }
    let n_features = max_feature_idx as u32 + 1;
    let feature_names: Vec<String> = match header_value(model, "feature_names") {
        None => return Err(invalid("the header has no `feature_names` line")),
        Some((line, v)) => {
            let names: Vec<String> = v.split(' ').map(str::to_string).collect();
            if names.len() != n_features as usize {
                return Err(invalid(format!(
                    "line {line}: feature_names has {} names, max_feature_idx={max_feature_idx} \
                     implies {n_features}",
                    names.len()
                )));
            }
            names
        }
    };
    if let Some((line, v)) = header_value(model, "feature_infos") {
        let n = v.split(' ').count();
        if n != n_features as usize {
            return Err(invalid(format!(
                "line {line}: feature_infos has {n} entries, max_feature_idx={max_feature_idx} \
                 implies {n_features}"
            )));
        }
    }
    let (obj, obj_name) = objective(model, num_class)?;
    let n_out = match obj {
        Objective::Softmax(k) | Objective::Ova(k) => k,
        Objective::Raw => ntpi,
        _ => 1,
    };
    if ntpi != n_out {
        return Err(invalid(format!(
            "num_tree_per_iteration={ntpi} does not fit objective `{obj_name}` ({n_out} \
             output(s))"
        )));
    }
    if n_out == 1 && num_class != 1 && obj != Objective::Raw {
        return Err(invalid(format!(
            "objective `{obj_name}` has one output but the header says num_class={num_class}"
        )));
    }
    let n_trees = model.trees.len();
    if n_trees == 0 {
        return Err(invalid("the model has no trees"));
    }
    if n_trees % ntpi as usize != 0 {
        return Err(invalid(format!(
            "{n_trees} trees is not a whole number of iterations of \
             num_tree_per_iteration={ntpi}"
        )));
    }
    if let Some((line, v)) = header_value(model, "tree_sizes") {
        let sizes: Vec<usize> = v
            .split_ascii_whitespace()
            .map(|s| s.parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(format!("line {line}: tree_sizes has a malformed value")))?;
        if sizes.len() != n_trees {
            return Err(invalid(format!(
                "line {line}: tree_sizes lists {} trees, the file has {n_trees}",
                sizes.len()
            )));
        }
        if !model.has_cr {
            for (t, (tree, &size)) in model.trees.iter().zip(&sizes).enumerate() {
                if tree.byte_len != size {
                    return Err(invalid(format!(
                        "line {}: tree {t} is {} bytes long but tree_sizes says {size}: the file \
                         was edited or damaged",
                        tree.line, tree.byte_len
                    )));
                }
            }
        }
    }
    let average = header_value(model, "average_output").is_some();
    // LightGBM divides a forest by its iterations: with several trees per iteration, the
    // .apr ensemble averages per output (tree i adds to output i mod num_tree_per_iteration).
    let leaf_scale = 1.0;
    let mut ens = Ensemble {
        n_features,
        trees: TreesSpec {
            n_in: n_features,
            n_out,
            average,
            round_f32: false,
            sum_f32: false,
            average_per_output: average && n_out > 1,
            leaf_width: 1,
            base: vec![0.0; n_out as usize],
            ..TreesSpec::default()
        },
    };
    // Node covers, as LightGBM's `pred_contrib` reads them: `internal_count` per node and
    // `leaf_count` per leaf; dropped for the whole model when a tree lacks them.
    let mut covers = Some((Vec::new(), Vec::new()));
    for (t, tree) in model.trees.iter().enumerate() {
        add_tree(&mut ens, t, tree, leaf_scale, &mut covers)?;
        if n_out > 1 {
            ens.trees.targets.push((t % ntpi as usize) as u32);
        }
    }
    to_u32(ens.trees.nodes.len(), "nodes")?;
    to_u32(ens.trees.leaves.len(), "leaves")?;
    if let Some((mut nodes, mut leaves)) = covers {
        if nodes.len() == ens.trees.nodes.len() && leaves.len() == ens.trees.leaves.len() {
            nodes.append(&mut leaves);
            ens.trees.covers = nodes;
        }
    }

    let labels = |k: u32| LabelsSpec::Int((0..i64::from(k)).collect());
    let (task, n_outputs, labels, post) = match obj {
        Objective::Binary => (
            Task::Classification,
            2,
            labels(2),
            Some(PostTransform::BinaryLogistic),
        ),
        Objective::Softmax(k) => (
            Task::Classification,
            k,
            labels(k),
            Some(PostTransform::Softmax),
        ),
        Objective::Ova(k) => (
            Task::Classification,
            k,
            labels(k),
            Some(PostTransform::Logistic),
        ),
        Objective::Identity => (Task::Regression, 1, LabelsSpec::None, None),
        Objective::Exp => (
            Task::Regression,
            1,
            LabelsSpec::None,
            Some(PostTransform::Exp),
        ),
        Objective::Logistic => (
            Task::Regression,
            1,
            LabelsSpec::None,
            Some(PostTransform::Logistic),
        ),
        Objective::Raw => (Task::Regression, n_out, LabelsSpec::None, None),
    };
    let mut stages = vec![StageSpec::Trees(ens.trees)];
    if let Some(p) = post {
        stages.push(StageSpec::Post(p));
    }
    Ok(ModelSpec {
        input: InputSpec {
            n_features,
            missing: MissingValues::Nan,
            feature_names: Some(feature_names),
        },
        output: OutputSpec {
            task,
            n_outputs,
            labels,
            output_names: None,
            precision: icebreak_format::Precision::F64,
        },
        provenance: ProvenanceSpec {
            model_version: options
                .model_version
                .clone()
                .unwrap_or_else(|| format!("lightgbm-{}", &sha[..12])),
            model_name: Some(
                options
                    .model_name
                    .clone()
                    .unwrap_or_else(|| format!("lightgbm {obj_name}")),
            ),
            source_format: Some(match version {
                Some(v) => format!("lightgbm text model {}", excerpt(&v)),
                None => "lightgbm text model".to_string(),
            }),
            converter: Some(CONVERTER.to_string()),
            source_sha256: Some(sha),
        },
        stages,
    })
}

/// Node covers collected so far: nodes (preorder, as added) and leaves; `None` once a tree
/// has none that Tree SHAP can use.
type Counts = Option<(Vec<f64>, Vec<f64>)>;

fn add_tree(
    ens: &mut Ensemble,
    t: usize,
    tree: &RawTree<'_>,
    leaf_scale: f64,
    covers: &mut Counts,
) -> Result<(), ConvertError> {
    let at = |msg: String| invalid(format!("line {}: tree {t}: {msg}", tree.line));
    if tree.int(t, "is_linear")?.unwrap_or(0) != 0 {
        return Err(at(
            "linear trees (linear_tree=true: a linear model in each leaf) are not supported".into(),
        ));
    }
    let num_leaves = tree
        .int(t, "num_leaves")?
        .ok_or_else(|| at("no `num_leaves` line".into()))?;
    let num_cat = tree
        .int(t, "num_cat")?
        .ok_or_else(|| at("no `num_cat` line".into()))?;
    if num_leaves < 1 || num_leaves > i64::from(MAX_DIM).min(limits::MAX_NODES as i64) {
        return Err(at(format!(
            "num_leaves={num_leaves} is out of range (1..={})",
            limits::MAX_NODES
        )));
    }
    if num_cat < 0 || num_cat >= num_leaves.max(1) {
        return Err(at(format!(
            "num_cat={num_cat} is out of range for num_leaves={num_leaves}"
        )));
    }
    let n_leaves = num_leaves as usize;
    let n_cat = num_cat as usize;
    let values: Vec<f64> = tree.required_list(t, "leaf_value", n_leaves)?;
    let leaf_base = ens.trees.leaves.len();
    for (i, v) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(at(format!("leaf {i} has a non-finite value {v}")));
        }
        ens.trees.leaves.push(v * leaf_scale);
    }
    let leaf_ref = |leaf: usize| -> Result<u32, ConvertError> {
        Ok(LEAF | to_u32(leaf_base + leaf, "leaves")?)
    };
    let n_nodes = n_leaves - 1;
    // Counts are integers; a malformed list drops the covers, never the model.
    let leaf_count: Option<Vec<f64>> = tree.list(t, "leaf_count", n_leaves).ok().flatten();
    let internal: Option<Vec<f64>> = if n_nodes == 0 {
        Some(Vec::new())
    } else {
        tree.list(t, "internal_count", n_nodes).ok().flatten()
    };
    let tree_counts = match (leaf_count, internal) {
        (Some(l), Some(i))
            if l.iter().all(|c| c.is_finite() && *c >= 0.0)
                && i.iter().all(|c| c.is_finite() && *c > 0.0) =>
        {
            Some((i, l))
        }
        _ => None,
    };
    if tree_counts.is_none() {
        *covers = None;
    }
    if let (Some((_, all_leaves)), Some((_, l))) = (covers.as_mut(), tree_counts.as_ref()) {
        all_leaves.extend_from_slice(l);
    }
    if n_leaves == 1 {
        ens.trees.roots.push(leaf_ref(0)?);
        return Ok(());
    }
    let features: Vec<i64> = tree.required_list(t, "split_feature", n_nodes)?;
    let thresholds: Vec<f64> = tree.required_list(t, "threshold", n_nodes)?;
    let decision: Vec<i64> = tree
        .list(t, "decision_type", n_nodes)?
        .unwrap_or_else(|| vec![0; n_nodes]);
    let left: Vec<i64> = tree.required_list(t, "left_child", n_nodes)?;
    let right: Vec<i64> = tree.required_list(t, "right_child", n_nodes)?;

    // Category bitsets of this tree, appended once to the ensemble's table.
    let cat_base = ens.trees.categories.len();
    let mut boundaries: Vec<usize> = Vec::new();
    if n_cat > 0 {
        let b: Vec<i64> = tree.required_list(t, "cat_boundaries", n_cat + 1)?;
        let words: Vec<u32> = tree.any_list(t, "cat_threshold")?;
        if b[0] != 0 || b.windows(2).any(|w| w[1] < w[0]) || b[n_cat] != words.len() as i64 {
            return Err(at(format!(
                "cat_boundaries must rise from 0 to the {} words of cat_threshold",
                words.len()
            )));
        }
        boundaries = b.iter().map(|&v| v as usize).collect();
        ens.trees.categories.extend_from_slice(&words);
        to_u32(ens.trees.categories.len(), "category words")?;
    }

    // Walk from the root: every node and leaf exactly once, children numbered after parents
    // (preorder).
    let child = |node: usize, c: i64, side: &str| -> Result<Result<usize, usize>, ConvertError> {
        if c >= 0 {
            let c = c as usize;
            if c >= n_nodes {
                return Err(at(format!(
                    "node {node}: {side}_child {c} is outside the tree ({n_nodes} nodes)"
                )));
            }
            Ok(Ok(c))
        } else {
            let leaf = !c as usize;
            if leaf >= n_leaves {
                return Err(at(format!(
                    "node {node}: {side}_child {c} names leaf {leaf}, outside the tree \
                     ({n_leaves} leaves)"
                )));
            }
            Ok(Err(leaf))
        }
    };
    let mut order: Vec<usize> = Vec::with_capacity(n_nodes);
    let mut position: Vec<Option<usize>> = vec![None; n_nodes];
    let mut leaf_seen = vec![false; n_leaves];
    let mut stack = vec![0usize];
    while let Some(node) = stack.pop() {
        if position[node].is_some() {
            return Err(at(format!(
                "node {node} is reached twice from the root (a cycle or a shared child)"
            )));
        }
        position[node] = Some(order.len());
        order.push(node);
        for (c, side) in [(right[node], "right"), (left[node], "left")] {
            match child(node, c, side)? {
                Ok(n) => stack.push(n),
                Err(leaf) => {
                    if std::mem::replace(&mut leaf_seen[leaf], true) {
                        return Err(at(format!(
                            "node {node}: leaf {leaf} is reached twice from the root"
                        )));
                    }
                }
            }
        }
    }
    if let Some(node) = position.iter().position(Option::is_none) {
        return Err(at(format!("node {node} is not reachable from the root")));
    }
    if let Some(leaf) = leaf_seen.iter().position(|s| !s) {
        return Err(at(format!("leaf {leaf} is not reachable from the root")));
    }

    let node_base = ens.trees.nodes.len();
    let reference = |c: i64| -> Result<u32, ConvertError> {
        if c >= 0 {
            let p = position[c as usize].unwrap_or(0);
            to_u32(node_base + p, "nodes")
        } else {
            leaf_ref(!c as usize)
        }
    };
    ens.trees.roots.push(to_u32(node_base, "nodes")?);
    if let (Some((all_nodes, _)), Some((i, _))) = (covers.as_mut(), tree_counts.as_ref()) {
        all_nodes.extend(order.iter().map(|&node| i[node]));
    }
    for &node in &order {
        let f = features[node];
        if f < 0 || f >= i64::from(ens.n_features) {
            return Err(at(format!(
                "node {node}: split_feature {f} is outside max_feature_idx={}",
                ens.n_features - 1
            )));
        }
        let dt = decision[node];
        if !(0..16).contains(&dt) {
            return Err(at(format!(
                "node {node}: decision_type {dt} has undefined bits"
            )));
        }
        let categorical = dt & 1 != 0;
        let default_left = dt & 2 != 0;
        let missing_type = (dt >> 2) & 3;
        let thr = thresholds[node];
        let (split, missing, default_left) = if categorical {
            if n_cat == 0 {
                return Err(at(format!(
                    "node {node} is categorical but the tree has num_cat=0"
                )));
            }
            if !(thr >= 0.0 && thr < n_cat as f64 && thr.fract() == 0.0) {
                return Err(at(format!(
                    "node {node}: categorical threshold {thr} is not a bitset index below \
                     num_cat={n_cat}"
                )));
            }
            let i = thr as usize;
            let (offset, words) = if boundaries[i + 1] == boundaries[i] {
                // An empty bitset (nothing goes left): the format wants one word or more,
                // so point at a zero word of our own.
                ens.trees.categories.push(0);
                (ens.trees.categories.len() - 1, 1)
            } else {
                (cat_base + boundaries[i], boundaries[i + 1] - boundaries[i])
            };
            let offset = to_u32(offset, "category words")?;
            let words = to_u32(words, "category words")?;
            // NaN and negative values go right, whatever the missing type says.
            (Split::InSet { offset, words }, MissingRule::Default, false)
        } else {
            // LightGBM writes `inf` for a split that sends every number left (and NaN the
            // default way); only NaN is meaningless.
            if thr.is_nan() {
                return Err(at(format!("node {node}: threshold is NaN")));
            }
            let missing = match missing_type {
                0 => MissingRule::AsZero,
                1 => MissingRule::ZeroOrNan,
                2 => MissingRule::Default,
                _ => {
                    return Err(at(format!(
                        "node {node}: decision_type {dt} has the undefined missing type 3"
                    )))
                }
            };
            (Split::Le(effective_threshold(thr)), missing, default_left)
        };
        ens.trees.nodes.push(TreeNode {
            feature: f as u32,
            split,
            missing,
            default_left,
            left: reference(left[node])?,
            right: reference(right[node])?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threshold_is_the_f32_constant() {
        assert_eq!(K_ZERO_THRESHOLD, 1.0000000180025095e-35);
    }

    #[test]
    fn thresholds_near_zero_split_the_tiny_values_as_a_block() {
        let below = f64::from_bits((-K_ZERO_THRESHOLD).to_bits() + 1);
        assert!(below < -K_ZERO_THRESHOLD);
        assert_eq!(f64::from_bits(below.to_bits() - 1), -K_ZERO_THRESHOLD);
        assert_eq!(effective_threshold(0.0), K_ZERO_THRESHOLD);
        assert_eq!(effective_threshold(-0.0), K_ZERO_THRESHOLD);
        assert_eq!(effective_threshold(1e-36), K_ZERO_THRESHOLD);
        assert_eq!(effective_threshold(K_ZERO_THRESHOLD), K_ZERO_THRESHOLD);
        assert_eq!(effective_threshold(-1e-36), below);
        assert_eq!(effective_threshold(-K_ZERO_THRESHOLD), below);
        assert_eq!(effective_threshold(below), below);
        assert_eq!(effective_threshold(0.5), 0.5);
        assert_eq!(effective_threshold(-0.5), -0.5);
    }
}
