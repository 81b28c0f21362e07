//! Chooses the model to embed (`ICEBREAK_MODEL`, default: the example model) and checks it
//! completely — structure, every node and value rule, checksum — so a broken file fails the
//! build, not the Lambda. The bytes it checked and what it found are written to `OUT_DIR`
//! ([`icebreak_format::embed`]) and compiled in, so the bootstrap opens the model without
//! reading it again.
//!
//! With the `mapped` feature it does nothing: that bootstrap embeds no model and maps one at
//! start-up.

use std::path::{Path, PathBuf};

fn main() {
    if std::env::var_os("CARGO_FEATURE_MAPPED").is_some() {
        return;
    }
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
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Err(e) = icebreak_format::embed(&model, &out, "model") {
        fail(&model, &e.to_string());
    }
}

fn fail(path: &Path, why: &str) -> ! {
    eprintln!("error: cannot embed model {}: {why}", path.display());
    std::process::exit(1)
}
