//! Paging the model in beside the first invocation.
//!
//! A compiled-in model is part of the bootstrap's file, so the first answer's walk takes a
//! page fault for every 64 KB window of the file it touches (the kernel's fault-around), and
//! on a fresh Lambda host, where the package is not in the page cache yet, each of those
//! faults also waits for a read. For a model of [`MIN_BYTES`] or more, [`start`] spawns one
//! short-lived thread that, while the main thread asks the Runtime API for the first event:
//!
//! 1. asks the kernel to read the whole model ahead (`madvise(MADV_WILLNEED)`: starts reads
//!    of the pages not in the page cache, does nothing for those that are);
//! 2. maps it into the process from its end toward its start, in [`CHUNK`]s
//!    (`madvise(MADV_POPULATE_READ)`, Linux 5.14 and later; reading one byte a page when the
//!    kernel refuses it). The first answer walks the trees from the first one on, so the two
//!    threads meet instead of faulting on the same pages.
//!
//! Nothing here changes a byte of the model or an answer: both hints only read. A failed hint
//! is ignored (the first answer then takes the faults itself, as without this module), and so
//! is a failure to start the thread. When it is done the thread logs one INFO line, `icebreak
//! prefetch: <bytes> bytes paged in, <ms> ms (<how>)`, and ends. `ICEBREAK_PREFETCH=off` (or `0`, `false`, `no`) turns it
//! off: on a Lambda function with less than one vCPU (memory below 1 769 MB) the two threads
//! share one core's time, so the thread's own cost (its start, and the pages the first answer
//! would not have touched) is not hidden.

use crate::telemetry::log::{self, Level};
use std::sync::OnceLock;

/// Models smaller than this are not prefetched: a thread costs more than the few faults
/// their first answer takes (four 64 KB fault-around windows).
pub(crate) const MIN_BYTES: usize = 256 * 1024;

/// The range mapped by one `MADV_POPULATE_READ` call, from the end of the model backwards.
pub(crate) const CHUNK: usize = 256 * 1024;

/// The environment variable that turns prefetching off.
pub(crate) const ENV: &str = "ICEBREAK_PREFETCH";

/// Whether the value of [`ENV`] leaves prefetching on (unset, or anything but an off word).
pub(crate) fn enabled(value: Option<&str>) -> bool {
    !value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        )
    })
}

/// What the prefetch thread did, for the cold-start log (set once it finished).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Done {
    /// Bytes of the model it covered.
    pub bytes: usize,
    /// Whether `MADV_POPULATE_READ` did it (else it read one byte a page).
    pub populated: bool,
    /// Its time, from its start to its end, in milliseconds.
    pub ms: f64,
}

static DONE: OnceLock<Done> = OnceLock::new();

/// What the prefetch thread did, once it has finished (`None` if it did not run or is still
/// running).
#[cfg(test)]
pub(crate) fn done() -> Option<Done> {
    DONE.get().copied()
}

/// Starts paging `model` in on a thread of its own, unless it is smaller than [`MIN_BYTES`]
/// or [`ENV`] turns it off. Returns whether a thread was started.
pub(crate) fn start(model: &'static [u8]) -> bool {
    if model.len() < MIN_BYTES || !enabled(std::env::var(ENV).ok().as_deref()) {
        return false;
    }
    std::thread::Builder::new()
        .name("prefetch".into())
        // It calls madvise and reads bytes: no deep stack.
        .stack_size(64 * 1024)
        .spawn(move || {
            let t0 = std::time::Instant::now();
            let populated = page_in(model);
            let d = Done {
                bytes: model.len(),
                populated,
                ms: t0.elapsed().as_secs_f64() * 1e3,
            };
            let _ = DONE.set(d);
            log::log(
                Level::Info,
                None,
                format_args!(
                    "icebreak prefetch: {} bytes paged in, {:.3} ms ({})",
                    d.bytes,
                    d.ms,
                    if d.populated {
                        "MADV_POPULATE_READ"
                    } else {
                        "read a byte a page"
                    }
                ),
            );
        })
        .is_ok()
}

/// Pages `model` in (see the module's docs); returns whether `MADV_POPULATE_READ` did it.
pub(crate) fn page_in(model: &[u8]) -> bool {
    let page = sys::page_size();
    sys::will_need(model, page);
    let mut populated = true;
    let mut end = model.len();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &model[start..end];
        if populated && !sys::populate_read(chunk, page) {
            // Before Linux 5.14 (EINVAL), or any other refusal: read one byte a page instead.
            populated = false;
        }
        if !populated {
            touch(chunk, page);
        }
        end = start;
    }
    populated
}

/// Reads one byte of every page of `bytes`, which faults each page in.
fn touch(bytes: &[u8], page: usize) {
    for b in bytes.iter().step_by(page.max(1)) {
        std::hint::black_box(*b);
    }
}

/// The two `madvise` calls: the only `unsafe` code of this module.
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
    fn page_in_reads_without_changing_a_byte() {
        // Bytes at an odd offset, over several chunks and a partial last chunk.
        let data: Vec<u8> = (0..(2 * CHUNK + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let before = data.clone();
        page_in(&data[3..]);
        assert_eq!(data, before);
        page_in(&[]);
        touch(&data, 4096);
    }

    #[test]
    fn small_models_get_no_thread() {
        static SMALL: [u8; 1024] = [0; 1024];
        assert!(!start(&SMALL));
    }

    #[test]
    fn a_large_model_is_paged_in_and_reported() {
        static LARGE: [u8; MIN_BYTES + 4096] = [1; MIN_BYTES + 4096];
        if !enabled(std::env::var(ENV).ok().as_deref()) {
            return;
        }
        assert!(start(&LARGE));
        let t0 = std::time::Instant::now();
        while done().is_none() && t0.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let d = done().expect("the prefetch thread finished");
        assert_eq!(d.bytes, LARGE.len());
        assert!(d.ms >= 0.0);
        assert!(LARGE.iter().all(|&b| b == 1));
    }
}
