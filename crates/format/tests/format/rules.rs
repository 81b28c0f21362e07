//! One test per rule of `docs/FORMAT.md`, R1-R16 (the header, the section table, the
//! string table): each builds a valid file with the writer, breaks exactly that rule in the
//! bytes (re-patching the checksum, so only the rule is broken) and asserts the exact error.
//! The helpers are checked against the writer first.

use crate::common::*;
use icebreak_format::*;

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
    let e = broken(&base(), |v| v[6] = 2);
    assert_eq!(e, FormatError::UnsupportedVersion { major: 1, minor: 2 });
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
