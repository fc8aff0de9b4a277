//! Typed settings read from the environment (contract §5).
//!
//! Secrets are kept in [`Secret`], whose `Debug` never prints the value.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

use base64::Engine;

/// A configuration value that must never appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where one kind of webhook goes and the key it is signed with.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: Secret,
}

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub jwt_hs256_secret: Option<Secret>,
    pub jwt_jwks_url: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub platform_admins: HashSet<String>,
    pub group_service: Option<WebhookTarget>,
    pub billing_service: Option<WebhookTarget>,
    pub notification_service: Option<WebhookTarget>,
    pub webhook_max_attempts: u32,
    pub webhook_retry_base_ms: u64,
    pub webhook_timeout_ms: u64,
    /// Delivered webhooks (and their attempts) are kept this many days.
    pub webhook_retention_days: u32,
    pub rollout_percent: u8,
    pub rate_limit_create_per_minute: u32,
    pub max_pending_per_requester: u32,
}

/// A setting that could not be used; its `Display` is the one line start-up prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "access-requests.db";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let listen_addr = match get("LISTEN_ADDR") {
            Some(raw) => raw.trim().parse().map_err(|_| {
                ConfigError::new("LISTEN_ADDR", format!("`{raw}` is not a host:port address"))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };

        let jwt_jwks_url = get("JWT_JWKS_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &jwt_jwks_url {
            check_http_url("JWT_JWKS_URL", url)?;
        }
        let jwt_hs256_secret = get("JWT_HS256_SECRET").map(Secret::new);
        if jwt_hs256_secret.is_none() && jwt_jwks_url.is_none() {
            return Err(ConfigError::new(
                "JWT_HS256_SECRET",
                "set JWT_HS256_SECRET and/or JWT_JWKS_URL so tokens can be verified",
            ));
        }

        Ok(Settings {
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            listen_addr,
            jwt_hs256_secret,
            jwt_jwks_url,
            jwt_issuer: get("JWT_ISSUER"),
            jwt_audience: get("JWT_AUDIENCE"),
            platform_admins: get("PLATFORM_ADMINS")
                .map(|list| parse_platform_admins(&list))
                .transpose()?
                .unwrap_or_default(),
            group_service: webhook_target(&get, "GROUP_SERVICE_URL", "GROUP_SERVICE_SECRET")?,
            billing_service: webhook_target(&get, "BILLING_SERVICE_URL", "BILLING_SERVICE_SECRET")?,
            notification_service: webhook_target(
                &get,
                "NOTIFICATION_SERVICE_URL",
                "NOTIFICATION_SERVICE_SECRET",
            )?,
            webhook_max_attempts: number(&get, "WEBHOOK_MAX_ATTEMPTS", 12, 1, 1000)?,
            webhook_retry_base_ms: number(&get, "WEBHOOK_RETRY_BASE_MS", 1000, 1, 3_600_000)?,
            webhook_timeout_ms: number(&get, "WEBHOOK_TIMEOUT_MS", 5000, 1, 600_000)?,
            webhook_retention_days: number(&get, "WEBHOOK_RETENTION_DAYS", 30, 1, 36_500)?,
            rollout_percent: number(&get, "ROLLOUT_PERCENT", 0, 0, 100)?,
            rate_limit_create_per_minute: number(&get, "RATE_LIMIT_CREATE_PER_MINUTE", 30, 0, 1_000_000)?,
            max_pending_per_requester: number(&get, "MAX_PENDING_PER_REQUESTER", 50, 0, 1_000_000)?,
        })
    }

    /// True when `database_url` selects PostgreSQL.
    pub fn uses_postgres(&self) -> bool {
        is_postgres_url(&self.database_url)
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = get(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(value) if value >= min && value <= max => Ok(value),
        _ => Err(ConfigError::new(
            variable,
            format!("`{raw}` is not a whole number from {min} to {max}"),
        )),
    }
}

fn parse_platform_admins(list: &str) -> Result<HashSet<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            crate::domain::AccountId::parse(id)
                .map(|a| a.into_inner())
                .map_err(|_| ConfigError::new("PLATFORM_ADMINS", format!("`{id}` is not an account id")))
        })
        .collect()
}

fn check_http_url(variable: &'static str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(ConfigError::new(
            variable,
            format!("`{url}` is not an http(s) URL"),
        )),
    }
}

fn webhook_target(
    get: &impl Fn(&str) -> Option<String>,
    url_var: &'static str,
    secret_var: &'static str,
) -> Result<Option<WebhookTarget>, ConfigError> {
    let Some(url) = get(url_var) else {
        return Ok(None);
    };
    let url = url.trim().to_owned();
    check_http_url(url_var, &url)?;
    let raw = get(secret_var)
        .ok_or_else(|| ConfigError::new(secret_var, format!("required when {url_var} is set")))?;
    let secret = parse_whsec(raw.trim())
        .ok_or_else(|| ConfigError::new(secret_var, "expected `whsec_` followed by base64 key bytes"))?;
    Ok(Some(WebhookTarget { url, secret }))
}

/// Decodes a Standard Webhooks secret, `whsec_<base64>`.
pub fn parse_whsec(raw: &str) -> Option<Secret> {
    let encoded = raw.strip_prefix("whsec_")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    (!bytes.is_empty()).then(|| Secret::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[("JWT_HS256_SECRET", "s")]).unwrap();
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
        ] {
            let err = settings(&[("JWT_HS256_SECRET", "s"), (var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{err}");
            assert!(err.to_string().starts_with("invalid configuration: "));
        }
    }

    #[test]
    fn webhook_targets_need_a_whsec_secret() {
        let err = settings(&[("JWT_HS256_SECRET", "s"), ("BILLING_SERVICE_URL", "http://b")]).unwrap_err();
        assert_eq!(err.variable, "BILLING_SERVICE_SECRET");
        let err = settings(&[
            ("JWT_HS256_SECRET", "s"),
            ("BILLING_SERVICE_URL", "http://b"),
            ("BILLING_SERVICE_SECRET", "plain"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "BILLING_SERVICE_SECRET");
        let s = settings(&[
            ("JWT_HS256_SECRET", "s"),
            ("BILLING_SERVICE_URL", "http://b"),
            ("BILLING_SERVICE_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ])
        .unwrap();
        assert_eq!(s.billing_service.unwrap().secret.expose().len(), 24);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = settings(&[("JWT_HS256_SECRET", "hunter2-very-secret")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn platform_admins_are_a_comma_list() {
        let s = settings(&[("JWT_HS256_SECRET", "s"), ("PLATFORM_ADMINS", " a , b,,")]).unwrap();
        assert_eq!(s.platform_admins.len(), 2);
        assert!(s.platform_admins.contains("a"));
    }
}
