//! The warm single-row path allocates nothing beyond the answer: a counting allocator, active
//! only on the thread that asks for it, counts what a warm `handle` allocates.
//!
//! The answer of the example model (a binary classifier) owns one buffer, its probabilities;
//! the prediction is a label borrowed from the model. So a warm `handle` may allocate that one
//! buffer and nothing else: no scratch, no copy of the row, no per-call table.

use crate::common::handler;
use icebreak_lambda::LambdaRequest;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

/// Forwards to the system allocator and counts allocations made while `COUNTING` is set on
/// the calling thread (tests run in parallel; other threads are not counted).
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, which
// upholds `GlobalAlloc`'s contract; the counters are const-initialised thread-locals whose
// access never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn bump(size: usize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            let _ = BYTES.try_with(|c| c.set(c.get().saturating_add(size)));
        }
    });
}

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    allocated(f).0
}

/// Allocations and bytes requested (allocations, and new sizes of reallocations) by `f` on
/// this thread.
fn allocated<T>(f: impl FnOnce() -> T) -> ((T, usize), usize) {
    BYTES.with(|c| c.set(0));
    COUNT.with(|c| c.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    ((out, COUNT.with(Cell::get)), BYTES.with(Cell::get))
}

fn example_row() -> LambdaRequest {
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/event.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let features = event["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    LambdaRequest::new(features)
}

#[test]
fn warm_handle_allocates_only_the_answer() {
    let h = handler();
    let req = example_row();
    h.handle(&req).unwrap(); // cold: builds the runnable model
    for _ in 0..3 {
        let (resp, n) = allocations(|| h.handle(&req).unwrap());
        let probabilities = resp.response.probabilities.as_ref().map_or(0, |_| 1);
        assert_eq!(
            probabilities, 1,
            "the example model answers with probabilities"
        );
        assert_eq!(
            n, probabilities,
            "a warm handle allocated {n} times; the answer owns {probabilities} buffer"
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    // The test above cannot pass vacuously: the counter counts on this thread.
    let (v, n) = allocations(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert_eq!(n, 1);
}

/// A valid model of a few hundred bytes declaring 2^24 features (an L2 normalizer), leaked
/// so it is `'static` like an embedded model.
fn wide_model() -> &'static [u8] {
    use icebreak_format::*;
    let width = 1 << 24;
    let spec = ModelSpec {
        input: InputSpec {
            n_features: width,
            missing: MissingValues::Reject,
            feature_names: None,
        },
        output: OutputSpec {
            task: Task::Transform,
            n_outputs: width,
            labels: LabelsSpec::None,
            output_names: None,
            precision: Precision::F32,
        },
        provenance: ProvenanceSpec {
            model_version: "wide".into(),
            model_name: None,
            source_format: None,
            converter: None,
            source_sha256: None,
        },
        stages: vec![StageSpec::Normalizer {
            width,
            norm: Norm::L2,
        }],
    };
    let buf = write(&spec).unwrap();
    Box::leak(buf.as_slice().to_vec().into_boxed_slice())
}

/// Case 2 of the hostile-input pass: a model declaring 2^24 features costs nothing in
/// proportion until rows of that width arrive: warming it, and answering short rows alone
/// and in a batch, allocates a few megabytes at most (the first answer builds the runnable
/// model), far less than one `f32` per declared feature (64 MiB); a batch used to reserve
/// instances x n_features values up front.
#[test]
fn a_model_declaring_millions_of_features_allocates_nothing_in_proportion() {
    let bytes = wide_model();
    let predictor = icebreak_protocol::Predictor::new(icebreak_format::Apr::parse(bytes).unwrap());
    let (_, warm) = allocated(|| predictor.warm());
    assert!(warm < 1 << 20, "warming allocated {warm} bytes");

    let h = icebreak_lambda::LambdaHandler::from_bytes(bytes).unwrap();
    for event in [
        &br#"{"features": [1, 2, 3]}"#[..],
        br#"{"instances": [{"features": [1]}, {"features": [1, 2]}, {"features": [3]}]}"#,
    ] {
        let ((answer, _), n) = allocated(|| h.handle_event(event));
        assert!(n < 8 << 20, "answering allocated {n} bytes");
        let text = match answer {
            Ok(b) => String::from_utf8(b).unwrap(),
            Err(e) => e.to_string(),
        };
        assert!(text.contains("expected 16777216 features"), "{text}");
    }
}
