//! Helpers the test modules share: where the fixtures are, and reading the reference
//! outputs the generators recorded.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The committed fixtures of one family (`fixtures/<family>` at the repository root).
pub fn fixture_dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(family)
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
