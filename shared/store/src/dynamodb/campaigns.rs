//! `DynamoStore` as CampaignStore: campaigns and their status.

use super::*;

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn insert_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let raw = items::encode(&items::campaign(campaign))?;
        if self.put_new(raw).await? {
            Ok(())
        } else {
            Err(CoreError::AlreadyExists {
                entity: "campaign",
                id: campaign.id.to_string(),
            })
        }
    }

    async fn get_campaign(&self, id: &CampaignId) -> CoreResult<Option<Campaign>> {
        self.get(keys::campaign_pk(id), keys::CAMPAIGN_SK).await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let raw = items::encode(&items::campaign(campaign))?;
        self.update_versioned(raw, campaign.version, "campaign", &campaign.id)
            .await
    }

    async fn list_campaigns(&self, status: Option<CampaignStatus>, page: &PageRequest) -> CoreResult<Page<Campaign>> {
        let q = match status {
            Some(status) => Query::on(Some(table::GSI1), keys::campaigns_by_status(status.as_str())),
            None => Query::on(Some(table::GSI3), keys::entity_index("campaign")),
        };
        self.query_page(q, page).await
    }
}
