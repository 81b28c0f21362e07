//! ONNX models, as scikit-learn's `skl2onnx`, onnxmltools and `torch.onnx.export` write them.
//!
//! The file is decoded with prost (the generated code is committed in `proto.rs`, made by
//! `scripts/onnx/regen.sh` from onnx 1.23.2's `onnx.proto3`; building needs no `protoc`).
//! Tensors kept as ONNX external data are then read from the model's own folder
//! ([`external`]; [`convert_path`], or [`Options::external_data_dir`]).
//! The importer is not a general graph interpreter. The graph is first canonicalised
//! (`canon.rs`: constants folded, value-preserving `Identity` and `Cast` removed, `Reduce*`
//! axes in one form across opsets); then it walks the nodes in order and recognises the
//! patterns the exporters write, tracking what each tensor *is* — a constant, the feature
//! rows after the preprocessors so far, the estimator's scores, probabilities, a class label
//! — and refuses anything else with a [`ConvertError::Invalid`] naming the op type and the
//! node (and the attribute, when one is the reason).
//!
//! Each operator has one handler, found in an op registry (`registry.rs`); each model family
//! has its own module, which owns the intermediate values of its pattern: `linear.rs`
//! (`LinearRegressor`, `LinearClassifier`), `scalers.rs` (scalers, imputer, normalizer),
//! `pca.rs`, `dense.rs` (`MatMul`/`Gemm` maps and MLPs), `trees.rs`, `svm.rs` and `ovr.rs`
//! (the one-vs-rest block), `kmeans.rs`, `nb.rs` (GaussianNB) and `post.rs` (probability
//! transforms and label glue). `arith.rs` dispatches the arithmetic several families share;
//! `walker.rs` holds the walk's state and the model it builds.
//!
//! # What maps
//!
//! | ONNX | `.apr` |
//! |---|---|
//! | `Scaler` (`offset`, `scale`) | `standard_scaler` with `mean = offset`, `scale = 1 / scale`; before a tree ensemble, two `min_max_scaler` stages computing onnxruntime's `(x - offset) * scale` step for step |
//! | `Sub(mean)` then `Div(scale)` by constants (skl2onnx's StandardScaler and MaxAbsScaler with a double input) | `standard_scaler_f64` (f64 parameters, computed in f64, rounded once) |
//! | `ReduceSumSquare`, `Sqrt`, `Div` (L2) or `Abs`, `ReduceSum`, `Div` (L1) of the features (skl2onnx's Normalizer with a double input) | `normalizer` |
//! | `Mul` then `Add` by constants (skl2onnx's `MinMaxScaler`) | `min_max_scaler`; with a double input `min_max_scaler_f64` (f64 parameters, computed in f64, rounded once) |
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
//! A double graph (a double input, no cast of the rows to float) keeps its float64
//! parameters: its PCA becomes `pca_f64`, its linear map `linear_f64`, its MLP layers
//! `dense_f64`, its KMeans `kmeans_f64`. When every stage of the pipeline computes in f64
//! (those, the two f64 scalers, a normalizer, GaussianNB, a post transform) the output is
//! marked `precision: f64` and the engine computes the row in f64 throughout; otherwise (an
//! SVM, an imputer, trees) those stages are written as their f32 kinds and the answers are
//! f32, as for a float graph.
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

mod arith;
mod canon;
mod dense;
pub mod external;
mod graph;
mod kmeans;
mod linear;
mod nb;
mod ovr;
mod params;
mod pca;
mod post;
/// The ONNX protobuf messages (prost code generated from onnx 1.23.2's `onnx.proto3` by
/// `scripts/onnx/regen.sh`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub(crate) mod proto;
mod registry;
mod scalers;
mod svm;
mod trees;
mod walker;

use crate::ConvertError;
use graph::{invalid, Node};
use icebreak_format::ModelSpec;
use prost::Message;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use walker::Walker;

/// Options of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction. Default: `onnx-` and the first 12
    /// hex digits of the source file's SHA-256.
    pub model_version: Option<String>,
    /// A human name for the model. Default: the graph's name, when it has one.
    pub model_name: Option<String>,
    /// The folder ONNX external data is read from (the model file's folder; see
    /// [`external`]). `None`: a model with external data is refused.
    /// [`convert_path`] sets it.
    pub external_data_dir: Option<PathBuf>,
}

/// Converts an ONNX model file into a model spec, with default [`Options`]. Write the result
/// with [`icebreak_format::write`].
pub fn convert(bytes: &[u8]) -> Result<ModelSpec, ConvertError> {
    convert_with(bytes, &Options::default())
}

/// Converts the ONNX model file at `path`, reading any external data from the file's own
/// folder (see [`external`]).
pub fn convert_path(path: &Path, options: &Options) -> Result<ModelSpec, ConvertError> {
    let bytes =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut options = options.clone();
    if options.external_data_dir.is_none() {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        options.external_data_dir = Some(dir.unwrap_or(Path::new(".")).to_path_buf());
    }
    convert_with(&bytes, &options)
}

/// Converts an ONNX model file into a model spec.
pub fn convert_with(bytes: &[u8], options: &Options) -> Result<ModelSpec, ConvertError> {
    let sha: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut model = proto::ModelProto::decode(bytes)
        .map_err(|e| invalid(format!("malformed ONNX protobuf: {e}")))?;
    if let Some(g) = model.graph.as_mut().filter(|g| external::has_external(g)) {
        external::load(g, options.external_data_dir.as_deref())?;
    }
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
    let canon = canon::canonicalise(graph)?;
    let mut w = Walker::new(&model, graph, &canon, ml_opset)?;
    let walked = (|| {
        for (i, n) in canon.nodes.iter().enumerate() {
            if w.skip.contains(&i) {
                continue;
            }
            w.pos = i;
            registry::dispatch(&mut w, Node { p: n })?;
        }
        Ok(())
    })();
    match walked {
        Ok(()) => w.finish(sha, options).map(|mut spec| {
            icebreak_format::trees::TreeLayout::Auto.apply(&mut spec);
            spec
        }),
        Err(ConvertError::Invalid(msg)) => {
            let hint = match (unread_estimator(&model), msg.contains("graphs that branch")) {
                _ if column_outputs(&model) => " (skl2onnx's `zipmap='columns'` option, one \
                     output per class, is not read: export with the default ZipMap or with \
                     `options={id(model): {'zipmap': False}}`)"
                    .to_owned(),
                (Some(what), _) => format!(
                    " (the graph holds {what}, which icebreak does not read, from a float or a \
                     double export alike; docs/FIDELITY.md lists what it reads)"
                ),
                (None, true) => " (several estimators or branches over the same input — \
                     VotingClassifier, StackingClassifier, AdaBoost, CalibratedClassifierCV, \
                     ColumnTransformer, FeatureUnion — are not read, from a float or a double \
                     export alike: icebreak reads one chain of preprocessors into one estimator)"
                    .to_owned(),
                (None, false) => export_hint(&model).to_owned(),
            };
            Err(ConvertError::Invalid(format!("{msg}{hint}")))
        }
        Err(e) => Err(e),
    }
}

/// Whether the graph answers a label and one output per class, each a `Slice` of the
/// probabilities (skl2onnx's `zipmap='columns'`).
fn column_outputs(model: &proto::ModelProto) -> bool {
    model.graph.as_ref().is_some_and(|g| {
        g.output.len() > 2
            && g.node.iter().filter(|n| n.op_type == "Slice").count() + 1 >= g.output.len()
    })
}

/// The scikit-learn estimator behind an operator icebreak never reads, whatever the export's
/// precision or opset: named in the refusal so that it does not suggest another export.
fn unread_estimator(model: &proto::ModelProto) -> Option<&'static str> {
    let graph = model.graph.as_ref()?;
    let features = graph.input.first().map(|i| i.name.as_str());
    graph.node.iter().find_map(|n| {
        Some(match n.op_type.as_str() {
            "OneHotEncoder" => "a OneHotEncoder (written as Gather, Cast and OneHotEncoder)",
            "Scan" | "TopK" => {
                "k-nearest neighbours or another estimator of pairwise distances (written \
                 with Scan or TopK)"
            }
            // skl2onnx also maps labels with it; only a selection of the input's columns is
            // a ColumnTransformer's.
            "ArrayFeatureExtractor" if n.input.first().map(String::as_str) == features => {
                "a column selection (ColumnTransformer, PolynomialFeatures or a feature \
                 selector, written as ArrayFeatureExtractor)"
            }
            "LabelEncoder" | "CategoryMapper" => "a label or category encoder",
            "StringNormalizer" | "Tokenizer" | "TfIdfVectorizer" => "a text vectoriser",
            "Binarizer" => "a Binarizer",
            "DictVectorizer" | "FeatureVectorizer" => "a dictionary vectoriser",
            _ => return None,
        })
    })
}

/// The export call that writes a graph icebreak reads, for a refusal of a graph's node.
fn export_hint(model: &proto::ModelProto) -> &'static str {
    let double = model
        .graph
        .as_ref()
        .and_then(|g| g.input.first())
        .and_then(graph::input_type)
        .is_some_and(|(elem, _)| elem == graph::dtype::DOUBLE);
    match model.producer_name.as_str() {
        "skl2onnx" if double => {
            " (exported with float64 data; `to_onnx(model, X[:1].astype(numpy.float32))` \
             writes the float graph of the same model, which icebreak also reads)"
        }
        "skl2onnx" => {
            " (icebreak reads the graphs skl2onnx 1.19 and 1.20 write for the estimators \
             listed in docs/FIDELITY.md, exported with `to_onnx(model, X[:1])`)"
        }
        "pytorch" => {
            " (icebreak reads MLPs exported with `torch.onnx.export(net, (x,), path)`: \
             Gemm or MatMul + Add layers with Relu, Tanh or Sigmoid, and a final Softmax or \
             Sigmoid)"
        }
        _ => "",
    }
}
