//! The rules of access that ends: when a grant ends, seats, and how long requests wait.

/// One hour in the stored unit of time (microseconds).
pub const HOUR_MICROS: i64 = 3_600_000_000;

/// Why an end of access cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRefusal {
    /// An end that is not after now.
    NotInFuture,
    /// Later than the product's `max_duration_hours` allows (or no end for a product that has one).
    TooLong { max_hours: i32 },
}

fn hours(h: i32) -> i64 {
    i64::from(h).saturating_mul(HOUR_MICROS)
}

/// Whether a request may ask for `duration_hours` of a product with `max_hours`.
pub fn duration_allowed(duration_hours: Option<i32>, max_hours: Option<i32>) -> Result<(), EndRefusal> {
    match (duration_hours, max_hours) {
        (Some(asked), Some(max)) if asked > max => Err(EndRefusal::TooLong { max_hours: max }),
        _ => Ok(()),
    }
}

/// The end of the grant an approval at `now` makes: the approver's `expires_at` when given,
/// else `now` + the request's `duration_hours`, else `now` + the product's maximum, else none.
/// Any end later than `now` + the maximum is refused.
pub fn approval_end(
    now: i64,
    expires_at: Option<i64>,
    duration_hours: Option<i32>,
    max_hours: Option<i32>,
) -> Result<Option<i64>, EndRefusal> {
    if expires_at.is_some_and(|at| at <= now) {
        return Err(EndRefusal::NotInFuture);
    }
    let end = expires_at
        .or_else(|| duration_hours.map(|h| now.saturating_add(hours(h))))
        .or_else(|| max_hours.map(|h| now.saturating_add(hours(h))));
    within_maximum(now, end, max_hours)
}

/// A new end for an active grant, set at `now`: in the future, and no later than `now` + the
/// product's maximum; no end at all only for a product without a maximum.
pub fn new_end(now: i64, expires_at: Option<i64>, max_hours: Option<i32>) -> Result<Option<i64>, EndRefusal> {
    if expires_at.is_some_and(|at| at <= now) {
        return Err(EndRefusal::NotInFuture);
    }
    within_maximum(now, expires_at, max_hours)
}

fn within_maximum(now: i64, end: Option<i64>, max_hours: Option<i32>) -> Result<Option<i64>, EndRefusal> {
    match (end, max_hours) {
        (Some(end), Some(max)) if end > now.saturating_add(hours(max)) => {
            Err(EndRefusal::TooLong { max_hours: max })
        }
        (None, Some(max)) => Err(EndRefusal::TooLong { max_hours: max }),
        _ => Ok(end),
    }
}

/// Whether one more seat may be taken: `None` is unlimited.
pub fn seat_available(seats_used: i64, seat_limit: Option<i64>) -> bool {
    seat_limit.is_none_or(|limit| seats_used < limit)
}

/// When a request made at `created_at` expires if nobody decides it: the site's
/// `pending_ttl_hours` when set, else the service default.
pub fn pending_expiry(created_at: i64, site_ttl_hours: Option<i32>, default_ttl_secs: u64) -> i64 {
    created_at.saturating_add(pending_ttl_micros(site_ttl_hours, default_ttl_secs))
}

/// How long pending requests of a site wait, in microseconds.
pub fn pending_ttl_micros(site_ttl_hours: Option<i32>, default_ttl_secs: u64) -> i64 {
    match site_ttl_hours {
        Some(h) => hours(h),
        None => i64::try_from(default_ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * HOUR_MICROS;

    #[test]
    fn the_approvers_end_wins_then_the_request_then_the_maximum() {
        let at = NOW + 5 * HOUR_MICROS;
        assert_eq!(approval_end(NOW, Some(at), Some(2), Some(10)), Ok(Some(at)));
        assert_eq!(
            approval_end(NOW, None, Some(2), Some(10)),
            Ok(Some(NOW + 2 * HOUR_MICROS))
        );
        assert_eq!(
            approval_end(NOW, None, None, Some(10)),
            Ok(Some(NOW + 10 * HOUR_MICROS))
        );
        assert_eq!(approval_end(NOW, None, None, None), Ok(None));
    }

    #[test]
    fn an_end_must_be_in_the_future_and_within_the_maximum() {
        assert_eq!(
            approval_end(NOW, Some(NOW), None, None),
            Err(EndRefusal::NotInFuture)
        );
        assert_eq!(
            approval_end(NOW, Some(NOW + 11 * HOUR_MICROS), None, Some(10)),
            Err(EndRefusal::TooLong { max_hours: 10 })
        );
        // The request asked for more than the product now allows.
        assert_eq!(
            approval_end(NOW, None, Some(12), Some(10)),
            Err(EndRefusal::TooLong { max_hours: 10 })
        );
        assert_eq!(
            approval_end(NOW, Some(NOW + 10 * HOUR_MICROS), None, Some(10)),
            Ok(Some(NOW + 10 * HOUR_MICROS))
        );
    }

    #[test]
    fn a_new_end_may_be_removed_only_without_a_maximum() {
        assert_eq!(new_end(NOW, None, None), Ok(None));
        assert_eq!(
            new_end(NOW, None, Some(1)),
            Err(EndRefusal::TooLong { max_hours: 1 })
        );
        assert_eq!(new_end(NOW, Some(NOW - 1), None), Err(EndRefusal::NotInFuture));
        assert_eq!(
            new_end(NOW, Some(NOW + HOUR_MICROS), Some(1)),
            Ok(Some(NOW + HOUR_MICROS))
        );
        assert_eq!(
            new_end(NOW, Some(NOW + HOUR_MICROS + 1), Some(1)),
            Err(EndRefusal::TooLong { max_hours: 1 })
        );
    }

    #[test]
    fn durations_within_the_maximum() {
        assert_eq!(duration_allowed(Some(10), Some(10)), Ok(()));
        assert_eq!(duration_allowed(None, Some(10)), Ok(()));
        assert_eq!(duration_allowed(Some(87_840), None), Ok(()));
        assert_eq!(
            duration_allowed(Some(11), Some(10)),
            Err(EndRefusal::TooLong { max_hours: 10 })
        );
    }

    #[test]
    fn seats() {
        assert!(seat_available(0, None));
        assert!(seat_available(2, Some(3)));
        assert!(!seat_available(3, Some(3)));
        assert!(!seat_available(0, Some(0)));
    }

    #[test]
    fn pending_requests_wait_the_sites_time_or_the_default() {
        assert_eq!(pending_expiry(NOW, Some(2), 60), NOW + 2 * HOUR_MICROS);
        assert_eq!(pending_expiry(NOW, None, 60), NOW + 60_000_000);
        assert_eq!(pending_expiry(NOW, None, u64::MAX), i64::MAX);
    }
}
