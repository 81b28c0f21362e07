//! Oblivious tree ensembles (CatBoost): the row kernel (binarise once, leaf index from bits),
//! the kernel without a bits buffer (after preprocessors), the blocked batch kernel and the
//! plain reference agree bit for bit on arbitrary ensembles and rows, NaN and one-hot
//! values included.

use crate::common::written;
use icebreak_engine::{cat_hash, reference, BatchOutput, Model};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// An ensemble over `n` features with `n_out` outputs, its splits and trees drawn from `p`
/// (a pool of numbers) and `shape` (a pool of small integers).
/// With `cats`, the features [`categorical`] picks are categorical.
fn ensemble(
    n: u32,
    n_out: u32,
    p: &[f64],
    shape: &[u32],
    n_trees: usize,
    cats: bool,
) -> ObliviousSpec {
    let categorical = |f: u32| cats && categorical(f);
    let n_splits = 1 + shape[0] as usize % 12;
    let mut splits = Vec::new();
    for i in 0..n_splits {
        let s = shape[(i + 1) % shape.len()];
        let feature = s % n;
        if categorical(feature) {
            // Categories "0" to "3", given as integers or as text.
            splits.push(ObliviousSplit::OneHot {
                feature,
                value: cat_hash::cat_feature_hash((s % 4).to_string().as_bytes()),
            });
        } else {
            splits.push(ObliviousSplit::Float {
                feature,
                border: p[i % p.len()] as f32,
                nan_true: s % 3 == 0,
            });
        }
    }
    // R36's order: float splits by feature then border, then one-hot splits; no repeats.
    let key = |s: &ObliviousSplit| match *s {
        ObliviousSplit::Float {
            feature, border, ..
        } => (0u8, feature, f64::from(border)),
        ObliviousSplit::OneHot { feature, value } => (1u8, feature, f64::from(value)),
        ObliviousSplit::Ctr { ctr, border } => (2u8, ctr, f64::from(border)),
    };
    splits.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
    splits.dedup_by(|a, b| key(a) == key(b));
    let n_splits = splits.len();
    let mut trees = Vec::new();
    let mut leaves = Vec::new();
    for t in 0..n_trees {
        let depth = shape[(t + 3) % shape.len()] as usize % 7;
        trees.push(
            (0..depth)
                .map(|d| shape[(t * 7 + d) % shape.len()] % n_splits as u32)
                .collect(),
        );
        for k in 0..(n_out as usize) << depth {
            leaves.push(p[(t * 13 + k) % p.len()] * 0.1);
        }
    }
    ObliviousSpec {
        n_in: n,
        n_out,
        splits,
        trees,
        leaves,
        scale: 0.5 + p[0].abs(),
        bias: (0..n_out).map(|k| p[k as usize % p.len()]).collect(),
        categorical: (0..n).filter(|&f| categorical(f)).collect(),
        ctr: None,
    }
}

/// Which features of the generated ensembles are categorical.
fn categorical(feature: u32) -> bool {
    feature % 3 == 2
}

/// A row value at a categorical feature, from any drawn value: an integer category 0 to 4,
/// or the same category given as text.
fn category(v: f64, i: usize) -> f64 {
    let c = if v.is_nan() {
        4
    } else {
        (v.abs() * 10.0) as i64 % 5
    };
    if i % 2 == 0 {
        c as f64
    } else {
        cat_hash::category_value(c.to_string().as_bytes())
    }
}

fn model(o: ObliviousSpec, scaler: bool) -> ModelSpec {
    let n = o.n_in;
    let n_out = o.n_out;
    let mut stages = Vec::new();
    if scaler {
        stages.push(StageSpec::StandardScalerF64 {
            mean: vec![0.25; n as usize],
            scale: vec![2.0; n as usize],
        });
    }
    stages.push(StageSpec::Oblivious(o));
    let (task, k) = if n_out == 1 {
        stages.push(StageSpec::Post(PostTransform::BinaryLogistic));
        (Task::Classification, 2)
    } else {
        stages.push(StageSpec::Post(PostTransform::Softmax));
        (Task::Classification, n_out)
    };
    let mut spec = ModelSpecBuilder::new(n)
        .missing(MissingValues::Nan)
        .task_with_labels(task, k)
        .provenance(icebreak_format::testing::provenance("oblivious"))
        .stages(stages)
        .build();
    spec.output.precision = Precision::F64;
    spec
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -4.0f64..4.0,
        Just(f64::NAN),
        (0u32..4).prop_map(f64::from),
        (-4.0f32..4.0).prop_map(f64::from),
    ]
}

proptest! {
    #[test]
    fn row_batch_and_reference_agree(
        n in 1u32..6,
        n_out in 1u32..4,
        p in vec(-3.0f64..3.0, 1..40),
        shape in vec(0u32..1000, 4..40),
        n_trees in 1usize..20,
        rows in vec(value(), 1..400),
        scaler in any::<bool>(),
    ) {
        // A scaler would change the categories: R25 puts a categorical ensemble first.
        let spec = model(ensemble(n, n_out, &p, &shape, n_trees, !scaler), scaler);
        let buf = written(&spec);
        let apr = Apr::parse_verified(&buf).unwrap();
        let m = Model::new(&apr);
        let nf = n as usize;
        let flat: Vec<f64> = rows[..rows.len() / nf * nf]
            .iter()
            .enumerate()
            .map(|(i, &v)| {
            if !scaler && categorical((i % nf) as u32) {
                category(v, i)
            } else {
                v
            }
        })
            .collect();
        prop_assume!(!flat.is_empty());
        let mut scratch = m.scratch();
        let mut batch = BatchOutput::default();
        m.predict_batch(&flat, &mut batch).unwrap();
        for (i, x) in flat.chunks_exact(nf).enumerate() {
            let out = m.predict_row(x, &mut scratch).unwrap();
            let r = reference::predict_all_f64(apr.stages(), Task::Classification, x);
            prop_assert_eq!(out.scores, &r.scores[..], "row {}", i);
            prop_assert_eq!(out.values, &r.values[..], "row {}", i);
            let sw = batch.score_width;
            prop_assert_eq!(out.scores, &batch.scores[i * sw..(i + 1) * sw], "batch row {}", i);
            let vw = batch.value_width;
            prop_assert_eq!(out.values, &batch.values[i * vw..(i + 1) * vw], "batch row {}", i);
            prop_assert_eq!(out.class, Some(batch.classes[i]));
        }
    }
}

#[test]
fn leaf_index_bits_follow_the_levels() {
    // Tree: level 0 tests x0 > 0, level 1 tests x1 > 0; leaves 0..4 hold 0, 1, 2, 3.
    let o = ObliviousSpec {
        n_in: 2,
        n_out: 1,
        splits: vec![
            ObliviousSplit::Float {
                feature: 0,
                border: 0.0,
                nan_true: false,
            },
            ObliviousSplit::Float {
                feature: 1,
                border: 0.0,
                nan_true: true,
            },
        ],
        trees: vec![vec![0, 1]],
        leaves: vec![0.0, 1.0, 2.0, 3.0],
        scale: 1.0,
        bias: vec![0.0],
        categorical: vec![],
        ctr: None,
    };
    let spec = model(o, false);
    let buf = written(&spec);
    let apr = Apr::parse_verified(&buf).unwrap();
    let m = Model::new(&apr);
    let mut s = m.scratch();
    for (x, want) in [
        ([-1.0, -1.0], 0.0),
        ([1.0, -1.0], 1.0),
        ([-1.0, 1.0], 2.0),
        ([1.0, 1.0], 3.0),
        // NaN: false on feature 0 (Min), true on feature 1 (Max).
        ([f64::NAN, f64::NAN], 2.0),
        // Compared in f32: 1e-50 rounds to 0, which is not > 0.
        ([1e-50, 0.0], 0.0),
    ] {
        assert_eq!(m.predict_row(&x, &mut s).unwrap().scores, &[want], "{x:?}");
    }
}

#[test]
fn categories_as_integers_and_as_text_are_one_category() {
    // Feature 1 is categorical: leaf 1 when it is "red", else leaf 0.
    let red = cat_hash::cat_feature_hash(b"red");
    let seven = cat_hash::cat_feature_hash(b"7");
    let o = ObliviousSpec {
        n_in: 2,
        n_out: 1,
        splits: vec![
            ObliviousSplit::Float {
                feature: 0,
                border: 0.0,
                nan_true: false,
            },
            ObliviousSplit::OneHot {
                feature: 1,
                value: red.min(seven),
            },
            ObliviousSplit::OneHot {
                feature: 1,
                value: red.max(seven),
            },
        ],
        trees: vec![
            vec![if red < seven { 1 } else { 2 }],
            vec![if red < seven { 2 } else { 1 }],
        ],
        leaves: vec![0.0, 1.0, 0.0, 10.0],
        scale: 1.0,
        bias: vec![0.0],
        categorical: vec![1],
        ctr: None,
    };
    let spec = model(o, false);
    let buf = written(&spec);
    let apr = Apr::parse_verified(&buf).unwrap();
    let m = Model::new(&apr);
    let mut s = m.scratch();
    let red_v = cat_hash::category_value(b"red");
    assert_eq!(m.predict_row(&[0.0, red_v], &mut s).unwrap().scores, &[1.0]);
    assert_eq!(m.predict_row(&[0.0, 7.0], &mut s).unwrap().scores, &[10.0]);
    assert_eq!(
        m.predict_row(&[0.0, cat_hash::category_value(b"7")], &mut s)
            .unwrap()
            .scores,
        &[10.0]
    );
    assert_eq!(m.predict_row(&[0.0, 8.0], &mut s).unwrap().scores, &[0.0]);
    // A category given as text where the model takes a number.
    assert_eq!(
        m.predict_row(&[cat_hash::category_value(b"red"), red_v], &mut s)
            .unwrap_err(),
        icebreak_engine::EngineError::Text { index: 0 }
    );
    for bad in [f64::NAN, 0.5, f64::INFINITY] {
        assert_eq!(
            m.predict_row(&[0.0, bad], &mut s).unwrap_err(),
            icebreak_engine::EngineError::Category { index: 1 },
            "{bad}"
        );
    }
}

/// CatBoost's hash of a projection, written out independently of the kernel: from 0, each
/// category's 32-bit hash, as a signed `int` widened to 64 bits, folded in with
/// `M · (h + M · v)`.
fn projection_hash(cats: &[&[u8]]) -> u64 {
    const M: u64 = 0x4906_ba49_4954_cb65;
    cats.iter().fold(0u64, |h, c| {
        let v = cat_hash::cat_feature_hash(c) as i32 as i64 as u64;
        M.wrapping_mul(h.wrapping_add(M.wrapping_mul(v)))
    })
}

#[test]
fn ctr_of_a_combination_counts_its_table() {
    use icebreak_format::oblivious::{CtrDefSpec, CtrSpec, CtrTableSpec, CTR, CTR_BORDERS};
    // Features 1 and 2 categorical; one Borders CTR of their combination, prior 0.5 / 1:
    // (red, big) counts 1 and 3, good 3 of 4: (3 + 0.5) / (4 + 1) = 0.7; (blue, big) 0.3;
    // anything else 0.5. The tree: leaf 1 when the CTR is above 0.5, plus 10 when x0 > 0.
    let mut entries = vec![
        (projection_hash(&[b"red", b"big"]), vec![1, 3]),
        (projection_hash(&[b"blue", b"big"]), vec![3, 1]),
    ];
    entries.sort_by_key(|e| e.0);
    let o = ObliviousSpec {
        n_in: 3,
        n_out: 1,
        splits: vec![
            ObliviousSplit::Float {
                feature: 0,
                border: 0.0,
                nan_true: false,
            },
            ObliviousSplit::Ctr {
                ctr: 0,
                border: 0.5,
            },
        ],
        trees: vec![vec![1], vec![0]],
        leaves: vec![0.0, 1.0, 0.0, 10.0],
        scale: 1.0,
        bias: vec![0.0],
        categorical: vec![1, 2],
        ctr: Some(CtrSpec {
            tables: vec![CtrTableSpec {
                elements: vec![[1 | CTR, 0], [2 | CTR, 0]],
                width: 2,
                entries,
            }],
            defs: vec![CtrDefSpec {
                table: 0,
                kind: CTR_BORDERS,
                target_border: 0,
                prior_num: 0.5,
                prior_denom: 1.0,
                shift: 0.0,
                scale: 1.0,
            }],
        }),
    };
    let spec = model(o, false);
    let buf = written(&spec);
    let apr = Apr::parse_verified(&buf).unwrap();
    let m = Model::new(&apr);
    let Stage::Oblivious(view) = apr.stages()[0] else {
        panic!("oblivious")
    };
    let c = |t: &[u8]| cat_hash::category_value(t);
    let rows: Vec<(Vec<f64>, f32, f64)> = vec![
        (vec![-1.0, c(b"red"), c(b"big")], 0.7, 1.0),
        (vec![1.0, c(b"red"), c(b"big")], 0.7, 11.0),
        (vec![-1.0, c(b"blue"), c(b"big")], 0.3, 0.0),
        // The order of the projection matters: (big, red) is another hash.
        (vec![-1.0, c(b"big"), c(b"red")], 0.5, 0.0),
        (vec![-1.0, c(b"red"), c(b"small")], 0.5, 0.0),
    ];
    let mut s = m.scratch();
    let mut flat = Vec::new();
    for (x, ctr, want) in &rows {
        let v = icebreak_engine::oblivious::ctr_value(&view.ctrs, 0, x);
        assert_eq!(v.to_bits(), ctr.to_bits(), "{x:?}: {v}");
        let out = m.predict_row(x, &mut s).unwrap();
        assert_eq!(out.scores, &[*want], "{x:?}");
        let r = reference::predict_all_f64(apr.stages(), Task::Classification, x);
        assert_eq!(out.scores, &r.scores[..]);
        flat.extend_from_slice(x);
    }
    let mut batch = BatchOutput::default();
    m.predict_batch(&flat, &mut batch).unwrap();
    let want: Vec<f64> = rows.iter().map(|r| r.2).collect();
    assert_eq!(batch.scores, want);
}
