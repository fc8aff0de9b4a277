//! Typed settings read from the environment (contract §5).
//!
//! Secrets are kept in [`Secret`], whose `Debug` never prints the value.

use std::collections::HashSet;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

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
    /// The JWKS is refetched at least this often, so removed keys stop working.
    pub jwt_jwks_refresh_secs: u64,
    /// The longest token lifetime accepted; `0` accepts any.
    pub jwt_max_ttl_secs: u64,
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
    /// How long a request may stay pending before it expires (`PENDING_REQUEST_TTL_SECS`).
    pub pending_request_ttl_secs: u64,
    /// How long before its end a grant's `grant.expiring` goes out (`GRANT_EXPIRY_WARNING_SECS`).
    pub grant_expiry_warning_secs: u64,
    /// The most connections one instance opens (`DATABASE_POOL_SIZE`); `None`: the backend's default.
    pub database_pool_size: Option<u32>,
    /// Origins browsers may call from (`CORS_ALLOWED_ORIGINS`), each `scheme://host[:port]`,
    /// or the single entry `*`; empty: no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    pub log_format: LogFormat,
}

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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

/// The shortest HS256 secret accepted: RFC 7518 §3.2 wants a key at least as long
/// as the hash output (256 bits); a shorter one can be brute-forced from one token.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The `JWT_HS256_SECRET` rule, shared by start-up and the `token` subcommand.
pub fn hs256_secret(raw: &str) -> Result<Secret, ConfigError> {
    if raw.len() < MIN_HS256_SECRET_BYTES {
        return Err(ConfigError::new(
            "JWT_HS256_SECRET",
            format!("must be at least {MIN_HS256_SECRET_BYTES} bytes long (RFC 7518 §3.2)"),
        ));
    }
    Ok(Secret::new(raw))
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let listen_addr = match get("LISTEN_ADDR") {
            Some(raw) => resolve_listen_addr(raw.trim()).ok_or_else(|| {
                ConfigError::new("LISTEN_ADDR", format!("`{raw}` is not a host:port address"))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };

        let jwt_jwks_url = get("JWT_JWKS_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &jwt_jwks_url {
            check_http_url("JWT_JWKS_URL", url)?;
        }
        let jwt_hs256_secret = get("JWT_HS256_SECRET")
            .map(|raw| hs256_secret(&raw))
            .transpose()?;
        if jwt_hs256_secret.is_none() && jwt_jwks_url.is_none() {
            return Err(ConfigError::new(
                "JWT_HS256_SECRET",
                "set JWT_HS256_SECRET and/or JWT_JWKS_URL so tokens can be verified",
            ));
        }
        let jwt_issuer = get("JWT_ISSUER");
        let jwt_audience = get("JWT_AUDIENCE");
        // An identity provider's keys sign tokens for every app it serves: without
        // both checks, a token minted for another app would be accepted here.
        if jwt_jwks_url.is_some() {
            for (variable, value) in [("JWT_ISSUER", &jwt_issuer), ("JWT_AUDIENCE", &jwt_audience)] {
                if value.is_none() {
                    return Err(ConfigError::new(variable, "required when JWT_JWKS_URL is set"));
                }
            }
        }

        let database_url = get("DATABASE_URL").map_or_else(
            || Ok(DEFAULT_DATABASE_URL.to_owned()),
            |url| database_url(url.trim()),
        )?;
        let database_pool_size = match get("DATABASE_POOL_SIZE") {
            Some(_) => Some(number(&get, "DATABASE_POOL_SIZE", 1, 1, 1024)?),
            None => None,
        };

        Ok(Settings {
            database_url,
            listen_addr,
            jwt_hs256_secret,
            jwt_jwks_url,
            jwt_issuer,
            jwt_audience,
            jwt_jwks_refresh_secs: number(&get, "JWT_JWKS_REFRESH_SECS", 300, 1, 86_400)?,
            jwt_max_ttl_secs: number(&get, "JWT_MAX_TTL_SECS", 86_400, 0, 31_536_000)?,
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
            pending_request_ttl_secs: number(&get, "PENDING_REQUEST_TTL_SECS", 604_800, 1, 315_360_000)?,
            grant_expiry_warning_secs: number(&get, "GRANT_EXPIRY_WARNING_SECS", 86_400, 0, 315_360_000)?,
            database_pool_size,
            cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                .map(|list| parse_origins(&list))
                .transpose()?
                .unwrap_or_default(),
            log_format: parse_log_format(get("LOG_FORMAT"))?,
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

/// `DATABASE_URL`: a `postgres://` or `postgresql://` URL, or an SQLite file (a path, a
/// `sqlite://` URL or a `file:` URI). Anything else that names a scheme is refused at once:
/// `postgres:/db` must not quietly become an SQLite file of that name.
fn database_url(raw: &str) -> Result<String, ConfigError> {
    if is_postgres_url(raw) {
        return Ok(raw.to_owned());
    }
    if let Some(path) = raw.strip_prefix("sqlite://") {
        return Ok(path.to_owned());
    }
    let scheme = raw.split_once(':').map(|(head, _)| head).filter(|head| {
        head.len() > 1
            && head.starts_with(|c: char| c.is_ascii_alphabetic())
            && head
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    match scheme {
        None | Some("file") => Ok(raw.to_owned()),
        Some(other) => Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "`{other}:` is not a known scheme; use postgres://…, postgresql://…, sqlite://PATH or a file path"
            ),
        )),
    }
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

fn parse_log_format(raw: Option<String>) -> Result<LogFormat, ConfigError> {
    match raw.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError::new(
            "LOG_FORMAT",
            format!("`{other}` is neither `text` nor `json`"),
        )),
    }
}

/// A `host:port` where the host may be a name (`localhost:8081`): its first IPv4 address, as
/// people who write `localhost` mean the loopback most tools use, else its first address.
fn resolve_listen_addr(raw: &str) -> Option<SocketAddr> {
    let addrs: Vec<SocketAddr> = raw.to_socket_addrs().ok()?.collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied()
}

/// `*` alone, or origins as browsers send them in `Origin`: `scheme://host[:port]`, with a
/// trailing `/` tolerated and the host lower-cased, so that a listed origin can match.
fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let entries: Vec<&str> = list.split(',').map(str::trim).filter(|o| !o.is_empty()).collect();
    if entries == ["*"] {
        return Ok(vec!["*".to_owned()]);
    }
    entries
        .into_iter()
        .map(|entry| {
            let bad = || {
                ConfigError::new(
                    "CORS_ALLOWED_ORIGINS",
                    format!("`{entry}` is not an origin like https://app.example.com (or `*` alone)"),
                )
            };
            let url = reqwest::Url::parse(entry).map_err(|_| bad())?;
            let bare = url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && url.password().is_none();
            let origin = url.origin();
            if bare && origin.is_tuple() && matches!(url.scheme(), "http" | "https") {
                Ok(origin.ascii_serialization())
            } else {
                Err(bad())
            }
        })
        .collect()
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
mod tests;
