//! Typed ids: each kind of id is its own type, so two that sit side by side in a signature
//! (a session's and its campaign's, say) cannot be swapped.
//!
//! Each is a string on the wire and in the stores (`serde(transparent)`), unchecked: any
//! string accepted as an id before these types existed is accepted now. In the OpenAPI
//! document they stay plain strings (`#[schema(value_type = String)]` on each field); the
//! types deliberately have no `ToSchema`, so a field that forgets it does not compile.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// `typed_id!(Name, "what it is")`: a string newtype with `new`, `as_str`, `into_string`,
/// `Display`, `From<String>`/`From<&str>`, `AsRef<str>`, `Borrow<str>` (map lookups by
/// `&str`) and comparisons with strings (tests and fixtures compare with literals).
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as given: no check, as every string was an id before this type.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        /// As the string it holds (`"cmp_1"`), so messages that quote an id with `{:?}`
        /// read as they did when ids were strings.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_string())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> Self {
                id.0.clone()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

typed_id!(
    /// A session's id: its campaign, commune and scheduled occurrence
    /// ([`crate::session::session_id`]).
    SessionId
);

typed_id!(
    /// A campaign's id.
    CampaignId
);

typed_id!(
    /// A contact's id: a citizen's, a volunteer's or a planner's.
    ContactId
);

typed_id!(
    /// A reminder job's id: `{session_id}|{rule_id}` ([`crate::reminder::ReminderJob::id_for`]),
    /// the job whose deliveries the dispatcher enqueues.
    JobId
);

typed_id!(
    /// An administrative unit's official statistics-office code (a province's, a district's
    /// or a commune's); a string so leading zeros stay (`"01"`, `"00004"`).
    UnitCode
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_string_in_json() {
        let id = SessionId::new("c1.26734.20260301T0100Z");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r#""c1.26734.20260301T0100Z""#);
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
    }

    #[test]
    fn an_id_reads_as_its_string_in_messages() {
        let id = CampaignId::new("cmp_1");
        assert_eq!(format!("{id} {id:?}"), r#"cmp_1 "cmp_1""#);
    }

    #[test]
    fn a_unit_code_keeps_its_leading_zeros_and_hashes_as_its_string() {
        use std::hash::BuildHasher;
        let code = UnitCode::new("00004");
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""00004""#);
        let hasher = std::collections::hash_map::RandomState::new();
        assert_eq!(hasher.hash_one(&code), hasher.hash_one("00004"));
    }

    #[test]
    fn a_map_keyed_by_ids_is_read_with_a_str() {
        let mut by_id = std::collections::HashMap::new();
        by_id.insert(CampaignId::from("c1"), 1);
        assert_eq!(by_id.get("c1"), Some(&1));
    }
}
