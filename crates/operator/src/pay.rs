//! How a top-up is paid: the rider's bank card in the wallet, through the
//! card network, with the operator as the merchant.
//!
//! The host reaches the network only through the [`LoadPayments`] port,
//! which the binary implements over the acquirer (a single-message `0200`
//! under an idempotency key made of the operator and the load id, so a
//! retried load never pays twice; an approval leaves the money on the
//! operator's merchant settlement account, which the load then moves onto
//! the float). A refund reverses that payment (`0400`): the money goes back
//! to the rider's card and the merchant's account.
//!
//! The card data ([`CardPayment`]: the token, its track 2 and the chip data
//! the rider's secure element made for this amount) only passes through:
//! the host never stores it. A refund carries it again (the device keeps
//! its pending top-up, payment included, in its keystore).

use std::future::Future;
use std::pin::Pin;

use paytap_transit::config::Operator;
use paytap_types::Money;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A boxed future, for the [`LoadPayments`] port.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Hex digits of the load id's digest in a payment key: long enough that
/// two loads never share one, short enough for the acquirer's key limit.
const PAYMENT_KEY_HEX: usize = 32;

/// The card side of a top-up's payment: what the rider's secure element
/// made for the QR channel (`paytap_device::scan::make_cryptogram`), as
/// the acquirer's `0200` carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPayment {
    /// The token number (DE 2).
    pub token: String,
    /// The token's expiry, `YYMM`.
    pub expiry: String,
    /// PAN sequence number.
    #[serde(default)]
    pub psn: Option<u8>,
    /// Track 2 equivalent data.
    pub track2: String,
    /// The chip data (DE 55), hex.
    pub icc_data: String,
}

impl std::fmt::Debug for CardPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token masked: its last four digits; track 2 never.
        let last4 = self
            .token
            .get(self.token.len().saturating_sub(4)..)
            .unwrap_or("");
        f.debug_struct("CardPayment")
            .field("token", &format!("…{last4}"))
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// One payment the host asks of the network.
#[derive(Debug)]
pub struct PaymentRequest<'a> {
    /// The operator, the payment's merchant.
    pub operator: &'a Operator,
    /// The payment's idempotency key ([`payment_key`], [`fee_key`]).
    pub key: String,
    /// The top-up's or card fee's amount.
    pub amount: Money,
    /// The rider's card.
    pub card: &'a CardPayment,
}

/// An approved payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paid {
    /// The ledger account that holds the approved money (the operator's
    /// merchant settlement account); the load moves it onto the float.
    pub account: String,
}

/// Why a payment did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentFailure {
    /// The network or the card's bank declined it.
    #[error("the payment was declined: {meaning} ({code})")]
    Declined {
        /// ISO 8583 DE 39.
        code: String,
        /// Its meaning.
        meaning: String,
    },
    /// The card data is malformed.
    #[error("the payment's card data is invalid: {0}")]
    Invalid(String),
    /// No answer came in time: retrying with the same load id is safe.
    #[error("the payment got no answer: {0}")]
    NoAnswer(String),
}

/// The operator's way to the card network (module documentation).
pub trait LoadPayments: Send + Sync {
    /// Pays `req`; the same key again answers the first outcome.
    fn pay<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Paid, PaymentFailure>>;
    /// Reverses the approved payment `req` (the same key and card data as
    /// paid); a repeat moves nothing twice.
    fn refund<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<(), PaymentFailure>>;
}

/// The payment key of a load: `tl-` and the first hex digits of
/// SHA-256 over the operator and the load id (letters, digits and `-`, as
/// acquirers take them).
pub fn payment_key(operator: &str, load_id: &str) -> String {
    key_of("tl-", b"paytap transit load payment\n", operator, load_id)
}

/// The payment key of an issue's card fee: `tf-` and the first hex digits
/// of SHA-256 over the operator and the issue id, in a domain of its own
/// (an issue id never shares a key with a load id).
pub fn fee_key(operator: &str, issue_id: &str) -> String {
    key_of(
        "tf-",
        b"paytap transit card fee payment\n",
        operator,
        issue_id,
    )
}

fn key_of(prefix: &str, domain: &[u8], operator: &str, id: &str) -> String {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(operator.as_bytes());
    h.update(b"\n");
    h.update(id.as_bytes());
    let digest = hex::encode(h.finalize());
    format!("{prefix}{}", &digest[..PAYMENT_KEY_HEX])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_keys_are_stable_short_and_distinct() {
        let a = payment_key("beijing", "load-1");
        assert_eq!(a, payment_key("beijing", "load-1"));
        assert_ne!(a, payment_key("beijing", "load-2"));
        assert_ne!(a, payment_key("shanghai", "load-1"));
        assert_eq!(a.len(), 3 + PAYMENT_KEY_HEX);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let fee = fee_key("beijing", "load-1");
        assert!(fee.starts_with("tf-") && fee.len() == a.len());
        assert_ne!(fee[3..], a[3..]);
    }

    #[test]
    fn a_card_payment_debug_masks_the_token() {
        let p = CardPayment {
            token: "6250947000001234".into(),
            expiry: "3012".into(),
            psn: Some(1),
            track2: "6250947000001234D3012".into(),
            icc_data: "9F26".into(),
        };
        let d = format!("{p:?}");
        assert!(d.contains("…1234") && !d.contains("62509470"), "{d}");
    }
}
