//! What the PSP's callers send and get back (the wallet API's bodies).

use paytap_types::Secret;
use serde::{Deserialize, Serialize};

/// A device binding to one bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// Its id.
    pub binding_id: String,
    /// The device bound.
    pub device_id: String,
    /// The bank's institution id.
    pub bank_id: String,
    /// The account's IFSC.
    pub ifsc: String,
    /// The account number with all but its last four digits hidden.
    pub account_masked: String,
    /// The holder's name, as the bank has it.
    pub holder: String,
    /// When it was bound (Unix ms).
    pub bound_at: i64,
    /// Until when the new binding's lower cap applies (Unix ms).
    pub cooling_off_until: i64,
}

/// What the device sends to bind: its id and X25519 public key (Base64),
/// and the SIM's mobile number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    /// The device.
    pub device_id: String,
    /// Its X25519 public key, Base64.
    pub device_key: String,
    /// 10 digits.
    pub mobile: String,
}

/// A UPI ID of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpiId {
    /// `name@paytap`.
    pub vpa: String,
    /// The binding (and so the account) it pays from and into.
    pub binding_id: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
}

/// Setting a UPI PIN: what the holder typed, the PIN sealed to the bank's
/// key for the OTP's verification id (Base64).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSetting {
    /// The debit card's last six digits.
    pub card_last6: Secret<String>,
    /// The debit card's expiry, `MM/YY` or `YYMM`.
    pub card_expiry: String,
    /// From the OTP request.
    pub verification_id: String,
    /// The OTP the bank sent.
    pub otp: Secret<String>,
    /// The sealed PIN, Base64.
    pub pin_block: String,
}

/// A payment the user makes: to exactly one of a UPI ID (`to`), a mobile
/// number, or a merchant's `upi://pay` link (`link`, from its QR code).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The transaction id the device chose (the PIN block is sealed for it).
    pub txn_id: String,
    /// The user's UPI ID to pay from.
    pub from: String,
    /// The payee's UPI ID.
    #[serde(default)]
    pub to: Option<String>,
    /// The payee's mobile number.
    #[serde(default)]
    pub mobile: Option<String>,
    /// A merchant's `upi://pay` link.
    #[serde(default)]
    pub link: Option<String>,
    /// The amount in paise; a dynamic QR's own amount when absent.
    #[serde(default)]
    pub amount_paise: Option<u64>,
    /// A note for the payee.
    #[serde(default)]
    pub note: Option<String>,
    /// The UPI PIN sealed to the bank's key for `txn_id`, Base64.
    pub pin_block: String,
}

/// A payment as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    /// The transaction id.
    pub txn_id: String,
    /// `pay` (the user paid) or `collect` (a merchant's request the user
    /// approved or declined).
    pub kind: String,
    /// The user's UPI ID.
    pub payer_vpa: String,
    /// Who was paid.
    pub payee_vpa: String,
    /// The payee's name, when known.
    pub payee_name: Option<String>,
    /// The payee's category code (`0000` for a person).
    pub mcc: String,
    /// The amount, in paise.
    pub amount_paise: u64,
    /// Always `INR`.
    pub currency: &'static str,
    /// The note.
    pub note: Option<String>,
    /// The merchant's reference (`tr`).
    pub reference: Option<String>,
    /// `pending`, `success`, `failed` or `deemed`.
    pub status: String,
    /// The UPI error code of a failed or deemed payment.
    pub error_code: Option<String>,
    /// The switch's 12-digit reference number.
    pub rrn: Option<String>,
    /// When it was made (Unix ms).
    pub created_at: i64,
    /// When its status last changed (Unix ms).
    pub updated_at: i64,
    /// The cashback it earned (paise, credited on the INR ledger by the
    /// offer's funder), once it succeeded; `None` before, or without one.
    pub earned_paise: Option<u64>,
}

/// A merchant's collect request waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collect {
    /// The transaction id (what an approval's PIN block is sealed for).
    pub txn_id: String,
    /// The user's UPI ID asked to pay.
    pub payer_vpa: String,
    /// The merchant's UPI ID.
    pub payee_vpa: String,
    /// The merchant's name.
    pub payee_name: Option<String>,
    /// The merchant's category code.
    pub mcc: String,
    /// The amount, in paise.
    pub amount_paise: u64,
    /// Always `INR`.
    pub currency: &'static str,
    /// The merchant's note.
    pub note: Option<String>,
    /// The merchant's reference.
    pub reference: Option<String>,
    /// When it expires (Unix ms).
    pub expires_at: i64,
}
