//! The walk over the canonical graph: what each tensor *is* ([`Val`]), the stages pushed so
//! far, and the checks every recogniser shares (reading inputs, committing pending values,
//! refusing graphs that branch). The family recognisers add their own `impl Walker` blocks
//! and own their intermediate states ([`Pca`], [`Km`], [`Nb`], [`Step`]).

use super::canon::Canon;
use super::graph::{dtype, invalid, Node, Tensor};
use super::kmeans::Km;
use super::nb::Nb;
use super::params::{dim, f32_vec, labels_len};
use super::pca::Pca;
use super::post::Step;
use super::{proto, Options};
use crate::{ConvertError, CONVERTER};
use icebreak_format::{
    InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec, PostTransform, ProvenanceSpec,
    StageSpec, Task,
};
use std::collections::{HashMap, HashSet};

/// What a tensor of the graph is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
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
    /// A step of skl2onnx's PCA.
    Pca(Pca),
    /// A step of skl2onnx's KMeans.
    Km(Km),
    /// A step of skl2onnx's GaussianNB.
    Nb(Nb),
    /// An output of the estimator read before a later layer replaced it (an MLP's hidden
    /// layer read twice): reading it again is refused.
    Stale,
}

/// The estimator's output as it flows through the post-processing glue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Out {
    /// Width of the tensor as onnxruntime computes it.
    pub width: usize,
    /// Post transform applied so far.
    pub post: Option<PostTransform>,
    /// A binary classifier whose tensor is `[-z, z]` (or `[1 - p, p]`) but whose `.apr` score
    /// is the single `z`.
    pub binary_pair: bool,
}

impl Out {
    /// Raw scores of `width` columns, no post transform yet.
    pub fn raw(width: usize) -> Self {
        Out {
            width,
            post: None,
            binary_pair: false,
        }
    }
}

/// How errors name a value.
pub(super) fn describe(v: &Val) -> &'static str {
    const PROBA: &str = "an intermediate of the probability computation";
    const PATTERN: &str = "an intermediate of a transformer or estimator pattern";
    match v {
        Val::Const(_) => "a constant",
        Val::Rows(_) => "the features",
        Val::Affine { .. } => "a linear map of the features",
        Val::ScaleShift { .. } => "scaled features",
        Val::Out(_) => "the estimator's output",
        Val::Label => "a class label",
        Val::Map(_) => "a ZipMap",
        Val::Step(..) => PROBA,
        Val::Km(k) if k.over_scores() => PROBA,
        Val::Nb(n) if n.over_scores() => PROBA,
        Val::Pca(_) | Val::Km(_) | Val::Nb(_) => PATTERN,
        Val::Stale => "a layer's output read again after the next layer was applied",
    }
}

/// `"<op> node \"<name>\": <what> is not supported"`, each `{}` of `what` replaced by the
/// description of the next value.
pub(super) fn unsupported(node: &Node<'_>, what: &str, vals: &[&Val]) -> ConvertError {
    let mut msg = what.to_string();
    for v in vals {
        msg = msg.replacen("{}", describe(v), 1);
    }
    node.err(format_args!("{msg} is not supported"))
}

pub(super) struct Walker<'m> {
    pub model: &'m proto::ModelProto,
    /// The canonical nodes, in order.
    pub nodes: &'m [proto::NodeProto],
    pub vals: HashMap<String, Val>,
    pub n_features: usize,
    pub input_f32: bool,
    pub stages: Vec<StageSpec>,
    pub labels: Option<LabelsSpec>,
    /// The last pending value committed to a stage, and what it became.
    pub settled: Option<(Val, Val)>,
    /// Index of the node being read.
    pub pos: usize,
    /// Nodes already accounted for by a recognised block (the SVM's one-vs-rest scores).
    pub skip: HashSet<usize>,
    /// Whether the estimator was a tree ensemble (NaN is then routed, not refused).
    pub trees: bool,
    pub ml_opset: Option<i64>,
    /// The `Scaler` nodes read so far: stage index, `offset`, `scale` (ONNX's
    /// `(x - offset) * scale`, in f32). See [`Walker::exact_scalers`].
    pub onnx_scalers: Vec<(usize, Vec<f64>, Vec<f64>)>,
}

impl<'m> Walker<'m> {
    pub fn new(
        model: &'m proto::ModelProto,
        graph: &'m proto::GraphProto,
        canon: &'m Canon,
        ml_opset: Option<i64>,
    ) -> Result<Self, ConvertError> {
        let initializers: HashSet<&str> = graph.initializer.iter().map(|t| &*t.name).collect();
        let inputs: Vec<&proto::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(invalid(format!(
                "the graph has {} inputs; icebreak converts graphs with one input tensor of \
                 features",
                inputs.len()
            )));
        };
        let (elem, dims) = super::graph::input_type(input)
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
        let mut vals: HashMap<String, Val> = canon
            .consts
            .iter()
            .map(|(k, t)| (k.clone(), Val::Const(t.clone())))
            .collect();
        vals.insert(input.name.clone(), Val::Rows(0));
        Ok(Walker {
            model,
            nodes: &canon.nodes,
            vals,
            n_features,
            input_f32,
            stages: Vec::new(),
            labels: None,
            settled: None,
            pos: 0,
            skip: HashSet::new(),
            trees: false,
            ml_opset,
            onnx_scalers: Vec::new(),
        })
    }

    pub fn has_estimator(&self) -> bool {
        self.stages.iter().any(|s| {
            !matches!(
                s,
                StageSpec::StandardScaler { .. }
                    | StageSpec::StandardScalerF64 { .. }
                    | StageSpec::MinMaxScalerF64 { .. }
                    | StageSpec::MinMaxScaler { .. }
                    | StageSpec::Normalizer { .. }
                    | StageSpec::Imputer { .. }
                    | StageSpec::Pca { .. }
                    | StageSpec::PcaF64 { .. }
                    | StageSpec::Post(_)
            )
        })
    }

    /// The width of the rows after the first `at` stages.
    pub fn width_at(&self, at: usize) -> usize {
        let mut w = self.n_features;
        for s in &self.stages[..at] {
            match s {
                StageSpec::Linear { n_out, .. }
                | StageSpec::LinearF64 { n_out, .. }
                | StageSpec::Dense { n_out, .. }
                | StageSpec::DenseF64 { n_out, .. }
                | StageSpec::Pca { n_out, .. }
                | StageSpec::PcaF64 { n_out, .. } => w = *n_out as usize,
                StageSpec::KMeans { k, .. } | StageSpec::KMeansF64 { k, .. } => w = *k as usize,
                StageSpec::GaussianNb { n_classes, .. } => w = *n_classes as usize,
                _ => {}
            }
        }
        w
    }

    /// Whatever was computed from a layer that has become hidden no longer exists.
    pub fn stale_outputs(&mut self) {
        for v in self.vals.values_mut() {
            let from_scores = match v {
                Val::Out(_) | Val::Step(..) | Val::Map(_) | Val::Label => true,
                Val::Km(k) => k.over_scores(),
                Val::Nb(n) => n.over_scores(),
                _ => false,
            };
            if from_scores {
                *v = Val::Stale;
            }
        }
    }

    pub fn input<'v>(&'v self, node: &Node<'_>, i: usize) -> Result<&'v Val, ConvertError> {
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

    pub fn konst<'v>(&'v self, node: &Node<'_>, i: usize) -> Result<&'v Tensor, ConvertError> {
        match self.input(node, i)? {
            Val::Const(t) => Ok(t),
            _ => Err(node.err(format_args!("input {i} must be a constant"))),
        }
    }

    /// Both inputs of a binary op.
    pub fn pair(&self, node: &Node<'_>) -> Result<(Val, Val), ConvertError> {
        Ok((self.input(node, 0)?.clone(), self.input(node, 1)?.clone()))
    }

    pub fn set(&mut self, node: &Node<'_>, i: usize, v: Val) -> Result<(), ConvertError> {
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
    pub fn rows(&mut self, node: &Node<'_>, v: Val) -> Result<usize, ConvertError> {
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

    /// Commits a pending affine map, scale-shift or PCA into a stage, giving rows or scores.
    /// A pending value read by several nodes is committed once.
    pub fn settle(&mut self, node: &Node<'_>, v: Val) -> Result<Val, ConvertError> {
        if !matches!(v, Val::Affine { .. } | Val::ScaleShift { .. } | Val::Pca(_)) {
            return Ok(v);
        }
        if let Some((pending, done)) = &self.settled {
            if *pending == v {
                return Ok(done.clone());
            }
        }
        let done = match v.clone() {
            Val::ScaleShift { at, mul, add } => self.commit_min_max(node, at, mul, add)?,
            Val::Affine { at, n_out, w, b } => self.commit_affine(node, at, n_out, w, b)?,
            Val::Pca(p) => self.commit_pca(node, p, None)?,
            other => other,
        };
        self.settled = Some((v, done.clone()));
        Ok(done)
    }

    pub fn check_fresh(&self, node: &Node<'_>, at: usize) -> Result<(), ConvertError> {
        if at == self.stages.len() {
            Ok(())
        } else {
            Err(node.err("graphs that branch are not supported"))
        }
    }

    /// Refuses a preprocessor (`what`) once an estimator is in place.
    pub fn before_estimator(&self, node: &Node<'_>, what: &str) -> Result<(), ConvertError> {
        if self.has_estimator() {
            return Err(node.err(format_args!("{what} after the estimator is not supported")));
        }
        Ok(())
    }

    /// Refuses a second estimator.
    pub fn first_estimator(&self, node: &Node<'_>) -> Result<(), ConvertError> {
        if self.has_estimator() {
            return Err(node.err("a second estimator is not supported"));
        }
        Ok(())
    }

    pub fn require_ml(&self, node: &Node<'_>) -> Result<(), ConvertError> {
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

    pub fn set_labels(&mut self, node: &Node<'_>, labels: LabelsSpec) -> Result<(), ConvertError> {
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

    /// The model spec: the graph outputs checked against what the walk found.
    pub fn finish(mut self, sha: String, options: &Options) -> Result<ModelSpec, ConvertError> {
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
            main = Some(Out::raw(width));
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
        if self.trees {
            self.exact_scalers()?;
        }
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
        // A double graph whose every stage computes in f64 (f64 scalers, a normalizer, a PCA,
        // an f64 linear model or MLP, Gaussian naive Bayes, an f64 k-means, a post transform)
        // answers in f64; so do trees of a double graph, which compare
        // and sum in f64 (no f32 rounding). Everything else computes in f32: an f64 linear
        // model after an f32 stage is made f32 again.
        let all_f64 = !self.input_f32
            && self.stages.iter().all(|s| {
                matches!(
                    s,
                    StageSpec::StandardScalerF64 { .. }
                        | StageSpec::MinMaxScalerF64 { .. }
                        | StageSpec::Normalizer { .. }
                        | StageSpec::PcaF64 { .. }
                        | StageSpec::LinearF64 { .. }
                        | StageSpec::DenseF64 { .. }
                        | StageSpec::GaussianNb { .. }
                        | StageSpec::KMeansF64 { .. }
                        | StageSpec::Post(_)
                )
            });
        if !all_f64 {
            self.linear_to_f32()?;
        }
        let precision = match self.stages.first() {
            _ if all_f64 => icebreak_format::Precision::F64,
            Some(StageSpec::Trees(t)) if !t.round_f32 => icebreak_format::Precision::F64,
            _ => icebreak_format::Precision::F32,
        };
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
                precision,
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

    /// Makes every `linear_f64` stage a `linear` one, every `dense_f64` a `dense` one, every
    /// `pca_f64` a `pca` one and every `kmeans_f64` a `kmeans` one (f32 parameters), for a
    /// pipeline that computes in f32 anyway.
    fn linear_to_f32(&mut self) -> Result<(), ConvertError> {
        for s in &mut self.stages {
            if let StageSpec::KMeansF64 { n_in, k, centers } = s {
                let what = || "the KMeans".to_string();
                *s = StageSpec::KMeans {
                    n_in: *n_in,
                    k: *k,
                    centers: f32_vec(centers, &what)?,
                };
            }
            if let StageSpec::PcaF64 {
                n_in,
                n_out,
                mean,
                components,
                whiten,
            } = s
            {
                let what = || "the PCA".to_string();
                *s = StageSpec::Pca {
                    n_in: *n_in,
                    n_out: *n_out,
                    mean: f32_vec(mean, &what)?,
                    components: f32_vec(components, &what)?,
                    whiten: whiten.as_deref().map(|w| f32_vec(w, &what)).transpose()?,
                };
            }
            if let StageSpec::DenseF64 {
                n_in,
                n_out,
                activation,
                weights,
                bias,
            } = s
            {
                let what = || "the dense layer".to_string();
                *s = StageSpec::Dense {
                    n_in: *n_in,
                    n_out: *n_out,
                    activation: *activation,
                    weights: f32_vec(weights, &what)?,
                    bias: f32_vec(bias, &what)?,
                };
            }
            if let StageSpec::LinearF64 {
                n_in,
                n_out,
                coef,
                intercept,
            } = s
            {
                let what = || "the linear map".to_string();
                *s = StageSpec::Linear {
                    n_in: *n_in,
                    n_out: *n_out,
                    coef: f32_vec(coef, &what)?,
                    intercept: f32_vec(intercept, &what)?,
                };
            }
        }
        Ok(())
    }

    /// Before a tree ensemble, each `Scaler` computes exactly what onnxruntime computes,
    /// `f32(f32(x - offset) · scale)`, so that a feature at a split threshold chooses the
    /// branch onnxruntime chooses: the stage becomes two min-max scalers, `x · 1 + (-offset)`
    /// (exactly `x - offset` in f32) and `y · scale + 0`. A standard scaler dividing by
    /// `1 / scale` can round the other way.
    fn exact_scalers(&mut self) -> Result<(), ConvertError> {
        for (at, offset, scale) in std::mem::take(&mut self.onnx_scalers).into_iter().rev() {
            let what = || format!("Scaler {at}");
            let n = offset.len();
            let neg: Vec<f64> = offset.iter().map(|o| -o).collect();
            let sub = StageSpec::MinMaxScaler {
                scale: vec![1.0; n],
                min: f32_vec(&neg, &what)?,
            };
            let mul = StageSpec::MinMaxScaler {
                scale: f32_vec(&scale, &what)?,
                min: vec![0.0; n],
            };
            if at < self.stages.len() {
                self.stages.splice(at..=at, [sub, mul]);
            }
        }
        Ok(())
    }
}
