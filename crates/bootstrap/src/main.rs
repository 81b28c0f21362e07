//! The Lambda `bootstrap`: the model named by `ICEBREAK_MODEL` at build time is verified
//! completely by the build script, compiled in (64-byte aligned) with what that verification
//! found, and served through the Runtime API. Opening it reads its structure only.

static MODEL: icebreak::format::Embedded = icebreak::include_verified_model!("model");

fn main() -> std::process::ExitCode {
    icebreak::lambda::start_embedded(MODEL)
}
