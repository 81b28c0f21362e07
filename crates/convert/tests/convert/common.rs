//! Helpers the test modules share: where the fixtures are, and reading the reference
//! outputs the generators recorded.

use icebreak_engine::{BatchOutput, Model};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The committed fixtures of one family (`fixtures/<family>` at the repository root).
pub fn fixture_dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(family)
}

/// The fixture directories below `dir`, sorted by name.
pub fn fixture_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A JSON file, or a panic naming it.
pub fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every number in a (nested) JSON array, `null` read as NaN.
pub fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Null => vec![f64::NAN],
        other => panic!("not a number: {other}"),
    }
}

/// The batch path gives the row path's answers, bit for bit: predicts `flat` (rows of the
/// model's width, one after the other) both ways and compares every row. Returns the batch.
pub fn batch_matches_rows(model: &Model<'_>, flat: &[f64], name: &str) -> BatchOutput {
    let mut scratch = model.scratch();
    let mut batch = BatchOutput::default();
    model.predict_batch(flat, &mut batch).unwrap();
    for (i, row) in flat.chunks_exact(model.n_features()).enumerate() {
        let out = model.predict_row(row, &mut scratch).unwrap();
        let w = batch.score_width;
        assert_eq!(
            out.scores,
            &batch.scores[i * w..(i + 1) * w],
            "{name} row {i}"
        );
        let vw = batch.value_width;
        assert_eq!(
            out.values,
            &batch.values[i * vw..(i + 1) * vw],
            "{name} row {i}"
        );
        if let Some(c) = out.class {
            assert_eq!(batch.classes[i], c, "{name} row {i}");
        }
    }
    batch
}
