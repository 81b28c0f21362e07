//! A model verified at build time and opened attested (`LambdaHandler::from_embedded`): the
//! same answers as `from_bytes`, a mismatched attestation verified fully (and a broken model
//! refused), and a broken node table under a matching attestation answered without a panic.

use icebreak_format::testing::synthetic::{self, Forest};
use icebreak_format::{checksum, write, Apr, Attestation, Embedded, Stage};
use icebreak_lambda::{LambdaHandler, LambdaRequest};

fn forest() -> Forest {
    Forest {
        n_trees: 20,
        depth: 4,
        n_in: 5,
        random_forest: false,
        seed: 3,
    }
}

fn leaked_model() -> &'static [u8] {
    write(&synthetic::model(&forest())).unwrap().leak()
}

fn request(seed: u64) -> LambdaRequest {
    LambdaRequest::new(synthetic::row(5, seed))
}

/// The model with the feature of its first node set to 99 (of 5), the checksum redone.
fn broken_model() -> &'static [u8] {
    let mut file = write(&synthetic::model(&forest())).unwrap();
    let at = {
        let apr = Apr::parse(&file).unwrap();
        let Stage::Trees(t) = apr.stages()[0] else {
            unreachable!()
        };
        // The compact layout's first row (word 0: feature in the low 20 bits, then flags
        // and test), or the classic table's first node (word 0: the feature).
        if t.is_compact() {
            t.compact.as_ptr() as usize - file.as_ptr() as usize
        } else {
            t.nodes.as_ptr() as usize - file.as_ptr() as usize
        }
    };
    let b = file.as_mut_slice();
    let word = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let broken = (word & !icebreak_format::trees::compact::FEATURE_MASK) | 99;
    b[at..at + 4].copy_from_slice(&broken.to_le_bytes());
    b[12..16].fill(0);
    let sum = checksum(b);
    b[12..16].copy_from_slice(&sum.to_le_bytes());
    file.leak()
}

#[test]
fn an_embedded_model_answers_as_from_bytes() {
    let bytes = leaked_model();
    let model = Embedded {
        bytes,
        attestation: Attestation::of(bytes).unwrap(),
    };
    let plain = LambdaHandler::from_bytes(bytes).unwrap();
    let embedded = LambdaHandler::from_embedded(model).unwrap();
    for seed in 1..20 {
        let (a, b) = (
            plain.handle(&request(seed)).unwrap(),
            embedded.handle(&request(seed)).unwrap(),
        );
        assert_eq!(a.response.prediction, b.response.prediction, "seed {seed}");
    }
}

#[test]
fn a_mismatched_attestation_is_verified_fully_and_a_broken_model_refused() {
    let bytes = broken_model();
    let sum = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let wrong = Embedded {
        bytes,
        attestation: Attestation::__from_build_script((bytes.len() as u64 - 64, sum, &[1])),
    };
    let err = LambdaHandler::from_embedded(wrong).unwrap_err();
    assert!(
        err.to_string().contains("feature index outside the input"),
        "{err}"
    );
    // Under an attestation that matches (the build script would never have written one for
    // this file), the node walk is skipped and the broken node is walked safely.
    let claimed = Embedded {
        bytes,
        attestation: Attestation::__from_build_script((bytes.len() as u64, sum, &[1])),
    };
    let h = LambdaHandler::from_embedded(claimed).unwrap();
    for seed in 1..20 {
        h.handle(&request(seed)).unwrap();
    }
}
