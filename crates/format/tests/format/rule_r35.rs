//! R35, the node covers of a trees stage (version 1.1): the round trip, the layout they keep,
//! and one case per reason.
#![allow(clippy::unwrap_used)]

use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::trees::LEAF;
use icebreak_format::*;

fn node(feature: u32, t: f64, left: u32, right: u32) -> TreeNode {
    TreeNode {
        feature,
        split: Split::Lt(t),
        missing: MissingRule::Default,
        default_left: true,
        left,
        right,
    }
}

/// One tree of two nodes and three leaves, with covers (nodes, then leaves).
fn trees() -> TreesSpec {
    TreesSpec {
        n_in: 2,
        n_out: 1,
        round_f32: true,
        leaf_width: 1,
        roots: vec![0],
        nodes: vec![node(0, 0.5, 1, LEAF), node(1, 1.5, LEAF | 1, LEAF | 2)],
        leaves: vec![0.25, -0.5, 1.0],
        base: vec![0.0],
        covers: vec![10.0, 6.0, 4.0, 2.5, 3.5],
        ..TreesSpec::default()
    }
}

fn spec(t: TreesSpec) -> ModelSpec {
    ModelSpecBuilder::new(t.n_in)
        .missing(MissingValues::Nan)
        .regression(t.n_out)
        .stage(StageSpec::Trees(t))
        .build()
}

fn bad(index: u32, reason: &'static str) -> FormatError {
    FormatError::BadCovers {
        stage: 0,
        index,
        reason,
    }
}

fn trees_of<'a>(apr: &Apr<'a>) -> Trees<'a> {
    match apr.stages()[0] {
        Stage::Trees(t) => t,
        _ => panic!("not a trees stage"),
    }
}

#[test]
fn covers_round_trip_in_version_1_1() {
    let s = spec(trees());
    let file = write(&s).unwrap();
    assert_eq!(u16::from_le_bytes([file[6], file[7]]), 1, "covers need 1.1");
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.to_spec(), s);
    let t = trees_of(&apr);
    assert!(t.has_covers());
    assert_eq!(t.covers, &[10.0, 6.0, 4.0, 2.5, 3.5]);
}

#[test]
fn a_stage_without_covers_has_none_and_stays_1_0() {
    let s = spec(TreesSpec {
        covers: Vec::new(),
        round_f32: true,
        ..trees()
    });
    let file = write(&s).unwrap();
    assert_eq!(u16::from_le_bytes([file[6], file[7]]), 0);
    let apr = Apr::parse_verified(&file).unwrap();
    assert!(!trees_of(&apr).has_covers());
}

/// `auto` writes large f32 ensembles compact, except those with vector leaves, which take
/// more bytes compact.
#[test]
fn auto_is_compact_for_large_f32_ensembles_of_one_value_per_leaf() {
    let mut t = trees();
    let n = trees::COMPACT_AUTO_MIN_NODES;
    t.nodes = vec![node(0, 0.5, LEAF, LEAF | 1); n];
    assert!(trees::TreeLayout::Auto.wants_compact(&t));
    t.round_f32 = false;
    assert!(
        !trees::TreeLayout::Auto.wants_compact(&t),
        "f64 comparisons"
    );
    t.round_f32 = true;
    t.n_out = 2;
    t.leaf_width = 2;
    assert!(!trees::TreeLayout::Auto.wants_compact(&t), "vector leaves");
    t.nodes.truncate(n - 1);
    t.leaf_width = 1;
    assert!(
        !trees::TreeLayout::Auto.wants_compact(&t),
        "a small ensemble"
    );
}

#[test]
fn the_compact_layout_is_written_without_covers() {
    let mut t = trees();
    t.compact = true;
    assert!(
        !trees::TreeLayout::Auto.wants_compact(&t),
        "a small ensemble"
    );
    let file = write(&spec(t)).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let t = trees_of(&apr);
    assert!(t.is_compact());
    assert!(!t.has_covers());
    // Classic keeps them.
    let mut s = spec(trees());
    trees::TreeLayout::Classic.apply(&mut s);
    let apr_bytes = write(&s).unwrap();
    let apr = Apr::parse_verified(&apr_bytes).unwrap();
    assert_eq!(trees_of(&apr).covers.len(), 5);
}

#[test]
fn asking_for_the_compact_layout_drops_the_covers() {
    let mut s = spec(trees());
    trees::TreeLayout::Compact.apply(&mut s);
    let file = write(&s).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let t = trees_of(&apr);
    assert!(t.is_compact());
    assert!(!t.has_covers());
}

#[test]
fn r35_bad_covers() {
    let mut t = trees();
    t.covers[3] = f64::NAN;
    assert_eq!(
        write(&spec(t)).unwrap_err(),
        bad(3, "cover is not finite and non-negative")
    );
    let mut t = trees();
    t.covers[4] = -1.0;
    assert_eq!(
        write(&spec(t)).unwrap_err(),
        bad(4, "cover is not finite and non-negative")
    );
    let mut t = trees();
    t.covers[1] = 0.0;
    assert_eq!(
        write(&spec(t)).unwrap_err(),
        bad(1, "inner node cover is not positive")
    );
    // A leaf may have seen no data.
    let mut t = trees();
    t.covers[2] = 0.0;
    assert!(write(&spec(t)).is_ok());
}

#[test]
fn r35_covers_of_the_wrong_length_are_refused() {
    let mut t = trees();
    t.covers.pop();
    assert!(matches!(
        write(&spec(t)).unwrap_err(),
        FormatError::BadTensorRef { .. }
    ));
}

/// Finds the STAGE record of the trees stage in the manifest and returns the byte offset of
/// its word `i` (word 0 is the kind).
fn trees_stage_word_offset(file: &[u8], i: usize) -> usize {
    let manifest = u64::from_le_bytes(file[64 + 8..64 + 16].try_into().unwrap()) as usize;
    let word = |k: usize| u32::from_le_bytes(file[manifest + 4 * k..][..4].try_into().unwrap());
    let mut k = 0;
    loop {
        let (tag, len) = (word(k), word(k + 1) as usize);
        if tag == 4 {
            return manifest + 4 * (k + 2 + i);
        }
        k += 2 + len;
    }
}

#[test]
fn r35_a_thirteen_word_record_must_name_a_section() {
    let mut file = write(&spec(trees())).unwrap().to_vec();
    let at = trees_stage_word_offset(&file, 12);
    file[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let buf = AlignedBuf::copy_from(&file);
    let err = Apr::parse(&buf).unwrap_err();
    // The covers tensor is now referenced by no stage, or the record names none: either
    // way the file is refused; the record's own rule comes first.
    assert_eq!(err, bad(0, "a record of 13 words names no covers section"));
}
