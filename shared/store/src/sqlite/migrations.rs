//! Schema migrations, applied in order; `PRAGMA user_version` records how many ran.

use rusqlite::Connection;

/// Each entry is one migration; never edit one that has shipped, append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: units, contacts, campaigns, sessions, teams.
    r#"
    CREATE TABLE org_units (
        code        TEXT NOT NULL,
        valid_from  TEXT NOT NULL,          -- '' when valid since before records began
        parent_code TEXT,
        level       TEXT NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (code, valid_from)
    ) WITHOUT ROWID;
    CREATE INDEX org_units_by_parent ON org_units (parent_code, code, valid_from);
    CREATE INDEX org_units_by_level ON org_units (level, code, valid_from);

    CREATE TABLE contacts (
        id           TEXT PRIMARY KEY,
        phone        TEXT NOT NULL UNIQUE,
        commune_code TEXT NOT NULL,
        role         TEXT NOT NULL,
        version      INTEGER NOT NULL,
        data         TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX contacts_by_commune_role ON contacts (commune_code, role, id);
    CREATE INDEX contacts_by_role ON contacts (role, id);

    CREATE TABLE campaigns (
        id      TEXT PRIMARY KEY,
        status  TEXT NOT NULL,
        version INTEGER NOT NULL,
        data    TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX campaigns_by_status ON campaigns (status, id);

    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        campaign_id  TEXT NOT NULL,
        commune_code TEXT NOT NULL,
        starts_at    TEXT NOT NULL,         -- RFC 3339 UTC, fixed width, so text order is time order
        status       TEXT NOT NULL,
        version      INTEGER NOT NULL,
        data         TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_campaign ON sessions (campaign_id, starts_at, id);
    CREATE INDEX sessions_by_commune ON sessions (commune_code, starts_at, id);
    CREATE INDEX sessions_by_start ON sessions (starts_at, id);

    CREATE TABLE teams (
        commune_code TEXT PRIMARY KEY,
        version      INTEGER NOT NULL,
        data         TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: reminder jobs and deliveries.
    r#"
    CREATE TABLE reminder_jobs (
        id         TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        status     TEXT NOT NULL,
        due_at     TEXT NOT NULL,
        version    INTEGER NOT NULL,
        data       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX reminder_jobs_due ON reminder_jobs (status, due_at, id);
    CREATE INDEX reminder_jobs_by_session ON reminder_jobs (session_id, id);

    CREATE TABLE deliveries (
        id          TEXT PRIMARY KEY,
        campaign_id TEXT NOT NULL,
        session_id  TEXT NOT NULL,
        contact_id  TEXT NOT NULL,
        channel     TEXT NOT NULL,
        status      TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        lease_until TEXT NOT NULL,
        version     INTEGER NOT NULL,
        data        TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_by_campaign ON deliveries (campaign_id, id);
    CREATE INDEX deliveries_by_session ON deliveries (session_id, id);
    CREATE INDEX deliveries_by_contact ON deliveries (contact_id, channel, status, updated_at);
    CREATE INDEX deliveries_by_status ON deliveries (status, id);
    "#,
    // 3: contacts by email (bounces and complaints arrive by address).
    r#"
    ALTER TABLE contacts ADD COLUMN email TEXT;
    UPDATE contacts SET email = lower(json_extract(data, '$.email'));
    CREATE INDEX contacts_by_email ON contacts (email, id);
    "#,
    // 4: session records, running tallies, targets and report snapshots.
    r#"
    CREATE TABLE session_records (
        session_id TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        data       TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE tallies (
        year      INTEGER NOT NULL,
        quarter   INTEGER NOT NULL,
        unit_code TEXT NOT NULL,
        metric    TEXT NOT NULL,
        value     INTEGER NOT NULL,
        PRIMARY KEY (year, quarter, unit_code, metric)
    ) WITHOUT ROWID;

    CREATE TABLE targets (
        year     INTEGER NOT NULL,
        org_code TEXT NOT NULL,
        metric   TEXT NOT NULL,
        data     TEXT NOT NULL,
        PRIMARY KEY (year, org_code, metric)
    ) WITHOUT ROWID;

    CREATE TABLE report_snapshots (
        org_code   TEXT NOT NULL,
        year       INTEGER NOT NULL,
        quarter    INTEGER NOT NULL,
        revision   INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        data       TEXT NOT NULL,
        PRIMARY KEY (org_code, year, quarter, revision)
    ) WITHOUT ROWID;
    "#,
    // 5: the audit log, by year and time.
    r#"
    CREATE TABLE audit_log (
        year INTEGER NOT NULL,
        id   TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (year, id)
    ) WITHOUT ROWID;
    "#,
    // 6: the local delivery queue, so that what the dispatcher hands the sender survives the
    // process (SQS's part on AWS): a task is received for a while (`visible_at`, ms since
    // the epoch, wall clock) and deleted once done.
    r#"
    CREATE TABLE delivery_queue (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        task       TEXT NOT NULL,
        visible_at INTEGER NOT NULL,
        receives   INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX delivery_queue_visible ON delivery_queue (visible_at, id);
    "#,
    // 7: running tallies of settled deliveries (count, SMS segments, cost in thousandths of
    // a đồng) by local day, commune, channel, carrying channel, status and suppression reason.
    r#"
    CREATE TABLE delivery_tallies (
        day            TEXT NOT NULL,
        commune_code   TEXT NOT NULL,
        channel        TEXT NOT NULL,
        carried_by     TEXT NOT NULL,
        status         TEXT NOT NULL,
        reason         TEXT NOT NULL,
        count          INTEGER NOT NULL,
        segments       INTEGER NOT NULL,
        cost_milli_vnd INTEGER NOT NULL,
        PRIMARY KEY (day, commune_code, channel, carried_by, status, reason)
    ) WITHOUT ROWID;
    "#,
    // 8: the Zalo OA's token pair, one row, versioned for the refresher's conditional writes.
    r#"
    CREATE TABLE zns_token (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        data    TEXT NOT NULL
    );
    "#,
    // 9: each person's latest answer to a reminder that asked whether they will come.
    r#"
    CREATE TABLE answers (
        session_id  TEXT NOT NULL,
        contact_id  TEXT NOT NULL,
        answered_at TEXT NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (session_id, contact_id)
    ) WITHOUT ROWID;
    CREATE INDEX answers_by_contact ON answers (contact_id, session_id);
    "#,
];

/// Bring the schema up to date in one transaction; a newer schema than this build knows
/// is refused rather than misread.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the database schema is version {current}, newer than this program ({})",
                MIGRATIONS.len()
            )),
        ));
    }
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}
