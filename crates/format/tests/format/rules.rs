//! One test per rule of `docs/FORMAT.md`: each builds a valid file with the writer, breaks
//! exactly that rule in the bytes (re-patching the checksum, so only the rule is broken) and
//! asserts the exact error. Then positive tests: round trips, alignment, the committed file.

#![allow(missing_docs)]
// Helpers outside #[test] functions unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

use crate::common::strings;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

// ---------------------------------------------------------------------------------------------
// Valid specs.

fn provenance(version: &str) -> ProvenanceSpec {
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
fn base() -> ModelSpec {
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
fn regression(n_out: u32) -> ModelSpec {
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
fn binary(post: Option<PostTransform>) -> ModelSpec {
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
fn int_classes() -> ModelSpec {
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

const E: usize = HEADER_LEN; // start of the section table

fn entry(i: usize) -> usize {
    E + i * SECTION_ENTRY_LEN
}

fn get_u32(v: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(v[off..off + 4].try_into().unwrap())
}
fn put_u32(v: &mut [u8], off: usize, x: u32) {
    v[off..off + 4].copy_from_slice(&x.to_le_bytes());
}
fn get_u64(v: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(v[off..off + 8].try_into().unwrap())
}
fn put_u64(v: &mut [u8], off: usize, x: u64) {
    v[off..off + 8].copy_from_slice(&x.to_le_bytes());
}

fn write_vec(spec: &ModelSpec) -> Vec<u8> {
    write_to_vec(spec).expect("valid spec")
}

/// Re-patches the checksum (bytes 12..16), so that only the rule under test is broken.
fn refix(v: &mut [u8]) {
    let crc = checksum(v);
    put_u32(v, 12, crc);
}

/// Parses (with the checksum) from an 8-aligned copy.
fn parse(v: &[u8]) -> Result<(), FormatError> {
    let buf = AlignedBuf::copy_from(v);
    Apr::parse_verified(&buf).map(|_| ())
}

/// Patches with `f`, re-patches the checksum, parses.
fn broken(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u8>)) -> FormatError {
    let mut v = write_vec(spec);
    f(&mut v);
    refix(&mut v);
    parse(&v).expect_err("the patched file must be refused")
}

fn section_offset(v: &[u8], i: usize) -> usize {
    get_u64(v, entry(i) + 8) as usize
}
fn section_len(v: &[u8], i: usize) -> usize {
    get_u64(v, entry(i) + 16) as usize
}

/// Offset in the file of manifest word `w` (the manifest is section 0 in writer output).
fn word(v: &[u8], w: usize) -> usize {
    section_offset(v, 0) + 4 * w
}

fn set_word(v: &mut [u8], w: usize, x: u32) {
    let off = word(v, w);
    put_u32(v, off, x);
}

/// A file taken apart: (kind, dtype, bytes) per section, and the header's two indices.
#[derive(Debug, Clone, PartialEq)]
struct Parts {
    sections: Vec<(u32, u32, Vec<u8>)>,
    manifest: u32,
    strings: u32,
}

impl Parts {
    fn of(v: &[u8]) -> Parts {
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

    fn manifest_words(&self) -> Vec<u32> {
        let m = &self.sections[self.manifest as usize].2;
        m.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn set_manifest_words(&mut self, words: &[u32]) {
        self.sections[self.manifest as usize].2 =
            words.iter().flat_map(|w| w.to_le_bytes()).collect();
    }

    /// Lays the sections out by the layout rule, with a correct length and checksum.
    fn assemble(&self) -> Vec<u8> {
        let count = self.sections.len();
        let mut v = vec![0u8; HEADER_LEN + count * SECTION_ENTRY_LEN];
        v[0..4].copy_from_slice(&MAGIC);
        v[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        v[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
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
fn broken_manifest(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u32>)) -> FormatError {
    let mut parts = Parts::of(&write_vec(spec));
    let mut words = parts.manifest_words();
    f(&mut words);
    parts.set_manifest_words(&words);
    parse(&parts.assemble()).expect_err("the patched file must be refused")
}

/// Index of the last manifest word (a post transform's code, when it is the last stage).
fn last_word(spec: &ModelSpec) -> usize {
    Parts::of(&write_vec(spec)).manifest_words().len() - 1
}

/// Manifest word indices of [`base`]'s file.
mod w {
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

#[test]
fn base_manifest_layout() {
    const N: u32 = NONE;
    let parts = Parts::of(&write_vec(&base()));
    #[rustfmt::skip]
    let expected = vec![
        1, 3, /**/ 3, 0, 0,                        // INPUT: n_features, missing, names
        2, 5, /**/ 2, 3, 2, N, 3,                  // OUTPUT: task, n, label kind, names, labels
        3, 5, /**/ 6, 7, N, N, N,                  // PROVENANCE
        4, 4, /**/ 1, 3, 2, 3,                     // STAGE standard_scaler: width, mean, scale
        4, 5, /**/ 2, 3, 3, 4, 5,                  // STAGE linear: n_in, n_out, coef, intercept
        4, 2, /**/ 3, 3,                           // STAGE post: softmax
    ];
    assert_eq!(parts.manifest_words(), expected);
    let kinds: Vec<(u32, u32)> = parts.sections.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(kinds, vec![(1, 0), (2, 0), (3, 1), (3, 1), (3, 1), (3, 1)]);
    assert_eq!((parts.manifest, parts.strings), (0, 1));
}

#[test]
fn test_assembler_matches_writer() {
    for spec in [
        base(),
        regression(1),
        regression(3),
        binary(None),
        int_classes(),
    ] {
        let v = write_vec(&spec);
        assert_eq!(Parts::of(&v).assemble(), v);
    }
}

// ---------------------------------------------------------------------------------------------
// One test per rule.

#[test]
fn r1_too_short() {
    let v = write_vec(&base());
    assert_eq!(parse(&v[..63]), Err(FormatError::TooShort { len: 63 }));
    assert_eq!(parse(&[]), Err(FormatError::TooShort { len: 0 }));
    assert_eq!(
        Apr::parse(&[]).err(),
        Some(FormatError::TooShort { len: 0 })
    );
}

#[test]
fn r2_bad_magic() {
    let e = broken(&base(), |v| v[3] = b'X');
    assert_eq!(e, FormatError::BadMagic { found: *b"APRX" });
}

#[test]
fn r3_unsupported_version() {
    let e = broken(&base(), |v| v[6] = 1);
    assert_eq!(e, FormatError::UnsupportedVersion { major: 1, minor: 1 });
    let e = broken(&base(), |v| v[4] = 2);
    assert_eq!(e, FormatError::UnsupportedVersion { major: 2, minor: 0 });
    let e = broken(&base(), |v| v[4] = 0);
    assert_eq!(e, FormatError::UnsupportedVersion { major: 0, minor: 0 });
}

#[test]
fn r4_reserved_not_zero() {
    // Flags.
    let e = broken(&base(), |v| v[8] = 1);
    assert_eq!(e, FormatError::ReservedNotZero { offset: 8 });
    let e = broken(&base(), |v| v[11] = 0x80);
    assert_eq!(e, FormatError::ReservedNotZero { offset: 8 });
    // Reserved header bytes 36..64.
    let e = broken(&base(), |v| v[36] = 1);
    assert_eq!(e, FormatError::ReservedNotZero { offset: 36 });
    let e = broken(&base(), |v| v[63] = 1);
    assert_eq!(e, FormatError::ReservedNotZero { offset: 63 });
    // Reserved bytes of a section-table entry (reported at the field's start).
    let e = broken(&base(), |v| v[entry(2) + 31] = 1);
    assert_eq!(
        e,
        FormatError::ReservedNotZero {
            offset: entry(2) + 24
        }
    );
}

#[test]
fn r5_length_mismatch() {
    let v = write_vec(&base());
    let len = v.len() as u64;
    // Truncated by one byte.
    let mut t = v[..v.len() - 1].to_vec();
    refix(&mut t);
    assert_eq!(
        parse(&t),
        Err(FormatError::LengthMismatch {
            declared: len,
            actual: len - 1
        })
    );
    // Declared length too large.
    let e = broken(&base(), |v| put_u64(v, 16, len + 64));
    assert_eq!(
        e,
        FormatError::LengthMismatch {
            declared: len + 64,
            actual: len
        }
    );
    // Padded with zeros.
    let e = broken(&base(), |v| v.extend_from_slice(&[0; 64]));
    assert_eq!(
        e,
        FormatError::LengthMismatch {
            declared: len,
            actual: len + 64
        }
    );
}

#[test]
fn r6_checksum_mismatch() {
    let mut v = write_vec(&base());
    let stored = get_u32(&v, 12);
    let coef = section_offset(&v, 4);
    v[coef] ^= 0x01; // one bit of one weight: structurally still valid
    let computed = checksum(&v);
    assert_ne!(stored, computed);
    let buf = AlignedBuf::copy_from(&v);
    // Apr::parse checks structure only and accepts it...
    let apr = Apr::parse(&buf).expect("structure is valid");
    assert_eq!(apr.checksum(), stored);
    assert_eq!(
        apr.verify_checksum(),
        Err(FormatError::ChecksumMismatch { stored, computed })
    );
    // ...Apr::parse_verified does not.
    assert_eq!(
        Apr::parse_verified(&buf).err(),
        Some(FormatError::ChecksumMismatch { stored, computed })
    );
    // The checksum field itself reads as zero in the computation.
    assert_eq!(checksum(&v), {
        let mut z = v.clone();
        z[12..16].fill(0);
        checksum(&z)
    });
    let mut z = v.clone();
    z[CHECKSUM_FIELD].fill(0);
    assert_eq!(reference_crc32(&z), computed);
}

/// Plain bitwise CRC-32/IEEE (reflected, polynomial 0xEDB88320, init and final xor all ones),
/// to pin the algorithm down independently of the crate.
fn reference_crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn r7_bad_section_count() {
    let e = broken(&base(), |v| put_u32(v, 24, 0));
    assert_eq!(e, FormatError::BadSectionCount { count: 0 });
    let e = broken(&base(), |v| put_u32(v, 24, MAX_SECTIONS + 1));
    assert_eq!(
        e,
        FormatError::BadSectionCount {
            count: MAX_SECTIONS + 1
        }
    );
    let e = broken(&base(), |v| put_u32(v, 24, u32::MAX));
    assert_eq!(e, FormatError::BadSectionCount { count: u32::MAX });
}

#[test]
fn r8_section_table_out_of_bounds() {
    let e = broken(&base(), |v| put_u32(v, 24, MAX_SECTIONS));
    assert_eq!(e, FormatError::SectionTableOutOfBounds);
    // A table that ends one entry past a header-only file.
    let mut v = write_vec(&base());
    v.truncate(HEADER_LEN);
    put_u64(&mut v, 16, HEADER_LEN as u64);
    put_u32(&mut v, 24, 1);
    refix(&mut v);
    assert_eq!(parse(&v), Err(FormatError::SectionTableOutOfBounds));
}

#[test]
fn r9_unknown_section_kind() {
    let e = broken(&base(), |v| put_u32(v, entry(2), 9));
    assert_eq!(e, FormatError::UnknownSectionKind { index: 2, kind: 9 });
    let e = broken(&base(), |v| put_u32(v, entry(0), 0));
    assert_eq!(e, FormatError::UnknownSectionKind { index: 0, kind: 0 });
}

#[test]
fn r10_bad_dtype() {
    // A tensor without a dtype, or with an unknown one.
    let e = broken(&base(), |v| put_u32(v, entry(2) + 4, 0));
    assert_eq!(e, FormatError::BadDtype { index: 2, dtype: 0 });
    let e = broken(&base(), |v| put_u32(v, entry(3) + 4, 5));
    assert_eq!(e, FormatError::BadDtype { index: 3, dtype: 5 });
    // A dtype on a manifest or string table.
    let e = broken(&base(), |v| put_u32(v, entry(0) + 4, 1));
    assert_eq!(e, FormatError::BadDtype { index: 0, dtype: 1 });
    let e = broken(&base(), |v| put_u32(v, entry(1) + 4, 2));
    assert_eq!(e, FormatError::BadDtype { index: 1, dtype: 2 });
}

#[test]
fn r11_section_offset() {
    let v = write_vec(&base());
    let o2 = section_offset(&v, 2) as u64;
    // A hole of 64 bytes before section 2.
    let e = broken(&base(), |v| put_u64(v, entry(2) + 8, o2 + 64));
    assert_eq!(
        e,
        FormatError::SectionOffset {
            index: 2,
            expected: o2,
            found: o2 + 64
        }
    );
    // Misaligned.
    let e = broken(&base(), |v| put_u64(v, entry(2) + 8, o2 + 4));
    assert_eq!(
        e,
        FormatError::SectionOffset {
            index: 2,
            expected: o2,
            found: o2 + 4
        }
    );
    // Overlapping the previous section.
    let o1 = section_offset(&v, 1) as u64;
    let e = broken(&base(), |v| put_u64(v, entry(2) + 8, o1));
    assert_eq!(
        e,
        FormatError::SectionOffset {
            index: 2,
            expected: o2,
            found: o1
        }
    );
    // The first section must start right after the table (rounded up to 64).
    let table_end = (HEADER_LEN + 6 * SECTION_ENTRY_LEN) as u64;
    assert_eq!(section_offset(&v, 0) as u64, table_end.div_ceil(64) * 64);
    let e = broken(&base(), |v| put_u64(v, entry(0) + 8, 0));
    assert_eq!(
        e,
        FormatError::SectionOffset {
            index: 0,
            expected: table_end,
            found: 0
        }
    );
    // Out of order: the table lists sections in file order.
    let e = broken(&base(), |v| {
        let (a, b) = (entry(2), entry(3));
        let tmp = v[a..a + 32].to_vec();
        v.copy_within(b..b + 32, a);
        v[b..b + 32].copy_from_slice(&tmp);
    });
    let o3 = section_offset(&v, 3) as u64;
    assert_eq!(
        e,
        FormatError::SectionOffset {
            index: 2,
            expected: o2,
            found: o3
        }
    );
}

#[test]
fn r12_section_length() {
    let v = write_vec(&base());
    // Not a whole number of f32 elements.
    let l2 = section_len(&v, 2) as u64;
    let e = broken(&base(), |v| put_u64(v, entry(2) + 16, l2 - 2));
    assert_eq!(
        e,
        FormatError::SectionLength {
            index: 2,
            length: l2 - 2
        }
    );
    // A manifest is a whole number of u32 words.
    let l0 = section_len(&v, 0) as u64;
    let e = broken(&base(), |v| put_u64(v, entry(0) + 16, l0 - 1));
    assert_eq!(
        e,
        FormatError::SectionLength {
            index: 0,
            length: l0 - 1
        }
    );
    // An f64 tensor is a whole number of 8-byte elements (12 bytes is 3 f32, 1.5 f64).
    let e = broken(&base(), |v| put_u32(v, entry(2) + 4, 3));
    assert_eq!(
        e,
        FormatError::SectionLength {
            index: 2,
            length: l2
        }
    );
    // Running past the end of the file.
    let l5 = section_len(&v, 5) as u64;
    let e = broken(&base(), |v| put_u64(v, entry(5) + 16, l5 + 4));
    assert_eq!(
        e,
        FormatError::SectionLength {
            index: 5,
            length: l5 + 4
        }
    );
    let e = broken(&base(), |v| put_u64(v, entry(5) + 16, u64::MAX - 3));
    assert_eq!(
        e,
        FormatError::SectionLength {
            index: 5,
            length: u64::MAX - 3
        }
    );
}

#[test]
fn r12_string_table_has_any_length() {
    // The string table is bytes: its length need not be a multiple of 4.
    for version in ["1", "12", "123", "1234"] {
        let mut spec = regression(1);
        spec.provenance.model_version = version.into();
        spec.provenance.model_name = None;
        let v = write_vec(&spec);
        assert_eq!(section_len(&v, 1), 4 + 8 + version.len());
        parse(&v).unwrap();
    }
}

#[test]
fn r13_bad_padding() {
    let v = write_vec(&base());
    // A non-zero byte between the manifest (144 bytes) and the string table.
    let m_end = section_offset(&v, 0) + section_len(&v, 0);
    assert_ne!(m_end % 64, 0);
    let e = broken(&base(), |v| v[m_end] = 0xAA);
    assert_eq!(
        e,
        FormatError::BadPadding {
            offset: m_end as u64
        }
    );
    let e = broken(&base(), |v| v[m_end.div_ceil(64) * 64 - 1] = 1);
    assert_eq!(
        e,
        FormatError::BadPadding {
            offset: (m_end.div_ceil(64) * 64 - 1) as u64
        }
    );
    // Bytes after the last section (length field updated, so R5 holds).
    let len = v.len();
    let e = broken(&base(), |v| {
        v.extend_from_slice(&[0; 8]);
        put_u64(v, 16, len as u64 + 8);
    });
    assert_eq!(e, FormatError::BadPadding { offset: len as u64 });
}

#[test]
fn r14_bad_section_role() {
    // The manifest index names the string table, or nothing.
    let e = broken(&base(), |v| put_u32(v, 28, 1));
    assert_eq!(e, FormatError::BadSectionRole { index: 1 });
    let e = broken(&base(), |v| put_u32(v, 28, 99));
    assert_eq!(e, FormatError::BadSectionRole { index: 99 });
    let e = broken(&base(), |v| put_u32(v, 28, NONE));
    assert_eq!(e, FormatError::BadSectionRole { index: NONE });
    // The string-table index names a tensor.
    let e = broken(&base(), |v| put_u32(v, 32, 2));
    assert_eq!(e, FormatError::BadSectionRole { index: 2 });
    // A string table the header does not name.
    let e = broken(&base(), |v| put_u32(v, 32, NONE));
    assert_eq!(e, FormatError::BadSectionRole { index: 1 });
    // A second manifest (section 2 relabelled; 12 bytes is 3 whole words).
    let e = broken(&base(), |v| {
        put_u32(v, entry(2), 1);
        put_u32(v, entry(2) + 4, 0);
    });
    assert_eq!(e, FormatError::BadSectionRole { index: 2 });
    // A second string table.
    let e = broken(&base(), |v| {
        put_u32(v, entry(3), 2);
        put_u32(v, entry(3) + 4, 0);
    });
    assert_eq!(e, FormatError::BadSectionRole { index: 3 });
}

/// Rewrites the string-table section of `spec`'s file with `f` and lays the file out again.
fn broken_strings(spec: &ModelSpec, f: impl FnOnce(&mut Vec<u8>)) -> FormatError {
    let mut parts = Parts::of(&write_vec(spec));
    f(&mut parts.sections[parts.strings as usize].2);
    parse(&parts.assemble()).expect_err("the patched file must be refused")
}

#[test]
fn r15_bad_string_table() {
    let bad = |reason| FormatError::BadStringTable { reason };
    // base: 8 strings, so 9 offsets at bytes 4..40, then the data
    // "sepalpetalé" "abc" "1.0" "iris" ('é' is 2 bytes, at data bytes 10..12).
    let e = broken_strings(&base(), |s| s.truncate(3));
    assert_eq!(e, bad("shorter than its count field"));
    let e = broken_strings(&base(), |s| s.truncate(39));
    assert_eq!(e, bad("offsets run past the section"));
    let e = broken_strings(&base(), |s| put_u32(s, 0, 1_000_000));
    assert_eq!(e, bad("offsets run past the section"));
    let e = broken_strings(&base(), |s| put_u32(s, 4, 1));
    assert_eq!(e, bad("first offset is not 0"));
    // Offsets are [0, 5, 10, 12, 13, 14, 15, 18, 22]; offset i is at byte 4 + 4 i.
    let e = broken_strings(&base(), |s| put_u32(s, 12, 4));
    assert_eq!(e, bad("offsets decrease"));
    let e = broken_strings(&base(), |s| put_u32(s, 12, 11)); // inside 'é'
    assert_eq!(e, bad("offset is not on a character boundary"));
    let e = broken_strings(&base(), |s| put_u32(s, 36, 1000));
    assert_eq!(e, bad("offset is not on a character boundary"));
    let e = broken_strings(&base(), |s| s.push(b'x'));
    assert_eq!(e, bad("last offset is not the end of the data"));
    let e = broken_strings(&base(), |s| {
        let n = s.len();
        s[n - 1] = 0xFF;
    });
    assert_eq!(e, bad("string data is not UTF-8"));
    let e = broken_strings(&base(), |s| s.clear());
    assert_eq!(e, bad("shorter than its count field"));
}

#[test]
fn r16_string_out_of_range() {
    // model_version names string 1000 of 8.
    let e = broken(&base(), |v| set_word(v, w::MODEL_VERSION, 1000));
    assert_eq!(e, FormatError::StringOutOfRange { index: 1000 });
    // model_version is mandatory: NONE is out of range too.
    let e = broken(&base(), |v| set_word(v, w::MODEL_VERSION, NONE));
    assert_eq!(e, FormatError::StringOutOfRange { index: NONE });
    // The 3 feature names starting at 6 run past the 8 strings.
    let e = broken(&base(), |v| set_word(v, w::FEATURE_NAMES, 6));
    assert_eq!(e, FormatError::StringOutOfRange { index: 6 });
    // Likewise the 3 labels, and a label list of NONE.
    let e = broken(&base(), |v| set_word(v, w::LABELS_FIRST, u32::MAX - 1));
    assert_eq!(
        e,
        FormatError::StringOutOfRange {
            index: u32::MAX - 1
        }
    );
    let e = broken(&base(), |v| set_word(v, w::LABELS_FIRST, NONE));
    assert_eq!(e, FormatError::StringOutOfRange { index: NONE });
    // No string table at all. regression(1)'s manifest: INPUT 0..5, OUTPUT 5..11,
    // PROVENANCE 11..18 (model_version at 13), STAGE linear 18..25 (coef 23, intercept 24).
    let mut parts = Parts::of(&write_vec(&regression(1)));
    parts.sections.remove(1);
    parts.strings = NONE;
    let mut words = parts.manifest_words();
    assert_eq!(&words[11..14], &[3, 5, 0]);
    assert_eq!(&words[23..], &[2, 3]);
    words[23] = 1; // the tensors move down one section
    words[24] = 2;
    parts.set_manifest_words(&words);
    assert_eq!(
        parse(&parts.assemble()),
        Err(FormatError::StringOutOfRange { index: 0 })
    );
}

#[test]
fn r17_truncated_manifest() {
    // The last record declares 3 payload words; only 2 remain.
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, 3));
    assert_eq!(e, FormatError::TruncatedManifest);
    // A record declaring u32::MAX words.
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, u32::MAX));
    assert_eq!(e, FormatError::TruncatedManifest);
    // The manifest ends between a record's tag and its length.
    let e = broken_manifest(&base(), |m| m.push(4));
    assert_eq!(e, FormatError::TruncatedManifest);
    // The manifest ends inside a record.
    let e = broken_manifest(&base(), |m| {
        m.pop();
    });
    assert_eq!(e, FormatError::TruncatedManifest);
}

#[test]
fn r18_unknown_record() {
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 7));
    assert_eq!(e, FormatError::UnknownRecord { tag: 7 });
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 0));
    assert_eq!(e, FormatError::UnknownRecord { tag: 0 });
    let e = broken_manifest(&base(), |m| m.extend([5, 0]));
    assert_eq!(e, FormatError::UnknownRecord { tag: 5 });
}

#[test]
fn r19_record_order() {
    // OUTPUT first.
    let e = broken(&base(), |v| set_word(v, w::INPUT_TAG, 2));
    assert_eq!(e, FormatError::RecordOrder { tag: 2 });
    // No STAGE record: the manifest ends after PROVENANCE.
    let e = broken_manifest(&base(), |m| m.truncate(w::SCALER.start));
    assert_eq!(e, FormatError::RecordOrder { tag: 0 });
    // A second INPUT after the stages.
    let e = broken_manifest(&base(), |m| m.extend([1, 3, 3, 0, NONE]));
    assert_eq!(e, FormatError::RecordOrder { tag: 1 });
    // An empty manifest.
    let e = broken_manifest(&base(), |m| m.clear());
    assert_eq!(e, FormatError::RecordOrder { tag: 0 });
}

#[test]
fn r20_record_length() {
    let e = broken(&base(), |v| set_word(v, w::INPUT_LEN, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 1, found: 4 });
    // OUTPUT with string labels is 5 words, not 4 (nor 6).
    let e = broken(&base(), |v| set_word(v, w::OUTPUT_LEN, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 4 });
    let e = broken(&base(), |v| set_word(v, w::OUTPUT_LEN, 3));
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 3 });
    // OUTPUT with integer labels is 4 + 2 * n_outputs words: 10 for int_classes.
    let e = broken_manifest(&int_classes(), |m| {
        assert_eq!(m[6], 10);
        m[6] = 9;
        m.remove(11);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 9 });
    // OUTPUT without labels is 4 words.
    let e = broken_manifest(&regression(1), |m| {
        m[6] = 5;
        m.insert(11, 0);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 2, found: 5 });
    // PROVENANCE is 5 words.
    let e = broken_manifest(&base(), |m| {
        m[13] = 6;
        m.insert(19, NONE);
    });
    assert_eq!(e, FormatError::RecordLength { tag: 3, found: 6 });
    // STAGE: standard_scaler 4, linear 5, post 2; 0 is never a stage.
    let e = broken(&base(), |v| set_word(v, w::SCALER.start + 1, 5));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 5 });
    let e = broken(&base(), |v| set_word(v, w::LINEAR.start + 1, 4));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 4 });
    let e = broken(&base(), |v| set_word(v, w::POST_LEN, 1));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 1 });
    let e = broken_manifest(&base(), |m| m.extend([4, 0]));
    assert_eq!(e, FormatError::RecordLength { tag: 4, found: 0 });
}

#[test]
fn r21_unknown_value() {
    let unknown = |field, value| FormatError::UnknownValue { field, value };
    let e = broken(&base(), |v| set_word(v, w::MISSING, 2));
    assert_eq!(e, unknown("missing", 2));
    let e = broken(&base(), |v| set_word(v, w::TASK, 0));
    assert_eq!(e, unknown("task", 0));
    let e = broken(&base(), |v| set_word(v, w::TASK, 4));
    assert_eq!(e, unknown("task", 4));
    let e = broken(&base(), |v| set_word(v, w::LABEL_KIND, 3));
    assert_eq!(e, unknown("label_kind", 3));
    let e = broken(&base(), |v| set_word(v, w::SCALER_KIND, 13));
    assert_eq!(e, unknown("stage_kind", 13));
    let e = broken(&base(), |v| set_word(v, w::SCALER_KIND, 0));
    assert_eq!(e, unknown("stage_kind", 0));
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 7));
    assert_eq!(e, unknown("post_transform", 7));
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 0));
    assert_eq!(e, unknown("post_transform", 0));
}

#[test]
fn r22_bad_dimension() {
    let bad = |field, value| FormatError::BadDimension { field, value };
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, 0));
    assert_eq!(e, bad("n_features", 0));
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, MAX_DIM + 1));
    assert_eq!(e, bad("n_features", MAX_DIM + 1));
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, 0));
    assert_eq!(e, bad("n_outputs", 0));
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, u32::MAX));
    assert_eq!(e, bad("n_outputs", u32::MAX));
    let e = broken(&base(), |v| set_word(v, w::SCALER_WIDTH, 0));
    assert_eq!(e, bad("width", 0));
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_IN, MAX_DIM + 1));
    assert_eq!(e, bad("n_in", MAX_DIM + 1));
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_OUT, 0));
    assert_eq!(e, bad("n_out", 0));
}

#[test]
fn r23_bad_tensor_ref() {
    let bad = |stage, section, reason| FormatError::BadTensorRef {
        stage,
        section,
        reason,
    };
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, 99));
    assert_eq!(e, bad(0, 99, "no such section"));
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, NONE));
    assert_eq!(e, bad(0, NONE, "no such section"));
    let e = broken(&base(), |v| set_word(v, w::SCALER_SCALE, 1));
    assert_eq!(e, bad(0, 1, "not a tensor"));
    // Section 2 relabelled u32 (a valid dtype, not the f32 a scaler needs).
    let e = broken(&base(), |v| put_u32(v, entry(2) + 4, 2));
    assert_eq!(e, bad(0, 2, "dtype is not f32"));
    // The mean names the 9-element coef tensor, for a width of 3.
    let e = broken(&base(), |v| set_word(v, w::SCALER_MEAN, 4));
    assert_eq!(e, bad(0, 4, "element count does not match the shape"));
    // n_out 1: the 9 coefficients fit no 3 x 1 matrix.
    let e = broken(&base(), |v| set_word(v, w::LINEAR_N_OUT, 1));
    assert_eq!(e, bad(1, 4, "element count does not match the shape"));
    // The scaler's width disagrees with its tensors.
    let e = broken(&base(), |v| set_word(v, w::SCALER_WIDTH, 2));
    assert_eq!(e, bad(0, 2, "element count does not match the shape"));
}

#[test]
fn r24_unreferenced_section() {
    // The scale names the mean's section: section 3 is referenced by no stage.
    let e = broken(&base(), |v| set_word(v, w::SCALER_SCALE, 2));
    assert_eq!(e, FormatError::UnreferencedSection { index: 3 });
    // An extra tensor at the end (hidden data).
    let mut parts = Parts::of(&write_vec(&base()));
    parts.sections.push((3, 1, vec![0; 16]));
    assert_eq!(
        parse(&parts.assemble()),
        Err(FormatError::UnreferencedSection { index: 6 })
    );
    // ...of any dtype, even one no v1.0 stage uses.
    let mut parts = Parts::of(&write_vec(&base()));
    parts.sections.push((3, 4, vec![0; 16]));
    assert_eq!(
        parse(&parts.assemble()),
        Err(FormatError::UnreferencedSection { index: 6 })
    );
}

#[test]
fn r24_shared_tensor_is_allowed() {
    // Two references to one section are allowed (R24 asks for at least one).
    let mut parts = Parts::of(&write_vec(&base()));
    let mut words = parts.manifest_words();
    words[w::SCALER_SCALE] = 2;
    parts.set_manifest_words(&words);
    parts.sections.remove(3);
    let mut words = parts.manifest_words();
    for r in &mut words[w::LINEAR.start + 5..w::LINEAR.end] {
        *r -= 1; // coef and intercept move down from 4, 5 to 3, 4
    }
    parts.set_manifest_words(&words);
    let v = parts.assemble();
    let buf = AlignedBuf::copy_from(&v);
    let apr = Apr::parse_verified(&buf).unwrap();
    match apr.stages()[0] {
        Stage::StandardScaler { mean, scale } => assert_eq!(mean, scale),
        _ => panic!("first stage is the scaler"),
    }
}

#[test]
fn r25_bad_pipeline() {
    let bad = |stage, reason| FormatError::BadPipeline { stage, reason };
    // No estimator: the manifest keeps only the scaler.
    let e = broken_manifest(&base(), |m| m.truncate(w::SCALER.end));
    assert_eq!(e, bad(1, "no estimator"));
    // The scaler after the linear estimator.
    let e = broken_manifest(&base(), |m| {
        let scaler: Vec<u32> = m[w::SCALER].to_vec();
        m.drain(w::SCALER);
        m.splice(w::SCALER.start + 7..w::SCALER.start + 7, scaler);
    });
    assert_eq!(e, bad(1, "stage comes after a later role"));
    // Two estimators (both naming the same tensors).
    let e = broken_manifest(&base(), |m| {
        let linear: Vec<u32> = m[w::LINEAR].to_vec();
        m.splice(w::LINEAR.end..w::LINEAR.end, linear);
    });
    assert_eq!(e, bad(2, "more than one estimator"));
    // Two post transforms.
    let e = broken_manifest(&base(), |m| m.extend([4, 2, 3, 1]));
    assert_eq!(e, bad(3, "more than one post transform"));
    // binary_logistic on 3 scores.
    let e = broken(&base(), |v| set_word(v, w::POST_CODE, 2));
    assert_eq!(e, bad(2, "binary_logistic takes exactly one score"));
    // softmax / ovr_normalize on one score.
    let spec = binary(Some(PostTransform::BinaryLogistic));
    let last = last_word(&spec);
    for code in [3, 4] {
        let e = broken(&spec, |v| set_word(v, last, code));
        assert_eq!(
            e,
            bad(1, "softmax and ovr_normalize take two scores or more")
        );
    }
}

#[test]
fn r26_width_mismatch() {
    // 2 features in, a scaler of width 3.
    let e = broken(&base(), |v| set_word(v, w::N_FEATURES, 2));
    assert_eq!(
        e,
        FormatError::WidthMismatch {
            stage: 0,
            expected: 2,
            found: 3
        }
    );
    // 3 features in, a linear stage taking 2.
    let e = broken(&regression(1), |v| set_word(v, w::N_FEATURES, 3));
    assert_eq!(
        e,
        FormatError::WidthMismatch {
            stage: 0,
            expected: 3,
            found: 2
        }
    );
}

#[test]
fn r27_bad_output() {
    let bad = |reason| FormatError::BadOutput { reason };
    // A regression with labels.
    let e = broken(&base(), |v| set_word(v, w::TASK, 1));
    assert_eq!(e, bad("a regression has no class labels"));
    // A regression whose n_outputs is not the pipeline's width.
    let e = broken(&regression(2), |v| set_word(v, w::N_OUTPUTS, 3));
    assert_eq!(e, bad("n_outputs differs from the pipeline's output width"));
    // A classifier of one class.
    let e = broken(&regression(1), |v| set_word(v, w::TASK, 2));
    assert_eq!(e, bad("a classifier has two classes or more"));
    // 2 classes for 3 scores.
    let e = broken(&base(), |v| set_word(v, w::N_OUTPUTS, 2));
    assert_eq!(
        e,
        bad("the number of classes differs from the pipeline's output width")
    );
    // One score for 2 classes is a binary decision function only without a post transform.
    let spec = binary(Some(PostTransform::BinaryLogistic));
    let last = last_word(&spec);
    let e = broken(&spec, |v| set_word(v, last, 1));
    assert_eq!(
        e,
        bad("the number of classes differs from the pipeline's output width")
    );
    // A classifier without labels.
    let e = broken(&regression(2), |v| set_word(v, w::TASK, 2));
    assert_eq!(e, bad("a classifier needs class labels"));
    // Duplicate labels: integer (word 11 is the low half of label 0)...
    let e = broken(&binary(None), |v| {
        set_word(v, 11, 1);
        set_word(v, 12, 0);
    });
    assert_eq!(e, bad("class labels are not distinct"));
    // ...and string ("a", "b", "c" -> "a", "a", "c": same lengths, so only the bytes change).
    let e = broken_strings(&base(), |s| {
        let at = s.windows(3).position(|x| x == b"abc").unwrap();
        s[at + 1] = b'a';
    });
    assert_eq!(e, bad("class labels are not distinct"));
}

#[test]
fn r28_unaligned() {
    let v = write_vec(&base());
    for k in 1..8 {
        let mut shifted = vec![0u8; k];
        shifted.extend_from_slice(&v);
        let buf = AlignedBuf::copy_from(&shifted);
        let e = Apr::parse(&buf[k..]).unwrap_err();
        assert_eq!(e, FormatError::Unaligned { misalignment: k });
        assert_eq!(Apr::parse_verified(&buf[k..]).unwrap_err(), e);
    }
    // R1 comes first.
    let buf = AlignedBuf::copy_from(&v);
    assert_eq!(
        Apr::parse(&buf[1..40]).unwrap_err(),
        FormatError::TooShort { len: 39 }
    );
}

#[test]
fn writer_invalid_spec() {
    let invalid = |reason| FormatError::InvalidSpec { reason };
    let mut spec = base();
    spec.input.feature_names = Some(strings(&["a", "b"]));
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("feature_names does not have n_features entries")
    );
    let mut spec = base();
    spec.output.output_names = Some(vec![]);
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("output_names does not have n_outputs entries")
    );
    let mut spec = base();
    spec.output.labels = LabelsSpec::Str(strings(&["a", "b", "c", "d"]));
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("labels does not have n_outputs entries")
    );
    let mut spec = binary(None);
    spec.output.labels = LabelsSpec::Int(vec![1]);
    assert_eq!(
        write(&spec).unwrap_err(),
        invalid("labels does not have n_outputs entries")
    );
    // A spec breaking a format rule comes back with that rule's error.
    let mut spec = base();
    spec.stages.swap(0, 1);
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadPipeline {
            stage: 1,
            reason: "stage comes after a later role"
        }
    );
    let mut spec = regression(1);
    spec.input.n_features = 0;
    assert_eq!(
        write(&spec).unwrap_err(),
        FormatError::BadDimension {
            field: "n_features",
            value: 0
        }
    );
}

#[test]
fn every_error_displays() {
    let e = broken(&base(), |v| set_word(v, w::TASK, 4));
    assert_eq!(e.to_string(), "unknown value 4 for task");
    assert!(FormatError::Unaligned { misalignment: 4 }
        .to_string()
        .contains("AlignedBuf"));
}

// ---------------------------------------------------------------------------------------------
// Positive tests.

#[test]
fn valid_files_round_trip() {
    for spec in [
        base(),
        regression(1),
        regression(4),
        binary(None),
        binary(Some(PostTransform::BinaryLogistic)),
        int_classes(),
    ] {
        let buf = write(&spec).unwrap();
        let apr = Apr::parse_verified(&buf).unwrap();
        assert_eq!(apr.to_spec(), spec);
        assert_eq!(write_to_vec(&spec).unwrap(), buf.to_vec());
        assert_eq!(buf.len() as u64, get_u64(&buf, 16));
        // A binary decision function has one score for two classes.
        let width = if spec == binary(None) {
            1
        } else {
            spec.output.n_outputs
        };
        assert_eq!(apr.output_width(), width);
    }
}

#[test]
fn accessors_view_in_place() {
    let buf = write(&base()).unwrap();
    let apr = Apr::parse_verified(&buf).unwrap();
    assert_eq!(apr.bytes().as_ptr(), buf.as_ptr());
    assert_eq!(apr.sections().len(), 6);
    for s in apr.sections() {
        assert_eq!(s.offset % ALIGN, 0);
    }
    assert_eq!(apr.strings().len(), 8);
    assert_eq!(apr.strings().get(2), Some("é"));
    assert_eq!(apr.strings().get(8), None);
    let names = apr.input().feature_names.unwrap();
    assert_eq!(names.iter().collect::<Vec<_>>(), ["sepal", "petal", "é"]);
    assert_eq!(names.get(3), None);
    match &apr.output().labels {
        Labels::Str(l) => assert_eq!(l.to_vec(), ["a", "b", "c"]),
        other => panic!("string labels expected, got {other:?}"),
    }
    assert_eq!(apr.provenance().model_version, "1.0");
    assert_eq!(apr.provenance().model_name, Some("iris"));
    let names: Vec<&str> = apr.stages().iter().map(Stage::name).collect();
    assert_eq!(names, ["standard_scaler", "linear", "softmax"]);
    let roles: Vec<Role> = apr.stages().iter().map(Stage::role).collect();
    assert_eq!(
        roles,
        [Role::Preprocessor, Role::Estimator, Role::Postprocessor]
    );
    match apr.stages()[1] {
        Stage::Linear { coef, .. } => {
            // The weights are viewed in the buffer, not copied.
            let coef_at = coef.as_ptr() as usize - buf.as_ptr() as usize;
            assert_eq!(coef_at as u64, apr.sections()[4].offset);
        }
        _ => panic!("second stage is linear"),
    }
    assert_eq!(apr.output_width(), 3);
}

#[test]
fn model_bytes_copies_only_unaligned_input() {
    let v = write_vec(&base());
    let mut shifted = vec![0u8; 3];
    shifted.extend_from_slice(&v);
    let holder = AlignedBuf::copy_from(&shifted);
    let unaligned = &holder[3..];
    assert!(!is_aligned(unaligned));
    let mb = ModelBytes::new(unaligned);
    assert!(mb.is_copy());
    assert!(is_aligned(mb.as_slice()));
    assert_eq!(mb.as_slice(), &v[..]);
    assert_eq!(
        Apr::parse_verified(mb.as_slice()).unwrap().to_spec(),
        base()
    );

    let aligned = AlignedBuf::copy_from(&v);
    let mb = ModelBytes::new(&aligned);
    assert!(!mb.is_copy());
    assert_eq!(mb.as_slice().as_ptr(), aligned.as_ptr());
    Apr::parse_verified(mb.as_slice()).unwrap();

    let s = aligned_static(Box::leak(shifted.into_boxed_slice()).get(3..).unwrap());
    assert!(is_aligned(s));
    Apr::parse_verified(s).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The committed file `tests/data/tiny.apr`.

/// The spec of `tests/data/tiny.apr`: 2 features, linear 2 -> 1, binary logistic.
fn tiny() -> ModelSpec {
    ModelSpecBuilder::new(2)
        .feature_names(Some(strings(&["x", "y"])))
        .classifier(LabelsSpec::Str(strings(&["no", "yes"])))
        .provenance(ProvenanceSpec {
            model_version: "tiny-1".into(),
            model_name: Some("tiny".into()),
            source_format: Some("hand-written".into()),
            converter: Some("icebreak-format tests".into()),
            source_sha256: None,
        })
        .stage(StageSpec::Linear {
            n_in: 2,
            n_out: 1,
            coef: vec![1.5, -2.0],
            intercept: vec![0.25],
        })
        .stage(StageSpec::Post(PostTransform::BinaryLogistic))
        .build()
}

static TINY: &[u8] = include_model!("../data/tiny.apr");

/// The committed file is what the writer writes today. To regenerate it after a deliberate
/// format change: `ICEBREAK_BLESS=1 cargo test -p icebreak-format --test format tiny`.
#[test]
fn tiny_apr_is_current() {
    let now = write_to_vec(&tiny()).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny.apr");
    if std::env::var_os("ICEBREAK_BLESS").is_some() {
        std::fs::write(path, &now).unwrap();
    }
    let on_disk = std::fs::read(path).unwrap();
    assert!(
        on_disk == now,
        "tests/data/tiny.apr differs from the writer's output"
    );
    assert!(TINY == &now[..] || std::env::var_os("ICEBREAK_BLESS").is_some());
}

#[test]
fn include_model_is_64_byte_aligned() {
    assert_eq!(TINY.as_ptr() as usize % 64, 0);
    assert!(is_aligned(TINY));
    let apr = Apr::parse_verified(TINY).unwrap();
    assert_eq!(apr.to_spec(), tiny());
    assert!(!ModelBytes::new(TINY).is_copy());
    assert_eq!(aligned_static(TINY).as_ptr(), TINY.as_ptr());
}

// ---------------------------------------------------------------------------------------------
// The families beyond linear models and trees: R30-R34, and R21/R25/R27 for their stages.

/// `n` features, no names, a pipeline of `stages`, `task` with `n_outputs` outputs; a
/// classification gets integer labels `0..n_outputs`.
fn family(n: u32, stages: Vec<StageSpec>, task: Task, n_outputs: u32) -> ModelSpec {
    ModelSpecBuilder::new(n)
        .missing(MissingValues::Nan)
        .task_with_labels(task, n_outputs)
        .provenance(provenance("f"))
        .stages(stages)
        .build()
}

/// Imputer, min-max scaler, normalizer, whitening PCA 3 -> 2: a transformer.
fn transformer() -> ModelSpec {
    family(
        3,
        vec![
            StageSpec::Imputer {
                missing: f32::NAN,
                fill: vec![0.5, 1.0, -2.0],
            },
            StageSpec::MinMaxScaler {
                scale: vec![1.0, 2.0, 0.5],
                min: vec![0.0, -1.0, 0.25],
            },
            StageSpec::Normalizer {
                width: 3,
                norm: Norm::L2,
            },
            StageSpec::Pca {
                n_in: 3,
                n_out: 2,
                mean: vec![0.1, 0.2, 0.3],
                components: vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.8],
                whiten: Some(vec![2.0, 0.5]),
            },
        ],
        Task::Transform,
        2,
    )
}

/// An SVC over 2 features, 3 classes with 1, 2 and 1 support vectors, rbf, probabilities.
fn svc_spec() -> SvmSpec {
    SvmSpec {
        n_in: 2,
        n_classes: 3,
        kernel: Kernel::Rbf { gamma: 0.5 },
        n_support: vec![1, 2, 1],
        support_vectors: vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, -1.0, 0.5],
        coef: vec![1.0, 0.5, -0.5, 1.0, -1.0, 0.25, 0.75, -0.25],
        intercept: vec![0.1, -0.2, 0.3],
        prob_a: vec![-1.5, -2.0, -1.0],
        prob_b: vec![0.1, 0.0, -0.1],
    }
}

fn svc(m: SvmSpec) -> ModelSpec {
    let k = m.n_classes;
    let task = if k >= 2 {
        Task::Classification
    } else {
        Task::Regression
    };
    family(2, vec![StageSpec::Svm(m)], task, k)
}

fn svr_spec() -> SvmSpec {
    SvmSpec {
        n_in: 2,
        n_classes: 1,
        kernel: Kernel::Poly {
            gamma: 0.5,
            coef0: 1.0,
            degree: 3,
        },
        n_support: Vec::new(),
        support_vectors: vec![0.0, 1.0, 1.0, 0.0],
        coef: vec![0.5, -0.5],
        intercept: vec![2.0],
        prob_a: Vec::new(),
        prob_b: Vec::new(),
    }
}

fn naive_bayes() -> ModelSpec {
    family(
        2,
        vec![
            StageSpec::GaussianNb {
                n_in: 2,
                n_classes: 2,
                theta: vec![0.0, 1.0, 2.0, 3.0],
                var: vec![1.0, 0.5, 2.0, 0.25],
                log_prior: vec![-0.5, -1.0],
                log_norm: vec![-1.2, -0.7],
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        2,
    )
}

/// An MLP 2 -> 3 (relu) -> 3, softmax.
fn mlp() -> ModelSpec {
    family(
        2,
        vec![
            StageSpec::Dense {
                n_in: 2,
                n_out: 3,
                activation: Activation::Relu,
                weights: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                bias: vec![0.0, 0.5, -0.5],
            },
            StageSpec::Dense {
                n_in: 3,
                n_out: 3,
                activation: Activation::Identity,
                weights: vec![1.0; 9],
                bias: vec![0.0; 3],
            },
            StageSpec::Post(PostTransform::Softmax),
        ],
        Task::Classification,
        3,
    )
}

fn kmeans(k: u32, n_outputs: u32) -> ModelSpec {
    family(
        2,
        vec![StageSpec::KMeans {
            n_in: 2,
            k,
            centers: (0..2 * k).map(|i| i as f32).collect(),
        }],
        Task::Classification,
        n_outputs,
    )
}

/// The index of the kind word of the first STAGE record of `kind`.
fn stage_word(words: &[u32], kind: u32) -> usize {
    let mut i = 0;
    while i + 2 < words.len() {
        if words[i] == 4 && words[i + 2] == kind {
            return i + 2;
        }
        i += 2 + words[i + 1] as usize;
    }
    panic!("no stage of kind {kind}")
}

fn write_err(spec: &ModelSpec) -> FormatError {
    write(spec).expect_err("the writer must refuse this spec")
}

#[test]
fn families_round_trip() {
    let mut nusvr = svr_spec();
    nusvr.kernel = Kernel::Sigmoid {
        gamma: 0.1,
        coef0: -1.0,
    };
    let mut binary = svc_spec();
    binary.n_classes = 2;
    binary.n_support = vec![2, 2];
    binary.coef.truncate(4);
    binary.intercept.truncate(1);
    binary.prob_a.clear();
    binary.prob_b.clear();
    binary.kernel = Kernel::Linear;
    for spec in [
        transformer(),
        svc(svc_spec()),
        svc(svr_spec()),
        svc(nusvr),
        svc(binary),
        naive_bayes(),
        mlp(),
        kmeans(3, 3),
    ] {
        let buf = write(&spec).unwrap();
        let apr = Apr::parse_verified(&buf).unwrap();
        assert_eq!(format!("{:?}", apr.to_spec()), format!("{spec:?}"));
        assert_eq!(write_to_vec(&apr.to_spec()).unwrap(), buf.to_vec());
    }
    let apr_buf = write(&transformer()).unwrap();
    let apr = Apr::parse(&apr_buf).unwrap();
    let names: Vec<_> = apr.stages().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["imputer", "min_max_scaler", "normalizer", "pca"]);
    assert!(apr.stages().iter().all(|s| s.role() == Role::Preprocessor));
    assert_eq!(apr.output_width(), 2);
    assert!(matches!(
        apr.stages()[3],
        Stage::Pca {
            whiten: Some([2.0, 0.5]),
            ..
        }
    ));
}

#[test]
fn r30_bad_imputer() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut spec = transformer();
        spec.stages[0] = StageSpec::Imputer {
            missing: f32::NAN,
            fill: vec![0.0, bad, 1.0],
        };
        assert_eq!(
            write_err(&spec),
            FormatError::BadImputer { stage: 0, index: 1 }
        );
    }
    // The missing marker may be any value: a number marks missing entries by equality.
    let mut spec = transformer();
    spec.stages[0] = StageSpec::Imputer {
        missing: -1.0,
        fill: vec![0.0; 3],
    };
    write(&spec).unwrap();
}

#[test]
fn r31_bad_pca() {
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut spec = transformer();
        if let StageSpec::Pca { whiten, .. } = &mut spec.stages[3] {
            *whiten = Some(vec![1.0, bad]);
        }
        assert_eq!(write_err(&spec), FormatError::BadPca { stage: 3, index: 1 });
    }
}

#[test]
fn r32_bad_svm() {
    let bad = |index, reason| FormatError::BadSvm {
        stage: 0,
        index,
        reason,
    };
    let mut m = svc_spec();
    m.n_support = vec![1, 1, 1];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "per-class support counts do not add up to n_sv")
    );
    let mut m = svc_spec();
    m.n_support = vec![u32::MAX, 2, 3];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "per-class support counts do not add up to n_sv")
    );
    let mut m = svc_spec();
    m.coef[5] = f64::NAN;
    assert_eq!(write_err(&svc(m)), bad(5, "dual coefficient is not finite"));
    let mut m = svc_spec();
    m.intercept[2] = f64::INFINITY;
    assert_eq!(write_err(&svc(m)), bad(2, "intercept is not finite"));
    let mut m = svc_spec();
    m.prob_a[1] = f64::NAN;
    assert_eq!(write_err(&svc(m)), bad(1, "prob_a is not finite"));
    let mut m = svc_spec();
    m.prob_b[0] = f64::NEG_INFINITY;
    assert_eq!(write_err(&svc(m)), bad(0, "prob_b is not finite"));
    let mut m = svc_spec();
    m.prob_b.clear();
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "prob_a and prob_b come together")
    );
    let mut m = svr_spec();
    m.prob_a = vec![1.0];
    m.prob_b = vec![1.0];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "a regressor has no probabilities")
    );
    let mut m = svr_spec();
    m.n_support = vec![2];
    assert_eq!(
        write_err(&svc(m)),
        bad(0, "a regressor has no per-class support counts")
    );
    let mut m = svc_spec();
    m.kernel = Kernel::Rbf { gamma: f64::NAN };
    assert_eq!(write_err(&svc(m)), bad(0, "kernel parameter is not finite"));
    let mut m = svr_spec();
    m.kernel = Kernel::Sigmoid {
        gamma: 1.0,
        coef0: f64::INFINITY,
    };
    assert_eq!(write_err(&svc(m)), bad(0, "kernel parameter is not finite"));
    // A parameter the kernel does not use must be zero: degree 3 on an rbf kernel.
    let e = broken_manifest(&svc(svc_spec()), |w| {
        let k = stage_word(w, 10);
        w[k + 5] = 3;
    });
    assert_eq!(e, bad(0, "a parameter the kernel does not use is not zero"));
    // An svm classifier answers a classification over its classes.
    let mut spec = svc(svc_spec());
    spec.output.task = Task::Regression;
    spec.output.labels = LabelsSpec::None;
    spec.output.n_outputs = 3;
    assert_eq!(
        write_err(&spec),
        bad(
            0,
            "an svm classifier needs a classification over its classes, a regressor a regression"
        )
    );
    let mut spec = svc(svr_spec());
    spec.output.task = Task::Classification;
    spec.output.n_outputs = 2;
    spec.output.labels = LabelsSpec::Int(vec![0, 1]);
    assert_eq!(
        write_err(&spec),
        bad(
            0,
            "an svm classifier needs a classification over its classes, a regressor a regression"
        )
    );
}

#[test]
fn r33_bad_naive_bayes() {
    let bad = |index, reason| FormatError::BadNaiveBayes {
        stage: 0,
        index,
        reason,
    };
    type Patch<'f> = &'f dyn Fn(&mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>, &mut Vec<f64>);
    let patch = |f: Patch<'_>| {
        let mut spec = naive_bayes();
        if let StageSpec::GaussianNb {
            theta,
            var,
            log_prior,
            log_norm,
            ..
        } = &mut spec.stages[0]
        {
            f(theta, var, log_prior, log_norm);
        }
        write_err(&spec)
    };
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            patch(&|_, var, _, _| var[2] = v),
            bad(2, "variance is not finite and positive")
        );
    }
    assert_eq!(
        patch(&|t, _, _, _| t[3] = f64::NAN),
        bad(3, "mean is not finite")
    );
    assert_eq!(
        patch(&|_, _, p, _| p[1] = f64::NEG_INFINITY),
        bad(1, "log prior is not finite")
    );
    assert_eq!(
        patch(&|_, _, _, n| n[0] = f64::INFINITY),
        bad(0, "normaliser is not finite")
    );
}

#[test]
fn r34_bad_transform() {
    let bad = |reason| FormatError::BadTransform { reason };
    let mut spec = transformer();
    spec.output.labels = LabelsSpec::Int(vec![1, 2]);
    assert_eq!(write_err(&spec), bad("a transformer has no class labels"));
    let mut spec = transformer();
    spec.output.n_outputs = 3;
    assert_eq!(
        write_err(&spec),
        bad("n_outputs differs from the pipeline's output width")
    );
    let mut spec = transformer();
    spec.stages.push(StageSpec::Linear {
        n_in: 2,
        n_out: 2,
        coef: vec![1.0; 4],
        intercept: vec![0.0; 2],
    });
    assert_eq!(write_err(&spec), bad("a transformer has no estimator"));
    let mut spec = transformer();
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(write_err(&spec), bad("a transformer has no post transform"));
    // Without the transform task, a pipeline of preprocessors has no estimator (R25).
    let mut spec = transformer();
    spec.output.task = Task::Regression;
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 4,
            reason: "no estimator"
        }
    );
}

#[test]
fn r21_unknown_values_of_the_new_stages() {
    let unknown = |field, value| FormatError::UnknownValue { field, value };
    let e = broken_manifest(&transformer(), |w| {
        let k = stage_word(w, 6);
        w[k + 2] = 4;
    });
    assert_eq!(e, unknown("normalizer.norm", 4));
    let e = broken_manifest(&mlp(), |w| {
        let k = stage_word(w, 9);
        w[k + 3] = 4;
    });
    assert_eq!(e, unknown("dense.activation", 4));
    let e = broken_manifest(&svc(svc_spec()), |w| {
        let k = stage_word(w, 10);
        w[k + 4] = 4;
    });
    assert_eq!(e, unknown("svm.kernel", 4));
    let e = broken(&transformer(), |v| set_word(v, w::TASK, 0));
    assert_eq!(e, unknown("task", 0));
}

#[test]
fn r25_estimator_blocks_of_the_new_stages() {
    // Dense layers may follow each other (an MLP); nothing else may follow an estimator.
    write(&mlp()).unwrap();
    let mut spec = mlp();
    spec.stages[1] = StageSpec::Linear {
        n_in: 3,
        n_out: 3,
        coef: vec![1.0; 9],
        intercept: vec![0.0; 3],
    };
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "more than one estimator"
        }
    );
    let mut spec = svc(svc_spec());
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "an svm or kmeans estimator takes no post transform"
        }
    );
    let mut spec = kmeans(3, 3);
    spec.stages.push(StageSpec::Post(PostTransform::Softmax));
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "an svm or kmeans estimator takes no post transform"
        }
    );
    // A preprocessor after a dense layer breaks the role order.
    let mut spec = mlp();
    spec.stages.insert(
        1,
        StageSpec::Normalizer {
            width: 3,
            norm: Norm::Max,
        },
    );
    assert_eq!(
        write_err(&spec),
        FormatError::BadPipeline {
            stage: 1,
            reason: "stage comes after a later role"
        }
    );
}

#[test]
fn r26_widths_of_the_new_stages() {
    let mut spec = transformer();
    if let StageSpec::Pca {
        n_in,
        mean,
        components,
        ..
    } = &mut spec.stages[3]
    {
        *n_in = 2;
        mean.truncate(2);
        components.truncate(4);
    }
    assert_eq!(
        write_err(&spec),
        FormatError::WidthMismatch {
            stage: 3,
            expected: 3,
            found: 2
        }
    );
}

#[test]
fn r27_kmeans_and_naive_bayes_scores_are_not_signed() {
    // One centre cannot pass for a binary decision function.
    assert_eq!(
        write_err(&kmeans(1, 2)),
        FormatError::BadOutput {
            reason: "the number of classes differs from the pipeline's output width"
        }
    );
    write(&kmeans(2, 2)).unwrap();
    // k-means distances may be served as a regression (the distances alone).
    let mut spec = kmeans(3, 3);
    spec.output.task = Task::Regression;
    spec.output.labels = LabelsSpec::None;
    write(&spec).unwrap();
}
