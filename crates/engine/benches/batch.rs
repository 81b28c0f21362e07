//! Criterion benches of the batch products (`batch/kernel`): 1000 float32 rows against the
//! weight rows of the shapes `cargo xtask sklearnbench` runs (a 784 → 10 logistic
//! regression, the 784 → 128, 128 → 64 and 64 → 10 layers of its MLP, a 784 → 50 PCA),
//! through [`rows_dot_f32`] with the row-major weights and with their re-packed copy
//! ([`Packed`], read by the AVX-512 kernel; on other CPUs both run the same kernel). The
//! throughput is in multiply-adds (`rows × n × n_out`) per second.
//!
//! Run with `cargo bench -p icebreak-engine --bench batch` (add `-- --quick` for a short run).

#![allow(clippy::unwrap_used)]

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use icebreak_engine::kernels::rows_dot_f32;
use icebreak_engine::Packed;
use std::hint::black_box;
use std::time::Duration;

const ROWS: usize = 1000;

/// Deterministic pseudo-random values in `[-1, 1)` (xorshift64*).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let v = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (v as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bench_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch/kernel");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (n, n_out) in [(784, 10), (784, 128), (128, 64), (64, 10), (784, 50)] {
        let x = values(1 + n as u64, ROWS * n);
        let w = values(7 + n_out as u64, n * n_out);
        let packed = Packed::new(&w, n, n_out).unwrap();
        let mut out = vec![0.0f32; ROWS * n_out];
        g.throughput(Throughput::Elements((ROWS * n * n_out) as u64));
        let shape = format!("{n}x{n_out}");
        g.bench_function(BenchmarkId::new("row_major", &shape), |b| {
            b.iter(|| {
                rows_dot_f32(black_box(&x), n, &w, n_out, &mut out, None);
                black_box(out[0]);
            })
        });
        g.bench_function(BenchmarkId::new("packed", &shape), |b| {
            b.iter(|| {
                rows_dot_f32(black_box(&x), n, &w, n_out, &mut out, Some(&packed));
                black_box(out[0]);
            })
        });
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_kernel(&mut c);
}

criterion_main!(benches);
