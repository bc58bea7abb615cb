//! `SqliteStore` as SessionStore: sessions of a campaign, by campaign, commune or time.

use super::*;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_sessions_if_absent(&self, sessions: &[Session]) -> CoreResult<usize> {
        if sessions.is_empty() {
            return Ok(0);
        }
        let sessions = sessions.to_vec();
        self.call(move |c| {
            let tx = c.savepoint()?;
            let mut created = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO sessions (id, campaign_id, commune_code, starts_at, status, version, data)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?;
                for s in &sessions {
                    created += stmt.execute(params![
                        s.id.as_str(),
                        s.campaign_id.as_str(),
                        s.commune_code.as_str(),
                        instant(s.starts_at),
                        s.status.as_str(),
                        s.version as i64,
                        to_json(s)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM sessions WHERE id = ?", &id))
            .await
    }

    async fn update_session(&self, session: &Session) -> CoreResult<()> {
        let session = session.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE sessions SET starts_at = ?, status = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    instant(session.starts_at),
                    session.status.as_str(),
                    session.version as i64,
                    to_json(&session)?,
                    session.id.as_str(),
                    session.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("session", &session.id))
            })
        })
        .await?
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: &PageRequest) -> CoreResult<Page<Session>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM sessions WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(campaign) = filter.campaign {
                sql.push_str(" AND campaign_id = ?");
                args.push(Value::Text(campaign.into_string()));
            }
            if let Some(commune) = filter.commune {
                sql.push_str(" AND commune_code = ?");
                args.push(Value::Text(commune.into_string()));
            }
            if let Some(status) = filter.status {
                sql.push_str(" AND status = ?");
                args.push(Value::Text(status.as_str().into()));
            }
            if let Some(from) = filter.from {
                sql.push_str(" AND starts_at >= ?");
                args.push(Value::Text(instant(from)));
            }
            if let Some(to) = filter.to {
                sql.push_str(" AND starts_at < ?");
                args.push(Value::Text(instant(to)));
            }
            sql.push_str(" {after} ORDER BY starts_at, id LIMIT ?");
            paged(c, &sql, args, &["starts_at", "id"], &page, |s: &Session| {
                vec![instant(s.starts_at), s.id.to_string()]
            })
        })
        .await
    }
}
