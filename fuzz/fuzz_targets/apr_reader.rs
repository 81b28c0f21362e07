//! Fuzzes the `.apr` reader: whatever the bytes, `Apr::parse` and `Apr::parse_verified`
//! return `Ok` or `Err` (no panic, no out-of-bounds read, no unbounded allocation), and a file
//! they accept is one whose accessors all work, that the writer can write again, and that the
//! engine runs. The same bytes are also opened attested (`Apr::parse_attested`, as an embedded
//! model is: no node walk, no value rule), under an attestation that claims whatever the input
//! says, and the engine must run on whatever that accepts too.

#![no_main]

use icebreak_format::{write_to_vec, AlignedBuf, Apr, Attestation, FormatError, Labels, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader views the buffer in place: it must be 8-byte aligned (rule R28).
    let buf = AlignedBuf::copy_from(data);

    // `parse` checks the structure only, so mutations that break the checksum still reach
    // every rule; `parse_verified` is `parse` and then the checksum, nothing else.
    match Apr::parse(&buf) {
        Ok(apr) => {
            touch(&apr);
            let checksum = apr.verify_checksum();
            match Apr::parse_verified(&buf) {
                Ok(verified) => {
                    assert_eq!(checksum, Ok(()));
                    touch(&verified);
                }
                Err(e) => assert_eq!(Err(e), checksum),
            }
            // Whatever the reader accepts, the writer writes, and that reads back the same.
            let spec = apr.to_spec();
            let again = write_to_vec(&spec).expect("the writer takes what the reader accepts");
            let again = AlignedBuf::copy_from(&again);
            let reread = Apr::parse_verified(&again).expect("the writer's output is valid");
            assert_eq!(reread.stages().len(), apr.stages().len());
            assert_eq!(reread.output_width(), apr.output_width());
        }
        Err(e) => assert_eq!(Apr::parse_verified(&buf).err(), Some(e)),
    }

    // Attested: the length and stored checksum of the input and a claim about its trees
    // stages picked by its last byte (any claim at all: every walk, any stage count), so walks
    // run over node tables no R29 walk has checked.
    const CLAIMS: [&[u64]; 6] = [&[], &[u64::MAX], &[1], &[2], &[0x12], &[1, u64::MAX]];
    let masks = CLAIMS[data.last().map_or(0, |&b| b as usize) % CLAIMS.len()];
    let sum = data
        .get(12..16)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let claim = Attestation::__from_build_script((data.len() as u64, sum, masks));
    if let Ok(apr) = Apr::parse_attested(&buf, &claim) {
        touch(&apr);
    }

    // The same bytes one byte off alignment are refused before anything is viewed.
    let mut shifted = Vec::with_capacity(data.len() + 1);
    shifted.push(0);
    shifted.extend_from_slice(data);
    let shifted = AlignedBuf::copy_from(&shifted);
    match Apr::parse(&shifted[1..]) {
        Err(FormatError::Unaligned { misalignment: 1 }) | Err(FormatError::TooShort { .. }) => {}
        other => panic!("an unaligned buffer was not refused: {other:?}"),
    }
});

/// Reads every accessor, as a server and `icebreak inspect` would.
fn touch(apr: &Apr<'_>) {
    let _ = (
        apr.bytes().len(),
        apr.checksum(),
        apr.sections().len(),
        apr.output_width(),
    );
    let strings = apr.strings();
    for i in 0..strings.len().saturating_add(1) {
        let _ = strings.get(i);
    }
    let input = apr.input();
    if let Some(names) = input.feature_names {
        assert_eq!(names.iter().count(), input.n_features as usize);
    }
    let output = apr.output();
    if let Some(names) = output.output_names {
        assert_eq!(names.to_vec().len(), output.n_outputs as usize);
    }
    match &output.labels {
        Labels::None => {}
        Labels::Int(v) => assert_eq!(v.len(), output.n_outputs as usize),
        Labels::Str(l) => assert_eq!(l.iter().count(), output.n_outputs as usize),
    }
    let p = apr.provenance();
    let _ = (
        p.model_version,
        p.model_name,
        p.source_format,
        p.converter,
        p.source_sha256,
    );
    let mut sum = 0f32;
    for s in apr.stages() {
        let _ = (s.name(), s.role());
        match *s {
            Stage::StandardScaler { mean, scale } => {
                assert_eq!(mean.len(), scale.len());
                sum += mean.iter().chain(scale).sum::<f32>();
            }
            Stage::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            } => {
                assert_eq!(coef.len(), n_in as usize * n_out as usize);
                assert_eq!(intercept.len(), n_out as usize);
                sum += coef.iter().chain(intercept).sum::<f32>();
            }
            Stage::Trees(t) => {
                assert_eq!(t.roots.len(), t.n_trees());
                sum += t.leaves.len() as f32 + t.nodes.len() as f32;
            }
            // Other stages: their accessors are exercised through the engine below.
            _ => {}
        }
    }
    std::hint::black_box(sum);

    // Whatever the reader accepts, the engine runs without panicking: walks end, indices
    // stay in bounds, whatever the weights (bounded widths only, to keep runs fast).
    let model = icebreak_engine::Model::new(apr);
    let nf = model.n_features();
    if nf <= 4096 && model.output_width() <= 4096 {
        let mut scratch = model.scratch();
        let mut batch = Vec::with_capacity(4 * nf);
        for v in [0.0, 1.5, -1e30, f64::NAN] {
            let row = vec![v; nf];
            let _ = std::hint::black_box(model.predict_row(&row, &mut scratch));
            batch.extend_from_slice(&row);
        }
        let mut out = icebreak_engine::BatchOutput::default();
        let _ = std::hint::black_box(model.predict_batch(&batch, &mut out));
    }
}
