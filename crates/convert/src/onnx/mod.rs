//! ONNX models, as scikit-learn's `skl2onnx` and `torch.onnx.export` write them.
//!
//! The file is decoded with prost (the generated code is committed in `proto.rs`, made by
//! `scripts/onnx/regen.sh` from onnx 1.23.2's `onnx.proto3`; building needs no `protoc`).
//! The importer is not a general graph interpreter: it walks the nodes in order and
//! recognises the patterns the exporters write, tracking what each tensor *is* — a constant,
//! the feature rows after the preprocessors so far, the estimator's scores, probabilities, a
//! class label — and refuses anything else with a [`ConvertError::Invalid`] naming the op
//! type and the node (and the attribute, when one is the reason).
//!
//! # What maps
//!
//! | ONNX | `.apr` |
//! |---|---|
//! | `Scaler` (`offset`, `scale`) | `standard_scaler` with `mean = offset`, `scale = 1 / scale` |
//! | `Mul` then `Add` by constants (skl2onnx's `MinMaxScaler`) | `min_max_scaler` |
//! | `Normalizer` on the features (`L1`, `L2`, `MAX`) | `normalizer` |
//! | `Imputer` (`imputed_value_floats`, `replaced_value_float`) | `imputer` |
//! | `Sub(mean)`, `MatMul`, optional `Div(sqrt(explained_variance))` (skl2onnx's PCA) | `pca` (with `whiten`) |
//! | `LinearRegressor` | `linear` (`targets` outputs) |
//! | `LinearClassifier` | `linear`; post `NONE`, `LOGISTIC` or `SOFTMAX`; two classes with the exporter's negated pair of rows become one score (`binary_logistic`, or a decision value) |
//! | `MatMul` + `Add`, `Gemm` (constant weights) | `linear`, or `dense` layers when an activation (`Relu`, `Tanh`, `Sigmoid`) or another layer follows |
//! | `TreeEnsembleRegressor`, `TreeEnsembleClassifier` | `trees` (see [below](#trees)) |
//! | `SVMClassifier`, `SVMRegressor` | `svm` (`coefficients` and `rho` are libsvm's dual coefficients and intercepts, as onnxruntime reads them); a multi-class model without probabilities must be followed by skl2onnx's one-vs-rest block, which is evaluated on test vectors against scikit-learn's formula |
//! | `ReduceSumSquare`, `Mul(0)`, `Gemm(alpha = -2)`, `Add`, `Add(‖c‖²)`, `ArgMin` / `Sqrt` (skl2onnx's KMeans) | `kmeans` (labels `0..k`) |
//! | `Reshape`, `Sub(θ)`, `Pow(2)`, `Div(σ²)`, `ReduceSum`, `Mul(0.5)`, `Sub(log_norm)`, `Add(log_prior)`, then `ReduceLogSumExp` … `Exp` (skl2onnx's GaussianNB) | `gaussian_nb` + `softmax` |
//! | `Softmax`, `Sigmoid` on scores | `softmax`, `logistic` |
//! | `Normalizer` (`L1`) after `LOGISTIC` scores | `ovr_normalize` |
//! | skl2onnx's `Mul(-1) Exp Add(1) Reciprocal` sigmoid, its `ReduceSum`/`Div` normalisation (with the all-zero guard) | `logistic`, `ovr_normalize` |
//! | `Sub(1, p)` + `Concat` of a sigmoid | `binary_logistic` |
//!
//! A graph whose only output is the transformed features (a scaler, a PCA, a pipeline of
//! them) becomes a `transform` model.
//!
//! Glue that does not change the answer is followed and checked: `Cast` to a float type,
//! `Identity`, `ZipMap`, `ArgMax` to a label, `ArrayFeatureExtractor` of the class list by a
//! label (the labels recorded are that list) or of the positive column of a binary score,
//! `Reshape`/`Cast` of a label, `Constant`.
//!
//! Class labels are the estimator's (`classlabels_ints` / `classlabels_strings` /
//! `classlabels_int64s`), or the constant the label is looked up in: integers stay integers,
//! strings stay strings.
//!
//! # Trees
//!
//! Each node's mode maps onto a split: `BRANCH_LEQ` ≤, `BRANCH_LT` <, `BRANCH_GTE` ≥,
//! `BRANCH_GT` >, `BRANCH_EQ` =, `BRANCH_NEQ` ≠, and `nodes_missing_value_tracks_true` sends
//! NaN to the true branch (otherwise NaN takes the false branch, as a failed comparison does
//! in onnxruntime). Trees are identified by `(treeid, nodeid)`, walked from node 0 of each tree
//! (a tree's smallest node id when it has no node 0 is refused), every node reached once.
//! Leaf weights per `(tree, node)` are summed per class or target; `base_values` become the
//! base (for a binary classifier with one scored class, a one-output ensemble whose score
//! goes through `binary_logistic` (`LOGISTIC`) or is the decision value (`NONE`)).
//! `aggregate_function` `SUM` or `AVERAGE`; `MIN`/`MAX` and `PROBIT`/`SOFTMAX_ZERO` are refused.
//!
//! Thresholds: onnxruntime compares the input's own type against the stored threshold.
//! With a `float` input, the feature is rounded to f32 first (`round_f32`) and the threshold
//! kept as stored. scikit-learn itself compares `float32(x) <= threshold_f64`; when the model
//! was exported with a `double` input, skl2onnx stores that f64 threshold
//! (`nodes_values_as_tensor`) and the importer keeps `round_f32` on for a model whose
//! producer is `skl2onnx`, which reproduces scikit-learn exactly where onnxruntime (comparing
//! the unrounded double) does not. docs/FIDELITY.md lists each case.

mod graph;
/// The ONNX protobuf messages (prost code generated from onnx 1.23.2's `onnx.proto3` by
/// `scripts/onnx/regen.sh`), for tools and tests that build or inspect ONNX models.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto;
mod trees;

use crate::{ConvertError, CONVERTER};
use graph::{dtype, invalid, Data, Node, Tensor};
use icebreak_format::{
    Activation, InputSpec, Kernel, LabelsSpec, MissingValues, ModelSpec, Norm, OutputSpec,
    PostTransform, ProvenanceSpec, StageSpec, SvmSpec, Task, MAX_DIM,
};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Options of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction. Default: `onnx-` and the first 12
    /// hex digits of the source file's SHA-256.
    pub model_version: Option<String>,
    /// A human name for the model. Default: the graph's name, when it has one.
    pub model_name: Option<String>,
}

/// Converts an ONNX model file into a model spec, with default [`Options`]. Write the result
/// with [`icebreak_format::write`].
pub fn convert(bytes: &[u8]) -> Result<ModelSpec, ConvertError> {
    convert_with(bytes, &Options::default())
}

/// Converts an ONNX model file into a model spec.
pub fn convert_with(bytes: &[u8], options: &Options) -> Result<ModelSpec, ConvertError> {
    let sha: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| invalid(format!("malformed ONNX protobuf: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the ONNX model has no graph (is this an ONNX file?)"))?;
    let mut ml_opset = None;
    for o in &model.opset_import {
        if o.domain == "ai.onnx.ml" {
            ml_opset = Some(o.version);
        }
    }
    let mut w = Walker::new(&model, graph, ml_opset)?;
    for (i, n) in graph.node.iter().enumerate() {
        if w.skip.contains(&i) {
            continue;
        }
        w.pos = i;
        w.node(Node { p: n })?;
    }
    w.finish(sha, options)
}

/// What a tensor of the graph is.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    /// A constant.
    Const(Tensor),
    /// The feature rows after the first `.0` stages (all preprocessors).
    Rows(usize),
    /// `rows · W + b`, not yet committed to a stage: `w` is `n_out × n_in`, row-major.
    Affine {
        at: usize,
        n_out: usize,
        w: Vec<f64>,
        b: Vec<f64>,
    },
    /// skl2onnx's MinMaxScaler: `rows * mul (+ add)`.
    ScaleShift {
        at: usize,
        mul: Vec<f64>,
        add: Option<Vec<f64>>,
    },
    /// The estimator's output after `post` (the estimator is the last stage).
    Out(Out),
    /// A class label (an index, or the label itself).
    Label,
    /// A ZipMap of the probabilities.
    Map(Out),
    /// A step of a recognised multi-node pattern over the scores.
    Step(Step, Out),
    /// A step of a recognised multi-node pattern over the features.
    Pat(Pat),
    /// An output of the estimator read before a later layer replaced it (an MLP's hidden
    /// layer read twice): reading it again is refused.
    Stale,
}

/// Intermediate values of the feature-side patterns skl2onnx writes.
#[derive(Debug, Clone, PartialEq)]
enum Pat {
    /// PCA: `x - mean`.
    Centered { at: usize, mean: Vec<f64> },
    /// PCA: `(x - mean) · W`; `comps` is `n_out × n_in`.
    PcaPending {
        at: usize,
        mean: Vec<f64>,
        comps: Vec<f64>,
        n_out: usize,
    },
    /// KMeans: `Σ x_i²` per row.
    KmRowSq { at: usize },
    /// KMeans: `0 · Σ x_i²` (skl2onnx's zero bias column for its Gemm).
    KmZero { at: usize },
    /// KMeans: `-2 x · Cᵀ`; `centers` is `k × n_in`.
    KmCross {
        at: usize,
        centers: Vec<f64>,
        k: usize,
    },
    /// KMeans: `Σ x_i² - 2 x · Cᵀ`.
    KmPartial {
        at: usize,
        centers: Vec<f64>,
        k: usize,
    },
    /// GaussianNB: the features reshaped to `[N, 1, n]`.
    NbX { at: usize },
    /// GaussianNB: `x - θ`, then squared, then divided by the variances, summed, halved.
    Nb {
        at: usize,
        step: u8,
        theta: Vec<f64>,
        var: Vec<f64>,
        k: usize,
    },
}

/// The estimator's output as it flows through the post-processing glue.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Out {
    /// Width of the tensor as onnxruntime computes it.
    width: usize,
    /// Post transform applied so far.
    post: Option<PostTransform>,
    /// A binary classifier whose tensor is `[-z, z]` (or `[1 - p, p]`) but whose `.apr` score
    /// is the single `z`.
    binary_pair: bool,
}

/// Intermediate values of the patterns skl2onnx writes around scores.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// `-z`
    Neg,
    /// `exp(-z)`
    ExpNeg,
    /// `1 + exp(-z)`
    OnePlusExpNeg,
    /// `Σ_j p_j` (of the logistic scores).
    RowSum,
    /// `Σ_j p_j != 0` as bool.
    RowSumBool,
    /// `Σ_j p_j == 0` as bool.
    RowSumZero,
    /// `Σ_j p_j == 0` as float.
    ZeroMask,
    /// `k · [Σ_j p_j == 0]`.
    ZeroMaskK,
    /// `p + [Σ == 0]`
    GuardedP,
    /// `Σ + k · [Σ == 0]`
    GuardedSum,
    /// `1 - p` of a one-column sigmoid.
    OneMinusP,
    /// `log Σ_j e^{z_j}` (GaussianNB).
    Lse,
    /// `z - log Σ_j e^{z_j}` (GaussianNB).
    LogProb,
    /// Squared distances to the KMeans centres.
    KmSquared,
}

struct Walker<'m> {
    model: &'m proto::ModelProto,
    vals: HashMap<String, Val>,
    n_features: usize,
    input_f32: bool,
    stages: Vec<StageSpec>,
    labels: Option<LabelsSpec>,
    /// The last pending value committed to a stage, and what it became.
    settled: Option<(Val, Val)>,
    /// Index of the node being read.
    pos: usize,
    /// Nodes already accounted for by a recognised block (the SVM's one-vs-rest scores).
    skip: std::collections::HashSet<usize>,
    /// Whether the estimator was a tree ensemble (NaN is then routed, not refused).
    trees: bool,
    ml_opset: Option<i64>,
}

fn f32_vec(v: &[f64], what: &dyn Fn() -> String) -> Result<Vec<f32>, ConvertError> {
    v.iter()
        .map(|&x| {
            let f = x as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(invalid(format!(
                    "{}: value {x} is not a finite f32",
                    what()
                )))
            }
        })
        .collect()
}

fn dim(what: &str, v: usize) -> Result<u32, ConvertError> {
    u32::try_from(v)
        .ok()
        .filter(|&d| (1..=MAX_DIM).contains(&d))
        .ok_or_else(|| invalid(format!("{what} is {v}, outside 1..={MAX_DIM}")))
}

impl<'m> Walker<'m> {
    fn new(
        model: &'m proto::ModelProto,
        graph: &'m proto::GraphProto,
        ml_opset: Option<i64>,
    ) -> Result<Self, ConvertError> {
        let mut vals = HashMap::new();
        for t in &graph.initializer {
            let v = graph::tensor(t, &format!("initializer {:?}", t.name))?;
            vals.insert(t.name.clone(), Val::Const(v));
        }
        let inputs: Vec<&proto::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !vals.contains_key(&i.name))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(invalid(format!(
                "the graph has {} inputs; icebreak converts graphs with one input tensor of \
                 features",
                inputs.len()
            )));
        };
        let (elem, dims) = graph::input_type(input)
            .ok_or_else(|| invalid(format!("graph input {:?} is not a tensor", input.name)))?;
        let input_f32 = match elem {
            dtype::FLOAT => true,
            dtype::DOUBLE => false,
            other => {
                return Err(invalid(format!(
                    "graph input {:?} has element type {other}; float (1) or double (11) is \
                     supported",
                    input.name
                )))
            }
        };
        let n_features = match dims.as_slice() {
            [_, Some(n)] if *n >= 1 => {
                usize::try_from(*n).map_err(|_| invalid("bad input width"))?
            }
            _ => {
                return Err(invalid(format!(
                    "graph input {:?} must have shape [batch, n_features] with a known \
                     n_features, found {dims:?}",
                    input.name
                )))
            }
        };
        dim("the input's feature count", n_features)?;
        vals.insert(input.name.clone(), Val::Rows(0));
        Ok(Walker {
            model,
            vals,
            n_features,
            input_f32,
            stages: Vec::new(),
            labels: None,
            settled: None,
            pos: 0,
            skip: std::collections::HashSet::new(),
            trees: false,
            ml_opset,
        })
    }

    fn has_estimator(&self) -> bool {
        self.stages.iter().any(|s| {
            !matches!(
                s,
                StageSpec::StandardScaler { .. }
                    | StageSpec::MinMaxScaler { .. }
                    | StageSpec::Normalizer { .. }
                    | StageSpec::Imputer { .. }
                    | StageSpec::Pca { .. }
                    | StageSpec::Post(_)
            )
        })
    }

    /// The width of the rows after the first `at` stages.
    fn width_at(&self, at: usize) -> usize {
        let mut w = self.n_features;
        for s in &self.stages[..at] {
            match s {
                StageSpec::Linear { n_out, .. }
                | StageSpec::Dense { n_out, .. }
                | StageSpec::Pca { n_out, .. } => w = *n_out as usize,
                StageSpec::KMeans { k, .. } => w = *k as usize,
                StageSpec::GaussianNb { n_classes, .. } => w = *n_classes as usize,
                _ => {}
            }
        }
        w
    }

    /// Turns the last stage, a linear map or an identity dense layer, into a dense layer
    /// with `act` (an MLP's hidden layer, recognised when its activation or the next layer
    /// is read).
    fn make_dense(&mut self, node: &Node<'_>, act: Activation) -> Result<(), ConvertError> {
        let last = self.stages.pop();
        let (n_in, n_out, weights, bias) = match last {
            Some(StageSpec::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            }) => (n_in, n_out, coef, intercept),
            Some(StageSpec::Dense {
                n_in,
                n_out,
                activation: Activation::Identity,
                weights,
                bias,
            }) => (n_in, n_out, weights, bias),
            other => {
                if let Some(o) = other {
                    self.stages.push(o);
                }
                return Err(node.err(
                    "an activation is only supported right after a dense layer (MatMul + Add \
                     or Gemm)",
                ));
            }
        };
        self.stages.push(StageSpec::Dense {
            n_in,
            n_out,
            activation: act,
            weights,
            bias,
        });
        self.settled = None;
        self.stale_outputs();
        Ok(())
    }

    /// Whatever was computed from a layer that has become hidden no longer exists.
    fn stale_outputs(&mut self) {
        for v in self.vals.values_mut() {
            if matches!(v, Val::Out(_) | Val::Step(..) | Val::Map(_) | Val::Label) {
                *v = Val::Stale;
            }
        }
    }

    fn input<'v>(&'v self, node: &Node<'_>, i: usize) -> Result<&'v Val, ConvertError> {
        let name = node
            .p
            .input
            .get(i)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| node.err(format_args!("input {i} is missing")))?;
        self.vals.get(name).ok_or_else(|| {
            node.err(format_args!(
                "input {name:?} is not produced by an earlier node, an initializer or the graph \
                 input"
            ))
        })
    }

    fn konst<'v>(&'v self, node: &Node<'_>, i: usize) -> Result<&'v Tensor, ConvertError> {
        match self.input(node, i)? {
            Val::Const(t) => Ok(t),
            _ => Err(node.err(format_args!("input {i} must be a constant"))),
        }
    }

    fn set(&mut self, node: &Node<'_>, i: usize, v: Val) -> Result<(), ConvertError> {
        let Some(name) = node.p.output.get(i).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        if self.vals.insert(name.clone(), v).is_some() {
            return Err(node.err(format_args!("output {name:?} is produced twice")));
        }
        Ok(())
    }

    /// The current feature rows, refusing rows from before the last stage (a graph that
    /// branches).
    fn rows(&mut self, node: &Node<'_>, v: Val) -> Result<usize, ConvertError> {
        let v = self.settle(node, v)?;
        match v {
            Val::Rows(at) if at == self.stages.len() => Ok(self.width_at(at)),
            Val::Rows(_) => Err(node.err(
                "reads the features as they were before a later stage: graphs that branch are \
                 not supported",
            )),
            _ => Err(node.err("expects the feature rows as its input")),
        }
    }

    /// Commits a pending affine map or scale-shift into a stage, giving rows or scores. A
    /// pending value read by several nodes is committed once.
    fn settle(&mut self, node: &Node<'_>, v: Val) -> Result<Val, ConvertError> {
        if !matches!(
            v,
            Val::Affine { .. }
                | Val::ScaleShift { .. }
                | Val::Pat(Pat::Centered { .. } | Pat::PcaPending { .. })
        ) {
            return Ok(v);
        }
        if let Some((pending, done)) = &self.settled {
            if *pending == v {
                return Ok(done.clone());
            }
        }
        let done = self.commit(node, v.clone())?;
        self.settled = Some((v, done.clone()));
        Ok(done)
    }

    fn commit(&mut self, node: &Node<'_>, v: Val) -> Result<Val, ConvertError> {
        match v {
            Val::ScaleShift { at, mul, add } => {
                self.check_fresh(node, at)?;
                if self.has_estimator() {
                    return Err(node.err("a scaler after the estimator is not supported"));
                }
                let add = add.unwrap_or_else(|| vec![0.0; mul.len()]);
                let what = || node.at();
                self.stages.push(StageSpec::MinMaxScaler {
                    scale: f32_vec(&mul, &what)?,
                    min: f32_vec(&add, &what)?,
                });
                Ok(Val::Rows(self.stages.len()))
            }
            Val::Affine { at, n_out, w, b } => {
                self.check_fresh(node, at)?;
                let chained = matches!(self.stages.last(), Some(StageSpec::Dense { .. }));
                if self.has_estimator() && !chained {
                    return Err(node.err("a linear map after the estimator is not supported"));
                }
                let n_in = self.width_at(at);
                let what = || node.at();
                let width = n_out;
                let (n_in, n_out) = (
                    dim("the linear input width", n_in)?,
                    dim("the linear output width", n_out)?,
                );
                let (w, b) = (f32_vec(&w, &what)?, f32_vec(&b, &what)?);
                self.stages.push(if chained {
                    StageSpec::Dense {
                        n_in,
                        n_out,
                        activation: Activation::Identity,
                        weights: w,
                        bias: b,
                    }
                } else {
                    StageSpec::Linear {
                        n_in,
                        n_out,
                        coef: w,
                        intercept: b,
                    }
                });
                Ok(Val::Out(Out {
                    width,
                    post: None,
                    binary_pair: false,
                }))
            }
            Val::Pat(Pat::Centered { at, mean }) => self.commit_pca(node, at, mean, None, None),
            Val::Pat(Pat::PcaPending {
                at,
                mean,
                comps,
                n_out,
            }) => self.commit_pca(node, at, mean, Some((comps, n_out)), None),
            other => Ok(other),
        }
    }

    /// Pushes a PCA stage: `(x - mean) · componentsᵀ / whiten`.
    fn commit_pca(
        &mut self,
        node: &Node<'_>,
        at: usize,
        mean: Vec<f64>,
        comps: Option<(Vec<f64>, usize)>,
        whiten: Option<Vec<f64>>,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        if self.has_estimator() {
            return Err(node.err("a PCA after the estimator is not supported"));
        }
        let Some((comps, n_out)) = comps else {
            return Err(node.err(
                "a mean subtracted from the features without the PCA projection (MatMul) that \
                 follows is not supported",
            ));
        };
        let n_in = self.width_at(at);
        let what = || node.at();
        self.stages.push(StageSpec::Pca {
            n_in: dim("the PCA input width", n_in)?,
            n_out: dim("the PCA components", n_out)?,
            mean: f32_vec(&mean, &what)?,
            components: f32_vec(&comps, &what)?,
            whiten: whiten.map(|w| f32_vec(&w, &what)).transpose()?,
        });
        Ok(Val::Rows(self.stages.len()))
    }

    fn check_fresh(&self, node: &Node<'_>, at: usize) -> Result<(), ConvertError> {
        if at == self.stages.len() {
            Ok(())
        } else {
            Err(node.err("graphs that branch are not supported"))
        }
    }

    fn require_ml(&self, node: &Node<'_>) -> Result<(), ConvertError> {
        if node.p.domain != "ai.onnx.ml" {
            return Err(node.err(format_args!(
                "domain {:?}: this operator is only known in ai.onnx.ml",
                node.p.domain
            )));
        }
        match self.ml_opset {
            Some(v) if (1..=4).contains(&v) => Ok(()),
            Some(v) => Err(node.err(format_args!(
                "ai.onnx.ml opset {v} is not supported (1 to 4 are)"
            ))),
            None => Err(node.err("the model imports no ai.onnx.ml opset")),
        }
    }

    fn set_labels(&mut self, node: &Node<'_>, labels: LabelsSpec) -> Result<(), ConvertError> {
        match &self.labels {
            Some(old) if *old != labels => {
                Err(node.err("the class labels differ from the labels the estimator declared"))
            }
            _ => {
                self.labels = Some(labels);
                Ok(())
            }
        }
    }

    fn node(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        let d = node.p.domain.as_str();
        if !matches!(d, "" | "ai.onnx" | "ai.onnx.ml") {
            return Err(node.err(format_args!("domain {d:?} is not supported")));
        }
        if d != "ai.onnx.ml"
            && matches!(
                node.op(),
                "LinearClassifier"
                    | "LinearRegressor"
                    | "Scaler"
                    | "Normalizer"
                    | "Imputer"
                    | "ZipMap"
                    | "ArrayFeatureExtractor"
                    | "TreeEnsembleClassifier"
                    | "TreeEnsembleRegressor"
                    | "SVMClassifier"
                    | "SVMRegressor"
            )
        {
            self.require_ml(&node)?;
        }
        match node.op() {
            "Constant" => {
                node.arity(0..=0, 1)?;
                node.only(&["value"])?;
                let t = node
                    .tensor("value")?
                    .ok_or_else(|| node.err("only the tensor form (value) is supported"))?;
                self.set(&node, 0, Val::Const(t))
            }
            "Identity" => {
                node.arity(1..=1, 1)?;
                node.only(&[])?;
                let v = self.input(&node, 0)?.clone();
                self.set(&node, 0, v)
            }
            "Cast" => self.cast(node),
            "Scaler" => self.scaler(node),
            "LinearRegressor" => self.linear_regressor(node),
            "LinearClassifier" => self.linear_classifier(node),
            "TreeEnsembleRegressor" | "TreeEnsembleClassifier" => {
                self.require_ml(&node)?;
                let v = self.input(&node, 0)?.clone();
                let width = self.rows(&node, v)?;
                if self.has_estimator() {
                    return Err(node.err("a second estimator is not supported"));
                }
                let round_f32 = self.input_f32 || self.model.producer_name == "skl2onnx";
                let built = trees::build(&node, width, round_f32)?;
                self.stages.push(StageSpec::Trees(built.spec));
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
            "MatMul" => self.matmul(node),
            "Gemm" => self.gemm(node),
            "Add" => self.add(node),
            "Mul" => self.mul(node),
            "Sub" => self.sub(node),
            "Div" => self.div(node),
            "Exp" | "Reciprocal" | "Not" => self.unary_step(node),
            "Sqrt" => {
                node.arity(1..=1, 1)?;
                node.only(&[])?;
                match self.input(&node, 0)?.clone() {
                    // Folded: skl2onnx's PCA takes the root of its explained variances.
                    Val::Const(Tensor {
                        dims,
                        data: Data::Float(v),
                        is_f32,
                    }) => {
                        let v = v.iter().map(|x| x.sqrt()).collect();
                        let t = Tensor {
                            dims,
                            data: Data::Float(v),
                            is_f32,
                        };
                        self.set(&node, 0, Val::Const(t))
                    }
                    Val::Step(Step::KmSquared, o) => self.set(&node, 0, Val::Out(o)),
                    other => Err(node.err(format_args!(
                        "the square root of {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            "ReduceSum" => self.reduce_sum(node),
            "Concat" => self.concat(node),
            "Sigmoid" | "Softmax" => self.activation(node),
            "Normalizer" => self.normalizer(node),
            "ZipMap" => {
                node.arity(1..=1, 1)?;
                node.only(&["classlabels_int64s", "classlabels_strings"])?;
                let labels = match (
                    node.ints("classlabels_int64s")?,
                    node.strings("classlabels_strings")?,
                ) {
                    (Some(i), None) => LabelsSpec::Int(i.to_vec()),
                    (None, Some(s)) => LabelsSpec::Str(s),
                    _ => return Err(node.err("needs exactly one of the class label lists")),
                };
                let v = self.input(&node, 0)?.clone();
                let v = self.settle(&node, v)?;
                let Val::Out(out) = v else {
                    return Err(node.err("expects class probabilities or scores as its input"));
                };
                let n = match &labels {
                    LabelsSpec::Int(l) => l.len(),
                    LabelsSpec::Str(l) => l.len(),
                    LabelsSpec::None => 0,
                };
                if n != out.width {
                    return Err(node.err(format_args!(
                        "has {n} class labels for {} columns",
                        out.width
                    )));
                }
                self.set_labels(&node, labels)?;
                self.set(&node, 0, Val::Map(out))
            }
            "ArgMax" => {
                node.arity(1..=1, 1)?;
                node.only(&["axis", "keepdims", "select_last_index"])?;
                if !matches!(node.int("axis")?, Some(1) | Some(-1)) {
                    return Err(node.err("only axis 1 (per row) is supported"));
                }
                if node.int("select_last_index")?.unwrap_or(0) != 0 {
                    return Err(node
                        .err("select_last_index = 1 (the last of tied maxima) is not supported"));
                }
                let v = self.input(&node, 0)?.clone();
                let v = self.settle(&node, v)?;
                match v {
                    Val::Out(_) => self.set(&node, 0, Val::Label),
                    _ => Err(node.err("expects scores or probabilities as its input")),
                }
            }
            "ArrayFeatureExtractor" => self.array_feature_extractor(node),
            "Reshape" => {
                node.arity(2..=2, 1)?;
                node.only(&["allowzero"])?;
                let v = self.input(&node, 0)?.clone();
                let shape = self.konst(&node, 1)?.clone();
                match v {
                    Val::Label => self.set(&node, 0, Val::Label),
                    Val::Step(Step::Lse, o) => self.set(&node, 0, Val::Step(Step::Lse, o)),
                    v @ (Val::Affine { .. } | Val::Out(_)) => {
                        // A regressor's [-1, width] (or [-1, 1]) reshape changes nothing.
                        let v = self.settle(&node, v)?;
                        let Val::Out(o) = v else {
                            return Err(node.err("expects the estimator's output"));
                        };
                        let ok = match &shape.data {
                            Data::Int(d) => {
                                d.len() == 2
                                    && d[0] == -1
                                    && d[1] == o.width as i64
                                    && !o.binary_pair
                            }
                            _ => false,
                        };
                        if !ok {
                            return Err(node.err(format_args!(
                                "only a [-1, {}] reshape of the estimator's output is supported",
                                o.width
                            )));
                        }
                        self.set(&node, 0, Val::Out(o))
                    }
                    Val::Rows(at) => {
                        // GaussianNB: [N, n] → [N, 1, n].
                        let width = self.rows(&node, Val::Rows(at))?;
                        let ok = match &shape.data {
                            Data::Int(d) => {
                                d.len() == 3 && d[0] == -1 && d[1] == 1 && d[2] == width as i64
                            }
                            _ => false,
                        };
                        if !ok {
                            return Err(node.err(
                                "reshaping the features is only supported as GaussianNB's \
                                 [-1, 1, n_features]",
                            ));
                        }
                        self.set(&node, 0, Val::Pat(Pat::NbX { at }))
                    }
                    other => Err(node.err(format_args!(
                        "reshaping {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            "Relu" | "Tanh" => {
                node.arity(1..=1, 1)?;
                node.only(&[])?;
                let v = self.input(&node, 0)?.clone();
                let v = self.settle(&node, v)?;
                match v {
                    Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                        let act = if node.op() == "Relu" {
                            Activation::Relu
                        } else {
                            Activation::Tanh
                        };
                        self.make_dense(&node, act)?;
                        self.set(&node, 0, Val::Out(o))
                    }
                    other => Err(node.err(format_args!(
                        "applied to {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            "SVMClassifier" | "SVMRegressor" => self.svm(node),
            "ReduceSumSquare" => {
                node.arity(1..=1, 1)?;
                node.only(&["axes", "keepdims"])?;
                if node.ints("axes")? != Some(&[1][..]) || node.int("keepdims")?.unwrap_or(1) != 1 {
                    return Err(node.err("only a per-row sum kept as a column is supported"));
                }
                let v = self.input(&node, 0)?.clone();
                let at = self.stages.len();
                self.rows(&node, v)?;
                if self.has_estimator() {
                    return Err(node.err("a KMeans after the estimator is not supported"));
                }
                self.set(&node, 0, Val::Pat(Pat::KmRowSq { at }))
            }
            "ArgMin" => {
                node.arity(1..=1, 1)?;
                node.only(&["axis", "keepdims", "select_last_index"])?;
                if !matches!(node.int("axis")?, Some(1) | Some(-1))
                    || node.int("select_last_index")?.unwrap_or(0) != 0
                {
                    return Err(node.err("only axis 1, first of ties, is supported"));
                }
                match self.input(&node, 0)?.clone() {
                    Val::Step(Step::KmSquared, _) => self.set(&node, 0, Val::Label),
                    other => Err(node.err(format_args!(
                        "the arg-min of {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            "Imputer" => self.imputer(node),
            "Pow" => {
                node.arity(2..=2, 1)?;
                node.only(&[])?;
                let v = self.input(&node, 0)?.clone();
                let e = self.konst(&node, 1)?.scalar();
                match v {
                    Val::Pat(Pat::Nb {
                        at,
                        step: 1,
                        theta,
                        var,
                        k,
                    }) if e == Some(2.0) => self.set(
                        &node,
                        0,
                        Val::Pat(Pat::Nb {
                            at,
                            step: 2,
                            theta,
                            var,
                            k,
                        }),
                    ),
                    other => Err(node.err(format_args!(
                        "a power of {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            "ReduceLogSumExp" => {
                node.arity(1..=1, 1)?;
                node.only(&["axes", "keepdims"])?;
                if !matches!(node.ints("axes")?, Some([1]) | Some([-1])) {
                    return Err(node.err("only a per-row reduction is supported"));
                }
                match self.input(&node, 0)?.clone() {
                    Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                        self.set(&node, 0, Val::Step(Step::Lse, o))
                    }
                    other => Err(node.err(format_args!(
                        "a log-sum-exp of {} is not supported",
                        describe(&other)
                    ))),
                }
            }
            _ => Err(node.err("this operator is not supported")),
        }
    }

    fn cast(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["to", "saturate", "round_mode"])?;
        let to = node
            .int("to")?
            .ok_or_else(|| node.err("has no \"to\" attribute"))?;
        let v = self.input(&node, 0)?.clone();
        let v = match v {
            Val::Affine { .. } | Val::ScaleShift { .. } => self.settle(&node, v)?,
            other => other,
        };
        let to = i32::try_from(to).map_err(|_| node.err("bad \"to\""))?;
        let out = match (v, to) {
            (Val::Label, _) => Val::Label,
            (Val::Rows(at), dtype::FLOAT) if self.input_f32 || at > 0 => Val::Rows(at),
            (Val::Rows(at), dtype::DOUBLE) => Val::Rows(at),
            (Val::Rows(_), dtype::FLOAT) => {
                // double → float rounds every feature to f32 before what follows. The linear
                // stages compute in f32 already; trees would have to round too.
                self.input_f32 = true;
                Val::Rows(0)
            }
            (Val::Out(o), dtype::FLOAT | dtype::DOUBLE) => Val::Out(o),
            (Val::Step(Step::RowSum, o), dtype::BOOL) => Val::Step(Step::RowSumBool, o),
            (Val::Step(Step::RowSumZero, o), dtype::FLOAT | dtype::DOUBLE) => {
                Val::Step(Step::ZeroMask, o)
            }
            (Val::Const(t), _) => Val::Const(t),
            (other, to) => {
                return Err(node.err(format_args!(
                    "a cast to type {to} of {} is not supported",
                    describe(&other)
                )))
            }
        };
        self.set(&node, 0, out)
    }

    fn scaler(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["offset", "scale"])?;
        let v = self.input(&node, 0)?.clone();
        let width = self.rows(&node, v)?;
        if self.has_estimator() {
            return Err(node.err("a scaler after the estimator is not supported"));
        }
        let bcast = |name: &str| -> Result<Vec<f64>, ConvertError> {
            let v: Vec<f64> = node
                .floats(name)?
                .map(|f| f.iter().map(|&x| f64::from(x)).collect())
                .unwrap_or_default();
            match v.len() {
                0 => Ok(vec![if name == "scale" { 1.0 } else { 0.0 }; width]),
                1 => Ok(vec![v[0]; width]),
                n if n == width => Ok(v),
                n => Err(node.err(format_args!(
                    "attribute {name:?} has {n} values for {width} features"
                ))),
            }
        };
        let offset = bcast("offset")?;
        let scale = bcast("scale")?;
        let mut div = Vec::with_capacity(width);
        for &s in &scale {
            if s == 0.0 || !s.is_finite() {
                return Err(node.err(format_args!(
                    "attribute \"scale\" holds {s}, which a standard scaler cannot divide by"
                )));
            }
            div.push(1.0 / s);
        }
        let what = || node.at();
        self.stages.push(StageSpec::StandardScaler {
            mean: f32_vec(&offset, &what)?,
            scale: f32_vec(&div, &what)?,
        });
        self.set(&node, 0, Val::Rows(self.stages.len()))
    }

    fn linear_regressor(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 1)?;
        node.only(&["coefficients", "intercepts", "targets", "post_transform"])?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        if self.has_estimator() {
            return Err(node.err("a second estimator is not supported"));
        }
        post_none(&node)?;
        let targets = node.int("targets")?.unwrap_or(1);
        let targets = usize::try_from(targets)
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| node.err(format_args!("attribute \"targets\" is {targets}")))?;
        let coef = node.floats("coefficients")?.unwrap_or_default();
        if Some(coef.len()) != targets.checked_mul(n_in) {
            return Err(node.err(format_args!(
                "attribute \"coefficients\" has {} values, expected {targets} targets × {n_in} \
                 features",
                coef.len()
            )));
        }
        let icpt = node.floats("intercepts")?.unwrap_or_default();
        let icpt: Vec<f32> = match icpt.len() {
            0 => vec![0.0; targets],
            n if n == targets => icpt.to_vec(),
            n => {
                return Err(node.err(format_args!(
                    "attribute \"intercepts\" has {n} values for {targets} targets"
                )))
            }
        };
        finite(&node, "coefficients", coef)?;
        finite(&node, "intercepts", &icpt)?;
        self.stages.push(StageSpec::Linear {
            n_in: dim("n_in", n_in)?,
            n_out: dim("targets", targets)?,
            coef: coef.to_vec(),
            intercept: icpt,
        });
        self.set(
            &node,
            0,
            Val::Out(Out {
                width: targets,
                post: None,
                binary_pair: false,
            }),
        )
    }

    fn linear_classifier(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 2)?;
        node.only(&[
            "coefficients",
            "intercepts",
            "classlabels_ints",
            "classlabels_strings",
            "multi_class",
            "post_transform",
        ])?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        if self.has_estimator() {
            return Err(node.err("a second estimator is not supported"));
        }
        let labels = class_labels(&node, "classlabels_ints", "classlabels_strings")?;
        let k = labels_len(&labels);
        if k < 2 {
            return Err(node.err(format_args!("has {k} class labels, at least 2 are needed")));
        }
        let coef = node.floats("coefficients")?.unwrap_or_default();
        if n_in == 0 || coef.is_empty() || coef.len() % n_in != 0 {
            return Err(node.err(format_args!(
                "attribute \"coefficients\" has {} values, not a whole number of rows of {n_in}",
                coef.len()
            )));
        }
        let rows = coef.len() / n_in;
        let icpt = node.floats("intercepts")?.unwrap_or_default();
        let icpt: Vec<f32> = match icpt.len() {
            0 => vec![0.0; rows],
            n if n == rows => icpt.to_vec(),
            n => {
                return Err(node.err(format_args!(
                    "attribute \"intercepts\" has {n} values for {rows} coefficient rows"
                )))
            }
        };
        finite(&node, "coefficients", coef)?;
        finite(&node, "intercepts", &icpt)?;
        let post = post_transform(&node)?;
        match node.int("multi_class")?.unwrap_or(0) {
            0 | 1 => {}
            m => return Err(node.err(format_args!("attribute \"multi_class\" is {m}"))),
        }
        let negated_pair = rows == 2
            && coef[..n_in]
                .iter()
                .zip(&coef[n_in..])
                .all(|(a, b)| *a == -*b)
            && icpt[0] == -icpt[1];
        let (coef, icpt, out) = if k == 2 && (rows == 1 || negated_pair) {
            let post = match post {
                None => None,
                Some(PostTransform::Logistic) if negated_pair => {
                    Some(PostTransform::BinaryLogistic)
                }
                Some(_) => {
                    return Err(node.err(
                        "a two-class model with one score row and post_transform other than \
                         NONE (or LOGISTIC over the negated pair) cannot be mapped",
                    ))
                }
            };
            let (c, i) = if rows == 1 {
                (coef.to_vec(), icpt)
            } else {
                (coef[n_in..].to_vec(), vec![icpt[1]])
            };
            (
                c,
                i,
                Out {
                    width: 2,
                    post,
                    binary_pair: true,
                },
            )
        } else if rows == k {
            (
                coef.to_vec(),
                icpt,
                Out {
                    width: k,
                    post,
                    binary_pair: false,
                },
            )
        } else {
            return Err(node.err(format_args!("has {rows} coefficient rows for {k} classes")));
        };
        self.stages.push(StageSpec::Linear {
            n_in: dim("n_in", n_in)?,
            n_out: dim("n_out", icpt.len())?,
            coef,
            intercept: icpt,
        });
        self.set_labels(&node, labels)?;
        self.set(&node, 0, Val::Label)?;
        self.set(&node, 1, Val::Out(out))
    }

    /// The width a dense layer reads: the feature rows, or the previous layer's output,
    /// whose stage becomes a dense layer with the activation read so far.
    fn layer_input(&mut self, node: &Node<'_>, v: Val) -> Result<usize, ConvertError> {
        let v = self.settle(node, v)?;
        match v {
            Val::Out(o) if !o.binary_pair && self.labels.is_none() => {
                let act = match o.post {
                    // The previous layer keeps the activation it has (if any).
                    None if matches!(self.stages.last(), Some(StageSpec::Dense { .. })) => {
                        self.stale_outputs();
                        return Ok(o.width);
                    }
                    None => Activation::Identity,
                    Some(PostTransform::Logistic) => Activation::Logistic,
                    Some(_) => {
                        return Err(node.err(
                            "a dense layer after a softmax or a probability transform is not \
                             supported",
                        ))
                    }
                };
                self.make_dense(node, act)?;
                Ok(o.width)
            }
            other => self.rows(node, other),
        }
    }

    fn matmul(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let w = self.konst(&node, 1)?.clone();
        if let Val::Pat(Pat::Centered { at, mean }) = v {
            self.check_fresh(&node, at)?;
            let n_in = self.width_at(at);
            let (n_out, comps) = weights(&node, &w, n_in, false)?;
            let pending = Pat::PcaPending {
                at,
                mean,
                comps,
                n_out,
            };
            return self.set(&node, 0, Val::Pat(pending));
        }
        let n_in = self.layer_input(&node, v)?;
        let (n_out, wt) = weights(&node, &w, n_in, false)?;
        let at = self.stages.len();
        self.set(
            &node,
            0,
            Val::Affine {
                at,
                n_out,
                w: wt,
                b: vec![0.0; n_out],
            },
        )
    }

    fn gemm(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=3, 1)?;
        node.only(&["alpha", "beta", "transA", "transB"])?;
        if node.int("transA")?.unwrap_or(0) != 0 {
            return Err(node.err("transA = 1 is not supported"));
        }
        let trans_b = node.int("transB")?.unwrap_or(0) != 0;
        let alpha = f64::from(node.float("alpha")?.unwrap_or(1.0));
        let beta = f64::from(node.float("beta")?.unwrap_or(1.0));
        let v = self.input(&node, 0)?.clone();
        let w = self.konst(&node, 1)?.clone();
        let has_c = node.p.input.len() > 2 && !node.p.input[2].is_empty();
        if has_c {
            if let Val::Pat(Pat::KmZero { at }) = self.input(&node, 2)?.clone() {
                // skl2onnx's KMeans: -2 x · Cᵀ (+ a zero column).
                if v != Val::Rows(at) || at != self.stages.len() {
                    return Err(node.err("the KMeans pattern reads other features"));
                }
                if alpha != -2.0 || beta != 1.0 || !trans_b {
                    return Err(node.err(format_args!(
                        "KMeans pattern with alpha {alpha}, beta {beta}, transB {trans_b}: \
                         expected -2, 1, 1"
                    )));
                }
                let n_in = self.width_at(at);
                let (k, centers) = weights(&node, &w, n_in, true)?;
                return self.set(&node, 0, Val::Pat(Pat::KmCross { at, centers, k }));
            }
        }
        let c = if has_c {
            Some(self.konst(&node, 2)?.clone())
        } else {
            None
        };
        let n_in = self.layer_input(&node, v)?;
        let (n_out, mut wt) = weights(&node, &w, n_in, trans_b)?;
        for x in &mut wt {
            *x *= alpha;
        }
        let mut b = vec![0.0; n_out];
        if let Some(c) = c {
            let cv = bias(&node, &c, n_out)?;
            for (bi, ci) in b.iter_mut().zip(cv) {
                *bi = beta * ci;
            }
        }
        let at = self.stages.len();
        self.set(
            &node,
            0,
            Val::Affine {
                at,
                n_out,
                w: wt,
                b,
            },
        )
    }

    fn add(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let b = self.input(&node, 1)?.clone();
        let (x, c) = match (a, b) {
            (Val::Const(c), x) | (x, Val::Const(c)) => (x, c),
            (Val::Step(Step::Neg, _), _) | (_, Val::Step(Step::Neg, _)) => {
                return Err(node.err("unsupported pattern"))
            }
            (Val::Out(o), Val::Step(Step::ZeroMask, o2))
            | (Val::Step(Step::ZeroMask, o2), Val::Out(o))
                if o == o2 && o.post == Some(PostTransform::Logistic) =>
            {
                return self.set(&node, 0, Val::Step(Step::GuardedP, o))
            }
            (Val::Step(Step::RowSum, o), Val::Step(Step::ZeroMaskK, o2))
            | (Val::Step(Step::ZeroMaskK, o2), Val::Step(Step::RowSum, o))
                if o == o2 =>
            {
                return self.set(&node, 0, Val::Step(Step::GuardedSum, o))
            }
            (
                Val::Pat(Pat::KmRowSq { at }),
                Val::Pat(Pat::KmCross {
                    at: at2,
                    centers,
                    k,
                }),
            )
            | (
                Val::Pat(Pat::KmCross {
                    at: at2,
                    centers,
                    k,
                }),
                Val::Pat(Pat::KmRowSq { at }),
            ) if at == at2 => {
                return self.set(&node, 0, Val::Pat(Pat::KmPartial { at, centers, k }))
            }
            (a, b) => {
                return Err(node.err(format_args!(
                    "adding {} and {} is not supported",
                    describe(&a),
                    describe(&b)
                )))
            }
        };
        let out = match x {
            Val::Affine {
                at,
                n_out,
                w,
                mut b,
            } => {
                let cv = bias(&node, &c, n_out)?;
                for (bi, ci) in b.iter_mut().zip(cv) {
                    *bi += ci;
                }
                Val::Affine { at, n_out, w, b }
            }
            Val::ScaleShift { at, mul, add: None } => {
                let cv = bias(&node, &c, mul.len())?;
                Val::ScaleShift {
                    at,
                    mul,
                    add: Some(cv),
                }
            }
            Val::Step(Step::ExpNeg, o) if c.scalar() == Some(1.0) => {
                Val::Step(Step::OnePlusExpNeg, o)
            }
            Val::Pat(Pat::KmPartial { at, centers, k }) => {
                self.commit_kmeans(&node, at, centers, k, &c)?
            }
            Val::Pat(Pat::Nb {
                at,
                step: 6,
                theta,
                var,
                k,
            }) => self.commit_nb(&node, at, theta, var, k, &c)?,
            other => {
                return Err(node.err(format_args!(
                    "adding a constant to {} is not supported",
                    describe(&other)
                )))
            }
        };
        self.set(&node, 0, out)
    }

    fn mul(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let b = self.input(&node, 1)?.clone();
        let (x, c) = match (a, b) {
            (Val::Const(c), x) | (x, Val::Const(c)) => (x, c),
            (a, b) => {
                return Err(node.err(format_args!(
                    "multiplying {} by {} is not supported",
                    describe(&a),
                    describe(&b)
                )))
            }
        };
        let x = match x {
            Val::Affine { .. } => self.settle(&node, x)?,
            other => other,
        };
        let out = match x {
            Val::Out(o) if o.post.is_none() && !o.binary_pair && c.scalar() == Some(-1.0) => {
                Val::Step(Step::Neg, o)
            }
            Val::Step(Step::ZeroMask, o) if c.scalar() == Some(o.width as f64) => {
                Val::Step(Step::ZeroMaskK, o)
            }
            Val::Pat(Pat::KmRowSq { at })
                if c.floats().is_some_and(|v| v.iter().all(|&x| x == 0.0)) =>
            {
                Val::Pat(Pat::KmZero { at })
            }
            Val::Pat(Pat::Nb {
                at,
                step: 4,
                theta,
                var,
                k,
            }) if c.scalar() == Some(0.5) => Val::Pat(Pat::Nb {
                at,
                step: 5,
                theta,
                var,
                k,
            }),
            Val::Rows(at) => {
                let width = self.rows(&node, Val::Rows(at))?;
                let mul = bias(&node, &c, width)?;
                Val::ScaleShift {
                    at: self.stages.len(),
                    mul,
                    add: None,
                }
            }
            other => {
                return Err(node.err(format_args!(
                    "multiplying {} by a constant is not supported",
                    describe(&other)
                )))
            }
        };
        self.set(&node, 0, out)
    }

    fn sub(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let b = self.input(&node, 1)?.clone();
        match (a, b) {
            (Val::Const(c), Val::Out(o))
                if c.scalar() == Some(1.0)
                    && o.width == 1
                    && o.post == Some(PostTransform::Logistic) =>
            {
                self.set(&node, 0, Val::Step(Step::OneMinusP, o))
            }
            (Val::Rows(at), Val::Const(mean)) => {
                // PCA: x - mean.
                let width = self.rows(&node, Val::Rows(at))?;
                if self.has_estimator() {
                    return Err(node.err("a PCA after the estimator is not supported"));
                }
                let mean = bias(&node, &mean, width)?;
                self.set(&node, 0, Val::Pat(Pat::Centered { at, mean }))
            }
            (Val::Pat(Pat::NbX { at }), Val::Const(theta)) => {
                self.check_fresh(&node, at)?;
                let n = self.width_at(at);
                let (k, theta) = nb_table(&node, &theta, n)?;
                let nb = Pat::Nb {
                    at,
                    step: 1,
                    theta,
                    var: Vec::new(),
                    k,
                };
                self.set(&node, 0, Val::Pat(nb))
            }
            (
                Val::Const(log_norm),
                Val::Pat(Pat::Nb {
                    at,
                    step: 5,
                    theta,
                    mut var,
                    k,
                }),
            ) => {
                // log_norm rides along after the variances until the class priors come.
                let v = bias(&node, &log_norm, k)?;
                if log_norm.dims.iter().product::<usize>() != k {
                    return Err(node.err("the normalisers do not match the classes"));
                }
                var.extend(v);
                let nb = Pat::Nb {
                    at,
                    step: 6,
                    theta,
                    var,
                    k,
                };
                self.set(&node, 0, Val::Pat(nb))
            }
            (Val::Out(o), Val::Step(Step::Lse, o2)) if o == o2 => {
                self.set(&node, 0, Val::Step(Step::LogProb, o))
            }
            (a, b) => Err(node.err(format_args!(
                "subtracting {} from {} is not supported",
                describe(&b),
                describe(&a)
            ))),
        }
    }

    fn div(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let b = self.input(&node, 1)?.clone();
        match (a, b) {
            (Val::Step(Step::GuardedP, o), Val::Step(Step::GuardedSum, o2))
            | (Val::Out(o), Val::Step(Step::RowSum, o2))
                if o == o2 && o.post == Some(PostTransform::Logistic) && o.width >= 2 =>
            {
                let out = Out {
                    post: Some(PostTransform::OvrNormalize),
                    ..o
                };
                self.set(&node, 0, Val::Out(out))
            }
            (
                Val::Pat(Pat::PcaPending {
                    at,
                    mean,
                    comps,
                    n_out,
                }),
                Val::Const(w),
            ) => {
                let w = bias(&node, &w, n_out)?;
                self.commit_pca(&node, at, mean, Some((comps, n_out)), Some(w))?;
                self.set(&node, 0, Val::Rows(self.stages.len()))
            }
            (
                Val::Pat(Pat::Nb {
                    at,
                    step: 2,
                    theta,
                    var: _,
                    k,
                }),
                Val::Const(var),
            ) => {
                let n = self.width_at(at);
                let (k2, var) = nb_table(&node, &var, n)?;
                if k2 != k {
                    return Err(node.err("the variances do not match the means"));
                }
                let nb = Pat::Nb {
                    at,
                    step: 3,
                    theta,
                    var,
                    k,
                };
                self.set(&node, 0, Val::Pat(nb))
            }
            (a, b) => Err(node.err(format_args!(
                "dividing {} by {} is not supported",
                describe(&a),
                describe(&b)
            ))),
        }
    }

    fn unary_step(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let out = match (node.op(), v) {
            ("Exp", Val::Step(Step::Neg, o)) => Val::Step(Step::ExpNeg, o),
            ("Exp", Val::Step(Step::LogProb, o)) => Val::Out(Out {
                post: Some(PostTransform::Softmax),
                ..o
            }),
            ("Reciprocal", Val::Step(Step::OnePlusExpNeg, o)) => Val::Out(Out {
                post: Some(PostTransform::Logistic),
                ..o
            }),
            ("Not", Val::Step(Step::RowSumBool, o)) => Val::Step(Step::RowSumZero, o),
            (_, other) => {
                return Err(node.err(format_args!(
                    "applied to {} is not supported",
                    describe(&other)
                )))
            }
        };
        self.set(&node, 0, out)
    }

    fn reduce_sum(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=2, 1)?;
        node.only(&["keepdims", "noop_with_empty_axes", "axes"])?;
        let axes: Vec<i64> = if node.p.input.len() > 1 && !node.p.input[1].is_empty() {
            match &self.konst(&node, 1)?.data {
                Data::Int(v) => v.clone(),
                _ => return Err(node.err("axes must be integers")),
            }
        } else {
            node.ints("axes")?.map(<[i64]>::to_vec).unwrap_or_default()
        };
        let keep = node.int("keepdims")?.unwrap_or(1);
        let v = self.input(&node, 0)?.clone();
        let v = self.settle(&node, v)?;
        match v {
            Val::Out(o) if o.post == Some(PostTransform::Logistic) => {
                if (axes != [1] && axes != [-1]) || keep != 1 {
                    return Err(node.err(format_args!(
                        "axes {axes:?}, keepdims {keep}: only a sum per row kept as a column is \
                         supported"
                    )));
                }
                self.set(&node, 0, Val::Step(Step::RowSum, o))
            }
            Val::Pat(Pat::Nb {
                at,
                step: 3,
                theta,
                var,
                k,
            }) => {
                if (axes != [2] && axes != [-1]) || keep != 0 {
                    return Err(node.err(format_args!(
                        "axes {axes:?}, keepdims {keep}: GaussianNB sums over the features"
                    )));
                }
                let nb = Pat::Nb {
                    at,
                    step: 4,
                    theta,
                    var,
                    k,
                };
                self.set(&node, 0, Val::Pat(nb))
            }
            other => Err(node.err(format_args!(
                "a sum of {} is not supported",
                describe(&other)
            ))),
        }
    }

    fn concat(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&["axis"])?;
        if !matches!(node.int("axis")?, Some(1) | Some(-1)) {
            return Err(node.err("only axis 1 is supported"));
        }
        let a = self.input(&node, 0)?.clone();
        let b = self.input(&node, 1)?.clone();
        match (a, b) {
            (Val::Step(Step::OneMinusP, o), Val::Out(o2)) if o == o2 => {
                let out = Out {
                    width: 2,
                    post: Some(PostTransform::BinaryLogistic),
                    binary_pair: true,
                };
                self.set(&node, 0, Val::Out(out))
            }
            (a, b) => Err(node.err(format_args!(
                "concatenating {} and {} is not supported",
                describe(&a),
                describe(&b)
            ))),
        }
    }

    fn activation(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        let v = self.input(&node, 0)?.clone();
        let post = if node.op() == "Softmax" {
            node.only(&["axis"])?;
            if !matches!(node.int("axis")?, None | Some(1) | Some(-1)) {
                return Err(node.err("only axis 1 (per row) is supported"));
            }
            PostTransform::Softmax
        } else {
            node.only(&[])?;
            PostTransform::Logistic
        };
        let v = self.settle(&node, v)?;
        match v {
            Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                if post == PostTransform::Softmax && o.width < 2 {
                    return Err(node.err("a softmax over one column is constant 1"));
                }
                self.set(
                    &node,
                    0,
                    Val::Out(Out {
                        post: Some(post),
                        ..o
                    }),
                )
            }
            other => Err(node.err(format_args!(
                "applied to {} is not supported",
                describe(&other)
            ))),
        }
    }

    fn normalizer(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["norm"])?;
        let norm = node.string("norm")?.unwrap_or_else(|| "MAX".into());
        let v = self.input(&node, 0)?.clone();
        let v = match v {
            Val::Affine { .. } => self.settle(&node, v)?,
            other => other,
        };
        match v {
            Val::Out(o) if norm == "L1" => {
                let post = match o.post {
                    Some(PostTransform::Logistic) if o.width >= 2 => {
                        Some(PostTransform::OvrNormalize)
                    }
                    p @ Some(
                        PostTransform::Softmax
                        | PostTransform::Probabilities
                        | PostTransform::OvrNormalize
                        | PostTransform::BinaryLogistic,
                    ) => p,
                    _ => {
                        return Err(node.err(
                            "an L1 normalisation of scores that are not probabilities is not \
                             supported",
                        ))
                    }
                };
                self.set(&node, 0, Val::Out(Out { post, ..o }))
            }
            Val::Rows(at) => {
                let width = self.rows(&node, Val::Rows(at))?;
                if self.has_estimator() {
                    return Err(node.err("a normalizer after the estimator is not supported"));
                }
                let norm = match norm.as_str() {
                    "L1" => Norm::L1,
                    "L2" => Norm::L2,
                    "MAX" => Norm::Max,
                    other => {
                        return Err(node.err(format_args!(
                            "norm {other:?} is not supported (L1, L2 and MAX are)"
                        )))
                    }
                };
                self.stages.push(StageSpec::Normalizer {
                    width: dim("the normalizer width", width)?,
                    norm,
                });
                self.set(&node, 0, Val::Rows(self.stages.len()))
            }
            other => Err(node.err(format_args!(
                "norm {norm:?} of {} is not supported",
                describe(&other)
            ))),
        }
    }

    fn array_feature_extractor(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let a = self.settle(&node, a)?;
        let b = self.input(&node, 1)?.clone();
        match (a, b) {
            // The class list looked up by the predicted index.
            (Val::Const(classes), Val::Label) => {
                let labels = match classes.data {
                    Data::Int(v) => LabelsSpec::Int(v),
                    Data::Str(v) => LabelsSpec::Str(v),
                    Data::Float(_) => return Err(node.err("float class labels are not supported")),
                };
                self.set_labels(&node, labels)?;
                self.set(&node, 0, Val::Label)
            }
            // The positive class's column of a binary classifier's `[-z, z]`.
            (Val::Out(o), Val::Const(idx)) if o.binary_pair && o.post.is_none() => {
                if idx.data != Data::Int(vec![1]) {
                    return Err(node.err(
                        "only the positive column (index 1) of a binary score can be selected",
                    ));
                }
                self.set(&node, 0, Val::Out(Out { width: 1, ..o }))
            }
            (a, b) => Err(node.err(format_args!(
                "selecting {} by {} is not supported",
                describe(&b),
                describe(&a)
            ))),
        }
    }

    fn imputer(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 1)?;
        node.only(&[
            "imputed_value_floats",
            "imputed_value_int64s",
            "replaced_value_float",
            "replaced_value_int64",
        ])?;
        if node.ints("imputed_value_int64s")?.is_some()
            || node.int("replaced_value_int64")?.is_some()
        {
            return Err(node.err("integer imputation is not supported (float inputs only)"));
        }
        let v = self.input(&node, 0)?.clone();
        let width = self.rows(&node, v)?;
        if self.has_estimator() {
            return Err(node.err("an imputer after the estimator is not supported"));
        }
        let fill: Vec<f64> = node
            .floats("imputed_value_floats")?
            .unwrap_or_default()
            .iter()
            .map(|&f| f64::from(f))
            .collect();
        let fill = match fill.len() {
            1 => vec![fill[0]; width],
            n if n == width => fill,
            n => {
                return Err(node.err(format_args!(
                    "attribute \"imputed_value_floats\" has {n} values for {width} features"
                )))
            }
        };
        // The spec's default marker is 0.0.
        let missing = node.float("replaced_value_float")?.unwrap_or(0.0);
        let what = || node.at();
        self.stages.push(StageSpec::Imputer {
            missing,
            fill: f32_vec(&fill, &what)?,
        });
        self.set(&node, 0, Val::Rows(self.stages.len()))
    }

    fn commit_kmeans(
        &mut self,
        node: &Node<'_>,
        at: usize,
        centers: Vec<f64>,
        k: usize,
        norms: &Tensor,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        let n_in = self.width_at(at);
        let cc = bias(node, norms, k)?;
        // The constant must be Σ_i c_i² of each centre (the graph's squared distances are
        // what icebreak's distances square to).
        for (j, &v) in cc.iter().enumerate() {
            let want: f64 = centers[j * n_in..(j + 1) * n_in]
                .iter()
                .map(|c| c * c)
                .sum();
            if (v - want).abs() > 1e-5 * want.abs().max(1.0) {
                return Err(node.err(format_args!(
                    "the KMeans pattern's constant {v} is not the squared norm {want} of centre {j}"
                )));
            }
        }
        let what = || node.at();
        self.stages.push(StageSpec::KMeans {
            n_in: dim("the KMeans input width", n_in)?,
            k: dim("the KMeans clusters", k)?,
            centers: f32_vec(&centers, &what)?,
        });
        self.set_labels(node, LabelsSpec::Int((0..k as i64).collect()))?;
        Ok(Val::Step(
            Step::KmSquared,
            Out {
                width: k,
                post: None,
                binary_pair: false,
            },
        ))
    }

    fn commit_nb(
        &mut self,
        node: &Node<'_>,
        at: usize,
        theta: Vec<f64>,
        mut var: Vec<f64>,
        k: usize,
        prior: &Tensor,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        if self.has_estimator() {
            return Err(node.err("a second estimator is not supported"));
        }
        let n_in = self.width_at(at);
        let log_prior = bias(node, prior, k)?;
        if prior.dims.iter().product::<usize>() != k || var.len() != k * n_in + k {
            return Err(node.err("the class priors do not match the classes"));
        }
        let log_norm = var.split_off(k * n_in);
        if let Some(v) = var.iter().find(|v| **v <= 0.0) {
            return Err(node.err(format_args!("a variance is {v}, not positive")));
        }
        self.stages.push(StageSpec::GaussianNb {
            n_in: dim("the GaussianNB input width", n_in)?,
            n_classes: dim("the GaussianNB classes", k)?,
            theta,
            var,
            log_prior,
            log_norm,
        });
        Ok(Val::Out(Out {
            width: k,
            post: None,
            binary_pair: false,
        }))
    }

    fn svm(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        let classifier = node.op() == "SVMClassifier";
        let common = [
            "coefficients",
            "kernel_params",
            "kernel_type",
            "post_transform",
            "rho",
            "support_vectors",
        ];
        let mut known: Vec<&str> = common.to_vec();
        if classifier {
            node.arity(1..=1, 2)?;
            known.extend([
                "classlabels_ints",
                "classlabels_strings",
                "prob_a",
                "prob_b",
                "vectors_per_class",
            ]);
        } else {
            node.arity(1..=1, 1)?;
            known.extend(["n_supports", "one_class"]);
        }
        node.only(&known)?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        if self.has_estimator() {
            return Err(node.err("a second estimator is not supported"));
        }
        post_none(&node)?;
        let params = node.floats("kernel_params")?.unwrap_or_default();
        let (gamma, coef0, degree) = match params {
            [] => (0.0, 0.0, 0.0),
            [g, c, d] => (f64::from(*g), f64::from(*c), f64::from(*d)),
            other => {
                return Err(node.err(format_args!(
                    "attribute \"kernel_params\" has {} values, expected 3 (gamma, coef0, degree)",
                    other.len()
                )))
            }
        };
        let kernel = match node.string("kernel_type")?.as_deref().unwrap_or("LINEAR") {
            "LINEAR" => Kernel::Linear,
            "RBF" => Kernel::Rbf { gamma },
            "SIGMOID" => Kernel::Sigmoid { gamma, coef0 },
            "POLY" => {
                if degree.fract() != 0.0 || !(0.0..=64.0).contains(&degree) {
                    return Err(node.err(format_args!(
                        "kernel_params degree {degree} is not an integer in 0..=64"
                    )));
                }
                Kernel::Poly {
                    gamma,
                    coef0,
                    degree: degree as u32,
                }
            }
            other => {
                return Err(node.err(format_args!(
                    "kernel_type {other:?} is not supported (LINEAR, POLY, RBF, SIGMOID are)"
                )))
            }
        };
        let sv: Vec<f32> = node.floats("support_vectors")?.unwrap_or_default().to_vec();
        finite(&node, "support_vectors", &sv)?;
        if sv.is_empty() || sv.len() % n_in != 0 {
            return Err(node.err(format_args!(
                "attribute \"support_vectors\" has {} values, not a whole number of rows of {n_in}",
                sv.len()
            )));
        }
        let n_sv = sv.len() / n_in;
        let coef: Vec<f32> = node.floats("coefficients")?.unwrap_or_default().to_vec();
        finite(&node, "coefficients", &coef)?;
        let rho: Vec<f32> = node.floats("rho")?.unwrap_or_default().to_vec();
        finite(&node, "rho", &rho)?;
        let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        if !classifier {
            if node.int("one_class")?.unwrap_or(0) != 0 {
                return Err(node.err("one-class SVMs are not supported"));
            }
            if let Some(n) = node.int("n_supports")? {
                if n != n_sv as i64 {
                    return Err(node.err(format_args!(
                        "n_supports is {n}, the support vectors make {n_sv}"
                    )));
                }
            }
            if coef.len() != n_sv || rho.len() != 1 {
                return Err(node.err(format_args!(
                    "{} coefficients and {} rho for {n_sv} support vectors (expected {n_sv} and 1)",
                    coef.len(),
                    rho.len()
                )));
            }
            self.stages.push(StageSpec::Svm(SvmSpec {
                n_in: dim("n_in", n_in)?,
                n_classes: 1,
                kernel,
                n_support: Vec::new(),
                support_vectors: sv,
                coef: widen(&coef),
                intercept: widen(&rho),
                prob_a: Vec::new(),
                prob_b: Vec::new(),
            }));
            return self.set(
                &node,
                0,
                Val::Out(Out {
                    width: 1,
                    post: None,
                    binary_pair: false,
                }),
            );
        }
        let labels = class_labels(&node, "classlabels_ints", "classlabels_strings")?;
        let k = labels_len(&labels);
        if k < 2 {
            return Err(node.err(format_args!("has {k} class labels, at least 2 are needed")));
        }
        let per_class = node.ints("vectors_per_class")?.unwrap_or_default();
        if per_class.len() != k {
            return Err(node.err(format_args!(
                "vectors_per_class has {} entries for {k} classes",
                per_class.len()
            )));
        }
        let mut n_support = Vec::with_capacity(k);
        let mut total = 0u64;
        for &c in per_class {
            let c = u32::try_from(c)
                .map_err(|_| node.err(format_args!("vectors_per_class holds {c}")))?;
            total += u64::from(c);
            n_support.push(c);
        }
        if total != n_sv as u64 {
            return Err(node.err(format_args!(
                "vectors_per_class adds up to {total}, the support vectors make {n_sv}"
            )));
        }
        let pairs = k * (k - 1) / 2;
        if coef.len() != (k - 1) * n_sv || rho.len() != pairs {
            return Err(node.err(format_args!(
                "{} coefficients and {} rho for {k} classes and {n_sv} support vectors \
                 (expected {} and {pairs})",
                coef.len(),
                rho.len(),
                (k - 1) * n_sv
            )));
        }
        let prob_a: Vec<f32> = node.floats("prob_a")?.unwrap_or_default().to_vec();
        let prob_b: Vec<f32> = node.floats("prob_b")?.unwrap_or_default().to_vec();
        finite(&node, "prob_a", &prob_a)?;
        finite(&node, "prob_b", &prob_b)?;
        let proba = !prob_a.is_empty();
        if proba && (prob_a.len() != pairs || prob_b.len() != pairs) {
            return Err(node.err(format_args!(
                "prob_a and prob_b have {} and {} values for {pairs} pairs of classes",
                prob_a.len(),
                prob_b.len()
            )));
        }
        if !proba && !prob_b.is_empty() {
            return Err(node.err("prob_b without prob_a"));
        }
        self.stages.push(StageSpec::Svm(SvmSpec {
            n_in: dim("n_in", n_in)?,
            n_classes: dim("classes", k)?,
            kernel,
            n_support,
            support_vectors: sv,
            coef: widen(&coef),
            intercept: widen(&rho),
            prob_a: widen(&prob_a),
            prob_b: widen(&prob_b),
        }));
        self.set_labels(&node, labels)?;
        self.set(&node, 0, Val::Label)?;
        let out = if proba {
            // onnxruntime's probabilities: Platt + libsvm's pairwise coupling, as the stage.
            Out {
                width: k,
                post: Some(PostTransform::Probabilities),
                binary_pair: false,
            }
        } else if k == 2 {
            Out {
                width: 1,
                post: None,
                binary_pair: true,
            }
        } else {
            // The raw pairwise scores: only the one-vs-rest block skl2onnx writes after them
            // (scikit-learn's `_ovr_decision_function`) is accepted.
            let name = node.p.output.get(1).cloned().unwrap_or_default();
            let out = Out {
                width: k,
                post: None,
                binary_pair: false,
            };
            return self.ovr_block(&node, &name, k, out);
        };
        self.set(&node, 1, Val::Out(out))
    }

    /// Recognises the nodes after a multi-class SVM's pairwise scores that compute
    /// scikit-learn's one-vs-rest decision values: the block is every node fed (directly or
    /// not) by the scores, made of elementwise ops only; it is evaluated on test vectors and
    /// must agree with the formula, or the model is refused.
    fn ovr_block(
        &mut self,
        node: &Node<'_>,
        scores: &str,
        k: usize,
        out: Out,
    ) -> Result<(), ConvertError> {
        const OPS: &[&str] = &[
            "Cast",
            "Less",
            "Neg",
            "ArrayFeatureExtractor",
            "Sum",
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Concat",
            "Abs",
            "Identity",
        ];
        let graph = self
            .model
            .graph
            .as_ref()
            .ok_or_else(|| invalid("the ONNX model has no graph"))?;
        let mut tainted: std::collections::HashSet<&str> = std::collections::HashSet::new();
        tainted.insert(scores);
        let mut block = Vec::new();
        for (i, n) in graph.node.iter().enumerate().skip(self.pos + 1) {
            if n.input.iter().any(|x| tainted.contains(x.as_str())) {
                if !OPS.contains(&n.op_type.as_str()) {
                    break;
                }
                block.push(i);
                for o in &n.output {
                    tainted.insert(o.as_str());
                }
            }
        }
        // The block's result: a tainted value read outside the block or by the graph.
        let inside: std::collections::HashSet<usize> = block.iter().copied().collect();
        let mut sinks: Vec<&str> = Vec::new();
        for &i in &block {
            for o in &graph.node[i].output {
                let read_outside = graph
                    .node
                    .iter()
                    .enumerate()
                    .any(|(j, n)| !inside.contains(&j) && n.input.iter().any(|x| x == o));
                let is_output = graph.output.iter().any(|g| &g.name == o);
                if (read_outside || is_output) && !sinks.contains(&o.as_str()) {
                    sinks.push(o.as_str());
                }
            }
        }
        let [sink] = sinks.as_slice() else {
            return Err(node.err(
                "the multi-class scores are not followed by scikit-learn's one-vs-rest block \
                 (SVC with decision_function_shape='ovo' is not supported)",
            ));
        };
        let pairs = k * (k - 1) / 2;
        for t in 0..6u32 {
            let dec: Vec<f64> = (0..pairs)
                .map(|p| {
                    let h = (p as u32 + 1)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(t * 97);
                    if t == 0 && p == 0 {
                        0.0
                    } else {
                        f64::from(h % 2001) / 500.0 - 2.0
                    }
                })
                .collect();
            let got = ovr_eval(graph, &block, scores, &dec, sink, &self.vals)
                .map_err(|e| node.err(format_args!("the one-vs-rest block cannot be read: {e}")))?;
            let want = ovr_decision(&dec, k);
            let same = got.len() == k
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| (g - w).abs() <= 1e-6 * w.abs().max(1.0));
            if !same {
                return Err(node.err(
                    "the nodes after the multi-class scores do not compute scikit-learn's \
                     one-vs-rest decision values; other shapes (decision_function_shape='ovo') \
                     are not supported",
                ));
            }
        }
        self.skip.extend(block.iter().copied());
        self.vals.insert((*sink).to_string(), Val::Out(out));
        Ok(())
    }

    fn finish(mut self, sha: String, options: &Options) -> Result<ModelSpec, ConvertError> {
        let graph = self
            .model
            .graph
            .as_ref()
            .ok_or_else(|| invalid("the ONNX model has no graph"))?;
        if graph.output.is_empty() {
            return Err(invalid("the graph has no outputs"));
        }
        let mut main: Option<Out> = None;
        let mut has_label = false;
        let mut transformed: Option<usize> = None;
        for o in &graph.output {
            let v = self.vals.get(&o.name).cloned().ok_or_else(|| {
                invalid(format!(
                    "graph output {:?} is not produced by any node",
                    o.name
                ))
            })?;
            let placeholder = proto::NodeProto {
                op_type: "output".into(),
                name: o.name.clone(),
                ..Default::default()
            };
            let v = self.settle(&Node { p: &placeholder }, v)?;
            let out = match v {
                Val::Label => {
                    has_label = true;
                    continue;
                }
                Val::Out(out) | Val::Map(out) => out,
                Val::Rows(at) if at == self.stages.len() && at > 0 && !self.has_estimator() => {
                    transformed = Some(self.width_at(at));
                    continue;
                }
                other => {
                    return Err(invalid(format!(
                        "graph output {:?} is {}, which icebreak cannot produce",
                        o.name,
                        describe(&other)
                    )))
                }
            };
            match main {
                Some(m) if m != out => {
                    return Err(invalid(format!(
                        "graph output {:?} is a second, different result of the estimator",
                        o.name
                    )))
                }
                _ => main = Some(out),
            }
        }
        if let Some(width) = transformed {
            if main.is_some() || has_label || graph.output.len() != 1 {
                return Err(invalid(
                    "a graph that outputs transformed features must output nothing else",
                ));
            }
            main = Some(Out {
                width,
                post: None,
                binary_pair: false,
            });
        }
        let out = main.ok_or_else(|| {
            invalid("the graph outputs only labels: no scores or probabilities to serve")
        })?;
        let labels = self.labels.take();
        if has_label && labels.is_none() {
            return Err(invalid(
                "the graph outputs a label but no class list was found",
            ));
        }
        let (task, n_outputs, labels) = match labels {
            Some(l) => {
                let n = labels_len(&l);
                let expected = if out.binary_pair { 2 } else { out.width };
                if n != expected {
                    return Err(invalid(format!(
                        "{n} class labels for {expected} classes of scores"
                    )));
                }
                (Task::Classification, n, l)
            }
            None => {
                if out.binary_pair {
                    return Err(invalid("a binary classifier without class labels"));
                }
                let task = if transformed.is_some() {
                    Task::Transform
                } else {
                    Task::Regression
                };
                (task, out.width, LabelsSpec::None)
            }
        };
        let svm = self.stages.iter().any(|s| matches!(s, StageSpec::Svm(_)));
        match out.post {
            // An SVM computes its probabilities itself.
            Some(PostTransform::Probabilities) if svm => {}
            Some(p) => self.stages.push(StageSpec::Post(p)),
            None => {}
        }
        // NaN is routed by trees and replaced by an imputer whose marker is NaN.
        let imputes_nan = matches!(
            self.stages.first(),
            Some(StageSpec::Imputer { missing, .. }) if missing.is_nan()
        );
        let producer = &self.model.producer_name;
        let source_format = (!producer.is_empty()).then(|| {
            format!("{producer} {}", self.model.producer_version)
                .trim()
                .to_string()
        });
        let graph_name = (!graph.name.is_empty()).then(|| graph.name.clone());
        Ok(ModelSpec {
            input: InputSpec {
                n_features: dim("n_features", self.n_features)?,
                missing: if self.trees || imputes_nan {
                    MissingValues::Nan
                } else {
                    MissingValues::Reject
                },
                feature_names: None,
            },
            output: OutputSpec {
                task,
                n_outputs: dim("n_outputs", n_outputs)?,
                labels,
                output_names: None,
            },
            provenance: ProvenanceSpec {
                model_version: options
                    .model_version
                    .clone()
                    .unwrap_or_else(|| format!("onnx-{}", &sha[..12])),
                model_name: options.model_name.clone().or(graph_name),
                source_format,
                converter: Some(CONVERTER.to_string()),
                source_sha256: Some(sha),
            },
            stages: self.stages,
        })
    }
}

/// scikit-learn's `_ovr_decision_function(dec < 0, -dec, k)`.
fn ovr_decision(dec: &[f64], k: usize) -> Vec<f64> {
    let mut votes = vec![0.0; k];
    let mut conf = vec![0.0; k];
    let mut p = 0;
    for i in 0..k {
        for j in i + 1..k {
            conf[i] += dec[p];
            conf[j] -= dec[p];
            if dec[p] < 0.0 {
                votes[j] += 1.0;
            } else {
                votes[i] += 1.0;
            }
            p += 1;
        }
    }
    votes
        .iter()
        .zip(&conf)
        .map(|(v, c)| v + c / (3.0 * (c.abs() + 1.0)))
        .collect()
}

/// Evaluates the elementwise block on one row of pairwise scores.
fn ovr_eval(
    graph: &proto::GraphProto,
    block: &[usize],
    scores: &str,
    dec: &[f64],
    sink: &str,
    vals: &HashMap<String, Val>,
) -> Result<Vec<f64>, String> {
    let mut env: HashMap<&str, Vec<f64>> = HashMap::new();
    env.insert(scores, dec.to_vec());
    let get = |env: &HashMap<&str, Vec<f64>>, name: &str| -> Result<Vec<f64>, String> {
        if let Some(v) = env.get(name) {
            return Ok(v.clone());
        }
        match vals.get(name) {
            Some(Val::Const(t)) => match &t.data {
                Data::Float(v) => Ok(v.clone()),
                Data::Int(v) => Ok(v.iter().map(|&x| x as f64).collect()),
                Data::Str(_) => Err(format!("{name} is a string constant")),
            },
            _ => Err(format!("{name} is neither computed nor a constant")),
        }
    };
    let zip = |a: &[f64], b: &[f64], f: &dyn Fn(f64, f64) -> f64| -> Result<Vec<f64>, String> {
        match (a.len(), b.len()) {
            (x, y) if x == y => Ok(a.iter().zip(b).map(|(p, q)| f(*p, *q)).collect()),
            (1, _) => Ok(b.iter().map(|q| f(a[0], *q)).collect()),
            (_, 1) => Ok(a.iter().map(|p| f(*p, b[0])).collect()),
            (x, y) => Err(format!("widths {x} and {y} do not broadcast")),
        }
    };
    for &i in block {
        let n = &graph.node[i];
        let ins = n
            .input
            .iter()
            .map(|x| get(&env, x))
            .collect::<Result<Vec<_>, _>>()?;
        let r = match (n.op_type.as_str(), ins.as_slice()) {
            ("Cast" | "Identity", [a]) => a.clone(),
            ("Neg", [a]) => a.iter().map(|x| -x).collect(),
            ("Abs", [a]) => a.iter().map(|x| x.abs()).collect(),
            ("Less", [a, b]) => zip(a, b, &|p, q| f64::from(u8::from(p < q)))?,
            ("Add", [a, b]) => zip(a, b, &|p, q| p + q)?,
            ("Sub", [a, b]) => zip(a, b, &|p, q| p - q)?,
            ("Mul", [a, b]) => zip(a, b, &|p, q| p * q)?,
            ("Div", [a, b]) => zip(a, b, &|p, q| p / q)?,
            ("Sum", [first, rest @ ..]) => {
                let mut acc = first.clone();
                for r in rest {
                    acc = zip(&acc, r, &|p, q| p + q)?;
                }
                acc
            }
            ("Concat", parts) => parts.concat(),
            ("ArrayFeatureExtractor", [a, idx]) => idx
                .iter()
                .map(|&j| {
                    usize::try_from(j as i64)
                        .ok()
                        .and_then(|j| a.get(j).copied())
                        .ok_or_else(|| format!("index {j} outside {} columns", a.len()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            (op, _) => return Err(format!("{op} with {} inputs", ins.len())),
        };
        if let Some(o) = n.output.first() {
            env.insert(o.as_str(), r);
        }
    }
    env.remove(sink)
        .ok_or_else(|| format!("{sink} is not computed"))
}

/// A `[1, k, n]` (or `[k, n]`) table of a GaussianNB graph: `(k, values)`.
fn nb_table(node: &Node<'_>, t: &Tensor, n: usize) -> Result<(usize, Vec<f64>), ConvertError> {
    let v = t
        .floats()
        .ok_or_else(|| node.err("the table is not a float tensor"))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the table holds a non-finite value ({x})")));
    }
    let k = match t.dims.as_slice() {
        [1, k, m] | [k, m] if *m == n => *k,
        d => {
            return Err(node.err(format_args!(
                "a table of shape {d:?} does not fit {n} features"
            )))
        }
    };
    if k == 0 {
        return Err(node.err("a table with no classes"));
    }
    Ok((k, v.to_vec()))
}

fn describe(v: &Val) -> &'static str {
    match v {
        Val::Const(_) => "a constant",
        Val::Rows(_) => "the features",
        Val::Affine { .. } => "a linear map of the features",
        Val::ScaleShift { .. } => "scaled features",
        Val::Out(_) => "the estimator's output",
        Val::Label => "a class label",
        Val::Map(_) => "a ZipMap",
        Val::Step(..) => "an intermediate of the probability computation",
        Val::Pat(_) => "an intermediate of a transformer or estimator pattern",
        Val::Stale => "a layer's output read again after the next layer was applied",
    }
}

fn labels_len(l: &LabelsSpec) -> usize {
    match l {
        LabelsSpec::None => 0,
        LabelsSpec::Int(v) => v.len(),
        LabelsSpec::Str(v) => v.len(),
    }
}

/// Class labels from an int list or a string list attribute (exactly one).
pub(crate) fn class_labels(
    node: &Node<'_>,
    ints: &str,
    strings: &str,
) -> Result<LabelsSpec, ConvertError> {
    match (node.ints(ints)?, node.strings(strings)?) {
        (Some(i), None) => Ok(LabelsSpec::Int(i.to_vec())),
        (None, Some(s)) => Ok(LabelsSpec::Str(s)),
        (Some(_), Some(_)) => {
            Err(node.err(format_args!("both {ints:?} and {strings:?} are given")))
        }
        (None, None) => Err(node.err(format_args!("neither {ints:?} nor {strings:?} is given"))),
    }
}

fn finite(node: &Node<'_>, name: &str, v: &[f32]) -> Result<(), ConvertError> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(node.err(format_args!(
            "attribute {name:?} holds a non-finite value ({}) at {i}",
            v[i]
        ))),
    }
}

/// `post_transform`: `NONE`, `LOGISTIC` or `SOFTMAX`.
pub(crate) fn post_transform(node: &Node<'_>) -> Result<Option<PostTransform>, ConvertError> {
    match node.string("post_transform")?.as_deref() {
        None | Some("NONE") => Ok(None),
        Some("LOGISTIC") => Ok(Some(PostTransform::Logistic)),
        Some("SOFTMAX") => Ok(Some(PostTransform::Softmax)),
        Some(other) => Err(node.err(format_args!(
            "attribute \"post_transform\" {other:?} is not supported (NONE, LOGISTIC and \
             SOFTMAX are)"
        ))),
    }
}

fn post_none(node: &Node<'_>) -> Result<(), ConvertError> {
    match node.string("post_transform")?.as_deref() {
        None | Some("NONE") => Ok(()),
        Some(other) => Err(node.err(format_args!(
            "attribute \"post_transform\" {other:?} is not supported (NONE is)"
        ))),
    }
}

/// A weight matrix `[n_in, n_out]` (or `[n_out, n_in]` with `trans`), returned as
/// `n_out × n_in` row-major.
fn weights(
    node: &Node<'_>,
    w: &Tensor,
    n_in: usize,
    trans: bool,
) -> Result<(usize, Vec<f64>), ConvertError> {
    let v = w
        .floats()
        .ok_or_else(|| node.err("the weights are not a float tensor"))?;
    let [r, c] = w.dims.as_slice() else {
        return Err(node.err(format_args!("the weights have shape {:?}, not 2-D", w.dims)));
    };
    let (rows, cols) = (*r, *c);
    let (k, n_out) = if trans { (cols, rows) } else { (rows, cols) };
    if k != n_in || n_out == 0 {
        return Err(node.err(format_args!(
            "weights of shape {:?} do not fit {n_in} input columns",
            w.dims
        )));
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the weights hold a non-finite value ({x})")));
    }
    let mut out = vec![0.0; n_out * n_in];
    for o in 0..n_out {
        for i in 0..n_in {
            out[o * n_in + i] = if trans {
                v[o * cols + i]
            } else {
                v[i * cols + o]
            };
        }
    }
    Ok((n_out, out))
}

/// A bias of `n` values: shape `[n]`, `[1, n]`, or a scalar broadcast.
fn bias(node: &Node<'_>, c: &Tensor, n: usize) -> Result<Vec<f64>, ConvertError> {
    let v = c
        .floats()
        .ok_or_else(|| node.err("the constant is not a float tensor"))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the constant holds a non-finite value ({x})")));
    }
    let shape_ok = match c.dims.as_slice() {
        [] => true,
        [m] => *m == n || *m == 1,
        [1, m] => *m == n || *m == 1,
        _ => false,
    };
    if !shape_ok {
        return Err(node.err(format_args!(
            "a constant of shape {:?} does not broadcast over {n} columns",
            c.dims
        )));
    }
    Ok(if v.len() == 1 {
        vec![v[0]; n]
    } else {
        v.to_vec()
    })
}
