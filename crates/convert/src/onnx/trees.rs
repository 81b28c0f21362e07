//! `TreeEnsembleRegressor` and `TreeEnsembleClassifier` (ai.onnx.ml opsets 1 to 4) to a
//! `.apr` trees stage. The module documentation of [`super`] says how each attribute maps.

use super::graph::Node;
use super::params::{class_labels, labels_len};
use crate::ConvertError;
use icebreak_format::trees::LEAF;
use icebreak_format::{LabelsSpec, MissingRule, PostTransform, Split, TreeNode, TreesSpec};
use std::collections::{BTreeMap, HashMap};

/// A converted ensemble and what its output tensor is.
pub(crate) struct Built {
    pub spec: TreesSpec,
    /// Width of the probability/score tensor onnxruntime produces.
    pub width: usize,
    pub post: Option<PostTransform>,
    /// A binary classifier scored by one value.
    pub binary_pair: bool,
    /// Class labels (classifiers).
    pub labels: Option<LabelsSpec>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leaf,
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Neq,
}

fn mode(node: &Node<'_>, i: usize, m: &str) -> Result<Mode, ConvertError> {
    Ok(match m {
        "LEAF" => Mode::Leaf,
        "BRANCH_LEQ" => Mode::Le,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Ge,
        "BRANCH_GT" => Mode::Gt,
        "BRANCH_EQ" => Mode::Eq,
        "BRANCH_NEQ" => Mode::Neq,
        other => {
            return Err(node.err(format_args!(
                "nodes_modes[{i}] is {other:?}, not a known node mode"
            )))
        }
    })
}

const NODE_ATTRS: &[&str] = &[
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_hitrates",
    "nodes_hitrates_as_tensor",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_nodeids",
    "nodes_treeids",
    "nodes_truenodeids",
    "nodes_values",
    "nodes_values_as_tensor",
    "post_transform",
    "base_values",
    "base_values_as_tensor",
];

pub(crate) fn build(node: &Node<'_>, n_in: usize, round_f32: bool) -> Result<Built, ConvertError> {
    let classifier = node.op() == "TreeEnsembleClassifier";
    let (prefix, extra): (&str, &[&str]) = if classifier {
        node.arity(1..=1, 2)?;
        (
            "class",
            &[
                "class_ids",
                "class_nodeids",
                "class_treeids",
                "class_weights",
                "class_weights_as_tensor",
                "classlabels_int64s",
                "classlabels_strings",
            ],
        )
    } else {
        node.arity(1..=1, 1)?;
        (
            "target",
            &[
                "target_ids",
                "target_nodeids",
                "target_treeids",
                "target_weights",
                "target_weights_as_tensor",
                "n_targets",
                "aggregate_function",
            ],
        )
    };
    let known: Vec<&str> = NODE_ATTRS.iter().chain(extra).copied().collect();
    node.only(&known)?;

    let ints =
        |name: &str| -> Result<&[i64], ConvertError> { Ok(node.ints(name)?.unwrap_or_default()) };
    let node_ids = ints("nodes_nodeids")?;
    let tree_ids = ints("nodes_treeids")?;
    let features = ints("nodes_featureids")?;
    let trues = ints("nodes_truenodeids")?;
    let falses = ints("nodes_falsenodeids")?;
    let tracks = ints("nodes_missing_value_tracks_true")?;
    let modes = node.strings("nodes_modes")?.unwrap_or_default();
    let values = node.floats_or_tensor("nodes_values")?.unwrap_or_default();
    let n = node_ids.len();
    if n == 0 {
        return Err(node.err("has no nodes"));
    }
    for (name, len) in [
        ("nodes_treeids", tree_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_truenodeids", trues.len()),
        ("nodes_falsenodeids", falses.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
    ] {
        if len != n {
            return Err(node.err(format_args!(
                "attribute {name:?} has {len} entries, nodes_nodeids has {n}"
            )));
        }
    }
    if !tracks.is_empty() && tracks.len() != n {
        return Err(node.err(format_args!(
            "attribute \"nodes_missing_value_tracks_true\" has {} entries for {n} nodes",
            tracks.len()
        )));
    }
    let modes = modes
        .iter()
        .enumerate()
        .map(|(i, m)| mode(node, i, m))
        .collect::<Result<Vec<Mode>, _>>()?;

    // (tree, node) → attribute index; trees in ascending id order, each rooted at its first
    // node in attribute order.
    let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    let mut roots: BTreeMap<i64, usize> = BTreeMap::new();
    for i in 0..n {
        if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
            return Err(node.err(format_args!(
                "tree {} has node {} twice",
                tree_ids[i], node_ids[i]
            )));
        }
        roots.entry(tree_ids[i]).or_insert(i);
    }

    // Weights.
    let w_tree = ints(&format!("{prefix}_treeids"))?;
    let w_node = ints(&format!("{prefix}_nodeids"))?;
    let w_id = ints(&format!("{prefix}_ids"))?;
    let w_val = node
        .floats_or_tensor(&format!("{prefix}_weights"))?
        .unwrap_or_default();
    let m = w_tree.len();
    if w_node.len() != m || w_id.len() != m || w_val.len() != m {
        return Err(node.err(format_args!(
            "{prefix}_treeids, {prefix}_nodeids, {prefix}_ids and {prefix}_weights have {m}, {}, \
             {} and {} entries",
            w_node.len(),
            w_id.len(),
            w_val.len()
        )));
    }
    let base = node.floats_or_tensor("base_values")?.unwrap_or_default();
    if let Some(b) = base.iter().find(|b| !b.is_finite()) {
        return Err(node.err(format_args!("base_values holds a non-finite value ({b})")));
    }
    let post = super::params::post_transform(node)?;

    // What the outputs are.
    let mut pair_probabilities = false;
    let (n_out, mut base_out, out_post, width, binary_pair, labels, average) = if classifier {
        let labels = class_labels(node, "classlabels_int64s", "classlabels_strings")?;
        let k = labels_len(&labels);
        if k < 2 {
            return Err(node.err(format_args!("has {k} class labels, at least 2 are needed")));
        }
        for (j, &c) in w_id.iter().enumerate() {
            if c < 0 || c as u64 >= k as u64 {
                return Err(node.err(format_args!(
                    "class_ids[{j}] is {c}, outside the {k} classes"
                )));
            }
        }
        let one_class = k == 2
            && w_id
                .iter()
                .all(|&c| c == w_id.first().copied().unwrap_or(0));
        if one_class {
            // onnxruntime's binary case: one score per row, for the positive class.
            let all_positive = w_val.iter().all(|&v| v >= 0.0);
            let post = match post {
                Some(PostTransform::Logistic) => Some(PostTransform::BinaryLogistic),
                None if !all_positive => None,
                None => Some(PostTransform::Probabilities),
                _ => {
                    return Err(node.err(
                        "a two-class ensemble with weights for one class maps only with \
                         post_transform LOGISTIC or NONE",
                    ))
                }
            };
            let b = match base.as_slice() {
                [] => 0.0,
                [b] => *b,
                [_, b1] => *b1,
                _ => {
                    return Err(node.err(format_args!(
                        "base_values has {} values for a binary classifier",
                        base.len()
                    )))
                }
            };
            if post == Some(PostTransform::Probabilities) {
                // onnxruntime reports `[1 - p, p]` with `p = base + Σ w`: two columns with
                // leaves `[-w, w]` and base `[1 - b, b]` add up to exactly that.
                pair_probabilities = true;
                (2, vec![1.0 - b, b], post, 2, false, Some(labels), false)
            } else {
                (1, vec![b], post, 2, true, Some(labels), false)
            }
        } else {
            let b = match base.len() {
                0 => vec![0.0; k],
                l if l == k => base.clone(),
                l => {
                    return Err(node.err(format_args!("base_values has {l} values for {k} classes")))
                }
            };
            let post = match post {
                None if w_val.iter().all(|&v| (0.0..=1.0).contains(&v))
                    && b.iter().all(|&v| v == 0.0) =>
                {
                    Some(PostTransform::Probabilities)
                }
                p => p,
            };
            (k, b, post, k, false, Some(labels), false)
        }
    } else {
        if post.is_some() {
            return Err(node.err("post_transform other than NONE is not supported for a regressor"));
        }
        let t = node.int("n_targets")?.unwrap_or(1);
        let t = usize::try_from(t)
            .ok()
            .filter(|&t| (1..=icebreak_format::limits::MAX_OUTPUTS).contains(&t))
            .ok_or_else(|| {
                node.err(format_args!(
                    "n_targets is {t}, outside 1..={}",
                    icebreak_format::limits::MAX_OUTPUTS
                ))
            })?;
        for (j, &c) in w_id.iter().enumerate() {
            if c < 0 || c as u64 >= t as u64 {
                return Err(node.err(format_args!(
                    "target_ids[{j}] is {c}, outside the {t} targets"
                )));
            }
        }
        let average = match node.string("aggregate_function")?.as_deref() {
            None | Some("SUM") => false,
            Some("AVERAGE") => true,
            Some(other) => {
                return Err(node.err(format_args!(
                    "aggregate_function {other:?} is not supported (SUM and AVERAGE are)"
                )))
            }
        };
        let b = match base.len() {
            0 => vec![0.0; t],
            l if l == t => base.clone(),
            1 => vec![base[0]; t],
            l => return Err(node.err(format_args!("base_values has {l} values for {t} targets"))),
        };
        (t, b, None, t, false, None, average)
    };
    if binary_pair && n_out != 1 {
        return Err(node.err("internal: binary ensemble with more than one output"));
    }

    // The dense leaf table (leaves × outputs) is bounded before it is built.
    let n_leaves = modes.iter().filter(|&&m| m == Mode::Leaf).count();
    icebreak_format::limits::check(
        "the leaf values (leaves × outputs)",
        n_leaves.saturating_mul(n_out),
        icebreak_format::limits::MAX_LEAF_VALUES,
    )
    .map_err(|e| node.err(format_args!("{e}")))?;

    // Leaf vectors by attribute index.
    let mut leaf_values: HashMap<usize, Vec<f64>> = HashMap::new();
    for j in 0..m {
        let i = *index.get(&(w_tree[j], w_node[j])).ok_or_else(|| {
            node.err(format_args!(
                "{prefix} weight {j} names tree {} node {}, which does not exist",
                w_tree[j], w_node[j]
            ))
        })?;
        if modes[i] != Mode::Leaf {
            return Err(node.err(format_args!(
                "{prefix} weight {j} is on tree {} node {}, which is not a leaf",
                w_tree[j], w_node[j]
            )));
        }
        if !w_val[j].is_finite() {
            return Err(node.err(format_args!(
                "{prefix}_weights[{j}] is not finite ({})",
                w_val[j]
            )));
        }
        let leaf = leaf_values.entry(i).or_insert_with(|| vec![0.0; n_out]);
        if pair_probabilities {
            leaf[0] -= w_val[j];
            leaf[1] += w_val[j];
        } else if binary_pair {
            leaf[0] += w_val[j];
        } else {
            leaf[w_id[j] as usize] += w_val[j];
        }
    }

    let mut spec = TreesSpec {
        n_in: u32::try_from(n_in).map_err(|_| node.err("too many features"))?,
        n_out: u32::try_from(n_out).map_err(|_| node.err("too many outputs"))?,
        average,
        round_f32,
        sum_f32: false,
        average_per_output: false,
        leaf_width: u32::try_from(n_out).map_err(|_| node.err("too many outputs"))?,
        compact: true,
        ..TreesSpec::default()
    };
    let child = |tree: i64, id: i64, from: usize, side: &str| -> Result<usize, ConvertError> {
        index.get(&(tree, id)).copied().ok_or_else(|| {
            node.err(format_args!(
                "tree {tree} node {}: {side} child {id} does not exist",
                node_ids[from]
            ))
        })
    };
    let too_many = || node.err("more than 2^31 nodes or leaves");
    for (&tree, &root) in &roots {
        // Preorder numbering: every child gets a larger index than its parent.
        let mut refs: HashMap<usize, u32> = HashMap::new();
        let mut order = Vec::new();
        let mut stack = vec![root];
        let base_node = spec.nodes.len();
        let mut next_node = base_node;
        let mut next_leaf = spec.leaves.len() / n_out;
        while let Some(i) = stack.pop() {
            if refs.contains_key(&i) {
                return Err(node.err(format_args!(
                    "tree {tree}: node {} is reached twice (the ids form a cycle or share a node)",
                    node_ids[i]
                )));
            }
            let r = if modes[i] == Mode::Leaf {
                let r = u32::try_from(next_leaf)
                    .ok()
                    .filter(|&r| r < LEAF)
                    .ok_or_else(too_many)?;
                next_leaf += 1;
                r | LEAF
            } else {
                let f = features[i];
                if f < 0 || f as u64 >= n_in as u64 {
                    return Err(node.err(format_args!(
                        "tree {tree} node {}: feature {f} is outside the {n_in} features",
                        node_ids[i]
                    )));
                }
                let t = child(tree, trues[i], i, "true")?;
                let fl = child(tree, falses[i], i, "false")?;
                stack.push(fl);
                stack.push(t);
                let r = u32::try_from(next_node)
                    .ok()
                    .filter(|&r| r < LEAF)
                    .ok_or_else(too_many)?;
                next_node += 1;
                r
            };
            refs.insert(i, r);
            order.push(i);
        }
        spec.roots.push(refs[&root]);
        for &i in &order {
            match modes[i] {
                Mode::Leaf => {
                    let v = leaf_values.remove(&i).unwrap_or_else(|| vec![0.0; n_out]);
                    spec.leaves.extend_from_slice(&v);
                }
                m => {
                    let t = values[i];
                    if t.is_nan() {
                        return Err(node.err(format_args!(
                            "tree {tree} node {}: the threshold is NaN",
                            node_ids[i]
                        )));
                    }
                    let (split, nan_true) = match m {
                        Mode::Le => (Split::Le(t), false),
                        Mode::Lt => (Split::Lt(t), false),
                        Mode::Ge => (Split::Ge(t), false),
                        Mode::Gt => (Split::Gt(t), false),
                        Mode::Eq => (Split::Eq(t), false),
                        // onnxruntime: NaN != t holds, so NaN takes the true branch.
                        Mode::Neq | Mode::Leaf => (Split::Ne(t), true),
                    };
                    let track = tracks.get(i).copied().unwrap_or(0) != 0;
                    spec.nodes.push(TreeNode {
                        feature: features[i] as u32,
                        split,
                        missing: MissingRule::Default,
                        default_left: track || nan_true,
                        left: refs[&child(tree, trues[i], i, "true")?],
                        right: refs[&child(tree, falses[i], i, "false")?],
                    });
                }
            }
        }
    }
    if !leaf_values.is_empty() {
        return Err(node.err("weights are attached to a leaf that no tree reaches from its root"));
    }
    for b in &mut base_out {
        if !b.is_finite() {
            return Err(node.err("base value is not finite"));
        }
    }
    spec.base = base_out;
    Ok(Built {
        spec,
        width,
        post: out_post,
        binary_pair,
        labels,
    })
}

/// The operators this module recognises.
pub(super) const OPS: &[super::registry::Op] = &[
    super::registry::Op::ml("TreeEnsembleRegressor", |w, n| w.tree_ensemble(n)),
    super::registry::Op::ml("TreeEnsembleClassifier", |w, n| w.tree_ensemble(n)),
];

impl super::walker::Walker<'_> {
    fn tree_ensemble(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        use super::walker::{Out, Val};
        self.require_ml(&node)?;
        let v = self.input(&node, 0)?.clone();
        let width = self.rows(&node, v)?;
        self.first_estimator(&node)?;
        let round_f32 = self.input_f32 || self.model.producer_name == "skl2onnx";
        let built = build(&node, width, round_f32)?;
        self.stages
            .push(icebreak_format::StageSpec::Trees(built.spec));
        self.trees = true;
        let out = Out {
            width: built.width,
            post: built.post,
            binary_pair: built.binary_pair,
        };
        if let Some(labels) = built.labels {
            self.set_labels(&node, labels)?;
            self.set(&node, 0, Val::Label)?;
            self.set(&node, 1, Val::Out(out))
        } else {
            self.set(&node, 0, Val::Out(out))
        }
    }
}
