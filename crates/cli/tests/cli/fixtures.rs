//! Every fixture converted, inspected and predicted; answers checked against the engine and
//! the training library.

use crate::common::*;
use std::path::Path;

#[test]
fn xgboost_fixtures_convert_inspect_and_predict_like_xgboost() {
    let dir = scratch("xgboost");
    for (name, case) in cases("xgboost", "model.json") {
        let model = convert(&name, &case.join("model.json"), &dir);
        if case.join("model.ubj").exists() {
            let ubj = convert(&format!("{name}-ubj"), &case.join("model.ubj"), &dir);
            // The same model; only the provenance (the source's hash) differs.
            assert_eq!(
                inspect_json(&ubj)["stages"],
                inspect_json(&model)["stages"],
                "{name}: UBJSON"
            );
        }
        let info = inspect_json(&model);
        assert_eq!(
            info["provenance"]["source_format"]
                .as_str()
                .unwrap()
                .split(' ')
                .next(),
            Some("xgboost")
        );
        let reference = read_json(&case.join("reference.json"));
        let rows = reference["inputs"].as_array().unwrap();
        let answers = predict_both_ways(&name, &model, rows, &info, &dir);
        check_against_engine(&name, &answers, &engine_answers(&model, rows), &info);
        check_xgboost(&name, &reference, &answers, &info);
    }
}

#[test]
fn lightgbm_fixtures_convert_inspect_and_predict_like_lightgbm() {
    let dir = scratch("lightgbm");
    for (name, case) in cases("lightgbm", "model.txt") {
        let model = convert(&name, &case.join("model.txt"), &dir);
        let info = inspect_json(&model);
        let reference = read_json(&case.join("reference.json"));
        assert_eq!(
            info["stages"][0]["trees"]["n_trees"], reference["n_trees"],
            "{name}"
        );
        let rows = reference["inputs"].as_array().unwrap();
        let answers = predict_both_ways(&name, &model, rows, &info, &dir);
        check_against_engine(&name, &answers, &engine_answers(&model, rows), &info);
        check_lightgbm(&name, &case, &reference, &answers, &info);
    }
}

/// `--tree-layout`: converted XGBoost and LightGBM fixtures answer the same in either layout,
/// `auto` keeps these small ensembles classic, and XGBoost's f32 trees take fewer bytes.
#[test]
fn both_tree_layouts_answer_alike() {
    let dir = scratch("layouts");
    for (library, file) in [("xgboost", "model.json"), ("lightgbm", "model.txt")] {
        for (name, case) in cases(library, file) {
            let src = case.join(file);
            let auto = convert(&format!("{name}-auto"), &src, &dir);
            let mut written = Vec::new();
            let mut compact = false;
            for layout in ["classic", "compact"] {
                let dst = dir.join(format!("{name}-{layout}.apr"));
                let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
                ok(&["convert", s, "-o", d, "--tree-layout", layout], b"");
                let trees = &inspect_json(&dst)["stages"][0]["trees"];
                // The writer keeps the classic layout where the compact one cannot hold the
                // trees; every numeric-split fixture fits it.
                if layout == "classic" || trees["n_categorical_nodes"] == 0 {
                    assert_eq!(trees["compact"], layout == "compact", "{name} {layout}");
                }
                // Vector leaves (one value per target) take no fewer bytes compact.
                compact |= trees["compact"] == true && trees["leaf_width"] == 1;
                written.push(dst);
            }
            assert_eq!(
                std::fs::read(&auto).unwrap(),
                std::fs::read(&written[0]).unwrap(),
                "{name}: auto writes a small ensemble in the classic layout"
            );
            let rows = read_json(&case.join("reference.json"))["inputs"].clone();
            let input = jsonl(rows.as_array().unwrap());
            let answers: Vec<String> = written
                .iter()
                .map(|m| text(&ok(&["predict", m.to_str().unwrap(), "-i", "-"], &input).stdout))
                .collect();
            assert_eq!(
                answers[0], answers[1],
                "{name}: classic and compact answers"
            );
            let sizes: Vec<u64> = written
                .iter()
                .map(|m| std::fs::metadata(m).unwrap().len())
                .collect();
            if library == "xgboost" && compact {
                assert!(sizes[1] < sizes[0], "{name}: sizes {sizes:?}");
            }
        }
    }
}

// --------------------------------------------------------------------------------------------
// convert

#[test]
fn from_forces_the_importer_and_a_mismatch_says_what_the_file_is() {
    let dir = scratch("from");
    let src = root().join("fixtures/xgboost/binary_logistic/model.json");
    let src = src.to_str().unwrap();
    let forced = dir.join("forced.apr");
    ok(
        &[
            "convert",
            src,
            "--from",
            "xgboost",
            "-o",
            forced.to_str().unwrap(),
        ],
        b"",
    );
    let detected = convert("detected", Path::new(src), &dir);
    assert_eq!(
        std::fs::read(&forced).unwrap(),
        std::fs::read(&detected).unwrap()
    );

    let wrong = dir.join("wrong.apr");
    let out = icebreak(
        &[
            "convert",
            src,
            "--from",
            "lightgbm",
            "-o",
            wrong.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("icebreak: LightGBM import failed: "),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("(the content looks like XGBoost, not LightGBM)"),
        "{err}"
    );
    assert!(!wrong.exists());
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_content_is_refused_with_the_formats_listed() {
    let dir = scratch("unknown");
    let src = dir.join("rows.csv");
    std::fs::write(&src, "a,b\n1,2\n").unwrap();
    let dst = dir.join("x.apr");
    let out = icebreak(
        &[
            "convert",
            src.to_str().unwrap(),
            "-o",
            dst.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "icebreak: not a model icebreak can import; the formats it reads are ONNX (protobuf \
         ModelProto), XGBoost (JSON or UBJSON from save_model), LightGBM (text from save_model), \
         CatBoost (JSON from save_model(format=\"json\")); name the format with --from if it is \
         one of them\n"
    );
    assert!(!dst.exists());
}

#[test]
fn convert_reads_standard_input_and_takes_version_and_name() {
    let dir = scratch("stdin");
    let src = std::fs::read(root().join("fixtures/lightgbm/regression/model.txt")).unwrap();
    let dst = dir.join("m.apr");
    let out = ok(
        &[
            "convert",
            "-",
            "-o",
            dst.to_str().unwrap(),
            "--model-version",
            "v7",
            "--name",
            "diabetes",
        ],
        &src,
    );
    let line = text(&out.stdout);
    assert!(line.contains(": LightGBM ("), "{line}");
    assert!(line.trim_end().ends_with(", version v7"), "{line}");
    let info = inspect_json(&dst);
    assert_eq!(info["provenance"]["model_version"], "v7");
    assert_eq!(info["provenance"]["model_name"], "diabetes");
    assert_eq!(info["task"], "regression");
}

#[test]
fn onnx_fixtures_are_detected_and_answer_like_the_engine() {
    let dir = scratch("onnx");
    let mut converted = 0;
    for (name, case) in cases("sklearn", "model.onnx") {
        let src = case.join("model.onnx");
        let dst = dir.join(format!("{name}.apr"));
        let out = icebreak(
            &[
                "convert",
                src.to_str().unwrap(),
                "-o",
                dst.to_str().unwrap(),
            ],
            b"",
        );
        if !out.status.success() {
            // Families the ONNX importer does not take yet are refused by it, not by detection.
            let err = text(&out.stderr);
            assert!(
                err.starts_with("icebreak: ONNX import failed: "),
                "{name}: {err}"
            );
            assert!(!dst.exists(), "{name}");
            continue;
        }
        converted += 1;
        assert!(text(&out.stdout).contains(": ONNX ("), "{name}");
        let info = inspect_json(&dst);
        let reference = read_json(&case.join("reference.json"));
        let rows = reference["inputs"].as_array().unwrap();
        let answers = predict_both_ways(&name, &dst, rows, &info, &dir);
        check_against_engine(&name, &answers, &engine_answers(&dst, rows), &info);
    }
    assert!(converted > 0);
}

// --------------------------------------------------------------------------------------------
// inspect

/// A PyTorch-style export whose weights are ONNX external data (`model.onnx.data` beside
/// the model, as `torch.onnx.export` writes by default) converts from its path; from
/// standard input, where there is no folder, it is refused with the way out named.
#[test]
fn convert_reads_onnx_external_data_beside_the_model() {
    let dir = scratch("external");
    let src = root().join("fixtures/onnx_matrix/external_data/model.onnx");
    let dst = convert("external", &src, &dir);
    let info = inspect_json(&dst);
    assert_eq!(info["task"], "regression");
    let out = icebreak(
        &[
            "convert",
            "-",
            "-o",
            dir.join("stdin.apr").to_str().unwrap(),
        ],
        &std::fs::read(&src).unwrap(),
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("external file") && err.contains("external_data=False"),
        "{err}"
    );
}

#[test]
fn catboost_json_is_detected_converted_and_predicted() {
    let dir = scratch("catboost");
    let case = root().join("fixtures/catboost/multiclass");
    let dst = dir.join("m.apr");
    ok(
        &[
            "convert",
            case.join("model.json").to_str().unwrap(),
            "-o",
            dst.to_str().unwrap(),
        ],
        b"",
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("reference.json")).unwrap())
            .unwrap();
    let mut input = String::new();
    for row in reference["inputs"].as_array().unwrap().iter().take(5) {
        input.push_str(&serde_json::json!({ "features": row }).to_string());
        input.push('\n');
    }
    let out = ok(
        &["predict", dst.to_str().unwrap(), "--input", "-"],
        input.as_bytes(),
    );
    for (i, line) in text(&out.stdout).lines().enumerate() {
        let got: serde_json::Value = serde_json::from_str(line).unwrap();
        // Raw scores: CatBoost's bits, through the JSON text.
        assert_eq!(got["scores"], reference["raw"][i], "row {i}");
    }
    // The binary container is recognised, and refused with the way out.
    let out = icebreak(
        &[
            "convert",
            case.join("model.cbm").to_str().unwrap(),
            "-o",
            dst.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("format=\"json\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn catboost_categories_as_text_in_csv_and_json_lines() {
    // A regression: the prediction is CatBoost's raw value, bit for bit.
    let dst = catboost_case_answers_text_categories("onehot", |got| &got["prediction"]);
    // A fraction where a category belongs is a row error naming the feature.
    let bad = "{\"features\": [0.01, 1.5, 0.02, \"bp1\", 0.0, \"s5_2\", 0.0]}\n";
    let out = ok(
        &["predict", dst.to_str().unwrap(), "--input", "-"],
        bad.as_bytes(),
    );
    assert!(
        text(&out.stdout).contains("feature 1 is categorical"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn catboost_ctr_model_answers_text_categories_in_csv_and_json_lines() {
    // `ctr`: Borders CTRs; `ctr_counter`: CatBoost's default CTRs, Borders and Counter. The
    // raw score is CatBoost's RawFormulaVal, bit for bit.
    for name in ["ctr", "ctr_counter"] {
        catboost_case_answers_text_categories(name, |got| &got["scores"][0]);
    }
}

/// Converts the CatBoost fixture `name` and predicts every row of its reference (unseen and
/// empty categories included) from CSV with a header and from JSON Lines, the categories as
/// text; `raw` picks the answer's raw value, which must equal the reference's bit for bit.
/// Returns the converted model's path.
fn catboost_case_answers_text_categories(
    name: &str,
    raw: impl Fn(&serde_json::Value) -> &serde_json::Value,
) -> std::path::PathBuf {
    let dir = scratch(&format!("catboost_{name}"));
    let case = root().join("fixtures/catboost").join(name);
    let dst = dir.join("m.apr");
    ok(
        &[
            "convert",
            case.join("model.json").to_str().unwrap(),
            "-o",
            dst.to_str().unwrap(),
        ],
        b"",
    );
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("reference.json")).unwrap())
            .unwrap();
    let inputs = reference["inputs"].as_array().unwrap();
    let names: Vec<&str> = reference["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut csv = names.join(",") + "\n";
    let mut jsonl = String::new();
    for row in inputs {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
        jsonl.push_str(&serde_json::json!({ "features": row }).to_string());
        jsonl.push('\n');
    }
    for input in [csv, jsonl] {
        let out = ok(
            &["predict", dst.to_str().unwrap(), "--input", "-"],
            input.as_bytes(),
        );
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), inputs.len());
        for (i, line) in lines.iter().enumerate() {
            let got: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(raw(&got), &reference["raw"][i][0], "{name} row {i}: {line}");
        }
    }
    dst
}
