//! The export matrix: every family as skl2onnx writes it (float and double inputs, target
//! opsets 13, 15, 17, 18, 21 and the exporter's default, with and without ZipMap),
//! onnxmltools' exports of XGBoost and LightGBM models, and a network whose weights are ONNX
//! external data, each converted and compared with the library that trained it.
//!
//! `scripts/fixtures/generate_sklearn.py --part matrix` wrote `fixtures/onnx_matrix`: one
//! file per distinct graph (opsets that write the same bytes share a file) and
//! `manifest.json`, with each model's rows and the library's answers once, each cell's file,
//! and per file onnxruntime's outputs and whether the graph itself loses information (a
//! float input, or a cast to float).
//!
//! Every cell converts (none is refused on purpose; refusals and their messages are tested in
//! `onnx_errors.rs`). On every row, with `m` the row's term magnitude recorded by the
//! generator: values and scores within [`TOL`] · max(1, m) of the library, probabilities
//! within [`TOL`], labels equal (except at a tie within the tolerance). Where the graph
//! loses information and onnxruntime differs from the library on a row, icebreak is held to
//! onnxruntime on that row instead: the file itself says something else.

use crate::common::{fixture_dir, floats, read_json};
use icebreak_engine::Model;
use icebreak_format::{Apr, Labels, Precision};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Error allowed, relative to the row's magnitude.
const TOL: f64 = 1e-5;

/// Error allowed where the model computes in f64 throughout and answers in f64.
const TOL_F64: f64 = 1e-12;

/// The models whose double graphs are computed in f64 throughout: their `.apr` answers in
/// f64, and every other cell in f32.
const F64_MODELS: &[&str] = &[
    "scaler_logreg",
    "scaler_logreg_binary",
    "minmax_ridge",
    "maxabs_linear",
    "standard_scaler",
    "scaler_mlp_regressor",
    "normalizer_logreg",
    "normalizer_l1_logreg",
    "pca_logreg",
    "pca_whiten",
    "scaler_pca_mlp",
    "gaussian_nb",
    "kmeans",
];

/// The rows of a model, each number parsed from its text (correctly rounded, as the
/// threshold rows need).
fn inputs(model: &Value) -> Vec<Vec<f64>> {
    let text = serde_json::to_string(&model["inputs"]).unwrap();
    let rows: Vec<Vec<Option<serde_json::Number>>> = serde_json::from_str(&text).unwrap();
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.map_or(f64::NAN, |n| n.to_string().parse::<f64>().unwrap()))
                .collect()
        })
        .collect()
}

fn label_text(v: &Value) -> String {
    match v {
        Value::Array(a) if a.len() == 1 => label_text(&a[0]),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{}", n.as_f64().unwrap() as i64),
        },
        other => panic!("not a label: {other}"),
    }
}

/// onnxruntime's output for an icebreak output, by the exporters' names.
fn ort_output<'a>(ort: &'a Value, what: &str) -> Option<&'a Value> {
    let names: &[&str] = match what {
        "label" => &["output_label", "label"],
        "probabilities" => &["output_probability", "probabilities"],
        "values" => &["variable", "output", "scores"],
        _ => &[],
    };
    names.iter().find_map(|n| ort.get(*n))
}

fn near_tie(values: &[f64], slack: f64) -> bool {
    if values.len() == 1 {
        return values[0].abs() <= slack;
    }
    let mut s = values.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    s[0] - s[1] <= 2.0 * slack
}

/// The worst errors of one cell.
#[derive(Default, Clone, Copy)]
struct Worst {
    err: f64,
    /// The `.apr` answers in f64.
    f64_answers: bool,
    rows: usize,
    held_to_ort: usize,
}

/// Converts one cell's file and compares every row; `Err` says what went wrong.
fn check(file: &Path, model: &Value, info: &Value) -> Result<Worst, String> {
    let spec = icebreak_convert::onnx::convert_path(file, &Default::default())
        .map_err(|e| format!("refused: {e}"))?;
    let bytes = icebreak_format::write(&spec).map_err(|e| e.to_string())?;
    let apr = Apr::parse_verified(&bytes).map_err(|e| e.to_string())?;
    let engine = Model::new(&apr);
    let mut scratch = engine.scratch();
    let f64_answers = apr.output().precision == Precision::F64;
    let tol_rel = if f64_answers { TOL_F64 } else { TOL };
    let labels: Vec<String> = match apr.output().labels {
        Labels::None => Vec::new(),
        Labels::Int(ref l) => l.iter().map(i64::to_string).collect(),
        Labels::Str(ref l) => l.iter().map(str::to_string).collect(),
    };
    let lossy = info["lossy"].as_bool().unwrap();
    let ort = &info["onnxruntime"];
    let ort = (ort.get("error").is_none()).then_some(ort);
    let compare = model["compare"].as_object().unwrap();
    let mut worst = Worst {
        f64_answers,
        ..Worst::default()
    };
    for (i, x) in inputs(model).iter().enumerate() {
        worst.rows += 1;
        let out = engine
            .predict_row(x, &mut scratch)
            .map_err(|e| format!("row {i}: {e}"))?;
        let m = model["magnitude"][i].as_f64().unwrap().max(1.0);
        let mut tie = false;
        let mut by_ort = false;
        for (what, key) in compare {
            let sk = &model["sklearn"][key.as_str().unwrap()][i];
            let (got, tol): (Vec<f64>, f64) = match what.as_str() {
                "label" => continue,
                "probabilities" => (
                    out.probabilities.ok_or("no probabilities")?.to_vec(),
                    tol_rel,
                ),
                "scores" => (out.scores.to_vec(), tol_rel * m),
                "values" => (out.values.to_vec(), tol_rel * m),
                other => return Err(format!("unknown comparison {other}")),
            };
            let mut want = floats(sk);
            if lossy {
                if let Some(o) = ort.and_then(|o| ort_output(o, what)) {
                    let o = floats(&o[i]);
                    let differs = o.len() != want.len()
                        || o.iter().zip(&want).any(|(a, b)| (a - b).abs() > tol);
                    if differs && o.len() == got.len() {
                        want = o;
                        by_ort = true;
                    }
                }
            }
            if got.len() != want.len() {
                return Err(format!(
                    "row {i}: {what} width {} vs {}",
                    got.len(),
                    want.len()
                ));
            }
            for (g, w) in got.iter().zip(&want) {
                let e = (g - w).abs();
                worst.err = worst
                    .err
                    .max(e / if what == "probabilities" { 1.0 } else { m });
                if e > tol || e.is_nan() {
                    return Err(format!(
                        "row {i}: {what} {g} vs {w} (error {e:.2e}, m {m:.1})"
                    ));
                }
            }
            tie |= near_tie(&want, tol);
        }
        if let Some(key) = compare.get("label") {
            let mut want = label_text(&model["sklearn"][key.as_str().unwrap()][i]);
            if lossy {
                if let Some(o) = ort.and_then(|o| ort_output(o, "label")) {
                    let o = label_text(&o[i]);
                    if o != want {
                        want = o;
                        by_ort = true;
                    }
                }
            }
            let class = out.class.ok_or("no class")?;
            let got = labels
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string());
            if got != want && !tie {
                return Err(format!("row {i}: label {got} vs {want}"));
            }
        }
        worst.held_to_ort += usize::from(by_ort);
    }
    Ok(worst)
}

/// skl2onnx 1.20.0 (and onnxmltools 1.16.0, the external-data file): every cell converts.
#[test]
fn every_export_in_the_matrix_converts_and_matches_the_library() {
    let converted = check_matrix(&fixture_dir("onnx_matrix"));
    assert!(converted > 390, "{converted} cells");
}

/// skl2onnx 1.19.1, the oldest that works with onnx 1.23 (it cannot export tree ensembles
/// there: those cells hold the exporter's error, not a file): every file it wrote converts.
#[test]
fn the_oldest_exporter_s_matrix_converts_and_matches_the_library() {
    let converted = check_matrix(&fixture_dir("onnx_matrix_oldest"));
    assert!(converted > 250, "{converted} cells");
}

/// Converts and compares every cell of the matrix in `dir`; returns how many converted.
fn check_matrix(dir: &Path) -> usize {
    let manifest = read_json(&dir.join("manifest.json"));
    let models = manifest["models"].as_object().unwrap();
    let files = &manifest["files"];
    let mut failures = Vec::new();
    let mut table: BTreeMap<(String, String), (usize, Worst)> = BTreeMap::new();
    let mut converted = 0;
    for cell in manifest["cells"].as_array().unwrap() {
        let name = cell["model"].as_str().unwrap();
        let Some(file) = cell["file"].as_str() else {
            continue; // the exporter itself failed: recorded in the manifest
        };
        let what = format!(
            "{name} {} opset {} zipmap {}",
            cell["dtype"], cell["opset"], cell["zipmap"]
        );
        let result = check(&dir.join(file), &models[name], &files[file]);
        let dtype = cell["dtype"].as_str().unwrap();
        let f64_expected = dtype == "double" && F64_MODELS.contains(&name);
        match result {
            Ok(w) if w.f64_answers != f64_expected => failures.push(format!(
                "{what} ({file}): answers in {}, expected {}",
                if w.f64_answers { "f64" } else { "f32" },
                if f64_expected { "f64" } else { "f32" }
            )),
            Ok(w) => {
                converted += 1;
                let e = table
                    .entry((
                        name.to_string(),
                        cell["dtype"].as_str().unwrap().to_string(),
                    ))
                    .or_default();
                e.0 += 1;
                e.1.err = e.1.err.max(w.err);
                e.1.rows = w.rows;
                e.1.held_to_ort = e.1.held_to_ort.max(w.held_to_ort);
                e.1.f64_answers = w.f64_answers;
            }
            Err(e) => failures.push(format!("{what} ({file}): {e}")),
        }
    }
    let mut report = String::new();
    for ((m, dt), (cells, w)) in &table {
        let _ = writeln!(
            report,
            "{m:28} {dt:6} cells {cells:2} rows {:2} worst {:.1e} held to onnxruntime {} {}",
            w.rows,
            w.err,
            w.held_to_ort,
            if w.f64_answers { "f64" } else { "f32" }
        );
    }
    eprintln!("{}\n{report}{converted} cells converted", dir.display());
    assert!(
        failures.is_empty(),
        "{} cells fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    converted
}

/// ONNX external data is read only from the model's own folder: bytes alone are refused
/// with the way out named, a truncated data file is refused, and the folder may be given
/// explicitly.
#[test]
fn external_data_is_read_from_the_model_s_folder_only() {
    let src = fixture_dir("onnx_matrix").join("external_data");
    let bytes = std::fs::read(src.join("model.onnx")).unwrap();
    let msg = icebreak_convert::onnx::convert(&bytes)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("external file") && msg.contains("external_data=False"),
        "{msg}"
    );
    let opts = icebreak_convert::onnx::Options {
        external_data_dir: Some(src.clone()),
        ..Default::default()
    };
    let from_dir = icebreak_convert::onnx::convert_with(&bytes, &opts).unwrap();
    let from_path =
        icebreak_convert::onnx::convert_path(&src.join("model.onnx"), &Default::default()).unwrap();
    assert_eq!(from_dir, from_path);

    // A copy whose data file lost its last bytes.
    let tmp = std::env::temp_dir().join(format!("icebreak-extdata-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let data = std::fs::read(src.join("model.onnx.data")).unwrap();
    std::fs::write(tmp.join("model.onnx"), &bytes).unwrap();
    std::fs::write(tmp.join("model.onnx.data"), &data[..data.len() - 4]).unwrap();
    let msg = icebreak_convert::onnx::convert_path(&tmp.join("model.onnx"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("is outside \"model.onnx.data\""), "{msg}");
    // No data file at all.
    std::fs::remove_file(tmp.join("model.onnx.data")).unwrap();
    let msg = icebreak_convert::onnx::convert_path(&tmp.join("model.onnx"), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("does not exist beside the model"), "{msg}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
