//! [`PaymentFacts`]: what every payment kind (a card tap, a QR payment, a
//! UPI payment, a transit top-up, a bill) tells the decision cores that run
//! on each payment: the risk engine (`paytap-risk`) and the offers engine
//! (`paytap-offers`). One value, filled by whichever service sees the
//! payment first, so a payment kind that lands later plugs into both by
//! filling it.
//!
//! The card appears only by its vault fingerprint, its BIN and its bank:
//! never its number. Every field a payment kind does not have is `None`.

use crate::{DeviceKind, Money};
use serde::{Deserialize, Serialize};

/// How the payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A contactless card tap (EMV over NFC).
    Nfc,
    /// A QR payment (merchant- or consumer-presented).
    Qr,
    /// A UPI payment to a person or a merchant.
    Upi,
    /// A transit purse top-up or fare.
    Transit,
    /// A bill payment.
    Bills,
}

/// Each channel and its wire name.
const CHANNELS: [(Channel, &str); 5] = [
    (Channel::Nfc, "nfc"),
    (Channel::Qr, "qr"),
    (Channel::Upi, "upi"),
    (Channel::Transit, "transit"),
    (Channel::Bills, "bills"),
];

impl Channel {
    /// `"nfc"`, `"qr"`, `"upi"`, `"transit"` or `"bills"`.
    pub fn as_str(self) -> &'static str {
        CHANNELS[self as usize].1
    }

    /// The channel with this wire name.
    pub fn parse(s: &str) -> Option<Channel> {
        CHANNELS.iter().find(|c| c.1 == s).map(|c| c.0)
    }

    /// Every channel.
    pub fn all() -> impl Iterator<Item = Channel> {
        CHANNELS.iter().map(|c| c.0)
    }
}

/// Debit or credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardType {
    /// Draws on a current account.
    Debit,
    /// Draws on a credit line.
    Credit,
}

/// The card a payment was made with, masked: never its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFacts {
    /// The vault's HMAC fingerprint of the card (or the token's reference):
    /// stable per card, reveals nothing of the number.
    pub fingerprint: String,
    /// The first 6 or 8 digits of the funding card's number (its BIN).
    pub bin: String,
    /// The issuing bank's id (as in `banks.toml`).
    pub bank: String,
    /// Debit or credit.
    pub card_type: CardType,
    /// When the card was added to the wallet (Unix ms), if known.
    pub added_at_ms: Option<i64>,
    /// Whether this is the card's first payment with paytap.
    pub first_use: bool,
}

/// The device that paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// The wallet's device id.
    pub id: String,
    /// Phone, watch or band.
    pub kind: DeviceKind,
    /// When the device was enrolled in the wallet (Unix ms), if known.
    pub enrolled_at_ms: Option<i64>,
}

/// The UPI id (VPA) that paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpiFacts {
    /// The payer's UPI id, e.g. `asha@paytap`.
    pub vpa: String,
    /// When the UPI id was bound to this device (Unix ms), if known.
    pub bound_at_ms: Option<i64>,
}

/// ISO 18245 merchant category of local and suburban commuter transport:
/// every transit operator is a merchant of it, so a card payment to one is
/// a transit top-up ([`Channel::Transit`]).
pub const COMMUTER_TRANSPORT_MCC: u16 = 4111;

/// The merchant paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantFacts {
    /// The acquirer's merchant id (DE 42, the QR merchant account, the payee VPA).
    pub id: String,
    /// ISO 18245 merchant category code (DE 18), e.g. 5411 for supermarkets.
    pub mcc: u16,
}

/// A place on Earth, in degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, -90 to 90.
    pub lat: f64,
    /// Longitude, -180 to 180.
    pub lon: f64,
}

impl GeoPoint {
    /// Whether both coordinates are finite and in range (a point from the
    /// network that is not is ignored, never trusted).
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Everything the decision cores know about one payment. Stored as JSON
/// with every payment the guard decides on, so what is absent (`None`,
/// `false`) is left out of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFacts {
    /// The payment's id: the idempotency key of everything decided about it.
    pub payment_id: String,
    /// How it was paid.
    pub channel: Channel,
    /// How much, in which currency.
    pub amount: Money,
    /// When (Unix ms); the cores never read a clock.
    pub at_ms: i64,
    /// The wallet account that paid, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The card, if a card paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardFacts>,
    /// The device, if a device paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceFacts>,
    /// The UPI id, if UPI paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upi: Option<UpiFacts>,
    /// The merchant, if a merchant was paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantFacts>,
    /// The data region (`cn`, `in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Where the device was, if it told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<GeoPoint>,
    /// Whether this is the account's first payment on this channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_on_channel: bool,
    /// Whether the account holder passed the device's own biometric check
    /// for this very payment (consumer device CVM, vouched for by the
    /// cryptogram). A rule that asks for a biometric step-up is then
    /// already met.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub biometric_verified: bool,
}

/// The guard's id of the UPI payment with transaction id `txn_id`: the same
/// for the payer's UPI app, which asks the guard before the payment leaves,
/// and for a biller's collecting service, which tells it of a refund.
pub fn upi_payment_id(txn_id: &str) -> String {
    format!("upi:{txn_id}")
}

impl PaymentFacts {
    /// A payment with only the fields every kind has; the rest `None`.
    pub fn new(payment_id: impl Into<String>, channel: Channel, amount: Money, at_ms: i64) -> Self {
        PaymentFacts {
            payment_id: payment_id.into(),
            channel,
            amount,
            at_ms,
            account_id: None,
            card: None,
            device: None,
            upi: None,
            merchant: None,
            region: None,
            place: None,
            first_on_channel: false,
            biometric_verified: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_facts_leave_out_what_is_absent_and_read_back_whole() {
        let mut facts =
            PaymentFacts::new("p1", Channel::Qr, Money::new(100, crate::Currency::CNY), 7);
        let json = serde_json::to_string(&facts).expect("facts serialize");
        assert_eq!(
            json,
            r#"{"payment_id":"p1","channel":"qr","amount":{"minor":100,"currency":"CNY"},"at_ms":7}"#
        );
        assert_eq!(
            serde_json::from_str::<PaymentFacts>(&json).ok(),
            Some(facts.clone())
        );
        facts.account_id = Some("acc".into());
        facts.first_on_channel = true;
        facts.biometric_verified = true;
        let json = serde_json::to_string(&facts).expect("facts serialize");
        assert_eq!(
            serde_json::from_str::<PaymentFacts>(&json).ok(),
            Some(facts)
        );
    }

    #[test]
    fn channel_names_round_trip_in_declaration_order() {
        for (i, c) in Channel::all().enumerate() {
            assert_eq!(c as usize, i);
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::parse("NFC"), None);
    }

    #[test]
    fn geo_points_out_of_range_are_invalid() {
        for (lat, lon, ok) in [
            (39.9, 116.4, true),
            (-90.0, 180.0, true),
            (90.1, 0.0, false),
            (0.0, -180.5, false),
            (f64::NAN, 0.0, false),
        ] {
            assert_eq!(GeoPoint { lat, lon }.is_valid(), ok, "{lat},{lon}");
        }
    }
}
