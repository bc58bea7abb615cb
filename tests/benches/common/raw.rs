//! The reference a store figure is judged against: the same rows written straight into the
//! same schema on the same disk, by SQLite alone, with the store's settings. What the store
//! does on top (its thread, its JSON, its checks, the use case around it) is the figure's
//! ratio to this; the disk, the CPU and SQLite itself cancel out, so the ratio holds on any
//! machine of the kind.
//!
//! Each bench binary includes this file and uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use outreach_store::SqliteStore;
use rusqlite::Connection;
use rusqlite::types::Value;

/// A second write of each row: the columns a later UPDATE by key sets (a delivery's claim,
/// then its outcome).
pub struct Rewrite<'a> {
    pub key: &'a str,
    pub columns: &'a [&'a str],
}

/// Copy the rows of `table` in the store file `from` into a fresh store file at `to` (its
/// schema made by `SqliteStore::open`, so with every index), `batch` rows a transaction,
/// and with `rewrite` each batch then updated by key in a transaction of its own. Returns
/// the time of the writes and the number of rows.
pub fn write_rows(from: &Path, to: &Path, table: &str, batch: usize, rewrite: Option<Rewrite>) -> (Duration, usize) {
    drop(SqliteStore::open(to).expect("a fresh store file"));
    let (columns, rows) = read_rows(from, table);
    let mut conn = Connection::open(to).unwrap();
    // The store's settings (`SqliteStore::open`).
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "cache_size", -32 * 1024).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 8000).unwrap();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let update = rewrite.as_ref().map(|r| {
        let set: Vec<_> = r.columns.iter().map(|c| format!("{c} = ?")).collect();
        let at = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .unwrap_or_else(|| panic!("{table}.{name}"))
        };
        let places: Vec<usize> = r.columns.iter().map(|c| at(c)).chain([at(r.key)]).collect();
        (
            format!("UPDATE {table} SET {} WHERE {} = ?", set.join(", "), r.key),
            places,
        )
    });
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx.prepare_cached(&insert).unwrap();
            for row in chunk {
                stmt.execute(rusqlite::params_from_iter(row)).unwrap();
            }
        }
        tx.commit().unwrap();
        if let Some((sql, places)) = &update {
            let tx = conn.transaction().unwrap();
            {
                let mut stmt = tx.prepare_cached(sql).unwrap();
                for row in chunk {
                    let changed = stmt
                        .execute(rusqlite::params_from_iter(places.iter().map(|&i| &row[i])))
                        .unwrap();
                    assert_eq!(changed, 1, "the row written just before");
                }
            }
            tx.commit().unwrap();
        }
    }
    (started.elapsed(), rows.len())
}

fn read_rows(from: &Path, table: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let conn = Connection::open(from).unwrap();
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let n = columns.len();
    let rows = stmt
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<Vec<Vec<Value>>, _>>()
        .unwrap();
    assert!(!rows.is_empty(), "{table} in {} is empty", from.display());
    (columns, rows)
}
