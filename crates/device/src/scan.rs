//! Scan to pay on the phone: its secure element makes the chip data for a
//! merchant code the owner scanned, and the phone posts the payment to the
//! acquirer (`POST /acquirer/v1/qr-payments` on `paytap up`).
//!
//! The phone is its own terminal for the QR channel: it runs the EMV
//! contactless kernel against its secure element ([`Device::tap`], the same
//! card applications, ATC written ahead of each cryptogram) with a Reader
//! CVM Required Limit of zero, so every scanned-code payment needs the
//! owner's finger (CDCVM); an unverified scan gets no cryptogram.

use std::time::Duration;

use paytap_emv::{Kernel, Outcome, TerminalConfig, Transaction, TxnDate};
use paytap_types::{Money, Secret};
use serde::{Deserialize, Serialize};

use crate::{Device, DeviceError, Finger};

/// The acquirer's path for scanned-code payments.
pub const QR_PAYMENTS_PATH: &str = "/acquirer/v1/qr-payments";
/// How long the acquirer may take to answer (it waits for the network).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the secure element made for one scanned-code payment: the card
/// data the acquirer puts into its `0200`. The token number and track 2
/// are [`Secret`]s.
#[derive(Debug)]
pub struct ScanCryptogram {
    /// DE 55: the chip data (ARQC and its inputs).
    pub icc_data: Vec<u8>,
    /// DE 2: the token number.
    pub token: Secret<String>,
    /// DE 35: track 2 equivalent data.
    pub track2: Secret<String>,
    /// DE 23: PAN sequence number.
    pub psn: Option<u8>,
    /// DE 14: the token's expiry, `YYMM`.
    pub expiry_yymm: String,
    /// The ATC the cryptogram used.
    pub atc: u16,
    /// The card application's AID.
    pub aid: Vec<u8>,
}

/// Why the secure element made no cryptogram for a scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The secure element or keystore failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The kernel stopped on the card's answer.
    #[error("secure element: {0}")]
    Kernel(String),
    /// The card needs the owner's finger first.
    #[error("the owner must verify with the fingerprint sensor first")]
    NotVerified,
    /// The card declined offline.
    #[error("the card declined the payment")]
    Declined,
    /// The acquirer could not be reached or answered what is not JSON.
    #[error("acquirer: {0}")]
    Transport(String),
    /// The acquirer refused the payment.
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error's code (`unknown_merchant`, `wrong_amount`, …).
        code: String,
        /// Its message.
        message: String,
    },
}

/// Runs the phone's secure element for a scanned code of `amount` on
/// `date` with the unpredictable number `un`; `finger` is what the owner
/// presented to the sensor.
pub fn make_cryptogram(
    device: &mut Device,
    finger: Option<&Finger>,
    amount: Money,
    date: TxnDate,
    un: [u8; 4],
) -> Result<ScanCryptogram, ScanError> {
    let minor = u64::try_from(amount.minor).map_err(|_| ScanError::Kernel("amount".into()))?;
    let mut config = TerminalConfig::default();
    config.set_reader_cvm_limit(amount.currency.numeric(), 0);
    let txn = Transaction {
        amount_minor: minor,
        amount_other: 0,
        currency: amount.currency.numeric(),
        txn_type: 0x00,
        date,
        unpredictable_number: un,
    };
    let mut tap = device.tap(finger)?;
    let outcome = Kernel::new(config)
        .run(&mut tap, &txn)
        .map_err(|e| ScanError::Kernel(e.to_string()))?;
    match outcome {
        Outcome::OnlineRequest {
            icc_data,
            pan,
            track2,
            psn,
            expiry,
            atc,
            aid,
            ..
        } => Ok(ScanCryptogram {
            icc_data,
            token: Secret::new(pan.expose().to_owned()),
            track2: Secret::new(hex::encode_upper(&track2).trim_end_matches('F').to_owned()),
            psn,
            expiry_yymm: format!("{:02}{:02}", expiry.year(), expiry.month()),
            atc,
            aid,
        }),
        Outcome::Declined { .. } => Err(ScanError::Declined),
        Outcome::TryAgain { .. } => Err(ScanError::NotVerified),
    }
}

/// The acquirer's answer to a scanned-code payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanOutcome {
    /// The key the phone chose.
    pub idempotency_key: String,
    /// The merchant's id.
    pub merchant: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// The dynamic code's bill reference.
    #[serde(default)]
    pub bill: Option<String>,
    /// The network approved.
    pub approved: bool,
    /// ISO 8583 DE 39.
    pub response_code: String,
    /// Its meaning.
    pub meaning: String,
    /// The ledger transfer that credited the merchant.
    #[serde(default)]
    pub transfer: Option<String>,
}

/// Posts the payment to the acquirer at `platform` (its base URL) under
/// `key`; the same key may be sent again after a failure.
pub async fn post_payment(
    platform: &str,
    key: &str,
    code: &str,
    amount_minor: u64,
    c: &ScanCryptogram,
) -> Result<ScanOutcome, ScanError> {
    let body = serde_json::json!({
        "idempotency_key": key,
        "code": code,
        "amount_minor": amount_minor,
        "token": c.token.expose().as_str(),
        "expiry": c.expiry_yymm,
        "psn": c.psn,
        "track2": c.track2.expose().as_str(),
        "icc_data": hex::encode_upper(&c.icc_data),
    });
    let url = format!("{}{QR_PAYMENTS_PATH}", platform.trim_end_matches('/'));
    let t = |e: reqwest::Error| ScanError::Transport(e.to_string());
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(t)?;
    let r = client.post(&url).json(&body).send().await.map_err(t)?;
    let status = r.status();
    let v: serde_json::Value = r.json().await.map_err(t)?;
    if status.is_success() {
        return serde_json::from_value(v).map_err(|e| ScanError::Transport(e.to_string()));
    }
    let field = |f: &str| v["error"][f].as_str().unwrap_or("-").to_owned();
    Err(ScanError::Refused {
        status: status.as_u16(),
        code: field("code"),
        message: field("message"),
    })
}
