//! `DynamoStore` as SessionStore: sessions of a campaign, by campaign, commune or time.

use super::*;

#[async_trait]
impl SessionStore for DynamoStore {
    async fn insert_sessions_if_absent(&self, sessions: &[Session]) -> CoreResult<usize> {
        let raws = sessions
            .iter()
            .map(|s| items::encode(&items::session(s)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.put_all_new(raws).await?)
    }

    async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>> {
        self.get(keys::session_pk(id), keys::SESSION_SK).await
    }

    async fn update_session(&self, session: &Session) -> CoreResult<()> {
        let raw = items::encode(&items::session(session))?;
        self.update_versioned(raw, session.version, "session", &session.id)
            .await
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: &PageRequest) -> CoreResult<Page<Session>> {
        let from = filter.from.map(keys::instant);
        let to = filter.to.map(keys::instant);
        let mut q = match (&filter.campaign, &filter.commune) {
            (Some(campaign), commune) => {
                let q = Query::on(Some(table::GSI1), keys::campaign_sessions(campaign)).sort_range(from, to);
                match commune {
                    Some(c) => q.filter_eq("commune_code", c.as_str()),
                    None => q,
                }
            }
            (None, Some(commune)) => Query::on(Some(table::GSI2), keys::commune_sessions(commune)).sort_range(from, to),
            (None, None) => Query::on(Some(table::GSI3), keys::entity_index("session")).sort_range(from, to),
        };
        if let Some(status) = filter.status {
            q = q.filter_eq("status", status.as_str());
        }
        self.query_page(q, page).await
    }
}
