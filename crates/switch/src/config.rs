//! Switch configuration: per-issuer routing, time limits and stand-in rules.

use crate::routing::BinRange;
use paytap_types::Currency;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Stand-in processing rules of one issuer (what the network may approve on
/// the issuer's behalf when the issuer does not answer in time).
///
/// Decision, in order:
/// * stand-in disabled → decline `91` (issuer or switch inoperative);
/// * currency other than `currency` → decline `91`;
/// * amount above `max_per_transaction` → decline `61` (exceeds amount limit);
/// * the card's stand-in approvals today plus this amount above
///   `max_per_card_per_day` → decline `61`;
/// * otherwise approve `00` with an approval code starting with `S`.
///
/// Every stand-in answer carries DE 60 = [`crate::STAND_IN_INDICATOR`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandInRules {
    pub enabled: bool,
    pub currency: Currency,
    /// Minor units.
    pub max_per_transaction: i64,
    /// Minor units, summed per card per UTC day over stand-in approvals.
    pub max_per_card_per_day: i64,
}

impl StandInRules {
    /// Stand-in switched off: every timeout is declined with `91`.
    pub fn disabled(currency: Currency) -> StandInRules {
        StandInRules {
            enabled: false,
            currency,
            max_per_transaction: 0,
            max_per_card_per_day: 0,
        }
    }
}

/// One issuer as the switch knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRoute {
    /// The issuer's id (also its institution id in settlement positions).
    pub id: String,
    pub name: String,
    pub card_ranges: Vec<BinRange>,
    pub token_ranges: Vec<BinRange>,
    /// The card ranges of the issuer's credit product; its other cards
    /// are debit (the card type the risk rules and offers see).
    #[serde(default)]
    pub credit_ranges: Vec<BinRange>,
    /// How long the switch waits for the issuer's answer.
    #[serde(with = "millis")]
    pub timeout: Duration,
    pub stand_in: StandInRules,
}

/// Switch-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    pub issuers: Vec<IssuerRoute>,
    /// DE 32 to assume when an acquirer's request has none.
    pub default_acquirer_id: String,
    /// Largest acquirer frame accepted (bytes, without the prefix).
    pub max_frame: usize,
    /// A signed-on connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// An anonymous connection (not yet signed on) is closed when no frame
    /// arrives within this long ([`crate::admission::FIRST_FRAME_DEADLINE`]).
    pub first_frame_deadline: Duration,
    /// Signed-on acquirer connections served at once; a sign-on beyond it
    /// is answered `91` and closed. Anonymous connections are counted
    /// apart ([`crate::admission`]).
    pub max_connections: usize,
    /// Requests processed at once per acquirer connection.
    pub max_in_flight_per_connection: usize,
    /// How long answers are kept for duplicate detection.
    pub duplicate_window: Duration,
    /// Pause between retries of stored reversals and advices.
    pub retry_interval: Duration,
    /// Capacity of the [`paytap_types::PaymentEvent`] broadcast channel.
    pub event_capacity: usize,
    /// Reversals and advices each issuer may have waiting for its
    /// acknowledgement ([`crate::MAX_FORWARDS_QUEUED`]).
    pub max_forwards_queued: usize,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            issuers: Vec::new(),
            default_acquirer_id: "00000000000".into(),
            max_frame: 4096,
            idle_timeout: Duration::from_secs(300),
            first_frame_deadline: crate::admission::FIRST_FRAME_DEADLINE,
            max_connections: 1024,
            max_in_flight_per_connection: 4096,
            duplicate_window: Duration::from_secs(3600),
            retry_interval: Duration::from_millis(500),
            event_capacity: 4096,
            max_forwards_queued: crate::MAX_FORWARDS_QUEUED,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
