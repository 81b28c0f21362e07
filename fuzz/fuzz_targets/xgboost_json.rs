//! Fuzzes the XGBoost importer (JSON and UBJSON): whatever the bytes, `xgboost::convert`
//! returns `Ok` or `Err` (no panic, no unbounded allocation or recursion), and a model it
//! accepts is one the `.apr` writer writes, the reader verifies, and the engine runs.

#![no_main]

use icebreak_convert::xgboost;
use icebreak_engine::Model;
use icebreak_format::{write, Apr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = xgboost::convert(data) else {
        return;
    };
    // The converter checks the source itself: what it accepts, the format accepts too.
    let buf = write(&spec).expect("the writer takes every converted model");
    let apr = Apr::parse_verified(&buf).expect("a converted model reads back");
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let n = model.n_features();
    // XGBoost models compute in f32: every fill is within its range.
    for fill in [0.0, f64::NAN, -0.5, -1.0, 3.0, 1e30] {
        let row = vec![fill; n];
        let out = model
            .predict_row(&row, &mut scratch)
            .expect("a row of the right width predicts");
        std::hint::black_box((out.scores, out.values, out.class));
    }
});
