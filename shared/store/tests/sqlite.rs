//! The `Store` contract against `SqliteStore`, plus what only SQLite has (files, migrations).

mod contract;

use outreach_core::ports::ContactStore;
use outreach_store::SqliteStore;

/// A store on a fresh file; the directory lives as long as the test process.
async fn fresh() -> SqliteStore {
    let dir = tempfile::tempdir().unwrap().keep();
    SqliteStore::open(dir.join("outreach.db")).unwrap()
}

contract_tests!(fresh());

#[tokio::test]
async fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outreach.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .insert_contact(&contract::contact(
                "ct_1",
                "0912345678",
                "07201",
                outreach_core::contact::ContactRole::Citizen,
            ))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        SqliteStore::latest_schema_version()
    );
    assert!(store.get_contact(&"ct_1".into()).await.unwrap().is_some());
    assert_eq!(store.journal_mode().await.unwrap(), "wal");
}

/// The subtrees a store keeps read (every API request reads its caller's area) follow the
/// file: a unit imported through another connection, or through this store, is seen at once.
#[tokio::test]
async fn a_cached_subtree_follows_writes_from_any_connection() {
    use outreach_core::org::Level;
    use outreach_core::ports::OrgUnitStore;
    use std::collections::BTreeSet;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outreach.db");
    let api = SqliteStore::open(&path).unwrap();
    let cli = SqliteStore::open(&path).unwrap();
    let under = |store: SqliteStore| async move {
        let units = store.org_unit_descendants("24").await.unwrap();
        units.into_iter().map(|u| u.code.into_string()).collect::<BTreeSet<_>>()
    };
    api.put_org_units(&[
        contract::unit("24", Level::Province, None),
        contract::unit("213", Level::District, Some("24")),
    ])
    .await
    .unwrap();
    assert_eq!(under(api.clone()).await, BTreeSet::from(["213".to_string()]));
    // Another connection (an import from the command line while `serve` runs).
    cli.put_org_units(&[contract::unit("07210", Level::Commune, Some("213"))])
        .await
        .unwrap();
    assert_eq!(
        under(api.clone()).await,
        BTreeSet::from(["213".to_string(), "07210".to_string()])
    );
    // This store's own write.
    api.put_org_units(&[contract::unit("07211", Level::Commune, Some("213"))])
        .await
        .unwrap();
    assert_eq!(under(api.clone()).await.len(), 3);
}
