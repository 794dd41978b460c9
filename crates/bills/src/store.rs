//! The service's rows and the SQL that reads and writes them (the portable
//! subset of `paytap-store`: the same text on SQLite and PostgreSQL).

use crate::BillsError;
use paytap_bbps::PayState;
use paytap_store::Db;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Most receipts one listing answers: the newest.
pub const MAX_LISTED: i64 = 100;

/// A stored bill as fetched.
#[derive(Debug, Clone)]
pub(crate) struct FetchRow {
    pub fetch_id: String,
    pub account_id: String,
    pub biller_id: String,
    pub bill_number: String,
    pub amount: i64,
    pub bill_date: String,
    pub due_date: String,
    pub sealed: String,
    pub paid_by: Option<String>,
}

/// A stored payment, its sealed details still sealed.
#[derive(Debug, Clone)]
pub(crate) struct PaymentRow {
    pub payment_id: String,
    pub account_id: String,
    pub fingerprint: String,
    pub kind: String,
    pub payee_id: String,
    pub fetch_id: Option<String>,
    pub amount: i64,
    pub method: String,
    pub sealed: String,
    pub state: PayState,
    pub rail_ref: Option<String>,
    pub decline_code: Option<String>,
    pub biller_ref: Option<String>,
    pub refund_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a step adds to a payment's row beside its state.
#[derive(Debug, Default)]
pub(crate) struct StepFacts {
    pub rail_ref: Option<String>,
    pub decline_code: Option<String>,
    pub biller_ref: Option<String>,
    pub refund_reason: Option<String>,
}

/// `SELECT` of a fetched bill's columns, in [`fetch_row`]'s order, then `$tail`.
macro_rules! select_fetched {
    ($tail:literal) => {
        concat!(
            "SELECT fetch_id, account_id, biller_id, bill_number, amount, bill_date, due_date, \
             sealed, paid_by FROM bills_fetched ",
            $tail
        )
    };
}

/// `SELECT` of a payment's columns, in [`payment_row`]'s order, then `$tail`.
macro_rules! select_payments {
    ($tail:literal) => {
        concat!(
            "SELECT payment_id, account_id, fingerprint, kind, payee_id, fetch_id, amount, \
             method, sealed, state, rail_ref, decline_code, biller_ref, refund_reason, \
             created_at, updated_at FROM bills_payments ",
            $tail
        )
    };
}

fn fetch_row(r: &AnyRow) -> Result<FetchRow, sqlx::Error> {
    Ok(FetchRow {
        fetch_id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        biller_id: r.try_get(2)?,
        bill_number: r.try_get(3)?,
        amount: r.try_get(4)?,
        bill_date: r.try_get(5)?,
        due_date: r.try_get(6)?,
        sealed: r.try_get(7)?,
        paid_by: r.try_get(8)?,
    })
}

fn payment_row(r: &AnyRow) -> Result<PaymentRow, BillsError> {
    let state: String = r.try_get(9)?;
    let state = state
        .parse()
        .map_err(|_| BillsError::Corrupt(format!("bill payment state {state:?}")))?;
    Ok(PaymentRow {
        payment_id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        kind: r.try_get(3)?,
        payee_id: r.try_get(4)?,
        fetch_id: r.try_get(5)?,
        amount: r.try_get(6)?,
        method: r.try_get(7)?,
        sealed: r.try_get(8)?,
        state,
        rail_ref: r.try_get(10)?,
        decline_code: r.try_get(11)?,
        biller_ref: r.try_get(12)?,
        refund_reason: r.try_get(13)?,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

/// Stores a fetched bill, or finds the same bill fetched before (by
/// account, biller and bill number); the stored row either way.
pub(crate) async fn put_fetch(db: &Db, f: &FetchRow, now: i64) -> Result<FetchRow, BillsError> {
    sqlx::query(
        "INSERT INTO bills_fetched (fetch_id, account_id, biller_id, bill_number, amount, \
         bill_date, due_date, sealed, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (account_id, biller_id, bill_number) DO NOTHING",
    )
    .bind(&f.fetch_id)
    .bind(&f.account_id)
    .bind(&f.biller_id)
    .bind(&f.bill_number)
    .bind(f.amount)
    .bind(&f.bill_date)
    .bind(&f.due_date)
    .bind(&f.sealed)
    .bind(now)
    .execute(db.pool())
    .await?;
    let sql = select_fetched!("WHERE account_id = $1 AND biller_id = $2 AND bill_number = $3");
    let row = sqlx::query(sql)
        .bind(&f.account_id)
        .bind(&f.biller_id)
        .bind(&f.bill_number)
        .fetch_one(db.pool())
        .await?;
    Ok(fetch_row(&row)?)
}

/// One fetched bill of `account`.
pub(crate) async fn fetch(
    db: &Db,
    account: &str,
    id: &str,
) -> Result<Option<FetchRow>, BillsError> {
    let sql = select_fetched!("WHERE fetch_id = $1 AND account_id = $2");
    let row = sqlx::query(sql)
        .bind(id)
        .bind(account)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(fetch_row).transpose()?)
}

/// The fetched bills of `account` no payment has settled, soonest due first.
pub(crate) async fn unpaid(db: &Db, account: &str) -> Result<Vec<FetchRow>, BillsError> {
    let sql = select_fetched!(
        "WHERE account_id = $1 AND paid_by IS NULL ORDER BY due_date, biller_id LIMIT $2"
    );
    let rows = sqlx::query(sql)
        .bind(account)
        .bind(MAX_LISTED)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(fetch_row).collect::<Result<_, _>>()?)
}

/// How inserting a payment went.
pub(crate) enum Inserted {
    /// A new payment.
    New,
    /// The account already used this key: its payment.
    Existing(Box<PaymentRow>),
    /// The bill is being paid or was paid by another payment.
    BillTaken,
}

/// Inserts `p` under its account's key, claiming its bill (if any) in the
/// same transaction so no bill is paid by two payments at once.
pub(crate) async fn insert_payment(
    db: &Db,
    p: &PaymentRow,
    key: &str,
) -> Result<Inserted, BillsError> {
    if let Some(existing) = by_key(db, &p.account_id, key).await? {
        return Ok(Inserted::Existing(Box::new(existing)));
    }
    let mut tx = db.begin_write().await?;
    if let Some(fetch_id) = &p.fetch_id {
        let claimed = sqlx::query(
            "UPDATE bills_fetched SET paid_by = $1 \
             WHERE fetch_id = $2 AND account_id = $3 AND paid_by IS NULL",
        )
        .bind(&p.payment_id)
        .bind(fetch_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(match by_key(db, &p.account_id, key).await? {
                Some(existing) => Inserted::Existing(Box::new(existing)),
                None => Inserted::BillTaken,
            });
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO bills_payments (payment_id, account_id, request_key, fingerprint, kind, \
         payee_id, fetch_id, amount, method, sealed, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (account_id, request_key) DO NOTHING",
    )
    .bind(&p.payment_id)
    .bind(&p.account_id)
    .bind(key)
    .bind(&p.fingerprint)
    .bind(&p.kind)
    .bind(&p.payee_id)
    .bind(&p.fetch_id)
    .bind(p.amount)
    .bind(&p.method)
    .bind(&p.sealed)
    .bind(p.state.as_str())
    .bind(p.created_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        tx.commit().await?;
        return Ok(Inserted::New);
    }
    // The same key won a race with this request: its payment stands.
    tx.rollback().await?;
    let existing = by_key(db, &p.account_id, key)
        .await?
        .ok_or_else(|| BillsError::Corrupt("bill payment key vanished".into()))?;
    Ok(Inserted::Existing(Box::new(existing)))
}

async fn by_key(db: &Db, account: &str, key: &str) -> Result<Option<PaymentRow>, BillsError> {
    let sql = select_payments!("WHERE account_id = $1 AND request_key = $2");
    let row = sqlx::query(sql)
        .bind(account)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(payment_row).transpose()
}

/// One payment by id.
pub(crate) async fn payment(db: &Db, id: &str) -> Result<Option<PaymentRow>, BillsError> {
    let sql = select_payments!("WHERE payment_id = $1");
    let row = sqlx::query(sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(payment_row).transpose()
}

/// The newest payments of `account`.
pub(crate) async fn payments(db: &Db, account: &str) -> Result<Vec<PaymentRow>, BillsError> {
    let sql =
        select_payments!("WHERE account_id = $1 ORDER BY created_at DESC, payment_id LIMIT $2");
    let rows = sqlx::query(sql)
        .bind(account)
        .bind(MAX_LISTED)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(payment_row).collect()
}

/// The ids of every payment not final.
pub(crate) async fn open_ids(db: &Db) -> Result<Vec<String>, BillsError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT payment_id FROM bills_payments \
         WHERE state NOT IN ('confirmed', 'refunded', 'declined') ORDER BY created_at",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Moves payment `id` from `from` to `to` with what the step learnt, and
/// frees its bill for another payment when no money stays taken (declined,
/// refunded). `false` when the payment was no longer in `from`.
pub(crate) async fn advance(
    db: &Db,
    id: &str,
    from: PayState,
    to: PayState,
    facts: &StepFacts,
    now: i64,
) -> Result<bool, BillsError> {
    let mut tx = db.begin_write().await?;
    let moved = sqlx::query(
        "UPDATE bills_payments SET state = $1, updated_at = $2, \
         rail_ref = COALESCE($3, rail_ref), decline_code = COALESCE($4, decline_code), \
         biller_ref = COALESCE($5, biller_ref), refund_reason = COALESCE($6, refund_reason) \
         WHERE payment_id = $7 AND state = $8",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(&facts.rail_ref)
    .bind(&facts.decline_code)
    .bind(&facts.biller_ref)
    .bind(&facts.refund_reason)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if moved && matches!(to, PayState::Declined | PayState::Refunded) {
        sqlx::query("UPDATE bills_fetched SET paid_by = NULL WHERE paid_by = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(moved)
}
