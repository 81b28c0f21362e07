//! The `icebreak` command as users run it: the real binary on the committed fixtures.
//!
//! Every XGBoost and LightGBM fixture is converted through content detection, inspected
//! (text and JSON) and predicted from JSON Lines on standard input and from CSV files; the
//! answers must be the engine's to the bit and the training library's within the tolerances of
//! docs/FIDELITY.md.

// Test helpers unwrap freely: a broken fixture or binary should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod common;
mod deploy;
mod fixtures;
mod hostile;
mod inspect;
mod predict;
