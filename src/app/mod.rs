//! Use cases: one function per action over a database connection, called by every entry
//! point that needs it (the single endpoints, the bulk endpoint, the background jobs). Each
//! opens its own transaction and writes the change together with its audit event and outbox
//! rows; network calls happen only after commit (the webhook worker).

pub mod access;
pub mod admin;
pub mod bulk;
pub mod create;
pub mod decide;
pub mod directory;
pub mod expire;
pub mod grants;
pub mod idempotency;

use crate::error::{ApiError, ApiResult};

/// Runs `work` again (up to three times in all) when a unique index refused a row that a
/// concurrent transaction committed first: the next run sees that row and answers as the
/// contract says (`duplicate_request`, `already_has_access`, …) instead of a bare conflict.
pub fn retrying<T>(mut work: impl FnMut() -> ApiResult<T>) -> ApiResult<T> {
    let mut tries = 0;
    loop {
        tries += 1;
        match work() {
            Err(ApiError::Conflict { code: "conflict", .. }) if tries < 3 => continue,
            other => return other,
        }
    }
}
