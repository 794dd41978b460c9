//! paytap-ledger: the double-entry ledger behind every hold, capture and
//! release in paytap.
//!
//! This crate owns the `ledger_accounts` and `ledger_transfers` tables and is
//! their only writer. The model follows classic double-entry bookkeeping with
//! two-phase transfers (the model card issuers use for authorization holds):
//!
//! * An [`Account`] has a caller-chosen id, a [`Currency`] and at most one
//!   balance constraint ([`AccountFlags`]): a cardholder's debit account
//!   (`DebitsMustNotExceedCredits`: it cannot go below zero) or a liability
//!   account limited the other way. Balances are four integer counters in
//!   minor units: `debits_posted`, `credits_posted`, `debits_pending`,
//!   `credits_pending`.
//! * A [`Transfer`] moves one amount from a debit account to a credit account
//!   of the same currency, either at once ([`TransferKind::Single`]) or as a
//!   hold ([`TransferKind::Pending`]) that is later posted (in full or in
//!   part; the remainder is released) or voided. A hold counts against the
//!   balance constraint as soon as it is placed.
//! * Every transfer carries an idempotency key (its id). **Outcomes are
//!   final and persisted, including rejections**: a retry with the same id
//!   and the same content returns exactly the first answer (the same
//!   [`Receipt`], or the same [`Rejection`], e.g. `ExceedsCredits`, even if
//!   funds arrived in between), and never moves money twice. This is what an
//!   ISO 8583 duplicate must see. The same id with different content is an
//!   [`LedgerError::IdempotencyConflict`]. Store failures are not outcomes: a
//!   request that failed with [`LedgerError::Store`] did not commit and may
//!   be retried.
//!
//! Group commit: every request goes over a channel to one writer (on a
//! SQLite file the database's direct writer thread, see
//! [`paytap_store::direct`]; on PostgreSQL a task on the pool) that
//! takes whatever is queued (up to [`LedgerOptions::max_batch`]), validates
//! each request in order against the balances inside one write transaction
//! (a rejected transfer fails alone, not the batch), commits durably (on a
//! SQLite file the direct writer syncs the WAL before anyone is answered;
//! PostgreSQL's default synchronous commit) and only then answers each
//! caller.
//!
//! Invariants (checked on every transfer in code, and recomputed from the
//! transfer rows by [`Ledger::check_invariants`]): per currency, the sum of
//! `debits_posted` equals the sum of `credits_posted`, and the same for
//! pending; no flagged balance crosses its limit; a pending transfer is
//! resolved at most once (also enforced by a unique index).

mod model;
mod open;
mod writer;

pub mod bench;

pub use model::{
    Account, AccountFlags, AccountSpec, Balance, InvariantReport, PendingState, Receipt, Rejection,
    Transfer, TransferKind,
};
pub use open::OpenPending;
pub use paytap_types::{Currency, Money};

use paytap_store::direct::{DirectQueue, WriteQueue};
use paytap_store::{Db, Migration, StoreError};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Everything that can go wrong talking to the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// The transfer was validated and refused; this outcome is final for
    /// its id.
    #[error("transfer rejected: {0}")]
    Rejected(Rejection),
    /// The id was already used for a transfer with different content.
    #[error("idempotency key {0:?} was already used with different content")]
    IdempotencyConflict(String),
    /// The account id exists with a different name, currency or flags.
    #[error("account {0:?} already exists with a different specification")]
    AccountConflict(String),
    #[error("account {0:?} not found")]
    AccountNotFound(String),
    #[error("invalid account specification: {0}")]
    InvalidSpec(&'static str),
    /// The database failed; nothing in the request was committed.
    #[error("ledger store: {0}")]
    Store(Arc<StoreError>),
    /// The writer task has stopped.
    #[error("ledger writer is not running")]
    Closed,
    /// Stored data that this code did not write (unknown codes, bad
    /// currencies) or a broken invariant.
    #[error("ledger data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(Arc::new(e))
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(Arc::new(StoreError::Sql(e)))
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Store(Arc::new(StoreError::Sqlite(e)))
    }
}

impl From<Rejection> for LedgerError {
    fn from(r: Rejection) -> Self {
        LedgerError::Rejected(r)
    }
}

/// Schema owned by this crate.
pub const MIGRATIONS: &[Migration] = &[Migration {
    component: "ledger",
    version: 1,
    sql: "CREATE TABLE ledger_accounts (\
            id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL, \
            flags BIGINT NOT NULL, \
            debits_posted BIGINT NOT NULL, credits_posted BIGINT NOT NULL, \
            debits_pending BIGINT NOT NULL, credits_pending BIGINT NOT NULL, \
            created_at BIGINT NOT NULL);\
          CREATE TABLE ledger_transfers (\
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, \
            debit TEXT, credit TEXT, amount BIGINT NOT NULL, currency TEXT, \
            pending_id TEXT, req_amount BIGINT, reference TEXT, \
            resolves TEXT, pending_state TEXT, created_at BIGINT NOT NULL);\
          CREATE UNIQUE INDEX ledger_transfers_resolves ON ledger_transfers (resolves)",
}];

/// Tuning of the group-commit writer.
#[derive(Clone, Copy, Debug)]
pub struct LedgerOptions {
    /// Most requests applied in one database transaction.
    pub max_batch: usize,
    /// Requests that may wait in the queue before callers are slowed down.
    pub queue: usize,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_batch: 1024,
            queue: 16 * 1024,
        }
    }
}

pub(crate) enum Op {
    Transfer(Transfer),
    Post {
        id: String,
        pending_id: String,
        amount: Option<i64>,
    },
    Void {
        id: String,
        pending_id: String,
    },
}

impl Op {
    pub(crate) fn id(&self) -> &str {
        match self {
            Op::Transfer(t) => &t.id,
            Op::Post { id, .. } | Op::Void { id, .. } => id,
        }
    }
}

pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Receipt, LedgerError>>,
}

/// A handle to the ledger. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Ledger {
    db: Db,
    queue: WriteQueue<Request>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Migrates the schema and starts the writer task (call inside a tokio
    /// runtime). The task stops when the last handle is dropped.
    pub async fn open(db: Db) -> Result<Ledger, LedgerError> {
        Self::open_with(db, LedgerOptions::default()).await
    }

    pub async fn open_with(db: Db, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        db.migrate(MIGRATIONS).await?;
        let queue = match db.direct() {
            Some(direct) => WriteQueue::Direct(Arc::new(DirectQueue::new(
                Arc::clone(direct),
                options.queue,
                options.max_batch,
                writer::write_direct,
                writer::fail_direct,
            ))),
            None => {
                let (sender, receiver) = mpsc::channel(options.queue.max(1));
                tokio::spawn(writer::run(db.clone(), receiver, options.max_batch.max(1)));
                WriteQueue::Pool(sender)
            }
        };
        Ok(Ledger { db, queue })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Creates an account, or confirms an identical one exists. A different
    /// specification under the same id is [`LedgerError::AccountConflict`].
    pub async fn create_account(&self, spec: AccountSpec) -> Result<Account, LedgerError> {
        if spec.id.is_empty() || spec.id.len() > 128 {
            return Err(LedgerError::InvalidSpec(
                "account id must be 1 to 128 bytes",
            ));
        }
        if spec.name.len() > 256 {
            return Err(LedgerError::InvalidSpec(
                "account name must be at most 256 bytes",
            ));
        }
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO ledger_accounts (id, name, currency, flags, debits_posted, \
             credits_posted, debits_pending, credits_pending, created_at) \
             VALUES ($1, $2, $3, $4, 0, 0, 0, 0, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(spec.id.as_str())
        .bind(spec.name.as_str())
        .bind(spec.currency.code())
        .bind(spec.flags.code())
        .bind(paytap_store::now_millis())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(ACCOUNT_SELECT)
            .bind(spec.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let account = model::account_from_row(&row)?;
        if account.spec != spec {
            return Err(LedgerError::AccountConflict(spec.id));
        }
        Ok(account)
    }

    /// The account with its current balances.
    pub async fn account(&self, id: &str) -> Result<Account, LedgerError> {
        let row = sqlx::query(ACCOUNT_SELECT)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| LedgerError::AccountNotFound(id.to_string()))?;
        model::account_from_row(&row)
    }

    /// The account's current balances.
    pub async fn balance(&self, id: &str) -> Result<Balance, LedgerError> {
        Ok(self.account(id).await?.balance)
    }

    /// Applies a single-phase or pending transfer (see [`Transfer`]).
    pub async fn transfer(&self, transfer: Transfer) -> Result<Receipt, LedgerError> {
        self.submit(Op::Transfer(transfer)).await
    }

    /// Posts a pending transfer: the whole amount (`None`) or part of it
    /// (`Some(minor)`, at most the pending amount; the rest is released).
    /// `id` is this operation's own idempotency key.
    pub async fn post_pending(
        &self,
        id: impl Into<String>,
        pending_id: impl Into<String>,
        amount: Option<i64>,
    ) -> Result<Receipt, LedgerError> {
        self.submit(Op::Post {
            id: id.into(),
            pending_id: pending_id.into(),
            amount,
        })
        .await
    }

    /// Releases a pending transfer in full. `id` is this operation's own
    /// idempotency key.
    pub async fn void_pending(
        &self,
        id: impl Into<String>,
        pending_id: impl Into<String>,
    ) -> Result<Receipt, LedgerError> {
        self.submit(Op::Void {
            id: id.into(),
            pending_id: pending_id.into(),
        })
        .await
    }

    async fn submit(&self, op: Op) -> Result<Receipt, LedgerError> {
        let (reply, answer) = oneshot::channel();
        let request = Request { op, reply };
        if self.queue.push(request).await.is_err() {
            return Err(LedgerError::Closed);
        }
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// The recorded outcome for a transfer id, if any (the same value a
    /// retry would return).
    pub async fn outcome(
        &self,
        id: &str,
    ) -> Result<Option<Result<Receipt, Rejection>>, LedgerError> {
        let row = sqlx::query(TRANSFER_SELECT)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(writer::Row::from_sql(&row)?.outcome()?)),
        }
    }

    /// Where a pending transfer stands; `None` if `id` is not a successful
    /// pending transfer.
    pub async fn pending_state(&self, id: &str) -> Result<Option<PendingState>, LedgerError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT pending_state FROM ledger_transfers WHERE id = $1 AND kind = 'pending' \
             AND status = 'ok'",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some((Some(s),)) => Ok(Some(PendingState::from_code(&s)?)),
            _ => Ok(None),
        }
    }

    /// Recomputes every balance from the transfer rows in one read
    /// snapshot and compares it with the stored balances; checks that every
    /// currency nets to zero, that no flagged balance crosses its limit and
    /// that each pending transfer's state agrees with its resolution.
    pub async fn check_invariants(&self) -> Result<InvariantReport, LedgerError> {
        let mut tx = self.db.begin().await?;
        if self.db.backend() == paytap_store::Backend::Postgres {
            // PostgreSQL's default (read committed) takes a new snapshot per
            // statement; the sums below must all see the same state.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let accounts = sqlx::query(
            "SELECT id, name, currency, flags, debits_posted, credits_posted, debits_pending, \
             credits_pending, created_at FROM ledger_accounts",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut stored = BTreeMap::new();
        for row in &accounts {
            let a = model::account_from_row(row)?;
            stored.insert(a.spec.id.clone(), a);
        }
        let mut computed: BTreeMap<String, Balance> = BTreeMap::new();
        let sums: [(&str, BalanceField); 4] = [
            (
                "SELECT debit, CAST(SUM(amount) AS BIGINT) FROM ledger_transfers \
                 WHERE status = 'ok' AND kind IN ('single', 'post_pending') GROUP BY debit",
                |b| &mut b.debits_posted,
            ),
            (
                "SELECT credit, CAST(SUM(amount) AS BIGINT) FROM ledger_transfers \
                 WHERE status = 'ok' AND kind IN ('single', 'post_pending') GROUP BY credit",
                |b| &mut b.credits_posted,
            ),
            (
                "SELECT t.debit, CAST(SUM(t.amount) AS BIGINT) FROM ledger_transfers t \
                 WHERE t.status = 'ok' AND t.kind = 'pending' AND NOT EXISTS \
                 (SELECT 1 FROM ledger_transfers r WHERE r.resolves = t.id) GROUP BY t.debit",
                |b| &mut b.debits_pending,
            ),
            (
                "SELECT t.credit, CAST(SUM(t.amount) AS BIGINT) FROM ledger_transfers t \
                 WHERE t.status = 'ok' AND t.kind = 'pending' AND NOT EXISTS \
                 (SELECT 1 FROM ledger_transfers r WHERE r.resolves = t.id) GROUP BY t.credit",
                |b| &mut b.credits_pending,
            ),
        ];
        let mut transfers_checked = 0i64;
        for (sql, field) in sums {
            let rows: Vec<(Option<String>, Option<i64>)> =
                sqlx::query_as(sql).fetch_all(&mut *tx).await?;
            for (account, sum) in rows {
                let account = account.ok_or_else(|| {
                    LedgerError::Corrupt("successful transfer without account".into())
                })?;
                *field(computed.entry(account).or_default()) += sum.unwrap_or(0);
            }
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_transfers")
            .fetch_one(&mut *tx)
            .await?;
        transfers_checked += n;
        // A pending transfer's state must match its resolving row.
        let (bad_state,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM ledger_transfers t WHERE t.status = 'ok' AND t.kind = 'pending' \
             AND NOT ((t.pending_state = 'pending' AND NOT EXISTS \
                 (SELECT 1 FROM ledger_transfers r WHERE r.resolves = t.id)) \
             OR (t.pending_state = 'posted' AND EXISTS (SELECT 1 FROM ledger_transfers r \
                 WHERE r.resolves = t.id AND r.kind = 'post_pending')) \
             OR (t.pending_state = 'voided' AND EXISTS (SELECT 1 FROM ledger_transfers r \
                 WHERE r.resolves = t.id AND r.kind = 'void_pending')))",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.rollback().await?;
        if bad_state != 0 {
            return Err(LedgerError::Corrupt(format!(
                "{bad_state} pending transfers disagree with their resolution"
            )));
        }
        let per_currency = verify_balances(&stored, &computed)?;
        Ok(InvariantReport {
            accounts: stored.len(),
            transfers: usize::try_from(transfers_checked).unwrap_or(usize::MAX),
            totals: per_currency,
        })
    }
}

/// The pure half of [`Ledger::check_invariants`]: every account the
/// transfers name exists, every stored balance equals its recomputation
/// and stays within its flags' limit, and each currency nets to zero.
/// Returns the per-currency totals.
fn verify_balances(
    stored: &BTreeMap<String, Account>,
    computed: &BTreeMap<String, Balance>,
) -> Result<BTreeMap<Currency, Balance>, LedgerError> {
    for id in computed.keys() {
        if !stored.contains_key(id) {
            return Err(LedgerError::Corrupt(format!(
                "transfers reference unknown account {id:?}"
            )));
        }
    }
    let mut per_currency: BTreeMap<Currency, Balance> = BTreeMap::new();
    for (id, account) in stored {
        verify_account(id, account, computed.get(id).copied().unwrap_or_default())?;
        add_to_total(
            per_currency.entry(account.spec.currency).or_default(),
            &account.balance,
        )?;
    }
    for (currency, t) in &per_currency {
        if t.debits_posted != t.credits_posted || t.debits_pending != t.credits_pending {
            return Err(LedgerError::Corrupt(format!(
                "{currency} does not net to zero: {t:?}"
            )));
        }
    }
    Ok(per_currency)
}

/// One account's stored balance equals the one its transfers add up to,
/// and stays within its flags' limit.
fn verify_account(id: &str, account: &Account, recomputed: Balance) -> Result<(), LedgerError> {
    if recomputed != account.balance {
        return Err(LedgerError::Corrupt(format!(
            "account {id:?}: stored {:?}, recomputed {:?}",
            account.balance, recomputed
        )));
    }
    if !account.spec.flags.allows(&account.balance) {
        return Err(LedgerError::Corrupt(format!(
            "account {id:?} crosses its {:?} limit",
            account.spec.flags
        )));
    }
    Ok(())
}

/// Adds each counter of `b` to the currency total `t`.
fn add_to_total(t: &mut Balance, b: &Balance) -> Result<(), LedgerError> {
    for (sum, v) in [
        (&mut t.debits_posted, b.debits_posted),
        (&mut t.credits_posted, b.credits_posted),
        (&mut t.debits_pending, b.debits_pending),
        (&mut t.credits_pending, b.credits_pending),
    ] {
        *sum = sum
            .checked_add(v)
            .ok_or_else(|| LedgerError::Corrupt("currency total overflows".into()))?;
    }
    Ok(())
}

/// Selects one counter of a [`Balance`].
type BalanceField = fn(&mut Balance) -> &mut i64;

const ACCOUNT_SELECT: &str = "SELECT id, name, currency, flags, debits_posted, credits_posted, \
     debits_pending, credits_pending, created_at FROM ledger_accounts WHERE id = $1";

pub(crate) const TRANSFER_COLUMNS: &str = "id, kind, status, debit, credit, amount, currency, \
     pending_id, req_amount, reference, resolves, pending_state, created_at";

const TRANSFER_SELECT: &str = "SELECT id, kind, status, debit, credit, amount, currency, \
     pending_id, req_amount, reference, resolves, pending_state, created_at \
     FROM ledger_transfers WHERE id = $1";

pub(crate) fn get<'r, T>(row: &'r sqlx::any::AnyRow, col: &str) -> Result<T, LedgerError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(LedgerError::from)
}
