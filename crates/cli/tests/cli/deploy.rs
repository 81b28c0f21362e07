//! Deploying a model as a user does, from an empty directory with only the `icebreak` binary:
//! convert a 13-feature LightGBM model trained on the wine data, package it for x86_64 in both
//! ways (compiled in, mapped) with the smoke test, repackage it mapped with no compiler on
//! `PATH`, and run the packages with `icebreak invoke`: their answers must be LightGBM's.
//!
//! Ignored by default: it compiles two release bootstraps (minutes on a small machine). Run by
//! `cargo xtask test` and CI with `cargo nextest run -p icebreak-cli --run-ignored all deploy`.
//! The builds go to `CARGO_TARGET_TMPDIR/deploy-target` (kept between runs, so only what
//! changed is rebuilt); the cache of sources and mapped runtimes is fresh each run.

use crate::common::root;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(dir: &Path, cache: &Path, args: &[&str], path_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_icebreak"));
    cmd.args(args)
        .current_dir(dir)
        .env("ICEBREAK_CACHE_DIR", cache)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-target"),
        )
        .stdin(Stdio::null());
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "icebreak {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn zip_names(path: &Path) -> Vec<String> {
    let z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut names: Vec<String> = z.file_names().map(str::to_owned).collect();
    names.sort();
    names
}

#[test]
#[ignore = "builds two release bootstraps; run by cargo xtask test"]
fn deploy_from_an_empty_directory_convert_package_smoke_invoke() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fixture = root().join("fixtures/lightgbm/multiclass_wine");
    std::fs::copy(fixture.join("model.txt"), d.join("wine.txt")).unwrap();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("reference.json")).unwrap()).unwrap();

    run(
        d,
        cache.path(),
        &["convert", "wine.txt", "-o", "wine.apr"],
        None,
    );
    let out = run(
        d,
        cache.path(),
        &[
            "package",
            "wine.apr",
            "--arch",
            "x86_64",
            "-o",
            "embedded.zip",
            "--smoke",
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("smoke test passed (13 zero features"),
        "{text}"
    );
    assert_eq!(zip_names(&d.join("embedded.zip")), ["bootstrap"]);

    let out = run(
        d,
        cache.path(),
        &[
            "package",
            "wine.apr",
            "--arch",
            "x86_64",
            "--mapped",
            "-o",
            "mapped.zip",
            "--smoke",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("smoke test passed"));
    assert_eq!(zip_names(&d.join("mapped.zip")), ["bootstrap", "model.apr"]);

    // The mapped runtime is cached: packaging again needs no cargo (nothing on PATH).
    let empty = tempfile::tempdir().unwrap();
    let out = run(
        d,
        cache.path(),
        &[
            "package",
            "wine.apr",
            "--arch",
            "x86_64",
            "--mapped",
            "-o",
            "again.zip",
        ],
        Some(empty.path().to_str().unwrap()),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cached mapped runtime"));
    assert_eq!(
        std::fs::read(d.join("again.zip")).unwrap(),
        std::fs::read(d.join("mapped.zip")).unwrap()
    );

    // Both packages answer a batch of the reference rows as LightGBM does.
    let rows = &reference["inputs"].as_array().unwrap()[..8];
    let instances: Vec<Value> = rows.iter().map(|r| json!({ "features": r })).collect();
    let event = serde_json::to_vec(&json!({ "instances": instances })).unwrap();
    std::fs::write(d.join("event.json"), &event).unwrap();
    for package in ["embedded.zip", "mapped.zip"] {
        let out = run(
            d,
            cache.path(),
            &["invoke", package, "--event", "event.json"],
            None,
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        let items = answer["predictions"].as_array().unwrap();
        assert_eq!(items.len(), rows.len(), "{answer}");
        for (i, item) in items.iter().enumerate() {
            assert_eq!(
                item["prediction"], reference["predict_class"][i],
                "{package} row {i}"
            );
            let probs = item["probabilities"].as_array().unwrap();
            for (k, p) in probs.iter().enumerate() {
                let want = reference["predict_proba"][i][k].as_f64().unwrap();
                let got = p.as_f64().unwrap();
                assert!(
                    (got - want).abs() < 1e-5,
                    "{package} row {i} class {k}: {got} vs {want}"
                );
            }
        }
        assert_eq!(answer["cold_start"], Value::Bool(true));
    }
}

#[test]
fn package_refuses_a_broken_model_before_building_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(root().join("examples/model.apr")).unwrap();
    let i = bytes.len() - 9;
    bytes[i] ^= 0x5a;
    std::fs::write(dir.path().join("broken.apr"), bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_icebreak"))
        .args(["package", "broken.apr", "--arch", "x86_64", "--mapped"])
        .current_dir(dir.path())
        .env("ICEBREAK_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("broken.apr is not a valid .apr model"),
        "{err}"
    );
    assert!(!dir.path().join("function.zip").exists());
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn invoke_refuses_a_zip_without_a_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("function.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    z.start_file("model.apr", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, b"x").unwrap();
    z.finish().unwrap();
    std::fs::write(dir.path().join("event.json"), b"{}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_icebreak"))
        .args(["invoke", "function.zip", "--event", "event.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("has no `bootstrap` at its root"), "{err}");
}

#[test]
fn package_and_invoke_have_help() {
    for cmd in ["package", "invoke"] {
        let out = Command::new(env!("CARGO_BIN_EXE_icebreak"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--event"), "{cmd}: {text}");
    }
}
