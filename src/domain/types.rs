//! Validated values, parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a raw value is not a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue(pub &'static str);

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An Atlassian account id: 1–128 characters of `[A-Za-z0-9:_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub const RULE: &'static str = "must be 1-128 characters of A-Z, a-z, 0-9, ':', '_' or '-'";

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = (1..=128).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product key: `^[a-z][a-z0-9-]{1,63}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductKey(String);

impl ProductKey {
    pub const RULE: &'static str = "must match ^[a-z][a-z0-9-]{1,63}$";

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bytes = raw.as_bytes();
        let ok = (2..=64).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes[1..]
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches the derives wrapped in an
// invisible group, and utoipa then misses `#[serde(rename)]` and documents the variant names.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(raw: &str) -> Result<Self, InvalidValue> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(InvalidValue(concat!("must be one of: ", $($text, " "),+))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Whether the requester asked for themselves or for someone else.
    RequestKind { SelfRequest => "self", OnBehalf => "on_behalf" }
);

string_enum!(
    /// Where an access request is in its life.
    RequestStatus {
        Pending => "pending",
        Approved => "approved",
        Denied => "denied",
        Cancelled => "cancelled",
        Expired => "expired",
    }
);

string_enum!(
    /// Where a grant is: active until it is revoked or expires.
    GrantStatus { Active => "active", Revoked => "revoked", Expired => "expired" }
);

string_enum!(
    /// How a grant began: by an approved request (with webhooks) or by directory sync (silently).
    GrantSource { Request => "request", Directory => "directory" }
);

string_enum!(
    /// Why a grant ended.
    EndReason { Revoked => "revoked", Expired => "expired", UserRemoved => "user_removed" }
);

string_enum!(
    /// A site user's role.
    SiteRole { Member => "member", Admin => "admin" }
);

string_enum!(
    /// The service a webhook goes to.
    WebhookTargetKind { Group => "group", Billing => "billing", Notification => "notification" }
);

string_enum!(
    /// Where a webhook delivery is.
    DeliveryStatus { Pending => "pending", Delivered => "delivered", Failed => "failed" }
);

impl RequestKind {
    /// A request is `self` unless it names a subject other than its requester.
    pub fn of(requester: &AccountId, subject: Option<&AccountId>) -> Self {
        match subject {
            Some(subject) if subject != requester => RequestKind::OnBehalf,
            _ => RequestKind::SelfRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(AccountId::parse("557058:3f1c-aa_b").is_ok());
        assert!(AccountId::parse("5b10a2844c20165700ede21g").is_ok());
        assert!(AccountId::parse(&"a".repeat(128)).is_ok());
        for bad in ["", "a b", "a/b", "é", &"a".repeat(129)] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn product_keys() {
        assert!(ProductKey::parse("jira-software").is_ok());
        assert!(ProductKey::parse("c1").is_ok());
        assert!(ProductKey::parse(&format!("a{}", "b".repeat(63))).is_ok());
        for bad in [
            "j",
            "Jira",
            "1jira",
            "jira_x",
            "",
            &format!("a{}", "b".repeat(64)),
        ] {
            assert!(ProductKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_round_trip_as_contract_words() {
        assert_eq!(
            serde_json::to_string(&RequestKind::SelfRequest).unwrap(),
            "\"self\""
        );
        assert_eq!("self".parse::<RequestKind>().unwrap(), RequestKind::SelfRequest);
        assert_eq!(RequestKind::SelfRequest.as_str(), "self");
        assert_eq!("on_behalf".parse::<RequestKind>().unwrap(), RequestKind::OnBehalf);
        assert!("Self".parse::<RequestKind>().is_err());
        assert_eq!(
            "cancelled".parse::<RequestStatus>().unwrap(),
            RequestStatus::Cancelled
        );
    }

    #[test]
    fn documented_enum_values_are_the_contract_words() {
        use utoipa::PartialSchema;
        let values = |schema| serde_json::to_value(schema).unwrap()["enum"].clone();
        assert_eq!(
            values(RequestKind::schema()),
            serde_json::json!(["self", "on_behalf"])
        );
        assert_eq!(
            values(RequestStatus::schema()),
            serde_json::json!(["pending", "approved", "denied", "cancelled", "expired"])
        );
        assert_eq!(values(SiteRole::schema()), serde_json::json!(["member", "admin"]));
        assert_eq!(
            values(GrantStatus::schema()),
            serde_json::json!(["active", "revoked", "expired"])
        );
        assert_eq!(
            values(GrantSource::schema()),
            serde_json::json!(["request", "directory"])
        );
        assert_eq!(
            values(EndReason::schema()),
            serde_json::json!(["revoked", "expired", "user_removed"])
        );
        assert_eq!(
            values(WebhookTargetKind::schema()),
            serde_json::json!(["group", "billing", "notification"])
        );
        assert_eq!(
            values(DeliveryStatus::schema()),
            serde_json::json!(["pending", "delivered", "failed"])
        );
    }

    #[test]
    fn kind_of_a_request() {
        let me = AccountId::parse("me").unwrap();
        let other = AccountId::parse("other").unwrap();
        assert_eq!(RequestKind::of(&me, None), RequestKind::SelfRequest);
        assert_eq!(RequestKind::of(&me, Some(&me)), RequestKind::SelfRequest);
        assert_eq!(RequestKind::of(&me, Some(&other)), RequestKind::OnBehalf);
    }
}
