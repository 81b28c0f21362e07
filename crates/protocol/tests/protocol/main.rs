//! Integration tests of `icebreak-protocol` through its public API: a [`Predictor`] over
//! models written for the test, answering parsed requests as every transport does.
//!
//! [`Predictor`]: icebreak_protocol::Predictor

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

mod common;
mod explain;
mod predictor;
