//! The integration tests of `icebreak-engine`, one binary: the fast kernels and whole
//! pipelines against the reference (feature `testing`), the families beyond linear models,
//! and tree ensembles. Modules live in `tests/engine/`; a module's proptest regressions sit
//! next to it (`<module>.proptest-regressions`).

#![allow(missing_docs)]
// Helpers outside #[test] functions unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

#[path = "engine/common.rs"]
mod common;
#[path = "engine/explain.rs"]
mod explain;
#[path = "engine/f64_pipelines.rs"]
mod f64_pipelines;
#[path = "engine/families.rs"]
mod families;
#[path = "engine/oblivious.rs"]
mod oblivious;
#[path = "engine/proptests.rs"]
mod proptests;
#[path = "engine/simd.rs"]
mod simd;
#[path = "engine/trees.rs"]
mod trees;
