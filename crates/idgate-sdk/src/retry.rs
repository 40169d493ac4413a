//! When to try again, and what to tell the operator.
//!
//! Coder's agent retried a permanent 409 every few seconds, forever, on every instance of a
//! fleet. Here, a transient failure (network, 5xx, 429) backs off exponentially with full
//! jitter, while a permanent answer (400, 401, 404, 409) is retried only every few minutes and
//! is reported once, with what to do about it.
//!
//! [`RetryPolicy::delay`] is a pure function of the attempt number, the failure class, the
//! `Retry-After` asked for and a random source, so it is tested without sleeping. [`retry`]
//! sleeps with `tokio::time`, so tests can pause the clock.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::{Error, FailureClass};

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first transient delay; it doubles per attempt.
    pub base: Duration,
    /// The largest ceiling for transient delays.
    pub cap: Duration,
    /// The ceiling of the first permanent delay; it doubles per attempt.
    pub permanent_base: Duration,
    /// The largest ceiling for permanent delays.
    pub permanent_cap: Duration,
    /// The longest `Retry-After` obeyed; longer requests are shortened to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Transient: up to 1 s, doubling to 60 s. Permanent: 15–30 s at first, doubling to
    /// 2.5–5 min. `Retry-After` obeyed up to 5 min.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            permanent_base: Duration::from_secs(30),
            permanent_cap: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// `min(cap, base × 2^attempt)`, without overflow.
fn ceiling(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

fn uniform<R: Rng + ?Sized>(rng: &mut R, upper: Duration) -> Duration {
    if upper.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.gen_range(0..=upper.as_nanos().min(u64::MAX as u128) as u64))
}

impl RetryPolicy {
    /// How long to wait before retry number `attempt + 1` (the first retry is `attempt` 0).
    ///
    /// - Transient: "full jitter", uniform in `[0, min(cap, base × 2^attempt)]`.
    /// - Permanent: "equal jitter", uniform in `[c/2, c]` with
    ///   `c = min(permanent_cap, permanent_base × 2^attempt)`, so never fast.
    /// - With `retry_after` (clamped to `max_retry_after`), never less than that.
    pub fn delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        class: FailureClass,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let jittered = match class {
            FailureClass::Transient => uniform(rng, ceiling(self.base, self.cap, attempt)),
            FailureClass::Permanent => {
                let top = ceiling(self.permanent_base, self.permanent_cap, attempt);
                let half = top / 2;
                half + uniform(rng, top - half)
            }
        };
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// [`RetryPolicy::delay`] for an error: its class and its `Retry-After`.
    pub fn delay_for<R: Rng + ?Sized>(&self, attempt: u32, error: &Error, rng: &mut R) -> Duration {
        self.delay(attempt, error.class(), error.retry_after(), rng)
    }
}

/// Remembers which failures were already reported, so that each distinct one is logged once
/// (at warn, with its advice) and its repetitions only at debug.
#[derive(Debug, Default)]
pub struct Reporter {
    seen: HashSet<String>,
}

impl Reporter {
    /// A reporter that has seen nothing.
    pub fn new() -> Reporter {
        Reporter::default()
    }

    /// Whether `error` is the first of its kind since the last [`Reporter::reset`]. Two
    /// errors are of one kind when they have the same text.
    pub fn first_time(&mut self, error: &Error) -> bool {
        self.seen.insert(error.to_string())
    }

    /// Forgets everything (after a success, so that a recurrence is reported again).
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// Logs `error` for an operation described by `what`: the first occurrence at warn with
    /// its advice, later ones at debug. `retry_in` says when the next attempt is, if one is
    /// planned. Returns whether it was the first.
    pub fn report(&mut self, what: &str, error: &Error, retry_in: Option<Duration>) -> bool {
        let first = self.first_time(error);
        let permanent = error.is_permanent();
        let retry_in = match retry_in {
            Some(delay) => format!("{:.1}s", delay.as_secs_f64()),
            None => "-".to_owned(),
        };
        if first {
            match error.advice() {
                Some(advice) => tracing::warn!(
                    %error, %advice, permanent, retry_in, "{what} failed"
                ),
                None => tracing::warn!(%error, permanent, retry_in, "{what} failed"),
            }
        } else {
            tracing::debug!(%error, retry_in, "{what} failed again");
        }
        first
    }
}

/// Runs `operation` until it succeeds, sleeping between attempts as `policy` says and
/// reporting each distinct failure once. It never gives up: cancel it by dropping the future
/// (for example in a `tokio::select!` with a shutdown signal).
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, what: &str, operation: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    retry_reporting(policy, &mut Reporter::new(), what, operation).await
}

/// [`retry`] with a [`Reporter`] that the caller keeps, so that a failure already reported
/// elsewhere (say, by a heartbeat) is not reported again here.
pub async fn retry_reporting<T, F, Fut>(
    policy: &RetryPolicy,
    reporter: &mut Reporter,
    what: &str,
    mut operation: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt: u32 = 0;
    loop {
        match operation().await {
            Ok(value) => {
                if attempt > 0 {
                    tracing::info!(attempts = attempt + 1, "{what} succeeded");
                }
                return value;
            }
            Err(error) => {
                let delay = policy.delay_for(attempt, &error, &mut rand::thread_rng());
                reporter.report(what, &error, Some(delay));
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    /// The largest and smallest delay seen over many draws.
    fn bounds(
        policy: &RetryPolicy,
        attempt: u32,
        class: FailureClass,
        retry_after: Option<Duration>,
    ) -> (Duration, Duration) {
        let mut rng = rng();
        let delays: Vec<Duration> = (0..2000)
            .map(|_| policy.delay(attempt, class, retry_after, &mut rng))
            .collect();
        (*delays.iter().min().unwrap(), *delays.iter().max().unwrap())
    }

    #[test]
    fn transient_backoff_grows_with_full_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        for (attempt, top) in [(0, 1), (1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            let (low, high) = bounds(&policy, attempt, FailureClass::Transient, None);
            assert!(high <= S(top), "attempt {attempt}: {high:?} > {top}s");
            // Full jitter spreads over the whole range.
            assert!(low < S(top) / 10, "attempt {attempt}: low {low:?}");
            assert!(high > S(top) * 9 / 10, "attempt {attempt}: high {high:?}");
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let policy = RetryPolicy::default();
        let (low, high) = bounds(&policy, 0, FailureClass::Transient, Some(S(20)));
        assert_eq!((low, high), (S(20), S(20)));
        // Past the jitter ceiling the random delay may be longer than asked, never shorter.
        let (low, high) = bounds(&policy, 7, FailureClass::Transient, Some(S(20)));
        assert!(low >= S(20) && high <= S(60), "{low:?} {high:?}");
        // An absurd Retry-After is obeyed only up to max_retry_after.
        let (low, high) = bounds(&policy, 0, FailureClass::Transient, Some(S(86_400)));
        assert_eq!((low, high), (S(300), S(300)));
    }

    #[test]
    fn permanent_failures_are_retried_slowly() {
        let policy = RetryPolicy::default();
        let (low, high) = bounds(&policy, 0, FailureClass::Permanent, None);
        assert!(low >= S(15) && high <= S(30), "{low:?} {high:?}");
        let (low, high) = bounds(&policy, 2, FailureClass::Permanent, None);
        assert!(low >= S(60) && high <= S(120), "{low:?} {high:?}");
        for attempt in [4, 10, 1000, u32::MAX] {
            let (low, high) = bounds(&policy, attempt, FailureClass::Permanent, None);
            assert!(low >= S(150), "attempt {attempt}: {low:?}");
            assert!(high <= S(300), "attempt {attempt}: {high:?}");
            assert!(high > S(290), "jitter reaches the cap: {high:?}");
        }
    }

    #[test]
    fn a_fleet_stuck_on_a_409_does_not_saturate_the_server() {
        // 10,000 agents, each retrying a permanent answer from its 10th attempt on: the
        // average delay is at least 3.75 minutes, so under 45 requests per second in all.
        let policy = RetryPolicy::default();
        let mut rng = rng();
        let total: Duration = (0..10_000)
            .map(|_| policy.delay(10, FailureClass::Permanent, None, &mut rng))
            .sum();
        let mean = total / 10_000;
        assert!(mean >= Duration::from_secs(215), "{mean:?}");
    }

    #[test]
    fn zero_durations_do_not_panic() {
        let policy = RetryPolicy {
            base: Duration::ZERO,
            cap: Duration::ZERO,
            permanent_base: Duration::ZERO,
            permanent_cap: Duration::ZERO,
            max_retry_after: Duration::ZERO,
        };
        let mut rng = rng();
        assert_eq!(
            policy.delay(3, FailureClass::Transient, Some(S(5)), &mut rng),
            Duration::ZERO
        );
        assert_eq!(
            policy.delay(3, FailureClass::Permanent, None, &mut rng),
            Duration::ZERO
        );
    }

    #[test]
    fn errors_bring_their_class_and_retry_after() {
        let policy = RetryPolicy::default();
        let mut rng = rng();
        let limited = Error::Rejected {
            status: 429,
            code: Some(idgate_api::ErrorCode::RateLimited),
            message: "Too many requests.".into(),
            detail: None,
            retry_after: Some(S(42)),
        };
        assert_eq!(policy.delay_for(0, &limited, &mut rng), S(42));
        let conflict = Error::Rejected {
            status: 409,
            code: Some(idgate_api::ErrorCode::AmbiguousAgent),
            message: "x".into(),
            detail: None,
            retry_after: None,
        };
        assert!(policy.delay_for(0, &conflict, &mut rng) >= S(15));
    }

    #[test]
    fn each_distinct_failure_is_reported_once() {
        let mut reporter = Reporter::new();
        let a = Error::EmptyToken { path: "/a".into() };
        let b = Error::EmptyToken { path: "/b".into() };
        assert!(reporter.first_time(&a));
        assert!(!reporter.first_time(&a));
        assert!(reporter.first_time(&b));
        reporter.reset();
        assert!(reporter.first_time(&a));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_sleeps_as_the_policy_says_and_returns_the_success() {
        let policy = RetryPolicy::default();
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let value = retry(&policy, "test", || {
            calls += 1;
            let result = if calls < 4 {
                Err(Error::Rejected {
                    status: 409,
                    code: None,
                    message: "x".into(),
                    detail: None,
                    retry_after: None,
                })
            } else {
                Ok(calls)
            };
            async move { result }
        })
        .await;
        assert_eq!(value, 4);
        // Three permanent failures: at least 15 + 30 + 60 seconds of (paused) waiting.
        let waited = start.elapsed();
        assert!(waited >= S(105), "{waited:?}");
        assert!(waited <= S(210), "{waited:?}");
    }
}
