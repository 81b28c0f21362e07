//! Helpers shared by the format tests: valid specs, byte surgery on written files, and a
//! test-side assembler of files from their parts.

use icebreak_format::testing::{self, ModelSpecBuilder};
use icebreak_format::*;

/// Owned copies of `items`.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Valid specs.

/// A binary CatBoost-style classifier over the oblivious stage `o` (rules R36 and R37).
pub fn oblivious_model(o: ObliviousSpec) -> ModelSpec {
    ModelSpecBuilder::new(o.n_in)
        .missing(MissingValues::Nan)
        .task_with_labels(Task::Classification, 2)
        .provenance(provenance("catboost"))
        .stages(vec![
            StageSpec::Oblivious(o),
            StageSpec::Post(PostTransform::BinaryLogistic),
        ])
        .build()
}

/// The writer's refusal of [`oblivious_model`]`(o)`.
pub fn oblivious_write_err(o: ObliviousSpec) -> FormatError {
    write(&oblivious_model(o)).expect_err("the writer must refuse this spec")
}

pub fn provenance(version: &str) -> ProvenanceSpec {
    ProvenanceSpec {
        model_name: Some("iris".into()),
        ..testing::provenance(version)
    }
}

/// 3 features (named), scaler, linear 3 -> 3, softmax, string labels.
///
/// Sections: 0 manifest, 1 strings, 2 mean, 3 scale, 4 coef, 5 intercept. Strings: feature
/// names 0..3, labels 3..6, model_version 6, model_name 7. Manifest words: see
/// [`base_manifest_layout`].
pub fn base() -> ModelSpec {
    ModelSpecBuilder::new(3)
        .feature_names(Some(strings(&["sepal", "petal", "é"])))
        .classifier(LabelsSpec::Str(strings(&["a", "b", "c"])))
        .provenance(provenance("1.0"))
        .stage(StageSpec::StandardScaler {
            mean: vec![1.0, 2.0, 3.0],
            scale: vec![0.5, 1.0, 2.0],
        })
        .stage(StageSpec::Linear {
            n_in: 3,
            n_out: 3,
            coef: (0..9).map(|i| i as f32 - 4.0).collect(),
            intercept: vec![0.1, 0.2, 0.3],
        })
        .stage(StageSpec::Post(PostTransform::Softmax))
        .build()
}

/// Regression, 2 features, `n_out` outputs, no names, no post transform.
pub fn regression(n_out: u32) -> ModelSpec {
    ModelSpecBuilder::new(2)
        .missing(MissingValues::Nan)
        .regression(n_out)
        .provenance(provenance("7"))
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out,
            coef: (0..2 * n_out).map(|i| i as f32).collect(),
            intercept: vec![1.5; n_out as usize],
        })
        .build()
}

/// Binary classifier: linear 2 -> 1, `post`, integer labels [-1, 1].
pub fn binary(post: Option<PostTransform>) -> ModelSpec {
    let mut stages = vec![StageSpec::Linear {
        n_in: 2,
        n_out: 1,
        coef: vec![0.25, -0.75],
        intercept: vec![0.5],
    }];
    stages.extend(post.map(StageSpec::Post));
    ModelSpecBuilder::new(2)
        .classifier(LabelsSpec::Int(vec![-1, 1]))
        .provenance(provenance("2"))
        .stages(stages)
        .build()
}

/// 3-class classifier with integer labels (one of them above 2^32), linear 2 -> 3, OvR.
pub fn int_classes() -> ModelSpec {
    ModelSpecBuilder::new(2)
        .classifier(LabelsSpec::Int(vec![0, -5, 1 << 40]))
        .output_names(Some(strings(&["p0", "p-5", "pbig"])))
        .provenance(provenance("3"))
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 3,
            coef: vec![1.0; 6],
            intercept: vec![0.0; 3],
        })
        .stage(StageSpec::Post(PostTransform::OvrNormalize))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Byte helpers.

pub const E: usize = HEADER_LEN; // start of the section table

pub fn entry(i: usize) -> usize {
    E + i * SECTION_ENTRY_LEN
}

pub fn get_u32(v: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(v[off..off + 4].try_into().unwrap())
}
pub fn put_u32(v: &mut [u8], off: usize, x: u32) {
    v[off..off + 4].copy_from_slice(&x.to_le_bytes());
}
pub fn get_u64(v: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(v[off..off + 8].try_into().unwrap())
}
pub fn put_u64(v: &mut [u8], off: usize, x: u64) {
    v[off..off + 8].copy_from_slice(&x.to_le_bytes());
}

pub fn write_vec(spec: &ModelSpec) -> Vec<u8> {
    write_to_vec(spec).expect("valid spec")
}

/// Re-patches the checksum (bytes 12..16), so that only the rule under test is broken.
pub fn refix(v: &mut [u8]) {
    let crc = checksum(v);
    put_u32(v, 12, crc);
}

/// Parses (with the checksum) from an 8-aligned copy.
pub fn parse(v: &[u8]) -> Result<(), FormatError> {
    let buf = AlignedBuf::copy_from(v);
    Apr::parse_verified(&buf).map(|_| ())
}

/// Patches with `f`, re-patches the checksum, parses.
pub fn broken(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u8>)) -> FormatError {
    let mut v = write_vec(spec);
    f(&mut v);
    refix(&mut v);
    parse(&v).expect_err("the patched file must be refused")
}

pub fn section_offset(v: &[u8], i: usize) -> usize {
    get_u64(v, entry(i) + 8) as usize
}
pub fn section_len(v: &[u8], i: usize) -> usize {
    get_u64(v, entry(i) + 16) as usize
}

/// Offset in the file of manifest word `w` (the manifest is section 0 in writer output).
pub fn word(v: &[u8], w: usize) -> usize {
    section_offset(v, 0) + 4 * w
}

pub fn set_word(v: &mut [u8], w: usize, x: u32) {
    let off = word(v, w);
    put_u32(v, off, x);
}

/// A file taken apart: (kind, dtype, bytes) per section, and the header's two indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    pub sections: Vec<(u32, u32, Vec<u8>)>,
    pub manifest: u32,
    pub strings: u32,
}

impl Parts {
    pub fn of(v: &[u8]) -> Parts {
        let count = get_u32(v, 24) as usize;
        let sections = (0..count)
            .map(|i| {
                let (o, l) = (section_offset(v, i), section_len(v, i));
                (
                    get_u32(v, entry(i)),
                    get_u32(v, entry(i) + 4),
                    v[o..o + l].to_vec(),
                )
            })
            .collect();
        Parts {
            sections,
            manifest: get_u32(v, 28),
            strings: get_u32(v, 32),
        }
    }

    pub fn manifest_words(&self) -> Vec<u32> {
        let m = &self.sections[self.manifest as usize].2;
        m.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    pub fn set_manifest_words(&mut self, words: &[u32]) {
        self.sections[self.manifest as usize].2 =
            words.iter().flat_map(|w| w.to_le_bytes()).collect();
    }

    /// Lays the sections out by the layout rule, with a correct length and checksum.
    pub fn assemble(&self) -> Vec<u8> {
        let count = self.sections.len();
        let mut v = vec![0u8; HEADER_LEN + count * SECTION_ENTRY_LEN];
        v[0..4].copy_from_slice(&MAGIC);
        v[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        v[6..8].copy_from_slice(&0u16.to_le_bytes());
        put_u32(&mut v, 24, count as u32);
        put_u32(&mut v, 28, self.manifest);
        put_u32(&mut v, 32, self.strings);
        for (i, (kind, dtype, data)) in self.sections.iter().enumerate() {
            let offset = v.len().div_ceil(64) * 64;
            v.resize(offset, 0);
            v.extend_from_slice(data);
            put_u32(&mut v, entry(i), *kind);
            put_u32(&mut v, entry(i) + 4, *dtype);
            put_u64(&mut v, entry(i) + 8, offset as u64);
            put_u64(&mut v, entry(i) + 16, data.len() as u64);
        }
        let len = v.len() as u64;
        put_u64(&mut v, 16, len);
        refix(&mut v);
        v
    }
}

/// Rewrites the manifest words of `spec`'s file with `f`, lays the file out again, parses.
pub fn broken_manifest(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u32>)) -> FormatError {
    let mut parts = Parts::of(&write_vec(spec));
    let mut words = parts.manifest_words();
    f(&mut words);
    parts.set_manifest_words(&words);
    parse(&parts.assemble()).expect_err("the patched file must be refused")
}

/// Index of the last manifest word (a post transform's code, when it is the last stage).
pub fn last_word(spec: &ModelSpec) -> usize {
    Parts::of(&write_vec(spec)).manifest_words().len() - 1
}

/// Manifest word indices of [`base`]'s file.
pub mod w {
    pub const INPUT_TAG: usize = 0;
    pub const INPUT_LEN: usize = 1;
    pub const N_FEATURES: usize = 2;
    pub const MISSING: usize = 3;
    pub const FEATURE_NAMES: usize = 4;
    pub const OUTPUT_LEN: usize = 6;
    pub const TASK: usize = 7;
    pub const N_OUTPUTS: usize = 8;
    pub const LABEL_KIND: usize = 9;
    pub const LABELS_FIRST: usize = 11;
    pub const MODEL_VERSION: usize = 14;
    pub const SCALER: std::ops::Range<usize> = 19..25;
    pub const SCALER_KIND: usize = 21;
    pub const SCALER_WIDTH: usize = 22;
    pub const SCALER_MEAN: usize = 23;
    pub const SCALER_SCALE: usize = 24;
    pub const LINEAR: std::ops::Range<usize> = 25..32;
    pub const LINEAR_N_IN: usize = 28;
    pub const LINEAR_N_OUT: usize = 29;
    pub const POST_LEN: usize = 33;
    pub const POST_CODE: usize = 35;
}

// ---------------------------------------------------------------------------------------------
// Helpers checked against the writer.

/// Rewrites the string-table section of `spec`'s file with `f` and lays the file out again.
pub fn broken_strings(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u8>)) -> FormatError {
    let mut parts = Parts::of(&write_vec(spec));
    f(&mut parts.sections[parts.strings as usize].2);
    parse(&parts.assemble()).expect_err("the patched file must be refused")
}

/// An SVC over 2 features, 3 classes with 1, 2 and 1 support vectors (`support_vectors`,
/// f32 or f64), an rbf kernel of this `gamma`, probabilities.
pub fn svc3<V>(gamma: f64, support_vectors: Vec<V>, break_ties: bool) -> SvmSpec<V> {
    SvmSpec {
        n_in: 2,
        n_classes: 3,
        kernel: Kernel::Rbf { gamma },
        n_support: vec![1, 2, 1],
        support_vectors,
        coef: vec![1.0, 0.5, -0.5, 1.0, -1.0, 0.25, 0.75, -0.25],
        intercept: vec![0.1, -0.2, 0.3],
        prob_a: vec![-1.5, -2.0, -1.0],
        break_ties,
        prob_b: vec![0.1, 0.0, -0.1],
    }
}

/// An SVR over 2 features with two support vectors (`support_vectors`, f32 or f64) and a
/// cubic polynomial kernel.
pub fn svr<V>(support_vectors: Vec<V>) -> SvmSpec<V> {
    SvmSpec {
        n_in: 2,
        n_classes: 1,
        kernel: Kernel::Poly {
            gamma: 0.5,
            coef0: 1.0,
            degree: 3,
        },
        n_support: Vec::new(),
        support_vectors,
        coef: vec![0.5, -0.5],
        intercept: vec![2.0],
        prob_a: Vec::new(),
        break_ties: false,
        prob_b: Vec::new(),
    }
}

/// The index of the kind word of the first STAGE record of `kind` among the manifest words.
pub fn stage_word(words: &[u32], kind: u32) -> usize {
    let mut i = 0;
    while i + 2 < words.len() {
        if words[i] == 4 && words[i + 2] == kind {
            return i + 2;
        }
        i += 2 + words[i + 1] as usize;
    }
    panic!("no stage of kind {kind}")
}

/// The minor format version a written file declares.
pub fn minor(file: &[u8]) -> u16 {
    u16::from_le_bytes([file[6], file[7]])
}
