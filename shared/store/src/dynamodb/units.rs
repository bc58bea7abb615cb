//! `DynamoStore` as OrgUnitStore: administrative units and their versions.

use super::*;

#[async_trait]
impl OrgUnitStore for DynamoStore {
    async fn put_org_units(&self, units: &[OrgUnit]) -> CoreResult<()> {
        // Encode everything first, so an oversized item refuses the import before any write.
        let raws = units
            .iter()
            .map(|u| items::encode(&items::unit(u)))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_put(raws).await?;
        Ok(())
    }

    async fn org_unit_versions(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        self.query_all(Query::on(None, keys::unit_pk(code)).begins_with("V#"))
            .await
    }

    async fn org_unit_children(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        self.query_all(Query::on(Some(table::GSI1), keys::unit_parent(code)))
            .await
    }

    async fn org_unit_descendants(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        // Every unit of the table (a province's few hundred, a page or two of the entity
        // index), the subtree found in memory: not one query a unit.
        let all = self
            .query_all(Query::on(Some(table::GSI3), keys::entity_index("unit")))
            .await?;
        Ok(outreach_core::org::descendants(all, code))
    }

    async fn list_org_units(&self, filter: &OrgUnitFilter, page: &PageRequest) -> CoreResult<Page<OrgUnit>> {
        let q = match (&filter.parent_code, filter.level) {
            (Some(parent), level) => {
                let q = Query::on(Some(table::GSI1), keys::unit_parent(parent.as_str()));
                match level {
                    Some(l) => q.filter_eq("level", l.as_str()),
                    None => q,
                }
            }
            (None, Some(level)) => Query::on(Some(table::GSI2), keys::unit_level(level.as_str())),
            (None, None) => Query::on(Some(table::GSI3), keys::entity_index("unit")),
        };
        self.query_page(q, page).await
    }
}
