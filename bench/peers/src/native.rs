//! The compiled tree peers, called natively: the shared objects `scripts/bench/trees.py
//! prepare` built (tl2cgen's and m2cgen's C compiled with gcc, lleaves' LLVM output) are
//! loaded with `dlopen` and their prediction functions called directly (lleaves' compiled
//! object linked into a shared object by gcc first), one row per call
//! (tl2cgen, m2cgen: their generated code has no batch function, so a batch is a loop over
//! the rows) or a range of rows per call (lleaves).
//!
//! This is the only module of the benchmarks with `unsafe` code: calling a C function
//! through a pointer found by name cannot be checked by the compiler. Each call's contract
//! (the signature the generator writes, the buffer sizes it reads and writes) is stated at
//! the call and checked where the library lets it be (tl2cgen reports its feature count and
//! output types).
#![allow(unsafe_code)]

use crate::{agree, time_batch, time_single, Args, Rows, TREES_TOLERANCE};
use anyhow::{bail, ensure, Context, Result};
use libloading::Library;
use serde_json::Value;
use std::ffi::{c_char, c_int, CStr};
use std::hint::black_box;

/// A compiled tree peer.
#[derive(Clone, Copy)]
pub(crate) enum Peer {
    /// tl2cgen 1.x: `void predict(union Entry* data, int pred_margin, T* result)`.
    Tl2cgen,
    /// m2cgen: `void score(double* input, double* output)`.
    M2cgen,
    /// lleaves: `void forest_root(double* data, double* out, int start, int end)`.
    Lleaves,
}

/// What the manifest says of a peer for one model.
pub(crate) enum Entry<'m> {
    /// Not built for this model (not asked, or not installed: the manifest says why once).
    Absent,
    /// Built but refused before timing (the reason).
    Refused(String),
    /// The shared object to load.
    Library(&'m str),
}

impl Peer {
    /// Every peer, in report order.
    pub(crate) const ALL: [Peer; 3] = [Peer::Tl2cgen, Peer::M2cgen, Peer::Lleaves];

    /// The engine's name in the reports.
    pub(crate) fn engine(self) -> &'static str {
        match self {
            Peer::Tl2cgen => "tl2cgen (C, gcc)",
            Peer::M2cgen => "m2cgen (C, gcc)",
            Peer::Lleaves => "lleaves (native)",
        }
    }

    /// The manifest's keys: the shared object, and the build error.
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Peer::Tl2cgen => ("tl2cgen", "tl2cgen_error"),
            Peer::M2cgen => ("m2cgen", "m2cgen_error"),
            Peer::Lleaves => ("lleaves_native", "lleaves_native_error"),
        }
    }

    /// This peer's entry in a model's manifest entry.
    pub(crate) fn entry(self, m: &Value) -> Entry<'_> {
        let (lib, err) = self.keys();
        match (m[lib].as_str(), m[err].as_str()) {
            (_, Some(e)) => Entry::Refused(e.to_owned()),
            (Some(path), None) => Entry::Library(path),
            (None, None) => Entry::Absent,
        }
    }

    /// Loads `path`, checks its probabilities against `proba`, times it.
    /// `xgboost`: the model is XGBoost's, whose trees compare float32 features.
    pub(crate) fn time(
        self,
        path: &str,
        xgboost: bool,
        rows: &Rows,
        proba: &[f64],
        args: &Args,
    ) -> Result<(Value, Value, f64)> {
        // SAFETY: loading runs the object's initialisers; these objects are the generators'
        // plain C (or LLVM) output, built by the benchmark from the model files, with no
        // initialisers of their own.
        let lib = unsafe { Library::new(path) }.with_context(|| format!("dlopen {path}"))?;
        match self {
            Peer::Tl2cgen => tl2cgen(&lib, rows, proba, args),
            Peer::M2cgen => m2cgen(&lib, xgboost, rows, proba, args),
            Peer::Lleaves => lleaves(&lib, rows, proba, args),
        }
    }
}

/// tl2cgen's `union Entry` for float32 thresholds (`int missing; float fvalue; int qvalue`):
/// four bytes, the feature's float32 bits.
type Entry32 = u32;
/// tl2cgen's `union Entry` for float64 thresholds (`int missing; double fvalue; int
/// qvalue`): eight bytes, the feature's float64 bits.
type Entry64 = u64;

type Predict<E, R> = unsafe extern "C" fn(*mut E, c_int, *mut R);

/// A tl2cgen library's string getter's answer.
fn tl2cgen_str(lib: &Library, name: &[u8]) -> Result<String> {
    // SAFETY: tl2cgen 1.x's header declares `const char* get_threshold_type(void)` and
    // `const char* get_leaf_output_type(void)`, returning static NUL-terminated strings.
    unsafe {
        let f = lib.get::<unsafe extern "C" fn() -> *const c_char>(name)?;
        let p = f();
        ensure!(!p.is_null(), "null string");
        Ok(CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

fn tl2cgen(lib: &Library, rows: &Rows, proba: &[f64], args: &Args) -> Result<(Value, Value, f64)> {
    // SAFETY: `int32_t get_num_feature(void)`, `int32_t get_num_target(void)` and `void
    // get_num_class(int32_t* out)` (one value per target) in tl2cgen 1.x's header.
    let (n_feature, n_target) = unsafe {
        (
            lib.get::<unsafe extern "C" fn() -> i32>(b"get_num_feature")?(),
            lib.get::<unsafe extern "C" fn() -> i32>(b"get_num_target")?(),
        )
    };
    ensure!(n_target == 1, "{n_target} targets");
    let mut n_class = [0i32; 1];
    // SAFETY: as above; `n_class` holds the one target's value.
    unsafe { lib.get::<unsafe extern "C" fn(*mut i32)>(b"get_num_class")?(n_class.as_mut_ptr()) };
    ensure!(
        n_class[0] == 1,
        "{} classes (a binary model has 1 output)",
        n_class[0]
    );
    ensure!(
        usize::try_from(n_feature).ok() == Some(rows.nf),
        "the library takes {n_feature} features, the rows have {}",
        rows.nf
    );
    let threshold = tl2cgen_str(lib, b"get_threshold_type")?;
    let leaf = tl2cgen_str(lib, b"get_leaf_output_type")?;
    match (threshold.as_str(), leaf.as_str()) {
        ("float32", "float32") => {
            let data: Vec<Entry32> = rows.f32s.iter().map(|v| v.to_bits()).collect();
            tl2cgen_typed::<Entry32, f32>(lib, data, rows, proba, args)
        }
        ("float64", "float64") => {
            let data: Vec<Entry64> = rows.f64s.iter().map(|v| v.to_bits()).collect();
            tl2cgen_typed::<Entry64, f64>(lib, data, rows, proba, args)
        }
        (t, l) => bail!("thresholds {t}, leaves {l}: not a combination this timer calls"),
    }
}

/// A prediction's value as f64.
trait Out: Copy + Default {
    fn f64(self) -> f64;
}
impl Out for f32 {
    fn f64(self) -> f64 {
        f64::from(self)
    }
}
impl Out for f64 {
    fn f64(self) -> f64 {
        self
    }
}

fn tl2cgen_typed<E: Copy, R: Out>(
    lib: &Library,
    mut data: Vec<E>,
    rows: &Rows,
    proba: &[f64],
    args: &Args,
) -> Result<(Value, Value, f64)> {
    // SAFETY: the signature tl2cgen 1.x writes for these threshold and leaf types (checked
    // above); `predict` reads `get_num_feature()` entries (= rows.nf, checked) and adds to
    // `result[0]` (one output, checked), which must start at zero.
    let predict = unsafe { lib.get::<Predict<E, R>>(b"predict")? };
    let nf = rows.nf;
    let one = |data: &mut [E], i: usize| -> R {
        let mut out = [R::default()];
        // SAFETY: see `predict` above; row `i`'s `nf` entries and a one-value result.
        unsafe { predict(data[i * nf..(i + 1) * nf].as_mut_ptr(), 0, out.as_mut_ptr()) };
        out[0]
    };
    let got: Vec<f64> = (0..rows.n).map(|i| one(&mut data, i).f64()).collect();
    let diff = agree(&got, proba, TREES_TOLERANCE)?;
    let single = time_single(rows.n, args.calls, |i| {
        black_box(one(black_box(&mut data), i));
        Ok(())
    })?;
    let batch = time_batch(rows.n, args.batch_reps, || {
        for i in 0..rows.n {
            black_box(one(black_box(&mut data), i));
        }
        Ok(())
    })?;
    Ok((single, batch, diff))
}

fn m2cgen(
    lib: &Library,
    xgboost: bool,
    rows: &Rows,
    proba: &[f64],
    args: &Args,
) -> Result<(Value, Value, f64)> {
    // m2cgen compares float64 features; XGBoost compares them rounded to float32, so the
    // XGBoost models get the rounded values (as the library sees them).
    let mut data: Vec<f64> = if xgboost {
        rows.f32s.iter().map(|&v| f64::from(v)).collect()
    } else {
        rows.f64s.clone()
    };
    // SAFETY: m2cgen's C for a binary classifier: `void score(double* input, double*
    // output)`, reading the model's features (the manifest's `n_features`, the rows' width)
    // and writing two probabilities.
    let score = unsafe { lib.get::<unsafe extern "C" fn(*mut f64, *mut f64)>(b"score")? };
    let nf = rows.nf;
    let one = |data: &mut [f64], i: usize| -> f64 {
        let mut out = [0.0f64; 2];
        // SAFETY: see `score` above: row `i`'s `nf` values and two outputs.
        unsafe { score(data[i * nf..(i + 1) * nf].as_mut_ptr(), out.as_mut_ptr()) };
        out[1]
    };
    let got: Vec<f64> = (0..rows.n).map(|i| one(&mut data, i)).collect();
    let diff = agree(&got, proba, TREES_TOLERANCE)?;
    let single = time_single(rows.n, args.calls, |i| {
        black_box(one(black_box(&mut data), i));
        Ok(())
    })?;
    let batch = time_batch(rows.n, args.batch_reps, || {
        for i in 0..rows.n {
            black_box(one(black_box(&mut data), i));
        }
        Ok(())
    })?;
    Ok((single, batch, diff))
}

fn lleaves(lib: &Library, rows: &Rows, proba: &[f64], args: &Args) -> Result<(Value, Value, f64)> {
    // SAFETY: lleaves' entry point (`lleaves.Model`'s ctypes prototype, float64 build):
    // `void forest_root(double* data, double* out, int32_t start, int32_t end)`, reading rows
    // `start..end` of `data` (the model's features each, = rows.nf) and writing `out[start..end]`.
    let root =
        unsafe { lib.get::<unsafe extern "C" fn(*mut f64, *mut f64, i32, i32)>(b"forest_root")? };
    let mut data = rows.f64s.clone();
    let nf = rows.nf;
    let n = i32::try_from(rows.n).context("too many rows")?;
    let mut out = vec![0.0f64; rows.n];
    // SAFETY: see `root` above: all rows, `out` holds one value per row.
    unsafe { root(data.as_mut_ptr(), out.as_mut_ptr(), 0, n) };
    let diff = agree(&out, proba, TREES_TOLERANCE)?;
    let single = time_single(rows.n, args.calls, |i| {
        let mut one = [0.0f64];
        // SAFETY: see `root` above: one row (`nf` values) as rows 0..1, one output.
        unsafe {
            root(
                data[i * nf..(i + 1) * nf].as_mut_ptr(),
                one.as_mut_ptr(),
                0,
                1,
            )
        };
        black_box(one[0]);
        Ok(())
    })?;
    let batch = time_batch(rows.n, args.batch_reps, || {
        // SAFETY: see `root` above: all rows.
        unsafe { root(black_box(data.as_mut_ptr()), out.as_mut_ptr(), 0, n) };
        black_box(out[0]);
        Ok(())
    })?;
    Ok((single, batch, diff))
}

#[cfg(test)]
mod tests {
    //! Each peer's calling convention, against small C libraries with the generators'
    //! signatures, built by the system's C compiler (`cc`, as CI has it).
    use super::*;
    use crate::Mode;
    use std::path::PathBuf;

    /// `source` compiled into a shared object named after `name` in a fresh directory.
    fn build(name: &str, source: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "icebreak-bench-peers-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join(format!("{name}.c"));
        let so = dir.join(format!("{name}.so"));
        std::fs::write(&c, source).unwrap();
        let status = std::process::Command::new("cc")
            .args(["-O1", "-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(&c)
            .status()
            .expect("a C compiler (cc) is needed by these tests");
        assert!(status.success(), "cc failed on {name}");
        so
    }

    /// Removes the directory `build` made for `so` (a loaded library stays mapped).
    fn remove(so: &std::path::Path) {
        if let Some(dir) = so.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Three rows of two features; `x0 + x1` is each row's "probability".
    fn rows() -> (Rows, Vec<f64>) {
        let f64s = vec![0.125, 0.25, 0.5, 0.125, 0.0625, 0.5];
        let want = f64s.chunks(2).map(|r| r[0] + r[1]).collect();
        let rows = Rows {
            f32s: f64s.iter().map(|&v| v as f32).collect(),
            f64s,
            nf: 2,
            n: 3,
        };
        (rows, want)
    }

    fn args() -> Args {
        Args {
            mode: Mode::Trees,
            manifest: PathBuf::new(),
            round: 1,
            out: PathBuf::new(),
            ort_lib: PathBuf::new(),
            calls: 10,
            batch_reps: 3,
        }
    }

    const TL2CGEN_HEADER: &str = r#"
#include <stdint.h>
int32_t get_num_target(void) { return 1; }
void get_num_class(int32_t* out) { out[0] = 1; }
"#;

    #[test]
    fn tl2cgen_float32_and_float64_entries() {
        let (rows, want) = rows();
        for (name, t) in [("tl2cgen32", "float"), ("tl2cgen64", "double")] {
            let ty = if t == "float" { "float32" } else { "float64" };
            let so = build(
                name,
                &format!(
                    r#"{TL2CGEN_HEADER}
union Entry {{ int missing; {t} fvalue; int qvalue; }};
int32_t get_num_feature(void) {{ return 2; }}
const char* get_threshold_type(void) {{ return "{ty}"; }}
const char* get_leaf_output_type(void) {{ return "{ty}"; }}
void predict(union Entry* d, int margin, {t}* r) {{ r[0] += d[0].fvalue + d[1].fvalue; }}
"#
                ),
            );
            let (single, batch, diff) = Peer::Tl2cgen
                .time(so.to_str().unwrap(), false, &rows, &want, &args())
                .unwrap();
            assert!(diff < 1e-7, "{name}: {diff}");
            assert_eq!(single["n"], 10);
            assert_eq!(batch["n"], 3);
            remove(&so);
        }
    }

    #[test]
    fn tl2cgen_with_other_features_is_refused() {
        let (rows, want) = rows();
        let so = build(
            "tl2cgen_wrong",
            &format!(
                r#"{TL2CGEN_HEADER}
int32_t get_num_feature(void) {{ return 3; }}
"#
            ),
        );
        let e = Peer::Tl2cgen
            .time(so.to_str().unwrap(), false, &rows, &want, &args())
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 features"), "{e}");
        remove(&so);
    }

    #[test]
    fn m2cgen_and_lleaves_and_a_disagreeing_peer() {
        let (rows, want) = rows();
        let m2 = build(
            "m2cgen",
            "void score(double* x, double* out) { out[1] = x[0] + x[1]; out[0] = 1.0 - out[1]; }",
        );
        let (_, _, diff) = Peer::M2cgen
            .time(m2.to_str().unwrap(), false, &rows, &want, &args())
            .unwrap();
        assert_eq!(diff, 0.0);
        let ll = build(
            "lleaves",
            "void forest_root(double* d, double* o, int s, int e) {
                 for (int i = s; i < e; i++) o[i] = d[2 * i] + d[2 * i + 1];
             }",
        );
        let (_, _, diff) = Peer::Lleaves
            .time(ll.to_str().unwrap(), false, &rows, &want, &args())
            .unwrap();
        assert_eq!(diff, 0.0);
        // A peer whose answers differ is refused before timing.
        let off: Vec<f64> = want.iter().map(|v| v + 0.01).collect();
        let e = Peer::M2cgen
            .time(m2.to_str().unwrap(), false, &rows, &off, &args())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not timed"), "{e}");
        remove(&m2);
        remove(&ll);
    }

    #[test]
    fn manifest_entries() {
        let m = serde_json::json!({"tl2cgen": "/x.so", "m2cgen": "/y.so",
                                   "m2cgen_error": "m2cgen failed to build: E"});
        assert!(matches!(Peer::Tl2cgen.entry(&m), Entry::Library("/x.so")));
        assert!(matches!(Peer::M2cgen.entry(&m), Entry::Refused(e) if e.ends_with("E")));
        assert!(matches!(Peer::Lleaves.entry(&m), Entry::Absent));
    }
}
