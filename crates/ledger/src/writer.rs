//! The single writer task: group commit of queued requests.
//!
//! One batch = one write transaction: load the transfer rows and accounts the
//! batch touches (locking the accounts on PostgreSQL), apply each request in
//! order in memory (a rejection is recorded and fails only its request),
//! write the new rows and balances, commit, then answer every caller. If the
//! commit fails, every caller in the batch gets the store error and nothing
//! of the batch is visible.
//!
//! On a SQLite file the whole transaction runs on the database's direct
//! writer thread ([`paytap_store::direct`]), which also answers the callers:
//! one hand-off per batch instead of one per statement. On PostgreSQL it
//! runs through the pool. Both do the same steps with the same statements.

use crate::model::{AccountFlags, Balance, PendingState, Receipt, Rejection, TransferKind};
use crate::{LedgerError, Op, Request, TRANSFER_COLUMNS, get};
use paytap_store::batch::Arg;
use paytap_store::bulk::Bulk;
use paytap_store::direct::AfterCommit;
use paytap_store::{Backend, Db, StoreError, Tx};
use paytap_types::{Currency, Money};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Ids and references longer than this are refused (not persisted).
const MAX_ID: usize = 128;
const MAX_REFERENCE: usize = 256;
/// Ids per `IN (...)` list.
const CHUNK: usize = 256;

/// The writer task on the pool (PostgreSQL).
pub(crate) async fn run(db: Db, mut receiver: mpsc::Receiver<Request>, max_batch: usize) {
    loop {
        let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            break;
        }
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        let results = apply(&db, &ops).await;
        drop(ops);
        answer(batch, results);
    }
    tracing::debug!("ledger writer stopped");
}

/// One batch in a round on the SQLite file's direct writer thread; the
/// answers go out after the round's commit.
pub(crate) fn write_direct(
    conn: &rusqlite::Connection,
    batch: Vec<Request>,
) -> Result<AfterCommit, AfterCommit> {
    let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
    let results = apply_direct(conn, &ops);
    drop(ops);
    let kept = results.is_ok();
    let after: AfterCommit = Box::new(move |committed| match committed {
        Ok(()) => answer(batch, results),
        Err(e) => answer(batch, Err(LedgerError::Store(e))),
    });
    if kept { Ok(after) } else { Err(after) }
}

/// The round for a batch could not start.
pub(crate) fn fail_direct(batch: Vec<Request>, error: Arc<StoreError>) {
    answer(batch, Err(LedgerError::Store(error)));
}

type Results = Vec<Result<Receipt, LedgerError>>;

fn answer(batch: Vec<Request>, results: Result<Results, LedgerError>) {
    match results {
        Ok(results) => {
            for (request, result) in batch.into_iter().zip(results) {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = request.reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(%error, size = batch.len(), "ledger batch failed, nothing committed");
            for request in batch {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = request.reply.send(Err(error.clone()));
            }
        }
    }
}

/// A `ledger_transfers` row in memory.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    id: String,
    kind: TransferKind,
    /// `"ok"` or a [`Rejection`] code.
    status: String,
    debit: Option<String>,
    credit: Option<String>,
    amount: i64,
    currency: Option<String>,
    pending_id: Option<String>,
    /// The amount as requested (`None` for a full post or a void).
    req_amount: Option<i64>,
    reference: Option<String>,
    resolves: Option<String>,
    pending_state: Option<String>,
    created_at: i64,
}

impl Row {
    pub(crate) fn from_sql(row: &sqlx::any::AnyRow) -> Result<Row, LedgerError> {
        let kind: String = get(row, "kind")?;
        Ok(Row {
            id: get(row, "id")?,
            kind: TransferKind::from_code(&kind)?,
            status: get(row, "status")?,
            debit: get(row, "debit")?,
            credit: get(row, "credit")?,
            amount: get(row, "amount")?,
            currency: get(row, "currency")?,
            pending_id: get(row, "pending_id")?,
            req_amount: get(row, "req_amount")?,
            reference: get(row, "reference")?,
            resolves: get(row, "resolves")?,
            pending_state: get(row, "pending_state")?,
            created_at: get(row, "created_at")?,
        })
    }

    fn from_direct(row: &rusqlite::Row<'_>) -> Result<Row, LedgerError> {
        let kind: String = row.get("kind")?;
        Ok(Row {
            id: row.get("id")?,
            kind: TransferKind::from_code(&kind)?,
            status: row.get("status")?,
            debit: row.get("debit")?,
            credit: row.get("credit")?,
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            pending_id: row.get("pending_id")?,
            req_amount: row.get("req_amount")?,
            reference: row.get("reference")?,
            resolves: row.get("resolves")?,
            pending_state: row.get("pending_state")?,
            created_at: row.get("created_at")?,
        })
    }

    /// Whether `op` is a retry of the request that produced this row.
    fn matches(&self, op: &Op) -> bool {
        match op {
            Op::Transfer(t) => {
                let kind = if t.pending {
                    TransferKind::Pending
                } else {
                    TransferKind::Single
                };
                self.kind == kind
                    && self.debit.as_deref() == Some(t.debit.as_str())
                    && self.credit.as_deref() == Some(t.credit.as_str())
                    && self.req_amount == Some(t.amount.minor)
                    && self.currency.as_deref() == Some(t.amount.currency.code())
                    && self.reference == t.reference
            }
            Op::Post {
                pending_id, amount, ..
            } => {
                self.kind == TransferKind::PostPending
                    && self.pending_id.as_deref() == Some(pending_id.as_str())
                    && self.req_amount == *amount
            }
            Op::Void { pending_id, .. } => {
                self.kind == TransferKind::VoidPending
                    && self.pending_id.as_deref() == Some(pending_id.as_str())
            }
        }
    }

    /// The recorded answer.
    pub(crate) fn outcome(&self) -> Result<Result<Receipt, Rejection>, LedgerError> {
        if self.status != "ok" {
            return Ok(Err(Rejection::from_code(&self.status)?));
        }
        let corrupt = || LedgerError::Corrupt(format!("transfer {:?} is incomplete", self.id));
        let currency = self.currency.as_deref().ok_or_else(corrupt)?;
        let currency = Currency::from_code(currency).map_err(|_| corrupt())?;
        Ok(Ok(Receipt {
            id: self.id.clone(),
            kind: self.kind,
            debit: self.debit.clone().ok_or_else(corrupt)?,
            credit: self.credit.clone().ok_or_else(corrupt)?,
            amount: Money::new(self.amount, currency),
            pending_id: self.pending_id.clone(),
            reference: self.reference.clone(),
            timestamp: self.created_at,
        }))
    }

    fn pending_state(&self) -> Result<Option<PendingState>, LedgerError> {
        self.pending_state
            .as_deref()
            .map(PendingState::from_code)
            .transpose()
    }
}

struct AccountState {
    currency: Currency,
    flags: AccountFlags,
    balance: Balance,
    dirty: bool,
}

/// The batch's working set inside the transaction.
struct Batch {
    rows: HashMap<String, Row>,
    new_rows: Vec<String>,
    changed_states: Vec<String>,
    accounts: HashMap<String, AccountState>,
    now: i64,
}

/// The next power of two: `IN (...)` lists are padded (by repeating the
/// last id) to a few fixed lengths so their prepared statements are reused
/// from the connection's statement cache.
fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

fn placeholders(start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(start + i).to_string());
    }
    s
}

fn rows_sql(n: usize) -> String {
    format!(
        "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id IN ({})",
        placeholders(1, n)
    )
}

fn accounts_sql(n: usize, backend: Backend) -> String {
    let lock = match backend {
        Backend::Postgres => " ORDER BY id FOR UPDATE",
        Backend::Sqlite => "",
    };
    format!(
        "SELECT id, currency, flags, debits_posted, credits_posted, debits_pending, \
         credits_pending FROM ledger_accounts WHERE id IN ({}){lock}",
        placeholders(1, n)
    )
}

/// `chunk` padded to `n` ids by repeating its last.
fn padded<'a>(chunk: &[&'a str], n: usize) -> impl Iterator<Item = &'a str> {
    let last = chunk.last().copied().unwrap_or("");
    (0..n).map(move |i| chunk.get(i).copied().unwrap_or(last))
}

async fn load_rows(tx: &mut Tx, ids: &[&str]) -> Result<HashMap<String, Row>, LedgerError> {
    let mut rows = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let n = padded_len(chunk.len());
        let sql = rows_sql(n);
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in padded(chunk, n) {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let row = Row::from_sql(&r)?;
            rows.insert(row.id.clone(), row);
        }
    }
    Ok(rows)
}

fn load_rows_direct(
    tx: &rusqlite::Connection,
    ids: &[&str],
) -> Result<HashMap<String, Row>, LedgerError> {
    let mut rows = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let n = padded_len(chunk.len());
        let mut stmt = tx.prepare_cached(&rows_sql(n))?;
        let mut found = stmt.query(rusqlite::params_from_iter(padded(chunk, n)))?;
        while let Some(r) = found.next()? {
            let row = Row::from_direct(r)?;
            rows.insert(row.id.clone(), row);
        }
    }
    Ok(rows)
}

fn account_state(
    currency: &str,
    flags: i64,
    debits_posted: i64,
    credits_posted: i64,
    debits_pending: i64,
    credits_pending: i64,
) -> Result<AccountState, LedgerError> {
    Ok(AccountState {
        currency: Currency::from_code(currency)
            .map_err(|_| LedgerError::Corrupt(format!("unknown currency {currency:?}")))?,
        flags: AccountFlags::from_code(flags)?,
        balance: Balance {
            debits_posted,
            credits_posted,
            debits_pending,
            credits_pending,
        },
        dirty: false,
    })
}

async fn load_accounts(
    tx: &mut Tx,
    backend: Backend,
    ids: &[&str],
) -> Result<HashMap<String, AccountState>, LedgerError> {
    let mut accounts = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let n = padded_len(chunk.len());
        let mut q = sqlx::query(AssertSqlSafe(accounts_sql(n, backend)));
        for id in padded(chunk, n) {
            q = q.bind(id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let currency: String = get(&r, "currency")?;
            let state = account_state(
                &currency,
                get(&r, "flags")?,
                get(&r, "debits_posted")?,
                get(&r, "credits_posted")?,
                get(&r, "debits_pending")?,
                get(&r, "credits_pending")?,
            )?;
            accounts.insert(get(&r, "id")?, state);
        }
    }
    Ok(accounts)
}

fn load_accounts_direct(
    tx: &rusqlite::Connection,
    ids: &[&str],
) -> Result<HashMap<String, AccountState>, LedgerError> {
    let mut accounts = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let n = padded_len(chunk.len());
        let mut stmt = tx.prepare_cached(&accounts_sql(n, Backend::Sqlite))?;
        let mut found = stmt.query(rusqlite::params_from_iter(padded(chunk, n)))?;
        while let Some(r) = found.next()? {
            let currency: String = r.get("currency")?;
            let state = account_state(
                &currency,
                r.get("flags")?,
                r.get("debits_posted")?,
                r.get("credits_posted")?,
                r.get("debits_pending")?,
                r.get("credits_pending")?,
            )?;
            accounts.insert(r.get("id")?, state);
        }
    }
    Ok(accounts)
}

fn id_valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID
}

/// Every transfer row the batch may read: its own ids (retries) and the
/// pending transfers it resolves.
fn transfer_ids<'a>(ops: &[&'a Op]) -> Vec<&'a str> {
    let mut ids: HashSet<&str> = HashSet::new();
    for op in ops {
        ids.insert(op.id());
        if let Op::Post { pending_id, .. } | Op::Void { pending_id, .. } = op {
            ids.insert(pending_id);
        }
    }
    ids.into_iter().filter(|id| id_valid(id)).collect()
}

/// Every account the requests and the loaded rows name, sorted (the lock
/// order on PostgreSQL).
fn account_ids<'a>(ops: &[&'a Op], rows: &'a HashMap<String, Row>) -> Vec<&'a str> {
    let mut ids: HashSet<&str> = HashSet::new();
    for op in ops {
        if let Op::Transfer(t) = op {
            ids.insert(&t.debit);
            ids.insert(&t.credit);
        }
    }
    for row in rows.values() {
        if row.kind == TransferKind::Pending {
            ids.extend(row.debit.as_deref());
            ids.extend(row.credit.as_deref());
        }
    }
    let mut ids: Vec<&str> = ids.into_iter().filter(|id| id_valid(id)).collect();
    ids.sort_unstable();
    ids
}

/// Rows for the three bulk statements after a batch was processed.
struct Writes {
    transfers: Vec<Vec<Arg>>,
    states: Vec<Vec<Arg>>,
    balances: Vec<Vec<Arg>>,
}

impl Writes {
    fn of(batch: &Batch) -> Writes {
        let transfers = batch
            .new_rows
            .iter()
            .filter_map(|id| batch.rows.get(id))
            .map(Row::args)
            .collect();
        let states = batch
            .changed_states
            .iter()
            .map(|id| {
                let state = batch.rows.get(id).and_then(|r| r.pending_state.clone());
                vec![Arg::Text(id.clone()), Arg::OptText(state)]
            })
            .collect();
        let balances = batch
            .accounts
            .iter()
            .filter(|(_, a)| a.dirty)
            .map(|(id, a)| {
                vec![
                    Arg::Text(id.clone()),
                    Arg::I64(a.balance.debits_posted),
                    Arg::I64(a.balance.credits_posted),
                    Arg::I64(a.balance.debits_pending),
                    Arg::I64(a.balance.credits_pending),
                ]
            })
            .collect();
        Writes {
            transfers,
            states,
            balances,
        }
    }

    fn each(&self) -> [(&'static Bulk, &[Vec<Arg>]); 3] {
        [
            (&INSERT_TRANSFERS, &self.transfers),
            (&SET_PENDING_STATES, &self.states),
            (&SET_BALANCES, &self.balances),
        ]
    }
}

/// Applies `ops` in order, in memory, to the rows and accounts they read;
/// returns each request's result and the rows to write.
fn process(
    ops: &[&Op],
    rows: HashMap<String, Row>,
    accounts: HashMap<String, AccountState>,
) -> Result<(Results, Writes), LedgerError> {
    let mut batch = Batch {
        rows,
        new_rows: Vec::new(),
        changed_states: Vec::new(),
        accounts,
        now: paytap_store::now_millis(),
    };
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(batch.process(op)?);
    }
    Ok((results, Writes::of(&batch)))
}

async fn apply(db: &Db, ops: &[&Op]) -> Result<Results, LedgerError> {
    let mut tx = db.begin_write().await?;
    let rows = load_rows(&mut tx, &transfer_ids(ops)).await?;
    let ids = account_ids(ops, &rows);
    let accounts = load_accounts(&mut tx, db.backend(), &ids).await?;
    drop(ids);
    let (results, writes) = process(ops, rows, accounts)?;
    for (bulk, rows) in writes.each() {
        bulk.execute(&mut tx, db.backend(), rows.iter().map(Vec::as_slice))
            .await?;
    }
    tx.commit().await?;
    Ok(results)
}

fn apply_direct(tx: &rusqlite::Connection, ops: &[&Op]) -> Result<Results, LedgerError> {
    let rows = load_rows_direct(tx, &transfer_ids(ops))?;
    let ids = account_ids(ops, &rows);
    let accounts = load_accounts_direct(tx, &ids)?;
    drop(ids);
    let (results, writes) = process(ops, rows, accounts)?;
    for (bulk, rows) in writes.each() {
        bulk.execute_direct(tx, rows.iter().map(Vec::as_slice))?;
    }
    Ok(results)
}

/// New transfer rows, in [`TRANSFER_COLUMNS`] order (see [`Row::args`]).
const INSERT_TRANSFERS: Bulk = Bulk {
    name: "ledger_transfers insert",
    sqlite: "INSERT INTO ledger_transfers (id, kind, status, debit, credit, amount, currency, \
             pending_id, req_amount, reference, resolves, pending_state, created_at) \
             SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, \
             j.value->>6, j.value->>7, j.value->>8, j.value->>9, j.value->>10, j.value->>11, \
             j.value->>12 FROM jsonb_each(jsonb($1)) AS j",
    postgres: "INSERT INTO ledger_transfers (id, kind, status, debit, credit, amount, currency, \
               pending_id, req_amount, reference, resolves, pending_state, created_at) \
               SELECT r->>0, r->>1, r->>2, r->>3, r->>4, (r->>5)::bigint, r->>6, r->>7, \
               (r->>8)::bigint, r->>9, r->>10, r->>11, (r->>12)::bigint \
               FROM jsonb_array_elements($1::jsonb) AS r",
    sqlite_row: "INSERT INTO ledger_transfers (id, kind, status, debit, credit, amount, currency, \
                 pending_id, req_amount, reference, resolves, pending_state, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
};

/// `[id, pending_state]`.
const SET_PENDING_STATES: Bulk = Bulk {
    name: "ledger_transfers pending_state",
    sqlite: "UPDATE ledger_transfers SET pending_state = j.value->>1 FROM jsonb_each(jsonb($1)) AS j \
             WHERE ledger_transfers.id = j.value->>0",
    postgres: "UPDATE ledger_transfers SET pending_state = r->>1 \
               FROM jsonb_array_elements($1::jsonb) AS r WHERE ledger_transfers.id = r->>0",
    sqlite_row: "UPDATE ledger_transfers SET pending_state = ?2 WHERE id = ?1",
};

/// `[id, debits_posted, credits_posted, debits_pending, credits_pending]`.
const SET_BALANCES: Bulk = Bulk {
    name: "ledger_accounts balances",
    sqlite: "UPDATE ledger_accounts SET debits_posted = j.value->>1, credits_posted = j.value->>2, \
             debits_pending = j.value->>3, credits_pending = j.value->>4 \
             FROM jsonb_each(jsonb($1)) AS j WHERE ledger_accounts.id = j.value->>0",
    postgres: "UPDATE ledger_accounts SET debits_posted = (r->>1)::bigint, \
               credits_posted = (r->>2)::bigint, debits_pending = (r->>3)::bigint, \
               credits_pending = (r->>4)::bigint \
               FROM jsonb_array_elements($1::jsonb) AS r WHERE ledger_accounts.id = r->>0",
    sqlite_row: "UPDATE ledger_accounts SET debits_posted = ?2, credits_posted = ?3, \
                 debits_pending = ?4, credits_pending = ?5 WHERE id = ?1",
};

impl Row {
    /// The row's values for [`INSERT_TRANSFERS`].
    fn args(&self) -> Vec<Arg> {
        vec![
            Arg::Text(self.id.clone()),
            Arg::Text(self.kind.code().to_owned()),
            Arg::Text(self.status.clone()),
            Arg::OptText(self.debit.clone()),
            Arg::OptText(self.credit.clone()),
            Arg::I64(self.amount),
            Arg::OptText(self.currency.clone()),
            Arg::OptText(self.pending_id.clone()),
            Arg::OptI64(self.req_amount),
            Arg::OptText(self.reference.clone()),
            Arg::OptText(self.resolves.clone()),
            Arg::OptText(self.pending_state.clone()),
            Arg::I64(self.created_at),
        ]
    }
}

fn flag_rejection(flags: AccountFlags) -> Rejection {
    match flags {
        AccountFlags::CreditsMustNotExceedDebits => Rejection::ExceedsDebits,
        _ => Rejection::ExceedsCredits,
    }
}

impl Batch {
    /// One request. `Err` only for faults that must abort the batch.
    fn process(&mut self, op: &Op) -> Result<Result<Receipt, LedgerError>, LedgerError> {
        let id = op.id();
        let reference_ok = match op {
            Op::Transfer(t) => t
                .reference
                .as_ref()
                .is_none_or(|r| r.len() <= MAX_REFERENCE),
            _ => true,
        };
        if !id_valid(id) || !reference_ok {
            return Ok(Err(LedgerError::Rejected(Rejection::InvalidId)));
        }
        if let Some(row) = self.rows.get(id) {
            if !row.matches(op) {
                return Ok(Err(LedgerError::IdempotencyConflict(id.to_string())));
            }
            return Ok(row.outcome()?.map_err(LedgerError::Rejected));
        }
        let row = match op {
            Op::Transfer(t) => {
                let kind = if t.pending {
                    TransferKind::Pending
                } else {
                    TransferKind::Single
                };
                let status = self.apply_transfer(t);
                Row {
                    id: t.id.clone(),
                    kind,
                    status: status.map_or_else(|r| r.code().to_string(), |()| "ok".to_string()),
                    debit: Some(t.debit.clone()),
                    credit: Some(t.credit.clone()),
                    amount: t.amount.minor,
                    currency: Some(t.amount.currency.code().to_string()),
                    pending_id: None,
                    req_amount: Some(t.amount.minor),
                    reference: t.reference.clone(),
                    resolves: None,
                    pending_state: (t.pending && status.is_ok())
                        .then(|| PendingState::Pending.code().to_string()),
                    created_at: self.now,
                }
            }
            Op::Post {
                id,
                pending_id,
                amount,
            } => self.resolve(id, pending_id, Some(*amount))?,
            Op::Void { id, pending_id } => self.resolve(id, pending_id, None)?,
        };
        let outcome = row.outcome()?.map_err(LedgerError::Rejected);
        self.new_rows.push(row.id.clone());
        self.rows.insert(row.id.clone(), row);
        Ok(outcome)
    }

    /// Applies one transfer to the in-memory balances, or refuses it.
    ///
    /// # Panics
    ///
    /// In debug builds, if the debit side and the credit side would move
    /// by different amounts (double entry broken).
    fn apply_transfer(&mut self, t: &crate::Transfer) -> Result<(), Rejection> {
        let amount = t.amount.minor;
        if amount <= 0 {
            return Err(Rejection::AmountNotPositive);
        }
        if t.debit == t.credit {
            return Err(Rejection::SameAccount);
        }
        let d = self
            .accounts
            .get(&t.debit)
            .ok_or(Rejection::DebitAccountNotFound)?;
        let c = self
            .accounts
            .get(&t.credit)
            .ok_or(Rejection::CreditAccountNotFound)?;
        if d.currency != t.amount.currency || c.currency != t.amount.currency {
            return Err(Rejection::CurrencyMismatch);
        }
        let (mut nd, mut nc) = (d.balance, c.balance);
        let (df, cf) = (d.flags, c.flags);
        if t.pending {
            nd.debits_pending = nd
                .debits_pending
                .checked_add(amount)
                .ok_or(Rejection::Overflow)?;
            nc.credits_pending = nc
                .credits_pending
                .checked_add(amount)
                .ok_or(Rejection::Overflow)?;
        } else {
            nd.debits_posted = nd
                .debits_posted
                .checked_add(amount)
                .ok_or(Rejection::Overflow)?;
            nc.credits_posted = nc
                .credits_posted
                .checked_add(amount)
                .ok_or(Rejection::Overflow)?;
        }
        debug_assert!(
            moved_by(&d.balance, &nd, &c.balance, &nc, t.pending) == (amount, amount),
            "a transfer must debit and credit the same amount"
        );
        if !df.allows(&nd) {
            return Err(flag_rejection(df));
        }
        if !cf.allows(&nc) {
            return Err(flag_rejection(cf));
        }
        self.set_balance(&t.debit, nd);
        self.set_balance(&t.credit, nc);
        Ok(())
    }

    fn set_balance(&mut self, id: &str, balance: Balance) {
        if let Some(a) = self.accounts.get_mut(id) {
            a.balance = balance;
            a.dirty = true;
        }
    }

    /// A post (`post = Some(requested amount)`) or a void (`post = None`).
    fn resolve(
        &mut self,
        id: &str,
        pending_id: &str,
        post: Option<Option<i64>>,
    ) -> Result<Row, LedgerError> {
        let kind = if post.is_some() {
            TransferKind::PostPending
        } else {
            TransferKind::VoidPending
        };
        let req_amount = post.flatten();
        let pending = self.rows.get(pending_id).cloned();
        let mut row = Row {
            id: id.to_string(),
            kind,
            status: String::new(),
            debit: pending.as_ref().and_then(|p| p.debit.clone()),
            credit: pending.as_ref().and_then(|p| p.credit.clone()),
            amount: req_amount.unwrap_or(0),
            currency: pending.as_ref().and_then(|p| p.currency.clone()),
            pending_id: Some(pending_id.to_string()),
            req_amount,
            reference: None,
            resolves: None,
            pending_state: None,
            created_at: self.now,
        };
        match self.try_resolve(pending.as_ref(), post)? {
            Ok(amount) => {
                row.status = "ok".to_string();
                row.amount = amount;
                row.resolves = Some(pending_id.to_string());
                let state = if post.is_some() {
                    PendingState::Posted
                } else {
                    PendingState::Voided
                };
                if let Some(p) = self.rows.get_mut(pending_id) {
                    p.pending_state = Some(state.code().to_string());
                }
                if !self.new_rows.iter().any(|n| n == pending_id) {
                    self.changed_states.push(pending_id.to_string());
                }
            }
            Err(rejection) => row.status = rejection.code().to_string(),
        }
        Ok(row)
    }

    /// Validates and applies a resolution; returns the amount posted or
    /// released.
    fn try_resolve(
        &mut self,
        pending: Option<&Row>,
        post: Option<Option<i64>>,
    ) -> Result<Result<i64, Rejection>, LedgerError> {
        let Some(p) = pending else {
            return Ok(Err(Rejection::PendingNotFound));
        };
        if p.kind != TransferKind::Pending {
            return Ok(Err(Rejection::NotPending));
        }
        if p.status != "ok" {
            return Ok(Err(Rejection::PendingNotFound));
        }
        match p.pending_state()? {
            Some(PendingState::Pending) => {}
            Some(PendingState::Posted) => return Ok(Err(Rejection::PendingAlreadyPosted)),
            Some(PendingState::Voided) => return Ok(Err(Rejection::PendingAlreadyVoided)),
            None => {
                return Err(LedgerError::Corrupt(format!(
                    "pending transfer {:?} has no state",
                    p.id
                )));
            }
        }
        let held = p.amount;
        let posted = match post {
            Some(Some(a)) if a <= 0 => return Ok(Err(Rejection::AmountNotPositive)),
            Some(Some(a)) if a > held => return Ok(Err(Rejection::AmountExceedsPending)),
            Some(Some(a)) => a,
            Some(None) => held,
            None => 0,
        };
        let corrupt = || {
            LedgerError::Corrupt(format!(
                "pending transfer {:?} names a missing account",
                p.id
            ))
        };
        let debit = p.debit.as_deref().ok_or_else(corrupt)?;
        let credit = p.credit.as_deref().ok_or_else(corrupt)?;
        let d = self.accounts.get(debit).ok_or_else(corrupt)?;
        let c = self.accounts.get(credit).ok_or_else(corrupt)?;
        let (mut nd, mut nc) = (d.balance, c.balance);
        let (df, cf) = (d.flags, c.flags);
        let overflow = || LedgerError::Corrupt(format!("balances around {:?} overflow", p.id));
        nd.debits_pending = nd.debits_pending.checked_sub(held).ok_or_else(overflow)?;
        nc.credits_pending = nc.credits_pending.checked_sub(held).ok_or_else(overflow)?;
        nd.debits_posted = nd.debits_posted.checked_add(posted).ok_or_else(overflow)?;
        nc.credits_posted = nc.credits_posted.checked_add(posted).ok_or_else(overflow)?;
        if nd.debits_pending < 0 || nc.credits_pending < 0 || !df.allows(&nd) || !cf.allows(&nc) {
            // Releasing or posting at most the held amount can never cross a
            // limit; if it does, the stored balances are wrong.
            return Err(LedgerError::Corrupt(format!(
                "resolving {:?} would break an account invariant",
                p.id
            )));
        }
        let (debit, credit) = (debit.to_string(), credit.to_string());
        self.set_balance(&debit, nd);
        self.set_balance(&credit, nc);
        Ok(Ok(if post.is_some() { posted } else { held }))
    }
}

/// How much the debit account's debits and the credit account's credits
/// (pending or posted) grew from `d0`/`c0` to `d1`/`c1`.
fn moved_by(d0: &Balance, d1: &Balance, c0: &Balance, c1: &Balance, pending: bool) -> (i64, i64) {
    if pending {
        (
            d1.debits_pending - d0.debits_pending,
            c1.credits_pending - c0.credits_pending,
        )
    } else {
        (
            d1.debits_posted - d0.debits_posted,
            c1.credits_posted - c0.credits_posted,
        )
    }
}
