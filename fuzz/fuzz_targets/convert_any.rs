//! Fuzzes `icebreak convert`'s entry: content detection then whichever importer it picks
//! (ONNX, XGBoost JSON or UBJSON, LightGBM text, the linear-parameter dump). Whatever the
//! bytes, it returns `Ok` or `Err` without a panic, and a model it accepts is one the
//! `.apr` writer writes and the reader verifies, within the documented limits.

#![no_main]

use icebreak_convert::detect::{convert_any, Options};
use icebreak_format::{limits, write, Apr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_, spec)) = convert_any(data, None, &Options::default()) else {
        return;
    };
    assert!(spec.input.n_features as usize <= limits::MAX_FEATURES);
    let buf = write(&spec).expect("the writer takes every converted model");
    Apr::parse_verified(&buf).expect("a converted model reads back");
});
