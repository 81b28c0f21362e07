//! Explanations: per-feature contributions to a row's raw scores (margins).
//!
//! - Tree ensembles: exact path-dependent Tree SHAP (Lundberg et al. 2018), the quantity
//!   XGBoost's `pred_contribs=True`, LightGBM's `pred_contrib=True` and
//!   `shap.TreeExplainer(feature_perturbation="tree_path_dependent")` compute. Trees of up
//!   to 16 levels are walked by quadrature (`Walk::quad`: each path entry's Shapley weight
//!   sum is a Beta integral of a polynomial of degree below the depth, which 8-point
//!   Gauss–Legendre quadrature computes exactly up to rounding), deeper ones by Algorithm 2
//!   (`Walk::recurse`); a test holds the two to each other and another to the Shapley
//!   values by brute force. A child's
//!   share of its parent's data is `cover(child) / cover(node)` from the file's node covers
//!   (FORMAT.md, "Node covers"); the row takes the branch the prediction takes (the same
//!   test, missing rule, default direction and category set), and a node on a feature
//!   already on the path undoes that feature's earlier split first. The bias of output `j`
//!   is `base_j` plus each tree's expected value, `mean(node) = (mean(left) · cover(left) +
//!   mean(right) · cover(right)) / cover(node)` from the leaves up. Averaging ensembles
//!   (random forests) divide every tree's part by the divisor the prediction uses.
//! - Linear models (`linear`, `linear_f64`): `coef_ji · x_i`, measured from zero, the
//!   intercept as the bias, when the model reads the row directly (the `.apr` holds no
//!   training means). Behind a standard scaler (scikit-learn's `StandardScaler` then a
//!   linear model), `coef_ji · (x_i - mean_i) / scale_i`: measured from the training mean
//!   the scaler holds, the intercept being the margin of the mean row.
//!
//! Contributions are computed in `f64`. They sum to the model's raw scores up to rounding:
//! exactly the quantity the library computes, not the library's float arithmetic (XGBoost
//! computes Tree SHAP in `f32`, LightGBM in `f64`; docs/FIDELITY.md gives the tolerances).
//!
//! Nothing here runs unless asked: [`Explainer::new`] prepares its tables (one pass over the
//! nodes) on the first explanation, and a model that is never asked to explain never builds
//! one.
//!
//! ```
//! use icebreak_engine::{Contributions, Model};
//!
//! // A standardised logistic regression over 30 features.
//! static MODEL: &[u8] = icebreak_format::include_model!("../../../examples/model.apr");
//! let apr = icebreak_format::Apr::parse(MODEL).unwrap();
//! let model = Model::new(&apr);
//! let explainer = model.explainer().unwrap();
//! let (mut scratch, mut out) = (explainer.scratch(), Contributions::default());
//! let x = vec![1.0; model.n_features()];
//! explainer.explain_row(&x, &mut scratch, &mut out).unwrap();
//! // One value per feature and the bias, adding up to the margin.
//! let margin = model.predict_row(&x, &mut model.scratch()).unwrap().scores[0];
//! let sum: f64 = out.output(0).iter().sum();
//! assert!((sum - margin).abs() < 1e-4 * (1.0 + margin.abs()));
//! ```

use crate::family::trees::goes_left_row;
use crate::{EngineError, Model};
use icebreak_format::trees::{NodeRow, LEAF};
use icebreak_format::{limits, Stage, Trees};

/// Deepest tree (in nodes from the root to a leaf) an explanation walks: Tree SHAP keeps a
/// path table of `(d + 1)(d + 2) / 2` entries for a tree of depth `d`.
pub const MAX_EXPLAIN_DEPTH: usize = limits::MAX_EXPLAIN_DEPTH;

/// Contributions of one row: for each raw output (class margin, regression target) one
/// value per feature, then the bias, `n_features + 1` values per output, output after
/// output (the layout of XGBoost's and LightGBM's contribution matrices). The values of an
/// output sum to its raw score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contributions {
    /// Features per row.
    pub n_features: usize,
    /// Raw outputs explained.
    pub n_outputs: usize,
    /// `n_outputs × (n_features + 1)` values.
    pub values: Vec<f64>,
}

impl Contributions {
    /// The contributions to output `j`: one per feature, then the bias (empty past the last
    /// output).
    pub fn output(&self, j: usize) -> &[f64] {
        let w = self.n_features + 1;
        self.values.get(j * w..(j + 1) * w).unwrap_or(&[])
    }
}

/// One node of an explained tree, decoded once.
#[derive(Debug, Clone, Copy)]
struct XNode {
    /// The node's row (its test), and the row of a merged second test (or `u32::MAX`).
    first: u32,
    second: u32,
    feature: u32,
    /// Children (references) of the split, and their shares of the node's cover.
    left: u32,
    right: u32,
    left_share: f64,
    right_share: f64,
}

/// A tree ensemble with covers, ready to explain.
#[derive(Debug, Clone)]
struct TreeTables<'a> {
    trees: Trees<'a>,
    /// Explained nodes, indexed like the node table (merged second rows are unused).
    nodes: Vec<XNode>,
    /// Bias of each output: base value plus the scaled expected value of each tree.
    bias: Vec<f64>,
    /// What each tree's leaves are multiplied by (1, or 1 / divisor when averaging).
    scale: f64,
    /// Deepest tree, in nodes.
    depth: usize,
}

#[derive(Debug, Clone)]
enum Kind<'a> {
    Trees(TreeTables<'a>),
    Linear {
        n_in: usize,
        n_out: usize,
        coef: Coef<'a>,
        intercept: Coef<'a>,
        /// The pipeline rounds the row to `f32` before the linear stage.
        round_f32: bool,
        /// A standard scaler in front: the training mean and scale.
        center: Option<Center<'a>>,
    },
}

/// A standard scaler before a linear stage.
#[derive(Debug, Clone, Copy)]
struct Center<'a> {
    mean: Coef<'a>,
    scale: Coef<'a>,
    /// The scaler is the `f32` one: it computes in `f32` from the row rounded to `f32`.
    f32_scaler: bool,
}

#[derive(Debug, Clone, Copy)]
enum Coef<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl Coef<'_> {
    fn get(&self, i: usize) -> f64 {
        match self {
            Coef::F32(v) => v.get(i).map_or(0.0, |&c| f64::from(c)),
            Coef::F64(v) => v.get(i).copied().unwrap_or(0.0),
        }
    }
}

/// Explains rows of one model. Built once ([`Explainer::new`], or [`Model::explainer`]),
/// shared by every row; each call needs an [`ExplainScratch`].
#[derive(Debug, Clone)]
pub struct Explainer<'a> {
    kind: Kind<'a>,
    n_features: usize,
    n_outputs: usize,
}

/// Reusable buffers for [`Explainer::explain_row`]; one per thread.
#[derive(Debug, Clone, Default)]
pub struct ExplainScratch {
    path: Vec<PathElement>,
    quad: Vec<QuadElement>,
    x: Vec<f64>,
}

/// Why a model cannot be explained.
fn unexplainable(reason: &'static str) -> EngineError {
    EngineError::Unexplainable { reason }
}

impl<'a> Explainer<'a> {
    /// Prepares `model` for explanations: one pass over a tree ensemble's nodes (their
    /// covers, depths and expected values). Fails, saying why, for a model it cannot
    /// explain: a tree ensemble without node covers, trees deeper than
    /// [`MAX_EXPLAIN_DEPTH`], or a pipeline other than a tree ensemble or a linear model
    /// read directly from the row (optionally followed by a post transform).
    pub fn new(model: &Model<'a>) -> Result<Explainer<'a>, EngineError> {
        let stages = model.stages();
        let (pre, est) = match stages {
            [s] | [s, Stage::Post(_)] => (None, s),
            [p @ (Stage::StandardScaler { .. } | Stage::StandardScalerF64 { .. }), s]
            | [p @ (Stage::StandardScaler { .. } | Stage::StandardScalerF64 { .. }), s, Stage::Post(_)]
                if matches!(s, Stage::Linear { .. } | Stage::LinearF64 { .. }) =>
            {
                (Some(p), s)
            }
            _ => {
                return Err(unexplainable(
                    "explanations cover a tree ensemble or a linear model that reads the row \
                     (directly or through a standard scaler); this model's pipeline has other \
                     stages",
                ))
            }
        };
        let center = match pre {
            Some(Stage::StandardScaler { mean, scale }) => Some(Center {
                mean: Coef::F32(mean),
                scale: Coef::F32(scale),
                f32_scaler: true,
            }),
            Some(Stage::StandardScalerF64 { mean, scale }) => Some(Center {
                mean: Coef::F64(mean),
                scale: Coef::F64(scale),
                f32_scaler: false,
            }),
            _ => None,
        };
        let n_features = model.n_features();
        let kind = match *est {
            Stage::Trees(t) => Kind::Trees(TreeTables::new(t)?),
            Stage::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            } => Kind::Linear {
                n_in: n_in as usize,
                n_out: n_out as usize,
                coef: Coef::F32(coef),
                intercept: Coef::F32(intercept),
                round_f32: true,
                center,
            },
            Stage::LinearF64 {
                n_in,
                n_out,
                coef,
                intercept,
            } => Kind::Linear {
                n_in: n_in as usize,
                n_out: n_out as usize,
                coef: Coef::F64(coef),
                intercept: Coef::F64(intercept),
                round_f32: !model.reads_f64(),
                center,
            },
            _ => {
                return Err(unexplainable(
                    "explanations cover tree ensembles and linear models; this model's \
                     estimator is neither",
                ))
            }
        };
        let n_outputs = match &kind {
            Kind::Trees(t) => t.trees.n_out as usize,
            Kind::Linear { n_out, .. } => *n_out,
        };
        Ok(Explainer {
            kind,
            n_features,
            n_outputs,
        })
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Raw outputs explained (classes of a multi-class model, 1 for a binary classifier or a
    /// regression).
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// A scratch sized for this explainer.
    pub fn scratch(&self) -> ExplainScratch {
        let mut s = ExplainScratch::default();
        self.size(&mut s);
        s
    }

    fn size(&self, s: &mut ExplainScratch) {
        if let Kind::Trees(t) = &self.kind {
            let d = t.depth + 2;
            let need = d * (d + 1) / 2;
            if t.depth <= QUAD_MAX_DEPTH {
                if s.quad.len() < t.depth + 1 {
                    s.quad.resize(t.depth + 1, QuadElement::default());
                }
            } else if s.path.len() < need {
                s.path.resize(need, PathElement::default());
            }
        }
        if s.x.len() < self.n_features {
            s.x.resize(self.n_features, 0.0);
        }
    }

    /// Explains one row, already checked against the model ([`Model::check_row`]): fills
    /// `out` with `n_outputs × (n_features + 1)` values. Allocates nothing once `scratch`
    /// and `out` have grown to the model's size.
    pub fn explain_row(
        &self,
        x: &[f64],
        scratch: &mut ExplainScratch,
        out: &mut Contributions,
    ) -> Result<(), EngineError> {
        if x.len() != self.n_features {
            return Err(EngineError::FeatureCount {
                expected: self.n_features,
                found: x.len(),
            });
        }
        self.size(scratch);
        let w = self.n_features + 1;
        out.n_features = self.n_features;
        out.n_outputs = self.n_outputs;
        out.values.clear();
        out.values.resize(self.n_outputs * w, 0.0);
        match &self.kind {
            Kind::Trees(t) => {
                let xr = &mut scratch.x[..self.n_features];
                xr.copy_from_slice(x);
                if t.trees.round_f32() {
                    crate::family::trees::round_row_f32(xr);
                }
                t.explain(
                    xr,
                    &mut scratch.path,
                    &mut scratch.quad,
                    &mut out.values,
                    self.n_features,
                );
            }
            Kind::Linear {
                n_in,
                n_out,
                coef,
                intercept,
                round_f32,
                center,
            } => {
                // The row as the linear stage sees it (scaled, rounded as the pipeline does).
                let z = &mut scratch.x[..self.n_features];
                for (i, (z, &v)) in z.iter_mut().zip(x).enumerate() {
                    *z = match center {
                        Some(c) if c.f32_scaler => {
                            let (m, s) = (c.mean.get(i) as f32, c.scale.get(i) as f32);
                            f64::from(((v as f32) - m) / s)
                        }
                        Some(c) => (v - c.mean.get(i)) / c.scale.get(i),
                        None => v,
                    };
                    if *round_f32 {
                        *z = f64::from(*z as f32);
                    }
                }
                for j in 0..*n_out {
                    let row = &mut out.values[j * w..(j + 1) * w];
                    for (i, &v) in z.iter().enumerate().take(*n_in) {
                        row[i] = coef.get(j * n_in + i) * v;
                    }
                    row[self.n_features] = intercept.get(j);
                }
            }
        }
        Ok(())
    }
}

impl<'a> Model<'a> {
    /// Prepares this model for explanations ([`Explainer::new`]).
    pub fn explainer(&self) -> Result<Explainer<'a>, EngineError> {
        Explainer::new(self)
    }
}

/// A path entry of Tree SHAP: the feature, the fractions of the "feature absent" (zero) and
/// "feature present" (one) weight flowing down, and the permutation weight.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    feature: u32,
    zero: f64,
    one: f64,
    pweight: f64,
}

/// No feature (the path's root entry).
const NO_FEATURE: u32 = u32::MAX;

/// `1 / k` for every `k` a path of [`MAX_EXPLAIN_DEPTH`] needs: the walk multiplies
/// instead of dividing (a division's latency would sit on every step's dependency chain).
const INV: [f64; MAX_EXPLAIN_DEPTH + 4] = {
    let mut a = [0.0; MAX_EXPLAIN_DEPTH + 4];
    let mut k = 1;
    while k < a.len() {
        a[k] = 1.0 / k as f64;
        k += 1;
    }
    a
};

/// `1 / k`, or 0 past the table (never, for a path of measured depth).
#[inline(always)]
fn inv(k: usize) -> f64 {
    INV.get(k).copied().unwrap_or(0.0)
}

/// Adds a split to the path (Algorithm 2's EXTEND).
#[inline]
fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: u32) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    if depth == 0 {
        return;
    }
    // Each new weight from the old ones only (`new_j = (zero · old_j · (depth - j) + one ·
    // old_{j-1} · j) / (depth + 1)`), top down: no step waits on the one before.
    let r = inv(depth + 1);
    let mut above = 0.0;
    for j in (1..=depth).rev() {
        let below = path[j - 1].pweight;
        path[j].pweight = (zero * above * (depth - j) as f64 + one * below * j as f64) * r;
        above = below;
    }
    path[0].pweight = zero * above * depth as f64 * r;
}

/// Removes entry `at` from the path (Algorithm 2's UNWIND).
#[inline]
fn unwind(path: &mut [PathElement], depth: usize, at: usize) {
    let PathElement { one, zero, .. } = path[at];
    let d1 = (depth + 1) as f64;
    let r = inv(depth + 1);
    let mut next = path[depth].pweight;
    if one != 0.0 {
        let d1_one = d1 / one;
        for i in (0..depth).rev() {
            let tmp = path[i].pweight;
            path[i].pweight = next * d1_one * inv(i + 1);
            next = tmp - path[i].pweight * zero * (depth - i) as f64 * r;
        }
    } else {
        let d1_zero = d1 / zero;
        for i in (0..depth).rev() {
            path[i].pweight *= d1_zero * inv(depth - i);
        }
    }
    for i in at..depth {
        let e = path[i + 1];
        path[i].feature = e.feature;
        path[i].zero = e.zero;
        path[i].one = e.one;
    }
}

/// The total permutation weight if entry `at`, one the row follows (`one != 0`), were
/// unwound (Algorithm 2's UNWOUNDSUM).
#[inline]
fn unwound_sum_hot(path: &[PathElement], depth: usize, at: usize) -> f64 {
    let PathElement { one, zero, .. } = path[at];
    let d1_one = (depth + 1) as f64 / one;
    let zr = zero * inv(depth + 1);
    let mut next = path[depth].pweight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        let tmp = next * d1_one * inv(i + 1);
        total += tmp;
        next = path[i].pweight - tmp * zr * (depth - i) as f64;
    }
    total
}

/// Entries whose unwound sums [`hot_sums`] computes side by side.
const SUM_LANES: usize = 8;

/// [`unwound_sum_hot`] of entries `i0 .. i0 + n` (`n <= SUM_LANES`) as if each had
/// `one == 1` (the walk's hot entries do), side by side; lanes past `n` hold garbage.
#[inline]
fn hot_sums(path: &[PathElement], depth: usize, i0: usize, n: usize) -> [f64; SUM_LANES] {
    let zr = inv(depth + 1);
    let d1 = (depth + 1) as f64;
    let mut zs = [0.0; SUM_LANES];
    for (k, z) in zs.iter_mut().enumerate().take(n) {
        *z = path.get(i0 + k).map_or(0.0, |e| e.zero) * zr;
    }
    let mut next = [path[depth].pweight; SUM_LANES];
    let mut total = [0.0; SUM_LANES];
    for i in (0..depth).rev() {
        let a = d1 * inv(i + 1);
        let b = (depth - i) as f64;
        let pw = path[i].pweight;
        for k in 0..SUM_LANES {
            let tmp = next[k] * a;
            total[k] += tmp;
            next[k] = pw - tmp * zs[k] * b;
        }
    }
    total
}

/// The part of UNWOUNDSUM every entry the row does not follow (`one == 0`) shares:
/// `Σ_i pweight_i / (depth - i)`; such an entry's sum is this times `(depth + 1) / zero`.
#[inline]
fn cold_sum(path: &[PathElement], depth: usize) -> f64 {
    (0..depth).map(|i| path[i].pweight * inv(depth - i)).sum()
}

impl<'a> TreeTables<'a> {
    fn new(trees: Trees<'a>) -> Result<Self, EngineError> {
        if !trees.has_covers() {
            return Err(unexplainable(
                "this model carries no node covers, which explanations need: convert it from \
                 its XGBoost or LightGBM model file with --tree-layout classic and without \
                 --no-covers (ONNX tree ensembles and XGBoost's vector-leaf models, which \
                 XGBoost itself cannot explain, carry none)",
            ));
        }
        if trees.is_compact() {
            return Err(unexplainable(
                "this model's trees are in the compact layout, which carries no node covers",
            ));
        }
        let n_nodes = trees.nodes.len();
        let covers = trees.covers;
        let cover = |r: u32| -> f64 {
            let i = if r & LEAF != 0 {
                n_nodes.saturating_add((r & !LEAF) as usize)
            } else {
                r as usize
            };
            covers.get(i).copied().unwrap_or(0.0)
        };
        let row = |r: u32| -> Option<&NodeRow> { trees.nodes.get(r as usize) };
        let mut nodes = Vec::with_capacity(n_nodes);
        for (i, r) in trees.nodes.iter().enumerate() {
            let [feature, left, right, ..] = *r;
            let i32_ = i as u32;
            // A merged split (FORMAT.md, "Node covers"): this node's right child is the next
            // node, on the same feature, whose right child is this node's left child.
            let merged = right == i32_.wrapping_add(1)
                && row(right).is_some_and(|n| n[0] == feature && n[2] == left);
            let (second, l, rr) = if merged {
                let n = row(right).map_or([0; 6], |n| *n);
                (right, left, n[1])
            } else {
                (u32::MAX, left, right)
            };
            let c = cover(i32_);
            let share = |child: u32| {
                let s = cover(child) / c;
                if s.is_finite() {
                    s
                } else {
                    0.0
                }
            };
            nodes.push(XNode {
                first: i32_,
                second,
                feature,
                left: l,
                right: rr,
                left_share: share(l),
                right_share: share(rr),
            });
        }
        let n_out = trees.n_out as usize;
        let scale = if trees.average() {
            1.0 / trees.average_divisor()
        } else {
            1.0
        };
        let mut tables = TreeTables {
            trees,
            nodes,
            bias: trees.base.to_vec(),
            scale,
            depth: 0,
        };
        tables.bias.resize(n_out, 0.0);
        let w = trees.leaf_width as usize;
        let mut mean = vec![0.0; w];
        // Each node once, over all the trees (see `depth_of`).
        let mut budget = n_nodes;
        for (t, &root) in trees.roots.iter().enumerate() {
            let depth = tables.depth_of(root, &mut budget)?;
            tables.depth = tables.depth.max(depth);
            tables.mean(root, &mut mean);
            if w == 1 {
                let j = tables.target(t);
                if let Some(b) = tables.bias.get_mut(j) {
                    *b += scale * mean[0];
                }
            } else {
                for (b, m) in tables.bias.iter_mut().zip(&mean) {
                    *b += scale * m;
                }
            }
        }
        Ok(tables)
    }

    /// Output tree `t` adds to (one value per leaf).
    fn target(&self, t: usize) -> usize {
        self.trees.targets.get(t).map_or(0, |&j| j as usize)
    }

    /// The leaf values of a leaf reference (leaf 0 for one outside the table).
    fn leaf(&self, r: u32) -> &[f64] {
        let w = self.trees.leaf_width as usize;
        let i = (r & !LEAF) as usize;
        self.trees
            .leaves
            .get(i * w..(i + 1) * w)
            .or_else(|| self.trees.leaves.get(..w))
            .unwrap_or(&[])
    }

    /// Depth of the tree at `root`, in nodes; refuses trees deeper than
    /// [`MAX_EXPLAIN_DEPTH`], whose references do not lead down the table (a file that
    /// breaks R29 and was opened attested), or that reach nodes more often than the table
    /// has them: R29 lets children be shared, and a walk that takes both branches of every
    /// node (as Tree SHAP does) would take exponential time over shared subtrees. `budget`
    /// is what every tree so far has left of the node table's size.
    fn depth_of(&self, root: u32, budget: &mut usize) -> Result<usize, EngineError> {
        let too_deep =
            || unexplainable("a tree is deeper than explanations walk (limits::MAX_EXPLAIN_DEPTH)");
        let mut max = 0;
        let mut stack = vec![(root, 0usize, None::<u32>)];
        while let Some((r, d, parent)) = stack.pop() {
            if r & LEAF != 0 {
                max = max.max(d);
                continue;
            }
            if d >= MAX_EXPLAIN_DEPTH {
                return Err(too_deep());
            }
            *budget = budget.checked_sub(1).ok_or_else(|| {
                unexplainable("the trees share nodes: they are not trees, and cannot be explained")
            })?;
            let Some(n) = self.nodes.get(r as usize) else {
                return Err(unexplainable("a tree reference is outside the node table"));
            };
            if parent.is_some_and(|p| r <= p) {
                return Err(unexplainable(
                    "a tree's children do not follow their parent",
                ));
            }
            let last = if n.second == u32::MAX { r } else { n.second };
            stack.push((n.left, d + 1, Some(last)));
            stack.push((n.right, d + 1, Some(last)));
        }
        Ok(max)
    }

    /// The cover-weighted mean leaf value below `r`, per leaf value (`out`).
    fn mean(&self, r: u32, out: &mut [f64]) {
        if r & LEAF != 0 {
            let v = self.leaf(r);
            for (o, v) in out.iter_mut().zip(v) {
                *o = *v;
            }
            return;
        }
        let Some(n) = self.nodes.get(r as usize).copied() else {
            out.fill(0.0);
            return;
        };
        let mut l = vec![0.0; out.len()];
        self.mean(n.left, &mut l);
        self.mean(n.right, out);
        for (o, l) in out.iter_mut().zip(&l) {
            // mean = (mean_l · cover_l + mean_r · cover_r) / cover, as shares of the cover.
            *o = *l * n.left_share + *o * n.right_share;
        }
    }

    /// Whether the row goes to the node's left child.
    #[inline]
    fn goes_left(&self, n: &XNode, x: &[f64]) -> bool {
        let rows = self.trees.nodes;
        let cats = self.trees.categories;
        let Some(first) = rows.get(n.first as usize) else {
            return true;
        };
        if goes_left_row(first, x, cats) {
            return true;
        }
        match rows.get(n.second as usize) {
            // The merged second test sends the row to its left child, the split's right.
            Some(second) => !goes_left_row(second, x, cats),
            None => false,
        }
    }

    fn explain(
        &self,
        x: &[f64],
        path: &mut [PathElement],
        quad: &mut [QuadElement],
        out: &mut [f64],
        n_features: usize,
    ) {
        let w = n_features + 1;
        for (j, b) in self.bias.iter().enumerate() {
            if let Some(v) = out.get_mut(j * w + n_features) {
                *v += b;
            }
        }
        let leaf_width = self.trees.leaf_width as usize;
        for (t, &root) in self.trees.roots.iter().enumerate() {
            if root & LEAF != 0 {
                continue;
            }
            let target = if leaf_width == 1 { self.target(t) } else { 0 };
            let mut walk = Walk {
                tables: self,
                x,
                out,
                w,
                target,
            };
            if self.depth <= QUAD_MAX_DEPTH {
                walk.quad(root, [1.0; QN], quad, 0);
            } else {
                walk.recurse(root, 0, path, 0, 1.0, 1.0, NO_FEATURE);
            }
        }
    }
}

/// Points of the quadrature walk (`Walk::quad`).
const QN: usize = 8;

/// Deepest tree the quadrature walk takes: its integrands are polynomials of degree below
/// the depth, and [`QN`]-point Gauss–Legendre quadrature is exact up to degree `2 QN - 1`.
const QUAD_MAX_DEPTH: usize = 2 * QN;

/// Gauss–Legendre nodes on [0, 1] for [`QN`] points: `(1 ± x_k) / 2` of the classic
/// [-1, 1] nodes.
const GL_S: [f64; QN] = {
    const X: [f64; 4] = [
        0.183_434_642_495_649_8,
        0.525_532_409_916_329,
        0.796_666_477_413_626_7,
        0.960_289_856_497_536_3,
    ];
    let mut s = [0.0; QN];
    let mut k = 0;
    while k < 4 {
        s[2 * k] = (1.0 - X[k]) / 2.0;
        s[2 * k + 1] = (1.0 + X[k]) / 2.0;
        k += 1;
    }
    s
};

/// Their weights on [0, 1] (half the classic ones).
const GL_W: [f64; QN] = {
    const W: [f64; 4] = [
        0.362_683_783_378_362,
        0.313_706_645_877_887_3,
        0.222_381_034_453_374_5,
        0.101_228_536_290_376_3,
    ];
    let mut w = [0.0; QN];
    let mut k = 0;
    while k < 4 {
        w[2 * k] = W[k] / 2.0;
        w[2 * k + 1] = W[k] / 2.0;
        k += 1;
    }
    w
};

/// A split on the path of the quadrature walk: its feature, zero and one fractions, and
/// `1 / (zero · (1 - s) + one · s)` at each quadrature point.
#[derive(Debug, Clone, Copy)]
struct QuadElement {
    feature: u32,
    zero: f64,
    one: f64,
    /// Undone by a later split on the same feature, below which it does not count.
    active: bool,
    inv: [f64; QN],
}

impl Default for QuadElement {
    fn default() -> Self {
        QuadElement {
            feature: NO_FEATURE,
            zero: 0.0,
            one: 0.0,
            active: false,
            inv: [0.0; QN],
        }
    }
}

/// One tree's Tree SHAP walk for one row.
struct Walk<'t, 'a, 'x> {
    tables: &'t TreeTables<'a>,
    x: &'x [f64],
    out: &'x mut [f64],
    /// Values per output in `out`.
    w: usize,
    /// The output a one-value leaf adds to.
    target: usize,
}

impl Walk<'_, '_, '_> {
    /// Tree SHAP by quadrature, for trees of at most [`QUAD_MAX_DEPTH`] levels: the same
    /// values as Algorithm 2's walk (`Walk::recurse`), computed from Shapley weights as
    /// integrals. An entry's unwound sum is `∫₀¹ Π_{j≠e} (z_j (1-s) + o_j s) ds` (the
    /// Beta integral of the permutation weights), a polynomial of degree below the path's
    /// length, which the Gauss–Legendre points integrate exactly: the walk carries the
    /// product `g` of every entry's factor at each point, divides one entry's factor out at
    /// the leaf, and undoes a repeated feature's split by dividing its factor out of `g`.
    /// No path table is copied or unwound: a node costs [`QN`] products, a leaf entry
    /// [`QN`] more.
    fn quad(&mut self, r: u32, g: [f64; QN], elems: &mut [QuadElement], n: usize) {
        let t = self.tables;
        if r & LEAF != 0 {
            let values = t.leaf(r);
            let wg: [f64; QN] = std::array::from_fn(|p| GL_W[p] * g[p]);
            for e in elems.iter().take(n) {
                if !e.active {
                    continue;
                }
                let u: f64 = wg.iter().zip(&e.inv).map(|(a, b)| a * b).sum();
                let weight = u * (e.one - e.zero) * t.scale;
                let f = e.feature as usize;
                if values.len() == 1 {
                    if let Some(o) = self.out.get_mut(self.target * self.w + f) {
                        *o += weight * values[0];
                    }
                } else {
                    for (j, v) in values.iter().enumerate() {
                        if let Some(o) = self.out.get_mut(j * self.w + f) {
                            *o += weight * v;
                        }
                    }
                }
            }
            return;
        }
        let Some(node) = t.nodes.get(r as usize).copied() else {
            return;
        };
        if n >= elems.len() {
            // Deeper than measured (never): stop rather than index past the table.
            return;
        }
        let left = t.goes_left(&node, self.x);
        let (hot, cold, hot_share, cold_share) = if left {
            (node.left, node.right, node.left_share, node.right_share)
        } else {
            (node.right, node.left, node.right_share, node.left_share)
        };
        // A feature already on the path: its split is undone, and redone with this one's.
        let prev = (0..n).find(|&k| elems[k].active && elems[k].feature == node.feature);
        let (mut base, in_zero, in_one) = (g, 1.0, 1.0);
        let (in_zero, in_one) = match prev {
            Some(k) => {
                let e = elems[k];
                for (b, i) in base.iter_mut().zip(&e.inv) {
                    *b *= i;
                }
                elems[k].active = false;
                (e.zero, e.one)
            }
            None => (in_zero, in_one),
        };
        for (child, share, one) in [(hot, hot_share, in_one), (cold, cold_share, 0.0)] {
            let zero = share * in_zero;
            if zero == 0.0 && one == 0.0 {
                // No weight reaches the subtree: it contributes nothing.
                continue;
            }
            let mut e = QuadElement {
                feature: node.feature,
                zero,
                one,
                active: true,
                inv: [0.0; QN],
            };
            let mut gc = base;
            for ((inv, g), s) in e.inv.iter_mut().zip(gc.iter_mut()).zip(GL_S) {
                let f = zero * (1.0 - s) + one * s;
                *inv = 1.0 / f;
                *g *= f;
            }
            elems[n] = e;
            self.quad(child, gc, elems, n + 1);
        }
        if let Some(k) = prev {
            elems[k].active = true;
        }
    }

    /// Algorithm 2's RECURSE at reference `r`: the parent's path is
    /// `path[start..start + depth]`, this node's is built right after it.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &mut self,
        r: u32,
        depth: usize,
        path: &mut [PathElement],
        start: usize,
        zero: f64,
        one: f64,
        feature: u32,
    ) {
        let here = start + depth;
        if path.len() < here + depth + 1 {
            // Deeper than the table sized for this model (never, for a tree whose depth was
            // measured): the walk stops rather than reading past it.
            return;
        }
        path.copy_within(start..here, here);
        let (_, mine) = path.split_at_mut(here);
        let mut depth = depth;
        extend(mine, depth, zero, one, feature);
        let t = self.tables;
        if r & LEAF != 0 {
            let values = t.leaf(r);
            let cold = cold_sum(mine, depth) * (depth + 1) as f64;
            // The entries' unwound sums, [`SUM_LANES`] entries at a time in lockstep (their
            // chains are independent: they pipeline, where one entry's chain would wait on
            // each step). Entries the row does not follow take the shared cold sum instead.
            let mut i0 = 1;
            while i0 <= depth {
                let n = (depth + 1 - i0).min(SUM_LANES);
                let lanes = hot_sums(mine, depth, i0, n);
                for (k, &hot) in lanes.iter().enumerate().take(n) {
                    let e = mine[i0 + k];
                    let sum = if e.one == 1.0 {
                        hot
                    } else if e.one != 0.0 {
                        unwound_sum_hot(mine, depth, i0 + k)
                    } else if e.zero != 0.0 {
                        cold / e.zero
                    } else {
                        0.0
                    };
                    let weight = sum * (e.one - e.zero) * t.scale;
                    let f = e.feature as usize;
                    if values.len() == 1 {
                        if let Some(o) = self.out.get_mut(self.target * self.w + f) {
                            *o += weight * values[0];
                        }
                    } else {
                        for (j, v) in values.iter().enumerate() {
                            if let Some(o) = self.out.get_mut(j * self.w + f) {
                                *o += weight * v;
                            }
                        }
                    }
                }
                i0 += n;
            }
            return;
        }
        let Some(n) = t.nodes.get(r as usize).copied() else {
            return;
        };
        let left = t.goes_left(&n, self.x);
        let (hot, cold, hot_share, cold_share) = if left {
            (n.left, n.right, n.left_share, n.right_share)
        } else {
            (n.right, n.left, n.right_share, n.left_share)
        };
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        if let Some(k) = (0..=depth).find(|&k| mine[k].feature == n.feature) {
            in_zero = mine[k].zero;
            in_one = mine[k].one;
            unwind(mine, depth, k);
            depth -= 1;
        }
        self.recurse(
            hot,
            depth + 1,
            path,
            here,
            hot_share * in_zero,
            in_one,
            n.feature,
        );
        self.recurse(
            cold,
            depth + 1,
            path,
            here,
            cold_share * in_zero,
            0.0,
            n.feature,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use icebreak_format::{MissingRule, ModelSpec, Split, StageSpec, TreeNode, TreesSpec};

    /// The quadrature walk (trees up to 16 levels) and Algorithm 2's walk (deeper trees)
    /// give the same contributions, on random trees of up to 10 levels with repeated
    /// features and missing values.
    #[test]
    fn quadrature_and_algorithm_2_agree() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let n_in = 6u32;
        let mut t = TreesSpec {
            n_in,
            n_out: 1,
            leaf_width: 1,
            base: vec![0.25],
            ..TreesSpec::default()
        };
        let mut leaf_covers = Vec::new();
        // Depth-first: (parent node, is left child, depth).
        for _ in 0..6 {
            let mut stack: Vec<(Option<(usize, bool)>, u32)> = vec![(None, 10)];
            let mut root = None;
            while let Some((parent, depth)) = stack.pop() {
                let r = if depth == 0 || (depth < 8 && next(5) == 0) {
                    t.leaves.push(next(2001) as f64 / 100.0 - 10.0);
                    leaf_covers.push(1.0 + next(30) as f64);
                    LEAF | (t.leaves.len() as u32 - 1)
                } else {
                    t.nodes.push(TreeNode {
                        feature: next(u64::from(n_in)) as u32,
                        split: Split::Le(next(5) as f64 - 2.0),
                        missing: MissingRule::Default,
                        default_left: next(2) == 0,
                        left: 0,
                        right: 0,
                    });
                    let at = t.nodes.len() - 1;
                    stack.push((Some((at, false)), depth - 1));
                    stack.push((Some((at, true)), depth - 1));
                    at as u32
                };
                match parent {
                    Some((p, true)) => t.nodes[p].left = r,
                    Some((p, false)) => t.nodes[p].right = r,
                    None => root = Some(r),
                }
            }
            t.roots.push(root.unwrap());
        }
        // Covers: each node's, the sum of its children's (children follow their parents).
        let n_nodes = t.nodes.len();
        let mut covers = vec![0.0; n_nodes];
        let cover = |r: u32, covers: &[f64]| {
            if r & LEAF != 0 {
                leaf_covers[(r & !LEAF) as usize]
            } else {
                covers[r as usize]
            }
        };
        for i in (0..n_nodes).rev() {
            covers[i] = cover(t.nodes[i].left, &covers) + cover(t.nodes[i].right, &covers);
        }
        t.covers = covers;
        t.covers.extend(&leaf_covers);
        let spec = ModelSpec::builder(n_in)
            .missing(icebreak_format::MissingValues::Nan)
            .stage(StageSpec::Trees(t))
            .build();
        let file = icebreak_format::write(&spec).unwrap();
        let apr = icebreak_format::Apr::parse_verified(&file).unwrap();
        let Stage::Trees(trees) = apr.stages()[0] else {
            panic!("trees")
        };
        let tables = TreeTables::new(trees).unwrap();
        assert!(tables.depth <= QUAD_MAX_DEPTH && tables.depth >= 8);
        let d = tables.depth + 2;
        let mut path = vec![PathElement::default(); d * (d + 1) / 2];
        let mut quad = vec![QuadElement::default(); tables.depth + 1];
        for _ in 0..200 {
            let x: Vec<f64> = (0..n_in)
                .map(|_| match next(7) {
                    6 => f64::NAN,
                    k => k as f64 - 2.5,
                })
                .collect();
            let w = n_in as usize + 1;
            let (mut a, mut b) = (vec![0.0; w], vec![0.0; w]);
            for (t_, &root) in trees.roots.iter().enumerate() {
                let _ = t_;
                let mut walk = Walk {
                    tables: &tables,
                    x: &x,
                    out: &mut a,
                    w,
                    target: 0,
                };
                walk.quad(root, [1.0; QN], &mut quad, 0);
                let mut walk = Walk {
                    tables: &tables,
                    x: &x,
                    out: &mut b,
                    w,
                    target: 0,
                };
                walk.recurse(root, 0, &mut path, 0, 1.0, 1.0, NO_FEATURE);
            }
            for (u, v) in a.iter().zip(&b) {
                assert!(
                    (u - v).abs() <= 1e-12 * (1.0 + v.abs()),
                    "{x:?}: {a:?} vs {b:?}"
                );
            }
        }
    }
}
