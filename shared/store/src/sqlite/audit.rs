//! The audit log on SQLite.

use async_trait::async_trait;
use outreach_core::audit::AuditEntry;
use outreach_core::error::{CoreError, CoreResult};
use outreach_core::ports::{AuditStore, Page, PageRequest};
use rusqlite::params;
use rusqlite::types::Value;

use super::{SqliteStore, is_unique_violation, paged, to_json};
use crate::StoreError;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> CoreResult<()> {
        let entry = entry.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO audit_log (year, id, data) VALUES (?, ?, ?)",
                params![entry.year(), entry.id, to_json(&entry)?],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "audit entry",
                    id: entry.id.clone(),
                })),
                Err(e) => Err(StoreError::from(e)),
            }
        })
        .await?
    }

    async fn list_audit(&self, year: i32, page: &PageRequest) -> CoreResult<Page<AuditEntry>> {
        let page = page.clone();
        self.call(move |c| {
            paged(
                c,
                "SELECT data FROM audit_log WHERE year = ? {after} ORDER BY id LIMIT ?",
                vec![Value::Integer(year.into())],
                &["id"],
                &page,
                |e: &AuditEntry| vec![e.id.clone()],
            )
        })
        .await
    }
}
