//! Every change made through the API is written to the audit log by the endpoint's guard:
//! who (the token's subject, role and unit), what (the endpoint and the request's path),
//! when, the answer's status, and — where the handler tells it — the before and after of
//! each changed field, personal ones masked. A handler that writes its own entries (a
//! contact import, one per batch as it commits) takes the request's [`AuditStamp`] and
//! tells the guard it has ([`AuditRecorded`]).

use axum::Extension;
use axum::http::Method;
use outreach_core::audit::{AuditEntry, AuditStamp, FieldChange, changed_fields};
use serde::Serialize;

use crate::AppState;
use crate::access::Endpoint;
use crate::auth::Claims;

/// What a handler changed, handed to the guard in the response's extensions.
#[derive(Debug, Clone)]
pub struct AuditChange {
    entity: &'static str,
    id: String,
    /// The unit the changed data belongs to, when the caller has none (a webhook).
    unit: Option<String>,
    changes: Vec<FieldChange>,
}

impl AuditChange {
    /// The change of `entity` `id` from `before` to `after` (None: it did not exist / no
    /// longer does).
    pub fn new<T: Serialize>(entity: &'static str, id: &str, before: Option<&T>, after: Option<&T>) -> Self {
        let value = |v: Option<&T>| v.and_then(|v| serde_json::to_value(v).ok());
        Self::of_fields(
            entity,
            id,
            changed_fields(value(before).as_ref(), value(after).as_ref()),
        )
    }

    /// A change already told field by field (masked by `changed_fields`).
    pub fn of_fields(entity: &'static str, id: &str, changes: Vec<FieldChange>) -> Self {
        Self {
            entity,
            id: id.to_string(),
            unit: None,
            changes,
        }
    }

    /// The same change, of data that belongs to `unit` (the admins of its province read the
    /// entry of a change no token made, such as a webhook's).
    pub fn in_unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.to_string());
        self
    }
}

/// The change of `entity` `id` from `before` to `after` (None: it did not exist / no
/// longer does), for a handler to return beside its answer.
pub fn change<T: Serialize>(
    entity: &'static str,
    id: impl AsRef<str>,
    before: Option<&T>,
    after: Option<&T>,
) -> Extension<AuditChange> {
    Extension(AuditChange::new(entity, id.as_ref(), before, after))
}

/// Several changes of one request, an entry each (a bounce that stops every contact with
/// the address, whatever their province). None: one entry naming no change.
#[derive(Debug, Clone, Default)]
pub struct AuditChanges(pub Vec<AuditChange>);

/// The handler wrote the request's entries itself: the guard writes none.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecorded;

/// Whether a request to `method` changes something.
pub fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who is calling `endpoint` at `target`: a token's subject, or a webhook.
pub fn stamp(endpoint: &Endpoint, target: &str, claims: Option<&Claims>) -> AuditStamp {
    AuditStamp {
        actor: claims.map_or_else(|| "webhook".to_string(), |c| c.sub.clone()),
        role: claims.map(|c| c.role.as_str().to_string()),
        org: claims.map(|c| c.org.clone()),
        action: format!("{} {}", endpoint.method, endpoint.path),
        target: target.to_string(),
    }
}

/// Write the entries of a change that succeeded: one per change, or one naming none. A
/// failure to write them is logged, not answered: the change itself is done.
pub async fn record(state: &AppState, stamp: &AuditStamp, status: u16, changes: &[AuditChange]) {
    let at = state.clock.now();
    let entries = match changes {
        [] => vec![stamp.entry(at, status)],
        changes => changes
            .iter()
            .map(|c| AuditEntry {
                unit: c.unit.clone(),
                entity: Some(c.entity.to_string()),
                entity_id: Some(c.id.clone()),
                changes: c.changes.clone(),
                ..stamp.entry(at, status)
            })
            .collect(),
    };
    for entry in entries {
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error.message = %e, action = %entry.action, "the audit entry of a change could not be written");
        }
    }
}
