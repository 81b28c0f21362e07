//! Packs the sources of the Lambda runtime into the `icebreak` binary, so `icebreak package`
//! builds a bootstrap without a checkout of the repository.
//!
//! The packed crates are those the `bootstrap` links (format, engine, protocol, lambda, the
//! facade and the bootstrap itself): their `Cargo.toml` (without dev-dependencies, benches,
//! tests and examples, whose files are not packed), `build.rs` and `src/`, plus a workspace
//! `Cargo.toml` naming only them and the workspace's `Cargo.lock` (so the registry crates are
//! the versions this repository tests). The result is written to `OUT_DIR/runtime_sources.rs`
//! as a list of `(path, bytes)`, with a key (the CLI's version and a CRC-32 of every packed
//! byte) that names the cache directory the sources are unpacked into.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The crates the bootstrap links, relative to the workspace root.
const CRATES: [&str; 6] = [
    "crates/format",
    "crates/engine",
    "crates/protocol",
    "crates/lambda",
    "crates/icebreak",
    "crates/bootstrap",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();

    let workspace = read(&root.join("Cargo.toml"));
    let unpacked = unpacked_crates(&workspace);
    files.push((
        "Cargo.toml".into(),
        workspace_manifest(&workspace).into_bytes(),
    ));
    files.push((
        "Cargo.lock".into(),
        read(&root.join("Cargo.lock")).into_bytes(),
    ));
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    for krate in CRATES {
        let dir = root.join(krate);
        let toml = dir.join("Cargo.toml");
        println!("cargo:rerun-if-changed={}", toml.display());
        files.push((
            format!("{krate}/Cargo.toml"),
            crate_manifest(&read(&toml), &unpacked).into_bytes(),
        ));
        let build = dir.join("build.rs");
        if build.exists() {
            println!("cargo:rerun-if-changed={}", build.display());
            files.push((format!("{krate}/build.rs"), bytes(&build)));
        }
        walk(&dir.join("src"), &format!("{krate}/src"), &mut files);
    }
    files.sort();

    let mut crc = crc32fast::Hasher::new();
    for (path, data) in &files {
        crc.update(path.as_bytes());
        crc.update(&(data.len() as u64).to_le_bytes());
        crc.update(data);
    }
    let key = format!(
        "{}-{:08x}",
        std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION"),
        crc.finalize()
    );

    let mut code = String::new();
    let _ = writeln!(
        code,
        "/// Names the cache directory: CLI version and CRC-32 of the packed sources."
    );
    let _ = writeln!(code, "pub const KEY: &str = {key:?};");
    let _ = writeln!(
        code,
        "/// The packed files: path relative to the workspace root, contents."
    );
    let _ = writeln!(code, "pub static FILES: &[(&str, &[u8])] = &[");
    let blobs = out.join("runtime-sources");
    for (i, (path, data)) in files.iter().enumerate() {
        std::fs::create_dir_all(&blobs).expect("creating OUT_DIR/runtime-sources");
        let blob = blobs.join(i.to_string());
        std::fs::write(&blob, data).expect("writing a packed source");
        let _ = writeln!(
            code,
            "    ({path:?}, include_bytes!({:?})),",
            blob.display().to_string()
        );
    }
    let _ = writeln!(code, "];");
    std::fs::write(out.join("runtime_sources.rs"), code).expect("writing runtime_sources.rs");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn walk(dir: &Path, rel: &str, files: &mut Vec<(String, Vec<u8>)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let rel = format!("{rel}/{name}");
        if p.is_dir() {
            walk(&p, &rel, files);
        } else {
            println!("cargo:rerun-if-changed={}", p.display());
            files.push((rel, bytes(&p)));
        }
    }
}

/// A section header: `[name]` or `[[name]]`, trimmed.
fn header(line: &str) -> Option<&str> {
    let t = line.trim();
    t.starts_with('[')
        .then(|| t.trim_matches(|c| c == '[' || c == ']'))
}

/// The names of the workspace's path dependencies that are not packed.
fn unpacked_crates(workspace: &str) -> Vec<String> {
    workspace
        .lines()
        .filter_map(|line| {
            let i = line.find("path = \"")?;
            let path = &line[i + 8..];
            let path = &path[..path.find('"')?];
            let name = line.split('=').next()?.trim();
            (!CRATES.contains(&path)).then(|| name.to_owned())
        })
        .collect()
}

/// A crate's manifest without the sections whose files are not packed, and without the lines
/// naming a crate that is not packed (the facade's optional `server` feature).
fn crate_manifest(toml: &str, unpacked: &[String]) -> String {
    let mut out = String::new();
    let mut skip = false;
    let mut in_features = false;
    for line in toml.lines() {
        if let Some(h) = header(line) {
            in_features = h == "features";
            skip = h == "bench"
                || h == "test"
                || h == "example"
                || h == "dev-dependencies"
                || h.ends_with(".dev-dependencies");
        }
        let foreign = unpacked.iter().any(|n| {
            line.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .any(|w| w == n)
        });
        if skip {
            continue;
        }
        if foreign {
            // A feature that enables a crate that is not packed stays declared (so the code's
            // `cfg(feature = ...)` stays known) but enables nothing; nothing packed turns it on.
            let t = line.trim_start();
            if in_features && !t.starts_with('#') {
                if let Some((name, _)) = t.split_once('=') {
                    let _ = writeln!(out, "{} = []", name.trim());
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The workspace manifest with only the packed crates as members and as path dependencies.
fn workspace_manifest(toml: &str) -> String {
    let mut out = String::from(
        "# Generated by the icebreak CLI from the workspace it was built in: the crates the\n\
         # Lambda bootstrap links.\n",
    );
    let mut in_members = false;
    for line in toml.lines() {
        let t = line.trim_start();
        if t.starts_with("members") {
            in_members = true;
            out.push_str("members = [\n");
            for c in CRATES {
                let _ = writeln!(out, "    {c:?},");
            }
            out.push_str("]\n");
            if t.ends_with(']') {
                in_members = false;
            }
            continue;
        }
        if in_members {
            if t.starts_with(']') {
                in_members = false;
            }
            continue;
        }
        if t.starts_with("exclude") {
            continue;
        }
        if let Some(i) = line.find("path = \"") {
            let path = &line[i + 8..];
            let path = &path[..path.find('"').unwrap_or(path.len())];
            if !CRATES.contains(&path) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
