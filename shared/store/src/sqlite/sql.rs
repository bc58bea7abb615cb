//! SQL helpers every port uses: instants as sortable text, JSON columns, paging, errors.

use rusqlite::OptionalExtension;

use super::*;

pub(super) fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(v)?)
}

pub(super) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(s)?)
}

pub(super) fn limit_of(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, MAX_PAGE_SIZE))
}

pub(super) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Run a keyset-paginated query: `sql` holds `{after}` where the cursor condition goes
/// and ends with `ORDER BY … LIMIT ?`; `key` gives the sort key of an item.
pub(super) fn paged<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    mut args: Vec<Value>,
    key_columns: &[&str],
    page: &PageRequest,
    key: impl Fn(&T) -> Vec<String>,
) -> Result<Page<T>, StoreError> {
    let after = match &page.cursor {
        Some(c) => {
            let parts = cursor::decode(c, key_columns.len())?;
            let cols = key_columns.join(", ");
            let marks = vec!["?"; key_columns.len()].join(", ");
            args.extend(parts.into_iter().map(Value::Text));
            format!("AND ({cols}) > ({marks})")
        }
        None => String::new(),
    };
    let limit = limit_of(page);
    args.push(Value::Integer(limit + 1));
    let sql = sql.replace("{after}", &after);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut items: Vec<T> = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
        .map(|row| from_json(&row?))
        .collect::<Result<_, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| {
            let k = key(last);
            cursor::encode(&k.iter().map(String::as_str).collect::<Vec<_>>())
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(super) fn valid_from_key(u: &OrgUnit) -> String {
    u.valid_from.map(|d| d.to_string()).unwrap_or_default()
}

pub(super) fn get_json<T: DeserializeOwned>(c: &Connection, sql: &str, key: &str) -> Result<Option<T>, StoreError> {
    let data: Option<String> = c.prepare_cached(sql)?.query_row([key], |r| r.get(0)).optional()?;
    data.map(|d| from_json(&d)).transpose()
}

/// Every row's `data` a one-parameter query answers, decoded.
pub(super) fn all_json<T: DeserializeOwned>(c: &Connection, sql: &str, key: &str) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([key], |r| r.get::<_, String>(0))?;
    rows.map(|d| from_json(&d?)).collect()
}

pub(super) fn stale(entity: &str, id: impl AsRef<str>) -> CoreError {
    let id = id.as_ref();
    CoreError::Conflict(format!(
        "{entity} {id} was changed by someone else (or does not exist); reload and retry"
    ))
}

pub(super) fn parse_channel(s: &str) -> Result<Channel, StoreError> {
    s.parse()
        .map_err(|e: outreach_core::names::UnknownName| StoreError::Decode(e.to_string()))
}
