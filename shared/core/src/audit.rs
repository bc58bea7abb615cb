//! The audit log: who changed what, when, and the before and after of each changed field,
//! with personal fields masked.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contact::mask_email;
use crate::phone::mask_phone_digits;
use crate::privacy::redact;

/// One change made through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sorts by time: `{at}#{random}`.
    pub id: String,
    pub at: DateTime<Utc>,
    /// The token's subject, or the webhook that acted (`webhook:sms`).
    pub actor: String,
    /// The actor's role and unit, as their token said.
    pub role: Option<String>,
    pub org: Option<String>,
    /// The unit the changed data belongs to, where no token said (a webhook's change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `METHOD /documented/path`, e.g. `PUT /v1/teams/{commune}`.
    pub action: String,
    /// The request's own path, e.g. `/v1/teams/07201`.
    pub target: String,
    /// The answer's status; an import's entries, written batch by batch as each commits
    /// (before the answer), say 200.
    pub status: u16,
    /// What was changed, when the endpoint says: `contact`, `ct_…`.
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
    /// Each changed field (`consents[0].method`-style paths are not split: a list is one
    /// field), personal ones masked.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

impl AuditEntry {
    /// The year whose log holds the entry.
    pub fn year(&self) -> i32 {
        self.at.year()
    }
}

/// Who is changing something, and through which endpoint: the part of an entry known before
/// the change is made. The API's guard builds it from the caller's token; a use case that
/// writes its own entries (a contact import, one per batch) is handed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditStamp {
    /// The token's subject, or the webhook that acted.
    pub actor: String,
    pub role: Option<String>,
    pub org: Option<String>,
    /// `METHOD /documented/path`.
    pub action: String,
    /// The request's own path.
    pub target: String,
}

impl AuditStamp {
    /// An entry of this caller's request at `at`, answered `status`, that names no change
    /// yet: set `entity`, `entity_id`, `unit` and `changes` on it.
    pub fn entry(&self, at: DateTime<Utc>, status: u16) -> AuditEntry {
        AuditEntry {
            id: crate::usecases::new_id("au"),
            at,
            actor: self.actor.clone(),
            role: self.role.clone(),
            org: self.org.clone(),
            unit: None,
            action: self.action.clone(),
            target: self.target.clone(),
            status,
            entity: None,
            entity_id: None,
            changes: Vec::new(),
        }
    }
}

/// A field's value before and after a change (None: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Bookkeeping fields that change with every write and say nothing about the change.
const IGNORED: &[&str] = &["updated_at", "version"];

/// The fields of `before` and `after` (JSON objects, nested ones flattened to `a.b`) whose
/// values differ, with personal values masked.
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut old = Map::new();
    let mut new = Map::new();
    if let Some(v) = before {
        flatten("", v, &mut old);
    }
    if let Some(v) = after {
        flatten("", v, &mut new);
    }
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| !IGNORED.contains(&f.as_str()))
        .filter(|f| old.get(*f) != new.get(*f))
        .map(|f| FieldChange {
            field: f.clone(),
            before: old.get(f).map(|v| mask(f, v)),
            after: new.get(f).map(|v| mask(f, v)),
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(
                if prefix.is_empty() {
                    "value".into()
                } else {
                    prefix.into()
                },
                other.clone(),
            );
        }
    }
}

/// A value fit for the log: names, phone numbers and email addresses masked wherever they
/// sit, and every other text redacted of anything that looks like one.
pub fn mask(field: &str, value: &Value) -> Value {
    let last = field.rsplit('.').next().unwrap_or(field);
    match value {
        Value::String(s) => Value::String(match last {
            "name" | "full_name" => mask_name(s),
            "phone" | "e164" | "from" | "to" => mask_phone_digits(s),
            "email" => mask_email(s),
            _ => redact(s),
        }),
        Value::Array(items) => Value::Array(items.iter().map(|v| mask(field, v)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), mask(k, v))).collect()),
        other => other.clone(),
    }
}

/// A person's name reduced to its first letter.
fn mask_name(name: &str) -> String {
    match name.chars().next() {
        Some(first) => format!("{first}***"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_changed_fields_are_kept_and_personal_ones_are_masked() {
        let before = json!({"id": "ct_1", "name": "Nguyễn Văn An", "phone": {"e164": "+84912345678", "kind": "mobile"},
            "email": "an@example.vn", "commune_code": "07201", "version": 1, "updated_at": "x"});
        let after = json!({"id": "ct_1", "name": "Nguyễn Văn Ân", "phone": {"e164": "+84912345679", "kind": "mobile"},
            "email": null, "commune_code": "07201", "version": 2, "updated_at": "y"});
        let changes = changed_fields(Some(&before), Some(&after));
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["email", "name", "phone.e164"]);
        let text = serde_json::to_string(&changes).unwrap();
        for secret in ["912345678", "912345679", "an@example", "Văn An", "Văn Ân"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(changes[1].before, Some(json!("N***")));
        assert_eq!(changes[0].before, Some(json!("a***@***.vn")));
    }

    #[test]
    fn a_creation_lists_every_field_and_a_deletion_every_old_one() {
        let value = json!({"name": "Lan", "nested": {"phone": "0912345678"}});
        let created = changed_fields(None, Some(&value));
        assert_eq!(created.len(), 2);
        assert!(created.iter().all(|c| c.before.is_none()));
        assert_eq!(created[1].after, Some(json!("091*****78")));
        let deleted = changed_fields(Some(&value), None);
        assert!(deleted.iter().all(|c| c.after.is_none()));
    }
}
