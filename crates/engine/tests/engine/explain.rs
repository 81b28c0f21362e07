//! Explanations against their definition: on random ensembles (repeated features, NaN
//! routed by default directions, several outputs, averaging), the fast Tree SHAP walk equals
//! the Shapley values computed by brute force over every subset of features, with the
//! path-dependent value function `v(S)` (a node on a feature in `S` follows the row, any
//! other node averages its children by cover); the bias is `v(∅)`, and the contributions add
//! up to the model's raw scores.

use icebreak_engine::{Contributions, Model};
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::trees::LEAF;
use icebreak_format::*;

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

const N_IN: u32 = 4;
const POOL: [f64; 6] = [-1.0, 0.0, 0.5, 1.0, 2.0, f64::NAN];

/// Adds a random subtree of at most `depth` levels; returns its reference and cover.
fn subtree(rng: &mut Rng, t: &mut TreesSpec, leaf_covers: &mut Vec<f64>, depth: u32) -> (u32, f64) {
    if depth == 0 || rng.below(4) == 0 {
        let leaf = leaf_covers.len() as u32;
        t.leaves.push((rng.below(2001) as f64 - 1000.0) / 64.0);
        let c = 1.0 + rng.below(20) as f64;
        leaf_covers.push(c);
        return (LEAF | leaf, c);
    }
    let at = t.nodes.len();
    t.nodes.push(TreeNode {
        feature: rng.below(u64::from(N_IN)) as u32,
        split: Split::Le(POOL[rng.below(5) as usize]),
        missing: MissingRule::Default,
        default_left: rng.below(2) == 0,
        left: 0,
        right: 0,
    });
    t.covers.push(0.0);
    let (l, cl) = subtree(rng, t, leaf_covers, depth - 1);
    let (r, cr) = subtree(rng, t, leaf_covers, depth - 1);
    t.nodes[at].left = l;
    t.nodes[at].right = r;
    t.covers[at] = cl + cr;
    (at as u32, cl + cr)
}

fn ensemble(seed: u64) -> TreesSpec {
    let mut rng = Rng(seed | 1);
    let n_out = 1 + rng.below(2) as u32;
    let mut t = TreesSpec {
        n_in: N_IN,
        n_out,
        average: rng.below(2) == 0,
        leaf_width: 1,
        base: (0..n_out).map(|j| 0.25 * f64::from(j) - 0.5).collect(),
        ..TreesSpec::default()
    };
    let mut leaf_covers = Vec::new();
    for _ in 0..1 + rng.below(5) {
        let (root, _) = subtree(&mut rng, &mut t, &mut leaf_covers, 5);
        t.roots.push(root);
        if n_out > 1 {
            t.targets.push(rng.below(u64::from(n_out)) as u32);
        }
    }
    t.covers.extend(leaf_covers);
    t
}

fn cover(t: &TreesSpec, r: u32) -> f64 {
    if r & LEAF != 0 {
        t.covers[t.nodes.len() + (r & !LEAF) as usize]
    } else {
        t.covers[r as usize]
    }
}

/// `v(S)` of the tree below `r`.
fn value(t: &TreesSpec, r: u32, x: &[f64], s: u32) -> f64 {
    if r & LEAF != 0 {
        return t.leaves[(r & !LEAF) as usize];
    }
    let n = t.nodes[r as usize];
    if s & (1 << n.feature) != 0 {
        let v = x[n.feature as usize];
        let Split::Le(th) = n.split else {
            unreachable!()
        };
        let left = if v.is_nan() { n.default_left } else { v <= th };
        value(t, if left { n.left } else { n.right }, x, s)
    } else {
        let c = cover(t, r);
        (cover(t, n.left) * value(t, n.left, x, s) + cover(t, n.right) * value(t, n.right, x, s))
            / c
    }
}

fn factorial(n: u32) -> f64 {
    (1..=n).map(f64::from).product()
}

/// Brute-force Shapley values: `n_out × (N_IN + 1)`, bias last.
fn brute_force(t: &TreesSpec, x: &[f64]) -> Vec<f64> {
    let m = N_IN;
    let w = (m + 1) as usize;
    let mut out = vec![0.0; t.n_out as usize * w];
    let scale = if t.average {
        1.0 / t.roots.len() as f64
    } else {
        1.0
    };
    for (j, b) in t.base.iter().enumerate() {
        out[j * w + m as usize] += b;
    }
    for (k, &root) in t.roots.iter().enumerate() {
        let j = t.targets.get(k).copied().unwrap_or(0) as usize;
        out[j * w + m as usize] += scale * value(t, root, x, 0);
        for i in 0..m {
            let mut phi = 0.0;
            for s in 0..(1u32 << m) {
                if s & (1 << i) != 0 {
                    continue;
                }
                let size = s.count_ones();
                let weight = factorial(size) * factorial(m - size - 1) / factorial(m);
                phi += weight * (value(t, root, x, s | (1 << i)) - value(t, root, x, s));
            }
            out[j * w + i as usize] += scale * phi;
        }
    }
    out
}

#[test]
fn tree_shap_equals_brute_force_shapley_values() {
    let mut checked = 0;
    for seed in 1..200u64 {
        let t = ensemble(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n_out = t.n_out;
        let mut spec = ModelSpecBuilder::new(N_IN)
            .missing(MissingValues::Nan)
            .regression(n_out)
            .stage(StageSpec::Trees(t.clone()))
            .build();
        spec.output.precision = Precision::F64;
        let file = write(&spec).unwrap();
        let apr = Apr::parse_verified(&file).unwrap();
        let model = Model::new(&apr);
        let explainer = model.explainer().unwrap();
        let mut xs = explainer.scratch();
        let mut scratch = model.scratch();
        let mut out = Contributions::default();
        let mut rng = Rng(seed | 7);
        for _ in 0..8 {
            let x: Vec<f64> = (0..N_IN).map(|_| POOL[rng.below(6) as usize]).collect();
            explainer.explain_row(&x, &mut xs, &mut out).unwrap();
            let want = brute_force(&t, &x);
            for (k, (a, b)) in out.values.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "seed {seed} x {x:?} value {k}: tree shap {a}, brute force {b}"
                );
            }
            let scores = model.predict_row(&x, &mut scratch).unwrap().scores;
            for (j, s) in scores.iter().enumerate() {
                let sum: f64 = out.output(j).iter().sum();
                assert!(
                    (sum - s).abs() <= 1e-9 * (1.0 + s.abs()),
                    "seed {seed}: {sum} vs {s}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 199 * 8);
}

#[test]
fn a_linear_model_explains_as_coef_times_x() {
    let mut spec = ModelSpecBuilder::new(3)
        .regression(1)
        .stage(StageSpec::LinearF64 {
            n_in: 3,
            n_out: 1,
            coef: vec![0.5, -2.0, 0.25],
            intercept: vec![1.5],
        })
        .build();
    spec.output.precision = Precision::F64;
    let file = write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let e = model.explainer().unwrap();
    let mut out = Contributions::default();
    let x = [2.0, 1.0, -4.0];
    e.explain_row(&x, &mut e.scratch(), &mut out).unwrap();
    assert_eq!(out.values, vec![1.0, -2.0, -1.0, 1.5]);
    let mut scratch = model.scratch();
    let s = model.predict_row(&x, &mut scratch).unwrap().scores[0];
    assert_eq!(out.values.iter().sum::<f64>(), s);
}

#[test]
fn trees_without_covers_refuse_to_explain() {
    let mut t = ensemble(3);
    t.covers.clear();
    let spec = ModelSpecBuilder::new(N_IN)
        .missing(MissingValues::Nan)
        .regression(t.n_out)
        .stage(StageSpec::Trees(t))
        .build();
    let file = write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let err = Model::new(&apr).explainer().unwrap_err();
    assert!(matches!(
        err,
        icebreak_engine::EngineError::Unexplainable { .. }
    ));
    assert!(err
        .to_string()
        .starts_with("this model carries no node covers"));
}

#[test]
fn a_standardised_linear_model_explains_from_the_training_mean() {
    let spec = ModelSpecBuilder::new(2)
        .stage(StageSpec::StandardScaler {
            mean: vec![1.0, 10.0],
            scale: vec![2.0, 4.0],
        })
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![3.0, -1.0],
            intercept: vec![0.5],
        })
        .build();
    let file = write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let e = model.explainer().unwrap();
    let mut out = Contributions::default();
    // At the training mean every contribution is zero and the bias is the margin.
    e.explain_row(&[1.0, 10.0], &mut e.scratch(), &mut out)
        .unwrap();
    assert_eq!(out.values, vec![0.0, -0.0, 0.5]);
    let x = [5.0, 2.0];
    e.explain_row(&x, &mut e.scratch(), &mut out).unwrap();
    assert_eq!(out.values, vec![3.0 * 2.0, -1.0 * -2.0, 0.5]);
    let s = model.predict_row(&x, &mut model.scratch()).unwrap().scores[0];
    assert_eq!(out.values.iter().sum::<f64>(), s);
}

/// R29 lets children be shared: a "tree" whose every node sends both branches to the next
/// node predicts in 40 steps but has 2^40 paths. Explanations refuse it at once rather than
/// walk them.
#[test]
fn shared_subtrees_are_refused_not_walked() {
    let n = 40u32;
    let nodes: Vec<TreeNode> = (0..n)
        .map(|i| {
            let next = if i + 1 == n { LEAF } else { i + 1 };
            TreeNode {
                feature: 0,
                split: Split::Le(0.5),
                missing: MissingRule::Default,
                default_left: true,
                left: next,
                right: next,
            }
        })
        .collect();
    let mut covers = vec![1.0; n as usize];
    covers.push(1.0);
    let t = TreesSpec {
        n_in: 1,
        n_out: 1,
        leaf_width: 1,
        roots: vec![0],
        nodes,
        leaves: vec![1.0],
        base: vec![0.0],
        covers,
        ..TreesSpec::default()
    };
    let spec = ModelSpecBuilder::new(1)
        .missing(MissingValues::Nan)
        .stage(StageSpec::Trees(t))
        .build();
    let file = write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    assert_eq!(
        model.predict_row(&[0.0], &mut scratch).unwrap().scores,
        &[1.0]
    );
    let err = model.explainer().unwrap_err();
    assert!(err.to_string().contains("share nodes"), "{err}");
}
