//! Configuration parsing: webhook secrets and whole environments from arbitrary strings.
//! Start-up must answer with a `ConfigError`, never a panic.
#![no_main]

use std::collections::HashMap;

use access_requests::config::{parse_whsec, Settings};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const VARIABLES: [&str; 20] = [
    "DATABASE_URL",
    "LISTEN_ADDR",
    "JWT_HS256_SECRET",
    "JWT_JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "PLATFORM_ADMINS",
    "GROUP_SERVICE_URL",
    "GROUP_SERVICE_SECRET",
    "BILLING_SERVICE_URL",
    "BILLING_SERVICE_SECRET",
    "NOTIFICATION_SERVICE_URL",
    "NOTIFICATION_SERVICE_SECRET",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_MS",
    "WEBHOOK_TIMEOUT_MS",
    "ROLLOUT_PERCENT",
    "RATE_LIMIT_CREATE_PER_MINUTE",
    "MAX_PENDING_PER_REQUESTER",
    "UNRELATED",
];

#[derive(Debug, Arbitrary)]
struct Input {
    secret: String,
    environment: Vec<(u8, String)>,
}

fuzz_target!(|input: Input| {
    if let Some(secret) = parse_whsec(&input.secret) {
        assert!(!secret.expose().is_empty());
        assert!(input.secret.starts_with("whsec_"));
    }

    let environment: HashMap<&str, String> = input
        .environment
        .into_iter()
        .map(|(index, value)| (VARIABLES[usize::from(index) % VARIABLES.len()], value))
        .collect();
    if let Ok(settings) = Settings::from_lookup(|name| environment.get(name).cloned()) {
        assert!(settings.rollout_percent <= 100);
        assert!(settings.webhook_max_attempts >= 1);
        assert!(settings.jwt_hs256_secret.is_some() || settings.jwt_jwks_url.is_some());
    }
});
