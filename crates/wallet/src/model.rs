//! The wallet's public data types: what the service layer takes and returns
//! and what the HTTP API serializes. None of them holds a card number: cards
//! are known by the last four digits and the token service's token reference.

use paytap_types::{Money, Secret};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Interface language of an account: English, Simplified Chinese or
/// Hindi.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Zh,
    Hi,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
            Language::Hi => "hi",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "en" => Some(Language::En),
            "zh" => Some(Language::Zh),
            "hi" => Some(Language::Hi),
            _ => None,
        }
    }
}

/// How a person logs in: an e-mail address or a phone number (E.164).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginKind {
    Email,
    Phone,
}

impl LoginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginKind::Email => "email",
            LoginKind::Phone => "phone",
        }
    }
}

/// A registration request. The password is wiped on drop and never printed.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct NewAccount {
    /// An e-mail address or a phone number in international form (`+86...`).
    pub login: String,
    pub password: Secret<String>,
    pub display_name: String,
    #[zeroize(skip)]
    pub language: Language,
    /// `"cn"` (default) or `"in"`; `None` means the default region.
    pub region: Option<String>,
}

/// A wallet account (Mi Account-style).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub login: String,
    pub login_kind: LoginKind,
    pub display_name: String,
    pub language: Language,
    pub region: String,
    pub created_at: i64,
}

/// The logged-in account a request acts for, as returned by
/// [`crate::Wallet::authenticate`]. Every card/device method takes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub region: String,
    pub language: Language,
    /// Session expiry (Unix milliseconds).
    pub session_expires_at: i64,
}

/// A fresh session. `token` is the bearer secret, shown once; only its
/// SHA-256 is stored.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub token: Secret<String>,
    pub expires_at: i64,
    pub account: Account,
}

pub use paytap_types::{Capabilities, DeviceKind};

pub use paytap_types::DeviceStatus;

paytap_types::text_enum! {
    /// Why a device was suspended (`wallet_devices.suspend_reason`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum SuspendReason {
        Lost = "lost",
        Stolen = "stolen",
    }
}

paytap_types::text_enum! {
    /// Where a card waiting for its one-time passcode stands
    /// (`wallet_pending.state`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum PendingState {
        /// Waiting for the passcode.
        Pending = "pending",
        /// The passcode came too late.
        Expired = "expired",
        /// Too many wrong passcodes.
        Locked = "locked",
        /// Provisioned.
        Done = "done",
    }
}

/// A device registration request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDevice {
    pub kind: DeviceKind,
    pub name: String,
    pub model: String,
    /// X25519 public key, standard base64 of 32 bytes.
    pub public_key_b64: String,
}

/// Last reported position, for "find my device".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    /// Radius of the 68 % confidence circle, metres.
    pub accuracy_m: f64,
    pub place: Option<String>,
    /// Unix milliseconds.
    pub at: i64,
}

/// A heartbeat from a device.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Heartbeat {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub place: Option<String>,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub kind: DeviceKind,
    pub name: String,
    pub model: String,
    /// Standard base64 of the 32-byte X25519 public key.
    pub public_key: String,
    pub capabilities: Capabilities,
    pub status: DeviceStatus,
    pub suspend_reason: Option<SuspendReason>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub location: Option<Location>,
    /// Cards on the device that are not deleted.
    pub card_count: u32,
}

/// A card added to a device (one token at the token service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub id: String,
    pub device_id: String,
    pub token_ref: String,
    /// Last four digits of the funding card, the only digits ever shown.
    pub card_last4: String,
    pub bank_name: String,
    pub cardholder_name: String,
    /// `active`, `suspended` or `deleted`.
    pub token_state: crate::port::TokenState,
    pub is_default: bool,
    pub created_at: i64,
}

/// A card add waiting for its one-time passcode (the yellow ID&V path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingProvisioning {
    pub id: String,
    pub device_id: String,
    pub card_last4: String,
    pub bank_name: String,
    /// Where the passcode was sent, as the issuer describes it.
    pub otp_channel: String,
    /// After this (Unix milliseconds) the OTP can no longer be submitted.
    pub expires_at: i64,
}

/// The result of adding a card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AddCardOutcome {
    /// Green path: the token is provisioned.
    Provisioned { card: Card },
    /// Yellow path: submit the OTP to finish.
    OtpRequired { pending: PendingProvisioning },
}

/// A card add request, as typed: the number, code and name are wiped on
/// drop and never printed.
#[derive(Clone, Debug)]
pub struct NewCard {
    pub pan: Secret<String>,
    /// `MM/YY`.
    pub expiry: String,
    pub cvv: Secret<String>,
    pub cardholder_name: Secret<String>,
}

/// One provisioning payload a device fetches and installs in its secure
/// element (sealed to the device's key; opaque to the wallet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningItem {
    pub card_id: String,
    pub token_ref: String,
    pub token_state: crate::port::TokenState,
    pub card_last4: String,
    pub bank_name: String,
    pub is_default: bool,
    /// Standard base64 of the sealed payload.
    pub sealed_payload: String,
}

/// A payment the network reported for one of the account's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub device_id: String,
    pub card_id: String,
    pub card_last4: String,
    pub bank_name: String,
    pub merchant_name: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub amount: Money,
    /// Amount as a decimal string in the currency's exponent (`"12.50"`).
    pub amount_display: String,
    pub approved: bool,
    pub response_code: String,
    pub reason: String,
    pub kind: String,
    /// Unix milliseconds.
    pub at: i64,
    /// What an instant discount took off the charge (zero without one).
    pub saved: Money,
    /// Cashback the payment earned (zero without one).
    pub earned: Money,
    /// How it was paid: `card`, or `band` for a band's offline QR code
    /// ([`crate::band_history`]).
    #[serde(default = "crate::band_history::card_channel")]
    pub channel: String,
    /// What became of a band payment; `None` for a card payment.
    #[serde(default)]
    pub band_outcome: Option<crate::band_history::BandOutcome>,
}

/// A page of transactions, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionPage {
    pub items: Vec<Transaction>,
    /// Pass as `cursor` to get the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Each value of a status enum reads back from its text, and serde
    /// writes the same text the database holds.
    pub(crate) fn check_texts<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + std::fmt::Display + std::str::FromStr + Serialize,
        T::Err: std::fmt::Debug,
    {
        for &v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>().expect("own text"), v);
            assert_eq!(
                serde_json::to_value(v).expect("serialize"),
                serde_json::json!(text)
            );
        }
    }

    #[test]
    fn device_statuses_keep_their_texts() {
        check_texts(DeviceStatus::ALL);
        check_texts(SuspendReason::ALL);
        check_texts(crate::port::TokenState::ALL);
        assert!("Active".parse::<DeviceStatus>().is_err());
    }
}
