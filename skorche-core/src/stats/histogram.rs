//! Task times in log2 buckets: bucket `b` holds times in `[2^(b-1), 2^b)` ns (bucket 0:
//! 0 ns), so 48 buckets reach 39 hours and one sample costs one store.

/// Buckets per histogram.
pub(crate) const BUCKETS: usize = 48;

/// The bucket of a time of `ns` nanoseconds.
#[inline]
pub(crate) fn bucket_of(ns: u64) -> usize {
    ((u64::BITS - ns.leading_zeros()) as usize).min(BUCKETS - 1)
}

/// The `q` quantile (0 to 1) of the counts, interpolated linearly inside its bucket; `None`
/// without samples. Exact to within its bucket: a factor of 2 at worst.
pub(crate) fn quantile(counts: &[u64; BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
    let mut seen = 0u64;
    for (b, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        if (seen + c) as f64 >= rank {
            if b == 0 {
                return Some(0);
            }
            let low = 1u64 << (b - 1);
            let within = (rank - seen as f64) / c as f64;
            return Some(low + ((low as f64 * within) as u64).min(low - 1));
        }
        seen += c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_fall_in_the_bucket_of_the_samples() {
        let mut counts = [0u64; BUCKETS];
        // 99 samples of about 1 µs, one of about 1 ms.
        counts[bucket_of(1_000)] = 99;
        counts[bucket_of(1_000_000)] = 1;
        let p50 = quantile(&counts, 0.5).unwrap();
        assert!((512..1024).contains(&p50), "{p50}");
        let p99 = quantile(&counts, 0.99).unwrap();
        assert!((512..1024).contains(&p99), "{p99}");
        let max = quantile(&counts, 1.0).unwrap();
        assert!((524_288..1_048_576).contains(&max), "{max}");
        assert_eq!(quantile(&[0; BUCKETS], 0.5), None);
    }
}
