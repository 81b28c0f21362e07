//! Opening a file verified at build time (`embed`, `Attestation`, `Apr::parse_attested`):
//! the structure is still checked, the rules that read every node or weight are not, and an
//! attestation that does not match the bytes is not trusted.

use crate::common::*;
use icebreak_format::testing::ModelSpecBuilder;
use icebreak_format::*;

fn fill_spec(fill: Vec<f32>) -> ModelSpec {
    ModelSpecBuilder::new(3)
        .missing(MissingValues::Nan)
        .transform(3)
        .stage(StageSpec::Imputer {
            missing: f32::NAN,
            fill,
        })
        .build()
}

/// The attestation the build script would write for `v` as it is now.
fn claim(v: &[u8], masks: &'static [u64]) -> Attestation {
    Attestation::__from_build_script((v.len() as u64, get_u32(v, 12), masks))
}

fn find(v: &[u8], pattern: &[u8]) -> usize {
    v.windows(pattern.len()).position(|w| w == pattern).unwrap()
}

#[test]
fn an_attested_open_skips_the_value_rules_and_keeps_the_structure() {
    let mut v = write_vec(&fill_spec(vec![0.5, 1.0, -2.0]));
    let at = find(&v, &1.0f32.to_le_bytes());
    v[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    refix(&mut v);
    let buf = AlignedBuf::copy_from(&v);
    // R30 reads every fill value: a full check refuses the file, an attested open does not.
    assert_eq!(
        Apr::parse_verified(&buf).unwrap_err(),
        FormatError::BadImputer { stage: 0, index: 1 }
    );
    let apr = Apr::parse_attested(&buf, &claim(&buf, &[])).unwrap();
    assert!(matches!(apr.stages()[0], Stage::Imputer { .. }));
    // The structure is still checked: a manifest word naming a missing section is refused
    // (the attestation matches the bytes, then the full check reports the broken rule).
    let mut v = v.clone();
    let last = section_offset(&v, 0) + section_len(&v, 0) - 4;
    put_u32(&mut v, last, 77);
    refix(&mut v);
    let buf = AlignedBuf::copy_from(&v);
    assert!(matches!(
        Apr::parse_attested(&buf, &claim(&buf, &[])),
        Err(FormatError::BadTensorRef { .. })
    ));
}

#[test]
fn attestation_of_a_file_records_its_length_checksum_and_tree_masks() {
    let file = write(&fill_spec(vec![0.5, 1.0, -2.0])).unwrap();
    let a = Attestation::of(&file).unwrap();
    assert_eq!(a.len(), file.len() as u64);
    assert_eq!(a.checksum(), Apr::parse(&file).unwrap().checksum());
    assert!(a.tree_masks().is_empty());
    assert!(a.matches(&file));
    let mut v = file.to_vec();
    v[12] ^= 1;
    assert!(!a.matches(&v));
    assert!(!a.matches(&file[..file.len() - 1]));
    // A file whose checksum does not hold gets no attestation.
    assert!(matches!(
        Attestation::of(&AlignedBuf::copy_from(&v)),
        Err(FormatError::ChecksumMismatch { .. })
    ));
}

#[test]
fn embed_writes_the_bytes_it_verified_and_refuses_a_broken_file() {
    let dir = std::env::temp_dir().join(format!("icebreak-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("in.apr");
    let v = write_vec(&fill_spec(vec![0.5, 1.0, -2.0]));
    std::fs::write(&src, &v).unwrap();
    let a = embed(&src, &dir, "m").unwrap();
    assert_eq!(std::fs::read(dir.join("m.apr")).unwrap(), v);
    let rust = std::fs::read_to_string(dir.join("m.attestation")).unwrap();
    assert_eq!(
        rust,
        format!("({}u64, {:#x}u32, &[])\n", v.len(), a.checksum())
    );
    let mut bad = v.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    std::fs::write(&src, &bad).unwrap();
    assert!(matches!(
        embed(&src, &dir, "m"),
        Err(EmbedError::Invalid {
            source: FormatError::ChecksumMismatch { .. },
            ..
        })
    ));
    assert!(matches!(
        embed(&dir.join("absent.apr"), &dir, "m"),
        Err(EmbedError::Io { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
