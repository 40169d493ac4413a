//! Latency summaries and the formatting shared by the benchmarks.
//!
//! Percentiles use the nearest-rank method on the sorted samples, so every reported value is a
//! latency that was actually observed.

use std::time::Duration;

/// The distribution of one batch of latencies.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Latencies {
    /// Summarises `samples` (sorted in place). An empty batch summarises to zeros.
    pub fn of(samples: &mut [Duration]) -> Latencies {
        samples.sort_unstable();
        let count = samples.len();
        let total: Duration = samples.iter().sum();
        let mean = match u32::try_from(count) {
            Ok(n) if n > 0 => total / n,
            _ => Duration::ZERO,
        };
        Latencies {
            count,
            p50: percentile(samples, 50),
            p99: percentile(samples, 99),
            mean,
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// The nearest-rank `pct`th percentile of sorted `samples`.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: the smallest sample with at least pct% of the samples at or below it.
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `a / b` for durations, `NaN` when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// A duration in the unit that suits it: `850 µs`, `3.42 ms`, `12.1 s`.
pub fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1_000.0)
    } else {
        format!("{:.1} s", micros / 1_000_000.0)
    }
}

/// KiB (as /proc reports them) as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    // KiB counts from /proc stay far below 2^52, so the conversion is exact.
    let value = kib as f64 / 1024.0;
    format!("{value:.1} MiB")
}

/// `PASS` when a target is met, `MISS` when it is not (informational either way).
pub fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let summary = Latencies::of(&mut samples);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, ms(50));
        assert_eq!(summary.p99, ms(99));
        assert_eq!(summary.max, ms(100));
        assert_eq!(summary.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn tiny_and_empty_batches() {
        let summary = Latencies::of(&mut [ms(7)]);
        assert_eq!(
            (summary.p50, summary.p99, summary.max),
            (ms(7), ms(7), ms(7))
        );
        let empty = Latencies::of(&mut []);
        assert_eq!(
            (empty.count, empty.p50, empty.mean),
            (0, Duration::ZERO, Duration::ZERO)
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_micros(850)), "850 µs");
        assert_eq!(human(Duration::from_micros(3_420)), "3.42 ms");
        assert_eq!(human(Duration::from_millis(12_100)), "12.1 s");
    }
}
