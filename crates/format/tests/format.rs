//! The integration tests of `icebreak-format`, one binary: the rules of `docs/FORMAT.md` one
//! by one (R29 case by case), positive tests and the committed file, and the property tests.
//! Modules live in `tests/format/`; a module's proptest regressions sit next to it
//! (`<module>.proptest-regressions`).

#![allow(missing_docs)]
// Helpers outside #[test] functions unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

#[path = "format/attested.rs"]
mod attested;
#[path = "format/common.rs"]
mod common;
#[path = "format/positive.rs"]
mod positive;
#[path = "format/precision.rs"]
mod precision;
#[path = "format/proptests.rs"]
mod proptests;
#[path = "format/rule_r29.rs"]
mod rule_r29;
#[path = "format/rule_r35.rs"]
mod rule_r35;
#[path = "format/rule_r36.rs"]
mod rule_r36;
#[path = "format/rule_r37.rs"]
mod rule_r37;
#[path = "format/rules.rs"]
mod rules;
#[path = "format/rules_families.rs"]
mod rules_families;
#[path = "format/rules_manifest.rs"]
mod rules_manifest;
#[path = "format/svm_imputer_f64.rs"]
mod svm_imputer_f64;
