//! The settings as start-up reads them: defaults, refusals naming their variable, secrets kept quiet.

use super::*;
use std::collections::HashMap;

/// A secret of the shortest accepted length.
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults_follow_the_contract() {
    let s = settings(&[("JWT_HS256_SECRET", SECRET)]).unwrap();
    assert_eq!(s.database_url, "access-requests.db");
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(
        (
            s.webhook_max_attempts,
            s.webhook_retry_base_ms,
            s.webhook_timeout_ms
        ),
        (12, 1000, 5000)
    );
    assert_eq!(s.webhook_retention_days, 30);
    assert_eq!(s.rollout_percent, 0);
    assert_eq!(
        (s.rate_limit_create_per_minute, s.max_pending_per_requester),
        (30, 50)
    );
    assert!(s.group_service.is_none());
    assert!(s.platform_admins.is_empty());
    assert_eq!((s.jwt_jwks_refresh_secs, s.jwt_max_ttl_secs), (300, 86_400));
    assert!(s.cors_allowed_origins.is_empty());
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(
        (s.pending_request_ttl_secs, s.grant_expiry_warning_secs),
        (604_800, 86_400)
    );
    assert_eq!(s.database_pool_size, None);
}

#[test]
fn database_urls_name_a_backend_or_a_file() {
    let url =
        |raw: &str| settings(&[("JWT_HS256_SECRET", SECRET), ("DATABASE_URL", raw)]).map(|s| s.database_url);
    assert_eq!(url("postgres://u@h/db").unwrap(), "postgres://u@h/db");
    assert_eq!(url("postgresql://h/db").unwrap(), "postgresql://h/db");
    assert_eq!(url("sqlite:///tmp/x.db").unwrap(), "/tmp/x.db");
    assert_eq!(url("data/x.db").unwrap(), "data/x.db");
    assert_eq!(url("file:x.db?mode=rwc").unwrap(), "file:x.db?mode=rwc");
    for bad in ["postgres:/broken", "mysql://h/db", "postgress://h/db", "http://x"] {
        let err = url(bad).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL", "{bad}");
    }
}

#[test]
fn an_hs256_secret_needs_32_bytes() {
    let short = &SECRET[1..];
    let err = settings(&[("JWT_HS256_SECRET", short)]).unwrap_err();
    assert_eq!(err.variable, "JWT_HS256_SECRET");
    assert!(!err.to_string().contains(short), "{err}");
    assert_eq!(hs256_secret(short).unwrap_err(), err);
    let s = settings(&[("JWT_HS256_SECRET", SECRET)]).unwrap();
    assert_eq!(s.jwt_hs256_secret.unwrap().expose(), SECRET.as_bytes());
}

#[test]
fn a_jwks_needs_issuer_and_audience() {
    let jwks = ("JWT_JWKS_URL", "https://id.example.com/jwks.json");
    let issuer = ("JWT_ISSUER", "https://id.example.com/");
    let audience = ("JWT_AUDIENCE", "access-requests");
    for (vars, missing) in [
        (vec![jwks], "JWT_ISSUER"),
        (vec![jwks, audience], "JWT_ISSUER"),
        (vec![jwks, issuer], "JWT_AUDIENCE"),
        (vec![jwks, issuer, ("JWT_AUDIENCE", "  ")], "JWT_AUDIENCE"),
        (vec![jwks, issuer, ("JWT_HS256_SECRET", SECRET)], "JWT_AUDIENCE"),
    ] {
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.variable, missing, "{vars:?}");
        assert!(err.to_string().contains("JWT_JWKS_URL"), "{err}");
    }
    let s = settings(&[jwks, issuer, audience]).unwrap();
    assert!(s.jwt_hs256_secret.is_none());
    // HS256 alone may go without them: the secret is this service's own.
    assert!(settings(&[("JWT_HS256_SECRET", SECRET)])
        .unwrap()
        .jwt_issuer
        .is_none());
}

#[test]
fn token_lifetime_and_jwks_refresh_are_bounded() {
    let with = |var, value| settings(&[("JWT_HS256_SECRET", SECRET), (var, value)]);
    assert_eq!(
        with("JWT_JWKS_REFRESH_SECS", "1").unwrap().jwt_jwks_refresh_secs,
        1
    );
    assert_eq!(
        with("JWT_JWKS_REFRESH_SECS", "86400")
            .unwrap()
            .jwt_jwks_refresh_secs,
        86_400
    );
    assert_eq!(with("JWT_MAX_TTL_SECS", "0").unwrap().jwt_max_ttl_secs, 0);
    assert_eq!(with("JWT_MAX_TTL_SECS", "3600").unwrap().jwt_max_ttl_secs, 3600);
    for (var, value) in [
        ("JWT_JWKS_REFRESH_SECS", "0"),
        ("JWT_JWKS_REFRESH_SECS", "86401"),
        ("JWT_JWKS_REFRESH_SECS", "soon"),
        ("JWT_MAX_TTL_SECS", "-1"),
        ("JWT_MAX_TTL_SECS", "31536001"),
    ] {
        assert_eq!(with(var, value).unwrap_err().variable, var, "{var}={value}");
    }
}

#[test]
fn a_key_source_is_required() {
    let err = settings(&[]).unwrap_err();
    assert_eq!(err.variable, "JWT_HS256_SECRET");
}

#[test]
fn bad_values_name_their_variable() {
    for (var, value) in [
        ("LISTEN_ADDR", "nowhere"),
        ("ROLLOUT_PERCENT", "101"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("WEBHOOK_TIMEOUT_MS", "soon"),
        ("WEBHOOK_RETENTION_DAYS", "0"),
        ("PLATFORM_ADMINS", "ok,not valid"),
        ("JWT_JWKS_URL", "ftp://x"),
        ("GROUP_SERVICE_URL", "not a url"),
        ("PENDING_REQUEST_TTL_SECS", "0"),
        ("DATABASE_POOL_SIZE", "0"),
        ("LISTEN_ADDR", "localhost"),
        ("LISTEN_ADDR", "127.0.0.1:99999"),
        ("CORS_ALLOWED_ORIGINS", "app.example.com"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
        ("CORS_ALLOWED_ORIGINS", "https://a.test,*"),
        ("CORS_ALLOWED_ORIGINS", "ftp://files.test"),
        ("LOG_FORMAT", "xml"),
    ] {
        let err = settings(&[("JWT_HS256_SECRET", SECRET), (var, value)]).unwrap_err();
        assert_eq!(err.variable, var, "{err}");
        assert!(err.to_string().starts_with("invalid configuration: "));
    }
}

#[test]
fn webhook_targets_need_a_whsec_secret() {
    let err = settings(&[("JWT_HS256_SECRET", SECRET), ("BILLING_SERVICE_URL", "http://b")]).unwrap_err();
    assert_eq!(err.variable, "BILLING_SERVICE_SECRET");
    let err = settings(&[
        ("JWT_HS256_SECRET", SECRET),
        ("BILLING_SERVICE_URL", "http://b"),
        ("BILLING_SERVICE_SECRET", "plain"),
    ])
    .unwrap_err();
    assert_eq!(err.variable, "BILLING_SERVICE_SECRET");
    let s = settings(&[
        ("JWT_HS256_SECRET", SECRET),
        ("BILLING_SERVICE_URL", "http://b"),
        ("BILLING_SERVICE_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ])
    .unwrap();
    assert_eq!(s.billing_service.unwrap().secret.expose().len(), 24);
}

#[test]
fn secrets_do_not_print() {
    let s = settings(&[("JWT_HS256_SECRET", "hunter2-very-secret-hunter2-very-secret")]).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn listen_addresses_may_name_a_host() {
    let addr = |raw| settings(&[("JWT_HS256_SECRET", SECRET), ("LISTEN_ADDR", raw)]).map(|s| s.listen_addr);
    assert_eq!(addr("localhost:8081").unwrap().to_string(), "127.0.0.1:8081");
    assert_eq!(addr(" 0.0.0.0:80 ").unwrap().to_string(), "0.0.0.0:80");
    assert_eq!(addr("[::1]:0").unwrap().to_string(), "[::1]:0");
}

#[test]
fn cors_origins_are_normalized_like_browsers_send_them() {
    let origins = |raw| {
        settings(&[("JWT_HS256_SECRET", SECRET), ("CORS_ALLOWED_ORIGINS", raw)])
            .unwrap()
            .cors_allowed_origins
    };
    assert_eq!(
        origins("https://App.Example.com/, http://localhost:3000"),
        ["https://app.example.com", "http://localhost:3000"]
    );
    assert_eq!(origins(" * "), ["*"]);
    assert!(origins(" , ").is_empty());
}

#[test]
fn log_format_is_text_or_json() {
    let format = |raw| {
        settings(&[("JWT_HS256_SECRET", SECRET), ("LOG_FORMAT", raw)])
            .unwrap()
            .log_format
    };
    assert_eq!(format("json"), LogFormat::Json);
    assert_eq!(format("JSON"), LogFormat::Json);
    assert_eq!(format("text"), LogFormat::Text);
}

#[test]
fn platform_admins_are_a_comma_list() {
    let s = settings(&[("JWT_HS256_SECRET", SECRET), ("PLATFORM_ADMINS", " a , b,,")]).unwrap();
    assert_eq!(s.platform_admins.len(), 2);
    assert!(s.platform_admins.contains("a"));
}
