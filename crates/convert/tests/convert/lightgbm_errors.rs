//! Bad LightGBM text models: every one is refused with a `ConvertError::Invalid` that names
//! what is wrong (line, tree, node); none panics.

// Test helpers unwrap freely: a malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::fixture_dir;
use icebreak_convert::lightgbm::{convert, convert_with, Options};
use icebreak_convert::ConvertError;
use icebreak_format::{
    LabelsSpec, MissingRule, PostTransform, Split, StageSpec, Task, TreeNode, TreesSpec,
};
use std::path::Path;

/// A small valid model: two features, one tree of three leaves.
const BASE: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=a b
feature_infos=[0:1] [0:2]

Tree=0
num_leaves=3
num_cat=0
split_feature=0 1
split_gain=1 1
threshold=0.5 1.5
decision_type=2 8
left_child=1 -1
right_child=-2 -3
leaf_value=0.25 -0.5 0.75
shrinkage=1


end of trees

parameters:
end of parameters
";

/// `BASE` with `from` replaced by `to` (which must occur).
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} not in BASE");
    BASE.replacen(from, to, 1)
}

fn err(text: &[u8]) -> String {
    match convert(text) {
        Err(ConvertError::Invalid(msg)) => msg,
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(_) => panic!("converted a bad model: {}", String::from_utf8_lossy(text)),
    }
}

fn err_edit(from: &str, to: &str) -> String {
    err(edit(from, to).as_bytes())
}

fn trees(spec: &icebreak_format::ModelSpec) -> &TreesSpec {
    match &spec.stages[0] {
        StageSpec::Trees(t) => t,
        other => panic!("not trees: {other:?}"),
    }
}

fn fixture(name: &str) -> String {
    let p = fixture_dir("lightgbm").join(name).join("model.txt");
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn the_base_model_converts_as_documented() {
    let spec = convert(BASE.as_bytes()).unwrap();
    assert_eq!(spec.input.n_features, 2);
    assert_eq!(spec.input.feature_names, Some(vec!["a".into(), "b".into()]));
    assert_eq!(spec.output.task, Task::Classification);
    assert_eq!(spec.output.n_outputs, 2);
    assert_eq!(spec.output.labels, LabelsSpec::Int(vec![0, 1]));
    assert_eq!(
        spec.stages[1],
        StageSpec::Post(PostTransform::BinaryLogistic)
    );
    let t = trees(&spec);
    assert!(!t.round_f32 && !t.average);
    assert_eq!(t.roots, [0]);
    assert_eq!(t.leaves, [0.25, -0.5, 0.75]);
    assert_eq!(
        t.nodes,
        [
            // decision_type 2: missing None (NaN compared as 0.0), default left.
            TreeNode {
                feature: 0,
                split: Split::Le(0.5),
                missing: MissingRule::AsZero,
                default_left: true,
                left: 1,
                right: icebreak_format::trees::LEAF | 1,
            },
            // decision_type 8: missing NaN, default right.
            TreeNode {
                feature: 1,
                split: Split::Le(1.5),
                missing: MissingRule::Default,
                default_left: false,
                left: icebreak_format::trees::LEAF,
                right: icebreak_format::trees::LEAF | 2,
            },
        ]
    );
    let p = &spec.provenance;
    assert_eq!(p.source_format.as_deref(), Some("lightgbm text model v4"));
    assert_eq!(p.converter.as_deref(), Some(icebreak_convert::CONVERTER));
    let sha = p.source_sha256.as_deref().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(p.model_version, format!("lightgbm-{}", &sha[..12]));
    assert_eq!(p.model_name.as_deref(), Some("lightgbm binary"));
    let named = convert_with(
        BASE.as_bytes(),
        &Options {
            model_version: Some("7".into()),
            model_name: Some("churn".into()),
        },
    )
    .unwrap();
    assert_eq!(named.provenance.model_version, "7");
    assert_eq!(named.provenance.model_name.as_deref(), Some("churn"));
    icebreak_format::write(&spec).unwrap();
}

#[test]
fn windows_line_endings_are_read() {
    let crlf = BASE.replace('\n', "\r\n");
    assert_eq!(
        trees(&convert(crlf.as_bytes()).unwrap()),
        trees(&convert(BASE.as_bytes()).unwrap())
    );
}

#[test]
fn not_a_lightgbm_model() {
    assert_eq!(err(b""), "LightGBM model: empty file");
    assert_eq!(
        err(b"{\"learner\": {}}"),
        "LightGBM model: not a LightGBM text model: the first line is `{\"learner\": {}}`, \
         expected `tree`"
    );
    assert_eq!(
        err(b"tree\nversion=v4\n\xff\xfe\n"),
        "LightGBM model: not UTF-8 text (invalid byte at offset 16)"
    );
}

#[test]
fn truncated_files() {
    assert_eq!(
        err(b"tree\nversion=v4\nnum_class=1\n"),
        "LightGBM model: truncated: the file ends in the header, before any `Tree=` line"
    );
    let cut = &BASE[..BASE.find("end of trees").unwrap()];
    assert_eq!(
        err(cut.as_bytes()),
        "LightGBM model: truncated: the file ends after 1 tree(s), without the `end of trees` \
         line"
    );
    // A real model cut anywhere is refused, never converted and never a panic.
    let text = fixture("categorical");
    let end = text.find("end of trees").unwrap();
    for at in (0..end).step_by(997).chain([end - 1, end + 5]) {
        let msg = err(&text.as_bytes()[..at]);
        assert!(msg.starts_with("LightGBM model: "), "{msg}");
    }
}

#[test]
fn tree_sizes_must_match_the_blocks() {
    let text = fixture("regression");
    let damaged = text.replacen("shrinkage=1\n", "shrinkage=1.0\n", 1);
    assert_ne!(damaged, text);
    let msg = err(damaged.as_bytes());
    assert!(
        msg.starts_with("LightGBM model: line 12: tree 0 is ")
            && msg.contains("but tree_sizes says"),
        "{msg}"
    );
    let one_more = text.replacen("tree_sizes=", "tree_sizes=1 ", 1);
    assert_eq!(
        err(one_more.as_bytes()),
        "LightGBM model: line 10: tree_sizes lists 121 trees, the file has 120"
    );
}

#[test]
fn objectives() {
    assert_eq!(
        err_edit("objective=binary sigmoid:1", "objective=bogus"),
        "LightGBM model: line 7: unknown objective `bogus`"
    );
    assert_eq!(
        err_edit("objective=binary sigmoid:1", "objective=binary sigmoid:2"),
        "LightGBM model: line 7: objective `binary` with sigmoid:2 is not supported (only \
         sigmoid:1: the .apr logistic has no scale, and folding one into the leaves would \
         change the raw scores)"
    );
    assert_eq!(
        err_edit("objective=binary sigmoid:1", "objective=binary"),
        "LightGBM model: line 7: objective `binary` has no `sigmoid:` parameter"
    );
    assert_eq!(
        err_edit("objective=binary sigmoid:1", "objective=regression sqrt"),
        "LightGBM model: line 7: objective `regression sqrt` (reg_sqrt: output sign(x)·x²) is \
         not supported"
    );
    assert_eq!(
        err_edit(
            "objective=binary sigmoid:1",
            "objective=cross_entropy_lambda"
        ),
        "LightGBM model: line 7: objective `cross_entropy_lambda` (output log1p(exp(x))) is not \
         supported"
    );
    assert_eq!(
        err_edit(
            "objective=binary sigmoid:1",
            "objective=multiclass num_class:3"
        ),
        "LightGBM model: line 7: objective `multiclass` says num_class:3 but the header says \
         num_class=1"
    );
    // Aliases and regression-family objectives convert.
    for (obj, post) in [
        ("mse", None),
        ("huber", None),
        ("poisson", Some(PostTransform::Exp)),
        ("tweedie", Some(PostTransform::Exp)),
        ("xentropy", Some(PostTransform::Logistic)),
        ("lambdarank", None),
    ] {
        let spec = convert(edit("binary sigmoid:1", obj).as_bytes()).unwrap();
        assert_eq!(spec.output.task, Task::Regression, "{obj}");
        assert_eq!(
            spec.stages.get(1),
            post.map(StageSpec::Post).as_ref(),
            "{obj}"
        );
    }
    // No objective line (a custom objective): raw scores.
    let spec = convert(edit("objective=binary sigmoid:1\n", "").as_bytes()).unwrap();
    assert_eq!(spec.stages.len(), 1);
}

#[test]
fn header_counts() {
    assert_eq!(
        err_edit("max_feature_idx=1", "max_feature_idx=2"),
        "LightGBM model: line 8: feature_names has 2 names, max_feature_idx=2 implies 3"
    );
    assert_eq!(
        err_edit("max_feature_idx=1\n", ""),
        "LightGBM model: the header has no `max_feature_idx` line"
    );
    assert_eq!(
        err_edit("max_feature_idx=1", "max_feature_idx=-1"),
        "LightGBM model: max_feature_idx=-1 is out of range (0..1048576)"
    );
    assert_eq!(
        err_edit("feature_infos=[0:1] [0:2]", "feature_infos=[0:1]"),
        "LightGBM model: line 9: feature_infos has 1 entries, max_feature_idx=1 implies 2"
    );
    assert_eq!(
        err_edit("num_class=1", "num_class=x"),
        "LightGBM model: line 3: `num_class` is not an integer: `x`"
    );
    assert_eq!(
        err_edit("label_index=0", "num_class=1"),
        "LightGBM model: line 5: header key `num_class` appears twice"
    );
    assert_eq!(
        err_edit("num_tree_per_iteration=1", "num_tree_per_iteration=2"),
        "LightGBM model: num_tree_per_iteration=2 does not fit objective `binary` (1 output(s))"
    );
    let two = BASE.replacen(
        "objective=binary sigmoid:1",
        "objective=multiclass num_class:2",
        1,
    );
    let two = two.replacen("num_class=1", "num_class=2", 1).replacen(
        "num_tree_per_iteration=1",
        "num_tree_per_iteration=2",
        1,
    );
    assert_eq!(
        err(two.as_bytes()),
        "LightGBM model: 1 trees is not a whole number of iterations of \
         num_tree_per_iteration=2"
    );
    let empty = format!("{}end of trees\n", &BASE[..BASE.find("Tree=0").unwrap()]);
    assert_eq!(
        err(empty.as_bytes()),
        "LightGBM model: the model has no trees"
    );
}

#[test]
fn array_lengths_against_num_leaves() {
    assert_eq!(
        err_edit("num_leaves=3", "num_leaves=4"),
        "LightGBM model: line 20: tree 0: `leaf_value` has 3 values, num_leaves implies 4"
    );
    assert_eq!(
        err_edit("split_feature=0 1", "split_feature=0"),
        "LightGBM model: line 14: tree 0: `split_feature` has 1 values, num_leaves implies 2"
    );
    assert_eq!(
        err_edit("threshold=0.5 1.5", "threshold=0.5 1.5 2.5"),
        "LightGBM model: line 16: tree 0: `threshold` has more than the 2 values num_leaves \
         implies"
    );
    assert_eq!(
        err_edit("left_child=1 -1\n", ""),
        "LightGBM model: line 11: tree 0 has no `left_child` line"
    );
    assert_eq!(
        err_edit("num_leaves=3", "num_leaves=0"),
        "LightGBM model: line 11: tree 0: num_leaves=0 is out of range (1..=67108864)"
    );
    assert_eq!(
        err_edit("threshold=0.5 1.5", "threshold=0.5 abc"),
        "LightGBM model: line 16: tree 0: `threshold` has a malformed value `abc`"
    );
}

#[test]
fn node_ids_outside_the_tree() {
    assert_eq!(
        err_edit("left_child=1 -1", "left_child=7 -1"),
        "LightGBM model: line 11: tree 0: node 0: left_child 7 is outside the tree (2 nodes)"
    );
    assert_eq!(
        err_edit("right_child=-2 -3", "right_child=-2 -9"),
        "LightGBM model: line 11: tree 0: node 1: right_child -9 names leaf 8, outside the tree \
         (3 leaves)"
    );
    assert_eq!(
        err_edit("split_feature=0 1", "split_feature=0 5"),
        "LightGBM model: line 11: tree 0: node 1: split_feature 5 is outside max_feature_idx=1"
    );
}

#[test]
fn cycles_and_shared_or_unreachable_nodes() {
    // Node 1 points back at the root.
    assert_eq!(
        err_edit("left_child=1 -1", "left_child=1 0"),
        "LightGBM model: line 11: tree 0: node 0 is reached twice from the root (a cycle or a \
         shared child)"
    );
    // Node 1 points at itself.
    assert_eq!(
        err_edit("left_child=1 -1", "left_child=1 1"),
        "LightGBM model: line 11: tree 0: node 1 is reached twice from the root (a cycle or a \
         shared child)"
    );
    // One leaf under two parents.
    assert_eq!(
        err_edit("right_child=-2 -3", "right_child=-1 -3"),
        "LightGBM model: line 11: tree 0: node 1: leaf 0 is reached twice from the root"
    );
    // Node 2 hangs in the air.
    let orphan = BASE
        .replacen("num_leaves=3", "num_leaves=4", 1)
        .replacen("split_feature=0 1", "split_feature=0 1 0", 1)
        .replacen("threshold=0.5 1.5", "threshold=0.5 1.5 2", 1)
        .replacen("decision_type=2 8", "decision_type=2 8 0", 1)
        .replacen("left_child=1 -1", "left_child=1 -1 -4", 1)
        .replacen("right_child=-2 -3", "right_child=-2 -3 -4", 1)
        .replacen(
            "leaf_value=0.25 -0.5 0.75",
            "leaf_value=0.25 -0.5 0.75 1",
            1,
        )
        .replacen("split_gain=1 1", "split_gain=1 1 1", 1);
    assert_eq!(
        err(orphan.as_bytes()),
        "LightGBM model: line 11: tree 0: node 2 is not reachable from the root"
    );
}

#[test]
fn decision_types_and_values() {
    assert_eq!(
        err_edit("decision_type=2 8", "decision_type=2 12"),
        "LightGBM model: line 11: tree 0: node 1: decision_type 12 has the undefined missing \
         type 3"
    );
    assert_eq!(
        err_edit("decision_type=2 8", "decision_type=2 64"),
        "LightGBM model: line 11: tree 0: node 1: decision_type 64 has undefined bits"
    );
    assert_eq!(
        err_edit("decision_type=2 8", "decision_type=2 9"),
        "LightGBM model: line 11: tree 0: node 1 is categorical but the tree has num_cat=0"
    );
    assert_eq!(
        err_edit("threshold=0.5 1.5", "threshold=nan 1.5"),
        "LightGBM model: line 11: tree 0: node 0: threshold is NaN"
    );
    assert_eq!(
        err_edit("leaf_value=0.25 -0.5 0.75", "leaf_value=0.25 inf 0.75"),
        "LightGBM model: line 11: tree 0: leaf 1 has a non-finite value inf"
    );
    // `inf` is a threshold LightGBM writes (every number goes left).
    let spec = convert(edit("threshold=0.5 1.5", "threshold=inf 1.5").as_bytes()).unwrap();
    assert_eq!(trees(&spec).nodes[0].split, Split::Le(f64::INFINITY));
}

#[test]
fn linear_trees_are_refused() {
    assert_eq!(
        err_edit("shrinkage=1", "is_linear=1\nshrinkage=1"),
        "LightGBM model: line 11: tree 0: linear trees (linear_tree=true: a linear model in each \
         leaf) are not supported"
    );
}

#[test]
fn categorical_splits() {
    let cat = edit("num_cat=0", "num_cat=1")
        .replacen("decision_type=2 8", "decision_type=2 1", 1)
        .replacen("threshold=0.5 1.5", "threshold=0.5 0", 1)
        .replacen(
            "shrinkage=1",
            "cat_boundaries=0 2\ncat_threshold=5 1\nshrinkage=1",
            1,
        );
    let spec = convert(cat.as_bytes()).unwrap();
    let t = trees(&spec);
    assert_eq!(t.categories, [5, 1]);
    assert_eq!(
        t.nodes[1].split,
        Split::InSet {
            offset: 0,
            words: 2
        }
    );
    assert_eq!(t.nodes[1].missing, MissingRule::Default);
    assert!(!t.nodes[1].default_left, "NaN categories go right");
    assert_eq!(
        err(cat
            .replacen("threshold=0.5 0", "threshold=0.5 1", 1)
            .as_bytes()),
        "LightGBM model: line 11: tree 0: node 1: categorical threshold 1 is not a bitset index \
         below num_cat=1"
    );
    assert_eq!(
        err(cat
            .replacen("cat_boundaries=0 2", "cat_boundaries=0 3", 1)
            .as_bytes()),
        "LightGBM model: line 11: tree 0: cat_boundaries must rise from 0 to the 2 words of \
         cat_threshold"
    );
    assert_eq!(
        err(cat.replacen("cat_threshold=5 1\n", "", 1).as_bytes()),
        "LightGBM model: line 11: tree 0 has categorical splits but no `cat_threshold` line"
    );
    assert_eq!(
        err(cat
            .replacen("cat_threshold=5 1", "cat_threshold=5 -1", 1)
            .as_bytes()),
        "LightGBM model: line 22: tree 0: `cat_threshold` has a malformed value `-1`"
    );
}

#[test]
fn tree_blocks() {
    assert_eq!(
        err_edit("Tree=0", "Tree=3"),
        "LightGBM model: line 11: expected `Tree=0`, found `Tree=3`"
    );
    assert_eq!(
        err_edit("num_cat=0", "num_cat=0\nnum_cat=0"),
        "LightGBM model: line 14: tree 0: key `num_cat` appears twice"
    );
    assert_eq!(
        err_edit("num_cat=0", "num_cat"),
        "LightGBM model: line 13: tree 0: expected `key=value`, found `num_cat`"
    );
    assert_eq!(
        err_edit("\n\nend of trees", "\n\ngarbage\nend of trees"),
        "LightGBM model: line 24: expected `Tree=1` or `end of trees`, found `garbage`"
    );
}

#[test]
fn every_fixture_converts_and_writes() {
    for name in [
        "binary_nan",
        "binary_zero",
        "binary_nomissing",
        "regression",
        "poisson",
        "multiclass_wine",
        "multiclass_iris",
        "multiclassova_iris",
        "rf_binary",
        "rf_multiclass",
        "categorical",
        "bench_500x50",
    ] {
        let spec = convert(fixture(name).as_bytes()).unwrap();
        icebreak_format::write(&spec).unwrap();
    }
}

/// The fuzz target's seeds are valid models, so the fuzzer starts from inputs that get deep.
#[test]
fn fuzz_seeds_convert() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/lightgbm_text");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let spec = convert(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        icebreak_format::write(&spec).unwrap();
        n += 1;
    }
    assert!(n >= 4);
}

/// Found by the fuzzer: a categorical node whose bitset has no words (nothing goes left).
#[test]
fn an_empty_category_set_sends_everything_right() {
    let cat = edit("num_cat=0", "num_cat=2")
        .replacen("decision_type=2 8", "decision_type=2 1", 1)
        .replacen("threshold=0.5 1.5", "threshold=0.5 1", 1)
        .replacen(
            "shrinkage=1",
            "cat_boundaries=0 1 1\ncat_threshold=5\nshrinkage=1",
            1,
        );
    let spec = convert(cat.as_bytes()).unwrap();
    let t = trees(&spec);
    assert_eq!(t.categories, [5, 0]);
    assert_eq!(
        t.nodes[1].split,
        Split::InSet {
            offset: 1,
            words: 1
        }
    );
    icebreak_format::write(&spec).unwrap();
}
