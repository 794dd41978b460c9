//! The message log (network database, table `switch_messages`) and clearing.
//!
//! One row per authorization or reversal request/response pair: masked card
//! number (`622200******1234`, never the full number), token reference,
//! amounts in minor units, response code, stand-in flag, issuer, acquirer,
//! terminal, timestamps, and the authorization's state (`approved`,
//! `declined`, `reversed`). Rows are written by one background task in
//! batches (one transaction per batch; on PostgreSQL collected for up to
//! 25 ms unless someone waits). [`MessageLog::flush`] waits until
//! everything queued so far is committed (clearing and the lookup of a
//! reversal's original flush first, and a flush ends the collecting at once).
//!
//! **An approval is answered only after its row is durable**
//! ([`MessageLog::insert_durable`]), and a reversal only after its own row
//! and its original's `reversed` mark are
//! ([`MessageLog::reversal_durable`]): clearing reads nothing but this table,
//! and a reversal after a restart finds its original only here, so a row
//! written behind the answer and lost in a crash was an approval nobody
//! would ever clear or reverse. A decline, which holds nothing, is still
//! written behind.
//!
//! The table `switch_forwards` keeps the reversals and advices waiting for
//! an issuer's acknowledgement: encoded `0400`s, which carry no card number,
//! and, when the switch has a [`crate::ForwardKey`], `0120` advices with
//! their card data sealed ([`crate::seal`]).
//!
//! Clearing ([`crate::Switch::clearing`]) reads the approved, un-reversed
//! authorizations of one UTC day and nets them per party and currency: each
//! issuer owes (negative position) what its cardholders spent, each acquirer
//! is owed (positive position) what its merchants sold, so every currency
//! sums to zero.

use paytap_iso8583::Mti;
use paytap_store::batch::Arg;
use paytap_store::{Db, Migration, StoreError, direct};
use paytap_types::{Currency, UnknownText};
use serde::{Deserialize, Serialize};
use sqlx::{Column, Row};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Schema owned by the switch.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "switch",
        version: 1,
        sql: "CREATE TABLE switch_messages (\
            rrn TEXT PRIMARY KEY, day TEXT NOT NULL, kind TEXT NOT NULL, \
            request_mti TEXT NOT NULL, response_mti TEXT NOT NULL, \
            acquirer TEXT NOT NULL, terminal TEXT NOT NULL, merchant TEXT NOT NULL, \
            stan BIGINT NOT NULL, transmission TEXT NOT NULL, \
            masked_pan TEXT NOT NULL, token_ref TEXT, issuer TEXT, \
            amount BIGINT NOT NULL, currency TEXT NOT NULL, \
            response_code TEXT NOT NULL, approval_code TEXT, stand_in BIGINT NOT NULL, \
            hold_mti TEXT, original_rrn TEXT, status TEXT NOT NULL, \
            requested_at BIGINT NOT NULL, responded_at BIGINT NOT NULL, \
            reversed_at BIGINT, captured_at BIGINT);\
          CREATE INDEX switch_messages_day ON switch_messages (day, status);\
          CREATE INDEX switch_messages_orig ON switch_messages (acquirer, terminal, stan, transmission)",
    },
    Migration {
        component: "switch",
        version: 2,
        sql: "CREATE TABLE switch_forwards (\
                id TEXT PRIMARY KEY, issuer TEXT NOT NULL, mti TEXT NOT NULL, \
                message {blob} NOT NULL, created_at BIGINT NOT NULL, delivered_at BIGINT);\
              CREATE INDEX switch_forwards_pending ON switch_forwards (delivered_at)",
    },
    // The original-message index leads with the transmission time (DE 7):
    // a batch of log rows then lands on the index's last pages instead of
    // on one page per terminal. Same columns, same lookups.
    Migration {
        component: "switch",
        version: 3,
        sql: "DROP INDEX switch_messages_orig;\
              CREATE INDEX switch_messages_orig_time \
                ON switch_messages (transmission, stan, terminal, acquirer)",
    },
    // Advices (which carry the card number) are stored too: `message` holds
    // them without card data, `sealed` the whole advice encrypted.
    Migration {
        component: "switch",
        version: 4,
        sql: "ALTER TABLE switch_forwards ADD COLUMN sealed {blob}",
    },
];

/// A stored reversal or advice not acknowledged yet.
#[derive(Debug)]
pub(crate) struct StoredForward {
    pub id: String,
    pub issuer: String,
    /// The encoded message; for a sealed advice, without its card data.
    pub message: Vec<u8>,
    /// The whole encoded advice, sealed ([`crate::seal`]).
    pub sealed: Option<Vec<u8>>,
}

paytap_types::text_enum! {
    /// What a row of the message log records (`switch_messages.kind`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum LogKind {
        /// A `0100` or `0200` and its answer.
        Authorization = "authorization",
        /// A `0400` and its acknowledgement.
        Reversal = "reversal",
    }
}

paytap_types::text_enum! {
    /// Where a logged exchange stands (`switch_messages.status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum LogStatus {
        /// An authorization the issuer (or stand-in) approved; it is cleared
        /// unless reversed.
        Approved = "approved",
        /// An authorization refused; it holds nothing.
        Declined = "declined",
        /// An approved authorization a reversal has undone.
        Reversed = "reversed",
        /// A reversal, acknowledged.
        Done = "done",
    }
}

impl LogStatus {
    /// True for an authorization that was approved, whether or not it has
    /// been reversed since.
    pub const fn was_approved(self) -> bool {
        matches!(self, LogStatus::Approved | LogStatus::Reversed)
    }
}

/// Reads column `index` of `r` as text and parses it: an unknown value is a
/// column decode error naming the column and the text.
fn parse_column<T>(r: &sqlx::any::AnyRow, index: usize) -> Result<T, StoreError>
where
    T: FromStr<Err = UnknownText>,
{
    let text: String = r.try_get(index)?;
    text.parse().map_err(|e: UnknownText| {
        StoreError::Sql(sqlx::Error::ColumnDecode {
            index: r.column(index).name().to_owned(),
            source: Box::new(e),
        })
    })
}

/// One logged request/response pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// The switch's retrieval reference number of this exchange.
    pub rrn: String,
    /// UTC day `YYYY-MM-DD` of the request.
    pub day: String,
    /// What the row records.
    pub kind: LogKind,
    pub request_mti: String,
    pub response_mti: String,
    pub acquirer: String,
    pub terminal: String,
    pub merchant: String,
    pub stan: u32,
    pub transmission: String,
    /// First six and last four digits only.
    pub masked_pan: String,
    pub token_ref: Option<String>,
    pub issuer: Option<String>,
    pub amount: i64,
    pub currency: Currency,
    pub response_code: String,
    pub approval_code: Option<String>,
    pub stand_in: bool,
    /// The MTI under which the issuer holds the money (`0100`, or `0120` for a
    /// stand-in approval; `0200` when it has captured at once), `None` when
    /// nothing is held.
    pub hold_mti: Option<String>,
    /// For a reversal: the authorization it reverses.
    pub original_rrn: Option<String>,
    /// `Approved`, `Declined`, `Reversed` (authorizations) or `Done` (reversals).
    pub status: LogStatus,
    pub requested_at: i64,
    pub responded_at: i64,
}

enum Op {
    Insert(Box<LogRow>),
    Reversed {
        rrn: String,
        at: i64,
    },
    Captured {
        rrn: String,
        at: i64,
    },
    Forward {
        id: String,
        issuer: String,
        mti: String,
        message: Vec<u8>,
        sealed: Option<Vec<u8>>,
        at: i64,
    },
    Forwarded {
        id: String,
        at: i64,
    },
    Flush(oneshot::Sender<()>),
}

/// How a write someone waits for ended: `Ok` once it is durable, the last
/// error once the writer gave up on it (after its retries).
pub(crate) type Written = Result<(), Arc<StoreError>>;

/// An operation for the writer task, and who waits for it to be durable.
struct Queued {
    op: Op,
    durable: Option<oneshot::Sender<Written>>,
}

/// Handle to the log writer task.
#[derive(Clone)]
pub struct MessageLog {
    db: Db,
    tx: mpsc::Sender<Queued>,
}

/// Operations queued for the writer task and not taken yet. A sender
/// beyond it waits for room (backpressure on the authorization path)
/// instead of the queue growing while the database is slow. It cannot
/// deadlock: the writer only takes from this queue and waits on the
/// database, never on a sender, and nobody holds a lock across a send.
/// Sixteen full batches ([`MAX_BATCH`]), about 30 MB of rows.
const MAX_LOG_QUEUED: usize = 16 * MAX_BATCH;

/// New message rows, values in column order (see `insert_rows`).
const INSERT_MESSAGES: paytap_store::bulk::Bulk = paytap_store::bulk::Bulk {
    name: "switch_messages insert",
    sqlite: "INSERT INTO switch_messages (rrn, day, kind, request_mti, response_mti, \
             acquirer, terminal, merchant, stan, transmission, masked_pan, token_ref, \
             issuer, amount, currency, response_code, approval_code, stand_in, hold_mti, \
             original_rrn, status, requested_at, responded_at) SELECT j.value->>0, \
             j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, \
             j.value->>7, j.value->>8, j.value->>9, j.value->>10, j.value->>11, \
             j.value->>12, j.value->>13, j.value->>14, j.value->>15, j.value->>16, \
             j.value->>17, j.value->>18, j.value->>19, j.value->>20, j.value->>21, \
             j.value->>22 FROM jsonb_each(jsonb($1)) AS j WHERE true ON CONFLICT (rrn) DO NOTHING",
    postgres: "INSERT INTO switch_messages (rrn, day, kind, request_mti, response_mti, \
               acquirer, terminal, merchant, stan, transmission, masked_pan, token_ref, \
               issuer, amount, currency, response_code, approval_code, stand_in, hold_mti, \
               original_rrn, status, requested_at, responded_at) SELECT r->>0, r->>1, r->>2, \
               r->>3, r->>4, r->>5, r->>6, r->>7, (r->>8)::bigint, r->>9, r->>10, r->>11, \
               r->>12, (r->>13)::bigint, r->>14, r->>15, r->>16, (r->>17)::bigint, r->>18, \
               r->>19, r->>20, (r->>21)::bigint, (r->>22)::bigint FROM \
               jsonb_array_elements($1::jsonb) AS r ON CONFLICT (rrn) DO NOTHING",
    sqlite_row: "INSERT INTO switch_messages (rrn, day, kind, request_mti, response_mti, \
                 acquirer, terminal, merchant, stan, transmission, masked_pan, token_ref, \
                 issuer, amount, currency, response_code, approval_code, stand_in, hold_mti, \
                 original_rrn, status, requested_at, responded_at) VALUES (?1, ?2, ?3, ?4, ?5, \
                 ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
                 ?22, ?23) ON CONFLICT (rrn) DO NOTHING",
};

impl MessageLog {
    /// Apply the schema and start the writer task.
    pub async fn open(db: Db) -> Result<MessageLog, StoreError> {
        db.migrate(MIGRATIONS).await?;
        let (tx, rx) = mpsc::channel(MAX_LOG_QUEUED);
        tokio::spawn(writer(db.clone(), rx));
        Ok(MessageLog { db, tx })
    }

    /// The database the log lives in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Operations queued for the writer task and not taken yet (at most
    /// `MAX_LOG_QUEUED`, sixteen full batches).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues `op`, written behind: nobody waits for it to be durable,
    /// only, when the queue is full, for room in it.
    async fn send(&self, op: Op) {
        if self.tx.send(Queued { op, durable: None }).await.is_err() {
            tracing::error!("message log writer stopped; operation not written");
        }
    }

    /// Queues `op` (waiting for room) and returns what waits for it to be
    /// durable.
    async fn send_durable(&self, op: Op) -> impl Future<Output = Written> + use<> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .tx
            .send(Queued {
                op,
                durable: Some(tx),
            })
            .await;
        async move {
            sent.map_err(|_| Arc::new(StoreError::WriterStopped))?;
            rx.await
                .unwrap_or_else(|_| Err(Arc::new(StoreError::WriterStopped)))
        }
    }

    /// Logs `row` behind: for what nobody has to find again after a crash
    /// (a decline).
    pub(crate) async fn insert(&self, row: LogRow) {
        self.send(Op::Insert(Box::new(row))).await;
    }

    /// Logs `row` and returns once it is durable (see the module
    /// documentation), or with the error that kept it from being written.
    pub(crate) async fn insert_durable(&self, row: LogRow) -> Written {
        self.send_durable(Op::Insert(Box::new(row))).await.await
    }

    /// Marks the authorization `original` reversed and logs the reversal's
    /// `row`; returns once both are durable, or with the first error.
    pub(crate) async fn reversal_durable(&self, original: &str, at: i64, row: LogRow) -> Written {
        let mark = self
            .send_durable(Op::Reversed {
                rrn: original.to_owned(),
                at,
            })
            .await;
        let logged = self.send_durable(Op::Insert(Box::new(row))).await;
        let (mark, logged) = futures::join!(mark, logged);
        mark.and(logged)
    }

    pub(crate) async fn mark_captured(&self, rrn: &str, at: i64) {
        self.send(Op::Captured {
            rrn: rrn.to_owned(),
            at,
        })
        .await;
    }

    /// Keep a reversal or advice for store and forward. `msg` must carry no
    /// card data (a reversal has none: the issuer finds the hold by DE 37);
    /// an advice comes as its clear part and `sealed`, the whole advice
    /// sealed under the row's `id`.
    pub(crate) async fn store_forward(
        &self,
        id: &str,
        issuer: &str,
        msg: &paytap_iso8583::Message,
        sealed: Option<Vec<u8>>,
    ) {
        self.send(Op::Forward {
            id: id.to_owned(),
            issuer: issuer.to_owned(),
            mti: msg.mti().to_string(),
            message: msg.encode(),
            sealed,
            at: paytap_store::now_millis(),
        })
        .await;
    }

    pub(crate) async fn mark_forwarded(&self, id: &str) {
        self.send(Op::Forwarded {
            id: id.to_owned(),
            at: paytap_store::now_millis(),
        })
        .await;
    }

    /// Stored reversals and advices the issuers have not acknowledged yet,
    /// oldest first.
    pub(crate) async fn pending_forwards(&self) -> Result<Vec<StoredForward>, StoreError> {
        self.flush().await;
        let rows = sqlx::query(
            "SELECT id, issuer, message, sealed FROM switch_forwards \
             WHERE delivered_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredForward {
                    id: r.try_get(0)?,
                    issuer: r.try_get(1)?,
                    message: r.try_get(2)?,
                    sealed: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Wait until every row queued before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        let flush = Queued {
            op: Op::Flush(tx),
            durable: None,
        };
        if self.tx.send(flush).await.is_err() || rx.await.is_err() {
            tracing::error!("message log writer stopped; flush did not wait for anything");
        }
    }

    /// The logged rows of one day, oldest first (for audits and tests).
    pub async fn rows(&self, day: &str) -> Result<Vec<LoggedMessage>, StoreError> {
        self.flush().await;
        let rows = sqlx::query(
            "SELECT rrn, kind, masked_pan, token_ref, issuer, acquirer, terminal, amount, currency, \
             response_code, stand_in, status, original_rrn, captured_at FROM switch_messages \
             WHERE day = $1 ORDER BY requested_at, rrn",
        )
        .bind(day)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(LoggedMessage {
                rrn: r.try_get(0)?,
                kind: parse_column(&r, 1)?,
                masked_pan: r.try_get(2)?,
                token_ref: r.try_get(3)?,
                issuer: r.try_get(4)?,
                acquirer: r.try_get(5)?,
                terminal: r.try_get(6)?,
                amount: r.try_get(7)?,
                currency: r.try_get(8)?,
                response_code: r.try_get(9)?,
                stand_in: r.try_get::<i64, _>(10)? != 0,
                status: parse_column(&r, 11)?,
                original_rrn: r.try_get(12)?,
                captured: r.try_get::<Option<i64>, _>(13)?.is_some(),
            });
        }
        Ok(out)
    }

    /// Find a logged authorization by what an acquirer's reversal names.
    pub(crate) async fn find_original(
        &self,
        acquirer: &str,
        terminal: &str,
        stan: u32,
        transmission: &str,
    ) -> Result<Option<Original>, StoreError> {
        self.flush().await;
        let row = sqlx::query(
            "SELECT rrn, issuer, amount, currency, status, hold_mti, token_ref, masked_pan FROM switch_messages \
             WHERE acquirer = $1 AND terminal = $2 AND stan = $3 AND transmission = $4 \
             AND kind = $5 ORDER BY requested_at DESC",
        )
        .bind(acquirer)
        .bind(terminal)
        .bind(i64::from(stan))
        .bind(transmission)
        .bind(LogKind::Authorization.as_str())
        .fetch_optional(self.db.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let currency: String = r.try_get(3)?;
        Ok(Some(Original {
            rrn: r.try_get(0)?,
            issuer: r.try_get(1)?,
            amount: r.try_get(2)?,
            currency: Currency::from_code(&currency).ok(),
            status: parse_column(&r, 4)?,
            hold_mti: hold_mti(&rrn_of(&r)?, r.try_get(5)?),
            token_ref: r.try_get(6)?,
        }))
    }

    /// Approved, un-reversed authorizations of `day`.
    pub(crate) async fn approved(&self, day: &str) -> Result<Vec<ClearingItem>, StoreError> {
        self.flush().await;
        let rows = sqlx::query(
            "SELECT rrn, issuer, acquirer, terminal, amount, currency, hold_mti, stan, transmission, \
             captured_at FROM switch_messages WHERE day = $1 AND kind = $2 \
             AND status = $3 ORDER BY rrn",
        )
        .bind(day)
        .bind(LogKind::Authorization.as_str())
        .bind(LogStatus::Approved.as_str())
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let currency: String = r.try_get(5)?;
            let Ok(currency) = Currency::from_code(&currency) else {
                tracing::error!("message log row with an unknown currency skipped by clearing");
                continue;
            };
            out.push(ClearingItem {
                rrn: r.try_get(0)?,
                issuer: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                acquirer: r.try_get(2)?,
                terminal: r.try_get(3)?,
                amount: r.try_get(4)?,
                currency,
                // A row from before `hold_mti` was written holds under
                // its authorization request.
                hold_mti: hold_mti(&rrn_of(&r)?, r.try_get(6)?)
                    .unwrap_or(Mti::AUTHORIZATION_REQUEST),
                stan: u32::try_from(r.try_get::<i64, _>(7)?).unwrap_or(0),
                transmission: r.try_get(8)?,
                captured: r.try_get::<Option<i64>, _>(9)?.is_some(),
            });
        }
        Ok(out)
    }
}

fn rrn_of(r: &sqlx::any::AnyRow) -> Result<String, StoreError> {
    Ok(r.try_get(0)?)
}

/// The MTI a logged authorization holds under; a stored value that is not
/// an MTI is logged and read as nothing held, never as some default.
fn hold_mti(rrn: &str, stored: Option<String>) -> Option<Mti> {
    let stored = stored?;
    match Mti::from_str(&stored) {
        Ok(m) => Some(m),
        Err(_) => {
            tracing::error!(%rrn, hold_mti = %stored, "message log row with an unreadable hold MTI");
            None
        }
    }
}

/// An authorization found for a reversal.
#[derive(Debug, Clone)]
pub(crate) struct Original {
    pub rrn: String,
    pub issuer: Option<String>,
    pub amount: i64,
    pub currency: Option<Currency>,
    pub status: LogStatus,
    pub hold_mti: Option<Mti>,
    pub token_ref: Option<String>,
}

/// An approved authorization as clearing sees it.
#[derive(Debug, Clone)]
pub(crate) struct ClearingItem {
    pub rrn: String,
    pub issuer: String,
    pub acquirer: String,
    pub terminal: String,
    pub amount: i64,
    pub currency: Currency,
    pub hold_mti: Mti,
    pub stan: u32,
    pub transmission: String,
    pub captured: bool,
}

/// A row of the message log as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedMessage {
    pub rrn: String,
    pub kind: LogKind,
    pub masked_pan: String,
    pub token_ref: Option<String>,
    pub issuer: Option<String>,
    pub acquirer: String,
    pub terminal: String,
    pub amount: i64,
    pub currency: String,
    pub response_code: String,
    pub stand_in: bool,
    pub status: LogStatus,
    pub original_rrn: Option<String>,
    pub captured: bool,
}

/// Who a settlement position belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "role", content = "id", rename_all = "lowercase")]
pub enum Party {
    Issuer(String),
    Acquirer(String),
}

/// One net settlement position: positive = the party receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub party: Party,
    pub currency: Currency,
    pub net_minor: i64,
    pub transactions: u64,
}

/// The result of clearing one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingReport {
    pub day: String,
    pub positions: Vec<Position>,
    /// Sum of all positions per currency (zero by construction; checked).
    pub totals: BTreeMap<Currency, i64>,
    /// Authorizations cleared.
    pub authorizations: u64,
    /// Holds captured at the issuers by this run.
    pub captured: u64,
    /// Holds whose capture is still outstanding (retried by the next run).
    pub capture_pending: u64,
}

impl ClearingReport {
    /// Do the positions sum to zero in every currency?
    pub fn balanced(&self) -> bool {
        self.totals.values().all(|v| *v == 0)
    }
}

/// Net `items` into per-party positions.
pub(crate) fn net_positions(items: &[ClearingItem]) -> (Vec<Position>, BTreeMap<Currency, i64>) {
    let mut map: BTreeMap<(Party, Currency), (i64, u64)> = BTreeMap::new();
    for it in items {
        let e = map
            .entry((Party::Issuer(it.issuer.clone()), it.currency))
            .or_default();
        e.0 -= it.amount;
        e.1 += 1;
        let e = map
            .entry((Party::Acquirer(it.acquirer.clone()), it.currency))
            .or_default();
        e.0 += it.amount;
        e.1 += 1;
    }
    let mut totals = BTreeMap::new();
    let positions = map
        .into_iter()
        .map(|((party, currency), (net, n))| {
            *totals.entry(currency).or_insert(0i64) += net;
            Position {
                party,
                currency,
                net_minor: net,
                transactions: n,
            }
        })
        .collect();
    (positions, totals)
}

/// Most operations one log transaction takes.
const MAX_BATCH: usize = 4096;
/// How long the writer keeps collecting after the first operation of a
/// batch arrives, unless someone waits (a flush, a durable row, a reversal
/// to be stored for forwarding). Rows written behind the answer (declines)
/// then share a transaction, and one large transaction costs far less per
/// row than many small ones (measured on SQLite: about 17 µs of CPU per row
/// in batches of 4,096 against 38 µs in batches of 64), as each commit
/// rewrites every index page it touched. Rows someone waits for are group
/// committed without a wait: what arrives while one transaction commits
/// goes in the next. On a SQLite file the log's pieces join the writer
/// thread's rounds instead (see [`writer`]), so they pay no commit of their
/// own and there is nothing to collect for.
const LINGER: std::time::Duration = std::time::Duration::from_millis(25);

async fn writer(db: Db, rx: mpsc::Receiver<Queued>) {
    if db.direct().is_some() {
        pipelined(db, rx).await;
    } else {
        batched(db, rx).await;
    }
}

/// PostgreSQL: one transaction per collected batch.
async fn batched(db: Db, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Someone waits for a flush or a durable row, or a reversal waits
        // to be stored for forwarding: write now. Otherwise collect a while
        // longer.
        let urgent = |queued: &[Queued]| {
            queued
                .iter()
                .any(|q| q.durable.is_some() || matches!(q.op, Op::Flush(_) | Op::Forward { .. }))
        };
        let until = tokio::time::Instant::now() + LINGER;
        let mut seen = 0;
        while batch.len() < MAX_BATCH && !urgent(batch.get(seen..).unwrap_or_default()) {
            seen = batch.len();
            let room = MAX_BATCH - batch.len();
            match tokio::time::timeout_at(until, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                // The time is up, or the log is closing: write what there is.
                _ => break,
            }
        }
        let mut piece = Piece::default();
        for q in batch.drain(..) {
            piece.add(q);
        }
        let written = match piece.ops.is_empty() {
            true => Ok(()),
            false => write_with_retries(&db, Arc::new(piece.ops)).await,
        };
        piece.told.tell(&written);
    }
}

/// Most log pieces sent to the SQLite writer thread and not yet durable.
const MAX_IN_FLIGHT: usize = 64;

/// SQLite: the writer thread is shared with the authorization path's group
/// commits, and each piece joins one of their rounds (one commit for
/// both). A batch of a few hundred rows there would hold every commit of
/// its round for milliseconds, so the log goes in pieces of at most
/// [`DIRECT_PIECE`] operations, each sent as soon as it is formed: a row
/// someone waits for joins the next round, not the one after the previous
/// piece's sync. The thread runs the pieces in the order sent; whoever
/// waits is told in that order too.
async fn pipelined(db: Db, mut rx: mpsc::Receiver<Queued>) {
    use futures::StreamExt;
    let mut in_flight = futures::stream::FuturesOrdered::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut open = true;
    while open || !in_flight.is_empty() {
        tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH), if open && in_flight.len() < MAX_IN_FLIGHT => {
                open = n > 0;
                let mut piece = Piece::default();
                for q in batch.drain(..) {
                    if piece.ops.len() == DIRECT_PIECE {
                        in_flight.push_back(std::mem::take(&mut piece).send(&db));
                    }
                    piece.add(q);
                }
                if !piece.ops.is_empty() || !piece.told.is_empty() {
                    in_flight.push_back(piece.send(&db));
                }
            }
            Some((written, told)) = in_flight.next() => told.tell(&written),
        }
    }
}

/// Operations written together, and who is told when they are.
#[derive(Default)]
struct Piece {
    ops: Vec<Op>,
    told: Told,
}

/// Who waits for a piece: durable rows' waiters and flushes.
#[derive(Default)]
struct Told {
    durable: Vec<oneshot::Sender<Written>>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Told {
    fn is_empty(&self) -> bool {
        self.durable.is_empty() && self.flushes.is_empty()
    }

    fn tell(self, written: &Written) {
        // A send fails only when its waiter stopped waiting (its caller
        // was dropped); the write stands, there is nobody left to tell.
        for w in self.durable {
            w.send(written.clone()).ok();
        }
        for f in self.flushes {
            f.send(()).ok();
        }
    }
}

impl Piece {
    fn add(&mut self, Queued { op, durable }: Queued) {
        match op {
            Op::Flush(s) => self.told.flushes.push(s),
            other => {
                self.told.durable.extend(durable);
                self.ops.push(other);
            }
        }
    }

    /// Sends the piece to the SQLite writer thread now; the future ends
    /// once it is durable, or has failed (after retries).
    fn send(self, db: &Db) -> impl Future<Output = (Written, Told)> + use<> {
        let Piece { ops, told } = self;
        let ops = Arc::new(ops);
        let sent = match (ops.is_empty(), db.direct()) {
            (false, Some(direct)) => {
                let mine = Arc::clone(&ops);
                Some(direct.send_in_round(move |conn| write_batch_direct(conn, &mine)))
            }
            _ => None,
        };
        let db = db.clone();
        async move {
            let first = match sent {
                None => return (Ok(()), told),
                Some(Ok(round)) => round.await,
                Some(Err(e)) => Err(e),
            };
            let written = match first {
                Ok(()) => Ok(()),
                // Retried behind the pieces sent since: nothing the log
                // writes depends on the order of a failed piece (a row
                // someone waits for is durable before anyone can mark it;
                // a forward delivered before it is stored is sent again).
                Err(e) => {
                    tracing::warn!(error = %e, rows = ops.len(), "message log write failed, retrying");
                    write_with_retries(&db, ops).await
                }
            };
            (written, told)
        }
    }
}

/// Most log operations in one round of the SQLite direct writer.
const DIRECT_PIECE: usize = 64;

/// Writes `ops` in one transaction (on SQLite: inside one round of the
/// direct writer), retrying a failed write three times. Returns once the
/// operations are durable, or the last error.
async fn write_with_retries(db: &Db, ops: Arc<Vec<Op>>) -> Written {
    let mut attempt = 0;
    loop {
        let result = match db.direct() {
            // SQLite: on the file's direct writer thread, in line with the
            // other components' commits instead of competing with them for
            // the write lock.
            Some(direct) => {
                let mine = Arc::clone(&ops);
                match direct
                    .in_round(move |conn| write_batch_direct(conn, &mine))
                    .await
                {
                    Err(StoreError::WriterStopped) => {
                        tracing::error!(rows = ops.len(), "message log writer stopped, rows lost");
                        return Err(Arc::new(StoreError::WriterStopped));
                    }
                    r => r,
                }
            }
            None => write_batch(db, &ops).await,
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "message log write failed, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, rows = ops.len(), "message log write failed, rows lost");
                return Err(Arc::new(e));
            }
        }
    }
}

/// Marks an approved authorization reversed; the texts are
/// [`LogStatus::Reversed`] and [`LogStatus::Approved`] (checked by a test).
const SET_REVERSED: &str = "UPDATE switch_messages SET status = 'reversed', reversed_at = $1 \
     WHERE rrn = $2 AND status = 'approved'";
const SET_CAPTURED: &str = "UPDATE switch_messages SET captured_at = $1 WHERE rrn = $2";
const INSERT_FORWARD: &str = "INSERT INTO switch_forwards (id, issuer, mti, message, sealed, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";
const SET_FORWARDED: &str = "UPDATE switch_forwards SET delivered_at = $1 WHERE id = $2";

/// [`write_batch`] on the SQLite file's direct writer thread.
fn write_batch_direct(tx: &rusqlite::Connection, ops: &[Op]) -> Result<(), StoreError> {
    for op in ops {
        match op {
            Op::Insert(row) => insert_direct(tx, row)?,
            Op::Reversed { rrn, at } => {
                direct::execute(tx, SET_REVERSED, &[Arg::I64(*at), Arg::Text(rrn.clone())])?;
            }
            Op::Captured { rrn, at } => {
                direct::execute(tx, SET_CAPTURED, &[Arg::I64(*at), Arg::Text(rrn.clone())])?;
            }
            Op::Forward {
                id,
                issuer,
                mti,
                message,
                sealed,
                at,
            } => {
                tx.prepare_cached(INSERT_FORWARD)?
                    .execute(rusqlite::params![id, issuer, mti, message, sealed, at])?;
            }
            Op::Forwarded { id, at } => {
                direct::execute(tx, SET_FORWARDED, &[Arg::I64(*at), Arg::Text(id.clone())])?;
            }
            Op::Flush(_) => {}
        }
    }
    Ok(())
}

/// One row through [`INSERT_MESSAGES`]' one-row form, bound straight from
/// the row's fields: no copy of its strings.
fn insert_direct(tx: &rusqlite::Connection, r: &LogRow) -> Result<(), StoreError> {
    tx.prepare_cached(INSERT_MESSAGES.sqlite_row)?
        .execute(rusqlite::params_from_iter(row_values(r)))?;
    Ok(())
}

async fn write_batch(db: &Db, ops: &[Op]) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let backend = db.backend();
    let mut pending: Vec<&LogRow> = Vec::new();
    for op in ops {
        match op {
            Op::Insert(row) => pending.push(row),
            Op::Reversed { rrn, at } => {
                insert_rows(&mut tx, backend, &pending).await?;
                pending.clear();
                sqlx::query(SET_REVERSED)
                    .bind(*at)
                    .bind(rrn.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            Op::Captured { rrn, at } => {
                insert_rows(&mut tx, backend, &pending).await?;
                pending.clear();
                sqlx::query(SET_CAPTURED)
                    .bind(*at)
                    .bind(rrn.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            Op::Forward {
                id,
                issuer,
                mti,
                message,
                sealed,
                at,
            } => {
                insert_rows(&mut tx, backend, &pending).await?;
                pending.clear();
                sqlx::query(INSERT_FORWARD)
                    .bind(id.as_str())
                    .bind(issuer.as_str())
                    .bind(mti.as_str())
                    .bind(message.clone())
                    .bind(sealed.clone())
                    .bind(*at)
                    .execute(&mut *tx)
                    .await?;
            }
            Op::Forwarded { id, at } => {
                insert_rows(&mut tx, backend, &pending).await?;
                pending.clear();
                sqlx::query(SET_FORWARDED)
                    .bind(*at)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            Op::Flush(_) => {}
        }
    }
    insert_rows(&mut tx, backend, &pending).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_rows(
    tx: &mut paytap_store::Tx,
    backend: paytap_store::Backend,
    rows: &[&LogRow],
) -> Result<(), StoreError> {
    let values: Vec<Vec<Arg>> = rows
        .iter()
        .map(|r| row_values(r).into_iter().map(Value::to_arg).collect())
        .collect();
    INSERT_MESSAGES
        .execute(tx, backend, values.iter().map(Vec::as_slice))
        .await?;
    Ok(())
}

/// A row's values for [`INSERT_MESSAGES`], in column order, borrowed: the
/// direct writer binds them as they are, the bulk form copies them into
/// [`Arg`]s.
fn row_values(r: &LogRow) -> [Value<'_>; 23] {
    use Value::{I64, OptText, Text};
    [
        Text(&r.rrn),
        Text(&r.day),
        Text(r.kind.as_str()),
        Text(&r.request_mti),
        Text(&r.response_mti),
        Text(&r.acquirer),
        Text(&r.terminal),
        Text(&r.merchant),
        I64(i64::from(r.stan)),
        Text(&r.transmission),
        Text(&r.masked_pan),
        OptText(r.token_ref.as_deref()),
        OptText(r.issuer.as_deref()),
        I64(r.amount),
        Text(r.currency.code()),
        Text(&r.response_code),
        OptText(r.approval_code.as_deref()),
        I64(i64::from(r.stand_in)),
        OptText(r.hold_mti.as_deref()),
        OptText(r.original_rrn.as_deref()),
        Text(r.status.as_str()),
        I64(r.requested_at),
        I64(r.responded_at),
    ]
}

/// One column value of a log row.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    I64(i64),
}

impl Value<'_> {
    fn to_arg(self) -> Arg {
        match self {
            Value::Text(v) => Arg::Text(v.to_owned()),
            Value::OptText(v) => Arg::OptText(v.map(str::to_owned)),
            Value::I64(v) => Arg::I64(v),
        }
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{Null, ToSqlOutput};
        Ok(match *self {
            Value::Text(v) | Value::OptText(Some(v)) => ToSqlOutput::from(v),
            Value::OptText(None) => ToSqlOutput::from(Null),
            Value::I64(v) => ToSqlOutput::from(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> LogRow {
        LogRow {
            rrn: format!("{i:012}"),
            day: "2026-12-01".into(),
            kind: LogKind::Authorization,
            request_mti: "0100".into(),
            response_mti: "0110".into(),
            acquirer: "00000001".into(),
            terminal: "T0000001".into(),
            merchant: "M1".into(),
            stan: i as u32,
            transmission: "1201101010".into(),
            masked_pan: "621234******1234".into(),
            token_ref: None,
            issuer: Some("03080000".into()),
            amount: 100 + i as i64,
            currency: Currency::from_code("CNY").unwrap(),
            response_code: "00".into(),
            approval_code: Some("123456".into()),
            stand_in: false,
            hold_mti: Some("0100".into()),
            original_rrn: None,
            status: LogStatus::Approved,
            requested_at: 1,
            responded_at: 2,
        }
    }

    /// More operations than one write takes (SQLite writes them in pieces
    /// on the direct writer): all land, in order, so a mark for a row
    /// logged in an earlier piece still finds it.
    #[tokio::test]
    async fn a_long_batch_lands_whole_and_in_order() {
        let log = MessageLog::open(Db::for_tests().await.unwrap())
            .await
            .unwrap();
        let n = DIRECT_PIECE * 4 + 7;
        for i in 0..n {
            log.insert(row(i)).await;
            if i % 3 == 0 {
                // Reverse a row logged well before this one.
                log.send(Op::Reversed {
                    rrn: format!("{:012}", i / 2),
                    at: 3,
                })
                .await;
            }
        }
        log.flush().await;
        let rows = log.rows("2026-12-01").await.unwrap();
        assert_eq!(rows.len(), n);
        for (i, r) in rows.iter().enumerate() {
            let reversed = (0..n).step_by(3).any(|j| j / 2 == i);
            assert_eq!(
                r.status,
                if reversed {
                    LogStatus::Reversed
                } else {
                    LogStatus::Approved
                },
                "row {i}"
            );
        }
    }

    #[test]
    fn kinds_and_statuses_read_back_as_written() {
        for &k in LogKind::ALL {
            assert_eq!(k.as_str().parse::<LogKind>(), Ok(k));
        }
        for &st in LogStatus::ALL {
            assert_eq!(st.as_str().parse::<LogStatus>(), Ok(st));
        }
        let set = format!("SET status = '{}'", LogStatus::Reversed.as_str());
        let only = format!("AND status = '{}'", LogStatus::Approved.as_str());
        assert!(SET_REVERSED.contains(&set) && SET_REVERSED.contains(&only));
    }

    #[test]
    fn unknown_text_is_an_error_that_names_it() {
        let e = "captured".parse::<LogStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown LogStatus \"captured\"");
        assert!("Authorization".parse::<LogKind>().is_err());
    }

    /// A row whose status the switch does not know is read as an error
    /// naming the column, not as some default and not as a panic.
    #[tokio::test]
    async fn an_unknown_status_in_the_table_is_a_decode_error() {
        let log = MessageLog::open(Db::for_tests().await.unwrap())
            .await
            .unwrap();
        log.insert(row(1)).await;
        log.flush().await;
        sqlx::query("UPDATE switch_messages SET status = 'lost' WHERE rrn = $1")
            .bind(format!("{:012}", 1))
            .execute(log.db.pool())
            .await
            .unwrap();
        let e = log.rows("2026-12-01").await.unwrap_err();
        assert!(e.to_string().contains("\"lost\""), "{e}");
        assert!(e.to_string().contains("status"), "{e}");
    }

    /// A full queue makes the sender wait for room, not the queue grow.
    #[tokio::test]
    async fn a_full_queue_makes_the_sender_wait() {
        let db = Db::for_tests().await.unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let log = MessageLog { db, tx };
        log.mark_captured("A", 1).await;
        let mut second = std::pin::pin!(log.mark_captured("B", 2));
        assert!(futures::poll!(&mut second).is_pending());
        let taken = |q: Option<Queued>| match q.map(|q| q.op) {
            Some(Op::Captured { rrn, .. }) => rrn,
            _ => panic!("not a capture mark"),
        };
        assert_eq!(taken(rx.recv().await), "A");
        second.await;
        assert_eq!(taken(rx.recv().await), "B");
    }
}
