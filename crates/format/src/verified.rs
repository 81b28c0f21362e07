//! Carrying a build-time verification into the binary, so an embedded model opens in O(1).
//!
//! [`Apr::parse_verified`] reads every byte of a file: the checksum, every tree node, every
//! value rule. For a model compiled into a binary that work is done once, by the build
//! script, with [`embed`]: it verifies the file completely and writes, side by side in
//! `OUT_DIR`, the exact bytes it verified and an [`Attestation`] of them (their length, their
//! stored checksum and the facts the full walk found, such as which node tests each tree
//! ensemble uses). [`include_verified_model!`](crate::include_verified_model) compiles both
//! in as an [`Embedded`] model, and [`Apr::parse_attested`] opens it reading only the
//! structure — header, section table, string table, manifest — never a node or a weight.
//!
//! What an attestation is worth: the bytes and the attestation come from one build-script run,
//! written from one buffer, so they cannot disagree unless `OUT_DIR` is edited by hand.
//! [`Apr::parse_attested`] still checks the cheap part (length and stored checksum) and falls
//! back to the full check when it does not match. And nothing depends on the attestation
//! being true for safety: the reader and the engine contain no `unsafe` code, and every tree
//! walk is bounded (at most `n_nodes` steps per tree) with checked indices, so a file that was
//! never verified can give a wrong answer, never a panic or an endless loop.

use crate::{Apr, FormatError, Stage};
use std::path::{Path, PathBuf};

/// What a complete verification found out about one file, in a form that can be compiled
/// into a binary.
///
/// Only [`embed`] (and [`Attestation::of`], which it calls) produce one from a file; the
/// `#[doc(hidden)]` constructor exists for the code [`embed`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attestation {
    len: u64,
    checksum: u32,
    tree_masks: &'static [u64],
}

impl Attestation {
    /// Verifies `bytes` completely ([`Apr::parse_verified`]) and records what an attested
    /// open needs. The node-test masks are leaked (an attestation is made once per build).
    pub fn of(bytes: &[u8]) -> Result<Attestation, FormatError> {
        let apr = Apr::parse_verified(bytes)?;
        let masks: Vec<u64> = tree_masks(&apr).collect();
        Ok(Attestation {
            len: bytes.len() as u64,
            checksum: apr.checksum(),
            tree_masks: Vec::leak(masks),
        })
    }

    /// Used by the code [`embed`] generates; not a way to skip verification.
    #[doc(hidden)]
    pub const fn __from_build_script(
        (len, checksum, tree_masks): (u64, u32, &'static [u64]),
    ) -> Attestation {
        Attestation {
            len,
            checksum,
            tree_masks,
        }
    }

    /// Length of the attested file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the attested file is empty (never, for a verified file).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checksum stored in (and verified over) the attested file.
    pub fn checksum(&self) -> u32 {
        self.checksum
    }

    /// [`crate::Trees::info_mask`] of each trees stage, in pipeline order.
    pub fn tree_masks(&self) -> &'static [u64] {
        self.tree_masks
    }

    /// Whether `bytes` are plausibly the attested file: same length and same stored
    /// checksum (O(1); the bytes are not read beyond the header).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.len
            && crate::le_u32(bytes, crate::CHECKSUM_FIELD.start) == Some(self.checksum)
    }

    /// The Rust expression the generated `.attestation` file holds.
    fn to_rust(self) -> String {
        let masks: Vec<String> = self.tree_masks.iter().map(|m| format!("{m:#x}")).collect();
        format!(
            "({}u64, {:#x}u32, &[{}])\n",
            self.len,
            self.checksum,
            masks.join(", ")
        )
    }
}

fn tree_masks<'a>(apr: &'a Apr<'_>) -> impl Iterator<Item = u64> + 'a {
    apr.stages().iter().filter_map(|s| match s {
        Stage::Trees(t) => Some(t.info_mask),
        _ => None,
    })
}

/// A model compiled into the binary together with its build-time [`Attestation`]; made by
/// [`include_verified_model!`](crate::include_verified_model).
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The file, 64-byte aligned.
    pub bytes: &'static [u8],
    /// What the build script verified.
    pub attestation: Attestation,
}

/// Why [`embed`] failed.
#[derive(Debug)]
pub enum EmbedError {
    /// The model file could not be read, or the output not written.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The model is not a valid `.apr` file.
    Invalid {
        /// The file.
        path: PathBuf,
        /// The broken rule.
        source: FormatError,
    },
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            EmbedError::Invalid { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for EmbedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmbedError::Io { source, .. } => Some(source),
            EmbedError::Invalid { source, .. } => Some(source),
        }
    }
}

/// For build scripts: verifies the model at `model` completely and writes
/// `<out_dir>/<name>.apr` (the bytes verified) and `<out_dir>/<name>.attestation` (what
/// [`include_verified_model!`](crate::include_verified_model) compiles in). `name` is usually
/// `"model"`.
///
/// ```ignore
/// // build.rs
/// let out = std::env::var("OUT_DIR").unwrap();
/// icebreak_format::embed("models/model.apr".as_ref(), out.as_ref(), "model").unwrap();
/// // main.rs
/// static MODEL: icebreak_format::Embedded = icebreak_format::include_verified_model!("model");
/// ```
pub fn embed(model: &Path, out_dir: &Path, name: &str) -> Result<Attestation, EmbedError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbedError::Io { path, source }
    };
    let bytes = std::fs::read(model).map_err(io(model))?;
    let buf = crate::AlignedBuf::copy_from(&bytes);
    let attestation = Attestation::of(&buf).map_err(|source| EmbedError::Invalid {
        path: model.to_path_buf(),
        source,
    })?;
    let apr = out_dir.join(format!("{name}.apr"));
    std::fs::write(&apr, &*buf).map_err(io(&apr))?;
    let att = out_dir.join(format!("{name}.attestation"));
    std::fs::write(&att, attestation.to_rust()).map_err(io(&att))?;
    Ok(attestation)
}

/// Compiles in a model written by [`embed`] in the build script, with its attestation, as an
/// [`Embedded`] (64-byte aligned, like [`include_model!`](crate::include_model)).
///
/// ```ignore
/// static MODEL: icebreak_format::Embedded = icebreak_format::include_verified_model!("model");
/// ```
#[macro_export]
macro_rules! include_verified_model {
    ($name:literal $(,)?) => {
        $crate::Embedded {
            bytes: $crate::include_model!(concat!(env!("OUT_DIR"), "/", $name, ".apr")),
            attestation: $crate::Attestation::__from_build_script(include!(concat!(
                env!("OUT_DIR"),
                "/",
                $name,
                ".attestation"
            ))),
        }
    };
}

impl<'a> Apr<'a> {
    /// Opens a model verified at build time: [`Apr::parse`] without the checks that read
    /// every node or weight (R29's node walk and the value rules of R29–R33), so in time
    /// proportional to the file's structure whatever its size.
    ///
    /// When `bytes` do not match the attestation (length or stored checksum) it verifies
    /// completely instead ([`Apr::parse_verified`]): a mismatch costs time, never safety.
    pub fn parse_attested(bytes: &'a [u8], attestation: &Attestation) -> Result<Self, FormatError> {
        if attestation.matches(bytes) {
            if let Ok(apr) = crate::reader::Parser::attested(bytes, attestation.tree_masks) {
                return Ok(apr);
            }
        }
        Apr::parse_verified(bytes)
    }
}
