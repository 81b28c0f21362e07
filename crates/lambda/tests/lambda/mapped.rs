//! The mapped mode end to end: this test binary re-runs itself as a bootstrap
//! ([`icebreak_lambda::start_mapped`], test `mapped_child`) against the fake Runtime API, with
//! the model in `$LAMBDA_TASK_ROOT` or at `ICEBREAK_MODEL_PATH`, and broken or missing files.

use crate::common::{handler, MODEL};
use icebreak_fake_runtime::{Answer, AnswerKind, FakeRuntime};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHILD: &str = "ICEBREAK_TEST_MAPPED_CHILD";

/// Not a test of its own: the bootstrap the other tests start (does nothing unless `CHILD` is
/// set).
#[test]
fn mapped_child() {
    if std::env::var_os(CHILD).is_some() {
        let _ = icebreak_lambda::start_mapped();
        std::process::exit(1);
    }
}

fn spawn(fake: &FakeRuntime, env: &[(&str, &Path)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "mapped::mapped_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1")
    .env("AWS_LAMBDA_RUNTIME_API", fake.address())
    .env_remove("ICEBREAK_MODEL_PATH")
    .env_remove("LAMBDA_TASK_ROOT")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Starts the mapped bootstrap, sends the example event, returns the one answer.
fn serve_one(env: &[(&str, &Path)]) -> Answer {
    let fake = FakeRuntime::start().unwrap();
    fake.invoke("m-1", fixture_event());
    let mut child = spawn(&fake, env);
    let answers = fake.wait_answers(1, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answers.len(), 1, "no answer from the mapped bootstrap");
    answers.into_iter().next().unwrap()
}

fn fixture_event() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/event.json"
    ))
    .unwrap()
}

fn expected_prediction() -> Value {
    let body = handler().handle_event(&fixture_event()).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["prediction"].clone()
}

/// The example model with one byte of its last section flipped: the structure still parses,
/// the checksum (and only a complete verification) finds it.
fn broken() -> Vec<u8> {
    let mut b = MODEL.to_vec();
    let i = b.len() - 9;
    b[i] ^= 0x5a;
    b
}

#[test]
fn serves_model_apr_from_the_task_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.apr"), MODEL).unwrap();
    let a = serve_one(&[("LAMBDA_TASK_ROOT", dir.path())]);
    assert_eq!(a.kind, AnswerKind::Response, "{}", a.text());
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["prediction"], expected_prediction());
    assert_eq!(v["cold_start"], Value::Bool(true));
}

#[test]
fn model_path_wins_over_the_task_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("model.apr"), broken()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let good = other.path().join("elsewhere.apr");
    std::fs::write(&good, MODEL).unwrap();
    let a = serve_one(&[
        ("LAMBDA_TASK_ROOT", root.path()),
        ("ICEBREAK_MODEL_PATH", &good),
    ]);
    assert_eq!(a.kind, AnswerKind::Response, "{}", a.text());
}

fn init_error(env: &[(&str, &Path)]) -> String {
    let fake = FakeRuntime::start().unwrap();
    fake.invoke("m-1", fixture_event());
    let mut child = spawn(&fake, env);
    let answers = fake.wait_answers(1, Duration::from_secs(30));
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(answers.len(), 1);
    assert_eq!(
        answers[0].kind,
        AnswerKind::InitError(Some("InvalidModel".into())),
        "{}",
        answers[0].text()
    );
    answers[0].text()
}

#[test]
fn a_broken_file_is_an_init_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.apr"), broken()).unwrap();
    let msg = init_error(&[("LAMBDA_TASK_ROOT", dir.path())]);
    assert!(msg.contains("model.apr"), "{msg}");
}

#[test]
fn an_empty_file_is_an_init_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.apr"), b"").unwrap();
    init_error(&[("LAMBDA_TASK_ROOT", dir.path())]);
}

#[test]
fn a_missing_file_is_an_init_error_naming_the_paths_tried() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.apr");
    let msg = init_error(&[("ICEBREAK_MODEL_PATH", &missing)]);
    assert!(msg.contains("nope.apr"), "{msg}");
}
