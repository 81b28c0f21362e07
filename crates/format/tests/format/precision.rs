//! The output precision (version 1.1): written only when it is f64, read back as written;
//! a file without it (1.0) answers in f32.

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

fn minor(file: &[u8]) -> u16 {
    u16::from_le_bytes([file[6], file[7]])
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
