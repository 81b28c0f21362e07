//! `icebreak inspect`, and the exit codes of missing files and usage errors.

use crate::common::*;
use serde_json::{json, Value};

#[test]
fn inspect_text_and_json() {
    let dir = scratch("inspect");
    let model = convert(
        "m",
        &root().join("fixtures/lightgbm/multiclass_iris/model.txt"),
        &dir,
    );
    let out = ok(&["inspect", model.to_str().unwrap()], b"");
    let t = text(&out.stdout);
    let len = std::fs::metadata(&model).unwrap().len();
    for want in [
        format!("  file        .apr 1.1, {len} bytes, "),
        "final width 3, answers in f64\n".to_string(),
        "  task        classification (3 classes)\n".to_string(),
        "  classes     0, 1, 2\n".to_string(),
        "  inputs      4 features, missing values accepted".to_string(),
        "  features    Column_0, Column_1, Column_2, Column_3\n".to_string(),
        "    0 trees           estimator          4 -> 3 ".to_string(),
        "        150 trees, ".to_string(),
        "    1 softmax         postprocessor      3 -> 3 ".to_string(),
        "  converter   icebreak-convert ".to_string(),
    ] {
        assert!(t.contains(&want), "{want:?} not in\n{t}");
    }
    assert!(t.contains(" (verified)\n"), "{t}");

    let info = inspect_json(&model);
    assert_eq!(info["schema"], 1);
    assert_eq!(info["file"]["bytes"], len);
    assert_eq!(info["file"]["format_version"], "1.1");
    assert_eq!(info["file"]["checksum"]["verified"], true);
    assert!(info["file"]["checksum"].get("computed").is_none());
    assert_eq!(info["task"], "classification");
    assert_eq!(
        info["inputs"],
        json!({"n_features": 4, "missing": "nan", "feature_names": ["Column_0", "Column_1", "Column_2", "Column_3"]})
    );
    assert_eq!(
        info["outputs"],
        json!({"n_outputs": 3, "width": 3, "classes": [0, 1, 2], "output_names": null, "precision": "f64"})
    );
    let trees = &info["stages"][0];
    assert_eq!(trees["name"], "trees");
    assert_eq!(trees["n_in"], 4);
    assert_eq!(trees["n_out"], 3);
    let t = &trees["trees"];
    assert_eq!(t["n_trees"], 150);
    assert_eq!(t["leaf_width"], 1);
    assert_eq!(t["average"], false);
    assert_eq!(t["round_f32"], false);
    let n_nodes = t["n_nodes"].as_u64().unwrap();
    let n_leaves = t["n_leaves"].as_u64().unwrap();
    // Binary trees: one more leaf than nodes in each.
    assert_eq!(n_leaves, n_nodes + 150);
    let depth = t["max_depth"].as_u64().unwrap();
    assert!((1..=n_nodes).contains(&depth), "{depth}");
    let tensor_bytes: u64 = trees["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let w = if x["dtype"] == "f64" { 8 } else { 4 };
            x["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product::<u64>()
                * w
        })
        .sum();
    assert_eq!(trees["bytes"], tensor_bytes);
    assert_eq!(
        info["stages"][1],
        json!({"index": 1, "name": "softmax", "role": "postprocessor", "n_in": 3, "n_out": 3, "bytes": 0, "tensors": []})
    );
    assert_eq!(
        info["provenance"]["model_version"].as_str().unwrap().len(),
        "lightgbm-".len() + 12
    );
}

#[test]
fn inspect_reports_a_damaged_checksum_and_fails() {
    let dir = scratch("damaged");
    let model = convert(
        "m",
        &root().join("fixtures/xgboost/reg_squarederror/model.json"),
        &dir,
    );
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[12] ^= 1; // the stored checksum
    std::fs::write(&model, &bytes).unwrap();
    let out = icebreak(&["inspect", "--json", model.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["file"]["checksum"]["verified"], false);
    assert!(text(&out.stderr).contains("checksum mismatch"));
    // predict refuses it.
    let out = icebreak(&["predict", model.to_str().unwrap(), "-i", "-"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a valid .apr model"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_files_and_usage_errors_have_distinct_exit_codes() {
    let out = icebreak(&["inspect", "/nonexistent/m.apr"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("icebreak: cannot read /nonexistent/m.apr: "));
    let out = icebreak(&["predict", "m.apr"], b"");
    assert_eq!(out.status.code(), Some(2), "--input is required");
    let out = icebreak(&["convert", "x", "-o", "y", "--from", "sklearn"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// A double ONNX graph of StandardScaler + PCA + MLPClassifier converts to f64 stages and
/// answers in f64 (`inspect`); a double MinMaxScaler + Ridge graph's `predict` prints the
/// shortest f64 text of a value within 1e-12 of scikit-learn's.
#[test]
fn double_graphs_convert_to_f64_stages_and_answer_in_f64() {
    let dir = scratch("inspect-f64");
    let matrix = root().join("fixtures/onnx_matrix");
    let mlp = convert(
        "mlp",
        &matrix.join("scaler_pca_mlp/6de24f78f864.onnx"),
        &dir,
    );
    let info = inspect_json(&mlp);
    assert_eq!(info["outputs"]["precision"], "f64");
    let names: Vec<&str> = info["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "standard_scaler_f64",
            "pca_f64",
            "dense_f64",
            "dense_f64",
            "softmax"
        ]
    );
    for s in info["stages"].as_array().unwrap() {
        for t in s["tensors"].as_array().into_iter().flatten() {
            assert_eq!(t["dtype"], "f64", "{s}");
        }
    }
    let t = text(&ok(&["inspect", mlp.to_str().unwrap()], b"").stdout);
    assert!(t.contains("answers in f64"), "{t}");

    let ridge = convert(
        "ridge",
        &matrix.join("minmax_ridge/cf6c85e5474b.onnx"),
        &dir,
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(matrix.join("manifest.json")).unwrap()).unwrap();
    let model = &manifest["models"]["minmax_ridge"];
    let row = &model["inputs"][0];
    let want = model["sklearn"]["predict"][0].as_f64().unwrap();
    let out = ok(
        &["predict", ridge.to_str().unwrap(), "--input", "-"],
        &jsonl(std::slice::from_ref(row)),
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = line["prediction"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    assert_ne!(f64::from(got as f32), got, "{got} is an f32 value");
}

/// An imputer_f64 + svm_f64 model (what the Python package writes for a scikit-learn
/// `Pipeline(SimpleImputer, SVC(probability=True, break_ties=True))`): `inspect` names the
/// stages, their f64 tensors and `break_ties`; `predict` takes a NaN and answers in f64.
#[test]
fn svm_f64_and_imputer_f64_inspect_and_predict() {
    use icebreak_format::*;
    let dir = scratch("inspect-svm-f64");
    let spec = ModelSpec {
        input: InputSpec {
            n_features: 2,
            missing: MissingValues::Nan,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Classification,
            n_outputs: 3,
            labels: LabelsSpec::Int(vec![0, 1, 2]),
            output_names: None,
            precision: Precision::F64,
        },
        provenance: ProvenanceSpec {
            model_version: "svm".into(),
            model_name: None,
            source_format: None,
            converter: None,
            source_sha256: None,
        },
        stages: vec![
            StageSpec::ImputerF64 {
                missing: f64::NAN,
                fill: vec![0.1, -1.0 / 3.0],
            },
            StageSpec::SvmF64(SvmSpec {
                n_in: 2,
                n_classes: 3,
                kernel: Kernel::Rbf { gamma: 0.1 },
                n_support: vec![1, 2, 1],
                support_vectors: vec![0.1, 1.0 / 3.0, 1e-300, 0.0, 1.0, 1.0, -1.0, 0.5],
                coef: vec![1.0, 0.5, -0.5, 1.0, -1.0, 0.25, 0.75, -0.25],
                intercept: vec![0.1, -0.2, 0.3],
                prob_a: vec![-1.5, -2.0, -1.0],
                prob_b: vec![0.1, 0.0, -0.1],
                break_ties: true,
            }),
        ],
    };
    let path = dir.join("svm.apr");
    std::fs::write(&path, write_to_vec(&spec).unwrap()).unwrap();
    let info = inspect_json(&path);
    assert_eq!(info["outputs"]["precision"], "f64");
    assert_eq!(info["stages"][0]["name"], "imputer_f64");
    assert_eq!(info["stages"][0]["params"]["missing_value"], Value::Null);
    let svm = &info["stages"][1];
    assert_eq!(svm["name"], "svm_f64");
    assert_eq!(svm["params"]["break_ties"], true);
    assert_eq!(svm["params"]["kernel"], "rbf");
    assert_eq!(svm["params"]["probabilities"], true);
    let sv = svm["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "support_vectors")
        .unwrap();
    assert_eq!(sv["dtype"], "f64");
    assert_eq!(sv["shape"], json!([4, 2]));
    let out = ok(
        &["predict", path.to_str().unwrap(), "--input", "-"],
        b"{\"features\": [null, 0.25]}\n",
    );
    let row = &lines(&out.stdout)[0];
    assert!(row.get("error").is_none(), "{row}");
}
