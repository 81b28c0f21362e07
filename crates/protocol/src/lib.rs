//! The icebreak prediction protocol, written once for every way a model is served: the AWS
//! Lambda runtime (`icebreak-lambda`), the HTTP server (`icebreak-server`) and the
//! `icebreak predict` command.
//!
//! - Requests: `{"features": [...]}` (one instance) or `{"instances": [{"features": [...]},
//!   ...]}` ([`parse_direct`]); a feature is a JSON number or `null` (missing, NaN)
//!   ([`Feature`], [`Cell`]); CSV-style columns can be matched to the model's features by
//!   name ([`feature_order`]).
//! - Answers: [`Response`], [`BatchResponse`] (one [`BatchItem`] per instance, in order),
//!   [`ModelInfo`]; class labels as the source model had them ([`label`]).
//! - Explanations: `"explain": true` or `{"top": k}` ([`Explain`]) adds `contributions`
//!   ([`FeatureContributions`]) and `reasons` ([`Reasons`]) to an instance's answer.
//! - Batches are answered item by item: a bad row gets its own error and does not fail the
//!   others ([`Slots`]).
//! - Errors: [`Error`] with an [`ErrorKind`], rendered as `{"errorMessage", "errorType"}`
//!   ([`error_body`]).
//! - HTTP: the status rules (400, 404, 405, 413, 415, 500) shared by Lambda's HTTP-shaped
//!   events and the server ([`http`]).
//!
//! [`Predictor`] puts these together over one embedded model.
//!
//! ```
//! # fn main() -> Result<(), icebreak_protocol::Error> {
//! use icebreak_protocol::{parse_direct, Direct, Predictor};
//!
//! static MODEL: &[u8] = icebreak_format::include_model!("../../../examples/model.apr");
//! let predictor = Predictor::from_bytes(MODEL)?;
//! let zeros = vec!["0"; predictor.n_features()].join(",");
//! let body = format!(r#"{{"features": [{zeros}]}}"#);
//! if let Direct::Single(req) = parse_direct(body.as_bytes(), predictor.n_features())? {
//!     let answer = predictor.predict(&req, std::time::Instant::now())?;
//!     assert!(serde_json::to_value(&answer).is_ok_and(|v| v.get("prediction").is_some()));
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod answer;
mod batch;
mod error;
mod explain;
mod features;
pub mod http;
mod predictor;

pub use answer::{
    label, value, BatchItem, BatchResponse, ModelInfo, Numbers, Prediction, Response,
};
pub use batch::{SlotRow, Slots};
pub use error::{error_body, Error, ErrorKind};
pub use explain::{Explain, ExplainField, FeatureContributions, Reason, Reasons, BIAS_KEY};
pub use features::{
    direct, feature_order, instances, json_error, parse_direct, Cell, Direct, Feature, Features,
    Request,
};
pub use predictor::Predictor;
