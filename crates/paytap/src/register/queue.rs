//! The register's durable local queue: `register.db` (SQLite) in its
//! directory (`--register-dir`), holding every shown-code payment whose
//! outcome the register does not know yet.
//!
//! `register scan --register-dir DIR` writes the payment (its key and the
//! body it posts) before the first post, as a terminal writes its
//! reversal before its `0100`, and marks it done once the acquirer
//! answered it (taken or refused). A payment without an answer stays
//! queued; `register upload` sends what is queued in batches of at most
//! [`MAX_BATCH_OPERATIONS`] under batch ids chosen here and written to
//! the queue before the batch leaves, so that a register that crashes
//! mid-upload sends the same batch again under the same id: the acquirer
//! answers it as before and nothing is paid twice or lost. Each upload is
//! tried [`MAX_UPLOAD_ATTEMPTS`] times with a doubling pause.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use paytap_acquirer::batches::{BatchResult, MAX_BATCH_OPERATIONS};
use paytap_store::{Db, Migration};
use serde_json::Value;
use sqlx::Row;

/// The queue's file in the register's directory.
pub(super) const QUEUE_FILE: &str = "register.db";
/// Uploads of one batch before `register upload` gives up for now.
pub(super) const MAX_UPLOAD_ATTEMPTS: u32 = 4;
/// The pause after the first failed upload; doubled after each.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(250);

const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "register",
        version: 1,
        sql: "CREATE TABLE register_queue (\
        idempotency_key TEXT PRIMARY KEY, body TEXT NOT NULL, batch_id TEXT, \
        state TEXT NOT NULL, result TEXT, created_at BIGINT NOT NULL)",
    },
    Migration {
        component: "register",
        version: 2,
        sql: "ALTER TABLE register_queue ADD COLUMN kind TEXT NOT NULL DEFAULT 'presented';\
        CREATE TABLE register_band_seen (band_id TEXT PRIMARY KEY, serial BIGINT NOT NULL, \
        last_counter BIGINT NOT NULL, spent BIGINT NOT NULL);\
        CREATE TABLE register_band_revoked (band_id TEXT PRIMARY KEY);\
        CREATE TABLE register_band_platform (id BIGINT PRIMARY KEY, key TEXT NOT NULL)",
    },
];

/// What an operation in the queue is: a shown phone code's payment
/// (uploaded to `register-batches`) or a band code taken offline
/// (uploaded to `band-batches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Presented,
    Band,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Presented => "presented",
            Kind::Band => "band",
        }
    }
}

const QUEUED: &str = "queued";
const DONE: &str = "done";

/// The register's queue (module documentation).
pub(super) struct Queue {
    db: Db,
}

impl Queue {
    /// Opens (or creates) the queue in `dir`.
    pub(super) async fn open(dir: &Path) -> anyhow::Result<Queue> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(QUEUE_FILE);
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        db.migrate(MIGRATIONS).await?;
        Ok(Queue { db })
    }

    /// The queue's database (the band's offline state lives beside it).
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Writes an operation before it is sent (kept as it was when its key
    /// is queued already).
    pub(super) async fn enqueue(&self, key: &str, body: &Value) -> anyhow::Result<()> {
        let mut tx = self.db.begin_write().await?;
        enqueue_in(&mut tx, Kind::Presented, key, body).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks an operation answered, with what the acquirer said.
    pub(super) async fn done(&self, key: &str, result: &Value) -> anyhow::Result<()> {
        sqlx::query("UPDATE register_queue SET state = $1, result = $2 WHERE idempotency_key = $3")
            .bind(DONE)
            .bind(result.to_string())
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// How many operations wait for an answer.
    pub(super) async fn waiting(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM register_queue WHERE state = $1")
            .bind(QUEUED)
            .fetch_one(self.db.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    /// The next batch to upload (its id and its operations' bodies): one that left before with an operation
    /// still waiting (sent again as it was), else up to
    /// [`MAX_BATCH_OPERATIONS`] waiting operations under `new_id`, written
    /// to the queue first. `None` when nothing waits.
    pub(super) async fn next_batch(
        &self,
        new_id: &str,
    ) -> anyhow::Result<Option<(String, Vec<Value>)>> {
        self.next_batch_of(Kind::Presented, new_id, MAX_BATCH_OPERATIONS)
            .await
    }

    /// [`Queue::next_batch`] for the operations of one kind, at most `max`
    /// in a new batch.
    pub(super) async fn next_batch_of(
        &self,
        kind: Kind,
        new_id: &str,
        max: usize,
    ) -> anyhow::Result<Option<(String, Vec<Value>)>> {
        let pool = self.db.pool();
        let open = sqlx::query(
            "SELECT batch_id FROM register_queue WHERE state = $1 AND batch_id IS NOT NULL \
             AND kind = $2 ORDER BY created_at, idempotency_key LIMIT 1",
        )
        .bind(QUEUED)
        .bind(kind.as_str())
        .fetch_optional(pool)
        .await?;
        let id = match open {
            Some(row) => row.try_get::<String, _>("batch_id")?,
            None => {
                let limit = i64::try_from(max).expect("a small bound");
                let assigned = sqlx::query(
                    "UPDATE register_queue SET batch_id = $1 WHERE idempotency_key IN (\
                     SELECT idempotency_key FROM register_queue \
                     WHERE state = $2 AND batch_id IS NULL AND kind = $4 \
                     ORDER BY created_at, idempotency_key LIMIT $3)",
                )
                .bind(new_id)
                .bind(QUEUED)
                .bind(limit)
                .bind(kind.as_str())
                .execute(pool)
                .await?;
                if assigned.rows_affected() == 0 {
                    return Ok(None);
                }
                new_id.to_owned()
            }
        };
        let rows = sqlx::query(
            "SELECT body FROM register_queue WHERE batch_id = $1 \
             ORDER BY created_at, idempotency_key",
        )
        .bind(id.as_str())
        .fetch_all(pool)
        .await?;
        let mut ops = Vec::with_capacity(rows.len());
        for row in rows {
            let body: String = row.try_get("body")?;
            ops.push(serde_json::from_str(&body).context("a queued operation's body")?);
        }
        Ok(Some((id, ops)))
    }

    /// Records a batch's answer: each settled operation is done.
    pub(super) async fn record(&self, results: &[BatchResult]) -> anyhow::Result<()> {
        for r in results.iter().filter(|r| r.settled) {
            self.done(&r.idempotency_key, &serde_json::to_value(r)?)
                .await?;
        }
        Ok(())
    }
}

/// Writes an operation of `kind` inside the caller's transaction (kept as
/// it was when its key is queued already).
pub(super) async fn enqueue_in(
    tx: &mut paytap_store::Tx,
    kind: Kind,
    key: &str,
    body: &Value,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO register_queue (idempotency_key, body, batch_id, state, result, created_at, \
         kind) VALUES ($1, $2, NULL, $3, NULL, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(key)
    .bind(body.to_string())
    .bind(QUEUED)
    .bind(paytap_store::now_millis())
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settled(key: &str) -> BatchResult {
        BatchResult {
            idempotency_key: key.into(),
            outcome: None,
            error: Some("expired".into()),
            message: None,
            settled: true,
        }
    }

    #[tokio::test]
    async fn a_batch_cut_short_by_a_crash_is_sent_again_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).await.unwrap();
        for k in ["a", "b", "c"] {
            q.enqueue(k, &json!({ "idempotency_key": k }))
                .await
                .unwrap();
        }
        // The same key queued again keeps its first body.
        q.enqueue("a", &json!({ "other": true })).await.unwrap();
        q.done("c", &json!({ "approved": true })).await.unwrap();
        assert_eq!(q.waiting().await.unwrap(), 2);

        let (id, ops) = q.next_batch("batch-1").await.unwrap().unwrap();
        assert_eq!(id, "batch-1");
        assert_eq!(
            ops,
            [
                json!({ "idempotency_key": "a" }),
                json!({ "idempotency_key": "b" })
            ]
        );
        // The register dies before it hears the answer; after a restart
        // the same batch goes again, under its id, not a new one.
        drop(q);
        let q = Queue::open(dir.path()).await.unwrap();
        q.enqueue("d", &json!({ "idempotency_key": "d" }))
            .await
            .unwrap();
        let again = q.next_batch("batch-2").await.unwrap().unwrap();
        assert_eq!(again, ("batch-1".to_owned(), ops));

        // The answer settles "a" only: the batch is still owed, as it was.
        q.record(&[settled("a")]).await.unwrap();
        let (id, _) = q.next_batch("batch-3").await.unwrap().unwrap();
        assert_eq!(id, "batch-1");
        q.record(&[settled("a"), settled("b")]).await.unwrap();
        let (id, ops) = q.next_batch("batch-4").await.unwrap().unwrap();
        assert_eq!(
            (id.as_str(), ops),
            ("batch-4", vec![json!({ "idempotency_key": "d" })])
        );
        q.record(&[settled("d")]).await.unwrap();
        assert!(q.next_batch("batch-5").await.unwrap().is_none());
        assert_eq!(q.waiting().await.unwrap(), 0);
    }
}
