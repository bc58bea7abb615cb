//! `DynamoStore` as ZnsTokenStore: the Zalo OA's token pair, one versioned item.

use outreach_core::zns::{ZnsToken, ZnsTokenStore};

use super::*;

#[async_trait]
impl ZnsTokenStore for DynamoStore {
    async fn get_zns_token(&self) -> CoreResult<Option<ZnsToken>> {
        self.get(keys::ZNS_TOKEN_PK.to_string(), keys::ZNS_TOKEN_SK).await
    }

    async fn put_zns_token(&self, token: &ZnsToken) -> CoreResult<()> {
        let raw = items::encode(&items::zns_token(token))?;
        if token.version == 1 {
            if self.put_new(raw).await? {
                Ok(())
            } else {
                Err(CoreError::AlreadyExists {
                    entity: "ZNS token",
                    id: "oa".into(),
                })
            }
        } else if self.put_versioned(raw, token.version).await? {
            Ok(())
        } else {
            Err(stale("ZNS token", "oa"))
        }
    }
}
