//! Test support, behind the `testing` feature: a [`ModelSpecBuilder`] so that a test states
//! only what it cares about, and shared proptest strategies in [`strategy`].
//!
//! ```
//! use icebreak_format::testing::ModelSpecBuilder;
//! use icebreak_format::{write, LabelsSpec, StageSpec, Task};
//!
//! let spec = ModelSpecBuilder::new(2)
//!     .classifier(LabelsSpec::Int(vec![0, 1]))
//!     .stage(StageSpec::Linear { n_in: 2, n_out: 1, coef: vec![1.0, -1.0], intercept: vec![0.0] })
//!     .build();
//! assert_eq!(spec.output.task, Task::Classification);
//! assert_eq!(spec.output.n_outputs, 2);
//! write(&spec)?;
//! # Ok::<(), icebreak_format::FormatError>(())
//! ```

use crate::{
    write, AlignedBuf, FormatError, InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec,
    ProvenanceSpec, StageSpec, Task,
};

/// Provenance with only a model version (every optional field `None`).
pub fn provenance(model_version: &str) -> ProvenanceSpec {
    ProvenanceSpec {
        model_version: model_version.into(),
        model_name: None,
        source_format: None,
        converter: None,
        source_sha256: None,
    }
}

/// `n` integer class labels `0, 1, …, n - 1`.
pub fn int_labels(n: u32) -> LabelsSpec {
    LabelsSpec::Int((0..i64::from(n)).collect())
}

/// Builds a [`ModelSpec`] from its defaults: a regression with one output, missing values
/// rejected, no names, model version `"1"` and no other provenance, no stages.
#[derive(Debug, Clone)]
pub struct ModelSpecBuilder {
    spec: ModelSpec,
}

impl ModelSpec {
    /// [`ModelSpecBuilder::new`] (feature `testing`).
    pub fn builder(n_features: u32) -> ModelSpecBuilder {
        ModelSpecBuilder::new(n_features)
    }
}

impl ModelSpecBuilder {
    /// A regression over `n_features` features with one output; see the type's defaults.
    pub fn new(n_features: u32) -> Self {
        ModelSpecBuilder {
            spec: ModelSpec {
                input: InputSpec {
                    n_features,
                    missing: MissingValues::Reject,
                    feature_names: None,
                },
                output: OutputSpec {
                    task: Task::Regression,
                    n_outputs: 1,
                    labels: LabelsSpec::None,
                    output_names: None,
                    precision: crate::Precision::F32,
                },
                provenance: provenance("1"),
                stages: Vec::new(),
            },
        }
    }

    /// How missing values are written.
    pub fn missing(mut self, missing: MissingValues) -> Self {
        self.spec.input.missing = missing;
        self
    }

    /// Feature names (or none).
    pub fn feature_names(mut self, names: Option<Vec<String>>) -> Self {
        self.spec.input.feature_names = names;
        self
    }

    /// Output names (or none).
    pub fn output_names(mut self, names: Option<Vec<String>>) -> Self {
        self.spec.output.output_names = names;
        self
    }

    /// The task and output count as given, labels untouched.
    pub fn task(mut self, task: Task, n_outputs: u32) -> Self {
        self.spec.output.task = task;
        self.spec.output.n_outputs = n_outputs;
        self
    }

    /// The class labels as given, task and count untouched.
    pub fn labels(mut self, labels: LabelsSpec) -> Self {
        self.spec.output.labels = labels;
        self
    }

    /// A regression with `n_outputs` targets and no labels.
    pub fn regression(self, n_outputs: u32) -> Self {
        self.task(Task::Regression, n_outputs)
            .labels(LabelsSpec::None)
    }

    /// A transformer with `n_outputs` outputs and no labels.
    pub fn transform(self, n_outputs: u32) -> Self {
        self.task(Task::Transform, n_outputs)
            .labels(LabelsSpec::None)
    }

    /// A classifier over `labels`, one class per label.
    pub fn classifier(self, labels: LabelsSpec) -> Self {
        let n = match &labels {
            LabelsSpec::None => 0,
            LabelsSpec::Int(v) => v.len(),
            LabelsSpec::Str(v) => v.len(),
        };
        self.task(Task::Classification, n as u32).labels(labels)
    }

    /// `task` with `n_outputs` outputs and the labels that go with it: integer labels
    /// `0..n_outputs` for a classification, none otherwise.
    pub fn task_with_labels(self, task: Task, n_outputs: u32) -> Self {
        let labels = match task {
            Task::Classification => int_labels(n_outputs),
            Task::Regression | Task::Transform => LabelsSpec::None,
        };
        self.task(task, n_outputs).labels(labels)
    }

    /// The provenance as given.
    pub fn provenance(mut self, provenance: ProvenanceSpec) -> Self {
        self.spec.provenance = provenance;
        self
    }

    /// Only the model version (the rest of the provenance unchanged).
    pub fn version(mut self, model_version: &str) -> Self {
        self.spec.provenance.model_version = model_version.into();
        self
    }

    /// Appends a stage.
    pub fn stage(mut self, stage: StageSpec) -> Self {
        self.spec.stages.push(stage);
        self
    }

    /// Appends stages.
    pub fn stages(mut self, stages: impl IntoIterator<Item = StageSpec>) -> Self {
        self.spec.stages.extend(stages);
        self
    }

    /// The spec.
    pub fn build(self) -> ModelSpec {
        self.spec
    }

    /// The spec, written ([`crate::write`]).
    pub fn write(self) -> Result<AlignedBuf, FormatError> {
        write(&self.spec)
    }
}

/// Proptest strategies shared by the tests of several crates.
pub mod strategy {
    use crate::{LabelsSpec, PostTransform, ProvenanceSpec, Task};
    use proptest::collection::{btree_set, vec};
    use proptest::prelude::*;

    /// Finite f32s of every magnitude and sign (NaN is not equal to itself, so it would
    /// break round-trip equality; the format itself does not look at the values).
    pub fn weight() -> impl Strategy<Value = f32> {
        use proptest::num::f32::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
    }

    /// `n` [`weight`]s.
    pub fn weights(n: usize) -> impl Strategy<Value = Vec<f32>> {
        vec(weight(), n)
    }

    /// Finite f64s of every magnitude and sign.
    pub fn weight64() -> impl Strategy<Value = f64> {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
    }

    /// Any string, Unicode included: printable characters of every script, or any `char`
    /// at all (controls and NUL included); the empty string too.
    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "\\PC{0,12}",
            1 => vec(any::<char>(), 0..5).prop_map(String::from_iter),
        ]
    }

    /// No names, or `n` arbitrary ones.
    pub fn names(n: usize) -> impl Strategy<Value = Option<Vec<String>>> {
        proptest::option::of(vec(text(), n))
    }

    /// Arbitrary provenance (a hex digest when there is one).
    pub fn provenance() -> impl Strategy<Value = ProvenanceSpec> {
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of("[0-9a-f]{64}"),
        )
            .prop_map(
                |(model_version, model_name, source_format, converter, source_sha256)| {
                    ProvenanceSpec {
                        model_version,
                        model_name,
                        source_format,
                        converter,
                        source_sha256,
                    }
                },
            )
    }

    /// `n` distinct labels, integers or strings, in an arbitrary order.
    pub fn labels(n: usize) -> impl Strategy<Value = LabelsSpec> {
        prop_oneof![
            btree_set(any::<i64>(), n)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>())
                .prop_shuffle()
                .prop_map(LabelsSpec::Int),
            btree_set(text(), n)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>())
                .prop_shuffle()
                .prop_map(LabelsSpec::Str),
        ]
    }

    /// What an estimator's scores become, and the task and class count that go with it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Head {
        /// Regression with `n_out` targets and a post transform valid for that width.
        Regression {
            /// Estimator outputs.
            n_out: u32,
            /// Post transform.
            post: Option<PostTransform>,
        },
        /// A binary classifier with one score: a decision function, or binary_logistic.
        BinaryScore {
            /// Whether a binary_logistic post transform follows.
            logistic: bool,
        },
        /// A classifier with one score per class.
        PerClass {
            /// Classes.
            n: u32,
            /// Post transform.
            post: Option<PostTransform>,
        },
    }

    /// What a [`Head`] asks of a pipeline.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct HeadParts {
        /// Outputs of the estimator.
        pub n_out: u32,
        /// The post transform, if any.
        pub post: Option<PostTransform>,
        /// The task.
        pub task: Task,
        /// The output schema's `n_outputs`.
        pub n_outputs: u32,
    }

    impl Head {
        /// The estimator width, post transform, task and output count of this head.
        pub fn parts(self) -> HeadParts {
            let (n_out, post, task, n_outputs) = match self {
                Head::Regression { n_out, post } => {
                    let width = if post == Some(PostTransform::BinaryLogistic) {
                        2
                    } else {
                        n_out
                    };
                    (n_out, post, Task::Regression, width)
                }
                Head::BinaryScore { logistic } => (
                    1,
                    logistic.then_some(PostTransform::BinaryLogistic),
                    Task::Classification,
                    2,
                ),
                Head::PerClass { n, post } => (n, post, Task::Classification, n),
            };
            HeadParts {
                n_out,
                post,
                task,
                n_outputs,
            }
        }
    }

    /// A [`Head`]: a regression with `targets` outputs, a binary classifier, or a
    /// classifier over `classes` classes, each with a post transform valid for it.
    pub fn head(
        targets: impl Strategy<Value = u32>,
        classes: impl Strategy<Value = u32>,
    ) -> impl Strategy<Value = Head> {
        let regression = (targets, 0u8..5).prop_map(|(n_out, p)| {
            let post = match (p, n_out) {
                (1, _) => Some(PostTransform::Logistic),
                (2, n) if n >= 2 => Some(PostTransform::Softmax),
                (3, n) if n >= 2 => Some(PostTransform::OvrNormalize),
                // binary_logistic turns one score into two values: a regression of width 2.
                (4, 1) => Some(PostTransform::BinaryLogistic),
                _ => None,
            };
            Head::Regression { n_out, post }
        });
        let binary = any::<bool>().prop_map(|logistic| Head::BinaryScore { logistic });
        let per_class = (classes, 0u8..4).prop_map(|(n, p)| {
            let post = match p {
                1 => Some(PostTransform::Logistic),
                2 => Some(PostTransform::Softmax),
                3 => Some(PostTransform::OvrNormalize),
                _ => None,
            };
            Head::PerClass { n, post }
        });
        prop_oneof![regression, binary, per_class]
    }
}

/// Deterministic synthetic tree ensembles of any size, for benchmarks: full binary trees of
/// one depth, laid out depth first (a node's left child is the next row), random features and
/// thresholds in `[-1, 1)`, one leaf value per leaf.
pub mod synthetic {
    use crate::testing::ModelSpecBuilder;
    use crate::trees::LEAF;
    use crate::{MissingRule, ModelSpec, Split, StageSpec, TreeNode, TreesSpec};

    /// What to generate.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Forest {
        /// Number of trees.
        pub n_trees: u32,
        /// Depth of every tree (`depth` levels of nodes: `2^depth - 1` nodes, `2^depth`
        /// leaves per tree).
        pub depth: u32,
        /// Features.
        pub n_in: u32,
        /// A random forest (`x <= t`, averaged) rather than gradient boosting (`x < t`
        /// summed, features rounded to `f32`, as XGBoost).
        pub random_forest: bool,
        /// Seed of the generator.
        pub seed: u64,
    }

    impl Forest {
        /// Nodes in the ensemble.
        pub fn n_nodes(&self) -> u64 {
            u64::from(self.n_trees) * ((1u64 << self.depth) - 1)
        }
    }

    /// A xorshift64* generator.
    #[derive(Debug, Clone)]
    pub struct Rng(pub u64);

    impl Rng {
        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// A value in `[-1, 1)` with 24 random bits (exact in `f32`).
        pub fn unit(&mut self) -> f64 {
            (self.next_u64() >> 40) as f64 / f64::from(1u32 << 23) - 1.0
        }
    }

    /// The ensemble of `f`.
    pub fn trees(f: &Forest) -> TreesSpec {
        let mut rng = Rng(f.seed | 1);
        let mut t = TreesSpec {
            n_in: f.n_in,
            n_out: 1,
            average: f.random_forest,
            round_f32: !f.random_forest,
            leaf_width: 1,
            base: vec![0.0],
            ..TreesSpec::default()
        };
        for _ in 0..f.n_trees {
            let root = subtree(f, &mut rng, &mut t, f.depth);
            t.roots.push(root);
        }
        // In the layout the converters would choose.
        t.compact = crate::trees::TreeLayout::Auto.wants_compact(&t);
        t
    }

    /// Appends a full subtree of `depth` levels depth first; returns its reference.
    fn subtree(f: &Forest, rng: &mut Rng, t: &mut TreesSpec, depth: u32) -> u32 {
        if depth == 0 {
            t.leaves.push(rng.unit());
            return LEAF | (t.leaves.len() as u32 - 1);
        }
        let me = t.nodes.len();
        let threshold = rng.unit();
        t.nodes.push(TreeNode {
            feature: (rng.next_u64() % u64::from(f.n_in)) as u32,
            split: if f.random_forest {
                Split::Le(threshold)
            } else {
                Split::Lt(threshold)
            },
            missing: MissingRule::Default,
            default_left: rng.next_u64() & 1 == 0,
            left: 0,
            right: 0,
        });
        let left = subtree(f, rng, t, depth - 1);
        let right = subtree(f, rng, t, depth - 1);
        t.nodes[me].left = left;
        t.nodes[me].right = right;
        me as u32
    }

    /// A regression model of the ensemble of `f`.
    pub fn model(f: &Forest) -> ModelSpec {
        ModelSpecBuilder::new(f.n_in)
            .version("synthetic")
            .stage(StageSpec::Trees(trees(f)))
            .build()
    }

    /// A row of `n` features in `[-1, 1)`.
    pub fn row(n: u32, seed: u64) -> Vec<f64> {
        let mut rng = Rng(seed | 1);
        (0..n).map(|_| rng.unit()).collect()
    }
}
