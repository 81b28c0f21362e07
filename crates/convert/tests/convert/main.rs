//! The converters' integration tests, one binary: fidelity against the reference libraries
//! on the committed fixtures, and refusals of broken models.

// Test helpers unwrap freely: a broken test model should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod catboost_errors;
mod common;
mod fidelity_catboost;
mod fidelity_explain;
mod fidelity_lightgbm;
mod fidelity_linear;
mod fidelity_onnx;
mod fidelity_xgboost;
mod lightgbm_errors;
mod limits;
mod onnx_canon;
mod onnx_errors;
mod onnx_matrix;
/// The ONNX protobuf messages, compiled from the importer's generated code (crate-private
/// there) so the tests can build and edit models.
#[allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic
)]
#[path = "../../src/onnx/proto.rs"]
mod proto;
mod xgboost_errors;
