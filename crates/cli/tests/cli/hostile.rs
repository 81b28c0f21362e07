//! Hostile inputs to the command: models declaring huge sizes, special output files, odd
//! first rows, blank lines, very long lines, byte-order marks and unterminated quotes. Where
//! memory matters the binary runs under an address-space cap (`ulimit -v`), so a buffer
//! sized from a declared count aborts the test instead of passing unnoticed.

use crate::common::*;
use icebreak_format::{
    InputSpec, LabelsSpec, MissingValues, ModelSpec, Norm, OutputSpec, Precision, ProvenanceSpec,
    StageSpec, Task,
};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `icebreak ARGS` with its address space capped at `mib` MiB.
fn capped(mib: u64, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg((mib * 1024).to_string())
        .arg(env!("CARGO_BIN_EXE_icebreak"))
        .args(args);
    run_with_stdin(cmd, stdin)
}

/// A valid `.apr` of a few hundred bytes: an L2 normalizer over `width` features.
fn wide_normalizer(dir: &Path, width: u32) -> std::path::PathBuf {
    let spec = ModelSpec {
        input: InputSpec {
            n_features: width,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Transform,
            n_outputs: width,
            labels: LabelsSpec::None,
            output_names: None,
            precision: Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: "wide".into(),
            model_name: None,
            source_format: None,
            converter: None,
            source_sha256: None,
        },
        stages: vec![StageSpec::Normalizer {
            width,
            norm: Norm::L2,
        }],
    };
    let bytes = icebreak_format::write(&spec).unwrap();
    assert!(bytes.as_slice().len() < 1024);
    let path = dir.join("wide.apr");
    std::fs::write(&path, bytes.as_slice()).unwrap();
    path
}

/// Case 2: a valid model declaring 2^24 features costs nothing until rows of that width
/// arrive; a short row is an error line, under a 512 MiB cap.
#[test]
fn a_model_declaring_millions_of_features_does_not_allocate_up_front() {
    let dir = scratch("hostile-wide");
    let m = wide_normalizer(&dir, 1 << 24);
    let m = m.to_str().unwrap();
    ok(&["inspect", m], b"");
    let out = capped(512, &["predict", m, "-i", "-"], b"1,2,3\n");
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(
        lines(&out.stdout),
        [json!({"row": 1, "error": "expected 16777216 features, got 3"})]
    );
}

/// Case 1 through the command: a tiny XGBoost model declaring 2^24 classes is refused with a
/// message, not an abort, under a 512 MiB cap.
#[test]
fn convert_refuses_huge_declared_counts_with_a_message() {
    let dir = scratch("hostile-convert");
    let src = root().join("fixtures/xgboost/multi_softprob/model.json");
    let mut v = read_json(&src);
    v["learner"]["learner_model_param"]["num_class"] = "16777216".into();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
    let out_path = dir.join("bad.apr");
    let out = capped(
        512,
        &[
            "convert",
            bad.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("icebreak: "), "{err}");
    assert!(
        err.contains("num_class is 16777216, more than the limit"),
        "{err}"
    );
    assert!(!out_path.exists());
}

/// Case 8: `-o` through a symbolic link replaces the link's target and keeps the link; a FIFO
/// or a device is refused with a message naming what it is, and left alone.
#[cfg(unix)]
#[test]
fn convert_output_follows_links_and_refuses_special_files() {
    let dir = scratch("hostile-output");
    let src = root().join("fixtures/xgboost/binary_logistic/model.json");
    let src = src.to_str().unwrap();
    let target = dir.join("real.apr");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.apr");
    std::os::unix::fs::symlink("real.apr", &link).unwrap();
    ok(&["convert", src, "-o", link.to_str().unwrap()], b"");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written = std::fs::read(&target).unwrap();
    assert!(
        written.starts_with(b"APR\0"),
        "the link's target was not replaced"
    );
    ok(&["inspect", link.to_str().unwrap()], b"");

    // A dangling link: the file it names is created.
    let dangling = dir.join("dangling.apr");
    std::os::unix::fs::symlink("created.apr", &dangling).unwrap();
    ok(&["convert", src, "-o", dangling.to_str().unwrap()], b"");
    assert!(dir.join("created.apr").is_file());

    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (path, what) in [
        (fifo.as_path(), "a FIFO"),
        (Path::new("/dev/null"), "a character device"),
    ] {
        let out = icebreak(&["convert", src, "-o", path.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("is {what}, not a regular file")),
            "{err}"
        );
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

/// Case 9: a first row that is neither numbers nor one name per feature is a bad row,
/// reported, not a header dropped in silence (a one-row TSV).
#[test]
fn a_malformed_first_row_is_reported() {
    let m = example_model();
    let row = example_features()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join("\t");
    let out = icebreak(&["predict", m.to_str().unwrap(), "-i", "-"], row.as_bytes());
    assert!(out.status.success());
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["row"], 1);
    assert!(
        got[0]["error"].as_str().unwrap().contains("not a number"),
        "{}",
        got[0]
    );
    assert!(text(&out.stderr).contains("1 of 1 rows had errors"));
}

/// Case 13: lines of blanks only are skipped in CSV as in JSON Lines: they are not rows and
/// do not shift the row numbers of error lines.
#[test]
fn whitespace_only_lines_are_skipped() {
    let m = example_model();
    let good = example_features()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let input = format!("{good}\n   \n\t\r\n{good}\n \nnope\n");
    let out = icebreak(
        &["predict", m.to_str().unwrap(), "-i", "-"],
        input.as_bytes(),
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 3, "{}", text(&out.stdout));
    assert!(got[0]["prediction"].is_string() && got[1]["prediction"].is_string());
    assert_eq!(got[2]["row"], 3);
}

/// Case 14: a record longer than the limit stops the run with a clear error naming its line,
/// and memory stays bounded (a 64 MiB line under a 256 MiB cap, with the limit at 1 MiB).
#[test]
fn an_over_long_line_is_a_clear_error_with_bounded_memory() {
    let m = example_model();
    let good = example_features()
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut input = format!("{good}\n").into_bytes();
    input.extend(std::iter::repeat_n(b'1', 64 << 20));
    input.push(b'\n');
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 262144 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_icebreak"))
        .args(["predict", m.to_str().unwrap(), "-i", "-"])
        .env("ICEBREAK_MAX_LINE_BYTES", (1 << 20).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 2 is longer than 1048576 bytes")
            && err.contains("ICEBREAK_MAX_LINE_BYTES"),
        "{err}"
    );
    // The row before it was answered.
    assert_eq!(lines(&out.stdout).len(), 1);
}

/// Case 15: a byte-order mark is skipped with every `--input-format`, and an unterminated
/// quote is the error of its own row; the rows after it are read as usual.
#[test]
fn bom_for_every_format_and_unterminated_quotes_fail_alone() {
    let m = example_model();
    let m = m.to_str().unwrap();
    let x = example_features();
    let good = x
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let json_line = serde_json::to_string(&json!({ "features": x })).unwrap();
    for (format, body) in [("jsonl", &json_line), ("csv", &good)] {
        for explicit in [true, false] {
            let input = format!("\u{feff}{body}\n");
            let mut args = vec!["predict", m, "-i", "-"];
            if explicit {
                args.extend(["--input-format", format]);
            }
            let got = lines(&ok(&args, input.as_bytes()).stdout);
            assert_eq!(got.len(), 1);
            assert!(got[0]["prediction"].is_string(), "{format}: {}", got[0]);
        }
    }

    let mut quoted = x.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>();
    quoted[2] = format!("\"{}", quoted[2]);
    let input = format!("{good}\n{}\n{good}\n{good}\n", quoted.join(","));
    let got = lines(&icebreak(&["predict", m, "-i", "-"], input.as_bytes()).stdout);
    assert_eq!(got.len(), 4);
    let col = quoted[..2].iter().map(|c| c.len() + 1).sum::<usize>() + 1;
    assert_eq!(
        got[1],
        json!({"row": 2, "error": format!(
            "unterminated quote: the field at column {col} has no closing '\"' on its line"
        )})
    );
    for i in [0, 2, 3] {
        assert!(got[i]["prediction"].is_string(), "{}", got[i]);
    }
    // Quoted numbers and escaped quotes are still read.
    let mut q = x.iter().map(|v| format!("\"{v:?}\"")).collect::<Vec<_>>();
    q[0] = format!("\"{:?}\"", x[0]);
    let got = lines(&ok(&["predict", m, "-i", "-"], q.join(",").as_bytes()).stdout);
    assert!(got[0]["prediction"].is_string(), "{}", got[0]);
}
