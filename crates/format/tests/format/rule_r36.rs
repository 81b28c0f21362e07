//! R36: oblivious tree ensembles (stage kind 19, version 1.1), each reason with its test.

use crate::common::*;
use icebreak_format::*;

/// Three features (the third categorical), two float splits and a one-hot split, two trees
/// (depth 2 and 1), one output, a binary classifier.
fn oblivious() -> ObliviousSpec {
    ObliviousSpec {
        n_in: 3,
        n_out: 1,
        splits: vec![
            ObliviousSplit::Float {
                feature: 0,
                border: 0.5,
                nan_true: false,
            },
            ObliviousSplit::Float {
                feature: 1,
                border: -1.25,
                nan_true: true,
            },
            ObliviousSplit::OneHot {
                feature: 2,
                value: 0xDEAD_BEEF,
            },
        ],
        trees: vec![vec![0, 1], vec![2]],
        leaves: vec![0.1, 0.2, 0.3, 0.4, -1.0, 1.0],
        scale: 1.0,
        bias: vec![0.25],
        categorical: vec![2],
        ctr: None,
    }
}

fn bad(index: u32, reason: &'static str) -> FormatError {
    FormatError::BadOblivious {
        stage: 0,
        index,
        reason,
    }
}

#[test]
fn oblivious_round_trips_as_version_1_1() {
    let spec = oblivious_model(oblivious());
    let buf = write(&spec).unwrap();
    assert_eq!(&buf[4..6], &[1, 0], "major 1");
    assert_eq!(&buf[6..8], &[1, 0], "minor 1");
    let apr = Apr::parse_verified(&buf).unwrap();
    assert_eq!(apr.to_spec().stages, spec.stages);
    let Stage::Oblivious(o) = apr.stages()[0] else {
        panic!("not oblivious")
    };
    assert_eq!(o.n_splits(), 3);
    assert_eq!(apr.stages()[0].name(), "oblivious");
}

#[test]
fn r35_undefined_flag() {
    let mut o = oblivious();
    o.splits[0] = ObliviousSplit::Float {
        feature: 1 << 28,
        border: 0.5,
        nan_true: false,
    };
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a split has an undefined flag")
    );
}

#[test]
fn r35_one_hot_with_nan_rule() {
    let mut o = oblivious();
    // A float split whose feature word carries the one-hot bit, plus the NaN rule.
    o.splits[1] = ObliviousSplit::Float {
        feature: 1 | oblivious::ONE_HOT,
        border: 0.0,
        nan_true: true,
    };
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "a one-hot split has a NaN rule")
    );
}

#[test]
fn r35_feature_not_below_n_in() {
    let mut o = oblivious();
    o.splits[2] = ObliviousSplit::OneHot {
        feature: 3,
        value: 7,
    };
    assert_eq!(
        oblivious_write_err(o),
        bad(2, "a split's feature is not below n_in")
    );
}

#[test]
fn r35_nan_border() {
    let mut o = oblivious();
    o.splits[0] = ObliviousSplit::Float {
        feature: 0,
        border: f32::NAN,
        nan_true: false,
    };
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a float split's border is NaN")
    );
}

#[test]
fn r35_too_deep() {
    let mut o = oblivious();
    let depth = oblivious::MAX_DEPTH as usize + 1;
    o.trees = vec![vec![0; depth]];
    o.leaves = vec![0.0; 1 << depth];
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a tree is deeper than MAX_DEPTH")
    );
}

#[test]
fn r35_split_that_does_not_exist() {
    let mut o = oblivious();
    o.trees[1] = vec![3];
    assert_eq!(
        oblivious_write_err(o),
        bad(2, "a tree names a split that does not exist")
    );
}

#[test]
fn r35_scale_or_bias_not_finite() {
    let mut o = oblivious();
    o.scale = f64::INFINITY;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "scale or bias is not finite")
    );
    let mut o = oblivious();
    o.bias = vec![f64::NAN];
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "scale or bias is not finite")
    );
}

#[test]
fn r35_leaf_table_must_follow_from_the_depths() {
    let mut o = oblivious();
    o.leaves.pop();
    assert!(
        matches!(oblivious_write_err(o), FormatError::BadTensorRef { .. }),
        "a leaf table one value short"
    );
}

#[test]
fn r35_depth_zero_trees_have_no_split_indices() {
    let mut o = oblivious();
    o.trees = vec![vec![], vec![]];
    o.leaves = vec![0.5, 0.25];
    let spec = oblivious_model(o);
    let buf = write(&spec).unwrap();
    assert_eq!(
        Apr::parse_verified(&buf).unwrap().to_spec().stages,
        spec.stages
    );
}

#[test]
fn r35_split_table_order() {
    // Two borders of one feature, decreasing.
    let mut o = oblivious();
    o.splits.insert(
        1,
        ObliviousSplit::Float {
            feature: 0,
            border: 0.25,
            nan_true: false,
        },
    );
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "the split table is not in order")
    );
    // A float split after a one-hot split.
    let mut o = oblivious();
    o.splits.swap(1, 2);
    assert_eq!(
        oblivious_write_err(o),
        bad(2, "the split table is not in order")
    );
    // The same border twice (-0 and +0 are one value).
    let mut o = oblivious();
    o.splits[0] = ObliviousSplit::Float {
        feature: 0,
        border: -0.0,
        nan_true: false,
    };
    o.splits.insert(
        1,
        ObliviousSplit::Float {
            feature: 0,
            border: 0.0,
            nan_true: false,
        },
    );
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "the split table is not in order")
    );
}

#[test]
fn r35_categorical_features() {
    let mut o = oblivious();
    o.categorical = vec![3];
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a categorical feature is not below n_in")
    );
    let mut o = oblivious();
    o.categorical = vec![2, 2];
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "the categorical features are not increasing")
    );
    // A one-hot split on a feature not declared categorical.
    let mut o = oblivious();
    o.categorical = vec![];
    assert_eq!(
        oblivious_write_err(o),
        bad(
            2,
            "a one-hot split on a feature not declared categorical, or a float split on one"
        )
    );
    // A float split on a categorical feature.
    let mut o = oblivious();
    o.categorical = vec![0, 2];
    assert_eq!(
        oblivious_write_err(o),
        bad(
            0,
            "a one-hot split on a feature not declared categorical, or a float split on one"
        )
    );
    // A categorical feature no split tests is fine (its values are still categories).
    let mut o = oblivious();
    o.categorical = vec![1, 2];
    o.splits.remove(1);
    o.trees = vec![vec![0, 1], vec![1]];
    let spec = oblivious_model(o);
    assert_eq!(
        Apr::parse_verified(&write(&spec).unwrap())
            .unwrap()
            .to_spec()
            .stages,
        spec.stages
    );
}

#[test]
fn r25_categorical_ensemble_comes_first() {
    let mut spec = oblivious_model(oblivious());
    spec.stages.insert(
        0,
        StageSpec::StandardScalerF64 {
            mean: vec![0.0; 3],
            scale: vec![1.0; 3],
        },
    );
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadPipeline {
            stage: 1,
            reason: "an oblivious stage with categorical features is not the first stage",
        }
    );
    // Without categorical features a preprocessor may come first.
    let mut o = oblivious();
    o.splits.pop();
    o.trees[1] = vec![1];
    o.categorical.clear();
    let mut spec = oblivious_model(o);
    spec.stages.insert(
        0,
        StageSpec::StandardScalerF64 {
            mean: vec![0.0; 3],
            scale: vec![1.0; 3],
        },
    );
    assert!(write(&spec).is_ok());
}
