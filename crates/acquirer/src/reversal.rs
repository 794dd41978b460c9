//! Reversing an approved scanned-code payment: the merchant gives the
//! money back (a transit operator refunding a top-up its card never took).
//!
//! [`QrPayments::reverse`] takes the payment exactly as it was sent (the
//! same [`ScanPayment`], which the stored fingerprint must match), rebuilds
//! its `0200` from the stored terminal, STAN and instant, and sends the
//! `0400` naming it (DE 90) through the switch; the issuer gives the
//! cardholder the money back. Then the merchant's settlement account pays
//! back the token's issuer (transfer `qr-reversal:<key>`). The reversal's
//! own STAN and instant are derived from the payment's, so a retry sends
//! the same message, which the switch and the issuer answer without
//! giving anything back twice; the transfer is idempotent by its id.

use crate::AcquirerError;
use crate::payments::{
    ENTRY_MODE_SCANNED, PaymentError, QrPayments, SELECT, ScanPayment, Stored, SwitchPort,
    build_financial, fingerprint, validate,
};
use paytap_iso8583::{Message, Mti, OriginalData, ResponseCode};
use paytap_ledger::Transfer;

/// Largest STAN (DE 11 is six digits).
const MAX_STAN: u32 = 999_999;
/// Fields of the payment the `0400` repeats: PAN, processing code,
/// amount, acquirer, terminal, merchant and currency.
const REPEATED_FIELDS: [u8; 7] = [2, 3, 4, 32, 41, 42, 49];

impl QrPayments {
    /// Reverses the approved payment `p` (module documentation). Answers
    /// the ledger transfer that paid the money back; a payment that was
    /// never approved has nothing to reverse and is refused.
    pub async fn reverse(
        &self,
        p: &ScanPayment,
        port: &dyn SwitchPort,
    ) -> Result<String, PaymentError> {
        validate(p)?;
        let code = self.read_code(p).await?;
        let stored = self.stored(p).await?;
        if stored.response_code.as_deref() != Some(ResponseCode::Approved.code()) {
            tracing::info!(key = %p.idempotency_key, "reversal of a payment that was not approved: refused");
            return Err(PaymentError::UnknownPayment(p.idempotency_key.clone()));
        }
        let original = build_financial(
            p,
            &code.merchant,
            code.amount,
            ENTRY_MODE_SCANNED,
            (&stored.terminal, stored.stan, stored.sent_at),
        )?;
        let reversal = reversal_of(&original, &stored)?;
        let answer = port
            .send(&code.merchant.acquirer, reversal)
            .await
            .map_err(PaymentError::NoAnswer)?;
        let rc = answer
            .response_code()
            .map_or_else(|| "--".to_owned(), |c| c.code().to_owned());
        if rc != ResponseCode::Approved.code() {
            tracing::warn!(key = %p.idempotency_key, code = %rc, "reversal refused by the network");
            return Err(PaymentError::ReversalRefused(rc));
        }
        let payer = port.payer_account(&p.token).ok_or_else(|| {
            AcquirerError::Corrupt("a reversed token whose issuer is unknown".into())
        })?;
        let id = format!("qr-reversal:{}", p.idempotency_key);
        let t = Transfer::single(&id, code.merchant.account.as_str(), payer, code.amount)
            .with_reference(format!("reversal, merchant {}", code.merchant.spec.id));
        self.merchants().ledger().transfer(t).await?;
        tracing::info!(key = %p.idempotency_key, merchant = %code.merchant.spec.id, "scanned-code payment reversed");
        Ok(id)
    }

    /// The stored payment under `p`'s key, which must be `p`.
    async fn stored(&self, p: &ScanPayment) -> Result<Stored, PaymentError> {
        let row = sqlx::query(SELECT)
            .bind(p.idempotency_key.as_str())
            .fetch_optional(self.merchants().db().pool())
            .await?
            .ok_or_else(|| PaymentError::UnknownPayment(p.idempotency_key.clone()))?;
        let stored = Stored::from_row(&row)?;
        if stored.fingerprint != fingerprint(p) {
            return Err(PaymentError::KeyReused(p.idempotency_key.clone()));
        }
        Ok(stored)
    }
}

/// The `0400` naming `original`, with a STAN and instant derived from the
/// payment's (sans-IO; the same every time).
fn reversal_of(original: &Message, stored: &Stored) -> Result<Message, PaymentError> {
    let bad = |e: paytap_iso8583::Error| PaymentError::Invalid(e.to_string());
    let mut r = Message::new(Mti::REVERSAL_REQUEST);
    for f in REPEATED_FIELDS {
        if let Some(v) = original.get(f) {
            r.set(f, v).map_err(bad)?;
        }
    }
    let now = time::OffsetDateTime::from_unix_timestamp(stored.sent_at)
        .map_err(|e| PaymentError::Invalid(e.to_string()))?;
    r.set_transmission_datetime_at(now).map_err(bad)?;
    r.set_stan(stored.stan % MAX_STAN + 1).map_err(bad)?;
    let od = OriginalData {
        mti: original.mti(),
        stan: stored.stan,
        transmission_datetime: original
            .transmission_datetime()
            .unwrap_or("0000000000")
            .to_owned(),
        acquirer_id: original.acquirer_id().unwrap_or("0").to_owned(),
        forwarding_id: "0".into(),
    };
    r.set_original_data(&od).map_err(bad)?;
    Ok(r)
}
