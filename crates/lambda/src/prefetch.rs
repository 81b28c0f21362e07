//! Paging the model in while the first `/next` is in flight.
//!
//! A compiled-in model is part of the bootstrap's file, so the first answer's walk takes a
//! page fault for every 64 KB window of the file it touches (the kernel's fault-around), and
//! on a fresh Lambda host, where the package is not in the page cache yet, each of those
//! faults also waits for a read. The first `GET /next` leaves the process idle until the
//! Runtime API answers; for a model of [`MIN_BYTES`] or more the runtime spends that wait here
//! ([`PageIn::step`], called by the transport between the request and its response), in
//! small steps, from the model's first byte on (the first answer walks the trees from the
//! first one):
//!
//! - `madvise(MADV_WILLNEED)` over the next [`AHEAD`] bytes: starts reads of the pages not in
//!   the page cache (does nothing for those that are);
//! - `madvise(MADV_POPULATE_READ)` over the next [`CHUNK`] bytes (Linux 5.14 and later; where
//!   the kernel refuses it, reading one byte a page): maps the pages, so the walk takes no
//!   fault on them.
//!
//! The transport checks for the response before every step and stops at its first byte, so
//! the answer waits at most one step. Nothing here changes a byte of the model or an answer:
//! both hints only read, and a failed hint is ignored (the first answer then takes the faults
//! itself). No thread is started: a second thread measured slower, not faster (it delays the
//! Runtime API's own threads on a busy CPU; docs/BENCHMARKS.md). `ICEBREAK_PREFETCH=off` (or
//! `0`, `false`, `no`) turns it off.

use std::time::{Duration, Instant};

/// Models smaller than this are not paged in ahead. With the event already queued, the first
/// step costs about 0.01 ms of the cold start (docs/BENCHMARKS.md); a model under 1 MiB (16
/// fault-around windows) cannot save more than about that when the event comes later.
pub(crate) const MIN_BYTES: usize = 1024 * 1024;

/// The bytes one `MADV_POPULATE_READ` step maps (two fault-around windows).
pub(crate) const CHUNK: usize = 128 * 1024;

/// How far ahead of the mapped bytes `MADV_WILLNEED` has asked for reads.
pub(crate) const AHEAD: usize = 512 * 1024;

/// The environment variable that turns paging in off.
pub(crate) const ENV: &str = "ICEBREAK_PREFETCH";

/// Whether the value of [`ENV`] leaves paging in on (unset, or anything but an off word).
pub(crate) fn enabled(value: Option<&str>) -> bool {
    !value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        )
    })
}

/// The model being paged in, step by step.
#[derive(Debug)]
pub(crate) struct PageIn {
    model: &'static [u8],
    page: usize,
    /// Bytes mapped so far, from the start.
    mapped: usize,
    /// Bytes `MADV_WILLNEED` was asked for so far, from the start.
    advised: usize,
    /// Whether `MADV_POPULATE_READ` still works (else a byte a page is read).
    populate: bool,
    /// Time spent in steps.
    spent: Duration,
}

impl PageIn {
    /// Paging in of `model`, unless it is smaller than [`MIN_BYTES`] or [`ENV`] turns it off.
    pub(crate) fn new(model: &'static [u8]) -> Option<PageIn> {
        (model.len() >= MIN_BYTES && enabled(std::env::var(ENV).ok().as_deref())).then(|| PageIn {
            model,
            page: sys::page_size(),
            mapped: 0,
            advised: 0,
            populate: true,
            spent: Duration::ZERO,
        })
    }

    /// Does one step; returns `false` once the whole model is mapped (nothing was done).
    pub(crate) fn step(&mut self) -> bool {
        let len = self.model.len();
        if self.mapped >= len {
            return false;
        }
        let t0 = Instant::now();
        if self.advised < len && self.advised < self.mapped + AHEAD {
            let end = len.min(self.advised + AHEAD);
            sys::will_need(&self.model[self.advised..end], self.page);
            self.advised = end;
        } else {
            let end = len.min(self.mapped + CHUNK);
            let chunk = &self.model[self.mapped..end];
            if self.populate && !sys::populate_read(chunk, self.page) {
                // Before Linux 5.14 (EINVAL), or any other refusal: read a byte a page.
                self.populate = false;
            }
            if !self.populate {
                touch(chunk, self.page);
            }
            self.mapped = end;
        }
        self.spent += t0.elapsed();
        true
    }

    /// Bytes mapped so far, from the model's start.
    pub(crate) fn mapped(&self) -> usize {
        self.mapped
    }

    /// The model's size.
    pub(crate) fn len(&self) -> usize {
        self.model.len()
    }

    /// Time spent in [`PageIn::step`] so far.
    pub(crate) fn spent(&self) -> Duration {
        self.spent
    }

    /// Whether `MADV_POPULATE_READ` did the mapping (else a byte a page was read).
    pub(crate) fn populated(&self) -> bool {
        self.populate
    }
}

/// Reads one byte of every page of `bytes`, which faults each page in.
fn touch(bytes: &[u8], page: usize) {
    for b in bytes.iter().step_by(page.max(1)) {
        std::hint::black_box(*b);
    }
}

/// The two `madvise` calls and the page size: the only `unsafe` code of this module.
#[allow(unsafe_code)]
mod sys {
    /// The page size, or 4 096 when the system does not say.
    pub(super) fn page_size() -> usize {
        #[cfg(unix)]
        {
            // SAFETY: sysconf reads a system constant; it has no memory effects.
            let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            if let Ok(n) = usize::try_from(n) {
                if n.is_power_of_two() {
                    return n;
                }
            }
        }
        4096
    }

    /// The page-aligned range holding `bytes`: (start address, length).
    #[cfg(target_os = "linux")]
    fn pages(bytes: &[u8], page: usize) -> Option<(*mut libc::c_void, usize)> {
        if bytes.is_empty() {
            return None;
        }
        let addr = bytes.as_ptr() as usize;
        let start = addr & !(page - 1);
        let end = addr.checked_add(bytes.len())?;
        Some((start as *mut libc::c_void, end - start))
    }

    /// `madvise(MADV_WILLNEED)` over the pages of `bytes`; failures are ignored.
    pub(super) fn will_need(bytes: &[u8], page: usize) {
        #[cfg(target_os = "linux")]
        if let Some((start, len)) = pages(bytes, page) {
            // SAFETY: the range is the pages holding `bytes`, which are mapped and readable for
            // as long as `bytes` is borrowed; MADV_WILLNEED only schedules reads into the page
            // cache and never changes the memory's contents or its mapping.
            let _ = unsafe { libc::madvise(start, len, libc::MADV_WILLNEED) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (bytes, page);
    }

    /// `madvise(MADV_POPULATE_READ)` over the pages of `bytes`: whether the kernel did it.
    pub(super) fn populate_read(bytes: &[u8], page: usize) -> bool {
        #[cfg(target_os = "linux")]
        if let Some((start, len)) = pages(bytes, page) {
            // SAFETY: as in `will_need`; MADV_POPULATE_READ faults the pages in for reading,
            // as reading them would, and never writes them.
            return unsafe { libc::madvise(start, len, libc::MADV_POPULATE_READ) } == 0;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (bytes, page);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_words_turn_it_off_and_anything_else_leaves_it_on() {
        for v in ["0", "off", "OFF", " false ", "no"] {
            assert!(!enabled(Some(v)), "{v:?}");
        }
        for v in [None, Some(""), Some("1"), Some("on"), Some("yes")] {
            assert!(enabled(v), "{v:?}");
        }
    }

    #[test]
    fn small_models_are_not_paged_in() {
        static SMALL: [u8; MIN_BYTES - 1] = [0; MIN_BYTES - 1];
        assert!(PageIn::new(&SMALL).is_none());
    }

    #[test]
    fn steps_map_the_whole_model_in_order_without_changing_a_byte() {
        // Over two look-ahead blocks and a partial last chunk, at an odd offset.
        let data: &'static mut [u8] = Vec::leak(
            (0..(2 * AHEAD + 12_345))
                .map(|i| (i * 7 % 251) as u8)
                .collect(),
        );
        let before = data.to_vec();
        let model: &'static [u8] = &data[3..];
        if !enabled(std::env::var(ENV).ok().as_deref()) {
            return;
        }
        let mut p = PageIn::new(model).expect("large enough");
        let mut last = 0;
        let mut steps = 0;
        while p.step() {
            assert!(p.mapped() >= last && p.mapped() <= p.len());
            last = p.mapped();
            steps += 1;
        }
        assert_eq!(p.mapped(), model.len());
        // One step per chunk mapped and per look-ahead block advised.
        assert_eq!(
            steps,
            model.len().div_ceil(CHUNK) + model.len().div_ceil(AHEAD)
        );
        assert!(!p.step(), "nothing left");
        assert_eq!(&data[..], &before[..]);
        // On Linux 5.14 and later the kernel does the mapping.
        #[cfg(target_os = "linux")]
        assert!(p.populated() || p.spent() > Duration::ZERO);
    }

    #[test]
    fn touching_reads_every_page() {
        let data = vec![1u8; 3 * 4096 + 5];
        touch(&data, 4096);
        touch(&[], 4096);
        assert!(sys::page_size().is_power_of_two());
    }
}
