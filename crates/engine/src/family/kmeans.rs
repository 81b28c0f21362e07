//! k-means (`Stage::KMeans`): Euclidean distances to the centres and the nearest one.

/// Squared Euclidean distance with eight accumulators.
#[inline]
pub fn sq_dist_f32_8acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            let d = x[k] - y[k];
            acc[k] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail
}

/// Distances from `x` to each of the `out.len()` centres; returns the index of the nearest
/// (smallest squared distance, ties to the first).
#[inline]
pub fn kmeans_f32(x: &[f32], centers: &[f32], out: &mut [f32]) -> usize {
    let n_in = x.len();
    let mut best = 0;
    let mut best_d = f32::INFINITY;
    for (c, o) in out.iter_mut().enumerate() {
        let d = sq_dist_f32_8acc(x, &centers[c * n_in..(c + 1) * n_in]);
        if d < best_d {
            best_d = d;
            best = c;
        }
        *o = d.sqrt();
    }
    best
}

#[cfg(feature = "testing")]
/// Reference k-means in f64: the distances and the nearest centre (ties to the first).
pub fn kmeans_ref(x: &[f64], centers: &[f32]) -> (Vec<f64>, usize) {
    let n_in = x.len();
    let sq: Vec<f64> = centers
        .chunks_exact(n_in.max(1))
        .map(|c| {
            x.iter()
                .zip(c)
                .map(|(&v, &m)| (v - f64::from(m)) * (v - f64::from(m)))
                .sum()
        })
        .collect();
    let mut best = 0;
    for (i, &d) in sq.iter().enumerate() {
        if d < sq[best] {
            best = i;
        }
    }
    (sq.iter().map(|d| d.sqrt()).collect(), best)
}
