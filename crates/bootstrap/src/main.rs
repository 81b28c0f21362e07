//! The Lambda `bootstrap`, of one of two kinds chosen when it is built:
//!
//! - compiled in (default): the model named by `ICEBREAK_MODEL` at build time is verified
//!   completely by the build script, compiled in (64-byte aligned) with what that verification
//!   found, and served through the Runtime API. Opening it reads its structure only.
//! - mapped (feature `mapped`): no model inside; `model.apr` is mapped read-only from
//!   `ICEBREAK_MODEL_PATH`, `$LAMBDA_TASK_ROOT/model.apr` or `/opt/model.apr` and verified
//!   completely at start-up ([`icebreak::lambda::start_mapped`]).

#[cfg(not(feature = "mapped"))]
static MODEL: icebreak::format::Embedded = icebreak::include_verified_model!("model");

#[cfg(not(feature = "mapped"))]
fn main() -> std::process::ExitCode {
    icebreak::lambda::start_embedded(MODEL)
}

#[cfg(feature = "mapped")]
fn main() -> std::process::ExitCode {
    icebreak::lambda::start_mapped()
}
