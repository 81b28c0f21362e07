//! Fuzzes the ONNX importer: whatever the bytes, `onnx::convert` returns `Ok` or `Err` (no
//! panic, no unbounded allocation or recursion), and a model it accepts is one the `.apr`
//! writer writes, the reader verifies, and the engine runs.

#![no_main]

use icebreak_convert::onnx;
use icebreak_engine::Model;
use icebreak_format::{write, Apr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = onnx::convert(data) else {
        return;
    };
    // The converter checks the source itself: what it accepts, the format accepts too.
    let buf = write(&spec).expect("the writer takes every converted model");
    let apr = Apr::parse_verified(&buf).expect("a converted model reads back");
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let n = model.n_features();
    let nan_ok = spec.input.missing == icebreak_format::MissingValues::Nan;
    for fill in [0.0, -0.5, 1.0, 3.0, 1e30, f64::NAN] {
        if fill.is_nan() && !nan_ok {
            continue;
        }
        let row = vec![fill; n];
        // A finite row within the f32 range predicts; the engine may refuse nothing else.
        let out = model
            .predict_row(&row, &mut scratch)
            .expect("a row of the right width predicts");
        std::hint::black_box((out.scores, out.values, out.class));
    }
});
