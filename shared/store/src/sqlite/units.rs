//! `SqliteStore` as OrgUnitStore: administrative units and their versions.

use super::*;

#[async_trait]
impl OrgUnitStore for SqliteStore {
    async fn put_org_units(&self, units: &[OrgUnit]) -> CoreResult<()> {
        let units = units.to_vec();
        let subtrees = Arc::clone(&self.subtrees);
        let written = self.call(move |c| {
            // Forget what was read before this write, whether it commits or not.
            *subtrees.lock().unwrap_or_else(|p| p.into_inner()) = Subtrees::default();
            let tx = c.savepoint()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO org_units (code, valid_from, parent_code, level, data) VALUES (?, ?, ?, ?, ?)",
                )?;
                for u in &units {
                    stmt.execute(params![
                        u.code.as_str(),
                        valid_from_key(u),
                        u.parent_code.as_ref().map(UnitCode::as_str),
                        u.level.as_str(),
                        to_json(u)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await;
        // And what was read while it was uncommitted: the group it ran in may have been undone.
        *self.subtrees.lock().unwrap_or_else(|p| p.into_inner()) = Subtrees::default();
        written
    }

    async fn org_unit_versions(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM org_units WHERE code = ? ORDER BY valid_from")?;
            let rows = stmt.query_map([code], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn org_unit_children(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT data FROM org_units WHERE parent_code = ? ORDER BY code, valid_from")?;
            let rows = stmt.query_map([code], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn org_unit_descendants(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        let subtrees = Arc::clone(&self.subtrees);
        self.call(move |c| {
            let version: i64 = c.pragma_query_value(None, "data_version", |r| r.get(0))?;
            let mut cache = subtrees.lock().unwrap_or_else(|p| p.into_inner());
            if cache.data_version != Some(version) {
                *cache = Subtrees {
                    data_version: Some(version),
                    by_code: HashMap::new(),
                };
            }
            if let Some(units) = cache.by_code.get(&code) {
                return Ok(units.clone());
            }
            // UNION (not UNION ALL) keeps each code once, so a cycle cannot run forever.
            let mut stmt = c.prepare_cached(
                "WITH RECURSIVE under(code) AS (
                     SELECT ?1
                     UNION
                     SELECT u.code FROM org_units u JOIN under ON u.parent_code = under.code
                 )
                 SELECT data FROM org_units WHERE parent_code IN (SELECT code FROM under)
                 ORDER BY code, valid_from",
            )?;
            let rows = stmt.query_map([&code], |r| r.get::<_, String>(0))?;
            let units: Vec<OrgUnit> = rows.map(|r| from_json(&r?)).collect::<Result<_, _>>()?;
            cache.by_code.insert(code, units.clone());
            Ok(units)
        })
        .await
    }

    async fn list_org_units(&self, filter: &OrgUnitFilter, page: &PageRequest) -> CoreResult<Page<OrgUnit>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM org_units WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(level) = filter.level {
                sql.push_str(" AND level = ?");
                args.push(Value::Text(level.as_str().into()));
            }
            if let Some(parent) = filter.parent_code {
                sql.push_str(" AND parent_code = ?");
                args.push(Value::Text(parent.into_string()));
            }
            sql.push_str(" {after} ORDER BY code, valid_from LIMIT ?");
            paged(c, &sql, args, &["code", "valid_from"], &page, |u: &OrgUnit| {
                vec![String::from(&u.code), valid_from_key(u)]
            })
        })
        .await
    }
}
