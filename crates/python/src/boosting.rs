//! scikit-learn's gradient-boosted trees: `HistGradientBoostingClassifier`/`Regressor` (with
//! missing values and native categorical features) and `GradientBoostingClassifier`/
//! `Regressor`, as one `TREES` stage that sums in `f64` exactly as scikit-learn does.
//!
//! scikit-learn starts each raw prediction at its baseline and adds the trees to it one by
//! one (`raw = baseline; raw += tree_1; raw += tree_2; ...`). The format's `f64` sum starts
//! at zero and adds the base value last, which rounds differently; so the baseline becomes
//! a first tree per output that is a single leaf (`0 + b` is `b` exactly), the base values
//! are zero (`s + 0` is `s`), and every sum is scikit-learn's, addition for addition.
//!
//! A HistGradientBoosting model with categorical features first re-encodes its input
//! (scikit-learn's `_preprocessor`: an `OrdinalEncoder` on the categorical columns, which
//! come first, then the numeric ones): a value equal to the `i`-th known category of its
//! column becomes code `i`, any other value (NaN, an unseen or a non-integer value) becomes
//! NaN. A categorical node then sends a code in its left bitset left, another known code
//! right, and NaN its missing way. On the raw value that is: equal to a category whose code
//! is in the left set, left; equal to another known category, right; anything else, the
//! missing way. Each such node is written as a small search tree over the category values
//! of the side that is not the missing way (`x < v` nodes down to `x == v` tests; NaN follows
//! the left branches down to an equality test, which sends it the missing way): a value
//! found goes to that side, every other value to the missing side. The `x < v` / `x == v` comparisons are exact on `f64`, so the answers are
//! scikit-learn's for every input, not only for integer categories. The search tree's leaves
//! share the node's two children (the classic layout allows a child several parents).

use crate::{err, Model};
use icebreak_format::trees::LEAF;
use icebreak_format::{
    limits, LabelsSpec, MissingRule, MissingValues, ModelSpec, PostTransform, Split, StageSpec,
    TreeNode, TreesSpec,
};
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

/// Words of one scikit-learn category bitset (256 categories).
const BITSET_WORDS: usize = 8;

/// One tree as the Python side hands it over, every array `n_nodes` long: `left`,
/// `right`, `feature` (in scikit-learn's re-encoded column order), `threshold`, `value`
/// (the leaf value, already scaled by the learning rate), `missing_go_to_left`, `is_leaf`,
/// `is_categorical`, `bitset_idx`, and the tree's `raw_left_cat_bitsets` (`n_splits × 8`).
pub(crate) type BoostTree<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray1<'py, u8>,
    PyReadonlyArray1<'py, u8>,
    PyReadonlyArray1<'py, u8>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray2<'py, u32>,
);

fn vec1<T: Copy + numpy::Element>(a: &PyReadonlyArray1<'_, T>) -> Result<Vec<T>, String> {
    crate::check_aligned(a.as_any())?;
    Ok(a.as_array().iter().copied().collect())
}

/// The columns as the trees see them: each one's index in the caller's row, and for a
/// categorical column its known category values in code order.
struct Columns {
    original: Vec<u32>,
    categories: Vec<Option<Vec<f64>>>,
}

/// Nodes of the search tree over `m` values: `m` equality tests and `m - 1` `x < v` nodes
/// (one node sending everything the missing way when `m` is 0).
fn search_nodes(m: usize) -> usize {
    (2 * m).saturating_sub(1).max(1)
}

/// Writes the search tree over the sorted `vals` (preorder, so children follow parents):
/// a value equal to one of them goes to `found`, any other value and NaN to `missing`.
fn emit_search(nodes: &mut Vec<TreeNode>, feature: u32, vals: &[f64], found: u32, missing: u32) {
    match vals {
        [] => nodes.push(TreeNode {
            feature,
            split: Split::Le(f64::INFINITY),
            missing: MissingRule::Default,
            default_left: true,
            left: missing,
            right: missing,
        }),
        [v] => nodes.push(TreeNode {
            feature,
            split: Split::Eq(*v),
            missing: MissingRule::Default,
            default_left: false,
            left: found,
            right: missing,
        }),
        _ => {
            let mid = vals.len() / 2;
            let at = nodes.len();
            nodes.push(TreeNode {
                feature,
                split: Split::Lt(vals[mid]),
                missing: MissingRule::Default,
                default_left: true,
                left: missing,
                right: 0,
            });
            // NaN follows the left subtree down to an equality test, which sends it the
            // missing way. The left subtree follows this node.
            nodes[at].left = at as u32 + 1;
            emit_search(nodes, feature, &vals[..mid], found, missing);
            nodes[at].right = nodes.len() as u32;
            emit_search(nodes, feature, &vals[mid..], found, missing);
        }
    }
}

/// Adds one tree to `spec` (nodes and leaves) and returns its root reference.
fn add_tree(
    spec: &mut TreesSpec,
    t: usize,
    tree: &BoostTree<'_>,
    cols: &Columns,
) -> Result<u32, String> {
    let (left, right, feature, threshold, value, nan_left, is_leaf, is_cat, bitset_idx, raw) = tree;
    let (left, right, feature, threshold, value) = (
        vec1(left)?,
        vec1(right)?,
        vec1(feature)?,
        vec1(threshold)?,
        vec1(value)?,
    );
    let (nan_left, is_leaf, is_cat, bitset_idx) = (
        vec1(nan_left)?,
        vec1(is_leaf)?,
        vec1(is_cat)?,
        vec1(bitset_idx)?,
    );
    crate::check_aligned(raw.as_any())?;
    let raw = raw.as_array();
    let n = left.len();
    if n == 0
        || [
            right.len(),
            feature.len(),
            threshold.len(),
            value.len(),
            nan_left.len(),
            is_leaf.len(),
            is_cat.len(),
            bitset_idx.len(),
        ]
        .iter()
        .any(|&l| l != n)
    {
        return Err(format!("tree {t}: its node arrays have different lengths"));
    }
    if raw.nrows() > 0 && raw.ncols() != BITSET_WORDS {
        return Err(format!(
            "tree {t}: category bitsets of {} words, not {BITSET_WORDS}",
            raw.ncols()
        ));
    }
    // Each categorical node's sorted values of its non-missing side (see the module docs).
    let mut sides: Vec<Option<Vec<f64>>> = vec![None; n];
    let mut count = 0usize;
    for i in 0..n {
        if is_leaf[i] != 0 {
            continue;
        }
        if is_cat[i] == 0 {
            count += 1;
            continue;
        }
        let f = usize::try_from(feature[i]).unwrap_or(usize::MAX);
        let cats = cols
            .categories
            .get(f)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("tree {t}: node {i} splits feature {f} as categorical, which has no known categories"))?;
        let row = usize::try_from(bitset_idx[i])
            .ok()
            .filter(|&r| r < raw.nrows())
            .ok_or_else(|| format!("tree {t}: node {i} names category bitset {}", bitset_idx[i]))?;
        let in_left = |code: usize| (raw[(row, code / 32)] >> (code % 32)) & 1 == 1;
        // Missing values go left: the search finds the right side's values; else the left's.
        let want_left = nan_left[i] == 0;
        let mut vals: Vec<f64> = cats
            .iter()
            .enumerate()
            .filter(|&(code, _)| in_left(code) == want_left)
            .map(|(_, &v)| v)
            .collect();
        vals.sort_by(f64::total_cmp);
        count += search_nodes(vals.len());
        sides[i] = Some(vals);
    }
    if spec.nodes.len() + count > limits::MAX_NODES
        || spec.leaves.len() + n > limits::MAX_LEAF_VALUES
    {
        return Err(format!(
            "the ensemble exceeds {} nodes or {} leaves",
            limits::MAX_NODES,
            limits::MAX_LEAF_VALUES
        ));
    }
    // References: internal nodes in scikit-learn's order (children after parents), each
    // categorical node's search tree in its place; leaves in node order.
    let mut reference = vec![0u32; n];
    let (mut next_node, mut next_leaf) = (spec.nodes.len(), spec.leaves.len());
    for i in 0..n {
        reference[i] = if is_leaf[i] != 0 {
            next_leaf += 1;
            LEAF | u32::try_from(next_leaf - 1).map_err(|_| "too many leaves")?
        } else {
            let r = u32::try_from(next_node)
                .ok()
                .filter(|&r| r < LEAF)
                .ok_or_else(|| format!("tree {t}: too many nodes"))?;
            next_node += sides[i].as_ref().map_or(1, |v| search_nodes(v.len()));
            r
        };
    }
    let child = |c: i64, parent: usize| -> Result<u32, String> {
        usize::try_from(c)
            .ok()
            .filter(|&c| c > parent && c < n)
            .map(|c| reference[c])
            .ok_or_else(|| format!("tree {t}: node {parent} has child {c}"))
    };
    for i in 0..n {
        if is_leaf[i] != 0 {
            if !value[i].is_finite() {
                return Err(format!("tree {t}: leaf {i} holds {}", value[i]));
            }
            spec.leaves.push(value[i]);
            continue;
        }
        let f = usize::try_from(feature[i])
            .ok()
            .and_then(|f| cols.original.get(f).copied())
            .ok_or_else(|| format!("tree {t}: node {i} reads feature {}", feature[i]))?;
        let (l, r) = (child(left[i], i)?, child(right[i], i)?);
        match &sides[i] {
            None => {
                if threshold[i].is_nan() {
                    return Err(format!("tree {t}: node {i} has a NaN threshold"));
                }
                spec.nodes.push(TreeNode {
                    feature: f,
                    split: Split::Le(threshold[i]),
                    missing: MissingRule::Default,
                    default_left: nan_left[i] != 0,
                    left: l,
                    right: r,
                });
            }
            Some(vals) => {
                let (found, missing) = if nan_left[i] != 0 { (r, l) } else { (l, r) };
                emit_search(&mut spec.nodes, f, vals, found, missing);
            }
        }
    }
    if spec.nodes.len() != next_node {
        return Err(format!("tree {t}: node count mismatch"));
    }
    Ok(reference[0])
}

/// Converts scikit-learn gradient boosting from its trees (see the module docs). `targets`
/// names each tree's output; `baseline` holds each output's start value; `round_f32` is
/// set for `GradientBoosting*` (its trees see `float32` inputs) and not for
/// `HistGradientBoosting*` (which compares `float64` inputs). `column_map` gives, for each
/// column the trees read, its index in the caller's row, and `categories` its known
/// category values in code order (`None` for a numeric column). `post` is `none`, `exp`,
/// `binary_logistic` or `softmax`.
///
/// `covers`, when given, holds each tree's node covers in node order (`count` of a
/// HistGradientBoosting predictor node, `weighted_n_node_samples` of a GradientBoosting
/// regression tree): they become the stage's node covers (FORMAT.md, "Node covers"), each
/// baseline leaf covering 1 (a single-leaf tree's expected value is its leaf whatever its
/// cover). An ensemble with a categorical split gets none, and so refuses to explain: its
/// search trees (module docs) reach each side of the split by several paths, and Tree SHAP
/// would count that side's share once per path.
#[pyfunction]
#[pyo3(signature = (trees, targets, baseline, n_features, round_f32, column_map, categories, post, name, class_ints = None, class_strs = None, feature_names = None, source_library = None, covers = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert_sklearn_boosting(
    trees: Vec<BoostTree<'_>>,
    targets: Vec<u32>,
    baseline: Vec<f64>,
    n_features: u32,
    round_f32: bool,
    column_map: Vec<i64>,
    categories: Vec<Option<Vec<f64>>>,
    post: &str,
    name: String,
    class_ints: Option<Vec<i64>>,
    class_strs: Option<Vec<String>>,
    feature_names: Option<Vec<String>>,
    source_library: Option<String>,
    covers: Option<Vec<PyReadonlyArray1<'_, f64>>>,
) -> PyResult<Model> {
    let bad = |e: String| err(format!("unsupported or inconsistent model: {e}"));
    if covers.as_ref().is_some_and(|c| c.len() != trees.len()) {
        return Err(bad("one cover array per tree is needed".to_owned()));
    }
    if n_features as usize > limits::MAX_FEATURES {
        return Err(bad(format!("{n_features} features")));
    }
    let n_out = baseline.len();
    if n_out == 0 || n_out > limits::MAX_OUTPUTS || baseline.iter().any(|b| !b.is_finite()) {
        return Err(bad(format!("baseline {baseline:?}")));
    }
    if targets.len() != trees.len() || targets.iter().any(|&k| k as usize >= n_out) {
        return Err(bad(
            "the trees' outputs do not match the baseline".to_owned()
        ));
    }
    if column_map.len() != n_features as usize || categories.len() != n_features as usize {
        return Err(bad(format!(
            "{} column indices and {} category lists for {n_features} features",
            column_map.len(),
            categories.len()
        )));
    }
    let original = column_map
        .iter()
        .map(|&c| u32::try_from(c).ok().filter(|&c| c < n_features))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| bad("a column index is out of range".to_owned()))?;
    for c in categories.iter().flatten() {
        if c.len() > 32 * BITSET_WORDS || c.iter().any(|v| v.is_nan()) {
            return Err(bad(format!(
                "a categorical feature has {} categories (at most {}, none NaN)",
                c.len(),
                32 * BITSET_WORDS
            )));
        }
    }
    let cols = Columns {
        original,
        categories,
    };
    let mut spec = TreesSpec {
        n_in: n_features,
        n_out: n_out as u32,
        round_f32,
        leaf_width: 1,
        base: vec![0.0; n_out],
        ..TreesSpec::default()
    };
    // Covers of the internal nodes and of the leaves, in table order (`None` once a tree
    // has a categorical split, or when the caller gave none).
    let mut cover_tables = covers.as_ref().map(|_| (Vec::new(), Vec::new()));
    // The baselines come first, one single-leaf tree per output.
    for (k, b) in baseline.iter().enumerate() {
        spec.roots.push(LEAF | spec.leaves.len() as u32);
        spec.leaves.push(*b);
        spec.targets.push(k as u32);
        if let Some((_, leaf_covers)) = &mut cover_tables {
            leaf_covers.push(1.0);
        }
    }
    for (t, (tree, &k)) in trees.iter().zip(&targets).enumerate() {
        let root = add_tree(&mut spec, t, tree, &cols).map_err(bad)?;
        spec.roots.push(root);
        spec.targets.push(k);
        if let (Some((node_covers, leaf_covers)), Some(c)) =
            (&mut cover_tables, covers.as_ref().and_then(|c| c.get(t)))
        {
            let (is_leaf, is_cat) = (vec1(&tree.6).map_err(bad)?, vec1(&tree.7).map_err(bad)?);
            let c = vec1(c).map_err(bad)?;
            if c.len() != is_leaf.len() {
                return Err(bad(format!(
                    "tree {t}: {} covers for {} nodes",
                    c.len(),
                    is_leaf.len()
                )));
            }
            if is_leaf.iter().zip(&is_cat).any(|(&l, &k)| l == 0 && k != 0) {
                cover_tables = None;
                continue;
            }
            // Internal nodes and leaves keep scikit-learn's node order (`add_tree`).
            for (&v, &l) in c.iter().zip(&is_leaf) {
                if l != 0 {
                    leaf_covers.push(v);
                } else {
                    node_covers.push(v);
                }
            }
        }
    }
    if let Some((mut node_covers, leaf_covers)) = cover_tables {
        node_covers.extend_from_slice(&leaf_covers);
        spec.covers = crate::checked_covers(node_covers, spec.nodes.len());
    }
    if n_out == 1 {
        spec.targets.clear();
    }
    let labels = match (class_ints, class_strs) {
        (Some(v), None) => LabelsSpec::Int(v),
        (None, Some(v)) => LabelsSpec::Str(v),
        (None, None) => LabelsSpec::None,
        (Some(_), Some(_)) => return Err(err("class labels mix integers and strings")),
    };
    let classifier = !matches!(labels, LabelsSpec::None);
    let post = match post {
        "none" => None,
        "exp" => Some(PostTransform::Exp),
        "binary_logistic" => Some(PostTransform::BinaryLogistic),
        "softmax" => Some(PostTransform::Softmax),
        other => return Err(err(format!("unknown link {other:?}"))),
    };
    let n_labels = match &labels {
        LabelsSpec::Int(v) => v.len(),
        LabelsSpec::Str(v) => v.len(),
        LabelsSpec::None => 0,
    };
    let n_outputs = if classifier {
        let scores = if n_labels == 2 { 1 } else { n_labels };
        if scores != n_out {
            return Err(bad(format!("{n_labels} classes, {n_out} raw outputs")));
        }
        n_labels
    } else {
        if n_out != 1 {
            return Err(bad(format!("{n_out} outputs for a regressor")));
        }
        1
    };
    let mut stages = vec![StageSpec::Trees(spec)];
    stages.extend(post.map(StageSpec::Post));
    let spec = ModelSpec {
        input: crate::positional_input(n_features, MissingValues::Nan),
        output: crate::f64_output(crate::task_of(classifier), n_outputs as u32, labels),
        provenance: crate::sklearn_provenance(name, source_library),
        stages,
    };
    Model::from_spec(spec, feature_names)
}
