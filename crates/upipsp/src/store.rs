//! The PSP's tables: bindings, UPI IDs and payments.

use crate::error::PspError;
use crate::model::{Binding, Payment, UpiId};
use paytap_store::Db;

/// A binding as stored, with what the PSP needs to pay from it.
#[derive(Debug, Clone)]
pub(crate) struct BindingRow {
    pub binding_id: String,
    pub device_id: String,
    pub mobile: String,
    pub bank_id: String,
    pub ifsc: String,
    pub account_number: String,
    pub holder: String,
    pub bound_at: i64,
}

type BindingTuple = (String, String, String, String, String, String, String, i64);

const BINDING_COLUMNS: &str =
    "binding_id, device_id, mobile, bank_id, ifsc, account_number, holder, bound_at";

fn binding(t: BindingTuple) -> BindingRow {
    let (binding_id, device_id, mobile, bank_id, ifsc, account_number, holder, bound_at) = t;
    BindingRow {
        binding_id,
        device_id,
        mobile,
        bank_id,
        ifsc,
        account_number,
        holder,
        bound_at,
    }
}

impl BindingRow {
    pub fn view(&self, cooling_off_ms: i64) -> Binding {
        let n = &self.account_number;
        let tail = &n[n.len().saturating_sub(4)..];
        Binding {
            binding_id: self.binding_id.clone(),
            device_id: self.device_id.clone(),
            bank_id: self.bank_id.clone(),
            ifsc: self.ifsc.clone(),
            account_masked: format!("{}{tail}", "X".repeat(n.len() - tail.len())),
            holder: self.holder.clone(),
            bound_at: self.bound_at,
            cooling_off_until: self.bound_at.saturating_add(cooling_off_ms),
        }
    }
}

/// Binds (or binds again, as new) `row` for `owner` with `device_key`.
pub(crate) async fn upsert_binding(
    db: &Db,
    owner: &str,
    device_key: &str,
    row: &BindingRow,
) -> Result<BindingRow, PspError> {
    sqlx::query(
        "INSERT INTO upipsp_bindings (binding_id, owner, device_id, device_key, mobile, bank_id, \
         ifsc, account_number, holder, bound_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (owner, device_id, ifsc, account_number) DO UPDATE SET \
         device_key = excluded.device_key, mobile = excluded.mobile, \
         holder = excluded.holder, bound_at = excluded.bound_at",
    )
    .bind(&row.binding_id)
    .bind(owner)
    .bind(&row.device_id)
    .bind(device_key)
    .bind(&row.mobile)
    .bind(&row.bank_id)
    .bind(&row.ifsc)
    .bind(&row.account_number)
    .bind(&row.holder)
    .bind(row.bound_at)
    .execute(db.pool())
    .await?;
    let sql = format!(
        "SELECT {BINDING_COLUMNS} FROM upipsp_bindings \
         WHERE owner = $1 AND device_id = $2 AND ifsc = $3 AND account_number = $4"
    );
    let t: BindingTuple = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(&row.device_id)
        .bind(&row.ifsc)
        .bind(&row.account_number)
        .fetch_one(db.pool())
        .await?;
    Ok(binding(t))
}

/// `owner`'s binding `id`.
pub(crate) async fn binding_of(
    db: &Db,
    owner: &str,
    id: &str,
) -> Result<Option<BindingRow>, PspError> {
    let sql = format!(
        "SELECT {BINDING_COLUMNS} FROM upipsp_bindings WHERE owner = $1 AND binding_id = $2"
    );
    let t: Option<BindingTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(t.map(binding))
}

/// `owner`'s bindings, oldest first.
pub(crate) async fn bindings(db: &Db, owner: &str) -> Result<Vec<BindingRow>, PspError> {
    let sql = format!(
        "SELECT {BINDING_COLUMNS} FROM upipsp_bindings WHERE owner = $1 \
         ORDER BY bound_at, binding_id"
    );
    let rows: Vec<BindingTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(binding).collect())
}

/// Records a new UPI ID; `false` when it is taken.
pub(crate) async fn insert_id(
    db: &Db,
    owner: &str,
    vpa: &str,
    binding_id: &str,
    now: i64,
) -> Result<bool, PspError> {
    let done = sqlx::query(
        "INSERT INTO upipsp_ids (vpa, owner, binding_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (vpa) DO NOTHING",
    )
    .bind(vpa)
    .bind(owner)
    .bind(binding_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `owner`'s UPI IDs, oldest first.
pub(crate) async fn ids(db: &Db, owner: &str) -> Result<Vec<UpiId>, PspError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT vpa, binding_id, created_at FROM upipsp_ids WHERE owner = $1 \
         ORDER BY created_at, vpa",
    )
    .bind(owner)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(vpa, binding_id, created_at)| UpiId {
            vpa,
            binding_id,
            created_at,
        })
        .collect())
}

/// The binding behind `owner`'s UPI ID `vpa`.
pub(crate) async fn binding_of_id(
    db: &Db,
    owner: &str,
    vpa: &str,
) -> Result<Option<BindingRow>, PspError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT binding_id FROM upipsp_ids WHERE owner = $1 AND vpa = $2")
            .bind(owner)
            .bind(vpa)
            .fetch_optional(db.pool())
            .await?;
    match row {
        Some((id,)) => binding_of(db, owner, &id).await,
        None => Ok(None),
    }
}

/// The first UPI ID made on a binding of `mobile`: how a mobile number is
/// paid.
pub(crate) async fn id_of_mobile(db: &Db, mobile: &str) -> Result<Option<String>, PspError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT i.vpa FROM upipsp_ids i JOIN upipsp_bindings b ON b.binding_id = i.binding_id \
         WHERE b.mobile = $1 ORDER BY i.created_at, i.vpa LIMIT 1",
    )
    .bind(mobile)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| r.0))
}

type PaymentTuple = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

const PAYMENT_COLUMNS: &str = "txn_id, kind, payer_vpa, payee_vpa, payee_name, mcc, \
     amount_paise, note, reference, status, error_code, rrn, created_at, updated_at";

fn payment(t: PaymentTuple) -> Payment {
    let (txn_id, kind, payer_vpa, payee_vpa, payee_name, mcc, amount, note, reference) =
        (t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8);
    Payment {
        txn_id,
        kind,
        payer_vpa,
        payee_vpa,
        payee_name,
        mcc,
        amount_paise: u64::try_from(amount).unwrap_or(0),
        currency: "INR",
        note,
        reference,
        status: t.9,
        error_code: t.10,
        rrn: t.11,
        created_at: t.12,
        updated_at: t.13,
    }
}

/// Records `p` for `owner` unless its transaction id is known; `false`
/// then.
pub(crate) async fn insert_payment(db: &Db, owner: &str, p: &Payment) -> Result<bool, PspError> {
    let amount = i64::try_from(p.amount_paise)
        .map_err(|_| PspError::invalid("amount_paise", "too large"))?;
    let done = sqlx::query(
        "INSERT INTO upipsp_payments (txn_id, owner, kind, payer_vpa, payee_vpa, payee_name, mcc, \
         amount_paise, note, reference, status, error_code, rrn, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (txn_id) DO NOTHING",
    )
    .bind(&p.txn_id)
    .bind(owner)
    .bind(&p.kind)
    .bind(&p.payer_vpa)
    .bind(&p.payee_vpa)
    .bind(&p.payee_name)
    .bind(&p.mcc)
    .bind(amount)
    .bind(&p.note)
    .bind(&p.reference)
    .bind(&p.status)
    .bind(&p.error_code)
    .bind(&p.rrn)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Payment `txn_id` and its owner.
pub(crate) async fn payment_by_id(
    db: &Db,
    txn_id: &str,
) -> Result<Option<(String, Payment)>, PspError> {
    let sql = format!("SELECT owner, {PAYMENT_COLUMNS} FROM upipsp_payments WHERE txn_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(txn_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(None) };
    use sqlx::Row;
    let owner: String = r.try_get(0)?;
    let t: PaymentTuple = (
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
        r.try_get(13)?,
        r.try_get(14)?,
    );
    Ok(Some((owner, payment(t))))
}

/// `owner`'s payments, newest first, at most `limit`.
pub(crate) async fn payments(db: &Db, owner: &str, limit: i64) -> Result<Vec<Payment>, PspError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM upipsp_payments WHERE owner = $1 \
         ORDER BY created_at DESC, txn_id LIMIT $2"
    );
    let rows: Vec<PaymentTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(payment).collect())
}

/// A payment's new status.
pub(crate) async fn set_status(
    db: &Db,
    txn_id: &str,
    status: &str,
    code: Option<&str>,
    rrn: Option<&str>,
    now: i64,
) -> Result<(), PspError> {
    sqlx::query(
        "UPDATE upipsp_payments SET status = $1, error_code = $2, \
         rrn = COALESCE($3, rrn), updated_at = $4 WHERE txn_id = $5",
    )
    .bind(status)
    .bind(code)
    .bind(rrn)
    .bind(now)
    .bind(txn_id)
    .execute(db.pool())
    .await?;
    Ok(())
}
