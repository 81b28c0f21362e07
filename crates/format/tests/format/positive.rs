//! Positive tests: every error displays, round trips, alignment, views in place, and the
//! committed file `tests/data/tiny.apr`.

use crate::common::*;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

#[test]
fn every_error_displays() {
    let e = broken(&base(), |v| set_word(v, w::TASK, 4));
    assert_eq!(e.to_string(), "unknown value 4 for task");
    assert!(FormatError::Unaligned { misalignment: 4 }
        .to_string()
        .contains("AlignedBuf"));
}

// ---------------------------------------------------------------------------------------------
// Positive tests.

#[test]
fn valid_files_round_trip() {
    for spec in [
        base(),
        regression(1),
        regression(4),
        binary(None),
        binary(Some(PostTransform::BinaryLogistic)),
        int_classes(),
    ] {
        let buf = write(&spec).unwrap();
        let apr = Apr::parse_verified(&buf).unwrap();
        assert_eq!(apr.to_spec(), spec);
        assert_eq!(write_to_vec(&spec).unwrap(), buf.to_vec());
        assert_eq!(buf.len() as u64, get_u64(&buf, 16));
        // A binary decision function has one score for two classes.
        let width = if spec == binary(None) {
            1
        } else {
            spec.output.n_outputs
        };
        assert_eq!(apr.output_width(), width);
    }
}

#[test]
fn accessors_view_in_place() {
    let buf = write(&base()).unwrap();
    let apr = Apr::parse_verified(&buf).unwrap();
    assert_eq!(apr.bytes().as_ptr(), buf.as_ptr());
    assert_eq!(apr.sections().len(), 6);
    for s in apr.sections() {
        assert_eq!(s.offset % ALIGN, 0);
    }
    assert_eq!(apr.strings().len(), 8);
    assert_eq!(apr.strings().get(2), Some("é"));
    assert_eq!(apr.strings().get(8), None);
    let names = apr.input().feature_names.unwrap();
    assert_eq!(names.iter().collect::<Vec<_>>(), ["sepal", "petal", "é"]);
    assert_eq!(names.get(3), None);
    match &apr.output().labels {
        Labels::Str(l) => assert_eq!(l.to_vec(), ["a", "b", "c"]),
        other => panic!("string labels expected, got {other:?}"),
    }
    assert_eq!(apr.provenance().model_version, "1.0");
    assert_eq!(apr.provenance().model_name, Some("iris"));
    let names: Vec<&str> = apr.stages().iter().map(Stage::name).collect();
    assert_eq!(names, ["standard_scaler", "linear", "softmax"]);
    let roles: Vec<Role> = apr.stages().iter().map(Stage::role).collect();
    assert_eq!(
        roles,
        [Role::Preprocessor, Role::Estimator, Role::Postprocessor]
    );
    match apr.stages()[1] {
        Stage::Linear { coef, .. } => {
            // The weights are viewed in the buffer, not copied.
            let coef_at = coef.as_ptr() as usize - buf.as_ptr() as usize;
            assert_eq!(coef_at as u64, apr.sections()[4].offset);
        }
        _ => panic!("second stage is linear"),
    }
    assert_eq!(apr.output_width(), 3);
}

#[test]
fn model_bytes_copies_only_unaligned_input() {
    let v = write_vec(&base());
    let mut shifted = vec![0u8; 3];
    shifted.extend_from_slice(&v);
    let holder = AlignedBuf::copy_from(&shifted);
    let unaligned = &holder[3..];
    assert!(!is_aligned(unaligned));
    let mb = ModelBytes::new(unaligned);
    assert!(mb.is_copy());
    assert!(is_aligned(mb.as_slice()));
    assert_eq!(mb.as_slice(), &v[..]);
    assert_eq!(
        Apr::parse_verified(mb.as_slice()).unwrap().to_spec(),
        base()
    );

    let aligned = AlignedBuf::copy_from(&v);
    let mb = ModelBytes::new(&aligned);
    assert!(!mb.is_copy());
    assert_eq!(mb.as_slice().as_ptr(), aligned.as_ptr());
    Apr::parse_verified(mb.as_slice()).unwrap();

    let s = aligned_static(Box::leak(shifted.into_boxed_slice()).get(3..).unwrap());
    assert!(is_aligned(s));
    Apr::parse_verified(s).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The committed file `tests/data/tiny.apr`.

/// The spec of `tests/data/tiny.apr`: 2 features, linear 2 -> 1, binary logistic.
fn tiny() -> ModelSpec {
    ModelSpecBuilder::new(2)
        .feature_names(Some(strings(&["x", "y"])))
        .classifier(LabelsSpec::Str(strings(&["no", "yes"])))
        .provenance(ProvenanceSpec {
            model_version: "tiny-1".into(),
            model_name: Some("tiny".into()),
            source_format: Some("hand-written".into()),
            converter: Some("icebreak-format tests".into()),
            source_sha256: None,
        })
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![1.5, -2.0],
            intercept: vec![0.25],
        })
        .stage(StageSpec::Post(PostTransform::BinaryLogistic))
        .build()
}

static TINY: &[u8] = include_model!("../data/tiny.apr");

/// The committed file is what the writer writes today. To regenerate it after a deliberate
/// format change: `ICEBREAK_BLESS=1 cargo test -p icebreak-format --test format tiny`.
#[test]
fn tiny_apr_is_current() {
    let now = write_to_vec(&tiny()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny.apr");
    if std::env::var_os("ICEBREAK_BLESS").is_some() {
        std::fs::write(path, &now).unwrap();
    }
    let on_disk = std::fs::read(path).unwrap();
    assert!(
        on_disk == now,
        "tests/data/tiny.apr differs from the writer's output"
    );
    assert!(TINY == &now[..] || std::env::var_os("ICEBREAK_BLESS").is_some());
}

#[test]
fn include_model_is_64_byte_aligned() {
    assert_eq!(TINY.as_ptr() as usize % 64, 0);
    assert!(is_aligned(TINY));
    let apr = Apr::parse_verified(TINY).unwrap();
    assert_eq!(apr.to_spec(), tiny());
    assert!(!ModelBytes::new(TINY).is_copy());
    assert_eq!(aligned_static(TINY).as_ptr(), TINY.as_ptr());
}
