//! A register's batch of operations whose outcome it does not know: the
//! shown-code payments it sent without hearing an answer (or could not
//! send), kept in its local queue and uploaded later under a batch id it
//! chose.
//!
//! [`QrPayments::upload_batch`] claims the batch id with the SHA-256 of the
//! acquirer and the batch's operations (`acquirer_register_batches`): the
//! same id with other operations is [`PaymentError::BatchAltered`] and
//! nothing is taken. Each operation is then taken as
//! [`QrPayments::pay_presented`] takes it, by its own idempotency key: one
//! the acquirer already took answers its stored outcome (the money moved
//! once), a new one is checked and sent as any (a code past its minute is
//! refused as expired, and so not paid). A batch uploaded again answers
//! the same results and moves nothing again.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::payments::{PaymentError, PaymentOutcome, QrPayments, SwitchPort};
use crate::presented::PresentedPayment;

/// Most operations in one batch.
pub const MAX_BATCH_OPERATIONS: usize = 50;
/// Longest batch id.
pub const MAX_BATCH_ID_LEN: usize = 64;

/// What a register uploads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The operations, each under its own idempotency key.
    pub operations: Vec<PresentedPayment>,
}

/// What became of one operation of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchResult {
    /// The operation's key.
    pub idempotency_key: String,
    /// The network's answer, when the operation was taken.
    pub outcome: Option<PaymentOutcome>,
    /// Why it was refused (`code_reused`, `expired`, …), when it was.
    pub error: Option<String>,
    /// The refusal in words.
    pub message: Option<String>,
    /// The operation has a final answer (taken or refused); `false` when
    /// the network did not answer and it should be uploaded again.
    pub settled: bool,
}

/// The SHA-256 of the acquirer and a batch's serialized body.
pub(crate) fn batch_fingerprint(acquirer: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(acquirer.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

/// A batch id is 1 to [`MAX_BATCH_ID_LEN`] letters, digits, `-` or `_`.
pub(crate) fn check_batch_id(batch_id: &str) -> Result<(), PaymentError> {
    let id_ok = !batch_id.is_empty()
        && batch_id.len() <= MAX_BATCH_ID_LEN
        && batch_id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !id_ok {
        return Err(PaymentError::Invalid(format!(
            "a batch id is 1-{MAX_BATCH_ID_LEN} letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

fn check(batch_id: &str, b: &Batch) -> Result<(), PaymentError> {
    check_batch_id(batch_id)?;
    if b.operations.is_empty() || b.operations.len() > MAX_BATCH_OPERATIONS {
        return Err(PaymentError::Invalid(format!(
            "a batch holds 1-{MAX_BATCH_OPERATIONS} operations"
        )));
    }
    Ok(())
}

impl QrPayments {
    /// Takes a register's batch (module documentation), for the register
    /// of `acquirer` at `now` (Unix seconds).
    pub async fn upload_batch(
        &self,
        batch_id: &str,
        b: &Batch,
        acquirer: &str,
        now: i64,
        port: &dyn SwitchPort,
    ) -> Result<Vec<BatchResult>, PaymentError> {
        check(batch_id, b)?;
        self.claim_batch(batch_id, acquirer, b).await?;
        let mut results = Vec::with_capacity(b.operations.len());
        for op in &b.operations {
            let r = self.pay_presented(op, acquirer, now, port).await;
            results.push(result(op, r));
        }
        tracing::info!(
            batch_id,
            acquirer,
            operations = b.operations.len(),
            "register batch taken"
        );
        Ok(results)
    }

    async fn claim_batch(&self, id: &str, acquirer: &str, b: &Batch) -> Result<(), PaymentError> {
        let body = serde_json::to_vec(b).expect("a Batch always serializes");
        let fp = batch_fingerprint(acquirer, &body);
        claim(self.merchants().db(), id, acquirer, &fp, b.operations.len()).await
    }
}

/// Claims `id` for a batch of `operations` with fingerprint `fp` in
/// `acquirer_register_batches` (one namespace of batch ids for every kind
/// of register batch): the same id with another fingerprint is
/// [`PaymentError::BatchAltered`].
pub(crate) async fn claim(
    db: &paytap_store::Db,
    id: &str,
    acquirer: &str,
    fp: &str,
    operations: usize,
) -> Result<(), PaymentError> {
    let mut conn = db.pool().acquire().await?;
    claim_in(&mut conn, id, acquirer, fp, operations).await
}

/// [`claim`] on a connection, or inside a caller's transaction (whose
/// commit then makes the claim durable with what the batch settled).
pub(crate) async fn claim_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    acquirer: &str,
    fp: &str,
    operations: usize,
) -> Result<(), PaymentError> {
    sqlx::query(
        "INSERT INTO acquirer_register_batches (batch_id, fingerprint, operations, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING",
    )
    .bind(id)
    .bind(fp)
    .bind(i64::try_from(operations).unwrap_or(i64::MAX))
    .bind(paytap_store::now_millis())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT fingerprint FROM acquirer_register_batches WHERE batch_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let stored: String = row.try_get("fingerprint")?;
    if stored != fp {
        tracing::warn!(
            batch_id = id,
            acquirer,
            "a batch id uploaded again with other operations: refused"
        );
        return Err(PaymentError::BatchAltered(id.to_owned()));
    }
    Ok(())
}

fn result(op: &PresentedPayment, r: Result<PaymentOutcome, PaymentError>) -> BatchResult {
    let key = op.idempotency_key.clone();
    match r {
        Ok(o) => BatchResult {
            idempotency_key: key,
            outcome: Some(o),
            error: None,
            message: None,
            settled: true,
        },
        Err(e) => {
            let settled = !matches!(e, PaymentError::NoAnswer(_) | PaymentError::Acquirer(_));
            BatchResult {
                idempotency_key: key,
                outcome: None,
                error: Some(e.code().to_owned()),
                message: Some(e.to_string()),
                settled,
            }
        }
    }
}
