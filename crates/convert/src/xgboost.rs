//! XGBoost models, as `Booster.save_model("model.json")` writes them (JSON, or the UBJSON of
//! `model.ubj`).
//!
//! What is read (XGBoost's own model schema, `learner` object):
//! - `learner_model_param`: `num_feature`, `num_class`, `num_target`, and `base_score` — a
//!   string holding one float (`"5E-1"`, before 3.1) or a vector (`"[6.2676054E-1]"`), in the
//!   objective's *response* space. The margin-space base is what XGBoost's
//!   `ObjFunction::ProbToMargin` makes of it: the logit for `binary:logistic` and
//!   `reg:logistic` (after clamping into `[1e-6, 1 - 1e-6]`), the natural log for the log-link
//!   objectives (`count:poisson`, `reg:gamma`, `reg:tweedie`, `survival:cox`, `survival:aft`),
//!   the value itself otherwise
//!   (multi-class bases are margins already). It is computed in `f32`, as XGBoost does.
//! - `objective.name`: decides the link, the post transform and the task (see the table in
//!   `objective`'s documentation, a private function). An objective not in the table is refused.
//! - `gradient_booster`: `gbtree`, or `dart` (each tree's leaves scaled by its `weight_drop`).
//!   `gblinear` is refused. `tree_info[i]` names the output (class or target) tree `i` adds to;
//!   trees are placed by their `id`.
//! - each tree: `left_children` / `right_children` (`-1` marks a leaf), `split_indices`,
//!   `split_conditions` (the threshold of a split node, the value of a leaf), `default_left`
//!   (where a missing value goes), and for categorical splits `split_type` (1) with
//!   `categories_nodes` / `categories_segments` / `categories_sizes` / `categories`.
//! - `feature_names`, when present.
//!
//! XGBoost casts every input to `f32` and sends `x` left when `x < threshold`; a categorical
//! node sends a category that is *in* its set to the right (and anything negative, too large
//! or not in the set to the left). The `.apr` trees keep the `f32` rounding (`round_f32`),
//! use [`Split::Lt`] with the `f32` threshold stored exactly, and encode a categorical node as
//! [`Split::InSet`] with its children (and its default direction) swapped. XGBoost tests
//! `x < 0` before it truncates a category, `InSet` truncates first, so the two disagree on
//! `-1 < x < 0` when category 0 is in the set: such a node gets a guard row `x < 0` in front
//! of it whose left child is the not-in-set child (two rows then share that child).
//!
//! Floats are read from the JSON text straight into `f32` (correctly rounded, as XGBoost's
//! own reader does), never through `f64`.
//!
//! The source model is checked before anything is written: node ids outside their tree, a
//! node reached twice (a cycle or a shared child), arrays whose lengths disagree, features
//! outside `num_feature`, non-finite values, unknown objectives — each is a
//! [`ConvertError::Invalid`] naming the tree and node.

use crate::{ConvertError, CONVERTER};
use icebreak_format::limits;
use icebreak_format::trees::LEAF;
use icebreak_format::{
    InputSpec, LabelsSpec, MissingRule, MissingValues, ModelSpec, OutputSpec, PostTransform,
    ProvenanceSpec, Split, StageSpec, Task, TreeNode, TreesSpec, MAX_DIM,
};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt;

/// Options of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction. Default: `xgboost-` and the first 12
    /// hex digits of the source file's SHA-256.
    pub model_version: Option<String>,
    /// A human name for the model. Default: the objective, e.g. `xgboost binary:logistic`.
    pub model_name: Option<String>,
}

/// Converts an XGBoost JSON (or UBJSON) model file into a model spec, with default
/// [`Options`]. Write the result with [`icebreak_format::write`].
pub fn convert(bytes: &[u8]) -> Result<ModelSpec, ConvertError> {
    convert_with(bytes, &Options::default())
}

/// Converts an XGBoost JSON (or UBJSON) model file into a model spec.
pub fn convert_with(bytes: &[u8], options: &Options) -> Result<ModelSpec, ConvertError> {
    let sha = hex(&Sha256::digest(bytes));
    // A UTF-8 byte-order mark (some editors add one) is not part of the JSON.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let file: ModelFile = if is_ubjson(bytes) {
        let value = ubjson::decode(bytes)?;
        let text = serde_json::to_vec(&value).map_err(ConvertError::Json)?;
        serde_json::from_slice(&text).map_err(ConvertError::Json)?
    } else {
        let text = non_finite_as_null(bytes);
        serde_json::from_slice(&text).map_err(ConvertError::Json)?
    };
    let mut spec = build(file, sha, options)?;
    icebreak_format::trees::TreeLayout::Auto.apply(&mut spec);
    Ok(spec)
}

/// XGBoost's JSON writer spells a non-finite float `NaN`, `Infinity` or `-Infinity`, which is
/// not JSON: XGBoost 2.x writes `NaN` as the threshold of every categorical split. Outside
/// strings each such token becomes `null`, as the UBJSON reader makes of a non-finite float:
/// where a number is read it is a non-finite value, refused where it matters (a threshold of a
/// numeric split, a leaf) and ignored where it does not (a categorical split's threshold). A
/// file without them is read as it is.
fn non_finite_as_null(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let starts = |i: usize| {
        TOKENS
            .iter()
            .find(|t| bytes[i..].starts_with(t))
            .map(|t| t.len())
    };
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut in_string, mut copied) = (0, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(len) = (b == b'N' || b == b'I' || b == b'-')
            .then(|| starts(i))
            .flatten()
        {
            let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            o.extend_from_slice(&bytes[copied..i]);
            o.extend_from_slice(b"null");
            i += len;
            copied = i;
            continue;
        }
        i += 1;
    }
    match out {
        Some(mut o) => {
            o.extend_from_slice(&bytes[copied..]);
            std::borrow::Cow::Owned(o)
        }
        None => std::borrow::Cow::Borrowed(bytes),
    }
}

// ---------------------------------------------------------------------------------------------
// The file, as much of it as a prediction needs. Unknown fields are ignored: XGBoost adds
// statistics and parameters across versions that do not change predictions.

#[derive(Deserialize)]
struct ModelFile {
    learner: Learner,
    #[serde(default)]
    version: Option<Vec<u64>>,
}

#[derive(Deserialize)]
struct Learner {
    /// `Booster.set_attr` values: `best_iteration` (early stopping) and `scikit_learn` (the
    /// wrapper's metadata, written by `XGBModel.save_model`).
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    feature_names: Vec<String>,
    #[serde(default)]
    feature_types: Vec<String>,
    gradient_booster: Booster,
    learner_model_param: LearnerParam,
    objective: Objective,
}

#[derive(Deserialize)]
struct Booster {
    name: String,
    /// Read once the booster's name says what it is.
    #[serde(default)]
    model: Option<Box<RawValue>>,
    /// `dart` wraps a `gbtree` booster.
    #[serde(default)]
    gbtree: Option<Box<Booster>>,
    #[serde(default)]
    weight_drop: Option<F32s>,
}

#[derive(Deserialize)]
struct GbTreeModel {
    gbtree_model_param: GbTreeParam,
    trees: Vec<Tree>,
    tree_info: Vec<i64>,
    /// Where each boosting iteration's trees start (XGBoost 2.0 and later).
    #[serde(default)]
    iteration_indptr: Option<Vec<i64>>,
}

#[derive(Deserialize)]
struct GbTreeParam {
    num_trees: Count,
    #[serde(default)]
    num_parallel_tree: Option<Count>,
}

#[derive(Deserialize)]
struct LearnerParam {
    base_score: String,
    num_class: Count,
    num_feature: Count,
    #[serde(default)]
    num_target: Option<Count>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct Tree {
    tree_param: TreeParam,
    #[serde(default)]
    id: Option<i64>,
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    split_conditions: F32s,
    default_left: Vec<Flag>,
    #[serde(default)]
    split_type: Vec<i64>,
    #[serde(default)]
    categories: Vec<i64>,
    #[serde(default)]
    categories_nodes: Vec<i64>,
    #[serde(default)]
    categories_segments: Vec<i64>,
    #[serde(default)]
    categories_sizes: Vec<i64>,
    /// Vector leaves (`multi_strategy=multi_output_tree`, XGBoost 3): leaf `k`'s values are
    /// `leaf_weights[k·w .. (k+1)·w]`, `k` being the leaf node's `right_children` entry.
    #[serde(default)]
    leaf_weights: Option<F32s>,
    /// Every node's weight; XGBoost 2.x keeps vector leaves' values here, node `i`'s at
    /// `base_weights[i·w .. (i+1)·w]`, and writes no `leaf_weights`.
    #[serde(default)]
    base_weights: Option<F32s>,
    /// Each node's cover, the hessian sum of the training rows that reached it: what
    /// XGBoost's `pred_contribs` weighs paths by. Absent from hand-made files.
    #[serde(default)]
    sum_hessian: Option<F32s>,
}

#[derive(Deserialize)]
struct TreeParam {
    num_nodes: Count,
    #[serde(default)]
    size_leaf_vector: Option<Count>,
}

/// A count XGBoost writes as a decimal string (`"30"`); a plain integer is accepted too.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string holding one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                v.trim()
                    .parse()
                    .map(Count)
                    .map_err(|_| E::custom(format!("{v:?} is not a non-negative integer")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `default_left` entries: `0`/`1` (XGBoost ≥ 1.6) or `false`/`true`.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("0, 1, true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                match v {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::custom(format!("{v} is not a flag (0 or 1)"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                Err(E::custom(format!("{v} is not a flag (0 or 1)")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An array of numbers read straight from their JSON text into `f32`.
struct F32s(Vec<f32>);

impl<'de> Deserialize<'de> for F32s {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Vec<Box<RawValue>> = Vec::deserialize(d)?;
        raw.iter()
            .map(|r| match r.get().trim() {
                // A non-finite float (see `non_finite_as_null`): the caller decides.
                "null" => Ok(f32::NAN),
                text => parse_f32(text)
                    .ok_or_else(|| de::Error::custom(format!("{text} is not a number"))),
            })
            .collect::<Result<Vec<f32>, D::Error>>()
            .map(F32s)
    }
}

/// A JSON number's text to the nearest `f32` (out-of-range magnitudes become infinite and are
/// refused by the caller).
fn parse_f32(text: &str) -> Option<f32> {
    let t = text.trim();
    let first = t.as_bytes().first()?;
    if *first != b'-' && !first.is_ascii_digit() {
        return None;
    }
    t.parse::<f32>().ok()
}

// ---------------------------------------------------------------------------------------------
// Objectives.

/// How the base score becomes a margin (`ObjFunction::ProbToMargin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Identity,
    Logit,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One margin, a two-class classifier.
    Binary,
    /// One margin per class, softmax.
    Multi,
    /// One value per target.
    Regression,
}

/// The objectives icebreak converts, from XGBoost's sources (`PredTransform`,
/// `ProbToMargin` of each objective):
///
/// | objective | base score to margin | output | task |
/// |---|---|---|---|
/// | `binary:logistic` | logit | sigmoid, as `[1 - p, p]` | classification, labels 0, 1 |
/// | `multi:softprob`, `multi:softmax` | none (a margin per class) | softmax | classification, labels 0..k |
/// | `reg:logistic` | logit | sigmoid | regression |
/// | `count:poisson`, `reg:gamma`, `reg:tweedie`, `survival:cox`, `survival:aft` | log | exp | regression (Cox: the hazard ratio; AFT: the predicted survival time) |
/// | `reg:squarederror`, `reg:linear`, `reg:squaredlogerror`, `reg:pseudohubererror`, `reg:absoluteerror`, `reg:quantileerror` | none | the margin | regression |
/// | `binary:logitraw`, `rank:pairwise`, `rank:ndcg`, `rank:map` | none | the raw margin | regression (a score) |
///
/// `multi:softmax` predicts the class index in XGBoost; icebreak reports the same class (the
/// first of tied maxima) and the softmax probabilities beside it.
fn objective(name: &str) -> Option<(Kind, Link, Option<PostTransform>)> {
    use PostTransform as P;
    Some(match name {
        "binary:logistic" => (Kind::Binary, Link::Logit, Some(P::BinaryLogistic)),
        "multi:softprob" | "multi:softmax" => (Kind::Multi, Link::Identity, Some(P::Softmax)),
        "reg:logistic" => (Kind::Regression, Link::Logit, Some(P::Logistic)),
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
            (Kind::Regression, Link::Log, Some(P::Exp))
        }
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:pseudohubererror"
        | "reg:absoluteerror"
        | "reg:quantileerror"
        | "binary:logitraw"
        | "rank:pairwise"
        | "rank:ndcg"
        | "rank:map" => (Kind::Regression, Link::Identity, None),
        _ => return None,
    })
}

/// XGBoost's `kRtEps`: logistic base scores are clamped into `[kRtEps, 1 - kRtEps]`.
const RT_EPS: f32 = 1e-6;

/// XGBoost's `OutOfRangeCat()`: categories at or above it are never in a set.
const MAX_CATEGORY: i64 = 16_777_216;

/// Most category-bitset words a model may need in all (64 MiB): enough for a thousand sets
/// reaching category 500,000, and a bound on what a hostile file can make icebreak allocate.
const MAX_CATEGORY_WORDS: usize = 1 << 24;

/// `ProbToMargin`, in `f32` as XGBoost computes it.
fn to_margin(link: Link, v: f32) -> Option<f32> {
    let m = match link {
        Link::Identity => v,
        Link::Logit => {
            let p = v.clamp(RT_EPS, 1.0 - RT_EPS);
            -(1.0f32 / p - 1.0).ln()
        }
        Link::Log => {
            if v <= 0.0 {
                return None;
            }
            v.ln()
        }
    };
    m.is_finite().then_some(m)
}

/// `"[6.2676054E-1]"`, `"[0E0,0E0,0E0]"` or `"5E-1"`.
fn parse_base_score(s: &str) -> Result<Vec<f32>, ConvertError> {
    let t = s.trim();
    let inner = match t.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| invalid(format!("base_score {s:?} has no closing bracket")))?,
        None => t,
    };
    let values: Vec<f32> = inner
        .split(',')
        .map(|p| {
            parse_f32(p).filter(|v| v.is_finite()).ok_or_else(|| {
                invalid(format!(
                    "base_score {s:?}: {:?} is not a finite number",
                    p.trim()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(values)
}

// ---------------------------------------------------------------------------------------------
// Conversion.

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A count that must fit the format's dimensions and stay within `max` (one of
/// [`icebreak_format::limits`]), checked before anything is sized from it.
fn dim(what: &'static str, v: u64, max: usize) -> Result<u32, ConvertError> {
    let v = usize::try_from(v).unwrap_or(usize::MAX);
    limits::check(what, v, max)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&d| d <= MAX_DIM)
        .ok_or_else(|| {
            invalid(
                limits::LimitError {
                    what,
                    value: v,
                    max,
                }
                .to_string(),
            )
        })
}

fn build(file: ModelFile, sha: String, options: &Options) -> Result<ModelSpec, ConvertError> {
    let learner = file.learner;
    let obj_name = learner.objective.name;
    let (kind, link, post) = objective(&obj_name).ok_or_else(|| {
        invalid(format!(
            "objective {obj_name:?} is not supported (supported: binary:logistic, \
             binary:logitraw, multi:softprob, multi:softmax, reg:squarederror, reg:logistic, \
             count:poisson, reg:gamma, reg:tweedie, survival:cox, survival:aft, \
             reg:absoluteerror, reg:pseudohubererror, reg:squaredlogerror, reg:quantileerror, \
             rank:pairwise, rank:ndcg, rank:map; binary:hinge is not)"
        ))
    })?;

    let param = &learner.learner_model_param;
    let n_features = dim("num_feature", param.num_feature.0, limits::MAX_FEATURES)?;
    if n_features == 0 {
        return Err(invalid("num_feature is 0"));
    }
    let num_class = param.num_class.0;
    let num_target = param.num_target.as_ref().map_or(1, |c| c.0).max(1);
    if num_class > 1 && num_target > 1 {
        return Err(invalid(format!(
            "num_class {num_class} and num_target {num_target} are both above 1"
        )));
    }
    let n_out = match kind {
        Kind::Multi => {
            if num_class < 2 {
                return Err(invalid(format!(
                    "objective {obj_name} needs num_class >= 2, the model has {num_class}"
                )));
            }
            dim("num_class", num_class, limits::MAX_CLASSES)?
        }
        Kind::Binary | Kind::Regression => {
            if num_class > 1 {
                return Err(invalid(format!(
                    "objective {obj_name} with num_class {num_class}: only multi:softprob and \
                     multi:softmax have classes"
                )));
            }
            if kind == Kind::Binary && num_target > 1 {
                return Err(invalid(format!(
                    "objective {obj_name} with num_target {num_target} (multi-label) is not supported"
                )));
            }
            dim("num_target", num_target, limits::MAX_OUTPUTS)?
        }
    };

    // Base score, one margin per output.
    let scores = parse_base_score(&param.base_score)?;
    let scores = match scores.len() {
        1 => vec![scores[0]; n_out as usize],
        n if n == n_out as usize => scores,
        n => {
            return Err(invalid(format!(
                "base_score has {n} values, the model has {n_out} outputs"
            )))
        }
    };
    let base = scores
        .iter()
        .map(|&v| {
            to_margin(link, v).map(f64::from).ok_or_else(|| {
                invalid(format!(
                    "base_score {v} has no margin under objective {obj_name} \
                     (it must be in (0, 1) for logistic objectives, > 0 for log-link ones)"
                ))
            })
        })
        .collect::<Result<Vec<f64>, _>>()?;

    // Feature names and types.
    let feature_names = match learner.feature_names.len() {
        0 => None,
        n if n == n_features as usize => Some(learner.feature_names),
        n => {
            return Err(invalid(format!(
                "feature_names has {n} names, num_feature is {n_features}"
            )))
        }
    };
    if !learner.feature_types.is_empty() && learner.feature_types.len() != n_features as usize {
        return Err(invalid(format!(
            "feature_types has {} entries, num_feature is {n_features}",
            learner.feature_types.len()
        )));
    }

    // The trees, and DART's weights.
    let booster = learner.gradient_booster;
    let (model, weights) = match booster.name.as_str() {
        "gbtree" => (booster.model, None),
        "dart" => {
            let inner = booster
                .gbtree
                .ok_or_else(|| invalid("dart booster without its gbtree"))?;
            if inner.name != "gbtree" {
                return Err(invalid(format!(
                    "dart booster wraps {:?}, expected gbtree",
                    inner.name
                )));
            }
            let w = booster
                .weight_drop
                .ok_or_else(|| invalid("dart booster without weight_drop"))?;
            (inner.model, Some(w.0))
        }
        "gblinear" => {
            return Err(invalid(
                "gblinear (linear booster) models are not supported",
            ))
        }
        other => return Err(invalid(format!("unknown booster {other:?}"))),
    };
    let model =
        model.ok_or_else(|| invalid(format!("{} booster without a model", booster.name)))?;
    let model: GbTreeModel = serde_json::from_str(model.get()).map_err(ConvertError::Json)?;
    let n_trees = model.trees.len();
    if model.gbtree_model_param.num_trees.0 != n_trees as u64 {
        return Err(invalid(format!(
            "num_trees is {}, the model has {n_trees} trees",
            model.gbtree_model_param.num_trees.0
        )));
    }
    if model.tree_info.len() != n_trees {
        return Err(invalid(format!(
            "tree_info has {} entries, the model has {n_trees} trees",
            model.tree_info.len()
        )));
    }
    if let Some(w) = &weights {
        if w.len() != n_trees {
            return Err(invalid(format!(
                "weight_drop has {} weights, the model has {n_trees} trees",
                w.len()
            )));
        }
        if let Some(i) = w.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("weight_drop of tree {i} is not finite")));
        }
    }

    let n_used = trees_predicted(&learner.attributes, &model, n_out)?;

    // XGBoost places each tree by its id.
    let mut order: Vec<Option<usize>> = vec![None; n_trees];
    for (pos, tree) in model.trees.iter().enumerate() {
        let id = tree.id.unwrap_or(pos as i64);
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| order.get_mut(i))
            .ok_or_else(|| invalid(format!("tree id {id} is outside 0..{n_trees}")))?;
        if slot.is_some() {
            return Err(invalid(format!("tree id {id} appears twice")));
        }
        *slot = Some(pos);
    }

    // Vector-leaf trees (`multi_strategy=multi_output_tree`) add one value per target each.
    let vector_leaves = model
        .trees
        .first()
        .and_then(|t| t.tree_param.size_leaf_vector.as_ref())
        .is_some_and(|c| c.0 > 1);
    let mut out = TreesSpec {
        n_in: n_features,
        n_out,
        average: false,
        round_f32: true,
        sum_f32: true,
        average_per_output: false,
        leaf_width: if vector_leaves { n_out } else { 1 },
        ..TreesSpec::default()
    };
    let mut targets = Vec::with_capacity(n_trees);
    let mut covers = Some(Covers::default());
    for (id, pos) in order.iter().enumerate() {
        let pos = pos.ok_or_else(|| invalid(format!("no tree has id {id}")))?;
        if id >= n_used {
            continue;
        }
        let target = model.tree_info[id];
        if target < 0 || target >= i64::from(n_out) {
            return Err(invalid(format!(
                "tree {id}: tree_info {target} is not an output (the model has {n_out})"
            )));
        }
        targets.push(target as u32);
        let weight = weights.as_ref().map(|w| w[id]);
        add_tree(
            id,
            &model.trees[pos],
            n_features,
            weight,
            &mut out,
            &mut covers,
        )?;
    }
    if n_used == 0 {
        // A model of no trees predicts its base score: one leaf of 0 keeps the stage valid.
        out.roots.push(LEAF);
        out.leaves
            .extend(std::iter::repeat_n(0.0, out.leaf_width as usize));
        targets.push(0);
        covers = None;
    }
    if vector_leaves {
        // XGBoost explains no vector-leaf model (its pred_contribs refuses them): neither
        // does icebreak, rather than answer a quantity nothing can check.
        covers = None;
    }
    out.covers = covers
        .filter(|c| c.nodes.len() == out.nodes.len() && c.leaves.len() == out.leaves.len())
        .map(Covers::finish)
        .unwrap_or_default();
    if n_out > 1 && !vector_leaves {
        out.targets = targets;
    }
    out.base = base;

    let (task, n_outputs, labels) = match kind {
        Kind::Binary => (Task::Classification, 2, LabelsSpec::Int(vec![0, 1])),
        Kind::Multi => (
            Task::Classification,
            n_out,
            LabelsSpec::Int((0..i64::from(n_out)).collect()),
        ),
        Kind::Regression => (Task::Regression, n_out, LabelsSpec::None),
    };
    let mut stages = vec![StageSpec::Trees(out)];
    stages.extend(post.map(StageSpec::Post));

    let source_format = match file.version.as_deref() {
        Some([a, b, c, ..]) => format!("xgboost {a}.{b}.{c}"),
        _ => "xgboost".to_owned(),
    };
    Ok(ModelSpec {
        input: InputSpec {
            n_features,
            missing: MissingValues::Nan,
            feature_names,
        },
        output: OutputSpec {
            task,
            n_outputs,
            labels,
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: options
                .model_version
                .clone()
                .unwrap_or_else(|| format!("xgboost-{}", &sha[..12])),
            model_name: Some(
                options
                    .model_name
                    .clone()
                    .unwrap_or_else(|| format!("xgboost {obj_name}")),
            ),
            source_format: Some(source_format),
            converter: Some(CONVERTER.to_owned()),
            source_sha256: Some(sha),
        },
        stages,
    })
}

/// How many trees (in id order) a prediction adds up.
///
/// A model saved by the scikit-learn wrapper (`XGBClassifier.save_model`: its `attributes`
/// hold `scikit_learn`) after early stopping (`attributes.best_iteration`, 0-based) predicts,
/// in the wrapper, with the trees of iterations `0..=best_iteration` only
/// (`XGBModel._get_iteration_range`); every other model, `Booster.predict` included, with all
/// of them. Iterations end where `iteration_indptr` says (XGBoost 2.0 and later), or else
/// every `outputs × num_parallel_tree` trees.
fn trees_predicted(
    attributes: &std::collections::BTreeMap<String, String>,
    model: &GbTreeModel,
    n_out: u32,
) -> Result<usize, ConvertError> {
    let n_trees = model.trees.len();
    let best = match (
        attributes.get("best_iteration"),
        attributes.get("scikit_learn"),
    ) {
        (Some(best), Some(_)) => best,
        _ => return Ok(n_trees),
    };
    let best: u64 = best.trim().parse().map_err(|_| {
        invalid(format!(
            "attributes.best_iteration is {best:?}, not a whole number"
        ))
    })?;
    let iterations = best.saturating_add(1);
    let end = match &model.iteration_indptr {
        Some(indptr) => {
            let at = usize::try_from(iterations)
                .ok()
                .and_then(|i| indptr.get(i))
                .ok_or_else(|| {
                    invalid(format!(
                        "attributes.best_iteration is {best}, iteration_indptr has {} entries",
                        indptr.len()
                    ))
                })?;
            u64::try_from(*at).map_err(|_| invalid("iteration_indptr holds a negative offset"))?
        }
        None => {
            let per_iteration = u64::from(n_out)
                .checked_mul(
                    model
                        .gbtree_model_param
                        .num_parallel_tree
                        .as_ref()
                        .map_or(1, |c| c.0),
                )
                .ok_or_else(|| invalid("num_parallel_tree is too large"))?;
            iterations
                .checked_mul(per_iteration)
                .ok_or_else(|| invalid("attributes.best_iteration is too large"))?
        }
    };
    if end > n_trees as u64 {
        return Err(invalid(format!(
            "attributes.best_iteration is {best}: its trees end at {end}, the model has {n_trees}"
        )));
    }
    Ok(end as usize)
}

/// The node covers of the trees converted so far (`sum_hessian`), nodes and leaves apart
/// until the end (the format stores every node's, then every leaf's).
#[derive(Default)]
struct Covers {
    nodes: Vec<f64>,
    leaves: Vec<f64>,
}

impl Covers {
    /// The covers section: every node's cover, then every leaf's.
    fn finish(mut self) -> Vec<f64> {
        self.nodes.append(&mut self.leaves);
        self.nodes
    }
}

/// Appends one tree (numbered `t` in messages) to `out`, nodes in depth-first preorder so
/// every child comes after its parent, and its covers to `covers`. Covers are dropped for
/// the whole model (set to `None`) when a tree has none, or one that Tree SHAP cannot divide
/// by (an inner node's not positive, any not finite): the model then predicts as before and
/// says it cannot explain.
fn add_tree(
    t: usize,
    tree: &Tree,
    n_features: u32,
    weight: Option<f32>,
    out: &mut TreesSpec,
    covers: &mut Option<Covers>,
) -> Result<(), ConvertError> {
    let n64 = tree.tree_param.num_nodes.0;
    if n64 == 0 {
        return Err(invalid(format!("tree {t}: num_nodes is 0")));
    }
    let size = tree
        .tree_param
        .size_leaf_vector
        .as_ref()
        .map_or(1, |c| c.0.max(1));
    let width = out.leaf_width as u64;
    if size != width {
        return Err(invalid(format!(
            "tree {t}: size_leaf_vector is {size}, expected {width} (every tree of a \
             multi_strategy=multi_output_tree model has one leaf value per target, every other \
             tree one)"
        )));
    }
    // Where a vector leaf's values are: indexed by leaf (`leaf_weights`, XGBoost 3) or by node
    // (`base_weights`, XGBoost 2).
    let leaf_weights = match (size, &tree.leaf_weights, &tree.base_weights) {
        (1, _, _) => None,
        (_, Some(w), _) => Some((&w.0, false)),
        (_, None, Some(w)) => Some((&w.0, true)),
        (_, None, None) => {
            return Err(invalid(format!(
                "tree {t}: vector leaves (size_leaf_vector {size}) without leaf_weights or \
                 base_weights"
            )))
        }
    };
    let n = usize::try_from(n64)
        .ok()
        .filter(|&n| n < (1 << 31))
        .ok_or_else(|| invalid(format!("tree {t}: num_nodes {n64} is too large")))?;
    let arrays: [(&str, usize); 5] = [
        ("left_children", tree.left_children.len()),
        ("right_children", tree.right_children.len()),
        ("split_indices", tree.split_indices.len()),
        ("split_conditions", tree.split_conditions.0.len()),
        ("default_left", tree.default_left.len()),
    ];
    for (name, len) in arrays {
        if len != n {
            return Err(invalid(format!(
                "tree {t}: {name} has {len} entries, num_nodes is {n}"
            )));
        }
    }
    if !tree.split_type.is_empty() && tree.split_type.len() != n {
        return Err(invalid(format!(
            "tree {t}: split_type has {} entries, num_nodes is {n}",
            tree.split_type.len()
        )));
    }
    let budget = MAX_CATEGORY_WORDS.saturating_sub(out.categories.len());
    let cats = category_sets(t, tree, n, budget)?;

    // Preorder walk from the root. `new_ref[i]` is the reference node `i` gets; a guarded
    // categorical node takes two consecutive node rows (the guard, then the set test).
    let mut new_ref: Vec<Option<u32>> = vec![None; n];
    let mut order = Vec::new();
    let mut stack = vec![0usize];
    let mut next_node = out.nodes.len();
    let mut next_leaf = out.leaves.len() / out.leaf_width.max(1) as usize;
    let too_many = || invalid("the model has more than 2^31 nodes or leaves");
    while let Some(i) = stack.pop() {
        if new_ref[i].is_some() {
            return Err(invalid(format!(
                "tree {t}: node {i} is reached twice (the children form a cycle or share a node)"
            )));
        }
        let left = tree.left_children[i];
        let r = if left == -1 {
            let r = u32::try_from(next_leaf)
                .ok()
                .filter(|&r| r < LEAF)
                .ok_or_else(too_many)?;
            next_leaf += 1;
            r | LEAF
        } else {
            let right = tree.right_children[i];
            let child = |c: i64, side: &str| {
                usize::try_from(c).ok().filter(|&c| c < n).ok_or_else(|| {
                    invalid(format!(
                        "tree {t}: node {i}: {side} child {c} is outside the tree ({n} nodes)"
                    ))
                })
            };
            let (l, r) = (child(left, "left")?, child(right, "right")?);
            stack.push(r);
            stack.push(l);
            let rows = if needs_guard(cats[i].as_deref()) {
                2
            } else {
                1
            };
            let id = u32::try_from(next_node)
                .ok()
                .filter(|&id| id.checked_add(rows).is_some_and(|end| end <= LEAF))
                .ok_or_else(too_many)?;
            next_node += rows as usize;
            id
        };
        new_ref[i] = Some(r);
        order.push(i);
    }

    let reference = |i: usize| new_ref[i].unwrap_or(u32::MAX);
    let hess = tree
        .sum_hessian
        .as_ref()
        .filter(|h| h.0.len() == n)
        .map(|h| &h.0);
    let usable = hess.is_some_and(|h| {
        order.iter().all(|&i| {
            let c = h[i];
            c.is_finite() && (c > 0.0 || (c == 0.0 && tree.left_children[i] == -1))
        })
    });
    match (covers.as_mut(), hess) {
        (Some(c), Some(h)) if usable => {
            for &i in &order {
                let v = f64::from(h[i]);
                if tree.left_children[i] == -1 {
                    c.leaves.push(v);
                } else {
                    // A guarded categorical node's two rows carry the node's cover.
                    let rows = if needs_guard(cats[i].as_deref()) && is_categorical(tree, i) {
                        2
                    } else {
                        1
                    };
                    c.nodes.extend(std::iter::repeat_n(v, rows));
                }
            }
        }
        _ => *covers = None,
    }
    out.roots.push(reference(0));
    for &i in &order {
        let left = tree.left_children[i];
        let cond = tree.split_conditions.0[i];
        if let (-1, Some((vector, by_node))) = (left, leaf_weights) {
            // Vector leaf: its values, one per target.
            let w = width as usize;
            let (k, table) = if by_node {
                (i as i64, "base_weights")
            } else {
                (tree.right_children[i], "leaf_weights")
            };
            let values = usize::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(w))
                .and_then(|at| vector.get(at..at.checked_add(w)?))
                .ok_or_else(|| {
                    invalid(format!(
                        "tree {t}: leaf {i}: leaf index {k} is outside {table} ({} values)",
                        vector.len()
                    ))
                })?;
            for &v in values {
                let value = f64::from(match weight {
                    Some(wd) => v * wd,
                    None => v,
                });
                if !value.is_finite() {
                    return Err(invalid(format!(
                        "tree {t}: leaf {i} has a non-finite value ({v})"
                    )));
                }
                out.leaves.push(value);
            }
            continue;
        }
        if left == -1 {
            // DART: XGBoost multiplies the tree's f32 output by its f32 weight, in f32.
            let value = f64::from(match weight {
                Some(w) => cond * w,
                None => cond,
            });
            if !cond.is_finite() || !value.is_finite() {
                return Err(invalid(format!(
                    "tree {t}: leaf {i} has a non-finite value ({cond})"
                )));
            }
            out.leaves.push(value);
            continue;
        }
        let l = reference(left as usize);
        let r = reference(tree.right_children[i] as usize);
        let feature = tree.split_indices[i];
        if feature < 0 || feature >= i64::from(n_features) {
            return Err(invalid(format!(
                "tree {t}: node {i} splits on feature {feature}, the model has {n_features} features"
            )));
        }
        let feature = feature as u32;
        let default_left = tree.default_left[i].0;
        let categorical = match tree.split_type.get(i).copied().unwrap_or(0) {
            0 => false,
            1 => true,
            other => {
                return Err(invalid(format!(
                    "tree {t}: node {i} has split_type {other} (0 numerical, 1 categorical)"
                )))
            }
        };
        if categorical {
            let set = cats[i].as_deref().ok_or_else(|| {
                invalid(format!(
                    "tree {t}: node {i} is a categorical split without categories"
                ))
            })?;
            if needs_guard(Some(set)) {
                // XGBoost sends every negative value (-0.5 too) out of the set, before it
                // truncates; `InSet` truncates first, which would make -0.5 category 0.
                // A guard `x < 0` in front sends negatives to the not-in-set child.
                out.nodes.push(TreeNode {
                    feature,
                    split: Split::Lt(0.0),
                    missing: MissingRule::Default,
                    default_left,
                    left: l,
                    right: reference(i) + 1,
                });
            }
            let offset = u32::try_from(out.categories.len())
                .map_err(|_| invalid("category table too large"))?;
            let words = u32::try_from(set.len()).map_err(|_| invalid("category set too large"))?;
            out.categories.extend_from_slice(set);
            // XGBoost sends a category in the set to the right: swap the children.
            out.nodes.push(TreeNode {
                feature,
                split: Split::InSet { offset, words },
                missing: MissingRule::Default,
                default_left: !default_left,
                left: r,
                right: l,
            });
        } else {
            if !cond.is_finite() {
                return Err(invalid(format!(
                    "tree {t}: node {i} has a non-finite threshold ({cond})"
                )));
            }
            out.nodes.push(TreeNode {
                feature,
                split: Split::Lt(f64::from(cond)),
                missing: MissingRule::Default,
                default_left,
                left: l,
                right: r,
            });
        }
    }
    Ok(())
}

/// Whether node `i` of `tree` is a categorical split.
fn is_categorical(tree: &Tree, i: usize) -> bool {
    tree.split_type.get(i).copied().unwrap_or(0) == 1
}

/// Whether a category set needs a guard node for values in `(-1, 0)`: only when category 0
/// is in it (otherwise truncating to 0 lands out of the set, as XGBoost does).
fn needs_guard(set: Option<&[u32]>) -> bool {
    set.is_some_and(|words| words.first().is_some_and(|w| w & 1 == 1))
}

/// The category bitset of every categorical node of a tree, by node id; at most `budget`
/// words in all.
fn category_sets(
    t: usize,
    tree: &Tree,
    n: usize,
    mut budget: usize,
) -> Result<Vec<Option<Vec<u32>>>, ConvertError> {
    let k = tree.categories_nodes.len();
    if tree.categories_segments.len() != k || tree.categories_sizes.len() != k {
        return Err(invalid(format!(
            "tree {t}: categories_nodes, categories_segments and categories_sizes have {k}, {} \
             and {} entries",
            tree.categories_segments.len(),
            tree.categories_sizes.len()
        )));
    }
    let mut sets = vec![None; n];
    for j in 0..k {
        let node = tree.categories_nodes[j];
        let node = usize::try_from(node)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| {
                invalid(format!(
                    "tree {t}: categories_nodes[{j}] = {node} is outside the tree ({n} nodes)"
                ))
            })?;
        if tree.split_type.get(node).copied() != Some(1) {
            return Err(invalid(format!(
                "tree {t}: node {node} has categories but is not a categorical split"
            )));
        }
        let (beg, size) = (tree.categories_segments[j], tree.categories_sizes[j]);
        let range = usize::try_from(beg)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(b, s)| Some(b..b.checked_add(s)?))
            .filter(|r| r.end <= tree.categories.len() && !r.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "tree {t}: node {node}: category segment {beg} + {size} is empty or outside \
                     the {} categories",
                    tree.categories.len()
                ))
            })?;
        let list = &tree.categories[range];
        let mut max = 0i64;
        for &c in list {
            if !(0..MAX_CATEGORY).contains(&c) {
                return Err(invalid(format!(
                    "tree {t}: node {node}: category {c} is outside 0..{MAX_CATEGORY}"
                )));
            }
            max = max.max(c);
        }
        let n_words = (max / 32 + 1) as usize;
        budget = budget.checked_sub(n_words).ok_or_else(|| {
            invalid(format!(
                "tree {t}: node {node}: the model's category sets need more than \
                 {MAX_CATEGORY_WORDS} bitset words"
            ))
        })?;
        let mut words = vec![0u32; n_words];
        for &c in list {
            words[(c / 32) as usize] |= 1 << (c % 32);
        }
        if sets[node].replace(words).is_some() {
            return Err(invalid(format!(
                "tree {t}: node {node} appears twice in categories_nodes"
            )));
        }
    }
    Ok(sets)
}

// ---------------------------------------------------------------------------------------------
// UBJSON, as XGBoost writes it (`model.ubj`).

/// A UBJSON model starts with `{` followed by a key, which XGBoost writes with an `L`
/// length marker; a JSON object's next byte is whitespace, `"` or `}`.
fn is_ubjson(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == b'{' && bytes[1] == b'L'
}

/// A decoder for the UBJSON subset XGBoost writes: objects with `L`-length keys, arrays
/// (plain, counted `#L`, or typed `$T#L`), strings, integers, `f32`/`f64` numbers, booleans
/// and null; big-endian. Values become `serde_json` values (floats exactly: an `f32` is an
/// `f64` without rounding, and its shortest `f64` text parses back to the same `f32`).
mod ubjson {
    use crate::ConvertError;
    use serde_json::{Map, Number, Value};

    /// Deepest nesting accepted (an XGBoost model nests about 6 deep).
    const MAX_DEPTH: usize = 64;
    /// Most array elements reserved up front: a count is only a claim until the elements
    /// are read.
    const PREALLOCATE: usize = 1 << 16;

    fn err(at: usize, msg: &str) -> ConvertError {
        ConvertError::Invalid(format!("malformed UBJSON at byte {at}: {msg}"))
    }

    struct Reader<'a> {
        b: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
            let end = self
                .pos
                .checked_add(n)
                .filter(|&e| e <= self.b.len())
                .ok_or_else(|| err(self.pos, "unexpected end of data"))?;
            let s = &self.b[self.pos..end];
            self.pos = end;
            Ok(s)
        }
        fn byte(&mut self) -> Result<u8, ConvertError> {
            Ok(self.take(1)?[0])
        }
        fn peek(&self) -> Result<u8, ConvertError> {
            self.b
                .get(self.pos)
                .copied()
                .ok_or_else(|| err(self.pos, "unexpected end of data"))
        }
        fn array<const N: usize>(&mut self) -> Result<[u8; N], ConvertError> {
            let mut a = [0u8; N];
            a.copy_from_slice(self.take(N)?);
            Ok(a)
        }
        /// An `L` marker and an i64 count that the remaining bytes can hold at `min_size`
        /// bytes per element.
        fn count(&mut self, min_size: usize) -> Result<usize, ConvertError> {
            let at = self.pos;
            if self.byte()? != b'L' {
                return Err(err(at, "expected an L length marker"));
            }
            let n = i64::from_be_bytes(self.array()?);
            let remaining = self.b.len() - self.pos;
            usize::try_from(n)
                .ok()
                .filter(|&n| n.saturating_mul(min_size.max(1)) <= remaining)
                .ok_or_else(|| err(at, "length is negative or longer than the data"))
        }
        fn string(&mut self) -> Result<String, ConvertError> {
            let n = self.count(1)?;
            let at = self.pos;
            let bytes = self.take(n)?;
            String::from_utf8(bytes.to_vec()).map_err(|_| err(at, "string is not UTF-8"))
        }
        fn scalar(&mut self, marker: u8, at: usize) -> Result<Value, ConvertError> {
            Ok(match marker {
                b'Z' => Value::Null,
                b'T' => Value::Bool(true),
                b'F' => Value::Bool(false),
                b'i' => Value::from(i8::from_be_bytes(self.array()?)),
                b'U' => Value::from(u8::from_be_bytes(self.array()?)),
                b'I' => Value::from(i16::from_be_bytes(self.array()?)),
                b'l' => Value::from(i32::from_be_bytes(self.array()?)),
                b'L' => Value::from(i64::from_be_bytes(self.array()?)),
                b'C' => Value::from(i8::from_be_bytes(self.array()?)),
                b'd' => float(f64::from(f32::from_be_bytes(self.array()?))),
                b'D' => float(f64::from_be_bytes(self.array()?)),
                b'S' => Value::String(self.string()?),
                _ => return Err(err(at, "unknown type marker")),
            })
        }
        fn value(&mut self, depth: usize) -> Result<Value, ConvertError> {
            let at = self.pos;
            match self.byte()? {
                b'{' => self.object(depth + 1, at),
                b'[' => self.list(depth + 1, at),
                m => self.scalar(m, at),
            }
        }
        fn object(&mut self, depth: usize, at: usize) -> Result<Value, ConvertError> {
            if depth > MAX_DEPTH {
                return Err(err(at, "nested too deeply"));
            }
            let mut map = Map::new();
            while self.peek()? != b'}' {
                let key = self.string()?;
                let v = self.value(depth)?;
                map.insert(key, v);
            }
            self.pos += 1;
            Ok(Value::Object(map))
        }
        fn list(&mut self, depth: usize, at: usize) -> Result<Value, ConvertError> {
            if depth > MAX_DEPTH {
                return Err(err(at, "nested too deeply"));
            }
            match self.peek()? {
                b'$' => {
                    self.pos += 1;
                    let ty_at = self.pos;
                    let ty = self.byte()?;
                    let size = match ty {
                        b'i' | b'U' | b'C' => 1,
                        b'I' => 2,
                        b'l' | b'd' => 4,
                        b'L' | b'D' => 8,
                        _ => return Err(err(ty_at, "unsupported typed-array element type")),
                    };
                    if self.byte()? != b'#' {
                        return Err(err(self.pos - 1, "typed array without a count"));
                    }
                    let n = self.count(size)?;
                    let mut items = Vec::with_capacity(n.min(PREALLOCATE));
                    for _ in 0..n {
                        let at = self.pos;
                        items.push(self.scalar(ty, at)?);
                    }
                    Ok(Value::Array(items))
                }
                b'#' => {
                    self.pos += 1;
                    let n = self.count(1)?;
                    let mut items = Vec::with_capacity(n.min(PREALLOCATE));
                    for _ in 0..n {
                        items.push(self.value(depth)?);
                    }
                    Ok(Value::Array(items))
                }
                _ => {
                    let mut items = Vec::new();
                    while self.peek()? != b']' {
                        items.push(self.value(depth)?);
                    }
                    self.pos += 1;
                    Ok(Value::Array(items))
                }
            }
        }
    }

    /// A non-finite number becomes `null`: harmless in a statistic icebreak does not read,
    /// ignored as a categorical split's threshold, refused as a numeric threshold or a leaf.
    fn float(v: f64) -> Value {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }

    /// Decodes one UBJSON value spanning all of `bytes`.
    pub(super) fn decode(bytes: &[u8]) -> Result<Value, ConvertError> {
        let mut r = Reader { b: bytes, pos: 0 };
        let v = r.value(0)?;
        if r.pos != bytes.len() {
            return Err(err(r.pos, "trailing bytes after the model"));
        }
        Ok(v)
    }
}
