//! Fuzzes the CatBoost JSON importer: whatever the bytes, `catboost::convert` returns `Ok` or
//! `Err` (no panic, no unbounded allocation: depths, features, outputs and leaf counts are
//! checked against their limits before any table is built), and a model it accepts is one the
//! `.apr` writer writes, the reader verifies (R36, R37), and the engine runs, row and batch.

#![no_main]

use icebreak_convert::catboost;
use icebreak_engine::{cat_hash, BatchOutput, Model};
use icebreak_format::{write, Apr, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = catboost::convert(data) else {
        return;
    };
    // The converter checks the source itself: what it accepts, the format accepts too.
    let buf = write(&spec).expect("the writer takes every converted model");
    let apr = Apr::parse_verified(&buf).expect("a converted model reads back");
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let n = model.n_features();
    let categorical: Vec<u32> = match apr.stages().first() {
        Some(Stage::Oblivious(o)) => o.categorical.to_vec(),
        _ => Vec::new(),
    };
    let mut rows = Vec::new();
    for (k, fill) in [0.0, f64::NAN, -1.0, 1e300].into_iter().enumerate() {
        let mut row = vec![fill; n];
        // Categories as integers and as text, alternately.
        for &f in &categorical {
            row[f as usize] = if k % 2 == 0 {
                k as f64
            } else {
                cat_hash::category_value(b"red")
            };
        }
        let out = model
            .predict_row(&row, &mut scratch)
            .expect("a row of the right width predicts");
        std::hint::black_box((out.scores, out.values, out.class));
        rows.extend_from_slice(&row);
    }
    let mut batch = BatchOutput::default();
    model
        .predict_batch(&rows, &mut batch)
        .expect("rows of the right width predict");
});
