//! Show to pay: the shop's register scans the code a phone shows (an
//! EMVCo consumer-presented code, [`paytap_qr::presented::PhoneCode`]) and
//! the acquirer sends the authorization carrying the code's chip data.
//!
//! The register sends its merchant, the amount it rang up, the code's text
//! and an idempotency key it chose ([`PresentedPayment`]), signed as its
//! acquirer. [`QrPayments::pay_presented`]:
//!
//! 1. finds the merchant (the signing acquirer's), reads the code (token,
//!    expiry, track 2, chip data);
//! 2. for a key not seen before, checks the code's time (its unpredictable
//!    number, which the cryptogram covers) is within its lifetime
//!    ([`paytap_qr::presented::check_fresh`]) and claims the code in
//!    `acquirer_presented_codes` by its SHA-256: a code presented before
//!    under another key is [`PaymentError::CodeReused`], nothing sent;
//! 3. goes on as a scanned-code payment does ([`crate::payments`]): the
//!    key claimed with the request's fingerprint, a `0200` with DE 22
//!    [`ENTRY_MODE_PRESENTED`] through the switch, the merchant credited
//!    on approval (transfer `qr:<key>`). The token service verifies the
//!    ARQC (with its amount of zero and its time) and accepts each ATC
//!    once; a phone's token (domain `nfc_qr`) accepts the entry mode.
//!
//! A retry with the same key answers the stored outcome, even after the
//! code's minute: freshness is checked only when the key is new.

use paytap_qr::presented::{PhoneCode, check_fresh};
use paytap_types::Money;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::AcquirerError;
use crate::payments::{
    PaymentError, PaymentOutcome, QrPayments, ReadCode, ScanPayment, SwitchPort,
};

/// DE 22 of a shown code scanned by a register: `03` bar code / QR, `2`
/// no PIN entry (the owner verified on the phone).
pub const ENTRY_MODE_PRESENTED: &str = "032";

/// What the register sends for a code it scanned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PresentedPayment {
    /// Chosen by the register, as a scanned payment's key.
    pub idempotency_key: String,
    /// The merchant whose register it is.
    pub merchant: String,
    /// The amount rung up, in minor units of the merchant's currency.
    pub amount_minor: u64,
    /// The code's text (Base64 of the CPM's BER-TLV).
    pub code: String,
    /// The currency the register rang the amount up in (ISO 4217 code);
    /// when given, it must be the merchant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

fn digest(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

impl QrPayments {
    /// Takes one payment for a shown code, for the register of `acquirer`
    /// (module documentation); `now` is the acquirer's clock, Unix seconds.
    pub async fn pay_presented(
        &self,
        p: &PresentedPayment,
        acquirer: &str,
        now: i64,
        port: &dyn SwitchPort,
    ) -> Result<PaymentOutcome, PaymentError> {
        let merchant = match self.merchants().get(&p.merchant).await {
            Ok(m) if m.acquirer == acquirer => m,
            Ok(_) => return Err(PaymentError::NotYourMerchant(p.merchant.clone())),
            Err(AcquirerError::NotFound(id)) => return Err(PaymentError::UnknownMerchant(id)),
            Err(e) => return Err(e.into()),
        };
        if let Some(c) = &p.currency
            && c != merchant.spec.currency.code()
        {
            return Err(PaymentError::Invalid(format!(
                "the merchant is paid in {}, not {c}",
                merchant.spec.currency.code()
            )));
        }
        let code = PhoneCode::read(&p.code).map_err(|e| PaymentError::Code(e.to_string()))?;
        let scan = ScanPayment {
            idempotency_key: p.idempotency_key.clone(),
            code: p.code.trim().to_owned(),
            amount_minor: p.amount_minor,
            token: code.token.clone(),
            expiry: code.expiry_yymm.clone(),
            psn: code.psn,
            track2: code.track2.clone(),
            icc_data: hex::encode_upper(&code.icc_data),
        };
        crate::payments::validate(&scan)?;
        let minor = i64::try_from(p.amount_minor)
            .map_err(|_| PaymentError::Invalid("amount out of range".into()))?;
        if !self.known_key(&p.idempotency_key).await? {
            let made_at = code
                .made_at()
                .ok_or_else(|| PaymentError::Code("no time in the code".into()))?;
            check_fresh(made_at, now)?;
            self.claim_code(p).await?;
        }
        let read = ReadCode {
            amount: Money::new(minor, merchant.spec.currency),
            merchant,
            bill: None,
        };
        self.settle(&scan, read, ENTRY_MODE_PRESENTED, port).await
    }

    /// Whether a payment was taken under `key` already.
    async fn known_key(&self, key: &str) -> Result<bool, PaymentError> {
        let row = sqlx::query("SELECT 1 FROM acquirer_qr_payments WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(self.merchants().db().pool())
            .await?;
        Ok(row.is_some())
    }

    /// Claims the code for this key: a code already claimed by another key
    /// was presented before.
    async fn claim_code(&self, p: &PresentedPayment) -> Result<(), PaymentError> {
        let d = digest(&p.code);
        let pool = self.merchants().db().pool();
        sqlx::query(
            "INSERT INTO acquirer_presented_codes (code_digest, idempotency_key, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (code_digest) DO NOTHING",
        )
        .bind(d.as_str())
        .bind(p.idempotency_key.as_str())
        .bind(paytap_store::now_millis())
        .execute(pool)
        .await?;
        let row = sqlx::query(
            "SELECT idempotency_key FROM acquirer_presented_codes WHERE code_digest = $1",
        )
        .bind(d.as_str())
        .fetch_one(pool)
        .await?;
        let holder: String = row.try_get("idempotency_key")?;
        if holder != p.idempotency_key {
            tracing::info!(key = %p.idempotency_key, first = %holder, merchant = %p.merchant, "a shown code presented twice: refused");
            return Err(PaymentError::CodeReused);
        }
        Ok(())
    }
}
