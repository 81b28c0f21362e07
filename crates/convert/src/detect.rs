//! Which importer a source model needs, told from its bytes, and one entry point for all of
//! them.
//!
//! [`SourceFormat::detect`] looks at the content, never at the file name:
//!
//! | format | recognised by |
//! |---|---|
//! | ONNX | a protobuf `ModelProto`: the first byte is `0x08` (field 1, `ir_version`, a varint), every top-level field is well formed with a field number up to 32 and ends exactly at the end of the file, and field 7 (`graph`) is present |
//! | XGBoost | UBJSON: starts with `{L` (an object whose first key has an `int64` length) and holds the key `learner`; or JSON: the first non-blank character is `{` and the text holds the key `"learner"` |
//! | LightGBM | text whose first line (after blanks and an optional UTF-8 byte-order mark) is `tree` |
//! | CatBoost | JSON: the first non-blank character is `{`, the text holds the key `"features_info"` and one of `"oblivious_trees"`, `"trees"`, and not the key `"learner"`; or the `.cbm` container's magic `CBM1`, which the importer refuses with a message saying how to save the model as JSON |
//!
//! The checks are cheap (one pass over the top-level protobuf fields, one substring search) and
//! never decide on a prefix alone that a later importer would contradict: a file that passes
//! one of them fails the others. [`convert_any`] runs the importer of the detected (or
//! forced) format; when a forced format's importer refuses the file and detection says it is
//! something else, the error says so.
//!
//! ```
//! use icebreak_convert::detect::{convert_any, SourceFormat};
//!
//! assert_eq!(SourceFormat::detect(b"tree\nversion=v4\n"), Some(SourceFormat::Lightgbm));
//! assert_eq!(SourceFormat::detect(br#"{"learner": {}}"#), Some(SourceFormat::Xgboost));
//! assert_eq!(SourceFormat::detect(b"a,b\n1,2\n"), None);
//! let err = convert_any(b"a,b\n1,2\n", None, &Default::default()).unwrap_err();
//! assert!(err.to_string().starts_with("not a model icebreak can import"));
//! ```

use crate::{catboost, lightgbm, onnx, xgboost, ConvertError};
use icebreak_format::trees::TreeLayout;
use icebreak_format::ModelSpec;
use std::fmt;

/// A source model format icebreak can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// ONNX `ModelProto` (protobuf), including the `ai.onnx.ml` operators.
    Onnx,
    /// XGBoost `Booster.save_model` output, JSON or UBJSON.
    Xgboost,
    /// LightGBM `Booster.save_model` text.
    Lightgbm,
    /// CatBoost `save_model(..., format="json")` output.
    Catboost,
}

impl SourceFormat {
    /// Every format, in the order errors list them.
    pub const ALL: [SourceFormat; 4] = [
        SourceFormat::Onnx,
        SourceFormat::Xgboost,
        SourceFormat::Lightgbm,
        SourceFormat::Catboost,
    ];

    /// The lower-case name used on the command line (`onnx`, `xgboost`, `lightgbm`,
    /// `catboost`).
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Onnx => "onnx",
            SourceFormat::Xgboost => "xgboost",
            SourceFormat::Lightgbm => "lightgbm",
            SourceFormat::Catboost => "catboost",
        }
    }

    /// The format named `name` (as [`SourceFormat::name`] spells it, any case).
    pub fn from_name(name: &str) -> Option<SourceFormat> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// What a file of this format is, for error messages.
    fn description(self) -> &'static str {
        match self {
            SourceFormat::Onnx => "ONNX (protobuf ModelProto)",
            SourceFormat::Xgboost => "XGBoost (JSON or UBJSON from save_model)",
            SourceFormat::Lightgbm => "LightGBM (text from save_model)",
            SourceFormat::Catboost => "CatBoost (JSON from save_model(format=\"json\"))",
        }
    }

    /// The format of a source model, told from its content; `None` when it is none of them.
    pub fn detect(bytes: &[u8]) -> Option<SourceFormat> {
        if is_onnx(bytes) {
            Some(SourceFormat::Onnx)
        } else if is_catboost(bytes) {
            Some(SourceFormat::Catboost)
        } else if is_xgboost(bytes) {
            Some(SourceFormat::Xgboost)
        } else if is_lightgbm(bytes) {
            Some(SourceFormat::Lightgbm)
        } else {
            None
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFormat::Onnx => "ONNX",
            SourceFormat::Xgboost => "XGBoost",
            SourceFormat::Lightgbm => "LightGBM",
            SourceFormat::Catboost => "CatBoost",
        })
    }
}

/// Options every importer takes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The model version reported with every prediction; each importer has its own default
    /// (the format's name and the start of the source's SHA-256).
    pub model_version: Option<String>,
    /// A human name for the model; each importer has its own default (the objective).
    pub model_name: Option<String>,
    /// The source file's folder, where ONNX external data is read from
    /// ([`crate::onnx::external`]); `None` refuses external data.
    pub external_data_dir: Option<std::path::PathBuf>,
    /// The node layout of tree ensembles; every importer writes [`TreeLayout::Auto`] unless
    /// told otherwise.
    pub tree_layout: TreeLayout,
}

/// Why [`convert_any`] produced no model.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are none of the [`SourceFormat`]s.
    Unrecognized {
        /// What the bytes look like instead, when that is clear (`"an .apr model"`,
        /// `"JSON without a \"learner\" object"`, ...).
        looks_like: Option<&'static str>,
    },
    /// The importer refused the model.
    Convert {
        /// The importer that ran.
        format: SourceFormat,
        /// What detection made of the bytes, when that differs from `format` (the format
        /// was forced).
        detected: Option<SourceFormat>,
        /// The importer's error.
        error: ConvertError,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Unrecognized { looks_like } => {
                f.write_str("not a model icebreak can import")?;
                if let Some(what) = looks_like {
                    write!(f, " (it looks like {what})")?;
                }
                f.write_str("; the formats it reads are ")?;
                for (i, format) in SourceFormat::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(format.description())?;
                }
                Ok(())
            }
            ImportError::Convert {
                format,
                detected,
                error,
            } => {
                write!(f, "{format} import failed: {error}")?;
                match detected {
                    Some(d) if d != format => {
                        write!(f, " (the content looks like {d}, not {format})")
                    }
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImportError::Convert { error, .. } => Some(error),
            ImportError::Unrecognized { .. } => None,
        }
    }
}

/// Imports a source model: the format is `from` when given, otherwise detected from the
/// bytes. Returns the format that was imported and the model; write it with
/// [`icebreak_format::write`].
pub fn convert_any(
    bytes: &[u8],
    from: Option<SourceFormat>,
    options: &Options,
) -> Result<(SourceFormat, ModelSpec), ImportError> {
    let detected = SourceFormat::detect(bytes);
    let format = match from.or(detected) {
        Some(f) => f,
        None => {
            return Err(ImportError::Unrecognized {
                looks_like: looks_like(bytes),
            })
        }
    };
    let result = match format {
        SourceFormat::Onnx => onnx::convert_with(
            bytes,
            &onnx::Options {
                model_version: options.model_version.clone(),
                model_name: options.model_name.clone(),
                external_data_dir: options.external_data_dir.clone(),
            },
        ),
        SourceFormat::Xgboost => xgboost::convert_with(
            bytes,
            &xgboost::Options {
                model_version: options.model_version.clone(),
                model_name: options.model_name.clone(),
            },
        ),
        SourceFormat::Lightgbm => lightgbm::convert_with(
            bytes,
            &lightgbm::Options {
                model_version: options.model_version.clone(),
                model_name: options.model_name.clone(),
            },
        ),
        SourceFormat::Catboost => catboost::convert_with(
            bytes,
            &catboost::Options {
                model_version: options.model_version.clone(),
                model_name: options.model_name.clone(),
            },
        ),
    };
    result
        .map(|mut spec| {
            options.tree_layout.apply(&mut spec);
            (format, spec)
        })
        .map_err(|error| ImportError::Convert {
            format,
            detected: detected.filter(|&d| d != format),
            error,
        })
}

/// The bytes after an optional UTF-8 byte-order mark and leading ASCII blanks.
fn trim_start(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_xgboost(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"{L") {
        // UBJSON: keys are written as a length and the raw bytes, no quotes.
        return contains(bytes, b"learner");
    }
    trim_start(bytes).starts_with(b"{") && contains(bytes, b"\"learner\"")
}

fn is_catboost(bytes: &[u8]) -> bool {
    if bytes.starts_with(catboost::CBM_MAGIC) {
        return true;
    }
    trim_start(bytes).starts_with(b"{")
        && contains(bytes, b"\"features_info\"")
        && (contains(bytes, b"\"oblivious_trees\"") || contains(bytes, b"\"trees\""))
        && !contains(bytes, b"\"learner\"")
}

fn is_lightgbm(bytes: &[u8]) -> bool {
    let text = trim_start(bytes);
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line) == b"tree"
}

/// Reads a protobuf varint at `*at`, advancing it; `None` past the end or beyond 64 bits.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Whether the bytes are a well-formed sequence of top-level protobuf fields that starts with
/// `ir_version` and holds a `graph`: the shape of an ONNX `ModelProto`.
fn is_onnx(bytes: &[u8]) -> bool {
    /// `ModelProto` uses field numbers 1-8, 14, 20, 25 and 26; a little room for new ones.
    const MAX_FIELD: u64 = 32;
    if bytes.first() != Some(&0x08) {
        return false;
    }
    let mut at = 0usize;
    let mut graph = false;
    while at < bytes.len() {
        let Some(key) = varint(bytes, &mut at) else {
            return false;
        };
        let (field, wire) = (key >> 3, key & 7);
        if field == 0 || field > MAX_FIELD {
            return false;
        }
        let skip = match wire {
            0 => match varint(bytes, &mut at) {
                Some(_) => 0,
                None => return false,
            },
            1 => 8,
            2 => match varint(bytes, &mut at).and_then(|n| usize::try_from(n).ok()) {
                Some(n) => n,
                None => return false,
            },
            5 => 4,
            _ => return false,
        };
        at = match at.checked_add(skip) {
            Some(end) if end <= bytes.len() => end,
            _ => return false,
        };
        graph |= field == 7 && wire == 2;
    }
    graph
}

/// What unrecognised bytes look like, when that is clear enough to say.
fn looks_like(bytes: &[u8]) -> Option<&'static str> {
    let text = trim_start(bytes);
    if bytes.is_empty() {
        Some("an empty file")
    } else if bytes.starts_with(&icebreak_format::MAGIC) {
        Some("an .apr model already")
    } else if text.is_empty() {
        Some("a blank file")
    } else if text.starts_with(b"{") {
        Some("JSON without a \"learner\" object, which XGBoost models have, or the \"features_info\" and \"oblivious_trees\" of a CatBoost model")
    } else if bytes.first() == Some(&0x08) {
        Some("protobuf, but not an ONNX ModelProto with a graph")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal `ModelProto`: `ir_version = 8`, `producer_name = "x"`, an empty `graph`.
    const ONNX: &[u8] = &[0x08, 0x08, 0x12, 0x01, b'x', 0x3A, 0x00];

    #[test]
    fn onnx_is_recognised_by_its_fields() {
        assert_eq!(SourceFormat::detect(ONNX), Some(SourceFormat::Onnx));
        // No graph.
        assert_eq!(SourceFormat::detect(&ONNX[..5]), None);
        // A length running past the end.
        assert_eq!(SourceFormat::detect(&[0x08, 0x08, 0x3A, 0x05, 0x00]), None);
        // A field number ModelProto does not have.
        assert_eq!(
            SourceFormat::detect(&[0x08, 0x08, 0x3A, 0x00, 0xF8, 0x07, 0x01]),
            None
        );
        // An unsupported wire type (3, start group).
        assert_eq!(SourceFormat::detect(&[0x08, 0x08, 0x3A, 0x00, 0x0B]), None);
        // A varint that never ends.
        assert_eq!(SourceFormat::detect(&[0x08, 0xFF, 0xFF]), None);
    }

    #[test]
    fn onnx_goes_to_the_onnx_importer() {
        // Detected: a ModelProto whose graph is empty, which the importer refuses.
        let err = convert_any(ONNX, None, &Options::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ImportError::Convert {
                    format: SourceFormat::Onnx,
                    detected: None,
                    error: ConvertError::Invalid(_),
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("ONNX import failed: "), "{err}");
        // Forced on a LightGBM text.
        let err =
            convert_any(b"tree\n", Some(SourceFormat::Onnx), &Options::default()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("(the content looks like LightGBM, not ONNX)"),
            "{err}"
        );
    }

    #[test]
    fn xgboost_json_and_ubjson() {
        let ubj = b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}}";
        assert_eq!(SourceFormat::detect(ubj), Some(SourceFormat::Xgboost));
        assert_eq!(
            SourceFormat::detect(b"\xEF\xBB\xBF \n{\"learner\": 1}"),
            Some(SourceFormat::Xgboost)
        );
        assert_eq!(SourceFormat::detect(b"{\"version\": [2]}"), None);
        assert_eq!(SourceFormat::detect(b"[\"learner\"]"), None);
    }

    #[test]
    fn catboost_json_and_cbm() {
        assert_eq!(
            SourceFormat::detect(b" {\"features_info\": {}, \"oblivious_trees\": []}"),
            Some(SourceFormat::Catboost)
        );
        assert_eq!(
            SourceFormat::detect(b"CBM1\x98\x3a\x00\x00"),
            Some(SourceFormat::Catboost)
        );
        // XGBoost's key wins over a feature that happens to be named like CatBoost's keys.
        assert_eq!(
            SourceFormat::detect(b"{\"learner\": {\"features_info\": 1, \"trees\": []}}"),
            Some(SourceFormat::Xgboost)
        );
        assert_eq!(SourceFormat::detect(b"{\"features_info\": {}}"), None);
        let err = convert_any(b"CBM1\x00\x00", None, &Options::default()).unwrap_err();
        assert!(err.to_string().contains("format=\"json\""), "{err}");
    }

    #[test]
    fn lightgbm_first_line() {
        assert_eq!(
            SourceFormat::detect(b"tree\r\nversion=v4\r\n"),
            Some(SourceFormat::Lightgbm)
        );
        assert_eq!(
            SourceFormat::detect(b"\ntree"),
            Some(SourceFormat::Lightgbm)
        );
        assert_eq!(SourceFormat::detect(b"trees\nversion=v4\n"), None);
        assert_eq!(SourceFormat::detect(b"version=v4\ntree\n"), None);
    }

    #[test]
    fn unrecognised_bytes_name_every_format_and_what_they_look_like() {
        let cases: [(&[u8], Option<&str>); 5] = [
            (b"", Some("an empty file")),
            (b" \n\t", Some("a blank file")),
            (b"APR\0rest", Some("an .apr model already")),
            (
                b"{\"a\": 1}",
                Some("JSON without a \"learner\" object, which XGBoost models have, or the \"features_info\" and \"oblivious_trees\" of a CatBoost model"),
            ),
            (b"1,2,3\n", None),
        ];
        for (bytes, want) in cases {
            let err = convert_any(bytes, None, &Options::default()).unwrap_err();
            match &err {
                ImportError::Unrecognized { looks_like } => assert_eq!(*looks_like, want),
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            for f in SourceFormat::ALL {
                assert!(msg.contains(f.description()), "{msg}");
            }
        }
    }

    #[test]
    fn forced_format_mismatch_names_the_detected_one() {
        let err = convert_any(
            b"{\"learner\": {}}",
            Some(SourceFormat::Lightgbm),
            &Options::default(),
        )
        .unwrap_err();
        match &err {
            ImportError::Convert {
                format: SourceFormat::Lightgbm,
                detected: Some(SourceFormat::Xgboost),
                error: ConvertError::Invalid(_),
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .ends_with("(the content looks like XGBoost, not LightGBM)"),
            "{err}"
        );
    }

    #[test]
    fn names_round_trip() {
        for f in SourceFormat::ALL {
            assert_eq!(SourceFormat::from_name(f.name()), Some(f));
            assert_eq!(SourceFormat::from_name(&f.name().to_uppercase()), Some(f));
        }
        assert_eq!(SourceFormat::from_name("sklearn"), None);
    }
}
