//! The pure rules of `domain` and the list cursor: arbitrary input never panics, and what
//! the rules accept keeps the properties the rest of the service relies on.
#![no_main]

use access_requests::domain::{
    approval_end, duration_allowed, email_domain, email_domain_verified, may_request, may_transition,
    new_end, over_limit, over_pending_cap, parse_if_match, pending_expiry, rollout_bucket, seat_available,
    starts_in_rollout, AccountId, ProductKey, RequestAttempt, RequestKind, RequestStatus, HOUR_MICROS,
};
use access_requests::store::Cursor;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a str,
    other: &'a str,
    domains: Vec<String>,
    flags: [bool; 5],
    status: u8,
    version: i64,
    if_match: Option<i64>,
    count: u64,
    limit: u32,
    oldest: i64,
    window: i64,
    now: i64,
    percent: u8,
}

fuzz_target!(|input: Input<'_>| {
    let Input { text, other, .. } = input;

    if let Ok(id) = AccountId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert!((1..=128).contains(&text.len()));
        // A valid account id is a valid path segment and header value: plain ASCII.
        assert!(text.bytes().all(|b| b.is_ascii_graphic() && b != b'/'));
    }
    if let Ok(key) = ProductKey::parse(text) {
        assert_eq!(key.as_str(), text);
        assert!((2..=64).contains(&text.len()));
    }
    if let Some(version) = parse_if_match(text) {
        assert!(version >= 0);
    }
    if let Ok(cursor) = Cursor::decode(text) {
        let again = Cursor::decode(&cursor.encode()).expect("an encoded cursor decodes");
        assert_eq!((again.at, again.id), (cursor.at, cursor.id));
    }

    let bucket = rollout_bucket(text);
    assert!(bucket < 100);
    assert_eq!(starts_in_rollout(text, input.percent), bucket < input.percent);

    if let Some(domain) = email_domain(text) {
        assert!(!domain.contains('@'));
    }
    let _ = email_domain_verified(text, &input.domains);
    let _ = email_domain_verified(other, &[text.to_owned()]);

    let [email_verified, caller_on_site, caller_blocked, on_behalf, external] = input.flags;
    let attempt = RequestAttempt {
        email_verified,
        caller_on_site,
        caller_blocked,
        kind: if on_behalf {
            RequestKind::OnBehalf
        } else {
            RequestKind::SelfRequest
        },
        external_requests_enabled: external,
    };
    if may_request(attempt).is_ok() {
        assert!(email_verified && !caller_blocked);
        assert!(caller_on_site || (!on_behalf && external));
    }

    let status = match input.status % 5 {
        0 => RequestStatus::Pending,
        1 => RequestStatus::Approved,
        2 => RequestStatus::Denied,
        3 => RequestStatus::Expired,
        _ => RequestStatus::Cancelled,
    };
    if may_transition(status, input.version, input.if_match).is_ok() {
        assert_eq!(status, RequestStatus::Pending);
    }

    if let Some(wait) = over_limit(input.count, input.limit, input.oldest, input.window, input.now) {
        assert!(wait >= 1);
        assert!(input.limit > 0 && input.count >= u64::from(input.limit));
    }
    let _ = over_pending_cap(input.count, input.limit);

    // The end of access: never in the past, never beyond the product's maximum.
    let hours = |n: i64| i32::try_from(n.rem_euclid(100_000)).ok().filter(|h| *h > 0);
    let (asked, max) = (hours(input.oldest), hours(input.window));
    let requested = input.if_match;
    if let Ok(end) = approval_end(input.now, requested, asked, max) {
        if let Some(end) = end {
            assert!(end > input.now || requested.is_none());
            if let Some(max) = max {
                assert!(end <= input.now.saturating_add(i64::from(max) * HOUR_MICROS));
            }
        } else {
            assert!(max.is_none());
        }
    }
    if let Ok(Some(end)) = new_end(input.now, requested, max) {
        assert!(end > input.now);
    }
    if duration_allowed(asked, max).is_err() {
        assert!(asked > max && max.is_some());
    }
    assert!(seat_available(input.count as i64, None));
    let _ = seat_available(input.version, Some(input.oldest));
    let _ = pending_expiry(input.now, asked, input.count);
});
