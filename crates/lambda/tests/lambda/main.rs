//! Integration tests of `icebreak-lambda` through its public API: the event shapes AWS
//! documents and the handler's answers to them. (The Runtime API loop and the telemetry lines
//! are tested inside the crate, where their items are.)

// Test code unwraps freely: a broken fixture should fail loudly.
#![allow(clippy::unwrap_used)]

mod alloc;
mod common;
mod embedded;
mod events;
mod mapped;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;
