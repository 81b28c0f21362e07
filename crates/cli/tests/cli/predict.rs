//! `icebreak predict`: labels, missing values, bad rows, CSV headers, regressions, large
//! inputs, closed pipes, `--threads`.

use crate::common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

#[test]
fn string_labels_and_refused_missing_values() {
    let x = example_features();
    let row: Vec<String> = x.iter().map(|v| format!("{v:?}")).collect();
    let good = row.join(",");
    let mut nan = row.clone();
    nan[3] = "NaN".into();
    let mut empty = row.clone();
    empty[0] = String::new();
    let input = format!("{good}\n{}\n{}\n{good}\n", nan.join(","), empty.join(","));
    let m = example_model();
    let out = ok(
        &["predict", m.to_str().unwrap(), "-i", "-"],
        input.as_bytes(),
    );
    let first = text(&out.stdout).lines().next().unwrap().to_string();
    assert!(
        first.starts_with(r#"{"prediction":"malignant","probabilities":["#)
            && first.contains(r#"],"scores":["#),
        "field order: {first}"
    );
    let got = lines(&out.stdout);
    let engine = engine_answers(&m, &[json!(x)]);
    let (scores, _, p, _) = engine[0].as_ref().unwrap();
    let missing = |i: usize| {
        format!(
            "feature {i} is missing (null or NaN) and this model does not accept missing values"
        )
    };
    assert_eq!(got.len(), 4);
    for i in [0, 3] {
        assert_eq!(got[i]["prediction"], "malignant");
        assert_eq!(f32s(&got[i]["probabilities"]), *p.as_ref().unwrap());
        assert_eq!(f32s(&got[i]["scores"]), *scores);
        assert_eq!(got[i].as_object().unwrap().len(), 3);
    }
    assert_eq!(got[1], json!({"row": 2, "error": missing(3)}));
    assert_eq!(got[2], json!({"row": 3, "error": missing(0)}));
    assert_eq!(
        text(&out.stderr),
        "icebreak: 2 of 4 rows had errors (see the \"error\" lines)\n"
    );
}

#[test]
fn bad_rows_in_the_middle_get_error_lines_and_the_rest_are_answered() {
    let dir = scratch("bad-rows");
    let model = convert(
        "m",
        &root().join("fixtures/xgboost/multi_softprob/model.json"),
        &dir,
    );
    let m = model.to_str().unwrap();
    let reference = read_json(&root().join("fixtures/xgboost/multi_softprob/reference.json"));
    let rows = reference["inputs"].as_array().unwrap();
    let n = rows[0].as_array().unwrap().len();
    let clean = lines(&ok(&["predict", m, "-i", "-"], &jsonl(rows)).stdout);

    // CSV: a non-number, a short row, an infinity, a long row, between good rows.
    let good_text = text(&csv(rows, None));
    let good: Vec<&str> = good_text.lines().collect();
    let short = vec!["1"; n - 1].join(",");
    let long = vec!["1"; n + 1].join(",");
    let mut word = vec!["1"; n];
    word[2] = "abc";
    let mut inf = vec!["1"; n];
    inf[0] = "inf";
    let bad = [word.join(","), short, inf.join(","), long];
    let mut input = String::new();
    let mut expect = Vec::new();
    for (i, g) in good.iter().enumerate() {
        input.push_str(g);
        input.push('\n');
        expect.push(clean[i].clone());
        if i % 7 == 3 {
            let b = &bad[(i / 7) % bad.len()];
            input.push_str(b);
            input.push('\n');
            expect.push(Value::Null);
        }
    }
    let out = icebreak(&["predict", m, "-i", "-", "--strict"], input.as_bytes());
    assert_eq!(out.status.code(), Some(3), "--strict with bad rows");
    let got = lines(&out.stdout);
    assert_eq!(got.len(), expect.len());
    let mut errors = Vec::new();
    for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
        if e.is_null() {
            errors.push(g.clone());
            assert_eq!(g["row"], i + 1);
        } else {
            assert_eq!(g, e, "line {}", i + 1);
        }
    }
    let msgs: Vec<&str> = errors
        .iter()
        .take(4)
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        msgs,
        [
            "feature 2 is not a number: \"abc\"".to_string(),
            format!("expected {n} features, got {}", n - 1),
            "feature 0 is infinite or outside the range this model computes in (f32)".to_string(),
            format!("expected {n} features, got {}", n + 1),
        ]
    );

    // JSON Lines: malformed JSON, a string, a missing key, blank lines skipped.
    let r0 = json!({"features": rows[0]}).to_string();
    let input = format!(
        "{r0}\n{{\"features\": [1,\n\n{{\"features\": [\"a\"{}]}}\n{{\"x\": 1}}\n   \n{r0}\n",
        ",1".repeat(n - 1)
    );
    let out = ok(&["predict", m, "-i", "-"], input.as_bytes());
    let got = lines(&out.stdout);
    assert_eq!(
        got,
        [
            clean[0].clone(),
            json!({"row": 2, "error": "invalid JSON at column 16: EOF while parsing a value"}),
            json!({"row": 3, "error": "feature 0 is a string, not a number or null"}),
            json!({"row": 4, "error": "invalid JSON at column 8: missing field `features`"}),
            clean[0].clone(),
        ]
    );
}

#[test]
fn csv_headers_missing_cells_and_nan() {
    let dir = scratch("csv");
    let model = convert(
        "m",
        &root().join("fixtures/lightgbm/binary_nan/model.txt"),
        &dir,
    );
    let m = model.to_str().unwrap();
    let info = inspect_json(&model);
    let names: Vec<String> = info["inputs"]["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let reference = read_json(&root().join("fixtures/lightgbm/binary_nan/reference.json"));
    let rows: Vec<Value> = reference["inputs"].as_array().unwrap()[..20].to_vec();
    let want = ok(&["predict", m, "-i", "-"], &jsonl(&rows)).stdout;

    // Empty cells and NaN spelled out are both missing.
    let nan_spelled = text(&csv(&rows, None))
        .lines()
        .map(|l| {
            l.split(',')
                .map(|c| if c.is_empty() { " NaN " } else { c })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(nan_spelled.contains("NaN"), "the rows have missing values");
    assert_eq!(
        text(&ok(&["predict", m, "-i", "-"], nan_spelled.as_bytes()).stdout),
        text(&want)
    );

    // A header in another order maps columns by name.
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.reverse();
    let mut s = order
        .iter()
        .map(|&j| names[j].as_str())
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for r in &rows {
        let x = floats(r);
        let cells: Vec<String> = order
            .iter()
            .map(|&j| {
                if x[j].is_nan() {
                    String::new()
                } else {
                    format!("{:?}", x[j])
                }
            })
            .collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    let out = ok(
        &["predict", m, "-i", "-", "--input-format", "csv"],
        s.as_bytes(),
    );
    assert_eq!(text(&out.stdout), text(&want));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // A header that names other features: columns in order, with a warning.
    let other: Vec<String> = (0..names.len()).map(|i| format!("f{i}")).collect();
    let out = ok(&["predict", m, "-i", "-"], &csv(&rows, Some(&other)));
    assert_eq!(text(&out.stdout), text(&want));
    assert_eq!(
        text(&out.stderr),
        "icebreak: the CSV header does not name the model's features; columns are taken in order\n"
    );

    // Empty input: no rows, no output.
    let out = ok(&["predict", m, "-i", "-"], b"");
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn regression_outputs_and_multi_target_values() {
    let dir = scratch("regression");
    let cases = [
        ("reg_squarederror", false, false),
        ("count_poisson", true, false),
        ("reg_multi_target", false, true),
    ];
    for (case, scores, array) in cases {
        let model = convert(
            case,
            &root().join(format!("fixtures/xgboost/{case}/model.json")),
            &dir,
        );
        let reference = read_json(&root().join(format!("fixtures/xgboost/{case}/reference.json")));
        let rows = &reference["inputs"].as_array().unwrap()[..3];
        let out = ok(
            &["predict", model.to_str().unwrap(), "-i", "-"],
            &jsonl(rows),
        );
        for a in lines(&out.stdout) {
            assert_eq!(a.get("scores").is_some(), scores, "{case}: {a}");
            assert_eq!(a["prediction"].is_array(), array, "{case}: {a}");
            assert!(a.get("probabilities").is_none(), "{case}: {a}");
        }
    }
}

#[test]
fn large_inputs_stream_through_chunks_in_order() {
    let dir = scratch("large");
    let model = convert(
        "m",
        &root().join("fixtures/lightgbm/regression/model.txt"),
        &dir,
    );
    let reference = read_json(&root().join("fixtures/lightgbm/regression/reference.json"));
    let rows = reference["inputs"].as_array().unwrap();
    // More than two chunks of 1024 rows, with a bad row at each chunk edge.
    let mut input = String::new();
    let mut want = Vec::new();
    let engine = engine_answers(&model, rows);
    for i in 0..2600 {
        if i == 1023 || i == 2048 {
            input.push_str("1,2\n");
            want.push(None);
        } else {
            let r = i % rows.len();
            input.push_str(&text(&csv(&rows[r..=r], None)));
            want.push(Some(r));
        }
    }
    let out = ok(
        &["predict", model.to_str().unwrap(), "-i", "-", "-q"],
        input.as_bytes(),
    );
    assert!(out.stderr.is_empty(), "--quiet");
    let got = lines(&out.stdout);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        match w {
            None => assert_eq!(
                g,
                &json!({"row": i + 1, "error": "expected 10 features, got 2"})
            ),
            Some(r) => {
                let (_, values, _, _) = engine[*r].as_ref().unwrap();
                assert_eq!(f32s(&g["prediction"]), *values, "line {}", i + 1);
            }
        }
    }
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    let dir = scratch("pipe");
    let model = convert(
        "m",
        &root().join("fixtures/lightgbm/regression/model.txt"),
        &dir,
    );
    let row = "0.01,0.05,0.06,0.02,-0.04,-0.03,-0.04,0.0,0.02,-0.01\n".repeat(50_000);
    let input = dir.join("rows.csv");
    std::fs::write(&input, row).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_icebreak"))
        .args([
            "predict",
            model.to_str().unwrap(),
            "-i",
            input.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert!(first.starts_with(b"{\"prediction\":"));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn threads_give_the_same_answers_as_one_thread() {
    let dir = scratch("threads");
    for case in [
        "mlp_classifier_relu",
        "kmeans",
        "pca_whiten",
        "logreg_multinomial",
    ] {
        let fixture = root().join("fixtures/sklearn").join(case);
        let model = convert(case, &fixture.join("model.onnx"), &dir);
        let reference = read_json(&fixture.join("reference.json"));
        let rows = reference["inputs"].as_array().unwrap();
        // 1500 rows (two batches: 1024 and 476), a bad row in each.
        let mut input = String::new();
        for i in 0..1500 {
            if i == 700 || i == 1400 {
                input.push_str("1,2\n");
            } else {
                let r = i % rows.len();
                input.push_str(&text(&csv(&rows[r..=r], None)));
            }
        }
        let m = model.to_str().unwrap();
        let one = ok(&["predict", m, "-i", "-", "-q"], input.as_bytes());
        for n in ["2", "3", "8"] {
            let many = ok(
                &["predict", m, "-i", "-", "-q", "--threads", n],
                input.as_bytes(),
            );
            assert_eq!(
                String::from_utf8_lossy(&many.stdout),
                String::from_utf8_lossy(&one.stdout),
                "{case}, --threads {n}"
            );
        }
        assert_eq!(lines(&one.stdout).len(), 1500);
    }
    for bad in ["0", "257", "x"] {
        let out = icebreak(&["predict", "-i", "-", "--threads", bad, "m.apr"], b"");
        assert_eq!(out.status.code(), Some(2), "--threads {bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--threads"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// --------------------------------------------------------------------------------------------
// --explain

/// `--explain [--top K]`: every answer of a converted XGBoost and LightGBM model carries
/// contributions that add up to its raw score and at most K reasons, largest first; a model
/// without covers (or converted compact) is refused before any row is read.
#[test]
fn explain_adds_contributions_and_reasons() {
    let dir = scratch("explain");
    for (lib, case, file) in [
        ("xgboost", "multi_softprob", "model.json"),
        ("lightgbm", "binary_nan", "model.txt"),
    ] {
        let src = root().join("fixtures").join(lib).join(case);
        let model = convert(&format!("{lib}-{case}"), &src.join(file), &dir);
        let rows = read_json(&src.join("reference.json"))["inputs"].clone();
        let input = jsonl(&rows.as_array().unwrap()[..20]);
        let m = model.to_str().unwrap();
        let out = ok(
            &["predict", m, "-i", "-", "--explain", "--top", "3"],
            &input,
        );
        let answers = lines(&out.stdout);
        assert_eq!(answers.len(), 20);
        for a in &answers {
            let scores = floats(&a["scores"]);
            let c = a["contributions"].as_object().unwrap();
            // One raw output: a flat object; several: one per class.
            let per: Vec<&serde_json::Map<String, serde_json::Value>> = if scores.len() == 1 {
                vec![c]
            } else {
                c.values().map(|v| v.as_object().unwrap()).collect()
            };
            assert_eq!(per.len(), scores.len(), "{case}");
            for (p, s) in per.iter().zip(&scores) {
                assert!(p.contains_key("bias"));
                let sum: f64 = p.values().map(|v| v.as_f64().unwrap()).sum();
                assert!(
                    (sum - s).abs() <= 1e-5 * (1.0 + s.abs()),
                    "{case}: {sum} vs {s}"
                );
            }
            let reasons: Vec<&serde_json::Value> = match &a["reasons"] {
                serde_json::Value::Array(v) => v.iter().collect(),
                serde_json::Value::Object(m) => {
                    m.values().flat_map(|v| v.as_array().unwrap()).collect()
                }
                other => panic!("reasons: {other}"),
            };
            assert!(!reasons.is_empty());
            for r in reasons {
                assert!(r["feature"].is_string() && r["contribution"].is_number());
            }
        }
        // Without --explain: no explanation fields.
        let plain = lines(&ok(&["predict", m, "-i", "-"], &input).stdout);
        assert!(plain[0].get("contributions").is_none());
    }
    // A LightGBM model saved without its per-node counts has no covers.
    let src = root().join("fixtures/lightgbm/exact_binary_100/model.txt");
    let model = convert("no-covers", &src, &dir);
    let out = icebreak(
        &["predict", model.to_str().unwrap(), "-i", "-", "--explain"],
        b"",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("this model carries no node covers"),
        "{}",
        text(&out.stderr)
    );
    // --no-covers: the same answers, no explanations.
    let src = root().join("fixtures/xgboost/binary_logistic/model.json");
    let dst = dir.join("xgb-no-covers.apr");
    ok(
        &[
            "convert",
            src.to_str().unwrap(),
            "-o",
            dst.to_str().unwrap(),
            "--no-covers",
        ],
        b"",
    );
    let out = icebreak(
        &["predict", dst.to_str().unwrap(), "-i", "-", "--explain"],
        b"",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no node covers"));
    // --top needs --explain, and is bounded.
    let m = model.to_str().unwrap();
    assert!(!icebreak(&["predict", m, "-i", "-", "--top", "2"], b"")
        .status
        .success());
    assert!(
        !icebreak(&["predict", m, "-i", "-", "--explain", "--top", "0"], b"")
            .status
            .success()
    );
    assert!(!icebreak(
        &["predict", m, "-i", "-", "--explain", "--top", "1001"],
        b""
    )
    .status
    .success());
}
