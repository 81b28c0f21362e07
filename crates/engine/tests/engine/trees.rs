//! Tree ensembles: the fast walks against the decoded reference, the batch path against the
//! row path, and the documented semantics on hand-built trees.
#![allow(clippy::unwrap_used)]

use crate::common::written;
use icebreak_engine::{reference, trees::trees_ref, BatchOutput, EngineError, Model};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::trees::LEAF;
use icebreak_format::*;
use proptest::prelude::*;

/// A small deterministic generator, so one proptest seed describes a whole ensemble.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Thresholds and feature values come from one small pool, so rows hit thresholds exactly.
const POOL: [f64; 9] = [-2.5, -1.0, 0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 1e-36];

fn random_split(rng: &mut Rng, cat_words: u32) -> Split {
    let t = POOL[rng.below(POOL.len() as u64) as usize];
    match rng.below(7) {
        0 => Split::Lt(t),
        1 => Split::Le(t),
        2 => Split::Gt(t),
        3 => Split::Ge(t),
        4 => Split::Eq(t),
        5 => Split::Ne(t),
        _ => {
            let words = 1 + rng.below(u64::from(cat_words)) as u32;
            Split::InSet {
                offset: rng.below(u64::from(cat_words - words + 1)) as u32,
                words,
            }
        }
    }
}

/// Builds one tree breadth-first: a node's children always come after it.
fn random_tree(rng: &mut Rng, spec: &mut TreesSpec, n_leaves: &mut u32, cat_words: u32) -> u32 {
    let depth = rng.below(5) as u32;
    if depth == 0 {
        *n_leaves += 1;
        return LEAF | (*n_leaves - 1);
    }
    let root = spec.nodes.len() as u32;
    // (node index, depth) queue; children are filled in when their parent is expanded.
    let mut queue = vec![(root, 1u32)];
    spec.nodes.push(placeholder());
    let mut i = 0;
    while i < queue.len() {
        let (ix, d) = queue[i];
        i += 1;
        let mut child = |spec: &mut TreesSpec, rng: &mut Rng| -> u32 {
            if d >= depth || rng.below(4) == 0 {
                *n_leaves += 1;
                LEAF | (*n_leaves - 1)
            } else {
                let c = spec.nodes.len() as u32;
                spec.nodes.push(placeholder());
                queue.push((c, d + 1));
                c
            }
        };
        let left = child(spec, rng);
        let right = child(spec, rng);
        let missing = match rng.below(3) {
            0 => MissingRule::Default,
            1 => MissingRule::AsZero,
            _ => MissingRule::ZeroOrNan,
        };
        spec.nodes[ix as usize] = TreeNode {
            feature: rng.below(u64::from(spec.n_in)) as u32,
            split: random_split(rng, cat_words),
            missing,
            default_left: rng.below(2) == 0,
            left,
            right,
        };
    }
    root
}

fn placeholder() -> TreeNode {
    TreeNode {
        feature: 0,
        split: Split::Le(0.0),
        missing: MissingRule::Default,
        default_left: false,
        left: LEAF,
        right: LEAF,
    }
}

fn random_ensemble(seed: u64, n_in: u32, n_out: u32) -> TreesSpec {
    let mut rng = Rng(seed | 1);
    let leaf_width = if rng.below(2) == 0 { 1 } else { n_out };
    let cat_words = 2;
    let average = rng.below(2) == 0;
    let mut spec = TreesSpec {
        n_in,
        n_out,
        average,
        round_f32: rng.below(2) == 0,
        // XGBoost's f32 accumulation (never averaged).
        sum_f32: !average && rng.below(2) == 0,
        average_per_output: false,
        leaf_width,
        categories: (0..cat_words).map(|_| rng.next() as u32).collect(),
        // Half the ensembles in the compact layout, half in the classic one.
        compact: seed % 2 == 0,
        ..TreesSpec::default()
    };
    let n_trees = 1 + rng.below(8);
    let mut n_leaves = 0;
    for _ in 0..n_trees {
        let root = random_tree(&mut rng, &mut spec, &mut n_leaves, cat_words);
        spec.roots.push(root);
        if leaf_width == 1 && n_out > 1 {
            spec.targets.push(rng.below(u64::from(n_out)) as u32);
        }
    }
    let sum_f32 = spec.sum_f32;
    spec.leaves = (0..n_leaves * leaf_width)
        .map(|_| {
            if sum_f32 {
                // f32 leaves whose f32 sums round.
                f64::from(((rng.below(2_000_001) as f64 - 1e6) / 7e3) as f32)
            } else {
                (rng.below(2001) as f64 - 1000.0) / 64.0
            }
        })
        .collect();
    spec.base = (0..n_out).map(|j| j as f64 * 0.25 - 0.5).collect();
    spec
}

fn model_spec(trees: TreesSpec, post: Option<PostTransform>, task: Task) -> ModelSpec {
    let n_out = trees.n_out;
    let (n_outputs, labels) = match (task, post) {
        (Task::Regression, _) => (n_out, LabelsSpec::None),
        (Task::Classification, Some(PostTransform::BinaryLogistic)) => {
            (2, LabelsSpec::Int(vec![0, 1]))
        }
        (Task::Classification, _) => (n_out, LabelsSpec::Int((0..n_out as i64).collect())),
        (_, _) => (n_out, LabelsSpec::None),
    };
    ModelSpecBuilder::new(trees.n_in)
        .missing(MissingValues::Nan)
        .task(task, n_outputs)
        .labels(labels)
        .version("t")
        .stage(StageSpec::Trees(trees))
        .stages(post.map(StageSpec::Post))
        .build()
}

/// The next f32 above `x` (finite `x`).
fn next_up(x: f32) -> f32 {
    if x == 0.0 {
        f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() + 1)
    } else {
        f32::from_bits(x.to_bits() - 1)
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => prop::sample::select(POOL.to_vec()),
        1 => Just(f64::NAN),
        1 => Just(-0.0),
        1 => (0u32..80).prop_map(f64::from),
        1 => -1e6f64..1e6,
        // One f32 step either side of a threshold, and values that round onto it in f32.
        1 => prop::sample::select(POOL.to_vec()).prop_map(|t| f64::from(next_up(t as f32))),
        1 => prop::sample::select(POOL.to_vec()).prop_map(|t| t + t.abs() * 1e-12),
    ]
}

fn case() -> impl Strategy<Value = (TreesSpec, Vec<Vec<f64>>)> {
    (any::<u64>(), 1u32..6, 1u32..4).prop_flat_map(|(seed, n_in, n_out)| {
        let spec = random_ensemble(seed, n_in, n_out);
        let rows = prop::collection::vec(prop::collection::vec(value(), n_in as usize), 1..40);
        (Just(spec), rows)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The same ensemble written in the compact layout and in the classic one: the compact
    /// file's rows are 16 bytes, every tree contiguous, and both answer alike, bit for bit,
    /// row by row and in batches.
    #[test]
    fn compact_and_classic_layouts_answer_alike((trees, rows) in case()) {
        let files: Vec<AlignedBuf> = [false, true]
            .iter()
            .map(|&compact| {
                let t = TreesSpec { compact, ..trees.clone() };
                write(&model_spec(t, None, Task::Regression)).unwrap()
            })
            .collect();
        let aprs: Vec<Apr> = files.iter().map(|f| Apr::parse_verified(f).unwrap()).collect();
        let (Stage::Trees(classic), Stage::Trees(compact)) = (aprs[0].stages()[0], aprs[1].stages()[0]) else {
            unreachable!()
        };
        prop_assert!(!classic.is_compact() && compact.is_compact());
        prop_assert!(compact.nodes.is_empty());
        // One row per node and per leaf reached.
        // A row per node, and one per leaf its parent does not hold.
        let leaf_rows = compact.compact.iter().filter(|r| r[0] == trees::compact::LEAF_ROW).count();
        let held: usize = compact
            .compact
            .iter()
            .map(|r| {
                let (l, r) = trees::inline_leaves(r);
                usize::from(l.is_some()) + usize::from(r.is_some())
            })
            .sum();
        prop_assert_eq!(compact.compact.len() - leaf_rows, trees.nodes.len());
        prop_assert_eq!(leaf_rows + held, trees.nodes.len() + trees.roots.len());
        // Held leaves only where comparisons are in f32.
        prop_assert!(held == 0 || trees.round_f32);
        prop_assert_eq!(classic.info_mask, compact.info_mask);
        // Read back and written again, the compact file is the same file.
        let again = write(&aprs[1].to_spec()).unwrap();
        prop_assert_eq!(again.as_slice(), files[1].as_slice());
        let models: Vec<Model> = aprs.iter().map(Model::new).collect();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut outs = [BatchOutput::default(), BatchOutput::default()];
        for (m, out) in models.iter().zip(&mut outs) {
            m.predict_batch(&flat, out).unwrap();
        }
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&outs[0].scores), bits(&outs[1].scores));
        let (mut s0, mut s1) = (models[0].scratch(), models[1].scratch());
        for x in &rows {
            let a = models[0].predict_row(x, &mut s0).unwrap().scores.to_vec();
            let b = models[1].predict_row(x, &mut s1).unwrap().scores.to_vec();
            prop_assert_eq!(bits(&a), bits(&b));
        }
    }

    #[test]
    fn row_and_batch_walks_equal_the_reference((trees, rows) in case()) {
        let spec = model_spec(trees, None, Task::Regression);
        let file = write(&spec).unwrap();
        let apr = Apr::parse(&file).unwrap();
        let Stage::Trees(t) = apr.stages()[0] else { unreachable!() };
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut out = BatchOutput::default();
        model.predict_batch(&flat, &mut out).unwrap();
        let w = t.n_out as usize;
        for (r, x) in rows.iter().enumerate() {
            let want: Vec<f64> = trees_ref(&t, x).iter().map(|&v| f64::from(v as f32)).collect();
            let got = model.predict_row(x, &mut scratch).unwrap();
            prop_assert_eq!(got.scores, &want[..], "row {}: {:?}", r, x);
            prop_assert_eq!(&out.scores[r * w..(r + 1) * w], &want[..], "batch row {}", r);
            let via_pipeline = reference::predict(apr.stages(), Task::Regression, x);
            let pipeline: Vec<f64> =
                via_pipeline.values.iter().map(|&v| f64::from(v as f32)).collect();
            prop_assert_eq!(got.values, &pipeline[..]);
        }
    }

    #[test]
    fn classifiers_on_trees_agree_with_the_reference(
        (trees, rows) in case(),
        softmax in any::<bool>(),
    ) {
        let n_out = trees.n_out;
        let post = match (n_out, softmax) {
            (1, _) => PostTransform::BinaryLogistic,
            (_, true) => PostTransform::Softmax,
            (_, false) => PostTransform::Probabilities,
        };
        let spec = model_spec(trees, Some(post), Task::Classification);
        let file = write(&spec).unwrap();
        let apr = Apr::parse(&file).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        for x in &rows {
            let got = model.predict_row(x, &mut scratch).unwrap();
            let want = reference::predict(apr.stages(), Task::Classification, x);
            let probs = got.probabilities.unwrap();
            let want_probs = want.probabilities.unwrap();
            for (g, w) in probs.iter().zip(&want_probs) {
                prop_assert!(((*g) - w).abs() <= 1e-5, "{g} vs {w}");
            }
            // The engine reports f32 scores: the reference's, rounded. Its class is decided on
            // them (first maximum), so two f64 scores that round to the same f32 are a tie.
            let narrowed: Vec<f32> = want.scores.iter().map(|&v| v as f32).collect();
            let got32: Vec<f32> = got.scores.iter().map(|&v| v as f32).collect();
            prop_assert_eq!(&got32[..], &narrowed[..]);
            let want_class = match narrowed.as_slice() {
                [z] => usize::from(*z > 0.0),
                s => (0..s.len()).fold(0, |best, i| if s[i] > s[best] { i } else { best }),
            };
            prop_assert_eq!(got.class, Some(want_class));
            let unique_max = narrowed.len() == 1
                || narrowed.iter().filter(|&&v| v == narrowed[want_class]).count() == 1;
            if unique_max {
                prop_assert_eq!(got.class, want.class);
            }
        }
    }
}

/// A stump on feature 0 with threshold 1.0 and the given split/missing rule.
fn stump(split: Split, missing: MissingRule, default_left: bool, round_f32: bool) -> ModelSpec {
    let trees = TreesSpec {
        n_in: 1,
        n_out: 1,
        leaf_width: 1,
        round_f32,
        sum_f32: false,
        average_per_output: false,
        roots: vec![0],
        nodes: vec![TreeNode {
            feature: 0,
            split,
            missing,
            default_left,
            left: LEAF,
            right: LEAF | 1,
        }],
        leaves: vec![-1.0, 1.0],
        base: vec![0.0],
        categories: vec![0b1010, 0x8000_0000],
        ..TreesSpec::default()
    };
    model_spec(trees, None, Task::Regression)
}

fn run(spec: &ModelSpec, x: f64) -> f32 {
    let file = written(spec);
    let apr = Apr::parse(&file).unwrap();
    let model = Model::new(&apr);
    let mut s = model.scratch();
    model.predict_row(&[x], &mut s).unwrap().scores[0] as f32
}

const LEFT: f32 = -1.0;
const RIGHT: f32 = 1.0;

#[test]
fn comparisons_follow_their_library() {
    let d = MissingRule::Default;
    // XGBoost: x < t, in f32. 1 + 2^-30 rounds to 1.0 in f32, so it is not < 1.0 either way,
    // but 1 - 2^-30 rounds to 1.0 as well and so goes right, where an f64 compare goes left.
    let xgb = stump(Split::Lt(1.0), d, false, true);
    assert_eq!(run(&xgb, 0.999_999), LEFT);
    assert_eq!(run(&xgb, 1.0), RIGHT);
    assert_eq!(run(&xgb, 1.0 - 2f64.powi(-30)), RIGHT);
    // LightGBM / scikit-learn: x <= t, in f64.
    let lgb = stump(Split::Le(1.0), d, false, false);
    assert_eq!(run(&lgb, 1.0), LEFT);
    assert_eq!(run(&lgb, 1.0 + 2f64.powi(-40)), RIGHT);
    assert_eq!(run(&lgb, 1.0 - 2f64.powi(-40)), LEFT);
    assert_eq!(run(&stump(Split::Gt(1.0), d, false, false), 1.0), RIGHT);
    assert_eq!(run(&stump(Split::Ge(1.0), d, false, false), 1.0), LEFT);
    assert_eq!(run(&stump(Split::Eq(1.0), d, false, false), 1.0), LEFT);
    assert_eq!(run(&stump(Split::Ne(1.0), d, false, false), 1.0), RIGHT);
}

#[test]
fn missing_values_follow_the_node_rule() {
    let le = Split::Le(1.0);
    // Default: NaN goes the default way, zero is compared.
    assert_eq!(
        run(&stump(le, MissingRule::Default, true, false), f64::NAN),
        LEFT
    );
    assert_eq!(
        run(&stump(le, MissingRule::Default, false, false), f64::NAN),
        RIGHT
    );
    // AsZero: NaN is compared as 0.0 (0 <= 1: left), whatever the default.
    assert_eq!(
        run(&stump(le, MissingRule::AsZero, false, false), f64::NAN),
        LEFT
    );
    let neg = stump(Split::Le(-1.0), MissingRule::AsZero, true, false);
    assert_eq!(run(&neg, f64::NAN), RIGHT);
    // ZeroOrNan: NaN, 0 and tiny values go the default way.
    let zn = stump(Split::Le(-1.0), MissingRule::ZeroOrNan, true, false);
    assert_eq!(run(&zn, f64::NAN), LEFT);
    assert_eq!(run(&zn, 0.0), LEFT);
    assert_eq!(run(&zn, -1e-36), LEFT);
    assert_eq!(run(&zn, 1e-30), RIGHT);
}

#[test]
fn category_sets_truncate_and_refuse_out_of_range() {
    let set = Split::InSet {
        offset: 0,
        words: 2,
    };
    let s = stump(set, MissingRule::Default, false, false);
    // Bits 1 and 3 of word 0, bit 31 of word 1 (category 63).
    for (x, want) in [
        (1.0, LEFT),
        (1.9, LEFT),
        (3.0, LEFT),
        (63.0, LEFT),
        (0.0, RIGHT),
        (2.0, RIGHT),
        (-1.0, RIGHT),
        (64.0, RIGHT),
        (1e20, RIGHT),
        (f64::NAN, RIGHT),
    ] {
        assert_eq!(run(&s, x), want, "category {x}");
    }
}

#[test]
fn tree_models_refuse_bad_rows_with_the_documented_errors() {
    let spec = stump(Split::Le(1.0), MissingRule::Default, false, false);
    let file = write(&spec).unwrap();
    let apr = Apr::parse(&file).unwrap();
    let model = Model::new(&apr);
    let mut s = model.scratch();
    assert_eq!(
        model.predict_row(&[1.0, 2.0], &mut s).unwrap_err(),
        EngineError::FeatureCount {
            expected: 1,
            found: 2
        }
    );
    assert_eq!(
        model.predict_row(&[f64::INFINITY], &mut s).unwrap_err(),
        EngineError::NotFinite { index: 0 }
    );
    // An f64 ensemble takes values beyond the f32 range; an f32 pipeline refuses them.
    assert_eq!(
        model.predict_row(&[1e300], &mut s).unwrap().scores,
        &[f64::from(RIGHT)]
    );
    let f32_spec = stump(Split::Le(1.0), MissingRule::Default, false, true);
    let file = write(&f32_spec).unwrap();
    let apr = Apr::parse(&file).unwrap();
    let model = Model::new(&apr);
    assert_eq!(
        model.predict_row(&[1e300], &mut s).unwrap_err(),
        EngineError::NotFinite { index: 0 }
    );
}

/// Byte offset of the trees stage's node table (classic or compact) in `file`, and its
/// number of `u32` words.
fn node_table(file: &[u8]) -> (usize, usize) {
    let apr = Apr::parse(file).unwrap();
    let Stage::Trees(t) = apr.stages()[0] else {
        unreachable!()
    };
    if !t.compact.is_empty() {
        let at = t.compact.as_ptr() as usize - file.as_ptr() as usize;
        return (at, t.compact.len() * 4);
    }
    if t.nodes.is_empty() {
        return (0, 0);
    }
    let at = t.nodes.as_ptr() as usize - file.as_ptr() as usize;
    (at, t.nodes.len() * 6)
}

/// Writes `word` at node word `i` of the table at `at` and stores the new checksum, so only
/// the node walk (skipped for an attested file) could notice.
fn patch_node_word(file: &mut AlignedBuf, at: usize, i: usize, word: u32) {
    let b = file.as_mut_slice();
    b[at + 4 * i..at + 4 * i + 4].copy_from_slice(&word.to_le_bytes());
    b[12..16].fill(0);
    let sum = checksum(b);
    b[12..16].copy_from_slice(&sum.to_le_bytes());
}

/// An attestation for `file` as it is now (the build script would have refused a broken
/// one; a test can claim anything, and the walks must stay safe).
fn claim(file: &[u8], mask: u64) -> Attestation {
    let sum = u32::from_le_bytes([file[12], file[13], file[14], file[15]]);
    let masks: &'static [u64] = Vec::leak(vec![mask]);
    Attestation::__from_build_script((file.len() as u64, sum, masks))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// An attested open skips the node walk but gives the same model: the same view, the
    /// same node-test mask (so the same specialised walk), the same answers bit for bit.
    #[test]
    fn attested_open_answers_as_the_verified_one((trees, rows) in case()) {
        let spec = model_spec(trees, None, Task::Regression);
        let file = write(&spec).unwrap();
        let attestation = Attestation::of(&file).unwrap();
        let full = Apr::parse_verified(&file).unwrap();
        let attested = Apr::parse_attested(&file, &attestation).unwrap();
        let (Stage::Trees(a), Stage::Trees(b)) = (full.stages()[0], attested.stages()[0]) else {
            unreachable!()
        };
        prop_assert_eq!(a.info_mask, b.info_mask);
        let (m1, m2) = (Model::new(&full), Model::new(&attested));
        let (mut s1, mut s2) = (m1.scratch(), m2.scratch());
        for x in &rows {
            let want = m1.predict_row(x, &mut s1).unwrap().scores.to_vec();
            let got = m2.predict_row(x, &mut s2).unwrap();
            prop_assert_eq!(got.scores, &want[..]);
        }
    }

    /// Whatever the node table holds — references out of range, back to the parent or to
    /// itself (cycles), features past the row, undefined codes — and whatever the attested
    /// mask claims, a walk over an attested file ends and nothing panics.
    #[test]
    fn walks_over_broken_attested_nodes_end_without_panicking(
        (trees, rows) in case(),
        patches in prop::collection::vec((any::<usize>(), prop_oneof![
            Just(0u32), Just(1), Just(u32::MAX), Just(LEAF), Just(LEAF | 0x7FFF_FFFE), any::<u32>(),
        ]), 1..8),
        mask in prop_oneof![Just(u64::MAX), Just(0u64), Just(1u64), Just(2u64), Just(1u64 << 17), any::<u64>()],
    ) {
        let spec = model_spec(trees, None, Task::Regression);
        let mut file = write(&spec).unwrap();
        let (at, n_words) = node_table(&file);
        prop_assume!(n_words > 0);
        for (i, word) in patches {
            patch_node_word(&mut file, at, i % n_words, word);
        }
        let apr = Apr::parse_attested(&file, &claim(&file, mask)).unwrap();
        let model = Model::new(&apr);
        let mut scratch = model.scratch();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut out = BatchOutput::default();
        model.predict_batch(&flat, &mut out).unwrap();
        for x in &rows {
            model.predict_row(x, &mut scratch).unwrap();
        }
    }
}

/// A node pointing at itself is an endless loop for an unbounded walk; here every walk
/// stops after `n_nodes` steps. And the full check still refuses the file.
#[test]
fn a_cycle_in_an_attested_file_ends_the_walk() {
    let node = |left, right| TreeNode {
        feature: 0,
        split: Split::Le(0.5),
        missing: MissingRule::Default,
        default_left: true,
        left,
        right,
    };
    let trees = TreesSpec {
        n_in: 1,
        n_out: 1,
        leaf_width: 1,
        roots: vec![0; 9],
        nodes: vec![node(1, LEAF), node(LEAF | 1, LEAF | 2)],
        leaves: vec![1.0, 2.0, 3.0],
        base: vec![0.0],
        ..TreesSpec::default()
    };
    let mut file = write(&model_spec(trees, None, Task::Regression)).unwrap();
    let (at, _) = node_table(&file);
    // Node 1's left child becomes node 1 itself; node 0's right child node 0.
    patch_node_word(&mut file, at, 6 + 1, 1);
    patch_node_word(&mut file, at, 2, 0);
    assert!(matches!(
        Apr::parse_verified(&file),
        Err(FormatError::BadTrees { .. })
    ));
    let apr = Apr::parse_attested(&file, &claim(&file, u64::MAX)).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    for x in [0.0, 1.0, f64::NAN] {
        // 9 trees (8 side by side, 1 alone), every walk cut short and read as leaf 0.
        let got = model.predict_row(&[x], &mut scratch).unwrap().scores[0];
        assert!(got.is_finite(), "{x}: {got}");
    }
    // x = 0 goes left at node 0 (to node 1), then left forever: leaf 0 for all nine trees.
    assert_eq!(
        model.predict_row(&[0.0], &mut scratch).unwrap().scores[0],
        9.0
    );
}

/// An attestation that does not match the bytes (another length or stored checksum, or
/// another number of trees stages) is not trusted: the file is verified fully, and a broken
/// one is refused with the rule it breaks.
#[test]
fn a_mismatched_attestation_falls_back_to_full_verification() {
    let mut file = write(&model_spec(
        random_ensemble(7, 3, 1),
        None,
        Task::Regression,
    ))
    .unwrap();
    let (at, _) = node_table(&file);
    patch_node_word(&mut file, at, 0, 99); // feature 99 of 3
    let good = claim(&file, u64::MAX);
    assert!(Apr::parse_attested(&file, &good).is_ok());
    let sum = good.checksum();
    for wrong in [
        Attestation::__from_build_script((file.len() as u64 + 64, sum, &[u64::MAX])),
        Attestation::__from_build_script((file.len() as u64, sum ^ 1, &[u64::MAX])),
        Attestation::__from_build_script((file.len() as u64, sum, &[])),
        Attestation::__from_build_script((file.len() as u64, sum, &[1, 2])),
    ] {
        assert_eq!(
            Apr::parse_attested(&file, &wrong).unwrap_err(),
            FormatError::BadTrees {
                stage: 0,
                index: 0,
                reason: "feature index outside the input"
            },
            "{wrong:?}"
        );
    }
}
