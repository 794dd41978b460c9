//! Measurements shared by the criterion bench (`benches/ledger.rs`) and
//! `paytap bench auth`: durable transfers per second through group commit,
//! and the store's raw durable append rate for comparison.

use crate::{AccountFlags, AccountSpec, Ledger, LedgerError, Transfer};
use paytap_store::Db;
use paytap_types::{Currency, Money};
use std::time::{Duration, Instant};

/// How many operations completed in how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub operations: usize,
    pub elapsed: Duration,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.operations as f64 / secs
        } else {
            0.0
        }
    }
}

/// The storage floor: `n` single-row inserts of a transfer-sized row, `batch`
/// of them per durable transaction (the same work a group commit of `batch`
/// transfers must at least do). Uses its own table, `ledger_bench_append`.
pub async fn raw_append_rate(db: &Db, n: usize, batch: usize) -> Result<Rate, LedgerError> {
    let batch = batch.max(1);
    let create = db.dialect(
        "CREATE TABLE IF NOT EXISTS ledger_bench_append (\
         id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, debit TEXT, \
         credit TEXT, amount BIGINT NOT NULL, currency TEXT, created_at BIGINT NOT NULL)",
    );
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(db.pool())
        .await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let start = Instant::now();
    let mut done = 0usize;
    while done < n {
        let size = batch.min(n - done);
        let mut tx = db.begin_write().await?;
        for i in done..done + size {
            sqlx::query(
                "INSERT INTO ledger_bench_append (id, kind, status, debit, credit, amount, \
                 currency, created_at) VALUES ($1, 'single', 'ok', $2, $3, $4, 'CNY', $5)",
            )
            .bind(format!("{run}-{i}"))
            .bind("bench:a")
            .bind("bench:b")
            .bind(1i64)
            .bind(paytap_store::now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        done += size;
    }
    Ok(Rate {
        operations: n,
        elapsed: start.elapsed(),
    })
}

/// `n` single-phase transfers of 1 fen between two fresh accounts, sent by
/// `concurrency` tasks at once through the group-commit writer. Every
/// answer is a durable commit.
pub async fn transfer_rate(
    ledger: &Ledger,
    n: usize,
    concurrency: usize,
) -> Result<Rate, LedgerError> {
    let concurrency = concurrency.max(1);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let from = format!("bench:{run}:from");
    let to = format!("bench:{run}:to");
    for id in [&from, &to] {
        ledger
            .create_account(AccountSpec::new(
                id.clone(),
                "bench",
                Currency::CNY,
                AccountFlags::None,
            ))
            .await?;
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let ledger = ledger.clone();
        let (from, to, run) = (from.clone(), to.clone(), run.clone());
        let count = n / concurrency + usize::from(task < n % concurrency);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                ledger
                    .transfer(Transfer::single(
                        format!("{run}-{task}-{i}"),
                        from.as_str(),
                        to.as_str(),
                        Money::new(1, Currency::CNY),
                    ))
                    .await?;
            }
            Ok::<(), LedgerError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|_| LedgerError::Closed)??;
    }
    Ok(Rate {
        operations: n,
        elapsed: start.elapsed(),
    })
}
