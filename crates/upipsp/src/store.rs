//! The PSP's tables: bindings, UPI IDs and payments.

use crate::error::PspError;
use crate::model::{Binding, Payment, UpiId};
use crate::sealed::{BindingCipher, Column};
use paytap_store::Db;

/// A binding as the PSP uses it, opened: what it needs to pay from it.
#[derive(Clone)]
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

impl std::fmt::Debug for BindingRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingRow")
            .field("binding_id", &self.binding_id)
            .field("device_id", &self.device_id)
            .field("bank_id", &self.bank_id)
            .field("ifsc", &self.ifsc)
            .field("bound_at", &self.bound_at)
            .finish_non_exhaustive()
    }
}

/// A row of `upipsp_bindings` as stored: mobile, account number and holder
/// sealed.
type BindingTuple = (String, String, String, String, String, String, String, i64);

const BINDING_COLUMNS: &str =
    "binding_id, device_id, mobile, bank_id, ifsc, account_number, holder, bound_at";

fn binding(c: &BindingCipher, t: BindingTuple) -> Result<BindingRow, PspError> {
    let (binding_id, device_id, mobile, bank_id, ifsc, account_number, holder, bound_at) = t;
    Ok(BindingRow {
        mobile: c.open(&binding_id, Column::Mobile, &mobile)?,
        account_number: c.open(&binding_id, Column::AccountNumber, &account_number)?,
        holder: c.open(&binding_id, Column::Holder, &holder)?,
        binding_id,
        device_id,
        bank_id,
        ifsc,
        bound_at,
    })
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

/// Seals the bindings written before they were sealed (migration 2 left
/// their fingerprints empty), each in its own statement: a row is either
/// still clear with no fingerprint, or sealed with both.
pub(crate) async fn seal_clear_bindings(db: &Db, c: &BindingCipher) -> Result<(), PspError> {
    let clear: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT binding_id, mobile, ifsc, account_number, holder FROM upipsp_bindings \
         WHERE mobile_fp IS NULL",
    )
    .fetch_all(db.pool())
    .await?;
    for (id, mobile, ifsc, number, holder) in &clear {
        sqlx::query(
            "UPDATE upipsp_bindings SET mobile = $1, account_number = $2, holder = $3, \
             mobile_fp = $4, account_fp = $5 WHERE binding_id = $6 AND mobile_fp IS NULL",
        )
        .bind(c.seal(id, Column::Mobile, mobile)?)
        .bind(c.seal(id, Column::AccountNumber, number)?)
        .bind(c.seal(id, Column::Holder, holder)?)
        .bind(c.mobile_fp(mobile))
        .bind(c.account_fp(ifsc, number))
        .bind(id)
        .execute(db.pool())
        .await?;
    }
    if !clear.is_empty() {
        tracing::info!(bindings = clear.len(), "UPI bindings sealed");
    }
    Ok(())
}

/// Binds (or binds again, as new: same id, new device key, mobile number,
/// holder and time) `row` for `owner` with `device_key`. The values are
/// sealed for the row's id, so an existing binding is updated under its
/// own id rather than upserted under a new one.
pub(crate) async fn upsert_binding(
    db: &Db,
    c: &BindingCipher,
    owner: &str,
    device_key: &str,
    row: &BindingRow,
) -> Result<BindingRow, PspError> {
    let account_fp = c.account_fp(&row.ifsc, &row.account_number);
    let existing = "SELECT binding_id FROM upipsp_bindings \
         WHERE owner = $1 AND device_id = $2 AND ifsc = $3 AND account_fp = $4";
    // Twice at most: a concurrent bind of the same account that wins the
    // insert is then found and updated.
    for _ in 0..2 {
        let found: Option<(String,)> = sqlx::query_as(existing)
            .bind(owner)
            .bind(&row.device_id)
            .bind(&row.ifsc)
            .bind(&account_fp)
            .fetch_optional(db.pool())
            .await?;
        let written = match found {
            Some((id,)) => {
                sqlx::query(
                    "UPDATE upipsp_bindings SET device_key = $1, mobile = $2, mobile_fp = $3, \
                     holder = $4, bound_at = $5 WHERE binding_id = $6",
                )
                .bind(device_key)
                .bind(c.seal(&id, Column::Mobile, &row.mobile)?)
                .bind(c.mobile_fp(&row.mobile))
                .bind(c.seal(&id, Column::Holder, &row.holder)?)
                .bind(row.bound_at)
                .bind(&id)
                .execute(db.pool())
                .await?;
                Some(id)
            }
            None => {
                let id = &row.binding_id;
                let done = sqlx::query(
                    "INSERT INTO upipsp_bindings (binding_id, owner, device_id, device_key, \
                     mobile, mobile_fp, bank_id, ifsc, account_number, account_fp, holder, \
                     bound_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (owner, device_id, ifsc, account_fp) DO NOTHING",
                )
                .bind(id)
                .bind(owner)
                .bind(&row.device_id)
                .bind(device_key)
                .bind(c.seal(id, Column::Mobile, &row.mobile)?)
                .bind(c.mobile_fp(&row.mobile))
                .bind(&row.bank_id)
                .bind(&row.ifsc)
                .bind(c.seal(id, Column::AccountNumber, &row.account_number)?)
                .bind(&account_fp)
                .bind(c.seal(id, Column::Holder, &row.holder)?)
                .bind(row.bound_at)
                .execute(db.pool())
                .await?;
                (done.rows_affected() == 1).then(|| id.clone())
            }
        };
        if let Some(id) = written {
            return binding_of(db, c, owner, &id)
                .await?
                .ok_or_else(|| PspError::Corrupt(format!("binding {id} vanished")));
        }
    }
    Err(PspError::Corrupt(
        "a binding neither inserted nor found".into(),
    ))
}

/// `owner`'s binding `id`.
pub(crate) async fn binding_of(
    db: &Db,
    c: &BindingCipher,
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
    t.map(|t| binding(c, t)).transpose()
}

/// `owner`'s bindings, oldest first.
pub(crate) async fn bindings(
    db: &Db,
    c: &BindingCipher,
    owner: &str,
) -> Result<Vec<BindingRow>, PspError> {
    let sql = format!(
        "SELECT {BINDING_COLUMNS} FROM upipsp_bindings WHERE owner = $1 \
         ORDER BY bound_at, binding_id"
    );
    let rows: Vec<BindingTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(|t| binding(c, t)).collect()
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
    c: &BindingCipher,
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
        Some((id,)) => binding_of(db, c, owner, &id).await,
        None => Ok(None),
    }
}

/// The first UPI ID made on a binding of `mobile` (found by its
/// fingerprint): how a mobile number is paid.
pub(crate) async fn id_of_mobile(
    db: &Db,
    c: &BindingCipher,
    mobile: &str,
) -> Result<Option<String>, PspError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT i.vpa FROM upipsp_ids i JOIN upipsp_bindings b ON b.binding_id = i.binding_id \
         WHERE b.mobile_fp = $1 ORDER BY i.created_at, i.vpa LIMIT 1",
    )
    .bind(c.mobile_fp(mobile))
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
    Option<i64>,
);

const PAYMENT_COLUMNS: &str = "txn_id, kind, payer_vpa, payee_vpa, payee_name, mcc, \
     amount_paise, note, reference, status, error_code, rrn, created_at, updated_at, \
     earned_paise";

/// A payment as stored; what it earns is shown once it succeeded.
fn payment(t: PaymentTuple) -> Payment {
    let (txn_id, kind, payer_vpa, payee_vpa, payee_name, mcc, amount, note, reference) =
        (t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7, t.8);
    let earned_paise =
        t.14.filter(|_| t.9 == "success")
            .and_then(|e| u64::try_from(e).ok());
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
        earned_paise,
    }
}

/// Records `p` for `owner`, paid on `channel` (`upi` or `bills`), unless
/// its transaction id is known; `false` then. `guarded`: a guard decided
/// on it and must hear how it ends.
pub(crate) async fn insert_payment(
    db: &Db,
    owner: &str,
    p: &Payment,
    channel: &str,
    guarded: bool,
) -> Result<bool, PspError> {
    let amount = i64::try_from(p.amount_paise)
        .map_err(|_| PspError::invalid("amount_paise", "too large"))?;
    let earned = p.earned_paise.and_then(|e| i64::try_from(e).ok());
    let done = sqlx::query(
        "INSERT INTO upipsp_payments (txn_id, owner, kind, payer_vpa, payee_vpa, payee_name, mcc, \
         amount_paise, note, reference, status, error_code, rrn, created_at, updated_at, \
         channel, earned_paise, guard_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18) \
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
    .bind(channel)
    .bind(earned)
    .bind(guarded.then_some(GUARD_OPEN))
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
    row.as_ref().map(owned_payment).transpose()
}

/// A row of `owner, PAYMENT_COLUMNS`.
fn owned_payment(r: &sqlx::any::AnyRow) -> Result<(String, Payment), PspError> {
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
        r.try_get(15)?,
    );
    Ok((owner, payment(t)))
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

/// Whether `owner` has paid on `channel` before (a payment other than
/// `txn_id` that succeeded or may still: pending, deemed). A payment
/// recorded before the channel was (migration 3) counts on every channel,
/// so a first-payment offer is never granted twice.
pub(crate) async fn paid_on_channel_before(
    db: &Db,
    owner: &str,
    channel: &str,
    txn_id: &str,
) -> Result<bool, PspError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM upipsp_payments WHERE owner = $1 AND txn_id <> $2 \
         AND (channel = $3 OR channel IS NULL) \
         AND status IN ('success', 'pending', 'deemed') LIMIT 1",
    )
    .bind(owner)
    .bind(txn_id)
    .bind(channel)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// `guard_state` of a payment a guard decided on, until it hears the end.
const GUARD_OPEN: &str = "open";

/// Whether a guard decided on payment `txn_id` and has not yet been told
/// how it ended.
pub(crate) async fn guard_open(db: &Db, txn_id: &str) -> Result<bool, PspError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM upipsp_payments WHERE txn_id = $1 AND guard_state = $2")
            .bind(txn_id)
            .bind(GUARD_OPEN)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.is_some())
}

/// The guard has been told how payment `txn_id` ended.
pub(crate) async fn guard_told(db: &Db, txn_id: &str) -> Result<(), PspError> {
    sqlx::query(
        "UPDATE upipsp_payments SET guard_state = 'told' WHERE txn_id = $1 AND guard_state = $2",
    )
    .bind(txn_id)
    .bind(GUARD_OPEN)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// At most `limit` payments that ended (success, failed) with their guard
/// not yet told, and their owners: a crash came between the two.
pub(crate) async fn guard_untold(db: &Db, limit: i64) -> Result<Vec<(String, Payment)>, PspError> {
    let sql = format!(
        "SELECT owner, {PAYMENT_COLUMNS} FROM upipsp_payments \
         WHERE guard_state = $1 AND status IN ('success', 'failed') \
         ORDER BY created_at, txn_id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(GUARD_OPEN)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(owned_payment).collect()
}
