//! `SqliteStore` as CampaignStore: campaigns and their status.

use super::*;

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn insert_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let campaign = campaign.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO campaigns (id, status, version, data) VALUES (?, ?, ?, ?)",
                params![
                    campaign.id.as_str(),
                    campaign.status.as_str(),
                    campaign.version as i64,
                    to_json(&campaign)?
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "campaign",
                    id: campaign.id.to_string(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await?
    }

    async fn get_campaign(&self, id: &CampaignId) -> CoreResult<Option<Campaign>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM campaigns WHERE id = ?", &id))
            .await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let campaign = campaign.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE campaigns SET status = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    campaign.status.as_str(),
                    campaign.version as i64,
                    to_json(&campaign)?,
                    campaign.id.as_str(),
                    campaign.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("campaign", &campaign.id))
            })
        })
        .await?
    }

    async fn list_campaigns(&self, status: Option<CampaignStatus>, page: &PageRequest) -> CoreResult<Page<Campaign>> {
        let page = page.clone();
        self.call(move |c| {
            let (sql, args) = match status {
                Some(s) => (
                    "SELECT data FROM campaigns WHERE status = ? {after} ORDER BY id LIMIT ?",
                    vec![Value::Text(s.as_str().into())],
                ),
                None => (
                    "SELECT data FROM campaigns WHERE 1 = 1 {after} ORDER BY id LIMIT ?",
                    vec![],
                ),
            };
            paged(c, sql, args, &["id"], &page, |x: &Campaign| vec![x.id.to_string()])
        })
        .await
    }
}
