//! R37: the CTR section of an oblivious stage (record word 11), each reason with its test.

use crate::common::*;
use icebreak_format::oblivious::{
    CtrDefSpec, CtrSpec, CtrTableSpec, CTR, CTR_BORDERS, CTR_COUNTER,
};
use icebreak_format::*;

/// Three features (the third categorical), a float split and two CTR splits on CTR 0 (the
/// third feature's `Borders` CTR), one tree of depth 2 and one of depth 1.
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
            ObliviousSplit::Ctr {
                ctr: 0,
                border: 3.5,
            },
            ObliviousSplit::Ctr {
                ctr: 0,
                border: 7.5,
            },
        ],
        trees: vec![vec![0, 1], vec![2]],
        leaves: vec![0.1, 0.2, 0.3, 0.4, -1.0, 1.0],
        scale: 1.0,
        bias: vec![0.25],
        categorical: vec![2],
        ctr: Some(CtrSpec {
            tables: vec![CtrTableSpec {
                elements: vec![[2 | CTR, 0]],
                width: 2,
                entries: vec![
                    (5, vec![3, 4]),
                    (1 << 40, vec![0, 9]),
                    (u64::MAX - 1, vec![7, 0]),
                ],
            }],
            defs: vec![CtrDefSpec {
                table: 0,
                kind: CTR_BORDERS,
                target_border: 0,
                prior_num: 0.5,
                prior_denom: 1.0,
                shift: 0.0,
                scale: 15.0,
            }],
        }),
    }
}

fn bad(index: u32, reason: &'static str) -> FormatError {
    FormatError::BadCtr {
        stage: 0,
        index,
        reason,
    }
}

fn ctr(o: &mut ObliviousSpec) -> &mut CtrSpec {
    o.ctr.as_mut().unwrap()
}

#[test]
fn ctr_section_round_trips() {
    let spec = oblivious_model(oblivious());
    let buf = write(&spec).unwrap();
    let apr = Apr::parse_verified(&buf).unwrap();
    assert_eq!(apr.to_spec().stages, spec.stages);
    let Stage::Oblivious(o) = apr.stages()[0] else {
        panic!("not oblivious")
    };
    assert_eq!(o.ctrs.len(), 1);
    assert_eq!(o.ctrs.hash(1), 1 << 40);
    assert_eq!(
        o.split(1),
        Some(ObliviousSplit::Ctr {
            ctr: 0,
            border: 3.5
        })
    );
}

#[test]
fn r37_split_names_a_missing_ctr() {
    let mut o = oblivious();
    o.splits[2] = ObliviousSplit::Ctr {
        ctr: 1,
        border: 7.5,
    };
    assert_eq!(
        oblivious_write_err(o),
        bad(2, "a CTR split names a CTR that does not exist")
    );
}

#[test]
fn r37_ctr_split_without_a_section() {
    let mut o = oblivious();
    o.ctr = None;
    assert_eq!(
        oblivious_write_err(o),
        bad(1, "a CTR split names a CTR that does not exist")
    );
}

#[test]
fn r37_nan_border() {
    let mut o = oblivious();
    o.splits[1] = ObliviousSplit::Ctr {
        ctr: 0,
        border: f32::NAN,
    };
    assert_eq!(
        oblivious_write_err(o),
        FormatError::BadOblivious {
            stage: 0,
            index: 1,
            reason: "a CTR split's border is NaN"
        }
    );
}

#[test]
fn r37_hashes_not_increasing() {
    let mut o = oblivious();
    ctr(&mut o).tables[0].entries.swap(0, 1);
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR table's hashes are not strictly increasing")
    );
}

#[test]
fn r37_reserved_empty_hash() {
    let mut o = oblivious();
    ctr(&mut o).tables[0].entries[2].0 = u64::MAX;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR table holds the reserved empty hash")
    );
}

#[test]
fn r37_counts_do_not_follow_the_width() {
    let mut o = oblivious();
    ctr(&mut o).tables[0].entries[1].1.push(1);
    assert_eq!(
        oblivious_write_err(o),
        bad(
            0,
            "the CTR counts are not the tables' entries times their widths"
        )
    );
}

#[test]
fn r37_width_zero() {
    let mut o = oblivious();
    let t = &mut ctr(&mut o).tables[0];
    t.width = 0;
    for e in &mut t.entries {
        e.1.clear();
    }
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR table's width is 0 or above the limit of classes")
    );
}

#[test]
fn r37_element_on_a_float_feature() {
    let mut o = oblivious();
    ctr(&mut o).tables[0].elements[0] = [CTR, 0];
    assert_eq!(
        oblivious_write_err(o),
        bad(
            0,
            "a CTR projection element is malformed or tests a feature of the wrong kind"
        )
    );
}

#[test]
fn r37_element_not_below_n_in() {
    let mut o = oblivious();
    ctr(&mut o).tables[0].elements[0] = [3 | CTR, 0];
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR projection element's feature is not below n_in")
    );
}

#[test]
fn r37_unknown_type() {
    let mut o = oblivious();
    ctr(&mut o).defs[0].kind = 2;
    assert_eq!(oblivious_write_err(o), bad(0, "a CTR has an unknown type"));
}

/// The section with its one CTR turned into a `Counter` CTR of a width-1 table.
fn counter(o: &mut ObliviousSpec, denominator: u32) {
    let c = ctr(o);
    c.tables[0].width = 1;
    for e in &mut c.tables[0].entries {
        e.1.truncate(1);
    }
    c.defs[0].kind = CTR_COUNTER;
    c.defs[0].target_border = denominator;
}

#[test]
fn r37_counter_round_trips() {
    let mut o = oblivious();
    counter(&mut o, 9);
    let spec = oblivious_model(o);
    let buf = write(&spec).expect("a Counter CTR of a width-1 table is valid");
    let apr = Apr::parse_verified(&buf).unwrap();
    assert_eq!(apr.to_spec().stages, spec.stages);
}

#[test]
fn r37_counter_table_wider_than_one() {
    let mut o = oblivious();
    ctr(&mut o).defs[0].kind = CTR_COUNTER;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a Counter CTR's table does not have width 1")
    );
}

#[test]
fn r37_counter_denominator_above_i32() {
    let mut o = oblivious();
    counter(&mut o, 1 << 31);
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a Counter CTR's denominator is above i32::MAX")
    );
}

#[test]
fn r37_target_border_outside_the_table() {
    let mut o = oblivious();
    ctr(&mut o).defs[0].target_border = 2;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR's target border is not below its table's width")
    );
}

#[test]
fn r37_table_that_does_not_exist() {
    let mut o = oblivious();
    ctr(&mut o).defs[0].table = 1;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR names a table that does not exist")
    );
}

#[test]
fn r37_prior_not_finite() {
    let mut o = oblivious();
    ctr(&mut o).defs[0].prior_denom = f32::INFINITY;
    assert_eq!(
        oblivious_write_err(o),
        bad(0, "a CTR's prior, shift or scale is not finite")
    );
}

#[test]
fn r37_counts_past_the_section() {
    // A second table whose entries hold one count too few leaves the counts short.
    let mut o = oblivious();
    let c = ctr(&mut o);
    let mut t = c.tables[0].clone();
    t.entries.truncate(1);
    c.tables.push(t);
    c.tables[1].entries[0].1.pop();
    assert_eq!(
        oblivious_write_err(o),
        bad(
            0,
            "the CTR counts are not the tables' entries times their widths"
        )
    );
}

#[test]
fn r37_ctr_splits_after_one_hot_splits() {
    // A CTR split before a float split breaks R36's order.
    let mut o = oblivious();
    o.splits.swap(0, 1);
    o.trees = vec![vec![1, 0], vec![2]];
    assert_eq!(
        oblivious_write_err(o),
        FormatError::BadOblivious {
            stage: 0,
            index: 1,
            reason: "the split table is not in order"
        }
    );
}
