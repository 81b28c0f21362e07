//! R29, the trees stage's consistency rule: one case per reason. The writer reads back what it
//! wrote, so a spec that breaks the rule is refused with the reader's exact error; patching
//! the undefined-code case into the bytes shows the reader refuses it on its own too.
#![allow(clippy::unwrap_used)]

use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::trees::{LEAF, NODE_WORDS};
use icebreak_format::*;

fn node(feature: u32, t: f64, left: u32, right: u32) -> TreeNode {
    TreeNode {
        feature,
        split: Split::Le(t),
        missing: MissingRule::Default,
        default_left: true,
        left,
        right,
    }
}

/// Two trees over 2 features, 2 outputs, one value per leaf and a target per tree.
fn trees() -> TreesSpec {
    TreesSpec {
        n_in: 2,
        n_out: 2,
        leaf_width: 1,
        roots: vec![0, 2],
        nodes: vec![
            node(0, 0.5, 1, LEAF),
            node(1, 1.5, LEAF | 1, LEAF | 2),
            node(1, -1.0, LEAF | 3, LEAF | 4),
        ],
        leaves: vec![0.1, 0.2, 0.3, 0.4, 0.5],
        targets: vec![0, 1],
        base: vec![0.0, 1.0],
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

fn refused(t: TreesSpec) -> FormatError {
    write(&spec(t)).expect_err("the writer must refuse what the reader refuses")
}

fn bad(index: u32, reason: &'static str) -> FormatError {
    FormatError::BadTrees {
        stage: 0,
        index,
        reason,
    }
}

#[test]
fn the_base_ensemble_is_valid_and_round_trips() {
    let s = spec(trees());
    let file = write(&s).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.to_spec(), s);
    let Stage::Trees(t) = apr.stages()[0] else {
        panic!("not a trees stage")
    };
    assert_eq!((t.n_trees(), t.nodes.len(), t.leaves.len()), (2, 3, 5));
}

#[test]
fn r29_bad_trees() {
    let mut t = trees();
    t.leaf_width = 3;
    t.leaves = vec![0.0; 15];
    assert_eq!(refused(t), bad(0, "leaf_width is neither 1 nor n_out"));

    let mut t = trees();
    t.targets.clear();
    assert!(matches!(
        refused(t),
        FormatError::BadTensorRef {
            stage: 0,
            reason: "no such section",
            ..
        }
    ));

    let mut t = trees();
    t.targets = vec![0, 2];
    assert_eq!(refused(t), bad(1, "tree target is not an output"));

    let mut t = trees();
    t.roots = vec![0, 3];
    assert_eq!(refused(t), bad(1, "root reference out of range"));
    let mut t = trees();
    t.roots = vec![0, LEAF | 5];
    assert_eq!(refused(t), bad(1, "root reference out of range"));

    // A child pointing back at its parent (a cycle), at itself, or past the table.
    for (left, right) in [(0, LEAF), (1, LEAF | 1), (LEAF | 1, 3), (LEAF | 9, LEAF)] {
        let mut t = trees();
        t.nodes[1].left = left;
        t.nodes[1].right = right;
        assert_eq!(
            refused(t),
            bad(1, "child reference out of range or not after its parent"),
            "left {left:#x} right {right:#x}"
        );
    }

    let mut t = trees();
    t.nodes[2].feature = 2;
    assert_eq!(refused(t), bad(2, "feature index outside the input"));

    let mut t = trees();
    t.nodes[0].split = Split::Lt(f64::NAN);
    assert_eq!(refused(t), bad(0, "threshold is NaN"));

    let mut t = trees();
    t.categories = vec![0b101];
    t.nodes[0].split = Split::InSet {
        offset: 0,
        words: 2,
    };
    assert_eq!(
        refused(t),
        bad(0, "category set outside the category table")
    );
    let mut t = trees();
    t.categories = vec![0b101];
    t.nodes[0].split = Split::InSet {
        offset: 0,
        words: 0,
    };
    assert_eq!(
        refused(t),
        bad(0, "category set outside the category table")
    );

    let mut t = trees();
    t.leaves[3] = f64::INFINITY;
    assert_eq!(refused(t), bad(3, "leaf value is not finite"));
    let mut t = trees();
    t.base[1] = f64::NAN;
    assert_eq!(refused(t), bad(1, "base value is not finite"));

    let mut t = trees();
    t.leaf_width = 2;
    t.targets.clear();
    t.leaves = vec![0.5; 9];
    assert_eq!(
        refused(t),
        bad(0, "leaf table is not a whole, non-zero number of leaves")
    );
}

#[test]
fn r29_undefined_node_code_in_the_bytes() {
    let mut v = write_to_vec(&spec(trees())).unwrap();
    // Find the node table: the u32 section whose first row is node 0 as encoded.
    let row0: Vec<u8> = trees().nodes[0]
        .encode()
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let at = v
        .windows(row0.len())
        .position(|w| w == row0.as_slice())
        .unwrap();
    // info is word 3 of the row: set an undefined test code (7), then a stray high bit.
    for info in [7u32, 1 | (1 << 6)] {
        let mut patched = v.clone();
        patched[at + 12..at + 16].copy_from_slice(&info.to_le_bytes());
        let crc = checksum(&patched);
        patched[12..16].copy_from_slice(&crc.to_le_bytes());
        let buf = AlignedBuf::copy_from(&patched);
        assert_eq!(
            Apr::parse_verified(&buf).unwrap_err(),
            bad(0, "undefined node code")
        );
    }
    assert_eq!(NODE_WORDS, 6);
    v.clear();
}

/// Version 1.1's trees flags: `sum_f32` needs f32 leaves and base values and no averaging;
/// `average_per_output` needs averaging, targets `i mod n_out` and whole iterations.
#[test]
fn r29_the_flags_of_version_1_1() {
    let f32_trees = || {
        let mut t = trees();
        t.sum_f32 = true;
        t.leaves = vec![0.5, 0.25, -1.5, 2.0, 0.125];
        t
    };
    let file = write(&spec(f32_trees())).unwrap();
    assert_eq!(
        u16::from_le_bytes([file[6], file[7]]),
        1,
        "sum_f32 is written as 1.1"
    );
    assert_eq!(
        Apr::parse_verified(&file).unwrap().to_spec(),
        spec(f32_trees())
    );

    let mut t = f32_trees();
    t.leaves[2] = 0.1;
    assert_eq!(refused(t), bad(2, "leaf value of an f32 sum is not an f32"));
    let mut t = f32_trees();
    t.base[1] = 1.0 + f64::EPSILON;
    assert_eq!(refused(t), bad(1, "base value of an f32 sum is not an f32"));
    let mut t = f32_trees();
    t.average = true;
    assert_eq!(refused(t), bad(0, "an f32 sum cannot be averaged"));

    let per_output = || {
        let mut t = trees();
        t.average = true;
        t.average_per_output = true;
        t
    };
    let file = write(&spec(per_output())).unwrap();
    assert_eq!(
        Apr::parse_verified(&file).unwrap().to_spec(),
        spec(per_output())
    );
    let mut t = per_output();
    t.average = false;
    assert_eq!(
        refused(t),
        bad(
            0,
            "averaging per output needs averaging and per-tree targets"
        )
    );
    let mut t = per_output();
    t.targets = vec![1, 0];
    assert_eq!(
        refused(t),
        bad(0, "averaging per output needs tree i on output i mod n_out")
    );
    let mut t = per_output();
    t.roots = vec![0, 2, LEAF];
    t.targets = vec![0, 1, 0];
    assert_eq!(
        refused(t),
        bad(0, "averaging per output needs n_trees a multiple of n_out")
    );
}

/// A 1.1 file relabelled 1.0 is refused: 1.0 has no precision word and no such flags.
#[test]
fn a_1_1_file_is_not_a_1_0_file() {
    let mut t = trees();
    t.sum_f32 = true;
    t.leaves = vec![0.5, 0.25, -1.5, 2.0, 0.125];
    let mut file = write(&spec(t)).unwrap().to_vec();
    file[6] = 0;
    let buf = ModelBytes::new(&file);
    assert!(Apr::parse(buf.as_slice()).is_err());
}

/// The base ensemble in the compact layout, and the byte offset of its row table.
fn compact_file() -> (AlignedBuf, usize) {
    let file = write(&spec(TreesSpec {
        compact: true,
        ..trees()
    }))
    .unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let Stage::Trees(t) = apr.stages()[0] else {
        panic!("not a trees stage")
    };
    let at = t.compact.as_ptr() as usize - file.as_ptr() as usize;
    (file, at)
}

/// Writes `word` at word `i` of the row table and stores the new checksum, so that only R29
/// can notice.
fn patched(mut file: AlignedBuf, at: usize, i: usize, word: u32) -> AlignedBuf {
    let b = file.as_mut_slice();
    b[at + 4 * i..at + 4 * i + 4].copy_from_slice(&word.to_le_bytes());
    b[12..16].fill(0);
    let sum = checksum(b);
    b[12..16].copy_from_slice(&sum.to_le_bytes());
    file
}

#[test]
fn the_compact_layout_is_each_tree_in_preorder_and_round_trips() {
    let (file, _) = compact_file();
    let apr = Apr::parse_verified(&file).unwrap();
    let Stage::Trees(t) = apr.stages()[0] else {
        panic!("not a trees stage")
    };
    // Tree 0: node 0, node 1, its two leaves, node 0's right leaf; tree 1: node 2, two leaves.
    assert!(t.is_compact() && t.nodes.is_empty() && t.leaves.is_empty());
    assert_eq!(t.roots, [0, 5]);
    let words: Vec<[u32; 2]> = t.compact.iter().map(|r| [r[0], r[1]]).collect();
    let leaf = trees::compact::LEAF_ROW;
    let info = 1 << 24 | 0x8 << 24; // x <= t, default left
    assert_eq!(
        words,
        [
            [info, 4],
            [info | 1, 3],
            [leaf, 0],
            [leaf, 0],
            [leaf, 0],
            [info | 1, 7],
            [leaf, 0],
            [leaf, 0]
        ]
    );
    assert_eq!(apr.to_spec().stages.len(), 1);
    assert_eq!(write(&apr.to_spec()).unwrap().as_slice(), file.as_slice());
    // A 1.0 reader's view: the compact flag is a 1.1 feature.
    assert_eq!(u16::from_le_bytes([file[6], file[7]]), 1);
}

#[test]
fn r29_compact_rows() {
    let (file, at) = compact_file();
    let cases: [(usize, u32, u32, &str); 8] = [
        // Node 0's right child moved to the middle of its left subtree, or to itself.
        (1, 3, 4, "right child is not the row after the left subtree"),
        (1, 0, 4, "right child is not the row after the left subtree"),
        (0, 2 | 1 << 24, 0, "feature index outside the input"),
        (0, 1 << 23 | 1 << 24, 0, "undefined node code"),
        (0, 7 << 24, 0, "undefined node code"),
        (
            8,
            trees::compact::LEAF_ROW | 1,
            2,
            "leaf row with stray bits",
        ),
        (4 * 6 + 3, 0x7FF8_0000, 6, "leaf value is not finite"),
        // An f32 threshold where the trees compare in f64.
        (
            4,
            trees::compact::NARROW | 1 | 9 << 24,
            1,
            "f32 threshold in an ensemble that compares in f64",
        ),
    ];
    for (word, value, index, reason) in cases {
        let broken = patched(file.clone(), at, word, value);
        assert_eq!(
            Apr::parse_verified(&broken).unwrap_err(),
            bad(index, reason),
            "word {word} = {value:#x}"
        );
    }
    // The last leaf turned into a node: the table ends inside the tree.
    let broken = patched(file.clone(), at, 4 * 7, 1 | 9 << 24);
    assert_eq!(
        Apr::parse_verified(&broken).unwrap_err(),
        bad(8, "tree runs past the node table")
    );
}

/// Leaves shared between children (a converter may reuse a leaf value) still lay out
/// compactly: each reference gets its own row.
#[test]
fn shared_leaves_are_laid_out_compactly() {
    let t = TreesSpec {
        n_in: 2,
        n_out: 1,
        leaf_width: 1,
        roots: vec![0, 1],
        nodes: vec![node(0, 0.5, LEAF, LEAF), node(1, 1.5, LEAF, LEAF)],
        leaves: vec![0.25],
        base: vec![0.0],
        compact: true,
        ..TreesSpec::default()
    };
    let file = write(&spec(t)).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let Stage::Trees(t) = apr.stages()[0] else {
        panic!("not a trees stage")
    };
    assert!(t.is_compact());
    assert_eq!(t.compact.len(), 6);
}
