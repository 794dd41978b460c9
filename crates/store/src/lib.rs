//! paytap storage: one SQL dialect over embedded SQLite (the default, so
//! `paytap up` needs nothing installed) and PostgreSQL (for scale).
//!
//! Everything goes through [`sqlx::Any`], so a service writes each query once.
//! The portable subset every component sticks to:
//!
//! * placeholders are `$1, $2, ...` (SQLite accepts them too);
//! * column types are `BIGINT` (integers, money in minor units, booleans as
//!   0/1, times as Unix milliseconds), `TEXT`, and `{blob}` in migrations,
//!   which [`Db::migrate`] rewrites to `BLOB` or `BYTEA`;
//! * aggregates are cast back to a plain type: `CAST(SUM(x) AS BIGINT)`
//!   (PostgreSQL's `SUM(bigint)` is `NUMERIC`, which `Any` cannot decode);
//! * write transactions start with [`Db::begin_write`], which takes SQLite's
//!   write lock up front (`BEGIN IMMEDIATE`) so two writers queue on the busy
//!   timeout instead of failing on lock upgrade;
//! * no autoincrement: ids are chosen by the application (UUIDs or
//!   sequence rows), which also makes every insert idempotent-friendly;
//! * queries built at run time are wrapped in [`sqlx::AssertSqlSafe`] and
//!   must only interpolate identifiers chosen by code, never input.
//!
//! Shared service helpers: [`batch::Batcher`] (group commit of queued
//! statements: one durable commit answers many callers),
//! [`direct::DirectWriter`] and [`direct::DirectQueue`] (on a SQLite file, a
//! writer thread that runs group commits whole on its own `rusqlite`
//! connection: one hand-off per batch instead of a round trip per statement)
//! and [`cache::Cache`] (an epoch-guarded read cache for rows one process
//! owns).
//!
//! Data residency: a deployment names one database per region
//! ([`Regions`]); a record about an Indian account is written to the `in`
//! database only.

pub mod batch;
pub mod bulk;
pub mod cache;
pub mod direct;
pub mod files;
pub mod keyfilter;
pub mod notify;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use sqlx;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

/// Longest PostgreSQL schema name [`Db::connect_schema`] takes (PostgreSQL
/// truncates identifiers at 63 bytes; a truncated name would silently
/// alias another).
pub const MAX_SCHEMA_NAME: usize = 63;

/// Whether `name` is a schema name [`Db::connect_schema`] takes: it is
/// spliced into SQL, so only `[a-z][a-z0-9_]*` up to [`MAX_SCHEMA_NAME`].
pub fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_SCHEMA_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl StoreError {
    /// Whether the database refused a row because another already holds its
    /// unique key (a primary key or a unique index), on either backend.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            StoreError::Round(e) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// Which SQL engine a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme (use sqlite: or postgres:)")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    #[error("migration {component}/{version} failed: {source}")]
    Migration {
        component: &'static str,
        version: i64,
        source: sqlx::Error,
    },
    #[error("no database configured for region {0:?}")]
    UnknownRegion(String),
    #[error(
        "schema name {0:?}: use 1 to {MAX_SCHEMA_NAME} lowercase letters, digits and '_', starting with a letter"
    )]
    SchemaName(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database writer thread has stopped")]
    WriterStopped,
    /// What this database cannot do (a notification on SQLite, say).
    #[error("not supported here: {0}")]
    Unsupported(&'static str),
    #[error("the database writer's queue is full; try again later")]
    Overloaded,
    #[error("a database write panicked and was rolled back")]
    WriterPanicked,
    #[error("statement placeholder {0} has no argument")]
    Placeholder(String),
    #[error("group commit failed: {0}")]
    Round(std::sync::Arc<StoreError>),
    #[error("the database file could not be synced to storage ({0}); no further writes are taken")]
    SyncFailed(String),
}

/// One schema change owned by one component (`ledger`, `vault`, ...).
/// Versions are applied in order, once, and recorded in `paytap_migrations`.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub component: &'static str,
    pub version: i64,
    /// One or more statements separated by `;` (no `;` inside literals).
    pub sql: &'static str,
}

/// A connection pool plus what it is connected to.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: the one connection write transactions use, so that this
    /// process's writers wait in the pool's queue (woken in order the
    /// moment the previous commit ends) instead of in SQLite's busy handler
    /// (which sleeps in millisecond steps). PostgreSQL: the same pool.
    writer: AnyPool,
    /// SQLite files: the thread that runs the hot path's group commits
    /// (see [`direct`]). `None` on PostgreSQL and in-memory databases.
    direct: Option<Arc<direct::DirectWriter>>,
    /// SQLite: the pool's writers trying to begin a transaction now (the
    /// direct writer holds new rounds back for them).
    pool_writers: Arc<AtomicUsize>,
    backend: Backend,
    /// PostgreSQL: where a listener connects ([`notify`]); `None` on SQLite.
    notify_scope: Option<notify::Scope>,
    /// What the log calls this database: a SQLite file's name
    /// (`wallet-in.db`, so a region's lines name it) or a PostgreSQL schema.
    name: Arc<str>,
    /// Keeps a temporary SQLite directory alive for as long as the pool.
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The environment variable that points the tests at a PostgreSQL database
/// (CI's PostgreSQL pass); unset, tests use SQLite files.
pub const TEST_DATABASE_ENV: &str = "PAYTAP_TEST_DATABASE_URL";

/// The PostgreSQL URL the tests run on, from [`TEST_DATABASE_ENV`], or
/// `None` when they run on SQLite.
pub fn test_postgres_url() -> Option<String> {
    std::env::var(TEST_DATABASE_ENV)
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

/// A fresh prefix for one test's PostgreSQL schemas: `t_<uuid>_`. CI drops
/// every schema named `t_…` left by an earlier run.
pub fn test_schema_prefix() -> String {
    format!("t_{}_", uuid::Uuid::new_v4().simple())
}

impl Db {
    /// Connects to `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host/db`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Self::connect_with(url, None, None).await
    }

    /// Connects to the PostgreSQL database at `url` with `schema` as the
    /// search path, creating the schema when missing: one database keeps
    /// several components' tables apart, each in its own schema.
    pub async fn connect_schema(url: &str, schema: &str) -> Result<Db, StoreError> {
        if !valid_schema_name(schema) {
            return Err(StoreError::SchemaName(schema.into()));
        }
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(StoreError::UnsupportedUrl);
        }
        {
            let admin = Db::connect(url).await?;
            let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            let created = admin.pool.execute(AssertSqlSafe(sql)).await;
            admin.pool.close().await;
            if let Err(e) = created {
                // Two starts racing to create it: the loser finds it there.
                let unique = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
                if !unique {
                    return Err(e.into());
                }
            }
        }
        Db::connect_with(url, Some(schema.to_owned()), None).await
    }

    async fn connect_with(
        url: &str,
        schema: Option<String>,
        temp: Option<Arc<tempfile::TempDir>>,
    ) -> Result<Db, StoreError> {
        install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            if let Some(path) = files::sqlite_path(rest) {
                files::private_sqlite_file(&path).map_err(|e| {
                    StoreError::Io(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", path.display()),
                    ))
                })?;
            }
            let mut u = format!("sqlite:{rest}");
            if !rest.contains("mode=") && !rest.contains(":memory:") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            (Backend::Sqlite, u)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let max = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let options = |max: u32| {
            let schema = schema.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |conn, _meta| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        match backend {
                            Backend::Sqlite => {
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute("PRAGMA synchronous = FULL").await?;
                                conn.execute("PRAGMA busy_timeout = 10000").await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                // Statement journals and sorts stay in memory;
                                // a larger page cache saves re-reading index
                                // pages the hot path touches on every commit.
                                conn.execute("PRAGMA temp_store = MEMORY").await?;
                                conn.execute("PRAGMA cache_size = -65536").await?;
                            }
                            Backend::Postgres => {
                                if let Some(s) = schema {
                                    let sql = format!("SET search_path TO \"{s}\"");
                                    conn.execute(AssertSqlSafe(sql)).await?;
                                }
                            }
                        }
                        Ok(())
                    })
                })
        };
        let pool = options(max).connect(&url).await?;
        let writer = match backend {
            Backend::Sqlite => options(1).connect(&url).await?,
            Backend::Postgres => pool.clone(),
        };
        let pool_writers = Arc::new(AtomicUsize::new(0));
        let direct = match backend {
            Backend::Sqlite => {
                // The main database's file, as SQLite resolved it ("" for
                // an in-memory database).
                let file: Option<String> =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_optional(&writer)
                        .await?;
                match file.filter(|f| !f.is_empty()) {
                    Some(f) => Some(Arc::new(direct::DirectWriter::open(
                        f.as_ref(),
                        Arc::clone(&pool_writers),
                    )?)),
                    None => None,
                }
            }
            Backend::Postgres => None,
        };
        Ok(Db {
            pool,
            writer,
            direct,
            pool_writers,
            backend,
            notify_scope: (backend == Backend::Postgres).then(|| notify::Scope {
                url: url.as_str().into(),
                schema: schema.clone(),
            }),
            name: log_name(&url, schema.as_deref()),
            _temp: temp,
        })
    }

    /// A fresh, empty database for one test. With `PAYTAP_TEST_DATABASE_URL`
    /// set to a PostgreSQL URL, each call gets its own schema there (so tests
    /// run in parallel without seeing each other); otherwise a SQLite file in
    /// a temporary directory that lives as long as the returned [`Db`].
    pub async fn for_tests() -> Result<Db, StoreError> {
        match test_postgres_url() {
            Some(url) => {
                let schema = test_schema_prefix().trim_end_matches('_').to_owned();
                {
                    let admin = Db::connect(&url).await?;
                    let sql = format!("CREATE SCHEMA \"{schema}\"");
                    admin.pool.execute(AssertSqlSafe(sql)).await?;
                    admin.pool.close().await;
                }
                Db::connect_with(&url, Some(schema), None).await
            }
            _ => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}", path.display());
                Db::connect_with(&url, None, Some(Arc::new(dir))).await
            }
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Answers once the database does: one trivial query through the pool
    /// (what a readiness check asks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What log lines call this database (see [`log_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SQLite file's direct writer, for group commits that run whole
    /// transactions on its thread (`None` on PostgreSQL and in-memory SQLite).
    pub fn direct(&self) -> Option<&Arc<direct::DirectWriter>> {
        self.direct.as_ref()
    }

    /// Waits until what the direct writer committed before this call is on
    /// storage (see [`direct::DirectWriter::durable`]); at once where every
    /// commit syncs itself (PostgreSQL, the pool's own writes).
    pub async fn durable(&self) -> Result<(), StoreError> {
        match &self.direct {
            Some(d) => d.durable().await,
            None => Ok(()),
        }
    }

    /// Starts a transaction that will write. On SQLite this takes the write
    /// lock at once (`BEGIN IMMEDIATE`).
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                // Counted until it has the lock (or gave up, or was dropped).
                struct Trying<'a>(&'a AtomicUsize);
                impl Drop for Trying<'_> {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                self.pool_writers.fetch_add(1, Ordering::SeqCst);
                let _trying = Trying(&self.pool_writers);
                self.writer.begin_with("BEGIN IMMEDIATE").await?
            }
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Starts a read transaction (a consistent snapshot on both backends).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Rewrites the portable type placeholders for this backend.
    pub fn dialect(&self, sql: &str) -> String {
        let blob = match self.backend {
            Backend::Sqlite => "BLOB",
            Backend::Postgres => "BYTEA",
        };
        sql.replace("{blob}", blob)
    }

    /// Applies the given migrations that have not run yet, each in its own
    /// transaction. Safe to call at every start-up and from several
    /// components against the same database. Its log lines say
    /// `region=`[`NO_REGION`]; [`Regions::migrate`] names the region.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        self.migrate_in(migrations, NO_REGION).await
    }

    /// [`Db::migrate`] for the database of `region`, named in each
    /// "migration applied" line beside the database.
    async fn migrate_in(&self, migrations: &[Migration], region: &str) -> Result<(), StoreError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS paytap_migrations (\
                 component TEXT NOT NULL, version BIGINT NOT NULL, \
                 applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
            )
            .await?;
        let mut sorted: Vec<&Migration> = migrations.iter().collect();
        sorted.sort_by_key(|m| (m.component, m.version));
        for m in sorted {
            let mut tx = self.begin_write().await?;
            let done: Option<(i64,)> = sqlx::query_as(
                "SELECT version FROM paytap_migrations WHERE component = $1 AND version = $2",
            )
            .bind(m.component)
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_some() {
                tx.rollback().await?;
                continue;
            }
            let sql = self.dialect(m.sql);
            for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                tx.execute(AssertSqlSafe(stmt.to_string()))
                    .await
                    .map_err(|source| StoreError::Migration {
                        component: m.component,
                        version: m.version,
                        source,
                    })?;
            }
            let res = sqlx::query(
                "INSERT INTO paytap_migrations (component, version, applied_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(m.component)
            .bind(m.version)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 1 {
                tx.commit().await?;
                tracing::info!(
                    region = %region,
                    database = %self.name,
                    component = m.component,
                    version = m.version,
                    "migration applied"
                );
            } else {
                // Another process applied it concurrently.
                tx.rollback().await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// What the migration log lines say for the region of a database that
/// belongs to none: the card network's, shared by every region.
pub const NO_REGION: &str = "global";

/// Databases by region code (`"cn"`, `"in"`, ...). Data about a user is
/// written only to the database of the region the user's account belongs to.
#[derive(Clone, Debug, Default)]
pub struct Regions {
    dbs: BTreeMap<String, Db>,
}

impl Regions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, region: &str, db: Db) {
        self.dbs.insert(region.to_string(), db);
    }

    pub fn get(&self, region: &str) -> Result<&Db, StoreError> {
        self.dbs
            .get(region)
            .ok_or_else(|| StoreError::UnknownRegion(region.to_string()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Db)> {
        self.dbs.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Applies the same migrations to every regional database; each
    /// "migration applied" line names its region.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        for (region, db) in &self.dbs {
            db.migrate_in(migrations, region).await?;
        }
        Ok(())
    }
}

/// Wall-clock time as Unix milliseconds, the one time representation at rest.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for (name, ok) in [
            ("network", true),
            ("paytap_wallet_in", true),
            ("t_0af3_network", true),
            ("", false),
            ("9lives", false),
            ("Wallet", false),
            ("wallet-in", false),
            ("x\"; DROP SCHEMA public; --", false),
            (&"a".repeat(MAX_SCHEMA_NAME + 1), false),
        ] {
            assert_eq!(valid_schema_name(name), ok, "{name:?}");
        }
    }

    #[tokio::test]
    async fn a_schema_is_refused_on_sqlite_and_when_badly_named() {
        let bad = Db::connect_schema("postgres://localhost/x", "Bad-Name").await;
        assert!(matches!(bad, Err(StoreError::SchemaName(_))));
        let sqlite = Db::connect_schema("sqlite://x.db", "network").await;
        assert!(matches!(sqlite, Err(StoreError::UnsupportedUrl)));
    }

    const M: &[Migration] = &[
        Migration {
            component: "demo",
            version: 1,
            sql: "CREATE TABLE demo (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, data {blob});\
                  CREATE INDEX demo_amount ON demo (amount)",
        },
        Migration {
            component: "demo",
            version: 2,
            sql: "ALTER TABLE demo ADD COLUMN note TEXT",
        },
    ];

    #[tokio::test]
    async fn migrations_apply_once_and_types_round_trip() {
        let db = Db::for_tests().await.unwrap();
        db.migrate(M).await.unwrap();
        db.migrate(M).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO demo (id, amount, data, note) VALUES ($1, $2, $3, $4)")
            .bind("a")
            .bind(i64::MAX)
            .bind(vec![0u8, 1, 255])
            .bind(Option::<String>::None)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO demo (id, amount, data) VALUES ($1, $2, $3)")
            .bind("b")
            .bind(-5i64)
            .bind(Vec::<u8>::new())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (amount, data, note): (i64, Vec<u8>, Option<String>) =
            sqlx::query_as("SELECT amount, data, note FROM demo WHERE id = $1")
                .bind("a")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!((amount, data, note), (i64::MAX, vec![0, 1, 255], None));
        let (sum,): (i64,) =
            sqlx::query_as("SELECT CAST(SUM(amount) AS BIGINT) FROM demo WHERE id = $1")
                .bind("b")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(sum, -5);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM paytap_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn concurrent_writers_queue_instead_of_failing() {
        let db = Db::for_tests().await.unwrap();
        db.migrate(M).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM demo")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO demo (id, amount) VALUES ($1, $2)")
                    .bind(format!("w{i}"))
                    .bind(n)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM demo")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 16);
    }

    #[tokio::test]
    async fn rejects_unknown_scheme_and_region() {
        assert!(matches!(
            Db::connect("mysql://x").await,
            Err(StoreError::UnsupportedUrl)
        ));
        assert!(matches!(
            Regions::new().get("in"),
            Err(StoreError::UnknownRegion(_))
        ));
    }
}

/// A database's name for log lines, never its credentials: a SQLite file's
/// name, a PostgreSQL schema, or the PostgreSQL database after the URL's
/// last `/` (query string dropped).
fn log_name(url: &str, schema: Option<&str>) -> Arc<str> {
    if let Some(schema) = schema {
        return schema.into();
    }
    let path = url.split('?').next().unwrap_or(url);
    let path = path.rsplit('@').next().unwrap_or(path);
    path.trim_end_matches(':')
        .rsplit(['/', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("database")
        .into()
}

#[cfg(test)]
mod log_name_tests {
    use super::log_name;

    #[test]
    fn names_the_file_or_schema_and_never_credentials() {
        for (url, schema, expect) in [
            ("sqlite:///data/wallet-in.db", None, "wallet-in.db"),
            ("sqlite:///data/network.db?mode=rwc", None, "network.db"),
            ("sqlite::memory:", None, "memory"),
            (
                "postgres://paytap:secret@db.example:5432/wallets",
                None,
                "wallets",
            ),
            ("postgres://u:p@h/test", Some("t_42"), "t_42"),
            ("postgres://u:secret@host", None, "host"),
        ] {
            let got = log_name(url, schema);
            assert_eq!(&*got, expect, "{url}");
            assert!(!got.contains("secret"));
        }
    }
}

#[cfg(test)]
mod tx_tests {
    use std::future::{Future, poll_fn};
    use std::pin::pin;
    use std::task::Poll;
    use std::time::Duration;

    use super::{Backend, Db, StoreError};

    /// Polls `fut` `polls` times, pausing between polls, then drops it.
    async fn abandon_after<F: Future>(fut: F, polls: usize) {
        let mut fut = pin!(fut);
        for _ in 0..polls {
            if poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await {
                return;
            }
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
    }

    /// Whether the connection is outside any transaction: each statement
    /// outside one is a transaction of its own with its own id, while two
    /// statements inside one share its id.
    async fn outside_a_transaction(conn: &mut sqlx::AnyConnection) -> bool {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let id: i64 = sqlx::query_scalar("SELECT CAST(txid_current() AS BIGINT)")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            ids.push(id);
        }
        ids[0] != ids[1]
    }

    /// sqlx-postgres 0.9.0 counted a transaction only once `BEGIN` was
    /// answered: a caller dropped in that window returned its connection to
    /// the pool inside a server-side transaction, and the next borrower's
    /// statements ran in it (seen as `25001 SET TRANSACTION ISOLATION LEVEL
    /// must be called before any query`; transact-rs/sqlx#4393, fixed in
    /// 0.9.1). This test failed every time on 0.9.0 and guards the version.
    #[tokio::test]
    async fn a_begin_abandoned_at_any_point_leaves_no_connection_in_a_transaction() {
        let db = Db::for_tests().await.unwrap();
        if db.backend != Backend::Postgres {
            return; // SQLite's begin is cancel-safe in sqlx itself.
        }
        for polls in (0..12).cycle().take(60) {
            abandon_after(db.begin_write(), polls).await;
            abandon_after(db.begin(), polls).await;
            // Every connection the pool may hand out, held at once.
            let mut held = Vec::new();
            for _ in 0..db.pool.size() {
                held.push(db.pool.acquire().await.unwrap());
            }
            for conn in &mut held {
                assert!(outside_a_transaction(conn).await, "after {polls} polls");
            }
        }
    }

    #[tokio::test]
    async fn a_second_row_with_the_same_key_is_told_apart_from_other_failures() {
        let db = Db::for_tests().await.unwrap();
        sqlx::query("CREATE TABLE k (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
            .execute(db.pool())
            .await
            .unwrap();
        let insert = |id: i64, name: &'static str| {
            let db = &db;
            async move {
                let mut tx = db.begin_write().await?;
                sqlx::query("INSERT INTO k (id, name) VALUES ($1, $2)")
                    .bind(id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<(), StoreError>(())
            }
        };
        insert(1, "a").await.unwrap();
        for (id, name, unique) in [(1, "b", true), (2, "a", true)] {
            let e = insert(id, name).await.unwrap_err();
            assert_eq!(e.is_unique_violation(), unique, "{id} {name}: {e}");
        }
        let e = sqlx::query("INSERT INTO nowhere (id) VALUES (1)")
            .execute(db.pool())
            .await
            .map_err(StoreError::from)
            .unwrap_err();
        assert!(!e.is_unique_violation(), "{e}");
    }
}
