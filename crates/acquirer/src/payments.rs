//! Scan to pay: the payment a phone makes for a merchant-presented code it
//! scanned, taken by the acquirer and sent through the switch.
//!
//! The phone sends the code's text, the amount, its token and the chip
//! data its secure element made ([`ScanPayment`]) under an idempotency key
//! it chose. [`QrPayments::pay`]:
//!
//! 1. reads the code (CRC, paytap's merchant template), finds the merchant,
//!    and checks the amount: a dynamic code's amount must be paid exactly,
//!    a static code takes the amount the buyer typed;
//! 2. claims the key in `acquirer_qr_payments` with the request's SHA-256
//!    fingerprint, its own terminal id, STAN and transmission time; the
//!    same key with another request is [`PaymentError::KeyReused`];
//! 3. sends the ISO 8583 `0200` (DE 22 [`ENTRY_MODE_SCANNED`], DE 42 the
//!    merchant, DE 55 the chip data) through a [`SwitchPort`] as the
//!    merchant's acquirer, and stores the answer;
//! 4. on approval, credits the merchant's settlement account from the
//!    token's issuer's settlement account (transfer `qr:<key>`, idempotent).
//!
//! A retry with the same key answers the stored outcome (completing the
//! transfer if a crash came between); a retry of a request that has no
//! answer yet sends the same message again (same DE 7, 11 and 41), which
//! the switch answers as a duplicate, never as a second payment.

use std::future::Future;
use std::pin::Pin;

use paytap_iso8583::{Message, Mti, ResponseCode};
use paytap_ledger::{LedgerError, Transfer};
use paytap_qr::merchant::paytap_merchant_id;
use paytap_qr::mpm::{Mpm, PointOfInitiation};
use paytap_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{AcquirerError, Merchant, Merchants};

/// DE 22 of a scanned-code payment: `03` bar code / QR, `1` PIN capable.
pub const ENTRY_MODE_SCANNED: &str = "031";
/// Longest idempotency key (the ledger transfer id `qr:<key>` stays short).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 64;
/// Longest chip data (DE 55 is LLLVAR binary, at most 255 bytes here).
pub const MAX_ICC_DATA_BYTES: usize = 255;
/// Longest scanned code (EMVCo MPM payloads are at most 512 characters).
pub const MAX_CODE_LEN: usize = 512;

/// A boxed future, for the [`SwitchPort`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the acquirer reaches the card network: the switch's acquirer port,
/// and which ledger account pays for a token.
pub trait SwitchPort: Send + Sync {
    /// Signs `request` as `acquirer`, sends it and waits for its answer.
    fn send<'a>(
        &'a self,
        acquirer: &'a str,
        request: Message,
    ) -> BoxFuture<'a, Result<Message, String>>;
    /// The ledger account the money of an approved payment by `token`
    /// comes from (its issuer's settlement with the network), if the
    /// token's issuer is known.
    fn payer_account(&self, token: &str) -> Option<String>;
}

/// What the phone sends for a code it scanned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScanPayment {
    /// Chosen by the phone, 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] ASCII letters,
    /// digits, `-` or `_`.
    pub idempotency_key: String,
    /// The scanned code's text (EMVCo merchant-presented).
    pub code: String,
    /// The amount in minor units of the code's currency.
    pub amount_minor: u64,
    /// The token number (DE 2).
    pub token: String,
    /// The token's expiry, `YYMM` (DE 14).
    pub expiry: String,
    /// PAN sequence number (DE 23).
    #[serde(default)]
    pub psn: Option<u8>,
    /// Track 2 equivalent data (DE 35).
    pub track2: String,
    /// The chip data, hex (DE 55).
    pub icc_data: String,
}

/// What became of a scanned-code payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// The phone's key.
    pub idempotency_key: String,
    /// The merchant paid.
    pub merchant: String,
    /// Its name, as the code shows it.
    pub merchant_name: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// The dynamic code's bill reference.
    pub bill: Option<String>,
    /// The network's approval.
    pub approved: bool,
    /// ISO 8583 DE 39.
    pub response_code: String,
    /// The response code's meaning.
    pub meaning: String,
    /// The ledger transfer crediting the merchant, when approved.
    pub transfer: Option<String>,
}

/// Why a scanned-code payment was refused before or without an answer.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The request's fields are out of their limits.
    #[error("invalid payment: {0}")]
    Invalid(String),
    /// The code could not be read (CRC, format) or is not paytap's.
    #[error("unreadable code: {0}")]
    Code(String),
    /// The code names no merchant the acquirer knows.
    #[error("no merchant {0:?}")]
    UnknownMerchant(String),
    /// The amount differs from the dynamic code's.
    #[error("the code asks for {expected} minor units, not {got}")]
    WrongAmount {
        /// The code's amount.
        expected: u64,
        /// The request's amount.
        got: u64,
    },
    /// The key was used for another request.
    #[error("idempotency key {0:?} was used for another payment")]
    KeyReused(String),
    /// The switch did not answer; the phone may retry with the same key.
    #[error("no answer from the network: {0}; retry with the same idempotency key")]
    NoAnswer(String),
    /// The shown code was presented before, under another key.
    #[error("this code was presented before: show a new one")]
    CodeReused,
    /// The shown code's time is outside its lifetime.
    #[error(transparent)]
    Stale(#[from] paytap_qr::presented::Stale),
    /// The merchant belongs to another acquirer.
    #[error("merchant {0:?} is not this acquirer's")]
    NotYourMerchant(String),
    /// A batch id uploaded again with other operations.
    #[error("batch {0:?} was uploaded before with other operations")]
    BatchAltered(String),
    /// No payment was taken under this key.
    #[error("no payment under idempotency key {0:?}")]
    UnknownPayment(String),
    /// The network refused to reverse the payment (its response code).
    #[error("the network refused the reversal: response code {0}")]
    ReversalRefused(String),
    /// The merchant service or ledger failed.
    #[error(transparent)]
    Acquirer(#[from] AcquirerError),
}

impl PaymentError {
    /// The error's code in the acquirer API's answers.
    pub fn code(&self) -> &'static str {
        use PaymentError as E;
        match self {
            E::Invalid(_) => "invalid",
            E::Code(_) => "bad_code",
            E::UnknownMerchant(_) | E::NotYourMerchant(_) => "unknown_merchant",
            E::WrongAmount { .. } => "wrong_amount",
            E::KeyReused(_) => "key_reused",
            E::CodeReused => "code_reused",
            E::Stale(_) => "expired",
            E::BatchAltered(_) => "batch_altered",
            E::NoAnswer(_) => "no_answer",
            E::UnknownPayment(_) => "unknown_payment",
            E::ReversalRefused(_) => "reversal_refused",
            E::Acquirer(_) => "unavailable",
        }
    }
}

impl From<sqlx::Error> for PaymentError {
    fn from(e: sqlx::Error) -> Self {
        PaymentError::Acquirer(e.into())
    }
}

impl From<LedgerError> for PaymentError {
    fn from(e: LedgerError) -> Self {
        PaymentError::Acquirer(e.into())
    }
}

/// The code as the acquirer read it.
pub(crate) struct ReadCode {
    pub(crate) merchant: Merchant,
    pub(crate) amount: Money,
    pub(crate) bill: Option<String>,
}

/// An approved scanned-code payment, as [`QrPayments::approved`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The merchant paid.
    pub merchant: String,
    /// What was paid.
    pub amount: Money,
    /// The dynamic code's bill reference (EMVCo tag 62-01), if it had one.
    pub bill_reference: Option<String>,
}

/// The stored row of a payment.
pub(crate) struct Stored {
    pub(crate) fingerprint: String,
    pub(crate) terminal: String,
    pub(crate) stan: u32,
    pub(crate) sent_at: i64,
    pub(crate) response_code: Option<String>,
}

impl Stored {
    /// A row of [`SELECT`].
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Stored, PaymentError> {
        Ok(Stored {
            fingerprint: row.try_get("fingerprint")?,
            terminal: row.try_get("terminal")?,
            stan: u32::try_from(row.try_get::<i64, _>("stan")?)
                .map_err(|_| AcquirerError::Corrupt("stored STAN out of range".into()))?,
            sent_at: row.try_get("sent_at")?,
            response_code: row.try_get("response_code")?,
        })
    }
}

/// The scanned-code payments: owns `acquirer_qr_payments`.
#[derive(Clone)]
pub struct QrPayments {
    merchants: Merchants,
}

pub(crate) fn fingerprint(p: &ScanPayment) -> String {
    let body = serde_json::to_vec(p).expect("a ScanPayment always serializes");
    hex::encode(Sha256::digest(&body))
}

pub(crate) fn validate(p: &ScanPayment) -> Result<(), PaymentError> {
    let key_ok = !p.idempotency_key.is_empty()
        && p.idempotency_key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && p.idempotency_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !key_ok {
        return Err(PaymentError::Invalid(format!(
            "idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} letters, digits, '-' or '_'"
        )));
    }
    if p.amount_minor == 0 || p.amount_minor > paytap_iso8583::MAX_AMOUNT_MINOR {
        return Err(PaymentError::Invalid("amount out of range".into()));
    }
    let icc = hex::decode(&p.icc_data)
        .map_err(|_| PaymentError::Invalid("icc_data must be hex".into()))?;
    if icc.is_empty() || icc.len() > MAX_ICC_DATA_BYTES {
        return Err(PaymentError::Invalid("icc_data length out of range".into()));
    }
    Ok(())
}

/// DE 43's name and city: ASCII only, within 25 and 13 characters.
fn name_location(m: &Merchant) -> (String, String) {
    let ascii =
        |s: &str, max: usize| -> String { s.chars().filter(char::is_ascii).take(max).collect() };
    let name = ascii(&m.spec.name, 25);
    let name = if name.trim().is_empty() {
        m.spec.id.clone()
    } else {
        name
    };
    (name, ascii(&m.spec.city, 13))
}

/// Builds the `0200` of a QR payment (sans-IO): DE 22 `entry_mode`
/// ([`ENTRY_MODE_SCANNED`], or `crate::presented::ENTRY_MODE_PRESENTED`),
/// the terminal, STAN and instant given, so that a resend is the same
/// message.
pub fn build_financial(
    p: &ScanPayment,
    merchant: &Merchant,
    amount: Money,
    entry_mode: &str,
    (terminal, stan, sent_at): (&str, u32, i64),
) -> Result<Message, PaymentError> {
    let bad = |e: paytap_iso8583::Error| PaymentError::Invalid(e.to_string());
    let now = time::OffsetDateTime::from_unix_timestamp(sent_at)
        .map_err(|e| PaymentError::Invalid(e.to_string()))?;
    let exp = p.expiry.as_bytes();
    let two =
        |i: usize| -> Option<u8> { std::str::from_utf8(exp.get(i..i + 2)?).ok()?.parse().ok() };
    let (Some(yy), Some(mm), 4) = (two(0), two(2), exp.len()) else {
        return Err(PaymentError::Invalid("expiry must be YYMM".into()));
    };
    let minor = u64::try_from(amount.minor).map_err(|_| PaymentError::Invalid("amount".into()))?;
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, p.token.as_str()).map_err(bad)?;
    m.set_processing_code("000000").map_err(bad)?;
    m.set_amount(minor).map_err(bad)?;
    let (mo, d) = (u8::from(now.month()), now.day());
    m.set_transmission_datetime(mo, d, now.hour(), now.minute(), now.second())
        .map_err(bad)?;
    m.set_stan(stan).map_err(bad)?;
    m.set_local_time(now.hour(), now.minute(), now.second())
        .map_err(bad)?;
    m.set_local_date(mo, d).map_err(bad)?;
    m.set_expiry(yy, mm).map_err(bad)?;
    m.set_merchant_type(&merchant.spec.mcc).map_err(bad)?;
    m.set_pos_entry_mode(entry_mode).map_err(bad)?;
    if let Some(psn) = p.psn {
        m.set_pan_sequence_number(u16::from(psn)).map_err(bad)?;
    }
    m.set_acquirer_id(&merchant.acquirer).map_err(bad)?;
    m.set_track2(&p.track2).map_err(bad)?;
    m.set_terminal_id(terminal).map_err(bad)?;
    m.set_merchant_id(&merchant.spec.id).map_err(bad)?;
    let (name, city) = name_location(merchant);
    m.set_name_location(&name, &city, &merchant.spec.country)
        .map_err(bad)?;
    m.set_currency(amount.currency.numeric()).map_err(bad)?;
    let icc = hex::decode(&p.icc_data).map_err(|_| PaymentError::Invalid("icc_data".into()))?;
    m.set_icc_data(&icc).map_err(bad)?;
    Ok(m)
}

pub(crate) const SELECT: &str = "SELECT fingerprint, terminal, stan, sent_at, response_code \
                      FROM acquirer_qr_payments WHERE idempotency_key = $1";

impl QrPayments {
    /// The payment service over the merchants (whose migrations include
    /// this table).
    pub fn new(merchants: Merchants) -> QrPayments {
        QrPayments { merchants }
    }

    /// The merchants this service pays.
    pub(crate) fn merchants(&self) -> &Merchants {
        &self.merchants
    }

    /// An approved scanned-code payment under `key`, or `None` when the
    /// key has no approved payment.
    pub async fn approved(&self, key: &str) -> Result<Option<Approved>, PaymentError> {
        let row = sqlx::query(
            "SELECT merchant, amount, currency, response_code, bill_reference \
             FROM acquirer_qr_payments WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(self.merchants.db().pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let code: Option<String> = row.try_get("response_code")?;
        if code.as_deref() != Some(ResponseCode::Approved.code()) {
            return Ok(None);
        }
        let currency: String = row.try_get("currency")?;
        let currency = Currency::from_code(&currency)
            .map_err(|_| AcquirerError::Corrupt(format!("unknown currency {currency:?}")))?;
        Ok(Some(Approved {
            merchant: row.try_get("merchant")?,
            amount: Money::new(row.try_get("amount")?, currency),
            bill_reference: row.try_get("bill_reference")?,
        }))
    }

    /// Takes one scanned-code payment (module documentation).
    pub async fn pay(
        &self,
        p: &ScanPayment,
        port: &dyn SwitchPort,
    ) -> Result<PaymentOutcome, PaymentError> {
        validate(p)?;
        let code = self.read_code(p).await?;
        self.settle(p, code, ENTRY_MODE_SCANNED, port).await
    }

    /// Claims the key, sends the `0200` with DE 22 `entry_mode` unless an
    /// answer is stored, and credits the merchant on approval.
    pub(crate) async fn settle(
        &self,
        p: &ScanPayment,
        code: ReadCode,
        entry_mode: &str,
        port: &dyn SwitchPort,
    ) -> Result<PaymentOutcome, PaymentError> {
        let stored = self.claim(p, &code).await?;
        let code_text = match &stored.response_code {
            Some(c) => c.clone(),
            None => self.send(p, &code, entry_mode, &stored, port).await?,
        };
        let approved = code_text == ResponseCode::Approved.code();
        let transfer = if approved {
            Some(self.credit(p, &code, port).await?)
        } else {
            None
        };
        Ok(PaymentOutcome {
            idempotency_key: p.idempotency_key.clone(),
            merchant: code.merchant.spec.id.clone(),
            merchant_name: code.merchant.spec.name.clone(),
            amount_minor: p.amount_minor,
            currency: code.amount.currency.code().to_owned(),
            bill: code.bill,
            approved,
            meaning: meaning(&code_text),
            response_code: code_text,
            transfer,
        })
    }

    /// Reads the code, finds its merchant and checks the amount.
    pub(crate) async fn read_code(&self, p: &ScanPayment) -> Result<ReadCode, PaymentError> {
        if p.code.len() > MAX_CODE_LEN {
            return Err(PaymentError::Code(format!(
                "longer than {MAX_CODE_LEN} characters"
            )));
        }
        let mpm = Mpm::parse(&p.code).map_err(|e| PaymentError::Code(e.to_string()))?;
        let id = paytap_merchant_id(&mpm)
            .ok_or_else(|| PaymentError::Code("not a paytap merchant code".into()))?;
        let merchant = match self.merchants.get(id).await {
            Ok(m) => m,
            Err(AcquirerError::NotFound(id)) => return Err(PaymentError::UnknownMerchant(id)),
            Err(e) => return Err(e.into()),
        };
        let currency =
            Currency::from_numeric(mpm.currency).map_err(|e| PaymentError::Code(e.to_string()))?;
        if currency != merchant.spec.currency {
            return Err(PaymentError::Code(format!(
                "the code's currency {} is not the merchant's {}",
                currency.code(),
                merchant.spec.currency.code()
            )));
        }
        let dynamic = mpm.point_of_initiation == Some(PointOfInitiation::Dynamic);
        match mpm.amount {
            Some(expected) if expected != p.amount_minor => {
                return Err(PaymentError::WrongAmount {
                    expected,
                    got: p.amount_minor,
                });
            }
            None if dynamic => {
                return Err(PaymentError::Code(
                    "a dynamic code without an amount".into(),
                ));
            }
            _ => {}
        }
        let minor = i64::try_from(p.amount_minor)
            .map_err(|_| PaymentError::Invalid("amount out of range".into()))?;
        Ok(ReadCode {
            merchant,
            amount: Money::new(minor, currency),
            bill: mpm.additional_data.and_then(|a| a.bill_number),
        })
    }

    /// Claims the key for this request, or reads what the key holds.
    async fn claim(&self, p: &ScanPayment, code: &ReadCode) -> Result<Stored, PaymentError> {
        let fp = fingerprint(p);
        let mut r = [0u8; 4];
        rand::fill(&mut r);
        let terminal = format!("Q{:07X}", u32::from_be_bytes(r) & 0x0FFF_FFFF);
        let stan = 1 + u32::from_be_bytes(r) % 999_999;
        let now = paytap_store::now_millis();
        let db = self.merchants.db();
        sqlx::query(
            "INSERT INTO acquirer_qr_payments (idempotency_key, fingerprint, merchant, amount, \
             currency, terminal, stan, sent_at, response_code, created_at, bill_reference) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(p.idempotency_key.as_str())
        .bind(fp.as_str())
        .bind(code.merchant.spec.id.as_str())
        .bind(code.amount.minor)
        .bind(code.amount.currency.code())
        .bind(terminal.as_str())
        .bind(i64::from(stan))
        .bind(now / 1000)
        .bind(now)
        .bind(code.bill.as_deref())
        .execute(db.pool())
        .await?;
        let row = sqlx::query(SELECT)
            .bind(p.idempotency_key.as_str())
            .fetch_one(db.pool())
            .await?;
        let stored = Stored::from_row(&row)?;
        if stored.fingerprint != fp {
            tracing::info!(key = %p.idempotency_key, "idempotency key reused for another payment: refused");
            return Err(PaymentError::KeyReused(p.idempotency_key.clone()));
        }
        Ok(stored)
    }

    /// Sends the `0200` and stores the answer's response code.
    async fn send(
        &self,
        p: &ScanPayment,
        code: &ReadCode,
        entry_mode: &str,
        stored: &Stored,
        port: &dyn SwitchPort,
    ) -> Result<String, PaymentError> {
        let request = build_financial(
            p,
            &code.merchant,
            code.amount,
            entry_mode,
            (&stored.terminal, stored.stan, stored.sent_at),
        )?;
        let answer = port
            .send(&code.merchant.acquirer, request)
            .await
            .map_err(|e| {
                tracing::warn!(key = %p.idempotency_key, error = %e, "scanned-code payment without an answer");
                PaymentError::NoAnswer(e)
            })?;
        let rc = answer.response_code().map_or_else(
            || ResponseCode::SystemMalfunction.code().to_owned(),
            |c| c.code().to_owned(),
        );
        sqlx::query(
            "UPDATE acquirer_qr_payments SET response_code = $1 \
             WHERE idempotency_key = $2 AND response_code IS NULL",
        )
        .bind(rc.as_str())
        .bind(p.idempotency_key.as_str())
        .execute(self.merchants.db().pool())
        .await?;
        tracing::info!(key = %p.idempotency_key, merchant = %code.merchant.spec.id, code = %rc, amount = code.amount.minor, "scanned-code payment answered");
        Ok(rc)
    }

    /// Credits the merchant for an approved payment (idempotent by the key).
    async fn credit(
        &self,
        p: &ScanPayment,
        code: &ReadCode,
        port: &dyn SwitchPort,
    ) -> Result<String, PaymentError> {
        let payer = port.payer_account(&p.token).ok_or_else(|| {
            AcquirerError::Corrupt("an approved token whose issuer is unknown".into())
        })?;
        let id = format!("qr:{}", p.idempotency_key);
        let t = Transfer::single(&id, payer, code.merchant.account.as_str(), code.amount)
            .with_reference(format!("scanned code, merchant {}", code.merchant.spec.id));
        // A repeat of the same transfer id moves nothing and answers the
        // same receipt.
        self.merchants.ledger().transfer(t).await?;
        Ok(id)
    }
}

fn meaning(code: &str) -> String {
    match ResponseCode::from_code(code) {
        Some(c) => c.description().to_owned(),
        None => format!("response code {code}"),
    }
}
