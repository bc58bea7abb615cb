//! `SqliteStore` as TeamStore: the volunteer team of each commune.

use super::*;

#[async_trait]
impl TeamStore for SqliteStore {
    async fn put_team(&self, team: &VolunteerTeam) -> CoreResult<()> {
        let team = team.clone();
        self.call(move |c| {
            let n = if team.version == 1 {
                c.execute(
                    "INSERT OR IGNORE INTO teams (commune_code, version, data) VALUES (?, 1, ?)",
                    params![team.commune_code.as_str(), to_json(&team)?],
                )?
            } else {
                c.execute(
                    "UPDATE teams SET version = ?, data = ? WHERE commune_code = ? AND version = ?",
                    params![
                        team.version as i64,
                        to_json(&team)?,
                        team.commune_code.as_str(),
                        team.version as i64 - 1
                    ],
                )?
            };
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("volunteer team", &team.commune_code))
            })
        })
        .await?
    }

    async fn get_team(&self, commune_code: &str) -> CoreResult<Option<VolunteerTeam>> {
        let code = commune_code.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM teams WHERE commune_code = ?", &code))
            .await
    }
}
