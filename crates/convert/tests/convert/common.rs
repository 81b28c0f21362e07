//! Helpers the test modules share: where the fixtures are, and reading the reference
//! outputs the generators recorded.

use icebreak_engine::{BatchOutput, Model};
use icebreak_format::Precision;
use icebreak_protocol::Numbers;
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

/// `values` of a model of `precision` written as the protocol writes them (the shortest
/// text of that precision), then read back as that type, correctly rounded
/// (`str::parse`): what a client reading the answer gets.
pub fn through_json(values: &[f64], precision: Precision) -> Vec<f64> {
    let text = serde_json::to_string(&Numbers::borrowed(values, precision)).unwrap();
    let raw: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
    raw.iter()
        .map(|r| match precision {
            Precision::F32 => f64::from(r.get().parse::<f32>().unwrap()),
            Precision::F64 => r.get().parse::<f64>().unwrap(),
        })
        .collect()
}

/// Distance between `a` and `b` in units in the last place of `precision` (0: the same
/// bits; equal zeros of either sign are 0 apart).
pub fn ulps(a: f64, b: f64, precision: Precision) -> u64 {
    fn ordered(bits: i64, sign_min: i64) -> i64 {
        if bits < 0 {
            sign_min - bits
        } else {
            bits
        }
    }
    match precision {
        Precision::F32 => {
            let (a, b) = (a as f32, b as f32);
            let oa = ordered(i64::from(a.to_bits() as i32), i64::from(i32::MIN));
            let ob = ordered(i64::from(b.to_bits() as i32), i64::from(i32::MIN));
            oa.abs_diff(ob)
        }
        Precision::F64 => {
            let oa = i128::from(ordered(a.to_bits() as i64, i64::MIN));
            let ob = i128::from(ordered(b.to_bits() as i64, i64::MIN));
            u64::try_from(oa.abs_diff(ob)).unwrap_or(u64::MAX)
        }
    }
}

/// Asserts that `got` (the engine's) equals `want` (the library's) bit for bit at
/// `precision`, and that the protocol's JSON text of `got` reads back to the same bits.
/// Returns the largest distance in ulps (0 when the assertion holds; it is reported).
pub fn assert_bits(got: &[f64], want: &[f64], precision: Precision, what: &str) -> u64 {
    assert_eq!(got.len(), want.len(), "{what}: width");
    let mut worst = 0;
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        worst = worst.max(ulps(g, w, precision));
        assert_eq!(
            precision.round(g).to_bits(),
            g.to_bits(),
            "{what} [{j}]: {g} is not a value of the model's precision {precision:?}"
        );
        assert_eq!(
            g.to_bits(),
            precision.round(w).to_bits(),
            "{what} [{j}]: icebreak {g:e} vs the library's {w:e} ({} ulp apart)",
            ulps(g, w, precision)
        );
    }
    let back = through_json(got, precision);
    for (j, (b, g)) in back.iter().zip(got).enumerate() {
        assert_eq!(
            b.to_bits(),
            g.to_bits(),
            "{what} [{j}]: JSON text reads back as {b:e}"
        );
    }
    worst
}
