//! The Lambda `bootstrap`: the model named by `ICEBREAK_MODEL` at build time is compiled in
//! (64-byte aligned, checked by the build script) and served through the Runtime API.

static MODEL: &[u8] = icebreak::include_model!(env!("ICEBREAK_MODEL_PATH"));

fn main() -> std::process::ExitCode {
    icebreak::lambda::start(MODEL)
}
