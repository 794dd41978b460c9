//! Notifications between the instances that share one PostgreSQL database
//! (`NOTIFY`/`LISTEN`): what one instance writes, the others hear at once.
//! A channel is scoped to the database and schema, so instances on other
//! schemas (tests running side by side) never hear each other. SQLite has
//! no such thing: one process owns the file, and its callers keep to
//! in-process channels ([`Db::listener`] answers `None`).

use crate::{Backend, Db, StoreError};

/// What PostgreSQL takes in one notification's payload (8000 bytes),
/// less room to spare.
pub const MAX_PAYLOAD_BYTES: usize = 7_900;

/// The database's side of notifications: its URL and schema, kept for
/// the listener's own connection.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) url: std::sync::Arc<str>,
    pub(crate) schema: Option<String>,
}

/// A channel's name on one database and schema: `base` and a digest of
/// the scope (PostgreSQL's names end at 63 bytes).
fn scoped(base: &str, scope: &Scope) -> String {
    // FNV-1a: stable across processes and builds, which is all it needs.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let schema = scope.schema.as_deref().unwrap_or("");
    for b in scope.url.bytes().chain([0]).chain(schema.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{base}_{h:016x}")
}

impl Db {
    /// The name `channel` has on this database and schema; `None` on
    /// SQLite. Two handles with the same name hear the same notifications.
    pub fn channel(&self, channel: &str) -> Option<String> {
        self.notify_scope.as_ref().map(|s| scoped(channel, s))
    }

    /// Sends `payload` on `channel` to every listener of this database
    /// (this process's included), once the statement runs. PostgreSQL
    /// only: on SQLite it is [`StoreError::Unsupported`].
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let Some(scope) = self.notify_scope.as_ref() else {
            return Err(StoreError::Unsupported("notifications need PostgreSQL"));
        };
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::Unsupported("notification payload too large"));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(scoped(channel, scope))
            .bind(payload)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A listener on `channel` of this database, listening when it is
    /// answered (a notification sent after this returns is heard); `None`
    /// on SQLite.
    pub async fn listener(
        &self,
        channel: &str,
    ) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Some(scope) = self.notify_scope.as_ref() else {
            return Ok(None);
        };
        debug_assert_eq!(self.backend, Backend::Postgres);
        let mut listener = sqlx::postgres::PgListener::connect(&scope.url).await?;
        listener.listen(&scoped(channel, scope)).await?;
        Ok(Some(listener))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_short_and_scoped_to_the_schema() {
        let scope = |schema: Option<&str>| Scope {
            url: "postgres://h/db".into(),
            schema: schema.map(str::to_owned),
        };
        let a = scoped("paytap_wallet_feed", &scope(Some("t_1")));
        assert_eq!(a, scoped("paytap_wallet_feed", &scope(Some("t_1"))));
        assert_ne!(a, scoped("paytap_wallet_feed", &scope(Some("t_2"))));
        assert_ne!(a, scoped("paytap_wallet_feed", &scope(None)));
        assert!(a.len() < 64, "{a}");
    }
}
