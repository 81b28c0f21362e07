//! The f64 support vector machine and imputer (stage kinds 20 `svm_f64` and 21
//! `imputer_f64`, version 1.1): round trips, R20/R21 for their records, R30 and R32 for
//! their values, and the break_ties flag.

use crate::common::*;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

/// An SVC over 2 features, 3 classes with 1, 2 and 1 support vectors, rbf, probabilities,
/// f64 support vectors that f32 cannot hold.
fn svc_f64() -> SvmSpec<f64> {
    svc3(
        0.1,
        vec![0.1, 1.0 / 3.0, 1e-300, 0.0, 1.0, 1.0, -1.0, 0.5],
        true,
    )
}

fn svr_f64() -> SvmSpec<f64> {
    svr(vec![0.1, 1.0, 1.0, 0.2])
}

/// An imputer_f64 (NaN marker) before an svm_f64 classifier, answering in f64.
fn pipeline(m: SvmSpec<f64>) -> ModelSpec {
    let k = m.n_classes;
    let b = ModelSpecBuilder::new(2).missing(MissingValues::Nan);
    let b = if k >= 2 {
        b.task_with_labels(Task::Classification, k)
    } else {
        b.regression(1)
    };
    let mut s = b
        .stage(StageSpec::ImputerF64 {
            missing: f64::NAN,
            fill: vec![0.1, -1.0 / 3.0],
        })
        .stage(StageSpec::SvmF64(m))
        .build();
    s.output.precision = Precision::F64;
    s
}

/// [`broken_manifest`] for a 1.1 file (`Parts::assemble` writes minor 0).
fn broken_manifest_1_1(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u32>)) -> FormatError {
    let mut parts = Parts::of(&write_vec(spec));
    let mut words = parts.manifest_words();
    f(&mut words);
    parts.set_manifest_words(&words);
    let mut v = parts.assemble();
    v[6..8].copy_from_slice(&1u16.to_le_bytes());
    refix(&mut v);
    parse(&v).expect_err("the patched file must be refused")
}

#[test]
fn svm_f64_and_imputer_f64_round_trip_as_1_1() {
    for m in [svc_f64(), svr_f64()] {
        let spec = pipeline(m);
        let file = write(&spec).unwrap();
        assert_eq!(minor(&file), 1);
        let apr = Apr::parse_verified(&file).unwrap();
        assert_eq!(apr.stages()[0].name(), "imputer_f64");
        assert_eq!(apr.stages()[1].name(), "svm_f64");
        let back = apr.to_spec();
        // NaN != NaN: compare the marker by its bits, the rest as specs.
        match (&back.stages[0], &spec.stages[0]) {
            (
                StageSpec::ImputerF64 {
                    missing: a,
                    fill: fa,
                },
                StageSpec::ImputerF64 {
                    missing: b,
                    fill: fb,
                },
            ) => {
                assert_eq!(a.to_bits(), b.to_bits());
                assert_eq!(fa, fb);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(back.stages[1], spec.stages[1]);
        assert_eq!(back.output, spec.output);
    }
    // The support vectors are kept as f64, exactly.
    let file = write(&pipeline(svc_f64())).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    match apr.stages()[1] {
        Stage::SvmF64(m) => {
            assert_eq!(m.support_vectors[1], 1.0 / 3.0);
            assert_eq!(m.support_vectors[2], 1e-300);
            assert!(m.break_ties);
            assert_eq!(m.output_width(), 3);
        }
        other => panic!("{other:?}"),
    }
    // A numeric marker round-trips too.
    let mut spec = pipeline(svr_f64());
    spec.stages[0] = StageSpec::ImputerF64 {
        missing: -0.1,
        fill: vec![0.0, 2.5],
    };
    assert_eq!(
        Apr::parse_verified(&write(&spec).unwrap())
            .unwrap()
            .to_spec(),
        spec
    );
}

/// R21: kinds 20 and 21 are unknown to a 1.0 reader; R20: their records are 17 and 5 words.
#[test]
fn the_kinds_are_1_1_and_their_records_have_fixed_lengths() {
    // A 1.0 file (an f32 imputer before an f32 linear model) whose imputer kind word (7)
    // says 20 or 21.
    let one_0 = ModelSpecBuilder::new(2)
        .missing(MissingValues::Nan)
        .regression(1)
        .stage(StageSpec::Imputer {
            missing: f32::NAN,
            fill: vec![0.0, 1.0],
        })
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![1.0, 2.0],
            intercept: vec![0.5],
        })
        .build();
    assert_eq!(minor(&write_vec(&one_0)), 0);
    for kind in [20, 21] {
        let e = broken_manifest(&one_0, |w| {
            let k = stage_word(w, 7);
            w[k] = kind;
        });
        assert_eq!(
            e,
            FormatError::UnknownValue {
                field: "stage_kind",
                value: kind
            }
        );
    }
    // A record one word short.
    for kind in [20, 21] {
        let e = broken_manifest_1_1(&pipeline(svc_f64()), |w| {
            let k = stage_word(w, kind);
            w[k - 1] -= 1;
            w.remove(k + 1);
        });
        assert!(
            matches!(e, FormatError::RecordLength { found, .. } if found == if kind == 20 { 16 } else { 4 }),
            "{kind}: {e:?}"
        );
    }
}

/// R30 for imputer_f64: fill values are finite, the marker is NaN or finite.
#[test]
fn r30_imputer_f64() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut spec = pipeline(svr_f64());
        spec.stages[0] = StageSpec::ImputerF64 {
            missing: f64::NAN,
            fill: vec![0.0, bad],
        };
        assert_eq!(
            write(&spec).unwrap_err(),
            FormatError::BadImputer { stage: 0, index: 1 }
        );
    }
    let mut spec = pipeline(svr_f64());
    spec.stages[0] = StageSpec::ImputerF64 {
        missing: f64::INFINITY,
        fill: vec![0.0, 0.0],
    };
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadImputer { stage: 0, index: 0 }
    );
}

/// R32 for svm_f64: the same checks as svm (its f64 tensors included), and the flags word.
#[test]
fn r32_svm_f64() {
    let bad = |index, reason| FormatError::BadSvm {
        stage: 1,
        index,
        reason,
    };
    let mut m = svc_f64();
    m.coef[5] = f64::NAN;
    assert_eq!(
        write(&pipeline(m)).unwrap_err(),
        bad(5, "dual coefficient is not finite")
    );
    let mut m = svc_f64();
    m.n_support = vec![1, 1, 1];
    assert_eq!(
        write(&pipeline(m)).unwrap_err(),
        bad(0, "per-class support counts do not add up to n_sv")
    );
    let mut m = svc_f64();
    m.prob_a.clear();
    assert_eq!(
        write(&pipeline(m)).unwrap_err(),
        bad(0, "prob_a and prob_b come together")
    );
    // break_ties needs three classes or more.
    let mut m = svc_f64();
    m.n_classes = 2;
    m.n_support = vec![2, 2];
    m.coef.truncate(4);
    m.intercept.truncate(1);
    m.prob_a.truncate(1);
    m.prob_b.truncate(1);
    assert_eq!(
        write(&pipeline(m)).unwrap_err(),
        bad(0, "break_ties needs three classes or more")
    );
    // Unknown flag bits.
    let e = broken_manifest_1_1(&pipeline(svc_f64()), |w| {
        let k = stage_word(w, 20);
        w[k + 16] = 2;
    });
    assert_eq!(e, bad(0, "unknown flag bits"));
    // Support vectors stored as f32 under kind 20: R23 names the dtype.
    let e = broken_manifest_1_1(&pipeline(svc_f64()), |w| {
        let k = stage_word(w, 20);
        w[k] = 10;
        w.remove(k + 16);
        w[k - 1] -= 1;
    });
    assert!(
        matches!(
            e,
            FormatError::BadTensorRef {
                stage: 1,
                reason: "wrong dtype",
                ..
            }
        ),
        "{e:?}"
    );
    // break_ties on an f32 svm cannot be written: its record has no flags word.
    let spec = ModelSpecBuilder::new(2)
        .task_with_labels(Task::Classification, 3)
        .stage(StageSpec::Svm(SvmSpec {
            n_in: 2,
            n_classes: 3,
            kernel: Kernel::Linear,
            n_support: vec![1, 1, 1],
            support_vectors: vec![0.0; 6],
            coef: vec![1.0; 6],
            intercept: vec![0.0; 3],
            prob_a: Vec::new(),
            prob_b: Vec::new(),
            break_ties: true,
        }))
        .build();
    assert!(matches!(
        write(&spec).unwrap_err(),
        FormatError::InvalidSpec { .. }
    ));
}
