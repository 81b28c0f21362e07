//! Models written for the tests.

use icebreak_format::{
    write, InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec, PostTransform,
    ProvenanceSpec, StageSpec, Task,
};
use icebreak_protocol::Predictor;

pub fn provenance() -> ProvenanceSpec {
    ProvenanceSpec {
        model_version: "test-1".into(),
        model_name: Some("test".into()),
        source_format: None,
        converter: None,
        source_sha256: None,
    }
}

/// A predictor over `spec`, leaked: `&'static`, as served models are.
pub fn predictor(spec: &ModelSpec) -> Predictor {
    Predictor::from_bytes(write(spec).unwrap().leak()).unwrap()
}

/// A binary logistic regression over two features, named `a` and `b`, with string labels
/// `no` and `yes`: `yes` when `a + b > 0`.
pub fn labelled() -> Predictor {
    predictor(&ModelSpec {
        input: InputSpec {
            n_features: 2,
            missing: MissingValues::Reject,
            feature_names: Some(vec!["a".into(), "b".into()]),
        },
        output: OutputSpec {
            task: Task::Classification,
            n_outputs: 2,
            labels: LabelsSpec::Str(vec!["no".into(), "yes".into()]),
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: provenance(),
        stages: vec![
            StageSpec::Linear {
                n_in: 2,
                n_out: 1,
                coef: vec![1.0, 1.0],
                intercept: vec![0.0],
            },
            StageSpec::Post(PostTransform::BinaryLogistic),
        ],
    })
}

/// A two-target linear regression over two features that takes missing values:
/// `(x0 + x1, x0 - x1)`.
pub fn two_targets() -> Predictor {
    predictor(&ModelSpec {
        input: InputSpec {
            n_features: 2,
            missing: MissingValues::Nan,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Regression,
            n_outputs: 2,
            labels: LabelsSpec::None,
            output_names: None,
            precision: icebreak_format::Precision::F32,
        },
        provenance: provenance(),
        stages: vec![StageSpec::Linear {
            n_in: 2,
            n_out: 2,
            coef: vec![1.0, 1.0, 1.0, -1.0],
            intercept: vec![0.0, 0.0],
        }],
    })
}

/// One tree that is a single leaf, `-4.320310689291134` (a LightGBM raw score), over one
/// feature: a regression answering that value at `precision`.
pub fn leaf(precision: icebreak_format::Precision) -> Predictor {
    let trees = icebreak_format::TreesSpec {
        n_in: 1,
        n_out: 1,
        leaf_width: 1,
        roots: vec![icebreak_format::trees::LEAF],
        leaves: vec![-4.320310689291134],
        base: vec![0.0],
        ..icebreak_format::TreesSpec::default()
    };
    predictor(&ModelSpec {
        input: InputSpec {
            n_features: 1,
            missing: MissingValues::Nan,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Regression,
            n_outputs: 1,
            labels: LabelsSpec::None,
            output_names: None,
            precision,
        },
        provenance: provenance(),
        stages: vec![StageSpec::Trees(trees)],
    })
}
