//! One test per rule of `docs/FORMAT.md`, R17-R28 (the manifest, tensor references, the
//! pipeline, alignment), as in `rules.rs`, and the writer's own refusals.

use crate::common::*;
use icebreak_format::*;

#[test]
fn r17_truncated_manifest() {
    // The last record declares 3 payload words; only 2 remain.
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, 3));
    assert_eq!(e, FormatError::TruncatedManifest);
    // A record declaring u32::MAX words.
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, u32::MAX));
    assert_eq!(e, FormatError::TruncatedManifest);
    // The manifest ends between a record's tag and its length.
    let e = broken_manifest(&base(), |m| m.push(4));
    assert_eq!(e, FormatError::TruncatedManifest);
    // The manifest ends inside a record.
    let e = broken_manifest(&base(), |m| {
        m.pop();
    });
    assert_eq!(e, FormatError::TruncatedManifest);
}

#[test]
fn r18_unknown_record() {
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 7));
    assert_eq!(e, FormatError::UnknownRecord { tag: 7 });
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 0));
    assert_eq!(e, FormatError::UnknownRecord { tag: 0 });
    let e = broken_manifest(&base(), |m| m.extend([5, 0]));
    assert_eq!(e, FormatError::UnknownRecord { tag: 5 });
}

#[test]
fn r19_record_order() {
    // OUTPUT first.
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 2));
    assert_eq!(e, FormatError::RecordOrder { tag: 2 });
    // No STAGE record: the manifest ends after PROVENANCE.
    let e = broken_manifest(&base(), |m| m.truncate(w::SCALER.start));
    assert_eq!(e, FormatError::RecordOrder { tag: 0 });
    // A second INPUT after the stages.
    let e = broken_manifest(&base(), |m| m.extend([1, 3, 3, 0, NONE]));
    assert_eq!(e, FormatError::RecordOrder { tag: 1 });
    // An empty manifest.
    let e = broken_manifest(&base(), |m| m.clear());
    assert_eq!(e, FormatError::RecordOrder { tag: 0 });
}

#[test]
fn r20_record_length() {
    let e = broken(&base(), |v| set_word(v, w::INPUT_LEN, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 1, found: 4 });
    // OUTPUT with string labels is 5 words, not 4 (nor 6).
    let e = broken(&base(), |v| set_word(v, w::OUTPUT_LEN, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 4 });
    let e = broken(&base(), |v| set_word(v, w::OUTPUT_LEN, 3));
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 3 });
    // OUTPUT with integer labels is 4 + 2 * n_outputs words: 10 for int_classes.
    let e = broken_manifest(&int_classes(), |m| {
        assert_eq!(m[6], 10);
        m[6] = 9;
        m.remove(11);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 9 });
    // OUTPUT without labels is 4 words.
    let e = broken_manifest(&regression(1), |m| {
        m[6] = 5;
        m.insert(11, 0);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 5 });
    // PROVENANCE is 5 words.
    let e = broken_manifest(&base(), |m| {
        m[13] = 6;
        m.insert(19, NONE);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 3, found: 6 });
    // STAGE: standard_scaler 4, linear 5, post 2; 0 is never a stage.
    let e = broken(&base(), |v| set_word(v, w::SCALER.start + 1, 5));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 5 });
    let e = broken(&base(), |v| set_word(v, w::LINEAR.start + 1, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 4 });
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, 1));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 1 });
    let e = broken_manifest(&base(), |m| m.extend([4, 0]));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 0 });
}

#[test]
fn r21_unknown_value() {
    let unknown = |field, value| FormatError::UnknownValue { field, value };
    let e = broken(&base(), |v| set_word(v, w::MISSING, 2));
    assert_eq!(e, unknown("missing", 2));
    let e = broken(&base(), |v| set_word(v, w::TASK, 0));
    assert_eq!(e, unknown("task", 0));
    let e = broken(&base(), |v| set_word(v, w::TASK, 4));
    assert_eq!(e, unknown("task", 4));
    let e = broken(&base(), |v| set_word(v, w::LABEL_KIND, 3));
    assert_eq!(e, unknown("label_kind", 3));
    let e = broken(&base(), |v| set_word(v, w::SCALER_KIND, 19));
    assert_eq!(e, unknown("stage_kind", 19));
    let e = broken(&base(), |v| set_word(v, w::SCALER_KIND, 0));
    assert_eq!(e, unknown("stage_kind", 0));
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 7));
    assert_eq!(e, unknown("post_transform", 7));
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 0));
    assert_eq!(e, unknown("post_transform", 0));
}

#[test]
fn r22_bad_dimension() {
    let bad = |field, value| FormatError::BadDimension { field, value };
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, 0));
    assert_eq!(e, bad("n_features", 0));
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, MAX_DIM + 1));
    assert_eq!(e, bad("n_features", MAX_DIM + 1));
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, 0));
    assert_eq!(e, bad("n_outputs", 0));
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, u32::MAX));
    assert_eq!(e, bad("n_outputs", u32::MAX));
    let e = broken(&base(), |v| set_word(v, w::SCALER_WIDTH, 0));
    assert_eq!(e, bad("width", 0));
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_IN, MAX_DIM + 1));
    assert_eq!(e, bad("n_in", MAX_DIM + 1));
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_OUT, 0));
    assert_eq!(e, bad("n_out", 0));
}

#[test]
fn r23_bad_tensor_ref() {
    let bad = |stage, section, reason| FormatError::BadTensorRef {
        stage,
        section,
        reason,
    };
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, 99));
    assert_eq!(e, bad(0, 99, "no such section"));
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, NONE));
    assert_eq!(e, bad(0, NONE, "no such section"));
    let e = broken(&base(), |v| set_word(v, w::SCALER_SCALE, 1));
    assert_eq!(e, bad(0, 1, "not a tensor"));
    // Section 2 relabelled u32 (a valid dtype, not the f32 a scaler needs).
    let e = broken(&base(), |v| put_u32(v, entry(2) + 4, 2));
    assert_eq!(e, bad(0, 2, "dtype is not f32"));
    // Kinds 13, 14 and 15 (the f64 scalers, the f64 linear model) are version 1.1's: unknown
    // in this 1.0 file (R21).
    for kind in [13, 14, 15] {
        let e = broken(&base(), |v| set_word(v, w::SCALER_KIND, kind));
        assert_eq!(
            e,
            FormatError::UnknownValue {
                field: "stage_kind",
                value: kind
            }
        );
    }
    // The mean names the 9-element coef tensor, for a width of 3.
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, 4));
    assert_eq!(e, bad(0, 4, "element count does not match the shape"));
    // n_out 1: the 9 coefficients fit no 3 x 1 matrix.
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_OUT, 1));
    assert_eq!(e, bad(1, 4, "element count does not match the shape"));
    // The scaler's width disagrees with its tensors.
    let e = broken(&base(), |v| set_word(v, w::SCALER_WIDTH, 2));
    assert_eq!(e, bad(0, 2, "element count does not match the shape"));
}

#[test]
fn r24_unreferenced_section() {
    // The scale names the mean's section: section 3 is referenced by no stage.
    let e = broken(&base(), |v| set_word(v, w::SCALER_SCALE, 2));
    assert_eq!(e, FormatError::UnreferencedSection { index: 3 });
    // An extra tensor at the end (hidden data).
    let mut parts = Parts::of(&write_vec(&base()));
    parts.sections.push((3, 1, vec![0; 16]));
    assert_eq!(
        parse(&parts.assemble()),
        Err(FormatError::UnreferencedSection { index: 6 })
    );
    // ...of any dtype, even one no v1.0 stage uses.
    let mut parts = Parts::of(&write_vec(&base()));
    parts.sections.push((3, 4, vec![0; 16]));
    assert_eq!(
        parse(&parts.assemble()),
        Err(FormatError::UnreferencedSection { index: 6 })
    );
}

#[test]
fn r24_shared_tensor_is_allowed() {
    // Two references to one section are allowed (R24 asks for at least one).
    let mut parts = Parts::of(&write_vec(&base()));
    let mut words = parts.manifest_words();
    words[w::SCALER_SCALE] = 2;
    parts.set_manifest_words(&words);
    parts.sections.remove(3);
    let mut words = parts.manifest_words();
    for r in &mut words[w::LINEAR.start + 5..w::LINEAR.end] {
        *r -= 1; // coef and intercept move down from 4, 5 to 3, 4
    }
    parts.set_manifest_words(&words);
    let v = parts.assemble();
    let buf = AlignedBuf::copy_from(&v);
    let apr = Apr::parse_verified(&buf).unwrap();
    match apr.stages()[0] {
        Stage::StandardScaler { mean, scale } => assert_eq!(mean, scale),
        _ => panic!("first stage is the scaler"),
    }
}

#[test]
fn r25_bad_pipeline() {
    let bad = |stage, reason| FormatError::BadPipeline { stage, reason };
    // No estimator: the manifest keeps only the scaler.
    let e = broken_manifest(&base(), |m| m.truncate(w::SCALER.end));
    assert_eq!(e, bad(1, "no estimator"));
    // The scaler after the linear estimator.
    let e = broken_manifest(&base(), |m| {
        let scaler: Vec<u32> = m[w::SCALER].to_vec();
        m.drain(w::SCALER);
        m.splice(w::SCALER.start + 7..w::SCALER.start + 7, scaler);
    });
    assert_eq!(e, bad(1, "stage comes after a later role"));
    // Two estimators (both naming the same tensors).
    let e = broken_manifest(&base(), |m| {
        let linear: Vec<u32> = m[w::LINEAR].to_vec();
        m.splice(w::LINEAR.end..w::LINEAR.end, linear);
    });
    assert_eq!(e, bad(2, "more than one estimator"));
    // Two post transforms.
    let e = broken_manifest(&base(), |m| m.extend([4, 2, 3, 1]));
    assert_eq!(e, bad(3, "more than one post transform"));
    // binary_logistic on 3 scores.
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 2));
    assert_eq!(e, bad(2, "binary_logistic takes exactly one score"));
    // softmax / ovr_normalize on one score.
    let spec = binary(Some(PostTransform::BinaryLogistic));
    let last = last_word(&spec);
    for code in [3, 4] {
        let e = broken(&spec, |v| set_word(v, last, code));
        assert_eq!(
            e,
            bad(1, "softmax and ovr_normalize take two scores or more")
        );
    }
}

#[test]
fn r26_width_mismatch() {
    // 2 features in, a scaler of width 3.
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, 2));
    assert_eq!(
        e,
        FormatError::WidthMismatch {
            stage: 0,
            expected: 2,
            found: 3
        }
    );
    // 3 features in, a linear stage taking 2.
    let e = broken(&regression(1), |v| set_word(v, w::N_FEATURES, 3));
    assert_eq!(
        e,
        FormatError::WidthMismatch {
            stage: 0,
            expected: 3,
            found: 2
        }
    );
}

#[test]
fn r27_bad_output() {
    let bad = |reason| FormatError::BadOutput { reason };
    // A regression with labels.
    let e = broken(&base(), |v| set_word(v, w::TASK, 1));
    assert_eq!(e, bad("a regression has no class labels"));
    // A regression whose n_outputs is not the pipeline's width.
    let e = broken(&regression(2), |v| set_word(v, w::N_OUTPUTS, 3));
    assert_eq!(e, bad("n_outputs differs from the pipeline's output width"));
    // A classifier of one class.
    let e = broken(&regression(1), |v| set_word(v, w::TASK, 2));
    assert_eq!(e, bad("a classifier has two classes or more"));
    // 2 classes for 3 scores.
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, 2));
    assert_eq!(
        e,
        bad("the number of classes differs from the pipeline's output width")
    );
    // One score for 2 classes is a binary decision function only without a post transform.
    let spec = binary(Some(PostTransform::BinaryLogistic));
    let last = last_word(&spec);
    let e = broken(&spec, |v| set_word(v, last, 1));
    assert_eq!(
        e,
        bad("the number of classes differs from the pipeline's output width")
    );
    // A classifier without labels.
    let e = broken(&regression(2), |v| set_word(v, w::TASK, 2));
    assert_eq!(e, bad("a classifier needs class labels"));
    // Duplicate labels: integer (word 11 is the low half of label 0)...
    let e = broken(&binary(None), |v| {
        set_word(v, 11, 1);
        set_word(v, 12, 0);
    });
    assert_eq!(e, bad("class labels are not distinct"));
    // ...and string ("a", "b", "c" -> "a", "a", "c": same lengths, so only the bytes change).
    let e = broken_strings(&base(), |s| {
        let at = s.windows(3).position(|x| x == b"abc").unwrap();
        s[at + 1] = b'a';
    });
    assert_eq!(e, bad("class labels are not distinct"));
}

#[test]
fn r28_unaligned() {
    let v = write_vec(&base());
    for k in 1..8 {
        let mut shifted = vec![0u8; k];
        shifted.extend_from_slice(&v);
        let buf = AlignedBuf::copy_from(&shifted);
        let e = Apr::parse(&buf[k..]).unwrap_err();
        assert_eq!(e, FormatError::Unaligned { misalignment: k });
        assert_eq!(Apr::parse_verified(&buf[k..]).unwrap_err(), e);
    }
    // R1 comes first.
    let buf = AlignedBuf::copy_from(&v);
    assert_eq!(
        Apr::parse(&buf[1..40]).unwrap_err(),
        FormatError::TooShort { len: 39 }
    );
}

#[test]
fn writer_invalid_spec() {
    let invalid = |reason| FormatError::InvalidSpec { reason };
    let mut spec = base();
    spec.input.feature_names = Some(strings(&["a", "b"]));
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("feature_names does not have n_features entries")
    );
    let mut spec = base();
    spec.output.output_names = Some(vec![]);
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("output_names does not have n_outputs entries")
    );
    let mut spec = base();
    spec.output.labels = LabelsSpec::Str(strings(&["a", "b", "c", "d"]));
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("labels does not have n_outputs entries")
    );
    let mut spec = binary(None);
    spec.output.labels = LabelsSpec::Int(vec![1]);
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("labels does not have n_outputs entries")
    );
    // A spec breaking a format rule comes back with that rule's error.
    let mut spec = base();
    spec.stages.swap(0, 1);
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadPipeline {
            stage: 1,
            reason: "stage comes after a later role"
        }
    );
    let mut spec = regression(1);
    spec.input.n_features = 0;
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadDimension {
            field: "n_features",
            value: 0
        }
    );
}
