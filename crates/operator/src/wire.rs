//! The JSON forms of the operator API's requests and answers ([`crate::api`]),
//! shared by the host and its clients (the gate, the demo): card numbers
//! as 20 digits, terminal ids, MACs and TACs in hex, date-times as 14
//! digits `YYYYMMDDhhmmss`.

use paytap_purse::crypto::MAC_LEN;
use paytap_purse::records::{SERIAL_LEN, TERMINAL_ID_LEN};
use paytap_transit::GateRecord;
use paytap_transit::config::{serial_digits, serial_from_digits};
use serde::{Deserialize, Serialize};

pub use crate::pay::CardPayment;

/// The wire's date-time form, `YYYYMMDDhhmmss`, both ways.
pub use crate::load::{date_time_digits, host_time, parse_date_time};

/// One gate record on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRecord {
    /// Card number, 20 digits.
    pub card_number: String,
    /// The card's offline counter.
    pub counter: u16,
    /// Balance before the purchase, minor units.
    pub balance_before: u32,
    /// Fare, minor units.
    pub amount: u32,
    /// Transaction type (6 purchase, 9 compound).
    pub type_id: u8,
    /// The gate's terminal id, 12 hex digits.
    pub terminal: String,
    /// The SAM's terminal sequence.
    pub terminal_seq: u32,
    /// Date-time, `YYYYMMDDhhmmss`.
    pub at: String,
    /// The card's TAC, 8 hex digits.
    pub tac: String,
}

impl From<&GateRecord> for WireRecord {
    fn from(r: &GateRecord) -> Self {
        WireRecord {
            card_number: serial_digits(&r.serial),
            counter: r.counter,
            balance_before: r.balance_before,
            amount: r.amount,
            type_id: r.type_id,
            terminal: hex::encode(r.terminal),
            terminal_seq: r.terminal_seq,
            at: date_time_digits(&r.at),
            tac: hex::encode(r.tac),
        }
    }
}

impl WireRecord {
    /// The record, or the name of the first field that is malformed.
    pub fn decode(&self) -> Result<GateRecord, &'static str> {
        Ok(GateRecord {
            serial: card_number(&self.card_number).ok_or("card_number")?,
            counter: self.counter,
            balance_before: self.balance_before,
            amount: self.amount,
            type_id: self.type_id,
            terminal: hex_array(&self.terminal).ok_or("terminal")?,
            terminal_seq: self.terminal_seq,
            at: parse_date_time(&self.at).ok_or("at")?,
            tac: hex_array(&self.tac).ok_or("tac")?,
        })
    }
}

/// A batch upload's body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireBatch {
    /// The records, in the order the gate made them.
    pub records: Vec<WireRecord>,
}

/// An issue request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireIssue {
    /// The caller's id for this issue (its retries carry the same).
    pub issue_id: String,
    /// The device the card is for.
    pub device_id: String,
    /// The device's X25519 public key (Base64): the purse is sealed to it.
    pub device_public_key: String,
    /// The rider's bank card paying the operator's card fee, for exactly
    /// the fee (`GET /transit/v1/operators` says it); absent where the
    /// card is free.
    #[serde(default)]
    pub payment: Option<CardPayment>,
}

/// An issued card.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireIssued {
    /// The card number, 20 digits.
    pub card_number: String,
    /// The personalised purse state sealed to the device (Base64), with
    /// [`purse_aad`] as its associated data.
    pub sealed_purse: String,
    /// The card fee paid for it, minor units.
    #[serde(default)]
    pub fee: u32,
}

/// A load request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireLoad {
    /// The caller's id for this load (its retries carry the same).
    pub load_id: String,
    /// Card number, 20 digits.
    pub card_number: String,
    /// Amount, minor units.
    pub amount: u32,
    /// The loading terminal's id, 12 hex digits.
    pub terminal: String,
    /// The card's answer to INITIALIZE FOR LOAD (16 bytes, hex, no status word).
    pub init: String,
    /// The rider's bank card paying for the load.
    #[serde(default)]
    pub payment: Option<CardPayment>,
}

/// A load's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLoaded {
    /// The load id.
    pub load_id: String,
    /// MAC2, 8 hex digits.
    pub mac2: String,
    /// The host's date-time for CREDIT FOR LOAD, `YYYYMMDDhhmmss`.
    pub at: String,
    /// The card's balance once it has taken the load.
    pub new_balance: u32,
}

/// A lost card's balance moved onto a card in another device.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMove {
    /// The caller's id for this move (its retries carry the same).
    pub move_id: String,
    /// The lost card's number, 20 digits.
    pub from_card_number: String,
    /// The load onto the new card, its amount the lost card's balance (no
    /// payment: the money is on the float already).
    pub load: WireLoad,
}

/// A lost card report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireLost {
    /// Card number, 20 digits.
    pub card_number: String,
}

/// One hotlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHotlisted {
    /// Card number, 20 digits.
    pub card_number: String,
}

/// The hotlist a gate downloads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHotlist {
    /// The operator.
    pub operator: String,
    /// Every hotlisted card.
    pub cards: Vec<WireHotlisted>,
}

/// The associated data a purse is sealed to its device under: operator,
/// device and card number, so a sealed purse opens only for what it was
/// issued as.
pub fn purse_aad(operator: &str, device_id: &str, card_number: &str) -> Vec<u8> {
    format!("paytap transit purse v1\n{operator}\n{device_id}\n{card_number}").into_bytes()
}

/// A 20-digit card number as its BCD serial.
pub fn card_number(s: &str) -> Option<[u8; SERIAL_LEN]> {
    serial_from_digits(s)
}

/// Exactly `N` bytes of hex.
pub fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    hex::decode(s).ok()?.try_into().ok()
}

/// The lengths the hex fields must have.
pub const TERMINAL_HEX_LEN: usize = 2 * TERMINAL_ID_LEN;
/// Length of a MAC or TAC in hex.
pub const MAC_HEX_LEN: usize = 2 * MAC_LEN;

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_purse::records::DateTime;

    fn record() -> GateRecord {
        GateRecord {
            serial: card_number("10003104990000000007").unwrap(),
            counter: 3,
            balance_before: 5_000,
            amount: 300,
            type_id: 9,
            terminal: [1, 0, 0, 0, 0, 2],
            terminal_seq: 41,
            at: DateTime::from_parts(2026, 12, 5, 8, 15, 0).unwrap(),
            tac: [0xde, 0xad, 0xbe, 0xef],
        }
    }

    #[test]
    fn a_record_survives_the_wire() {
        let w = WireRecord::from(&record());
        assert_eq!(w.terminal, "010000000002");
        assert_eq!(w.at, "20261205081500");
        assert_eq!(w.decode(), Ok(record()));
    }

    #[test]
    fn malformed_fields_are_named() {
        let check = |edit: fn(&mut WireRecord), field: &str| {
            let mut w = WireRecord::from(&record());
            edit(&mut w);
            assert_eq!(w.decode(), Err(field));
        };
        check(|w| w.card_number = "1234".into(), "card_number");
        check(
            |w| w.card_number = "1000310499000000000x".into(),
            "card_number",
        );
        check(|w| w.terminal = "0100000000".into(), "terminal");
        check(|w| w.terminal = "01000000000z".into(), "terminal");
        check(|w| w.at = "20261305081500".into(), "at");
        check(|w| w.tac = "deadbeefff".into(), "tac");
    }
}
