//! The memory budget's worst case is a real bound: a counting allocator measures the peak of
//! the bytes live in the process while the server answers one request, and that peak must
//! stay under what docs/SERVER.md says the request reserves.
//!
//! A test binary of its own, so no other test allocates in the process meanwhile.

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;

use common::*;
use icebreak_server::Config;
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Forwards to the system allocator and keeps the bytes live and their peak.
struct Measuring;

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, which
// upholds `GlobalAlloc`'s contract; the counters are atomics, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Measuring {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Measuring = Measuring;

/// What docs/SERVER.md says a request of `body` bytes and `instances` instances reserves
/// for the example model (whose answer items are smaller than an error item's 320 bytes).
fn documented(body: usize, instances: usize) -> usize {
    let answer = instances * 320 + 2 * body + 256;
    body + 24 * body + instances * (512 + 320) + answer
}

/// The peak of live bytes, above what was live before, while the server answers `body`;
/// the client reads the answer into a fixed buffer, so only the server's memory counts.
fn peak_of(t: &TestServer, path: &str, body: &[u8]) -> (u16, usize) {
    let mut s = connect(t.addr);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut buf = vec![0u8; 64 * 1024];
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut first = Vec::new();
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if first.len() < 16 {
            first.extend_from_slice(&buf[..n.min(16)]);
        }
    }
    let peak = PEAK.load(Ordering::SeqCst) - before;
    let status = std::str::from_utf8(&first[9..12]).unwrap().parse().unwrap();
    (status, peak)
}

#[test]
fn the_reservation_bounds_what_a_request_allocates() {
    // Limits out of the way: every request here is answered.
    let t = TestServer::cancer(
        Config::default()
            .max_body_bytes(8 << 20)
            .max_answer_bytes(1 << 30)
            .memory_budget_bytes(4 << 30),
    );
    let features = serde_json::from_slice::<Value>(&event()).unwrap()["features"].clone();
    let bare = |n: usize| {
        let items: Vec<Value> = vec![json!(1); n];
        serde_json::to_vec(&json!({ "instances": items })).unwrap()
    };
    let legit = |n: usize| {
        let items: Vec<Value> = vec![json!({ "features": features }); n];
        serde_json::to_vec(&json!({ "instances": items })).unwrap()
    };
    // Strings where numbers belong: error messages quote them.
    let quoted = |n: usize| {
        let items: Vec<Value> = vec![json!({ "features": ["x".repeat(2000)] }); n];
        serde_json::to_vec(&json!({ "instances": items })).unwrap()
    };
    let mut single = serde_json::from_slice::<Value>(&event()).unwrap();
    single["note"] = json!(" ".repeat(500_000));
    let cases: Vec<(&str, &str, Vec<u8>, usize)> = vec![
        ("bare numbers", "/predict/batch", bare(100_000), 100_000),
        ("legitimate batch", "/predict/batch", legit(5_000), 5_000),
        ("quoted strings", "/predict/batch", quoted(500), 500),
        (
            "padded single",
            "/predict",
            serde_json::to_vec(&single).unwrap(),
            1,
        ),
    ];
    // Warm up the server's one-time allocations (thread pools, metrics handles).
    for (_, path, body, _) in &cases {
        let _ = peak_of(&t, path, body);
    }
    for (what, path, body, instances) in &cases {
        let (status, peak) = peak_of(&t, path, body);
        assert_eq!(status, 200, "{what}");
        let bound = documented(body.len(), *instances);
        // 1 MiB for what is not per request: connection buffers, a new blocking thread.
        assert!(
            peak < bound + (1 << 20),
            "{what}: {peak} bytes at the peak, over the documented {bound}"
        );
        // And the bound is not absurdly loose either: the request does use memory.
        assert!(peak > body.len(), "{what}: peak {peak}");
        eprintln!(
            "{what}: body {} bytes, peak {peak}, documented {bound}",
            body.len()
        );
    }
}
