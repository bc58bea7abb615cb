//! `DynamoStore` as TeamStore: the volunteer team of each commune.

use super::*;

#[async_trait]
impl TeamStore for DynamoStore {
    async fn put_team(&self, team: &VolunteerTeam) -> CoreResult<()> {
        let raw = items::encode(&items::team(team))?;
        let written = if team.version == 1 {
            self.put_new(raw).await?
        } else {
            self.put_versioned(raw, team.version).await?
        };
        if written {
            Ok(())
        } else {
            Err(stale("volunteer team", &team.commune_code))
        }
    }

    async fn get_team(&self, commune_code: &str) -> CoreResult<Option<VolunteerTeam>> {
        self.get(keys::team_pk(commune_code), keys::TEAM_SK).await
    }
}
