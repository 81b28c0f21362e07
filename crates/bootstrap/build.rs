//! Chooses the model to embed (`ICEBREAK_MODEL`, default: the example model) and checks it
//! completely — structure and checksum — so a broken file fails the build, not the Lambda.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=ICEBREAK_MODEL");
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let model = match std::env::var("ICEBREAK_MODEL") {
        Ok(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                // Relative paths are relative to the workspace root, where cargo is usually run.
                manifest.join("../..").join(p)
            }
        }
        _ => manifest.join("../../examples/model.apr"),
    };
    let model = model
        .canonicalize()
        .unwrap_or_else(|e| fail(&model, &e.to_string()));
    println!("cargo:rerun-if-changed={}", model.display());
    let bytes = std::fs::read(&model).unwrap_or_else(|e| fail(&model, &e.to_string()));
    let buf = icebreak_format::AlignedBuf::copy_from(&bytes);
    if let Err(e) = icebreak_format::Apr::parse_verified(&buf) {
        fail(&model, &e.to_string());
    }
    println!("cargo:rustc-env=ICEBREAK_MODEL_PATH={}", model.display());
}

fn fail(path: &Path, why: &str) -> ! {
    eprintln!("error: cannot embed model {}: {why}", path.display());
    std::process::exit(1)
}
