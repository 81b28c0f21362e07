//! What the native timers (`bench-timer` and `bench-peers`) share: the timing loops, their
//! samples summarised as the Python side of the harness writes them, and reading the
//! harness's manifest and raw `f64` files.

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

/// Untimed calls before the timed ones.
pub const WARM_CALLS: usize = 2000;
/// Untimed batches before the timed ones.
pub const WARM_BATCHES: usize = 3;

/// Times `call(i)` for rows cycling through `n`: [`WARM_CALLS`] untimed calls, then `calls`
/// timed ones, starting again at row 0.
pub fn time_single(
    n: usize,
    calls: usize,
    mut call: impl FnMut(usize) -> Result<()>,
) -> Result<Value> {
    for i in 0..WARM_CALLS {
        call(i % n)?;
    }
    let mut ts = vec![0u64; calls];
    for (i, t) in ts.iter_mut().enumerate() {
        let r = i % n;
        let t0 = Instant::now();
        call(black_box(r))?;
        *t = nanos(t0);
    }
    Ok(summarize(ts))
}

/// Times `batch()`: [`WARM_BATCHES`] untimed batches, then `reps` timed ones.
pub fn time_batch(reps: usize, mut batch: impl FnMut() -> Result<()>) -> Result<Value> {
    for _ in 0..WARM_BATCHES {
        batch()?;
    }
    let mut ts = vec![0u64; reps];
    for t in &mut ts {
        let t0 = Instant::now();
        batch()?;
        *t = nanos(t0);
    }
    Ok(summarize(ts))
}

/// The timer's own floor: `calls` empty calls timed the same way.
pub fn timer_floor(calls: usize) -> Value {
    let mut ts = vec![0u64; calls];
    for t in &mut ts {
        let t0 = Instant::now();
        black_box(());
        *t = nanos(t0);
    }
    summarize(ts)
}

/// Median, 10th and 90th percentile of nanosecond samples, as the Python side writes them.
pub fn summarize(mut ts: Vec<u64>) -> Value {
    ts.sort_unstable();
    let n = ts.len();
    if n == 0 {
        return json!({"median_ns": null, "p10_ns": null, "p90_ns": null, "n": 0});
    }
    let median = if n % 2 == 1 {
        ts[n / 2] as f64
    } else {
        (ts[n / 2 - 1] + ts[n / 2]) as f64 / 2.0
    };
    json!({"median_ns": median, "p10_ns": ts[n / 10], "p90_ns": ts[n * 9 / 10], "n": n})
}

/// Nanoseconds since `t0`.
pub fn nanos(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// A file of little-endian `f64` values (the harness's rows and references).
pub fn read_f64s(path: &str) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).with_context(|| path.to_owned())?;
    ensure!(bytes.len() % 8 == 0, "{path}: not a whole number of f64");
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
        .collect())
}

/// The manifest entry's string field `key`.
pub fn str_field<'v>(v: &'v Value, key: &str) -> Result<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .with_context(|| format!("manifest: missing string {key:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_gives_the_median_and_the_tails() {
        let v = summarize(vec![4, 1, 3, 2]);
        assert_eq!(v["median_ns"], 2.5);
        assert_eq!(v["n"], 4);
        let v = summarize((1..=11).collect());
        assert_eq!(v["median_ns"], 6.0);
        assert_eq!(v["p10_ns"], 2);
        assert_eq!(v["p90_ns"], 10);
        assert_eq!(summarize(Vec::new())["n"], 0);
    }

    #[test]
    fn the_timers_call_every_row_in_turn() {
        let mut seen = Vec::new();
        time_single(3, 5, |i| {
            seen.push(i);
            Ok(())
        })
        .unwrap();
        // The warm-up cycles too; the timed calls start again at row 0.
        assert_eq!(&seen[WARM_CALLS..], &[0, 1, 2, 0, 1]);
        let mut batches = 0;
        let v = time_batch(4, || {
            batches += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(batches, WARM_BATCHES + 4);
        assert_eq!(v["n"], 4);
    }

    #[test]
    fn reads_little_endian_f64_files_and_refuses_a_partial_value() {
        let dir = std::env::temp_dir().join(format!("samples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let whole = dir.join("whole");
        let bytes: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&whole, &bytes).unwrap();
        assert_eq!(read_f64s(whole.to_str().unwrap()).unwrap(), vec![1.5, -2.0]);
        let partial = dir.join("partial");
        std::fs::write(&partial, &bytes[..12]).unwrap();
        assert!(read_f64s(partial.to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
