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
                outreach_core::contact::Role::Citizen,
            ))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        SqliteStore::latest_schema_version()
    );
    assert!(store.get_contact("ct_1").await.unwrap().is_some());
    assert_eq!(store.journal_mode().await.unwrap(), "wal");
}
