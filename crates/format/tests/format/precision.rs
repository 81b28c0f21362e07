//! The output precision (version 1.1): written only when it is f64, read back as written;
//! a file without it (1.0) answers in f32.

use crate::common::minor;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

fn linear(precision: Precision) -> ModelSpec {
    let mut s = ModelSpecBuilder::new(2)
        .regression(1)
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![0.5, -1.0],
            intercept: vec![3.0],
        })
        .build();
    s.output.precision = precision;
    s
}

#[test]
fn f32_models_are_written_as_1_0_and_f64_models_as_1_1() {
    let f32_file = write(&linear(Precision::F32)).unwrap();
    assert_eq!(minor(&f32_file), 0);
    let apr = Apr::parse_verified(&f32_file).unwrap();
    assert_eq!(apr.output().precision, Precision::F32);

    let f64_file = write(&linear(Precision::F64)).unwrap();
    assert_eq!(minor(&f64_file), 1);
    let apr = Apr::parse_verified(&f64_file).unwrap();
    assert_eq!(apr.output().precision, Precision::F64);
    assert_eq!(apr.to_spec(), linear(Precision::F64));
}

#[test]
fn precision_names_and_rounding() {
    assert_eq!(Precision::F32.name(), "f32");
    assert_eq!(Precision::F64.name(), "f64");
    assert_eq!(Precision::default(), Precision::F32);
    let x = -4.320310689291134;
    assert_eq!(Precision::F64.round(x), x);
    assert_eq!(Precision::F32.round(x), f64::from(x as f32));
}

fn linear_f64() -> ModelSpec {
    let mut s = ModelSpecBuilder::new(2)
        .regression(2)
        .stage(StageSpec::StandardScalerF64 {
            mean: vec![0.1, -2.5],
            scale: vec![3.0, 0.7],
        })
        .stage(StageSpec::LinearF64 {
            n_in: 2,
            n_out: 2,
            coef: vec![0.1, -1.0 / 3.0, 1e-300, 7.25],
            intercept: vec![std::f64::consts::PI, -0.0],
        })
        .build();
    s.output.precision = Precision::F64;
    s
}

/// The index, among the manifest words, of the linear_f64 record's kind word (15), found by
/// its fields: kind, n_in 2, n_out 2.
fn linear_kind_word(file: &[u8]) -> usize {
    let parts = crate::common::Parts::of(file);
    let words = parts.manifest_words();
    words
        .windows(3)
        .position(|w| w == [15, 2, 2])
        .expect("a linear_f64 record")
}

/// A linear_f64 stage (kind 15, version 1.1) keeps its f64 parameters exactly, and is
/// written as 1.1 even in a model answering in f32.
#[test]
fn linear_f64_round_trips_as_1_1() {
    let spec = linear_f64();
    let file = write(&spec).unwrap();
    assert_eq!(minor(&file), 1);
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.to_spec(), spec);
    assert!(matches!(
        apr.stages()[1],
        Stage::LinearF64 { coef: [_, _, c, _], .. } if *c == 1e-300
    ));
    assert_eq!(apr.stages()[1].name(), "linear_f64");
    let mut f32_answers = linear_f64();
    f32_answers.output.precision = Precision::F32;
    let file = write(&f32_answers).unwrap();
    assert_eq!(minor(&file), 1);
    assert_eq!(Apr::parse_verified(&file).unwrap().to_spec(), f32_answers);
}

/// R21: kind 15 is unknown to a 1.0 reader; R23: a linear_f64 needs f64 tensors of exactly
/// `n_out · n_in` and `n_out` elements; R20: its record is 5 words.
#[test]
fn linear_f64_rules() {
    use crate::common::{broken, set_word, write_vec};
    let spec = linear_f64();
    let k = linear_kind_word(&write_vec(&spec));
    // A 1.0 file (an f32 linear model) whose kind word says linear_f64, dense_f64, pca_f64,
    // kmeans_f64 or oblivious.
    let one_0 = linear(Precision::F32);
    let k10 = crate::common::Parts::of(&write_vec(&one_0))
        .manifest_words()
        .windows(3)
        .position(|w| w == [2, 2, 1])
        .unwrap();
    for kind in [15, 16, 17, 18, 19] {
        let e = broken(&one_0, |v| set_word(v, k10, kind));
        assert_eq!(
            e,
            FormatError::UnknownValue {
                field: "stage_kind",
                value: kind
            }
        );
    }
    // A linear (f32) model whose kind word says linear_f64: its tensors are f32.
    let mut f32_linear = linear(Precision::F64);
    f32_linear.stages[0] = StageSpec::Linear {
        n_in: 2,
        n_out: 2,
        coef: vec![1.0, 2.0, 3.0, 4.0],
        intercept: vec![0.5, 0.25],
    };
    f32_linear.output.n_outputs = 2;
    let k32 = crate::common::Parts::of(&write_vec(&f32_linear))
        .manifest_words()
        .windows(3)
        .position(|w| w == [2, 2, 2])
        .unwrap();
    let e = broken(&f32_linear, |v| set_word(v, k32, 15));
    assert!(
        matches!(e, FormatError::BadTensorRef { stage: 0, reason, .. } if reason.contains("dtype")),
        "{e:?}"
    );
    // A kind no version defines, in a 1.1 file.
    let e = broken(&spec, |v| set_word(v, k, 999));
    assert_eq!(
        e,
        FormatError::UnknownValue {
            field: "stage_kind",
            value: 999
        }
    );
    // n_out 1: the 4 coefficients are not 1 × 2, and the intercept has 2 elements.
    let e = broken(&spec, |v| set_word(v, k + 2, 1));
    assert!(
        matches!(
            e,
            FormatError::BadTensorRef {
                stage: 1,
                reason: "element count does not match the shape",
                ..
            }
        ),
        "{e:?}"
    );
    // One word short.
    let e = broken(&spec, |v| set_word(v, k - 1, 4));
    assert!(
        matches!(e, FormatError::RecordLength { found: 4, .. }),
        "{e:?}"
    );
}

fn dense_f64_layer(n_in: u32, n_out: u32, activation: Activation) -> StageSpec {
    StageSpec::DenseF64 {
        n_in,
        n_out,
        activation,
        weights: (0..n_in * n_out)
            .map(|i| f64::from(i) / 7.0 - 1.0)
            .collect(),
        bias: (0..n_out).map(|i| f64::from(i) * 0.1).collect(),
    }
}

fn mlp_f64(second: StageSpec) -> ModelSpec {
    let mut s = ModelSpecBuilder::new(3)
        .regression(2)
        .stage(dense_f64_layer(3, 4, Activation::Tanh))
        .stage(second)
        .build();
    s.output.precision = Precision::F64;
    s
}

/// dense_f64 layers (kind 16, version 1.1) chain into one estimator and round-trip exactly;
/// an f32 dense layer does not chain after an f64 one (R25), and a dense_f64 record needs f64
/// tensors (R23).
#[test]
fn dense_f64_chains_and_round_trips() {
    use crate::common::{broken, set_word, write_vec};
    let spec = mlp_f64(dense_f64_layer(4, 2, Activation::Identity));
    let file = write(&spec).unwrap();
    assert_eq!(minor(&file), 1);
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.to_spec(), spec);
    assert_eq!(apr.stages()[0].name(), "dense_f64");

    let mixed = mlp_f64(StageSpec::Dense {
        n_in: 4,
        n_out: 2,
        activation: Activation::Identity,
        weights: vec![0.5; 8],
        bias: vec![0.0; 2],
    });
    assert!(
        matches!(
            write(&mixed),
            Err(FormatError::BadPipeline {
                stage: 1,
                reason: "more than one estimator"
            })
        ),
        "{:?}",
        write(&mixed).map(|_| ())
    );

    // The second layer's kind word (16, n_in 4, n_out 2) made dense (9): f64 tensors.
    let k = crate::common::Parts::of(&write_vec(&spec))
        .manifest_words()
        .windows(3)
        .position(|w| w == [16, 4, 2])
        .unwrap();
    let e = broken(&spec, |v| set_word(v, k, 9));
    assert!(
        matches!(e, FormatError::BadTensorRef { stage: 1, reason, .. } if reason.contains("f32")),
        "{e:?}"
    );
}

fn pca_f64(whiten: Option<Vec<f64>>) -> ModelSpec {
    let mut s = ModelSpecBuilder::new(3)
        .regression(1)
        .stage(StageSpec::PcaF64 {
            n_in: 3,
            n_out: 2,
            mean: vec![0.5, -1.0, 1e-310],
            components: vec![0.1, 0.2, 0.3, -0.4, 0.5, -0.6],
            whiten,
        })
        .stage(StageSpec::LinearF64 {
            n_in: 2,
            n_out: 1,
            coef: vec![1.0, -1.0],
            intercept: vec![0.25],
        })
        .build();
    s.output.precision = Precision::F64;
    s
}

/// pca_f64 (kind 17, version 1.1) round-trips its f64 tensors exactly; its whitening
/// divisors must be finite and positive (R31), and its tensors f64 (R23).
#[test]
fn pca_f64_round_trips_and_checks_its_whitening() {
    use crate::common::{broken, set_word, write_vec};
    for whiten in [None, Some(vec![2.0, 0.5])] {
        let spec = pca_f64(whiten);
        let file = write(&spec).unwrap();
        assert_eq!(minor(&file), 1);
        let apr = Apr::parse_verified(&file).unwrap();
        assert_eq!(apr.to_spec(), spec);
        assert_eq!(apr.stages()[0].name(), "pca_f64");
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let spec = pca_f64(Some(vec![1.0, bad]));
        assert!(
            matches!(
                write(&spec),
                Err(FormatError::BadPca { stage: 0, index: 1 })
            ),
            "{bad}"
        );
    }
    // The PCA's kind word (17, n_in 3, n_out 2) made pca (8): its tensors are f64.
    let spec = pca_f64(None);
    let k = crate::common::Parts::of(&write_vec(&spec))
        .manifest_words()
        .windows(3)
        .position(|w| w == [17, 3, 2])
        .unwrap();
    let e = broken(&spec, |v| set_word(v, k, 8));
    assert!(
        matches!(e, FormatError::BadTensorRef { stage: 0, reason, .. } if reason.contains("f32")),
        "{e:?}"
    );
}

/// kmeans_f64 (kind 18, version 1.1) round-trips its f64 centres and takes no post transform
/// (R25).
#[test]
fn kmeans_f64_round_trips_and_takes_no_post_transform() {
    let mut spec = ModelSpecBuilder::new(2)
        .task_with_labels(Task::Classification, 3)
        .stage(StageSpec::KMeansF64 {
            n_in: 2,
            k: 3,
            centers: vec![0.1, 0.2, -1.0 / 3.0, 5.0, 1e-300, -7.5],
        })
        .build();
    spec.output.precision = Precision::F64;
    let file = write(&spec).unwrap();
    assert_eq!(minor(&file), 1);
    let apr = Apr::parse_verified(&file).unwrap();
    assert_eq!(apr.to_spec(), spec);
    assert_eq!(apr.stages()[0].name(), "kmeans_f64");
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert!(matches!(
        write(&spec),
        Err(FormatError::BadPipeline { stage: 1, .. })
    ));
}
