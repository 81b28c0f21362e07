//! CatBoost importer: a model saved with `save_model(path, format="json")` becomes one
//! OBLIVIOUS stage (see `docs/FORMAT.md`) and, for classifiers and log-link regressions, a
//! post transform.
//!
//! What is mapped, as CatBoost's evaluator computes it (`docs/FIDELITY.md` has the tests):
//!
//! - **float features**: each split `f32(x) > border`, the borders being `f32` values; a
//!   NaN follows the feature's `nan_value_treatment` (`AsTrue`, from `nan_mode=Max`: the
//!   test holds; `AsFalse` from `Min`, and `AsIs`: it does not);
//! - **oblivious trees**: split `d` of a tree is bit `d` of the leaf index, the leaves hold
//!   `n_out` values each, summed in `f64` in tree order; then `scale · sum + bias`
//!   (`scale_and_bias`);
//! - **objectives**: `Logloss` and `CrossEntropy` (a binary classifier, probabilities
//!   `[1 - σ(z), σ(z)]`), `MultiClass` (softmax), `MultiClassOneVsAll` (each class's own
//!   sigmoid, not normalised, as CatBoost's `Probability`), `RMSE` (the raw value), `Poisson`
//!   and `Tweedie` (`exp`, CatBoost's `Exponent` prediction); any other objective answers its
//!   raw values (`RawFormulaVal`) as a regression, except the multi-label losses
//!   (`MultiLogloss`, `MultiCrossEntropy`) and `RMSEWithUncertainty` (whose second output is
//!   a variance), which are refused.
//!
//! - **one-hot categorical features**: a split `hash(category) == value`, the hash being
//!   CatBoost's `CalcCatFeatureHash` (`icebreak_engine::cat_hash`); the stage declares
//!   every categorical feature, so front ends know which inputs are categories.
//!
//! - **CTR categorical features** (`Borders` and `Counter` CTRs, CatBoost's default
//!   `simple_ctrs`, of a categorical feature or a combination of them): each CTR a split uses (found by the split's `split_index`: CatBoost numbers
//!   float borders, then one-hot values, then CTR borders) and its table from `ctr_data`,
//!   sorted by hash, become the stage's CTR section (R37); the kernel computes the CTR as
//!   CatBoost's `CalcCtrs` does. The table entry whose hash is `u64::MAX` (the empty-bucket
//!   marker of CatBoost's hash index, which its lookup never finds) is dropped. A `Counter`
//!   CTR's table holds one count per entry and the file's `counter_denominator`, carried in
//!   its definition.
//!
//! What is refused, each with a message naming it: CTR types other than `Borders` and
//! `Counter` (`Buckets`, `FeatureFreq`, the mean-value types) and CTR projections with
//! float or one-hot elements (not checked against CatBoost yet), text and embedding
//! features, non-symmetric trees (`grow_policy` `Depthwise` or `Lossguide`), and
//! CatBoost's binary `.cbm` container (see `docs/FIDELITY.md`).
//!
//! Every size read from the file is checked against [`icebreak_format::limits`] (features,
//! outputs, leaf values) or the format's own bounds (tree depth) before a table is built.

use crate::{ConvertError, CONVERTER};
use icebreak_format::limits;
use icebreak_format::oblivious::{self, CtrDefSpec, CtrSpec, CtrTableSpec, MAX_DEPTH};
use icebreak_format::{
    InputSpec, LabelsSpec, MissingValues, ModelSpec, ObliviousSpec, ObliviousSplit, OutputSpec,
    PostTransform, Precision, ProvenanceSpec, StageSpec, Task,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The first bytes of CatBoost's binary model container (`.cbm`).
pub const CBM_MAGIC: &[u8; 4] = b"CBM1";

/// Options of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction. Default: `catboost-` and the first
    /// 12 hex digits of the source file's SHA-256.
    pub model_version: Option<String>,
    /// A human name for the model. Default: `catboost` and the loss function.
    pub model_name: Option<String>,
}

/// Converts a CatBoost JSON model with default [`Options`].
pub fn convert(bytes: &[u8]) -> Result<ModelSpec, ConvertError> {
    convert_with(bytes, &Options::default())
}

/// Converts a CatBoost JSON model (`save_model(..., format="json")`) into a model spec.
pub fn convert_with(bytes: &[u8], options: &Options) -> Result<ModelSpec, ConvertError> {
    if bytes.starts_with(CBM_MAGIC) {
        return Err(invalid(
            "this is CatBoost's binary container (.cbm), which icebreak does not read; save the \
             model as JSON (model.save_model(path, format=\"json\")) and convert that",
        ));
    }
    let sha = hex(&Sha256::digest(bytes));
    let model: Model = serde_json::from_slice(bytes).map_err(ConvertError::Json)?;
    build(&model, &sha, options)
}

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(format!("CatBoost model: {}", msg.into()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct Model {
    #[serde(default)]
    model_info: Option<ModelInfo>,
    features_info: FeaturesInfo,
    #[serde(default)]
    oblivious_trees: Option<Vec<Tree>>,
    #[serde(default)]
    trees: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    scale_and_bias: Option<(f64, Vec<f64>)>,
    /// The CTR tables, by the identifier of their projection and type.
    #[serde(default)]
    ctr_data: Option<BTreeMap<String, CtrData>>,
}

/// One CTR table as CatBoost's JSON export writes it: `hash_map` is flat, each entry a hash
/// (a decimal string) followed by `hash_stride - 1` counts.
#[derive(Deserialize)]
struct CtrData {
    hash_map: Vec<serde_json::Value>,
    hash_stride: u64,
    /// A `Counter` CTR's denominator (0 for the other types).
    #[serde(default)]
    counter_denominator: i64,
}

/// One CTR feature of `features_info.ctrs`.
#[derive(Deserialize)]
struct CtrFeature {
    #[serde(default)]
    borders: Vec<f64>,
    ctr_type: String,
    elements: Vec<CtrElement>,
    identifier: String,
    /// (sic: CatBoost's spelling)
    prior_denomerator: f64,
    prior_numerator: f64,
    scale: f64,
    shift: f64,
    target_border_idx: u64,
}

#[derive(Deserialize)]
struct CtrElement {
    combination_element: String,
    #[serde(default)]
    cat_feature_index: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ModelInfo {
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    class_params: Option<ClassParams>,
    #[serde(default)]
    catboost_version_info: Option<String>,
}

#[derive(Deserialize, Default)]
struct Params {
    #[serde(default)]
    loss_function: Option<LossFunction>,
}

#[derive(Deserialize)]
struct LossFunction {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize, Default)]
struct ClassParams {
    #[serde(default)]
    class_label_type: Option<String>,
    #[serde(default)]
    class_names: Vec<serde_json::Value>,
    #[serde(default)]
    class_to_label: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct FeaturesInfo {
    #[serde(default)]
    float_features: Option<Vec<FloatFeature>>,
    #[serde(default)]
    categorical_features: Option<Vec<CatFeature>>,
    #[serde(default)]
    text_features: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    embedding_features: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    ctrs: Option<Vec<CtrFeature>>,
}

#[derive(Deserialize)]
struct FloatFeature {
    #[serde(default)]
    borders: Option<Vec<f64>>,
    feature_index: u64,
    flat_feature_index: u64,
    #[serde(default)]
    nan_value_treatment: Option<String>,
    #[serde(default)]
    feature_id: Option<String>,
}

#[derive(Deserialize)]
struct CatFeature {
    feature_index: u64,
    flat_feature_index: u64,
    #[serde(default)]
    feature_id: Option<String>,
    /// The one-hot values, for a feature CatBoost encodes one-hot.
    #[serde(default)]
    values: Option<Vec<serde::de::IgnoredAny>>,
}

#[derive(Deserialize)]
struct Tree {
    leaf_values: Vec<f64>,
    #[serde(default)]
    splits: Vec<Split>,
}

#[derive(Deserialize)]
struct Split {
    split_type: String,
    #[serde(default)]
    float_feature_index: Option<u64>,
    #[serde(default)]
    border: Option<f64>,
    #[serde(default)]
    cat_feature_index: Option<u64>,
    #[serde(default)]
    value: Option<i64>,
    #[serde(default)]
    split_index: Option<u64>,
    #[serde(default)]
    ctr_target_border_idx: Option<u64>,
}

/// How the model's scores become answers.
struct Objective {
    task: Task,
    post: Option<PostTransform>,
    n_outputs: u32,
}

fn objective(loss: &str, n_out: u32) -> Result<Objective, ConvertError> {
    let one = |post| {
        if n_out == 1 {
            Ok(())
        } else {
            Err(invalid(format!(
                "loss {loss} with {n_out} values per leaf (one expected{post})"
            )))
        }
    };
    Ok(match loss {
        "Logloss" | "CrossEntropy" => {
            one("")?;
            Objective {
                task: Task::Classification,
                post: Some(PostTransform::BinaryLogistic),
                n_outputs: 2,
            }
        }
        "MultiClass" => {
            if n_out < 2 {
                return Err(invalid("loss MultiClass with fewer than 2 values per leaf"));
            }
            Objective {
                task: Task::Classification,
                post: Some(PostTransform::Softmax),
                n_outputs: n_out,
            }
        }
        "MultiClassOneVsAll" => {
            if n_out < 2 {
                return Err(invalid(
                    "loss MultiClassOneVsAll with fewer than 2 values per leaf",
                ));
            }
            // CatBoost's `Probability` is each class's own sigmoid, not normalised; its class
            // is the largest raw value's.
            Objective {
                task: Task::Classification,
                post: Some(PostTransform::Logistic),
                n_outputs: n_out,
            }
        }
        "RMSEWithUncertainty" => {
            return Err(invalid(
                "loss RMSEWithUncertainty (its prediction is the mean and the variance \
                 exp(2·raw)) is not supported",
            ))
        }
        "MultiLogloss" | "MultiCrossEntropy" => {
            return Err(invalid(format!(
                "loss {loss} (multi-label classification: a 0/1 answer per label) is not \
                 supported"
            )))
        }
        "Poisson" | "Tweedie" => {
            one("")?;
            Objective {
                task: Task::Regression,
                post: Some(PostTransform::Exp),
                n_outputs: 1,
            }
        }
        _ => Objective {
            task: Task::Regression,
            post: None,
            n_outputs: n_out,
        },
    })
}

fn labels(info: Option<&ClassParams>, k: u32) -> Result<LabelsSpec, ConvertError> {
    let Some(cp) = info else {
        return Ok(LabelsSpec::Int((0..i64::from(k)).collect()));
    };
    let names = if cp.class_names.is_empty() {
        &cp.class_to_label
    } else {
        &cp.class_names
    };
    if names.is_empty() {
        return Ok(LabelsSpec::Int((0..i64::from(k)).collect()));
    }
    if names.len() != k as usize {
        return Err(invalid(format!(
            "{} class names for {k} classes",
            names.len()
        )));
    }
    let strings = cp.class_label_type.as_deref() == Some("String");
    let ints: Option<Vec<i64>> = names
        .iter()
        .map(|v| match v {
            serde_json::Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        })
        .collect();
    let distinct = |n: usize| {
        if n == names.len() {
            Ok(())
        } else {
            Err(invalid("class names are not distinct"))
        }
    };
    match ints {
        Some(ints) if !strings => {
            distinct(ints.iter().collect::<std::collections::BTreeSet<_>>().len())?;
            Ok(LabelsSpec::Int(ints))
        }
        _ => {
            let mut total = 0usize;
            let mut out = Vec::with_capacity(names.len());
            for v in names {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                total += s.len();
                limits::check("class label bytes", total, limits::MAX_LABEL_BYTES)
                    .map_err(|e| invalid(e.to_string()))?;
                out.push(s);
            }
            distinct(out.iter().collect::<std::collections::BTreeSet<_>>().len())?;
            Ok(LabelsSpec::Str(out))
        }
    }
}

fn build(m: &Model, sha: &str, options: &Options) -> Result<ModelSpec, ConvertError> {
    let fi = &m.features_info;
    if fi.text_features.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(invalid("text features are not supported"));
    }
    if fi
        .embedding_features
        .as_ref()
        .is_some_and(|t| !t.is_empty())
    {
        return Err(invalid("embedding features are not supported"));
    }
    let Some(trees) = &m.oblivious_trees else {
        return Err(invalid(if m.trees.is_some() {
            "non-symmetric trees (grow_policy Depthwise or Lossguide) are not supported; \
             icebreak reads oblivious trees (grow_policy SymmetricTree, the default)"
        } else {
            "no `oblivious_trees`"
        }));
    };
    if trees.is_empty() {
        return Err(invalid("no trees"));
    }
    limits::check("trees", trees.len(), icebreak_format::MAX_DIM as usize)
        .map_err(|e| invalid(e.to_string()))?;

    // Float features: index (CatBoost's float_feature_index) -> (flat column, NaN rule).
    let floats = fi.float_features.as_deref().unwrap_or_default();
    let mut float_of: BTreeMap<u64, (u32, bool)> = BTreeMap::new();
    let mut n_features: u64 = 0;
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for f in floats {
        limits::check(
            "feature index",
            usize::try_from(f.flat_feature_index).unwrap_or(usize::MAX),
            limits::MAX_FEATURES - 1,
        )
        .map_err(|e| invalid(e.to_string()))?;
        let nan_true = match f.nan_value_treatment.as_deref() {
            Some("AsTrue") => true,
            Some("AsFalse" | "AsIs") | None => false,
            Some(other) => {
                return Err(invalid(format!(
                    "float feature {}: unknown nan_value_treatment `{other}`",
                    f.feature_index
                )))
            }
        };
        if float_of
            .insert(f.feature_index, (f.flat_feature_index as u32, nan_true))
            .is_some()
        {
            return Err(invalid(format!(
                "float feature {} is described twice",
                f.feature_index
            )));
        }
        if let Some(b) = &f.borders {
            if let Some(bad) = b
                .iter()
                .find(|v| !v.is_finite() || f64::from(**v as f32) != **v)
            {
                return Err(invalid(format!(
                    "float feature {}: border {bad} is not a finite float32 value",
                    f.feature_index
                )));
            }
        }
        n_features = n_features.max(f.flat_feature_index + 1);
        if let Some(id) = f.feature_id.as_ref().filter(|s| !s.is_empty()) {
            names.insert(f.flat_feature_index, id.clone());
        }
    }
    // Categorical features: index (CatBoost's cat_feature_index) -> flat column.
    let cats = fi.categorical_features.as_deref().unwrap_or_default();
    let mut cat_of: BTreeMap<u64, u32> = BTreeMap::new();
    let mut cat_names: BTreeMap<u64, String> = BTreeMap::new();
    for c in cats {
        limits::check(
            "feature index",
            usize::try_from(c.flat_feature_index).unwrap_or(usize::MAX),
            limits::MAX_FEATURES - 1,
        )
        .map_err(|e| invalid(e.to_string()))?;
        if cat_of
            .insert(c.feature_index, c.flat_feature_index as u32)
            .is_some()
        {
            return Err(invalid(format!(
                "categorical feature {} is described twice",
                c.feature_index
            )));
        }
        n_features = n_features.max(c.flat_feature_index + 1);
        let name = match &c.feature_id {
            Some(id) if !id.is_empty() => {
                names.insert(c.flat_feature_index, id.clone());
                format!("`{id}`")
            }
            _ => format!("#{}", c.flat_feature_index),
        };
        cat_names.insert(c.feature_index, name);
    }
    {
        let mut columns: Vec<u32> = float_of.values().map(|v| v.0).collect();
        columns.extend(cat_of.values());
        columns.sort_unstable();
        if columns.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("two features share one flat_feature_index"));
        }
    }
    if n_features == 0 {
        return Err(invalid("no features"));
    }

    let scale_bias = m
        .scale_and_bias
        .clone()
        .unwrap_or_else(|| (1.0, Vec::new()));
    // Leaf width: the bias list's length when present, else 1.
    let n_out = if scale_bias.1.is_empty() {
        1
    } else {
        scale_bias.1.len()
    };
    limits::check("values per leaf", n_out, limits::MAX_OUTPUTS)
        .map_err(|e| invalid(e.to_string()))?;
    if !scale_bias.0.is_finite() || scale_bias.1.iter().any(|b| !b.is_finite()) {
        return Err(invalid("scale_and_bias is not finite"));
    }
    let bias = if scale_bias.1.is_empty() {
        vec![0.0]
    } else {
        scale_bias.1.clone()
    };

    // CatBoost numbers its binary features float borders first (feature by feature), then
    // one-hot values, then CTR borders (CTR by CTR): an OnlineCtr split names its CTR and
    // border only through that number, its `split_index`.
    let ctrs = fi.ctrs.as_deref().unwrap_or_default();
    let ctr_layout = {
        let floats_bins: u64 = floats
            .iter()
            .map(|f| f.borders.as_ref().map_or(0, |b| b.len() as u64))
            .sum();
        let one_hot_bins: u64 = cats
            .iter()
            .map(|c| c.values.as_ref().map_or(0, |v| v.len() as u64))
            .sum();
        let mut starts = Vec::with_capacity(ctrs.len());
        let mut at = floats_bins + one_hot_bins;
        for c in ctrs {
            starts.push(at);
            at += c.borders.len() as u64;
        }
        CtrLayout { starts, end: at }
    };

    // The split table in R36's order: float splits (kind 0) by column, then border; one-hot
    // splits (kind 1) by column, then hash; CTR splits (kind 2) by CTR, then border.
    let mut table: BTreeMap<(u8, u32, u32), u32> = BTreeMap::new();
    let mut tree_keys: Vec<Vec<(u8, u32, u32)>> = Vec::with_capacity(trees.len());
    let mut n_values: usize = 0;
    for (t, tree) in trees.iter().enumerate() {
        let depth = tree.splits.len();
        if depth > MAX_DEPTH as usize {
            return Err(invalid(format!(
                "tree {t} has depth {depth}, more than {MAX_DEPTH}"
            )));
        }
        let want = (n_out << depth) as u64;
        if tree.leaf_values.len() as u64 != want {
            return Err(invalid(format!(
                "tree {t}: {} leaf values, {want} expected (2^{depth} leaves × {n_out})",
                tree.leaf_values.len()
            )));
        }
        n_values = n_values.saturating_add(tree.leaf_values.len());
        limits::check("leaf values", n_values, limits::MAX_LEAF_VALUES)
            .map_err(|e| invalid(e.to_string()))?;
        let mut keys = Vec::with_capacity(depth);
        for (d, s) in tree.splits.iter().enumerate() {
            if s.split_type == "OneHotFeature" {
                let (Some(ci), Some(value)) = (s.cat_feature_index, s.value) else {
                    return Err(invalid(format!(
                        "tree {t} level {d}: a one-hot split without cat_feature_index or value"
                    )));
                };
                let Some(&col) = cat_of.get(&ci) else {
                    return Err(invalid(format!(
                        "tree {t} level {d}: categorical feature {ci} is not described in \
                         features_info"
                    )));
                };
                // CatBoost writes the 32-bit hash as a signed integer.
                let Ok(hash) = i32::try_from(value) else {
                    return Err(invalid(format!(
                        "tree {t} level {d}: one-hot value {value} is not a 32-bit hash"
                    )));
                };
                let key = (1, col, hash as u32);
                table.insert(key, 0);
                keys.push(key);
                continue;
            }
            if s.split_type == "OnlineCtr" {
                let (ci, border) = ctr_split(&ctr_layout, ctrs, s)
                    .map_err(|e| invalid(format!("tree {t} level {d}: {e}")))?;
                let key = (2, ci, sortable(border));
                table.insert(key, 0);
                keys.push(key);
                continue;
            }
            if s.split_type != "FloatFeature" {
                return Err(invalid(format!(
                    "tree {t} level {d}: split type `{}` is not supported",
                    s.split_type
                )));
            }
            let (Some(fi), Some(border)) = (s.float_feature_index, s.border) else {
                return Err(invalid(format!(
                    "tree {t} level {d}: a float split without float_feature_index or border"
                )));
            };
            let Some(&(col, _)) = float_of.get(&fi) else {
                return Err(invalid(format!(
                    "tree {t} level {d}: float feature {fi} is not described in features_info"
                )));
            };
            // -0 and +0 are one border (R36 orders them as one value).
            let b = border as f32 + 0.0;
            if !border.is_finite() || f64::from(b) != border + 0.0 {
                return Err(invalid(format!(
                    "tree {t} level {d}: border {border} is not a finite float32 value"
                )));
            }
            // Order borders numerically: the bits of a float in a sortable form.
            let key = (0, col, sortable(b));
            table.insert(key, 0);
            keys.push(key);
        }
        tree_keys.push(keys);
    }
    let nan_of: BTreeMap<u32, bool> = float_of.values().copied().collect();
    // The CTRs the splits use, numbered in CatBoost's order, with their tables.
    let used: Vec<u32> = table
        .keys()
        .filter(|k| k.0 == 2)
        .map(|k| k.1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let ctr_spec = if used.is_empty() {
        None
    } else {
        Some(ctr_section(
            &used,
            ctrs,
            m.ctr_data.as_ref(),
            &cat_of,
            &cat_names,
        )?)
    };
    let mut splits = Vec::with_capacity(table.len());
    for (i, (&(kind, col, key), slot)) in table.iter_mut().enumerate() {
        *slot = i as u32;
        splits.push(if kind == 2 {
            ObliviousSplit::Ctr {
                ctr: used.binary_search(&col).unwrap_or(0) as u32,
                border: unsortable(key),
            }
        } else if kind == 0 {
            ObliviousSplit::Float {
                feature: col,
                border: unsortable(key),
                nan_true: nan_of.get(&col).copied().unwrap_or(false),
            }
        } else {
            ObliviousSplit::OneHot {
                feature: col,
                value: key,
            }
        });
    }
    let tree_splits: Vec<Vec<u32>> = tree_keys
        .iter()
        .map(|keys| keys.iter().map(|k| table[k]).collect())
        .collect();
    let mut leaves = Vec::with_capacity(n_values);
    for tree in trees {
        leaves.extend_from_slice(&tree.leaf_values);
    }
    if let Some(i) = leaves.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("leaf value {i} is not finite")));
    }

    let info = m.model_info.as_ref();
    let loss = info
        .and_then(|i| i.params.as_ref())
        .and_then(|p| p.loss_function.as_ref())
        .map_or("RMSE", |l| l.kind.as_str());
    let obj = objective(loss, n_out as u32)?;
    let labels = match obj.task {
        Task::Classification => labels(info.and_then(|i| i.class_params.as_ref()), obj.n_outputs)?,
        _ => LabelsSpec::None,
    };
    let n_features = n_features as u32;
    let feature_names =
        (names.len() == n_features as usize).then(|| names.into_values().collect::<Vec<_>>());
    let mut stages = vec![StageSpec::Oblivious(ObliviousSpec {
        n_in: n_features,
        n_out: n_out as u32,
        splits,
        trees: tree_splits,
        leaves,
        scale: scale_bias.0,
        bias,
        categorical: cat_of
            .values()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        ctr: ctr_spec,
    })];
    if let Some(p) = obj.post {
        stages.push(StageSpec::Post(p));
    }
    let version = info
        .and_then(|i| i.catboost_version_info.as_deref())
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.trim().strip_prefix("Branch: tags/v"))
        })
        .map(|v| v.chars().take(32).collect::<String>());
    Ok(ModelSpec {
        input: InputSpec {
            n_features,
            missing: MissingValues::Nan,
            feature_names,
        },
        output: OutputSpec {
            task: obj.task,
            n_outputs: obj.n_outputs,
            labels,
            output_names: None,
            precision: Precision::F64,
        },
        provenance: ProvenanceSpec {
            model_version: options
                .model_version
                .clone()
                .unwrap_or_else(|| format!("catboost-{}", &sha[..12])),
            model_name: Some(options.model_name.clone().unwrap_or_else(|| {
                format!("catboost {}", loss.chars().take(64).collect::<String>())
            })),
            source_format: Some(match version {
                Some(v) => format!("catboost json model {v}"),
                None => "catboost json model".to_string(),
            }),
            converter: Some(CONVERTER.to_string()),
            source_sha256: Some(sha.to_string()),
        },
        stages,
    })
}

/// Where CatBoost's CTR binary features start: CTR `i`'s borders are binary features
/// `starts[i]..starts[i + 1]` (the last ends at `end`).
struct CtrLayout {
    starts: Vec<u64>,
    end: u64,
}

/// The CTR (its index in `features_info.ctrs`) and `f32` border of an OnlineCtr split, from
/// its `split_index`, checked against the split's own `border` and target border.
fn ctr_split(l: &CtrLayout, ctrs: &[CtrFeature], s: &Split) -> Result<(u32, f32), String> {
    let Some(ix) = s.split_index else {
        return Err("a CTR split without split_index".into());
    };
    let first = l.starts.first().copied().unwrap_or(l.end);
    if ix < first || ix >= l.end {
        return Err(format!(
            "CTR split index {ix} names no CTR border of features_info.ctrs"
        ));
    }
    // The last CTR starting at or before ix.
    let ci = l.starts.partition_point(|&st| st <= ix) - 1;
    let c = &ctrs[ci];
    let b = c.borders[(ix - l.starts[ci]) as usize];
    let border = b as f32;
    if !b.is_finite() || s.border.map(|v| v as f32) != Some(border) {
        return Err(format!(
            "CTR split index {ix}: its border does not match CTR {ci}'s borders"
        ));
    }
    if s.ctr_target_border_idx.unwrap_or(c.target_border_idx) != c.target_border_idx {
        return Err(format!(
            "CTR split index {ix}: its target border does not match CTR {ci}'s"
        ));
    }
    Ok((ci as u32, border + 0.0))
}

/// The CTR section for the CTRs `used` (indices into `ctrs`): each CTR's definition and, for
/// each distinct projection and type, its table from `ctr_data`, sorted by hash.
fn ctr_section(
    used: &[u32],
    ctrs: &[CtrFeature],
    data: Option<&BTreeMap<String, CtrData>>,
    cat_of: &BTreeMap<u64, u32>,
    cat_names: &BTreeMap<u64, String>,
) -> Result<CtrSpec, ConvertError> {
    let mut spec = CtrSpec::default();
    let mut table_of: BTreeMap<&str, u32> = BTreeMap::new();
    let mut n_entries = 0usize;
    for &ci in used {
        let c = &ctrs[ci as usize];
        let names: Vec<&str> = c
            .elements
            .iter()
            .filter_map(|e| e.cat_feature_index)
            .filter_map(|i| cat_names.get(&i).map(String::as_str))
            .collect();
        let what = format!(
            "CTR {ci} (of the categorical features {})",
            names.join(", ")
        );
        let kind = match c.ctr_type.as_str() {
            "Borders" => oblivious::CTR_BORDERS,
            "Counter" => oblivious::CTR_COUNTER,
            _ => {
                return Err(invalid(format!(
                    "{what}: CTR type `{}` is not supported; icebreak computes CatBoost's \
                     `Borders` and `Counter` CTRs (train with \
                     simple_ctrs/combinations_ctrs=['Borders', 'Counter'], or \
                     one_hot_max_size above the number of categories)",
                    c.ctr_type
                )));
            }
        };
        let mut elements = Vec::with_capacity(c.elements.len());
        for e in &c.elements {
            let col = match (e.combination_element.as_str(), e.cat_feature_index) {
                ("cat_feature_value", Some(i)) => cat_of.get(&i).copied(),
                _ => None,
            };
            let Some(col) = col else {
                return Err(invalid(format!(
                    "{what}: projection element `{}` is not supported; icebreak computes CTRs \
                     of categorical features and their combinations (not combinations with \
                     float or one-hot features: train with max_ctr_complexity=1 to avoid them)",
                    e.combination_element
                )));
            };
            elements.push([col | oblivious::CTR, 0]);
        }
        if elements.is_empty() {
            return Err(invalid(format!(
                "{what}: a CTR without projection elements"
            )));
        }
        let table = match table_of.get(c.identifier.as_str()) {
            Some(&t) => t,
            None => {
                let Some(d) = data.and_then(|d| d.get(&c.identifier)) else {
                    return Err(invalid(format!(
                        "{what}: the file carries no table for it in ctr_data (save the model \
                         with the CatBoost that trained it, format=\"json\")"
                    )));
                };
                let t = ctr_table(d, elements, &what)?;
                n_entries += t.entries.len();
                limits::check("CTR entries", n_entries, limits::MAX_CTR_ENTRIES)
                    .map_err(|e| invalid(e.to_string()))?;
                spec.tables.push(t);
                let t = spec.tables.len() as u32 - 1;
                table_of.insert(c.identifier.as_str(), t);
                t
            }
        };
        let width = spec.tables[table as usize].width;
        let target_border = if kind == oblivious::CTR_COUNTER {
            if width != 1 {
                return Err(invalid(format!(
                    "{what}: a Counter CTR's table has {width} counts per entry, not 1"
                )));
            }
            // The denominator goes where a Borders CTR keeps its target border (R37).
            let d = data
                .and_then(|d| d.get(&c.identifier))
                .map_or(0, |d| d.counter_denominator);
            match u32::try_from(d) {
                Ok(d) if d <= i32::MAX as u32 => d,
                _ => {
                    return Err(invalid(format!(
                        "{what}: counter_denominator {d} is not 0 to {}",
                        i32::MAX
                    )));
                }
            }
        } else if c.target_border_idx >= u64::from(width) {
            return Err(invalid(format!(
                "{what}: target_border_idx {} is not below the table's {width} classes",
                c.target_border_idx
            )));
        } else {
            c.target_border_idx as u32
        };
        let f = |v: f64, name: &str| {
            // CatBoost reads these as `float`.
            let x = v as f32;
            if x.is_finite() {
                Ok(x)
            } else {
                Err(invalid(format!(
                    "{what}: {name} {v:e} is not a finite float32 value"
                )))
            }
        };
        spec.defs.push(CtrDefSpec {
            table,
            kind,
            target_border,
            prior_num: f(c.prior_numerator, "prior_numerator")?,
            prior_denom: f(c.prior_denomerator, "prior_denomerator")?,
            shift: f(c.shift, "shift")?,
            scale: f(c.scale, "scale")?,
        });
    }
    Ok(spec)
}

/// One `ctr_data` table: its entries parsed, the reserved empty hash dropped (CatBoost's
/// hash index never finds it: it marks an empty bucket), sorted by hash.
fn ctr_table(
    d: &CtrData,
    elements: Vec<[u32; 2]>,
    what: &str,
) -> Result<CtrTableSpec, ConvertError> {
    let stride = d.hash_stride;
    if stride < 2 || stride > limits::MAX_CLASSES as u64 + 1 {
        return Err(invalid(format!(
            "{what}: hash_stride {stride} is not 2 to {}",
            limits::MAX_CLASSES + 1
        )));
    }
    let stride = stride as usize;
    if d.hash_map.len() % stride != 0 {
        return Err(invalid(format!(
            "{what}: hash_map has {} values, not a multiple of hash_stride {stride}",
            d.hash_map.len()
        )));
    }
    let n = d.hash_map.len() / stride;
    limits::check("CTR entries", n, limits::MAX_CTR_ENTRIES).map_err(|e| invalid(e.to_string()))?;
    let mut entries = Vec::with_capacity(n);
    for (k, e) in d.hash_map.chunks_exact(stride).enumerate() {
        let hash = match &e[0] {
            serde_json::Value::String(s) => s.parse::<u64>().ok(),
            serde_json::Value::Number(v) => v.as_u64(),
            _ => None,
        };
        let Some(hash) = hash else {
            return Err(invalid(format!(
                "{what}: hash_map entry {k}: the hash is not an unsigned 64-bit integer"
            )));
        };
        let mut counts = Vec::with_capacity(stride - 1);
        for v in &e[1..] {
            let Some(c) = v.as_i64().and_then(|c| i32::try_from(c).ok()) else {
                return Err(invalid(format!(
                    "{what}: hash_map entry {k}: a count is not a 32-bit integer"
                )));
            };
            counts.push(c);
        }
        if hash != oblivious::CTR_EMPTY_HASH {
            entries.push((hash, counts));
        }
    }
    entries.sort_unstable_by_key(|e| e.0);
    if entries.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid(format!("{what}: hash_map holds a hash twice")));
    }
    Ok(CtrTableSpec {
        elements,
        width: (stride - 1) as u32,
        entries,
    })
}

/// The bits of a finite `f32` mapped so that unsigned order is numeric order.
fn sortable(v: f32) -> u32 {
    let b = v.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn unsortable(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7FFF_FFFF
    } else {
        !k
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_orders_floats() {
        let v = [-3.5f32, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
        for w in v.windows(2) {
            assert!(sortable(w[0]) <= sortable(w[1]), "{w:?}");
        }
        for x in v {
            assert_eq!(unsortable(sortable(x)).to_bits(), x.to_bits());
        }
    }
}
