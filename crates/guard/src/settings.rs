//! `guard_settings`: what operators changed in the console, kept over the
//! rules and offers files. Keys are `<kind>:<name>`; written rarely, read
//! at start.

use paytap_store::Db;

use crate::GuardError;

/// An offer an operator wrote or edited: its TOML, under `offer:<id>`.
pub const OFFER: &str = "offer:";
/// An offer an operator paused (`1`) or resumed (`0`), `paused:<id>`.
pub const PAUSED: &str = "paused:";
/// The risk rules' text an operator saved, under this key alone.
pub const RISK_RULES: &str = "risk:rules";
/// A rule an operator put in (`1`) or out of (`0`) shadow mode,
/// `shadow:<rule>`.
pub const SHADOW: &str = "shadow:";

/// Stores one setting, replacing its earlier value.
pub async fn put(db: &Db, key: &str, value: &str) -> Result<(), GuardError> {
    sqlx::query(
        "INSERT INTO guard_settings (key, value, updated_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
    )
    .bind(key)
    .bind(value)
    .bind(paytap_store::now_millis())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// One setting's value.
pub async fn get(db: &Db, key: &str) -> Result<Option<String>, GuardError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM guard_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Every setting under `prefix`, as `(name after the prefix, value)`, in
/// the order they were last written.
pub async fn under(db: &Db, prefix: &str) -> Result<Vec<(String, String)>, GuardError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT key, value FROM guard_settings WHERE key LIKE $1 ORDER BY updated_ms, key",
    )
    .bind(pattern(prefix))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|n| (n.to_owned(), v)))
        .collect())
}

/// Removes every setting under `prefix`.
pub async fn clear(db: &Db, prefix: &str) -> Result<(), GuardError> {
    sqlx::query("DELETE FROM guard_settings WHERE key LIKE $1")
        .bind(pattern(prefix))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The `LIKE` pattern of a prefix: the prefixes are this module's
/// constants, which hold no `%` or `_`.
fn pattern(prefix: &str) -> String {
    debug_assert!(!prefix.contains(['%', '_']), "a settings prefix is literal");
    format!("{prefix}%")
}

/// `"1"` or `"0"`.
pub fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}
