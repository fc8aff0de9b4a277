//! `Idempotency-Key`: a retry with the same key by the same caller gets the first answer.

use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::store::models::IdempotencyRow;
use crate::store::records::{find_idempotent, save_idempotent};
use crate::store::{now_micros, transaction, DbConnection};

/// A stored answer: what the first call with a key answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A caller's key and what it was used for (the operation and its canonical input).
pub struct Key<'a> {
    pub account_id: &'a str,
    pub key: &'a str,
    fingerprint: String,
}

impl<'a> Key<'a> {
    pub fn new(account_id: &'a str, key: &'a str, operation: &str, input: &serde_json::Value) -> Self {
        let fingerprint = format!("{:x}", Sha256::digest(format!("{operation}\n{input}")));
        Self {
            account_id,
            key,
            fingerprint,
        }
    }
}

fn replay(stored: IdempotencyRow, key: &Key<'_>) -> ApiResult<Answer> {
    if stored.fingerprint != key.fingerprint {
        return Err(ApiError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request",
        ));
    }
    Ok(Answer {
        status: u16::try_from(stored.status_code).unwrap_or(200),
        location: stored.location,
        body: stored.body,
    })
}

fn row(key: &Key<'_>, answer: &Answer) -> IdempotencyRow {
    IdempotencyRow {
        account_id: key.account_id.to_owned(),
        idempotency_key: key.key.to_owned(),
        fingerprint: key.fingerprint.clone(),
        status_code: i32::from(answer.status),
        location: answer.location.clone(),
        body: answer.body.clone(),
        created_at: now_micros(),
    }
}

/// Runs `work` and stores its answer in the same transaction, so that the answer and the
/// change commit together; with a key seen before, answers as the first call did.
pub fn atomically(
    c: &mut DbConnection,
    key: Option<&Key<'_>>,
    work: impl FnOnce(&mut DbConnection) -> ApiResult<Answer>,
) -> ApiResult<Answer> {
    let Some(key) = key else {
        return work(c);
    };
    transaction(c, |c| {
        if let Some(stored) = find_idempotent(c, key.account_id, key.key)? {
            return replay(stored, key);
        }
        let answer = work(c)?;
        save_idempotent(c, &row(key, &answer))?;
        Ok(answer)
    })
}

/// Runs `work`, whose parts commit one by one (the bulk decisions), then stores its answer;
/// with a key seen before, answers as the first call did. When two calls with one key race,
/// both run and the answer stored first is the one every later retry gets.
pub fn afterwards(
    c: &mut DbConnection,
    key: Option<&Key<'_>>,
    work: impl FnOnce(&mut DbConnection) -> ApiResult<Answer>,
) -> ApiResult<Answer> {
    let Some(key) = key else {
        return work(c);
    };
    if let Some(stored) = find_idempotent(c, key.account_id, key.key)? {
        return replay(stored, key);
    }
    let answer = work(c)?;
    transaction(c, |c| {
        if let Some(stored) = find_idempotent(c, key.account_id, key.key)? {
            return replay(stored, key);
        }
        save_idempotent(c, &row(key, &answer))?;
        Ok(answer)
    })
}
