//! Statistics of the measurements: nearest-rank percentiles, medians, figures over rounds,
//! and the shuffled order of rounds.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0..=1) of sorted samples; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Nearest-rank percentile of unsorted samples.
pub fn percentile_of(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    percentile(&v, p)
}

/// `a / b`, NaN if `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        f64::NAN
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

/// The median (the mean of the two middle values for an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One figure over the rounds: the median of the round medians and their range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// The median.
    pub mid: f64,
    /// The smallest.
    pub lo: f64,
    /// The largest.
    pub hi: f64,
}

impl Stat {
    /// The figure of these values; `None` when there are none.
    pub fn of(v: Vec<f64>) -> Option<Stat> {
        let lo = v.iter().copied().min_by(f64::total_cmp)?;
        let hi = v.iter().copied().max_by(f64::total_cmp)?;
        Some(Stat {
            mid: median(v),
            lo,
            hi,
        })
    }
}

/// A random order of `n` items for each round (xorshift, seeded from the clock: the order
/// only has to be unrelated to the list's order, not unpredictable).
pub struct Shuffle {
    order: Vec<usize>,
    state: u64,
}

impl Shuffle {
    /// The order of `n` items, shuffled afresh each round.
    pub fn new(n: usize) -> Shuffle {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        Shuffle {
            order: (0..n).collect(),
            state: seed | 1,
        }
    }

    /// A new permutation (Fisher-Yates).
    pub fn next_round(&mut self) -> &[usize] {
        for i in (1..self.order.len()).rev() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let j = (self.state % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&v, 0.9), Duration::from_millis(9));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(10));
        assert_eq!(percentile(&v, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn medians_and_rounds() {
        assert_eq!(median(vec![1.0, 4.0]), 2.5);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert!(median(Vec::new()).is_nan());
        let s = Stat::of(vec![5.0, 1.0, 3.0, 9.0]).unwrap();
        assert_eq!((s.mid, s.lo, s.hi), (4.0, 1.0, 9.0));
        assert!(Stat::of(Vec::new()).is_none());
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut s = Shuffle::new(5);
        let mut seen = s.next_round().to_vec();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
