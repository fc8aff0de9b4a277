//! The RS256/ES256 keys of a JWKS document: a snapshot that verification reads
//! without waiting, one fetch at a time, and a refresher that drops removed keys.
//!
//! - A token whose `kid` is in the snapshot never waits for a fetch (issue 7, item 4):
//!   reading the snapshot is a brief `RwLock` read of an `Arc`.
//! - Fetches happen under one async lock. A token with an unknown `kid` queues on it;
//!   when a fetch finished while it queued, it uses that result instead of fetching
//!   again, so concurrent unknown `kid`s share one fetch. Unknown `kid`s start a
//!   fetch of their own at most once per [`JWKS_REFETCH_INTERVAL`].
//! - The refresher fetches at start-up and then every `JWT_JWKS_REFRESH_SECS`, so a
//!   key removed from the document stops being accepted within that time (item 3).
//! - While the JWKS cannot be fetched, the last good keys stay in use and every failed
//!   fetch logs a warning: an identity-provider outage must not log everybody out.
//!   A token whose `kid` no cached key has is then `503`, since its key may be one
//!   that could not be fetched.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use tokio::time::MissedTickBehavior;

use super::jwt::{invalid, TokenError};

/// An unknown `kid` refetches the JWKS at most this often.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// One fetch may take this long, end to end.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS document larger than this is refused (a real one is a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

type Keys = HashMap<String, (Algorithm, DecodingKey)>;

/// What the last fetch left behind.
struct Snapshot {
    /// The last good keys, by `kid`.
    keys: Arc<Keys>,
    /// Fetches finished so far, failed ones included: a change tells a queued caller
    /// that a fetch completed while it waited.
    fetches: u64,
    /// The last fetch succeeded, so `keys` is the document as it stands.
    fresh: bool,
}

impl Snapshot {
    /// `None` when no cached key has `kid`.
    fn key(&self, kid: &str, alg: Algorithm) -> Option<Result<DecodingKey, TokenError>> {
        self.keys.get(kid).map(|(key_alg, key)| {
            // The key fixes the algorithm: a token cannot pick another one (no RS/HS/ES confusion).
            if *key_alg == alg {
                Ok(key.clone())
            } else {
                Err(invalid("the token's algorithm does not match its key"))
            }
        })
    }
}

/// Held while fetching; records when an unknown `kid` last started a fetch.
#[derive(Default)]
struct FetchLock {
    last_for_unknown_kid: Option<Instant>,
}

/// The keys published at one JWKS URL.
pub(crate) struct Jwks {
    url: String,
    client: reqwest::Client,
    current: RwLock<Arc<Snapshot>>,
    fetching: Arc<Mutex<FetchLock>>,
}

impl Jwks {
    /// Starts the refresher on the current Tokio runtime; it stops once the returned
    /// `Arc` is dropped.
    pub(crate) fn start(url: String, client: reqwest::Client, refresh_every: Duration) -> Arc<Self> {
        let jwks = Arc::new(Self {
            url,
            client,
            current: RwLock::new(Arc::new(Snapshot {
                keys: Arc::default(),
                fetches: 0,
                fresh: false,
            })),
            fetching: Arc::default(),
        });
        tokio::spawn(refresh_periodically(Arc::downgrade(&jwks), refresh_every));
        jwks
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The key for `kid`; fetches the JWKS first when no cached key has it.
    pub(crate) async fn key(self: &Arc<Self>, kid: &str, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let seen = self.snapshot();
        if let Some(found) = seen.key(kid, alg) {
            return found;
        }
        let latest = self.refetch_for_unknown_kid(seen.fetches).await;
        match latest.key(kid, alg) {
            Some(found) => found,
            None if latest.fresh => Err(invalid("the token names an unknown key")),
            None => Err(TokenError::KeysUnavailable),
        }
    }

    /// The snapshot after the fetch this caller shares or starts, or the current one
    /// when an unknown `kid` fetched too recently.
    async fn refetch_for_unknown_kid(self: &Arc<Self>, seen_fetches: u64) -> Arc<Snapshot> {
        let mut lock = Arc::clone(&self.fetching).lock_owned().await;
        let current = self.snapshot();
        let recently = lock
            .last_for_unknown_kid
            .is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL);
        if current.fetches != seen_fetches || recently {
            return current;
        }
        lock.last_for_unknown_kid = Some(Instant::now());
        // The fetch runs in a task of its own that holds the lock: a caller that goes
        // away (its client disconnected) cancels neither the fetch nor the share of
        // the callers queued behind it.
        let jwks = Arc::clone(self);
        tokio::spawn(async move { jwks.refresh(&mut lock).await })
            .await
            .unwrap_or_else(|_| self.snapshot())
    }

    /// Fetches the document and publishes its keys, or, when that fails, keeps the last
    /// good keys marked as not fresh. Takes the lock to prove no other fetch runs.
    async fn refresh(&self, _held: &mut FetchLock) -> Arc<Snapshot> {
        let previous = self.snapshot();
        let next = Arc::new(match self.fetch().await {
            Ok(keys) => {
                if keys.is_empty() {
                    tracing::warn!("the JWKS has no usable RS256/ES256 key with a kid");
                }
                Snapshot {
                    keys: Arc::new(keys),
                    fetches: previous.fetches + 1,
                    fresh: true,
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    cached_keys = previous.keys.len(),
                    "JWKS fetch failed; keeping the last good keys"
                );
                Snapshot {
                    keys: Arc::clone(&previous.keys),
                    fetches: previous.fetches + 1,
                    fresh: false,
                }
            }
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&next);
        next
    }

    async fn fetch(&self) -> anyhow::Result<Keys> {
        let mut response = self
            .client
            .get(&self.url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                anyhow::bail!("the JWKS document is larger than 1 MiB");
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).context("the JWKS document is not a key set")?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = match &jwk.algorithm {
                    AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                        Algorithm::ES256
                    }
                    _ => return None,
                };
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (alg, key)))
            })
            .collect())
    }
}

/// Fetches at once, then every `every`, until the key store is dropped.
async fn refresh_periodically(jwks: Weak<Jwks>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(jwks) = jwks.upgrade() else {
            return;
        };
        let mut lock = jwks.fetching.lock().await;
        jwks.refresh(&mut lock).await;
    }
}
