//! Importers: trained models in, `.apr` out. They run on the developer's machine at build
//! time; the Lambda runtime never parses a source model.
//!
//! [`linear_params`] reads the JSON parameter dump that
//! `scripts/fixtures/generate_linear.py` writes for scikit-learn linear models and their
//! `StandardScaler`; [`xgboost`] reads XGBoost models saved as JSON or UBJSON; [`lightgbm`]
//! reads LightGBM text models; [`catboost`] reads CatBoost JSON models.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod catboost;
pub mod detect;
pub mod lightgbm;
pub mod linear_params;
pub mod onnx;
pub mod xgboost;

pub use detect::{convert_any, ImportError, SourceFormat};

use std::fmt;

/// Why a source model could not be converted.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConvertError {
    /// The source is not valid JSON of the expected shape.
    Json(serde_json::Error),
    /// The source parsed, but describes something inconsistent or unsupported.
    Invalid(String),
    /// The `.apr` writer refused the result.
    Format(icebreak_format::FormatError),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Json(e) => write!(f, "malformed source model: {e}"),
            ConvertError::Invalid(msg) => write!(f, "unsupported or inconsistent model: {msg}"),
            ConvertError::Format(e) => write!(f, "cannot write .apr: {e}"),
        }
    }
}

impl std::error::Error for ConvertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConvertError::Json(e) => Some(e),
            ConvertError::Format(e) => Some(e),
            ConvertError::Invalid(_) => None,
        }
    }
}

impl From<icebreak_format::FormatError> for ConvertError {
    fn from(e: icebreak_format::FormatError) -> Self {
        ConvertError::Format(e)
    }
}

/// The converter's name and version, recorded in every file's provenance.
pub const CONVERTER: &str = concat!("icebreak-convert ", env!("CARGO_PKG_VERSION"));
