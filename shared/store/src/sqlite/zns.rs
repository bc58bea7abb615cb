//! `SqliteStore` as ZnsTokenStore: the Zalo OA's token pair, one versioned row.

use outreach_core::zns::{ZnsToken, ZnsTokenStore};

use super::*;

#[async_trait]
impl ZnsTokenStore for SqliteStore {
    async fn get_zns_token(&self) -> CoreResult<Option<ZnsToken>> {
        self.call(|c| get_json(c, "SELECT data FROM zns_token WHERE id = CAST(? AS INTEGER)", "1"))
            .await
    }

    async fn put_zns_token(&self, token: &ZnsToken) -> CoreResult<()> {
        let token = token.clone();
        self.call(move |c| {
            let n = if token.version == 1 {
                c.execute(
                    "INSERT OR IGNORE INTO zns_token (id, version, data) VALUES (1, 1, ?)",
                    params![to_json(&token)?],
                )?
            } else {
                c.execute(
                    "UPDATE zns_token SET version = ?, data = ? WHERE id = 1 AND version = ?",
                    params![token.version as i64, to_json(&token)?, token.version as i64 - 1],
                )?
            };
            Ok(match (n, token.version) {
                (1, _) => Ok(()),
                (_, 1) => Err(CoreError::AlreadyExists {
                    entity: "ZNS token",
                    id: "oa".into(),
                }),
                _ => Err(stale("ZNS token", "oa")),
            })
        })
        .await?
    }
}
