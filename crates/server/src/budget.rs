//! The admission budget: memory for requests is reserved, in bytes, from one global budget
//! before it is spent, and returned when the answer has been handed to the connection.
//!
//! A predict request reserves in two steps:
//! 1. before its body is read, the body's size (its `Content-Length`, or the body limit when
//!    the body is chunked);
//! 2. after a cheap first pass over the body (no allocation: it counts `instances` and reads
//!    `model_id`), the worst case of parsing, predicting and encoding that many instances
//!    ([`Cost`]). The answer's worst case is checked against the answer limit first (413).
//!
//! When the budget has no room the request is refused at once with 503 and `Retry-After`.
//! Once the answer is built, the reservation shrinks to the answer's actual size, which is
//! held until the answer has been handed to the connection (see [`HeldBody`]).

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget's unit: reservations are rounded up to whole KiB, so budgets of up to 4 TiB
/// fit a semaphore acquisition.
const UNIT: usize = 1024;

/// Memory per byte of body while it is parsed: the protocol's parser holds each instance as
/// a `serde_json::Value` (32 bytes per number, which takes at least 2 bytes of text: 16x)
/// and then as `f64`s (8 bytes per number: 4x); messages that quote the input (a string
/// where a number belongs) can repeat it, escaped, in the error item and in the answer.
pub(crate) const BYTES_PER_BODY_BYTE: usize = 24;

/// Memory per instance besides its numbers: the parsed instance and its `Result` (about 64
/// bytes), an error item's message (up to about 200 bytes with the allocator's overhead,
/// twice: parsed and answered), the answer item.
pub(crate) const BYTES_PER_INSTANCE: usize = 512;

/// The JSON of an error item, `{"error":{"errorType":"...","errorMessage":"..."}}`, without
/// any quoted input (counted per body byte): the protocol's messages are under 200 bytes.
pub(crate) const ERROR_ITEM_JSON: usize = 320;

/// The JSON of one number: `-1.2345678901234567e-308,` at most.
const NUMBER_JSON: usize = 26;

/// The worst case of one request, computed before anything is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Largest possible answer body, in bytes.
    pub(crate) answer: usize,
    /// Largest possible memory in use while the request is parsed, predicted and encoded,
    /// the answer included.
    pub(crate) memory: usize,
}

impl Cost {
    /// The worst case of answering `instances` instances (1 for a single one) sent in a body
    /// of `body_len` bytes, for a model whose answer items take at most `item_json` bytes.
    pub(crate) fn of(instances: usize, body_len: usize, item_json: usize) -> Cost {
        let item = item_json.max(ERROR_ITEM_JSON);
        // Quoted input can reappear, escaped, in error messages: at most twice its length.
        let answer = instances
            .saturating_mul(item)
            .saturating_add(body_len.saturating_mul(2))
            .saturating_add(256);
        let memory = body_len
            .saturating_mul(BYTES_PER_BODY_BYTE)
            .saturating_add(instances.saturating_mul(BYTES_PER_INSTANCE.saturating_add(item)))
            .saturating_add(answer);
        Cost { answer, memory }
    }
}

/// The largest JSON of one successful answer item of a model with `n_outputs` outputs
/// whose longest class label is `label_json` bytes as JSON: the prediction (a label, or the
/// values) and the probabilities.
pub(crate) fn ok_item_json(n_outputs: usize, label_json: usize) -> usize {
    let values = n_outputs
        .max(1)
        .saturating_mul(NUMBER_JSON)
        .saturating_add(2);
    let prediction = label_json.max(values);
    // {"prediction":...,"probabilities":[...]}
    64usize
        .saturating_add(prediction)
        .saturating_add(n_outputs.saturating_mul(NUMBER_JSON))
}

/// The largest JSON of one explained answer item (`"explain"`): [`ok_item_json`] plus the
/// contributions (every feature and the bias, per output) and the reasons (at most one per
/// feature and output), for a model of `n_features` features whose longest feature name is
/// `name_json` bytes as JSON (`f<i>` names when it has none).
pub(crate) fn explained_item_json(
    n_outputs: usize,
    n_features: usize,
    name_json: usize,
    label_json: usize,
) -> usize {
    let name = name_json.max(10);
    let outputs = n_outputs.max(1);
    // "name":number, per feature and the bias; one object per output, keyed by its label.
    let contributions = outputs.saturating_mul(
        n_features
            .saturating_add(1)
            .saturating_mul(name.saturating_add(NUMBER_JSON + 2))
            .saturating_add(label_json.max(NUMBER_JSON) + 4),
    );
    // {"feature":name,"value":number,"contribution":number}, per reason.
    let reasons = outputs.saturating_mul(
        n_features
            .min(icebreak_format::limits::MAX_EXPLAIN_TOP)
            .saturating_mul(name.saturating_add(2 * NUMBER_JSON + 40))
            .saturating_add(label_json.max(NUMBER_JSON) + 4),
    );
    ok_item_json(n_outputs, label_json)
        .saturating_add(contributions)
        .saturating_add(reasons)
        .saturating_add(64)
}

/// The global budget, in [`UNIT`]s.
#[derive(Debug)]
pub(crate) struct Budget {
    units: Arc<Semaphore>,
    total_units: usize,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The budget is spent by other requests for now.
    Busy,
    /// More than the whole budget: it can never be granted.
    TooLarge,
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Budget {
        let total_units = units(bytes).min(Semaphore::MAX_PERMITS);
        Budget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// The whole budget, in bytes.
    pub(crate) fn total(&self) -> usize {
        self.total_units.saturating_mul(UNIT)
    }

    /// Bytes not reserved right now.
    pub(crate) fn available(&self) -> usize {
        self.units.available_permits().saturating_mul(UNIT)
    }

    /// Reserves `bytes` without waiting.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<Hold, Refused> {
        let n = units(bytes);
        if n > self.total_units {
            return Err(Refused::TooLarge);
        }
        let n = u32::try_from(n).map_err(|_| Refused::TooLarge)?;
        self.units
            .clone()
            .try_acquire_many_owned(n)
            .map(|p| Hold(Some(p)))
            .map_err(|_| Refused::Busy)
    }
}

/// Bytes reserved from the [`Budget`]; returned when dropped.
#[derive(Debug, Default)]
pub(crate) struct Hold(Option<OwnedSemaphorePermit>);

impl Hold {
    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits() * UNIT)
    }

    /// Adds `other`'s reservation to this one.
    pub(crate) fn merge(&mut self, other: Hold) {
        match (&mut self.0, other.0) {
            (Some(a), Some(b)) => a.merge(b),
            (None, b) => self.0 = b,
            (_, None) => {}
        }
    }

    /// Keeps `bytes` (rounded up to the unit) and returns the rest to the budget.
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        let keep = units(bytes);
        if let Some(p) = &mut self.0 {
            if keep < p.num_permits() {
                self.0 = p.split(keep);
            }
        }
    }
}

/// The size of the frames a [`HeldBody`] hands to the connection.
const FRAME: usize = 64 * 1024;

/// A response body that keeps its reservation until the connection has taken its last byte.
///
/// The bytes are handed over in copied frames of 64 KiB, which the connection takes only as
/// its bounded write buffer drains: an answer to a client that does not read stays here,
/// counted in the budget, instead of in the connection's buffers, uncounted.
#[derive(Debug)]
pub(crate) struct HeldBody {
    data: Bytes,
    _hold: Hold,
}

impl HeldBody {
    pub(crate) fn new(data: Vec<u8>, hold: Hold) -> HeldBody {
        HeldBody {
            data: Bytes::from(data),
            _hold: hold,
        }
    }
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.data.len().min(FRAME);
        // A copy, so the connection's frames never keep the whole answer alive after the
        // reservation is returned.
        let frame = Bytes::copy_from_slice(&self.data[..n]);
        let _ = self.data.split_to(n);
        if self.data.is_empty() {
            // Free the answer now, not when the connection drops the body.
            self.data = Bytes::new();
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reservations_are_returned_and_refused_when_spent() {
        let b = Budget::new(10 * UNIT);
        let a = b.try_reserve(6 * UNIT).unwrap();
        assert_eq!(b.available(), 4 * UNIT);
        assert_eq!(b.try_reserve(5 * UNIT).unwrap_err(), Refused::Busy);
        assert_eq!(b.try_reserve(11 * UNIT).unwrap_err(), Refused::TooLarge);
        drop(a);
        assert_eq!(b.available(), 10 * UNIT);
    }

    #[test]
    fn merge_and_shrink() {
        let b = Budget::new(10 * UNIT);
        let mut h = b.try_reserve(2 * UNIT).unwrap();
        h.merge(b.try_reserve(5 * UNIT).unwrap());
        assert_eq!((h.bytes(), b.available()), (7 * UNIT, 3 * UNIT));
        h.shrink_to(UNIT + 1);
        assert_eq!((h.bytes(), b.available()), (2 * UNIT, 8 * UNIT));
        let mut empty = Hold::default();
        empty.merge(h);
        assert_eq!(empty.bytes(), 2 * UNIT);
        drop(empty);
        assert_eq!(b.available(), 10 * UNIT);
    }

    #[test]
    fn cost_grows_with_instances_and_body() {
        let one = Cost::of(1, 100, 200);
        let many = Cost::of(1000, 100_000, 200);
        assert!(many.answer >= 1000 * ERROR_ITEM_JSON);
        assert!(many.memory > many.answer + 100_000 * BYTES_PER_BODY_BYTE);
        assert!(one.memory < many.memory);
        assert_eq!(Cost::of(usize::MAX, usize::MAX, 1).memory, usize::MAX);
    }

    #[test]
    fn held_body_hands_over_copies_and_releases_its_reservation() {
        let b = Budget::new(1024 * UNIT);
        let hold = b.try_reserve(200 * UNIT).unwrap();
        let data: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let mut body = HeldBody::new(data.clone(), hold);
        assert_eq!(body.size_hint().exact(), Some(150_000));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(f))) = Pin::new(&mut body).poll_frame(&mut cx) {
            let d = f.into_data().unwrap();
            assert!(d.len() <= FRAME);
            got.extend_from_slice(&d);
        }
        assert_eq!(got, data);
        assert!(body.is_end_stream());
        assert_eq!(b.available(), 824 * UNIT);
        drop(body);
        assert_eq!(b.available(), 1024 * UNIT);
    }
}
