//! Keyset pagination: opaque cursors over (time, id), newest first.

use crate::error::{ApiError, ApiResult};

/// A position in a list ordered newest first by (time, id): opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at, self.id))
    }

    pub fn decode(raw: &str) -> ApiResult<Self> {
        use base64::Engine;
        let bad = || ApiError::BadRequest("`cursor` is not a cursor this service gave out".to_owned());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (at, id) = text.split_once(':').ok_or_else(bad)?;
        let at = at.parse().map_err(|_| bad())?;
        uuid::Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            at,
            id: id.to_owned(),
        })
    }
}

/// One page of a list and where the next one starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra one says that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| key(last).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Keeps the rows strictly after `cursor` in (time desc, id desc) order, as one row-value
/// comparison `(time, id) < (at, id)`: both backends walk the (…, time, id) index from the
/// cursor instead of scanning and discarding every row before it, as `at < c OR (at = c AND
/// id < i)` makes them do. `$at` and `$id` are the qualified column names as SQL text.
macro_rules! after_cursor {
    ($query:expr, $at:literal, $id:literal, $cursor:expr) => {
        match $cursor {
            Some(c) => $query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(concat!("(", $at, ", ", $id, ") < ("))
                    .bind::<diesel::sql_types::BigInt, _>(c.at)
                    .sql(", ")
                    .bind::<diesel::sql_types::Text, _>(c.id)
                    .sql(")"),
            ),
            None => $query,
        }
    };
}
pub(crate) use after_cursor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let c = Cursor {
            at: 1_700_000_000_000_000,
            id: uuid::Uuid::new_v4().to_string(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "!!", "bm9wZQ", "MTox"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let key = |n: &i64| Cursor {
            at: *n,
            id: uuid::Uuid::nil().to_string(),
        };
        let page = Page::from_rows(vec![5, 4, 3], 2, key);
        assert_eq!(page.items, vec![5, 4]);
        assert!(page.next_cursor.is_some());
        let page = Page::from_rows(vec![5, 4], 2, key);
        assert!(page.next_cursor.is_none());
    }
}
