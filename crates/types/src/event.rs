use serde::{Deserialize, Serialize};

use crate::Money;

/// What the card network tells the wallet after each authorization it
/// decided, approved or not. Carries the token reference (never a card
/// number) so the wallet can find the account, device and card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    /// Unique per event; the wallet stores each event once.
    pub event_id: String,
    /// The token service's reference of the token that paid.
    pub token_ref: String,
    pub merchant_name: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub amount: Money,
    pub approved: bool,
    /// ISO 8583 DE 39 response code, e.g. `"00"`, `"51"`.
    pub response_code: String,
    /// The outcome in plain language, e.g. `"Payments are turned off on this device"`.
    pub reason: String,
    /// `"purchase"`, `"reversal"`, ...
    pub kind: String,
    /// Unix milliseconds.
    pub at_millis: i64,
    /// What an instant discount took off the charge (approved payments
    /// that got an offer; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<Money>,
    /// Cashback the payment earns once captured (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earned: Option<Money>,
}
