//! `icebreak inspect MODEL.apr [--json]`: what a model is, stage by stage.
//!
//! The `--json` output is a stable schema (`"schema": 1`), documented in `docs/CLI.md`; the
//! text output is for people and may change.

use icebreak_format::trees::LEAF;
use icebreak_format::{
    Activation, AlignedBuf, Apr, FormatError, Kernel, Labels, MissingValues, Norm, Role, Split,
    Stage, Svm, Task, TreeNode, Trees,
};
use serde::Serialize;
use serde_json::json;
use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `icebreak inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `.apr` model.
    #[arg(value_name = "MODEL.apr")]
    model: PathBuf,
    /// Print one JSON object (schema in docs/CLI.md) instead of text.
    #[arg(long)]
    json: bool,
}

/// Why `icebreak inspect` could not describe the model.
#[derive(Debug)]
pub enum InspectError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is not a valid `.apr` model.
    Invalid(PathBuf, FormatError),
    /// Standard output could not be written.
    Write(std::io::Error),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Read(p, _) => write!(f, "cannot read {}", p.display()),
            InspectError::Invalid(p, _) => write!(f, "{} is not a valid .apr model", p.display()),
            InspectError::Write(_) => f.write_str("cannot write to standard output"),
        }
    }
}

impl std::error::Error for InspectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InspectError::Read(_, e) | InspectError::Write(e) => Some(e),
            InspectError::Invalid(_, e) => Some(e),
        }
    }
}

/// Reads a whole file into a 64-byte aligned buffer (one read, no second copy), so the
/// model's weights can be viewed in place.
pub fn read_model(path: &Path) -> std::io::Result<AlignedBuf> {
    let mut file = std::fs::File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| std::io::Error::other("file too large for this machine"))?;
    let mut buf = AlignedBuf::zeroed(len);
    file.read_exact(buf.as_mut_slice())?;
    Ok(buf)
}

/// Prints the description. A file whose checksum does not verify is still described, then
/// the command fails (exit 1).
pub fn run(args: Args) -> Result<ExitCode, InspectError> {
    let bytes = read_model(&args.model).map_err(|e| InspectError::Read(args.model.clone(), e))?;
    let apr = Apr::parse(&bytes).map_err(|e| InspectError::Invalid(args.model.clone(), e))?;
    let mut summary = Summary::of(&apr, &bytes);
    summary.path = Some(args.model.display().to_string());
    let text = if args.json {
        let mut s =
            serde_json::to_string_pretty(&summary).map_err(|e| InspectError::Write(e.into()))?;
        s.push('\n');
        s
    } else {
        summary.text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(InspectError::Write)?;
    if summary.file.checksum.verified {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "icebreak: {}: checksum mismatch (stored {}, computed {}): the file is damaged",
            args.model.display(),
            summary.file.checksum.crc32,
            summary.file.checksum.computed.as_deref().unwrap_or("?"),
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Everything `inspect` reports; serialised as is for `--json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Version of this JSON schema.
    schema: u32,
    /// The path as given on the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    file: FileInfo,
    task: &'static str,
    inputs: Inputs<'a>,
    outputs: Outputs<'a>,
    stages: Vec<StageInfo>,
    provenance: ProvenanceInfo<'a>,
}

#[derive(Debug, Serialize)]
struct FileInfo {
    bytes: u64,
    format_version: String,
    sections: usize,
    checksum: Checksum,
}

#[derive(Debug, Serialize)]
struct Checksum {
    /// CRC-32 stored in the header, 8 lower-case hex digits.
    crc32: String,
    verified: bool,
    /// The CRC-32 of the bytes, when it differs from the stored one.
    #[serde(skip_serializing_if = "Option::is_none")]
    computed: Option<String>,
}

#[derive(Debug, Serialize)]
struct Inputs<'a> {
    n_features: u32,
    /// `"reject"`: every feature must be a number; `"nan"`: a missing value (empty, null,
    /// NaN) is routed by the model.
    missing: &'static str,
    feature_names: Option<Vec<&'a str>>,
}

#[derive(Debug, Serialize)]
struct Outputs<'a> {
    /// Classes (classification) or targets (regression).
    n_outputs: u32,
    /// Width of the pipeline's final output.
    width: u32,
    classes: Option<Vec<serde_json::Value>>,
    output_names: Option<Vec<&'a str>>,
    /// The precision of the answers: `f32` or `f64`.
    precision: &'static str,
}

#[derive(Debug, Serialize)]
struct StageInfo {
    index: usize,
    name: &'static str,
    role: &'static str,
    n_in: u32,
    n_out: u32,
    /// Bytes of the stage's tensors.
    bytes: u64,
    tensors: Vec<Tensor>,
    /// Scalar parameters (kernel, activation, norm, ...), per stage kind.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    params: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trees: Option<TreeStats>,
}

#[derive(Debug, Serialize)]
struct Tensor {
    name: &'static str,
    dtype: &'static str,
    shape: Vec<u64>,
}

impl Tensor {
    fn new(name: &'static str, dtype: &'static str, shape: &[usize]) -> Self {
        Tensor {
            name,
            dtype,
            shape: shape.iter().map(|&d| d as u64).collect(),
        }
    }
    fn bytes(&self) -> u64 {
        let width = match self.dtype {
            "f64" | "i64" => 8,
            _ => 4,
        };
        self.shape.iter().product::<u64>() * width
    }
}

#[derive(Debug, Serialize)]
struct TreeStats {
    n_trees: usize,
    n_nodes: usize,
    n_leaves: usize,
    /// Longest root-to-leaf path, in edges (a tree that is a single leaf has depth 0).
    max_depth: u32,
    leaf_width: u32,
    n_categorical_nodes: usize,
    /// The tree sum is divided by the number of trees (random forests).
    average: bool,
    /// Features are rounded to `f32` before comparisons.
    round_f32: bool,
    /// The sum is taken in `f32` from the base value, tree by tree (XGBoost).
    sum_f32: bool,
    /// The average divides by the trees per output (LightGBM's multi-class forests).
    average_per_output: bool,
    /// The nodes are in the compact 16-byte layout (FORMAT.md, "Compact layout").
    compact: bool,
}

#[derive(Debug, Serialize)]
struct ProvenanceInfo<'a> {
    model_version: &'a str,
    model_name: Option<&'a str>,
    source_format: Option<&'a str>,
    converter: Option<&'a str>,
    source_sha256: Option<&'a str>,
}

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Regression => "regression",
        Task::Classification => "classification",
        Task::Transform => "transform",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Preprocessor => "preprocessor",
        Role::Estimator => "estimator",
        Role::Postprocessor => "postprocessor",
    }
}

fn tree_stats(t: &Trees<'_>) -> TreeStats {
    if t.is_compact() {
        // The compact rows read back in the classic form: the same trees.
        let spec = icebreak_format::trees::to_spec(t);
        let rows: Vec<_> = spec.nodes.iter().map(TreeNode::encode).collect();
        let stats = tree_stats(&Trees {
            flags: t.flags & !icebreak_format::trees::FLAG_COMPACT,
            roots: &spec.roots,
            nodes: &rows,
            compact: &[],
            leaves: &spec.leaves,
            ..*t
        });
        return TreeStats {
            compact: true,
            ..stats
        };
    }
    // A child's index is greater than its parent's (rule R29), so one pass in index order
    // sees every parent before its children.
    let mut depth = vec![0u32; t.nodes.len()];
    let mut max_depth = 0;
    let mut categorical = 0;
    for (i, row) in t.nodes.iter().enumerate() {
        let d = depth.get(i).copied().unwrap_or(0);
        if let Some(TreeNode {
            split: Split::InSet { .. },
            ..
        }) = TreeNode::decode(row)
        {
            categorical += 1;
        }
        for child in [row[1], row[2]] {
            if child & LEAF != 0 {
                max_depth = max_depth.max(d + 1);
            } else if let Some(c) = depth.get_mut(child as usize) {
                *c = (*c).max(d + 1);
            }
        }
    }
    TreeStats {
        n_trees: t.n_trees(),
        n_nodes: t.nodes.len(),
        n_leaves: t.leaves.len() / (t.leaf_width.max(1) as usize),
        max_depth,
        leaf_width: t.leaf_width,
        n_categorical_nodes: categorical,
        average: t.average(),
        round_f32: t.round_f32(),
        sum_f32: t.sum_f32(),
        average_per_output: t.flags & icebreak_format::trees::FLAG_AVERAGE_PER_OUTPUT != 0,
        compact: false,
    }
}

/// The parameters and tensors of an `svm` or `svm_f64` stage.
fn svm_tensors<V>(
    svm: &Svm<'_, V>,
    sv_dtype: &'static str,
    param: &mut impl FnMut(&str, serde_json::Value),
) -> Vec<Tensor> {
    let t = Tensor::new;
    let (kernel, gamma, coef0, degree) = match svm.kernel {
        Kernel::Linear => ("linear", None, None, None),
        Kernel::Poly {
            gamma,
            coef0,
            degree,
        } => ("poly", Some(gamma), Some(coef0), Some(degree)),
        Kernel::Rbf { gamma } => ("rbf", Some(gamma), None, None),
        Kernel::Sigmoid { gamma, coef0 } => ("sigmoid", Some(gamma), Some(coef0), None),
    };
    param("kernel", json!(kernel));
    for (k, v) in [("gamma", gamma), ("coef0", coef0)] {
        if let Some(v) = v {
            param(k, json!(v));
        }
    }
    if let Some(d) = degree {
        param("degree", json!(d));
    }
    param("n_classes", json!(svm.n_classes));
    param("n_support_vectors", json!(svm.n_sv()));
    param("probabilities", json!(svm.has_probabilities()));
    let n_sv = svm.n_sv();
    let mut v = Vec::new();
    if !svm.n_support.is_empty() {
        v.push(t("n_support", "u32", &[svm.n_support.len()]));
    }
    v.push(t("support_vectors", sv_dtype, &[n_sv, svm.n_in as usize]));
    v.push(t("coef", "f64", &[svm.coef.len() / n_sv.max(1), n_sv]));
    v.push(t("intercept", "f64", &[svm.intercept.len()]));
    if svm.has_probabilities() {
        v.push(t("prob_a", "f64", &[svm.prob_a.len()]));
        v.push(t("prob_b", "f64", &[svm.prob_b.len()]));
    }
    v
}

/// The element type of a stage's weights, for the stages that come in an f32 and an f64 kind.
fn float_type(stage: &Stage<'_>) -> &'static str {
    match stage {
        Stage::StandardScalerF64 { .. }
        | Stage::MinMaxScalerF64 { .. }
        | Stage::PcaF64 { .. }
        | Stage::LinearF64 { .. }
        | Stage::DenseF64 { .. } => "f64",
        _ => "f32",
    }
}

fn stage_info(index: usize, stage: &Stage<'_>, n_in: u32) -> StageInfo {
    let mut trees = None;
    let mut params = serde_json::Map::new();
    let mut param = |k: &str, v: serde_json::Value| {
        params.insert(k.to_string(), v);
    };
    let t = Tensor::new;
    let tensors = match *stage {
        Stage::StandardScaler { mean, scale } => {
            vec![
                t("mean", "f32", &[mean.len()]),
                t("scale", "f32", &[scale.len()]),
            ]
        }
        Stage::StandardScalerF64 { mean, scale } => {
            vec![
                t("mean", "f64", &[mean.len()]),
                t("scale", "f64", &[scale.len()]),
            ]
        }
        Stage::MinMaxScalerF64 { scale, min } => {
            vec![
                t("scale", "f64", &[scale.len()]),
                t("min", "f64", &[min.len()]),
            ]
        }
        Stage::MinMaxScaler { scale, min } => {
            vec![
                t("scale", "f32", &[scale.len()]),
                t("min", "f32", &[min.len()]),
            ]
        }
        Stage::Normalizer { norm, .. } => {
            param(
                "norm",
                json!(match norm {
                    Norm::L1 => "l1",
                    Norm::L2 => "l2",
                    Norm::Max => "max",
                }),
            );
            Vec::new()
        }
        Stage::Imputer { missing, fill } => {
            // JSON has no NaN: null stands for it.
            param("missing_value", json!(missing));
            vec![t("fill", "f32", &[fill.len()])]
        }
        Stage::Pca {
            n_in: pi, n_out, ..
        }
        | Stage::PcaF64 {
            n_in: pi, n_out, ..
        } => {
            // The reader checked the lengths: the mean has `n_in` values, the whitening `n_out`.
            let ty = float_type(stage);
            let whiten = matches!(
                *stage,
                Stage::Pca {
                    whiten: Some(_),
                    ..
                } | Stage::PcaF64 {
                    whiten: Some(_),
                    ..
                }
            );
            param("whiten", json!(whiten));
            let mut v = vec![
                t("mean", ty, &[pi as usize]),
                t("components", ty, &[n_out as usize, pi as usize]),
            ];
            if whiten {
                v.push(t("whiten", ty, &[n_out as usize]));
            }
            v
        }
        Stage::Linear {
            n_in: li, n_out, ..
        }
        | Stage::LinearF64 {
            n_in: li, n_out, ..
        } => {
            let ty = float_type(stage);
            vec![
                t("coef", ty, &[n_out as usize, li as usize]),
                t("intercept", ty, &[n_out as usize]),
            ]
        }
        Stage::Dense {
            n_in: di,
            n_out,
            activation,
            ..
        }
        | Stage::DenseF64 {
            n_in: di,
            n_out,
            activation,
            ..
        } => {
            param(
                "activation",
                json!(match activation {
                    Activation::Identity => "identity",
                    Activation::Relu => "relu",
                    Activation::Tanh => "tanh",
                    Activation::Logistic => "logistic",
                }),
            );
            let ty = float_type(stage);
            vec![
                t("weights", ty, &[n_out as usize, di as usize]),
                t("bias", ty, &[n_out as usize]),
            ]
        }
        Stage::Svm(svm) => svm_tensors(&svm, "f32", &mut param),
        Stage::SvmF64(svm) => {
            param("break_ties", json!(svm.break_ties));
            svm_tensors(&svm, "f64", &mut param)
        }
        Stage::ImputerF64 { missing, fill } => {
            // JSON has no NaN: null stands for it.
            param("missing_value", json!(missing));
            vec![t("fill", "f64", &[fill.len()])]
        }
        Stage::KMeans { n_in: ki, k, .. } => {
            param("k", json!(k));
            vec![t("centers", "f32", &[k as usize, ki as usize])]
        }
        Stage::KMeansF64 { n_in: ki, k, .. } => {
            param("k", json!(k));
            vec![t("centers", "f64", &[k as usize, ki as usize])]
        }
        Stage::GaussianNb {
            n_in: gi,
            n_classes,
            ..
        } => {
            let (c, f) = (n_classes as usize, gi as usize);
            vec![
                t("theta", "f64", &[c, f]),
                t("var", "f64", &[c, f]),
                t("log_prior", "f64", &[c]),
                t("log_norm", "f64", &[c]),
            ]
        }
        Stage::Trees(tr) => {
            let stats = tree_stats(&tr);
            let mut v = vec![
                t("roots", "u32", &[tr.roots.len()]),
                if tr.is_compact() {
                    t(
                        "nodes (compact rows)",
                        "u32",
                        &[tr.compact.len(), icebreak_format::trees::compact::ROW_WORDS],
                    )
                } else {
                    t(
                        "nodes",
                        "u32",
                        &[tr.nodes.len(), icebreak_format::trees::NODE_WORDS],
                    )
                },
                t(
                    "leaves",
                    "f64",
                    &[
                        tr.leaves.len() / (tr.leaf_width.max(1) as usize),
                        tr.leaf_width as usize,
                    ],
                ),
                t("base", "f64", &[tr.base.len()]),
            ];
            if !tr.targets.is_empty() {
                v.push(t("targets", "u32", &[tr.targets.len()]));
            }
            if !tr.categories.is_empty() {
                v.push(t("categories", "u32", &[tr.categories.len()]));
            }
            if tr.has_covers() {
                v.push(t("covers", "f64", &[tr.covers.len()]));
            }
            trees = Some(stats);
            v
        }
        Stage::Oblivious(o) => {
            param("n_trees", json!(o.depths.len()));
            param("n_splits", json!(o.n_splits()));
            param(
                "max_depth",
                json!(o.depths.iter().max().copied().unwrap_or(0)),
            );
            let mut v = vec![t(
                "splits",
                "u32",
                &[o.n_splits(), icebreak_format::oblivious::SPLIT_WORDS],
            )];
            v.retain(|_| o.n_splits() > 0);
            v.push(t("depths", "u32", &[o.depths.len()]));
            if !o.tree_splits.is_empty() {
                v.push(t("tree_splits", "u32", &[o.tree_splits.len()]));
            }
            v.push(t(
                "leaves",
                "f64",
                &[o.leaves.len() / (o.n_out.max(1) as usize), o.n_out as usize],
            ));
            v.push(t("scale_bias", "f64", &[o.scale_bias.len()]));
            if !o.categorical.is_empty() {
                v.push(t("categorical", "u32", &[o.categorical.len()]));
            }
            if !o.ctrs.is_empty() {
                let c = &o.ctrs;
                let words = icebreak_format::oblivious::CTR_HEADER_WORDS
                    + c.tables.len()
                    + c.elements.len()
                    + c.defs.len()
                    + c.hashes.len()
                    + c.counts.len();
                v.push(t("ctrs", "u32", &[words]));
            }
            v
        }
        Stage::Post(_) => Vec::new(),
    };
    StageInfo {
        index,
        name: stage.name(),
        role: role_name(stage.role()),
        n_in,
        n_out: stage.output_width(n_in),
        bytes: tensors.iter().map(Tensor::bytes).sum(),
        tensors,
        params,
        trees,
    }
}

impl<'a> Summary<'a> {
    /// Describes a parsed model; `bytes` is the whole file (for the checksum).
    pub fn of(apr: &Apr<'a>, bytes: &[u8]) -> Summary<'a> {
        let computed = icebreak_format::checksum(bytes);
        let stored = apr.checksum();
        let version = bytes
            .get(4..8)
            .map(|v| {
                format!(
                    "{}.{}",
                    u16::from_le_bytes([v[0], v[1]]),
                    u16::from_le_bytes([v[2], v[3]])
                )
            })
            .unwrap_or_default();
        let mut width = apr.input().n_features;
        let stages = apr
            .stages()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let info = stage_info(i, s, width);
                width = info.n_out;
                info
            })
            .collect();
        let classes = match &apr.output().labels {
            Labels::None => None,
            Labels::Int(v) => Some(v.iter().map(|&c| serde_json::json!(c)).collect()),
            Labels::Str(s) => Some(s.iter().map(|c| serde_json::json!(c)).collect()),
        };
        let p = apr.provenance();
        Summary {
            schema: 1,
            path: None,
            file: FileInfo {
                bytes: bytes.len() as u64,
                format_version: version,
                sections: apr.sections().len(),
                checksum: Checksum {
                    crc32: format!("{stored:08x}"),
                    verified: computed == stored,
                    computed: (computed != stored).then(|| format!("{computed:08x}")),
                },
            },
            task: task_name(apr.output().task),
            inputs: Inputs {
                n_features: apr.input().n_features,
                missing: match apr.input().missing {
                    MissingValues::Reject => "reject",
                    MissingValues::Nan => "nan",
                },
                feature_names: apr.input().feature_names.map(|l| l.iter().collect()),
            },
            outputs: Outputs {
                n_outputs: apr.output().n_outputs,
                width: apr.output_width(),
                classes,
                output_names: apr.output().output_names.map(|l| l.iter().collect()),
                precision: apr.output().precision.name(),
            },
            stages,
            provenance: ProvenanceInfo {
                model_version: p.model_version,
                model_name: p.model_name,
                source_format: p.source_format,
                converter: p.converter,
                source_sha256: p.source_sha256,
            },
        }
    }

    fn task_line(&self) -> String {
        match (&self.outputs.classes, self.task) {
            (Some(c), _) => format!("{} ({} classes)", self.task, c.len()),
            (None, "regression") if self.outputs.n_outputs == 1 => "regression".to_string(),
            (None, _) => format!("{} ({} outputs)", self.task, self.outputs.n_outputs),
        }
    }

    /// One line: task, features, stages, size, checksum, version (what `convert` prints).
    pub fn one_line(&self) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| match &s.trees {
                Some(t) => format!("{}({} trees, {} nodes)", s.name, t.n_trees, t.n_nodes),
                None => s.name.to_string(),
            })
            .collect();
        format!(
            "{}, {} features, stages {}, {} bytes, crc32 {}, version {}",
            self.task_line(),
            self.inputs.n_features,
            stages.join(" > "),
            self.file.bytes,
            self.file.checksum.crc32,
            self.provenance.model_version
        )
    }

    /// The human-readable report.
    fn text(&self) -> String {
        /// Feature names shown before "… and N more".
        const NAMES_SHOWN: usize = 12;
        let f = &self.file;
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.path.as_deref().unwrap_or("model"));
        let check = if f.checksum.verified {
            format!("crc32 {} (verified)", f.checksum.crc32)
        } else {
            format!(
                "crc32 {} (MISMATCH: the bytes give {})",
                f.checksum.crc32,
                f.checksum.computed.as_deref().unwrap_or("?")
            )
        };
        let mut kv = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<12}{v}");
        };
        kv(
            "file",
            format!(
                ".apr {}, {} bytes, {} sections",
                f.format_version, f.bytes, f.sections
            ),
        );
        kv("checksum", check);
        kv("task", self.task_line());
        if let Some(c) = &self.outputs.classes {
            let list: Vec<String> = c.iter().map(|v| v.to_string()).collect();
            kv("classes", list.join(", "));
        }
        kv(
            "inputs",
            format!(
                "{} features, missing values {}",
                self.inputs.n_features,
                match self.inputs.missing {
                    "nan" => "accepted (empty, null or NaN; routed by the model)",
                    _ => "rejected",
                }
            ),
        );
        if let Some(names) = &self.inputs.feature_names {
            let mut shown = names
                .iter()
                .take(NAMES_SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if names.len() > NAMES_SHOWN {
                let _ = write!(shown, ", ... and {} more", names.len() - NAMES_SHOWN);
            }
            kv("features", shown);
        }
        kv(
            "outputs",
            format!(
                "{} {}, final width {}, answers in {}",
                self.outputs.n_outputs,
                if self.task == "classification" {
                    "classes"
                } else {
                    "values"
                },
                self.outputs.width,
                self.outputs.precision
            ),
        );
        if let Some(names) = &self.outputs.output_names {
            kv("names", names.join(", "));
        }
        let _ = writeln!(out, "  stages");
        for st in &self.stages {
            let _ = writeln!(
                out,
                "    {} {:<16}{:<14}{:>6} -> {:<6}{:>10} bytes",
                st.index, st.name, st.role, st.n_in, st.n_out, st.bytes
            );
            if let Some(t) = &st.trees {
                let mut flags = Vec::new();
                if t.average {
                    flags.push("average");
                }
                if t.round_f32 {
                    flags.push("round_f32");
                }
                if t.sum_f32 {
                    flags.push("sum_f32");
                }
                if t.average_per_output {
                    flags.push("average_per_output");
                }
                if t.compact {
                    flags.push("compact");
                }
                let _ = writeln!(
                    out,
                    "        {} trees, {} nodes, {} leaves, max depth {}, leaf width {}, {} categorical nodes, flags: {}",
                    t.n_trees,
                    t.n_nodes,
                    t.n_leaves,
                    t.max_depth,
                    t.leaf_width,
                    t.n_categorical_nodes,
                    if flags.is_empty() { "none".to_string() } else { flags.join(", ") }
                );
            }
            if !st.params.is_empty() {
                let list: Vec<String> = st.params.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(out, "        {}", list.join(", "));
            }
            if !st.tensors.is_empty() {
                let list: Vec<String> = st
                    .tensors
                    .iter()
                    .map(|t| {
                        let dims: Vec<String> = t.shape.iter().map(u64::to_string).collect();
                        format!("{} {}[{}]", t.name, t.dtype, dims.join(", "))
                    })
                    .collect();
                let _ = writeln!(out, "        tensors: {}", list.join(", "));
            }
        }
        let p = &self.provenance;
        let mut kv = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                let _ = writeln!(out, "  {k:<12}{v}");
            }
        };
        kv("version", Some(p.model_version));
        kv("name", p.model_name);
        kv("source", p.source_format);
        kv("converter", p.converter);
        kv("source sha", p.source_sha256);
        out
    }
}
