//! When to try a failed delivery again.

use std::time::Duration;

/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The wait after attempt number `attempt` (1-based) failed: `base * 2^(attempt-1)`,
/// scaled by `jitter` (expected in 0.75..=1.25), never below a `Retry-After`
/// the receiver asked for, and never above [`MAX_DELAY`].
pub fn retry_delay(attempt: u32, base: Duration, jitter: f64, retry_after: Option<Duration>) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let backoff = base.saturating_mul(1u32 << exponent).min(MAX_DELAY);
    let jittered = backoff.mul_f64(jitter.clamp(0.5, 1.5));
    jittered.max(retry_after.unwrap_or_default()).min(MAX_DELAY)
}

/// A random factor spreading retries of many deliveries apart.
pub fn jitter() -> f64 {
    use rand::Rng;
    rand::thread_rng().gen_range(0.75..=1.25)
}

/// Reads `Retry-After` given in seconds.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(1000);

    #[test]
    fn doubles_from_the_base() {
        assert_eq!(retry_delay(1, BASE, 1.0, None), Duration::from_secs(1));
        assert_eq!(retry_delay(2, BASE, 1.0, None), Duration::from_secs(2));
        assert_eq!(retry_delay(5, BASE, 1.0, None), Duration::from_secs(16));
    }

    #[test]
    fn is_capped_and_jittered() {
        assert_eq!(retry_delay(40, BASE, 1.0, None), MAX_DELAY);
        assert_eq!(retry_delay(1, BASE, 0.75, None), Duration::from_millis(750));
        assert!(retry_delay(40, BASE, 1.25, None) <= MAX_DELAY);
        for _ in 0..100 {
            let j = jitter();
            assert!((0.75..=1.25).contains(&j));
        }
    }

    #[test]
    fn honours_retry_after() {
        let wait = retry_delay(1, BASE, 1.0, Some(Duration::from_secs(30)));
        assert_eq!(wait, Duration::from_secs(30));
        let huge = retry_delay(1, BASE, 1.0, Some(Duration::from_secs(1_000_000)));
        assert_eq!(huge, MAX_DELAY);
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
