//! The wallet's port to the card network: [`WalletNetwork`].
//!
//! The wallet never talks to an issuer, the token service or the switch
//! directly. It asks this trait, which the network side implements (an
//! adaptor over the issuer's identification and verification (ID&V) and the
//! token service provider's (TSP) provisioning and token lifecycle, in the
//! sense of the EMV Payment Tokenisation Specification, Technical Framework
//! v2: token requestor = this wallet, token domain = one device).
//!
//! The trait is dyn-compatible (methods return boxed futures) so the binary
//! can hand the wallet an `Arc<dyn WalletNetwork>`.

use std::future::Future;
use std::pin::Pin;

use paytap_types::{Expiry, Pan, Secret};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::model::DeviceKind;

/// A boxed, sendable future, the return type of every port method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The card details a person typed, validated. The PAN masks itself; the
/// expiry, CVV and name are [`Secret`]s: wiped on drop and never printed
/// (the expiry is cardholder data beside the number, PCI DSS 3.2).
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct CardDetails {
    #[zeroize(skip)]
    pub pan: Pan,
    /// Valid through the end of this month.
    pub expiry: Secret<Expiry>,
    /// Card verification value (3 digits), checked by the issuer during ID&V
    /// and never stored by the wallet.
    pub cvv: Secret<String>,
    pub cardholder_name: Secret<String>,
}

/// The device a card is being added to, as the token service needs it for
/// device binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceBinding {
    pub device_id: String,
    pub kind: DeviceKind,
    /// The device's X25519 public key (32 bytes) the provisioning payload is
    /// sealed to.
    pub public_key: [u8; 32],
    pub account_id: String,
    /// `"cn"`, `"in"`.
    pub region: String,
}

/// The issuer's ID&V decision (EMV tokenisation "green / yellow / red path").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdvDecision {
    /// Approved without step-up: provision at once.
    Green {
        verification_id: String,
        bank_name: String,
    },
    /// Step-up required: a one-time passcode was sent to the cardholder
    /// through `channel` (e.g. "SMS to +86 *** **** 1234").
    Yellow {
        verification_id: String,
        bank_name: String,
        channel: String,
    },
    /// Refused; `reason` is fit to show to the person.
    Red { reason: String },
}

/// The issuer's answer to a one-time passcode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OtpDecision {
    Verified,
    /// Wrong code; the person may retry `attempts_left` more times.
    Incorrect {
        attempts_left: u32,
    },
    /// The code's lifetime is over; add the card again.
    Expired,
    /// Too many wrong codes: the verification is closed.
    Locked,
}

/// What provisioning produced (a token bound to one device).
#[derive(Clone, PartialEq, Eq)]
pub struct ProvisionedCard {
    /// The token service's reference of the token (never the token number).
    pub token_ref: String,
    /// Last four digits of the funding card (shown to the person).
    pub card_last4: String,
    pub bank_name: String,
    /// The provisioning payload sealed to the device's public key; opaque to
    /// the wallet, which only stores and forwards it.
    pub sealed_payload: Vec<u8>,
}

impl std::fmt::Debug for ProvisionedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionedCard")
            .field("token_ref", &self.token_ref)
            .field("card_last4", &self.card_last4)
            .field("bank_name", &self.bank_name)
            .field("sealed_payload_len", &self.sealed_payload.len())
            .finish()
    }
}

/// Token lifecycle states the wallet asks for (one definition, shared with
/// the device's wallet client).
pub use paytap_types::TokenState;

/// Why the wallet changes a token's state (recorded by the token service
/// with the lifecycle event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateReason {
    DeviceLost,
    DeviceStolen,
    DeviceFound,
    DeviceWiped,
    CardRemoved,
    /// Undoing a provisioning the wallet could not record (e.g. the device
    /// reached its card limit in the meantime).
    ProvisioningRolledBack,
}

impl StateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StateReason::DeviceLost => "device_lost",
            StateReason::DeviceStolen => "device_stolen",
            StateReason::DeviceFound => "device_found",
            StateReason::DeviceWiped => "device_wiped",
            StateReason::CardRemoved => "card_removed",
            StateReason::ProvisioningRolledBack => "provisioning_rolled_back",
        }
    }
}

/// Who asked for a lifecycle change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The account holder, through the API or the web site.
    AccountHolder { account_id: String },
    /// The wallet itself (e.g. a compensating action).
    Wallet,
}

/// Failure of the network side (not a decision: decisions are values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The network could not be reached or did not answer in time.
    #[error("card network unavailable: {0}")]
    Unavailable(String),
    /// The network does not know this verification or token.
    #[error("unknown reference: {0}")]
    UnknownReference(String),
    /// The network refused the request as malformed or not allowed.
    #[error("rejected by the card network: {0}")]
    Rejected(String),
}

/// The card network as the wallet sees it. Implementations must be cheap to
/// share (`Arc<dyn WalletNetwork>`) and must never log a PAN or CVV.
pub trait WalletNetwork: Send + Sync {
    /// Issuer ID&V for adding `card` to `device`.
    fn identify_and_verify<'a>(
        &'a self,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<IdvDecision, NetworkError>>;

    /// Checks the one-time passcode of a yellow-path verification.
    fn verify_otp<'a>(
        &'a self,
        verification_id: &'a str,
        code: &'a str,
    ) -> BoxFuture<'a, Result<OtpDecision, NetworkError>>;

    /// Creates a token for `card` bound to `device` (after a green decision
    /// or a verified OTP) and seals its provisioning payload to the
    /// device's public key.
    fn provision<'a>(
        &'a self,
        verification_id: &'a str,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<ProvisionedCard, NetworkError>>;

    /// Changes a token's lifecycle state at the token service. Setting the
    /// state a token already has succeeds (idempotent).
    fn set_token_state<'a>(
        &'a self,
        token_ref: &'a str,
        state: TokenState,
        reason: StateReason,
        actor: &'a Actor,
    ) -> BoxFuture<'a, Result<(), NetworkError>>;

    /// The account's rewards points and their newest entries. A network
    /// without rewards answers `Unavailable`.
    fn points<'a>(
        &'a self,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<crate::points::Points, NetworkError>> {
        let _ = account_id;
        Box::pin(async { Err(NetworkError::Unavailable("no rewards points".into())) })
    }

    /// Redeems `points` of the account as cashback in `currency`, once per
    /// `key` (the same key answers the first redemption). Too few points,
    /// or points without value in the currency, is `Rejected`.
    fn redeem_points<'a>(
        &'a self,
        account_id: &'a str,
        points: u64,
        currency: paytap_types::Currency,
        key: &'a str,
    ) -> BoxFuture<'a, Result<paytap_types::Money, NetworkError>> {
        let _ = (account_id, points, currency, key);
        Box::pin(async { Err(NetworkError::Unavailable("no rewards points".into())) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_card_secrets() {
        let card = CardDetails {
            pan: Pan::parse("6212345678901232").unwrap(),
            expiry: Secret::new(Expiry::new(29, 7).unwrap()),
            cvv: Secret::new("123".into()),
            cardholder_name: Secret::new("LI LEI".into()),
        };
        let s = format!("{card:?}");
        assert!(!s.contains("6212345678901232"));
        assert!(!s.contains("123\""));
        assert!(!s.contains("LI LEI"));
        assert!(!s.contains("07"));
        assert!(!s.contains("29"));
        assert!(s.contains("expiry: Secret([REDACTED]"), "{s}");
    }
}
