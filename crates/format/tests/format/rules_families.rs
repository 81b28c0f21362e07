//! The families beyond linear models and trees: R30-R34, and R21/R25/R27 for their stages.

use crate::common::*;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

// ---------------------------------------------------------------------------------------------
// The families beyond linear models and trees: R30-R34, and R21/R25/R27 for their stages.

/// `n` features, no names, a pipeline of `stages`, `task` with `n_outputs` outputs; a
/// classification gets integer labels `0..n_outputs`.
fn family(n: u32, stages: Vec<StageSpec>, task: Task, n_outputs: u32) -> ModelSpec {
    ModelSpecBuilder::new(n)
        .missing(MissingValues::Nan)
        .task_with_labels(task, n_outputs)
        .provenance(provenance("f"))
        .stages(stages)
        .build()
}

/// Imputer, min-max scaler, normalizer, whitening PCA 3 -> 2: a transformer.
fn transformer() -> ModelSpec {
    family(
        3,
        vec![
            StageSpec::Imputer {
                missing: f32::NAN,
                fill: vec![0.5, 1.0, -2.0],
            },
            StageSpec::MinMaxScaler {
                scale: vec![1.0, 2.0, 0.5],
                min: vec![0.0, -1.0, 0.25],
            },
            StageSpec::Normalizer {
                width: 3,
                norm: Norm::L2,
            },
            StageSpec::Pca {
                n_in: 3,
                n_out: 2,
                mean: vec![0.1, 0.2, 0.3],
                components: vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.8],
                whiten: Some(vec![2.0, 0.5]),
            },
        ],
        Task::Transform,
        2,
    )
}

/// An SVC over 2 features, 3 classes with 1, 2 and 1 support vectors, rbf, probabilities.
fn svc_spec() -> SvmSpec {
    svc3(0.5, vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, -1.0, 0.5], false)
}

fn svc(m: SvmSpec) -> ModelSpec {
    let k = m.n_classes;
    let task = if k >= 2 {
        Task::Classification
    } else {
        Task::Regression
    };
    family(2, vec![StageSpec::Svm(m)], task, k)
}

fn svr_spec() -> SvmSpec {
    svr(vec![0.0, 1.0, 1.0, 0.0])
}

fn naive_bayes() -> ModelSpec {
    family(
        2,
        vec![
            StageSpec::GaussianNb {
                n_in: 2,
                n_classes: 2,
                theta: vec![0.0, 1.0, 2.0, 3.0],
                var: vec![1.0, 0.5, 2.0, 0.25],
                log_prior: vec![-0.5, -1.0],
                log_norm: vec![-1.2, -0.7],
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        2,
    )
}

/// An MLP 2 -> 3 (relu) -> 3, softmax.
fn mlp() -> ModelSpec {
    family(
        2,
        vec![
            StageSpec::Dense {
                n_in: 2,
                n_out: 3,
                activation: Activation::Relu,
                weights: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                bias: vec![0.0, 0.5, -0.5],
            },
            StageSpec::Dense {
                n_in: 3,
                n_out: 3,
                activation: Activation::Identity,
                weights: vec![1.0; 9],
                bias: vec![0.0; 3],
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        3,
    )
}

fn kmeans(k: u32, n_outputs: u32) -> ModelSpec {
    family(
        2,
        vec![StageSpec::KMeans {
            n_in: 2,
            k,
            centers: (0..2 * k).map(|i| i as f32).collect(),
        }],
        Task::Classification,
        n_outputs,
    )
}

fn write_err(spec: &ModelSpec) -> FormatError {
    write(spec).expect_err("the writer must refuse this spec")
}

#[test]
fn families_round_trip() {
    let mut nusvr = svr_spec();
    nusvr.kernel = Kernel::Sigmoid {
        gamma: 0.1,
        coef0: -1.0,
    };
    let mut binary = svc_spec();
    binary.n_classes = 2;
    binary.n_support = vec![2, 2];
    binary.coef.truncate(4);
    binary.intercept.truncate(1);
    binary.prob_a.clear();
    binary.prob_b.clear();
    binary.kernel = Kernel::Linear;
    for spec in [
        transformer(),
        svc(svc_spec()),
        svc(svr_spec()),
        svc(nusvr),
        svc(binary),
        naive_bayes(),
        mlp(),
        kmeans(3, 3),
    ] {
        let buf = write(&spec).unwrap();
        let apr = Apr::parse_verified(&buf).unwrap();
        assert_eq!(format!("{:?}", apr.to_spec()), format!("{spec:?}"));
        assert_eq!(write_to_vec(&apr.to_spec()).unwrap(), buf.to_vec());
    }
    let apr_buf = write(&transformer()).unwrap();
    let apr = Apr::parse(&apr_buf).unwrap();
    let names: Vec<_> = apr.stages().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["imputer", "min_max_scaler", "normalizer", "pca"]);
    assert!(apr.stages().iter().all(|s| s.role() == Role::Preprocessor));
    assert_eq!(apr.output_width(), 2);
    assert!(matches!(
        apr.stages()[3],
        Stage::Pca {
            whiten: Some([2.0, 0.5]),
            ..
        }
    ));
}

#[test]
fn r30_bad_imputer() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut spec = transformer();
        spec.stages[0] = StageSpec::Imputer {
            missing: f32::NAN,
            fill: vec![0.0, bad, 1.0],
        };
        assert_eq!(
            write_err(&spec),
            FormatError::BadImputer { stage: 0, index: 1 }
        );
    }
    // The missing marker may be any value: a number marks missing entries by equality. An
    // infinite marker too: R30 refuses one only in an imputer_f64, whose generic reader is
    // shared with this kind.
    for missing in [-1.0, f32::INFINITY] {
        let mut spec = transformer();
        spec.stages[0] = StageSpec::Imputer {
            missing,
            fill: vec![0.0; 3],
        };
        write(&spec).unwrap();
    }
}

#[test]
fn r31_bad_pca() {
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut spec = transformer();
        if let StageSpec::Pca { whiten, .. } = &mut spec.stages[3] {
            *whiten = Some(vec![1.0, bad]);
        }
        assert_eq!(write_err(&spec), FormatError::BadPca { stage: 3, index: 1 });
    }
}

#[test]
fn r32_bad_svm() {
    let bad = |index, reason| FormatError::BadSvm {
        stage: 0,
        index,
        reason,
    };
    let mut m = svc_spec();
    m.n_support = vec![1, 1, 1];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "per-class support counts do not add up to n_sv")
    );
    let mut m = svc_spec();
    m.n_support = vec![u32::MAX, 2, 3];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "per-class support counts do not add up to n_sv")
    );
    let mut m = svc_spec();
    m.coef[5] = f64::NAN;
    assert_eq!(write_err(&svc(m)), bad(5, "dual coefficient is not finite"));
    let mut m = svc_spec();
    m.intercept[2] = f64::INFINITY;
    assert_eq!(write_err(&svc(m)), bad(2, "intercept is not finite"));
    let mut m = svc_spec();
    m.prob_a[1] = f64::NAN;
    assert_eq!(write_err(&svc(m)), bad(1, "prob_a is not finite"));
    let mut m = svc_spec();
    m.prob_b[0] = f64::NEG_INFINITY;
    assert_eq!(write_err(&svc(m)), bad(0, "prob_b is not finite"));
    let mut m = svc_spec();
    m.prob_b.clear();
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "prob_a and prob_b come together")
    );
    let mut m = svr_spec();
    m.prob_a = vec![1.0];
    m.prob_b = vec![1.0];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "a regressor has no probabilities")
    );
    let mut m = svr_spec();
    m.n_support = vec![2];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "a regressor has no per-class support counts")
    );
    let mut m = svc_spec();
    m.kernel = Kernel::Rbf { gamma: f64::NAN };
    assert_eq!(write_err(&svc(m)), bad(0, "kernel parameter is not finite"));
    let mut m = svr_spec();
    m.kernel = Kernel::Sigmoid {
        gamma: 1.0,
        coef0: f64::INFINITY,
    };
    assert_eq!(write_err(&svc(m)), bad(0, "kernel parameter is not finite"));
    // A parameter the kernel does not use must be zero: degree 3 on an rbf kernel.
    let e = broken_manifest(&svc(svc_spec()), |w| {
        let k = stage_word(w, 10);
        w[k + 5] = 3;
    });
    assert_eq!(e, bad(0, "a parameter the kernel does not use is not zero"));
    // An svm classifier answers a classification over its classes.
    let mut spec = svc(svc_spec());
    spec.output.task = Task::Regression;
    spec.output.labels = LabelsSpec::None;
    spec.output.n_outputs = 3;
    assert_eq!(
        write_err(&spec),
        bad(
            0,
            "an svm classifier needs a classification over its classes, a regressor a regression"
        )
    );
    let mut spec = svc(svr_spec());
    spec.output.task = Task::Classification;
    spec.output.n_outputs = 2;
    spec.output.labels = LabelsSpec::Int(vec![0, 1]);
    assert_eq!(
        write_err(&spec),
        bad(
            0,
            "an svm classifier needs a classification over its classes, a regressor a regression"
        )
    );
}

#[test]
fn r33_bad_naive_bayes() {
    let bad = |index, reason| FormatError::BadNaiveBayes {
        stage: 0,
        index,
        reason,
    };
    type Patch<'f> = &'f dyn Fn(&mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>);
    let patch = |f: Patch<'_>| {
        let mut spec = naive_bayes();
        if let StageSpec::GaussianNb {
            theta,
            var,
            log_prior,
            log_norm,
            ..
        } = &mut spec.stages[0]
        {
            f(theta, var, log_prior, log_norm);
        }
        write_err(&spec)
    };
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            patch(&|_, var, _, _| var[2] = v),
            bad(2, "variance is not finite and positive")
        );
    }
    assert_eq!(
        patch(&|t, _, _, _| t[3] = f64::NAN),
        bad(3, "mean is not finite")
    );
    assert_eq!(
        patch(&|_, _, p, _| p[1] = f64::NEG_INFINITY),
        bad(1, "log prior is not finite")
    );
    assert_eq!(
        patch(&|_, _, _, n| n[0] = f64::INFINITY),
        bad(0, "normaliser is not finite")
    );
}

#[test]
fn r34_bad_transform() {
    let bad = |reason| FormatError::BadTransform { reason };
    let mut spec = transformer();
    spec.output.labels = LabelsSpec::Int(vec![1, 2]);
    assert_eq!(write_err(&spec), bad("a transformer has no class labels"));
    let mut spec = transformer();
    spec.output.n_outputs = 3;
    assert_eq!(
        write_err(&spec),
        bad("n_outputs differs from the pipeline's output width")
    );
    let mut spec = transformer();
    spec.stages.push(StageSpec::Linear {
        n_in: 2,
        n_out: 2,
        coef: vec![1.0; 4],
        intercept: vec![0.0; 2],
    });
    assert_eq!(write_err(&spec), bad("a transformer has no estimator"));
    let mut spec = transformer();
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(write_err(&spec), bad("a transformer has no post transform"));
    // Without the transform task, a pipeline of preprocessors has no estimator (R25).
    let mut spec = transformer();
    spec.output.task = Task::Regression;
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 4,
            reason: "no estimator"
        }
    );
}

#[test]
fn r21_unknown_values_of_the_new_stages() {
    let unknown = |field, value| FormatError::UnknownValue { field, value };
    let e = broken_manifest(&transformer(), |w| {
        let k = stage_word(w, 6);
        w[k + 2] = 4;
    });
    assert_eq!(e, unknown("normalizer.norm", 4));
    let e = broken_manifest(&mlp(), |w| {
        let k = stage_word(w, 9);
        w[k + 3] = 4;
    });
    assert_eq!(e, unknown("dense.activation", 4));
    let e = broken_manifest(&svc(svc_spec()), |w| {
        let k = stage_word(w, 10);
        w[k + 4] = 4;
    });
    assert_eq!(e, unknown("svm.kernel", 4));
    let e = broken(&transformer(), |v| set_word(v, w::TASK, 0));
    assert_eq!(e, unknown("task", 0));
}

#[test]
fn r25_estimator_blocks_of_the_new_stages() {
    // Dense layers may follow each other (an MLP); nothing else may follow an estimator.
    write(&mlp()).unwrap();
    let mut spec = mlp();
    spec.stages[1] = StageSpec::Linear {
        n_in: 3,
        n_out: 3,
        coef: vec![1.0; 9],
        intercept: vec![0.0; 3],
    };
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "more than one estimator"
        }
    );
    let mut spec = svc(svc_spec());
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "an svm or kmeans estimator takes no post transform"
        }
    );
    let mut spec = kmeans(3, 3);
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "an svm or kmeans estimator takes no post transform"
        }
    );
    // A preprocessor after a dense layer breaks the role order.
    let mut spec = mlp();
    spec.stages.insert(
        1,
        StageSpec::Normalizer {
            width: 3,
            norm: Norm::Max,
        },
    );
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "stage comes after a later role"
        }
    );
}

#[test]
fn r26_widths_of_the_new_stages() {
    let mut spec = transformer();
    if let StageSpec::Pca {
        n_in,
        mean,
        components,
        ..
    } = &mut spec.stages[3]
    {
        *n_in = 2;
        mean.truncate(2);
        components.truncate(4);
    }
    assert_eq!(
        write_err(&spec),
        FormatError::WidthMismatch {
            stage: 3,
            expected: 3,
            found: 2
        }
    );
}

#[test]
fn r27_kmeans_and_naive_bayes_scores_are_not_signed() {
    // One centre cannot pass for a binary decision function.
    assert_eq!(
        write_err(&kmeans(1, 2)),
        FormatError::BadOutput {
            reason: "the number of classes differs from the pipeline's output width"
        }
    );
    write(&kmeans(2, 2)).unwrap();
    // k-means distances may be served as a regression (the distances alone).
    let mut spec = kmeans(3, 3);
    spec.output.task = Task::Regression;
    spec.output.labels = LabelsSpec::None;
    write(&spec).unwrap();
}
